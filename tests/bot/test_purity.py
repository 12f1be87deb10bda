"""The engine is pure: importing ``bot`` loads no database, ORM, web or channel SDK module.

Checked in a fresh interpreter, since this test process has long imported all of them."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("sqlalchemy", "sqlmodel", "alembic", "asyncpg", "aiosqlite", "fastapi",
             "starlette", "aiogram", "twilio", "httpx", "apscheduler")

PROBE = """
import json, sys
import bot, bot.engine, bot.requests, bot.contract
print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))
"""


def test_importing_the_bot_loads_no_database_web_or_channel_module() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True,
                         text=True).stdout
    loaded = set(json.loads(out))
    assert "bot" in loaded  # the probe did import it
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
