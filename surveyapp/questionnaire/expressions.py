"""The `show_if` condition language: a small, safe expression language over earlier answers.

Conditions are parsed once, when a questionnaire is loaded, into a tiny syntax tree that is
type-checked against the questions it names. Nothing is ever passed to ``eval``. The same tree
is evaluated two ways: on one respondent's answers (the web form) and vectorised on a
DataFrame of many responses (the analysis, where hidden questions take their implied value).

Grammar (keywords are case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := "(" expr ")" | NAME OP value | NAME "in" list | value "in" NAME
    OP         := "=" | "!=" | "<" | ">" | "<=" | ">="
    value      := 'text' | "text" | number
    list       := "[" value ("," value)* "]"

``NAME`` is a question id, or ``question/item`` for one row of a matrix. A comparison with an
unanswered (or hidden) question is false, whatever the operator; ``not`` inverts that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Scalar = str | float
Comparator = Literal["=", "!=", "<", ">", "<=", ">="]


class ExpressionError(ValueError):
    """A condition that cannot be parsed or does not fit the questions it names."""


@dataclass(frozen=True)
class VarInfo:
    """What the type checker needs to know of a referenced answer."""

    kind: Literal["choice", "multi", "number", "text"]
    codes: frozenset[str] = frozenset()
    numeric_codes: bool = False  # a rating scale: its codes compare as numbers


# --- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


@dataclass(frozen=True)
class Compare:
    name: str
    op: Comparator
    value: Scalar


@dataclass(frozen=True)
class InList:
    name: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Contains:
    """``'code' in question``: a multiple-choice answer includes a code."""

    name: str
    value: str


Expr = Or | And | Not | Compare | InList | Contains


# --- tokenizer and parser --------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[()\[\],])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z0-9_]+)?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            at = len(source) - len(source[pos:].lstrip())  # the character itself, not the blank
            raise ExpressionError(f"unexpected character {source[at]!r} at {at + 1}")
        group = match.lastgroup or ""
        kind, text = group, match.group(group)
        if kind == "name" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append(_Token(kind, text, match.start(group)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, what: str) -> _Token:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"expected {what} but the condition ends")
        self.index += 1
        return token

    def _accept(self, kind: str, text: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == kind and token.text == text:
            self.index += 1
            return True
        return False

    def parse(self) -> Expr:
        if not self.tokens:
            raise ExpressionError("the condition is empty")
        expr = self._or()
        extra = self._peek()
        if extra is not None:
            raise ExpressionError(f"unexpected {extra.text!r} at {extra.pos + 1}")
        return expr

    def _or(self) -> Expr:
        items = [self._and()]
        while self._accept("keyword", "or"):
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Expr:
        items = [self._not()]
        while self._accept("keyword", "and"):
            items.append(self._not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not(self) -> Expr:
        if self._accept("keyword", "not"):
            return Not(self._not())
        return self._comparison()

    def _value(self, token: _Token) -> Scalar:
        if token.kind == "string":
            return token.text[1:-1]
        if token.kind == "number":
            return float(token.text)
        raise ExpressionError(f"expected a 'text' or a number at {token.pos + 1}, got {token.text!r}")

    def _comparison(self) -> Expr:
        if self._accept("punct", "("):
            inner = self._or()
            if not self._accept("punct", ")"):
                raise ExpressionError("missing ')'")
            return inner
        first = self._next("a question id or a value")
        if first.kind in {"string", "number"}:
            if not self._accept("keyword", "in"):
                raise ExpressionError(f"a value at {first.pos + 1} can only start '<value> in <question>'")
            name = self._next("a question id")
            if name.kind != "name":
                raise ExpressionError(f"expected a question id after 'in', got {name.text!r}")
            value = self._value(first)
            return Contains(name.text, _format_number(value) if isinstance(value, float) else value)
        if first.kind != "name":
            raise ExpressionError(f"expected a question id at {first.pos + 1}, got {first.text!r}")
        if self._accept("keyword", "in"):
            if not self._accept("punct", "["):
                raise ExpressionError("'in' needs a list such as ['a', 'b']")
            values = [self._value(self._next("a value"))]
            while self._accept("punct", ","):
                values.append(self._value(self._next("a value")))
            if not self._accept("punct", "]"):
                raise ExpressionError("missing ']' to close the list")
            return InList(first.text, tuple(values))
        op = self._next("a comparison such as '=' after the question id")
        if op.kind != "op":
            raise ExpressionError(f"expected a comparison after {first.text!r}, got {op.text!r}")
        return Compare(first.text, op.text, self._value(self._next("a value")))  # type: ignore[arg-type]


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def parse(source: str) -> Expr:
    """Parse a condition; raises ExpressionError with a readable message."""
    return _Parser(str(source)).parse()


def references(expr: Expr) -> list[str]:
    """The answer names a condition reads, in order of appearance."""
    match expr:
        case Or(items) | And(items):
            return [name for item in items for name in references(item)]
        case Not(item):
            return references(item)
        case Compare(name=name) | InList(name=name) | Contains(name=name):
            return [name]
    raise AssertionError(expr)  # pragma: no cover


# --- type checking ---------------------------------------------------------------------------


def check(expr: Expr, lookup: Callable[[str], VarInfo | None]) -> list[str]:
    """Every type problem of a parsed condition; ``lookup`` returns None for unknown names."""
    problems: list[str] = []

    def code_of(value: Scalar) -> str:
        return _format_number(value) if isinstance(value, float) else value

    def visit(node: Expr) -> None:
        match node:
            case Or(items) | And(items):
                for item in items:
                    visit(item)
            case Not(item):
                visit(item)
            case Compare(name, op, value):
                info = lookup(name)
                if info is None:
                    return  # the caller reports unknown names with more context
                if info.kind == "multi":
                    problems.append(f"{name!r} is multiple choice: write \"'code' in {name}\", not {op!r}")
                elif info.kind == "number":
                    if not isinstance(value, float):
                        problems.append(f"{name!r} is a number and cannot be compared to text")
                elif info.kind == "text":
                    if op not in {"=", "!="} or not isinstance(value, str):
                        problems.append(f"{name!r} is free text: only = or != with 'text'")
                elif op in {"<", ">", "<=", ">="}:
                    if not info.numeric_codes:
                        problems.append(f"{name!r} is a choice without numeric codes: no {op!r}")
                    elif not isinstance(value, float):
                        problems.append(f"{name!r} compares with {op!r} to a number only")
                elif code_of(value) not in info.codes:
                    problems.append(
                        f"{code_of(value)!r} is not a code of {name!r} "
                        f"(codes: {', '.join(sorted(info.codes))})"
                    )
            case InList(name, values):
                info = lookup(name)
                if info is None:
                    return
                if info.kind == "multi":
                    problems.append(f"{name!r} is multiple choice: write \"'code' in {name}\"")
                elif info.kind == "number":
                    if not all(isinstance(v, float) for v in values):
                        problems.append(f"{name!r} is a number: the list must hold numbers")
                elif info.kind == "text":
                    problems.append(f"{name!r} is free text and cannot be tested with 'in'")
                else:
                    unknown = [code_of(v) for v in values if code_of(v) not in info.codes]
                    if unknown:
                        problems.append(f"{', '.join(map(repr, unknown))} not codes of {name!r}")
            case Contains(name, value):
                info = lookup(name)
                if info is None:
                    return
                if info.kind != "multi":
                    problems.append(f"'<code> in {name}' needs a multiple-choice question")
                elif value not in info.codes:
                    problems.append(f"{value!r} is not a code of {name!r}")

    visit(expr)
    return problems


# --- evaluation on one respondent ------------------------------------------------------------


def _compare(left: Any, op: Comparator, right: Scalar, numeric: bool) -> bool:
    a: Any
    b: Any
    if numeric:
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            return False
    else:
        a = str(left)
        b = _format_number(right) if isinstance(right, float) else right
    match op:
        case "=":
            return bool(a == b)
        case "!=":
            return bool(a != b)
        case "<":
            return bool(a < b)
        case ">":
            return bool(a > b)
        case "<=":
            return bool(a <= b)
        case ">=":
            return bool(a >= b)
    raise AssertionError(op)  # pragma: no cover


def _missing(value: Any) -> bool:
    # NaN is how pandas spells "no answer": it must not count as an answer that differs.
    if isinstance(value, float) and value != value:
        return True
    return value is None or value == "" or value == []


def evaluate(expr: Expr, answers: Mapping[str, Any]) -> bool:
    """Evaluate a condition on one respondent's answers (missing answers compare false)."""
    match expr:
        case Or(items):
            return any(evaluate(item, answers) for item in items)
        case And(items):
            return all(evaluate(item, answers) for item in items)
        case Not(item):
            return not evaluate(item, answers)
        case Compare(name, op, value):
            answer = answers.get(name)
            if _missing(answer):
                return False
            numeric = (isinstance(value, float) and not isinstance(answer, str)) or op in {
                "<",
                ">",
                "<=",
                ">=",
            }
            return _compare(answer, op, value, numeric)
        case InList(name, values):
            answer = answers.get(name)
            if _missing(answer):
                return False
            return any(_compare(answer, "=", v, isinstance(answer, int | float)) for v in values)
        case Contains(name, value):
            answer = answers.get(name)
            return isinstance(answer, list | tuple | set) and value in answer
    raise AssertionError(expr)  # pragma: no cover


# --- vectorised evaluation on many responses -------------------------------------------------


def evaluate_frame(expr: Expr, frame: pd.DataFrame) -> pd.Series:
    """Evaluate a condition for every row of a response frame (boolean Series, missing = False).

    Single-choice answers are columns of codes, numbers are numeric columns, and multiple choice
    is one 0/1 column per code named ``question/code`` (the KoboToolbox/ODK convention).
    """
    false: pd.Series = pd.Series(np.zeros(len(frame), dtype=bool), index=frame.index)

    def column(name: str) -> pd.Series | None:
        return frame[name] if name in frame.columns else None

    def visit(node: Expr) -> pd.Series:  # a boolean Series
        match node:
            case Or(items):
                result = false.copy()
                for item in items:
                    result |= visit(item)
                return result
            case And(items):
                result = ~false
                for item in items:
                    result &= visit(item)
                return result
            case Not(item):
                return ~visit(item)
            case Compare(name, op, value):
                values = column(name)
                if values is None:
                    return false.copy()
                present: Any = values.notna() & (values.astype("string") != "")
                if isinstance(value, float) and op in {"=", "!="}:
                    # As evaluate(): a text answer (a choice code such as 'na') compares as a
                    # code, any other answer as a number.
                    text = values.map(lambda v: isinstance(v, str)).astype(bool)
                    numbers = pd.to_numeric(values.where(~text), errors="coerce")
                    present &= text | numbers.notna()
                    same = ((values.astype("string") == _format_number(value)) & text).fillna(False) | (
                        numbers == float(value)
                    )
                    return (present & (same if op == "=" else ~same)).astype(bool)
                if isinstance(value, float) or op in {"<", ">", "<=", ">="}:
                    numbers = pd.to_numeric(values, errors="coerce")
                    target: Any = float(value)
                    present &= numbers.notna()
                    values = numbers
                else:
                    values = values.astype("string")
                    target = value
                outcome = {
                    "=": lambda: values == target,
                    "!=": lambda: values != target,
                    "<": lambda: values < target,
                    ">": lambda: values > target,
                    "<=": lambda: values <= target,
                    ">=": lambda: values >= target,
                }[op]()
                return (present & outcome.fillna(False)).astype(bool)
            case InList(name, values_):
                values = column(name)
                if values is None:
                    return false.copy()
                if all(isinstance(v, float) for v in values_):
                    numbers = pd.to_numeric(values, errors="coerce")
                    return numbers.isin([float(v) for v in values_]).astype(bool)
                codes = [_format_number(v) if isinstance(v, float) else v for v in values_]
                return values.astype("string").isin(codes).fillna(False).astype(bool)
            case Contains(name, value):
                values = column(f"{name}/{value}")
                if values is None:
                    return false.copy()
                return (pd.to_numeric(values, errors="coerce") == 1).fillna(False).astype(bool)
        raise AssertionError(node)  # pragma: no cover

    return visit(expr)


def evaluate_many(exprs: Sequence[Expr], answers: Mapping[str, Any]) -> bool:
    """All of several conditions hold (a question inside a conditional page, say)."""
    return all(evaluate(expr, answers) for expr in exprs)
