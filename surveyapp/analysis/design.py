"""The survey design: final weights, calibration margins and finite population correction.

Variance follows R `survey` for `svydesign(ids=~1, weights=~w[, fpc=~N])`, optionally raked:
linearised scores x_i are adjusted for calibration (R `svyrecvar`: ten sweeps, per raking
margin, of x ← x − w · (unweighted mean of x/w within the respondent's margin category)), then
Var = (1 − n/N) · n/(n − 1) · Σ (x_i − x̄)².
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from surveyapp.analysis.errors import InvalidInputError
from surveyapp.analysis.weights import (
    FloatArray,
    IntArray,
    RakingMargin,
    RakingResult,
    raking_cells,
    validate_weights,
    weight_diagnostics,
)

# R `svyrecvar` runs a fixed ten sweeps over the raking margins (it does not iterate to
# convergence); we reproduce its numbers, so we use the same count.
R_CALIBRATION_SWEEPS = 10


@dataclass(frozen=True, eq=False)
class SurveyDesign:
    """A single-stage weighted sample, optionally raked, with optional population size (fpc)."""

    weights: FloatArray
    calibration: tuple[RakingMargin, ...] = ()
    population_size: float | None = None
    # Derived in __post_init__: respondents cross-classified by the raking variables ("cells"),
    # per-cell counts and weight sums, and the linear map from per-cell score sums to the
    # calibration offsets (see `calibration_offsets`).
    cells: IntArray = field(init=False, repr=False)
    cell_count: FloatArray = field(init=False, repr=False)
    cell_weight: FloatArray = field(init=False, repr=False)
    cell_weight_sq: FloatArray = field(init=False, repr=False)
    offset_map: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        weights = validate_weights(self.weights)
        weights.setflags(write=False)
        n = weights.size
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "calibration", tuple(self.calibration))
        for margin in self.calibration:
            if margin.codes.shape != (n,):
                raise InvalidInputError(
                    f"Calibration margin {margin.variable!r} codes {n} respondents wrongly."
                )
        if self.population_size is not None:
            population = float(self.population_size)
            if not np.isfinite(population) or population < n:
                raise InvalidInputError(
                    f"Population size (fpc) must be at least the sample size {n}; "
                    f"got {self.population_size!r}"
                )
            object.__setattr__(self, "population_size", population)
        if self.calibration:
            cells, cell_codes = raking_cells([margin.codes for margin in self.calibration])
            sizes = [len(margin.categories) for margin in self.calibration]
        else:
            cells, cell_codes, sizes = np.zeros(n, dtype=np.intp), np.zeros((1, 0), np.intp), []
        n_cells = cell_codes.shape[0]
        cell_count = np.bincount(cells, minlength=n_cells).astype(np.float64)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "cell_count", cell_count)
        object.__setattr__(self, "cell_weight", np.bincount(cells, weights, n_cells))
        object.__setattr__(self, "cell_weight_sq", np.bincount(cells, weights**2, n_cells))
        object.__setattr__(self, "offset_map", _offset_map(cell_codes, cell_count, sizes))

    @classmethod
    def unweighted(cls, n: int, population_size: float | None = None) -> SurveyDesign:
        """Every respondent weight 1 (simple random sample)."""
        return cls(np.ones(int(n)), population_size=population_size)

    @classmethod
    def from_weights(cls, weights: npt.ArrayLike, population_size: float | None = None) -> SurveyDesign:
        """Base (design) weights without calibration, as R `svydesign(ids=~1, weights=~w)`."""
        return cls(np.asarray(weights, dtype=np.float64), population_size=population_size)

    @classmethod
    def from_raking(cls, raking: RakingResult, population_size: float | None = None) -> SurveyDesign:
        """Raked weights whose variance carries the calibration adjustment, as R `rake()`."""
        return cls(raking.weights, calibration=raking.margins, population_size=population_size)

    @property
    def n(self) -> int:
        """Number of respondents (rows)."""
        return int(self.weights.size)

    @property
    def degf(self) -> int:
        """Design degrees of freedom, R `degf`: respondents minus one (one stratum, no PSUs)."""
        return self.n - 1

    @property
    def is_calibrated(self) -> bool:
        """True when the weights were raked and SEs need the calibration adjustment."""
        return bool(self.calibration)

    @property
    def n_cells(self) -> int:
        """Number of non-empty cells of the cross-classified raking variables (1 if none)."""
        return int(self.cell_count.size)

    @property
    def variance_scale(self) -> float:
        """(1 − n/N) · n/(n − 1), the factor R `onestrat` puts on Σ(x − x̄)²."""
        n = self.n
        fpc = 1.0 if self.population_size is None else (self.population_size - n) / (self.population_size)
        return fpc * n / (n - 1) if n > 1 else fpc

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the design (not the per-respondent weights)."""
        return {
            "n": self.n,
            "degf": self.degf,
            "population_size": self.population_size,
            "calibration": [margin.to_dict() for margin in self.calibration],
            "weights": weight_diagnostics(self.weights).to_dict(),
        }


def _offset_map(cell_codes: IntArray, cell_count: FloatArray, sizes: list[int]) -> FloatArray:
    """The G×G matrix B with offsets A = B · E for per-cell score sums E.

    R's sweep x ← x − w·ave(x/w) keeps x_i = w_i(e_i − A_{cell(i)}), where A is a sum over
    margins of a per-category offset a_{m,c}. Each sweep updates a_m from per-category sums of
    e and the category cross-counts only, so the ten sweeps are one fixed linear map of the
    per-cell sums of e. We compute that map once, by running the sweeps on unit vectors,
    instead of once per estimate.
    """
    n_cells = cell_count.size
    if not sizes:
        return np.zeros((n_cells, n_cells))
    # One-hot of each cell's category on every margin, side by side: G × C.
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    membership = np.zeros((n_cells, int(offsets[-1])))
    for m in range(len(sizes)):
        membership[np.arange(n_cells), offsets[m] + cell_codes[:, m]] = 1.0
    cross = membership.T @ (membership * cell_count[:, None])
    category_count = np.diag(cross).copy()
    n_categories = category_count.size
    a = np.zeros((n_categories, n_categories))
    unit_sums = np.eye(n_categories)
    for _ in range(R_CALIBRATION_SWEEPS):
        for m in range(len(sizes)):
            rows = slice(int(offsets[m]), int(offsets[m + 1]))
            residual_mean = (unit_sums[rows] - cross[rows] @ a) / category_count[rows, None]
            a[rows] += residual_mean
    result: FloatArray = membership @ a @ membership.T
    return result


def calibration_offsets(design: SurveyDesign, cell_score_sums: FloatArray) -> FloatArray:
    """Calibration offsets A (G × K) from per-cell sums of e = x/w (G × K)."""
    result: FloatArray = design.offset_map @ cell_score_sums
    return result


def linearised_covariance(design: SurveyDesign, scores: npt.ArrayLike) -> FloatArray:
    """Covariance of estimators with per-respondent linearised scores x (n × k), as R.

    Rows outside a domain have score zero but stay in: the sample size and the centring
    are over all respondents, as R keeps them for a domain (`svyby`, `subset`).
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if design.is_calibrated:
        w = design.weights
        per_cell = np.zeros((design.n_cells, x.shape[1]))
        np.add.at(per_cell, design.cells, x / w[:, None])
        offsets = calibration_offsets(design, per_cell)
        x = x - w[:, None] * offsets[design.cells]
    centred = x - x.mean(axis=0)
    result: FloatArray = design.variance_scale * (centred.T @ centred)
    return result


def variance_from_moments(
    design: SurveyDesign,
    cell_e: FloatArray,
    total_we: FloatArray,
    cell_w2e: FloatArray,
    total_w2e2: FloatArray,
) -> FloatArray:
    """Linearised variance of K estimators from aggregates, without per-respondent scores.

    For scores x_i = w_i e_i the inputs are, per raking cell g and estimator k:
    cell_e = Σ_g e, cell_w2e = Σ_g w² e, and over all respondents total_we = Σ w e,
    total_w2e2 = Σ w² e². With calibration x_i = w_i(e_i − A_g), so
    Σx = Σwe − Σ_g A_g Ω1_g and Σx² = Σw²e² − 2 Σ_g A_g Σ_g w²e + Σ_g A_g² Ω2_g.
    """
    sum_x = np.asarray(total_we, dtype=np.float64)
    sum_xx = np.asarray(total_w2e2, dtype=np.float64)
    if design.is_calibrated:
        offsets = calibration_offsets(design, cell_e)
        sum_x = sum_x - design.cell_weight @ offsets
        sum_xx = (
            sum_xx
            - 2.0 * np.einsum("gk,gk->k", offsets, cell_w2e)
            + design.cell_weight_sq @ (offsets * offsets)
        )
    variance: FloatArray = design.variance_scale * (sum_xx - sum_x * sum_x / design.n)
    # Rounding can leave a tiny negative number where the true variance is zero.
    return np.maximum(variance, 0.0)


def covariance_from_moments(
    design: SurveyDesign,
    cell_e: FloatArray,
    total_we: FloatArray,
    cell_w2e: FloatArray,
    total_w2ee: FloatArray,
) -> FloatArray:
    """As `variance_from_moments`, but the full K × K covariance; total_w2ee = Σ w² e eᵀ."""
    sum_x = np.asarray(total_we, dtype=np.float64)
    sum_xx = np.asarray(total_w2ee, dtype=np.float64)
    if design.is_calibrated:
        offsets = calibration_offsets(design, cell_e)
        sum_x = sum_x - design.cell_weight @ offsets
        cross = offsets.T @ cell_w2e
        sum_xx = sum_xx - cross - cross.T + offsets.T @ (design.cell_weight_sq[:, None] * offsets)
    result: FloatArray = design.variance_scale * (sum_xx - np.outer(sum_x, sum_x) / design.n)
    return result
