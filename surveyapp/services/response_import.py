"""Import an earlier wave's responses from a CSV (or XLSX) export into a wave.

Columns are named by question id, the KoboToolbox/ODK export convention: a multiple-choice
question is one 0/1 column per code (``qid/code``; a ``qid`` column with the chosen codes
separated by spaces works too), a matrix question one column per row (``qid/item``). Group
prefixes such as ``page/qid`` are stripped, metadata columns (``_id``, ``_uuid``,
``_submission_time``, ``meta/instanceID``, ``start``, ``end``...) are ignored, except that the
submission day (``submitted_on``, ``_submission_time`` or ``end``) and ``language`` are used.

Every value is checked against the wave's questionnaire version and stored exactly as the
web form stores it: codes as strings, multiple choice as a list of codes, numbers as int or
float, text as str. Answers to questions the respondent should not have seen are dropped with
a warning. One problem anywhere and nothing is stored (all-or-nothing per file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, select

from surveyapp.extensions import db
from surveyapp.models import Response, Wave, random_response_id
from surveyapp.questionnaire.model import Question, Questionnaire
from surveyapp.services import audit
from surveyapp.services.register import (
    BATCH_SIZE,
    Problem,
    ProblemList,
    Progress,
    Table,
    _,
    code_lookup,
    language_code,
    normalise_value,
    range_text,
    unknown_code,
)
from surveyapp.survey.service import questionnaire_of

DATE_COLUMNS = ("submitted_on", "_submission_time", "end", "today")
LANGUAGE_COLUMNS = ("language", "_language", "taal")
# KoboToolbox/ODK metadata columns; every column starting with "_" is metadata too.
META_COLUMNS = {
    "start",
    "end",
    "today",
    "deviceid",
    "subscriberid",
    "simserial",
    "phonenumber",
    "username",
    "audit",
    "instanceid",
    "formhub/uuid",
    "submitted_on",
    "language",
    "taal",
}
META_PREFIXES = ("_", "meta/", "formhub/")
TEXT_LIMITS = {"text": 300, "long_text": 5000}
TRUE_WORDS = {"1", "true", "yes", "ja", "waar", "x"}
FALSE_WORDS = {"0", "false", "no", "nee", "onwaar"}


class ResponseImportError(ValueError):
    """Responses cannot be imported into this wave at all (e.g. an archived wave)."""


class WebResponsesError(ResponseImportError):
    """The wave has web responses and the importer is not an admin."""


@dataclass(frozen=True)
class ColumnRole:
    """What one file column holds."""

    header: str
    kind: str  # "value" | "multi_flag" | "multi_list" | "date" | "language" | "ignored"
    question: Question | None = None
    key: str | None = None  # the answer key (qid or qid/item)
    code: str | None = None  # for multi_flag: the code this 0/1 column stands for


@dataclass(frozen=True)
class ParsedResponse:
    line: int
    submitted_on: date
    language: str
    answers: dict[str, Any]


@dataclass
class ResponseImportResult:
    rows: int = 0
    imported: int = 0
    replaced: int = 0
    existing: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[Problem] = field(default_factory=list)
    warning_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


def plan_columns(table: Table, questionnaire: Questionnaire, problems: ProblemList) -> list[ColumnRole]:
    """The role of every column; unknown columns are problems (on the header line)."""
    questions = {q.id: q for q in questionnaire.questions}
    roles: list[ColumnRole] = []
    date_taken = language_taken = False
    for header in table.headers:
        name = header.strip()
        lowered = name.lower()
        parts = [p for p in lowered.split("/") if p]
        # Strip group prefixes ("page/qid/code"): start at the first part that is a question id.
        start = next((i for i, part in enumerate(parts) if part in questions), None)
        if start is None:
            if lowered in DATE_COLUMNS and not date_taken and lowered not in questions:
                roles.append(ColumnRole(header, "date"))
                date_taken = True
            elif lowered in LANGUAGE_COLUMNS and not language_taken:
                roles.append(ColumnRole(header, "language"))
                language_taken = True
            elif lowered in META_COLUMNS or lowered.startswith(META_PREFIXES):
                roles.append(ColumnRole(header, "ignored"))
            else:
                problems.add(
                    1,
                    header,
                    _("unknown column: the questionnaire has no question %(name)s", name=repr(name)),
                )
                roles.append(ColumnRole(header, "ignored"))
            continue
        qid, rest = parts[start], parts[start + 1 :]
        question = questions[qid]
        sub = "/".join(rest) if rest else None
        role = _question_column(header, question, sub, problems)
        roles.append(role)
    return roles


def _question_column(header: str, question: Question, sub: str | None, problems: ProblemList) -> ColumnRole:
    qid = question.id
    if question.type == "info":
        problems.add(
            1, header, _("unknown column: %(qid)s is an information text, not a question", qid=repr(qid))
        )
        return ColumnRole(header, "ignored")
    if question.type == "matrix":
        items = {item.id.lower(): item.id for item in question.items}
        if sub is None:
            problems.add(
                1,
                header,
                _("matrix question %(qid)s needs one column per row (%(qid)s/ROW), not one column", qid=qid),
            )
            return ColumnRole(header, "ignored")
        if sub not in items:
            problems.add(
                1,
                header,
                _(
                    "unknown column: %(row)s is not a row of matrix question %(qid)s (rows: %(rows)s)",
                    row=repr(sub),
                    qid=qid,
                    rows=", ".join(items.values()),
                ),
            )
            return ColumnRole(header, "ignored")
        return ColumnRole(header, "value", question, f"{qid}/{items[sub]}")
    if question.type == "multiple_choice":
        if sub is None:
            return ColumnRole(header, "multi_list", question, qid)
        codes = {normalise_value(code): code for code in question.codes}
        code = codes.get(normalise_value(sub))
        if code is None:
            problems.add(
                1,
                header,
                _(
                    "unknown column: %(code)s is not a code of multiple-choice question %(qid)s "
                    "(codes: %(codes)s)",
                    code=repr(sub),
                    qid=qid,
                    codes=", ".join(question.codes),
                ),
            )
            return ColumnRole(header, "ignored")
        return ColumnRole(header, "multi_flag", question, qid, code)
    if sub is not None:
        problems.add(
            1,
            header,
            _("unknown column: question %(qid)s (%(type)s) has no sub-columns", qid=qid, type=question.type),
        )
        return ColumnRole(header, "ignored")
    return ColumnRole(header, "value", question, qid)


def _parse_date(text: str) -> date | None:
    value = text.strip()
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = re.match(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b", value)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _number(question: Question, raw: str) -> tuple[int | float | None, str | None]:
    """The number as the web form stores it, or why it is not acceptable."""
    text = raw.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # Dutch decimal comma
    try:
        value = float(text)
    except ValueError:
        return None, _("%(value)s is not a number", value=repr(raw))
    if value != value or value in (float("inf"), float("-inf")):
        return None, _("%(value)s is not a number", value=repr(raw))
    if question.integer:
        if not value.is_integer():
            return None, _("%(value)s is not a whole number", value=repr(raw))
        number: int | float = int(value)
    else:
        number = value
    low, high = question.minimum, question.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        return None, range_text(raw, low, high)
    return number, None


def unanswered_required(questionnaire: Questionnaire, answers: dict[str, Any]) -> list[str]:
    """Answer keys of visible required questions (matrix rows included) without an answer."""
    missing: list[str] = []
    for question in questionnaire.questions:
        if not question.required or not questionnaire.question_visible(question, answers):
            continue
        keys = questionnaire.shown_answer_keys(question, answers)
        missing += [key for key in keys if answers.get(key) in (None, "", [])]
    return missing


def parse_responses(
    table: Table,
    questionnaire: Questionnaire,
    *,
    default_date: date,
    default_language: str = "nl",
) -> tuple[list[ParsedResponse], ProblemList, ProblemList, list[str]]:
    """Every row as answers; problems and warnings with line and column; ignored columns."""
    problems, warnings = ProblemList(), ProblemList()
    problems.extend(table.problems)
    roles = plan_columns(table, questionnaire, problems)
    ignored = [role.header for role in roles if role.kind == "ignored"]
    if problems:
        return [], problems, warnings, ignored
    lookups: dict[str, dict[str, str]] = {}
    for role in roles:
        if role.question is not None and role.question.id not in lookups:
            lookups[role.question.id] = code_lookup(role.question) if role.question.choices else {}
    headers_of: dict[str, list[str]] = {}
    for role in roles:
        if role.key:
            headers_of.setdefault(role.key, []).append(role.header)
    languages = list(questionnaire.languages)
    parsed: list[ParsedResponse] = []
    for line, cells in table.rows:
        ok = True
        answers: dict[str, Any] = {}
        flags: dict[str, set[str]] = {}
        flagged: set[str] = set()
        listed: dict[str, set[str]] = {}
        submitted_on, language = default_date, default_language
        for role, raw_cell in zip(roles, cells, strict=True):
            raw = raw_cell.strip()
            if role.kind == "ignored" or not raw:
                continue
            if role.kind == "date":
                found_date = _parse_date(raw)
                if found_date is None:
                    problems.add(
                        line, role.header, _("%(value)s is not a date (use YYYY-MM-DD)", value=repr(raw))
                    )
                    ok = False
                else:
                    submitted_on = found_date
                continue
            if role.kind == "language":
                found_language = language_code(raw, languages)
                if found_language is None:
                    problems.add(
                        line,
                        role.header,
                        _(
                            "unknown language %(value)s (allowed: %(allowed)s)",
                            value=repr(raw),
                            allowed=", ".join(languages),
                        ),
                    )
                    ok = False
                else:
                    language = found_language
                continue
            question = role.question
            assert question is not None and role.key is not None
            if role.kind == "multi_flag":
                assert role.code is not None
                word = normalise_value(raw)
                flagged.add(role.key)
                if word in TRUE_WORDS:
                    flags.setdefault(role.key, set()).add(role.code)
                elif word not in FALSE_WORDS:
                    problems.add(
                        line,
                        role.header,
                        _("%(value)s is not 0 or 1 (chosen or not chosen)", value=repr(raw)),
                    )
                    ok = False
                continue
            if role.kind == "multi_list":
                chosen = listed.setdefault(role.key, set())
                for token in raw.replace(",", " ").replace(";", " ").split():
                    code = lookups[question.id].get(normalise_value(token))
                    if code is None or code not in question.codes:
                        problems.add(
                            line,
                            role.header,
                            unknown_code(token, question.id, ", ".join(question.codes)),
                        )
                        ok = False
                    else:
                        chosen.add(code)
                continue
            value, error = _value(question, raw, lookups[question.id])
            if error:
                problems.add(line, role.header, error)
                ok = False
            else:
                answers[role.key] = value
        for key in flagged | set(listed):
            question = questionnaire.question(key)
            if key in flagged and key in listed and flags.get(key, set()) != listed[key]:
                problems.add(
                    line,
                    key,
                    _(
                        "the column %(key)s and the %(key)s/CODE columns disagree about which options "
                        "were chosen",
                        key=key,
                    ),
                )
                ok = False
                continue
            chosen = flags.get(key, set()) | listed.get(key, set())
            if chosen:
                answers[key] = [code for code in question.codes if code in chosen]
        if not ok:
            continue
        kept = questionnaire.clean_answers(answers)
        for key in answers:
            if key not in kept:
                for header in headers_of.get(key, [key])[:1]:
                    warnings.add(
                        line,
                        header,
                        _(
                            "an answer to a question this respondent should not have seen (hidden by a "
                            "condition): dropped"
                        ),
                    )
        missing = unanswered_required(questionnaire, kept)
        for key in missing:
            header = headers_of.get(key, [key])[0]
            problems.add(line, header, _("the required question %(key)s has no answer", key=key))
        if missing:
            continue
        parsed.append(ParsedResponse(line, submitted_on, language, kept))
    return parsed, problems, warnings, ignored


def _value(question: Question, raw: str, lookup: dict[str, str]) -> tuple[Any, str | None]:
    if question.type in {"single_choice", "yes_no", "rating", "matrix"}:
        code = lookup.get(normalise_value(raw))
        if code is None:
            return None, unknown_code(raw, question.id, ", ".join(question.codes))
        return code, None
    if question.type == "number":
        return _number(question, raw)
    limit = question.max_length or TEXT_LIMITS.get(question.type, 300)
    if len(raw) > limit:
        return None, _(
            "the answer has %(length)d characters; at most %(max)d are allowed", length=len(raw), max=limit
        )
    return raw, None


def import_responses(
    wave: Wave,
    table: Table,
    *,
    actor: str | None,
    replace: bool = False,
    dry_run: bool = False,
    default_date: date | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    via: str = "web",
    allow_web_responses: bool = False,
) -> ResponseImportResult:
    """Validate a responses file against the wave's questionnaire and store it (no commit).

    Nothing is stored when any row has a problem. A wave that already has imported responses
    only takes a new file with ``replace`` (which deletes the earlier imported ones), so
    importing the same file twice never doubles the responses.

    A wave that respondents have answered on the web takes imported responses only with
    ``allow_web_responses`` (an admin's decision): mixed in unseen, outside answers would
    change the results of a live survey.
    """
    if wave.state == "archived":
        raise ResponseImportError(_("wave %(wave)s is archived: its responses cannot change", wave=wave.slug))
    web = web_response_count(wave)
    if web and not allow_web_responses:
        raise WebResponsesError(
            _(
                "wave %(wave)s already has %(count)d responses from the web: only an admin may import "
                "responses into it",
                wave=wave.slug,
                count=web,
            )
        )
    questionnaire = questionnaire_of(wave.questionnaire_version)
    fallback = default_date or wave.closes_on or wave.opens_on or date.today()
    language = "nl" if "nl" in questionnaire.languages else questionnaire.languages[0]
    parsed, problems, warnings, ignored = parse_responses(
        table, questionnaire, default_date=fallback, default_language=language
    )
    existing = int(
        db.session.execute(
            select(func.count())
            .select_from(Response)
            .where(Response.wave_id == wave.id, Response.source == "import")
        ).scalar_one()
    )
    if existing and not replace:
        problems.add(
            None,
            None,
            _(
                "wave %(wave)s already has %(count)d imported responses: choose 'replace' to replace "
                "them with this file",
                wave=wave.slug,
                count=existing,
            ),
        )
    result = ResponseImportResult(
        rows=len(table.rows) + len(table.problems),
        existing=existing,
        problems=problems.sorted(),
        problem_count=problems.count,
        warnings=warnings.sorted(),
        warning_count=warnings.count,
        ignored_columns=ignored,
        dry_run=dry_run,
    )
    if problems:
        return result
    result.imported = len(parsed)
    result.replaced = existing if replace else 0
    if dry_run:
        if progress:
            progress(len(parsed))
        return result
    if replace and existing:
        db.session.execute(
            delete(Response)
            .where(Response.wave_id == wave.id, Response.source == "import")
            .execution_options(synchronize_session=False)
        )
    rows = [
        {
            "id": random_response_id(),
            "wave_id": wave.id,
            "questionnaire_version_id": wave.questionnaire_version_id,
            "submitted_on": response.submitted_on,
            "language": response.language,
            "source": "import",
            "answers": response.answers,
        }
        for response in parsed
    ]
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        db.session.execute(insert(Response), batch)
        if progress:
            progress(len(batch))
    audit.record(
        "responses_imported",
        actor,
        wave.slug,
        file=table.filename,
        imported=result.imported,
        replaced=result.replaced,
        warnings=result.warning_count,
        via=via,
        **({"web_responses": web} if web else {}),
    )
    return result


def web_response_count(wave: Wave) -> int:
    """How many responses of the wave came from the web form (not from an import)."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Response)
            .where(Response.wave_id == wave.id, Response.source != "import")
        ).scalar_one()
    )


def answer_columns(questionnaire: Questionnaire) -> Sequence[str]:
    """The column names a complete export of this questionnaire has (for a template file)."""
    columns: list[str] = ["submitted_on", "language"]
    for question in questionnaire.questions:
        if question.type == "multiple_choice":
            columns += [f"{question.id}/{code}" for code in question.codes]
        else:
            columns += question.variable_names()
    return columns
