"""Staff users of the API and their bearer tokens (stored hashed)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
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
