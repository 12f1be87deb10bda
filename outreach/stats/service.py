"""The policy-knowledge rate: the share of unique respondents who meet the pass mark,
overall and by group, with n, a Wilson interval and small-cell suppression. Reported twice
over the same people: on each person's **first** completed attempt (what people knew) and
on their **latest counted** attempt (what they know after learning; a retake counts at most
once per ``retake_days``, see ``outreach.stats.attempts``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, literal, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.contacts.models import Contact
from outreach.settings import Settings
from outreach.stats.attempts import counted_attempts
from outreach.stats.suppression import Hidden, hide
from outreach.stats.wilson import wilson


class GroupBy(StrEnum):
    city = "city"  # residence city
    district = "district"  # residence district (key: city/district)
    language = "language"  # the language the person chats in


class Cell(BaseModel):
    """A rate over ``n`` people. A cell of fewer than ``suppress_below`` people is
    suppressed, and so are enough others (complementary suppression: at least two groups,
    together at least ``suppress_below`` people and more people than groups, neither all
    nor none of them knowers on either side) that no suppressed value follows from the
    overall minus the shown groups;
    if that cannot be done the overall is suppressed too. A suppressed cell shows none of
    its numbers."""

    n: int | None = Field(description="Unique respondents; null when the cell is suppressed "
                                      "(0 is shown: an empty cell hides nobody).")
    knowers: int | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool = Field(description="True: n (unless 0), knowers, rate and interval are null.")


class Group(Cell):
    key: str


class Rate(BaseModel):
    """The rate on one attempt per person: over everyone, and per group."""

    overall: Cell
    groups: list[Group] = Field(description="One per group, by key; empty without group_by.")


class KnowledgeReport(BaseModel):
    target: float
    pass_mark: float
    retake_days: int = Field(
        description="After a person's first completed attempt, a retake counts only if it "
                    "completed at least this many days after their previous counted one.")
    group_by: GroupBy | None
    first: Rate = Field(
        description="Each person's first completed attempt: what people knew before learning.")
    latest: Rate = Field(
        description="Each person's latest counted attempt: what they know after learning. "
                    "The same people as `first` (the same n).")


def cell(n: int, knowers: int, hidden: bool) -> dict[str, object]:
    """One cell; ``hidden`` (from ``outreach.stats.suppression.hide``) withholds its n too.
    An empty cell shows its n of 0 and no rate."""
    if hidden or n == 0:
        return {"n": 0 if n == 0 else None, "knowers": None, "rate": None,
                "ci_low": None, "ci_high": None, "suppressed": True}
    low, high = wilson(knowers, n)
    return {
        "n": n,
        "knowers": knowers,
        "rate": round(knowers / n, 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "suppressed": False,
    }


def _key(group_by: GroupBy | None) -> ColumnElement[str]:
    if group_by is GroupBy.district:
        return func.coalesce(Contact.city, "unknown") + literal("/") + func.coalesce(Contact.district, "unknown")
    if group_by is not None:
        return func.coalesce(getattr(Contact, group_by.value), "unknown")
    return literal("all")


def _rate(rows: list[tuple[str, int, int]], hidden: Hidden, grouped: bool) -> Rate:
    """``rows``: (key, n, knowers) per group."""
    n = sum(r[1] for r in rows)
    knowers = sum(r[2] for r in rows)
    return Rate(
        overall=Cell(**cell(n, knowers, hidden.total)),  # type: ignore[arg-type]
        groups=[Group(key=k, **cell(gn, gk, i in hidden.groups))  # type: ignore[arg-type]
                for i, (k, gn, gk) in enumerate(rows)]
        if grouped
        else [],
    )


async def knowledge_rate(
    session: AsyncSession,
    *,
    group_by: GroupBy | None,
    pass_mark: float,
    target: float,
    suppress_below: int,
    retake_days: int,
) -> KnowledgeReport:
    people = counted_attempts(pass_mark=pass_mark, retake_days=retake_days).subquery()
    key = _key(group_by)
    rows = (
        await session.exec(  # type: ignore[call-overload]
            select(key.label("key"), func.count(), func.sum(people.c.first_knows), func.sum(people.c.latest_knows))
            .select_from(people.join(Contact, col(Contact.id) == people.c.contact_id))
            .group_by(key)
            .order_by(key)
        )
    ).all()
    grouped = group_by is not None
    first = [(str(r[0]), int(r[1]), int(r[2] or 0)) for r in rows]
    latest = [(str(r[0]), int(r[1]), int(r[3] or 0)) for r in rows]
    # One decision for both sides (the same people), so a group shown on one is shown on
    # the other, and neither side's knowers can be recovered from the totals.
    hidden = hide([r[1] for r in first], [[r[2] for r in first], [r[2] for r in latest]], suppress_below)
    return KnowledgeReport(
        target=target,
        pass_mark=pass_mark,
        retake_days=retake_days,
        group_by=group_by,
        first=_rate(first, hidden, grouped),
        latest=_rate(latest, hidden, grouped),
    )


async def knowledge_report(
    session: AsyncSession, settings: Settings, group_by: GroupBy | None
) -> KnowledgeReport:
    """The knowledge rate with the service's configured pass mark, target, retake rule and
    suppression."""
    return await knowledge_rate(
        session,
        group_by=group_by,
        pass_mark=settings.pass_mark,
        target=settings.knowledge_target,
        suppress_below=settings.suppress_below,
        retake_days=settings.retake_days,
    )
