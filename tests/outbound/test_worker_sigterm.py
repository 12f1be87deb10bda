"""SIGTERM to `outreach worker` in the middle of a campaign (a real process, fake Twilio
answering each send in 0.2 s and ignoring idempotency keys, as Twilio does; on SQLite and
in the PostgreSQL run on PostgreSQL): it stops claiming, the sends already out finish and
are recorded, the rows it claimed but had not started are given back at once, and it
exits 0. A second worker then sends the rest: nobody lost, nobody texted twice, and the
given-back rows do not wait for their lease (60 s here) to run out."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from bench.faults import drained, seed, start_worker, statuses, stop_workers
from tests.factories import empty_database
from tests.fakes.twilio import FakeTwilio

MESSAGES = 400
LATENCY = 0.2
LEASE = 60.0  # far longer than the test: a row left to its lease would never be sent
CONCURRENCY = 10  # OUTREACH_SEND_CONCURRENCY's default
FIRST, SECOND = "+15005550021", "+15005550022"


@pytest.fixture
async def campaign(db_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[list[str]]:
    fake_twilio.reset()
    fake_twilio.honour_idempotency = False
    fake_twilio.latency = LATENCY
    try:
        yield await seed(db_url, MESSAGES)
    finally:
        fake_twilio.reset()
        await empty_database(db_url)


def sent_by(fake: FakeTwilio, sender: str) -> int:
    return sum(1 for r in fake.requests if r.form.get("From") == sender)


@pytest.mark.slow
async def test_sigterm_mid_campaign_gives_back_what_was_not_started_and_exits_0(
    db_url: str, fake_twilio: FakeTwilio, campaign: list[str]
) -> None:
    first = start_worker(db_url, fake_twilio, FIRST, LEASE, stderr=subprocess.PIPE)
    procs = [first]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while sent_by(fake_twilio, FIRST) < 30:
            assert loop.time() < deadline and first.poll() is None, "the worker is not sending"
            await asyncio.sleep(0.02)
        before = sent_by(fake_twilio, FIRST)
        first.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(first.communicate, timeout=30)
        assert first.returncode == 0, err.decode()
        # Only the sends already out went on after SIGTERM; the batch it had claimed
        # (up to 200 rows) was not worked through first.
        after = sent_by(fake_twilio, FIRST)
        assert after - before <= 2 * CONCURRENCY, (before, after)
        counts = await statuses(db_url)
        assert counts["sending"] == 0, counts  # every claim settled: recorded or given back
        assert counts["queued"] == after
        assert counts["pending"] == MESSAGES - after

        procs.append(start_worker(db_url, fake_twilio, SECOND, LEASE, stderr=subprocess.PIPE))
        counts = await drained(db_url, timeout=30)  # well before any lease could run out
    finally:
        stop_workers(procs)
    assert counts == Counter({"queued": MESSAGES})
    per_person = Counter(m["to"] for m in fake_twilio.messages)
    assert len(per_person) == MESSAGES  # lost: 0
    assert set(per_person.values()) == {1}  # duplicates: 0
    assert fake_twilio.lookups == 0  # nothing was left in doubt
    assert sent_by(fake_twilio, SECOND) == MESSAGES - after
