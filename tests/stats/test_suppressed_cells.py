"""Complementary suppression in the knowledge report, through the API on the real service
(SQLite, and PostgreSQL with OUTREACH_TEST_DATABASE_URL): no suppressed city can be worked
out from the overall minus the shown cities, on either side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from outreach.container import Container
from outreach.stats.service import KnowledgeReport
from outreach.stats.table import render_knowledge
from outreach.users.models import Role
from tests.factories import auth, create_token
from tests.stats.test_retakes import FAIL, PASS, T0, attempt, person

HIDDEN = {"n": None, "knowers": None, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}


async def city(services: Container, name: str, *, people: int, first: int, latest: int) -> None:
    """``people`` in ``name``: ``first`` of them pass at once; ``latest`` pass 40 days on."""
    for i in range(people):
        contact_id = await person(services, name)
        await attempt(services, contact_id, T0, PASS if i < first else FAIL)
        await attempt(services, contact_id, T0 + timedelta(days=40), PASS if i < latest else FAIL)


async def by_city(client: httpx.AsyncClient, services: Container) -> dict[str, Any]:
    token = await create_token(services, Role.coordinator)
    response = await client.get("/api/v1/stats/knowledge?group_by=city", headers=auth(token))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def groups(body: dict[str, Any], which: str) -> dict[str, dict[str, Any]]:
    return {g["key"]: {k: v for k, v in g.items() if k != "key"} for g in body[which]["groups"]}


def recoverable(body: dict[str, Any], which: str) -> bool:
    """The attack the old report allowed: the overall minus the shown cities, when exactly
    one city is hidden."""
    cells = body[which]["groups"]
    return sum(1 for g in cells if g["suppressed"]) == 1 and not body[which]["overall"]["suppressed"]


async def test_one_small_city_takes_the_next_smallest_with_it(
    client: httpx.AsyncClient, services: Container
) -> None:
    await city(services, "hangzhou", people=3, first=1, latest=2)
    await city(services, "guangzhou", people=6, first=2, latest=4)
    await city(services, "shenzhen", people=9, first=4, latest=7)
    body = await by_city(client, services)
    for which, knowers in (("first", 7), ("latest", 13)):
        got = groups(body, which)
        assert got["hangzhou"] == HIDDEN and got["guangzhou"] == HIDDEN, which
        assert got["shenzhen"]["n"] == 9 and not got["shenzhen"]["suppressed"]
        overall = body[which]["overall"]
        assert overall["n"] == 18 and overall["knowers"] == knowers and not overall["suppressed"]
        assert not recoverable(body, which)
    assert groups(body, "latest")["shenzhen"]["knowers"] == 7


async def test_hidden_cities_where_no_one_knew_take_a_third(
    client: httpx.AsyncClient, services: Container
) -> None:
    """Hangzhou and Guangzhou together had no knower at first: hiding just those two would
    still tell that each was 0%. So Shenzhen is hidden too; Beijing, the biggest, shows."""
    await city(services, "hangzhou", people=3, first=0, latest=2)
    await city(services, "guangzhou", people=6, first=0, latest=4)
    await city(services, "shenzhen", people=9, first=4, latest=7)
    await city(services, "beijing", people=12, first=6, latest=10)
    body = await by_city(client, services)
    for which in ("first", "latest"):
        got = groups(body, which)
        assert [k for k, g in got.items() if g["suppressed"]] == ["guangzhou", "hangzhou", "shenzhen"]
        assert got["beijing"]["n"] == 12 and body[which]["overall"]["n"] == 30
    assert groups(body, "first")["beijing"]["knowers"] == 6


async def test_when_no_one_knew_anywhere_the_breakdown_hides_its_overall(
    client: httpx.AsyncClient, services: Container
) -> None:
    """Every hidden split would say 0%, so nothing in the breakdown is shown; the CLI table
    names the configured threshold."""
    await city(services, "hangzhou", people=3, first=0, latest=0)
    await city(services, "shenzhen", people=9, first=0, latest=0)
    body = await by_city(client, services)
    for which in ("first", "latest"):
        assert body[which]["overall"] == HIDDEN
        assert groups(body, which) == {"hangzhou": HIDDEN, "shenzhen": HIDDEN}
    table = render_knowledge(KnowledgeReport.model_validate(body), 7)
    assert "suppressed (n<7)" in table and "(n<5)" not in table
    assert [line.split()[:4] for line in table.splitlines() if line.startswith("hangzhou")] == [
        ["hangzhou", "-", "-", "suppressed"]] * 2
