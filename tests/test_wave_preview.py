"""Wave previews: a planner tries a draft wave as respondents will see it, and nothing counts.

On both databases, from an empty database: the planner gets the link from the wave's page,
walks every page in Dutch and in English over HTTP and submits; then the wave opens, real
respondents answer from their mails, and the monitoring, the analysis and the exports count
exactly them. A viewer cannot make a preview; a preview stops when the wave opens or expires.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, DraftAnswers, Invitation, Response, Wave, WavePreview, utcnow
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave
from surveyapp.survey import preview
from tests.conftest import DATA
from tests.test_auth import login, make_users
from tests.test_invitations import outbox_messages, token_of
from tests.test_respondent_words import walk

MINI = DATA / "questionnaires" / "mini.yaml"
SLUG = "try-2026"
BASE_URL = "http://127.0.0.1:5000"
PREVIEW_LINK = re.compile(r'<code class="preview-link">([^<]+)</code>')
LANGUAGE_LINK = re.compile(r'href="([^"]+/preview/[^"?]+\?lang=(nl|en))"')


def make_draft_wave(app: Flask) -> None:
    """A draft wave with its register (one Dutch, one English person), not opened yet."""
    with app.app_context():
        version, _ = store_file(MINI)
        wave = create_wave(version, slug=SLUG, title="Preview test", closes_on=date(2027, 1, 31))
        add_register(
            wave,
            [
                RegisterRow("p0", "p0@example.org", "nl", {"status": "actief"}),
                RegisterRow("p1", "p1@example.org", "en", {"status": "actief"}),
            ],
        )
        db.session.commit()


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def path_of(link: str) -> str:
    assert link.startswith(BASE_URL + "/preview/"), link
    return link.removeprefix(BASE_URL)


def status_counts(app: Flask) -> tuple[int, int, int]:
    """invited, started, submitted as ``surveyapp wave status`` prints them."""
    result = app.test_cli_runner().invoke(args=["wave", "status", SLUG])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["invited", "started", "submitted"]
    )
    invited, started, submitted = lines[header + 2].split()[:3]
    return int(invited), int(started), int(submitted)


def test_planner_previews_a_draft_wave_in_every_language_and_nothing_counts(
    app: Flask, tmp_path: Path
) -> None:
    make_users(app)
    make_draft_wave(app)

    # A viewer sees no button and cannot make a preview; nobody logged out can either.
    viewer = app.test_client()
    login(viewer, "viewer")
    assert f"/planner/waves/{SLUG}/preview" not in viewer.get(f"/planner/waves/{SLUG}").text
    assert viewer.post(f"/planner/waves/{SLUG}/preview").status_code == 403
    assert app.test_client().post(f"/planner/waves/{SLUG}/preview").status_code == 401
    assert count(app, WavePreview) == 0

    planner = app.test_client()
    login(planner, "planner")
    page = planner.get(f"/planner/waves/{SLUG}?lang=en")
    assert f'action="/planner/waves/{SLUG}/preview"' in page.text
    made = planner.post(f"/planner/waves/{SLUG}/preview")
    assert made.status_code == 200
    link = html.unescape(PREVIEW_LINK.search(made.text).group(1))  # type: ignore[union-attr]
    by_language = {lang: html.unescape(url) for url, lang in LANGUAGE_LINK.findall(made.text)}
    assert set(by_language) == {"nl", "en"}

    # Every page in both languages, exactly the respondent's pages, with a preview notice.
    for lang, notice, finished in (
        ("nl", "Voorbeeld.", "Dit was een voorbeeld"),
        ("en", "Preview.", "This was a preview"),
    ):
        pages = walk(app.test_client(), path_of(link), lang)
        assert [what for what, _ in pages][:1] == ["welcome"] and pages[-1][0] == "thanks"
        assert len(pages) >= 7  # welcome, the questionnaire's pages, review, thanks
        for what, text in pages:
            assert f'<html lang="{lang}">' in text, (lang, what)
            assert notice in text, (lang, what)
        assert finished in pages[-1][1]
        assert "/survey/p/profiel" in [what for what, _ in pages]  # the questionnaire's own pages
    # The language links of the planner's page open the preview in that language.
    client = app.test_client()
    assert client.get(path_of(by_language["en"].split("?")[0]) + "?lang=en").status_code == 302
    assert '<html lang="en">' in client.get("/survey/").text

    # Nothing was stored: no response, no draft, no invitation started.
    assert count(app, Response) == 0 and count(app, DraftAnswers) == 0
    assert status_counts(app)[1:] == (0, 0)
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action, AuditEvent.user_email)).all()
    assert ("wave_preview_created", "planner@example.org") in [tuple(a) for a in actions]

    # A preview in progress when the wave opens stops: so does its link.
    unfinished = app.test_client()
    assert unfinished.get(path_of(link)).status_code == 302
    assert unfinished.get("/survey/").status_code == 200
    assert planner.post(f"/planner/waves/{SLUG}/state", data={"to": "open"}).status_code == 302
    ended = unfinished.get("/survey/")
    assert ended.status_code == 410 and "voorbeeld" in ended.text.lower()
    assert app.test_client().get(path_of(link)).status_code == 410
    refused = planner.post(f"/planner/waves/{SLUG}/preview")
    assert refused.status_code == 409 and "/preview/" not in refused.text

    # Real respondents answer from their invitation mails; only they count, everywhere.
    with app.app_context():
        create_invitations(db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one())
        db.session.commit()
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["invitations", "send", SLUG])
    assert sent.exit_code == 0, sent.output
    for message, lang in zip(outbox_messages(app), ("nl", "en"), strict=True):
        walk(app.test_client(), f"/s/{token_of(message)}", lang)
    # Fewer than k submissions become responses when the wave closes (batched anonymity).
    closed = runner.invoke(args=["wave", "close", SLUG])
    assert closed.exit_code == 0, closed.output
    assert count(app, Response) == 2
    assert status_counts(app) == (2, 2, 2)
    microdata = tmp_path / "microdata.csv"
    exported = runner.invoke(args=["report", SLUG, "--format", "microdata-csv", "--out", str(microdata)])
    # Two records can never be k-anonymous, so the export refuses: it says it counted exactly 2.
    assert exported.exit_code == 2 and "2 records cannot be 10-anonymous" in exported.output
    assert not microdata.exists()
    analysed = runner.invoke(args=["analyze", "--wave", SLUG, "--json", str(tmp_path / "analysis.json")])
    assert analysed.exit_code == 0, analysed.output
    assert "read 2 responses" in analysed.output


def test_cli_prints_a_preview_link_of_a_draft_wave_only(app: Flask) -> None:
    make_draft_wave(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["wave", "preview", SLUG])
    assert result.exit_code == 0, result.output
    link = result.output.splitlines()[0].strip()
    client = app.test_client()
    assert client.get(path_of(link)).status_code == 302
    welcome = client.get("/survey/")
    assert welcome.status_code == 200 and "Voorbeeld." in welcome.text
    assert f"en: {link}?lang=en" in result.output

    missing = runner.invoke(args=["wave", "preview", "no-such-wave"])
    assert missing.exit_code != 0 and "no wave no-such-wave" in missing.output
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        wave.state = "open"
        db.session.commit()
    refused = runner.invoke(args=["wave", "preview", SLUG])
    assert refused.exit_code != 0 and "only for a draft wave" in refused.output
    assert "Traceback" not in refused.output
    assert count(app, Invitation) == 0 and count(app, Response) == 0


def test_a_preview_link_expires_and_an_unknown_one_is_refused(app: Flask) -> None:
    make_draft_wave(app)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        made_long_ago = utcnow() - timedelta(days=preview.PREVIEW_DAYS, minutes=1)
        old = preview.create(wave, created_by=None, now=made_long_ago)
        db.session.commit()
    client = app.test_client()
    expired = client.get(f"/preview/{old.token}")
    assert expired.status_code == 410 and "voorbeeld" in expired.text.lower()
    assert client.get(f"/preview/{old.token[:-2]}xx").status_code == 404
    assert client.get("/preview/" + "x" * 300).status_code == 404
    # Making another preview clears the expired ones (with their test answers).
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        fresh = preview.create(wave, created_by=None)
        db.session.commit()
    assert count(app, WavePreview) == 1
    assert client.get(f"/preview/{old.token}").status_code == 404
    assert client.get(f"/preview/{fresh.token}").status_code == 302


@pytest.mark.parametrize("anonymous", [True, False])
def test_a_preview_uses_the_words_of_the_wave_mode(app: Flask, anonymous: bool) -> None:
    make_draft_wave(app)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        wave.anonymous = anonymous
        created = preview.create(wave, created_by=None)
        db.session.commit()
    client = app.test_client()
    client.get(f"/preview/{created.token}")
    footer = client.get("/survey/p/profiel").text.split('<footer class="site-footer">', 1)[1]
    assert ("anoniem" in footer) is anonymous
    assert ("vertrouwelijk" in footer) is not anonymous
    # The test questionnaire's own welcome says "anonymous": the planner is warned when the wave
    # is identified (its pages and the preview link's page), not when it is anonymous.
    make_users(app)
    planner = app.test_client()
    login(planner, "planner")
    planner.get("/?lang=en")
    for page in (planner.get(f"/planner/waves/{SLUG}"), planner.post(f"/planner/waves/{SLUG}/preview")):
        assert page.status_code == 200
        warned = "but its questionnaire tells respondents their answers are anonymous" in page.text
        assert warned is not anonymous
        assert ("welcome (nl), welcome (en)" in page.text) is not anonymous


def test_the_planners_warning_names_places_in_the_questionnaires_language_order() -> None:
    """A questionnaire read back from PostgreSQL (JSONB sorts keys) names places as the file does."""
    import dataclasses

    from surveyapp.planner.waves import anonymity_claims
    from surveyapp.questionnaire import load_questionnaire

    from_file = load_questionnaire(MINI)
    assert from_file.welcome is not None
    from_jsonb = dataclasses.replace(from_file, welcome=dict(sorted(from_file.welcome.items())))
    assert list(from_jsonb.welcome or {}) == ["en", "nl"]
    assert anonymity_claims(from_file) == anonymity_claims(from_jsonb) == ["welcome (nl)", "welcome (en)"]
