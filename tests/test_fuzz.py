"""Hostile input on every route and form: hypothesis throws random and malicious data at the app.

Every route found in ``app.url_map`` gets hostile path parameters and query strings as every kind of
visitor; every POST route gets generated form bodies built from the fields its pages really show
(found by crawling the pages, so a new form is fuzzed without touching this file), with oversized
values, wrong types, unknown codes, unicode edge cases (NUL, lone surrogates as bytes, RTL marks,
emoji, combining marks), duplicated, missing and unknown fields and unknown actions; the import
pages get broken CSV and XLSX files. Allowed outcomes: 2xx/3xx or a clear 4xx page. After each
request the database must still be consistent: drafts and responses hold only valid answers to
visible questions, a request that failed changed nothing, a submitted response exists once.

On SQLite each example starts from a copy of the same prepared database, so examples are
independent and hypothesis can shrink a failure to its smallest input. A smaller pass runs on
PostgreSQL (``TEST_DATABASE_URL``), which refuses some values SQLite stores (NUL characters).

Each fuzz test first posts a fixed corpus (each form as its page shows it with one field damaged
at a time; each respondent field with each known-bad value), then hypothesis' examples, which are
the same on every run. ``SURVEYAPP_FUZZ_RANDOM=1`` draws new examples, ``SURVEYAPP_FUZZ_SCALE=10``
draws ten times as many, ``SURVEYAPP_FUZZ_SHRINK=1`` shrinks a failure to its smallest input and
``SURVEYAPP_FUZZ_CORPUS=0`` leaves the corpus out (to explore beyond a known failure). The number of
generated inputs tried is printed at the end of the module (``-s``) and written to
``tests/.artifacts/fuzz_counts.json``.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import time
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from surveyapp import crypto, jobs
from surveyapp.extensions import db
from surveyapp.forms.registry import field_name
from surveyapp.models import (
    ROLES,
    WAVE_STATES,
    AuditEvent,
    DraftAnswers,
    Invitation,
    Job,
    PendingSubmission,
    RegisterPerson,
    Response,
    User,
    Wave,
)
from surveyapp.questionnaire import Questionnaire, load_questionnaire
from surveyapp.questionnaire.model import Question
from surveyapp.services import register as reg
from surveyapp.services import response_import
from surveyapp.services.questionnaires import store_file
from surveyapp.services.users import _hasher
from surveyapp.services.waves import (
    RETENTION_RANGE,
    SLUG_LENGTH,
    SLUG_PATTERN,
    TITLE_MAX,
    RegisterRow,
    add_register,
    create_invitations,
    create_wave,
    set_state,
)
from surveyapp.survey import pending, service, views
from surveyapp.survey.service import questionnaire_of
from tests.conftest import DATA, REPO, make_app, truncate_all
from tests.test_auth import PASSWORD

T = TypeVar("T")
HOSTILE_DIR = DATA / "hostile"
FUZZ_QUESTIONNAIRE = HOSTILE_DIR / "fuzz.yaml"
MINI = DATA / "questionnaires" / "mini.yaml"
STAFF_XLSX = DATA / "register" / "staff.xlsx"
STAFF_CSV = DATA / "register" / "staff_cp1252.csv"
ARTIFACTS = REPO / "tests" / ".artifacts"
QN: Questionnaire = load_questionnaire(FUZZ_QUESTIONNAIRE)
SCALE = float(os.environ.get("SURVEYAPP_FUZZ_SCALE", "1"))
PEOPLE = 12  # in the open wave's register


def scaled(examples: int) -> int:
    return max(1, round(examples * SCALE))


# Shrinking replays a failing example thousands of times (minutes here): only when asked for.
SHRINK = os.environ.get("SURVEYAPP_FUZZ_SHRINK") == "1"
# The same examples on every run (a test does not start failing because of what it happened to
# draw today); SURVEYAPP_FUZZ_RANDOM=1 draws new ones, to explore.
RANDOM = os.environ.get("SURVEYAPP_FUZZ_RANDOM") == "1"
# SURVEYAPP_FUZZ_CORPUS=0 leaves the fixed corpus out (to explore past a known failure).
CORPUS = os.environ.get("SURVEYAPP_FUZZ_CORPUS", "1") != "0"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=scaled(examples),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        phases=[phase for phase in Phase if SHRINK or phase not in (Phase.shrink, Phase.explain)],
        derandomize=not RANDOM,
        print_blob=True,
    )


# --- defects found and not fixed yet ---------------------------------------------------------------
# Each test that finds one is expected to fail, strictly: it turns red when the fix lands, and
# then its entry goes (the suggested fix is in the message of the commit that added the entry).
KNOWN_DEFECTS: dict[str, str] = {}  # test name → reason; every defect found so far is fixed


@pytest.fixture(autouse=True)
def _known_defect(request: pytest.FixtureRequest) -> None:
    reason = KNOWN_DEFECTS.get(request.node.name)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# --- counting the generated inputs --------------------------------------------------------------

COUNTS: Counter[str] = Counter()
_STARTED = time.monotonic()


@pytest.fixture
def tried(request: pytest.FixtureRequest) -> Callable[[int], None]:
    """Count the generated inputs (requests with generated data) this test sends."""
    name = request.node.name

    def count(n: int = 1) -> None:
        COUNTS[name] += n

    return count


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    seconds = round(time.monotonic() - _STARTED, 1)
    width = max(len(name) for name in COUNTS)
    print(f"\nfuzz: generated inputs tried (scale {SCALE:g}, {seconds} s):")
    for name, number in sorted(COUNTS.items()):
        print(f"  {name:<{width}}  {number:>7}")
    print(f"  {'total':<{width}}  {total:>7}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "fuzz_counts.json"
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    with open(ARTIFACTS / "fuzz_counts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            earlier = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            earlier = {}
        tests = dict(earlier.get("tests", {})) if earlier.get("run") == run else {}
        tests.update(COUNTS)
        summary = {
            "run": run,
            "scale": SCALE,
            "seconds": seconds,
            "tests": tests,
            "total": sum(tests.values()),
        }
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


# --- hostile values ------------------------------------------------------------------------------

HUGE = "x" * 100_000  # 100 kB
WHITESPACE = ("", " ", "   ", "\t", "\n", "\r\n", "\xa0", "\u3000", "\u200b", "\u2028")
UNICODE_EDGE = (
    "\x00",
    "a\x00b",
    "\x00" * 8,
    "\x1b[31mred",
    "\x7f\x08",
    "\u0085",
    "\u202eevil\u202c",  # right-to-left override
    "\u200f\u200e",  # right-to-left and left-to-right marks
    "\ufeff",
    "e\u0301",  # combining acute
    "a" + "\u0301" * 400,
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "𝕏𝕪",
    "\U0010ffff",
    "\ufffd",
)
NUMBERISH = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "0",
    "-1",
    "²",
    "١٢",
    "߁",
    "½",
    "Ⅻ",
    "٣٫٥",
    "99999999999999999999",
    "-99999999999999999999",
    "2147483648",
    "9223372036854775808",
    "9" * 5000,
    " 7 ",
    "+5",
    "1_000",
    "0x1F",
    "7.0",
    "3,5",
    "1e3",
)
DATEISH = (
    "2026-02-30",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-13-01",
    "-2026-01-01",
    "2026-1-1",
    "01-03-2026",
    "2026-03-01T00:00",
    "²⁰²⁶-01-01",
    "２０２６-01-01",
)
EMAILISH = (
    "a@b",
    "@",
    "a@",
    "@b",
    "a b@c.d",
    "x" * 250 + "@example.org",
    '"<script>"@example.org',
    "ADMIN@EXAMPLE.ORG",
    " admin@example.org ",
    "admin@example.org\x00",
    "ädmin@exämple.org",
    "admin@example.org,b@c.d",
    "admin@example.org\r\nBcc: x@y.z",
)
INJECTION = (
    "' OR 1=1 --",
    '"; DROP TABLE waves; --',
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{% for x in range(10) %}{{ x }}{% endfor %}",
    "${7*7}",
    "%s%s%n",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%00",
    "%2e%2e%2f",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "true",
    "None",
    "null",
    "[]",
    "{}",
    "file:../../etc/passwd",
    "file:fuzz.yaml\x00",
)
HUGE_VALUES = (HUGE, "é" * 50_000, "😀" * 25_000, "a\nb" * 10_000)
HOSTILE_TEXT: tuple[str, ...] = (
    WHITESPACE + UNICODE_EDGE + NUMBERISH + DATEISH + EMAILISH + INJECTION + HUGE_VALUES
)
# Bytes that are not UTF-8: lone surrogates (CESU), overlong encodings, Latin-1, beyond U+10FFFF.
HOSTILE_BYTES: tuple[bytes, ...] = (
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"a\xed\xa0\xbdb",
    b"\xc0\xae\xc0\xae/",
    b"\xff\xfe\x00",
    b"caf\xe9",
    b"\x80\x81",
    b"\xf4\x90\x80\x80",
    b"%",
    b"%zz",
)
# Mail templates (Jinja in a sandbox) get template-shaped hostility as well.
HOSTILE_TEMPLATES: tuple[str, ...] = (
    "{{",
    "{% if %}",
    "{{ name.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ 1/0 }}",
    "{{ 'x' * 99999999 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ range(99999999) | list | length }}",
    "{{ undefined_name }}",
    "{{ name | nosuchfilter }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ " + "(" * 600 + "1" + ")" * 600 + " }}",
    "{% raw %}",
    "{{ link }}" * 5000,
)


def _digits(replacement: str) -> Callable[[str], str]:
    def mutate(value: str) -> str:
        return re.sub(r"[0-9]+", replacement, value) if re.search(r"[0-9]", value) else value + replacement

    return mutate


# Ways to damage a valid value: what a tampered form sends instead of an option the page offers.
MUTATIONS: tuple[Callable[[str], str], ...] = (
    lambda v: f" {v} ",
    lambda v: f"{v}\x00",
    lambda v: f"\x00{v}",
    lambda v: f"{v}\u200b",
    lambda v: f"\u202e{v}",
    lambda v: f"{v}\u0301",
    str.upper,
    lambda v: v + v,
    lambda v: v[: len(v) // 2],
    lambda v: v + "/../..",
    lambda v: v.replace("-", "_"),
    _digits("²"),
    _digits("١٢"),
    _digits("99999999999999999999"),
    _digits("-1"),
    _digits("0"),
    _digits("9" * 30),
    _digits("1e400"),
    _digits("nan"),
)
KIND_POOLS = {"number": NUMBERISH, "date": DATEISH, "email": EMAILISH}


def mutated(valid: Sequence[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda value, mutate: mutate(value), st.sampled_from(valid), st.sampled_from(MUTATIONS))


def text_values(valid: Sequence[str] = (), kind: str = "text") -> st.SearchStrategy[Value]:
    """Field values: valid ones when given (often), damaged valid ones, and hostile ones."""
    hostile: list[st.SearchStrategy[Any]] = [
        st.sampled_from(WHITESPACE),
        st.sampled_from(UNICODE_EDGE),
        st.sampled_from(NUMBERISH),
        st.sampled_from(INJECTION + HUGE_VALUES),  # 100 kB values now and then
        st.sampled_from(HOSTILE_BYTES),
        st.binary(max_size=12),
        st.text(max_size=20),
    ]
    if kind in KIND_POOLS:
        hostile.insert(0, st.sampled_from(KIND_POOLS[kind]))
    if not valid:
        return st.one_of(*hostile)
    choices = sorted(set(valid))
    return st.one_of(
        st.sampled_from(choices), st.sampled_from(choices), mutated(choices), mutated(choices), *hostile
    )


def field_names() -> st.SearchStrategy[str]:
    """Names of unknown extra fields."""
    return st.one_of(
        st.sampled_from(
            [
                "",
                "\x00",
                "action",
                "csrf_token",
                "q_",
                "q_status__x",
                "q_ken_aanbod__nope",
                "q_" + "a" * 2000,
                "__proto__",
                "file",
                "to",
                "user_id",
                "extra_group",
                "invitation_id",
            ]
        ),
        st.text(max_size=12),
    )


# --- requests ------------------------------------------------------------------------------------

Value = str | bytes


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


FormItem = tuple[str, Value | Upload]


def _raw(value: Value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def urlencoded(items: Sequence[FormItem]) -> bytes:
    parts = []
    for name, value in items:
        data = value.data if isinstance(value, Upload) else _raw(value)
        parts.append(quote_from_bytes(_raw(name), safe="") + "=" + quote_from_bytes(data, safe=""))
    return "&".join(parts).encode("ascii")


def _header_text(value: str) -> bytes:
    # As browsers do: quotes and line breaks in names are percent-encoded.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8")


def multipart(items: Sequence[FormItem], boundary: str) -> bytes:
    out = io.BytesIO()
    for name, value in items:
        out.write(b"--" + boundary.encode() + b"\r\n")
        disposition = b'Content-Disposition: form-data; name="' + _header_text(name) + b'"'
        if isinstance(value, Upload):
            disposition += b'; filename="' + _header_text(value.filename) + b'"'
            out.write(disposition + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + value.data)
        else:
            out.write(disposition + b"\r\n\r\n" + _raw(value))
        out.write(b"\r\n")
    out.write(b"--" + boundary.encode() + b"--\r\n")
    return out.getvalue()


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str

    def form(self) -> MultiDict[str, str]:
        """The form exactly as the app will read it (werkzeug's own parser)."""
        builder = EnvironBuilder(method="POST", data=self.data, content_type=self.content_type)
        try:
            return Request(builder.get_environ()).form
        finally:
            builder.close()


def encode(items: Sequence[FormItem], as_multipart: bool) -> Body:
    if as_multipart or any(isinstance(value, Upload) for _, value in items):
        boundary = "fuzzboundary" + hashlib.sha256(repr(items).encode()).hexdigest()[:16]
        return Body(multipart(items, boundary), f"multipart/form-data; boundary={boundary}")
    return Body(urlencoded(items), "application/x-www-form-urlencoded")


_EXCEPTIONS: list[BaseException] = []


def _remember_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    _EXCEPTIONS.append(exception)


got_request_exception.connect(_remember_exception)


def send(client: FlaskClient, method: str, path: str, body: Body | None = None, **kwargs: Any) -> Any:
    _EXCEPTIONS.clear()
    if body is not None:
        kwargs.update(data=body.data, content_type=body.content_type)
    return client.open(path, method=method, **kwargs)


class Corpus:
    """Runs the fixed inputs to the end and then reports every one that failed, not only the first."""

    def __init__(self, tried: Callable[[int], None]) -> None:
        self.tried = tried
        self.failures: list[str] = []
        self.skip = not CORPUS

    def cases(self, inputs: Iterable[T]) -> Iterator[T]:
        return iter(()) if self.skip else iter(inputs)

    @contextlib.contextmanager
    def case(self, text: str) -> Iterator[None]:
        self.tried(1)
        try:
            yield
        except AssertionError as error:
            self.failures.append(f"{text}:\n    {str(error).splitlines()[0]}")

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.failures and not exc[0]:
            shown = "\n".join(self.failures[:40])
            raise AssertionError(f"{len(self.failures)} input(s) of the fixed corpus failed:\n{shown}")


def check_response(response: Any, what: str) -> None:
    """2xx/3xx or a clear 4xx page; never a server error or a stack trace."""
    body = response.get_data()
    cause = f" ({_EXCEPTIONS[-1]!r})" if _EXCEPTIONS else ""
    assert response.status_code < 500, f"{what}: HTTP {response.status_code}{cause}"
    assert b"Traceback" not in body, f"{what}: a stack trace in the page"
    if response.status_code >= 400 and response.mimetype == "text/html" and response.request.method != "HEAD":
        assert b"<h1" in body, f"{what}: HTTP {response.status_code} without a page that explains it"


# --- answers: what a consistent database holds ---------------------------------------------------

CHOICE_TYPES = ("single_choice", "yes_no", "rating", "matrix")


def text_limit(question: Question) -> int:
    return question.max_length or 300


def value_problem(question: Question, value: Any) -> str | None:
    """Why a stored answer is not one the questionnaire allows (None when it is fine)."""
    if question.type in CHOICE_TYPES:
        ok = isinstance(value, str) and value in question.codes
    elif question.type == "multiple_choice":
        ok = (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(code, str) and code in question.codes for code in value)
            and len(set(value)) == len(value)
        )
    elif question.type == "number":
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (isinstance(value, int) or not question.integer)
            and (question.minimum is None or value >= question.minimum)
            and (question.maximum is None or value <= question.maximum)
        )
    elif question.type in ("text", "long_text"):
        ok = isinstance(value, str) and value == value.strip() and 0 < len(value) <= text_limit(question)
        if ok and "\x00" in value:
            return "a NUL character (PostgreSQL cannot store it)"
    else:
        ok = False
    return None if ok else "not a valid answer"


def answer_problems(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> list[str]:
    problems = []
    cleaned = questionnaire.clean_answers(answers)
    if cleaned != dict(answers):
        problems.append(f"answers to hidden or unknown questions: {sorted(set(answers) - set(cleaned))}")
    for key, value in answers.items():
        try:
            question = questionnaire.question(key.split("/", 1)[0])
        except KeyError:
            problems.append(f"{key}: no such question")
            continue
        problem = value_problem(question, value)
        if problem:
            problems.append(f"{key} = {value!r:.80}: {problem}")
    return problems


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def world_problems(app: Flask) -> list[str]:
    """Everything in the database that a consistent app can never have stored."""
    problems: list[str] = []
    with app.app_context():
        for draft in db.session.execute(select(DraftAnswers)).scalars():
            invitation = db.session.get(Invitation, draft.invitation_id)
            assert invitation is not None
            questionnaire = questionnaire_of(invitation.wave.questionnaire_version)
            answers = service.decrypt_draft(draft.invitation_id, draft.sealed).answers
            problems += [f"draft {draft.invitation_id}: {p}" for p in answer_problems(questionnaire, answers)]
            if invitation.submitted:
                problems.append(f"draft {draft.invitation_id}: a submitted invitation still has a draft")
        for response in db.session.execute(select(Response)).scalars():
            version = response.questionnaire_version_id
            wave = db.session.get(Wave, response.wave_id)
            assert wave is not None
            if version != wave.questionnaire_version_id:
                continue  # an import may use another version; checked by its own tests
            questionnaire = questionnaire_of(wave.questionnaire_version)
            problems += [
                f"response {response.id}: {p}" for p in answer_problems(questionnaire, response.answers)
            ]
        languages: dict[int, list[str]] = {}
        for wave in db.session.execute(select(Wave)).scalars():
            languages[wave.id] = list(wave.languages or [])
            where = f"wave {wave.slug!r:.80}"
            if not (SLUG_LENGTH[0] <= len(wave.slug) <= SLUG_LENGTH[1] and SLUG_PATTERN.match(wave.slug)):
                problems.append(f"{where}: invalid slug")
            if not wave.title.strip() or len(wave.title) > TITLE_MAX or "\x00" in wave.title:
                problems.append(f"{where}: invalid title {wave.title!r:.80}")
            if wave.state not in WAVE_STATES:
                problems.append(f"{where}: state {wave.state!r}")
            if not set(wave.languages or []) <= {"nl", "en"} or "nl" not in (wave.languages or []):
                problems.append(f"{where}: languages {wave.languages!r}")
            if not RETENTION_RANGE[0] <= wave.retention_days <= RETENTION_RANGE[1]:
                problems.append(f"{where}: retention {wave.retention_days}")
            if not 5 <= wave.suppression_threshold <= 1000:
                problems.append(f"{where}: threshold {wave.suppression_threshold}")
            if wave.opens_on and wave.closes_on and wave.opens_on > wave.closes_on:
                problems.append(f"{where}: closes before it opens")
        for person in db.session.execute(select(RegisterPerson)).scalars():
            where = f"register person {person.person_key!r:.60}"
            if not person.person_key or len(person.person_key) > reg.KEY_LENGTH:
                problems.append(f"{where}: invalid person key")
            if person.email is not None and (len(person.email) > reg.EMAIL_LENGTH or "@" not in person.email):
                problems.append(f"{where}: invalid e-mail {person.email!r:.80}")
            if person.name is not None and len(person.name) > reg.NAME_LENGTH:
                problems.append(f"{where}: name too long")
            if person.language not in languages.get(person.wave_id, []):
                problems.append(f"{where}: language {person.language!r}")
            if _has_nul([person.person_key, person.email, person.name, person.groups]):
                problems.append(f"{where}: a NUL character (PostgreSQL cannot store it)")
        for user in db.session.execute(select(User)).scalars():
            if user.role not in ROLES or "@" not in user.email or _has_nul(user.email):
                problems.append(f"user {user.email!r:.80}: role {user.role!r}")
        admins = db.session.execute(
            select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
        ).scalar_one()
        if admins == 0:
            problems.append("no active admin is left")
    return problems


def snapshot(app: Flask) -> dict[str, Any]:
    """What a failed request must leave as it was."""
    with app.app_context():
        counts = {
            table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables
        }
        waves = sorted(
            (
                w.slug,
                w.title,
                w.state,
                w.questionnaire_version_id,
                str(w.opens_on),
                str(w.closes_on),
                tuple(w.languages or ()),
                w.anonymous,
                w.retention_days,
                w.suppression_threshold,
                json.dumps(w.register_mapping, sort_keys=True),
                json.dumps(w.mail_templates, sort_keys=True),
            )
            for w in db.session.execute(select(Wave)).scalars()
        )
        users = sorted((u.email, u.role, u.active) for u in db.session.execute(select(User)).scalars())
        drafts = sorted(
            (
                row.invitation_id,
                json.dumps(d.answers, sort_keys=True),
                d.current_page,
                tuple(d.pages_done or ()),
            )
            for row in db.session.execute(select(DraftAnswers)).scalars()
            for d in (service.decrypt_draft(row.invitation_id, row.sealed),)
        )
        invitations = sorted(
            (i.id, i.submitted, i.opted_out) for i in db.session.execute(select(Invitation)).scalars()
        )
        people = sorted(
            (p.wave_id, p.person_key, p.email, p.name, p.language, json.dumps(p.groups, sort_keys=True))
            for p in db.session.execute(select(RegisterPerson)).scalars()
        )
        responses = sorted(r.id for r in db.session.execute(select(Response)).scalars())
        pending_ids = sorted(db.session.execute(select(PendingSubmission.id)).scalars())
    return {
        "pending": pending_ids,
        "counts": counts,
        "waves": waves,
        "users": users,
        "drafts": drafts,
        "invitations": invitations,
        "people": people,
        "responses": responses,
    }


def without_audit(state: dict[str, Any]) -> dict[str, Any]:
    counts = {k: v for k, v in state["counts"].items() if k != AuditEvent.__tablename__}
    return {**state, "counts": counts}


def assert_unchanged(before: dict[str, Any], after: dict[str, Any], what: str) -> None:
    changed = [key for key in before if before[key] != after.get(key)]
    assert not changed, f"{what}: a request that failed changed {changed}"


# --- the world: one prepared database per module, copied for every example -----------------------

# Complete, valid answers to the fuzz questionnaire that make every page and question visible.
FULL_ANSWERS: dict[str, Any] = {
    "status": "actief",
    "kinderen": 2,
    "contract": "statutair",
    "uren": 36.5,
    "bedrag": 120.0,
    "jaren": 10,
    "ken_dienst": "yes",
    "ken_aanbod/pluspas": "ja",
    "ken_aanbod/sintgeschenk": "ja",
    "gebruik_aanbod/pluspas": "ja",
    "gebruik_aanbod/sintgeschenk": "nee",
    "hulp": ["financieel", "psychosociaal"],
    "tevreden_pluspas": "4",
    "financieel_detail": "Studiekosten",
    "suggestie": "Meer info",
}
PARTIAL_ANSWERS = {key: FULL_ANSWERS[key] for key in ("status", "kinderen", "contract")}
WAVES = {"open": "open-2026", "draft": "draft-2026", "closed": "closed-2025", "archived": "archived-2024"}
RESPONDENTS = ("full", "partial", "fresh", "submitted", "opted-out")
FIXED_GROUPS = ({"status": "actief", "contract": "statutair"}, {"status": "gepensioneerd"})


@cache
def password_hash() -> str:
    return _hasher.hash(PASSWORD)


def page_form_data(page_id: str, answers: Mapping[str, Any] = FULL_ANSWERS) -> list[FormItem]:
    """The form a browser sends for one page with these answers."""
    page = QN.pages[QN.page_index(page_id)]
    items: list[FormItem] = []
    for question in page.questions:
        for key in question.variable_names():
            value = answers.get(key)
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            items += [(field_name(key), f"{v:g}" if isinstance(v, float) else str(v)) for v in values]
    return items


@dataclass(frozen=True)
class FieldSpec:
    values: tuple[str, ...]
    kind: str = "text"  # the input's type (number, date, email, hidden, radio, ...), select, textarea

    @property
    def file(self) -> bool:
        return self.kind == "file"


@dataclass
class FormSpec:
    """The fields the app's pages show for one POST endpoint, and the paths they post to."""

    fields: dict[str, FieldSpec] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)
    # What a browser sends for each form (and each of its submit buttons) as the page shows it.
    submissions: list[tuple[str, list[FormItem]]] = field(default_factory=list)

    def add(self, name: str, value: str | None, kind: str) -> None:
        known = self.fields.get(name, FieldSpec((), kind))
        values = known.values + ((value,) if value is not None and value not in known.values else ())
        self.fields[name] = FieldSpec(values, known.kind)


Entry = tuple[str, str | None, str, bool]  # name, value, kind, checked or selected


class _FormParser(HTMLParser):
    """The POST forms of a page: action, and every named field with the values it can send."""

    def __init__(self, page_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[dict[str, Any]] = []
        self.orphans: list[tuple[str, Entry]] = []  # fields outside their form (form="id")
        self.current: dict[str, Any] | None = None
        self.select: tuple[Any, str] | None = None
        self.textarea: tuple[Any, str, list[str]] | None = None

    def _add(self, owner: Any, entry: Entry) -> None:
        if isinstance(owner, str):
            self.orphans.append((owner, entry))
        elif owner is not None:
            owner["fields"].append(entry)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.current = {
                "method": a.get("method", "get").lower(),
                "action": a.get("action") or self.page_path,
                "id": a.get("id"),
                "fields": [],
            }
            self.forms.append(self.current)
        elif tag == "option" and self.select is not None:
            self._add(self.select[0], (self.select[1], a.get("value", ""), "option", "selected" in a))
        elif tag in ("input", "button", "select", "textarea") and a.get("name"):
            owner: Any = a["form"] if a.get("form") else self.current
            name = a["name"]
            kind = a.get("type", "text").lower() if tag == "input" else tag
            value = a.get("value") if tag in ("input", "button") and kind != "password" else None
            if tag != "textarea":  # a textarea's value is its text, added at its end tag
                self._add(owner, (name, value or None, kind, "checked" in a))
            if tag == "select":
                self.select = (owner, name)
            elif tag == "textarea":
                self.textarea = (owner, name, [])

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            owner, name, parts = self.textarea
            self._add(owner, (name, "".join(parts) or None, "textarea", False))
            self.textarea = None

    def result(self) -> list[dict[str, Any]]:
        by_id = {form["id"]: form for form in self.forms if form["id"]}
        for form_id, entry in self.orphans:
            if form_id in by_id:
                by_id[form_id]["fields"].append(entry)
        return self.forms


TYPED = {
    "email": "planner@example.org",
    "password": PASSWORD,
    "text": "fuzz-2027",
    "date": "2027-03-01",
    "number": "10",
    "textarea": "Fuzz",
}


def default_submissions(fields: Sequence[Entry]) -> list[list[FormItem]]:
    """What a browser sends for a form as shown: one submission per submit button."""
    items: list[FormItem] = []
    buttons: list[FormItem] = []
    radios: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    selects: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for name, value, kind, chosen in fields:
        if kind in ("submit", "button"):
            buttons.append((name, value or ""))
        elif kind == "radio":
            radios[name].append((value or "", chosen))
        elif kind == "checkbox":
            if chosen:
                items.append((name, value or "on"))
        elif kind == "select":
            selects.setdefault(name, [])
        elif kind == "option":
            selects[name].append((value or "", chosen))
        elif kind == "file":
            items.append((name, Upload("staff.csv", STAFF_CSV.read_bytes())))
        else:  # what a person would type into an empty field, so the form gets past "required"
            items.append((name, value or TYPED.get(name, TYPED.get(kind, ""))))
    for name, options in [*radios.items(), *selects.items()]:
        chosen = [value for value, is_chosen in options if is_chosen] or [value for value, _ in options[:1]]
        items += [(name, value) for value in chosen[:1]]
    return [[*items, button] for button in dict.fromkeys(buttons)] or [items]


def collect_forms(app: Flask, path: str, html: str, forms: dict[str, FormSpec]) -> None:
    parser = _FormParser(path)
    parser.feed(html)
    adapter = app.url_map.bind("localhost")
    for form in parser.result():
        if form["method"] != "post":
            continue
        target = urlsplit(form["action"]).path or path
        try:
            endpoint, _args = adapter.match(target, method="POST")
        except Exception:  # an action that is not a route of the app: nothing to fuzz
            continue
        spec = forms.setdefault(endpoint, FormSpec())
        spec.paths.add(target)
        for name, value, kind, _chosen in form["fields"]:
            if kind != "option":
                spec.add(name, value, kind)
            elif value is not None:
                spec.add(name, value, "select")
        for items in default_submissions(form["fields"]):
            if (target, items) not in spec.submissions:  # the same form on many pages (log out)
                spec.submissions.append((target, items))


@dataclass(frozen=True)
class WorldTemplate:
    """A prepared SQLite database and what the tests need to know about it."""

    folder: Path
    db_path: Path
    qdir: Path
    users: dict[str, tuple[int, str]]  # role → (id, session nonce)
    invitations: dict[str, int]  # respondent kind → invitation id
    tokens: dict[str, str]  # respondent kind → a personal-link token
    job_id: str
    forms: dict[str, FormSpec]
    params: dict[str, tuple[str, ...]]  # route parameter name → values that exist
    baseline: dict[str, Any]


def fuzz_config(qdir: Path) -> dict[str, Any]:
    return {
        "RATELIMIT_ENABLED": False,
        "PROPAGATE_EXCEPTIONS": False,  # a 500 page, as in production, instead of an exception
        "QUESTIONNAIRE_DIR": str(qdir),
    }


def questionnaire_dir(folder: Path) -> Path:
    qdir = folder / "questionnaires"
    qdir.mkdir(exist_ok=True)
    shutil.copy(FUZZ_QUESTIONNAIRE, qdir / "fuzz.yaml")
    shutil.copy(MINI, qdir / "mini.yaml")
    (qdir / "broken.yaml").write_text("format: surveyapp/1\nid: Broken!\n", encoding="utf-8")
    return qdir


def build_world(app: Flask) -> tuple[dict[str, tuple[int, str]], dict[str, int], dict[str, str], str]:
    """Users of every role, a wave in every state, respondents at every stage, a mail job."""
    with app.app_context():
        users = {}
        for role in ROLES:
            user = User(email=f"{role}@example.org", password_hash=password_hash(), role=role, active=True)
            db.session.add(user)
            db.session.flush()
            users[role] = (user.id, user.session_nonce)
        version, _ = store_file(FUZZ_QUESTIONNAIRE)
        mini, _ = store_file(MINI)
        open_wave = create_wave(version, slug=WAVES["open"], title="Open wave", suppression_threshold=5)
        people = [
            RegisterRow(
                f"p{i}", f"p{i}@example.org", "nl" if i % 2 else "en", FIXED_GROUPS[i % 2], f"Person {i}"
            )
            for i in range(PEOPLE)
        ]
        add_register(open_wave, people)
        set_state(open_wave, "open")
        all_tokens = create_invitations(open_wave)
        invitation_of = dict(
            db.session.execute(
                select(RegisterPerson.person_key, Invitation.id).join(
                    Invitation, Invitation.person_id == RegisterPerson.id
                )
            ).all()
        )
        kinds = dict(zip(RESPONDENTS, ("p0", "p1", "p2", "p3", "p4")))
        invitations = {kind: invitation_of[key] for kind, key in kinds.items()}
        tokens = {kind: all_tokens[key] for kind, key in kinds.items()}
        for kind, answers in (("full", FULL_ANSWERS), ("partial", PARTIAL_ANSWERS)):
            done = [
                p.id
                for p in QN.visible_pages(answers)
                if all(
                    k in answers
                    for q in p.questions
                    for k in q.variable_names()
                    if QN.question_visible(q, answers)
                )
            ]
            db.session.add(
                DraftAnswers(
                    invitation_id=invitations[kind],
                    sealed=service.seal_draft(invitations[kind], dict(answers), done, done[-1]),
                )
            )
        submitted = db.session.get(Invitation, invitations["submitted"])
        assert submitted is not None
        submitted.submitted = True
        db.session.add(
            Response(
                wave_id=open_wave.id,
                questionnaire_version_id=version.id,
                submitted_on=date(2026, 3, 2),
                language="nl",
                source="web",
                answers=dict(FULL_ANSWERS),
            )
        )
        opted_out = db.session.get(Invitation, invitations["opted-out"])
        assert opted_out is not None
        opted_out.opted_out = True
        create_wave(version, slug=WAVES["draft"], title="Draft wave")
        closed = create_wave(version, slug=WAVES["closed"], title="Closed wave", closes_on=date(2025, 12, 31))
        set_state(closed, "open")
        set_state(closed, "closed")
        archived = create_wave(mini, slug=WAVES["archived"], title="Archived wave")
        set_state(archived, "open")
        set_state(archived, "closed")
        set_state(archived, "archived")
        job = Job(kind="mail:invitation", wave_id=open_wave.id, state="done", total=1, done=1, params={})
        db.session.add(job)
        db.session.commit()
        assert QN.clean_answers(FULL_ANSWERS) == FULL_ANSWERS and not answer_problems(QN, FULL_ANSWERS)
        assert service.missing_required(QN, FULL_ANSWERS) is None
        return users, invitations, tokens, job.id


def restore_respondents(app: Flask, invitations: Mapping[str, int]) -> None:
    """PostgreSQL, where examples share the database: the respondents' drafts as built."""
    with app.app_context():
        for kind, answers in (("full", FULL_ANSWERS), ("partial", PARTIAL_ANSWERS), ("fresh", None)):
            draft = service.draft_of(invitations[kind])
            if answers is None:
                if draft is not None:
                    db.session.delete(draft)
                continue
            if draft is None:
                draft = DraftAnswers(
                    invitation_id=invitations[kind], sealed=service.seal_empty_draft(invitations[kind])
                )
                db.session.add(draft)
            kept = service.decrypt_draft(draft.invitation_id, draft.sealed)
            draft.sealed = service.seal_draft(
                draft.invitation_id, dict(answers), kept.pages_done, kept.current_page
            )
            invitation = db.session.get(Invitation, invitations[kind])
            assert invitation is not None and not invitation.submitted
        db.session.commit()


def login_as(
    client: FlaskClient, app: Flask, role: str, known: Mapping[str, tuple[int, str]] | None = None
) -> None:
    """Log a test client in without a password (the session a login would make)."""
    if known is not None:
        user_id, nonce = known[role]
    else:  # PostgreSQL: no reset between examples, so the nonce may have rotated (logout)
        with app.app_context():
            user = db.session.execute(select(User).where(User.email == f"{role}@example.org")).scalar_one()
            user.active, user.role = True, role
            db.session.commit()
            user_id, nonce = user.id, user.session_nonce
    with client.session_transaction() as session:
        session.clear()
        session["user_id"] = user_id
        session["user_nonce"] = nonce
        session["user_login_at"] = session["user_seen_at"] = time.time()


LINK = re.compile(r'(?:href|src|action)="(/[^"#?]*)')


def learn_params(app: Flask, html: str, params: dict[str, tuple[str, ...]]) -> None:
    """Route parameter values from the links a page shows (a new route's ids are found this way)."""
    adapter = app.url_map.bind("localhost")
    for path in LINK.findall(html):
        try:
            _endpoint, args = adapter.match(path.replace("&amp;", "&"), method="GET")
        except Exception:  # not a GET route of the app (a form action, a fragment)
            continue
        for name, value in args.items():
            known = params.get(name, ())
            if str(value) not in known and len(known) < 4:
                params[name] = (*known, str(value))


def crawl(
    app: Flask,
    users: Mapping[str, tuple[int, str]],
    invitations: Mapping[str, int],
    params: dict[str, tuple[str, ...]],
) -> dict[str, FormSpec]:
    """Every POST form the app's pages show, found by opening every GET route with real parameters.

    Parameters the world does not name (the ids of a route added later) are learnt from the links
    of the pages opened before, in a second round.
    """
    forms: dict[str, FormSpec] = {}
    admin = app.test_client()
    login_as(admin, app, "admin", users)
    opened: set[str] = set()
    for _round in range(2):
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
                continue
            if _round and not all(name in params for name in rule.arguments):
                continue
            for path in rule_paths(rule, params):
                if path in opened:
                    continue
                opened.add(path)
                client = admin
                if rule.endpoint.startswith("survey."):  # a respondent who answered everything
                    client = app.test_client()
                    with client.session_transaction() as session:
                        session[views.SESSION_KEY] = crypto.keys(app.config).seal_handle(invitations["full"])
                response = client.get(path)
                if response.mimetype == "text/html":
                    html = response.get_data(as_text=True)
                    collect_forms(app, path, html, forms)
                    learn_params(app, html, params)
    # The column mapping appears only after a file was analysed.
    analysed = admin.post(
        f"/planner/waves/{WAVES['draft']}/register",
        data={"action": "analyse", "file": (io.BytesIO(STAFF_CSV.read_bytes()), "staff.csv")},
        content_type="multipart/form-data",
    )
    collect_forms(app, f"/planner/waves/{WAVES['draft']}/register", analysed.get_data(as_text=True), forms)
    return forms


RULE_PART = re.compile(r"<(?:([a-zA-Z_]+)(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def rule_paths(rule: Rule, params: Mapping[str, Sequence[str]], limit: int = 8) -> list[str]:
    """Paths of a rule with combinations of existing parameter values (at most ``limit``)."""
    combos: list[dict[str, Value]] = [{}]
    for name in sorted(rule.arguments):
        combos = [{**c, name: v} for c in combos for v in params.get(name, ("x",))][:limit]
    return [build_path(rule, combo) for combo in combos]


def build_path(rule: Rule, values: Mapping[str, Value]) -> str:
    """The rule's path with these (possibly hostile) values put in, percent-encoded."""

    def put(match: re.Match[str]) -> str:
        converter, name = match.groups()
        return quote_from_bytes(_raw(values.get(name, "x")), safe="/" if converter == "path" else "")

    return RULE_PART.sub(put, rule.rule)


@pytest.fixture(scope="module")
def world_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> WorldTemplate:
    folder = tmp_path_factory.mktemp("fuzz-world")
    db_path = folder / "world.sqlite3"
    shutil.copy(sqlite_template, db_path)
    qdir = questionnaire_dir(folder)
    app = make_app(f"sqlite:///{db_path}", folder, **fuzz_config(qdir))
    users, invitations, tokens, job_id = build_world(app)
    with app.app_context():
        user_ids = tuple(str(i) for i in db.session.execute(select(User.id)).scalars())
    params: dict[str, tuple[str, ...]] = {
        "slug": tuple(WAVES.values()),
        "job_id": (job_id,),
        "token": (tokens["fresh"], tokens["opted-out"], tokens["submitted"]),
        "page_id": tuple(page.id for page in QN.pages),
        "user_id": user_ids,
        "filename": ("css/app.css",),
    }
    forms = crawl(app, users, invitations, params)
    with app.app_context():
        db.engine.dispose()
    # The crawl started drafts and the like: the template is the state after it.
    baseline = snapshot(app)
    with app.app_context():
        db.engine.dispose()
    return WorldTemplate(folder, db_path, qdir, users, invitations, tokens, job_id, forms, params, baseline)


@dataclass
class World:
    """The app on a prepared database. On SQLite ``reset`` copies the template back before every
    example; on PostgreSQL the examples share one database (``db_path`` is None)."""

    app: Flask
    template: WorldTemplate
    db_path: Path | None

    def reset(self) -> None:
        if self.db_path is None:
            restore_respondents(self.app, self.template.invitations)
            return
        with self.app.app_context():
            db.engine.dispose()
        shutil.copy(self.template.db_path, self.db_path)

    def baseline(self) -> dict[str, Any]:
        return self.template.baseline if self.db_path is not None else snapshot(self.app)

    def client(self, visitor: str | None) -> FlaskClient:
        """A fresh client: anonymous (None), a planner role, or a respondent (``RESPONDENTS``)."""
        client = self.app.test_client()
        if visitor in ROLES:
            login_as(client, self.app, visitor, self.template.users if self.db_path is not None else None)
        elif visitor is not None:
            handle = crypto.keys(self.app.config).seal_handle(self.template.invitations[visitor])
            with client.session_transaction() as session:
                session[views.SESSION_KEY] = handle
        return client

    def check(self, what: str) -> None:
        problems = world_problems(self.app)
        assert not problems, f"{what}: the database is inconsistent:\n  " + "\n  ".join(problems[:20])


@pytest.fixture
def no_mail_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail jobs would run in background threads: here they are only queued."""
    monkeypatch.setattr(jobs, "start_thread", lambda app, job_id: None)


@pytest.fixture
def world(world_template: WorldTemplate, tmp_path: Path, no_mail_threads: None) -> Iterator[World]:
    """The prepared world on SQLite, reset before each example."""
    db_path = tmp_path / "world.sqlite3"
    shutil.copy(world_template.db_path, db_path)
    app = make_app(f"sqlite:///{db_path}", tmp_path, **fuzz_config(world_template.qdir))
    yield World(app, world_template, db_path)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pg_world(
    postgres_migrated: str, world_template: WorldTemplate, tmp_path: Path, no_mail_threads: None
) -> Iterator[World]:
    """The same world built on PostgreSQL (once per test: the examples share it)."""
    truncate_all(postgres_migrated)
    app = make_app(postgres_migrated, tmp_path, **fuzz_config(world_template.qdir))
    users, invitations, tokens, job_id = build_world(app)
    with app.app_context():
        user_ids = tuple(str(i) for i in db.session.execute(select(User.id)).scalars())
    params = {
        **world_template.params,
        "job_id": (job_id,),
        "token": (tokens["fresh"], tokens["opted-out"], tokens["submitted"]),
        "user_id": user_ids,
    }

    # The crawled forms, without the paths that name the SQLite world's ids and tokens.
    def here(path: str) -> bool:  # tokens and job ids are random: those of SQLite do not exist here
        return not re.search(r"^/s/|/jobs/", path)

    forms = {
        endpoint: FormSpec(
            dict(spec.fields),
            {p for p in spec.paths if here(p)},
            [(p, items) for p, items in spec.submissions if here(p)],
        )
        for endpoint, spec in world_template.forms.items()
    }
    template = WorldTemplate(
        world_template.folder,
        world_template.db_path,
        world_template.qdir,
        users,
        invitations,
        tokens,
        job_id,
        forms,
        params,
        {},
    )
    yield World(app, template, None)
    with app.app_context():
        db.engine.dispose()


# --- 1. every route, hostile path parameters and query strings, every kind of visitor -------------

ROUTE_APP = make_app("sqlite://", Path(os.environ.get("TMPDIR", "/tmp")))
ENDPOINTS = sorted({rule.endpoint for rule in ROUTE_APP.url_map.iter_rules()})
POST_ENDPOINTS = sorted(
    {rule.endpoint for rule in ROUTE_APP.url_map.iter_rules() if "POST" in (rule.methods or ())}
)
VISITORS = ("admin", "planner", "viewer", None, "full", "fresh", "submitted")
QUERY_NAMES = ("lang", "page", "next", "kind", "incomplete", "x", "q_status", "action", "")


def hostile_param(name: str, known: Sequence[str]) -> st.SearchStrategy[Value]:
    """An existing value (often), a damaged one, or a hostile one; numbers that fit no database column."""
    return st.one_of(st.sampled_from(known), text_values(known, "number" if name.endswith("_id") else "text"))


@st.composite
def queries(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(QUERY_NAMES), text_values(["nl", "en", "1", "2"])), max_size=3)
    )
    return "&".join(
        quote_from_bytes(_raw(k), safe="") + "=" + quote_from_bytes(_raw(v), safe="") for k, v in pairs
    )


def visit(world: World, method: str, url: str, visitor: str | None) -> None:
    """One request; a clear outcome, and a failed request changes nothing."""
    world.reset()
    before = world.baseline()
    response = send(world.client(visitor), method, url)
    what = f"{method} {url[:300]} as {visitor}"
    check_response(response, what)
    if response.status_code >= 400:
        assert_unchanged(before, snapshot(world.app), what)
    else:
        world.check(what)


# Every route's parameters get these in the fixed corpus; GET routes get the query too.
ROUTE_CORPUS: tuple[str, ...] = ("a\x00b", "99999999999999999999", "²")
QUERY_CORPUS = "page=99999999999999999999&lang=%00&kind=%00&next=%00&incomplete=%00"


def route_corpus(rule: Rule, params: Mapping[str, Sequence[str]]) -> Iterator[tuple[str, str]]:
    known = {name: params.get(name, ("x",))[0] for name in rule.arguments}
    methods = sorted((rule.methods or set()) - {"OPTIONS", "HEAD"})
    for name in sorted(rule.arguments):
        for value in ROUTE_CORPUS:
            for method in methods:
                yield method, build_path(rule, {**known, name: value})
    if "GET" in methods:
        yield "GET", f"{build_path(rule, known)}?{QUERY_CORPUS}"


def fuzz_routes(world: World, endpoint: str, examples: int, tried: Callable[[int], None]) -> None:
    rules = [rule for rule in world.app.url_map.iter_rules() if rule.endpoint == endpoint]
    assert rules, f"no route {endpoint}"
    with Corpus(tried) as corpus:
        for rule in rules:
            for method, url in corpus.cases(route_corpus(rule, world.template.params)):
                with corpus.case(f"{method} {url}"):
                    visit(world, method, url, "admin")

    @fuzz_settings(examples)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        rule = data.draw(st.sampled_from(rules), label="rule")
        values = {
            name: data.draw(hostile_param(name, world.template.params.get(name, ("x",))), label=name)
            for name in rule.arguments
        }
        path = build_path(rule, values)
        query = data.draw(queries(), label="query")
        method = data.draw(st.sampled_from(sorted((rule.methods or set()) - {"OPTIONS"})), label="method")
        visitor = data.draw(st.sampled_from(VISITORS), label="visitor")
        visit(world, method, f"{path}?{query}" if query else path, visitor)
        tried(1)

    run()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_route_with_hostile_parameters(
    world: World, endpoint: str, tried: Callable[[int], None]
) -> None:
    """Path parameters, query strings and methods of every route; each visitor; no 5xx, no change on 4xx."""
    fuzz_routes(world, endpoint, 8, tried)


HOSTILE_PATHS: tuple[str, ...] = (
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/css/../../__init__.py",
    "/static/..%5c..%5c__init__.py",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/static/css/app.css%00.png",
    "/static/" + "a/" * 2000,
    "/" + "a" * 100_000,
    "/survey/p/" + "x" * 10_000,
    "/survey/p/..%2f..%2fadmin",
    "/survey/p/%00",
    "/s/" + "%" * 50,
    "/s/%zz",
    "/s/%",
    "/s/%ff%fe",
    "/s/%ed%a0%80",
    "/s/..%2f..%2f",
    "/planner/waves/%ff%fe/edit",
    "/planner/waves/..%2f..%2fadmin/users",
    "/planner/waves/%2e%2e",
    "/planner/waves/%00",
    "/planner/waves/%00/monitor/daily.png",
    "/planner/jobs/%00.json",
    "/planner/jobs/" + "a" * 40 + ".json",
    "//planner//waves//",
    "/admin/users/1e3",
    "/admin/users/-1",
    "/admin/users/0x10",
    "/admin/users/99999999999999999999999",
    "/admin/audit?page=99999999999999999999",
    "/admin/audit?page=-99999999999999999999",
    "/admin/audit?page=%00",
    "/?lang=%00",
    "/?lang=" + "x" * 10_000,
    "/survey/?lang=..%2f..%2f",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/.git/config",
    "/instance/surveyapp.sqlite3",
    "/static/",
    "/%E2%80%AE",
    "/%F0%9F%98%80",
    "/login?next=%00",
)
# Bytes straight into PATH_INFO: what a WSGI server passes on for a path that is not UTF-8.
RAW_PATHS: tuple[bytes, ...] = (
    b"/s/\xff\xfe",
    b"/planner/waves/\xed\xa0\x80",
    b"/planner/waves/\xc0\xae\xc0\xae/edit",
    b"/static/\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/etc/passwd",
    b"/survey/p/\x00",
    b"/s/\x00/opt-out",
    b"/admin/users/\xd9\xa1",
)


def _path_id(path: str | bytes) -> str:
    text = path.decode("latin-1") if isinstance(path, bytes) else path
    shown = text if len(text) <= 40 else f"{text[:30]}...({len(text)})"
    return ("raw:" if isinstance(path, bytes) else "") + shown.encode("unicode_escape").decode("ascii")


@pytest.mark.parametrize("path", HOSTILE_PATHS + RAW_PATHS, ids=_path_id)
def test_hostile_paths(world: World, path: str | bytes, tried: Callable[[int], None]) -> None:
    """Path traversal, very long paths, odd and broken percent-encodings: never a file, never a 500."""
    if isinstance(path, bytes):  # straight into PATH_INFO, as a WSGI server passes on non-UTF-8 bytes
        overrides = {"PATH_INFO": path.decode("latin-1"), "REQUEST_URI": path.decode("latin-1")}
        url = "/"
    else:
        overrides, url = {}, path
    for visitor in ("admin", None, "full"):
        for method in ("GET", "POST"):
            world.reset()
            response = send(world.client(visitor), method, url, environ_overrides=overrides)
            tried(1)
            what = f"{method} {_path_id(path)} as {visitor}"
            check_response(response, what)
            body = response.get_data()
            assert b"root:" not in body and b"SECRET_KEY" not in body and b"import " not in body, what
            assert response.status_code != 200 or "/static/" not in _path_id(path), what
            if response.status_code >= 400:
                assert_unchanged(world.baseline(), snapshot(world.app), what)


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "/%09/evil.example"]
)
def test_login_never_redirects_off_site(world: World, target: str, tried: Callable[[int], None]) -> None:
    client = world.app.test_client()
    response = client.post(
        f"/login?next={target}", data={"email": "planner@example.org", "password": PASSWORD}
    )
    tried(1)
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost"), location
    assert not location.startswith(("//", "/\\")) and "\t" not in location, location


# --- 2. every POST form, with generated bodies --------------------------------------------------


@st.composite
def form_items(draw: st.DrawFn, spec: FormSpec) -> list[FormItem]:
    """A form body: each known field valid, hostile, missing or twice; unknown fields; any order."""
    items: list[FormItem] = []
    for name, known in sorted(spec.fields.items()):
        mode = draw(st.sampled_from(["valid", "valid", "hostile", "missing", "twice"]), label=name)
        if mode == "missing":
            continue
        values = 2 if mode == "twice" else 1
        for _ in range(values):
            if known.file:
                items.append((name, draw(uploads())))
            elif mode == "valid" and known.values:
                items.append((name, draw(st.sampled_from(known.values))))
            else:
                items.append((name, draw(text_values(known.values, known.kind))))
    extra = draw(st.lists(st.tuples(field_names(), text_values()), max_size=3), label="extra")
    items += extra
    return draw(st.permutations(items)) if len(items) < 40 else items


def post_form(world: World, endpoint: str, path: str, visitor: str | None, body: Body) -> None:
    """Post one generated form and check the outcome: a clear page, and a consistent database."""
    world.reset()
    before = world.baseline()
    response = send(world.client(visitor), "POST", path, body)
    what = f"POST {path[:200]} as {visitor}"
    check_response(response, what)
    if response.status_code >= 400:
        after = snapshot(world.app)
        if endpoint == "auth.login":  # a failed login is audit-logged: that is its purpose
            before, after = without_audit(before), without_audit(after)
        assert_unchanged(before, after, what)
    else:
        world.check(what)


# The damage every form field that holds digits gets in the fixed corpus (and NUL on PostgreSQL).
CORPUS_MUTATIONS: tuple[Callable[[str], str], ...] = (_digits("²"), _digits("99999999999999999999"))


def form_corpus(spec: FormSpec, nul: bool) -> Iterator[tuple[str, list[FormItem], str]]:
    """Each form as the page shows it, with one field damaged at a time: each option of a choice
    (and a short value) that holds digits gets them replaced; on PostgreSQL every value gets a NUL."""
    for path, items in spec.submissions:
        yield path, items, "as shown"
        for index, (name, value) in enumerate(items):
            if not isinstance(value, str) or name == "csrf_token":
                continue
            known = spec.fields.get(name, FieldSpec(()))
            options = known.values if known.kind in ("select", "radio") else ()
            candidates = [
                v for v in dict.fromkeys((value, *options)) if re.search(r"[0-9]", v) and len(v) < 40
            ]
            damaged = [mutate(v) for v in candidates for mutate in CORPUS_MUTATIONS]
            damaged += [f"{value}\x00"] if nul else []
            for new in dict.fromkeys(damaged):
                yield path, [*items[:index], (name, new), *items[index + 1 :]], f"{name}={new!r:.60}"


def fuzz_form(world: World, endpoint: str, examples: int, tried: Callable[[int], None]) -> None:
    spec = world.template.forms.get(endpoint, FormSpec())
    with Corpus(tried) as corpus:
        for path, items, change in corpus.cases(form_corpus(spec, nul=world.db_path is None)):
            with corpus.case(f"POST {path} with {change}"):
                post_form(world, endpoint, path, "admin", encode(items, False))
    rules = [
        r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint and "POST" in (r.methods or ())
    ]
    known_paths = sorted(spec.paths) or [p for rule in rules for p in rule_paths(rule, world.template.params)]

    @fuzz_settings(examples)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        if known_paths and data.draw(st.integers(0, 3), label="hostile path?"):
            path = data.draw(st.sampled_from(known_paths), label="path")
        else:
            rule = data.draw(st.sampled_from(rules), label="rule")
            values = {
                name: data.draw(hostile_param(name, world.template.params.get(name, ("x",))), label=name)
                for name in rule.arguments
            }
            path = build_path(rule, values) or "/"
        visitor = data.draw(
            st.sampled_from(("admin", "admin", "admin", "planner", "viewer", None)), label="as"
        )
        items = data.draw(form_items(spec), label="form")
        body = encode(items, data.draw(st.booleans(), label="multipart"))
        note(f"form as the app reads it: {list(body.form().items(multi=True))!r:.2000}")
        post_form(world, endpoint, path, visitor, body)
        tried(1)

    run()


# Fewer examples where each post is slow: password hashing (argon2), rendering every mail preview.
EXPENSIVE = {"auth.login": 6, "admin.users": 6, "planner.mail_templates": 6}


@pytest.mark.parametrize("endpoint", [e for e in POST_ENDPOINTS if e not in ("survey.save", "survey.submit")])
def test_every_form_with_generated_data(world: World, endpoint: str, tried: Callable[[int], None]) -> None:
    """Every planner, admin and respondent POST route (except the respondent pages, fuzzed below)."""
    fuzz_form(world, endpoint, EXPENSIVE.get(endpoint, 12), tried)


def test_forms_were_found_by_the_crawl(world_template: WorldTemplate) -> None:
    """The crawl must see the forms it fuzzes: a page that stops showing one would hide it."""
    forms = world_template.forms
    expected = {
        "auth.login": {"email", "password"},
        "admin.users": {"email", "password", "role"},
        "planner.new_wave_page": {"title", "slug", "questionnaire", "retention_days"},
        "planner.register_upload": {"file", "email_column", "action", "analysed"},
        "planner.responses_import": {"file", "action"},
        "planner.mail_templates": {"action"},
        "planner.change_state": {"to"},
        "survey.save": {"action", "q_status"},
        "survey.submit": set(),
    }
    for endpoint, names in expected.items():
        assert endpoint in forms, f"no form posts to {endpoint}"
        assert names <= set(forms[endpoint].fields), f"{endpoint}: {sorted(forms[endpoint].fields)}"
    assert forms["planner.register_upload"].fields["file"].file


# --- 3. the respondent pages: an oracle for what each post must store ----------------------------

# What one field of a posted page must do: store a value, clear the answer, keep the saved one
# (a field the browser did not send at all), refuse the page, or (unknown) the oracle cannot say.
VALID, EMPTY, ABSENT, INVALID, UNKNOWN = "valid", "empty", "absent", "invalid", "unknown"


def field_outcome(question: Question, values: list[str]) -> tuple[str, Any]:
    """What posting these values for one visible field must do."""
    if not values:  # unchecked checkboxes send nothing: none chosen; any other field keeps its answer
        return (EMPTY, None) if question.type == "multiple_choice" else (ABSENT, None)
    raw = values[0]
    blank = not raw.strip()
    if question.type == "multiple_choice":
        if all(v in question.codes for v in values):
            return VALID, sorted(set(values))
        if len(values) == 1 and blank and not question.required:
            return EMPTY, None
        return (INVALID, None) if not blank else (UNKNOWN, None)
    if question.type in CHOICE_TYPES:
        if raw in question.codes:
            return VALID, raw
        return (EMPTY, None) if blank and not question.required else (INVALID, None)
    if question.type == "number":
        try:
            number: float = int(raw) if question.integer else float(raw)
        except ValueError:
            return (EMPTY, None) if blank and not question.required else (INVALID, None)
        low, high = question.minimum, question.maximum
        if (
            not math.isfinite(number)
            or (low is not None and number < low)
            or (high is not None and number > high)
        ):
            return INVALID, None
        return VALID, number
    if question.type in ("text", "long_text"):
        if blank and not question.required:
            return EMPTY, None
        if len(raw) > text_limit(question) or raw == "":
            return INVALID, None
        text = stored_text(raw)
        return (VALID, text) if text else (EMPTY, None)
    return UNKNOWN, None


def stored_text(raw: str) -> str:
    """An open answer as the app keeps it: newlines as LF, no control characters, no outer spaces."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


def draft_answers(app: Flask, invitation_id: int) -> dict[str, Any] | None:
    with app.app_context():
        draft = service.draft_of(invitation_id)
        return service.decrypt_draft(invitation_id, draft.sealed).answers if draft else None


def page_of_key(key: str) -> str:
    return QN.question(key.split("/", 1)[0]).page_id


def visible_fields(page_id: str, answers: Mapping[str, Any]) -> list[tuple[Question, str]]:
    page = QN.pages[QN.page_index(page_id)]
    found = []
    for question in page.questions:
        if not question.answerable or not QN.question_visible(question, answers):
            continue
        if question.type == "matrix":
            found += [
                (question, f"{question.id}/{i.id}")
                for i in question.items
                if QN.item_visible(question, i, answers)
            ]
        else:
            found.append((question, question.id))
    return found


def check_page_post(
    page_id: str,
    action: str,
    form: MultiDict[str, str],
    status: int,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    """The oracle: given the draft before and the form as the app read it, what the draft must be now."""
    if status == 400 and any("\x00" in value for _key, value in form.items(multi=True)):
        return  # a NUL byte anywhere may get the whole request refused (the draft is unchanged)
    if service.navigation(QN, before).index(page_id) is None:
        assert status == 404, f"page {page_id!r} is not visible: HTTP {status}"
        return
    if action not in ("next", "back", "save"):
        assert status == 400, f"unknown action {action!r}: HTTP {status}"
        return
    outcomes = {
        key: (question, *field_outcome(question, form.getlist(field_name(key))))
        for question, key in visible_fields(page_id, before)
    }
    if action == "next":
        refused = [
            k for k, (q, o, _) in outcomes.items() if o == INVALID or (o in (EMPTY, ABSENT) and q.required)
        ]
        if any(o == UNKNOWN for _, o, _ in outcomes.values()):
            pass
        elif refused:
            assert status == 422, f"next with invalid or missing {refused}: HTTP {status}"
        else:
            assert status == 302, f"next with valid answers only: HTTP {status} (answers lost)"
    if status >= 400:
        return
    for key, (_question, outcome, value) in outcomes.items():
        stored = after.get(key)
        if outcome == VALID:
            shown = sorted(set(stored)) if isinstance(stored, list) else stored
            assert shown == value, f"{key}: posted {value!r:.80}, stored {stored!r:.80}"
        elif outcome == EMPTY:
            assert key not in after, f"{key}: emptied, but {stored!r:.80} is still stored"
        elif outcome in (INVALID, ABSENT):
            assert stored == before.get(key), (
                f"{key}: an invalid value replaced {before.get(key)!r:.80} by {stored!r:.80}"
            )
    for key, value in before.items():
        if page_of_key(key) == page_id:
            continue
        if key in after:
            assert after[key] == value, (
                f"{key}: changed from {value!r:.80} to {after[key]!r:.80} by page {page_id}"
            )
        else:
            assert key not in QN.clean_answers({**after, key: value}), f"{key}: dropped although still asked"


PAGE_IDS = [page.id for page in QN.pages]


@st.composite
def page_posts(draw: st.DrawFn, target: str) -> tuple[str, list[FormItem], bool]:
    """A post to a respondent page: its fields (and others'), valid, hostile, twice or missing."""
    page_id = draw(st.one_of(st.just(target), st.just(target), st.sampled_from(PAGE_IDS)), label="page")
    page = QN.pages[QN.page_index(page_id)]
    items: list[FormItem] = []
    for question in page.questions:
        for key in question.variable_names():
            codes = list(question.codes)
            if question.type == "number":
                codes = ["0", "1", "7", "15", "40", "2.5", "36.5", "-3", "1000"]
            elif question.type in ("text", "long_text"):
                codes = [
                    "Een antwoord",
                    "  met spaties  ",
                    "x" * text_limit(question),
                    "x" * (text_limit(question) + 1),
                ]
            mode = draw(st.sampled_from(["valid", "valid", "hostile", "missing", "twice", "many"]), label=key)
            if mode == "missing":
                continue
            count = {"twice": 2, "many": draw(st.integers(2, 5))}.get(mode, 1)
            kind = {"number": "number"}.get(question.type, "text")
            strategy = st.sampled_from(codes) if mode == "valid" and codes else text_values(codes, kind)
            items += [(field_name(key), draw(strategy)) for _ in range(count)]
    action = draw(
        st.one_of(st.sampled_from(["next", "next", "back", "save"]), text_values(["next"])), label="action"
    )
    if draw(st.integers(0, 9), label="no action?"):
        items.append(("action", action))
    items += draw(st.lists(st.tuples(field_names(), text_values()), max_size=2), label="extra")
    return (
        page_id,
        draw(st.permutations(items)) if len(items) < 30 else items,
        draw(st.booleans(), label="multipart"),
    )


def response_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(Response)).scalar_one())


def respondent_post(world: World, kind: str, client: FlaskClient, page_id: str, body: Body) -> None:
    """Post one page and hold the app to the oracle."""
    invitation_id = world.template.invitations[kind]
    form = body.form()
    before = draft_answers(world.app, invitation_id)
    responses = response_count(world.app)
    response = send(client, "POST", f"/survey/p/{page_id}", body)
    what = f"POST /survey/p/{page_id} ({kind})"
    check_response(response, what)
    after = draft_answers(world.app, invitation_id)
    world.check(what)
    assert response_count(world.app) == responses, f"{what}: the number of responses changed"
    if response.status_code >= 400:
        assert after == before, f"{what}: HTTP {response.status_code}, but the draft changed"
    action = form.get("action", "next")
    check_page_post(page_id, action, form, response.status_code, before or {}, after or {})


# Known-bad values for each kind of field (the fixed corpus); a list is what the form sends.
def corpus_values(question: Question, valid: str) -> list[list[str]]:
    if question.type == "multiple_choice":
        return [[" "], [valid, valid], ["", valid], [valid, "nope"], [], [valid + "\x00"]]
    if question.type in CHOICE_TYPES:
        return [
            [" "],
            ["\t"],
            ["\xa0"],
            ["nope"],
            [valid.upper() + "x"],
            [valid + "\x00"],
            ["²"],
            [valid, "nope"],
        ]
    if question.type == "number":
        return [
            ["nan"],
            ["inf"],
            ["-inf"],
            ["1e400"],
            ["²"],
            ["١٢"],
            ["9" * 5000],
            ["99999999999999999999"],
            [" "],
        ]
    return [["\x00"], ["a\x00b"], ["   "], [HUGE], ["\u202eevil\u202c"], ["e\u0301"], [valid, "other"]]


def respondent_corpus(page_id: str) -> Iterator[tuple[list[FormItem], str]]:
    """The page as a complete respondent sends it, with one field replaced by a known-bad value."""
    page = QN.pages[QN.page_index(page_id)]
    base = page_form_data(page_id)
    for question in page.questions:
        for key in question.variable_names():
            name = field_name(key)
            valid = FULL_ANSWERS.get(key)
            first = str(valid[0] if isinstance(valid, list) else valid if valid is not None else "")
            for values in corpus_values(question, first):
                items = [item for item in base if item[0] != name] + [(name, v) for v in values]
                yield [*items, ("action", "next")], f"{name}={values!r:.60}"


def fuzz_respondent(world: World, target: str, examples: int, tried: Callable[[int], None]) -> None:
    with Corpus(tried) as corpus:
        for items, change in corpus.cases(respondent_corpus(target)):
            world.reset()
            with corpus.case(f"POST /survey/p/{target} with {change}"):
                respondent_post(world, "full", world.client("full"), target, encode(items, False))

    @fuzz_settings(examples)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        world.reset()
        kind = data.draw(st.sampled_from(["full", "full", "partial", "fresh"]), label="respondent")
        client = world.client(kind)
        for step in range(data.draw(st.integers(1, 3), label="posts")):
            page_id, items, as_multipart = data.draw(page_posts(target), label=f"post {step}")
            body = encode(items, as_multipart)
            note(f"post {step} to {page_id}: {list(body.form().items(multi=True))!r:.3000}")
            respondent_post(world, kind, client, page_id, body)
            tried(1)

    run()


@pytest.mark.parametrize("target", PAGE_IDS)
def test_respondent_page_with_generated_answers(
    world: World, target: str, tried: Callable[[int], None]
) -> None:
    """Every respondent page: valid, hostile, duplicated and missing answers; the draft stays valid."""
    fuzz_respondent(world, target, 25, tried)


@st.composite
def hostile_page_ids(draw: st.DrawFn) -> str | bytes:
    return draw(st.one_of(st.sampled_from(PAGE_IDS), text_values(PAGE_IDS)))


def test_respondent_hostile_pages_and_actions(world: World, tried: Callable[[int], None]) -> None:
    """Unknown pages and actions, hidden pages, no session, a submitted questionnaire: 4xx, nothing saved."""

    @fuzz_settings(20)
    @given(
        kind=st.sampled_from(["full", "partial", "fresh", "submitted", None]),
        page_id=hostile_page_ids(),
        action=text_values(["next", "back", "save"]),
        method=st.sampled_from(["GET", "POST"]),
    )
    def run(kind: str | None, page_id: Value, action: Value, method: str) -> None:
        world.reset()
        path = "/survey/p/" + quote_from_bytes(_raw(page_id), safe="")
        before = world.baseline()
        response = send(
            world.client(kind), method, path, encode([("action", action), ("q_status", "actief")], False)
        )
        tried(1)
        what = f"{method} {path[:200]} action={action!r:.60} ({kind})"
        check_response(response, what)
        if response.status_code >= 400:
            assert_unchanged(before, snapshot(world.app), what)
        else:
            world.check(what)

    run()


def test_submit_creates_exactly_one_response(world: World, tried: Callable[[int], None]) -> None:
    """Submit after generated answers, submit again, from a second browser too: one response at most."""

    @fuzz_settings(12)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        world.reset()
        kind = data.draw(st.sampled_from(["full", "partial", "fresh"]), label="respondent")
        invitation_id = world.template.invitations[kind]
        client, other = world.client(kind), world.client(kind)
        for page_id in data.draw(st.lists(st.sampled_from(PAGE_IDS), max_size=4), label="pages"):
            items = page_form_data(page_id) + data.draw(
                st.lists(st.tuples(field_names(), text_values()), max_size=2)
            )
            items.append(("action", data.draw(st.sampled_from(["next", "back", "save"]))))
            check_response(send(client, "POST", f"/survey/p/{page_id}", encode(items, False)), page_id)
            tried(1)
        draft = draft_answers(world.app, invitation_id) or {}
        complete = service.missing_required(QN, QN.clean_answers(draft)) is None
        before = snapshot(world.app)
        extra = data.draw(st.lists(st.tuples(field_names(), text_values()), max_size=3), label="submit form")
        response = send(client, "POST", "/survey/submit", encode(extra, data.draw(st.booleans())))
        tried(1)
        check_response(response, "submit")
        after = snapshot(world.app)
        # A submission waits sealed for its anonymous batch (the wave's k is never reached here).
        new = sorted(set(after["pending"]) - set(before["pending"]))
        assert after["responses"] == before["responses"]
        if complete:
            assert response.status_code == 302 and response.headers["Location"].endswith("/survey/thanks")
            assert len(new) == 1, f"a complete questionnaire gave {len(new)} submissions"
            with world.app.app_context():
                stored = db.session.get(PendingSubmission, new[0])
                assert stored is not None
                content = pending.unseal(stored.wave_id, stored.sealed)
                assert content["answers"] == QN.clean_answers(draft), "the answers changed"
                assert service.draft_of(invitation_id) is None
                assert db.session.get(Invitation, invitation_id).submitted  # type: ignore[union-attr]
        else:
            assert response.status_code == 302 and "incomplete=1" in response.headers["Location"]
            assert_unchanged(before, after, "an incomplete submit")
        # Again, from this browser and from another one that still has the questionnaire open.
        for again in (client, other):
            for method, path in (
                ("POST", "/survey/submit"),
                ("POST", "/survey/p/profiel"),
                ("GET", "/survey/review"),
            ):
                body = (
                    encode([*page_form_data("profiel"), ("action", "next")], False)
                    if method == "POST"
                    else None
                )
                repeat = send(again, method, path, body)
                tried(1)
                check_response(repeat, f"{method} {path} after submitting")
                if complete:
                    # This browser is told it answered already (200); another one holding the
                    # questionnaire open is refused (409).
                    assert repeat.status_code in (200, 403, 409), (
                        f"{method} {path} after submit: {repeat.status_code}"
                    )
                    if repeat.status_code == 200:
                        assert again is client, f"{method} {path}"
                        assert "al ingevuld" in repeat.text or "already answered" in repeat.text
        final = snapshot(world.app)
        assert final["responses"] == after["responses"], "a second submit changed the responses"
        assert final["pending"] == after["pending"], "a second submit changed the submissions"
        world.check("after submitting")

    run()


# --- 4. the import pages: broken files ------------------------------------------------------------

CELL_VALUES = (
    "p1@example.org",
    "jan.janssens@vlaanderen.be",
    "not-an-email",
    "@",
    "a@b",
    "actief",
    "gepensioneerd",
    "Statutair",
    "nl",
    "EN",
    "fr",
    "1990",
    "10001",
    "=1+1",
    '=HYPERLINK("http://evil.example")',
    "@SUM(1+1)",
    '"',
    '""',
    "a;b",
    "a,b",
    "line\nbreak",
    "\r",
    "x" * 300,
    "2021-03-01",
    "yes",
    "ja",
    "4",
    "financieel",
)
HEADER_POOL = (
    "email",
    "E-mail",
    "Personeelsnummer",
    "person_id",
    "Naam",
    "Taal",
    "Status",
    "Contract",
    "Geboortejaar",
    "Afdeling",
    "_submission_time",
    "language",
    *response_import.answer_columns(QN),
)
ENCODINGS = (
    "utf-8",
    "utf-8-sig",
    "cp1252",
    "latin-1",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "mac_roman",
    "shift_jis",
    "cp037",
)


def cell_text() -> st.SearchStrategy[str]:
    short = [s for s in HOSTILE_TEXT if len(s) < 1000]
    return st.one_of(st.sampled_from(CELL_VALUES), st.sampled_from(short), st.text(max_size=20))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    columns = draw(st.integers(1, 6))
    headers = draw(
        st.lists(st.one_of(st.sampled_from(HEADER_POOL), cell_text()), min_size=columns, max_size=columns)
    )
    rows = draw(st.lists(st.lists(cell_text(), max_size=columns + 2), max_size=6))
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=draw(st.sampled_from([";", ",", "\t", "|", " ", ":"])),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
    )
    for row in [headers, *rows]:
        writer.writerow(row)
    data = out.getvalue().encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@cache
def hostile_files() -> dict[str, bytes]:
    """Files that must be refused with a clear message (or read), never crash the import."""
    xlsx = STAFF_XLSX.read_bytes()
    csv_bytes = STAFF_CSV.read_bytes()
    flipped = bytearray(xlsx)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[i] ^= 0xFF
    not_xlsx = io.BytesIO()
    with zipfile.ZipFile(not_xlsx, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    broken_xml = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(broken_xml, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                content = content[: len(content) // 2]
            target.writestr(item, content)
    return {
        "truncated-10.xlsx": xlsx[: len(xlsx) // 10],
        "truncated-50.xlsx": xlsx[: len(xlsx) // 2],
        "truncated-99.xlsx": xlsx[:-10],
        "flipped.xlsx": bytes(flipped),
        "zip-not-xlsx.xlsx": not_xlsx.getvalue(),
        "broken-sheet-xml.xlsx": broken_xml.getvalue(),
        "xlsx-named.csv": xlsx,
        "csv-named.xlsx": csv_bytes,
        "old-excel.xls": bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 500,
        "random.csv": random.Random(7).randbytes(65_536),
        "empty.csv": b"",
        "blank.csv": b" \r\n\t\n",
        "nul-bytes.csv": b"email;naam\x00\np1@example.org;\x00\x00\n",
        "utf16-no-bom.csv": "email;naam\np1@example.org;Zoë\n".encode("utf-16-le"),
        "utf32.csv": "email;naam\np1@example.org;Zoë\n".encode("utf-32"),
        "ebcdic.csv": "email;naam\np1@example.org;Jan\n".encode("cp037"),
        "bom-middle.csv": "email;naam\n\ufeffp1@example.org;Jan\n".encode(),
        "huge-field.csv": b"email;naam\np1@example.org;" + b"x" * 200_000 + b"\n",
        "unterminated-quote.csv": b'email;naam\np1@example.org;"Jan\np2@example.org;Piet\n',
        "10000-columns.csv": (";".join(f"c{i}" for i in range(10_000)) + "\n" + ";" * 9_999 + "\n").encode(),
        "header-only.csv": b"email;naam\n",
        "delimiters-only.csv": b";;;;\n;;;;\n",
        "duplicate-headers.csv": b"email;email;EMAIL\na@b.be;c@d.be;e@f.be\n",
        "cr-only.csv": b"email;naam\rp1@example.org;Jan\r",
        "gzip.csv": bytes.fromhex("1f8b0800000000000003") + b"\x00" * 20,
        "pdf.csv": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        "formulas.csv": b"email;naam\np1@example.org;=cmd|' /C calc'!A0\np2@example.org;@SUM(1)\n",
        "long-lines.csv": b"email;naam\n" + b"p1@example.org;" + b"a;" * 50_000 + b"\n",
        "many-rows.csv": b"email;naam\n" + b"".join(b"p%d@example.org;N\n" % i for i in range(20_000)),
    }


FILENAMES = (
    "register.csv",
    "export.xlsx",
    "data.txt",
    "x.tsv",
    "noext",
    "x.xls",
    "X.CSV",
    "../../../etc/passwd.csv",
    "..\\..\\x.csv",
    "a" * 300 + ".csv",
    "naïve 😀.csv",
    "x.csv\x00.exe",
    ".csv",
    "x.xlsm",
    "x.pdf",
    "x.csv;.xlsx",
    "\u202excl.csv",
)


def uploads() -> st.SearchStrategy[Upload]:
    names = st.one_of(st.sampled_from(FILENAMES), st.text(max_size=20))
    contents = st.one_of(
        csv_files(),
        st.binary(max_size=2048),
        st.sampled_from(sorted(hostile_files())).map(lambda name: hostile_files()[name]),
        st.builds(lambda cut: STAFF_XLSX.read_bytes()[:cut], st.integers(0, 20_000)),
    )
    return st.builds(Upload, names, contents)


def fuzz_import(world: World, endpoint: str, examples: int, tried: Callable[[int], None]) -> None:
    slug = WAVES["draft"] if endpoint == "planner.register_upload" else WAVES["closed"]
    path = {
        "planner.register_upload": f"/planner/waves/{slug}/register",
        "planner.responses_import": f"/planner/waves/{slug}/responses/import",
    }[endpoint]
    spec = world.template.forms[endpoint]

    @fuzz_settings(examples)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        world.reset()
        upload = data.draw(uploads(), label="file")
        headers: list[str] = []
        with contextlib.suppress(Exception):  # most generated files are not tables
            headers = reg.read_table(upload.data, upload.filename).headers
        items: list[FormItem] = [("file", upload)]
        for name, known in sorted(spec.fields.items()):
            if name == "file" or data.draw(st.integers(0, 2), label=f"{name}?") == 0:
                continue
            if name == "analysed":
                choices = [hashlib.sha256(upload.data).hexdigest(), *known.values]
            else:
                choices = [*headers, *known.values]
            items.append((name, data.draw(text_values(choices) if choices else text_values(), label=name)))
        before = world.baseline()
        response = send(world.client("planner"), "POST", path, encode(items, True))
        tried(1)
        what = f"POST {path} with {upload.filename!r:.60} ({len(upload.data)} bytes)"
        check_response(response, what)
        job = re.search(r"/register/jobs/(\w+)$", response.headers.get("Location", ""))
        if job:  # a register check or import runs in the background: its end is the outcome
            assert jobs.wait(job.group(1), timeout=120), f"{what}: the job did not end"
        if response.status_code >= 400:
            assert_unchanged(before, snapshot(world.app), what)
        else:
            world.check(what)

    run()


@pytest.mark.parametrize("endpoint", ["planner.register_upload", "planner.responses_import"])
def test_import_pages_with_generated_files(world: World, endpoint: str, tried: Callable[[int], None]) -> None:
    fuzz_import(world, endpoint, 20, tried)


@pytest.mark.parametrize("endpoint", ["planner.register_upload", "planner.responses_import"])
def test_import_pages_with_hostile_files(world: World, endpoint: str, tried: Callable[[int], None]) -> None:
    """Truncated and damaged workbooks, binary data, wrong encodings, CSV the reader chokes on."""
    slug = WAVES["draft"] if endpoint == "planner.register_upload" else WAVES["closed"]
    path = (
        f"/planner/waves/{slug}/register"
        if endpoint == "planner.register_upload"
        else f"/planner/waves/{slug}/responses/import"
    )
    client = world.client("planner")
    for name, data in hostile_files().items():
        for action in ("analyse", "import"):
            response = send(
                client, "POST", path, encode([("action", action), ("file", Upload(name, data))], True)
            )
            tried(1)
            what = f"{name} ({action})"
            check_response(response, what)
            assert response.status_code in (200, 409, 413, 422), f"{what}: HTTP {response.status_code}"
    assert_unchanged(world.baseline(), snapshot(world.app), "hostile files")


@pytest.mark.parametrize("endpoint", ["planner.register_upload", "planner.responses_import"])
def test_import_over_the_size_limit_is_413(
    world: World, endpoint: str, monkeypatch: pytest.MonkeyPatch, tried: Callable[[int], None]
) -> None:
    slug = WAVES["draft"] if endpoint == "planner.register_upload" else WAVES["closed"]
    path = (
        f"/planner/waves/{slug}/register"
        if endpoint == "planner.register_upload"
        else f"/planner/waves/{slug}/responses/import"
    )
    client = world.client("planner")
    limit = world.app.config["MAX_CONTENT_LENGTH"]
    # A request larger than MAX_CONTENT_LENGTH: werkzeug refuses it before the view runs.
    big = Upload("register.csv", b"email;naam\n" + b"a@b.be;x\n" * (limit // 9 + 1))
    response = send(client, "POST", path, encode([("action", "import"), ("file", big)], True))
    tried(1)
    check_response(response, "a request over MAX_CONTENT_LENGTH")
    assert response.status_code == 413
    # A file over the import's own limit inside a request the server accepts: the view says 413.
    monkeypatch.setattr(reg, "MAX_BYTES", 1000)
    for size in (1001, 5000):
        over = Upload("register.csv", b"email;naam\n" + b"a" * size)
        response = send(client, "POST", path, encode([("action", "import"), ("file", over)], True))
        tried(1)
        check_response(response, f"a {size}-byte file over a 1000-byte limit")
        assert response.status_code == 413
        assert b"MB" in response.get_data()
    assert_unchanged(world.baseline(), snapshot(world.app), "files over the limit")


# --- 5. CSRF: every POST route refuses a missing, forged or foreign token --------------------------


def test_csrf_on_every_post_route(
    world_template: WorldTemplate, tmp_path: Path, tried: Callable[[int], None]
) -> None:
    db_path = tmp_path / "csrf.sqlite3"
    shutil.copy(world_template.db_path, db_path)
    app = make_app(
        f"sqlite:///{db_path}", tmp_path, WTF_CSRF_ENABLED=True, **fuzz_config(world_template.qdir)
    )
    world = World(app, world_template, db_path)
    stranger = app.test_client()
    foreign = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', stranger.get("/login").get_data(as_text=True)
    )
    assert foreign, "the login page has no CSRF token"
    posts = [
        (endpoint, path, spec)
        for endpoint in POST_ENDPOINTS
        for spec in [world_template.forms.get(endpoint, FormSpec())]
        for path in (
            sorted(spec.paths)[:2]
            or rule_paths(
                next(
                    r
                    for r in app.url_map.iter_rules()
                    if r.endpoint == endpoint and "POST" in (r.methods or ())
                ),
                world_template.params,
            )[:1]
        )
    ]
    assert {endpoint for endpoint, _, _ in posts} == set(POST_ENDPOINTS)

    @fuzz_settings(30)
    @given(
        post=st.sampled_from(posts),
        visitor=st.sampled_from(["admin", "planner", "full", None]),
        token=st.one_of(
            st.none(),
            st.just(foreign.group(1)),
            text_values(),
            st.text(alphabet="0123456789abcdef.-_", min_size=20, max_size=120),
        ),
        in_header=st.booleans(),
        twice=st.booleans(),
        multipart_body=st.booleans(),
    )
    def run(
        post: tuple[str, str, FormSpec],
        visitor: str | None,
        token: Value | None,
        in_header: bool,
        twice: bool,
        multipart_body: bool,
    ) -> None:
        endpoint, path, spec = post
        world.reset()
        items: list[FormItem] = [
            (name, known.values[0])
            for name, known in spec.fields.items()
            if known.values and name != "csrf_token"
        ]
        headers = {}
        if token is not None:
            if in_header:
                headers["X-CSRFToken"] = _raw(token).decode("latin-1")
            else:
                items.insert(0, ("csrf_token", token))
                if twice:
                    items.append(("csrf_token", foreign.group(1)))
        response = send(world.client(visitor), "POST", path, encode(items, multipart_body), headers=headers)
        tried(1)
        what = f"POST {path} ({endpoint}) as {visitor} with token {token!r:.40}"
        check_response(response, what)
        assert response.status_code == 400, f"{what}: HTTP {response.status_code}"
        assert_unchanged(world.template.baseline, snapshot(app), what)

    run()
    # The control: with the session's own token the same app accepts a post.
    world.reset()
    admin = world.client("admin")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', admin.get("/planner/").get_data(as_text=True))
    assert token
    assert admin.post("/logout", data={"csrf_token": token.group(1)}).status_code == 302
    with app.app_context():
        db.engine.dispose()


# --- 6. PostgreSQL: the values SQLite stores but PostgreSQL refuses --------------------------------
# One world per test, shared by its examples (no reset): fewer examples, every surface.


def each(names: Sequence[str], run: Callable[[str], None]) -> None:
    """Run for every name and report every failure together (one test covers many routes here)."""
    failures = []
    for name in names:
        try:
            run(name)
        except AssertionError as error:
            failures.append(f"{name}: {str(error)[:3000]}")
    assert not failures, f"{len(failures)} of {len(names)} failed:\n\n" + "\n\n".join(failures)


@pytest.mark.postgres
def test_postgres_respondent_pages(pg_world: World, tried: Callable[[int], None]) -> None:
    """Open answers and numbers (JSONB refuses NUL characters and non-finite numbers)."""
    each(PAGE_IDS, lambda target: fuzz_respondent(pg_world, target, 6, tried))


@pytest.mark.postgres
def test_postgres_routes(pg_world: World, tried: Callable[[int], None]) -> None:
    """Hostile path parameters and queries on every route (strings with NUL, numbers out of range)."""
    each(ENDPOINTS, lambda endpoint: fuzz_routes(pg_world, endpoint, 3, tried))


@pytest.mark.postgres
def test_postgres_forms(pg_world: World, tried: Callable[[int], None]) -> None:
    """Every POST form as its page shows it with one field damaged, NUL included, and generated bodies."""
    forms = [e for e in POST_ENDPOINTS if e not in ("survey.save", "survey.submit")]
    each(forms, lambda endpoint: fuzz_form(pg_world, endpoint, 4, tried))


@pytest.mark.postgres
def test_postgres_imports(pg_world: World, tried: Callable[[int], None]) -> None:
    """Generated register and response files."""
    each(
        ["planner.register_upload", "planner.responses_import"],
        lambda endpoint: fuzz_import(pg_world, endpoint, 10, tried),
    )
