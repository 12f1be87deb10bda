"""Health workers manage service points through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from outreach.container import Container
from outreach.users.models import Role
from tests.appointments import point_body
from tests.factories import auth, create_token

URL = "/api/v1/service-points"


@pytest.fixture
async def worker(services: Container) -> dict[str, str]:
    return auth(await create_token(services, Role.health_worker))


async def test_create_get_and_list(client: httpx.AsyncClient, worker: dict[str, str]) -> None:
    r = await client.post(URL, json=point_body(), headers=worker)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"]["en"] == "Nanshan Family Health Station"
    assert created["opening_hours"]["mon"] == [["08:00", "12:00"]]
    assert (created["slot_minutes"], created["slot_capacity"], created["active"]) == (30, 3, True)
    assert created["created_at"].endswith(("Z", "+00:00"))

    r = await client.get(f"{URL}/{created['id']}", headers=worker)
    assert r.status_code == 200 and r.json() == created

    other = point_body(district="futian", services=["counselling"],
                       name={"zh_Hans": "福田站", "en": "Futian Station"})
    assert (await client.post(URL, json=other, headers=worker)).status_code == 201
    guangzhou = point_body(city="guangzhou", district="tianhe", name={"zh_Hans": "天河站", "en": "Tianhe"})
    assert (await client.post(URL, json=guangzhou, headers=worker)).status_code == 201

    async def names(**params: Any) -> list[str]:
        r = await client.get(URL, params=params, headers=worker)
        assert r.status_code == 200, r.text
        return [p["name"]["en"] for p in r.json()]

    assert await names() == ["Nanshan Family Health Station", "Futian Station", "Tianhe"]
    assert await names(city="shenzhen") == ["Nanshan Family Health Station", "Futian Station"]
    assert await names(city="shenzhen", district="futian") == ["Futian Station"]
    assert await names(service="contraceptives") == ["Nanshan Family Health Station", "Tianhe"]
    assert await names(service="counselling") == ["Futian Station"]


async def test_patch_is_partial_and_deactivates(client: httpx.AsyncClient, worker: dict[str, str]) -> None:
    point = (await client.post(URL, json=point_body(), headers=worker)).json()
    r = await client.patch(f"{URL}/{point['id']}", json={"slot_capacity": 5}, headers=worker)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["slot_capacity"] == 5
    assert {k: v for k, v in patched.items() if k not in ("slot_capacity", "updated_at")} == {
        k: v for k, v in point.items() if k not in ("slot_capacity", "updated_at")
    }
    assert patched["updated_at"] > point["updated_at"]

    r = await client.patch(f"{URL}/{point['id']}", json={"active": False}, headers=worker)
    assert r.status_code == 200 and r.json()["active"] is False
    listed = (await client.get(URL, params={"active": "true"}, headers=worker)).json()
    assert listed == []
    listed = (await client.get(URL, params={"active": "false"}, headers=worker)).json()
    assert [p["id"] for p in listed] == [point["id"]]

    # Moving a point to another city needs a district of that city.
    r = await client.patch(f"{URL}/{point['id']}", json={"city": "guangzhou"}, headers=worker)
    assert r.status_code == 422
    assert "guangzhou has no district 'nanshan'" in r.json()["error"]["message"]
    r = await client.patch(f"{URL}/{point['id']}", json={"city": "guangzhou", "district": "panyu"},
                           headers=worker)
    assert r.status_code == 200 and (r.json()["city"], r.json()["district"]) == ("guangzhou", "panyu")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"services": ["pregnancy_iud_checkup", "massage"]}, "body.services", "unknown service type 'massage'"),
        ({"services": []}, "body.services", "at least one service type"),
        ({"timezone": "Asia/Peking"}, "body.timezone", "unknown time zone 'Asia/Peking'"),
        ({"opening_hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "body.opening_hours",
         "08:00-12:00 overlaps 11:00-13:00"),
        ({"opening_hours": {"mon": [["8am", "12:00"]]}}, "body.opening_hours", "'8am' is not a time of day"),
        ({"opening_hours": {"mon": [["12:00", "08:00"]]}}, "body.opening_hours", "ends before it starts"),
        ({"name": {"zh_Hans": "南山站"}}, "body.name", "missing: en"),
        ({"address": {"en": "1 Road", "zh_Hans": " "}}, "body.address", "missing: zh_Hans"),
        ({"district": "downtown"}, "body.district", "shenzhen has no district 'downtown'"),
        ({"city": "atlantis"}, "body.city", "unknown city 'atlantis'"),
        ({"slot_minutes": 3}, "body.slot_minutes", "greater than or equal to 5"),
        ({"slot_capacity": 0}, "body.slot_capacity", "greater than or equal to 1"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, worker: dict[str, str], change: dict[str, Any], field: str, problem: str
) -> None:
    r = await client.post(URL, json=point_body(**change), headers=worker)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert problem in error["message"]
    assert [p["field"] for p in error["problems"]] == [field]
    assert (await client.get(URL, headers=worker)).json() == []


async def test_patch_validation(client: httpx.AsyncClient, worker: dict[str, str]) -> None:
    point = (await client.post(URL, json=point_body(), headers=worker)).json()
    for change, problem in [
        ({"name": None}, "body.name: Input should be a valid dictionary"),
        ({"active": None}, "body.active: Input should be a valid boolean"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"services": ["nothing"]}, "unknown service type 'nothing'"),
        ({"opening_hours": {"funday": []}}, "body.opening_hours.funday.[key]: Input should be 'mon'"),
    ]:
        r = await client.patch(f"{URL}/{point['id']}", json=change, headers=worker)
        assert r.status_code == 422 and problem in r.json()["error"]["message"], (change, r.text)
    assert (await client.get(f"{URL}/{point['id']}", headers=worker)).json() == point


async def test_unknown_point_is_404(client: httpx.AsyncClient, worker: dict[str, str]) -> None:
    for r in (await client.get(f"{URL}/999", headers=worker),
              await client.patch(f"{URL}/999", json={"active": False}, headers=worker),
              await client.get(f"{URL}/999/appointments", headers=worker)):
        assert r.status_code == 404
        assert r.json()["error"] == {"code": "not_found", "message": "No service point 999."}


async def test_auth(client: httpx.AsyncClient, services: Container) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.post(URL, json=point_body())).status_code == 401
    coordinator = auth(await create_token(services, Role.coordinator))
    r = await client.post(URL, json=point_body(), headers=coordinator)
    assert r.status_code == 403 and "health_worker" in r.json()["error"]["message"]
    assert (await client.get(URL, headers=coordinator)).status_code == 200
    admin = auth(await create_token(services, Role.admin))
    point = await client.post(URL, json=point_body(), headers=admin)
    assert point.status_code == 201
    r = await client.patch(f"{URL}/{point.json()['id']}", json={"active": False}, headers=coordinator)
    assert r.status_code == 403
