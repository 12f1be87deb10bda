"""The appointments' statements and how their rows become ``Point`` and ``Visit``.

Compiled once per dialect (``outreach.db.raw.Statements``), run on the unit of work's
driver connection, rows read by column name. ``AppointmentService`` is the only user.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.sql import ClauseElement

from outreach.appointments.models import Appointment, ServicePoint, ServiceRecord
from outreach.appointments.views import AppointmentStatus, Point, Visit
from outreach.contacts.models import Contact
from outreach.db.raw import Row, Statements, json_value
from outreach.timeutil import from_driver

__all__ = ["APPOINTMENT_STATEMENTS", "BOOKED", "point_from", "slot_key", "visit_from"]

P = ServicePoint.__table__  # type: ignore[attr-defined]
A = Appointment.__table__  # type: ignore[attr-defined]
R = ServiceRecord.__table__  # type: ignore[attr-defined]
C = Contact.__table__  # type: ignore[attr-defined]
BOOKED = AppointmentStatus.booked.value


def _statements(dialect: str) -> dict[str, ClauseElement]:
    point = (P.c.id, P.c.name, P.c.address, P.c.city, P.c.district, P.c.timezone,
             P.c.opening_hours, P.c.services, P.c.slot_minutes, P.c.slot_capacity, P.c.active)
    visit = (A.c.id, A.c.contact_id, C.c.language, A.c.point_id, A.c.service_type, A.c.starts_at,
             A.c.status, A.c.confirmed_at, A.c.reschedules, P.c.name.label("point_name"),
             P.c.address.label("point_address"), P.c.timezone.label("timezone"))
    visits = select(*visit).join(P, P.c.id == A.c.point_id).join(C, C.c.id == A.c.contact_id)
    now = bindparam("now", type_=A.c.updated_at.type)
    mine = (A.c.id == bindparam("aid"), A.c.contact_id == bindparam("cid"), A.c.status == BOOKED,
            A.c.starts_at > bindparam("now", type_=A.c.starts_at.type))
    return {
        "points": select(*point).where(P.c.active.is_(True)).order_by(P.c.id),
        "point": select(*point).where(P.c.id == bindparam("pid")),
        "booked_counts": select(A.c.starts_at, func.count(A.c.id).label("n"))
        .where(A.c.point_id == bindparam("pid"), A.c.status == BOOKED,
               A.c.starts_at > bindparam("lo"), A.c.starts_at < bindparam("hi"))
        .group_by(A.c.starts_at),
        "booked_at": select(func.count(A.c.id).label("n"))
        .where(A.c.point_id == bindparam("pid"), A.c.starts_at == bindparam("starts_at"),
               A.c.status == BOOKED),
        "insert": insert(A).values({c: bindparam(c) for c in (
            "contact_id", "point_id", "service_type", "starts_at", "status", "reschedules",
            "created_at", "updated_at")}).returning(A.c.id),
        "visit": visits.where(A.c.id == bindparam("aid")),
        "upcoming": visits.where(A.c.contact_id == bindparam("cid"), A.c.status == BOOKED,
                                 A.c.starts_at > bindparam("now"))
        .order_by(A.c.starts_at, A.c.id),
        # A confirmation was for the old time: the person confirms the new one afresh.
        "move": update(A).where(*mine).values(
            starts_at=bindparam("new_starts_at", type_=A.c.starts_at.type),
            reschedules=A.c.reschedules + 1, confirmed_at=None, updated_at=now),
        "cancel": update(A).where(*mine).values(status=AppointmentStatus.cancelled.value,
                                                updated_at=now),
        "confirm": update(A).where(*mine).values(
            confirmed_at=func.coalesce(A.c.confirmed_at, now), updated_at=now),
        "mark": update(A).where(A.c.id == bindparam("aid"), A.c.status == BOOKED)
        .values(status=bindparam("status"), updated_at=now),
        "record": insert(R).values({c: bindparam(c) for c in (
            "contact_id", "service_type", "point_id", "date", "appointment_id", "created_at")})
        .returning(R.c.id),
        "record_of": select(R.c.id).where(R.c.appointment_id == bindparam("aid")),
    }


APPOINTMENT_STATEMENTS = Statements(_statements)


def point_from(row: Row) -> Point:
    hours = json_value(row["opening_hours"]) or {}
    return Point(
        id=int(row["id"]), name=json_value(row["name"]), address=json_value(row["address"]),
        city=row["city"], district=row["district"], timezone=row["timezone"],
        opening_hours={day: [(s, e) for s, e in ranges] for day, ranges in hours.items()},
        services=tuple(json_value(row["services"]) or ()), slot_minutes=int(row["slot_minutes"]),
        slot_capacity=int(row["slot_capacity"]), active=bool(row["active"]),
    )


def visit_from(row: Row) -> Visit:
    confirmed = row["confirmed_at"]
    return Visit(
        id=int(row["id"]), contact_id=int(row["contact_id"]), language=row["language"],
        point_id=int(row["point_id"]), service_type=row["service_type"],
        starts_at=from_driver(row["starts_at"]), status=AppointmentStatus(row["status"]),
        confirmed_at=from_driver(confirmed) if confirmed is not None else None,
        reschedules=int(row["reschedules"]), point_name=json_value(row["point_name"]),
        point_address=json_value(row["point_address"]), timezone=row["timezone"],
    )


def slot_key(point_id: int, starts_at: datetime) -> str:
    """What serialises the bookings of one slot (the same in every process)."""
    return f"slot:{point_id}:{starts_at.astimezone(UTC).isoformat()}"
