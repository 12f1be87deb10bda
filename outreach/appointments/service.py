"""Appointments: the rules of booking, moving, cancelling and attendance.

The statements are in ``repository`` (run on the unit of work's driver connection).

The bot books, moves and cancels inside a conversation turn, in the turn's own
transaction; health workers record attendance in a writer transaction of their own.
Both go through here, so reminders and follow-ups are scheduled in the same
transaction as the change that causes them: no booking without its reminders, no
reminder left pending for a cancelled visit.

Booking the last free place is race-safe: a booking first takes a lock on its slot
(a transaction-scoped advisory lock on PostgreSQL; SQLite has a single writer, so
transactions are serialised already), then counts and inserts. Under READ COMMITTED
each statement sees what committed before it began, and the lock is released only
after the previous holder's commit is visible, so the count is never stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Dialect

from content import Library
from outreach.appointments import texts
from outreach.appointments.slots import is_slot, local_date, upcoming_slots
from outreach.appointments.views import AppointmentStatus, Point, Visit
from outreach.appointments.repository import (
    APPOINTMENT_STATEMENTS,
    BOOKED,
    point_from,
    slot_key,
    visit_from,
)
from outreach.db.raw import Prepared, Raw
from outreach.errors import Conflict, NotFound
from outreach.i18n import negotiate, translator
from outreach.outbound.models import Purpose
from outreach.outbound.enqueue import Enqueuer
from outreach.timeutil import from_driver

DEFAULT_REMINDER_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
HORIZON_DAYS = 14
# How long the offer to rebook after a missed visit stays worth sending.
FOLLOW_UP_TTL = timedelta(days=7)

def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("appointment times must be aware datetimes")
    return value.astimezone(UTC)


class AppointmentService:
    """Booking, moving, cancelling and attendance, each inside the caller's transaction
    (``raw``); reminders and follow-ups are scheduled through ``enqueuer`` in it too."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        enqueuer: Enqueuer,
        library: Library,
        locales_dir: Path,
        default_locale: str = "zh_Hans",
        reminder_offsets: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS,
        horizon_days: int = HORIZON_DAYS,
    ) -> None:
        self.sql: dict[str, Prepared] = APPOINTMENT_STATEMENTS.for_dialect(dialect)
        self.enqueuer = enqueuer
        self.library = library
        self.locales_dir = locales_dir
        self.default_locale = default_locale
        self.reminder_offsets = tuple(reminder_offsets)
        self.horizon_days = horizon_days

    # --- points and places ---------------------------------------------------------------

    async def points_for(
        self, raw: Raw, service_type: str, *, city: str | None = None, district: str | None = None
    ) -> list[Point]:
        """Active points offering ``service_type`` (in ``city`` if given), the ones in
        ``district`` first."""
        points = [point_from(r) for r in await raw.rows(self.sql["points"], {})]
        points = [p for p in points if service_type in p.services and city in (None, p.city)]
        return sorted(points, key=lambda p: p.district != district)

    async def point(self, raw: Raw, point_id: int) -> Point | None:
        row = await raw.row(self.sql["point"], {"pid": point_id})
        return point_from(row) if row is not None else None

    async def free_places(
        self, raw: Raw, point: Point, now: datetime, days: int | None = None
    ) -> dict[datetime, int]:
        """Slots from now on (within ``days``, the booking horizon by default) that have a
        free place: {slot start (UTC): free places}, in order."""
        days = min(days or self.horizon_days, self.horizon_days)
        now = _aware(now)
        slots = upcoming_slots(point.opening_hours, point.timezone, point.slot_minutes, now, days)
        if not slots:
            return {}
        rows = await raw.rows(self.sql["booked_counts"], {
            "pid": point.id, "lo": now, "hi": now + timedelta(days=days)})
        taken = {from_driver(r["starts_at"]): int(r["n"]) for r in rows}
        free = {s: point.slot_capacity - taken.get(s, 0) for s in slots}
        return {s: n for s, n in free.items() if n > 0}

    def _bookable(self, point: Point, service_type: str, starts_at: datetime, now: datetime) -> bool:
        return (
            point.active
            and service_type in point.services
            and now < starts_at < now + timedelta(days=self.horizon_days)
            and is_slot(point.opening_hours, point.timezone, point.slot_minutes, starts_at)
        )

    async def _has_place(self, raw: Raw, point: Point, starts_at: datetime) -> bool:
        """Locks the slot for the rest of the transaction, then counts its bookings."""
        await raw.lock(slot_key(point.id, starts_at))
        row = await raw.row(self.sql["booked_at"], {"pid": point.id, "starts_at": starts_at})
        return row is not None and int(row["n"]) < point.slot_capacity

    # --- the person's side ---------------------------------------------------------------

    async def book(
        self, raw: Raw, contact_id: int, point_id: int, service_type: str, starts_at: datetime,
        now: datetime,
    ) -> int | None:
        """Book a place and schedule its reminders; the appointment's id, or None when the
        slot is full, is not a slot of that point, has begun or lies beyond the horizon,
        or the point (no longer) offers the service."""
        starts_at, now = _aware(starts_at), _aware(now)
        point = await self.point(raw, point_id)
        if point is None or not self._bookable(point, service_type, starts_at, now):
            return None
        if not await self._has_place(raw, point, starts_at):
            return None
        row = await raw.row(self.sql["insert"], {
            "contact_id": contact_id, "point_id": point_id, "service_type": service_type,
            "starts_at": starts_at, "status": BOOKED, "reschedules": 0, "created_at": now,
            "updated_at": now})
        assert row is not None
        appointment_id = int(row["id"])
        await self.schedule_reminders(raw, appointment_id, now)
        return appointment_id

    async def reschedule(
        self, raw: Raw, appointment_id: int, contact_id: int, new_starts_at: datetime, now: datetime
    ) -> bool:
        """Move the contact's own booked, not yet begun appointment to another slot of the
        same point (which needs a free place); its reminders follow it."""
        new_starts_at, now = _aware(new_starts_at), _aware(now)
        visit = await self.visit(raw, appointment_id)
        if (visit is None or visit.contact_id != contact_id
                or visit.status != AppointmentStatus.booked or visit.starts_at <= now):
            return False
        if new_starts_at == visit.starts_at:
            return True
        point = await self.point(raw, visit.point_id)
        if point is None or not self._bookable(point, visit.service_type, new_starts_at, now):
            return False
        if not await self._has_place(raw, point, new_starts_at):
            return False
        moved = await raw.count(self.sql["move"], {
            "aid": appointment_id, "cid": contact_id, "now": now, "new_starts_at": new_starts_at})
        if not moved:
            return False
        await self.clear_reminders(raw, appointment_id, "rescheduled")
        await self.schedule_reminders(raw, appointment_id, now)
        return True

    async def cancel(self, raw: Raw, appointment_id: int, contact_id: int, now: datetime) -> bool:
        """Cancel the contact's own booked, not yet begun appointment; its place is free
        again and its reminders are withdrawn."""
        done = await raw.count(self.sql["cancel"], {
            "aid": appointment_id, "cid": contact_id, "now": _aware(now)})
        if done:
            await self.clear_reminders(raw, appointment_id, "cancelled")
        return bool(done)

    async def confirm(self, raw: Raw, appointment_id: int, contact_id: int, now: datetime) -> bool:
        """The person said they will come (the first confirmation's time is kept)."""
        done = await raw.count(self.sql["confirm"], {
            "aid": appointment_id, "cid": contact_id, "now": _aware(now)})
        return bool(done)

    async def upcoming(self, raw: Raw, contact_id: int, now: datetime) -> list[Visit]:
        """The contact's booked appointments that have not begun, soonest first."""
        rows = await raw.rows(self.sql["upcoming"], {"cid": contact_id, "now": _aware(now)})
        return [visit_from(r) for r in rows]

    async def visit(self, raw: Raw, appointment_id: int) -> Visit | None:
        row = await raw.row(self.sql["visit"], {"aid": appointment_id})
        return visit_from(row) if row is not None else None

    # --- reminders -----------------------------------------------------------------------

    def _locale(self, visit: Visit) -> str:
        return negotiate(visit.language, self.default_locale)

    async def schedule_reminders(self, raw: Raw, appointment_id: int, now: datetime) -> list[int]:
        """One reminder per offset before the start, in the contact's language; offsets
        whose time has passed are skipped, and each expires when the visit begins (a
        reminder that could not go out in time is never sent late). The new outbox ids."""
        visit = await self.visit(raw, appointment_id)
        if visit is None or visit.status != AppointmentStatus.booked:
            return []
        tr = translator(self._locale(visit), self.locales_dir)
        body = texts.reminder_text(tr, self.library, visit)
        choices = texts.reminder_choices(tr, visit)
        ids: list[int] = []
        for offset in self.reminder_offsets:
            due = visit.starts_at - offset
            if due <= now:
                continue
            minutes = int(offset.total_seconds() // 60)
            new = await self.enqueuer.enqueue(
                raw,
                key=f"appointment:{visit.id}:{visit.reschedules}:{visit.starts_at.isoformat()}"
                f":remind:{minutes}",
                contact_id=visit.contact_id, purpose=Purpose.reminder, body=body, due_at=due,
                expires_at=visit.starts_at, topic=visit.topic, choices=choices,
            )
            if new is not None:
                ids.append(new)
        return ids

    async def clear_reminders(self, raw: Raw, appointment_id: int, reason: str) -> int:
        """Withdraw whatever is still waiting to go out about the appointment."""
        return await self.enqueuer.withdraw(raw, f"appointment:{appointment_id}", reason)

    # --- the health worker's side --------------------------------------------------------

    async def record_attendance(
        self, raw: Raw, appointment_id: int, outcome: AppointmentStatus, now: datetime
    ) -> tuple[Visit, int | None]:
        """Mark a booked appointment attended or missed, once it has begun. Attended
        writes its service record; missed schedules one offer to rebook. Either way its
        pending reminders are withdrawn. Repeating the same outcome changes nothing.
        Returns the appointment and its service record's id (if attended)."""
        if outcome not in (AppointmentStatus.attended, AppointmentStatus.no_show):
            raise ValueError(f"not an attendance outcome: {outcome}")
        now = _aware(now)
        visit = await self.visit(raw, appointment_id)
        if visit is None:
            raise NotFound(f"No appointment {appointment_id}.")
        if visit.status == AppointmentStatus.booked and now < visit.starts_at:
            raise Conflict(
                f"Appointment {appointment_id} starts at {visit.local_start.isoformat()}; "
                "attendance can be recorded once it has begun."
            )
        changed = visit.status == AppointmentStatus.booked and await raw.count(
            self.sql["mark"], {"aid": appointment_id, "status": outcome.value, "now": now})
        if changed:
            await self.clear_reminders(raw, appointment_id, outcome.value)
            visit = await self.visit(raw, appointment_id)
            assert visit is not None
            if outcome == AppointmentStatus.attended:
                await raw.row(self.sql["record"], {
                    "contact_id": visit.contact_id, "service_type": visit.service_type,
                    "point_id": visit.point_id, "date": local_date(visit.starts_at, visit.timezone),
                    "appointment_id": visit.id, "created_at": now})
            else:
                await self._offer_rebooking(raw, visit, now)
        else:
            # Already marked, here or by a concurrent request that just committed.
            visit = await self.visit(raw, appointment_id)
            assert visit is not None
            if visit.status != outcome:
                raise Conflict(
                    f"Appointment {appointment_id} is {visit.status.value}; only a booked "
                    f"appointment can be marked {outcome.value}."
                )
        record = await raw.row(self.sql["record_of"], {"aid": appointment_id})
        return visit, int(record[0]) if record is not None else None

    async def _offer_rebooking(self, raw: Raw, visit: Visit, now: datetime) -> int | None:
        tr = translator(self._locale(visit), self.locales_dir)
        return await self.enqueuer.enqueue(
            raw, key=f"appointment:{visit.id}:no_show", contact_id=visit.contact_id,
            purpose=Purpose.follow_up, body=texts.no_show_text(tr, self.library, visit),
            due_at=now, expires_at=now + FOLLOW_UP_TTL, topic=visit.topic,
            choices=texts.no_show_choices(tr, visit),
        )
