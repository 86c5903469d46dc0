#!/usr/bin/env python3
"""Respondent benchmark: how fast the web flow renders and saves questionnaire pages.

    .venv/bin/python benchmarks/respondent.py                      # SQLite, 50 respondents
    .venv/bin/python benchmarks/respondent.py --respondents 200
    .venv/bin/python benchmarks/respondent.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

For each database (a temporary SQLite file, and PostgreSQL when ``--database-url`` names a server:
the benchmark creates and drops a database of its own there) it builds the schema with the
migrations, opens a wave of the gerechtigden questionnaire with N invitations, and lets N synthetic
respondents (answers from ``surveyapp.demo_data``) answer the whole questionnaire through the real
pages with Flask's test client, CSRF included: open the link, the welcome page, every page (GET to
render, POST to save), the review page and submit. It prints median, p95 and mean per operation and
the pages per second one process serves, and checks that every stored response equals the answers
the respondent gave. The test client runs the whole app in-process (no network, one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surveyapp import create_app, demo_data  # noqa: E402
from surveyapp.demo import web_form_data  # noqa: E402
from surveyapp.extensions import db  # noqa: E402
from surveyapp.models import Response  # noqa: E402
from surveyapp.models import Wave as WaveRow  # noqa: E402
from surveyapp.questionnaire import Questionnaire  # noqa: E402
from surveyapp.services.questionnaires import store_file  # noqa: E402
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state  # noqa: E402

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
QUESTIONNAIRE = ROOT / "questionnaires" / "gerechtigden.yaml"
Timings = dict[str, list[float]]


def make_app(url: str, instance: Path) -> Flask:
    os.environ.setdefault("SURVEYAPP_INSTANCE_PATH", str(instance))
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "benchmark",
            "OUTBOX_DIR": str(instance / "outbox"),
            "TESTING": False,
            "WTF_CSRF_ENABLED": True,
        }
    )


def seed(
    app: Flask, respondents: int, rng: np.random.Generator
) -> tuple[Questionnaire, list[str], list[Any]]:
    """A wave of the gerechtigden questionnaire with one invitation per synthetic person."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        version, questionnaire = store_file(QUESTIONNAIRE)
        population = demo_data.generate_population(questionnaire, rng, max(respondents, 100))
        wave = create_wave(version, slug="benchmark", title="Benchmark")
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
    index = np.arange(respondents, dtype=np.int64)
    answers = demo_data.generate_answers(questionnaire, population, index, rng)
    return questionnaire, [tokens[population.keys[i]] for i in index], answers


def timed(timings: Timings, operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Wall time of one request, and this process's CPU time (steadier on a busy machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    response = call(*args, **kwargs)
    timings[operation].append(time.perf_counter() - started)
    timings[f"{operation} cpu"].append(time.process_time() - cpu)
    return response


def answer(
    client: FlaskClient, questionnaire: Questionnaire, token: str, answers: dict[str, Any], timings: Timings
) -> int:
    """One respondent through every page; returns the number of pages answered."""
    response = timed(timings, "open link", client.get, f"/s/{token}")
    assert response.status_code == 302, response.status_code
    welcome = timed(timings, "welcome", client.get, "/survey/")
    assert welcome.status_code == 200
    match = re.search(r'href="/survey/p/([a-z0-9_]+)"', welcome.text)
    assert match, "no first page on the welcome page"
    page_id = match.group(1)
    pages = 0
    while True:
        page = questionnaire.pages[questionnaire.page_index(page_id)]
        shown = timed(timings, "render page", client.get, f"/survey/p/{page_id}")
        assert shown.status_code == 200, (page_id, shown.status_code)
        token_match = CSRF.search(shown.text)
        assert token_match, "page without CSRF token"
        data = {**web_form_data(page, answers), "action": "next", "csrf_token": token_match.group(1)}
        saved = timed(timings, "save page", client.post, f"/survey/p/{page_id}", data=data)
        assert saved.status_code == 302, (page_id, saved.status_code, saved.text[:2000])
        pages += 1
        location = saved.headers["Location"]
        if location.endswith("/survey/review"):
            break
        page_id = location.rsplit("/", 1)[1]
    review = timed(timings, "review", client.get, "/survey/review")
    assert review.status_code == 200
    token_match = CSRF.search(review.text)
    data = {"csrf_token": token_match.group(1)} if token_match else {}
    submitted = timed(timings, "submit", client.post, "/survey/submit", data=data)
    assert submitted.status_code == 302 and submitted.headers["Location"].endswith("/survey/thanks")
    return pages


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(label: str, url: str, respondents: int, warmup: int, seed_value: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="surveyapp-bench-") as folder:
        app = make_app(url, Path(folder))
        rng = np.random.default_rng(seed_value)
        started = time.perf_counter()
        questionnaire, tokens, answers = seed(app, respondents + warmup, rng)
        print(f"[{label}] wave with {len(tokens)} invitations ready in {time.perf_counter() - started:.1f} s")
        ignored: Timings = defaultdict(list)
        for token, given in zip(tokens[:warmup], answers[:warmup]):
            answer(app.test_client(), questionnaire, token, given, ignored)
        timings: Timings = defaultdict(list)
        pages = 0
        started = time.perf_counter()
        for token, given in zip(tokens[warmup:], answers[warmup:]):
            pages += answer(app.test_client(), questionnaire, token, given, timings)
        elapsed = time.perf_counter() - started
        with app.app_context():
            # Closing releases the submissions still waiting for a batch of k as responses.
            set_state(
                db.session.execute(select(WaveRow).where(WaveRow.slug == "benchmark")).scalar_one(), "closed"
            )
            db.session.commit()
            stored = db.session.execute(select(Response.answers)).scalars().all()
            db.engine.dispose()
        expected = sorted(json.dumps(a, sort_keys=True) for a in answers)
        assert sorted(json.dumps(a, sort_keys=True) for a in stored) == expected, "stored answers differ"
    return {
        "label": label,
        "timings": timings,
        "pages": pages,
        "elapsed": elapsed,
        "respondents": respondents,
    }


def report(result: dict[str, Any]) -> None:
    timings: Timings = result["timings"]
    print(
        f"\n{result['label']}: {result['respondents']} respondents, {result['pages']} pages "
        f"({result['pages'] / result['respondents']:.1f} per respondent), {result['elapsed']:.1f} s"
    )
    head = f"{'operation':<12} {'count':>6} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8}"
    print(f"  {head} {'cpu median ms':>14}")
    for operation in ("open link", "welcome", "render page", "save page", "review", "submit"):
        values = timings[operation]
        print(
            f"  {operation:<12} {len(values):>6} {statistics.median(values) * 1000:>10.1f} "
            f"{percentile(values, 95) * 1000:>8.1f} {statistics.fmean(values) * 1000:>8.1f} "
            f"{statistics.median(timings[operation + ' cpu']) * 1000:>14.1f}"
        )
    per_page = (sum(timings["render page"]) + sum(timings["save page"])) / result["pages"]
    print(f"  pages per second (render + save, one process): {1 / per_page:.1f}")
    cpu_page = (sum(timings["render page cpu"]) + sum(timings["save page cpu"])) / result["pages"]
    print(f"  pages per CPU second of the app process: {1 / cpu_page:.1f}")
    print(f"  respondents per second (whole questionnaire): {result['respondents'] / result['elapsed']:.2f}")


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database of the benchmark's own on the server, dropped afterwards."""
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+psycopg://" + server_url.removeprefix("postgresql://")
    name = f"surveyapp_bench_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--respondents", type=int, default=50, help="respondents timed (default 50)")
    parser.add_argument("--warmup", type=int, default=2, help="respondents answered first, not timed")
    parser.add_argument("--database-url", help="also run on this PostgreSQL server (a temporary database)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the synthetic answers")
    parser.add_argument("--skip-sqlite", action="store_true", help="only run on --database-url")
    args = parser.parse_args()

    results = []
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="surveyapp-bench-db-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
            results.append(run("SQLite", url, args.respondents, args.warmup, args.seed))
    if args.database_url:
        with postgres_database(args.database_url) as url:
            results.append(run("PostgreSQL", url, args.respondents, args.warmup, args.seed))
    for result in results:
        report(result)


if __name__ == "__main__":
    main()
