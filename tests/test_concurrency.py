"""One personal link in several browsers: one response per submit race, no page lost by page saves."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Invitation, PendingSubmission, Response
from surveyapp.survey import service, views
from tests.conftest import make_app, truncate_all
from tests.test_survey_flow import answer_everything, make_wave


def opened(draft: DraftAnswers) -> service.DraftState:
    """A stored draft opened with the app's key (in the app's context)."""
    return service.decrypt_draft(draft.invitation_id, draft.sealed, draft.revision)


@pytest.mark.parametrize("browsers", [2, 6])
def test_simultaneous_submits_store_one_response(
    postgres_migrated: str, tmp_path: Path, browsers: int
) -> None:
    # PostgreSQL only: SQLite serialises every write; the race is real on PostgreSQL.
    truncate_all(postgres_migrated)
    app: Flask = make_app(postgres_migrated, tmp_path)
    tokens = make_wave(app)
    first = app.test_client()
    answer_everything(first, tokens["p0"])
    clients = [first]
    for _ in range(browsers - 1):
        other = app.test_client()
        other.get(f"/s/{tokens['p0']}")  # the same link opened in other browsers
        clients.append(other)

    barrier = threading.Barrier(browsers)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit(client) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        status = client.post("/survey/submit").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [302] + [409] * (browsers - 1)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(PendingSubmission)).scalar_one() == 1
        assert db.session.execute(select(func.count()).select_from(DraftAnswers)).scalar_one() == 0
        db.engine.dispose()


def test_the_same_page_posted_twice_keeps_one_draft(app: Flask) -> None:
    tokens = make_wave(app)
    one, two = app.test_client(), app.test_client()
    one.get(f"/s/{tokens['p0']}")
    two.get(f"/s/{tokens['p0']}")
    data = {"q_status": "actief", "q_kinderen": "1", "action": "next"}
    assert one.post("/survey/p/profiel", data=data).status_code == 302
    assert two.post("/survey/p/profiel", data={**data, "q_kinderen": "3"}).status_code == 302
    with app.app_context():
        drafts = db.session.execute(select(DraftAnswers)).scalars().all()
        assert len(drafts) == 1 and opened(drafts[0]).answers["kinderen"] == 3


def _other_browser_saves_between_read_and_write(
    app: Flask, monkeypatch: pytest.MonkeyPatch, times: int
) -> list[int]:
    """Make another browser's page save land between a page's read and its write, ``times`` times.

    The other save is a committed change on a connection of its own (a new answer and a new
    revision), exactly what a second browser on the same link does.
    """
    calls: list[int] = []
    original = service.save_page

    def save_page_after_another(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            with db.engine.begin() as other:
                row = other.execute(select(DraftAnswers.__table__)).one()
                draft = service.decrypt_draft(row.invitation_id, row.sealed)
                answers = {**draft.answers, "suggestie": f"elders {len(calls)}"}
                other.execute(
                    update(DraftAnswers.__table__)
                    .where(DraftAnswers.__table__.c.id == row.id)
                    .values(
                        sealed=service.seal_draft(
                            row.invitation_id, answers, draft.pages_done, draft.current_page
                        ),
                        revision=row.revision + 1,
                    )
                )
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "save_page", save_page_after_another)
    return calls


def _opened_link(app: Flask) -> FlaskClient:
    """A browser that opened the first person's link."""
    tokens = make_wave(app)
    client = app.test_client()
    client.get(f"/s/{tokens['p0']}")
    return client


def test_a_page_save_that_meets_a_newer_draft_merges_into_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _opened_link(app)
    calls = _other_browser_saves_between_read_and_write(app, monkeypatch, times=2)
    data = {"q_status": "actief", "q_kinderen": "2", "action": "next"}
    assert client.post("/survey/p/profiel", data=data).headers["Location"].endswith("/survey/p/werk")
    assert len(calls) == 3  # two writes found a newer draft, the third one stored the page
    with app.app_context():
        row = db.session.execute(select(DraftAnswers)).scalar_one()
        draft = opened(row)
        # Both the other browser's answer and this page's answers are kept; nothing overwritten.
        assert draft.answers == {"suggestie": "elders 2", "status": "actief", "kinderen": 2}
        assert draft.pages_done == ["profiel"] and draft.revision == 3


def test_a_page_save_that_keeps_meeting_newer_drafts_asks_to_send_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _opened_link(app)
    calls = _other_browser_saves_between_read_and_write(app, monkeypatch, times=100)
    reply = client.post("/survey/p/profiel", data={"q_status": "actief", "q_kinderen": "2", "action": "next"})
    assert reply.status_code == 409
    assert "Verstuur ze opnieuw." in reply.text  # a clear message, in Dutch first
    assert len(calls) == views.SAVE_ATTEMPTS
    with app.app_context():
        draft = opened(db.session.execute(select(DraftAnswers)).scalar_one())
        assert "status" not in draft.answers and draft.pages_done == []  # the page was not half-stored
        assert draft.answers["suggestie"] == f"elders {views.SAVE_ATTEMPTS}"


def test_a_link_opened_in_several_browsers_at_once_starts_one_draft(
    postgres_migrated: str, tmp_path: Path
) -> None:
    # PostgreSQL: the first visits race to create the draft; exactly one is created, none fails.
    truncate_all(postgres_migrated)
    app: Flask = make_app(postgres_migrated, tmp_path)
    tokens = make_wave(app)
    browsers = 6
    barrier = threading.Barrier(browsers)
    statuses: list[int] = []
    lock = threading.Lock()

    def open_link() -> None:
        client = app.test_client()
        barrier.wait()
        status = client.get(f"/s/{tokens['p0']}").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=open_link) for _ in range(browsers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [302] * browsers
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(DraftAnswers)).scalar_one() == 1
        started = db.session.execute(select(Invitation.started_on).where(Invitation.started_on.is_not(None)))
        assert len(started.all()) == 1
        db.engine.dispose()
