"""A wave's results for planners: the results page, its charts and the downloads.

One analysis per request, from the shared cache (`surveyapp.reports.data.wave_analysis`): the
page, its PNG charts and the downloads of the same wave and settings reuse it. Viewers see the
page; downloads are for planners and every one is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from surveyapp.analysis.measures import ANY_OFFERING
from surveyapp.analysis.result import ESTIMATE_CSV_FIELDS, AnalysisResult, EstimateRow
from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.formatting import number, percent
from surveyapp.models import Wave
from surveyapp.planner import bp
from surveyapp.questionnaire import Questionnaire
from surveyapp.reports import charts as report_charts
from surveyapp.reports import data
from surveyapp.reports.data import SUPPRESSED_MARK
from surveyapp.reports.xlsx import safe_text
from surveyapp.services import audit
from surveyapp.services.waves import wave_by_slug
from surveyapp.survey.service import questionnaire_of

CHART_MAX_AGE = 300
ALPHA = 0.05
GROUP_MEASURES = ("awareness", "usage", "satisfaction", "help_type", "need")
CHARTS = ("offerings", "funnel", "group", "reach")
DOWNLOADS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "csv": ("text/csv", "csv"),
    "microdata-csv": ("text/csv", "csv"),
    "microdata-sav": ("application/x-spss-sav", "sav"),
    "microdata-xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "codebook": ("text/html", "html"),
}
MICRODATA = ("microdata-csv", "microdata-sav", "microdata-xlsx", "codebook")
PURPOSE_MIN, PURPOSE_MAX = 10, 500  # characters of the stated purpose of an open-answers export


def _lang() -> str:
    return str(get_locale() or "nl")


def _wave_or_404(slug: str) -> Wave:
    wave = wave_by_slug(slug)
    if wave is None:
        abort(404, _("There is no wave %(slug)s.", slug=slug))
    return wave


def _compare_wave(wave: Wave) -> Wave | None:
    slug = request.args.get("compare", "")
    if not slug:
        return None
    other = wave_by_slug(slug)
    if other is None or other.id == wave.id:
        return None
    return other


def _analysis(wave: Wave, previous: Wave | None = None) -> AnalysisResult:
    try:
        return data.wave_analysis(wave, None, previous)
    except Exception as exc:  # no responses yet, questionnaire problems: a page, not a 500
        from surveyapp.analysis.errors import AnalysisError

        if isinstance(exc, AnalysisError | ValueError | KeyError):
            abort(409, _("This wave cannot be analysed yet: %(reason)s", reason=str(exc)))
        raise


def _group_vars(result: AnalysisResult) -> list[str]:
    found: list[str] = []
    for row in result.estimates:
        if row.group_var is not None and row.group_var not in found:
            found.append(row.group_var)
    return found


@dataclass
class Cell:
    """One estimate as page text: value and interval, or the suppression mark."""

    text: str
    interval: str
    suppressed: bool
    flag: str = ""  # "▲ higher" / "▼ lower" with significance after correction


def _cell(row: EstimateRow | None, lang: str) -> Cell:
    if row is None:
        return Cell("", "", False)
    if row.suppressed or row.estimate is None:
        return Cell(SUPPRESSED_MARK, "", True)
    if row.kind == "mean":
        return Cell(
            number(row.estimate, lang, 2),
            f"{number(row.ci_low, lang, 2)} – {number(row.ci_high, lang, 2)}",
            False,
        )
    return Cell(
        percent(row.estimate, lang),
        f"{percent(row.ci_low, lang)} – {percent(row.ci_high, lang)}",
        False,
    )


def _overall(result: AnalysisResult, measure: str) -> list[EstimateRow]:
    return [row for row in result.estimates if row.measure == measure and row.group_var is None]


def _offerings(result: AnalysisResult, questionnaire: Questionnaire, lang: str) -> list[dict[str, Any]]:
    kinds = {item.item: item.subject_kind for item in result.items}
    by_subject: dict[str, dict[str, Any]] = {}
    for row in result.estimates:
        if row.group_var is not None or row.kind != "proportion" or row.subject is None:
            continue
        if kinds.get(row.item) != "offering" or row.measure not in ("awareness", "usage"):
            continue
        entry = by_subject.setdefault(row.subject, {})
        entry.setdefault(row.measure, row)
    classes = {offering.subject: offering for offering in result.headline.offerings}
    subjects = list(by_subject) + [s for s in classes if s not in by_subject]
    rows = []
    for subject in subjects:
        offering = classes.get(subject)
        satisfaction = None
        if offering is not None:
            try:
                satisfaction = result.estimate(offering.item)
            except KeyError:
                satisfaction = None
        rows.append(
            {
                "label": data.subject_label(questionnaire, subject, lang),
                "awareness": _cell(by_subject.get(subject, {}).get("awareness"), lang),
                "usage": _cell(by_subject.get(subject, {}).get("usage"), lang),
                "satisfaction": _cell(satisfaction, lang),
                "n": None if satisfaction is None or satisfaction.suppressed else satisfaction.n,
                "classification": offering.classification if offering else "no_data",
            }
        )
    return rows


def _significance(result: AnalysisResult, group_var: str) -> dict[tuple[str, str], str]:
    flags: dict[tuple[str, str], str] = {}
    for row in result.comparisons:
        if row.group_var != group_var or row.suppressed or row.p_adjusted is None:
            continue
        if result.options.adjust == "none":
            significant = row.p is not None and row.p < ALPHA
        else:
            significant = row.p_adjusted < ALPHA
        if significant and row.difference is not None:
            flags[(row.item, row.group)] = "▲ " + _("higher") if row.difference > 0 else "▼ " + _("lower")
    return flags


def _group_tables(
    result: AnalysisResult, questionnaire: Questionnaire, group_var: str, lang: str
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    groups: list[str] = []
    cells: dict[tuple[str, str], EstimateRow] = {}
    for row in result.estimates:
        if row.group_var == group_var and row.group is not None:
            if row.group not in groups:
                groups.append(row.group)
            cells[(row.item, row.group)] = row
    groups = data.group_order(questionnaire, group_var, groups)
    flags = _significance(result, group_var)
    tables = []
    for measure in GROUP_MEASURES:
        rows = []
        for overall in _overall(result, measure):
            row_cells = []
            for group in groups:
                cell = _cell(cells.get((overall.item, group)), lang)
                if not cell.suppressed:
                    cell.flag = flags.get((overall.item, group), "")
                row_cells.append(cell)
            rows.append(
                {
                    "label": data.item_label(questionnaire, overall, lang),
                    "overall": _cell(overall, lang),
                    "cells": row_cells,
                    "item": overall.item,
                }
            )
        if rows:
            tables.append({"measure": measure, "rows": rows})
    labels = [(group, data.group_label(questionnaire, group_var, group, lang)) for group in groups]
    return labels, tables


def _reach_rows(result: AnalysisResult, group_var: str, questionnaire: Questionnaire | None) -> list[Any]:
    rows = [row for row in result.reach if row.group_var == group_var and row.users_item == ANY_OFFERING]
    return _in_group_order(rows, questionnaire, group_var)


def _in_group_order(rows: list[Any], questionnaire: Questionnaire | None, group_var: str) -> list[Any]:
    """Rows of one group variable in the questionnaire's order of its answers."""
    groups = [str(row.group) for row in rows if row.group is not None]
    rank = {group: index for index, group in enumerate(data.group_order(questionnaire, group_var, groups))}
    return sorted(rows, key=lambda row: rank.get(str(row.group), -1))


def _open_texts(wave: Wave, result: AnalysisResult, lang: str, *, verbatim: bool) -> list[dict[str, Any]]:
    """Contact-person waves: the open answers per theme (question), texts as given.

    The texts only with ``verbatim`` (planners and admins): an open answer can name or describe
    its writer, so viewers see how many answered, never what.
    """
    from surveyapp.services.extract import wave_frames

    questionnaire, responses, _register, _ledger = wave_frames(wave)
    themes = []
    for answers in result.open_answers:
        question = questionnaire.question(answers.question)
        texts: list[str] = []
        if verbatim and answers.question in responses:
            column = responses[answers.question]
            texts = [str(text).strip() for text in column.dropna().tolist() if str(text).strip()]
        themes.append(
            {
                "label": data.localize_text(question.label, lang),
                "n": answers.n_answered,
                "texts": texts,
            }
        )
    return themes


def _other_waves(wave: Wave) -> list[Wave]:
    return list(db.session.scalars(select(Wave).where(Wave.id != wave.id).order_by(Wave.id.desc())))


@bp.get("/waves/<slug>/results")
@role_required("viewer")
def results(slug: str) -> str:
    wave = _wave_or_404(slug)
    previous = _compare_wave(wave)
    result = _analysis(wave, previous)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    lang = _lang()
    group_vars = _group_vars(result)
    group_var = request.args.get("group", "")
    if group_var not in group_vars:
        group_var = group_vars[0] if group_vars else ""
    groups, group_tables = _group_tables(result, questionnaire, group_var, lang) if group_var else ([], [])
    rate_vars = [row.group_var for row in result.response_rates if row.group_var]
    rate_var = group_var if group_var in rate_vars else (rate_vars[0] if rate_vars else "")
    changes = [row for row in result.wave_changes if row.group_var is None]
    user = current_user()
    can_download = bool(user and user.role in ("planner", "admin"))
    kinds = {item.item: item.subject_kind for item in result.items}
    return render_template(
        "planner/results.html",
        wave=wave,
        result=result,
        lang=lang,
        questionnaire=questionnaire,
        previous=previous,
        other_waves=_other_waves(wave),
        group_vars=[(name, data.group_var_label(questionnaire, name, lang)) for name in group_vars],
        group_var=group_var,
        group_var_label=data.group_var_label(questionnaire, group_var, lang) if group_var else "",
        groups=groups,
        group_tables=group_tables,
        overall_rate=next((row for row in result.response_rates if row.group_var is None), None),
        rates=_in_group_order(
            [row for row in result.response_rates if row.group_var == rate_var], questionnaire, rate_var
        ),
        awareness=[row for row in _overall(result, "awareness") if kinds.get(row.item) != "offering"],
        offerings=_offerings(result, questionnaire, lang),
        help_types=_overall(result, "help_type"),
        missing=_overall(result, "missing_offer"),
        needs=_overall(result, "need"),
        reach=_reach_rows(result, group_var, questionnaire) if group_var else [],
        changes=changes,
        themes=_open_texts(wave, result, lang, verbatim=can_download)
        if wave.audience == "contactpersonen"
        else [],
        open_texts_shown=can_download,
        cell=lambda row: _cell(row, lang),
        pct=lambda value: percent(value, lang),
        num=lambda value: number(value, lang, 2),
        label=lambda row: data.item_label(questionnaire, row, lang),
        glabel=lambda var, group: data.group_label(questionnaire, var, group, lang) if var else "",
        adjust_name=data.adjust_name(result.options.adjust),
        can_download=can_download,
        mark=SUPPRESSED_MARK,
        alpha=ALPHA,
    )


@bp.get("/waves/<slug>/results/microdata")
@role_required("planner")
def results_microdata(slug: str) -> str:
    """The microdata downloads with their disclosure risk before and after (planners only).

    A page of its own: disclosure control of a large wave takes seconds, which the results
    page, viewed all through fieldwork, should not wait for.
    """
    wave = _wave_or_404(slug)
    _analysis(wave)  # a clear 409 when the wave cannot be analysed
    lang = _lang()
    return render_template(
        "planner/microdata.html",
        wave=wave,
        lang=lang,
        disclosure=disclosure_summary(wave, lang),
        purpose_min=PURPOSE_MIN,
        purpose_max=PURPOSE_MAX,
    )


# --- charts -------------------------------------------------------------------------------------


def _chart_bytes(chart: str, result: AnalysisResult, questionnaire: Questionnaire, lang: str) -> bytes:
    group_var = request.args.get("group", "")
    if chart == "offerings":
        offerings = result.headline.offerings
        return report_charts.interval_png(
            [data.subject_label(questionnaire, o.subject, lang) for o in offerings],
            [o.estimate for o in offerings],
            [o.ci_low for o in offerings],
            [o.ci_high for o in offerings],
            line=result.headline.threshold,
            line_label=_("%(value)s line", value=percent(result.headline.threshold, lang, 0)),
            xlabel=_("Satisfied (top-2-box)"),
            lang=lang,
        )
    if chart == "funnel":
        steps = result.funnel
        return report_charts.interval_png(
            [data.item_label(questionnaire, step, lang) for step in steps],
            [None if step.suppressed else step.share for step in steps],
            [step.ci_low for step in steps],
            [step.ci_high for step in steps],
            xlabel=_("Share of all respondents"),
            lang=lang,
        )
    if chart == "reach":
        if group_var not in _group_vars(result):
            abort(404)
        reach = _reach_rows(result, group_var, questionnaire)
        return report_charts.reach_png(
            [data.group_label(questionnaire, group_var, row.group, lang) for row in reach],
            [None if row.suppressed else row.index for row in reach],
            [row.ci_low for row in reach],
            [row.ci_high for row in reach],
            line_label=_("Equal representation (index 1)"),
            xlabel=_("Reach index"),
            lang=lang,
        )
    if chart == "group":
        measure = request.args.get("measure", "awareness")
        if group_var not in _group_vars(result) or measure not in GROUP_MEASURES:
            abort(404)
        overall = _overall(result, measure)
        item = request.args.get("item") or (overall[0].item if overall else "")
        rows = _in_group_order(
            [row for row in result.estimates if row.item == item and row.group_var == group_var],
            questionnaire,
            group_var,
        )
        if not rows:
            abort(404)
        as_percent = rows[0].kind != "mean"
        return report_charts.interval_png(
            [data.group_label(questionnaire, group_var, row.group or "", lang) for row in rows],
            [None if row.suppressed else row.estimate for row in rows],
            [row.ci_low for row in rows],
            [row.ci_high for row in rows],
            percent=as_percent,
            xlabel=data.item_label(questionnaire, item, lang),
            lang=lang,
        )
    abort(404)


_png_cache: dict[str, bytes] = {}
# Rendered downloads of an analysis (the workbook takes seconds): keyed by the analysis' data state.
_download_cache: dict[str, bytes] = {}
DOWNLOAD_CACHE_SIZE = 8


@bp.get("/waves/<slug>/results/<chart>.png")
@role_required("viewer")
def results_chart(slug: str, chart: str) -> Response:
    if chart not in CHARTS:
        abort(404)
    wave = _wave_or_404(slug)
    lang = _lang()
    key = data.analysis_key(wave)
    etag = data.analysis_etag(
        key, chart, lang, *(f"{k}={v}" for k, v in sorted(request.args.items()) if k != "lang")
    )
    response = Response(mimetype="image/png")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={CHART_MAX_AGE}"
    response.vary.add("Cookie")
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    png = _png_cache.get(etag)
    if png is None:
        result = _analysis(wave)
        png = _chart_bytes(chart, result, questionnaire_of(wave.questionnaire_version), lang)
        if len(_png_cache) > 128:
            _png_cache.clear()
        _png_cache[etag] = png
    response.set_data(png)
    return response


# --- downloads ----------------------------------------------------------------------------------


def tidy_csv(result: AnalysisResult) -> bytes:
    """One row per estimate with the JSON fields; formula-looking texts defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ESTIMATE_CSV_FIELDS)
    for row in result.to_json_dict()["estimates"]:
        writer.writerow([_csv_cell(row[name]) for name in ESTIMATE_CSV_FIELDS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return safe_text(value)


@dataclass
class DisclosureSummary:
    """The disclosure control of a wave's microdata exports, for the download page."""

    k: int
    rows: list[tuple[str, str, str]]  # (risk measure, before, after)
    treatment: list[tuple[str, str, int]]  # (quasi-identifier, coarsening, values suppressed)
    note: str
    error: str = ""


_disclosure_cache: dict[str, DisclosureSummary] = {}


def disclosure_problem(error: Any) -> str:
    """Why no microdata can go out (a `DisclosureError`), in the page's language."""
    return _(
        "%(n)s responses cannot be %(k)s-anonymous: the microdata need at least %(k)s.",
        n=error.records,
        k=error.k,
    )


def disclosure_summary(wave: Wave, lang: str) -> DisclosureSummary:
    """The risk before and after disclosure control, as the exports will have it (kept per data state)."""
    from surveyapp.analysis.sdc import DisclosureError
    from surveyapp.reports import microdata
    from surveyapp.services.extract import wave_threshold

    key = data.analysis_etag(data.analysis_key(wave), "disclosure", lang)
    found = _disclosure_cache.get(key)
    if found is not None:
        return found
    try:
        micro = microdata.build_microdata(wave, lang)
    except DisclosureError as exc:
        return DisclosureSummary(wave_threshold(wave), [], [], "", disclosure_problem(exc))
    with force_locale(lang):
        summary = DisclosureSummary(
            micro.disclosure.k,
            microdata.risk_rows(micro, lang),
            microdata.treatment_rows(micro),
            microdata.disclosure_note(micro),
        )
    if len(_disclosure_cache) >= DOWNLOAD_CACHE_SIZE:
        _disclosure_cache.pop(next(iter(_disclosure_cache)))
    _disclosure_cache[key] = summary
    return summary


def render_download(kind: str, wave: Wave, lang: str, *, open_answers: bool = False) -> bytes:
    """The bytes of a download (shared by the routes and the report command).

    Every microdata download (CSV, SPSS, Excel, codebook) is built by `build_microdata`, so its
    quasi-identifiers are k-anonymous; it raises `DisclosureError` when no export can be.
    """
    from surveyapp.reports import microdata

    key = data.analysis_etag(data.analysis_key(wave), kind, lang)
    if kind in MICRODATA:
        # Disclosure control of a large wave takes seconds: kept like the other downloads,
        # but never with open answers (those stay in no cache).
        cached = None if open_answers else _download_cache.get(key)
        if cached is not None:
            return cached
        micro = microdata.build_microdata(wave, lang, open_answers=open_answers)
        if kind == "microdata-csv":
            body = microdata.to_csv(micro)
        elif kind == "microdata-sav":
            body = microdata.to_sav(micro)
        elif kind == "microdata-xlsx":
            body = microdata.to_xlsx(micro, lang)
        else:
            body = microdata.codebook_html(micro, lang).encode("utf-8")
        if not open_answers:
            _keep_download(key, body)
        return body
    cached = _download_cache.get(key)
    if cached is not None:
        return cached
    body = _render_result(kind, wave, lang)
    _keep_download(key, body)
    return body


def _keep_download(key: str, body: bytes) -> None:
    if len(_download_cache) >= DOWNLOAD_CACHE_SIZE:
        _download_cache.pop(next(iter(_download_cache)))
    _download_cache[key] = body


def _render_result(kind: str, wave: Wave, lang: str) -> bytes:
    result = data.wave_analysis(wave)
    if kind == "json":
        return json.dumps(result.to_json_dict(), ensure_ascii=False, indent=1).encode("utf-8")
    if kind == "csv":
        return tidy_csv(result)
    if kind == "xlsx":
        from surveyapp.reports.xlsx import render_xlsx

        return render_xlsx(result, questionnaire_of(wave.questionnaire_version), lang)
    raise KeyError(kind)


def filename(wave: Wave, kind: str, lang: str) -> str:
    stem = "codebook" if kind == "codebook" else "microdata" if kind in MICRODATA else "results"
    return f"{wave.slug}-{stem}-{lang}.{DOWNLOADS[kind][1]}"


def open_answers_purpose(requested: bool, purpose: str, permitted: bool) -> str | None:
    """The stated purpose of an open-answers export, or None without one.

    Raises ValueError with the reason when open answers are asked for without a purpose of
    ``PURPOSE_MIN``-``PURPOSE_MAX`` characters or without the confirmed permission.
    """
    if not requested:
        return None
    purpose = " ".join(purpose.split())
    if not permitted:
        raise ValueError(_("Open answers only with permission: confirm that you may process them."))
    if not PURPOSE_MIN <= len(purpose) <= PURPOSE_MAX:
        raise ValueError(
            _(
                "Open answers only with a stated purpose of %(min)s to %(max)s characters.",
                min=PURPOSE_MIN,
                max=PURPOSE_MAX,
            )
        )
    return purpose


@bp.get("/waves/<slug>/results/download/<kind>")
@role_required("planner")
def results_download(slug: str, kind: str) -> Response:
    if kind not in DOWNLOADS:
        abort(404)
    wave = _wave_or_404(slug)
    lang = request.args.get("report_lang", _lang())
    if lang not in ("nl", "en"):
        lang = "nl"
    open_answers = kind in MICRODATA and kind != "codebook" and request.args.get("open_answers") == "1"
    try:
        purpose = open_answers_purpose(
            open_answers, request.args.get("purpose", ""), request.args.get("permission") == "1"
        )
    except ValueError as exc:
        abort(400, str(exc))
    _analysis(wave)  # a clear 409 when the wave cannot be analysed
    from surveyapp.analysis.sdc import DisclosureError
    from surveyapp.services.extract import wave_threshold

    try:
        body = render_download(kind, wave, lang, open_answers=open_answers)
    except DisclosureError as exc:
        abort(409, disclosure_problem(exc))
    user = current_user()
    details: dict[str, Any] = {"format": kind, "lang": lang}
    if kind in MICRODATA:
        details["open_answers"] = open_answers
        details["k_anonymity"] = wave_threshold(wave)
    if purpose is not None:
        details["purpose"] = purpose
        details["permission_confirmed"] = True
    audit.record("download", user.email if user else None, wave.slug, **details)
    db.session.commit()
    response = Response(body, mimetype=DOWNLOADS[kind][0])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename(wave, kind, lang)}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def download_links(wave: Wave) -> Iterable[tuple[str, str]]:
    """(label, url) of each download of the results page."""
    labels = {
        "xlsx": _("Excel workbook (all tables)"),
        "csv": _("Results as CSV (one row per estimate)"),
        "json": _("Analysis as JSON"),
    }
    for kind, text in labels.items():
        yield text, url_for("planner.results_download", slug=wave.slug, kind=kind)
