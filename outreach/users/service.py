from __future__ import annotations

import hashlib
import secrets

from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.users.models import Role, User


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(session: AsyncSession, name: str, role: Role) -> tuple[User, str]:
    """A new staff user and their bearer token (shown once; only its hash is kept)."""
    token = "otr_" + secrets.token_urlsafe(32)
    user = User(name=name, role=role, token_hash=hash_token(token))
    session.add(user)
    await session.flush()
    return user, token
