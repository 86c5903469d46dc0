"""Tests, multiplicity, logistic regression and wave differences beyond the R numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from surveyapp.analysis import (
    InvalidInputError,
    ModelFitError,
    SurveyDesign,
    adjust_p_values,
    estimate_table,
    group_vs_rest,
    rao_scott_categorical,
    rao_scott_tests,
    survey_logistic,
    tabulate,
    wave_difference,
    wave_difference_from_numbers,
)
from surveyapp.analysis.design import covariance_from_moments, linearised_covariance


def test_holm_and_bh_match_hand_computation() -> None:
    raw = [0.01, 0.04, 0.03, None, 0.5]
    holm = adjust_p_values(raw, "holm")
    # Sorted 0.01, 0.03, 0.04, 0.5 → ×4, ×3, ×2, ×1 with running maximum.
    assert holm == [pytest.approx(0.04), pytest.approx(0.09), pytest.approx(0.09), None, 0.5]
    bh = adjust_p_values(raw, "fdr_bh")
    # Step-up: 0.5·4/4, min(0.04·4/3, ·), min(0.03·4/2, 0.0533), 0.01·4.
    third = pytest.approx(0.04 * 4 / 3)
    assert bh == [pytest.approx(0.04), third, third, None, 0.5]
    with pytest.raises(InvalidInputError):
        adjust_p_values(raw, "holm-sidak")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.01, 0.05, 0.2])),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(["holm", "fdr_bh"]),
)
def test_adjustment_equals_statsmodels(raw: list[float | None], method: str) -> None:
    """Our Holm / Benjamini-Hochberg equal statsmodels' multipletests (ties and None included)."""
    from statsmodels.stats.multitest import multipletests

    ours = adjust_p_values(raw, method)  # type: ignore[arg-type]
    present = [p for p in raw if p is not None]
    if not present:
        assert ours == [None] * len(raw)
        return
    _, theirs, _, _ = multipletests(np.array(present), method=method)
    assert [p for p in ours if p is not None] == pytest.approx(list(theirs), abs=1e-15)
    assert [p is None for p in ours] == [p is None for p in raw]


@pytest.fixture
def survey() -> tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(9)
    n = 600
    group = rng.choice(["a", "b", "c", "d"], n)
    effect = {"a": 0.2, "b": 0.5, "c": 0.5, "d": 0.8}
    items = pd.DataFrame(
        {
            "yes": (rng.random(n) < np.vectorize(effect.get)(group)).astype(float),
            "flat": (rng.random(n) < 0.5).astype(float),
            "score": rng.normal(3, 1, n),
        }
    )
    return SurveyDesign.from_weights(rng.uniform(0.5, 2, n)), items, pd.DataFrame({"group": group})


def test_group_vs_rest_records_adjustment_per_family(
    survey: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame],
) -> None:
    design, items, groups = survey
    table = tabulate(design, items, groups, kinds={"score": "mean"})
    results = group_vs_rest(table, adjust="holm")
    assert len(results) == 3 * 4
    for item in items.columns:
        family = [c for c in results if c.item == item]
        assert all(c.adjustment == "holm" for c in family)
        expected = adjust_p_values([c.p_value for c in family], "holm")
        assert [c.p_adjusted for c in family] == expected
    strong = next(c for c in results if c.item == "yes" and c.group == "a")
    assert strong.difference is not None and strong.difference < 0 and strong.p_value < 1e-6  # type: ignore[operator]
    assert strong.t == pytest.approx(strong.difference / strong.se)  # type: ignore[operator]
    assert strong.p_value == pytest.approx(2 * stats.t.sf(abs(strong.t), design.degf))  # type: ignore[arg-type]
    json.dumps(strong.to_dict(), allow_nan=False)
    unadjusted = group_vs_rest(table, adjust="none")
    assert all(c.p_adjusted is None and c.adjustment is None for c in unadjusted)
    with pytest.raises(InvalidInputError):
        group_vs_rest(table, adjust="bonferroni")  # type: ignore[arg-type]


def test_rao_scott_binary_items_match_categorical_path(
    survey: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame],
) -> None:
    design, items, groups = survey
    table = tabulate(design, items[["yes", "flat"]], groups)
    from_table = rao_scott_tests(table, adjust="fdr_bh")
    from_answers = rao_scott_categorical(design, items[["yes", "flat"]], groups, adjust="fdr_bh")
    for a, b in zip(from_table, from_answers, strict=True):
        assert a.item == b.item and a.adjustment == "fdr_bh"
        assert a.f == pytest.approx(b.f) and a.p_value == pytest.approx(b.p_value)
    by_item = {t.item: t for t in from_table}
    assert by_item["yes"].p_value < 1e-6 < by_item["flat"].p_value  # type: ignore[operator]


def test_rao_scott_undefined_with_one_category() -> None:
    design = SurveyDesign.unweighted(5)
    test = rao_scott_categorical(
        design,
        pd.DataFrame({"q": ["x", "x", "x", "x", "x"]}),
        pd.DataFrame({"g": ["a", "b", "a", "b", "a"]}),
        adjust="holm",
    )[0]
    assert test.rows == 1 and test.f is None and test.p_value is None and test.p_adjusted is None


def test_rao_scott_of_srs_with_equal_weights_is_near_pearson() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    answers = pd.DataFrame({"q": rng.choice(["x", "y", "z"], n)})
    groups = pd.DataFrame({"g": rng.choice(["a", "b"], n)})
    test = rao_scott_categorical(SurveyDesign.unweighted(n), answers, groups, adjust="none")[0]
    assert test.mean_design_effect == pytest.approx(1.0, abs=0.01)
    assert test.chisq_df == 2


def test_covariance_from_moments_matches_row_scores() -> None:
    rng = np.random.default_rng(2)
    n, k = 50, 3
    design = SurveyDesign.from_weights(rng.uniform(1, 2, n))
    e = rng.normal(size=(n, k))
    x = design.weights[:, None] * e
    w = design.weights
    direct = covariance_from_moments(
        design,
        e.sum(axis=0)[None],
        x.sum(axis=0),
        (w[:, None] ** 2 * e).sum(axis=0)[None],
        x.T @ x,
    )
    np.testing.assert_allclose(direct, linearised_covariance(design, x), rtol=1e-12)


def test_logistic_errors() -> None:
    design = SurveyDesign.unweighted(8)
    separated = pd.Series([0, 0, 0, 0, 1, 1, 1, 1], name="y", dtype=float)
    group = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4})
    with pytest.raises(ModelFitError, match="separation"):
        survey_logistic(design, separated, group)
    with pytest.raises(ModelFitError, match="collinear"):
        survey_logistic(design, separated, pd.DataFrame({"x": np.arange(8.0), "x2": np.arange(8.0) * 2}))
    with pytest.raises(InvalidInputError):
        survey_logistic(design, separated * 3, pd.DataFrame({"x": np.arange(8.0)}))


def test_logistic_result_is_plain_data(survey: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]) -> None:
    design, items, groups = survey
    fit = survey_logistic(design, items["yes"], groups.assign(score=items["score"]))
    assert [c.term for c in fit.coefficients] == ["(Intercept)", "groupb", "groupc", "groupd", "score"]
    d = fit.coefficient("groupd")
    assert d.odds_ratio == pytest.approx(np.exp(d.estimate))
    assert d.ci_low < d.estimate < d.ci_high
    assert fit.df_residual == design.n - 5
    json.dumps(fit.to_dict(), allow_nan=False)
    with pytest.raises(KeyError):
        fit.coefficient("nope")


def test_wave_difference_of_independent_waves(
    survey: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame],
) -> None:
    design, items, _ = survey
    first = estimate_table(design, items[["yes"]])[0]
    later = estimate_table(design, items[["flat"]])[0]
    result = wave_difference(first, later)
    assert first.se is not None and later.se is not None
    assert result.difference == pytest.approx(later.estimate - first.estimate)  # type: ignore[operator]
    assert result.se == pytest.approx(np.hypot(first.se, later.se))
    assert result.df == pytest.approx(2 * design.degf, rel=0.05)
    same = wave_difference_from_numbers(0.5, 0.02, 100, 0.5, 0.02, 100)
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)
    far = wave_difference_from_numbers(0.3, 0.02, 100, 0.6, 0.02, 100)
    assert far.p_value < 1e-10 and far.ci_low > 0  # type: ignore[operator]
    json.dumps(far.to_dict(), allow_nan=False)
