from __future__ import annotations

from fastapi import APIRouter

from outreach.api.guard import JsonRoute

from outreach.users.auth import CurrentUser
from outreach.users.schemas import UserPublic

router = APIRouter(prefix="/api/v1/users", tags=["users"], route_class=JsonRoute)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    """Who the bearer token belongs to."""
    return UserPublic.model_validate(user, from_attributes=True)
