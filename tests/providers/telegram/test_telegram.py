"""Telegram end to end: the real aiogram Bot and Dispatcher against a fake Bot API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from outreach.providers.telegram.webhooks import receiver
from outreach.app import create_app
from outreach.providers.telegram.adapter import RateLimiter
from outreach.container import Container
from tests.fakes.servers import CHAT, SECRET, TgServer, buttons
from tests.fakes.telegram import Fault

async def scalar(services: Container, sql: str, **params: Any) -> Any:
    async with services.db.begin() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def test_startup_registers_commands_and_the_webhook(tg: TgServer) -> None:
    assert tg.fake.webhook is not None
    assert tg.fake.webhook["url"] == tg.webhook and tg.fake.webhook["secret_token"] == SECRET
    zh = {c["command"]: c["description"] for c in tg.fake.commands["zh"]}
    en = {c["command"]: c["description"] for c in tg.fake.commands["en"]}
    assert set(zh) == set(en) == {"menu", "book", "lang", "help", "stop"}
    assert zh["menu"] == "主菜单" and en["menu"] == "Main menu"


@pytest.mark.parametrize(("language_code", "first"), [("en", "lang:en"), ("zh-hans", "lang:zh_Hans"), ("fr", "lang:zh_Hans")])
async def test_start_offers_the_apps_language_first(tg: TgServer, language_code: str, first: str) -> None:
    answer = await tg.say(CHAT, "/start", language_code=language_code)
    assert buttons(answer)[0] == first


async def test_a_whole_conversation_by_buttons(tg: TgServer) -> None:
    answer = await tg.say(CHAT, "/start", language_code="en")
    answer = await tg.press(CHAT, "lang:en")
    # The pressed button was answered and its keyboard taken off.
    assert tg.fake.calls_of("answerCallbackQuery")
    assert tg.fake.calls_of("editMessageReplyMarkup")
    assert buttons(answer) == ["consent:yes", "consent:no"]
    answer = await tg.press(CHAT, "consent:yes")
    answer = await tg.press(CHAT, "city:hangzhou")
    answer = await tg.press(CHAT, "district:xihu")
    assert buttons(answer) == ["learn", "ask", "quiz", "book", "appts", "lang", "stop"]
    answer = await tg.press(CHAT, "quiz")
    for _ in range(5):
        options = [b for b in buttons(answer) if b.startswith("opt:")]
        assert len(options) >= 2, answer
        answer = await tg.press(CHAT, options[0])
    assert "You got" in answer["text"]
    assert await scalar(tg.services, "SELECT count(*) FROM quiz_attempt WHERE status = 'completed'") == 1
    # Typed text and commands work too.
    answer = await tg.say(CHAT, "is the checkup free?")
    assert "Source: 2010 guidance No. 69, section 3(2)" in answer["text"]
    answer = await tg.say(CHAT, "/menu")
    assert buttons(answer) == ["learn", "ask", "quiz", "book", "appts", "lang", "stop"]
    answer = await tg.say(CHAT, "/help")
    assert "MENU" in answer["text"]


async def test_deep_link_code_is_recorded_and_dropped_on_refusal(tg: TgServer) -> None:
    await tg.say(CHAT, "/start futian_market_2026", language_code="zh-hans")
    assert await scalar(tg.services, "SELECT community FROM contact") == "futian_market_2026"
    await tg.press(CHAT, "lang:zh_Hans")
    await tg.press(CHAT, "consent:no")
    assert await scalar(tg.services, "SELECT community FROM contact") is None


async def test_webhook_secret(tg: TgServer) -> None:
    update = tg.fake.message_update(CHAT, "hello")
    assert await tg.deliver(update, secret=None) == 403
    assert await tg.deliver(update, secret="wrong") == 403
    assert await tg.deliver(update, secret=SECRET[:-1]) == 403
    assert await scalar(tg.services, "SELECT count(*) FROM inbox_event") == 0
    assert await tg.deliver(update) == 200
    assert await scalar(tg.services, "SELECT count(*) FROM inbox_event") == 1


async def test_replayed_updates_have_one_effect(tg: TgServer) -> None:
    update = tg.fake.message_update(CHAT, "hello")
    codes = await asyncio.gather(*(tg.deliver(update) for _ in range(5)))
    assert codes == [200] * 5
    assert await tg.deliver(update) == 200
    assert await scalar(tg.services, "SELECT count(*) FROM inbox_event") == 1
    assert await scalar(tg.services, "SELECT count(*) FROM outbox") == 1
    await tg.services.dispatcher.drain_once()
    assert len(tg.fake.sent_to(CHAT)) == 1


async def test_retry_after_is_honoured(tg: TgServer) -> None:
    tg.fake.inject("sendMessage", Fault.retry_after(1))
    assert await tg.deliver(tg.fake.message_update(CHAT, "hello")) == 200
    await tg.services.dispatcher.drain_once()
    async with tg.services.db.begin() as conn:
        row = (await conn.execute(text("SELECT status, error, due_at, updated_at FROM outbox"))).one()
    assert row.status == "pending" and "retry after 1" in row.error
    assert tg.fake.sent_to(CHAT) == []
    await tg.services.dispatcher.drain_once()          # not due yet
    assert tg.fake.sent_to(CHAT) == []
    await asyncio.sleep(1.1)
    await tg.services.dispatcher.drain_once()
    assert len(tg.fake.sent_to(CHAT)) == 1


async def test_blocked_bot_opts_the_person_out_everywhere(tg: TgServer) -> None:
    tg.fake.block(CHAT)
    assert await tg.deliver(tg.fake.message_update(CHAT, "hello")) == 200
    await tg.services.dispatcher.drain_once()
    assert await scalar(tg.services, "SELECT opted_out FROM contact") in (True, 1)
    assert await scalar(tg.services, "SELECT channel FROM consent_event WHERE kind = 'opted_out'") == "telegram"
    assert await scalar(tg.services, "SELECT status FROM outbox") == "dead"
    tg.fake.unblock(CHAT)


async def test_polling_uses_the_same_handlers(tg: TgServer) -> None:
    services = tg.services
    bot = services.telegram.bot()
    await bot.delete_webhook()
    dispatcher = services.telegram.dispatcher(receiver(services.telegram, services.pipeline))
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    try:
        tg.fake.queue(tg.fake.message_update(CHAT, "/start", language_code="en"))
        for _ in range(200):
            if await scalar(services, "SELECT count(*) FROM outbox") == 1:
                break
            await asyncio.sleep(0.02)
        await services.dispatcher.drain_once()
        assert buttons(tg.fake.sent_to(CHAT)[-1])[0] == "lang:en"
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_channel_off_without_a_token(services: Container) -> None:
    app = create_app(services.settings, services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/webhooks/telegram", json={"update_id": 1},
                         headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
    assert r.status_code == 503 and "OUTREACH_TELEGRAM_TOKEN" in r.json()["error"]["message"]


async def test_rate_limiter_spaces_messages() -> None:
    limiter = RateLimiter(per_second=50, per_chat_interval=0.2)
    start = time.monotonic()
    times: dict[str, list[float]] = {"a": [], "b": []}

    async def send(chat: str) -> None:
        await limiter.wait(chat)
        times[chat].append(time.monotonic() - start)

    await asyncio.gather(*(send(c) for c in ["a", "a", "a", "b", "b"]))
    a = times["a"]
    assert all(later - earlier >= 0.19 for earlier, later in zip(a, a[1:], strict=False))
    every = sorted(a + times["b"])
    assert all(later - earlier >= 0.019 for earlier, later in zip(every, every[1:], strict=False))
    limiter.pause(0.3)
    t0 = time.monotonic()
    await limiter.wait("c")
    assert time.monotonic() - t0 >= 0.29


async def test_rate_limiter_forgets_idle_chats_only() -> None:
    limiter = RateLimiter(per_second=1000, per_chat_interval=0.05)
    limiter.MAX_CHATS = 2
    await limiter.wait("a")
    await asyncio.sleep(0.06)  # a's bucket has drained
    await limiter.wait("b")
    await limiter.wait("c")  # the third chat: a is forgotten, b (just sent) is kept
    assert set(limiter._chats) == {"b", "c"}
    t0 = time.monotonic()
    await limiter.wait("b")
    assert time.monotonic() - t0 >= 0.04


async def test_in_groups_and_channels_it_answers_once_and_keeps_nothing(tg: TgServer) -> None:
    """The bot converses only in private chats: a group (or channel) hears once where to
    write instead; nothing said there becomes a contact, a message or an outbox row."""
    group, channel = -1001234567, -1009876543
    for words in ("hello", "how do I book a checkup?", "/start"):
        assert await tg.deliver(tg.fake.group_message_update(group, 4242, words)) == 200
    assert await tg.deliver(tg.fake.channel_post_update(channel, "news")) == 200
    assert await tg.deliver(tg.fake.channel_post_update(channel, "more news")) == 200
    await tg.services.dispatcher.drain_once()
    # The member's language in the group; a channel post has no sender: the default.
    for chat, word in ((group, "private chats"), (channel, "私聊")):
        sent = tg.fake.sent_to(chat)
        assert len(sent) == 1, sent
        assert f"https://t.me/{tg.fake.bot_username}" in sent[0]["text"]
        assert word in sent[0]["text"]
    async with tg.services.db.begin() as uow:
        counts = {t: (await uow.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                  for t in ("contact", "contact_urn", "message", "outbox", "unanswered_question")}
        inbox = (await uow.execute(text("SELECT provider, provider_id FROM inbox_event"))).all()
    assert counts == dict.fromkeys(counts, 0)
    assert sorted(inbox) == sorted([("telegram-group", str(group)), ("telegram-group", str(channel))])
