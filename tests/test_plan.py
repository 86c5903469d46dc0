"""The plan file format, its loader, survey bindings and the follow-up logic (pure: no app, no database)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from typing import Any

import pytest

from surveyapp.plan import (
    ActionRecord,
    Period,
    Plan,
    PlanError,
    ValueRecord,
    WaveEstimates,
    ambitions_and_results,
    build_overview,
    build_plan,
    check_bindings,
    current_period,
    expected_on_path,
    format_number,
    load_plan,
    overview_text,
    parse_period,
    parse_plan,
    resolve_binding,
)
from tests.conftest import REPO

EXAMPLE = REPO / "plans" / "strategisch-plan-2022-2025.yaml"


def small_plan_data() -> dict[str, Any]:
    """One goal, one operational goal with two actions, a manual and a survey indicator."""
    return {
        "format": "surveyapp-plan/1",
        "id": "test-plan",
        "title": {"nl": "Testplan", "en": "Test plan"},
        "period": {"start": 2022, "end": 2025},
        "goals": [
            {
                "id": "SD1",
                "title": {"nl": "Bekendheid", "en": "Awareness"},
                "operational_goals": [
                    {
                        "id": "OD1.1",
                        "title": {"nl": "Communicatie", "en": "Communication"},
                        "actions": [
                            {"id": "A1", "title": {"nl": "Webinars geven", "en": "Hold webinars"}},
                            {"id": "A2", "title": {"nl": "Brochure maken", "en": "Make a brochure"}},
                        ],
                        "indicators": [
                            {
                                "id": "webinars",
                                "title": {"nl": "Gehouden webinars", "en": "Webinars held"},
                                "unit": "count",
                                "direction": "increase",
                                "manual": True,
                                "baseline": {"value": 0, "period": "2022-H1"},
                                "target": {"value": 14, "by": "2025-H2"},
                            },
                            {
                                "id": "ma_lt30",
                                "title": {"nl": "MA gekend bij -30", "en": "Assistant known under 30"},
                                "unit": "percent",
                                "direction": "increase",
                                "measure": {
                                    "measure": "awareness",
                                    "subject": "maatschappelijk_assistent",
                                    "question": "ma_weet",
                                    "group_var": "leeftijd",
                                    "group": "lt30",
                                },
                                "baseline": {"wave": "golf-2021", "period": "2021-H1"},
                                "target": {"value": 60, "by": "2025-H2"},
                            },
                        ],
                    }
                ],
            }
        ],
    }


def small_plan() -> Plan:
    return build_plan(small_plan_data())


def problems_of(data: Any) -> list[str]:
    with pytest.raises(PlanError) as caught:
        build_plan(data)
    return [str(p) for p in caught.value.problems]


def indicator_data(data: dict[str, Any], index: int) -> dict[str, Any]:
    result: dict[str, Any] = data["goals"][0]["operational_goals"][0]["indicators"][index]
    return result


# --- the example plan ---------------------------------------------------------------------------


def test_example_plan_loads_with_the_plans_goals_and_actions() -> None:
    plan = load_plan(EXAMPLE)
    assert plan.id == "strategisch-plan-2022-2025"
    assert (plan.start_year, plan.end_year) == (2022, 2025)
    assert [g.id for g in plan.goals] == ["SD1", "SD2", "SD3", "SD4", "SD5"]
    assert [od.id for od in plan.operational_goals] == [
        "OD1.1", "OD1.2", "OD2.1", "OD3.1", "OD3.2", "OD4.1", "OD4.2", "OD5.1", "OD5.2",
    ]  # fmt: skip
    assert len(plan.actions) >= 40
    per_od = {od.id: len(od.actions) for od in plan.operational_goals}
    assert per_od == {
        "OD1.1": 2, "OD1.2": 6, "OD2.1": 6, "OD3.1": 3, "OD3.2": 7,
        "OD4.1": 3, "OD4.2": 11, "OD5.1": 5, "OD5.2": 2,
    }  # fmt: skip
    for item in (*plan.goals, *plan.operational_goals, *plan.actions, *plan.indicators):
        assert item.title["nl"] and item.title["en"], item.id
    assert (
        plan.operational_goals[6]
        .actions[0]
        .title["nl"]
        .startswith("We stellen de resultaten van onze belanghebbendenbevraging voor")
    )


def test_example_plan_indicators() -> None:
    plan = load_plan(EXAMPLE)
    young = plan.indicator("ma_bekend_lt30")
    assert young is not None and young.binding is not None
    assert young.operational_goal_id == "OD4.2"
    assert young.binding.fields() == {
        "measure": "awareness",
        "question": "ma_weet",
        "subject": "maatschappelijk_assistent",
        "aspect": None,
        "code": None,
        "group_var": "leeftijd",
        "group": "lt30",
    }
    assert (young.target.value, str(young.target.by), young.unit) == (60.0, "2025-H2", "percent")
    assert young.baseline.wave == "bevraging-2020-2021"
    service = plan.indicator("dienst_bekend")
    assert service is not None and service.binding is not None and service.binding.question == "ken_dienst"
    manual = {i.id for i in plan.manual_indicators}
    assert {"webinars", "onboarding_bereik", "dossiers_gisd"} <= manual


def test_example_plan_bindings_exist_in_the_questionnaires() -> None:
    from surveyapp.questionnaire import load_questionnaire

    questionnaires = [load_questionnaire(p) for p in sorted((REPO / "questionnaires").glob("*.yaml"))]
    assert check_bindings(load_plan(EXAMPLE), questionnaires) == []
    data = small_plan_data()
    indicator_data(data, 1)["measure"]["question"] = "ma_wet"
    del indicator_data(data, 0)["manual"]
    indicator_data(data, 0)["measure"] = {
        "measure": "awareness",
        "question": "ma_weet",
        "group_var": "leeftijd",
        "group": "u30",
    }
    problems = [str(p) for p in check_bindings(build_plan(data), questionnaires)]
    assert problems[0].startswith(
        "indicator webinars › measure: gerechtigden: group 'leeftijd' has no code 'u30'"
    )
    assert problems[1] == "indicator ma_lt30 › measure: no questionnaire has a question 'ma_wet'"


def test_plan_module_is_pure() -> None:
    code = (
        "import sys, surveyapp.plan;"
        "heavy = ('flask', 'sqlalchemy', 'matplotlib', 'pandas');"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# --- every problem, not the first --------------------------------------------------------------


def test_unknown_keys_everywhere() -> None:
    data = small_plan_data()
    data["colour"] = "red"
    data["goals"][0]["owner"] = "x"
    indicator_data(data, 0)["weight"] = 2
    indicator_data(data, 0)["target"]["stretch"] = 20
    problems = problems_of(data)
    assert problems == [
        "file: unknown key 'colour' (allowed: description, format, goals, id, period, title)",
        "goal SD1: unknown key 'owner' (allowed: description, id, indicators, operational_goals, title)",
        "indicator webinars: unknown key 'weight' (allowed: baseline, direction, id, manual, measure, note, "
        "target, title, unit)",
        "indicator webinars › target: unknown key 'stretch' (allowed: by, note, value)",
    ]


def test_missing_translations() -> None:
    data = small_plan_data()
    data["title"] = "Alleen Nederlands"
    data["goals"][0]["operational_goals"][0]["actions"][1]["title"] = {"nl": "Brochure", "fr": "Brochure"}
    data["goals"][0]["operational_goals"][0]["title"] = {"en": "Only English"}
    problems = problems_of(data)
    assert "title: the 'en' translation is missing" in problems
    assert "action A2 › title: the 'en' translation is missing" in problems
    assert "operational goal OD1.1 › title: the 'nl' translation is missing" in problems
    assert len(problems) == 3  # fr is an extra language, not a problem


def test_duplicate_ids_across_the_plan() -> None:
    data = small_plan_data()
    data["goals"][0]["operational_goals"][0]["actions"][1]["id"] = "A1"
    indicator_data(data, 1)["id"] = "SD1"
    problems = problems_of(data)
    assert (
        "operational goal OD1.1 › actions[2]: duplicate id 'A1' (also used at operational goal OD1.1 › "
        + ("actions[1])")
        in problems
    )
    assert any(p.startswith("operational goal OD1.1 › indicators[2]: duplicate id 'SD1'") for p in problems)


def test_target_without_deadline_and_period_format() -> None:
    data = small_plan_data()
    del indicator_data(data, 0)["target"]["by"]
    indicator_data(data, 1)["baseline"]["period"] = "2021-H3"
    indicator_data(data, 1)["target"]["by"] = "2025 H2"
    problems = problems_of(data)
    assert problems == [
        "indicator webinars › target › by: a target needs a deadline "
        "(by: 2025-H2 or a date such as 2025-12-31)",
        "indicator ma_lt30 › baseline › period: must be a half-year like 2021-H1, not '2021-H3'",
        "indicator ma_lt30 › target › by: must be a half-year like 2025-H2 or a date, not '2025 H2'",
    ]


def test_a_date_deadline_counts_as_its_half_year() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "target: {value: 60, by: 2025-H2}", "target: {value: 60, by: 2025-12-31}"
    )
    indicator = parse_plan(text).indicator("ma_bekend_lt30")
    assert indicator is not None
    assert (str(indicator.target.by), indicator.target.by_date) == ("2025-H2", date(2025, 12, 31))


def test_binding_problems() -> None:
    data = small_plan_data()
    indicator_data(data, 1)["measure"] = {
        "measure": "bekendheid",
        "question": "ma_weet",
        "wave": "x",
        "group": "lt30",
    }
    problems = problems_of(data)
    assert problems == [
        "indicator ma_lt30 › measure: unknown field 'wave': a binding names fields of an analysis "
        "estimate row (measure, question, subject, aspect, code, group_var, group)",
        "indicator ma_lt30 › measure › measure: unknown measure 'bekendheid' (one of awareness, usage, "
        "satisfaction, satisfaction_mean, need, missing_offer, help_type, funnel, funnel_conversion)",
        "indicator ma_lt30 › measure: group_var and group go together: name both, or neither for everyone",
    ]


def test_manual_or_measure_and_baseline_rules() -> None:
    data = small_plan_data()
    indicator_data(data, 0)["measure"] = {
        "measure": "usage",
        "question": "gebruik_aanbod",
    }  # and manual: true
    del indicator_data(data, 1)["measure"]  # neither
    indicator_data(data, 1)["unit"] = "percentage"
    problems = problems_of(data)
    assert "indicator webinars: has both manual: true and a measure binding; choose one" in problems
    assert "indicator ma_lt30: needs either manual: true or a measure binding (measure: {...})" in problems
    assert "indicator ma_lt30 › unit: must be one of percent, count, score, not 'percentage'" in problems
    assert (
        "indicator ma_lt30 › baseline › wave: only an indicator bound to a survey measure can start from "
        + ("a wave")
        in problems
    )

    data = small_plan_data()
    indicator_data(data, 0)["baseline"] = {"period": "2022-H1"}
    indicator_data(data, 0)["target"]["value"] = -3
    indicator_data(data, 1)["target"] = {"value": 140, "by": "2020-H2"}
    problems = problems_of(data)
    assert problems == [
        "indicator webinars › baseline: needs a value (only a survey measure can take it from a wave)",
        "indicator webinars › target › value: a count cannot be negative (-3)",
        "indicator ma_lt30 › target › value: a percentage lies between 0 and 100, not 140",
        "indicator ma_lt30 › target › by: the deadline 2020-H2 is not after the baseline period 2021-H1",
    ]


def test_not_yaml_and_empty_and_wrong_shapes() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("id: [unclosed")
    assert "not valid YAML" in str(caught.value.problems[0])
    assert problems_of(None) == ["file: is empty"]
    assert problems_of(["a list"]) == ["file: must be a mapping (key: value), not list"]
    data = small_plan_data()
    data["period"] = {"start": 2026, "end": 2022}
    data["goals"][0]["operational_goals"] = "OD1.1"
    problems = problems_of(data)
    assert "period: the end year is before the start year" in problems
    assert "goal SD1: operational_goals must be a list" in problems


# --- periods -------------------------------------------------------------------------------------


def test_periods() -> None:
    assert parse_period("2026-H1") == Period(2026, 1)
    assert parse_period("2026-H3") is None and parse_period("2026H1") is None and parse_period(2026) is None
    assert str(Period(2025, 2)) == "2025-H2"
    assert Period.of(date(2026, 6, 30)) == Period(2026, 1) and Period.of(date(2026, 7, 1)) == Period(2026, 2)
    assert current_period(date(2026, 11, 23)) == Period(2026, 2)
    assert Period(2025, 2).index - Period(2022, 1).index == 7
    assert Period.from_index(Period(2024, 2).index) == Period(2024, 2)
    assert Period(2025, 2) > Period(2025, 1) > Period(2024, 2)


# --- survey bindings against estimate rows --------------------------------------------------------


def row(**fields: Any) -> dict[str, Any]:
    base = {
        "measure": "awareness",
        "subject": "maatschappelijk_assistent",
        "question": "ma_weet",
        "aspect": None,
        "code": None,
        "group_var": None,
        "group": None,
        "estimate": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
        "n": None,
        "suppressed": False,
    }
    return {**base, **fields}


ROWS = [
    row(estimate=0.48, se=0.01, ci_low=0.46, ci_high=0.50, n=4000),  # overall
    row(group_var="leeftijd", group="lt30", estimate=0.31, se=0.02, ci_low=0.27, ci_high=0.35, n=350),
    row(group_var="leeftijd", group="30_39", estimate=0.44, se=0.02, ci_low=0.40, ci_high=0.48, n=800),
    row(measure="funnel", group_var="leeftijd", group="lt30", estimate=0.31, n=350),
    row(question="ken_dienst", subject="sociale_dienst", estimate=0.9, n=4000),
]


def test_binding_resolves_its_row_in_the_indicators_unit() -> None:
    plan = small_plan()
    indicator = plan.indicator("ma_lt30")
    assert indicator is not None
    found = resolve_binding(indicator, ROWS)
    assert found.state == "value" and found.n == 350
    assert found.estimate == pytest.approx(31.0) and found.ci_low == pytest.approx(27.0)
    assert found.ci_high == pytest.approx(35.0) and found.se == pytest.approx(2.0)

    overall_data = small_plan_data()
    binding = indicator_data(overall_data, 1)["measure"]
    del binding["group_var"], binding["group"]
    overall = build_plan(overall_data).indicator("ma_lt30")
    assert overall is not None
    assert resolve_binding(overall, ROWS).estimate == pytest.approx(48.0)  # no group: the overall row


def test_binding_suppressed_missing_empty_and_ambiguous() -> None:
    indicator = small_plan().indicator("ma_lt30")
    assert indicator is not None
    suppressed = [row(group_var="leeftijd", group="lt30", suppressed=True, n=None, estimate=None)]
    assert resolve_binding(indicator, suppressed).state == "suppressed"
    assert resolve_binding(indicator, suppressed).estimate is None
    assert resolve_binding(indicator, [r for r in ROWS if r["group"] != "lt30"]).state == "missing"
    assert resolve_binding(indicator, [row(group_var="leeftijd", group="lt30", n=0)]).state == "empty"
    doubled = [*ROWS, row(group_var="leeftijd", group="lt30", aspect="purpose", estimate=0.2)]
    assert resolve_binding(indicator, doubled).state == "ambiguous"


# --- the overview and the on-track logic -----------------------------------------------------------


def test_linear_path() -> None:
    target = small_plan().indicator("webinars")
    assert target is not None
    start = Period(2022, 1)
    assert expected_on_path(0, start, target.target, Period(2022, 1)) == 0
    assert expected_on_path(0, start, target.target, Period(2024, 1)) == pytest.approx(
        8.0
    )  # 4 of 7 half-years
    assert expected_on_path(0, start, target.target, Period(2025, 2)) == 14
    assert expected_on_path(0, start, target.target, Period(2027, 1)) == 14  # after the deadline: the target


@pytest.mark.parametrize(
    ("value", "as_of", "status", "expected", "passed"),
    [
        (7.0, Period(2024, 1), "behind", 8.0, False),
        (8.0, Period(2024, 1), "on_track", 8.0, False),
        (9.5, Period(2024, 1), "on_track", 8.0, False),
        (14.0, Period(2024, 1), "reached", None, False),
        (13.0, Period(2026, 1), "behind", 14.0, True),
    ],
)
def test_manual_indicator_on_track(
    value: float, as_of: Period, status: str, expected: float | None, passed: bool
) -> None:
    plan = small_plan()
    values = [
        ValueRecord("webinars", "2023-H1", 3.0, note="agenda"),
        ValueRecord("webinars", "2024-H1", value),
        ValueRecord("webinars", "2027-H1", 99.0),  # after as_of: not shown
    ]
    view = build_overview(plan, [], values, [], as_of).indicator("webinars")
    assert view is not None
    assert [str(p.period) for p in view.points] == ["2023-H1", "2024-H1"]
    assert view.points[0].note == "agenda"
    assert view.assessment.status == status
    assert view.assessment.deadline_passed is passed
    if expected is None:
        assert view.assessment.expected is None
    else:
        assert view.assessment.expected == pytest.approx(expected)


def test_decreasing_indicator() -> None:
    data = small_plan_data()
    indicator_data(data, 0).update(
        {
            "direction": "decrease",
            "baseline": {"value": 40, "period": "2022-H1"},
            "target": {"value": 12, "by": "2025-H2"},
        }
    )
    plan = build_plan(data)
    path_2024 = 40 - 28 * 4 / 7  # 24.0
    on = build_overview(plan, [], [ValueRecord("webinars", "2024-H1", 23.0)], [], Period(2024, 2))
    off = build_overview(plan, [], [ValueRecord("webinars", "2024-H1", 25.0)], [], Period(2024, 2))
    assert on.indicator("webinars").assessment.status == "on_track"  # type: ignore[union-attr]
    assert off.indicator("webinars").assessment.status == "behind"  # type: ignore[union-attr]
    assert off.indicator("webinars").assessment.expected == pytest.approx(path_2024)  # type: ignore[union-attr]


def waves(*, last_suppressed: bool = True) -> list[WaveEstimates]:
    def lt30(
        estimate: float | None, low: float | None = None, high: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        return row(group_var="leeftijd", group="lt30", estimate=estimate, ci_low=low, ci_high=high, **extra)

    return [
        WaveEstimates("golf-2021", "Bevraging 2020-2021", Period(2021, 1), [lt30(0.42, 0.38, 0.46, n=300)]),
        WaveEstimates("golf-2023", "Bevraging 2023", Period(2023, 2), [lt30(0.50, 0.46, 0.54, n=320)]),
        WaveEstimates(
            "golf-2025",
            "Bevraging 2025",
            Period(2025, 2),
            [lt30(None, suppressed=True) if last_suppressed else lt30(0.61, 0.57, 0.65, n=330)],
        ),
        WaveEstimates(
            "contact-2023", "Contactpersonen 2023", Period(2023, 2), [row(question="other", estimate=0.1)]
        ),
    ]


def test_survey_indicator_series_baseline_from_its_wave_and_suppression() -> None:
    plan = small_plan()
    view = build_overview(plan, [], [], waves(), Period(2025, 2)).indicator("ma_lt30")
    assert view is not None
    assert [(p.wave, p.value, p.suppressed) for p in view.points] == [
        ("golf-2021", pytest.approx(42.0), False),
        ("golf-2023", pytest.approx(50.0), False),
        ("golf-2025", None, True),
    ]  # the contact persons' wave has no such row: no point
    assert view.baseline_value == pytest.approx(42.0) and view.baseline_period == Period(2021, 1)
    a = view.assessment
    assert a.latest is not None and a.latest.wave == "golf-2023"
    # 42 → 60 over 9 half-years; at 2023-H2 (5 of 9) the path is at 52: 50 is behind, within the CI 46-54.
    assert a.status == "behind" and a.expected == pytest.approx(52.0)
    assert a.within_margin and a.suppressed_since
    assert "te weinig antwoorden" in view.status_text["nl"]

    reached = build_overview(plan, [], [], waves(last_suppressed=False), Period(2025, 2)).indicator("ma_lt30")
    assert reached is not None and reached.assessment.status == "reached"
    # After the deadline the latest value is compared with the target itself.
    late = build_overview(plan, [], [], waves(), Period(2026, 1)).indicator("ma_lt30")
    assert late is not None and late.assessment.status == "behind" and late.assessment.deadline_passed
    assert late.assessment.expected == pytest.approx(60.0)
    assert late.status_text["en"].startswith("Target missed: 50% in 2023-H2")


def test_survey_indicator_without_analysis() -> None:
    plan = small_plan()
    overview = build_overview(plan, [], [], [], Period(2026, 1), analysis="unavailable")
    view = overview.indicator("ma_lt30")
    assert view is not None
    assert view.points == () and view.baseline_value is None
    assert view.assessment.status == "no_data"
    assert view.notes == ("the baseline wave golf-2021 has no analysis (yet)",)
    assert "No analysis available" in overview_text(overview)


def test_actions_latest_status_and_history() -> None:
    plan = small_plan()
    records = [
        ActionRecord("A1", "2025-H1", "under_way", "first webinar held"),
        ActionRecord("A1", "2025-H2", "done", None),
        ActionRecord("A1", "2026-H1", "dropped", "later"),
        ActionRecord("gone", "2025-H1", "done"),
    ]
    overview = build_overview(plan, records, [], [], Period(2025, 2))
    a1, a2 = overview.actions
    assert a1.latest is not None and (a1.latest.status, a1.latest.period) == ("done", "2025-H2")
    assert [r.period for r in a1.history] == ["2025-H2", "2025-H1"]
    assert a2.latest is None and a2.history == ()
    assert overview.status_counts() == {"not_started": 0, "under_way": 0, "done": 1, "dropped": 0, "none": 1}
    assert overview.notes == ("1 recorded status(es) belong to actions that are no longer in the plan",)


# --- plain language: Ambitions and Results -----------------------------------------------------------


def test_format_number() -> None:
    assert format_number(48.26, "percent", "nl") == "48,3%"
    assert format_number(48.0, "percent", "en") == "48%"
    assert format_number(1234.0, "count", "nl") == "1.234"
    assert format_number(1234.0, "count", "en") == "1,234"
    assert format_number(3.75, "score", "nl") == "3,8"


def test_ambitions_and_results_wording() -> None:
    plan = small_plan()
    records = [ActionRecord("A1", "2026-H1", "done"), ActionRecord("A2", "2026-H1", "under_way")]
    values = [ValueRecord("webinars", "2024-H1", 7.0)]
    overview = build_overview(plan, records, values, waves(), Period(2024, 1))
    statements = ambitions_and_results(plan, overview)
    assert [(s.kind, s.indicator_id) for s in statements] == [
        ("ambition", "webinars"),
        ("ambition", "ma_lt30"),
        ("result", "webinars"),
        ("result", "ma_lt30"),
        ("result", None),
    ]
    ambition, _, webinars, ma, actions = statements
    assert ambition.text == {
        "nl": "Gehouden webinars: van 0 in 2022-H1 naar 14 tegen 2025-H2.",
        "en": "Webinars held: from 0 in 2022-H1 to 14 by 2025-H2.",
    }
    assert webinars.text == {
        "nl": "Gehouden webinars — achter op schema: 7 in 2024-H1; op de rechte lijn naar het doel was "
        "8 verwacht; doel 14 tegen 2025-H2.",
        "en": "Webinars held — behind: 7 in 2024-H1; the straight path to the target expected 8; "
        "target 14 by 2025-H2.",
    }
    assert ma.text["en"] == (
        "Assistant known under 30 — behind: 50% in 2023-H2 (survey Bevraging 2023; 95% CI 46% to 54%; "
        "n = 320); the straight path to the target expected 52%; target 60% by 2025-H2. "
        "The difference lies within the survey's margin of error."
    )
    assert ma.text["nl"].startswith(
        "MA gekend bij -30 — achter op schema: 50% in 2023-H2 (bevraging Bevraging 2023; "
        "95%-betrouwbaarheidsinterval 46% tot 54%; n = 320)"
    )
    assert ma.evidence["latest"]["wave"] == "golf-2023" and ma.evidence["baseline"]["value"] == pytest.approx(
        42.0
    )
    assert ma.evidence["status"] == "behind" and ma.evidence["within_margin"] is True
    assert ma.evidence["binding"]["question"] == "ma_weet"
    # Actions recorded for 2026-H1 are not yet known as of 2024-H1.
    assert actions.text["en"] == (
        "SD1: of the 2 actions, 0 are done, 0 under way, 0 not started and 0 dropped; "
        "2 without a status (as of 2024-H1)."
    )
    assert actions.to_dict()["evidence"]["actions"]["none"] == 2

    later = build_overview(
        plan, records, [*values, ValueRecord("webinars", "2026-H1", 15.0)], [], Period(2026, 1)
    )
    result = ambitions_and_results(plan, later)
    assert [s.indicator_id for s in result if s.kind == "ambition"] == ["ma_lt30"]  # webinars reached
    reached = next(s for s in result if s.kind == "result" and s.indicator_id == "webinars")
    assert reached.text["nl"] == "Gehouden webinars — doel bereikt: 15 in 2026-H1; doel 14 tegen 2025-H2."
    ambition = next(s for s in result if s.kind == "ambition")
    assert ambition.text["en"] == "Assistant known under 30: to 60% by 2025-H2. The deadline has passed."
    counts = next(s for s in result if s.indicator_id is None)
    assert counts.text["nl"] == (
        "SD1: van de 2 acties zijn er 1 afgerond, 1 lopend, 0 nog niet gestart en 0 geschrapt; "
        "0 zonder opgave (stand 2026-H1)."
    )


def test_example_plan_overview_text_without_records() -> None:
    plan = load_plan(EXAMPLE)
    text = overview_text(build_overview(plan, [], [], [], Period(2026, 1)), "nl")
    assert "SD4 We versterken de bekendheid en het bereik van de sociale dienst" in text
    assert text.count("[geen opgave]") == len(plan.actions)


def test_example_bindings_find_their_rows_in_a_real_analysis() -> None:
    """The example plan's survey bindings against the analysis of 600 synthetic responses."""
    measures = pytest.importorskip("surveyapp.analysis.measures")
    import numpy as np
    import pandas as pd

    from surveyapp import demo_data
    from surveyapp.analysis.tidy import response_frame
    from surveyapp.questionnaire import load_questionnaire

    questionnaire = load_questionnaire(REPO / "questionnaires" / "gerechtigden.yaml")
    rng = np.random.default_rng(2026)
    population = demo_data.generate_population(questionnaire, rng, 3000)
    chosen = demo_data.choose_respondents(population, rng, 600)
    answers = demo_data.generate_answers(questionnaire, population, chosen, rng)
    register = pd.DataFrame(
        {k: pd.Series(v, dtype=object).replace("", None) for k, v in population.columns.items()}
    )
    result = measures.analyze(questionnaire, response_frame(questionnaire, answers), register)
    rows = result.to_json_dict()["estimates"]
    plan = load_plan(EXAMPLE)
    for indicator in plan.indicators:
        if indicator.binding is not None:
            found = resolve_binding(indicator, rows)
            assert found.state in ("value", "suppressed"), (indicator.id, found)
            if found.state == "value":
                assert found.estimate is not None and 0 <= found.estimate <= 100
