"""Drafts in progress, seen by a reader of the database or of its backups.

Respondents answer over HTTP from the links in their mails (sent by the CLI, read from the
outbox); then the attacker's view: a ``pg_dump`` of the PostgreSQL database, the bytes of the
SQLite file. No answer typed into an open question is in either, a draft still resumes from a
later mail's link (whose token the server never saw before), and closing the wave deletes the
drafts of those who did not submit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from surveyapp import crypto
from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Invitation, RegisterPerson, Response
from surveyapp.survey import service
from tests.conftest import REQUIRE_SERVICES
from tests.test_auth import login, make_users
from tests.test_invitations import SLUG, make_mail_wave, outbox_messages, token_of

# What p0 and p1 type into the open questions: strings found nowhere else.
TYPED = {
    "p0": {"detail": "KAMELEON-88X-studiekosten", "suggestion": "ZEBRA-7Q4-VLINDER graag meer uitleg"},
    "p1": {"detail": "OKAPI-31K", "suggestion": "NEUSHOORN-5T2"},
}


def mailed_links(app: Flask, kind: str = "invitation") -> dict[str, str]:
    """Each person's token from the newest mail of ``kind`` in the outbox (as a mail client shows it)."""
    links: dict[str, str] = {}
    for message in outbox_messages(app):
        subject = str(message["Subject"]).lower()
        is_reminder = "herinnering" in subject or "reminder" in subject
        if is_reminder == (kind == "reminder"):
            person = str(message["To"].addresses[0].addr_spec).split("@")[0]
            links[person] = token_of(message)
    return links


def cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def post_page(client: FlaskClient, page: str, data: dict[str, object], action: str = "next") -> str:
    reply = client.post(f"/survey/p/{page}", data={**data, "action": action})
    assert reply.status_code == 302, reply.text
    return reply.headers["Location"]


def answer_up_to_review(client: FlaskClient, token: str, typed: dict[str, str]) -> None:
    """Every page, with ``typed`` in the open questions; stops at the review, before submitting."""
    assert client.get(f"/s/{token}").status_code == 302
    post_page(client, "profiel", {"q_status": "actief", "q_kinderen": "3"})
    post_page(client, "werk", {"q_contract": "contractueel"})
    post_page(
        client,
        "kennis",
        {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"},
    )
    post_page(client, "gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel"]})
    location = post_page(
        client,
        "tevredenheid",
        {
            "q_tevreden_pluspas": "5",
            "q_financieel_detail": typed["detail"],
            "q_suggestie": typed["suggestion"],
        },
    )
    assert location.endswith("/survey/review")


def start_wave(app: Flask, people: int = 3) -> dict[str, str]:
    """An open wave whose invitations went out by the CLI; each person's link from their mail."""
    make_mail_wave(app, people=people)
    assert f"sent {people}," in cli(app, "invitations", "send", SLUG)
    links = mailed_links(app)
    assert sorted(links) == [f"p{i}" for i in range(people)]
    return links


def database_bytes(database_url: str) -> bytes:
    """What a backup holds: ``pg_dump``'s output, or the SQLite file (with its journal, if any)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-journal"))]
        return b"".join(f.read_bytes() for f in files if f.exists())
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        message = "no pg_dump binary (Debian package postgresql-client)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    dumped = subprocess.run(
        [pg_dump, "--no-owner", "--data-only", database_url], capture_output=True, check=True, timeout=60
    )
    return dumped.stdout


def test_a_backup_taken_mid_survey_holds_no_answer_and_the_draft_resumes_from_a_reminder(
    app: Flask, database_url: str
) -> None:
    links = start_wave(app)
    browsers = {person: app.test_client() for person in TYPED}
    for person, typed in TYPED.items():
        answer_up_to_review(browsers[person], links[person], typed)
        review = browsers[person].get("/survey/review").text
        assert typed["suggestion"] in review  # the respondent sees their answers

    backup = database_bytes(database_url)
    assert b"draft_answers" in backup or database_url.startswith("sqlite")
    assert backup.count(crypto.DRAFT_FORMAT.encode() + b".") >= 2  # both drafts are in it, sealed
    for typed in TYPED.values():
        for value in typed.values():
            assert value.encode("utf-8") not in backup, f"{value!r} readable in the backup"
    # Padded: drafts whose answers differ in length have ciphertexts of one length.
    with app.app_context():
        lengths = set(db.session.execute(select(func.length(DraftAnswers.sealed))).scalars())
    assert len(lengths) == 1

    # A reminder carries a fresh token; a new browser on it finds the answers and submits them.
    assert "sent 3," in cli(app, "invitations", "remind", SLUG, "--number", "1")
    reminder = mailed_links(app, "reminder")["p0"]
    assert reminder != links["p0"]
    phone = app.test_client()
    assert phone.get(f"/s/{reminder}").status_code == 302
    assert TYPED["p0"]["suggestion"] in phone.get("/survey/review").text
    assert phone.post("/survey/submit").headers["Location"].endswith("/survey/thanks")
    close_wave(app, "cli")  # a single submission becomes a response when its wave closes
    with app.app_context():
        (answers,) = db.session.execute(select(Response.answers)).scalars()
    assert answers["suggestie"] == TYPED["p0"]["suggestion"]
    assert answers["financieel_detail"] == TYPED["p0"]["detail"]


def close_wave(app: Flask, via: str) -> None:
    if via == "cli":
        assert "open -> closed" in cli(app, "wave", "close", SLUG)
        return
    make_users(app)
    planner = app.test_client()
    login(planner, "planner")
    assert planner.post(f"/planner/waves/{SLUG}/state", data={"to": "closed"}).status_code in {302, 303}


def drafts_by_person(app: Flask) -> dict[str, service.DraftState]:
    with app.app_context():
        rows = db.session.execute(
            select(RegisterPerson.person_key, DraftAnswers.invitation_id, DraftAnswers.sealed)
            .join(Invitation, Invitation.person_id == RegisterPerson.id)
            .join(DraftAnswers, DraftAnswers.invitation_id == Invitation.id)
        ).all()
        return {
            person: service.decrypt_draft(invitation_id, sealed) for person, invitation_id, sealed in rows
        }


@pytest.mark.parametrize("via", ["cli", "planner-web"])
def test_closing_the_wave_deletes_the_drafts_of_those_who_did_not_submit(app: Flask, via: str) -> None:
    links = start_wave(app)
    finished, halfway, opened = app.test_client(), app.test_client(), app.test_client()
    answer_up_to_review(finished, links["p0"], TYPED["p0"])
    assert finished.post("/survey/submit").status_code == 302
    assert halfway.get(f"/s/{links['p1']}").status_code == 302
    post_page(halfway, "profiel", {"q_status": "actief", "q_kinderen": "1"}, action="save")
    assert opened.get(f"/s/{links['p2']}").status_code == 302
    assert drafts_by_person(app)["p1"].answers == {"status": "actief", "kinderen": 1}
    assert set(drafts_by_person(app)) == {"p1", "p2"}

    close_wave(app, via)

    assert drafts_by_person(app) == {}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 1
    assert halfway.get("/survey/").status_code == 410  # closed: a clear page, not an error
    # Opened again, the wave starts those people on an empty questionnaire.
    cli(app, "wave", "open", SLUG)
    again = app.test_client()
    assert again.get(f"/s/{links['p1']}").status_code == 302
    assert drafts_by_person(app)["p1"].answers == {}


def test_a_draft_opens_only_for_its_own_invitation_and_with_the_servers_keys(app: Flask) -> None:
    links = start_wave(app, people=2)
    for person in ("p0", "p1"):
        browser = app.test_client()
        browser.get(f"/s/{links[person]}")
        post_page(browser, "profiel", {"q_status": "actief", "q_kinderen": person[1]}, action="save")
    with app.app_context():
        (one, one_sealed), (other, _) = db.session.execute(
            select(DraftAnswers.invitation_id, DraftAnswers.sealed).order_by(DraftAnswers.invitation_id)
        ).all()
        assert service.decrypt_draft(one, one_sealed).answers["kinderen"] == 0
        with pytest.raises(crypto.SealError):  # copied onto another invitation's row: refused
            service.decrypt_draft(other, one_sealed)
    # Another secret (an attacker's guess, a lost key) opens nothing.
    with pytest.raises(crypto.SealError):
        crypto.keys({"SECRET_KEY": "another-secret"}).open_draft(one, one_sealed)
    # A rotated SECRET_KEY with the old one among the fallbacks still opens it ...
    rotated = {"SECRET_KEY": "new-secret", "SECRET_KEY_FALLBACKS": [app.config["SECRET_KEY"]]}
    assert crypto.keys(rotated).open_draft(one, one_sealed).answers["kinderen"] == 0
    # ... and with a DRAFT_KEY of its own, drafts no longer depend on SECRET_KEY at all.
    own = crypto.keys({"SECRET_KEY": "a", "DRAFT_KEY": "draft-secret"}).seal_draft(one, crypto.EMPTY_DRAFT)
    assert crypto.keys({"SECRET_KEY": "b", "DRAFT_KEY": "draft-secret"}).open_draft(one, own).answers == {}
    # A browser whose draft cannot be opened gets a clear "try again later", and the draft stays.
    app.config["SECRET_KEY"] = "rotated-without-fallback"
    browser = app.test_client()
    browser.get(f"/s/{links['p0']}")
    assert browser.get("/survey/p/profiel").status_code == 503
    with app.app_context():
        assert db.session.execute(
            select(DraftAnswers.sealed).where(DraftAnswers.invitation_id == one)
        ).scalar() == (one_sealed)


def test_the_migration_seals_drafts_in_progress_and_unseals_them_on_downgrade(app: Flask) -> None:
    from flask_migrate import downgrade, upgrade

    start_wave(app, people=1)
    with app.app_context():
        invitation_id = db.session.execute(select(Invitation.id)).scalar_one()
        db.session.commit()  # no transaction of the session may hold a table the migration alters
        downgrade(revision="0005")
        json_value = "CAST({} AS jsonb)" if db.engine.dialect.name == "postgresql" else "{}"
        db.session.execute(
            text(
                "INSERT INTO draft_answers"
                " (invitation_id, answers, pages_done, current_page, updated_at, revision)"
                f" VALUES (:id, {json_value.format(':answers')}, {json_value.format(':pages')}, 'werk',"
                " CURRENT_TIMESTAMP, 2)"
            ),
            {"id": invitation_id, "answers": '{"suggestie": "OUD-ONTWERP-42"}', "pages": '["profiel"]'},
        )
        db.session.commit()
        upgrade()
        sealed, revision = db.session.execute(select(DraftAnswers.sealed, DraftAnswers.revision)).one()
        assert "OUD-ONTWERP-42" not in sealed
        draft = service.decrypt_draft(invitation_id, sealed, revision)
        assert draft == service.DraftState({"suggestie": "OUD-ONTWERP-42"}, ["profiel"], "werk", 2)
        db.session.commit()
        downgrade(revision="0005")
        answers = db.session.execute(text("SELECT answers FROM draft_answers")).scalar_one()
        db.session.commit()
        upgrade()
    loaded = answers if isinstance(answers, dict) else json.loads(answers)
    assert loaded == {"suggestie": "OUD-ONTWERP-42"}
