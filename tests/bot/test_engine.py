"""The engine driven directly: no HTTP, no database, a fixed clock and seed (milliseconds
a test). The same conversations run end to end in ``test_conversations``/``test_booking``;
these pin the engine's own contract: typed requests, the replay rule, determinism."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import ContactView, DialogState, Engine, Turn
from bot.contract import ConsentChanged, LinkCodeIssued, QuizCompleted, QuizStarted
from bot.flows.link import digest
from bot.requests import (
    Book,
    ClaimLinkCode,
    FreePlaces,
    NeedAnswer,
    PhoneOptedOut,
    PointsOffering,
    Request,
    UpcomingAppointments,
)
from content import load_library
from outreach.appointments.views import AppointmentStatus, Point, Visit
from outreach.contacts.enums import Consent, ConsentKind
from outreach.regions import load_regions
from outreach.settings import Settings

NOW = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Shenzhen
SLOT = datetime(2026, 3, 11, 1, 30, tzinfo=UTC)  # Wednesday 09:30 there
POINT = Point(
    id=7, name={"zh_Hans": "南山社康", "en": "Nanshan Health Station"},
    address={"zh_Hans": "南山大道1号", "en": "1 Nanshan Ave"}, city="shenzhen",
    district="nanshan", timezone="Asia/Shanghai",
    opening_hours={d: [("08:30", "11:30")] for d in ("mon", "tue", "wed", "thu", "fri")},
    services=("health_record", "vaccination"), slot_minutes=30, slot_capacity=2, active=True,
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    settings = Settings()
    return Engine(library=load_library(settings.content_dir),
                  regions=load_regions(settings.regions_file), locales_dir=settings.locales_dir)


@dataclass
class Person:
    """A contact as the service would keep it, talking to the engine with no service:
    requests are answered from ``handlers`` and the turn replayed as the service does."""

    engine: Engine
    handlers: dict[type, Callable[[Any], Any]] = field(default_factory=dict)
    contact: ContactView = field(default_factory=ContactView)
    state: DialogState = field(default_factory=DialogState)
    asked: list[Request[Any]] = field(default_factory=list)
    runs: int = 0
    seed: int = 1
    turn: Turn = field(default_factory=Turn)

    def send(self, text: str) -> Turn:
        answers: dict[Request[Any], Any] = {}
        for _ in range(8):
            view, state = replace(self.contact), DialogState(self.state.step, dict(self.state.data))
            self.runs += 1
            try:
                turn = self.engine.handle(view, state, text, now=NOW, rng=random.Random(self.seed),
                                          channel="sim", answers=answers)
                break
            except NeedAnswer as need:
                self.asked.append(need.request)
                answers[need.request] = self.handlers[type(need.request)](need.request)
        else:
            raise AssertionError("more than 8 requests in one turn")
        self.contact, self.state, self.turn = view, state, turn
        return turn

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.turn.replies)

    @property
    def choice_ids(self) -> list[str]:
        for reply in reversed(self.turn.replies):
            if reply.choices:
                return [c.id for c in reply.choices]
        return []

    def pick(self, choice_id: str) -> Turn:
        assert choice_id in self.choice_ids, (choice_id, self.choice_ids)
        return self.send(str(self.choice_ids.index(choice_id) + 1))

    def onboard(self) -> None:
        self.send("hello")
        self.pick("lang:en")
        self.pick("consent:yes")
        self.pick("city:shenzhen")
        self.pick("district:nanshan")


def test_onboarding_changes_the_contact_and_records_consent(engine: Engine) -> None:
    person = Person(engine)
    turn = person.send("hi")
    assert person.choice_ids == ["lang:zh_Hans", "lang:en"]
    assert turn.events == []
    person.pick("lang:en")
    turn = person.pick("consent:yes")
    assert turn.events == [ConsentChanged(ConsentKind.granted)]
    person.pick("city:shenzhen")
    person.pick("district:nanshan")
    c = person.contact
    assert (c.language, c.consent, c.city, c.district, c.onboarded) == (
        "en", Consent.granted, "shenzhen", "nanshan", True)
    assert person.asked == []  # onboarding asks the service nothing


def test_stop_opts_out_and_then_the_engine_is_silent_until_start(engine: Engine) -> None:
    person = Person(engine)
    person.onboard()
    turn = person.send("STOP")
    assert person.contact.opted_out and turn.events == [ConsentChanged(ConsentKind.opted_out)]
    assert "unsubscribed" in person.text
    assert person.send("what is free?").replies == []
    turn = person.send("START")
    assert not person.contact.opted_out and turn.events == [ConsentChanged(ConsentKind.opted_in)]


def test_a_quiz_draws_its_questions_from_the_random_source_it_is_given(engine: Engine) -> None:
    def first_question(seed: int) -> str:
        person = Person(engine, seed=seed)
        person.onboard()
        turn = person.pick("quiz")
        assert any(isinstance(e, QuizStarted) for e in turn.events)
        return person.text

    assert first_question(3) == first_question(3)
    drawn = {first_question(seed) for seed in range(8)}
    assert len(drawn) > 1  # the seed decides; nothing else does


@pytest.mark.parametrize("button", [0, -1])
def test_a_fixed_button_rarely_passes_because_options_are_shuffled_per_person(
    engine: Engine, button: int
) -> None:
    """Real people pressing the same button every time (the first, the last) pass about
    as often as random guessing on four options (1.6% at 4 of 5), not as often as the
    bank's letter order would allow; and two people see the same question's options in
    different orders."""
    people, passed = 400, 0
    orders: dict[str, set[tuple[str, ...]]] = {}
    for seed in range(people):
        person = Person(engine, seed=seed)
        person.onboard()
        turn = person.pick("quiz")
        for _ in range(engine.quiz_length):
            question = person.state.data["questions"][person.state.data["i"]]
            options = [c for c in person.choice_ids if c.startswith("opt:")]
            orders.setdefault(question, set()).add(tuple(options))
            turn = person.pick(options[button])
        (done,) = [e for e in turn.events if isinstance(e, QuizCompleted)]
        passed += done.n_correct >= engine.pass_mark * done.n_questions - 1e-9
    assert passed / people <= 0.05, passed
    assert max(len(seen) for seen in orders.values()) > 1


def booking_handlers(booked: list[Book]) -> dict[type, Callable[[Any], Any]]:
    def book(request: Book) -> int:
        booked.append(request)
        return 41

    return {
        PointsOffering: lambda r: [replace(POINT, services=(r.service,))],
        FreePlaces: lambda r: {SLOT: 2, SLOT + timedelta(minutes=30): 1} if r.point_id == POINT.id else None,
        Book: book,
        UpcomingAppointments: lambda r: [Visit(
            id=41, contact_id=1, language="en", point_id=POINT.id, service_type="health_record",
            starts_at=SLOT, status=AppointmentStatus.booked, confirmed_at=None, reschedules=0,
            point_name=POINT.name, point_address=POINT.address, timezone=POINT.timezone)],
    }


def test_booking_asks_typed_requests_and_books_once_however_often_the_turn_is_replayed(
    engine: Engine,
) -> None:
    booked: list[Book] = []
    person = Person(engine, booking_handlers(booked))
    person.onboard()
    person.send("book")
    service = next(c for c in person.choice_ids if c.startswith("svc:"))
    person.pick(service)
    assert person.asked[-1] == PointsOffering(service.removeprefix("svc:"))
    person.pick(f"pt:{POINT.id}")
    assert FreePlaces(POINT.id) in person.asked
    person.pick("day:2026-03-11")
    person.pick(f"at:{SLOT.isoformat()}")
    runs = person.runs
    person.pick("yes")
    # One booking, made through the command, and the turn that asked for it was run again
    # (at least once more than it asked) with the answer waiting.
    assert booked == [Book(POINT.id, service.removeprefix("svc:"), SLOT)]
    assert person.runs - runs >= 2
    assert "Nanshan Health Station" in person.text


def test_a_request_is_a_value_equal_requests_are_one_answer() -> None:
    assert FreePlaces(7) == FreePlaces(7) and hash(FreePlaces(7)) == hash(FreePlaces(7))
    assert FreePlaces(7) != FreePlaces(8)
    assert UpcomingAppointments() == UpcomingAppointments()


def test_a_run_that_needs_an_answer_leaves_the_callers_contact_and_state_as_they_were(
    engine: Engine,
) -> None:
    person = Person(engine, booking_handlers([]))
    person.onboard()
    person.send("book")
    view, state = replace(person.contact), DialogState(person.state.step, dict(person.state.data))
    service = next(c for c in person.choice_ids if c.startswith("svc:"))
    with pytest.raises(NeedAnswer) as need:
        engine.handle(view, state, str(person.choice_ids.index(service) + 1), now=NOW,
                      rng=random.Random(1), answers={})
    assert isinstance(need.value.request, PointsOffering)
    # The service throws this run away: it passed copies, so its own are untouched.
    assert (person.state.step, person.state.data) == ("book.service", {})


def test_my_appointments_lists_what_the_service_answers(engine: Engine) -> None:
    person = Person(engine, booking_handlers([]))
    person.onboard()
    person.pick("appts")
    assert person.asked == [UpcomingAppointments()]
    assert "appt:41" in person.choice_ids


def linking(engine: Engine, *, opted_out: bool, retry: datetime | None,
            language: str = "en") -> Person:
    """Someone at "type your number", with the service's answers fixed."""
    person = Person(engine, {ClaimLinkCode: lambda r: retry, PhoneOptedOut: lambda r: opted_out})
    person.onboard()
    person.contact.language = language
    person.state = DialogState("link.phone")
    return person


def test_linking_says_the_same_to_a_number_that_opted_out_and_texts_it_nothing(
    engine: Engine,
) -> None:
    out, reachable = (linking(engine, opted_out=o, retry=None) for o in (True, False))
    turns = [p.send("13800138000") for p in (out, reachable)]
    assert turns[0].replies == turns[1].replies
    assert (out.state.step, reachable.state.step) == ("link.code", "link.code")
    # The limits are asked first, the opt-out second; only the reachable number is texted.
    assert out.asked == [ClaimLinkCode("+8613800138000"), PhoneOptedOut("+8613800138000")]
    assert turns[0].events == []
    [issued] = turns[1].events
    assert isinstance(issued, LinkCodeIssued) and issued.phone == "+8613800138000"
    code = re.search(r"\d{6}", issued.text)
    assert code is not None
    # The state keeps a keyed digest, not the code.
    assert code.group(0) not in str(reachable.state.data)
    assert reachable.state.data["digest"] == digest(engine.link_key, "+8613800138000", code.group(0))
    assert digest(b"another key", "+8613800138000", code.group(0)) != reachable.state.data["digest"]
    # Typing it is kept out of the history.
    assert reachable.send(code.group(0)).secret_input
    assert reachable.state.step == "menu"


@pytest.mark.parametrize(("language", "when"), [("en", "Mar 10, 10:01"), ("zh_Hans", "3月10日 10:01")])
def test_a_limited_person_is_told_when_to_try_again_and_nothing_else_is_asked(
    engine: Engine, language: str, when: str
) -> None:
    # 02:00:30 UTC is 10:00:30 in Shanghai: "after 10:01" (rounded up) is true.
    person = linking(engine, opted_out=False, retry=NOW + timedelta(hours=1, seconds=30),
                     language=language)
    turn = person.send("13800138000")
    assert when in person.text, person.text
    assert turn.events == [] and person.state.step == "menu"
    assert person.asked == [ClaimLinkCode("+8613800138000")]


@pytest.mark.parametrize(
    ("step", "data"),
    [
        ("quiz.question", {"attempt": "a" * 32, "questions": ["q-free-checkup"], "i": 0, "correct": 0}),
        ("learn.lessons", {"topic": "rewards"}),
        ("learn.lesson", {"topic": "rewards", "lesson": "rewards-long-acting"}),
    ],
)
def test_a_step_whose_content_was_removed_goes_back_to_the_menu(
    engine: Engine, step: str, data: dict[str, Any]
) -> None:
    """Version 1 of the 2010 pack had these; someone mid-quiz or mid-lesson when the
    content is updated gets the menu and a word on why, not an error."""
    person = Person(engine)
    person.onboard()
    person.state = DialogState(step, data)
    turn = person.send("1")
    assert "updated since your last message" in person.text
    assert person.state.step == "menu" and "quiz" in person.choice_ids
    if step == "quiz.question":
        assert [type(e).__name__ for e in turn.events] == ["QuizAbandoned"]
