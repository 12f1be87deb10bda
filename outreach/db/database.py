"""One database: one engine and pool, and the units of work on it.

``Database.begin(key)`` is the only way the service touches its database, and the unit of
work it yields is the only thing that commits. A unit of work is one transaction on one
connection that offers both paths onto it:

- the **fast path** (``uow.row``/``run``/``many``/``rows``/``count``, see ``raw``):
  statements compiled once per dialect and run on the driver connection, for the hot
  paths (a conversation turn, the dispatcher);
- the **ORM session** (``uow.session``): an SQLModel session bound to the same
  connection, inside the same transaction, for everything else (the API).

The transaction is begun and ended with plain SQL by the unit of work itself, never by
SQLAlchemy: on PostgreSQL the pool's connections are in the driver adapter's autocommit
mode (so SQLAlchemy sends no BEGIN of its own and its commit and rollback are no-ops),
on SQLite the connection has no implicit transactions and the adapter's commit and
rollback are no-ops (``sqlite_inline``). A session therefore only flushes; the unit of
work flushes it once more and commits when the block ends without an error, and rolls
back otherwise.

``key`` serialises units of work across processes (one address's messages, one slot's
bookings): on PostgreSQL a transaction-scoped advisory lock taken with the BEGIN in one
round trip; SQLite has one writer, so everything is serialised anyway.

SQLite: the engine has exactly one connection, shared by both paths and run on the
event-loop thread. Units of work take turns on an asyncio lock (first come, first
served) and run BEGIN IMMEDIATE … COMMIT without yielding to the loop unless they await
something themselves, so the file lock is never held across a hand-over. If another
process (a CLI command) holds the write lock, BEGIN fails at once and the unit of work
waits asynchronously and retries instead of blocking the loop. PostgreSQL: one pool,
handed out first come, first served (the pool's own queue lets newcomers overtake
waiters, which starved some turns under load).

PostgreSQL going away (stopped, restarting, a connection cut mid-transaction) is an
operating state, not a bug: the unit of work raises ``DatabaseUnavailable`` (a 503 with
Retry-After to an API client), the outage is logged once, with the error's type only
(never a statement's values), and once more when a unit of work commits again. Every
connection opened before the failure is then suspect: each is replaced when it is next
checked out (as is one the event loop already saw closed), so the first unit of work
after the server is back gets a fresh connection, with no restart of the process.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.db.raw import AsyncpgRaw, SqliteRaw, lock_id
from outreach.db.sqlite_inline import InlineConnection
from outreach.errors import ConfigError, DatabaseFull, DatabaseUnavailable, ServiceUnavailable

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=0")


# SQLite's result codes for "the disk is full" and "a write failed" (its extended I/O codes
# are SQLITE_IOERR | n << 8): nothing a retry of the same request can fix right now.
_SQLITE_FULL, _SQLITE_IOERR = 13, 10


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the errors under it, each once: the driver's error SQLAlchemy wraps
    (``orig``), else the cause. (Not the context: an error raised while handling a
    driver's error is not that error.)"""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = getattr(exc, "orig", None) or exc.__cause__


def _disk_full(exc: BaseException | None) -> sqlite3.Error | None:
    """The SQLite disk-full or I/O error behind ``exc``, if that is what it is."""
    for e in _chain(exc):
        if isinstance(e, sqlite3.Error):
            code = getattr(e, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR):
                return e
    return None


# SQLSTATEs saying the server went away or takes no connections now: class 08 (connection
# exception), 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (the
# database system is starting up or shutting down).
_GONE = ("08", "57P01", "57P02", "57P03")
# Where a pooled connection's record keeps the generation it was opened in.
_GENERATION = "outreach.generation"


def _unreachable(exc: BaseException, *, connecting: bool) -> BaseException | None:
    """The error in ``exc`` (itself or the driver error it wraps) saying the server cannot
    be reached, if any. A timeout counts only when connecting: a statement that timed out
    on a live connection is a slow statement, not an outage."""
    for e in _chain(exc):
        if isinstance(e, OSError) and (connecting or not isinstance(e, TimeoutError)):
            return e  # refused, reset, no route, …
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_GONE):
            return e
    return None


def _innermost(exc: BaseException) -> BaseException:
    """The driver's error under SQLAlchemy's wrappers (its type says what happened)."""
    *_, inner = _chain(exc)
    return inner


class _Session:
    """The lazily opened ORM session of a unit of work (most hot-path units never open
    one)."""

    _session: AsyncSession | None = None
    _after: list[Callable[[], None]] | None = None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this unit of work has committed (never if it rolls
        back), e.g. to wake the dispatcher for the outbox rows it wrote."""
        if self._after is None:
            self._after = []
        self._after.append(callback)

    def _committed(self) -> None:
        for callback in self._after or ():
            callback()

    async def _flush(self) -> None:
        if self._session is not None:
            await self._session.flush()

    async def _close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> AsyncSession:
        raise NotImplementedError

    async def execute(self, statement: Any, params: Any = None) -> Any:
        """A Core statement on this unit's connection, for what the fast path has no
        prepared statement for (a one-off read, a test's set-up)."""
        conn = await self.session.connection()
        return await conn.execute(statement, params)


class SqliteUnit(SqliteRaw, _Session):
    def __init__(self, conn: sqlite3.Connection, engine: AsyncEngine) -> None:
        super().__init__(conn)
        self._engine = engine

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            # The pool's one connection is this one: the session runs in this transaction.
            self._session = AsyncSession(bind=self._engine, expire_on_commit=False)
        return self._session


class PostgresUnit(AsyncpgRaw, _Session):
    def __init__(self, fairy: PoolProxiedConnection, engine: AsyncEngine) -> None:
        super().__init__(fairy.driver_connection)
        self._fairy = fairy
        self._engine = engine
        self._connection: AsyncConnection | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            # An SQLAlchemy connection over this unit's own pooled connection.
            sync = Connection(self._engine.sync_engine, connection=self._fairy)
            self._connection = AsyncConnection(self._engine, sync)
            self._session = AsyncSession(bind=self._connection, expire_on_commit=False)
        return self._session

    async def _release(self) -> None:
        await self._close()
        if self._connection is not None:
            conn, self._connection = self._connection, None
            await conn.close()  # gives the pooled connection back
        else:
            await greenlet_spawn(self._fairy.close)


Unit = SqliteUnit | PostgresUnit


class Database:
    """The service's database (one per process): its engine and units of work."""

    def __init__(self, url: str, *, pool_size: int = 20, busy_for: float = 10.0) -> None:
        self.url = url
        # PostgreSQL outages: connections opened in an older generation are replaced;
        # _down_since (loop time) is set while the database is known to be unreachable.
        self._generation = 0
        self._down_since: float | None = None
        self._outage = 0  # the generation the current outage began in
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if not database or database == ":memory:":
                raise ConfigError("the SQLite database must be a file")
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._sqlite: sqlite3.Connection | None = sqlite3.connect(
                database, isolation_level=None, check_same_thread=False)
            for pragma in SQLITE_PRAGMAS:
                self._sqlite.execute(f"PRAGMA {pragma}")
            shared = self._sqlite

            async def connect() -> InlineConnection:
                return InlineConnection(shared, owns_transactions=False)

            self.engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60,
                                              async_creator=connect, hide_parameters=True)
            self._turn = asyncio.Lock()
            self._disk_was_full = False
        elif parsed.get_backend_name() == "postgresql":
            self._sqlite = None
            self.engine = create_async_engine(
                parsed.set(drivername="postgresql+asyncpg"), pool_size=pool_size,
                max_overflow=0, pool_timeout=60, connect_args={"command_timeout": 30},
                # An error's text must not carry bound values: they can be phone numbers.
                hide_parameters=True)

            @event.listens_for(self.engine.sync_engine, "connect")
            def _autocommit(dbapi_conn: Any, record: Any) -> None:
                # The unit of work begins and ends transactions; the adapter must not.
                dbapi_conn.set_isolation_level("autocommit")
                record.info[_GENERATION] = self._generation

            @event.listens_for(self.engine.sync_engine, "checkout")
            def _alive(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
                # Not handed out again: a connection the loop saw closed, or one opened
                # before the last outage (the pool opens a new one in its place). No
                # round trip: a pre-ping would cost one per unit of work.
                if (dbapi_conn.driver_connection.is_closed()
                        or record.info.get(_GENERATION, -1) < self._generation):
                    raise DisconnectionError("connection opened before the database went away")

            # First come, first served (see the module's docstring).
            self._fair = asyncio.Semaphore(pool_size)
        else:
            raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: "
                              "use sqlite+aiosqlite:///… or postgresql+asyncpg://…")
        self.dialect = self.engine.dialect
        self.busy_for = busy_for

    @property
    def name(self) -> str:
        return str(self.dialect.name)

    def begin(self, key: str | None = None) -> Any:
        """``async with db.begin(key) as uow``: one transaction; commits when the block
        ends, rolls back if it raises."""
        return self._begin_sqlite() if self._sqlite is not None else self._begin_pg(key)

    @asynccontextmanager
    async def _begin_sqlite(self) -> AsyncIterator[SqliteUnit]:
        conn = self._sqlite
        assert conn is not None
        async with self._turn:
            await self._begin_immediate(conn)
            unit = SqliteUnit(conn, self.engine)
            try:
                yield unit
                await unit._flush()
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:  # SQLite ends some failed transactions itself
                    conn.execute("ROLLBACK")
                await unit._close()
                if (full := _disk_full(exc)) is not None:
                    raise self._full(full) from exc
                raise
            await unit._close()
            if self._disk_was_full:
                self._disk_was_full = False
                log.warning("database writable again: %s", self.url)
        unit._committed()

    def _full(self, exc: sqlite3.Error) -> DatabaseFull:
        """The error a unit of work raises when the disk is full, said in the log once
        (not a traceback per request) until a commit works again."""
        if not self._disk_was_full:
            self._disk_was_full = True
            log.error("database disk is full: %s (%s); units of work fail with 503 until "
                      "space is freed", exc, self.url)
        return DatabaseFull("The database's disk is full; nothing was saved. Try again later.")

    async def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        delay, waited = 0.001, 0.0
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    if (full := _disk_full(exc)) is not None:
                        raise self._full(full) from exc
                    raise
                if waited >= self.busy_for:
                    raise ServiceUnavailable("The database is busy; try again shortly.") from exc
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.02)

    @asynccontextmanager
    async def _begin_pg(self, key: str | None) -> AsyncIterator[PostgresUnit]:
        async with self._fair:
            try:
                fairy = await greenlet_spawn(self.engine.sync_engine.pool.connect)
            except Exception as exc:
                if _unreachable(exc, connecting=True) is None:
                    raise
                raise self._unavailable(exc, None) from exc
            unit = PostgresUnit(fairy, self.engine)
            driver = unit.conn
            generation = fairy.info.get(_GENERATION)
            try:
                # BEGIN and the lock in one round trip (simple protocol; the key is an
                # integer computed here, so nothing is interpolated from input).
                lock = f"; SELECT pg_advisory_xact_lock({lock_id(key)})" if key else ""
                await driver.execute("BEGIN" + lock)
                yield unit
                await unit._flush()
                await driver.execute("COMMIT")
            except Exception as exc:
                if isinstance(exc, DatabaseUnavailable) or not (
                        driver.is_closed() or _unreachable(exc, connecting=False) is not None):
                    raise
                raise self._unavailable(exc, generation) from exc
            finally:
                try:
                    # A lost connection's transaction ended with it, on the server.
                    if not driver.is_closed() and driver.is_in_transaction():
                        await driver.execute("ROLLBACK")
                finally:
                    await unit._release()
        if self._down_since is not None and (generation or 0) >= self._outage:
            # Committed on a connection opened since the outage began: it is over. (One
            # from before it that was still alive proves nothing: a shutdown ends the
            # server's sessions one by one.)
            self._back()
        unit._committed()

    def _unavailable(self, exc: BaseException, generation: int | None) -> DatabaseUnavailable:
        """The error a unit of work raises when the server cannot be reached, and the
        bookkeeping: the outage is logged once, and every connection opened so far will
        be replaced. ``generation``: the lost connection's (None: connecting failed); a
        connection from before the last outage failing is old news."""
        if generation is None or generation >= self._generation:
            self._generation += 1
            if self._down_since is None:
                self._down_since = asyncio.get_running_loop().time()
                self._outage = self._generation
                # The type only: a driver's message can quote a statement's values.
                cause = _unreachable(exc, connecting=generation is None) or _innermost(exc)
                log.warning("database unavailable (%s): requests answer 503 and work waits "
                            "until it is back", type(cause).__name__)
        return DatabaseUnavailable("The database is unavailable; try again shortly.")

    def _back(self) -> None:
        if self._down_since is None:
            return
        down_for = asyncio.get_running_loop().time() - self._down_since
        self._down_since = None
        log.warning("database reachable again after %.1f s", down_for)

    @property
    def available(self) -> bool:
        """False from a unit of work failing for an unreachable database until one
        commits again."""
        return self._down_since is None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work's ORM session, for code that needs nothing else."""
        async with self.begin() as uow:
            yield uow.session

    async def ping(self) -> None:
        async with self.begin() as uow:
            await uow.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
