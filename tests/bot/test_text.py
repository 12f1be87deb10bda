from __future__ import annotations

import pytest

from bot.text import Keyword, as_number, has_words, keyword, normalize, pick
from bot.contract import Choice


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MENU", Keyword.menu),
        ("  menu. ", Keyword.menu),
        ("ＭＥＮＵ", Keyword.menu),  # full-width
        ("菜单", Keyword.menu),
        ("菜单！", Keyword.menu),
        ("Help", Keyword.help),
        ("帮助", Keyword.help),
        ("lang", Keyword.lang),
        ("语言", Keyword.lang),
        ("STOP", Keyword.stop),
        ("ｓｔｏｐ", Keyword.stop),
        ("退订", Keyword.stop),
        ("TD", Keyword.stop),
        ("td", Keyword.stop),
        ("START", Keyword.start),
        ("订阅", Keyword.start),
        ("stop the quiz", None),
        ("please help", None),
    ],
)
def test_keywords(raw: str, expected: Keyword | None) -> None:
    assert keyword(normalize(raw)) is expected


@pytest.mark.parametrize(("raw", "n"), [("1", 1), ("１", 1), ("2.", 2), ("三", 3), ("10)", 10), ("x", None), ("1 2", None)])
def test_numbers(raw: str, n: int | None) -> None:
    assert as_number(normalize(raw)) == n


def test_has_words() -> None:
    assert has_words(normalize("免费吗"))
    assert has_words(normalize("free?"))
    assert not has_words(normalize("👍🎉"))
    assert not has_words(normalize("!!! ..."))
    assert not has_words("")


def test_pick_by_number_label_or_id() -> None:
    choices = (Choice("lang:zh_Hans", "中文"), Choice("lang:en", "English"))
    assert pick("1", choices) == choices[0]
    assert pick(normalize("ENGLISH"), choices) == choices[1]
    assert pick(normalize("English."), choices) == choices[1]
    assert pick("lang:en", choices) == choices[1]
    assert pick("3", choices) is None
    assert pick("0", choices) is None
    assert pick("français", choices) is None
