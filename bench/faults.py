"""The faults suite: `outreach worker` processes on PostgreSQL sending a campaign to the
fake Twilio while things go wrong, counting what was lost and what went out twice.

Two scenarios (tests/outbound/test_workers.py runs them with the same figures):

- ``kill``: W workers drain N campaign messages through a provider answering each send
  in ``latency`` seconds; ``kills`` times, once another slice of the campaign has gone
  out, one worker is killed with SIGKILL and a new one started in its place.
  With a fake Telegram instead, the same on Telegram, whose Bot API cannot be asked
  what was sent: there a kill can repeat at most the sends in flight.
- ``slow``: no crash, but a provider so slow that the rows a worker claims at once take
  longer to send than the lease (``latency`` 0.4 s, a 5 s lease): without renewal other
  workers take over rows still being sent.
- ``outage``: one worker (defaults: 10 requests at once, a 10 s Twilio timeout) is a
  quarter into a campaign when Twilio stops answering anything, sends and its Messages
  list alike, for ``hang`` seconds (a minute), then recovers. The last sends before it
  were created but their answers never came (in doubt). Counted: requests during the
  outage, the most open at once, people texted twice or never, messages expired (a
  tenth of the campaign expires half-way through the outage) or dead-lettered, and the
  time to drain after recovery.
- ``restart``: PostgreSQL itself stopped (fast: every connection cut) once a quarter of
  the campaign went out, held down ``down`` seconds and started again, on a private
  cluster (tests/pg_cluster.py); the workers are not restarted.

The fake is the tests' (Twilio's wire format), with idempotency keys **ignored**, as real
Twilio ignores them: a retried request creates a second message. So "duplicates" are
messages a person really got twice: the fake's messages minus its recipients.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from outreach.db import Database
from outreach.outbound.enqueue import Enqueuer
from outreach.outbound.models import Purpose
from outreach.timeutil import utcnow
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio, Fault

OUTREACH = Path(sys.executable).parent / "outreach"
BODY = "Free checkups this week at your service point."


@dataclass
class Outcome:
    scenario: str
    channel: str
    messages: int
    workers: int
    latency: float
    lease: float
    kills: int = 0
    # Rows in 'sending' at each kill: the most a kill could repeat without the check.
    in_flight: list[int] = field(default_factory=list)
    lost: int = 0
    duplicates: int = 0
    lookups: int = 0
    drain_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    # outage: how long, requests meanwhile, most open at once, expiring rows sent anyway,
    # the most attempts a row took, seconds from recovery to drained.
    hang: float = 0.0
    outage_requests: int = 0
    max_in_flight: int = 0
    expired_sent: int = 0
    max_attempts: int = 0
    drain_after: float = 0.0


def worker_env(db_url: str, fake: FakeTwilio, sender: str, lease: float,
               telegram: FakeTelegram | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    if telegram is not None:
        env.update({"OUTREACH_TELEGRAM_TOKEN": telegram.token,
                    "OUTREACH_TELEGRAM_API_BASE": telegram.base_url})
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
        "OUTREACH_SEND_LEASE": str(lease),
        "OUTREACH_DISPATCH_INTERVAL": "0.2",
        "OUTREACH_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1",
    })
    return env


def start_worker(db_url: str, fake: FakeTwilio, sender: str, lease: float,
                 telegram: FakeTelegram | None = None, *,
                 stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(OUTREACH), "worker"],
                            env=worker_env(db_url, fake, sender, lease, telegram),
                            stdout=subprocess.DEVNULL, stderr=stderr)


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def seed(db_url: str, people: int, channel: str = "sms") -> list[str]:
    """``people`` consenting contacts on ``channel`` (sms: numbers, telegram: chat ids) and
    one due campaign message to each (a fan-out, as a health worker's campaign would
    make). Returns the messages' keys."""
    scheme, path = (("tel", "'+8613' || CAST(100000000 + n AS VARCHAR(16))") if channel == "sms"
                    else ("telegram", "CAST(100000000 + n AS VARCHAR(16))"))
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
                "language, last_channel) SELECT n, 'granted', false, '{}', :now, :now, 'en', :channel "
                f"FROM ({series}) AS x"), {"n": people, "now": now, "channel": channel})
            await conn.execute(text(
                "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
                f"SELECT n, '{scheme}', {path}, :now "
                f"FROM ({series}) AS x"), {"n": people, "now": now})
            if db.dialect.name == "postgresql":
                await conn.execute(text("SELECT setval('contact_id_seq', :n)"), {"n": people})
        added = await Enqueuer(db.dialect).fan_out(
            db, key_prefix="campaign:1", purpose=Purpose.campaign, bodies={"en": BODY},
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


def _tally(outcome: Outcome, fake: FakeTwilio, counts: Counter[str],
           telegram: FakeTelegram | None = None) -> Outcome:
    if telegram is not None:
        per_person = Counter(m["chat"]["id"] for m in telegram.sent)
    else:
        per_person = Counter(m["to"] for m in fake.messages)
    outcome.duplicates = sum(n - 1 for n in per_person.values())
    outcome.lost = outcome.messages - len(per_person)
    outcome.lookups = fake.lookups
    outcome.statuses = dict(counts)
    return outcome


async def kill(db_url: str, fake: FakeTwilio, *, messages: int = 3_000, workers: int = 2,
               latency: float = 0.2, kills: int = 3, lease: float = 2.0,
               telegram: FakeTelegram | None = None, timeout: float = 240.0) -> Outcome:
    """Seed, drain with ``workers`` workers, SIGKILL one ``kills`` times (each once another
    1/(kills + 1) of the campaign went out) and start a new one in its place. With
    ``telegram``, the campaign goes to Telegram chats through that fake instead."""
    fake.reset()
    fake.honour_idempotency = False
    if telegram is not None:
        telegram.reset()
        telegram.latency = latency
    else:
        fake.latency = latency
    channel = "sms" if telegram is None else "telegram"
    await seed(db_url, messages, channel)
    outcome = Outcome("kill", channel, messages, workers, latency, lease, kills=kills)
    numbers = iter(f"+1500555{n:04d}" for n in range(10_000))

    def sends() -> int:
        return len(fake.requests) if telegram is None else len(telegram.sent)

    started = time.monotonic()
    procs = [start_worker(db_url, fake, next(numbers), lease, telegram) for _ in range(workers)]
    try:
        loop = asyncio.get_running_loop()
        for k in range(1, kills + 1):
            goal = messages * k // (kills + 1)
            deadline = loop.time() + timeout
            while sends() < goal:
                if loop.time() > deadline:
                    raise AssertionError(f"only {sends()} sends after {timeout} s")
                await asyncio.sleep(0.02)
            victim = procs.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            outcome.in_flight.append((await statuses(db_url))["sending"])
            procs.append(start_worker(db_url, fake, next(numbers), lease, telegram))
        counts = await drained(db_url, timeout)
        outcome.drain_seconds = time.monotonic() - started
    finally:
        stop_workers(procs)
        fake.latency = 0.0
        if telegram is not None:
            telegram.latency = 0.0
    return _tally(outcome, fake, counts, telegram)


async def slow(db_url: str, fake: FakeTwilio, *, messages: int = 1_000, workers: int = 2,
               latency: float = 0.4, lease: float = 5.0, timeout: float = 240.0) -> Outcome:
    """Seed and drain with a provider slower than the lease allows for a claimed batch."""
    fake.reset()
    fake.honour_idempotency = False
    fake.latency = latency
    await seed(db_url, messages)
    outcome = Outcome("slow", "sms", messages, workers, latency, lease)
    started = time.monotonic()
    procs = [start_worker(db_url, fake, f"+1500555{n:04d}", lease) for n in range(workers)]
    try:
        counts = await drained(db_url, timeout)
        outcome.drain_seconds = time.monotonic() - started
    finally:
        stop_workers(procs)
        fake.latency = 0.0
    return _tally(outcome, fake, counts)


async def outage(db_url: str, fake: FakeTwilio, *, messages: int = 2_000, hang: float = 60.0,
                 status: int = 0, in_doubt: int = 5, latency: float = 0.02,
                 timeout: float = 300.0) -> Outcome:
    """Seed, start one worker, and once a quarter of the campaign went out: ``in_doubt``
    sends created with their answers never coming, then every request hanging for
    ``hang`` seconds (with ``status``: answered that HTTP status instead, for as long);
    a tenth of the campaign (the last rows) expires half-way through. Then Twilio
    answers again and the outbox drains."""
    fake.reset()
    fake.honour_idempotency = False
    fake.latency = latency
    await seed(db_url, messages)
    outcome = Outcome("outage", f"{status or 'hang'}", messages, 1, latency, 60.0, hang=hang)
    loop = asyncio.get_running_loop()
    procs = [start_worker(db_url, fake, "+15005550006", lease=60.0)]
    db = Database(db_url)
    try:
        deadline = loop.time() + timeout
        while len(fake.messages) < messages // 4:
            if loop.time() > deadline:
                raise AssertionError(f"only {len(fake.messages)} sent after {timeout} s")
            await asyncio.sleep(0.02)
        fake.inject(*[Fault.timeout(hang + 30, accept=True)] * in_doubt)
        while sum(r.outcome == "timeout" for r in fake.requests) < in_doubt:
            await asyncio.sleep(0.005)
        if status:
            fake.outage(status=status)
        else:
            fake.outage(hang=hang)
        fake.max_in_flight = 0
        started = time.monotonic()
        async with db.begin() as conn:
            expiring = list((await conn.execute(text(
                "UPDATE outbox SET expires_at = :at WHERE id IN (SELECT id FROM outbox "
                "ORDER BY id DESC LIMIT :n) AND status = 'pending' RETURNING address"),
                {"at": utcnow() + timedelta(seconds=hang / 2), "n": messages // 10})).scalars())
        await asyncio.sleep(hang - (time.monotonic() - started))
        outcome.outage_requests = fake.outage_requests
        outcome.max_in_flight = fake.max_in_flight
        fake.restore()
        recovered = time.monotonic()
        counts = await drained(db_url, timeout)
        outcome.drain_after = time.monotonic() - recovered
        outcome.drain_seconds = time.monotonic() - started
        async with db.begin() as conn:
            outcome.max_attempts = int((await conn.execute(text(
                "SELECT max(attempts) FROM outbox"))).scalar_one())
    finally:
        stop_workers(procs)
        fake.latency = 0.0
        await db.close()
    _tally(outcome, fake, counts)
    sent_to = Counter(m["to"] for m in fake.messages)
    outcome.expired_sent = sum(1 for a in expiring if sent_to[a])
    # Lost: neither sent nor expired.
    outcome.lost = outcome.messages - len(sent_to) - counts["expired"] + outcome.expired_sent
    return outcome


def print_outage(results: list[Outcome]) -> None:
    header = (f"{'scenario':<9} {'twilio':<6} {'messages':>8} {'secs':>4} {'requests in outage':>18} "
              f"{'max in flight':>13} {'lost':>5} {'dupes':>5} {'expired':>7} {'expired sent':>12} "
              f"{'dead':>4} {'max attempts':>12} {'lookups':>7} {'drain after s':>13}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.scenario:<9} {r.channel:<6} {r.messages:>8} {r.hang:>4.0f} {r.outage_requests:>18} "
              f"{r.max_in_flight:>13} {r.lost:>5} {r.duplicates:>5} {r.statuses.get('expired', 0):>7} "
              f"{r.expired_sent:>12} {r.statuses.get('dead', 0):>4} {r.max_attempts:>12} "
              f"{r.lookups:>7} {r.drain_after:>13.1f}")


async def restart(fake: FakeTwilio, *, messages: int = 2_000, workers: int = 2,
                  latency: float = 0.2, lease: float = 5.0, down: float = 5.0,
                  timeout: float = 240.0) -> Outcome:
    """Drain with ``workers`` workers on a private cluster that is stopped for ``down``
    seconds once a quarter of the campaign went out. ``in_flight``: the rows claimed at
    the stop."""
    from tests.pg_cluster import cluster

    fake.reset()
    fake.honour_idempotency = False
    fake.latency = latency
    outcome = Outcome("restart", "sms", messages, workers, latency, lease)
    with cluster() as pg:
        db_url = pg.url
        env = worker_env(db_url, fake, "+15005550000", lease)
        subprocess.run([str(OUTREACH), "db", "upgrade"], env=env, check=True, timeout=120,
                       capture_output=True)
        await seed(db_url, messages)
        started = time.monotonic()
        procs = [start_worker(db_url, fake, f"+1500555{n:04d}", lease) for n in range(workers)]
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(fake.requests) < messages // 4:
                if loop.time() > deadline:
                    raise AssertionError(f"only {len(fake.requests)} sends after {timeout} s")
                await asyncio.sleep(0.02)
            outcome.in_flight.append((await statuses(db_url))["sending"])
            await asyncio.to_thread(pg.stop, "fast")
            await asyncio.sleep(down)
            await asyncio.to_thread(pg.start)
            counts = await drained(db_url, timeout)
            outcome.drain_seconds = time.monotonic() - started
            if any(proc.poll() is not None for proc in procs):
                raise AssertionError("a worker exited during the restart")
        finally:
            stop_workers(procs)
            fake.latency = 0.0
    return _tally(outcome, fake, counts)


def print_table(results: list[Outcome]) -> None:
    header = (f"{'scenario':<9} {'channel':<8} {'messages':>8} {'workers':>7} {'latency s':>9} {'lease s':>7} "
              f"{'kills':>5} {'sending at kills':<19} {'lost':>5} {'dupes':>5} {'lookups':>7} "
              f"{'drain s':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        flight = ",".join(str(n) for n in r.in_flight) or "-"
        print(f"{r.scenario:<9} {r.channel:<8} {r.messages:>8} {r.workers:>7} {r.latency:>9.1f} {r.lease:>7.0f} "
              f"{r.kills:>5} {flight:<19} {r.lost:>5} {r.duplicates:>5} {r.lookups:>7} "
              f"{r.drain_seconds:>7.1f}")
