"""Which attempts count: the first completed one, then a retake only 30 days or more after
the previous counted one. Attempts are written with explicit times, never the clock's."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from outreach.contacts.models import Consent, Contact
from outreach.container import Container
from outreach.quizzes.models import AttemptStatus, QuizAttempt
from outreach.stats.service import GroupBy, KnowledgeReport, knowledge_rate
from outreach.users.models import Role
from tests.factories import auth, create_token

T0 = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)
FAIL, PASS = 2, 5  # right answers of 5; the pass mark is 0.8
_ids = itertools.count()

# One person per story (the city is the story's name): their attempts as (day, right
# answers), completed, and what their first and latest counted attempts were.
STORIES: dict[str, tuple[list[tuple[float, int]], tuple[int, int]]] = {
    "relearned": ([(0, FAIL), (40, PASS)], (0, 1)),
    "crammed": ([(0, FAIL), (2, PASS)], (0, 0)),
    # Day 2 is ignored; day 31 is 31 days after the counted day 0.
    "came-back": ([(0, FAIL), (2, PASS), (31, PASS)], (0, 1)),
    # Day 10 ignored, day 35 counted (35 days after day 0), so latest is day 35's fail.
    "chain": ([(0, FAIL), (10, PASS), (35, FAIL)], (0, 0)),
    # README's example: the same, then a pass 5 days after the counted day 35.
    "chain-then-pass": ([(0, FAIL), (10, PASS), (35, FAIL), (40, PASS)], (0, 0)),
    # Day 31 counts; day 40 is 40 days after the first but only 9 after day 31.
    "recounted": ([(0, FAIL), (31, FAIL), (40, PASS)], (0, 0)),
    "knew": ([(0, PASS), (3, FAIL)], (1, 1)),
    "knew-then-forgot": ([(0, PASS), (60, FAIL)], (1, 0)),
    # Exactly 30 days counts; a second less does not.
    "on-the-day": ([(0, FAIL), (30, PASS)], (0, 1)),
    "a-second-early": ([(0, FAIL), (30 - 1 / 86_400, PASS)], (0, 0)),
    "once": ([(5, PASS)], (1, 1)),
}


async def person(services: Container, city: str) -> int:
    async with services.db.session() as session:
        contact = Contact(language="en", consent=Consent.granted, city=city, district="d")
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        return contact.id


async def attempt(
    services: Container, contact_id: int, at: datetime, right: int,
    status: AttemptStatus = AttemptStatus.completed, attempt_id: str | None = None,
) -> None:
    async with services.db.session() as session:
        session.add(QuizAttempt(
            id=attempt_id or f"a{next(_ids):031d}", contact_id=contact_id, quiz_id="policy-basics",
            locale="en", question_ids=[f"q{i}" for i in range(5)], status=status,
            n_questions=5, n_correct=right, score=right / 5,
            started_at=at - timedelta(minutes=3), completed_at=at,
        ))


async def report(services: Container, retake_days: int = 30, suppress_below: int = 1) -> KnowledgeReport:
    async with services.db.session() as session:
        return await knowledge_rate(
            session, group_by=GroupBy.city, pass_mark=0.8, target=0.9,
            suppress_below=suppress_below, retake_days=retake_days,
        )


def by_city(result: KnowledgeReport) -> dict[str, tuple[int, int | None, int | None]]:
    """city -> (n, first knowers, latest knowers), checking both sides count the same people."""
    first = {g.key: g for g in result.first.groups}
    latest = {g.key: g for g in result.latest.groups}
    assert first.keys() == latest.keys()
    assert all(first[k].n == latest[k].n for k in first)
    assert result.first.overall.n == result.latest.overall.n
    return {k: (first[k].n, first[k].knowers, latest[k].knowers) for k in first}


async def tell(services: Container, stories: dict[str, tuple[list[tuple[float, int]], tuple[int, int]]]) -> None:
    """The stories' attempts, written newest first (the order rows go in must not matter)."""
    for city, (attempts, _) in stories.items():
        contact_id = await person(services, city)
        for day, right in reversed(attempts):
            await attempt(services, contact_id, T0 + timedelta(days=day), right)


async def test_each_story_counts_its_first_and_latest_counted_attempt(services: Container) -> None:
    await tell(services, STORIES)
    got = by_city(await report(services))
    assert got == {city: (1, *want) for city, (_, want) in STORIES.items()}
    result = await report(services)
    assert result.retake_days == 30
    assert result.first.overall.knowers == sum(f for _, (f, _) in STORIES.values())
    assert result.latest.overall.knowers == sum(last for _, (_, last) in STORIES.values())


async def test_retake_days_is_the_rule(services: Container) -> None:
    """With 0 every retake counts (the latest completed attempt); with 45 only day 60 does."""
    await tell(services, STORIES)
    every = by_city(await report(services, retake_days=0))
    assert {city: got[2] for city, got in every.items()} == {
        city: int(attempts[-1][1] == PASS) for city, (attempts, _) in STORIES.items()}
    longer = by_city(await report(services, retake_days=45))
    assert {city: got[2] for city, got in longer.items() if got[2] != got[1]} == {"knew-then-forgot": 0}


async def test_only_completed_attempts_count(services: Container) -> None:
    """Abandoned and unfinished attempts never count, even when they come later and right."""
    failed = await person(services, "failed")
    await attempt(services, failed, T0, FAIL)
    await attempt(services, failed, T0 + timedelta(days=40), PASS, AttemptStatus.abandoned)
    await attempt(services, failed, T0 + timedelta(days=80), PASS, AttemptStatus.in_progress)
    # An abandoned attempt before the first completed one is not the first.
    late = await person(services, "late")
    await attempt(services, late, T0, PASS, AttemptStatus.abandoned)
    await attempt(services, late, T0 + timedelta(days=1), FAIL)
    await attempt(services, late, T0 + timedelta(days=20), PASS)  # 19 days after: ignored
    never = await person(services, "never")
    await attempt(services, never, T0, PASS, AttemptStatus.abandoned)
    await attempt(services, never, T0 + timedelta(days=40), PASS, AttemptStatus.in_progress)
    assert by_city(await report(services)) == {"failed": (1, 0, 0), "late": (1, 0, 0)}


@pytest.mark.parametrize(("first_id", "second_id", "first_knows"), [("a1", "b2", 0), ("b2", "a1", 1)])
async def test_attempts_at_the_same_moment_go_by_id(
    services: Container, first_id: str, second_id: str, first_knows: int
) -> None:
    contact_id = await person(services, "tie")
    await attempt(services, contact_id, T0, PASS, attempt_id=second_id)
    await attempt(services, contact_id, T0, FAIL, attempt_id=first_id)
    # The second is 0 days after the first: not counted, so latest is the first too.
    assert by_city(await report(services)) == {"tie": (1, first_knows, first_knows)}


async def test_suppression_applies_to_both(client: httpx.AsyncClient, services: Container) -> None:
    """Through the API with the service's settings: a city of 4 people shows nothing on
    either side, not even its n, and neither does the city of 6 that protects it (else
    the overall minus the city of 6 would give the city of 4); the overall is shown."""
    stories = {"small": [(FAIL, PASS)] * 4,
               "big": [(FAIL, PASS)] * 3 + [(PASS, PASS)] * 2 + [(FAIL, FAIL)]}
    for city, people in stories.items():
        for before, after in people:
            contact_id = await person(services, city)
            await attempt(services, contact_id, T0, before)
            await attempt(services, contact_id, T0 + timedelta(days=40), after)
    token = await create_token(services, Role.coordinator)
    body = (await client.get("/api/v1/stats/knowledge?group_by=city", headers=auth(token))).json()
    assert body["retake_days"] == 30
    hidden = {"n": None, "knowers": None, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
    for which, knowers in (("first", 2), ("latest", 9)):
        groups = {g.pop("key"): g for g in body[which]["groups"]}
        assert groups == {"small": hidden, "big": hidden}, which
        assert body[which]["overall"]["n"] == 10 and not body[which]["overall"]["suppressed"]
        assert body[which]["overall"]["knowers"] == knowers
