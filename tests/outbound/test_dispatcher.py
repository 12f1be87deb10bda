"""The outbound engine: the send policy applied by the dispatcher, the scheduled jobs, and
restarts that lose nothing and send nothing twice (SMS through the real Twilio SDK to
the fake).

The engine runs on a manual clock standing at ``NOW`` and a seeded random source, with
zones chosen for what their local time is then: nothing here depends on the hour the
tests run at. (The restart test runs real workers on the system clock; with quiet hours
off and a cap no one reaches, the hour does not matter to it.)"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from content import Library
from outreach.outbound.models import Purpose
from outreach.regions import Regions
from outreach.container import Container, build_container
from outreach.timeutil import ManualClock, from_driver
from tests.fakes.servers import sms_settings
from tests.factories import empty_database
from tests.fakes.twilio import Fault, FakeTwilio

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
# What the clock shows at NOW there (quiet hours are 21:00–08:00, the default):
NIGHT = "Asia/Shanghai"  # 22:30, quiet until 08:00 tomorrow
AFTER_MIDNIGHT = "Pacific/Auckland"  # 03:30 on the 11th (NZDT, UTC+13), quiet until 08:00
DAY = "America/New_York"  # 10:30 (EDT: DST began on the 8th)
SEED = 20260310


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def engine(
    db_url: str, fake_twilio: FakeTwilio, library: Library, regions: Regions, clock: ManualClock
) -> AsyncIterator[Container]:
    fake_twilio.reset()
    services = build_container(
        sms_settings(db_url, "http://127.0.0.1:9", fake_twilio, daily_cap=2),
        library=library, regions=regions, clock=clock, rng=random.Random(SEED),
    )
    try:
        yield services
    finally:
        await services.close()
        await empty_database(db_url)


_seq = iter(range(1, 10**6))


async def contact(services: Container, *, tz: str | None = None, opted_out: bool = False) -> tuple[int, str]:
    """A consenting contact reachable by SMS; returns (id, phone)."""
    n = next(_seq)
    phone = f"+86139{n:08d}"
    now = services.dispatcher.clock.now()
    async with services.db.begin() as conn:
        cid = (await conn.execute(text(
            "INSERT INTO contact (consent, opted_out, dialog, created_at, updated_at, language, "
            "timezone, last_channel) VALUES ('granted', :o, '{}', :now, :now, 'en', :tz, 'sms') "
            "RETURNING id"), {"o": opted_out, "now": now, "tz": tz})).scalar_one()
        await conn.execute(text(
            "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
            "VALUES (:c, 'tel', :p, :now)"), {"c": cid, "p": phone, "now": now})
    return int(cid), phone


async def enqueue(services: Container, cid: int, key: str, purpose: Purpose = Purpose.reminder,
                  due: datetime | None = None, expires: datetime | None = None) -> None:
    now = services.dispatcher.clock.now()
    async with services.db.begin() as raw:
        added = await services.enqueuer.enqueue(
            raw, key=key, contact_id=cid, purpose=purpose, body=f"Message {key}",
            due_at=due or now - timedelta(seconds=1), expires_at=expires, topic="test")
    assert added is not None


async def rows(services: Container) -> dict[str, dict[str, Any]]:
    async with services.db.begin() as conn:
        result = await conn.execute(text(
            "SELECT idempotency_key, status, due_at, attempts, error, sent_at, updated_at "
            "FROM outbox"))
        return {r.idempotency_key: dict(r._mapping) for r in result}


def sent_bodies(fake_twilio: FakeTwilio, phone: str) -> list[str]:
    return [m["body"] for m in fake_twilio.messages if m["to"] == phone]


@pytest.mark.parametrize(("night", "until"), [
    (NIGHT, datetime(2026, 3, 11, 0, 0, tzinfo=UTC)),  # 08:00 tomorrow in Shanghai
    (AFTER_MIDNIGHT, datetime(2026, 3, 10, 19, 0, tzinfo=UTC)),  # 08:00 this morning there
])
async def test_quiet_hours_hold_what_the_service_starts_not_replies(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock, night: str, until: datetime
) -> None:
    cid, phone = await contact(engine, tz=night)
    await enqueue(engine, cid, "reminder")
    await enqueue(engine, cid, "reply", purpose=Purpose.reply)
    assert await engine.dispatcher.drain_once() == 2
    state = await rows(engine)
    assert sent_bodies(fake_twilio, phone) == ["Message reply"]
    assert state["reply"]["status"] == "queued"
    held = state["reminder"]
    assert held["status"] == "pending" and held["error"] == "quiet hours" and held["attempts"] == 0
    assert from_driver(held["due_at"]) == until
    due_local = until.astimezone(ZoneInfo(night))
    assert (due_local.hour, due_local.minute) == (8, 0)
    # Nothing more goes out before then …
    assert await engine.dispatcher.drain_once() == 0
    clock.set(until - timedelta(seconds=1))
    assert await engine.dispatcher.drain_once() == 0
    # … and it does when the quiet hours end.
    clock.set(until)
    assert await engine.dispatcher.drain_once() == 1
    assert sent_bodies(fake_twilio, phone) == ["Message reply", "Message reminder"]
    reminder = (await rows(engine))["reminder"]
    assert reminder["status"] == "queued" and reminder["attempts"] == 1
    assert from_driver(reminder["sent_at"]) == until


async def test_daily_cap_counts_the_persons_local_day(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock
) -> None:
    cid, phone = await contact(engine, tz=DAY)
    for i in range(4):
        await enqueue(engine, cid, f"campaign-{i}", purpose=Purpose.campaign)
    await enqueue(engine, cid, "answer", purpose=Purpose.reply)  # replies are not capped
    await engine.dispatcher.drain_once()
    state = await rows(engine)
    sent = sorted(k for k, r in state.items() if r["status"] == "queued")
    assert sent == ["answer", "campaign-0", "campaign-1"]
    # Tomorrow in New York starts at midnight, in quiet hours: 08:00 EDT is 12:00 UTC.
    tomorrow = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
    for key in ("campaign-2", "campaign-3"):
        assert state[key]["status"] == "pending" and state[key]["error"] == "daily cap reached"
        assert from_driver(state[key]["due_at"]) == tomorrow
    assert len(sent_bodies(fake_twilio, phone)) == 3
    # A new local day, a new cap: the two held back go out.
    clock.set(tomorrow)
    assert await engine.dispatcher.drain_once() == 2
    state = await rows(engine)
    assert all(r["status"] == "queued" for r in state.values())
    assert len(sent_bodies(fake_twilio, phone)) == 5


async def test_expired_and_opted_out_messages_never_go_out(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock
) -> None:
    cid, phone = await contact(engine, tz=DAY)
    out, out_phone = await contact(engine, opted_out=True)
    await enqueue(engine, cid, "late", expires=clock.now() - timedelta(seconds=1))
    await enqueue(engine, out, "to-opted-out", purpose=Purpose.reply)
    await engine.dispatcher.drain_once()
    state = await rows(engine)
    assert state["late"]["status"] == "expired"
    assert state["to-opted-out"]["status"] == "dead"
    assert state["to-opted-out"]["error"] == "recipient has opted out"
    assert fake_twilio.requests == []


async def test_a_retry_that_would_be_late_expires(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock
) -> None:
    cid, _ = await contact(engine, tz=DAY)
    # The first retry waits at least a second (backoff), on the clock, however slow this is.
    await enqueue(engine, cid, "soon", expires=clock.now() + timedelta(milliseconds=900))
    fake_twilio.inject(Fault.server_error())
    await engine.dispatcher.drain_once()
    row = (await rows(engine))["soon"]
    assert row["status"] == "expired" and "expired before a retry" in row["error"]


async def test_a_retry_is_due_after_its_backoff_on_the_clock(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock
) -> None:
    cid, phone = await contact(engine, tz=DAY)
    await enqueue(engine, cid, "flaky")
    fake_twilio.inject(Fault.server_error())
    assert await engine.dispatcher.drain_once() == 1
    row = (await rows(engine))["flaky"]
    # The first attempt's jitter, the first draw of the dispatcher's seeded source.
    wait = random.Random(SEED).uniform(1.0, 2.0)
    due = NOW + timedelta(seconds=wait)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert from_driver(row["due_at"]) == due
    assert from_driver(row["updated_at"]) == NOW
    assert sent_bodies(fake_twilio, phone) == []
    clock.set(due - timedelta(milliseconds=1))
    assert await engine.dispatcher.drain_once() == 0
    clock.set(due)
    assert await engine.dispatcher.drain_once() == 1
    row = (await rows(engine))["flaky"]
    assert row["status"] == "queued" and row["attempts"] == 2
    assert from_driver(row["sent_at"]) == due
    assert sent_bodies(fake_twilio, phone) == ["Message flaky"]
    # Both tries carried the same idempotency token.
    assert [r.header("I-Twilio-Idempotency-Token") for r in fake_twilio.requests] == ["flaky", "flaky"]


async def test_an_opt_out_from_the_provider_is_stamped_by_the_clock(
    engine: Container, fake_twilio: FakeTwilio, clock: ManualClock
) -> None:
    cid, _ = await contact(engine, tz=DAY)
    await enqueue(engine, cid, "refused", purpose=Purpose.reply)
    clock.advance(timedelta(minutes=5))
    fake_twilio.inject(Fault.opted_out())
    await engine.dispatcher.drain_once()
    assert (await rows(engine))["refused"]["status"] == "dead"
    async with engine.db.begin() as conn:
        person = (await conn.execute(text(
            "SELECT opted_out, updated_at FROM contact WHERE id = :c"), {"c": cid})).one()
        events = (await conn.execute(text(
            "SELECT kind, channel, created_at FROM consent_event WHERE contact_id = :c"),
            {"c": cid})).all()
    at = NOW + timedelta(minutes=5)
    assert person.opted_out and from_driver(person.updated_at) == at
    assert [(e.kind, e.channel, from_driver(e.created_at)) for e in events] == [
        ("opted_out", "sms", at)]


async def test_the_expire_job_clears_what_can_no_longer_go_out(
    engine: Container, clock: ManualClock
) -> None:
    cid, _ = await contact(engine)
    await enqueue(engine, cid, "future", due=NOW + timedelta(hours=1), expires=NOW + timedelta(hours=2))
    await enqueue(engine, cid, "stale", due=NOW + timedelta(hours=1), expires=NOW - timedelta(minutes=1))
    assert await engine.worker.run_once("outbox.expire", engine.dispatcher.expire_due) == 1
    state = await rows(engine)
    assert state["stale"]["status"] == "expired" and state["future"]["status"] == "pending"
    # Two hours on, the other one's time has passed too.
    clock.advance(timedelta(hours=2))
    assert await engine.worker.run_once("outbox.expire", engine.dispatcher.expire_due) == 1
    assert (await rows(engine))["future"]["status"] == "expired"


async def test_jobs_that_must_run_once_do(engine: Container) -> None:
    """Two workers ticking the same job at once: one runs it, the other skips (on
    PostgreSQL by an advisory lock; SQLite's single writer runs them one after the other)."""
    running = 0
    peak = 0

    async def work(raw: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        return 1

    other = build_container(engine.settings, library=engine.library, regions=engine.regions)
    try:
        results = await asyncio.gather(engine.worker.run_once("test.job", work),
                                       other.worker.run_once("test.job", work))
    finally:
        await other.close()
    assert peak == 1
    if engine.db.dialect.name == "postgresql":
        assert sorted(results, key=str) == [1, None]


async def test_restart_with_reminders_due_sends_each_once(
    engine: Container, fake_twilio: FakeTwilio
) -> None:
    await engine.close()
    # Reminders due now, whatever the hour here, and more than a day's cap of them.
    settings = engine.settings.model_copy(update={"quiet_hours": "off", "daily_cap": 100})
    engine = build_container(settings, library=engine.library, regions=engine.regions)
    cids = [(await contact(engine))[0] for _ in range(10)]
    keys = [f"appointment:{i}:remind:{m}" for i in range(30) for m in (1440, 120)]
    for i, key in enumerate(keys):
        await enqueue(engine, cids[i % 10], key, purpose=Purpose.reminder)
    # Stop mid-way, more than once: each process sends part of the backlog.
    for _ in range(3):
        await engine.worker.start()
        await asyncio.sleep(0.05)
        await engine.worker.stop()
        engine = build_container(settings, library=engine.library, regions=engine.regions)
    try:
        await engine.worker.start()
        for _ in range(200):
            if len(fake_twilio.messages) >= len(keys):
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.close()
    tokens = Counter(r.header("I-Twilio-Idempotency-Token") for r in fake_twilio.requests)
    assert sorted(tokens) == sorted(keys)
    assert set(tokens.values()) == {1}


async def bodies(services: Container) -> dict[str, str]:
    async with services.db.begin() as conn:
        return dict((await conn.execute(text("SELECT idempotency_key, body FROM outbox"))).all())


async def test_purge_blanks_old_message_text(engine: Container) -> None:
    cid, _ = await contact(engine, tz=DAY)
    await enqueue(engine, cid, "old", purpose=Purpose.reply)
    await enqueue(engine, cid, "waiting", due=NOW + timedelta(hours=1))
    await engine.dispatcher.drain_once()
    async with engine.db.begin() as raw:
        assert await engine.dispatcher.purge(raw, NOW) == 0  # touched at NOW, not before
        assert await engine.dispatcher.purge(raw, NOW + timedelta(seconds=1)) == 1
    assert await bodies(engine) == {"old": "", "waiting": "Message waiting"}


async def test_the_purge_job_keeps_text_for_the_retention_period(
    engine: Container, clock: ManualClock
) -> None:
    cid, _ = await contact(engine, tz=DAY)
    await enqueue(engine, cid, "sent", purpose=Purpose.reply)
    await engine.dispatcher.drain_once()
    worker = engine.worker
    assert worker.clock is clock  # the dispatcher's
    clock.set(NOW + worker.retention)
    assert await worker.run_once("outbox.purge", worker._purge) == 0
    clock.advance(timedelta(seconds=1))
    assert await worker.run_once("outbox.purge", worker._purge) == 1
    assert await bodies(engine) == {"sent": ""}
