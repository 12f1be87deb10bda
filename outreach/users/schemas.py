"""What the users API answers."""

from __future__ import annotations

from datetime import datetime

from outreach.users.models import UserBase


class UserPublic(UserBase):
    id: int
    active: bool
    created_at: datetime
