"""The staff console (``/console``): server-rendered pages for every staff role.

``install(app)`` adds its routes and the handlers that turn its three refusals into
pages: no session → the sign-in page, a wrong role or a missing CSRF token → the 403
page. Later pages use ``Require(...)`` for their role and ``checked_form`` for a POST,
and add an entry to ``NAV`` (``frame.py``)."""

from __future__ import annotations

from fastapi import FastAPI

from outreach.web.console.frame import install_handlers
from outreach.web.console.routes import router


def install(app: FastAPI) -> None:
    install_handlers(app)
    app.include_router(router)
