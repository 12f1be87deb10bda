"""The fake Telegram Bot API (tests/fakes/telegram.py), checked with the real aiogram Bot.

What the fake is for: the bot talks to Telegram through aiogram 3 (``Bot`` +
``Dispatcher``), by long polling or by webhook. Tests point aiogram at ``FakeTelegram``
with ``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))`` and then script
Telegram: users writing, pressing buttons and sharing contacts, flood limits (429),
blocked users (403), server errors, webhook registration and delivery with the secret
header. These tests pin down what aiogram makes of each, so the app's tests can rely
on it.

Findings pinned here (aiogram 3.31.0, aiohttp 3.14):

* aiogram POSTs every method as a form (urlencoded, or multipart with files): strings
  raw, everything else JSON-encoded, so ``chat_id=42`` arrives as "42", ``show_alert``
  as "true", and ``reply_markup``/``commands``/``scope``/``allowed_updates`` as JSON
  text. ``None`` and empty values are dropped (``if not value: continue``).
* ``BotCommandScopeDefault()`` is sent as ``scope={"type":"default"}``; without a
  scope there is no ``scope`` field at all.
* ``Dispatcher.start_polling`` calls getMe first, then getUpdates with
  ``allowed_updates`` = the update types the routers have handlers for (an update of
  another type is never fetched) and ``timeout=polling_timeout``. It confirms an update
  only with the next getUpdates' offset, so the last batch stays unconfirmed on the
  server after ``stop_polling``: a new poller gets it again (as on Telegram).
* ``stop_polling`` cancels the pending getUpdates client-side; the server's long poll
  lives on until its timeout or the next getUpdates ("terminated by other getUpdates
  request", 409), which aiogram's polling loop logs and backs off from.
* ``AiohttpSession.close()`` sleeps 0.25 s, so tests share one Bot.
* Errors: 429 with ``parameters.retry_after`` -> ``TelegramRetryAfter`` (checked before
  the status code), 400 -> ``TelegramBadRequest``, 401 -> ``TelegramUnauthorizedError``,
  403 -> ``TelegramForbiddenError``, 404 -> ``TelegramNotFound``, 409 ->
  ``TelegramConflictError``, 5xx -> ``TelegramServerError`` (``RestartingTelegram`` if
  the description says "restart"); a dropped connection or request timeout ->
  ``TelegramNetworkError``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeDefault,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram import (
    SECRET_HEADER,
    FakeTelegram,
    Fault,
    parse_html,
    utf16_len,
)

CHAT = 4242
OTHER = 5151


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTelegram) -> FakeTelegram:
    server.reset()
    return server


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(token or fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))


@pytest.fixture(scope="module")
async def shared_bot(server: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(server)
    yield bot
    await bot.session.close()


@pytest.fixture
def bot(fake: FakeTelegram, shared_bot: Bot) -> Bot:
    return shared_bot


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in pairs]
    )


def dump(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    return None if markup is None else markup.model_dump(exclude_none=True)


# --------------------------------------------------------------------------- basics


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456, True, "outreach_test_bot", "Outreach")
    assert me.can_join_groups is True and me.supports_inline_queries is False
    assert me.id == bot.id  # the token's prefix, as on Telegram
    [call] = fake.calls
    assert (call.method, call.params, call.status, call.ok) == ("getMe", {}, 200, True)


async def test_send_message_with_inline_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    markup = keyboard(("是", "quiz:1:yes"), ("否", "quiz:1:no"))
    first = await bot.send_message(CHAT, "你好！要开始测验吗？", reply_markup=markup)
    second = await bot.send_message(CHAT, "Second")
    other = await bot.send_message(OTHER, "Elsewhere")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)  # per chat
    assert first.chat.id == CHAT and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == bot.id and first.from_user.is_bot
    assert first.text == "你好！要开始测验吗？"
    assert dump(first.reply_markup) == dump(markup)
    assert abs(first.date.timestamp() - time.time()) < 5
    assert second.reply_markup is None

    [call, *_] = fake.calls_of("sendMessage")
    assert call.params["chat_id"] == CHAT  # "4242" on the wire, decoded
    assert call.params["text"] == "你好！要开始测验吗？"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "是", "callback_data": "quiz:1:yes"}],
            [{"text": "否", "callback_data": "quiz:1:no"}],
        ]
    }
    assert [m["text"] for m in fake.sent] == ["你好！要开始测验吗？", "Second", "Elsewhere"]
    assert [m["message_id"] for m in fake.sent_to(CHAT)] == [1, 2]
    assert fake.sent_to(CHAT)[0]["reply_markup"] == call.params["reply_markup"]
    assert fake.sent_to(999) == []


async def test_text_params_stay_strings(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "123")
    await bot.send_message(CHAT, "true")
    assert [c.params["text"] for c in fake.calls_of("sendMessage")] == ["123", "true"]


async def test_reply_keyboard_is_not_echoed_but_tracked(fake: FakeTelegram, bot: Bot) -> None:
    ask = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="分享手机号", request_contact=True)]], resize_keyboard=True, one_time_keyboard=True
    )
    sent = await bot.send_message(CHAT, "请分享您的手机号", reply_markup=ask)
    assert sent.reply_markup is None  # Telegram echoes inline keyboards only
    assert fake.reply_keyboard(CHAT) == {
        "keyboard": [[{"text": "分享手机号", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    await bot.send_message(CHAT, "谢谢", reply_markup=ReplyKeyboardRemove())
    assert fake.reply_keyboard(CHAT) is None


async def test_html_parse_mode(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "<b>体检</b> on <i>Monday</i> &amp; 😀 <a href='https://x.org'>map</a>", parse_mode="HTML")
    assert sent.text == "体检 on Monday & 😀 map"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 2),
        ("italic", 6, 6),
        ("text_link", 18, 3),  # 😀 counts 2 UTF-16 units
    ]
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(CHAT, "1 < 2", parse_mode="HTML")
    assert caught.value.message == "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2"
    assert [c.status for c in fake.calls_of("sendMessage")] == [200, 400]
    assert len(fake.sent) == 1


def test_parse_html_errors() -> None:
    assert parse_html("a &nbsp; b &#20320;") == ("a &nbsp; b 你", [])
    assert utf16_len("a😀") == 3
    for text, detail in [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
    ]:
        with pytest.raises(Exception, match="can't parse entities") as caught:
            parse_html(text)
        assert str(caught.value).endswith(detail)


async def test_send_message_validation(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "   ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "x", reply_markup=keyboard(("a", "x" * 65)))
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("@nobody", "x")
    assert fake.sent == []


# --------------------------------------------------------------------------- editing & callbacks


async def test_edit_message_reply_markup_and_text(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Question 1", reply_markup=keyboard(("A", "q1:a"), ("B", "q1:b")))

    edited = await bot.edit_message_reply_markup(
        chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard(("✓ A", "noop"))
    )
    assert isinstance(edited, Message)
    assert edited.message_id == sent.message_id and edited.edit_date is not None
    assert dump(edited.reply_markup) == dump(keyboard(("✓ A", "noop")))
    assert fake.calls_of("editMessageReplyMarkup")[0].params == {
        "chat_id": CHAT,
        "message_id": sent.message_id,
        "reply_markup": {"inline_keyboard": [[{"text": "✓ A", "callback_data": "noop"}]]},
    }

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard(("✓ A", "noop")))

    # editMessageText without reply_markup drops the inline keyboard, as on Telegram
    edited = await bot.edit_message_text("Answered: A", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "Answered: A" and edited.reply_markup is None
    [stored] = fake.sent_to(CHAT)  # sent shows the message as it is now
    assert stored["text"] == "Answered: A" and "reply_markup" not in stored and "edit_date" in stored

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=99)


async def test_callback_query_answer(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Pick", reply_markup=keyboard(("Yes", "yes"), ("No", "no")))
    update = fake.callback_update(CHAT, "yes")

    query = update["callback_query"]
    assert query["data"] == "yes" and query["from"]["id"] == CHAT
    assert query["message"]["message_id"] == sent.message_id and query["message"]["from"]["is_bot"] is True
    assert isinstance(query["chat_instance"], str)
    parsed = Update.model_validate(update)
    assert isinstance(parsed.callback_query, CallbackQuery) and parsed.callback_query.message is not None

    assert await bot.answer_callback_query(query["id"], text="已记录", show_alert=True) is True
    [call] = fake.calls_of("answerCallbackQuery")
    assert call.params == {"callback_query_id": query["id"], "text": "已记录", "show_alert": True}
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])  # once only

    with pytest.raises(ValueError, match="no button with callback_data 'maybe'"):
        fake.callback_update(CHAT, "maybe")
    forced = fake.callback_update(CHAT, "maybe", check=False)
    assert forced["callback_query"]["data"] == "maybe"


async def test_updates_are_telegram_shaped(fake: FakeTelegram) -> None:
    start = fake.message_update(CHAT, "/start quiz_1")
    text = fake.message_update(CHAT, "你好", language_code="zh-hant", first_name="Wei")
    contact = fake.contact_update(CHAT, "8613800138000")

    assert start["update_id"] < text["update_id"] < contact["update_id"]
    assert start["message"]["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    assert "entities" not in text["message"]
    assert [u["message"]["message_id"] for u in (start, text, contact)] == [1, 2, 3]
    assert text["message"]["from"] == {"id": CHAT, "is_bot": False, "first_name": "Wei", "language_code": "zh-hant"}
    assert text["message"]["chat"] == {"id": CHAT, "first_name": "Wei", "type": "private"}
    assert contact["message"]["contact"] == {"phone_number": "8613800138000", "first_name": "Li", "user_id": CHAT}
    for update in (start, text, contact):
        Update.model_validate(update)  # aiogram accepts them
    fake.message_update(OTHER, "hi", first_name="Mei")
    assert fake.callback_update(OTHER, "x")["callback_query"]["from"]["first_name"] == "Mei"  # the known name
    with_bot = fake.message_update(CHAT, "/help@outreach_test_bot now")
    assert with_bot["message"]["entities"][0]["length"] == len("/help@outreach_test_bot")


# --------------------------------------------------------------------------- webhook & commands


async def test_set_webhook_and_info(fake: FakeTelegram, bot: Bot) -> None:
    assert (await bot.get_webhook_info()).url == ""
    fake.queue(fake.message_update(CHAT, "pending"))
    assert await bot.set_webhook(
        "https://bot.example.org/telegram/webhook",
        secret_token="s3cr3t_Token-1",
        allowed_updates=["message", "callback_query"],
        max_connections=10,
    )
    assert fake.webhook == {
        "url": "https://bot.example.org/telegram/webhook",
        "secret_token": "s3cr3t_Token-1",
        "allowed_updates": ["message", "callback_query"],
        "max_connections": 10,
    }
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.org/telegram/webhook"
    assert (info.pending_update_count, info.max_connections) == (1, 10)
    assert info.allowed_updates == ["message", "callback_query"]
    assert info.has_custom_certificate is False

    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("https://bot.example.org/hook", secret_token="a+b/c=")

    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.webhook is None and fake.pending_updates == []
    [call] = fake.calls_of("deleteWebhook")
    assert call.response == {"ok": True, "result": True, "description": "Webhook was deleted"}


async def test_set_my_commands_per_language(fake: FakeTelegram, bot: Bot) -> None:
    zh = [BotCommand(command="start", description="开始"), BotCommand(command="quiz", description="测验")]
    en = [BotCommand(command="start", description="Start"), BotCommand(command="quiz", description="Quiz")]
    assert await bot.set_my_commands(zh, language_code="zh")
    assert await bot.set_my_commands(en, scope=BotCommandScopeDefault(), language_code="en")

    assert fake.commands == {
        "zh": [{"command": "start", "description": "开始"}, {"command": "quiz", "description": "测验"}],
        "en": [{"command": "start", "description": "Start"}, {"command": "quiz", "description": "Quiz"}],
    }
    zh_call, en_call = fake.calls_of("setMyCommands")
    assert "scope" not in zh_call.params and en_call.params["scope"] == {"type": "default"}
    assert zh_call.params["commands"][0] == {"command": "start", "description": "开始"}
    assert [c.model_dump(exclude_none=True) for c in await bot.get_my_commands(language_code="zh")] == fake.commands["zh"]
    assert await bot.get_my_commands() == []  # no fallback to a language

    with pytest.raises(TelegramBadRequest, match="invalid language code"):
        await bot.set_my_commands(zh, language_code="zh-hans")
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])

    assert await bot.delete_my_commands(language_code="zh")
    assert set(fake.commands) == {"en"}


# --------------------------------------------------------------------------- faults


async def test_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.inject("sendMessage", Fault.retry_after(7))
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "hi")
    assert caught.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in caught.value.message
    [call] = fake.calls_of("sendMessage")
    assert call.status == 429
    assert call.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(CHAT, "hi")  # consumed
    assert [m["text"] for m in fake.sent] == ["hi"]


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.forbidden(), TelegramForbiddenError, 403),
        (Fault.server_error(), TelegramServerError, 500),
        (Fault.server_error(502, "Bad Gateway"), TelegramServerError, 502),
        (Fault.bad_request("chat not found"), TelegramBadRequest, 400),
        (Fault.error(404, "Not Found"), TelegramNotFound, 404),
    ],
)
async def test_error_faults(fake: FakeTelegram, bot: Bot, fault: Fault, error: type[Exception], status: int) -> None:
    fake.inject("SENDMESSAGE", fault)  # method names are case-insensitive
    with pytest.raises(error) as caught:
        await bot.send_message(CHAT, "hi")
    assert caught.value.message == fault.description  # type: ignore[attr-defined]
    assert [c.status for c in fake.calls_of("sendMessage")] == [status]
    assert fake.sent == []
    assert fault.description.startswith({403: "Forbidden: ", 400: "Bad Request: "}.get(status, ""))


async def test_faults_are_per_method_and_fifo(fake: FakeTelegram, bot: Bot) -> None:
    fake.inject("sendMessage", Fault.retry_after(1), Fault.forbidden())
    await bot.get_me()  # other methods are unaffected
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT, "x")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(CHAT, "x")
    await bot.send_message(CHAT, "x")
    assert fake.pending_faults("sendMessage") == []


async def test_accept_then_drop_and_timeout(fake: FakeTelegram, bot: Bot) -> None:
    fake.inject("sendMessage", Fault.accept_then_drop())
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "maybe sent")
    assert [m["text"] for m in fake.sent] == ["maybe sent"]  # it was, the bot never heard

    fake.inject("sendMessage", Fault.timeout(2, accept=True))
    with pytest.raises(TelegramNetworkError, match="Request timeout error"):
        await bot.send_message(CHAT, "slow", request_timeout=0.2)  # type: ignore[arg-type]
    assert [m["text"] for m in fake.sent] == ["maybe sent", "slow"]


async def test_block_and_unblock(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "before")
    fake.block(CHAT)
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
            await bot.send_message(CHAT, "while blocked")
    with pytest.raises(TelegramForbiddenError):
        await bot.edit_message_text("edit", chat_id=CHAT, message_id=sent.message_id)
    await bot.send_message(OTHER, "other chats work")
    fake.unblock(CHAT)
    await bot.send_message(CHAT, "after")
    assert [m["text"] for m in fake.sent_to(CHAT)] == ["before", "after"]


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    wrong = make_bot(fake, "654321:WRONG-token-abcdefghijklmnopqrstuvwxyz")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await wrong.send_message(CHAT, "x")
    finally:
        await wrong.session.close()
    [call] = fake.calls
    assert (call.method, call.status) == ("sendMessage", 401)
    assert call.response == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert fake.sent == []

    async with aiohttp.ClientSession() as http:
        async with http.post(fake.method_url("sendSticker"), data={"chat_id": "1"}) as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{fake.base_url}/nothing/here") as response:
            assert response.status == 404
        # JSON bodies and GET query strings work too, as on Telegram; names are case-insensitive
        async with http.post(fake.method_url("SendMessage"), json={"chat_id": CHAT, "text": "json"}) as response:
            body = await response.json()
            assert body["ok"] is True and body["result"]["text"] == "json"
        async with http.get(fake.method_url("getme")) as response:
            assert (await response.json())["result"]["username"] == "outreach_test_bot"


# --------------------------------------------------------------------------- getUpdates


async def test_get_updates_long_poll_and_offset(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0) == []
    update = fake.message_update(CHAT, "你好")
    timer = threading.Timer(0.2, fake.queue, args=(update,))
    started = time.monotonic()
    timer.start()
    try:
        got = await bot.get_updates(offset=None, timeout=2)
    finally:
        timer.join()
    elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 1.5  # woke up when the update arrived, not at the timeout
    [received] = got
    assert received.update_id == update["update_id"]
    assert received.message is not None and received.message.text == "你好"
    assert received.message.from_user is not None and received.message.from_user.language_code == "zh-hans"

    # unconfirmed: returned again; confirmed by offset = last update_id + 1
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update["update_id"]]
    assert await bot.get_updates(offset=update["update_id"] + 1, timeout=0) == []
    assert fake.pending_updates == []
    assert fake.calls_of("getUpdates")[1].params == {"timeout": 2}


async def test_get_updates_limit_negative_offset_and_allowed(fake: FakeTelegram, bot: Bot) -> None:
    updates = [fake.message_update(CHAT, f"m{i}") for i in range(3)]
    fake.queue(*updates)
    await bot.send_message(CHAT, "k", reply_markup=keyboard(("x", "x")))
    press = fake.callback_update(CHAT, "x")
    fake.queue(press)

    assert [u.update_id for u in await bot.get_updates(limit=2)] == [u["update_id"] for u in updates[:2]]
    only_callbacks = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.update_id for u in only_callbacks] == [press["update_id"]]
    last = await bot.get_updates(offset=-1)
    assert [u.update_id for u in last] == [press["update_id"]]
    assert [u["update_id"] for u in fake.pending_updates] == [press["update_id"]]


async def test_set_webhook_terminates_a_pending_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    async with (  # another process sets the webhook
        aiohttp.ClientSession() as http,
        http.post(fake.method_url("setWebhook"), data={"url": "https://bot.example.org/hook"}) as answer,
    ):
        assert (await answer.json())["description"] == "Webhook was set"
    with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
        await poll


async def test_dispatcher_polling_end_to_end(fake: FakeTelegram, bot: Bot) -> None:
    def build_router() -> Router:
        router = Router()

        @router.message(CommandStart())
        async def start(message: Message) -> None:
            await message.answer(f"欢迎, {message.from_user.first_name if message.from_user else '?'}!")

        @router.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(f"echo: {message.text}", reply_markup=keyboard(("OK", "ok")))

        @router.callback_query(F.data == "ok")
        async def pressed(query: CallbackQuery) -> None:
            await query.answer("好的")
            if isinstance(query.message, Message):
                await query.message.edit_reply_markup(reply_markup=None)

        return router

    dp = Dispatcher()
    dp.include_router(build_router())
    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    try:
        fake.queue(fake.message_update(CHAT, "/start", first_name="Wei"))
        [welcome] = await fake.wait_for_sent_async(1, chat_id=CHAT)
        assert welcome["text"] == "欢迎, Wei!"

        fake.queue(fake.message_update(CHAT, "你好"))
        _, echo = await fake.wait_for_sent_async(2, chat_id=CHAT)
        assert echo["text"] == "echo: 你好" and echo["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok"

        fake.queue(fake.callback_update(CHAT, "ok"))
        deadline = time.monotonic() + 5
        while not fake.calls_of("editMessageReplyMarkup") and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        [answer] = fake.calls_of("answerCallbackQuery")
        assert answer.ok and answer.params["text"] == "好的"
        assert "reply_markup" not in fake.sent_to(CHAT)[1]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)

    first_poll = fake.calls_of("getUpdates")[0].params
    assert first_poll["timeout"] == 1
    assert sorted(first_poll["allowed_updates"]) == ["callback_query", "message"]
    assert fake.calls[0].method == "getMe"


# --------------------------------------------------------------------------- delivering to a webhook


class Receiver:
    """A tiny aiohttp app on the test's loop recording what it receives."""

    def __init__(self, answer: web.StreamResponse | None = None) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.answer = answer
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        if request.headers.get(SECRET_HEADER) != "expected-secret":
            return web.Response(status=403)
        return self.answer or web.Response(text="")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/telegram/webhook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/telegram/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_post_update_sends_the_secret_header(fake: FakeTelegram) -> None:
    update = fake.message_update(CHAT, "你好")
    async with Receiver() as receiver:
        assert await fake.post_update_async(receiver.url, update, secret="expected-secret") == 200
        assert await fake.post_update_async(receiver.url, update) == 403
        assert await fake.post_update_async(receiver.url, update, secret="wrong") == 403
    assert receiver.received == [(update, "expected-secret"), (update, None), (update, "wrong")]
    assert [(d.status, d.secret, d.reply) for d in fake.deliveries] == [
        (200, "expected-secret", None),
        (403, None, None),
        (403, "wrong", None),
    ]


async def test_webhook_reply_method_is_executed(fake: FakeTelegram, bot: Bot) -> None:
    answer = web.json_response({"method": "sendMessage", "chat_id": CHAT, "text": "来自 webhook"})
    async with Receiver(answer) as receiver:
        await bot.set_webhook(receiver.url, secret_token="expected-secret")
        assert await fake.deliver_async(fake.message_update(CHAT, "hi")) == 200
    [call] = fake.calls_of("sendMessage")
    assert (call.via, call.params) == ("webhook", {"chat_id": CHAT, "text": "来自 webhook"})
    assert [m["text"] for m in fake.sent] == ["来自 webhook"]


async def test_aiogram_webhook_handler_end_to_end(fake: FakeTelegram, bot: Bot) -> None:
    """aiogram's SimpleRequestHandler checks the secret and answers with the method the
    handler returned (multipart); the fake executes it as Telegram does."""
    router = Router()

    @router.message(Command("help"))
    async def help_(message: Message) -> SendMessage:
        return message.answer("帮助")

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="hook-secret", handle_in_background=False).register(app, "/hook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="hook-secret")
        assert await fake.deliver_async(fake.message_update(CHAT, "/help")) == 200
        assert await fake.post_update_async(f"http://127.0.0.1:{port}/hook", fake.message_update(CHAT, "/help")) == 401
    finally:
        await runner.cleanup()
    [reply] = fake.sent_to(CHAT)
    assert reply["text"] == "帮助"
    assert fake.calls_of("sendMessage")[0].via == "webhook"
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"


class ThreadedReceiver:
    """An http.server receiver in its own thread, for the sync ``post_update``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None, str | None]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append((body, self.headers.get(SECRET_HEADER), self.headers.get("Content-Type")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), name="ThreadedReceiver")
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def test_sync_post_update(fake: FakeTelegram) -> None:
    update = fake.message_update(CHAT, "sync")
    with ThreadedReceiver() as receiver:
        assert fake.post_update(receiver.url, update, secret="abc") == 200
    assert receiver.received == [(update, "abc", "application/json")]


# --------------------------------------------------------------------------- lifecycle


def test_reset_and_wait_for_sent(fake: FakeTelegram) -> None:
    fake.inject("getMe", Fault.server_error())
    fake.block(CHAT)
    fake.queue(fake.message_update(CHAT, "x"))
    fake.reset()
    assert fake.calls == [] and fake.sent == [] and fake.pending_updates == [] and fake.webhook is None
    assert fake.pending_faults("getMe") == []

    def later() -> None:
        time.sleep(0.1)
        with aiohttp_free_post(fake.method_url("sendMessage"), {"chat_id": str(CHAT), "text": "bg"}):
            pass

    sender = threading.Thread(target=later)
    sender.start()
    [message] = fake.wait_for_sent(1, chat_id=CHAT, timeout=5)
    sender.join()
    assert message["text"] == "bg"
    with pytest.raises(TimeoutError):
        fake.wait_for_sent(2, timeout=0.05)


def aiohttp_free_post(url: str, form: dict[str, str]) -> Any:
    """A plain urllib POST (no event loop), for a sender in a background thread."""
    import urllib.parse
    import urllib.request

    return urllib.request.urlopen(url, data=urllib.parse.urlencode(form).encode(), timeout=5)


def test_lifecycle_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    fake = FakeTelegram(bot_username="other_bot")
    with pytest.raises(RuntimeError):
        fake.base_url  # noqa: B018 - not started
    with fake:
        assert fake.running and fake.base_url.startswith("http://127.0.0.1:")
        # a long poll pending on the server must not hold stop() up
        poller = threading.Thread(
            target=lambda: aiohttp_free_post(fake.method_url("getUpdates"), {"timeout": "30"}).read()
        )
        poller.start()
        while not fake._poller:  # wait until the poll is parked
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    poller.join(5)
    fake.stop()  # idempotent
    assert not fake.running
    assert set(threading.enumerate()) - before == set()


def test_token_must_look_like_a_token() -> None:
    with pytest.raises(ValueError):
        FakeTelegram("not-a-token")
