"""The shipped packs: load, check clean, cite right, and say what holds today."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest

from content import Library, check_library
from content.cite import SECTION_RE
from content.models import RefStyle

Gettext = Callable[[str], Callable[[str], str]]
AREAS = ["education", "family_planning", "healthy_pregnancy", "reproductive_health", "rewards"]
# Menu order: the pack of today's rules first (directory order), then the 2010 guidance's.
TOPICS = ["births", "mother_child", "unplanned", "leave",
          "education", "family_planning", "healthy_pregnancy", "reproductive_health",
          "rights", "where"]
SERVICE_TYPES = {
    "pregnancy_iud_checkup": "family_planning",
    "pre_pregnancy_check": "healthy_pregnancy",
    "contraceptives": "family_planning",
    "counselling": "reproductive_health",
}
# Every section that exists in 人口流管〔2010〕69号: a citation must point at one of them.
POLICY_CLAUSES = (
    {"一", "二", "三", "四"}
    | {"二(一)", "二(二)", "二(三)"}
    | {f"二(三){n}" for n in (1, 2, 3)}
    | {"三(一)", "三(二)", "三(三)", "三(四)"}
    | {f"三(二){n}" for n in range(1, 6)}
    | {"四(一)", "四(二)", "四(三)", "四(四)"}
)
# How many articles each cited law has (from its text as dated in the pack).
ARTICLES = {"pfpl": 48, "health-law": 110, "mch-law": 39, "vaccine-law": 100,
            "women-workers": 16, "residence-permit": 23, "migrant-fp-regulation": 25}


def cited(library: Library) -> list:  # type: ignore[type-arg]
    return [*library.lessons, *library.faq, *library.questions, *library.areas,
            *library.service_types]


def reads(library: Library, locale: str) -> list[tuple[str, str]]:
    """Every text a person reads in ``locale``, with where it is."""
    out = [(f"lesson {x.id}", x.body[locale]) for x in library.lessons]
    out += [(f"faq {x.id}", x.answer[locale]) for x in library.faq]
    for q in library.questions:
        out += [(f"question {q.id}", q.text[locale]), (f"explanation {q.id}", q.explanation[locale])]
        out += [(f"option {q.id}/{o.id}", o.text[locale]) for o in q.options]
    return out


def test_shipped_packs_check_clean(library: Library, gettext_for: Gettext) -> None:
    report = check_library(library, gettext_for)
    assert report.errors == []
    assert report.warnings == []  # editorial limits (button and SMS lengths) hold too
    assert max(r.segments for r in report.sms if r.kind in ("lesson", "faq")) <= 3


def test_locales(library: Library) -> None:
    assert library.locales == ["zh_Hans", "en"]
    assert library.default_locale == "zh_Hans"


def test_packs(library: Library) -> None:
    assert [p.id for p in library.packs] == ["current", "policy-2010-69"]
    current, seed = library.packs
    assert seed.version == 2
    assert seed.sources[0].doc == "人口流管〔2010〕69号" and seed.sources[0].date == "2010-09-21"
    assert [a.id for a in seed.areas] == AREAS
    assert [a.clause for a in seed.areas] == [f"三(二){n}" for n in range(1, 6)]
    assert {s.id for s in current.sources} == set(ARTICLES) | {"decision-2021"}


def test_service_types(library: Library) -> None:
    assert {s.id: s.area for s in library.service_types} == SERVICE_TYPES
    assert library.service_type("counselling").clause == "三(二)4"


def test_topics_in_menu_order_with_two_to_four_lessons(library: Library) -> None:
    assert [t.id for t in library.topics] == TOPICS
    for topic in library.topics:
        assert 2 <= len(topic.lessons) <= 4, topic.id


def test_every_citation_points_at_something_that_exists(library: Library) -> None:
    for item in cited(library):
        source = library.source(item.source)
        if source.refs is RefStyle.sections:
            assert item.clause in POLICY_CLAUSES and SECTION_RE.match(item.clause), item.id
        elif source.refs is RefStyle.articles:
            assert 1 <= int(item.clause) <= ARTICLES[source.id], item.id
        else:
            assert item.clause is None, item.id


# The items the review found citing the wrong clause, and what they rest on now.
RECITED = {
    "who-is-migrant": ("migrant-fp-regulation", "2"),  # the definition, not section 一
    "rights-other-services": ("guidance-2010-69", "三(二)"),  # the paragraph after item 5
    "insurance-transfer": ("guidance-2010-69", "三(二)"),
    "children-school": ("residence-permit", "12"),
    "settle-in-city": ("decision-2021", None),
    "pregnant-now": ("health-law", "15"),
    "worker-refuses": ("migrant-fp-regulation", "5"),
    "go-back-hometown": ("migrant-fp-regulation", "13"),
    "hp-mother-baby-safety": ("pfpl", "39"),
    "sex-selection": ("pfpl", "39"),
    "privacy-records": ("guidance-2010-69", "三(四)"),
}


@pytest.mark.parametrize("item_id", sorted(RECITED))
def test_recited_items(library: Library, item_id: str) -> None:
    item = next(x for x in cited(library) if x.id == item_id)
    assert (item.source, item.clause) == RECITED[item_id]


def test_nothing_teaches_a_rule_that_ended(library: Library) -> None:
    """Late-marriage leave, rewards for long-acting methods and hukou priority for
    family planning ended in 2015/2021: an item may name them only to say so."""
    gone = re.compile(r"晚婚|晚育|长效|落户.*优先|优先.*落户|marr\w* late|late-marriage|long-acting|priority",
                      re.IGNORECASE)
    ended = re.compile(r"取消|不再|没有|ended|has no|not in today|abolish|No,", re.IGNORECASE)
    for locale in library.locales:
        for where, text in reads(library, locale):
            if gone.search(text) and where.startswith(("lesson", "faq", "explanation")):
                assert ended.search(text), (where, text)
    assert not any(lesson.id.startswith("rewards-long") for lesson in library.lessons)


def test_privacy_and_two_way_answers_name_who_shares(library: Library) -> None:
    for entry_id in ("privacy-records", "moved-again"):
        text = library.faq_entry(entry_id).answer
        assert all(word in text["zh_Hans"] for word in ("公安", "统计", "人社")), entry_id
        assert all(word in text["en"] for word in ("police", "statistics", "human resources"))
    assert "交换您的信息" in library.lesson("rights-two-way").body["zh_Hans"]


def test_entitlements_say_the_rule_is_local(library: Library) -> None:
    local = re.compile("当地|各省|各地|所在省|规定|国家|12320|12333")
    for x in [*library.lessons, *library.faq]:
        text = getattr(x, "body", None) or getattr(x, "answer")
        if "免费" in text["zh_Hans"]:
            assert local.search(text["zh_Hans"]), x.id


def test_one_register_and_plain_english(library: Library) -> None:
    for where, text in reads(library, "zh_Hans"):
        assert "你" not in text, where
    for where, text in reads(library, "en"):
        assert not re.search(r"[\u4e00-\u9fff]", text), where
        assert "local resident" not in text.lower(), where


def test_the_current_pack_covers_what_2010_does_not(library: Library) -> None:
    current = library.packs[0]
    text = " ".join(
        [x.body["zh_Hans"] for t in current.topics for x in t.lessons]
        + [x.answer["zh_Hans"] for x in current.faq]
    )
    for topic in ("三个子女", "社会抚养费", "生育登记", "婚育证明", "产检", "疫苗", "终止妊娠", "保密", "产假"):
        assert topic in text, topic
    for item in [*[x for t in current.topics for x in t.lessons], *current.faq]:
        assert item.source != "guidance-2010-69" or item.id == "leave-surgery", item.id


def test_faq_entries_cover_every_topic(library: Library) -> None:
    assert {e.topic for e in library.faq} == set(TOPICS)
    for entry in library.faq:
        for locale in library.locales:
            assert len(entry.questions[locale]) >= 4, entry.id


def test_quiz_bank(library: Library) -> None:
    quiz = library.quiz("policy-basics")
    per_area = Counter(q.area for q in quiz.questions)
    assert min(per_area.values()) >= 5, per_area
    assert set(AREAS) <= set(per_area)
    for q in quiz.questions:
        assert [o.id for o in q.options] == ["a", "b", "c", "d"], q.id
    # Which letter is right varies in the file too (the bot shuffles them per person).
    spread = Counter(q.correct for q in quiz.questions)
    assert max(spread.values()) <= len(quiz.questions) * 0.8


def test_no_fixed_rule_passes_the_quiz(library: Library, gettext_for: Gettext) -> None:
    report = check_library(library, gettext_for, quiz_length=5, pass_mark=0.8)
    assert len(report.guessers) >= 10
    for rate in report.guessers:
        assert rate.p_pass <= 0.05, rate


def test_lookups(library: Library) -> None:
    assert library.topic("education").title["en"]
    assert library.lesson("fp-checkup").clause == "三(二)2"
    assert library.topic_of("fp-checkup").id == "family_planning"
    assert library.faq_entry("is-it-free").topic == "family_planning"
    assert library.question("q-fp-what-free").area == "family_planning"
    assert library.source("pfpl").refs is RefStyle.articles
    assert library.quizzes[0].id == "policy-basics"
    with pytest.raises(KeyError):
        library.topic("no-such-topic")
    with pytest.raises(KeyError):
        library.source("no-such-source")


def test_t_falls_back_to_first_locale(library: Library) -> None:
    title = library.topic("education").title
    assert library.t(title, "en") == title["en"]
    assert library.t(title, "ug") == title["zh_Hans"]
    assert library.t({"en": "only english"}, "zh_Hans") == "only english"
