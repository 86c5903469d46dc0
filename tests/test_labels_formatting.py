"""Labels, not codes, in front of people; one formatter of numbers, percentages and dates.

The formatter's outputs in Dutch and English, and every Dutch output of a wave with responses
(the results page, the wave's monitoring, the plan follow-up, the Excel workbook, the PDF
report, the SWO-ART document as Word and PDF) read the way a planner reads them: no group
code or measure key as a word, Dutch sheet names, "12.345,7" and "40,5%", and a SWO-ART
document without internal keys, doubled ids or file names and with margins on page 1.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import date
from html.parser import HTMLParser

import pytest
from docx import Document
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from surveyapp import formatting
from surveyapp.demo import WAVE_SLUG, seed_demo
from surveyapp.extensions import db
from surveyapp.models import Wave
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import MEASURE_TYPES
from surveyapp.reports import data
from surveyapp.reports.notes import analysis_note
from surveyapp.survey.service import questionnaire_of
from tests.test_auth import login, make_users

# --- the formatter --------------------------------------------------------------------------


def test_numbers_and_percentages_in_dutch_and_english() -> None:
    assert formatting.number(12345.67, "nl", 1) == "12.345,7"
    assert formatting.number(12345.67, "en", 1) == "12,345.7"
    assert formatting.number(1234567, "nl") == "1.234.567"
    assert formatting.number(0.5, "nl", 2) == "0,50" and formatting.number(0.5, "en", 2) == "0.50"
    assert formatting.number(12.5, "nl", 2, optional_decimals=True) == "12,5"
    assert formatting.percent(0.405, "nl") == "40,5%"  # no space before the sign
    assert formatting.percent(0.405, "en") == "40.5%"
    assert formatting.percent(0.48, "nl", 0) == "48%"
    assert formatting.percent(123.4567, "nl") == "12.345,7%"
    assert formatting.percent_of_hundred(48.25, "nl") == "48,3%"
    assert formatting.percent_of_hundred(48.0, "en") == "48%"
    assert formatting.points(-0.052, "nl") == "−5,2" and formatting.points(0.052, "en") == "+5.2"
    assert formatting.points(0.0, "nl") == "±0,0"
    assert formatting.pvalue(0.0004, "nl") == "< 0,001" and formatting.pvalue(0.0123, "en") == "0.012"
    for missing in (None, float("nan"), float("inf")):
        assert formatting.number(missing, "nl") == formatting.MISSING == data.SUPPRESSED_MARK
        assert formatting.percent(missing, "en") == formatting.MISSING
    assert formatting.locale_of("fr") == "nl" and formatting.locale_of("en_GB") == "en"


def test_dates_in_words() -> None:
    day = date(2026, 3, 1)
    assert formatting.date_text(day, "nl") == "1 maart 2026"
    assert formatting.date_text(day, "en") == "March 1, 2026"
    assert formatting.date_text("2026-03-01T10:00:00+00:00", "nl") == "1 maart 2026"
    assert formatting.date_text(day, "nl", "medium") == "1 mrt 2026"
    assert formatting.date_text("2026-H1", "nl") == "2026-H1"  # not a date: as it is
    assert formatting.date_text(None, "nl") == formatting.MISSING


def test_chart_axes_use_the_formatter() -> None:
    from surveyapp import charts

    assert (
        charts.percent_axis("nl")(0.405, 0) == "41%"
        and charts.percent_axis("nl", decimals=1)(0.405, 0) == "40,5%"
    )
    assert charts.percent_axis("en", xmax=100, decimals=1)(40.5, 0) == "40.5%"
    assert charts.number_axis("nl", 1)(1.5, 0) == "1,5" and charts.number_axis("en")(12345, 0) == "12,345"
    from matplotlib.dates import date2num

    assert charts.day_axis("nl")(date2num(date(2026, 3, 4)), 0) == "4 mrt"
    assert charts.day_axis("en")(date2num(date(2026, 3, 4)), 0) == "Mar 4"


def test_analysis_notes_in_dutch_with_labels() -> None:
    from tests.analysis.test_measures import small_questionnaire

    questionnaire = small_questionnaire()
    group = next(q for q in questionnaire.questions if q.measure is not None and q.measure.type == "group")
    code = group.choices[0].code
    note = f"Group {group.id!r}: no respondent in {code!r}; those rows have n = 0 and no numbers."
    dutch = analysis_note(note, "nl", questionnaire)
    assert "geen respondent" in dutch and group.choices[0].label["nl"] in dutch
    assert not re.search(rf"\b{re.escape(code)}\b", dutch) or code in group.choices[0].label["nl"]
    english = analysis_note(note, "en", questionnaire)
    assert english.startswith("‘") and "no respondent" in english
    assert "Engelse" in analysis_note("Something new the analysis says.", "nl")
    assert analysis_note("Something new the analysis says.", "en") == "Something new the analysis says."


# --- every Dutch output of a wave -----------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a reader sees of an HTML page (no tags, attributes, scripts or styles)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._hidden -= 1

    def handle_data(self, text: str) -> None:
        if not self._hidden:
            self.parts.append(text)


def visible(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def codes_of(questionnaire: Questionnaire) -> set[str]:
    """Group codes nobody reads as a word (not in any Dutch label) and every measure key."""
    words = set()
    for question in questionnaire.questions:
        texts = [question.label, *(c.label for c in question.choices), *(i.label for i in question.items)]
        for text in texts:
            words.update(re.findall(r"\w+", (text or {}).get("nl", "").lower()))
    codes = {
        choice.code
        for question in questionnaire.questions
        if question.measure is not None and question.measure.type == "group"
        for choice in question.choices
        if choice.code.lower() not in words
    }
    return codes | set(MEASURE_TYPES) | {"satisfaction_mean", "funnel", "funnel_conversion", "no_data"}


def codes_in(text: str, codes: Iterable[str]) -> dict[str, str]:
    """Each code found as a whole word, with the text around it (for the failure message)."""
    found = {}
    for code in codes:
        match = re.search(rf"(?<![\w/#.-]){re.escape(code)}(?![\w/#-])", text)
        if match:
            found[code] = text[max(0, match.start() - 60) : match.end() + 60]
    return found


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return " ".join((page.extract_text() or "") for page in reader.pages)


def docx_text(body: bytes) -> str:
    document = Document(io.BytesIO(body))
    return "\n".join(paragraph.text for paragraph in document.paragraphs)


def xlsx_cells(body: bytes) -> tuple[list[str], list[object]]:
    book = load_workbook(io.BytesIO(body))
    values: list[object] = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            values.extend(value for value in row if value is not None)
    return book.sheetnames, values


def _client(app: Flask) -> FlaskClient:
    make_users(app)
    client = app.test_client()
    assert login(client, "planner").status_code == 302
    assert client.get("/planner/?lang=nl").status_code == 200
    return client


GROUPED = re.compile(r"\b\d{1,3}(?:\.\d{3})+(?:,\d+)?\b")  # 12.345 or 12.345,7
DUTCH_PERCENT = re.compile(r"\b\d+,\d%")  # 40,5%
ENGLISH_DECIMAL = re.compile(r"\b\d+\.\d%")  # 40.5%


@pytest.mark.slow
def test_dutch_outputs_show_labels_and_dutch_numbers(app: Flask) -> None:
    with app.app_context():
        seed_demo(people=1200, responses=450, seed=5, contact_people=30, contact_responses=12)
        db.session.commit()
        wave = db.session.execute(select(Wave).where(Wave.slug == WAVE_SLUG)).scalar_one()
        questionnaire = questionnaire_of(wave.questionnaire_version)
    data.clear_cache()
    codes = codes_of(questionnaire)
    assert {"lt30", "cjm", "contractueel_bepaald", "awareness", "usage"} <= codes
    client = _client(app)
    base = f"/planner/waves/{WAVE_SLUG}"

    # The results page, broken down by age: the age groups' labels, in the questionnaire's order.
    page = client.get(f"{base}/results?group=leeftijd")
    assert page.status_code == 200
    text = visible(page.text)
    assert codes_in(text, codes) == {}
    age = next(q for q in questionnaire.questions if q.id == "leeftijd")
    labels = [choice.label["nl"] for choice in age.choices]
    reach = re.search(r'<table id="reach">(.*?)</table>', page.text, re.S)
    assert reach is not None
    shown = re.findall(r'<th scope="row">([^<]*)</th>', reach.group(1))
    assert shown and shown == [label for label in labels if label in shown]
    assert DUTCH_PERCENT.search(text) and not ENGLISH_DECIMAL.search(text)
    assert "(of all)" not in text and "(mean score)" not in text

    # The wave page's monitoring: questions and answers, not register columns and codes.
    page = client.get(base)
    assert page.status_code == 200
    text = visible(page.text)
    assert codes_in(text, codes) == {}
    assert "Hoe oud bent u" in text and "Jonger dan 30 jaar" in text
    contract = re.search(r'id="groups-contract">(.*?)</table>', page.text, re.S)
    assert contract is not None and "Wat voor contract heeft u" in contract.group(1)
    invited = re.search(r'data-monitor="invited">([^<]*)<', page.text)
    assert invited is not None and invited.group(1) == "1.200"

    # The plan follow-up: what an indicator measures as the questionnaire says it.
    page = client.get("/planner/plans/strategisch-plan-2022-2025")
    assert page.status_code == 200
    text = visible(page.text)
    assert "measure=" not in text and "question=" not in text and "group_var=" not in text
    assert "Jonger dan 30 jaar" in text
    assert codes_in(text, {"lt30", "gebruik_aanbod", "tevreden_dienst"}) == {}
    assert "the baseline wave" not in text and "(yet)" not in text  # technical notes in Dutch too

    # The Excel workbook: Dutch sheet names, labels for codes, numbers as numbers.
    download = client.get(f"{base}/results/download/xlsx?report_lang=nl")
    assert download.status_code == 200
    sheets, cells = xlsx_cells(download.data)
    assert sheets[:1] == ["Schattingen"] and "Respons" in sheets and "Weging" in sheets
    assert "Hoe oud bent u" in sheets and "Wat voor contract heeft u" in sheets
    assert "Per groep – Hoe oud bent u?" in cells
    english = {"Estimates", "Headline", "Funnel", "Reach", "Response rates", "Tests", "Weighting", "Notes"}
    assert not english & set(sheets)
    texts = " \n ".join(str(cell) for cell in cells if isinstance(cell, str))
    assert codes_in(texts, codes) == {}
    assert "(of all)" not in texts and "respondents" not in texts
    assert any(isinstance(cell, float) for cell in cells)

    # The PDF report.
    download = client.get(f"{base}/report.pdf?lang=nl")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    text = pdf_text(download.data)
    assert codes_in(text, codes) == {}
    assert "(of all)" not in text and "Of all" not in text
    assert GROUPED.search(text), "a number of thousands with the Dutch grouping dot"
    assert re.search(r"\b\d+%", text) and not ENGLISH_DECIMAL.search(text)

    # The SWO-ART input as Word: no internal keys, no doubled ids, no file names, margins.
    download = client.get(f"{base}/swoart.docx?lang=nl")
    assert download.status_code == 200
    document = Document(io.BytesIO(download.data))
    text = docx_text(download.data)
    for internal in ("no_data", "as_of", "status:", "swoart_rules", ".yaml", "measure="):
        assert internal not in text, internal
    assert not re.search(r"\b(SD\d|OD[\d.]+): \1:", text)
    assert codes_in(text, codes) == {}
    assert "Stand:" in text  # the plan's indicators: their standing in words
    section = document.sections[0]
    assert section.left_margin and section.left_margin > 0 and section.top_margin and section.top_margin > 0

    # The SWO-ART input as PDF: the same, and page 1 has margins (its text does not touch the edge).
    download = client.get(f"{base}/swoart.pdf?lang=nl")
    assert download.status_code == 200
    text = pdf_text(download.data)
    for internal in ("no_data", "as_of", "swoart_rules", ".yaml"):
        assert internal not in text, internal
    assert codes_in(text, codes) == {}
    first = PdfReader(io.BytesIO(download.data)).pages[0]
    lefts: list[float] = []
    first.extract_text(visitor_text=lambda t, cm, tm, fd, fs: lefts.append(tm[4]) if t.strip() else None)
    assert lefts and min(lefts) > 30  # 18 mm is about 51 pt; without margins text starts at 0
