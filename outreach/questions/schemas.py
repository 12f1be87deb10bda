"""What the questions API answers."""

from __future__ import annotations

from datetime import datetime

from outreach.questions.models import QuestionStatus, UnansweredQuestionBase


class UnansweredQuestionPublic(UnansweredQuestionBase):
    id: int
    contact_id: int
    status: QuestionStatus
    created_at: datetime
    city: str | None = None
    district: str | None = None
