"""`outreach worker` as real processes on PostgreSQL: two of them draining one outbox; one
killed with SIGKILL three times mid-campaign and replaced; a provider slower than the lease.
The provider is the fake Twilio; the workers send through the real SDK. The kill and slow
scenarios are bench/faults.py's (``make bench BENCH_ARGS="--suite faults"`` prints their
table)."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from bench import faults
from bench.faults import drained, seed, start_worker, stop_workers
from outreach.db import Database
from outreach.outbound.enqueue import Enqueuer
from tests.factories import empty_database
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (on SQLite one process does it all); "
                    "the PostgreSQL run of this suite covers it")


@contextmanager
def workers(db_url: str, fake: FakeTwilio, senders: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [start_worker(db_url, fake, sender, lease=2, stderr=subprocess.PIPE) for sender in senders]
    try:
        yield procs
    finally:
        stop_workers(procs)


@pytest.fixture
async def campaign(db_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[Enqueuer]:
    fake_twilio.reset()
    db = Database(db_url)
    yield Enqueuer(db.dialect)
    await db.close()
    await empty_database(db_url)


def sent_keys(fake: FakeTwilio) -> Counter[str | None]:
    return Counter(r.header("I-Twilio-Idempotency-Token") for r in fake.requests)


@pytest.mark.slow
async def test_two_workers_drain_10000_messages_each_sent_once(
    db_url: str, fake_twilio: FakeTwilio, campaign: Enqueuer
) -> None:
    postgres_only(db_url)
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
async def test_three_kills_lose_nothing_and_text_nobody_twice(
    db_url: str, fake_twilio: FakeTwilio, campaign: Enqueuer
) -> None:
    """3,000 messages, 2 workers, a provider taking 0.2 s per send and ignoring
    idempotency keys (as Twilio does), one worker SIGKILLed three times: every person gets
    the message once. The sends in flight at each kill are looked up at the provider
    before anyone sends them again."""
    postgres_only(db_url)
    r = await faults.kill(db_url, fake_twilio, messages=3_000, workers=2, latency=0.2, kills=3)
    print(f"kill: drained in {r.drain_seconds:.1f} s, claimed at the kills {r.in_flight}, "
          f"{r.lookups} lookups")
    assert r.statuses == {"queued": 3_000}
    assert r.lost == 0
    assert r.duplicates == 0
    assert all(n > 0 for n in r.in_flight)  # each kill really caught sends in the middle
    assert r.lookups > 0


@pytest.mark.slow
async def test_on_telegram_a_kill_repeats_at_most_the_sends_in_flight(
    db_url: str, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram, campaign: Enqueuer
) -> None:
    """The Bot API cannot be asked what was sent, so a kill may repeat the sends it left
    unsettled (answers delayed 0.2 s after each message exists: the worst case) but no
    more: at most 2 × OUTREACH_SEND_CONCURRENCY (20) per kill."""
    postgres_only(db_url)
    r = await faults.kill(db_url, fake_twilio, messages=1_200, workers=2, latency=0.2, kills=3,
                          telegram=fake_telegram)
    print(f"telegram kill: drained in {r.drain_seconds:.1f} s, {r.duplicates} duplicates")
    assert r.statuses == {"sent": 1_200}
    assert r.lost == 0
    assert r.duplicates <= 3 * 20


@pytest.mark.slow
async def test_a_provider_slower_than_the_lease_never_makes_two_workers_send_one_row(
    db_url: str, fake_twilio: FakeTwilio, campaign: Enqueuer
) -> None:
    """1,000 messages at 0.4 s each with a 5 s lease: a worker's claimed batch takes
    longer than the lease to send, so only renewal keeps the other worker off it."""
    postgres_only(db_url)
    r = await faults.slow(db_url, fake_twilio, messages=1_000, workers=2, latency=0.4, lease=5.0)
    print(f"slow: drained in {r.drain_seconds:.1f} s")
    assert r.statuses == {"queued": 1_000}
    assert r.lost == 0
    assert r.duplicates == 0
    assert r.lookups == 0  # nothing was ever in doubt
