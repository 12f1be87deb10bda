"""The dialog engine: one inbound message and the contact's state in, replies and events out.

It is pure: no database, no network, no channel SDK, no wall clock. The service loads the
contact, calls ``handle`` and persists what changed (contact fields, dialog state,
events) in one transaction. What a step needs from the service mid-turn it asks for with
a typed request (``bot.requests``), under the replay rule written there. Every channel
(simulator, SMS, Telegram) goes through here.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.context import Ctx
from bot.flows import ask, book, learn, link, menu, onboarding, quiz
from bot.flows.base import Step
from bot.text import OPT_IN_ONLY, Keyword, keyword, normalize, pick
from bot.contract import ConsentChanged, ContactView, DialogState, Turn
from bot.requests import Request
from content import FaqMatcher, Library
from outreach.contacts.enums import ConsentKind
from outreach.i18n import Translator, negotiate, translator
from outreach.regions import Regions

STEPS: tuple[Step, ...] = (
    onboarding.Language(),
    onboarding.ConsentStep(),
    onboarding.City(),
    onboarding.District(),
    onboarding.Place(),
    menu.Menu(),
    menu.LanguageSwitch(),
    learn.Topics(),
    learn.Lessons(),
    learn.Lesson(),
    ask.Ask(),
    ask.AskMore(),
    quiz.Question(),
    link.LinkPhone(),
    link.LinkCode(),
    book.BookService(),
    book.BookPoint(),
    book.BookDay(),
    book.BookSlot(),
    book.BookConfirm(),
    book.MyAppointments(),
    book.AppointmentItem(),
)


class Engine:
    def __init__(
        self,
        *,
        library: Library,
        regions: Regions,
        locales_dir: Path,
        default_locale: str = "zh_Hans",
        quiz_length: int = 5,
        pass_mark: float = 0.8,
        max_question_chars: int = 500,
        matcher: FaqMatcher | None = None,
        help_contact: str | None = None,
        link_phone: bool = False,
        default_region: str = "CN",
        timezone: str = "Asia/Shanghai",
        link_key: bytes = b"",
    ) -> None:
        self.library = library
        self.regions = regions
        self.locales_dir = locales_dir
        self.default_locale = default_locale
        self.quiz_length = quiz_length
        self.pass_mark = pass_mark
        self.max_question_chars = max_question_chars
        self.help_contact = help_contact
        # Chat users may link a phone number (needs the SMS channel to send the code).
        self.link_phone = link_phone
        self.default_region = default_region
        # The service's time zone: when a limited person may ask for a code again.
        self.timezone = timezone
        # Keys the digest of a phone-link code in the dialog state (a secret of the
        # service's configuration: the database alone does not give the code away).
        self.link_key = link_key
        self.matcher = matcher or FaqMatcher(library)
        self.quiz = library.quizzes[0]
        self.steps = {step.name: step for step in STEPS}

    def translator(self, locale: str) -> Translator:
        return translator(locale, self.locales_dir)

    def handle(
        self,
        contact: ContactView,
        state: DialogState,
        text: str,
        *,
        now: datetime,
        rng: random.Random,
        hint: str | None = None,
        channel: str | None = None,
        answers: dict[Request[Any], Any] | None = None,
    ) -> Turn:
        """Read one message. ``contact`` and ``state`` are updated in place.

        ``now`` and ``rng`` are the caller's clock reading and random source (the engine
        reads neither the wall clock nor a global random state, so a turn is a function
        of its inputs). ``hint`` is a language tag the channel knows (Telegram's
        ``language_code``): the language offered first to someone new. ``answers``: what
        the service answered so far this turn; a step that needs more raises
        ``NeedAnswer`` (see the replay rule in ``bot.requests``)."""
        ctx = Ctx(
            engine=self,
            contact=contact,
            state=state,
            turn=Turn(),
            rng=rng,
            now=now,
            hint=(negotiate(hint, "") or None) if hint else None,
            channel=channel,
            answers=answers if answers is not None else {},
        )
        norm = normalize(text)
        kw = keyword(norm)
        # A reminder's question is answered by this message or not at all.
        prompt, contact.prompt = contact.prompt, None

        if contact.opted_out:
            # Silence until the person opts back in.
            if kw is Keyword.start:
                self.opt_in(ctx)
            return ctx.turn
        if kw is Keyword.start and norm in OPT_IN_ONLY:
            kw = None
        if contact.onboarded and state.step in self.steps and book.reminder_reply(ctx, norm, prompt):
            # Before STOP: after a reminder, CANCEL cancels the appointment.
            return ctx.turn
        if kw is not Keyword.stop and state.step in self.steps and not self.steps[state.step].current(ctx):
            # The content changed under the person (a lesson or quiz question removed):
            # their message cannot be read against it, so back to the menu, saying why.
            quiz.abandon_quiz(ctx)
            ctx.say(ctx.tx("Our lessons and quiz have been updated since your last message, "
                           "so let's continue from the main menu."))
            onboarding.resume(ctx)
        elif kw is Keyword.stop:
            self.opt_out(ctx)
        elif kw is Keyword.start and state.step == "new":
            onboarding.greet(ctx)
        elif kw is Keyword.start:
            ctx.say(ctx.tx("You are subscribed."))
            onboarding.resume(ctx)
        elif kw is Keyword.help:
            ctx.say(menu.help_text(ctx))
            if state.step in self.steps:
                self.steps[state.step].prompt(ctx)
            else:
                onboarding.greet(ctx)
        elif state.step == "new" or state.step not in self.steps:
            onboarding.greet(ctx)
        elif kw is Keyword.lang:
            quiz.abandon_quiz(ctx)
            ctx.enter(menu.LanguageSwitch.name)
        elif kw is Keyword.menu:
            quiz.abandon_quiz(ctx)
            if not contact.onboarded:
                ctx.say(ctx.tx("The main menu comes right after these first questions."))
            onboarding.resume(ctx)
        elif kw is Keyword.book and contact.onboarded:
            quiz.abandon_quiz(ctx)
            book.start(ctx)
        else:
            self._step_input(ctx, norm, text)
        return ctx.turn

    def _step_input(self, ctx: Ctx, norm: str, raw: str) -> None:
        step = self.steps[ctx.state.step]
        choices = step.choices(ctx)
        choice = pick(norm, choices) or step.alias(ctx, norm, choices)
        if choice is not None:
            step.on_choice(ctx, choice)
        elif step.free_text_is_question and ask.is_question(ctx, norm):
            ask.answer(ctx, raw)
        elif step.answers_questions and ask.is_question(ctx, norm) and ask.answer_in_passing(ctx, raw):
            step.prompt(ctx)
        else:
            step.on_text(ctx, norm, raw)

    def opt_out(self, ctx: Ctx) -> None:
        quiz.abandon_quiz(ctx)
        ctx.contact.opted_out = True
        ctx.record(ConsentChanged(ConsentKind.opted_out))
        ctx.say(
            ctx.tx(
                "You have unsubscribed and will get no more messages from us. "
                "Send START to come back."
            )
        )
        ctx.goto("menu" if ctx.contact.onboarded else "new")

    def opt_in(self, ctx: Ctx) -> None:
        ctx.contact.opted_out = False
        ctx.record(ConsentChanged(ConsentKind.opted_in))
        ctx.say(ctx.tx("Welcome back! You will get our messages again."))
        onboarding.resume(ctx)

    def start_quiz(self, ctx: Ctx) -> None:
        quiz.start_quiz(ctx)
