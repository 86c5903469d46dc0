"""The staff register of a wave: read a CSV/XLSX file, map its columns, validate, import, purge.

Reading is shared with the response import: :func:`read_table` turns uploaded bytes into a
header and rows of text, detecting CSV vs XLSX, the encoding (UTF-8 with or without BOM,
UTF-16 with BOM, Windows-1252) and the delimiter. Every problem names the file's line and
column, so a planner can find it in the spreadsheet.

An import is all-or-nothing per file: one bad row and nothing is stored. A re-import updates
the wave's people by person key and adds new ones; it never duplicates. While the wave is a
draft the register changes freely. Once it is open, the one way to change it is a *delta
import* (``delta=True``) of the whole current register: new people are added and invited,
people no longer in it are withdrawn (no more mail, their link stops working), and
``base_population`` follows.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import String, cast, delete, func, insert, literal, select, update

from surveyapp.extensions import db
from surveyapp.models import Invitation, RegisterPerson, Wave
from surveyapp.questionnaire.model import NO, YES, Question, Questionnaire, localize
from surveyapp.services import audit

MAX_BYTES = 20 * 1024 * 1024  # a 45,000-person register is about 7 MB as CSV
MAX_ROWS = 250_000
MAX_COLUMNS = 500
MAX_PROBLEMS = 1000  # problems kept for the report; the count is always complete
# Hostile uploads are refused by these cheap checks before any per-row or per-column work:
# 500 columns of 400 characters fit a line; a spreadsheet's header line is far shorter.
MAX_LINE_CHARS = MAX_COLUMNS * 400
MAX_HEADER_CHARS = MAX_COLUMNS * 200
# XLSX: what the zip's central directory declares (Python's zipfile never unpacks more than an
# entry declares, so these bound the work). A 250,000-row sheet unpacks to about 150 MB; sheet
# XML compresses 5 to 30 times, a zip bomb a thousand times.
MAX_XLSX_UNPACKED = 256 * 1024 * 1024
MAX_XLSX_ENTRIES = 1000
MAX_XLSX_RATIO = 200
XLSX_RATIO_FREE_BYTES = 1024 * 1024  # small entries (styles, a tiny sheet) may compress well
MAX_BLANK_SHEET_ROWS = 10_000  # empty rows a sheet may hold on top of max_rows
BATCH_SIZE = 5000

# Column lengths of RegisterPerson.
KEY_LENGTH = 64
EMAIL_LENGTH = 254
NAME_LENGTH = 200
GROUP_VALUE_LENGTH = 100

Progress = Callable[[int], None]


def _(message: str, **variables: Any) -> str:
    """Translated in a request (the planner's language); English on the command line.

    Outside a request the app's locale selector has no request to read, so no gettext there.
    """
    if has_request_context():
        return gettext(message, **variables)
    return message % variables if variables else message


# --- problems -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem of a file: where (line of the file, column header) and what."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(_("line %(line)d", line=self.line))
        if self.column:
            where.append(_("column %(column)s", column=repr(self.column)))
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RegisterFileError(ValueError):
    """A file that cannot be read as a table at all (wrong type, empty, no header...)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class RegisterStateError(ValueError):
    """The register of the wave cannot change this way in its state (draft: plain import;
    open: delta import; closed or archived: frozen)."""


class ProblemList:
    """Problems in file order, keeping the first ``limit`` but counting all."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.items: list[Problem] = []
        self.count = 0
        self.limit = limit

    def add(self, line: int | None, column: str | None, message: str) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(Problem(line, column, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem.line, problem.column, problem.message)

    def __bool__(self) -> bool:
        return self.count > 0

    def sorted(self) -> list[Problem]:
        return sorted(self.items, key=lambda p: (p.line or 0, p.column or ""))


# --- reading a table ------------------------------------------------------------------------------


@dataclass
class Table:
    """A file's header and data rows as text; ``line`` is the file's line (or sheet row) number."""

    headers: list[str]
    rows: list[tuple[int, list[str]]]
    kind: str  # "csv" | "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    filename: str = ""
    problems: list[Problem] = field(default_factory=list)  # rows whose fields do not fit the header
    complete: bool = True  # False for a preview (the header and the first rows only)

    def index(self, column: str | None) -> int | None:
        """Position of a column, matched case- and space-insensitively."""
        if column is None:
            return None
        wanted = _header_key(column)
        for position, header in enumerate(self.headers):
            if _header_key(header) == wanted:
                return position
        return None

    def header(self, column: str | None) -> str | None:
        position = self.index(column)
        return None if position is None else self.headers[position]

    def describe(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "kind": self.kind,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": len(self.rows),
            "columns": len(self.headers),
        }


ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
}
DELIMITER_NAMES = {";": "semicolon", ",": "comma", "\t": "tab", "|": "vertical bar"}
DELIMITERS = ";,\t|"
TEXT_SUFFIXES = {"", "csv", "txt", "tsv", "tab"}
XLSX_SUFFIXES = {"xlsx", "xlsm"}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _header_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).strip().lower().split())


def _suffix(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def read_table(
    data: bytes,
    filename: str = "",
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    preview_rows: int | None = None,
) -> Table:
    """Read an uploaded CSV or XLSX file into a :class:`Table`.

    Raises :class:`RegisterFileError` when the file cannot be a table: not CSV/XLSX, too
    large, empty, undecodable, no header line or duplicate column names. Rows whose number
    of fields does not fit the header end up in ``Table.problems`` (with their line).

    Every limit that a hostile file could abuse (columns, line length, rows, the unpacked size
    and compression ratio of a workbook) is checked first, on the raw text or the zip's
    directory, so such a file is refused in a fraction of a second. With ``preview_rows`` only
    the header and that many rows are parsed (``Table.complete`` is then False): enough for a
    planner to choose the columns, bounded however large the file.
    """
    if len(data) > max_bytes:
        raise _file_error(
            _(
                "the file is %(size).1f MB; the limit is %(limit).0f MB",
                size=len(data) / 1_048_576,
                limit=max_bytes / 1_048_576,
            )
        )
    if not data.strip():
        raise _file_error(_("the file is empty"))
    suffix = _suffix(filename)
    if data.startswith(OLE2_MAGIC) or suffix == "xls":
        raise _file_error(_("this is an old Excel workbook (.xls): save it as .xlsx or as CSV and try again"))
    if data.startswith(b"PK\x03\x04"):
        if suffix in TEXT_SUFFIXES | XLSX_SUFFIXES:
            check_workbook_archive(data)
            table = _read_xlsx(data, max_rows, preview_rows)
            table.filename = filename
            return table
        raise _file_error(_not_a_table(suffix))
    if suffix in XLSX_SUFFIXES:
        raise _file_error(_("the file is named .xlsx but is not an Excel workbook"))
    if suffix not in TEXT_SUFFIXES:
        raise _file_error(_not_a_table(suffix))
    text, encoding = _decode(data)
    check_text_shape(text, max_rows)
    table = _read_csv(text, max_rows, preview_rows)
    table.encoding = encoding
    table.filename = filename
    return table


def check_text_shape(text: str, max_rows: int = MAX_ROWS) -> None:
    """Refuse a CSV text whose header, lines or line count are beyond the limits, before parsing.

    Runs at the speed of ``str.find``/``str.count``: the header line is found within its
    limit, its delimiters counted (an exact count by the CSV parser only when a delimiter
    occurs more than ``MAX_COLUMNS`` times), the lines counted and measured.
    """
    start = len(text) - len(text.lstrip("\r\n"))
    end = text.find("\n", start, start + MAX_HEADER_CHARS + 1)
    if end == -1 and len(text) - start > MAX_HEADER_CHARS:
        raise _file_error(
            _(
                "the first line is longer than %(max)s characters: this is not a table with column names "
                "(or it has far more than %(columns)d columns)",
                max=f"{MAX_HEADER_CHARS:,}",
                columns=MAX_COLUMNS,
            ),
            line=1,
        )
    header = text[start : end if end != -1 else len(text)]
    for delimiter in DELIMITERS:
        if header.count(delimiter) >= MAX_COLUMNS:
            fields = next(csv.reader([header], delimiter=delimiter), [])
            if len(fields) > MAX_COLUMNS:
                raise _file_error(
                    _("the first line has more than %(max)d columns", max=MAX_COLUMNS),
                    line=text.count("\n", 0, start) + 1,
                )
    # Lines, not rows: a value may hold a line break, and blank lines do not count as rows.
    body = text.strip()
    lines = body.count("\n") + 1 - body.count("\n\n") - body.count("\n\r\n")
    if lines > max_rows + 1:
        raise _file_error(_too_many_rows(max_rows))
    # A line longer than the limit covers a whole window of half the limit (aligned to
    # multiples of it) without a line break: a few hundred str.find calls for 20 MB.
    half = MAX_LINE_CHARS // 2
    for window in range(0, len(text) - half + 1, half):
        if text.find("\n", window, window + half) != -1:
            continue
        line_start = text.rfind("\n", 0, window) + 1
        line_end = text.find("\n", window)
        if (len(text) if line_end == -1 else line_end) - line_start > MAX_LINE_CHARS:
            raise _file_error(
                _(
                    "this line is longer than %(max)s characters (more than %(columns)d columns?)",
                    max=f"{MAX_LINE_CHARS:,}",
                    columns=MAX_COLUMNS,
                ),
                line=text.count("\n", 0, line_start) + 1,
            )


def check_workbook_archive(data: bytes) -> None:
    """Refuse an XLSX whose zip directory promises too much, before openpyxl opens it.

    Only the central directory is read: the entry count, the total unpacked size and each
    entry's compression ratio. Python's zipfile never unpacks more than an entry declares,
    so a zip bomb that lies about its sizes fails its checksum instead of filling memory.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise _file_error(
            _("the file cannot be read as an Excel workbook (.xlsx); save it again as .xlsx or CSV")
        ) from exc
    if len(entries) > MAX_XLSX_ENTRIES:
        raise _file_error(
            _(
                "the workbook holds more than %(max)d parts: this is not a normal Excel file",
                max=MAX_XLSX_ENTRIES,
            )
        )
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > MAX_XLSX_UNPACKED:
        raise _file_error(
            _(
                "the workbook unpacks to %(size)s MB; the limit is %(limit)s MB",
                size=f"{unpacked / 1_048_576:,.0f}",
                limit=f"{MAX_XLSX_UNPACKED / 1_048_576:,.0f}",
            )
        )
    for entry in entries:
        if entry.file_size > XLSX_RATIO_FREE_BYTES and entry.file_size > MAX_XLSX_RATIO * max(
            entry.compress_size, 1
        ):
            raise _file_error(
                _(
                    "a part of the workbook is compressed more than %(ratio)d times (a zip bomb?): "
                    "save it again as .xlsx or CSV",
                    ratio=MAX_XLSX_RATIO,
                )
            )
    if not any(entry.filename == "xl/workbook.xml" for entry in entries):
        raise _file_error(_("the file is a zip archive but not an Excel workbook (.xlsx)"))


def _not_a_table(suffix: str) -> str:
    return _("a .%(suffix)s file is not a CSV file or an Excel workbook (.xlsx)", suffix=suffix)


def _not_text() -> str:
    return _("this is not a text file (it contains binary data): upload a CSV or XLSX file")


def _file_error(message: str, line: int | None = None, column: str | None = None) -> RegisterFileError:
    return RegisterFileError([Problem(line, column, message)])


def _decode(data: bytes) -> tuple[str, str]:
    """Text and encoding: a BOM decides; otherwise UTF-8, then Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        order = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        order = ["utf-16"]
    else:
        if b"\x00" in data[:65536]:
            raise _file_error(_not_text())
        order = ["utf-8", "cp1252"]
    failures: list[UnicodeDecodeError] = []
    for encoding in order:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            failures.append(exc)
            continue
        if encoding == "utf-16":
            text = text.removeprefix("\ufeff")
        if "\x00" in text:
            raise _file_error(_not_text())
        return text, encoding
    # The encoding that got furthest is most likely the file's own: report where it broke.
    worst = max(failures, key=lambda exc: exc.start)
    line = data.count(b"\n", 0, worst.start) + 1
    byte = data[worst.start : worst.start + 1].hex()
    raise _file_error(
        _(
            "byte 0x%(byte)s cannot be read as UTF-8 or Windows-1252 text: save the file as "
            "'CSV UTF-8' and try again",
            byte=byte,
        ),
        line=line,
    )


def _detect_delimiter(text: str) -> str:
    """csv.Sniffer on a sample, checked against the rows; else the most consistent candidate."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ";"

    def fields_per_line(delimiter: str) -> list[int]:
        try:
            return [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter) if r]
        except csv.Error:
            return []

    def consistent(delimiter: str) -> bool:
        counts = fields_per_line(delimiter)
        return bool(counts) and counts[0] > 1 and all(c == counts[0] for c in counts)

    try:
        sniffed: str | None = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and consistent(sniffed):
        return sniffed
    # Sniffer unsure: the delimiter giving the header most columns with the most rows agreeing.
    best, best_score = ";", (0, 0)
    for delimiter in DELIMITERS:
        counts = fields_per_line(delimiter)
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for c in counts if c == counts[0]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return sniffed if best_score == (0, 0) and sniffed else best


def _read_csv(text: str, max_rows: int, preview_rows: int | None = None) -> Table:
    delimiter = _detect_delimiter(text)
    complete = True
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    records: list[tuple[int, list[str]]] = []
    previous_line = 0
    try:
        for record in reader:
            line = previous_line + 1
            previous_line = reader.line_num
            if not (record and record[0].strip()) and not "".join(record).strip():
                continue  # a blank line, or only delimiters
            if len(record) > MAX_COLUMNS and "".join(record[MAX_COLUMNS:]).strip():
                raise _file_error(_("this row has more than %(max)d columns", max=MAX_COLUMNS), line=line)
            records.append((line, record))
            if len(records) > max_rows + 1:
                raise _file_error(_too_many_rows(max_rows))
            if preview_rows is not None and len(records) > preview_rows:
                complete = False
                break
    except csv.Error as exc:
        raise _file_error(
            _("the file cannot be read as CSV: %(error)s", error=str(exc)), line=reader.line_num
        ) from exc
    table = _table_from_records(records, kind="csv")
    table.delimiter = delimiter
    table.complete = complete
    return table


def _too_many_rows(max_rows: int) -> str:
    return _("the file has more than %(rows)s rows", rows=f"{max_rows:,}")


def _unreadable_xlsx(exc: Exception) -> str:
    return _("the Excel workbook cannot be read (%(error)s)", error=type(exc).__name__)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, max_rows: int, preview_rows: int | None = None) -> Table:
    import openpyxl  # defusedxml is installed, so openpyxl parses the XML safely

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise _file_error(
            _("the file cannot be read as an Excel workbook (.xlsx); save it again as .xlsx or CSV")
        ) from exc
    except Exception as exc:  # a damaged or hostile workbook: any parser error is a bad file
        raise _file_error(_unreadable_xlsx(exc)) from exc
    try:
        if not workbook.worksheets:
            raise _file_error(_("the workbook has no worksheet"))
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # the declared size may be wrong (or huge): read what is there
        records: list[tuple[int, list[str]]] = []
        complete = True
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > max_rows + 1 + MAX_BLANK_SHEET_ROWS:
                raise _file_error(_too_many_rows(max_rows))
            if len(values) > MAX_COLUMNS and any(v not in (None, "") for v in values[MAX_COLUMNS:]):
                raise _file_error(
                    _("the worksheet has more than %(max)d columns", max=MAX_COLUMNS), line=number
                )
            cells = [_cell_text(value) for value in values[:MAX_COLUMNS]]
            if not any(cell.strip() for cell in cells):
                continue
            records.append((number, cells))
            if len(records) > max_rows + 1:
                raise _file_error(_too_many_rows(max_rows))
            if preview_rows is not None and len(records) > preview_rows:
                complete = False
                break
    except RegisterFileError:
        raise
    except Exception as exc:
        raise _file_error(_unreadable_xlsx(exc)) from exc
    finally:
        workbook.close()
    # A worksheet has no ragged rows: rows shorter than the header simply end in empty cells.
    if records:
        width = max(len(cells) for _, cells in records)
        records = [(line, cells + [""] * (width - len(cells))) for line, cells in records]
    table = _table_from_records(records, kind="xlsx")
    table.complete = complete
    return table


_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def _table_from_records(records: list[tuple[int, list[str]]], kind: str) -> Table:
    if not records:
        raise _file_error(_("the file is empty"))
    header_line, raw_headers = records[0]
    headers = [unicodedata.normalize("NFC", h).strip().removeprefix("\ufeff").strip() for h in raw_headers]
    body = records[1:]
    # Trailing nameless columns (Excel's "a;b;c;") are dropped when they hold nothing.
    keep = len(headers)
    while keep > 0 and not headers[keep - 1]:
        if any(len(cells) >= keep and cells[keep - 1].strip() for _, cells in body):
            break
        keep -= 1
    headers = headers[:keep]
    named = [h for h in headers if h]
    if not named:
        raise _file_error(_("the first line has no column names"), line=header_line)
    if any("@" in h for h in named) or all(_NUMBER.match(h) for h in named):
        raise _file_error(
            _("the first line holds data, not column names: add a header line with the column names"),
            line=header_line,
        )
    problems: list[Problem] = []
    for position, header in enumerate(headers):
        if not header:
            problems.append(
                Problem(
                    header_line,
                    None,
                    _("column %(number)d has values but no name in the header line", number=position + 1),
                )
            )
    seen: dict[str, int] = {}
    for position, header in enumerate(headers):
        if not header:
            continue
        key = _header_key(header)
        if key in seen:
            problems.append(
                Problem(
                    header_line,
                    header,
                    _(
                        "the column name %(name)s appears twice (columns %(first)d and %(second)d); "
                        "column names must be unique",
                        name=repr(header),
                        first=seen[key] + 1,
                        second=position + 1,
                    ),
                )
            )
        else:
            seen[key] = position
    if problems:
        raise RegisterFileError(problems)
    if not body:
        raise _file_error(_("the file has column names but no rows"), line=header_line)
    rows: list[tuple[int, list[str]]] = []
    ragged: list[Problem] = []
    width = len(headers)
    for line, cells in body:
        if len(cells) == width:
            rows.append((line, cells))
            continue
        if len(cells) > width and not "".join(cells[width:]).strip():
            rows.append((line, cells[:width]))
            continue
        ragged.append(
            Problem(
                line,
                None,
                _(
                    "this row has %(fields)d fields but the header has %(columns)d columns "
                    "(a missing or extra delimiter, or a line break inside a value?)",
                    fields=len(cells),
                    columns=width,
                ),
            )
        )
    return Table(headers=headers, rows=rows, kind=kind, problems=ragged)


# --- the column mapping ---------------------------------------------------------------------------

BIRTH_YEAR = "birth_year"

# Header names recognised by default (compared without case, spaces, dashes and underscores).
ID_NAMES = (
    "personkey",
    "personid",
    "persoonid",
    "id",
    "personeelsnummer",
    "personeelsnr",
    "stamnummer",
    "employeeid",
    "employeenumber",
    "key",
    "nummer",
)
EMAIL_NAMES = ("email", "emailadres", "emailaddress", "mail", "mailadres", "emailadresse")
LANGUAGE_NAMES = ("language", "taal", "lang", "voorkeurtaal", "preferredlanguage", "correspondentietaal")
NAME_NAMES = ("name", "naam", "fullname", "volledigenaam", "contactpersoon", "contactperson")
BIRTH_YEAR_NAMES = ("geboortejaar", "birthyear", "yearofbirth", "geboortedatum", "birthdate", "dateofbirth")
# English names of the shipped questionnaires' register columns.
GROUP_ALIASES = {
    "entity": "entiteit",
    "policydomain": "entiteit",
    "beleidsdomein": "entiteit",
    "age": "leeftijd",
    "ageband": "leeftijd",
    "agegroup": "leeftijd",
    "leeftijdsklasse": "leeftijd",
    "level": "niveau",
    "household": "gezin",
    "children": "kinderen",
    "disability": "beperking",
    "origin": "herkomst",
    "yearsofservice": "dienstjaren",
    "anciënniteit": "dienstjaren",
    "anciënniteitsklasse": "dienstjaren",
}
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _loose(name: str) -> str:
    return re.sub(r"[\s_\-./]+", "", unicodedata.normalize("NFC", name).strip().lower())


@dataclass(frozen=True)
class GroupColumn:
    """A file column kept in ``RegisterPerson.groups`` under ``key`` (a register_column)."""

    column: str
    key: str
    convert: str | None = None  # "birth_year": a year (or date of birth) → age band code


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column plays which part; stored on ``Wave.register_mapping`` for re-imports."""

    email_column: str | None
    id_column: str | None = None  # None: the e-mail address is the person key
    language_column: str | None = None  # None: everyone gets the default language
    name_column: str | None = None
    groups: tuple[GroupColumn, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id_column": self.id_column,
            "email_column": self.email_column,
            "language_column": self.language_column,
            "name_column": self.name_column,
            "groups": [
                {"column": g.column, "key": g.key, **({"convert": g.convert} if g.convert else {})}
                for g in self.groups
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> ColumnMapping | None:
        """A stored mapping, or None when there is none or it is not a mapping we understand."""
        if not isinstance(data, Mapping):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        groups = []
        for entry in data.get("groups") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("column"), str) and entry.get("key"):
                convert = entry.get("convert")
                groups.append(
                    GroupColumn(
                        entry["column"], str(entry["key"]), convert if isinstance(convert, str) else None
                    )
                )
        return cls(
            email_column=text("email_column"),
            id_column=text("id_column"),
            language_column=text("language_column"),
            name_column=text("name_column"),
            groups=tuple(groups),
        )

    def columns(self) -> list[str]:
        named = [self.id_column, self.email_column, self.language_column, self.name_column]
        return [c for c in named if c] + [g.column for g in self.groups]


def group_questions(questionnaire: Questionnaire) -> list[Question]:
    """The questionnaire's group questions that have a register column, in questionnaire order."""
    return [
        q
        for q in questionnaire.questions
        if q.measure is not None and q.measure.type == "group" and q.measure.register_column
    ]


def _register_column(question: Question) -> str:
    assert question.measure is not None and question.measure.register_column
    return question.measure.register_column


def default_mapping(
    headers: Sequence[str], questionnaire: Questionnaire, stored: ColumnMapping | None = None
) -> ColumnMapping:
    """The stored mapping when its columns are all in the file, else a guess from the headers."""
    by_key = {_header_key(h): h for h in headers}
    if stored is not None and stored.columns() and all(_header_key(c) in by_key for c in stored.columns()):

        def actual(column: str | None) -> str | None:
            return by_key[_header_key(column)] if column else None

        return ColumnMapping(
            email_column=actual(stored.email_column),
            id_column=actual(stored.id_column),
            language_column=actual(stored.language_column),
            name_column=actual(stored.name_column),
            groups=tuple(GroupColumn(by_key[_header_key(g.column)], g.key, g.convert) for g in stored.groups),
        )
    loose: dict[str, str] = {}
    for name in headers:
        loose.setdefault(_loose(name), name)

    def guess(names: Iterable[str]) -> str | None:
        return next((loose[name] for name in names if name in loose), None)

    email = guess(EMAIL_NAMES)
    person_id = guess(ID_NAMES)
    used = {email, person_id}
    groups: list[GroupColumn] = []
    for question in group_questions(questionnaire):
        register_column = _register_column(question)
        wanted = _group_names(question)
        header: str | None = next((h for h in headers if _loose(h) in wanted and h not in used), None)
        convert = None
        if header is None and age_bands(question) is not None:
            header = next((loose[n] for n in BIRTH_YEAR_NAMES if n in loose and loose[n] not in used), None)
            convert = BIRTH_YEAR if header else None
        if header is not None:
            used.add(header)
            groups.append(GroupColumn(header, register_column, convert))
    return ColumnMapping(
        email_column=email,
        id_column=person_id,
        language_column=guess(LANGUAGE_NAMES),
        name_column=guess(NAME_NAMES),
        groups=tuple(groups),
    )


def _group_names(question: Question) -> set[str]:
    """Loose header names that stand for a group question's register column."""
    names = {_register_column(question), question.id}
    return {_loose(n) for n in names} | {alias for alias, target in GROUP_ALIASES.items() if target in names}


def matching_group_key(header: str, questionnaire: Questionnaire) -> str:
    """The register_column a file column stands for (a group question's), else a key from its name."""
    loose = _loose(header)
    for question in group_questions(questionnaire):
        if loose in _group_names(question):
            return _register_column(question)
    return group_key_for(header)


def group_key_for(header: str) -> str:
    """A groups key for a file column that no questionnaire question asks (lower case, _)."""
    key = re.sub(r"[^a-z0-9]+", "_", unicodedata.normalize("NFKD", header).lower()).strip("_")
    key = key.encode("ascii", "ignore").decode()
    if not key or not key[0].isalpha():
        key = "k_" + key
    return key[:63]


def _no_column(column: str, available: str) -> str:
    return _(
        "there is no column %(column)s in the file (%(available)s)", column=repr(column), available=available
    )


def _twice(column: str) -> str:
    return _("the column %(column)s is chosen for two things; choose it once", column=repr(column))


def check_mapping(mapping: ColumnMapping, table: Table, questionnaire: Questionnaire) -> list[Problem]:
    """Mapping problems (no line): missing columns, a column used twice, an unknown conversion."""
    problems: list[Problem] = []
    roles = [
        ("id_column", mapping.id_column),
        ("email_column", mapping.email_column),
        ("language_column", mapping.language_column),
        ("name_column", mapping.name_column),
    ]
    available = ", ".join(table.headers)
    for _role, column in roles:
        if column and table.index(column) is None:
            problems.append(Problem(None, column, _no_column(column, available)))
    if not mapping.email_column:
        problems.append(Problem(None, None, _("choose the column with the e-mail addresses")))
    questions = {_register_column(q): q for q in group_questions(questionnaire)}
    used: dict[str, str] = {}
    for role, column in roles:
        if column and not (role == "id_column" and column == mapping.email_column):
            if _header_key(column) in used:
                problems.append(Problem(None, column, _twice(column)))
            used[_header_key(column)] = role
    keys: set[str] = set()
    for group in mapping.groups:
        if table.index(group.column) is None:
            problems.append(Problem(None, group.column, _no_column(group.column, available)))
        if _header_key(group.column) in used:
            problems.append(
                Problem(
                    None,
                    group.column,
                    _twice(group.column),
                )
            )
        used[_header_key(group.column)] = "group"
        if not KEY_PATTERN.match(group.key):
            problems.append(
                Problem(
                    None,
                    group.column,
                    _("group name %(key)s must be lower-case letters, digits and _", key=repr(group.key)),
                )
            )
        if group.key in keys:
            problems.append(
                Problem(
                    None,
                    group.column,
                    _("two columns are mapped to the group %(key)s; choose one", key=group.key),
                )
            )
        keys.add(group.key)
        if group.convert not in (None, BIRTH_YEAR):
            problems.append(Problem(None, group.column, _("unknown conversion %(name)s", name=group.convert)))
        elif group.convert == BIRTH_YEAR:
            question = questions.get(group.key)
            if question is None or age_bands(question) is None:
                problems.append(
                    Problem(
                        None,
                        group.column,
                        _("birth years can only be converted to age bands, not to %(key)s", key=group.key),
                    )
                )
    return problems


# --- matching values ------------------------------------------------------------------------------


_SEPARATORS = re.compile(r"[\s_\-]+")
_WHOLE_DECIMAL = re.compile(r"\d+\.0+")


@lru_cache(maxsize=8192)  # a register repeats a few codes many thousand times
def normalise_value(value: str) -> str:
    """Case, accents' composition, surrounding and repeated spaces, '-' vs '_' and '4.0' vs '4'."""
    text = unicodedata.normalize("NFC", value).strip().lower()
    text = _SEPARATORS.sub("_", text).strip("_")
    if _WHOLE_DECIMAL.fullmatch(text):
        text = text.split(".", 1)[0]
    return text


YES_NO_WORDS = {
    YES: ("yes", "ja", "j", "y", "1", "true", "waar", "oui"),
    NO: ("no", "nee", "n", "0", "false", "onwaar", "non", "neen"),
}


def code_lookup(question: Question) -> dict[str, str]:
    """Normalised spelling → code, for a question's codes and (where unambiguous) their labels."""
    lookup: dict[str, str] = {}
    for choice in question.choices:
        lookup.setdefault(normalise_value(choice.code), choice.code)
    if question.type == "yes_no":
        for code, words in YES_NO_WORDS.items():
            if code in question.codes:
                for word in words:
                    lookup.setdefault(word, code)
    for choice in question.choices:
        for label in choice.label.values():
            lookup.setdefault(normalise_value(label), choice.code)
    return lookup


_AGE_BAND = (
    (re.compile(r"^(?:lt|under|onder|min)_?(\d+)$"), lambda m: (0, int(m.group(1)) - 1)),
    (re.compile(r"^(\d+)_(\d+)$"), lambda m: (int(m.group(1)), int(m.group(2)))),
    (re.compile(r"^(\d+)_?(?:plus|\+|up|more)$"), lambda m: (int(m.group(1)), 200)),
)


def age_bands(question: Question) -> list[tuple[int, int, str]] | None:
    """(lowest age, highest age, code) for codes like lt30, 30_39, 65plus; None if not age bands."""
    if question.type != "single_choice" or not question.choices:
        return None
    bands = []
    for choice in question.choices:
        for pattern, bounds in _AGE_BAND:
            match = pattern.match(choice.code.lower())
            if match:
                low, high = bounds(match)
                bands.append((low, high, choice.code))
                break
        else:
            if not choice.missing:
                return None
    return sorted(bands) or None


def birth_year_of(value: str) -> int | None:
    """The year in '1968', '1968-04-02', '02/04/1968' or '2.4.1968'; None when there is none."""
    text = value.strip()
    match = re.fullmatch(r"(\d{4})(?:\.0+)?", text) or re.fullmatch(r"(\d{4})-\d{1,2}-\d{1,2}.*", text)
    match = match or re.fullmatch(r"\d{1,2}[/.\-]\d{1,2}[/.\-](\d{4})", text)
    return int(match.group(1)) if match else None


# --- validating rows ------------------------------------------------------------------------------

_SIMPLE_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def email_problem(value: str) -> str | None:
    """Why an e-mail address is not valid (None when it is). The common case skips the slow check."""
    if len(value) > EMAIL_LENGTH:
        return _("longer than %(max)d characters", max=EMAIL_LENGTH)
    if _SIMPLE_EMAIL.match(value):
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


LANGUAGE_WORDS = {
    "nl": ("nl", "nld", "dut", "nederlands", "dutch", "vlaams", "n"),
    "en": ("en", "eng", "english", "engels", "anglais", "e"),
    "fr": ("fr", "fra", "fre", "frans", "french", "français", "francais", "f"),
    "de": ("de", "deu", "ger", "duits", "german", "deutsch", "d"),
}


def language_code(value: str, allowed: Sequence[str]) -> str | None:
    text = value.strip().lower().replace("_", "-")
    if text.split("-", 1)[0] in allowed:
        return text.split("-", 1)[0]
    for code, words in LANGUAGE_WORDS.items():
        if code in allowed and text in words:
            return code
    return None


def default_language(wave: Wave) -> str:
    languages = list(wave.languages or ["nl"])
    return "nl" if "nl" in languages else languages[0]


@dataclass(frozen=True)
class PersonRow:
    line: int
    person_key: str
    email: str | None
    name: str | None
    language: str
    groups: dict[str, str]


@dataclass
class Validation:
    people: list[PersonRow]
    problems: ProblemList
    warnings: ProblemList


def validate_rows(
    table: Table,
    mapping: ColumnMapping,
    questionnaire: Questionnaire,
    *,
    languages: Sequence[str] = ("nl", "en"),
    default_language: str = "nl",
    reference_year: int | None = None,
) -> Validation:
    """Check every row; the people of a valid file, and every problem with line and column."""
    problems, warnings = ProblemList(), ProblemList()
    problems.extend(table.problems)
    mapping_problems = check_mapping(mapping, table, questionnaire)
    if mapping_problems:
        problems.extend(mapping_problems)
        return Validation([], problems, warnings)
    reference_year = reference_year or datetime.now(UTC).year
    id_at, email_at = table.index(mapping.id_column), table.index(mapping.email_column)
    language_at, name_at = table.index(mapping.language_column), table.index(mapping.name_column)
    id_header = table.header(mapping.id_column) or ""
    email_header = table.header(mapping.email_column) or ""
    language_header = table.header(mapping.language_column) or ""
    name_header = table.header(mapping.name_column) or ""
    email_is_key = id_at is None or id_at == email_at
    questions = {_register_column(q): q for q in group_questions(questionnaire)}

    @dataclass(frozen=True)
    class GroupRule:
        at: int
        header: str
        key: str
        lookup: dict[str, str] | None
        allowed: str
        bands: list[tuple[int, int, str]] | None
        number: Question | None

    rules: list[GroupRule] = []
    for group in mapping.groups:
        at = table.index(group.column)
        assert at is not None
        question = questions.get(group.key)
        lookup = code_lookup(question) if question is not None and question.choices else None
        rules.append(
            GroupRule(
                at=at,
                header=table.headers[at],
                key=group.key,
                lookup=lookup,
                allowed=", ".join(question.codes) if question is not None else "",
                bands=age_bands(question) if question is not None and group.convert == BIRTH_YEAR else None,
                number=question if question is not None and question.type == "number" else None,
            )
        )
    allowed_languages = ", ".join(languages)
    seen_keys: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    people: list[PersonRow] = []
    for line, cells in table.rows:
        ok = True
        email = cells[email_at].strip() if email_at is not None else ""
        if email:
            reason = email_problem(email)
            if reason:
                problems.add(
                    line,
                    email_header,
                    _("invalid e-mail address %(email)s: %(reason)s", email=repr(email), reason=reason),
                )
                ok = False
            else:
                first = seen_emails.setdefault(email.lower(), line)
                if first != line and not email_is_key:
                    warnings.add(
                        line,
                        email_header,
                        _("the e-mail address %(email)s is also on line %(line)d", email=email, line=first),
                    )
        elif email_is_key:
            problems.add(line, email_header, _("missing e-mail address (it is the person id here)"))
            ok = False
        else:
            warnings.add(line, email_header, _("no e-mail address: this person cannot be invited by e-mail"))
        if email_is_key:
            key = email.lower()
            key_header = email_header
        else:
            assert id_at is not None
            key = cells[id_at].strip()
            key_header = id_header
            if not key:
                problems.add(line, key_header, _("missing person id"))
                ok = False
        if key and len(key) > KEY_LENGTH:
            problems.add(
                line, key_header, _("the person id is longer than %(max)d characters", max=KEY_LENGTH)
            )
            ok = False
        elif key:
            first = seen_keys.setdefault(key, line)
            if first != line:
                problems.add(
                    line,
                    key_header,
                    _("duplicate person id %(key)s (also on line %(line)d)", key=repr(key), line=first),
                )
                ok = False
        language = default_language
        if language_at is not None and cells[language_at].strip():
            found = language_code(cells[language_at], languages)
            if found is None:
                problems.add(
                    line,
                    language_header,
                    _(
                        "unknown language %(value)s (allowed: %(allowed)s)",
                        value=repr(cells[language_at].strip()),
                        allowed=allowed_languages,
                    ),
                )
                ok = False
            else:
                language = found
        name = cells[name_at].strip() if name_at is not None else ""
        if len(name) > NAME_LENGTH:
            problems.add(line, name_header, _("the name is longer than %(max)d characters", max=NAME_LENGTH))
            ok = False
        groups: dict[str, str] = {}
        for rule in rules:
            raw = cells[rule.at].strip()
            if not raw:
                continue  # not applicable (e.g. no contract for retired staff)
            if rule.bands is not None:
                year = birth_year_of(raw)
                age = reference_year - year if year is not None else None
                band = next(
                    (c for low, high, c in rule.bands if age is not None and low <= age <= high), None
                )
                if year is None or age is None or not 15 <= age <= 120:
                    problems.add(line, rule.header, _("%(value)s is not a birth year", value=repr(raw)))
                    ok = False
                elif band is None:
                    problems.add(
                        line,
                        rule.header,
                        _(
                            "no age band of %(key)s for age %(age)d (born %(year)d)",
                            key=rule.key,
                            age=age,
                            year=year,
                        ),
                    )
                    ok = False
                else:
                    groups[rule.key] = band
            elif rule.number is not None:
                number = _number(raw)
                low, high = rule.number.minimum, rule.number.maximum
                if number is None:
                    problems.add(line, rule.header, _("%(value)s is not a number", value=repr(raw)))
                    ok = False
                elif (low is not None and number < low) or (high is not None and number > high):
                    problems.add(line, rule.header, range_text(raw, low, high))
                    ok = False
                else:
                    groups[rule.key] = f"{number:g}"
            elif rule.lookup is not None:
                code = rule.lookup.get(normalise_value(raw))
                if code is None:
                    problems.add(line, rule.header, unknown_code(raw, rule.key, rule.allowed))
                    ok = False
                else:
                    groups[rule.key] = code
            elif len(raw) > GROUP_VALUE_LENGTH:
                problems.add(
                    line,
                    rule.header,
                    _("the value is longer than %(max)d characters", max=GROUP_VALUE_LENGTH),
                )
                ok = False
            else:
                groups[rule.key] = raw
        if ok:
            people.append(PersonRow(line, key, email or None, name or None, language, groups))
    return Validation(people, problems, warnings)


def range_text(raw: str, low: float | None, high: float | None) -> str:
    """Why a number is out of range, naming the range."""
    if low is not None and high is not None:
        return _(
            "%(value)s is out of range: the answer must be from %(low)g to %(high)g",
            value=raw,
            low=low,
            high=high,
        )
    if low is not None:
        return _("%(value)s is out of range: the answer must be at least %(low)g", value=raw, low=low)
    return _("%(value)s is out of range: the answer must be at most %(high)g", value=raw, high=high)


def unknown_code(raw: str, key: str, allowed: str) -> str:
    return _(
        "unknown code %(value)s for %(key)s (allowed: %(allowed)s)", value=repr(raw), key=key, allowed=allowed
    )


def _number(text: str) -> float | None:
    cleaned = text.strip().replace(",", ".") if "." not in text else text.strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


# --- importing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarginRow:
    code: str
    label: str | None
    count: int


@dataclass(frozen=True)
class Margin:
    """How many people of the register have each code of one group column."""

    key: str
    question: Question | None
    rows: list[MarginRow]
    missing: int


@dataclass
class ImportResult:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    total: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[Problem] = field(default_factory=list)
    warning_count: int = 0
    margins: list[Margin] = field(default_factory=list)
    dry_run: bool = False
    # A delta import of an open wave: people withdrawn, withdrawn people back in the file,
    # people not in the file kept because they already answered, and invitations created.
    delta: bool = False
    withdrawn: int = 0
    reinstated: int = 0
    kept_submitted: int = 0
    invited: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


def import_register(
    wave: Wave,
    table: Table,
    mapping: ColumnMapping,
    questionnaire: Questionnaire,
    *,
    actor: str | None,
    dry_run: bool = False,
    remove_missing: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    lang: str = "nl",
    via: str = "web",
    delta: bool = False,
) -> ImportResult:
    """Validate a register file and, when it has no problem at all, store it (no commit).

    Existing people of the wave (by person key) are updated, new ones added; with
    ``remove_missing`` people who are not in the file are removed. The mapping is stored on
    the wave for the next import and the import is audit-logged. ``progress`` is called with
    the number of rows handled since its last call.

    ``delta``: the file is the whole current register of an *open* wave (see
    :func:`_apply_delta`); a draft wave takes a plain import, a closed one neither.
    """
    check_import_state(wave, delta=delta)
    reference = wave.opens_on or datetime.now(UTC).date()
    checked = validate_rows(
        table,
        mapping,
        questionnaire,
        languages=list(wave.languages or ["nl"]),
        default_language=default_language(wave),
        reference_year=reference.year,
    )
    result = ImportResult(
        rows=len(table.rows) + len(table.problems),
        warnings=checked.warnings.sorted(),
        warning_count=checked.warnings.count,
        dry_run=dry_run,
    )
    if checked.problems:
        result.problems = checked.problems.sorted()
        result.problem_count = checked.problems.count
        return result

    existing = {
        row.person_key: row
        for row in db.session.execute(
            select(
                RegisterPerson.id,
                RegisterPerson.person_key,
                RegisterPerson.email,
                RegisterPerson.name,
                RegisterPerson.language,
                RegisterPerson.groups,
            ).where(RegisterPerson.wave_id == wave.id)
        )
    }
    if delta:
        return _apply_delta(
            wave, table, mapping, checked.people, result, actor=actor, progress=progress, via=via
        )
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for person in checked.people:
        values = {
            "email": person.email,
            "name": person.name,
            "language": person.language,
            "groups": person.groups,
        }
        old = existing.get(person.person_key)
        if old is None:
            inserts.append({"wave_id": wave.id, "person_key": person.person_key, **values})
        elif (old.email, old.name, old.language, dict(old.groups or {})) != (
            person.email,
            person.name,
            person.language,
            person.groups,
        ):
            updates.append({"id": old.id, **values})
        else:
            result.unchanged += 1
    in_file = {person.person_key for person in checked.people}
    missing_ids = [row.id for key, row in existing.items() if key not in in_file] if remove_missing else []
    if missing_ids:
        invited = db.session.execute(
            select(func.count()).select_from(Invitation).where(Invitation.person_id.in_(missing_ids))
        ).scalar_one()
        if invited:
            result.problems = [
                Problem(
                    None,
                    None,
                    _(
                        "%(count)d of the people who are not in this file already have an invitation; "
                        "they cannot be removed",
                        count=invited,
                    ),
                )
            ]
            result.problem_count = 1
            return result
    result.added, result.updated, result.removed = len(inserts), len(updates), len(missing_ids)
    if dry_run:
        result.total = len(existing) + len(inserts) - len(missing_ids)
        if progress:
            progress(len(checked.people))
        return result

    if progress and result.unchanged:
        progress(result.unchanged)
    # The table itself (not the ORM entity): an executemany without per-row ORM bookkeeping.
    table_insert = insert(RegisterPerson.__table__)
    for batch in _batches(inserts, batch_size):
        db.session.execute(table_insert, batch)
        if progress:
            progress(len(batch))
    for batch in _batches(updates, batch_size):
        db.session.execute(update(RegisterPerson), batch)
        if progress:
            progress(len(batch))
    for id_batch in _batches(missing_ids, batch_size):
        db.session.execute(
            delete(RegisterPerson)
            .where(RegisterPerson.id.in_(id_batch))
            .execution_options(synchronize_session=False)
        )
    wave.register_mapping = {
        **mapping.to_json(),
        "file": table.describe(),
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    result.total = len(existing) + len(inserts) - len(missing_ids)
    # The register after the import, from what is in memory already (no second read).
    kept = (
        dict(row.groups or {}) for key, row in existing.items() if key not in in_file and not remove_missing
    )
    result.margins = margins_of(
        itertools.chain((person.groups for person in checked.people), kept), wave, questionnaire, lang=lang
    )
    audit.record(
        "register_imported",
        actor,
        wave.slug,
        file=table.filename,
        rows=len(checked.people),
        added=result.added,
        updated=result.updated,
        unchanged=result.unchanged,
        removed=result.removed,
        total=result.total,
        via=via,
    )
    return result


def check_import_state(wave: Wave, *, delta: bool) -> None:
    """Refuse an import the wave's state does not allow, saying which step does fit."""
    if delta and wave.state == "draft":
        raise RegisterStateError(
            _(
                "wave %(wave)s is a draft: import its register without --delta (a delta import is "
                "for an open wave)",
                wave=wave.slug,
            )
        )
    if not delta and wave.state == "open":
        raise RegisterStateError(
            _(
                "wave %(wave)s is open: its register can only change by a delta import of the whole "
                "current register (surveyapp population import %(wave)s FILE --delta): new people are "
                "invited, people no longer in it are withdrawn",
                wave=wave.slug,
            )
        )
    if wave.state not in ("draft", "open"):
        raise RegisterStateError(
            _(
                "the register of wave %(wave)s is frozen: it can only change while the wave is a draft "
                "or open (it is %(state)s)",
                wave=wave.slug,
                state=wave.state,
            )
        )


def _apply_delta(
    wave: Wave,
    table: Table,
    mapping: ColumnMapping,
    people: Sequence[PersonRow],
    result: ImportResult,
    *,
    actor: str | None,
    progress: Progress | None,
    via: str,
) -> ImportResult:
    """Bring an open wave's register to the file (the whole current register).

    New people are added and invited (their invitation mail goes with the next send); known
    people are updated; people withdrawn earlier and in the file again get their invitation
    back; people no longer in the file are withdrawn (``Invitation.withdrawn_at``): no more
    mails, and their link says it no longer works. Someone who already answered stays: their
    anonymous answer cannot be taken out, so they stay counted. ``base_population`` follows.
    """
    from surveyapp.models import MailDelivery
    from surveyapp.services.waves import count_register, invite_register

    result.delta = True
    existing = {
        row.person_key: row
        for row in db.session.execute(
            select(
                RegisterPerson.id,
                RegisterPerson.person_key,
                RegisterPerson.email,
                RegisterPerson.name,
                RegisterPerson.language,
                RegisterPerson.groups,
                Invitation.id.label("invitation_id"),
                Invitation.submitted,
                Invitation.withdrawn_at,
            )
            .outerjoin(Invitation, Invitation.person_id == RegisterPerson.id)
            .where(RegisterPerson.wave_id == wave.id)
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    reinstate: list[int] = []
    for person in people:
        values: dict[str, Any] = {
            "email": person.email,
            "name": person.name,
            "language": person.language,
            "groups": person.groups,
        }
        old = existing.get(person.person_key)
        if old is None:
            inserts.append({"wave_id": wave.id, "person_key": person.person_key, **values})
            continue
        if old.withdrawn_at is not None:
            reinstate.append(old.invitation_id)
        if (old.email, old.name, old.language, dict(old.groups or {})) != (
            person.email,
            person.name,
            person.language,
            person.groups,
        ):
            updates.append({"id": old.id, **values})
        elif old.withdrawn_at is None:
            result.unchanged += 1
    in_file = {person.person_key for person in people}
    withdraw: list[int] = []
    uninvited_gone: list[int] = []
    for key, row in existing.items():
        if key in in_file or row.withdrawn_at is not None:
            continue
        if row.invitation_id is None:
            uninvited_gone.append(row.id)
        elif row.submitted:
            result.kept_submitted += 1
        else:
            withdraw.append(row.invitation_id)
    result.added, result.updated = len(inserts), len(updates)
    result.reinstated, result.withdrawn = len(reinstate), len(withdraw)
    result.removed = len(uninvited_gone)
    standing = sum(1 for row in existing.values() if row.withdrawn_at is None)
    result.total = standing + len(inserts) + len(reinstate) - len(withdraw) - len(uninvited_gone)
    if result.dry_run:
        result.invited = len(inserts)
        if progress:
            progress(len(people))
        return result

    if inserts:
        db.session.execute(insert(RegisterPerson.__table__), inserts)
    if updates:
        db.session.execute(update(RegisterPerson), updates)
    if uninvited_gone:
        db.session.execute(
            delete(RegisterPerson)
            .where(RegisterPerson.id.in_(uninvited_gone))
            .execution_options(synchronize_session=False)
        )
    now = datetime.now(UTC)
    for batch in _batches(withdraw, BATCH_SIZE):
        db.session.execute(
            update(Invitation)
            .where(Invitation.id.in_(batch), Invitation.submitted.is_(False))
            .values(withdrawn_at=now)
            .execution_options(synchronize_session=False)
        )
        # Claims no sender has tried yet go: a withdrawn person gets no mail after all.
        db.session.execute(
            delete(MailDelivery)
            .where(
                MailDelivery.invitation_id.in_(batch),
                MailDelivery.attempts == 0,
                MailDelivery.sent_at.is_(None),
                MailDelivery.error.is_(None),
            )
            .execution_options(synchronize_session=False)
        )
    for batch in _batches(reinstate, BATCH_SIZE):
        db.session.execute(
            update(Invitation)
            .where(Invitation.id.in_(batch))
            .values(withdrawn_at=None)
            .execution_options(synchronize_session=False)
        )
    result.invited = invite_register(wave)
    wave.base_population = count_register(wave.id)
    result.total = wave.base_population
    wave.register_mapping = {
        **mapping.to_json(),
        "file": table.describe(),
        "imported_at": now.isoformat(timespec="seconds"),
    }
    if progress:
        progress(len(people))
    audit.record(
        "register_updated",
        actor,
        wave.slug,
        file=table.filename,
        rows=len(people),
        added=result.added,
        updated=result.updated,
        unchanged=result.unchanged,
        withdrawn=result.withdrawn,
        reinstated=result.reinstated,
        kept_submitted=result.kept_submitted,
        invited=result.invited,
        total=result.total,
        via=via,
    )
    return result


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def margins(wave: Wave, questionnaire: Questionnaire, *, lang: str = "nl") -> list[Margin]:
    """Per group column of the wave's register: the count of each code (zero counts included)."""
    query = select(RegisterPerson.groups).where(RegisterPerson.wave_id == wave.id)
    return margins_of(db.session.scalars(query), wave, questionnaire, lang=lang)


def margins_of(
    people_groups: Iterable[Mapping[str, Any] | None],
    wave: Wave,
    questionnaire: Questionnaire,
    *,
    lang: str = "nl",
) -> list[Margin]:
    """The margins of a register given as each person's groups."""
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    people = 0
    for groups in people_groups:
        people += 1
        for key, value in (groups or {}).items():
            counts[key][str(value)] += 1
    questions = {_register_column(q): q for q in group_questions(questionnaire)}
    mapped = [g["key"] for g in (wave.register_mapping or {}).get("groups", []) if isinstance(g, Mapping)]
    keys = [k for k in questions if k in counts or k in mapped]
    keys += [k for k in mapped if k not in keys]
    keys += sorted(k for k in counts if k not in keys)
    result = []
    for key in keys:
        counter = Counter(counts.get(key, Counter()))
        missing = people - sum(counter.values())
        question = questions.get(key)
        rows = []
        if question is not None and question.choices:
            for choice in question.choices:
                rows.append(MarginRow(choice.code, localize(choice.label, lang), counter.pop(choice.code, 0)))
        rows += [MarginRow(code, None, n) for code, n in counter.most_common(50)]
        result.append(Margin(key, question, rows, missing))
    return result


def register_size(wave: Wave) -> int:
    return int(
        db.session.execute(
            select(func.count()).select_from(RegisterPerson).where(RegisterPerson.wave_id == wave.id)
        ).scalar_one()
    )


# --- retention ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeResult:
    wave: str
    purged: bool
    people: int
    due_on: date | None
    reason: str


def purge_due_on(wave: Wave) -> date | None:
    """The day a wave's personal data must go: its closing day plus the retention period."""
    if wave.closes_on is None:
        return None
    return wave.closes_on + timedelta(days=wave.retention_days)


def purge_personal_data(
    wave: Wave, now: datetime, *, force: bool = False, actor: str | None = None, via: str = "web"
) -> PurgeResult:
    """Blank e-mail and name (and pseudonymise the staff number) once the retention period is over.

    The groups stay (the margins and reach need them). ``force`` purges before the due date.
    Sets ``wave.personal_data_purged_at`` and records an audit event; does not commit.
    """
    due_on = purge_due_on(wave)
    if not force:
        if wave.personal_data_purged_at is not None:
            return PurgeResult(wave.slug, False, 0, due_on, _("already purged"))
        if due_on is None:
            return PurgeResult(wave.slug, False, 0, None, _("the wave has no closing date"))
        if now.date() < due_on:
            return PurgeResult(
                wave.slug, False, 0, due_on, _("not due before %(day)s", day=due_on.isoformat())
            )
    # The staff number is personal data too: it becomes a pseudonym unique within the wave.
    pseudonym = literal("purged-") + cast(RegisterPerson.id, String)
    outcome = db.session.execute(
        update(RegisterPerson)
        .where(
            RegisterPerson.wave_id == wave.id,
            (RegisterPerson.email.is_not(None))
            | (RegisterPerson.name.is_not(None))
            | (RegisterPerson.person_key.not_like("purged-%")),
        )
        .values(email=None, name=None, person_key=pseudonym)
        .execution_options(synchronize_session=False)
    )
    people = int(outcome.rowcount or 0)  # type: ignore[attr-defined]
    from surveyapp.services.register_jobs import forget_results

    forget_results(wave)  # the reports of register jobs quote the file's values
    wave.personal_data_purged_at = now
    audit.record(
        "personal_data_purged",
        actor,
        wave.slug,
        people=people,
        forced=force,
        due_on=due_on.isoformat() if due_on else None,
        via=via,
    )
    reason = _("forced") if force else _("retention period over")
    return PurgeResult(wave.slug, True, people, due_on, reason)
