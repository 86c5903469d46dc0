"""Degraded dependencies: Redis or the mail server down, and the app keeps working.

Redis down (``REDIS_URL`` on a port where nothing listens): respondents answer and submit,
planners log in, rate limits are counted in memory after one warning, jobs wait for the queue
(and run once it answers again), ``/readyz`` names what is down. The mail server down
(``MAIL_SERVER`` on a closed port): each mail is retried, the planner's mail page says how many
failed and why, and the failed mails go out with "retry" once the server is back.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from surveyapp import jobs
from surveyapp.extensions import db, limiter
from surveyapp.models import Job, MailDelivery, Response
from tests.conftest import close_open_waves, make_app
from tests.test_auth import login, make_users
from tests.test_invitations import SLUG, make_mail_wave, outbox_messages, recipients
from tests.test_jobs import planner_client, redis_queue  # noqa: F401 - the fixture, used by name
from tests.test_mail import SMTPServer, free_port
from tests.test_survey_flow import answer_everything, make_wave

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_down(monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a deployment whose Redis does not answer (the app is built from it)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    for name in ("RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    # The limiter is one object per process: a storage another test saw die is not this one.
    monkeypatch.setattr(limiter, "_storage_dead", False)
    return url


def limiter_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "flask-limiter" and r.levelno >= level]


def test_with_redis_down_respondents_and_planners_keep_working(
    database_url: str, tmp_path: Path, redis_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(database_url, tmp_path)
    assert app.config["RATELIMIT_STORAGE_URI"] == redis_down  # shared limits would live there
    tokens = make_wave(app)
    make_users(app)
    with caplog.at_level(logging.WARNING):
        respondent = app.test_client()
        answer_everything(respondent, tokens["p0"])
        submitted = respondent.post("/survey/submit")
        assert submitted.status_code == 302 and submitted.headers["Location"].endswith("/survey/thanks")

        planner = app.test_client()
        assert login(planner, "planner").headers["Location"] == "/planner/"
        assert planner.get("/planner/").status_code == 200

        # The limits still hold, counted in this process: 30 openings of one link a minute.
        other = app.test_client()
        statuses = [other.get(f"/s/{tokens['p1']}").status_code for _ in range(31)]
        assert statuses[:30] == [302] * 30 and statuses[30] == 429

    warnings = limiter_records(caplog, logging.WARNING)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "falling back to in-memory storage" in warnings[0].getMessage()
    assert not limiter_records(caplog, logging.ERROR)
    close_open_waves(app)
    with app.app_context():
        assert len(db.session.execute(select(Response)).scalars().all()) == 1

    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json is not None
    assert ready.json["database"] == "ok" and ready.json["queue"] == "down"
    assert ready.json["rate_limits"] == "down" and set(ready.json["down"]) == {"queue", "rate_limits"}
    # A load balancer asks only for what answering needs: still in service.
    balancer = app.test_client().get("/readyz?need=database")
    assert balancer.status_code == 200 and balancer.json is not None and balancer.json["status"] == "degraded"
    with app.app_context():
        db.engine.dispose()


def test_cli_says_the_job_waits_for_the_queue(database_url: str, tmp_path: Path, redis_down: str) -> None:
    """``surveyapp invitations send --queue`` with Redis down: it says the job waits (and keeps
    following it; Ctrl-C stops following, not the job), and the job row stays queued."""
    app = make_app(database_url, tmp_path)
    make_mail_wave(app, people=2)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "OUTBOX_DIR": app.config["OUTBOX_DIR"],
        "SECRET_KEY": "degraded-test",
        "SURVEYAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        "REDIS_URL": redis_down,
    }
    command = [sys.executable, "-c", "from surveyapp.cli import main; main()", "invitations", "send", SLUG]
    follower = subprocess.Popen(
        [*command, "--queue"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert follower.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Waiting for the job queue" in line:
                break
        assert any("Waiting for the job queue: Redis does not answer" in line for line in lines), lines
        assert follower.poll() is None  # still following, not crashed
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            follower.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.communicate()
    with app.app_context():
        job = db.session.execute(select(Job)).scalar_one()
        assert job.state == "queued" and jobs.is_waiting_for_queue(job)
        db.engine.dispose()
    assert outbox_messages(app) == []


@pytest.mark.redis
def test_a_job_that_waited_runs_once_redis_answers(
    database_url: str, tmp_path: Path, redis_down: str, request: pytest.FixtureRequest
) -> None:
    """Down, the planner's sending waits; back up, the job page hands it over and a worker sends."""
    url, name = request.getfixturevalue("redis_queue")
    app = make_app(database_url, tmp_path, RQ_QUEUE=name, MAIL_RATE_PER_SECOND=0)
    make_mail_wave(app, people=3)
    client = planner_client(app)
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    job_page = response.headers["Location"]
    waiting = client.get(job_page)
    assert "Waiting for the job queue" in waiting.text and "The job queue does not answer" in waiting.text

    app.config["REDIS_URL"] = url  # Redis is back
    handed = client.get(job_page)
    assert "Waiting for the job queue" not in handed.text and "Waiting to start" in handed.text
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--simple"])
    assert result.exit_code == 0, result.output
    job = client.get(f"{job_page}.json").get_json()
    assert job["state"] == "done" and job["result"]["sent"] == 3
    assert sorted(recipients(outbox_messages(app))) == [f"p{i}@example.org" for i in range(3)]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.redis
def test_the_worker_hands_over_jobs_that_waited(
    database_url: str, tmp_path: Path, redis_down: str, request: pytest.FixtureRequest
) -> None:
    url, name = request.getfixturevalue("redis_queue")
    app = make_app(database_url, tmp_path, RQ_QUEUE=name, MAIL_RATE_PER_SECOND=0)
    make_mail_wave(app, people=2)
    client = planner_client(app)
    assert client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"}).status_code == 303
    app.config["REDIS_URL"] = url
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--simple"])
    assert result.exit_code == 0, result.output
    assert "1 job(s) that waited for the queue handed over" in result.output
    assert len(outbox_messages(app)) == 2
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------------------------
# The mail server down
# --------------------------------------------------------------------------------------------


def _start_smtp(port: int) -> Any:
    from aiosmtpd.controller import Controller

    from tests.test_mail import Handler

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return SMTPServer(handler, port, controller)


def test_with_the_mail_server_down_sending_retries_and_the_mail_page_says_why(app: Flask) -> None:
    port = free_port()  # nothing listens here (yet)
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_RETRIES=3, MAIL_RETRY_BACKOFF=0, MAIL_RATE_PER_SECOND=0
    )
    make_mail_wave(app, people=3)
    client = planner_client(app)
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert jobs.wait(job_id, timeout=60)

    with app.app_context():
        attempts = db.session.execute(select(MailDelivery.attempts)).scalars().all()
        errors = db.session.execute(select(MailDelivery.error)).scalars().all()
    assert attempts == [3, 3, 3]  # MAIL_RETRIES: every mail was tried three times
    assert all((error or "").startswith("cannot connect to the mail server") for error in errors)

    page = client.get(f"/planner/waves/{SLUG}/mail")
    assert page.status_code == 200
    assert "could not send 3 mails" in page.text
    assert "the mail server is unreachable (3)" in page.text
    assert "Retry 3 failed" in page.text
    job_page = client.get(f"/planner/jobs/{job_id}")
    assert job_page.status_code == 200 and "the mail server is unreachable: 3" in job_page.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json is not None and ready.json["mail"] == "down"

    server = _start_smtp(port)  # the mail server is back
    try:
        retry = client.post(f"/planner/waves/{SLUG}/mail/retry", data={"kind": "invitation"})
        assert retry.status_code == 303
        assert jobs.wait(retry.headers["Location"].rsplit("/", 1)[1], timeout=60)
        assert sorted(r.rcpt_tos[0] for r in server.handler.received) == [
            f"p{i}@example.org" for i in range(3)
        ]
        after = client.get(f"/planner/waves/{SLUG}/mail")
        assert "could not send" not in after.text and "Retry 3 failed" not in after.text
        assert client.get("/readyz").status_code == 200
    finally:
        server.controller.stop()


def test_the_mail_page_says_why_in_dutch(app: Flask) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_RETRIES=1, MAIL_RATE_PER_SECOND=0)
    make_mail_wave(app, people=1)
    client = planner_client(app)
    client.get("/?lang=nl")
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert jobs.wait(response.headers["Location"].rsplit("/", 1)[1], timeout=60)
    page = client.get(f"/planner/waves/{SLUG}/mail").text
    assert "kon 1 mail niet versturen" in page and "de mailserver is onbereikbaar (1)" in page
