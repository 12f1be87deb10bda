"""Shared by the console's tests: a user with a password, and signing in through the form."""

from __future__ import annotations

import re

import httpx

from outreach.container import Container
from outreach.users.models import Role
from outreach.users.service import create_user

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


async def create_staff(services: Container, name: str, role: Role, password: str = PASSWORD) -> int:
    async with services.db.session() as session:
        user, _ = await create_user(session, name, role, password)
    assert user.id is not None
    return user.id


def csrf(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD,
                  **extra: str) -> httpx.Response:
    page = await client.get("/console/sign-in")
    assert page.status_code == 200, page.text
    return await client.post(
        "/console/sign-in",
        data={"csrf_token": csrf(page.text), "name": name, "password": password, **extra},
    )
