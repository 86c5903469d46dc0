"""Measures from the questionnaire's tags, and `analyze`: THE analysis of one wave.

`analyze(questionnaire, responses, register, options=..., invitations=..., previous=...)` is
pure (no Flask, no database): the web app and reports call it through
`surveyapp.services.extract.analyze_wave`, the CLI on files directly.

Items (one column each, one `tabulate` for the whole report):
- awareness / usage / need / missing_offer / satisfaction (top-2-box) on a choice answer:
  1 when the answer is one of the measure's `positive` codes, 0 for another code, NaN when
  missing or one of the `exclude` codes ("not applicable"). yes/no questions default to
  positive "yes". A choice question without positive codes gives one item per code.
- satisfaction also gives a mean score item (`<answer>#mean`, measure satisfaction_mean) of
  the numeric codes, excluded codes left out.
- multiple choice (help_type, need, missing_offer): one 0/1 item per code, NaN unanswered,
  so shares may add up to more than 100 %.
- usage of any offering (`usage/any_offering`): 1 if any usage item of an offering is 1.
- funnels (questions with `funnel_step`, per subject): `funnel/<subject>/<step>` is the share
  of all respondents who reached the step (positive at it and at every earlier step; a
  negative earlier step counts as not reached even when the question was then hidden), and
  `funnel/<subject>/<step>/conversion` the share among those at the previous step.
Because the tidy frame has NaN for questions hidden by a condition (and the implied value
where one is declared), satisfaction is naturally among users and usage among everyone.

Weighting: base weight N/n (register size over respondents), raked to the register's margins
on `options.rake_vars`, default `DEFAULT_RAKE_VARS`: status, age band, contract, level and
policy domain, register facts known for everyone (no "prefer not to say" answers), few enough
categories for a stable rake. A question hidden by its condition (contract for retirees)
gets the explicit category `NOT_ASKED` in the sample, matched to the register's blanks. A
default variable that cannot be used (not in the register, asked but unanswered by some,
answers the register cannot have, a register category without respondents) is left out with
the reason in `weighting.left_out`; an explicitly requested one raises a clear AnalysisError.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from surveyapp.analysis._dist import t_ppf, t_sf
from surveyapp.analysis.design import SurveyDesign, covariance_from_moments, variance_from_moments
from surveyapp.analysis.errors import (
    AnalysisError,
    EmptyMarginCellError,
    InvalidInputError,
    MissingValuesError,
    ModelFitError,
    UnknownCategoryError,
)
from surveyapp.analysis.estimates import DomainTable, Estimate, Kind, table_estimates, tabulate
from surveyapp.analysis.reach import ReachIndex, response_rates
from surveyapp.analysis.result import (
    AnalysisOptions,
    AnalysisResult,
    ComparisonRow,
    EstimateRow,
    FunnelStep,
    GapRow,
    Headline,
    ItemInfo,
    LeftOut,
    MarginInfo,
    OddsRatio,
    OfferingClass,
    OpenAnswers,
    QuestionnaireInfo,
    ReachRow,
    ResponseRateRow,
    SuppressionSummary,
    TestRow,
    WaveChangeRow,
    WaveInfo,
    WeightingSummary,
)
from surveyapp.analysis.significance import (
    LogisticFit,
    _model_matrix,
    adjust_p_values,
    group_vs_rest,
    logistic_fit,
    newton_logistic,
    rao_scott_tests,
    survey_logistic,
)
from surveyapp.analysis.suppression import (
    CellCount,
    SuppressionPlan,
    plan_suppression,
    suppress_estimates,
    suppress_reach,
)
from surveyapp.analysis.tidy import choice_codes, column_names, question_shown
from surveyapp.analysis.weights import rake, weight_diagnostics
from surveyapp.questionnaire.model import Question, Questionnaire, localize

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_RAKE_VARS: tuple[str, ...] = ("status", "leeftijd", "contract", "niveau")
DEFAULT_ADJUST_FOR: tuple[str, ...] = ("leeftijd", "contract", "gezin")
DEFAULT_GAP_VARS: tuple[str, ...] = ("herkomst", "beperking", "niveau", "dienstjaren")
NOT_ASKED = "_not_asked"
ANY_OFFERING = "usage/any_offering"
MEAN_SUFFIX = "#mean"
CHOICE_QUESTION_TYPES = {"single_choice", "yes_no", "rating", "matrix"}
GROUP_QUESTION_TYPES = {"single_choice", "yes_no"}
SUPPRESSION_RULE = (
    "A cell with 1 to threshold-1 respondents is suppressed (primary); within each item and group "
    "variable more cells are hidden until at least two are hidden and together hold at least "
    "threshold respondents (complementary). Suppressed rows carry no numbers and no n."
)

Previous = AnalysisResult | Mapping[str, Any] | tuple[Any, ...]


class RegisterCodeError(AnalysisError):
    """A register (or invitation ledger) column holds codes the group question does not have."""

    def __init__(self, column: str, codes: list[str], count: int, what: str = "register") -> None:
        self.column = column
        self.codes = codes
        self.count = count
        shown = ", ".join(repr(c) for c in codes[:10])
        super().__init__(
            f"The {what} column {column!r} has {count} value(s) that are not codes of its group "
            f"question: {shown}. Map them to the questionnaire's codes first."
        )


class RakingVariableError(AnalysisError):
    """A requested raking variable cannot be used; the message says why and what to do."""


# --------------------------------------------------------------------------------------
# Items from the questionnaire's measure tags


def measure_items(questionnaire: Questionnaire) -> list[ItemInfo]:
    """Every item the questionnaire's measure tags define, in questionnaire order (derived last)."""
    subjects = {subject.id: subject for subject in questionnaire.subjects}
    lang = questionnaire.languages[0] if questionnaire.languages else "nl"
    items: list[ItemInfo] = []

    def kind_of(subject: str | None) -> str | None:
        return subjects[subject].kind if subject is not None and subject in subjects else None

    def subject_label(subject: str | None) -> str:
        return localize(subjects[subject].label, lang) if subject is not None and subject in subjects else ""

    for question in questionnaire.questions:
        measure = question.measure
        if measure is None or measure.type in ("group", "suggestion"):
            continue
        if question.type not in CHOICE_QUESTION_TYPES | {"multiple_choice"}:
            continue  # free text (missing_offer texts) and numbers: see open_answers
        label = localize(question.label, lang)
        template = ItemInfo(
            item=question.id,
            measure=measure.type,
            kind="proportion",
            question=question.id,
            question_id=question.id,
            subject=measure.subject,
            subject_kind=kind_of(measure.subject),
            aspect=measure.aspect,
            code=None,
            funnel_step=measure.funnel_step,
            positive=measure.positive,
            exclude=measure.exclude,
            label=label,
        )
        if question.type == "multiple_choice":
            for choice in question.choices:
                name = f"{question.id}/{choice.code}"
                items.append(
                    dataclasses.replace(
                        template,
                        item=name,
                        question=name,
                        code=choice.code,
                        positive=("1",),
                        label=f"{label}: {localize(choice.label, lang)}",
                    )
                )
            continue
        answers: list[ItemInfo] = []  # one template per answer (a matrix has one per row)
        if question.type == "matrix":
            for row in question.items:
                subject = row.subject or measure.subject
                name = f"{question.id}/{row.id}"
                answers.append(
                    dataclasses.replace(
                        template,
                        item=name,
                        question=name,
                        subject=subject,
                        subject_kind=kind_of(subject),
                        aspect=measure.aspect if row.subject else row.id,
                        label=f"{label}: {localize(row.label, lang) or subject_label(row.subject)}",
                    )
                )
        else:
            answers.append(template)
        positive = measure.positive or (("yes",) if question.type == "yes_no" else ())
        for answer in answers:
            if positive:
                items.append(dataclasses.replace(answer, positive=positive))
            else:
                for choice in question.choices:
                    if choice.code in measure.exclude:
                        continue
                    items.append(
                        dataclasses.replace(
                            answer,
                            item=f"{answer.question}={choice.code}",
                            code=choice.code,
                            positive=(choice.code,),
                            label=f"{answer.label}: {localize(choice.label, lang)}",
                        )
                    )
            if measure.type == "satisfaction" and _score_values(question, measure.exclude) is not None:
                items.append(
                    dataclasses.replace(
                        answer,
                        item=f"{answer.question}{MEAN_SUFFIX}",
                        measure="satisfaction_mean",
                        kind="mean",
                        positive=positive,
                        label=f"{answer.label} ({'mean score' if lang == 'en' else 'gemiddelde score'})",
                    )
                )
    items.extend(_derived_items(items, lang))
    return items


def _derived_items(items: list[ItemInfo], lang: str) -> list[ItemInfo]:
    """Usage of any offering and the funnel steps."""
    derived: list[ItemInfo] = []
    usage = [
        i for i in items if i.measure == "usage" and i.subject_kind == "offering" and i.kind == "proportion"
    ]
    if usage:
        derived.append(
            ItemInfo(
                item=ANY_OFFERING,
                measure="usage",
                kind="proportion",
                question=usage[0].question_id,
                question_id=usage[0].question_id,
                subject=None,
                subject_kind="offering",
                aspect="any",
                code=None,
                funnel_step=None,
                positive=(),
                exclude=(),
                label="Used at least one offering" if lang == "en" else "Gebruikte minstens één aanbod",
            )
        )
    for subject, steps in _funnels(items).items():
        for step, source in steps:
            for conversion in (False, True):
                suffix = "/conversion" if conversion else ""
                derived.append(
                    dataclasses.replace(
                        source,
                        item=f"funnel/{subject}/{step}{suffix}",
                        measure="funnel_conversion" if conversion else "funnel",
                        label=f"{source.label} ({_funnel_suffix(conversion, lang)})",
                    )
                )
    return derived


def _funnel_suffix(conversion: bool, lang: str) -> str:
    """What a funnel step's share is of, in the labels' language."""
    if lang == "en":
        return "of the previous step" if conversion else "of all"
    return "van de vorige stap" if conversion else "van iedereen"


def _funnels(items: Sequence[ItemInfo]) -> dict[str, list[tuple[int, ItemInfo]]]:
    """subject → [(step, the step's 0/1 item)] in step order (one item per step)."""
    funnels: dict[str, dict[int, ItemInfo]] = defaultdict(dict)
    for item in items:
        if item.funnel_step is None or item.kind != "proportion" or item.subject is None:
            continue
        if item.measure.startswith("funnel"):
            continue
        funnels[item.subject].setdefault(item.funnel_step, item)
    return {subject: sorted(steps.items()) for subject, steps in funnels.items()}


def _score_values(question: Question, exclude: tuple[str, ...]) -> FloatArray | None:
    """Numeric value per code (NaN for excluded codes); None if a scored code is not a number."""
    values = []
    for code in question.codes:
        if code in exclude:
            values.append(np.nan)
            continue
        try:
            values.append(float(code))
        except ValueError:
            return None
    return np.array(values, dtype=np.float64)


def item_values(
    questionnaire: Questionnaire, responses: pd.DataFrame, items: Sequence[ItemInfo]
) -> FloatArray:
    """The n × K item matrix (0/1 or scores, NaN = not answered / excluded), vectorised."""
    n = len(responses)
    index = {item.item: k for k, item in enumerate(items)}
    values = np.full((n, len(items)), np.nan, order="F")  # column-major: a DataFrame without copying
    questions = {q.id: q for q in questionnaire.questions}
    codes_cache: dict[str, npt.NDArray[np.intp]] = {}

    def codes_of(name: str, question: Question) -> npt.NDArray[np.intp]:
        if name not in codes_cache:
            codes_cache[name] = choice_codes(responses[name], question.codes, name)
        return codes_cache[name]

    for k, item in enumerate(items):
        if item.measure.startswith("funnel") or item.item == ANY_OFFERING:
            continue
        question = questions[item.question_id]
        if question.type == "multiple_choice":
            column = pd.to_numeric(responses[item.question], errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isnan(column) & (column != 0) & (column != 1)
            if bad.any():
                raise InvalidInputError(
                    f"Multiple-choice column {item.question!r} must be 0/1 (empty if unanswered); "
                    f"{int(bad.sum())} other value(s)."
                )
            values[:, k] = column
            continue
        codes = codes_of(item.question, question)
        if item.kind == "mean":
            scores = _score_values(question, item.exclude)
            assert scores is not None
            lookup = np.append(scores, np.nan)
        else:
            lookup = np.array(
                [np.nan if c in item.exclude else float(c in item.positive) for c in question.codes]
                + [np.nan]
            )
        values[:, k] = lookup[codes]  # code −1 (missing) picks the trailing NaN
    if ANY_OFFERING in index:
        usage = [
            index[i.item]
            for i in items
            if i.measure == "usage" and i.subject_kind == "offering" and i.item != ANY_OFFERING
        ]
        block = values[:, usage]
        answered = ~np.isnan(block).all(axis=1)
        values[:, index[ANY_OFFERING]] = np.where(answered, (np.nan_to_num(block) == 1).any(axis=1), np.nan)
    for subject, steps in _funnels(items).items():
        reached = np.ones(n)
        for step, source in steps:
            answer = values[:, index[source.item]]
            previous = reached
            reached = np.where(previous == 0, 0.0, np.where(previous == 1, answer, np.nan))
            values[:, index[f"funnel/{subject}/{step}"]] = reached
            values[:, index[f"funnel/{subject}/{step}/conversion"]] = np.where(previous == 1, answer, np.nan)
    return values


def group_questions(questionnaire: Questionnaire) -> list[Question]:
    """Questions tagged as group (breakdown) variables, in questionnaire order."""
    return [q for q in questionnaire.questions if q.measure is not None and q.measure.type == "group"]


def group_frame(questionnaire: Questionnaire, responses: pd.DataFrame) -> pd.DataFrame:
    """One Categorical column per choice group question (categories in questionnaire order)."""
    data: dict[str, pd.Categorical] = {}
    for question in group_questions(questionnaire):
        if question.type not in GROUP_QUESTION_TYPES:
            continue
        codes = choice_codes(responses[question.id], question.codes, question.id)
        data[question.id] = pd.Categorical.from_codes(
            codes, categories=pd.Index(list(question.codes), dtype=object)
        )
    return pd.DataFrame(data, index=pd.RangeIndex(len(responses)))


# --------------------------------------------------------------------------------------
# Register and ledger


def register_codes(
    questionnaire: Questionnaire, register: pd.DataFrame | None, *, what: str = "register"
) -> dict[str, tuple[str, pd.Categorical]]:
    """group question id → (register column, the column's codes as a Categorical; NaN blank).

    Only group questions with a register column present in the frame; a value that is not a
    code of the question raises RegisterCodeError.
    """
    if register is None:
        return {}
    result: dict[str, tuple[str, pd.Categorical]] = {}
    for question in group_questions(questionnaire):
        column = question.measure.register_column if question.measure else None
        if not column or column not in register.columns or question.type not in GROUP_QUESTION_TYPES:
            continue
        raw = register[column]
        uniques: list[Any]
        if isinstance(raw.dtype, pd.CategoricalDtype):
            codes_raw, uniques = raw.cat.codes.to_numpy(), list(raw.cat.categories)
        else:
            factorized, found = pd.factorize(raw.to_numpy(dtype=object), use_na_sentinel=True)
            codes_raw, uniques = factorized, list(found)
        position = {code: index for index, code in enumerate(question.codes)}
        mapping = np.full(len(uniques) + 1, -1, dtype=np.intp)
        unknown: list[str] = []
        for index, value in enumerate(uniques):
            text = _register_text(value)
            if text is None:
                continue
            at = position.get(text)
            if at is None:
                unknown.append(text)
            else:
                mapping[index] = at
        if unknown:
            count = int(
                np.isin(codes_raw, [i for i, v in enumerate(uniques) if _register_text(v) in unknown]).sum()
            )
            raise RegisterCodeError(column, unknown, count, what)
        categories = pd.Index(list(question.codes), dtype=object)
        result[question.id] = (column, pd.Categorical.from_codes(mapping[codes_raw], categories=categories))
    return result


def _register_text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------------------
# Weighting


@dataclasses.dataclass(frozen=True)
class _Weighting:
    design: SurveyDesign
    summary: WeightingSummary


def _resolve_vars(
    names: Sequence[str], questionnaire: Questionnaire, what: str, *, explicit: bool
) -> list[Question]:
    """Group questions by question id or register column; unknown names raise when explicit."""
    by_name: dict[str, Question] = {}
    for question in group_questions(questionnaire):
        by_name.setdefault(question.id, question)
        if question.measure and question.measure.register_column:
            by_name.setdefault(question.measure.register_column, question)
    chosen: list[Question] = []
    for name in names:
        found = by_name.get(name)
        if found is None:
            if explicit:
                known = ", ".join(q.id for q in group_questions(questionnaire))
                raise InvalidInputError(
                    f"{what}: {name!r} is not a group question (group questions: {known})."
                )
            continue
        if found not in chosen:
            chosen.append(found)
    return chosen


def _weighting(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    groups: pd.DataFrame,
    register: dict[str, tuple[str, pd.Categorical]],
    register_size: int | None,
    options: AnalysisOptions,
    notes: list[str],
) -> _Weighting:
    n = len(responses)
    explicit = options.rake_vars is not None
    if register_size is None:
        if options.rake_vars:
            raise RakingVariableError("Raking needs the register (population) file: none was given.")
        notes.append("No register given: every respondent has weight 1 (unweighted); no raking and no reach.")
        design = SurveyDesign.unweighted(n)
        return _Weighting(design, _summary(design, "none", (), 0, True, None, None, 1.0, options, (), ()))
    base = register_size / n
    wanted = options.rake_vars if explicit else DEFAULT_RAKE_VARS
    assert wanted is not None
    candidates = _resolve_vars(wanted, questionnaire, "Raking variable", explicit=explicit)
    sample_columns: dict[str, pd.Categorical] = {}
    margins: dict[str, dict[Hashable, float]] = {}
    infos: list[MarginInfo] = []
    left_out: list[LeftOut] = []
    for question in candidates:
        try:
            labels, margin, column = _raking_variable(questionnaire, responses, groups, register, question)
        except AnalysisError as exc:
            if explicit:
                raise
            left_out.append(LeftOut(question.id, str(exc)))
            continue
        sample_columns[question.id] = labels
        margins[question.id] = dict(margin.items())
        infos.append(
            MarginInfo(
                question.id, column, tuple(str(c) for c in margin), tuple(float(v) for v in margin.values())
            )
        )
    for item in left_out:
        notes.append(f"Raking variable {item.variable!r} left out: {item.reason}")
    population = float(register_size) if options.fpc else None
    if not margins:
        design = SurveyDesign.from_weights(np.full(n, base), population_size=population)
        if not explicit:
            notes.append("No raking variable could be used: every respondent has the base weight N/n.")
        return _Weighting(
            design,
            _summary(design, "none", (), 0, True, None, register_size, base, options, (), tuple(left_out)),
        )
    frame = pd.DataFrame(sample_columns)
    raking = rake(frame, np.full(n, base), margins)
    design = SurveyDesign.from_raking(raking, population_size=population)
    summary = _summary(
        design,
        "raking",
        raking.variables,
        raking.iterations,
        raking.converged,
        raking.max_margin_error,
        register_size,
        base,
        options,
        tuple(infos),
        tuple(left_out),
    )
    return _Weighting(design, summary)


def _summary(
    design: SurveyDesign,
    method: str,
    variables: tuple[str, ...],
    iterations: int,
    converged: bool,
    max_error: float | None,
    register_size: int | None,
    base: float,
    options: AnalysisOptions,
    margins: tuple[MarginInfo, ...],
    left_out: tuple[LeftOut, ...],
) -> WeightingSummary:
    diagnostics = weight_diagnostics(design.weights)
    return WeightingSummary(
        method=method,  # type: ignore[arg-type]
        variables=variables,
        iterations=iterations,
        converged=converged,
        max_margin_error=max_error,
        kish_deff=diagnostics.kish_deff,
        effective_n=diagnostics.effective_n,
        weight_min=diagnostics.min_weight,
        weight_max=diagnostics.max_weight,
        weight_mean=diagnostics.mean_weight,
        population_size=float(register_size) if register_size is not None else None,
        n_respondents=design.n,
        base_weight=base,
        fpc=options.fpc,
        not_asked_category=NOT_ASKED,
        margins=margins,
        left_out=left_out,
    )


def _raking_variable(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    groups: pd.DataFrame,
    register: dict[str, tuple[str, pd.Categorical]],
    question: Question,
) -> tuple[pd.Categorical, dict[str, float], str]:
    """Respondent categories and register margin of one raking variable, or a clear error."""
    qid = question.id
    if qid not in register or qid not in groups.columns:
        column = question.measure.register_column if question.measure else None
        raise RakingVariableError(
            f"raking variable {qid!r} needs the register column {column!r}, which the register does not have."
        )
    column, register_values = register[qid]
    codes = groups[qid].cat.codes.to_numpy()
    answered = codes >= 0
    shown = question_shown(questionnaire, responses, qid)
    unanswered = shown & ~answered
    if unanswered.any():
        error = MissingValuesError(qid, int(unanswered.sum()))
        raise RakingVariableError(
            f"raking variable {qid!r}: {error.n_missing} respondent(s) were asked but did not answer; "
            "rake without it (leave it out of --rake)."
        ) from error
    size = len(question.codes)
    not_asked = size  # one code past the question's codes
    sample_codes = np.where(answered, codes, not_asked)
    register_codes_ = register_values.codes
    register_codes_ = np.where(register_codes_ >= 0, register_codes_, not_asked)
    labels_of = [*question.codes, NOT_ASKED]
    sample_counts = np.bincount(sample_codes, minlength=size + 1)
    register_counts = np.bincount(register_codes_, minlength=size + 1)
    margin = {labels_of[k]: float(register_counts[k]) for k in range(size + 1) if register_counts[k] > 0}
    absent = [k for k in range(size + 1) if sample_counts[k] > 0 and register_counts[k] == 0]
    if absent:
        error_unknown = UnknownCategoryError(qid, [labels_of[k] for k in absent])
        shown_codes = ", ".join(
            "'not asked' (the question was hidden)" if k == not_asked else repr(labels_of[k]) for k in absent
        )
        raise RakingVariableError(
            f"raking variable {qid!r}: respondents have {shown_codes}, which the register column "
            f"{column!r} does not have ({int(sample_counts[absent].sum())} respondent(s)); "
            "rake without it or correct the register."
        ) from error_unknown
    for k in range(size + 1):
        if register_counts[k] > 0 and sample_counts[k] == 0:
            error_empty = EmptyMarginCellError(qid, labels_of[k])
            what = (
                "people the question is hidden from ('not asked')"
                if k == not_asked
                else f"people in category {labels_of[k]!r}"
            )
            raise RakingVariableError(
                f"raking variable {qid!r}: the register has {int(register_counts[k])} {what} in column "
                f"{column!r} but no respondent is in it, so no weight can represent them; rake without "
                "this variable, or merge the category with a neighbouring one in both files."
            ) from error_empty
    labels = pd.Categorical.from_codes(sample_codes, categories=pd.Index(labels_of, dtype=object))
    return labels, margin, column


# --------------------------------------------------------------------------------------
# The analysis


def analyze(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    register: pd.DataFrame | None = None,
    *,
    options: AnalysisOptions | None = None,
    invitations: pd.DataFrame | None = None,
    previous: Previous | None = None,
    wave: WaveInfo | None = None,
    previous_wave: WaveInfo | None = None,
    progress: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """Analyse one wave: weights, estimates, headline, funnel, reach, tests, gaps, changes.

    responses: the tidy frame (`surveyapp.analysis.tidy`), one row per response.
    register: one row per person of the wave's register with its group columns (named by the
        group questions' `register_column`; blank where a column does not apply), or None.
    invitations: the invitation ledger, one row per invitation: register group columns and a
        boolean `submitted` column; gives response rates and representativeness.
    previous: an earlier wave's AnalysisResult, its JSON dict, or (questionnaire, responses[,
        register]) to analyse with the same options; gives `wave_changes`.
    Every output applies small-cell suppression at `options.min_cell`. `progress` is called
    with a short message after each step (the CLI prints them with timings).
    """
    options = options or AnalysisOptions()
    say = progress or (lambda _message: None)
    notes: list[str] = []
    responses = _check_responses(questionnaire, responses)
    n = len(responses)
    items = measure_items(questionnaire)
    values = item_values(questionnaire, responses, items)
    groups = group_frame(questionnaire, responses)
    for question in group_questions(questionnaire):
        if question.type not in GROUP_QUESTION_TYPES:
            notes.append(
                f"Group question {question.id!r} is a {question.type} question: not used for breakdowns."
            )
    register_info = register_codes(questionnaire, register)
    weighting = _weighting(
        questionnaire,
        responses,
        groups,
        register_info,
        None if register is None else len(register),
        options,
        notes,
    )
    design = weighting.design
    summary = weighting.summary
    say(f"items and weights: {len(items)} items, {summary.method} on {len(summary.variables)} variable(s)")
    kinds: dict[str, Kind] = {item.item: item.kind for item in items}
    item_frame = pd.DataFrame(values, columns=list(kinds), copy=False)
    table = tabulate(design, item_frame, groups, kinds=kinds)
    raw_estimates = table_estimates(table, ci_method=options.ci_method, level=options.level)
    published, plan = suppress_estimates(raw_estimates, threshold=options.min_cell)
    info = {item.item: item for item in items}
    estimates = tuple(_estimate_row(estimate, info[estimate.item]) for estimate in published)
    _note_empty(items, estimates, groups, notes)
    say(f"{len(estimates)} estimates")

    overall = {row.item: row for row in estimates if row.group_var is None}
    headline = _headline(items, overall, options)
    funnel = _funnel(items, overall)
    tests = _tests(table, info, options)
    say(f"{len(tests)} Rao-Scott tests")
    comparisons = _comparisons(table, info, plan, options)
    say(f"{len(comparisons)} group-versus-rest comparisons")
    reach = _reach(table, questionnaire, items, groups, register_info, options, notes)
    rates = _response_rates(questionnaire, invitations, register_info, options)
    say(f"{len(reach)} reach rows, {len(rates)} response-rate rows")
    gaps = _gaps(design, questionnaire, responses, items, values, groups, options, notes)
    say(f"{len(gaps)} adjusted gaps")
    earlier, compared = _previous_estimates(previous, options)
    changes = _wave_changes(estimates, earlier, options) if earlier is not None else ()
    suppression = SuppressionSummary(
        threshold=options.min_cell,
        rule=SUPPRESSION_RULE,
        estimates_suppressed=sum(1 for row in estimates if row.suppressed),
        primary=sum(1 for d in plan.decisions if d.reason == "primary"),
        complementary=sum(1 for d in plan.decisions if d.reason == "complementary"),
        reach_suppressed=sum(1 for row in reach if row.suppressed),
        comparisons_suppressed=sum(1 for row in comparisons if row.suppressed),
        response_rates_suppressed=sum(1 for row in rates if row.suppressed),
        gaps_suppressed=sum(1 for row in gaps if row.suppressed),
    )
    if options.adjust != "none":
        name = "Holm" if options.adjust == "holm" else "Benjamini-Hochberg"
        notes.append(
            f"p_adjusted: {name} correction across the whole report, separately for the {len(tests)} "
            f"Rao-Scott tests and the {len(comparisons)} group-versus-rest comparisons."
        )
    else:
        notes.append("No multiplicity correction (adjust = none): p-values are per comparison.")
    return AnalysisResult(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        questionnaire=QuestionnaireInfo(
            id=questionnaire.id,
            version=questionnaire.version_label,
            content_hash=questionnaire.content_hash,
            title=localize(
                questionnaire.title, questionnaire.languages[0] if questionnaire.languages else "nl"
            ),
        ),
        options=options,
        weighting=weighting.summary,
        items=tuple(items),
        estimates=estimates,
        headline=headline,
        funnel=funnel,
        reach=reach,
        response_rates=rates,
        tests=tests,
        comparisons=comparisons,
        adjusted_gaps=gaps,
        wave_changes=changes,
        suppression=suppression,
        notes=tuple(notes),
        open_answers=_open_answers(questionnaire, responses),
        n_respondents=n,
        wave=wave,
        compared_with=previous_wave if previous_wave is not None else compared,
    )


def _check_responses(questionnaire: Questionnaire, responses: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(responses, pd.DataFrame):
        raise InvalidInputError("responses must be a DataFrame (the tidy frame).")
    if len(responses) < 2:
        raise InvalidInputError(f"At least 2 responses are needed for an analysis; got {len(responses)}.")
    missing = [name for name in column_names(questionnaire) if name not in responses.columns]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InvalidInputError(
            f"The responses lack {len(missing)} answer column(s) of questionnaire "
            f"{questionnaire.id!r}: {shown} (build the frame with surveyapp.analysis.tidy)."
        )
    return responses.reset_index(drop=True)


def _estimate_row(estimate: Estimate, item: ItemInfo) -> EstimateRow:
    return EstimateRow(
        item=estimate.item,
        measure=item.measure,
        kind=item.kind,
        subject=item.subject,
        question=item.question,
        aspect=item.aspect,
        code=item.code,
        group_var=estimate.group_var,
        group=None if estimate.group is None else str(estimate.group),
        n=estimate.n,
        weighted_n=estimate.weight_sum,
        estimate=estimate.estimate,
        se=estimate.se,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        df=estimate.df,
        ci_method=estimate.ci_method,
        level=estimate.level,
        suppressed=estimate.suppressed is not None,
        suppression=estimate.suppressed,
    )


def _note_empty(
    items: Sequence[ItemInfo], estimates: Sequence[EstimateRow], groups: pd.DataFrame, notes: list[str]
) -> None:
    """Notes for all-missing items and group categories without respondents (rows with n = 0)."""
    empty = [row.item for row in estimates if row.group_var is None and row.n == 0]
    if empty:
        notes.append(
            f"{len(empty)} item(s) have no answers at all, so their rows have n = 0 and no numbers: "
            + ", ".join(empty[:20])
            + (" ..." if len(empty) > 20 else "")
        )
    for name in groups.columns:
        counts = groups[name].value_counts()
        absent = [str(c) for c, count in counts.items() if count == 0]
        if absent:
            notes.append(
                f"Group {name!r}: no respondent in {', '.join(map(repr, absent))}; "
                "those rows have n = 0 and no numbers."
            )


def _headline(
    items: Sequence[ItemInfo], overall: Mapping[str, EstimateRow], options: AnalysisOptions
) -> Headline:
    """'k of n offerings above the threshold', and each offering's CI classification."""
    threshold = options.threshold
    offerings: list[OfferingClass] = []
    for item in items:
        if item.measure != "satisfaction" or item.kind != "proportion" or item.subject_kind != "offering":
            continue
        row = overall[item.item]
        classification: str
        if row.suppressed:
            classification = "suppressed"
        elif row.estimate is None or row.ci_low is None or row.ci_high is None:
            classification = "no_data"
        elif row.ci_low > threshold:
            classification = "above"
        elif row.ci_high < threshold:
            classification = "below"
        else:
            classification = "straddles"
        offerings.append(
            OfferingClass(
                subject=str(item.subject),
                item=item.item,
                n=row.n,
                estimate=row.estimate,
                ci_low=row.ci_low,
                ci_high=row.ci_high,
                classification=classification,  # type: ignore[arg-type]
            )
        )
    estimated = [o for o in offerings if o.classification in ("above", "straddles", "below")]
    k_above = sum(1 for o in estimated if o.estimate is not None and o.estimate > threshold)
    count = {c: sum(1 for o in offerings if o.classification == c) for c in ("above", "straddles", "below")}
    text = (
        f"{k_above} of {len(estimated)} offerings score above {threshold:.0%} satisfied (top-2-box); "
        f"the {options.level:.0%} confidence interval lies entirely above for {count['above']}, "
        f"straddles {threshold:.0%} for {count['straddles']} and lies entirely below for {count['below']}."
    )
    if len(estimated) < len(offerings):
        text += f" {len(offerings) - len(estimated)} offering(s) have too few users to report."
    return Headline(
        measure="satisfaction",
        threshold=threshold,
        level=options.level,
        n_offerings=len(offerings),
        n_estimated=len(estimated),
        k_above=k_above,
        above=count["above"],
        straddles=count["straddles"],
        below=count["below"],
        not_estimated=len(offerings) - len(estimated),
        text=text,
        offerings=tuple(offerings),
    )


def _funnel(items: Sequence[ItemInfo], overall: Mapping[str, EstimateRow]) -> tuple[FunnelStep, ...]:
    steps: list[FunnelStep] = []
    for subject, funnel in _funnels(items).items():
        for step, source in funnel:
            share = overall[f"funnel/{subject}/{step}"]
            conversion = overall[f"funnel/{subject}/{step}/conversion"]
            steps.append(
                FunnelStep(
                    subject=subject,
                    step=step,
                    question=source.question,
                    measure=source.measure,
                    aspect=source.aspect,
                    item=share.item,
                    n=share.n,
                    share=share.estimate,
                    se=share.se,
                    ci_low=share.ci_low,
                    ci_high=share.ci_high,
                    conversion=conversion.estimate,
                    conversion_ci_low=conversion.ci_low,
                    conversion_ci_high=conversion.ci_high,
                    conversion_n=conversion.n,
                    suppressed=share.suppressed or conversion.suppressed,
                )
            )
    return tuple(steps)


def _adjusted(p_values: list[float | None], options: AnalysisOptions) -> list[float | None]:
    if options.adjust == "none":
        return [None] * len(p_values)
    return adjust_p_values(p_values, options.adjust)


def _tests(table: Any, info: Mapping[str, ItemInfo], options: AnalysisOptions) -> tuple[TestRow, ...]:
    raw = rao_scott_tests(table, adjust="none")
    adjusted = _adjusted([test.p_value for test in raw], options)
    rows = []
    for test, p_adjusted in zip(raw, adjusted, strict=True):
        item = info[test.item]
        rows.append(
            TestRow(
                item=test.item,
                measure=item.measure,
                subject=item.subject,
                question=item.question,
                aspect=item.aspect,
                code=item.code,
                group_var=test.group_var,
                statistic="F",
                value=test.f,
                df_num=test.ndf,
                df_den=test.ddf,
                p=test.p_value,
                p_adjusted=p_adjusted,
                adjust_method=options.adjust,
                n=test.n,
                mean_design_effect=test.mean_design_effect,
            )
        )
    return tuple(rows)


def _comparisons(
    table: Any, info: Mapping[str, ItemInfo], plan: SuppressionPlan, options: AnalysisOptions
) -> tuple[ComparisonRow, ...]:
    """Group versus rest, p-values adjusted across the whole report, suppressed as
    `suppress_comparisons` does: no numbers when the group's cell is suppressed or the rest
    has fewer respondents than the threshold."""
    raw = group_vs_rest(table, level=options.level, adjust="none")
    adjusted = _adjusted([c.p_value for c in raw], options)
    rows = []
    for comparison, p_adjusted in zip(raw, adjusted, strict=True):
        item = info[comparison.item]
        reason = plan.reason(comparison.item, comparison.group_var, comparison.group)
        hidden = reason is not None or (comparison.n_rest or 0) < plan.threshold
        rows.append(
            ComparisonRow(
                item=comparison.item,
                measure=item.measure,
                kind=item.kind,
                subject=item.subject,
                question=item.question,
                aspect=item.aspect,
                code=item.code,
                group_var=comparison.group_var,
                group=str(comparison.group),
                n_group=None if hidden else comparison.n_group,
                n_rest=None if hidden else comparison.n_rest,
                estimate_group=None if hidden else comparison.estimate_group,
                estimate_rest=None if hidden else comparison.estimate_rest,
                difference=None if hidden else comparison.difference,
                se=None if hidden else comparison.se,
                ci_low=None if hidden else comparison.ci_low,
                ci_high=None if hidden else comparison.ci_high,
                t=None if hidden else comparison.t,
                df=comparison.df,
                p=None if hidden else comparison.p_value,
                p_adjusted=None if hidden else p_adjusted,
                adjust_method=options.adjust,
                suppressed=hidden,
            )
        )
    return tuple(rows)


# --------------------------------------------------------------------------------------
# Reach


def reach_from_table(
    table: DomainTable,
    users: Mapping[str, str],
    register_shares: Mapping[str, Mapping[Hashable, float]],
    *,
    level: float = 0.95,
) -> dict[str, list[ReachIndex]]:
    """Reach indices of several user definitions from the report's one `tabulate` table.

    `users` maps a name to a 0/1 item of the table (1 = user); `register_shares` maps group
    variables of the table to {category: share in the register}. A group's share among users
    is a ratio over users whose group is one of the register's categories, so its linearised
    sums are sums of the user item by (raking cell, group) that the table already holds: the
    numbers are those of `surveyapp.analysis.reach_indices(design, item, groups, shares)`
    (tested), except that respondent categories the register does not list count as unknown
    (left out of the shares) instead of raising.
    """
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    design = table.design
    columns = {name: table.items.index(item) for name, item in users.items()}
    result: dict[str, list[ReachIndex]] = {name: [] for name in users}
    if not columns:
        return result
    j = np.array(list(columns.values()), dtype=np.intp)
    for cube in table.cubes[1:]:
        variable = str(cube.coding.name)
        if variable not in register_shares:
            continue
        shares = register_shares[variable]
        position = {category: index for index, category in enumerate(cube.coding.categories)}
        categories = [c for c in shares if c in position]
        if not categories:
            continue
        picked = np.array([position[c] for c in categories], dtype=np.intp)
        # G × C × J sums over users (item = 1) in each register category.
        count = cube.sum_y[:, picked][:, :, j]
        weighted = cube.w_y[:, picked][:, :, j]
        weighted_sq = cube.w2_y[:, picked][:, :, j]
        n_cells, n_categories, n_users = count.shape
        total = weighted.sum(axis=(0, 1))  # J: weighted users with a known group
        with np.errstate(invalid="ignore", divide="ignore"):
            share = weighted.sum(axis=0) / total  # C × J
            inverse = np.where(total > 0, 1.0 / total, 0.0)
        safe_share = np.where(np.isfinite(share), share, 0.0)
        cell_e = (count - safe_share * count.sum(axis=1, keepdims=True)) * inverse
        cell_w2e = (weighted_sq - safe_share * weighted_sq.sum(axis=1, keepdims=True)) * inverse
        w2_category = weighted_sq.sum(axis=0)  # C × J
        w2_known = w2_category.sum(axis=0)  # J
        total_w2e2 = ((1 - 2 * safe_share) * w2_category + safe_share**2 * w2_known) * inverse**2
        total_we = (weighted.sum(axis=0) - safe_share * total) * inverse
        variance = variance_from_moments(
            design,
            cell_e=cell_e.reshape(n_cells, -1),
            total_we=total_we.ravel(),
            cell_w2e=cell_w2e.reshape(n_cells, -1),
            total_w2e2=total_w2e2.ravel(),
        ).reshape(n_categories, n_users)
        users_in = count.sum(axis=0)  # C × J
        known = users_in.sum(axis=0)  # J
        for u, name in enumerate(columns):
            result[name].extend(
                _reach_rows(
                    variable,
                    categories,
                    shares,
                    share[:, u],
                    np.sqrt(variance[:, u]),
                    users_in[:, u],
                    round(float(known[u])),
                    level,
                )
            )
    return result


def _reach_rows(
    variable: str,
    categories: list[Hashable],
    shares: Mapping[Hashable, float],
    share: FloatArray,
    se: FloatArray,
    users_in: FloatArray,
    n_known: int,
    level: float,
) -> list[ReachIndex]:
    """ReachIndex rows of one variable and user definition (the rules of `reach_indices`)."""
    df = n_known - 1
    quantile = float(t_ppf(0.5 + level / 2, df)) if df >= 1 else float("nan")
    rows: list[ReachIndex] = []
    for k, category in enumerate(categories):
        register_share = float(shares[category])
        n_users = round(float(users_in[k]))
        if n_known == 0 or df < 1:
            rows.append(
                ReachIndex(
                    group_var=variable,
                    group=category,
                    n_users=n_users,
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
        value = float(share[k])
        index_value = value / register_share
        if value > 0:
            half = quantile * float(se[k]) / value
            low, high = index_value * math.exp(-half), index_value * math.exp(half)
        else:
            # No users from this group: the log scale is undefined, use the exact bound.
            low = 0.0
            high = (1 - ((1 - level) / 2) ** (1.0 / n_known)) / register_share
        rows.append(
            ReachIndex(
                group_var=variable,
                group=category,
                n_users=n_users,
                user_share=value,
                se=float(se[k]),
                register_share=register_share,
                index=index_value,
                ci_low=float(low),
                ci_high=float(high),
                df=df,
                level=level,
                under_reached=bool(high < 1),
            )
        )
    return rows


def _reach(
    table: DomainTable,
    questionnaire: Questionnaire,
    items: Sequence[ItemInfo],
    groups: pd.DataFrame,
    register: dict[str, tuple[str, pd.Categorical]],
    options: AnalysisOptions,
    notes: list[str],
) -> tuple[ReachRow, ...]:
    if not register:
        return ()
    shares: dict[str, dict[Hashable, float]] = {}
    for qid, (_column, codes) in register.items():
        counts = np.bincount(codes.codes[codes.codes >= 0], minlength=len(codes.categories))
        total = float(counts.sum())
        if not total:
            continue
        shares[qid] = {
            str(c): float(v) / total for c, v in zip(codes.categories, counts, strict=True) if v > 0
        }
        answered = np.bincount(
            groups[qid].cat.codes[groups[qid].cat.codes >= 0], minlength=len(codes.categories)
        )
        outside = [
            str(c) for c, a, v in zip(codes.categories, answered, counts, strict=True) if a > 0 and v == 0
        ]
        if outside:
            notes.append(
                f"Reach by {qid!r}: answers {', '.join(map(repr, outside))} do not occur in the register "
                "and count as unknown group (left out of the shares)."
            )
    definitions: dict[str, str | None] = {}
    for item in items:
        if item.measure != "usage" or item.kind != "proportion":
            continue
        if item.item == ANY_OFFERING or item.subject is not None:
            definitions[item.item] = None if item.item == ANY_OFFERING else item.subject
    if not definitions or not shares:
        return ()
    by_definition = reach_from_table(table, {name: name for name in definitions}, shares, level=options.level)
    rows: list[ReachRow] = []
    for name, indices in by_definition.items():
        published, _plan = suppress_reach(indices, threshold=options.min_cell)
        for index in published:
            rows.append(
                ReachRow(
                    subject=definitions[name],
                    users_item=name,
                    group_var=index.group_var,
                    register_column=register[index.group_var][0],
                    group=str(index.group),
                    population_share=index.register_share,
                    user_share=index.user_share,
                    se=index.se,
                    index=index.index,
                    ci_low=index.ci_low,
                    ci_high=index.ci_high,
                    df=index.df,
                    n=index.n_users,
                    under_reached=index.under_reached,
                    suppressed=index.suppressed is not None,
                    suppression=index.suppressed,
                )
            )
    return tuple(rows)


# --------------------------------------------------------------------------------------
# Response rates from the invitation ledger


def _response_rates(
    questionnaire: Questionnaire,
    invitations: pd.DataFrame | None,
    register: dict[str, tuple[str, pd.Categorical]],
    options: AnalysisOptions,
) -> tuple[ResponseRateRow, ...]:
    if invitations is None:
        return ()
    if "submitted" not in invitations.columns:
        raise InvalidInputError(
            "The invitation ledger needs a 'submitted' column (true/false per invitation)."
        )
    submitted = invitations["submitted"].astype(object).map(_truth).to_numpy(dtype=bool)
    ledger = register_codes(questionnaire, invitations, what="invitation ledger")
    total_invited, total_submitted = len(invitations), int(submitted.sum())
    rows = [
        ResponseRateRow(
            group_var=None,
            register_column=None,
            group=None,
            invited=total_invited,
            submitted=total_submitted,
            response_rate=total_submitted / total_invited if total_invited else None,
            invited_share=1.0 if total_invited else None,
            respondent_share=1.0 if total_submitted else None,
            representativeness=None,
            suppressed=False,
        )
    ]
    cells: list[CellCount] = []
    pending: list[tuple[str, str, Any]] = []
    for qid, (column, codes) in ledger.items():
        frame = pd.DataFrame({"group": codes, "submitted": submitted})
        invited = frame.groupby("group", observed=True).size()
        done = frame[frame["submitted"]].groupby("group", observed=True).size()
        invited_map: dict[Hashable, int] = {str(k): int(v) for k, v in invited.items() if v > 0}
        done_map: dict[Hashable, int] = {str(k): int(v) for k, v in done.items() if v > 0}
        reference: dict[Hashable, float] | None = None
        if qid in register:
            reg_counts = pd.Series(register[qid][1]).value_counts()
            reference = {str(k): float(v) for k, v in reg_counts.items()}
            for group in invited_map:
                reference.setdefault(group, 0.0)
        for rate in response_rates(invited_map, done_map, reference):
            cells.append(CellCount("response_rate", qid, rate.group, rate.submitted))
            pending.append((qid, column, rate))
    if cells:
        plan = plan_suppression(cells, threshold=options.min_cell)
        for (qid, column, rate), decision in zip(pending, plan.decisions, strict=True):
            hidden = decision.suppressed
            rows.append(
                ResponseRateRow(
                    group_var=qid,
                    register_column=column,
                    group=str(rate.group),
                    invited=rate.invited,
                    submitted=None if hidden else rate.submitted,
                    response_rate=None if hidden else rate.response_rate,
                    invited_share=rate.invited_share,
                    respondent_share=None if hidden else rate.respondent_share,
                    representativeness=None if hidden else rate.representativeness,
                    suppressed=hidden,
                )
            )
    return tuple(rows)


def _truth(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y", "ja", "j"):
        return True
    if text in ("0", "false", "f", "no", "n", "nee", "", "nan", "none"):
        return False
    raise InvalidInputError(f"The ledger's 'submitted' column has a value that is not true/false: {value!r}.")


# --------------------------------------------------------------------------------------
# Adjusted gaps: survey logistic regression


def _gaps(
    design: SurveyDesign,
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    items: Sequence[ItemInfo],
    values: FloatArray,
    groups: pd.DataFrame,
    options: AnalysisOptions,
    notes: list[str],
) -> tuple[GapRow, ...]:
    """Odds ratios of each gap group against the largest group, unadjusted and adjusted.

    Adjustment variables hidden by a condition (contract for retirees) enter with the
    category NOT_ASKED; respondents with a missing outcome, gap group or (asked but
    unanswered) adjustment variable are left out of both models, which therefore use the same
    respondents. The reference group is the largest; groups below the minimum cell size (or a
    reference below it) are suppressed.
    """
    if groups.shape[1] == 0:
        return ()
    adjusters = [
        q
        for q in _resolve_vars(
            options.adjust_for if options.adjust_for is not None else DEFAULT_ADJUST_FOR,
            questionnaire,
            "Adjustment variable",
            explicit=options.adjust_for is not None,
        )
        if q.id in groups.columns
    ]
    gap_questions = [
        q
        for q in _resolve_vars(
            options.gap_vars if options.gap_vars is not None else DEFAULT_GAP_VARS,
            questionnaire,
            "Gap variable",
            explicit=options.gap_vars is not None,
        )
        if q not in adjusters and q.id in groups.columns
    ]
    positions = {item.item: k for k, item in enumerate(items)}
    if options.gap_outcomes is not None:
        unknown = [name for name in options.gap_outcomes if name not in positions]
        if unknown:
            raise InvalidInputError(f"Gap outcome(s) {unknown!r} are not items of this analysis.")
        outcomes = [items[positions[name]] for name in options.gap_outcomes]
    else:
        outcomes = [
            item
            for item in items
            if item.kind == "proportion"
            and (
                item.item == ANY_OFFERING
                or (item.measure == "awareness" and item.subject_kind == "service" and item.code is None)
            )
        ]
    if not gap_questions or not outcomes:
        return ()
    adjust_frame = pd.DataFrame(
        {q.id: _with_not_asked(questionnaire, responses, groups, q) for q in adjusters}, index=groups.index
    )
    adjusted_names = tuple(adjust_frame.columns)
    adjusters_known = (
        np.column_stack([adjust_frame[c].cat.codes.to_numpy() >= 0 for c in adjust_frame.columns]).all(axis=1)
        if adjusted_names
        else np.ones(len(groups), dtype=bool)
    )
    rows: list[GapRow] = []
    for outcome in outcomes:
        if outcome.kind != "proportion":
            continue
        y_all = values[:, positions[outcome.item]]
        for question in gap_questions:
            gap_codes = groups[question.id].cat.codes.to_numpy()
            complete = ~np.isnan(y_all) & (gap_codes >= 0) & adjusters_known
            counts = np.bincount(gap_codes[complete], minlength=len(question.codes))
            present = [k for k in np.argsort(-counts, kind="stable") if counts[k] > 0]
            if len(present) < 2:
                continue
            order = [question.codes[k] for k in present]  # the largest group first: the reference
            remap = np.full(len(question.codes) + 1, -1, dtype=np.intp)
            remap[present] = np.arange(len(present))
            predictor = pd.Series(
                pd.Categorical.from_codes(remap[gap_codes], categories=pd.Index(order, dtype=object)),
                name=question.id,
            )
            y = pd.Series(np.where(complete, y_all, np.nan), name=outcome.item)
            try:
                plain_fit = categorical_logistic(design, y, predictor.to_frame(), level=options.level)
                full_fit = categorical_logistic(
                    design, y, pd.concat([predictor.to_frame(), adjust_frame], axis=1), level=options.level
                )
            except ModelFitError as exc:
                notes.append(f"Adjusted gap of {outcome.item!r} by {question.id!r} not estimated: {exc}")
                continue
            reference = order[0]
            small_reference = int(counts[present[0]]) < options.min_cell
            for rank, category in enumerate(order[1:], start=1):
                n_group = int(counts[present[rank]])
                hidden = small_reference or n_group < options.min_cell
                term = f"{question.id}{category}"
                rows.append(
                    GapRow(
                        outcome=outcome.item,
                        measure=outcome.measure,
                        subject=outcome.subject,
                        gap_var=question.id,
                        group=category,
                        reference=reference,
                        adjusted_for=adjusted_names,
                        n_model=plain_fit.n,
                        n_group=None if hidden else n_group,
                        unadjusted=None if hidden else _odds(plain_fit, term),
                        adjusted=None if hidden else _odds(full_fit, term),
                        gap_remains=None if hidden else _remains(full_fit, term),
                        suppressed=hidden,
                    )
                )
    return tuple(rows)


def _with_not_asked(
    questionnaire: Questionnaire, responses: pd.DataFrame, groups: pd.DataFrame, question: Question
) -> pd.Categorical:
    """A group column for a model: hidden questions get NOT_ASKED; asked-but-blank stays missing.

    The largest category comes first (the model's reference).
    """
    codes = groups[question.id].cat.codes.to_numpy()
    shown = question_shown(questionnaire, responses, question.id)
    size = len(question.codes)
    codes = np.where((codes < 0) & ~shown, size, codes)
    counts = np.bincount(codes[codes >= 0], minlength=size + 1)
    labels = [*question.codes, NOT_ASKED]
    present = [k for k in np.argsort(-counts, kind="stable") if counts[k] > 0]
    remap = np.full(size + 2, -1, dtype=np.intp)
    remap[present] = np.arange(len(present))
    return pd.Categorical.from_codes(
        remap[codes], categories=pd.Index([labels[k] for k in present], dtype=object)
    )


def categorical_logistic(
    design: SurveyDesign,
    outcome: pd.Series,
    predictors: pd.DataFrame,
    *,
    level: float = 0.95,
    max_iterations: int = 50,
) -> LogisticFit:
    """`survey_logistic` (R svyglm quasibinomial) for categorical predictors, from aggregates.

    With only categorical predictors every respondent's score is fixed by their covariate
    pattern, outcome and raking cell, so the Newton fit and the calibrated sandwich variance
    need only sums per (raking cell, pattern): the same numbers as `survey_logistic` (tested to
    1e-8) without n × p matrices. Other predictor types fall back to `survey_logistic`.
    """
    if not all(isinstance(predictors[c].dtype, pd.CategoricalDtype) for c in predictors.columns):
        return survey_logistic(design, outcome, predictors, level=level, max_iterations=max_iterations)
    if not 0 < level < 1:
        raise InvalidInputError(f"Confidence level must be between 0 and 1, not {level!r}.")
    name = str(outcome.name)
    y = pd.to_numeric(outcome, errors="raise").to_numpy(dtype=np.float64)
    if y.shape != (design.n,) or len(predictors) != design.n:
        raise InvalidInputError("outcome and predictors need one row per respondent.")
    code_columns = [predictors[c].cat.codes.to_numpy().astype(np.int64) for c in predictors.columns]
    complete = ~np.isnan(y)
    for codes in code_columns:
        complete &= codes >= 0
    rows = np.flatnonzero(complete)
    y_fit = y[rows]
    if np.any((y_fit < 0) | (y_fit > 1)):
        raise InvalidInputError(f"Outcome {name!r} must lie in [0, 1] (0/1 for yes/no).")
    # Covariate pattern of each complete row: a mixed-radix key over the category codes.
    sizes = [len(predictors[column].cat.categories) for column in predictors.columns]
    key = np.zeros(rows.size, dtype=np.int64)
    for codes, size in zip(code_columns, sizes, strict=True):
        key = key * size + codes[rows]
    present = np.flatnonzero(np.bincount(key, minlength=1)) if rows.size else np.zeros(0, dtype=np.int64)
    lookup = np.full(int(np.prod(sizes, dtype=np.int64)) if sizes else 1, -1, dtype=np.intp)
    lookup[present] = np.arange(present.size)
    pattern = lookup[key]
    n_patterns = present.size
    remainder = present.copy()
    pattern_codes: dict[str, Any] = {}
    for column, size in reversed(list(zip(predictors.columns, sizes, strict=True))):
        remainder, digit = np.divmod(remainder, size)
        dtype = predictors[column].dtype
        assert isinstance(dtype, pd.CategoricalDtype)
        pattern_codes[column] = pd.Categorical.from_codes(digit.astype(np.intp), dtype=dtype)
    patterns = pd.DataFrame({column: pattern_codes[column] for column in predictors.columns})
    x, terms = _model_matrix(patterns, np.ones(n_patterns, dtype=bool))
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ModelFitError(f"Predictors are collinear (terms {terms}); drop one of them.")
    weights = design.weights[rows]
    mean_weight = float(weights.mean()) if rows.size else 1.0
    cells = design.cells[rows]
    slot = cells * n_patterns + pattern
    size = design.n_cells * n_patterns

    def total(values: FloatArray | None) -> FloatArray:
        summed = np.bincount(slot, weights=values, minlength=size).astype(np.float64)
        return summed.reshape(design.n_cells, n_patterns)

    w2 = weights * weights
    s_n, s_y = total(None), total(y_fit)
    s_w, s_wy = total(weights), total(weights * y_fit)
    s_w2, s_w2y, s_w2y2 = total(w2), total(w2 * y_fit), total(w2 * y_fit * y_fit)
    beta, iterations, information = newton_logistic(
        x, s_w.sum(axis=0) / mean_weight, s_wy.sum(axis=0) / mean_weight, max_iterations
    )
    mu = special.expit(x @ beta)
    v = x @ np.linalg.inv(information)  # score direction per pattern (P × k)
    c = 1.0 / mean_weight  # rescaled weight over design weight
    covariance = covariance_from_moments(
        design,
        cell_e=c * ((s_y - s_n * mu) @ v),
        total_we=c * ((s_wy - s_w * mu).sum(axis=0) @ v),
        cell_w2e=c * ((s_w2y - s_w2 * mu) @ v),
        total_w2ee=c * c * ((v.T * (s_w2y2 - 2 * mu * s_w2y + mu * mu * s_w2).sum(axis=0)) @ v),
    )
    df = int(rows.size) - x.shape[1]
    if df < 1:
        raise ModelFitError(f"Too few complete respondents ({rows.size}) for the model.")
    return logistic_fit(name, terms, beta, covariance, int(rows.size), df, iterations, level)


def _odds(fit: Any, term: str) -> OddsRatio | None:
    try:
        coefficient = fit.coefficient(term)
    except KeyError:
        return None
    return OddsRatio(
        odds_ratio=coefficient.odds_ratio,
        ci_low=coefficient.odds_ratio_ci_low,
        ci_high=coefficient.odds_ratio_ci_high,
        p=coefficient.p_value,
    )


def _remains(fit: Any, term: str) -> bool | None:
    odds = _odds(fit, term)
    if odds is None or odds.ci_low is None or odds.ci_high is None:
        return None
    return bool(odds.ci_high < 1 or odds.ci_low > 1)


# --------------------------------------------------------------------------------------
# Wave changes


EstimateKey = tuple[str, str | None, str | None]


def _previous_estimates(
    previous: Previous | None, options: AnalysisOptions
) -> tuple[dict[EstimateKey, Mapping[str, Any]] | None, WaveInfo | None]:
    """The earlier wave's estimate rows by (item, group_var, group), and its wave info."""
    if previous is None:
        return None, None
    if isinstance(previous, tuple):
        if len(previous) not in (2, 3):
            raise InvalidInputError("previous must be (questionnaire, responses[, register]).")
        register = previous[2] if len(previous) == 3 else None
        previous = analyze(previous[0], previous[1], register, options=options)
    if isinstance(previous, AnalysisResult):
        rows: Sequence[Mapping[str, Any]] = [dataclasses.asdict(row) for row in previous.estimates]
        wave = previous.wave
    elif isinstance(previous, Mapping):
        rows = previous.get("estimates") or []
        raw_wave = previous.get("wave")
        wave = WaveInfo(**raw_wave) if isinstance(raw_wave, Mapping) else None
    else:
        raise InvalidInputError(
            "previous must be an AnalysisResult, its JSON dict or (questionnaire, responses)."
        )
    return {(row["item"], row.get("group_var"), row.get("group")): row for row in rows}, wave


def _wave_changes(
    estimates: Sequence[EstimateRow],
    earlier: Mapping[EstimateKey, Mapping[str, Any]],
    options: AnalysisOptions,
) -> tuple[WaveChangeRow, ...]:
    """later − earlier per item and group, SE √(se₁² + se₂²), Satterthwaite df (as wave_difference)."""
    pairs: list[tuple[EstimateRow, Mapping[str, Any]]] = []
    for row in estimates:
        before = earlier.get((row.item, row.group_var, row.group))
        if before is not None and before.get("kind", row.kind) == row.kind:
            pairs.append((row, before))
    if not pairs:
        return ()

    def number(value: Any) -> float:
        return float(value) if value is not None else np.nan

    later = np.array([number(row.estimate) for row, _ in pairs])
    later_se = np.array([number(row.se) for row, _ in pairs])
    later_df = np.array([number(row.df) for row, _ in pairs])
    first = np.array([number(b.get("estimate")) for _, b in pairs])
    first_se = np.array([number(b.get("se")) for _, b in pairs])
    first_df = np.array([number(b.get("df")) for _, b in pairs])
    hidden = np.array([row.suppressed or bool(b.get("suppressed")) for row, b in pairs])
    defined = ~hidden & np.isfinite(later + later_se + later_df + first + first_se + first_df)
    defined &= (later_df >= 1) & (first_df >= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v1, v2 = first_se**2, later_se**2
        variance = v1 + v2
        se = np.sqrt(variance)
        difference = later - first
        parts = np.where(v1 > 0, v1**2 / first_df, 0.0) + np.where(v2 > 0, v2**2 / later_df, 0.0)
        df = np.where(parts > 0, variance**2 / parts, np.minimum(first_df, later_df))
        quantile = t_ppf(0.5 + options.level / 2, np.where(defined, df, 1.0))
        t = np.where(se > 0, difference / se, np.nan)
        p = np.where(se > 0, 2 * t_sf(np.abs(t), np.where(defined, df, 1.0)), np.nan)
    rows = []
    for k, (row, _) in enumerate(pairs):
        ok = bool(defined[k])

        def value(array: FloatArray, k: int = k, ok: bool = ok) -> float | None:
            number_k = float(array[k])
            return number_k if ok and math.isfinite(number_k) else None

        rows.append(
            WaveChangeRow(
                item=row.item,
                measure=row.measure,
                kind=row.kind,
                subject=row.subject,
                question=row.question,
                aspect=row.aspect,
                code=row.code,
                group_var=row.group_var,
                group=row.group,
                earlier=value(first),
                later=value(later),
                difference=value(difference),
                se=value(se),
                ci_low=value(difference - quantile * se),
                ci_high=value(difference + quantile * se),
                df=value(df),
                t=value(t),
                p=value(p),
                suppressed=bool(hidden[k]),
            )
        )
    return tuple(rows)


def _open_answers(questionnaire: Questionnaire, responses: pd.DataFrame) -> tuple[OpenAnswers, ...]:
    rows = []
    for question in questionnaire.questions:
        if question.type not in ("text", "long_text"):
            continue
        column = responses[question.id]
        answered = int((column.notna() & (column.astype("string").str.strip() != "")).sum())
        rows.append(OpenAnswers(question.id, question.measure.type if question.measure else None, answered))
    return tuple(rows)


__all__ = [
    "ANY_OFFERING",
    "DEFAULT_ADJUST_FOR",
    "DEFAULT_GAP_VARS",
    "DEFAULT_RAKE_VARS",
    "NOT_ASKED",
    "AnalysisOptions",
    "AnalysisResult",
    "RakingVariableError",
    "RegisterCodeError",
    "analyze",
    "categorical_logistic",
    "group_frame",
    "item_values",
    "measure_items",
    "reach_from_table",
    "register_codes",
]
