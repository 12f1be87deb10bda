"""The composition root: the FastAPI app factory, the only place that wires it all."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from outreach import __version__
from outreach.appointments.routes import router as appointments_router
from outreach.channels.telegram_webhooks import router as telegram_router
from outreach.channels.twilio_webhooks import router as twilio_router
from outreach.errors import OutreachError
from outreach.questions.routes import router as questions_router
from outreach.services import Services, build_services
from outreach.settings import Settings, get_settings
from outreach.simulator.routes import router as simulator_router
from outreach.stats.routes import router as stats_router
from outreach.users.routes import router as users_router

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **details: object) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **details}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OutreachError)
    async def outreach_error(_: Request, exc: OutreachError) -> JSONResponse:
        response = _error(exc.status_code, exc.code, exc.message, **exc.details)
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return _error(422, "validation_error", f"Invalid request: {summary}", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "Internal server error: this is a bug, it has been logged.")


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The content library, catalogs and routes live as long as the process: move them
        # out of the collector's sight so full collections stop walking them (measured:
        # p99 at 50 clients fell by a third).
        gc.collect()
        gc.freeze()
        if settings.simulator_enabled:
            log.info("simulator on: http://%s:%s/simulator", settings.host, settings.port)
        else:
            log.info("simulator off (OUTREACH_ENV=%s)", settings.env)
        await services.start()
        yield
        await services.close()

    app = FastAPI(
        title="Outreach",
        version=__version__,
        description="Chat and SMS outreach for migrants: policy education, quizzes, indicators.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness and database reachability."""
        async with services.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    app.include_router(twilio_router)
    app.include_router(telegram_router)
    app.include_router(stats_router)
    app.include_router(questions_router)
    app.include_router(users_router)
    app.include_router(appointments_router)
    if settings.simulator_enabled:
        from outreach.web.routes import router as web_router

        app.include_router(simulator_router)
        app.include_router(web_router)
    return app
