"""Anonymised microdata of a wave: one row per response, CSV or SPSS .sav, and a codebook.

No ids and no dates (the wave is the finest time unit); free-text answers only on request. The
weight column holds the final (raked) weights of the analysis, computed the way
`surveyapp.analysis.measures.analyze` computes them; when they cannot be computed the column is
the base weight 1 and its label says so. Variable names are SPSS-safe (``ken_aanbod/pluspas``
becomes ``ken_aanbod_pluspas``); labels and value labels come from the questionnaire (nl or en).
CSV cells that a spreadsheet would read as formulas get a leading single quote.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import force_locale
from flask_babel import gettext as _

from surveyapp.analysis.result import AnalysisOptions
from surveyapp.models import Wave
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import localize
from surveyapp.reports.xlsx import safe_text

WEIGHT = "gewicht"
TEXT_TYPES = ("text", "long_text")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class Variable:
    name: str
    source: str
    label: str
    kind: str  # "categorical", "binary", "number", "text", "weight"
    value_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Microdata:
    frame: pd.DataFrame
    variables: list[Variable]
    weighted: bool
    title: str


def spss_name(name: str, taken: set[str]) -> str:
    """A valid, unique SPSS variable name (letters, digits, underscore; starts with a letter)."""
    base = _UNSAFE.sub("_", name)
    if not base or not base[0].isalpha():
        base = "v_" + base
    base = base[:60]
    candidate, index = base, 2
    while candidate.lower() in taken:
        candidate = f"{base}_{index}"
        index += 1
    taken.add(candidate.lower())
    return candidate


def final_weights(
    questionnaire: Questionnaire, responses: pd.DataFrame, register: pd.DataFrame, options: AnalysisOptions
) -> np.ndarray | None:
    """The analysis' final weights per response (None when they cannot be computed here)."""
    try:
        from surveyapp.analysis import measures

        checked = measures._check_responses(questionnaire, responses)
        groups = measures.group_frame(questionnaire, checked)
        reg = register if len(register) else None
        info = measures.register_codes(questionnaire, reg)
        weighting = measures._weighting(
            questionnaire, checked, groups, info, None if reg is None else len(reg), options, []
        )
        weights = np.asarray(weighting.design.weights, dtype=float)
    except Exception:  # private API of the analysis: fall back to the base weight 1
        return None
    return weights if weights.size == len(responses) else None


def build_microdata(
    wave: Wave, lang: str = "nl", *, open_answers: bool = False, options: AnalysisOptions | None = None
) -> Microdata:
    """The anonymised response frame of a wave with its variables' metadata."""
    from surveyapp.services.extract import wave_frames, wave_options

    questionnaire, responses, register, _ledger = wave_frames(wave)
    weights = final_weights(questionnaire, responses, register, wave_options(wave, options))
    with force_locale(lang):
        return _assemble(questionnaire, responses, weights, lang, open_answers, wave.title)


def _assemble(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    weights: np.ndarray | None,
    lang: str,
    open_answers: bool,
    title: str,
) -> Microdata:
    taken: set[str] = set()
    data: dict[str, object] = {}
    variables: list[Variable] = []
    for question in questionnaire.questions:
        label = localize(question.label, lang)
        if question.type == "info":
            continue
        if question.type in TEXT_TYPES and not open_answers:
            continue
        if question.type == "multiple_choice":
            for choice in question.choices:
                source = f"{question.id}/{choice.code}"
                if source not in responses:
                    continue
                name = spss_name(source, taken)
                data[name] = responses[source].astype(float)
                variables.append(
                    Variable(
                        name,
                        source,
                        f"{label}: {localize(choice.label, lang)}",
                        "binary",
                        {"0": _("not chosen"), "1": _("chosen")},
                    )
                )
            continue
        for source in question.variable_names():
            if source not in responses:
                continue
            name = spss_name(source, taken)
            column = responses[source]
            row_label = label
            if question.type == "matrix":
                row = next((item for item in question.items if f"{question.id}/{item.id}" == source), None)
                if row is not None:
                    row_label = f"{label}: {localize(row.label, lang)}"
            if question.type == "number":
                data[name] = column.astype(float)
                variables.append(Variable(name, source, row_label, "number"))
            elif question.type in TEXT_TYPES:
                data[name] = column.astype(object).where(column.notna(), "")
                variables.append(Variable(name, source, row_label, "text"))
            else:
                data[name] = column.astype(object).where(column.notna(), "").astype(str)
                variables.append(
                    Variable(
                        name,
                        source,
                        row_label,
                        "categorical",
                        {choice.code: localize(choice.label, lang) for choice in question.choices},
                    )
                )
    weighted = weights is not None
    weight_values = weights if weights is not None else np.ones(len(responses))
    name = spss_name(WEIGHT, taken)
    data[name] = weight_values
    variables.append(
        Variable(
            name,
            WEIGHT,
            _("Final weight (raking)")
            if weighted
            else _("Weight 1 for every respondent: the analysis weights were not available"),
            "weight",
        )
    )
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(responses)))
    return Microdata(frame, variables, weighted, title)


def to_csv(micro: Microdata) -> bytes:
    """UTF-8 CSV (with BOM for Excel), formula-looking texts defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_text(v.name) for v in micro.variables])
    columns = [micro.frame[v.name].tolist() for v in micro.variables]
    for values in zip(*columns, strict=True):
        writer.writerow([_csv_value(value) for value in values])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_value(value: object) -> object:
    if isinstance(value, float):
        if value != value:
            return ""
        return int(value) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return safe_text(value)


def to_sav(micro: Microdata) -> bytes:
    """SPSS .sav bytes with variable labels and value labels."""
    import pyreadstat

    frame = micro.frame.copy()
    value_labels: dict[str, dict[Any, str]] = {}
    for variable in micro.variables:
        if variable.kind == "binary":
            value_labels[variable.name] = {0.0: variable.value_labels["0"], 1.0: variable.value_labels["1"]}
        elif variable.kind == "categorical" and variable.value_labels:
            value_labels[variable.name] = dict(variable.value_labels)
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            file_label=micro.title[:64],
            column_labels={v.name: v.label[:255] for v in micro.variables},
            variable_value_labels=value_labels,
        )
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def codebook_html(micro: Microdata, lang: str = "nl") -> str:
    """A self-contained HTML codebook: every variable, its label, type, codes and value labels."""
    with force_locale(lang):
        kinds = {
            "categorical": _("categorical (text codes)"),
            "binary": _("0/1 (chosen or not)"),
            "number": _("number"),
            "text": _("free text"),
            "weight": _("weight"),
        }
        heading = _("Codebook: %(title)s", title=micro.title)
        rows = []
        for variable in micro.variables:
            codes = "<br>".join(
                f"<code>{html.escape(code)}</code> = {html.escape(label)}"
                for code, label in variable.value_labels.items()
            )
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(variable.name)}</code></td>"
                f"<td>{html.escape(variable.label)}</td>"
                f"<td>{html.escape(kinds.get(variable.kind, variable.kind))}</td>"
                f"<td>{codes}</td>"
                "</tr>"
            )
        headers = "".join(
            f'<th scope="col">{html.escape(h)}</th>'
            for h in (_("Variable"), _("Label"), _("Type"), _("Codes and value labels"))
        )
        note = _(
            "One row per response. No ids and no dates. Missing answers are blank. "
            "%(n)s responses, %(k)s variables.",
            n=len(micro.frame),
            k=len(micro.variables),
        )
        return (
            f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            f"<title>{html.escape(heading)}</title></head><body>"
            f"<h1>{html.escape(heading)}</h1><p>{html.escape(note)}</p>"
            f"<table><thead><tr>{headers}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</body></html>\n"
        )
