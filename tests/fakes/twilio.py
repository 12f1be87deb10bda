"""A fake Twilio REST API for tests, speaking Twilio's wire format on 127.0.0.1.

Point the official SDK at it (``client.api.base_url = fake.base_url``) and it answers
``POST /2010-04-01/Accounts/{AC}/Messages.json``, its list (``GET .../Messages.json``,
filtered and paged) and ``GET .../Messages/{SM}.json`` as Twilio does: HTTP Basic auth, form-encoded requests, JSON resources and Twilio's JSON
error bodies. Tests can queue faults (opt-out, 429, 500, a slow answer, a dropped
connection after the message was created), take the whole API down for a while
(``outage(status=500)`` answers every request with Twilio's error, ``outage(hang=60)``
holds every request open without a byte of answer; ``restore()`` ends it), read back
every request, count how many were open at once (``max_in_flight``), and make the fake
send signed status callbacks to the app, as Twilio does.

The server runs in its own thread with its own event loop, so it works the same from
sync tests and from async tests on any pytest-asyncio loop scope (an aiohttp fake on
pytest's session loop can hang function-scoped tests, see the integration notes).

Deviations from Twilio worth knowing: the fake never moves a message along by itself
(call ``send_status``), never sends the initial-status callback (neither does Twilio),
and by default honours ``I-Twilio-Idempotency-Token`` on the Messages API, which real
Twilio does not: it models a provider that deduplicates retries (``honour_idempotency =
False`` models real Twilio).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import hdrs, web
from twilio.request_validator import RequestValidator

from tests.fakes.base import ThreadedServer

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "FakeTwilio",
    "Fault",
    "Outcome",
    "Recorded",
    "SentCallback",
    "StatusCallback",
    "count_segments",
    "sms_encoding",
]

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "test-token"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_LIMIT = 1600

Outcome = Literal[
    "ok",
    "duplicate",
    "unauthorized",
    "invalid",
    "opted_out",
    "too_many",
    "server_error",
    "error",
    "timeout",
    "dropped",
]
FaultKind = Literal["opted_out", "too_many", "server_error", "error", "timeout", "accept_then_drop"]
Message = dict[str, Any]


# --------------------------------------------------------------------------- segments

# GSM 03.38 default alphabet (the escape character 0x1B excluded) and its extension
# table, whose characters take two septets (escape + character).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


def sms_encoding(body: str) -> Literal["GSM-7", "UCS-2"]:
    """GSM-7 when every character is in the GSM 03.38 basic or extension table."""
    return "GSM-7" if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in body) else "UCS-2"


def count_segments(body: str) -> int:
    """SMS segments Twilio bills for ``body``: GSM-7 160/153 septets, else UCS-2 70/67
    UTF-16 code units (a CJK character counts 1, an astral emoji 2)."""
    if sms_encoding(body) == "GSM-7":
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next well-formed, authorised POST to
    Messages.json (faults queue FIFO; requests failing auth or validation consume none).
    ``for_to(number)``: only by a POST to that number (others pass it by)."""

    kind: FaultKind
    seconds: float = 0.0
    accept: bool = False
    status: int = 0
    code: int = 0
    message: str = ""
    to: str | None = None

    def for_to(self, number: str) -> Fault:
        """This fault, for a message to ``number`` only."""
        return replace(self, to=number)

    @classmethod
    def opted_out(cls) -> Fault:
        """400, code 21610: the recipient replied STOP."""
        return cls("opted_out", status=400, code=21610, message="Attempt to send to unsubscribed recipient")

    @classmethod
    def too_many(cls) -> Fault:
        """429, code 20429: too many concurrent requests."""
        return cls("too_many", status=429, code=20429, message="Too Many Requests")

    @classmethod
    def server_error(cls) -> Fault:
        """500, code 20500."""
        return cls("server_error", status=500, code=20500, message="Internal Server Error")

    @classmethod
    def error(cls, status: int, code: int, message: str) -> Fault:
        """Any other Twilio error, e.g. ``Fault.error(400, 21211, "Invalid 'To' Phone Number")``."""
        return cls("error", status=status, code=code, message=message)

    @classmethod
    def timeout(cls, seconds: float, *, accept: bool = False) -> Fault:
        """Answer only after ``seconds``. With ``accept=True`` the message is created
        first and the late answer is a normal 201; without, nothing is created and the
        late answer is a 500/20500."""
        return cls("timeout", seconds=seconds, accept=accept)

    @classmethod
    def accept_then_drop(cls) -> Fault:
        """Create the message, then close the TCP connection without any HTTP response."""
        return cls("accept_then_drop", accept=True)


@dataclass(frozen=True)
class Recorded:
    """One POST to Messages.json as the fake saw it. ``form`` keeps the first value of
    each field; ``sid`` is the message the request created or was deduplicated to."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]
    outcome: Outcome
    sid: str | None
    at: float

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class StatusCallback:
    """A status callback request as Twilio would send it (form POST, signed)."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]

    @property
    def body(self) -> bytes:
        return urlencode(self.params).encode()


@dataclass(frozen=True)
class SentCallback:
    callback: StatusCallback
    status: int
    at: float


# --------------------------------------------------------------------------- helpers

_ERROR_MESSAGES: dict[int, str] = {
    21610: "Attempt to send to unsubscribed recipient",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}
_ERROR_OUTCOMES: dict[FaultKind, Outcome] = {
    "opted_out": "opted_out",
    "too_many": "too_many",
    "server_error": "server_error",
    "error": "error",
}
_SENT_STATUSES = frozenset({"sent", "delivered", "undelivered", "read", "partially_delivered"})


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc))  # "Thu, 30 Jul 2015 20:12:31 +0000"


def _day_or_instant(value: str) -> tuple[datetime, bool]:
    """A DateSent filter's value: (the instant, whether it was a whole day)."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc), True
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), False


def _listed(message: Message, query: Mapping[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    for name in ("DateSent", "DateSent<", "DateSent>"):
        if name not in query:
            continue
        if message["date_sent"] is None:
            return False
        sent = parsedate_to_datetime(message["date_sent"])
        moment, whole_day = _day_or_instant(query[name])
        day = sent.date() if whole_day else None
        if name == "DateSent" and (sent.date() != moment.date() if whole_day else sent != moment):
            return False
        if name == "DateSent<" and (day > moment.date() if day else sent > moment):  # on or before
            return False
        if name == "DateSent>" and (day < moment.date() if day else sent < moment):  # on or after
            return False
    return True


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
        headers={"Twilio-Request-Id": "RQ" + secrets.token_hex(16)},
    )


def _resource(body: Message, status: int) -> web.Response:
    return web.json_response(body, status=status, headers={"Twilio-Request-Id": "RQ" + secrets.token_hex(16)})


@web.middleware
async def _twilio_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    except web.HTTPMethodNotAllowed:
        return _twilio_error(405, 20004, "Method not allowed")


# --------------------------------------------------------------------------- the fake


class FakeTwilio(ThreadedServer):
    """A fake Twilio REST API on 127.0.0.1 in its own thread. See the module docstring.

    >>> with FakeTwilio() as fake:
    ...     client.api.base_url = fake.base_url
    """

    name = "FakeTwilio"

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        host: str = "127.0.0.1",
        service_sender: str = "+15005550006",
        callback_timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        super().__init__(host)
        #: the number a Messaging Service "picks" once a message without From moves on
        self.service_sender = service_sender
        self.callback_timeout = callback_timeout
        self.validator = RequestValidator(auth_token)

        self._lock = threading.Condition(threading.RLock())
        self._requests: list[Recorded] = []
        self._messages: dict[str, Message] = {}
        self._callback_urls: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._faults: deque[Fault] = deque()
        self._callbacks: list[SentCallback] = []

        self._stopping: asyncio.Event | None = None
        #: seconds each message create takes (a slow provider keeps sends in flight)
        self.latency = 0.0
        #: deduplicate creates by I-Twilio-Idempotency-Token (off: real Twilio, which
        #: creates a second message for a retried request)
        self.honour_idempotency = True
        self._lookups = 0
        # The API down (see outage()): its answer, or how long a request hangs.
        self._outage: tuple[int, float | None] | None = None
        self._restored: asyncio.Event | None = None
        self._outage_requests = 0
        # Requests being answered whose client is still connected (see _track).
        self._open: dict[int, web.Request] = {}
        self._max_in_flight = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def messages_url(self) -> str:
        """The Messages.json URL of this fake's account."""
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def reset(self) -> None:
        """Forget recorded requests, messages, idempotency keys, callbacks and faults."""
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._callback_urls.clear()
            self._by_key.clear()
            self._faults.clear()
            self._callbacks.clear()
            self.latency = 0.0
            self.honour_idempotency = True
            self._lookups = 0
            self._outage = None
            self._outage_requests = 0
            self._max_in_flight = 0
        self._wake_hung()

    # ------------------------------------------------------------------ scripting & inspection

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is consumed by one POST to Messages.json, FIFO."""
        with self._lock:
            self._faults.extend(faults)

    def outage(self, *, status: int = 0, hang: float = 0.0) -> None:
        """Take the whole API down until ``restore()``: every request (creates, the
        Messages list, fetches) is answered ``status`` with Twilio's JSON error body
        (500 → code 20500, 503 → 20503, 429 → 20429), or with ``hang`` held open without
        any answer for up to that many seconds, then dropped (closed, no response).
        Nothing is created meanwhile. Creates are recorded (outcome ``server_error`` /
        ``timeout``); ``outage_requests`` counts every request the outage answered."""
        if (status == 0) == (hang <= 0):
            raise ValueError("outage(status=...) or outage(hang=...), one of them")
        if status and not 400 <= status <= 599:
            raise ValueError(f"an outage answers an error status, not {status}")
        with self._lock:
            self._outage = (status, hang if hang > 0 else None)

    def restore(self) -> None:
        """End the outage: requests hanging now are dropped, new ones are answered."""
        with self._lock:
            self._outage = None
        self._wake_hung()

    def _wake_hung(self) -> None:
        loop, restored = self._loop, self._restored
        if loop is not None and restored is not None and threading.current_thread() is not self._thread:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(restored.set)

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return self._outage is not None

    @property
    def outage_requests(self) -> int:
        """Requests the outage answered (or hung) since the last reset."""
        with self._lock:
            return self._outage_requests

    @property
    def in_flight(self) -> int:
        """Requests open at the fake now: received, not answered, client still there."""
        with self._lock:
            return sum(1 for r in self._open.values() if _connected(r))

    @property
    def max_in_flight(self) -> int:
        """The most requests open at the fake at once since the last reset (or since
        ``max_in_flight = 0``)."""
        with self._lock:
            return self._max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        with self._lock:
            self._max_in_flight = value

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def requests(self) -> list[Recorded]:
        """Every POST to Messages.json, oldest first (GET fetches are not recorded)."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[Message]:
        """Accepted messages in creation order: the JSON as returned, updated by status
        changes (copies: mutate freely)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages.values()]

    @property
    def callbacks(self) -> list[SentCallback]:
        """Status callbacks sent so far, with the status code the app answered."""
        with self._lock:
            return list(self._callbacks)

    def message(self, sid: str) -> Message | None:
        with self._lock:
            found = self._messages.get(sid)
            return copy.deepcopy(found) if found is not None else None

    def accepted_by_key(self, token: str) -> Message | None:
        """The message created by the request carrying ``I-Twilio-Idempotency-Token: token``."""
        with self._lock:
            sid = self._by_key.get(token)
            return self.message(sid) if sid is not None else None

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Block until at least ``count`` messages were accepted (for code that sends in
        the background); raises TimeoutError otherwise. Don't call it on the event loop
        your sender runs on."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} messages accepted, expected {count}")
            return [copy.deepcopy(m) for m in self._messages.values()]

    # ------------------------------------------------------------------ webhooks

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """``X-Twilio-Signature`` for a POST of ``params`` to ``url`` (the SDK's HMAC-SHA1)."""
        return str(self.validator.compute_signature(url, dict(params)))

    def status_callback(self, sid: str, status: str, error_code: int | None = None) -> StatusCallback:
        """Move message ``sid`` to ``status`` and build the signed callback Twilio would
        POST to its StatusCallback, without sending it (for tests posting it through an
        in-process client). Raises KeyError / ValueError for an unknown sid / no callback."""
        now = datetime.now(timezone.utc)
        with self._lock:
            message = self._messages[sid]
            url = self._callback_urls.get(sid)
            if url is None:
                raise ValueError(f"message {sid} was created without a StatusCallback")
            if message["from"] is None and status not in {"accepted", "scheduled", "canceled"}:
                message["from"] = self.service_sender  # the Messaging Service picked a sender
                message["num_segments"] = str(count_segments(message["body"]))
            message["status"] = status
            message["date_updated"] = _rfc2822(now)
            if status in _SENT_STATUSES and message["date_sent"] is None:
                message["date_sent"] = _rfc2822(now)
            if error_code is not None:
                message["error_code"] = error_code
                message["error_message"] = _ERROR_MESSAGES.get(error_code)
            params = {
                "SmsSid": sid,
                "SmsStatus": status,
                "MessageStatus": status,
                "To": message["to"],
                "MessageSid": sid,
                "AccountSid": self.account_sid,
                "From": message["from"] or "",
                "ApiVersion": API_VERSION,
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            if status in {"delivered", "undelivered"}:
                params["RawDlrDoneDate"] = now.strftime("%y%m%d%H%M")
        headers = {
            SIGNATURE_HEADER: self.sign(url, params),
            IDEMPOTENCY_HEADER: str(uuid.uuid4()),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        return StatusCallback(url=url, params=params, headers=headers)

    def send_status(self, sid: str, status: str, error_code: int | None = None) -> int:
        """Send the status callback and block until the app answered; returns its HTTP
        status. In an async test whose app runs on the test's own loop, use
        ``send_status_async`` instead (blocking that loop would stall the app)."""
        callback = self.status_callback(sid, status, error_code)
        return self._submit(self._post_callback(callback)).result()

    async def send_status_async(self, sid: str, status: str, error_code: int | None = None) -> int:
        """``send_status`` for async tests: the request runs on the fake's loop while the
        caller's loop stays free to serve it."""
        callback = self.status_callback(sid, status, error_code)
        return await asyncio.wrap_future(self._submit(self._post_callback(callback)))

    def deliver_all(self, status: str = "delivered") -> dict[str, int]:
        """Send ``status`` for every accepted message that has a StatusCallback; returns
        {sid: HTTP status the app answered}."""
        return {sid: self.send_status(sid, status) for sid in self._with_callbacks()}

    async def deliver_all_async(self, status: str = "delivered") -> dict[str, int]:
        return {sid: await self.send_status_async(sid, status) for sid in self._with_callbacks()}

    def _with_callbacks(self) -> list[str]:
        with self._lock:
            return [sid for sid in self._messages if sid in self._callback_urls]

    # ------------------------------------------------------------------ server thread

    async def _startup(self) -> None:
        self._stopping = asyncio.Event()
        self._restored = asyncio.Event()
        app = web.Application(middlewares=[self._track, _twilio_errors, self._down])
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app.router.add_post(f"{prefix}/Messages.json", self._create)
        app.router.add_get(f"{prefix}/Messages.json", self._list)
        app.router.add_get(f"{prefix}/Messages/{{sid}}.json", self._fetch)
        await self._listen(web.AppRunner(app, access_log=None, shutdown_timeout=1.0))
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.callback_timeout))

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._restored is not None:
            self._restored.set()
        await self._close()

    async def _post_callback(self, callback: StatusCallback) -> int:
        assert self._session is not None
        async with self._session.post(callback.url, data=callback.body, headers=callback.headers) as response:
            await response.read()
            status = response.status
        with self._lock:
            self._callbacks.append(SentCallback(callback=callback, status=status, at=time.time()))
        return status

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short when the fake stops."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ handlers

    @web.middleware
    async def _track(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Count the requests open at once. A request stops counting when it is answered
        or its client hangs up (a timed-out client closes its connection before it opens
        the next one, and the server loop sees that close before the new request)."""
        with self._lock:
            self._open = {k: r for k, r in self._open.items() if _connected(r)}
            self._open[id(request)] = request
            self._max_in_flight = max(self._max_in_flight, len(self._open))
        try:
            return await handler(request)
        finally:
            with self._lock:
                self._open.pop(id(request), None)

    @web.middleware
    async def _down(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """The outage, if there is one: Twilio's error, or a request held open unanswered."""
        with self._lock:
            outage = self._outage
            if outage is not None:
                self._outage_requests += 1
        if outage is None:
            return await handler(request)
        status, hang = outage
        if request.method == "POST" and request.path.endswith("/Messages.json"):
            form: dict[str, str] = {}
            with contextlib.suppress(ConnectionResetError):
                form = {k: str(v) for k, v in (await request.post()).items()}
            with self._lock:
                self._requests.append(Recorded(
                    request.path, form, {str(k): v for k, v in request.headers.items()},
                    "timeout" if hang else "server_error", None, time.time()))
                self._lock.notify_all()
        if status:
            code = 20000 + status if status in (429, 500, 503) else 20001
            return _twilio_error(status, code, HTTPStatus(status).phrase)
        assert hang is not None and self._restored is not None and self._stopping is not None
        deadline = time.monotonic() + hang
        # Held open, not a byte of answer, until the outage ends, the hang is over, the
        # client gives up or the fake stops; then the connection is dropped.
        while _connected(request) and self.in_outage and not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._restored.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restored.wait(), min(left, 0.01))
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=504)  # never reaches the client: the transport is closed

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        try:
            auth = aiohttp.BasicAuth.decode(header)
        except ValueError:
            return False
        return (
            hmac.compare_digest(auth.login.encode(), self.account_sid.encode())
            and hmac.compare_digest(auth.password.encode(), self.auth_token.encode())
            and request.match_info["account_sid"] == self.account_sid
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            posted = await request.post()
        except ConnectionResetError:
            # The client went away (a killed worker) before its request was read: nothing
            # was created, as on Twilio.
            return web.Response(status=499)
        form: dict[str, str] = {}
        for key, value in posted.items():
            form.setdefault(key, str(value))
        media = [str(v) for v in posted.getall("MediaUrl", [])]
        headers = {str(k): v for k, v in request.headers.items()}
        key = request.headers.get(IDEMPOTENCY_HEADER)

        def record(outcome: Outcome, sid: str | None = None) -> None:
            with self._lock:
                self._requests.append(Recorded(request.path, form, headers, outcome, sid, time.time()))
                self._lock.notify_all()

        if not self._authorized(request):
            record("unauthorized")
            return _twilio_error(401, 20003, "Authenticate")
        invalid = self._validate(form, media)
        if invalid is not None:
            record("invalid")
            return invalid

        with self._lock:
            fault = next((f for f in self._faults if f.to is None or f.to == form.get("To")), None)
            if fault is not None:
                self._faults.remove(fault)

        if fault is None:
            message, created = self._accept(form, media, key)
            record("ok" if created else "duplicate", message["sid"])
            return _resource(message, 201)
        if fault.kind in _ERROR_OUTCOMES:
            record(_ERROR_OUTCOMES[fault.kind])
            return _twilio_error(fault.status, fault.code, fault.message)
        if fault.kind == "timeout":
            accepted = self._accept(form, media, key)[0] if fault.accept else None
            record("timeout", accepted["sid"] if accepted else None)
            await self._sleep(fault.seconds)
            if accepted is None:
                return _twilio_error(500, 20500, "Internal Server Error")
            return _resource(accepted, 201)
        # accept_then_drop: the message exists, the client never hears about it
        message = self._accept(form, media, key)[0]
        record("dropped", message["sid"])
        if request.transport is not None:
            request.transport.close()
        # Writing to the closed transport fails with a ConnectionError, which aiohttp
        # takes quietly as "client went away": no byte of this response goes out.
        return web.Response(status=201)

    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _twilio_error(401, 20003, "Authenticate")
        message = self.message(request.match_info["sid"])
        if message is None:
            return _twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return _resource(message, 200)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        """The Messages list: newest first, filtered by To, From and DateSent (``DateSent``,
        ``DateSent<``, ``DateSent>``: a date or an ISO 8601 instant; messages not sent yet
        have no DateSent and fail any DateSent filter), paged by PageSize, Page and
        PageToken, with Twilio's paging fields."""
        if not self._authorized(request):
            return _twilio_error(401, 20003, "Authenticate")
        q = request.query
        try:
            size = int(q.get("PageSize", "50"))
            page = int(q.get("Page", "0"))
            offset = int(q.get("PageToken", "PA0")[2:]) if "PageToken" in q else page * size
        except ValueError:
            return _twilio_error(400, 20001, "Invalid paging parameter")
        if not 1 <= size <= 1000:
            return _twilio_error(400, 20001, "PageSize must be between 1 and 1000")
        with self._lock:
            self._lookups += 1
            found = [copy.deepcopy(m) for m in reversed(self._messages.values()) if _listed(m, q)]
        chosen = found[offset:offset + size]
        path = request.path

        def page_uri(at: int) -> str:
            params = {k: v for k, v in q.items() if k not in {"Page", "PageToken", "PageSize"}}
            params.update({"PageSize": str(size), "Page": str(at // size), "PageToken": f"PA{at}"})
            return f"{path}?{urlencode(params)}"

        body = {
            "messages": chosen,
            "page": offset // size,
            "page_size": size,
            "start": offset,
            "end": offset + max(len(chosen) - 1, 0),
            "uri": page_uri(offset),
            "first_page_uri": page_uri(0),
            "previous_page_uri": page_uri(offset - size) if offset > 0 else None,
            "next_page_uri": page_uri(offset + size) if offset + size < len(found) else None,
        }
        return _resource(body, 200)

    @property
    def lookups(self) -> int:
        """How many pages of the Messages list were read."""
        with self._lock:
            return self._lookups

    def _validate(self, form: dict[str, str], media: list[str]) -> web.Response | None:
        if not form.get("To"):
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        body = form.get("Body", "")
        if not body and not media and not form.get("ContentSid"):
            return _twilio_error(400, 21602, "Message body is required.")
        if len(body) > BODY_LIMIT:
            return _twilio_error(
                400, 21617, f"The concatenated message body exceeds the {BODY_LIMIT} character limit."
            )
        return None

    def _accept(self, form: dict[str, str], media: list[str], key: str | None) -> tuple[Message, bool]:
        """Create the message, or return the one an earlier request with the same
        idempotency key created (unless ``honour_idempotency`` is off, as on real
        Twilio). Returns (a copy of the message, created)."""
        with self._lock:
            if not self.honour_idempotency:
                key = None
            if key is not None and key in self._by_key:
                return copy.deepcopy(self._messages[self._by_key[key]]), False
            message = self._new_message(form, media)
            sid = message["sid"]
            self._messages[sid] = message
            if form.get("StatusCallback"):
                self._callback_urls[sid] = form["StatusCallback"]
            if key is not None:
                self._by_key[key] = sid
            self._lock.notify_all()
            return copy.deepcopy(message), True

    def _new_message(self, form: dict[str, str], media: list[str]) -> Message:
        sid = "SM" + secrets.token_hex(16)
        now = _rfc2822(datetime.now(timezone.utc))
        sender = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        # Twilio: "queued" without a Messaging Service; with one "accepted" (or
        # "scheduled"), and num_segments "0" until the service has picked a sender.
        if form.get("ScheduleType") == "fixed":
            status = "scheduled"
        elif service is not None:
            status = "accepted"
        else:
            status = "queued"
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": str(count_segments(body)) if sender is not None else "0",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }
