"""Which quiz attempts count towards the knowledge rate, in SQL.

Per person, their completed attempts in ``completed_at`` order (ties by id): the first
counts; after it, an attempt counts only if it completed at least ``retake_days`` after
the previous *counted* one (a greedy chain). Taking the quiz again at once until passing
therefore does not move the number; learning and coming back a month later does.

A recursive CTE walks each person's attempts one step per row, carrying the last counted
attempt's time and result; SQLite and PostgreSQL both run it. Abandoned and unfinished
attempts never count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Select, case, func, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from outreach.quizzes.models import AttemptStatus, QuizAttempt

MS_PER_DAY = 86_400_000


class elapsed_ms(FunctionElement[int]):  # noqa: N801 - a SQL function, named like one
    """Whole milliseconds from ``earlier`` to ``later`` (two UTC datetime columns)."""

    type = BigInteger()
    inherit_cache = True
    name = "elapsed_ms"


@compiles(elapsed_ms)
def _elapsed_other(element: elapsed_ms, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"elapsed_ms has no form for {compiler.dialect.name}")


@compiles(elapsed_ms, "sqlite")
def _elapsed_sqlite(element: elapsed_ms, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    # julianday resolves milliseconds (digits after them are ignored); rounding guards
    # against a last-bit float error turning exactly 30 days into a hair less.
    return f"CAST(round((julianday({later}) - julianday({earlier})) * {MS_PER_DAY}) AS INTEGER)"


@compiles(elapsed_ms, "postgresql")
def _elapsed_postgresql(element: elapsed_ms, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    # timestamptz minus timestamptz is absolute time (days of 24 hours): no DST shift.
    return f"CAST(round(extract(epoch FROM ({later}) - ({earlier})) * 1000) AS BIGINT)"


def counted_attempts(*, pass_mark: float, retake_days: int) -> Select[Any]:
    """One row per person with a completed attempt: ``contact_id``; ``first_knows`` (1 if
    their first completed attempt met the pass mark, else 0) and ``latest_knows`` (the
    same for their last counted attempt)."""
    a = QuizAttempt.__table__.c  # type: ignore[attr-defined]
    # Integers compared with a tolerance so that 4/5 meets a pass mark of 0.8.
    knows = case((a.n_correct >= a.n_questions * pass_mark - 1e-9, 1), else_=0)
    done = (
        select(
            a.contact_id,
            a.completed_at,
            knows.label("knows"),
            func.row_number()
            .over(partition_by=a.contact_id, order_by=(a.completed_at, a.id))
            .label("rn"),
            func.count().over(partition_by=a.contact_id).label("attempts"),
        )
        .where(a.status == AttemptStatus.completed, a.completed_at.is_not(None))
        .cte("done")
    )
    start = select(
        done.c.contact_id,
        done.c.rn,
        done.c.attempts,
        done.c.knows.label("first_knows"),
        done.c.completed_at.label("counted_at"),
        done.c.knows.label("latest_knows"),
    ).where(done.c.rn == 1)
    chain = start.cte("chain", recursive=True)
    step = done.alias("step")
    counts = elapsed_ms(chain.c.counted_at, step.c.completed_at) >= retake_days * MS_PER_DAY
    chain = chain.union_all(
        select(
            step.c.contact_id,
            step.c.rn,
            step.c.attempts,
            chain.c.first_knows,
            case((counts, step.c.completed_at), else_=chain.c.counted_at),
            case((counts, step.c.knows), else_=chain.c.latest_knows),
        ).where(step.c.contact_id == chain.c.contact_id, step.c.rn == chain.c.rn + 1)
    )
    # The last row of each person's walk holds their last counted attempt.
    return select(chain.c.contact_id, chain.c.first_knows, chain.c.latest_knows).where(
        chain.c.rn == chain.c.attempts
    )
