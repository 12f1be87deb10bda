"""Language tags and Accept-Language headers to a supported locale."""

from __future__ import annotations

import pytest

from outreach.i18n import accept_language, best_locale, negotiate


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        # Telegram's language_code, browsers' tags, POSIX-style names, in any case.
        ("zh-hans", "zh_Hans"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh_hans_cn", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh", "zh_Hans"),
        # Traditional Chinese has no catalog: Simplified reads better than English.
        ("zh-TW", "zh_Hans"),
        ("zh-hant", "zh_Hans"),
        ("en", "en"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("en-001", "en"),
        ("EN-us", "en"),
        # An extension, an unknown region or a malformed rest still names the language.
        ("en-US-u-ca-gregory", "en"),
        ("en-XY", "en"),
        ("en__US", "en"),
        ("zh-!", "zh_Hans"),
    ],
)
def test_a_tag_finds_its_locale(tag: str, expected: str) -> None:
    assert best_locale([tag]) == expected
    assert negotiate(tag, "default") == expected


@pytest.mark.parametrize("tag", ["fr-FR", "yue", "xx", "*", "123", "-", "!-en", "", " "])
def test_an_unsupported_or_unreadable_tag_falls_back(tag: str) -> None:
    assert best_locale([tag]) is None
    assert negotiate(tag, "default") == "default"


def test_no_tag_is_the_default() -> None:
    assert negotiate(None) == "zh_Hans"
    assert negotiate(None, "en") == "en"
    assert best_locale([]) is None


def test_each_tag_is_tried_whole_before_the_next() -> None:
    # en-GB's language beats a later exact match, as the person asked for English first.
    assert best_locale(["en-GB", "zh-Hans"]) == "en"
    assert best_locale(["fr", "de-CH", "zh-TW", "en"]) == "zh_Hans"
    assert best_locale(["", "nonsense!", "en"]) == "en"


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("en-US,en;q=0.9,zh;q=0.8", ["en-US", "en", "zh"]),
        # Sorted by weight; equal weights keep the header's order.
        ("zh;q=0.5, en;q=0.8, fr", ["fr", "en", "zh"]),
        ("de;q=0.7, fr;q=0.7, en;q=0.7", ["de", "fr", "en"]),
        ("en;q=1.000, zh;q=0.001", ["en", "zh"]),
        # q=0 is "not acceptable"; * says any other will do, which the default covers.
        ("en;q=0, zh", ["zh"]),
        ("*, en;q=0.1", ["en"]),
        ("*;q=0.5", []),
        # Parameter names are case-insensitive; other parameters are ignored.
        ("en;Q=0.2, zh;level=1;q=0.3", ["zh", "en"]),
        # Malformed weights make the range unusable, not the header.
        ("en;q=abc, zh;q=2, fr;q=-1, de;q=0.5555, es;q=nan, it;q=inf, ja;q=0.5", ["ja"]),
        # Whitespace and empty items.
        ("  en-GB ; q=0.8 ,, , zh-CN ", ["zh-CN", "en-GB"]),
        ("", []),
        (",;,;;=", []),
    ],
)
def test_accept_language(header: str, tags: list[str]) -> None:
    assert accept_language(header) == tags


def test_no_header() -> None:
    assert accept_language(None) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
        ("fr-FR, en;q=0.5", "en"),
        ("fr-FR, en;q=0.5, zh-Hans-CN;q=0.6", "zh_Hans"),
        ("en;q=0.1, zh-TW;q=0.2", "zh_Hans"),
        ("en-GB;q=0.9, *;q=1", "en"),
        ("en;q=0, fr", None),
        ("fr-FR", None),
        ("\x00\xff💥;q=;;,,=q", None),
        ("a" * 10_000, None),
    ],
)
def test_a_header_finds_its_locale(header: str, expected: str | None) -> None:
    assert best_locale(accept_language(header)) == expected


def test_a_long_header_is_cut() -> None:
    # Only the first items are read: no amount of junk makes a request slow.
    header = ", ".join(["xx"] * 1000 + ["en"])
    assert accept_language(header) == ["xx"] * 32
    assert best_locale(accept_language(header)) is None
