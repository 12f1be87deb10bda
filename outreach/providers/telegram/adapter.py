"""Telegram: the one module that imports aiogram.

Updates arrive by webhook (``/webhooks/telegram``) or by polling (``outreach telegram
poll``); both go through one aiogram Dispatcher whose routers a factory builds, and its
handlers hand every message or button press to the channel-agnostic bot through
``TelegramInbound``. Replies go out through the outbox like every other message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiolimiter import AsyncLimiter
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.utils.token import TokenValidationError, validate_token
from pydantic import ValidationError

from outreach.outbound.models import OutboxStatus
from outreach.outbound.sender import Failure, Outgoing, SendError, SendResult
from outreach.i18n import N_, SUPPORTED_LOCALES, negotiate, translator
from outreach.settings import Settings

log = logging.getLogger(__name__)

# Bot commands as the bot engine's keywords (the engine is channel-agnostic).
COMMANDS = {"start": "START", "menu": "MENU", "book": "BOOK", "lang": "LANG", "help": "HELP",
            "stop": "STOP"}
COMMAND_HELP = {
    "menu": N_("Main menu"),
    "book": N_("Book a free checkup"),
    "lang": N_("Change language"),
    "help": N_("Help"),
    "stop": N_("Stop messages"),
}
GROUP_NOTICE = N_(
    "I only talk in private chats, so that what you ask stays between us. "
    "Write to me here: {link}"
)
DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what Telegram allows in /start payloads
MAX_TEXT = 4096  # Telegram's limit for one message


@dataclass(frozen=True)
class TelegramInput:
    """One thing a person did in Telegram, as the bot engine needs it."""

    update_id: int
    chat_id: int
    text: str
    language_code: str | None = None
    payload: str | None = None  # the /start deep-link code (community or campaign)
    callback_id: str | None = None  # a pressed button, to be answered
    callback_message_id: int | None = None
    # False in groups, supergroups and channels: the bot converses only in private chats.
    private: bool = True


Handler = Callable[[TelegramInput], Awaitable[object]]


def build_router(handle: Handler) -> Router:
    """The handlers. A Router attaches to one Dispatcher only, so each call builds new ones."""
    router = Router(name="outreach")

    @router.message()
    @router.channel_post()
    async def on_message(message: Message, event_update: Update) -> None:
        user = message.from_user
        if message.chat.type != "private":
            # Nothing of what was said is kept: only that this chat was told where to talk.
            await handle(TelegramInput(update_id=event_update.update_id, chat_id=message.chat.id,
                                       text="", private=False,
                                       language_code=user.language_code if user else None))
            return
        text = message.text or message.caption or ""
        if message.contact is not None:
            # A shared contact: its number, as if typed (linking a phone).
            text = message.contact.phone_number
        payload = None
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            command = command.split("@", 1)[0].lower()
            if command == "start" and DEEP_LINK.match(rest.strip()):
                payload = rest.strip()
            text = COMMANDS.get(command, text)
        await handle(
            TelegramInput(
                update_id=event_update.update_id,
                chat_id=message.chat.id,
                text=text,
                language_code=user.language_code if user else None,
                payload=payload,
            )
        )

    @router.callback_query()
    async def on_button(query: CallbackQuery, event_update: Update) -> None:
        message = query.message
        if message is None or not query.data or message.chat.type != "private":
            await query.answer()  # a group has no buttons of ours
            return
        await handle(
            TelegramInput(
                update_id=event_update.update_id,
                chat_id=message.chat.id,
                text=query.data,
                language_code=query.from_user.language_code,
                callback_id=query.id,
                callback_message_id=message.message_id,
            )
        )

    return router


def build_dispatcher(handle: Handler) -> Dispatcher:
    dispatcher = Dispatcher(name="outreach")
    dispatcher.include_router(build_router(handle))
    return dispatcher


class RateLimiter:
    """Telegram's limits: about 30 messages a second overall, one a second per chat.

    Two leaky buckets from ``aiolimiter`` (capacity one, so sends are spaced rather than
    burst): a send waits for its chat's bucket first, then for the bot's, so a chat that
    must wait does not hold back the others. Waiters are served in order. Flood control
    (``pause``) stops everybody until it ends.
    """

    #: Chats remembered before the idle ones are forgotten.
    MAX_CHATS = 10_000

    def __init__(self, per_second: float = 30.0, per_chat_interval: float = 1.0) -> None:
        self._global = AsyncLimiter(1, 1.0 / per_second) if per_second > 0 else None
        self.per_chat = per_chat_interval
        self._chats: dict[str, AsyncLimiter] = {}
        self._paused_until = 0.0

    async def wait(self, chat: str) -> None:
        if self.per_chat > 0:
            limiter = self._chats.get(chat)
            if limiter is None:
                if len(self._chats) >= self.MAX_CHATS:
                    self._forget_idle()
                limiter = self._chats[chat] = AsyncLimiter(1, self.per_chat)
            await limiter.acquire()
        loop = asyncio.get_running_loop()
        while (delay := self._paused_until - loop.time()) > 0:
            await asyncio.sleep(delay)
        if self._global is not None:
            await self._global.acquire()

    def pause(self, seconds: float) -> None:
        """Flood control applies to the whole bot: nobody sends before it ends."""
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    def _forget_idle(self) -> None:
        # A chat whose bucket has drained sends at once either way: forgetting it is safe.
        self._chats = {chat: lim for chat, lim in self._chats.items() if not lim.has_capacity()}


class TelegramChannel:
    channel = "telegram"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        token = settings.telegram_token
        self.problem: str | None = None
        if not token:
            self.problem = "Telegram channel off: set OUTREACH_TELEGRAM_TOKEN"
        else:
            try:
                validate_token(token)
            except TokenValidationError:
                self.problem = "Telegram channel off: OUTREACH_TELEGRAM_TOKEN is not a bot token"
        self.enabled = self.problem is None
        # Without a configured secret, derive one from the token: stable across processes.
        self.secret = settings.telegram_secret or (
            hmac.new((token or "").encode(), b"outreach-webhook", hashlib.sha256).hexdigest()[:64]
            if token
            else secrets.token_hex(32)
        )
        self.limiter = RateLimiter()
        self._bot: Bot | None = None
        self._dispatcher: Dispatcher | None = None

    @property
    def webhook_url(self) -> str | None:
        base = self.settings.public_base_url
        return base.rstrip("/") + "/webhooks/telegram" if base else None

    def bot(self) -> Bot:
        # aiohttp sessions belong to the running loop: build the bot on first use.
        if self._bot is None:
            assert self.settings.telegram_token
            session = (
                AiohttpSession(api=TelegramAPIServer.from_base(self.settings.telegram_api_base))
                if self.settings.telegram_api_base
                else AiohttpSession()
            )
            self._bot = Bot(self.settings.telegram_token, session=session)
        return self._bot

    def dispatcher(self, handle: Handler) -> Dispatcher:
        if self._dispatcher is None:
            self._dispatcher = build_dispatcher(handle)
        return self._dispatcher

    def check_secret(self, header: str | None) -> bool:
        return secrets.compare_digest((header or "").encode(), self.secret.encode())

    async def feed(self, handle: Handler, update: dict[str, Any]) -> bool:
        """One webhook update through the dispatcher (its handlers call ``handle``);
        False when the update lacks what it needs and was ignored (answering an error
        would only make Telegram deliver it again, for hours)."""
        bot = self.bot()
        try:
            parsed = Update.model_validate(update, context={"bot": bot})
        except ValidationError as exc:
            # Where and what kind, never the values: they can be what a person typed.
            where = "; ".join("{}: {}".format(".".join(str(p) for p in e["loc"]), e["type"])
                              for e in exc.errors()[:5])
            log.warning("ignored Telegram update %s: not an update we can read (%s)",
                        update.get("update_id"), where)
            return False
        await self.dispatcher(handle).feed_update(bot, parsed)
        return True

    async def setup(self, webhook: bool = True) -> None:
        """Commands in each language and, with a public URL, the webhook. A failure is
        logged, never fatal: the service keeps serving the other channels."""
        bot = self.bot()
        try:
            for locale in SUPPORTED_LOCALES:
                tr = translator(locale, self.settings.locales_dir)
                commands = [BotCommand(command=c, description=tr.gettext(d)) for c, d in COMMAND_HELP.items()]
                await bot.set_my_commands(commands, language_code=locale.split("_")[0])
                if locale == self.settings.default_locale:
                    await bot.set_my_commands(commands)
            if webhook and self.webhook_url:
                await bot.set_webhook(
                    self.webhook_url,
                    secret_token=self.secret,
                    allowed_updates=["message", "callback_query"],
                )
                log.info("Telegram webhook registered at %s", self.webhook_url)
        except Exception as exc:  # noqa: BLE001 - start-up must survive an unreachable Bot API
            # One line, not a traceback: an unreachable Bot API is an operating state.
            log.warning("Telegram set-up failed (%s: %s); the channel may not receive updates",
                        type(exc).__name__, exc)

    async def point_to_private_chat(self, chat_id: int, language_code: str | None) -> None:
        """Tell a group or channel, once, that the bot talks only in private chats (with a
        link to one). Best effort: a failure is logged, the update still handled."""
        bot = self.bot()
        locale = negotiate(language_code, self.settings.default_locale)
        tr = translator(locale, self.settings.locales_dir)
        try:
            me = await bot.me()
            text = tr.gettext(GROUP_NOTICE).format(link=f"https://t.me/{me.username}")
            await bot.send_message(chat_id, text)
        except Exception as exc:  # noqa: BLE001 - a courtesy; nothing else depends on it
            log.info("could not point chat %s to a private chat: %s", chat_id, type(exc).__name__)

    async def acknowledge(self, chat_id: int, callback_id: str, message_id: int | None) -> None:
        """Stop the button's spinner and take the old buttons off the pressed message."""
        bot = self.bot()
        try:
            await bot.answer_callback_query(callback_id)
            if message_id is not None:
                await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
        except Exception as exc:  # noqa: BLE001 - cosmetic; the reply is in the outbox
            log.info("could not acknowledge a button press: %s", type(exc).__name__)

    async def send(self, message: Outgoing) -> SendResult:
        await self.limiter.wait(message.address)
        markup = None
        if message.choices:
            markup = InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=c["label"], callback_data=c["id"][:64])]
                    for c in message.choices
                ]
            )
        try:
            sent = await self.bot().send_message(
                chat_id=int(message.address), text=message.body[:MAX_TEXT], reply_markup=markup
            )
        except TelegramRetryAfter as exc:
            self.limiter.pause(exc.retry_after)
            raise SendError(Failure.retryable, f"Telegram flood control: retry after {exc.retry_after} s",
                            429, delay=float(exc.retry_after)) from exc
        except TelegramForbiddenError as exc:
            raise SendError(Failure.opted_out, f"Telegram 403: {exc.message}", 403) from exc
        except (TelegramBadRequest, TelegramUnauthorizedError) as exc:
            raise SendError(Failure.permanent, f"Telegram: {exc.message}", 400) from exc
        except TelegramServerError as exc:
            raise SendError(Failure.retryable, f"Telegram server error: {exc.message}", 500) from exc
        except (TelegramNetworkError, TimeoutError) as exc:
            raise SendError(Failure.unknown, f"Telegram network error: {exc}") from exc
        return SendResult(sid=f"{sent.chat.id}:{sent.message_id}", status=OutboxStatus.sent)

    async def lookup(self, message: Outgoing, since: datetime) -> list[SendResult] | None:
        """The Bot API cannot list what a bot sent: an attempt whose outcome is unknown is
        sent again (the dispatcher bounds how many can be in flight)."""
        return None

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None
