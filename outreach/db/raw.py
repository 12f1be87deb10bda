"""The fast statement path of a unit of work (``database``): the hot paths' statements.

Each inbound message runs a handful of tiny statements. Through SQLAlchemy's async
layers each costs ~50 µs of Python and a greenlet switch, ten times the statement
itself on SQLite. So the hot paths compile their Core statements once per dialect (SQL
text, parameter order and SQLAlchemy's own bind processors, so values are stored
exactly as the ORM would store them: ``Prepared``, ``Statements``) and run them on the
unit of work's driver connection, inside its transaction. Rows are read by column name
on both drivers. Each domain keeps its statements in its own repository; the one place
where SQLite and PostgreSQL differ beyond what SQLAlchemy compiles (a turn's save in one
round trip, the advisory locks) is here, once.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler



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


class Row(Protocol):
    """A result row: by column name (or, for one-column reads, position). sqlite3.Row
    and asyncpg's Record both are one."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Raw(Protocol):
    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Row | None: ...
    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None: ...
    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None: ...
    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Row]: ...

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
    """sqlite3 on the loop thread (see ``outreach.db.sqlite_inline``): no awaits at all."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _cursor(self) -> sqlite3.Cursor:
        cursor = self.conn.cursor()
        # Rows by column name, as asyncpg's records are (the connection's own factory
        # stays the default: SQLAlchemy reads its rows from the same connection).
        cursor.row_factory = sqlite3.Row  # type: ignore[assignment]
        return cursor

    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Row | None:
        return self._cursor().execute(stmt.sql, stmt.args(values)).fetchone()  # type: ignore[no-any-return]

    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None:
        self.conn.execute(stmt.sql, stmt.args(values))

    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None:
        self.conn.executemany(stmt.sql, [stmt.args(r) for r in rows])

    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Row]:
        return self._cursor().execute(stmt.sql, stmt.args(values)).fetchall()

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

    async def row(self, stmt: Prepared, values: dict[str, Any]) -> Row | None:
        return await self.conn.fetchrow(stmt.sql, *stmt.args(values))  # type: ignore[no-any-return]

    async def run(self, stmt: Prepared, values: dict[str, Any]) -> None:
        await self.conn.execute(stmt.sql, *stmt.args(values))

    async def many(self, stmt: Prepared, rows: list[dict[str, Any]]) -> None:
        await self.conn.executemany(stmt.sql, [stmt.args(r) for r in rows])

    async def rows(self, stmt: Prepared, values: dict[str, Any]) -> list[Row]:
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


def lock_id(key: str) -> int:
    """A stable signed 64-bit id for an address (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def json_value(value: Any) -> Any:
    """JSON columns come back as text from both drivers (SQLAlchemy decodes them itself)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
