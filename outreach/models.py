"""Every table model, imported in one place so metadata (Alembic, tests) sees them all."""

from sqlmodel import SQLModel

from outreach.appointments.models import Appointment, ServicePoint, ServiceRecord
from outreach.contacts.models import (
    ConsentEvent,
    Contact,
    ContactUrn,
    LinkRequest,
    Message,
    PlaceAsked,
)
from outreach.outbound.models import InboxEvent, Outbox
from outreach.questions.models import UnansweredQuestion
from outreach.quizzes.models import QuizAnswer, QuizAttempt
from outreach.users.models import ConsoleSession, SignInFailure, User

metadata = SQLModel.metadata

__all__ = [
    "Appointment",
    "ConsentEvent",
    "Contact",
    "InboxEvent",
    "LinkRequest",
    "Outbox",
    "ConsoleSession",
    "ContactUrn",
    "Message",
    "PlaceAsked",
    "QuizAnswer",
    "QuizAttempt",
    "ServicePoint",
    "ServiceRecord",
    "SignInFailure",
    "UnansweredQuestion",
    "User",
    "metadata",
]
