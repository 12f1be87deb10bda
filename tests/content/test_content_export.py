"""export_library: JSON-ready and in the documented shape."""

from __future__ import annotations

import json

from content import export_library, load_library

PACK_KEYS = {"id", "version", "locales", "title", "source", "areas", "service_types", "topics", "faq", "quizzes"}


def test_export_round_trips_through_json() -> None:
    data = export_library(load_library())
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


def test_export_shape() -> None:
    library = load_library()
    data = export_library(library)
    assert set(data) == {"packs"}
    (pack,) = data["packs"]
    assert set(pack) == PACK_KEYS
    assert pack["id"] == "policy-2010-69" and pack["version"] == 1
    assert pack["locales"] == ["zh_Hans", "en"]
    assert set(pack["title"]) == {"zh_Hans", "en"}
    assert pack["source"]["doc"] == "人口流管〔2010〕69号"
    assert {a["id"] for a in pack["areas"]} >= {"education", "rewards"}
    assert set(pack["areas"][0]) == {"id", "clause", "title"}
    assert set(pack["service_types"][0]) == {"id", "area", "clause", "title"}

    topic = pack["topics"][0]
    assert set(topic) == {"id", "area", "title", "lessons"}
    assert set(topic["lessons"][0]) == {"id", "clause", "title", "body"}
    assert sum(len(t["lessons"]) for t in pack["topics"]) == len(library.lessons)
    assert pack["topics"][-1]["area"] is None

    entry = pack["faq"][0]
    assert set(entry) == {"id", "topic", "clause", "questions", "answer"}
    assert isinstance(entry["questions"]["en"], list)
    assert len(pack["faq"]) == len(library.faq)

    (quiz,) = pack["quizzes"]
    assert set(quiz) == {"id", "title", "draw", "questions"}
    question = quiz["questions"][0]
    assert set(question) == {"id", "area", "clause", "text", "options", "correct", "explanation"}
    assert set(question["text"]) == {"zh_Hans", "en"}
    assert [set(o) for o in question["options"]] == [{"id", "text"}] * 3
    assert question["correct"] in {o["id"] for o in question["options"]}
