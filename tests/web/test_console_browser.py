"""The console in a real headless Chromium against a real server (the simulator page's
fixtures: ``uvicorn outreach.asgi:app`` on the test database, Debian's Chromium driven by
Playwright). Each test saves screenshots under ``OUTREACH_TEST_SCREENSHOTS``
(default ``/tmp/console-screens``) for people to look at."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from outreach.appointments.models import ServicePoint
from outreach.db import Database
from outreach.users.models import Role
from outreach.users.service import create_user
from tests.appointments import point_body
from tests.stats.test_knowledge import seed as seed_attempts
from tests.web.console_helpers import PASSWORD
from tests.web.test_simulator_page import _in_thread, browser, server  # noqa: F401 - fixtures

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

SCREENS = Path(os.environ.get("OUTREACH_TEST_SCREENSHOTS", "/tmp/console-screens"))
CJK = re.compile(r"[\u4e00-\u9fff]")


async def _seed(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.session() as session:
            for name, role in [("Wang Fang", Role.coordinator), ("Li Na", Role.health_worker),
                               ("Admin Zhou", Role.admin)]:
                await create_user(session, name, role, PASSWORD)
            session.add(ServicePoint.model_validate(point_body()))
        await seed_attempts(SimpleNamespace(db=db), random.Random(3), 80)  # type: ignore[arg-type]
    finally:
        await db.close()


@pytest.fixture(scope="module")
def console_server(server: str, db_url: str) -> str:  # noqa: F811 - the imported fixture
    _in_thread(_seed(db_url))
    SCREENS.mkdir(parents=True, exist_ok=True)
    return server


@pytest.fixture
def new_page(console_server: str, browser: Browser) -> Iterator:  # noqa: F811
    contexts = []

    def open_(locale: str = "en-US", width: int = 1280, height: int = 900) -> Page:
        context = browser.new_context(base_url=console_server, locale=locale,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def _sign_in(page: Page, name: str) -> None:
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/sign-in$"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console$"))


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    )


@pytest.mark.slow
def test_coordinator_signs_in_sees_the_knowledge_card_switches_to_chinese_and_signs_out(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/sign-in$"))
    expect(page.locator("h1")).to_have_text("Sign in")
    page.screenshot(path=str(SCREENS / "signin.png"), full_page=True)

    # A wrong password first: told so, and still on the sign-in page.
    page.get_by_label("User name").fill("Wang Fang")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#error")).to_have_text("The user name or the password is not right.")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console$"))
    expect(page.locator("h1")).to_have_text("Welcome, Wang Fang")
    expect(page.locator("#role")).to_have_text("Your role: Coordinator.")
    card = page.locator("#knowledge-card")
    expect(card).to_be_visible()
    expect(card.locator("h2")).to_have_text("Policy knowledge rate")
    expect(card).to_contain_text("Target ≥ 90%")
    expect(card).to_contain_text("95% Wilson interval")
    expect(card.locator(".rate").first).to_have_text(re.compile(r"^\d{1,3}\.\d%$"))
    nav = page.locator("nav.nav a")
    expect(nav).to_have_text(["Home", "Indicators", "Password"])
    page.screenshot(path=str(SCREENS / "home-coordinator.png"), full_page=True)

    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(card.locator("h2")).to_have_text("政策知晓率")
    expect(page.locator("nav.nav a")).to_have_text(["首页", "指标", "密码"])
    assert CJK.search(page.locator("#role").inner_text())
    page.screenshot(path=str(SCREENS / "home-zh.png"), full_page=True)
    # The choice stays with the session on the next page.
    page.locator("nav.nav").get_by_role("link", name="指标").click()
    expect(page.locator("h1")).to_have_text("指标")

    page.locator("#sign-out").click()
    page.wait_for_url(re.compile(r"/console/sign-in$"))
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/sign-in$"))


@pytest.mark.slow
def test_a_coordinator_cannot_open_a_health_workers_page(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page()
    _sign_in(page, "Wang Fang")
    response = page.goto("/console/points")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed (403)")
    expect(page.locator("#forbidden")).to_contain_text("This page is for: Administrator, Health worker")
    expect(page.locator("#forbidden")).to_contain_text("You are signed in as Wang Fang, with the role Coordinator.")
    page.screenshot(path=str(SCREENS / "forbidden.png"), full_page=True)
    page.get_by_role("link", name="Back to the console home").click()
    expect(page.locator("h1")).to_have_text("Welcome, Wang Fang")


@pytest.mark.slow
def test_the_console_at_phone_width(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page(width=390, height=844)
    page.goto("/console/sign-in")
    _no_sideways_scroll(page)
    _sign_in(page, "Admin Zhou")
    expect(page.locator("#knowledge-card")).to_be_visible()
    expect(page.locator("#points")).to_contain_text("Nanshan Family Health Station")
    expect(page.locator("#points")).to_contain_text("appointments today")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENS / "phone.png"), full_page=True)

    worker = new_page(width=390, height=844, locale="zh-CN")
    worker.goto("/console/sign-in")
    expect(worker.locator("html")).to_have_attribute("lang", "zh-Hans")
    worker.get_by_label("用户名").fill("Li Na")
    worker.get_by_label("密码").fill(PASSWORD)
    worker.get_by_role("button", name="登录").click()
    worker.wait_for_url(re.compile(r"/console$"))
    expect(worker.locator("#points")).to_contain_text("南山区计生服务站")
    expect(worker.locator("#knowledge-card")).to_have_count(0)
    _no_sideways_scroll(worker)
    worker.screenshot(path=str(SCREENS / "phone-health-worker-zh.png"), full_page=True)

