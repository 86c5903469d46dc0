"""Import an XLSForm workbook (KoboToolbox / ODK) into the questionnaire file format.

``convert_xlsform(path)`` reads the sheets ``survey``, ``choices`` and ``settings`` and returns
the data of a questionnaire file (see ``questionnaires/README.md``) together with a list of
problems: everything that could not be converted faithfully, each with its sheet, row and name.
A workbook that is not an XLSForm at all raises ``XLSFormError`` listing every reason.

What maps to what:

* ``select_one`` → ``single_choice`` (``yes_no`` when the list is exactly ``yes``/``no``;
  ``rating`` with a ``likert`` or ``rating`` appearance and numeric codes, other codes of the
  list becoming "don't know"-style ``missing`` choices); ``select_multiple`` →
  ``multiple_choice``; ``integer``/``decimal``/``range`` → ``number`` (bounds from a simple
  constraint such as ``. >= 0 and . <= 15``); ``text`` → ``text`` (``long_text`` with the
  ``multiline`` appearance; ``string-length(.) <= N`` becomes ``max_length``); ``note`` →
  ``info``.
* ``begin_group``/``end_group`` → pages (nested groups are flattened; a group's ``relevant``
  becomes the page's ``show_if``). Questions outside any group share a page per run. A page is
  split where a question's condition uses an answer from the same page, because our conditions
  only look at earlier pages.
* ``relevant`` in XLSForm syntax (``${q} = 'a'``, ``selected(${q}, 'a')``, ``and``, ``or``,
  ``not(...)``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``count-selected(${q}) > 0``, comparisons
  with ``''``) → our condition language; anything else is reported and dropped.
* Language columns ``label::Nederlands (nl)``, ``label::English (en)`` → ``nl``, ``en``; the
  plain ``label`` column is the form's default language (``settings.default_language``, else
  Dutch). A text missing in a language is copied from another language and reported.

The workbook is opened read-only (openpyxl parses its XML with defusedxml when installed).
"""

from __future__ import annotations

import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import yaml

from surveyapp.questionnaire import expressions
from surveyapp.questionnaire.loader import (
    FORMAT,
    ID_PATTERN,
    REQUIRED_LANGUAGE,
    QuestionnaireError,
    build_questionnaire,
)

MAX_ROWS = 5000  # a questionnaire, not a data set: refuse absurdly large sheets
MAX_CODE_LENGTH = 40
MAX_LISTED_ROWS = 10

_LANGUAGE_NAMES = {
    "nederlands": "nl",
    "dutch": "nl",
    "vlaams": "nl",
    "flemish": "nl",
    "english": "en",
    "engels": "en",
    "français": "fr",
    "francais": "fr",
    "french": "fr",
    "frans": "fr",
    "deutsch": "de",
    "german": "de",
    "duits": "de",
}

_UNSUPPORTED_TYPES = {
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "audio",
    "video",
    "file",
    "barcode",
    "date",
    "time",
    "datetime",
    "calculate",
    "hidden",
    "acknowledge",
    "rank",
    "select_one_from_file",
    "select_multiple_from_file",
    "background-audio",
    "background-geopoint",
    "xml-external",
    "csv-external",
}
_METADATA_TYPES = {
    "start",
    "end",
    "today",
    "deviceid",
    "imei",
    "subscriberid",
    "simserial",
    "phonenumber",
    "username",
    "email",
    "audit",
    "start-geopoint",
}
_TYPE_ALIASES = (
    ("select one from file", "select_one_from_file"),
    ("select multiple from file", "select_multiple_from_file"),
    ("select one", "select_one"),
    ("select multiple", "select_multiple"),
    ("select_one_external", "select_one"),
    ("begin group", "begin_group"),
    ("end group", "end_group"),
    ("begin repeat", "begin_repeat"),
    ("end repeat", "end_repeat"),
    ("add note prompt", "note"),
    ("add text prompt", "text"),
    ("add integer prompt", "integer"),
    ("add decimal prompt", "decimal"),
)

# Survey columns this importer reads, and columns it may drop silently.
_SURVEY_COLUMNS = {"type", "name", "label", "hint", "required", "relevant", "constraint"}
_SURVEY_COLUMNS |= {"appearance", "parameters"}
_QUIET_COLUMNS = {
    "constraint_message",
    "required_message",
    "guidance_hint",
    "calculation",
    "repeat_count",
    "note",
    "namespaces",
}
_DROPPED_COLUMNS = {
    "default": "its default value",
    "choice_filter": "its choice filter (all choices are shown)",
    "read_only": "read_only",
    "trigger": "its trigger",
    "media": "its media",
    "image": "its image",
    "big-image": "its image",
    "audio": "its audio",
    "video": "its video",
}
_TRUE = {"yes", "true", "true()", "1", "y"}
_FALSE = {"", "no", "false", "false()", "0", "n"}


class XLSFormError(ValueError):
    """A file that cannot be read as an XLSForm; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: not a usable XLSForm ({len(self.problems)} problem(s))\n{lines}")


# --- reading the workbook ----------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    columns: list[str]  # normalised headers: "label", "label::English (en)", ...
    rows: list[tuple[int, dict[str, str]]]  # (row number in the sheet, {column: text})


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _normalise_header(value: Any) -> str:
    text = _cell_text(value)
    if not text:
        return ""
    parts = [part.strip() for part in text.split("::")]
    parts[0] = parts[0].lower()
    return "::".join(parts)


def _base(column: str) -> str:
    return column.split("::", 1)[0]


def _read_sheet(worksheet: Any, name: str, source: str, problems: list[str]) -> _Sheet:
    rows: list[tuple[int, dict[str, str]]] = []
    columns: list[str] = []
    positions: list[tuple[int, str]] = []
    for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        if number == 1:
            seen: set[str] = set()
            for index, value in enumerate(values):
                header = _normalise_header(value)
                if not header:
                    continue
                if header in seen:
                    problems.append(f"{name} sheet: column {header!r} appears twice; the first one is used")
                    continue
                seen.add(header)
                columns.append(header)
                positions.append((index, header))
            continue
        if number > MAX_ROWS + 1:
            raise XLSFormError(source, [f"the {name} sheet has more than {MAX_ROWS} rows"])
        record = {
            header: _cell_text(values[index]) if index < len(values) else "" for index, header in positions
        }
        if any(record.values()):
            rows.append((number, record))
    return _Sheet(name, columns, rows)


def _read_workbook(path: Path) -> tuple[dict[str, _Sheet], list[str]]:
    source = str(path)
    if not path.is_file():
        raise XLSFormError(source, ["the file does not exist or cannot be read"])
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise XLSFormError(source, [f"the file cannot be read: {exc}"]) from exc
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise XLSFormError(source, ["this is an old .xls workbook: save it as .xlsx and try again"])
    if not zipfile.is_zipfile(path):
        raise XLSFormError(source, ["this is not an Excel workbook (.xlsx)"])
    problems: list[str] = []
    sheets: dict[str, _Sheet] = {}
    with path.open("rb") as handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken package
            raise XLSFormError(
                source, [f"this is not a readable .xlsx workbook ({type(exc).__name__}: {exc})"]
            ) from exc
        try:
            for sheet_name in workbook.sheetnames:
                key = sheet_name.strip().lower()
                if key in {"survey", "choices", "settings"} and key not in sheets:
                    sheets[key] = _read_sheet(workbook[sheet_name], key, source, problems)
        finally:
            workbook.close()
    if "survey" not in sheets:
        names = ", ".join(repr(n) for n in workbook.sheetnames) or "none"
        raise XLSFormError(source, [f"there is no 'survey' sheet (sheets: {names})", *problems])
    sheets.setdefault("choices", _Sheet("choices", [], []))
    sheets.setdefault("settings", _Sheet("settings", [], []))
    return sheets, problems


# --- small helpers -------------------------------------------------------------------------------


def _language_code(spec: str) -> str | None:
    """'Nederlands (nl)' → 'nl', 'English' → 'en', 'nl-BE' → 'nl'; None when unknown."""
    spec = spec.strip()
    match = re.search(r"\(\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*\)\s*$", spec)
    if match:
        return match.group(1).lower()
    if re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*", spec):
        return re.split(r"[-_]", spec)[0].lower()
    return _LANGUAGE_NAMES.get(spec.lower())


def _ident(name: str, prefix: str = "q") -> str:
    """A valid id for an XLSForm name: 'Vraag-Één' → 'vraag_een'."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9_]+", "_", ascii_text.strip().lower())
    text = re.sub(r"_+", "_", text).strip("_")
    if not text or not text[0].isalpha():
        text = f"{prefix}_{text}".rstrip("_")
    return text[:63]


def _unique(base: str, taken: set[str]) -> str:
    candidate, counter = base, 2
    while candidate in taken:
        suffix = f"_{counter}"
        candidate = base[: 63 - len(suffix)] + suffix
        counter += 1
    taken.add(candidate)
    return candidate


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _rows_text(wheres: list[str]) -> str:
    shown = ", ".join(wheres[:MAX_LISTED_ROWS])
    return shown + (f" and {len(wheres) - MAX_LISTED_ROWS} more" if len(wheres) > MAX_LISTED_ROWS else "")


# --- XLSForm expressions ---------------------------------------------------------------------------


class _UnsupportedError(Exception):
    """An expression (part) that our condition language cannot say."""


@dataclass(frozen=True)
class _Ref:
    name: str


@dataclass(frozen=True)
class _Self:
    pass


@dataclass(frozen=True)
class _Lit:
    value: str | float


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Cmp:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Logic:
    op: str
    items: tuple[_Node, ...]


_Node = _Ref | _Self | _Lit | _Call | _Cmp | _Logic

_XP_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ref>\$\{\s*[^}\s]*\s*\})
      | (?P<number>-?\d+(?:\.\d+)?|-?\.\d+)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[(),])
      | (?P<dot>\.(?![\d.]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_.:-]*)
      | (?P<other>\S+)
    )""",
    re.VERBOSE,
)
_FLIP = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class _XPathParser:
    def __init__(self, source: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(source) and source[pos:].strip():
            match = _XP_TOKEN.match(source, pos)
            if match is None:  # pragma: no cover - the 'other' group matches anything
                raise _UnsupportedError(f"cannot read {source[pos:]!r}")
            kind = match.lastgroup or "other"
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _UnsupportedError("the expression ends too early")
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token == (kind, text):
            self.index += 1
            return True
        return False

    def parse(self) -> _Node:
        if not self.tokens:
            raise _UnsupportedError("the expression is empty")
        node = self.logic("or")
        token = self.peek()
        if token is not None:
            raise _UnsupportedError(f"{token[1]!r} is not supported here")
        return node

    def logic(self, op: str) -> _Node:
        inner: Callable[[], _Node] = (lambda: self.logic("and")) if op == "or" else self.comparison
        items = [inner()]
        while self.accept("name", op):
            items.append(inner())
        return items[0] if len(items) == 1 else _Logic(op, tuple(items))

    def comparison(self) -> _Node:
        left = self.primary()
        token = self.peek()
        if token is not None and token[0] == "op":
            self.index += 1
            return _Cmp(token[1], left, self.primary())
        return left

    def primary(self) -> _Node:
        kind, text = self.take()
        if kind == "punct" and text == "(":
            node = self.logic("or")
            if not self.accept("punct", ")"):
                raise _UnsupportedError("a ')' is missing")
            return node
        if kind == "ref":
            return _Ref(text[2:-1].strip())
        if kind == "dot":
            return _Self()
        if kind == "string":
            return _Lit(text[1:-1])
        if kind == "number":
            return _Lit(float(text))
        if kind == "name" and self.accept("punct", "("):
            args: list[_Node] = []
            if not self.accept("punct", ")"):
                args.append(self.logic("or"))
                while self.accept("punct", ","):
                    args.append(self.logic("or"))
                if not self.accept("punct", ")"):
                    raise _UnsupportedError(f"a ')' is missing after {text}(...)")
            return _Call(text.lower(), tuple(args))
        if (kind == "name" and text in {"div", "mod"}) or (kind == "other" and text[:1] in "+-*|"):
            raise _UnsupportedError("arithmetic is not supported")
        raise _UnsupportedError(f"{text!r} is not supported")


def _parse_xpath(source: str) -> _Node:
    return _XPathParser(source).parse()


def _references(node: _Node) -> list[str]:
    match node:
        case _Ref(name):
            return [name]
        case _Call(args=args):
            return [n for arg in args for n in _references(arg)]
        case _Cmp(left=left, right=right):
            return _references(left) + _references(right)
        case _Logic(items=items):
            return [n for item in items for n in _references(item)]
    return []


@dataclass
class _Var:
    """What a translated condition needs to know of an earlier question."""

    qid: str
    kind: str  # choice, multi, number, text
    codes: tuple[str, ...] = ()
    numeric_codes: bool = False

    def info(self) -> expressions.VarInfo:
        kind = self.kind if self.kind in {"choice", "multi", "number", "text"} else "text"
        return expressions.VarInfo(kind, frozenset(self.codes), self.numeric_codes)  # type: ignore[arg-type]


def _quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise _UnsupportedError(f"the value {value!r} has both kinds of quotes")


def _format_number(value: float) -> str:
    return str(_number(value))


def _literal_code(value: str | float) -> str:
    return _format_number(value) if isinstance(value, float) else value


def _compare_numbers(a: float, op: str, b: float) -> bool:
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        ">": a > b,
        "<=": a <= b,
        ">=": a >= b,
    }[op]


def _translate(node: _Node, lookup: Callable[[str], _Var]) -> str:
    """An XLSForm ``relevant`` as our condition text (raises _UnsupportedError).

    XLSForm compares a blank answer as '' (so ``${q} != 'a'`` holds for a blank ``q``), while in
    our language a comparison with a blank answer is false: ``!=`` becomes ``not (q = 'a')``.
    """

    def wrap(child: _Node) -> str:
        text = _translate(child, lookup)
        return f"({text})" if isinstance(child, _Logic) else text

    def any_code(var: _Var) -> str:
        if not var.codes:
            raise _UnsupportedError(f"{var.qid!r} has no choices")
        if var.kind == "multi":
            return "(" + " or ".join(f"{_quote(c)} in {var.qid}" for c in var.codes) + ")"
        return f"{var.qid} in [{', '.join(_quote(c) for c in var.codes)}]"

    match node:
        case _Logic(op, items):
            return f" {op} ".join(wrap(item) for item in items)
        case _Call("not", (arg,)):
            return f"not ({_translate(arg, lookup)})"
        case _Call("selected", (_Ref(name), _Lit(value))):
            var = lookup(name)
            code = _literal_code(value)
            if var.kind not in {"multi", "choice"}:
                raise _UnsupportedError(f"selected() needs a choice question, not {var.qid!r}")
            if code not in var.codes:
                raise _UnsupportedError(f"{code!r} is not a choice of {var.qid!r}")
            return f"{_quote(code)} in {var.qid}" if var.kind == "multi" else f"{var.qid} = {_quote(code)}"
        case _Cmp(op, _Lit() as left, _Ref() | _Call() as right):
            return _translate(_Cmp(_FLIP[op], right, left), lookup)
        case _Cmp(op, _Call("count-selected", (_Ref(name),)), _Lit(value)):
            var = lookup(name)
            if var.kind != "multi" or not isinstance(value, float):
                raise _UnsupportedError("count-selected() needs a multiple-choice question and a number")
            if (op, value) in {(">", 0.0), (">=", 1.0), ("!=", 0.0)}:
                return any_code(var)
            if (op, value) in {("=", 0.0), ("<", 1.0), ("<=", 0.0)}:
                return f"not {any_code(var)}"
            raise _UnsupportedError("only count-selected(...) > 0 or = 0 can be converted")
        case _Cmp(op, _Ref(name), _Lit(value)):
            var = lookup(name)
            return _translate_comparison(var, op, value, any_code)
        case _Call(name) | _Cmp(left=_Call(name)) | _Cmp(right=_Call(name)):
            raise _UnsupportedError(f"the function {name}() is not supported")
        case _Cmp(left=_Ref(), right=_Ref()):
            raise _UnsupportedError("comparing two answers with each other is not supported")
        case _Ref(name):
            raise _UnsupportedError(f"${{{name}}} on its own is not a condition; compare it with a value")
    raise _UnsupportedError("this kind of expression is not supported")


def _translate_comparison(var: _Var, op: str, value: str | float, any_code: Callable[[_Var], str]) -> str:
    blank = value == ""
    if var.kind == "multi":
        if blank and op in {"=", "!="}:
            return any_code(var) if op == "!=" else f"not {any_code(var)}"
        raise _UnsupportedError(f"{var.qid!r} is multiple choice: use selected(${{...}}, 'code')")
    if var.kind == "number":
        if blank and op in {"=", "!="}:
            answered = f"({var.qid} < 0 or {var.qid} >= 0)"
            return answered if op == "!=" else f"not {answered}"
        number = value if isinstance(value, float) else float(value) if _is_number(value) else None
        if number is None:
            raise _UnsupportedError(f"{var.qid!r} is a number and cannot be compared with {value!r}")
        text = f"{var.qid} = {_format_number(number)}"
        if op == "!=":
            return f"not ({text})"
        return f"{var.qid} {op} {_format_number(number)}"
    if var.kind == "text":
        if op not in {"=", "!="} or not isinstance(value, str):
            raise _UnsupportedError(f"{var.qid!r} is free text: only = or != with a text")
        if blank:
            return f"{var.qid} != ''" if op == "!=" else f"not ({var.qid} != '')"
        return f"{var.qid} = {_quote(value)}" if op == "=" else f"not ({var.qid} = {_quote(value)})"
    # a single choice (or yes/no, or a rating)
    if blank and op in {"=", "!="}:
        return any_code(var) if op == "!=" else f"not ({any_code(var)})"
    if op in {"=", "!="}:
        code = _literal_code(value)
        if code not in var.codes:
            raise _UnsupportedError(f"{code!r} is not a choice of {var.qid!r}")
        text = f"{var.qid} = {_quote(code)}"
        return text if op == "=" else f"not ({text})"
    if isinstance(value, str) and not _is_number(value):
        raise _UnsupportedError(f"{op!r} needs a number, not {value!r}")
    bound = float(value)
    matching = [c for c in var.codes if _is_number(c) and _compare_numbers(float(c), op, bound)]
    if not matching:
        raise _UnsupportedError(f"no choice of {var.qid!r} is {op} {_format_number(bound)}")
    return f"{var.qid} in [{', '.join(_quote(c) for c in matching)}]"


def _number_bounds(node: _Node, integer: bool) -> tuple[float | None, float | None, list[str]]:
    """Bounds from ``. >= a and . <= b`` (and the like); raises _UnsupportedError otherwise."""
    parts = node.items if isinstance(node, _Logic) and node.op == "and" else (node,)
    minimum: float | None = None
    maximum: float | None = None
    notes: list[str] = []
    for part in parts:
        if not isinstance(part, _Cmp):
            raise _UnsupportedError("only comparisons of '.' with numbers can be converted")
        op, left, right = part.op, part.left, part.right
        if isinstance(left, _Lit) and isinstance(right, _Self):
            op, left, right = _FLIP[op], right, left
        if not (isinstance(left, _Self) and isinstance(right, _Lit)):
            raise _UnsupportedError("only comparisons of '.' with numbers can be converted")
        raw = right.value
        if isinstance(raw, str) and not _is_number(raw):
            raise _UnsupportedError(f"{raw!r} is not a number")
        value = float(raw)
        if op in {">", "<"}:
            if integer:
                value = math.floor(value) + 1 if op == ">" else math.ceil(value) - 1
            else:
                notes.append(f"the strict bound '{op} {_format_number(value)}' became '{op}='")
        if op in {">", ">="}:
            minimum = value if minimum is None else max(minimum, value)
        elif op in {"<", "<="}:
            maximum = value if maximum is None else min(maximum, value)
        else:
            raise _UnsupportedError(f"'. {op} ...' is not a bound")
    return minimum, maximum, notes


def _max_length(node: _Node) -> int:
    """``string-length(.) <= N`` (or ``< N``) → N; raises _UnsupportedError otherwise."""
    if isinstance(node, _Cmp):
        op, left, right = node.op, node.left, node.right
        if isinstance(left, _Lit):
            op, left, right = _FLIP[op], right, left
        if (
            left == _Call("string-length", (_Self(),))
            and isinstance(right, _Lit)
            and isinstance(right.value, float)
            and op in {"<", "<="}
        ):
            length = int(right.value) - (1 if op == "<" else 0)
            if length > 0:
                return length
    raise _UnsupportedError("only 'string-length(.) <= N' can be converted")


# --- the conversion ------------------------------------------------------------------------------


@dataclass
class _Context:
    """A group being read (or the top level when name is None)."""

    name: str | None
    base_id: str
    title: dict[str, str]
    conditions: list[str]
    row: int
    intro: dict[str, str] | None = None  # the group's hint, shown on its first page
    pages_made: int = 0


@dataclass
class _PageDraft:
    context: _Context
    id: str
    title: dict[str, str]
    show_if: str | None
    intro: dict[str, str] | None = None
    questions: list[dict[str, Any]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


@dataclass
class _ChoiceRow:
    row: int
    code: str
    label: dict[str, str]


class _Converter:
    def __init__(self, sheets: dict[str, _Sheet], source: str, problems: list[str]) -> None:
        self.source = source
        self.survey = sheets["survey"]
        self.choices_sheet = sheets["choices"]
        self.settings_sheet = sheets["settings"]
        self.problems: list[str] = list(problems)
        self.fatal: list[str] = []
        self.languages: list[str] = [REQUIRED_LANGUAGE]
        self.default_language = REQUIRED_LANGUAGE
        self.language_of_column: dict[str, str] = {}
        self.missing_text: dict[tuple[str, str], list[str]] = {}
        self.choice_lists: dict[str, list[_ChoiceRow]] = {}
        self.used_lists: dict[str, str] = {}  # XLSForm list name → our list name
        self.list_ids: set[str] = set()
        self.missing_codes: dict[str, set[str]] = {}  # our list name → codes marked missing
        self.vars: dict[str, _Var] = {}  # XLSForm name → converted answerable question
        self.notes: set[str] = set()  # XLSForm names of notes: converted, but without an answer
        self.dropped: dict[str, str] = {}  # XLSForm name → why it was not converted
        self.all_names: dict[str, int] = {}
        self.question_ids: set[str] = set()
        self.page_ids: set[str] = set()
        self.pages: list[_PageDraft] = []
        self.current: _PageDraft | None = None
        self.top_level_runs = 0

    # -- problems ----------------------------------------------------------------------------

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    @staticmethod
    def where(row: int, name: str = "", sheet: str = "survey") -> str:
        return f"{sheet} row {row}" + (f" ({name!r})" if name else "")

    # -- structure checks ---------------------------------------------------------------------

    def check_columns(self) -> None:
        columns = set(self.survey.columns)
        bases = {_base(c) for c in columns}
        for needed in ("type", "name"):
            if needed not in columns:
                self.fatal.append(f"the survey sheet has no {needed!r} column")
        if "label" not in bases:
            self.fatal.append("the survey sheet has no 'label' column (or 'label::Language (xx)')")
        if not self.survey.rows:
            self.fatal.append("the survey sheet has no questions")
        if self.choices_sheet.rows:
            choice_columns = set(self.choices_sheet.columns)
            if "list_name" not in choice_columns and "list name" not in choice_columns:
                self.fatal.append("the choices sheet has no 'list_name' column")
            if "name" not in choice_columns:
                self.fatal.append("the choices sheet has no 'name' column")

    def report_unknown_columns(self) -> None:
        # Extra columns on the choices sheet are choice_filter keys: dropped with the filter.
        known = _SURVEY_COLUMNS | _QUIET_COLUMNS | set(_DROPPED_COLUMNS)
        for column in self.survey.columns:
            base = _base(column)
            if base in known or base.startswith(("$", "kobo--", "_", "instance::")):
                continue
            if any(row.get(column) for _, row in self.survey.rows):
                self.problem("survey sheet", f"column {column!r} is not supported and was ignored")

    # -- languages and texts ------------------------------------------------------------------

    def read_settings(self) -> dict[str, str]:
        settings = self.settings_sheet.rows[0][1] if self.settings_sheet.rows else {}
        spec = settings.get("default_language", "")
        if spec:
            code = _language_code(spec)
            if code is None:
                self.problem("settings", f"default_language {spec!r} is not understood; Dutch (nl) is used")
            else:
                self.default_language = code
        return settings

    def detect_languages(self) -> None:
        found: list[str] = [self.default_language]
        for sheet in (self.survey, self.choices_sheet, self.settings_sheet):
            for column in sheet.columns:
                base, _, spec = column.partition("::")
                if base not in {"label", "hint", "form_title"}:
                    continue
                if not spec:
                    self.language_of_column[column] = self.default_language
                    continue
                code = _language_code(spec)
                if code is None:
                    self.problem(
                        f"{sheet.name} sheet",
                        f"the language of column {column!r} is not understood "
                        "(write it as 'label::Nederlands (nl)'); the column was ignored",
                    )
                    continue
                self.language_of_column[column] = code
                found.append(code)
        self.languages = list(dict.fromkeys([REQUIRED_LANGUAGE, *found]))

    def text(self, row: dict[str, str], base: str, where: str) -> dict[str, str]:
        """A text per language from ``base`` and ``base::Language (xx)`` columns (may be {})."""
        result: dict[str, str] = {}
        for column, value in row.items():
            if _base(column) != base or not value or column not in self.language_of_column:
                continue
            lang = self.language_of_column[column]
            if "::" in column or lang not in result:  # an explicit language beats the plain column
                result[lang] = value
        return self.complete(result, where)

    def complete(self, text: dict[str, str], where: str) -> dict[str, str]:
        if not text:
            return {}
        source = self.default_language if self.default_language in text else next(iter(text))
        for lang in self.languages:
            if lang not in text:
                text[lang] = text[source]
                self.missing_text.setdefault((lang, source), []).append(where)
        return {lang: text[lang] for lang in self.languages}

    def report_missing_texts(self) -> None:
        for (lang, source), wheres in self.missing_text.items():
            self.problems.append(
                f"no {lang!r} text for {len(wheres)} label(s) or hint(s) ({_rows_text(wheres)}): "
                f"the {source!r} text was copied; translate it"
            )

    def name_text(self, name: str) -> dict[str, str]:
        words = re.sub(r"[_\s]+", " ", name).strip() or name
        return {lang: words[:1].upper() + words[1:] for lang in self.languages}

    # -- choices ------------------------------------------------------------------------------------

    def read_choices(self) -> None:
        for number, row in self.choices_sheet.rows:
            list_name = row.get("list_name") or row.get("list name", "")
            code = row.get("name", "")
            where = self.where(number, list_name, "choices")
            if not list_name:
                self.problem(where, "a choice without list_name was ignored")
                continue
            if not code:
                self.problem(where, "a choice without a name (code) was ignored")
                continue
            entries = self.choice_lists.setdefault(list_name, [])
            if "/" in code:
                self.problem(
                    where, f"code {code!r} may not contain '/'; it became {code.replace('/', '_')!r}"
                )
                code = code.replace("/", "_")
            if len(code) > MAX_CODE_LENGTH:
                self.problem(where, f"code {code!r} is longer than {MAX_CODE_LENGTH} characters; it was cut")
                code = code[:MAX_CODE_LENGTH]
            if any(entry.code == code for entry in entries):
                self.problem(
                    where, f"code {code!r} appears twice in list {list_name!r}; the second was ignored"
                )
                continue
            label = self.text(row, "label", where)
            if not label:
                self.problem(where, f"choice {code!r} has no label; its code is used as label")
                label = dict.fromkeys(self.languages, code)
            entries.append(_ChoiceRow(number, code, label))

    def use_list(self, list_name: str, rating: bool) -> str:
        our = self.used_lists.get(list_name)
        if our is None:
            our = _unique(_ident(list_name, "list"), self.list_ids)
            self.used_lists[list_name] = our
        if rating:
            missing = {c.code for c in self.choice_lists[list_name] if not _is_number(c.code)}
            self.missing_codes.setdefault(our, set()).update(missing)
        return our

    def choice_lists_data(self) -> dict[str, list[dict[str, Any]]]:
        data: dict[str, list[dict[str, Any]]] = {}
        for list_name, our in self.used_lists.items():
            missing = self.missing_codes.get(our, set())
            data[our] = [
                {"code": c.code, "label": c.label, **({"missing": True} if c.code in missing else {})}
                for c in self.choice_lists[list_name]
            ]
        return data

    # -- pages ------------------------------------------------------------------------------------

    def close_page(self) -> None:
        if self.current is not None and self.current.questions:
            self.pages.append(self.current)
        self.current = None

    def open_page(self, context: _Context) -> _PageDraft:
        self.close_page()
        context.pages_made += 1
        if context.name is None:
            self.top_level_runs += 1
            base = f"page_{self.top_level_runs}"
        else:
            base = context.base_id if context.pages_made == 1 else f"{context.base_id}_{context.pages_made}"
        page_id = _unique(base, self.page_ids)
        conditions = context.conditions
        show_if = None
        if conditions:
            show_if = conditions[0] if len(conditions) == 1 else " and ".join(f"({c})" for c in conditions)
        intro = context.intro if context.pages_made == 1 else None
        self.current = _PageDraft(context, page_id, context.title, show_if, intro)
        return self.current

    def add_question(
        self, context: _Context, question: dict[str, Any], name: str, refs: Iterable[str], row: int
    ) -> None:
        page = self.current
        if page is None or page.context is not context:
            page = self.open_page(context)
        same_page = sorted(set(refs) & page.names)
        if same_page:
            if context.name is not None:
                self.problem(
                    self.where(row, name),
                    f"its condition uses {', '.join(same_page)} from the same group; the group "
                    "continues on a new page (conditions only look at earlier pages)",
                )
            page = self.open_page(context)
        page.questions.append(question)
        page.names.add(name)

    # -- conditions --------------------------------------------------------------------------------

    def lookup(self, name: str) -> _Var:
        var = self.vars.get(name)
        if var is not None:
            return var
        if name in self.notes:
            raise _UnsupportedError(f"${{{name}}} is a note: it has no answer")
        if name in self.dropped:
            raise _UnsupportedError(f"${{{name}}} was not converted ({self.dropped[name]})")
        if name in self.all_names:
            raise _UnsupportedError(f"${{{name}}} comes later in the form")
        raise _UnsupportedError(f"${{{name}}} is not a question of this form")

    def condition(self, source: str, where: str, what: str = "relevant") -> tuple[str | None, list[str]]:
        """Our condition text for an XLSForm expression, or None (with a problem)."""
        if not source:
            return None, []
        try:
            node = _parse_xpath(source)
            refs = _references(node)
            variables = {name: self.lookup(name) for name in refs}
            text = _translate(node, lambda name: variables[name] if name in variables else self.lookup(name))
            parsed = expressions.parse(text)
            by_id = {var.qid: var for var in variables.values()}

            def info(ref: str) -> expressions.VarInfo | None:
                var = by_id.get(ref.split("/", 1)[0])
                return var.info() if var is not None else None

            messages = expressions.check(parsed, info)
            if messages:
                raise _UnsupportedError("; ".join(messages))
        except (_UnsupportedError, expressions.ExpressionError) as exc:
            self.problem(where, f"{what} {source!r} cannot be converted ({exc}); it was dropped")
            return None, []
        return text, refs

    # -- questions --------------------------------------------------------------------------------

    def convert(self) -> dict[str, Any]:
        self.check_columns()
        if self.fatal:
            raise XLSFormError(self.source, self.fatal + self.problems)
        settings = self.read_settings()
        self.detect_languages()
        self.report_unknown_columns()
        self.read_choices()
        for number, row in self.survey.rows:
            name = row.get("name", "")
            if name and name not in self.all_names:
                self.all_names[name] = number

        top = _Context(None, "page", {}, [], 0)
        form_id, title = self.identity(settings)
        top.title = title
        stack: list[_Context] = [top]
        skipping: tuple[int, str, int, int] | None = None  # (first row, name, depth, dropped)
        for number, row in self.survey.rows:
            kind, args = _parse_type(row.get("type", ""))
            name = row.get("name", "")
            where = self.where(number, name)
            if skipping is not None:
                first, repeat_name, depth, count = skipping
                if kind == "begin_repeat":
                    depth += 1
                elif kind == "end_repeat":
                    depth -= 1
                elif name and kind not in {"begin_group", "end_group"}:
                    count += 1
                    self.dropped[name] = f"it is inside repeat group {repeat_name!r}"
                if depth == 0:
                    self.problem(
                        self.where(first, repeat_name),
                        f"repeat groups are not supported: the repeat (rows {first}-{number}) and "
                        f"its {count} question(s) were dropped",
                    )
                    skipping = None
                else:
                    skipping = (first, repeat_name, depth, count)
                continue
            if not kind:
                if name or any(v for k, v in row.items() if _base(k) == "label"):
                    self.problem(where, "the row has no type and was ignored")
                continue
            if kind == "begin_repeat":
                self.close_page()
                skipping = (number, name, 1, 0)
                continue
            if kind == "end_repeat":
                self.problem(where, "end_repeat without begin_repeat was ignored")
                continue
            if kind == "begin_group":
                self.close_page()
                stack.append(self.group_context(row, name, number, stack[-1]))
                continue
            if kind == "end_group":
                self.close_page()
                if len(stack) > 1:
                    stack.pop()
                else:
                    self.problem(where, "end_group without begin_group was ignored")
                continue
            self.question(kind, args, row, name, number, stack[-1])
        if skipping is not None:
            first, repeat_name, _, count = skipping
            self.problem(
                self.where(first, repeat_name),
                f"repeat groups are not supported: the repeat is never closed; it and its {count} "
                "question(s) were dropped",
            )
        for context in stack[1:]:
            self.problem(self.where(context.row, context.name or ""), "the group is never closed (end_group)")
        self.close_page()
        self.report_missing_texts()

        data: dict[str, Any] = {"format": FORMAT, "id": form_id}
        if settings.get("version"):
            data["version"] = settings["version"]
        data["languages"] = list(self.languages)
        data["title"] = title
        choice_lists = self.choice_lists_data()
        if choice_lists:
            data["choice_lists"] = choice_lists
        data["pages"] = [
            {
                "id": page.id,
                "title": page.title,
                **({"intro": page.intro} if page.intro else {}),
                **({"show_if": page.show_if} if page.show_if else {}),
                "questions": page.questions,
            }
            for page in self.pages
        ]
        if not self.pages:
            raise XLSFormError(self.source, [*self.problems, "no question could be converted"])
        return data

    def identity(self, settings: dict[str, str]) -> tuple[str, dict[str, str]]:
        raw_id = settings.get("form_id", "")
        # Renaming the form id ('Welzijn-2025' → 'welzijn_2025') is harmless: not a problem.
        form_id = _ident(raw_id or Path(self.source).stem, "form")
        title = self.text(settings, "form_title", "settings form_title") if settings else {}
        if not title:
            title = self.name_text(form_id)
        assert ID_PATTERN.match(form_id)
        return form_id, title

    def group_context(self, row: dict[str, str], name: str, number: int, parent: _Context) -> _Context:
        where = self.where(number, name)
        title = self.text(row, "label", where) or parent.title or self.name_text(name or "group")
        conditions = list(parent.conditions)
        condition, _ = self.condition(row.get("relevant", ""), where)
        if condition:
            conditions.append(condition)
        if not name:
            self.problem(where, "a group without a name; its page got a generated id")
        intro = self.text(row, "hint", where) or None
        return _Context(name or "group", _ident(name or "group", "page"), title, conditions, number, intro)

    def report_dropped_columns(self, row: dict[str, str], where: str) -> None:
        seen: set[str] = set()
        for column, value in row.items():
            base = _base(column)
            if value and base in _DROPPED_COLUMNS and _DROPPED_COLUMNS[base] not in seen:
                seen.add(_DROPPED_COLUMNS[base])
                self.problem(where, f"{_DROPPED_COLUMNS[base]} was dropped")

    def question(
        self, kind: str, args: list[str], row: dict[str, str], name: str, number: int, context: _Context
    ) -> None:
        where = self.where(number, name)
        if kind in _METADATA_TYPES:
            self.dropped[name] = f"metadata type {kind!r}"
            self.problem(where, f"metadata ({kind}) has no place in the questionnaire and was dropped")
            return
        if kind in _UNSUPPORTED_TYPES:
            self.dropped[name] = f"type {kind!r} is not supported"
            self.problem(where, f"type {kind!r} is not supported; the question was dropped")
            return
        if kind not in {"select_one", "select_multiple", "integer", "decimal", "range", "text", "note"}:
            self.dropped[name] = f"unknown type {kind!r}"
            self.problem(where, f"unknown type {kind!r}; the row was dropped")
            return
        if not name:
            self.problem(where, f"a {kind} row without a name was dropped")
            return
        list_name = args[0] if args else ""
        if kind in {"select_one", "select_multiple"} and list_name not in self.choice_lists:
            self.dropped[name] = f"its choice list {list_name!r} is missing"
            self.problem(
                where, f"choice list {list_name!r} is not on the choices sheet; the question was dropped"
            )
            return
        qid = _unique(_ident(name), self.question_ids)
        if qid != name:
            self.problem(where, f"the name became {qid!r} (lower-case letters, digits, _; unique)")
        label = self.text(row, "label", where)
        if not label:
            self.problem(where, "no label; its name is used as label")
            label = self.name_text(name)
        if any("${" in text for text in label.values()):
            self.problem(
                where, "the label refers to other answers (${...}); that is not supported and shows as text"
            )
        question: dict[str, Any] = {"id": qid}
        var: _Var | None = None
        appearance = set(row.get("appearance", "").lower().split())
        constraint = row.get("constraint", "")

        if kind in {"select_one", "select_multiple"}:
            if "or_other" in args[1:]:
                self.problem(where, "'or_other' is not supported; the 'other' choice was left out")
            codes = tuple(c.code for c in self.choice_lists[list_name])
            numeric = [c for c in codes if _is_number(c)]
            if kind == "select_multiple":
                question["type"] = "multiple_choice"
                question["choices"] = self.use_list(list_name, rating=False)
                var = _Var(qid, "multi", codes)
            elif sorted(codes) == ["no", "yes"]:
                question["type"] = "yes_no"
                var = _Var(qid, "choice", ("yes", "no"))
            elif appearance & {"likert", "rating"} and len(numeric) >= 2:
                question["type"] = "rating"
                question["scale"] = self.use_list(list_name, rating=True)
                var = _Var(qid, "choice", codes, numeric_codes=True)
            else:
                question["type"] = "single_choice"
                question["choices"] = self.use_list(list_name, rating=False)
                var = _Var(qid, "choice", codes)
            if constraint:
                self.problem(where, f"constraint {constraint!r} was dropped")
        elif kind in {"integer", "decimal", "range"}:
            question["type"] = "number"
            integer = kind == "integer"
            bounds: tuple[float | None, float | None] = (None, None)
            if kind == "range":
                bounds, integer = self.range_parameters(row.get("parameters", ""), where)
            if constraint:
                try:
                    low, high, notes = _number_bounds(_parse_xpath(constraint), integer)
                except _UnsupportedError as exc:
                    self.problem(
                        where, f"constraint {constraint!r} cannot be converted ({exc}); it was dropped"
                    )
                else:
                    for note in notes:
                        self.problem(where, f"constraint {constraint!r}: {note}")
                    bounds = (
                        low if bounds[0] is None or (low is not None and low > bounds[0]) else bounds[0],
                        high if bounds[1] is None or (high is not None and high < bounds[1]) else bounds[1],
                    )
            if bounds[0] is not None:
                question["min"] = _number(bounds[0])
            if bounds[1] is not None:
                question["max"] = _number(bounds[1])
            if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
                self.problem(where, "the bounds contradict each other and were dropped")
                question.pop("min")
                question.pop("max")
            question["integer"] = integer
            var = _Var(qid, "number")
        elif kind == "text":
            question["type"] = "long_text" if "multiline" in appearance else "text"
            if constraint:
                try:
                    question["max_length"] = _max_length(_parse_xpath(constraint))
                except _UnsupportedError as exc:
                    self.problem(
                        where, f"constraint {constraint!r} cannot be converted ({exc}); it was dropped"
                    )
            var = _Var(qid, "text")
        else:  # note
            question["type"] = "info"
            self.notes.add(name)
            if constraint:
                self.problem(where, f"constraint {constraint!r} on a note was dropped")

        # keep the readable key order of the YAML format: id, type, label, help, ...
        ordered: dict[str, Any] = {"id": qid, "type": question.pop("type"), "label": label}
        help_text = self.text(row, "hint", where)
        if help_text:
            ordered["help"] = help_text
        required = row.get("required", "").strip().lower()
        if kind != "note":
            if required in _TRUE:
                ordered["required"] = True
            elif required not in _FALSE:
                self.problem(where, f"required {row['required']!r} is not yes/no; the question is optional")
        question.pop("id")
        ordered.update(question)
        condition, refs = self.condition(row.get("relevant", ""), where)
        if condition:
            ordered["show_if"] = condition
        self.report_dropped_columns(row, where)
        self.add_question(context, ordered, name, refs, number)
        if var is not None:
            self.vars[name] = var

    def range_parameters(self, parameters: str, where: str) -> tuple[tuple[float | None, float | None], bool]:
        values: dict[str, float] = {}
        for part in re.split(r"[\s;,]+", parameters.strip()):
            key, _, value = part.partition("=")
            if key and _is_number(value):
                values[key.strip().lower()] = float(value)
        step = values.get("step", 1.0)
        integer = float(step).is_integer() and all(
            float(values.get(k, 0)).is_integer() for k in ("start", "end")
        )
        if "step" in values and step not in {1.0}:
            self.problem(
                where, f"range step {_format_number(step)} was dropped (any number in the range is accepted)"
            )
        start, end = values.get("start"), values.get("end")
        if start is not None and end is not None and start > end:
            start, end = end, start
        return (start, end), integer


def _parse_type(raw: str) -> tuple[str, list[str]]:
    text = " ".join(raw.split())
    lower = text.lower()
    for alias, canonical in _TYPE_ALIASES:
        if lower == alias or lower.startswith(alias + " "):
            text = canonical + text[len(alias) :]
            break
    tokens = text.split()
    if not tokens:
        return "", []
    return tokens[0].lower(), tokens[1:]


# --- public API --------------------------------------------------------------------------------


def convert_xlsform(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Convert an XLSForm workbook into questionnaire data and a list of conversion problems.

    Raises ``XLSFormError`` (a ``ValueError``) when the file is not a usable XLSForm: not an
    .xlsx workbook, no ``survey`` sheet, required columns missing, or nothing convertible.
    """
    path = Path(path)
    sheets, problems = _read_workbook(path)
    converter = _Converter(sheets, str(path), problems)
    data = converter.convert()
    try:
        build_questionnaire(data, source=str(path))
    except QuestionnaireError as exc:  # a conversion gap: report it rather than hide it
        converter.problems.extend(f"after conversion: {problem}" for problem in exc.problems)
    return data, converter.problems


class _Dumper(yaml.SafeDumper):
    """A safe dumper that writes shared texts out in full instead of as &anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A condition such as "'a' in q" is written in double quotes (readable, no doubled quotes);
    # paragraphs stay paragraphs.
    style = "|" if "\n" in value else '"' if value.startswith("'") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_text)


def write_yaml(data: dict[str, Any], path: str | Path, header: str | None = None) -> None:
    """Write questionnaire data as readable YAML (Unicode, keys in the format's order)."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
    Path(path).write_text(text, encoding="utf-8")
