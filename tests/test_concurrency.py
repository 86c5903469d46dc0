"""Simultaneous submits of one personal link store exactly one response (PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Response
from tests.conftest import make_app, truncate_all
from tests.test_survey_flow import answer_everything, make_wave


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
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 1
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
        assert len(drafts) == 1 and drafts[0].answers["kinderen"] == 3
