"""Source lines: where a message's statement comes from, in the reader's language.

A Chinese reader sees the source as Chinese documents name it (``依据：人口流管〔2010〕69号
三(二)2``, ``依据：《人口与计划生育法》第十八条``); an English reader sees no Chinese at all
(``Source: 2010 guidance No. 69, section 3(2)2``), so an English SMS stays in the GSM
alphabet and costs a third of a Chinese one. The wording comes from the gettext catalogs
(``gettext`` is passed in: this package reads no catalogs itself); the numbers are
converted here.

The full messages a lesson and an FAQ answer become are composed here too, so the bot
that sends them and the checker that counts their SMS segments agree on every character.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from babel import Locale
from babel.dates import format_date

from content.models import Cited, FaqEntry, Lesson, Library, RefStyle, Source, text

Gettext = Callable[[str], str]

_DIGITS = "零一二三四五六七八九"
_VALUES = {ch: i for i, ch in enumerate(_DIGITS)} | {"十": 10}
_HAN_NUMBER = re.compile(r"[零一二三四五六七八九十]+")
# Sections are 一, 三(一) or 三(二)2; ASCII parentheses. Articles are plain numbers.
SECTION_RE = re.compile(r"^[一二三四五六七八九十]+(\([一二三四五六七八九十]+\)(\d+)?)?$")
ARTICLE_RE = re.compile(r"^[1-9]\d{0,2}$")


def han_to_int(numeral: str) -> int:
    """一 -> 1, 十 -> 10, 十二 -> 12, 二十 -> 20, 二十三 -> 23 (the range sections use)."""
    if "十" not in numeral:
        return _VALUES[numeral]
    tens, _, units = numeral.partition("十")
    return (_VALUES[tens] if tens else 1) * 10 + (_VALUES[units] if units else 0)


def int_to_han(number: int) -> str:
    """1 -> 一, 10 -> 十, 18 -> 十八, 40 -> 四十, 105 -> 一百零五 (article numbers)."""
    if number < 10:
        return _DIGITS[number]
    if number < 20:
        return "十" + (_DIGITS[number % 10] if number % 10 else "")
    if number < 100:
        return _DIGITS[number // 10] + "十" + (_DIGITS[number % 10] if number % 10 else "")
    hundreds, rest = divmod(number, 100)
    if rest == 0:
        return _DIGITS[hundreds] + "百"
    joint = "零" if rest < 10 else ""
    tail = _DIGITS[rest] if rest < 10 else ("一" + int_to_han(rest) if rest < 20 else int_to_han(rest))
    return _DIGITS[hundreds] + "百" + joint + tail


def _chinese(locale: str) -> bool:
    return locale.startswith("zh")


def clause_text(source: Source, clause: str, locale: str) -> str:
    """A clause as the locale writes it: 三(二)2 or 3(2)2; 十八 or 18."""
    if source.refs is RefStyle.articles:
        return int_to_han(int(clause)) if _chinese(locale) else clause
    if _chinese(locale):
        return clause
    return _HAN_NUMBER.sub(lambda m: str(han_to_int(m.group())), clause)


def _date(value: str, locale: str) -> str:
    return format_date(date.fromisoformat(value), "long", locale=Locale.parse(locale))


def source_line(library: Library, item: Cited, locale: str, gettext: Gettext) -> str:
    """``Source: …`` for an item, in ``locale`` (``gettext`` must be that locale's)."""
    _ = gettext
    source = library.source(item.source)
    name = text(source.name, locale, library.locales)
    if source.refs is RefStyle.none or not item.clause:
        return _("Source: {source}, {date}").format(source=name, date=_date(source.date, locale))
    ref = clause_text(source, item.clause, locale)
    if source.refs is RefStyle.articles:
        return _("Source: {source}, article {ref}").format(source=name, ref=ref)
    return _("Source: {source}, section {ref}").format(source=name, ref=ref)


def lesson_message(library: Library, lesson: Lesson, locale: str, gettext: Gettext) -> str:
    """A lesson as sent: title, body, source line."""
    return (
        f"{library.t(lesson.title, locale)}\n\n{library.t(lesson.body, locale)}\n\n"
        f"{source_line(library, lesson, locale, gettext)}"
    )


def answer_message(library: Library, entry: FaqEntry, locale: str, gettext: Gettext) -> str:
    """An FAQ answer as sent: the answer and its source line."""
    return f"{library.t(entry.answer, locale)}\n\n{source_line(library, entry, locale, gettext)}"
