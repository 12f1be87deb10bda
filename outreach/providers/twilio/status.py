"""Twilio's message statuses and error codes, in the outbound engine's words."""

from __future__ import annotations

from outreach.outbound.models import OutboxStatus

# Twilio's MessageStatus values, as ours.
STATUS = {
    "accepted": OutboxStatus.queued,
    "scheduled": OutboxStatus.queued,
    "queued": OutboxStatus.queued,
    "sending": OutboxStatus.queued,
    "sent": OutboxStatus.sent,
    "delivered": OutboxStatus.delivered,
    "read": OutboxStatus.delivered,
    "undelivered": OutboxStatus.undelivered,
    "failed": OutboxStatus.failed,
    "canceled": OutboxStatus.failed,
}

OPTED_OUT = 21610  # the recipient replied STOP to this sender: send them nothing more
TOO_MANY_REQUESTS = 20429  # concurrency limit: back off and retry


def ours(status: str) -> OutboxStatus | None:
    """Our status for one of Twilio's; None for a value Twilio does not document."""
    return STATUS.get(status)
