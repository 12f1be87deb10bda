"""Contacts: one person, reached through one or more channel addresses (URNs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
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
