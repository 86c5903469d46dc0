"""The result of analysing one wave: frozen dataclasses, JSON out (`result.schema.json`).

Every number a report, the dashboard or the CLI shows comes from an `AnalysisResult`. Rows
carry their disclosure decision: a suppressed row has `suppressed` true and no numbers (and no
n), whatever list it is in. `to_json_dict()` gives plain JSON data (no NaN, no numpy types)
that validates against `result.schema.json` (JSON Schema draft 2020-12).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from surveyapp.analysis._plain import plain
from surveyapp.analysis.errors import InvalidInputError, InvalidThresholdError
from surveyapp.analysis.suppression import MINIMUM_THRESHOLD

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "result.schema.json"

AdjustOption = Literal["holm", "fdr_bh", "none"]
CiOption = Literal["logit", "beta"]
Classification = Literal["above", "straddles", "below", "suppressed", "no_data"]
MEASURES = (
    "awareness",
    "usage",
    "satisfaction",
    "satisfaction_mean",
    "need",
    "missing_offer",
    "help_type",
    "funnel",
    "funnel_conversion",
)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse a wave.

    rake_vars: group variables to rake on (question ids or register columns); None = the
        default set (see `surveyapp.analysis.measures.DEFAULT_RAKE_VARS`), () = no raking.
    ci_method: proportion intervals, "logit" (R svyciprop default) or "beta" (Korn-Graubard).
    min_cell: disclosure threshold, respondents per published cell (at least 5).
    adjust: multiplicity correction across the whole report, "holm" (confirmatory),
        "fdr_bh" (Benjamini-Hochberg, screening) or "none".
    level: confidence level of every interval.
    threshold: the headline's satisfaction threshold (share satisfied, top-2-box).
    fpc: finite population correction with the register size as N.
    gap_vars / adjust_for / gap_outcomes: the adjusted-gap models (None = defaults).
    """

    rake_vars: tuple[str, ...] | None = None
    ci_method: CiOption = "logit"
    min_cell: int = 10
    adjust: AdjustOption = "holm"
    level: float = 0.95
    threshold: float = 0.8
    fpc: bool = False
    gap_vars: tuple[str, ...] | None = None
    adjust_for: tuple[str, ...] | None = None
    gap_outcomes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.rake_vars is not None:
            object.__setattr__(self, "rake_vars", tuple(self.rake_vars))
        for name in ("gap_vars", "adjust_for", "gap_outcomes"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.ci_method not in ("logit", "beta"):
            raise InvalidInputError(f"ci_method must be 'logit' or 'beta', not {self.ci_method!r}.")
        if self.adjust not in ("holm", "fdr_bh", "none"):
            raise InvalidInputError(f"adjust must be 'holm', 'fdr_bh' or 'none', not {self.adjust!r}.")
        if isinstance(self.min_cell, bool) or int(self.min_cell) != self.min_cell:
            raise InvalidThresholdError(
                f"The minimum cell size must be a whole number, not {self.min_cell!r}."
            )
        if self.min_cell < MINIMUM_THRESHOLD:
            raise InvalidThresholdError(
                f"The minimum cell size {self.min_cell} is below the allowed minimum of {MINIMUM_THRESHOLD} "
                "respondents: smaller cells could identify people."
            )
        if not 0 < self.level < 1:
            raise InvalidInputError(f"The confidence level must lie between 0 and 1, not {self.level!r}.")
        if not 0 < self.threshold < 1:
            raise InvalidInputError(
                f"The headline threshold must lie between 0 and 1, not {self.threshold!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        result: dict[str, Any] = plain(self)
        return result


@dataclass(frozen=True)
class WaveInfo:
    """Which wave was analysed (all optional: files have no wave)."""

    slug: str | None = None
    title: str | None = None
    audience: str | None = None
    opens_on: str | None = None
    closes_on: str | None = None
    base_population: int | None = None
    suppression_threshold: int | None = None


@dataclass(frozen=True)
class QuestionnaireInfo:
    id: str
    version: str | None
    content_hash: str
    title: str


@dataclass(frozen=True)
class ItemInfo:
    """One analysed item: what it measures and which answer it comes from."""

    item: str
    measure: str
    kind: Literal["proportion", "mean"]
    question: str  # the answer name (tidy column) or the question id of a derived item
    question_id: str
    subject: str | None
    subject_kind: str | None
    aspect: str | None
    code: str | None
    funnel_step: int | None
    positive: tuple[str, ...]
    exclude: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class MarginInfo:
    """A raking margin: register counts per category ('not asked' included)."""

    variable: str
    register_column: str
    categories: tuple[str, ...]
    population: tuple[float, ...]


@dataclass(frozen=True)
class LeftOut:
    """A default raking variable that was not used, and why."""

    variable: str
    reason: str


@dataclass(frozen=True)
class WeightingSummary:
    method: Literal["raking", "none"]
    variables: tuple[str, ...]
    iterations: int
    converged: bool
    max_margin_error: float | None
    kish_deff: float
    effective_n: float
    weight_min: float
    weight_max: float
    weight_mean: float
    population_size: float | None
    n_respondents: int
    base_weight: float
    fpc: bool
    not_asked_category: str
    margins: tuple[MarginInfo, ...] = ()
    left_out: tuple[LeftOut, ...] = ()


@dataclass(frozen=True)
class EstimateRow:
    """An item overall (group_var None) or in one group; no numbers when suppressed."""

    item: str
    measure: str
    kind: str
    subject: str | None
    question: str
    aspect: str | None
    code: str | None
    group_var: str | None
    group: str | None
    n: int | None
    weighted_n: float | None
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    df: int | None
    ci_method: str
    level: float
    suppressed: bool
    suppression: str | None = None


@dataclass(frozen=True)
class OfferingClass:
    """One offering's satisfaction against the headline threshold."""

    subject: str
    item: str
    n: int | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    classification: Classification


@dataclass(frozen=True)
class Headline:
    """ "k of n offerings above the threshold", with the CI-based classification."""

    measure: str
    threshold: float
    level: float
    n_offerings: int
    n_estimated: int
    k_above: int  # point estimate above the threshold
    above: int  # the whole CI above
    straddles: int
    below: int  # the whole CI below
    not_estimated: int
    text: str
    offerings: tuple[OfferingClass, ...] = ()


@dataclass(frozen=True)
class FunnelStep:
    """A step of a funnel: its share of all respondents and of those at the previous step."""

    subject: str
    step: int
    question: str
    measure: str
    aspect: str | None
    item: str
    n: int | None
    share: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    conversion: float | None
    conversion_ci_low: float | None
    conversion_ci_high: float | None
    conversion_n: int | None
    suppressed: bool


@dataclass(frozen=True)
class ReachRow:
    """(Share of a group among users) / (its share in the register), CI on the log scale."""

    subject: str | None  # None: users of any offering
    users_item: str
    group_var: str
    register_column: str
    group: str
    population_share: float
    user_share: float | None
    se: float | None
    index: float | None
    ci_low: float | None
    ci_high: float | None
    df: int | None
    n: int | None  # users in the group (unweighted)
    under_reached: bool
    suppressed: bool
    suppression: str | None = None


@dataclass(frozen=True)
class ResponseRateRow:
    """Invited, submitted and representativeness of one register group (None: everyone)."""

    group_var: str | None
    register_column: str | None
    group: str | None
    invited: int
    submitted: int | None
    response_rate: float | None
    invited_share: float | None
    respondent_share: float | None
    representativeness: float | None
    suppressed: bool


@dataclass(frozen=True)
class TestRow:
    """Rao-Scott second-order F test of an item by a group variable (R svychisq)."""

    item: str
    measure: str
    subject: str | None
    question: str
    aspect: str | None
    code: str | None
    group_var: str
    statistic: str
    value: float | None
    df_num: float | None
    df_den: float | None
    p: float | None
    p_adjusted: float | None
    adjust_method: str
    n: int
    mean_design_effect: float | None


@dataclass(frozen=True)
class ComparisonRow:
    """A group against the rest of its variable, with a report-wide multiplicity correction."""

    item: str
    measure: str
    kind: str
    subject: str | None
    question: str
    aspect: str | None
    code: str | None
    group_var: str
    group: str
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
    p: float | None
    p_adjusted: float | None
    adjust_method: str
    suppressed: bool


@dataclass(frozen=True)
class OddsRatio:
    odds_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None


@dataclass(frozen=True)
class GapRow:
    """A group's odds of an outcome against the reference group, before and after adjustment."""

    outcome: str
    measure: str
    subject: str | None
    gap_var: str
    group: str
    reference: str
    adjusted_for: tuple[str, ...]
    n_model: int
    n_group: int | None
    unadjusted: OddsRatio | None
    adjusted: OddsRatio | None
    gap_remains: bool | None  # the adjusted CI excludes 1
    suppressed: bool


@dataclass(frozen=True)
class WaveChangeRow:
    """later − earlier for the same item and group in two waves (independent samples)."""

    item: str
    measure: str
    kind: str
    subject: str | None
    question: str
    aspect: str | None
    code: str | None
    group_var: str | None
    group: str | None
    earlier: float | None
    later: float | None
    difference: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    df: float | None
    t: float | None
    p: float | None
    suppressed: bool


@dataclass(frozen=True)
class SuppressionSummary:
    threshold: int
    rule: str
    estimates_suppressed: int
    primary: int
    complementary: int
    reach_suppressed: int
    comparisons_suppressed: int
    response_rates_suppressed: int
    gaps_suppressed: int


@dataclass(frozen=True)
class OpenAnswers:
    """Free-text questions are not analysed here; only how many answered (overall)."""

    question: str
    measure: str | None
    n_answered: int


@dataclass(frozen=True)
class AnalysisResult:
    """Everything computed for one wave (see `to_json_dict` and result.schema.json)."""

    generated_at: str
    questionnaire: QuestionnaireInfo
    options: AnalysisOptions
    weighting: WeightingSummary
    items: tuple[ItemInfo, ...]
    estimates: tuple[EstimateRow, ...]
    headline: Headline
    funnel: tuple[FunnelStep, ...]
    reach: tuple[ReachRow, ...]
    response_rates: tuple[ResponseRateRow, ...]
    tests: tuple[TestRow, ...]
    comparisons: tuple[ComparisonRow, ...]
    adjusted_gaps: tuple[GapRow, ...]
    wave_changes: tuple[WaveChangeRow, ...]
    suppression: SuppressionSummary
    notes: tuple[str, ...]
    open_answers: tuple[OpenAnswers, ...] = ()
    n_respondents: int = 0
    wave: WaveInfo | None = None
    compared_with: WaveInfo | None = None
    schema_version: str = SCHEMA_VERSION
    _index: dict[tuple[str, str | None, Hashable], EstimateRow] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def estimate(self, item: str, group_var: str | None = None, group: str | None = None) -> EstimateRow:
        """The estimate row of an item overall or in one group (KeyError if absent)."""
        if not self._index:
            self._index.update({(row.item, row.group_var, row.group): row for row in self.estimates})
        return self._index[(item, group_var, group)]

    def rows(self, measure: str) -> Iterator[EstimateRow]:
        """Estimate rows of one measure."""
        return (row for row in self.estimates if row.measure == measure)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON data, valid against result.schema.json."""
        return {
            "schema_version": self.schema_version,
            "generated_at": self.generated_at,
            "wave": _json(self.wave),
            "compared_with": _json(self.compared_with),
            "questionnaire": _json(self.questionnaire),
            "n_respondents": self.n_respondents,
            "options": self.options.to_dict(),
            "weighting": _json(self.weighting),
            "items": [_json(item) for item in self.items],
            "estimates": _rows(self.estimates),
            "headline": _json(self.headline),
            "funnel": _rows(self.funnel),
            "reach": _rows(self.reach),
            "response_rates": _rows(self.response_rates),
            "tests": _rows(self.tests),
            "comparisons": _rows(self.comparisons),
            "adjusted_gaps": [_json(row) for row in self.adjusted_gaps],
            "wave_changes": _rows(self.wave_changes),
            "suppression": _json(self.suppression),
            "notes": list(self.notes),
            "open_answers": _rows(self.open_answers),
        }

    def to_json(self, **kwargs: Any) -> str:
        """The JSON text (kwargs go to json.dumps)."""
        return json.dumps(self.to_json_dict(), ensure_ascii=False, **kwargs)


def _json(value: Any) -> Any:
    return None if value is None else plain(value)


def _rows(rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Flat rows as dicts: shallow copies (rows hold plain Python values), with any
    non-finite number in a float field turned into None, as JSON has no NaN."""
    if not rows:
        return []
    numeric, nested = _field_kinds(type(rows[0]))
    result = []
    for row in rows:
        copy = dict(row.__dict__)
        for key in numeric:
            value = copy[key]
            if value is not None and not math.isfinite(value):
                copy[key] = None
        for key in nested:
            copy[key] = plain(copy[key])
        result.append(copy)
    return result


_KINDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _field_kinds(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(float fields, fields that need `plain`) of a row dataclass, from its annotations."""
    if cls not in _KINDS:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        numeric = tuple(name for name, f in fields.items() if str(f.type).startswith("float"))
        nested = tuple(
            name for name, f in fields.items() if not str(f.type).startswith(("float", "int", "str", "bool"))
        )
        _KINDS[cls] = (numeric, nested)
    return _KINDS[cls]


def load_schema() -> dict[str, Any]:
    """The JSON Schema of `AnalysisResult.to_json_dict()`."""
    text = resources.files("surveyapp.analysis").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


ESTIMATE_CSV_FIELDS: tuple[str, ...] = tuple(EstimateRow.__dataclass_fields__)
