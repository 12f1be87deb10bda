"""The engine's contract: what goes in (a contact snapshot, the dialog state) and what
comes out (replies, events). What it asks for mid-turn is in ``bot.requests``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from outreach.contacts.enums import Consent, ConsentKind


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()


# The city or district of someone whose place is not in the regions list: they get
# everything but booking (there is no service point to book at).
ELSEWHERE = "elsewhere"


@dataclass
class ContactView:
    """The contact fields the dialog reads and may change; the service persists them."""

    language: str | None = None
    consent: Consent = Consent.pending
    city: str | None = None
    district: str | None = None
    opted_out: bool = False
    # Where the person came from (a community or campaign code, e.g. a Telegram deep link).
    community: str | None = None
    # What the service last asked on its own since the person last wrote, e.g.
    # "reminder:appointment:12": a bare number answers it. Cleared by every turn.
    prompt: str | None = None

    @property
    def onboarded(self) -> bool:
        return (
            self.language is not None
            and self.consent == Consent.granted
            and self.city is not None
            and self.district is not None
        )

    @property
    def elsewhere(self) -> bool:
        """Lives in a city that is not in the regions list."""
        return self.city == ELSEWHERE


@dataclass
class DialogState:
    """Where the person is in the conversation; stored as JSON on the contact."""

    step: str = "new"
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> DialogState:
        if not raw:
            return cls()
        return cls(step=str(raw.get("step", "new")), data=dict(raw.get("data") or {}))


# Domain events: what the service must record besides the contact and dialog state.


@dataclass(frozen=True)
class ConsentChanged:
    kind: ConsentKind


@dataclass(frozen=True)
class QuestionUnanswered:
    text: str
    locale: str
    best_faq_id: str | None
    best_score: float | None


@dataclass(frozen=True)
class QuizStarted:
    attempt_id: str
    quiz_id: str
    locale: str
    question_ids: tuple[str, ...]


@dataclass(frozen=True)
class QuizAnswered:
    attempt_id: str
    question_id: str
    option_id: str
    correct: bool


@dataclass(frozen=True)
class QuizCompleted:
    attempt_id: str
    n_correct: int
    n_questions: int


@dataclass(frozen=True)
class QuizAbandoned:
    attempt_id: str


@dataclass(frozen=True)
class LinkCodeIssued:
    """Text ``text`` to ``phone`` (E.164): the person asked to link that number. The text
    carries the one-time code, so it goes to the outbox only, as a one-time code (blanked
    there once sent), never to the history or the dialog state."""

    phone: str
    text: str  # the SMS, in the person's language


@dataclass(frozen=True)
class PlaceAsked:
    """The person lives in ``name``, a place the regions list lacks: a district of the
    listed ``city``, or (``city`` None) a city of its own."""

    city: str | None
    name: str


@dataclass(frozen=True)
class LinkVerified:
    """The person proved they hold ``phone``: it becomes theirs, merging any contact it had."""

    phone: str


Event = (
    ConsentChanged
    | QuestionUnanswered
    | QuizStarted
    | QuizAnswered
    | QuizCompleted
    | QuizAbandoned
    | LinkCodeIssued
    | LinkVerified
    | PlaceAsked
)


@dataclass
class Turn:
    """The engine's answer to one inbound message."""

    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # The inbound text was (meant as) a one-time code: it stays out of the history.
    secret_input: bool = False

    def say(self, text: str, choices: tuple[Choice, ...] | list[Choice] = ()) -> None:
        self.replies.append(Reply(text, tuple(choices)))
