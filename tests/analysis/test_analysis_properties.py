"""Property tests: invariances of raking and estimates, and the aggregate variance algebra.

Data are drawn from numpy generators seeded by hypothesis, so hypothesis explores sizes,
category counts and seeds while each example stays cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from surveyapp.analysis import (
    SurveyDesign,
    estimate_table,
    group_vs_rest,
    plan_suppression,
    rake,
    tabulate,
)
from surveyapp.analysis.suppression import CellCount

SETTINGS = settings(max_examples=15, deadline=None)


def _survey(seed: int, n: int, sizes: tuple[int, ...]) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """A frame with raking variables r0.. (every category present), margins and base weights."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            f"r{m}": np.concatenate([np.arange(size), rng.integers(0, size, n - size)])
            for m, size in enumerate(sizes)
        }
    )
    base = rng.uniform(0.5, 4.0, n)
    # Margins met by some positive weights, so a raking solution exists (random margins can
    # be unattainable when the sample lacks a combination of categories).
    attainable = base * rng.uniform(0.3, 3.0, n) * float(rng.uniform(10, 100))
    margins = {
        f"r{m}": dict(enumerate(np.bincount(frame[f"r{m}"], attainable, size).tolist()))
        for m, size in enumerate(sizes)
    }
    return frame, margins, base


def _items(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed + 1)
    items = pd.DataFrame(
        {
            "yes": (rng.random(n) < 0.4).astype(float),
            "score": rng.normal(50, 10, n).round(1),
        }
    )
    items = items.mask(rng.random(items.shape) < 0.15)
    groups = pd.DataFrame({"g": rng.integers(0, 3, n).astype(float), "h": rng.integers(0, 2, n)})
    groups["g"] = groups["g"].mask(rng.random(n) < 0.1)
    return items, groups


def _r_literal_covariance(design: SurveyDesign, scores: np.ndarray) -> np.ndarray:
    """R svyrecvar + onestrat written out literally: ten sweeps of x − w·ave(x/w, margin)."""
    x = scores.copy()
    w = design.weights
    for _ in range(10):
        for margin in design.calibration:
            ratio = x / w[:, None]
            sizes = np.bincount(margin.codes)
            means = np.stack([np.bincount(margin.codes, ratio[:, k]) / sizes for k in range(x.shape[1])], 1)
            x = x - w[:, None] * means[margin.codes]
    centred = x - x.mean(axis=0)
    return design.variance_scale * centred.T @ centred


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(30, 300),
    sizes=st.lists(st.integers(2, 5), min_size=1, max_size=3).map(tuple),
)
def test_raked_weights_hit_every_margin(seed: int, n: int, sizes: tuple[int, ...]) -> None:
    frame, margins, base = _survey(seed, n, sizes)
    result = rake(frame, base, margins, epsilon=1e-10, max_sweeps=5000)
    assert result.converged
    for name, targets in margins.items():
        got = np.bincount(frame[name], weights=result.weights, minlength=len(targets))
        np.testing.assert_allclose(got, list(targets.values()), rtol=1e-9)
    assert result.max_margin_error < 1e-10


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(40, 200), raked=st.booleans())
def test_aggregate_variance_equals_row_level_r_algorithm(seed: int, n: int, raked: bool) -> None:
    """The (cell × domain) aggregate shortcut gives R's row-by-row numbers."""
    frame, margins, base = _survey(seed, n, (3, 2))
    design = (
        SurveyDesign.from_raking(rake(frame, base, margins))
        if raked
        else SurveyDesign.from_weights(base, population_size=n * 3.0)
    )
    items, groups = _items(seed, n)
    rows = estimate_table(design, items, groups[["g"]], kinds={"score": "mean"})
    w = design.weights
    for row in rows:
        y = items[row.item].to_numpy()
        in_domain = ~np.isnan(y)
        if row.group is not None:
            in_domain &= groups["g"].to_numpy() == row.group
        if not in_domain.any():
            continue
        total = w[in_domain].sum()
        estimate = np.sum(w[in_domain] * y[in_domain]) / total
        scores = np.where(in_domain, w * (np.nan_to_num(y) - estimate) / total, 0.0)
        se = np.sqrt(_r_literal_covariance(design, scores[:, None])[0, 0])
        assert row.estimate is not None and row.se is not None
        assert abs(row.estimate - estimate) <= 1e-9 * max(1.0, abs(estimate))
        assert abs(row.se - se) <= 1e-8 * max(se, 1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(40, 200))
def test_group_vs_rest_se_equals_row_level_contrast(seed: int, n: int) -> None:
    frame, margins, base = _survey(seed, n, (2, 3))
    design = SurveyDesign.from_raking(rake(frame, base, margins))
    items, groups = _items(seed, n)
    table = tabulate(design, items[["yes"]], groups[["g"]])
    w = design.weights
    y = items["yes"].to_numpy()
    g = groups["g"].to_numpy()
    for comparison in group_vs_rest(table, adjust="none"):
        inside = ~np.isnan(y) & (g == comparison.group)
        outside = ~np.isnan(y) & ~np.isnan(g) & (g != comparison.group)
        if not inside.any() or not outside.any():
            assert comparison.difference is None
            continue
        scores = np.zeros(n)
        for mask, sign in ((inside, 1.0), (outside, -1.0)):
            total = w[mask].sum()
            mean = np.sum(w[mask] * y[mask]) / total
            scores += sign * np.where(mask, w * (np.nan_to_num(y) - mean) / total, 0.0)
        se = np.sqrt(_r_literal_covariance(design, scores[:, None])[0, 0])
        assert comparison.se is not None
        assert abs(comparison.se - se) <= 1e-8 * se


def _numbers(rows: list) -> list[tuple]:
    return [(r.item, r.group_var, r.group, r.n, r.estimate, r.se, r.ci_low, r.ci_high) for r in rows]


def _assert_same(first: list, second: list, rtol: float) -> None:
    assert len(first) == len(second)
    for a, b in zip(_numbers(first), _numbers(second), strict=True):
        assert a[:4] == b[:4]
        for x, y in zip(a[4:], b[4:], strict=True):
            assert (x is None and y is None) or abs(x - y) <= rtol * max(abs(y), 1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(30, 150), raked=st.booleans())
def test_estimates_invariant_to_row_order(seed: int, n: int, raked: bool) -> None:
    frame, margins, base = _survey(seed, n, (3, 2))
    items, groups = _items(seed, n)
    order = np.random.default_rng(seed).permutation(n)

    def run(index: np.ndarray) -> list:
        f = frame.iloc[index].reset_index(drop=True)
        design = (
            SurveyDesign.from_raking(rake(f, base[index], margins, epsilon=1e-10, max_sweeps=5000))
            if raked
            else SurveyDesign.from_weights(base[index])
        )
        return estimate_table(
            design,
            items.iloc[index].reset_index(drop=True),
            groups.iloc[index].reset_index(drop=True),
            kinds={"score": "mean"},
        )

    _assert_same(run(order), run(np.arange(n)), rtol=1e-8)


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(30, 150),
    factor=st.floats(1e-3, 1e3),
    method=st.sampled_from(["logit", "beta", "likelihood"]),
)
def test_estimates_invariant_to_scaling_weights(seed: int, n: int, factor: float, method: str) -> None:
    frame, margins, base = _survey(seed, n, (2, 2))
    items, groups = _items(seed, n)
    kinds = {"score": "mean"}
    scaled_margins = {k: {c: v * factor for c, v in m.items()} for k, m in margins.items()}
    for design_a, design_b in (
        (SurveyDesign.from_weights(base), SurveyDesign.from_weights(base * factor)),
        (
            SurveyDesign.from_raking(rake(frame, base, margins, epsilon=1e-10, max_sweeps=5000)),
            SurveyDesign.from_raking(
                rake(frame, base * factor, scaled_margins, epsilon=1e-10, max_sweeps=5000)
            ),
        ),
    ):
        a = estimate_table(design_a, items, groups, kinds=kinds, ci_method=method)  # type: ignore[arg-type]
        b = estimate_table(design_b, items, groups, kinds=kinds, ci_method=method)  # type: ignore[arg-type]
        _assert_same(a, b, rtol=1e-7)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(30, 150), raked=st.booleans())
def test_one_category_group_equals_overall(seed: int, n: int, raked: bool) -> None:
    frame, margins, base = _survey(seed, n, (2, 3))
    design = (
        SurveyDesign.from_raking(rake(frame, base, margins)) if raked else SurveyDesign.from_weights(base)
    )
    items, _ = _items(seed, n)
    rows = estimate_table(design, items, pd.DataFrame({"all": ["everyone"] * n}), kinds={"score": "mean"})
    overall = [r for r in rows if r.group_var is None]
    single = [r for r in rows if r.group_var == "all"]
    for a, b in zip(overall, single, strict=True):
        assert b.group == "everyone"
        assert (a.n, a.df) == (b.n, b.df)
        for x, y in ((a.estimate, b.estimate), (a.se, b.se), (a.ci_low, b.ci_low), (a.ci_high, b.ci_high)):
            assert x == y or abs(x - y) <= 1e-12 * abs(y)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(5, 20),
    partitions=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=8), min_size=1, max_size=6),
    unknown=st.integers(0, 5),
)
def test_suppression_never_leaks_a_small_cell(
    threshold: int, partitions: list[list[int]], unknown: int
) -> None:
    cells = []
    for p, counts in enumerate(partitions):
        item = f"item{p}"
        var = f"var{p}"
        cells.append(CellCount(item, None, None, sum(counts) + unknown))
        cells.extend(CellCount(item, var, f"c{k}", count) for k, count in enumerate(counts))
    plan = plan_suppression(cells, threshold=threshold)
    decisions = plan.decisions
    # 1. every cell below the threshold (and not empty) is hidden.
    for d in decisions:
        if 0 < d.n < threshold:
            assert d.reason == "primary"
    # 2. per partition: hidden cells cannot be recovered by subtraction from the total.
    for p in range(len(partitions)):
        members = [d for d in decisions if d.group_var == f"var{p}"]
        hidden = [d for d in members if d.suppressed]
        visible_nonempty = [d for d in members if not d.suppressed and d.n > 0]
        if hidden:
            # Either protected (≥ 2 hidden, together at least the threshold) or nothing
            # non-empty was left to hide.
            protected = len(hidden) >= 2 and sum(d.n for d in hidden) >= threshold
            assert protected or not visible_nonempty
            if len(hidden) == 1:
                # A lone hidden cell equals the item's total minus the unknown-group rest;
                # it is safe only if that total is hidden too or the rest is unpublished.
                overall = next(d for d in decisions if d.group_var is None and d.item == f"item{p}")
                assert overall.suppressed or unknown > 0
    # 3. complementary cells are only added where needed: never in a partition with no
    #    primary cell.
    for p, _counts in enumerate(partitions):
        members = [d for d in decisions if d.group_var == f"var{p}"]
        if not any(d.reason == "primary" for d in members):
            assert not any(d.reason == "complementary" for d in members)
