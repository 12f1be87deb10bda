"""Scheduling outbox rows: one message on the contact's last channel, withdrawing a topic,
and fan-out to many people in SQL (languages, audience, idempotent re-runs, progress)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from outreach.outbound.models import Purpose
from outreach.outbound.enqueue import Audience
from outreach.container import Container
from outreach.timeutil import ManualClock, from_driver, utcnow


async def people(services: Container) -> None:
    """Seven contacts: reachable ones in two languages and districts, and the ones no
    campaign may reach (opted out, declined, never wrote on a channel)."""
    rows = [
        # id, language, consent, opted_out, district, last_channel, scheme
        (1, "en", "granted", False, "nanshan", "sms", "tel"),
        (2, "zh_Hans", "granted", False, "nanshan", "telegram", "telegram"),
        (3, "zh_Hans", "granted", True, "nanshan", "sms", "tel"),
        (4, "en", "declined", False, "nanshan", "sms", "tel"),
        (5, None, "granted", False, "futian", "sim", "sim"),
        (6, "en", "granted", False, "futian", None, "tel"),
        (7, "fr", "granted", False, "futian", "sms", "tel"),
    ]
    now = utcnow()
    async with services.db.begin() as conn:
        for cid, lang, consent, out, district, channel, scheme in rows:
            await conn.execute(text(
                "INSERT INTO contact (id, language, consent, opted_out, city, district, dialog, "
                "last_channel, created_at, updated_at) VALUES (:id, :l, :c, :o, 'shenzhen', :d, "
                "'{}', :ch, :now, :now)"),
                {"id": cid, "l": lang, "c": consent, "o": out, "d": district, "ch": channel, "now": now})
            await conn.execute(text(
                "INSERT INTO contact_urn (contact_id, scheme, path, created_at) VALUES (:c, :s, :p, :now)"),
                {"c": cid, "s": scheme, "p": f"+861380000000{cid}" if scheme == "tel" else f"u{cid}",
                 "now": now})


async def outbox(services: Container) -> list[Any]:
    async with services.db.begin() as conn:
        return list((await conn.execute(text(
            "SELECT idempotency_key, contact_id, channel, address, body, encoding, status, "
            "purpose, topic FROM outbox ORDER BY contact_id"))).all())


async def test_fan_out_reaches_whom_it_may_in_their_language(services: Container) -> None:
    await people(services)
    seen: list[tuple[int, int]] = []
    added = await services.enqueuer.fan_out(
        services.db, key_prefix="campaign:7", purpose=Purpose.campaign,
        bodies={"en": "Free checkups this week.", "zh_Hans": "本周免费孕检。"},
        default_locale="zh_Hans", due_at=utcnow(), topic="campaign:7", chunk=3,
        progress=lambda done, total: seen.append((done, total)))
    rows = await outbox(services)
    assert added == 4
    assert [(r.contact_id, r.channel, r.address, r.body, r.encoding) for r in rows] == [
        (1, "sms", "+8613800000001", "Free checkups this week.", "GSM-7"),
        (2, "telegram", "u2", "本周免费孕检。", "UCS-2"),
        (5, "sim", "u5", "本周免费孕检。", "UCS-2"),  # no language yet: the default
        (7, "sms", "+8613800000007", "本周免费孕检。", "UCS-2"),  # a language without a body
    ]
    assert {r.idempotency_key for r in rows} == {f"campaign:7:{c}" for c in (1, 2, 5, 7)}
    assert {(r.status, r.purpose, r.topic) for r in rows} == {("pending", "campaign", "campaign:7")}
    assert seen == [(3, 7), (6, 7), (7, 7)]  # a chunk at a time
    # Running it again (after a crash, say) adds nothing.
    again = await services.enqueuer.fan_out(
        services.db, key_prefix="campaign:7", purpose=Purpose.campaign,
        bodies={"en": "Free checkups this week.", "zh_Hans": "本周免费孕检。"},
        default_locale="zh_Hans", due_at=utcnow())
    assert again == 0 and len(await outbox(services)) == 4


async def test_fan_out_to_an_audience(services: Container) -> None:
    await people(services)
    added = await services.enqueuer.fan_out(
        services.db, key_prefix="c:8", purpose=Purpose.campaign,
        bodies={"zh_Hans": "你好"}, default_locale="zh_Hans", due_at=utcnow(),
        audience=Audience(district="futian"))
    assert added == 2
    assert [r.contact_id for r in await outbox(services)] == [5, 7]


async def test_enqueue_and_withdraw(services: Container) -> None:
    await people(services)
    writer = services.db
    async with writer.begin() as raw:
        first = await services.enqueuer.enqueue(
            raw, key="r:1", contact_id=2, purpose=Purpose.reminder, body="提醒", due_at=utcnow(),
            topic="appointment:1", choices=[{"id": "appointment:1:confirm", "label": "确认"}])
        assert first is not None
        # The same key again, and a contact with no channel: nothing.
        assert await services.enqueuer.enqueue(
            raw, key="r:1", contact_id=2, purpose=Purpose.reminder, body="提醒", due_at=utcnow()) is None
        assert await services.enqueuer.enqueue(
            raw, key="r:6", contact_id=6, purpose=Purpose.reminder, body="x", due_at=utcnow()) is None
        assert await services.enqueuer.withdraw(raw, "appointment:1", "cancelled") == 1
        assert await services.enqueuer.withdraw(raw, "appointment:1", "cancelled") == 0
    rows = await outbox(services)
    assert [(r.channel, r.address, r.status) for r in rows] == [("telegram", "u2", "cancelled")]


async def test_rows_are_stamped_by_the_outbounds_clock(services: Container) -> None:
    await people(services)
    at = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    clock = ManualClock(at)
    services.enqueuer.clock = clock
    writer = services.db
    async with writer.begin() as raw:
        assert await services.enqueuer.enqueue(
            raw, key="r:1", contact_id=1, purpose=Purpose.reminder, body="Reminder",
            due_at=at + timedelta(days=1), topic="appointment:1") is not None
    assert await services.enqueuer.fan_out(
        writer, key_prefix="c:9", purpose=Purpose.campaign, bodies={"en": "Hello"},
        default_locale="en", due_at=at, audience=Audience(district="futian")) == 2
    clock.advance(timedelta(hours=1))
    async with writer.begin() as raw:
        assert await services.enqueuer.withdraw(raw, "appointment:1", "cancelled") == 1
    async with services.db.begin() as conn:
        stamps = {r.idempotency_key: (from_driver(r.created_at), from_driver(r.updated_at))
                  for r in await conn.execute(text(
                      "SELECT idempotency_key, created_at, updated_at FROM outbox"))}
    later = at + timedelta(hours=1)
    assert stamps == {"r:1": (at, later), "c:9:5": (at, at), "c:9:7": (at, at)}
