"""The tables of service points, appointments and the service records attendance leaves
behind (the API's shapes are in schemas.py).

A service record is what the programme's indicators count (DESIGN.md, "Indicators"):
one free service delivered to one person at one point on one local date. Appointments
are how most records come about, but a record outlives the question of how it was made.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from outreach.appointments.views import AppointmentStatus, Localized
from outreach.timeutil import utcnow

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minutes(hhmm: str) -> int:
    """Minutes since midnight of an HH:MM time of day."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


# --- service points ---------------------------------------------------------------------


class ServicePointFields(SQLModel):
    """The plain columns of a point (the JSON ones are declared per class below)."""

    city: str = Field(max_length=64)
    district: str = Field(max_length=64)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    slot_minutes: int = Field(default=30, ge=5, le=240)
    slot_capacity: int = Field(ge=1, le=1000)
    active: bool = True


class ServicePoint(ServicePointFields, table=True):
    __tablename__ = "service_point"

    id: int | None = Field(default=None, primary_key=True)
    name: Localized = Field(sa_column=Column(JSON, nullable=False))
    address: Localized = Field(sa_column=Column(JSON, nullable=False))
    opening_hours: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Service type ids from the content packs.
    services: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


# --- appointments -----------------------------------------------------------------------


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    # The day's list of a point and the count of a slot's booked places.
    __table_args__ = (Index("ix_appointment_point_starts", "point_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    point_id: int = Field(foreign_key="service_point.id")
    service_type: str = Field(max_length=64)
    starts_at: dt.datetime
    status: AppointmentStatus = Field(default=AppointmentStatus.booked, sa_type=String(16))
    # When the person answered CONFIRM to a reminder.
    confirmed_at: dt.datetime | None = None
    # How often it was moved; part of reminder keys, so moving back to an earlier time
    # schedules fresh reminders instead of colliding with the withdrawn ones.
    reschedules: int = 0
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


# --- service records --------------------------------------------------------------------


class ServiceRecord(SQLModel, table=True):
    """One free service delivered: the raw material of the programme's indicators."""

    __tablename__ = "service_record"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    service_type: str = Field(max_length=64)
    point_id: int = Field(foreign_key="service_point.id")
    # The local date at the point (indicators are per day in the city, not per UTC day).
    date: dt.date = Field(index=True)
    appointment_id: int | None = Field(
        default=None, foreign_key="appointment.id", unique=True, ondelete="SET NULL"
    )
    created_at: dt.datetime = Field(default_factory=utcnow)
