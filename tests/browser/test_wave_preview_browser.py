"""A planner previews a draft wave in a real browser: the button, the link page, the pages.

The planner logs in through the real login page (CSRF protection on), presses the wave page's
preview button, opens the preview and switches its language; each page is checked with axe-core
for WCAG 2.0/2.1 A and AA, and nothing is stored as a response.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from surveyapp.extensions import db
from surveyapp.models import Response
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import create_wave
from tests.browser.conftest import QUESTIONNAIRE
from tests.browser.test_planner_pages import DESKTOP, axe_problems
from tests.conftest import make_app
from tests.test_auth import PASSWORD, make_users

pytestmark = pytest.mark.browser

SLUG = "probeer-2026"


@pytest.fixture(scope="module")
def served(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """A draft wave of the staff survey, served live with CSRF protection on."""
    folder = tmp_path_factory.mktemp("browser-preview")
    path = folder / "preview.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", folder, WTF_CSRF_ENABLED=True, TESTING=False)
    with app.app_context():
        version, _ = store_file(QUESTIONNAIRE)
        create_wave(version, slug=SLUG, title="Probeer")
        db.session.commit()
    make_users(app)
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-preview", daemon=True)
    thread.start()
    try:
        yield app, app.config["BASE_URL"]
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        with app.app_context():
            db.engine.dispose()


def test_planner_opens_a_preview_from_the_wave_page(
    served: tuple[Flask, str], browser: Any, axe_script: Path
) -> None:
    app, url = served
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)  # only to inject axe-core
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        page.goto(f"{url}/login?lang=en")
        page.locator("input[name=email]").fill("planner@example.org")
        page.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        page.goto(f"{url}/planner/waves/{SLUG}")
        problems = axe_problems(page, "wave")
        with page.expect_navigation():
            page.get_by_role("button", name="Try it as a respondent (preview link)").click()
        assert "Preview of Probeer" in page.locator("h1").inner_text()
        problems += axe_problems(page, "preview link page")

        with page.expect_navigation():
            page.get_by_role("link", name="Open the preview in Nederlands").click()
        assert page.url.endswith("/survey/")
        assert page.locator("html").get_attribute("lang") == "nl"
        assert "Voorbeeld." in page.locator("main").inner_text()
        problems += axe_problems(page, "preview welcome nl")
        with page.expect_navigation():
            page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        assert "Preview." in page.locator("main").inner_text()
        with page.expect_navigation():
            page.locator("main a.button").first.click()
        assert "/survey/p/" in page.url
        problems += axe_problems(page, "preview page en")
        assert not problems, "\n".join(problems)
    finally:
        context.close()
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 0
