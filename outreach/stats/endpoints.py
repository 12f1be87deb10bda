from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from outreach.api.guard import JsonRoute

from outreach.api.deps import Provided, SessionDep
from outreach.users.auth import require
from outreach.settings import Settings
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
    """Policy-knowledge rate (target ≥ 90%): unique respondents, latest completed attempt."""
    return await knowledge_report(session, settings, group_by)
