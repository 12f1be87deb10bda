"""An Outreach server on a real port with the SMS channel pointed at the fake Twilio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from content import Library
from outreach.app import create_app
from outreach.regions import Regions
from outreach.providers.telegram.adapter import RateLimiter
from outreach.container import Container, build_container
from outreach.settings import Env, Settings
from tests.factories import empty_database, free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

SENDER = "+15005550006"


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@dataclass
class SmsServer:
    base_url: str
    services: Container
    fake: FakeTwilio
    http: httpx.AsyncClient
    sid_counter: int = 0

    def next_sid(self) -> str:
        self.sid_counter += 1
        return f"SM{self.sid_counter:032x}"

    def signed(self, path: str, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        signature = self.fake.sign(self.base_url + path, params)
        return params, {"X-Twilio-Signature": signature}

    async def inbound(self, phone: str, body: str, sid: str | None = None) -> httpx.Response:
        """Twilio delivering an SMS from ``phone`` (a signed form POST)."""
        params = {
            "MessageSid": sid or self.next_sid(),
            "SmsSid": "",
            "AccountSid": self.fake.account_sid,
            "From": phone,
            "To": SENDER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        params["SmsSid"] = params["MessageSid"]
        data, headers = self.signed("/webhooks/twilio/sms", params)
        return await self.http.post("/webhooks/twilio/sms", data=data, headers=headers)

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages if m["to"] == phone]

    async def wait_sent(self, phone: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sent_to(phone)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.sent_to(phone))} of {count} messages to {phone} sent")
            await asyncio.sleep(0.02)
        return self.sent_to(phone)

    async def converse(self, phone: str, body: str) -> str:
        """Send one SMS and return everything the bot texted back for it."""
        before = len(self.sent_to(phone))
        response = await self.inbound(phone, body)
        assert response.status_code == 200, response.text
        await self.services.dispatcher.drain_once()
        outbox = await self.outbox_count(phone)
        sent = await self.wait_sent(phone, outbox)
        return "\n".join(m["body"] for m in sent[before:])

    async def outbox_count(self, phone: str) -> int:
        async with self.services.db.begin() as conn:
            return int((await conn.execute(
                text("SELECT count(*) FROM outbox WHERE address = :a"), {"a": phone}
            )).scalar_one())


def sms_settings(db_url: str, base_url: str, fake: FakeTwilio, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Env.test,
        "database_url": db_url,
        "public_base_url": base_url,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": SENDER,
        "twilio_api_base": fake.base_url,
        "twilio_timeout": 0.5,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def sms_server(
    request: pytest.FixtureRequest,
    db_url: str,
    fake_twilio: FakeTwilio,
    library: Library,
    regions: Regions,
) -> AsyncIterator[SmsServer]:
    """The app under uvicorn in this event loop. The dispatcher is started by the app but
    tests usually drain it themselves for determinism."""
    fake_twilio.reset()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = sms_settings(db_url, base, fake_twilio)
    keep = bool(request.node.get_closest_marker("background_dispatcher"))
    async with running_app(settings, port, library, regions, keep_dispatcher=keep) as (services, http):
        yield SmsServer(base, services, fake_twilio, http)


@asynccontextmanager
async def running_app(
    settings: Settings,
    port: int,
    library: Library,
    regions: Regions,
    *,
    keep_dispatcher: bool = False,
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """The app under uvicorn on ``port``, in this event loop, and a client for it. Unless
    asked to keep it, the app's own worker (dispatcher and jobs) is stopped: tests drain the outbox
    themselves, so what they inspect is settled. The tables are emptied afterwards."""
    services = build_container(settings, library=library, regions=regions)
    app = create_app(settings, services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    if not keep_dispatcher:
        await services.worker.stop()
    # Telegram's real limits would make these tests wait seconds for nothing.
    services.telegram.limiter = RateLimiter(per_second=1000, per_chat_interval=0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        try:
            yield services, http
        finally:
            server.should_exit = True
            await task
            await empty_database(settings.database_url)


SECRET = "s3cret-token_for-tests"
CHAT = 777001


@dataclass
class TgServer:
    base_url: str
    services: Container
    fake: FakeTelegram
    http: httpx.AsyncClient

    @property
    def webhook(self) -> str:
        return self.base_url + "/webhooks/telegram"

    async def deliver(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        return await self.fake.post_update_async(self.webhook, update, secret=secret)

    async def say(self, chat: int, words: str, **kw: Any) -> dict[str, Any]:
        """A message from the person; returns the bot's answer (one message per turn)."""
        return await self._turn(chat, self.fake.message_update(chat, words, **kw))

    async def press(self, chat: int, choice_id: str, **kw: Any) -> dict[str, Any]:
        last = self.fake.sent_to(chat)[-1]
        ids = [row[0]["callback_data"] for row in last["reply_markup"]["inline_keyboard"]]
        assert choice_id in ids, ids
        update = self.fake.callback_update(chat, choice_id, message_id=last["message_id"], **kw)
        return await self._turn(chat, update)

    async def _turn(self, chat: int, update: dict[str, Any]) -> dict[str, Any]:
        before = len(self.fake.sent_to(chat))
        assert await self.deliver(update) == 200
        await self.services.dispatcher.drain_once()
        sent = self.fake.sent_to(chat)
        assert len(sent) == before + 1, sent[before:]
        return sent[-1]


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [row[0]["callback_data"] for row in markup.get("inline_keyboard", [])]


@pytest.fixture
async def tg(db_url: str, fake_telegram: FakeTelegram, library: Library, regions: Regions) -> AsyncIterator[TgServer]:
    fake_telegram.reset()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        env=Env.test, database_url=db_url, public_base_url=base,
        telegram_token=fake_telegram.token, telegram_secret=SECRET,
        telegram_api_base=fake_telegram.base_url,
    )
    async with running_app(settings, port, library, regions) as (services, http):
        yield TgServer(base, services, fake_telegram, http)
