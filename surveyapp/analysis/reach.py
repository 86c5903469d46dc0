"""Reach of a service per group, response rates and representativeness against the register."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveyapp.analysis._cube import GroupCoding, build_cubes, code_group
from surveyapp.analysis._dist import t_ppf
from surveyapp.analysis._plain import plain, plain_label
from surveyapp.analysis.design import SurveyDesign
from surveyapp.analysis.errors import InvalidInputError, UnknownCategoryError
from surveyapp.analysis.estimates import domain_statistics


@dataclass(frozen=True)
class ReachIndex:
    """(Group's share among the service's users) / (group's share in the register).

    The user share is a weighted ratio estimate over users whose group is known, with a
    linearised SE; the register share is a known constant. The CI is a t-interval on
    log(index) (delta method: SE(log index) = SE(share)/share) with the users' domain df.
    `under_reached` flags an upper bound below 1. A group with no users gets index 0 and the
    Clopper-Pearson upper bound 1 − (α/2)^{1/n} for its share.
    """

    group_var: str
    group: Hashable
    n_users: int | None
    user_share: float | None
    se: float | None
    register_share: float
    index: float | None
    ci_low: float | None
    ci_high: float | None
    df: int | None
    level: float
    under_reached: bool
    suppressed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def reach_indices(
    design: SurveyDesign,
    users: npt.ArrayLike,
    groups: pd.DataFrame,
    register_shares: Mapping[str, Mapping[Hashable, float]],
    *,
    level: float = 0.95,
) -> list[ReachIndex]:
    """Reach index of every register category of every group variable in `register_shares`.

    `users` marks respondents who use the service (1/True; 0/False not; NaN unknown).
    """
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    use = pd.to_numeric(pd.Series(np.asarray(users, dtype=object)), errors="coerce").to_numpy(
        dtype=np.float64
    )
    if use.shape != (design.n,):
        raise InvalidInputError("users needs one value per respondent.")
    if len(groups) != design.n:
        raise InvalidInputError(f"groups has {len(groups)} rows; the design has {design.n}.")
    user_coding = GroupCoding(
        name="users", categories=(True,), codes=np.where(use == 1, 0, -1).astype(np.intp)
    )
    results: list[ReachIndex] = []
    for group_var, shares in register_shares.items():
        if group_var not in groups.columns:
            raise InvalidInputError(f"Group variable {group_var!r} is not in groups.")
        results.extend(_reach_for_variable(design, user_coding, group_var, groups[group_var], shares, level))
    return results


def _reach_for_variable(
    design: SurveyDesign,
    user_coding: GroupCoding,
    group_var: str,
    column: pd.Series,
    shares: Mapping[Hashable, float],
    level: float,
) -> list[ReachIndex]:
    """Reach indices of one group variable: its categories' shares within the users' domain."""
    register = {plain_label(key): float(value) for key, value in shares.items()}
    if any(not 0 < share <= 1 for share in register.values()) or sum(register.values()) > 1 + 1e-9:
        raise InvalidInputError(f"Register shares of {group_var!r} must lie in (0, 1] and sum to at most 1.")
    coding = code_group(group_var, column)
    unknown = [c for c in coding.categories if c not in register]
    if unknown:
        raise UnknownCategoryError(group_var, list(unknown))
    categories = list(register)
    position = {category: index for index, category in enumerate(categories)}
    # Indicator of each register category, NaN where the group is unknown.
    remap = np.array([position[c] for c in coding.categories], dtype=np.intp)
    known = coding.codes >= 0
    indicators = np.full((design.n, len(categories)), np.nan)
    indicators[known] = 0.0
    indicators[np.flatnonzero(known), remap[coding.codes[known]]] = 1.0
    cube = build_cubes(design, indicators, [user_coding], np.zeros(len(categories), bool))[0]
    statistics = domain_statistics(design, cube)
    share = statistics.estimate[0]
    se = np.sqrt(statistics.variance[0])
    n_known = int(statistics.n[0, 0]) if categories else 0
    n_users = cube.sum_y.sum(axis=0)[0]
    df = n_known - 1
    quantile = float(t_ppf(0.5 + level / 2, df)) if df >= 1 else float("nan")
    results = []
    for k, category in enumerate(categories):
        register_share = register[category]
        if n_known == 0 or df < 1:
            results.append(
                ReachIndex(
                    group_var=group_var,
                    group=category,
                    n_users=int(n_users[k]),
                    user_share=None if n_known == 0 else float(share[k]),
                    se=None,
                    register_share=register_share,
                    index=None if n_known == 0 else float(share[k]) / register_share,
                    ci_low=None,
                    ci_high=None,
                    df=None,
                    level=level,
                    under_reached=False,
                )
            )
            continue
        index = float(share[k]) / register_share
        if share[k] > 0:
            half = quantile * float(se[k]) / float(share[k])
            low, high = index * np.exp(-half), index * np.exp(half)
        else:
            # No users from this group: the log scale is undefined, use the exact bound.
            low = 0.0
            high = (1 - ((1 - level) / 2) ** (1.0 / n_known)) / register_share
        results.append(
            ReachIndex(
                group_var=group_var,
                group=category,
                n_users=int(n_users[k]),
                user_share=float(share[k]),
                se=float(se[k]),
                register_share=register_share,
                index=index,
                ci_low=float(low),
                ci_high=float(high),
                df=df,
                level=level,
                under_reached=bool(high < 1),
            )
        )
    return results


@dataclass(frozen=True)
class ResponseRate:
    """Response per group from plain counts, and how well respondents mirror the invited.

    representativeness = (group's share of respondents) / (group's share in the register, or
    of the invited when no register is given): 1 is proportional, below 1 under-represented.
    """

    group: Hashable
    invited: int
    submitted: int
    response_rate: float | None
    invited_share: float | None
    respondent_share: float | None
    representativeness: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


def response_rates(
    invited: Mapping[Hashable, int],
    submitted: Mapping[Hashable, int],
    register: Mapping[Hashable, float] | None = None,
) -> list[ResponseRate]:
    """Response rate and representativeness per group, from invited and submitted counts.

    Representativeness compares the group's share of respondents with its share in the
    register (`register`: counts or shares per group, normalised here), or, without a
    register, with its share of the invited.
    """
    unknown = [group for group in submitted if group not in invited]
    if unknown:
        raise UnknownCategoryError("submitted", list(unknown))
    for group, count in invited.items():
        done = submitted.get(group, 0)
        if count < 0 or done < 0 or done > count:
            raise InvalidInputError(f"Group {group!r}: need 0 ≤ submitted ≤ invited, got {done} of {count}.")
    reference: Mapping[Hashable, float] = invited if register is None else register
    missing = [group for group in invited if group not in reference]
    if missing:
        raise UnknownCategoryError("register", list(missing))
    if any(value < 0 for value in reference.values()):
        raise InvalidInputError("Register counts or shares must not be negative.")
    total_reference = float(sum(reference.values()))
    total_invited = sum(invited.values())
    total_submitted = sum(submitted.values())
    results = []
    for group, count in invited.items():
        done = submitted.get(group, 0)
        reference_share = reference[group] / total_reference if total_reference else None
        respondent_share = done / total_submitted if total_submitted else None
        results.append(
            ResponseRate(
                group=plain_label(group),
                invited=int(count),
                submitted=int(done),
                response_rate=done / count if count else None,
                invited_share=count / total_invited if total_invited else None,
                respondent_share=respondent_share,
                representativeness=(
                    respondent_share / reference_share
                    if reference_share and respondent_share is not None
                    else None
                ),
            )
        )
    return results
