"""Weighted proportions and means, overall and per domain, with R-identical linearised SEs.

Matches R `survey`: `svymean` / `svyby(~y, ~g, design, svymean)` for estimates and SEs
(domains keep every respondent for the variance; respondents who did not answer an item are
outside its domain, as `na.rm=TRUE`), `svyciprop(method="logit"|"beta")` for proportion
intervals and `confint(svymean, df=degf)` t-intervals for means. A domain's degrees of freedom
are R's `degf` of the subset: respondents in the cell minus one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from surveyapp.analysis._cube import (
    GroupCube,
    build_cubes,
    code_groups,
    numeric_matrix,
    overall_coding,
)
from surveyapp.analysis._dist import beta_ppf, t_ppf
from surveyapp.analysis._plain import optional_float, plain
from surveyapp.analysis.design import SurveyDesign, variance_from_moments
from surveyapp.analysis.errors import InvalidInputError
from surveyapp.analysis.weights import FloatArray

Kind = Literal["proportion", "mean"]
CiMethod = Literal["logit", "beta", "likelihood", "asin", "mean"]
CI_METHODS: tuple[str, ...] = ("logit", "beta", "likelihood", "asin", "mean")
SuppressionReason = Literal["primary", "complementary"]


@dataclass(frozen=True)
class Estimate:
    """One cell: an item overall (group_var None) or within one category of a group variable.

    n is the number of respondents in the cell who answered the item. Undefined numbers (an
    empty cell, a CI with df ≤ 0) are None, and a suppressed cell carries no numbers at all.
    """

    item: str
    kind: Kind
    group_var: str | None
    group: Hashable | None
    n: int | None
    weight_sum: float | None
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    df: int | None
    ci_method: str
    level: float
    suppressed: SuppressionReason | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


@dataclass(frozen=True, eq=False)
class DomainTable:
    """Aggregates of items by every group variable: the input of estimates, tests and reach."""

    design: SurveyDesign
    items: tuple[str, ...]
    kinds: tuple[Kind, ...]
    shift: FloatArray  # subtracted from mean items before aggregating, for numerical precision
    cubes: tuple[GroupCube, ...]  # the first is the whole sample as a single domain


@dataclass(frozen=True, eq=False)
class DomainStatistics:
    """Point estimates and variances of one group variable: arrays D × J (domains × items)."""

    n: FloatArray
    weight_sum: FloatArray
    estimate: FloatArray
    variance: FloatArray


def tabulate(
    design: SurveyDesign,
    items: pd.DataFrame,
    groups: pd.DataFrame | None = None,
    *,
    kinds: Kind | Mapping[str, Kind] = "proportion",
) -> DomainTable:
    """Aggregate items (0/1 for proportions, numbers for means, NaN = not answered) by group.

    `groups` holds one column per group variable (codes or labels, missing = in no domain);
    its rows, like those of `items`, are the design's respondents in the same order (rows
    are matched by position; the frames' index is ignored). `kinds` is one kind for all
    items or a mapping item → kind; unlisted items are proportions.
    """
    names = tuple(str(column) for column in items.columns)
    if len(set(names)) != len(names):
        raise InvalidInputError("Item names must be unique.")
    item_kinds = _item_kinds(names, kinds)
    values = numeric_matrix(items, design.n, "items")
    is_proportion = np.array([kind == "proportion" for kind in item_kinds], dtype=bool)
    if is_proportion.any():
        binary = values[:, is_proportion]
        bad = ~np.isnan(binary) & (binary != 0) & (binary != 1)
        if bad.any():
            column = np.array(names)[is_proportion][np.flatnonzero(bad.any(axis=0))[0]]
            raise InvalidInputError(f"Proportion item {column!r} must be 0/1 (NaN if missing).")
    # Shift mean items by their overall weighted mean: Σw²y² − (Σw²y)²/… style sums then stay
    # well conditioned even for large-valued items, and the linearised scores are unchanged.
    shift = np.zeros(len(names))
    if (~is_proportion).any():
        means = values[:, ~is_proportion]
        answered = ~np.isnan(means)
        weighted = np.where(answered, means, 0.0).T @ design.weights
        total = answered.T.astype(np.float64) @ design.weights
        shift[~is_proportion] = np.divide(weighted, total, out=np.zeros_like(weighted), where=total > 0)
        values = values - shift
    codings = [overall_coding(design.n), *code_groups(groups, design.n)]
    cubes = build_cubes(design, values, codings, ~is_proportion)
    return DomainTable(design, names, item_kinds, shift, tuple(cubes))


def domain_statistics(design: SurveyDesign, cube: GroupCube) -> DomainStatistics:
    """Ratio means per domain and their linearised variances (calibration-adjusted)."""
    n_cells, n_domains, n_items = cube.count.shape
    weight_sum = cube.w_sum.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = cube.w_y.sum(axis=0) / weight_sum
        slope = np.where(weight_sum > 0, 1.0 / weight_sum, 0.0)
    # Score in a domain: e = (y − θ)/W = slope·y + intercept; zero outside the domain.
    intercept = np.where(weight_sum > 0, -estimate * slope, 0.0)
    variance = variance_from_moments(
        design,
        cell_e=(slope * cube.sum_y + intercept * cube.count).reshape(n_cells, -1),
        total_we=(slope * cube.w_y + intercept * cube.w_sum).sum(axis=0).ravel(),
        cell_w2e=(slope * cube.w2_y + intercept * cube.w2_sum).reshape(n_cells, -1),
        total_w2e2=(slope**2 * cube.w2_yy + 2 * slope * intercept * cube.w2_y + intercept**2 * cube.w2_sum)
        .sum(axis=0)
        .ravel(),
    ).reshape(n_domains, n_items)
    return DomainStatistics(
        n=cube.count.sum(axis=0),
        weight_sum=weight_sum,
        estimate=estimate,
        variance=np.where(weight_sum > 0, variance, np.nan),
    )


def table_estimates(
    table: DomainTable, *, ci_method: CiMethod = "logit", level: float = 0.95
) -> list[Estimate]:
    """Every item overall and in every domain of every group variable, with SE and CI."""
    _check_level(level)
    if ci_method not in CI_METHODS:
        raise InvalidInputError(f"ci_method must be one of {CI_METHODS}, not {ci_method!r}.")
    design = table.design
    is_proportion = np.array([kind == "proportion" for kind in table.kinds])
    results: list[Estimate] = []
    for cube in table.cubes:
        statistics = domain_statistics(design, cube)
        estimate = statistics.estimate + table.shift
        se = np.sqrt(statistics.variance)
        n = statistics.n
        df = n - 1
        low, high = t_interval(estimate, se, df, level)
        if is_proportion.any():
            p, s, d, cell_n = (a[:, is_proportion] for a in (estimate, se, df, n))
            weight = statistics.weight_sum[:, is_proportion]
            p_low, p_high = proportion_interval(ci_method, p, s, d, cell_n, weight, design, level)
            low[:, is_proportion] = p_low
            high[:, is_proportion] = p_high
        results.extend(_cube_estimates(table, cube, statistics, estimate, se, low, high, ci_method, level))
    return results


def estimate_table(
    design: SurveyDesign,
    items: pd.DataFrame,
    groups: pd.DataFrame | None = None,
    *,
    kinds: Kind | Mapping[str, Kind] = "proportion",
    ci_method: CiMethod = "logit",
    level: float = 0.95,
) -> list[Estimate]:
    """Estimates for every item overall and by every group variable (see `tabulate`)."""
    table = tabulate(design, items, groups, kinds=kinds)
    return table_estimates(table, ci_method=ci_method, level=level)


def proportion_interval(
    ci_method: CiMethod,
    p: FloatArray,
    se: FloatArray,
    df: FloatArray,
    n: FloatArray,
    weight_sum: FloatArray,
    design: SurveyDesign,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """Dispatch to the R `svyciprop` method of that name."""
    if ci_method == "logit":
        return logit_interval(p, se, df, n, level)
    if ci_method == "beta":
        # R's svyciprop(method="beta") scales n_eff by qt(nrow(design) − 1)/qt(degf): nrow of a
        # domain subset is the domain size, except that a calibrated design keeps all rows
        # (weights set to zero), so R uses the full sample size there.
        rows = np.full_like(n, design.n) if design.is_calibrated else n
        return korn_graubard_interval(p, se, df, n, rows, level)
    if ci_method == "likelihood":
        # svyglm rescales weights to mean 1 over the rows of the (domain) design; a calibrated
        # design keeps all rows, an uncalibrated subset only the domain's.
        scaled_total = design.n * weight_sum / float(design.weights.sum()) if design.is_calibrated else n
        return likelihood_interval(p, se, df, n, scaled_total, level)
    if ci_method == "asin":
        return asin_interval(p, se, df, n, level)
    low, high = t_interval(p, se, df, level)
    edge_low, edge_high = _boundary_interval(p, n, df, level)
    inside = (p > 0) & (p < 1)
    return np.where(inside, low, edge_low), np.where(inside, high, edge_high)


def likelihood_interval(
    p: npt.ArrayLike,
    se: npt.ArrayLike,
    df: npt.ArrayLike,
    n: npt.ArrayLike,
    scaled_weight_total: npt.ArrayLike,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """R `svyciprop(method="likelihood")`: design-scaled profile likelihood of logit(p).

    R profiles the quasibinomial deviance of y ~ 1: z(μ)² = 2(n − 1)·KL(p̂ ‖ μ) (deviance over
    the Pearson dispersion), and cuts it at t_{df}·√λ with λ = design variance / model
    variance of the logit, model variance 1/(W·p̂(1 − p̂)) for mean-one weights totalling W.
    R interpolates a spline through profile points; we solve exactly (agrees to ~1e-6).
    """
    prop, s, d, count, total = (np.asarray(a, dtype=np.float64) for a in (p, se, df, n, scaled_weight_total))
    inside = (prop > 0) & (prop < 1) & (s > 0) & (d >= 1) & (count > 1)
    safe_p = np.where(inside, prop, 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        design_effect = s**2 * total / (safe_p * (1 - safe_p))
        cutoff = _t_quantile(d, level) ** 2 * design_effect
    centre = special.logit(safe_p)

    def excess(beta: FloatArray) -> FloatArray:
        mu = special.expit(beta)
        kl = special.xlogy(safe_p, safe_p / mu) + special.xlogy(1 - safe_p, (1 - safe_p) / (1 - mu))
        result: FloatArray = 2 * (count - 1) * kl - cutoff
        return result

    bounds = []
    for direction in (-1.0, 1.0):
        near, far = centre.copy(), centre + direction * 40.0
        for _ in range(90):
            middle = (near + far) / 2
            beyond = excess(middle) > 0
            far = np.where(beyond, middle, far)
            near = np.where(beyond, near, middle)
        bounds.append(special.expit((near + far) / 2))
    edge_low, edge_high = _boundary_interval(prop, count, d, level)
    return np.where(inside, bounds[0], edge_low), np.where(inside, bounds[1], edge_high)


def asin_interval(
    p: npt.ArrayLike, se: npt.ArrayLike, df: npt.ArrayLike, n: npt.ArrayLike, level: float
) -> tuple[FloatArray, FloatArray]:
    """R `svyciprop(method="asin")`: t-interval on asin(√p), SE by the delta method.

    The angle is kept within [0, π/2] so the bounds stay ordered (R wraps around there).
    """
    prop, s, d, count = (np.asarray(a, dtype=np.float64) for a in (p, se, df, n))
    inside = (prop > 0) & (prop < 1)
    safe_p = np.where(inside, prop, 0.5)
    half = _t_quantile(d, level) * s / (2 * np.sqrt(safe_p * (1 - safe_p)))
    angle = np.arcsin(np.sqrt(safe_p))
    low = np.sin(np.clip(angle - half, 0, np.pi / 2)) ** 2
    high = np.sin(np.clip(angle + half, 0, np.pi / 2)) ** 2
    edge_low, edge_high = _boundary_interval(prop, count, d, level)
    return np.where(inside, low, edge_low), np.where(inside, high, edge_high)


def t_interval(
    estimate: npt.ArrayLike, se: npt.ArrayLike, df: npt.ArrayLike, level: float
) -> tuple[FloatArray, FloatArray]:
    """estimate ± t_{df, 1−α/2} · se; NaN where df < 1."""
    est, s, d = (np.asarray(a, dtype=np.float64) for a in (estimate, se, df))
    quantile = _t_quantile(d, level)
    return est - quantile * s, est + quantile * s


def logit_interval(
    p: npt.ArrayLike, se: npt.ArrayLike, df: npt.ArrayLike, n: npt.ArrayLike, level: float
) -> tuple[FloatArray, FloatArray]:
    """R `svyciprop(method="logit")`: a t-interval on logit(p), SE(logit) = SE(p)/(p(1−p)).

    Where p is 0 or 1 the logit interval does not exist (R returns a degenerate fit); we give
    the Clopper-Pearson interval for n respondents instead, so a 0 % cell still has a
    sensible upper bound.
    """
    prop, s, d, count = (np.asarray(a, dtype=np.float64) for a in (p, se, df, n))
    quantile = _t_quantile(d, level)
    inside = (prop > 0) & (prop < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = special.logit(np.where(inside, prop, 0.5))
        half = quantile * s / (prop * (1 - prop))
        low = np.where(inside, special.expit(centre - half), np.nan)
        high = np.where(inside, special.expit(centre + half), np.nan)
    edge_low, edge_high = _boundary_interval(prop, count, d, level)
    return np.where(inside, low, edge_low), np.where(inside, high, edge_high)


def korn_graubard_interval(
    p: npt.ArrayLike,
    se: npt.ArrayLike,
    df: npt.ArrayLike,
    n: npt.ArrayLike,
    n_rows: npt.ArrayLike,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """R `svyciprop(method="beta")`: Clopper-Pearson with the effective sample size.

    n_eff = p(1−p)/Var(p) · (t_{n_rows−1}/t_{df})², then beta quantiles. Where p is 0 or 1
    (variance zero, R gives NaN) the effective size falls back to the n respondents.
    """
    prop, s, d, count, rows = (np.asarray(a, dtype=np.float64) for a in (p, se, df, n, n_rows))
    alpha = 1 - level
    inside = (prop > 0) & (prop < 1) & (s > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = t_ppf(alpha / 2, rows - 1) / t_ppf(alpha / 2, d)
        n_eff = np.where(inside, prop * (1 - prop) / s**2 * ratio**2, 1.0)
        low = beta_ppf(alpha / 2, n_eff * prop, n_eff * (1 - prop) + 1)
        high = beta_ppf(1 - alpha / 2, n_eff * prop + 1, n_eff * (1 - prop))
    edge_low, edge_high = _boundary_interval(prop, count, d, level)
    defined = inside & (d >= 1)
    return np.where(defined, low, edge_low), np.where(defined, high, edge_high)


def _boundary_interval(
    prop: FloatArray, n: FloatArray, df: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """Clopper-Pearson bounds at p = 0 or 1 (1 − (α/2)^{1/n}); p itself if the SE is zero."""
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        tail = np.power(alpha / 2, 1.0 / n)
    low = np.where(prop <= 0, 0.0, np.where(prop >= 1, tail, prop))
    high = np.where(prop <= 0, 1 - tail, np.where(prop >= 1, 1.0, prop))
    undefined = ~(df >= 1) | ~np.isfinite(prop)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def _t_quantile(df: FloatArray, level: float) -> FloatArray:
    with np.errstate(invalid="ignore"):
        quantile: FloatArray = np.where(df >= 1, t_ppf(0.5 + level / 2, np.maximum(df, 1)), np.nan)
    return quantile


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")


def _item_kinds(names: tuple[str, ...], kinds: Kind | Mapping[str, Kind]) -> tuple[Kind, ...]:
    if isinstance(kinds, str):
        chosen: list[Kind] = [kinds] * len(names)
    else:
        unknown = set(kinds) - set(names)
        if unknown:
            raise InvalidInputError(f"kinds names unknown items: {sorted(unknown)!r}")
        chosen = [kinds.get(name, "proportion") for name in names]
    for kind in chosen:
        if kind not in ("proportion", "mean"):
            raise InvalidInputError(f"Item kind must be 'proportion' or 'mean', not {kind!r}.")
    return tuple(chosen)


def _cube_estimates(
    table: DomainTable,
    cube: GroupCube,
    statistics: DomainStatistics,
    estimate: FloatArray,
    se: FloatArray,
    low: FloatArray,
    high: FloatArray,
    ci_method: CiMethod,
    level: float,
) -> list[Estimate]:
    """Turn the D × J arrays of one group variable into Estimate records."""
    coding = cube.coding
    n = statistics.n.astype(np.int64)
    columns = [n, statistics.weight_sum, estimate, se, low, high]
    lists = [np.where(np.isfinite(a), a, np.nan).tolist() for a in columns]
    lists[0] = n.tolist()
    results = []
    for d, category in enumerate(coding.categories):
        row_n, row_w, row_e, row_se, row_low, row_high = (values[d] for values in lists)
        for j, item in enumerate(table.items):
            count = int(row_n[j])
            defined = count > 0
            kind = table.kinds[j]
            results.append(
                Estimate(
                    item=item,
                    kind=kind,
                    group_var=coding.name,
                    group=category,
                    n=count,
                    weight_sum=float(row_w[j]),
                    estimate=optional_float(row_e[j]) if defined else None,
                    se=optional_float(row_se[j]) if defined else None,
                    ci_low=optional_float(row_low[j]) if defined else None,
                    ci_high=optional_float(row_high[j]) if defined else None,
                    df=count - 1 if defined else None,
                    ci_method=ci_method if kind == "proportion" else "t",
                    level=level,
                )
            )
    return results
