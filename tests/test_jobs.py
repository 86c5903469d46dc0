"""Background jobs: the in-process thread, the job page and its JSON, and the RQ queue against a
real Redis server (``TEST_REDIS_URL``; skipped without one unless ``SURVEYAPP_REQUIRE_SERVICES=1``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from surveyapp import jobs
from surveyapp.extensions import db
from surveyapp.models import Invitation, Job, MailDelivery, Wave
from surveyapp.services.invitations import start_mail_job
from tests.conftest import REQUIRE_SERVICES, make_app
from tests.test_auth import login, make_users
from tests.test_invitations import SLUG, make_mail_wave, outbox_messages, recipients


def get_job(app: Flask, job_id: str) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        db.session.expunge(job)
        return job


def planner_client(app: Flask) -> Any:
    make_users(app)
    client = app.test_client()
    login(client, "planner")
    client.get("/?lang=en")  # the tests check English texts
    return client


def add_job(app: Flask, **values: Any) -> str:
    with app.app_context():
        wave_id = db.session.execute(select(Wave.id).where(Wave.slug == SLUG)).scalar_one()
        values.setdefault("params", {"kind": "invitation"})
        job = Job(kind="mail:invitation", wave_id=wave_id, **values)
        db.session.add(job)
        db.session.commit()
        return str(job.id)


# --------------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------------


def test_thread_job_runs_after_the_request_returned(app: Flask) -> None:
    make_mail_wave(app, people=5)
    client = planner_client(app)
    app.config["MAIL_RATE_PER_SECOND"] = 10  # 5 mails: about half a second
    started = time.monotonic()
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    assert time.monotonic() - started < 5
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/planner/jobs/{job_id}")
    if get_job(app, job_id).state in jobs.ACTIVE_STATES:  # most likely: still sending
        assert page.headers["Refresh"] == "3" and page.headers["Cache-Control"] == "no-store"
        assert "refreshes itself" in page.text
    assert jobs.wait(job_id, 60)
    job = get_job(app, job_id)
    assert job.state == "done" and job.done == 5 and job.total == 5
    page = client.get(f"/planner/jobs/{job_id}")
    assert page.status_code == 200 and "Refresh" not in page.headers
    assert 'max="5" value="5"' in page.text and "Finished" in page.text
    assert len(outbox_messages(app)) == 5


def test_job_page_and_json_show_each_state(app: Flask) -> None:
    make_mail_wave(app, people=2)
    client = planner_client(app)

    queued = add_job(app, state="queued")
    page = client.get(f"/planner/jobs/{queued}")
    assert page.status_code == 200 and "Waiting to start" in page.text and page.headers["Refresh"] == "3"
    data = client.get(f"/planner/jobs/{queued}.json").get_json()
    assert data["state"] == "queued" and data["processed"] == 0 and data["percent"] == 0.0

    # A job whose process is gone (same host, no such pid): interrupted, its attempt uncertain.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runner = {"host": jobs.runner_identity()["host"], "pid": gone.pid}
    dead = add_job(app, state="running", total=2, done=1, params={"kind": "invitation", "runner": runner})
    with app.app_context():
        first = db.session.execute(select(Invitation.id).order_by(Invitation.id)).scalars().first()
        db.session.add(MailDelivery(invitation_id=first, kind="invitation", job_id=dead, attempts=1))
        db.session.commit()
    data = client.get(f"/planner/jobs/{dead}.json").get_json()
    assert data["state"] == "interrupted" and data["uncertain"] == 1
    assert data["deliveries"] == {"sent": 0, "failed": 0, "uncertain": 1, "in_progress": 0, "claimed": 0}
    assert "runner" not in data["params"]
    page = client.get(f"/planner/jobs/{dead}")
    assert (
        "Interrupted" in page.text and "1 mails are uncertain" in page.text and "Refresh" not in page.headers
    )
    overview = client.get(f"/planner/waves/{SLUG}/mail").text
    assert "Uncertain" in overview

    # The same job alive: a fresh heartbeat from this very thread.
    alive = add_job(app, state="running", params={"kind": "invitation", "runner": jobs.runner_identity()})
    data = client.get(f"/planner/jobs/{alive}.json").get_json()
    assert data["state"] == "running"

    assert client.get("/planner/jobs/does-not-exist").status_code == 404
    assert client.get("/planner/jobs/does-not-exist.json").status_code == 404
    assert client.get("/planner/jobs/" + "x" * 200).status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/planner/jobs/{queued}.json").status_code == 302


def test_run_leaves_a_started_job_alone(app: Flask) -> None:
    make_mail_wave(app, people=1)
    job_id = add_job(app, state="done", message="finished earlier")
    with app.app_context():
        job = jobs.run(job_id)
        assert job is not None and job.state == "done" and job.message == "finished earlier"
        with pytest.raises(LookupError):
            jobs.enqueue("unknown:kind", {}, None, None, mode="sync")
    assert outbox_messages(app) == []


def test_a_failing_job_is_marked_failed_with_its_reason(app: Flask) -> None:
    make_mail_wave(app, people=2)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        wave.mail_templates = {"invitation": {"nl": {"text": "{{ 1 / 0 }}"}}}
        db.session.commit()
        job = start_mail_job(wave, "invitation", None, mode="sync")
        assert job.state == "failed" and "division by zero" in (job.message or "")
        # The error came before anything was handed over: no claim is left, nothing uncertain.
        assert db.session.execute(select(MailDelivery)).all() == []
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        wave.mail_templates = None
        db.session.commit()
        again = start_mail_job(wave, "invitation", None, mode="sync")
        assert again.state == "done"
    assert recipients(outbox_messages(app)) == {"p0@example.org": 1, "p1@example.org": 1}


def test_queue_unreachable_keeps_the_job_waiting_for_the_queue(app: Flask) -> None:
    """No 503 and no failed job: the job waits, and its page says for what."""
    make_mail_wave(app, people=1)
    client = planner_client(app)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Waiting for the job queue" in page.text
    assert "Redis does not answer" in page.text and page.headers["Refresh"] == "3"
    with app.app_context():
        job = db.session.execute(select(Job)).scalar_one()
        assert job.state == "queued" and jobs.display_state(job) == jobs.WAITING
        assert job.message == jobs.WAITING_FOR_QUEUE
    assert client.get(f"/planner/jobs/{job.id}.json").get_json()["state"] == "waiting"
    # A second press does not start a second job: the waiting one counts as sending.
    again = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert again.status_code == 409


# --------------------------------------------------------------------------------------------
# RQ on a real Redis
# --------------------------------------------------------------------------------------------


def redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        return None
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except (RedisError, OSError):
        return None
    return url


@pytest.fixture
def redis_queue() -> Iterator[tuple[str, str]]:
    """The Redis URL and a queue name of this test's own (deleted afterwards)."""
    url = redis_url()
    if url is None:
        message = "no Redis server: set TEST_REDIS_URL to run these tests"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    name = f"surveyapp-test-{uuid.uuid4().hex[:12]}"
    yield url, name
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(url)
    queue = Queue(name, connection=connection)
    registries = (queue.finished_job_registry, queue.failed_job_registry, queue.started_job_registry)
    job_ids = {job_id for registry in registries for job_id in registry.get_job_ids()} | set(queue.job_ids)
    queue.delete(delete_jobs=True)
    for pattern in [f"*{name}*", *(f"rq:*{job_id}*" for job_id in job_ids)]:
        for key in connection.scan_iter(pattern):
            connection.delete(key)


@pytest.mark.redis
def test_queue_mode_with_a_simple_worker(app: Flask, redis_queue: tuple[str, str]) -> None:
    from redis import Redis
    from rq import Queue, SimpleWorker

    url, name = redis_queue
    make_mail_wave(app, people=3)
    app.config.update(REDIS_URL=url, RQ_QUEUE=name)
    client = planner_client(app)
    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert get_job(app, job_id).state == "queued" and outbox_messages(app) == []
    queue = Queue(name, connection=Redis.from_url(url))
    assert queue.job_ids == [job_id]  # the RQ job carries the Job row's id

    with app.app_context():
        worker = SimpleWorker([queue], connection=queue.connection)
        assert worker.work(burst=True)
    job = get_job(app, job_id)
    assert job.state == "done" and job.done == 3
    assert sorted(recipients(outbox_messages(app))) == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert client.get(f"/planner/jobs/{job_id}.json").get_json()["result"]["sent"] == 3


@pytest.mark.redis
def test_worker_command_runs_queued_jobs(app: Flask, redis_queue: tuple[str, str]) -> None:
    url, name = redis_queue
    make_mail_wave(app, people=2)
    app.config.update(REDIS_URL=url, RQ_QUEUE=name)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        job_id = start_mail_job(wave, "invitation", "cli", mode="auto").id
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--simple"])
    assert result.exit_code == 0, result.output
    assert get_job(app, job_id).state == "done"
    assert len(outbox_messages(app)) == 2


@pytest.mark.redis
@pytest.mark.slow
def test_cli_queue_mode_with_a_forking_worker_process(
    sqlite_template: Path, tmp_path: Path, redis_queue: tuple[str, str]
) -> None:
    """``surveyapp worker`` (forking work horses, app built from the environment) in a
    subprocess; ``surveyapp invitations send --queue`` enqueues and follows the job."""
    url, name = redis_queue
    database = tmp_path / "queue.sqlite3"
    shutil.copy(sqlite_template, database)
    app = make_app(f"sqlite:///{database}", tmp_path, REDIS_URL=url, RQ_QUEUE=name, MAIL_RATE_PER_SECOND=0)
    make_mail_wave(app, people=4)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "OUTBOX_DIR": app.config["OUTBOX_DIR"],
        "SECRET_KEY": "queue-test",
        "SURVEYAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        "REDIS_URL": url,
        "RQ_QUEUE": name,
        "MAIL_RATE_PER_SECOND": "0",
    }
    env.pop("MAIL_SERVER", None)
    worker = subprocess.Popen(
        [sys.executable, "-c", "from surveyapp.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        result = app.test_cli_runner().invoke(args=["invitations", "send", SLUG, "--queue"])
        assert result.exit_code == 0, result.output
        assert "queued" in result.output and "sent 4, skipped 0, failed 0, uncertain 0" in result.output
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert "listening" in output, output
    assert sorted(recipients(outbox_messages(app))) == [f"p{i}@example.org" for i in range(4)]
    with app.app_context():
        db.engine.dispose()
