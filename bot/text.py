"""Reading what people type: normalisation, keywords, picking a choice."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from bot.contract import Choice


class Keyword(StrEnum):
    menu = "menu"  # back to the main menu
    help = "help"  # who we are and what to send
    lang = "lang"  # change language
    stop = "stop"  # opt out of everything
    start = "start"  # opt back in
    book = "book"  # book a free service


# Whole-message keywords, compared after normalisation (NFKC folds full-width letters).
# The opt-out and opt-in words include the carriers' standard ones, which Twilio also acts
# on for long codes: people use them on any channel.
KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("menu", "菜单"), Keyword.menu),
    **dict.fromkeys(("help", "info", "帮助"), Keyword.help),
    **dict.fromkeys(("lang", "language", "语言"), Keyword.lang),
    **dict.fromkeys(
        ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "退订", "td", "取消订阅"),
        Keyword.stop,
    ),
    **dict.fromkeys(("start", "yes", "unstop", "订阅"), Keyword.start),
    **dict.fromkeys(("book", "预约"), Keyword.book),
}
# Opt back in only after an opt-out; otherwise they are ordinary answers ("yes" to consent).
OPT_IN_ONLY = frozenset({"yes"})

# Chinese characters: someone who writes them reads Chinese.
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TRAILING = re.compile(r"[\s.!?,;:。！？，；：~～]+$")
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"^(\d{1,3})[.)、]?$")
_ZH_NUMERALS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, single spaces, no trailing punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return _TRAILING.sub("", _SPACES.sub(" ", folded))


def keyword(norm: str) -> Keyword | None:
    return KEYWORDS.get(norm)


def has_words(norm: str) -> bool:
    """True when the text has at least one letter or CJK character (not only emoji/symbols)."""
    return any(unicodedata.category(ch).startswith("L") for ch in norm)


def as_number(norm: str) -> int | None:
    match = _NUMBER.match(norm)
    if match:
        return int(match.group(1))
    if norm in _ZH_NUMERALS:
        return _ZH_NUMERALS[norm]
    return None


def pick(norm: str, choices: tuple[Choice, ...] | list[Choice]) -> Choice | None:
    """A choice by its number (1-based), its label or its id."""
    number = as_number(norm)
    if number is not None:
        return choices[number - 1] if 1 <= number <= len(choices) else None
    for choice in choices:
        if norm == normalize(choice.label) or norm == choice.id.casefold():
            return choice
    return None
