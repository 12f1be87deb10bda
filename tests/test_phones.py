"""Phone numbers: E.164 normalisation and masking for logs (outreach.phones)."""

from __future__ import annotations

import pytest

from outreach.phones import InvalidPhoneNumber, mask, normalize


@pytest.mark.parametrize(
    "raw",
    [
        "+8613812345678",  # Twilio's E.164, unchanged
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "+86 (138) 1234-5678",
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "008613812345678",
        "0086 138 1234 5678",
        "１３８１２３４５６７８",  # full-width digits from a Chinese keyboard
        "＋８６　１３８－１２３４－５６７８",  # full-width plus, ideographic space, dash
        "（１３８）１２３４５６７８",
        "  13812345678\n",
    ],
)
def test_normalize_chinese_mobile(raw: str) -> None:
    assert normalize(raw) == "+8613812345678"


def test_normalize_chinese_landline() -> None:
    assert normalize("(010) 6512-3456") == "+861065123456"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-2671", "CN", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("07911 123456", "GB", "+447911123456"),
        ("+8613812345678", "US", "+8613812345678"),
        ("13812345678", "cn", "+8613812345678"),
    ],
)
def test_normalize_other_regions(raw: str, region: str, expected: str) -> None:
    assert normalize(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not a phone number"),
        ("call 13812345678", "not a phone number"),
        ("+", "not a phone number"),
        ("138-1234-5678 ext. 9", "not a phone number"),
        ("138", "too short"),
        ("12345", "too short"),
        ("+86 138 1234", "not a valid number for region CN"),
        ("+86 100 0000 0000", "not a valid number for region CN"),
        ("1381234567890123456789", "too long"),
        ("+999 1234 5678", "unknown country calling code"),
    ],
)
def test_normalize_rejects(raw: str, why: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=why) as info:
        normalize(raw)
    assert isinstance(info.value, ValueError)
    assert info.value.raw == raw
    assert why in info.value.reason


def test_normalize_unknown_default_region() -> None:
    with pytest.raises(InvalidPhoneNumber, match="unknown default region 'XX'"):
        normalize("13812345678", "XX")


def test_invalid_number_message_names_the_input_masked() -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize("+86 138 1234")
    message = str(info.value)
    assert "'**********34'" in message  # which input, without the number itself
    assert "1381234" not in message.replace(" ", "")


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613812345678", "+86*********78"),
        ("+14155552671", "+1********71"),
        ("+447911123456", "+44********56"),
        ("+85291234567", "+852******67"),  # 3-digit country code (Hong Kong)
        ("+8612", "+86**"),
    ],
)
def test_mask_e164(e164: str, masked: str) -> None:
    assert mask(e164) == masked
    assert len(mask(e164)) == len(e164)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "*********78"),
        ("+86 138 1234 5678", "***************78"),
        ("+999123456", "********56"),  # no such country code
        ("ab", "ab"),
        ("", ""),
    ],
)
def test_mask_anything_else_keeps_last_two_characters(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_mask_never_raises() -> None:
    assert mask(None) == "**ne"  # type: ignore[arg-type]
    assert mask(13812345678) == "*********78"  # type: ignore[arg-type]


def test_mask_of_normalized_number() -> None:
    assert mask(normalize("138 1234 5678")) == "+86*********78"
