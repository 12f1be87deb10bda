"""Quiz: questions drawn from the bank, one at a time, feedback with the source, a score."""

from __future__ import annotations

import uuid
from collections import defaultdict

from bot.context import Ctx
from bot.flows.base import Step
from bot.flows.learn import source_line
from bot.contract import Choice, QuizAbandoned, QuizAnswered, QuizCompleted, QuizStarted


def draw(ctx: Ctx) -> list[str]:
    """Spread the draw over the service areas: one per area in turn, in random order."""
    quiz = ctx.engine.quiz
    by_area: dict[str, list[str]] = defaultdict(list)
    for question in quiz.questions:
        by_area[question.area].append(question.id)
    pools = [ctx.rng.sample(ids, len(ids)) for ids in by_area.values()]
    ctx.rng.shuffle(pools)
    n = min(ctx.engine.quiz_length, len(quiz.questions))
    picked: list[str] = []
    while len(picked) < n:
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    ctx.rng.shuffle(picked)
    return picked


def start_quiz(ctx: Ctx) -> None:
    abandon_quiz(ctx)
    questions = draw(ctx)
    attempt = uuid.UUID(int=ctx.rng.getrandbits(128), version=4).hex
    ctx.record(QuizStarted(attempt, ctx.engine.quiz.id, ctx.locale, tuple(questions)))
    ctx.say(
        ctx.gettext("Quiz time! {n} short questions about your rights. Let's start.").format(
            n=len(questions)
        )
    )
    ctx.enter(Question.name, attempt=attempt, questions=questions, i=0, correct=0)


def abandon_quiz(ctx: Ctx) -> None:
    """Leaving a quiz before the end keeps the attempt but never scores it."""
    if ctx.state.step == Question.name:
        ctx.record(QuizAbandoned(ctx.state.data["attempt"]))


class Question(Step):
    name = "quiz.question"

    def _question(self, ctx: Ctx):  # type: ignore[no-untyped-def]
        data = ctx.state.data
        return ctx.engine.library.question(data["questions"][data["i"]])

    def text(self, ctx: Ctx) -> str:
        data = ctx.state.data
        return ctx.gettext("Question {i} of {n}: {text}").format(
            i=data["i"] + 1, n=len(data["questions"]), text=ctx.t(self._question(ctx).text)
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [Choice(f"opt:{o.id}", ctx.t(o.text)) for o in self._question(ctx).options]

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
        ctx.say(f"{verdict}\n{ctx.t(question.explanation)}\n{source_line(ctx, question.clause)}")
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
