"""Statistical disclosure control of microdata: k-anonymity by global recoding and local suppression.

Modelled on the R package sdcMicro (Templ, Kowarik and Meindl, *Statistical Disclosure Control
for Micro-Data Using the R Package sdcMicro*, JSS 67(4), 2015). The quasi-identifiers (key
variables) are the answers an outsider can know from elsewhere: here the profile questions whose
codes the planner also holds in the staff register. Pure numpy/pandas: no Flask, no database.

The steps, in the order `protect` runs them:

1. **Global recoding.** Every key variable may have a hierarchy: a list of levels, each merging
   codes of the level below into coarser ones (age bands into wider bands, a policy domain into
   a cluster of domains). While more than ``max_unsafe_share`` of the records sit in a key
   combination that occurs fewer than k times, the one next level that brings the records
   nearest to k (the fall of Σ max(0, k - f), f a record's key frequency) per bit of
   information lost (the drop in the variable's Shannon entropy) is applied; levels that bring
   no record nearer are never applied. Numbers are top-coded before (`top_code`).
2. **Local suppression.** Each record still unsafe, the most exposed first, loses key values
   (set to "suppressed") until its combination matches at least k records: each time the value
   whose suppression makes the record match the most other records, ties going to the least
   important variable (the last in the list). Suppression only ever adds matches, so one pass
   leaves every record safe.

**Missing values.** A *suppressed* value is a wildcard: it matches every value of that variable,
as sdcMicro's ``localSuppression`` and ``freqCalc`` treat ``NA``; so a record's frequency is the
number of records it cannot be told apart from. A value that is missing because the question was
not asked or not answered (``NOT_ASKED``: the skip logic hid it) is *its own category*: the skip
logic is public, so a blank "level" tells a reader the person is retired. That is stricter than
sdcMicro, which cannot tell the two kinds of missing apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NOT_ASKED = ""  # a key value missing by the questionnaire's skip logic (or unanswered): a category
SUPPRESSED = -1  # a suppressed key value in the code matrix: matches every value
_BF_OFFSET = 1e-4  # sdcMicro's compute_risk subtracts this from p_k, keeping log(1/p) and 1/(1-p) finite


class DisclosureError(ValueError):
    """The records cannot be made k-anonymous (fewer records than k)."""

    def __init__(self, records: int, k: int) -> None:
        super().__init__(f"{records} records cannot be {k}-anonymous: at least {k} are needed.")
        self.records = records
        self.k = k


@dataclass(frozen=True)
class KeyVariable:
    """A quasi-identifier and its coarsening hierarchy (level 1 first; codes not named stay)."""

    name: str
    levels: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Risk:
    """Re-identification risk of a set of records on their key variables."""

    records: int
    k: int
    sample_unique: int  # records whose key combination occurs once
    below_k: int  # records whose key combination occurs fewer than k times
    global_risk: float  # mean individual risk (sdcMicro's global_risk)
    expected_reidentifications: float  # sum of individual risks (sdcMicro's global_risk_ER)
    max_risk: float  # the highest individual risk

    @property
    def share_unique(self) -> float:
        return self.sample_unique / self.records if self.records else 0.0

    @property
    def share_below_k(self) -> float:
        return self.below_k / self.records if self.records else 0.0


@dataclass
class Protection:
    """The protected key values and what it took."""

    codes: pd.DataFrame  # one column per key variable: codes, NOT_ASKED, or None where suppressed
    k: int
    levels: dict[str, int]  # hierarchy level applied per key variable (0: as answered)
    suppressed: dict[str, int]  # values suppressed per key variable
    before: Risk
    after: Risk
    frequencies: np.ndarray = field(repr=False)  # per record: records it matches after protection


def top_code(values: pd.Series, limit: float) -> pd.Series:
    """Numbers above ``limit`` become ``limit`` ("limit or more"); missing values stay missing."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.where(numbers.isna() | (numbers <= limit), float(limit))


def individual_risk(sample_frequency: np.ndarray, population_frequency: np.ndarray) -> np.ndarray:
    """sdcMicro's individual re-identification risk per record (``measure_risk``, weighted data).

    Benedetti and Franconi's approximation of E(1/F_k | f_k) under the negative-binomial model
    (Benedetti & Franconi 1998; Franconi & Polettini 2004), with the estimated population
    frequency F_k the sum of the weights in the key and p_k = f_k / F_k - 0.0001 (sdcMicro's
    ``compute_risk`` in src/Measure_Risk.h subtracts 0.0001 so that F_k = f_k stays finite):

        f_k = 1:  r_k = p_k / (1 - p_k) · ln(1 / p_k)
        f_k = 2:  r_k = p_k / (1 - p_k) - (p_k / (1 - p_k))² · ln(1 / p_k)
        f_k ≥ 3:  r_k = p_k / (f_k - (1 - p_k))

    A record whose key is all suppressed has risk 0 (pass f_k = 0 for it).
    """
    f = np.asarray(sample_frequency, dtype=float)
    big_f = np.asarray(population_frequency, dtype=float)
    risk = np.zeros(f.shape)
    valid = (f > 0) & (big_f > 0)
    p = np.where(valid, np.minimum(f / np.where(valid, big_f, 1.0), 1.0) - _BF_OFFSET, 0.5)
    ratio = p / (1.0 - p)
    log_inverse = np.log(1.0 / p)
    one = valid & (f == 1)
    two = valid & (f == 2)
    more = valid & (f >= 3)
    risk[one] = ratio[one] * log_inverse[one]
    risk[two] = ratio[two] - ratio[two] ** 2 * log_inverse[two]
    risk[more] = p[more] / (f[more] - (1.0 - p[more]))
    return risk


def _matrix(codes: pd.DataFrame) -> np.ndarray:
    """Key values as integers per column (NOT_ASKED a code of its own, None → SUPPRESSED)."""
    columns = []
    for name in codes.columns:
        factor, _uniques = pd.factorize(codes[name].astype(object), use_na_sentinel=True)
        columns.append(np.where(factor < 0, SUPPRESSED, factor).astype(np.int64))
    if not columns:
        return np.zeros((len(codes), 0), dtype=np.int64)
    return np.column_stack(columns)


def _exact_counts(matrix: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: how many records share its key exactly, and the sum of their weights."""
    if matrix.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    # one integer per key (mixed radix), so the grouping is a one-dimensional unique
    shifted = matrix - SUPPRESSED
    keys = np.zeros(matrix.shape[0], dtype=np.int64)
    radix = 1
    for column in range(matrix.shape[1]):
        size = int(shifted[:, column].max()) + 1
        if radix * size >= 2**62:  # too many combinations for one integer: group the rows
            _rows, inverse = np.unique(shifted, axis=0, return_inverse=True)
            keys = inverse.reshape(-1).astype(np.int64)
            break
        keys += shifted[:, column] * radix
        radix *= size
    _keys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.bincount(inverse, weights=weights, minlength=len(counts))
    return counts[inverse].astype(float), sums[inverse]


class _Matcher:
    """Which records match a key, as bit sets: per column and value, the records with that value
    or a suppressed one. Matching a key is an AND of one bit set per column, counting it a popcount.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        self.n, self.width = matrix.shape
        self.everyone = np.packbits(np.ones(self.n, dtype=bool))
        self.masks: list[np.ndarray] = []
        for column in range(self.width):
            values = matrix[:, column]
            wildcard = values == SUPPRESSED
            size = int(values.max()) + 1 if self.n else 0
            equal = (values[None, :] == np.arange(size)[:, None]) | wildcard[None, :]
            self.masks.append(np.packbits(equal, axis=1))

    def bits(self, row: np.ndarray, skip: int = -1) -> np.ndarray:
        """The records matching ``row`` (column ``skip`` treated as suppressed), packed."""
        result = self.everyone
        for column in range(self.width):
            if column != skip and row[column] != SUPPRESSED:
                result = result & self.masks[column][row[column]]
        return result

    def count(self, bits: np.ndarray) -> int:
        return int(np.bitwise_count(bits).sum())

    def rows(self, bits: np.ndarray) -> np.ndarray:
        return np.unpackbits(bits, count=self.n).astype(bool)

    def suppress(self, index: int, column: int) -> None:
        """Record ``index`` now matches every value of ``column``."""
        byte, bit = divmod(index, 8)
        self.masks[column][:, byte] |= np.uint8(0x80 >> bit)


def _matches(matrix: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Which records cannot be told apart from ``row`` (suppressed values match anything)."""
    if matrix.shape[1] == 0:
        return np.ones(matrix.shape[0], dtype=bool)
    equal = (matrix == row) | (matrix == SUPPRESSED) | (row == SUPPRESSED)
    return np.asarray(equal.all(axis=1))


def key_frequencies(matrix: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per record: the records it matches (itself included) and the sum of their weights.

    Records without suppressed values are counted by exact key, plus the suppressed records
    that match them; each record with a suppressed value is matched against all records.
    """
    n = matrix.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    has_wildcard = (matrix == SUPPRESSED).any(axis=1) if matrix.shape[1] else np.zeros(n, dtype=bool)
    complete = ~has_wildcard
    frequency = np.zeros(n)
    weight_sum = np.zeros(n)
    if complete.any():
        counts, sums = _exact_counts(matrix[complete], w[complete])
        frequency[complete] = counts
        weight_sum[complete] = sums
    if has_wildcard.any():
        matcher = _Matcher(matrix)
        for index in np.flatnonzero(has_wildcard):
            matched = matcher.rows(matcher.bits(matrix[index]))
            frequency[index] = matched.sum()
            weight_sum[index] = w[matched].sum()
            # the complete records it matches count it too
            others = matched & complete
            frequency[others] += 1
            weight_sum[others] += w[index]
    return frequency, weight_sum


def measure_risk(codes: pd.DataFrame, weights: np.ndarray | None, k: int) -> Risk:
    """Sample uniques, records below k and sdcMicro's individual risk of the key values."""
    matrix = _matrix(codes)
    n = matrix.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    frequency, weight_sum = key_frequencies(matrix, w)
    all_suppressed = (matrix == SUPPRESSED).all(axis=1) if matrix.shape[1] else np.ones(n, dtype=bool)
    risk = individual_risk(np.where(all_suppressed, 0.0, frequency), weight_sum)
    return Risk(
        records=n,
        k=k,
        sample_unique=int((frequency == 1).sum()),
        below_k=int((frequency < k).sum()),
        global_risk=float(risk.mean()) if n else 0.0,
        expected_reidentifications=float(risk.sum()),
        max_risk=float(risk.max()) if n else 0.0,
    )


def _entropy(values: pd.Series) -> float:
    shares = values.astype(str).value_counts(normalize=True).to_numpy()
    return float(-(shares * np.log2(shares)).sum()) if len(shares) else 0.0


def _recode(values: pd.Series, levels: Sequence[Mapping[str, str]], level: int) -> pd.Series:
    """The values at a level of their hierarchy (NOT_ASKED and suppressed stay as they are)."""
    factor, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    targets = []
    for code in uniques:
        for mapping in levels[:level]:
            code = mapping.get(code, code)
        targets.append(code)
    mapped = np.array([*targets, None], dtype=object)  # the last entry: suppressed stays None
    return pd.Series(mapped[factor], index=values.index, dtype=object)


def _shortfall(codes: pd.DataFrame, k: int) -> tuple[int, float]:
    """Records below k, and how far below k they are in all (Σ max(0, k - f)).

    The shortfall also falls when a recoding brings records nearer to k without reaching it,
    which with many key variables is what a single step does.
    """
    frequency, _sums = _exact_counts(_matrix(codes), np.ones(len(codes)))
    return int((frequency < k).sum()), float(np.maximum(0.0, k - frequency).sum())


def global_recode(
    codes: pd.DataFrame, variables: Sequence[KeyVariable], k: int, max_unsafe_share: float
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Walk up the hierarchies, least information lost per record made safe first."""
    levels = {variable.name: 0 for variable in variables}
    current = codes.copy()
    tolerated = max_unsafe_share * len(codes)
    unsafe, shortfall = _shortfall(current, k)
    while unsafe > tolerated:
        best: tuple[float, str, pd.Series, int, float] | None = None
        for variable in variables:
            level = levels[variable.name]
            if level >= len(variable.levels):
                continue
            recoded = _recode(codes[variable.name], variable.levels, level + 1)
            trial_unsafe, trial_shortfall = _shortfall(current.assign(**{variable.name: recoded}), k)
            gain = shortfall - trial_shortfall
            if gain <= 0:
                continue
            loss = max(_entropy(current[variable.name]) - _entropy(recoded), 1e-9)
            score = loss / gain
            if best is None or score < best[0]:
                best = (score, variable.name, recoded, trial_unsafe, trial_shortfall)
        if best is None:
            break
        _score, name, recoded, unsafe, shortfall = best
        current[name] = recoded
        levels[name] += 1
    return current, levels


def local_suppression(codes: pd.DataFrame, k: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Suppress the fewest key values, greedily, until every record matches at least k records."""
    matrix = _matrix(codes)
    n, width = matrix.shape
    if n == 0 or width == 0:
        return codes.copy(), np.full(n, float(n))
    if n < k:
        raise DisclosureError(n, k)
    frequency, _sums = key_frequencies(matrix)
    matcher = _Matcher(matrix)
    for index in np.argsort(frequency, kind="stable"):
        if frequency[index] >= k:
            continue  # made safe by suppressions in other records (they only add matches)
        row = matrix[index]
        first = matcher.bits(row)
        bits = first
        while matcher.count(bits) < k:
            best_column, best_bits, best_count = -1, bits, -1
            for column in reversed(range(width)):  # ties: the least important variable goes first
                if row[column] == SUPPRESSED:
                    continue
                candidate = matcher.bits(row, skip=column)
                count = matcher.count(candidate)
                if count > best_count:
                    best_column, best_bits, best_count = column, candidate, count
            row[best_column] = SUPPRESSED
            matcher.suppress(int(index), best_column)
            bits = best_bits
        # The records it now matches and did not before gain one match each (matching is
        # symmetric, and a wildcard never takes a match away).
        frequency[matcher.rows(bits & ~first)] += 1
        frequency[index] = matcher.count(bits)
    result = codes.copy().astype(object)
    for column, name in enumerate(codes.columns):
        result.loc[matrix[:, column] == SUPPRESSED, name] = None
    final, _sums = key_frequencies(matrix)
    return result, final


def protect(
    codes: pd.DataFrame,
    variables: Sequence[KeyVariable],
    k: int,
    weights: np.ndarray | None = None,
    *,
    max_unsafe_share: float = 0.05,
) -> Protection:
    """Make the key variables k-anonymous: global recoding, then local suppression.

    ``codes`` has one column per key variable, in ``variables``' order (the most important
    first), with text codes and NOT_ASKED for values the skip logic left out.
    """
    if k < 1 or math.isnan(k):
        raise ValueError(f"k must be a positive whole number, not {k!r}.")
    names = [variable.name for variable in variables]
    frame = codes[names].astype(object).where(codes[names].notna(), NOT_ASKED)
    before = measure_risk(frame, weights, k)
    recoded, levels = global_recode(frame, variables, k, max_unsafe_share)
    protected, frequencies = local_suppression(recoded, k)
    after = measure_risk(protected, weights, k)
    suppressed = {name: int(protected[name].isna().sum()) for name in names}
    return Protection(protected, k, levels, suppressed, before, after, frequencies)
