"""The knowledge rate from the API against an independent computation from the answer log,
and retakes taken through the bot."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from content import Library
from outreach.app import create_app
from outreach.contacts.models import Consent, Contact
from outreach.container import Container, build_container
from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from outreach.regions import Regions
from outreach.settings import Settings
from outreach.stats.suppression import hide
from outreach.stats.wilson import wilson
from outreach.timeutil import ManualClock
from outreach.users.models import Role
from tests.factories import Chat, auth, create_token, empty_tables

CITIES = {"shenzhen": ["futian", "nanshan"], "guangzhou": ["tianhe"], "hangzhou": ["xihu"]}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(services: Container, rng: random.Random, people: int) -> None:
    """People with several attempts each: completed, abandoned and in progress."""
    async with services.db.session() as session:
        for p in range(people):
            city = rng.choice(list(CITIES))
            # Hangzhou stays small so that its cell is suppressed.
            if city == "hangzhou" and rng.random() < 0.9:
                city = "shenzhen"
            contact = Contact(
                language=rng.choice(["zh_Hans", "en"]),
                consent=Consent.granted,
                city=city,
                district=rng.choice(CITIES[city]),
            )
            session.add(contact)
            await session.flush()
            for a in range(rng.randint(0, 3)):
                status = rng.choice(
                    [AttemptStatus.completed] * 3 + [AttemptStatus.abandoned, AttemptStatus.in_progress]
                )
                qids = [f"q{i}" for i in range(5)]
                answered = qids if status == AttemptStatus.completed else qids[: rng.randint(0, 4)]
                correct = [rng.random() < 0.75 for _ in answered]
                started = T0 + timedelta(days=rng.randint(0, 300), minutes=p)
                attempt = QuizAttempt(
                    id=f"{p:06d}{a:02d}".ljust(32, "0"),
                    contact_id=contact.id,
                    quiz_id="policy-basics",
                    locale=contact.language or "zh_Hans",
                    question_ids=qids,
                    status=status,
                    n_questions=5,
                    n_correct=sum(correct),
                    score=sum(correct) / 5 if status == AttemptStatus.completed else None,
                    started_at=started,
                    completed_at=started + timedelta(minutes=3) if status == AttemptStatus.completed else None,
                )
                session.add(attempt)
                await session.flush()
                session.add_all(
                    QuizAnswer(attempt_id=attempt.id, question_id=q, option_id="a", correct=c)
                    for q, c in zip(answered, correct, strict=True)
                )


def wilson_by_quadratic(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Independent: the p where |k/n - p| = z*sqrt(p(1-p)/n), solved as a quadratic."""
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


RETAKE = timedelta(days=30)


def counted(attempts: list[QuizAttempt]) -> tuple[QuizAttempt, QuizAttempt]:
    """A person's first completed attempt and their last counted one (README: a retake
    counts only 30 days or more after the previous counted attempt)."""
    ordered = sorted(attempts, key=lambda a: (a.completed_at, a.id))
    latest = ordered[0]
    for attempt in ordered[1:]:
        assert attempt.completed_at is not None and latest.completed_at is not None
        if attempt.completed_at - latest.completed_at >= RETAKE:
            latest = attempt
    return ordered[0], latest


Expected = dict[str, tuple[int, int, int]]  # key -> (n, first knowers, latest knowers)


async def expected(services: Container, group_by: str | None, pass_mark: float) -> Expected:
    """From the raw answer log: each person's first and latest counted completed attempt,
    re-scored."""
    async with services.db.session() as session:
        contacts = {c.id: c for c in (await session.exec(select(Contact))).all()}
        attempts = (await session.exec(select(QuizAttempt).where(QuizAttempt.status == "completed"))).all()
        answers = (await session.exec(select(QuizAnswer))).all()
    correct_by_attempt: dict[str, int] = defaultdict(int)
    for answer in answers:
        correct_by_attempt[answer.attempt_id] += answer.correct
    by_person: dict[int, list[QuizAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_person[attempt.contact_id].append(attempt)

    def knows(attempt: QuizAttempt) -> bool:
        return correct_by_attempt[attempt.id] / attempt.n_questions >= pass_mark

    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for contact_id, theirs in by_person.items():
        first, latest = counted(theirs)
        c = contacts[contact_id]
        key = {
            None: "all",
            "city": c.city,
            "district": f"{c.city}/{c.district}",
            "language": c.language,
        }[group_by]
        cells[str(key)][0] += 1
        cells[str(key)][1] += knows(first)
        cells[str(key)][2] += knows(latest)
    return {k: (n, f, last) for k, (n, f, last) in cells.items()}


def check_cell(cell: dict[str, object], n: int, knowers: int, hidden: bool = False) -> None:
    """``hidden``: withheld by complementary suppression (tests/stats/test_complementary.py
    proves the decision; here, that the API applies it)."""
    if n < 5 or hidden:
        assert {k: v for k, v in cell.items() if k != "key"} == {"n": None, "knowers": None, "rate": None, "ci_low": None, "ci_high": None,
                        "suppressed": True}
        return
    assert cell["n"] == n
    assert cell["suppressed"] is False
    assert cell["knowers"] == knowers
    assert cell["rate"] == pytest.approx(knowers / n, abs=1e-4)
    low, high = wilson_by_quadratic(knowers, n)
    assert cell["ci_low"] == pytest.approx(low, abs=1e-4)
    assert cell["ci_high"] == pytest.approx(high, abs=1e-4)


@pytest.mark.parametrize("group_by", [None, "city", "district", "language"])
async def test_api_matches_the_answer_log(client: httpx.AsyncClient, services: Container, group_by: str | None) -> None:
    await seed(services, random.Random(7), 240)
    token = await create_token(services, Role.coordinator)
    params = {"group_by": group_by} if group_by else {}
    body = (await client.get("/api/v1/stats/knowledge", params=params, headers=auth(token))).json()
    assert body["target"] == 0.9 and body["pass_mark"] == 0.8 and body["retake_days"] == 30
    assert body["group_by"] == group_by
    assert set(body) == {"target", "pass_mark", "retake_days", "group_by", "first", "latest"}

    want = await expected(services, group_by, 0.8)
    total_n = sum(n for n, _, _ in want.values())
    assert 100 < total_n < 240  # some people never completed an attempt
    first_k = sum(f for _, f, _ in want.values())
    latest_k = sum(last for _, _, last in want.values())
    assert first_k != latest_k, "the seed has retakes that move the rate"
    check_cell(body["first"]["overall"], total_n, first_k)
    check_cell(body["latest"]["overall"], total_n, latest_k)

    if group_by is None:
        assert body["first"]["groups"] == [] and body["latest"]["groups"] == []
        return
    keys = sorted(want)
    hidden = hide([want[k][0] for k in keys], [[want[k][1] for k in keys], [want[k][2] for k in keys]], 5)
    assert not hidden.total
    for which, index in (("first", 1), ("latest", 2)):
        got = {g["key"]: g for g in body[which]["groups"]}
        assert set(got) == set(want)
        assert [g["key"] for g in body[which]["groups"]] == keys
        for i, key in enumerate(keys):
            check_cell(got[key], want[key][0], want[key][index], i in hidden.groups)
    if group_by in ("city", "district"):
        small = [k for k in keys if want[k][0] < 5]
        assert small, "the small Hangzhou cell is suppressed"
        withheld = [k for k in keys if got[k]["suppressed"]]
        assert len(withheld) >= 2 and set(small) <= set(withheld), "with a complement"


async def test_retakes_through_the_bot(settings: Settings, library: Library, regions: Regions) -> None:
    """People who fail, learn and come back 40 days later move the latest rate; taking the
    quiz again at once moves nothing. The bot records each attempt at its clock's time."""
    clock = ManualClock(T0)
    services = build_container(settings, library=library, regions=regions, clock=clock)
    services.conversations.rng = random.Random(1234)
    transport = httpx.ASGITransport(app=create_app(settings, services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            token = await create_token(services, Role.coordinator)
            chats = [Chat(client, f"taker-{i}") for i in range(6)]
            for chat in chats:
                await chat.onboard("en")

            async def take(right: list[bool]) -> dict[str, Any]:
                for chat, ok in zip(chats, right, strict=True):
                    await _take_quiz(services, chat, ok)
                    clock.advance(timedelta(minutes=1))
                body = (await client.get("/api/v1/stats/knowledge", headers=auth(token))).json()
                assert body["first"]["overall"]["n"] == body["latest"]["overall"]["n"] == 6
                return {k: body[k]["overall"]["knowers"] for k in ("first", "latest")}

            assert await take([False] * 6) == {"first": 0, "latest": 0}
            # Right away again, everyone right: a retake within 30 days does not count.
            assert await take([True] * 6) == {"first": 0, "latest": 0}
            clock.advance(timedelta(days=40))
            # 40 days on, the first four right: they count.
            assert await take([True] * 4 + [False] * 2) == {"first": 0, "latest": 4}
            clock.advance(timedelta(days=1))
            # The next day the last two right: too soon after their counted attempt.
            assert await take([False] * 4 + [True] * 2) == {"first": 0, "latest": 4}
    finally:
        await empty_tables(services.db)
        await services.close()


async def _take_quiz(services: Container, chat: Chat, right: bool) -> None:
    lib = services.library
    await chat.pick("quiz")
    for _ in range(5):
        q = lib.question(await _current_question(services, chat.contact))
        option = q.correct if right else next(o.id for o in q.options if o.id != q.correct)
        await chat.pick(f"opt:{option}")


async def _current_question(services: Container, contact: str) -> str:
    from outreach.contacts.models import ContactUrn

    async with services.db.session() as session:
        c = (
            await session.exec(
                select(Contact).join(ContactUrn).where(ContactUrn.path == contact)  # type: ignore[arg-type]
            )
        ).one()
    data = c.dialog["data"]
    return str(data["questions"][data["i"]])


def test_wilson_edges() -> None:
    assert wilson(0, 10)[0] == 0.0
    assert wilson(10, 10)[1] == pytest.approx(1.0)
    low, high = wilson(45, 50)
    assert low < 0.9 < high
    with pytest.raises(ValueError):
        wilson(0, 0)


async def test_empty_database(client: httpx.AsyncClient, services: Container) -> None:
    token = await create_token(services, Role.coordinator)
    body = (await client.get("/api/v1/stats/knowledge?group_by=city", headers=auth(token))).json()
    for which in ("first", "latest"):
        assert body[which]["overall"] == {
            "n": 0, "knowers": None, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
        assert body[which]["groups"] == []
