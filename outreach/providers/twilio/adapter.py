"""Twilio: the one module that imports the Twilio SDK.

Inbound webhooks are verified with the SDK's RequestValidator; outbound messages go
through its async client. ``OUTREACH_TWILIO_API_BASE`` points the client elsewhere (the
tests' fake). Failures are sorted into what the dispatcher must do about them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from outreach.outbound.models import OutboxStatus
from outreach.outbound.sender import Failure, Outgoing, SendError, SendResult
from outreach.providers.twilio.status import OPTED_OUT, TOO_MANY_REQUESTS, ours
from outreach.settings import Settings

log = logging.getLogger(__name__)
# The SDK logs requests (numbers, bodies) at INFO: keep it quiet.
_sdk_log = logging.getLogger("outreach.twilio.sdk")
_sdk_log.setLevel(logging.WARNING)
logging.getLogger("twilio").setLevel(logging.WARNING)

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
# "Was it sent?": how far back before the attempt, how many messages, how many per page.
LOOKUP_SKEW = timedelta(minutes=1)
LOOKUP_LIMIT = 200
LOOKUP_PAGE = 50
_idempotency_key: ContextVar[str | None] = ContextVar("twilio_idempotency_key", default=None)



class _HttpClient(AsyncTwilioHttpClient):
    """The SDK's async client and its own request path, plus our idempotency header.

    ``request`` adds the header and hands over to the SDK's ``request`` (its pooled
    session, logging, ``Response``). It also changes three of the arguments, because
    the SDK would get them wrong for us:

    - **timeout**: the SDK passes the per-request ``timeout`` to aiohttp as it is, and
      Twilio's ``Client`` always leaves it ``None``, which aiohttp reads as *no timeout
      at all* (``ClientTimeout(total=None)``); the client's own ``timeout`` is never
      used. A send that never gets an answer would hang its worker instead of being
      recorded as unknown (tests/providers/twilio/test_sms.py, the timeout fault).
    - **auth**: the SDK builds ``aiohttp.BasicAuth`` and passes ``auth=``; aiohttp 3.14
      deprecates both (two DeprecationWarnings per request, removed in aiohttp 4), so
      the credentials go in as an ``Authorization`` header instead.
    - **data**: the form is encoded once with ``urlencode``; given the dict, aiohttp
      builds a ``FormData`` per request. bench/RESULTS.md measured the difference with
      one worker: 1,301–1,328 → 1,489 msg/s, 586–598 → 504 µs of CPU per message.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=_sdk_log)
        self._authorization: tuple[tuple[str, str], str] | None = None

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
        headers = dict(headers or {})
        key = _idempotency_key.get()
        if key:
            headers[IDEMPOTENCY_HEADER] = key
        if auth is not None:
            headers["Authorization"] = self._basic_auth(auth)
        body: Any = None
        if data is not None:
            body = urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await super().request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )

    def _basic_auth(self, auth: tuple[str, str]) -> str:
        # The same credentials on every request: encoded once.
        if self._authorization is None or self._authorization[0] != auth:
            self._authorization = (auth, _basic_auth(*auth))
        return self._authorization[1]


_EMPTY_TWIML = str(MessagingResponse())


class TwilioChannel:
    channel = "sms"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        required = {
            "OUTREACH_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "OUTREACH_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
            "OUTREACH_TWILIO_FROM or OUTREACH_TWILIO_MESSAGING_SERVICE_SID": settings.twilio_from
            or settings.twilio_messaging_service_sid,
            "OUTREACH_PUBLIC_BASE_URL": settings.public_base_url,
        }
        self.missing = [name for name, value in required.items() if not value]
        self.enabled = not self.missing
        self._validator = RequestValidator(settings.twilio_auth_token or "")
        self._client: Client | None = None
        self._http: _HttpClient | None = None

    @staticmethod
    def empty_twiml() -> str:
        """The acknowledgement: replies go out through the outbox, not in the response."""
        return _EMPTY_TWIML

    def describe_off(self) -> str:
        return "SMS channel off: set " + ", ".join(self.missing)

    @property
    def public_base_url(self) -> str:
        return (self.settings.public_base_url or "").rstrip("/")

    @property
    def status_callback(self) -> str:
        return self.public_base_url + "/webhooks/twilio/status"

    def validate(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        return bool(signature) and self._validator.validate(url, dict(params), signature)

    def _get_client(self) -> Client:
        # aiohttp sessions belong to the running loop: build the client on first use.
        if self._client is None:
            s = self.settings
            self._http = _HttpClient(timeout=s.twilio_timeout)
            self._client = Client(s.twilio_account_sid, s.twilio_auth_token, http_client=self._http)
            if s.twilio_api_base:
                self._client.api.base_url = s.twilio_api_base.rstrip("/")
        return self._client

    async def send(self, message: Outgoing) -> SendResult:
        client = self._get_client()
        s = self.settings
        options: dict[str, Any] = {
            "to": message.address,
            "body": message.body,
            "status_callback": self.status_callback,
        }
        if s.twilio_messaging_service_sid:
            options["messaging_service_sid"] = s.twilio_messaging_service_sid
        else:
            options["from_"] = s.twilio_from
        token = _idempotency_key.set(message.key)
        try:
            created = await client.messages.create_async(**options)
        except TwilioRestException as exc:
            raise _classify_rest(exc) from exc
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: the request did not go out.
            raise SendError(Failure.retryable, f"cannot connect to Twilio: {exc.os_error}") from exc
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise SendError(Failure.unknown, "no answer from Twilio in time") from exc
        except aiohttp.ClientError as exc:
            raise SendError(Failure.unknown, f"connection lost: {type(exc).__name__}") from exc
        finally:
            _idempotency_key.reset(token)
        segments = int(created.num_segments) if created.num_segments is not None else None
        status = ours(str(created.status)) or OutboxStatus.queued
        return SendResult(sid=str(created.sid), status=status, segments=segments)

    async def lookup(self, message: Outgoing, since: datetime) -> list[SendResult] | None:
        """Twilio's Messages list, filtered by recipient (newest first), down to messages
        created a minute before ``since`` (clocks differ; Twilio's dates have whole
        seconds), matched on the body. At most LOOKUP_LIMIT messages are read."""
        client = self._get_client()
        floor = since - LOOKUP_SKEW
        found: list[SendResult] = []
        try:
            stream = await client.messages.stream_async(to=message.address, limit=LOOKUP_LIMIT,
                                                        page_size=LOOKUP_PAGE)
            async for sent in stream:
                if sent.date_created is not None and sent.date_created < floor:
                    break
                if str(sent.direction).startswith("outbound") and sent.body == message.body:
                    segments = int(sent.num_segments) if sent.num_segments not in (None, "0") else None
                    found.append(SendResult(sid=str(sent.sid), segments=segments,
                                            status=ours(str(sent.status)) or OutboxStatus.queued))
        except TwilioRestException as exc:
            raise _classify_rest(exc) from exc
        except (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(Failure.retryable, f"cannot list Twilio's messages: {type(exc).__name__}") from exc
        return found

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


def _basic_auth(login: str, password: str) -> str:
    encode = getattr(aiohttp, "encode_basic_auth", None)  # aiohttp >= 3.14
    return encode(login, password) if encode else aiohttp.BasicAuth(login, password).encode()


def _classify_rest(exc: TwilioRestException) -> SendError:
    code = int(exc.code) if exc.code is not None else None
    reason = f"Twilio {exc.status} {code}: {exc.msg}"
    if code == OPTED_OUT:
        return SendError(Failure.opted_out, reason, code)
    if code == TOO_MANY_REQUESTS or exc.status == 429 or exc.status >= 500:
        return SendError(Failure.retryable, reason, code)
    return SendError(Failure.permanent, reason, code)
