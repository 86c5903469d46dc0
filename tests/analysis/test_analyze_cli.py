"""``surveyapp analyze``: file mode on the hand-made files, wave mode on both databases, errors.

Every error is one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result
from flask import Flask

from surveyapp.analysis.result import ESTIMATE_CSV_FIELDS, load_schema
from surveyapp.commands.analyze import command

DATA = Path(__file__).parent.parent / "data" / "analysis"
FILES = [
    "--questionnaire",
    str(DATA / "questionnaire.yaml"),
    "--responses",
    str(DATA / "responses.csv"),
    "--population",
    str(DATA / "register.csv"),
]


def run(*args: str) -> Result:
    return CliRunner().invoke(command, list(args))


def valid_json(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def assert_clean_failure(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_file_mode_writes_json_and_csv(tmp_path: Path) -> None:
    out, table = tmp_path / "out.json", tmp_path / "out.csv"
    result = run(
        *FILES,
        "--invitations",
        str(DATA / "invitations.csv"),
        "--rake",
        "status,leeftijd",
        "--ci",
        "beta",
        "--min-cell",
        "5",
        "--json",
        str(out),
        "--csv",
        str(table),
    )
    assert result.exit_code == 0, result.output
    data = valid_json(out)
    assert data["weighting"]["variables"] == ["status", "leeftijd"]  # type: ignore[index]
    assert data["options"]["ci_method"] == "beta" and data["options"]["min_cell"] == 5  # type: ignore[index]
    assert data["n_respondents"] == 40 and len(data["response_rates"]) == 11  # type: ignore[arg-type]
    # Progress and timings on stderr.
    assert "40 responses read from responses.csv" in result.output and "cpu" in result.output
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == ESTIMATE_CSV_FIELDS
    assert len(rows) == len(data["estimates"])  # type: ignore[arg-type]
    ken = next(r for r in rows if r["item"] == "ken_dienst" and r["group_var"] == "")
    assert ken["n"] == "40" and ken["suppressed"] == "False" and 0.7 < float(ken["estimate"]) < 0.8


def test_file_mode_defaults_and_no_raking(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run(*FILES, "--rake", "none", "--adjust", "fdr_bh", "--json", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    data = valid_json(out)
    assert data["weighting"]["method"] == "none"  # type: ignore[index]
    assert data["options"]["min_cell"] == 10  # type: ignore[index]
    assert {t["adjust_method"] for t in data["tests"]} == {"fdr_bh"}  # type: ignore[attr-defined]
    ken = next(e for e in data["estimates"] if e["item"] == "ken_dienst" and e["group_var"] is None)  # type: ignore[attr-defined]
    assert ken["estimate"] == pytest.approx(0.75)


def test_previous_wave_from_json(tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert run(*FILES, "--min-cell", "5", "--json", str(first)).exit_code == 0
    result = run(*FILES, "--min-cell", "5", "--previous", str(first), "--json", str(second))
    assert result.exit_code == 0, result.output
    data = valid_json(second)
    changes = data["wave_changes"]
    assert changes and all(c["difference"] in (None, pytest.approx(0.0, abs=1e-12)) for c in changes)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-cell", "3"], "below the allowed minimum of 5"),
        (["--rake", "postcode"], "'postcode' is not a group question"),
        (["--level", "1.5"], "confidence level must lie between 0 and 1"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    assert_clean_failure(run(*FILES, *args, "--json", str(tmp_path / "o.json")), message)


def test_bad_files(tmp_path: Path) -> None:
    out = str(tmp_path / "o.json")
    # An unknown code in the responses file: every problem listed.
    lines = (DATA / "responses.csv").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "\n".join([lines[0], lines[1].replace("actief", "ceo", 1), *lines[2:]]) + "\n", encoding="utf-8"
    )
    files = [*FILES]
    files[3] = str(bad)
    assert_clean_failure(run(*files, "--json", out), "line 2, status: 'ceo' is not a code")
    # A register without the raking column asked for.
    register = tmp_path / "register.csv"
    text = (DATA / "register.csv").read_text(encoding="utf-8").splitlines()
    register.write_text("\n".join(";".join(line.split(";")[:-1]) for line in text) + "\n", encoding="utf-8")
    files = [*FILES]
    files[5] = str(register)
    assert_clean_failure(
        run(*files, "--rake", "contract", "--json", out), "needs the register column 'contract'"
    )
    # ... without --rake the variable is left out, with the reason in the notes.
    assert run(*files, "--json", out).exit_code == 0
    assert any("'contract' left out" in note for note in json.loads(Path(out).read_text())["notes"])
    # A margin category nobody answered: named, with the variable.
    only_old = tmp_path / "old.csv"
    only_old.write_text(
        "\n".join([lines[0], *[line for line in lines[1:] if ",oud," in line]]) + "\n", encoding="utf-8"
    )
    files = [*FILES]
    files[3] = str(only_old)
    assert_clean_failure(
        run(*files, "--rake", "leeftijd", "--json", out),
        "raking variable 'leeftijd': the register has 70 people in category 'jong'",
    )
    # Missing files and a broken questionnaire.
    files = [*FILES]
    files[3] = str(tmp_path / "nothing.csv")
    assert_clean_failure(run(*files, "--json", out), "file not found")
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: surveyapp/1\nid: x\n", encoding="utf-8")
    files = [*FILES]
    files[1] = str(broken)
    assert_clean_failure(run(*files, "--json", out), "Error:")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    files = [*FILES]
    files[5] = str(empty)
    assert_clean_failure(run(*files, "--json", out), "cannot be read as CSV")


def test_usage_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "o.json")
    assert_clean_failure(run("--json", out), "give --wave WAVE")
    assert_clean_failure(
        run(*FILES[:2], "--json", out), "file mode needs --questionnaire, --responses and --population"
    )
    assert_clean_failure(run("--wave", "x", *FILES, "--json", out), "not both")
    assert run(*FILES).exit_code == 2  # --json is required (click's usage error)


def test_the_module_runs_without_the_web_app(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code = (
        "import sys; from surveyapp.commands.analyze import command;"
        "command.main(sys.argv[1:], standalone_mode=False);"
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *FILES, "--json", str(out), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]")  # neither Flask nor SQLAlchemy was imported
    valid_json(out)
    done = subprocess.run(
        [sys.executable, "-m", "surveyapp.commands.analyze", *FILES, "--json", str(out), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------
# Wave mode, through the app's own command group (both databases)


def test_wave_mode(app: Flask, tmp_path: Path) -> None:
    from tests.test_extract import seed_wave

    with app.app_context():
        seed_wave("cli-2026", threshold=6)
    out, table = tmp_path / "wave.json", tmp_path / "wave.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["analyze", "--wave", "cli-2026", "--json", str(out), "--csv", str(table)])
    assert result.exit_code == 0, result.output
    data = valid_json(out)
    assert data["wave"]["slug"] == "cli-2026" and data["options"]["min_cell"] == 6  # type: ignore[index]
    assert data["n_respondents"] == 40 and data["response_rates"][0]["invited"] == 200  # type: ignore[index]
    assert table.read_text(encoding="utf-8").startswith(",".join(ESTIMATE_CSV_FIELDS))
    # The wave's threshold wins over a lower --min-cell.
    result = runner.invoke(args=["analyze", "--wave", "cli-2026", "--min-cell", "5", "--json", str(out)])
    assert result.exit_code == 0 and "using it instead of --min-cell 5" in result.output
    assert valid_json(out)["options"]["min_cell"] == 6  # type: ignore[index]
    result = runner.invoke(args=["analyze", "--wave", "nope", "--json", str(out)])
    assert_clean_failure(result, "there is no wave 'nope'")
    # Compared with an earlier wave.
    with app.app_context():
        seed_wave("cli-2025", threshold=6)
    result = runner.invoke(
        args=["analyze", "--wave", "cli-2026", "--previous-wave", "cli-2025", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = valid_json(out)
    assert data["compared_with"]["slug"] == "cli-2025" and data["wave_changes"]  # type: ignore[index]


def test_console_script_runs_analyze_without_flask() -> None:
    """`surveyapp analyze` skips the Flask CLI import (a tenth of the analysis' time budget)."""
    probe = (
        "import sys\n"
        "sys.argv = ['surveyapp', 'analyze', '--help']\n"
        "from surveyapp.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('flask loaded' if 'flask' in sys.modules else 'no flask')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Usage: surveyapp analyze" in result.stdout
    assert result.stdout.strip().endswith("no flask")
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv=['surveyapp','--help']; from surveyapp.entry import main; main()",
        ],
        capture_output=True,
        text=True,
    )
    assert other.returncode == 0 and "analyze" in other.stdout and "questionnaire" in other.stdout
