"""Build the WTForms form class of one questionnaire page from the question-type registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from surveyapp.forms.registry import FIELD_BUILDERS, FieldSpec, initial_value, read_answer
from surveyapp.lru import LRU
from surveyapp.questionnaire.model import Page, Question, Questionnaire


class PageForm(FlaskForm):
    """Base class of every questionnaire page form; subclasses get one field per answer."""

    class Meta:
        # CSRFProtect checks the token of every POST before any view runs (a clear 400 page);
        # a second check of the same token inside the form would add nothing.
        csrf = False

    # Filled in on each generated subclass: which question each field belongs to.
    field_questions: ClassVar[dict[str, Question]] = {}
    field_answer_keys: ClassVar[dict[str, str]] = {}
    visible_questions: ClassVar[tuple[Question, ...]] = ()
    # The page's questions rendered with no answer yet, per interface language: the same HTML for
    # every respondent who opens the page fresh, so it is kept per class (see the views; None:
    # seen once, not kept yet).
    blank_html: ClassVar[dict[str, Markup | None]] = {}


@dataclass(frozen=True)
class _QuestionFields:
    question: Question
    specs: list[FieldSpec]


def _question_fields(
    questionnaire: Questionnaire, page: Page, lang: str, answers: Mapping[str, Any]
) -> list[_QuestionFields]:
    result = []
    for question in page.questions:
        if not questionnaire.question_visible(question, answers):
            continue
        specs = FIELD_BUILDERS[question.type](questionnaire, question, lang, answers)
        if question.type == "matrix" and not specs:
            continue  # every row hidden: nothing to ask
        result.append(_QuestionFields(question, specs))
    return result


# Form classes are built once per questionnaire version, page, language and set of visible
# fields, not per request: a class with its unbound fields and validators is the costly part of
# a form. Most pages have one shape; a matrix whose rows follow earlier answers has many (the
# usage page of gerechtigden: about one per respondent), so the least recently used go first.
# At most 128, about 14 kB each (without kept pages): under 2 MB per worker.
_FORM_CLASSES: LRU[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]], type[PageForm]] = LRU(128)


def _shape(
    questionnaire: Questionnaire, page: Page, answers: Mapping[str, Any]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The page's visible questions and, for a matrix, its visible rows: what fixes the form class."""
    shape = []
    for question in page.questions:
        if not questionnaire.question_visible(question, answers):
            continue
        rows: tuple[str, ...] = ()
        if question.type == "matrix":
            rows = tuple(item.id for item in questionnaire.visible_items(question, answers))
        shape.append((question.id, rows))
    return tuple(shape)


def page_form_class(
    questionnaire: Questionnaire, page: Page, lang: str, answers: Mapping[str, Any]
) -> type[PageForm]:
    """The form class of a page as the answers so far show it (cached by its shape)."""
    key = (questionnaire.content_hash, page.id, lang, _shape(questionnaire, page, answers))
    cached = _FORM_CLASSES.recent(key)
    if cached is not None:
        return cached
    parts = _question_fields(questionnaire, page, lang, answers)
    attrs: dict[str, Any] = {
        "field_questions": {},
        "field_answer_keys": {},
        "visible_questions": tuple(part.question for part in parts),
        "blank_html": {},
    }
    for part in parts:
        for spec in part.specs:
            attrs[spec.name] = spec.field
            attrs["field_questions"][spec.name] = part.question
            attrs["field_answer_keys"][spec.name] = spec.answer_key
    form_class = type(f"PageForm_{page.id}", (PageForm,), attrs)
    _FORM_CLASSES.put(key, form_class)
    return form_class


def build_page_form(
    questionnaire: Questionnaire,
    page: Page,
    lang: str,
    answers: Mapping[str, Any],
    formdata: MultiDict[str, Any] | None = None,
) -> PageForm:
    """A form instance for one page: only the questions visible given earlier answers.

    Saved answers pre-fill the fields when no form data is posted (save and resume).
    """
    form_class = page_form_class(questionnaire, page, lang, answers)
    initial = {
        name: initial_value(form_class.field_questions[name], answers.get(key))
        for name, key in form_class.field_answer_keys.items()
    }
    form: PageForm = form_class(formdata=formdata, data=initial)
    return form


def page_answers(form: PageForm) -> dict[str, Any]:
    """Answers of a validated page form, keyed by answer name; empty answers are None."""
    return {
        form.field_answer_keys[name]: read_answer(question, form[name])
        for name, question in form.field_questions.items()
    }
