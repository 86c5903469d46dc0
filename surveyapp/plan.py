"""Strategic plans and their six-monthly follow-up: the plan model, its loader, and the pure logic.

A plan file (YAML, see ``plans/README.md``) holds strategic goals, their operational goals, the
actions under each, and indicators. An indicator either binds to a survey estimate (one row of
a wave's analysis, found by its fields) or takes values that planners enter every six months.

This module is a plain library like ``surveyapp.questionnaire``: no Flask, no database. The
loader reports every problem of a file at once (``PlanError.problems``); the follow-up logic
works on plain records (``ActionRecord``, ``ValueRecord``, ``WaveEstimates``), so it can be
tested with hand-made numbers; ``surveyapp.services.followup`` feeds it from the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from surveyapp import formatting
from surveyapp.yaml_files import FileProblemsError, YamlSyntaxError, content_hash, read_yaml

if TYPE_CHECKING:
    from surveyapp.questionnaire.model import Questionnaire

FORMAT = "surveyapp-plan/1"
REQUIRED_LANGUAGES = ("nl", "en")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2}$")
PLAN_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PLAN_ID_MAX = 64  # the database keys are String(64)
ITEM_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
PERIOD_PATTERN = re.compile(r"^(\d{4})-H([12])$")
WAVE_SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

UNITS = ("percent", "count", "score")
DIRECTIONS = ("increase", "decrease")
ACTION_STATUSES = ("not_started", "under_way", "done", "dropped")
INDICATOR_STATES = ("reached", "on_track", "behind", "no_data", "no_baseline")
# The analysis' measures (surveyapp.analysis.result.MEASURES), repeated so this module stays light.
ANALYSIS_MEASURES = (
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
# The fields of an analysis estimate row a binding may name; the first two are required.
BINDING_FIELDS = ("measure", "question", "subject", "aspect", "code", "group_var", "group")
BINDING_REQUIRED = ("measure", "question")

TOP_KEYS = {"format", "id", "title", "description", "period", "goals"}
PERIOD_KEYS = {"start", "end"}
GOAL_KEYS = {"id", "title", "description", "operational_goals", "indicators"}
OPERATIONAL_KEYS = {"id", "title", "actions", "indicators"}
ACTION_KEYS = {"id", "title"}
INDICATOR_KEYS = {"id", "title", "unit", "baseline", "target", "direction", "manual", "measure", "note"}
BASELINE_KEYS = {"value", "period", "wave", "note"}
TARGET_KEYS = {"value", "by", "note"}

LocalizedText = dict[str, str]


# --------------------------------------------------------------------------------------------
# Periods: half-years like 2026-H1
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """A half-year: H1 is January-June, H2 July-December."""

    year: int
    half: int

    def __str__(self) -> str:
        return f"{self.year}-H{self.half}"

    @property
    def index(self) -> int:
        """Half-years since year 0: consecutive periods differ by 1."""
        return self.year * 2 + self.half - 1

    @classmethod
    def from_index(cls, index: int) -> Period:
        return cls(index // 2, index % 2 + 1)

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, 1 if day.month <= 6 else 2)

    @property
    def first_day(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)


def parse_period(value: Any) -> Period | None:
    """``"2026-H1"`` → Period(2026, 1); anything else → None."""
    if not isinstance(value, str):
        return None
    match = PERIOD_PATTERN.match(value.strip())
    if not match:
        return None
    return Period(int(match.group(1)), int(match.group(2)))


def current_period(today: date | None = None) -> Period:
    """The half-year of a day (today by default)."""
    return Period.of(today or date.today())


def periods_between(first: Period, last: Period) -> list[Period]:
    return [Period.from_index(i) for i in range(first.index, last.index + 1)]


def localize(text: Mapping[str, str] | None, lang: str, fallback: str = "nl") -> str:
    if not text:
        return ""
    return text.get(lang) or text.get(fallback) or next(iter(text.values()), "")


# --------------------------------------------------------------------------------------------
# The plan model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """Where an indicator started: a value in a period, or a survey wave's estimate."""

    value: float | None
    period: Period | None
    wave: str | None = None
    note: LocalizedText | None = None


@dataclass(frozen=True)
class Target:
    """Where it should be, by when (a half-year; ``by_date`` keeps an exact date if one was given)."""

    value: float
    by: Period
    by_date: date | None = None
    note: LocalizedText | None = None


@dataclass(frozen=True)
class Binding:
    """Which estimate row of a wave's analysis an indicator reads (no group = overall)."""

    measure: str
    question: str
    subject: str | None = None
    aspect: str | None = None
    code: str | None = None
    group_var: str | None = None
    group: str | None = None

    def fields(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in BINDING_FIELDS}

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Every named field equal; without a group only the overall row (group_var empty)."""
        for name in BINDING_FIELDS:
            wanted = getattr(self, name)
            found = row.get(name)
            if wanted is None:
                if name in ("group_var", "group") and found is not None:
                    return False
                continue
            if found is None or str(found) != wanted:
                return False
        return True

    def describe(self) -> str:
        parts = [f"{name}={value}" for name, value in self.fields().items() if value is not None]
        return ", ".join(parts)


@dataclass(frozen=True)
class Indicator:
    id: str
    title: LocalizedText
    unit: str
    direction: str
    baseline: Baseline
    target: Target
    binding: Binding | None  # None: a manual indicator
    goal_id: str
    operational_goal_id: str | None
    note: LocalizedText | None = None

    @property
    def manual(self) -> bool:
        return self.binding is None


@dataclass(frozen=True)
class Action:
    id: str
    title: LocalizedText
    goal_id: str
    operational_goal_id: str


@dataclass(frozen=True)
class OperationalGoal:
    id: str
    title: LocalizedText
    goal_id: str
    actions: tuple[Action, ...]
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Goal:
    id: str
    title: LocalizedText
    operational_goals: tuple[OperationalGoal, ...]
    indicators: tuple[Indicator, ...] = ()  # indicators of the strategic goal itself
    description: LocalizedText | None = None


@dataclass(frozen=True)
class Plan:
    id: str
    title: LocalizedText
    start_year: int
    end_year: int
    goals: tuple[Goal, ...]
    content_hash: str
    description: LocalizedText | None = None

    @property
    def operational_goals(self) -> tuple[OperationalGoal, ...]:
        return tuple(od for goal in self.goals for od in goal.operational_goals)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(action for od in self.operational_goals for action in od.actions)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        found: list[Indicator] = []
        for goal in self.goals:
            found.extend(goal.indicators)
            for od in goal.operational_goals:
                found.extend(od.indicators)
        return tuple(found)

    @property
    def manual_indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.manual)

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def indicator(self, indicator_id: str) -> Indicator | None:
        return next((i for i in self.indicators if i.id == indicator_id), None)

    @property
    def first_period(self) -> Period:
        return Period(self.start_year, 1)

    @property
    def last_period(self) -> Period:
        return Period(self.end_year, 2)


# --------------------------------------------------------------------------------------------
# Loading and validation: every problem, not the first
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan file: where, and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class PlanError(FileProblemsError):
    """A plan file with problems; ``problems`` lists them all."""

    problems: list[Problem]


def load_plan(path: str | Path) -> Plan:
    """Read, validate and build a plan from a YAML file (``PlanError`` lists every problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(str(path), [Problem("file", f"cannot be read: {exc}")]) from exc
    return parse_plan(text, source=str(path))


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    try:
        data = read_yaml(text)
    except YamlSyntaxError as exc:
        raise PlanError(source, [Problem(exc.where, exc.message)]) from exc
    return build_plan(data, source=source)


def build_plan(data: Any, source: str = "<plan>") -> Plan:
    builder = _Builder()
    plan = builder.build(data)
    if builder.problems or plan is None:
        raise PlanError(source, builder.problems)
    return plan


def check_plan_file(path: str | Path) -> list[Problem]:
    """Every problem of a plan file (empty when it is valid)."""
    try:
        load_plan(path)
    except PlanError as exc:
        return exc.problems
    return []


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Builder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.seen_ids: dict[str, str] = {}  # id → where it was first defined

    def error(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    def mapping(self, value: Any, location: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(location, f"must be a mapping (key: value), not {type(value).__name__}")
            return None
        return value

    def unknown_keys(self, data: Mapping[str, Any], allowed: set[str], location: str) -> None:
        for key in data:
            if key not in allowed:
                self.error(location, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")

    def text(self, value: Any, location: str, *, required: bool = True) -> LocalizedText | None:
        if value is None:
            if required:
                self.error(location, "is missing")
            return None
        if isinstance(value, str):
            value = {"nl": value}  # a bare string is Dutch; the English translation is then missing
        if not isinstance(value, dict):
            self.error(location, "must be a text per language, e.g. {nl: ..., en: ...}")
            return None
        result: LocalizedText = {}
        for lang, text in value.items():
            if not isinstance(lang, str) or not LANGUAGE_PATTERN.match(lang):
                self.error(location, f"{lang!r} is not a language code such as nl or en")
            elif not isinstance(text, str) or not text.strip():
                self.error(location, f"the {lang!r} text is empty")
            else:
                result[lang] = " ".join(text.split())
        for lang in REQUIRED_LANGUAGES:
            if lang not in value:
                self.error(location, f"the {lang!r} translation is missing")
        return result

    def item_id(self, value: Any, location: str, what: str) -> str | None:
        if value is None:
            self.error(location, f"the {what} has no id")
            return None
        if not isinstance(value, str) or not ITEM_ID_PATTERN.match(value):
            self.error(
                location,
                f"{what} id {value!r} must start with a letter and have at most 64 letters, digits, . _ or -",
            )
            return None
        if value in self.seen_ids:
            self.error(location, f"duplicate id {value!r} (also used at {self.seen_ids[value]})")
            return None
        self.seen_ids[value] = location
        return value

    def items(self, value: Any, location: str, what: str, *, required: bool = True) -> list[Any]:
        if value is None:
            if required:
                self.error(location, f"has no {what}")
            return []
        if not isinstance(value, list):
            self.error(location, f"{what} must be a list")
            return []
        if required and not value:
            self.error(location, f"has no {what}")
        return value

    # --- the plan -------------------------------------------------------------------------------

    def build(self, data: Any) -> Plan | None:
        if data is None:
            self.error("file", "is empty")
            return None
        top = self.mapping(data, "file")
        if top is None:
            return None
        self.unknown_keys(top, TOP_KEYS, "file")
        if top.get("format", FORMAT) != FORMAT:
            self.error("format", f"unsupported format {top.get('format')!r}; expected {FORMAT!r}")
        plan_id = top.get("id")
        if plan_id is None:
            self.error("id", "is missing")
        elif not isinstance(plan_id, str) or not PLAN_ID_PATTERN.match(plan_id) or len(plan_id) > PLAN_ID_MAX:
            self.error(
                "id",
                f"plan id {plan_id!r} must be at most {PLAN_ID_MAX} lower-case letters, digits and single "
                "hyphens, like strategisch-plan-2022-2025",
            )
            plan_id = None
        title = self.text(top.get("title"), "title")
        description = self.text(top.get("description"), "description", required=False)
        start, end = self.plan_period(top.get("period"))
        goals: list[Goal] = []
        for index, raw in enumerate(self.items(top.get("goals"), "goals", "goals")):
            goal = self.goal(raw, f"goals[{index + 1}]")
            if goal is not None:
                goals.append(goal)
        if start is not None and end is not None:
            self.check_deadlines(goals, start, end)
        if self.problems:
            return None
        assert plan_id is not None and title is not None and start is not None and end is not None
        return Plan(
            id=plan_id,
            title=title,
            start_year=start,
            end_year=end,
            goals=tuple(goals),
            content_hash=content_hash(top),
            description=description,
        )

    def plan_period(self, value: Any) -> tuple[int | None, int | None]:
        raw = self.mapping(value, "period") if value is not None else None
        if value is None:
            self.error("period", "is missing (give start and end years, e.g. {start: 2022, end: 2025})")
        if raw is None:
            return None, None
        self.unknown_keys(raw, PERIOD_KEYS, "period")
        years: list[int | None] = []
        for key in ("start", "end"):
            year = raw.get(key)
            if isinstance(year, int) and not isinstance(year, bool) and 2000 <= year <= 2100:
                years.append(year)
            else:
                self.error(f"period.{key}", f"must be a year such as 2022, not {year!r}")
                years.append(None)
        start, end = years
        if start is not None and end is not None and end < start:
            self.error("period", "the end year is before the start year")
        return start, end

    def goal(self, raw: Any, location: str) -> Goal | None:
        data = self.mapping(raw, location)
        if data is None:
            return None
        goal_id = self.item_id(data.get("id"), location, "strategic goal")
        if goal_id is not None:
            location = f"goal {goal_id}"
        self.unknown_keys(data, GOAL_KEYS, location)
        title = self.text(data.get("title"), f"{location} › title")
        description = self.text(data.get("description"), f"{location} › description", required=False)
        operational: list[OperationalGoal] = []
        raw_ods = self.items(data.get("operational_goals"), location, "operational_goals")
        for index, raw_od in enumerate(raw_ods):
            od = self.operational_goal(raw_od, f"{location} › operational_goals[{index + 1}]", goal_id or "")
            if od is not None:
                operational.append(od)
        indicators = self.indicators(data.get("indicators"), location, goal_id or "", None)
        if goal_id is None or title is None:
            return None
        return Goal(goal_id, title, tuple(operational), tuple(indicators), description)

    def operational_goal(self, raw: Any, location: str, goal_id: str) -> OperationalGoal | None:
        data = self.mapping(raw, location)
        if data is None:
            return None
        od_id = self.item_id(data.get("id"), location, "operational goal")
        if od_id is not None:
            location = f"operational goal {od_id}"
        self.unknown_keys(data, OPERATIONAL_KEYS, location)
        title = self.text(data.get("title"), f"{location} › title")
        actions: list[Action] = []
        for index, raw_action in enumerate(self.items(data.get("actions"), location, "actions")):
            where = f"{location} › actions[{index + 1}]"
            action_data = self.mapping(raw_action, where)
            if action_data is None:
                continue
            action_id = self.item_id(action_data.get("id"), where, "action")
            if action_id is not None:
                where = f"action {action_id}"
            self.unknown_keys(action_data, ACTION_KEYS, where)
            action_title = self.text(action_data.get("title"), f"{where} › title")
            if action_id is not None and action_title is not None:
                actions.append(Action(action_id, action_title, goal_id, od_id or ""))
        indicators = self.indicators(data.get("indicators"), location, goal_id, od_id)
        if od_id is None or title is None:
            return None
        return OperationalGoal(od_id, title, goal_id, tuple(actions), tuple(indicators))

    def indicators(self, value: Any, location: str, goal_id: str, od_id: str | None) -> list[Indicator]:
        found: list[Indicator] = []
        for index, raw in enumerate(self.items(value, location, "indicators", required=False)):
            indicator = self.indicator(raw, f"{location} › indicators[{index + 1}]", goal_id, od_id)
            if indicator is not None:
                found.append(indicator)
        return found

    # --- indicators -----------------------------------------------------------------------------

    def indicator(self, raw: Any, location: str, goal_id: str, od_id: str | None) -> Indicator | None:
        data = self.mapping(raw, location)
        if data is None:
            return None
        indicator_id = self.item_id(data.get("id"), location, "indicator")
        if indicator_id is not None:
            location = f"indicator {indicator_id}"
        self.unknown_keys(data, INDICATOR_KEYS, location)
        title = self.text(data.get("title"), f"{location} › title")
        note = self.text(data.get("note"), f"{location} › note", required=False)
        unit = data.get("unit")
        if unit not in UNITS:
            self.error(f"{location} › unit", f"must be one of {', '.join(UNITS)}, not {unit!r}")
            unit = None
        direction = data.get("direction")
        if direction not in DIRECTIONS:
            self.error(f"{location} › direction", f"must be increase or decrease, not {direction!r}")
            direction = None

        manual = data.get("manual")
        binding_raw = data.get("measure")
        binding: Binding | None = None
        if manual not in (None, True, False):
            self.error(f"{location} › manual", "must be true (values entered by planners)")
        if manual is True and binding_raw is not None:
            self.error(location, "has both manual: true and a measure binding; choose one")
        elif manual is not True and binding_raw is None:
            self.error(location, "needs either manual: true or a measure binding (measure: {...})")
        elif binding_raw is not None:
            binding = self.binding(binding_raw, f"{location} › measure")
        bound = binding_raw is not None and manual is not True

        baseline = self.baseline(data.get("baseline"), f"{location} › baseline", bound, unit)
        target, deadline = self.target(data.get("target"), f"{location} › target", unit)
        raw_baseline = data.get("baseline")
        baseline_period = parse_period(raw_baseline.get("period")) if isinstance(raw_baseline, dict) else None
        if baseline_period is not None and deadline is not None and deadline <= baseline_period:
            self.error(
                f"{location} › target › by",
                f"the deadline {deadline} is not after the baseline period {baseline_period}",
            )
        if baseline is not None and target is not None:
            self.check_direction(baseline, target, direction, location)
        if (
            indicator_id is None
            or title is None
            or unit is None
            or direction is None
            or baseline is None
            or target is None
            or (bound and binding is None)
        ):
            return None
        return Indicator(
            id=indicator_id,
            title=title,
            unit=unit,
            direction=direction,
            baseline=baseline,
            target=target,
            binding=binding,
            goal_id=goal_id,
            operational_goal_id=od_id,
            note=note,
        )

    def binding(self, raw: Any, location: str) -> Binding | None:
        data = self.mapping(raw, location)
        if data is None:
            return None
        ok = True
        for key in data:
            if key not in BINDING_FIELDS:
                self.error(
                    location,
                    f"unknown field {key!r}: a binding names fields of an analysis estimate row "
                    f"({', '.join(BINDING_FIELDS)})",
                )
                ok = False
        values: dict[str, str] = {}
        for key in BINDING_FIELDS:
            if key not in data:
                if key in BINDING_REQUIRED:
                    self.error(location, f"{key!r} is missing")
                    ok = False
                continue
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
                self.error(f"{location} › {key}", f"must be a code such as ma_weet, not {value!r}")
                ok = False
                continue
            values[key] = str(value).strip()
        if "measure" in values and values["measure"] not in ANALYSIS_MEASURES:
            self.error(
                f"{location} › measure",
                f"unknown measure {values['measure']!r} (one of {', '.join(ANALYSIS_MEASURES)})",
            )
            ok = False
        if ("group_var" in data) != ("group" in data):
            self.error(location, "group_var and group go together: name both, or neither for everyone")
            ok = False
        if not ok:
            return None
        return Binding(**values)

    def baseline(self, raw: Any, location: str, bound: bool, unit: str | None) -> Baseline | None:
        if raw is None:
            self.error(location, "is missing")
            return None
        data = self.mapping(raw, location)
        if data is None:
            return None
        self.unknown_keys(data, BASELINE_KEYS, location)
        ok = True
        value = data.get("value")
        if value is not None and not _is_number(value):
            self.error(f"{location} › value", f"must be a number, not {value!r}")
            ok = False
        elif value is not None:
            ok = self.in_range(float(value), unit, f"{location} › value") and ok
        period = None
        if "period" in data:
            period = parse_period(data["period"])
            if period is None:
                self.error(
                    f"{location} › period", f"must be a half-year like 2021-H1, not {data['period']!r}"
                )
                ok = False
        wave = data.get("wave")
        if wave is not None:
            if not bound:
                self.error(
                    f"{location} › wave", "only an indicator bound to a survey measure can start from a wave"
                )
                ok = False
            elif not isinstance(wave, str) or not WAVE_SLUG_PATTERN.match(wave):
                self.error(f"{location} › wave", f"must be a wave's slug such as golf-2026, not {wave!r}")
                ok = False
        if "period" not in data and wave is None:
            self.error(location, "needs a period (like 2021-H1) or, for a survey measure, a wave")
            ok = False
        if value is None and (wave is None or not bound):
            self.error(location, "needs a value (only a survey measure can take it from a wave)")
            ok = False
        note = self.text(data.get("note"), f"{location} › note", required=False)
        if not ok:
            return None
        return Baseline(float(value) if value is not None else None, period, wave, note)

    def target(self, raw: Any, location: str, unit: str | None) -> tuple[Target | None, Period | None]:
        """The target, and its deadline on its own (checked against the baseline even when the
        value is wrong)."""
        if raw is None:
            self.error(location, "is missing")
            return None, None
        data = self.mapping(raw, location)
        if data is None:
            return None, None
        self.unknown_keys(data, TARGET_KEYS, location)
        ok = True
        raw_value = data.get("value")
        value = float(raw_value) if _is_number(raw_value) else 0.0
        if not _is_number(raw_value):
            problem = "is missing" if raw_value is None else f"must be a number, not {raw_value!r}"
            self.error(f"{location} › value", problem)
            ok = False
        else:
            ok = self.in_range(value, unit, f"{location} › value") and ok
        by = data.get("by")
        by_period: Period | None = None
        by_date: date | None = None
        if by is None:
            self.error(
                f"{location} › by", "a target needs a deadline (by: 2025-H2 or a date such as 2025-12-31)"
            )
            ok = False
        elif isinstance(by, date) and not isinstance(by, datetime):
            by_date, by_period = by, Period.of(by)
        else:
            by_period = parse_period(by)
            if by_period is None:
                self.error(f"{location} › by", f"must be a half-year like 2025-H2 or a date, not {by!r}")
                ok = False
        note = self.text(data.get("note"), f"{location} › note", required=False)
        if not ok or by_period is None:
            return None, by_period
        return Target(value, by_period, by_date, note), by_period

    def in_range(self, value: float, unit: str | None, location: str) -> bool:
        if unit == "percent" and not 0 <= value <= 100:
            self.error(location, f"a percentage lies between 0 and 100, not {value:g}")
            return False
        if unit == "count" and value < 0:
            self.error(location, f"a count cannot be negative ({value:g})")
            return False
        return True

    def check_direction(
        self, baseline: Baseline, target: Target, direction: str | None, location: str
    ) -> None:
        if baseline.value is None or direction is None:
            return
        if direction == "increase" and target.value <= baseline.value:
            self.error(
                f"{location} › target › value",
                f"an increase needs a target above the baseline ({target.value:g} ≤ {baseline.value:g})",
            )
        if direction == "decrease" and target.value >= baseline.value:
            self.error(
                f"{location} › target › value",
                f"a decrease needs a target below the baseline ({target.value:g} ≥ {baseline.value:g})",
            )

    def check_deadlines(self, goals: Sequence[Goal], start: int, end: int) -> None:
        # A deadline far beyond the plan is almost always a typo (2205-H2 for 2025-H2).
        for goal in goals:
            for indicator in [*goal.indicators, *(i for od in goal.operational_goals for i in od.indicators)]:
                if not start <= indicator.target.by.year <= end + 5:
                    self.error(
                        f"indicator {indicator.id} › target › by",
                        f"the deadline {indicator.target.by} lies far outside the plan's years {start}-{end}",
                    )


# --------------------------------------------------------------------------------------------
# Survey bindings against analysis estimate rows
# --------------------------------------------------------------------------------------------


def check_bindings(plan: Plan, questionnaires: Sequence[Questionnaire]) -> list[Problem]:
    """Bindings that no questionnaire can answer: an unknown question, subject, group or code.

    A typo in a binding would otherwise show "no data" for ever. A binding is fine when one
    questionnaire has the question (``q`` of ``q/item`` for matrix rows), the subject, and the
    group question (by id or register column) with that code.
    """
    problems: list[Problem] = []
    for indicator in plan.indicators:
        binding = indicator.binding
        if binding is None:
            continue
        base = binding.question.split("/", 1)[0].split("=", 1)[0]
        where = f"indicator {indicator.id} › measure"
        candidates = [q for q in questionnaires if any(question.id == base for question in q.questions)]
        if not candidates:
            problems.append(Problem(where, f"no questionnaire has a question {base!r}"))
            continue
        reasons: list[str] = []
        for questionnaire in candidates:
            subjects = {subject.id for subject in questionnaire.subjects}
            if binding.subject is not None and binding.subject not in subjects:
                reasons.append(f"{questionnaire.id} has no subject {binding.subject!r}")
                continue
            if binding.group_var is not None:
                groups = [
                    question
                    for question in questionnaire.questions
                    if question.measure is not None
                    and question.measure.type == "group"
                    and binding.group_var in (question.id, question.measure.register_column)
                ]
                if not groups:
                    reasons.append(f"{questionnaire.id} has no group question {binding.group_var!r}")
                    continue
                if binding.group not in groups[0].codes:
                    reasons.append(
                        f"{questionnaire.id}: group {binding.group_var!r} has no code {binding.group!r} "
                        f"(codes: {', '.join(groups[0].codes)})"
                    )
                    continue
            reasons = []
            break
        if reasons:
            problems.append(Problem(where, "; ".join(reasons)))
    return problems


@dataclass(frozen=True)
class Resolved:
    """What a binding found in one wave's estimates (values in the indicator's unit)."""

    state: str  # value | suppressed | empty | missing | ambiguous
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    matches: int = 0


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def resolve_binding(indicator: Indicator, rows: Iterable[Mapping[str, Any]]) -> Resolved:
    """The bound row among a wave's estimate rows: its estimate and CI, or why there is none.

    Shares (0-1) become percentages for a percent indicator. A suppressed row gives no number.
    """
    if indicator.binding is None:
        return Resolved("missing")
    found = [row for row in rows if indicator.binding.matches(row)]
    if not found:
        return Resolved("missing")
    if len(found) > 1:
        return Resolved("ambiguous", matches=len(found))
    row = found[0]
    n_raw = row.get("n")
    n = int(n_raw) if isinstance(n_raw, int | float) and not isinstance(n_raw, bool) else None
    if row.get("suppressed"):
        return Resolved("suppressed", matches=1)
    estimate = _number(row.get("estimate"))
    if estimate is None:
        return Resolved("empty", n=n, matches=1)
    scale = 100.0 if indicator.unit == "percent" else 1.0

    def scaled(value: Any) -> float | None:
        number = _number(value)
        return None if number is None else number * scale

    return Resolved(
        "value",
        estimate=estimate * scale,
        se=scaled(row.get("se")),
        ci_low=scaled(row.get("ci_low")),
        ci_high=scaled(row.get("ci_high")),
        n=n,
        matches=1,
    )


# --------------------------------------------------------------------------------------------
# The follow-up: records in, an overview out
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRecord:
    action_id: str
    period: str
    status: str
    comment: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class ValueRecord:
    indicator_id: str
    period: str
    value: float
    note: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class WaveEstimates:
    """One analysed wave: its slug, title, half-year and estimate rows (analysis JSON dicts)."""

    slug: str
    title: str
    period: Period
    rows: Sequence[Mapping[str, Any]]
    audience: str | None = None


@dataclass(frozen=True)
class Point:
    """One value of an indicator: entered for a period, or estimated in a wave."""

    period: Period
    value: float | None
    source: str  # manual | wave
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    suppressed: bool = False
    wave: str | None = None
    wave_title: str | None = None
    note: str | None = None
    recorded_by: str | None = None


@dataclass(frozen=True)
class Assessment:
    """Where an indicator stands: the latest value against the straight path to the target."""

    status: str  # one of INDICATOR_STATES
    latest: Point | None
    expected: float | None  # the path's value at the latest value's period
    deadline_passed: bool
    within_margin: bool  # the latest CI includes the value it is compared with
    suppressed_since: bool  # a later survey result exists but is suppressed


@dataclass(frozen=True)
class IndicatorView:
    indicator: Indicator
    points: tuple[Point, ...]
    baseline_value: float | None
    baseline_period: Period | None
    assessment: Assessment
    status_text: LocalizedText
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionView:
    action: Action
    latest: ActionRecord | None
    history: tuple[ActionRecord, ...]  # newest first


@dataclass(frozen=True)
class OperationalGoalView:
    goal: OperationalGoal
    actions: tuple[ActionView, ...]
    indicators: tuple[IndicatorView, ...]


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    operational_goals: tuple[OperationalGoalView, ...]
    indicators: tuple[IndicatorView, ...]

    @property
    def actions(self) -> tuple[ActionView, ...]:
        return tuple(view for od in self.operational_goals for view in od.actions)

    @property
    def all_indicators(self) -> tuple[IndicatorView, ...]:
        return self.indicators + tuple(view for od in self.operational_goals for view in od.indicators)

    def status_counts(self) -> dict[str, int]:
        return count_statuses(self.actions)


@dataclass(frozen=True)
class Overview:
    plan: Plan
    as_of: Period
    goals: tuple[GoalView, ...]
    analysis: str  # available | unavailable | not_needed
    waves: tuple[str, ...] = ()  # slugs of the waves whose estimates were used
    notes: tuple[str, ...] = field(default=())

    @property
    def indicators(self) -> tuple[IndicatorView, ...]:
        return tuple(view for goal in self.goals for view in goal.all_indicators)

    @property
    def actions(self) -> tuple[ActionView, ...]:
        return tuple(view for goal in self.goals for view in goal.actions)

    def indicator(self, indicator_id: str) -> IndicatorView | None:
        return next((v for v in self.indicators if v.indicator.id == indicator_id), None)

    def status_counts(self) -> dict[str, int]:
        return count_statuses(self.actions)


def count_statuses(actions: Iterable[ActionView]) -> dict[str, int]:
    counts = dict.fromkeys((*ACTION_STATUSES, "none"), 0)
    for view in actions:
        counts[view.latest.status if view.latest else "none"] += 1
    return counts


def meets(value: float, goal: float, direction: str) -> bool:
    return value >= goal if direction == "increase" else value <= goal


def expected_on_path(baseline_value: float, baseline_period: Period, target: Target, period: Period) -> float:
    """The straight line from the baseline to the target, at a period (the target after the deadline)."""
    span = target.by.index - baseline_period.index
    if span <= 0:
        return target.value
    share = min(1.0, max(0.0, (period.index - baseline_period.index) / span))
    return baseline_value + (target.value - baseline_value) * share


def assess(
    indicator: Indicator,
    points: Sequence[Point],
    baseline_value: float | None,
    baseline_period: Period | None,
    as_of: Period,
) -> Assessment:
    """reached / on_track / behind against the linear path; no_data or no_baseline when it cannot say."""
    deadline_passed = as_of > indicator.target.by
    baseline_wave = indicator.baseline.wave
    later = [
        p
        for p in points
        if not (baseline_wave is not None and p.wave == baseline_wave)
        and (baseline_period is None or p.period >= baseline_period)
    ]
    usable = [p for p in later if p.value is not None and not p.suppressed]
    if not usable:
        suppressed = any(p.suppressed for p in later)
        return Assessment("no_data", None, None, deadline_passed, False, suppressed)
    latest = usable[-1]
    suppressed_since = any(p.suppressed for p in later[later.index(latest) + 1 :])
    assert latest.value is not None
    direction = indicator.direction

    def margin(reference: float) -> bool:
        if latest.ci_low is None or latest.ci_high is None:
            return False
        return latest.ci_low <= reference <= latest.ci_high

    if meets(latest.value, indicator.target.value, direction):
        return Assessment(
            "reached", latest, None, deadline_passed, margin(indicator.target.value), suppressed_since
        )
    if baseline_value is None or baseline_period is None:
        return Assessment("no_baseline", latest, None, deadline_passed, False, suppressed_since)
    expected = expected_on_path(baseline_value, baseline_period, indicator.target, latest.period)
    status = "on_track" if meets(latest.value, expected, direction) else "behind"
    if deadline_passed:
        status = "behind"
        expected = indicator.target.value
    return Assessment(status, latest, expected, deadline_passed, margin(expected), suppressed_since)


def _by_period(records: Iterable[Any], as_of: Period) -> list[tuple[Period, Any]]:
    result = []
    for record in records:
        period = parse_period(record.period)
        if period is not None and period <= as_of:
            result.append((period, record))
    return sorted(result, key=lambda pair: pair[0])


def indicator_view(
    indicator: Indicator,
    values: Sequence[ValueRecord],
    waves: Sequence[WaveEstimates],
    as_of: Period,
) -> IndicatorView:
    """An indicator's series (manual values or one estimate per analysed wave) and its assessment."""
    notes: list[str] = []
    points: list[Point] = []
    if indicator.manual:
        for period, record in _by_period((v for v in values if v.indicator_id == indicator.id), as_of):
            points.append(
                Point(period, float(record.value), "manual", note=record.note, recorded_by=record.recorded_by)
            )
    else:
        for wave in sorted(waves, key=lambda w: w.period):
            if wave.period > as_of:
                continue
            found = resolve_binding(indicator, wave.rows)
            if found.state == "missing":
                continue  # another audience or questionnaire: the row is not there
            if found.state == "ambiguous":
                notes.append(f"{wave.slug}: the binding matches {found.matches} rows; name more fields")
                continue
            points.append(
                Point(
                    wave.period,
                    found.estimate,
                    "wave",
                    ci_low=found.ci_low,
                    ci_high=found.ci_high,
                    n=found.n,
                    suppressed=found.state == "suppressed",
                    wave=wave.slug,
                    wave_title=wave.title,
                )
            )
    baseline = indicator.baseline
    baseline_value, baseline_period = baseline.value, baseline.period
    if baseline.wave is not None:
        wave_point = next((p for p in points if p.wave == baseline.wave), None)
        if wave_point is not None:
            baseline_period = baseline_period or wave_point.period
            if baseline_value is None:
                baseline_value = wave_point.value
                if wave_point.suppressed:
                    notes.append(f"the baseline wave {baseline.wave} has a suppressed estimate")
        elif baseline_value is None:
            notes.append(f"the baseline wave {baseline.wave} has no analysis (yet)")
    assessment = assess(indicator, points, baseline_value, baseline_period, as_of)
    return IndicatorView(
        indicator,
        tuple(points),
        baseline_value,
        baseline_period,
        assessment,
        status_text(indicator, assessment),
        tuple(notes),
    )


def build_overview(
    plan: Plan,
    actions: Sequence[ActionRecord],
    values: Sequence[ValueRecord],
    waves: Sequence[WaveEstimates],
    as_of: Period,
    *,
    analysis: str = "available",
    notes: Sequence[str] = (),
) -> Overview:
    """Each goal with its actions' latest status (and history) and its indicators' series and status."""
    all_notes = list(notes)
    known_actions = {a.id for a in plan.actions}
    known_indicators = {i.id for i in plan.indicators}
    orphans = sum(1 for record in actions if record.action_id not in known_actions)
    if orphans:
        all_notes.append(f"{orphans} recorded status(es) belong to actions that are no longer in the plan")
    orphan_values = sum(1 for record in values if record.indicator_id not in known_indicators)
    if orphan_values:
        all_notes.append(f"{orphan_values} recorded value(s) belong to indicators no longer in the plan")
    history: dict[str, list[ActionRecord]] = {}
    for _period, record in _by_period(actions, as_of):
        history.setdefault(record.action_id, []).append(record)

    def action_view(action: Action) -> ActionView:
        records = list(reversed(history.get(action.id, [])))
        return ActionView(action, records[0] if records else None, tuple(records))

    def indicator_views(indicators: Sequence[Indicator]) -> tuple[IndicatorView, ...]:
        return tuple(indicator_view(i, values, waves, as_of) for i in indicators)

    goals = tuple(
        GoalView(
            goal,
            tuple(
                OperationalGoalView(
                    od, tuple(action_view(a) for a in od.actions), indicator_views(od.indicators)
                )
                for od in goal.operational_goals
            ),
            indicator_views(goal.indicators),
        )
        for goal in plan.goals
    )
    used = tuple(w.slug for w in sorted(waves, key=lambda w: w.period) if w.period <= as_of)
    return Overview(plan, as_of, goals, analysis, used, tuple(all_notes))


# --------------------------------------------------------------------------------------------
# Plain language: status texts, Ambitions and Results (nl and en)
# --------------------------------------------------------------------------------------------


def format_number(value: float, unit: str, lang: str) -> str:
    """A value in its unit, by the shared formatter: 48.25 percent → "48,3%" (nl) / "48.3%" (en);
    a whole count with grouping ("1.234"); otherwise one decimal at most."""
    if unit == "percent":
        return formatting.percent_of_hundred(value, lang, 1)
    decimals = 0 if unit == "count" and float(value).is_integer() else 1
    return formatting.number(value, lang, decimals, optional_decimals=True)


def _deadline(target: Target) -> str:
    return target.by_date.isoformat() if target.by_date else str(target.by)


def _evidence_source(point: Point, unit: str, lang: str) -> str:
    if point.source != "wave":
        return ""
    parts = []
    if point.ci_low is not None and point.ci_high is not None:
        low, high = format_number(point.ci_low, unit, lang), format_number(point.ci_high, unit, lang)
        parts.append(
            f"95%-betrouwbaarheidsinterval {low} tot {high}" if lang == "nl" else f"95% CI {low} to {high}"
        )
    if point.n is not None:
        parts.append(f"n = {point.n}")
    wave = point.wave_title or point.wave or ""
    prefix = f"bevraging {wave}" if lang == "nl" else f"survey {wave}"
    return f" ({prefix}" + (f"; {'; '.join(parts)}" if parts else "") + ")"


def _texts(indicator: Indicator, a: Assessment, lang: str) -> str:
    unit = indicator.unit
    nl = lang == "nl"
    target = format_number(indicator.target.value, unit, lang)
    deadline = _deadline(indicator.target)
    goal = f"doel {target} tegen {deadline}" if nl else f"target {target} by {deadline}"
    if a.latest is None or a.latest.value is None:
        if a.suppressed_since:
            return (
                f"Het resultaat van de bevraging wordt niet getoond: te weinig antwoorden ({goal})."
                if nl
                else f"The survey result is not shown: too few answers ({goal})."
            )
        return (
            f"Nog geen meting sinds het vertrekpunt ({goal})."
            if nl
            else f"No value since the baseline yet ({goal})."
        )
    latest = format_number(a.latest.value, unit, lang)
    evidence = f"{latest} in {a.latest.period}{_evidence_source(a.latest, unit, lang)}"
    if a.status == "reached":
        text = f"Doel bereikt: {evidence}; {goal}." if nl else f"Target reached: {evidence}; {goal}."
    elif a.status == "no_baseline":
        text = (
            f"{evidence}; {goal}. Het vertrekpunt is nog niet bekend: of dit op schema ligt, "
            "valt niet te zeggen."
            if nl
            else f"{evidence}; {goal}. The baseline is not known yet: whether this is on track "
            "cannot be said."
        )
    else:
        expected = format_number(a.expected or 0.0, unit, lang)
        if a.deadline_passed:
            text = (
                f"Doel niet gehaald: {evidence}; {goal}, en die termijn is verstreken."
                if nl
                else f"Target missed: {evidence}; {goal}, and that deadline has passed."
            )
        elif a.status == "on_track":
            text = (
                f"Op schema: {evidence}; op de rechte lijn naar het doel was {expected} verwacht; {goal}."
                if nl
                else f"On track: {evidence}; the straight path to the target expected {expected}; {goal}."
            )
        else:
            text = (
                f"Achter op schema: {evidence}; op de rechte lijn naar het doel was {expected} verwacht; "
                f"{goal}."
                if nl
                else f"Behind: {evidence}; the straight path to the target expected {expected}; {goal}."
            )
    if a.within_margin:
        text += (
            " Het verschil valt binnen de foutenmarge van de bevraging."
            if nl
            else " The difference lies within the survey's margin of error."
        )
    if a.suppressed_since:
        text += (
            " Een recentere bevraging had te weinig antwoorden om te tonen."
            if nl
            else " A more recent survey had too few answers to show."
        )
    return text


def status_text(indicator: Indicator, assessment: Assessment) -> LocalizedText:
    """The indicator's standing in a sentence, in Dutch and English."""
    return {lang: _texts(indicator, assessment, lang) for lang in REQUIRED_LANGUAGES}


@dataclass(frozen=True)
class Statement:
    """One line for the SWO-ART input: an ambition or a result, with the numbers behind it."""

    kind: str  # ambition | result
    goal_id: str
    operational_goal_id: str | None
    indicator_id: str | None
    text: LocalizedText
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "goal_id": self.goal_id,
            "operational_goal_id": self.operational_goal_id,
            "indicator_id": self.indicator_id,
            "text": dict(self.text),
            "evidence": self.evidence,
        }


def _point_evidence(point: Point | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "value": point.value,
        "period": str(point.period),
        "source": point.source,
        "wave": point.wave,
        "ci_low": point.ci_low,
        "ci_high": point.ci_high,
        "n": point.n,
        "suppressed": point.suppressed,
    }


def indicator_evidence(view: IndicatorView) -> dict[str, Any]:
    indicator, a = view.indicator, view.assessment
    return {
        "indicator_id": indicator.id,
        "title": dict(indicator.title),
        "unit": indicator.unit,
        "direction": indicator.direction,
        "source": "manual" if indicator.manual else "survey",
        "binding": indicator.binding.fields() if indicator.binding else None,
        "baseline": {
            "value": view.baseline_value,
            "period": str(view.baseline_period) if view.baseline_period else None,
            "wave": indicator.baseline.wave,
        },
        "target": {"value": indicator.target.value, "by": _deadline(indicator.target)},
        "latest": _point_evidence(a.latest),
        "expected": a.expected,
        "status": a.status,
        "deadline_passed": a.deadline_passed,
        "within_margin": a.within_margin,
    }


def _ambition_text(view: IndicatorView, lang: str) -> str:
    indicator = view.indicator
    unit = indicator.unit
    title = localize(indicator.title, lang)
    target = format_number(indicator.target.value, unit, lang)
    deadline = _deadline(indicator.target)
    nl = lang == "nl"
    if view.baseline_value is not None:
        start = format_number(view.baseline_value, unit, lang)
        when = f" in {view.baseline_period}" if view.baseline_period else ""
        path = f"van {start}{when} naar {target}" if nl else f"from {start}{when} to {target}"
    else:
        path = f"naar {target}" if nl else f"to {target}"
    text = f"{title}: {path} tegen {deadline}." if nl else f"{title}: {path} by {deadline}."
    if view.assessment.deadline_passed:
        text += " De termijn is verstreken." if nl else " The deadline has passed."
    return text


def _actions_text(view: GoalView, as_of: Period, lang: str) -> str:
    counts = view.status_counts()
    total = sum(counts.values())
    if lang == "nl":
        return (
            f"{view.goal.id}: van de {total} acties zijn er {counts['done']} afgerond, {counts['under_way']} "
            f"lopend, {counts['not_started']} nog niet gestart en {counts['dropped']} geschrapt; "
            f"{counts['none']} zonder opgave (stand {as_of})."
        )
    return (
        f"{view.goal.id}: of the {total} actions, {counts['done']} are done, "
        f"{counts['under_way']} under way, {counts['not_started']} not started and "
        f"{counts['dropped']} dropped; "
        f"{counts['none']} without a status (as of {as_of})."
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def ambitions_and_results(plan: Plan, overview: Overview) -> list[Statement]:
    """The Ambitions (targets not yet reached, with their deadline) and the Results (where each
    indicator stands, with its evidence; and each goal's actions) for the SWO-ART input."""
    statements: list[Statement] = []
    for goal_view in overview.goals:
        for view in goal_view.all_indicators:
            indicator = view.indicator
            if view.assessment.status != "reached":
                statements.append(
                    Statement(
                        "ambition",
                        indicator.goal_id,
                        indicator.operational_goal_id,
                        indicator.id,
                        {lang: _ambition_text(view, lang) for lang in REQUIRED_LANGUAGES},
                        indicator_evidence(view),
                    )
                )
        for view in goal_view.all_indicators:
            indicator = view.indicator
            title = indicator.title
            statements.append(
                Statement(
                    "result",
                    indicator.goal_id,
                    indicator.operational_goal_id,
                    indicator.id,
                    {
                        lang: f"{localize(title, lang)} — {_lower_first(view.status_text[lang])}"
                        for lang in REQUIRED_LANGUAGES
                    },
                    indicator_evidence(view),
                )
            )
        if goal_view.actions:
            statements.append(
                Statement(
                    "result",
                    goal_view.goal.id,
                    None,
                    None,
                    {lang: _actions_text(goal_view, overview.as_of, lang) for lang in REQUIRED_LANGUAGES},
                    {"plan_id": plan.id, "as_of": str(overview.as_of), "actions": goal_view.status_counts()},
                )
            )
    return statements


ACTION_STATUS_TEXT: dict[str, LocalizedText] = {
    "not_started": {"nl": "niet gestart", "en": "not started"},
    "under_way": {"nl": "lopend", "en": "under way"},
    "done": {"nl": "afgerond", "en": "done"},
    "dropped": {"nl": "geschrapt", "en": "dropped"},
    "none": {"nl": "geen opgave", "en": "no status"},
}


def overview_text(overview: Overview, lang: str = "en") -> str:
    """The overview as plain text (the CLI's ``plan status`` and the text report)."""
    plan = overview.plan
    nl = lang == "nl"
    lines = [
        f"{localize(plan.title, lang)} ({plan.id})",
        (f"Stand {overview.as_of}" if nl else f"As of {overview.as_of}"),
    ]
    if overview.analysis == "unavailable":
        lines.append(
            "Geen analyse beschikbaar: de bevragingsindicatoren hebben nog geen waarden."
            if nl
            else "No analysis available: the survey indicators have no values yet."
        )
    for note in overview.notes:
        lines.append(f"! {note}")
    for goal_view in overview.goals:
        lines.append("")
        lines.append(f"{goal_view.goal.id} {localize(goal_view.goal.title, lang)}")
        for view in goal_view.indicators:
            lines.extend(_indicator_lines(view, lang, "  "))
        for od_view in goal_view.operational_goals:
            lines.append(f"  {od_view.goal.id} {localize(od_view.goal.title, lang)}")
            for action_view in od_view.actions:
                latest = action_view.latest
                state = localize(ACTION_STATUS_TEXT[latest.status if latest else "none"], lang)
                when = f" ({latest.period})" if latest else ""
                lines.append(
                    f"    [{state}{when}] {action_view.action.id} {localize(action_view.action.title, lang)}"
                )
                if latest and latest.comment:
                    lines.append(f"        {latest.comment}")
            for view in od_view.indicators:
                lines.extend(_indicator_lines(view, lang, "    "))
    return "\n".join(lines) + "\n"


def _indicator_lines(view: IndicatorView, lang: str, indent: str) -> list[str]:
    lines = [f"{indent}Indicator {view.indicator.id}: {localize(view.indicator.title, lang)}"]
    lines.append(f"{indent}  {view.status_text[lang]}")
    for note in view.notes:
        lines.append(f"{indent}  ! {note}")
    return lines
