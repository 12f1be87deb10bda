"""The catalogs are complete and match the source: CI fails when a string is missing or
extraction would change the catalog."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from outreach.i18n import SUPPORTED_LOCALES, negotiate

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{\w*\}|%\(\w+\)s")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "tx", "-k", "both", "--no-location", "--sort-output", "-o", str(pot), "."],
        cwd=REPO, check=True, capture_output=True,
    )
    with pot.open("rb") as fp:
        return {m.id for m in read_po(fp) if m.id}


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (REPO / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp)


def test_template_is_up_to_date(extracted: set[str]) -> None:
    with (REPO / "locales" / "messages.pot").open("rb") as fp:
        committed = {m.id for m in read_po(fp) if m.id}
    assert committed == extracted, (
        "locales/messages.pot is out of date: run `make i18n`. "
        f"new: {sorted(extracted - committed)}, gone: {sorted(committed - extracted)}"
    )


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_translates_every_string(locale: str, extracted: set[str]) -> None:
    catalog = _catalog(locale)
    ids = {m.id for m in catalog if m.id}
    assert extracted <= ids, f"{locale} lacks {sorted(extracted - ids)}: run `make i18n` and translate"
    for message in catalog:
        if not message.id:
            continue
        assert message.string, f"{locale}: no translation for {message.id!r}"
        assert "fuzzy" not in message.flags, f"{locale}: fuzzy translation for {message.id!r}"
        assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), (
            f"{locale}: placeholders differ in {message.id!r}"
        )


def test_chinese_catalog_is_chinese() -> None:
    untranslated = [m.id for m in _catalog("zh_Hans") if m.id and m.string == m.id]
    assert untranslated == []


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh_Hans_CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("en-US", "en"),
        ("EN", "en"),
        ("fr-FR", "zh_Hans"),
        (None, "zh_Hans"),
    ],
)
def test_negotiate(tag: str | None, expected: str) -> None:
    assert negotiate(tag) == expected


def test_one_register_in_chinese() -> None:
    """The bot says 您 throughout, as the content does (content check enforces it there)."""
    for message in _catalog("zh_Hans"):
        if message.id:
            assert "你" not in message.string, message.id


def test_english_says_people_with_a_local_hukou() -> None:
    for message in _catalog("en"):
        if message.id:
            assert "local resident" not in str(message.string).lower(), message.id
