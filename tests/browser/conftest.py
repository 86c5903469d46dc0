"""Fixtures for the browser tests: headless Chromium (Debian package) and the real app on a live server.

The browser tests skip with a clear reason when there is no Chromium or no axe-core, unless
``SURVEYAPP_REQUIRE_BROWSER=1`` (CI) makes that an error. No browser is ever downloaded: Playwright
drives the system Chromium through ``executable_path``.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from surveyapp.extensions import db
from tests.conftest import REPO, make_app

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
QUESTIONNAIRE = REPO / "questionnaires" / "gerechtigden.yaml"
ARTIFACTS = REPO / "tests" / ".artifacts" / "screenshots"
REQUIRE_BROWSER = os.environ.get("SURVEYAPP_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PEOPLE = 8


def chromium_executable() -> str | None:
    """The system Chromium: $SURVEYAPP_CHROMIUM, else the first browser found on PATH."""
    configured = os.environ.get("SURVEYAPP_CHROMIUM")
    if configured and Path(configured).is_file():
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable(reason: str) -> None:
    """Skip on a laptop without the browser set-up; fail on CI, where it must run."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (SURVEYAPP_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if path is None:
        unavailable(
            "no Chromium found: install it (python3 dev.py test does, as root: apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed (pip install -e .[dev])")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's browser bundle (npm package pinned in tests/browser/package.json)."""
    if not AXE.exists():
        unavailable(f"axe-core missing at {AXE}: run npm install --prefix tests/browser")
    return AXE


@pytest.fixture(scope="session")
def playwright(chromium_path: str) -> Iterator[Any]:
    """One Playwright per test process (its sync API allows no second one alongside)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


def launch(playwright: Any, chromium_path: str, *extra_args: str) -> Any:
    try:
        return playwright.chromium.launch(executable_path=chromium_path, args=[*CHROMIUM_ARGS, *extra_args])
    except Exception as error:  # a broken browser install is an environment problem
        unavailable(f"Chromium at {chromium_path} does not start: {error}")
        raise


@pytest.fixture(scope="session")
def browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    instance = launch(playwright, chromium_path)
    yield instance
    instance.close()


@dataclass
class LiveApp:
    """The app served on a free local port, with a wave of the real questionnaire."""

    app: Flask
    url: str
    tokens: list[str]
    _next: int = field(default=0)

    def token(self) -> str:
        """A fresh, unused personal link token (each test answers with its own invitation)."""
        token = self.tokens[self._next]
        self._next += 1
        return token


def _make_wave(app: Flask) -> list[str]:
    from surveyapp.services.questionnaires import store_file
    from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state

    with app.app_context():
        version, _ = store_file(QUESTIONNAIRE)
        wave = create_wave(version, slug="browser-2026", title="Browser test wave")
        add_register(
            wave,
            (RegisterRow(f"p{i}", f"p{i}@example.org", "nl", {"status": "actief"}) for i in range(PEOPLE)),
        )
        set_state(wave, "open")
        tokens = create_invitations(wave)
        db.session.commit()
        return [tokens[f"p{i}"] for i in range(PEOPLE)]


@pytest.fixture(scope="module")
def live_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The real app with CSRF protection on, served by a threaded werkzeug server."""
    folder = tmp_path_factory.mktemp("browser-app")
    path = folder / "browser.sqlite3"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", folder, WTF_CSRF_ENABLED=True, TESTING=False)
    tokens = _make_wave(app)
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # no line per request in the test output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveApp(app, f"http://127.0.0.1:{server.server_port}", tokens)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        with app.app_context():
            db.engine.dispose()
