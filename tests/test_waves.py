"""Waves in the browser and on the command line: create, edit, open/close/archive, repeat."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, QuestionnaireVersion, RegisterPerson, Wave
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_wave, set_state, wave_by_slug
from tests.conftest import DATA
from tests.test_auth import login, make_users

MINI = DATA / "questionnaires" / "mini.yaml"
SHIPPED = Path(__file__).parent.parent / "questionnaires"


@pytest.fixture
def qdir(app: Flask, tmp_path: Path) -> Path:
    """A questionnaire folder of this test's own: mini.yaml and the contact-person questionnaire."""
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    shutil.copy(MINI, folder / "mini.yaml")
    shutil.copy(SHIPPED / "contactpersonen-welzijn.yaml", folder / "contactpersonen-welzijn.yaml")
    (folder / "broken.yaml").write_text("format: surveyapp/1\nid: Broken!\n", encoding="utf-8")
    app.config["QUESTIONNAIRE_DIR"] = str(folder)
    return folder


@pytest.fixture
def planner(app: Flask, qdir: Path) -> FlaskClient:
    make_users(app)
    client = app.test_client()
    login(client, "planner")
    client.get("/planner/?lang=en")  # the checks read English texts (Dutch is the default)
    return client


def wave_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "Gerechtigden 2026",
        "slug": "gerechtigden-2026",
        "audience": "gerechtigden",
        "questionnaire": "file:mini.yaml",
        "opens_on": "2026-03-01",
        "closes_on": "2026-03-31",
        "languages": ["nl", "en"],
        "anonymity": "anonymous",
        "retention_days": "365",
        "suppression_threshold": "10",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_error(page: str, field: str) -> str:
    """The error message shown next to a field (empty when there is none)."""
    match = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


def audit_of(app: Flask, target: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.action).where(AuditEvent.target == target).order_by(AuditEvent.id)
            ).scalars()
        )


def get_wave(app: Flask, slug: str) -> Wave:
    with app.app_context():
        wave = wave_by_slug(slug)
        assert wave is not None
        wave.questionnaire_version  # noqa: B018  (load before the context ends)
        db.session.expunge_all()
        return wave


def post_state(client: FlaskClient, slug: str, to: str):  # type: ignore[no-untyped-def]
    return client.post(f"/planner/waves/{slug}/state", data={"to": to})


def add_people(app: Flask, slug: str, count: int = 3) -> None:
    """A small register, so the wave may open (an empty register is refused)."""
    with app.app_context():
        wave = wave_by_slug(slug)
        assert wave is not None
        add_register(wave, (RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {}) for i in range(count)))
        db.session.commit()


def test_planner_creates_edits_and_runs_a_wave(app: Flask, planner: FlaskClient) -> None:
    page = planner.get("/planner/waves/new")
    assert page.status_code == 200
    assert "mini.yaml" in page.text and 'value="file:mini.yaml"' in page.text
    assert (
        "<legend>Anonymity</legend>" in page.text
        and '<input checked id="anonymity-0" name="anonymity" type="radio" value="anonymous">' in page.text
    )

    created = planner.post("/planner/waves/new", data=wave_form())
    assert created.status_code == 302, field_error(created.text, "questionnaire")
    assert created.headers["Location"].endswith("/planner/waves/gerechtigden-2026")
    wave = get_wave(app, "gerechtigden-2026")
    assert (wave.state, wave.audience, wave.anonymous, wave.languages) == (
        "draft",
        "gerechtigden",
        True,
        ["nl", "en"],
    )
    assert (str(wave.opens_on), str(wave.closes_on), wave.suppression_threshold) == (
        "2026-03-01",
        "2026-03-31",
        10,
    )
    assert wave.questionnaire_version.questionnaire_key == "mini"

    shown = planner.get("/planner/waves/gerechtigden-2026").text
    assert "Open the wave" in shown and "Close the wave" not in shown and "Archive the wave" not in shown
    assert "Repeat this wave" in shown
    assert "/planner/waves/gerechtigden-2026" in planner.get("/planner/waves/").text

    edited = planner.post(
        "/planner/waves/gerechtigden-2026/edit",
        data=wave_form(
            slug=None, title="Gerechtigden voorjaar 2026", suppression_threshold="15", languages=["nl"]
        ),
    )
    assert edited.status_code == 302
    wave = get_wave(app, "gerechtigden-2026")
    assert (wave.title, wave.suppression_threshold, wave.languages) == (
        "Gerechtigden voorjaar 2026",
        15,
        ["nl"],
    )

    refused = post_state(planner, "gerechtigden-2026", "closed")  # a draft cannot close
    assert refused.status_code == 409 and "A draft wave cannot become closed" in refused.text
    assert post_state(planner, "gerechtigden-2026", "vanished").status_code == 400

    add_people(app, "gerechtigden-2026")
    assert post_state(planner, "gerechtigden-2026", "open").status_code == 302
    wave = get_wave(app, "gerechtigden-2026")
    assert wave.state == "open" and wave.questionnaire_version.frozen_at is not None
    shown = planner.get("/planner/waves/gerechtigden-2026").text
    assert "Close the wave" in shown and "Open the wave" not in shown

    # Once open only title, period and retention change; the questionnaire is not even offered.
    edit_page = planner.get("/planner/waves/gerechtigden-2026/edit").text
    assert 'name="questionnaire"' not in edit_page and 'name="suppression_threshold"' not in edit_page
    later = planner.post(
        "/planner/waves/gerechtigden-2026/edit",
        data={
            "title": "Gerechtigden 2026",
            "closes_on": "2026-04-15",
            "opens_on": "2026-03-01",
            "retention_days": "200",
        },
    )
    assert later.status_code == 302
    wave = get_wave(app, "gerechtigden-2026")
    assert (str(wave.closes_on), wave.retention_days, wave.suppression_threshold) == ("2026-04-15", 200, 15)

    assert post_state(planner, "gerechtigden-2026", "archived").status_code == 409  # open → archived: no
    assert post_state(planner, "gerechtigden-2026", "closed").status_code == 302
    assert post_state(planner, "gerechtigden-2026", "archived").status_code == 302
    assert post_state(planner, "gerechtigden-2026", "open").status_code == 409
    assert planner.get("/planner/waves/gerechtigden-2026/edit").status_code == 409
    assert "Edit the settings" not in planner.get("/planner/waves/gerechtigden-2026").text
    assert audit_of(app, "gerechtigden-2026") == [
        "wave_created",
        "wave_updated",
        "wave_opened",
        "wave_updated",
        "wave_closed",
        "wave_archived",
    ]


def test_draft_may_change_questionnaire_open_wave_may_not(
    app: Flask, planner: FlaskClient, qdir: Path
) -> None:
    assert planner.post("/planner/waves/new", data=wave_form()).status_code == 302
    other = planner.post(
        "/planner/waves/gerechtigden-2026/edit",
        data=wave_form(
            slug=None,
            questionnaire="file:contactpersonen-welzijn.yaml",
            audience="contactpersonen",
            languages=["nl"],
        ),
    )
    assert other.status_code == 302
    assert (
        get_wave(app, "gerechtigden-2026").questionnaire_version.questionnaire_key
        == "contactpersonen_welzijn"
    )
    with app.app_context():
        wave = wave_by_slug("gerechtigden-2026")
        assert wave is not None
        set_state(wave, "open")
        db.session.commit()
    # Sending a questionnaire anyway (an old form) changes nothing.
    stale = planner.post(
        "/planner/waves/gerechtigden-2026/edit",
        data=wave_form(slug=None, questionnaire="file:mini.yaml", audience="gerechtigden", languages=["nl"]),
    )
    assert stale.status_code == 302
    assert (
        get_wave(app, "gerechtigden-2026").questionnaire_version.questionnaire_key
        == "contactpersonen_welzijn"
    )


def test_viewer_can_view_but_not_change(app: Flask, planner: FlaskClient) -> None:
    assert planner.post("/planner/waves/new", data=wave_form()).status_code == 302
    viewer = app.test_client()
    login(viewer, "viewer")
    viewer.get("/planner/?lang=en")
    page = viewer.get("/planner/waves/gerechtigden-2026")
    assert page.status_code == 200 and "Gerechtigden 2026" in page.text
    assert (
        "Open the wave" not in page.text
        and "Repeat this wave" not in page.text
        and "Edit the settings" not in page.text
    )
    assert viewer.get("/planner/waves/gerechtigden-2026/monitor").status_code == 200
    assert (
        viewer.get("/planner/waves/").status_code == 200
        and "New wave" not in viewer.get("/planner/waves/").text
    )
    assert viewer.get("/planner/waves/new").status_code == 403
    assert viewer.post("/planner/waves/new", data=wave_form(slug="other-2026")).status_code == 403
    assert viewer.post("/planner/waves/gerechtigden-2026/edit", data=wave_form(title="X")).status_code == 403
    assert post_state(viewer, "gerechtigden-2026", "open").status_code == 403
    assert (
        viewer.post(
            "/planner/waves/gerechtigden-2026/repeat", data={"slug": "r-2027", "title": "R"}
        ).status_code
        == 403
    )
    wave = get_wave(app, "gerechtigden-2026")
    assert (wave.state, wave.title) == ("draft", "Gerechtigden 2026")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Wave)).scalar_one() == 1


def test_unknown_wave_is_404(planner: FlaskClient) -> None:
    assert planner.get("/planner/waves/nope-2026").status_code == 404
    assert post_state(planner, "nope-2026", "open").status_code == 404
    assert planner.get("/planner/waves/nope-2026/monitor/daily.png").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"slug": "Bad Slug!"}, "slug", "lower-case letters, digits and single hyphens"),
        ({"slug": "x"}, "slug", "Use 3 to 64"),
        ({"slug": "gerechtigden-2025"}, "slug", "Another wave already uses gerechtigden-2025"),
        (
            {"opens_on": "2026-04-01", "closes_on": "2026-03-01"},
            "closes_on",
            "cannot be before the opening date",
        ),
        ({"closes_on": "31/03/2026"}, "closes_on", "Not a valid date"),
        ({"suppression_threshold": "3"}, "suppression_threshold", "at least 5"),
        ({"suppression_threshold": "ten"}, "suppression_threshold", "Not a valid integer"),
        ({"retention_days": "0"}, "retention_days", "between 1 and 3650 days"),
        ({"questionnaire": "file:nope.yaml"}, "questionnaire", "There is no questionnaire nope.yaml"),
        ({"questionnaire": "file:../mini.yaml"}, "questionnaire", "There is no questionnaire ../mini.yaml"),
        ({"questionnaire": "file:broken.yaml"}, "questionnaire", "broken.yaml has problems"),
        ({"questionnaire": "version:999"}, "questionnaire", "There is no questionnaire"),
        ({"questionnaire": ""}, "questionnaire", "Choose a questionnaire."),
        ({"languages": ["en"]}, "languages", "Dutch (nl) is required"),
        ({"audience": "contactpersonen"}, "audience", "written for Entitled staff"),
        ({"title": " "}, "title", "Give the wave a title"),
    ],
)
def test_bad_input_is_422_with_the_message_next_to_the_field(
    app: Flask, planner: FlaskClient, overrides: dict[str, object], field: str, message: str
) -> None:
    with app.app_context():
        version, _ = store_file(MINI)
        create_wave(version, slug="gerechtigden-2025", title="Earlier")
        db.session.commit()
    response = planner.post("/planner/waves/new", data=wave_form(**overrides))
    assert response.status_code == 422
    assert message in field_error(response.text, field), response.text
    assert f'href="#{field}"' in response.text  # the error summary links to the field
    assert 'aria-invalid="true"' in response.text
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Wave)).scalar_one() == 1


def test_edit_errors_are_422(app: Flask, planner: FlaskClient) -> None:
    assert planner.post("/planner/waves/new", data=wave_form()).status_code == 302
    bad = planner.post(
        "/planner/waves/gerechtigden-2026/edit",
        data=wave_form(slug=None, opens_on="2026-05-01", closes_on="2026-04-01", suppression_threshold="4"),
    )
    assert bad.status_code == 422
    assert "cannot be before" in field_error(bad.text, "closes_on")
    assert "at least 5" in field_error(bad.text, "suppression_threshold")
    assert get_wave(app, "gerechtigden-2026").suppression_threshold == 10


def test_repeat_wave_copies_settings_but_not_the_register(
    app: Flask, planner: FlaskClient, qdir: Path
) -> None:
    assert (
        planner.post(
            "/planner/waves/new", data=wave_form(anonymity="identified", suppression_threshold="12")
        ).status_code
        == 302
    )
    with app.app_context():
        wave = wave_by_slug("gerechtigden-2026")
        assert wave is not None
        wave.register_mapping = {
            "id_column": "id",
            "groups": [{"column": "Status", "key": "status"}],
            "file": {"name": "register.csv"},
            "imported_at": "2026-02-20T10:00:00+00:00",
        }
        add_register(
            wave, [RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {"status": "actief"}) for i in range(12)]
        )
        set_state(wave, "open")
        set_state(wave, "closed")
        db.session.commit()
        old_hash = wave.questionnaire_version.content_hash
    page = planner.get("/planner/waves/gerechtigden-2026/repeat")
    assert page.status_code == 200 and 'value="gerechtigden-2027"' in page.text  # a suggested slug

    repeated = planner.post(
        "/planner/waves/gerechtigden-2026/repeat",
        data={
            "slug": "gerechtigden-2027",
            "title": "Gerechtigden 2027",
            "opens_on": "2027-03-01",
            "closes_on": "2027-03-31",
            "questionnaire": "same",
        },
    )
    assert repeated.status_code == 302 and repeated.headers["Location"].endswith(
        "/planner/waves/gerechtigden-2027"
    )
    with app.app_context():
        source = wave_by_slug("gerechtigden-2026")
        new = wave_by_slug("gerechtigden-2027")
        assert source is not None and new is not None
        assert new.state == "draft" and new.repeated_from_id == source.id
        assert new.questionnaire_version.content_hash == old_hash
        assert (
            new.audience,
            new.languages,
            new.anonymous,
            new.retention_days,
            new.suppression_threshold,
        ) == (
            source.audience,
            source.languages,
            False,
            source.retention_days,
            12,
        )
        assert new.register_mapping == {"id_column": "id", "groups": [{"column": "Status", "key": "status"}]}
        assert str(new.opens_on) == "2027-03-01"
        people = db.session.execute(
            select(func.count()).select_from(RegisterPerson).where(RegisterPerson.wave_id == new.id)
        ).scalar_one()
        assert people == 0  # the register is imported fresh
    assert "wave_repeated" in audit_of(app, "gerechtigden-2027")
    assert "Gerechtigden 2026" in planner.get("/planner/waves/gerechtigden-2027").text  # "repeat of" link

    # A newer version of the same questionnaire file.
    text = (qdir / "mini.yaml").read_text(encoding="utf-8").replace('version: "test-1"', 'version: "test-2"')
    (qdir / "mini.yaml").write_text(text, encoding="utf-8")
    newer = planner.post(
        "/planner/waves/gerechtigden-2026/repeat",
        data={"slug": "gerechtigden-2028", "title": "Gerechtigden 2028", "questionnaire": "file:mini.yaml"},
    )
    assert newer.status_code == 302
    repeat_2028 = get_wave(app, "gerechtigden-2028")
    assert repeat_2028.questionnaire_version.version_label == "test-2"
    assert repeat_2028.questionnaire_version.content_hash != old_hash

    # Another questionnaire, or a slug in use: 422 next to the field.
    other = planner.post(
        "/planner/waves/gerechtigden-2026/repeat",
        data={"slug": "other-2029", "title": "Other", "questionnaire": "file:contactpersonen-welzijn.yaml"},
    )
    assert other.status_code == 422 and "same questionnaire (mini)" in field_error(
        other.text, "questionnaire"
    )
    taken = planner.post(
        "/planner/waves/gerechtigden-2026/repeat", data={"slug": "gerechtigden-2027", "title": "Again"}
    )
    assert taken.status_code == 422 and "already uses" in field_error(taken.text, "slug")


def test_questionnaire_version_is_frozen_when_the_wave_opens(
    app: Flask, planner: FlaskClient, qdir: Path
) -> None:
    assert planner.post("/planner/waves/new", data=wave_form()).status_code == 302
    add_people(app, "gerechtigden-2026")
    assert post_state(planner, "gerechtigden-2026", "open").status_code == 302
    opened = get_wave(app, "gerechtigden-2026")
    frozen_hash = opened.questionnaire_version.content_hash
    assert opened.questionnaire_version.frozen_at is not None
    assert "wave_opened" in audit_of(app, "gerechtigden-2026")

    text = (qdir / "mini.yaml").read_text(encoding="utf-8")
    (qdir / "mini.yaml").write_text(
        text.replace("Korte bevraging", "Korte bevraging (herzien)"), encoding="utf-8"
    )
    assert planner.post("/planner/waves/new", data=wave_form(slug="gerechtigden-2026-b")).status_code == 302
    assert planner.post("/planner/waves/new", data=wave_form(slug="gerechtigden-2026-c")).status_code == 302

    second = get_wave(app, "gerechtigden-2026-b")
    third = get_wave(app, "gerechtigden-2026-c")
    assert second.questionnaire_version.content_hash != frozen_hash
    assert second.questionnaire_version_id == third.questionnaire_version_id  # stored once per content
    assert second.questionnaire_version.frozen_at is None
    again = get_wave(app, "gerechtigden-2026")
    assert again.questionnaire_version.content_hash == frozen_hash
    with app.app_context():
        content = db.session.execute(
            select(QuestionnaireVersion.content).where(
                QuestionnaireVersion.id == again.questionnaire_version_id
            )
        ).scalar_one()  # deferred column: read it in a session
        assert content["title"]["nl"] == "Korte bevraging"
        assert db.session.execute(select(func.count()).select_from(QuestionnaireVersion)).scalar_one() == 2


def test_cli_creates_opens_repeats_lists_and_archives(app: Flask, qdir: Path) -> None:
    from surveyapp.commands.wave import command

    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        with app.app_context():
            return runner.invoke(command, list(args))

    created = run(
        "create",
        "--questionnaire",
        str(MINI),
        "--slug",
        "cli-2026",
        "--title",
        "CLI wave",
        "--opens",
        "2026-03-01",
        "--closes",
        "2026-03-31",
        "--threshold",
        "12",
    )
    assert created.exit_code == 0, created.output
    assert "created draft wave cli-2026" in created.output
    by_name = run(
        "create",
        "--questionnaire",
        "contactpersonen-welzijn.yaml",
        "--slug",
        "contact-2026",
        "--title",
        "Contact",
        "--language",
        "nl",
    )
    assert by_name.exit_code == 0, by_name.output
    assert "contactpersonen, identified" in by_name.output  # contact persons: not anonymous by default

    bad = run(
        "create",
        "--questionnaire",
        str(MINI),
        "--slug",
        "Bad Slug",
        "--title",
        "X",
        "--threshold",
        "3",
        "--opens",
        "2026-04-01",
        "--closes",
        "2026-03-01",
    )
    assert bad.exit_code != 0
    assert (
        "slug: use 3 to 64" in bad.output
        and "suppression_threshold: the threshold must be at least 5" in bad.output
    )
    assert "closes_on: the closing date cannot be before the opening date" in bad.output
    assert run("create", "--questionnaire", "nope.yaml", "--slug", "n-2026", "--title", "N").exit_code != 0

    assert run("close", "cli-2026").exit_code != 0  # a draft cannot close
    add_people(app, "cli-2026")
    opened = run("open", "cli-2026")
    assert opened.exit_code == 0 and "draft -> open" in opened.output
    assert "3 invitation(s) created" in opened.output
    assert run("close", "cli-2026").exit_code == 0
    repeated = run("repeat", "cli-2026", "--slug", "cli-2027", "--title", "CLI wave 2027")
    assert repeated.exit_code == 0, repeated.output
    assert run("archive", "cli-2026").exit_code == 0
    assert run("open", "nope").exit_code != 0

    listing = run("list")
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split()[:3] == ["slug", "state", "audience"]
    assert any(line.startswith("cli-2026") and " archived " in line for line in lines)
    assert any(line.startswith("cli-2027") and " draft " in line for line in lines)
    with app.app_context():
        new = wave_by_slug("cli-2027")
        assert new is not None and new.suppression_threshold == 12 and new.repeated_from_id is not None
    assert audit_of(app, "cli-2026") == ["wave_created", "wave_opened", "wave_closed", "wave_archived"]


def test_slug_taken_at_the_last_moment_is_422(
    app: Flask, planner: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two planners choosing one slug at once: the database's unique key decides, politely."""
    assert planner.post("/planner/waves/new", data=wave_form()).status_code == 302
    import surveyapp.planner.waves as views
    import surveyapp.services.waves as services

    monkeypatch.setattr(views, "check_settings", lambda **_: [])
    monkeypatch.setattr(services, "check_settings", lambda **_: [])
    again = planner.post("/planner/waves/new", data=wave_form(title="Second"))
    assert again.status_code == 422 and "already uses" in field_error(again.text, "slug")
    repeat = planner.post(
        "/planner/waves/gerechtigden-2026/repeat", data={"slug": "gerechtigden-2026", "title": "Again"}
    )
    assert repeat.status_code == 422 and "already uses" in field_error(repeat.text, "slug")
