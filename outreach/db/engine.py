"""A plain SQLAlchemy engine, for migrations (Alembic runs in its own transaction) and
test set-up that drops whole schemas. The service itself uses ``Database``.

SQLite gets one connection run on the event-loop thread (``sqlite_inline``) with WAL,
synchronous=NORMAL and a busy timeout, as the service's own.
"""

from __future__ import annotations

import asyncio

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from outreach.db.sqlite_inline import creator


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # An error's text must not carry bound values: they can be phone numbers.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            async_creator=creator(database or ":memory:", timeout=5.0),
            **kwargs,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=2, max_overflow=2, **kwargs)


def is_current(database_url: str) -> bool:
    """Whether the database is at the newest migration (``outreach serve`` refuses to
    start otherwise, instead of migrating by itself: see ``outreach db upgrade``)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

    from outreach.migrate import alembic_config

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
