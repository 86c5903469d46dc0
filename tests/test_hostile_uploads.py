"""Hostile uploads on a real server (gunicorn) while respondents answer: each gets a clear 4xx within a
second, no job starts, nothing is stored, and every respondent request succeeds meanwhile.

The hostile files are generated here (a 1.5-million-column CSV, a zip bomb, a workbook of a
thousand parts, a .xlsx that is not a zip, a damaged zip, binary garbage, an undecodable text,
one row too many). A real register of 20,000 people is imported at the same time: the page
hands it to a background job at once and the job page follows it to its end.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import Job, RegisterPerson, Wave
from surveyapp.services import register as reg
from tests.conftest import REPO, make_app
from tests.test_auth import PASSWORD, make_users
from tests.test_register_import import make_wave as make_register_wave
from tests.test_survey_flow import make_wave as make_open_wave

RESPONDENTS = 3
WORKERS = 3
# A real file's first rows are shown, and the whole file handed to a job, in this time (the
# hostile ones are refused within a second).
LEGIT_SECONDS = 3.0
THINK_SECONDS = 0.2  # a respondent's pause between pages (none would be a flood, not a load)
REGISTER_PEOPLE = 20_000


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def hostile_files() -> dict[str, tuple[bytes, str]]:
    """File name → (content, what the planner is told)."""
    garbage = bytearray(os.urandom(200_000))
    garbage[1000] = 0
    return {
        "columns.csv": (b"c;" * 1_500_000 + b"\n1\n", "the first line is longer than"),
        "wide-row.csv": (b"id;email\n" + b";" * 1_500_000 + b"\n", "this line is longer than"),
        "bomb.xlsx": (
            zipped({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * 100_000_000}),
            "compressed more than 200 times (a zip bomb?)",
        ),
        "parts.xlsx": (
            zipped({f"xl/part{i}.xml": b"<x/>" for i in range(reg.MAX_XLSX_ENTRIES + 1)}),
            f"more than {reg.MAX_XLSX_ENTRIES} parts",
        ),
        "not-a-zip.xlsx": (b"id;email\n1;a@b.be\n", "named .xlsx but is not an Excel workbook"),
        "damaged.xlsx": (b"PK\x03\x04" + os.urandom(50_000), "cannot be read as an Excel workbook"),
        "garbage.csv": (bytes(garbage), "this is not a text file"),
        "encoding.csv": (b"id;email\n1;a\x81\x8d\x90@b.be\n", "cannot be read as UTF-8 or Windows-1252"),
        "rows.csv": (
            b"id;email\n" + b"1;a@b.be\n" * (reg.MAX_ROWS + 1),
            f"the file has more than {reg.MAX_ROWS:,} rows",
        ),
    }


def register_csv(people: int) -> bytes:
    lines = ["Personeelsnummer;E-mail;Naam"]
    lines += [f"{30000 + i};persoon{i}@voorbeeld.be;Persoon {i}" for i in range(people)]
    return ("\n".join(lines) + "\n").encode()


class Gunicorn:
    """The production server (``gunicorn.conf.py``, sync workers, CSRF on) on the test database."""

    def __init__(self, database_url: str, folder: Path, workers: int = 3) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "gunicorn.log"
        env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        env.update(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "uploads-" + "x" * 40,
                "SURVEYAPP_INSTANCE_PATH": str(folder / "instance"),
                "RATELIMIT_STORAGE_URI": "memory://",
                "BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_WORKER_CLASS": "sync",
                "ACCESS_LOG": "off",
                "LOG_LEVEL": "warning",
            }
        )
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"gunicorn not ready: {self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def live_app(database_url: str, tmp_path: Path) -> Iterator[tuple[Flask, str, dict[str, str]]]:
    app = make_app(database_url, tmp_path)
    tokens = make_open_wave(app, people=RESPONDENTS)  # an open wave the respondents answer
    make_users(app)
    with app.app_context():
        make_register_wave()  # a draft wave whose register the planner uploads
        db.session.commit()
        db.engine.dispose()
    server = Gunicorn(database_url, tmp_path, WORKERS)
    try:
        server.wait_ready()
        yield app, server.base, tokens
    finally:
        server.stop()
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
    with app.app_context():
        db.engine.dispose()


def csrf_token(session: requests.Session, url: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(url).text)
    assert match, url
    return match.group(1)


class Respondents:
    """Threads that each open their link and then keep reading their first page of questions."""

    def __init__(self, base: str, tokens: list[str]) -> None:
        self.base = base
        self.tokens = tokens
        self.stop = threading.Event()
        self.opened: list[int] = []
        self.results: list[tuple[int, float]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.answer, args=(token,)) for token in tokens]

    def answer(self, token: str) -> None:
        browser = requests.Session()
        opened = browser.get(f"{self.base}/s/{token}", allow_redirects=False, timeout=30)
        page = f"{self.base}/survey/p/profiel"  # the first page of questions
        with self.lock:
            self.opened.append(opened.status_code)
        while not self.stop.is_set():
            started = time.perf_counter()
            response = browser.get(page, timeout=30)
            elapsed = time.perf_counter() - started
            with self.lock:
                # A page without its question is no success, whatever its status.
                self.results.append(
                    (response.status_code if 'name="q_status"' in response.text else -1, elapsed)
                )
            time.sleep(THINK_SECONDS)

    def reading(self, pages: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < pages * len(self.tokens) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.results) >= pages * len(self.tokens), "the respondents do not get their pages"

    def __enter__(self) -> Respondents:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_hostile_uploads_get_a_4xx_within_a_second_while_respondents_answer(
    live_app: tuple[Flask, str, dict[str, str]],
) -> None:
    app, base, tokens = live_app
    files = hostile_files()
    planner = requests.Session()
    login = {
        "email": "planner@example.org",
        "password": PASSWORD,
        "csrf_token": csrf_token(planner, f"{base}/login"),
    }
    assert planner.post(f"{base}/login", data=login, allow_redirects=False).status_code == 302
    planner.get(f"{base}/planner/?lang=en")
    url = f"{base}/planner/waves/reg-2026/register"
    mapping = {
        "email_column": "E-mail",
        "id_column": "Personeelsnummer",
        "name_column": "Naam",
        "csrf_token": csrf_token(planner, url),
    }

    # Each worker process pays once for compiling the pages' templates and loading the
    # questionnaire: not what is measured here, so every worker serves the pages first.
    warm_up = register_csv(60_000)
    for _ in range(3 * WORKERS):
        small = {"file": ("staff.csv", register_csv(5))}
        assert planner.post(url, data={"action": "analyse", **mapping}, files=small).status_code == 200
        large = {"file": ("staff.csv", warm_up)}  # a request body of some MB
        assert planner.post(url, data={"action": "analyse", **mapping}, files=large).status_code == 200
        garbage = {"file": ("garbage.csv", files["garbage.csv"][0])}
        assert planner.post(url, data={"action": "import", **mapping}, files=garbage).status_code == 422
        one_line = {"file": ("one-line.csv", b"x" * 3_000_000)}  # some MB refused: its memory, its page
        assert planner.post(url, data={"action": "analyse", **mapping}, files=one_line).status_code == 422

    with Respondents(base, list(tokens.values())) as respondents:
        respondents.reading(pages=5)  # every respondent is past its link, reading, before any upload

        for name, (content, message) in files.items():
            for action in ("analyse", "import"):
                started = time.perf_counter()
                refused = planner.post(
                    url, data={"action": action, **mapping}, files={"file": (name, content)}, timeout=30
                )
                elapsed = time.perf_counter() - started
                assert refused.status_code == 422, (name, action, refused.status_code)
                assert elapsed < 1.0, f"{name} ({action}) took {elapsed:.2f} s"
                assert message in refused.text.replace("&#39;", "'"), (name, action)
                assert "Traceback" not in refused.text

        # A real register, read in the background: the page answers at once.
        register = register_csv(REGISTER_PEOPLE)
        started = time.perf_counter()
        analysed = planner.post(
            url,
            data={"action": "analyse", "csrf_token": mapping["csrf_token"]},
            files={"file": ("staff.csv", register)},
        )
        assert analysed.status_code == 200 and time.perf_counter() - started < LEGIT_SECONDS
        fingerprint = re.search(r'name="analysed" value="([0-9a-f]+)"', analysed.text)
        assert fingerprint and "Persoon 0" in analysed.text
        started = time.perf_counter()
        handed_over = planner.post(
            url,
            data={"action": "import", "analysed": fingerprint.group(1), **mapping},
            files={"file": ("staff.csv", register)},
            allow_redirects=False,
        )
        assert handed_over.status_code == 303, handed_over.text
        assert time.perf_counter() - started < LEGIT_SECONDS
        job_page = f"{base}{handed_over.headers['Location']}"

        deadline = time.monotonic() + 180
        while True:
            page = planner.get(job_page)
            assert page.status_code == 200
            if "Refresh" not in page.headers or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(0.5)

    assert "The register was imported from staff.csv." in page.text
    assert re.search(rf'People added</th><td class="num">{REGISTER_PEOPLE:,}<', page.text)
    assert respondents.opened == [302] * RESPONDENTS
    statuses = [status for status, _ in respondents.results]
    assert len(statuses) > 10 * RESPONDENTS and set(statuses) == {200}, statuses  # every page served
    timings = sorted(elapsed for _, elapsed in respondents.results)
    assert statistics.median(timings) < 0.5 and timings[int(0.95 * len(timings))] < 2.0, timings[-10:]
    with app.app_context():
        people = select(func.count()).select_from(RegisterPerson).join(Wave).where(Wave.slug == "reg-2026")
        assert db.session.execute(people).scalar_one() == REGISTER_PEOPLE
        kinds = db.session.execute(select(Job.kind, Job.state)).all()
        assert [tuple(row) for row in kinds] == [("register:import", "done")]  # no job for a hostile file


# --- the readers alone (no server) ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(hostile_files()))
def test_each_hostile_file_is_refused_by_the_reader_in_a_fraction_of_a_second(name: str) -> None:
    content, message = hostile_files()[name]
    for preview in (3, None):
        started = time.perf_counter()
        with pytest.raises(reg.RegisterFileError) as refused:
            reg.read_table(content, name, preview_rows=preview)
        assert time.perf_counter() - started < 0.5, name
        assert message in str(refused.value)


def test_a_zip_whose_entries_lie_about_their_size_unpacks_no_more_than_they_declare() -> None:
    """Only the central directory is checked: zipfile never returns more than an entry declares,
    so a bomb that declares small sizes fails its checksum instead of filling memory."""
    import openpyxl  # noqa: F401 - imported before the clock starts, as in a running server

    honest = zipped({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * 50_000_000})
    real, small = (50_000_000).to_bytes(4, "little"), (1000).to_bytes(4, "little")
    liar = honest.replace(real, small)  # local and central headers both declare 1,000 bytes
    with (
        zipfile.ZipFile(io.BytesIO(liar)) as archive,
        archive.open("xl/worksheets/sheet1.xml") as entry,
        pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"),
    ):
        entry.read()  # stops at the 1,000 bytes declared: their checksum is wrong
    started = time.perf_counter()
    with pytest.raises(reg.RegisterFileError) as refused:
        reg.read_table(liar, "liar.xlsx")
    assert time.perf_counter() - started < 0.5
    assert "Excel workbook" in str(refused.value)


def test_a_real_workbook_and_csv_pass_the_shape_checks() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Personeelsnummer", "E-mail"])
    for i in range(2000):
        sheet.append([30000 + i, f"p{i}@voorbeeld.be"])
    content = io.BytesIO()
    book.save(content)
    reg.check_workbook_archive(content.getvalue())
    assert len(reg.read_table(content.getvalue(), "staff.xlsx").rows) == 2000
    preview = reg.read_table(content.getvalue(), "staff.xlsx", preview_rows=3)
    assert (len(preview.rows), preview.complete) == (3, False)
    text = register_csv(REGISTER_PEOPLE).decode()
    reg.check_text_shape(text)
    full = reg.read_table(text.encode(), "staff.csv")
    assert (len(full.rows), full.complete) == (REGISTER_PEOPLE, True)
