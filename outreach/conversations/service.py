"""Inbound messages from any channel: load the contact, run the bot, persist the turn.

One transaction per message. Messages of one address are handled one at a time: SQLite
has a single connection (see ``outreach.db``); PostgreSQL takes a transaction-scoped
advisory lock on the address, which also covers a contact's very first message.
The statements (``repository``) run on the driver connection: this is the hot path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


from bot import ContactView, DialogState, Engine, Turn
from bot.requests import NeedAnswer, Request
from bot.contract import (
    Event,
)
from outreach.contacts.models import (
    Consent,
    Direction,
)
from outreach.conversations.answers import Answers, Asker, register_contacts
from outreach.conversations.repository import (
    TURN_STATEMENTS,
    LinkLimits,
    apply_event,
    claim_link_code,
)
from outreach.db.database import Database
from outreach.db.raw import Raw, json_value
from outreach.outbound.enqueue import Enqueuer
from outreach.timeutil import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Address:
    """Where a message came from: a channel and the contact's address on it."""

    channel: str  # the adapter that carried it: sim, sms, telegram
    scheme: str  # the URN scheme: sim, tel, telegram
    path: str

    @property
    def key(self) -> str:
        """What serialises this address's messages (the lock key)."""
        return f"{self.scheme}:{self.path}"


@dataclass(frozen=True)
class TurnResult:
    contact_id: int
    turn: Turn


# More requests than this in one turn is a loop in a step, not a conversation.
MAX_REQUESTS = 8
# What the history keeps of a message that was a one-time code.
SECRET_INPUT = "[code]"


class ConversationService:
    def __init__(
        self,
        engine: Engine,
        db: Database,
        *,
        enqueuer: Enqueuer,
        rng: random.Random | None = None,
        answers: Answers | None = None,
        clock: Clock | None = None,
        link_limits: LinkLimits | None = None,
    ) -> None:
        self.engine = engine
        self.answers = answers or Answers()
        self.link_limits = link_limits or LinkLimits()
        self.db = db
        self.sql = TURN_STATEMENTS.for_dialect(db.dialect)
        register_contacts(self.answers, self.find, self.claim_link_code)
        self.enqueuer = enqueuer
        self.rng = rng or random.SystemRandom()
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    async def handle_in(
        self,
        raw: Raw,
        address: Address,
        body: str,
        *,
        hint: str | None = None,
        community: str | None = None,
        now: datetime | None = None,
    ) -> TurnResult:
        """Handle one message inside the caller's transaction (the inbound pipeline's,
        with its inbox row).

        ``hint``: a language the channel suggests; ``community``: a community or campaign
        code the person arrived with (dropped again if they decline consent); ``now``:
        the turn's time (default the service's clock)."""
        sql = self.sql
        if now is None:
            now = self.clock.now()
        row = await raw.row(sql["find"], {"scheme": address.scheme, "path": address.path})
        if row is None:
            created = await raw.row(
                sql["new_contact"],
                {"consent": Consent.pending.value, "opted_out": False, "dialog": {},
                 "created_at": now, "updated_at": now},
            )
            assert created is not None
            contact_id = int(created["id"])
            await raw.run(
                sql["new_urn"],
                {"contact_id": contact_id, "scheme": address.scheme, "path": address.path,
                 "created_at": now},
            )
            view, state = ContactView(), DialogState()
        else:
            contact_id = int(row["id"])
            view = ContactView(
                language=row["language"],
                consent=Consent(row["consent"]),
                city=row["city"],
                district=row["district"],
                opted_out=bool(row["opted_out"]),
                community=row["community"],
                prompt=row["prompt"],
            )
            state = DialogState.from_json(json_value(row["dialog"]))
        if community:
            view.community = community

        answers: dict[Request[Any], Any] = {}
        asker = Asker(contact_id, replace(view), now)
        # The replay rule (bot.requests): each run starts from a fresh copy of the contact
        # and state and the same random draws, so nothing of an unfinished run leaks and
        # the replay takes the same path up to the request it found answered.
        seed = self.rng.getrandbits(64)
        for _ in range(MAX_REQUESTS):
            v, st = replace(view), DialogState(state.step, dict(state.data))
            try:
                turn = self.engine.handle(
                    v, st, body, now=now, rng=random.Random(seed), hint=hint,
                    channel=address.channel, answers=answers,
                )
                break
            except NeedAnswer as need:
                answers[need.request] = await self.answers.answer(raw, asker, need.request)
        else:
            raise RuntimeError(f"a turn asked for more than {MAX_REQUESTS} answers")
        view, state = v, st

        for event in turn.events:
            await self._apply(raw, contact_id, address.channel, event, now)
        log: list[tuple[str, str]] = []
        if view.consent == Consent.granted:
            log = [(Direction.inbound.value, SECRET_INPUT if turn.secret_input else body)]
            log += [(Direction.outbound.value, reply.text) for reply in turn.replies]
        await raw.save_turn(
            sql,
            {
                "cid": contact_id,
                "language": view.language,
                "consent": view.consent.value,
                "city": view.city,
                "district": view.district,
                "opted_out": view.opted_out,
                "community": view.community,
                "prompt": view.prompt,
                "dialog": state.to_json(),
                "updated_at": now,
            },
            address.channel,
            log,
        )
        return TurnResult(contact_id, turn)

    async def _apply(self, raw: Raw, contact_id: int, channel: str, event: Event,
                     now: datetime) -> None:
        await apply_event(raw, self.sql, self.enqueuer, contact_id, channel, event, now)

    async def claim_link_code(self, raw: Raw, contact_id: int, phone: str,
                              now: datetime) -> datetime | None:
        """Count a phone-link code for this chat and number (``ClaimLinkCode``)."""
        return await claim_link_code(raw, self.sql, self.link_limits, contact_id, phone, now)

    async def find(self, raw: Raw, scheme: str, path: str) -> Any:
        """The contact at an address (its row, read by column name), or None."""
        return await raw.row(self.sql["find"], {"scheme": scheme, "path": path})
