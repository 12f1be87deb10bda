"""The policy-knowledge rate: share of unique respondents whose latest completed quiz
attempt meets the pass mark, overall and by group, with n, a Wilson interval and
small-cell suppression."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import case, func, literal, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.contacts.models import Contact
from outreach.quizzes.models import AttemptStatus, QuizAttempt
from outreach.settings import Settings
from outreach.stats.wilson import wilson


class GroupBy(StrEnum):
    city = "city"  # residence city
    district = "district"  # residence district (key: city/district)
    language = "language"  # the language the person chats in


class Cell(BaseModel):
    n: int
    knowers: int | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


class Group(Cell):
    key: str


class KnowledgeReport(BaseModel):
    target: float
    pass_mark: float
    group_by: GroupBy | None
    overall: Cell
    groups: list[Group]


def cell(n: int, knowers: int, suppress_below: int) -> dict[str, object]:
    if n < suppress_below:
        return {"n": n, "knowers": None, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
    low, high = wilson(knowers, n)
    return {
        "n": n,
        "knowers": knowers,
        "rate": round(knowers / n, 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "suppressed": False,
    }


async def knowledge_rate(
    session: AsyncSession,
    *,
    group_by: GroupBy | None,
    pass_mark: float,
    target: float,
    suppress_below: int,
) -> KnowledgeReport:
    a = QuizAttempt.__table__.c  # type: ignore[attr-defined]
    ranked = (
        select(
            a.contact_id,
            a.n_correct,
            a.n_questions,
            func.row_number()
            .over(partition_by=a.contact_id, order_by=(a.completed_at.desc(), a.id.desc()))
            .label("rn"),
        )
        .where(a.status == AttemptStatus.completed)
        .subquery()
    )
    # Integers compared with a tolerance so that 4/5 meets a pass mark of 0.8.
    knower = case((ranked.c.n_correct >= ranked.c.n_questions * pass_mark - 1e-9, 1), else_=0)
    if group_by is GroupBy.district:
        key = func.coalesce(Contact.city, "unknown") + literal("/") + func.coalesce(Contact.district, "unknown")
    elif group_by is not None:
        key = func.coalesce(getattr(Contact, group_by.value), "unknown")
    else:
        key = literal("all")
    rows = (
        await session.exec(  # type: ignore[call-overload]
            select(key.label("key"), func.count(), func.sum(knower))
            .select_from(ranked.join(Contact, col(Contact.id) == ranked.c.contact_id))
            .where(ranked.c.rn == 1)
            .group_by(key)
            .order_by(key)
        )
    ).all()
    total_n = sum(r[1] for r in rows)
    total_k = sum(int(r[2] or 0) for r in rows)
    return KnowledgeReport(
        target=target,
        pass_mark=pass_mark,
        group_by=group_by,
        overall=Cell(**cell(total_n, total_k, suppress_below)),  # type: ignore[arg-type]
        groups=[
            Group(key=str(r[0]), **cell(r[1], int(r[2] or 0), suppress_below))  # type: ignore[arg-type]
            for r in rows
        ]
        if group_by is not None
        else [],
    )


async def knowledge_report(
    session: AsyncSession, settings: Settings, group_by: GroupBy | None
) -> KnowledgeReport:
    """The knowledge rate with the service's configured pass mark, target and suppression."""
    return await knowledge_rate(
        session,
        group_by=group_by,
        pass_mark=settings.pass_mark,
        target=settings.knowledge_target,
        suppress_below=settings.suppress_below,
    )
