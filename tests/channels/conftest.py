"""An Outreach server on a real port with the SMS channel pointed at the fake Twilio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from content import Library
from outreach.app import create_app
from outreach.regions import Regions
from outreach.services import Services, build_services
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
    services: Services
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
        async with self.services.db.connect() as conn:
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
    services = build_services(settings, library=library, regions=regions)
    app = create_app(settings, services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    if not request.node.get_closest_marker("background_dispatcher"):
        # Tests drain the outbox themselves, so what they inspect is settled.
        await services.dispatcher.stop()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        try:
            yield SmsServer(base, services, fake_twilio, http)
        finally:
            server.should_exit = True
            await task
            await empty_database(db_url)
