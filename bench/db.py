"""Databases for the benchmarks: a fresh migrated one, and set-based seeding.

Everything here is set-up, never timed: seeding is one ``INSERT … SELECT`` over
``generate_series`` (PostgreSQL) or a recursive CTE (SQLite), run on the plain drivers.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/outreach_bench"

# Two texts in the two languages of the seeded contacts (GSM-7 and UCS-2, one segment each).
BODIES = {
    "en": "Reminder: free HIV and STI checkups this Saturday at the community clinic. Reply 1 to book.",
    "zh_Hans": "提醒：本周六社区诊所提供免费艾滋病和性病检测。回复1预约。",
}
DEFAULT_LOCALE = "zh_Hans"


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def _fresh_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute("DROP DATABASE IF EXISTS outreach_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE outreach_bench")
    finally:
        await conn.close()


def prepare(backend: str, workdir: Path) -> str:
    """A freshly migrated database: a file in ``workdir`` or PostgreSQL's outreach_bench."""
    from outreach.migrate import upgrade

    if backend == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        asyncio.run(_fresh_postgres())
        url = PG_BENCH
    upgrade(url)
    return url


class Db:
    """Plain-driver statements on the benchmark's database (set-up and checks only).

    SQL is written with ``?`` placeholders; on PostgreSQL they become ``$1, $2 …``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.path = make_url(url).database or ":memory:"
        else:
            self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    @staticmethod
    def _dollars(sql: str) -> str:
        parts = sql.split("?")
        return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))

    def execute(self, *statements: str) -> None:
        """Each statement in order, without parameters, each in its own transaction (on
        PostgreSQL one string may hold several statements)."""
        if self.sqlite:
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=30000")
                for sql in statements:
                    conn.execute(sql).fetchall()
            finally:
                conn.close()
        else:
            asyncio.run(self._pg_execute(statements))

    def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """The rows of one query (``?`` placeholders)."""
        if self.sqlite:
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=30000")
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        return asyncio.run(self._pg_fetch(self._dollars(sql), args))

    async def _pg_execute(self, statements: Sequence[str]) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    async def _pg_fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    # ------------------------------------------------------------------ seeding

    def seed_contacts(self, n: int, start: int = 1) -> None:
        """Contacts ``start`` … ``start + n - 1``: consent granted, last wrote by SMS, one
        in three English and the rest Chinese, each with one ``tel`` URN."""
        end = start + n - 1
        if self.sqlite:
            now = "2026-01-01 00:00:00.000000"
            self.fetch(
                "WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
                "INSERT INTO contact (id, language, city, consent, opted_out, dialog, created_at, "
                "updated_at, last_channel) "
                "SELECT i, CASE WHEN i % 3 = 0 THEN 'en' ELSE 'zh_Hans' END, 'Shenzhen', 'granted', 0, "
                "'{}', ?, ?, 'sms' FROM seq", start, end, now, now)
            self.fetch(
                "INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
                "SELECT id, 'tel', '+86139' || printf('%08d', id), ? FROM contact WHERE id BETWEEN ? AND ?",
                now, start, end)
            self.execute("ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            self.execute(
                f"INSERT INTO contact (id, language, city, consent, opted_out, dialog, created_at, "
                f"updated_at, last_channel) "
                f"SELECT i, CASE WHEN i % 3 = 0 THEN 'en' ELSE 'zh_Hans' END, 'Shenzhen', 'granted', "
                f"false, '{{}}', now(), now(), 'sms' FROM generate_series({start:d}, {end:d}) AS i; "
                f"INSERT INTO contact_urn (contact_id, scheme, path, created_at) "
                f"SELECT id, 'tel', '+86139' || lpad(id::text, 8, '0'), now() FROM contact "
                f"WHERE id BETWEEN {start:d} AND {end:d}; "
                "SELECT setval(pg_get_serial_sequence('contact', 'id'), (SELECT max(id) FROM contact)); "
                "SELECT setval(pg_get_serial_sequence('contact_urn', 'id'), (SELECT max(id) FROM contact_urn))",
                "VACUUM ANALYZE contact",
                "VACUUM ANALYZE contact_urn",
                "CHECKPOINT",
            )

    def clear_outbox(self) -> None:
        """An empty outbox, and the database settled (nothing left to flush)."""
        if self.sqlite:
            self.execute("DELETE FROM outbox", "PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            self.execute("TRUNCATE outbox RESTART IDENTITY", "CHECKPOINT")

    def outbox_fingerprint(self) -> tuple[Any, ...]:
        """Enough of the outbox's content to tell two ways of filling it apart."""
        return tuple(self.fetch(
            "SELECT count(*), count(DISTINCT idempotency_key), count(DISTINCT address), "
            "sum(segments), sum(length(body)), sum(length(idempotency_key)), min(contact_id), "
            "max(contact_id), count(DISTINCT body), count(DISTINCT encoding), "
            "sum(CASE WHEN status = 'pending' AND attempts = 0 AND choices IS NULL THEN 1 ELSE 0 END) "
            "FROM outbox")[0])

    def outbox_statuses(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.fetch("SELECT status, count(*) FROM outbox GROUP BY status")}
