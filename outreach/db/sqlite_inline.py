"""An in-thread SQLite connection for SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call on a helper thread: creating a cursor, executing, fetching
and closing each cost a round trip through a queue and a wake-up of the event loop,
four or more per statement. For a local file in WAL mode a statement takes a few
microseconds, so the hops cost far more than the work. This shim gives the dialect
the same async interface but runs sqlite3 directly on the event-loop thread.

It is safe here because the engine keeps exactly one SQLite connection (see
``outreach.db.database``): statements never wait on another connection's lock inside
the process. Another process (a CLI command) can hold the write lock briefly.

With ``owns_transactions=False`` (the service's ``Database``) the connection is shared
with the unit of work, which begins and ends every transaction itself: SQLAlchemy's
commit and rollback are then no-ops and closing leaves the connection open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The subset of ``aiosqlite.Connection`` that SQLAlchemy's adapter uses."""

    def __init__(self, conn: sqlite3.Connection, *, owns_transactions: bool = True) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._owns = owns_transactions

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        if self._owns:
            self._conn.isolation_level = value  # type: ignore[assignment]

    async def commit(self) -> None:
        if self._owns:
            self._conn.commit()

    async def rollback(self) -> None:
        if self._owns:
            self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            if self._owns:
                self._conn.close()


def creator(database: str, timeout: float) -> Any:
    async def connect() -> InlineConnection:
        conn = sqlite3.connect(database, timeout=timeout, check_same_thread=False)
        return InlineConnection(conn)

    return connect
