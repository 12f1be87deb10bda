"""The service's own catalogs word the source lines the checker counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from outreach.i18n import translator
from outreach.settings import REPO_ROOT


@pytest.fixture(scope="session")
def gettext_for() -> Callable[[str], Callable[[str], str]]:
    return lambda locale: translator(locale, REPO_ROOT / "locales").gettext
