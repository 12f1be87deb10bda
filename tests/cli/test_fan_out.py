"""`outreach outbox fan-out` as an operator runs it (a real subprocess, on SQLite and in
the PostgreSQL run on PostgreSQL): SIGTERM part-way stops it after the chunk in progress
with exit 75, what it scheduled is whole chunks, and the same command again finishes the
campaign with one message per person."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from outreach.db import Database
from outreach.timeutil import utcnow
from tests.cli.test_cli import OUTREACH
from tests.factories import empty_database

PEOPLE = 20_000
CHUNK = 500
KEY = "campaign-2026-12"
EN, ZH = "Free checkups this month at your service point.", "本月在您的服务点可免费体检。"
COMMAND = [OUTREACH, "outbox", "fan-out", "--key", KEY, "--body", f"en={EN}",
           "--body", f"zh_Hans={ZH}", "--default-locale", "zh_Hans", "--chunk", str(CHUNK)]


@pytest.fixture
async def people(db_url: str) -> AsyncIterator[Database]:
    """PEOPLE consenting SMS contacts with ids 1…PEOPLE, every other one writing English."""
    db = Database(db_url)
    series = ("SELECT g AS n FROM generate_series(1, :n) AS g" if db.name == "postgresql" else
              "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
              "SELECT n FROM s")
    now = utcnow()
    async with db.begin() as uow:
        await uow.execute(text(
            "INSERT INTO contact (id, consent, opted_out, dialog, created_at, updated_at, "
            "language, last_channel) SELECT n, 'granted', false, '{}', :now, :now, "
            "CASE WHEN n % 2 = 0 THEN 'en' ELSE 'zh_Hans' END, 'sms' "
            f"FROM ({series}) AS x"), {"n": PEOPLE, "now": now})
        await uow.execute(text(
            "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
            "SELECT n, 'tel', '+8613' || CAST(100000000 + n AS VARCHAR(16)), :now "
            f"FROM ({series}) AS x"), {"n": PEOPLE, "now": now})
    try:
        yield db
    finally:
        await db.close()
        await empty_database(db_url)


def env(db_url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")},
            "OUTREACH_ENV": "test", "OUTREACH_DATABASE_URL": db_url,
            "OUTREACH_LOG_LEVEL": "WARNING"}


async def scheduled(db: Database) -> dict[str, int]:
    async with db.begin() as uow:
        row = (await uow.execute(text(
            "SELECT count(*), count(DISTINCT contact_id), max(contact_id), "
            "sum(CASE WHEN body = :zh THEN 1 ELSE 0 END) FROM outbox WHERE idempotency_key "
            "LIKE :prefix"), {"zh": ZH, "prefix": f"{KEY}:%"})).one()
    return {"rows": row[0], "people": row[1], "highest": row[2] or 0, "zh": row[3] or 0}


async def test_sigterm_stops_after_a_whole_chunk_and_the_same_command_finishes(
    db_url: str, people: Database
) -> None:
    proc = subprocess.Popen(COMMAND, env=env(db_url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first chunk is committed
        assert re.fullmatch(rf"fan-out {KEY}: {CHUNK}/{PEOPLE} contact ids\n", first), first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 75, (out, err)
    lines = (first + err).splitlines()
    done = int(re.findall(r": (\d+)/\d+ contact ids", "\n".join(lines))[-1])
    assert f"stopped by SIGTERM after {done} of {PEOPLE} contact ids" in err
    assert "run the same command again to continue" in err

    part = await scheduled(people)
    assert 0 < part["rows"] < PEOPLE  # stopped part-way …
    assert part["rows"] % CHUNK == 0  # … after whole chunks …
    assert part["rows"] == part["people"] == part["highest"] == done  # … exactly as reported
    assert part["zh"] == part["rows"] // 2

    again = subprocess.run(COMMAND, env=env(db_url), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{PEOPLE - done} messages scheduled" in again.stdout
    assert await scheduled(people) == {"rows": PEOPLE, "people": PEOPLE, "highest": PEOPLE,
                                       "zh": PEOPLE // 2}


def test_fan_out_refuses_a_body_without_its_locale_or_a_due_time_without_offset(db_url: str) -> None:
    bad = subprocess.run([OUTREACH, "outbox", "fan-out", "--key", KEY, "--body", "fr=Bonjour"],
                         env=env(db_url), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "LOCALE=TEXT" in bad.stderr
    naive = subprocess.run([*COMMAND, "--due", "2026-12-24T09:00"], env=env(db_url),
                           capture_output=True, text=True, timeout=60)
    assert naive.returncode == 2 and "UTC offset" in naive.stderr
