"""Design-based tests: Rao-Scott, group versus rest, multiplicity, logistic regression, waves.

All follow R `survey` 4.1: `svychisq(statistic="F"|"Chisq")`, contrasts of `svyby` domain
means with their covariance, and `svyglm(family=quasibinomial())`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from surveyapp.analysis._cube import (
    BLOCK_ELEMENTS,
    GroupCoding,
    GroupCube,
    build_cubes,
    code_group,
    code_groups,
)
from surveyapp.analysis._dist import chi2_sf, f_sf, t_ppf, t_sf
from surveyapp.analysis._plain import optional_float, plain, plain_label
from surveyapp.analysis.design import (
    SurveyDesign,
    linearised_covariance,
    variance_from_moments,
)
from surveyapp.analysis.errors import InvalidInputError, ModelFitError
from surveyapp.analysis.estimates import DomainTable, Estimate, Kind
from surveyapp.analysis.weights import FloatArray

AdjustMethod = Literal["holm", "fdr_bh"]
ADJUST_METHODS: tuple[str, ...] = ("holm", "fdr_bh", "none")


# --------------------------------------------------------------------------------------
# Multiple comparisons


def adjust_p_values(p_values: Sequence[float | None], method: AdjustMethod) -> list[float | None]:
    """Holm or Benjamini-Hochberg adjusted p-values (as R ``p.adjust``); None entries stay None."""
    if method not in ("holm", "fdr_bh"):
        raise InvalidInputError(f"Adjustment method must be 'holm' or 'fdr_bh', not {method!r}.")
    present = [index for index, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    if present:
        raw = np.array([p_values[index] for index in present], dtype=np.float64)
        corrected = _holm(raw) if method == "holm" else _benjamini_hochberg(raw)
        for index, value in zip(present, corrected, strict=True):
            adjusted[index] = float(value)
    return adjusted


# Both corrections are a sort and a cumulative extreme (R's p.adjust, a few lines each); written
# out here rather than imported from statsmodels, whose import alone took 0.3 s of the analysis.
def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down: the k-th smallest p times (m - k + 1), made monotone, capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    return result


def _benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg: the k-th smallest p times m / k, made monotone from the top, capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="stable")[::-1]
    scaled = p[order] * m / (m - np.arange(m))
    stepped = np.minimum.accumulate(scaled)
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    return result


def _check_adjust(adjust: str) -> None:
    """Reject unknown adjustment names early, before any work is done."""
    if adjust not in ADJUST_METHODS:
        raise InvalidInputError(f"adjust must be one of {ADJUST_METHODS}, not {adjust!r}.")


# --------------------------------------------------------------------------------------
# Rao-Scott tests of independence


@dataclass(frozen=True)
class RaoScottTest:
    """Association of an item with a group variable, R `svychisq(~item+group)`.

    `f`, `ndf`, `ddf`, `p_value`: second-order Rao-Scott F (R statistic="F").
    `pearson`: Pearson X² of the weighted table scaled to the sample size (as R reports it
    for statistic="Chisq"); `chisq_p_value` is the first-order correction X²/mean(δ) on
    (r−1)(c−1) df, whose statistic is `chisq`. Categories without respondents are dropped;
    with fewer than two rows or columns left the test is undefined (numbers None).
    """

    item: str
    group_var: str
    n: int
    rows: int
    columns: int
    f: float | None
    ndf: float | None
    ddf: float | None
    p_value: float | None
    pearson: float | None
    chisq: float | None
    chisq_df: int | None
    chisq_p_value: float | None
    mean_design_effect: float | None
    p_adjusted: float | None = None
    adjustment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def rao_scott_table(
    design: SurveyDesign,
    count: FloatArray,
    w_sum: FloatArray,
    w2_sum: FloatArray,
    *,
    item: str = "",
    group_var: str = "",
) -> RaoScottTest:
    """Rao-Scott tests from per-(raking cell, row, column) sums (G × R × C arrays).

    Sums are over respondents with both variables known: count, Σw and Σw².
    """
    return rao_scott_batch(design, count[None], w_sum[None], w2_sum[None], items=[item], group_var=group_var)[
        0
    ]


def rao_scott_batch(
    design: SurveyDesign,
    count: FloatArray,
    w_sum: FloatArray,
    w2_sum: FloatArray,
    *,
    items: Sequence[str],
    group_var: str,
) -> list[RaoScottTest]:
    """Rao-Scott tests of T tables at once, from sums shaped T × G × R × C.

    Tables are grouped by which rows and columns have respondents (empty categories are
    dropped), and each group is computed with batched linear algebra.
    """
    weighted = w_sum.sum(axis=1)  # T × R × C
    keep_rows = weighted.sum(axis=2) > 0
    keep_columns = weighted.sum(axis=1) > 0
    patterns: dict[tuple[bytes, bytes], list[int]] = defaultdict(list)
    for t in range(count.shape[0]):
        patterns[(keep_rows[t].tobytes(), keep_columns[t].tobytes())].append(t)
    results: list[RaoScottTest | None] = [None] * count.shape[0]
    for members in patterns.values():
        rows = keep_rows[members[0]]
        columns = keep_columns[members[0]]
        index = np.array(members)
        subset = [a[index][:, :, rows][:, :, :, columns] for a in (count, w_sum, w2_sum)]
        tests = _rao_scott_same_shape(design, *subset, items=[items[t] for t in members], group_var=group_var)
        for t, test in zip(members, tests, strict=True):
            results[t] = test
    return [test for test in results if test is not None]


def _rao_scott_same_shape(
    design: SurveyDesign,
    count: FloatArray,
    w_sum: FloatArray,
    w2_sum: FloatArray,
    *,
    items: list[str],
    group_var: str,
) -> list[RaoScottTest]:
    """Rao-Scott for T tables that all keep the same rows and columns (T × G × R × C sums)."""
    n_tables, n_cells, n_rows, n_columns = count.shape
    respondents = [round(float(c)) for c in count.sum(axis=(1, 2, 3))]
    if n_rows < 2 or n_columns < 2:
        return [
            RaoScottTest(
                item=item,
                group_var=group_var,
                n=n,
                rows=n_rows,
                columns=n_columns,
                f=None,
                ndf=None,
                ddf=None,
                p_value=None,
                pearson=None,
                chisq=None,
                chisq_df=None,
                chisq_p_value=None,
                mean_design_effect=None,
            )
            for item, n in zip(items, respondents, strict=True)
        ]
    # Cells in R's order: interaction(rows, cols) with the row index varying fastest.
    n_k = n_rows * n_columns
    count_k = count.transpose(0, 1, 3, 2).reshape(n_tables, n_cells, n_k)
    w_k = w_sum.transpose(0, 1, 3, 2).reshape(n_tables, n_cells, n_k)
    w2_k = w2_sum.transpose(0, 1, 3, 2).reshape(n_tables, n_cells, n_k)
    total = w_k.sum(axis=(1, 2))[:, None]  # T × 1
    p = w_k.sum(axis=1) / total  # T × K
    # Score of cell k's proportion: e = (1[cell = k] − p_k)/W for respondents in the table.
    cell_e = (count_k - p[:, None, :] * count_k.sum(axis=2, keepdims=True)) / total[:, None]
    total_we = (w_k.sum(axis=1) - p * total) / total
    cell_w2e = (w2_k - p[:, None, :] * w2_k.sum(axis=2, keepdims=True)) / total[:, None]
    w2_cell = w2_k.sum(axis=1)  # T × K
    w2_total = w2_cell.sum(axis=1)[:, None, None]
    outer_p_w2 = p[:, :, None] * w2_cell[:, None, :]
    w2ee = (
        np.einsum("tk,kl->tkl", w2_cell, np.eye(n_k))
        - outer_p_w2
        - outer_p_w2.transpose(0, 2, 1)
        + p[:, :, None] * p[:, None, :] * w2_total
    ) / (total[:, :, None] ** 2)
    covariance = _batched_covariance(design, cell_e, total_we, cell_w2e, w2ee)

    sample_size = design.n  # R: N = nrow(model matrix) = all rows of the design
    nu = design.degf
    contrast = _interaction_contrast(n_rows, n_columns)  # K × q
    inverse_p = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), 0.0)
    scaled = contrast[None] * inverse_p[:, :, None]  # T × K × q
    denominator = np.einsum("kq,tkr->tqr", contrast, scaled) / sample_size
    numerator = np.einsum("tkq,tkl,tlr->tqr", scaled, covariance, scaled)
    delta = np.linalg.solve(denominator, numerator)
    trace = np.trace(delta, axis1=1, axis2=2)
    trace_sq = np.einsum("tqr,trq->t", delta, delta)

    table = p.reshape(n_tables, n_columns, n_rows).transpose(0, 2, 1) * sample_size
    expected = table.sum(axis=2)[:, :, None] * table.sum(axis=1)[:, None, :] / sample_size
    pearson = np.sum((table - expected) ** 2 / expected, axis=(1, 2))
    df = (n_rows - 1) * (n_columns - 1)
    ndf = trace**2 / trace_sq
    f = pearson / trace
    chisq = pearson / (trace / df)
    p_f = f_sf(f, ndf, ndf * nu)
    p_chisq = chi2_sf(chisq, df)
    return [
        RaoScottTest(
            item=items[t],
            group_var=group_var,
            n=respondents[t],
            rows=n_rows,
            columns=n_columns,
            f=optional_float(float(f[t])),
            ndf=optional_float(float(ndf[t])),
            ddf=optional_float(float(ndf[t] * nu)),
            p_value=optional_float(float(p_f[t])),
            pearson=optional_float(float(pearson[t])),
            chisq=optional_float(float(chisq[t])),
            chisq_df=df,
            chisq_p_value=optional_float(float(p_chisq[t])),
            mean_design_effect=optional_float(float(trace[t] / df)),
        )
        for t in range(n_tables)
    ]


def _interaction_contrast(n_rows: int, n_columns: int) -> FloatArray:
    """R's Cmat: interaction dummies made orthogonal to the main effects (qr.resid)."""
    rows = np.tile(np.arange(n_rows), n_columns)
    columns = np.repeat(np.arange(n_columns), n_rows)
    row_dummies = (rows[:, None] == np.arange(1, n_rows)).astype(np.float64)
    column_dummies = (columns[:, None] == np.arange(1, n_columns)).astype(np.float64)
    main_effects = np.column_stack((np.ones(rows.size), row_dummies, column_dummies))
    interactions = (row_dummies[:, :, None] * column_dummies[:, None, :]).reshape(rows.size, -1)
    coefficients, *_ = np.linalg.lstsq(main_effects, interactions, rcond=None)
    result: FloatArray = interactions - main_effects @ coefficients
    return result


def _batched_covariance(
    design: SurveyDesign,
    cell_e: FloatArray,
    total_we: FloatArray,
    cell_w2e: FloatArray,
    total_w2ee: FloatArray,
) -> FloatArray:
    """`covariance_from_moments` for T estimator sets at once (T × G × K inputs)."""
    sum_x = total_we
    sum_xx = total_w2ee
    if design.is_calibrated:
        offsets = np.einsum("gh,thk->tgk", design.offset_map, cell_e)
        sum_x = sum_x - np.einsum("g,tgk->tk", design.cell_weight, offsets)
        cross = np.einsum("tgk,tgl->tkl", offsets, cell_w2e)
        sum_xx = (
            sum_xx
            - cross
            - cross.transpose(0, 2, 1)
            + np.einsum("tgk,g,tgl->tkl", offsets, design.cell_weight_sq, offsets)
        )
    result: FloatArray = design.variance_scale * (sum_xx - sum_x[:, :, None] * sum_x[:, None, :] / design.n)
    return result


def rao_scott_tests(table: DomainTable, *, adjust: AdjustMethod | Literal["none"]) -> list[RaoScottTest]:
    """Rao-Scott tests of every proportion (0/1) item against every group variable.

    `adjust` ('holm', 'fdr_bh' or 'none') corrects p-values within each group variable,
    across items.
    """
    _check_adjust(adjust)
    columns = [j for j, kind in enumerate(table.kinds) if kind == "proportion"]
    items = [table.items[j] for j in columns]
    results: list[RaoScottTest] = []
    for cube in table.cubes[1:]:
        # Row 0: answered 0; row 1: answered 1 (the item's sums give both). T × G × 2 × D.
        def rows(total: FloatArray, ones: FloatArray) -> FloatArray:
            picked_total, picked_ones = total[..., columns], ones[..., columns]
            return np.stack((picked_total - picked_ones, picked_ones), axis=1).transpose(3, 0, 1, 2)

        family = rao_scott_batch(
            table.design,
            rows(cube.count, cube.sum_y),
            rows(cube.w_sum, cube.w_y),
            rows(cube.w2_sum, cube.w2_y),
            items=items,
            group_var=str(cube.coding.name),
        )
        results.extend(_adjusted(family, adjust))
    return results


def rao_scott_categorical(
    design: SurveyDesign,
    answers: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    adjust: AdjustMethod | Literal["none"],
) -> list[RaoScottTest]:
    """Rao-Scott tests of multi-category answers (codes or labels, NaN missing) by group."""
    _check_adjust(adjust)
    if len(answers) != design.n:
        raise InvalidInputError(f"answers has {len(answers)} rows; the design has {design.n}.")
    codings = code_groups(groups, design.n)
    answer_codings = [code_group(str(name), answers[name]) for name in answers.columns]
    per_group: dict[int, list[RaoScottTest]] = defaultdict(list)
    batch: list[int] = []
    batch_width = 0
    limit = max(1, BLOCK_ELEMENTS // max(design.n, 1)) * 4
    for index, coding in enumerate(answer_codings):
        batch.append(index)
        batch_width += len(coding.categories)
        if batch_width >= limit or index == len(answer_codings) - 1:
            _categorical_batch(design, [answer_codings[i] for i in batch], codings, per_group)
            batch, batch_width = [], 0
    results: list[RaoScottTest] = []
    for g in range(len(codings)):
        results.extend(_adjusted(per_group[g], adjust))
    return results


def _categorical_batch(
    design: SurveyDesign,
    answer_codings: list[GroupCoding],
    codings: list[GroupCoding],
    per_group: dict[int, list[RaoScottTest]],
) -> None:
    """Aggregate a batch of answers as category indicators and test each against each group."""
    widths = [len(coding.categories) for coding in answer_codings]
    starts = np.concatenate(([0], np.cumsum(widths)))
    indicators = np.full((design.n, int(starts[-1])), np.nan)
    for coding, start in zip(answer_codings, starts[:-1], strict=False):
        known = coding.codes >= 0
        block = np.zeros((int(known.sum()), len(coding.categories)))
        block[np.arange(block.shape[0]), coding.codes[known]] = 1.0
        indicators[np.flatnonzero(known), start : start + len(coding.categories)] = block
    cubes = build_cubes(design, indicators, codings, np.zeros(indicators.shape[1], dtype=bool))
    for g, cube in enumerate(cubes):
        for a, coding in enumerate(answer_codings):
            columns = slice(int(starts[a]), int(starts[a + 1]))
            # For an indicator y: Σy, Σwy, Σw²y over answered rows = cell sums of that row.
            per_group[g].extend(
                rao_scott_batch(
                    design,
                    np.moveaxis(cube.sum_y[..., columns], 2, 1)[None],
                    np.moveaxis(cube.w_y[..., columns], 2, 1)[None],
                    np.moveaxis(cube.w2_y[..., columns], 2, 1)[None],
                    items=[str(coding.name)],
                    group_var=str(cube.coding.name),
                )
            )


def _adjusted(family: list[RaoScottTest], adjust: str) -> list[RaoScottTest]:
    """The family's tests with adjusted p-values and the method recorded."""
    if adjust == "none":
        return family
    adjusted = adjust_p_values([test.p_value for test in family], adjust)  # type: ignore[arg-type]
    return [
        dataclasses.replace(test, p_adjusted=value, adjustment=adjust)
        for test, value in zip(family, adjusted, strict=True)
    ]


# --------------------------------------------------------------------------------------
# Each group against the rest


@dataclass(frozen=True)
class GroupComparison:
    """A domain against the rest (respondents with another known category of the variable).

    difference = estimate_group − estimate_rest, with its linearised SE including the
    covariance of the two domain estimates (and the calibration adjustment); t test on the
    design's degrees of freedom (R `degf`, n − 1).
    """

    item: str
    kind: Kind
    group_var: str
    group: Hashable
    n_group: int | None
    n_rest: int | None
    estimate_group: float | None
    estimate_rest: float | None
    difference: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    t: float | None
    df: int
    p_value: float | None
    level: float
    p_adjusted: float | None = None
    adjustment: str | None = None
    suppressed: str | None = None
    versus: Hashable | None = None  # None: the rest; else the other category compared with

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def domain_difference(
    table: DomainTable,
    *,
    item: str,
    group_var: str,
    group: Hashable,
    versus: Hashable,
    level: float = 0.95,
) -> GroupComparison:
    """One category against another of the same group variable (R svyby + svycontrast).

    The `*_rest` fields of the result describe the `versus` category.
    """
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    cubes = [cube for cube in table.cubes[1:] if cube.coding.name == group_var]
    if not cubes or item not in table.items:
        raise InvalidInputError(f"No item {item!r} by group variable {group_var!r} in the table.")
    cube = cubes[0]
    categories = list(cube.coding.categories)
    if group not in categories or versus not in categories or group == versus:
        raise InvalidInputError(f"Need two different categories of {group_var!r}.")
    j = table.items.index(item)
    first, second = categories.index(group), categories.index(versus)
    inside = {name: getattr(cube, name)[:, first : first + 1, j : j + 1] for name in _SUM_FIELDS}
    other = {name: getattr(cube, name)[:, second : second + 1, j : j + 1] for name in _SUM_FIELDS}
    difference, se, estimate, other_estimate, n_group, n_other = (
        float(a.ravel()[0]) for a in _difference(table.design, inside, other)
    )
    df = table.design.degf
    quantile = float(t_ppf(0.5 + level / 2, df)) if df >= 1 else float("nan")
    t = difference / se if se > 0 else float("nan")
    shift = float(table.shift[j])
    return GroupComparison(
        item=item,
        kind=table.kinds[j],
        group_var=group_var,
        group=group,
        n_group=int(n_group),
        n_rest=int(n_other),
        estimate_group=optional_float(estimate + shift),
        estimate_rest=optional_float(other_estimate + shift),
        difference=optional_float(difference),
        se=optional_float(se),
        ci_low=optional_float(difference - quantile * se),
        ci_high=optional_float(difference + quantile * se),
        t=optional_float(t),
        df=df,
        p_value=optional_float(float(2 * t_sf(abs(t), df))),
        level=level,
        versus=versus,
    )


def group_vs_rest(
    table: DomainTable,
    *,
    level: float = 0.95,
    adjust: AdjustMethod | Literal["none"],
) -> list[GroupComparison]:
    """Every category of every group variable against the other categories, per item.

    `adjust` ('holm', 'fdr_bh' or 'none') corrects p-values within each (item, group
    variable) family of comparisons.
    """
    _check_adjust(adjust)
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    design = table.design
    df = design.degf
    quantile = float(t_ppf(0.5 + level / 2, df)) if df >= 1 else float("nan")
    results: list[GroupComparison] = []
    for cube in table.cubes[1:]:
        difference, se, group_estimate, rest_estimate, n_group, n_rest = _rest_contrast(design, cube)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = difference / se
            p_value = 2 * t_sf(np.abs(t), df)
        low, high = difference - quantile * se, difference + quantile * se
        shift = table.shift
        arrays = [group_estimate + shift, rest_estimate + shift, difference, se, low, high, t]
        lists = [np.where(np.isfinite(a), a, np.nan).tolist() for a in [*arrays, p_value]]
        counts = (n_group.astype(np.int64).tolist(), n_rest.astype(np.int64).tolist())
        for j, item in enumerate(table.items):
            raw_p = [optional_float(p_value[d, j]) for d in range(len(cube.coding.categories))]
            adjusted = adjust_p_values(raw_p, adjust) if adjust != "none" else raw_p
            family = []
            for d, category in enumerate(cube.coding.categories):
                values = [optional_float(column[d][j]) for column in lists]
                family.append(
                    GroupComparison(
                        item=item,
                        kind=table.kinds[j],
                        group_var=str(cube.coding.name),
                        group=category,
                        n_group=counts[0][d][j],
                        n_rest=counts[1][d][j],
                        estimate_group=values[0],
                        estimate_rest=values[1],
                        difference=values[2],
                        se=values[3],
                        ci_low=values[4],
                        ci_high=values[5],
                        t=values[6],
                        df=df,
                        p_value=values[7],
                        level=level,
                        p_adjusted=adjusted[d] if adjust != "none" else None,
                        adjustment=adjust if adjust != "none" else None,
                    )
                )
            results.extend(family)
    return results


_SUM_FIELDS = ("count", "sum_y", "w_sum", "w_y", "w2_sum", "w2_y", "w2_yy")


def _rest_contrast(
    design: SurveyDesign, cube: GroupCube
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Difference domain − rest per (domain, item), and its SE, from the cube's sums."""
    inside = {name: getattr(cube, name) for name in _SUM_FIELDS}
    outside = {name: value.sum(axis=1, keepdims=True) - value for name, value in inside.items()}
    return _difference(design, inside, outside)


def _difference(
    design: SurveyDesign, inside: dict[str, FloatArray], outside: dict[str, FloatArray]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Difference of ratio means of two disjoint domain sets (G × D × J sums each) and its SE."""
    n_cells, n_domains, n_items = inside["count"].shape

    def score_parts(sums: dict[str, FloatArray]) -> tuple[FloatArray, ...]:
        weight = sums["w_sum"].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = sums["w_y"].sum(axis=0) / weight
            slope = np.where(weight > 0, 1.0 / weight, 0.0)
        intercept = np.where(weight > 0, -estimate * slope, 0.0)
        cell_e = slope * sums["sum_y"] + intercept * sums["count"]
        we = (slope * sums["w_y"] + intercept * sums["w_sum"]).sum(axis=0)
        cell_w2e = slope * sums["w2_y"] + intercept * sums["w2_sum"]
        w2e2 = (
            slope**2 * sums["w2_yy"] + 2 * slope * intercept * sums["w2_y"] + intercept**2 * sums["w2_sum"]
        ).sum(axis=0)
        return estimate, cell_e, we, cell_w2e, w2e2, sums["count"].sum(axis=0), weight

    est_in, e_in, we_in, w2e_in, w2e2_in, n_in, weight_in = score_parts(inside)
    est_out, e_out, we_out, w2e_out, w2e2_out, n_out, weight_out = score_parts(outside)
    # The two domains are disjoint, so Σ w²(e_in − e_out)² = Σ w² e_in² + Σ w² e_out².
    variance = variance_from_moments(
        design,
        cell_e=(e_in - e_out).reshape(n_cells, -1),
        total_we=(we_in - we_out).ravel(),
        cell_w2e=(w2e_in - w2e_out).reshape(n_cells, -1),
        total_w2e2=(w2e2_in + w2e2_out).ravel(),
    ).reshape(n_domains, n_items)
    defined = (weight_in > 0) & (weight_out > 0)
    difference = np.where(defined, est_in - est_out, np.nan)
    se = np.where(defined, np.sqrt(variance), np.nan)
    return difference, se, est_in, est_out, n_in, n_out


# --------------------------------------------------------------------------------------
# Survey-weighted logistic regression


@dataclass(frozen=True)
class Coefficient:
    """One term of a survey logistic regression (log-odds scale, R naming)."""

    term: str
    estimate: float
    se: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float
    odds_ratio: float
    odds_ratio_ci_low: float
    odds_ratio_ci_high: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


@dataclass(frozen=True)
class LogisticFit:
    """R `svyglm(y ~ ..., family=quasibinomial())`: coefficients, sandwich SEs, t tests.

    df_residual = R's degf(design restricted to complete cases) + 1 − number of coefficients.
    """

    outcome: str
    coefficients: tuple[Coefficient, ...]
    covariance: tuple[tuple[float, ...], ...]
    n: int
    df_residual: int
    iterations: int
    level: float

    def coefficient(self, term: str) -> Coefficient:
        """The coefficient of a term by R name, e.g. '(Intercept)', 'stypeH', 'meals'."""
        for coefficient in self.coefficients:
            if coefficient.term == term:
                return coefficient
        raise KeyError(term)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def survey_logistic(
    design: SurveyDesign,
    outcome: pd.Series | npt.ArrayLike,
    predictors: pd.DataFrame,
    *,
    level: float = 0.95,
    max_iterations: int = 50,
) -> LogisticFit:
    """Weighted logistic regression with linearisation (sandwich) SEs, as R `svyglm`.

    Numeric predictor columns enter as they are; other columns (strings, categoricals, bools)
    are factors with treatment contrasts against their first level (categorical order, or
    sorted as R's factor), named column + level as R does. Respondents with a missing outcome
    or predictor are left out of the fit but stay in the variance with a zero score (as R).
    """
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    name = str(outcome.name) if isinstance(outcome, pd.Series) else "outcome"
    y = np.asarray(pd.to_numeric(pd.Series(np.asarray(outcome)), errors="raise"), dtype=float)
    if y.shape != (design.n,) or len(predictors) != design.n:
        raise InvalidInputError("outcome and predictors need one row per respondent.")
    complete = ~np.isnan(y) & ~predictors.isna().any(axis=1).to_numpy()
    if np.any((y[complete] < 0) | (y[complete] > 1)):
        raise InvalidInputError(f"Outcome {name!r} must lie in [0, 1] (0/1 for yes/no).")
    x, terms = _model_matrix(predictors, complete)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ModelFitError(f"Predictors are collinear (terms {terms}); drop one of them.")
    w = design.weights[complete]
    w = w / w.mean()
    y_fit = y[complete]
    beta, iterations, information = newton_logistic(x, w, w * y_fit, max_iterations)
    mu = special.expit(x @ beta)
    scores = np.zeros((design.n, x.shape[1]))
    scores[complete] = (x * (w * (y_fit - mu))[:, None]) @ np.linalg.inv(information)
    covariance = linearised_covariance(design, scores)
    df = int(complete.sum()) - 1 + 1 - x.shape[1]
    if df < 1:
        raise ModelFitError(f"Too few complete respondents ({int(complete.sum())}) for the model.")
    return logistic_fit(name, terms, beta, covariance, int(complete.sum()), df, iterations, level)


def logistic_fit(
    outcome: str,
    terms: Sequence[str],
    beta: FloatArray,
    covariance: FloatArray,
    n: int,
    df: int,
    iterations: int,
    level: float,
) -> LogisticFit:
    """Coefficients with t tests, CIs and odds ratios (R's summary.svyglm), from a fitted model."""
    se = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    t = beta / se
    p = 2 * t_sf(np.abs(t), df)
    quantile = float(t_ppf(0.5 + level / 2, df))
    coefficients = tuple(
        Coefficient(
            term=term,
            estimate=float(b),
            se=float(s),
            t=float(tt),
            p_value=float(pp),
            ci_low=float(b - quantile * s),
            ci_high=float(b + quantile * s),
            odds_ratio=float(np.exp(b)),
            odds_ratio_ci_low=float(np.exp(b - quantile * s)),
            odds_ratio_ci_high=float(np.exp(b + quantile * s)),
        )
        for term, b, s, tt, pp in zip(terms, beta, se, t, p, strict=True)
    )
    return LogisticFit(
        outcome=outcome,
        coefficients=coefficients,
        covariance=tuple(tuple(float(v) for v in row) for row in covariance),
        n=n,
        df_residual=df,
        iterations=iterations,
        level=level,
    )


def _model_matrix(predictors: pd.DataFrame, complete: np.ndarray) -> tuple[FloatArray, list[str]]:
    """Intercept, numeric columns as they are, factors as treatment dummies (R names)."""
    columns: list[FloatArray] = [np.ones(int(complete.sum()))]
    terms = ["(Intercept)"]
    for column_name in predictors.columns:
        column = predictors[column_name][complete]
        label = str(column_name)
        numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
        if numeric:
            columns.append(column.to_numpy(dtype=np.float64))
            terms.append(label)
            continue
        coding = code_group(label, column)
        # Levels without complete respondents would give an all-zero (aliased) column.
        present = np.unique(coding.codes)
        for level_index in present[1:]:
            columns.append((coding.codes == level_index).astype(np.float64))
            terms.append(f"{label}{_level_name(coding.categories[level_index])}")
    return np.column_stack(columns), terms


def _level_name(level: Hashable) -> str:
    value = plain_label(level)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def newton_logistic(
    x: FloatArray, weight: FloatArray, weighted_y: FloatArray, max_iterations: int
) -> tuple[FloatArray, int, FloatArray]:
    """Newton-Raphson for the weighted logistic likelihood (concave, so it converges).

    Works on rows or on covariate patterns alike: ``weight`` is Σw and ``weighted_y`` is Σwy
    per row of ``x`` (for single respondents simply w and w·y).
    """
    beta = np.zeros(x.shape[1])

    def log_likelihood(b: FloatArray) -> float:
        eta = x @ b
        return float(np.sum(weighted_y * eta - weight * np.logaddexp(0.0, eta)))

    current = log_likelihood(beta)
    separation = ModelFitError(
        "Logistic regression did not converge (complete or quasi-complete separation: "
        "some predictor category has only 0s or only 1s)."
    )
    for iteration in range(1, max_iterations + 1):
        mu = special.expit(x @ beta)
        information = x.T @ (x * (weight * mu * (1 - mu))[:, None])
        gradient = x.T @ (weighted_y - weight * mu)
        try:
            step = np.linalg.solve(information, gradient)
        except np.linalg.LinAlgError as exc:
            raise separation from exc
        # Step halving keeps every update an ascent step.
        for _ in range(30):
            candidate = beta + step
            value = log_likelihood(candidate)
            if value >= current - 1e-12 * abs(current):
                break
            step = step / 2
        beta, current = candidate, value
        # Fitted probabilities of 0 or 1 (|η| beyond ~30) mean the MLE is at infinity.
        if np.max(np.abs(x @ beta)) > 30:
            raise separation
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            mu = special.expit(x @ beta)
            information = x.T @ (x * (weight * mu * (1 - mu))[:, None])
            return beta, iteration, information
    raise separation


# --------------------------------------------------------------------------------------
# Two independent waves


@dataclass(frozen=True)
class WaveDifference:
    """Change of one measure between two waves, assuming independent samples.

    SE = √(se₁² + se₂²) holds only when the waves are independent samples (different
    respondents drawn separately); with a panel (the same respondents in both waves) the
    covariance is ignored and the SE is usually too large. The t reference uses Satterthwaite
    degrees of freedom from the two estimates' df.
    """

    earlier: float
    later: float
    difference: float
    se: float
    ci_low: float
    ci_high: float
    t: float | None
    df: float
    p_value: float | None
    level: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def wave_difference(earlier: Estimate, later: Estimate, *, level: float = 0.95) -> WaveDifference:
    """later − earlier for the same measure in two independent waves (see WaveDifference)."""
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    for estimate in (earlier, later):
        if estimate.estimate is None or estimate.se is None or estimate.df is None:
            raise InvalidInputError("Both waves need an estimate, SE and df (not suppressed, not empty).")
    assert earlier.estimate is not None and later.estimate is not None  # for type checkers
    assert earlier.se is not None and later.se is not None
    assert earlier.df is not None and later.df is not None
    return wave_difference_from_numbers(
        earlier.estimate, earlier.se, earlier.df, later.estimate, later.se, later.df, level=level
    )


def wave_difference_from_numbers(
    earlier: float,
    se_earlier: float,
    df_earlier: float,
    later: float,
    se_later: float,
    df_later: float,
    *,
    level: float = 0.95,
) -> WaveDifference:
    """As `wave_difference`, from plain numbers (for waves stored as published figures)."""
    variance_1, variance_2 = se_earlier**2, se_later**2
    variance = variance_1 + variance_2
    se = float(np.sqrt(variance))
    difference = later - earlier
    # Welch-Satterthwaite: df of a sum of two independent variance estimates.
    parts = (variance_1**2 / df_earlier if variance_1 > 0 else 0.0) + (
        variance_2**2 / df_later if variance_2 > 0 else 0.0
    )
    df = variance**2 / parts if parts > 0 else float(min(df_earlier, df_later))
    quantile = float(t_ppf(0.5 + level / 2, df))
    t = difference / se if se > 0 else None
    p_value = float(2 * t_sf(abs(t), df)) if t is not None else None
    return WaveDifference(
        earlier=earlier,
        later=later,
        difference=difference,
        se=se,
        ci_low=difference - quantile * se,
        ci_high=difference + quantile * se,
        t=t,
        df=float(df),
        p_value=p_value,
        level=level,
    )


__all__ = [
    "Coefficient",
    "GroupComparison",
    "LogisticFit",
    "RaoScottTest",
    "WaveDifference",
    "adjust_p_values",
    "domain_difference",
    "group_vs_rest",
    "rao_scott_batch",
    "rao_scott_categorical",
    "rao_scott_table",
    "rao_scott_tests",
    "survey_logistic",
    "wave_difference",
    "wave_difference_from_numbers",
]
