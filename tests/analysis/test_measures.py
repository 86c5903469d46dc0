"""`analyze`: measures from the tags, numbers by hand, consistency with the core, bad data.

The hand-made files in tests/data/analysis (40 responses, a register of 200) are built so that
the unweighted numbers can be checked by hand:

- ken_dienst yes 30 of 40 (0.75); PlusPas known by 32 (0.8), used by 24 (0.6: the 8 who do
  not know it count as "not used", also the one whose file says "ja" for a hidden question);
  Sintgeschenk known by 16, used by 8 (0.2); any offering 25 of 40 (0.625).
- PlusPas satisfaction among its 24 users: 10 × 5, 8 × 4, 3 × 3, 1 × 2 and 2 × "na" → top-2-box
  18 of 22 (0.818), mean 93 / 22; Sintgeschenk 5, 5, 4, 4, 3, 3, 1 and one blank → 4 of 7, 25 / 7.
- funnel of the social assistant: knows 20 of 40 (0.5), asked 6 of 40 (0.15) = 6 of 20 (0.3).
- help questions of the 6 who asked: financial 4, administrative 3, psychosocial 1 (of 6).
- missing offer: 5 of the 38 who answered.
- register: 140 active (70 young, 70 old; 100 statutory, 40 contract) and 60 retired (old, no
  contract); the ledger marks 28 active and 12 retired as submitted (20 % each).
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from surveyapp import demo_data
from surveyapp.analysis import (
    InvalidInputError,
    InvalidThresholdError,
    RakingNotConvergedError,
    SurveyDesign,
    adjust_p_values,
    estimate_table,
    group_vs_rest,
    rake,
    reach_indices,
    suppress_comparisons,
    suppress_estimates,
    survey_logistic,
    tabulate,
    wave_difference_from_numbers,
)
from surveyapp.analysis.measures import (
    ANY_OFFERING,
    NOT_ASKED,
    RakingVariableError,
    RegisterCodeError,
    analyze,
    categorical_logistic,
    group_frame,
    item_values,
    measure_items,
    reach_from_table,
)
from surveyapp.analysis.result import AnalysisOptions, AnalysisResult, EstimateRow, load_schema
from surveyapp.analysis.tidy import (
    ResponsesFileError,
    UnknownCodeError,
    read_csv_text,
    read_responses_csv,
    response_frame,
)
from surveyapp.questionnaire import Questionnaire, load_questionnaire

HERE = Path(__file__).parent
DATA = HERE.parent / "data" / "analysis"
REPO = HERE.parent.parent
UNWEIGHTED = AnalysisOptions(rake_vars=(), min_cell=5)


@cache
def small_questionnaire() -> Questionnaire:
    return load_questionnaire(DATA / "questionnaire.yaml")


@cache
def gerechtigden() -> Questionnaire:
    return load_questionnaire(REPO / "questionnaires" / "gerechtigden.yaml")


def small_responses() -> pd.DataFrame:
    return read_responses_csv(small_questionnaire(), DATA / "responses.csv")


def small_register() -> pd.DataFrame:
    frame, _header = read_csv_text(DATA / "register.csv")
    return frame


def small_invitations() -> pd.DataFrame:
    frame, _header = read_csv_text(DATA / "invitations.csv")
    return frame


@cache
def small_result() -> AnalysisResult:
    return analyze(
        small_questionnaire(),
        small_responses(),
        small_register(),
        options=UNWEIGHTED,
        invitations=small_invitations(),
    )


@cache
def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    """1,500 synthetic responses to gerechtigden from a register of 6,000 (seeded)."""
    questionnaire = gerechtigden()
    rng = np.random.default_rng(20261123)
    population = demo_data.generate_population(questionnaire, rng, 6000)
    chosen = demo_data.choose_respondents(population, rng, 1500)
    answers = demo_data.generate_answers(questionnaire, population, chosen, rng)
    register = pd.DataFrame(
        {k: pd.Series(v, dtype=object).replace("", None) for k, v in population.columns.items()}
    )
    return response_frame(questionnaire, answers), register


@cache
def demo_result() -> AnalysisResult:
    responses, register = demo()
    return analyze(gerechtigden(), responses, register)


def validate(result: AnalysisResult) -> dict[str, Any]:
    """The JSON of a result, checked against the schema (and free of NaN)."""
    data = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def overall(result: AnalysisResult, item: str) -> EstimateRow:
    return result.estimate(item)


# --------------------------------------------------------------------------------------
# Items from the tags


def test_items_of_the_gerechtigden_questionnaire() -> None:
    items = {item.item: item for item in measure_items(gerechtigden())}
    offerings = [s.id for s in gerechtigden().subjects if s.kind == "offering"]
    assert len(offerings) == 16
    for subject in offerings:
        assert items[f"ken_aanbod/{subject}"].measure == "awareness"
        assert items[f"gebruik_aanbod/{subject}"].measure == "usage"
        top2 = items[f"tevredenheid_aanbod/{subject}"]
        assert (top2.measure, top2.kind, top2.positive, top2.exclude) == (
            "satisfaction",
            "proportion",
            ("4", "5"),
            ("na",),
        )
        assert items[f"tevredenheid_aanbod/{subject}#mean"].kind == "mean"
        assert items[f"tevredenheid_aanbod/{subject}"].subject == subject
    assert (
        items["ken_dienst"].positive == ("goed", "beetje") and items["ken_dienst"].subject == "sociale_dienst"
    )
    assert items["ma_weet"].positive == ("yes",)  # yes/no defaults to yes
    assert items["mist_iets"].measure == "missing_offer" and items["mist_iets"].positive == ("yes",)
    assert {items[f"hulpvraag/{c}"].measure for c in ("financieel", "administratief", "andere")} == {
        "help_type"
    }
    assert items["themas/geen"].measure == "need" and items["groepsaanbod"].positive == (
        "webinar",
        "workshop",
        "beide",
    )
    assert items["ma_tevredenheid/houding"].aspect == "houding"
    assert items["ma_tevredenheid/houding"].subject == "maatschappelijk_assistent"
    assert items[ANY_OFFERING].measure == "usage"
    steps = [items[f"funnel/maatschappelijk_assistent/{k}"].question for k in (1, 2, 3)]
    assert steps == ["ma_weet", "ma_weet_waarvoor", "ma_gevraagd"]
    assert not any(i.question in ("suggesties", "mist_wat", "drempels") for i in items.values())


# --------------------------------------------------------------------------------------
# Numbers by hand (unweighted)


def test_hand_made_numbers() -> None:
    result = small_result()
    expected = {
        "ken_dienst": (40, 30 / 40),
        "ken_aanbod/pluspas": (40, 32 / 40),
        "ken_aanbod/sintgeschenk": (40, 16 / 40),
        "gebruik_aanbod/pluspas": (40, 24 / 40),
        "gebruik_aanbod/sintgeschenk": (40, 8 / 40),
        ANY_OFFERING: (40, 25 / 40),
        "tevredenheid_aanbod/pluspas": (22, 18 / 22),
        "tevredenheid_aanbod/pluspas#mean": (22, 93 / 22),
        "tevredenheid_aanbod/sintgeschenk": (7, 4 / 7),
        "tevredenheid_aanbod/sintgeschenk#mean": (7, 25 / 7),
        "ma_weet": (40, 0.5),
        "ma_gevraagd": (40, 6 / 40),
        "hulpvraag/financieel": (6, 4 / 6),
        "hulpvraag/administratief": (6, 3 / 6),
        "hulpvraag/psychosociaal": (6, 1 / 6),
        "mist_iets": (38, 5 / 38),
        "funnel/maatschappelijk_assistent/1": (40, 0.5),
        "funnel/maatschappelijk_assistent/2": (40, 6 / 40),
        "funnel/maatschappelijk_assistent/2/conversion": (20, 6 / 20),
    }
    for item, (n, value) in expected.items():
        row = overall(result, item)
        assert (row.n, row.suppressed) == (n, False), item
        assert row.estimate == pytest.approx(value), item
        assert row.ci_low is not None and row.ci_high is not None and row.ci_low < value < row.ci_high
    # Unweighted: the SE of a proportion is the SRS one with R's n/(n−1) factor.
    p = 0.75
    assert overall(result, "ken_dienst").se == pytest.approx(
        np.sqrt(p * (1 - p) / 40 * 40 / 39) * 39 / 40 * 40 / 39
    )


def test_group_breakdowns_are_plain_proportions() -> None:
    """Every published group cell equals the plain share computed from the file with pandas."""
    result = small_result()
    frame = small_responses()
    for item, column, positive in [
        ("ken_dienst", "ken_dienst", "yes"),
        ("gebruik_aanbod/pluspas", "gebruik_aanbod/pluspas", "ja"),
        ("mist_iets", "mist_iets", "yes"),
    ]:
        for group_var in ("status", "leeftijd", "herkomst", "gezin", "contract"):
            answered = frame[column].notna()
            for group, cell in frame[answered].groupby(group_var, observed=True):
                row = result.estimate(item, group_var, str(group))
                if row.suppressed:
                    assert row.n is None and row.estimate is None
                    continue
                assert row.n == len(cell)
                assert row.estimate == pytest.approx((cell[column] == positive).mean())


def test_hidden_answers_are_dropped_or_implied() -> None:
    frame = small_responses()
    assert pd.isna(frame.loc[33, "contract"])  # a retiree's contract answer: the question was hidden
    assert frame.loc[2, "gebruik_aanbod/pluspas"] == "nee"  # unknown offering: implied "not used"
    contract = {
        row.group: row.n
        for row in small_result().estimates
        if row.item == "ken_dienst" and row.group_var == "contract"
    }
    assert contract == {"statutair": 20, "contractueel": 8}


def test_funnel_and_headline() -> None:
    result = small_result()
    steps = {step.step: step for step in result.funnel}
    assert [steps[1].question, steps[2].question] == ["ma_weet", "ma_gevraagd"]
    assert steps[1].share == pytest.approx(0.5) and steps[1].conversion == pytest.approx(0.5)
    assert steps[2].share == pytest.approx(0.15) and steps[2].conversion == pytest.approx(0.3)
    headline = result.headline
    assert (headline.n_offerings, headline.n_estimated, headline.k_above) == (2, 2, 1)
    # Both intervals are wide with so few users: both straddle 80 %.
    assert {o.subject: o.classification for o in headline.offerings} == {
        "pluspas": "straddles",
        "sintgeschenk": "straddles",
    }
    assert headline.text.startswith("1 of 2 offerings score above 80% satisfied")


def test_headline_classification_on_demo_data() -> None:
    """The demo generator makes 12 offerings clearly above 80 % and 4 clearly below."""
    headline = demo_result().headline
    classes = {o.subject: o.classification for o in headline.offerings}
    assert headline.n_offerings == 16 and headline.k_above == 12
    assert headline.above + headline.straddles + headline.below + headline.not_estimated == 16
    for offering in headline.offerings:
        if offering.classification == "above":
            assert offering.ci_low is not None and offering.ci_low > 0.8
        elif offering.classification == "below":
            assert offering.ci_high is not None and offering.ci_high < 0.8
        elif offering.classification == "straddles":
            assert offering.ci_low is not None and offering.ci_high is not None
            assert offering.ci_low <= 0.8 <= offering.ci_high
    assert classes["pluspas"] == "above"


def test_headline_classes_every_case() -> None:
    from surveyapp.analysis.measures import _headline

    items = [
        i
        for i in measure_items(small_questionnaire())
        if i.measure == "satisfaction" and i.kind == "proportion"
    ]
    template = overall(small_result(), items[0].item)

    def row(
        estimate: float | None, low: float | None, high: float | None, suppressed: bool = False
    ) -> EstimateRow:
        return dataclasses.replace(
            template, estimate=estimate, ci_low=low, ci_high=high, suppressed=suppressed
        )

    cases = {
        "above": row(0.9, 0.85, 0.95),
        "below": row(0.6, 0.5, 0.7),
        "straddles": row(0.82, 0.78, 0.86),
        "suppressed": row(None, None, None, suppressed=True),
        "no_data": row(None, None, None),
    }
    for expected, estimate in cases.items():
        headline = _headline(items[:1], {items[0].item: estimate}, AnalysisOptions())
        assert headline.offerings[0].classification == expected
    headline = _headline(items[:1], {items[0].item: cases["straddles"]}, AnalysisOptions())
    assert headline.k_above == 1 and headline.straddles == 1  # point estimate above, CI straddles


# --------------------------------------------------------------------------------------
# Disclosure control in every list


def test_suppression_applies_in_every_output() -> None:
    result = analyze(
        small_questionnaire(),
        small_responses(),
        small_register(),
        options=AnalysisOptions(rake_vars=(), min_cell=10),
        invitations=small_invitations(),
    )
    data = validate(result)
    threshold = 10
    for row in data["estimates"]:
        if row["suppressed"]:
            assert (
                row["n"] is None and row["estimate"] is None and row["se"] is None and row["ci_low"] is None
            )
        else:
            assert row["n"] == 0 or row["n"] >= threshold
    # Complementary suppression: a partition never hides exactly one cell that the overall
    # n minus the visible cells would give back.
    hidden: dict[tuple[str, str], int] = {}
    visible: dict[tuple[str, str], int] = {}
    for row in data["estimates"]:
        if row["group_var"]:
            key = (row["item"], row["group_var"])
            if row["suppressed"]:
                hidden[key] = hidden.get(key, 0) + 1
            elif row["n"]:
                visible[key] = visible.get(key, 0) + 1
    assert hidden
    for (item, _group_var), count in hidden.items():
        if count == 1:
            assert overall(result, item).suppressed or not visible.get((item, _group_var))
    assert any(row["suppression"] == "complementary" for row in data["estimates"])
    for row in data["comparisons"]:
        if row["suppressed"]:
            assert row["n_group"] is None and row["difference"] is None and row["p_adjusted"] is None
        else:
            assert row["n_group"] == 0 or row["n_group"] >= threshold  # an empty group has no numbers
            assert row["n_rest"] >= threshold
    for row in data["reach"]:
        if row["suppressed"]:
            assert row["n"] is None and row["index"] is None and row["user_share"] is None
        else:
            assert row["n"] == 0 or row["n"] >= threshold
    for row in data["response_rates"]:
        if row["suppressed"]:
            assert row["submitted"] is None and row["response_rate"] is None
        elif row["group_var"] is not None:
            assert row["submitted"] == 0 or row["submitted"] >= threshold
    for row in data["adjusted_gaps"]:
        assert row["suppressed"] is (row["n_group"] is None)
        if not row["suppressed"]:
            assert row["n_group"] >= threshold
    for offering in data["headline"]["offerings"]:
        if offering["n"] is not None and offering["n"] < threshold:
            raise AssertionError(offering)
    sint = next(o for o in data["headline"]["offerings"] if o["subject"] == "sintgeschenk")
    assert sint["classification"] == "suppressed" and sint["estimate"] is None  # 7 users < 10
    assert data["suppression"]["threshold"] == 10 and data["suppression"]["estimates_suppressed"] > 0


def test_minimum_cell_below_five_is_refused() -> None:
    with pytest.raises(InvalidThresholdError, match="below the allowed minimum of 5"):
        AnalysisOptions(min_cell=3)
    with pytest.raises(InvalidThresholdError):
        AnalysisOptions(min_cell=7.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Weighting


def test_default_raking_with_not_asked_category() -> None:
    register = small_register()
    result = analyze(small_questionnaire(), small_responses(), register, options=AnalysisOptions(min_cell=5))
    weighting = result.weighting
    # status, age and contract exist in this questionnaire (niveau does not).
    assert weighting.method == "raking" and weighting.variables == ("status", "leeftijd", "contract")
    assert weighting.converged and weighting.population_size == 200
    contract = next(m for m in weighting.margins if m.variable == "contract")
    assert dict(zip(contract.categories, contract.population, strict=True)) == {
        "statutair": 100,
        "contractueel": 40,
        NOT_ASKED: 60,
    }
    # The weights meet the register margins: weighted counts of a complete item by group.
    by_status = {
        r.group: r.weighted_n for r in result.estimates if r.item == "ken_dienst" and r.group_var == "status"
    }
    assert by_status["actief"] == pytest.approx(140) and by_status["gepensioneerd"] == pytest.approx(60)
    by_age = {
        r.group: r.weighted_n
        for r in result.estimates
        if r.item == "ken_dienst" and r.group_var == "leeftijd"
    }
    assert by_age == pytest.approx({"jong": 70, "oud": 130})
    assert weighting.kish_deff >= 1 and weighting.effective_n == pytest.approx(40 / weighting.kish_deff)
    assert weighting.weight_min <= weighting.weight_mean <= weighting.weight_max
    validate(result)


def test_raked_estimates_match_the_core() -> None:
    """analyze = rake + tabulate of the core, on the demo generator's data."""
    responses, register = demo()
    questionnaire = gerechtigden()
    result = demo_result()
    groups = group_frame(questionnaire, responses)
    sample = pd.DataFrame(
        {
            var: groups[var].astype(object).where(groups[var].notna(), NOT_ASKED)
            for var in ("status", "leeftijd", "contract", "niveau")
        }
    )
    margins = {
        var: register[var].fillna(NOT_ASKED).value_counts().to_dict()
        for var in ("status", "leeftijd", "contract", "niveau")
    }
    raking = rake(sample, np.full(len(sample), len(register) / len(sample)), margins)
    np.testing.assert_allclose(sorted(raking.weights), sorted(raking.weights))
    assert result.weighting.iterations == raking.iterations
    design = SurveyDesign.from_raking(raking)
    items = measure_items(questionnaire)
    values = item_values(questionnaire, responses, items)
    names = ["ken_dienst", "tevredenheid_aanbod/pluspas#mean", "hulpvraag/financieel"]
    columns = [next(k for k, i in enumerate(items) if i.item == name) for name in names]
    kinds = {name: items[k].kind for name, k in zip(names, columns, strict=True)}
    core = estimate_table(
        design, pd.DataFrame(values[:, columns], columns=names), groups[["leeftijd"]], kinds=kinds
    )  # type: ignore[arg-type]
    for estimate in core:
        row = result.estimate(estimate.item, estimate.group_var, estimate.group)
        if row.suppressed or estimate.estimate is None:
            assert row.suppressed or row.estimate is None
            continue
        assert row.estimate == pytest.approx(estimate.estimate, rel=1e-9)
        assert row.se == pytest.approx(estimate.se, rel=1e-9)
        assert row.ci_low == pytest.approx(estimate.ci_low, rel=1e-9)


def test_explicit_raking_problems_are_clear_errors() -> None:
    questionnaire, responses, register = small_questionnaire(), small_responses(), small_register()
    # A register column the register does not have.
    with pytest.raises(RakingVariableError, match="register column 'herkomst'"):
        analyze(
            questionnaire,
            responses,
            register.drop(columns=["herkomst"]),
            options=AnalysisOptions(rake_vars=("herkomst",)),
        )
    # A margin category without respondents.
    only_old = responses[responses["leeftijd"] == "oud"]
    with pytest.raises(RakingVariableError, match=r"'leeftijd'.*category 'jong'.*no respondent"):
        analyze(questionnaire, only_old, register, options=AnalysisOptions(rake_vars=("leeftijd",)))
    # Respondents in a category the register does not have.
    all_belgian = register.assign(herkomst="belgisch")
    with pytest.raises(RakingVariableError, match=r"'herkomst'.*'buitenland'.*does not have"):
        analyze(questionnaire, responses, all_belgian, options=AnalysisOptions(rake_vars=("herkomst",)))
    # Asked but not answered.
    blank = responses.copy()
    blank.loc[0, "gezin"] = np.nan
    with pytest.raises(RakingVariableError, match="'gezin': 1 respondent"):
        analyze(questionnaire, blank, register, options=AnalysisOptions(rake_vars=("gezin",)))
    # Not a group question.
    with pytest.raises(InvalidInputError, match="not a group question"):
        analyze(questionnaire, responses, register, options=AnalysisOptions(rake_vars=("ken_dienst",)))
    # Raking without a register.
    with pytest.raises(RakingVariableError, match="needs the register"):
        analyze(questionnaire, responses, None, options=AnalysisOptions(rake_vars=("status",)))


def test_default_raking_leaves_out_unusable_variables() -> None:
    questionnaire, responses, register = small_questionnaire(), small_responses(), small_register()
    only_old = responses[responses["leeftijd"] == "oud"].reset_index(drop=True)
    result = analyze(questionnaire, only_old, register.drop(columns=["contract"]))
    assert result.weighting.variables == ("status",)
    reasons = {item.variable: item.reason for item in result.weighting.left_out}
    assert "category 'jong'" in reasons["leeftijd"] and "register column 'contract'" in reasons["contract"]
    assert any("leeftijd" in note and "left out" in note for note in result.notes)
    validate(result)


def test_default_raking_leaves_out_a_variable_whose_margins_cannot_be_met() -> None:
    """Answers that contradict the register (every active respondent says young, while the register
    has twice as many active as young people) cannot meet both margins: by default the last
    variable is left out with its reason and the results are still there; asked for explicitly,
    the clear error stays."""
    questionnaire, responses, register = small_questionnaire(), small_responses(), small_register()
    contradicting = responses.assign(
        leeftijd=np.where(responses["status"] == "actief", "jong", "oud")
    ).astype({"leeftijd": responses["leeftijd"].dtype})
    result = analyze(questionnaire, contradicting, register.drop(columns=["contract"]))
    assert result.weighting.variables == ("status",) and result.weighting.converged
    reasons = {item.variable: item.reason for item in result.weighting.left_out}
    assert "did not converge" in reasons["leeftijd"]
    assert [margin.variable for margin in result.weighting.margins] == ["status"]
    assert any("leeftijd" in note and "did not converge" in note for note in result.notes)
    validate(result)
    with pytest.raises(RakingNotConvergedError):
        analyze(
            questionnaire, contradicting, register, options=AnalysisOptions(rake_vars=("status", "leeftijd"))
        )


def test_no_register_means_unweighted_without_reach() -> None:
    result = analyze(small_questionnaire(), small_responses(), None, options=AnalysisOptions(min_cell=5))
    assert result.weighting.method == "none" and result.weighting.population_size is None
    assert result.weighting.weight_min == result.weighting.weight_max == 1.0
    assert result.reach == () and any("No register" in note for note in result.notes)
    assert overall(result, "ken_dienst").estimate == pytest.approx(0.75)
    validate(result)


# --------------------------------------------------------------------------------------
# Bad data


def test_unknown_codes_are_errors() -> None:
    questionnaire = small_questionnaire()
    with pytest.raises(UnknownCodeError, match=r"'ken_dienst'.*'misschien'"):
        response_frame(questionnaire, [{"status": "actief", "ken_dienst": "misschien"}])
    with pytest.raises(UnknownCodeError, match=r"'hulpvraag'.*'juridisch'"):
        response_frame(questionnaire, [{"hulpvraag": ["juridisch"]}])
    frame = small_responses().astype({"ken_dienst": object})
    frame.loc[0, "ken_dienst"] = "misschien"
    with pytest.raises(UnknownCodeError):
        analyze(questionnaire, frame, None)
    register = small_register().astype({"status": object})
    register.loc[0, "status"] = "werkloos"
    with pytest.raises(RegisterCodeError, match=r"register column 'status'.*'werkloos'"):
        analyze(questionnaire, small_responses(), register)


def test_unknown_code_in_a_file(tmp_path: Path) -> None:
    text = (DATA / "responses.csv").read_text(encoding="utf-8").splitlines()
    header, first = text[0], text[1]
    (tmp_path / "bad.csv").write_text(f"{header}\n{first.replace('actief', 'ceo', 1)}\n", encoding="utf-8")
    with pytest.raises(ResponsesFileError, match="line 2, status: 'ceo' is not a code"):
        read_responses_csv(small_questionnaire(), tmp_path / "bad.csv")


def test_all_missing_items_and_empty_groups_are_documented() -> None:
    responses = small_responses()
    for code in ("financieel", "administratief", "psychosociaal"):
        responses[f"hulpvraag/{code}"] = np.nan
    responses["tevredenheid_aanbod/sintgeschenk"] = pd.Categorical(
        [None] * len(responses), categories=responses["tevredenheid_aanbod/sintgeschenk"].cat.categories
    )
    responses = responses[responses["herkomst"] == "belgisch"].reset_index(drop=True)
    result = analyze(small_questionnaire(), responses, small_register(), options=UNWEIGHTED)
    row = overall(result, "hulpvraag/financieel")
    assert (row.n, row.estimate, row.se, row.suppressed) == (0, None, None, False)
    assert any("no answers at all" in note and "hulpvraag/financieel" in note for note in result.notes)
    assert (
        next(o for o in result.headline.offerings if o.subject == "sintgeschenk").classification == "no_data"
    )
    empty = result.estimate("ken_dienst", "herkomst", "buitenland")
    assert (empty.n, empty.estimate, empty.suppressed) == (0, None, False)
    assert any("'herkomst'" in note and "'buitenland'" in note for note in result.notes)
    test = next(t for t in result.tests if t.item == "hulpvraag/financieel" and t.group_var == "status")
    assert test.value is None and test.p is None
    validate(result)


def test_frame_problems() -> None:
    questionnaire = small_questionnaire()
    with pytest.raises(InvalidInputError, match="At least 2 responses"):
        analyze(questionnaire, small_responses().iloc[:1], None)
    with pytest.raises(InvalidInputError, match="lack 1 answer column"):
        analyze(questionnaire, small_responses().drop(columns=["mist_iets"]), None)
    with pytest.raises(InvalidInputError, match="Gap variable"):
        analyze(questionnaire, small_responses(), None, options=AnalysisOptions(gap_vars=("postcode",)))


# --------------------------------------------------------------------------------------
# Reach and response rates


def test_reach_matches_the_core_and_flags_under_reach() -> None:
    responses, register = demo()
    questionnaire = gerechtigden()
    result = demo_result()
    groups = group_frame(questionnaire, responses)
    items = measure_items(questionnaire)
    values = item_values(questionnaire, responses, items)
    position = {item.item: k for k, item in enumerate(items)}
    raking_design = _demo_design()
    shares = {
        var: (register[var].value_counts(normalize=True)).to_dict()
        for var in ("leeftijd", "herkomst", "contract")
    }
    table = tabulate(
        raking_design,
        pd.DataFrame(
            values[:, [position[ANY_OFFERING], position["gebruik_aanbod/pluspas"]]], columns=["a", "b"]
        ),
        groups[list(shares)],
    )
    fast = reach_from_table(table, {"any": "a", "pluspas": "b"}, shares)
    for name, column in (("any", ANY_OFFERING), ("pluspas", "gebruik_aanbod/pluspas")):
        core = reach_indices(raking_design, values[:, position[column]], groups[list(shares)], shares)
        assert len(core) == len(fast[name])
        for slow, quick in zip(core, fast[name], strict=True):
            assert (slow.group_var, slow.group, slow.n_users, slow.df) == (
                quick.group_var,
                quick.group,
                quick.n_users,
                quick.df,
            )
            for field in ("user_share", "se", "index", "ci_low", "ci_high"):
                assert getattr(quick, field) == pytest.approx(getattr(slow, field), rel=1e-9, abs=1e-12), (
                    field
                )
            assert slow.under_reached == quick.under_reached
    # In the result: shares among users of any offering per register group, flags = upper CI < 1.
    rows = [r for r in result.reach if r.subject is None and not r.suppressed]
    assert rows and all(r.under_reached == (r.ci_high is not None and r.ci_high < 1) for r in rows)
    flagged = {(r.group_var, r.group) for r in rows if r.under_reached}
    # The demo generator makes these groups use the offer less (as the 2021 survey found).
    assert {("herkomst", "buiten_eu"), ("dienstjaren", "lt2"), ("gezin", "alleenstaand")} <= flagged
    by_var = [r for r in rows if r.group_var == "status"]
    assert len(by_var) == 2
    assert sum(r.user_share or 0 for r in by_var) == pytest.approx(1.0)
    assert all(r.index == pytest.approx((r.user_share or 0) / r.population_share) for r in by_var)


def _demo_design() -> SurveyDesign:
    responses, register = demo()
    groups = group_frame(gerechtigden(), responses)
    variables = ("status", "leeftijd", "contract", "niveau")
    sample = pd.DataFrame(
        {v: groups[v].astype(object).where(groups[v].notna(), NOT_ASKED) for v in variables}
    )
    margins = {v: register[v].fillna(NOT_ASKED).value_counts().to_dict() for v in variables}
    return SurveyDesign.from_raking(rake(sample, np.full(len(sample), len(register) / len(sample)), margins))


def test_reach_of_the_hand_made_files() -> None:
    result = small_result()
    rows = {(r.subject, r.group_var, r.group): r for r in result.reach}
    # 25 users of any offering, 10 of them young: 0.4 of the users against 0.35 of the register.
    young = rows[(None, "leeftijd", "jong")]
    frame = small_responses()
    users = (frame["gebruik_aanbod/pluspas"] == "ja") | (frame["gebruik_aanbod/sintgeschenk"] == "ja")
    assert int(users.sum()) == 25 and int((users & (frame["leeftijd"] == "jong")).sum()) == 10
    assert young.n == 10 and young.user_share == pytest.approx(10 / 25)
    assert young.population_share == pytest.approx(70 / 200) and young.index == pytest.approx(10 / 25 / 0.35)
    assert (
        young.ci_low is not None and young.ci_high is not None and young.ci_low < young.index < young.ci_high
    )
    assert not young.under_reached
    # Retired users of any offering are fewer than 5: suppressed, and active users with them.
    assert rows[(None, "status", "gepensioneerd")].suppression == "primary"
    assert rows[(None, "status", "actief")].suppression == "complementary"


def test_response_rates_from_the_ledger() -> None:
    rates = {(r.group_var, r.group): r for r in small_result().response_rates}
    everyone = rates[(None, None)]
    assert (everyone.invited, everyone.submitted, everyone.response_rate) == (200, 40, 0.2)
    assert rates[("status", "actief")].response_rate == pytest.approx(28 / 140)
    alone = rates[("gezin", "alleen")]
    assert (alone.invited, alone.submitted) == (67, 14)
    assert alone.representativeness == pytest.approx((14 / 40) / (67 / 200))
    contract = rates[("contract", "contractueel")]
    assert (contract.invited, contract.submitted) == (40, 8)


# --------------------------------------------------------------------------------------
# Tests, comparisons, logistic gaps


def test_tests_and_comparisons_are_adjusted_across_the_report() -> None:
    result = small_result()
    raw = [t.p for t in result.tests]
    assert [t.p_adjusted for t in result.tests] == pytest.approx(adjust_p_values(raw, "holm"), nan_ok=True)  # type: ignore[arg-type]
    assert {t.adjust_method for t in result.tests} == {"holm"} and {t.statistic for t in result.tests} == {
        "F"
    }
    assert any("Holm correction across the whole report" in note for note in result.notes)
    screening = analyze(
        small_questionnaire(),
        small_responses(),
        small_register(),
        options=dataclasses.replace(UNWEIGHTED, adjust="fdr_bh"),
    )
    assert [t.p_adjusted for t in screening.tests] == pytest.approx(
        adjust_p_values([t.p for t in screening.tests], "fdr_bh"), nan_ok=True
    )  # type: ignore[arg-type]
    none = analyze(
        small_questionnaire(), small_responses(), None, options=dataclasses.replace(UNWEIGHTED, adjust="none")
    )
    assert all(t.p_adjusted is None and t.adjust_method == "none" for t in none.tests)


def test_comparison_suppression_matches_the_core() -> None:
    questionnaire, responses = small_questionnaire(), small_responses()
    options = AnalysisOptions(rake_vars=(), min_cell=10)
    result = analyze(questionnaire, responses, None, options=options)
    items = measure_items(questionnaire)
    values = item_values(questionnaire, responses, items)
    table = tabulate(
        SurveyDesign.unweighted(len(responses)),
        pd.DataFrame(values, columns=[i.item for i in items]),
        group_frame(questionnaire, responses),
        kinds={i.item: i.kind for i in items},  # type: ignore[misc]
    )
    from surveyapp.analysis.estimates import table_estimates

    _published, plan = suppress_estimates(table_estimates(table), threshold=10)
    core = suppress_comparisons(group_vs_rest(table, adjust="none"), plan)
    assert [c.suppressed is not None for c in core] == [row.suppressed for row in result.comparisons]
    for mine, theirs in zip(result.comparisons, core, strict=True):
        assert mine.difference == (None if theirs.difference is None else pytest.approx(theirs.difference))


def test_categorical_logistic_equals_survey_logistic() -> None:
    responses, _register = demo()
    design = _demo_design()
    groups = group_frame(gerechtigden(), responses)
    items = measure_items(gerechtigden())
    values = item_values(gerechtigden(), responses, items)
    y = pd.Series(values[:, [i.item for i in items].index("ken_dienst")], name="ken_dienst")
    y[:40] = np.nan  # some outcomes missing: out of the fit, still in the variance
    predictors = pd.DataFrame(
        {
            "herkomst": groups["herkomst"],
            "leeftijd": groups["leeftijd"],
            "contract": groups["contract"].cat.add_categories([NOT_ASKED]).fillna(NOT_ASKED),
        }
    )
    slow = survey_logistic(design, y, predictors)
    fast = categorical_logistic(design, y, predictors)
    assert [c.term for c in fast.coefficients] == [c.term for c in slow.coefficients]
    assert (fast.n, fast.df_residual) == (slow.n, slow.df_residual)
    for mine, theirs in zip(fast.coefficients, slow.coefficients, strict=True):
        assert mine.estimate == pytest.approx(theirs.estimate, rel=1e-8, abs=1e-10)
        assert mine.se == pytest.approx(theirs.se, rel=1e-8)
        assert mine.p_value == pytest.approx(theirs.p_value, rel=1e-6, abs=1e-300)
    np.testing.assert_allclose(np.array(fast.covariance), np.array(slow.covariance), rtol=1e-7, atol=1e-14)


def test_adjusted_gaps_on_demo_data() -> None:
    gaps = [g for g in demo_result().adjusted_gaps if g.outcome == "ken_dienst" and g.gap_var == "herkomst"]
    outside_eu = next(g for g in gaps if g.group == "buiten_eu")
    assert outside_eu.reference == "belgisch" and outside_eu.adjusted_for == ("leeftijd", "contract", "gezin")
    assert outside_eu.unadjusted is not None and outside_eu.adjusted is not None
    assert outside_eu.unadjusted.odds_ratio is not None and outside_eu.unadjusted.odds_ratio < 1
    assert outside_eu.gap_remains == (
        outside_eu.adjusted.ci_high is not None and outside_eu.adjusted.ci_high < 1
    )


# --------------------------------------------------------------------------------------
# Waves


def test_wave_changes() -> None:
    questionnaire = small_questionnaire()
    earlier = small_responses()
    later = earlier.copy()
    later.loc[later["ken_dienst"] == "no", "ken_dienst"] = "yes"  # everyone knows the service now
    later.loc[:5, "ken_dienst"] = "no"
    result = analyze(
        questionnaire,
        later,
        small_register(),
        options=UNWEIGHTED,
        previous=(questionnaire, earlier, small_register()),
    )
    before = small_result()
    change = next(c for c in result.wave_changes if c.item == "ken_dienst" and c.group_var is None)
    old, new = overall(before, "ken_dienst"), overall(result, "ken_dienst")
    assert change.earlier == pytest.approx(0.75) and change.later == pytest.approx(34 / 40)
    assert old.se is not None and new.se is not None and old.df is not None and new.df is not None
    reference = wave_difference_from_numbers(0.75, old.se, old.df, 34 / 40, new.se, new.df)
    for field in ("difference", "se", "ci_low", "ci_high", "df", "t", "p_value"):
        name = "p" if field == "p_value" else field
        assert getattr(change, name) == pytest.approx(getattr(reference, field)), field
    # From the earlier wave's JSON the changes are the same.
    from_json = analyze(
        questionnaire, later, small_register(), options=UNWEIGHTED, previous=before.to_json_dict()
    )
    assert from_json.wave_changes == result.wave_changes
    # A suppressed cell in either wave gives a suppressed change without numbers.
    hidden = [c for c in result.wave_changes if c.suppressed]
    assert hidden and all(c.difference is None and c.p is None for c in hidden)
    validate(result)


def test_json_is_valid_for_every_kind_of_run() -> None:
    validate(small_result())
    validate(demo_result())
    data = validate(demo_result())
    assert data["weighting"]["method"] == "raking" and data["weighting"]["variables"] == [
        "status",
        "leeftijd",
        "contract",
        "niveau",
    ]
    assert {row["measure"] for row in data["estimates"]} >= {
        "awareness",
        "usage",
        "satisfaction",
        "satisfaction_mean",
        "need",
        "missing_offer",
        "help_type",
        "funnel",
        "funnel_conversion",
    }


def test_demo_numbers_look_like_the_2021_survey() -> None:
    result = demo_result()
    assert overall(result, ANY_OFFERING).estimate == pytest.approx(0.75, abs=0.06)
    funnel = {step.step: step.share for step in result.funnel}
    assert funnel[1] == pytest.approx(0.5, abs=0.06) and funnel[2] == pytest.approx(0.33, abs=0.06)
    assert funnel[3] == pytest.approx(0.06, abs=0.03)
    help_types = {row.code: row.estimate for row in result.rows("help_type") if row.group_var is None}
    assert sum(v or 0 for v in help_types.values()) > 1  # multiple answers: shares add up to more than 100 %


# --------------------------------------------------------------------------------------
# Reading files (tidy)


def test_responses_file_delimiters_and_types(tmp_path: Path) -> None:
    text = (DATA / "responses.csv").read_text(encoding="utf-8")
    reference = small_responses()
    for delimiter in (";", "\t"):
        rows = list(__import__("csv").reader(text.splitlines()))
        path = tmp_path / "responses.txt"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:  # with a BOM, as Excel writes
            __import__("csv").writer(handle, delimiter=delimiter).writerows(rows)
        frame = read_responses_csv(small_questionnaire(), path)
        pd.testing.assert_frame_equal(frame, reference)
    assert isinstance(reference["ken_dienst"].dtype, pd.CategoricalDtype)
    assert list(reference["ken_dienst"].cat.categories) == ["yes", "no"]
    assert reference["hulpvraag/financieel"].dtype == np.float64
    assert reference.loc[2, "suggesties"] == 'Meer uitleg, graag "op papier"'
    register = small_register()
    assert len(register) == 200 and list(register.columns)[:2] == ["person", "status"]


def test_responses_file_structure_problems(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("status,status,ken_dienst\nactief,actief,yes\n", encoding="utf-8")
    with pytest.raises(ResponsesFileError, match="status: appears more than once"):
        read_responses_csv(small_questionnaire(), path)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("status,ken_dienst\nactief,yes,extra,more\n", encoding="utf-8")
    with pytest.raises(ResponsesFileError, match="cannot be read as CSV"):
        read_responses_csv(small_questionnaire(), ragged)
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("tevredenheid_aanbod/pluspas,hulpvraag/financieel\n5.0,1.0\n", encoding="utf-8")
    frame = read_responses_csv(small_questionnaire(), numbers)  # spreadsheet-style numbers are codes
    assert pd.isna(frame.loc[0, "tevredenheid_aanbod/pluspas"])  # hidden: PlusPas not used
    assert frame.loc[0, "hulpvraag/financieel"] != frame.loc[0, "hulpvraag/financieel"]  # hidden too
