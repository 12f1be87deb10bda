"""The statements of a turn: find or create the contact, write its events, save it.

Compiled once per dialect (``outreach.db.raw.Statements``) and run on the unit of work's
driver connection; rows are read by column name. Used by ``ConversationService`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.sql import ClauseElement

from bot.contract import (
    ConsentChanged,
    Event,
    LinkCodeIssued,
    LinkVerified,
    PlaceAsked,
    QuestionUnanswered,
    QuizAbandoned,
    QuizAnswered,
    QuizCompleted,
    QuizStarted,
)
from bot.flows.link import CODE_TTL
from content import segments
from outreach.appointments.models import Appointment, ServiceRecord
from outreach.contacts.models import ConsentEvent, Contact, ContactUrn, LinkRequest, Message
from outreach.contacts.models import PlaceAsked as PlaceAskedRow
from outreach.db.raw import Raw, Statements
from outreach.timeutil import from_driver
from outreach.outbound.enqueue import Direct, Enqueuer, Part
from outreach.outbound.models import Outbox, Purpose
from outreach.questions.models import QuestionStatus, UnansweredQuestion
from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt

__all__ = ["TURN_STATEMENTS", "LinkLimits", "apply_event", "claim_link_code", "merge_phone_into"]


C = Contact.__table__  # type: ignore[attr-defined]
U = ContactUrn.__table__  # type: ignore[attr-defined]
M = Message.__table__  # type: ignore[attr-defined]
A = QuizAttempt.__table__  # type: ignore[attr-defined]
L = LinkRequest.__table__  # type: ignore[attr-defined]


def _nth_newest(where: Any) -> ClauseElement:
    """The ``nth`` newest request's time (0-based) since ``since``: with ``nth`` = limit - 1
    a row means the limit is reached, until that request is a window old."""
    return (select(L.c.created_at)
            .where(where, L.c.created_at > bindparam("since"))
            .order_by(L.c.created_at.desc(), L.c.id.desc())
            .limit(1).offset(bindparam("nth", type_=Integer)))


def _insert(table: Any, *columns: str, returning: str | None = None) -> ClauseElement:
    stmt = insert(table).values({c: bindparam(c) for c in columns})
    return stmt.returning(table.c[returning]) if returning else stmt


def _statements(dialect: str) -> dict[str, ClauseElement]:
    moves: dict[str, ClauseElement] = {
        f"move_{m.__tablename__}": update(m.__table__)  # type: ignore[union-attr]
        .where(m.__table__.c.contact_id == bindparam("from_"))  # type: ignore[union-attr]
        .values(contact_id=bindparam("into"))
        for m in _OWNED
    }
    return {
        **moves,
        "delete_contact": C.delete().where(C.c.id == bindparam("cid")),
        "find": select(C.c.id, C.c.language, C.c.consent, C.c.city, C.c.district,
                       C.c.opted_out, C.c.dialog, C.c.community, C.c.prompt)
        .join(U, U.c.contact_id == C.c.id)
        .where(U.c.scheme == bindparam("scheme"), U.c.path == bindparam("path")),
        "new_contact": _insert(C, "consent", "opted_out", "dialog", "created_at", "updated_at",
                               returning="id"),
        "new_urn": _insert(U, "contact_id", "scheme", "path", "created_at"),
        "update_contact": update(C)
        .where(C.c.id == bindparam("cid"))
        .values({c: bindparam(c) for c in (
            "language", "consent", "city", "district", "opted_out", "community", "dialog",
            "updated_at", "last_channel", "prompt",
        )}),
        "message": _insert(M, "contact_id", "direction", "channel", "text", "created_at"),
        "consent_event": _insert(ConsentEvent.__table__, "contact_id", "kind", "channel",  # type: ignore[attr-defined]
                                 "created_at"),
        "question": _insert(UnansweredQuestion.__table__, "contact_id", "text", "locale",  # type: ignore[attr-defined]
                            "best_faq_id", "best_score", "status", "created_at"),
        "attempt": _insert(A, "id", "contact_id", "quiz_id", "locale", "question_ids", "status",
                           "n_questions", "n_correct", "started_at"),
        "answer": _insert(QuizAnswer.__table__, "attempt_id", "question_id", "option_id",  # type: ignore[attr-defined]
                          "correct", "answered_at"),
        "complete": update(A)
        .where(A.c.id == bindparam("aid"))
        .values(status=bindparam("status"), n_correct=bindparam("n_correct"),
                score=bindparam("score"), completed_at=bindparam("completed_at")),
        "link_by_chat": _nth_newest(L.c.contact_id == bindparam("cid")),
        "link_by_phone": _nth_newest(L.c.phone_digest == bindparam("digest")),
        "link_request": _insert(L, "contact_id", "phone_digest", "created_at"),
        "place": _insert(PlaceAskedRow.__table__, "contact_id", "city", "name", "key",  # type: ignore[attr-defined]
                         "created_at"),
        "abandon": update(A)
        .where(A.c.id == bindparam("aid"), A.c.status == bindparam("from_status"))
        .values(status=bindparam("status")),
    }


TURN_STATEMENTS = Statements(_statements)

# Tables whose rows belong to a contact and follow it when two identities merge.
_OWNED = (ContactUrn, Message, ConsentEvent, QuizAttempt, UnansweredQuestion, Outbox,
          Appointment, ServiceRecord, LinkRequest, PlaceAskedRow)


@dataclass(frozen=True)
class LinkLimits:
    """Phone-link codes: at most ``per_chat`` per ``chat_window`` for one chat, and
    ``per_number`` per ``number_window`` for one number, whichever chats ask."""

    per_chat: int = 3
    chat_window: timedelta = timedelta(hours=1)
    per_number: int = 3
    number_window: timedelta = timedelta(days=1)


def phone_digest(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


async def claim_link_code(raw: Raw, sql: dict[str, Any], limits: LinkLimits, contact_id: int,
                          phone: str, now: datetime) -> datetime | None:
    """Count a code for this chat and number unless a limit is reached: None when it may
    go, else when the person may try again. Under the number's lock, so that chats asking
    for one number at once are counted one after the other."""
    await raw.lock(f"tel:{phone}")
    digest = phone_digest(phone)
    retry: list[datetime] = []
    for stmt, values, window, limit in (
        ("link_by_chat", {"cid": contact_id}, limits.chat_window, limits.per_chat),
        ("link_by_phone", {"digest": digest}, limits.number_window, limits.per_number),
    ):
        row = await raw.row(sql[stmt], {**values, "since": now - window, "nth": limit - 1})
        if row is not None:
            retry.append(from_driver(row["created_at"]) + window)
    if retry:
        return max(retry)
    await raw.run(sql["link_request"], {"contact_id": contact_id, "phone_digest": digest,
                                        "created_at": now})
    return None


async def merge_phone_into(raw: Raw, sql: dict[str, Any], contact_id: int, phone: str, now: Any) -> None:
    """Make ``phone`` an address of ``contact_id``. If another contact already had it, that
    contact's history (messages, consent log, quiz attempts, questions, outbox) moves over
    and it is deleted: one person, one contact, one respondent in the statistics."""
    await raw.lock(f"tel:{phone}")  # no SMS turn of that number runs meanwhile
    row = await raw.row(sql["find"], {"scheme": "tel", "path": phone})
    if row is None:
        await raw.run(sql["new_urn"], {"contact_id": contact_id, "scheme": "tel", "path": phone,
                                       "created_at": now})
        return
    other = int(row["id"])
    if other == contact_id:
        return
    for model in _OWNED:
        await raw.run(sql[f"move_{model.__tablename__}"], {"into": contact_id, "from_": other})
    await raw.run(sql["delete_contact"], {"cid": other})


async def apply_event(
    raw: Raw, sql: dict[str, Any], enqueuer: Enqueuer, contact_id: int, channel: str,
    event: Event, now: datetime,
) -> None:
    match event:
        case ConsentChanged(kind=kind):
            await raw.run(sql["consent_event"], {"contact_id": contact_id, "kind": kind.value,
                                                  "channel": channel, "created_at": now})
        case QuestionUnanswered():
            await raw.run(
                sql["question"],
                {"contact_id": contact_id, "text": event.text, "locale": event.locale,
                 "best_faq_id": event.best_faq_id, "best_score": event.best_score,
                 "status": QuestionStatus.open.value, "created_at": now},
            )
        case QuizStarted():
            await raw.run(
                sql["attempt"],
                {"id": event.attempt_id, "contact_id": contact_id, "quiz_id": event.quiz_id,
                 "locale": event.locale, "question_ids": list(event.question_ids),
                 "status": AttemptStatus.in_progress.value,
                 "n_questions": len(event.question_ids), "n_correct": 0, "started_at": now},
            )
        case QuizAnswered():
            await raw.run(
                sql["answer"],
                {"attempt_id": event.attempt_id, "question_id": event.question_id,
                 "option_id": event.option_id, "correct": event.correct, "answered_at": now},
            )
        case QuizCompleted():
            await raw.run(
                sql["complete"],
                {"aid": event.attempt_id, "status": AttemptStatus.completed.value,
                 "n_correct": event.n_correct, "score": event.n_correct / event.n_questions,
                 "completed_at": now},
            )
        case LinkCodeIssued():
            # The code goes by SMS to the number typed, wherever the person is chatting;
            # the outbox keeps its text only until it is sent, and not past the code's life.
            info = segments(event.text)
            await enqueuer.direct(raw, Direct(
                key=f"link:{contact_id}:{now.isoformat()}", contact_id=contact_id,
                channel="sms", address=event.phone, purpose=Purpose.one_time_code,
                parts=[Part(event.text, None, info.encoding, info.segments)], due_at=now,
                expires_at=now + CODE_TTL,
            ))
        case PlaceAsked():
            await raw.run(sql["place"], {"contact_id": contact_id, "city": event.city,
                                         "name": event.name, "key": place_key(event.name),
                                         "created_at": now})
        case LinkVerified():
            await merge_phone_into(raw, sql, contact_id, event.phone, now)
        case QuizAbandoned():
            await raw.run(
                sql["abandon"],
                {"aid": event.attempt_id, "from_status": AttemptStatus.in_progress.value,
                 "status": AttemptStatus.abandoned.value},
            )


def place_key(name: str) -> str:
    """What counts two typings of a place as one: case and spacing folded."""
    return " ".join(name.casefold().split())[:64]
