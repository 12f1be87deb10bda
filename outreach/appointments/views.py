"""Service points and appointments as the bot and the messages read them: frozen
dataclasses and an enum, no ORM, so the pure bot engine can take them. The repository
builds them from rows; the tables are in ``models``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

Localized = dict[str, str]
# {"mon": [["08:30", "11:30"], ["14:00", "17:00"]], ...}; a missing day is closed.
OpeningHours = dict[str, list[tuple[str, str]]]


class AppointmentStatus(StrEnum):
    booked = "booked"  # a place is held; reminders are pending
    cancelled = "cancelled"  # the person cancelled it; the place is free again
    attended = "attended"  # the person came: a service record exists
    no_show = "no_show"  # the person did not come: they were offered to rebook



@dataclass(frozen=True)
class Point:
    """An active point as the bot offers it."""

    id: int
    name: Localized
    address: Localized
    city: str
    district: str
    timezone: str
    opening_hours: OpeningHours
    services: tuple[str, ...]
    slot_minutes: int
    slot_capacity: int
    active: bool


@dataclass(frozen=True)
class Visit:
    """One appointment with what a message about it says: which service, where, when."""

    id: int
    contact_id: int
    language: str | None
    point_id: int
    service_type: str
    starts_at: dt.datetime
    status: AppointmentStatus
    confirmed_at: dt.datetime | None
    reschedules: int
    point_name: Localized
    point_address: Localized
    timezone: str

    @property
    def topic(self) -> str:
        """The outbox topic of its reminders and follow-up."""
        return f"appointment:{self.id}"

    @property
    def local_start(self) -> dt.datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))
