"""Typed errors of the analysis core, so callers can tell bad input from failed convergence."""

from __future__ import annotations

from collections.abc import Hashable


class AnalysisError(ValueError):
    """Base of every error the analysis core raises on purpose."""


class InvalidInputError(AnalysisError):
    """Input of the wrong shape, type or range (weights, items, groups, levels)."""


class MissingValuesError(AnalysisError):
    """A variable that must be complete (a raking variable) has missing values."""

    def __init__(self, variable: str, n_missing: int) -> None:
        self.variable = variable
        self.n_missing = n_missing
        super().__init__(
            f"Raking variable {variable!r} has {n_missing} missing value(s); "
            "impute or drop those respondents before raking."
        )


class InvalidMarginError(AnalysisError):
    """Population margins that cannot be raked to (non-positive counts, unequal totals)."""


class EmptyMarginCellError(AnalysisError):
    """A margin category has population but no respondents, so no weight can reach it."""

    def __init__(self, variable: str, category: Hashable) -> None:
        self.variable = variable
        self.category = category
        super().__init__(
            f"Empty cell: margin category {category!r} of raking variable {variable!r} "
            "has no respondents; collapse it with a neighbouring category."
        )


class UnknownCategoryError(AnalysisError):
    """Respondents carry a category that the population margins (or register) do not list."""

    def __init__(self, variable: str, categories: list[Hashable]) -> None:
        self.variable = variable
        self.categories = categories
        shown = ", ".join(repr(c) for c in categories[:10])
        super().__init__(f"Variable {variable!r} has respondent categories missing from the margins: {shown}")


class RakingNotConvergedError(AnalysisError):
    """Iterative proportional fitting stopped before the margins were met."""

    def __init__(self, variables: tuple[str, ...], max_error: float, sweeps: int, detail: str = "") -> None:
        self.variables = variables
        self.max_error = max_error
        self.sweeps = sweeps
        names = ", ".join(variables)
        extra = f"; {detail}" if detail else ""
        super().__init__(
            f"Raking on ({names}) did not converge after {sweeps} sweep(s): "
            f"remaining max relative margin error {max_error:.3g}{extra}"
        )


class InvalidThresholdError(AnalysisError):
    """A disclosure threshold below the allowed minimum."""


class ModelFitError(AnalysisError):
    """A regression model could not be fitted (separation, singular design matrix)."""
