"""The six-monthly follow-up with a database: recording, audit, overview, pages, chart and CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from surveyapp.charts import PNG_SIGNATURE
from surveyapp.extensions import db
from surveyapp.models import ActionStatus, AuditEvent, IndicatorValue, Response, Wave
from surveyapp.plan import Period, Plan, load_plan
from surveyapp.services import followup
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import create_wave
from tests.conftest import DATA, REPO, csrf_token_of, make_app
from tests.test_auth import login, make_users

PLAN_ID = "strategisch-plan-2022-2025"
EXAMPLE = REPO / "plans" / f"{PLAN_ID}.yaml"
PAGE = f"/planner/plans/{PLAN_ID}"
TODAY = date(2026, 3, 15)  # in 2026-H1


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(followup, "today", lambda: TODAY)
    followup.clear_caches()
    yield
    followup.clear_caches()


@pytest.fixture
def plan() -> Plan:
    return load_plan(EXAMPLE)


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            ).scalars()
        )


# --- recording ---------------------------------------------------------------------------------------


def test_record_action_status_upserts_and_audits(app: Flask, plan: Plan) -> None:
    with app.app_context():
        first = followup.record_action_status(
            plan, "A4.2.1", "2026-H1", "under_way", "  slides ready ", "p@x.org"
        )
        db.session.commit()
        assert first is not None and first.comment == "slides ready"
        again = followup.record_action_status(
            plan, "A4.2.1", "2026-H1", "under_way", "slides ready", "p@x.org"
        )
        assert again is None  # unchanged: nothing written, no audit event
        changed = followup.record_action_status(plan, "A4.2.1", Period(2026, 1), "done", None, "q@x.org")
        db.session.commit()
        assert changed is not None and changed.id == first.id
        followup.record_action_status(plan, "A4.2.1", "2025-H2", "not_started", None, "p@x.org")
        db.session.commit()
        rows = db.session.execute(select(ActionStatus).order_by(ActionStatus.period)).scalars().all()
        assert [(r.period, r.status, r.comment, r.recorded_by) for r in rows] == [
            ("2025-H2", "not_started", None, "p@x.org"),
            ("2026-H1", "done", None, "q@x.org"),
        ]
    events = audit_events(app, "plan_status_recorded")
    assert [(e.user_email, e.target, e.details["status"], e.details["previous"]) for e in events] == [
        ("p@x.org", f"{PLAN_ID}/A4.2.1", "under_way", None),
        ("q@x.org", f"{PLAN_ID}/A4.2.1", "done", "under_way"),
        ("p@x.org", f"{PLAN_ID}/A4.2.1", "not_started", None),
    ]
    assert events[0].details["period"] == "2026-H1" and events[0].details["plan"] == PLAN_ID


def test_record_indicator_value_upserts_and_audits(app: Flask, plan: Plan) -> None:
    with app.app_context():
        followup.record_indicator_value(plan, "webinars", "2025-H2", "5", "agenda", "p@x.org")
        followup.record_indicator_value(plan, "webinars", "2025-H2", 6, "agenda", "p@x.org")
        followup.record_indicator_value(plan, "webinars", "2026-H1", "8", None, "p@x.org")
        db.session.commit()
        rows = db.session.execute(select(IndicatorValue).order_by(IndicatorValue.period)).scalars().all()
        assert [(r.period, r.value, r.note) for r in rows] == [
            ("2025-H2", 6.0, "agenda"),
            ("2026-H1", 8.0, None),
        ]
    events = audit_events(app, "indicator_recorded")
    assert [(e.details["period"], e.details["value"], e.details["previous"]) for e in events] == [
        ("2025-H2", 5.0, None),
        ("2025-H2", 6.0, 5.0),
        ("2026-H1", 8.0, None),
    ]


def problem_codes(exc: pytest.ExceptionInfo[followup.FollowupError]) -> list[tuple[str, str]]:
    return [(p.name, p.code) for p in exc.value.problems]


def test_recording_validation(app: Flask, plan: Plan) -> None:
    with app.app_context():
        with pytest.raises(followup.FollowupError) as caught:
            followup.record_action_status(plan, "A9.9", "2026-H3", "finished", "x" * 2001)
        assert problem_codes(caught) == [
            ("action", "action_unknown"),
            ("period", "period_format"),
            ("status", "status_unknown"),
            ("comment", "text_long"),
        ]
        with pytest.raises(followup.FollowupError) as caught:
            followup.record_action_status(plan, "A1.1.1", "2026-H2", "done")  # not started yet
        assert problem_codes(caught) == [("period", "period_future")]
        with pytest.raises(followup.FollowupError) as caught:
            followup.record_action_status(plan, "A1.1.1", "2021-H2", "done")
        assert problem_codes(caught) == [("period", "period_before_plan")]
        cases: list[tuple[str, Any, str]] = [
            ("webinars", "twelve", "value_number"),
            ("webinars", "nan", "value_number"),
            ("webinars", "-1", "value_negative"),
            ("webinars", "2,5", "value_whole"),
            ("ma_bekend_lt30", "50", "indicator_not_manual"),
            ("nothing", "1", "indicator_unknown"),
        ]
        for indicator_id, value, code in cases:
            with pytest.raises(followup.FollowupError) as caught:
                followup.record_indicator_value(plan, indicator_id, "2026-H1", value)
            assert [p.code for p in caught.value.problems] == [code], (indicator_id, value)
        assert followup.record_indicator_value(plan, "onboarding_bereik", "2026-H1", " 1 250 ") is not None
        db.session.rollback()
    assert count(app, ActionStatus) == count(app, IndicatorValue) == count(app, AuditEvent) == 0


def test_record_period_is_all_or_nothing(app: Flask, plan: Plan) -> None:
    with app.app_context():
        with pytest.raises(followup.FollowupError) as caught:
            followup.record_period(
                plan,
                "2026-H1",
                {"A1.1.1": ("done", ""), "A1.1.2": ("maybe", "")},
                {"webinars": ("4", ""), "onboarding_bereik": ("lots", "")},
                "p@x.org",
            )
        assert problem_codes(caught) == [
            ("status-A1.1.2", "status_unknown"),
            ("value-onboarding_bereik", "value_number"),
        ]
        db.session.rollback()
    assert count(app, ActionStatus) == count(app, IndicatorValue) == 0
    with app.app_context():
        outcome = followup.record_period(
            plan,
            "2026-H1",
            {"A1.1.1": ("done", "ok"), "A1.1.2": ("", "a comment alone changes nothing")},
            {"webinars": ("4", "two online"), "onboarding_bereik": ("", "")},
            "p@x.org",
        )
        db.session.commit()
        assert (outcome.period, outcome.statuses_changed, outcome.values_changed) == (Period(2026, 1), 1, 1)
    assert count(app, ActionStatus) == count(app, IndicatorValue) == 1


# --- the overview ----------------------------------------------------------------------------------


def test_overview_from_the_database(app: Flask, plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    with app.app_context():
        followup.record_action_status(plan, "A2.1.1", "2025-H1", "under_way", "first webinar")
        followup.record_action_status(plan, "A2.1.1", "2026-H1", "done")
        for period, value in (("2023-H1", 2), ("2024-H1", 4), ("2025-H1", 6)):
            followup.record_indicator_value(plan, "webinars", period, value)
        db.session.commit()
        overview = followup.followup_overview(plan)
        assert overview.as_of == Period(2026, 1) and overview.analysis == "unavailable"
        action = next(a for a in overview.actions if a.action.id == "A2.1.1")
        assert action.latest is not None and action.latest.status == "done"
        assert [r.period for r in action.history] == ["2026-H1", "2025-H1"]
        webinars = overview.indicator("webinars")
        assert webinars is not None
        # Now (2026-H1) the deadline 2025-H2 has passed: 6 is compared with the target itself.
        assert webinars.assessment.status == "behind" and webinars.assessment.deadline_passed
        assert webinars.assessment.expected == 12
        # 0 → 12 from 2022-H1 to 2025-H2 (7 half-years): in 2025-H1 the path is at 10.3, so 6 is behind.
        then = followup.followup_overview(plan, Period(2025, 1)).indicator("webinars")
        assert then is not None and then.assessment.expected == pytest.approx(12 * 6 / 7)
        earlier = followup.followup_overview(plan, Period(2024, 1))
        assert earlier.indicator("webinars").assessment.status == "behind"  # type: ignore[union-attr]
        assert earlier.indicator("webinars").assessment.latest.value == 4  # type: ignore[union-attr]
        assert next(a for a in earlier.actions if a.action.id == "A2.1.1").latest is None


def add_closed_wave(slug: str, closes_on: date, responses: int = 3) -> None:
    version, _ = store_file(DATA / "questionnaires" / "mini.yaml")
    wave = create_wave(version, slug=slug, title=f"Wave {slug}", closes_on=closes_on)
    wave.state = "closed"
    db.session.flush()
    for _ in range(responses):
        db.session.add(
            Response(wave_id=wave.id, questionnaire_version_id=version.id, submitted_on=closes_on, answers={})
        )
    db.session.commit()


def estimate(value: float | None, *, group: str | None = "lt30", suppressed: bool = False) -> dict[str, Any]:
    return {
        "item": "ma_weet",
        "measure": "awareness",
        "kind": "proportion",
        "subject": "maatschappelijk_assistent",
        "question": "ma_weet",
        "aspect": None,
        "code": None,
        "group_var": "leeftijd" if group else None,
        "group": group,
        "n": None if suppressed else 250,
        "estimate": value,
        "se": None if value is None else 0.02,
        "ci_low": None if value is None else value - 0.04,
        "ci_high": None if value is None else value + 0.04,
        "suppressed": suppressed,
    }


class FakeResult:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def to_json_dict(self) -> dict[str, Any]:
        return {"estimates": self.rows}


def fake_analysis(by_slug: dict[str, list[dict[str, Any]]], calls: list[str]) -> Any:
    def analyze(wave: Wave) -> FakeResult:
        calls.append(wave.slug)
        if wave.slug == "broken":
            raise ValueError("no register")
        return FakeResult(by_slug[wave.slug])

    return analyze


def test_survey_indicator_reads_each_closed_waves_analysis(
    app: Flask, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    rows = {
        "bevraging-2020-2021": [estimate(0.40), estimate(0.5, group=None)],
        "golf-2023": [estimate(0.47), estimate(0.55, group=None)],
        "golf-2025": [estimate(None, suppressed=True), estimate(0.6, group=None)],
    }
    monkeypatch.setattr(followup, "analysis_function", lambda: fake_analysis(rows, calls))
    with app.app_context():
        add_closed_wave("bevraging-2020-2021", date(2021, 3, 31))
        add_closed_wave("golf-2023", date(2023, 11, 30))
        add_closed_wave("golf-2025", date(2025, 11, 30))
        add_closed_wave("broken", date(2025, 10, 1))
        add_closed_wave("no-answers", date(2025, 10, 1), responses=0)
        overview = followup.followup_overview(plan, Period(2025, 2))
        assert overview.analysis == "available"
        assert overview.notes == ("the analysis of wave broken failed: no register",)
        view = overview.indicator("ma_bekend_lt30")
        assert view is not None
        assert [(p.wave, p.value, p.suppressed) for p in view.points] == [
            ("bevraging-2020-2021", pytest.approx(40.0), False),
            ("golf-2023", pytest.approx(47.0), False),
            ("golf-2025", None, True),
        ]
        assert view.baseline_value == pytest.approx(40.0)
        # 40 → 60 over 2021-H1..2025-H2 (9 half-years); 2023-H2 is 5 along: path 51.1, 47 is behind.
        a = view.assessment
        assert a.status == "behind" and a.expected == pytest.approx(40 + 20 * 5 / 9)
        assert a.suppressed_since and not a.within_margin
        overall = overview.indicator("ma_bekend")
        assert overall is not None and overall.baseline_value == 50  # the plan's own value wins
        # Its own baseline wave is not a later value: the latest is 60 in 2025-H2, against the target 65.
        assert overall.assessment.latest is not None and overall.assessment.latest.wave == "golf-2025"
        assert overall.assessment.status == "behind" and overall.assessment.expected == pytest.approx(65.0)
    assert calls.count("golf-2023") == 1 and calls.count("broken") == 1 and "no-answers" not in calls
    with app.app_context():
        followup.followup_overview(plan, Period(2025, 2))
    assert calls.count("golf-2023") == 1  # analysed once per state of the wave's data


def test_no_analysis_available(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    login(client, "viewer")
    page = client.get(PAGE + "?lang=en")
    assert page.status_code == 200
    assert "No survey analysis is available yet" in page.text


# --- pages ------------------------------------------------------------------------------------------


def test_viewer_sees_the_plans_and_the_follow_up_but_cannot_record(
    app: Flask, client: FlaskClient, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    with app.app_context():
        followup.record_action_status(plan, "A1.1.1", "2026-H1", "under_way", "met de werkgroep")
        followup.record_indicator_value(plan, "webinars", "2025-H2", 5)
        db.session.commit()
    login(client, "viewer")
    plans = client.get("/planner/plans?lang=en")
    assert plans.status_code == 200 and PAGE in plans.text and "strategisch-plan-2022-2025.yaml" in plans.text
    page = client.get(PAGE + "?lang=en")
    assert page.status_code == 200
    for goal in ("SD1", "SD2", "SD3", "SD4", "SD5", "OD4.2", "OD5.2"):
        assert f'id="goal-{goal}"' in page.text
    assert 'id="action-A1.1.1" data-status="under_way"' in page.text and "met de werkgroep" in page.text
    assert f"{PAGE}/indicators/webinars/chart.png?period=2026-H1" in page.text
    assert 'id="values-webinars"' in page.text  # the table beside the chart
    assert "Record the status of a half-year" not in page.text
    assert 'id="ambitions"' in page.text and 'id="results"' in page.text
    assert client.get(f"{PAGE}/record").status_code == 403
    assert (
        client.post(f"{PAGE}/record", data={"period": "2026-H1", "status-A1.1.1": "done"}).status_code == 403
    )
    dutch = client.get(PAGE + "?lang=nl")
    assert "lopend" in dutch.text and "Opvolging" in dutch.text


def test_planner_records_a_half_year_in_the_browser(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    login(client, "planner")
    form = client.get(f"{PAGE}/record?lang=en")
    assert form.status_code == 200
    assert 'name="status-A5.2.2"' in form.text and 'name="value-dossiers_gisd"' in form.text
    assert 'name="value-ma_bekend_lt30"' not in form.text  # survey indicators take no entered values
    assert '<option value="2026-H1" selected>' in form.text and '<option value="2026-H2"' not in form.text
    saved = client.post(
        f"{PAGE}/record",
        data={
            "period": "2026-H1",
            "status-A1.1.1": "done",
            "comment-A1.1.1": "Afgerond in maart",
            "status-A1.1.2": "",
            "value-webinars": "9",
            "note-webinars": "agenda 2022-2026",
            "value-onboarding_bereik": "",
        },
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"{PAGE}?period=2026-H1")
    assert count(app, ActionStatus) == count(app, IndicatorValue) == 1
    assert [e.user_email for e in audit_events(app, "plan_status_recorded")] == ["planner@example.org"]
    again = client.get(f"{PAGE}/record?period=2026-H1&lang=en")
    assert '<option value="done" selected>' in again.text and "Afgerond in maart" in again.text
    assert 'value="9"' in again.text

    wrong = client.post(
        f"{PAGE}/record?lang=en",
        data={
            "period": "2026-H1",
            "status-A1.1.2": "finished",
            "value-webinars": "a dozen",
            "status-A1.2.1": "done",
        },
    )
    assert wrong.status_code == 422
    assert 'id="status-A1.1.2-error">Choose a status from the list.' in wrong.text
    assert 'id="value-webinars-error">Enter a number, like 12 or 12,5.' in wrong.text
    assert re.search(r'id="value-webinars"[^>]*value="a dozen"', wrong.text)  # what was typed comes back
    assert 'aria-invalid="true"' in wrong.text and "Nothing was saved" in wrong.text
    assert count(app, ActionStatus) == 1  # A1.2.1 was valid but nothing is saved when anything is wrong

    future = client.post(f"{PAGE}/record?lang=en", data={"period": "2026-H2", "status-A1.1.2": "done"})
    assert future.status_code == 422 and "2026-H2 has not started yet." in future.text
    assert client.get(f"{PAGE}/record?period=2027-H1").status_code == 400
    assert client.get(f"{PAGE}/record?period=soon").status_code == 400
    assert client.get("/planner/plans/no-such-plan/record").status_code == 404


def test_record_form_needs_its_csrf_token(tmp_path: Path, database_url: str) -> None:
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    make_users(app)
    client = app.test_client()
    login_page = client.get("/login")
    client.post(
        "/login",
        data={
            "email": "planner@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token_of(login_page.text),
        },
    )
    data = {"period": "2026-H1", "status-A1.1.1": "done"}
    assert client.post(f"{PAGE}/record", data=data).status_code == 400
    token = csrf_token_of(client.get(f"{PAGE}/record").text)
    assert client.post(f"{PAGE}/record", data={**data, "csrf_token": token}).status_code == 303
    assert count(app, ActionStatus) == 1


def test_indicator_chart_png(
    app: Flask, client: FlaskClient, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    with app.app_context():
        followup.record_indicator_value(plan, "webinars", "2024-H1", 5)
        db.session.commit()
    login(client, "viewer")
    chart = client.get(f"{PAGE}/indicators/webinars/chart.png")
    assert chart.status_code == 200 and chart.mimetype == "image/png"
    assert chart.data.startswith(PNG_SIGNATURE)
    etag = chart.headers["ETag"]
    assert (
        client.get(f"{PAGE}/indicators/webinars/chart.png", headers={"If-None-Match": etag}).status_code
        == 304
    )
    with app.app_context():
        followup.record_indicator_value(plan, "webinars", "2025-H1", 7)
        db.session.commit()
    changed = client.get(f"{PAGE}/indicators/webinars/chart.png", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag  # new data, new picture
    empty = client.get(f"{PAGE}/indicators/ma_bekend_lt30/chart.png")
    assert empty.status_code == 200 and empty.data.startswith(PNG_SIGNATURE)
    assert client.get(f"{PAGE}/indicators/nothing/chart.png").status_code == 404


def test_text_report_and_statements(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    login(client, "viewer")
    report = client.get(f"{PAGE}/report.txt?period=2025-H2&lang=nl")
    assert report.status_code == 200 and report.mimetype == "text/plain"
    assert "Stand 2025-H2" in report.text and "[geen opgave] A1.1.1" in report.text
    data = client.get(f"{PAGE}/ambitions-results.json?period=2025-H2").get_json()
    assert data["plan"] == PLAN_ID and data["as_of"] == "2025-H2" and data["analysis"] == "unavailable"
    kinds = {s["kind"] for s in data["statements"]}
    assert kinds == {"ambition", "result"}
    webinars = next(
        s for s in data["statements"] if s["kind"] == "ambition" and s["indicator_id"] == "webinars"
    )
    assert webinars["text"]["nl"].startswith("Gehouden infosessies en webinars")
    assert webinars["evidence"]["target"] == {"value": 12.0, "by": "2025-H2"}
    assert client.get(f"{PAGE}?period=later").status_code == 400


def test_plan_folder_lists_problems_and_unknown_plans_are_404(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "plan.yaml")
    (folder / "broken.yaml").write_text("id: broken\ntitle: {nl: Kapot}\n", encoding="utf-8")
    app = make_app(database_url, tmp_path, PLAN_DIR=str(folder))
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    make_users(app)
    client = app.test_client()
    login(client, "viewer")
    page = client.get("/planner/plans?lang=en")
    assert page.status_code == 200
    assert "Cannot be used" in page.text and "the &#39;en&#39; translation is missing" in page.text
    assert PAGE in page.text
    assert client.get("/planner/plans/broken").status_code == 404
    assert client.get(PAGE).status_code == 200


# --- the command line ----------------------------------------------------------------------------------


def test_cli_plan_check(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["plan", "check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "OK (strategisch-plan-2022-2025: 5 goals, 9 operational goals, 45 actions" in ok.output
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("target: {value: 12, by: 2025-H2}", "target: {value: 12}")
    text = text.replace("question: ken_dienst}", "question: ken_dienst, wave: x}")
    text = text.replace("id: A1.1.2", "id: A1.1.1")
    bad.write_text(text, encoding="utf-8")
    failed = runner.invoke(args=["plan", "check", str(bad)])
    assert failed.exit_code == 1
    lines = failed.output.splitlines()
    assert lines[0] == f"{bad}: 3 problem(s)"
    assert "duplicate id 'A1.1.1'" in lines[1]
    assert "indicator webinars › target › by: a target needs a deadline" in failed.output
    assert "indicator dienst_bekend › measure: unknown field 'wave'" in failed.output
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("question: ken_dienst", "question: ken_dienstt")
    )
    mistyped = runner.invoke(args=["plan", "check", str(typo)])
    assert mistyped.exit_code == 1 and "no questionnaire has a question 'ken_dienstt'" in mistyped.output


def test_cli_plan_status(app: Flask, plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup, "analysis_function", lambda: None)
    with app.app_context():
        followup.record_action_status(plan, "A5.2.1", "2025-H2", "done", "dashboard live")
        followup.record_indicator_value(plan, "dossiers_gisd", "2025-H2", 1200)
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["plan", "status", PLAN_ID, "--period", "2026-H1"])
    assert result.exit_code == 0, result.output
    assert "As of 2026-H1" in result.output
    assert "[done (2025-H2)] A5.2.1 Develop a management and operational dashboard" in result.output
    assert "dashboard live" in result.output
    assert "Target reached: 1,200 in 2025-H2; target 1,000 by 2025-H2." in result.output
    dutch = runner.invoke(args=["plan", "status", str(EXAMPLE), "--lang", "nl", "--period", "2026-H1"])
    assert (
        "[afgerond (2025-H2)] A5.2.1 We ontwikkelen een management- en operationeel dashboard" in dutch.output
    )
    as_json = runner.invoke(args=["plan", "status", PLAN_ID, "--format", "json", "--period", "2026-H1"])
    statements = json.loads(as_json.output)["statements"]
    assert any(
        s["indicator_id"] == "dossiers_gisd" and s["evidence"]["status"] == "reached" for s in statements
    )
    assert runner.invoke(args=["plan", "status", PLAN_ID, "--period", "2026"]).exit_code != 0
    unknown = runner.invoke(args=["plan", "status", "other-plan"])
    assert unknown.exit_code != 0 and "no plan 'other-plan'" in unknown.output
