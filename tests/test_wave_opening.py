"""Opening a wave invites its register; an open wave's register changes by a delta import only;
every planner command given the wrong thing says so and changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AccessToken, Invitation, RegisterPerson, Wave
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import (
    OpeningError,
    RegisterRow,
    WaveStateError,
    add_register,
    create_wave,
    invite_register,
    open_wave,
)
from tests.conftest import REPO, make_app, truncate_all
from tests.test_auth import login, make_users
from tests.test_register_import import follow_job

GERECHTIGDEN = REPO / "questionnaires" / "gerechtigden.yaml"
REGISTER = REPO / "examples" / "register.csv"
SLUG = "g-2027"
HEADER = (
    "personeelsnummer;naam;e-mail;taal;status;leeftijd;gezin;kinderen;beperking;herkomst;entiteit;"
    "contract;niveau;dienstjaren"
)


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def count(app: Flask, model: type, *where: object) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def wave_state(app: Flask) -> str:
    with app.app_context():
        return str(db.session.execute(select(Wave.state).where(Wave.slug == SLUG)).scalar_one())


def make_wave(app: Flask, *, closes: str | None = "2027-01-31") -> None:
    args = ["wave", "create", "--questionnaire", "gerechtigden", "--slug", SLUG, "--title", "G 2027"]
    created = cli(app, *args, *(["--closes", closes] if closes else []))
    assert created.exit_code == 0, created.output


def opened_wave(app: Flask) -> None:
    make_wave(app)
    assert cli(app, "population", "import", SLUG, str(REGISTER)).exit_code == 0
    opened = cli(app, "wave", "open", SLUG)
    assert opened.exit_code == 0, opened.output


def outbox(app: Flask) -> dict[Path, EmailMessage]:
    folder = Path(app.config["OUTBOX_DIR"])
    parser = BytesParser(policy=policy.default)
    return {p: parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))}  # type: ignore[misc]


def to(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def link_path(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = str(part.get_content())  # type: ignore[attr-defined]
    start = text.index("/s/")
    return text[start:].split()[0]


def register_lines() -> list[str]:
    return REGISTER.read_text(encoding="utf-8").splitlines()


# --- opening ----------------------------------------------------------------------------------


@pytest.fixture
def qdir(app: Flask) -> None:
    app.config["QUESTIONNAIRE_DIR"] = str(REPO / "questionnaires")


@pytest.mark.usefixtures("qdir")
def test_opening_invites_the_register_once_and_stores_no_token(app: Flask) -> None:
    make_wave(app)
    assert cli(app, "population", "import", SLUG, str(REGISTER)).exit_code == 0
    opened = cli(app, "wave", "open", SLUG)
    assert opened.exit_code == 0 and "30 invitation(s) created" in opened.output
    assert count(app, Invitation) == 30
    assert count(app, AccessToken) == 0  # a token is made per mail, never kept in the clear
    again = cli(app, "wave", "open", SLUG)
    assert again.exit_code != 0 and f"wave {SLUG} is already open" in again.output
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        assert invite_register(wave) == 0
        assert wave.base_population == 30
    assert count(app, Invitation) == 30
    sent = cli(app, "invitations", "send", SLUG)
    assert "sent 30" in sent.output
    assert count(app, AccessToken) == 30  # one hash per mail sent


@pytest.mark.usefixtures("qdir")
def test_opening_is_refused_without_people_or_closing_date(app: Flask) -> None:
    make_wave(app, closes=None)
    empty = cli(app, "wave", "open", SLUG)
    assert empty.exit_code != 0 and "register of wave g-2027 is empty" in empty.output
    assert cli(app, "population", "import", SLUG, str(REGISTER)).exit_code == 0
    undated = cli(app, "wave", "open", SLUG)
    assert undated.exit_code != 0 and "has no closing date" in undated.output and "--closes" in undated.output
    assert (wave_state(app), count(app, Invitation)) == ("draft", 0)
    dated = cli(app, "wave", "open", SLUG, "--closes", "2027-02-28")
    assert dated.exit_code == 0 and "closes 2027-02-28" in dated.output
    assert (wave_state(app), count(app, Invitation)) == ("open", 30)


def test_the_web_open_action_uses_the_same_rules(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        version, _ = store_file(GERECHTIGDEN)
        wave = create_wave(version, slug=SLUG, title="G 2027", closes_on=date(2027, 1, 31))
        db.session.commit()
    planner = app.test_client()
    login(planner, "planner")
    planner.get("/planner/?lang=en")
    refused = planner.post(f"/planner/waves/{SLUG}/state", data={"to": "open"}, follow_redirects=True)
    assert refused.status_code == 200 and "its register is empty" in refused.text
    assert wave_state(app) == "draft"
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        add_register(wave, [RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {}) for i in range(4)])
        db.session.commit()
    opened = planner.post(f"/planner/waves/{SLUG}/state", data={"to": "open"}, follow_redirects=True)
    assert opened.status_code == 200 and "4 invitations were created" in opened.text
    assert (wave_state(app), count(app, Invitation)) == ("open", 4)
    mail_page = planner.get(f"/planner/waves/{SLUG}/mail").text
    assert "disabled" not in mail_page.split("mail/send")[1][:600]


@pytest.fixture
def pg_app(postgres_migrated: str, tmp_path: Path) -> Iterator[Flask]:
    """PostgreSQL only: SQLite runs one writer at a time, so it has no race to show."""
    truncate_all(postgres_migrated)
    application = make_app(postgres_migrated, tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_simultaneous_openings_invite_everyone_once(pg_app: Flask) -> None:
    app = pg_app
    with app.app_context():
        version, _ = store_file(GERECHTIGDEN)
        wave = create_wave(version, slug=SLUG, title="G 2027", closes_on=date(2027, 1, 31))
        add_register(wave, [RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {}) for i in range(200)])
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def opener() -> None:
        with app.app_context():
            found = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
            barrier.wait()
            try:
                outcomes.append(f"opened {open_wave(found)}")
                db.session.commit()
            except WaveStateError:
                db.session.rollback()
                outcomes.append("refused")

    def inviter() -> None:
        with app.app_context():
            found = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
            barrier.wait()
            invite_register(found)
            db.session.commit()

    threads = [threading.Thread(target=opener) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["opened 200", "refused"]
    assert count(app, Invitation) == 200
    # Two plain invitation runs at once: the unique person keeps it at one each.
    with app.app_context():
        found = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        add_register(found, [RegisterRow(f"q{i}", f"q{i}@example.org", "nl", {}) for i in range(100)])
        db.session.commit()
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=inviter) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(app, Invitation) == 300


def test_open_wave_reasons_have_codes(app: Flask) -> None:
    with app.app_context():
        version, _ = store_file(GERECHTIGDEN)
        wave = create_wave(version, slug=SLUG, title="G 2027")
        with pytest.raises(OpeningError) as empty:
            open_wave(wave)
        assert empty.value.code == "register_empty"
        add_register(wave, [RegisterRow("p0", "p0@example.org", "nl", {})])
        with pytest.raises(OpeningError) as undated:
            open_wave(wave)
        assert undated.value.code == "no_closing_date"


# --- the delta import -------------------------------------------------------------------------


@pytest.mark.usefixtures("qdir")
def test_delta_import_invites_newcomers_and_withdraws_leavers(app: Flask, tmp_path: Path) -> None:
    opened_wave(app)
    assert "sent 30" in cli(app, "invitations", "send", SLUG).output
    first = outbox(app)
    lines = register_lines()
    leaver = lines[1].split(";")[2]  # annelies.verhoeven@example.org
    answerer = lines[2].split(";")[2]
    opter = lines[3].split(";")[2]
    by_address = {to(m): m for m in first.values()}
    respondent = app.test_client()

    # One answers, one opts out (through their own links, as they would).
    with app.app_context():
        from surveyapp.models import Invitation as Inv

        key = lines[2].split(";")[0]
        invitation = db.session.execute(
            select(Inv).join(RegisterPerson).where(RegisterPerson.person_key == key)
        ).scalar_one()
        invitation.submitted = True
        db.session.commit()
    opt_path = link_path(by_address[opter]) + "/opt-out"
    page = respondent.get(opt_path)
    assert page.status_code == 200
    assert respondent.post(opt_path).status_code == 200  # (this app checks no CSRF token)

    plain = cli(app, "population", "import", SLUG, str(REGISTER))
    assert plain.exit_code != 0 and "--delta" in plain.output

    newcomer = (
        "10031;Nieuwe Collega;nieuwe.collega@example.org;nl;actief;lt30;alleenstaand;nee;nee;belgisch;"
        "mow;contractueel_bepaald;c;lt2"
    )
    delta = tmp_path / "register-december.csv"
    # The leaver and the one who answered are no longer in the register; a newcomer is.
    delta.write_text("\n".join([lines[0], *lines[3:], newcomer]) + "\n", encoding="utf-8")
    dry = cli(app, "population", "import", SLUG, str(delta), "--delta", "--dry-run")
    assert dry.exit_code == 0 and "Dry run" in dry.output and "1 withdrawn" in dry.output
    assert count(app, Invitation, Invitation.withdrawn_at.is_not(None)) == 0
    done = cli(app, "population", "import", SLUG, str(delta), "--delta")
    assert done.exit_code == 0, done.output
    assert (
        "1 added" in done.output
        and "1 withdrawn" in done.output
        and "1 not in the file but kept: they already answered" in done.output
    )
    assert count(app, Invitation, Invitation.withdrawn_at.is_not(None)) == 1
    with app.app_context():
        assert db.session.execute(select(Wave.base_population)).scalar_one() == 30

    # The withdrawn person's link says so; the newcomer's invitation goes with the next send.
    gone = respondent.get(link_path(by_address[leaver]), headers={"Accept-Language": "en"})
    assert gone.status_code == 410 and "no longer works" in gone.text
    assert respondent.get(link_path(by_address[leaver]) + "/opt-out").status_code == 410
    sent = cli(app, "invitations", "send", SLUG)
    assert "sent 1" in sent.output
    new = [m for p, m in outbox(app).items() if p not in first]
    assert [to(m) for m in new] == ["nieuwe.collega@example.org"]

    # Reminders: not to who answered, opted out or was withdrawn (the newcomer was invited).
    before = set(outbox(app))
    reminded = cli(app, "invitations", "remind", SLUG)
    assert reminded.exit_code == 0, reminded.output
    reminders = sorted(to(m) for p, m in outbox(app).items() if p not in before)
    everyone = {line.split(";")[2] for line in lines[1:]} | {"nieuwe.collega@example.org"}
    assert reminders == sorted(everyone - {leaver, answerer, opter})
    status = cli(app, "wave", "status", SLUG).output.splitlines()
    overall = status[status.index(next(line for line in status if line.startswith("invited"))) + 2]
    assert overall.split()[:3] == ["30", "0", "1"]  # the withdrawn no longer counts; 1 answered

    # Back in the register: the invitation stands again.
    back = cli(app, "population", "import", SLUG, str(REGISTER), "--delta")
    assert "1 back after a withdrawal" in back.output
    assert count(app, Invitation, Invitation.withdrawn_at.is_not(None)) == 1  # the newcomer left again
    assert respondent.get(link_path(by_address[leaver])).status_code == 302


def test_web_register_page_updates_an_open_wave(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        version, _ = store_file(GERECHTIGDEN)
        wave = create_wave(version, slug=SLUG, title="G 2027", closes_on=date(2027, 1, 31))
        add_register(wave, [RegisterRow("99999", "weg@example.org", "nl", {})])
        open_wave(wave)
        db.session.commit()
    planner = app.test_client()
    login(planner, "planner")
    planner.get("/planner/?lang=en")
    data = REGISTER.read_bytes()
    import io

    page = planner.post(
        f"/planner/waves/{SLUG}/register",
        data={"action": "analyse", "file": (io.BytesIO(data), "register.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200 and 'name="remove_missing"' not in page.text
    form = {
        "email_column": "e-mail",
        "id_column": "personeelsnummer",
        "language_column": "taal",
        "name_column": "naam",
    }
    done = planner.post(
        f"/planner/waves/{SLUG}/register",
        data={**form, "action": "import", "file": (io.BytesIO(data), "register.csv")},
        content_type="multipart/form-data",
    )
    follow_job(planner, done)
    assert count(app, Invitation) == 31
    assert count(app, Invitation, Invitation.withdrawn_at.is_not(None)) == 1


# --- bad input on the command line ---------------------------------------------------------------


@pytest.mark.usefixtures("qdir")
def test_every_planner_step_refuses_the_wrong_thing_and_changes_nothing(app: Flask, tmp_path: Path) -> None:
    unknown = cli(app, "wave", "create", "--questionnaire", "gerechtigde", "--slug", SLUG, "--title", "G")
    assert unknown.exit_code != 0 and "contactpersonen-welzijn, gerechtigden" in unknown.output
    assert count(app, Wave) == 0
    make_wave(app)

    header_only = tmp_path / "empty.csv"
    header_only.write_text(HEADER + "\n", encoding="utf-8")
    empty = cli(app, "population", "import", SLUG, str(header_only))
    assert empty.exit_code != 0 and "column names but no rows" in empty.output

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("nummer;voornaam\n1;An\n2;Bart\n", encoding="utf-8")
    columns = cli(app, "population", "import", SLUG, str(wrong))
    assert (
        columns.exit_code != 0
        and "e-mail addresses" in columns.output
        and "Nothing was imported" in columns.output
    )
    assert count(app, RegisterPerson) == 0

    send_draft = cli(app, "invitations", "send", SLUG)
    assert (
        send_draft.exit_code != 0
        and "is a draft" in send_draft.output
        and f"surveyapp wave open {SLUG}" in send_draft.output
    )
    remind_draft = cli(app, "invitations", "remind", SLUG)
    assert remind_draft.exit_code != 0 and "is a draft" in remind_draft.output
    assert not Path(app.config["OUTBOX_DIR"]).exists() or not outbox(app)

    assert cli(app, "population", "import", SLUG, str(REGISTER)).exit_code == 0
    assert cli(app, "wave", "open", SLUG).exit_code == 0
    twice = cli(app, "wave", "open", SLUG)
    assert twice.exit_code != 0 and "already open" in twice.output
    assert count(app, Invitation) == 30

    assert cli(app, "wave", "close", SLUG).exit_code == 0
    closed = cli(app, "invitations", "send", SLUG)
    assert closed.exit_code != 0 and f"wave {SLUG} is closed" in closed.output
    remind_closed = cli(app, "invitations", "remind", SLUG)
    assert remind_closed.exit_code != 0 and "is closed" in remind_closed.output
    frozen = cli(app, "population", "import", SLUG, str(REGISTER), "--delta")
    assert frozen.exit_code != 0 and "frozen" in frozen.output
    for result in (empty, columns, send_draft, twice, closed, frozen):
        assert "Traceback" not in result.output
    assert not Path(app.config["OUTBOX_DIR"]).exists() or not outbox(app)
    assert (wave_state(app), count(app, RegisterPerson), count(app, Invitation)) == ("closed", 30, 30)


@pytest.mark.usefixtures("qdir")
def test_wave_status_shows_the_questionnaires_labels_not_codes(app: Flask) -> None:
    """The planner's monitoring on the command line names groups as the questionnaire does."""
    opened_wave(app)
    dutch = cli(app, "wave", "status", SLUG, "--lang", "nl")
    assert dutch.exit_code == 0, dutch.output
    assert "Wonen er kinderen bij u thuis:" in dutch.output and "Ja " in dutch.output
    english = cli(app, "wave", "status", SLUG).output
    assert "children" in english.lower()
    for text in (dutch.output, english):
        headings = [line[:-1] for line in text.splitlines() if line.endswith(":")]
        assert headings and not {"leeftijd", "gezin", "kinderen", "status"} & set(headings), headings
        assert "samenwonend_met_kinderen" not in text
