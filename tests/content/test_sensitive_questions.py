"""Sensitive questions never get a confident wrong answer (issue: an abortion question got
the sex-selection answer, 产检 got the IUD-check answer). Each topic is asked in several
phrasings, in both languages, none of them copied from faq.yaml: the matcher must find
the topic's own entry. 孕检 means prenatal care to some people and the IUD/pregnancy
check to others, so it gets the entry that asks which one they mean."""

from __future__ import annotations

import pytest

from content import FaqMatcher, Library

SENSITIVE: dict[str, dict[str, list[str]]] = {
    "unplanned-pregnancy": {
        "zh_Hans": ["我想流产", "意外怀孕不想要怎么办", "哪里可以打胎", "怀孕了不想要了", "想做人流手术"],
        "en": ["I want an abortion", "how do I end a pregnancy", "where to terminate a pregnancy",
               "I'm pregnant and don't want the baby", "abortion clinic near me"],
    },
    "prenatal-care": {
        "zh_Hans": ["产检收费吗", "孕妇在社区建档要钱吗", "外地人在这边做产检", "产检去哪里做比较好"],
        "en": ["do I pay for prenatal checkups", "antenatal care for migrants",
               "where can a pregnant woman get prenatal care", "prenatal checkups free?"],
    },
    "yunjian-which": {
        "zh_Hans": ["孕检收费吗", "孕检多少钱", "外地人能做孕检吗"],
        "en": ["pregnancy check cost", "is a pregnancy check free here"],
    },
    "maternity-leave": {
        "zh_Hans": ["生完孩子能休几天", "产假怎么算", "外地员工有没有产假", "产假可以休多久"],
        "en": ["how much maternity leave do I get", "days off for having a baby",
               "maternity leave for a migrant worker", "how long is my maternity leave"],
    },
    "child-vaccines": {
        "zh_Hans": ["宝宝疫苗收费吗", "小孩在这边能打预防针吗", "外地小孩打疫苗要钱吗"],
        "en": ["is vaccination free for kids", "where can my baby get shots", "vaccines for my child"],
    },
    "third-child": {
        "zh_Hans": ["我们想要第三个孩子", "三胎可以生吗", "第三胎政策是什么"],
        "en": ["can we have a third baby", "is a third kid allowed", "three children policy"],
    },
    "births-outside-old-rules": {
        "zh_Hans": ["超生罚款还要交吗", "超生的孩子怎么上户口", "社会抚养费取消了吗"],
        "en": ["fine for having too many kids", "is the social maintenance fee still charged",
               "child born over the limit, can they get a hukou"],
    },
}
# Answers a sensitive question must never get: what went wrong before this issue.
NEVER = {
    "unplanned-pregnancy": {"sex-selection"},
    "prenatal-care": {"pregnancy-iud-checkup"},
    "yunjian-which": {"pregnancy-iud-checkup", "prenatal-care"},
}

CASES = [
    pytest.param(entry_id, locale, text, id=f"{entry_id}-{locale}-{i}")
    for entry_id, by_locale in SENSITIVE.items()
    for locale, texts in by_locale.items()
    for i, text in enumerate(texts)
]


def test_phrasings_are_held_out(library: Library) -> None:
    known = {q.casefold() for e in library.faq for qs in e.questions.values() for q in qs}
    for _entry_id, _locale, text in (c.values for c in CASES):
        assert text.casefold() not in known, text


@pytest.mark.parametrize(("entry_id", "locale", "text"), CASES)
def test_sensitive_question_gets_its_own_answer(
    matcher: FaqMatcher, entry_id: str, locale: str, text: str
) -> None:
    match = matcher.match(text, locale)
    ranked = [(m.entry.id, m.score) for m in matcher.rank(text, locale, 3)]
    assert match is not None, ranked
    assert match.entry.id == entry_id, ranked
    assert match.entry.id not in NEVER.get(entry_id, set())


def test_abortion_answer_says_it_is_legal_and_where(library: Library) -> None:
    answer = library.faq_entry("unplanned-pregnancy").answer
    assert "合法" in answer["zh_Hans"] and "legal" in answer["en"]
    assert "医院" in answer["zh_Hans"] and "hospital" in answer["en"]
    # The sex-selection answer no longer reads as a ban on abortion.
    sex = library.faq_entry("sex-selection").answer
    assert "合法" in sex["zh_Hans"] and "legal" in sex["en"]
