"""check_library / check_path find every kind of content mistake, on small packs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from content import CheckReport, ContentError, check_library, check_path, load_library

Data = dict[str, dict[str, Any]]


def L(zh: str, en: str) -> dict[str, str]:  # noqa: N802 - reads like the YAML
    return {"zh_Hans": zh, "en": en}


def minimal_pack(pack_id: str = "mini") -> Data:
    """A small valid pack, one dict per YAML file."""
    return {
        "pack.yaml": {
            "id": pack_id,
            "version": 1,
            "locales": ["zh_Hans", "en"],
            "title": L("小包", "Mini pack"),
            "source": {"doc": "人口流管〔2010〕69号", "date": "2010-09-21", "title": L("意见", "Guidance")},
            "areas": [{"id": "family_planning", "clause": "三(二)2", "title": L("计生", "Family planning")}],
            "service_types": [
                {"id": "contraceptives", "area": "family_planning", "clause": "三(二)2", "title": L("药具", "Contraceptives")}
            ],
        },
        "topics.yaml": {
            "topics": [
                {
                    "id": "family_planning",
                    "area": "family_planning",
                    "title": L("计生", "Family planning"),
                    "lessons": [
                        {"id": "fp-1", "clause": "三(二)2", "title": L("免费", "Free"), "body": L("免费。", "Free.")},
                        {"id": "fp-2", "clause": "三(二)2", "title": L("药具", "Supplies"), "body": L("领取。", "Pick up.")},
                    ],
                },
                {
                    "id": "where",
                    "area": None,
                    "title": L("去哪", "Where"),
                    "lessons": [
                        {"id": "where-1", "clause": "三(三)", "title": L("中心", "Centre"), "body": L("中心。", "Centre.")},
                        {"id": "where-2", "clause": "三(三)", "title": L("社区", "Community"), "body": L("社区。", "Community.")},
                    ],
                },
            ]
        },
        "faq.yaml": {
            "faq": [
                {
                    "id": "is-it-free",
                    "topic": "family_planning",
                    "clause": "三(二)2",
                    "questions": {"zh_Hans": ["要钱吗", "免费吗", "收费吗", "花钱吗"], "en": ["free?", "cost?", "pay?", "fees?"]},
                    "answer": L("免费。", "It is free."),
                }
            ]
        },
        "quiz.yaml": {
            "quizzes": [
                {
                    "id": "basics",
                    "title": L("测验", "Quiz"),
                    "draw": 1,
                    "questions": [
                        {
                            "id": "q-1",
                            "area": "family_planning",
                            "clause": "三(二)2",
                            "text": L("免费吗？", "Free?"),
                            "options": [
                                {"id": "a", "text": L("是", "Yes")},
                                {"id": "b", "text": L("否", "No")},
                            ],
                            "correct": "a",
                            "explanation": L("免费。", "It is free."),
                        }
                    ],
                }
            ]
        },
    }


def write_pack(root: Path, data: Data, name: str | None = None) -> Path:
    directory = root / (name or data["pack.yaml"]["id"])
    directory.mkdir(parents=True)
    for filename, content in data.items():
        (directory / filename).write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return directory


def check(tmp_path: Path, mutate: Callable[[Data], None]) -> CheckReport:
    data = minimal_pack()
    mutate(data)
    write_pack(tmp_path, data)
    return check_path(tmp_path)


def assert_one_error(report: CheckReport, *needles: str) -> None:
    assert len(report.errors) == 1, report.errors
    for needle in needles:
        assert needle in report.errors[0], report.errors


def lesson(data: Data, topic: int = 0, index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = data["topics.yaml"]["topics"][topic]["lessons"][index]
    return found


def question(data: Data) -> dict[str, Any]:
    found: dict[str, Any] = data["quiz.yaml"]["quizzes"][0]["questions"][0]
    return found


# --- the baseline ---------------------------------------------------------------------


def test_minimal_pack_is_clean(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: None)
    assert report.errors == [] and report.warnings == []
    assert {row.kind for row in report.sms} == {"lesson", "faq", "question", "explanation"}
    assert {row.locale for row in report.sms} == {"zh_Hans", "en"}


def test_sms_rows_measure_each_message(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: None)
    row = next(r for r in report.sms if r.kind == "faq" and r.locale == "en")
    assert (row.id, row.chars, row.encoding, row.segments) == ("is-it-free", 11, "GSM-7", 1)
    row = next(r for r in report.sms if r.kind == "lesson" and r.id == "fp-1" and r.locale == "zh_Hans")
    assert (row.chars, row.encoding, row.segments) == (3, "UCS-2", 1)


# --- duplicate ids --------------------------------------------------------------------


def test_duplicate_lesson_id(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d, 1, 0).update(id="fp-1"))
    assert_one_error(report, "lesson 'fp-1'", "2 times")


def test_duplicate_topic_id(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["topics.yaml"]["topics"][1].update(id="family_planning"))
    assert_one_error(report, "topic 'family_planning'", "2 times")


def test_duplicate_faq_id(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        d["faq.yaml"]["faq"].append(copy.deepcopy(d["faq.yaml"]["faq"][0]))

    assert_one_error(check(tmp_path, mutate), "faq entry 'is-it-free'", "2 times")


def test_duplicate_question_id(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        d["quiz.yaml"]["quizzes"][0]["questions"].append(copy.deepcopy(question(d)))

    assert_one_error(check(tmp_path, mutate), "quiz question 'q-1'", "2 times")


def test_duplicate_ids_across_packs(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack("first"))
    second = minimal_pack("second")
    del second["topics.yaml"], second["quiz.yaml"]
    second["pack.yaml"]["areas"] = []
    second["pack.yaml"]["service_types"] = []
    write_pack(tmp_path, second)  # only its FAQ: the same entry id as the first pack's
    report = check_path(tmp_path)
    assert_one_error(report, "faq entry 'is-it-free'", "2 times")


# --- localized text -------------------------------------------------------------------


def test_missing_locale(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["body"].pop("en"))
    assert_one_error(report, "lesson 'fp-1'", "body", "'en'")


def test_empty_text(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["answer"].update(zh_Hans="  "))
    assert_one_error(report, "faq 'is-it-free'", "answer.zh_Hans is empty")


def test_missing_phrasings_for_a_locale(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["questions"].pop("en"))
    assert_one_error(report, "faq 'is-it-free'", "no phrasings", "'en'")


def test_missing_locale_in_option(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"][1]["text"].pop("zh_Hans"))
    assert_one_error(report, "question 'q-1' option 'b'", "'zh_Hans'")


def test_unclaimed_locale_is_a_warning(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["title"].update(ug="ئەركىن"))
    assert report.errors == []
    assert any("'ug'" in w for w in report.warnings)


# --- quiz questions -------------------------------------------------------------------


def test_correct_is_not_an_option(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d).update(correct="c"))
    assert_one_error(report, "question 'q-1'", "correct answer 'c'")


def test_option_ids_not_unique(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"][1].update(id="a"))
    assert_one_error(report, "question 'q-1'", "option id 'a' is used 2 times")


def test_fewer_than_two_options(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"].pop())
    assert_one_error(report, "question 'q-1'", "at least 2")


def test_draw_more_than_questions(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["quiz.yaml"]["quizzes"][0].update(draw=2))
    assert_one_error(report, "quiz 'basics'", "draw 2")


def test_draw_zero(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["quiz.yaml"]["quizzes"][0].update(draw=0))
    assert_one_error(report, "quiz 'basics'", "at least 1")


# --- clauses and references -----------------------------------------------------------


@pytest.mark.parametrize(
    "clause",
    ["3.2.2", "三（二）2", "三(二", "(二)2", "三(2)", "三(二)2a", "", "第三条"],
)
def test_bad_clause(tmp_path: Path, clause: str) -> None:
    report = check(tmp_path, lambda d: lesson(d).update(clause=clause))
    assert_one_error(report, "lesson 'fp-1'", "clause")


@pytest.mark.parametrize("clause", ["一", "三(一)", "三(二)2", "四(三)", "十二(十)10"])
def test_good_clause(tmp_path: Path, clause: str) -> None:
    report = check(tmp_path, lambda d: question(d).update(clause=clause))
    assert report.errors == []


def test_faq_unknown_topic(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0].update(topic="nope"))
    assert_one_error(report, "faq 'is-it-free'", "topic 'nope' does not exist")


def test_topic_unknown_area(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["topics.yaml"]["topics"][0].update(area="nope"))
    assert_one_error(report, "topic 'family_planning'", "area 'nope' does not exist")


def test_service_type_unknown_area(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["pack.yaml"]["service_types"][0].update(area="nope"))
    assert_one_error(report, "service type 'contraceptives'", "area 'nope'")


def test_question_unknown_area(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d).update(area="nope"))
    assert_one_error(report, "question 'q-1'", "area 'nope'")


def test_question_may_name_a_topic_instead_of_an_area(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d).update(area="where"))
    assert report.errors == []


def test_bad_id(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d).update(id="Has Spaces"))
    assert_one_error(report, "id 'Has Spaces'")


# --- editorial warnings ---------------------------------------------------------------


def test_long_button_label_warns(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["title"].update(zh_Hans="这是一个非常非常长的按钮标题文字"))
    assert report.errors == []
    assert any("title.zh_Hans" in w and "label" in w for w in report.warnings)


def test_few_phrasings_warns(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["questions"].update(en=["free?"]))
    assert report.errors == []
    assert any("questions.en has 1 phrasings" in w for w in report.warnings)


# --- load failures become report errors -----------------------------------------------


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    directory = write_pack(tmp_path, minimal_pack())
    (directory / "faq.yaml").write_text("faq:\n  - id: x\n    answer: {en: [unclosed\n", encoding="utf-8")
    report = check_path(tmp_path)
    assert len(report.errors) == 1
    assert "faq.yaml" in report.errors[0] and "invalid YAML at line" in report.errors[0]


def test_wrong_shape_names_the_field(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0].update(anwser="typo"))
    assert len(report.errors) == 1
    assert "faq.yaml" in report.errors[0] and "faq[0].anwser" in report.errors[0]


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"][0]["text"].update(en=["a", "list"]))
    assert "quizzes[0].questions[0].options[0].text.en" in report.errors[0]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    directory = write_pack(tmp_path, minimal_pack())
    text = (directory / "pack.yaml").read_text(encoding="utf-8")
    (directory / "pack.yaml").write_text(text + "version: 2\n", encoding="utf-8")
    report = check_path(tmp_path)
    assert "pack.yaml" in report.errors[0] and "duplicate key 'version'" in report.errors[0]


def test_pack_id_must_match_directory(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack(), name="other-name")
    report = check_path(tmp_path)
    assert "must match its directory name" in report.errors[0]


def test_missing_pack_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ContentError) as info:
        load_library(tmp_path)
    assert info.value.path == tmp_path / "empty"
    assert "pack.yaml is missing" in info.value.message


def test_missing_root(tmp_path: Path) -> None:
    report = check_path(tmp_path / "nowhere")
    assert "does not exist" in report.errors[0]


def test_optional_files_may_be_absent(tmp_path: Path) -> None:
    data = minimal_pack()
    del data["quiz.yaml"], data["faq.yaml"]
    write_pack(tmp_path, data)
    library = load_library(tmp_path)
    assert library.faq == [] and library.quizzes == []
    assert check_library(library).errors == []


def test_hidden_directories_are_not_packs(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack())
    (tmp_path / ".cache").mkdir()
    (tmp_path / "__pycache__").mkdir()
    assert [p.id for p in load_library(tmp_path).packs] == ["mini"]


def test_library_locales_are_the_intersection(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack("a-first"))
    second = minimal_pack("b-second")
    second["pack.yaml"]["locales"] = ["en", "zh_Hans", "ug"]
    for key in ("areas", "service_types"):
        second["pack.yaml"][key] = []
    del second["topics.yaml"], second["faq.yaml"], second["quiz.yaml"]
    write_pack(tmp_path, second)
    assert load_library(tmp_path).locales == ["zh_Hans", "en"]
