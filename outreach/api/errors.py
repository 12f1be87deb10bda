"""The one error shape every route answers, and the OpenAPI document that says so.

Every error is ``{"error": {"code", "message", "problems"?}}`` (``outreach.app`` turns
``OutreachError``, validation errors and Starlette's HTTP errors into it). The document
declares it for every status an operation can answer, derived from what the operation
is, so that a new route cannot forget one:

- a security requirement (a bearer token): 401 and 403;
- a path parameter (an id): 404;
- any parameter or body: 422 (a validation error, in our shape, not FastAPI's);
- a JSON body: 400 (not JSON, nested too deep), 413 (too large), 415 (not JSON);
- what only the route knows (409 for attendance, the webhooks' 400/403/415/503) it
  declares itself with ``responses=errors(...)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

_WHY = {
    400: "The request could not be read (malformed body or URL, nesting too deep, a field "
         "over its limit).",
    401: "No valid bearer token.",
    403: "The token's role may not do this, or the request is not signed.",
    404: "No such object.",
    405: "The path does not take this method (see the Allow header).",
    409: "The request conflicts with the object's state.",
    413: "The request body is too large.",
    415: "The body is not in the media type this operation reads.",
    422: "A parameter or a field of the body is invalid: see `problems`.",
    503: "The channel or a service it needs is off, the database cannot be reached "
         "(`database_unavailable`, with Retry-After) or its disk is full (`database_full`).",
}


class Problem(BaseModel):
    field: str = Field(description="Where: body.x, query.y, path.z.")
    problem: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: not_found, validation_error, …")
    message: str = Field(description="For people: what went wrong and what to do.")
    problems: list[Problem] | None = Field(
        default=None, description="Validation errors only: one per invalid field.")


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: ErrorDetail


_REF = {"$ref": "#/components/schemas/ErrorBody"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the statuses only it knows it can answer."""
    return {status: {"model": ErrorBody, "description": _WHY[status]} for status in statuses}


def _declare(responses: dict[str, Any], status: int) -> None:
    entry = responses.setdefault(str(status), {"description": _WHY[status]})
    entry["content"] = {"application/json": {"schema": _REF}}


def _json_body(operation: dict[str, Any]) -> bool:
    content = operation.get("requestBody", {}).get("content", {})
    return any(t == "application/json" or t.endswith("+json") for t in content)


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare, on every operation of ``spec``, the errors it can answer (above)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, ErrorDetail, Problem):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}")
        schemas[model.__name__].pop("$defs", None)
    for ops in spec.get("paths", {}).values():
        for operation in ops.values():
            responses = operation.setdefault("responses", {})
            params = operation.get("parameters", [])
            # Every operation reads or writes the database, which can be down or full.
            wanted: set[int] = {503}
            if operation.get("security"):
                wanted |= {401, 403}
            if any(p.get("in") == "path" for p in params):
                wanted.add(404)
            if params or "requestBody" in operation:
                wanted.add(422)
            if _json_body(operation):
                wanted |= {400, 413, 415}
            # What a route declared itself (errors(...)) keeps its own description.
            wanted |= {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(wanted):
                _declare(responses, status)
    # FastAPI's own validation shape is never answered.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec
