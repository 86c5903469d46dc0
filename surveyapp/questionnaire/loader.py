"""Load and validate questionnaire files (YAML), reporting every problem at once.

The loader never stops at the first mistake: a planner editing a file gets the full list of
problems, each with where it is, the question id and what is wrong. A questionnaire with any
problem is refused (``QuestionnaireError``); the app never runs an invalid one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surveyapp.questionnaire import expressions
from surveyapp.questionnaire.model import (
    MEASURE_TYPES,
    NO,
    QUESTION_TYPES,
    YES,
    Choice,
    MatrixItem,
    Measure,
    Page,
    QuasiIdentifier,
    Question,
    Questionnaire,
    RecodeGroup,
    Subject,
)
from surveyapp.yaml_files import FileProblemsError, YamlSyntaxError, content_hash, read_yaml

FORMAT = "surveyapp/1"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
REQUIRED_LANGUAGE = "nl"
CHOICE_TYPES = {"single_choice", "multiple_choice", "rating"}
DEFAULT_MAX_LENGTH = {"text": 300, "long_text": 5000}

# Which question types each measure may sit on.
MEASURE_QUESTION_TYPES: dict[str, set[str]] = {
    "awareness": {"single_choice", "yes_no", "rating", "matrix"},
    "usage": {"single_choice", "yes_no", "matrix"},
    "satisfaction": {"rating", "matrix", "single_choice"},
    "need": {"multiple_choice", "single_choice", "yes_no", "matrix", "rating"},
    "missing_offer": {"yes_no", "single_choice", "multiple_choice", "text", "long_text"},
    "help_type": {"multiple_choice"},
    "suggestion": {"text", "long_text"},
    "group": {"single_choice", "yes_no", "number"},
}
MEASURES_WITH_POSITIVE = {"awareness", "usage", "satisfaction", "need"}

TOP_KEYS = {
    "format",
    "id",
    "version",
    "title",
    "audience",
    "languages",
    "organisation",
    "estimated_minutes",
    "welcome",
    "thanks",
    "choice_lists",
    "subjects",
    "pages",
    "disclosure",
}
DISCLOSURE_KEYS = {"quasi_identifiers"}
QUASI_IDENTIFIER_KEYS = {"question", "register_column", "hierarchy", "top_code"}
QUASI_IDENTIFIER_TYPES = {"single_choice", "yes_no", "number"}
PAGE_KEYS = {"id", "title", "intro", "show_if", "questions"}
QUESTION_KEYS = {
    "id",
    "type",
    "label",
    "help",
    "required",
    "choices",
    "scale",
    "items",
    "item_show_if",
    "min",
    "max",
    "integer",
    "max_length",
    "show_if",
    "implied_if_hidden",
    "measure",
}
MEASURE_KEYS = {"type", "subject", "positive", "exclude", "register_column", "funnel_step", "aspect"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a questionnaire file."""

    location: str
    message: str
    question_id: str | None = None

    def __str__(self) -> str:
        where = self.location + (f" (question '{self.question_id}')" if self.question_id else "")
        return f"{where}: {self.message}"


class QuestionnaireError(FileProblemsError):
    """A questionnaire file with problems; ``problems`` lists them all."""

    problems: list[Problem]


def load_questionnaire(path: str | Path) -> Questionnaire:
    """Read, validate and build a questionnaire from a YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(str(path), [Problem("file", f"cannot be read: {exc}")]) from exc
    return parse_questionnaire(text, source=str(path))


def parse_questionnaire(text: str, source: str = "<questionnaire>") -> Questionnaire:
    """Validate questionnaire YAML text and build the model."""
    try:
        data = read_yaml(text)
    except YamlSyntaxError as exc:
        raise QuestionnaireError(source, [Problem(exc.where, exc.message)]) from exc
    return build_questionnaire(data, source=source)


def build_questionnaire(data: Any, source: str = "<questionnaire>") -> Questionnaire:
    """Validate already-parsed questionnaire data (YAML or stored JSON) and build the model."""
    builder = _Builder(source)
    questionnaire = builder.build(data)
    if builder.problems or questionnaire is None:
        raise QuestionnaireError(source, builder.problems)
    return questionnaire


def check_file(path: str | Path) -> list[Problem]:
    """Every problem of a questionnaire file (empty when it is valid)."""
    try:
        load_questionnaire(path)
    except QuestionnaireError as exc:
        return exc.problems
    return []


def _code(value: Any) -> str:
    """Codes are text; YAML turns `5` into an int and `yes` into a bool, so undo that."""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.languages: tuple[str, ...] = (REQUIRED_LANGUAGE,)
        self.choice_lists: dict[str, tuple[Choice, ...]] = {}
        self.subjects: dict[str, Subject] = {}

    def error(self, location: str, message: str, question_id: str | None = None) -> None:
        self.problems.append(Problem(location, message, question_id))

    # --- helpers -------------------------------------------------------------------------------

    def mapping(self, value: Any, location: str, qid: str | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(location, f"must be a mapping (key: value), not {type(value).__name__}", qid)
            return {}
        return value

    def unknown_keys(
        self, data: dict[str, Any], allowed: set[str], location: str, qid: str | None = None
    ) -> None:
        for key in data:
            if key not in allowed:
                self.error(location, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})", qid)

    def ident(self, value: Any, location: str, what: str, qid: str | None = None) -> str | None:
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            self.error(
                location,
                f"{what} {value!r} must be lower-case letters, digits and _ (starting with a letter)",
                qid,
            )
            return None
        return value

    def text(
        self, value: Any, location: str, qid: str | None = None, *, required: bool = True
    ) -> dict[str, str] | None:
        if value is None:
            if required:
                self.error(location, "is missing", qid)
            return None
        if isinstance(value, str):
            # A bare string is Dutch only; fine for a draft, but every language must be present.
            value = {REQUIRED_LANGUAGE: value}
        if not isinstance(value, dict):
            self.error(location, "must be a text per language, e.g. {nl: ..., en: ...}", qid)
            return None
        result: dict[str, str] = {}
        for lang, text in value.items():
            if lang not in self.languages:
                self.error(location, f"language {lang!r} is not in the questionnaire's languages", qid)
            elif not isinstance(text, str) or not text.strip():
                self.error(location, f"the {lang!r} text is empty", qid)
            else:
                result[lang] = text.strip()
        for lang in self.languages:
            if lang not in value:
                self.error(location, f"the {lang!r} translation is missing", qid)
        return result

    # --- top level -------------------------------------------------------------------------------

    def build(self, data: Any) -> Questionnaire | None:
        if data is None:
            self.error("file", "is empty")
            return None
        top = self.mapping(data, "file")
        if not isinstance(data, dict):
            return None
        self.unknown_keys(top, TOP_KEYS, "file")
        if top.get("format", FORMAT) != FORMAT:
            self.error("format", f"unsupported format {top.get('format')!r}; expected {FORMAT!r}")
        qn_id = self.ident(top.get("id"), "id", "questionnaire id") if "id" in top else None
        if "id" not in top:
            self.error("id", "is missing")

        languages = top.get("languages", [REQUIRED_LANGUAGE])
        if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
            self.error("languages", "must be a list of language codes such as [nl, en]")
            languages = [REQUIRED_LANGUAGE]
        if REQUIRED_LANGUAGE not in languages:
            self.error("languages", "must include 'nl' (Dutch is required)")
            languages = [REQUIRED_LANGUAGE, *languages]
        if len(set(languages)) != len(languages):
            self.error("languages", "lists a language twice")
        # Dutch first: it is the default and the fallback of every text.
        self.languages = tuple(dict.fromkeys([REQUIRED_LANGUAGE, *languages]))

        title = self.text(top.get("title"), "title")
        welcome = self.text(top.get("welcome"), "welcome", required=False)
        thanks = self.text(top.get("thanks"), "thanks", required=False)
        organisation = self.text(top.get("organisation"), "organisation", required=False)
        minutes = top.get("estimated_minutes")
        if minutes is not None and (
            not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0
        ):
            self.error("estimated_minutes", "must be a positive whole number")
            minutes = None
        audience = top.get("audience", "gerechtigden")
        if not isinstance(audience, str) or not ID_PATTERN.match(audience.replace("-", "_")):
            self.error("audience", "must be a short name such as 'gerechtigden'")
            audience = "gerechtigden"

        self.build_choice_lists(top.get("choice_lists", {}))
        self.build_subjects(top.get("subjects", []))
        pages = self.build_pages(top.get("pages"))
        if pages:
            self.check_conditions(pages)
        quasi_identifiers = self.build_disclosure(top.get("disclosure"), pages)
        version = top.get("version")
        return Questionnaire(
            id=qn_id or "invalid",
            title=title or {},
            languages=self.languages,
            pages=tuple(pages),
            subjects=tuple(self.subjects.values()),
            content_hash=content_hash(top) if not self.problems else "",
            audience=audience,
            welcome=welcome,
            thanks=thanks,
            organisation=organisation,
            estimated_minutes=minutes,
            version_label=str(version) if version is not None else None,
            declared_quasi_identifiers=quasi_identifiers,
            source=top,
        )

    def build_choices(self, raw: Any, location: str, qid: str | None = None) -> tuple[Choice, ...]:
        if not isinstance(raw, list) or not raw:
            self.error(location, "must be a non-empty list of choices ({code, label})", qid)
            return ()
        choices: list[Choice] = []
        seen: set[str] = set()
        for index, entry in enumerate(raw):
            where = f"{location}[{index}]"
            item = self.mapping(entry, where, qid)
            if not isinstance(entry, dict):
                continue
            self.unknown_keys(item, {"code", "label", "missing"}, where, qid)
            if "code" not in item or item["code"] is None or _code(item["code"]).strip() == "":
                self.error(where, "choice has no code", qid)
                continue
            code = _code(item["code"])
            if "/" in code or len(code) > 40:
                self.error(where, f"code {code!r} must be short and must not contain '/'", qid)
            if code in seen:
                self.error(where, f"duplicate choice code {code!r}", qid)
            seen.add(code)
            label = self.text(item.get("label"), f"{where}.label", qid)
            choices.append(Choice(code, label or {}, bool(item.get("missing", False))))
        return tuple(choices)

    def build_choice_lists(self, raw: Any) -> None:
        lists = self.mapping(raw, "choice_lists")
        for name, entries in lists.items():
            if self.ident(name, f"choice_lists.{name}", "choice list name") is None:
                continue
            self.choice_lists[name] = self.build_choices(entries, f"choice_lists.{name}")

    def build_subjects(self, raw: Any) -> None:
        if not isinstance(raw, list):
            self.error("subjects", "must be a list of {id, label}")
            return
        for index, entry in enumerate(raw):
            where = f"subjects[{index}]"
            item = self.mapping(entry, where)
            if not isinstance(entry, dict):
                continue
            self.unknown_keys(item, {"id", "label", "kind"}, where)
            sid = self.ident(item.get("id"), where, "subject id")
            if sid is None:
                continue
            if sid in self.subjects:
                self.error(where, f"duplicate subject id {sid!r}")
                continue
            label = self.text(item.get("label"), f"{where}.label")
            kind = item.get("kind", "offering")
            if kind not in {"service", "offering", "assistant"}:
                self.error(where, f"kind {kind!r} must be service, offering or assistant")
            self.subjects[sid] = Subject(sid, label or {}, str(kind))

    def resolve_choices(self, raw: Any, location: str, qid: str) -> tuple[Choice, ...]:
        if isinstance(raw, str):
            if raw not in self.choice_lists:
                self.error(location, f"unknown choice list {raw!r}", qid)
                return ()
            return self.choice_lists[raw]
        return self.build_choices(raw, location, qid)

    # --- pages and questions ---------------------------------------------------------------------

    def build_pages(self, raw: Any) -> list[Page]:
        if not isinstance(raw, list) or not raw:
            self.error("pages", "must be a non-empty list of pages")
            return []
        pages: list[Page] = []
        page_ids: set[str] = set()
        question_ids: set[str] = set()
        for p_index, entry in enumerate(raw):
            where = f"pages[{p_index}]"
            page = self.mapping(entry, where)
            if not isinstance(entry, dict):
                continue
            self.unknown_keys(page, PAGE_KEYS, where)
            pid = self.ident(page.get("id"), where, "page id") or f"page_{p_index}"
            if pid in page_ids:
                self.error(where, f"duplicate page id {pid!r}")
            page_ids.add(pid)
            questions: list[Question] = []
            raw_questions = page.get("questions")
            if not isinstance(raw_questions, list) or not raw_questions:
                self.error(where, "a page needs a non-empty list of questions")
                raw_questions = []
            for q_index, q_entry in enumerate(raw_questions):
                question = self.build_question(q_entry, f"{where}.questions[{q_index}]", pid)
                if question is None:
                    continue
                if question.id in question_ids:
                    self.error(f"{where}.questions[{q_index}]", "duplicate question id", question.id)
                    continue
                question_ids.add(question.id)
                questions.append(question)
            show_if_source = page.get("show_if")
            pages.append(
                Page(
                    id=pid,
                    title=self.text(page.get("title"), f"{where}.title") or {},
                    questions=tuple(questions),
                    intro=self.text(page.get("intro"), f"{where}.intro", required=False),
                    show_if=self.parse_condition(show_if_source, f"{where}.show_if", None),
                    show_if_source=str(show_if_source) if show_if_source is not None else None,
                )
            )
        return pages

    def parse_condition(self, source: Any, location: str, qid: str | None) -> expressions.Expr | None:
        if source is None:
            return None
        if not isinstance(source, str):
            self.error(location, "a condition must be text such as \"status = 'actief'\"", qid)
            return None
        try:
            return expressions.parse(source)
        except expressions.ExpressionError as exc:
            self.error(location, f"condition {source!r}: {exc}", qid)
            return None

    def build_question(self, entry: Any, where: str, page_id: str) -> Question | None:
        raw = self.mapping(entry, where)
        if not isinstance(entry, dict):
            return None
        qid = self.ident(raw.get("id"), where, "question id")
        if qid is None:
            return None
        self.unknown_keys(raw, QUESTION_KEYS, where, qid)
        qtype = raw.get("type")
        if qtype not in QUESTION_TYPES:
            self.error(where, f"unknown type {qtype!r} (types: {', '.join(QUESTION_TYPES)})", qid)
            return None
        label = self.text(raw.get("label"), f"{where}.label", qid)
        help_text = self.text(raw.get("help"), f"{where}.help", qid, required=False)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            self.error(where, "required must be true or false", qid)
            required = False
        if qtype == "info" and required:
            self.error(where, "an information text cannot be required", qid)
            required = False

        choices: tuple[Choice, ...] = ()
        if qtype in CHOICE_TYPES or qtype == "matrix":
            key = "scale" if qtype in {"rating", "matrix"} else "choices"
            if key not in raw:
                self.error(where, f"a {qtype} question needs '{key}'", qid)
            else:
                choices = self.resolve_choices(raw[key], f"{where}.{key}", qid)
            if qtype == "rating":
                numeric = [c.code for c in choices if not c.missing]
                if any(not _numeric(code) for code in numeric):
                    self.error(
                        f"{where}.scale",
                        "a rating scale's codes must be numbers; mark 'not applicable' "
                        "choices with missing: true",
                        qid,
                    )
        elif qtype == "yes_no":
            choices = (
                Choice(YES, {lang: {"nl": "Ja", "fr": "Oui"}.get(lang, "Yes") for lang in self.languages}),
                Choice(NO, {lang: {"nl": "Nee", "fr": "Non"}.get(lang, "No") for lang in self.languages}),
            )
        for key in ("choices", "scale"):
            if key in raw and not (qtype in CHOICE_TYPES or qtype == "matrix"):
                self.error(where, f"'{key}' does not apply to a {qtype} question", qid)

        items = self.build_items(raw, where, qid, qtype)
        minimum, maximum, integer = self.number_bounds(raw, where, qid, qtype)
        max_length = raw.get("max_length", DEFAULT_MAX_LENGTH.get(qtype))
        if "max_length" in raw and qtype not in DEFAULT_MAX_LENGTH:
            self.error(where, f"max_length does not apply to a {qtype} question", qid)
        elif max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool) or max_length <= 0
        ):
            self.error(where, "max_length must be a positive whole number", qid)
            max_length = DEFAULT_MAX_LENGTH.get(qtype)

        show_if_source = raw.get("show_if")
        show_if = self.parse_condition(show_if_source, f"{where}.show_if", qid)
        implied = raw.get("implied_if_hidden")
        implied_code = _code(implied) if implied is not None else None
        if implied_code is not None:
            if show_if is None and "item_show_if" not in raw and not any(i.show_if for i in items):
                self.error(where, "implied_if_hidden needs a show_if condition", qid)
            elif qtype not in {"single_choice", "yes_no", "rating", "matrix"}:
                self.error(where, f"implied_if_hidden does not apply to a {qtype} question", qid)
            elif implied_code not in {c.code for c in choices}:
                self.error(where, f"implied_if_hidden {implied_code!r} is not one of the codes", qid)

        measure = self.build_measure(raw.get("measure"), where, qid, qtype, choices, items)
        return Question(
            id=qid,
            type=qtype,
            label=label or {},
            page_id=page_id,
            help=help_text,
            required=required,
            choices=choices,
            items=items,
            minimum=minimum,
            maximum=maximum,
            integer=integer,
            max_length=max_length if qtype in DEFAULT_MAX_LENGTH else None,
            show_if=show_if,
            show_if_source=str(show_if_source) if show_if_source is not None else None,
            implied_if_hidden=implied_code,
            measure=measure,
        )

    def build_items(self, raw: dict[str, Any], where: str, qid: str, qtype: str) -> tuple[MatrixItem, ...]:
        if qtype != "matrix":
            for key in ("items", "item_show_if"):
                if key in raw:
                    self.error(where, f"'{key}' only applies to a matrix question", qid)
            return ()
        spec = raw.get("items")
        entries: list[Any] = []
        if spec == "subjects":
            if not self.subjects:
                self.error(f"{where}.items", "'items: subjects' needs a subjects list", qid)
            entries = [{"subject": sid} for sid in self.subjects]
        elif isinstance(spec, list) and spec:
            entries = list(spec)
        else:
            self.error(where, "a matrix needs items: a list of {id, label} or 'subjects'", qid)
            return ()
        template = raw.get("item_show_if")
        if template is not None and not isinstance(template, str):
            self.error(f"{where}.item_show_if", "must be a condition text using {item}", qid)
            template = None
        items: list[MatrixItem] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            loc = f"{where}.items[{index}]"
            if not isinstance(entry, dict):
                self.mapping(entry, loc, qid)
                continue
            self.unknown_keys(entry, {"id", "label", "subject", "show_if"}, loc, qid)
            subject_id = entry.get("subject")
            if subject_id is not None and subject_id not in self.subjects:
                self.error(loc, f"unknown subject {subject_id!r}", qid)
                continue
            item_id = self.ident(entry.get("id", subject_id), loc, "item id", qid)
            if item_id is None:
                continue
            if item_id in seen:
                self.error(loc, f"duplicate item id {item_id!r}", qid)
                continue
            seen.add(item_id)
            if "label" in entry or subject_id is None:
                label = self.text(entry.get("label"), f"{loc}.label", qid) or {}
            else:
                label = dict(self.subjects[subject_id].label)
            source = entry.get("show_if")
            if source is None and template is not None:
                source = template.replace("{item}", item_id)
            items.append(
                MatrixItem(
                    id=item_id,
                    label=label,
                    subject=subject_id,
                    show_if=self.parse_condition(source, f"{loc}.show_if", qid),
                    show_if_source=source,
                )
            )
        return tuple(items)

    def number_bounds(
        self, raw: dict[str, Any], where: str, qid: str, qtype: str
    ) -> tuple[float | None, float | None, bool]:
        integer = raw.get("integer", True)
        if qtype != "number":
            for key in ("min", "max", "integer"):
                if key in raw:
                    self.error(where, f"'{key}' only applies to a number question", qid)
            return None, None, True
        bounds: list[float | None] = []
        for key in ("min", "max"):
            value = raw.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                self.error(where, f"{key} must be a number", qid)
                value = None
            bounds.append(float(value) if value is not None else None)
        minimum, maximum = bounds
        if minimum is not None and maximum is not None and minimum > maximum:
            self.error(where, f"min {minimum:g} is greater than max {maximum:g}", qid)
        if not isinstance(integer, bool):
            self.error(where, "integer must be true or false", qid)
            integer = True
        return minimum, maximum, integer

    def build_measure(
        self,
        raw: Any,
        where: str,
        qid: str,
        qtype: str,
        choices: tuple[Choice, ...],
        items: tuple[MatrixItem, ...],
    ) -> Measure | None:
        if raw is None:
            return None
        loc = f"{where}.measure"
        if isinstance(raw, str):
            raw = {"type": raw}
        data = self.mapping(raw, loc, qid)
        if not isinstance(raw, dict):
            return None
        self.unknown_keys(data, MEASURE_KEYS, loc, qid)
        mtype = data.get("type")
        if mtype not in MEASURE_TYPES:
            self.error(loc, f"unknown measure {mtype!r} (measures: {', '.join(MEASURE_TYPES)})", qid)
            return None
        if qtype not in MEASURE_QUESTION_TYPES[mtype]:
            allowed = ", ".join(sorted(MEASURE_QUESTION_TYPES[mtype]))
            self.error(loc, f"measure {mtype!r} cannot sit on a {qtype} question ({allowed})", qid)
        subject = data.get("subject")
        if subject is not None and subject not in self.subjects:
            self.error(loc, f"unknown subject {subject!r}", qid)
        needs_subject = mtype in {"awareness", "usage", "satisfaction"} and subject is None
        if needs_subject and (qtype != "matrix" or any(item.subject is None for item in items)):
            self.error(loc, f"measure {mtype!r} needs a subject (or matrix items that are subjects)", qid)
        codes = {c.code for c in choices}
        positive = tuple(_code(c) for c in _as_list(data.get("positive")))
        if not positive and mtype in MEASURES_WITH_POSITIVE and qtype != "multiple_choice":
            if qtype == "yes_no":
                positive = (YES,)
            else:
                self.error(loc, f"measure {mtype!r} needs 'positive': the codes that count", qid)
        exclude = tuple(_code(c) for c in _as_list(data.get("exclude")))
        if "exclude" not in data:
            exclude = tuple(c.code for c in choices if c.missing)
        for key, values in (("positive", positive), ("exclude", exclude)):
            unknown = [v for v in values if v not in codes]
            if unknown and qtype not in {"text", "long_text", "number"}:
                self.error(loc, f"{key} codes {', '.join(map(repr, unknown))} are not choices", qid)
        if set(positive) & set(exclude):
            self.error(loc, "a code cannot be both positive and excluded", qid)
        register_column = data.get("register_column")
        if register_column is not None:
            if mtype != "group":
                self.error(loc, "register_column only applies to a group measure", qid)
            elif not isinstance(register_column, str) or not register_column.strip():
                self.error(loc, "register_column must be a column name", qid)
        funnel_step = data.get("funnel_step")
        if funnel_step is not None and (
            not isinstance(funnel_step, int) or isinstance(funnel_step, bool) or funnel_step < 1
        ):
            self.error(loc, "funnel_step must be a whole number from 1", qid)
            funnel_step = None
        aspect = data.get("aspect")
        return Measure(
            type=mtype,
            subject=subject,
            positive=positive,
            exclude=exclude,
            register_column=register_column,
            funnel_step=funnel_step,
            aspect=str(aspect) if aspect is not None else None,
        )

    # --- disclosure control: the quasi-identifiers of the microdata exports ----------------------

    def build_disclosure(self, raw: Any, pages: list[Page]) -> tuple[QuasiIdentifier, ...]:
        if raw is None:
            return ()
        data = self.mapping(raw, "disclosure")
        if not isinstance(raw, dict):
            return ()
        self.unknown_keys(data, DISCLOSURE_KEYS, "disclosure")
        entries = data.get("quasi_identifiers", [])
        if not isinstance(entries, list):
            self.error(
                "disclosure.quasi_identifiers", "must be a list of {question: id} or {register_column: name}"
            )
            return ()
        questions = {q.id: q for page in pages for q in page.questions}
        by_column = {
            q.measure.register_column: q
            for q in questions.values()
            if q.measure is not None and q.measure.type == "group" and q.measure.register_column
        }
        result: list[QuasiIdentifier] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            where = f"disclosure.quasi_identifiers[{index}]"
            item = self.mapping(entry, where)
            if not isinstance(entry, dict):
                continue
            self.unknown_keys(item, QUASI_IDENTIFIER_KEYS, where)
            question = self.quasi_identifier_question(item, where, questions, by_column)
            if question is None:
                continue
            if question.id in seen:
                self.error(where, "is declared twice", question.id)
                continue
            seen.add(question.id)
            top_code = self.top_code(item, where, question)
            hierarchy = self.hierarchy(item.get("hierarchy"), f"{where}.hierarchy", question)
            result.append(QuasiIdentifier(question.id, hierarchy, top_code))
        return tuple(result)

    def quasi_identifier_question(
        self, item: dict[str, Any], where: str, questions: dict[str, Question], by_column: dict[str, Question]
    ) -> Question | None:
        if ("question" in item) == ("register_column" in item):
            self.error(
                where, "needs either 'question' (a question id) or 'register_column' (a register column)"
            )
            return None
        if "register_column" in item:
            column = item["register_column"]
            question = by_column.get(column) if isinstance(column, str) else None
            if question is None:
                self.error(where, f"no group question has register_column {column!r}")
            return question
        qid = item["question"]
        question = questions.get(qid) if isinstance(qid, str) else None
        if question is None:
            self.error(where, f"unknown question {qid!r}")
            return None
        if question.type not in QUASI_IDENTIFIER_TYPES:
            allowed = ", ".join(sorted(QUASI_IDENTIFIER_TYPES))
            self.error(where, f"a {question.type} question cannot be a quasi-identifier ({allowed})", qid)
            return None
        return question

    def top_code(self, item: dict[str, Any], where: str, question: Question) -> int | None:
        value = item.get("top_code")
        if question.type != "number":
            if value is not None:
                self.error(where, "top_code only applies to a number question", question.id)
            return None
        if value is None:
            self.error(
                where,
                "a number quasi-identifier needs top_code (the value that means 'or more')",
                question.id,
            )
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.error(where, "top_code must be a whole number from 1", question.id)
            return None
        if question.minimum is not None and value < question.minimum:
            self.error(
                where, f"top_code {value} is below the question's min {question.minimum:g}", question.id
            )
        return value

    def hierarchy(self, raw: Any, where: str, question: Question) -> tuple[tuple[RecodeGroup, ...], ...]:
        if raw is None:
            return ()
        if question.type == "number":
            self.error(where, "a number is coarsened with top_code, not a hierarchy", question.id)
            return ()
        if not isinstance(raw, list) or not raw:
            self.error(where, "must be a list of levels, each a list of {code, label, from}", question.id)
            return ()
        codes = [choice.code for choice in question.choices]
        levels: list[tuple[RecodeGroup, ...]] = []
        for l_index, level in enumerate(raw):
            loc = f"{where}[{l_index}]"
            if not isinstance(level, list) or not level:
                self.error(loc, "a level must be a non-empty list of {code, label, from}", question.id)
                return tuple(levels)
            groups: list[RecodeGroup] = []
            merged: set[str] = set()
            for g_index, entry in enumerate(level):
                gloc = f"{loc}[{g_index}]"
                group = self.mapping(entry, gloc, question.id)
                if not isinstance(entry, dict):
                    continue
                self.unknown_keys(group, {"code", "label", "from"}, gloc, question.id)
                code = _code(group.get("code", "")).strip()
                if not code or "/" in code or len(code) > 40:
                    self.error(gloc, f"code {code!r} must be short, not empty and without '/'", question.id)
                    continue
                members = [_code(member) for member in _as_list(group.get("from"))]
                if not members:
                    self.error(gloc, "'from' must list the codes this group merges", question.id)
                    continue
                unknown = [member for member in members if member not in codes]
                if unknown:
                    self.error(
                        gloc,
                        f"'from' codes {', '.join(map(repr, unknown))} are not codes of the level below "
                        f"({', '.join(codes)})",
                        question.id,
                    )
                twice = [member for member in members if member in merged]
                if twice:
                    self.error(
                        gloc, f"codes {', '.join(map(repr, twice))} are already in another group", question.id
                    )
                merged.update(members)
                label = self.text(group.get("label"), f"{gloc}.label", question.id)
                groups.append(RecodeGroup(code, label or {}, tuple(members)))
            kept = [code for code in codes if code not in merged]
            new_codes = [group.code for group in groups]
            clashes = sorted(
                {code for code in new_codes if code in kept}
                | {c for c in new_codes if new_codes.count(c) > 1}
            )
            if clashes:
                self.error(
                    loc,
                    f"codes {', '.join(map(repr, clashes))} would mean two things at this level",
                    question.id,
                )
            if len(dict.fromkeys(kept + new_codes)) >= len(codes):
                self.error(
                    loc, "this level merges nothing (every group must merge at least two codes)", question.id
                )
            levels.append(tuple(groups))
            codes = list(dict.fromkeys(kept + new_codes))
        return tuple(levels)

    # --- conditions: unknown names, forward references, types ------------------------------------

    def check_conditions(self, pages: list[Page]) -> None:
        # What each page may look at: the answers of the pages before it. A condition on the same
        # page would need JavaScript to react, and we promise the questionnaire works without it.
        earlier: dict[str, Question] = {}
        known: dict[str, tuple[Question, int]] = {}
        for index, page in enumerate(pages):
            for question in page.questions:
                for name in [question.id, *question.variable_names()]:
                    known[name] = (question, index)

        def lookup_in(visible: dict[str, Question]) -> Any:
            def lookup(name: str) -> expressions.VarInfo | None:
                question = visible.get(name)
                return question.var_info() if question is not None else None

            return lookup

        for index, page in enumerate(pages):
            visible = dict(earlier)
            targets: list[tuple[str, expressions.Expr, str | None, str]] = []
            if page.show_if is not None:
                targets.append((f"pages[{index}].show_if", page.show_if, None, page.show_if_source or ""))
            for q_index, question in enumerate(page.questions):
                loc = f"pages[{index}].questions[{q_index}]"
                if question.show_if is not None:
                    targets.append(
                        (f"{loc}.show_if", question.show_if, question.id, question.show_if_source or "")
                    )
                for i_index, item in enumerate(question.items):
                    if item.show_if is not None:
                        targets.append(
                            (
                                f"{loc}.items[{i_index}].show_if",
                                item.show_if,
                                question.id,
                                item.show_if_source or "",
                            )
                        )
            for location, expr, qid, source in targets:
                bad_name = False
                for name in expressions.references(expr):
                    if name in visible:
                        if visible[name].type == "matrix" and "/" not in name:
                            self.error(
                                location, f"{source!r}: {name!r} is a matrix: name a row as {name}/item", qid
                            )
                            bad_name = True
                        continue
                    bad_name = True
                    if name in known and not known[name][0].answerable:
                        message = f"{source!r}: {name!r} is an information text, not an answer"
                        self.error(location, message, qid)
                    elif name in known:
                        where = "a later page" if known[name][1] > index else "the same page"
                        self.error(
                            location,
                            f"{source!r}: {name!r} is on {where}; a condition may only use answers "
                            "from earlier pages (so the form works without JavaScript)",
                            qid,
                        )
                    else:
                        self.error(location, f"{source!r}: unknown question {name!r}", qid)
                if bad_name:
                    continue
                for message in expressions.check(expr, lookup_in(visible)):
                    self.error(location, f"{source!r}: {message}", qid)
            for question in page.questions:
                if not question.answerable:
                    continue
                earlier[question.id] = question
                for name in question.variable_names():
                    earlier[name] = question


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _numeric(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True
