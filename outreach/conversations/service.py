"""Inbound messages from any channel: load the contact, run the bot, persist the turn.

One transaction per message. Messages of one address are handled one at a time: SQLite
has a single connection (see ``outreach.db``); PostgreSQL takes a transaction-scoped
advisory lock on the address, which also covers a contact's very first message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ContactView, DialogState, Engine, Reply
from bot.types import (
    ConsentChanged,
    Event,
    QuestionUnanswered,
    QuizAbandoned,
    QuizAnswered,
    QuizCompleted,
    QuizStarted,
)
from outreach.contacts.models import (
    Consent,
    ConsentEvent,
    Contact,
    ContactUrn,
    Direction,
    Message,
)
from outreach.db import transaction
from outreach.questions.models import QuestionStatus, UnansweredQuestion
from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from outreach.timeutil import utcnow


@dataclass(frozen=True)
class Address:
    """Where a message came from: a channel and the contact's address on it."""

    channel: str  # the adapter that carried it: sim, sms, telegram
    scheme: str  # the URN scheme: sim, tel, telegram
    path: str


class ConversationService:
    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.rng = rng or random.SystemRandom()

    async def handle(self, address: Address, body: str) -> list[Reply]:
        async with transaction(self.sessions) as session:
            return await self.handle_in(session, address, body)

    async def handle_in(self, session: AsyncSession, address: Address, body: str) -> list[Reply]:
        """The same, inside a transaction the caller owns (e.g. with an inbox row)."""
        # One greenlet hop for the whole turn: the SQL is a handful of small Core
        # statements, and the per-statement async machinery would cost more than they do.
        return await session.run_sync(self._turn, address, body)

    def _turn(self, session: Session, address: Address, body: str) -> list[Reply]:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.execute(_ADVISORY_LOCK, {"key": f"{address.scheme}:{address.path}"})
        row = conn.execute(
            _FIND_CONTACT, {"scheme": address.scheme, "path": address.path}
        ).first()
        now = utcnow()
        if row is None:
            contact_id = conn.execute(
                insert(C).values(consent=Consent.pending, opted_out=False, dialog={},
                                 created_at=now, updated_at=now).returning(C.c.id)
            ).scalar_one()
            conn.execute(
                insert(U).values(contact_id=contact_id, scheme=address.scheme,
                                 path=address.path, created_at=now)
            )
            view, state = ContactView(), DialogState()
        else:
            contact_id = row.id
            view = ContactView(
                language=row.language,
                consent=Consent(row.consent),
                city=row.city,
                district=row.district,
                opted_out=row.opted_out,
            )
            state = DialogState.from_json(row.dialog)

        turn = self.engine.handle(view, state, body, self.rng)

        conn.execute(
            _UPDATE_CONTACT,
            {
                "cid": contact_id,
                "language": view.language,
                "consent": view.consent,
                "city": view.city,
                "district": view.district,
                "opted_out": view.opted_out,
                "dialog": state.to_json(),
                "updated_at": now,
            },
        )
        for event in turn.events:
            _apply(conn, contact_id, address.channel, event, now)
        if view.consent == Consent.granted:
            conn.execute(
                _INSERT_MESSAGE,
                [
                    {"contact_id": contact_id, "direction": Direction.inbound,
                     "channel": address.channel, "text": body, "created_at": now},
                    *(
                        {"contact_id": contact_id, "direction": Direction.outbound,
                         "channel": address.channel, "text": reply.text, "created_at": now}
                        for reply in turn.replies
                    ),
                ],
            )
        return turn.replies


C = Contact.__table__  # type: ignore[attr-defined]
U = ContactUrn.__table__  # type: ignore[attr-defined]
M = Message.__table__  # type: ignore[attr-defined]
A = QuizAttempt.__table__  # type: ignore[attr-defined]

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
# Built once: constructing and cache-keying statements per message costs more than running them.
_UPDATE_CONTACT = (
    update(C)
    .where(C.c.id == bindparam("cid"))
    .values({name: bindparam(name) for name in (
        "language", "consent", "city", "district", "opted_out", "dialog", "updated_at"
    )})
)
_INSERT_MESSAGE = insert(M)
_FIND_CONTACT = (
    select(C.c.id, C.c.language, C.c.consent, C.c.city, C.c.district, C.c.opted_out, C.c.dialog)
    .join(U, U.c.contact_id == C.c.id)
    .where(U.c.scheme == bindparam("scheme"), U.c.path == bindparam("path"))
)


def _apply(conn: Connection, contact_id: int, channel: str, event: Event, now: datetime) -> None:
    match event:
        case ConsentChanged(kind=kind):
            conn.execute(
                insert(ConsentEvent.__table__),  # type: ignore[attr-defined]
                {"contact_id": contact_id, "kind": kind, "channel": channel, "created_at": now},
            )
        case QuestionUnanswered():
            conn.execute(
                insert(UnansweredQuestion.__table__),  # type: ignore[attr-defined]
                {
                    "contact_id": contact_id,
                    "text": event.text,
                    "locale": event.locale,
                    "best_faq_id": event.best_faq_id,
                    "best_score": event.best_score,
                    "status": QuestionStatus.open,
                    "created_at": now,
                },
            )
        case QuizStarted():
            conn.execute(
                insert(A),
                {
                    "id": event.attempt_id,
                    "contact_id": contact_id,
                    "quiz_id": event.quiz_id,
                    "locale": event.locale,
                    "question_ids": list(event.question_ids),
                    "status": AttemptStatus.in_progress,
                    "n_questions": len(event.question_ids),
                    "n_correct": 0,
                    "started_at": now,
                },
            )
        case QuizAnswered():
            conn.execute(
                insert(QuizAnswer.__table__),  # type: ignore[attr-defined]
                {
                    "attempt_id": event.attempt_id,
                    "question_id": event.question_id,
                    "option_id": event.option_id,
                    "correct": event.correct,
                    "answered_at": now,
                },
            )
        case QuizCompleted():
            conn.execute(
                update(A)
                .where(A.c.id == event.attempt_id)
                .values(
                    status=AttemptStatus.completed,
                    n_correct=event.n_correct,
                    score=event.n_correct / event.n_questions,
                    completed_at=now,
                )
            )
        case QuizAbandoned():
            conn.execute(
                update(A)
                .where(A.c.id == event.attempt_id, A.c.status == AttemptStatus.in_progress)
                .values(status=AttemptStatus.abandoned)
            )
