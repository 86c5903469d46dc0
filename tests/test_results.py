"""The results page of a wave, its charts and the downloads' access rules and audit log.

One small demo database (1,500 people, 600 responses, threshold 10: some groups suppressed)
is seeded once for the module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.charts import PNG_SIGNATURE
from surveyapp.demo import CONTACT_SLUG, WAVE_SLUG, seed_demo
from surveyapp.extensions import db
from surveyapp.models import AuditEvent
from surveyapp.reports import data
from tests.conftest import make_app
from tests.test_auth import login, make_users

BASE = f"/planner/waves/{WAVE_SLUG}/results"
KINDS = ("xlsx", "csv", "json", "microdata-csv", "microdata-sav", "microdata-xlsx", "codebook")


@pytest.fixture(scope="module")
def seeded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("results")
    path = folder / "db.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", folder)
    with app.app_context():
        seed_demo(people=1500, responses=600, seed=11)
        db.session.commit()
    make_users(app)
    data.clear_cache()
    yield app
    with app.app_context():
        db.engine.dispose()


_clients: dict[tuple[int, str], FlaskClient] = {}


def client_as(app: Flask, role: str) -> FlaskClient:
    """One logged-in client per role for the module (logins are rate-limited)."""
    key = (id(app), role)
    if key not in _clients:
        client = app.test_client()
        assert login(client, role).status_code == 302
        _clients[key] = client
    return _clients[key]


def test_results_page_has_every_section_and_the_suppression_note(seeded: Flask) -> None:
    page = client_as(seeded, "viewer").get(f"{BASE}?group=entiteit&lang=en")
    assert page.status_code == 200
    text = page.text
    for ident in (
        "response-heading",
        "awareness-heading",
        "offerings-heading",
        "help-types",
        "missing",
        "needs",
        "groups-heading",
        "reach",
        "funnel",
        "response-rates",
    ):
        assert f'id="{ident}"' in text, ident
    assert "offerings above 80% satisfied" in text
    assert "fewer than 10 respondents: not shown" in text
    assert data.SUPPRESSED_MARK in text
    assert "Holm" in text
    assert f"{BASE}/reach.png?group=entiteit" in text and "the table below gives the same numbers" in text
    # viewers see no downloads
    assert "downloads-heading" not in text and "/download/" not in text


def test_planner_sees_downloads_with_the_open_answers_warning(seeded: Flask) -> None:
    text = client_as(seeded, "planner").get(f"{BASE}?lang=en").text
    assert "downloads-heading" in text and f"{BASE}/download/xlsx" in text and f"{BASE}/microdata" in text
    text = client_as(seeded, "planner").get(f"{BASE}/microdata?lang=en").text
    assert 'name="open_answers"' in text and "checked" not in text.split('name="open_answers"')[1][:40]
    assert "identify people" in text


def test_wave_comparison_shows_arrows_in_words(seeded: Flask) -> None:
    text = client_as(seeded, "viewer").get(f"{BASE}?compare={WAVE_SLUG}&lang=en").text
    assert 'id="changes-heading"' not in text  # the same wave is no comparison
    text = client_as(seeded, "viewer").get(f"{BASE}?compare={CONTACT_SLUG}&lang=en").text
    assert 'id="changes-heading"' in text


def test_contact_person_wave_shows_feedback_per_theme(seeded: Flask) -> None:
    page = client_as(seeded, "viewer").get(f"/planner/waves/{CONTACT_SLUG}/results?lang=en")
    assert page.status_code == 200 and 'id="feedback-heading"' in page.text


@pytest.mark.parametrize(
    "chart", ["offerings", "funnel", "reach?group=leeftijd", "group?group=leeftijd&measure=usage"]
)
def test_chart_png_etag_and_304(seeded: Flask, chart: str) -> None:
    client = client_as(seeded, "viewer")
    name, _, query = chart.partition("?")
    url = f"{BASE}/{name}.png" + (f"?{query}" if query else "")
    first = client.get(url)
    assert first.status_code == 200 and first.data.startswith(PNG_SIGNATURE)
    assert first.headers["Cache-Control"].startswith("private") and first.headers.get("ETag")
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_unknown_chart_or_group_is_404(seeded: Flask) -> None:
    client = client_as(seeded, "viewer")
    assert client.get(f"{BASE}/nope.png").status_code == 404
    assert client.get(f"{BASE}/reach.png?group=nope").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_downloads_need_the_planner_role_and_are_audited(seeded: Flask, kind: str) -> None:
    url = f"{BASE}/download/{kind}"
    anonymous = seeded.test_client().get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert client_as(seeded, "viewer").get(url).status_code == 403
    with seeded.app_context():
        before = db.session.scalar(
            select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "download")
        )
    response = client_as(seeded, "planner").get(url)
    assert response.status_code == 200 and response.data
    assert "attachment" in response.headers["Content-Disposition"]
    with seeded.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        downloads = select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "download")
        assert db.session.scalar(downloads) == before + 1
        assert event.action == "download" and event.target == WAVE_SLUG
        assert event.user_email == "planner@example.org" and event.details["format"] == kind


def test_microdata_open_answers_only_when_ticked(seeded: Flask) -> None:
    client = client_as(seeded, "planner")
    plain = client.get(f"{BASE}/download/microdata-csv").data.decode("utf-8-sig")
    purpose = "purpose=Analyse+van+de+suggesties&permission=1"
    ticked = client.get(f"{BASE}/download/microdata-csv?open_answers=1&{purpose}").data.decode("utf-8-sig")
    assert "suggesties" not in plain.splitlines()[0] and "suggesties" in ticked.splitlines()[0]
    with seeded.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        assert event.details["open_answers"] is True
