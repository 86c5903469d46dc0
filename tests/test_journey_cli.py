"""The first real wave, end to end, as a planner and respondents run it (the definition of done).

From an empty database (SQLite, and PostgreSQL when the test server answers), with only what
they have: the planner runs the real ``surveyapp`` command in a subprocess, the app is served
by gunicorn on a free local port, and respondents follow the personal link in their invitation
mail (an ``.eml`` in the outbox, parsed as MIME) and answer every page over HTTP, filling each
page's form from its HTML (CSRF token included) as a browser would. Nothing here reads the
database or calls a service function.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode, urljoin
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REPO, need_postgres, sqlalchemy_url

pytestmark = pytest.mark.slow

SURVEYAPP = str(Path(sys.executable).parent / "surveyapp")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
REGISTER = REPO / "examples" / "register.csv"
SLUG = "gerechtigden-2027"
RESPONDENTS = 12
PLANNER = "planner@example.org"
LINK = re.compile(r"(https?://[^\s<>\"]+/s/[A-Za-z0-9_-]{20,})")
TIMINGS: dict[str, float] = {}


# --- the database, the server and the command -----------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even the schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journey.sqlite3'}"
        return
    server = need_postgres()
    name = f"surveyapp_journey_{os.getpid()}"
    admin = create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Planner:
    """Runs ``surveyapp`` as a planner does, with the deployment's environment."""

    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        started = time.perf_counter()
        done = subprocess.run(
            [SURVEYAPP, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=600
        )
        step = " ".join(args[:2])
        TIMINGS[step] = TIMINGS.get(step, 0.0) + time.perf_counter() - started
        if ok:
            assert done.returncode == 0, f"surveyapp {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture
def deployment(empty_database: str, tmp_path: Path) -> Iterator[tuple[Planner, str, Path]]:
    """The environment of a small installation, and gunicorn serving it on a free port."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    outbox = tmp_path / "outbox"
    env = {
        **os.environ,
        "DATABASE_URL": empty_database,
        "OUTBOX_DIR": str(outbox),
        "SECRET_KEY": "journey-" + "x" * 40,
        "BASE_URL": base_url,
        "SURVEYAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "off",
        "LOG_LEVEL": "warning",
    }
    for name in ("REDIS_URL", "MAIL_SERVER", "QUESTIONNAIRE_DIR", "FLASK_APP"):
        env.pop(name, None)
    planner = Planner(env, tmp_path)
    TIMINGS.clear()
    planner.run("db", "upgrade")
    # The server's log goes to a file: a pipe nobody reads would fill and stop the workers.
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [GUNICORN, "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with build_opener().open(f"{base_url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "gunicorn stopped: " + log_tail(tmp_path)
            assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
            time.sleep(0.2)
        yield planner, base_url, outbox
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def log_tail(folder: Path) -> str:
    return (folder / "gunicorn.log").read_text(encoding="utf-8", errors="replace")[-3000:]


# --- mail ------------------------------------------------------------------------------------


def read_outbox(outbox: Path) -> dict[Path, EmailMessage]:
    parser = BytesParser(policy=policy.default)
    return {
        path: parser.parsebytes(path.read_bytes())  # type: ignore[misc]
        for path in sorted(outbox.glob("*.eml"))
    }


def recipient(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def personal_link(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = LINK.search(str(part.get_content()))  # type: ignore[attr-defined]
    assert found, "no personal link in the mail"
    return found.group(1)


# --- a respondent's browser --------------------------------------------------------------------


@dataclass
class Form:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)  # radio name -> values
    boxes: dict[str, list[str]] = field(default_factory=dict)  # checkbox name -> values
    selects: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> attributes
    buttons: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """The forms of a page, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []
        self._select: str | None = None
        self._link: str | None = None
        self._link_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", "")))
        elif tag == "a" and "href" in a:
            self._link, self._link_text = a["href"], ""
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind == "hidden":
                form.hidden[name] = a.get("value", "")
            elif kind == "radio":
                form.options.setdefault(name, []).append(a.get("value", ""))
            elif kind == "checkbox":
                form.boxes.setdefault(name, []).append(a.get("value", ""))
            elif kind in ("text", "email", "number"):
                form.texts[name] = a
        elif tag == "textarea" and name:
            form.texts[name] = a
        elif tag == "select" and name:
            self._select = name
            form.selects[name] = []
        elif tag == "option" and self._select and a.get("value"):
            form.selects[self._select].append(a["value"])
        elif tag == "button" and name:
            form.buttons[a.get("value", "")] = name

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link, self._link_text.strip()))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link_text += data


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


class Browser:
    """Cookies, redirects and forms, nothing else (no JavaScript: the survey needs none)."""

    def __init__(self) -> None:
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))
        self.url = ""

    def request(
        self, url: str, data: dict[str, str] | list[tuple[str, str]] | None = None
    ) -> tuple[int, str]:
        body = urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(Request(url, data=body), timeout=180) as answer:
                self.url = answer.geturl()
                return int(answer.status), answer.read().decode("utf-8")
        except HTTPError as error:
            self.url = error.geturl() or url
            return int(error.code), error.read().decode("utf-8")


def answers_for(form: Form, rng: random.Random) -> list[tuple[str, str]]:
    """Valid-looking answers for every field of a questionnaire page."""
    data = list(form.hidden.items())
    for name, values in form.options.items():
        data.append((name, rng.choice(values)))
    for name, values in form.boxes.items():
        data.append((name, rng.choice(values)))
    for name, values in form.selects.items():
        if values:
            data.append((name, rng.choice(values)))
    for name, attributes in form.texts.items():
        numeric = attributes.get("inputmode") in ("numeric", "decimal")
        data.append((name, str(rng.randint(1, 4)) if numeric else "Meer info over het aanbod, graag."))
    return data


def answer_the_survey(link: str, rng: random.Random) -> int:
    """Open the link, start, answer every page, submit; returns the number of pages answered."""
    browser = Browser()
    status, html = browser.request(link)
    assert status == 200 and "/survey/" in browser.url, (status, browser.url)
    start = next(href for href, label in parse(html).links if "/survey/p/" in href)
    status, html = browser.request(urljoin(browser.url, start))
    for pages in range(60):
        assert status == 200, html[:2000]
        parsed = parse(html)
        form = next((f for f in parsed.forms if "/survey/" in f.action), None)
        assert form is not None, html[:2000]
        if "submit" in form.action:  # the review page
            status, html = browser.request(urljoin(browser.url, form.action), list(form.hidden.items()))
            assert status == 200, html[:2000]
            return pages
        for _attempt in range(5):
            data = answers_for(form, rng)
            if "next" in form.buttons:
                data.append((form.buttons["next"], "next"))
            status, html = browser.request(urljoin(browser.url, form.action), data)
            if status != 422:  # a choice that does not go together (e.g. "none" with others): again
                break
            form = next(f for f in parse(html).forms if "/survey/" in f.action)
    raise AssertionError("the questionnaire did not end")


# --- the journey ---------------------------------------------------------------------------------


def status_counts(output: str) -> dict[str, int]:
    """The overall line of ``wave status``: invited, started, submitted, rate, opted out."""
    lines = output.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["invited", "started", "submitted"]
    )
    values = lines[header + 2].split()
    return {"invited": int(values[0]), "started": int(values[1]), "submitted": int(values[2])}


def test_a_planner_runs_a_real_wave_end_to_end(
    deployment: tuple[Planner, str, Path], empty_database: str, tmp_path: Path
) -> None:
    planner, base_url, outbox = deployment
    backend = "postgres" if empty_database.startswith("postgresql") else "sqlite"
    begun = time.perf_counter()
    today = datetime.now(UTC).date()

    planner.run("user", "create", PLANNER, "--role", "admin", "--password", "a long journey password")
    created = planner.run(
        "wave", "create", "--questionnaire", "gerechtigden", "--slug", SLUG, "--title", "Gerechtigden 2027",
        "--opens", today.isoformat(), "--closes", (today + timedelta(days=30)).isoformat(),
    )  # fmt: skip
    assert f"created draft wave {SLUG}" in created.stdout
    imported = planner.run("population", "import", SLUG, str(REGISTER))
    assert f"the register of {SLUG} has 30 people" in imported.stdout
    opened = planner.run("wave", "open", SLUG)
    assert "30 invitation(s) created" in opened.stdout

    sent = planner.run("invitations", "send", SLUG)
    assert "sent 30" in sent.stdout
    invitations = read_outbox(outbox)
    with REGISTER.open(encoding="utf-8") as handle:
        register_addresses = {row["e-mail"] for row in csv.DictReader(handle, delimiter=";")}
    assert sorted(recipient(m) for m in invitations.values()) == sorted(register_addresses)

    rng = random.Random(2027)
    chosen = rng.sample(sorted(invitations.values(), key=recipient), RESPONDENTS)
    answering = time.perf_counter()
    for message in chosen:
        assert personal_link(message).startswith(base_url + "/s/")
        assert answer_the_survey(personal_link(message), rng) >= 5
    TIMINGS["respondents"] = time.perf_counter() - answering
    answered = {recipient(m) for m in chosen}

    # Submissions count at once, from the invitations (responses may wait to be anonymised).
    counts = status_counts(planner.run("wave", "status", SLUG).stdout)
    assert counts == {"invited": 30, "started": RESPONDENTS, "submitted": RESPONDENTS}
    # A used link now says the questionnaire was answered.
    status, page = Browser().request(personal_link(chosen[0]))
    assert status == 200 and "U hebt deze bevraging al ingevuld" in page, page[:500]

    before = set(read_outbox(outbox))
    reminded = planner.run("invitations", "remind", SLUG)
    assert f"sent {30 - RESPONDENTS}" in reminded.stdout
    reminders = {path: m for path, m in read_outbox(outbox).items() if path not in before}
    assert len(reminders) == 30 - RESPONDENTS
    assert {recipient(m) for m in reminders.values()} == register_addresses - answered

    assert "open -> closed" in planner.run("wave", "close", SLUG).stdout
    result_file = tmp_path / "analysis.json"
    planner.run("analyze", "--wave", SLUG, "--json", str(result_file), "--quiet")
    analysis = json.loads(result_file.read_text(encoding="utf-8"))
    assert json.dumps(analysis).count(SLUG) >= 1

    reports = tmp_path / "reports"
    reports.mkdir()
    rendering = time.perf_counter()
    for fmt in ("pdf", "xlsx", "docx", "csv", "sav", "json"):
        out = reports / f"report.{fmt}"
        planner.run("report", SLUG, "--format", fmt, "--lang", "nl", "--out", str(out))
        check_report(fmt, out)
    TIMINGS["reports"] = time.perf_counter() - rendering
    TIMINGS["total"] = time.perf_counter() - begun
    print(f"\n[{backend}] journey timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


def check_report(fmt: str, path: Path) -> None:
    """Open the file with the library that reads its format."""
    data = path.read_bytes()
    assert data, f"{fmt}: empty file"
    if fmt == "pdf":
        from pypdf import PdfReader

        assert len(PdfReader(io.BytesIO(data)).pages) >= 1
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True)
        assert book.sheetnames
    elif fmt == "docx":
        from docx import Document

        assert Document(io.BytesIO(data)).paragraphs
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=sniff(data)))
        assert rows[0][:2] == ["item", "measure"] and len(rows) > 1  # the estimates table
        assert {len(row) for row in rows} == {len(rows[0])}
    elif fmt == "sav":
        import pyreadstat

        frame, _meta = pyreadstat.read_sav(str(path))
        assert len(frame) == RESPONDENTS
    else:
        assert json.loads(data.decode("utf-8"))


def sniff(data: bytes) -> str:
    first = data.decode("utf-8-sig").splitlines()[0]
    return ";" if first.count(";") > first.count(",") else ","
