"""Typed, immutable view of the programme's content packs.

The models are deliberately permissive about *meaning* (a missing locale, an unknown
topic, a wrong ``correct`` option all load fine) and strict about *shape* (unknown keys,
wrong types). Shape errors stop loading with a clear ``ContentError``; meaning errors are
collected by :mod:`content.check` so an author sees every problem in one run instead of
fixing them one traceback at a time.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Iterable, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Localized = dict[str, str]
"""Text per locale code, e.g. ``{"zh_Hans": "免费", "en": "free"}``."""


def text(localized: Mapping[str, str], locale: str, fallback: Iterable[str] = ()) -> str:
    """Return ``localized[locale]``, else the first fallback locale present, else "".

    Content is written per locale, but a half-translated pack must still render
    something rather than crash a conversation.
    """
    value = localized.get(locale)
    if value:
        return value
    for other in fallback:
        value = localized.get(other)
        if value:
            return value
    return next((v for v in localized.values() if v), "")


class _Model(BaseModel):
    # frozen: content is shared by every conversation; nobody may edit it in place.
    # extra=forbid: a misspelt key in YAML ("anwser") must fail, not vanish silently.
    model_config = ConfigDict(frozen=True, extra="forbid")


class RefStyle(StrEnum):
    """How an item points into its source."""

    sections = "sections"  # a guidance's numbered sections: 三(二)2 (en: section 3(2)2)
    articles = "articles"  # a law's articles: 18 (zh: 第十八条, en: article 18)
    none = "none"  # a short notice or decision cited whole, by name and date


class Source(_Model):
    """A public document that content rests on: a law, a regulation, a national notice.

    Ids are library-wide, so an item of one pack may cite a source another pack lists.
    """

    id: str
    doc: str  # the official number or full name, e.g. 人口流管〔2010〕69号
    date: str  # ISO date of the version cited (a law's latest amendment)
    refs: RefStyle = RefStyle.sections
    name: Localized  # the short name a source line uses
    title: Localized


class Cited(_Model):
    """Anything a person reads as a statement of policy: it names its source and the
    clause (section or article) in it. ``source`` defaults to the pack's first source
    when the pack is loaded; ``clause`` is None only for sources cited whole."""

    source: str
    clause: str | None = None


class Area(Cited):
    """A service area of clause 三(二) (education, family planning, ...)."""

    id: str
    title: Localized


class ServiceType(Cited):
    """Something a migrant can book (a checkup, a counselling session)."""

    id: str
    area: str
    title: Localized


class Lesson(Cited):
    """One short, phone-sized explanation of an entitlement."""

    id: str
    title: Localized
    body: Localized


class Topic(_Model):
    """A menu entry grouping lessons; one per area plus `rights` and `where`."""

    id: str
    area: str | None = None
    title: Localized
    lessons: tuple[Lesson, ...] = ()


class FaqEntry(Cited):
    """A question people ask, the ways they phrase it, and the answer."""

    id: str
    topic: str
    questions: dict[str, tuple[str, ...]]
    answer: Localized


class QuizOption(_Model):
    id: str
    text: Localized


class QuizQuestion(Cited):
    """A scored multiple-choice question; its answer must be taught by a lesson.

    ``generous`` names the option that promises the most (the answer of someone who
    assumes every service is free and unconditional): the checker proves that always
    choosing it, like always choosing the longest or the first option, cannot pass.
    """

    id: str
    area: str
    text: Localized
    options: tuple[QuizOption, ...]
    correct: str
    generous: str
    explanation: Localized

    def option(self, option_id: str) -> QuizOption:
        """The option with this id; ``KeyError`` if there is none."""
        for opt in self.options:
            if opt.id == option_id:
                return opt
        raise KeyError(f"question {self.id!r} has no option {option_id!r}")


class Quiz(_Model):
    id: str
    title: Localized
    draw: int
    questions: tuple[QuizQuestion, ...]


class Pack(_Model):
    """One directory under ``content/packs``: a policy's complete content."""

    id: str
    version: int
    locales: tuple[str, ...]
    title: Localized
    # The first source is the default of every item in the pack that names none.
    sources: tuple[Source, ...] = Field(min_length=1)
    areas: tuple[Area, ...] = ()
    service_types: tuple[ServiceType, ...] = ()
    topics: tuple[Topic, ...] = ()
    faq: tuple[FaqEntry, ...] = ()
    quizzes: tuple[Quiz, ...] = ()


_T = TypeVar("_T", bound=BaseModel)


def _index(items: Iterable[_T]) -> dict[str, _T]:
    # First definition wins; duplicates are reported by content.check, not here,
    # so that a broken library can still be inspected.
    out: dict[str, _T] = {}
    for item in items:
        out.setdefault(getattr(item, "id"), item)
    return out


class Library(_Model):
    """Every loaded pack, merged into one set of lookups for the bot and the service.

    Lookups by id raise ``KeyError`` for an unknown id: callers hold ids that came from
    this library (menus, stored quiz answers), so a miss is a bug or stale data, and it
    should be loud.
    """

    packs: tuple[Pack, ...] = ()

    @cached_property
    def locales(self) -> list[str]:
        """Locales every pack claims, in the first pack's order.

        Only these are safe to offer a person: any other would leave gaps.
        """
        if not self.packs:
            return []
        common = set(self.packs[0].locales)
        for pack in self.packs[1:]:
            common &= set(pack.locales)
        return [loc for loc in self.packs[0].locales if loc in common]

    @property
    def default_locale(self) -> str:
        return self.locales[0] if self.locales else ""

    def t(self, localized: Mapping[str, str], locale: str) -> str:
        """Text in ``locale``, falling back to the library's first locale."""
        return text(localized, locale, self.locales)

    @cached_property
    def sources(self) -> list[Source]:
        return [s for p in self.packs for s in p.sources]

    @cached_property
    def areas(self) -> list[Area]:
        return [a for p in self.packs for a in p.areas]

    @cached_property
    def service_types(self) -> list[ServiceType]:
        return [s for p in self.packs for s in p.service_types]

    @cached_property
    def topics(self) -> list[Topic]:
        """Topics in menu order (pack order, then file order)."""
        return [t for p in self.packs for t in p.topics]

    @cached_property
    def lessons(self) -> list[Lesson]:
        return [lesson for t in self.topics for lesson in t.lessons]

    @cached_property
    def faq(self) -> list[FaqEntry]:
        return [f for p in self.packs for f in p.faq]

    @cached_property
    def quizzes(self) -> list[Quiz]:
        return [q for p in self.packs for q in p.quizzes]

    @cached_property
    def questions(self) -> list[QuizQuestion]:
        return [q for quiz in self.quizzes for q in quiz.questions]

    @cached_property
    def _sources(self) -> dict[str, Source]:
        return _index(self.sources)

    @cached_property
    def _areas(self) -> dict[str, Area]:
        return _index(self.areas)

    @cached_property
    def _service_types(self) -> dict[str, ServiceType]:
        return _index(self.service_types)

    @cached_property
    def _topics(self) -> dict[str, Topic]:
        return _index(self.topics)

    @cached_property
    def _lessons(self) -> dict[str, Lesson]:
        return _index(self.lessons)

    @cached_property
    def _lesson_topic(self) -> dict[str, Topic]:
        out: dict[str, Topic] = {}
        for topic in self.topics:
            for lesson in topic.lessons:
                out.setdefault(lesson.id, topic)
        return out

    @cached_property
    def _faq(self) -> dict[str, FaqEntry]:
        return _index(self.faq)

    @cached_property
    def _quizzes(self) -> dict[str, Quiz]:
        return _index(self.quizzes)

    @cached_property
    def _questions(self) -> dict[str, QuizQuestion]:
        return _index(self.questions)

    def source(self, source_id: str) -> Source:
        return self._sources[source_id]

    def area(self, area_id: str) -> Area:
        return self._areas[area_id]

    def service_type(self, service_type_id: str) -> ServiceType:
        return self._service_types[service_type_id]

    def topic(self, topic_id: str) -> Topic:
        return self._topics[topic_id]

    def lesson(self, lesson_id: str) -> Lesson:
        return self._lessons[lesson_id]

    def topic_of(self, lesson_id: str) -> Topic:
        """The topic a lesson belongs to (for "next lesson" / "back" navigation)."""
        return self._lesson_topic[lesson_id]

    def faq_entry(self, entry_id: str) -> FaqEntry:
        return self._faq[entry_id]

    def quiz(self, quiz_id: str) -> Quiz:
        return self._quizzes[quiz_id]

    def question(self, question_id: str) -> QuizQuestion:
        return self._questions[question_id]
