"""check_library / check_path find every kind of content mistake, on small packs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from content import CheckReport, ContentError, check_library, check_path, load_library
from content.check import GettextFor

Data = dict[str, dict[str, Any]]


def L(zh: str, en: str) -> dict[str, str]:  # noqa: N802 - reads like the YAML
    return {"zh_Hans": zh, "en": en}


def fair_questions(n: int = 8) -> list[dict[str, Any]]:
    """``n`` four-option questions that no fixed rule passes: the right option's length
    rank turns with each question, and only some right options are the generous one."""
    questions = []
    for i in range(n):
        options = [
            {"id": oid, "text": L("问" * (k + 1), "w" * (k + 1))} for k, oid in enumerate("abcd")
        ]
        correct = "abcd"[i % 4]
        questions.append({
            "id": f"q-{i + 1}",
            "area": "family_planning",
            "clause": "三(二)2",
            "text": L("免费吗？", "Free?"),
            "options": options,
            "correct": correct,
            "generous": correct if i % 4 == 0 else "abcd"[(i + 1) % 4],
            "explanation": L("免费。", "It is free."),
        })
    return questions


def minimal_pack(pack_id: str = "mini") -> Data:
    """A small valid pack, one dict per YAML file."""
    return {
        "pack.yaml": {
            "id": pack_id,
            "version": 1,
            "locales": ["zh_Hans", "en"],
            "title": L("小包", "Mini pack"),
            "sources": [
                {"id": f"{pack_id}-guidance", "doc": "人口流管〔2010〕69号", "date": "2010-09-21",
                 "name": L("69号文", "guidance 69"), "title": L("意见", "Guidance")},
            ],
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
                    "draw": 5,
                    "questions": fair_questions(),
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
    return check_path(tmp_path, GETTEXT_FOR)


def _identity(message: str) -> str:
    return message


# The English msgids word the source lines (the shipped catalogs are tested elsewhere).
GETTEXT_FOR: GettextFor = lambda locale: _identity  # noqa: E731


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


def test_sms_rows_measure_each_message_with_its_source_line(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: None)
    row = next(r for r in report.sms if r.kind == "faq" and r.locale == "en")
    sent = "It is free.\n\nSource: guidance 69, section 3(2)2"  # English numbers in English
    assert (row.id, row.chars, row.encoding, row.segments) == ("is-it-free", len(sent), "GSM-7", 1)
    row = next(r for r in report.sms if r.kind == "lesson" and r.id == "fp-1" and r.locale == "zh_Hans")
    sent = "免费\n\n免费。\n\nSource: 69号文, section 三(二)2"
    assert (row.chars, row.encoding, row.segments) == (len(sent), "UCS-2", 1)


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
    report = check_path(tmp_path, GETTEXT_FOR)
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
    report = check(tmp_path, lambda d: question(d).update(correct="z"))
    assert_one_error(report, "question 'q-1'", "correct answer 'z'")


def test_option_ids_not_unique(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"][1].update(id="a"))
    assert_one_error(report, "question 'q-1'", "option id 'a' is used 2 times")


def test_fewer_than_four_options(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d)["options"].pop())
    assert_one_error(report, "question 'q-1'", "at least 4")


def test_draw_more_than_questions(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["quiz.yaml"]["quizzes"][0].update(draw=9))
    assert_one_error(report, "quiz 'basics'", "draw 9")


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
    report = check_path(tmp_path, GETTEXT_FOR)
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
    report = check_path(tmp_path, GETTEXT_FOR)
    assert "pack.yaml" in report.errors[0] and "duplicate key 'version'" in report.errors[0]


def test_pack_id_must_match_directory(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack(), name="other-name")
    report = check_path(tmp_path, GETTEXT_FOR)
    assert "must match its directory name" in report.errors[0]


def test_missing_pack_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ContentError) as info:
        load_library(tmp_path)
    assert info.value.path == tmp_path / "empty"
    assert "pack.yaml is missing" in info.value.message


def test_missing_root(tmp_path: Path) -> None:
    report = check_path(tmp_path / "nowhere", GETTEXT_FOR)
    assert "does not exist" in report.errors[0]


def test_optional_files_may_be_absent(tmp_path: Path) -> None:
    data = minimal_pack()
    del data["quiz.yaml"], data["faq.yaml"]
    write_pack(tmp_path, data)
    library = load_library(tmp_path)
    assert library.faq == [] and library.quizzes == []
    assert check_library(library, GETTEXT_FOR).errors == []


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


# --- citations ------------------------------------------------------------------------


def add_law(d: Data, refs: str = "articles") -> None:
    d["pack.yaml"]["sources"].append(
        {"id": "law", "doc": "某法", "date": "2021-08-20", "refs": refs,
         "name": L("《某法》", "Some Law"), "title": L("某法", "Some Law")}
    )


def test_items_cite_the_packs_first_source_by_default(tmp_path: Path) -> None:
    data = minimal_pack()
    write_pack(tmp_path, data)
    library = load_library(tmp_path)
    assert {x.source for x in [*library.lessons, *library.faq, *library.questions]} == {"mini-guidance"}


def test_a_pack_needs_a_source(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["pack.yaml"].update(sources=[]))
    assert "sources" in report.errors[0] and "at least 1" in report.errors[0]


def test_unknown_source(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d).update(source="nope"))
    assert_one_error(report, "lesson 'fp-1'", "source 'nope' does not exist")


def test_article_citation(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        add_law(d)
        d["faq.yaml"]["faq"][0].update(source="law", clause="18")

    report = check(tmp_path, mutate)
    assert report.errors == []
    row = next(r for r in report.sms if r.kind == "faq" and r.locale == "en")
    assert row.chars == len("It is free.\n\nSource: Some Law, article 18")


@pytest.mark.parametrize("clause", ["第十八条", "三(二)2", "0", "18a", None])
def test_bad_article_citation(tmp_path: Path, clause: str | None) -> None:
    def mutate(d: Data) -> None:
        add_law(d)
        d["faq.yaml"]["faq"][0].update(source="law", clause=clause)

    assert_one_error(check(tmp_path, mutate), "faq 'is-it-free'", "article")


def test_a_decision_is_cited_whole_by_date(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        add_law(d, refs="none")
        d["faq.yaml"]["faq"][0].update(source="law")
        del d["faq.yaml"]["faq"][0]["clause"]

    report = check(tmp_path, mutate)
    assert report.errors == []
    row = next(r for r in report.sms if r.kind == "faq" and r.locale == "en")
    assert row.chars == len("It is free.\n\nSource: Some Law, August 20, 2021")


def test_a_decision_has_no_clause(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        add_law(d, refs="none")
        d["faq.yaml"]["faq"][0].update(source="law", clause="3")

    assert_one_error(check(tmp_path, mutate), "faq 'is-it-free'", "cited whole")


def test_source_date_must_be_iso(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["pack.yaml"]["sources"][0].update(date="2010年9月21日"))
    assert_one_error(report, "source 'mini-guidance'", "ISO date")


# --- house rules of wording and SMS cost ---------------------------------------------


def test_english_without_chinese(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["body"].update(en="Ask at the 社区 office."))
    assert "lesson 'fp-1'" in report.errors[0] and "Chinese characters" in report.errors[0]


def test_english_stays_gsm7(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["body"].update(en="It’s free."))
    assert_one_error(report, "lesson 'fp-1'", "UCS-2")


def test_one_register(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["answer"].update(zh_Hans="你不用付钱。"))
    assert_one_error(report, "faq 'is-it-free'", "您")


def test_phrasings_may_say_ni(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["questions"]["zh_Hans"].append("你们收钱吗"))
    assert report.errors == []


def test_people_with_a_local_hukou(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: lesson(d)["body"].update(en="Free, as for local residents."))
    assert_one_error(report, "lesson 'fp-1'", "local hukou")


def test_more_than_three_sms(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: d["faq.yaml"]["faq"][0]["answer"].update(zh_Hans="免费" * 100))
    assert any("faq 'is-it-free'" in e and "4 SMS parts" in e for e in report.errors), report.errors


# --- a fair quiz ----------------------------------------------------------------------


def test_fair_quiz_reports_every_rule(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: None)
    rules = {r.strategy: r.p_pass for r in report.guessers}
    assert "the first option" in rules and "the most generous option" in rules
    assert "the longest option (en)" in rules and "anything but the longest option (zh_Hans)" in rules
    assert max(rules.values()) <= 0.05


def test_always_the_longest_passes_an_unfair_quiz(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        for q in d["quiz.yaml"]["quizzes"][0]["questions"]:
            q["correct"] = "d"  # the longest option in both languages, every time

    report = check(tmp_path, mutate)
    assert any("always picks the longest option (en)" in e for e in report.errors), report.errors


def test_always_the_generous_passes_an_unfair_quiz(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        for q in d["quiz.yaml"]["quizzes"][0]["questions"]:
            q["generous"] = q["correct"]

    report = check(tmp_path, mutate)
    assert any("always picks the most generous option" in e for e in report.errors), report.errors


def test_generous_must_be_an_option(tmp_path: Path) -> None:
    report = check(tmp_path, lambda d: question(d).update(generous="z"))
    assert_one_error(report, "question 'q-1'", "generous option 'z'")


def test_a_decision_with_a_bad_date_is_reported_not_rendered(tmp_path: Path) -> None:
    def mutate(d: Data) -> None:
        add_law(d, refs="none")
        d["pack.yaml"]["sources"][-1]["date"] = "2021-02-30"
        d["faq.yaml"]["faq"][0].update(source="law")
        del d["faq.yaml"]["faq"][0]["clause"]

    assert_one_error(check(tmp_path, mutate), "source 'law'", "ISO date")


def test_duplicate_source_id_across_packs(tmp_path: Path) -> None:
    write_pack(tmp_path, minimal_pack("first"))
    second = minimal_pack("second")
    second["pack.yaml"]["sources"][0]["id"] = "first-guidance"
    for key in ("areas", "service_types"):
        second["pack.yaml"][key] = []
    del second["topics.yaml"], second["faq.yaml"], second["quiz.yaml"]
    write_pack(tmp_path, second)
    assert_one_error(check_path(tmp_path, GETTEXT_FOR), "source 'first-guidance'", "2 times")


def test_a_source_nobody_cites_is_a_warning(tmp_path: Path) -> None:
    report = check(tmp_path, add_law)
    assert report.errors == []
    assert any("source 'law'" in w and "no item cites" in w for w in report.warnings)
