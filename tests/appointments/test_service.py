"""Booking, moving and cancelling as the bot does it: on the raw writer transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from outreach.appointments.models import Appointment
from outreach.appointments.views import AppointmentStatus

from outreach.outbound.models import OutboxStatus, Purpose
from outreach.container import Container
from tests.appointments import create_contact, create_point, outbox_rows, store

# Monday 7 January 2030, 08:00 in Shanghai: the morning's slots are 08:00 … 11:30.
NOW = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
TOMORROW_10 = datetime(2030, 1, 8, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


async def statuses(services: Container) -> list[tuple[int, AppointmentStatus, datetime]]:
    async with services.db.session() as session:
        rows = (await session.exec(select(Appointment).order_by(col(Appointment.id)))).all()
        return [(a.contact_id, a.status, a.starts_at) for a in rows]


async def test_points_for_a_service_prefer_the_district(services: Container) -> None:
    nanshan = await create_point(services)
    futian = await create_point(services, district="futian", services=["pregnancy_iud_checkup"])
    await create_point(services, district="baoan", active=False)
    await create_point(services, city="guangzhou", district="tianhe")
    s = store(services)
    async with services.db.begin() as raw:
        in_futian = await s.points_for(raw, "pregnancy_iud_checkup", city="shenzhen", district="futian")
        contraceptives = await s.points_for(raw, "contraceptives", city="shenzhen")
        nowhere = await s.points_for(raw, "counselling")
    assert [p.id for p in in_futian] == [futian.id, nanshan.id]
    assert [p.id for p in contraceptives] == [nanshan.id]
    assert nowhere == []
    point = in_futian[1]
    assert point.name["en"] == "Nanshan Family Health Station"
    assert point.opening_hours["mon"] == [("08:00", "12:00")]
    assert (point.timezone, point.slot_minutes, point.slot_capacity) == ("Asia/Shanghai", 30, 3)


async def test_booking_fills_a_slot_and_free_places_count_down(services: Container) -> None:
    point_row = await create_point(services, slot_capacity=2)
    assert point_row.id is not None
    contacts = [await create_contact(services, f"p{i}") for i in range(3)]
    s = store(services)
    async with services.db.begin() as raw:
        point = await s.point(raw, point_row.id)
        assert point is not None
        free = await s.free_places(raw, point, NOW)
        # 8 slots a day; today's 08:00 has begun; 14 days ahead ends at 08:00 on the 21st.
        assert len(free) == 14 * 8 - 1 and set(free.values()) == {2}
        assert min(free) == datetime(2030, 1, 7, 0, 30, tzinfo=UTC)
        assert max(free) == datetime(2030, 1, 20, 3, 30, tzinfo=UTC)

        first = await s.book(raw, contacts[0], point.id, "contraceptives", TOMORROW_10, NOW)
        assert first is not None
        assert (await s.free_places(raw, point, NOW))[TOMORROW_10] == 1
        second = await s.book(raw, contacts[1], point.id, "contraceptives", TOMORROW_10, NOW)
        assert second is not None and second != first
        assert TOMORROW_10 not in await s.free_places(raw, point, NOW)
        assert await s.book(raw, contacts[2], point.id, "contraceptives", TOMORROW_10, NOW) is None
        # The next slot is untouched.
        assert (await s.free_places(raw, point, NOW))[TOMORROW_10 + timedelta(minutes=30)] == 2
    assert [c for c, *_ in await statuses(services)] == contacts[:2]


async def test_booking_refuses_what_is_not_a_bookable_slot(services: Container) -> None:
    point = await create_point(services)
    closed = await create_point(services, active=False)
    assert point.id is not None and closed.id is not None
    cid = await create_contact(services, "p")
    s = store(services)
    refused = [
        (point.id, "contraceptives", TOMORROW_10 + timedelta(minutes=10)),  # off the grid
        (point.id, "contraceptives", datetime(2030, 1, 8, 6, 0, tzinfo=UTC)),  # 14:00: closed
        (point.id, "contraceptives", NOW),  # has begun
        (point.id, "contraceptives", NOW - timedelta(days=1)),  # past
        (point.id, "contraceptives", TOMORROW_10 + timedelta(days=14)),  # beyond the horizon
        (point.id, "counselling", TOMORROW_10),  # not offered there
        (closed.id, "contraceptives", TOMORROW_10),  # inactive point
        (9999, "contraceptives", TOMORROW_10),  # no such point
    ]
    async with services.db.begin() as raw:
        for point_id, service, starts in refused:
            assert await s.book(raw, cid, point_id, service, starts, NOW) is None, (point_id, service, starts)
        # The last slot within 14 days: Sunday 20 January 11:30 in Shanghai.
        assert await s.book(raw, cid, point.id, "contraceptives", datetime(2030, 1, 20, 3, 30, tzinfo=UTC), NOW)
    assert len(await statuses(services)) == 1


async def test_reminders_are_scheduled_at_the_offsets(services: Container) -> None:
    point = await create_point(services)
    assert point.id is not None
    cid = await create_contact(services, "p")
    s = store(services)
    async with services.db.begin() as raw:
        aid = await s.book(raw, cid, point.id, "pregnancy_iud_checkup", TOMORROW_10, NOW)
    rows = await outbox_rows(services, f"appointment:{aid}")
    assert [(r.purpose, r.status, r.due_at, r.expires_at) for r in rows] == [
        (Purpose.reminder, OutboxStatus.pending, TOMORROW_10 - timedelta(hours=24), TOMORROW_10),
        (Purpose.reminder, OutboxStatus.pending, TOMORROW_10 - timedelta(hours=2), TOMORROW_10),
    ]
    assert [r.idempotency_key for r in rows] == [
        f"appointment:{aid}:0:2030-01-08T02:00:00+00:00:remind:1440",
        f"appointment:{aid}:0:2030-01-08T02:00:00+00:00:remind:120",
    ]
    assert rows[0].channel == "sim" and rows[0].address == "p" and rows[0].contact_id == cid
    assert rows[0].body.startswith("Reminder: Free IUD & pregnancy check on Tuesday, January 8, 2030, 10:00 AM.")
    assert [c["id"] for c in rows[0].choices or []] == [
        f"appointment:{aid}:confirm", f"appointment:{aid}:change", f"appointment:{aid}:cancel"
    ]

    # Booked three hours ahead: the 24-hour reminder's time has passed, so only one.
    soon = NOW + timedelta(hours=3)
    async with services.db.begin() as raw:
        aid = await s.book(raw, cid, point.id, "pregnancy_iud_checkup", soon, NOW)
    rows = await outbox_rows(services, f"appointment:{aid}")
    assert [(r.due_at, r.expires_at) for r in rows] == [(soon - timedelta(hours=2), soon)]


async def test_reschedule_moves_the_place_and_the_reminders(services: Container) -> None:
    point_row = await create_point(services, slot_capacity=1)
    assert point_row.id is not None
    me, other = await create_contact(services, "me"), await create_contact(services, "other")
    s = store(services)
    later = TOMORROW_10 + timedelta(days=1)
    async with services.db.begin() as raw:
        aid = await s.book(raw, me, point_row.id, "contraceptives", TOMORROW_10, NOW)
        theirs = await s.book(raw, other, point_row.id, "contraceptives", later + timedelta(minutes=30), NOW)
        assert aid is not None and theirs is not None
        assert not await s.reschedule(raw, aid, other, later, NOW)  # not their appointment
        assert not await s.reschedule(raw, aid, me, later + timedelta(minutes=30), NOW)  # full
        assert not await s.reschedule(raw, aid, me, later + timedelta(minutes=7), NOW)  # no slot
        assert await s.reschedule(raw, aid, me, TOMORROW_10, NOW)  # where it already is
        assert await s.reschedule(raw, aid, me, later, NOW)
        point = await s.point(raw, point_row.id)
        assert point is not None
        free = await s.free_places(raw, point, NOW)
        assert free[TOMORROW_10] == 1 and later not in free
    rows = await outbox_rows(services, f"appointment:{aid}")
    assert [(r.status, r.due_at) for r in rows] == [
        (OutboxStatus.cancelled, TOMORROW_10 - timedelta(hours=24)),
        (OutboxStatus.cancelled, TOMORROW_10 - timedelta(hours=2)),
        (OutboxStatus.pending, later - timedelta(hours=24)),
        (OutboxStatus.pending, later - timedelta(hours=2)),
    ]
    assert rows[0].error == "rescheduled"

    # Moving back to the first time schedules fresh reminders (the old keys are spent).
    async with services.db.begin() as raw:
        assert await s.reschedule(raw, aid, me, TOMORROW_10, NOW)
        [visit] = await s.upcoming(raw, me, NOW)
    assert (visit.starts_at, visit.reschedules) == (TOMORROW_10, 2)
    rows = await outbox_rows(services, f"appointment:{aid}")
    assert [r.due_at for r in rows if r.status == OutboxStatus.pending] == [
        TOMORROW_10 - timedelta(hours=24), TOMORROW_10 - timedelta(hours=2)
    ]
    assert len(rows) == 6


async def test_cancel_confirm_and_upcoming(services: Container) -> None:
    point = await create_point(services)
    assert point.id is not None
    me, other = await create_contact(services, "me"), await create_contact(services, "other")
    s = store(services)
    async with services.db.begin() as raw:
        a1 = await s.book(raw, me, point.id, "contraceptives", TOMORROW_10 + timedelta(days=1), NOW)
        a2 = await s.book(raw, me, point.id, "pregnancy_iud_checkup", TOMORROW_10, NOW)
        assert a1 is not None and a2 is not None
        upcoming = await s.upcoming(raw, me, NOW)
        assert [v.id for v in upcoming] == [a2, a1]  # soonest first
        assert upcoming[0].point_name["zh_Hans"] == "南山区计生服务站"
        assert upcoming[0].point_address["en"] == "1 Nanshan Avenue"
        assert (upcoming[0].timezone, upcoming[0].service_type) == ("Asia/Shanghai", "pregnancy_iud_checkup")
        assert await s.upcoming(raw, other, NOW) == []

        assert not await s.confirm(raw, a2, other, NOW)
        assert await s.confirm(raw, a2, me, NOW)
        assert await s.confirm(raw, a2, me, NOW + timedelta(minutes=5))  # again: still confirmed
        [_, first] = await s.upcoming(raw, me, NOW + timedelta(days=1, minutes=1))  # a2 has begun
        assert first.id == a1
        confirmed = await s.visit(raw, a2)
        assert confirmed is not None and confirmed.confirmed_at == NOW

        assert not await s.cancel(raw, a1, other, NOW)
        assert await s.cancel(raw, a1, me, NOW)
        assert not await s.cancel(raw, a1, me, NOW)  # already cancelled
        assert not await s.cancel(raw, a2, me, TOMORROW_10)  # has begun
        assert [v.id for v in await s.upcoming(raw, me, NOW)] == [a2]
        point_view = await s.point(raw, point.id)
        assert point_view is not None
        assert (await s.free_places(raw, point_view, NOW))[TOMORROW_10 + timedelta(days=1)] == 3
    assert [r.status for r in await outbox_rows(services, f"appointment:{a1}")] == [OutboxStatus.cancelled] * 2
    assert [r.status for r in await outbox_rows(services, f"appointment:{a2}")] == [OutboxStatus.pending] * 2


async def test_the_last_places_are_race_safe(services: Container) -> None:
    """50 people try for the last 3 places of a slot at once: exactly 3 get one.

    On PostgreSQL each booking is its own writer transaction, running concurrently on
    the pool (the test checks that they overlapped). Without the slot lock two of them
    could both count 2 booked of 5 before either inserts, and both insert; with it the
    count runs only after the previous holder committed. On SQLite the single writer
    serialises the transactions."""
    point = await create_point(services, slot_capacity=5)
    assert point.id is not None
    contacts = [await create_contact(services, f"p{i}") for i in range(52)]
    s = store(services)
    writer = services.db
    async with writer.begin() as raw:
        for cid in contacts[:2]:
            assert await s.book(raw, cid, point.id, "contraceptives", TOMORROW_10, NOW)

    open_now = most_open = 0

    async def attempt(cid: int) -> int | None:
        nonlocal open_now, most_open
        async with writer.begin() as raw:
            open_now += 1
            most_open = max(most_open, open_now)
            try:
                await asyncio.sleep(0)  # let the others open theirs too
                return await s.book(raw, cid, point.id, "contraceptives", TOMORROW_10, NOW)  # type: ignore[arg-type]
            finally:
                open_now -= 1

    results = await asyncio.gather(*(attempt(cid) for cid in contacts[2:]))
    assert len([r for r in results if r is not None]) == 3
    booked = [c for c, status, starts in await statuses(services)
              if status == AppointmentStatus.booked and starts == TOMORROW_10]
    assert len(booked) == 5
    if services.db.dialect.name == "postgresql":
        assert most_open > 1, "the bookings did not run concurrently"
    else:
        assert most_open == 1
