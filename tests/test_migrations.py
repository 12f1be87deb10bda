"""The migrations build exactly the schema the models describe (on each database)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from outreach.db import create_engine
from outreach.db.engine import is_current
from outreach.models import metadata

OUTREACH = str(Path(sys.executable).parent / "outreach")


async def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_engine(db_url)

    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_two_upgrades_at_once_on_postgresql_are_safe(db_url: str) -> None:
    """Replicas that each run `outreach db upgrade` at the same moment: the advisory lock
    lets one migrate and the other find nothing to do (without it, both CREATE TABLE)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer; the race is PostgreSQL's (its run covers it)")
    fresh = make_url(db_url).set(database="outreach_migrate_race").render_as_string(hide_password=False)
    admin = create_engine(db_url)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DROP DATABASE IF EXISTS outreach_migrate_race"))
            await conn.execute(text("CREATE DATABASE outreach_migrate_race"))
        # Two processes (Alembic's context is per process, as in two replicas).
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        env["OUTREACH_DATABASE_URL"] = fresh
        procs = [subprocess.Popen([OUTREACH, "db", "upgrade"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = await asyncio.to_thread(lambda: [p.communicate(timeout=120) for p in procs])
        assert [p.returncode for p in procs] == [0, 0], results
        assert await asyncio.to_thread(is_current, fresh)
    finally:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DROP DATABASE IF EXISTS outreach_migrate_race WITH (FORCE)"))
        await admin.dispose()
