"""Contacts: one person, reached through one or more channel addresses (URNs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from outreach.contacts.enums import Consent, ConsentKind, Direction
from outreach.timeutil import utcnow

__all__ = ["Consent", "ConsentKind", "Direction"]  # re-exported: the columns use them


class ContactBase(SQLModel):
    language: str | None = Field(default=None, max_length=16)
    city: str | None = Field(default=None, max_length=64, index=True)
    district: str | None = Field(default=None, max_length=64)
    community: str | None = Field(default=None, max_length=64)
    origin: str | None = Field(default=None, max_length=64)
    # IANA time zone for reminders and quiet hours; None means the service's.
    timezone: str | None = Field(default=None, max_length=64)
    # The channel the person last wrote on (sim, sms, telegram): where the service's own
    # messages (reminders, follow-ups) go.
    last_channel: str | None = Field(default=None, max_length=16)
    # What the service last asked the person on its own ("reminder:appointment:12"), until
    # they next write: a bare "1" then answers it. Set when such a message is sent.
    prompt: str | None = Field(default=None, max_length=64)


class Contact(ContactBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    consent: Consent = Field(default=Consent.pending, sa_type=String(16))
    opted_out: bool = False
    # The bot's conversation state (bot.state.DialogState as JSON).
    dialog: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ContactUrn(SQLModel, table=True):
    """A channel address of a contact: ``sim:<id>``, ``tel:+86...``, ``telegram:<chat>``."""

    __tablename__ = "contact_urn"
    __table_args__ = (UniqueConstraint("scheme", "path", name="uq_contact_urn_scheme_path"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    scheme: str = Field(max_length=16)
    path: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class ConsentEvent(SQLModel, table=True):
    """Append-only record of every consent change."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    kind: ConsentKind = Field(sa_type=String(16))
    channel: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    """Conversation history of contacts who consented (bodies never go to logs)."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    direction: Direction = Field(sa_type=String(3))
    channel: str = Field(max_length=16)
    text: str
    created_at: datetime = Field(default_factory=utcnow)


class LinkRequest(SQLModel, table=True):
    """One phone-link code asked for (sent or not: a number that opted out gets no SMS,
    but the request counts the same, so the limits cannot tell who opted out). The
    limits per chat and per number are counted from these rows in the turn's
    transaction. The number is kept as a digest: the counts need equality, not the
    number, and the table says nothing readable about who asked for which number."""

    __tablename__ = "link_request"
    __table_args__ = (
        Index("ix_link_request_contact", "contact_id", "created_at"),
        Index("ix_link_request_phone", "phone_digest", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The chat identity that asked (follows the contact when identities merge).
    contact_id: int = Field(foreign_key="contact.id", ondelete="CASCADE")
    phone_digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class PlaceAsked(SQLModel, table=True):
    """A place a person lives in that is not in the regions list, as they typed it:
    coordinators see which places are asked for (aggregates only, small counts hidden)."""

    __tablename__ = "place_asked"
    __table_args__ = (Index("ix_place_asked_key", "city", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    # The listed city whose district list lacked the place; None: the city itself is not listed.
    city: str | None = Field(default=None, max_length=64)
    # As typed (trimmed), and folded for counting ("Chengdu", "chengdu " → "chengdu").
    name: str = Field(max_length=64)
    key: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
