"""The disk full under SQLite: a clear 503, nothing half-written, and the same process
works again once space is freed.

The full disk is real: the database lives on a 4 MB tmpfs mounted for the test, and a
filler file takes its last block (the kernel answers ENOSPC, SQLite SQLITE_FULL). Mounting
needs root, which this project's machines and CI have (checked: ``mount -t tmpfs`` works
in the sandbox the suite runs in); an unprivileged run skips, saying so, and on CI that
is a failure. RLIMIT_FSIZE would have worked too, but it limits one file's size, not the
disk, and SQLite answers it with an I/O error rather than SQLITE_FULL.

Before filling, the WAL is checkpointed and truncated (as it is after a clean start): a
WAL already grown reuses its own blocks, so a small write would need no new space.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from content import Library
from outreach.app import create_app
from outreach.container import Container, build_container
from outreach.errors import DatabaseFull
from outreach.migrate import upgrade
from outreach.outbound.dispatcher import Dispatcher
from outreach.outbound.policy import SendPolicy
from outreach.outbound.enqueue import Enqueuer
from outreach.outbound.models import OutboxStatus, Purpose
from outreach.outbound.sender import Outgoing, SendResult
from outreach.regions import Regions
from outreach.timeutil import ManualClock
from tests.conftest import ON_CI
from tests.fakes.servers import SmsServer, sms_settings
from tests.fakes.twilio import FakeTwilio

BASE = "http://testserver"
PHONE = "+8613800138000"

TABLES = ("contact", "contact_urn", "inbox_event", "message", "outbox", "consent_event",
          "quiz_attempt", "quiz_answer", "place_asked", "link_request")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        why = getattr(exc, "stderr", None) or exc
        if ON_CI:
            pytest.fail(f"cannot mount a small tmpfs for the disk-full test: {why}")
        pytest.skip(f"cannot mount a small tmpfs (needs root): {why}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


class Disk:
    """The small filesystem and the file that fills it."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.filler = where / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        assert os.statvfs(self.where).f_bavail == 0

    def free(self) -> None:
        self.filler.unlink()


def truncate_wal(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    assert Path(f"{path}-wal").stat().st_size == 0


def integrity(path: Path) -> list[tuple[str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


async def counts(services: Container) -> dict[str, int]:
    async with services.db.begin() as uow:
        return {t: (await uow.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in TABLES}


@pytest.fixture
def migrated(small_disk: Path) -> Path:
    path = small_disk / "outreach.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def on_small_disk(migrated: Path, library: Library, regions: Regions,
                        fake_twilio: FakeTwilio) -> AsyncIterator[tuple[Container, Path]]:
    path = migrated
    fake_twilio.reset()
    # The simulator and the Twilio channel (signed webhooks; sends go to the fake).
    settings = sms_settings(f"sqlite+aiosqlite:///{path}", BASE, fake_twilio)
    services = build_container(settings, library=library, regions=regions)
    try:
        yield services, path
    finally:
        await services.close()


async def dialog(services: Container, who: str) -> str:
    async with services.db.begin() as uow:
        return str((await uow.execute(text(
            "SELECT c.dialog FROM contact c JOIN contact_urn u ON u.contact_id = c.id "
            "WHERE u.path = :who"), {"who": who})).scalar_one())


async def say(client: httpx.AsyncClient, contact: str, words: str) -> httpx.Response:
    return await client.post("/api/v1/simulator/messages",
                             json={"contact": contact, "text": words})


async def test_a_full_disk_is_a_clear_503_and_the_same_process_works_once_space_is_freed(
    on_small_disk: tuple[Container, Path], fake_twilio: FakeTwilio,
    caplog: pytest.LogCaptureFixture
) -> None:
    services, path = on_small_disk
    disk = Disk(path.parent)
    app = create_app(services.settings, services)
    # As a server would: an unhandled error is a 500 response, not raised into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        twilio = SmsServer(BASE, services, fake_twilio, client)
        first = await say(client, "amy", "hi")
        assert first.status_code == 200 and first.json()["replies"]
        assert (await twilio.inbound(PHONE, "hi")).status_code == 200
        before = await counts(services)
        assert before["contact"] == before["contact_urn"] == before["inbox_event"] + 1 == 2
        amy = await dialog(services, "amy")

        truncate_wal(path)
        disk.fill()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            # A new person's first message and the next turn of a conversation under way.
            refused = [await say(client, "bo", "hi"), await say(client, "amy", "1"),
                       await say(client, "amy", "1"),
                       await twilio.inbound(PHONE, "1", sid="SM" + "f" * 32)]
        for answer in refused:  # Twilio's webhook too: 503, so it is not taken as handled
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "database_full"
            assert "disk is full" in answer.json()["error"]["message"]
        # One clear line for the whole episode, no traceback per request.
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [r.getMessage().split(":")[0] for r in errors] == ["database disk is full"]
        assert errors[0].exc_info is None
        # Reads still work, and nothing of the refused turns was kept.
        assert await counts(services) == before
        assert await dialog(services, "amy") == amy  # the turn under way: not half-saved

        disk.free()
        again = await say(client, "bo", "hi")
        assert again.status_code == 200, again.text
        assert again.json()["replies"] == first.json()["replies"]
        assert (await say(client, "amy", "1")).status_code == 200
        # The SMS refused earlier, delivered again, is handled (once).
        assert (await twilio.inbound(PHONE, "1", sid="SM" + "f" * 32)).status_code == 200
        assert (await twilio.inbound(PHONE, "1", sid="SM" + "f" * 32)).status_code == 200
        assert any("writable again" in r.getMessage() for r in caplog.records)

    after = await counts(services)
    assert after["contact"] == after["contact_urn"] == 3
    assert after["inbox_event"] == 2
    assert after["outbox"] > before["outbox"]  # its replies were queued
    assert await dialog(services, "amy") != amy  # the turn after the freed space was saved
    assert integrity(path) == [("ok",)]


class FillsTheDisk:
    """A provider that takes the message, and meanwhile the disk fills up: the outcome
    must wait for space, never turn the message into a failure."""

    channel = "sim"
    enabled = True

    def __init__(self, disk: Disk) -> None:
        self.disk = disk
        self.sent: list[str] = []

    async def send(self, message: Outgoing) -> SendResult:
        self.disk.fill()
        self.sent.append(message.key)
        return SendResult(sid=f"SM{len(self.sent):032d}", status=OutboxStatus.queued, segments=1)

    async def lookup(self, message: Outgoing, since: object) -> list[SendResult] | None:
        return None

    async def close(self) -> None:
        return None


async def test_an_outcome_the_full_disk_refuses_is_retried_not_failed(
    on_small_disk: tuple[Container, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    services, path = on_small_disk
    db, disk = services.db, Disk(path.parent)
    now = services.clock.now()
    async with db.begin() as uow:
        await uow.execute(text(
            "INSERT INTO contact (id, consent, opted_out, dialog, created_at, updated_at, "
            "language, last_channel) VALUES (1, 'granted', false, '{}', :now, :now, 'en', 'sim')"),
            {"now": now})
        await uow.execute(text("INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
                               "VALUES (1, 'sim', 'amy', :now)"), {"now": now})
        for key, due in (("campaign:1:1", now - timedelta(seconds=1)),
                         ("campaign:2:1", now + timedelta(hours=1))):
            await Enqueuer(db.dialect).enqueue(uow, key=key, contact_id=1, body="Free checkups.",
                                               purpose=Purpose.campaign, due_at=due)
    provider = FillsTheDisk(disk)
    # Quiet hours off: a campaign is held at night in the contact's zone, and this test
    # must not depend on the hour it runs at.
    dispatcher = Dispatcher(db, [provider], lease=60,  # type: ignore[list-item]
                            policy=SendPolicy(quiet=None, daily_cap=100))
    truncate_wal(path)

    async def status() -> tuple[str, int]:
        async with db.begin() as uow:
            row = (await uow.execute(text(
                "SELECT status, attempts FROM outbox WHERE idempotency_key = 'campaign:1:1'"))).one()
        return row[0], row[1]

    with caplog.at_level(logging.WARNING):
        draining = asyncio.create_task(dispatcher.drain_once())
        for _ in range(200):  # the provider took it; its outcome cannot be written
            if sum("cannot record" in r.getMessage() for r in caplog.records) >= 3:
                break
            await asyncio.sleep(0.05)
        assert not draining.done()
        assert provider.sent == ["campaign:1:1"]
        assert await status() == ("sending", 1)  # not failed, not dead: waiting for space
        # While the disk is full nothing new is claimed: the claim is refused as a whole.
        later = Dispatcher(db, [provider], clock=ManualClock(now + timedelta(hours=2)))  # type: ignore[list-item]
        with pytest.raises(DatabaseFull):
            await later.drain_once()
        disk.free()
        assert await asyncio.wait_for(draining, 10) == 1
    assert await status() == ("queued", 1)
    assert provider.sent == ["campaign:1:1"]  # sent once
    assert integrity(path) == [("ok",)]
