"""Regenerate voorbeeld.xlsx: a small KoboToolbox-style XLSForm (Dutch and English).

Run: .venv/bin/python tests/data/xlsform/make_voorbeeld.py
It deliberately holds a geopoint and a repeat group, which the importer cannot convert.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent

SURVEY = [
    [
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
    ],
    ["start", "start", "", "", "", "", "", "", "", ""],
    ["end", "end", "", "", "", "", "", "", "", ""],
    [
        "note",
        "intro",
        "Deze bevraging duurt 5 minuten.",
        "This survey takes 5 minutes.",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    ["begin_group", "profiel", "Over u", "About you", "", "", "", "", "", "field-list"],
    [
        "select_one status",
        "status",
        "Werkt u of bent u met pensioen?",
        "Do you work or are you retired?",
        "",
        "",
        "yes",
        "",
        "",
        "",
    ],
    [
        "integer",
        "kinderen",
        "Hoeveel kinderen wonen bij u?",
        "How many children live with you?",
        "Tel alle kinderen",
        "Count all children",
        "",
        "",
        ". >= 0 and . <= 15",
        "",
    ],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["begin_group", "aanbod", "Ons aanbod", "Our offer", "", "", "", "", "", ""],
    [
        "select_multiple aanbod",
        "gebruikt",
        "Wat heeft u gebruikt?",
        "What have you used?",
        "Meer antwoorden mogelijk",
        "More than one answer possible",
        "",
        "",
        "",
        "",
    ],
    [
        "select_one yes_no",
        "sint",
        "Kreeg u een Sintgeschenk?",
        "Did you get a Saint Nicholas gift?",
        "",
        "",
        "",
        "${kinderen} > 0",
        "",
        "",
    ],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["begin_group", "oordeel", "Uw oordeel", "Your opinion", "", "", "", "", "", ""],
    [
        "select_one tevreden",
        "tevreden_pluspas",
        "Hoe tevreden bent u over de PlusPas?",
        "How satisfied are you with the PlusPas?",
        "",
        "",
        "",
        "selected(${gebruikt}, 'pluspas')",
        "",
        "likert",
    ],
    [
        "select_one yes_no",
        "mist",
        "Mist u iets in ons aanbod?",
        "Is anything missing from our offer?",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    ["text", "mist_wat", "Wat mist u?", "What is missing?", "", "", "", "${mist} = 'yes'", "", "multiline"],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["geopoint", "locatie", "Waar woont u?", "Where do you live?", "", "", "", "", "", ""],
    ["begin_repeat", "gezinsleden", "Gezinsleden", "Family members", "", "", "", "", "", ""],
    ["text", "voornaam", "Voornaam", "First name", "", "", "", "", "", ""],
    ["end_repeat", "", "", "", "", "", "", "", "", ""],
    ["text", "suggestie", "Heeft u nog suggesties?", "Any suggestions?", "", "", "", "", "", ""],
]
CHOICES = [
    ["list_name", "name", "label::Nederlands (nl)", "label::English (en)"],
    ["status", "actief", "Ik werk", "I work"],
    ["status", "gepensioneerd", "Ik ben met pensioen", "I am retired"],
    ["aanbod", "pluspas", "PlusPas", "PlusPas"],
    ["aanbod", "sintgeschenk", "Sintgeschenk", "Saint Nicholas gift"],
    ["aanbod", "events", "Events in de kijker", "Featured events"],
    ["yes_no", "yes", "Ja", "Yes"],
    ["yes_no", "no", "Nee", "No"],
    ["tevreden", 1, "Zeer ontevreden", "Very dissatisfied"],
    ["tevreden", 2, "Ontevreden", "Dissatisfied"],
    ["tevreden", 3, "Neutraal", "Neutral"],
    ["tevreden", 4, "Tevreden", "Satisfied"],
    ["tevreden", 5, "Zeer tevreden", "Very satisfied"],
    ["tevreden", "weet_niet", "Weet niet", "Don't know"],
]
SETTINGS = [
    ["form_id", "form_title", "version", "default_language"],
    ["voorbeeld_kobo", "Voorbeeld KoboToolbox", "1", "Nederlands (nl)"],
]


def main() -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    for name, rows in (("survey", SURVEY), ("choices", CHOICES), ("settings", SETTINGS)):
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.remove(first)
    workbook.save(HERE / "voorbeeld.xlsx")


if __name__ == "__main__":
    main()
