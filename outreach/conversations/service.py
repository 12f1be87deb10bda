"""Inbound messages from any channel: load the contact, run the bot, persist the turn.

One transaction per message. Messages of one address are handled one at a time: SQLite
has a single connection (see ``outreach.db``); PostgreSQL takes a transaction-scoped
advisory lock on the address, which also covers a contact's very first message.
The statements run on the driver connection (see ``store``): this is the hot path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from bot import ContactView, DialogState, Engine, Turn
from bot.requests import NeedAnswer, Request
from bot.contract import (
    ConsentChanged,
    Event,
    LinkCodeIssued,
    LinkVerified,
    QuestionUnanswered,
    QuizAbandoned,
    QuizAnswered,
    QuizCompleted,
    QuizStarted,
)
from outreach.appointments.models import Appointment, ServiceRecord
from outreach.contacts.models import (
    Consent,
    ConsentEvent,
    Contact,
    ContactUrn,
    Direction,
    Message,
)
from outreach.conversations.answers import Answers, Asker, register_contacts
from outreach.db.database import Database
from outreach.db.raw import Raw, Statements, json_value
from content import segments
from outreach.outbound.enqueue import Direct, Enqueuer, Part
from outreach.outbound.models import Outbox, Purpose
from outreach.questions.models import QuestionStatus, UnansweredQuestion
from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from outreach.timeutil import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Address:
    """Where a message came from: a channel and the contact's address on it."""

    channel: str  # the adapter that carried it: sim, sms, telegram
    scheme: str  # the URN scheme: sim, tel, telegram
    path: str

    @property
    def key(self) -> str:
        """What serialises this address's messages (the lock key)."""
        return f"{self.scheme}:{self.path}"


@dataclass(frozen=True)
class TurnResult:
    contact_id: int
    turn: Turn


# More requests than this in one turn is a loop in a step, not a conversation.
MAX_REQUESTS = 8


class ConversationService:
    def __init__(
        self,
        engine: Engine,
        db: Database,
        *,
        enqueuer: Enqueuer,
        rng: random.Random | None = None,
        answers: Answers | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.answers = answers or Answers()
        register_contacts(self.answers, self.find)
        self.db = db
        self.sql = _STATEMENTS.for_dialect(db.dialect)
        self.enqueuer = enqueuer
        self.rng = rng or random.SystemRandom()
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    async def handle_in(
        self,
        raw: Raw,
        address: Address,
        body: str,
        *,
        hint: str | None = None,
        community: str | None = None,
        now: datetime | None = None,
    ) -> TurnResult:
        """Handle one message inside the caller's transaction (the inbound pipeline's,
        with its inbox row).

        ``hint``: a language the channel suggests; ``community``: a community or campaign
        code the person arrived with (dropped again if they decline consent); ``now``:
        the turn's time (default the service's clock)."""
        sql = self.sql
        if now is None:
            now = self.clock.now()
        row = await raw.row(sql["find"], {"scheme": address.scheme, "path": address.path})
        if row is None:
            created = await raw.row(
                sql["new_contact"],
                {"consent": Consent.pending.value, "opted_out": False, "dialog": {},
                 "created_at": now, "updated_at": now},
            )
            assert created is not None
            contact_id = int(created["id"])
            await raw.run(
                sql["new_urn"],
                {"contact_id": contact_id, "scheme": address.scheme, "path": address.path,
                 "created_at": now},
            )
            view, state = ContactView(), DialogState()
        else:
            contact_id = int(row["id"])
            view = ContactView(
                language=row["language"],
                consent=Consent(row["consent"]),
                city=row["city"],
                district=row["district"],
                opted_out=bool(row["opted_out"]),
                community=row["community"],
                prompt=row["prompt"],
            )
            state = DialogState.from_json(json_value(row["dialog"]))
        if community:
            view.community = community

        answers: dict[Request[Any], Any] = {}
        asker = Asker(contact_id, replace(view), now)
        # The replay rule (bot.requests): each run starts from a fresh copy of the contact
        # and state and the same random draws, so nothing of an unfinished run leaks and
        # the replay takes the same path up to the request it found answered.
        seed = self.rng.getrandbits(64)
        for _ in range(MAX_REQUESTS):
            v, st = replace(view), DialogState(state.step, dict(state.data))
            try:
                turn = self.engine.handle(
                    v, st, body, now=now, rng=random.Random(seed), hint=hint,
                    channel=address.channel, answers=answers,
                )
                break
            except NeedAnswer as need:
                answers[need.request] = await self.answers.answer(raw, asker, need.request)
        else:
            raise RuntimeError(f"a turn asked for more than {MAX_REQUESTS} answers")
        view, state = v, st

        for event in turn.events:
            await self._apply(raw, contact_id, address.channel, event, now)
        log: list[tuple[str, str]] = []
        if view.consent == Consent.granted:
            log = [(Direction.inbound.value, body)]
            log += [(Direction.outbound.value, reply.text) for reply in turn.replies]
        await raw.save_turn(
            sql,
            {
                "cid": contact_id,
                "language": view.language,
                "consent": view.consent.value,
                "city": view.city,
                "district": view.district,
                "opted_out": view.opted_out,
                "community": view.community,
                "prompt": view.prompt,
                "dialog": state.to_json(),
                "updated_at": now,
            },
            address.channel,
            log,
        )
        return TurnResult(contact_id, turn)

    async def _apply(self, raw: Raw, contact_id: int, channel: str, event: Event,
                     now: datetime) -> None:
        await _apply(raw, self.sql, self.enqueuer, contact_id, channel, event, now)

    async def find(self, raw: Raw, scheme: str, path: str) -> Any:
        """The contact at an address (its row, read by column name), or None."""
        return await raw.row(self.sql["find"], {"scheme": scheme, "path": path})


C = Contact.__table__  # type: ignore[attr-defined]
U = ContactUrn.__table__  # type: ignore[attr-defined]
M = Message.__table__  # type: ignore[attr-defined]
A = QuizAttempt.__table__  # type: ignore[attr-defined]


def _insert(table: Any, *columns: str, returning: str | None = None) -> ClauseElement:
    stmt = insert(table).values({c: bindparam(c) for c in columns})
    return stmt.returning(table.c[returning]) if returning else stmt


def _insert_new(table: Any, dialect: str, conflict: list[str], *columns: str) -> ClauseElement:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: no row back means it was there."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values({c: bindparam(c) for c in columns})
    return stmt.on_conflict_do_nothing(index_elements=conflict).returning(table.c.id)


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
        "abandon": update(A)
        .where(A.c.id == bindparam("aid"), A.c.status == bindparam("from_status"))
        .values(status=bindparam("status")),
    }


_STATEMENTS = Statements(_statements)

# Tables whose rows belong to a contact and follow it when two identities merge.
_OWNED = (ContactUrn, Message, ConsentEvent, QuizAttempt, UnansweredQuestion, Outbox,
          Appointment, ServiceRecord)


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


async def _apply(
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
            # The code goes by SMS to the number typed, wherever the person is chatting.
            info = segments(event.text)
            await enqueuer.direct(raw, Direct(
                key=f"link:{contact_id}:{event.phone}:{now.isoformat()}", contact_id=contact_id,
                channel="sms", address=event.phone, purpose=Purpose.reply,
                parts=[Part(event.text, None, info.encoding, info.segments)], due_at=now,
            ))
        case LinkVerified():
            await merge_phone_into(raw, sql, contact_id, event.phone, now)
        case QuizAbandoned():
            await raw.run(
                sql["abandon"],
                {"aid": event.attempt_id, "from_status": AttemptStatus.in_progress.value,
                 "status": AttemptStatus.abandoned.value},
            )
