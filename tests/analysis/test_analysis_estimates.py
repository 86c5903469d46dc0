"""Estimate table behaviour beyond the R numbers: inputs, empty cells, intervals, JSON."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from surveyapp.analysis import (
    InvalidInputError,
    SurveyDesign,
    estimate_table,
    korn_graubard_interval,
    logit_interval,
    rake,
)


@pytest.fixture
def data() -> tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = 120
    design = SurveyDesign.from_weights(rng.uniform(1, 3, n))
    items = pd.DataFrame(
        {
            "q1": (rng.random(n) < 0.3).astype(float),
            "q2": rng.integers(1, 6, n).astype(float),
            "never": np.full(n, np.nan),
        }
    )
    items.loc[:9, "q1"] = np.nan
    groups = pd.DataFrame(
        {
            "region": pd.Categorical(
                rng.choice(["north", "south", "east"], n), categories=["south", "north", "east", "west"]
            )
        }
    )
    return design, items, groups


def test_table_layout_and_counts(data: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]) -> None:
    design, items, groups = data
    rows = estimate_table(design, items, groups, kinds={"q2": "mean"})
    assert len(rows) == 3 * (1 + 4)
    overall = {r.item: r for r in rows if r.group_var is None}
    assert overall["q1"].n == 110 and overall["q1"].df == 109
    assert overall["q2"].ci_method == "t" and overall["q1"].ci_method == "logit"
    # Categorical order is kept, including a category nobody is in.
    regions = [r.group for r in rows if r.item == "q1" and r.group_var == "region"]
    assert regions == ["south", "north", "east", "west"]
    west = next(r for r in rows if r.group == "west" and r.item == "q1")
    assert west.n == 0 and west.estimate is None and west.se is None and west.df is None
    never = overall["never"]
    assert never.n == 0 and never.estimate is None
    per_region = [r.n for r in rows if r.item == "q1" and r.group_var == "region"]
    assert sum(per_region) == overall["q1"].n


def test_mean_t_interval(data: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]) -> None:
    design, items, _groups = data
    row = next(r for r in estimate_table(design, items[["q2"]], kinds="mean") if r.group is None)
    assert row.estimate is not None and row.se is not None and row.ci_low is not None
    half = stats.t.ppf(0.975, row.df) * row.se
    assert row.ci_low == pytest.approx(row.estimate - half)
    w = design.weights
    assert row.estimate == pytest.approx(np.sum(w * items["q2"]) / w.sum())


def test_to_dict_is_json_without_nan(data: tuple[SurveyDesign, pd.DataFrame, pd.DataFrame]) -> None:
    design, items, groups = data
    for row in estimate_table(design, items, groups, kinds={"q2": "mean"}):
        text = json.dumps(row.to_dict(), allow_nan=False)
        assert "NaN" not in text


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (pd.DataFrame({"a": [0.0, 2.0, 1.0]}), "0/1"),
        (pd.DataFrame({"a": ["x", "y", "z"]}), "numeric"),
        (pd.DataFrame({"a": [0.0, 1.0]}), "rows"),
    ],
)
def test_bad_items_rejected(items: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        estimate_table(SurveyDesign.unweighted(3), items)


def test_bad_options_rejected() -> None:
    design, items = SurveyDesign.unweighted(3), pd.DataFrame({"a": [0.0, 1.0, 1.0]})
    with pytest.raises(InvalidInputError):
        estimate_table(design, items, ci_method="wald")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        estimate_table(design, items, level=1.5)
    with pytest.raises(InvalidInputError):
        estimate_table(design, items, kinds={"b": "mean"})


def test_zero_and_one_proportions_get_clopper_pearson_bounds() -> None:
    design = SurveyDesign.unweighted(20)
    items = pd.DataFrame({"none": np.zeros(20), "all": np.ones(20)})
    for method in ("logit", "beta", "likelihood", "asin", "mean"):
        rows = {r.item: r for r in estimate_table(design, items, ci_method=method)}  # type: ignore[arg-type]
        tail = 0.025 ** (1 / 20)
        assert (rows["none"].ci_low, rows["none"].ci_high) == (0.0, pytest.approx(1 - tail))
        assert (rows["all"].ci_low, rows["all"].ci_high) == (pytest.approx(tail), 1.0)


def test_interval_helpers_are_vectorised_and_ordered() -> None:
    p = np.array([0.1, 0.5, 0.9])
    se = np.array([0.02, 0.05, 0.03])
    df = np.array([50.0, 10.0, 200.0])
    n = df + 1
    for low, high in (logit_interval(p, se, df, n, 0.95), korn_graubard_interval(p, se, df, n, n, 0.95)):
        assert np.all((low < p) & (p < high)) and np.all((low > 0) & (high < 1))
    narrow_low, narrow_high = logit_interval(p, se, df, n, 0.8)
    wide_low, wide_high = logit_interval(p, se, df, n, 0.99)
    assert np.all(wide_low < narrow_low) and np.all(wide_high > narrow_high)


def test_single_respondent_cell_has_no_interval() -> None:
    design = SurveyDesign.unweighted(6)
    items = pd.DataFrame({"a": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]})
    groups = pd.DataFrame({"g": ["x", "y", "y", "y", "y", "y"]})
    lone = next(r for r in estimate_table(design, items, groups) if r.group == "x")
    assert lone.n == 1 and lone.df == 0 and lone.estimate == 1.0
    assert lone.ci_low is None and lone.ci_high is None
    assert lone.se is not None and not math.isnan(lone.se)


def test_no_items_gives_no_rows() -> None:
    design = SurveyDesign.unweighted(4)
    assert estimate_table(design, pd.DataFrame(index=range(4)), pd.DataFrame({"g": list("abab")})) == []


def test_aggregation_never_builds_a_respondent_by_cell_matrix() -> None:
    """Memory stays near a few item-sized blocks, far below n × items × domains."""
    rng = np.random.default_rng(12)
    n, n_items = 20_000, 40
    frame = pd.DataFrame({"r": rng.integers(0, 4, n), "s": rng.integers(0, 3, n)})
    margins = {name: dict(enumerate(np.bincount(frame[name]).astype(float) * 10)) for name in ("r", "s")}
    design = SurveyDesign.from_raking(rake(frame, rng.uniform(1, 2, n), margins))
    items = pd.DataFrame(rng.integers(0, 2, (n, n_items)).astype(float)).add_prefix("q")
    groups = pd.DataFrame({f"g{k}": rng.integers(0, 5, n) for k in range(5)})
    tracemalloc.start()
    rows = estimate_table(design, items, groups)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(rows) == n_items * (1 + 25)
    naive = n * n_items * 26 * 8  # one float per respondent, item and domain
    assert peak < naive / 3, peak
