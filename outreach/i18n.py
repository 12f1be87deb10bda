"""Translations for every string a person reads (Babel/gettext catalogs in ``locales/``).

Babel's ``Translations.load`` falls back silently to untranslated text when a catalog is
missing, and does no script matching (``zh_Hans_CN`` does not find ``zh_Hans``). So the
locales here are explicit, tags are negotiated by hand, and a missing catalog is an error.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
from functools import lru_cache
from pathlib import Path

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


def negotiate(tag: str | None, default: str = "zh_Hans") -> str:
    """Map a language tag (``zh-CN``, ``zh_Hant_TW``, ``en-US``, ``zh``) to a supported locale."""
    if not tag:
        return default
    parts = tag.replace("-", "_").split("_")
    lang = parts[0].lower()
    script = next((p.title() for p in parts[1:] if len(p) == 4), None)
    for candidate in (f"{lang}_{script}" if script else None, lang):
        if candidate in SUPPORTED_LOCALES:
            return candidate
    if lang == "zh":
        return "zh_Hans"
    return default


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
