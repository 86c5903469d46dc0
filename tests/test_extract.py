"""The analysis' database read (`services.extract`) on both databases, against the file path.

The seeded wave holds the hand-made files of tests/data/analysis: the register of 200 people,
one invitation each (the 40 of the ledger submitted), and the 40 responses as the web form
stores them. Analysing the wave must give exactly the numbers of analysing the files.
"""

from __future__ import annotations

import csv
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert, select, update

from surveyapp.analysis.measures import analyze
from surveyapp.analysis.result import AnalysisOptions
from surveyapp.analysis.tidy import read_csv_text, read_responses_csv
from surveyapp.extensions import db
from surveyapp.models import Invitation, RegisterPerson, Response, Wave
from surveyapp.questionnaire import Questionnaire, load_questionnaire
from surveyapp.services import extract
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from tests.conftest import DATA

FILES = DATA / "analysis"
QUESTIONNAIRE = FILES / "questionnaire.yaml"
SUBMITTED = {f"P{i:03d}" for i in [*range(28), *range(140, 152)]}


def answers_of(questionnaire: Questionnaire, row: dict[str, str]) -> dict[str, Any]:
    """A responses-file row as the web form stores it: codes, lists for multiple choice."""
    answers: dict[str, Any] = {}
    types = {q.id: q.type for q in questionnaire.questions}
    for column, value in row.items():
        if value == "":
            continue
        qid, _, code = column.partition("/")
        if types.get(qid) == "multiple_choice":
            chosen = answers.setdefault(qid, [])
            if value == "1":
                chosen.append(code)
        else:
            answers[column] = value
    return questionnaire.clean_answers(answers)


def seed_wave(slug: str = "analyse-2026", threshold: int = 5) -> int:
    """The hand-made files as a wave (inside an app context); returns the wave id."""
    version, questionnaire = store_file(QUESTIONNAIRE)
    wave = create_wave(
        version, slug=slug, title="Analyse", opens_on=date(2026, 3, 1), suppression_threshold=threshold
    )
    with (FILES / "register.csv").open(encoding="utf-8") as handle:
        people = list(csv.DictReader(handle, delimiter=";"))
    add_register(
        wave,
        (
            RegisterRow(p["person"], None, "nl", {k: v for k, v in p.items() if k != "person" and v})
            for p in people
        ),
    )
    set_state(wave, "open")
    create_invitations(wave)
    submitted = db.session.scalars(
        select(Invitation.id)
        .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
        .where(RegisterPerson.wave_id == wave.id, RegisterPerson.person_key.in_(SUBMITTED))
    ).all()
    db.session.execute(update(Invitation).where(Invitation.id.in_(submitted)).values(submitted=True))
    with (FILES / "responses.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    db.session.execute(
        insert(Response),
        [
            {
                "wave_id": wave.id,
                "questionnaire_version_id": version.id,
                "submitted_on": date(2026, 3, 2),
                "answers": answers_of(questionnaire, row),
            }
            for row in rows
        ],
    )
    db.session.commit()
    return wave.id


@pytest.fixture
def seeded(app: Flask) -> int:
    with app.app_context():
        return seed_wave()


def file_result(options: AnalysisOptions) -> Any:
    questionnaire = load_questionnaire(QUESTIONNAIRE)
    register, _ = read_csv_text(FILES / "register.csv")
    invitations, _ = read_csv_text(FILES / "invitations.csv")
    responses = read_responses_csv(questionnaire, FILES / "responses.csv")
    return analyze(questionnaire, responses, register, options=options, invitations=invitations)


def test_wave_frames(app: Flask, seeded: int) -> None:
    with app.app_context():
        wave = db.session.get(Wave, seeded)
        assert wave is not None
        questionnaire, responses, register, invitations = extract.wave_frames(wave)
    assert questionnaire.id == "analyse_test"
    assert responses.shape[0] == 40 and list(responses.columns)[:3] == ["status", "leeftijd", "herkomst"]
    assert (responses["ken_dienst"] == "yes").sum() == 30
    assert isinstance(responses["ken_dienst"].dtype, __import__("pandas").CategoricalDtype)
    assert (
        responses["hulpvraag/financieel"].sum() == 4 and responses["hulpvraag/financieel"].notna().sum() == 6
    )
    assert len(register) == 200 and set(register.columns) == {
        "status",
        "leeftijd",
        "herkomst",
        "gezin",
        "contract",
    }
    assert register["contract"].isna().sum() == 60 and (register["status"] == "actief").sum() == 140
    assert len(invitations) == 200 and int(invitations["submitted"].sum()) == 40
    assert int(invitations.loc[invitations["submitted"], "status"].eq("gepensioneerd").sum()) == 12


def test_analyze_wave_equals_the_files(app: Flask, seeded: int) -> None:
    options = AnalysisOptions(min_cell=5)
    with app.app_context():
        wave = db.session.get(Wave, seeded)
        assert wave is not None
        result = extract.analyze_wave(wave, options)
    files = file_result(options)
    assert (
        result.wave is not None and result.wave.slug == "analyse-2026" and result.wave.base_population == 200
    )
    assert result.weighting.variables == files.weighting.variables == ("status", "leeftijd", "contract")
    assert result.weighting.kish_deff == pytest.approx(files.weighting.kish_deff)
    assert len(result.estimates) == len(files.estimates)
    by_key = {(r.item, r.group_var, r.group): r for r in files.estimates}
    for row in result.estimates:
        other = by_key[(row.item, row.group_var, row.group)]
        assert (row.n, row.suppressed) == (other.n, other.suppressed)
        for field in ("estimate", "se", "ci_low", "ci_high"):
            mine, theirs = getattr(row, field), getattr(other, field)
            assert mine == (None if theirs is None else pytest.approx(theirs, rel=1e-9, abs=1e-12))
    assert [(r.group_var, r.group, r.invited, r.submitted) for r in result.response_rates] == [
        (r.group_var, r.group, r.invited, r.submitted) for r in files.response_rates
    ]
    assert [r.index for r in result.reach] == pytest.approx([r.index for r in files.reach], nan_ok=True)


def test_the_wave_threshold_is_a_floor(app: Flask) -> None:
    with app.app_context():
        wave = db.session.get(Wave, seed_wave("streng-2026", threshold=12))
        assert wave is not None
        assert extract.wave_options(wave, None).min_cell == 12
        assert extract.wave_options(wave, AnalysisOptions(min_cell=5)).min_cell == 12
        assert extract.wave_options(wave, AnalysisOptions(min_cell=20)).min_cell == 20
        result = extract.analyze_wave(wave)
    assert result.options.min_cell == 12 and result.suppression.threshold == 12
    assert all(row.n is None or row.n == 0 or row.n >= 12 for row in result.estimates)


def test_change_since_a_previous_wave(app: Flask) -> None:
    with app.app_context():
        first = db.session.get(Wave, seed_wave("eerste-2026"))
        second = db.session.get(Wave, seed_wave("tweede-2026"))
        assert first is not None and second is not None
        result = extract.analyze_wave(second, AnalysisOptions(min_cell=5), previous_wave=first)
    assert result.compared_with is not None and result.compared_with.slug == "eerste-2026"
    change = next(c for c in result.wave_changes if c.item == "ken_dienst" and c.group_var is None)
    assert change.difference == pytest.approx(0.0, abs=1e-12) and change.earlier == pytest.approx(0.75)


def test_wave_frames_reads_in_a_few_queries(app: Flask, seeded: int) -> None:
    """Bulk reads: the number of statements does not grow with responses or people."""
    statements: list[str] = []
    with app.app_context():
        wave = db.session.get(Wave, seeded)
        assert wave is not None
        _ = wave.questionnaire_version

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            extract.wave_frames(wave)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) <= 4, statements
    assert not any("SELECT responses.id" in s for s in statements)  # answers only, no whole rows


def test_empty_wave(app: Flask) -> None:
    """A wave without responses cannot be analysed: a clear error, not a crash."""
    from surveyapp.analysis import InvalidInputError

    with app.app_context():
        version, _ = store_file(QUESTIONNAIRE)
        wave = create_wave(version, slug="leeg-2026", title="Leeg")
        db.session.commit()
        with pytest.raises(InvalidInputError, match="At least 2 responses"):
            extract.analyze_wave(wave)
