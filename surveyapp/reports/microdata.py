"""Anonymised microdata of a wave: one row per response, CSV, SPSS .sav or Excel, and a codebook.

No ids and no dates (the wave is the finest time unit; neither the day of submission nor the
day an invitation was first opened, ``invitations.started_on``, ever leaves the database);
free-text answers only on request, with a stated purpose. The weight column holds the final
(raked) weights of the analysis, computed the way `surveyapp.analysis.measures.analyze`
computes them; when they cannot be computed the column is the base weight 1 and its label says
so. Variable names are SPSS-safe (``ken_aanbod/pluspas`` becomes ``ken_aanbod_pluspas``);
labels and value labels come from the questionnaire (nl or en). CSV and Excel cells that a
spreadsheet would read as formulas get a leading single quote.

**Disclosure control.** The quasi-identifiers (`Questionnaire.quasi_identifiers`: the profile
answers the planner also has in the register) are made k-anonymous with k the wave's
suppression threshold (`surveyapp.analysis.sdc.protect`): numbers top-coded, codes coarsened
along the questionnaire's hierarchies, then the fewest values suppressed. An answer to a
question shown only for some values of a quasi-identifier is suppressed where that value was
(answering it would tell the value). Every export goes
through `build_microdata`, so none has the answers at full detail; the risk before and after is
in the codebook, the Excel file and on the download page.

**SPSS.** Coded answers are numbers with value labels: the codes themselves for numeric scales,
1, 2, … in questionnaire order otherwise, 1/0 for yes/no; "don't know / not applicable" choices
(``missing: true``) get 99, 98, … and a suppressed value -1, all declared user-missing. Rating
scales and matrices are ordinal, other choices nominal, numbers and the weight scale.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import force_locale
from flask_babel import gettext as _

from surveyapp.analysis import sdc
from surveyapp.analysis.result import AnalysisOptions
from surveyapp.models import Wave
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.expressions import references
from surveyapp.questionnaire.model import QuasiIdentifier, Question, localize
from surveyapp.reports.xlsx import safe_text

WEIGHT = "gewicht"
TEXT_TYPES = ("text", "long_text")
SUPPRESSED_TEXT = "*"  # a suppressed key value in CSV and Excel
SUPPRESSED_SPSS = -1.0  # the same in SPSS: user-missing, labelled
MISSING_TOP = 99  # "don't know / not applicable" codes in SPSS count down from here
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class Variable:
    name: str
    source: str
    label: str
    kind: str  # "categorical", "binary", "number", "text", "weight"
    value_labels: dict[str, str] = field(default_factory=dict)
    measure: str = "nominal"  # SPSS measurement level: nominal, ordinal or scale
    numeric_codes: dict[str, float] = field(default_factory=dict)  # SPSS number of each code
    missing_codes: tuple[str, ...] = ()  # "don't know / not applicable": user-missing in SPSS
    key: bool = False  # a quasi-identifier (k-anonymous in every export)
    recoded: str = ""  # how disclosure control coarsened it (top-code, hierarchy level)


@dataclass
class Disclosure:
    """What disclosure control did to the quasi-identifiers of an export."""

    k: int
    before: sdc.Risk
    after: sdc.Risk
    keys: list[str]  # variable names of the quasi-identifiers
    recoded: dict[str, str]  # variable → how it was coarsened
    suppressed: dict[str, int]  # variable → values suppressed


@dataclass
class Microdata:
    frame: pd.DataFrame
    variables: list[Variable]
    weighted: bool
    title: str
    disclosure: Disclosure
    suppressed: dict[str, np.ndarray] = field(default_factory=dict)  # variable → rows suppressed
    open_answers: bool = False
    lang: str = "nl"


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
    """The anonymised, k-anonymous response frame of a wave with its variables' metadata."""
    from surveyapp.services.extract import wave_frames, wave_options, wave_threshold

    questionnaire, responses, register, _ledger = wave_frames(wave)
    weights = final_weights(questionnaire, responses, register, wave_options(wave, options))
    with force_locale(lang):
        return _assemble(
            questionnaire, responses, weights, lang, open_answers, wave.title, wave_threshold(wave)
        )


def _key_codes(
    questionnaire: Questionnaire, responses: pd.DataFrame
) -> tuple[pd.DataFrame, list[QuasiIdentifier]]:
    """The quasi-identifiers' answers as text codes (numbers top-coded), NOT_ASKED where blank."""
    keys = [qi for qi in questionnaire.quasi_identifiers() if qi.question in responses]
    columns: dict[str, pd.Series] = {}
    for qi in keys:
        column = responses[qi.question]
        if questionnaire.question(qi.question).type == "number":
            numbers = column.astype(float) if qi.top_code is None else sdc.top_code(column, qi.top_code)
            text = numbers.map(lambda x: sdc.NOT_ASKED if x != x else f"{x:g}")
        else:
            text = column.astype(object).map(lambda x: sdc.NOT_ASKED if x is None or x != x else str(x))
        columns[qi.question] = text.astype(object)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(responses))), keys


def _level_codes(question: Question, qi: QuasiIdentifier, level: int, lang: str) -> dict[str, str]:
    """The codes (in order) and labels of a quasi-identifier at a level of its hierarchy."""
    labels = {choice.code: localize(choice.label, lang) for choice in question.choices}
    for groups in qi.hierarchy[:level]:
        mapping = {member: group.code for group in groups for member in group.members}
        merged: dict[str, str] = {}
        for code, label in labels.items():
            target = mapping.get(code, code)
            group = next((g for g in groups if g.code == target), None)
            merged.setdefault(target, localize(group.label, lang) if group is not None else label)
        labels = merged
    return labels


def _protect(
    questionnaire: Questionnaire, responses: pd.DataFrame, weights: np.ndarray | None, k: int
) -> tuple[sdc.Protection, list[QuasiIdentifier]]:
    codes, keys = _key_codes(questionnaire, responses)
    variables = [sdc.KeyVariable(qi.question, qi.level_maps()) for qi in keys]
    return sdc.protect(codes, variables, k, weights), keys


def _condition_masks(
    questionnaire: Questionnaire, protection: sdc.Protection, n: int
) -> dict[str, np.ndarray]:
    """Per answer name: the records whose answer must be suppressed because showing it would
    tell a suppressed quasi-identifier (its question is shown only for some of its values).

    ``pensioen_info`` is asked only when ``status = 'actief'``: for a record whose status was
    suppressed, whether it answered would give the status back. Conditions read earlier pages
    only, so one pass in questionnaire order follows chains of conditions too.
    """
    masks: dict[str, np.ndarray] = {
        name: protection.codes[name].isna().to_numpy() for name in protection.codes.columns
    }
    for page in questionnaire.pages:
        page_refs = references(page.show_if) if page.show_if is not None else []
        for question in page.questions:
            if question.id in masks or not question.answerable:
                continue
            refs = page_refs + (references(question.show_if) if question.show_if is not None else [])
            names = question.variable_names() if question.type != "multiple_choice" else [question.id]
            for name in names:
                item = next((i for i in question.items if f"{question.id}/{i.id}" == name), None)
                item_refs = references(item.show_if) if item is not None and item.show_if is not None else []
                hidden = np.zeros(n, dtype=bool)
                for ref in refs + item_refs:
                    if ref in masks:
                        hidden |= masks[ref]
                if hidden.any():
                    masks[name] = hidden
    return masks


def _numeric_codes(question: Question, codes: list[str]) -> tuple[dict[str, float], tuple[str, ...]]:
    """SPSS numbers of a choice question's codes, and its "don't know / not applicable" codes."""
    missing = tuple(choice.code for choice in question.choices if choice.missing and choice.code in codes)
    substantive = [code for code in codes if code not in missing]
    if question.type == "yes_no":
        return {"yes": 1.0, "no": 0.0}, ()
    numbers: dict[str, float] = {}
    try:
        numbers = {code: float(code) for code in substantive}
    except ValueError:
        numbers = {code: float(index) for index, code in enumerate(substantive, start=1)}
    top = max([MISSING_TOP, *(int(value) + len(missing) for value in numbers.values())])
    for offset, code in enumerate(missing):
        numbers[code] = float(top - offset)
    return numbers, missing


def _measure(question: Question, numeric_codes: dict[str, float]) -> str:
    """Ordinal for rating scales and matrices on a numeric scale; nominal otherwise."""
    if question.type == "rating":
        return "ordinal"
    if question.type == "matrix":
        substantive = [choice.code for choice in question.choices if not choice.missing]
        if substantive and all(code.lstrip("-").replace(".", "", 1).isdigit() for code in substantive):
            return "ordinal"
    return "nominal"


def _assemble(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    weights: np.ndarray | None,
    lang: str,
    open_answers: bool,
    title: str,
    k: int = 10,
) -> Microdata:
    protection, keys = _protect(questionnaire, responses, weights, k)
    key_info = {qi.question: qi for qi in keys}
    masks = _condition_masks(questionnaire, protection, len(responses))
    taken: set[str] = set()
    data: dict[str, object] = {}
    variables: list[Variable] = []
    suppressed: dict[str, np.ndarray] = {}
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
                if question.id in masks:
                    suppressed[name] = masks[question.id]
                variables.append(
                    Variable(
                        name,
                        source,
                        f"{label}: {localize(choice.label, lang)}",
                        "binary",
                        {"0": _("not chosen"), "1": _("chosen")},
                        numeric_codes={"0": 0.0, "1": 1.0},
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
            qi = key_info.get(source)
            if qi is None and source in masks:
                suppressed[name] = masks[source]
            if qi is not None:
                suppressed[name] = protection.codes[source].isna().to_numpy()
                column = protection.codes[source].where(~suppressed[name], sdc.NOT_ASKED)
                column = column.astype(object).where(column != sdc.NOT_ASKED, None)
            if question.type == "number":
                numbers = pd.to_numeric(column, errors="coerce").astype(float)
                data[name] = numbers
                variable = Variable(name, source, row_label, "number", measure="scale")
                if qi is not None and qi.top_code is not None:
                    top = f"{qi.top_code:g}"
                    variable.value_labels = {top: _("%(n)s or more", n=top)}
                    variable.numeric_codes = {top: float(qi.top_code)}
                    variable.recoded = _("top-coded at %(n)s", n=top)
                variables.append(variable)
            elif question.type in TEXT_TYPES:
                data[name] = column.astype(object).where(column.notna(), "")
                variables.append(Variable(name, source, row_label, "text"))
            else:
                level = protection.levels.get(source, 0)
                if qi is not None:
                    value_labels = _level_codes(question, qi, level, lang)
                else:
                    value_labels = {choice.code: localize(choice.label, lang) for choice in question.choices}
                numeric_codes, missing_codes = _numeric_codes(question, list(value_labels))
                data[name] = column.astype(object).where(column.notna(), "").astype(str)
                variables.append(
                    Variable(
                        name,
                        source,
                        row_label,
                        "categorical",
                        value_labels,
                        measure=_measure(question, numeric_codes),
                        numeric_codes=numeric_codes,
                        missing_codes=missing_codes,
                        recoded=_(
                            "coarsened to level %(level)s of %(levels)s",
                            level=level,
                            levels=len(qi.hierarchy),
                        )
                        if qi is not None and level
                        else "",
                    )
                )
            if qi is not None:
                variables[-1].key = True
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
            measure="scale",
        )
    )
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(responses)))
    names = {v.source: v.name for v in variables}
    disclosure = Disclosure(
        k=protection.k,
        before=protection.before,
        after=protection.after,
        keys=[names[qi.question] for qi in keys if qi.question in names],
        recoded={v.name: v.recoded for v in variables if v.key and v.recoded},
        suppressed={names[q]: n for q, n in protection.suppressed.items() if q in names},
    )
    return Microdata(frame, variables, weighted, title, disclosure, suppressed, open_answers, lang)


def _cell_text(micro: Microdata, variable: Variable, row: int, value: object) -> object:
    """A value as CSV/Excel shows it: the suppression mark, or the value itself."""
    mask = micro.suppressed.get(variable.name)
    if mask is not None and mask[row]:
        return SUPPRESSED_TEXT
    return value


def to_csv(micro: Microdata) -> bytes:
    """UTF-8 CSV (with BOM for Excel), formula-looking texts defused, suppressed values ``*``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_text(v.name) for v in micro.variables])
    columns = [micro.frame[v.name].tolist() for v in micro.variables]
    for row, values in enumerate(zip(*columns, strict=True)):
        writer.writerow(
            [
                _csv_value(_cell_text(micro, variable, row, value))
                for variable, value in zip(micro.variables, values, strict=True)
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_value(value: object) -> object:
    if isinstance(value, float):
        if value != value:
            return ""
        return int(value) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return safe_text(value)


def spss_frame(micro: Microdata) -> pd.DataFrame:
    """The frame as SPSS gets it: every coded answer a number, suppressed values -1."""
    data: dict[str, Any] = {}
    for variable in micro.variables:
        column = micro.frame[variable.name]
        if variable.kind == "categorical":
            codes = variable.numeric_codes
            values = np.array([codes.get(str(code), np.nan) if code != "" else np.nan for code in column])
        elif variable.kind == "text":
            values = column.astype(str).to_numpy()
        else:
            values = column.astype(float).to_numpy()
        mask = micro.suppressed.get(variable.name)
        if mask is not None:
            values = np.where(mask, SUPPRESSED_TEXT if variable.kind == "text" else SUPPRESSED_SPSS, values)
        data[variable.name] = values
    return pd.DataFrame(data, index=micro.frame.index)


def to_sav(micro: Microdata) -> bytes:
    """SPSS .sav bytes: numeric codes with value labels, user-missing codes, measurement levels."""
    import pyreadstat

    frame = spss_frame(micro)
    value_labels: dict[str, dict[Any, str]] = {}
    missing: dict[str, list[Any]] = {}
    with force_locale(micro.lang):
        suppressed_label = _("suppressed for anonymity (disclosure control)")
        lines = [disclosure_note(micro), *(" / ".join(row) for row in risk_rows(micro, micro.lang))]
    note = [part for line in lines for part in textwrap.wrap(line, 72)]  # SPSS lines: 80 bytes, UTF-8
    for variable in micro.variables:
        labels = {
            variable.numeric_codes[code]: label
            for code, label in variable.value_labels.items()
            if code in variable.numeric_codes
        }
        user_missing = [variable.numeric_codes[code] for code in variable.missing_codes]
        if variable.name in micro.suppressed:
            labels[SUPPRESSED_SPSS] = suppressed_label
            user_missing.append(SUPPRESSED_SPSS)
        if labels:
            value_labels[variable.name] = labels
        if user_missing:
            # SPSS keeps at most three discrete missing values, or one range and one value
            if len(user_missing) <= 3:
                missing[variable.name] = sorted(user_missing)
            else:
                codes = [code for code in user_missing if code != SUPPRESSED_SPSS]
                missing[variable.name] = [{"lo": min(codes), "hi": max(codes)}]
                if SUPPRESSED_SPSS in user_missing:
                    missing[variable.name].append(SUPPRESSED_SPSS)
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            file_label=micro.title[:64],
            column_labels={v.name: v.label[:255] for v in micro.variables},
            variable_value_labels=value_labels,
            missing_ranges=missing,
            variable_measure={v.name: v.measure for v in micro.variables},
            note=note,
        )
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def _percent(value: float, lang: str) -> str:
    text = f"{100 * value:.1f}%"
    return text.replace(".", ",") if lang == "nl" else text


def _number(value: float, lang: str, digits: int = 3) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


def risk_rows(micro: Microdata, lang: str = "nl") -> list[tuple[str, str, str]]:
    """(measure, before, after) of the re-identification risk, as text in the language."""
    before, after = micro.disclosure.before, micro.disclosure.after
    k = micro.disclosure.k
    return [
        (
            _("Sample-unique records (key combination occurs once)"),
            f"{before.sample_unique} ({_percent(before.share_unique, lang)})",
            f"{after.sample_unique} ({_percent(after.share_unique, lang)})",
        ),
        (
            _("Records whose key combination occurs fewer than %(k)s times", k=k),
            f"{before.below_k} ({_percent(before.share_below_k, lang)})",
            f"{after.below_k} ({_percent(after.share_below_k, lang)})",
        ),
        (
            _("Mean individual risk (sdcMicro global risk)"),
            _percent(before.global_risk, lang),
            _percent(after.global_risk, lang),
        ),
        (
            _("Highest individual risk"),
            _percent(before.max_risk, lang),
            _percent(after.max_risk, lang),
        ),
        (
            _("Expected re-identifications"),
            _number(before.expected_reidentifications, lang, 1),
            _number(after.expected_reidentifications, lang, 1),
        ),
    ]


def treatment_rows(micro: Microdata) -> list[tuple[str, str, int]]:
    """(variable, how it was coarsened, values suppressed) per quasi-identifier."""
    return [
        (
            name,
            micro.disclosure.recoded.get(name, "") or _("as answered"),
            micro.disclosure.suppressed.get(name, 0),
        )
        for name in micro.disclosure.keys
    ]


def disclosure_note(micro: Microdata) -> str:
    return _(
        "The quasi-identifiers (%(keys)s) are %(k)s-anonymous: every combination of their values "
        "occurs at least %(k)s times. Values were coarsened and, where that was not enough, "
        "suppressed (%(mark)s; in SPSS -1, user-missing). A suppressed value counts as matching "
        "every value; a value left blank by the questionnaire's skip logic is a category of its own.",
        keys=", ".join(micro.disclosure.keys) or "–",
        k=micro.disclosure.k,
        mark=SUPPRESSED_TEXT,
    )


def to_xlsx(micro: Microdata, lang: str = "nl") -> bytes:
    """An Excel workbook: the microdata, the variables and the disclosure control report."""
    from openpyxl import Workbook

    with force_locale(lang):
        book = Workbook(write_only=True)
        sheet = book.create_sheet(_("Microdata")[:31])
        sheet.append([safe_text(v.name) for v in micro.variables])
        columns = [micro.frame[v.name].tolist() for v in micro.variables]
        for row, values in enumerate(zip(*columns, strict=True)):
            cells: list[Any] = []
            for variable, value in zip(micro.variables, values, strict=True):
                shown = _cell_text(micro, variable, row, value)
                if isinstance(shown, float) and shown != shown:
                    shown = None
                cells.append(safe_text(shown) if shown != "" else None)
            sheet.append(cells)
        variables = book.create_sheet(_("Variables")[:31])
        variables.append([_("Variable"), _("Label"), _("Type"), _("Codes and value labels")])
        for variable in micro.variables:
            codes = "; ".join(f"{code} = {label}" for code, label in variable.value_labels.items())
            variables.append(
                [safe_text(variable.name), safe_text(variable.label), variable.kind, safe_text(codes)]
            )
        report = book.create_sheet(_("Disclosure control")[:31])
        report.append([disclosure_note(micro)])
        report.append([])
        report.append([_("Risk"), _("Before"), _("After")])
        for risk in risk_rows(micro, lang):
            report.append(list(risk))
        report.append([])
        report.append([_("Quasi-identifier"), _("Coarsening"), _("Values suppressed")])
        for treatment in treatment_rows(micro):
            report.append(list(treatment))
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


def codebook_html(micro: Microdata, lang: str = "nl") -> str:
    """A self-contained HTML codebook: every variable, its label, type, codes and value labels,
    and the disclosure control with the risk before and after."""
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
                + (f" ({html.escape(_('missing'))})" if code in variable.missing_codes else "")
                for code, label in variable.value_labels.items()
            )
            kind = kinds.get(variable.kind, variable.kind)
            if variable.key:
                kind += "; " + _("quasi-identifier")
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(variable.name)}</code></td>"
                f"<td>{html.escape(variable.label)}</td>"
                f"<td>{html.escape(kind)}</td>"
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
        risk_head = "".join(
            f'<th scope="col">{html.escape(h)}</th>' for h in (_("Risk"), _("Before"), _("After"))
        )
        risk_body = "".join(
            f'<tr><th scope="row">{html.escape(a)}</th>'
            f"<td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
            for a, b, c in risk_rows(micro, lang)
        )
        treat_head = "".join(
            f'<th scope="col">{html.escape(h)}</th>'
            for h in (_("Quasi-identifier"), _("Coarsening"), _("Values suppressed"))
        )
        treat_body = "".join(
            f"<tr><td><code>{html.escape(a)}</code></td><td>{html.escape(b)}</td><td>{c}</td></tr>"
            for a, b, c in treatment_rows(micro)
        )
        sdc_heading = _("Disclosure control")
        return (
            f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            f"<title>{html.escape(heading)}</title></head><body>"
            f"<h1>{html.escape(heading)}</h1><p>{html.escape(note)}</p>"
            f"<h2>{html.escape(sdc_heading)}</h2><p>{html.escape(disclosure_note(micro))}</p>"
            f'<table id="risk"><thead><tr>{risk_head}</tr></thead><tbody>{risk_body}</tbody></table>'
            f'<table id="treatment"><thead><tr>{treat_head}</tr></thead><tbody>{treat_body}</tbody></table>'
            f"<h2>{html.escape(_('Variables'))}</h2>"
            f"<table><thead><tr>{headers}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</body></html>\n"
        )
