"""PostgreSQL stopped and started under one ``Database``: while it is down a unit of work
raises ``DatabaseUnavailable`` (not the driver's error), the outage is logged once, and
once it is back the same ``Database`` works at once, its dead pooled connections
replaced. A private cluster (tests/pg_cluster.py), so the restart disturbs nobody."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from outreach.db import Database
from outreach.errors import DatabaseUnavailable
from tests.pg_cluster import Cluster, private_cluster

POOL = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster() as c:
        yield c


async def _select(db: Database, value: int) -> int:
    async with db.begin() as uow:
        row = await uow.conn.fetchval("SELECT $1::int", value)
        return int(row)


async def _fill_pool(db: Database) -> None:
    """Every pooled connection opened (all units at once hold one each)."""
    gate = asyncio.Event()

    async def hold(i: int) -> int:
        async with db.begin() as uow:
            await gate.wait()
            return int(await uow.conn.fetchval("SELECT $1::int", i))

    tasks = [asyncio.create_task(hold(i)) for i in range(POOL)]
    await asyncio.sleep(0.2)
    gate.set()
    assert await asyncio.gather(*tasks) == list(range(POOL))


def _lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "outreach.db.database" and words in r.getMessage()]


async def test_down_raises_database_unavailable_and_the_same_database_works_after_start(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    db = Database(cluster.url, pool_size=POOL)
    try:
        await _fill_pool(db)
        await asyncio.to_thread(cluster.stop, "fast")
        # Both paths, several times: the fast path's driver calls and the ORM session.
        for i in range(3):
            with pytest.raises(DatabaseUnavailable) as raised:
                await _select(db, i)
            assert raised.value.status_code == 503
            assert raised.value.retry_after is not None
            with pytest.raises(DatabaseUnavailable):
                async with db.begin() as uow:
                    await uow.execute(text("SELECT 1"))
        assert not db.available
        assert len(_lines(caplog, "database unavailable")) == 1  # one line per outage
        assert not any(r.exc_info for r in caplog.records)  # and no traceback

        await asyncio.to_thread(cluster.start)
        # The first unit of work after the start succeeds: no dead connection handed out.
        assert await _select(db, 7) == 7
        assert db.available
        # Every pooled connection was replaced: all at once, none fails.
        await _fill_pool(db)
        async with db.begin() as uow:
            assert (await uow.execute(text("SELECT 2"))).scalar_one() == 2
        assert len(_lines(caplog, "database reachable again")) == 1
        assert len(_lines(caplog, "database unavailable")) == 1
    finally:
        if not cluster.running():
            await asyncio.to_thread(cluster.start)
        await db.close()


async def test_a_connection_lost_mid_transaction_rolls_back_and_reconnects(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    db = Database(cluster.url, pool_size=POOL)
    try:
        async with db.begin() as uow:
            await uow.conn.execute("DROP TABLE IF EXISTS mid; CREATE TABLE mid (x int)")
        in_transaction = asyncio.Event()

        async def write_slowly() -> None:
            async with db.begin("mid") as uow:
                await uow.conn.execute("INSERT INTO mid VALUES (1)")
                in_transaction.set()
                await asyncio.sleep(3)  # the server stops meanwhile
                await uow.conn.execute("INSERT INTO mid VALUES (2)")

        writer = asyncio.create_task(write_slowly())
        await in_transaction.wait()
        await asyncio.to_thread(cluster.stop, "fast")
        with pytest.raises(DatabaseUnavailable):
            await writer
        await asyncio.to_thread(cluster.start)
        async with db.begin() as uow:
            assert await uow.conn.fetchval("SELECT count(*) FROM mid") == 0  # nothing half-done
        assert len(_lines(caplog, "database unavailable")) == 1
        assert len(_lines(caplog, "database reachable again")) == 1
        assert not any(r.exc_info for r in caplog.records)
    finally:
        if not cluster.running():
            await asyncio.to_thread(cluster.start)
        await db.close()
