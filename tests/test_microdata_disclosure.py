"""Microdata exports are k-anonymous, ready for SPSS, and open answers go out only with a purpose.

The journeys a planner makes, on SQLite and PostgreSQL: the results page's risk table, the
downloads over HTTP (CSV, SPSS, Excel, codebook) and ``surveyapp report`` on the command line.
Each export is read back the way its user would (csv, pyreadstat, openpyxl) and checked with a
brute-force count written here, independent of `surveyapp.analysis.sdc`: every combination of
quasi-identifier values occurs at least k times (a suppressed value matching anything).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from surveyapp.demo import CONTACT_SLUG, WAVE_SLUG, seed_demo
from surveyapp.extensions import db
from surveyapp.models import AuditEvent, Wave
from surveyapp.planner import results as results_views
from surveyapp.reports import data
from surveyapp.survey.service import questionnaire_of
from tests.test_auth import login, make_users

BASE = f"/planner/waves/{WAVE_SLUG}/results"
K = 10  # the demo waves' suppression threshold
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


@pytest.fixture
def seeded(app: Flask) -> Flask:
    with app.app_context():
        seed_demo(people=1500, responses=600, seed=7)
        db.session.commit()
    make_users(app)
    data.clear_cache()
    results_views._disclosure_cache.clear()
    return app


def planner(app: Flask, role: str = "planner") -> FlaskClient:
    client = app.test_client()
    assert login(client, role).status_code == 302
    return client


def key_names(app: Flask, slug: str = WAVE_SLUG) -> list[str]:
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one()
        return [qi.question for qi in questionnaire_of(wave.questionnaire_version).quasi_identifiers()]


def smallest_group(rows: Sequence[Sequence[object]], wildcard: object) -> int:
    """The fewest records any record cannot be told apart from (brute force over all pairs)."""
    values = np.array([[str(value) for value in row] for row in rows], dtype=object)
    wild = values == str(wildcard)
    equal = values[:, None, :] == values[None, :, :]
    matches = (equal | wild[:, None, :] | wild[None, :, :]).all(axis=2)
    return int(matches.sum(axis=1).min())


def exact_smallest_group(rows: Sequence[Sequence[object]]) -> int:
    counts: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = tuple(str(value) for value in row)
        counts[key] = counts.get(key, 0) + 1
    return min(counts.values())


def csv_keys(body: bytes, keys: list[str]) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header = rows[0]
    assert all(key in header for key in keys), header
    return header, [[row[header.index(key)] for key in keys] for row in rows[1:]]


def sav_frame(body: bytes, tmp_path: Path) -> tuple[object, object]:
    path = tmp_path / "export.sav"
    path.write_bytes(body)
    return pyreadstat.read_sav(str(path), user_missing=True)


def blanks(frame: pd.DataFrame) -> list[list[object]]:
    """SPSS values with system-missing (not asked) as a category of its own."""
    values = frame.astype(object)
    return values.where(frame.notna(), "blank").values.tolist()


def xlsx_keys(body: bytes, keys: list[str]) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    return [[row[header.index(key)] for key in keys] for row in rows[1:]]


def risk_table(page: str) -> dict[str, tuple[str, str]]:
    table = page.split('id="disclosure-risk"', 1)[1].split("</table>", 1)[0]
    found = re.findall(
        r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td><td class="num">([^<]+)</td>', table
    )
    return {name: (before, after) for name, before, after in found}


def percent(text: str) -> float:
    return float(re.findall(r"([\d.,]+)%", text)[-1].replace(",", "."))


def test_every_microdata_export_is_k_anonymous_and_says_its_risk(seeded: Flask, tmp_path: Path) -> None:
    client = planner(seeded)
    keys = key_names(seeded)
    assert {"leeftijd", "entiteit", "niveau", "herkomst", "aantal_kinderen"} <= set(keys)

    # the results page links to the microdata page, which shows the risk before and after
    assert f"{BASE}/microdata" in client.get(f"{BASE}?lang=en").text
    assert planner(seeded, "viewer").get(f"{BASE}/microdata").status_code == 403
    page = client.get(f"{BASE}/microdata?lang=en").text
    risk = risk_table(page)
    uniques = risk["Sample-unique records (key combination occurs once)"]
    assert int(uniques[0].split()[0]) > 0 and uniques[1].startswith("0 ")
    assert risk[f"Records whose key combination occurs fewer than {K} times"][1].startswith("0 ")
    mean_risk = risk["Mean individual risk (sdcMicro global risk)"]
    assert percent(mean_risk[0]) > percent(mean_risk[1])
    assert f"are {K}-anonymous" in page and 'id="disclosure-treatment"' in page

    # without disclosure control the answers would single people out: many unique combinations
    with seeded.app_context():
        from surveyapp.services.extract import wave_frames

        wave = db.session.execute(select(Wave).where(Wave.slug == WAVE_SLUG)).scalar_one()
        _q, responses, _register, _ledger = wave_frames(wave)
    raw = responses[keys].astype(object).where(responses[keys].notna(), "").values.tolist()
    assert exact_smallest_group(raw) == 1

    # CSV over HTTP
    body = client.get(f"{BASE}/download/microdata-csv?report_lang=en").data
    header, rows = csv_keys(body, keys)
    assert len(rows) == 600 and smallest_group(rows, "*") >= K
    assert any("*" in row for row in rows)  # some values had to be suppressed
    ages = {row[keys.index("leeftijd")] for row in rows} - {"*"}
    assert ages <= {"lt40", "40_59", "60plus", "lt60"} and "65plus" not in ages  # coarsened
    children = {row[keys.index("aantal_kinderen")] for row in rows} - {"*", ""}
    assert children and max(int(value) for value in children) <= 3  # top-coded
    assert not any(DATE.search(cell) for cell in body.decode("utf-8-sig").split(","))
    assert not {"id", "started_on", "submitted_on", "day", "wave_id"} & set(header)

    # SPSS over HTTP: numeric codes, value labels, user-missing, measure levels, the weight
    sav = client.get(f"{BASE}/download/microdata-sav?report_lang=en")
    assert sav.status_code == 200
    frame, meta = sav_frame(sav.data, tmp_path)
    assert len(frame) == 600 and smallest_group(blanks(frame[keys]), -1.0) >= K
    for name in ("leeftijd", "entiteit", "tevreden_dienst", "ken_dienst", "kinderen"):
        assert frame[name].dtype.kind == "f", name  # numbers, not text codes
    assert meta.variable_value_labels["tevreden_dienst"][5.0] == "Very satisfied"
    assert meta.variable_value_labels["tevreden_dienst"][99.0] == "Don't know / not applicable"
    assert {"lo": 99.0, "hi": 99.0} in meta.missing_ranges["tevreden_dienst"]
    yes_no = meta.variable_value_labels["kinderen"]
    assert (
        yes_no[1.0] == "Yes" and yes_no[0.0] == "No" and set(frame["kinderen"].dropna()) <= {0.0, 1.0, -1.0}
    )
    assert "suppressed" in meta.variable_value_labels["leeftijd"][-1.0]
    assert {"lo": -1.0, "hi": -1.0} in meta.missing_ranges["leeftijd"]
    assert set(meta.variable_value_labels["leeftijd"].values()) >= {"Under 60", "60 or older"} or set(
        meta.variable_value_labels["leeftijd"].values()
    ) >= {"Under 40", "40 to 59", "60 or older"}
    assert meta.variable_measure["tevreden_dienst"] == "ordinal"
    assert meta.variable_measure["entiteit"] == "nominal"
    assert meta.variable_measure["aantal_kinderen"] == "scale"
    assert meta.variable_measure["gewicht"] == "scale"
    assert meta.column_names_to_labels["gewicht"].startswith("Final weight")
    assert frame["gewicht"].sum() == pytest.approx(1500, rel=1e-6) and frame["gewicht"].min() > 0
    assert meta.variable_value_labels["aantal_kinderen"][3.0] == "3 or more"
    notes = " ".join(meta.notes)
    assert f"{K}-anonymous" in notes and "Sample-unique records" in notes

    # Excel over HTTP, and the codebook
    xlsx = client.get(f"{BASE}/download/microdata-xlsx?report_lang=en")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert smallest_group(xlsx_keys(xlsx.data, keys), "*") >= K
    book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
    assert book.sheetnames == ["Microdata", "Variables", "Disclosure control"]
    codebook = client.get(f"{BASE}/download/codebook?report_lang=en").text
    assert 'id="risk"' in codebook and "quasi-identifier" in codebook and f"{K}-anonymous" in codebook

    # the command line: the same protection
    runner = seeded.test_cli_runner()
    for fmt in ("microdata-csv", "sav", "microdata-xlsx"):
        out = tmp_path / f"cli.{fmt}"
        result = runner.invoke(args=["report", WAVE_SLUG, "--format", fmt, "--lang", "en", "--out", str(out)])
        assert result.exit_code == 0, result.output
        if fmt == "microdata-csv":
            assert smallest_group(csv_keys(out.read_bytes(), keys)[1], "*") >= K
        elif fmt == "sav":
            cli_frame, _meta = sav_frame(out.read_bytes(), tmp_path)
            assert smallest_group(blanks(cli_frame[keys]), -1.0) >= K
        else:
            assert smallest_group(xlsx_keys(out.read_bytes(), keys), "*") >= K
    with seeded.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "download")).scalars().all()
    cli_events = [event for event in events if event.details.get("via") == "cli"]
    assert len(cli_events) == 3 and all(event.details["k_anonymity"] == K for event in cli_events)


def test_open_answers_need_permission_and_purpose_and_viewers_never_see_them(
    seeded: Flask, tmp_path: Path
) -> None:
    client = planner(seeded)
    url = f"{BASE}/download/microdata-csv"
    plain = client.get(f"{url}?lang=en").data.decode("utf-8-sig").splitlines()[0]  # English from here on
    assert "suggesties" not in plain and "mist_wat" not in plain

    no_purpose = client.get(f"{url}?open_answers=1&permission=1")
    assert no_purpose.status_code == 400 and "purpose" in no_purpose.text
    no_permission = client.get(f"{url}?open_answers=1&purpose=Thematische+analyse+voor+het+plan")
    assert no_permission.status_code == 400 and "permission" in no_permission.text
    purpose = "Thematic analysis of suggestions for the strategic plan"
    granted = client.get(f"{url}?open_answers=1&permission=1&purpose={purpose.replace(' ', '+')}")
    assert granted.status_code == 200 and "suggesties" in granted.data.decode("utf-8-sig").splitlines()[0]
    with seeded.app_context():
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert event.details["open_answers"] is True and event.details["purpose"] == purpose
    assert event.details["permission_confirmed"] is True and event.user_email == "planner@example.org"

    # the form asks for both
    page = client.get(f"{BASE}/microdata?lang=en").text
    assert 'name="purpose"' in page and 'name="permission"' in page and "microdata-xlsx" in page

    # the command line needs a purpose too
    runner = seeded.test_cli_runner()
    refused = runner.invoke(
        args=[
            "report",
            WAVE_SLUG,
            "--format",
            "microdata-csv",
            "--open-answers",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert refused.exit_code == 2 and "purpose" in refused.output and "Traceback" not in refused.output

    # contact-person feedback: planners read the texts, viewers only how many answered
    contact = f"/planner/waves/{CONTACT_SLUG}/results?lang=en"
    planner_page = client.get(contact).text
    viewer_page = planner(seeded, "viewer").get(contact).text
    assert 'class="open-answers"' in planner_page
    assert 'id="feedback-heading"' in viewer_page and 'class="open-answers"' not in viewer_page
    assert 'id="open-answers-hidden"' in viewer_page
    texts = re.findall(r'<ul class="open-answers">(.*?)</ul>', planner_page, re.S)
    some_text = re.findall(r"<li>(.*?)</li>", texts[0])[0]
    assert some_text and some_text not in viewer_page


def test_answers_that_would_give_a_suppressed_value_back_are_suppressed_too(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """A question shown only to active staff tells the status of whoever answered it."""
    from surveyapp.analysis.tidy import response_frame
    from surveyapp.questionnaire import build_questionnaire
    from surveyapp.reports import microdata
    from tests.conftest import make_app

    text = {"nl": "x", "en": "x"}
    questionnaire = build_questionnaire(
        {
            "format": "surveyapp/1",
            "id": "proef",
            "languages": ["nl", "en"],
            "title": text,
            "pages": [
                {
                    "id": "p1",
                    "title": text,
                    "questions": [
                        {
                            "id": "status",
                            "type": "single_choice",
                            "label": text,
                            "choices": [
                                {"code": "actief", "label": text},
                                {"code": "gepensioneerd", "label": text},
                            ],
                            "measure": {"type": "group", "register_column": "status"},
                        }
                    ],
                },
                {
                    "id": "p2",
                    "title": text,
                    "questions": [
                        {
                            "id": "pensioen_info",
                            "type": "yes_no",
                            "label": text,
                            "show_if": "status = 'actief'",
                        },
                        {"id": "tevreden", "type": "yes_no", "label": text},
                    ],
                },
            ],
        }
    )
    answers = [{"status": "actief", "pensioen_info": "yes", "tevreden": "yes"}] * 10
    answers += [{"status": "gepensioneerd", "tevreden": "no"}] * 2
    responses = response_frame(questionnaire, answers)
    app = make_app(f"sqlite:///{sqlite_template}", tmp_path)
    with app.test_request_context():
        micro = microdata._assemble(questionnaire, responses, None, "en", False, "Proef", 5)
        rows = list(csv.reader(io.StringIO(microdata.to_csv(micro).decode("utf-8-sig"))))
    header = rows[0]
    retired = rows[11:]
    assert [row[header.index("status")] for row in retired] == ["*", "*"]  # 2 < k = 5: suppressed
    # blank here would say "not asked, so retired": suppressed as well; other answers stay
    assert [row[header.index("pensioen_info")] for row in retired] == ["*", "*"]
    assert [row[header.index("tevreden")] for row in retired] == ["no", "no"]
    assert {row[header.index("pensioen_info")] for row in rows[1:11]} == {"yes"}
