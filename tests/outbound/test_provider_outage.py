"""The provider down: Twilio answering 500 to everything, or holding every request open
without an answer, for seconds, then back. The real dispatcher sends through the real
Twilio SDK (a 0.5 s timeout) to the fake on loopback, on SQLite and PostgreSQL.

What must hold: the request rate falls to a trickle while the provider is down (a paused
channel probes with one send), rows keep their attempts (nobody is dead-lettered because
the provider was down), never more than ``concurrency`` requests are open at the provider,
a send whose answer never came is not sent again until Twilio's Messages list says it
was not sent, and a message whose expiry passes meanwhile is never sent.
The one-minute version with worker processes is bench/faults.py's ``outage`` scenario."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bench.faults import seed
from outreach.db import Database
from outreach.outbound.dispatcher import Dispatcher
from outreach.outbound.policy import SendPolicy
from outreach.providers.twilio.adapter import TwilioChannel
from outreach.timeutil import utcnow
from tests.factories import empty_database
from tests.fakes.servers import sms_settings
from tests.fakes.twilio import Fault, FakeTwilio

CONCURRENCY = 4
TIMEOUT = 0.5  # the Twilio client's, per request


@dataclass
class Rig:
    db: Database
    fake: FakeTwilio
    dispatcher: Dispatcher
    channel: TwilioChannel

    async def rows(self) -> list[dict[str, Any]]:
        async with self.db.begin() as uow:
            return [dict(r._mapping) for r in (await uow.execute(text(
                "SELECT id, address, status, attempts, error FROM outbox ORDER BY id"))).all()]

    async def statuses(self) -> Counter[str]:
        return Counter(r["status"] for r in await self.rows())

    async def settled(self, timeout: float) -> Counter[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            counts = await self.statuses()
            if not (counts["pending"] or counts["sending"] or counts["unknown"]):
                return counts
            assert loop.time() < deadline, f"not settled after {timeout} s: {dict(counts)}"
            await asyncio.sleep(0.05)

    def per_person(self) -> Counter[str]:
        return Counter(m["to"] for m in self.fake.messages)


@pytest.fixture
async def rig(db_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[Rig]:
    fake_twilio.reset()
    fake_twilio.honour_idempotency = False  # as real Twilio: a blind resend texts twice
    settings = sms_settings(db_url, "http://127.0.0.1:9", fake_twilio, twilio_timeout=TIMEOUT)
    channel = TwilioChannel(settings)
    db = Database(db_url)
    # Short pauses so a test sees recovery within seconds (the default pauses up to 30 s).
    dispatcher = Dispatcher(db, [channel], concurrency=CONCURRENCY, max_attempts=3, lease=30,
                            policy=SendPolicy(quiet=None, daily_cap=1000),
                            rng=random.Random(7), pause_cap=3.0)
    dispatcher.start()

    async def tick() -> None:  # the worker's outbox.dispatch tick
        while True:
            await asyncio.sleep(0.1)
            dispatcher.wake()

    ticking = asyncio.create_task(tick())
    try:
        yield Rig(db, fake_twilio, dispatcher, channel)
    finally:
        ticking.cancel()
        await dispatcher.stop()
        await channel.close()
        fake_twilio.restore()
        await db.close()
        await empty_database(db_url)


async def test_a_500_outage_pauses_the_channel_and_nobody_is_dead_lettered(
    db_url: str, rig: Rig
) -> None:
    """Twilio answers 500 to everything for 5 s. Without the pause each of the 30 rows
    would be retried on its own backoff (about 90 requests) and, at 3 attempts, most
    dead-lettered; paused, a handful of requests reach Twilio, every row keeps its
    attempts, and all go out once Twilio is back."""
    rig.fake.outage(status=500)
    await seed(db_url, 30)
    rig.dispatcher.wake()
    await asyncio.sleep(5)
    during = rig.fake.outage_requests
    rig.fake.restore()
    counts = await rig.settled(timeout=20)
    print(f"500 outage: {during} requests in 5 s, max attempts "
          f"{max(r['attempts'] for r in await rig.rows())}")
    assert counts == {"queued": 30}
    assert sorted(rig.per_person().values()) == [1] * 30  # each person once
    assert during <= 12  # a trickle: the first failures, then one probe per pause
    assert max(r["attempts"] for r in await rig.rows()) <= 2


async def test_a_hang_keeps_at_most_concurrency_requests_open_and_resends_nothing_blindly(
    db_url: str, rig: Rig
) -> None:
    """Three sends reach Twilio (it creates the messages) but their answers never come;
    then Twilio hangs on everything, the Messages list too, for 4 s. At most
    ``concurrency`` requests are ever open at Twilio; the three in doubt are not sent again
    until the list can be read, and it shows them sent; nothing is dead-lettered."""
    rig.fake.inject(*[Fault.timeout(2 * TIMEOUT, accept=True)] * 3)
    await seed(db_url, 20)
    rig.dispatcher.wake()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(rig.fake.messages) < 3:  # the three are created, their answers pending
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    rig.fake.outage(hang=60)
    await asyncio.sleep(4)
    during = rig.fake.outage_requests
    rig.fake.restore()
    counts = await rig.settled(timeout=20)
    print(f"hang: {during} requests in 4 s, at most {rig.fake.max_in_flight} open, "
          f"{rig.fake.lookups} list pages read")
    assert rig.fake.max_in_flight <= CONCURRENCY
    assert counts == {"queued": 20}
    assert sorted(rig.per_person().values()) == [1] * 20  # the three were not sent twice
    assert rig.fake.lookups >= 3  # the list decided
    assert during <= 12  # a trickle
    assert max(r["attempts"] for r in await rig.rows()) <= 2


async def test_messages_that_expire_during_an_outage_are_never_sent(db_url: str, rig: Rig) -> None:
    """20 messages, the last 10 expiring 1.5 s from now; Twilio hangs for 2.5 s. Sends
    claimed before the expiry and held back by the outage must not go out after it: the
    10 end ``expired`` and Twilio never hears of them after their expiry."""
    keys = await seed(db_url, 20)
    expires = utcnow() + timedelta(seconds=1.5)
    tenth = (await rig.rows())[9]["id"]
    async with rig.db.begin() as uow:
        await uow.execute(text("UPDATE outbox SET expires_at = :at WHERE id > :tenth"),
                          {"at": expires, "tenth": tenth})
    rows = await rig.rows()
    expiring = {r["address"] for r in rows[10:]}
    rig.fake.outage(hang=60)
    rig.dispatcher.wake()
    await asyncio.sleep(2.5)
    rig.fake.restore()
    counts = await rig.settled(timeout=20)
    assert len(keys) == 20
    assert counts == {"queued": 10, "expired": 10}
    assert {r["address"] for r in await rig.rows() if r["status"] == "expired"} == expiring
    assert not expiring & set(rig.per_person())  # none of them went out
    late = [r for r in rig.fake.requests
            if r.form.get("To") in expiring and r.at >= expires.timestamp()]
    assert late == []  # nor was any of them even tried after its expiry
