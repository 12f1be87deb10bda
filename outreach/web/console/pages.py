"""What the console's pages show: the knowledge indicator card (aggregates only: no
phone number, name or message text ever reaches a coordinator's page) and the service
points with today's appointments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.appointments.models import Appointment, ServicePoint
from outreach.appointments.slots import day_bounds, local_date
from outreach.appointments.views import AppointmentStatus
from outreach.settings import Settings
from outreach.stats.service import Cell, knowledge_report


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class CellView:
    n: int | None  # None when suppressed: a hidden group's n would give it away too
    knowers: int | None
    rate: str
    ci: str
    suppressed: bool
    meets_target: bool | None


def _cell(cell: Cell, target: float) -> CellView:
    ci = "" if cell.suppressed else f"{percent(cell.ci_low)} – {percent(cell.ci_high)}"
    return CellView(
        n=cell.n, knowers=cell.knowers, rate=percent(cell.rate), ci=ci, suppressed=cell.suppressed,
        meets_target=None if cell.rate is None else cell.rate >= target,
    )


@dataclass(frozen=True)
class KnowledgeCard:
    target: str
    pass_mark: str
    retake_days: int
    suppress_below: int
    first: CellView
    latest: CellView


async def knowledge_card(session: AsyncSession, settings: Settings) -> KnowledgeCard:
    report = await knowledge_report(session, settings, None)
    return KnowledgeCard(
        target=percent(report.target).replace(".0%", "%"),
        pass_mark=percent(report.pass_mark).replace(".0%", "%"),
        retake_days=report.retake_days,
        suppress_below=settings.suppress_below,
        first=_cell(report.first.overall, report.target),
        latest=_cell(report.latest.overall, report.target),
    )


@dataclass(frozen=True)
class PointToday:
    id: int
    name: str
    address: str
    city: str
    district: str
    today: str  # the point's local date
    appointments: int  # booked, attended or missed today (not cancelled)


def _localized(value: dict[str, str], locale: str) -> str:
    return value.get(locale) or value.get("en") or next(iter(value.values()), "")


async def points_today(session: AsyncSession, now: datetime, locale: str) -> list[PointToday]:
    """Every active point (no user is tied to points yet: every health worker sees all)
    with the number of appointments on its local today."""
    points = (
        await session.exec(select(ServicePoint).where(col(ServicePoint.active).is_(True)).order_by(col(ServicePoint.id)))
    ).all()
    out = []
    for point in points:
        day = local_date(now, point.timezone)
        start, end = day_bounds(day, point.timezone)
        count = (
            await session.exec(
                select(func.count()).select_from(Appointment).where(
                    Appointment.point_id == point.id,
                    col(Appointment.starts_at) >= start,
                    col(Appointment.starts_at) < end,
                    Appointment.status != AppointmentStatus.cancelled,
                )
            )
        ).one()
        assert point.id is not None
        out.append(PointToday(
            id=point.id, name=_localized(point.name, locale), address=_localized(point.address, locale),
            city=point.city, district=point.district, today=day.isoformat(), appointments=int(count),
        ))
    return out
