"""Database engine and sessions.

SQLite is the embedded default. Its writes serialise on one file lock, so many
connections writing from a thread pool queue on that lock with busy-waits and the tail
latency explodes. The engine therefore gives SQLite exactly one connection: requests
wait their turn on an asyncio queue (cheap, fair) instead of on the file lock, and that
connection runs on the event-loop thread (``outreach.sqlite_inline``), because a
statement on a local file is cheaper than a hop to a helper thread. WAL and
synchronous=NORMAL keep each commit short and durable across a process crash.
PostgreSQL gets a normal pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.sqlite_inline import creator


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
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
    # The API is light: conversation turns and the outbox use asyncpg's own pool
    # (outreach.conversations.store), so keep this one small (connections are processes).
    return create_async_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work: commits on success, rolls back on error (services only flush)."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
