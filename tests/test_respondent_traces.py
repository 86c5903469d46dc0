"""What a respondent leaves outside the database: the session cookie, the logs, Redis.

Each test plays a reader of one of them: whoever holds the cookie (it is signed, not encrypted),
a reader of the logs and a reader of Redis. None may learn which invitation (so which person) a
browser, a log line or a counter belongs to, nor any answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import runpy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, text

from surveyapp import crypto
from surveyapp.extensions import db
from surveyapp.models import AccessToken, Invitation, Response
from surveyapp.observability import JsonFormatter
from surveyapp.survey import views
from tests.conftest import REPO, REQUIRE_SERVICES, close_open_waves, make_app
from tests.test_draft_privacy import TYPED, answer_up_to_review, start_wave
from tests.test_jobs import redis_url

ADDRESS = "198.51.100.23"  # the respondent's address (TEST-NET-2)


def cookie_payload(client: FlaskClient) -> dict[str, Any]:
    """The session cookie as anyone holding it reads it: base64 JSON, no key needed."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    reader = URLSafeTimedSerializer("not-the-key", salt="cookie-session", serializer=TaggedJSONSerializer())
    valid, payload = reader.loads_unsafe(cookie.value)
    assert not valid and isinstance(payload, dict)  # read without the server's key
    return payload


def integers_in(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for key, item in value.items() for n in integers_in(key) + integers_in(item)]
    if isinstance(value, list | tuple):
        return [n for item in value for n in integers_in(item)]
    return []


def test_the_session_cookie_holds_a_sealed_handle_not_the_invitation(app: Flask) -> None:
    links = start_wave(app, people=1)
    with app.app_context():
        invitation_id = db.session.execute(select(Invitation.id)).scalar_one()
    one, two = app.test_client(), app.test_client()
    assert one.get(f"/s/{links['p0']}").status_code == 302
    assert two.get(f"/s/{links['p0']}").status_code == 302
    first, second = cookie_payload(one), cookie_payload(two)

    assert not any("invitation" in key for key in first), first
    assert integers_in(first) == []  # no row id, nor any other number
    handle = first[views.SESSION_KEY]
    assert isinstance(handle, str) and not handle.isdigit()
    assert second[views.SESSION_KEY] != handle  # new at every opening: nothing to match browsers by
    # Only the server's key opens it.
    assert crypto.keys(app.config).open_handle(handle) == invitation_id
    assert crypto.keys({"SECRET_KEY": "another-secret"}).open_handle(handle) is None
    assert one.get("/survey/p/profiel").status_code == 200

    # A cookie with the row id (the old form), or a handle sealed under another key, opens nothing.
    forged = app.test_client()
    with forged.session_transaction() as session:
        session["invitation_id"] = invitation_id
        session[views.SESSION_KEY] = invitation_id
    assert forged.get("/survey/p/profiel").status_code == 403
    with forged.session_transaction() as session:
        session[views.SESSION_KEY] = crypto.keys({"SECRET_KEY": "another-secret"}).seal_handle(invitation_id)
    assert forged.get("/survey/p/profiel").status_code == 403


@pytest.fixture
def redis_limits() -> str:
    """The test Redis server's URL (skipped without one unless services are required)."""
    url = redis_url()
    if url is None:
        message = "no Redis server: set TEST_REDIS_URL to run these tests"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return url


def test_rate_limit_counters_in_redis_name_no_token_hash_or_address(
    database_url: str, tmp_path: Path, redis_limits: str
) -> None:
    from redis import Redis

    redis = Redis.from_url(redis_limits)
    before = set(redis.scan_iter())
    # (No key prefix of this test's own: the limiter keeps the first one it was ever given.)
    app = make_app(database_url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_limits)
    counters: list[bytes] = []
    try:
        token = start_wave(app, people=1)["p0"]
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = ADDRESS
        assert browser.get(f"/s/{token}").status_code == 302
        assert browser.get(f"/s/{token}/opt-out").status_code == 200
        with app.app_context():  # the stored hashes, only to look for them
            stored_hashes = set(db.session.execute(select(AccessToken.token_hash)).scalars())
        assert hashlib.sha256(token.encode()).hexdigest() in stored_hashes

        counters = [key for key in set(redis.scan_iter()) - before if b"survey." in key]
        endpoints = {
            endpoint
            for endpoint in ("survey.open_link", "survey.opt_out")
            for key in counters
            if endpoint.encode() in key
        }
        assert endpoints == {"survey.open_link", "survey.opt_out"}, counters  # counted in Redis
        # The address has its counters too, under its HMAC (so the limit per address still holds).
        keyed_address = crypto.keys(app.config).rate_limit_key("address:" + ADDRESS).encode()
        assert any(keyed_address in key for key in redis.scan_iter()), "no counter per address"
        telling = {token, ADDRESS, *stored_hashes}
        for key in redis.scan_iter():
            assert not any(value in key.decode(errors="replace") for value in telling), key

        # The limits still count per link: the 31st opening within the minute is refused.
        statuses = [browser.get(f"/s/{token}").status_code for _ in range(30)]
        assert statuses == [302] * 29 + [429]
    finally:
        for key in counters:
            redis.delete(key)
        with app.app_context():
            db.engine.dispose()


# A database that refuses every submission (the submit writes a sealed pending row): a constraint
# on PostgreSQL (whose error then quotes the failing row), a trigger on SQLite.
REFUSE = {
    "postgresql": "ALTER TABLE pending_submissions ADD CONSTRAINT refuse CHECK (false) NOT VALID",
    "sqlite": (
        "CREATE TRIGGER refuse BEFORE INSERT ON pending_submissions BEGIN SELECT RAISE(ABORT, 'no'); END"
    ),
}
ACCEPT = {
    "postgresql": "ALTER TABLE pending_submissions DROP CONSTRAINT IF EXISTS refuse",
    "sqlite": "DROP TRIGGER IF EXISTS refuse",
}


def _refuse_responses(app: Flask, refuse: bool) -> None:
    with app.app_context(), db.engine.begin() as connection:
        statements = REFUSE if refuse else ACCEPT
        connection.execute(text(statements[connection.dialect.name]))


def test_a_failed_submit_logs_no_answer(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(database_url, tmp_path, PROPAGATE_EXCEPTIONS=False)  # as in production: logged, 500
    try:
        with app.app_context():
            assert db.engine.hide_parameters
        token = start_wave(app, people=1)["p0"]
        browser = app.test_client()
        answer_up_to_review(browser, token, TYPED["p0"])
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # even with SQL echoed to the log
        _refuse_responses(app, True)
        try:
            failed = browser.post("/survey/submit")
        finally:
            _refuse_responses(app, False)
        assert failed.status_code == 500
        assert all(value not in failed.text for value in TYPED["p0"].values())

        logged = caplog.text + "\n".join(JsonFormatter().format(record) for record in caplog.records)
        assert "Exception on /survey/submit [POST]" in logged  # the failure is in the log ...
        assert "its message is not logged" in logged  # ... as its kind and traceback
        assert "[SQL parameters hidden due to hide_parameters=True]" in logged
        for value in TYPED["p0"].values():
            assert value not in logged, f"{value!r} in the log"

        # Nothing saved is lost: once the database accepts it, the same browser submits.
        assert browser.post("/survey/submit").headers["Location"].endswith("/survey/thanks")
        close_open_waves(app)  # a single submission becomes a response when its wave closes
        with app.app_context():
            (answers,) = db.session.execute(select(Response.answers)).scalars()
        assert answers["suggestie"] == TYPED["p0"]["suggestion"]
    finally:
        with app.app_context():
            db.engine.dispose()


def test_survey_steps_are_logged_without_the_address_or_the_link(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="surveyapp.requests")
    token = start_wave(app, people=1)["p0"]
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ADDRESS
    answer_up_to_review(browser, token, TYPED["p0"])
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "surveyapp.requests"]
    paths = [json.loads(line)["path"] for line in lines]
    assert "/s/[token]" in paths and "/survey/p/tevredenheid" in paths
    for line in lines:
        assert ADDRESS not in line and token not in line, line
    # gunicorn's access log (the app's request log is off under it) names no address either.
    settings = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    access_format = settings["access_log_format"]
    assert "%(h)s" not in access_format and "forwarded" not in access_format.lower()
