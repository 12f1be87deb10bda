"""Reminders on the real channels: by SMS (answered with a bare number) and on Telegram
(answered with a button), through the outbox, the send policy and the dispatcher."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from outreach.outbound.policy import SendPolicy
from outreach.container import Container
from outreach.timeutil import utcnow
from tests.appointments import create_point
from tests.factories import one
from tests.fakes.servers import CHAT, SmsServer, TgServer, buttons

PHONE = "+8613700137000"


async def book_far_ahead(services: Container, contact_id: int) -> int:
    """An appointment 10 days ahead (both reminders still to come), booked as the bot does."""
    point = await create_point(services)
    assert point.id is not None
    async with services.db.begin() as raw:
        fetched = await services.appointments.point(raw, point.id)
        assert fetched is not None
        free = await services.appointments.free_places(raw, fetched, utcnow())
        start = next(s for s in free if s > utcnow() + timedelta(days=10))
        appointment = await services.appointments.book(
            raw, contact_id, point.id, "pregnancy_iud_checkup", start, utcnow())
    assert appointment is not None
    return appointment


async def send_due_reminders(services: Container) -> None:
    services.dispatcher.policy = SendPolicy(quiet=None)  # whatever the hour here
    async with services.db.begin() as conn:
        await conn.execute(text(
            "UPDATE outbox SET due_at = :now WHERE purpose = 'reminder' AND status = 'pending' "
            "AND id = (SELECT min(id) FROM outbox WHERE purpose = 'reminder' AND status = 'pending')"),
            {"now": utcnow() - timedelta(seconds=1)})
    await services.dispatcher.drain_once()


async def test_an_sms_reminder_answered_with_a_number(sms_server: SmsServer) -> None:
    s = sms_server
    for word in ("hello", "English", "yes", "1", "2"):  # onboarding: Shenzhen, Nanshan
        await s.converse(PHONE, word)
    contact_id = (await one(s.services, "SELECT id FROM contact")).id
    appointment = await book_far_ahead(s.services, contact_id)
    before = len(s.sent_to(PHONE))
    await send_due_reminders(s.services)
    reminder = (await s.wait_sent(PHONE, before + 1))[-1]["body"]
    assert reminder.startswith("Reminder: Free IUD & pregnancy check on ")
    assert "Reply 1 or CONFIRM to confirm" in reminder
    # (Not s.converse: the other reminder waits in the outbox for its time.)
    assert (await s.inbound(PHONE, "1")).status_code == 200
    await s.services.dispatcher.drain_once()
    answer = (await s.wait_sent(PHONE, before + 2))[before + 1]["body"]
    assert "Thank you! See you at Nanshan Family Health Station" in answer
    row = await one(s.services, "SELECT confirmed_at, status FROM appointment WHERE id = :a",
                    a=appointment)
    assert row.confirmed_at is not None and row.status == "booked"


async def test_a_telegram_reminder_answered_with_a_button(tg: TgServer) -> None:
    await tg.say(CHAT, "/start", language_code="zh-hans")
    await tg.press(CHAT, "lang:zh_Hans")
    await tg.press(CHAT, "consent:yes")
    await tg.press(CHAT, "city:shenzhen")
    await tg.press(CHAT, "district:nanshan")
    contact_id = (await one(tg.services, "SELECT id FROM contact")).id
    appointment = await book_far_ahead(tg.services, contact_id)
    before = len(tg.fake.sent_to(CHAT))
    await send_due_reminders(tg.services)
    sent = tg.fake.sent_to(CHAT)
    assert len(sent) == before + 1
    assert sent[-1]["text"].startswith("提醒：")
    assert buttons(sent[-1]) == [f"appointment:{appointment}:{a}" for a in ("confirm", "change", "cancel")]
    answer = await tg.press(CHAT, f"appointment:{appointment}:cancel")
    assert "您的预约已取消" in answer["text"]
    row = await one(tg.services, "SELECT status FROM appointment WHERE id = :a", a=appointment)
    assert row.status == "cancelled"
    left = await one(tg.services, "SELECT count(*) AS n FROM outbox WHERE topic = :t AND status = 'pending'",
                     t=f"appointment:{appointment}")
    assert left.n == 0
