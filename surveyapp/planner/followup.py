"""The strategic plan's six-monthly follow-up in the browser.

Viewers see the plans, each goal with its actions' status and its indicators (table and
chart), and the Ambitions and Results for the SWO-ART input. Recording a half-year's statuses
and manual values needs the planner role; each change is audit-logged and committed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.plan import (
    ACTION_STATUSES,
    Binding,
    IndicatorView,
    Period,
    Plan,
    ambitions_and_results,
    format_number,
    localize,
    overview_text,
    parse_period,
)
from surveyapp.planner import bp
from surveyapp.services import followup

CHART_MAX_AGE = 300  # seconds; the ETag changes whenever a value or the plan changes


class RecordForm(FlaskForm):
    """Only the CSRF token: the rows are read from the form itself (one per action/indicator)."""


def _lang() -> str:
    return str(get_locale() or "nl")


def _actor() -> str | None:
    user = current_user()
    return user.email if user else None


def _plan_or_404(plan_id: str) -> Plan:
    plan = followup.find_plan(plan_id)
    if plan is None:
        abort(404, _("There is no plan with this name."))
    return plan


def _as_of() -> Period | None:
    text = request.args.get("period")
    if not text:
        return None
    period = parse_period(text)
    if period is None:
        abort(400, _("Use a half-year like 2026-H1."))
    return period


def status_label(status: str | None) -> str:
    labels = {
        "not_started": _("not started"),
        "under_way": _("under way"),
        "done": _("done"),
        "dropped": _("dropped"),
    }
    return labels.get(status or "", _("no status"))


def assessment_label(status: str) -> str:
    labels = {
        "reached": _("target reached"),
        "on_track": _("on track"),
        "behind": _("behind"),
        "no_data": _("no value yet"),
        "no_baseline": _("baseline not known"),
    }
    return labels.get(status, status)


def unit_label(unit: str) -> str:
    return {"percent": _("percent"), "count": _("number"), "score": _("score")}.get(unit, unit)


def number(value: float | None, unit: str) -> str:
    """A value in the page's language: 48,3% or 1.234 in Dutch."""
    if value is None:
        return "–"
    return format_number(value, unit, _lang())


def _input_number(value: float) -> str:
    """A stored value as it would be typed: no thousands separator, a decimal comma in Dutch."""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return text.replace(".", ",") if _lang() == "nl" else text


def problem_text(problem: followup.FieldProblem) -> str:
    p = problem.params
    texts = {
        "period_format": lambda: _("Use a half-year like 2026-H1."),
        "period_future": lambda: _("%(period)s has not started yet.", period=p["period"]),
        "period_before_plan": lambda: _("The plan starts in %(first)s.", first=p["first"]),
        "action_unknown": lambda: _("The plan has no action %(id)s.", id=p["id"]),
        "indicator_unknown": lambda: _("The plan has no indicator %(id)s.", id=p["id"]),
        "indicator_not_manual": lambda: _(
            "%(id)s is measured by the survey: it takes no entered values.", id=p["id"]
        ),
        "status_unknown": lambda: _("Choose a status from the list."),
        "value_number": lambda: _("Enter a number, like 12 or 12,5."),
        "value_percent": lambda: _("A percentage lies between 0 and 100."),
        "value_negative": lambda: _("A number of things cannot be negative."),
        "value_whole": lambda: _("Enter a whole number."),
        "text_long": lambda: _("Use at most %(max)d characters.", max=p["max"]),
    }
    make = texts.get(problem.code)
    return make() if make else str(problem)


# The overview's technical notes are English sentences (the CLI prints them); the page says them
# in its language. A note of a form not listed here is shown as it is.
_NOTES: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (
        r"(\S+): the binding matches (\d+) rows; name more fields",
        lambda m: _(
            "%(wave)s: the indicator matches %(n)s rows of the analysis; the plan must name more fields.",
            wave=m[1],
            n=m[2],
        ),
    ),
    (
        r"the baseline wave (\S+) has a suppressed estimate",
        lambda m: _("The baseline wave %(wave)s has too few answers to show the estimate.", wave=m[1]),
    ),
    (
        r"the baseline wave (\S+) has no analysis \(yet\)",
        lambda m: _("The baseline wave %(wave)s has no analysis (yet).", wave=m[1]),
    ),
    (
        r"(\d+) recorded status\(es\) belong to actions that are no longer in the plan",
        lambda m: _("%(n)s recorded statuses belong to actions that are no longer in the plan.", n=m[1]),
    ),
    (
        r"(\d+) recorded value\(s\) belong to indicators no longer in the plan",
        lambda m: _("%(n)s recorded values belong to indicators that are no longer in the plan.", n=m[1]),
    ),
    (
        r"the analysis of wave (\S+) failed: .*",
        lambda m: _("The analysis of wave %(wave)s failed.", wave=m[1]),
    ),
    (r"the survey analysis is not installed", lambda m: _("The survey analysis is not installed.")),
)


def note_text(note: str) -> str:
    """A technical note of the overview in the page's language."""
    for pattern, text in _NOTES:
        match = re.fullmatch(pattern, note, re.S)
        if match:
            return text(match)
    return note


def _helpers() -> dict[str, Any]:
    lang = _lang()
    questionnaires: list[Any] = []

    def binding_text(binding: Binding) -> str:
        if not questionnaires:  # read once per page, and only when an indicator needs it
            questionnaires.extend(followup.wave_questionnaires())
        return followup.binding_text(binding, questionnaires, lang)

    return {
        "binding_text": binding_text,
        "note_text": note_text,
        "lang": lang,
        "tr": lambda text: localize(text, lang),
        "status_label": status_label,
        "assessment_label": assessment_label,
        "unit_label": unit_label,
        "number": number,
        "statuses": ACTION_STATUSES,
    }


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


@bp.get("/plans")
@role_required("viewer")
def plans() -> str:
    return render_template("planner/followup_plans.html", files=followup.plan_files(), **_helpers())


@bp.get("/plans/<plan_id>")
@role_required("viewer")
def plan_followup(plan_id: str) -> str:
    plan = _plan_or_404(plan_id)
    overview = followup.followup_overview(plan, _as_of())
    statements = ambitions_and_results(plan, overview)
    user = current_user()
    return render_template(
        "planner/followup.html",
        plan=plan,
        overview=overview,
        ambitions=[s for s in statements if s.kind == "ambition"],
        results=[s for s in statements if s.kind == "result"],
        periods=followup.recordable_periods(plan),
        current=followup.this_period(),
        can_record=user is not None and user.role in ("planner", "admin"),
        **_helpers(),
    )


@bp.get("/plans/<plan_id>/report.txt")
@role_required("viewer")
def plan_report(plan_id: str) -> Response:
    """The follow-up as plain text (the same as ``surveyapp plan status``), in the page's language."""
    plan = _plan_or_404(plan_id)
    overview = followup.followup_overview(plan, _as_of())
    lang = "nl" if _lang() == "nl" else "en"
    response = Response(overview_text(overview, lang), mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="{plan.id}-{overview.as_of}.txt"'
    return response


@bp.get("/plans/<plan_id>/ambitions-results.json")
@role_required("viewer")
def plan_statements(plan_id: str) -> Response:
    """The Ambitions and Results with their evidence, for the SWO-ART input document."""
    plan = _plan_or_404(plan_id)
    overview = followup.followup_overview(plan, _as_of())
    return jsonify(
        plan=plan.id,
        as_of=str(overview.as_of),
        analysis=overview.analysis,
        statements=followup.plan_statement_dicts(plan, overview),
    )


@bp.get("/plans/<plan_id>/indicators/<indicator_id>/chart.png")
@role_required("viewer")
def plan_indicator_chart(plan_id: str, indicator_id: str) -> Response:
    plan = _plan_or_404(plan_id)
    if plan.indicator(indicator_id) is None:
        abort(404)
    overview = followup.followup_overview(plan, _as_of())
    view = overview.indicator(indicator_id)
    assert view is not None
    labels = _chart_labels(view)
    etag = followup.chart_fingerprint(plan, view, *astuple(labels))
    response = Response(mimetype="image/png")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={CHART_MAX_AGE}"
    response.vary.add("Cookie")
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    response.set_data(followup.indicator_png(plan, view, labels))
    return response


def _chart_labels(view: IndicatorView) -> followup.ChartLabels:
    indicator = view.indicator
    return followup.ChartLabels(
        value=_("Value") if indicator.manual else _("Survey estimate (%(level)d%% interval)", level=95),
        baseline=_("Baseline"),
        path=_("Straight path to the target"),
        target=_("Target"),
        deadline=_("Deadline %(period)s", period=str(indicator.target.by)),
        lang=_lang(),
    )


# --------------------------------------------------------------------------------------------
# Recording a half-year
# --------------------------------------------------------------------------------------------


@bp.route("/plans/<plan_id>/record", methods=["GET", "POST"])
@role_required("planner")
def plan_record(plan_id: str) -> Any:
    plan = _plan_or_404(plan_id)
    form = RecordForm()
    periods = followup.recordable_periods(plan)
    errors: dict[str, str] = {}
    loose: list[str] = []
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, _("This form could not be sent. Reload the page and try again."))
        period_text = request.form.get("period", "")
        statuses = {
            a.id: (request.form.get(f"status-{a.id}", ""), request.form.get(f"comment-{a.id}", ""))
            for a in plan.actions
        }
        values = {
            i.id: (request.form.get(f"value-{i.id}", ""), request.form.get(f"note-{i.id}", ""))
            for i in plan.manual_indicators
        }
        try:
            outcome = _save(plan, period_text, statuses, values)
        except followup.FollowupError as exc:
            db.session.rollback()
            for problem in exc.problems:
                errors.setdefault(problem.name, problem_text(problem))
            status = 422
        else:
            flash(
                _(
                    "Saved for %(period)s: %(statuses)d action status(es) and %(values)d value(s) changed.",
                    period=str(outcome.period),
                    statuses=outcome.statuses_changed,
                    values=outcome.values_changed,
                ),
                "info",
            )
            return redirect(
                url_for("planner.plan_followup", plan_id=plan.id, period=str(outcome.period)), 303
            )
        chosen = parse_period(period_text)
        entered_statuses = {key: {"status": s, "comment": c} for key, (s, c) in statuses.items()}
        entered_values = {key: {"value": v, "note": n} for key, (v, n) in values.items()}
    else:
        chosen = _as_of() or followup.this_period()
        if chosen not in periods:
            abort(400, _("Choose a half-year of the plan that has started."))
        recorded_statuses, recorded_values = followup.recorded_for(plan, chosen)
        entered_statuses = {
            key: {"status": row.status, "comment": row.comment or ""}
            for key, row in recorded_statuses.items()
        }
        entered_values = {
            key: {"value": _input_number(row.value), "note": row.note or ""}
            for key, row in recorded_values.items()
        }
    return (
        render_template(
            "planner/followup_record.html",
            plan=plan,
            form=form,
            period=str(chosen) if chosen else request.form.get("period", ""),
            periods=periods,
            errors=errors,
            loose=loose,
            entered_statuses=entered_statuses,
            entered_values=entered_values,
            previous=followup.latest_statuses(plan, chosen),
            **_helpers(),
        ),
        status,
    )


def _save(
    plan: Plan,
    period: str,
    statuses: dict[str, tuple[str, str]],
    values: dict[str, tuple[str, str]],
) -> followup.RecordOutcome:
    """Record and commit; a second planner inserting the same row at the same moment makes the
    unique key refuse ours once, and the retry then updates their row."""
    for attempt in range(2):
        try:
            outcome = followup.record_period(plan, period, statuses, values, _actor())
            db.session.commit()
            return outcome
        except IntegrityError:
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")
