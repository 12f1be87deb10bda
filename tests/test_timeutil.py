"""The clocks the outbound engine reads the time from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from outreach.timeutil import SYSTEM_CLOCK, Clock, ManualClock, SystemClock, utcnow

AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def test_a_manual_clock_stands_still_until_moved() -> None:
    clock = ManualClock(AT)
    assert clock.now() == AT and clock.now() == AT
    assert clock.advance(timedelta(minutes=90)) == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert clock.now() == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert clock.set(AT - timedelta(days=1)) == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
    assert clock.now() == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


def test_a_manual_clock_gives_aware_utc() -> None:
    clock = ManualClock(datetime(2026, 3, 10, 22, 30, tzinfo=timezone(timedelta(hours=8))))
    assert clock.now() == AT and clock.now().tzinfo is UTC
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 3, 10, 14, 30))  # naive: the columns would reject it
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 3, 10, 14, 30))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))


def test_the_system_clock_is_the_wall_clock() -> None:
    before = utcnow()
    now = SYSTEM_CLOCK.now()
    assert before <= now <= utcnow() and now.tzinfo is UTC
    clocks: list[Clock] = [SystemClock(), ManualClock(AT)]  # both are Clocks
    assert all(isinstance(c.now(), datetime) for c in clocks)
