"""SWO-ART rules on a small hand-made AnalysisResult, and the DOCX read back."""

from __future__ import annotations

import io
from typing import Any

from docx import Document

from surveyapp.analysis.result import (
    AnalysisOptions,
    AnalysisResult,
    ComparisonRow,
    EstimateRow,
    FunnelStep,
    Headline,
    OfferingClass,
    QuestionnaireInfo,
    SuppressionSummary,
    WaveChangeRow,
    WeightingSummary,
)
from surveyapp.plan import Statement as PlanStatement
from surveyapp.reports.swoart import docx_of, holm, load_rules, swoart_input


def estimate(
    item: str,
    measure: str,
    subject: str | None,
    value: float | None,
    low: float | None,
    high: float | None,
    n: int | None,
    *,
    group_var: str | None = None,
    group: str | None = None,
    suppressed: bool = False,
    code: str | None = None,
) -> EstimateRow:
    return EstimateRow(
        item,
        measure,
        "proportion",
        subject,
        item,
        None,
        code,
        group_var,
        group,
        n,
        None if suppressed else float(n or 0),
        value,
        None,
        low,
        high,
        None,
        "logit",
        0.95,
        suppressed,
    )


def comparison(
    item: str, group: str, diff: float, p_adj: float, *, suppressed: bool = False
) -> ComparisonRow:
    return ComparisonRow(
        item,
        "awareness",
        "proportion",
        "sociale_dienst",
        item,
        None,
        None,
        "leeftijd",
        group,
        50,
        950,
        0.5 + diff / 2,
        0.5 - diff / 2,
        diff,
        0.03,
        diff - 0.05,
        diff + 0.05,
        -5.0,
        999,
        p_adj / 10,
        p_adj,
        "holm",
        suppressed,
    )


def change(item: str, measure: str, earlier: float, later: float, p: float) -> WaveChangeRow:
    return WaveChangeRow(
        item,
        measure,
        "proportion",
        None,
        item,
        None,
        None,
        None,
        None,
        earlier,
        later,
        later - earlier,
        0.01,
        None,
        None,
        1000.0,
        -4.0,
        p,
        False,
    )


def small_result() -> AnalysisResult:
    offerings = (
        OfferingClass("pluspas", "tevredenheid_aanbod/pluspas", 400, 0.92, 0.89, 0.94, "above"),
        OfferingClass("events", "tevredenheid_aanbod/events", 120, 0.81, 0.74, 0.87, "straddles"),
        OfferingClass("e_loket", "tevredenheid_aanbod/e_loket", 300, 0.66, 0.60, 0.71, "below"),
        OfferingClass("zitdagen", "tevredenheid_aanbod/zitdagen", None, None, None, None, "suppressed"),
    )
    estimates = (
        estimate("ken_dienst", "awareness", "sociale_dienst", 0.77, 0.75, 0.79, 1000),
        estimate("ken_aanbod/pluspas", "awareness", "pluspas", 0.86, 0.84, 0.88, 1000),
        estimate("ken_aanbod/events", "awareness", "events", 0.70, 0.67, 0.73, 1000),
        estimate("ken_aanbod/e_loket", "awareness", "e_loket", 0.55, 0.52, 0.58, 1000),
        estimate("gebruik_aanbod/pluspas", "usage", "pluspas", 0.40, 0.37, 0.43, 1000),
        estimate("gebruik_aanbod/events", "usage", "events", 0.12, 0.10, 0.14, 1000),
        estimate("gebruik_aanbod/e_loket", "usage", "e_loket", 0.30, 0.27, 0.33, 1000),
        estimate("themas/mentaal_welzijn", "need", None, 0.31, 0.28, 0.34, 950, code="mentaal_welzijn"),
        estimate("themas/werk_prive", "need", None, 0.12, 0.10, 0.14, 950, code="werk_prive"),
        estimate("themas/geen", "need", None, 0.45, 0.42, 0.48, 950, code="geen"),
        estimate(
            "ken_dienst",
            "awareness",
            "sociale_dienst",
            None,
            None,
            None,
            None,
            group_var="leeftijd",
            group="lt20",
            suppressed=True,
        ),
    )
    comparisons = (
        comparison("ken_dienst", "lt30", -0.30, 0.001),  # significantly lower after Holm
        comparison("ken_dienst", "30_39", -0.04, 0.20),  # lower but not significant
        comparison("ken_dienst", "65plus", 0.20, 0.001),  # significantly higher: not a weakness
        comparison("ken_dienst", "lt20", -0.50, 0.001, suppressed=True),  # suppressed: never evidence
    )
    funnel = (
        FunnelStep(
            "maatschappelijk_assistent",
            1,
            "ma_weet",
            "awareness",
            None,
            "funnel/ma/1",
            1000,
            0.5,
            0.01,
            0.47,
            0.53,
            0.5,
            0.47,
            0.53,
            1000,
            False,
        ),
        FunnelStep(
            "maatschappelijk_assistent",
            2,
            "ma_weet_waarvoor",
            "awareness",
            "purpose",
            "funnel/ma/2",
            1000,
            0.33,
            0.01,
            0.30,
            0.36,
            0.66,
            0.62,
            0.70,
            500,
            False,
        ),
        FunnelStep(
            "maatschappelijk_assistent",
            3,
            "ma_gevraagd",
            "usage",
            None,
            "funnel/ma/3",
            1000,
            0.06,
            0.01,
            0.05,
            0.07,
            0.18,
            0.14,
            0.22,
            330,
            False,
        ),
    )
    weighting = WeightingSummary(
        "none", (), 0, True, None, 1.0, 1000.0, 1.0, 1.0, 1.0, None, 1000, 1.0, False, "_not_asked"
    )
    return AnalysisResult(
        generated_at="2026-01-01T00:00:00Z",
        questionnaire=QuestionnaireInfo("gerechtigden", "1", "abc", "Test"),
        options=AnalysisOptions(),
        weighting=weighting,
        items=(),
        estimates=estimates,
        headline=Headline("satisfaction", 0.8, 0.95, 4, 3, 2, 1, 1, 1, 1, "k of n", offerings),
        funnel=funnel,
        reach=(),
        response_rates=(),
        tests=(),
        comparisons=comparisons,
        adjusted_gaps=(),
        wave_changes=(
            change("ken_dienst", "awareness", 0.82, 0.77, 0.0001),  # declined significantly
            change("ken_aanbod/events", "awareness", 0.72, 0.70, 0.30),  # not significant
            change("ken_aanbod/pluspas", "awareness", 0.80, 0.86, 0.0001),  # rose: no threat
        ),
        suppression=SuppressionSummary(10, "rule", 1, 1, 0, 0, 1, 0, 0),
        notes=(),
        n_respondents=1000,
    )


def plan_statements() -> list[PlanStatement]:
    return [
        PlanStatement(
            "ambition",
            "SD4",
            "OD4.2",
            "bekendheid",
            {"nl": "Bekendheid naar 85%", "en": "Awareness to 85%"},
            {"value": 77, "target": 85},
        ),
        PlanStatement(
            "result",
            "SD4",
            "OD4.2",
            "bekendheid",
            {"nl": "Bekendheid — 77%", "en": "Awareness — 77%"},
            {"value": 77},
        ),
    ]


def test_rules_pick_the_right_statements() -> None:
    swo = swoart_input(small_result(), plan_statements(), load_rules(), "nl")
    assert swo.keys("strengths") == ["satisfaction_above:pluspas"]
    assert swo.keys("weaknesses") == [
        "satisfaction_below:e_loket",
        "group_lower:ken_dienst:leeftijd:lt30",
        "funnel_drop:maatschappelijk_assistent",
    ]
    assert swo.keys("opportunities") == ["need:themas/mentaal_welzijn", "need:themas/werk_prive"]
    assert swo.keys("threats") == ["declined:ken_dienst"]
    assert swo.keys("ambitions") == ["ambition:SD4:bekendheid"]
    assert swo.keys("results") == ["result:SD4:bekendheid"]
    lower = swo.sections["weaknesses"][1]
    assert lower.evidence["p_adjusted"] == 0.001 and lower.evidence["adjust_method"] == "holm"
    assert "Holm" in lower.evidence_text("nl") and lower.reference == "A3"
    threat = swo.sections["threats"][0]
    assert threat.evidence["p_adjusted"] < 0.05 and threat.reference == "A4"
    assert any("register" in note for note in swo.notes)  # the growth rule is stated and skipped


def test_thresholds_come_from_the_rules() -> None:
    rules: dict[str, Any] = load_rules()
    rules["strengths"] = {**rules["strengths"], "satisfaction_threshold": 0.7}
    rules["opportunities"] = {**rules["opportunities"], "low_awareness": 0.75, "high_satisfaction": 0.8}
    swo = swoart_input(small_result(), [], rules, "en")
    assert swo.keys("strengths") == ["satisfaction_above:pluspas", "satisfaction_above:events"]
    assert "hidden_gem:events" in swo.keys("opportunities")
    assert swo.sections["strengths"][0].text["en"].startswith("pluspas: 92% of its users")


def test_suppressed_rows_are_never_evidence() -> None:
    swo = swoart_input(small_result(), [], load_rules(), "nl")
    keys = [key for section in swo.sections.values() for key in (s.key for s in section)]
    assert not any("lt20" in key or "zitdagen" in key for key in keys)


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]


def test_docx_reads_back() -> None:
    swo = swoart_input(small_result(), plan_statements(), load_rules(), "en")
    document = Document(io.BytesIO(docx_of(swo)))
    headings = [
        p.text for p in document.paragraphs if p.style is not None and p.style.name.startswith("Heading")
    ]
    assert headings[:6] == ["Strengths", "Weaknesses", "Opportunities", "Threats", "Ambitions", "Results"]
    texts = [p.text for p in document.paragraphs]
    assert any(text.startswith("e loket: only 66% of its users are satisfied") for text in texts)
    assert any("Table A3 in the report appendix" in text for text in texts)
    assert any(text.startswith("SD4: Awareness to 85%") for text in texts)
