"""Provider events in (the inbox) and messages out (the outbox): the database is the truth."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, String, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class InboxEvent(SQLModel, table=True):
    """One provider event, kept to make redeliveries harmless (no body is stored)."""

    __tablename__ = "inbox_event"
    __table_args__ = (UniqueConstraint("provider", "provider_id", name="uq_inbox_provider_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    provider_id: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow)


class OutboxStatus(StrEnum):
    pending = "pending"  # waiting for its due time
    sending = "sending"  # claimed; the request is in flight (lease_until bounds it)
    unknown = "unknown"  # the request went out and no answer came: retried with the same key
    queued = "queued"  # accepted by the provider
    sent = "sent"  # the provider handed it to the carrier
    delivered = "delivered"  # the carrier confirmed delivery
    undelivered = "undelivered"  # the carrier could not deliver it
    failed = "failed"  # the provider reported the send failed: see error_code and error
    cancelled = "cancelled"  # withdrawn before it went out (e.g. its appointment was cancelled)
    expired = "expired"  # could not go out before its expiry; never sent late
    dead = "dead"  # dead letter: we gave up on it (reason in error): opted out, refused, retries spent


class Rank(IntEnum):
    """Statuses only move forward: a late or repeated callback never moves one back."""

    pending = 0
    sending = 1
    unknown = 1
    queued = 2
    sent = 3
    delivered = 4
    undelivered = 4
    failed = 4
    cancelled = 4
    expired = 4
    dead = 4


FINAL = frozenset(s for s in OutboxStatus if Rank[s.name] == 4)


class Purpose(StrEnum):
    reply = "reply"  # an answer to someone who just wrote
    opt_out_confirmation = "opt_out_confirmation"  # the one message an opt-out still allows
    reminder = "reminder"  # an appointment reminder
    follow_up = "follow_up"  # e.g. the offer to rebook after a missed appointment
    campaign = "campaign"  # a message a health worker scheduled for many people
    one_time_code = "one_time_code"  # a code the person asked for: its text is blanked once sent


# Their text is kept only until it is handed to the provider (or can no longer be).
SECRET = frozenset({Purpose.one_time_code})


# What the service starts on its own: bound by quiet hours and the daily cap. Replies
# to someone who has just written are not (DESIGN.md, "One send policy").
INITIATED = frozenset({Purpose.reminder, Purpose.follow_up, Purpose.campaign})


# The claim's two ways in, each an index in the order it reads (partial, so a backlog
# of sent rows costs them nothing): what is due, and what a dead worker left behind.
_WAITING = text("status IN ('pending', 'unknown')")
_SENDING = text("status = 'sending'")


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "channel", "due_at", "id",
              postgresql_where=_WAITING, sqlite_where=_WAITING),
        Index("ix_outbox_lease", "channel", "lease_until",
              postgresql_where=_SENDING, sqlite_where=_SENDING),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=96, unique=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    purpose: Purpose = Field(default=Purpose.reply, sa_type=String(24))
    body: str
    # Buttons for channels that show them (Telegram): [{"id": ..., "label": ...}].
    choices: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    encoding: str = Field(max_length=8)
    segments: int
    status: OutboxStatus = Field(default=OutboxStatus.pending, sa_type=String(16))
    attempts: int = 0
    due_at: datetime = Field(default_factory=utcnow)
    # Not sent at or after this instant (a reminder is pointless once its appointment began).
    expires_at: datetime | None = None
    # What the message is about ("appointment:42"): withdrawing a topic cancels its rows.
    topic: str | None = Field(default=None, max_length=64, index=True)
    lease_until: datetime | None = None
    # The dispatcher holding the lease: only it renews the lease and records the outcome
    # (together with ``attempts``, the claim's fencing token).
    lease_owner: str | None = Field(default=None, max_length=32)
    # The attempt being made follows one whose outcome is unknown (its worker died, or the
    # connection dropped after the request went out): ask the provider before sending.
    # (A server default only: the raw INSERT … SELECT statements leave it out.)
    in_doubt: bool = Field(default=False, sa_column=Column(Boolean, nullable=False,
                                                           server_default=sa_false()))
    provider_sid: str | None = Field(default=None, max_length=64, unique=True)
    error_code: int | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
