"""Disclosure control: hide small cells, and enough others that none can be recovered.

Rules, per item:
- primary: a cell with 0 < n < threshold respondents is suppressed (an empty cell, n = 0,
  publishes nothing but the zero and is not suppressed);
- complementary: within one group variable the categories partition the item's respondents,
  so the overall n (and the overall estimate) minus the visible cells gives the sum of the
  hidden ones. If a partition hides exactly one cell, or hidden cells whose n add up to less
  than the threshold, the smallest visible non-empty cells are hidden too until at least two
  are hidden and their n add up to at least the threshold (or nothing is left to hide).
Suppressed cells carry no numbers: `suppress_estimates` blanks estimate, SE, CI, df and n.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from surveyapp.analysis._plain import plain
from surveyapp.analysis.errors import InvalidThresholdError
from surveyapp.analysis.estimates import Estimate
from surveyapp.analysis.reach import ReachIndex
from surveyapp.analysis.significance import GroupComparison

MINIMUM_THRESHOLD = 5
DEFAULT_THRESHOLD = 10

Reason = Literal["primary", "complementary"]
CellKey = tuple[str, str | None, Hashable | None]


@dataclass(frozen=True)
class CellCount:
    """Unweighted respondents of one published cell (group_var None: the item overall)."""

    item: str
    group_var: str | None
    group: Hashable | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


@dataclass(frozen=True)
class CellDecision:
    """Whether a cell is published, and if not why."""

    item: str
    group_var: str | None
    group: Hashable | None
    n: int
    reason: Reason | None

    @property
    def suppressed(self) -> bool:
        """True when the cell must not show any number."""
        return self.reason is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (the n of a suppressed cell is left out)."""
        result: dict[str, Any] = plain(self)
        result["suppressed"] = self.suppressed
        if self.suppressed:
            result["n"] = None
        return result


@dataclass(frozen=True)
class SuppressionPlan:
    """Decisions for every cell, and the threshold they were made with."""

    threshold: int
    decisions: tuple[CellDecision, ...]

    def reason(self, item: str, group_var: str | None, group: Hashable | None) -> Reason | None:
        """Why a cell is suppressed (None: published, or not in the plan)."""
        return self._index().get((item, group_var, group))

    def _index(self) -> dict[CellKey, Reason | None]:
        cached: dict[CellKey, Reason | None] | None = self.__dict__.get("_cache")
        if cached is None:
            cached = {(d.item, d.group_var, d.group): d.reason for d in self.decisions}
            object.__setattr__(self, "_cache", cached)
        return cached

    @property
    def suppressed(self) -> tuple[CellDecision, ...]:
        """The suppressed cells only."""
        return tuple(decision for decision in self.decisions if decision.suppressed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "threshold": self.threshold,
            "decisions": [decision.to_dict() for decision in self.decisions],
        }


def check_threshold(threshold: int) -> int:
    """Thresholds below 5 respondents are not allowed: such cells identify people."""
    if isinstance(threshold, bool) or int(threshold) != threshold:
        raise InvalidThresholdError(f"Threshold must be a whole number, not {threshold!r}.")
    if threshold < MINIMUM_THRESHOLD:
        raise InvalidThresholdError(
            f"Suppression threshold {threshold} is below the minimum of {MINIMUM_THRESHOLD}."
        )
    return int(threshold)


def plan_suppression(cells: Iterable[CellCount], *, threshold: int = DEFAULT_THRESHOLD) -> SuppressionPlan:
    """Primary and complementary suppression decisions for every cell (see module doc)."""
    threshold = check_threshold(threshold)
    cell_list = list(cells)
    reasons: list[Reason | None] = ["primary" if 0 < cell.n < threshold else None for cell in cell_list]
    partitions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, cell in enumerate(cell_list):
        if cell.group_var is not None:
            partitions[(cell.item, cell.group_var)].append(index)
    for members in partitions.values():
        _complete_partition(cell_list, reasons, members, threshold)
    decisions = tuple(
        CellDecision(cell.item, cell.group_var, cell.group, cell.n, reason)
        for cell, reason in zip(cell_list, reasons, strict=True)
    )
    return SuppressionPlan(threshold=threshold, decisions=decisions)


def _complete_partition(
    cells: list[CellCount], reasons: list[Reason | None], members: list[int], threshold: int
) -> None:
    """Add complementary suppressions until the hidden cells cannot be told apart."""

    def hidden() -> list[int]:
        return [index for index in members if reasons[index] is not None]

    while True:
        hidden_now = hidden()
        if not hidden_now:
            return
        hidden_total = sum(cells[index].n for index in hidden_now)
        if len(hidden_now) >= 2 and hidden_total >= threshold:
            return
        # Smallest visible non-empty cell; ties go to the first listed, for stable output.
        candidates = [i for i in members if reasons[i] is None and cells[i].n > 0]
        if not candidates:
            return
        chosen = min(candidates, key=lambda index: (cells[index].n, members.index(index)))
        reasons[chosen] = "complementary"


def estimate_cells(estimates: Iterable[Estimate]) -> list[CellCount]:
    """The cells of an estimate table (an empty or unknown n counts as zero)."""
    return [CellCount(e.item, e.group_var, e.group, e.n or 0) for e in estimates]


def suppress_estimates(
    estimates: Sequence[Estimate], *, threshold: int = DEFAULT_THRESHOLD
) -> tuple[list[Estimate], SuppressionPlan]:
    """Blank every number of suppressed cells; returns the blanked table and the plan."""
    plan = plan_suppression(estimate_cells(estimates), threshold=threshold)
    blanked = []
    for estimate, decision in zip(estimates, plan.decisions, strict=True):
        if decision.reason is None:
            blanked.append(estimate)
        else:
            blanked.append(
                dataclasses.replace(
                    estimate,
                    n=None,
                    weight_sum=None,
                    estimate=None,
                    se=None,
                    ci_low=None,
                    ci_high=None,
                    df=None,
                    suppressed=decision.reason,
                )
            )
    return blanked, plan


def suppress_comparisons(
    comparisons: Sequence[GroupComparison], plan: SuppressionPlan
) -> list[GroupComparison]:
    """Blank group-vs-rest results whose group is suppressed or whose rest is too small."""
    result = []
    for comparison in comparisons:
        reason = plan.reason(comparison.item, comparison.group_var, comparison.group)
        if reason is None and (comparison.n_rest or 0) >= plan.threshold:
            result.append(comparison)
            continue
        result.append(
            dataclasses.replace(
                comparison,
                n_group=None,
                n_rest=None,
                estimate_group=None,
                estimate_rest=None,
                difference=None,
                se=None,
                ci_low=None,
                ci_high=None,
                t=None,
                p_value=None,
                p_adjusted=None,
                suppressed=reason or "primary",
            )
        )
    return result


def suppress_reach(
    indices: Sequence[ReachIndex], *, threshold: int = DEFAULT_THRESHOLD
) -> tuple[list[ReachIndex], SuppressionPlan]:
    """Suppress reach indices of groups with few users (the users of a group variable
    partition all users, so complementary suppression applies as for estimates)."""
    cells = [CellCount("reach", r.group_var, r.group, r.n_users or 0) for r in indices]
    plan = plan_suppression(cells, threshold=threshold)
    result = []
    for index, decision in zip(indices, plan.decisions, strict=True):
        if decision.reason is None:
            result.append(index)
            continue
        result.append(
            dataclasses.replace(
                index,
                n_users=None,
                user_share=None,
                se=None,
                index=None,
                ci_low=None,
                ci_high=None,
                df=None,
                under_reached=False,
                suppressed=decision.reason,
            )
        )
    return result, plan
