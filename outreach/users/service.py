from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.errors import Conflict
from outreach.users.models import Role, User
from outreach.users.passwords import hash_password


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_name(name: str) -> str:
    """The sign-in name of a name: trimmed, inner spaces collapsed, case-folded, so
    "Li Na", "li na" and " LI  NA " are one person at the sign-in form."""
    return " ".join(name.split()).casefold()


async def create_user(
    session: AsyncSession, name: str, role: Role, password: str | None = None
) -> tuple[User, str]:
    """A new staff user and their bearer token (shown once; only its hash is kept). With a
    password the user can also sign in to the console, by their name: no other user with
    a password may have the same sign-in name (Conflict)."""
    login = None
    if password is not None:
        login = login_name(name)
        taken = (await session.exec(select(User.id).where(User.login == login))).first()
        if taken is not None:
            raise Conflict(f"another user already signs in as {login!r}; choose another name")
    token = "otr_" + secrets.token_urlsafe(32)
    user = User(
        name=name, role=role, token_hash=hash_token(token), login=login,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    await session.flush()
    return user, token
