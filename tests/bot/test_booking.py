"""Booking by chat (through the simulator): book, list, reschedule, cancel; the last place
taken while confirming; answers to reminders and to the offer to rebook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from outreach.appointments.views import AppointmentStatus
from outreach.outbound.policy import SendPolicy
from outreach.container import Container
from outreach.timeutil import utcnow
from tests.appointments import create_point
from tests.factories import Chat, one


async def all_rows(services: Container, sql: str, **params: Any) -> list[Any]:
    async with services.db.begin() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def book(chat: Chat, point_id: int, service: str = "pregnancy_iud_checkup") -> None:
    """Menu → Book → service → point → last day → first time → yes (far enough ahead
    for every reminder)."""
    await chat.pick("book")
    await chat.pick(f"svc:{service}")
    await chat.pick(f"pt:{point_id}")
    await chat.pick([c for c in chat.choice_ids if c.startswith("day:")][-1])
    await chat.pick(chat.choice_ids[0])  # its first time
    assert chat.choice_ids == ["yes", "other", "menu"], chat.text
    await chat.pick("yes")


async def test_book_list_reschedule_and_cancel(client: httpx.AsyncClient, services: Container) -> None:
    futian = await create_point(services, district="futian",
                                name={"zh_Hans": "福田站", "en": "Futian Station"})
    nanshan = await create_point(services)
    chat = Chat(client, "booker")
    await chat.onboard("en")
    assert "book" in chat.choice_ids and "appts" in chat.choice_ids
    await chat.pick("book")
    assert chat.choice_ids == [
        "svc:pregnancy_iud_checkup", "svc:pre_pregnancy_check", "svc:contraceptives",
        "svc:counselling", "menu",
    ]
    await chat.pick("svc:pregnancy_iud_checkup")
    # The person's district (Nanshan) first.
    assert chat.choice_ids == [f"pt:{nanshan.id}", f"pt:{futian.id}", "menu"]
    await chat.pick(f"pt:{nanshan.id}")
    days = [c for c in chat.choice_ids if c.startswith("day:")]
    # A 14 × 24 h horizon from now touches 15 local dates when it starts early in the day
    # (today after now, the 15th before now); today drops out once its places are gone.
    assert 13 <= len(days) <= 15
    await chat.pick(days[len(days) // 2])  # a whole day (the first and last may be cut by now)
    times = [c for c in chat.choice_ids if c.startswith("at:")]
    assert len(times) == 8 and chat.label(times[0]).endswith("(3)")  # 08:00–12:00, 30 min
    await chat.pick(times[0])
    assert "Book Free IUD & pregnancy check at Nanshan Family Health Station" in chat.text
    await chat.pick("yes")
    assert "Booked" in chat.text and chat.choice_ids[0] == "learn"
    appointment = await one(services, "SELECT id, status, starts_at FROM appointment")
    assert appointment.status == AppointmentStatus.booked.value
    reminders = await all_rows(services, "SELECT status, purpose FROM outbox WHERE topic = :t",
                               t=f"appointment:{appointment.id}")
    assert [(r.status, r.purpose) for r in reminders] == [("pending", "reminder")] * 2

    # My appointments → the one → reschedule to another time that day.
    await chat.pick("appts")
    assert chat.choice_ids == [f"appt:{appointment.id}", "book", "menu"]
    await chat.pick(f"appt:{appointment.id}")
    assert chat.choice_ids == ["change", "cancel", "back", "menu"]
    await chat.pick("change")
    await chat.pick(days[len(days) // 2])
    await chat.pick([c for c in chat.choice_ids if c.startswith("at:")][2])
    assert "Move your appointment" in chat.text
    await chat.pick("yes")
    assert "your appointment is now on" in chat.text
    moved = await one(services, "SELECT starts_at, reschedules FROM appointment")
    assert moved.starts_at != appointment.starts_at and moved.reschedules == 1
    statuses = sorted(r.status for r in await all_rows(
        services, "SELECT status FROM outbox WHERE topic = :t", t=f"appointment:{appointment.id}"))
    assert statuses == ["cancelled", "cancelled", "pending", "pending"]

    # … and cancel it: its place is free again, its reminders withdrawn.
    await chat.pick("appts")
    await chat.pick(f"appt:{appointment.id}")
    await chat.pick("cancel")
    assert "cancelled" in chat.text
    assert (await one(services, "SELECT status FROM appointment")).status == "cancelled"
    assert not await all_rows(services, "SELECT id FROM outbox WHERE status = 'pending'")
    await chat.pick("appts")
    assert "no upcoming appointments" in chat.text and chat.choice_ids == ["book", "menu"]


async def test_the_last_place_taken_while_confirming(client: httpx.AsyncClient, services: Container) -> None:
    point = await create_point(services, slot_capacity=1)
    first, second = Chat(client, "slow"), Chat(client, "quick")
    for chat in (first, second):
        await chat.onboard("en")
        await chat.pick("book")
        await chat.pick("svc:pregnancy_iud_checkup")
        await chat.pick(f"pt:{point.id}")
        day = chat.choice_ids[0]
        await chat.pick(day)
        await chat.pick(chat.choice_ids[0])
    await second.pick("yes")
    assert "Booked" in second.text
    await first.pick("yes")
    assert "just taken" in first.text
    assert first.choice_ids[0].startswith("day:")  # choose again
    assert (await one(services, "SELECT count(*) AS n FROM appointment")).n == 1


async def send_reminders(services: Container) -> None:
    """Bring the reminders forward and let the dispatcher send them (to the simulator)."""
    async with services.db.begin() as conn:
        await conn.execute(text("UPDATE outbox SET due_at = :now WHERE purpose = 'reminder'"),
                           {"now": utcnow() - timedelta(seconds=1)})
    await services.dispatcher.drain_once()


async def test_answers_to_a_reminder(client: httpx.AsyncClient, services: Container) -> None:
    # Any hour of the day, and more than a day's cap of reminders.
    services.dispatcher.policy = SendPolicy(quiet=None, daily_cap=100)
    point = await create_point(services)
    chat = Chat(client, "reminded")
    await chat.onboard("en")
    await book(chat, point.id)
    await send_reminders(services)
    inbox = (await client.get("/api/v1/simulator/outbox", params={"contact": "reminded"})).json()
    assert len(inbox["messages"]) == 2 and "Reminder:" in inbox["messages"][0]["text"]
    assert [c["label"] for c in inbox["messages"][0]["choices"]] == [
        "Confirm", "Reschedule", "Cancel appointment"]
    after = inbox["messages"][-1]["id"]
    assert (await client.get("/api/v1/simulator/outbox",
                             params={"contact": "reminded", "after": after})).json() == {"messages": []}

    await chat.send("1")  # answers the reminder, not the menu (where 1 is "Learn")
    assert "See you" in chat.text
    assert (await one(services, "SELECT confirmed_at FROM appointment")).confirmed_at is not None
    await chat.send("1")  # the reminder is answered: 1 is the menu's again
    assert "learn.topics" not in chat.text and chat.choice_ids[0].startswith("topic:")

    # CANCEL after a reminder cancels the appointment; it does not unsubscribe.
    await chat.send("MENU")
    await book(chat, point.id)
    await send_reminders(services)
    await chat.send("CANCEL")
    assert "cancelled" in chat.text
    row = await one(services, "SELECT opted_out FROM contact")
    assert not row.opted_out
    statuses = [r.status for r in await all_rows(
        services, "SELECT status FROM appointment ORDER BY id")]
    assert statuses == ["booked", "cancelled"]

    # 改期 in Chinese starts rescheduling.
    await chat.pick("lang")
    await chat.pick("lang:zh_Hans")
    await book(chat, point.id)
    await send_reminders(services)
    await chat.send("改期")
    assert chat.choice_ids[0].startswith("day:")


async def test_a_missed_visit_offers_to_rebook(client: httpx.AsyncClient, services: Container) -> None:
    services.dispatcher.policy = SendPolicy(quiet=None, daily_cap=100)
    point = await create_point(services)
    chat = Chat(client, "missed")
    await chat.onboard("en")
    await book(chat, point.id)
    # The visit was yesterday; the health worker marks a no-show.
    async with services.db.begin() as conn:
        await conn.execute(text("UPDATE appointment SET starts_at = :t"),
                           {"t": utcnow() - timedelta(days=1)})
    appointment_id = (await one(services, "SELECT id FROM appointment")).id
    async with services.db.begin() as raw:
        await services.appointments.record_attendance(
            raw, appointment_id, AppointmentStatus.no_show, utcnow())
    await services.dispatcher.drain_once()
    inbox = (await client.get("/api/v1/simulator/outbox", params={"contact": "missed"})).json()
    assert ["We did not see you" in m["text"] for m in inbox["messages"]] == [True]
    await chat.send("1")
    assert chat.choice_ids[0].startswith("day:")  # rebooking at the same point
    await chat.pick(chat.choice_ids[0])
    await chat.pick(chat.choice_ids[0])
    await chat.pick("yes")
    assert "Booked" in chat.text


async def test_cancel_without_a_reminder_still_unsubscribes(client: httpx.AsyncClient, services: Container) -> None:
    chat = Chat(client, "leaver")
    await chat.onboard("en")
    await chat.send("cancel")
    assert "unsubscribed" in chat.text
