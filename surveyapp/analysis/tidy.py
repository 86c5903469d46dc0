"""One tidy DataFrame per wave: the only shape of response data the analysis ever sees.

Columns are answer names: ``qid`` for single choice, yes/no, rating, number and text;
``qid/item`` for each matrix row; ``qid/code`` (1.0 chosen, 0.0 not chosen) for each option of a
multiple-choice question, the KoboToolbox/ODK convention. Missing is NaN/NA everywhere.

The questionnaire's conditions are applied vectorised: an answer to a question that was hidden
is dropped, and a hidden question with a declared implied value gets that value (a usage
question shown only to those who know an offering implies "not used"). The same rule serves
answers from the web (where hidden questions were never asked) and files made elsewhere.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from surveyapp.questionnaire.expressions import evaluate_frame
from surveyapp.questionnaire.model import Question, Questionnaire

CHOICE_TYPES = {"single_choice", "yes_no", "rating", "matrix"}


@dataclass(frozen=True)
class FileProblem:
    """A problem in a responses file: where it is and what is wrong."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(
            part for part in (f"line {self.line}" if self.line else "", self.column or "") if part
        )
        return f"{where}: {self.message}" if where else self.message


class ResponsesFileError(ValueError):
    """A responses file that cannot be analysed; ``problems`` lists every problem found."""

    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the responses file:\n{shown}{more}")


def column_names(questionnaire: Questionnaire) -> list[str]:
    """Every column of the tidy frame, in questionnaire order."""
    names: list[str] = []
    for question in questionnaire.questions:
        names.extend(_columns_of(question))
    return names


def _columns_of(question: Question) -> list[str]:
    if question.type == "info":
        return []
    if question.type == "multiple_choice":
        return [f"{question.id}/{code}" for code in question.codes]
    return question.variable_names()


def response_frame(questionnaire: Questionnaire, answers: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Stored answer documents (as the web form saves them) → the tidy frame, conditions applied."""
    records = list(answers)
    data: dict[str, Any] = {}
    for question in questionnaire.questions:
        if question.type == "info":
            continue
        if question.type == "multiple_choice":
            chosen = [record.get(question.id) for record in records]
            for code in question.codes:
                data[f"{question.id}/{code}"] = np.array(
                    [np.nan if not isinstance(c, list) else float(code in c) for c in chosen], dtype=float
                )
            continue
        for name in question.variable_names():
            values = [record.get(name) for record in records]
            if question.type == "number":
                data[name] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
            else:
                data[name] = pd.array([None if v in (None, "") else str(v) for v in values], dtype="string")
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(records)))
    return apply_conditions(questionnaire, frame)


def apply_conditions(questionnaire: Questionnaire, frame: pd.DataFrame) -> pd.DataFrame:
    """Blank answers to hidden questions and fill declared implied values, page by page.

    Conditions only look at earlier pages, so walking the questionnaire in order and judging
    each condition on the frame cleaned so far gives the same visibility as the web form.
    """
    frame = frame.copy()
    for page in questionnaire.pages:
        page_shown = (
            evaluate_frame(page.show_if, frame).to_numpy()
            if page.show_if is not None
            else np.ones(len(frame), dtype=bool)
        )
        for question in page.questions:
            if question.type == "info":
                continue
            shown = page_shown.copy()
            if question.show_if is not None:
                shown &= evaluate_frame(question.show_if, frame).to_numpy()
            if question.type == "matrix":
                for item in question.items:
                    item_shown = shown.copy()
                    if item.show_if is not None:
                        item_shown &= evaluate_frame(item.show_if, frame).to_numpy()
                    _hide(frame, f"{question.id}/{item.id}", ~item_shown, question.implied_if_hidden)
            else:
                for name in _columns_of(question):
                    _hide(frame, name, ~shown, question.implied_if_hidden)
    return frame


def _hide(frame: pd.DataFrame, name: str, hidden: np.ndarray, implied: str | None) -> None:
    if name not in frame.columns or not hidden.any():
        return
    if implied is not None:
        frame.loc[hidden, name] = implied
    else:
        frame.loc[hidden, name] = np.nan if frame[name].dtype.kind == "f" else pd.NA


def read_responses_csv(questionnaire: Questionnaire, path: str | Path) -> pd.DataFrame:
    """A responses file made elsewhere (one row per response, columns named as above) → tidy frame.

    Every problem is collected (unknown columns, unknown codes, non-numbers, 0/1 columns with other
    values) and reported together in a ResponsesFileError, never a silently wrong number.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        raise ResponsesFileError([FileProblem(None, None, f"cannot be read as CSV: {exc}")]) from exc
    problems: list[FileProblem] = []
    known = set(column_names(questionnaire))
    for column in raw.columns:
        if column not in known:
            problems.append(FileProblem(None, column, "is not an answer of this questionnaire"))
    questions = {q.id: q for q in questionnaire.questions}
    data: dict[str, Any] = {}
    for name in column_names(questionnaire):
        if name not in raw.columns:
            data[name] = (
                np.full(len(raw), np.nan)
                if _is_numeric_column(questions, name)
                else pd.array([None] * len(raw), dtype="string")
            )
            continue
        values = raw[name].str.strip()
        question = questions[name.split("/", 1)[0]]
        blank = values == ""
        if question.type == "multiple_choice":
            bad = ~blank & ~values.isin(["0", "1"])
            problems.extend(FileProblem(int(i) + 2, name, "must be 0 or 1") for i in np.flatnonzero(bad)[:20])
            data[name] = pd.to_numeric(values.where(~blank), errors="coerce").to_numpy(float)
        elif question.type == "number":
            numbers = pd.to_numeric(values.where(~blank), errors="coerce")
            bad = ~blank & numbers.isna()
            problems.extend(
                FileProblem(int(i) + 2, name, "is not a number") for i in np.flatnonzero(bad)[:20]
            )
            data[name] = numbers.to_numpy(float)
        elif question.type in CHOICE_TYPES:
            codes = set(question.codes)
            bad = ~blank & ~values.isin(codes)
            for i in np.flatnonzero(bad)[:20]:
                problems.append(
                    FileProblem(
                        int(i) + 2, name, f"{values.iloc[i]!r} is not a code ({', '.join(sorted(codes))})"
                    )
                )
            data[name] = values.mask(blank).astype("string").array
        else:
            data[name] = values.mask(blank).astype("string").array
    if problems:
        raise ResponsesFileError(problems)
    return apply_conditions(questionnaire, pd.DataFrame(data, index=pd.RangeIndex(len(raw))))


def _is_numeric_column(questions: Mapping[str, Question], name: str) -> bool:
    return questions[name.split("/", 1)[0]].type in {"multiple_choice", "number"}
