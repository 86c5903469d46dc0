#!/usr/bin/env python3
"""Load test over real HTTP: gunicorn + PostgreSQL, N virtual respondents answering the whole questionnaire.

    .venv/bin/python benchmarks/load.py                                   # 600 respondents, 24 at a time
    .venv/bin/python benchmarks/load.py --respondents 2000 --concurrency 40 --think 0
    .venv/bin/python benchmarks/load.py --worker-class gthread --threads 4   # compare worker classes
    .venv/bin/python benchmarks/load.py --skip-baseline --keep-database
    .venv/bin/python benchmarks/load.py --rounds 10                        # more, shorter alternations

What it does, in order:

1. creates a fresh database (``--database``, default ``surveyapp_bench``) on the PostgreSQL server
   named by ``--server-url`` and builds the schema with ``surveyapp db upgrade``;
2. opens a wave of ``questionnaires/gerechtigden.yaml`` with one invitation per respondent
   (synthetic people and answers from ``surveyapp.demo_data``);
3. starts gunicorn with ``gunicorn.conf.py`` (a random ``SECRET_KEY``, this ``DATABASE_URL``) on a
   free loopback port and waits for ``/readyz``;
4. lets N virtual respondents, C at a time, answer the whole questionnaire like a browser without
   JavaScript: open the personal link and follow the redirect, the welcome page, then page after
   page (GET, read the CSRF token and the form's fields, POST valid answers with ``action=next``,
   follow the redirect), the review page, submit (with the CSRF token) and the thanks page. Each
   respondent keeps its own cookies and its own keep-alive connection, with an optional think
   time between requests (``--think`` seconds on average, 0 for none);
5. prints completed questionnaires per second, requests per second, p50/p95/p99 latency (overall and
   per kind of request), errors, and the CPU time used by gunicorn, PostgreSQL and the load
   generator itself (the machine is shared, so CPU per request is steadier than throughput);
6. checks in the database that every completed respondent has exactly one response: responses ==
   submitted invitations == completed respondents, no draft left for them, and the stored answers
   are exactly the answers given (no page lost, nothing duplicated); scans gunicorn's logs for
   personal-link tokens;
7. runs the same load (same gunicorn settings, same concurrency and think time, same number of
   requests per respondent) against ``benchmarks/baseline_app.py``, a bare Flask view doing one
   INSERT, and prints the app's request throughput as a share of the baseline's. Both servers run
   side by side and the timed respondents are split into ``--rounds`` rounds taken in turn (app then
   baseline, then baseline then app, ...), so that the two meet the same machine speed; the share is
   printed over all rounds and round by round.

Rate limits stay ON, with their storage in Redis as in production (``--ratelimit-storage``). A
personal link may be opened 300 times a minute per client address, so one load generator on one
address would be throttled after 300 respondents: each virtual respondent therefore connects from
its own loopback address (127.0.x.y; all of 127.0.0.0/8 is loopback on Linux), as real respondents
come from many addresses. ``--one-address`` sends everything from 127.0.0.1 to show the limit at
work (429 answers are counted apart and retried after ``Retry-After``, like a patient person).

Exit status 1 when a request failed or an answer was lost or duplicated; the throughput targets
(>= 20 questionnaires/s, >= half the baseline's throughput) are reported, not enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
QUESTIONNAIRE = ROOT / "questionnaires" / "gerechtigden.yaml"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_RATELIMIT_STORAGE = "redis://127.0.0.1:6379/12"
TARGET_QUESTIONNAIRES_PER_SECOND = 20.0
TARGET_BASELINE_SHARE = 0.5

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"')
FIRST_PAGE = re.compile(r'href="/survey/p/([A-Za-z0-9_-]+)"')
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


# --- PostgreSQL --------------------------------------------------------------------------------------


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


def recreate_database(server_url: str, name: str) -> str:
    """A fresh, empty database ``name`` on the server; returns its URL (postgresql://)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def upgrade(url: str, instance: Path) -> None:
    """``surveyapp db upgrade``, the release command of the Procfile."""
    env = {**os.environ, "DATABASE_URL": url, "SURVEYAPP_INSTANCE_PATH": str(instance)}
    subprocess.run([str(BIN / "surveyapp"), "db", "upgrade"], env=env, check=True, capture_output=True)


def backend_pids(url: str, database: str) -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
            {"d": database},
        ).scalars()
        result = [int(p) for p in pids]
    engine.dispose()
    return result


# --- the wave ----------------------------------------------------------------------------------------


@dataclass
class Wave:
    """What the virtual respondents need: the questionnaire model, tokens and the answers to give."""

    questionnaire: Any
    tokens: list[str]
    answers: list[dict[str, Any]]


def seed(url: str, instance: Path, respondents: int, seed_value: int = 1, slug: str = "load") -> Wave:
    """A wave of the gerechtigden questionnaire with ``respondents`` invitations and their answers."""
    import numpy as np

    os.environ.setdefault("SURVEYAPP_INSTANCE_PATH", str(instance))
    from surveyapp import create_app, demo_data
    from surveyapp.extensions import db
    from surveyapp.services.questionnaires import store_file
    from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state

    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url), "SECRET_KEY": "seed"})
    rng = np.random.default_rng(seed_value)
    with app.app_context():
        version, questionnaire = store_file(QUESTIONNAIRE)
        population = demo_data.generate_population(questionnaire, rng, max(respondents, 100))
        wave = create_wave(version, slug=slug, title="Load test")
        add_register(
            wave,
            (
                RegisterRow(population.keys[i], population.emails[i], "nl", population.groups(i))
                for i in range(len(population))
            ),
        )
        set_state(wave, "open")
        tokens = create_invitations(wave)
        db.session.commit()
        db.engine.dispose()
    index = np.arange(respondents, dtype=np.int64)
    answers = demo_data.generate_answers(questionnaire, population, index, rng)
    return Wave(questionnaire, [tokens[population.keys[i]] for i in index], answers)


def form_data(page: Any, answers: dict[str, Any]) -> dict[str, str | list[str]]:
    """The fields a browser posts for one page to give these answers."""
    from surveyapp.forms.registry import field_name

    data: dict[str, str | list[str]] = {}
    for question in page.questions:
        for key in question.variable_names():
            value = answers.get(key)
            if value is not None:
                data[field_name(key)] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


# --- gunicorn ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return sorted(children)


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """RSS, PSS and private (unshared) memory of a process in kB, from /proc."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name in {"Rss", "Pss", "Private_Clean", "Private_Dirty"}:
                    values[name] = int(rest.split()[0])
    except OSError:  # no smaps_rollup (old kernel, other user): the RSS alone
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        values["Rss"] = values["Pss"] = values["Private_Dirty"] = int(line.split()[1])
        except OSError:
            return {}
    if not values:
        return {}
    return {
        "rss": values.get("Rss", 0),
        "pss": values.get("Pss", 0),
        "private": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
    }


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / TICKS, total / TICKS


class Gunicorn:
    """gunicorn with gunicorn.conf.py as a subprocess on a free loopback port; logs in files."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        folder: Path,
        *,
        name: str = "app",
        extra_args: Sequence[str] = (),
        workers: int = 1,
    ) -> None:
        self.port = free_port()
        self.expected_workers = workers
        self.folder = folder
        self.log_path = folder / f"gunicorn-{name}.log"
        self.env = {
            **os.environ,
            "BIND": f"127.0.0.1:{self.port}",
            "SURVEYAPP_INSTANCE_PATH": str(folder / "instance"),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.args = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), *extra_args, app]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "/readyz", timeout: float = 180.0) -> Gunicorn:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
                )
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", ready_path)
                status = connection.getresponse().status
                connection.close()
                if status == 200 and len(self.workers()) >= self.expected_workers:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn not ready after {timeout:.0f} s:\n{self.log_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def workers(self) -> list[int]:
        return proc_children(self.pid) if self.process else []

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in [self.pid, *self.workers()]}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the virtual browser -----------------------------------------------------------------------------


class RequestFailedError(Exception):
    """An unexpected status or a broken connection: the respondent stops there."""


@dataclass
class Stats:
    """Shared by every virtual respondent (under a lock)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    rate_limited: int = 0
    reconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return [x for values in self.latencies.values() for x in values]

    def merge_window(self) -> tuple[int, list[float]]:
        with self.lock:
            return self.requests, self.all_latencies()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str:
        return urlsplit(self.headers.get("Location", "")).path


def source_address(index: int, one_address: bool) -> str:
    if one_address:
        return "127.0.0.1"
    return f"127.0.{(index // 250) % 250 + 1}.{index % 250 + 1}"


class Browser:
    """One respondent's browser: its cookies, one keep-alive connection, a think time."""

    def __init__(self, port: int, address: str, stats: Stats, think: float, rng: random.Random) -> None:
        self.port = port
        self.address = address
        self.stats = stats
        self.think = think
        self.rng = rng
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None
        self.used = False

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=120, source_address=(self.address, 0)
            )
            self.used = False
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, kind: str, method: str, path: str, data: dict[str, Any] | None = None) -> Reply:
        if self.think > 0:
            time.sleep(self.rng.expovariate(1 / self.think))
        body = urlencode(data, doseq=True).encode() if data is not None else None
        headers = {"Host": f"127.0.0.1:{self.port}", "Accept-Language": "nl"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2, 3, 4, 5, 6):
            connection = self._connect()
            reused = self.used
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode("utf-8", errors="replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 1:  # the server closed an idle keep-alive connection
                    with self.stats.lock:
                        self.stats.reconnects += 1
                    continue
                raise RequestFailedError(f"{method} {kind}: {type(exc).__name__}: {exc}") from exc
            except OSError as exc:
                self.close()
                raise RequestFailedError(f"{method} {kind}: {type(exc).__name__}: {exc}") from exc
            elapsed = time.perf_counter() - started
            self.used = True
            if response.will_close:
                self.close()
            for header in response.headers.get_all("Set-Cookie") or []:
                pair = header.split(";", 1)[0]
                name, _, value = pair.partition("=")
                if "max-age=0" in header.lower() or "expires=thu, 01 jan 1970" in header.lower():
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value.strip()
            if response.status == 429:  # rate limited: wait as told and try again (counted apart)
                with self.stats.lock:
                    self.stats.rate_limited += 1
                time.sleep(min(float(response.headers.get("Retry-After") or 1), 30.0))
                continue
            with self.stats.lock:
                self.stats.latencies[kind].append(elapsed)
                self.stats.statuses[response.status] += 1
            return Reply(response.status, response.headers, text)
        raise RequestFailedError(f"{method} {kind}: still rate limited after retries")


def expect(reply: Reply, status: int, what: str) -> Reply:
    if reply.status != status:
        raise RequestFailedError(f"{what}: HTTP {reply.status} (expected {status}) {reply.body[:300]!r}")
    return reply


def csrf_of(reply: Reply, what: str) -> str:
    match = CSRF.search(reply.body)
    if not match:
        raise RequestFailedError(f"{what}: no CSRF token in the page")
    return match.group(1)


def answer_questionnaire(browser: Browser, questionnaire: Any, token: str, answers: dict[str, Any]) -> int:
    """The whole questionnaire, like a browser; returns the number of question pages answered."""
    opened = expect(browser.request("open link", "GET", f"/s/{token}"), 302, "open link")
    welcome = expect(browser.request("welcome", "GET", opened.location or "/survey/"), 200, "welcome")
    match = FIRST_PAGE.search(welcome.body)
    if not match:
        raise RequestFailedError("welcome: no link to the first page")
    page_id = match.group(1)
    pages = 0
    while True:
        path = f"/survey/p/{page_id}"
        shown = expect(browser.request("page GET", "GET", path), 200, f"GET {page_id}")
        csrf = csrf_of(shown, page_id)
        fields = set(FIELD.findall(shown.body)) - {"csrf_token"}
        page = questionnaire.pages[questionnaire.page_index(page_id)]
        data = form_data(page, answers)
        if not set(data) <= fields:
            raise RequestFailedError(
                f"{page_id}: answers for fields not on the page: {sorted(set(data) - fields)}"
            )
        saved = expect(
            browser.request("page POST", "POST", path, {**data, "action": "next", "csrf_token": csrf}),
            302,
            f"POST {page_id}",
        )
        pages += 1
        location = saved.location
        if location == "/survey/review":
            break
        if not location.startswith("/survey/p/"):
            raise RequestFailedError(f"POST {page_id}: redirected to {location!r}")
        page_id = location.rsplit("/", 1)[1]
    review = expect(browser.request("review", "GET", "/survey/review"), 200, "review")
    submitted = expect(
        browser.request("submit", "POST", "/survey/submit", {"csrf_token": csrf_of(review, "review")}),
        302,
        "submit",
    )
    if submitted.location != "/survey/thanks":
        raise RequestFailedError(f"submit: redirected to {submitted.location!r}")
    expect(browser.request("thanks", "GET", "/survey/thanks"), 200, "thanks")
    return pages


def baseline_respondent(browser: Browser, requests_per_respondent: int) -> int:
    """The baseline's "respondent": as many requests as an app respondent, GET and POST in turn."""
    for i in range(requests_per_respondent):
        if i % 2:
            reply = browser.request("hit POST", "POST", "/hit", {"note": f"page {i}", "action": "next"})
        else:
            reply = browser.request("hit GET", "GET", "/hit")
        expect(reply, 200, "hit")
    return requests_per_respondent


@dataclass
class RunResult:
    label: str
    respondents: int
    completed: list[int]
    failed: dict[int, str]
    stats: Stats
    elapsed: float
    question_pages: int
    cpu: dict[str, float]
    machine_cores_busy: float

    @property
    def requests_per_second(self) -> float:
        return self.stats.requests / self.elapsed

    @property
    def completed_per_second(self) -> float:
        return len(self.completed) / self.elapsed


def drive(
    port: int,
    count: int,
    job: Callable[[Browser, int], int],
    *,
    concurrency: int,
    think: float,
    one_address: bool,
    first_index: int = 0,
    stats: Stats | None = None,
    progress: bool = True,
) -> tuple[list[int], dict[int, str], Stats, float, int]:
    """Run ``job`` for respondents first_index .. first_index + count - 1, ``concurrency`` at a time."""
    stats = stats or Stats()
    completed: list[int] = []
    failed: dict[int, str] = {}
    pages = [0]
    done_lock = threading.Lock()

    def one(index: int) -> None:
        browser = Browser(port, source_address(index, one_address), stats, think, random.Random(index))
        try:
            answered = job(browser, index)
        except RequestFailedError as exc:
            with done_lock:
                failed[index] = str(exc)
            with stats.lock:
                stats.errors.append(str(exc))
            return
        except Exception as exc:  # a bug in the load generator must not look like a server error
            with done_lock:
                failed[index] = f"load generator: {type(exc).__name__}: {exc}"
            return
        finally:
            browser.close()
        with done_lock:
            completed.append(index)
            pages[0] += answered

    started = time.perf_counter()
    stop = threading.Event()

    def report_progress() -> None:
        while not stop.wait(5):
            with done_lock:
                done, bad = len(completed), len(failed)
            rate = done / (time.perf_counter() - started)
            print(f"    … {done}/{count} done, {bad} failed, {rate:.1f}/s", flush=True)

    reporter = threading.Thread(target=report_progress, daemon=True)
    if progress:
        reporter.start()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(first_index, first_index + count)))
    stop.set()
    return completed, failed, stats, time.perf_counter() - started, pages[0]


def measured_run(
    label: str,
    server: Gunicorn,
    database: str,
    db_url: str,
    count: int,
    job: Callable[[Browser, int], int],
    *,
    concurrency: int,
    think: float,
    one_address: bool,
    first_index: int,
) -> RunResult:
    """``drive`` with the CPU time of gunicorn, PostgreSQL, this process and the machine around it."""
    backends_before = {pid: cpu_seconds(pid) for pid in backend_pids(db_url, database)}
    server_before = server.cpu()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before, _ = machine_busy()
    completed, failed, stats, elapsed, pages = drive(
        server.port,
        count,
        job,
        concurrency=concurrency,
        think=think,
        one_address=one_address,
        first_index=first_index,
    )
    busy_after, _ = machine_busy()
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    server_after = server.cpu()
    backends_after = {pid: cpu_seconds(pid) for pid in backend_pids(db_url, database)}
    cpu = {
        "gunicorn": sum(max(0.0, v - server_before.get(pid, 0.0)) for pid, v in server_after.items()),
        "postgres": sum(max(0.0, v - backends_before.get(pid, 0.0)) for pid, v in backends_after.items()),
        "load generator": (self_after.ru_utime - self_before.ru_utime)
        + (self_after.ru_stime - self_before.ru_stime),
    }
    cpu["other processes"] = max(0.0, (busy_after - busy_before) - sum(cpu.values()))
    return RunResult(
        label, count, completed, failed, stats, elapsed, pages, cpu, (busy_after - busy_before) / elapsed
    )


# --- reporting ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def report(result: RunResult, describe: str) -> None:
    stats = result.stats
    latencies = stats.all_latencies()
    print(f"\n== {result.label}: {describe}")
    print(
        f"  completed        {len(result.completed)}/{result.respondents} in {result.elapsed:.1f} s "
        f"= {result.completed_per_second:.2f} per second"
    )
    print(
        f"  requests         {stats.requests} = {result.requests_per_second:.1f} per second"
        + (
            f"  (question pages answered: {result.question_pages}, "
            f"{result.question_pages / max(1, len(result.completed)):.1f} per questionnaire)"
            if result.question_pages and result.label.startswith("app")
            else ""
        )
    )
    print(
        "  latency ms       "
        + "  ".join(f"p{q} {percentile(latencies, q) * 1000:.0f}" for q in (50, 95, 99))
        + f"  max {max(latencies, default=0) * 1000:.0f}"
    )
    print(f"    {'request':<12} {'count':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'mean':>7}")
    for kind, values in stats.latencies.items():
        print(
            f"    {kind:<12} {len(values):>7} {percentile(values, 50) * 1000:>7.0f} "
            f"{percentile(values, 95) * 1000:>7.0f} {percentile(values, 99) * 1000:>7.0f} "
            f"{statistics.fmean(values) * 1000:>7.0f}"
        )
    print(f"  statuses         {dict(sorted(stats.statuses.items()))}")
    print(
        f"  errors           {len(result.failed)} respondents failed; rate limited (429, retried) "
        f"{stats.rate_limited}; keep-alive reconnects {stats.reconnects}"
    )
    for message, times in Counter(result.failed.values()).most_common(5):
        print(f"    {times} × {message[:300]}")
    per_request = {k: v / max(1, stats.requests) * 1000 for k, v in result.cpu.items()}
    print(
        "  CPU seconds      "
        + ", ".join(f"{k} {v:.1f} ({per_request[k]:.1f} ms/request)" for k, v in result.cpu.items())
    )
    print(
        f"  machine          {result.machine_cores_busy:.2f} of {os.cpu_count()} cores busy on average "
        f"(other processes: {result.cpu['other processes'] / result.elapsed:.2f} cores; a shared machine "
        "makes the throughput noisy, CPU per request is the steadier figure)"
    )


@dataclass
class Check:
    ok: bool
    lines: list[str]


# The servers seal submissions waiting for their batch of k with this key; the check closes the
# wave with it, which releases the last ones (fewer than k) as responses.
ANSWER_KEY = secrets.token_urlsafe(32)


def release_pending(db_url: str, slug: str = "load") -> None:
    """Close the wave, as a planner would: every submission still waiting becomes a response."""
    from sqlalchemy import select

    from surveyapp import create_app
    from surveyapp.extensions import db
    from surveyapp.models import Wave as WaveRow
    from surveyapp.services.waves import set_state

    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(db_url), "ANSWER_KEY": ANSWER_KEY})
    with app.app_context():
        row = db.session.execute(select(WaveRow).where(WaveRow.slug == slug)).scalar_one()
        if row.state == "open":
            set_state(row, "closed")
            db.session.commit()
        db.engine.dispose()


def check_database(db_url: str, wave: Wave, completed: Sequence[int], failed: Sequence[int]) -> Check:
    """Every completed respondent has exactly one response with exactly the answers given."""
    from sqlalchemy import create_engine, func, select

    release_pending(db_url)

    from surveyapp.models import AccessToken, DraftAnswers, Invitation, Response
    from surveyapp.survey.service import hash_token

    engine = create_engine(sqlalchemy_url(db_url))
    lines = []
    ok = True
    with engine.connect() as connection:
        responses = connection.execute(select(func.count()).select_from(Response)).scalar_one()
        submitted = connection.execute(
            select(func.count()).select_from(Invitation).where(Invitation.submitted.is_(True))
        ).scalar_one()
        hashes = {hash_token(wave.tokens[i]): i for i in completed}
        invitation_of: dict[int, int] = {}
        rows = connection.execute(select(AccessToken.token_hash, AccessToken.invitation_id)).all()
        for token_hash, invitation_id in rows:
            if token_hash in hashes:
                invitation_of[hashes[token_hash]] = invitation_id
        completed_ids = set(invitation_of.values())
        submitted_ids = set(
            connection.execute(select(Invitation.id).where(Invitation.submitted.is_(True))).scalars()
        )
        drafts_left = connection.execute(
            select(func.count())
            .select_from(DraftAnswers)
            .where(DraftAnswers.invitation_id.in_(completed_ids or {-1}))
        ).scalar_one()
        stored = Counter(
            json.dumps(a, sort_keys=True) for a in connection.execute(select(Response.answers)).scalars()
        )
    engine.dispose()
    given = Counter(json.dumps(wave.answers[i], sort_keys=True) for i in completed)
    lost = sum((given - stored).values())
    extra = sum((stored - given).values())
    lines.append(
        f"  responses {responses}, submitted invitations {submitted}, completed respondents {len(completed)}"
    )
    if not responses == submitted == len(completed):
        ok = False
        lines.append("  MISMATCH: responses, submitted invitations and completed respondents differ")
    missing = completed_ids - submitted_ids
    unexpected = submitted_ids - completed_ids
    if missing:
        ok = False
        lines.append(f"  {len(missing)} completed respondents whose invitation is not marked submitted")
    if unexpected:
        lines.append(
            f"  {len(unexpected)} invitations submitted by respondents whose client saw an error "
            "(the server committed, the answer came too late or not at all)"
        )
    if drafts_left:
        ok = False
        lines.append(f"  {drafts_left} drafts left for completed respondents")
    lines.append(
        f"  answers: {lost} completed questionnaires lost or altered, {extra} responses not given "
        f"(duplicated or unexpected); drafts left for completed respondents: {drafts_left}"
    )
    if lost or extra > len(unexpected):
        ok = False
    lines.append(f"  respondents that failed: {len(failed)}")
    return Check(ok, lines)


def tokens_in_logs(text: str, tokens: Sequence[str]) -> int:
    known = set(tokens)
    return sum(1 for candidate in TOKEN_SHAPE.findall(text) if candidate in known)


# --- main --------------------------------------------------------------------------------------------


def redis_available(url: str) -> bool:
    if not url.startswith("redis://"):
        return True
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


def server_env(args: argparse.Namespace, db_url: str, ratelimit_storage: str) -> dict[str, str]:
    """gunicorn's environment: gunicorn.conf.py's defaults unless a setting was given."""
    env = {
        "DATABASE_URL": db_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ANSWER_KEY": ANSWER_KEY,
        "RATELIMIT_STORAGE_URI": ratelimit_storage,
        "LOG_LEVEL": "warning",
    }
    for variable, value in (
        ("WEB_CONCURRENCY", args.workers),
        ("GUNICORN_WORKER_CLASS", args.worker_class),
        ("GUNICORN_THREADS", args.threads),
        ("GUNICORN_MAX_REQUESTS", getattr(args, "max_requests", None)),
    ):
        if value is not None:
            env[variable] = str(value)
    return env


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """The settings gunicorn.conf.py gives in this environment (read by running the file)."""
    import runpy

    saved = dict(os.environ)
    try:
        os.environ.update(env)
        namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    names = (
        "workers",
        "worker_class",
        "threads",
        "timeout",
        "max_requests",
        "max_requests_jitter",
        "preload_app",
    )
    return {name: namespace.get(name) for name in names}


def describe_settings(settings: dict[str, Any]) -> str:
    threads = f" × {settings['threads']} threads" if settings["worker_class"] == "gthread" else ""
    recycle = settings["max_requests"] or "off"
    return (
        f"gunicorn {settings['worker_class']}, {settings['workers']} workers{threads}, "
        f"max_requests {recycle}, preload {'on' if settings['preload_app'] else 'off'}"
    )


def combined(label: str, results: Sequence[RunResult]) -> RunResult:
    """The rounds of one server as a single run: requests, time and CPU added up."""
    stats = Stats()
    completed: list[int] = []
    failed: dict[int, str] = {}
    cpu: Counter[str] = Counter()
    busy = 0.0
    for result in results:
        for kind, values in result.stats.latencies.items():
            stats.latencies[kind].extend(values)
        stats.statuses.update(result.stats.statuses)
        stats.errors.extend(result.stats.errors)
        stats.rate_limited += result.stats.rate_limited
        stats.reconnects += result.stats.reconnects
        completed.extend(result.completed)
        failed.update(result.failed)
        cpu.update(result.cpu)
        busy += result.machine_cores_busy * result.elapsed
    elapsed = sum(r.elapsed for r in results)
    return RunResult(
        label,
        sum(r.respondents for r in results),
        completed,
        failed,
        stats,
        elapsed,
        sum(r.question_pages for r in results),
        dict(cpu),
        busy / elapsed if elapsed else 0.0,
    )


def round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` respondents split into ``rounds`` nearly equal rounds."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


def gunicorn_cpu_ms(result: RunResult) -> float:
    return result.cpu["gunicorn"] / max(1, result.stats.requests) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--respondents", "-n", type=int, default=600, help="timed respondents (default 600)")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=24, help="respondents at a time (default 24)"
    )
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean think time between requests, s (0: none)"
    )
    parser.add_argument("--warmup", type=int, default=24, help="respondents answered first, not timed")
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="app and baseline rounds taken in turn (default 6: app, baseline, baseline, app, ...)",
    )
    parser.add_argument("--server-url", default=os.environ.get("BENCH_SERVER_URL", DEFAULT_SERVER))
    parser.add_argument("--database", default="surveyapp_bench", help="database created afresh (and dropped)")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database afterwards")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], help="default: gunicorn.conf.py's")
    parser.add_argument(
        "--threads", type=int, help="threads per gthread worker (default: gunicorn.conf.py's)"
    )
    parser.add_argument(
        "--ratelimit-storage", default=DEFAULT_RATELIMIT_STORAGE, help="Flask-Limiter storage"
    )
    parser.add_argument("--one-address", action="store_true", help="every respondent from 127.0.0.1")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    storage = args.ratelimit_storage
    if not redis_available(storage):
        print(f"! rate-limit storage {storage} does not answer: using memory:// (limits per worker)")
        storage = "memory://"
    settings = gunicorn_settings(server_env(args, "postgresql://-", storage))
    describe = (
        describe_settings(settings)
        + f"; {args.concurrency} respondents at a time, think time {args.think:g} s, "
        f"rate limits on ({storage.split('://')[0]} storage, "
        + ("one client address)" if args.one_address else "one client address per respondent)")
    )
    drive_options = {
        "concurrency": args.concurrency,
        "think": args.think,
        "one_address": args.one_address,
    }
    with tempfile.TemporaryDirectory(prefix="surveyapp-load-") as folder_name:
        folder = Path(folder_name)
        (folder / "instance").mkdir()
        started = time.perf_counter()
        db_url = recreate_database(args.server_url, args.database)
        try:
            upgrade(db_url, folder / "instance")
            total = args.respondents + args.warmup
            wave = seed(db_url, folder / "instance", total, args.seed)
            print(
                f"database {args.database}: schema by `surveyapp db upgrade`, wave with {total} "
                f"invitations ({args.warmup} warm-up) ready in {time.perf_counter() - started:.1f} s"
            )

            def app_job(browser: Browser, index: int) -> int:
                return answer_questionnaire(
                    browser, wave.questionnaire, wave.tokens[index], wave.answers[index]
                )

            # Both servers run side by side for the whole measurement (the one not driven sleeps) and
            # their rounds alternate, app-baseline then baseline-app, so that both meet the same
            # machine: its speed drifts by a third within minutes, and running the app first and the
            # baseline afterwards made the ratio follow that drift.
            with contextlib.ExitStack() as servers:
                app_server = servers.enter_context(
                    Gunicorn(
                        "wsgi:app", server_env(args, db_url, storage), folder, workers=settings["workers"]
                    )
                )
                print(f"gunicorn (app) ready on port {app_server.port}, workers {app_server.workers()}")
                warm = drive(app_server.port, args.warmup, app_job, **drive_options, progress=False)
                requests_per_respondent = round(warm[2].requests / max(1, len(warm[0]))) or 22
                baseline_server: Gunicorn | None = None
                if not args.skip_baseline:
                    from baseline_app import create_table  # type: ignore[import-not-found]

                    create_table(db_url)
                    baseline_server = servers.enter_context(
                        Gunicorn(
                            "baseline_app:create_baseline()",
                            server_env(args, db_url, storage),
                            folder,
                            name="baseline",
                            extra_args=["--pythonpath", str(BENCHMARKS)],
                            workers=settings["workers"],
                        )
                    )
                    print(
                        f"gunicorn (baseline) ready on port {baseline_server.port}, "
                        f"workers {baseline_server.workers()}; {requests_per_respondent} requests "
                        "per baseline respondent, as many as an app respondent's"
                    )

                def baseline_job(browser: Browser, index: int) -> int:
                    return baseline_respondent(browser, requests_per_respondent)

                if baseline_server is not None:
                    drive(baseline_server.port, args.warmup, baseline_job, **drive_options, progress=False)
                app_rounds: list[RunResult] = []
                baseline_rounds: list[RunResult] = []
                first_index = args.warmup
                for number, size in enumerate(round_sizes(args.respondents, args.rounds)):
                    order = ["app", "baseline"] if number % 2 == 0 else ["baseline", "app"]
                    for label in order:
                        if label == "app":
                            server, job, results = app_server, app_job, app_rounds
                        elif baseline_server is not None:
                            server, job, results = baseline_server, baseline_job, baseline_rounds
                        else:
                            continue
                        result = measured_run(
                            label,
                            server,
                            args.database,
                            db_url,
                            size,
                            job,
                            **drive_options,
                            first_index=first_index,
                        )
                        results.append(result)
                        print(
                            f"  round {number + 1} {label:<8} {len(result.completed)}/{size} respondents, "
                            f"{result.requests_per_second:6.1f} requests/s, "
                            f"gunicorn CPU {gunicorn_cpu_ms(result):.2f} ms/request",
                            flush=True,
                        )
                    first_index += size
                log = app_server.log_text()
            app_result = combined("app", app_rounds)
            report(app_result, describe)
            completed = [*warm[0], *app_result.completed]
            failed = [*warm[1], *app_result.failed]
            check = check_database(db_url, wave, completed, failed)
            print("  database check (warm-up included): " + ("OK" if check.ok else "FAILED"))
            print("\n".join(check.lines))
            leaked = tokens_in_logs(log, wave.tokens)
            print(f"  personal-link tokens in gunicorn's logs: {leaked}")
            errors = len(app_result.failed) + len(warm[1])
            ok = check.ok and errors == 0 and leaked == 0
            baseline_result: RunResult | None = None
            if baseline_rounds:
                baseline_result = combined("baseline", baseline_rounds)
                report(
                    baseline_result,
                    f"one INSERT per request, {requests_per_respondent} requests per respondent; {describe}",
                )
                ok = ok and not baseline_result.failed
        finally:
            if not args.keep_database:
                drop_database(args.server_url, args.database)

    print("\n== summary")
    rate = app_result.completed_per_second
    verdict = "met" if rate >= TARGET_QUESTIONNAIRES_PER_SECOND else "MISSED"
    print(f"  completed questionnaires/s {rate:.2f} (target {TARGET_QUESTIONNAIRES_PER_SECOND:g}: {verdict})")
    print(f"  requests/s {app_result.requests_per_second:.1f}")
    server_cpu = app_result.cpu["gunicorn"] + app_result.cpu["postgres"]
    if app_result.completed:
        per_questionnaire = server_cpu / len(app_result.completed)
        cores = os.cpu_count() or 1
        print(
            f"  server CPU per questionnaire {per_questionnaire * 1000:.0f} ms (gunicorn + PostgreSQL)"
            f" → at most {cores / per_questionnaire:.1f} questionnaires/s on {cores} otherwise idle"
            " cores without the load generator"
        )
    if baseline_result is not None:
        per_round = [
            a.requests_per_second / b.requests_per_second for a, b in zip(app_rounds, baseline_rounds)
        ]
        ratio = app_result.requests_per_second / baseline_result.requests_per_second
        verdict = "met" if ratio >= TARGET_BASELINE_SHARE else "MISSED"
        print(
            f"  page throughput app/baseline {ratio:.2f} ({app_result.requests_per_second:.1f} / "
            f"{baseline_result.requests_per_second:.1f} requests/s over {len(per_round)} alternating "
            f"rounds; target {TARGET_BASELINE_SHARE:g}: {verdict})"
        )
        print(
            "  per round "
            + ", ".join(f"{r:.2f}" for r in per_round)
            + f" (median {statistics.median(per_round):.2f}, lowest {min(per_round):.2f})"
        )
        app_ms = gunicorn_cpu_ms(app_result)
        base_ms = gunicorn_cpu_ms(baseline_result)
        print(
            f"  gunicorn CPU per request app {app_ms:.2f} ms, baseline {base_ms:.2f} ms "
            f"(ratio {base_ms / app_ms if app_ms else float('nan'):.2f}: the throughput share without "
            "the load generator and PostgreSQL)"
        )
    print("  correctness: " + ("OK (no error, nothing lost or duplicated)" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
