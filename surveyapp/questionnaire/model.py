"""The questionnaire model: what a loaded, validated questionnaire file is.

Everything here is immutable and free of Flask and the database, so the form builder, the
respondent flow, the analysis and the importers all share one picture of a questionnaire.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from surveyapp.lru import LRU
from surveyapp.questionnaire.expressions import Expr, VarInfo, evaluate, references

# Combinations of condition answers kept per questionnaire, the least recently used going first.
# Respondents rarely share one (which offerings they know, say), so the memo serves the repeated
# questions of the same respondent's requests close together (a page's view, its save, the next
# page); a small one does that, and a key holds some 30 answers (over a kB with its strings).
_VISIBLE_PAGES_MEMO_MAX = 512


def _hashable(value: Any) -> Any:
    """An answer as a memo key: lists (multiple choice) become tuples."""
    return tuple(value) if isinstance(value, list) else value


LocalizedText = Mapping[str, str]

QuestionType = Literal[
    "single_choice",
    "multiple_choice",
    "yes_no",
    "rating",
    "matrix",
    "number",
    "text",
    "long_text",
    "info",
]
QUESTION_TYPES: tuple[str, ...] = QuestionType.__args__  # type: ignore[attr-defined]

MeasureType = Literal[
    "awareness",
    "usage",
    "satisfaction",
    "need",
    "missing_offer",
    "help_type",
    "suggestion",
    "group",
]
MEASURE_TYPES: tuple[str, ...] = MeasureType.__args__  # type: ignore[attr-defined]

YES, NO = "yes", "no"


def localize(text: LocalizedText | None, lang: str, fallback: str = "nl") -> str:
    """The text in a language, falling back to Dutch (every label has Dutch)."""
    if not text:
        return ""
    return text.get(lang) or text.get(fallback) or next(iter(text.values()), "")


@dataclass(frozen=True)
class Choice:
    code: str
    label: LocalizedText
    missing: bool = False  # "not applicable / don't know": excluded from scores


@dataclass(frozen=True)
class Subject:
    """One thing the service offers (or the service itself), with a stable id across waves."""

    id: str
    label: LocalizedText
    kind: str = "offering"


@dataclass(frozen=True)
class Measure:
    """What a question measures: the seam between questionnaire and analysis."""

    type: MeasureType
    subject: str | None = None
    positive: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    register_column: str | None = None
    funnel_step: int | None = None
    aspect: str | None = None


@dataclass(frozen=True)
class MatrixItem:
    id: str
    label: LocalizedText
    subject: str | None = None
    show_if: Expr | None = None
    show_if_source: str | None = None


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    label: LocalizedText
    page_id: str
    help: LocalizedText | None = None
    required: bool = False
    choices: tuple[Choice, ...] = ()
    items: tuple[MatrixItem, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True
    max_length: int | None = None
    show_if: Expr | None = None
    show_if_source: str | None = None
    implied_if_hidden: str | None = None
    measure: Measure | None = None

    @property
    def answerable(self) -> bool:
        return self.type != "info"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(choice.code for choice in self.choices)

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)

    def variable_names(self) -> list[str]:
        """The answer keys this question produces (a matrix gives one per item)."""
        if self.type == "info":
            return []
        if self.type == "matrix":
            return [f"{self.id}/{item.id}" for item in self.items]
        return [self.id]

    def var_info(self) -> VarInfo:
        """The condition language's view of this question's answer (a matrix row for matrices)."""
        numeric = all(_is_number(c.code) for c in self.choices if not c.missing)
        match self.type:
            case "multiple_choice":
                return VarInfo("multi", frozenset(self.codes))
            case "number":
                return VarInfo("number")
            case "text" | "long_text":
                return VarInfo("text")
            case "rating" | "matrix":
                return VarInfo("choice", frozenset(self.codes), numeric_codes=numeric)
        return VarInfo("choice", frozenset(self.codes))


def _is_number(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RecodeGroup:
    """One coarser code of a hierarchy level: the codes of the level below that it merges."""

    code: str
    label: LocalizedText
    members: tuple[str, ...]


@dataclass(frozen=True)
class QuasiIdentifier:
    """An answer an outsider can know (the register has it): coarsened in microdata exports.

    ``hierarchy`` lists the levels from fine to coarse; a level's groups merge codes of the
    level below (codes no group names stay as they are). Numbers are top-coded at ``top_code``.
    """

    question: str
    hierarchy: tuple[tuple[RecodeGroup, ...], ...] = ()
    top_code: int | None = None

    def level_maps(self) -> tuple[dict[str, str], ...]:
        """Each level as a mapping from the codes below to its coarser codes."""
        return tuple(
            {member: group.code for group in level for member in group.members} for level in self.hierarchy
        )


@dataclass(frozen=True)
class Page:
    id: str
    title: LocalizedText
    questions: tuple[Question, ...]
    intro: LocalizedText | None = None
    show_if: Expr | None = None
    show_if_source: str | None = None


@dataclass(frozen=True)
class Questionnaire:
    """A validated questionnaire; ``content_hash`` identifies this exact version."""

    id: str
    title: LocalizedText
    languages: tuple[str, ...]
    pages: tuple[Page, ...]
    subjects: tuple[Subject, ...]
    content_hash: str
    audience: str = "gerechtigden"
    welcome: LocalizedText | None = None
    thanks: LocalizedText | None = None
    organisation: LocalizedText | None = None
    estimated_minutes: int | None = None
    version_label: str | None = None
    declared_quasi_identifiers: tuple[QuasiIdentifier, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def questions(self) -> Iterator[Question]:
        for page in self.pages:
            yield from page.questions

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def quasi_identifiers(self) -> tuple[QuasiIdentifier, ...]:
        """The declared quasi-identifiers (most important first), then every other group question.

        A group question's codes are in the planner's register (or it names a profile trait),
        so it is a quasi-identifier whether or not the file declares it.
        """
        declared = list(self.declared_quasi_identifiers)
        named = {qi.question for qi in declared}
        for question in self.questions:
            if question.measure is not None and question.measure.type == "group" and question.id not in named:
                declared.append(QuasiIdentifier(question.id))
                named.add(question.id)
        return tuple(declared)

    def subject(self, subject_id: str) -> Subject:
        for subject in self.subjects:
            if subject.id == subject_id:
                return subject
        raise KeyError(subject_id)

    @cached_property
    def _page_positions(self) -> dict[str, int]:
        return {page.id: index for index, page in enumerate(self.pages)}

    def page_index(self, page_id: str) -> int:
        return self._page_positions[page_id]

    # --- visibility (server-side, so the questionnaire works without JavaScript) -------------

    def page_visible(self, page: Page, answers: Mapping[str, Any]) -> bool:
        return page.show_if is None or evaluate(page.show_if, answers)

    def question_visible(self, question: Question, answers: Mapping[str, Any]) -> bool:
        """Shown given the answers: its page and its condition hold, and (for a matrix) a row is shown."""
        page = self.pages[self.page_index(question.page_id)]
        if not self.page_visible(page, answers):
            return False
        if question.show_if is not None and not evaluate(question.show_if, answers):
            return False
        if question.type == "matrix" and question.items:
            return any(item.show_if is None or evaluate(item.show_if, answers) for item in question.items)
        return True

    def item_visible(self, question: Question, item: MatrixItem, answers: Mapping[str, Any]) -> bool:
        if item.show_if is not None and not evaluate(item.show_if, answers):
            return False
        return self.question_visible(question, answers)

    def visible_items(self, question: Question, answers: Mapping[str, Any]) -> tuple[MatrixItem, ...]:
        """A matrix's rows shown given the answers (none when the question is hidden).

        The question's own visibility is judged once, not once per row as ``item_visible`` does.
        """
        if not self.question_visible(question, answers):
            return ()
        return tuple(
            item for item in question.items if item.show_if is None or evaluate(item.show_if, answers)
        )

    def shown_answer_keys(self, question: Question, answers: Mapping[str, Any]) -> list[str]:
        """The answer keys a shown question asks for: its id, or ``qid/item`` per visible matrix row."""
        if question.type == "matrix":
            return [f"{question.id}/{item.id}" for item in self.visible_items(question, answers)]
        return [question.id]

    @cached_property
    def _condition_names(self) -> tuple[str, ...]:
        """Every answer name that some page, question or matrix-row condition reads."""
        conditions = [page.show_if for page in self.pages]
        for question in self.questions:
            conditions.append(question.show_if)
            conditions.extend(item.show_if for item in question.items)
        return tuple(sorted({name for expr in conditions if expr is not None for name in references(expr)}))

    @cached_property
    def _visible_pages_by_condition_answers(self) -> LRU[tuple[Any, ...], tuple[Page, ...]]:
        return LRU(_VISIBLE_PAGES_MEMO_MAX)

    def visible_pages(self, answers: Mapping[str, Any]) -> list[Page]:
        """Pages to show, given the answers so far (conditions only look at earlier pages).

        Which pages show depends only on the answers that conditions read, and every page view
        and save asks, so the result is kept per combination of those answers.
        """
        key: tuple[Any, ...] = tuple(map(answers.get, self._condition_names))
        memo = self._visible_pages_by_condition_answers
        try:
            pages = memo.recent(key)
        except TypeError:  # a list among them (a multiple-choice answer)
            key = tuple(_hashable(value) for value in key)
            pages = memo.recent(key)
        if pages is None:
            pages = tuple(
                page
                for page in self.pages
                if self.page_visible(page, answers)
                and any(self.question_visible(q, answers) for q in page.questions)
            )
            memo.put(key, pages)
        return list(pages)

    def clean_answers(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Drop answers to questions that are hidden by now (an earlier answer changed).

        Conditions only look backwards, so visibility is judged on the answers kept so far:
        a question hidden because of a hidden question is dropped too. Each condition is
        evaluated once (this runs on every page save and for every generated demo answer).
        """
        kept: dict[str, Any] = {}
        for page in self.pages:
            if page.show_if is not None and not evaluate(page.show_if, kept):
                continue
            for question in page.questions:
                if not question.answerable:
                    continue
                if question.show_if is not None and not evaluate(question.show_if, kept):
                    continue
                if question.type == "matrix":
                    for item in question.items:
                        key = f"{question.id}/{item.id}"
                        if key in answers and (item.show_if is None or evaluate(item.show_if, kept)):
                            kept[key] = answers[key]
                elif question.id in answers:
                    kept[question.id] = answers[question.id]
        return kept
