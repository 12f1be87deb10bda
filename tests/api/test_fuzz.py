"""Schemathesis over the whole OpenAPI document, against a real `outreach serve`, with an
admin token and without, on SQLite and (in the PostgreSQL pass) PostgreSQL: no server
error, no response outside the document (status, shape, content type, Allow header), no
schema-invalid input accepted. The checks and their two exceptions are in
schemathesis.toml at the repository's root; the run is bounded by --max-examples."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from outreach.db import Database
from tests.conftest import REPO
from tests.factories import empty_tables, free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
EXAMPLES = os.environ.get("OUTREACH_FUZZ_EXAMPLES", "40")


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A served app on its own port; its log file; an admin token."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    closed = free_port()  # nothing listens there: sends fail on loopback, never leave it
    env = {
        **os.environ,
        "OUTREACH_DATABASE_URL": db_url,
        "OUTREACH_ENV": "test",
        "OUTREACH_PORT": str(port),
        "OUTREACH_SERVE_RUNS_WORKER": "false",
        "OUTREACH_PUBLIC_BASE_URL": base,
        "OUTREACH_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "OUTREACH_TWILIO_AUTH_TOKEN": "fuzz-token",
        "OUTREACH_TWILIO_FROM": "+15005550006",
        "OUTREACH_TWILIO_API_BASE": f"http://127.0.0.1:{closed}",
        "OUTREACH_TELEGRAM_TOKEN": "123456:ABCdefGhIJKlmnoPQRstuVWXyz",
        "OUTREACH_TELEGRAM_SECRET": "fuzz-secret",
        "OUTREACH_TELEGRAM_API_BASE": f"http://127.0.0.1:{closed}/",
        "NO_PROXY": "*",
    }
    created = subprocess.run(
        [str(BIN / "outreach"), "users", "create", "--name", "fuzz", "--role", "admin",
         "--no-password"], env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    token = created.stdout.strip().splitlines()[-1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(BIN / "outreach"), "serve"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, token, log
    finally:
        proc.terminate()
        proc.wait(20)
        asyncio.run(_empty(db_url))


async def _empty(url: str) -> None:
    db = Database(url)
    try:
        await empty_tables(db)
    finally:
        await db.close()


def _schemathesis(base: str, *headers: str) -> subprocess.CompletedProcess[str]:
    args = [str(BIN / "st"), "run", f"{base}/openapi.json", "--max-examples", EXAMPLES,
            "--seed", "20261205", "--no-color",
            "-H", "X-Telegram-Bot-Api-Secret-Token: fuzz-secret"]
    for header in headers:
        args += ["-H", header]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_PROXY": "*", "SCHEMATHESIS_TELEMETRY": "false"})


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_schemathesis_finds_nothing(server: tuple[str, str, Path], who: str) -> None:
    base, token, log = server
    headers = [f"Authorization: Bearer {token}"] if who == "admin" else []
    result = _schemathesis(base, *headers)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout and " 0 passed" not in result.stdout, report
    served = log.read_text()
    # A 500 would have failed the run; nothing may even have been logged as one.
    assert "unhandled error" not in served and "Traceback" not in served, served[-6000:]
