"""Quiz: questions drawn from the bank, one at a time, feedback with the source, a score."""

from __future__ import annotations

import uuid

from content.cite import source_line
from content.fairness import draw, option_order

from bot.context import Ctx
from bot.flows.base import Step
from bot.contract import Choice, QuizAbandoned, QuizAnswered, QuizCompleted, QuizStarted


def start_quiz(ctx: Ctx) -> None:
    """Questions spread over the areas, each with its options in an order of this
    person's own (see content.fairness: a fixed position must not pass)."""
    abandon_quiz(ctx)
    engine = ctx.engine
    questions = draw(engine.quiz, engine.quiz_length, ctx.rng)
    orders = [option_order(engine.library.question(q), ctx.rng) for q in questions]
    attempt = uuid.UUID(int=ctx.rng.getrandbits(128), version=4).hex
    ctx.record(QuizStarted(attempt, ctx.engine.quiz.id, ctx.locale, tuple(questions)))
    ctx.say(
        ctx.gettext("Quiz time! {n} short questions about your rights. Let's start.").format(
            n=len(questions)
        )
    )
    ctx.enter(Question.name, attempt=attempt, questions=questions, orders=orders, i=0, correct=0)


def abandon_quiz(ctx: Ctx) -> None:
    """Leaving a quiz before the end keeps the attempt but never scores it."""
    if ctx.state.step == Question.name:
        ctx.record(QuizAbandoned(ctx.state.data["attempt"]))


class Question(Step):
    name = "quiz.question"

    def current(self, ctx: Ctx) -> bool:
        questions = {q.id: q for q in ctx.engine.library.questions}
        data = ctx.state.data
        if not all(q in questions for q in data["questions"]):
            return False
        orders = data.get("orders")  # absent in a quiz started before options were shuffled
        return orders is None or all(
            {o.id for o in questions[q].options} == set(order)
            for q, order in zip(data["questions"], orders, strict=True)
        )

    def _question(self, ctx: Ctx):  # type: ignore[no-untyped-def]
        data = ctx.state.data
        return ctx.engine.library.question(data["questions"][data["i"]])

    def text(self, ctx: Ctx) -> str:
        data = ctx.state.data
        return ctx.gettext("Question {i} of {n}: {text}").format(
            i=data["i"] + 1, n=len(data["questions"]), text=ctx.t(self._question(ctx).text)
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        question = self._question(ctx)
        data = ctx.state.data
        # A quiz started before options were shuffled has no orders: the file's order.
        order = data["orders"][data["i"]] if "orders" in data else [o.id for o in question.options]
        return [Choice(f"opt:{oid}", ctx.t(question.option(oid).text)) for oid in order]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        _ = ctx.gettext
        data = ctx.state.data
        question = self._question(ctx)
        option_id = choice.id.removeprefix("opt:")
        correct = option_id == question.correct
        ctx.record(QuizAnswered(data["attempt"], question.id, option_id, correct))
        right = next(o for o in question.options if o.id == question.correct)
        verdict = (
            _("Correct!")
            if correct
            else _("Not quite. The right answer is: {answer}").format(answer=ctx.t(right.text))
        )
        source = source_line(ctx.engine.library, question, ctx.locale, ctx.gettext)
        ctx.say(f"{verdict}\n{ctx.t(question.explanation)}\n{source}")
        data = {**data, "i": data["i"] + 1, "correct": data["correct"] + int(correct)}
        if data["i"] < len(data["questions"]):
            ctx.enter(Question.name, **data)
        else:
            finish(ctx, data["attempt"], data["correct"], len(data["questions"]))


def finish(ctx: Ctx, attempt: str, n_correct: int, n: int) -> None:
    _ = ctx.gettext
    ctx.record(QuizCompleted(attempt, n_correct, n))
    score = _("You got {correct} of {n} right.").format(correct=n_correct, n=n)
    if n_correct >= ctx.engine.pass_mark * n - 1e-9:
        verdict = _("Well done: you know your rights! Tell a friend who has moved here too.")
    else:
        verdict = _("Keep going: the lessons in the menu explain each answer. You can take the quiz again any time.")
    ctx.say(f"{score} {verdict}")
    ctx.enter("menu")
