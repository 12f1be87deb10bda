from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from outreach.api.deps import SessionDep
from outreach.users.auth import require
from outreach.contacts.models import Contact
from outreach.questions.models import QuestionStatus, UnansweredQuestion, UnansweredQuestionPublic
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
    rows = (
        await session.exec(
            select(UnansweredQuestion, Contact.city, Contact.district)
            .join(Contact, col(Contact.id) == UnansweredQuestion.contact_id)
            .where(UnansweredQuestion.status == status)
            .order_by(col(UnansweredQuestion.id).desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [
        UnansweredQuestionPublic.model_validate(q, from_attributes=True).model_copy(
            update={"city": city, "district": district}
        )
        for q, city, district in rows
    ]
