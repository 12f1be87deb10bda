"""FAQ matcher: held-out paraphrases find their entry; small talk finds nothing."""

from __future__ import annotations

import pytest

from content import FaqMatcher, Library

# Held-out paraphrases: one Chinese and one English per entry, none of them in faq.yaml.
# They are the matcher's test set; do not copy them into faq.yaml (the test would pass
# without the matcher understanding people any better).
HELD_OUT: dict[str, tuple[str, str]] = {
    "who-is-migrant": ("我在外地生活，也算这个政策里说的人吗", "does this policy cover people living away from home"),
    "same-as-locals": ("非本地户籍的人服务是不是一样", "is it the same for people not registered here as for locals"),
    "need-hukou": ("办事一定要户口本吗", "is a hukou book required"),
    "go-back-hometown": ("非得回老家去做吗", "do I need to return to my village for this"),
    "residence-permit": ("在这边住要办居住证吗", "should I apply for a residence permit"),
    "hometown-shares-info": ("这边的信息老家那边能看到吗", "will the people back home see my information"),
    "moved-again": ("如果我换到另一个城市，记录会跟着走吗", "what happens if I relocate to a different city"),
    "worker-refuses": ("社区的人拒绝给我服务", "the staff refused to serve me"),
    "children-school": ("我家孩子在这边能读书吗", "can my daughter attend school in this city"),
    "insurance-transfer": ("老家交的社保能转到这里吗", "can I move my social insurance to this city"),
    "settle-in-city": ("我想把户口落在这个城市", "I want to get a local hukou here"),
    "where-to-go": ("我应该去哪儿办这些", "which place do I visit for services"),
    "one-stop-centre": ("一站式是什么", "what does one-stop mean"),
    "community-worker": ("社区里有管计生的工作人员吗", "is there a family planning worker in my community"),
    "association": ("协会是个什么组织", "tell me about the migrant family planning association"),
    "volunteers": ("志愿者来找我干嘛", "why did a volunteer visit me"),
    "health-talks": ("社区有讲座可以听吗", "are there free classes on reproductive health"),
    "free-materials": ("能不能给我一些宣传册", "do you have brochures I can take"),
    "is-it-free": ("这个收费吗", "does it cost anything"),
    "contraceptives": ("去哪拿免费避孕套", "where do I get free condoms"),
    "pregnancy-iud-checkup": ("查环是查什么的", "what happens at the IUD checkup"),
    "book-checkup": ("帮我约一个检查", "I'd like to book a check"),
    "unmarried": ("我还没结婚，可以享受吗", "can an unmarried woman get these services"),
    "men": ("男人能享受这些服务吗", "what services are there for men"),
    "pre-pregnancy-check": ("备孕要做检查吗", "should I have a check before trying to get pregnant"),
    "planning-baby-advice": ("想要宝宝，找谁咨询", "who gives advice to couples planning a baby"),
    "birth-defects": ("怎么避免孩子有出生缺陷", "how can I avoid birth defects"),
    "early-education": ("有没有婴儿早教活动", "early learning classes for toddlers"),
    "sex-selection": ("做B超能告诉我是男是女吗", "can I find out the sex of my baby"),
    "pregnant-now": ("我刚怀孕，需要做什么", "I am pregnant now, what do I do"),
    "rh-counselling": ("生殖健康方面的问题可以问谁", "who can advise me on reproductive health"),
    "follow-up": ("为什么做完手术还有人打电话来", "why did someone call me after my visit"),
    "privacy-records": ("我的档案别人能看到吗", "are my records kept private"),
    "real-name-registration": ("生孩子要实名登记吗", "do I have to register my real name for giving birth"),
    "contraception-rewards": ("长效避孕能拿奖励吗", "do couples get a reward for long-acting contraception"),
    "leave-after-surgery": ("做了节育手术有几天假", "how much time off after a family planning operation"),
    "late-marriage-leave": ("晚婚能多放假吗", "is there extra leave for late marriage"),
}

NONSENSE = ("asdf qwer", "今天天气怎么样", "what is the price of bitcoin", "", "   ", "？？？", "12345")

CASES = [
    pytest.param(entry_id, locale, text, id=f"{entry_id}-{locale}")
    for entry_id, (zh, en) in HELD_OUT.items()
    for locale, text in (("zh_Hans", zh), ("en", en))
]


def test_held_out_set_is_really_held_out(library: Library) -> None:
    assert len(HELD_OUT) >= 20
    known = {q.casefold() for e in library.faq for qs in e.questions.values() for q in qs}
    for entry_id, texts in HELD_OUT.items():
        library.faq_entry(entry_id)  # the entry exists
        for text in texts:
            assert text.casefold() not in known, text


@pytest.mark.parametrize(("entry_id", "locale", "text"), CASES)
def test_held_out_paraphrase_ranks_its_entry_first(
    matcher: FaqMatcher, entry_id: str, locale: str, text: str
) -> None:
    ranked = matcher.rank(text, locale, 3)
    assert ranked, text
    assert ranked[0].entry.id == entry_id, [(m.entry.id, m.score) for m in ranked]


def test_threshold_accepts_most_held_out_paraphrases(matcher: FaqMatcher) -> None:
    """The threshold must not be so high that real questions go unanswered."""
    cases = [
        (entry_id, locale, text)
        for entry_id, (zh, en) in HELD_OUT.items()
        for locale, text in (("zh_Hans", zh), ("en", en))
    ]
    hits = sum(
        (m := matcher.match(text, locale)) is not None and m.entry.id == entry_id
        for entry_id, locale, text in cases
    )
    assert hits / len(cases) >= 0.9


@pytest.mark.parametrize("text", NONSENSE)
def test_nonsense_matches_nothing(matcher: FaqMatcher, text: str) -> None:
    assert matcher.match(text, "en") is None
    assert matcher.match(text, "zh_Hans") is None


def test_matches_across_languages(matcher: FaqMatcher) -> None:
    """A Chinese question while the interface is English (and the reverse) still works."""
    zh, en = HELD_OUT["contraceptives"]
    assert (m := matcher.match(zh, "en")) is not None and m.entry.id == "contraceptives"
    assert (m := matcher.match(en, "zh_Hans")) is not None and m.entry.id == "contraceptives"


def test_known_phrasings_match_their_own_entry(library: Library, matcher: FaqMatcher) -> None:
    total = hits = 0
    for entry in library.faq:
        for locale, phrasings in entry.questions.items():
            for text in phrasings:
                total += 1
                match = matcher.match(text, locale)
                hits += match is not None and match.entry.id == entry.id
    assert hits / total >= 0.95


def test_normalisation_full_width_case_and_punctuation(matcher: FaqMatcher) -> None:
    plain = matcher.rank("is it free", "en", 1)[0]
    noisy = matcher.rank("  IS IT FREE??!  ", "en", 1)[0]
    wide = matcher.rank("ＩＳ ＩＴ ＦＲＥＥ？", "en", 1)[0]
    assert plain.entry.id == noisy.entry.id == wide.entry.id == "is-it-free"
    assert plain.score == noisy.score == wide.score


def test_rank_is_ordered_unique_and_bounded(matcher: FaqMatcher) -> None:
    ranked = matcher.rank("免费孕检在哪里做", "zh_Hans", 5)
    assert 1 <= len(ranked) <= 5
    assert len({m.entry.id for m in ranked}) == len(ranked)
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
    assert matcher.rank("asdf qwer", "en", 5) == []


def test_threshold_is_adjustable(library: Library) -> None:
    lenient = FaqMatcher(library, threshold=0.0)
    strict = FaqMatcher(library, threshold=1.01)
    assert lenient.match("free condoms", "en") is not None
    assert strict.match("is it free", "en") is None
    assert 0 < FaqMatcher(library).threshold < 1
