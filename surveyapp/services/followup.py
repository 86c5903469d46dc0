"""The six-monthly follow-up of a strategic plan: plan files, recording, the overview and charts.

Plans are YAML files in the plan folder (``PLAN_DIR``, by default the repository's ``plans/``);
the statuses of actions and the values of manual indicators are rows of ``ActionStatus`` and
``IndicatorValue`` per plan, id and half-year. Recording validates everything first, then
upserts on the unique key and writes an audit event per change; the caller commits.

Survey-bound indicators read the estimates of every closed or archived wave's analysis
(``surveyapp.services.extract.analyze_wave``, imported lazily: without it, or when it fails,
the overview says that no analysis is available and the manual indicators still work).
Open waves are left out: their numbers still move.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from flask import current_app
from matplotlib.ticker import MaxNLocator
from sqlalchemy import func, select

from surveyapp import charts
from surveyapp.extensions import db
from surveyapp.models import ActionStatus, IndicatorValue, Response, Wave
from surveyapp.plan import (
    ACTION_STATUSES,
    BINDING_FIELDS,
    ActionRecord,
    Binding,
    Indicator,
    IndicatorView,
    Overview,
    Period,
    Plan,
    PlanError,
    Problem,
    ValueRecord,
    WaveEstimates,
    ambitions_and_results,
    build_overview,
    current_period,
    load_plan,
    parse_period,
)
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import localize
from surveyapp.services import audit

ANALYSED_STATES = ("closed", "archived")
TEXT_MAX = 2000
ROW_FIELDS = (*BINDING_FIELDS, "estimate", "se", "ci_low", "ci_high", "n", "suppressed")
ANALYSIS_CACHE_SIZE = 32


# --------------------------------------------------------------------------------------------
# Plan files
# --------------------------------------------------------------------------------------------


def plan_dir() -> Path:
    configured = current_app.config.get("PLAN_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "plans"


@dataclass(frozen=True)
class PlanFile:
    name: str
    path: Path
    plan: Plan | None
    problems: tuple[Problem, ...] = ()


_plan_cache: dict[Path, tuple[tuple[int, int], PlanFile]] = {}
_plan_lock = threading.Lock()


def _plan_file(path: Path) -> PlanFile:
    """A plan file, parsed once per version of the file (modification time and size)."""
    try:
        stat = path.stat()
    except OSError as exc:
        return PlanFile(path.name, path, None, (Problem("file", f"cannot be read: {exc}"),))
    key = (stat.st_mtime_ns, stat.st_size)
    with _plan_lock:
        cached = _plan_cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        found = PlanFile(path.name, path, load_plan(path))
    except PlanError as exc:
        found = PlanFile(path.name, path, None, tuple(exc.problems))
    with _plan_lock:
        _plan_cache[path] = (key, found)
    return found


def plan_files() -> list[PlanFile]:
    """Every ``*.yaml``/``*.yml`` file of the plan folder, valid or not, by name."""
    folder = plan_dir()
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [_plan_file(path) for path in paths]


def find_plan(plan_id: str) -> Plan | None:
    """The valid plan with this id (the first file by name, when two files share an id)."""
    for plan_file in plan_files():
        if plan_file.plan is not None and plan_file.plan.id == plan_id:
            return plan_file.plan
    return None


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


def today() -> date:
    return date.today()


def this_period() -> Period:
    """The half-year we are in now (the default period to record)."""
    return current_period(today())


def recordable_periods(plan: Plan) -> list[Period]:
    """From the plan's first half-year to now (or to its last, if that is later), newest first."""
    last = max(plan.last_period, this_period())
    first = min(plan.first_period, last)
    return [Period.from_index(i) for i in range(last.index, first.index - 1, -1)]


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with what was entered: the form field, a code and its parameters."""

    name: str  # the form field
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        text = PROBLEM_TEXT.get(self.code, self.code)
        return f"{self.name}: {text.format(**self.params)}"


PROBLEM_TEXT = {
    "period_format": "use a half-year like 2026-H1",
    "period_future": "{period} has not started yet",
    "period_before_plan": "the plan starts in {first}",
    "action_unknown": "the plan has no action {id}",
    "indicator_unknown": "the plan has no indicator {id}",
    "indicator_not_manual": "{id} is measured by the survey; it takes no entered values",
    "status_unknown": "choose one of " + ", ".join(ACTION_STATUSES),
    "value_number": "enter a number, like 12 or 12.5",
    "value_percent": "a percentage lies between 0 and 100",
    "value_negative": "a count cannot be negative",
    "value_whole": "a count is a whole number",
    "text_long": "at most {max} characters",
}


class FollowupError(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def check_period(
    plan: Plan, value: Any, field_name: str = "period"
) -> tuple[Period | None, list[FieldProblem]]:
    period = parse_period(value) if isinstance(value, str) else value if isinstance(value, Period) else None
    if period is None:
        return None, [FieldProblem(field_name, "period_format")]
    if period > this_period():
        return None, [FieldProblem(field_name, "period_future", {"period": str(period)})]
    if period < plan.first_period:
        return None, [FieldProblem(field_name, "period_before_plan", {"first": str(plan.first_period)})]
    return period, []


def parse_value(
    text: str | float | int, indicator: Indicator, field_name: str
) -> tuple[float | None, list[FieldProblem]]:
    """A number as typed (12, 12.5, 12,5 or 1.234 is not guessed: a single comma is a decimal comma)."""
    if isinstance(text, bool):
        return None, [FieldProblem(field_name, "value_number")]
    if isinstance(text, int | float):
        number = float(text)
    else:
        cleaned = text.strip().replace(" ", "").replace("\u00a0", "").rstrip("%")
        if cleaned.count(",") == 1 and "." not in cleaned:
            cleaned = cleaned.replace(",", ".")
        try:
            number = float(cleaned)
        except ValueError:
            return None, [FieldProblem(field_name, "value_number")]
    if not math.isfinite(number):
        return None, [FieldProblem(field_name, "value_number")]
    if indicator.unit == "percent" and not 0 <= number <= 100:
        return None, [FieldProblem(field_name, "value_percent")]
    if indicator.unit == "count":
        if number < 0:
            return None, [FieldProblem(field_name, "value_negative")]
        if not number.is_integer():
            return None, [FieldProblem(field_name, "value_whole")]
    return number, []


def _clean_text(text: str | None, field_name: str, problems: list[FieldProblem]) -> str | None:
    cleaned = (text or "").strip()
    if len(cleaned) > TEXT_MAX:
        problems.append(FieldProblem(field_name, "text_long", {"max": TEXT_MAX}))
    return cleaned or None


def _existing_status(plan: Plan, action_id: str, period: Period) -> ActionStatus | None:
    return db.session.execute(
        select(ActionStatus).where(
            ActionStatus.plan_key == plan.id,
            ActionStatus.action_id == action_id,
            ActionStatus.period == str(period),
        )
    ).scalar_one_or_none()


def _existing_value(plan: Plan, indicator_id: str, period: Period) -> IndicatorValue | None:
    return db.session.execute(
        select(IndicatorValue).where(
            IndicatorValue.plan_key == plan.id,
            IndicatorValue.indicator_id == indicator_id,
            IndicatorValue.period == str(period),
        )
    ).scalar_one_or_none()


def _upsert_status(
    plan: Plan, action_id: str, period: Period, status: str, comment: str | None, user: str | None
) -> ActionStatus | None:
    row = _existing_status(plan, action_id, period)
    if row is not None and row.status == status and (row.comment or None) == comment:
        return None  # unchanged: no write, no audit event
    previous = row.status if row is not None else None
    if row is None:
        row = ActionStatus(plan_key=plan.id, action_id=action_id, period=str(period))
        db.session.add(row)
    row.status, row.comment, row.recorded_by = status, comment, user
    audit.record(
        "plan_status_recorded",
        user,
        f"{plan.id}/{action_id}",
        plan=plan.id,
        action_id=action_id,
        period=str(period),
        status=status,
        previous=previous,
    )
    return row


def _upsert_value(
    plan: Plan, indicator_id: str, period: Period, value: float, note: str | None, user: str | None
) -> IndicatorValue | None:
    row = _existing_value(plan, indicator_id, period)
    if row is not None and row.value == value and (row.note or None) == note:
        return None
    previous = row.value if row is not None else None
    if row is None:
        row = IndicatorValue(plan_key=plan.id, indicator_id=indicator_id, period=str(period))
        db.session.add(row)
    row.value, row.note, row.recorded_by = value, note, user
    audit.record(
        "indicator_recorded",
        user,
        f"{plan.id}/{indicator_id}",
        plan=plan.id,
        indicator_id=indicator_id,
        period=str(period),
        value=value,
        previous=previous,
    )
    return row


def record_action_status(
    plan: Plan,
    action_id: str,
    period: str | Period,
    status: str,
    comment: str | None = None,
    user: str | None = None,
) -> ActionStatus | None:
    """Record (or change) an action's status for a half-year; None when nothing changed."""
    problems: list[FieldProblem] = []
    if plan.action(action_id) is None:
        problems.append(FieldProblem("action", "action_unknown", {"id": action_id}))
    checked, period_problems = check_period(plan, period)
    problems += period_problems
    if status not in ACTION_STATUSES:
        problems.append(FieldProblem("status", "status_unknown"))
    cleaned = _clean_text(comment, "comment", problems)
    if problems or checked is None:
        raise FollowupError(problems)
    return _upsert_status(plan, action_id, checked, status, cleaned, user)


def record_indicator_value(
    plan: Plan,
    indicator_id: str,
    period: str | Period,
    value: str | float | int,
    note: str | None = None,
    user: str | None = None,
) -> IndicatorValue | None:
    """Record (or change) a manual indicator's value for a half-year; None when nothing changed."""
    problems: list[FieldProblem] = []
    indicator = plan.indicator(indicator_id)
    number: float | None = None
    if indicator is None:
        problems.append(FieldProblem("indicator", "indicator_unknown", {"id": indicator_id}))
    elif not indicator.manual:
        problems.append(FieldProblem("indicator", "indicator_not_manual", {"id": indicator_id}))
    else:
        number, value_problems = parse_value(value, indicator, "value")
        problems += value_problems
    checked, period_problems = check_period(plan, period)
    problems += period_problems
    cleaned = _clean_text(note, "note", problems)
    if problems or checked is None or number is None:
        raise FollowupError(problems)
    return _upsert_value(plan, indicator_id, checked, number, cleaned, user)


@dataclass(frozen=True)
class RecordOutcome:
    period: Period
    statuses_changed: int
    values_changed: int


def record_period(
    plan: Plan,
    period: str,
    statuses: Mapping[str, tuple[str, str]],
    values: Mapping[str, tuple[str, str]],
    user: str | None,
) -> RecordOutcome:
    """The record form: ``statuses`` action id → (status, comment), ``values`` indicator id →
    (value text, note). An empty status or value leaves that row as it is (a comment or note
    alone needs a status or value). Everything is checked first; nothing is written when
    anything is wrong (``FollowupError`` names the form fields: status-ID, comment-ID, value-ID,
    note-ID, period)."""
    problems: list[FieldProblem] = []
    checked, period_problems = check_period(plan, period)
    problems += period_problems
    status_rows: list[tuple[str, str, str | None]] = []
    for action_id, (status, comment) in statuses.items():
        if plan.action(action_id) is None:
            problems.append(FieldProblem(f"status-{action_id}", "action_unknown", {"id": action_id}))
            continue
        cleaned = _clean_text(comment, f"comment-{action_id}", problems)
        if not status:
            continue
        if status not in ACTION_STATUSES:
            problems.append(FieldProblem(f"status-{action_id}", "status_unknown"))
            continue
        status_rows.append((action_id, status, cleaned))
    value_rows: list[tuple[str, float, str | None]] = []
    for indicator_id, (text, note) in values.items():
        indicator = plan.indicator(indicator_id)
        if indicator is None or not indicator.manual:
            code = "indicator_unknown" if indicator is None else "indicator_not_manual"
            problems.append(FieldProblem(f"value-{indicator_id}", code, {"id": indicator_id}))
            continue
        cleaned = _clean_text(note, f"note-{indicator_id}", problems)
        if not text.strip():
            continue
        number, value_problems = parse_value(text, indicator, f"value-{indicator_id}")
        problems += value_problems
        if number is not None:
            value_rows.append((indicator_id, number, cleaned))
    if problems or checked is None:
        raise FollowupError(problems)
    changed_statuses = sum(
        1
        for action_id, status, comment in status_rows
        if _upsert_status(plan, action_id, checked, status, comment, user)
    )
    changed_values = sum(
        1
        for indicator_id, number, note in value_rows
        if _upsert_value(plan, indicator_id, checked, number, note, user)
    )
    return RecordOutcome(checked, changed_statuses, changed_values)


def recorded_for(plan: Plan, period: Period) -> tuple[dict[str, ActionStatus], dict[str, IndicatorValue]]:
    """What is recorded for one half-year (to fill the form)."""
    statuses = db.session.execute(
        select(ActionStatus).where(ActionStatus.plan_key == plan.id, ActionStatus.period == str(period))
    ).scalars()
    values = db.session.execute(
        select(IndicatorValue).where(IndicatorValue.plan_key == plan.id, IndicatorValue.period == str(period))
    ).scalars()
    return {row.action_id: row for row in statuses}, {row.indicator_id: row for row in values}


def latest_statuses(plan: Plan, before: Period | None) -> dict[str, ActionStatus]:
    """Each action's most recent status before a half-year (the form shows it as a reminder)."""
    rows = db.session.execute(select(ActionStatus).where(ActionStatus.plan_key == plan.id)).scalars()
    latest: dict[str, tuple[Period, ActionStatus]] = {}
    for row in rows:
        period = parse_period(row.period)
        if period is None or (before is not None and period >= before):
            continue
        if row.action_id not in latest or latest[row.action_id][0] < period:
            latest[row.action_id] = (period, row)
    return {action_id: row for action_id, (_period, row) in latest.items()}


# --------------------------------------------------------------------------------------------
# Survey estimates per analysed wave
# --------------------------------------------------------------------------------------------


def analysis_function() -> Callable[[Wave], Any] | None:
    """The analysis' entry point, or None while it is not installed (imported lazily: heavy)."""
    try:
        from surveyapp.services.extract import analyze_wave
    except ImportError:
        return None
    return analyze_wave


def wave_period(wave: Wave) -> Period:
    day = wave.closes_on or wave.opens_on or (wave.created_at.date() if wave.created_at else today())
    return Period.of(day)


_estimates_cache: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
_estimates_lock = threading.Lock()
# One analysis at a time per process: the page and its charts ask at once, and a second run of
# the same analysis would only take CPU from the first (the cache serves the waiting ones).
_analysis_lock = threading.Lock()


def _cached_rows(key: tuple[Any, ...], compute: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    with _estimates_lock:
        rows = _estimates_cache.get(key)
    if rows is not None:
        return rows
    with _analysis_lock:
        with _estimates_lock:
            rows = _estimates_cache.get(key)
        if rows is None:
            rows = compute()
            with _estimates_lock:
                _estimates_cache[key] = rows
                while len(_estimates_cache) > ANALYSIS_CACHE_SIZE:
                    _estimates_cache.popitem(last=False)
    return rows


def _analysed_rows(analyze: Callable[[Wave], Any], wave: Wave) -> list[dict[str, Any]]:
    return _rows_of(analyze(wave))


def _rows_of(result: Any) -> list[dict[str, Any]]:
    data = result.to_json_dict() if hasattr(result, "to_json_dict") else result
    rows = data.get("estimates", []) if isinstance(data, Mapping) else []
    return [{name: row.get(name) for name in ROW_FIELDS} for row in rows if isinstance(row, Mapping)]


@dataclass(frozen=True)
class SurveyEstimates:
    state: str  # available | unavailable
    waves: tuple[WaveEstimates, ...]
    notes: tuple[str, ...] = ()


def survey_estimates() -> SurveyEstimates:
    """The estimate rows of every closed or archived wave, analysed once per state of its data."""
    analyze = analysis_function()
    if analyze is None:
        return SurveyEstimates("unavailable", (), ("the survey analysis is not installed",))
    counts = dict(
        db.session.execute(select(Response.wave_id, func.count(Response.id)).group_by(Response.wave_id)).all()
    )
    waves = db.session.execute(
        select(Wave).where(Wave.state.in_(ANALYSED_STATES)).order_by(Wave.closes_on, Wave.id)
    ).scalars()
    found: list[WaveEstimates] = []
    notes: list[str] = []
    for wave in waves:
        responses = int(counts.get(wave.id, 0))
        if not responses:
            continue
        key = (
            wave.id,
            wave.slug,
            wave.state,
            wave.questionnaire_version_id,
            wave.suppression_threshold,
            responses,
        )
        try:
            rows = _cached_rows(key, partial(_analysed_rows, analyze, wave))
        except Exception as exc:  # an analysis that fails must not take the follow-up down
            current_app.logger.warning("follow-up: analysis of wave %s failed: %s", wave.slug, exc)
            notes.append(f"the analysis of wave {wave.slug} failed: {exc}")
            continue
        found.append(WaveEstimates(wave.slug, wave.title, wave_period(wave), rows, wave.audience))
    return SurveyEstimates("available", tuple(found), tuple(notes))


def clear_caches() -> None:
    with _estimates_lock:
        _estimates_cache.clear()
    with _plan_lock:
        _plan_cache.clear()
    _indicator_png.cache_clear()


# --------------------------------------------------------------------------------------------
# The overview
# --------------------------------------------------------------------------------------------


def followup_overview(plan: Plan, as_of: Period | None = None) -> Overview:
    """Each goal with its actions' status and its indicators' series, as of a half-year (now)."""
    as_of = as_of or this_period()
    actions = [
        ActionRecord(r.action_id, r.period, r.status, r.comment, r.recorded_by, r.recorded_at)
        for r in db.session.execute(select(ActionStatus).where(ActionStatus.plan_key == plan.id)).scalars()
    ]
    values = [
        ValueRecord(r.indicator_id, r.period, float(r.value), r.note, r.recorded_by, r.recorded_at)
        for r in db.session.execute(
            select(IndicatorValue).where(IndicatorValue.plan_key == plan.id)
        ).scalars()
    ]
    if all(indicator.manual for indicator in plan.indicators):
        return build_overview(plan, actions, values, (), as_of, analysis="not_needed")
    estimates = survey_estimates()
    return build_overview(
        plan, actions, values, estimates.waves, as_of, analysis=estimates.state, notes=estimates.notes
    )


# --------------------------------------------------------------------------------------------
# The indicator chart
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartLabels:
    value: str
    baseline: str
    path: str
    target: str
    deadline: str  # already filled in with the deadline
    lang: str = "nl"  # of the axis numbers


def _chart_data(view: IndicatorView) -> dict[str, Any]:
    indicator = view.indicator
    return {
        "unit": indicator.unit,
        "points": [
            [p.period.index, p.value, p.ci_low, p.ci_high, p.suppressed]
            for p in view.points
            if p.value is not None
        ],
        "baseline": [view.baseline_period.index if view.baseline_period else None, view.baseline_value],
        "target": [indicator.target.by.index, indicator.target.value],
        "direction": indicator.direction,
    }


def chart_fingerprint(plan: Plan, view: IndicatorView, *extra: str) -> str:
    """What the chart shows, hashed: its ETag and cache key (plan version + data + labels)."""
    text = json.dumps([plan.content_hash, view.indicator.id, _chart_data(view), *extra], default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def indicator_png(plan: Plan, view: IndicatorView, labels: ChartLabels) -> bytes:
    fingerprint = chart_fingerprint(plan, view, *astuple(labels))
    return _indicator_png(fingerprint, json.dumps(_chart_data(view)), labels)


@lru_cache(maxsize=128)
def _indicator_png(fingerprint: str, data_json: str, labels: ChartLabels) -> bytes:
    """Rendered once per plan version, indicator data and language (the fingerprint is in the key)."""
    data = json.loads(data_json)
    figure = indicator_figure(data, labels)
    return charts.png_bytes(figure)


def indicator_figure(data: Mapping[str, Any], labels: ChartLabels) -> Any:
    """Values over half-years (with 95% intervals for survey values), the baseline, the straight
    path to the target, the target line and the deadline."""
    figure = charts.new_figure()
    axes = figure.add_subplot()
    charts.style_axes(axes)
    points = data["points"]
    base_index, base_value = data["baseline"]
    target_index, target_value = data["target"]
    indexes = [p[0] for p in points] + [target_index] + ([base_index] if base_index is not None else [])
    first, last = min(indexes), max(indexes)
    if points:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        axes.plot(
            xs, ys, color=charts.BRAND, linewidth=2.5, marker="o", markersize=6, label=labels.value, zorder=3
        )
        for x, _y, low, high, _suppressed in points:
            if low is not None and high is not None:
                axes.vlines(x, low, high, color=charts.BRAND, linewidth=1.2, alpha=0.6, zorder=2)
    if base_index is not None and base_value is not None:
        axes.plot(
            [base_index],
            [base_value],
            linestyle="none",
            marker="o",
            markersize=8,
            markerfacecolor="white",
            markeredgecolor=charts.BRAND_DARK,
            markeredgewidth=2,
            label=labels.baseline,
            zorder=4,
            clip_on=False,
        )
        axes.plot(
            [base_index, target_index],
            [base_value, target_value],
            color=charts.INK,
            linestyle=":",
            linewidth=1.2,
            label=labels.path,
        )
    axes.axhline(
        target_value, color=charts.ACCENT, linestyle="--", linewidth=2, label=labels.target, zorder=1
    )
    axes.axvline(target_index, color=charts.BRAND_DARK, linestyle="-.", linewidth=1, label=labels.deadline)
    ticks = list(range(first, last + 1))
    step = 1 if len(ticks) <= 12 else 2
    axes.set_xticks(ticks[::step])
    axes.set_xticklabels([str(Period.from_index(i)) for i in ticks[::step]], fontsize=8)
    axes.set_xlim(first - 0.5, last + 0.5)
    values = [target_value] + ([base_value] if base_value is not None else [])
    values += [v for p in points for v in (p[1], p[3]) if v is not None]
    if data["unit"] == "percent":
        axes.set_ylim(0, 100)
        axes.yaxis.set_major_formatter(charts.percent_axis(labels.lang, xmax=100))
    else:
        axes.set_ylim(0, max(values) * 1.15 if max(values) > 0 else 1)
        if data["unit"] == "count":
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_formatter(charts.number_axis(labels.lang, 0 if data["unit"] == "count" else 1))
    figure.legend(loc="outside upper left", ncols=3, frameon=False, fontsize=9)
    return figure


# --------------------------------------------------------------------------------------------
# What a survey-bound indicator reads, in words
# --------------------------------------------------------------------------------------------


def wave_questionnaires() -> list[Questionnaire]:
    """The questionnaires of the waves, newest wave first, each version once (for labels)."""
    from surveyapp.survey.service import questionnaire_of

    found: dict[int, Questionnaire] = {}
    for wave in db.session.execute(select(Wave).order_by(Wave.id.desc())).scalars():
        version = wave.questionnaire_version
        if version is None or version.id in found:
            continue
        try:
            found[version.id] = questionnaire_of(version)
        except Exception as exc:  # a label less beats a follow-up page that fails
            current_app.logger.warning("follow-up: questionnaire of wave %s unreadable: %s", wave.slug, exc)
    return list(found.values())


def binding_text(binding: Binding, questionnaires: Sequence[Questionnaire], lang: str) -> str:
    """What a survey-bound indicator reads, as the questionnaire says it (never its keys):
    Gebruik: “Welke aanbodsvormen …” (Hoe oud bent u: Jonger dan 30 jaar)."""
    from surveyapp.reports.data import measure_label

    base = binding.question.split("/", 1)[0].split("=", 1)[0]
    questionnaire = next(
        (q for q in questionnaires if any(question.id == base for question in q.questions)), None
    )
    text = measure_label(binding.measure, lang)
    if questionnaire is None:
        return text
    question = questionnaire.question(base)
    text += f": “{localize(question.label, lang)}”"
    part = binding.question.split("/", 1)[1] if "/" in binding.question else binding.code
    named = {item.id: item.label for item in question.items} | {c.code: c.label for c in question.choices}
    if part and part in named:
        text += f" – {localize(named[part], lang)}"
    subject = next((found for found in questionnaire.subjects if found.id == binding.subject), None)
    if subject is not None:
        text += f" – {localize(subject.label, lang)}"
    if binding.group_var is not None:
        group_question = next(
            (
                q
                for q in questionnaire.questions
                if q.measure is not None
                and q.measure.type == "group"
                and binding.group_var in (q.id, q.measure.register_column)
            ),
            None,
        )
        if group_question is not None:
            group = next((c.label for c in group_question.choices if c.code == binding.group), None)
            variable = localize(group_question.label, lang).rstrip("?").strip()
            text += f" ({variable}: {localize(group, lang)})" if group else f" ({variable})"
    return text


def plan_statement_dicts(plan: Plan, overview: Overview) -> list[dict[str, Any]]:
    """The Ambitions and Results as JSON-ready dicts (for the SWO-ART document)."""
    return [statement.to_dict() for statement in ambitions_and_results(plan, overview)]
