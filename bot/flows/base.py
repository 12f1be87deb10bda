"""The shape of a step, and the shared re-prompt."""

from __future__ import annotations

from bot.context import Ctx
from bot.contract import Choice


class Step:
    """A point in the conversation that waits for the person's input.

    ``prompt`` says the question with its choices; ``on_choice`` handles a picked choice;
    ``on_text`` handles anything else (by default: a clear re-prompt).
    """

    name: str = ""
    # Free text here is a question for the FAQ (outside a flow such as a quiz).
    free_text_is_question = False
    # Free text here that the FAQ knows well is answered, then this step's question is
    # asked again (onboarding: the person is not sent anywhere else).
    answers_questions = False

    def text(self, ctx: Ctx) -> str:
        raise NotImplementedError

    def current(self, ctx: Ctx) -> bool:
        """Whether the step's saved data still names content that exists: a content
        update can remove the lesson or quiz question someone is in the middle of."""
        return True

    def choices(self, ctx: Ctx) -> list[Choice]:
        return []

    def prompt(self, ctx: Ctx, notice: str | None = None) -> None:
        body = self.text(ctx)
        ctx.say(f"{notice}\n\n{body}" if notice else body, self.choices(ctx))

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        raise NotImplementedError

    # Short answers people type instead of a choice's number or label: {text: choice id}.
    aliases: dict[str, str] = {}

    def alias(self, ctx: Ctx, norm: str, choices: list[Choice]) -> Choice | None:
        wanted = self.aliases.get(norm)
        return next((c for c in choices if c.id == wanted), None) if wanted else None

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        reprompt(ctx, self, norm)


def reprompt(ctx: Ctx, step: Step, norm: str) -> None:
    _ = ctx.tx
    if not norm:
        notice = _("I did not receive any text.")
    elif len(norm) > ctx.engine.max_question_chars:
        notice = _("That message is too long for me.")
    else:
        notice = _("Sorry, I did not understand that.")
    if step.choices(ctx):
        notice += " " + _("Please choose one of the options: send its number or its name.")
    step.prompt(ctx, notice)
