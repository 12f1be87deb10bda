"""What the appointments API reads and answers: the request and response shapes of
service points, appointments and service records, and the checks they share. The tables
are in models.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import StringConstraints, field_validator
from sqlmodel import Field, SQLModel

from outreach.appointments.models import WEEKDAYS, ServicePointFields, minutes
from outreach.appointments.views import AppointmentStatus, Localized, OpeningHours

# Every point is named in these locales: they are the ones the bot speaks.
REQUIRED_LOCALES: tuple[str, ...] = ("zh_Hans", "en")

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# What a request may send: every text and list bounded (the API's inputs all are).
_Locale = Annotated[str, StringConstraints(min_length=1, max_length=16)]
_Text = Annotated[str, StringConstraints(max_length=200)]
_HourText = Annotated[str, StringConstraints(max_length=5)]
_ServiceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LocalizedIn = Annotated[dict[_Locale, _Text], Field(max_length=16)]
OpeningHoursIn = Annotated[
    dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], Annotated[list[tuple[_HourText, _HourText]], Field(max_length=12)]],
    Field(max_length=7),
]
ServicesIn = Annotated[list[_ServiceId], Field(max_length=32)]
assert set(OpeningHoursIn.__origin__.__args__[0].__args__) == set(WEEKDAYS)  # type: ignore[attr-defined]


# --- validation shared by the create and update schemas -------------------------------


def check_localized(value: Localized) -> Localized:
    missing = [loc for loc in REQUIRED_LOCALES if not (value.get(loc) or "").strip()]
    if missing:
        raise ValueError(
            "needs text in {} (missing: {})".format(", ".join(REQUIRED_LOCALES), ", ".join(missing))
        )
    return {loc: text.strip() for loc, text in value.items()}


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai") from None
    return value


def check_hours(value: dict[str, list[tuple[str, str]]]) -> OpeningHours:
    """Days are mon..sun; each day's ranges are HH:MM pairs, start before end, sorted and
    not overlapping (one range may end where the next begins)."""
    out: OpeningHours = {}
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown day {day!r}: use {', '.join(WEEKDAYS)}")
        for start, end in ranges:
            for t in (start, end):
                if not _HHMM.match(t):
                    raise ValueError(f"{day}: {t!r} is not a time of day as HH:MM (00:00 to 23:59)")
            if minutes(start) >= minutes(end):
                raise ValueError(f"{day}: {start}-{end} ends before it starts")
        ordered = sorted(ranges, key=lambda r: minutes(r[0]))
        for (s1, e1), (s2, e2) in zip(ordered, ordered[1:]):
            if minutes(s2) < minutes(e1):
                raise ValueError(f"{day}: {s1}-{e1} overlaps {s2}-{e2}")
        out[day] = [(s, e) for s, e in ordered]
    return out


def check_services(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("a point offers at least one service type")
    if len(set(value)) != len(value):
        raise ValueError("a service type is listed twice")
    return value


# --- service points ---------------------------------------------------------------------


class ServicePointCreate(ServicePointFields):
    name: LocalizedIn
    address: LocalizedIn
    opening_hours: OpeningHoursIn
    services: ServicesIn

    @field_validator("name", "address")
    @classmethod
    def _localized(cls, v: Localized) -> Localized:
        return check_localized(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, v: OpeningHours) -> OpeningHours:
        return check_hours(v)

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        return check_services(v)


class ServicePointUpdate(SQLModel):
    """A partial update: only the fields sent change; none of them may be null (the
    types say so, and the schema with them: leave a field out to keep it)."""

    name: LocalizedIn = Field(default=None)
    address: LocalizedIn = Field(default=None)
    city: str = Field(default=None, max_length=64)
    district: str = Field(default=None, max_length=64)
    timezone: str = Field(default=None, max_length=64)
    opening_hours: OpeningHoursIn = Field(default=None)
    services: ServicesIn = Field(default=None)
    slot_minutes: int = Field(default=None, ge=5, le=240)
    slot_capacity: int = Field(default=None, ge=1, le=1000)
    active: bool = Field(default=None)

    @field_validator("name", "address")
    @classmethod
    def _localized(cls, v: Localized | None) -> Localized | None:
        return None if v is None else check_localized(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, v: OpeningHours | None) -> OpeningHours | None:
        return None if v is None else check_hours(v)

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else check_services(v)



class ServicePointPublic(ServicePointFields):
    id: int
    name: Localized
    address: Localized
    opening_hours: OpeningHours
    services: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


# --- appointments -----------------------------------------------------------------------


class AppointmentPublic(SQLModel):
    """An appointment as health workers see it: no phone number, no name."""

    id: int
    point_id: int
    contact_id: int
    language: str | None
    service_type: str
    starts_at: dt.datetime
    # The same instant on the point's clock.
    local_start: dt.datetime
    status: AppointmentStatus
    confirmed_at: dt.datetime | None
    service_record_id: int | None = None


class AttendanceIn(SQLModel):
    outcome: Literal[AppointmentStatus.attended, AppointmentStatus.no_show]


# --- service records --------------------------------------------------------------------


class ServiceRecordPublic(SQLModel):
    id: int
    contact_id: int
    service_type: str
    point_id: int
    date: dt.date
    appointment_id: int | None
    created_at: dt.datetime
