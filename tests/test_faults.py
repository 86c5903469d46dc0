"""Faults under real gunicorn on PostgreSQL: a worker killed mid-submit, a database restart, two browsers.

gunicorn runs as a subprocess with the production ``gunicorn.conf.py`` (CSRF on, as in production)
on a database of this module's own; the respondent is a small HTTP client with its own cookies.

* A worker killed with SIGKILL in the middle of a submit: the test holds a PostgreSQL lock that the
  submit's transaction needs (the invitation row, or the pending submissions) so the submit blocks
  inside its transaction, kills the worker, releases the lock, and checks that the submit is all
  or nothing, and that the respondent can then resume and submit exactly once.
* A database restart: every backend of the database is terminated (``pg_terminate_backend``, as a
  restart would, without stopping the shared server) while a respondent keeps answering; every
  answer is a success or a clean error page, and requests succeed again by themselves.
* The same link open in two browsers posting pages at the same moment (over HTTP, gthread worker
  with threads): no page is lost.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest
from sqlalchemy import create_engine, select, text

from surveyapp import create_app, crypto
from surveyapp.extensions import db
from surveyapp.models import PendingSubmission, Response
from surveyapp.survey import pending
from tests.conftest import (
    REPO,
    REQUIRE_SERVICES,
    csrf_token_of,
    need_postgres,
    sqlalchemy_url,
)
from tests.test_survey_flow import MINI, _make_wave

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GUNICORN = Path(sys.executable).parent / "gunicorn"
PEOPLE = 10
SERVER_SECRET_KEY = "faults-" + "x" * 40  # the servers' (sealed submissions and drafts are opened with it)
SERVER_SECRET = SERVER_SECRET_KEY
# The mini questionnaire answered page by page (tests/test_survey_flow.answer_everything).
PAGES: list[tuple[str, dict[str, Any]]] = [
    ("profiel", {"q_status": "actief", "q_kinderen": "2"}),
    ("werk", {"q_contract": "statutair"}),
    ("kennis", {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"}),
    ("gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel", "psychosociaal"]}),
    (
        "tevredenheid",
        {"q_tevreden_pluspas": "4", "q_financieel_detail": "Studiekosten", "q_suggestie": "Meer"},
    ),
]
STACK_TRACE = re.compile(r"Traceback|OperationalError|psycopg|sqlalchemy|File \"/", re.IGNORECASE)


# --- a database and two gunicorns of this module's own ---------------------------------------------


@dataclass
class Setup:
    url: str  # postgresql:// URL of this module's database
    name: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, str]]:
    """An empty database of this module's own: (postgresql:// URL, name)."""
    server_url = need_postgres()
    name = f"surveyapp_faults_{os.getpid()}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_SERVICES:
            pytest.fail(f"cannot create a database of its own on the test server: {exc}")
        pytest.skip(f"cannot create a database of its own on the test server: {exc}")
    yield server_url.rsplit("/", 1)[0] + "/" + name, name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
    return found


class Server:
    """gunicorn -c gunicorn.conf.py wsgi:app with one worker, output in a log file."""

    def __init__(self, url: str, folder: Path, worker_class: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.log_path = folder / f"gunicorn-{worker_class}.log"
        env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        env.update(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": SERVER_SECRET_KEY,
                "SURVEYAPP_INSTANCE_PATH": str(folder / "instance"),
                "RATELIMIT_STORAGE_URI": "memory://",
                "BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": "1",
                "GUNICORN_WORKER_CLASS": worker_class,
                "GUNICORN_THREADS": "4",
                "GUNICORN_GRACEFUL_TIMEOUT": "3",
                "LOG_LEVEL": "info",
            }
        )
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(GUNICORN), "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def worker(self) -> int | None:
        pids = _children(self.process.pid)
        return pids[0] if len(pids) == 1 else None

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
            try:
                if self.worker() and request(self.port, "GET", "/readyz", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn not ready: {self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # quick shutdown: nothing is in flight any more
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def started(
    database: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Setup, dict[str, Server]]]:
    """A sync and a gthread gunicorn on the module's database, with a wave of the mini questionnaire.

    Both servers import the app (nothing in it touches the database) while the schema is built.
    """
    url, name = database
    folder = tmp_path_factory.mktemp("faults")
    servers = {kind: Server(url, folder, kind) for kind in ("sync", "gthread")}
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url), "TESTING": True, "SECRET_KEY": "t"})
        with app.app_context():
            # The models' schema: tests/test_migrations.py proves the migrations build exactly this,
            # and create_all takes 0.5 s where the migrations take 10 (this file stays under 40 s).
            db.create_all()
            tokens = _make_wave(PEOPLE, MINI)
            db.engine.dispose()
        for server in servers.values():
            server.wait_ready()
        yield Setup(url, name, tokens), servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def setup(started: tuple[Setup, dict[str, Server]]) -> Setup:
    return started[0]


@pytest.fixture(scope="module")
def servers(started: tuple[Setup, dict[str, Server]]) -> dict[str, Server]:
    return started[1]


# --- a small browser -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str:
        return urlsplit(self.headers.get("Location", "")).path


def request(
    port: int,
    method: str,
    path: str,
    data: dict[str, Any] | None = None,
    cookies: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept-Language": "nl"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if data is not None:
        body = urlencode(data, doseq=True)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        reply = Reply(response.status, response.headers, response.read().decode("utf-8", "replace"))
    finally:
        connection.close()
    if cookies is not None:
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name.strip()] = value.strip()
    return reply


@dataclass
class Browser:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, path: str) -> Reply:
        return request(self.port, "GET", path, cookies=self.cookies)

    def post(self, path: str, data: dict[str, Any]) -> Reply:
        return request(self.port, "POST", path, data=data, cookies=self.cookies)

    def open(self, token: str) -> None:
        opened = self.get(f"/s/{token}")
        assert opened.status == 302 and opened.location == "/survey/", opened.status

    def page_form(self, page: str) -> str:
        """GET a page; its CSRF token."""
        shown = self.get(f"/survey/p/{page}")
        assert shown.status == 200, (page, shown.status)
        return csrf_token_of(shown.body)

    def answer(self, page: str, data: dict[str, Any]) -> Reply:
        token = self.page_form(page)
        return self.post(f"/survey/p/{page}", {**data, "action": "next", "csrf_token": token})

    def answer_everything(self, token: str) -> None:
        self.open(token)
        for page, data in PAGES:
            assert self.answer(page, data).status == 302, page

    def review_token(self) -> str:
        review = self.get("/survey/review")
        assert review.status == 200, review.status
        return csrf_token_of(review.body)


# --- looking into the database -------------------------------------------------------------------


def connect(setup: Setup) -> psycopg.Connection[Any]:
    return psycopg.connect(setup.url, connect_timeout=5)


def invitation_of(setup: Setup, person: str) -> int:
    with connect(setup) as connection:
        row = connection.execute(
            "SELECT i.id FROM invitations i JOIN register_people p ON p.id = i.person_id "
            "WHERE p.person_key = %s",
            (person,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class State:
    responses: int  # anonymous responses and submissions waiting, sealed, for their batch
    submitted: bool
    draft: dict[str, Any] | None


def state(setup: Setup, invitation_id: int) -> State:
    with connect(setup) as connection:
        responses = connection.execute(
            "SELECT (SELECT count(*) FROM responses) + (SELECT count(*) FROM pending_submissions)"
        ).fetchone()
        submitted = connection.execute("SELECT submitted FROM invitations WHERE id = %s", (invitation_id,))
        draft = connection.execute(
            "SELECT sealed FROM draft_answers WHERE invitation_id = %s", (invitation_id,)
        ).fetchone()
        flag = submitted.fetchone()
    assert responses is not None and flag is not None
    return State(int(responses[0]), bool(flag[0]), opened(invitation_id, draft[0]).answers if draft else None)


def opened(invitation_id: int, sealed: str) -> crypto.DraftContents:
    """A stored draft, opened with the servers' key (the database holds only its ciphertext)."""
    return crypto.keys({"SECRET_KEY": SERVER_SECRET}).open_draft(invitation_id, sealed)


def waiting_backends(setup: Setup, timeout: float, count: int = 1) -> list[tuple[int, str]]:
    """Backends of the database waiting for a lock (at least ``count`` of them)."""
    deadline = time.monotonic() + timeout
    with connect(setup) as connection:
        connection.autocommit = True
        while time.monotonic() < deadline:
            rows = connection.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchall()
            if len(rows) >= count:
                return [(int(pid), str(query)) for pid, query in rows]
            time.sleep(0.05)
    raise AssertionError(f"fewer than {count} request(s) blocked on the test's lock within {timeout} s")


def wait_backend_gone(setup: Setup, pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    with connect(setup) as connection:
        connection.autocommit = True
        while time.monotonic() < deadline:
            if connection.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                return
            time.sleep(0.05)
    raise AssertionError(f"the killed worker's backend {pid} is still there after {timeout} s")


def terminate_backends(setup: Setup) -> int:
    with connect(setup) as connection:
        connection.autocommit = True
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (setup.name,),
        ).fetchall()
    return len(rows)


EXPECTED_ANSWERS = {
    "status": "actief",
    "kinderen": 2,
    "contract": "statutair",
    "ken_dienst": "yes",
    "hulp": ["financieel", "psychosociaal"],
    "tevreden_pluspas": "4",
    "financieel_detail": "Studiekosten",
}


# --- (a) a worker killed in the middle of a submit -----------------------------------------------

LOCKS = {
    # The submit blocks on its UPDATE of the invitation, after locking the draft row.
    "invitation-row": "SELECT id FROM invitations WHERE id = %(invitation)s FOR UPDATE",
    # The submit blocks on its INSERT of the sealed submission, after the invitation's UPDATE.
    "pending-table": "LOCK TABLE pending_submissions IN SHARE MODE",
}


def submitted_answers(setup: Setup) -> list[dict[str, Any]]:
    """The answers of every submission: released responses, and the sealed ones opened."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(setup.url),
            "TESTING": True,
            "SECRET_KEY": SERVER_SECRET_KEY,
        }
    )
    with app.app_context():
        answers = list(db.session.execute(select(Response.answers)).scalars())
        for wave_id, sealed in db.session.execute(
            select(PendingSubmission.wave_id, PendingSubmission.sealed)
        ):
            answers.append(pending.unseal(wave_id, sealed)["answers"])
        db.engine.dispose()
    return answers


@pytest.mark.parametrize(("lock", "person"), [("invitation-row", "p0"), ("pending-table", "p1")])
def test_worker_killed_mid_submit_is_all_or_nothing_and_resumable(
    setup: Setup, servers: dict[str, Server], lock: str, person: str
) -> None:
    server = servers["sync"]
    server.wait_ready()
    browser = Browser(server.port)
    browser.answer_everything(setup.tokens[person])
    csrf = browser.review_token()
    invitation_id = invitation_of(setup, person)
    before = state(setup, invitation_id)
    assert before.draft is not None and not before.submitted
    responses_before = before.responses

    outcome: dict[str, Any] = {}

    def submit() -> None:
        try:
            outcome["reply"] = browser.post("/survey/submit", {"csrf_token": csrf})
        except (OSError, http.client.HTTPException) as exc:
            outcome["error"] = exc

    holder = connect(setup)
    try:
        holder.execute(LOCKS[lock], {"invitation": invitation_id})
        thread = threading.Thread(target=submit)
        thread.start()
        ((backend, query),) = waiting_backends(setup, timeout=15)
        assert ("invitations" if lock == "invitation-row" else "pending_submissions") in query.lower()
        worker = server.worker()
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        thread.join(timeout=15)
        assert not thread.is_alive()
    finally:
        holder.rollback()  # release the lock: the orphaned transaction runs on and finds no client
        holder.close()
    wait_backend_gone(setup, backend)

    assert "reply" not in outcome, "the killed worker cannot have answered"
    after = state(setup, invitation_id)
    nothing = after.responses == responses_before and not after.submitted and after.draft == before.draft
    everything = after.responses == responses_before + 1 and after.submitted and after.draft is None
    assert nothing or everything, after
    assert nothing, "without a COMMIT, PostgreSQL must have rolled the submit back"

    # The respondent retries (a new worker has been forked meanwhile) and submits exactly once.
    server.wait_ready()
    retried = browser.post("/survey/submit", {"csrf_token": browser.review_token()})
    assert retried.status == 302 and retried.location == "/survey/thanks"
    final = state(setup, invitation_id)
    assert final.responses == responses_before + 1 and final.submitted and final.draft is None
    again = Browser(server.port)
    assert again.get(f"/s/{setup.tokens[person]}").status == 200  # "already answered" page
    stored = submitted_answers(setup)
    assert stored and all(
        answers.get(key) == value for answers in stored for key, value in EXPECTED_ANSWERS.items()
    )


# --- (b) the database restarts while the wave runs -----------------------------------------------


def clean(reply: Reply) -> bool:
    """A success, or an error page without a stack trace."""
    if reply.status < 400:
        return True
    return reply.status >= 500 and not STACK_TRACE.search(reply.body) and "<html" in reply.body.lower()


def test_database_restart_during_a_running_wave(setup: Setup, servers: dict[str, Server]) -> None:
    server = servers["gthread"]
    browser = Browser(server.port)
    browser.open(setup.tokens["p2"])
    assert browser.answer(*PAGES[0]).status == 302

    replies: list[Reply] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_answering() -> None:
        # A respondent going back and forth between two pages while the database restarts.
        while not stop.is_set():
            for page, data in PAGES[:2]:
                try:
                    shown = browser.get(f"/survey/p/{page}")
                    replies.append(shown)
                    if shown.status == 200:
                        form = {**data, "action": "next", "csrf_token": csrf_token_of(shown.body)}
                        replies.append(browser.post(f"/survey/p/{page}", form))
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=keep_answering)
    thread.start()
    try:
        terminated = 0
        for _ in range(4):
            time.sleep(0.3)
            terminated += terminate_backends(setup)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert terminated >= 1, "no connection of the app was terminated"
    assert not failures, failures  # the server always answers: no dropped connection
    assert replies and all(clean(reply) for reply in replies), [
        (r.status, r.body[:200]) for r in replies if not clean(r)
    ]

    # Right after a restart, without any manual action, requests succeed again (the pool drops dead
    # connections: pinged after idle time, invalidated when a statement meets one).
    terminate_backends(setup)
    deadline = time.monotonic() + 5
    page, data = PAGES[1]
    seen = []
    while True:
        shown = browser.get(f"/survey/p/{page}")
        seen.append(shown.status)
        if shown.status == 200:
            saved = browser.post(
                f"/survey/p/{page}", {**data, "action": "next", "csrf_token": csrf_token_of(shown.body)}
            )
            seen.append(saved.status)
            if saved.status == 302:
                break
        assert time.monotonic() < deadline, f"no recovery within 5 s: {seen}"
        time.sleep(0.2)
    assert request(server.port, "GET", "/readyz").status == 200
    for page, data in PAGES[2:]:
        assert browser.answer(page, data).status == 302
    submitted = browser.post("/survey/submit", {"csrf_token": browser.review_token()})
    assert submitted.status == 302 and submitted.location == "/survey/thanks"
    assert state(setup, invitation_of(setup, "p2")).submitted


# --- (c) two browsers post at the same moment ----------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "people"),
    [
        (("werk", {"q_contract": "statutair"}), ("werk", {"q_contract": "contractueel"}), "p3"),
        (PAGES[1], PAGES[2], "p4"),
    ],
    ids=["same-page", "different-pages"],
)
def test_two_browsers_posting_at_once_lose_no_page(
    setup: Setup,
    servers: dict[str, Server],
    first: tuple[str, dict[str, Any]],
    second: tuple[str, dict[str, Any]],
    people: str,
) -> None:
    server = servers["gthread"]
    one, two = Browser(server.port), Browser(server.port)
    one.open(setup.tokens[people])
    two.open(setup.tokens[people])  # the same link in a second browser
    assert one.answer(*PAGES[0]).status == 302
    invitation_id = invitation_of(setup, people)
    posts = [(one, first, one.page_form(first[0])), (two, second, two.page_form(second[0]))]

    statuses: list[int] = []

    def post(browser: Browser, page: tuple[str, dict[str, Any]], csrf: str) -> None:
        name, data = page
        statuses.append(
            browser.post(f"/survey/p/{name}", {**data, "action": "next", "csrf_token": csrf}).status
        )

    # Hold the draft row so both posts are inside the server at the same time, then let them go.
    holder = connect(setup)
    try:
        holder.execute("SELECT id FROM draft_answers WHERE invitation_id = %s FOR UPDATE", (invitation_id,))
        threads = [threading.Thread(target=post, args=args) for args in posts]
        for thread in threads:
            thread.start()
        waiting_backends(setup, timeout=15, count=2)
    finally:
        holder.rollback()
        holder.close()
    for thread in threads:
        thread.join(timeout=15)
    assert statuses == [302, 302]

    with connect(setup) as connection:
        row = connection.execute(
            "SELECT sealed FROM draft_answers WHERE invitation_id = %s", (invitation_id,)
        ).fetchone()
    assert row is not None
    contents = opened(invitation_id, row[0])
    answers, pages_done = contents.answers, contents.pages_done
    assert answers["status"] == "actief" and answers["kinderen"] == 2  # the earlier page is kept
    if first[0] == second[0]:
        assert answers["contract"] in {"statutair", "contractueel"}  # one of the two, whole
        assert sorted(pages_done) == ["profiel", "werk"]
    else:
        assert answers["contract"] == "statutair" and answers["ken_dienst"] == "yes"  # both pages
        assert sorted(pages_done) == ["kennis", "profiel", "werk"]


# --- the logs of all of the above ----------------------------------------------------------------


def test_logs_show_no_personal_link(setup: Setup, servers: dict[str, Server]) -> None:
    """Access lines are JSON without tokens or query strings; no log line names a token."""
    request(servers["gthread"].port, "GET", f"/s/{setup.tokens['p9']}?utm_source=mail")
    time.sleep(0.3)
    logs = "".join(server.log_path.read_text(errors="replace") for server in servers.values())
    for token in setup.tokens.values():
        assert token not in logs
    assert "utm_source" not in logs
    access = [
        json.loads(line) for line in logs.splitlines() if line.startswith('{"time"') and '"pid"' in line
    ]
    assert any(entry["path"] == "/s/[token]" for entry in access)
    assert all("?" not in entry["path"] for entry in access)
    # Flask's own "Exception on <path>" line goes through the filter gunicorn.conf.py installs.
    config = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    record = logging.LogRecord(
        "surveyapp", logging.ERROR, __file__, 1, "Exception on /s/abc-DEF_1 [GET]", (), None
    )
    config["_ScrubRecords"]().filter(record)
    assert record.getMessage() == "Exception on /s/[token] [GET]"
