"""`surveyapp questionnaire import-xlsform` and `questionnaire load` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from surveyapp.cli import questionnaire_import_xlsform, questionnaire_load
from surveyapp.extensions import db
from surveyapp.models import QuestionnaireVersion
from surveyapp.questionnaire import load_questionnaire

DATA = Path(__file__).parent.parent / "data"


def test_import_xlsform_writes_a_valid_questionnaire_and_lists_what_it_dropped(tmp_path: Path) -> None:
    out = tmp_path / "voorbeeld.yaml"
    result = CliRunner().invoke(
        questionnaire_import_xlsform, [str(DATA / "xlsform" / "voorbeeld.xlsx"), str(out)]
    )
    # The sample holds things XLSForm has and we do not (geopoint, repeat): listed, exit 1.
    assert result.exit_code == 1, result.output
    assert "not converted" in result.output and "geopoint" in result.output
    questionnaire = load_questionnaire(out)
    assert len(list(questionnaire.questions)) > 3
    assert set(questionnaire.languages) == {"nl", "en"}


def test_import_xlsform_refuses_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    bogus = tmp_path / "form.xlsx"
    bogus.write_text("not a workbook")
    result = CliRunner().invoke(questionnaire_import_xlsform, [str(bogus), str(tmp_path / "out.yaml")])
    assert result.exit_code != 0
    assert "Error" in result.output
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize("name", ["gerechtigden.yaml", "contactpersonen-welzijn.yaml"])
def test_load_stores_a_version_once(app: Flask, name: str) -> None:
    path = str(Path(__file__).parent.parent.parent / "questionnaires" / name)
    runner = CliRunner()
    with app.app_context():
        first = runner.invoke(questionnaire_load, [path])
        second = runner.invoke(questionnaire_load, [path])
        assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
        versions = db.session.execute(select(QuestionnaireVersion)).scalars().all()
        assert len(versions) == 1  # idempotent by content hash


def test_load_refuses_an_invalid_questionnaire(app: Flask, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\ntitle: {nl: X}\npages: []\n")
    with app.app_context():
        result = CliRunner().invoke(questionnaire_load, [str(broken)])
        assert result.exit_code != 0 and "pages" in result.output
        assert db.session.execute(select(QuestionnaireVersion)).first() is None
