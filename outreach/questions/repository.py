"""The questions' statements: the list health workers pick questions up from."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.contacts.models import Contact
from outreach.questions.models import QuestionStatus, UnansweredQuestion
from outreach.questions.schemas import UnansweredQuestionPublic


async def list_questions(
    session: AsyncSession, status: QuestionStatus, limit: int, offset: int
) -> list[UnansweredQuestionPublic]:
    """Questions in one status, newest first, each with its asker's city and district."""
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


async def people_asking(session: AsyncSession, status: QuestionStatus, group_by: str) -> dict[str, int]:
    """Unique people with a question in ``status``, by the asker's city, district or
    language (an aggregate: no text, no id)."""
    if group_by == "district":
        key = func.coalesce(Contact.city, "unknown") + "/" + func.coalesce(Contact.district, "unknown")
    else:
        key = func.coalesce(getattr(Contact, group_by), "unknown")
    rows = (
        await session.exec(  # type: ignore[call-overload]
            select(key.label("key"), func.count(func.distinct(UnansweredQuestion.contact_id)))
            .join(Contact, col(Contact.id) == UnansweredQuestion.contact_id)
            .where(UnansweredQuestion.status == status)
            .group_by(key)
        )
    ).all()
    return {str(k): int(n) for k, n in rows}
