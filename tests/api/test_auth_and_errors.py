from __future__ import annotations

import re

import httpx
import pytest

from outreach.container import Container
from outreach.users.models import Role
from tests.factories import auth, create_token


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_openapi_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/stats/knowledge" in spec["paths"]
    assert "/api/v1/simulator/messages" in spec["paths"]


@pytest.mark.parametrize("path", ["/api/v1/stats/knowledge", "/api/v1/questions", "/api/v1/users/me"])
async def test_no_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthorized" and "token" in r.json()["error"]["message"]


async def test_wrong_token_is_401(client: httpx.AsyncClient, services: Container) -> None:
    await create_token(services, Role.admin)
    r = await client.get("/api/v1/users/me", headers=auth("otr_not-a-real-token"))
    assert r.status_code == 401
    r = await client.get("/api/v1/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (Role.coordinator, "/api/v1/stats/knowledge", 200),
        (Role.admin, "/api/v1/stats/knowledge", 200),
        (Role.health_worker, "/api/v1/stats/knowledge", 403),
        (Role.health_worker, "/api/v1/questions", 200),
        (Role.coordinator, "/api/v1/questions", 403),
        (Role.coordinator, "/api/v1/questions/counts", 200),
        (Role.coordinator, "/api/v1/service-records", 403),
        (Role.coordinator, "/api/v1/service-records/counts", 200),
        (Role.health_worker, "/api/v1/service-records", 200),
        (Role.admin, "/api/v1/questions", 200),
        (Role.health_worker, "/api/v1/users/me", 200),
    ],
)
async def test_roles(client: httpx.AsyncClient, services: Container, role: Role, path: str, status: int) -> None:
    token = await create_token(services, role)
    r = await client.get(path, headers=auth(token))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["code"] == "forbidden" and "needs the role" in r.json()["error"]["message"]


async def test_me(client: httpx.AsyncClient, services: Container) -> None:
    token = await create_token(services, Role.health_worker, name="Li Hua")
    body = (await client.get("/api/v1/users/me", headers=auth(token))).json()
    assert body["name"] == "Li Hua" and body["role"] == "health_worker"
    assert "token_hash" not in body


async def test_errors_are_json(client: httpx.AsyncClient, services: Container) -> None:
    r = await client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    token = await create_token(services, Role.coordinator)
    r = await client.get("/api/v1/stats/knowledge?group_by=shoe_size", headers=auth(token))
    assert r.status_code == 422
    assert "group_by" in r.json()["error"]["message"]


async def test_unanswered_questions_are_listed(client: httpx.AsyncClient, services: Container) -> None:
    from tests.factories import Chat

    chat = Chat(client, "curious")
    await chat.onboard("en", city="hangzhou", district="xihu")
    await chat.send("Can I bring my pet rabbit to the clinic")
    token = await create_token(services, Role.health_worker)
    rows = (await client.get("/api/v1/questions", headers=auth(token))).json()
    assert [(q["text"], q["city"], q["district"], q["status"]) for q in rows] == [
        ("Can I bring my pet rabbit to the clinic", "hangzhou", "xihu", "open")
    ]


async def test_simulator_is_off_in_prod(services: Container) -> None:
    from outreach.app import create_app
    from outreach.container import build_container
    from outreach.settings import Env

    settings = services.settings.model_copy(update={"env": Env.prod})
    prod = build_container(settings, library=services.library, regions=services.regions)
    app = create_app(settings, prod)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.post("/api/v1/simulator/messages", json={"contact": "x", "text": "hi"})
            assert r.status_code == 404
            assert (await c.get("/simulator")).status_code == 404
    finally:
        await prod.close()


@pytest.mark.parametrize("method", ["TRACE", "BREW"])
async def test_trace_and_unknown_methods_are_405_with_allow(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_work_without_internet(client: httpx.AsyncClient, page: str) -> None:
    """Swagger UI and ReDoc come from the package, not a CDN."""
    html = (await client.get(page)).text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert "cdn" not in html
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200 and len(response.content) > 10_000, asset
