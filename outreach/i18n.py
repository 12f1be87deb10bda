"""Translations for every string a person reads (Babel/gettext catalogs in ``locales/``).

Babel's ``Translations.load`` falls back silently to untranslated text when a catalog is
missing, and does no script matching (``zh_Hans_CN`` does not find ``zh_Hans``). So the
locales here are explicit, a missing catalog is an error, and a tag is matched in two
Babel steps: ``Locale.parse`` reads it (any case, ``-`` or ``_``) and fills in the script
from CLDR's likely subtags (``zh-CN`` is ``zh_Hans_CN``, ``zh-TW`` is ``zh_Hant_TW``);
``negotiate_locale`` then picks the first supported locale among that tag's reductions.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from outreach.errors import ConfigError

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: tuple[str, ...] = ("zh_Hans", "en")
DOMAIN = "messages"
LANGUAGE_NAMES = {"zh_Hans": "中文", "en": "English"}


def N_(message: str) -> str:
    """Marks a string for extraction where it is translated later (at use, per locale)."""
    return message


# A Chinese reader is offered Chinese, even one whose tag names another script (zh-TW,
# zh-Hant): the only Chinese catalog is Simplified, and it serves them better than English.
_ALIASES = {"zh": "zh_Hans"}
# Accept-Language items looked at: a browser sends a handful; the rest of a long header is
# not worth parsing.
_MAX_RANGES = 32
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


@lru_cache(maxsize=256)
def _reductions(tag: str) -> tuple[str, ...]:
    """A tag's forms from most to least specific (``zh-CN``: ``zh_Hans_CN``, ``zh_Hans``,
    ``zh``); none when Babel cannot read it. Extensions (``en-US-u-ca-gregory``) and tags
    Babel does not know with a known language (``en-XY``) fall back to the language."""
    ident = tag.strip().replace("-", "_")
    for candidate in (ident, ident.partition("_")[0]):
        try:
            locale = Locale.parse(candidate)
        except (ValueError, TypeError, UnknownLocaleError):
            continue
        forms = [str(locale)]
        if locale.script:
            forms.append(f"{locale.language}_{locale.script}")
        forms.append(locale.language)
        return tuple(dict.fromkeys(forms))
    return ()


def best_locale(tags: Iterable[str]) -> str | None:
    """The supported locale that best fits language tags given most preferred first, or
    None. Each tag is tried whole before the next (``en-GB, zh`` is ``en``)."""
    preferred = [form for tag in tags if tag for form in _reductions(tag)]
    found = negotiate_locale(preferred, SUPPORTED_LOCALES, aliases=_ALIASES)
    if found is None:
        return None
    return next(code for code in SUPPORTED_LOCALES if code.lower() == found.lower())


def negotiate(tag: str | None, default: str = "zh_Hans") -> str:
    """Map a language tag (``zh-CN``, ``zh_Hant_TW``, ``en-US``, ``zh``) to a supported locale."""
    return (best_locale([tag]) if tag else None) or default


def accept_language(header: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header (RFC 9110 §12.5.4), most
    preferred first; equal weights keep the header's order. Dropped: ``q=0`` ("not
    acceptable"), a malformed weight, and ``*`` (it says any other language will do,
    which the caller's default already does). Babel matches tags but reads no headers."""
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate((header or "").split(",")[:_MAX_RANGES]):
        tag, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


class Translator:
    """The gettext functions of one locale."""

    def __init__(self, locale: str, translations: _gettext.NullTranslations) -> None:
        self.locale = locale
        self._t = translations

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)


def _load(locales_dir: Path, locale: str) -> _gettext.NullTranslations:
    base = locales_dir / locale / "LC_MESSAGES"
    mo, po = base / f"{DOMAIN}.mo", base / f"{DOMAIN}.po"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.exists():
        raise ConfigError(f"no catalog for locale {locale!r} in {locales_dir}")
    # A checkout without `make i18n`: compile in memory rather than fall back silently.
    log.warning("catalog %s is not compiled (run `make i18n`); compiling in memory", po)
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale.replace("_Hans", ""))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


@lru_cache(maxsize=16)
def translator(locale: str, locales_dir: Path) -> Translator:
    if locale not in SUPPORTED_LOCALES:
        raise ConfigError(f"unsupported locale {locale!r}")
    return Translator(locale, _load(locales_dir, locale))
