"""The staff register import: reading files, mapping columns, validation, idempotent import,
the planner pages, the CLI and the purge of personal data after the retention period."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, RegisterPerson, Wave
from surveyapp.questionnaire import load_questionnaire
from surveyapp.services import register as reg
from surveyapp.services.questionnaires import store_file
from surveyapp.services.register import (
    BIRTH_YEAR,
    ColumnMapping,
    GroupColumn,
    Problem,
    RegisterFileError,
    RegisterStateError,
    read_table,
)
from surveyapp.services.waves import create_invitations, create_wave, set_state
from tests.conftest import DATA, REPO
from tests.test_auth import login, make_users


def in_english(client) -> None:  # type: ignore[no-untyped-def]
    """The pages' texts are asserted in English; the default language is Dutch."""
    with client.session_transaction() as session:
        session["lang"] = "en"


FILES = DATA / "register"
GERECHTIGDEN = REPO / "questionnaires" / "gerechtigden.yaml"
CONTACTPERSONEN = REPO / "questionnaires" / "contactpersonen-welzijn.yaml"


@pytest.fixture(scope="module")
def questionnaire():  # type: ignore[no-untyped-def]
    return load_questionnaire(GERECHTIGDEN)


def table_of(name: str) -> reg.Table:
    return read_table((FILES / name).read_bytes(), name)


def problems_of(table: reg.Table, questionnaire, mapping: ColumnMapping | None = None) -> list[Problem]:  # type: ignore[no-untyped-def]
    mapping = mapping or reg.default_mapping(table.headers, questionnaire)
    return reg.validate_rows(table, mapping, questionnaire, reference_year=2026).problems.sorted()


# --- reading files (no database) ---------------------------------------------------------------


def test_dutch_excel_csv_in_windows_1252_with_semicolons(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = table_of("staff_cp1252.csv")
    assert (table.kind, table.encoding, table.delimiter) == ("csv", "cp1252", ";")
    assert table.headers[:4] == ["Personeelsnummer", "Naam", "E-mail", "Taal"]
    names = [cells[1] for _, cells in table.rows]
    assert names[:2] == ["Sébastien Dubois", "Françoise Peeters"]
    assert "Peeters; Anaïs" in names and "Ingrid Œuvre" in names and "Zoë Müller" in names
    assert [line for line, _ in table.rows] == [2, 3, 4, 5, 6, 7]
    checked = reg.validate_rows(table, reg.default_mapping(table.headers, questionnaire), questionnaire)
    assert not checked.problems
    first = checked.people[0]
    assert first.person_key == "10001" and first.language == "nl"
    # Codes are matched without regard to case, '-' vs '_' or a label instead of the code.
    assert first.groups == {
        "status": "actief",
        "leeftijd": "30_39",
        "entiteit": "mow",
        "contract": "statutair",
        "niveau": "a",
        "dienstjaren": "5_9",
    }
    retired = checked.people[1]
    assert retired.groups == {"status": "gepensioneerd", "leeftijd": "65plus", "entiteit": "wvg"}
    assert checked.people[2].groups["entiteit"] == "omg"  # the label "Omgeving"
    assert checked.people[2].language == "en"  # "EN"
    assert checked.people[3].language == "nl"  # empty: the default


def test_utf8_with_bom_and_commas(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = table_of("staff_utf8_bom.csv")
    assert (table.encoding, table.delimiter) == ("utf-8-sig", ",")
    assert table.headers[0] == "person_id"  # no BOM left in the first column name
    mapping = reg.default_mapping(table.headers, questionnaire)
    assert mapping.id_column == "person_id" and mapping.email_column == "email"
    assert {(g.column, g.key) for g in mapping.groups} == {
        ("status", "status"),
        ("age", "leeftijd"),
        ("entity", "entiteit"),
    }
    people = reg.validate_rows(table, mapping, questionnaire).people
    assert [p.name for p in people] == ["Ån Ødegaard", "De Smet, Bert", "Chloé Dubois"]
    assert people[1].language == "en"  # "English"
    assert people[2].groups["entiteit"] == "ov"  # the label "Onderwijs en Vorming"


def test_plain_utf8_and_tabs() -> None:
    table = read_table("id\temail\tnaam\n1\tx@voorbeeld.be\tJosé\n".encode(), "export.txt")
    assert (table.encoding, table.delimiter, table.headers) == ("utf-8", "\t", ["id", "email", "naam"])
    assert table.rows == [(2, ["1", "x@voorbeeld.be", "José"])]


def test_xlsx_workbook_with_numbers_and_birth_years(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = table_of("staff.xlsx")
    assert table.kind == "xlsx" and table.encoding is None
    assert table.rows[0] == (
        2,
        ["30001", "jef.peeters@vlaanderen.be", "nl", "Jef Peeters", "actief", "1990", "mow"],
    )
    mapping = reg.default_mapping(table.headers, questionnaire)
    assert GroupColumn("Geboortejaar", "leeftijd", BIRTH_YEAR) in mapping.groups
    people = reg.validate_rows(table, mapping, questionnaire, reference_year=2026).people
    assert [p.groups["leeftijd"] for p in people] == ["30_39", "65plus", "60_64"]
    assert [p.language for p in people] == ["nl", "en", "nl"]


def test_xlsx_with_too_many_columns_is_refused() -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "email"])
    sheet.append([1, "a@b.be"])
    sheet.cell(row=3, column=reg.MAX_COLUMNS + 1, value="x")
    content = io.BytesIO()
    book.save(content)
    with pytest.raises(RegisterFileError) as raised:
        read_table(content.getvalue(), "wide.xlsx")
    assert [(p.line, p.message) for p in raised.value.problems] == [
        (3, f"the worksheet has more than {reg.MAX_COLUMNS} columns")
    ]


def test_trailing_empty_columns_and_blank_lines_are_ignored() -> None:
    table = read_table(b"id;email;;\r\n1;a@b.be;;\r\n;;;\r\n\r\n2;c@d.be;;\r\n", "x.csv")
    assert table.headers == ["id", "email"]
    assert table.rows == [(2, ["1", "a@b.be"]), (5, ["2", "c@d.be"])]
    assert table.problems == []


def test_line_numbers_count_line_breaks_inside_quoted_values() -> None:
    table = read_table(b'id;naam;email\n1;"Jan\nJanssens";a@b.be\n2;Piet\n', "x.csv")
    assert table.rows == [(2, ["1", "Jan\nJanssens", "a@b.be"])]
    assert table.problems == [
        Problem(
            4,
            None,
            "this row has 2 fields but the header has 3 columns "
            "(a missing or extra delimiter, or a line break inside a value?)",
        )
    ]


@pytest.mark.parametrize(
    ("data", "filename", "line", "column", "message"),
    [
        (b"%PDF-1.7 ...", "register.pdf", None, None, "a .pdf file is not a CSV file or an Excel workbook"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 20,
            "register.xls",
            None,
            None,
            "old Excel workbook",
        ),
        (b"PK\x03\x04 not really a zip", "register.xlsx", None, None, "cannot be read as an Excel workbook"),
        (b"id;email\x00\x01", "register.csv", None, None, "not a text file"),
        (b"", "register.csv", None, None, "the file is empty"),
        (b" \r\n\r\n", "register.csv", None, None, "the file is empty"),
        (b"10001;an@vlaanderen.be;nl\r\n", "register.csv", 1, None, "holds data, not column names"),
        (b"id;email\r\n", "register.csv", 1, None, "column names but no rows"),
        (b"id;Email;EMAIL\r\n1;a@b.be;a@b.be\r\n", "r.csv", 1, "EMAIL", "appears twice (columns 2 and 3)"),
        (b"id;;email\r\n1;x;a@b.be\r\n", "register.csv", 1, None, "column 2 has values but no name"),
        (b"id;naam\r\n1;Jan\r\n2;\x81\x8d\r\n", "register.csv", 3, None, "byte 0x81 cannot be read"),
    ],
)
def test_files_that_cannot_be_read(
    data: bytes, filename: str, line: int | None, column: str | None, message: str
) -> None:
    with pytest.raises(RegisterFileError) as raised:
        read_table(data, filename)
    [problem] = raised.value.problems
    assert (problem.line, problem.column) == (line, column)
    assert message in problem.message


def test_size_limit() -> None:
    with pytest.raises(RegisterFileError, match=r"the limit is 0 MB"):
        read_table(b"id;email\r\n" + b"1;a@b.be\r\n" * 100, "big.csv", max_bytes=100)


def test_ragged_rows_are_reported_with_their_lines(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = read_table(
        b"id;email;taal\r\n1;a@b.be;nl\r\n2;c@d.be\r\n3;e@f.be;nl;extra\r\n4;g@h.be;en\r\n", "r.csv"
    )
    assert [line for line, _ in table.rows] == [2, 5]
    assert [(p.line, p.column) for p in table.problems] == [(3, None), (4, None)]
    assert "this row has 2 fields but the header has 3 columns" in table.problems[0].message
    assert "this row has 4 fields" in table.problems[1].message
    # Ragged rows make the file invalid as a whole.
    assert [(p.line, p.column) for p in problems_of(table, questionnaire)] == [(3, None), (4, None)]


# --- validation ---------------------------------------------------------------------------------


def test_every_row_problem_has_line_column_and_message(questionnaire) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(table_of("staff_bad.csv"), questionnaire)
    assert [(p.line, p.column, p.message) for p in problems] == [
        (3, "Personeelsnummer", "missing person id"),
        (4, "Personeelsnummer", "duplicate person id '10001' (also on line 2)"),
        (
            5,
            "E-mail",
            "invalid e-mail address 'dirk@vlaanderen': The part after the @-sign is not valid. "
            "It should have a period.",
        ),
        (6, "Taal", "unknown language 'fr' (allowed: nl, en)"),
        (
            7,
            "Entiteit",
            "unknown code 'xyz' for entiteit (allowed: kb, fb, ov, wvg, mow, omg, wse, cjm, ewi, lv, andere)",
        ),
    ]


def test_birth_years_become_age_bands(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = read_table(
        b"id;email;geboortejaar\r\n1;a@b.be;1997\r\n2;c@d.be;12/05/1963\r\n3;e@f.be;1950-01-31\r\n"
        b"4;g@h.be;vroeger\r\n5;i@j.be;2020\r\n",
        "r.csv",
    )
    mapping = reg.default_mapping(table.headers, questionnaire)
    assert mapping.groups == (GroupColumn("geboortejaar", "leeftijd", BIRTH_YEAR),)
    checked = reg.validate_rows(table, mapping, questionnaire, reference_year=2026)
    assert [p.groups for p in checked.people] == [
        {"leeftijd": "lt30"},
        {"leeftijd": "60_64"},
        {"leeftijd": "65plus"},
    ]
    assert [(p.line, p.column, p.message) for p in checked.problems.sorted()] == [
        (5, "geboortejaar", "'vroeger' is not a birth year"),
        (6, "geboortejaar", "'2020' is not a birth year"),
    ]


def test_yes_no_group_values_and_empty_email_warning(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = read_table(b"id;email;kinderen\r\n1;a@b.be;Ja\r\n2;;nee\r\n3;c@d.be;0\r\n", "r.csv")
    checked = reg.validate_rows(table, reg.default_mapping(table.headers, questionnaire), questionnaire)
    assert not checked.problems
    assert [p.groups for p in checked.people] == [{"kinderen": "yes"}, {"kinderen": "no"}, {"kinderen": "no"}]
    assert checked.people[1].email is None
    assert [(p.line, p.column) for p in checked.warnings.items] == [(3, "email")]


def test_mapping_problems(questionnaire) -> None:  # type: ignore[no-untyped-def]
    table = table_of("staff_cp1252.csv")
    mapping = ColumnMapping(
        email_column=None,
        id_column="Naam",
        name_column="naam",
        groups=(GroupColumn("Afdeling", "afdeling"), GroupColumn("Status", "leeftijd", BIRTH_YEAR)),
    )
    messages = [p.message for p in problems_of(table, questionnaire, mapping)]
    assert "choose the column with the e-mail addresses" in messages
    assert "the column 'naam' is chosen for two things; choose it once" in messages
    assert any(
        m.startswith("there is no column 'Afdeling' in the file (Personeelsnummer, Naam") for m in messages
    )
    assert "birth years can only be converted to age bands, not to leeftijd" not in messages


def test_default_mapping_prefers_the_stored_one(questionnaire) -> None:  # type: ignore[no-untyped-def]
    headers = ["Nr", "Adres", "Domein", "email"]
    stored = ColumnMapping(email_column="ADRES", id_column="nr", groups=(GroupColumn("domein", "entiteit"),))
    mapping = reg.default_mapping(headers, questionnaire, stored)
    assert mapping == ColumnMapping(
        email_column="Adres", id_column="Nr", groups=(GroupColumn("Domein", "entiteit"),)
    )
    # A stored mapping whose columns are gone is not used.
    assert reg.default_mapping(["email"], questionnaire, stored).email_column == "email"
    assert ColumnMapping.from_json(stored.to_json()) == stored
    assert ColumnMapping.from_json(None) is None and ColumnMapping.from_json("junk") is None


# --- importing (both databases) -------------------------------------------------------------------


def make_wave(slug: str = "reg-2026", path: Path = GERECHTIGDEN, **settings: object) -> Wave:
    version, _ = store_file(path)
    return create_wave(version, slug=slug, title=f"Wave {slug}", **settings)  # type: ignore[arg-type]


def import_file(wave: Wave, name: str, **options: object) -> reg.ImportResult:
    from surveyapp.survey.service import questionnaire_of

    questionnaire = questionnaire_of(wave.questionnaire_version)
    table = table_of(name)
    stored = ColumnMapping.from_json(wave.register_mapping)
    mapping = options.pop("mapping", None) or reg.default_mapping(table.headers, questionnaire, stored)
    return reg.import_register(wave, table, mapping, questionnaire, actor="planner@example.org", **options)  # type: ignore[arg-type]


def people_of(wave_id: int) -> dict[str, RegisterPerson]:
    rows = db.session.execute(select(RegisterPerson).where(RegisterPerson.wave_id == wave_id)).scalars()
    return {person.person_key: person for person in rows}


def test_import_is_idempotent_and_updates_by_person_key(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        calls: list[int] = []
        result = import_file(wave, "staff_cp1252.csv", progress=calls.append)
        assert result.ok and (result.added, result.updated, result.unchanged, result.total) == (6, 0, 0, 6)
        assert sum(calls) == 6
        db.session.commit()
        wave_id = wave.id
    with app.app_context():
        people = people_of(wave_id)
        assert len(people) == 6
        assert people["10001"].name == "Sébastien Dubois"
        assert people["10001"].groups["entiteit"] == "mow"
        assert people["10002"].groups == {"status": "gepensioneerd", "leeftijd": "65plus", "entiteit": "wvg"}
        assert people["10003"].language == "en"
        wave = db.session.get(Wave, wave_id)
        assert wave is not None
        again = import_file(wave, "staff_cp1252.csv")
        assert (again.added, again.updated, again.unchanged, again.total) == (0, 0, 6, 6)
        updated = import_file(wave, "staff_cp1252_updated.csv")
        assert (updated.added, updated.updated, updated.unchanged, updated.total) == (1, 2, 4, 7)
        db.session.commit()
    with app.app_context():
        people = people_of(wave_id)
        assert len(people) == 7
        assert people["10001"].groups["entiteit"] == "omg"
        assert people["10002"].email == "f.peeters@telenet.be"
        assert people["10007"].name == "Noël Lambrechts"
        actions = db.session.execute(select(AuditEvent.action, AuditEvent.details)).all()
        imports = [details for action, details in actions if action == "register_imported"]
        assert [(d["added"], d["updated"]) for d in imports] == [(6, 0), (0, 0), (1, 2)]


def test_a_bad_row_imports_nothing(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        assert import_file(wave, "staff_cp1252.csv").ok
        db.session.commit()
        before = {key: (p.email, dict(p.groups)) for key, p in people_of(wave.id).items()}
        mapping_before = dict(wave.register_mapping or {})
        result = import_file(wave, "staff_bad.csv")
        assert not result.ok and result.problem_count == 5
        assert (result.added, result.updated) == (0, 0)
        db.session.commit()
        wave_id = wave.id
    with app.app_context():
        # The row of 10001 in the bad file was fine, but nothing of the file was stored.
        assert {key: (p.email, dict(p.groups)) for key, p in people_of(wave_id).items()} == before
        wave = db.session.get(Wave, wave_id)
        assert wave is not None and wave.register_mapping == mapping_before


def test_mapping_is_stored_on_the_wave_for_the_next_import(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        mapping = ColumnMapping(
            email_column="E-mail",
            id_column="Personeelsnummer",
            name_column=None,
            groups=(GroupColumn("Entiteit", "entiteit"), GroupColumn("Niveau", "niveau")),
        )
        assert import_file(wave, "staff_cp1252.csv", mapping=mapping).ok
        db.session.commit()
        wave_id = wave.id
    with app.app_context():
        wave = db.session.get(Wave, wave_id)
        assert wave is not None and wave.register_mapping is not None
        assert wave.register_mapping["email_column"] == "E-mail"
        assert wave.register_mapping["groups"] == [
            {"column": "Entiteit", "key": "entiteit"},
            {"column": "Niveau", "key": "niveau"},
        ]
        assert wave.register_mapping["file"]["encoding"] == "cp1252"
        assert ColumnMapping.from_json(wave.register_mapping) == mapping
        people = people_of(wave_id)
        assert people["10001"].name is None and people["10001"].language == "nl"
        assert people["10001"].groups == {"entiteit": "mow", "niveau": "a"}
        # The next import (no mapping given) uses the stored one.
        result = import_file(wave, "staff_cp1252_updated.csv")
        assert (result.added, result.updated) == (1, 2)  # 10001 moved entity, 10002 new e-mail
        db.session.commit()
        assert people_of(wave_id)["10007"].groups == {"entiteit": "lv", "niveau": "b"}


def test_remove_missing_and_dry_run(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        assert import_file(wave, "staff_cp1252_updated.csv").ok
        dry = import_file(wave, "staff_cp1252.csv", remove_missing=True, dry_run=True)
        assert (dry.removed, dry.total, dry.unchanged) == (1, 6, 4)
        assert len(people_of(wave.id)) == 7
        done = import_file(wave, "staff_cp1252.csv", remove_missing=True)
        assert (done.removed, done.updated, done.total) == (1, 2, 6)
        db.session.commit()
        assert "10007" not in people_of(wave.id)


def test_register_changes_only_by_delta_import_once_the_wave_opens(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        assert import_file(wave, "staff_cp1252.csv").ok
        set_state(wave, "open")
        assert wave.base_population == 6
        with pytest.raises(RegisterStateError, match="--delta"):
            import_file(wave, "staff_cp1252_updated.csv")
        set_state(wave, "closed")
        with pytest.raises(RegisterStateError, match="frozen"):
            import_file(wave, "staff_cp1252_updated.csv", delta=True)


def test_contact_persons_use_the_same_import(app: Flask) -> None:
    with app.app_context():
        wave = make_wave("contact-2026", CONTACTPERSONEN, audience="contactpersonen")
        from surveyapp.survey.service import questionnaire_of

        table = table_of("contactpersonen.csv")
        mapping = reg.default_mapping(table.headers, questionnaire_of(wave.questionnaire_version))
        assert mapping == ColumnMapping(
            email_column="email",
            id_column=None,
            name_column="name",
            groups=(GroupColumn("entity", "entiteit"),),
        )
        result = import_file(wave, "contactpersonen.csv")
        assert result.ok and result.added == 4
        db.session.commit()
        people = people_of(wave.id)
        assert people["lies.wouters@vlaanderen.be"].groups == {"entiteit": "mow"}
        assert people["hilde.claes@vlaanderen.be"].name == "Hilde Claes"
        entiteit = next(m for m in result.margins if m.key == "entiteit")
        assert {r.code: r.count for r in entiteit.rows if r.count} == {"kb": 1, "mow": 2, "wvg": 1}


def test_margins_count_every_code(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        result = import_file(wave, "staff_cp1252.csv")
        margins = {m.key: m for m in result.margins}
        assert list(margins)[:3] == ["status", "leeftijd", "entiteit"]
        status = {r.code: r.count for r in margins["status"].rows}
        assert status == {"actief": 4, "gepensioneerd": 2}
        contract = margins["contract"]
        assert contract.missing == 2 and sum(r.count for r in contract.rows) == 4
        assert [r.code for r in margins["niveau"].rows] == ["a", "b", "c", "d", "onbekend"]


def test_invitations_follow_the_imported_register(app: Flask) -> None:
    with app.app_context():
        wave = make_wave()
        assert import_file(wave, "staff_cp1252.csv").ok
        set_state(wave, "open")
        tokens = create_invitations(wave)
        assert sorted(tokens) == ["10001", "10002", "10003", "10004", "10005", "10006"]


# --- retention ------------------------------------------------------------------------------------


def test_purge_after_the_retention_period(app: Flask) -> None:
    with app.app_context():
        wave = make_wave(closes_on=date(2026, 3, 31), retention_days=30)
        assert import_file(wave, "staff_cp1252.csv").ok
        early = reg.purge_personal_data(wave, datetime(2026, 4, 29, tzinfo=UTC))
        assert not early.purged and early.due_on == date(2026, 4, 30)
        assert people_of(wave.id)["10001"].email is not None
        due = reg.purge_personal_data(wave, datetime(2026, 4, 30, 3, tzinfo=UTC), actor="planner@example.org")
        assert due.purged and due.people == 6
        db.session.commit()
        wave_id = wave.id
    with app.app_context():
        people = people_of(wave_id)
        assert all(p.email is None and p.name is None for p in people.values())
        # The staff number goes too (a pseudonym per row); the groups stay for the margins.
        assert all(key.startswith("purged-") for key in people)
        assert "mow" in {p.groups["entiteit"] for p in people.values()}
        wave = db.session.get(Wave, wave_id)
        assert wave is not None and wave.personal_data_purged_at is not None
        again = reg.purge_personal_data(wave, datetime(2026, 5, 30, tzinfo=UTC))
        assert not again.purged and again.reason == "already purged"
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "personal_data_purged")
        ).scalar_one()
        assert event.target == wave.slug and event.details["people"] == 6 and event.details["forced"] is False


def test_purge_cli_only_due_waves_and_forced(app: Flask) -> None:
    runner = app.test_cli_runner()
    with app.app_context():
        due = make_wave("old-2024", closes_on=date(2024, 1, 31), retention_days=365)
        later = make_wave("new-2026", closes_on=date.today() + timedelta(days=10))
        undated = make_wave("undated")
        for wave in (due, later, undated):
            assert import_file(wave, "staff_cp1252.csv").ok
        db.session.commit()
    result = runner.invoke(args=["population", "purge"])
    assert result.exit_code == 0, result.output
    assert "old-2024: e-mail addresses and names of 6 people purged" in result.output
    assert "1 wave(s) purged" in result.output
    refused = runner.invoke(args=["population", "purge", "--force"])
    assert refused.exit_code != 0 and "--force needs --wave" in refused.output
    forced = runner.invoke(args=["population", "purge", "--wave", "new-2026", "--force"])
    assert forced.exit_code == 0 and "6 people purged (forced)" in forced.output
    with app.app_context():
        emails = dict(
            db.session.execute(
                select(Wave.slug, func.count(RegisterPerson.email))
                .join(RegisterPerson, RegisterPerson.wave_id == Wave.id)
                .group_by(Wave.slug)
            ).all()
        )
        assert emails == {"old-2024": 0, "new-2026": 0, "undated": 6}


# --- the command line -----------------------------------------------------------------------------


def test_cli_import_reports_problems_and_exits_non_zero(app: Flask) -> None:
    with app.app_context():
        make_wave()
        db.session.commit()
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["population", "import", "reg-2026", str(FILES / "staff_bad.csv")])
    assert bad.exit_code == 1
    assert "Problems: 5" in bad.output
    assert "line 3, column 'Personeelsnummer': missing person id" in bad.output
    assert "line 6, column 'Taal': unknown language 'fr' (allowed: nl, en)" in bad.output
    assert "Nothing was imported" in bad.output
    unreadable = runner.invoke(args=["population", "import", "reg-2026", str(FILES / "responses.yaml")])
    assert unreadable.exit_code == 1 and "a .yaml file is not a CSV file" in unreadable.output
    dry = runner.invoke(
        args=["population", "import", "reg-2026", str(FILES / "staff_cp1252.csv"), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing stored: 6 people would be added" in dry.output
    good = runner.invoke(
        args=[
            "population", "import", "reg-2026", str(FILES / "staff.xlsx"),
            "--language-column", "-", "--group", "Entiteit", "--group", "Status=status",
            "--birth-year-column", "Geboortejaar",
        ]
    )  # fmt: skip
    assert good.exit_code == 0, good.output
    assert "3 people added, 0 updated, 0 unchanged; the register of reg-2026 has 3 people." in good.output
    assert "group:      Geboortejaar → leeftijd (birth year → age band)" in good.output
    with app.app_context():
        people = people_of(db.session.execute(select(Wave.id)).scalar_one())
        assert people["30002"].language == "nl"  # no language column chosen
        assert people["30002"].groups == {"entiteit": "wvg", "status": "gepensioneerd", "leeftijd": "65plus"}
    missing = runner.invoke(args=["population", "import", "nope", str(FILES / "staff.xlsx")])
    assert missing.exit_code != 0 and "there is no wave 'nope'" in missing.output


# --- the planner pages ----------------------------------------------------------------------------


def post_file(client, url: str, name: str, data: bytes | None = None, **fields: object):  # type: ignore[no-untyped-def]
    content = data if data is not None else (FILES / name).read_bytes()
    return client.post(
        url, data={**fields, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )


def selected_options(html: str) -> dict[str, str]:
    result = {}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        result[name] = chosen.group(1) if chosen else ""
    return result


def follow_job(client, started):  # type: ignore[no-untyped-def]
    """A check or import answers at once with the job's page; that page once the job is over."""
    from surveyapp import jobs

    assert started.status_code == 303, started.get_data(as_text=True)
    location = started.headers["Location"]
    match = re.search(r"/register/jobs/([0-9a-f]+)$", location)
    assert match, location
    assert jobs.wait(match.group(1), timeout=120)
    page = client.get(location)
    assert page.status_code == 200 and "Refresh" not in page.headers
    return page


def test_planner_uploads_maps_checks_and_imports(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        make_wave()
        db.session.commit()
    client = app.test_client()
    login(client, "planner")
    in_english(client)
    url = "/planner/waves/reg-2026/register"
    page = client.get(url)
    assert page.status_code == 200 and 'type="file"' in page.get_data(as_text=True)
    assert client.post(url, data={}).status_code == 400  # no file
    unreadable = post_file(client, url, "register.csv", b"")
    assert unreadable.status_code == 422 and "the file is empty" in unreadable.get_data(as_text=True)

    analysed = post_file(client, url, "staff_cp1252.csv", action="analyse")
    html = analysed.get_data(as_text=True)
    assert analysed.status_code == 200
    assert "Sébastien Dubois" in html  # the first rows, decoded from Windows-1252
    chosen = selected_options(html)
    assert chosen["email_column"] == "E-mail" and chosen["id_column"] == "Personeelsnummer"
    assert chosen["group__entiteit"] == "Entiteit" and chosen["group__gezin"] == ""
    fingerprint = re.search(r'name="analysed" value="([0-9a-f]+)"', html)
    assert fingerprint

    form = {**chosen, "analysed": fingerprint.group(1)}
    checked = follow_job(client, post_file(client, url, "staff_cp1252.csv", action="check", **form))
    assert "importing this file adds 6 people" in checked.get_data(as_text=True).lower()
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 0
    # The check's page offers the import with the same choices: the planner only picks the file.
    offered = {
        name: value
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', checked.text)
        if name != "csrf_token"
    }
    assert offered["analysed"] == form["analysed"] and offered["email_column"] == "E-mail"

    imported = follow_job(client, post_file(client, url, "staff_cp1252.csv", action="import", **offered))
    html = imported.get_data(as_text=True)
    assert re.search(r"People added</th><td class=\"num\">6<", html)
    assert "I am retired" in html  # the margins, with the codes' labels in the page language
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 6
        wave = db.session.execute(select(Wave)).scalar_one()
        assert wave.register_mapping and wave.register_mapping["id_column"] == "Personeelsnummer"
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "register_imported")
        ).scalar_one()
        assert event.user_email == "planner@example.org" and event.details["added"] == 6

    # A bad file: the report with line, column and problem; nothing stored.
    only_bad_columns = {"group__contract": "", "group__niveau": "", "group__dienstjaren": "", "analysed": ""}
    bad = follow_job(
        client, post_file(client, url, "staff_bad.csv", action="import", **{**form, **only_bad_columns})
    )
    html = bad.get_data(as_text=True)
    assert "nothing was imported" in html
    assert re.search(r'<td class="num">6</td>\s*<td>Taal</td>\s*<td>unknown language &#39;fr&#39;', html)
    # Another file than the one analysed is not imported.
    other = post_file(client, url, "staff_cp1252_updated.csv", action="import", **form)
    assert other.status_code == 409
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 6

    # A mapping error is tied to its field.
    wrong = post_file(
        client,
        url,
        "staff_cp1252.csv",
        action="import",
        **{**form, "email_column": "", "name_column": "Taal"},
    )
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422
    assert 'id="email_column-error"' in html and 'aria-describedby="email_column-error"' in html
    assert 'id="name_column-error"' in html  # Taal is already the language column


def test_register_pages_need_the_planner_role_and_a_draft_wave(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        wave = make_wave()
        assert import_file(wave, "staff_cp1252.csv").ok
        set_state(wave, "open")
        db.session.commit()
    viewer = app.test_client()
    login(viewer, "viewer")
    assert viewer.get("/planner/waves/reg-2026/register").status_code == 403
    assert post_file(viewer, "/planner/waves/reg-2026/register", "staff_cp1252.csv").status_code == 403
    planner = app.test_client()
    login(planner, "planner")
    in_english(planner)
    assert planner.get("/planner/waves/nope/register").status_code == 404
    for hostile in ("a%00b", "x" * 65, "%0a"):  # never a 500 (PostgreSQL refuses a NUL byte)
        assert planner.get(f"/planner/waves/{hostile}/register").status_code in {400, 404}
        assert planner.post(f"/planner/waves/{hostile}/responses/import").status_code in {400, 404}
    open_page = planner.get("/planner/waves/reg-2026/register")
    assert open_page.status_code == 200 and "upload the whole current register" in open_page.text
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == "reg-2026")).scalar_one()
        set_state(wave, "closed")
        db.session.commit()
    frozen = planner.get("/planner/waves/reg-2026/register")
    assert frozen.status_code == 200 and "can no longer change" in frozen.get_data(as_text=True)
    refused = post_file(planner, "/planner/waves/reg-2026/register", "staff_cp1252_updated.csv")
    assert refused.status_code == 409
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RegisterPerson)).scalar_one() == 6
