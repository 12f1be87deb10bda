"""What the engine asks the service for in the middle of a turn, as typed requests.

A step that needs to read the database (the service points offering a service, the free
places at a point, the person's appointments) or to change it (book, reschedule, cancel,
confirm) does not do so itself: it calls ``ctx.ask(request)``. The first time, that
raises ``NeedAnswer``; the service answers the request in the turn's own transaction
(``outreach.conversations.answers``) and runs the turn again from the start, with every
answer so far. So a booking and the reply that says it succeeded commit together, and
"booked" is only said about a place that was free under the slot's lock.

The replay rule, which every step must keep:

- A run that raises ``NeedAnswer`` is thrown away whole: its replies, events and changes
  to the contact and dialog state are never seen. Only the answers are kept.
- The next run gets the same contact, state, text, clock and random draws (the service
  seeds a fresh random source with the same seed for every run), so it takes the same
  path up to the request and finds the answer waiting.
- Each distinct request is answered once per turn, so a command (``Book``, ``Cancel`` …)
  is carried out at most once however often the turn is replayed; asking for it again
  with the same fields returns the first answer.
- Before a request is answered a step may do only what the replay repeats: pure
  computation over its inputs. Anything with an effect outside the turn goes through a
  request or an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from outreach.appointments.views import Point, Visit

T = TypeVar("T")


class Request(Generic[T]):
    """A lookup or a command whose answer is a ``T``. Subclasses are frozen dataclasses:
    equal requests are one request (the answer is looked up by value)."""

    __slots__ = ()


class NeedAnswer(Exception):  # noqa: N818 - a request, not an error
    """Raised by ``ctx.ask`` for a request the service has not answered yet this turn."""

    def __init__(self, request: Request[Any]) -> None:
        super().__init__(request)
        self.request = request


# --- lookups --------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsOffering(Request[list[Point]]):
    """The active points offering ``service``: the person's district first, in their city
    only if it is known."""

    service: str


@dataclass(frozen=True)
class FreePlaces(Request["dict[datetime, int] | None"]):
    """Free places per slot start (UTC) at a point over the booking horizon; None if the
    point is not active."""

    point_id: int


@dataclass(frozen=True)
class UpcomingAppointments(Request[list[Visit]]):
    """The person's booked appointments still to come."""


@dataclass(frozen=True)
class AppointmentOf(Request["Visit | None"]):
    """One appointment, or None unless it is the person's own."""

    appointment_id: int


@dataclass(frozen=True)
class PhoneOptedOut(Request[bool]):
    """Has this number (E.164) opted out of our text messages? (Linking a phone.)"""

    phone: str


# --- commands (done once per turn, in the turn's transaction) --------------------------


@dataclass(frozen=True)
class ClaimLinkCode(Request["datetime | None"]):
    """Count one phone-link code for this chat and ``phone`` (E.164), unless a limit (per
    chat, per number) is reached: None when the code may go, else when the person may try
    again (UTC). Counted the same whether or not the number opted out."""

    phone: str



@dataclass(frozen=True)
class Book(Request["int | None"]):
    """Book a place; the new appointment's id, or None when no place is free any more."""

    point_id: int
    service: str
    start: datetime


@dataclass(frozen=True)
class Reschedule(Request[bool]):
    """Move the person's appointment to ``start``; False when that time is taken."""

    appointment_id: int
    start: datetime


@dataclass(frozen=True)
class Cancel(Request[bool]):
    appointment_id: int


@dataclass(frozen=True)
class Confirm(Request[bool]):
    appointment_id: int
