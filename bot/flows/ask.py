"""Ask: free text to the best FAQ answer; unmatched questions go to health workers."""

from __future__ import annotations

from content.cite import answer_message

from bot.context import Ctx
from bot.flows.base import Step, reprompt
from bot.text import CJK, as_number, has_words
from bot.contract import Choice, QuestionUnanswered


class Ask(Step):
    name = "ask"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext(
            "What would you like to know? Type your question in your own words, for example: "
            "Is the checkup free?"
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.enter("menu")

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        if is_question(ctx, norm):
            answer(ctx, raw)
        else:
            reprompt(ctx, self, norm)


class AskMore(Ask):
    """After an answer: ask another, or back to the menu; free text is another question."""

    name = "ask.more"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Anything else? Type another question, or go back to the menu.")


def is_question(ctx: Ctx, norm: str) -> bool:
    return (
        has_words(norm)
        and as_number(norm) is None
        and len(norm) <= ctx.engine.max_question_chars
    )


# During onboarding free text is as likely a place's name or a greeting as a question,
# and the matcher's own threshold lets some through (on the packs: 宝安区 0.18, 昆明 0.16,
# "hello again" 0.22), while the questions people ask score 0.26 and more ("is it free?"
# 0.29, 免费吗 0.47). So there only clear matches are answered.
CLEAR_MATCH = 0.25


def answer_in_passing(ctx: Ctx, raw: str) -> bool:
    """Say the FAQ's answer to ``raw`` if it clearly has one (staying at the step); False
    if not. Someone whose language we do not know yet gets it in the language they
    wrote in."""
    engine = ctx.engine
    ranked = engine.matcher.rank(raw, ctx.locale, 1)
    if not ranked or ranked[0].score < max(CLEAR_MATCH, engine.matcher.threshold):
        return False
    entry = ranked[0].entry
    locale = ctx.locale if ctx.contact.language else ("zh_Hans" if CJK.search(raw) else "en")
    ctx.say(answer_message(engine.library, entry, locale, engine.translator(locale).gettext))
    return True


def answer(ctx: Ctx, raw: str) -> None:
    engine = ctx.engine
    ranked = engine.matcher.rank(raw, ctx.locale, 1)
    top = ranked[0] if ranked else None
    ctx.goto(AskMore.name)
    choices = [ctx.menu_choice()]
    if top is not None and top.score >= engine.matcher.threshold:
        entry = top.entry
        ctx.say(
            answer_message(engine.library, entry, ctx.locale, ctx.gettext) + "\n\n"
            + ctx.gettext("Anything else? Type another question, or go back to the menu."),
            choices,
        )
        return
    ctx.record(
        QuestionUnanswered(
            text=raw.strip(),
            locale=ctx.locale,
            best_faq_id=top.entry.id if top else None,
            best_score=round(top.score, 4) if top else None,
        )
    )
    ctx.say(
        ctx.gettext(
            "Sorry, I do not have a good answer to that yet. I have passed your question to "
            "a health worker. Meanwhile, you can try other words or browse the lessons."
        ),
        choices,
    )
