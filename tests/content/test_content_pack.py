"""The shipped policy pack: loads, checks clean, and covers what the product promises."""

from __future__ import annotations

from collections import Counter

import pytest

from content import Library, check_library, load_library
from content.check import CLAUSE_RE

AREAS = ["education", "family_planning", "healthy_pregnancy", "reproductive_health", "rewards"]
TOPICS = AREAS + ["rights", "where"]
SERVICE_TYPES = {
    "pregnancy_iud_checkup": "family_planning",
    "pre_pregnancy_check": "healthy_pregnancy",
    "contraceptives": "family_planning",
    "counselling": "reproductive_health",
}
# Every clause that exists in 人口流管〔2010〕69号: a citation must point at one of them.
POLICY_CLAUSES = (
    {"一", "二", "三", "四"}
    | {"二(一)", "二(二)", "二(三)"}
    | {f"二(三){n}" for n in (1, 2, 3)}
    | {"三(一)", "三(二)", "三(三)", "三(四)"}
    | {f"三(二){n}" for n in range(1, 6)}
    | {"四(一)", "四(二)", "四(三)", "四(四)"}
)


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library()


def test_shipped_packs_check_clean(library: Library) -> None:
    report = check_library(library)
    assert report.errors == []
    assert report.warnings == []  # editorial limits (button and SMS lengths) hold too
    assert report.ok


def test_locales(library: Library) -> None:
    assert library.locales == ["zh_Hans", "en"]
    assert library.default_locale == "zh_Hans"


def test_pack_metadata(library: Library) -> None:
    (pack,) = library.packs
    assert pack.id == "policy-2010-69"
    assert pack.version == 1
    assert pack.source.doc == "人口流管〔2010〕69号"
    assert pack.source.date == "2010-09-21"
    assert [a.id for a in pack.areas] == AREAS
    assert [a.clause for a in pack.areas] == [f"三(二){n}" for n in range(1, 6)]


def test_service_types(library: Library) -> None:
    assert {s.id: s.area for s in library.service_types} == SERVICE_TYPES
    assert library.service_type("counselling").clause == "三(二)4"


def test_topics_in_menu_order_with_two_to_four_lessons(library: Library) -> None:
    assert [t.id for t in library.topics] == TOPICS
    for topic in library.topics:
        assert topic.area == (topic.id if topic.id in AREAS else None)
        assert 2 <= len(topic.lessons) <= 4, topic.id


def test_rights_and_where_cite_their_clauses(library: Library) -> None:
    rights = {lesson.clause for lesson in library.topic("rights").lessons}
    assert {"一", "三(一)", "三(二)5", "四(三)"} <= rights
    assert {lesson.clause for lesson in library.topic("where").lessons} == {"三(三)"}


def test_counts(library: Library) -> None:
    assert len(library.faq) >= 30
    assert len(library.questions) >= 12
    per_area = Counter(q.area for q in library.questions)
    for area in AREAS:
        assert per_area[area] >= 2, area
    assert per_area["rights"] >= 1 and per_area["where"] >= 1


def test_every_citation_is_a_real_clause(library: Library) -> None:
    cited = (
        [(f"lesson {x.id}", x.clause) for x in library.lessons]
        + [(f"faq {x.id}", x.clause) for x in library.faq]
        + [(f"question {x.id}", x.clause) for x in library.questions]
        + [(f"area {x.id}", x.clause) for x in library.areas]
        + [(f"service type {x.id}", x.clause) for x in library.service_types]
    )
    for what, clause in cited:
        assert CLAUSE_RE.match(clause), what
        assert clause in POLICY_CLAUSES, what


def test_lessons_cite_their_area_clause(library: Library) -> None:
    for topic in library.topics:
        if topic.area:
            area_clause = library.area(topic.area).clause
            assert all(lesson.clause == area_clause for lesson in topic.lessons), topic.id


def test_faq_entries_cover_every_topic(library: Library) -> None:
    assert {e.topic for e in library.faq} == set(TOPICS)
    for entry in library.faq:
        for locale in library.locales:
            assert len(entry.questions[locale]) >= 4, entry.id


def test_quiz_shape(library: Library) -> None:
    quiz = library.quiz("policy-basics")
    assert quiz.draw == 5
    for q in quiz.questions:
        assert [o.id for o in q.options] == ["a", "b", "c"]
        assert q.option(q.correct).id == q.correct
    # The right answer must not always sit in the same place.
    spread = Counter(q.correct for q in quiz.questions)
    assert set(spread) == {"a", "b", "c"}
    assert max(spread.values()) <= len(quiz.questions) // 2


def test_lookups(library: Library) -> None:
    assert library.topic("education").title["en"]
    assert library.lesson("fp-checkup").clause == "三(二)2"
    assert library.topic_of("fp-checkup").id == "family_planning"
    assert library.faq_entry("is-it-free").topic == "family_planning"
    assert library.question("q-free-checkup").area == "family_planning"
    assert library.quizzes[0].id == "policy-basics"
    with pytest.raises(KeyError):
        library.topic("no-such-topic")
    with pytest.raises(KeyError):
        library.question("no-such-question")


def test_t_falls_back_to_first_locale(library: Library) -> None:
    title = library.topic("education").title
    assert library.t(title, "en") == title["en"]
    assert library.t(title, "ug") == title["zh_Hans"]
    assert library.t({"en": "only english"}, "zh_Hans") == "only english"


def test_default_root_is_the_packs_directory() -> None:
    assert [p.id for p in load_library().packs] == ["policy-2010-69"]
