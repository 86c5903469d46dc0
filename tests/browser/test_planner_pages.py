"""Accessibility of the planner pages in a real browser: results, waves, monitoring and follow-up.

A small demo wave (1,500 people, 600 responses) is seeded and closed, a planner logs in through
the real login page (CSRF protection on), and each page is checked with axe-core for WCAG 2.0/2.1
A and AA. Every image needs a text alternative; desktop screenshots go to tests/.artifacts/screenshots/.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from surveyapp.demo import WAVE_SLUG, seed_demo
from surveyapp.extensions import db
from surveyapp.models import Wave
from surveyapp.reports import data
from surveyapp.services.waves import set_state
from tests.browser.conftest import ARTIFACTS, AXE
from tests.conftest import make_app
from tests.test_auth import PASSWORD, make_users

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
PLAN_ID = "strategisch-plan-2022-2025"
PAGES = {
    "results": f"/planner/waves/{WAVE_SLUG}/results",
    "results-by-age": f"/planner/waves/{WAVE_SLUG}/results?group=leeftijd",
    "microdata": f"/planner/waves/{WAVE_SLUG}/results/microdata",
    "waves": "/planner/waves/",
    "wave": f"/planner/waves/{WAVE_SLUG}",
    "wave-monitor": f"/planner/waves/{WAVE_SLUG}/monitor",
    "plans": "/planner/plans",
    "plan": f"/planner/plans/{PLAN_ID}",
}


@pytest.fixture(scope="module")
def planner_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with a closed, small demo wave, served live with CSRF protection on."""
    folder = tmp_path_factory.mktemp("browser-planner")
    path = folder / "planner.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", folder, WTF_CSRF_ENABLED=True, TESTING=False)
    with app.app_context():
        seed_demo(people=1500, responses=600, seed=11)
        wave = db.session.execute(select(Wave).where(Wave.slug == WAVE_SLUG)).scalar_one()
        set_state(wave, "closed")
        db.session.commit()
    make_users(app)
    data.clear_cache()
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-planner", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        data.clear_cache()
        with app.app_context():
            db.engine.dispose()


def axe_problems(page: Any, name: str) -> list[str]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    assert result["testEngine"]["name"] == "axe-core"
    problems = []
    for violation in result["violations"]:
        nodes = violation["nodes"]
        targets = "; ".join(" ".join(node["target"]) for node in nodes[:8])
        problems.append(
            f"{name}: axe {violation['id']} ({violation['impact']}): {violation['help']}\n"
            f"    {len(nodes)} node(s): {targets}\n    {nodes[0].get('failureSummary', '')}".rstrip()
        )
    return problems


def test_planner_pages_are_accessible(planner_url: str, browser: Any, axe_script: Path) -> None:
    # bypass_csp only so that axe-core can be injected (the app's CSP forbids every script).
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        page.goto(f"{planner_url}/login")
        page.locator("input[name=email]").fill("planner@example.org")
        page.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        assert "/login" not in page.url, f"login failed: {page.locator('main').inner_text()}"

        problems: list[str] = []
        images = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name, path in PAGES.items():
            response = page.goto(planner_url + path)
            status = response.status if response is not None else None
            assert status == 200, f"{name}: HTTP {status}"
            problems += axe_problems(page, name)
            for img in page.locator("img").all():
                images += 1
                alt = (img.get_attribute("alt") or "").strip()
                if not alt:
                    problems.append(f"{name}: <img src={img.get_attribute('src')!r}> without alt text")
            page.screenshot(path=str(ARTIFACTS / f"planner-{name}-desktop.png"), full_page=True)
        assert images > 0, "no charts found on the planner pages"
        report = "\n".join(problems)
        assert not problems, f"{len(problems)} problem(s) on {len(PAGES)} pages:\n{report}"
    finally:
        context.close()
