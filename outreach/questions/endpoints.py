from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from outreach.api.guard import JsonRoute

from outreach.api.deps import Provided, SessionDep
from outreach.api.params import Offset
from outreach.questions import repository
from outreach.questions.models import QuestionStatus
from outreach.questions.schemas import UnansweredQuestionPublic
from outreach.settings import Settings
from outreach.stats.service import GroupBy
from outreach.stats.suppression import Counts, suppress
from outreach.users.auth import require
from outreach.users.models import Role

router = APIRouter(prefix="/api/v1/questions", tags=["questions"], route_class=JsonRoute)


@router.get(
    "",
    response_model=list[UnansweredQuestionPublic],
    dependencies=[Depends(require(Role.health_worker))],
)
async def list_questions(
    session: SessionDep,
    status: QuestionStatus = QuestionStatus.open,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[UnansweredQuestionPublic]:
    """Questions the bot could not answer, newest first, with what the person typed: for
    health workers, who answer them (coordinators see ``/counts``)."""
    return await repository.list_questions(session, status, limit, offset)


@router.get(
    "/counts",
    response_model=Counts,
    dependencies=[Depends(require(Role.coordinator, Role.health_worker))],
)
async def count_questions(
    session: SessionDep,
    settings: Annotated[Settings, Provided(Settings)],
    status: QuestionStatus = QuestionStatus.open,
    group_by: Annotated[GroupBy, Query(description="Split by this attribute of the askers.")] = GroupBy.city,
) -> Counts:
    """How many people have a question in ``status``, by city, district or language: an
    aggregate with small cells withheld, never the questions themselves."""
    people = await repository.people_asking(session, status, group_by.value)
    return suppress(group_by.value, people, settings.suppress_below)
