"""The wave report PDF (text, pages, suppression, PNG render) and the report downloads."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent
from surveyapp.reports import pdf
from surveyapp.reports.data import SUPPRESSED_MARK
from tests.analysis.test_measures import small_questionnaire, small_result
from tests.test_auth import login, make_users
from tests.test_extract import seed_wave

SLUG = "analyse-2026"


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


@pytest.fixture
def small_pdf(app: Flask) -> bytes:
    with app.app_context():
        return pdf.render_result_pdf(small_result(), "nl", small_questionnaire())


def test_report_text_and_pages(small_pdf: bytes) -> None:
    text, pages = pdf_text(small_pdf)
    assert 6 <= pages <= 30
    for heading in ("Samenvatting", "Respons", "Bekendheid", "Gebruik en tevredenheid", "Methode", "Bijlage"):
        assert heading in text
    assert "Kish" in text and "80%" in text and "Holm" in text
    assert "Tabel A1" in text


def test_suppressed_cells_show_the_mark_never_a_number(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    result = small_result()
    hidden = [
        row for row in result.estimates if row.suppressed and row.group_var in pdf.group_vars_of(result)
    ]
    assert hidden, "the small data must have suppressed cells"
    monkeypatch.setattr(pdf, "APPENDIX_GROUP_ITEMS", (hidden[0].item,))
    with app.app_context():
        context = pdf.build_context(result, "nl", small_questionnaire())
        suppressed_rows = list(pdf.iter_suppressed_texts(context["appendix"]))
        assert suppressed_rows and all(SUPPRESSED_MARK in cells for cells in suppressed_rows)
        # a hand-checked cell: the first hidden key measure of a group shows the mark, no number
        cell = next(row for row in hidden if row.item in pdf.APPENDIX_GROUP_ITEMS)
        table = next(
            t
            for t in context["appendix"]
            if t.number == pdf.appendix_numbers(result)[f"group:{cell.group_var}"]
        )
        labels = pdf.Labels(result, small_questionnaire(), "nl")
        present = [item for item in pdf.APPENDIX_GROUP_ITEMS if any(r.item == item for r in result.estimates)]
        row = next(
            r
            for r in table.rows
            if not r.get("head") and r["cells"][0] == labels.group(cell.group_var, cell.group)
        )
        assert row["cells"][1 + present.index(cell.item)] == SUPPRESSED_MARK
        data = pdf.render_result_pdf(result, "nl", small_questionnaire())
    text, _pages = pdf_text(data)
    assert SUPPRESSED_MARK in text


def test_english_report(app: Flask) -> None:
    with app.app_context():
        data = pdf.render_result_pdf(small_result(), "en", small_questionnaire())
    text, _pages = pdf_text(data)
    assert "Summary" in text and "Methods" in text and "Appendix" in text and "Kish design effect" in text


def test_first_page_renders_to_png(small_pdf: bytes, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("SURVEYAPP_REQUIRE_BROWSER") == "1":
            pytest.fail("pdftoppm is missing")
        pytest.skip("pdftoppm is missing")
    source = tmp_path / "report.pdf"
    source.write_bytes(small_pdf)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
        check=True,
        timeout=120,
    )
    pngs = list(tmp_path.glob("page*.png"))
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")


DOWNLOADS = (
    (f"/planner/waves/{SLUG}/report.pdf?lang=en", "application/pdf", b"%PDF", "pdf"),
    (f"/planner/waves/{SLUG}/swoart.docx", "application/vnd.openxmlformats", b"PK", "docx"),
    (f"/planner/waves/{SLUG}/swoart.html", "text/html", b"<!doctype html>", "html"),
    (f"/planner/waves/{SLUG}/swoart.pdf", "application/pdf", b"%PDF", "pdf"),
)


def test_downloads_need_the_planner_role_and_are_audited(app: Flask) -> None:
    make_users(app)
    with app.app_context():
        seed_wave(SLUG)
    client = app.test_client()
    for url, _mime, _magic, _fmt in DOWNLOADS:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "viewer")
    for url, _mime, _magic, _fmt in DOWNLOADS:
        assert client.get(url).status_code == 403
    client.post("/logout")
    planner = app.test_client()
    login(planner, "planner")
    for url, mime, magic, _fmt in DOWNLOADS:
        response = planner.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith(mime)
        assert response.data.startswith(magic)
    assert planner.get("/planner/waves/no-such-wave/report.pdf").status_code == 404
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "download")).scalars().all()
        formats = [event.details.get("format") for event in events if event.target == SLUG]
        assert formats == [fmt for *_rest, fmt in DOWNLOADS]
        assert all(event.user_email == "planner@example.org" for event in events)


def test_job_path_with_redis(app: Flask) -> None:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    from surveyapp import jobs
    from surveyapp.models import Job, Wave
    from surveyapp.planner import reports

    app.config["REDIS_URL"] = url
    make_users(app)
    with app.app_context():
        wave_id = seed_wave(SLUG)
        job = Job(
            kind="report:swoart_docx", params={"lang": "nl"}, wave_id=wave_id, created_by="t", state="running"
        )
        db.session.add(job)
        db.session.commit()
        outcome = reports.run_report_job(job, jobs.Progress(job.id))
        assert not outcome.failed and outcome.result["download"].endswith("/download")
        job.state = "done"
        db.session.commit()
        job_id = job.id
        assert db.session.get(Wave, wave_id) is not None
    client = app.test_client()
    login(client, "planner")
    try:
        response = client.get(f"/planner/reports/{job_id}/download")
        assert response.status_code == 200 and response.data.startswith(b"PK")
    finally:
        with app.app_context():
            reports._redis().delete(reports.result_key(job_id))
