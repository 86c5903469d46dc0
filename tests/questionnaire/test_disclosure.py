"""The questionnaire's quasi-identifiers (``disclosure:``): the model they build and every bad declaration."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from surveyapp.questionnaire import build_questionnaire, load_questionnaire
from tests.questionnaire.test_loader import BASE, T, problems_of

REPO = Path(__file__).resolve().parents[2]
WIDE = {"code": "werkend_of_niet", "label": T("Alle"), "from": ["actief", "gepensioneerd"]}


def with_disclosure(entries: Any, *, group_status: bool = True) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if group_status:
        data["pages"][0]["questions"][0]["measure"] = {"type": "group", "register_column": "status"}
    data["disclosure"] = {"quasi_identifiers": entries}
    return data


def messages(data: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in problems_of(data)]


def test_declared_quasi_identifiers_with_hierarchy_and_top_code() -> None:
    data = with_disclosure(
        [
            {"question": "kinderen", "top_code": 3},
            {"register_column": "status", "hierarchy": [[WIDE]]},
        ]
    )
    questionnaire = build_questionnaire(data)
    keys = questionnaire.quasi_identifiers()
    assert [qi.question for qi in keys] == ["kinderen", "status"]
    assert keys[0].top_code == 3 and keys[0].hierarchy == ()
    assert keys[1].level_maps() == ({"actief": "werkend_of_niet", "gepensioneerd": "werkend_of_niet"},)
    assert keys[1].hierarchy[0][0].label == {"nl": "Alle", "en": "Alle (en)"}


def test_group_questions_are_quasi_identifiers_without_a_declaration() -> None:
    data = copy.deepcopy(BASE)
    data["pages"][0]["questions"][0]["measure"] = {"type": "group", "register_column": "status"}
    assert [qi.question for qi in build_questionnaire(data).quasi_identifiers()] == ["status"]
    assert build_questionnaire(copy.deepcopy(BASE)).quasi_identifiers() == ()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ("status", "must be a list"),
        ([{"question": "nope"}], "unknown question 'nope'"),
        ([{"register_column": "afdeling"}], "no group question has register_column 'afdeling'"),
        ([{"question": "status", "register_column": "status"}], "needs either 'question'"),
        ([{}], "needs either 'question'"),
        ([{"question": "opmerking"}], "a text question cannot be a quasi-identifier"),
        ([{"question": "status"}, {"register_column": "status"}], "is declared twice"),
        ([{"question": "kinderen"}], "a number quasi-identifier needs top_code"),
        ([{"question": "kinderen", "top_code": 0}], "top_code must be a whole number from 1"),
        ([{"question": "kinderen", "top_code": "3"}], "top_code must be a whole number from 1"),
        ([{"question": "status", "top_code": 3}], "top_code only applies to a number question"),
        ([{"question": "kinderen", "top_code": 3, "hierarchy": [[WIDE]]}], "coarsened with top_code"),
        ([{"question": "status", "hierarchy": []}], "must be a list of levels"),
        ([{"question": "status", "hierarchy": [WIDE]}], "a level must be a non-empty list"),
        (
            [{"question": "status", "hierarchy": [[{**WIDE, "from": ["actief", "ziek"]}]]}],
            "'from' codes 'ziek' are not codes of the level below",
        ),
        ([{"question": "status", "hierarchy": [[{**WIDE, "from": []}]]}], "'from' must list the codes"),
        ([{"question": "status", "hierarchy": [[{**WIDE, "code": "a/b"}]]}], "without '/'"),
        (
            [{"question": "status", "hierarchy": [[{**WIDE, "from": ["actief"]}]]}],
            "this level merges nothing",
        ),
        (
            [{"question": "status", "hierarchy": [[{**WIDE, "code": "gepensioneerd", "from": ["actief"]}]]}],
            "would mean two things",
        ),
        (
            [
                {
                    "question": "status",
                    "hierarchy": [
                        [WIDE, {"code": "x", "label": T("X"), "from": ["actief", "gepensioneerd"]}]
                    ],
                }
            ],
            "already in another group",
        ),
        ([{"question": "status", "hierarchy": [[{**WIDE, "label": {"nl": "Alle"}}]]}], "'en' translation"),
        ([{"question": "status", "hierarchy": [[WIDE], [WIDE]]}], "not codes of the level below"),
        ([{"question": "status", "level": 2}], "unknown key 'level'"),
    ],
)
def test_bad_declarations_are_refused_with_a_clear_message(entries: Any, expected: str) -> None:
    found = messages(with_disclosure(entries))
    assert any(expected in message for message in found), found
    assert all(message.startswith("disclosure") for message in found), found


def test_unknown_disclosure_key_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["disclosure"] = {"keys": []}
    assert any("unknown key 'keys'" in message for message in messages(data))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "gerechtigden.yaml",
            ["status", "leeftijd", "entiteit", "niveau", "gezin", "kinderen", "aantal_kinderen"],
        ),
        ("contactpersonen-welzijn.yaml", ["entiteit", "rol"]),
    ],
)
def test_the_shipped_questionnaires_declare_their_quasi_identifiers(name: str, expected: list[str]) -> None:
    questionnaire = load_questionnaire(REPO / "questionnaires" / name)
    keys = {qi.question: qi for qi in questionnaire.quasi_identifiers()}
    assert list(keys)[: len(expected)] == expected
    groups = [q.id for q in questionnaire.questions if q.measure is not None and q.measure.type == "group"]
    assert set(groups) <= set(keys)  # every group question is covered
    assert keys["entiteit"].level_maps()[0]["kb"] == "horizontaal"
    if "aantal_kinderen" in keys:
        assert keys["aantal_kinderen"].top_code == 3
        assert keys["leeftijd"].level_maps()[0]["65plus"] == "60plus"
