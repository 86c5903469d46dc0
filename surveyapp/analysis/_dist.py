"""The few distribution functions the analysis needs, computed with scipy.special.

scipy.stats evaluates t, beta, F and chi-squared with these same special functions; importing
it (with statsmodels on top) costs about 0.4 s, a sixth of the command-line analysis budget.
Outside the parameters' domain the functions answer NaN, as scipy.stats does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

ArrayLike = Any  # a float or a numpy array of floats


def t_ppf(q: ArrayLike, df: ArrayLike) -> Any:
    """Quantile of Student's t with df degrees of freedom (df = inf: the normal)."""
    df = np.asarray(df, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return _scalar(np.where(df > 0, special.stdtrit(np.where(df > 0, df, 1.0), q), np.nan))


def t_sf(x: ArrayLike, df: ArrayLike) -> Any:
    """Upper tail probability of Student's t."""
    df = np.asarray(df, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return _scalar(np.where(df > 0, special.stdtr(np.where(df > 0, df, 1.0), -np.asarray(x)), np.nan))


def beta_ppf(q: ArrayLike, a: ArrayLike, b: ArrayLike) -> Any:
    """Quantile of the beta distribution."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    valid = (a > 0) & (b > 0)
    with np.errstate(invalid="ignore"):
        return _scalar(
            np.where(valid, special.betaincinv(np.where(valid, a, 1.0), np.where(valid, b, 1.0), q), np.nan)
        )


def f_sf(x: ArrayLike, dfn: ArrayLike, dfd: ArrayLike) -> Any:
    """Upper tail probability of the F distribution."""
    x, dfn, dfd = (np.asarray(v, dtype=np.float64) for v in (x, dfn, dfd))
    valid = (dfn > 0) & (dfd > 0)
    with np.errstate(invalid="ignore"):
        tail = special.fdtrc(np.where(valid, dfn, 1.0), np.where(valid, dfd, 1.0), np.maximum(x, 0.0))
    return _scalar(np.where(valid, np.where(x < 0, 1.0, tail), np.nan))


def chi2_sf(x: ArrayLike, df: ArrayLike) -> Any:
    """Upper tail probability of the chi-squared distribution."""
    x, df = np.asarray(x, dtype=np.float64), np.asarray(df, dtype=np.float64)
    valid = df > 0
    with np.errstate(invalid="ignore"):
        tail = special.chdtrc(np.where(valid, df, 1.0), np.maximum(x, 0.0))
    return _scalar(np.where(valid, np.where(x < 0, 1.0, tail), np.nan))


def _scalar(values: np.ndarray) -> Any:
    """A 0-d result as a numpy float (like scipy.stats), arrays unchanged."""
    return values[()] if values.ndim == 0 else values
