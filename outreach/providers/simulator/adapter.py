"""The simulator as an outbound channel: what the service sends on its own to a pretend
migrant (reminders, follow-ups) is "delivered" at once and waits in the outbox until
the simulator page fetches it (``GET /api/v1/simulator/outbox``)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from outreach.outbound.models import OutboxStatus
from outreach.outbound.sender import Outgoing, SendResult
from outreach.settings import Settings


class SimChannel:
    channel = "sim"

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.simulator_enabled

    async def send(self, message: Outgoing) -> SendResult:
        sid = "SIM" + hashlib.blake2b(message.key.encode(), digest_size=16).hexdigest()
        return SendResult(sid=sid, status=OutboxStatus.delivered, segments=1)

    async def lookup(self, message: Outgoing, since: datetime) -> list[SendResult] | None:
        # Sending again is harmless here: the same key is the same pretend delivery.
        return None

    async def close(self) -> None:
        return None
