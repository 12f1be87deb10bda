"""What the booking dialog asks the service for, inside the conversation turn.

The engine is pure: when a step needs service points, free places or the person's
appointments — or needs a booking made under the slot's lock — it raises ``NeedFact``
with one of the keys below and the conversation service answers through here, in the
turn's own transaction. So a booking and the reply saying it succeeded commit together,
and "booked" is only ever said about a place that was free under the lock.

Keys (ids are integers, times ISO 8601 in UTC):

- ``points:<service>`` → [Point], the person's district first (their city only, if known)
- ``slots:<point>`` → {start: free places} over the booking horizon, or None (no point)
- ``appointments`` → [Visit], the person's upcoming booked appointments
- ``appointment:<id>`` → Visit, or None unless it is the person's own
- ``book:<point>:<service>:<start>`` → the new appointment's id, or None (no place)
- ``reschedule:<id>:<start>`` / ``cancel:<id>`` / ``confirm:<id>`` → done or not
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.types import ContactView
from outreach.appointments.store import AppointmentStore
from outreach.conversations.store import Raw


class BookingFacts:
    def __init__(self, store: AppointmentStore) -> None:
        self.store = store

    async def load(self, raw: Raw, contact_id: int, view: ContactView, key: str, now: datetime) -> Any:
        kind, _, rest = key.partition(":")
        store = self.store
        if kind == "points":
            return await store.points_for(raw, rest, city=view.city, district=view.district)
        if kind == "slots":
            point = await store.point(raw, int(rest))
            return None if point is None else await store.free_places(raw, point, now)
        if kind == "appointments":
            return await store.upcoming(raw, contact_id, now)
        if kind == "appointment":
            visit = await store.visit(raw, int(rest))
            return visit if visit is not None and visit.contact_id == contact_id else None
        if kind == "book":
            point_id, service, start = rest.split(":", 2)
            return await store.book(raw, contact_id, int(point_id), service,
                                    datetime.fromisoformat(start), now)
        if kind == "reschedule":
            appointment, start = rest.split(":", 1)
            return await store.reschedule(raw, int(appointment), contact_id,
                                          datetime.fromisoformat(start), now)
        if kind == "cancel":
            return await store.cancel(raw, int(rest), contact_id, now)
        if kind == "confirm":
            return await store.confirm(raw, int(rest), contact_id, now)
        raise KeyError(f"no such fact: {key}")
