"""The main menu, language switching, and the help text."""

from __future__ import annotations

from bot.context import Ctx
from bot.flows.base import Step
from bot.flows.onboarding import Language, resume
from bot.contract import Choice


class Menu(Step):
    name = "menu"
    free_text_is_question = True

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext(
            "Main menu: what would you like to do? You can also type a question at any time."
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        _ = ctx.gettext
        choices = [
            Choice("learn", _("Learn about your rights")),
            Choice("ask", _("Ask a question")),
            Choice("quiz", _("Take the quiz")),
            Choice("book", _("Book a free checkup")),
            Choice("appts", _("My appointments")),
            Choice("lang", _("Language")),
        ]
        if ctx.engine.link_phone and ctx.channel == "telegram":
            choices.append(Choice("link", _("Link my phone number")))
        return [*choices, Choice("stop", _("Stop messages"))]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "stop":
            ctx.engine.opt_out(ctx)
            return
        if choice.id == "quiz":
            ctx.engine.start_quiz(ctx)
            return
        ctx.enter({"learn": "learn.topics", "ask": "ask", "lang": "lang", "link": "link.phone",
                   "book": "book.service", "appts": "appts"}[choice.id])


class LanguageSwitch(Language):
    """LANG at any time: the same question as at first contact, then a confirmation."""

    name = "lang"

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.contact.language = choice.id.removeprefix("lang:")
        ctx.say(ctx.gettext("OK, I will write to you in English from now on."))
        resume(ctx)


def help_text(ctx: Ctx) -> str:
    text = ctx.tx(
        "This is the free health-services helper for people who have moved to a new city. "
        "Send MENU for the main menu, LANG to change language, STOP to stop all messages "
        "and START to come back. You can type a question at any time: health workers read "
        "the questions I cannot answer."
    )
    if ctx.engine.help_contact:
        text += "\n" + ctx.tx("To talk to a health worker: {contact}").format(
            contact=ctx.engine.help_contact
        )
    return text
