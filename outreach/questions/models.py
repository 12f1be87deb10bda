"""Questions the bot could not answer, for health workers to pick up."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class QuestionStatus(StrEnum):
    open = "open"  # waiting for a health worker
    answered = "answered"  # a health worker has dealt with it


class UnansweredQuestionBase(SQLModel):
    text: str
    locale: str = Field(max_length=16)
    best_faq_id: str | None = Field(default=None, max_length=64)
    best_score: float | None = None


class UnansweredQuestion(UnansweredQuestionBase, table=True):
    __tablename__ = "unanswered_question"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    status: QuestionStatus = Field(default=QuestionStatus.open, sa_type=String(16), index=True)
    created_at: datetime = Field(default_factory=utcnow)
