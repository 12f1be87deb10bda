"""Who is asking: the staff user behind a bearer token, and role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import select

from outreach.api.deps import SessionDep
from outreach.errors import Forbidden, Unauthorized
from outreach.users.models import Role, User
from outreach.users.service import hash_token

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
