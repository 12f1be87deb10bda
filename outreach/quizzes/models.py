"""Quiz attempts and the answer log: the raw material of the knowledge rate."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class AttemptStatus(StrEnum):
    in_progress = "in_progress"  # questions still being answered
    completed = "completed"  # every question answered; scored
    abandoned = "abandoned"  # left before the end; kept, never scored


class QuizAttempt(SQLModel, table=True):
    __tablename__ = "quiz_attempt"
    __table_args__ = (Index("ix_quiz_attempt_contact_status", "contact_id", "status"),)

    id: str = Field(primary_key=True, max_length=32)
    contact_id: int = Field(foreign_key="contact.id", ondelete="CASCADE")
    quiz_id: str = Field(max_length=64)
    locale: str = Field(max_length=16)
    question_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: AttemptStatus = Field(default=AttemptStatus.in_progress, sa_type=String(16))
    n_questions: int
    n_correct: int = 0
    score: float | None = None
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


class QuizAnswer(SQLModel, table=True):
    __tablename__ = "quiz_answer"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id", name="uq_quiz_answer"),)

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: str = Field(max_length=32, foreign_key="quiz_attempt.id", index=True, ondelete="CASCADE")
    question_id: str = Field(max_length=64)
    option_id: str = Field(max_length=16)
    correct: bool
    answered_at: datetime = Field(default_factory=utcnow)
