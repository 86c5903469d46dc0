"""Question types: how each questionnaire question type becomes WTForms fields and answers.

Each type knows three things: which fields it adds to a page's form, how to read the submitted
data back into answers (keyed by answer name: ``qid``, or ``qid/item`` for a matrix row) and
how to pre-fill the fields from saved answers (save and resume).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, FloatField, IntegerField, RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextArea, TextInput

from surveyapp.questionnaire.model import Question, Questionnaire, localize


@dataclass(frozen=True)
class FieldSpec:
    """One form field a question contributes, with the answer key it fills."""

    name: str
    answer_key: str
    field: UnboundField


def field_name(answer_key: str) -> str:
    """HTML/WTForms-safe field name for an answer key (``qid/item`` → ``q_qid__item``)."""
    return "q_" + answer_key.replace("/", "__")


class MultiCheckboxField(SelectMultipleField):
    """Multiple choice as a list of checkboxes (one fieldset, each box with its own label)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CodeRadioField(RadioField):
    """Radio buttons whose unknown codes give a clear error instead of WTForms' terse one."""

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        if self.data not in {choice.value for choice in self._iter_choices_normalized()}:
            raise ValidationError(_l("This is not one of the options: choose an option from the list."))


def _presence(question: Question) -> list[Any]:
    if question.required:
        return [InputRequired(message=_l("Please answer this question."))]
    return [Optional()]


def _choices(question: Question, lang: str) -> list[SelectChoice]:
    return [SelectChoice(choice.code, localize(choice.label, lang)) for choice in question.choices]


def _label(question: Question, lang: str) -> str:
    return localize(question.label, lang)


def _description(question: Question, lang: str) -> str:
    return localize(question.help, lang) if question.help else ""


FieldBuilder = Callable[[Questionnaire, Question, str, Mapping[str, Any]], list[FieldSpec]]


def _single(qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]) -> list[FieldSpec]:
    field = CodeRadioField(
        _label(question, lang),
        choices=_choices(question, lang),
        validators=_presence(question),
        description=_description(question, lang),
        validate_choice=True,
    )
    return [FieldSpec(field_name(question.id), question.id, field)]


def _multiple(
    qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]
) -> list[FieldSpec]:
    validators: list[Any] = [
        InputRequired(message=_l("Please choose at least one option.")) if question.required else Optional()
    ]
    field = MultiCheckboxField(
        _label(question, lang),
        choices=_choices(question, lang),
        validators=validators,
        description=_description(question, lang),
    )
    return [FieldSpec(field_name(question.id), question.id, field)]


def _matrix(qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]) -> list[FieldSpec]:
    specs = []
    for item in qn.visible_items(question, answers):
        key = f"{question.id}/{item.id}"
        field = CodeRadioField(
            localize(item.label, lang),
            choices=_choices(question, lang),
            validators=_presence(question),
            validate_choice=True,
        )
        specs.append(FieldSpec(field_name(key), key, field))
    return specs


def _number(qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]) -> list[FieldSpec]:
    validators = _presence(question)
    if question.minimum is not None or question.maximum is not None:
        low, high = question.minimum, question.maximum
        if low is not None and high is not None:
            message = _l("Enter a number from %(low)s to %(high)s.", low=f"{low:g}", high=f"{high:g}")
        elif low is not None:
            message = _l("Enter a number of at least %(low)s.", low=f"{low:g}")
        else:
            message = _l("Enter a number of at most %(high)s.", high=f"{high:g}")
        validators.append(NumberRange(min=low, max=high, message=message))
    validators.append(_finite)
    field_class = IntegerField if question.integer else FloatField
    # A text input with a numeric keyboard rather than type=number: number inputs change
    # value on scroll and are announced poorly by several screen readers (GOV.UK guidance).
    field = field_class(
        _label(question, lang),
        validators=validators,
        description=_description(question, lang),
        widget=TextInput(),
        render_kw={
            "inputmode": "numeric" if question.integer else "decimal",
            "autocomplete": "off",
            "spellcheck": "false",
        },
    )
    return [FieldSpec(field_name(question.id), question.id, field)]


def _finite(form: Any, field: Field) -> None:
    """'nan' and 'inf' parse as floats; they are not answers."""
    if isinstance(field.data, float) and not math.isfinite(field.data):
        raise ValidationError(_l("Enter a number."))


def _text(qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]) -> list[FieldSpec]:
    limit = question.max_length or 300
    validators = [
        *_presence(question),
        Length(max=limit, message=_l("Keep it to %(max)d characters at most.", max=limit)),
    ]
    kwargs: dict[str, Any] = {"render_kw": {"maxlength": str(limit)}}
    if question.type == "long_text":
        kwargs["widget"] = TextArea()
        kwargs["render_kw"]["rows"] = "5"
    field = StringField(
        _label(question, lang), validators=validators, description=_description(question, lang), **kwargs
    )
    return [FieldSpec(field_name(question.id), question.id, field)]


def _info(qn: Questionnaire, question: Question, lang: str, answers: Mapping[str, Any]) -> list[FieldSpec]:
    return []


# The registry: one builder per question type of the questionnaire format.
FIELD_BUILDERS: dict[str, FieldBuilder] = {
    "single_choice": _single,
    "yes_no": _single,
    "rating": _single,
    "multiple_choice": _multiple,
    "matrix": _matrix,
    "number": _number,
    "text": _text,
    "long_text": _text,
    "info": _info,
}


def read_answer(question: Question, field: Field) -> Any:
    """The stored answer for one field's submitted data (None when left empty)."""
    data = field.data
    if question.type == "multiple_choice":
        # Only real codes: WTForms' Optional() skips choice validation for blank-only input.
        chosen = [code for code in question.codes if data and code in data]
        return chosen or None
    if question.type in {"text", "long_text"}:
        # Browsers send line breaks as CRLF; store them as plain newlines.
        text = (data or "").replace("\r\n", "\n").replace("\r", "\n")
        # Control characters (NUL above all: PostgreSQL JSON cannot hold it) are never meant.
        text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
        return text or None
    if question.type == "number":
        if data is None:
            return None
        return int(data) if question.integer else float(data)
    return data if data in question.codes else None


def initial_value(question: Question, answer: Any) -> Any:
    """The field value that shows a saved answer again."""
    if answer is None:
        return None
    if question.type == "multiple_choice":
        return list(answer)
    return answer
