"""A planner's whole wave in a real Chromium, from an empty database, on SQLite and PostgreSQL.

Only what a planner has: an account made with the real ``surveyapp user create`` command, the
login page, the wave pages (new wave, register upload and column mapping, preview, opening,
sending with its job page, monitoring, closing, results) and the downloads those pages offer.
Respondents answer from the personal links in the outbox ``.eml`` files (parsed as MIME), each
in a fresh browser context. CSRF protection is on and TESTING off, as in production. Every main
step is screenshotted into tests/.artifacts/screenshots/ and the pages new to the browser tests
are checked with axe-core.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import logging
import os
import random
import re
import shutil
import subprocess  # nosec B404 - the planner's real command line
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from surveyapp.extensions import db
from surveyapp.reports import data
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_planner_pages import DESKTOP, axe_problems
from tests.conftest import REPO, make_app, truncate_all

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SURVEYAPP = str(Path(sys.executable).parent / "surveyapp")
PLANNER = "planner@example.org"
PASSWORD = "journey-password-2026"  # nosec B105 - a test account
SLUG = "gerechtigden-journey"
TITLE = "Bevraging gerechtigden (journey)"
REGISTER = REPO / "examples" / "register.csv"
RESPONDENTS = 12
LINK = re.compile(r"https?://[^\s<>\"]+/s/[A-Za-z0-9_-]{20,}")


@dataclass
class Served:
    """The real app on a live server, its outbox and timings of the journey's steps."""

    backend: str
    app: Flask
    url: str
    outbox: Path
    timings: dict[str, float] = field(default_factory=dict)


def create_planner_with_cli(database_url: str, instance: Path) -> None:
    """The administrator's way: ``surveyapp user create`` in a subprocess on the real database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "journey-cli",
        "SURVEYAPP_INSTANCE_PATH": str(instance),
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(  # nosec B603 - fixed arguments
        [SURVEYAPP, "user", "create", PLANNER, "--role", "planner", "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"surveyapp user create failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Served]:
    """An empty database (only the migrations), one planner account, the app served live."""
    backend = str(request.param)
    if backend == "postgres":
        url = request.getfixturevalue("postgres_migrated")
        truncate_all(url)
    else:
        path = tmp_path / "journey.sqlite3"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    create_planner_with_cli(url, tmp_path / "instance")
    app = make_app(url, tmp_path, WTF_CSRF_ENABLED=True, TESTING=False, REDIS_URL=None)
    data.clear_cache()
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-journey", daemon=True)
    thread.start()
    try:
        yield Served(backend, app, app.config["BASE_URL"], Path(app.config["OUTBOX_DIR"]))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        data.clear_cache()
        with app.app_context():
            db.engine.dispose()


@dataclass
class Planner:
    """The planner's browser tab: screenshots of each step, axe-core on the pages asked for."""

    page: Any
    backend: str
    problems: list[str] = field(default_factory=list)
    steps: int = 0

    def shot(self, name: str, *, audit: bool = False) -> None:
        self.steps += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(ARTIFACTS / f"journey-{self.backend}-{self.steps:02d}-{name}.png"), full_page=True
        )
        if audit:
            self.problems += axe_problems(self.page, name)

    def main_text(self) -> str:
        return str(self.page.locator("main").inner_text())

    def click(self, locator: Any) -> Any:
        """Press a link or button that loads a page; the page's response must not be an error."""
        with self.page.expect_navigation() as navigation:
            locator.click()
        response = navigation.value
        assert response is not None and response.status < 400, (
            f"HTTP {response.status if response else None} at {self.page.url}:\n{self.main_text()}"
        )
        return response


def register_file(folder: Path) -> Path:
    """The example register (30 people, branch `invitations`); until it is there, one like it."""
    if REGISTER.exists():
        return REGISTER
    statuses = ["actief", "actief", "actief", "gepensioneerd"]
    ages = ["lt30", "30_39", "40_49", "50_59", "60_64"]
    lines = ["personeelsnummer;naam;e-mail;taal;status;leeftijd"]
    for number in range(30):
        status = statuses[number % 4]
        age = "65plus" if status == "gepensioneerd" else ages[number % 5]
        language = "en" if number % 5 == 0 else "nl"
        email = f"persoon{number}@example.org"
        lines.append(f"{10001 + number};Persoon {number};{email};{language};{status};{age}")
    path = folder / "register.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def follow_job_page(planner: Planner, seconds: float = 180) -> None:
    """A background job's page: reloaded, as it refreshes itself, until the job no longer runs
    (its "Refresh now" link is gone). The page's own refresh can come first: no click races it."""
    deadline = time.monotonic() + seconds
    while planner.page.get_by_role("link", name="Refresh now").count():
        assert time.monotonic() < deadline, f"the job did not finish:\n{planner.main_text()}"
        time.sleep(0.5)
        response = planner.page.reload()
        assert response is not None and response.status < 400, f"HTTP {response and response.status}"


def read_outbox(outbox: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def personal_link(message: EmailMessage) -> str:
    """The one personal link of an invitation, in its plain text and in its HTML part alike."""
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None, f"no plain text part in the mail to {message['To']}"
    links = set(LINK.findall(plain.get_content()))
    assert len(links) == 1, f"expected one personal link in the mail to {message['To']}: {links}"
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        assert links <= set(LINK.findall(html.get_content())), "the HTML part links elsewhere"
    return links.pop()


def answer_current_page(page: Any, rng: random.Random) -> None:
    """A respondent's choices on one page: one option per radio group (and matrix row), one
    checkbox per checkbox group, a small number, a short text."""
    groups: dict[str, list[Any]] = {}
    for radio in page.locator("main input[type=radio]").all():
        groups.setdefault(str(radio.get_attribute("name")), []).append(radio)
    for options in groups.values():
        rng.choice(options).check()
    boxes: dict[str, list[Any]] = {}
    for box in page.locator("main input[type=checkbox]").all():
        boxes.setdefault(str(box.get_attribute("name")), []).append(box)
    for options in boxes.values():
        options[0].check()
    for field_ in page.locator("main textarea, main input[type=text], main input[type=number]").all():
        numeric = field_.get_attribute("type") == "number" or field_.get_attribute("inputmode") in {
            "numeric",
            "decimal",
        }
        field_.fill(str(rng.randint(1, 3)) if numeric else "Graag meer info.")


def answer_the_survey(browser: Any, link: str, rng: random.Random) -> None:
    """One respondent in a fresh browser context: the link, every page, the review, submit."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        page.goto(link)
        assert page.url.endswith("/survey/"), page.url  # the token left the address bar
        with page.expect_navigation():
            page.locator("main a.button").first.click()
        for _ in range(40):
            if page.url.endswith("/survey/review"):
                break
            answer_current_page(page, rng)
            with page.expect_navigation() as navigation:
                page.locator("button[name=action][value=next]").click()
            posted = navigation.value.request.redirected_from
            main = page.locator("main").inner_text()
            assert posted is not None, f"page not accepted at {page.url}:\n{main}"
        assert page.url.endswith("/survey/review"), page.url
        with page.expect_navigation():
            page.locator("form[action$='/survey/submit'] button[type=submit]").click()
        assert page.url.endswith("/survey/thanks"), page.url
    finally:
        context.close()


def check_download(name: str, content: bytes) -> str:
    """Open a downloaded file with the library of its format; returns the format found."""
    suffix = Path(name).suffix.lower()
    assert content, f"{name} is empty"
    if suffix == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(content))
        assert len(reader.pages) >= 1
        assert reader.pages[0].extract_text().strip(), f"{name}: first page without text"
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(content))
        assert workbook.sheetnames, f"{name}: no sheets"
        assert any(sheet.max_row and sheet.max_row > 1 for sheet in workbook.worksheets), f"{name}: empty"
    elif suffix == ".docx":
        from docx import Document

        document = Document(io.BytesIO(content))
        assert any(p.text.strip() for p in document.paragraphs), f"{name}: no text"
    elif suffix == ".sav":
        import pyreadstat

        with_suffix = Path(os.environ.get("TMPDIR", "/tmp")) / f"journey-{os.getpid()}-{name}"  # nosec B108
        with_suffix.write_bytes(content)
        try:
            frame, meta = pyreadstat.read_sav(str(with_suffix))
        finally:
            with_suffix.unlink()
        assert len(frame) >= 1 and meta.column_names, f"{name}: no rows"
    elif suffix == ".json":
        assert json.loads(content), f"{name}: empty JSON"
    elif suffix == ".csv":
        text = content.decode("utf-8-sig")
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) >= 2, f"{name}: no data rows"
    elif suffix in {".html", ".htm"}:
        text = content.decode("utf-8")
        assert "<html" in text.lower() and "</html>" in text.lower(), f"{name}: not an HTML document"
    elif suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            assert archive.testzip() is None and archive.namelist()
    else:
        raise AssertionError(f"{name}: a download of an unexpected format")
    return suffix.lstrip(".")


def is_attachment(context: Any, url: str) -> bool:
    """Whether a link hands over a file (Content-Disposition: attachment) rather than a page."""
    response = context.request.get(url, max_redirects=0)
    return "attachment" in response.headers.get("content-disposition", "")


def download_everything(planner: Planner, context: Any) -> dict[str, str]:
    """Click every download the results page offers, following links to pages of downloads one
    level deep; each file must open with the library of its format. Returns file name: format."""
    page = planner.page
    results_url = page.url
    found: dict[str, str] = {}

    def save(trigger: Any) -> None:
        with page.expect_download() as waiting:
            trigger.click()
        download = waiting.value
        assert download.failure() is None, download.failure()
        name = download.suggested_filename
        found[name] = check_download(name, Path(download.path()).read_bytes())

    def harvest(section_selector: str) -> list[str]:
        section = page.locator(section_selector)
        pages: list[str] = []
        links = section.locator("a[href]")
        for index in range(links.count()):
            href = str(links.nth(index).get_attribute("href"))
            absolute = href if href.startswith("http") else planner_base(page.url) + href
            if is_attachment(context, absolute):
                save(links.nth(index))
            else:
                pages.append(absolute)
        buttons = section.locator("form button[type=submit], form input[type=submit]")
        for index in range(buttons.count()):
            save(buttons.nth(index))
        return pages

    for other in harvest("section[aria-labelledby=downloads-heading]"):
        response = page.goto(other)
        status = response.status if response is not None else None
        assert status == 200, f"{other}: HTTP {status}"
        planner.shot("downloads-page", audit=True)
        harvest("main")
        page.goto(results_url)
    return found


def planner_base(url: str) -> str:
    match = re.match(r"https?://[^/]+", url)
    assert match
    return match.group(0)


def test_a_planner_runs_a_whole_wave_in_the_browser(
    served: Served, browser: Any, axe_script: Path, tmp_path: Path
) -> None:
    register = register_file(tmp_path)
    started = time.monotonic()
    # bypass_csp only so that axe-core can be injected (the app's CSP forbids every script).
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    planner = Planner(page, served.backend)
    try:
        # --- log in -------------------------------------------------------------------------
        page.goto(f"{served.url}/login?lang=en")
        page.locator("input[name=email]").fill(PLANNER)
        page.locator("input[name=password]").fill(PASSWORD)
        planner.click(page.locator("main form button[type=submit]"))
        assert "/login" not in page.url, f"login failed: {planner.main_text()}"
        planner.shot("home")

        # --- a new wave ----------------------------------------------------------------------
        page.goto(f"{served.url}/planner/waves/")
        planner.click(page.get_by_role("link", name="New wave"))
        planner.shot("new-wave", audit=True)
        page.get_by_label("Title", exact=True).fill(TITLE)
        page.get_by_label("Short name (slug)", exact=True).fill(SLUG)
        page.get_by_label(re.compile("^Entitled staff")).check()
        questionnaire = page.get_by_label("Questionnaire", exact=True)
        options = [str(o) for o in questionnaire.locator("option").all_inner_texts()]
        choice = next(o for o in options if "gerechtigden" in o.lower())
        questionnaire.select_option(label=choice)
        page.get_by_label("Opens on", exact=True).fill(date.today().isoformat())
        page.get_by_label("Closes on", exact=True).fill((date.today() + timedelta(days=21)).isoformat())
        page.get_by_label("Suppression threshold", exact=True).fill("5")
        planner.click(page.get_by_role("button", name="Create the wave"))
        assert page.url.endswith(f"/planner/waves/{SLUG}"), f"{page.url}\n{planner.main_text()}"
        assert TITLE in page.locator("h1").inner_text()
        planner.shot("wave-draft")

        # --- the register: upload, column mapping, import -------------------------------------
        planner.click(page.get_by_role("link", name="Import the register"))
        planner.shot("register-upload", audit=True)
        page.locator("input[type=file]#file").set_input_files(str(register))
        planner.click(page.get_by_role("button", name="Analyse the file"))
        assert page.get_by_label("E-mail address (required)").input_value(), "e-mail column not recognised"
        planner.shot("register-mapping", audit=True)
        page.locator("input[type=file]#file").set_input_files(str(register))
        planner.click(page.get_by_role("button", name="Import", exact=True))
        if "/register/jobs/" in page.url:  # the import runs in the background: follow its page
            planner.shot("register-job", audit=True)
            follow_job_page(planner)
        planner.shot("register-imported", audit=True)
        assert "The register was imported" in planner.main_text(), planner.main_text()
        served.timings["register"] = time.monotonic() - started

        # --- preview: the button on the wave page, then the first page of the questionnaire ---
        planner.click(page.get_by_role("link", name=TITLE, exact=True))
        wave_url = page.url
        planner.click(page.get_by_role("button", name="Try it as a respondent (preview link)"))
        planner.shot("preview-link", audit=True)
        planner.click(page.get_by_role("link", name="Open the preview in Nederlands"))
        assert page.locator("html").get_attribute("lang") == "nl"
        planner.shot("preview-welcome")
        planner.click(page.locator("main a.button").first)
        assert "/survey/p/" in page.url, page.url
        first_heading = page.locator("h1").inner_text()
        answer_current_page(page, random.Random(1))
        planner.shot("preview-first-page")
        planner.click(page.locator("button[name=action][value=next]"))
        assert page.locator("h1").inner_text() != first_heading, "the preview did not accept its first page"
        planner.shot("preview-second-page")
        # The preview's language link is the planner's own language too (one session): back to English.
        planner.click(page.get_by_role("link", name="English"))
        assert page.locator("html").get_attribute("lang") == "en"

        # --- open the wave ------------------------------------------------------------------
        page.goto(wave_url)
        planner.click(page.get_by_role("button", name="Open the wave"))
        assert "/login" not in page.url
        page.goto(wave_url)
        planner.shot("wave-open")
        served.timings["preview and open"] = time.monotonic() - started

        # --- send the invitations and follow the job page until it is done -------------------
        planner.click(page.get_by_role("link", name="Invitations and reminders"))
        planner.shot("mail-overview")
        send = page.get_by_role("button", name="Send the invitations")
        assert send.is_enabled(), f"nothing to send: opening created no invitations\n{planner.main_text()}"
        planner.click(send)
        assert "/jobs/" in page.url, page.url
        planner.shot("mail-job-running", audit=True)
        follow_job_page(planner)
        planner.shot("mail-job-done")
        messages = read_outbox(served.outbox)
        invited = len(messages)
        assert invited >= RESPONDENTS, f"only {invited} invitations in the outbox"
        assert f"{invited} of {invited} processed: {invited} sent, 0 not sent" in planner.main_text()
        served.timings["send"] = time.monotonic() - started

        # --- respondents answer from the links in their mail ----------------------------------
        rng = random.Random(2026)
        for message in messages[:RESPONDENTS]:
            answer_the_survey(browser, personal_link(message), rng)
        served.timings["respondents"] = time.monotonic() - started

        # --- monitoring ---------------------------------------------------------------------
        page.goto(wave_url)
        planner.click(page.get_by_role("link", name="Response monitoring on its own page"))
        planner.shot("monitor", audit=True)
        overall = page.locator("table.monitor-overall")
        assert overall.locator("[data-monitor=invited]").inner_text() == str(invited)
        assert overall.locator("[data-monitor=submitted]").inner_text() == str(RESPONDENTS)
        assert page.locator("table.monitor-groups").count() >= 1, "no response rates by group"

        # --- close the wave, see the results ------------------------------------------------
        page.goto(wave_url)
        planner.click(page.get_by_role("button", name="Close the wave"))
        page.goto(wave_url)
        planner.shot("wave-closed")
        planner.click(page.get_by_role("link", name="Results", exact=True))
        planner.shot("results", audit=True)
        served.timings["close and results"] = time.monotonic() - started

        # --- every download the pages offer ---------------------------------------------------
        formats = download_everything(planner, context)
        assert {"pdf", "xlsx", "docx", "csv", "json"} <= set(formats.values()), formats
        served.timings["downloads"] = time.monotonic() - started
    finally:
        context.close()
        served.timings["total"] = time.monotonic() - started
        steps = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in served.timings.items())
        print(f"\njourney on {served.backend} (seconds since the start): {steps}")
    assert not planner.problems, "\n".join(planner.problems)
