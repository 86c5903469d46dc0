"""Register jobs: limited (one per wave, a few in the app), the upload kept in Redis for an RQ
worker, and the job's report dropped with the wave's personal data."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from surveyapp import jobs
from surveyapp.extensions import db
from surveyapp.models import Job, RegisterPerson, Wave
from surveyapp.services import register_jobs
from surveyapp.services.register import purge_personal_data
from tests.conftest import make_app
from tests.test_auth import login, make_users
from tests.test_login_throttle import redis_url
from tests.test_register_import import FILES, in_english, make_wave, post_file

MAPPING = {"email_column": "E-mail", "id_column": "Personeelsnummer"}


def job_id_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.search(r"/register/jobs/([0-9a-f]+)$", response.headers["Location"])
    assert match
    return match.group(1)


def test_one_job_per_wave_and_a_few_in_the_app(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, REGISTER_JOBS_AT_ONCE=1)
    make_users(app)
    with app.app_context():
        make_wave("reg-2026")
        make_wave("reg-2027")
        db.session.commit()
    client = app.test_client()
    login(client, "planner")
    in_english(client)
    first_url, second_url = "/planner/waves/reg-2026/register", "/planner/waves/reg-2027/register"
    with register_jobs._one_at_a_time:  # another register job of this process is still working
        first = job_id_of(post_file(client, first_url, "staff_cp1252.csv", action="import", **MAPPING))
        waiting = client.get(f"{first_url}/jobs/{first}")
        assert waiting.status_code == 200 and waiting.headers["Refresh"] == "2"
        again = post_file(client, first_url, "staff_cp1252.csv", action="check", **MAPPING)
        assert again.status_code == 409 and "being checked or imported already" in again.text
        assert f"/register/jobs/{first}" in again.text  # the page links to the running job
        other = post_file(client, second_url, "staff_cp1252.csv", action="import", **MAPPING)
        assert other.status_code == 503 and "Try again in a minute" in other.text
    assert jobs.wait(first, timeout=120)
    done = client.get(f"{first_url}/jobs/{first}")
    assert "The register was imported from staff_cp1252.csv." in done.text and "Refresh" not in done.headers
    # A job page belongs to its wave.
    assert client.get(f"{second_url}/jobs/{first}").status_code == 404
    with app.app_context():
        assert [job.kind for job in db.session.execute(select(Job)).scalars()] == ["register:import"]
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 6
        db.engine.dispose()


def test_with_redis_the_upload_waits_in_redis_for_the_worker(database_url: str, tmp_path: Path) -> None:
    from redis import Redis

    from surveyapp.worker import run_job

    url = redis_url()
    app = make_app(database_url, tmp_path, REDIS_URL=url, RQ_QUEUE=f"test-{uuid.uuid4().hex}")
    make_users(app)
    with app.app_context():
        make_wave("reg-2026")
        db.session.commit()
    client = app.test_client()
    login(client, "planner")
    in_english(client)
    page = "/planner/waves/reg-2026/register"
    job_id = job_id_of(post_file(client, page, "staff_cp1252.csv", action="check", **MAPPING))
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.state == "queued"
        token = job.params["upload"]
        kept = Redis.from_url(url).get(f"surveyapp:register-upload:{token}")
        assert kept == (FILES / "staff_cp1252.csv").read_bytes()
        assert run_job(job_id) == "done"  # what the RQ worker does
        assert Redis.from_url(url).exists(f"surveyapp:register-upload:{token}") == 0  # taken once
    checked = client.get(f"{page}/jobs/{job_id}")
    assert "importing this file adds 6 people" in checked.text.lower()
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 0
        db.engine.dispose()


def test_a_lost_upload_ends_the_job_with_a_clear_message(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        make_wave("reg-2026")
        db.session.commit()
    client = app.test_client()
    login(client, "planner")
    in_english(client)
    page = "/planner/waves/reg-2026/register"
    with register_jobs._one_at_a_time:
        job_id = job_id_of(post_file(client, page, "staff_cp1252.csv", action="import", **MAPPING))
        register_jobs._uploads.clear()  # the process restarted, or the hour passed
    assert jobs.wait(job_id, timeout=60)
    lost = client.get(f"{page}/jobs/{job_id}")
    assert "nothing was imported" in lost.text and "Upload it again" in lost.text


def test_purging_personal_data_drops_the_job_reports(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        make_wave("reg-2026")
        db.session.commit()
    client = app.test_client()
    login(client, "planner")
    job_id = job_id_of(
        post_file(client, "/planner/waves/reg-2026/register", "staff_bad.csv", action="check", **MAPPING)
    )
    assert jobs.wait(job_id, timeout=60)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.params["result"]["problem_count"] > 0
        wave = db.session.execute(select(Wave)).scalar_one()
        purge_personal_data(wave, datetime.now(UTC), force=True, actor="admin@example.org")
        db.session.commit()
        job = db.session.get(Job, job_id)
        assert job is not None and "result" not in job.params
