"""The outbox's statements, run on the driver connection like the conversation turns.

Every outbound message costs a claim, a result and (in production) two or three status
callbacks; through SQLAlchemy's async layers those cost far more than the sends
themselves (the SMS benchmark on PostgreSQL: ~280 inbound msg/s, p99 ~0.4 s). So the
claim is one UPDATE … RETURNING, the results of a batch one executemany, and a status
callback one UPDATE.
"""

from __future__ import annotations

from sqlalchemy import (
    Integer,
    and_,
    String,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ClauseElement, ColumnElement

from outreach.contacts.models import ConsentEvent, Contact
from outreach.db.raw import Statements
from outreach.outbound.models import INITIATED, SECRET, Outbox, OutboxStatus, Rank

O = Outbox.__table__  # type: ignore[attr-defined]
C = Contact.__table__  # type: ignore[attr-defined]
E = ConsentEvent.__table__  # type: ignore[attr-defined]

# Rows a claim takes at most (bound as ``batch``: a paused channel's probe takes one).
CLAIM_BATCH = 100
# Not yet handed to a provider: their text is still needed.
WAITING = (OutboxStatus.pending, OutboxStatus.sending, OutboxStatus.unknown)



def _body_unless_secret(status: ColumnElement[str]) -> ColumnElement[str]:
    """The body, blanked when the row holds a secret (a one-time code) and ``status`` is
    one its text is no longer needed in (handed to the provider, or given up on)."""
    return case(
        (and_(O.c.purpose.in_([literal(p.value) for p in SECRET]),
              status.not_in([literal(s.value) for s in WAITING])), literal("")),
        else_=O.c.body,
    )


# A status's place in the forward-only order, computed in SQL.
_RANK = case(
    *((O.c.status == s.value, Rank[s.name].value) for s in OutboxStatus),
    else_=0,
)


def _statements(dialect: str) -> dict[str, ClauseElement]:
    # Two index-ordered picks (ix_outbox_due, ix_outbox_lease): a single OR of both made
    # every claim scan and sort everything due — 475 ms per batch with a million rows
    # due, against 4 ms this way. Their status tests are written into the SQL, not
    # bound, so the planners can match them to the partial indexes.
    due = (
        select(O.c.id)
        .where(O.c.status.in_([literal_column("'pending'"), literal_column("'unknown'")]),
               O.c.channel == bindparam("channel"), O.c.due_at <= bindparam("now"))
        .order_by(O.c.due_at, O.c.id)
        .limit(bindparam("batch"))
    )
    stale = (
        select(O.c.id)
        .where(O.c.status == literal_column("'sending'"), O.c.channel == bindparam("channel"),
               O.c.lease_until < bindparam("now"))
        .order_by(O.c.lease_until)
        .limit(bindparam("batch"))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
        stale = stale.with_for_update(skip_locked=True)
    due_cte, stale_cte = due.cte("due"), stale.cte("stale")
    pick = union_all(select(due_cte.c.id), select(stale_cte.c.id))
    return {
        "claim": update(O)
        .where(O.c.id.in_(pick))
        .values(status=OutboxStatus.sending.value, lease_until=bindparam("lease_until"),
                lease_owner=bindparam("owner"), attempts=O.c.attempts + 1,
                # SET sees the row as it was: a row still sending (its worker died) or
                # unknown (the answer was lost) may have gone out already.
                in_doubt=O.c.status.in_([literal_column("'sending'"), literal_column("'unknown'")]),
                updated_at=bindparam("now"))
        .returning(O.c.id, O.c.idempotency_key, O.c.contact_id, O.c.address, O.c.body,
                   O.c.purpose, O.c.attempts, O.c.choices, O.c.in_doubt, O.c.created_at,
                   select(C.c.opted_out).where(C.c.id == O.c.contact_id).scalar_subquery()
                   .label("opted_out"),
                   O.c.expires_at,
                   select(C.c.timezone).where(C.c.id == O.c.contact_id).scalar_subquery()
                   .label("timezone"),
                   O.c.topic),
        # Fenced: only the claim that holds the row (its owner and its attempt) records.
        "record": update(O)
        .where(O.c.id == bindparam("oid"), O.c.status == OutboxStatus.sending.value,
               O.c.lease_owner == bindparam("owner"), O.c.attempts == bindparam("claim"))
        .values(status=bindparam("status"), provider_sid=bindparam("sid"),
                sent_at=bindparam("sent_at", type_=O.c.sent_at.type),
                # NULL keeps the column as it is.
                due_at=func.coalesce(bindparam("due_at", type_=O.c.due_at.type), O.c.due_at),
                segments=func.coalesce(bindparam("segments", type_=O.c.segments.type), O.c.segments),
                attempts=func.coalesce(bindparam("attempts", type_=Integer), O.c.attempts),
                lease_until=None, lease_owner=None, error=bindparam("error"),
                error_code=bindparam("code"), updated_at=bindparam("now"),
                body=_body_unless_secret(bindparam("status", type_=String))),
        # A live dispatcher keeps the leases of every row it is still working on.
        "renew": update(O)
        .where(O.c.status == literal_column("'sending'"), O.c.lease_owner == bindparam("owner"))
        .values(lease_until=bindparam("lease_until")),
        # A claimed row given back unsent (its lease could not be kept): as it was.
        "release": update(O)
        .where(O.c.id == bindparam("oid"), O.c.status == OutboxStatus.sending.value,
               O.c.lease_owner == bindparam("owner"), O.c.attempts == bindparam("claim"))
        .values(status=case((O.c.in_doubt, literal(OutboxStatus.unknown.value)),
                            else_=literal(OutboxStatus.pending.value)),
                attempts=O.c.attempts - 1, lease_until=None, lease_owner=None,
                updated_at=bindparam("now")),
        # Is this provider id already another row's (a provider's answer to "was it sent?")
        "known_sid": select(O.c.id).where(O.c.provider_sid == bindparam("sid")),
        "status": update(O)
        .where(O.c.provider_sid == bindparam("sid"), _RANK < bindparam("rank"))
        .values(status=bindparam("status"), error_code=bindparam("code"),
                updated_at=bindparam("now"))
        .returning(O.c.contact_id),
        "opt_out": update(C)
        .where(C.c.id == bindparam("cid"), C.c.opted_out == bindparam("was"))
        .values(opted_out=bindparam("now_out"), updated_at=bindparam("now"))
        .returning(C.c.id),
        # What the service itself started to these people lately, sent or in flight:
        # the daily cap counts it.
        "usage": select(O.c.contact_id, O.c.id, O.c.sent_at, O.c.status)
        .where(_any_contact(dialect),
               O.c.purpose.in_([literal(p.value) for p in INITIATED]),
               or_(O.c.sent_at >= bindparam("since"),
                   O.c.status.in_([literal(OutboxStatus.sending.value), literal(OutboxStatus.unknown.value)]))),
        # Rows that can no longer go out in time, all at once (the outbox.expire job).
        "expire": update(O)
        .where(O.c.status.in_([literal(OutboxStatus.pending.value), literal(OutboxStatus.unknown.value)]),
               O.c.expires_at <= bindparam("now"))
        .values(status=OutboxStatus.expired.value, error="expired before it could be sent",
                updated_at=bindparam("now"),
                body=_body_unless_secret(literal(OutboxStatus.expired.value))),
        "purge": update(O)
        .where(O.c.status.not_in([literal(s.value) for s in WAITING]),
               O.c.updated_at < bindparam("before"), O.c.body != "")
        .values(body="", choices=None, updated_at=bindparam("now")),
        # A reminder or follow-up went out: a bare number in the next reply answers it.
        "prompt": update(C).where(C.c.id == bindparam("cid")).values(prompt=bindparam("prompt")),
        "consent_event": E.insert().values(
            contact_id=bindparam("cid"), kind=bindparam("kind"), channel=bindparam("channel"),
            created_at=bindparam("now"),
        ),
    }


def _any_contact(dialect: str) -> ColumnElement[bool]:
    """contact_id is one of the ``cids`` passed (a list; JSON text on SQLite)."""
    if dialect == "postgresql":
        return O.c.contact_id == func.any(bindparam("cids", type_=ARRAY(Integer)))
    ids = select(column("value", Integer)).select_from(
        func.json_each(bindparam("cids", type_=String)))
    return O.c.contact_id.in_(ids.scalar_subquery())


OUTBOX_STATEMENTS = Statements(_statements)
