"""The staff console over HTTP: sign-in, lock-out, CSRF, session expiry, sign-out,
password change, the role guard and what each role's home shows. Time is a ManualClock
handed to the container: nothing here depends on the wall clock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from content import Library
from outreach.app import create_app
from outreach.appointments.models import Appointment
from outreach.appointments.views import AppointmentStatus
from outreach.contacts.models import Consent, Contact, ContactUrn
from outreach.container import Container, build_container
from outreach.regions import Regions
from outreach.settings import Env, Settings
from outreach.stats.service import knowledge_report
from outreach.timeutil import ManualClock
from outreach.users.models import ConsoleSession, Role, SignInFailure, User
from outreach.users.sessions import session_id
from tests.appointments import create_point
from tests.factories import empty_tables
from tests.stats.test_knowledge import seed as seed_attempts
from tests.web.console_helpers import PASSWORD, create_staff, csrf, sign_in

# 10:00 in Shenzhen.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def _console(settings: Settings, library: Library, regions: Regions,
                   clock: ManualClock) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    services = build_container(settings, library=library, regions=regions, clock=clock)
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             headers={"Accept-Language": "en"}) as client:
            yield services, client
    finally:
        await empty_tables(services.db)
        await services.close()


@pytest.fixture
async def console(
    settings: Settings, library: Library, regions: Regions, clock: ManualClock
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async for pair in _console(settings, library, regions, clock):
        yield pair


def _new_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser on the same app (its own cookies)."""
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver",
                             headers={"Accept-Language": "en"})


async def _rows(services: Container, model: type) -> list:  # type: ignore[type-arg]
    async with services.db.session() as session:
        return list((await session.exec(select(model))).all())


# --- signing in -------------------------------------------------------------------------


async def test_sign_in_sets_a_safe_cookie_and_shows_who_you_are(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Wang Fang", Role.coordinator)
    # The name is matched trimmed and whatever its case.
    response = await sign_in(client, "  wang FANG ")
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("outreach_console="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/console" in lowered
    assert "secure" not in lowered  # not in test; prod below
    token = cookie.split(";")[0].split("=", 1)[1]
    [row] = await _rows(services, ConsoleSession)
    assert row.id == session_id(token) != token  # only the token's hash is stored
    assert row.expires_at == T0 + timedelta(hours=8)

    home = await client.get("/console")
    assert home.status_code == 200
    assert "Wang Fang" in home.text and "Coordinator" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]


async def test_wrong_password_and_unknown_user_get_the_same_answer(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.health_worker)
    wrong = await sign_in(client, "Li Na", "not the password")
    nobody = await sign_in(client, "Nobody Here", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "The user name or the password is not right." in wrong.text
    assert "The user name or the password is not right." in nobody.text
    assert "outreach_console=" not in "".join(wrong.headers.get_list("set-cookie"))
    assert sorted(f.login for f in await _rows(services, SignInFailure)) == ["li na", "nobody here"]
    assert (await client.get("/console")).status_code == 303


async def test_lock_out_after_five_failures_for_fifteen_minutes(
    console: tuple[Container, httpx.AsyncClient], clock: ManualClock
) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.health_worker)
    for attempt in range(4):
        assert (await sign_in(client, "Li Na", f"guess {attempt}")).status_code == 401
        clock.advance(timedelta(minutes=1))
    fifth = await sign_in(client, "Li Na", "guess 5")
    assert fifth.status_code == 429 and "Too many failed sign-ins" in fifth.text
    # Locked: even the right password is refused, saying the same.
    right = await sign_in(client, "Li Na")
    assert right.status_code == 429 and "Too many failed sign-ins" in right.text
    # An unknown name is locked in the same way (the answer does not tell who exists).
    for attempt in range(5):
        last = await sign_in(client, "Zhang San", f"guess {attempt}")
    assert last.status_code == 429 and "Too many failed sign-ins" in last.text
    # Locked for 15 minutes after the failure that locked it (at 4 minutes).
    clock.set(T0 + timedelta(minutes=18, seconds=59))
    assert (await sign_in(client, "Li Na")).status_code == 429
    clock.set(T0 + timedelta(minutes=19))
    ok = await sign_in(client, "Li Na")
    assert ok.status_code == 303
    # A success clears the name's failures.
    assert [f.login for f in await _rows(services, SignInFailure)] == ["zhang san"] * 5
    # A later failure drops the name's failures that can no longer lock it.
    clock.set(T0 + timedelta(minutes=34, seconds=1))
    async with _new_client(client) as other:
        assert (await sign_in(other, "Zhang San", "again")).status_code == 401
    left = [(f.login, f.at) for f in await _rows(services, SignInFailure)]
    assert left == [("zhang san", clock.now())], left


async def test_inactive_user_cannot_sign_in(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    uid = await create_staff(services, "Li Na", Role.admin)
    async with services.db.session() as session:
        user = await session.get(User, uid)
        assert user is not None
        user.active = False
        session.add(user)
    assert (await sign_in(client, "Li Na")).status_code == 401


# --- CSRF ------------------------------------------------------------------------------


async def test_forms_without_the_token_are_refused(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.coordinator)
    # The sign-in form: no token, or one that is not the cookie's.
    await client.get("/console/sign-in")
    for data in ({"name": "Li Na", "password": PASSWORD},
                 {"name": "Li Na", "password": PASSWORD, "csrf_token": "forged"}):
        refused = await client.post("/console/sign-in", data=data)
        assert refused.status_code == 403 and "Not allowed (403)" in refused.text
    assert await _rows(services, ConsoleSession) == []

    assert (await sign_in(client, "Li Na")).status_code == 303
    home = await client.get("/console")
    token = csrf(home.text)
    for path, data in [
        ("/console/sign-out", {}),
        ("/console/sign-out", {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}),
        ("/console/password", {"current_password": PASSWORD, "new_password": "x" * 20,
                               "confirm_password": "x" * 20}),
        ("/console/language", {"locale": "en"}),
    ]:
        refused = await client.post(path, data=data)
        assert refused.status_code == 403, path
        assert "This form was refused" in refused.text
    # Nothing happened: still signed in, password unchanged.
    assert (await client.get("/console")).status_code == 200
    other = _new_client(client)
    async with other:
        assert (await sign_in(other, "Li Na")).status_code == 303
    # A token of another session is not this session's.
    async with _new_client(client) as third:
        await sign_in(third, "Li Na")
        third_token = csrf((await third.get("/console")).text)
        assert third_token != token
        assert (await client.post("/console/sign-out", data={"csrf_token": third_token})).status_code == 403


# --- the session -----------------------------------------------------------------------


async def test_session_ends_after_eight_idle_hours(
    console: tuple[Container, httpx.AsyncClient], clock: ManualClock
) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.coordinator)
    await sign_in(client, "Li Na")
    clock.advance(timedelta(hours=7, minutes=59))
    assert (await client.get("/console")).status_code == 200  # moves the expiry on
    clock.advance(timedelta(hours=7, minutes=59))
    assert (await client.get("/console")).status_code == 200
    clock.advance(timedelta(hours=8))
    expired = await client.get("/console/indicators")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/console/sign-in?next=%2Fconsole%2Findicators"
    [old] = await _rows(services, ConsoleSession)
    # The next sign-in sweeps the expired session away.
    async with _new_client(client) as other:
        await sign_in(other, "Li Na")
    assert [row.id for row in await _rows(services, ConsoleSession)] != [old.id]
    assert len(await _rows(services, ConsoleSession)) == 1


async def test_idle_limit_is_a_setting(
    settings: Settings, library: Library, regions: Regions, clock: ManualClock
) -> None:
    short = settings.model_copy(update={"console_idle_hours": 0.5})
    async for services, client in _console(short, library, regions, clock):
        await create_staff(services, "Li Na", Role.coordinator)
        await sign_in(client, "Li Na")
        clock.advance(timedelta(minutes=29))
        assert (await client.get("/console")).status_code == 200
        clock.advance(timedelta(minutes=30))
        assert (await client.get("/console")).status_code == 303


async def test_secure_cookie_in_production(
    settings: Settings, library: Library, regions: Regions, clock: ManualClock
) -> None:
    prod = settings.model_copy(update={"env": Env.prod})
    async for services, client in _console(prod, library, regions, clock):
        await create_staff(services, "Li Na", Role.coordinator)
        page = await client.get("/console/sign-in")
        assert "secure" in page.headers["set-cookie"].lower()
        # httpx keeps a Secure cookie off plain http, as a browser would: send it by hand.
        pre = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        response = await client.post(
            "/console/sign-in", data={"csrf_token": csrf(page.text), "name": "Li Na", "password": PASSWORD},
            headers={"Cookie": f"outreach_console_pre={pre}"},
        )
        assert response.status_code == 303
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("outreach_console="))
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()


async def test_sign_out_ends_the_session(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.health_worker)
    await sign_in(client, "Li Na")
    stolen = dict(client.cookies)
    token = csrf((await client.get("/console")).text)
    out = await client.post("/console/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert (await client.get("/console")).status_code == 303
    assert await _rows(services, ConsoleSession) == []
    # The old cookie opens nothing any more.
    async with _new_client(client) as other:
        other.cookies.update(stolen)
        assert (await other.get("/console")).status_code == 303


# --- password change ---------------------------------------------------------------------


async def test_password_change(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Li Na", Role.coordinator)
    await sign_in(client, "Li Na")
    async with _new_client(client) as elsewhere:
        await sign_in(elsewhere, "Li Na")
        page = await client.get("/console/password")
        assert page.status_code == 200
        token = csrf(page.text)
        new = "a brand new passphrase"

        async def change(current: str, new_password: str, confirm: str | None = None) -> httpx.Response:
            return await client.post("/console/password", data={
                "csrf_token": token, "current_password": current, "new_password": new_password,
                "confirm_password": new_password if confirm is None else confirm})

        wrong = await change("not it", new)
        assert wrong.status_code == 400 and "The current password is not right." in wrong.text
        short = await change(PASSWORD, "short")
        assert short.status_code == 400 and "at least 10 characters" in short.text
        mismatch = await change(PASSWORD, new, new + "!")
        assert mismatch.status_code == 400 and "not the same" in mismatch.text
        same = await change(PASSWORD, PASSWORD)
        assert same.status_code == 400
        done = await change(PASSWORD, new)
        assert done.status_code == 200 and "Your password is changed." in done.text
        # This session goes on; the other one is ended.
        assert (await client.get("/console")).status_code == 200
        assert (await elsewhere.get("/console")).status_code == 303
    async with _new_client(client) as later:
        assert (await sign_in(later, "Li Na")).status_code == 401
        assert (await sign_in(later, "Li Na", new)).status_code == 303


# --- roles -------------------------------------------------------------------------------


async def test_each_role_reaches_its_pages_only(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    for name, role in [("Coord", Role.coordinator), ("Worker", Role.health_worker), ("Boss", Role.admin)]:
        await create_staff(services, name, role)
    allowed = {
        "Coord": {"/console": 200, "/console/indicators": 200, "/console/points": 403, "/console/password": 200},
        "Worker": {"/console": 200, "/console/indicators": 403, "/console/points": 200, "/console/password": 200},
        "Boss": {"/console": 200, "/console/indicators": 200, "/console/points": 200, "/console/password": 200},
    }
    for name, pages in allowed.items():
        async with _new_client(client) as browser:
            await sign_in(browser, name)
            home = await browser.get("/console")
            for path, status in pages.items():
                response = await browser.get(path)
                assert response.status_code == status, (name, path)
                # The menu offers exactly the pages the role may open.
                assert (f'href="{path}"' in home.text) == (status == 200), (name, path)
                if status == 403:
                    assert "Not allowed (403)" in response.text
                    assert "This page is for:" in response.text and name in response.text
    # No session: the sign-in page, coming back afterwards.
    for path in ("/console", "/console/points", "/console/indicators", "/console/password"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")
    response = await client.get("/console/points")
    assert response.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fpoints"
    back = await sign_in(client, "Worker", next="/console/points")
    assert back.headers["location"] == "/console/points"
    # Never off the console.
    async with _new_client(client) as browser:
        assert (await sign_in(browser, "Worker", next="//evil.example/")).headers["location"] == "/console"


async def test_the_console_is_not_in_the_api_document(console: tuple[Container, httpx.AsyncClient]) -> None:
    _, client = console
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/console") or p.startswith("/static")]


# --- what the homes show -------------------------------------------------------------------


async def test_coordinator_home_shows_the_knowledge_card_and_no_personal_data(
    console: tuple[Container, httpx.AsyncClient]
) -> None:
    services, client = console
    await seed_attempts(services, random.Random(7), 60)
    async with services.db.session() as session:
        phone_contact = Contact(language="en", consent=Consent.granted, city="shenzhen", district="nanshan")
        session.add(phone_contact)
        await session.flush()
        assert phone_contact.id is not None
        session.add(ContactUrn(contact_id=phone_contact.id, scheme="tel", path="+8613800138000"))
        report = await knowledge_report(session, services.settings, None)
    await create_staff(services, "Coord", Role.coordinator)
    await sign_in(client, "Coord")
    home = (await client.get("/console")).text
    assert 'id="knowledge-card"' in home and "Target ≥ 90%" in home
    for cell in (report.first.overall, report.latest.overall):
        assert not cell.suppressed and cell.rate is not None
        assert f"{cell.rate * 100:.1f}%" in home
        assert f"{cell.knowers} of {cell.n} people" in home
        assert f"{cell.ci_low * 100:.1f}% – {cell.ci_high * 100:.1f}%" in home  # type: ignore[operator]
    assert "Definition:" in home
    for secret in ("+8613800138000", "13800138000"):
        assert secret not in home
    assert (await client.get("/console/indicators")).text.count('id="knowledge-card"') == 1


async def test_a_small_count_is_suppressed_on_the_card(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Coord", Role.coordinator)
    await sign_in(client, "Coord")
    home = (await client.get("/console")).text
    assert "Not shown: fewer than 5 people, or the number would give a smaller group away." in home
    assert "n = " not in home  # a hidden cell hides its n too


async def test_health_worker_home_lists_points_with_todays_appointments(
    console: tuple[Container, httpx.AsyncClient], clock: ManualClock
) -> None:
    services, client = console
    nanshan = await create_point(services)
    await create_point(services, name={"zh_Hans": "福田站", "en": "Futian Station"}, district="futian")
    await create_point(services, name={"zh_Hans": "关闭站", "en": "Closed Station"}, active=False)
    async with services.db.session() as session:
        contact = Contact(language="en", consent=Consent.granted)
        session.add(contact)
        await session.flush()
        # Today in Shenzhen is 2 March: 00:00 local is 16:00 UTC the day before.
        for starts, status in [
            (datetime(2026, 3, 1, 16, 0, tzinfo=UTC), AppointmentStatus.booked),  # 00:00 today
            (T0 + timedelta(hours=1), AppointmentStatus.attended),
            (T0 + timedelta(hours=5), AppointmentStatus.booked),
            (T0 + timedelta(hours=6), AppointmentStatus.cancelled),  # not counted
            (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), AppointmentStatus.booked),  # tomorrow
            (datetime(2026, 3, 1, 15, 59, tzinfo=UTC), AppointmentStatus.booked),  # yesterday
        ]:
            session.add(Appointment(contact_id=contact.id, point_id=nanshan.id, service_type="contraceptives",
                                    starts_at=starts, status=status))
    await create_staff(services, "Worker", Role.health_worker)
    await sign_in(client, "Worker")
    home = (await client.get("/console")).text
    assert "Nanshan Family Health Station" in home and "Futian Station" in home
    assert "Closed Station" not in home
    assert "3 appointments today (2026-03-02)" in home
    assert "0 appointments today (2026-03-02)" in home
    assert 'id="knowledge-card"' not in home
    points = (await client.get("/console/points")).text
    assert "3 appointments today (2026-03-02)" in points


async def test_admin_home_shows_both(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_point(services)
    await create_staff(services, "Boss", Role.admin)
    await sign_in(client, "Boss")
    home = (await client.get("/console")).text
    assert 'id="knowledge-card"' in home and "Nanshan Family Health Station" in home


# --- language ------------------------------------------------------------------------------


async def test_language_follows_accept_language_then_the_choice(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Coord", Role.coordinator)
    page = await client.get("/console/sign-in", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in page.text and "登录" in page.text
    page = await client.get("/console/sign-in?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.text
    await sign_in(client, "Coord")
    home = await client.get("/console", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in home.text
    switched = await client.post("/console/language",
                                 data={"csrf_token": csrf(home.text), "locale": "zh_Hans", "next": "/console"})
    assert switched.status_code == 303 and switched.headers["location"] == "/console"
    # Stored with the session: it wins over the browser's header from now on.
    home = await client.get("/console", headers={"Accept-Language": "en-US"})
    assert '<html lang="zh-Hans">' in home.text and "政策知晓率" in home.text and "您的角色" in home.text
    [row] = await _rows(services, ConsoleSession)
    assert row.locale == "zh_Hans"


async def test_a_language_picked_on_the_sign_in_page_stays(console: tuple[Container, httpx.AsyncClient]) -> None:
    services, client = console
    await create_staff(services, "Coord", Role.coordinator)
    page = await client.get("/console/sign-in?lang=zh_Hans", headers={"Accept-Language": "en"})
    await client.post("/console/sign-in", data={"csrf_token": csrf(page.text), "name": "Coord",
                                                "password": PASSWORD, "locale": "zh_Hans"})
    home = await client.get("/console", headers={"Accept-Language": "en"})
    assert '<html lang="zh-Hans">' in home.text
