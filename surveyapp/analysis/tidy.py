"""One tidy DataFrame per wave: the only shape of response data the analysis ever sees.

Columns are answer names: ``qid`` for single choice, yes/no, rating, number and text;
``qid/item`` for each matrix row; ``qid/code`` (1.0 chosen, 0.0 not chosen) for each option of a
multiple-choice question, the KoboToolbox/ODK convention. Missing is NaN/NA everywhere.

Column types: choice answers (single choice, yes/no, rating, matrix rows) are pandas
Categoricals whose categories are the question's codes in questionnaire order (compact, and
``frame[name] == "ja"`` works as for strings); numbers and multiple-choice columns are float64;
free text is the pandas string dtype. An answer whose code is not a code of the question is
never dropped silently: files report it as a problem, stored answers raise UnknownCodeError.

The questionnaire's conditions are applied vectorised: an answer to a question that was hidden
is dropped, and a hidden question with a declared implied value gets that value (a usage
question shown only to those who know an offering implies "not used"). The same rule serves
answers from the web (where hidden questions were never asked) and files made elsewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveyapp.analysis.errors import AnalysisError
from surveyapp.questionnaire.expressions import And, Expr, Not, Or, evaluate_frame
from surveyapp.questionnaire.expressions import evaluate as evaluate_one
from surveyapp.questionnaire.model import Page, Question, Questionnaire

CHOICE_TYPES = {"single_choice", "yes_no", "rating", "matrix"}
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
MAX_PROBLEMS_PER_COLUMN = 20

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


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


class UnknownCodeError(AnalysisError):
    """Stored answers (or a frame) carry codes that the questionnaire does not define."""

    def __init__(self, column: str, codes: Sequence[Hashable], count: int) -> None:
        self.column = column
        self.codes = list(codes)
        self.count = count
        shown = ", ".join(repr(c) for c in self.codes[:10])
        super().__init__(
            f"Answer {column!r} has {count} answer(s) with code(s) that the questionnaire does not "
            f"define: {shown}. Is this the questionnaire version the answers were given to?"
        )


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


def question_of(questionnaire: Questionnaire) -> dict[str, Question]:
    """Answer name (tidy column) → its question."""
    return {name: question for question in questionnaire.questions for name in _columns_of(question)}


# --- categorical helpers ---------------------------------------------------------------------------


def choice_codes(values: pd.Series | pd.Categorical, codes: tuple[str, ...], name: str) -> IntArray:
    """Index of each answer in ``codes`` (−1 where missing); unknown codes raise UnknownCodeError.

    Accepts a Categorical (fast path when its categories are the codes), strings, or numbers
    (a rating stored as 5 means the code "5").
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Categorical(values)
    if isinstance(values, pd.Categorical):
        categories = [_code_text(c) for c in values.categories]
        mapping = _category_map(categories, codes, name, values.codes)
        return mapping[values.codes]
    series = pd.Series(values)
    raw_codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [_code_text(u) for u in uniques]
    return _category_map(texts, codes, name, raw_codes)[raw_codes]


def _category_map(categories: list[str | None], codes: tuple[str, ...], name: str, used: Any) -> IntArray:
    """Lookup array: category index → code index (the last slot, for −1, maps to −1)."""
    position = {code: index for index, code in enumerate(codes)}
    mapping = np.full(len(categories) + 1, -1, dtype=np.intp)
    unknown: list[int] = []
    for index, category in enumerate(categories):
        if category is None or category == "":
            continue
        found = position.get(category)
        if found is None:
            unknown.append(index)
        else:
            mapping[index] = found
    if unknown:
        used_codes = np.asarray(used)
        counts = np.bincount(used_codes[used_codes >= 0], minlength=len(categories))
        present = [i for i in unknown if counts[i] > 0]
        if present:
            raise UnknownCodeError(name, [categories[i] for i in present], int(sum(counts[present])))
    return mapping


def _code_text(value: Any) -> str | None:
    """A stored answer as its code text: numbers without '.0', blanks and NaN as None."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, bool | np.bool_):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        return str(int(value))
    text = str(value).strip()
    return text or None


def categorical(codes: IntArray, question: Question) -> pd.Categorical:
    """Codes (−1 missing) → a Categorical over the question's codes."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(question.codes), dtype=object))


# --- from stored answers ---------------------------------------------------------------------------


def response_frame(questionnaire: Questionnaire, answers: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Stored answer documents (as the web form saves them) → the tidy frame, conditions applied.

    A code that the questionnaire does not define raises UnknownCodeError (never dropped).
    The documents are laid out as columns once (`DataFrame.from_records`), then each answer
    is converted vectorised.
    """
    records = answers if isinstance(answers, list) else list(answers)
    n = len(records)
    names = [q.id for q in questionnaire.questions if q.type == "multiple_choice"]
    names += [
        name for q in questionnaire.questions if q.type != "multiple_choice" for name in q.variable_names()
    ]
    raw = pd.DataFrame(records, columns=names, index=pd.RangeIndex(n)) if n else pd.DataFrame(columns=names)
    data: dict[str, Any] = {}
    for question in questionnaire.questions:
        if question.type == "info":
            continue
        if question.type == "multiple_choice":
            data.update(_multiple_choice(question, raw[question.id], n))
            continue
        for name in question.variable_names():
            values = raw[name].to_numpy(dtype=object)
            if question.type == "number":
                data[name] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
            elif question.type in CHOICE_TYPES:
                data[name] = categorical(
                    choice_codes(pd.Series(values, dtype=object), question.codes, name), question
                )
            else:
                texts = [None if v is None or v == "" or v != v else str(v) for v in values]
                data[name] = pd.array(texts, dtype="string")
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    return apply_conditions(questionnaire, frame)


def _multiple_choice(question: Question, column: pd.Series, n: int) -> dict[str, FloatArray]:
    """One 0/1 column per code (NaN where the question was not answered)."""
    codes = {code: index for index, code in enumerate(question.codes)}
    matrix = np.full((n, len(codes)), np.nan)
    stray: set[str] = set()
    stray_rows = 0
    for row, chosen in enumerate(column.to_numpy(dtype=object)):
        if not isinstance(chosen, list | tuple):
            continue
        matrix[row] = 0.0
        unknown = False
        for code in chosen:
            index = codes.get(str(code))
            if index is None:
                stray.add(str(code))
                unknown = True
            else:
                matrix[row, index] = 1.0
        stray_rows += unknown
    if stray:
        raise UnknownCodeError(question.id, sorted(stray), stray_rows)
    return {f"{question.id}/{code}": matrix[:, index].copy() for code, index in codes.items()}


# --- conditions ------------------------------------------------------------------------------------


def apply_conditions(questionnaire: Questionnaire, frame: pd.DataFrame) -> pd.DataFrame:
    """Blank answers to hidden questions and fill declared implied values, page by page.

    Conditions only look at earlier pages, so walking the questionnaire in order and judging
    each condition on the frame cleaned so far gives the same visibility as the web form.
    """
    frame = frame.copy()
    for page in questionnaire.pages:
        page_shown = _page_shown(page, frame)
        for question in page.questions:
            if question.type == "info":
                continue
            shown = page_shown.copy()
            if question.show_if is not None:
                shown &= evaluate(question.show_if, frame)
            if question.type == "matrix":
                for item in question.items:
                    item_shown = shown.copy()
                    if item.show_if is not None:
                        item_shown &= evaluate(item.show_if, frame)
                    _hide(frame, f"{question.id}/{item.id}", ~item_shown, question.implied_if_hidden)
            else:
                for name in _columns_of(question):
                    _hide(frame, name, ~shown, question.implied_if_hidden)
    return frame


def question_shown(questionnaire: Questionnaire, frame: pd.DataFrame, question_id: str) -> BoolArray:
    """Which respondents were shown a question (its page's and its own condition hold).

    Conditions look only at earlier pages, so judging them on the cleaned frame gives the same
    visibility as `apply_conditions` did. Used to tell "not asked" from "not answered".
    """
    question = questionnaire.question(question_id)
    page = questionnaire.pages[questionnaire.page_index(question.page_id)]
    shown = _page_shown(page, frame)
    if question.show_if is not None:
        shown &= evaluate(question.show_if, frame)
    return shown


def _page_shown(page: Page, frame: pd.DataFrame) -> BoolArray:
    if page.show_if is None:
        return np.ones(len(frame), dtype=bool)
    return evaluate(page.show_if, frame)


def evaluate(expr: Expr, frame: pd.DataFrame) -> BoolArray:
    """`evaluate_frame` as a boolean array, fast on Categorical columns.

    A comparison on a Categorical column depends only on the category, so it is judged once
    per category (and once for a missing answer) by `expressions.evaluate`, the rule the web
    form applies to each respondent, and then looked up by code: no string comparisons per row.
    """
    match expr:
        case Or(items):
            result = np.zeros(len(frame), dtype=bool)
            for item in items:
                result |= evaluate(item, frame)
            return result
        case And(items):
            result = np.ones(len(frame), dtype=bool)
            for item in items:
                result &= evaluate(item, frame)
            return result
        case Not(item):
            return ~evaluate(item, frame)
    name = getattr(expr, "name", None)
    if isinstance(name, str) and name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = tuple(str(c) for c in column.cat.categories)
            verdict = _category_verdict(expr, name, categories)
            # Code −1 (missing) is slot 0; category k is slot k + 1.
            looked_up: BoolArray = verdict[column.cat.codes.to_numpy() + 1]
            return looked_up
    result_frame: BoolArray = evaluate_frame(expr, frame).to_numpy(dtype=bool)
    return result_frame


@lru_cache(maxsize=4096)
def _category_verdict(expr: Expr, name: str, categories: tuple[str, ...]) -> BoolArray:
    """The condition for a missing answer and for each category, by the web form's own rule."""
    verdict = np.array(
        [evaluate_one(expr, {})] + [evaluate_one(expr, {name: category}) for category in categories],
        dtype=bool,
    )
    verdict.setflags(write=False)
    return verdict


def _hide(frame: pd.DataFrame, name: str, hidden: BoolArray, implied: str | None) -> None:
    if name not in frame.columns or not hidden.any():
        return
    column = frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        codes = column.cat.codes.to_numpy().copy()
        fill = -1
        if implied is not None:
            if implied not in categories:
                categories = categories.append(pd.Index([implied], dtype=object))
            fill = list(categories).index(implied)
        codes[hidden] = fill
        frame[name] = pd.Categorical.from_codes(codes, categories=categories)
    elif implied is not None:
        frame.loc[hidden, name] = implied
    else:
        frame.loc[hidden, name] = np.nan if frame[name].dtype.kind == "f" else pd.NA


# --- files -----------------------------------------------------------------------------------------


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample: csv.Sniffer over , ; tab |, else the most frequent in the header."""
    lines = sample.splitlines()
    complete = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(complete, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_csv_text(path: Path, columns: Collection[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A CSV file as Categorical columns of text ('' for blank), read by the C engine.

    Returns (frame, header as read); with `columns`, only those columns are parsed (the
    others, such as a register's person ids, are skipped). The delimiter is sniffed on the
    first 64 KB. Categorical
    columns are parsed in C straight into codes (no Python string per cell): about a third
    less CPU than object columns, and a fraction of the memory. Raises OSError,
    UnicodeDecodeError, pandas' ParserError/EmptyDataError or csv.Error for unreadable files
    (callers turn them into messages).
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    text = head.decode("utf-8-sig", errors="ignore")
    delimiter = sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text.splitlines()[0] if text else ""), delimiter=delimiter), [])
    wanted = set(columns or ())
    raw = pd.read_csv(
        path,
        sep=delimiter,
        dtype="category",
        na_filter=False,
        engine="c",
        encoding="utf-8-sig",
        low_memory=False,
        usecols=None if columns is None else (lambda name: str(name).strip() in wanted),
    )
    if not isinstance(raw.index, pd.RangeIndex):
        # pandas turns the extra leading fields of rows longer than the header into an index.
        raise pd.errors.ParserError(f"rows have more fields than the header ({len(header)} columns)")
    return raw, [name.strip() for name in header]


def category_codes(values: pd.Series) -> tuple[IntArray, list[str]]:
    """(code per row, stripped text per code) of a column read by `read_csv_text`."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.intp)
        texts = [str(c).strip() for c in values.cat.categories]
        return codes, texts
    raw_codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    return np.asarray(raw_codes, dtype=np.intp), [str(u).strip() for u in uniques]


def read_responses_csv(questionnaire: Questionnaire, path: str | Path) -> pd.DataFrame:
    """A responses file made elsewhere (one row per response, columns named as above) → tidy frame.

    Every problem is collected (unknown or repeated columns, unknown codes, non-numbers, 0/1
    columns with other values) and reported together in a ResponsesFileError, never a silently
    wrong number. The delimiter (, ; tab |) is sniffed; the encoding is UTF-8 (BOM allowed).
    """
    path = Path(path)
    try:
        raw, header = read_csv_text(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise ResponsesFileError([FileProblem(None, None, f"cannot be read as CSV: {exc}")]) from exc
    raw.columns = pd.Index([str(c).strip() for c in raw.columns])
    problems: list[FileProblem] = []
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(FileProblem(None, column, "appears more than once"))
        seen.add(column)
    known = set(column_names(questionnaire))
    for column in dict.fromkeys(header):
        if column not in known:
            problems.append(FileProblem(None, column, "is not an answer of this questionnaire"))
    questions = question_of(questionnaire)
    data: dict[str, Any] = {}
    n = len(raw)
    for name, question in questions.items():
        if name not in raw.columns:
            data[name] = _empty_column(question, n)
            continue
        data[name] = _file_column(raw[name], name, question, problems)
    if problems:
        raise ResponsesFileError(problems)
    return apply_conditions(questionnaire, pd.DataFrame(data, index=pd.RangeIndex(n)))


def _empty_column(question: Question, n: int) -> Any:
    if question.type in {"multiple_choice", "number"}:
        return np.full(n, np.nan)
    if question.type in CHOICE_TYPES:
        return categorical(np.full(n, -1, dtype=np.intp), question)
    return pd.array([None] * n, dtype="string")


def _file_column(values: pd.Series, name: str, question: Question, problems: list[FileProblem]) -> Any:
    """One column of a responses file, checked and typed; problems are appended."""
    raw_codes, stripped = category_codes(values)
    if question.type in CHOICE_TYPES or question.type == "multiple_choice":
        allowed = ("0", "1") if question.type == "multiple_choice" else question.codes
        position = {code: index for index, code in enumerate(allowed)}
        mapping = np.full(len(stripped) + 1, -1, dtype=np.intp)
        bad: list[int] = []
        for index, text in enumerate(stripped):
            if text == "":
                continue
            found = position.get(text)
            if found is None:
                found = position.get(_number_text(text)) if question.type != "multiple_choice" else None
            if found is None and question.type == "multiple_choice":
                found = {"0.0": 0, "1.0": 1}.get(text)
            if found is None:
                bad.append(index)
            else:
                mapping[index] = found
        if bad:
            rows = np.flatnonzero(np.isin(raw_codes, bad))[:MAX_PROBLEMS_PER_COLUMN]
            for row in rows:
                text = stripped[raw_codes[row]]
                message = (
                    "must be 0 or 1"
                    if question.type == "multiple_choice"
                    else f"{text!r} is not a code ({', '.join(sorted(question.codes))})"
                )
                problems.append(FileProblem(int(row) + 2, name, message))
        codes = mapping[raw_codes]
        if question.type == "multiple_choice":
            return np.where(codes >= 0, codes.astype(np.float64), np.nan)
        return categorical(codes, question)
    if question.type == "number":
        numbers = pd.to_numeric(pd.Series(stripped, dtype=object).replace("", None), errors="coerce")
        lookup = np.append(numbers.to_numpy(dtype=np.float64), np.nan)
        bad_unique = [i for i, text in enumerate(stripped) if text != "" and np.isnan(lookup[i])]
        if bad_unique:
            rows = np.flatnonzero(np.isin(raw_codes, bad_unique))[:MAX_PROBLEMS_PER_COLUMN]
            problems.extend(FileProblem(int(row) + 2, name, "is not a number") for row in rows)
        return lookup[raw_codes]
    texts = np.array([None if text == "" else text for text in stripped] + [None], dtype=object)
    return pd.array(texts[raw_codes], dtype="string")


def _number_text(text: str) -> str:
    """'5.0' → '5' (a rating code written as a number by a spreadsheet)."""
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text
