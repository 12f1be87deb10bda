"""Inbound SMS: inbox, conversation turn and outbox rows in one transaction.

The webhook is acknowledged only after this commits, so a redelivered or concurrent
duplicate finds its MessageSid in the inbox and has no effect, and a crash after the
acknowledgement loses nothing: the replies are outbox rows that the dispatcher sends.
"""

from __future__ import annotations

from bot.contract import ConsentChanged
from outreach.channels.sms_text import sms_parts
from outreach.contacts.models import ConsentKind
from outreach.conversations.service import Address, ConversationService
from outreach.messages.dispatcher import Dispatcher
from outreach.messages.models import OutboxStatus, Purpose
from outreach.timeutil import utcnow

PROVIDER = "twilio"


class SmsInbound:
    def __init__(
        self, conversations: ConversationService, dispatcher: Dispatcher, max_segments: int
    ) -> None:
        self.conversations = conversations
        self.dispatcher = dispatcher
        self.max_segments = max_segments

    async def receive(self, message_sid: str, phone: str, body: str) -> bool:
        """Handle one inbound SMS; False when this MessageSid was already handled."""
        conv = self.conversations
        address = Address(channel="sms", scheme="tel", path=phone)
        now = utcnow()
        async with conv.writer.begin(address.key) as raw:
            new = await raw.row(
                conv.sql["inbox"],
                {"provider": PROVIDER, "provider_id": message_sid, "received_at": now},
            )
            if new is None:
                return False
            result = await conv.handle_in(raw, address, body)
            opted_out = any(
                isinstance(e, ConsentChanged) and e.kind == ConsentKind.opted_out
                for e in result.turn.events
            )
            purpose = Purpose.opt_out_confirmation if opted_out else Purpose.reply
            rows: list[dict[str, object]] = []
            for reply in result.turn.replies:
                for part in sms_parts(reply, self.max_segments):
                    rows.append(
                        {
                            "idempotency_key": f"{PROVIDER}:{message_sid}:{len(rows)}",
                            "contact_id": result.contact_id,
                            "channel": "sms",
                            "address": phone,
                            "purpose": purpose.value,
                            "body": part.text,
                            "encoding": part.encoding,
                            "segments": part.segments,
                            "status": OutboxStatus.pending.value,
                            "attempts": 0,
                            "due_at": now,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
            if rows:
                await raw.many(conv.sql["outbox"], rows)
        if rows:
            self.dispatcher.wake()
        return True
