"""One error family with real status codes; one handler turns them into JSON."""

from __future__ import annotations

from typing import Any


class OutreachError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(OutreachError):
    code = "config_error"


class BadRequest(OutreachError):
    status_code = 400
    code = "bad_request"


class Unauthorized(OutreachError):
    status_code = 401
    code = "unauthorized"


class Forbidden(OutreachError):
    status_code = 403
    code = "forbidden"


class NotFound(OutreachError):
    status_code = 404
    code = "not_found"


class Conflict(OutreachError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(OutreachError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(OutreachError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(OutreachError):
    status_code = 503
    code = "unavailable"
    # Seconds a client should wait before trying again (the Retry-After header), if known.
    retry_after: int | None = None


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, restarting, the connection lost mid-way).
    The unit of work that raised it did not finish (if the connection was lost during
    its COMMIT, whether that committed is unknown): try again shortly."""

    code = "database_unavailable"
    retry_after = 5


class DatabaseFull(ServiceUnavailable):
    """The database's disk is full (SQLite: SQLITE_FULL or a write I/O error). Nothing of
    the failed unit of work was kept; the same request works once space is freed.

    503, not 507: it is the server's passing condition, not the request's size, and 503 is
    what providers' webhooks and HTTP clients retry later (507 is WebDAV's)."""

    code = "database_full"
