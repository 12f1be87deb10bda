"""Request dependencies: the unit-of-work session, the current staff user, role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.db import transaction
from outreach.errors import Forbidden, Unauthorized
from outreach.services import Services
from outreach.users.models import Role, User
from outreach.users.service import hash_token


async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """Only this dependency commits; services flush."""
    async with transaction(services.sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="A staff token from `outreach users create`.")


async def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required: Authorization: Bearer <token>.")
    user = (
        await session.exec(select(User).where(User.token_hash == hash_token(credentials.credentials)))
    ).first()
    if user is None or not user.active:
        raise Unauthorized("The bearer token is not valid.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    """A dependency that admits the given roles (and admins)."""

    async def check(user: CurrentUser) -> User:
        if user.role != Role.admin and user.role not in roles:
            raise Forbidden(
                "This needs the role {}; you are {}.".format(
                    " or ".join(r.value for r in roles), user.role
                )
            )
        return user

    return check
