"""The outbound engine's ``Sender`` interface: what every channel's adapter offers the
dispatcher, and how it reports failure. Adapters translate their provider's statuses and
error codes into these words (``SendResult.status``, ``Failure``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from outreach.outbound.models import OutboxStatus


class Failure(StrEnum):
    opted_out = "opted_out"  # never send to this person again (until they opt in)
    retryable = "retryable"  # did not go out: try again later
    unknown = "unknown"  # may have gone out: retry only with the same idempotency key
    permanent = "permanent"  # will not work however often we try


class SendError(Exception):
    def __init__(
        self, failure: Failure, reason: str, code: int | None = None, delay: float | None = None
    ) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason
        self.code = code
        # The provider said when to try again (e.g. Telegram's retry_after), in seconds.
        self.delay = delay


@dataclass(frozen=True)
class SendResult:
    sid: str  # the provider's id for the message (its delivery reports name it)
    status: OutboxStatus
    segments: int | None = None


@dataclass(frozen=True)
class Outgoing:
    key: str  # the idempotency key
    address: str
    body: str
    choices: list[dict[str, Any]] = field(default_factory=list)


class Sender(Protocol):
    channel: str
    enabled: bool

    async def send(self, message: Outgoing) -> SendResult: ...

    async def lookup(self, message: Outgoing, since: datetime) -> list[SendResult] | None:
        """Was ``message`` sent already (by an attempt whose outcome is unknown)? The
        provider's messages to its address created at or after ``since`` with its body,
        newest first; ``None`` when the provider cannot be asked (Telegram). Raises
        ``SendError`` when asking fails."""
        ...

    async def close(self) -> None: ...
