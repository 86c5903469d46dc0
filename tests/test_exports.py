"""Downloads of a wave's results: Excel, microdata (CSV, SPSS, codebook), tidy CSV, JSON, the CLI.

One small demo database (1,500 people, 600 responses) is seeded once for the module.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pyreadstat
import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from surveyapp import formatting
from surveyapp.analysis.result import load_schema
from surveyapp.demo import CONTACT_SLUG, WAVE_SLUG, seed_demo
from surveyapp.extensions import db
from surveyapp.models import Wave
from surveyapp.reports import data, microdata
from surveyapp.reports.xlsx import render_xlsx, safe_text
from surveyapp.survey.service import questionnaire_of
from tests.conftest import make_app


@pytest.fixture(scope="module")
def seeded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("exports")
    path = folder / "db.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", folder)
    with app.app_context():
        seed_demo(people=1500, responses=600, seed=7)
        db.session.commit()
    data.clear_cache()
    yield app
    with app.app_context():
        db.engine.dispose()


def _wave(slug: str = WAVE_SLUG) -> Wave:
    return db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one()


def test_safe_text_defuses_formulas() -> None:
    for text in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_text(text) == "'" + text
    assert safe_text("gewoon") == "gewoon" and safe_text(-2.5) == -2.5 and safe_text(None) is None


def test_workbook_sheets_values_formats_and_suppression(seeded: Flask) -> None:
    with seeded.app_context():
        wave = _wave()
        result = data.wave_analysis(wave)
        questionnaire = questionnaire_of(wave.questionnaire_version)
        body = render_xlsx(result, questionnaire, "en")
    book = load_workbook(io.BytesIO(body))
    for name in (
        "Estimates",
        "How old are you",
        "Headline",
        "Funnel",
        "Reach",
        "Response rates",
        "Tests",
        "Comparisons",
        "Weighting",
    ):
        assert name in book.sheetnames, name
    sheet = book["Estimates"]
    assert sheet.freeze_panes == "A5"
    header = [cell.value for cell in sheet[4]]
    assert header[:2] == ["Label", "Measure"] and "Estimate" in header and "Suppressed" in header
    estimate_col = header.index("Estimate") + 1
    known = result.estimate("ken_dienst")
    known_label = data.item_labels(questionnaire, "en")["ken_dienst"]
    for row in sheet.iter_rows(min_row=5):
        if row[0].value == known_label:
            cell = row[estimate_col - 1]
            assert cell.value == pytest.approx(known.estimate)
            assert cell.number_format == "0.0%"
            break
    else:
        pytest.fail("ken_dienst not in the Estimates sheet")
    # a suppressed group row: the mark, blank numbers, and the footnote
    by_group = book["In which policy domain do you…"]
    assert by_group["A1"].value == "By group – In which policy domain do you work?"
    gheader = [cell.value for cell in by_group[3]]
    suppressed_col, n_col = gheader.index("Suppressed"), gheader.index("n")
    rows = list(by_group.iter_rows(min_row=4, values_only=True))
    hidden = [row for row in rows if row[suppressed_col] == data.SUPPRESSED_MARK]
    assert hidden and all(row[n_col] is None and row[gheader.index("Estimate")] is None for row in hidden)
    assert any(row[0] and "fewer than 10 respondents" in str(row[0]) for row in rows)
    mean_name = "Satisfaction (mean score)"
    means = [row for row in book["Estimates"].iter_rows(min_row=5) if row[1].value == mean_name]
    assert means and means[0][estimate_col - 1].number_format == "0.00"
    weighting = {row[0]: row[1] for row in book["Weighting"].iter_rows(min_row=2, values_only=True) if row[0]}
    assert weighting["Method"] == "raking" and weighting["Converged"] == "yes"
    assert "How old are you?" in weighting["Variables"]
    assert weighting["Kish design effect"] == pytest.approx(result.weighting.kish_deff)


def test_workbook_defuses_formula_labels(seeded: Flask) -> None:
    with seeded.app_context():
        result = data.wave_analysis(_wave())
    items = tuple(
        dataclasses.replace(item, label='=HYPERLINK("http://evil")') if item.item == "ken_dienst" else item
        for item in result.items
    )
    hostile = dataclasses.replace(result, items=items)
    book = load_workbook(io.BytesIO(render_xlsx(hostile, None, "nl")))
    sheet = book[book.sheetnames[0]]
    labels = [row[0] for row in sheet.iter_rows(min_row=5, values_only=True) if "HYPERLINK" in str(row[0])]
    assert labels == ['\'=HYPERLINK("http://evil")']


def test_sav_round_trip_labels_and_weights(seeded: Flask, tmp_path: Path) -> None:
    with seeded.app_context():
        micro = microdata.build_microdata(_wave(), "en")
        body = microdata.to_sav(micro)
    path = tmp_path / "micro.sav"
    path.write_bytes(body)
    frame, meta = pyreadstat.read_sav(str(path))
    assert len(frame) == 600
    assert meta.column_names_to_labels["leeftijd"] == "How old are you?"
    # a quasi-identifier: coarsened to wider bands (numbers with labels), never the 65+ band
    assert "60 or older" in meta.variable_value_labels["leeftijd"].values()
    assert "65 or older" not in meta.variable_value_labels["leeftijd"].values()
    assert "ken_aanbod_pluspas" in frame.columns
    assert micro.weighted and frame[microdata.WEIGHT].sum() == pytest.approx(1500, rel=1e-6)
    assert meta.column_names_to_labels[microdata.WEIGHT].startswith("Final weight")
    # no free text by default, no ids or dates at all
    assert "mist_wat" not in frame.columns and "suggesties" not in frame.columns
    assert not any(name in frame.columns for name in ("id", "submitted_on", "wave_id"))


def test_microdata_csv_with_open_answers_escapes_formulas(seeded: Flask) -> None:
    with seeded.app_context():
        micro = microdata.build_microdata(_wave(), "nl", open_answers=True)
    assert "suggesties" in micro.frame.columns
    micro.frame.loc[0, "suggesties"] = "=cmd|' /C calc'!A0"
    rows = list(csv.reader(io.StringIO(microdata.to_csv(micro).decode("utf-8-sig"))))
    header = rows[0]
    assert rows[1][header.index("suggesties")] == "'=cmd|' /C calc'!A0"
    assert len(rows) == 601 and microdata.WEIGHT in header


def test_codebook_lists_every_variable(seeded: Flask) -> None:
    with seeded.app_context():
        micro = microdata.build_microdata(_wave(), "nl")
    page = microdata.codebook_html(micro, "nl")
    for variable in micro.variables:
        assert f"<code>{variable.name}</code>" in page
    assert "60plus" in page and "tevreden_dienst" in page


def test_json_validates_against_the_schema(seeded: Flask) -> None:
    with seeded.app_context():
        result = data.wave_analysis(_wave())
    jsonschema.validate(json.loads(json.dumps(result.to_json_dict())), load_schema())


def test_cache_is_reused_and_follows_the_data(seeded: Flask) -> None:
    with seeded.app_context():
        wave = _wave()
        assert data.wave_analysis(wave) is data.wave_analysis(wave)
        key = data.analysis_key(wave)
        assert key == data.analysis_key(wave)
        label = data.item_label(data.wave_analysis(wave), "ken_dienst", "en")
        assert label.startswith("How well do you know")
    assert formatting.percent(0.1234, "nl") == "12,3%" and formatting.percent(None) == data.SUPPRESSED_MARK


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "json", "sav", "microdata-csv", "microdata-xlsx", "codebook"])
def test_cli_formats(seeded: Flask, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    result = seeded.test_cli_runner().invoke(
        args=["report", WAVE_SLUG, "--format", fmt, "--lang", "en", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    body = out.read_bytes()
    assert body
    if fmt == "xlsx":
        assert body[:2] == b"PK"
    elif fmt == "json":
        assert json.loads(body)["n_respondents"] == 600
    elif fmt == "csv":
        assert body.decode("utf-8-sig").startswith("item,measure")


def test_cli_errors_exit_2_without_traceback(seeded: Flask, tmp_path: Path) -> None:
    runner = seeded.test_cli_runner()
    missing = runner.invoke(args=["report", "nope", "--format", "json", "--out", str(tmp_path / "x.json")])
    assert missing.exit_code == 2 and "no wave" in missing.output and "Traceback" not in missing.output
    folder = runner.invoke(
        args=["report", WAVE_SLUG, "--format", "json", "--out", str(tmp_path / "no" / "x.json")]
    )
    assert folder.exit_code == 2 and "does not exist" in folder.output


def test_cli_pdf_and_docx_or_a_clear_error(seeded: Flask, tmp_path: Path) -> None:
    for fmt in ("pdf", "docx"):
        out = tmp_path / f"x.{fmt}"
        result = seeded.test_cli_runner().invoke(
            args=["report", CONTACT_SLUG, "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code in (0, 2) and "Traceback" not in result.output
        if result.exit_code == 0:
            assert out.stat().st_size > 0
        else:
            assert "Error:" in result.output
