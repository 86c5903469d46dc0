"""The form builder: every question type becomes the right fields, validation and answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from surveyapp import create_app
from surveyapp.forms import build_page_form, page_answers
from surveyapp.questionnaire import Questionnaire, load_questionnaire

MINI = Path(__file__).parent / "data" / "questionnaires" / "mini.yaml"


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    return load_questionnaire(MINI)


@pytest.fixture
def request_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    )
    with app.test_request_context(method="POST"):
        yield app


def form_for(questionnaire: Questionnaire, page_id: str, data: dict[str, object], answers=None, lang="nl"):  # type: ignore[no-untyped-def]
    page = questionnaire.pages[questionnaire.page_index(page_id)]
    return build_page_form(questionnaire, page, lang, answers or {}, formdata=MultiDict(data))


def test_choice_number_and_info(request_app: Flask, questionnaire: Questionnaire) -> None:
    form = form_for(questionnaire, "profiel", {"q_status": "actief", "q_kinderen": "3"})
    assert set(form.field_questions) == {"q_status", "q_kinderen"}  # info adds no field
    assert [q.id for q in form.visible_questions] == ["intro_info", "status", "kinderen"]
    assert form.validate(), form.errors
    assert page_answers(form) == {"status": "actief", "kinderen": 3}
    assert [c.label.text for c in form.q_status] == ["Actief", "Gepensioneerd"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        # Messages in the page's language: Dutch by default.
        ({"q_kinderen": "1"}, "q_status", "Beantwoord deze vraag."),
        ({"q_status": "ceo", "q_kinderen": "1"}, "q_status", "geen van de mogelijke antwoorden"),
        ({"q_status": "actief", "q_kinderen": "16"}, "q_kinderen", "van 0 tot en met 15"),
        ({"q_status": "actief", "q_kinderen": "twee"}, "q_kinderen", "Ongeldig getal"),
        ({"q_status": "actief", "q_kinderen": "2.5"}, "q_kinderen", "Ongeldig getal"),
    ],
)
def test_invalid_answers_are_errors_on_their_field(
    request_app: Flask, questionnaire: Questionnaire, data: dict[str, object], field: str, message: str
) -> None:
    form = form_for(questionnaire, "profiel", data, lang="en")
    assert not form.validate()
    assert any(message in error for error in form.errors[field]), form.errors


def test_yes_no_and_matrix_rows(request_app: Flask, questionnaire: Questionnaire) -> None:
    form = form_for(
        questionnaire,
        "kennis",
        {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"},
    )
    assert form.validate(), form.errors
    assert page_answers(form) == {
        "ken_dienst": "yes",
        "ken_aanbod/pluspas": "ja",
        "ken_aanbod/sintgeschenk": "nee",
    }
    missing_row = form_for(questionnaire, "kennis", {"q_ken_dienst": "no", "q_ken_aanbod__pluspas": "ja"})
    assert not missing_row.validate() and "q_ken_aanbod__sintgeschenk" in missing_row.errors


def test_matrix_rows_follow_earlier_answers_and_multiple_choice(
    request_app: Flask, questionnaire: Questionnaire
) -> None:
    answers = {"ken_aanbod/pluspas": "nee", "ken_aanbod/sintgeschenk": "ja"}
    form = form_for(
        questionnaire,
        "gebruik",
        {"q_gebruik_aanbod__sintgeschenk": "ja", "q_hulp": ["financieel", "administratief"]},
        answers,
    )
    assert "q_gebruik_aanbod__pluspas" not in form.field_questions  # row hidden: not asked
    assert form.validate(), form.errors
    assert page_answers(form) == {
        "gebruik_aanbod/sintgeschenk": "ja",
        "hulp": ["financieel", "administratief"],
    }
    bad = form_for(questionnaire, "gebruik", {"q_hulp": ["financieel", "loterij"]}, answers)
    assert not bad.validate() and "q_hulp" in bad.errors


def test_form_classes_are_reused_per_shape_and_language(
    request_app: Flask, questionnaire: Questionnaire
) -> None:
    """The cached form class depends on the visible rows and the language, never on the answers given."""
    page = questionnaire.pages[questionnaire.page_index("gebruik")]
    only_sint = {"ken_aanbod/pluspas": "nee", "ken_aanbod/sintgeschenk": "ja"}
    both = {"ken_aanbod/pluspas": "ja", "ken_aanbod/sintgeschenk": "ja"}
    first = build_page_form(questionnaire, page, "nl", {**only_sint, "hulp": ["financieel"]})
    again = build_page_form(questionnaire, page, "nl", {**only_sint, "gebruik_aanbod/sintgeschenk": "nee"})
    assert type(first) is type(again)  # same shape: one class
    assert first.q_hulp.data == ["financieel"] and again.q_hulp.data is None  # each its own answers
    assert again.q_gebruik_aanbod__sintgeschenk.data == "nee"
    wider = build_page_form(questionnaire, page, "nl", both)
    assert type(wider) is not type(first) and "q_gebruik_aanbod__pluspas" in wider.field_questions
    english = build_page_form(questionnaire, page, "en", only_sint)
    assert type(english) is not type(first)
    assert english.q_hulp.label.text == "What did you seek help for?"
    assert first.q_hulp.label.text == "Waarvoor zocht u hulp?"


def test_the_form_class_cache_evicts_the_least_recently_used(
    request_app: Flask, questionnaire: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bounded cache: rare shapes go first, a shape in use stays (not the whole cache at once)."""
    from surveyapp.forms import builder
    from surveyapp.lru import LRU

    monkeypatch.setattr(builder, "_FORM_CLASSES", LRU(3))
    page = questionnaire.pages[questionnaire.page_index("gebruik")]
    shapes = [
        {"ken_aanbod/pluspas": pluspas, "ken_aanbod/sintgeschenk": sint}
        for pluspas in ("ja", "nee")
        for sint in ("ja", "nee")
    ]
    in_use = builder.page_form_class(questionnaire, page, "nl", shapes[0])
    for rare in shapes[1:] + shapes[1:]:
        builder.page_form_class(questionnaire, page, "nl", rare)
        assert builder.page_form_class(questionnaire, page, "nl", shapes[0]) is in_use
        assert len(builder._FORM_CLASSES) <= 3


def test_rating_text_and_long_text(request_app: Flask, questionnaire: Questionnaire) -> None:
    answers = {"gebruik_aanbod/pluspas": "ja", "hulp": ["financieel"]}
    form = form_for(
        questionnaire,
        "tevredenheid",
        {"q_tevreden_pluspas": "na", "q_financieel_detail": "  huur  ", "q_suggestie": ""},
        answers,
    )
    assert form.validate(), form.errors
    assert page_answers(form) == {"tevreden_pluspas": "na", "financieel_detail": "huur", "suggestie": None}
    too_long = form_for(questionnaire, "tevredenheid", {"q_financieel_detail": "x" * 101}, answers)
    assert not too_long.validate() and "q_financieel_detail" in too_long.errors
    hidden = form_for(questionnaire, "tevredenheid", {}, {})
    assert set(hidden.field_questions) == {"q_suggestie"}  # conditions hide the other two


def test_saved_answers_prefill_the_fields(request_app: Flask, questionnaire: Questionnaire) -> None:
    page = questionnaire.pages[questionnaire.page_index("gebruik")]
    answers = {"ken_aanbod/pluspas": "ja", "gebruik_aanbod/pluspas": "ja", "hulp": ["psychosociaal"]}
    form = build_page_form(questionnaire, page, "en", answers, formdata=None)
    assert form.q_gebruik_aanbod__pluspas.data == "ja"
    assert form.q_hulp.data == ["psychosociaal"]
    assert form.q_hulp.label.text == "What did you seek help for?"
