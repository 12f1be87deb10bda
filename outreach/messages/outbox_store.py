"""The outbox's statements, run on the driver connection like the conversation turns.

Every outbound message costs a claim, a result and (in production) two or three status
callbacks; through SQLAlchemy's async layers those cost far more than the sends
themselves (the SMS benchmark on PostgreSQL: ~280 inbound msg/s, p99 ~0.4 s). So the
claim is one UPDATE … RETURNING, the results of a batch one executemany, and a status
callback one UPDATE.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.sql import ClauseElement

from outreach.contacts.models import ConsentEvent, Contact
from outreach.conversations.store import Statements
from outreach.messages.models import Outbox, OutboxStatus, Rank

O = Outbox.__table__  # type: ignore[attr-defined]
C = Contact.__table__  # type: ignore[attr-defined]
E = ConsentEvent.__table__  # type: ignore[attr-defined]

CLAIM_BATCH = 100

# A status's place in the forward-only order, computed in SQL.
_RANK = case(
    *((O.c.status == s.value, Rank[s.name].value) for s in OutboxStatus),
    else_=0,
)


def _statements(dialect: str) -> dict[str, ClauseElement]:
    due = or_(
        and_(
            or_(O.c.status == OutboxStatus.pending.value, O.c.status == OutboxStatus.unknown.value),
            O.c.due_at <= bindparam("now"),
        ),
        and_(O.c.status == OutboxStatus.sending.value, O.c.lease_until < bindparam("now")),
    )
    pick = (
        select(O.c.id)
        .where(due, O.c.channel == bindparam("channel"))
        .order_by(O.c.due_at, O.c.id)
        .limit(CLAIM_BATCH)
    )
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return {
        "claim": update(O)
        .where(O.c.id.in_(pick.scalar_subquery()))
        .values(status=OutboxStatus.sending.value, lease_until=bindparam("lease_until"),
                attempts=O.c.attempts + 1, updated_at=bindparam("now"))
        .returning(O.c.id, O.c.idempotency_key, O.c.contact_id, O.c.address, O.c.body,
                   O.c.purpose, O.c.attempts, O.c.choices,
                   select(C.c.opted_out).where(C.c.id == O.c.contact_id).scalar_subquery()),
        "record": update(O)
        .where(O.c.id == bindparam("oid"), O.c.status == OutboxStatus.sending.value)
        .values(status=bindparam("status"), provider_sid=bindparam("sid"),
                sent_at=bindparam("sent_at", type_=O.c.sent_at.type),
                # NULL keeps the column as it is.
                due_at=func.coalesce(bindparam("due_at", type_=O.c.due_at.type), O.c.due_at),
                segments=func.coalesce(bindparam("segments", type_=O.c.segments.type), O.c.segments),
                lease_until=None, error=bindparam("error"), error_code=bindparam("code"),
                updated_at=bindparam("now")),
        "status": update(O)
        .where(O.c.provider_sid == bindparam("sid"), _RANK < bindparam("rank"))
        .values(status=bindparam("status"), error_code=bindparam("code"),
                updated_at=bindparam("now"))
        .returning(O.c.contact_id),
        "opt_out": update(C)
        .where(C.c.id == bindparam("cid"), C.c.opted_out == bindparam("was"))
        .values(opted_out=bindparam("now_out"), updated_at=bindparam("now"))
        .returning(C.c.id),
        "consent_event": E.insert().values(
            contact_id=bindparam("cid"), kind=bindparam("kind"), channel=bindparam("channel"),
            created_at=bindparam("now"),
        ),
    }


OUTBOX_STATEMENTS = Statements(_statements)
