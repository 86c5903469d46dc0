"""Raking errors, trimming, weight diagnostics and design validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from surveyapp.analysis import (
    AnalysisError,
    EmptyMarginCellError,
    InvalidInputError,
    InvalidMarginError,
    MissingValuesError,
    RakingNotConvergedError,
    SurveyDesign,
    UnknownCategoryError,
    rake,
    weight_diagnostics,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], 400),
            "age": rng.choice(["young", "mid", "old"], 400, p=[0.5, 0.3, 0.2]),
        }
    )


MARGINS = {"sex": {"f": 5000.0, "m": 5000.0}, "age": {"young": 3000.0, "mid": 3000.0, "old": 4000.0}}


def test_rake_meets_margins_and_reports_diagnostics(frame: pd.DataFrame) -> None:
    result = rake(frame, None, MARGINS)
    assert result.converged and result.max_margin_error < 1e-8
    assert result.variables == ("sex", "age")
    for name, targets in MARGINS.items():
        sums = pd.Series(result.weights).groupby(frame[name]).sum()
        for category, target in targets.items():
            assert sums[category] == pytest.approx(target, rel=1e-8)
    d = result.diagnostics
    w = result.weights
    assert d.population_size == pytest.approx(10000.0)
    assert d.kish_deff == pytest.approx(len(w) * np.sum(w**2) / np.sum(w) ** 2)
    assert d.effective_n == pytest.approx(len(w) / d.kish_deff)
    assert (d.min_weight, d.max_weight) == (w.min(), w.max())
    json.dumps(result.to_dict())
    assert not w.flags.writeable


def test_non_convergence_names_variables_and_error(frame: pd.DataFrame) -> None:
    with pytest.raises(RakingNotConvergedError) as info:
        rake(frame, None, MARGINS, max_sweeps=1, epsilon=1e-15)
    message = str(info.value)
    assert "sex" in message and "age" in message and "error" in message
    assert info.value.max_error > 1e-15
    result = rake(frame, None, MARGINS, max_sweeps=1, epsilon=1e-15, raise_on_failure=False)
    assert not result.converged


def test_unattainable_margins_do_not_converge() -> None:
    # Everyone who is "a" is also "x": population a = 80 cannot fit inside x = 20.
    frame = pd.DataFrame({"v": ["a", "a", "b", "b"], "u": ["x", "x", "y", "y"]})
    margins = {"v": {"a": 80.0, "b": 20.0}, "u": {"x": 20.0, "y": 80.0}}
    with pytest.raises(RakingNotConvergedError):
        rake(frame, None, margins, max_sweeps=50)


def test_empty_margin_cell_names_variable_and_category(frame: pd.DataFrame) -> None:
    margins = {"age": {**MARGINS["age"], "ancient": 10.0}}
    with pytest.raises(EmptyMarginCellError) as info:
        rake(frame, None, margins)
    assert info.value.variable == "age" and info.value.category == "ancient"
    assert "ancient" in str(info.value)


def test_respondent_category_missing_from_margins(frame: pd.DataFrame) -> None:
    with pytest.raises(UnknownCategoryError) as info:
        rake(frame, None, {"age": {"young": 1.0, "mid": 1.0}})
    assert info.value.categories == ["old"]


def test_missing_values_in_raking_variable(frame: pd.DataFrame) -> None:
    broken = frame.copy()
    broken.loc[[3, 7], "sex"] = None
    with pytest.raises(MissingValuesError) as info:
        rake(broken, None, MARGINS)
    assert info.value.n_missing == 2 and info.value.variable == "sex"


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_non_positive_margins_rejected(frame: pd.DataFrame, bad: float) -> None:
    with pytest.raises(InvalidMarginError):
        rake(frame, None, {"sex": {"f": bad, "m": 10.0}})


def test_margins_of_different_populations_rejected(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidMarginError, match="totals differ"):
        rake(frame, None, {"sex": {"f": 1.0, "m": 1.0}, "age": MARGINS["age"]})


def test_all_errors_share_one_base(frame: pd.DataFrame) -> None:
    with pytest.raises(AnalysisError):
        rake(frame, None, {"nope": {"a": 1.0}})
    assert issubclass(AnalysisError, ValueError)


@pytest.mark.parametrize("weights", [[1.0, 0.0, 2.0], [1.0, -1.0, 1.0], [1.0, np.inf, 1.0]])
def test_invalid_weights_rejected(weights: list[float]) -> None:
    with pytest.raises(InvalidInputError):
        SurveyDesign.from_weights(weights)


def test_trimming_keeps_bounds_and_margins() -> None:
    rng = np.random.default_rng(11)
    n = 1000
    frame = pd.DataFrame({"a": rng.choice(["p", "q"], n, p=[0.7, 0.3]), "b": rng.choice(["r", "s"], n)})
    base = np.exp(rng.normal(0, 0.8, n))
    margins = {"a": {"p": 500.0, "q": 500.0}, "b": {"r": 400.0, "s": 600.0}}
    untrimmed = rake(frame, base, margins)
    mean = untrimmed.weights.mean()
    assert untrimmed.weights.max() > 4.0 * mean
    assert untrimmed.weights.min() < 0.2 * mean
    trimmed = rake(frame, base, margins, trim=(0.2, 4.0))
    assert trimmed.trim_rounds > 0
    assert trimmed.weights.max() <= 4.0 * mean * (1 + 1e-6)
    assert trimmed.weights.min() >= 0.2 * mean * (1 - 1e-6)
    for name, targets in margins.items():
        sums = pd.Series(trimmed.weights).groupby(frame[name]).sum()
        for category, target in targets.items():
            assert sums[category] == pytest.approx(target, rel=1e-8)
    assert trimmed.diagnostics.kish_deff < untrimmed.diagnostics.kish_deff


def test_infeasible_trim_bounds_raise() -> None:
    frame = pd.DataFrame({"a": ["p"] * 9 + ["q"]})
    with pytest.raises(RakingNotConvergedError, match="trim"):
        rake(frame, None, {"a": {"p": 50.0, "q": 50.0}}, trim=(0.5, 2.0))


@pytest.mark.parametrize("bounds", [(1.5, 3.0), (0.2, 0.8), (-1.0, 2.0)])
def test_trim_bounds_must_admit_the_mean(frame: pd.DataFrame, bounds: tuple[float, float]) -> None:
    with pytest.raises(InvalidInputError):
        rake(frame, None, MARGINS, trim=bounds)


def test_design_basics_and_fpc() -> None:
    design = SurveyDesign.unweighted(10)
    assert design.n == 10 and design.degf == 9 and not design.is_calibrated
    assert design.variance_scale == pytest.approx(10 / 9)
    with_fpc = SurveyDesign.unweighted(10, population_size=40)
    assert with_fpc.variance_scale == pytest.approx((1 - 10 / 40) * 10 / 9)
    with pytest.raises(InvalidInputError):
        SurveyDesign.unweighted(10, population_size=5)
    json.dumps(with_fpc.to_dict())


def test_weight_diagnostics_of_equal_weights() -> None:
    d = weight_diagnostics(np.full(50, 3.0))
    assert d.kish_deff == pytest.approx(1.0) and d.effective_n == pytest.approx(50)
    assert d.population_size == pytest.approx(150)
