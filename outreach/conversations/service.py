"""Inbound messages from any channel: load the contact, run the bot, persist the turn.

One transaction per message. Messages of one address are handled one at a time: SQLite
has a single connection (see ``outreach.db``); PostgreSQL takes a transaction-scoped
advisory lock on the address, which also covers a contact's very first message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
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
from outreach.questions.models import UnansweredQuestion
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
        if session.bind.dialect.name == "postgresql":
            await session.exec(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                params={"key": f"{address.scheme}:{address.path}"},
            )
        contact = (
            await session.exec(
                select(Contact)
                .join(ContactUrn, ContactUrn.contact_id == Contact.id)  # type: ignore[arg-type]
                .where(ContactUrn.scheme == address.scheme, ContactUrn.path == address.path)
            )
        ).first()
        if contact is None:
            contact = Contact()
            session.add(contact)
            await session.flush()
            session.add(ContactUrn(contact_id=contact.id, scheme=address.scheme, path=address.path))

        view = ContactView(
            language=contact.language,
            consent=Consent(contact.consent),
            city=contact.city,
            district=contact.district,
            opted_out=contact.opted_out,
        )
        state = DialogState.from_json(contact.dialog)
        turn = self.engine.handle(view, state, body, self.rng)

        contact.language = view.language
        contact.consent = view.consent
        contact.city = view.city
        contact.district = view.district
        contact.opted_out = view.opted_out
        contact.dialog = state.to_json()
        contact.updated_at = utcnow()
        assert contact.id is not None
        for event in turn.events:
            await self._apply(session, contact.id, address.channel, event)
        if view.consent == Consent.granted:
            session.add(
                Message(
                    contact_id=contact.id,
                    direction=Direction.inbound,
                    channel=address.channel,
                    text=body,
                )
            )
            session.add_all(
                Message(
                    contact_id=contact.id,
                    direction=Direction.outbound,
                    channel=address.channel,
                    text=reply.text,
                )
                for reply in turn.replies
            )
        await session.flush()
        return turn.replies

    async def _apply(self, session: AsyncSession, contact_id: int, channel: str, event: Event) -> None:
        match event:
            case ConsentChanged(kind=kind):
                session.add(ConsentEvent(contact_id=contact_id, kind=kind, channel=channel))
            case QuestionUnanswered():
                session.add(
                    UnansweredQuestion(
                        contact_id=contact_id,
                        text=event.text,
                        locale=event.locale,
                        best_faq_id=event.best_faq_id,
                        best_score=event.best_score,
                    )
                )
            case QuizStarted():
                session.add(
                    QuizAttempt(
                        id=event.attempt_id,
                        contact_id=contact_id,
                        quiz_id=event.quiz_id,
                        locale=event.locale,
                        question_ids=list(event.question_ids),
                        n_questions=len(event.question_ids),
                    )
                )
                # The attempt row must exist before its answers reference it.
                await session.flush()
            case QuizAnswered():
                session.add(
                    QuizAnswer(
                        attempt_id=event.attempt_id,
                        question_id=event.question_id,
                        option_id=event.option_id,
                        correct=event.correct,
                    )
                )
            case QuizCompleted():
                await session.flush()
                await session.exec(
                    update(QuizAttempt)
                    .where(QuizAttempt.id == event.attempt_id)
                    .values(
                        status=AttemptStatus.completed,
                        n_correct=event.n_correct,
                        score=event.n_correct / event.n_questions,
                        completed_at=utcnow(),
                    )
                )
            case QuizAbandoned():
                await session.exec(
                    update(QuizAttempt)
                    .where(
                        QuizAttempt.id == event.attempt_id,
                        QuizAttempt.status == AttemptStatus.in_progress,
                    )
                    .values(status=AttemptStatus.abandoned)
                )
