"""Health workers' API: service points, a point's day of appointments, attendance, and
the service records that indicators are computed from.

Nothing here shows a phone number or a name: an appointment is a contact id and a
language (DESIGN.md, "Privacy by design").
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from enum import StrEnum

from fastapi import APIRouter, Depends, Query
from sqlalchemy import String, cast, func

from outreach.api.guard import JsonRoute
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.api.deps import Provided, SessionDep, UnitDep
from outreach.api.errors import errors
from outreach.api.params import Id, IsoDate, Offset, query_id, query_text
from outreach.users.auth import require
from outreach.appointments.models import Appointment, ServicePoint, ServiceRecord
from outreach.appointments.schemas import (
    AppointmentPublic,
    AttendanceIn,
    ServicePointCreate,
    ServicePointPublic,
    ServicePointUpdate,
    ServiceRecordPublic,
)
from outreach.appointments.slots import day_bounds, local_date
from outreach.appointments.service import AppointmentService
from outreach.appointments.views import Visit
from outreach.contacts.models import Contact
from outreach.errors import NotFound, OutreachError
from content import Library
from outreach.outbound.dispatcher import Dispatcher
from outreach.regions import Regions
from outreach.settings import Settings
from outreach.stats.suppression import Counts, suppress
from outreach.timeutil import Clock
from outreach.users.models import Role

router = APIRouter(prefix="/api/v1", tags=["appointments"], route_class=JsonRoute)

_staff = [Depends(require(Role.health_worker))]
_readers = [Depends(require(Role.health_worker, Role.coordinator))]


class InvalidServicePoint(OutreachError):
    """A point that refers to a city, district or service type the service does not know
    (the same shape as the app's request validation errors)."""

    status_code = 422
    code = "validation_error"


RegionsDep = Annotated[Regions, Provided(Regions)]
LibraryDep = Annotated[Library, Provided(Library)]
AppointmentsDep = Annotated[AppointmentService, Provided(AppointmentService)]
DispatcherDep = Annotated[Dispatcher, Provided(Dispatcher)]
ClockDep = Annotated[Clock, Provided(Clock)]
SettingsDep = Annotated[Settings, Provided(Settings)]


def _check_references(city_id: str, district_id: str, offered: list[str], regions: Regions,
                      library: Library) -> None:
    """What only the running service knows: its regions and its content packs."""
    problems: list[dict[str, str]] = []
    city = regions.city(city_id)
    if city is None:
        known = ", ".join(c.id for c in regions.cities)
        problems.append({"field": "body.city", "problem": f"unknown city {city_id!r} (known: {known})"})
    elif city.district(district_id) is None:
        known = ", ".join(d.id for d in city.districts)
        problems.append({"field": "body.district",
                         "problem": f"{city_id} has no district {district_id!r} (known: {known})"})
    known_types = {s.id for s in library.service_types}
    unknown = [s for s in offered if s not in known_types]
    if unknown:
        problems.append({"field": "body.services", "problem": "unknown service type {} (known: {})".format(
            ", ".join(repr(s) for s in unknown), ", ".join(sorted(known_types)))})
    if problems:
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise InvalidServicePoint(f"Invalid request: {summary}", problems=problems)


async def _get_point(session: AsyncSession, point_id: int) -> ServicePoint:
    point = await session.get(ServicePoint, point_id)
    if point is None:
        raise NotFound(f"No service point {point_id}.")
    return point


@router.post("/service-points", response_model=ServicePointPublic, status_code=201, dependencies=_staff)
async def create_point(body: ServicePointCreate, session: SessionDep, regions: RegionsDep,
                       library: LibraryDep) -> Any:
    """Add a service point: where people can book the services it offers."""
    _check_references(body.city, body.district, body.services, regions, library)
    point = ServicePoint.model_validate(body.model_dump(mode="json"))
    session.add(point)
    await session.flush()
    return point


@router.get("/service-points", response_model=list[ServicePointPublic], dependencies=_readers)
async def list_points(
    session: SessionDep,
    city: Annotated[str | None, query_text("Only points in this city (its id).")] = None,
    district: Annotated[str | None, query_text("Only points in this district (its id).")] = None,
    service: Annotated[str | None, query_text("Only points offering this service type.")] = None,
    active: bool | None = None,
) -> Any:
    """Service points, optionally narrowed by city, district, service type and status."""
    query = select(ServicePoint).order_by(col(ServicePoint.id))
    if city is not None:
        query = query.where(ServicePoint.city == city)
    if district is not None:
        query = query.where(ServicePoint.district == district)
    if active is not None:
        query = query.where(ServicePoint.active == active)
    points = (await session.exec(query)).all()
    # A JSON list is matched in Python: points are few, and JSON containment differs
    # between SQLite and PostgreSQL.
    return [p for p in points if service is None or service in p.services]


@router.get("/service-points/{point_id}", response_model=ServicePointPublic, dependencies=_readers)
async def get_point(point_id: Id, session: SessionDep) -> Any:
    return await _get_point(session, point_id)


@router.patch("/service-points/{point_id}", response_model=ServicePointPublic, dependencies=_staff)
async def update_point(
    point_id: Id, body: ServicePointUpdate, session: SessionDep, regions: RegionsDep,
    library: LibraryDep, clock: ClockDep,
) -> Any:
    """Change what is sent; deactivate with ``{"active": false}`` (points are never
    deleted: appointments and service records refer to them). Booked appointments keep
    their times even if the hours change."""
    point = await _get_point(session, point_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    _check_references(
        changes.get("city", point.city), changes.get("district", point.district),
        changes.get("services", point.services), regions, library,
    )
    for field, value in changes.items():
        setattr(point, field, value)
    point.updated_at = clock.now()
    session.add(point)
    await session.flush()
    await session.refresh(point)
    return point


def _public(
    appointment: Appointment | Visit, language: str | None, timezone: str, record_id: int | None
) -> AppointmentPublic:
    assert appointment.id is not None
    return AppointmentPublic(
        id=appointment.id, point_id=appointment.point_id, contact_id=appointment.contact_id,
        language=language, service_type=appointment.service_type,
        starts_at=appointment.starts_at,
        local_start=appointment.starts_at.astimezone(ZoneInfo(timezone)),
        status=appointment.status, confirmed_at=appointment.confirmed_at,
        service_record_id=record_id,
    )


@router.get(
    "/service-points/{point_id}/appointments",
    response_model=list[AppointmentPublic],
    dependencies=_staff,
)
async def point_appointments(
    point_id: Id,
    session: SessionDep,
    clock: ClockDep,
    day: Annotated[IsoDate | None, Query(description="A day at the point; today there by default.")] = None,
) -> list[AppointmentPublic]:
    """A point's appointments of one local day, in time order, with their status."""
    point = await _get_point(session, point_id)
    day = day or local_date(clock.now(), point.timezone)
    lo, hi = day_bounds(day, point.timezone)
    rows = (
        await session.exec(
            select(Appointment, Contact.language, ServiceRecord.id)
            .join(Contact, col(Contact.id) == Appointment.contact_id)
            .outerjoin(ServiceRecord, col(ServiceRecord.appointment_id) == Appointment.id)
            .where(Appointment.point_id == point_id, Appointment.starts_at >= lo,
                   Appointment.starts_at < hi)
            .order_by(col(Appointment.starts_at), col(Appointment.id))
        )
    ).all()
    return [_public(a, language, point.timezone, record) for a, language, record in rows]


@router.post(
    "/appointments/{appointment_id}/attendance",
    response_model=AppointmentPublic,
    dependencies=_staff,
    responses=errors(409),
)
async def record_attendance(
    appointment_id: Id, body: AttendanceIn, uow: UnitDep, appointments: AppointmentsDep,
    dispatcher: DispatcherDep, clock: ClockDep,
) -> AppointmentPublic:
    """Mark a booked appointment attended (writes its service record) or no_show (sends
    one offer to rebook), from its start time on. Pending reminders are withdrawn.
    Sending the same outcome again returns the same result; a different one is a 409."""
    # In the request's unit of work: the outbox rows commit with the status change.
    visit, record_id = await appointments.record_attendance(uow, appointment_id, body.outcome, clock.now())
    uow.after_commit(dispatcher.wake)
    return _public(visit, visit.language, visit.timezone, record_id)


class RecordsBy(StrEnum):
    service_type = "service_type"  # the service delivered
    city = "city"  # where it was delivered (the point's city)
    district = "district"  # the point's district (key: city/district)
    point = "point"  # the point's id


@router.get("/service-records/counts", response_model=Counts, dependencies=_readers)
async def count_records(
    session: SessionDep,
    settings: SettingsDep,
    group_by: Annotated[RecordsBy, Query(description="Split by this.")] = RecordsBy.service_type,
    from_: Annotated[IsoDate | None, Query(alias="from", description="First local date, inclusive.")] = None,
    to: Annotated[IsoDate | None, Query(description="Last local date, inclusive.")] = None,
    service_type: Annotated[str | None, query_text("Only this service type.")] = None,
) -> Counts:
    """Unique people who received a free service, by service type, city, district or point,
    with small cells withheld: what coordinators see of service records."""
    r, p = ServiceRecord.__table__.c, ServicePoint.__table__.c  # type: ignore[attr-defined]
    key: Any = {
        RecordsBy.service_type: r.service_type,
        RecordsBy.city: p.city,
        RecordsBy.district: p.city + "/" + p.district,
        RecordsBy.point: cast(p.id, String),
    }[group_by]
    people = func.count(func.distinct(r.contact_id))
    joined = ServiceRecord.__table__.join(ServicePoint.__table__, p.id == r.point_id)  # type: ignore[attr-defined]
    where = [c for c in (r.date >= from_ if from_ is not None else None,
                         r.date <= to if to is not None else None,
                         r.service_type == service_type if service_type is not None else None)
             if c is not None]
    rows = (await session.exec(  # type: ignore[call-overload]
        select(key, people).select_from(joined).where(*where).group_by(key))).all()
    # A person served twice, in two groups, is one person in the total.
    total = (await session.exec(select(people).select_from(joined).where(*where))).one()  # type: ignore[call-overload]
    return suppress(group_by.value, {str(k): int(n) for k, n in rows}, settings.suppress_below, total)


@router.get("/service-records", response_model=list[ServiceRecordPublic], dependencies=_staff)
async def list_records(
    session: SessionDep,
    from_: Annotated[IsoDate | None, Query(alias="from", description="First local date, inclusive.")] = None,
    to: Annotated[IsoDate | None, Query(description="Last local date, inclusive.")] = None,
    point_id: Annotated[int | None, query_id("Only services at this point.")] = None,
    service_type: Annotated[str | None, query_text("Only this service type.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> Any:
    """Services delivered, by local date: one row per person, service, point and day
    (contact ids, no names), for health workers; coordinators see ``/counts``."""
    query = select(ServiceRecord).order_by(col(ServiceRecord.date), col(ServiceRecord.id))
    if from_ is not None:
        query = query.where(ServiceRecord.date >= from_)
    if to is not None:
        query = query.where(ServiceRecord.date <= to)
    if point_id is not None:
        query = query.where(ServiceRecord.point_id == point_id)
    if service_type is not None:
        query = query.where(ServiceRecord.service_type == service_type)
    return (await session.exec(query.limit(limit).offset(offset))).all()
