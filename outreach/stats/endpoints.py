from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from outreach.api.guard import JsonRoute

from outreach.api.deps import Provided, SessionDep
from outreach.users.auth import require
from outreach.settings import Settings
from outreach.stats.places import PlacesAsked, places_asked
from outreach.stats.service import GroupBy, KnowledgeReport, knowledge_report
from outreach.users.models import Role

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], route_class=JsonRoute)


@router.get(
    "/knowledge",
    response_model=KnowledgeReport,
    dependencies=[Depends(require(Role.coordinator))],
)
async def get_knowledge(
    session: SessionDep,
    settings: Annotated[Settings, Provided(Settings)],
    group_by: Annotated[GroupBy | None, Query(description="Split by this attribute.")] = None,
) -> KnowledgeReport:
    """Policy-knowledge rate (target ≥ 90%) over unique respondents, twice: `first` on each
    person's first completed attempt (what people knew), `latest` on their latest counted
    attempt (what they know after learning; a retake counts only `retake_days` or more
    after their previous counted attempt)."""
    return await knowledge_report(session, settings, group_by)


@router.get(
    "/places-asked",
    response_model=PlacesAsked,
    dependencies=[Depends(require(Role.coordinator))],
)
async def get_places_asked(
    session: SessionDep,
    settings: Annotated[Settings, Provided(Settings)],
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many places.")] = 100,
) -> PlacesAsked:
    """Places people live in that the regions list lacks (they chose "somewhere else" and
    typed the name), with the number of people; places fewer than ``suppress_below``
    people typed are left out."""
    return await places_asked(session, suppress_below=settings.suppress_below, limit=limit)
