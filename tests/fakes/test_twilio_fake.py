"""The fake Twilio REST API (tests/fakes/twilio.py), checked with the real twilio SDK.

What the fake is for: the app sends SMS through the official SDK
(``AsyncTwilioHttpClient`` + ``client.messages.create_async``) and learns about delivery
from Twilio's signed status callbacks. Tests point the SDK at ``FakeTwilio`` with
``client.api.base_url = fake.base_url`` and then script the provider: opt-outs (21610),
rate limits (20429), server errors (20500), slow answers, connections dropped after the
message was created, retries deduplicated by ``I-Twilio-Idempotency-Token``, and
status callbacks signed as Twilio signs them. These tests pin down what the SDK makes of
each of those, so the app's tests can rely on the same behaviour.

Findings pinned here (twilio 9.13.0, aiohttp 3.14):

* ``AsyncTwilioHttpClient(timeout=...)`` is ignored: its ``request`` passes the
  per-request ``timeout`` (None from ``create_async``) straight to aiohttp, and aiohttp
  turns an explicit None into "no timeout at all" (not even its 5 minute default). Wrap
  the call in ``asyncio.timeout`` or subclass the client to forward ``self.timeout``.
* aiohttp accepts a float there (it becomes ``ClientTimeout(total=...)``); a total
  timeout raises the builtin ``TimeoutError`` (= ``asyncio.TimeoutError``), which is not
  an ``aiohttp.ClientError``; only ``ClientTimeout(sock_read=...)`` raises
  ``aiohttp.ServerTimeoutError`` (also a ``TimeoutError``).
* A connection dropped after the request went out raises
  ``aiohttp.ServerDisconnectedError`` (an ``aiohttp.ClientError``), not a Twilio error.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    FakeTwilio,
    Fault,
    count_segments,
    sms_encoding,
)

# twilio 9.13's AsyncTwilioHttpClient passes auth=aiohttp.BasicAuth(...), both deprecated
# in aiohttp 3.14 (a DeprecationWarning per request): the app's tests will see them too.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

SENDER = "+15017122661"
RECIPIENT = "+15558675310"
SERVICE = "MG" + "1" * 32
SID = re.compile(r"^SM[0-9a-f]{32}$")
RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTwilio) -> FakeTwilio:
    server.reset()
    return server


def sdk_client(fake: FakeTwilio, http_client: AsyncTwilioHttpClient, *, token: str | None = None) -> Client:
    client = Client(fake.account_sid, token or fake.auth_token, http_client=http_client)
    client.api.base_url = fake.base_url
    return client


@pytest.fixture
async def client(fake: FakeTwilio) -> AsyncIterator[Client]:
    http_client = AsyncTwilioHttpClient()  # its aiohttp session needs the running loop
    yield sdk_client(fake, http_client)
    await http_client.close()


@pytest.fixture
async def raw(fake: FakeTwilio) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client authenticated as the account, for requests the SDK can't make."""
    async with httpx.AsyncClient(auth=(fake.account_sid, fake.auth_token), trust_env=False) as http:
        yield http


async def send(client: Client, body: str = "Hello", **extra: Any) -> Any:
    return await client.messages.create_async(to=RECIPIENT, from_=SENDER, body=body, **extra)


class TimeoutHonouringClient(AsyncTwilioHttpClient):
    """The workaround: forward the client's own timeout when the call gives none."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        timeout = self.timeout if timeout is None else timeout
        return await super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


# --------------------------------------------------------------------------- status callback receivers


class ThreadedReceiver:
    """A tiny http.server app in its own thread that validates Twilio signatures."""

    def __init__(self, auth_token: str, answer: int = 200) -> None:
        validator = RequestValidator(auth_token)
        self.received: list[tuple[dict[str, str], dict[str, str], bool]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                raw_body = self.rfile.read(int(self.headers["Content-Length"]))
                params = dict(parse_qsl(raw_body.decode(), keep_blank_values=True))
                url = f"http://{self.headers['Host']}{self.path}"
                valid = validator.validate(url, params, self.headers.get(SIGNATURE_HEADER, ""))
                received.append((params, dict(self.headers.items()), valid))
                self.send_response(answer if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), name="ThreadedReceiver")

    def url(self, path: str = "/twilio/status") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> ThreadedReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def receiver(fake: FakeTwilio) -> Iterator[ThreadedReceiver]:
    with ThreadedReceiver(fake.auth_token) as running:
        yield running


# --------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension table: 2 septets each
        ("€" * 81, "GSM-7", 2),
        ("Ça coûte 5 £ à Zürich", "UCS-2", 1),  # û is not GSM-7
        ("中" * 70, "UCS-2", 1),
        ("中" * 71, "UCS-2", 2),
        ("中" * 134, "UCS-2", 2),
        ("中" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),  # astral: two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segments(body: str, encoding: str, segments: int) -> None:
    assert sms_encoding(body) == encoding
    assert count_segments(body) == segments


# --------------------------------------------------------------------------- creating messages


async def test_create_returns_twilio_message(fake: FakeTwilio, client: Client) -> None:
    message = await send(client, "Your checkup is on Monday.", status_callback="https://example.org/cb")

    assert SID.match(message.sid)
    assert message.status == "queued"
    assert message.num_segments == "1"
    assert (message.to, message.from_, message.body) == (RECIPIENT, SENDER, "Your checkup is on Monday.")
    assert message.account_sid == fake.account_sid
    assert message.direction == "outbound-api"
    assert message.error_code is None and message.price is None and message.date_sent is None
    assert message.date_created is not None and message.date_created.tzinfo is not None

    [stored] = fake.messages
    assert stored["sid"] == message.sid
    assert RFC2822.match(stored["date_created"]) and RFC2822.match(stored["date_updated"])
    assert stored["num_media"] == "0" and stored["api_version"] == "2010-04-01"
    assert stored["uri"] == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{message.sid}.json"
    assert stored["subresource_uris"]["media"].endswith(f"/Messages/{message.sid}/Media.json")

    [request] = fake.requests
    assert request.outcome == "ok" and request.sid == message.sid
    assert request.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert request.form == {
        "To": RECIPIENT,
        "From": SENDER,
        "Body": "Your checkup is on Monday.",
        "StatusCallback": "https://example.org/cb",
    }
    assert (request.header("user-agent") or "").startswith("twilio-python/")


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("Reminder: bring your passport and residence permit to the clinic. " * 3, "2"),
        (  # 82 characters: over the 70 of one UCS-2 segment
            "您好！您的免费体检安排在下周一上午九点，地址是市中心社区卫生服务中心二楼。"
            "请携带护照、居留许可证和医保卡。如需改期，请回复“改期”；如不再接收短信，请回复“退订”。",
            "2",
        ),
        ("您的体检安排在周一。", "1"),
    ],
)
async def test_num_segments_english_and_chinese(client: Client, body: str, segments: str) -> None:
    message = await send(client, body)
    assert message.num_segments == segments
    assert message.body == body


async def test_messaging_service_message_is_accepted_without_sender(fake: FakeTwilio, client: Client) -> None:
    message = await client.messages.create_async(to=RECIPIENT, messaging_service_sid=SERVICE, body="Hi")

    # As Twilio: "accepted", no sender picked yet, num_segments "0" until it is.
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == SERVICE
    assert fake.requests[0].form["MessagingServiceSid"] == SERVICE


async def test_fetch_message(fake: FakeTwilio, client: Client) -> None:
    created = await send(client)
    fetched = await client.messages(created.sid).fetch_async()
    assert (fetched.sid, fetched.status, fetched.body) == (created.sid, "queued", "Hello")

    with pytest.raises(TwilioRestException) as missing:
        await client.messages("SM" + "f" * 32).fetch_async()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    assert len(fake.requests) == 1  # fetches are not recorded


async def test_wrong_credentials(fake: FakeTwilio) -> None:
    http_client = AsyncTwilioHttpClient()
    try:
        with pytest.raises(TwilioRestException) as caught:
            await send(sdk_client(fake, http_client, token="wrong-token"))
    finally:
        await http_client.close()
    assert (caught.value.status, caught.value.code, caught.value.method) == (401, 20003, "POST")
    assert "Authenticate" in caught.value.msg
    assert [r.outcome for r in fake.requests] == ["unauthorized"]
    assert fake.messages == []


async def test_unauthorized_json_body(fake: FakeTwilio) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(fake.messages_url, data={"To": RECIPIENT, "From": SENDER, "Body": "x"})
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": RECIPIENT, "Body": "x"}, 21603),
        ({"To": RECIPIENT, "From": SENDER}, 21602),
        ({"To": RECIPIENT, "From": SENDER, "Body": "x" * 1601}, 21617),
    ],
)
async def test_invalid_requests(fake: FakeTwilio, raw: httpx.AsyncClient, form: dict[str, str], code: int) -> None:
    fake.inject(Fault.server_error())
    response = await raw.post(fake.messages_url, data=form)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert [r.outcome for r in fake.requests] == ["invalid"]
    assert len(fake.pending_faults) == 1  # malformed requests consume no fault


async def test_missing_body_through_the_sdk(client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=RECIPIENT, from_=SENDER)
    assert (caught.value.status, caught.value.code) == (400, 21602)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "status", "code", "outcome"),
    [
        (Fault.opted_out(), 400, 21610, "opted_out"),
        (Fault.too_many(), 429, 20429, "too_many"),
        (Fault.server_error(), 500, 20500, "server_error"),
        (Fault.error(400, 21211, "Invalid 'To' Phone Number"), 400, 21211, "error"),
    ],
)
async def test_error_faults_raise_twilio_rest_exception(
    fake: FakeTwilio, client: Client, fault: Fault, status: int, code: int, outcome: str
) -> None:
    fake.inject(fault)
    with pytest.raises(TwilioRestException) as caught:
        await send(client)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.msg == f"Unable to create record: {fault.message}"
    assert fake.messages == []

    retried = await send(client)  # the fault was consumed
    assert [(r.outcome, r.sid) for r in fake.requests] == [(outcome, None), ("ok", retried.sid)]


async def test_faults_are_consumed_in_order(fake: FakeTwilio, client: Client) -> None:
    fake.inject(Fault.too_many(), Fault.opted_out())
    codes = []
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await send(client)
        codes.append(caught.value.code)
    await send(client)
    assert codes == [20429, 21610]
    assert [r.outcome for r in fake.requests] == ["too_many", "opted_out", "ok"]


async def test_async_client_ignores_its_timeout(fake: FakeTwilio) -> None:
    """AsyncTwilioHttpClient(timeout=0.1) waits the full 0.3 s for the slow answer."""
    fake.inject(Fault.timeout(0.3))
    http_client = AsyncTwilioHttpClient(timeout=0.1)
    started = time.monotonic()
    try:
        with pytest.raises(TwilioRestException) as caught:
            await send(sdk_client(fake, http_client))
    finally:
        await http_client.close()
    assert time.monotonic() - started >= 0.25
    assert (caught.value.status, caught.value.code) == (500, 20500)  # the late answer
    assert [(r.outcome, r.sid) for r in fake.requests] == [("timeout", None)]
    assert fake.messages == []


async def test_timeout_with_asyncio_timeout(fake: FakeTwilio, client: Client) -> None:
    fake.inject(Fault.timeout(0.3, accept=True))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await send(client)
    # The provider created the message although the client gave up.
    [message] = fake.messages
    assert [(r.outcome, r.sid) for r in fake.requests] == [("timeout", message["sid"])]


async def test_timeout_forwarded_to_aiohttp(fake: FakeTwilio) -> None:
    fake.inject(Fault.timeout(0.3))
    http_client = TimeoutHonouringClient(timeout=0.1)
    try:
        with pytest.raises(TimeoutError) as caught:
            await send(sdk_client(fake, http_client))
    finally:
        await http_client.close()
    assert type(caught.value) is TimeoutError  # builtin, same class as asyncio.TimeoutError
    assert not isinstance(caught.value, aiohttp.ClientError)


async def test_aiohttp_timeout_flavours(fake: FakeTwilio) -> None:
    """aiohttp 3.14 takes a float per-request timeout (= ClientTimeout(total=...))."""
    form = {"To": RECIPIENT, "From": SENDER, "Body": "x"}
    credentials = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    auth = {"Authorization": f"Basic {credentials}"}
    fake.inject(Fault.timeout(0.3), Fault.timeout(0.3))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError) as total:
            await session.post(fake.messages_url, data=form, headers=auth, timeout=0.1)  # type: ignore[arg-type]
        with pytest.raises(aiohttp.ServerTimeoutError) as read:
            read_timeout = aiohttp.ClientTimeout(sock_read=0.1)
            await session.post(fake.messages_url, data=form, headers=auth, timeout=read_timeout)
    assert type(total.value) is TimeoutError
    assert isinstance(read.value, TimeoutError)


async def test_accept_then_drop(fake: FakeTwilio, client: Client) -> None:
    fake.inject(Fault.accept_then_drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(client, "Lost answer")
    [message] = fake.messages
    assert message["body"] == "Lost answer"
    assert [(r.outcome, r.sid) for r in fake.requests] == [("dropped", message["sid"])]

    await send(client)  # the client recovers on a new connection
    assert len(fake.messages) == 2


async def test_a_fault_for_one_number_passes_the_others_by(fake: FakeTwilio, client: Client) -> None:
    fake.inject(Fault.server_error().for_to(RECIPIENT))
    other = await client.messages.create_async(to="+15558675311", from_=SENDER, body="x")
    with pytest.raises(TwilioRestException) as caught:
        await send(client)
    assert caught.value.code == 20500 and fake.pending_faults == []
    assert [(r.outcome, r.sid) for r in fake.requests] == [("ok", other.sid), ("server_error", None)]


# --------------------------------------------------------------------------- outages


@pytest.mark.parametrize("status,code", [(500, 20500), (503, 20503), (429, 20429)])
async def test_an_outage_answers_every_request_with_twilios_error(
    fake: FakeTwilio, client: Client, raw: httpx.AsyncClient, status: int, code: int
) -> None:
    fake.inject(Fault.opted_out())  # not consumed while the API is down
    fake.outage(status=status)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await send(client)
        assert (caught.value.status, caught.value.code) == (status, code)
    listed = await raw.get(fake.messages_url, params={"To": RECIPIENT})
    assert listed.status_code == status
    assert listed.json() == {"code": code, "message": listed.reason_phrase,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}",
                             "status": status}
    assert fake.messages == [] and fake.outage_requests == 3
    assert [r.outcome for r in fake.requests] == ["server_error"] * 2
    fake.restore()
    with pytest.raises(TwilioRestException):
        await send(client)  # the queued fault, now
    assert (await send(client)).sid


async def test_a_hanging_outage_holds_requests_open_until_the_client_gives_up(
    fake: FakeTwilio, raw: httpx.AsyncClient
) -> None:
    """Every request hangs without a byte of answer; ``in_flight`` counts those whose
    client still waits, ``max_in_flight`` the most at once; ``restore`` drops them."""
    fake.outage(hang=60)
    form = {"To": RECIPIENT, "From": SENDER, "Body": "x"}
    short = [asyncio.create_task(raw.post(fake.messages_url, data=form, timeout=0.3)) for _ in range(3)]
    long = asyncio.create_task(raw.get(fake.messages_url, timeout=30))
    await asyncio.sleep(0.15)
    assert fake.in_flight == 4
    for task in short:
        with pytest.raises(httpx.TimeoutException):
            await task
    await asyncio.sleep(0.05)
    assert fake.in_flight == 1 and fake.max_in_flight == 4  # the clients that gave up left
    started = time.monotonic()
    fake.restore()
    with pytest.raises(httpx.RemoteProtocolError):  # dropped: closed without an answer
        await long
    assert time.monotonic() - started < 1
    assert fake.in_flight == 0 and fake.messages == [] and fake.outage_requests == 4
    assert [r.outcome for r in fake.requests] == ["timeout"] * 3
    assert (await raw.post(fake.messages_url, data=form)).status_code == 201
    fake.max_in_flight = 0
    assert fake.max_in_flight == 0


def test_an_outage_is_a_status_or_a_hang(fake: FakeTwilio) -> None:
    with pytest.raises(ValueError):
        fake.outage()
    with pytest.raises(ValueError):
        fake.outage(status=500, hang=1)
    with pytest.raises(ValueError):
        fake.outage(status=201)
    fake.outage(status=500)
    fake.reset()
    assert not fake.in_outage


# --------------------------------------------------------------------------- idempotency


async def test_idempotency_token_deduplicates(fake: FakeTwilio, raw: httpx.AsyncClient) -> None:
    form = {"To": RECIPIENT, "From": SENDER, "Body": "Once only"}
    first = await raw.post(fake.messages_url, data=form, headers={IDEMPOTENCY_HEADER: "key-1"})
    second = await raw.post(fake.messages_url, data=form, headers={IDEMPOTENCY_HEADER: "key-1"})
    other = await raw.post(fake.messages_url, data=form, headers={IDEMPOTENCY_HEADER: "key-2"})

    assert first.status_code == second.status_code == other.status_code == 201
    assert first.json() == second.json()
    assert other.json()["sid"] != first.json()["sid"]
    assert [m["sid"] for m in fake.messages] == [first.json()["sid"], other.json()["sid"]]
    assert [r.outcome for r in fake.requests] == ["ok", "duplicate", "ok"]
    assert {r.sid for r in fake.requests[:2]} == {first.json()["sid"]}
    accepted = fake.accepted_by_key("key-1")
    assert accepted is not None and accepted["sid"] == first.json()["sid"]
    assert fake.accepted_by_key("never-sent") is None


async def test_retry_after_drop_is_deduplicated(fake: FakeTwilio, raw: httpx.AsyncClient) -> None:
    form = {"To": RECIPIENT, "From": SENDER, "Body": "Retry me"}
    fake.inject(Fault.accept_then_drop())
    with pytest.raises(httpx.RemoteProtocolError):
        await raw.post(fake.messages_url, data=form, headers={IDEMPOTENCY_HEADER: "retry-1"})
    retried = await raw.post(fake.messages_url, data=form, headers={IDEMPOTENCY_HEADER: "retry-1"})

    assert retried.status_code == 201
    [message] = fake.messages
    assert retried.json()["sid"] == message["sid"]
    assert [r.outcome for r in fake.requests] == ["dropped", "duplicate"]


# --------------------------------------------------------------------------- status callbacks


async def test_status_callback_is_signed_and_validates(
    fake: FakeTwilio, client: Client, receiver: ThreadedReceiver
) -> None:
    url = receiver.url("/twilio/status?channel=sms")
    message = await send(client, status_callback=url)

    assert fake.send_status(message.sid, "sent") == 200
    assert fake.send_status(message.sid, "undelivered", error_code=30003) == 200

    [(sent, headers, valid), (undelivered, _, valid_too)] = receiver.received
    assert valid and valid_too
    assert sent == {
        "SmsSid": message.sid,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "To": RECIPIENT,
        "MessageSid": message.sid,
        "AccountSid": fake.account_sid,
        "From": SENDER,
        "ApiVersion": "2010-04-01",
    }
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers[IDEMPOTENCY_HEADER]
    assert undelivered["MessageStatus"] == "undelivered" and undelivered["ErrorCode"] == "30003"
    assert "RawDlrDoneDate" in undelivered

    fetched = await client.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code, fetched.error_message) == (
        "undelivered",
        30003,
        "Unreachable destination handset",
    )
    assert fetched.date_sent is not None
    assert [(c.callback.params["MessageStatus"], c.status) for c in fake.callbacks] == [
        ("sent", 200),
        ("undelivered", 200),
    ]


async def test_forged_signature_is_rejected(fake: FakeTwilio, client: Client, receiver: ThreadedReceiver) -> None:
    """The receiver really checks: a callback signed with another token fails."""
    message = await send(client, status_callback=receiver.url())
    forged = FakeTwilio(fake.account_sid, "another-token")
    callback = fake.status_callback(message.sid, "delivered")
    headers = {**callback.headers, SIGNATURE_HEADER: forged.sign(callback.url, callback.params)}
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(callback.url, content=callback.body, headers=headers)
    assert response.status_code == 403


async def test_send_status_async_to_a_receiver_on_the_test_loop(fake: FakeTwilio, client: Client) -> None:
    validator = RequestValidator(fake.auth_token)
    seen: list[tuple[str, bool]] = []

    async def status(request: web.Request) -> web.Response:
        params = {k: str(v) for k, v in (await request.post()).items()}
        valid = validator.validate(str(request.url), params, request.headers[SIGNATURE_HEADER])
        seen.append((params["MessageStatus"], valid))
        return web.Response(status=204 if valid else 403)

    app = web.Application()
    app.router.add_post("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/status"
    try:
        first = await send(client, status_callback=url)
        second = await client.messages.create_async(
            to=RECIPIENT, messaging_service_sid=SERVICE, body="Hi", status_callback=url
        )
        await send(client)  # no StatusCallback: skipped by deliver_all

        assert await fake.send_status_async(first.sid, "sent") == 204
        assert await fake.deliver_all_async() == {first.sid: 204, second.sid: 204}
    finally:
        await runner.cleanup()

    assert seen == [("sent", True), ("delivered", True), ("delivered", True)]
    via_service = fake.message(second.sid)
    assert via_service is not None
    assert (via_service["status"], via_service["from"], via_service["num_segments"]) == (
        "delivered",
        fake.service_sender,
        "1",
    )
    assert fake.callbacks[-1].callback.params["MessagingServiceSid"] == SERVICE


def test_sync_deliver_all(fake: FakeTwilio, receiver: ThreadedReceiver) -> None:
    with httpx.Client(auth=(fake.account_sid, fake.auth_token), trust_env=False) as http:
        for body in ("one", "two"):
            http.post(
                fake.messages_url,
                data={"To": RECIPIENT, "From": SENDER, "Body": body, "StatusCallback": receiver.url()},
            ).raise_for_status()
    assert set(fake.deliver_all().values()) == {200}
    assert [(p["MessageStatus"], valid) for p, _, valid in receiver.received] == [("delivered", True)] * 2
    assert {m["status"] for m in fake.messages} == {"delivered"}


async def test_status_callback_needs_a_url(fake: FakeTwilio, client: Client) -> None:
    message = await send(client)
    with pytest.raises(ValueError, match="without a StatusCallback"):
        fake.send_status(message.sid, "delivered")
    with pytest.raises(KeyError):
        fake.send_status("SM" + "0" * 32, "delivered")


def test_sign_matches_the_sdk_validator(fake: FakeTwilio) -> None:
    url = "https://outreach.example.org/twilio/inbound?region=sh"
    params = {"From": RECIPIENT, "To": SENDER, "Body": "STOP", "MessageSid": "SM" + "a" * 32}
    signature = fake.sign(url, params)
    validator = RequestValidator(fake.auth_token)
    assert validator.validate(url, params, signature)
    assert not validator.validate(url, {**params, "Body": "START"}, signature)
    assert not RequestValidator("other").validate(url, params, signature)


# --------------------------------------------------------------------------- housekeeping


async def test_reset_forgets_everything(fake: FakeTwilio, raw: httpx.AsyncClient) -> None:
    await raw.post(
        fake.messages_url, data={"To": RECIPIENT, "From": SENDER, "Body": "x"}, headers={IDEMPOTENCY_HEADER: "k"}
    )
    fake.inject(Fault.too_many())
    fake.reset()
    assert (fake.requests, fake.messages, fake.pending_faults, fake.callbacks) == ([], [], [], [])
    assert fake.accepted_by_key("k") is None


def test_wait_for_messages(fake: FakeTwilio) -> None:
    def later() -> None:
        time.sleep(0.05)
        httpx.post(
            fake.messages_url,
            data={"To": RECIPIENT, "From": SENDER, "Body": "x"},
            auth=(fake.account_sid, fake.auth_token),
            trust_env=False,
        )

    sender = threading.Thread(target=later)
    sender.start()
    [message] = fake.wait_for_messages(1, timeout=5)
    sender.join()
    assert SID.match(message["sid"])
    with pytest.raises(TimeoutError):
        fake.wait_for_messages(2, timeout=0.05)


def test_lifecycle_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    fake = FakeTwilio()
    with pytest.raises(RuntimeError):
        fake.base_url  # noqa: B018 - not started
    with fake:
        assert fake.running and fake.base_url.startswith("http://127.0.0.1:")
        fake.inject(Fault.timeout(30))  # a request stuck in a timeout must not block stop()
        stuck = threading.Thread(
            target=lambda: httpx.post(
                fake.messages_url,
                data={"To": RECIPIENT, "From": SENDER, "Body": "x"},
                auth=(fake.account_sid, fake.auth_token),
                trust_env=False,
                timeout=10,
            )
        )
        stuck.start()
        while not fake.requests:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    stuck.join(5)
    fake.stop()  # idempotent
    assert not fake.running
    assert set(threading.enumerate()) - before == set()
