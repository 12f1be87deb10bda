"""The console's frame: who is signed in (``Staff``), the role guard, the CSRF check of
every form, the navigation, and the rendering of a page (templates in
``templates/console/``, strings through Babel)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from outreach.api.deps import Provided, SessionDep
from outreach.i18n import LANGUAGE_NAMES, N_, SUPPORTED_LOCALES, best_locale
from outreach.settings import Settings
from outreach.timeutil import Clock
from outreach.users.models import ConsoleSession, Role, User
from outreach.users.sessions import Policy, resume
from outreach.web.routes import page_locale, static_url, templates


COOKIE = "outreach_console"
# Before sign-in there is no session to tie a token to: the sign-in form's token is also
# in this cookie (double submit), so another site cannot post the form for a browser.
PRE_COOKIE = "outreach_console_pre"
COOKIE_PATH = "/console"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Vary": "Accept-Language, Cookie",
}

ROLE_NAMES = {
    Role.admin: N_("Administrator"),
    Role.coordinator: N_("Coordinator"),
    Role.health_worker: N_("Health worker"),
}


@dataclass(frozen=True)
class NavEntry:
    path: str
    label: str  # an N_() message id, translated in the template
    roles: frozenset[Role]  # who sees it (admins see everything)


# Every console page a role may open, in menu order. A page added by a later issue adds
# its entry here and guards its route with the same roles.
NAV: tuple[NavEntry, ...] = (
    NavEntry("/console", N_("Home"), frozenset(Role)),
    NavEntry("/console/indicators", N_("Indicators"), frozenset({Role.coordinator})),
    NavEntry("/console/points", N_("Service points"), frozenset({Role.health_worker})),
    NavEntry("/console/password", N_("Password"), frozenset(Role)),
)


def may(role: Role, roles: frozenset[Role] | tuple[Role, ...]) -> bool:
    return role == Role.admin or role in roles


@dataclass(frozen=True)
class Staff:
    user: User
    session: ConsoleSession
    locale: str


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class WrongRole(Exception):
    def __init__(self, staff: Staff, roles: tuple[Role, ...]) -> None:
        self.staff = staff
        self.roles = roles


class CsrfRefused(Exception):
    def __init__(self, staff: Staff | None) -> None:
        self.staff = staff


SettingsDep = Annotated[Settings, Provided(Settings)]
ClockDep = Annotated[Clock, Provided(Clock)]


def safe_next(value: str | None) -> str:
    """Only a console path: never another site (``//evil``) or a scheme."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"


def request_locale(request: Request, settings: Settings) -> str:
    return page_locale(request, settings.default_locale)


async def signed_in(
    request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Staff:
    found = await resume(session, request.cookies.get(COOKIE, ""), clock.now(), Policy.from_settings(settings))
    if found is None:
        raise SignInNeeded(request.url.path)
    user, row = found
    locale = best_locale([row.locale]) if row.locale else None
    return Staff(user=user, session=row, locale=locale or request_locale(request, settings))


StaffDep = Annotated[Staff, Depends(signed_in)]


def Require(*roles: Role) -> Any:  # noqa: N802 - reads as a type in Annotated[...]
    """The signed-in staff member, if their role is one of ``roles`` (admins always)."""

    async def check(staff: StaffDep) -> Staff:
        if not may(staff.user.role, roles):
            raise WrongRole(staff, roles)
        return staff

    return Depends(check)


def same_token(a: str | None, b: str | None) -> bool:
    """Both present and equal, compared in constant time."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def checked_form(request: Request, staff: StaffDep) -> FormData:
    """A POSTed form whose token is the session's (else the 403 page)."""
    form = await request.form()
    if not same_token(form.get("csrf_token"), staff.session.csrf_token):  # type: ignore[arg-type]
        raise CsrfRefused(staff)
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


# --- rendering --------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    *,
    settings: Settings,
    staff: Staff | None,
    locale: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    locale = locale or (staff.locale if staff else request_locale(request, settings))
    root = request.scope.get("root_path", "")
    path = request.url.path
    nav = [
        {"url": root + e.path, "label": e.label, "current": e.path == path}
        for e in NAV
        if staff is not None and may(staff.user.role, e.roles)
    ]
    languages = [
        {"locale": code, "name": LANGUAGE_NAMES[code], "tag": code.replace("_", "-"),
         "current": code == locale,
         "url": f"{root}{path}?{urlencode({'lang': code})}"}
        for code in SUPPORTED_LOCALES
    ]
    html = templates(locale, Path(settings.locales_dir)).get_template(template).render(
        root=root,
        html_lang=locale.replace("_", "-"),
        css_url=static_url(request, "console.css"),
        staff=staff,
        role_name=ROLE_NAMES[staff.user.role] if staff else "",
        csrf=staff.session.csrf_token if staff else "",
        nav=nav,
        languages=languages,
        here=path,
        **context,
    )
    return HTMLResponse(
        html, status_code=status_code,
        headers={**HEADERS, "Content-Language": locale.replace("_", "-")},
    )


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True,
        samesite="lax", secure=settings.secure_cookies,
    )


def new_pre_token() -> str:
    return secrets.token_urlsafe(32)


def install_handlers(app: FastAPI) -> None:
    def settings_of(request: Request) -> Settings:
        return request.app.state.provided[Settings]  # type: ignore[no-any-return]

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        root = request.scope.get("root_path", "")
        query = "" if exc.next_path == "/console" else "?" + urlencode({"next": exc.next_path})
        response = RedirectResponse(f"{root}/console/sign-in{query}", status_code=303)
        response.headers.update({"Cache-Control": "no-store"})
        return response

    async def wrong_role(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WrongRole)
        return render(
            request, "console/forbidden.html", settings=settings_of(request), staff=exc.staff,
            status_code=403, reason="role",
            needed=[ROLE_NAMES[r] for r in (Role.admin, *exc.roles)],
        )

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRefused)
        return render(
            request, "console/forbidden.html", settings=settings_of(request), staff=exc.staff,
            status_code=403, reason="csrf", needed=[],
        )

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(WrongRole, wrong_role)
    app.add_exception_handler(CsrfRefused, csrf_refused)


__all__ = [
    "COOKIE", "PRE_COOKIE", "FormDep", "Require", "Staff", "StaffDep",
    "install_handlers", "render", "safe_next",
]
