from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from outreach.api.deps import SessionDep
from outreach.questions import repository
from outreach.questions.models import QuestionStatus
from outreach.questions.schemas import UnansweredQuestionPublic
from outreach.users.auth import require
from outreach.users.models import Role

router = APIRouter(prefix="/api/v1/questions", tags=["questions"])


@router.get(
    "",
    response_model=list[UnansweredQuestionPublic],
    dependencies=[Depends(require(Role.health_worker, Role.coordinator))],
)
async def list_questions(
    session: SessionDep,
    status: QuestionStatus = QuestionStatus.open,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UnansweredQuestionPublic]:
    """Questions the bot could not answer, newest first."""
    return await repository.list_questions(session, status, limit, offset)
