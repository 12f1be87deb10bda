"""Shared content fixtures: the shipped library (loaded once), its FAQ matcher, and the
service's own catalogs, which word the source lines the checker counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from content import FaqMatcher, Library, load_library
from outreach.i18n import translator
from outreach.settings import REPO_ROOT


@pytest.fixture(scope="session")
def gettext_for() -> Callable[[str], Callable[[str], str]]:
    return lambda locale: translator(locale, REPO_ROOT / "locales").gettext


@pytest.fixture(scope="session")
def library() -> Library:
    return load_library()


@pytest.fixture(scope="session")
def matcher(library: Library) -> FaqMatcher:
    return FaqMatcher(library)
