"""Putting messages into the outbox: the only writer of new outbox rows.

Every outbound message is an outbox row (DESIGN.md: the database is the truth). Replies
to a message go to the address it came from (``direct``, called by the inbound pipeline
and for a phone-link code); what the service starts on its own (reminders, follow-ups,
campaigns: ``enqueue``, ``fan_out``) goes to the channel the person last wrote on. Keys make scheduling idempotent: scheduling the same key again is
a no-op, so a job that dies halfway can simply run again.

Fan-out to many people is one ``INSERT … SELECT`` per chunk of contact ids, so a million
rows never pass through Python (and memory stays flat).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from content import segments
from outreach.contacts.models import Consent, Contact, ContactUrn
from outreach.db.database import Database
from outreach.db.raw import Raw, Statements
from outreach.outbound.models import Outbox, OutboxStatus, Purpose
from outreach.timeutil import SYSTEM_CLOCK, Clock

O = Outbox.__table__  # type: ignore[attr-defined]
C = Contact.__table__  # type: ignore[attr-defined]
U = ContactUrn.__table__  # type: ignore[attr-defined]

# The URN scheme each channel addresses.
SCHEME = {"sms": "tel", "telegram": "telegram", "sim": "sim"}

FAN_OUT_CHUNK = 50_000


def _urn_scheme() -> Any:
    return case(*((C.c.last_channel == ch, scheme) for ch, scheme in SCHEME.items()),
                else_=C.c.last_channel)


def _reachable() -> Any:
    """Contacts the service may start a conversation with (opt-out is checked again at
    send time: it can change in between)."""
    return and_(C.c.consent == Consent.granted.value, C.c.opted_out.is_(False),
                C.c.last_channel.is_not(None))


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(O)


_COLUMNS = ("idempotency_key", "contact_id", "channel", "address", "purpose", "body", "choices",
            "encoding", "segments", "status", "attempts", "due_at", "expires_at", "topic",
            "created_at", "updated_at")


@dataclass(frozen=True)
class Part:
    """One message as a channel will send it (its renderer cut it from the replies)."""

    body: str
    choices: list[dict[str, str]] | None = None
    encoding: str = "UTF-8"
    segments: int = 1


@dataclass(frozen=True)
class Direct:
    """Messages to one address, keyed ``{key}:{n}`` for their n-th part."""

    key: str
    contact_id: int
    channel: str
    address: str
    purpose: Purpose
    parts: list[Part]
    due_at: datetime
    # Not sent at or after this instant (a one-time code that has expired).
    expires_at: datetime | None = None


def _statements(dialect: str) -> dict[str, ClauseElement]:
    direct = [c for c in _COLUMNS if c != "topic"]
    one = (
        select(
            bindparam("key", type_=String), C.c.id, C.c.last_channel, U.c.path,
            bindparam("purpose", type_=String), bindparam("body", type_=String),
            bindparam("choices", type_=O.c.choices.type), bindparam("encoding", type_=String),
            bindparam("segments", type_=Integer), literal(OutboxStatus.pending.value),
            literal(0), bindparam("due_at", type_=O.c.due_at.type),
            bindparam("expires_at", type_=O.c.expires_at.type),
            bindparam("topic", type_=String), bindparam("now", type_=O.c.created_at.type),
            bindparam("now", type_=O.c.created_at.type),
        )
        .select_from(C.join(U, and_(U.c.contact_id == C.c.id, U.c.scheme == _urn_scheme())))
        .where(C.c.id == bindparam("cid"), C.c.last_channel.is_not(None))
        .order_by(U.c.id.desc())
        .limit(1)
    )
    return {
        "direct": O.insert().values({c: bindparam(c) for c in direct}),
        "enqueue": _insert(dialect)
        .from_select(list(_COLUMNS), one)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(O.c.id),
        "withdraw": update(O)
        .where(O.c.topic == bindparam("topic"), O.c.status == OutboxStatus.pending.value)
        .values(status=OutboxStatus.cancelled.value, error=bindparam("reason"),
                updated_at=bindparam("now")),
        "bounds": select(func.min(C.c.id).label("lo"), func.max(C.c.id).label("hi")),
    }


STATEMENTS = Statements(_statements)


@dataclass(frozen=True)
class Audience:
    """Whom a fan-out reaches: reachable contacts, narrowed by any of these."""

    city: str | None = None
    district: str | None = None
    community: str | None = None
    language: str | None = None

    def where(self) -> Any:
        clauses = [_reachable()]
        for name in ("city", "district", "community", "language"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(C.c[name] == value)
        return and_(*clauses)


class Enqueuer:
    """Schedules outbox rows; one per database dialect. ``clock`` stamps the rows it
    writes (created/updated); due and expiry times are the caller's."""

    def __init__(self, dialect: Any, *, clock: Clock | None = None) -> None:
        self.dialect = dialect
        self.sql = STATEMENTS.for_dialect(dialect)
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    async def enqueue(
        self,
        raw: Raw,
        *,
        key: str,
        contact_id: int,
        purpose: Purpose,
        body: str,
        due_at: datetime,
        expires_at: datetime | None = None,
        topic: str | None = None,
        choices: list[dict[str, Any]] | None = None,
    ) -> int | None:
        """One message to one contact, on the channel they last wrote on.

        Returns the new row's id; None when ``key`` was already scheduled or the contact
        has no channel to reach them on."""
        info = segments(body)
        now = self.clock.now()
        row = await raw.row(self.sql["enqueue"], {
            "key": key, "cid": contact_id, "purpose": purpose.value, "body": body,
            "choices": choices, "encoding": info.encoding, "segments": info.segments,
            "due_at": due_at, "expires_at": expires_at, "topic": topic, "now": now,
        })
        return int(row["id"]) if row is not None else None

    async def direct(self, raw: Raw, message: Direct) -> int:
        """Queue replies to the address a message came from; how many rows."""
        now = self.clock.now()
        rows = [{
            "idempotency_key": f"{message.key}:{i}", "contact_id": message.contact_id,
            "channel": message.channel, "address": message.address,
            "purpose": message.purpose.value, "body": part.body, "choices": part.choices,
            "encoding": part.encoding, "segments": part.segments,
            "status": OutboxStatus.pending.value, "attempts": 0, "due_at": message.due_at,
            "expires_at": message.expires_at, "created_at": now, "updated_at": now,
        } for i, part in enumerate(message.parts)]
        if rows:
            await raw.many(self.sql["direct"], rows)
        return len(rows)

    async def withdraw(self, raw: Raw, topic: str, reason: str) -> int:
        """Cancel what is still waiting to go out about ``topic``; how many rows."""
        return await raw.count(self.sql["withdraw"], {"topic": topic, "reason": reason,
                                                      "now": self.clock.now()})

    def fan_out_statement(
        self,
        *,
        key_prefix: str,
        purpose: Purpose,
        bodies: Mapping[str, str],
        default_locale: str,
        due_at: datetime,
        expires_at: datetime | None,
        topic: str | None,
        audience: Audience,
    ) -> tuple[ClauseElement, dict[str, Any]]:
        """The INSERT … SELECT for one chunk of contact ids (``lo`` ≤ id < ``hi``)."""
        if default_locale not in bodies:
            raise ValueError(f"no body for the default locale {default_locale}")
        now = self.clock.now()
        values: dict[str, Any] = {"now": now, "due_at": due_at, "expires_at": expires_at}
        body_cases, enc_cases, seg_cases = [], [], []
        for i, (locale, text) in enumerate(sorted(bodies.items())):
            info = segments(text)
            values |= {f"body{i}": text, f"enc{i}": info.encoding, f"seg{i}": info.segments}
            if locale == default_locale:
                values |= {"body_d": text, "enc_d": info.encoding, "seg_d": info.segments}
            is_locale = C.c.language == locale
            body_cases.append((is_locale, bindparam(f"body{i}", type_=String)))
            enc_cases.append((is_locale, bindparam(f"enc{i}", type_=String)))
            seg_cases.append((is_locale, bindparam(f"seg{i}", type_=Integer)))
        key = literal(f"{key_prefix}:") + cast(C.c.id, String)
        pick = (
            select(
                key, C.c.id, C.c.last_channel, U.c.path,
                literal(purpose.value), case(*body_cases, else_=bindparam("body_d", type_=String)),
                literal(None, type_=O.c.choices.type),
                case(*enc_cases, else_=bindparam("enc_d", type_=String)),
                case(*seg_cases, else_=bindparam("seg_d", type_=Integer)),
                literal(OutboxStatus.pending.value), literal(0),
                bindparam("due_at", type_=O.c.due_at.type),
                bindparam("expires_at", type_=O.c.expires_at.type),
                literal(topic, type_=String), bindparam("now", type_=O.c.created_at.type),
                bindparam("now", type_=O.c.created_at.type),
            )
            # A join, not a lookup per row (twice as fast on SQLite). A contact with no
            # address on their channel is skipped; one with two (numbers merged into one
            # person) gets one message: the key admits a single row.
            .select_from(C.join(U, and_(U.c.contact_id == C.c.id, U.c.scheme == _urn_scheme())))
            .where(audience.where(), C.c.id >= bindparam("lo"), C.c.id < bindparam("hi"))
        )
        stmt = (
            _insert(self.dialect.name)
            .from_select(list(_COLUMNS), pick)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        return stmt, values

    async def fan_out(
        self,
        db: Database,
        *,
        key_prefix: str,
        purpose: Purpose,
        bodies: Mapping[str, str],
        default_locale: str,
        due_at: datetime,
        expires_at: datetime | None = None,
        topic: str | None = None,
        audience: Audience = Audience(),
        chunk: int = FAN_OUT_CHUNK,
        progress: Callable[[int, int], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Schedule one message to everyone in ``audience``, in each person's language
        (``bodies`` by locale; others get ``default_locale``'s). Keys are
        ``{key_prefix}:{contact id}``: running it again adds only the missing rows.

        Works in chunks of contact ids, one transaction each, so a long fan-out never
        holds the database for long; ``progress(done, total)`` is called per chunk. When
        ``stop()`` answers true between chunks, it ends there: the chunks done are
        committed, and running it again carries on. Returns how many rows were added."""
        from outreach.db.raw import Prepared

        stmt, values = self.fan_out_statement(
            key_prefix=key_prefix, purpose=purpose, bodies=bodies,
            default_locale=default_locale, due_at=due_at, expires_at=expires_at, topic=topic,
            audience=audience,
        )
        prepared = Prepared(stmt, self.dialect)
        async with db.begin() as raw:
            bounds = await raw.row(self.sql["bounds"], {})
        if bounds is None or bounds["lo"] is None:
            return 0
        first, top = int(bounds["lo"]), int(bounds["hi"]) + 1
        lo = first
        added = 0
        while lo < top and not (stop is not None and stop()):
            hi = min(lo + chunk, top)
            async with db.begin() as raw:
                added += await raw.count(prepared, {**values, "lo": lo, "hi": hi})
            if progress is not None:
                progress(hi - first, top - first)
            lo = hi
        return added
