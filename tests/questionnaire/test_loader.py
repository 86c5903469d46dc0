"""The questionnaire loader: every kind of problem, all at once, and the model it builds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from surveyapp.questionnaire import (
    Problem,
    QuestionnaireError,
    build_questionnaire,
    check_file,
    load_questionnaire,
    localize,
    parse_questionnaire,
)
from surveyapp.questionnaire.expressions import Compare, VarInfo
from surveyapp.questionnaire.loader import content_hash

DATA = Path(__file__).resolve().parent.parent / "data" / "questionnaires"
MINI = DATA / "mini.yaml"


def T(nl: str, en: str | None = None) -> dict[str, str]:
    return {"nl": nl, "en": en or f"{nl} (en)"}


# A small valid questionnaire; each error case below breaks one thing in a copy of it.
#   pages[0]: status (single_choice), kinderen (number), hulp (multiple_choice),
#             ken (matrix over the subjects), info (info)
#   pages[1]: tevreden (rating), opmerking (text)
BASE: dict[str, Any] = {
    "format": "surveyapp/1",
    "id": "proef",
    "version": "t1",
    "languages": ["nl", "en"],
    "title": T("Proef"),
    "choice_lists": {
        "status": [
            {"code": "actief", "label": T("Actief")},
            {"code": "gepensioneerd", "label": T("Gepensioneerd")},
        ],
        "tevredenheid": [
            *({"code": n, "label": T(str(n))} for n in range(1, 6)),
            {"code": "na", "label": T("Weet niet"), "missing": True},
        ],
    },
    "subjects": [
        {"id": "pluspas", "label": T("PlusPas")},
        {"id": "sint", "label": T("Sintgeschenk")},
    ],
    "pages": [
        {
            "id": "p1",
            "title": T("Eén"),
            "questions": [
                {"id": "status", "type": "single_choice", "label": T("Status"), "choices": "status"},
                {"id": "kinderen", "type": "number", "label": T("Kinderen"), "min": 0, "max": 10},
                {
                    "id": "hulp",
                    "type": "multiple_choice",
                    "label": T("Hulp"),
                    "choices": [{"code": "a", "label": T("A")}, {"code": "b", "label": T("B")}],
                },
                {
                    "id": "ken",
                    "type": "matrix",
                    "label": T("Kent u"),
                    "scale": [{"code": "ja", "label": T("Ja")}, {"code": "nee", "label": T("Nee")}],
                    "items": "subjects",
                },
                {"id": "info", "type": "info", "label": T("Informatie")},
            ],
        },
        {
            "id": "p2",
            "title": T("Twee"),
            "questions": [
                {
                    "id": "tevreden",
                    "type": "rating",
                    "label": T("Tevreden"),
                    "scale": "tevredenheid",
                },
                {"id": "opmerking", "type": "text", "label": T("Opmerking")},
            ],
        },
    ],
}

Q = {
    "status": (0, 0),
    "kinderen": (0, 1),
    "hulp": (0, 2),
    "ken": (0, 3),
    "info": (0, 4),
    "tevreden": (1, 0),
    "opmerking": (1, 1),
}


def loc(qid: str) -> str:
    page, index = Q[qid]
    return f"pages[{page}].questions[{index}]"


def question(data: dict[str, Any], qid: str) -> dict[str, Any]:
    page, index = Q[qid]
    return data["pages"][page]["questions"][index]


def problems_of(data: Any) -> list[Problem]:
    with pytest.raises(QuestionnaireError) as info:
        build_questionnaire(data, source="test.yaml")
    assert info.value.problems, "a refused questionnaire must say why"
    return info.value.problems


def problems_of_text(text: str) -> list[Problem]:
    with pytest.raises(QuestionnaireError) as info:
        parse_questionnaire(text, source="test.yaml")
    assert info.value.problems
    return info.value.problems


def test_base_is_valid() -> None:
    questionnaire = build_questionnaire(copy.deepcopy(BASE))
    assert [q.id for q in questionnaire.questions] == list(Q)


# --- one case per kind of problem --------------------------------------------------------------


def set_q(qid: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is DELETE:
                del question(data, qid)[key]
            else:
                question(data, qid)[key] = value

    return mutate


def set_top(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is DELETE:
                del data[key]
            else:
                data[key] = value

    return mutate


DELETE = object()


def _append_status_code(data: dict[str, Any]) -> None:
    data["choice_lists"]["status"].append({"code": "actief", "label": T("Nog eens")})


def _status_code_missing(data: dict[str, Any]) -> None:
    del data["choice_lists"]["status"][0]["code"]


def _duplicate_page(data: dict[str, Any]) -> None:
    data["pages"][1]["id"] = "p1"


def _duplicate_question(data: dict[str, Any]) -> None:
    data["pages"][1]["questions"].append({"id": "status", "type": "yes_no", "label": T("Nog eens status")})


def _no_subjects(data: dict[str, Any]) -> None:
    data["subjects"] = []


def _page_condition_on_own_page(data: dict[str, Any]) -> None:
    data["pages"][1]["show_if"] = "tevreden >= 4"


ERROR_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str | None, str]] = [
    ("unknown top-level key", set_top(colour="red"), "file", None, "unknown key 'colour'"),
    (
        "wrong format",
        set_top(format="surveyapp/2"),
        "format",
        None,
        "unsupported format 'surveyapp/2'; expected 'surveyapp/1'",
    ),
    ("missing id", set_top(id=DELETE), "id", None, "is missing"),
    (
        "bad id pattern",
        set_top(id="Proef-1"),
        "id",
        None,
        "questionnaire id 'Proef-1' must be lower-case letters, digits and _",
    ),
    (
        "id starting with a digit",
        set_top(id="1proef"),
        "id",
        None,
        "must be lower-case letters, digits and _ (starting with a letter)",
    ),
    (
        "languages without nl",
        set_top(languages=["en"]),
        "languages",
        None,
        "must include 'nl' (Dutch is required)",
    ),
    (
        "languages not a list",
        set_top(languages="nl"),
        "languages",
        None,
        "must be a list of language codes",
    ),
    (
        "duplicated language",
        set_top(languages=["nl", "en", "en"]),
        "languages",
        None,
        "lists a language twice",
    ),
    (
        "missing translation (top)",
        set_top(title={"nl": "Proef"}),
        "title",
        None,
        "the 'en' translation is missing",
    ),
    (
        "missing translation (bare string is Dutch only)",
        set_q("status", label="Status"),
        "pages[0].questions[0].label",
        "status",
        "the 'en' translation is missing",
    ),
    ("missing title", set_top(title=DELETE), "title", None, "is missing"),
    (
        "unknown language key",
        set_q("kinderen", label={**T("Kinderen"), "de": "Kinder"}),
        "pages[0].questions[1].label",
        "kinderen",
        "language 'de' is not in the questionnaire's languages",
    ),
    (
        "empty text",
        set_q("hulp", label={"nl": "  ", "en": "Help"}),
        "pages[0].questions[2].label",
        "hulp",
        "the 'nl' text is empty",
    ),
    (
        "text that is not a mapping",
        set_q("hulp", help=["x"]),
        "pages[0].questions[2].help",
        "hulp",
        "must be a text per language",
    ),
    (
        "unknown question type",
        set_q("opmerking", type="dropdown"),
        "pages[1].questions[1]",
        "opmerking",
        "unknown type 'dropdown'",
    ),
    (
        "unknown question key",
        set_q("opmerking", colour="red"),
        "pages[1].questions[1]",
        "opmerking",
        "unknown key 'colour'",
    ),
    (
        "bad question id",
        set_q("opmerking", id="Opmerking"),
        "pages[1].questions[1]",
        None,
        "question id 'Opmerking' must be lower-case",
    ),
    (
        "duplicate question id",
        _duplicate_question,
        "pages[1].questions[2]",
        "status",
        "duplicate question id",
    ),
    ("duplicate page id", _duplicate_page, "pages[1]", None, "duplicate page id 'p1'"),
    (
        "duplicate choice code (list)",
        _append_status_code,
        "choice_lists.status[2]",
        None,
        "duplicate choice code 'actief'",
    ),
    (
        "duplicate choice code (inline, int and text)",
        set_q(
            "hulp",
            choices=[{"code": 1, "label": T("Een")}, {"code": "1", "label": T("Nog een")}],
        ),
        "pages[0].questions[2].choices[1]",
        "hulp",
        "duplicate choice code '1'",
    ),
    ("choice without code", _status_code_missing, "choice_lists.status[0]", None, "no code"),
    (
        "choice with an empty code",
        set_q("hulp", choices=[{"code": " ", "label": T("Leeg")}]),
        "pages[0].questions[2].choices[0]",
        "hulp",
        "choice has no code",
    ),
    (
        "choice code with a slash",
        set_q("hulp", choices=[{"code": "a/b", "label": T("AB")}]),
        "pages[0].questions[2].choices[0]",
        "hulp",
        "must not contain '/'",
    ),
    (
        "unknown choice list",
        set_q("status", choices="statussen"),
        "pages[0].questions[0].choices",
        "status",
        "unknown choice list 'statussen'",
    ),
    (
        "empty choice list",
        set_q("hulp", choices=[]),
        "pages[0].questions[2].choices",
        "hulp",
        "must be a non-empty list of choices",
    ),
    (
        "choice question without choices",
        set_q("status", choices=DELETE),
        "pages[0].questions[0]",
        "status",
        "a single_choice question needs 'choices'",
    ),
    (
        "rating scale with non-numeric codes",
        set_q(
            "tevreden",
            scale=[{"code": "laag", "label": T("Laag")}, {"code": "hoog", "label": T("Hoog")}],
        ),
        "pages[1].questions[0].scale",
        "tevreden",
        "a rating scale's codes must be numbers",
    ),
    (
        "choices on a number question",
        set_q("kinderen", choices="status"),
        "pages[0].questions[1]",
        "kinderen",
        "'choices' does not apply to a number question",
    ),
    (
        "scale on a text question",
        set_q("opmerking", scale="tevredenheid"),
        "pages[1].questions[1]",
        "opmerking",
        "'scale' does not apply to a text question",
    ),
    (
        "min > max",
        set_q("kinderen", min=10, max=2),
        "pages[0].questions[1]",
        "kinderen",
        "min 10 is greater than max 2",
    ),
    (
        "min not a number",
        set_q("kinderen", min="nul"),
        "pages[0].questions[1]",
        "kinderen",
        "min must be a number",
    ),
    (
        "min on a text question",
        set_q("opmerking", min=1),
        "pages[1].questions[1]",
        "opmerking",
        "'min' only applies to a number question",
    ),
    (
        "max_length on a choice question",
        set_q("status", max_length=10),
        "pages[0].questions[0]",
        "status",
        "max_length does not apply to a single_choice question",
    ),
    (
        "max_length zero",
        set_q("opmerking", max_length=0),
        "pages[1].questions[1]",
        "opmerking",
        "max_length must be a positive whole number",
    ),
    (
        "max_length true",
        set_q("opmerking", max_length=True),
        "pages[1].questions[1]",
        "opmerking",
        "max_length must be a positive whole number",
    ),
    (
        "info marked required",
        set_q("info", required=True),
        "pages[0].questions[4]",
        "info",
        "an information text cannot be required",
    ),
    (
        "required not a bool",
        set_q("status", required="ja"),
        "pages[0].questions[0]",
        "status",
        "required must be true or false",
    ),
    (
        "matrix without items",
        set_q("ken", items=DELETE),
        "pages[0].questions[3]",
        "ken",
        "a matrix needs items",
    ),
    (
        "items: subjects without subjects",
        _no_subjects,
        "pages[0].questions[3].items",
        "ken",
        "'items: subjects' needs a subjects list",
    ),
    (
        "unknown subject in items",
        set_q("ken", items=[{"subject": "pluspas"}, {"subject": "bus"}]),
        "pages[0].questions[3].items[1]",
        "ken",
        "unknown subject 'bus'",
    ),
    (
        "duplicate matrix item",
        set_q("ken", items=[{"subject": "pluspas"}, {"id": "pluspas", "label": T("Pas")}]),
        "pages[0].questions[3].items[1]",
        "ken",
        "duplicate item id 'pluspas'",
    ),
    (
        "items on a non-matrix question",
        set_q("status", items="subjects"),
        "pages[0].questions[0]",
        "status",
        "'items' only applies to a matrix question",
    ),
    (
        "show_if syntax error",
        set_q("tevreden", show_if="status = "),
        "pages[1].questions[0].show_if",
        "tevreden",
        "condition 'status = ': expected a value but the condition ends",
    ),
    (
        "show_if that is not text",
        set_q("tevreden", show_if=True),
        "pages[1].questions[0].show_if",
        "tevreden",
        "a condition must be text",
    ),
    (
        "unknown question in show_if",
        set_q("tevreden", show_if="onbekend = 'x'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "\"onbekend = 'x'\": unknown question 'onbekend'",
    ),
    (
        "unknown matrix row in show_if",
        set_q("tevreden", show_if="ken/bus = 'ja'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "unknown question 'ken/bus'",
    ),
    (
        "forward reference (later page)",
        set_q("status", show_if="tevreden >= 4"),
        "pages[0].questions[0].show_if",
        "status",
        "'tevreden' is on a later page; a condition may only use answers from earlier pages",
    ),
    (
        "same-page reference",
        set_q("kinderen", show_if="status = 'actief'"),
        "pages[0].questions[1].show_if",
        "kinderen",
        "'status' is on the same page",
    ),
    (
        "page condition on its own page",
        _page_condition_on_own_page,
        "pages[1].show_if",
        None,
        "'tevreden' is on the same page",
    ),
    (
        "condition on an information text",
        set_q("tevreden", show_if="info = 'x'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "'info' is an information text, not an answer",
    ),
    (
        "matrix named without item",
        set_q("tevreden", show_if="ken = 'ja'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "'ken' is a matrix: name a row as ken/item",
    ),
    (
        "type mismatch in show_if",
        set_q("tevreden", show_if="kinderen = 'veel'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "'kinderen' is a number and cannot be compared to text",
    ),
    (
        "code that is not a choice in show_if",
        set_q("tevreden", show_if="status = 'werkloos'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "'werkloos' is not a code of 'status'",
    ),
    (
        "multiple choice compared with = in show_if",
        set_q("tevreden", show_if="hulp = 'a'"),
        "pages[1].questions[0].show_if",
        "tevreden",
        "'hulp' is multiple choice",
    ),
    (
        "implied_if_hidden without show_if",
        set_q("tevreden", implied_if_hidden=1),
        "pages[1].questions[0]",
        "tevreden",
        "implied_if_hidden needs a show_if condition",
    ),
    (
        "implied_if_hidden with a code that is not a choice",
        set_q("tevreden", show_if="status = 'actief'", implied_if_hidden=9),
        "pages[1].questions[0]",
        "tevreden",
        "implied_if_hidden '9' is not one of the codes",
    ),
    (
        "implied_if_hidden on a text question",
        set_q("opmerking", show_if="status = 'actief'", implied_if_hidden="x"),
        "pages[1].questions[1]",
        "opmerking",
        "implied_if_hidden does not apply to a text question",
    ),
    (
        "unknown measure type",
        set_q("status", measure={"type": "popularity"}),
        "pages[0].questions[0].measure",
        "status",
        "unknown measure 'popularity'",
    ),
    (
        "empty measure",
        set_q("status", measure={}),
        "pages[0].questions[0].measure",
        "status",
        "unknown measure None",
    ),
    (
        "unknown measure key",
        set_q("status", measure={"type": "group", "colour": "red"}),
        "pages[0].questions[0].measure",
        "status",
        "unknown key 'colour'",
    ),
    (
        "measure on the wrong question type",
        set_q("opmerking", measure="help_type"),
        "pages[1].questions[1].measure",
        "opmerking",
        "measure 'help_type' cannot sit on a text question (multiple_choice)",
    ),
    (
        "awareness without subject",
        set_q("tevreden", measure={"type": "awareness", "positive": [4, 5]}),
        "pages[1].questions[0].measure",
        "tevreden",
        "measure 'awareness' needs a subject",
    ),
    (
        "awareness on a matrix whose items are not subjects",
        set_q(
            "ken",
            items=[{"id": "x", "label": T("X")}],
            measure={"type": "awareness", "positive": ["ja"]},
        ),
        "pages[0].questions[3].measure",
        "ken",
        "needs a subject (or matrix items that are subjects)",
    ),
    (
        "unknown measure subject",
        set_q("tevreden", measure={"type": "satisfaction", "subject": "bus", "positive": [5]}),
        "pages[1].questions[0].measure",
        "tevreden",
        "unknown subject 'bus'",
    ),
    (
        "satisfaction without positive",
        set_q("tevreden", measure={"type": "satisfaction", "subject": "pluspas"}),
        "pages[1].questions[0].measure",
        "tevreden",
        "measure 'satisfaction' needs 'positive'",
    ),
    (
        "positive code not a choice",
        set_q("tevreden", measure={"type": "satisfaction", "subject": "pluspas", "positive": [4, 6]}),
        "pages[1].questions[0].measure",
        "tevreden",
        "positive codes '6' are not choices",
    ),
    (
        "exclude code not a choice",
        set_q(
            "tevreden",
            measure={
                "type": "satisfaction",
                "subject": "pluspas",
                "positive": [5],
                "exclude": ["x"],
            },
        ),
        "pages[1].questions[0].measure",
        "tevreden",
        "exclude codes 'x' are not choices",
    ),
    (
        "code both positive and excluded",
        set_q(
            "tevreden",
            measure={
                "type": "satisfaction",
                "subject": "pluspas",
                "positive": [4, 5],
                "exclude": [5],
            },
        ),
        "pages[1].questions[0].measure",
        "tevreden",
        "a code cannot be both positive and excluded",
    ),
    (
        "positive defaults exclude the missing codes, so 'na' cannot be positive",
        set_q(
            "tevreden",
            measure={"type": "satisfaction", "subject": "pluspas", "positive": ["na"]},
        ),
        "pages[1].questions[0].measure",
        "tevreden",
        "a code cannot be both positive and excluded",
    ),
    (
        "register_column on a non-group measure",
        set_q(
            "tevreden",
            measure={
                "type": "satisfaction",
                "subject": "pluspas",
                "positive": [5],
                "register_column": "tevreden",
            },
        ),
        "pages[1].questions[0].measure",
        "tevreden",
        "register_column only applies to a group measure",
    ),
    (
        "empty register_column",
        set_q("status", measure={"type": "group", "register_column": " "}),
        "pages[0].questions[0].measure",
        "status",
        "register_column must be a column name",
    ),
    (
        "funnel_step zero",
        set_q("status", measure={"type": "group", "funnel_step": 0}),
        "pages[0].questions[0].measure",
        "status",
        "funnel_step must be a whole number from 1",
    ),
    (
        "funnel_step text",
        set_q("status", measure={"type": "group", "funnel_step": "twee"}),
        "pages[0].questions[0].measure",
        "status",
        "funnel_step must be a whole number from 1",
    ),
    (
        "funnel_step true",
        set_q("status", measure={"type": "group", "funnel_step": True}),
        "pages[0].questions[0].measure",
        "status",
        "funnel_step must be a whole number from 1",
    ),
    (
        "estimated_minutes not positive",
        set_top(estimated_minutes=0),
        "estimated_minutes",
        None,
        "must be a positive whole number",
    ),
    (
        "no pages",
        set_top(pages=[]),
        "pages",
        None,
        "must be a non-empty list of pages",
    ),
    (
        "an empty question entry",
        lambda data: data["pages"][1]["questions"].append({}),
        "pages[1].questions[2]",
        None,
        "question id None must be lower-case",
    ),
    (
        "a question that is not a mapping",
        lambda data: data["pages"][1]["questions"].append("opmerking2"),
        "pages[1].questions[2]",
        None,
        "must be a mapping (key: value), not str",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "location", "question_id", "phrase"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_each_problem_is_located_and_explained(
    mutate: Callable[[dict[str, Any]], None],
    location: str,
    question_id: str | None,
    phrase: str,
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    problems = problems_of(data)
    matching = [
        p for p in problems if p.location == location and p.question_id == question_id and phrase in p.message
    ]
    assert matching, "\n".join(map(str, problems))
    # one mistake, one report: no noise that would drown the real problem (a list of languages
    # that cannot be read falls back to Dutch only, so every English text is reported as well)
    if location != "languages" or "list of language codes" not in phrase:
        assert len(problems) == 1, "\n".join(map(str, problems))


@pytest.mark.parametrize(
    ("text", "location", "phrase"),
    [
        ("id: x\n  title: y\n", "line 2, column 8", "not valid YAML: mapping values are not allowed"),
        ("id: [x\n", "line 2, column 1", "not valid YAML: expected ',' or ']'"),
        ("id: x\ntitle: {nl: x\npages: []\n", "line 3, column 6", "not valid YAML"),
        ("", "file", "is empty"),
        ("# nothing but a comment\n\n", "file", "is empty"),
        ("- a\n- b\n", "file", "must be a mapping (key: value), not list"),
        ("just a sentence\n", "file", "must be a mapping (key: value), not str"),
    ],
)
def test_file_level_problems(text: str, location: str, phrase: str) -> None:
    problems = problems_of_text(text)
    assert len(problems) == 1
    assert problems[0].location == location
    assert problems[0].question_id is None
    assert phrase in problems[0].message


def test_an_empty_mapping_is_not_silently_accepted(tmp_path: Path) -> None:
    problems = problems_of_text("{}\n")
    assert [(p.location, p.message) for p in problems] == [
        ("id", "is missing"),
        ("title", "is missing"),
        ("pages", "must be a non-empty list of pages"),
    ]
    path = tmp_path / "leeg.yaml"
    path.write_text("{}\n", encoding="utf-8")
    assert len(check_file(path)) == 3


def test_an_empty_page_entry_is_reported() -> None:
    data = copy.deepcopy(BASE)
    data["pages"].append({})
    problems = problems_of(data)
    assert {(p.location, p.message.split(" (")[0]) for p in problems} >= {
        ("pages[2]", "a page needs a non-empty list of questions"),
        ("pages[2].title", "is missing"),
    }


def test_a_yaml_date_does_not_crash_the_loader() -> None:
    text = yaml.safe_dump(BASE, allow_unicode=True) + "version_date: 2026-01-01\n"
    problems = problems_of_text(text)
    assert [p.location for p in problems] == ["file"]
    assert "unknown key 'version_date'" in problems[0].message
    # and a date where a free label is allowed loads
    valid = yaml.safe_dump({**BASE, "version": None}, allow_unicode=True).replace(
        "version: null", "version: 2026-01-01"
    )
    assert parse_questionnaire(valid).version_label == "2026-01-01"


def test_a_yaml_bool_language_key_is_a_problem_not_a_crash() -> None:
    # `no:` (Norwegian) is a bool in YAML 1.1; the loader reads YAML 1.2 scalars, so it stays 'no'
    text = yaml.safe_dump(BASE, allow_unicode=True).replace(
        "title:\n  en: Proef (en)\n", "title:\n  en: Proef (en)\n  no: Prøve\n"
    )
    assert "no: Prøve" in text
    problems = problems_of_text(text)
    assert [(p.location, p.message) for p in problems] == [
        ("title", "language 'no' is not in the questionnaire's languages")
    ]


def test_codes_stay_as_typed_not_yaml_1_1_numbers_or_booleans() -> None:
    text = yaml.safe_dump(BASE, allow_unicode=True)
    text += "\n# appended list with tricky codes\n"
    data = yaml.safe_load(text)
    data["choice_lists"] = {
        "banden": [{"code": "PLACEHOLDER_" + str(i), "label": {"nl": "x", "en": "x"}} for i in range(5)]
    }
    tricky = ["30_39", "010", "no", "on", "off"]
    dumped = yaml.safe_dump(data, allow_unicode=True)
    for i, code in enumerate(tricky):
        dumped = dumped.replace(f"PLACEHOLDER_{i}", code)  # unquoted in the file, as a planner types it
    from surveyapp.yaml_files import PlannerYamlLoader

    loaded = yaml.load(dumped, Loader=PlannerYamlLoader)
    assert [c["code"] for c in loaded["choice_lists"]["banden"]] == tricky


def test_all_problems_are_reported_at_once() -> None:
    data = copy.deepcopy(BASE)
    data["colour"] = "red"
    question(data, "status")["type"] = "dropdown"
    question(data, "kinderen")["min"] = 5
    question(data, "kinderen")["max"] = 1
    question(data, "info")["required"] = True
    question(data, "tevreden")["show_if"] = "opmerking = 'x'"
    question(data, "opmerking")["label"] = {"nl": "Opmerking"}
    problems = problems_of(data)
    assert len(problems) >= 6
    found = {(p.location, p.question_id) for p in problems}
    assert {
        ("file", None),
        (loc("status"), "status"),
        (loc("kinderen"), "kinderen"),
        (loc("info"), "info"),
        (f"{loc('tevreden')}.show_if", "tevreden"),
        (f"{loc('opmerking')}.label", "opmerking"),
    } <= found


def test_questionnaire_error_lists_every_problem() -> None:
    data = copy.deepcopy(BASE)
    data["colour"] = "red"
    question(data, "status")["type"] = "dropdown"
    with pytest.raises(QuestionnaireError) as info:
        build_questionnaire(data, source="proef.yaml")
    text = str(info.value)
    assert text.startswith("proef.yaml: 2 problem(s)\n")
    assert "  - file: unknown key 'colour'" in text
    assert "  - pages[0].questions[0] (question 'status'): unknown type 'dropdown'" in text
    assert info.value.source == "proef.yaml"


def test_problem_str() -> None:
    assert str(Problem("id", "is missing")) == "id: is missing"
    assert (
        str(Problem("pages[0].questions[1]", "bad", "kinderen"))
        == "pages[0].questions[1] (question 'kinderen'): bad"
    )


# --- a valid file and the model it gives ----------------------------------------------------


@pytest.fixture(scope="module")
def mini():  # type: ignore[no-untyped-def]
    return load_questionnaire(MINI)


def test_mini_loads_with_its_pages_and_questions(mini: Any) -> None:
    assert check_file(MINI) == []
    assert mini.id == "mini"
    assert mini.version_label == "test-1"
    assert mini.audience == "gerechtigden"
    assert mini.languages == ("nl", "en")
    assert mini.estimated_minutes == 3
    assert mini.title == {"nl": "Korte bevraging", "en": "Short survey"}
    assert mini.welcome["nl"].startswith("Wij vragen uw mening")
    assert [p.id for p in mini.pages] == ["profiel", "werk", "kennis", "gebruik", "tevredenheid"]
    assert [q.id for q in mini.questions] == [
        "intro_info",
        "status",
        "kinderen",
        "contract",
        "ken_dienst",
        "ken_aanbod",
        "gebruik_aanbod",
        "hulp",
        "tevreden_pluspas",
        "financieel_detail",
        "suggestie",
    ]
    assert [q.page_id for q in mini.pages[1].questions] == ["werk"]
    assert [s.id for s in mini.subjects] == ["sociale_dienst", "pluspas", "sintgeschenk"]
    assert mini.subject("sociale_dienst").kind == "service"
    assert mini.subject("pluspas").kind == "offering"
    assert len(mini.content_hash) == 64


def test_mini_question_details(mini: Any) -> None:
    status = mini.question("status")
    assert status.type == "single_choice"
    assert status.required is True
    assert status.codes == ("actief", "gepensioneerd")
    assert status.choice("actief").label == {"nl": "Actief", "en": "Active"}
    assert status.choice("x") is None
    assert status.measure.type == "group"
    assert status.measure.register_column == "status"

    kinderen = mini.question("kinderen")
    assert (kinderen.minimum, kinderen.maximum, kinderen.integer) == (0.0, 15.0, True)
    assert kinderen.help["en"] == "Enter 0 if no children live with you."
    assert kinderen.required is False

    assert mini.question("financieel_detail").max_length == 100
    assert mini.question("suggestie").max_length == 5000  # the long_text default
    assert mini.question("status").max_length is None
    assert mini.question("intro_info").answerable is False

    werk = mini.pages[1]
    assert werk.show_if == Compare("status", "=", "actief")
    assert werk.show_if_source == "status = 'actief'"
    hulp = mini.question("hulp")
    assert hulp.measure.type == "help_type"
    assert mini.question("contract").codes == ("statutair", "contractueel")


def test_matrix_items_from_subjects_take_the_subject_labels(mini: Any) -> None:
    ken = mini.question("ken_aanbod")
    assert [item.id for item in ken.items] == ["pluspas", "sintgeschenk"]
    assert [item.subject for item in ken.items] == ["pluspas", "sintgeschenk"]
    assert ken.items[1].label == {"nl": "Sintgeschenk", "en": "Saint Nicholas gift"}
    assert ken.codes == ("ja", "nee")
    assert all(item.show_if is None for item in ken.items)


def test_item_show_if_is_expanded_per_item(mini: Any) -> None:
    gebruik = mini.question("gebruik_aanbod")
    assert [i.show_if_source for i in gebruik.items] == [
        "ken_aanbod/pluspas = 'ja'",
        "ken_aanbod/sintgeschenk = 'ja'",
    ]
    assert gebruik.items[1].show_if == Compare("ken_aanbod/sintgeschenk", "=", "ja")
    assert gebruik.implied_if_hidden == "nee"
    assert gebruik.show_if is None


def test_yes_no_has_built_in_choices_and_positive(mini: Any) -> None:
    ken = mini.question("ken_dienst")
    assert ken.codes == ("yes", "no")
    assert ken.choice("yes").label == {"nl": "Ja", "en": "Yes"}
    assert ken.choice("no").label == {"nl": "Nee", "en": "No"}
    assert ken.measure.positive == ("yes",)
    assert ken.measure.subject == "sociale_dienst"


def test_yes_no_labels_in_french() -> None:
    data = copy.deepcopy(BASE)
    data["languages"] = ["nl", "fr"]
    text = yaml.safe_dump(data, allow_unicode=True).replace("en:", "fr:")
    data = yaml.safe_load(text)
    data["pages"][1]["questions"].append({"id": "jn", "type": "yes_no", "label": T("Ja?")})
    data["pages"][1]["questions"][-1]["label"] = {"nl": "Ja?", "fr": "Oui?"}
    questionnaire = build_questionnaire(data)
    assert questionnaire.languages == ("nl", "fr")
    assert questionnaire.question("jn").choice("yes").label == {"nl": "Ja", "fr": "Oui"}


def test_exclude_defaults_to_the_missing_codes(mini: Any) -> None:
    tevreden = mini.question("tevreden_pluspas")
    assert tevreden.codes == ("1", "2", "3", "4", "5", "na")  # YAML ints became text
    assert tevreden.choice("na").missing is True
    assert tevreden.choice("4").missing is False
    assert tevreden.measure.positive == ("4", "5")
    assert tevreden.measure.exclude == ("na",)
    assert tevreden.measure.subject == "pluspas"


def test_explicit_exclude_replaces_the_default() -> None:
    data = copy.deepcopy(BASE)
    question(data, "tevreden")["measure"] = {
        "type": "satisfaction",
        "subject": "pluspas",
        "positive": [4, 5],
        "exclude": [],
    }
    assert build_questionnaire(data).question("tevreden").measure.exclude == ()


def test_yaml_ints_and_bools_become_text_codes() -> None:
    text = """
id: codes
title: {nl: Codes}
languages: [nl]
pages:
  - id: p1
    title: {nl: Eén}
    questions:
      - id: keuze
        type: single_choice
        label: {nl: Keuze}
        choices:
          - {code: yes, label: {nl: Ja}}
          - {code: no, label: {nl: Nee}}
          - {code: 3, label: {nl: Drie}}
          - {code: 4.0, label: {nl: Vier}}
          - {code: 4.5, label: {nl: Vier en een half}}
        measure: {type: need, positive: [yes, 3]}
      - id: jn
        type: yes_no
        label: Weet u het?
        measure: {type: need, positive: [no]}
  - id: p2
    title: {nl: Twee}
    questions:
      - id: vervolg
        type: yes_no
        label: {nl: Vervolg}
        show_if: "keuze = 'yes' or keuze = 3 or jn = 'no'"
        implied_if_hidden: no
"""
    questionnaire = parse_questionnaire(text)
    keuze = questionnaire.question("keuze")
    assert keuze.codes == ("yes", "no", "3", "4", "4.5")
    assert keuze.measure.positive == ("yes", "3")
    assert questionnaire.question("jn").label == {"nl": "Weet u het?"}
    assert questionnaire.question("jn").measure.positive == ("no",)
    vervolg = questionnaire.question("vervolg")
    assert vervolg.implied_if_hidden == "no"
    assert questionnaire.languages == ("nl",)
    assert questionnaire.version_label is None
    assert questionnaire.audience == "gerechtigden"


def test_nl_is_always_first_in_languages() -> None:
    data = copy.deepcopy(BASE)
    data["languages"] = ["en", "nl"]
    assert build_questionnaire(data).languages == ("nl", "en")


def test_texts_are_stripped_and_localized() -> None:
    data = copy.deepcopy(BASE)
    question(data, "status")["label"] = {"nl": "  Status  ", "en": "State\n"}
    status = build_questionnaire(data).question("status")
    assert status.label == {"nl": "Status", "en": "State"}
    assert localize(status.label, "en") == "State"
    assert localize(status.label, "fr") == "Status"  # falls back to Dutch
    assert localize(None, "en") == ""


def test_load_questionnaire_of_a_missing_file(tmp_path: Path) -> None:
    problems = check_file(tmp_path / "nope.yaml")
    assert len(problems) == 1
    assert problems[0].location == "file"
    assert "cannot be read" in problems[0].message


def test_load_questionnaire_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "kapot.yaml"
    path.write_text("id: Kapot\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: ")


# --- content hash -------------------------------------------------------------------------------


def test_content_hash_ignores_comments_formatting_and_key_order() -> None:
    text = MINI.read_text(encoding="utf-8")
    reformatted = "# a different comment\n" + yaml.safe_dump(
        yaml.safe_load(text), allow_unicode=True, default_flow_style=False
    )
    flow = yaml.safe_dump(yaml.safe_load(text), allow_unicode=True, default_flow_style=True)
    reordered = yaml.safe_dump(
        dict(reversed(list(yaml.safe_load(text).items()))), allow_unicode=True, sort_keys=False
    )
    hashes = {parse_questionnaire(version).content_hash for version in (text, reformatted, flow, reordered)}
    assert len(hashes) == 1


def test_content_hash_changes_with_content() -> None:
    text = MINI.read_text(encoding="utf-8")
    original = parse_questionnaire(text).content_hash
    changed_label = parse_questionnaire(text.replace("Zeer tevreden", "Heel tevreden"))
    changed_version = parse_questionnaire(text.replace('"test-1"', '"test-2"'))
    changed_order = parse_questionnaire(
        text.replace(
            "items: [{subject: pluspas}, {subject: sintgeschenk}]\n        measure: {type: awareness",
            "items: [{subject: sintgeschenk}, {subject: pluspas}]\n        measure: {type: awareness",
        )
    )
    assert changed_order.question("ken_aanbod").items[0].id == "sintgeschenk"
    assert len({original, changed_label.content_hash, changed_version.content_hash}) == 3
    assert changed_order.content_hash != original


def test_content_hash_function_is_canonical() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": "1"})
    assert content_hash({"a": [1, 2]}) != content_hash({"a": [2, 1]})


def test_stored_json_rebuilds_the_same_questionnaire(mini: Any) -> None:
    import json

    rebuilt = build_questionnaire(json.loads(json.dumps(dict(mini.source))))
    assert rebuilt.content_hash == mini.content_hash
    assert rebuilt == mini


# --- visibility and cleaning ------------------------------------------------------------------


def test_visible_pages_skip_a_page_whose_condition_is_false(mini: Any) -> None:
    retired = [p.id for p in mini.visible_pages({"status": "gepensioneerd"})]
    assert retired == ["profiel", "kennis", "gebruik", "tevredenheid"]
    active = [p.id for p in mini.visible_pages({"status": "actief"})]
    assert active == ["profiel", "werk", "kennis", "gebruik", "tevredenheid"]
    # no answer yet: a condition on it is false
    assert "werk" not in [p.id for p in mini.visible_pages({})]


def test_visibility_of_questions_and_items(mini: Any) -> None:
    gebruik = mini.question("gebruik_aanbod")
    answers = {"ken_aanbod/pluspas": "ja", "ken_aanbod/sintgeschenk": "nee"}
    assert [mini.item_visible(gebruik, item, answers) for item in gebruik.items] == [True, False]
    contract = mini.question("contract")
    assert mini.question_visible(contract, {"status": "actief"}) is True
    assert mini.question_visible(contract, {"status": "gepensioneerd"}) is False
    assert mini.question_visible(mini.question("financieel_detail"), {"hulp": ["financieel"]})
    assert not mini.question_visible(mini.question("financieel_detail"), {"hulp": []})


def test_clean_answers_drops_hidden_answers_in_cascade(mini: Any) -> None:
    answers = {
        "status": "gepensioneerd",
        "kinderen": 2,
        "contract": "statutair",  # its page is hidden now
        "ken_dienst": "yes",
        "ken_aanbod/pluspas": "nee",  # changed from 'ja' after answering the next pages
        "ken_aanbod/sintgeschenk": "ja",
        "gebruik_aanbod/pluspas": "ja",  # hidden: pluspas is no longer known
        "gebruik_aanbod/sintgeschenk": "nee",
        "hulp": ["administratief"],
        "tevreden_pluspas": "5",  # hidden in cascade: its condition reads a dropped answer
        "financieel_detail": "huur",  # hidden: 'financieel' not in hulp
        "suggestie": "meer info",
        "onbekend": "x",  # not a question at all
    }
    assert mini.clean_answers(answers) == {
        "status": "gepensioneerd",
        "kinderen": 2,
        "ken_dienst": "yes",
        "ken_aanbod/pluspas": "nee",
        "ken_aanbod/sintgeschenk": "ja",
        "gebruik_aanbod/sintgeschenk": "nee",
        "hulp": ["administratief"],
        "suggestie": "meer info",
    }


def test_clean_answers_keeps_visible_answers(mini: Any) -> None:
    answers = {
        "status": "actief",
        "contract": "statutair",
        "ken_aanbod/pluspas": "ja",
        "gebruik_aanbod/pluspas": "ja",
        "tevreden_pluspas": "5",
        "hulp": ["financieel"],
        "financieel_detail": "huur",
    }
    assert mini.clean_answers(answers) == answers


def test_variable_names(mini: Any) -> None:
    assert mini.question("intro_info").variable_names() == []
    assert mini.question("status").variable_names() == ["status"]
    assert mini.question("hulp").variable_names() == ["hulp"]
    assert mini.question("ken_aanbod").variable_names() == [
        "ken_aanbod/pluspas",
        "ken_aanbod/sintgeschenk",
    ]


def test_var_info(mini: Any) -> None:
    assert mini.question("hulp").var_info() == VarInfo(
        "multi", frozenset({"financieel", "administratief", "psychosociaal"})
    )
    assert mini.question("kinderen").var_info() == VarInfo("number")
    assert mini.question("suggestie").var_info() == VarInfo("text")
    rating = mini.question("tevreden_pluspas").var_info()
    assert rating.kind == "choice"
    assert rating.numeric_codes is True  # 'na' is missing, so it does not count
    assert mini.question("ken_aanbod").var_info().numeric_codes is False
    assert mini.question("status").var_info().numeric_codes is False
