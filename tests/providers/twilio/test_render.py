"""Bot replies rendered and split for SMS (outreach.providers.twilio.render)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.contract import Choice, Reply
from content import segments
from outreach.providers.twilio.render import SmsPart, render, sms_parts, split


def squeeze(text: str) -> str:
    """The text without any whitespace: what splitting must preserve, in order."""
    return "".join(text.split())


def assert_valid_split(text: str, parts: list[str], max_segments: int) -> None:
    assert all(parts), parts
    assert all(part == part.strip() for part in parts)
    assert all(segments(part).segments <= max_segments for part in parts), [
        segments(part) for part in parts
    ]
    assert squeeze("".join(parts)) == squeeze(text)


# --- render ---------------------------------------------------------------------------


def test_render_numbers_choices_after_a_blank_line() -> None:
    reply = Reply(
        "你在哪个城市？",
        (Choice("bj", "北京"), Choice("sh", "上海"), Choice("gz", "广州")),
    )
    assert render(reply) == "你在哪个城市？\n\n1. 北京\n2. 上海\n3. 广州"


def test_render_english_choices() -> None:
    reply = Reply("Do you agree?  \n", (Choice("yes", "Yes"), Choice("no", "No")))
    assert render(reply) == "Do you agree?\n\n1. Yes\n2. No"


def test_render_without_choices_is_the_text() -> None:
    assert render(Reply("Free checkups for everyone.")) == "Free checkups for everyone."


def test_render_keeps_each_choice_on_one_line() -> None:
    reply = Reply("Pick one", (Choice("a", "Community\nhealth  centre"),))
    assert render(reply) == "Pick one\n\n1. Community health centre"


def test_render_choices_without_text() -> None:
    assert render(Reply("", (Choice("a", "A"), Choice("b", "B")))) == "1. A\n2. B"


# --- split: texts that fit ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Hello", "  你好，欢迎！\n", "a" * 459, "中" * 201, "Line one\n\nLine two"],
)
def test_text_that_fits_is_one_part(text: str) -> None:
    assert split(text) == [text.strip()]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_blank_text_gives_no_parts(text: str) -> None:
    assert split(text) == []


# --- split: where it cuts -------------------------------------------------------------


def chinese_lesson(length: int = 600) -> str:
    sentences = [
        "社区卫生服务中心为流动人口提供免费的基本公共卫生服务。",
        "六十五岁以上的老人每年可以免费体检一次！",
        "孩子的疫苗是免费的，请带上预防接种证；",
        "孕妇可以享受免费的产前检查，包括血常规和超声检查。",
        "您需要带身份证或居住证吗？",
        "如果有问题，可以拨打十二三二零咨询热线。",
    ]
    text = ""
    i = 0
    while len(text) < length:
        text += sentences[i % len(sentences)]
        i += 1
    text = text[:length]
    assert len(text) == length
    return text


def test_chinese_lesson_splits_into_parts_of_three_ucs2_segments() -> None:
    lesson = chinese_lesson(600)
    parts = split(lesson, max_segments=3)
    assert_valid_split(lesson, parts, 3)
    assert "".join(parts) == lesson  # no whitespace in Chinese: nothing lost at all
    for part in parts:
        info = segments(part)
        assert info.encoding == "UCS-2"
        assert info.chars <= 201
    # Cut at sentence ends, and greedy: 600 characters need at least 3 parts, 4 at most.
    assert 3 <= len(parts) <= 4
    for part in parts[:-1]:
        assert part[-1] in "。！？；"
        assert len(part) > 201 // 2


def test_english_with_one_emoji_becomes_ucs2() -> None:
    text = (
        "Free health checkups are available at your community health centre. "
        "Bring your ID card or residence permit. "
        "Children under six get free vaccines. "
        "Call 12320 if you have questions about any of these services. "
        "We are happy to help 😀 See you soon."
    )
    assert segments(text).encoding == "UCS-2"
    assert segments(text).segments > 3  # as GSM-7 it would fit in 2
    assert segments(text.replace(" 😀", "")).segments == 2
    parts = sms_parts(Reply(text), max_segments=3)
    assert len(parts) == 2
    assert_valid_split(text, [p.text for p in parts], 3)
    with_emoji = [p for p in parts if "😀" in p.text]
    assert len(with_emoji) == 1 and with_emoji[0].encoding == "UCS-2"
    # The part without the emoji is plain GSM-7 again.
    assert [p.encoding for p in parts if "😀" not in p.text] == ["GSM-7"]
    for part in parts:
        assert part.text.endswith((".", "😀")) or part.text.endswith("soon.")


def test_paragraph_break_is_preferred() -> None:
    first = "Community health centres offer free checkups. " * 3
    second = "Vaccines for children are free. Bring the vaccination booklet. " * 2
    text = f"{first.strip()}\n\n{second.strip()}"
    assert segments(text).segments == 2
    # A space or sentence end could fill the first part closer to 160 characters.
    assert split(text, max_segments=1) == [first.strip(), second.strip()]


def test_line_break_is_preferred_over_sentence_end() -> None:
    lines = [f"Line {i}: one sentence. And another one here." for i in range(8)]
    text = "\n".join(lines)
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    for part in parts:
        assert all(line in lines for line in part.split("\n"))


def test_sentence_keeps_its_closing_quote() -> None:
    text = 'The doctor said "Come back next week." ' + "Then bring your results. " * 8
    parts = split(text.strip(), max_segments=1)
    assert_valid_split(text, parts, 1)
    assert all(not part.startswith('"') for part in parts)
    assert parts[0].startswith('The doctor said "Come back next week."')


def test_chinese_sentence_keeps_its_closing_quote() -> None:
    text = "医生说：“下周再来。”" + "请带上检查结果。" * 20
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    assert all(not part.startswith("”") for part in parts)
    assert all(part.endswith(("。", "。”")) for part in parts)


def test_latin_text_without_punctuation_breaks_between_words() -> None:
    words = [f"word{i}" for i in range(120)]
    text = " ".join(words)
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    assert [w for part in parts for w in part.split()] == words
    assert all(len(part) > 80 for part in parts[:-1])  # greedy, not tiny parts


def test_chinese_clause_mark_before_hard_cut() -> None:
    text = "，".join(["免费体检服务" * 3] * 8)
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    assert all(part.endswith("，") for part in parts[:-1])


def test_hard_cut_when_there_is_no_break() -> None:
    assert split("a" * 400, max_segments=1) == ["a" * 160, "a" * 160, "a" * 80]
    assert split("中" * 150, max_segments=1) == ["中" * 70, "中" * 70, "中" * 10]
    assert split("a" * 1000, max_segments=3) == ["a" * 459, "a" * 459, "a" * 82]


def test_hard_cut_keeps_combining_marks_with_their_letter() -> None:
    text = "e\u0301" * 100  # é as e + COMBINING ACUTE ACCENT: UCS-2, 200 units
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    for part in parts:
        assert part[0] == "e" and part[-1] == "\u0301"
        assert unicodedata.combining(part[0]) == 0


@pytest.mark.parametrize(
    "unit",
    [
        "🇨🇳",  # a flag: two regional indicators
        "👨\u200d👩\u200d👧",  # a family: emoji joined by ZERO WIDTH JOINER
        "👍🏽",  # with a skin tone modifier
    ],
)
def test_hard_cut_keeps_emoji_sequences_whole(unit: str) -> None:
    text = unit * 40
    parts = split(text, max_segments=1)
    assert len(parts) > 1
    assert_valid_split(text, parts, 1)
    for part in parts:
        assert part == unit * (len(part) // len(unit))


def test_hard_cut_never_splits_a_surrogate_pair() -> None:
    # A str holding UTF-16 surrogates (decoded with 'surrogatepass'): each counts 1 unit.
    pair = "\ud83d\ude00"
    parts = split(pair * 50, max_segments=1)
    assert [len(p) for p in parts] == [70, 30]
    assert all(p == pair * (len(p) // 2) for p in parts)


def test_numbered_list_stays_whole_when_it_fits() -> None:
    reply = Reply(
        "Which health service would you like to learn about first? Reply with a number.",
        tuple(Choice(str(i), f"Service number {i}") for i in range(1, 6)),
    )
    text = render(reply)
    assert segments(text).segments == 2
    parts = split(text, max_segments=1)
    assert parts == [reply.text, "\n".join(f"{i}. Service number {i}" for i in range(1, 6))]


def test_numbered_list_too_long_for_one_part_is_cut_between_choices() -> None:
    reply = Reply(
        "请选择你的城市：",
        tuple(Choice(str(i), f"城市{i}号 很长很长的名字") for i in range(1, 13)),
    )
    parts = sms_parts(reply, max_segments=1)
    assert len(parts) > 1
    assert_valid_split(render(reply), [p.text for p in parts], 1)
    numbered = re.compile(r"\d+\. 城市\d+号 很长很长的名字")
    lines = [line for p in parts for line in p.text.split("\n") if line and line != reply.text]
    assert len(lines) == 12 and all(numbered.fullmatch(line) for line in lines)


def test_max_segments_one() -> None:
    text = chinese_lesson(300) + "\n\nFree checkups for migrants. " * 10
    parts = split(text, max_segments=1)
    assert_valid_split(text, parts, 1)
    assert all(segments(p).segments == 1 for p in parts)


# --- sms_parts ------------------------------------------------------------------------


def test_sms_parts_carry_encoding_and_segments() -> None:
    reply = Reply("你好！" + "欢迎使用健康服务。" * 30, (Choice("y", "好的"), Choice("n", "不用了")))
    parts = sms_parts(reply)
    assert len(parts) >= 2
    for part in parts:
        info = segments(part.text)
        assert part == SmsPart(part.text, info.encoding, info.segments)
        assert part.segments <= 3
    assert parts[-1].text.endswith("1. 好的\n2. 不用了")


def test_sms_parts_short_reply_is_one_gsm_part() -> None:
    assert sms_parts(Reply("Reply STOP to opt out.")) == [
        SmsPart("Reply STOP to opt out.", "GSM-7", 1)
    ]


def test_sms_parts_empty_reply_sends_nothing() -> None:
    assert sms_parts(Reply("  ")) == []


def test_sms_part_is_frozen() -> None:
    part = SmsPart("hi", "GSM-7", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        part.text = "bye"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_invalid_max_segments(bad: object) -> None:
    with pytest.raises(ValueError, match="max_segments must be an integer >= 1"):
        split("hello", max_segments=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_segments"):
        sms_parts(Reply("hello"), max_segments=bad)  # type: ignore[arg-type]


# --- property -------------------------------------------------------------------------

# Words, list lines and the characters splitting has to be careful with: spaces and line
# breaks, sentence marks, closing quotes, GSM extension characters, Chinese, emoji with
# modifiers and joiners, flags, combining accents, CRLF.
_PIECES = st.sampled_from(
    [
        "free", "checkup", "42", " ", "  ", "\n", "\n\n", "\t", ". ", "! ", "? ", ", ",
        '"', ")", "€", "免费体检", "。", "！", "？", "；", "，", "”", "😀", "🇨🇳",
        "👍🏽", "\u200d", "e\u0301", "\n1. Yes", "\n2. 不是", "\r\n",
    ]
)
_ALPHABET = "aZ1 \n\t.!?,;:'\")]€^中文。！？；，、：”」😀🇨🇳🏽\u200d\u0301\ufe0f\r"
_TEXTS = st.one_of(
    st.lists(_PIECES, max_size=150).map("".join),
    st.text(alphabet=_ALPHABET, min_size=200, max_size=1000),  # long: splits, fast to draw
    st.text(max_size=400),
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(text=_TEXTS, max_segments=st.integers(min_value=1, max_value=4))
def test_split_property(text: str, max_segments: int) -> None:
    parts = split(text, max_segments)
    assert_valid_split(text, parts, max_segments)
    if not text.strip():
        assert parts == []
    elif segments(text.strip()).segments <= max_segments:
        assert parts == [text.strip()]
    else:
        assert len(parts) >= 2
