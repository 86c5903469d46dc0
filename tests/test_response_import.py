"""Importing an earlier wave's responses: KoboToolbox/ODK-style columns, validation against the
questionnaire version, values stored exactly as the web form stores them, all-or-nothing."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, Response, Wave
from surveyapp.questionnaire import load_questionnaire
from surveyapp.services import response_import
from surveyapp.services.questionnaires import store_file
from surveyapp.services.register import Problem, read_table
from surveyapp.services.waves import create_wave, set_state
from tests.conftest import DATA
from tests.test_auth import login, make_users


def in_english(client) -> None:  # type: ignore[no-untyped-def]
    """The pages' texts are asserted in English; the default language is Dutch."""
    with client.session_transaction() as session:
        session["lang"] = "en"


FILES = DATA / "register"
QUESTIONNAIRE = FILES / "responses.yaml"
HEADER = "status;kinderen;ken_dienst;ken_aanbod/pluspas;ken_aanbod/sintgeschenk"

EXPECTED = [
    (
        date(2021, 3, 1),
        "nl",
        {
            "status": "actief",
            "kinderen": 2,
            "contract": "statutair",
            "uren": 36.5,
            "ken_dienst": "yes",
            "ken_aanbod/pluspas": "ja",
            "ken_aanbod/sintgeschenk": "nee",
            "gebruik_aanbod/pluspas": "ja",
            "hulp": ["financieel", "psychosociaal"],
            "tevreden_pluspas": "4",
            "financieel_detail": "Een lening voor de verwarming",
            "suggestie": "Meer info over de PlusPas graag.",
        },
    ),
    (
        date(2021, 3, 2),
        "en",
        {
            "status": "gepensioneerd",
            "kinderen": 0,
            "ken_dienst": "no",
            "ken_aanbod/pluspas": "nee",
            "ken_aanbod/sintgeschenk": "nee",
        },
    ),
    (
        date(2021, 3, 2),
        "nl",
        {
            "status": "gepensioneerd",
            "kinderen": 1,
            "ken_dienst": "yes",
            "ken_aanbod/pluspas": "ja",
            "ken_aanbod/sintgeschenk": "ja",
            "gebruik_aanbod/pluspas": "nee",
            "gebruik_aanbod/sintgeschenk": "ja",
            "hulp": ["administratief"],
            "suggestie": "Dank u!",
        },
    ),
]


@pytest.fixture(scope="module")
def questionnaire():  # type: ignore[no-untyped-def]
    return load_questionnaire(QUESTIONNAIRE)


def parse(text: str, questionnaire):  # type: ignore[no-untyped-def]
    table = read_table(text.encode("utf-8"), "responses.csv")
    return response_import.parse_responses(table, questionnaire, default_date=date(2021, 6, 30))


def where(problems) -> list[tuple[int | None, str | None, str]]:  # type: ignore[no-untyped-def]
    return [(p.line, p.column, p.message) for p in problems.sorted()]


# --- parsing (no database) ------------------------------------------------------------------------


def test_kobo_export_becomes_answers_as_the_web_form_stores_them(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = read_table((FILES / "responses_good.csv").read_bytes(), "responses_good.csv")
    parsed, problems, warnings, ignored = response_import.parse_responses(
        table, questionnaire, default_date=date(2021, 6, 30)
    )
    assert not problems
    assert [(r.submitted_on, r.language, r.answers) for r in parsed] == EXPECTED
    assert isinstance(parsed[0].answers["kinderen"], int) and isinstance(parsed[0].answers["uren"], float)
    assert ignored == ["_id", "_uuid"]
    # The retired respondent answered the contract question, which is hidden for retirees.
    assert where(warnings) == [
        (
            4,
            "werk/contract",
            "an answer to a question this respondent should not have seen (hidden by a condition): dropped",
        )
    ]


def test_multiple_choice_as_a_list_of_codes_and_defaults(questionnaire) -> None:  # type: ignore[no-untyped-def]
    parsed, problems, _, _ = parse(
        f"{HEADER};hulp\nGepensioneerd;;Ja;Nee;nee;psychosociaal  financieel\nactief;3;no;nee;nee;\n",
        questionnaire,
    )
    assert where(problems) == [(3, "contract", "the required question contract has no answer")]
    assert parsed[0].answers == {
        "status": "gepensioneerd",
        "ken_dienst": "yes",
        "ken_aanbod/pluspas": "nee",
        "ken_aanbod/sintgeschenk": "nee",
        "hulp": ["financieel", "psychosociaal"],  # in the questionnaire's order
    }
    assert (parsed[0].submitted_on, parsed[0].language) == (date(2021, 6, 30), "nl")


def test_unknown_columns_are_reported_on_the_header_line(questionnaire) -> None:  # type: ignore[no-untyped-def]
    parsed, problems, _, _ = parse(
        f"{HEADER};leeftijd;hulp/juridisch;ken_aanbod/events;intro_info;status/x;ken_aanbod;meta/instanceID\n"
        "actief;1;yes;ja;ja;30;1;ja;x;y;ja;uuid:1\n",
        questionnaire,
    )
    assert parsed == []
    assert where(problems) == [
        (1, "hulp/juridisch", "unknown column: 'juridisch' is not a code of multiple-choice question hulp "
         "(codes: financieel, administratief, psychosociaal)"),
        (1, "intro_info", "unknown column: 'intro_info' is an information text, not a question"),
        (1, "ken_aanbod", "matrix question ken_aanbod needs one column per row (ken_aanbod/ROW), "
         "not one column"),
        (1, "ken_aanbod/events", "unknown column: 'events' is not a row of matrix question ken_aanbod "
         "(rows: pluspas, sintgeschenk)"),
        (1, "leeftijd", "unknown column: the questionnaire has no question 'leeftijd'"),
        (1, "status/x", "unknown column: question status (single_choice) has no sub-columns"),
    ]  # fmt: skip


def test_every_value_problem_has_line_column_and_message(questionnaire) -> None:  # type: ignore[no-untyped-def]
    text = (
        f"submitted_on;language;{HEADER};uren;contract;hulp/financieel;financieel_detail\n"
        "2021-03-01;nl;actief;2;yes;ja;nee;40;statutair;0;\n"  # fine
        "2021-03-01;nl;werkloos;2;yes;ja;nee;;;0;\n"  # unknown code
        "2021-03-01;nl;actief;twee;yes;ja;nee;;statutair;0;\n"  # not a number
        "2021-03-01;nl;actief;16;yes;ja;nee;;statutair;0;\n"  # out of range
        "2021-03-01;nl;actief;2.5;yes;ja;nee;;statutair;0;\n"  # not a whole number
        "2021-03-01;nl;actief;2;yes;ja;nee;40,5;statutair;0;\n"  # out of range (decimal comma)
        "2021-03-01;nl;actief;2;yes;ja;nee;;statutair;2;\n"  # a 0/1 column with 2
        "31/02/2021;fr;actief;2;yes;ja;nee;;statutair;0;\n"  # not a date, unknown language
        "2021-03-01;nl;actief;2;;ja;nee;;statutair;0;\n"  # required answer missing
        f"2021-03-01;nl;actief;2;yes;ja;nee;;statutair;1;{'x' * 101}\n"  # text too long
    )
    parsed, problems, _, _ = parse(text, questionnaire)
    assert len(parsed) == 1
    assert where(problems) == [
        (3, "status", "unknown code 'werkloos' for status (allowed: actief, gepensioneerd)"),
        (4, "kinderen", "'twee' is not a number"),
        (5, "kinderen", "16 is out of range: the answer must be from 0 to 15"),
        (6, "kinderen", "'2.5' is not a whole number"),
        (7, "uren", "40,5 is out of range: the answer must be from 0 to 40"),
        (8, "hulp/financieel", "'2' is not 0 or 1 (chosen or not chosen)"),
        (9, "language", "unknown language 'fr' (allowed: nl, en)"),
        (9, "submitted_on", "'31/02/2021' is not a date (use YYYY-MM-DD)"),
        (10, "ken_dienst", "the required question ken_dienst has no answer"),
        (11, "financieel_detail", "the answer has 101 characters; at most 100 are allowed"),
    ]


def test_list_and_flag_columns_must_agree(questionnaire) -> None:  # type: ignore[no-untyped-def]
    _, problems, _, _ = parse(
        f"{HEADER};hulp;hulp/financieel;hulp/administratief\n"
        "gepensioneerd;;yes;nee;nee;financieel;1;0\n"
        "gepensioneerd;;yes;nee;nee;financieel;0;1\n"
        "gepensioneerd;;yes;nee;nee;geld;0;0\n",
        questionnaire,
    )
    assert where(problems) == [
        (3, "hulp", "the column hulp and the hulp/CODE columns disagree about which options were chosen"),
        (4, "hulp", "unknown code 'geld' for hulp (allowed: financieel, administratief, psychosociaal)"),
    ]


def test_a_matrix_row_hidden_by_an_earlier_answer_is_dropped(questionnaire) -> None:  # type: ignore[no-untyped-def]
    parsed, problems, warnings, _ = parse(
        f"{HEADER};gebruik_aanbod/sintgeschenk\ngepensioneerd;;yes;ja;nee;ja\n", questionnaire
    )
    assert not problems
    assert "gebruik_aanbod/sintgeschenk" not in parsed[0].answers
    assert [(p.line, p.column) for p in warnings.items] == [(2, "gebruik_aanbod/sintgeschenk")]


def test_answer_columns_for_a_template(questionnaire) -> None:  # type: ignore[no-untyped-def]
    columns = response_import.answer_columns(questionnaire)
    assert columns[:4] == ["submitted_on", "language", "status", "kinderen"]
    assert "hulp/psychosociaal" in columns and "ken_aanbod/pluspas" in columns and "intro_info" not in columns
    table = read_table((";".join(columns) + "\n" + ";" * (len(columns) - 1) + "x\n").encode(), "t.csv")
    _, problems, _, _ = response_import.parse_responses(table, questionnaire, default_date=date(2021, 1, 1))
    assert all(p.line != 1 for p in problems.items)  # every column of the template is known


# --- importing (both databases) -------------------------------------------------------------------


def make_wave(slug: str = "earlier-2021") -> Wave:
    version, _ = store_file(QUESTIONNAIRE)
    wave = create_wave(version, slug=slug, title="Survey 2020-21", closes_on=date(2021, 3, 31))
    set_state(wave, "open")
    set_state(wave, "closed")
    return wave


def import_file(wave: Wave, name: str, data: bytes | None = None, **options: object):  # type: ignore[no-untyped-def]
    content = data if data is not None else (FILES / name).read_bytes()
    return response_import.import_responses(
        wave,
        read_table(content, name),
        actor="planner@example.org",
        **options,  # type: ignore[arg-type]
    )


def stored(app: Flask) -> list[tuple[date, str, str, dict[str, object]]]:
    with app.app_context():
        rows = db.session.execute(
            select(Response).order_by(Response.submitted_on, Response.language)
        ).scalars()
        return [(r.submitted_on, r.language, r.source, r.answers) for r in rows]


def test_good_file_is_imported_exactly(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        calls: list[int] = []
        result = import_file(wave, "responses_good.csv", progress=calls.append)
        assert result.ok and (result.imported, result.warning_count) == (3, 1) and sum(calls) == 3
        db.session.commit()
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "responses_imported")
        ).scalar_one()
        assert event.details["imported"] == 3 and event.user_email == "planner@example.org"
    rows = stored(app)
    assert all(source == "import" for _, _, source, _ in rows)
    # Stored JSON comes back with the same types: codes as strings, numbers as int and float.
    assert sorted((d, lang, answers) for d, lang, _, answers in rows) == sorted(
        EXPECTED, key=lambda e: (e[0], e[1])
    )
    assert rows[0][3]["uren"] == 36.5 and rows[0][3]["kinderen"] == 2


def test_bad_row_imports_nothing_and_a_second_import_needs_replace(app: Flask) -> None:
    good = (FILES / "responses_good.csv").read_bytes()
    bad = good + b"4;a4;2021-03-03;nl;actief;1;contractueel;;yes;ja;nee;ja;;1;0;0;7;;\n"
    with app.app_context():
        wave = make_wave()
        result = import_file(wave, "bad.csv", bad)
        assert not result.ok
        assert [(p.line, p.column, p.message) for p in result.problems] == [
            (5, "tevreden_pluspas", "unknown code '7' for tevreden_pluspas (allowed: 1, 2, 3, 4, 5, na)")
        ]
        db.session.commit()
    assert stored(app) == []
    with app.app_context():
        wave = db.session.execute(select(Wave)).scalar_one()
        assert import_file(wave, "responses_good.csv").ok
        db.session.commit()
        twice = import_file(wave, "responses_good.csv")
        assert not twice.ok and twice.problems == [
            Problem(
                None,
                None,
                "wave earlier-2021 already has 3 imported responses: choose 'replace' to replace them with "
                "this file",
            )
        ]
        replaced = import_file(wave, "responses_good.csv", replace=True)
        assert replaced.ok and (replaced.imported, replaced.replaced) == (3, 3)
        db.session.commit()
    assert len(stored(app)) == 3


def test_cli_import(app: Flask) -> None:
    with app.app_context():
        make_wave()
        db.session.commit()
    runner = app.test_cli_runner()
    path = FILES / "responses_good.csv"
    dry = runner.invoke(args=["responses", "import", "earlier-2021", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 responses would be imported" in dry.output and stored(app) == []
    done = runner.invoke(args=["responses", "import", "earlier-2021", str(path)])
    assert done.exit_code == 0, done.output
    assert "3 responses imported into earlier-2021." in done.output
    assert "line 4, column 'werk/contract': an answer to a question" in done.output
    again = runner.invoke(args=["responses", "import", "earlier-2021", str(path)])
    assert again.exit_code == 1 and "choose 'replace'" in again.output
    bad = runner.invoke(
        args=["responses", "import", "earlier-2021", str(FILES / "staff_bad.csv"), "--replace"]
    )
    assert bad.exit_code == 1
    assert "line 1, column 'Personeelsnummer': unknown column" in bad.output
    assert len(stored(app)) == 3
    columns = runner.invoke(args=["responses", "columns", "earlier-2021"])
    assert columns.output.startswith("submitted_on;language;status;kinderen;contract;uren;ken_dienst")


def test_planner_page(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        make_wave()
        db.session.commit()
    url = "/planner/waves/earlier-2021/responses/import"
    viewer = app.test_client()
    login(viewer, "viewer")
    assert viewer.get(url).status_code == 403
    client = app.test_client()
    login(client, "planner")
    in_english(client)
    assert client.get(url).status_code == 200
    assert client.get("/planner/waves/nope/responses/import").status_code == 404
    assert client.post(url, data={}).status_code == 400

    def post(content: bytes, **fields: str):  # type: ignore[no-untyped-def]
        return client.post(
            url,
            data={**fields, "file": (io.BytesIO(content), "export.csv")},
            content_type="multipart/form-data",
        )

    good = (FILES / "responses_good.csv").read_bytes()
    bad_date = post(good, action="import", default_date="30-06-2021")
    assert bad_date.status_code == 422 and 'id="default_date-error"' in bad_date.get_data(as_text=True)
    checked = post(good, action="check")
    assert checked.status_code == 200 and "importing it stores 3 responses" in checked.get_data(as_text=True)
    assert stored(app) == []
    bad = post(good.replace(b";4;Een lening", b";9;Een lening"), action="import")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert re.search(
        r'<td class="num">2</td>\s*<td>tevreden_pluspas</td>\s*<td>unknown code &#39;9&#39;', html
    )
    assert stored(app) == []
    done = post(good, action="import")
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "3 responses were imported from export.csv." in html
    assert "Imported responses: 3" in html
    assert len(stored(app)) == 3


# --- a wave with web responses: admins only ---------------------------------------------------------


# Two earlier answers to the mini questionnaire, as a KoboToolbox export.
MINI_EXPORT = (
    b"_id;submitted_on;language;status;kinderen;contract;ken_dienst;ken_aanbod/pluspas;"
    b"ken_aanbod/sintgeschenk\n"
    b"1;2025-03-01;nl;actief;2;statutair;yes;ja;nee\n"
    b"2;2025-03-02;en;gepensioneerd;0;;no;nee;nee\n"
)


def _wave_with_a_web_response(app: Flask) -> None:
    """The mini wave, open, answered on the web by one respondent through the survey pages."""
    from tests.test_survey_flow import answer_everything, make_wave

    tokens = make_wave(app)
    respondent = app.test_client()
    answer_everything(respondent, tokens["p0"])
    assert respondent.post("/survey/submit").status_code == 302
    with app.app_context():
        assert db.session.execute(select(Response.source)).scalars().all() == ["web"]


def test_cli_refuses_a_wave_with_web_responses_unless_told_by_an_admin(app: Flask, tmp_path: Path) -> None:
    _wave_with_a_web_response(app)
    runner = app.test_cli_runner()
    path = tmp_path / "export.csv"
    path.write_bytes(MINI_EXPORT)
    refused = runner.invoke(args=["responses", "import", "test-2026", str(path)])
    assert refused.exit_code == 1
    assert "already has 1 responses from the web: only an admin may import" in refused.output
    assert "--allow-web-responses" in refused.output
    with app.app_context():
        assert db.session.execute(select(Response.source)).scalars().all() == ["web"]
    allowed = runner.invoke(args=["responses", "import", "test-2026", str(path), "--allow-web-responses"])
    assert "only an admin may import" not in allowed.output
    assert allowed.exit_code == 0, allowed.output
    with app.app_context():
        sources = db.session.execute(select(Response.source)).scalars().all()
        assert sorted(sources) == ["import"] * 2 + ["web"]
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "responses_imported")
        ).scalar_one()
        assert event.details["web_responses"] == 1 and event.details["via"] == "cli"


def test_planner_page_refuses_a_wave_with_web_responses_the_admin_may(app: Flask) -> None:
    _wave_with_a_web_response(app)
    make_users(app)
    url = "/planner/waves/test-2026/responses/import"
    good = MINI_EXPORT

    def post(client, action: str):  # type: ignore[no-untyped-def]
        return client.post(
            url,
            data={"action": action, "file": (io.BytesIO(good), "export.csv")},
            content_type="multipart/form-data",
        )

    planner = app.test_client()
    login(planner, "planner")
    in_english(planner)
    page = planner.get(url)
    assert page.status_code == 200 and "only an admin may import responses into it" in page.text
    assert 'type="file"' not in page.text
    refused = post(planner, "import")
    assert refused.status_code == 403 and "only an admin may import" in refused.text
    with app.app_context():
        assert db.session.execute(select(Response.source)).scalars().all() == ["web"]

    admin = app.test_client()
    login(admin, "admin")
    in_english(admin)
    assert 'type="file"' in admin.get(url).text
    done = post(admin, "import")
    assert done.status_code == 200, done.text
    assert "2 responses were imported from export.csv." in done.text
    with app.app_context():
        assert sorted(db.session.execute(select(Response.source)).scalars()) == ["import"] * 2 + ["web"]
