"""Retry timing without a database: the backoff's bounds per attempt with a seeded random
source, and the due time of a retry computed from the dispatcher's clock."""

from __future__ import annotations

import random
from types import SimpleNamespace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import sqlite

from outreach.outbound.sender import Failure, SendError
from outreach.outbound.dispatcher import Claimed, Dispatcher, backoff
from outreach.timeutil import ManualClock

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(20))
def test_backoff_stays_within_its_bounds(seed: int) -> None:
    rng = random.Random(seed)
    for attempt in range(1, 16):
        for _ in range(50):
            wait = backoff(attempt, rng)
            # Attempt 1 waits 1–2 s, 2 up to 4 s, 3 up to 8 s … never more than 5 minutes.
            assert 1.0 <= wait <= min(300.0, 2.0 ** attempt), (attempt, wait)


def test_backoff_grows_and_jitters() -> None:
    rng = random.Random(7)
    third = [backoff(3, rng) for _ in range(500)]
    assert min(third) < 1.5 and max(third) > 7.5  # spread over 1–8 s
    late = [backoff(20, rng) for _ in range(500)]
    assert max(late) <= 300.0 and max(late) > 290.0  # capped
    assert all(1.0 <= w <= 10.0 for w in (backoff(4, rng, base=4.0, cap=10.0) for _ in range(100)))


def test_backoff_with_the_same_seed_repeats() -> None:
    a, b = random.Random(42), random.Random(42)
    assert [backoff(n, a) for n in range(1, 10)] == [backoff(n, b) for n in range(1, 10)]
    # It draws from the source given, not the global one.
    random.seed(1)
    first = [backoff(2, random.Random(5)) for _ in range(3)]
    random.seed(2)
    assert [backoff(2, random.Random(5)) for _ in range(3)] == first


def dispatcher(clock: ManualClock, seed: int = 3, max_attempts: int = 6) -> Dispatcher:
    # _failed needs neither a database nor senders: only the dialect, for its statements.
    db = SimpleNamespace(name="sqlite", dialect=sqlite.dialect())
    return Dispatcher(db, [], clock=clock, rng=random.Random(seed),  # type: ignore[arg-type]
                      max_attempts=max_attempts)


def claimed(attempts: int = 1, expires_at: datetime | None = None) -> Claimed:
    return Claimed(id=1, key="k", contact_id=1, address="+8613900000001", body="hi",
                   purpose="reminder", attempts=attempts, choices=[], opted_out=False,
                   expires_at=expires_at, timezone=None)


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_a_retry_is_due_a_backoff_after_the_clocks_now(attempts: int) -> None:
    clock = ManualClock(NOW)
    outcome, opt_out = dispatcher(clock)._failed(
        claimed(attempts), SendError(Failure.retryable, "500 from Twilio", 20500))
    wait = backoff(attempts, random.Random(3))
    assert outcome["due_at"] == NOW + timedelta(seconds=wait)
    assert outcome["status"] == "pending" and outcome["now"] == NOW and not opt_out
    # On a clock an hour later, an hour later.
    clock.advance(timedelta(hours=1))
    outcome, _ = dispatcher(clock)._failed(claimed(attempts), SendError(Failure.unknown, "timeout"))
    assert outcome["due_at"] == NOW + timedelta(hours=1, seconds=wait)
    assert outcome["status"] == "unknown"


def test_a_retry_after_the_providers_delay() -> None:
    clock = ManualClock(NOW)
    outcome, _ = dispatcher(clock)._failed(
        claimed(), SendError(Failure.retryable, "429", 429, delay=30.0))
    assert outcome["due_at"] == NOW + timedelta(seconds=30)


def test_a_retry_due_at_or_after_expiry_expires_instead() -> None:
    clock = ManualClock(NOW)
    wait = backoff(1, random.Random(3))
    exc = SendError(Failure.retryable, "500 from Twilio", 20500)
    at_expiry = NOW + timedelta(seconds=wait)
    outcome, _ = dispatcher(clock)._failed(claimed(expires_at=at_expiry), exc)
    assert outcome["status"] == "expired" and outcome["due_at"] is None
    outcome, _ = dispatcher(clock)._failed(
        claimed(expires_at=at_expiry + timedelta(microseconds=1)), exc)
    assert outcome["status"] == "pending" and outcome["due_at"] == at_expiry


def test_the_last_attempt_dead_letters() -> None:
    outcome, _ = dispatcher(ManualClock(NOW), max_attempts=3)._failed(
        claimed(attempts=3), SendError(Failure.retryable, "500 from Twilio"))
    assert outcome["status"] == "dead" and outcome["due_at"] is None
    assert outcome["error"] == "gave up after 3 attempts: 500 from Twilio"


def test_failures_in_a_row_pause_the_channel_and_stop_counting_as_attempts() -> None:
    """Three outage-like failures in a row pause the channel for a backoff from the rng;
    from the third on a failure is the outage's: the row waits for the pause's end with
    its attempt given back (an in-doubt one stays in doubt), or expires if that is later
    than its expiry. An answer from the provider ends the pause."""
    from outreach.outbound.dispatcher import _Pause

    clock = ManualClock(NOW)
    d = dispatcher(clock)
    pause = _Pause("sms")
    exc = SendError(Failure.retryable, "Twilio 500 20500")
    assert not d._failing(pause, exc, is_probe=False)
    assert not d._failing(pause, exc, is_probe=False)
    assert d._failing(pause, exc, is_probe=False)
    wait = backoff(1, random.Random(3), cap=d.pause_cap)
    assert pause.until == NOW + timedelta(seconds=wait) and pause.times == 1
    outcome, _ = d._wait_out(claimed(attempts=4), pause, exc)
    assert outcome["status"] == "pending" and outcome["attempts"] == 3
    assert outcome["due_at"] == pause.until + (pause.until - NOW)  # a failed send: a pause later
    outcome, _ = d._wait_out(
        Claimed(**{**claimed(attempts=2).__dict__, "in_doubt": True}), pause)
    assert outcome["status"] == "unknown" and outcome["due_at"] == pause.until
    outcome, _ = d._wait_out(claimed(expires_at=NOW + timedelta(seconds=wait / 2)), pause)
    assert outcome["status"] == "expired" and outcome["attempts"] == 0
    # A send already out when the pause began fails too: the pause stands as it was.
    assert d._failing(pause, exc, is_probe=False) and pause.times == 1
    # The probe fails: a longer pause.
    assert d._failing(pause, SendError(Failure.unknown, "timeout"), is_probe=True)
    assert pause.times == 2
    # An error about the message itself is an answer: the channel resumes.
    assert not d._failing(pause, SendError(Failure.permanent, "21211"), is_probe=True)
    assert pause.until is None and pause.times == 0 and pause.failures == 0


def test_a_pause_lasts_at_least_the_providers_delay() -> None:
    from outreach.outbound.dispatcher import _Pause

    d = dispatcher(ManualClock(NOW))
    pause = _Pause("telegram")
    flood = SendError(Failure.retryable, "flood control", 429, delay=120.0)
    assert [d._failing(pause, flood, is_probe=False) for _ in range(3)] == [False, False, True]
    assert pause.until == NOW + timedelta(seconds=120)
    outcome, _ = d._wait_out(claimed(), pause, flood)
    assert outcome["due_at"] >= NOW + timedelta(seconds=120)
