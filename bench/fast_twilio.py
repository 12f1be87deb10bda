"""A zero-latency fake of Twilio's Messages API, fast enough not to be the bottleneck.

``tests/fakes/twilio.py`` models Twilio faithfully (faults, callbacks, idempotency,
every request kept) and runs on aiohttp in a thread: right for tests, but at thousands
of messages a second it would be the thing measured. This one is a bare asyncio
protocol (on uvloop) in its own process that answers

- ``POST /2010-04-01/Accounts/{AC}/Messages.json``: checks HTTP Basic auth, parses the
  form and answers 201 with the JSON resource Twilio sends (sid ``SM`` + 32 hex,
  status ``queued``, ``num_segments`` …), keep-alive;
- ``GET /stats``: how many messages it accepted, how many distinct idempotency tokens
  (``I-Twilio-Idempotency-Token``) it saw, how many repeats, and the wall-clock
  (``time.time()``) of the first and last accepted POST;
- ``POST /reset``: forgets all that.

Run: ``python -m bench.fast_twilio PORT [ACCOUNT_SID AUTH_TOKEN]``; prints ``ready`` on
stdout once it listens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from content.sms import segments

try:  # yarl's C unquoter: the stdlib's parse_qsl costs ~70 µs for a Chinese body
    from yarl._quoting import _Unquoter

    _unquote = _Unquoter(plus=True)

    def parse_form(body: bytes) -> dict[str, str]:
        return {_unquote(k): _unquote(v) for k, _, v in (p.partition("=") for p in body.decode().split("&"))}
except ImportError:  # pragma: no cover
    def parse_form(body: bytes) -> dict[str, str]:
        return dict(parse_qsl(body.decode()))

API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "bench-auth-token"
IDEMPOTENCY = b"i-twilio-idempotency-token"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accepted = 0
        self.keys: set[bytes] = set()
        self.repeats = 0
        self.unauthorized = 0
        self.first = 0.0
        self.last = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "unique_keys": len(self.keys), "repeats": self.repeats,
                "unauthorized": self.unauthorized, "first": self.first, "last": self.last}


def _response(status: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


class Api:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.messages_path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json".encode()
        self.auth = b"Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode())
        self.stats = Stats()
        self._second, self._stamp = 0, ""
        self._unauthorized = _response("401 Unauthorized", json.dumps(
            {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
             "status": 401}).encode())

    def handle(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        if method == b"POST" and path == self.messages_path:
            return self.create(headers, body)
        if method == b"GET" and path == b"/stats":
            return _response("200 OK", json.dumps(self.stats.as_dict()).encode())
        if method == b"POST" and path == b"/reset":
            self.stats.reset()
            return _response("200 OK", b"{}")
        return _response("404 Not Found", b'{"status": 404}')

    def create(self, headers: dict[bytes, bytes], body: bytes) -> bytes:
        stats = self.stats
        if headers.get(b"authorization") != self.auth:
            stats.unauthorized += 1
            return self._unauthorized
        form = parse_form(body)
        key = headers.get(IDEMPOTENCY)
        if key is not None:
            if key in stats.keys:
                stats.repeats += 1
            stats.keys.add(key)
        now = time.time()
        if not stats.accepted:
            stats.first = now
        stats.last = now
        stats.accepted += 1
        sid = "SM" + secrets.token_hex(16)
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = format_datetime(datetime.fromtimestamp(second, UTC), usegmt=True)
        stamp = self._stamp
        text = form.get("Body", "")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": text,
            "date_created": stamp, "date_sent": None, "date_updated": stamp,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": str(segments(text).segments), "price": None,
            "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": form.get("To"),
            "uri": f"{uri}.json",
        }
        return _response("201 Created", json.dumps(resource).encode(),
                         b"Twilio-Request-Id: RQ" + secrets.token_hex(16).encode() + b"\r\n")


class Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; Content-Length bodies only."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                break
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            method, path, _ = head[0].split(b" ", 2)
            out.append(self.api.handle(method, path.split(b"?", 1)[0], headers, body))
            if headers.get(b"connection", b"").lower() == b"close":
                assert self.transport is not None
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        if out:
            assert self.transport is not None
            self.transport.write(b"".join(out))


async def serve(port: int, account_sid: str, auth_token: str) -> None:
    api = Api(account_sid, auth_token)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(api), "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1])
    account_sid = sys.argv[2] if len(sys.argv) > 2 else ACCOUNT_SID
    auth_token = sys.argv[3] if len(sys.argv) > 3 else AUTH_TOKEN
    try:
        import uvloop

        uvloop.run(serve(port, account_sid, auth_token))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(serve(port, account_sid, auth_token))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
