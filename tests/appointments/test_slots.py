"""The slot grid: wall-clock opening hours to UTC instants, across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outreach.appointments.schemas import check_hours
from outreach.appointments.slots import day_bounds, day_slots, is_slot, resolve, upcoming_slots

SHANGHAI_HOURS = {"mon": [("08:30", "11:30"), ("14:00", "17:00")], "tue": [("08:30", "09:45")]}
MONDAY = date(2026, 3, 2)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_shanghai_day() -> None:
    slots = day_slots(SHANGHAI_HOURS, "Asia/Shanghai", 30, MONDAY)
    assert len(slots) == 12
    assert slots[0] == utc(2026, 3, 2, 0, 30)  # 08:30 at UTC+8
    assert slots[5] == utc(2026, 3, 2, 3, 0)  # 11:00, the last that ends by 11:30
    assert slots[6] == utc(2026, 3, 2, 6, 0)  # 14:00
    assert slots[-1] == utc(2026, 3, 2, 8, 30)  # 16:30
    assert all(s.tzinfo is UTC for s in slots)


def test_a_slot_must_fit_before_closing() -> None:
    tuesday = MONDAY + timedelta(days=1)
    assert day_slots(SHANGHAI_HOURS, "Asia/Shanghai", 30, tuesday) == [
        utc(2026, 3, 3, 0, 30), utc(2026, 3, 3, 1, 0)  # 09:30 would end after 09:45
    ]
    assert day_slots(SHANGHAI_HOURS, "Asia/Shanghai", 90, tuesday) == []


def test_closed_day_has_no_slots() -> None:
    assert day_slots(SHANGHAI_HOURS, "Asia/Shanghai", 30, date(2026, 3, 8)) == []  # a Sunday


def test_spring_forward_skips_the_missing_hour() -> None:
    # Berlin, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST.
    hours = {"sun": [("01:00", "04:00")]}
    slots = day_slots(hours, "Europe/Berlin", 30, date(2026, 3, 29))
    assert slots == [
        utc(2026, 3, 29, 0, 0),  # 01:00 CET
        utc(2026, 3, 29, 0, 30),  # 01:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST (02:00 and 02:30 do not exist)
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST
    ]


def test_fall_back_uses_the_first_occurrence() -> None:
    # Berlin, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
    hours = {"sun": [("01:00", "04:00")]}
    slots = day_slots(hours, "Europe/Berlin", 30, date(2026, 10, 25))
    assert slots == [
        utc(2026, 10, 24, 23, 0),  # 01:00 CEST
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST (fold=0)
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST (fold=0)
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
    ]
    assert is_slot(hours, "Europe/Berlin", 30, utc(2026, 10, 25, 0, 30))
    # The second 02:30 (CET) is the same wall time but not the slot.
    assert not is_slot(hours, "Europe/Berlin", 30, utc(2026, 10, 25, 1, 30))


def test_a_wall_time_in_the_gap_has_no_slot_and_is_not_moved_on() -> None:
    # New York, Sunday 8 March 2026: 02:00 EST becomes 03:00 EDT. On a 45-minute grid the
    # 02:30 slot does not exist. dateutil's resolve_imaginary would make it 03:30 EDT
    # (07:30 UTC), off the grid: overlapping the 03:15 slot and ending after 04:00.
    hours = {"sun": [("01:00", "04:00")]}
    day = date(2026, 3, 8)
    assert resolve(day, 150, ZoneInfo("America/New_York")) is None
    slots = day_slots(hours, "America/New_York", 45, day)
    assert slots == [
        utc(2026, 3, 8, 6, 0),  # 01:00 EST
        utc(2026, 3, 8, 6, 45),  # 01:45 EST
        utc(2026, 3, 8, 7, 15),  # 03:15 EDT
    ]
    assert not is_slot(hours, "America/New_York", 45, utc(2026, 3, 8, 7, 30))


def test_a_wall_time_in_the_fold_is_its_first_occurrence() -> None:
    # New York, Sunday 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:xx happens twice.
    zone = ZoneInfo("America/New_York")
    day = date(2026, 11, 1)
    assert resolve(day, 90, zone) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 06:30 (EST)
    hours = {"sun": [("01:00", "02:00")]}
    assert day_slots(hours, "America/New_York", 30, day) == [
        utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 5, 30)  # 01:00 and 01:30 EDT
    ]
    assert not is_slot(hours, "America/New_York", 30, utc(2026, 11, 1, 6, 30))  # 01:30 EST


def test_day_bounds_follow_the_local_day() -> None:
    lo, hi = day_bounds(date(2026, 10, 25), "Europe/Berlin")
    assert (lo, hi - lo) == (utc(2026, 10, 24, 22, 0), timedelta(hours=25))
    lo, hi = day_bounds(MONDAY, "Asia/Shanghai")
    assert (lo, hi) == (utc(2026, 3, 1, 16, 0), utc(2026, 3, 2, 16, 0))


def test_upcoming_slots_skip_started_ones_and_stop_at_the_horizon() -> None:
    hours = {"mon": [("08:30", "10:00")]}
    now = utc(2026, 3, 2, 0, 45)  # Monday 08:45 in Shanghai: the 08:30 slot has begun
    slots = upcoming_slots(hours, "Asia/Shanghai", 30, now, days=14)
    assert slots == [
        utc(2026, 3, 2, 1, 0), utc(2026, 3, 2, 1, 30),
        utc(2026, 3, 9, 0, 30), utc(2026, 3, 9, 1, 0), utc(2026, 3, 9, 1, 30),
        utc(2026, 3, 16, 0, 30),  # 16 March 08:30; 09:00 is past now + 14 days (08:45)
    ]
    # Within 7 days: up to 9 March 08:45, so that day only its 08:30 slot.
    assert upcoming_slots(hours, "Asia/Shanghai", 30, now, days=7)[-1] == utc(2026, 3, 9, 0, 30)


def test_upcoming_slots_in_a_zone_west_of_utc() -> None:
    # Late evening UTC is the afternoon before in New York: the local date matters.
    hours = {"sun": [("16:00", "17:00")]}
    now = utc(2026, 3, 1, 20, 30)  # Sunday 15:30 EST
    assert upcoming_slots(hours, "America/New_York", 30, now, days=1) == [
        utc(2026, 3, 1, 21, 0), utc(2026, 3, 1, 21, 30)
    ]


def test_is_slot() -> None:
    assert is_slot(SHANGHAI_HOURS, "Asia/Shanghai", 30, utc(2026, 3, 2, 6, 30))
    assert not is_slot(SHANGHAI_HOURS, "Asia/Shanghai", 30, utc(2026, 3, 2, 6, 15))  # off the grid
    assert not is_slot(SHANGHAI_HOURS, "Asia/Shanghai", 30, utc(2026, 3, 2, 4, 0))  # lunch


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ({"monday": [("08:00", "09:00")]}, "unknown day 'monday'"),
        ({"mon": [("8:00", "09:00")]}, "'8:00' is not a time of day"),
        ({"mon": [("08:00", "24:00")]}, "'24:00' is not a time of day"),
        ({"mon": [("09:00", "09:00")]}, "09:00-09:00 ends before it starts"),
        ({"mon": [("08:00", "10:00"), ("09:30", "11:00")]}, "08:00-10:00 overlaps 09:30-11:00"),
    ],
)
def test_bad_hours(hours: dict[str, list[tuple[str, str]]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_hours(hours)


def test_hours_are_sorted_and_may_touch() -> None:
    assert check_hours({"mon": [("14:00", "17:00"), ("08:00", "14:00")]}) == {
        "mon": [("08:00", "14:00"), ("14:00", "17:00")]
    }
