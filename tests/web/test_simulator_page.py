"""The simulator page (``GET /simulator``) in a real headless Chromium, against a real server.

The server is ``uvicorn outreach.asgi:app`` in a subprocess on the test database (SQLite,
or PostgreSQL in the PostgreSQL run); the browser is the system Chromium driven by
Playwright's sync API. The sync API runs its own event loop, so these tests are plain
``def`` tests, and the tables are emptied from a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from outreach.i18n import translator
from outreach.settings import Settings
from tests.conftest import ON_CI, REPO
from tests.factories import empty_database, free_port

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

CHROMIUM = os.environ.get("OUTREACH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CJK = re.compile(r"[\u4e00-\u9fff]")
SCREENSHOT = Path("/tmp/simulator.png")
LOCALES = Settings().locales_dir
API = "**/api/v1/simulator/messages"
T = TypeVar("T")

BOT = "#log .msg--bot .msg__text"
USER = "#log .msg--user .msg__text"


# --- the server -----------------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
            return response.status, {k.lower(): v for k, v in response.headers.items()}, body
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def _empty_tables(db_url: str) -> None:
    _in_thread(empty_database(db_url))


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API marks its loop as running in this thread: run in another one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "uvicorn.log"
    # Quiet hours off: a reminder shows up whatever the hour where the tests run.
    env = {**os.environ, "OUTREACH_ENV": "test", "OUTREACH_DATABASE_URL": db_url,
           "OUTREACH_QUIET_HOURS": "off", "OUTREACH_DISPATCH_INTERVAL": "0.2"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "outreach.asgi:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /healthz in 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _empty_tables(db_url)


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (set OUTREACH_TEST_CHROMIUM)"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(server: str, browser: Browser) -> Iterator[OpenPage]:
    """Opens a page in a fresh context (so a new contact); fails on any script error."""
    contexts = []
    errors: list[str] = []

    def open_(path: str = "/simulator", locale: str = "en-US") -> Page:
        context = browser.new_context(base_url=server, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path)
        expect(page.locator("#contact-id")).not_to_have_text("")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


# --- helpers --------------------------------------------------------------------------


def _wait_for_reply(page: Page, bot_before: int) -> None:
    page.wait_for_function(
        """n => document.querySelectorAll('#log .msg--bot').length > n
               && !document.getElementById('send').disabled""",
        arg=bot_before,
    )


def pick(page: Page, label: str | None = None) -> str:
    """Click a choice button (the first if no label) and wait for the bot's answer."""
    choices = page.locator("#choices button")
    button = choices.first if label is None else choices.filter(has_text=re.compile(f"^{re.escape(label)}$"))
    expect(button).to_be_enabled()
    picked = button.inner_text()
    before = page.locator(BOT).count()
    button.click()
    _wait_for_reply(page, before)
    expect(page.locator(USER).last).to_have_text(picked)
    return picked


def type_and_enter(page: Page, message: str) -> None:
    before = page.locator(BOT).count()
    page.locator("#text").fill(message)
    page.locator("#text").press("Enter")
    _wait_for_reply(page, before)


def last_bot(page: Page) -> str:
    return page.locator(BOT).last.inner_text()


def choice_labels(page: Page) -> list[str]:
    return page.locator("#choices button").all_inner_texts()


def _t(locale: str, message: str) -> str:
    return translator(locale, LOCALES).gettext(message)


# --- the tests ------------------------------------------------------------------------


@pytest.mark.slow
def test_onboarding_and_quiz_by_clicking_in_english(open_page: OpenPage) -> None:
    page = open_page(locale="en-US")
    expect(page).to_have_title(re.compile("simulator", re.I))
    expect(page.locator("h1")).to_contain_text("Outreach simulator")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(BOT)).to_have_count(0)

    pick(page, "Hello")
    expect(page.locator(BOT).last).to_contain_text("Hello!")
    assert choice_labels(page) == ["中文", "English"]
    pick(page, "English")
    assert not CJK.search(last_bot(page))
    pick(page, "Yes, I agree")
    assert "city" in last_bot(page)
    pick(page)  # a city
    assert "district" in last_bot(page)
    pick(page)  # a district
    menu = page.locator("#choices")
    for label in ("Learn about your rights", "Ask a question", "Take the quiz", "Language"):
        expect(menu.get_by_role("button", name=label, exact=True)).to_be_visible()
    # Focus goes back to the text box after each answer.
    expect(page.locator("#text")).to_be_focused()

    pick(page, "Take the quiz")
    for n in range(1, 6):
        expect(page.locator(BOT).last).to_contain_text(f"Question {n} of 5")
        assert len(choice_labels(page)) >= 2
        pick(page)
    score = page.locator(BOT).filter(has_text=re.compile(r"You got \d of 5 right"))
    expect(score).to_have_count(1)
    expect(page.locator("#error")).to_be_hidden()

    # Bot line breaks are line breaks, not one run of text.
    first = page.locator(BOT).first
    assert "\n" in first.inner_text()
    assert first.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-wrap"
    page.screenshot(path=str(SCREENSHOT))


@pytest.mark.slow
def test_chinese_conversation_and_a_typed_question(open_page: OpenPage) -> None:
    page = open_page(locale="zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    pick(page)  # the greeting button
    pick(page, "中文")
    consent = last_bot(page)
    assert CJK.search(consent) and not re.search(r"[A-Za-z]{4,}", consent)
    pick(page, "同意")
    pick(page)  # a city
    pick(page)  # a district
    bots_before = page.locator(BOT).count()

    type_and_enter(page, "药具免费吗")
    expect(page.locator(USER).last).to_have_text("药具免费吗")
    expect(page.locator("#text")).to_have_value("")
    expect(page.locator("#text")).to_be_focused()
    assert page.locator(BOT).count() > bots_before
    assert CJK.search(last_bot(page))
    assert "药具" in "".join(page.locator(BOT).all_inner_texts()[bots_before:])


@pytest.mark.slow
def test_page_strings_follow_the_page_locale(open_page: OpenPage, server: str) -> None:
    sends = {}
    for locale in ("en", "zh_Hans"):
        page = open_page(f"/simulator?lang={locale}", locale="en-US")
        expect(page.locator("html")).to_have_attribute("lang", locale.replace("_", "-"))
        sends[locale] = page.locator("#send").inner_text()
        assert sends[locale] == _t(locale, "Send")
        expect(page).to_have_title(_t(locale, "Outreach simulator — chat as a migrant"))
        expect(page.locator("#new-conversation")).to_have_text(_t(locale, "New conversation"))

    # The link to the other language.
    link = page.locator("nav.langs").get_by_role("link", name="English")
    link.click()
    page.wait_for_url("**/simulator?lang=en")
    expect(page.locator("#send")).to_have_text(sends["en"])

    # Accept-Language when there is no ?lang=, the configured default when nothing fits.
    for header, lang in [
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("fr-FR, en;q=0.5", "en"),
        ("fr-FR", Settings().default_locale.replace("_", "-")),
    ]:
        status, headers, body = _get(f"{server}/simulator", {"Accept-Language": header})
        assert status == 200 and f'<html lang="{lang}">' in body, header
        assert headers["content-language"] == lang
    status, _, body = _get(f"{server}/simulator?lang=en", {"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in body

    assert sends["en"] == "Send"
    assert sends["zh_Hans"] == _t("zh_Hans", "Send") == "发送"


@pytest.mark.slow
def test_html_typed_or_sent_by_the_bot_is_shown_as_text(open_page: OpenPage) -> None:
    page = open_page()
    typed = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
    type_and_enter(page, typed)
    expect(page.locator(USER).last).to_have_text(typed)

    # A bot reply with markup in its text and in a choice label.
    evil = "<b>bold</b>\n<img src=x onerror=\"window.__xss = 3\"><script>window.__xss = 4</script>"
    page.route(
        API,
        lambda route: route.fulfill(
            status=200,
            json={"replies": [{"text": evil, "choices": [{"id": "x", "label": "<i>pick</i>"}]}]},
        ),
    )
    type_and_enter(page, "hi")
    expect(page.locator(BOT).last).to_have_text(evil)
    expect(page.locator("#choices button")).to_have_text(["<i>pick</i>"])
    assert page.locator("#log script, #log img, #log b, #choices i").count() == 0
    page.wait_for_timeout(200)  # give an injected handler the chance to run
    assert page.evaluate("window.__xss") is None


@pytest.mark.slow
def test_a_failed_request_shows_an_error_and_keeps_the_text(open_page: OpenPage) -> None:
    page = open_page()
    pick(page, "Hello")
    users_before = page.locator(USER).count()

    page.route(API, lambda route: route.abort("connectionrefused"))
    page.locator("#text").fill("English")
    page.locator("#send").click()
    error = page.locator("#error")
    expect(error).to_have_text(_t("en", "Could not reach the server, try again."))
    expect(page.locator("#text")).to_have_value("English")
    expect(page.locator(USER)).to_have_count(users_before)
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#text")).to_be_focused()

    page.unroute(API)
    page.route(API, lambda route: route.fulfill(status=503, json={"error": {"code": "down"}}))
    page.locator("#text").press("Enter")
    expect(error).to_contain_text("503")
    expect(page.locator("#text")).to_have_value("English")

    page.unroute(API)
    type_and_enter(page, "English")
    expect(error).to_be_hidden()
    expect(page.locator("#text")).to_have_value("")
    expect(page.locator(USER).last).to_have_text("English")


@pytest.mark.slow
def test_loading_state_while_the_bot_answers(open_page: OpenPage) -> None:
    page = open_page()
    held = []
    page.route(API, lambda route: held.append(route))
    page.locator("#text").fill("hello")
    page.locator("#text").press("Enter")
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#send")).to_have_text(_t("en", "Sending…"))
    expect(page.locator("#typing")).to_be_visible()
    expect(page.locator("#log")).to_have_attribute("aria-busy", "true")
    for _ in range(100):  # the route handler runs when the request event arrives
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the request did not reach the route"
    held[0].continue_()
    expect(page.locator("#send")).to_have_text(_t("en", "Send"))
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#typing")).to_be_hidden()
    expect(page.locator(BOT)).to_have_count(1)


@pytest.mark.slow
def test_the_conversation_survives_a_reload_until_a_new_one(open_page: OpenPage) -> None:
    page = open_page()
    contact = page.locator("#contact-id").inner_text()
    assert contact
    pick(page, "Hello")
    pick(page, "English")
    page.reload()
    expect(page.locator("#contact-id")).to_have_text(contact)
    expect(page.locator(USER)).to_have_text(["Hello", "English"])
    assert choice_labels(page) == ["Yes, I agree", "No"]

    page.get_by_role("button", name=_t("en", "New conversation")).click()
    expect(page.locator("#contact-id")).not_to_have_text(contact)
    expect(page.locator("#log .msg")).to_have_count(0)
    expect(page.locator("#text")).to_be_focused()
    # A new contact id is a new contact for the bot: it is greeted again.
    pick(page, "Hello")
    assert choice_labels(page) == ["中文", "English"]


async def _book_and_remind(db_url: str, contact: str) -> None:
    """A health worker's point, a booking for the page's contact, and its first reminder
    due now: the server's own worker sends it to the simulator."""
    from datetime import timedelta

    from sqlalchemy import text

    from outreach.container import build_container
    from outreach.timeutil import utcnow
    from tests.appointments import create_point

    services = build_container(Settings(env="test", database_url=db_url))
    try:
        point = await create_point(services)
        assert point.id is not None
        async with services.db.begin() as conn:
            cid = (await conn.execute(text(
                "SELECT contact_id FROM contact_urn WHERE scheme = 'sim' AND path = :p"),
                {"p": contact})).scalar_one()
        async with services.db.begin() as raw:
            fetched = await services.appointments.point(raw, point.id)
            assert fetched is not None
            free = await services.appointments.free_places(raw, fetched, utcnow())
            start = next(t for t in free if t > utcnow() + timedelta(days=3))
            assert await services.appointments.book(
                raw, cid, point.id, "pregnancy_iud_checkup", start, utcnow())
        async with services.db.begin() as conn:
            await conn.execute(text(
                "UPDATE outbox SET due_at = :now WHERE id = (SELECT min(id) FROM outbox)"),
                {"now": utcnow() - timedelta(seconds=1)})
    finally:
        await services.close()


@pytest.mark.slow
def test_a_reminder_arrives_on_the_page_and_is_answered(
    open_page: OpenPage, db_url: str
) -> None:
    page = open_page(locale="en-US")
    pick(page, "Hello")
    pick(page, "English")
    pick(page, "Yes, I agree")
    pick(page)  # Shenzhen
    pick(page, "Nanshan")
    contact = page.locator("#contact-id").inner_text().strip()
    before = page.locator(BOT).count()
    _in_thread(_book_and_remind(db_url, contact))
    # Nobody typed anything: the page fetches it by itself.
    reminder = page.locator(BOT).filter(has_text="Reminder: Free IUD & pregnancy check")
    expect(reminder).to_have_count(1, timeout=20_000)
    assert page.locator(BOT).count() == before + 1
    assert choice_labels(page) == ["Confirm", "Reschedule", "Cancel appointment"]
    page.screenshot(path=str(SCREENSHOT.with_name("simulator-reminder.png")))
    pick(page, "Confirm")
    thanks = page.locator(BOT).filter(has_text="Thank you! See you at Nanshan Family Health Station")
    expect(thanks).to_have_count(1)
    # Reloading shows it once, not twice.
    page.reload()
    expect(page.locator(BOT).filter(has_text="Reminder:")).to_have_count(1)
    page.wait_for_timeout(3500)  # a poll or more
    expect(page.locator(BOT).filter(has_text="Reminder:")).to_have_count(1)


def test_page_and_static_files_are_served_right(server: str) -> None:
    status, headers, body = _get(f"{server}/simulator")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    for name, media_type in (("simulator.js", "text/javascript"), ("simulator.css", "text/css")):
        assert f"/static/{name}?v=" in body
        status, headers, static = _get(f"{server}/static/{name}")
        assert status == 200 and headers["content-type"].startswith(media_type)
        assert static
    # No text a person reads is hard-coded in the script.
    _, _, js = _get(f"{server}/static/simulator.js")
    for english in ("Send", "Sending", "Could not reach", "New conversation"):
        assert english not in js
    _, _, schema = _get(f"{server}/openapi.json")
    assert '"/simulator"' not in schema and "/static/" not in schema


def test_page_strings_use_the_catalogs(tmp_path: Path) -> None:
    """Without a browser or server: with a translation in the catalog, the page shows it."""
    from fastapi import FastAPI

    from outreach.web.routes import router

    for locale, send in (("en", "Send"), ("zh_Hans", "发送")):
        po = tmp_path / locale / "LC_MESSAGES" / "messages.po"
        po.parent.mkdir(parents=True)
        po.write_text(
            'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            f'msgid "Send"\nmsgstr "{send}"\n',
            encoding="utf-8",
        )
    app = FastAPI()
    app.state.provided = {Settings: Settings(locales_dir=tmp_path)}
    app.include_router(router)

    async def pages() -> dict[str, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            queries = ("lang=en", "lang=zh_Hans", "lang=zh-CN")
            return {q: (await client.get(f"/simulator?{q}")).text for q in queries}

    html = _in_thread(pages())
    for query, send in (("lang=en", "Send"), ("lang=zh_Hans", "发送"), ("lang=zh-CN", "发送")):
        assert f'<button id="send" type="submit" class="composer__send">{send}</button>' in html[query]
        config = re.search(r'<script id="sim-config" type="application/json">(.*?)</script>', html[query])
        assert config and json.loads(config.group(1))["strings"]["send"] == send
