"""Raw-driver execution of the conversation hot path.

Each inbound message runs a handful of tiny statements. Through SQLAlchemy's async
layers each costs ~50 µs of Python and a greenlet switch, ten times the statement
itself on SQLite. So the hot path compiles its Core statements once per dialect (SQL
text, parameter order and SQLAlchemy's own bind processors, so values are stored
exactly as the ORM would store them) and runs them on the driver connection inside
the transaction that SQLAlchemy opened. Everything else keeps using SQLModel.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, cast

from sqlalchemy import Dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from outreach.errors import ConfigError, ServiceUnavailable


class Prepared:
    """A statement compiled for one dialect, with its positional bind processors."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        processors: list[Callable[[Any], Any] | None] = []
        # Values fixed in the statement itself (a LIMIT, a literal compared to).
        self._fixed: dict[str, Any] = {}
        for name in self.names:
            bind = compiled.binds[name]
            processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
            if not bind.required and bind.callable is None:
                self._fixed[name] = bind.value
        self._processors = processors

    def args(self, values: dict[str, Any]) -> list[Any]:
        out = []
        for name, proc in zip(self.names, self._processors, strict=True):
            value = values[name] if name in values else self._fixed[name]
            out.append(proc(value) if proc is not None and value is not None else value)
        return out


class Statements:
    """Prepared statements per dialect name, built on first use."""

    def __init__(self, build: Callable[[str], dict[str, ClauseElement]]) -> None:
        self._build = build
        self._by_dialect: dict[str, dict[str, Prepared]] = {}

    def for_dialect(self, dialect: Dialect) -> dict[str, Prepared]:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            prepared = {k: Prepared(v, dialect) for k, v in self._build(dialect.name).items()}
            self._by_dialect[dialect.name] = prepared
        return prepared


class Raw(Protocol):
    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Sequence[Any] | None: ...
    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None: ...
    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None: ...
    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Sequence[Any]]: ...

    async def count(self, stmt: Prepared, values: dict[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; how many rows it touched."""
        ...

    async def try_lock(self, key: str) -> bool:
        """Take ``key`` for this transaction if no other transaction holds it."""
        ...

    async def lock(self, key: str) -> None:
        """Serialise with every other transaction on ``key`` (until this one ends)."""
        ...

    async def save_turn(
        self,
        sql: dict[str, Prepared],
        contact: dict[str, Any],
        channel: str,
        log: list[tuple[str, str]],
    ) -> None:
        """Write the contact's new state and the turn's messages (direction, text)."""
        ...


async def _save_turn_generic(
    raw: Raw, sql: dict[str, Prepared], contact: dict[str, Any], channel: str,
    log: list[tuple[str, str]],
) -> None:
    await raw.run(sql["update_contact"], {**contact, "last_channel": channel})
    if log:
        await raw.many(
            sql["message"],
            [
                {"contact_id": contact["cid"], "direction": direction, "channel": channel,
                 "text": text, "created_at": contact["updated_at"]}
                for direction, text in log
            ],
        )


class SqliteRaw:
    """sqlite3 on the loop thread (see ``outreach.sqlite_inline``): no awaits at all."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Sequence[Any] | None:
        return self.conn.execute(stmt.sql, stmt.args(values)).fetchone()  # type: ignore[no-any-return]

    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None:
        self.conn.execute(stmt.sql, stmt.args(values))

    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None:
        self.conn.executemany(stmt.sql, [stmt.args(r) for r in rows])

    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Sequence[Any]]:
        return self.conn.execute(stmt.sql, stmt.args(values)).fetchall()

    async def count(self, stmt: Prepared, values: dict[str, Any]) -> int:
        return self.conn.execute(stmt.sql, stmt.args(values)).rowcount

    async def lock(self, key: str) -> None:
        return None  # one writer: every transaction is already serialised

    async def try_lock(self, key: str) -> bool:
        return True  # one writer, one process does it all

    async def save_turn(
        self, sql: dict[str, Prepared], contact: dict[str, Any], channel: str,
        log: list[tuple[str, str]],
    ) -> None:
        await _save_turn_generic(self, sql, contact, channel, log)


class AsyncpgRaw:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Sequence[Any] | None:
        return await self.conn.fetchrow(stmt.sql, *stmt.args(values))  # type: ignore[no-any-return]

    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None:
        await self.conn.execute(stmt.sql, *stmt.args(values))

    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None:
        await self.conn.executemany(stmt.sql, [stmt.args(r) for r in rows])

    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Sequence[Any]]:
        return await self.conn.fetch(stmt.sql, *stmt.args(values))  # type: ignore[no-any-return]

    async def count(self, stmt: Prepared, values: dict[str, Any]) -> int:
        status = await self.conn.execute(stmt.sql, *stmt.args(values))
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 3", "INSERT 0 3"

    async def lock(self, key: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id(key))

    async def try_lock(self, key: str) -> bool:
        return bool(await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_id(key)))

    async def save_turn(
        self, sql: dict[str, Prepared], contact: dict[str, Any], channel: str,
        log: list[tuple[str, str]],
    ) -> None:
        # One round trip for both writes: each costs ~70 µs of client CPU in syscalls.
        await self.conn.execute(
            _PG_SAVE_TURN,
            contact["cid"], contact["language"], contact["consent"], contact["city"],
            contact["district"], contact["opted_out"], json.dumps(contact["dialog"]),
            contact["updated_at"], channel, [d for d, _ in log], [t for _, t in log],
            contact["community"], contact["prompt"],
        )


_PG_SAVE_TURN = """
WITH updated AS (
    UPDATE contact
    SET language = $2, consent = $3, city = $4, district = $5, opted_out = $6,
        dialog = $7::json, updated_at = $8, community = $12, last_channel = $9, prompt = $13
    WHERE id = $1
)
INSERT INTO message (contact_id, direction, channel, text, created_at)
SELECT $1, m.direction, $9, m.text, $8
FROM unnest($10::varchar[], $11::varchar[]) AS m(direction, text)
"""


class Writer(Protocol):
    """Opens the hot path's transactions: ``async with writer.begin(key) as raw``."""

    def begin(self, key: str | None) -> AbstractAsyncContextManager[Raw]:
        """A transaction; with a key, one at a time per key across processes."""
        ...

    async def close(self) -> None: ...


class SqliteWriter:
    """A dedicated SQLite connection whose transactions never wait inside the event loop.

    The pooled connection hands itself over through an asyncio queue, and every hand-over
    costs a trip round the event loop while the lock is held: under 50 clients that
    convoy, not SQLite, set the pace. Here a turn runs BEGIN IMMEDIATE … COMMIT on the
    loop thread without yielding, so the lock is never held across an await. If another
    connection (an API request, a CLI command) holds the write lock, BEGIN fails at once
    and the turn waits asynchronously and retries instead of blocking the loop.
    """

    def __init__(self, database: str, retry_for: float = 10.0) -> None:
        self.conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        # Rows read by column name, as asyncpg's records are.
        self.conn.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=0"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.retry_for = retry_for
        # Uncontended unless a turn awaits inside its transaction; then it keeps order.
        self._lock = asyncio.Lock()

    async def _begin(self) -> None:
        delay, waited = 0.001, 0.0
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if waited >= self.retry_for:
                    raise ServiceUnavailable("The database is busy; try again shortly.") from exc
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.02)

    @asynccontextmanager
    async def begin(self, key: str | None) -> AsyncIterator[Raw]:
        # One connection, one transaction at a time: every key is serialised anyway.
        async with self._lock:
            await self._begin()
            try:
                yield SqliteRaw(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


def lock_id(key: str) -> int:
    """A stable signed 64-bit id for an address (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


async def _no_reset(conn: Any) -> None:
    return None


class PostgresWriter:
    """A small asyncpg pool of its own; an advisory lock serialises one address.

    SQLAlchemy's pool hand-over, transaction bookkeeping and statement execution cost
    about 1 ms of CPU per turn here, twice the rest of the turn; asyncpg's own pool and
    transactions cost a tenth of that. The API keeps using SQLAlchemy's pool.
    """

    def __init__(self, dsn: str, size: int = 20) -> None:
        self.dsn = dsn
        self.size = size
        self._pool: Any = None
        self._opening = asyncio.Lock()
        # The pool's own queue lets a newcomer take a connection that a waiter was about
        # to get, so under load some turns starve (p99 ~250 ms at 50 clients). Waiting
        # here instead is first come, first served.
        self._fair = asyncio.Semaphore(size)

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=2,
                        max_size=self.size,
                        command_timeout=30,
                        # Turns leave no session state behind (their transaction ends
                        # and the advisory lock is transaction-scoped), so the default
                        # reset round trip on every release is pure cost.
                        reset=_no_reset,
                    )
        return self._pool

    @asynccontextmanager
    async def begin(self, key: str | None) -> AsyncIterator[Raw]:
        pool = await self._get_pool()
        async with self._fair, pool.acquire() as conn:
            try:
                # BEGIN and the lock in one round trip (simple protocol; the key is an
                # integer computed here, so nothing is interpolated from input).
                lock = f"; SELECT pg_advisory_xact_lock({lock_id(key)})" if key else ""
                await conn.execute("BEGIN" + lock)
                yield AsyncpgRaw(conn)
                await conn.execute("COMMIT")
            finally:
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def writer_for(db: AsyncEngine) -> Writer:
    if db.dialect.name == "sqlite":
        database = make_url(str(db.url)).database
        if not database or database == ":memory:":
            raise ConfigError("the SQLite database must be a file")
        return SqliteWriter(database)
    if db.dialect.name == "postgresql":
        url = db.url.set(drivername="postgresql")
        return PostgresWriter(url.render_as_string(hide_password=False))
    raise ConfigError(f"unsupported database {db.dialect.name}")


def json_value(value: Any) -> Any:
    """JSON columns come back as text from both drivers (SQLAlchemy decodes them itself)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
