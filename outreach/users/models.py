"""Staff users: their bearer tokens for the API (stored hashed), and for the console a
sign-in name, a password hash, server-side sessions and the record of failed sign-ins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class Role(StrEnum):
    admin = "admin"  # everything
    coordinator = "coordinator"  # programme indicators
    health_worker = "health_worker"  # service points, appointments, open questions


class UserBase(SQLModel):
    name: str = Field(max_length=128)
    role: Role = Field(sa_type=String(16))


class User(UserBase, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # The console's sign-in name: the name, trimmed and case-folded (``login_name``); set
    # for users who have a password, unique among them. API-only users have none.
    login: str | None = Field(default=None, max_length=128, unique=True)
    # An argon2 hash (pwdlib); None: this user cannot sign in to the console.
    password_hash: str | None = Field(default=None, max_length=255)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept here,
    so a copy of the table opens no session."""

    __tablename__ = "console_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="staff_user.id", index=True, ondelete="CASCADE")
    # The synchronizer token every form of this session carries.
    csrf_token: str = Field(max_length=64)
    # The language the staff member chose (None: from Accept-Language).
    locale: str | None = Field(default=None, max_length=16)
    created_at: datetime
    last_seen_at: datetime
    # last_seen_at plus the idle limit: moved on by every request.
    expires_at: datetime = Field(index=True)


class SignInFailure(SQLModel, table=True):
    """A failed sign-in for a name (whether or not a user has it): the lock-out counts them."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_login_at", "login", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=128)
    at: datetime
