"""A point's slot grid: the instants a visit may start, from its opening hours.

Opening hours are wall-clock times at the point; appointments are stored as UTC
instants. The two meet here, and only here. On a day the clocks change, a wall time
that does not exist (spring forward) has no slot, and one that happens twice (fall
back) means its first occurrence (``fold=0``), so every slot is exactly one instant.
Pure: no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.tz import datetime_exists

from outreach.appointments.models import WEEKDAYS, minutes

Hours = Mapping[str, Sequence[Sequence[str]]]


def resolve(day: date, minute_of_day: int, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall time at the point, or None if the clocks skip it.

    A wall time that happens twice is its first occurrence (``fold=0``, the default).
    One in a gap is deliberately no slot, not ``dateutil.tz.resolve_imaginary``'s answer:
    that moves it on by the gap's length, off the grid. New York, Sunday 8 March 2026,
    open 01:00-04:00 in 45-minute slots: 01:00 and 01:45 EST, then 03:15 EDT; 02:30 does
    not exist, and resolved it would be a 03:30 EDT slot that overlaps the 03:15 one and
    ends after closing."""
    wall = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=zone)
    if not datetime_exists(wall):
        return None
    return wall.astimezone(UTC)


def day_slots(hours: Hours, timezone: str, slot_minutes: int, day: date) -> list[datetime]:
    """The slot starts of one local day, in order (aware UTC). A slot fits wholly inside
    one opening range, counted in wall-clock minutes."""
    zone = ZoneInfo(timezone)
    out: list[datetime] = []
    for start, end in hours.get(WEEKDAYS[day.weekday()], ()):
        m, last = minutes(start), minutes(end) - slot_minutes
        while m <= last:
            instant = resolve(day, m, zone)
            if instant is not None:
                out.append(instant)
            m += slot_minutes
    return sorted(set(out))


def upcoming_slots(
    hours: Hours, timezone: str, slot_minutes: int, now: datetime, days: int
) -> list[datetime]:
    """Slots that start after ``now`` and before ``now + days``, in order."""
    until = now + timedelta(days=days)
    zone = ZoneInfo(timezone)
    first, last = now.astimezone(zone).date(), until.astimezone(zone).date()
    out: list[datetime] = []
    day = first
    while day <= last:
        out += [s for s in day_slots(hours, timezone, slot_minutes, day) if now < s < until]
        day += timedelta(days=1)
    return out


def is_slot(hours: Hours, timezone: str, slot_minutes: int, starts_at: datetime) -> bool:
    """Whether ``starts_at`` is one of the point's slot starts."""
    day = starts_at.astimezone(ZoneInfo(timezone)).date()
    return starts_at.astimezone(UTC) in day_slots(hours, timezone, slot_minutes, day)


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where a local day begins and the next one begins."""
    zone = ZoneInfo(timezone)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)

    return midnight(day), midnight(day + timedelta(days=1))


def local_date(instant: datetime, timezone: str) -> date:
    return instant.astimezone(ZoneInfo(timezone)).date()
