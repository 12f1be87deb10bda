"""Console sign-in: server-side sessions, the lock-out after repeated failures, and the
password change. Time comes from the caller (the app's Clock), never the wall clock.

The cookie carries a random token; the table keeps its SHA-256 (``ConsoleSession.id``).
A session ends ``idle`` after its last request, at sign-out, or when the user changes
the password (then every other session of theirs ends). Failures are counted per sign-in
name, whether or not anyone has it, so the answer never tells whether a user exists; the
password is verified (or a dummy hash is) on every attempt, so neither does the time."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.settings import Settings
from outreach.users.models import ConsoleSession, SignInFailure, User
from outreach.users.passwords import burn_verify, hash_password, verify_password
from outreach.users.service import login_name


@dataclass(frozen=True)
class Policy:
    idle: timedelta
    max_failures: int
    lockout: timedelta
    min_length: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            idle=timedelta(hours=settings.console_idle_hours),
            max_failures=settings.console_lockout_failures,
            lockout=timedelta(minutes=settings.console_lockout_minutes),
            min_length=settings.password_min_length,
        )


class SignInRefused(Exception):
    """Wrong name or password (which of the two is not said)."""


class LockedOut(SignInRefused):
    """Too many failures for this name lately."""


class PasswordRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "wrong_current" | "too_short" | "same"


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _verify(password: str, hashed: str | None) -> bool:
    """argon2 takes tens of milliseconds of CPU: off the event loop."""
    if hashed is None:
        await asyncio.to_thread(burn_verify, password)
        return False
    return await asyncio.to_thread(verify_password, password, hashed)


async def _locked(session: AsyncSession, login: str, now: datetime, policy: Policy) -> bool:
    """``max_failures`` failures for the name within ``lockout`` of each other, the last of
    them less than ``lockout`` ago: the name stays locked for ``lockout`` after the
    failure that locked it (attempts while locked are not counted)."""
    times = (
        await session.exec(
            select(SignInFailure.at).where(SignInFailure.login == login)
            .order_by(col(SignInFailure.at).desc()).limit(policy.max_failures)
        )
    ).all()
    if len(times) < policy.max_failures:
        return False
    newest, oldest = times[0], times[-1]
    return newest - oldest <= policy.lockout and now - newest < policy.lockout


async def sign_in(
    session: AsyncSession, name: str, password: str, now: datetime, policy: Policy
) -> tuple[User, ConsoleSession, str]:
    """The user, their new session and its cookie token; raises LockedOut or SignInRefused."""
    login = login_name(name)[:128]
    if await _locked(session, login, now, policy):
        await _verify(password, None)
        raise LockedOut(login)
    user = (
        await session.exec(select(User).where(User.login == login, col(User.active).is_(True)))
    ).first() if login else None
    if not await _verify(password, user.password_hash if user is not None else None) or user is None:
        # Failures older than twice the lock-out can no longer lock the name (``_locked``
        # needs the last of them within it of now, the first within it of the last).
        await session.exec(delete(SignInFailure).where(  # type: ignore[call-overload]
            col(SignInFailure.login) == login, col(SignInFailure.at) < now - 2 * policy.lockout))
        session.add(SignInFailure(login=login, at=now))
        await session.flush()
        if await _locked(session, login, now, policy):
            raise LockedOut(login)
        raise SignInRefused(login)
    assert user.id is not None
    await session.exec(delete(SignInFailure).where(col(SignInFailure.login) == login))  # type: ignore[call-overload]
    # Sessions that ran out are swept here rather than on the request that finds them
    # (that request ends in a redirect, and its unit of work is rolled back).
    await session.exec(delete(ConsoleSession).where(col(ConsoleSession.expires_at) <= now))  # type: ignore[call-overload]
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=session_id(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        created_at=now, last_seen_at=now, expires_at=now + policy.idle,
    )
    session.add(row)
    await session.flush()
    return user, row, token


async def resume(
    session: AsyncSession, token: str, now: datetime, policy: Policy
) -> tuple[User, ConsoleSession] | None:
    """The session a cookie names, moved on to ``now``; None when there is none, it has
    expired or its user was deactivated."""
    if not token or len(token) > 128:
        return None
    row = await session.get(ConsoleSession, session_id(token))
    if row is None:
        return None
    user = await session.get(User, row.user_id)
    if row.expires_at <= now or user is None or not user.active:
        return None
    row.last_seen_at = now
    row.expires_at = now + policy.idle
    session.add(row)
    await session.flush()
    return user, row


async def sign_out(session: AsyncSession, row: ConsoleSession) -> None:
    await session.delete(row)
    await session.flush()


async def change_password(
    session: AsyncSession, user: User, current: ConsoleSession, old: str, new: str, policy: Policy
) -> None:
    """Sets the new password and ends every other session of the user; raises
    PasswordRejected."""
    if not await _verify(old, user.password_hash):
        raise PasswordRejected("wrong_current")
    if len(new) < policy.min_length:
        raise PasswordRejected("too_short")
    if new == old:
        raise PasswordRejected("same")
    user.password_hash = await asyncio.to_thread(hash_password, new)
    session.add(user)
    await session.exec(  # type: ignore[call-overload]
        delete(ConsoleSession).where(
            col(ConsoleSession.user_id) == user.id, col(ConsoleSession.id) != current.id
        )
    )
    await session.flush()
