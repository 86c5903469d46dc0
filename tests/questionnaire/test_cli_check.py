"""`surveyapp questionnaire check`: OK for a valid file, every problem and exit 1 otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from surveyapp.cli import main

MINI = Path(__file__).resolve().parent.parent / "data" / "questionnaires" / "mini.yaml"

BROKEN = """\
format: surveyapp/1
id: kapot
languages: [nl, en]
title: {nl: Kapot, en: Broken}
pages:
  - id: een
    title: {nl: Een, en: One}
    questions:
      - id: status
        type: dropdown
        label: {nl: Status, en: Status}
      - id: kinderen
        type: number
        label: {nl: Kinderen}
        min: 5
        max: 1
  - id: twee
    title: {nl: Twee, en: Two}
    questions:
      - id: tevreden
        type: yes_no
        label: {nl: "Tevreden?", en: "Satisfied?"}
        show_if: "kinderen = 'veel'"
"""

EXPECTED_LINES = [
    "  - pages[0].questions[0] (question 'status'): unknown type 'dropdown' (types: "
    "single_choice, multiple_choice, yes_no, rating, matrix, number, text, long_text, info)",
    "  - pages[0].questions[1].label (question 'kinderen'): the 'en' translation is missing",
    "  - pages[0].questions[1] (question 'kinderen'): min 5 is greater than max 1",
    "  - pages[1].questions[0].show_if (question 'tevreden'): \"kinderen = 'veel'\": "
    "'kinderen' is a number and cannot be compared to text",
]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    instance = tmp_path / "instance"
    monkeypatch.setenv("SURVEYAPP_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return CliRunner()


def test_check_valid_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["questionnaire", "check", str(MINI)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{MINI}: OK\n"


def test_check_broken_file_lists_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "kapot.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(main, ["questionnaire", "check", str(broken)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{broken}: {len(EXPECTED_LINES)} problem(s)"
    assert lines[1:] == EXPECTED_LINES
    assert "OK" not in result.output


def test_check_several_files_fails_if_any_is_broken(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "kapot.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(main, ["questionnaire", "check", str(MINI), str(broken)])
    assert result.exit_code == 1
    assert f"{MINI}: OK" in result.output
    assert f"{broken}: 4 problem(s)" in result.output


def test_check_invalid_yaml_and_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n  title: y\n", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    result = runner.invoke(main, ["questionnaire", "check", str(bad), str(missing)])
    assert result.exit_code == 1
    assert (
        "  - line 2, column 8: not valid YAML: mapping values are not allowed here"
        in result.output.splitlines()
    )
    assert f"{missing}: 1 problem(s)" in result.output
    assert "  - file: cannot be read" in result.output


def test_check_an_empty_mapping_is_not_ok(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "leeg.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    result = runner.invoke(main, ["questionnaire", "check", str(empty)])
    assert result.exit_code == 1
    assert f"{empty}: OK" not in result.output
    assert "  - id: is missing" in result.output


def test_check_needs_a_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["questionnaire", "check"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output
