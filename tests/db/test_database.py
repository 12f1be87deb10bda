"""The unit of work: one transaction on one connection, offering the ORM session and the
fast statement path together, committed (only) by the unit of work itself. Runs on
SQLite and, in the PostgreSQL run, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlmodel import select

from outreach.db import Database
from outreach.db.raw import Prepared
from outreach.users.models import Role, User
from tests.factories import empty_tables


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await empty_tables(database)
        await database.close()


def staff(name: str) -> User:
    return User(name=name, role=Role.health_worker, token_hash=name[:64])


def count_staff(db: Database) -> Prepared:
    return Prepared(text("SELECT count(*) AS n FROM staff_user"), db.dialect)


async def n_staff(db: Database) -> int:
    async with db.begin() as uow:
        row = await uow.row(count_staff(db), {})
    assert row is not None
    return int(row["n"])


async def test_the_session_and_the_fast_path_share_one_transaction(db: Database) -> None:
    async with db.begin() as uow:
        uow.session.add(staff("is the checkup free?"))
        await uow.session.flush()
        # The fast path sees the session's row: same connection, same transaction.
        row = await uow.row(count_staff(db), {})
        assert row is not None and row["n"] == 1
    assert await n_staff(db) == 1


async def test_an_error_rolls_back_both_paths(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.begin() as uow:
            uow.session.add(staff("rolled back"))
            await uow.session.flush()
            await uow.run(Prepared(text(
                "INSERT INTO staff_user (name, role, token_hash, active, created_at) "
                "VALUES ('also', 'coordinator', 'also', true, CURRENT_TIMESTAMP)"), db.dialect), {})
            raise RuntimeError("boom")
    assert await n_staff(db) == 0


async def test_the_unit_of_work_flushes_and_commits_what_the_session_did(db: Database) -> None:
    async with db.session() as session:
        session.add(staff("never flushed by the caller"))  # no flush, no commit here
    async with db.session() as session:
        found = (await session.exec(select(User))).all()
    assert [u.name for u in found] == ["never flushed by the caller"]


async def test_after_commit_runs_only_after_a_commit(db: Database) -> None:
    calls: list[str] = []
    async with db.begin() as uow:
        uow.after_commit(lambda: calls.append("committed"))
        assert calls == []
    assert calls == ["committed"]
    with pytest.raises(ValueError):
        async with db.begin() as uow:
            uow.after_commit(lambda: calls.append("rolled back"))
            raise ValueError
    assert calls == ["committed"]


async def test_units_of_work_with_one_key_run_one_at_a_time(db: Database) -> None:
    import asyncio

    inside = 0
    peak = 0

    async def unit() -> None:
        nonlocal inside, peak
        async with db.begin("tel:+8613900000001") as uow:
            inside += 1
            peak = max(peak, inside)
            await uow.row(count_staff(db), {})
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(unit() for _ in range(4)))
    assert peak == 1


async def test_rows_are_read_by_column_name(db: Database) -> None:
    async with db.begin() as uow:
        row = await uow.row(Prepared(text("SELECT 1 AS one, 'two' AS two"), db.dialect), {})
    assert row is not None and (row["one"], row["two"]) == (1, "two")
