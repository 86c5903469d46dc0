"""Survey weights: raking base weights to population margins, with weight diagnostics."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveyapp.analysis._plain import plain, plain_label
from surveyapp.analysis.errors import (
    EmptyMarginCellError,
    InvalidInputError,
    InvalidMarginError,
    MissingValuesError,
    RakingNotConvergedError,
    UnknownCategoryError,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Margins may come from different registers; totals that differ by more than this relative
# amount cannot all be met at once, and IPF would oscillate instead of converging.
MARGIN_TOTAL_TOLERANCE = 1e-6
# After trimming and re-raking, a weight may exceed its bound by this relative amount.
TRIM_TOLERANCE = 1e-6
MAX_TRIM_ROUNDS = 200


@dataclass(frozen=True)
class WeightDiagnostics:
    """How much the weights cost in precision: Kish design effect and effective sample size."""

    n: int
    population_size: float
    kish_deff: float
    effective_n: float
    min_weight: float
    max_weight: float
    mean_weight: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def weight_diagnostics(weights: npt.ArrayLike) -> WeightDiagnostics:
    """Kish deff n·Σw²/(Σw)², effective n = n/deff, and the weight range."""
    w = validate_weights(weights)
    n = w.size
    total = float(w.sum())
    deff = n * float(np.dot(w, w)) / total**2
    return WeightDiagnostics(
        n=n,
        population_size=total,
        kish_deff=deff,
        effective_n=n / deff,
        min_weight=float(w.min()),
        max_weight=float(w.max()),
        mean_weight=total / n,
    )


def validate_weights(weights: npt.ArrayLike, n: int | None = None) -> FloatArray:
    """Weights as a fresh float array; every weight must be finite and strictly positive."""
    w = np.array(weights, dtype=np.float64, copy=True).reshape(-1)
    if n is not None and w.size != n:
        raise InvalidInputError(f"Expected {n} weights, got {w.size}.")
    if w.size == 0:
        raise InvalidInputError("A design needs at least one respondent.")
    if not np.all(np.isfinite(w)):
        raise InvalidInputError("Weights must be finite (no NaN or infinity).")
    if np.any(w <= 0):
        raise InvalidInputError("Weights must be strictly positive.")
    return w


@dataclass(frozen=True, eq=False)
class RakingMargin:
    """One raking variable: its categories, population counts and each respondent's category."""

    variable: str
    categories: tuple[Hashable, ...]
    targets: tuple[float, ...]
    codes: IntArray  # per respondent: index into `categories`

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy without the per-respondent codes."""
        return {
            "variable": self.variable,
            "categories": [plain(plain_label(c)) for c in self.categories],
            "targets": list(self.targets),
        }


@dataclass(frozen=True, eq=False)
class RakingResult:
    """Raked weights plus what was raked, how it converged and what the weights cost."""

    weights: FloatArray
    variables: tuple[str, ...]
    iterations: int
    converged: bool
    max_margin_error: float
    diagnostics: WeightDiagnostics
    margins: tuple[RakingMargin, ...]
    trim_bounds: tuple[float, float] | None = None
    trim_rounds: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the per-respondent weights are left out)."""
        return {
            "variables": list(self.variables),
            "iterations": self.iterations,
            "converged": self.converged,
            "max_margin_error": plain(self.max_margin_error),
            "diagnostics": self.diagnostics.to_dict(),
            "margins": [margin.to_dict() for margin in self.margins],
            "trim_bounds": None if self.trim_bounds is None else list(self.trim_bounds),
            "trim_rounds": self.trim_rounds,
        }


def rake(
    frame: pd.DataFrame,
    base_weights: npt.ArrayLike | None,
    margins: Mapping[str, Mapping[Hashable, float]],
    *,
    epsilon: float = 1e-8,
    max_sweeps: int = 100,
    trim: tuple[float, float] | None = None,
    raise_on_failure: bool = True,
) -> RakingResult:
    """Rake base weights so weighted counts meet every population margin (IPF, as R `rake`).

    `margins` maps each raking variable (a column of `frame`) to {category: population count}.
    Convergence means the largest relative margin error |Σw − N_c| / N_c is below `epsilon`.
    `trim=(lower, upper)` bounds every weight to [lower, upper] × mean weight; weights are
    clipped and re-raked until both the bounds and the margins hold. Without convergence a
    `RakingNotConvergedError` is raised, or, with `raise_on_failure=False`, a result whose
    `converged` is False is returned.

    After trimming, the weights are no longer exactly of raking form; SEs from
    `SurveyDesign.from_raking` still apply R's raking adjustment for the margins, which is
    the usual approximation for trimmed-and-reraked weights.
    """
    if not margins:
        raise InvalidMarginError("Raking needs at least one margin.")
    if epsilon <= 0 or max_sweeps < 1:
        raise InvalidInputError("epsilon must be positive and max_sweeps at least 1.")
    n = len(frame)
    base = np.ones(n) if base_weights is None else validate_weights(base_weights, n)
    coded = tuple(_code_margin(frame, str(var), targets) for var, targets in margins.items())
    _check_totals(coded)
    variables = tuple(margin.variable for margin in coded)
    bounds = _trim_bounds(trim)

    cells, cell_codes = raking_cells([margin.codes for margin in coded])
    targets = [np.asarray(margin.targets, dtype=np.float64) for margin in coded]

    weights = base
    total_sweeps = 0
    trim_rounds = 0
    while True:
        cell_totals = np.bincount(cells, weights, cell_codes.shape[0]).astype(np.float64)
        factors, sweeps, error = _ipf(cell_totals, cell_codes, targets, epsilon, max_sweeps)
        total_sweeps += sweeps
        weights = weights * factors[cells]
        converged = error < epsilon
        if not converged or bounds is None:
            break
        mean_weight = weights.mean()
        low, high = bounds[0] * mean_weight, bounds[1] * mean_weight
        excess = max(
            float(np.max(weights / high)) - 1.0,
            float(np.max(low / weights)) - 1.0 if low > 0 else -1.0,
        )
        if excess <= TRIM_TOLERANCE:
            break
        if trim_rounds >= MAX_TRIM_ROUNDS:
            converged = False
            break
        trim_rounds += 1
        weights = np.clip(weights, low, high)

    if not converged and raise_on_failure:
        detail = _worst_margin(weights, coded)
        if bounds is not None and error < epsilon:
            detail = f"trim bounds {bounds} not met after {trim_rounds} rounds; {detail}"
        raise RakingNotConvergedError(variables, error, total_sweeps, detail)

    weights.setflags(write=False)
    return RakingResult(
        weights=weights,
        variables=variables,
        iterations=total_sweeps,
        converged=bool(converged),
        max_margin_error=float(_margin_error(weights, coded)),
        diagnostics=weight_diagnostics(weights),
        margins=coded,
        trim_bounds=bounds,
        trim_rounds=trim_rounds,
    )


def raking_cells(codes: list[IntArray]) -> tuple[IntArray, IntArray]:
    """Cross-classify respondents by all raking variables: (cell per row, codes per cell).

    IPF only ever multiplies weights by a factor per category, so every respondent in the
    same cross-classified cell gets the same factor; working on cells keeps raking O(cells).
    """
    sizes = [int(c.max()) + 1 for c in codes]
    # One integer key per respondent (mixed radix); a 1-D unique is far cheaper than axis=0.
    key = np.zeros(codes[0].shape, dtype=np.int64)
    for code, size in zip(codes, sizes, strict=True):
        key = key * size + code
    unique_keys, cells = np.unique(key, return_inverse=True)
    cell_codes = np.empty((unique_keys.size, len(codes)), dtype=np.intp)
    remainder = unique_keys
    for m in range(len(codes) - 1, -1, -1):
        remainder, cell_codes[:, m] = np.divmod(remainder, sizes[m])
    return cells.reshape(-1).astype(np.intp), cell_codes


def _ipf(
    cell_totals: FloatArray,
    cell_codes: IntArray,
    targets: list[FloatArray],
    epsilon: float,
    max_sweeps: int,
) -> tuple[FloatArray, int, float]:
    """Iterative proportional fitting on cell totals: (factor per cell, sweeps, final error)."""
    factors = np.ones_like(cell_totals)
    error = _cell_margin_error(cell_totals * factors, cell_codes, targets)
    sweeps = 0
    while error >= epsilon and sweeps < max_sweeps:
        for m, target in enumerate(targets):
            current = np.bincount(cell_codes[:, m], weights=cell_totals * factors, minlength=target.size)
            factors *= (target / current)[cell_codes[:, m]]
        sweeps += 1
        error = _cell_margin_error(cell_totals * factors, cell_codes, targets)
    return factors, sweeps, error


def _cell_margin_error(weighted_cells: FloatArray, cell_codes: IntArray, targets: list[FloatArray]) -> float:
    worst = 0.0
    for m, target in enumerate(targets):
        current = np.bincount(cell_codes[:, m], weights=weighted_cells, minlength=target.size)
        worst = max(worst, float(np.max(np.abs(current - target) / target)))
    return worst


def _margin_error(weights: FloatArray, margins: tuple[RakingMargin, ...]) -> float:
    """Largest relative margin error of respondent weights (reported in the result)."""
    worst = 0.0
    for margin in margins:
        target = np.asarray(margin.targets)
        current = np.bincount(margin.codes, weights=weights, minlength=target.size)
        worst = max(worst, float(np.max(np.abs(current - target) / target)))
    return worst


def _worst_margin(weights: FloatArray, margins: tuple[RakingMargin, ...]) -> str:
    """Name the margin category furthest from its target, for the error message."""
    worst, text = -1.0, ""
    for margin in margins:
        target = np.asarray(margin.targets)
        current = np.bincount(margin.codes, weights=weights, minlength=target.size)
        relative = np.abs(current - target) / target
        index = int(np.argmax(relative))
        if relative[index] > worst:
            worst = float(relative[index])
            text = (
                f"worst {margin.variable}={margin.categories[index]!r}: "
                f"weighted {current[index]:.6g} vs population {target[index]:.6g}"
            )
    return text


def _code_margin(frame: pd.DataFrame, variable: str, targets: Mapping[Hashable, float]) -> RakingMargin:
    """Check one margin against the respondents and code each respondent's category."""
    if variable not in frame.columns:
        raise InvalidInputError(f"Raking variable {variable!r} is not a column of the data.")
    if not targets:
        raise InvalidMarginError(f"Margin for {variable!r} lists no categories.")
    categories = tuple(targets.keys())
    counts = np.array([float(targets[c]) for c in categories])
    bad = [c for c, count in zip(categories, counts, strict=True) if not count > 0]
    if bad or not np.all(np.isfinite(counts)):
        raise InvalidMarginError(
            f"Margin for {variable!r} must have positive, finite population counts; "
            f"offending categories: {bad!r}"
        )
    column = frame[variable]
    missing = int(column.isna().sum())
    if missing:
        raise MissingValuesError(variable, missing)
    codes = pd.Index(list(categories)).get_indexer(pd.Index(column)).astype(np.intp)
    unknown_mask = codes < 0
    if unknown_mask.any():
        unknown = sorted({plain_label(v) for v in column[unknown_mask]}, key=repr)
        raise UnknownCategoryError(variable, unknown)
    present = np.bincount(codes, minlength=len(categories))
    for index, count in enumerate(present):
        if count == 0:
            raise EmptyMarginCellError(variable, categories[index])
    codes.setflags(write=False)
    return RakingMargin(
        variable=variable,
        categories=categories,
        targets=tuple(float(c) for c in counts),
        codes=codes,
    )


def _check_totals(margins: tuple[RakingMargin, ...]) -> None:
    """Margins with different totals cannot all be met, so fail before iterating."""
    totals = [sum(margin.targets) for margin in margins]
    if max(totals) - min(totals) > MARGIN_TOTAL_TOLERANCE * max(totals):
        listed = ", ".join(
            f"{margin.variable}={total:.10g}" for margin, total in zip(margins, totals, strict=True)
        )
        raise InvalidMarginError(f"Margins must describe the same population; their totals differ: {listed}")


def _trim_bounds(trim: tuple[float, float] | None) -> tuple[float, float] | None:
    """Validated (lower, upper) trim factors relative to the mean weight."""
    if trim is None:
        return None
    lower, upper = (float(trim[0]), float(trim[1]))
    # The mean weight must itself be allowed, or no weights can satisfy both bounds.
    if not (0 <= lower <= 1 <= upper) or not np.isfinite(upper) or lower == upper:
        raise InvalidInputError(
            f"Trim bounds are relative to the mean weight and need 0 ≤ lower ≤ 1 ≤ upper; got {trim!r}"
        )
    return (lower, upper)
