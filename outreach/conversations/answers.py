"""The registry that answers the engine's typed requests (``bot.requests``), in the turn's
own transaction.

Each request type has one handler, registered by the domain that owns the answer; the
conversation service looks the handler up by the request's type. A request nobody
answers is a bug, reported as one (a ``LookupError`` naming the type), not a silent
``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot import ContactView
from bot.requests import (
    AppointmentOf,
    Book,
    Cancel,
    ClaimLinkCode,
    Confirm,
    FreePlaces,
    PhoneOptedOut,
    PointsOffering,
    Request,
    Reschedule,
    UpcomingAppointments,
)
from outreach.appointments.service import AppointmentService
from outreach.db.raw import Raw

T = TypeVar("T")
R = TypeVar("R", bound=Request[Any])


@dataclass(frozen=True)
class Asker:
    """Who asks, in which turn: the contact as it was before the turn, and the turn's time."""

    contact_id: int
    contact: ContactView
    now: datetime


Handler = Callable[[Raw, Asker, Any], Awaitable[Any]]


class Answers:
    def __init__(self) -> None:
        self._handlers: dict[type[Request[Any]], Handler] = {}

    def register(self, kind: type[R], handler: Callable[[Raw, Asker, R], Awaitable[Any]]) -> None:
        if kind in self._handlers:
            raise ValueError(f"{kind.__name__} already has a handler")
        self._handlers[kind] = handler

    async def answer(self, raw: Raw, asker: Asker, request: Request[T]) -> T:
        handler = self._handlers.get(type(request))
        if handler is None:
            raise LookupError(f"no handler answers {type(request).__name__}")
        answer: T = await handler(raw, asker, request)
        return answer


def register_contacts(
    answers: Answers,
    find: Callable[[Raw, str, str], Awaitable[Any]],
    claim: Callable[[Raw, int, str, datetime], Awaitable[datetime | None]],
) -> None:
    """The conversation's own lookups and commands; ``find(raw, scheme, path)`` reads a
    contact, ``claim(raw, contact_id, phone, now)`` counts a phone-link code under the
    limits (None when it may go, else when to try again)."""

    async def phone_opted_out(raw: Raw, asker: Asker, request: PhoneOptedOut) -> bool:
        row = await find(raw, "tel", request.phone)
        return bool(row["opted_out"]) if row is not None else False

    async def claim_link_code(raw: Raw, asker: Asker, request: ClaimLinkCode) -> datetime | None:
        return await claim(raw, asker.contact_id, request.phone, asker.now)

    answers.register(PhoneOptedOut, phone_opted_out)
    answers.register(ClaimLinkCode, claim_link_code)


def register_appointments(answers: Answers, appointments: AppointmentService) -> None:
    """Booking: points, free places, the person's appointments, and the commands, each
    under the appointment rules (the slot's lock, the person's own appointments only)."""

    async def points(raw: Raw, asker: Asker, request: PointsOffering) -> Any:
        return await appointments.points_for(raw, request.service, city=asker.contact.city,
                                      district=asker.contact.district)

    async def free_places(raw: Raw, asker: Asker, request: FreePlaces) -> Any:
        point = await appointments.point(raw, request.point_id)
        return None if point is None else await appointments.free_places(raw, point, asker.now)

    async def upcoming(raw: Raw, asker: Asker, request: UpcomingAppointments) -> Any:
        return await appointments.upcoming(raw, asker.contact_id, asker.now)

    async def appointment(raw: Raw, asker: Asker, request: AppointmentOf) -> Any:
        visit = await appointments.visit(raw, request.appointment_id)
        return visit if visit is not None and visit.contact_id == asker.contact_id else None

    async def book(raw: Raw, asker: Asker, request: Book) -> Any:
        return await appointments.book(raw, asker.contact_id, request.point_id, request.service,
                                request.start, asker.now)

    async def reschedule(raw: Raw, asker: Asker, request: Reschedule) -> Any:
        return await appointments.reschedule(raw, request.appointment_id, asker.contact_id,
                                      request.start, asker.now)

    async def cancel(raw: Raw, asker: Asker, request: Cancel) -> Any:
        return await appointments.cancel(raw, request.appointment_id, asker.contact_id, asker.now)

    async def confirm(raw: Raw, asker: Asker, request: Confirm) -> Any:
        return await appointments.confirm(raw, request.appointment_id, asker.contact_id, asker.now)

    answers.register(PointsOffering, points)
    answers.register(FreePlaces, free_places)
    answers.register(UpcomingAppointments, upcoming)
    answers.register(AppointmentOf, appointment)
    answers.register(Book, book)
    answers.register(Reschedule, reschedule)
    answers.register(Cancel, cancel)
    answers.register(Confirm, confirm)
