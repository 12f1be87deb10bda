"""The outbound engine: the send policy applied by the dispatcher, the scheduled jobs, and
restarts that lose nothing and send nothing twice (SMS through the real Twilio SDK to
the fake)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from content import Library
from outreach.messages.models import Purpose
from outreach.regions import Regions
from outreach.services import Services, build_services
from outreach.timeutil import from_driver, utcnow
from tests.channels.conftest import sms_settings
from tests.factories import empty_database
from tests.fakes.twilio import Fault, FakeTwilio


def zone_where_it_is(lo: int, hi: int) -> str:
    """A fixed-offset zone whose local hour is now in [lo, hi)."""
    now = utcnow()
    for offset in range(-12, 15):
        name = f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}"
        if lo <= now.astimezone(ZoneInfo(name)).hour < hi:
            return name
    raise AssertionError("no zone found")


@pytest.fixture
async def engine(
    db_url: str, fake_twilio: FakeTwilio, library: Library, regions: Regions
) -> AsyncIterator[Services]:
    fake_twilio.reset()
    services = build_services(
        sms_settings(db_url, "http://127.0.0.1:9", fake_twilio, daily_cap=2),
        library=library, regions=regions,
    )
    try:
        yield services
    finally:
        await services.close()
        await empty_database(db_url)


_seq = iter(range(1, 10**6))


async def contact(services: Services, *, tz: str | None = None, opted_out: bool = False) -> tuple[int, str]:
    """A consenting contact reachable by SMS; returns (id, phone)."""
    n = next(_seq)
    phone = f"+86139{n:08d}"
    now = utcnow()
    async with services.db.begin() as conn:
        cid = (await conn.execute(text(
            "INSERT INTO contact (consent, opted_out, dialog, created_at, updated_at, language, "
            "timezone, last_channel) VALUES ('granted', :o, '{}', :now, :now, 'en', :tz, 'sms') "
            "RETURNING id"), {"o": opted_out, "now": now, "tz": tz})).scalar_one()
        await conn.execute(text(
            "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
            "VALUES (:c, 'tel', :p, :now)"), {"c": cid, "p": phone, "now": now})
    return int(cid), phone


async def enqueue(services: Services, cid: int, key: str, purpose: Purpose = Purpose.reminder,
                  due: datetime | None = None, expires: datetime | None = None) -> None:
    async with services.conversations.writer.begin(None) as raw:
        added = await services.outbound.enqueue(
            raw, key=key, contact_id=cid, purpose=purpose, body=f"Message {key}",
            due_at=due or utcnow() - timedelta(seconds=1), expires_at=expires, topic="test")
    assert added is not None


async def rows(services: Services) -> dict[str, dict[str, Any]]:
    async with services.db.connect() as conn:
        result = await conn.execute(text(
            "SELECT idempotency_key, status, due_at, attempts, error, sent_at FROM outbox"))
        return {r.idempotency_key: dict(r._mapping) for r in result}


async def test_quiet_hours_hold_what_the_service_starts_not_replies(
    engine: Services, fake_twilio: FakeTwilio
) -> None:
    night = zone_where_it_is(22, 24) if utcnow().minute < 50 else zone_where_it_is(1, 6)
    cid, phone = await contact(engine, tz=night)
    await enqueue(engine, cid, "reminder")
    await enqueue(engine, cid, "reply", purpose=Purpose.reply)
    assert await engine.dispatcher.drain_once() == 2
    state = await rows(engine)
    assert [m["body"] for m in fake_twilio.messages if m["to"] == phone] == ["Message reply"]
    assert state["reply"]["status"] == "queued"
    held = state["reminder"]
    assert held["status"] == "pending" and held["error"] == "quiet hours" and held["attempts"] == 0
    due_local = from_driver(held["due_at"]).astimezone(ZoneInfo(night))
    assert (due_local.hour, due_local.minute) == (8, 0) and from_driver(held["due_at"]) > utcnow()
    # Nothing more goes out before then.
    assert await engine.dispatcher.drain_once() == 0


async def test_daily_cap_counts_the_persons_local_day(engine: Services, fake_twilio: FakeTwilio) -> None:
    day = zone_where_it_is(10, 18)
    cid, phone = await contact(engine, tz=day)
    for i in range(4):
        await enqueue(engine, cid, f"campaign-{i}", purpose=Purpose.campaign)
    await enqueue(engine, cid, "answer", purpose=Purpose.reply)  # replies are not capped
    await engine.dispatcher.drain_once()
    state = await rows(engine)
    sent = sorted(k for k, r in state.items() if r["status"] == "queued")
    assert sent == ["answer", "campaign-0", "campaign-1"]
    for key in ("campaign-2", "campaign-3"):
        assert state[key]["status"] == "pending" and state[key]["error"] == "daily cap reached"
        due_local = from_driver(state[key]["due_at"]).astimezone(ZoneInfo(day))
        assert due_local.date() > utcnow().astimezone(ZoneInfo(day)).date()
        assert (due_local.hour, due_local.minute) == (8, 0)
    assert len([m for m in fake_twilio.messages if m["to"] == phone]) == 3


async def test_expired_and_opted_out_messages_never_go_out(engine: Services, fake_twilio: FakeTwilio) -> None:
    cid, phone = await contact(engine, tz=zone_where_it_is(10, 18))
    out, out_phone = await contact(engine, opted_out=True)
    await enqueue(engine, cid, "late", expires=utcnow() - timedelta(seconds=1))
    await enqueue(engine, out, "to-opted-out", purpose=Purpose.reply)
    await engine.dispatcher.drain_once()
    state = await rows(engine)
    assert state["late"]["status"] == "expired"
    assert state["to-opted-out"]["status"] == "dead"
    assert state["to-opted-out"]["error"] == "recipient has opted out"
    assert fake_twilio.requests == []


async def test_a_retry_that_would_be_late_expires(engine: Services, fake_twilio: FakeTwilio) -> None:
    cid, _ = await contact(engine, tz=zone_where_it_is(10, 18))
    await enqueue(engine, cid, "soon", expires=utcnow() + timedelta(milliseconds=900))
    fake_twilio.inject(Fault.server_error())
    await engine.dispatcher.drain_once()
    row = (await rows(engine))["soon"]
    assert row["status"] == "expired" and "expired before a retry" in row["error"]


async def test_the_expire_job_clears_what_can_no_longer_go_out(engine: Services) -> None:
    cid, _ = await contact(engine)
    await enqueue(engine, cid, "future", due=utcnow() + timedelta(hours=1),
                  expires=utcnow() + timedelta(hours=2))
    await enqueue(engine, cid, "stale", due=utcnow() + timedelta(hours=1),
                  expires=utcnow() - timedelta(minutes=1))
    assert await engine.worker.run_once("outbox.expire", engine.dispatcher.expire_due) == 1
    state = await rows(engine)
    assert state["stale"]["status"] == "expired" and state["future"]["status"] == "pending"


async def test_jobs_that_must_run_once_do(engine: Services) -> None:
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

    other = build_services(engine.settings, library=engine.library, regions=engine.regions)
    try:
        results = await asyncio.gather(engine.worker.run_once("test.job", work),
                                       other.worker.run_once("test.job", work))
    finally:
        await other.close()
    assert peak == 1
    if engine.db.dialect.name == "postgresql":
        assert sorted(results, key=str) == [1, None]


async def test_restart_with_reminders_due_sends_each_once(
    engine: Services, fake_twilio: FakeTwilio
) -> None:
    await engine.close()
    # Reminders due now, whatever the hour here, and more than a day's cap of them.
    settings = engine.settings.model_copy(update={"quiet_hours": "off", "daily_cap": 100})
    engine = build_services(settings, library=engine.library, regions=engine.regions)
    cids = [(await contact(engine))[0] for _ in range(10)]
    keys = [f"appointment:{i}:remind:{m}" for i in range(30) for m in (1440, 120)]
    for i, key in enumerate(keys):
        await enqueue(engine, cids[i % 10], key, purpose=Purpose.reminder)
    # Stop mid-way, more than once: each process sends part of the backlog.
    for _ in range(3):
        await engine.worker.start()
        await asyncio.sleep(0.05)
        await engine.worker.stop()
        engine = build_services(settings, library=engine.library, regions=engine.regions)
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


async def test_purge_blanks_old_message_text(engine: Services) -> None:
    cid, _ = await contact(engine, tz=zone_where_it_is(10, 18))
    await enqueue(engine, cid, "old", purpose=Purpose.reply)
    await enqueue(engine, cid, "waiting", due=utcnow() + timedelta(hours=1))
    await engine.dispatcher.drain_once()
    async with engine.conversations.writer.begin(None) as raw:
        assert await engine.dispatcher.purge(raw, utcnow() + timedelta(seconds=1)) == 1
    async with engine.db.connect() as conn:
        bodies = dict((await conn.execute(text("SELECT idempotency_key, body FROM outbox"))).all())
    assert bodies == {"old": "", "waiting": "Message waiting"}
