"""The whole journey over HTTPS in a real browser, through a TLS-terminating proxy.

Production runs behind a proxy that terminates TLS and tells the app so (``X-Forwarded-Proto``).
Here the app is served by a real server as in production (``PROXY_FIX_X_FOR=1``,
``SESSION_COOKIE_SECURE=1``, CSRF on) behind ``tests/tls_proxy.py`` with a self-signed
certificate, and Chromium (``--ignore-certificate-errors``) does what its users do: a planner
logs in and sends the invitations (a form POST), the mail lands in the outbox as a ``.eml``, and
a respondent opens the personal link from it, answers every page with "Volgende", reviews and
submits. Before the fix every POST here ended on "Uw pagina is verlopen" (Flask-WTF's HTTPS
check wanted a Referer that ``no-referrer`` never sends); the last step shows that check would
still refuse them, so this test sees the problem it guards against. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from surveyapp.extensions import db
from surveyapp.models import Response
from tests.browser.conftest import launch
from tests.conftest import close_open_waves, make_app
from tests.test_auth import PASSWORD, make_users
from tests.test_invitations import SLUG, make_mail_wave
from tests.tls_proxy import TLSProxy, tls_proxy

pytestmark = pytest.mark.browser

PEOPLE = 2
EXPIRED = ("Uw pagina is verlopen", "Your page expired")
NEXT = "button[name=action][value=next]"
# The respondent's answers, page by page, by field name (the mini questionnaire of the tests).
ANSWERS: list[tuple[str, dict[str, str | list[str]]]] = [
    ("profiel", {"q_status": "actief", "q_kinderen": "2"}),
    ("werk", {"q_contract": "statutair"}),
    ("kennis", {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"}),
    ("gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel", "psychosociaal"]}),
    (
        "tevredenheid",
        {"q_tevreden_pluspas": "4", "q_financieel_detail": "Studiekosten", "q_suggestie": "Over TLS"},
    ),
]


@pytest.fixture(scope="module")
def tls_browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    """Chromium that accepts the proxy's self-signed certificate."""
    instance = launch(playwright, chromium_path, "--ignore-certificate-errors")
    yield instance
    instance.close()


@pytest.fixture
def behind_tls(database_url: str, tmp_path: Path) -> Iterator[tuple[Flask, TLSProxy]]:
    """The app as in production on a real server, and the TLS proxy in front of it."""
    app = make_app(
        database_url,
        tmp_path,
        WTF_CSRF_ENABLED=True,
        TESTING=False,
        PROXY_FIX_X_FOR=1,
        SESSION_COOKIE_SECURE=True,
        MAIL_RATE_PER_SECOND=0,
    )
    make_users(app)
    make_mail_wave(app, people=PEOPLE)
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-https", daemon=True)
    thread.start()
    try:
        with tls_proxy(server.server_port, tmp_path) as proxy:
            app.config["BASE_URL"] = proxy.url  # the links in the mails
            yield app, proxy
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        with app.app_context():
            db.engine.dispose()


def posted_status(page: Any, click: Any) -> int:
    """Press a form button; the HTTP status of the POST itself (a redirect when accepted)."""
    with page.expect_navigation() as navigation:
        click()
    response = navigation.value
    posted = response.request.redirected_from
    if posted is None:
        return int(response.status)
    redirect = posted.response()
    assert posted.method == "POST" and redirect is not None
    return int(redirect.status)


def assert_not_expired(page: Any) -> None:
    text = page.locator("main").inner_text()
    assert not any(words in text for words in EXPIRED), f"{page.url}: {text[:300]}"


def outbox(app: Flask, count: int, timeout: float = 60) -> list[EmailMessage]:
    """The mails in the outbox, parsed as MIME, once ``count`` of them are there."""
    folder = Path(app.config["OUTBOX_DIR"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        if len(files) >= count:
            parser = BytesParser(policy=policy.default)
            return [parser.parsebytes(path.read_bytes()) for path in files]  # type: ignore[misc]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} mails in {folder} after {timeout} s")


def personal_link(message: EmailMessage, base: str) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = str(part.get_content())  # type: ignore[attr-defined]
    found = re.search(re.escape(base) + r"/s/[A-Za-z0-9_-]{20,}", text)
    assert found, f"no personal link to {base} in the mail:\n{text}"
    return found.group(0)


def answer(page: Any, answers: dict[str, str | list[str]]) -> None:
    for name, value in answers.items():
        for one in value if isinstance(value, list) else [value]:
            choice = page.locator(f'input[name="{name}"][value="{one}"]')
            if choice.count():
                choice.check()
            else:
                page.locator(f'[name="{name}"]').fill(one)


def test_planner_and_respondent_over_https(behind_tls: tuple[Flask, TLSProxy], tls_browser: Any) -> None:
    app, proxy = behind_tls
    base = proxy.url

    # The planner logs in and sends the invitations: two form POSTs.
    planner = tls_browser.new_context()
    planner.set_default_timeout(30_000)
    page = planner.new_page()
    login = page.goto(f"{base}/login")
    assert login is not None and login.status == 200
    assert login.headers["strict-transport-security"].startswith("max-age=")  # the app knows it is HTTPS
    page.locator("input[name=email]").fill("planner@example.org")
    page.locator("input[name=password]").fill(PASSWORD)
    status = posted_status(page, lambda: page.locator("main form button[type=submit]").click())
    assert_not_expired(page)
    assert status == 302 and page.url == f"{base}/planner/", page.url
    cookie = next(c for c in planner.cookies() if c["name"] == "session")
    assert cookie["secure"] and cookie["sameSite"] == "Lax" and cookie["httpOnly"]

    page.goto(f"{base}/planner/waves/{SLUG}/mail")
    send = page.locator("form[action$='/mail/send']").filter(has=page.locator("input[value=invitation]"))
    status = posted_status(page, lambda: send.locator("button[type=submit]").click())
    assert_not_expired(page)
    assert status == 303 and "/planner/jobs/" in page.url, (status, page.url)
    planner.close()

    # The respondent opens the link from the mail and answers every page.
    mails = outbox(app, PEOPLE)
    dutch = next(m for m in mails if m["To"].addresses[0].addr_spec == "p0@example.org")
    link = personal_link(dutch, base)
    respondent = tls_browser.new_context()
    respondent.set_default_timeout(30_000)
    page = respondent.new_page()
    opened = page.goto(link)
    assert opened is not None and opened.status == 200 and page.url == f"{base}/survey/", page.url
    page.locator("main a.button").click()
    page.wait_for_url(f"{base}/survey/p/profiel")
    for index, (page_id, answers) in enumerate(ANSWERS):
        assert page.url == f"{base}/survey/p/{page_id}", page.url
        answer(page, answers)
        status = posted_status(page, lambda: page.locator(NEXT).click())
        assert_not_expired(page)
        assert status == 302, f"{page_id}: HTTP {status}: {page.locator('main').inner_text()[:300]}"
        if index + 1 < len(ANSWERS):
            page.wait_for_url(f"{base}/survey/p/{ANSWERS[index + 1][0]}")
    page.wait_for_url(f"{base}/survey/review")
    assert "Studiekosten" in page.locator("main").inner_text()
    status = posted_status(
        page, lambda: page.locator("form[action$='/survey/submit'] button[type=submit]").click()
    )
    assert_not_expired(page)
    assert status == 302 and page.url == f"{base}/survey/thanks", page.url
    respondent.close()

    # Every request reached the app through the proxy, which said it came over TLS.
    assert proxy.forwarded and all(h["X-Forwarded-Proto"] == "https" for h in proxy.forwarded)

    # The check this journey used to trip on: with Flask-WTF's strict Referer rule back on, the
    # same "Volgende" of the second respondent ends on the expired page. The test can see the bug.
    app.config["WTF_CSRF_SSL_STRICT"] = True
    other = next(m for m in mails if m["To"].addresses[0].addr_spec == "p1@example.org")
    strict = tls_browser.new_context()
    page = strict.new_page()
    page.goto(personal_link(other, base))
    page.goto(f"{base}/survey/p/profiel")
    answer(page, ANSWERS[0][1])
    assert posted_status(page, lambda: page.locator(NEXT).click()) == 400
    assert any(words in page.locator("main").inner_text() for words in EXPIRED)
    strict.close()

    # The submitted answers became an anonymous response (at the latest when the wave closes).
    close_open_waves(app)
    with app.app_context():
        stored = db.session.execute(select(Response)).scalars().all()
        assert len(stored) == 1
        assert stored[0].answers["status"] == "actief" and stored[0].answers["suggestie"] == "Over TLS"
