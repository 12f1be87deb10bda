"""Validate a loaded library: everything the models accept but a person must not see.

Errors make the content unusable (a quiz with no right answer, a lesson missing a
language, a clause that traces to nothing); ``outreach content check`` and CI fail on
them. Warnings are editorial (too long for a button or an SMS) and are for authors.
Every message names the pack, the item and the field so it can be fixed without a
debugger.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable, Mapping

from content.cite import ARTICLE_RE, SECTION_RE, Gettext, answer_message, lesson_message, source_line
from content.fairness import MAX_GUESS_PASS, GuessRate, guess_pass_rates
from content.house import CJK_PREFIXES, house_rules
from content.loader import ContentError, load_library
from content.models import Cited, Library, Pack, Quiz, QuizQuestion, RefStyle
from content.sms import Encoding, segments

GettextFor = Callable[[str], Gettext]
"""A locale's gettext: the source lines are worded by the service's catalogs."""
# Ids travel in button callback data and URLs: keep them short, lowercase and plain.
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")

# Editorial limits (characters). Menu buttons and quiz options must fit one line on a
# phone; bodies must stay a few SMS parts. CJK text is denser, hence lower numbers.
_LIMITS: dict[str, tuple[int, int]] = {  # kind: (CJK locale, other locale)
    "label": (12, 28),
    "option": (16, 40),
    "lesson": (150, 450),
    "answer": (120, 400),
}
_CJK_PREFIXES = CJK_PREFIXES
MIN_PHRASINGS = 4
LESSONS_PER_TOPIC = (2, 4)
# A lesson or an answer, with its source line, in at most this many SMS parts.
MAX_SEGMENTS = 3
MIN_OPTIONS = 4


@dataclass(frozen=True, slots=True)
class SmsRow:
    """What one message costs as SMS in one locale."""

    kind: str  # lesson | faq | question | explanation
    id: str
    locale: str
    chars: int
    encoding: Encoding
    segments: int


@dataclass(slots=True)
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sms: list[SmsRow] = field(default_factory=list)
    guessers: list[GuessRate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _iso_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))


def _limit(kind: str, locale: str) -> int:
    cjk, other = _LIMITS[kind]
    return cjk if locale.startswith(_CJK_PREFIXES) else other


class _Checker:
    def __init__(
        self, library: Library, gettext_for: GettextFor, quiz_length: int, pass_mark: float
    ) -> None:
        self.library = library
        self.gettext_for = gettext_for
        self.quiz_length = quiz_length
        self.pass_mark = pass_mark
        self.report = CheckReport()

    # -- helpers -------------------------------------------------------------------
    def error(self, where: str, message: str) -> None:
        self.report.errors.append(f"{where}: {message}")

    def warn(self, where: str, message: str) -> None:
        self.report.warnings.append(f"{where}: {message}")

    def localized(
        self,
        where: str,
        name: str,
        value: Mapping[str, str],
        locales: Iterable[str],
        limit: str | None = None,
    ) -> None:
        claimed = list(locales)
        for loc in claimed:
            if loc not in value:
                self.error(where, f"{name} is missing locale {loc!r}")
            elif not value[loc].strip():
                self.error(where, f"{name}.{loc} is empty")
            else:
                self.wording(where, f"{name}.{loc}", loc, value[loc])
                if limit and len(value[loc].strip()) > _limit(limit, loc):
                    self.warn(
                        where,
                        f"{name}.{loc} is {len(value[loc].strip())} characters, "
                        f"over the {_limit(limit, loc)} allowed for a {limit}",
                    )
        for loc in value:
            if loc not in claimed:
                self.warn(where, f"{name} has locale {loc!r} that the pack does not claim")

    def wording(self, where: str, name: str, locale: str, value: str) -> None:
        for problem in house_rules(locale, value):
            self.error(where, f"{name} {problem}")

    def cite(self, where: str, item: Cited) -> None:
        """Every item names a source the library has and a clause that fits it."""
        problem = self.citation_problem(item)
        if problem:
            self.error(where, problem)

    def citation_problem(self, item: Cited) -> str | None:
        try:
            source = self.library.source(item.source)
        except KeyError:
            return f"source {item.source!r} does not exist"
        if source.refs is RefStyle.none:
            if item.clause is not None:
                return f"source {source.id!r} is cited whole; remove clause {item.clause!r}"
        elif item.clause is None:
            return f"cites {source.id!r} without a clause: name the {source.refs.value[:-1]}"
        elif source.refs is RefStyle.sections and not SECTION_RE.match(item.clause):
            return f"clause {item.clause!r} is not a section reference like 三(二)2"
        elif source.refs is RefStyle.articles and not ARTICLE_RE.match(item.clause):
            return f"clause {item.clause!r} is not an article number like 18"
        return None

    def ident(self, where: str, ident: str) -> None:
        if not ID_RE.match(ident):
            self.error(where, f"id {ident!r} must be 1-48 of a-z, 0-9, '-' or '_'")

    def sms(self, kind: str, ident: str, locale: str, message: str, limit: bool = False) -> None:
        info = segments(message)
        self.report.sms.append(
            SmsRow(kind, ident, locale, info.chars, info.encoding, info.segments)
        )
        if not limit:
            return
        where = f"{kind} {ident!r}"
        if info.segments > MAX_SEGMENTS:
            self.error(
                where, f"{locale} message with its source line is {info.segments} SMS parts "
                f"({info.chars} characters, {info.encoding}); at most {MAX_SEGMENTS}"
            )
        if not locale.startswith(_CJK_PREFIXES) and info.encoding != "GSM-7":
            self.error(where, f"{locale} message is {info.encoding}: a character outside GSM-7 "
                       "(curly quote, dash, Chinese) triples its cost")

    # -- checks --------------------------------------------------------------------
    def run(self) -> CheckReport:
        lib = self.library
        self.duplicates("pack", [p.id for p in lib.packs])
        self.duplicates("source", [s.id for s in lib.sources])
        self.duplicates("area", [a.id for a in lib.areas])
        self.duplicates("service type", [s.id for s in lib.service_types])
        self.duplicates("topic", [t.id for t in lib.topics])
        self.duplicates("lesson", [lesson.id for lesson in lib.lessons])
        self.duplicates("faq entry", [f.id for f in lib.faq])
        self.duplicates("quiz", [q.id for q in lib.quizzes])
        self.duplicates("quiz question", [q.id for q in lib.questions])
        for pack in lib.packs:
            self.pack(pack)
        self.coverage()
        return self.report

    def duplicates(self, kind: str, ids: list[str]) -> None:
        for ident, count in Counter(ids).items():
            if count > 1:
                self.error(f"{kind} {ident!r}", f"id is used {count} times")

    def pack(self, pack: Pack) -> None:
        lib, locs, p = self.library, pack.locales, pack.id
        area_ids = {a.id for a in lib.areas}
        topic_ids = {t.id for t in lib.topics}
        if not locs:
            self.error(p, "pack claims no locales")
        self.localized(p, "title", pack.title, locs)
        for source in pack.sources:
            w = f"{p}: source {source.id!r}"
            self.ident(w, source.id)
            self.localized(w, "name", source.name, locs)
            self.localized(w, "title", source.title, locs)
            if not _iso_date(source.date):
                self.error(w, f"date {source.date!r} is not an ISO date like 2021-08-20")

        for area in pack.areas:
            w = f"{p}: area {area.id!r}"
            self.ident(w, area.id)
            self.cite(w, area)
            self.localized(w, "title", area.title, locs)

        for st in pack.service_types:
            w = f"{p}: service type {st.id!r}"
            self.ident(w, st.id)
            self.cite(w, st)
            self.localized(w, "title", st.title, locs, "label")
            if st.area not in area_ids:
                self.error(w, f"area {st.area!r} does not exist")

        for topic in pack.topics:
            w = f"{p}: topic {topic.id!r}"
            self.ident(w, topic.id)
            self.localized(w, "title", topic.title, locs, "label")
            if topic.area is not None and topic.area not in area_ids:
                self.error(w, f"area {topic.area!r} does not exist")
            low, high = LESSONS_PER_TOPIC
            if not low <= len(topic.lessons) <= high:
                self.warn(w, f"has {len(topic.lessons)} lessons; {low}-{high} read best")
            for lesson in topic.lessons:
                lw = f"{p}: lesson {lesson.id!r}"
                self.ident(lw, lesson.id)
                self.cite(lw, lesson)
                self.localized(lw, "title", lesson.title, locs, "label")
                self.localized(lw, "body", lesson.body, locs, "lesson")
                for loc in locs:
                    if lesson.body.get(loc) and self.citable(lesson):
                        message = lesson_message(lib, lesson, loc, self.gettext_for(loc))
                        self.sms("lesson", lesson.id, loc, message, limit=True)

        for entry in pack.faq:
            w = f"{p}: faq {entry.id!r}"
            self.ident(w, entry.id)
            self.cite(w, entry)
            if entry.topic not in topic_ids:
                self.error(w, f"topic {entry.topic!r} does not exist")
            self.localized(w, "answer", entry.answer, locs, "answer")
            for loc in locs:
                phrasings = entry.questions.get(loc)
                if not phrasings:
                    self.error(w, f"questions has no phrasings for locale {loc!r}")
                    continue
                if any(not q.strip() for q in phrasings):
                    self.error(w, f"questions.{loc} contains an empty phrasing")
                if len(phrasings) < MIN_PHRASINGS:
                    self.warn(
                        w, f"questions.{loc} has {len(phrasings)} phrasings; "
                        f"give at least {MIN_PHRASINGS} so people are understood"
                    )
                if entry.answer.get(loc) and self.citable(entry):
                    message = answer_message(lib, entry, loc, self.gettext_for(loc))
                    self.sms("faq", entry.id, loc, message, limit=True)
            for loc in entry.questions:
                if loc not in locs:
                    self.warn(w, f"questions has locale {loc!r} that the pack does not claim")

        for quiz in pack.quizzes:
            w = f"{p}: quiz {quiz.id!r}"
            self.ident(w, quiz.id)
            self.localized(w, "title", quiz.title, locs)
            if quiz.draw < 1:
                self.error(w, f"draw must be at least 1, got {quiz.draw}")
            elif quiz.draw > len(quiz.questions):
                self.error(w, f"draw {quiz.draw} is more than its {len(quiz.questions)} questions")
            for question in quiz.questions:
                self.question(p, locs, question, area_ids | topic_ids)
            self.fairness(w, quiz)

    def question(
        self, p: str, locs: tuple[str, ...], q: QuizQuestion, valid_areas: set[str]
    ) -> None:
        w = f"{p}: question {q.id!r}"
        self.ident(w, q.id)
        self.cite(w, q)
        if q.area not in valid_areas:
            self.error(w, f"area {q.area!r} is neither an area nor a topic")
        self.localized(w, "text", q.text, locs)
        self.localized(w, "explanation", q.explanation, locs)
        if len(q.options) < MIN_OPTIONS:
            self.error(w, f"has {len(q.options)} option(s); a fair question needs at least "
                       f"{MIN_OPTIONS} (with 3, ruling out one trap leaves a coin toss)")
        option_ids = [o.id for o in q.options]
        for ident, count in Counter(option_ids).items():
            if count > 1:
                self.error(w, f"option id {ident!r} is used {count} times")
        if q.correct not in option_ids:
            self.error(w, f"correct answer {q.correct!r} is not one of its options {option_ids}")
        if q.generous not in option_ids:
            self.error(w, f"generous option {q.generous!r} is not one of its options {option_ids}")
        for opt in q.options:
            self.localized(f"{w} option {opt.id!r}", "text", opt.text, locs, "option")
        for loc in locs:
            if q.text.get(loc):
                rendered = "\n".join(
                    [q.text[loc]]
                    + [f"{i}. {o.text.get(loc, '')}" for i, o in enumerate(q.options, 1)]
                )
                self.sms("question", q.id, loc, rendered)
            if q.explanation.get(loc) and self.citable(q):
                line = source_line(self.library, q, loc, self.gettext_for(loc))
                self.sms("explanation", q.id, loc, f"{q.explanation[loc]}\n{line}")

    def citable(self, item: Cited) -> bool:
        """Whether a source line can be rendered (errors about it are reported apart: the
        citation by ``cite``, a bad source date with the source)."""
        return self.citation_problem(item) is None and _iso_date(self.library.source(item.source).date)

    def fairness(self, where: str, quiz: Quiz) -> None:
        """No fixed way of answering passes: see content.fairness."""
        if not quiz.questions or any(len(q.options) < 2 for q in quiz.questions):
            return
        if any(q.correct not in {o.id for o in q.options} for q in quiz.questions):
            return
        n = min(self.quiz_length, len(quiz.questions))
        for rate in guess_pass_rates(quiz, self.library.locales, n, self.pass_mark):
            self.report.guessers.append(rate)
            if rate.p_pass > MAX_GUESS_PASS:
                self.error(where, f"a guesser who always picks {rate.strategy} passes "
                           f"{rate.p_pass:.1%} of the time (at most {MAX_GUESS_PASS:.0%})")

    def coverage(self) -> None:
        """Every service area should be taught by a topic and tested by the quiz, and
        every source listed should be cited by something."""
        lib = self.library
        cited = {x.source for x in [*lib.areas, *lib.service_types, *lib.lessons, *lib.faq,
                                    *lib.questions]}
        for source in lib.sources:
            if source.id not in cited:
                self.warn(f"source {source.id!r}", "no item cites this source")
        taught = {t.area for t in lib.topics}
        tested = {q.area for q in lib.questions}
        for area in lib.areas:
            if area.id not in taught:
                self.warn(f"area {area.id!r}", "no topic teaches this area")
            if lib.questions and area.id not in tested:
                self.warn(f"area {area.id!r}", "no quiz question covers this area")


def check_library(
    library: Library, gettext_for: GettextFor, *, quiz_length: int = 5, pass_mark: float = 0.8
) -> CheckReport:
    """Check a loaded library; see the module docstring for errors vs warnings.

    ``gettext_for(locale)`` words the source lines the SMS rows count; ``quiz_length``
    and ``pass_mark`` are the service's, for the guesser check."""
    return _Checker(library, gettext_for, quiz_length, pass_mark).run()


def check_path(
    root: Path | None, gettext_for: GettextFor, *, quiz_length: int = 5, pass_mark: float = 0.8
) -> CheckReport:
    """Load and check packs under ``root``; a load failure becomes a report error."""
    try:
        library = load_library(root)
    except ContentError as exc:
        return CheckReport(errors=[str(exc)])
    return check_library(library, gettext_for, quiz_length=quiz_length, pass_mark=pass_mark)
