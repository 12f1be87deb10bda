"""Learn: topics, then lessons, each citing the policy clause it rests on."""

from __future__ import annotations

from content.cite import lesson_message

from bot.context import Ctx
from bot.flows.base import Step
from bot.contract import Choice


class Topics(Step):
    name = "learn.topics"
    free_text_is_question = True

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Choose a topic:")

    def choices(self, ctx: Ctx) -> list[Choice]:
        topics = [Choice(f"topic:{t.id}", ctx.t(t.title)) for t in ctx.engine.library.topics]
        return [*topics, ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
        else:
            ctx.enter(Lessons.name, topic=choice.id.removeprefix("topic:"))


class Lessons(Step):
    name = "learn.lessons"
    free_text_is_question = True

    def current(self, ctx: Ctx) -> bool:
        return ctx.state.data.get("topic") in {t.id for t in ctx.engine.library.topics}

    def text(self, ctx: Ctx) -> str:
        topic = ctx.engine.library.topic(ctx.state.data["topic"])
        return ctx.gettext("{topic}: choose a lesson:").format(topic=ctx.t(topic.title))

    def choices(self, ctx: Ctx) -> list[Choice]:
        topic = ctx.engine.library.topic(ctx.state.data["topic"])
        lessons = [Choice(f"lesson:{lesson.id}", ctx.t(lesson.title)) for lesson in topic.lessons]
        return [*lessons, Choice("topics", ctx.gettext("Other topics")), ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
        elif choice.id == "topics":
            ctx.enter(Topics.name)
        else:
            show_lesson(ctx, ctx.state.data["topic"], choice.id.removeprefix("lesson:"))


class Lesson(Step):
    """After a lesson: next lesson, other topics, or the menu."""

    name = "learn.lesson"
    free_text_is_question = True

    def current(self, ctx: Ctx) -> bool:
        library, data = ctx.engine.library, ctx.state.data
        topic = next((t for t in library.topics if t.id == data.get("topic")), None)
        return topic is not None and data.get("lesson") in {x.id for x in topic.lessons}

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("What would you like to do next?")

    def _next(self, ctx: Ctx) -> str | None:
        topic = ctx.engine.library.topic(ctx.state.data["topic"])
        ids = [lesson.id for lesson in topic.lessons]
        i = ids.index(ctx.state.data["lesson"])
        return ids[i + 1] if i + 1 < len(ids) else None

    def choices(self, ctx: Ctx) -> list[Choice]:
        _ = ctx.gettext
        choices = []
        if self._next(ctx):
            choices.append(Choice("next", _("Next lesson")))
        choices += [Choice("topics", _("Other topics")), ctx.menu_choice()]
        return choices

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "next":
            show_lesson(ctx, ctx.state.data["topic"], self._next(ctx) or "")
        elif choice.id == "topics":
            ctx.enter(Topics.name)
        else:
            ctx.enter("menu")


def show_lesson(ctx: Ctx, topic_id: str, lesson_id: str) -> None:
    lesson = ctx.engine.library.lesson(lesson_id)
    ctx.goto(Lesson.name, topic=topic_id, lesson=lesson_id)
    step = ctx.engine.steps[Lesson.name]
    ctx.say(lesson_message(ctx.engine.library, lesson, ctx.locale, ctx.gettext), step.choices(ctx))
