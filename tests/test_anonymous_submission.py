"""Submissions become anonymous responses in shuffled batches of k, and all of them at closing.

Through the real pages on SQLite and PostgreSQL: a submit is final at once (the respondent and
monitoring see it), but its answers wait sealed, without the invitation, until k are waiting or
the wave closes. The PostgreSQL attacks on the stored rows are in ``test_anonymity_pg.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Invitation, PendingSubmission, Response, Wave
from surveyapp.services.monitoring import monitor_wave
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from surveyapp.survey import pending, service
from tests.conftest import make_app, truncate_all
from tests.test_auth import login, make_users
from tests.test_survey_flow import MINI, post_page

SLUG = "anon-2026"
ALREADY = ("U hebt deze bevraging al ingevuld", "You have already answered this survey")


def make_wave(app: Flask, people: int, threshold: int = 5) -> list[str]:
    """An open wave of ``people`` invitations; their personal-link tokens in register order."""
    with app.app_context():
        version, _ = store_file(MINI)
        wave = create_wave(version, slug=SLUG, title="Anonymity", suppression_threshold=threshold)
        add_register(wave, (RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {}) for i in range(people)))
        set_state(wave, "open")
        tokens = create_invitations(wave)
        db.session.commit()
        return [tokens[f"p{i}"] for i in range(people)]


def answer_pages(client: FlaskClient, token: str, marker: str) -> None:
    assert client.get(f"/s/{token}").status_code == 302
    post_page(client, "profiel", {"q_status": "actief", "q_kinderen": "1"})
    post_page(client, "werk", {"q_contract": "statutair"})
    post_page(
        client,
        "kennis",
        {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"},
    )
    post_page(client, "gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel"]})
    last = post_page(
        client, "tevredenheid", {"q_tevreden_pluspas": "4", "q_financieel_detail": "x", "q_suggestie": marker}
    )
    assert last.headers["Location"].endswith("/survey/review")


def answer_and_submit(client: FlaskClient, token: str, marker: str) -> None:
    """One respondent's whole questionnaire through the pages, with ``marker`` as open answer."""
    answer_pages(client, token, marker)
    submitted = client.post("/survey/submit")
    assert submitted.status_code == 302 and submitted.headers["Location"].endswith("/survey/thanks")


def counts(app: Flask) -> tuple[int, int, int]:
    """(responses, pending submissions, submitted invitations)."""
    with app.app_context():
        return (
            db.session.execute(select(func.count()).select_from(Response)).scalar_one(),
            db.session.execute(select(func.count()).select_from(PendingSubmission)).scalar_one(),
            db.session.execute(
                select(func.count()).select_from(Invitation).where(Invitation.submitted.is_(True))
            ).scalar_one(),
        )


def markers(app: Flask) -> set[str]:
    with app.app_context():
        return {answers["suggestie"] for answers in db.session.execute(select(Response.answers)).scalars()}


def close(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["wave", "close", SLUG])
    assert result.exit_code == 0, result.output


def test_back_after_submit_shows_the_submitted_page(app: Flask) -> None:
    (token,) = make_wave(app, 1)
    client = app.test_client()
    answer_and_submit(client, token, "back")
    for url in ("/survey/p/tevredenheid", "/survey/review", "/survey/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert any(text_ in page.text for text_ in ALREADY), url
    # Submitting again from the review page's back-button copy stores nothing more.
    again = client.post("/survey/submit")
    assert again.status_code == 200 and any(text_ in again.text for text_ in ALREADY)
    assert counts(app) == (0, 1, 1)
    # A browser that never opened a link is still told to use it.
    assert app.test_client().get("/survey/review").status_code == 403


def test_submissions_wait_sealed_until_k_then_all_at_closing(app: Flask) -> None:
    tokens = make_wave(app, 8, threshold=5)
    for i in range(4):
        answer_and_submit(app.test_client(), tokens[i], f"marker-{i}")
    # Final at once for the respondent and for monitoring; no response yet, four sealed rows.
    assert counts(app) == (0, 4, 4)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        assert monitor_wave(wave).overall.submitted == 4
        sealed = db.session.execute(select(PendingSubmission.sealed)).scalars().all()
        assert db.session.execute(select(func.count()).select_from(DraftAnswers)).scalar_one() == 0
    assert len({len(s) for s in sealed}) == 1  # padded: the length says nothing about the answers
    assert not any(b"marker-" in bytes(s) or b"statutair" in bytes(s) for s in sealed)

    answer_and_submit(app.test_client(), tokens[4], "marker-4")  # the fifth: a batch of k = 5
    assert counts(app) == (5, 0, 5)
    assert markers(app) == {f"marker-{i}" for i in range(5)}

    for i in (5, 6):
        answer_and_submit(app.test_client(), tokens[i], f"marker-{i}")
    assert counts(app) == (5, 2, 7)
    close(app)  # fewer than k, released anyway: nothing stays behind on a closed wave
    assert counts(app) == (7, 0, 7)
    assert markers(app) == {f"marker-{i}" for i in range(7)}
    with app.app_context():
        days = set(db.session.execute(select(Response.submitted_on)).scalars())
        assert days == {service.today()}
    # The eighth person finds the survey closed.
    assert app.test_client().get(f"/s/{tokens[7]}").status_code == 410


def test_the_planner_closing_the_wave_on_its_page_releases_what_waits(app: Flask) -> None:
    tokens = make_wave(app, 3, threshold=5)
    for i in range(3):
        answer_and_submit(app.test_client(), tokens[i], f"marker-{i}")
    assert counts(app) == (0, 3, 3)
    make_users(app)
    planner = app.test_client()
    login(planner, "planner")
    closed = planner.post(f"/planner/waves/{SLUG}/state", data={"to": "closed"})
    assert closed.status_code == 302
    assert counts(app) == (3, 0, 3)
    assert markers(app) == {"marker-0", "marker-1", "marker-2"}


def test_stored_order_follows_the_random_ids(app: Flask, backend: str) -> None:
    """SQLite numbers rows in insert order (rowid): after a release it follows the ids instead."""
    if backend != "sqlite":
        pytest.skip("the PostgreSQL order (ctid, xmin) is tested in test_anonymity_pg.py")
    tokens = make_wave(app, 12, threshold=5)
    for i in range(12):
        answer_and_submit(app.test_client(), tokens[i], f"marker-{i}")
    assert counts(app) == (10, 2, 12)
    with app.app_context():
        stored = db.session.execute(text("SELECT id FROM responses ORDER BY rowid")).scalars().all()
    assert stored == sorted(stored) and len(stored) == 10


def test_imported_responses_are_left_alone(app: Flask, backend: str) -> None:
    tokens = make_wave(app, 5, threshold=5)
    # Imported earlier (the response import writes rows like this one; its own tests cover it).
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        db.session.add(
            Response(
                id="f" * 32,
                wave_id=wave.id,
                questionnaire_version_id=wave.questionnaire_version_id,
                submitted_on=service.today().replace(year=2020),
                language="nl",
                source="import",
                answers={"suggestie": "imported"},
            )
        )
        db.session.commit()
        place = "xmin::text || ctid::text" if backend == "postgres" else "rowid"
        before = db.session.execute(text(f"SELECT {place} FROM responses")).scalar_one()
    for i in range(5):
        answer_and_submit(app.test_client(), tokens[i], f"marker-{i}")
    assert counts(app) == (6, 0, 5)
    with app.app_context():
        after = db.session.execute(
            text(f"SELECT {place} FROM responses WHERE source = 'import'")
        ).scalar_one()
        imported = db.session.get(Response, "f" * 32)
        assert imported is not None and imported.submitted_on.year == 2020
    assert after == before


def test_a_submit_that_meets_a_closed_wave_stores_nothing(app: Flask) -> None:
    (token,) = make_wave(app, 1)
    client = app.test_client()
    answer_pages(client, token, "late")
    close(app)
    assert client.post("/survey/submit").status_code == 410
    # The close read the wave's state under lock: a submit already past the page check finds it too.
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        invitation_id = db.session.execute(select(Invitation.id)).scalar_one()
        result = service.submit(
            service.questionnaire_of(wave.questionnaire_version),
            wave_id=wave.id,
            version_id=wave.questionnaire_version_id,
            invitation_id=invitation_id,
            language="nl",
        )
        db.session.rollback()
    assert result.outcome == "closed"
    assert counts(app) == (0, 0, 0)


def test_pending_answers_need_the_key_that_sealed_them(database_url: str, tmp_path: Path) -> None:
    first = make_app(database_url, tmp_path, ANSWER_KEY="answer-key-1", SECRET_KEY="secret-1")
    tokens = make_wave(first, 3)
    answer_and_submit(first.test_client(), tokens[0], "marker-0")
    # SECRET_KEY rotated, ANSWER_KEY kept: the sealed answers still open.
    rotated = make_app(database_url, tmp_path, ANSWER_KEY="answer-key-1", SECRET_KEY="secret-2")
    answer_and_submit(rotated.test_client(), tokens[1], "marker-1")
    # A different ANSWER_KEY: closing refuses with a clear message, and nothing is lost.
    wrong = make_app(database_url, tmp_path, ANSWER_KEY="answer-key-2", SECRET_KEY="secret-2")
    refused = wrong.test_cli_runner().invoke(args=["wave", "close", SLUG])
    assert refused.exit_code != 0 and "ANSWER_KEY" in refused.output and "Traceback" not in refused.output
    assert counts(wrong) == (0, 2, 2)
    close(rotated)
    assert counts(rotated) == (2, 0, 2) and markers(rotated) == {"marker-0", "marker-1"}
    for application in (first, rotated, wrong):
        with application.app_context():
            db.engine.dispose()


def test_sealing_binds_the_wave(app: Flask) -> None:
    with app.app_context():
        sealed = pending.seal(1, {"answers": {"a": "b"}})
        assert pending.unseal(1, sealed) == {"answers": {"a": "b"}}
        assert len(sealed) == pending.NONCE_BYTES + pending.PAD_TO + 16
        with pytest.raises(InvalidTag):
            pending.unseal(2, sealed)


# --- PostgreSQL: a close and a submit at the same moment ------------------------------------------


def _waiting_on_locks(url: str, count: int) -> None:
    """Wait until ``count`` backends of the database wait for a lock."""
    info = make_url(url)
    with psycopg.connect(
        host=info.host, port=info.port or 5432, dbname=info.database, user=info.username
    ) as c:
        c.autocommit = True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"fewer than {count} backends waited for a lock")


def _holder(url: str) -> psycopg.Connection[Any]:
    info = make_url(url)
    return psycopg.connect(host=info.host, port=info.port or 5432, dbname=info.database, user=info.username)


@pytest.fixture
def pg_app(postgres_migrated: str, tmp_path: Path) -> Iterator[Flask]:
    truncate_all(postgres_migrated)
    application = make_app(postgres_migrated, tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


def test_a_close_waits_for_a_submit_in_flight_and_releases_it(pg_app: Flask, postgres_migrated: str) -> None:
    (token,) = make_wave(pg_app, 1)
    client = pg_app.test_client()
    answer_pages(client, token, "in flight")
    outcome: dict[str, Any] = {}
    holder = _holder(postgres_migrated)
    try:
        # The submit takes the wave's KEY SHARE, then waits here for its invitation row.
        holder.execute("SELECT id FROM invitations FOR UPDATE")
        submit = threading.Thread(
            target=lambda: outcome.update(submit=client.post("/survey/submit").status_code)
        )
        submit.start()
        _waiting_on_locks(postgres_migrated, 1)
        closing = threading.Thread(
            target=lambda: outcome.update(close=pg_app.test_cli_runner().invoke(args=["wave", "close", SLUG]))
        )
        closing.start()
        _waiting_on_locks(postgres_migrated, 2)  # the close waits for the submit
    finally:
        holder.rollback()
        holder.close()
    submit.join(timeout=15)
    closing.join(timeout=15)
    assert outcome["submit"] == 302 and outcome["close"].exit_code == 0, outcome
    assert counts(pg_app) == (1, 0, 1)  # released by the close: nothing stays pending
    assert markers(pg_app) == {"in flight"}


def test_a_submit_that_waited_for_a_close_finds_the_wave_closed(
    pg_app: Flask, postgres_migrated: str
) -> None:
    (token,) = make_wave(pg_app, 1)
    client = pg_app.test_client()
    answer_pages(client, token, "too late")
    outcome: dict[str, int] = {}
    holder = _holder(postgres_migrated)
    try:
        # A close in progress holds the wave (FOR UPDATE), as pending.release_all does.
        holder.execute("SELECT id FROM waves FOR UPDATE")
        submit = threading.Thread(
            target=lambda: outcome.update(submit=client.post("/survey/submit").status_code)
        )
        submit.start()
        _waiting_on_locks(postgres_migrated, 1)
        holder.execute("UPDATE waves SET state = 'closed'")
        holder.commit()
    finally:
        holder.close()
    submit.join(timeout=15)
    assert outcome["submit"] == 410
    assert counts(pg_app) == (0, 0, 0)
    with pg_app.app_context():  # the answers are still there, in the draft
        (invitation_id,) = db.session.execute(select(DraftAnswers.invitation_id)).one()
        assert (service.draft_answers_of(invitation_id) or {})["suggestie"] == "too late"
