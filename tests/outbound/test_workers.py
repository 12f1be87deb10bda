"""`outreach worker` as real processes: two of them draining one outbox on PostgreSQL, and
one killed with SIGKILL mid-batch and replaced. The provider is the fake Twilio; the
workers send through the real SDK."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from outreach.db import Database
from outreach.outbound.models import Purpose
from outreach.outbound.enqueue import Enqueuer
from outreach.timeutil import utcnow
from tests.factories import empty_database
from tests.fakes.twilio import FakeTwilio

OUTREACH = Path(sys.executable).parent / "outreach"


def worker_env(db_url: str, fake: FakeTwilio, sender: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({
        "OUTREACH_ENV": "test",
        "OUTREACH_DATABASE_URL": db_url,
        "OUTREACH_PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "OUTREACH_TWILIO_ACCOUNT_SID": fake.account_sid,
        "OUTREACH_TWILIO_AUTH_TOKEN": fake.auth_token,
        "OUTREACH_TWILIO_FROM": sender,  # tells the workers' sends apart
        "OUTREACH_TWILIO_API_BASE": fake.base_url,
        "OUTREACH_QUIET_HOURS": "off",
        "OUTREACH_DAILY_CAP": "1000",
        "OUTREACH_SEND_LEASE": "2",
        "OUTREACH_DISPATCH_INTERVAL": "0.2",
        "OUTREACH_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1",
    })
    return env


@contextmanager
def workers(db_url: str, fake: FakeTwilio, senders: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen([str(OUTREACH), "worker"], env=worker_env(db_url, fake, sender),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for sender in senders
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def campaign(db_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[Enqueuer]:
    fake_twilio.reset()
    db = Database(db_url)
    yield Enqueuer(db.dialect)
    await db.close()
    await empty_database(db_url)


async def seed(db_url: str, people: int) -> list[str]:
    """``people`` consenting SMS contacts and one due campaign message to each (a fan-out,
    as a health worker's campaign would make). Returns the messages' keys."""
    db = Database(db_url)
    now = utcnow()
    try:
        async with db.begin() as conn:
            series = (
                "SELECT g AS n FROM generate_series(1, :n) AS g" if db.dialect.name == "postgresql"
                else "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
                     "SELECT n FROM s"
            )
            await conn.execute(text(
                "INSERT INTO contact (id, consent, opted_out, dialog, created_at, updated_at, "
                "language, last_channel) SELECT n, 'granted', false, '{}', :now, :now, 'en', 'sms' "
                f"FROM ({series}) AS x"), {"n": people, "now": now})
            await conn.execute(text(
                "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
                "SELECT n, 'tel', '+8613' || CAST(100000000 + n AS VARCHAR(16)), :now "
                f"FROM ({series}) AS x"), {"n": people, "now": now})
            if db.dialect.name == "postgresql":
                await conn.execute(text("SELECT setval('contact_id_seq', :n)"), {"n": people})
        added = await Enqueuer(db.dialect).fan_out(
            db, key_prefix="campaign:1", purpose=Purpose.campaign,
            bodies={"en": "Free checkups this week at your service point."},
            default_locale="en", due_at=now)
        assert added == people
    finally:
        await db.close()
    return [f"campaign:1:{n}" for n in range(1, people + 1)]


async def statuses(db_url: str) -> Counter[str]:
    db = Database(db_url)
    try:
        async with db.begin() as uow:
            return Counter(dict((await uow.execute(text(
                "SELECT status, count(*) FROM outbox GROUP BY status"))).all()))
    finally:
        await db.close()


async def drained(db_url: str, timeout: float) -> Counter[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        counts = await statuses(db_url)
        if not (counts["pending"] or counts["sending"] or counts["unknown"]):
            return counts
        if loop.time() > deadline:
            raise AssertionError(f"not drained after {timeout} s: {dict(counts)}")
        await asyncio.sleep(0.25)


def sent_keys(fake: FakeTwilio) -> Counter[str | None]:
    return Counter(r.header("I-Twilio-Idempotency-Token") for r in fake.requests)


@pytest.mark.slow
async def test_two_workers_drain_10000_messages_each_sent_once(
    db_url: str, fake_twilio: FakeTwilio, campaign: Enqueuer
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (on SQLite one process does it all); "
                    "the PostgreSQL run of this suite covers it")
    keys = await seed(db_url, 10_000)
    senders = ["+15005550006", "+15005550007"]
    with workers(db_url, fake_twilio, senders) as procs:
        counts = await drained(db_url, timeout=180)
        for proc in procs:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    assert counts == Counter({"queued": 10_000})
    per_key = sent_keys(fake_twilio)
    assert sorted(per_key) == sorted(keys)  # every message went out …
    assert set(per_key.values()) == {1}  # … exactly once
    by_worker = Counter(r.form["From"] for r in fake_twilio.requests)
    assert set(by_worker) == set(senders), by_worker  # both workers shared the load
    for proc in procs:
        assert proc.returncode == 0  # SIGTERM: a clean stop


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_loses_nothing(
    db_url: str, fake_twilio: FakeTwilio, campaign: Enqueuer
) -> None:
    keys = await seed(db_url, 1_500)
    fake_twilio.latency = 0.02  # sends stay in flight long enough to be caught mid-batch
    with workers(db_url, fake_twilio, ["+15005550006"]) as (first,):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(fake_twilio.requests) < 250:  # mid-way through the third batch of 100
            assert loop.time() < deadline, "the first worker sent nothing"
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = await statuses(db_url)
    in_flight = at_kill["sending"]
    assert in_flight > 0, (at_kill, len(fake_twilio.requests))  # it really died mid-batch
    fake_twilio.latency = 0.0
    with workers(db_url, fake_twilio, ["+15005550007"]):
        counts = await drained(db_url, timeout=120)
    assert counts == Counter({"queued": len(keys)})  # none lost
    per_key = sent_keys(fake_twilio)
    assert sorted(per_key) == sorted(keys)
    duplicates = sum(n - 1 for n in per_key.values())
    # Only a send in flight at the kill can go out twice (retried with the same key).
    assert duplicates <= in_flight
