"""Export the library as plain JSON-ready data.

The web pages, the simulator and reviewers outside the codebase (translators, the
programme office) need the content without Python; this is the one documented shape
(see content/README.md). Tuples become lists and nothing but str/int/None/list/dict
appears, so ``json.dumps`` works as is.
"""

from __future__ import annotations

from typing import Any

from content.models import Library, Pack


def _pack(pack: Pack) -> dict[str, Any]:
    data = pack.model_dump(mode="json")
    return {
        "id": data["id"],
        "version": data["version"],
        "locales": data["locales"],
        "title": data["title"],
        "sources": data["sources"],
        "areas": data["areas"],
        "service_types": data["service_types"],
        "topics": data["topics"],
        "faq": data["faq"],
        "quizzes": data["quizzes"],
    }


def export_library(library: Library) -> dict[str, Any]:
    """``{"packs": [...]}`` with every pack's areas, topics (with lessons), FAQ, quizzes."""
    return {"packs": [_pack(p) for p in library.packs]}
