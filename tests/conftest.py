"""Test fixtures. The suite runs on SQLite, and on PostgreSQL when
OUTREACH_TEST_DATABASE_URL is set (``make test`` does both). On CI PostgreSQL must be
reachable; elsewhere its run skips, saying why."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from content import Library, load_library
from outreach.app import create_app
from outreach.db import create_engine
from outreach.migrate import upgrade
from outreach.regions import Regions, load_regions
from outreach.container import Container, build_container
from outreach.settings import Env, Settings
from tests.factories import empty_tables

# The fake providers and the servers that talk to them, for every test that needs them.
from tests.fakes.servers import fake_telegram, fake_twilio, sms_server, tg  # noqa: E402, F401

PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"outreach database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL run repeats only the tests that touch a database."""
    if not PG_URL:
        return
    keep = [i for i in items if "db_url" in getattr(i, "fixturenames", ())]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if PG_URL:
        settings_url = Settings(database_url=PG_URL).database_url
        try:
            asyncio.run(_reset_postgres(settings_url))
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            if ON_CI:
                pytest.fail(f"PostgreSQL is required on CI but not usable at {PG_URL}: {exc}")
            pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({exc}); its run is skipped outside CI")
        url = settings_url
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def library() -> Library:
    return load_library()


@pytest.fixture(scope="session")
def regions() -> Regions:
    return load_regions(Settings().regions_file)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env=Env.test, database_url=db_url)


@pytest.fixture
async def services(settings: Settings, library: Library, regions: Regions) -> AsyncIterator[Container]:
    svc = build_container(settings, library=library, regions=regions)
    svc.conversations.rng = random.Random(1234)
    try:
        yield svc
    finally:
        await empty_tables(svc.db)
        await svc.close()


@pytest.fixture
async def client(services: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


REPO = Path(__file__).resolve().parent.parent
