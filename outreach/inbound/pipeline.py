"""The one inbound pipeline: dedupe → turn → replies to the outbox, in one transaction.

Every channel's webhook (or page) turns what arrived into an ``Inbound`` and calls
``Pipeline.receive``. In one transaction on the sender's address:

1. **dedupe**: the provider's own id (Twilio's MessageSid, Telegram's update_id) goes into
   the inbox; a redelivered or concurrent duplicate finds it there and changes nothing;
2. **turn**: the conversation service loads the contact, runs the bot and saves the turn;
3. **replies**: the channel's ``render`` cuts the replies into messages for that channel
   and they become outbox rows, which the dispatcher sends.

The webhook is acknowledged only after this commits, so a crash after the acknowledgement
loses nothing. A channel whose replies go back in the response itself (the simulator)
registers no ``render``: its replies are returned, not queued. What a channel needs on
top (Telegram's answer to a button press) it does after ``receive`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from bot.contract import ConsentChanged, Reply
from outreach.contacts.enums import ConsentKind
from outreach.conversations.service import Address, ConversationService, TurnResult
from outreach.outbound.enqueue import Direct, Enqueuer, Part
from outreach.db.raw import Statements
from outreach.errors import BadRequest
from outreach.outbound.models import InboxEvent, Purpose
from outreach.timeutil import SYSTEM_CLOCK, Clock

def _statements(dialect: str) -> dict[str, ClauseElement]:
    inbox = InboxEvent.__table__  # type: ignore[attr-defined]
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    # No row back: this provider id was there already.
    return {"inbox": insert(inbox).values(provider=bindparam("provider"),
                                          provider_id=bindparam("provider_id"),
                                          received_at=bindparam("received_at"))
            .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
            .returning(inbox.c.id)}


STATEMENTS = Statements(_statements)

# How a channel cuts one turn's replies into the messages it sends.
Render = Callable[[list[Reply]], list[Part]]


# The inbox's and the address book's column widths (outbound/models.py, contacts/models.py).
MAX_PROVIDER_ID = 64
MAX_ADDRESS = 255


@dataclass(frozen=True)
class Inbound:
    """One message as a channel received it."""

    address: Address
    text: str
    # Whose id ``provider_id`` is (the inbox's dedupe namespace), e.g. twilio, telegram;
    # None for a channel that has no delivery id (the simulator): no dedupe.
    provider: str | None = None
    provider_id: str | None = None
    # A language the channel suggests (Telegram's language_code).
    hint: str | None = None
    # The community or campaign code the person arrived with (a Telegram deep link).
    community: str | None = None

    def __post_init__(self) -> None:
        # A NUL cannot be stored (PostgreSQL's text has none) and is never meant: it goes,
        # and the message is answered without it.
        for name in ("text", "hint", "community"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))
        if "\x00" in self.address.path or len(self.address.path) > MAX_ADDRESS:
            raise BadRequest("The sender's address is not one this service can store.")
        if self.provider_id is not None and not (
            0 < len(self.provider_id) <= MAX_PROVIDER_ID and self.provider_id.isprintable()
        ):
            raise BadRequest("The provider's message id is empty, too long or not printable "
                             "(at most {} characters).".format(MAX_PROVIDER_ID))


class Pipeline:
    def __init__(
        self,
        conversations: ConversationService,
        enqueuer: Enqueuer,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Clock | None = None,
    ) -> None:
        self.conversations = conversations
        self.enqueuer = enqueuer
        # Tells the dispatcher there is something to send (after the commit).
        self.wake = wake
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.sql = STATEMENTS.for_dialect(conversations.db.dialect)
        self._render: dict[str, Render | None] = {}

    def register(self, channel: str, render: Render | None) -> None:
        """A channel's renderer; None: its replies are returned to the caller, not queued."""
        if channel in self._render:
            raise ValueError(f"channel {channel!r} is already registered")
        self._render[channel] = render

    async def first_time(self, provider: str, provider_id: str) -> bool:
        """Record a provider event that has no turn (nothing of it is stored but its id);
        False when it was recorded before."""
        async with self.conversations.db.begin() as raw:
            return await raw.row(self.sql["inbox"], {
                "provider": provider, "provider_id": provider_id, "received_at": self.clock.now(),
            }) is not None

    async def receive(self, message: Inbound) -> TurnResult | None:
        """Handle one inbound message; None when it was already handled (a duplicate)."""
        address = message.address
        try:
            render = self._render[address.channel]
        except KeyError:
            raise LookupError(f"no channel {address.channel!r} is registered") from None
        conv = self.conversations
        now = self.clock.now()
        queued = 0
        async with conv.db.begin(address.key) as raw:
            if message.provider is not None:
                new = await raw.row(self.sql["inbox"], {
                    "provider": message.provider, "provider_id": message.provider_id,
                    "received_at": now,
                })
                if new is None:
                    return None
            result = await conv.handle_in(raw, address, message.text, hint=message.hint,
                                          community=message.community, now=now)
            if render is not None:
                opted_out = any(isinstance(e, ConsentChanged) and e.kind == ConsentKind.opted_out
                                for e in result.turn.events)
                queued = await self.enqueuer.direct(raw, Direct(
                    key=f"{message.provider or address.channel}:{message.provider_id or now.isoformat()}",
                    contact_id=result.contact_id, channel=address.channel, address=address.path,
                    purpose=Purpose.opt_out_confirmation if opted_out else Purpose.reply,
                    parts=render(result.turn.replies), due_at=now,
                ))
        if queued:
            self.wake()
        return result
