"""What no request may bring to the database or the parser, checked before a handler runs.

- ``JsonRoute`` (the route class of every JSON API router): a body must say it is JSON
  (else 415), be JSON (else 400), nest at most ``MAX_DEPTH`` deep (else 400: Python's
  parser recurses, and a deep enough array is a crash, not an answer), and its strings
  lose their NUL characters (PostgreSQL's text cannot hold them; nobody means one).
- ``strip_nul_from_url``: the same for the query string, so a filter with ``%00`` is a
  filter that matches nothing instead of a database error.

Before any of this the body is read up to a cap (413 past it, in the API's error shape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from outreach.api.body import read_capped
from outreach.errors import BadRequest, UnsupportedMediaType

# Deeper than any body the API reads (a service point's opening hours are 4 deep).
MAX_DEPTH = 32
# The largest body the JSON API reads, unless the app says otherwise
# (``app.state.api_max_bytes``, from OUTREACH_API_MAX_BYTES).
MAX_BYTES = 65_536

_BRACKETS = re.compile(rb'[\[\]{}"\\]')


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than ``limit`` (strings skipped;
    a rough scan that never recurses, run before the parser that does)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for match in _BRACKETS.finditer(body):
        char = match.group()
        if in_string:
            if escaped:
                escaped = False
            elif char == b"\\":
                # The next byte is escaped; it is the next match only if it is a quote
                # or a backslash (brackets in a string are skipped anyway).
                escaped = body[match.end():match.end() + 1] in (b'"', b"\\")
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character removed from its strings (keys included)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def parse_json(body: bytes) -> Any:
    """A request body as JSON, refused (400) when it is not JSON or nests too deep."""
    if too_deep(body):
        raise BadRequest(f"The JSON body nests deeper than {MAX_DEPTH} levels.")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest("The body is not valid JSON.") from exc
    return without_nul(parsed) if b"\\u0000" in body else parsed


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class JsonRoute(APIRoute):
    """A route whose body, if it reads one, is JSON checked as the module says."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def guarded(request: Request) -> Response:
            cap = getattr(request.app.state, "api_max_bytes", MAX_BYTES)
            body = await read_capped(request, cap)
            # What FastAPI reads next (request.body()) is what was read here.
            request._body = body
            if body:
                if not _is_json(request.headers.get("content-type")):
                    raise UnsupportedMediaType("The body must be JSON (Content-Type: application/json).")
                # FastAPI reads the body through request.json(), which keeps what it parsed.
                request._json = parse_json(body)
            return await handler(request)

        return guarded


def strip_nul_from_url(app: ASGIApp) -> ASGIApp:
    """Middleware: NUL characters (``%00``) leave the query string before routing."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if b"%00" in query or b"\x00" in query:
                scope = dict(scope)
                scope["query_string"] = re.sub(rb"%00|\x00", b"", query)
        await app(scope, receive, send)

    return middleware
