"""The knowledge rate from the API against an independent computation from the answer log."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from outreach.contacts.models import Consent, Contact

from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from outreach.container import Container
from outreach.stats.wilson import wilson
from outreach.users.models import Role
from tests.factories import Chat, auth, create_token

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


async def expected(services: Container, group_by: str | None, pass_mark: float) -> dict[str, tuple[int, int]]:
    """From the raw answer log: each person's latest completed attempt, re-scored."""
    async with services.db.session() as session:
        contacts = {c.id: c for c in (await session.exec(select(Contact))).all()}
        attempts = (await session.exec(select(QuizAttempt).where(QuizAttempt.status == "completed"))).all()
        answers = (await session.exec(select(QuizAnswer))).all()
    correct_by_attempt: dict[str, int] = defaultdict(int)
    for answer in answers:
        correct_by_attempt[answer.attempt_id] += answer.correct
    latest: dict[int, QuizAttempt] = {}
    for attempt in attempts:
        best = latest.get(attempt.contact_id)
        if best is None or (attempt.completed_at, attempt.id) > (best.completed_at, best.id):
            latest[attempt.contact_id] = attempt
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for contact_id, attempt in latest.items():
        c = contacts[contact_id]
        key = {
            None: "all",
            "city": c.city,
            "district": f"{c.city}/{c.district}",
            "language": c.language,
        }[group_by]
        cells[str(key)][0] += 1
        cells[str(key)][1] += correct_by_attempt[attempt.id] / attempt.n_questions >= pass_mark
    return {k: (n, knowers) for k, (n, knowers) in cells.items()}


@pytest.mark.parametrize("group_by", [None, "city", "district", "language"])
async def test_api_matches_the_answer_log(client: httpx.AsyncClient, services: Container, group_by: str | None) -> None:
    await seed(services, random.Random(7), 240)
    token = await create_token(services, Role.coordinator)
    params = {"group_by": group_by} if group_by else {}
    body = (await client.get("/api/v1/stats/knowledge", params=params, headers=auth(token))).json()
    assert body["target"] == 0.9 and body["pass_mark"] == 0.8

    want = await expected(services, group_by, 0.8)
    total_n = sum(n for n, _ in want.values())
    total_k = sum(k for _, k in want.values())
    assert 100 < total_n < 240  # some people never completed an attempt
    overall = body["overall"]
    assert (overall["n"], overall["knowers"]) == (total_n, total_k)
    assert overall["rate"] == pytest.approx(total_k / total_n, abs=1e-4)
    low, high = wilson_by_quadratic(total_k, total_n)
    assert (overall["ci_low"], overall["ci_high"]) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))

    if group_by is None:
        assert body["groups"] == []
        return
    got = {g["key"]: g for g in body["groups"]}
    assert set(got) == set(want)
    suppressed = 0
    for key, (n, knowers) in want.items():
        cell = got[key]
        assert cell["n"] == n
        if n < 5:
            suppressed += 1
            assert cell["suppressed"] is True
            assert cell["rate"] is None and cell["knowers"] is None and cell["ci_low"] is None
        else:
            assert cell["suppressed"] is False
            assert cell["knowers"] == knowers
            assert cell["rate"] == pytest.approx(knowers / n, abs=1e-4)
            low, high = wilson_by_quadratic(knowers, n)
            assert cell["ci_low"] == pytest.approx(low, abs=1e-4)
            assert cell["ci_high"] == pytest.approx(high, abs=1e-4)
    if group_by in ("city", "district"):
        assert suppressed >= 1, "the small Hangzhou cell is suppressed"


async def test_latest_completed_attempt_counts(client: httpx.AsyncClient, services: Container) -> None:
    """A person who failed, then passed, is a knower; retakes never add respondents."""
    token = await create_token(services, Role.coordinator)
    chats = [Chat(client, f"taker-{i}") for i in range(6)]
    for chat in chats:
        await chat.onboard("en")
    lib = services.library
    for round_ in range(2):
        for i, chat in enumerate(chats):
            await chat.pick("quiz")
            for _ in range(5):
                question = await _current_question(services, chat.contact)
                q = lib.question(question)
                # Round 0: everyone wrong. Round 1: the first four all right.
                right = round_ == 1 and i < 4
                option = q.correct if right else next(o.id for o in q.options if o.id != q.correct)
                await chat.pick(f"opt:{option}")
    body = (await client.get("/api/v1/stats/knowledge", headers=auth(token))).json()
    assert body["overall"]["n"] == 6
    assert body["overall"]["knowers"] == 4


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
    assert body["overall"] == {"n": 0, "knowers": None, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
    assert body["groups"] == []
