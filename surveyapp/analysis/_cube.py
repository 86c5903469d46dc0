"""Aggregates per (raking cell × domain × item): the one pass over respondents.

Every domain statistic here (ratio means, their differences, table-cell proportions) has a
linearised score that is, within a raking cell and a domain, an affine function of the item
value. So all sums the variance needs are sums over (cell, domain, item) of 1, y, w, wy, w²,
w²y and w²y², taken over respondents who answered the item. They come from one sparse
one-hot matrix product per group variable, never from an n × (items · domains) matrix.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from surveyapp.analysis._plain import plain_label
from surveyapp.analysis.design import SurveyDesign
from surveyapp.analysis.errors import InvalidInputError
from surveyapp.analysis.weights import FloatArray, IntArray

# Items are aggregated in column blocks so the dense per-block matrices (answered indicator,
# values, squares) stay near 32 MB each whatever the number of items.
BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True, eq=False)
class GroupCoding:
    """A group variable coded 0..D−1 per respondent (−1: missing, in no domain)."""

    name: str | None
    categories: tuple[Hashable, ...]
    codes: IntArray


@dataclass(frozen=True, eq=False)
class GroupCube:
    """Sums over respondents who answered, per (raking cell, domain, item): arrays G × D × J."""

    coding: GroupCoding
    count: FloatArray
    sum_y: FloatArray
    w_sum: FloatArray
    w_y: FloatArray
    w2_sum: FloatArray
    w2_y: FloatArray
    w2_yy: FloatArray


def overall_coding(n: int) -> GroupCoding:
    """The whole sample as one domain."""
    return GroupCoding(name=None, categories=(None,), codes=np.zeros(n, dtype=np.intp))


def code_group(name: str, column: pd.Series) -> GroupCoding:
    """Code a group column: categorical order if it has one, else sorted values (as R factor)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categorical = pd.Categorical(column)
        categories = tuple(plain_label(c) for c in categorical.categories)
        codes = np.asarray(categorical.codes, dtype=np.intp)
    else:
        codes_raw, uniques = pd.factorize(column, sort=False, use_na_sentinel=True)
        labels = [plain_label(u) for u in uniques]
        try:
            order = sorted(range(len(labels)), key=lambda index: labels[index])
        except TypeError:
            order = sorted(range(len(labels)), key=lambda index: repr(labels[index]))
        rank = np.empty(len(labels), dtype=np.intp)
        rank[order] = np.arange(len(labels))
        codes = np.where(codes_raw >= 0, rank[np.maximum(codes_raw, 0)], -1).astype(np.intp)
        categories = tuple(labels[index] for index in order)
    codes.setflags(write=False)
    return GroupCoding(name=name, categories=categories, codes=codes)


def code_groups(groups: pd.DataFrame | None, n: int) -> list[GroupCoding]:
    """Code every column of `groups`; rows must line up with the design's respondents."""
    if groups is None:
        return []
    if len(groups) != n:
        raise InvalidInputError(f"groups has {len(groups)} rows; the design has {n}.")
    return [code_group(str(name), groups[name]) for name in groups.columns]


def numeric_matrix(frame: pd.DataFrame, n: int, what: str) -> FloatArray:
    """A float matrix of the frame (NaN for missing); rows must match the design."""
    if len(frame) != n:
        raise InvalidInputError(f"{what} has {len(frame)} rows; the design has {n}.")
    try:
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numeric (NaN for missing): {exc}") from exc
    if np.isinf(values).any():
        raise InvalidInputError(f"{what} contains infinite values.")
    return values


def build_cubes(
    design: SurveyDesign,
    values: FloatArray,
    codings: Sequence[GroupCoding],
    has_squares: np.ndarray,
) -> list[GroupCube]:
    """Aggregate items (n × J, NaN = not answered) for every group coding.

    `has_squares` marks columns whose values are not 0/1, which need Σw²y² separately;
    for 0/1 columns y² = y.
    """
    n, n_items = values.shape
    if n_items == 0:
        return [
            GroupCube(coding, *[np.zeros((design.n_cells, len(coding.categories), 0))] * 7)
            for coding in codings
        ]
    block = max(1, BLOCK_ELEMENTS // max(n, 1))
    indicators = [_stacked_indicator(design, coding) for coding in codings]
    parts: list[list[list[FloatArray]]] = [[] for _ in codings]
    for start in range(0, n_items, block):
        stop = min(n_items, start + block)
        chunk = values[:, start:stop]
        answered = np.ascontiguousarray(~np.isnan(chunk), dtype=np.float64)
        y0 = np.ascontiguousarray(np.where(answered > 0, chunk, 0.0))
        square_columns = np.flatnonzero(has_squares[start:stop])
        y0_sq = np.ascontiguousarray(y0[:, square_columns] ** 2) if square_columns.size else None
        for index, (matrix, w2_matrix, n_keys) in enumerate(indicators):
            by_answered = matrix @ answered
            by_value = matrix @ y0
            w2_yy = by_value[2 * n_keys :].copy()
            if y0_sq is not None:
                w2_yy[:, square_columns] = w2_matrix @ y0_sq
            parts[index].append(
                [
                    by_answered[:n_keys],
                    by_value[:n_keys],
                    by_answered[n_keys : 2 * n_keys],
                    by_value[n_keys : 2 * n_keys],
                    by_answered[2 * n_keys :],
                    by_value[2 * n_keys :],
                    w2_yy,
                ]
            )
        del answered, y0, y0_sq
    cubes = []
    for coding, blocks in zip(codings, parts, strict=True):
        shape = (design.n_cells, len(coding.categories), n_items)
        stacked = [np.concatenate([b[k] for b in blocks], axis=1).reshape(shape) for k in range(7)]
        cubes.append(GroupCube(coding, *stacked))
    return cubes


def _stacked_indicator(
    design: SurveyDesign, coding: GroupCoding
) -> tuple[sparse.csc_array, sparse.csc_array, int]:
    """Sparse (3K × n) matrix whose rows sum 1, w, w² per key = (raking cell, domain).

    Also returned: its last K rows alone (the w² sums), for the squares of mean items.
    """
    n_domains = len(coding.categories)
    n_keys = design.n_cells * n_domains
    valid = coding.codes >= 0
    rows = np.flatnonzero(valid)
    key = design.cells[rows] * n_domains + coding.codes[rows]
    indices = np.column_stack((key, key + n_keys, key + 2 * n_keys)).ravel()
    w = design.weights[rows]
    data = np.column_stack((np.ones_like(w), w, w * w)).ravel()
    indptr = np.zeros(design.n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(valid * 3)
    matrix = sparse.csc_array((data, indices, indptr), shape=(3 * n_keys, design.n))
    w2_indptr = np.zeros(design.n + 1, dtype=np.int64)
    w2_indptr[1:] = np.cumsum(valid)
    w2_matrix = sparse.csc_array((w * w, key, w2_indptr), shape=(n_keys, design.n))
    return matrix, w2_matrix, n_keys
