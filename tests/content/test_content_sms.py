"""SMS encoding and segment counts (GSM 03.38 / UCS-2)."""

from __future__ import annotations

import pytest

from content import segments
from content.sms import GSM7_BASIC, GSM7_EXTENSION, SmsInfo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsInfo("GSM-7", 0, 0)),
        ("a" * 160, SmsInfo("GSM-7", 160, 1)),
        ("a" * 161, SmsInfo("GSM-7", 161, 2)),
        ("a" * 153 * 2, SmsInfo("GSM-7", 306, 2)),
        ("a" * (153 * 2 + 1), SmsInfo("GSM-7", 307, 3)),
        ("中" * 70, SmsInfo("UCS-2", 70, 1)),
        ("中" * 71, SmsInfo("UCS-2", 71, 2)),
        ("中" * 67 * 2, SmsInfo("UCS-2", 134, 2)),
        ("中" * (67 * 2 + 1), SmsInfo("UCS-2", 135, 3)),
        ("€", SmsInfo("GSM-7", 2, 1)),
        ("😀", SmsInfo("UCS-2", 2, 1)),
    ],
)
def test_known_values(text: str, expected: SmsInfo) -> None:
    assert segments(text) == expected


def test_extension_characters_count_two_septets() -> None:
    for ch in "^{}\\[~]|€\f":
        assert segments(ch) == SmsInfo("GSM-7", 2, 1), repr(ch)
    assert segments("a" * 158 + "€") == SmsInfo("GSM-7", 160, 1)
    assert segments("a" * 159 + "€") == SmsInfo("GSM-7", 161, 2)


def test_escape_pair_is_never_split_across_parts() -> None:
    # 152 septets then '€' (2) would straddle the 153 boundary: it moves to part 2.
    assert segments("a" * 152 + "€" + "a" * 152).segments == 3
    assert segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_emoji_counts_two_utf16_units_and_is_not_split() -> None:
    assert segments("😀" * 35) == SmsInfo("UCS-2", 70, 1)
    assert segments("😀" * 36) == SmsInfo("UCS-2", 72, 2)
    assert segments("a" * 66 + "😀" + "a" * 66).segments == 3  # the pair cannot straddle 67


def test_one_non_gsm_character_switches_everything_to_ucs2() -> None:
    assert segments("a" * 100 + "中") == SmsInfo("UCS-2", 101, 2)
    # lower-case ç is not in the GSM basic set (only Ç is), nor is the backtick
    assert segments("ça").encoding == "UCS-2"
    assert segments("`").encoding == "UCS-2"


def test_gsm_basic_charset_is_exact() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes minus ESC
    assert len(GSM7_EXTENSION) == 10
    for ch in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r":
        assert ch in GSM7_BASIC, repr(ch)
    for ch in "[]{}^~|\\€`çÀ":
        assert ch not in GSM7_BASIC, repr(ch)
    assert segments("Hello @ £5, ¿qué tal? Ñoño!").encoding == "GSM-7"
    assert segments("ú").encoding == "UCS-2"  # ù is GSM, ú is not
