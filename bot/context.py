"""The per-message context the flows work on."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bot.contract import Choice, ContactView, DialogState, Event, Turn
from bot.requests import NeedAnswer, Request
from outreach.i18n import SUPPORTED_LOCALES, Translator

if TYPE_CHECKING:
    from bot.engine import Engine

T = TypeVar("T")


@dataclass
class Ctx:
    engine: Engine
    contact: ContactView
    state: DialogState
    turn: Turn
    rng: random.Random
    # The turn's clock reading (the service's clock, never the wall's).
    now: datetime
    # The language the channel suggests (e.g. Telegram's language_code), if any.
    hint: str | None = None
    # The channel the message came on (sim, sms, telegram).
    channel: str | None = None
    # What the service answered so far this turn (see ``bot.requests``).
    answers: dict[Request[Any], Any] = field(default_factory=dict)

    @property
    def locale(self) -> str:
        return self.contact.language or self.engine.default_locale

    @property
    def tr(self) -> Translator:
        return self.engine.translator(self.locale)

    def gettext(self, message: str) -> str:
        return self.tr.gettext(message)

    def both(self, message: str) -> str:
        """One message in every locale, for people whose language we do not know yet."""
        locales = sorted(SUPPORTED_LOCALES, key=lambda loc: loc != self.hint)
        return "\n".join(self.engine.translator(loc).gettext(message) for loc in locales)

    def tx(self, message: str) -> str:
        """A UI message in the person's language, or in every locale if we do not know it."""
        return self.gettext(message) if self.contact.language else self.both(message)

    def t(self, localized: dict[str, str]) -> str:
        """A content text in the person's language."""
        return self.engine.library.t(localized, self.locale)

    def ask(self, request: Request[T]) -> T:
        """The service's answer to ``request`` in this turn; asks for it first (the turn
        is then replayed with the answer: see the replay rule in ``bot.requests``)."""
        if request not in self.answers:
            raise NeedAnswer(request)
        return cast(T, self.answers[request])

    def goto(self, step: str, **data: Any) -> None:
        self.state.step = step
        self.state.data = data

    def enter(self, step: str, **data: Any) -> None:
        """Move to a step and say its prompt."""
        self.goto(step, **data)
        self.engine.steps[step].prompt(self)

    def say(self, text: str, choices: tuple[Choice, ...] | list[Choice] = ()) -> None:
        self.turn.say(text, choices)

    def record(self, event: Event) -> None:
        self.turn.events.append(event)

    def menu_choice(self) -> Choice:
        return Choice("menu", self.gettext("Main menu"))
