"""Alembic, configured in code (no alembic.ini to keep in sync with the settings)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """For callers already inside an event loop (env.py runs its own loop)."""
    await asyncio.to_thread(upgrade, database_url, revision)


def is_current(database_url: str) -> bool:
    """Whether the database is at the newest migration (``outreach serve`` refuses to
    start otherwise, instead of migrating by itself: see ``outreach db upgrade``)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

    from outreach.db import create_engine

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())

    async def current() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                def read(sync: Connection) -> set[str]:
                    return set(MigrationContext.configure(sync).get_current_heads())
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(current()) == heads


def revision(database_url: str, message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=autogenerate)
