"""Web pages: the chat simulator, a development tool (mounted unless ``OUTREACH_ENV=prod``).

The page is rendered with Jinja2 and the ``jinja2.ext.i18n`` extension, so Babel's jinja2
extractor finds its strings (``babel.cfg``). The strings the script shows are rendered into
the page as JSON too: ``simulator.js`` holds no text a person reads. Its two static files
are served by explicit routes, since an ``APIRouter`` cannot carry a ``StaticFiles`` mount.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from outreach.i18n import (
    LANGUAGE_NAMES,
    SUPPORTED_LOCALES,
    accept_language,
    best_locale,
    negotiate,
    translator,
)
from outreach.settings import Settings

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# The simulator API (outreach.providers.simulator.endpoints), relative to the app's root path.
SIMULATOR_API = "/api/v1/simulator/messages"
SIMULATOR_OUTBOX = "/api/v1/simulator/outbox"

# Bot text and anything typed are only ever set as text by the script, never as HTML:
# the policy keeps it that way should a future change slip.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Vary": "Accept-Language",
}

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=16)
def templates(locale: str, locales_dir: Path) -> Environment:
    """One environment per locale, with that locale's gettext installed."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translator(locale, locales_dir), newstyle=True)  # type: ignore[attr-defined]
    return env


def page_locale(request: Request, default: str) -> str:
    """``?lang=`` wins, then ``Accept-Language``, then the configured default."""
    lang = request.query_params.get("lang")
    tags = accept_language(request.headers.get("accept-language"))
    return best_locale([lang, *tags] if lang else tags) or negotiate(default, SUPPORTED_LOCALES[0])


def static_url(request: Request, name: str) -> str:
    """The URL of a static file, with its mtime so that an edit is never served stale."""
    version = int((STATIC / name).stat().st_mtime)
    return f"{request.scope.get('root_path', '')}/static/{name}?v={version}"


@router.get("/simulator", response_class=HTMLResponse)
async def simulator_page(request: Request) -> HTMLResponse:
    settings = request.app.state.provided[Settings]
    locale = page_locale(request, settings.default_locale)
    root = request.scope.get("root_path", "")
    languages = [
        {
            "locale": code,
            "name": LANGUAGE_NAMES[code],
            "tag": code.replace("_", "-"),
            "url": f"{root}/simulator?{urlencode({'lang': code})}",
            "current": code == locale,
        }
        for code in SUPPORTED_LOCALES
    ]
    html = (
        templates(locale, Path(settings.locales_dir))
        .get_template("simulator.html")
        .render(
            locale=locale,
            html_lang=locale.replace("_", "-"),
            languages=languages,
            api_url=f"{root}{SIMULATOR_API}",
            outbox_url=f"{root}{SIMULATOR_OUTBOX}",
            css_url=static_url(request, "simulator.css"),
            js_url=static_url(request, "simulator.js"),
        )
    )
    return HTMLResponse(
        html, headers={**_PAGE_HEADERS, "Content-Language": locale.replace("_", "-")}
    )


def static_file(name: str, media_type: str) -> FileResponse:
    """A file under outreach/web/static, revalidated on every use (its URL carries its mtime)."""
    return FileResponse(
        STATIC / name,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


@router.api_route("/static/simulator.js", methods=["GET", "HEAD"])
async def simulator_js() -> FileResponse:
    return static_file("simulator.js", "text/javascript; charset=utf-8")


@router.api_route("/static/simulator.css", methods=["GET", "HEAD"])
async def simulator_css() -> FileResponse:
    return static_file("simulator.css", "text/css; charset=utf-8")
