"""XLSForm (KoboToolbox / ODK) import: workbooks built with openpyxl in a temporary folder."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from surveyapp.questionnaire import build_questionnaire, load_questionnaire
from surveyapp.questionnaire.xlsform import XLSFormError, convert_xlsform, write_yaml

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "xlsform" / "voorbeeld.xlsx"

Rows = list[list[Any]]

SURVEY_HEADER = [
    "type",
    "name",
    "label::Nederlands (nl)",
    "label::English (en)",
    "hint::Nederlands (nl)",
    "hint::English (en)",
    "required",
    "relevant",
    "constraint",
    "appearance",
]
CHOICES_HEADER = ["list_name", "name", "label::Nederlands (nl)", "label::English (en)"]
SETTINGS = [
    ["form_id", "form_title::Nederlands (nl)", "form_title::English (en)", "version", "default_language"],
    ["Welzijn-2025", "Welzijnsbevraging", "Wellbeing survey", "2025-1", "Nederlands (nl)"],
]

GOOD_SURVEY: Rows = [
    SURVEY_HEADER,
    [
        "begin_group",
        "profiel",
        "Over u",
        "About you",
        "Eerst iets over uzelf",
        "First something about yourself",
        "",
        "",
        "",
        "field-list",
    ],
    ["select_one status", "status", "Werkt u nog?", "Do you still work?", "", "", "yes", "", "", ""],
    [
        "integer",
        "leeftijd",
        "Hoe oud bent u?",
        "How old are you?",
        "In jaren",
        "In years",
        "true",
        "",
        ". >= 16 and . <= 99",
        "",
    ],
    ["select_one yn", "kinderen", "Heeft u kinderen?", "Do you have children?", "", "", "", "", "", ""],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["begin_group", "aanbod", "Het aanbod", "The offer", "", "", "", "${status} = 'actief'", "", ""],
    [
        "select_multiple aanbod",
        "gebruik",
        "Wat gebruikt u?",
        "What do you use?",
        "Meer dan één antwoord mag",
        "More than one answer is fine",
        "",
        "${kinderen} = 'yes'",
        "",
        "",
    ],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["begin group", "mening", "Uw mening", "Your opinion", "", "", "", "", "", ""],
    [
        "select_one vijf",
        "tevreden",
        "Hoe tevreden bent u over de PlusPas?",
        "How satisfied are you with the PlusPas?",
        "",
        "",
        "",
        "selected(${gebruik}, 'pluspas') and not(${status} = 'gepensioneerd')",
        "",
        "likert",
    ],
    [
        "decimal",
        "uren",
        "Hoeveel uur per week werkt u?",
        "How many hours a week do you work?",
        "",
        "",
        "",
        "",
        ".>=0 and .<=40",
        "",
    ],
    [
        "text",
        "opmerking",
        "Wat wilt u nog kwijt?",
        "Anything else?",
        "Geen namen a.u.b.",
        "No names please",
        "",
        "",
        "",
        "multiline",
    ],
    ["text", "kort", "In één woord?", "In one word?", "", "", "", "", "string-length(.) <= 50", ""],
    ["note", "bedankt", "Bedankt!", "Thank you!", "", "", "", "", "", ""],
    ["end group", "", "", "", "", "", "", "", "", ""],
    [
        "text",
        "laatste",
        "Nog iets over uw pensioen?",
        "Anything about your retirement?",
        "",
        "",
        "",
        "${leeftijd} > 60 or ${status} != 'actief'",
        "",
        "",
    ],
]
GOOD_CHOICES: Rows = [
    CHOICES_HEADER,
    ["status", "actief", "Ja, ik werk", "Yes, I work"],
    ["status", "gepensioneerd", "Nee, ik ben met pensioen", "No, I am retired"],
    ["yn", "yes", "Ja", "Yes"],
    ["yn", "no", "Nee", "No"],
    ["aanbod", "pluspas", "PlusPas", "PlusPas"],
    ["aanbod", "sint", "Sintgeschenk", "Saint Nicholas gift"],
    ["vijf", 1, "Zeer ontevreden", "Very dissatisfied"],
    ["vijf", 2, "Ontevreden", "Dissatisfied"],
    ["vijf", 3, "Neutraal", "Neutral"],
    ["vijf", 4, "Tevreden", "Satisfied"],
    ["vijf", 5, "Zeer tevreden", "Very satisfied"],
    ["vijf", "dk", "Weet niet", "Don't know"],
]


def make_workbook(
    path: Path,
    survey: Rows | None,
    choices: Rows | None = None,
    settings: Rows | None = None,
    extra: dict[str, Rows] | None = None,
) -> Path:
    workbook = openpyxl.Workbook()
    default = workbook.active
    assert default is not None
    sheets = {"survey": survey, "choices": choices, "settings": settings, **(extra or {})}
    for name, rows in sheets.items():
        if rows is None:
            continue
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.remove(default)
    if not workbook.sheetnames:
        workbook.create_sheet("Blad1")
    workbook.save(path)
    return path


def good_form(tmp_path: Path) -> Path:
    return make_workbook(tmp_path / "good.xlsx", GOOD_SURVEY, GOOD_CHOICES, SETTINGS)


def page(data: dict[str, Any], page_id: str) -> dict[str, Any]:
    return next(p for p in data["pages"] if p["id"] == page_id)


def question(data: dict[str, Any], qid: str) -> dict[str, Any]:
    return next(q for p in data["pages"] for q in p["questions"] if q["id"] == qid)


def problems_about(problems: list[str], text: str) -> list[str]:
    return [p for p in problems if text in p]


# --- a good form ---------------------------------------------------------------------------------


def test_good_form_converts_without_problems(tmp_path: Path) -> None:
    data, problems = convert_xlsform(good_form(tmp_path))
    assert problems == []
    questionnaire = build_questionnaire(data)
    assert questionnaire.id == "welzijn_2025"
    assert questionnaire.version_label == "2025-1"
    assert questionnaire.languages == ("nl", "en")
    assert dict(questionnaire.title) == {"nl": "Welzijnsbevraging", "en": "Wellbeing survey"}


def test_groups_become_pages_and_top_level_questions_get_their_own(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    assert [p["id"] for p in data["pages"]] == ["profiel", "aanbod", "mening", "page_1"]
    assert [q["id"] for q in page(data, "profiel")["questions"]] == ["status", "leeftijd", "kinderen"]
    assert page(data, "profiel")["title"] == {"nl": "Over u", "en": "About you"}
    # a group's hint is the page's introduction
    assert page(data, "profiel")["intro"] == {
        "nl": "Eerst iets over uzelf",
        "en": "First something about yourself",
    }
    assert "intro" not in page(data, "aanbod")
    assert page(data, "aanbod")["show_if"] == "status = 'actief'"
    assert "show_if" not in page(data, "profiel")
    assert [q["id"] for q in page(data, "page_1")["questions"]] == ["laatste"]
    assert page(data, "page_1")["title"] == {"nl": "Welzijnsbevraging", "en": "Wellbeing survey"}


def test_question_types(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    types = {q["id"]: q["type"] for p in data["pages"] for q in p["questions"]}
    assert types == {
        "status": "single_choice",
        "leeftijd": "number",
        "kinderen": "yes_no",
        "gebruik": "multiple_choice",
        "tevreden": "rating",
        "uren": "number",
        "opmerking": "long_text",
        "kort": "text",
        "bedankt": "info",
        "laatste": "text",
    }


def test_choices_labels_hints_and_required(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    status = question(data, "status")
    assert status["choices"] == "status"
    assert status["required"] is True
    assert status["label"] == {"nl": "Werkt u nog?", "en": "Do you still work?"}
    assert data["choice_lists"]["status"] == [
        {"code": "actief", "label": {"nl": "Ja, ik werk", "en": "Yes, I work"}},
        {"code": "gepensioneerd", "label": {"nl": "Nee, ik ben met pensioen", "en": "No, I am retired"}},
    ]
    assert "yn" not in data["choice_lists"]  # yes/no questions use the built-in labels
    assert "choices" not in question(data, "kinderen")
    assert question(data, "leeftijd")["help"] == {"nl": "In jaren", "en": "In years"}
    assert question(data, "leeftijd")["required"] is True
    assert "required" not in question(data, "gebruik")
    assert question(data, "opmerking")["help"]["en"] == "No names please"
    assert question(data, "bedankt")["label"] == {"nl": "Bedankt!", "en": "Thank you!"}


def test_numbers_take_bounds_from_the_constraint(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    age = question(data, "leeftijd")
    assert (age["min"], age["max"], age["integer"]) == (16, 99, True)
    hours = question(data, "uren")
    assert (hours["min"], hours["max"], hours["integer"]) == (0, 40, False)
    assert question(data, "kort")["max_length"] == 50


def test_likert_with_numeric_codes_becomes_a_rating(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    rating = question(data, "tevreden")
    assert rating["scale"] == "vijf"
    scale = data["choice_lists"]["vijf"]
    assert [c["code"] for c in scale] == ["1", "2", "3", "4", "5", "dk"]
    assert [c.get("missing", False) for c in scale] == [False] * 5 + [True]


def test_relevant_becomes_show_if(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    assert question(data, "gebruik")["show_if"] == "kinderen = 'yes'"
    assert question(data, "tevreden")["show_if"] == "'pluspas' in gebruik and not (status = 'gepensioneerd')"
    assert question(data, "laatste")["show_if"] == "leeftijd > 60 or not (status = 'actief')"
    questionnaire = build_questionnaire(data)
    laatste = questionnaire.question("laatste")
    assert questionnaire.question_visible(laatste, {"status": "gepensioneerd", "leeftijd": 50})
    assert questionnaire.question_visible(laatste, {"status": "actief", "leeftijd": 61})
    assert not questionnaire.question_visible(laatste, {"status": "actief", "leeftijd": 40})
    # As in ODK, '!=' holds for a blank answer.
    assert questionnaire.question_visible(laatste, {})


@pytest.mark.parametrize(
    ("relevant", "expected"),
    [
        ("${kleur} = 'rood'", "kleur = 'rood'"),
        ("'rood' = ${kleur}", "kleur = 'rood'"),
        ("${kleur} != 'rood'", "not (kleur = 'rood')"),
        ("${kleur}='rood' or ${kleur}='blauw'", "kleur = 'rood' or kleur = 'blauw'"),
        ("selected(${kleur}, 'blauw')", "kleur = 'blauw'"),
        ("${kleur} != ''", "kleur in ['rood', 'blauw']"),
        ("${kleur} = ''", "not (kleur in ['rood', 'blauw'])"),
        ("selected(${dieren}, 'kat')", "'kat' in dieren"),
        ("not(selected(${dieren}, 'kat'))", "not ('kat' in dieren)"),
        ("count-selected(${dieren}) > 0", "('hond' in dieren or 'kat' in dieren)"),
        ("count-selected(${dieren}) = 0", "not ('hond' in dieren or 'kat' in dieren)"),
        ("${aantal} >= 2 and ${aantal} < 10", "aantal >= 2 and aantal < 10"),
        ("${aantal} != 3", "not (aantal = 3)"),
        ("${aantal} > '2'", "aantal > 2"),
        ("5 < ${aantal}", "aantal > 5"),
        ("${score} >= 4", "score in ['4', '5']"),
        ("${score} < 2", "score in ['1']"),
        ("${score} = 3", "score = '3'"),
        ("${naam} != ''", "naam != ''"),
        ("${naam} = 'Jan'", "naam = 'Jan'"),
        ("${janee} = 'yes'", "janee = 'yes'"),
        (
            "(${kleur} = 'rood' or ${kleur} = 'blauw') and ${janee} = 'no'",
            "(kleur = 'rood' or kleur = 'blauw') and janee = 'no'",
        ),
        ("not(${kleur} = 'rood' and ${aantal} > 1)", "not (kleur = 'rood' and aantal > 1)"),
    ],
)
def test_relevant_expressions(tmp_path: Path, relevant: str, expected: str) -> None:
    survey: Rows = [
        ["type", "name", "label", "relevant", "appearance"],
        ["begin_group", "basis", "Basis", "", ""],
        ["select_one kleuren", "kleur", "Kleur?", "", ""],
        ["select_multiple dieren", "dieren", "Dieren?", "", ""],
        ["integer", "aantal", "Aantal?", "", ""],
        ["select_one score", "score", "Score?", "", "likert"],
        ["text", "naam", "Naam?", "", ""],
        ["select_one yn", "janee", "Ja of nee?", "", ""],
        ["end_group", "", "", "", ""],
        ["text", "vraag", "Vraag?", relevant, ""],
    ]
    choices: Rows = [
        ["list_name", "name", "label"],
        ["kleuren", "rood", "Rood"],
        ["kleuren", "blauw", "Blauw"],
        ["dieren", "hond", "Hond"],
        ["dieren", "kat", "Kat"],
        *[["score", str(n), f"Score {n}"] for n in range(1, 6)],
        ["yn", "yes", "Ja"],
        ["yn", "no", "Nee"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "rel.xlsx", survey, choices))
    assert problems == []
    assert question(data, "vraag")["show_if"] == expected
    build_questionnaire(data)


@pytest.mark.parametrize(
    ("relevant", "reason"),
    [
        ("${aantal} + 1 > 3", "not supported"),
        ("${kleur} = 'paars'", "'paars' is not a choice of 'kleur'"),
        ("${dieren} = 'kat'", "use selected("),
        ("${onbekend} = 'x'", "not a question of this form"),
        ("${later} = 'x'", "comes later in the form"),
        ("today() > ${aantal}", "today() is not supported"),
        ("${aantal} = 'veel'", "cannot be compared"),
        ("string-length(${naam}) > 3", "string-length() is not supported"),
        ("${kleur} = 'rood' and", "ends too early"),
        ("${kleur} = ${naam}", "comparing two answers"),
        ("${uitleg} = 'x'", "is a note: it has no answer"),
        ("${kleur} = 'rood' extra", "'extra' is not supported here"),
    ],
)
def test_relevant_that_cannot_be_converted(tmp_path: Path, relevant: str, reason: str) -> None:
    survey: Rows = [
        ["type", "name", "label", "relevant"],
        ["select_one kleuren", "kleur", "Kleur?", ""],
        ["select_multiple dieren", "dieren", "Dieren?", ""],
        ["integer", "aantal", "Aantal?", ""],
        ["text", "naam", "Naam?", ""],
        ["note", "uitleg", "Uitleg", ""],
        ["begin_group", "verder", "Verder", ""],
        ["text", "vraag", "Vraag?", relevant],
        ["text", "later", "Later?", ""],
        ["end_group", "", "", ""],
    ]
    choices: Rows = [
        ["list_name", "name", "label"],
        ["kleuren", "rood", "Rood"],
        ["dieren", "kat", "Kat"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "bad_rel.xlsx", survey, choices))
    assert "show_if" not in question(data, "vraag")  # dropped: the question is always shown
    [message] = problems
    assert message.startswith("survey row 8 ('vraag'): relevant ")
    assert reason in message
    assert "dropped" in message
    build_questionnaire(data)


def test_condition_on_the_same_page_splits_the_page(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "relevant"],
        ["begin_group", "werk", "Werk", ""],
        ["select_one yn", "werkt", "Werkt u?", ""],
        ["integer", "uren", "Uren?", "${werkt} = 'yes'"],
        ["end_group", "", "", ""],
        ["select_one yn", "los", "Los?", ""],
        ["text", "waarom", "Waarom?", "${los} = 'no'"],
    ]
    choices: Rows = [["list_name", "name", "label"], ["yn", "yes", "Ja"], ["yn", "no", "Nee"]]
    data, problems = convert_xlsform(make_workbook(tmp_path / "split.xlsx", survey, choices))
    assert [p["id"] for p in data["pages"]] == ["werk", "werk_2", "page_1", "page_2"]
    assert page(data, "werk_2")["title"] == page(data, "werk")["title"]
    # splitting a group is reported; splitting the top-level run is our own pagination
    [message] = problems
    assert message.startswith("survey row 4 ('uren')")
    assert "werkt" in message
    assert "new page" in message
    build_questionnaire(data)


def test_nested_groups_combine_their_conditions(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "relevant"],
        ["select_one yn", "actief", "Actief?", ""],
        ["select_one yn", "kinderen", "Kinderen?", ""],
        ["begin_group", "buiten", "Buiten", "${actief} = 'yes'"],
        ["text", "a", "A?", ""],
        ["begin_group", "binnen", "Binnen", "${kinderen} = 'yes'"],
        ["text", "b", "B?", ""],
        ["end_group", "", "", ""],
        ["text", "c", "C?", ""],
        ["end_group", "", "", ""],
    ]
    choices: Rows = [["list_name", "name", "label"], ["yn", "yes", "Ja"], ["yn", "no", "Nee"]]
    data, problems = convert_xlsform(make_workbook(tmp_path / "nested.xlsx", survey, choices))
    assert problems == []
    assert [p["id"] for p in data["pages"]] == ["page_1", "buiten", "binnen", "buiten_2"]
    assert page(data, "buiten")["show_if"] == "actief = 'yes'"
    assert page(data, "binnen")["show_if"] == "(actief = 'yes') and (kinderen = 'yes')"
    assert page(data, "buiten_2")["show_if"] == "actief = 'yes'"
    build_questionnaire(data)


# --- languages -----------------------------------------------------------------------------------


def test_plain_label_is_the_default_language(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "label::English (en)", "hint"],
        ["text", "naam", "Uw naam?", "Your name?", "Voornaam volstaat"],
    ]
    settings: Rows = [["form_title", "default_language"], ["Test", "Nederlands (nl)"]]
    data, problems = convert_xlsform(make_workbook(tmp_path / "plain.xlsx", survey, None, settings))
    assert data["languages"] == ["nl", "en"]
    assert question(data, "naam")["label"] == {"nl": "Uw naam?", "en": "Your name?"}
    # the hint and the title only exist in Dutch: copied, and reported
    assert question(data, "naam")["help"] == {"nl": "Voornaam volstaat", "en": "Voornaam volstaat"}
    [message] = problems
    assert "no 'en' text for 2 label(s) or hint(s)" in message
    assert "survey row 2 ('naam')" in message
    assert "settings form_title" in message
    build_questionnaire(data)


def test_english_only_form_gets_a_dutch_copy(tmp_path: Path) -> None:
    survey: Rows = [["type", "name", "label"], ["text", "name", "Your name?"]]
    settings: Rows = [["form_id", "default_language"], ["english", "English (en)"]]
    data, problems = convert_xlsform(make_workbook(tmp_path / "en.xlsx", survey, None, settings))
    assert data["languages"] == ["nl", "en"]
    assert question(data, "name")["label"] == {"nl": "Your name?", "en": "Your name?"}
    assert problems_about(problems, "no 'nl' text")
    assert data["title"] == {"nl": "English", "en": "English"}


def test_language_columns_by_name_and_unknown_languages(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label::Nederlands", "label::English", "label::Klingon"],
        ["text", "naam", "Naam?", "Name?", "pong?"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "names.xlsx", survey))
    assert data["languages"] == ["nl", "en"]
    assert question(data, "naam")["label"] == {"nl": "Naam?", "en": "Name?"}
    [message] = problems
    assert "'label::Klingon'" in message


# --- what cannot be converted --------------------------------------------------------------------

UNSUPPORTED_SURVEY: Rows = [
    ["type", "name", "label", "required", "relevant", "constraint", "default", "calculation"],
    ["start", "start", "", "", "", "", "", ""],
    ["select_one kleuren", "kleur", "Kleur?", "", "", ". != 'groen'", "", ""],
    ["geopoint", "plaats", "Waar bent u?", "", "", "", "", ""],
    ["image", "foto", "Foto?", "", "", "", "", ""],
    ["calculate", "som", "", "", "", "", "", "1 + 1"],
    ["date", "datum", "Datum?", "", "", "", "", ""],
    ["begin_repeat", "kinderen", "Kinderen", "", "", "", "", ""],
    ["text", "kind_naam", "Naam van het kind?", "", "", "", "", ""],
    ["integer", "kind_leeftijd", "Leeftijd?", "", "", "", "", ""],
    ["end_repeat", "", "", "", "", "", "", ""],
    ["text", "uitleg", "Uitleg?", "", "${som} > 1", "", "", ""],
    ["text", "kind", "Welk kind?", "", "${kind_naam} != ''", "", "", ""],
    ["select_one onbestaand", "fout", "Fout?", "", "", "", "", ""],
    ["select_one kleuren or_other", "andere", "Andere kleur?", "", "", "", "", ""],
    ["integer", "getal", "Getal?", "${kleur} = 'rood'", "", ". mod 2 = 0", "4", ""],
    ["text", "Vraag-Één", "Rare naam?", "", "", "", "", ""],
    ["rank", "volgorde", "Volgorde?", "", "", "", "", ""],
]
UNSUPPORTED_CHOICES: Rows = [
    ["list_name", "name", "label"],
    ["kleuren", "rood", "Rood"],
    ["kleuren", "groen", "Groen"],
]


def test_unsupported_types_are_listed_with_row_and_name(tmp_path: Path) -> None:
    form = make_workbook(tmp_path / "odd.xlsx", UNSUPPORTED_SURVEY, UNSUPPORTED_CHOICES)
    data, problems = convert_xlsform(form)
    text = "\n".join(problems)
    expected = [
        "survey row 2 ('start'): metadata (start)",
        "survey row 3 ('kleur'): constraint \". != 'groen'\" was dropped",
        "survey row 4 ('plaats'): type 'geopoint' is not supported",
        "survey row 5 ('foto'): type 'image' is not supported",
        "survey row 6 ('som'): type 'calculate' is not supported",
        "survey row 7 ('datum'): type 'date' is not supported",
        "survey row 8 ('kinderen'): repeat groups are not supported: the repeat (rows 8-11) and its "
        "2 question(s) were dropped",
        "survey row 12 ('uitleg'): relevant '${som} > 1' cannot be converted (${som} was not "
        "converted (type 'calculate' is not supported))",
        "survey row 13 ('kind'): relevant \"${kind_naam} != ''\" cannot be converted (${kind_naam} "
        "was not converted (it is inside repeat group 'kinderen'))",
        "survey row 14 ('fout'): choice list 'onbestaand' is not on the choices sheet",
        "survey row 15 ('andere'): 'or_other' is not supported",
        "survey row 16 ('getal'): required \"${kleur} = 'rood'\" is not yes/no",
        "survey row 16 ('getal'): constraint '. mod 2 = 0' cannot be converted",
        "survey row 16 ('getal'): its default value was dropped",
        "survey row 17 ('Vraag-Één'): the name became 'vraag_een'",
        "survey row 18 ('volgorde'): type 'rank' is not supported",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert len(problems) == len(expected)
    ids = [q["id"] for p in data["pages"] for q in p["questions"]]
    assert ids == ["kleur", "uitleg", "kind", "andere", "getal", "vraag_een"]
    build_questionnaire(data)


def test_unknown_and_dropped_columns(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "choice_filter", "media::image", "mystery", "$kuid"],
        ["select_one kleuren", "kleur", "Kleur?", "filter = 1", "rood.png", "x", "abc"],
    ]
    choices: Rows = [["list_name", "name", "label", "filter"], ["kleuren", "rood", "Rood", 1]]
    _, problems = convert_xlsform(make_workbook(tmp_path / "cols.xlsx", survey, choices))
    assert "survey sheet: column 'mystery' is not supported and was ignored" in problems
    assert "survey row 2 ('kleur'): its choice filter (all choices are shown) was dropped" in problems
    assert "survey row 2 ('kleur'): its media was dropped" in problems
    assert len(problems) == 3


def test_strict_decimal_bound_is_reported(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "constraint"],
        ["decimal", "bedrag", "Bedrag?", ". > 0"],
        ["integer", "kinderen", "Kinderen?", "0 <= . and . < 16"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "strict.xlsx", survey))
    assert question(data, "bedrag")["min"] == 0
    assert (question(data, "kinderen")["min"], question(data, "kinderen")["max"]) == (0, 15)
    [message] = problems
    assert "survey row 2 ('bedrag')" in message
    assert "'>='" in message


def test_range_becomes_a_bounded_number(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label", "parameters"],
        ["range", "cijfer", "Cijfer?", "start=0 end=10 step=1"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "range.xlsx", survey))
    assert problems == []
    cijfer = question(data, "cijfer")
    assert (cijfer["type"], cijfer["min"], cijfer["max"], cijfer["integer"]) == ("number", 0, 10, True)


def test_group_problems(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label"],
        ["end_group", "", ""],
        ["begin_group", "open", "Open"],
        ["text", "vraag", "Vraag?"],
    ]
    data, problems = convert_xlsform(make_workbook(tmp_path / "groups.xlsx", survey))
    assert "survey row 2: end_group without begin_group was ignored" in problems
    assert "survey row 3 ('open'): the group is never closed (end_group)" in problems
    assert [p["id"] for p in data["pages"]] == ["open"]


# --- files that are not XLSForms -----------------------------------------------------------------


def test_not_a_zip_file(tmp_path: Path) -> None:
    path = tmp_path / "form.xlsx"
    path.write_text("type,name,label\ntext,naam,Naam\n", encoding="utf-8")
    with pytest.raises(XLSFormError) as caught:
        convert_xlsform(path)
    assert caught.value.problems == ["this is not an Excel workbook (.xlsx)"]
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)


def test_old_xls_file(tmp_path: Path) -> None:
    path = tmp_path / "form.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(XLSFormError, match=r"old \.xls workbook"):
        convert_xlsform(path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(XLSFormError, match=r"not a readable \.xlsx workbook"):
        convert_xlsform(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(XLSFormError, match="does not exist"):
        convert_xlsform(tmp_path / "nowhere.xlsx")


def test_workbook_without_survey_sheet(tmp_path: Path) -> None:
    path = make_workbook(tmp_path / "nosurvey.xlsx", None, extra={"Blad1": [["a", "b"], [1, 2]]})
    with pytest.raises(XLSFormError) as caught:
        convert_xlsform(path)
    assert caught.value.problems == ["there is no 'survey' sheet (sheets: 'Blad1')"]


def test_survey_sheet_without_the_required_columns(tmp_path: Path) -> None:
    survey: Rows = [["vraag", "tekst"], ["q1", "Hoe gaat het?"]]
    choices: Rows = [["lijst", "code"], ["a", "b"]]
    with pytest.raises(XLSFormError) as caught:
        convert_xlsform(make_workbook(tmp_path / "cols.xlsx", survey, choices))
    assert caught.value.problems == [
        "the survey sheet has no 'type' column",
        "the survey sheet has no 'name' column",
        "the survey sheet has no 'label' column (or 'label::Language (xx)')",
        "the choices sheet has no 'list_name' column",
        "the choices sheet has no 'name' column",
    ]


def test_nothing_convertible(tmp_path: Path) -> None:
    survey: Rows = [["type", "name", "label"], ["geopoint", "plaats", "Waar?"]]
    with pytest.raises(XLSFormError) as caught:
        convert_xlsform(make_workbook(tmp_path / "geo.xlsx", survey))
    assert caught.value.problems[-1] == "no question could be converted"
    assert any("geopoint" in p for p in caught.value.problems)


def test_empty_survey_sheet(tmp_path: Path) -> None:
    survey: Rows = [["type", "name", "label"]]
    with pytest.raises(XLSFormError, match="no questions"):
        convert_xlsform(make_workbook(tmp_path / "empty.xlsx", survey))


# --- writing YAML ----------------------------------------------------------------------------------


def test_write_yaml_round_trips_through_the_loader(tmp_path: Path) -> None:
    data, _ = convert_xlsform(good_form(tmp_path))
    out = tmp_path / "welzijn.yaml"
    write_yaml(data, out, header="Converted from good.xlsx")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Converted from good.xlsx\nformat: surveyapp/1\nid: welzijn_2025\n")
    assert "één" in text  # readable Unicode, not escapes
    assert "&id" not in text and "*id" not in text  # no YAML anchors for shared texts
    loaded = load_questionnaire(out)
    assert loaded.content_hash == build_questionnaire(data).content_hash
    assert yaml.safe_load(text) == data


def test_shipped_sample_form(tmp_path: Path) -> None:
    data, problems = convert_xlsform(SAMPLE)
    questionnaire = build_questionnaire(data)
    assert questionnaire.id == "voorbeeld_kobo"
    assert len(list(questionnaire.questions)) >= 8
    # the sample deliberately holds a few things that cannot be converted
    assert problems_about(problems, "'geopoint' is not supported")
    assert problems_about(problems, "repeat groups are not supported")
    write_yaml(data, tmp_path / "voorbeeld.yaml")
    load_questionnaire(tmp_path / "voorbeeld.yaml")
