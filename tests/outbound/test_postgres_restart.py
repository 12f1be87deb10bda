"""PostgreSQL restarted in the middle of a campaign, under real processes: two `outreach
worker`s sending through the fake Twilio and one `outreach serve` (not sending) taking the
webhooks and the API. The server is stopped (fast: every connection cut) once part of the
campaign has gone out, held down while the web process is asked things, and started again.

Nobody restarts a process: the workers carry on by themselves, every person gets the
message exactly once, the web process answers 503 while the database is down (Telegram
and Twilio deliver again later) and 200 again at once after, and each process says so in
one line rather than a traceback per request or tick.

A private cluster (tests/pg_cluster.py), so it runs in the SQLite run of the suite as well
as on CI; the PostgreSQL run deselects it (it takes no ``db_url``).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bench.faults import OUTREACH, seed, start_worker, stop_workers, worker_env
from outreach.db import Database
from tests.factories import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.pg_cluster import Cluster, private_cluster

MESSAGES = 400
LATENCY = 0.2  # per send: 2 workers × 10 at once → about 100 a second
LEASE = 5.0
SECRET = "restart-secret"
PHONE = "+8613912345678"  # a person texting in, not one of the campaign's
CHAT = 424242  # a Telegram chat


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as c:
        yield c


async def _campaign_statuses(url: str) -> Counter[str]:
    db = Database(url)
    try:
        async with db.begin() as uow:
            return Counter(dict((await uow.execute(text(
                "SELECT status, count(*) FROM outbox WHERE idempotency_key LIKE 'campaign:%' "
                "GROUP BY status"))).all()))
    finally:
        await db.close()


async def _until(what: str, check: object, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (await check() if asyncio.iscoroutinefunction(check) else check()):  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        await asyncio.sleep(0.1)


class Web:
    """The web process's side of the test: signed webhooks and API calls."""

    def __init__(self, base: str, fake: FakeTwilio, telegram: FakeTelegram) -> None:
        self.base = base
        self.fake = fake
        self.telegram = telegram
        self.http = httpx.AsyncClient(base_url=base, timeout=10)
        self.sids = iter(f"SM{n:032x}" for n in range(1, 1000))

    async def sms(self, body: str) -> httpx.Response:
        sid = next(self.sids)
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.fake.account_sid,
                "From": PHONE, "To": "+15005550006", "Body": body, "NumMedia": "0",
                "NumSegments": "1"}
        signature = self.fake.sign(self.base + "/webhooks/twilio/sms", form)
        return await self.http.post("/webhooks/twilio/sms", data=form,
                                    headers={"X-Twilio-Signature": signature})

    async def telegram_update(self, update: dict[str, object]) -> httpx.Response:
        return await self.http.post("/webhooks/telegram", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})

    async def simulator(self, body: str) -> httpx.Response:
        return await self.http.post("/api/v1/simulator/messages",
                                    json={"contact": "restart-sim", "text": body})


def _lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


@pytest.mark.slow
async def test_postgres_restarted_mid_dispatch_loses_nothing_and_sends_nothing_twice(
    cluster: Cluster, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    url = cluster.url
    fake_twilio.reset()
    fake_twilio.honour_idempotency = False  # as real Twilio: a repeated send is a second SMS
    fake_telegram.reset()
    env = worker_env(url, fake_twilio, "+15005550006", LEASE, fake_telegram)
    subprocess.run([str(OUTREACH), "db", "upgrade"], env=env, check=True, timeout=60,
                   capture_output=True)
    keys = await seed(url, MESSAGES)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = {name: tmp_path / f"{name}.log" for name in ("worker1", "worker2", "web")}
    files = {name: path.open("wb") for name, path in logs.items()}
    web_env = {**env, "OUTREACH_SERVE_RUNS_WORKER": "false", "OUTREACH_PUBLIC_BASE_URL": base,
               "OUTREACH_TELEGRAM_SECRET": SECRET}
    fake_twilio.latency = LATENCY
    procs = [start_worker(url, fake_twilio, sender, LEASE, fake_telegram,
                          stderr=files[name].fileno())
             for name, sender in (("worker1", "+15005550006"), ("worker2", "+15005550007"))]
    web_proc = subprocess.Popen([str(OUTREACH), "serve", "--port", str(port)], env=web_env,
                                stdout=subprocess.DEVNULL, stderr=files["web"])
    web = Web(base, fake_twilio, fake_telegram)
    try:
        async def web_up() -> bool:
            assert web_proc.poll() is None, logs["web"].read_text()
            try:
                return (await web.http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await _until("serving", web_up, 30)
        # Part of the campaign is out, more is in flight: stop the server (fast).
        await _until("a quarter sent", lambda: len(fake_twilio.messages) >= MESSAGES // 4, 30)
        await asyncio.to_thread(cluster.stop, "fast")
        sent_at_stop = len(fake_twilio.messages)
        assert sent_at_stop < MESSAGES  # really mid-dispatch

        # While it is down: 503 with Retry-After everywhere, never a 500.
        update = fake_telegram.message_update(CHAT, "/start", language_code="en")
        down = {
            "healthz": await web.http.get("/healthz"),
            "simulator": await web.simulator("hello"),
            "twilio": await web.sms("hello"),
            "telegram": await web.telegram_update(update),
        }
        for what, answer in down.items():
            assert answer.status_code == 503, (what, answer.status_code, answer.text)
            assert answer.headers.get("Retry-After"), what
            assert answer.json()["error"]["code"] == "database_unavailable", what
        await asyncio.sleep(2)  # held down a while: the workers' claims and records fail
        await asyncio.to_thread(cluster.start)

        # Back: the web process answers at once, with no restart.
        health = await web.http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["database"] == "ok"
        assert (await web.simulator("hello")).status_code == 200
        assert (await web.sms("hello")).status_code == 200
        # Telegram delivers the update it got a 503 for again: handled now.
        assert (await web.telegram_update(update)).status_code == 200

        async def drained() -> bool:
            counts = await _campaign_statuses(url)
            return sum(counts.values()) == MESSAGES and set(counts) <= {"queued"}

        await _until("drained", drained, 60)
        # The replies to the SMS and the Telegram update went out through the workers.
        await _until("replied by SMS", lambda: any(m["to"] == PHONE for m in fake_twilio.messages), 20)
        await _until("replied on Telegram", lambda: bool(fake_telegram.sent_to(CHAT)), 20)
        for proc in procs:
            assert proc.poll() is None  # both workers carried on by themselves
        assert web_proc.poll() is None
    finally:
        await web.http.aclose()
        fake_twilio.latency = 0.0
        stop_workers([*procs, web_proc])
        for f in files.values():
            f.close()

    # Every person got the campaign's message exactly once.
    campaign = Counter(m["to"] for m in fake_twilio.messages if m["to"] != PHONE)
    assert len(campaign) == MESSAGES
    assert set(campaign.values()) == {1}, {to: n for to, n in campaign.items() if n > 1}
    assert await _campaign_statuses(url) == Counter({"queued": MESSAGES})
    assert len(keys) == MESSAGES
    for proc in procs:
        assert proc.returncode == 0  # SIGTERM: a clean stop
    # One line for the outage and one for its end per process: no traceback storm.
    for name, log in logs.items():
        lines = _lines(log)
        said = f"{name}:\n" + "\n".join(lines[:60])
        assert not [line for line in lines if "Traceback" in line], said
        assert sum("database unavailable" in line for line in lines) == 1, said
        assert sum("database reachable again" in line for line in lines) == 1, said
        assert len(lines) <= 12, said
