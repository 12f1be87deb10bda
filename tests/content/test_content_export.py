"""export_library: JSON-ready and in the documented shape."""

from __future__ import annotations

import json

from content import export_library, load_library

PACK_KEYS = {"id", "version", "locales", "title", "sources", "areas", "service_types", "topics", "faq", "quizzes"}


def test_export_round_trips_through_json() -> None:
    data = export_library(load_library())
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


def test_export_shape() -> None:
    library = load_library()
    data = export_library(library)
    assert set(data) == {"packs"}
    assert [p["id"] for p in data["packs"]] == ["current", "policy-2010-69"]
    assert all(set(p) == PACK_KEYS for p in data["packs"])
    current, pack = data["packs"]
    assert pack["version"] == 2
    assert pack["locales"] == ["zh_Hans", "en"]
    assert set(pack["title"]) == {"zh_Hans", "en"}
    assert pack["sources"][0]["doc"] == "人口流管〔2010〕69号"
    assert set(pack["sources"][0]) == {"id", "doc", "date", "refs", "name", "title"}
    assert {s["refs"] for s in current["sources"]} == {"articles", "none"}
    assert {a["id"] for a in pack["areas"]} >= {"education", "rewards"}
    assert set(pack["areas"][0]) == {"id", "source", "clause", "title"}
    assert set(pack["service_types"][0]) == {"id", "area", "source", "clause", "title"}

    topic = pack["topics"][0]
    assert set(topic) == {"id", "area", "title", "lessons"}
    assert set(topic["lessons"][0]) == {"id", "source", "clause", "title", "body"}
    assert sum(len(t["lessons"]) for p in data["packs"] for t in p["topics"]) == len(library.lessons)
    assert pack["topics"][-1]["area"] is None

    entry = pack["faq"][0]
    assert set(entry) == {"id", "topic", "source", "clause", "questions", "answer"}
    assert isinstance(entry["questions"]["en"], list)
    assert len(pack["faq"]) + len(current["faq"]) == len(library.faq)
    assert current["faq"][0]["source"] != "guidance-2010-69"

    (quiz,) = pack["quizzes"]
    assert set(quiz) == {"id", "title", "draw", "questions"}
    question = quiz["questions"][0]
    assert set(question) == {"id", "area", "source", "clause", "text", "options", "correct", "generous", "explanation"}
    assert set(question["text"]) == {"zh_Hans", "en"}
    assert [set(o) for o in question["options"]] == [{"id", "text"}] * 4
    assert question["correct"] in {o["id"] for o in question["options"]}
