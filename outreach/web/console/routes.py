"""The console's routes: sign-in and sign-out, the home page of each role, the
indicators and service points pages, password change and the language switch. None of
them is in the OpenAPI document (they answer HTML, not the API's JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from outreach.api.deps import SessionDep
from outreach.i18n import best_locale
from outreach.users.models import Role
from outreach.users.sessions import (
    LockedOut,
    PasswordRejected,
    Policy,
    SignInRefused,
    change_password,
    resume,
    sign_in,
    sign_out,
)
from outreach.web.console.frame import (
    COOKIE,
    PRE_COOKIE,
    ClockDep,
    CsrfRefused,
    FormDep,
    Require,
    SettingsDep,
    Staff,
    StaffDep,
    may,
    new_pre_token,
    render,
    request_locale,
    safe_next,
    same_token,
    set_cookie,
)
from outreach.web.console.pages import knowledge_card, points_today
from outreach.web.routes import static_file

router = APIRouter(include_in_schema=False)

Coordinator = Annotated[Staff, Require(Role.coordinator)]
HealthWorker = Annotated[Staff, Require(Role.health_worker)]


def _redirect(request: Request, path: str) -> RedirectResponse:
    response = RedirectResponse(request.scope.get("root_path", "") + path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- signing in and out -----------------------------------------------------------------


def _sign_in_page(
    request: Request, settings: SettingsDep, *, error: str | None = None, name: str = "",
    status_code: int = 200, chosen: str = "", next_path: str | None = None,
) -> Response:
    token = new_pre_token()
    # A language picked here (?lang=, or carried by a failed attempt) stays with the session.
    picked = request.query_params.get("lang") or chosen
    picked = (best_locale([picked]) if picked else None) or ""
    locale = picked or request_locale(request, settings)
    response = render(
        request, "console/sign_in.html", settings=settings, staff=None, locale=locale,
        status_code=status_code, error=error, name=name, pre_token=token, picked=picked,
        next_path=safe_next(next_path or request.query_params.get("next")),
        lockout_minutes=settings.console_lockout_minutes,
    )
    set_cookie(response, settings, PRE_COOKIE, token, max_age=3600)
    return response


@router.get("/console/sign-in")
async def sign_in_page(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    token = request.cookies.get(COOKIE, "")
    if token and await resume(session, token, clock.now(), Policy.from_settings(settings)):
        return _redirect(request, safe_next(request.query_params.get("next")))
    return _sign_in_page(request, settings)


@router.post("/console/sign-in")
async def sign_in_post(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    form = await request.form()
    if not same_token(request.cookies.get(PRE_COOKIE), str(form.get("csrf_token") or "")):
        raise CsrfRefused(None)
    name = str(form.get("name") or "")[:200]
    password = str(form.get("password") or "")[:1024]
    chosen = best_locale([str(form.get("locale") or "")])
    except_args = {"name": name, "chosen": chosen or "", "next_path": str(form.get("next") or "")}
    try:
        _, row, token = await sign_in(session, name, password, clock.now(), Policy.from_settings(settings))
    except LockedOut:
        return _sign_in_page(request, settings, error="locked", status_code=429, **except_args)
    except SignInRefused:
        return _sign_in_page(request, settings, error="refused", status_code=401, **except_args)
    if chosen:
        row.locale = chosen
        session.add(row)
    response = _redirect(request, safe_next(str(form.get("next") or "")))
    max_age = int(settings.console_idle_hours * 3600)
    set_cookie(response, settings, COOKIE, token, max_age=max_age)
    response.delete_cookie(PRE_COOKIE, path="/console")
    return response


@router.post("/console/sign-out")
async def sign_out_post(request: Request, session: SessionDep, staff: StaffDep, form: FormDep) -> Response:
    await sign_out(session, staff.session)
    response = _redirect(request, "/console/sign-in")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.post("/console/language")
async def language_post(request: Request, session: SessionDep, staff: StaffDep, form: FormDep) -> Response:
    chosen = best_locale([str(form.get("locale") or "")])
    if chosen:
        staff.session.locale = chosen
        session.add(staff.session)
    return _redirect(request, safe_next(str(form.get("next") or "")))


# --- pages ------------------------------------------------------------------------------


@router.get("/console")
async def home(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, staff: StaffDep
) -> Response:
    role = staff.user.role
    card = await knowledge_card(session, settings) if may(role, (Role.coordinator,)) else None
    points = (
        await points_today(session, clock.now(), staff.locale)
        if may(role, (Role.health_worker,)) else None
    )
    return render(request, "console/home.html", settings=settings, staff=staff, card=card, points=points)


@router.get("/console/indicators")
async def indicators(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Coordinator
) -> Response:
    card = await knowledge_card(session, settings)
    return render(request, "console/indicators.html", settings=settings, staff=staff, card=card)


@router.get("/console/points")
async def points(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, staff: HealthWorker
) -> Response:
    found = await points_today(session, clock.now(), staff.locale)
    return render(request, "console/points.html", settings=settings, staff=staff, points=found)


@router.get("/console/password")
async def password_page(request: Request, settings: SettingsDep, staff: StaffDep) -> Response:
    return render(
        request, "console/password.html", settings=settings, staff=staff, error=None, done=False,
        min_length=settings.password_min_length,
    )


@router.post("/console/password")
async def password_post(
    request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep, form: FormDep
) -> Response:
    new = str(form.get("new_password") or "")[:1024]
    error = None
    if new != str(form.get("confirm_password") or ""):
        error = "mismatch"
    else:
        try:
            await change_password(
                session, staff.user, staff.session, str(form.get("current_password") or "")[:1024],
                new, Policy.from_settings(settings),
            )
        except PasswordRejected as exc:
            error = exc.reason
    return render(
        request, "console/password.html", settings=settings, staff=staff, error=error,
        done=error is None, min_length=settings.password_min_length,
        status_code=200 if error is None else 400,
    )


@router.api_route("/static/console.css", methods=["GET", "HEAD"])
async def console_css() -> FileResponse:
    return static_file("console.css", "text/css; charset=utf-8")
