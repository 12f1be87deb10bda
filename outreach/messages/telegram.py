"""Inbound Telegram: inbox, conversation turn and outbox row in one transaction.

A redelivered update (same update_id) has no effect. A turn's replies become one
Telegram message, its buttons those of the last reply that has any: one message per
turn keeps within Telegram's one-message-a-second-per-chat limit and reads naturally.
"""

from __future__ import annotations

from bot.contract import ConsentChanged, Reply
from outreach.channels.telegram import MAX_TEXT, TelegramChannel, TelegramInput
from outreach.contacts.models import ConsentKind
from outreach.conversations.service import Address, ConversationService
from outreach.messages.dispatcher import Dispatcher
from outreach.messages.models import OutboxStatus, Purpose
from outreach.timeutil import utcnow

PROVIDER = "telegram"


def merge(replies: list[Reply]) -> tuple[str, list[dict[str, str]]]:
    text = "\n\n".join(r.text for r in replies if r.text)
    with_choices = [r for r in replies if r.choices]
    choices = [{"id": c.id, "label": c.label} for c in with_choices[-1].choices] if with_choices else []
    return text, choices


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Telegram takes 4096 characters a message; longer text goes in several, cut at lines."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts


class TelegramInbound:
    def __init__(
        self, conversations: ConversationService, dispatcher: Dispatcher, channel: TelegramChannel
    ) -> None:
        self.conversations = conversations
        self.dispatcher = dispatcher
        self.channel = channel

    async def receive(self, event: TelegramInput) -> bool:
        """Handle one update; False when this update_id was already handled."""
        conv = self.conversations
        chat = str(event.chat_id)
        address = Address(channel="telegram", scheme="telegram", path=chat)
        now = utcnow()
        async with conv.writer.begin(address.key) as raw:
            new = await raw.row(
                conv.sql["inbox"],
                {"provider": PROVIDER, "provider_id": str(event.update_id), "received_at": now},
            )
            if new is None:
                return False
            result = await conv.handle_in(
                raw, address, event.text, hint=event.language_code, community=event.payload
            )
            opted_out = any(
                isinstance(e, ConsentChanged) and e.kind == ConsentKind.opted_out
                for e in result.turn.events
            )
            text, choices = merge(result.turn.replies)
            pieces = chunks(text)
            rows = [
                {
                    "idempotency_key": f"{PROVIDER}:{event.update_id}:{i}",
                    "contact_id": result.contact_id,
                    "channel": "telegram",
                    "address": chat,
                    "purpose": (Purpose.opt_out_confirmation if opted_out else Purpose.reply).value,
                    "body": piece,
                    # Buttons go with the last piece, under the question they answer.
                    "choices": choices if i == len(pieces) - 1 and choices else None,
                    "encoding": "UTF-8",
                    "segments": 1,
                    "status": OutboxStatus.pending.value,
                    "attempts": 0,
                    "due_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, piece in enumerate(pieces)
            ]
            if rows:
                await raw.many(conv.sql["outbox_buttons"], rows)
        if event.callback_id:
            await self.channel.acknowledge(event.chat_id, event.callback_id, event.callback_message_id)
        if rows:
            self.dispatcher.wake()
        return True
