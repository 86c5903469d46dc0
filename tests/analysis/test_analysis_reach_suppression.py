"""Reach indices, response rates, disclosure control, and the purity of the package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import surveyapp.analysis
from surveyapp.analysis import (
    CellCount,
    InvalidInputError,
    InvalidThresholdError,
    SurveyDesign,
    UnknownCategoryError,
    estimate_table,
    group_vs_rest,
    plan_suppression,
    reach_indices,
    response_rates,
    suppress_comparisons,
    suppress_estimates,
    suppress_reach,
    tabulate,
)

# --------------------------------------------------------------------------------------
# Reach


@pytest.fixture
def users() -> tuple[SurveyDesign, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(4)
    n = 3000
    group = rng.choice(["young", "adult", "senior"], n, p=[0.2, 0.5, 0.3])
    # Seniors use the service much less than their register share suggests.
    use_rate = np.select([group == "senior", group == "young"], [0.1, 0.5], 0.5)
    used = (rng.random(n) < use_rate).astype(float)
    used[:30] = np.nan
    return SurveyDesign.from_weights(rng.uniform(1, 2, n)), used, pd.DataFrame({"age": group})


REGISTER = {"age": {"young": 0.2, "adult": 0.5, "senior": 0.3}}


def test_reach_flags_under_reached_groups(users: tuple[SurveyDesign, np.ndarray, pd.DataFrame]) -> None:
    design, used, groups = users
    by_group = {r.group: r for r in reach_indices(design, used, groups, REGISTER)}
    senior = by_group["senior"]
    assert senior.under_reached and senior.ci_high < 1  # type: ignore[operator]
    assert not by_group["adult"].under_reached
    assert by_group["young"].index > 1  # type: ignore[operator]
    # The shares among users sum to one and the index is share / register share.
    assert sum(r.user_share for r in by_group.values()) == pytest.approx(1.0)  # type: ignore[misc]
    assert senior.index == pytest.approx(senior.user_share / 0.3)  # type: ignore[operator]
    # The CI is symmetric on the log scale around the index.
    assert np.log(senior.ci_high) - np.log(senior.index) == pytest.approx(  # type: ignore[arg-type]
        np.log(senior.index) - np.log(senior.ci_low)  # type: ignore[arg-type]
    )
    n_users = int(np.nansum(used))
    assert sum(r.n_users for r in by_group.values()) == n_users  # type: ignore[misc]
    assert senior.df == n_users - 1
    json.dumps(senior.to_dict(), allow_nan=False)


def test_reach_of_group_without_users(users: tuple[SurveyDesign, np.ndarray, pd.DataFrame]) -> None:
    design, used, groups = users
    register = {"age": {**REGISTER["age"], "young": 0.1, "child": 0.1}}
    child = next(r for r in reach_indices(design, used, groups, register) if r.group == "child")
    assert child.n_users == 0 and child.index == 0 and child.ci_low == 0
    assert child.ci_high is not None and 0 < child.ci_high < 1 and child.under_reached


def test_reach_input_errors(users: tuple[SurveyDesign, np.ndarray, pd.DataFrame]) -> None:
    design, used, groups = users
    with pytest.raises(UnknownCategoryError):
        reach_indices(design, used, groups, {"age": {"young": 0.5, "adult": 0.5}})
    with pytest.raises(InvalidInputError):
        reach_indices(design, used, groups, {"age": {"young": 0.7, "adult": 0.5, "senior": 0.3}})
    with pytest.raises(InvalidInputError):
        reach_indices(design, used, groups, {"region": {"x": 1.0}})


def test_response_rates_and_representativeness() -> None:
    rates = {r.group: r for r in response_rates({"a": 100, "b": 300, "c": 0}, {"a": 50, "b": 50})}
    assert rates["a"].response_rate == 0.5 and rates["b"].response_rate == pytest.approx(1 / 6)
    assert rates["a"].representativeness == pytest.approx((50 / 100) / (100 / 400))
    assert rates["b"].representativeness == pytest.approx((50 / 100) / (300 / 400))
    assert rates["c"].response_rate is None and rates["c"].representativeness is None
    json.dumps([r.to_dict() for r in rates.values()], allow_nan=False)
    against_register = {
        r.group: r for r in response_rates({"a": 100, "b": 300}, {"a": 50, "b": 50}, {"a": 1, "b": 1})
    }
    assert against_register["a"].representativeness == pytest.approx(0.5 / 0.5)
    assert against_register["b"].invited_share == pytest.approx(0.75)
    with pytest.raises(UnknownCategoryError):
        response_rates({"a": 10, "b": 5}, {"a": 1}, {"a": 3})
    with pytest.raises(InvalidInputError):
        response_rates({"a": 10}, {"a": 11})
    with pytest.raises(UnknownCategoryError):
        response_rates({"a": 10}, {"b": 1})


# --------------------------------------------------------------------------------------
# Suppression


def _cells(counts: dict[str, int], total: int) -> list[CellCount]:
    return [CellCount("q", None, None, total)] + [CellCount("q", "g", k, v) for k, v in counts.items()]


def test_threshold_below_five_rejected() -> None:
    with pytest.raises(InvalidThresholdError):
        plan_suppression([], threshold=4)
    with pytest.raises(InvalidThresholdError):
        plan_suppression([], threshold=7.5)  # type: ignore[arg-type]


def test_single_small_cell_gets_a_complement() -> None:
    plan = plan_suppression(_cells({"a": 4, "b": 30, "c": 12, "d": 50}, 96))
    reasons = {d.group: d.reason for d in plan.decisions if d.group_var}
    assert reasons == {"a": "primary", "b": None, "c": "complementary", "d": None}


def test_hidden_cells_must_add_up_to_the_threshold() -> None:
    # Two tiny cells hidden together would still reveal "both are tiny": hide one more.
    plan = plan_suppression(_cells({"a": 2, "b": 3, "c": 40, "d": 20}, 65))
    reasons = {d.group: d.reason for d in plan.decisions if d.group_var}
    assert reasons == {"a": "primary", "b": "primary", "c": None, "d": "complementary"}


def test_empty_cells_are_not_suppressed_and_do_not_protect() -> None:
    plan = plan_suppression(_cells({"a": 6, "b": 0, "c": 25}, 31))
    reasons = {d.group: d.reason for d in plan.decisions if d.group_var}
    assert reasons == {"a": "primary", "b": None, "c": "complementary"}


def test_no_suppression_when_all_cells_are_large() -> None:
    plan = plan_suppression(_cells({"a": 10, "b": 11}, 21))
    assert not plan.suppressed


def test_suppressed_estimates_carry_no_numbers() -> None:
    rng = np.random.default_rng(8)
    n = 200
    groups = pd.DataFrame({"g": np.r_[["tiny"] * 3, rng.choice(["x", "y", "z"], n - 3)]})
    items = pd.DataFrame({"q": (rng.random(n) < 0.5).astype(float)})
    design = SurveyDesign.from_weights(rng.uniform(1, 2, n))
    estimates = estimate_table(design, items, groups)
    blanked, plan = suppress_estimates(estimates, threshold=10)
    hidden = [e for e in blanked if e.suppressed]
    assert {e.group for e in hidden if e.suppressed == "primary"} == {"tiny"}
    assert len(hidden) == 2
    for e in hidden:
        assert (e.n, e.estimate, e.se, e.ci_low, e.ci_high, e.df, e.weight_sum) == (None,) * 7
        as_dict = e.to_dict()
        assert all(as_dict[k] is None for k in ("n", "estimate", "se", "ci_low", "ci_high", "df"))
    assert json.loads(json.dumps(plan.to_dict()))["threshold"] == 10
    comparisons = suppress_comparisons(group_vs_rest(tabulate(design, items, groups), adjust="holm"), plan)
    for c in comparisons:
        if c.group in {e.group for e in hidden}:
            assert c.suppressed and c.difference is None and c.p_value is None and c.n_group is None
        else:
            assert not c.suppressed and c.difference is not None


def test_suppress_reach_blanks_small_groups() -> None:
    rng = np.random.default_rng(6)
    n = 400
    group = np.r_[["rare"] * 5, rng.choice(["a", "b", "c"], n - 5)]
    used = np.ones(n)
    design = SurveyDesign.unweighted(n)
    register = {"grp": {"rare": 0.05, "a": 0.3, "b": 0.3, "c": 0.35}}
    indices = reach_indices(design, used, pd.DataFrame({"grp": group}), register)
    blanked, plan = suppress_reach(indices, threshold=10)
    hidden = [r for r in blanked if r.suppressed]
    assert {r.group for r in hidden if r.suppressed == "primary"} == {"rare"}
    assert len(hidden) == 2 and all(r.index is None and r.n_users is None for r in hidden)
    assert len(plan.suppressed) == 2


# --------------------------------------------------------------------------------------
# Purity


WEB_OR_DATABASE = {
    "flask",
    "flask_babel",
    "flask_limiter",
    "flask_migrate",
    "flask_sqlalchemy",
    "flask_wtf",
    "gunicorn",
    "psycopg",
    "psycopg2",
    "redis",
    "rq",
    "sqlalchemy",
    "werkzeug",
    "wtforms",
}
APP_MODULES = ("surveyapp.models", "surveyapp.extensions", "surveyapp.views", "surveyapp.errors")


def test_analysis_package_imports_no_web_or_database_code() -> None:
    package = Path(surveyapp.analysis.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in WEB_OR_DATABASE, f"{path.name} imports {name}"
                assert name != "surveyapp", f"{path.name} imports the app package"
                assert not name.startswith(APP_MODULES), f"{path.name} imports {name}"
