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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from content.loader import ContentError, load_library
from content.models import Library, Pack, QuizQuestion
from content.sms import Encoding, segments

CLAUSE_RE = re.compile(r"^[一二三四五六七八九十]+(\([一二三四五六七八九十]+\)(\d+)?)?$")
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
_CJK_PREFIXES = ("zh", "ja", "ko")
MIN_PHRASINGS = 4
LESSONS_PER_TOPIC = (2, 4)


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

    @property
    def ok(self) -> bool:
        return not self.errors


def _limit(kind: str, locale: str) -> int:
    cjk, other = _LIMITS[kind]
    return cjk if locale.startswith(_CJK_PREFIXES) else other


class _Checker:
    def __init__(self, library: Library) -> None:
        self.library = library
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
            elif limit and len(value[loc].strip()) > _limit(limit, loc):
                self.warn(
                    where,
                    f"{name}.{loc} is {len(value[loc].strip())} characters, "
                    f"over the {_limit(limit, loc)} allowed for a {limit}",
                )
        for loc in value:
            if loc not in claimed:
                self.warn(where, f"{name} has locale {loc!r} that the pack does not claim")

    def clause(self, where: str, clause: str) -> None:
        if not CLAUSE_RE.match(clause):
            self.error(where, f"clause {clause!r} is not a clause reference like 三(二)2")

    def ident(self, where: str, ident: str) -> None:
        if not ID_RE.match(ident):
            self.error(where, f"id {ident!r} must be 1-48 of a-z, 0-9, '-' or '_'")

    def sms(self, kind: str, ident: str, locale: str, message: str) -> None:
        info = segments(message)
        self.report.sms.append(
            SmsRow(kind, ident, locale, info.chars, info.encoding, info.segments)
        )

    # -- checks --------------------------------------------------------------------
    def run(self) -> CheckReport:
        lib = self.library
        self.duplicates("pack", [p.id for p in lib.packs])
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
        self.localized(p, "source.title", pack.source.title, locs)

        for area in pack.areas:
            w = f"{p}: area {area.id!r}"
            self.ident(w, area.id)
            self.clause(w, area.clause)
            self.localized(w, "title", area.title, locs)

        for st in pack.service_types:
            w = f"{p}: service type {st.id!r}"
            self.ident(w, st.id)
            self.clause(w, st.clause)
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
                self.clause(lw, lesson.clause)
                self.localized(lw, "title", lesson.title, locs, "label")
                self.localized(lw, "body", lesson.body, locs, "lesson")
                for loc in locs:
                    if lesson.body.get(loc):
                        self.sms("lesson", lesson.id, loc, lesson.body[loc])

        for entry in pack.faq:
            w = f"{p}: faq {entry.id!r}"
            self.ident(w, entry.id)
            self.clause(w, entry.clause)
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
                if entry.answer.get(loc):
                    self.sms("faq", entry.id, loc, entry.answer[loc])
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

    def question(
        self, p: str, locs: tuple[str, ...], q: QuizQuestion, valid_areas: set[str]
    ) -> None:
        w = f"{p}: question {q.id!r}"
        self.ident(w, q.id)
        self.clause(w, q.clause)
        if q.area not in valid_areas:
            self.error(w, f"area {q.area!r} is neither an area nor a topic")
        self.localized(w, "text", q.text, locs)
        self.localized(w, "explanation", q.explanation, locs)
        if len(q.options) < 2:
            self.error(w, f"has {len(q.options)} option(s); a question needs at least 2")
        option_ids = [o.id for o in q.options]
        for ident, count in Counter(option_ids).items():
            if count > 1:
                self.error(w, f"option id {ident!r} is used {count} times")
        if q.correct not in option_ids:
            self.error(w, f"correct answer {q.correct!r} is not one of its options {option_ids}")
        for opt in q.options:
            self.localized(f"{w} option {opt.id!r}", "text", opt.text, locs, "option")
        for loc in locs:
            if q.text.get(loc):
                rendered = "\n".join(
                    [q.text[loc]]
                    + [f"{i}. {o.text.get(loc, '')}" for i, o in enumerate(q.options, 1)]
                )
                self.sms("question", q.id, loc, rendered)
            if q.explanation.get(loc):
                self.sms("explanation", q.id, loc, q.explanation[loc])

    def coverage(self) -> None:
        """Every service area should be taught by a topic and tested by the quiz."""
        lib = self.library
        taught = {t.area for t in lib.topics}
        tested = {q.area for q in lib.questions}
        for area in lib.areas:
            if area.id not in taught:
                self.warn(f"area {area.id!r}", "no topic teaches this area")
            if lib.questions and area.id not in tested:
                self.warn(f"area {area.id!r}", "no quiz question covers this area")


def check_library(library: Library) -> CheckReport:
    """Check a loaded library; see the module docstring for errors vs warnings."""
    return _Checker(library).run()


def check_path(root: Path | None = None) -> CheckReport:
    """Load and check packs under ``root``; a load failure becomes a report error."""
    try:
        library = load_library(root)
    except ContentError as exc:
        return CheckReport(errors=[str(exc)])
    return check_library(library)
