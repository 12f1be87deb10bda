"""A fake Telegram Bot API server for tests, speaking the Bot API wire format on 127.0.0.1.

Point the real aiogram ``Bot`` at it and it answers ``{base_url}/bot{token}/{method}``
as Telegram does::

    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))

Requests may be form-urlencoded, multipart (what aiogram sends), JSON or a query string;
nested objects (``reply_markup``, ``commands``, ``scope``, ``allowed_updates``) arrive as
JSON strings and are decoded before they are recorded. Answers are ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error_code": N, "description": "...", "parameters":
{...}}`` with Telegram's status codes and wording, so aiogram raises the same exceptions
it raises against Telegram. Method names are case-insensitive, as on Telegram.

Tests can queue faults per method (429 with ``retry_after``, 403, 500, 400, a slow answer,
a dropped connection), block chats, read back every call and every message the bot sent,
build updates as Telegram would (messages, /commands, button presses, shared contacts)
and deliver them through ``getUpdates`` (long polling, offsets, 409 conflicts) or by
POSTing them to the app's webhook with the secret-token header. A webhook answer that
carries a method (aiogram's "reply into webhook") is executed, as Telegram does.

The server runs in its own thread with its own event loop, so it works the same from
sync tests and from async tests on any pytest-asyncio loop scope.

Deviations from Telegram worth knowing:

* webhook URLs may be plain ``http://`` on any port (Telegram wants HTTPS on 443, 80, 88
  or 8443), and the fake never pushes updates by itself: call ``post_update``/``deliver``;
* only private chats are modelled; any chat id is accepted (Telegram answers "chat not
  found" for users who never started the bot);
* ``parse_mode="HTML"`` is parsed like Telegram (tags become entities, errors are 400
  "can't parse entities"); ``MarkdownV2``/``Markdown`` text is kept as sent, unparsed and
  unchecked; URLs, mentions and commands in the bot's text are not auto-detected;
* faults are consumed by the next authorised request to that method before its
  parameters are looked at; the update_id counter survives ``reset()``;
* error wording for command and language-code validation is approximate.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from tests.fakes.base import ThreadedServer

__all__ = [
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "Call",
    "Delivery",
    "FakeTelegram",
    "Fault",
    "TelegramError",
    "parse_html",
    "utf16_len",
]

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64  # bytes

FaultKind = Literal["error", "timeout", "drop", "accept_then_drop"]
Json = dict[str, Any]


# Parameters that are strings on the wire and must not be JSON-decoded ("123" stays "123").
_STRING_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "data",
        "description",
        "emoji",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "phone_number",
        "query",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
        "vcard",
    }
)
_DEFAULT_UPDATE_TYPES_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_BOT_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- public types


class TelegramError(Exception):
    """A Bot API error answer; raised by the method implementations."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour for one method, consumed FIFO by the next authorised
    request to that method (see ``FakeTelegram.inject``)."""

    kind: FaultKind
    status: int = 0
    description: str = ""
    parameters: Json | None = None
    seconds: float = 0.0
    accept: bool = False

    @classmethod
    def retry_after(cls, seconds: int) -> Fault:
        """429 flood control; aiogram raises ``TelegramRetryAfter(.retry_after=seconds)``."""
        seconds = int(seconds)  # an integer on the wire, as Telegram sends it
        return cls(
            "error",
            status=429,
            description=f"Too Many Requests: retry after {seconds}",
            parameters={"retry_after": seconds},
        )

    @classmethod
    def forbidden(cls, description: str = "bot was blocked by the user") -> Fault:
        """403; aiogram raises ``TelegramForbiddenError``."""
        return cls("error", status=403, description=_prefixed("Forbidden", description))

    @classmethod
    def server_error(cls, status: int = 500, description: str = "Internal Server Error") -> Fault:
        """5xx; aiogram raises ``TelegramServerError`` (``RestartingTelegram`` when the
        description mentions "restart")."""
        return cls("error", status=status, description=description)

    @classmethod
    def bad_request(cls, description: str) -> Fault:
        """400; aiogram raises ``TelegramBadRequest``. "Bad Request: " is prefixed unless
        already there."""
        return cls("error", status=400, description=_prefixed("Bad Request", description))

    @classmethod
    def error(cls, status: int, description: str, parameters: Json | None = None) -> Fault:
        """Any other answer, e.g. ``Fault.error(400, "Bad Request: chat not found")``."""
        return cls("error", status=status, description=description, parameters=parameters)

    @classmethod
    def timeout(cls, seconds: float, *, accept: bool = False) -> Fault:
        """Answer only after ``seconds`` (cut short when the fake stops). With
        ``accept=True`` the call takes effect first and the late answer is its normal
        result; without, nothing happens and the late answer is a 500."""
        return cls("timeout", seconds=seconds, accept=accept)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without an answer; the call has no effect."""
        return cls("drop")

    @classmethod
    def accept_then_drop(cls) -> Fault:
        """Perform the call (the message is sent), then close the connection without an
        answer: the client never learns that it worked."""
        return cls("accept_then_drop", accept=True)


def _prefixed(prefix: str, description: str) -> str:
    return description if description.startswith(f"{prefix}:") else f"{prefix}: {description}"


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake saw it. ``params`` has JSON-decoded values where
    they were JSON (numbers, booleans, reply_markup, commands...); ``status`` and
    ``response`` are what the fake answered (``response`` is None when the connection
    was dropped). ``via`` is "webhook" for a method returned in a webhook answer."""

    method: str
    params: Json
    at: float
    status: int = 200
    response: Json | None = None
    via: Literal["http", "webhook"] = "http"

    @property
    def ok(self) -> bool:
        return self.response is not None and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return None if self.response is None else self.response.get("result")


@dataclass(frozen=True)
class Delivery:
    """An update POSTed to a webhook URL, with the status the app answered and the
    method its answer carried (executed by the fake), if any."""

    url: str
    update: Json
    secret: str | None
    status: int
    reply: str | None
    at: float


# --------------------------------------------------------------------------- HTML parse mode

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ESCAPE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ATTRIBUTE = re.compile(r"""\s*([A-Za-z-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _unescape(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if named:
        return _HTML_NAMED[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def parse_html(text: str) -> tuple[str, list[Json]]:
    """Telegram's ``parse_mode=HTML``: returns the plain text and its entities (offsets in
    UTF-16 units), or raises a 400 ``TelegramError`` "can't parse entities: ..." worded
    like Telegram's. Like Telegram, a bare ``<`` is an error and an unknown ``&name;`` is
    kept as text."""
    out: list[str] = []
    position = 0  # in UTF-16 units
    stack: list[tuple[str, Json | None]] = []
    entities: list[Json] = []
    i, n = 0, len(text)

    def fail(detail: str) -> TelegramError:
        return _bad_request(f"can't parse entities: {detail}")

    def byte_offset(index: int) -> int:
        return len(text[:index].encode())

    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ESCAPE.match(text, i)
            if match is not None:
                char = _unescape(match)
                i = match.end()
            else:
                i += 1
            out.append(char)
            position += utf16_len(char)
            continue
        if char != "<":
            out.append(char)
            position += utf16_len(char)
            i += 1
            continue
        start = i
        if text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise fail(f"Unclosed end tag at byte offset {byte_offset(start)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte_offset(start)}")
            open_name, entity = stack.pop()
            if name != open_name:
                raise fail(
                    f'Unmatched end tag at byte offset {byte_offset(start)}, '
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            if entity is not None:
                entity["length"] = position - entity["offset"]
                if entity["length"] > 0:
                    entities.append(entity)
            i = end + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] not in "<>":
            j += 1
        name = text[i + 1 : j].lower().removesuffix("/")
        if name not in _HTML_ENTITY_TYPES:
            raise fail(f'Unsupported start tag "{name}" at byte offset {byte_offset(start)}')
        attributes: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(start)}")
            if text[j] == ">":
                break
            match = _HTML_ATTRIBUTE.match(text, j)
            if match is None or match.end() == j:
                raise fail(f'Expected equal sign in declaration of an attribute of the tag "{name}" at byte offset {byte_offset(start)}')
            key = match.group(1).lower()
            value = next((v for v in match.group(2, 3, 4) if v is not None), "")
            attributes[key] = _HTML_ESCAPE.sub(_unescape, value)
            j = match.end()
        i = j + 1
        kind = _HTML_ENTITY_TYPES[name]
        entity: Json | None = {"type": kind, "offset": position, "length": 0}
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(start)}')
        if name == "a":
            href = attributes.get("href", "")
            if href.startswith("tg://user?id="):
                entity = {"type": "text_mention", "offset": position, "length": 0,
                          "user": {"id": int(href.split("=", 1)[1] or 0), "is_bot": False, "first_name": ""}}
            elif href:
                entity["url"] = href
            else:
                entity = None
        elif name == "tg-emoji":
            if "emoji-id" not in attributes:
                raise fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(start)}')
            entity["custom_emoji_id"] = attributes["emoji-id"]
        elif name == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif name == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] is not None:
            language = attributes.get("class", "")
            if language.startswith("language-"):
                stack[-1][1]["language"] = language[len("language-") :]
                entity = None  # <pre><code class="language-x"> is one pre entity
        stack.append((name, entity))
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


# --------------------------------------------------------------------------- the fake


class FakeTelegram(ThreadedServer):
    """A fake Telegram Bot API on 127.0.0.1 in its own thread. See the module docstring.

    >>> with FakeTelegram() as fake:
    ...     bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    """

    name = "FakeTelegram"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "outreach_test_bot",
        bot_first_name: str = "Outreach",
        host: str = "127.0.0.1",
        webhook_timeout: float = 10.0,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like '123456:ABC-def'")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        super().__init__(host)
        self.webhook_timeout = webhook_timeout

        self._lock = threading.Condition(threading.RLock())
        self._update_ids = itertools.count(700_000_001)  # never reset: offsets stay valid
        self._callback_ids = itertools.count(4_611_686_018_427_387_904)
        self._calls: list[Call] = []
        self._messages: dict[tuple[int, int], Json] = {}  # (chat_id, message_id) -> message
        self._bot_messages: set[tuple[int, int]] = set()
        self._sent: list[Json] = []  # the same dicts as in _messages: edits show
        self._next_message_id: dict[int, int] = {}
        self._last_sent: dict[int, int] = {}  # chat_id -> message_id
        self._users: dict[int, Json] = {}
        self._keyboards: dict[int, Json] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._blocked: set[int] = set()
        self._webhook: Json | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._commands: dict[tuple[str, str], list[Json]] = {}
        self._updates: list[Json] = []
        self._callback_queries: set[str] = set()
        self._deliveries: list[Delivery] = []
        self._poll_seq = 0
        self._poller: int | None = None
        self._poll_kills: dict[int, str] = {}

        self._changed: asyncio.Event | None = None
        self._stopping = False
        #: seconds sendMessage takes to answer, after the message exists (a slow Bot API:
        #: a client that dies meanwhile never learns that its message went out)
        self.latency = 0.0

        self._methods = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getUpdates": None,  # async, see _get_updates
        }
        self._canonical = {name.lower(): name for name in self._methods}

    # ------------------------------------------------------------------ lifecycle

    def method_url(self, method: str) -> str:
        """``{base_url}/bot{token}/{method}``, for raw HTTP requests."""
        return f"{self.base_url}/bot{self.token}/{method}"

    def reset(self) -> None:
        """Forget calls, messages, faults, blocks, the webhook, commands, queued updates,
        callback queries and deliveries. update_ids keep increasing."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._bot_messages.clear()
            self._sent.clear()
            self._next_message_id.clear()
            self._last_sent.clear()
            self._users.clear()
            self._keyboards.clear()
            self._faults.clear()
            self._blocked.clear()
            self._webhook = None
            self._webhook_error = None
            self._commands.clear()
            self._updates.clear()
            self._callback_queries.clear()
            self._deliveries.clear()
            self.latency = 0.0
        self._wake()

    # ------------------------------------------------------------------ scripting & inspection

    @property
    def me(self) -> Json:
        """The bot's User, as getMe returns it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for ``method`` (case-insensitive); each is consumed by one
        authorised request to it, FIFO."""
        name = self._canonical.get(method.lower(), method)
        with self._lock:
            self._faults.setdefault(name.lower(), deque()).extend(faults)

    def pending_faults(self, method: str) -> list[Fault]:
        with self._lock:
            return list(self._faults.get(method.lower(), ()))

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: every send/edit/copy/forward to that chat answers 403
        "Forbidden: bot was blocked by the user" until ``unblock``."""
        with self._lock:
            self._blocked.add(int(chat_id))

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.discard(int(chat_id))

    @property
    def calls(self) -> list[Call]:
        """Every request, in the order answered (a long poll is recorded when it returns)."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        lowered = method.lower()
        with self._lock:
            return [c for c in self._calls if c.method.lower() == lowered]

    @property
    def sent(self) -> list[Json]:
        """Messages the bot sent (sendMessage results) in order, as they are now: edits
        show (with ``edit_date``). Copies: mutate freely."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def sent_to(self, chat_id: int) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._sent if m["chat"]["id"] == chat_id]

    def message(self, chat_id: int, message_id: int) -> Json | None:
        """A message (the bot's or a user's) as it is now; None when unknown or deleted."""
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found is not None else None

    def reply_keyboard(self, chat_id: int) -> Json | None:
        """The custom (reply) keyboard the chat shows, from the last ReplyKeyboardMarkup
        the bot sent there, until a ReplyKeyboardRemove. Telegram does not echo these in
        Message.reply_markup (only inline keyboards), so they live here."""
        with self._lock:
            found = self._keyboards.get(chat_id)
            return copy.deepcopy(found) if found is not None else None

    def wait_for_sent(self, count: int, *, chat_id: int | None = None, timeout: float = 5.0) -> list[Json]:
        """Block until the bot sent at least ``count`` messages (to ``chat_id``); raises
        TimeoutError otherwise. Don't call it on the loop the bot runs on: use
        ``wait_for_sent_async`` there."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._sent_matching(chat_id)) >= count, timeout):
                raise TimeoutError(f"{len(self._sent_matching(chat_id))} messages sent, expected {count}")
            return copy.deepcopy(self._sent_matching(chat_id))

    async def wait_for_sent_async(
        self, count: int, *, chat_id: int | None = None, timeout: float = 5.0
    ) -> list[Json]:
        """``wait_for_sent`` that keeps the caller's loop running."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                matching = self._sent_matching(chat_id)
                if len(matching) >= count:
                    return copy.deepcopy(matching)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(matching)} messages sent, expected {count}")
            await asyncio.sleep(0.01)

    def _sent_matching(self, chat_id: int | None) -> list[Json]:
        return [m for m in self._sent if chat_id is None or m["chat"]["id"] == chat_id]

    @property
    def webhook(self) -> Json | None:
        """The last setWebhook's parameters (url, secret_token, allowed_updates,
        max_connections, ip_address, drop_pending_updates as given), or None."""
        with self._lock:
            return copy.deepcopy(self._webhook)

    @property
    def commands(self) -> dict[str, list[Json]]:
        """Default-scope commands by language code ("" = all languages)."""
        with self._lock:
            return {lang: copy.deepcopy(cmds) for (scope, lang), cmds in self._commands.items() if scope == "default"}

    def commands_for(self, language_code: str = "", scope: Json | None = None) -> list[Json] | None:
        """Commands set for exactly this scope and language code, or None."""
        with self._lock:
            found = self._commands.get((_scope_key(scope), language_code))
            return copy.deepcopy(found) if found is not None else None

    @property
    def pending_updates(self) -> list[Json]:
        """Queued updates not yet confirmed through getUpdates' offset."""
        with self._lock:
            return copy.deepcopy(self._updates)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    # ------------------------------------------------------------------ building updates

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        language_code: str | None = "zh-hans",
        first_name: str = "Li",
        last_name: str | None = None,
        username: str | None = None,
        entities: list[Json] | None = None,
    ) -> Json:
        """An Update with a user's text message in the private chat ``chat_id``. A text
        starting with a /command gets its ``bot_command`` entity, as Telegram adds it."""
        if entities is None:
            match = _BOT_COMMAND.match(text)
            entities = [{"offset": 0, "length": utf16_len(match.group()), "type": "bot_command"}] if match else []
        message = self._user_message(chat_id, language_code, first_name, last_name, username)
        message["text"] = text
        if entities:
            message["entities"] = entities
        return self._update("message", message)

    def group_message_update(self, chat_id: int, user_id: int, text: str, *,
                             language_code: str | None = "en") -> Json:
        """An Update with a member's text message in the group ``chat_id`` (negative; one
        starting with -100 is a supergroup)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        with self._lock:
            message: Json = {
                "message_id": self._new_message_id(chat_id),
                "from": self._user(user_id, language_code, "Li", None, None),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": text,
            }
            self._messages[(chat_id, message["message_id"])] = message
        return self._update("message", copy.deepcopy(message))

    def channel_post_update(self, chat_id: int, text: str) -> Json:
        """An Update with a post in the channel ``chat_id`` (no sender, as Telegram sends it)."""
        with self._lock:
            message: Json = {
                "message_id": self._new_message_id(chat_id),
                "chat": {"id": chat_id, "title": "Test channel", "type": "channel"},
                "date": int(time.time()),
                "text": text,
            }
        return self._update("channel_post", message)

    def contact_update(
        self,
        chat_id: int,
        phone_number: str,
        *,
        language_code: str | None = "zh-hans",
        first_name: str = "Li",
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> Json:
        """An Update with a shared contact, as a ``request_contact`` button sends it (the
        user's own: ``user_id`` defaults to ``chat_id``). Note that Telegram clients often
        send the number without its leading "+"; pass it the way you want to test."""
        message = self._user_message(chat_id, language_code, first_name, last_name, None)
        contact: Json = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        contact["user_id"] = chat_id if user_id is None else user_id
        message["contact"] = contact
        return self._update("message", message)

    def callback_update(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        language_code: str | None = "zh-hans",
        first_name: str | None = None,
        check: bool = True,
    ) -> Json:
        """An Update with a callback_query: the user pressed an inline button with
        ``data`` on the bot's message ``message_id`` (default: the last message the bot
        sent to the chat). With ``check``, a known message must carry a button with that
        callback_data (ValueError otherwise), as only existing buttons can be pressed.
        The query id is registered: answerCallbackQuery accepts it once. ``first_name``
        defaults to the name the chat's user last wrote with (else "Li")."""
        with self._lock:
            if first_name is None:
                first_name = str(self._users.get(chat_id, {}).get("first_name", "Li"))
            if message_id is None:
                message_id = self._last_sent.get(chat_id)
            message: Json | None = None
            if message_id is not None:
                stored = self._messages.get((chat_id, message_id))
                if stored is not None:
                    message = copy.deepcopy(stored)
                else:  # deleted or never seen: Telegram sends an InaccessibleMessage
                    message = {"chat": self._chat(chat_id), "message_id": message_id, "date": 0}
            if check and message is not None and "reply_markup" in message:
                buttons = [
                    b.get("callback_data")
                    for row in message["reply_markup"].get("inline_keyboard", [])
                    for b in row
                    if "callback_data" in b
                ]
                if data not in buttons:
                    raise ValueError(
                        f"message {message_id} in chat {chat_id} has no button with callback_data "
                        f"{data!r} (it has {buttons}); pass check=False to press it anyway"
                    )
            query_id = str(next(self._callback_ids))
            self._callback_queries.add(query_id)
            query: Json = {
                "id": query_id,
                "from": self._user(chat_id, language_code, first_name, None, None),
            }
            if message is not None:
                query["message"] = message
            query["chat_instance"] = str(-((chat_id * 2_654_435_761) % 9_000_000_000_000_000_000))
            query["data"] = data
            return self._update("callback_query", query)

    def queue(self, *updates: Json) -> None:
        """Queue updates for getUpdates (wakes a pending long poll)."""
        with self._lock:
            self._updates.extend(copy.deepcopy(u) for u in updates)
        self._wake()

    def _update(self, kind: str, payload: Json) -> Json:
        return {"update_id": next(self._update_ids), kind: payload}

    def _user(
        self, user_id: int, language_code: str | None, first_name: str, last_name: str | None, username: str | None
    ) -> Json:
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _user_message(
        self, chat_id: int, language_code: str | None, first_name: str, last_name: str | None, username: str | None
    ) -> Json:
        with self._lock:
            self._users[chat_id] = {
                k: v for k, v in (("first_name", first_name), ("last_name", last_name), ("username", username)) if v
            }
            message: Json = {
                "message_id": self._new_message_id(chat_id),
                "from": self._user(chat_id, language_code, first_name, last_name, username),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
            }
            self._messages[(chat_id, message["message_id"])] = message
            return copy.deepcopy(message)

    def _chat(self, chat_id: int) -> Json:
        if chat_id < 0:
            return {"id": chat_id, "title": "Test group", "type": "supergroup" if str(chat_id).startswith("-100") else "group"}
        return {"id": chat_id, **self._users.get(chat_id, {"first_name": "Li"}), "type": "private"}

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    # ------------------------------------------------------------------ webhooks

    def post_update(self, url: str, update: Json, secret: str | None = None) -> int:
        """POST the update as JSON to ``url`` (with the secret-token header when
        ``secret`` is given) and block until the app answered; returns its HTTP status.
        A method in a 2xx answer is executed. In an async test whose app runs on the
        test's own loop, use ``post_update_async`` (blocking that loop stalls the app)."""
        return self._submit(self._post_update(url, update, secret)).result()

    async def post_update_async(self, url: str, update: Json, secret: str | None = None) -> int:
        """``post_update`` for async tests: the request runs on the fake's loop while the
        caller's loop stays free to serve it."""
        return await asyncio.wrap_future(self._submit(self._post_update(url, update, secret)))

    def deliver(self, update: Json) -> int:
        """``post_update`` to the webhook set with setWebhook, with its secret token."""
        url, secret = self._webhook_target()
        return self.post_update(url, update, secret)

    async def deliver_async(self, update: Json) -> int:
        url, secret = self._webhook_target()
        return await self.post_update_async(url, update, secret)

    def _webhook_target(self) -> tuple[str, str | None]:
        with self._lock:
            if self._webhook is None:
                raise RuntimeError("no webhook is set (setWebhook was not called)")
            return self._webhook["url"], self._webhook.get("secret_token")

    async def _post_update(self, url: str, update: Json, secret: str | None) -> int:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        reply: tuple[str, Json] | None = None
        try:
            async with self._session.post(url, data=json.dumps(update, ensure_ascii=False).encode(), headers=headers) as response:
                status, reason = response.status, response.reason or ""
                if 200 <= status < 300:
                    reply = await _webhook_reply(response)
                else:
                    await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._note_webhook_error(url, str(exc) or type(exc).__name__)
            raise
        if not 200 <= status < 300:
            self._note_webhook_error(url, f"Wrong response from the webhook: {status} {reason}".strip())
        if reply is not None:
            method, params = reply
            await self._execute(method, params, via="webhook", at=time.time())
        with self._lock:
            self._deliveries.append(
                Delivery(url=url, update=copy.deepcopy(update), secret=secret, status=status,
                         reply=reply[0] if reply else None, at=time.time())
            )
            self._lock.notify_all()
        return status

    def _note_webhook_error(self, url: str, message: str) -> None:
        with self._lock:
            if self._webhook is not None and self._webhook["url"] == url:
                self._webhook_error = (int(time.time()), message)

    # ------------------------------------------------------------------ server thread

    async def _startup(self) -> None:
        self._stopping = False
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        await self._listen(web.AppRunner(app, access_log=None, shutdown_timeout=1.0))
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.webhook_timeout))

    async def _shutdown(self) -> None:
        self._stopping = True
        self._rotate()  # long polls answer at once
        await self._close()

    def _wake(self) -> None:
        """Wake long polls (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        if threading.current_thread() is self._thread:
            self._rotate()
            return
        try:
            loop.call_soon_threadsafe(self._rotate)
        except RuntimeError:  # loop closed while stopping
            pass

    def _rotate(self) -> None:
        old, self._changed = self._changed, asyncio.Event()
        if old is not None:
            old.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short when the fake stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            assert self._changed is not None
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return

    # ------------------------------------------------------------------ HTTP

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = time.time()
        given = request.match_info["method"]
        method = self._canonical.get(given.lower(), given)
        try:
            params = await _request_params(request)
        except ValueError as exc:
            params = {}
            error: TelegramError | None = _bad_request(str(exc))
        else:
            error = None
        if not hmac.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            error = TelegramError(401, "Unauthorized")
        elif method not in self._methods:
            error = TelegramError(404, "Not Found")
        if error is not None:
            self._record(Call(method, params, at, error.status, error.body()))
            return web.json_response(error.body(), status=error.status)

        with self._lock:
            faults = self._faults.get(method.lower())
            fault = faults.popleft() if faults else None

        if fault is None:
            status, body = await self._execute(method, params, via="http", at=at)
            if self.latency and method == "sendMessage":
                await asyncio.sleep(self.latency)
            return web.json_response(body, status=status)
        if fault.kind == "error":
            failure = TelegramError(fault.status, fault.description, fault.parameters)
            self._record(Call(method, params, at, failure.status, failure.body()))
            return web.json_response(failure.body(), status=failure.status)
        if fault.kind == "timeout":
            if fault.accept:
                status, body = await self._execute(method, params, via="http", at=at)
            else:
                late = TelegramError(500, "Internal Server Error")
                status, body = late.status, late.body()
                self._record(Call(method, params, at, status, body))
            await self._sleep(fault.seconds)
            return web.json_response(body, status=status)
        # drop / accept_then_drop: the client never hears an answer
        if fault.accept:
            await self._execute(method, params, via="http", at=at, record=False)
        self._record(Call(method, params, at, 0, None))
        if request.transport is not None:
            request.transport.close()
        # Writing to the closed transport fails quietly: no byte of this goes out.
        return web.Response(status=200)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._lock.notify_all()

    async def _execute(
        self, method: str, params: Json, *, via: Literal["http", "webhook"], at: float, record: bool = True
    ) -> tuple[int, Json]:
        """Run one Bot API method; returns (HTTP status, body) and records the call."""
        method = self._canonical.get(method.lower(), method)
        try:
            if method not in self._methods:
                raise TelegramError(404, "Not Found")
            self._check_blocked(method, params)
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                handler = self._methods[method]
                assert handler is not None
                result = handler(params)
        except TelegramError as exc:
            status, body = exc.status, exc.body()
        else:
            status, body = 200, {"ok": True, "result": result}
            if isinstance(result, _Described):
                body = {"ok": True, "result": result.result, "description": result.description}
        if record:
            self._record(Call(method, params, at, status, copy.deepcopy(body), via))
        return status, body

    def _check_blocked(self, method: str, params: Json) -> None:
        if not method.startswith(("send", "edit", "copy", "forward")) or "chat_id" not in params:
            return
        with self._lock:
            try:
                blocked = _chat_id(params["chat_id"]) in self._blocked
            except TelegramError:
                return
        if blocked:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")

    # ------------------------------------------------------------------ methods

    def _get_me(self, params: Json) -> Json:
        return self.me

    def _send_message(self, params: Json) -> Json:
        chat_id = _chat_id(params.get("chat_id"))
        text, entities = _message_text(params)
        markup = params.get("reply_markup")
        inline = _check_markup(markup)
        with self._lock:
            message: Json = {
                "message_id": self._new_message_id(chat_id),
                "from": self._bot_user(),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
            }
            reply_to = _reply_to(params)
            if reply_to is not None and (original := self._messages.get((chat_id, reply_to))) is not None:
                message["reply_to_message"] = {k: v for k, v in copy.deepcopy(original).items() if k != "reply_to_message"}
            message["text"] = text
            if entities:
                message["entities"] = entities
            if inline is not None:
                message["reply_markup"] = inline
            if isinstance(markup, dict):
                if "keyboard" in markup:
                    self._keyboards[chat_id] = copy.deepcopy(markup)
                elif markup.get("remove_keyboard"):
                    self._keyboards.pop(chat_id, None)
            key = (chat_id, message["message_id"])
            self._messages[key] = message
            self._bot_messages.add(key)
            self._sent.append(message)
            self._last_sent[chat_id] = message["message_id"]
            self._lock.notify_all()
            return copy.deepcopy(message)

    def _bot_user(self) -> Json:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    def _editable(self, params: Json) -> Json | None:
        """The bot's message the edit targets; None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat_id = _chat_id(params.get("chat_id"))
        if params.get("message_id") in (None, ""):
            raise _bad_request("message identifier is not specified")
        key = (chat_id, _int(params["message_id"], "message_id"))
        message = self._messages.get(key)
        if message is None:
            raise _bad_request("message to edit not found")
        if key not in self._bot_messages:
            raise _bad_request("message can't be edited")
        return message

    def _edit(self, message: Json, text: str, entities: list[Json], inline: Json | None) -> Json:
        unchanged = (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == inline
        )
        if unchanged:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        message["text"] = text
        if entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        if inline is not None:
            message["reply_markup"] = inline
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self._lock.notify_all()
        return copy.deepcopy(message)

    def _edit_message_text(self, params: Json) -> Json | bool:
        text, entities = _message_text(params)
        inline = _check_markup(params.get("reply_markup"))
        with self._lock:
            message = self._editable(params)
            if message is None:
                return True
            # Without reply_markup the inline keyboard goes away, as on Telegram.
            return self._edit(message, text, entities, inline)

    def _edit_message_reply_markup(self, params: Json) -> Json | bool:
        inline = _check_markup(params.get("reply_markup"))
        with self._lock:
            message = self._editable(params)
            if message is None:
                return True
            return self._edit(message, message.get("text", ""), message.get("entities", []), inline)

    def _delete_message(self, params: Json) -> bool:
        chat_id = _chat_id(params.get("chat_id"))
        key = (chat_id, _int(params.get("message_id"), "message_id"))
        with self._lock:
            if self._messages.pop(key, None) is None:
                raise _bad_request("message to delete not found")
            self._bot_messages.discard(key)
        return True

    def _send_chat_action(self, params: Json) -> bool:
        _chat_id(params.get("chat_id"))
        if not params.get("action"):
            raise _bad_request("action is empty")
        return True

    def _answer_callback_query(self, params: Json) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if len(str(params.get("text") or "")) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        with self._lock:
            if query_id not in self._callback_queries:
                raise _bad_request("query is too old and response timeout expired or query ID is invalid")
            self._callback_queries.discard(query_id)
        return True

    def _set_webhook(self, params: Json) -> _Described:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if not url.startswith(("https://", "http://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections")
        if max_connections is not None and not 1 <= _int(max_connections, "max_connections") <= 100:
            raise _bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise _bad_request("can't parse allowed updates")
        with self._lock:
            self._webhook = {k: copy.deepcopy(v) for k, v in params.items()}
            self._webhook_error = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if self._poller is not None:
                self._poll_kills[self._poller] = "Conflict: terminated by setWebhook request"
        self._wake()
        return _Described(True, "Webhook was set")

    def _delete_webhook(self, params: Json) -> _Described:
        with self._lock:
            existed = self._webhook is not None
            self._webhook = None
            self._webhook_error = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _get_webhook_info(self, params: Json) -> Json:
        with self._lock:
            hook = self._webhook
            info: Json = {
                "url": hook["url"] if hook else "",
                "has_custom_certificate": bool(hook and hook.get("certificate")),
                "pending_update_count": len(self._updates),
            }
            if hook is not None:
                info["ip_address"] = hook.get("ip_address") or "127.0.0.1"
                if self._webhook_error is not None:
                    info["last_error_date"], info["last_error_message"] = self._webhook_error
                info["max_connections"] = int(hook.get("max_connections") or 40)
                if hook.get("allowed_updates"):
                    info["allowed_updates"] = list(hook["allowed_updates"])
            return info

    def _set_my_commands(self, params: Json) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object" if not isinstance(commands, list) else "too many commands")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(params.get("scope")), _language(params))
        with self._lock:
            if commands:
                self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
            else:
                self._commands.pop(key, None)
        return True

    def _get_my_commands(self, params: Json) -> list[Json]:
        key = (_scope_key(params.get("scope")), _language(params))
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: Json) -> bool:
        key = (_scope_key(params.get("scope")), _language(params))
        with self._lock:
            self._commands.pop(key, None)
        return True

    async def _get_updates(self, params: Json) -> list[Json]:
        offset = _int(params.get("offset") or 0, "offset")
        limit = _int(params.get("limit") or 100, "limit")
        limit = min(max(limit, 1), 100)
        timeout = max(_int(params.get("timeout") or 0, "timeout"), 0)
        allowed = params.get("allowed_updates")
        wanted: set[str] | None = set(allowed) if isinstance(allowed, list) and allowed else None
        with self._lock:
            if self._webhook is not None:
                raise TelegramError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._confirm(offset)
            if self._poller is not None:
                self._poll_kills[self._poller] = (
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running"
                )
            self._poll_seq += 1
            me = self._poll_seq
            self._poller = me
        self._rotate()  # the poller replaced, if any, answers now
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    killed = self._poll_kills.pop(me, None)
                    if killed is not None:
                        raise TelegramError(409, killed)
                    batch = [
                        u for u in self._updates
                        if (wanted is None and not u.keys() & _DEFAULT_UPDATE_TYPES_EXCLUDED)
                        or (wanted is not None and u.keys() & wanted)
                    ][:limit]
                    left = deadline - time.monotonic()
                    if batch or left <= 0 or self._stopping:
                        return copy.deepcopy(batch)
                    changed = self._changed
                assert changed is not None
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                if self._poller == me:
                    self._poller = None
                self._poll_kills.pop(me, None)

    def _confirm(self, offset: int) -> None:
        """Telegram's offset: drop updates below a positive offset; a negative one keeps
        only the last -offset updates."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Described:
    """A result Telegram answers with a description ({"ok": true, "result": true,
    "description": "Webhook was set"})."""

    result: Any
    description: str = ""


def _decode(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _request_params(request: web.Request) -> Json:
    """Parameters from the query string and the body (JSON, urlencoded or multipart)."""
    params: Json = {k: _decode(k, v) for k, v in request.query.items()}
    if request.method not in ("POST", "PUT") or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise ValueError("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise ValueError("can't parse JSON object")
        for key, value in body.items():
            # nested objects may still come as JSON strings inside a JSON body
            if isinstance(value, str) and key not in _STRING_PARAMS and value[:1] in ("{", "["):
                value = _decode(key, value)
            params[key] = value
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            content = value.file.read()
            params[key] = {"filename": value.filename, "content_type": value.content_type, "size": len(content)}
        else:
            params[key] = _decode(key, str(value))
    return params


async def _webhook_reply(response: aiohttp.ClientResponse) -> tuple[str, Json] | None:
    """The method a webhook answer carries, as Telegram reads it (JSON, urlencoded or
    multipart with a "method" field)."""
    content_type = response.content_type
    params: Json = {}
    if content_type == "application/json":
        try:
            body = json.loads(await response.text() or "null")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params = dict(body)
    elif content_type == "application/x-www-form-urlencoded":
        params = {k: _decode(k, v) for k, v in parse_qsl(await response.text(), keep_blank_values=True)}
    elif content_type.startswith("multipart/"):
        reader = aiohttp.MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if isinstance(part, aiohttp.BodyPartReader) and part.name:
                raw = await part.read()
                if part.filename:
                    params[part.name] = {"filename": part.filename, "size": len(raw)}
                else:
                    params[part.name] = _decode(part.name, raw.decode())
    else:
        await response.read()
        return None
    method = params.pop("method", None)
    return (str(method), params) if method else None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _bad_request(f"invalid {name} specified") from None


def _chat_id(value: Any) -> int:
    if value is None or value == "":
        raise _bad_request("chat_id is empty")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _bad_request("chat not found")


def _reply_to(params: Json) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        return _int(reply["message_id"], "message_id")
    if params.get("reply_to_message_id") is not None:
        return _int(params["reply_to_message_id"], "reply_to_message_id")
    return None


def _message_text(params: Json) -> tuple[str, list[Json]]:
    raw = params.get("text")
    text = "" if raw is None else str(raw)
    parse_mode = str(params.get("parse_mode") or "")
    if parse_mode.lower() == "html":
        text, entities = parse_html(text)
    elif parse_mode and parse_mode.lower() not in ("markdown", "markdownv2"):
        raise _bad_request(f"unsupported parse_mode {parse_mode}")
    else:
        given = params.get("entities")
        entities = list(given) if isinstance(given, list) else []
    if not text.strip():
        raise _bad_request("message text is empty")
    if len(text) > TEXT_LIMIT:
        raise _bad_request("message is too long")
    return text, entities


def _check_markup(markup: Any) -> Json | None:
    """Validate reply_markup; returns it when it is an inline keyboard (the only kind
    Telegram echoes in Message.reply_markup), else None."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if not any(action in button for action in _INLINE_ACTIONS):
                raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise _bad_request("BUTTON_DATA_INVALID")
    if not any(rows):
        return None  # an empty inline keyboard removes the keyboard
    return {"inline_keyboard": copy.deepcopy(rows)}


def _scope_key(scope: Any) -> str:
    if not scope or (isinstance(scope, dict) and scope.get("type") == "default" and len(scope) == 1):
        return "default"
    return json.dumps(scope, sort_keys=True)


def _language(params: Json) -> str:
    code = str(params.get("language_code") or "")
    if code and not _LANGUAGE.match(code):
        raise _bad_request("invalid language code specified")
    return code
