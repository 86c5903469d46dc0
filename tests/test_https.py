"""Behind a TLS-terminating proxy: CSRF, referrer policy, caching and planner session expiry.

The app runs as in production behind one proxy (``PROXY_FIX_X_FOR=1``, secure cookies, CSRF on);
every request comes from the proxy with ``X-Forwarded-Proto: https``, so the app sees HTTPS. The
requests carry what Chromium sends under the app's referrer policies: on personal-link pages
(``no-referrer``) no Referer and ``Origin: null``; on planner pages (``same-origin``) our own
origin. The real-browser walk through a TLS proxy is ``tests/browser/test_https_journey.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Response
from surveyapp.survey.service import draft_answers_of
from tests.conftest import close_open_waves, csrf_token_of, make_app
from tests.test_auth import PASSWORD, make_users
from tests.test_survey_flow import make_wave

HOST = "enquete.example.org"
ORIGIN = f"https://{HOST}"
# What the proxy adds to every request it forwards.
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
# What Chromium adds to a form POST on a page with Referrer-Policy: no-referrer ...
FROM_NO_REFERRER_PAGE = {**PROXIED, "Origin": "null", "Sec-Fetch-Site": "same-origin"}
# ... and on a page with Referrer-Policy: same-origin.
FROM_PLANNER_PAGE = {
    **PROXIED,
    "Origin": ORIGIN,
    "Sec-Fetch-Site": "same-origin",
    "Referer": f"{ORIGIN}/login",
}


@pytest.fixture
def https_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(
        database_url,
        tmp_path,
        WTF_CSRF_ENABLED=True,
        PROXY_FIX_X_FOR=1,
        SESSION_COOKIE_SECURE=True,
        BASE_URL=ORIGIN,
    )
    yield application
    with application.app_context():
        db.engine.dispose()


class ThroughProxy:
    """A client that reaches the app through the proxy: plain HTTP to the public host name."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, base_url=f"http://{HOST}", **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, base_url=f"http://{HOST}", **kwargs)


def proxied_client(app: Flask) -> ThroughProxy:
    return ThroughProxy(app)


def test_planner_login_and_a_form_post_over_https(https_app: Flask) -> None:
    make_users(https_app)
    make_wave(https_app)
    client = proxied_client(https_app)
    page = client.get("/login", headers=PROXIED)
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in page.text  # the page's own policy agrees
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in page.headers["Set-Cookie"] and "SameSite=Lax" in page.headers["Set-Cookie"]
    login = client.post(
        "/login",
        data={"email": "planner@example.org", "password": PASSWORD, "csrf_token": csrf_token_of(page.text)},
        headers=FROM_PLANNER_PAGE,
    )
    assert login.status_code == 302, login.text
    assert login.headers["Location"] == "/planner/"

    templates = client.get("/planner/waves/test-2026/mail/templates", headers=PROXIED)
    assert templates.status_code == 200
    preview = client.post(
        "/planner/waves/test-2026/mail/templates",
        data={"action": "preview", "csrf_token": csrf_token_of(templates.text)},
        headers=FROM_PLANNER_PAGE,
    )
    assert preview.status_code == 200, preview.text
    assert preview.headers["Cache-Control"] == "no-store"


def test_respondent_answers_and_submits_over_https_without_any_referer(https_app: Flask) -> None:
    tokens = make_wave(https_app)
    client = proxied_client(https_app)
    opened = client.get(f"/s/{tokens['p0']}", headers=PROXIED)
    assert opened.status_code == 302
    assert opened.headers["Referrer-Policy"] == "no-referrer"  # the token is in this address
    page = client.get("/survey/p/profiel", headers=PROXIED)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in page.text
    assert page.headers["Cache-Control"] == "no-store"

    def send(page_id: str, answers: dict[str, object], html: str) -> str:
        response = client.post(
            f"/survey/p/{page_id}",
            data={**answers, "action": "next", "csrf_token": csrf_token_of(html)},
            headers=FROM_NO_REFERRER_PAGE,
        )
        assert response.status_code == 302, f"{page_id}: {response.status_code} {response.text[:300]}"
        return str(response.headers["Location"])

    steps: list[tuple[str, dict[str, object]]] = [
        ("profiel", {"q_status": "actief", "q_kinderen": "0"}),
        ("werk", {"q_contract": "statutair"}),
        (
            "kennis",
            {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"},
        ),
        ("gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel"]}),
        ("tevredenheid", {"q_tevreden_pluspas": "4", "q_financieel_detail": "Studiekosten"}),
    ]
    html = page.text
    location = ""
    for page_id, answers in steps:
        location = send(page_id, answers, html)
        if location.endswith("/survey/review"):
            break
        html = client.get(location, headers=PROXIED).text
    assert location.endswith("/survey/review")
    review = client.get("/survey/review", headers=PROXIED)
    submitted = client.post(
        "/survey/submit", data={"csrf_token": csrf_token_of(review.text)}, headers=FROM_NO_REFERRER_PAGE
    )
    assert submitted.status_code == 302 and submitted.headers["Location"].endswith("/survey/thanks")
    close_open_waves(https_app)
    with https_app.app_context():
        stored = db.session.execute(select(Response)).scalars().all()
        assert len(stored) == 1 and stored[0].answers["status"] == "actief"


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_post_without_the_right_csrf_token_is_still_refused_under_https(
    https_app: Flask, token: str
) -> None:
    tokens = make_wave(https_app)
    make_users(https_app)
    client = proxied_client(https_app)
    client.get(f"/s/{tokens['p0']}", headers=PROXIED)
    client.get("/survey/p/profiel", headers=PROXIED)
    extra = (
        {}
        if token == "missing"
        else {"csrf_token": "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.bad.sig"}
    )
    refused = client.post(
        "/survey/p/profiel",
        data={"q_status": "actief", "q_kinderen": "1", "action": "next", **extra},
        headers=FROM_NO_REFERRER_PAGE,
    )
    assert refused.status_code == 400
    assert "verlopen" in refused.text  # "Uw pagina is verlopen": the friendly CSRF page
    with https_app.app_context():
        draft = db.session.execute(select(DraftAnswers)).scalars().first()
        saved = None if draft is None else draft_answers_of(draft.invitation_id)
        assert saved is None or "status" not in saved  # nothing was saved

    client.get("/login", headers=PROXIED)
    login = client.post(
        "/login",
        data={"email": "planner@example.org", "password": PASSWORD, **extra},
        headers=FROM_PLANNER_PAGE,
    )
    assert login.status_code == 400
    assert client.get("/planner/", headers=PROXIED).status_code == 302  # still not logged in


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},  # a browser without fetch metadata
        {"Sec-Fetch-Site": "cross-site"},  # Origin hidden ("null") by the attacker's referrer policy
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},  # a sibling subdomain
        {"Referer": "https://evil.example/form.html"},
    ],
    ids=["origin-and-fetch-site", "origin", "fetch-site", "same-site", "referer"],
)
def test_a_cross_site_post_is_refused_even_with_a_valid_token(
    https_app: Flask, headers: dict[str, str]
) -> None:
    """The token, not the Referer, carries CSRF; where the browser says the POST came from
    another site, it is refused as well (a token could have leaked)."""
    make_users(https_app)
    client = proxied_client(https_app)
    page = client.get("/login", headers=PROXIED)
    refused = client.post(
        "/login",
        data={"email": "planner@example.org", "password": PASSWORD, "csrf_token": csrf_token_of(page.text)},
        headers={**PROXIED, **headers},
    )
    assert refused.status_code == 400
    assert client.get("/planner/", headers=PROXIED).status_code == 302


def test_static_files_may_be_cached_pages_not(https_app: Flask) -> None:
    client = proxied_client(https_app)
    css = client.get("/static/css/app.css", headers=PROXIED)
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")
    for path in ("/", "/login", "/healthz"):
        assert client.get(path, headers=PROXIED).headers["Cache-Control"] == "no-store", path


# --------------------------------------------------------------------------------------------
# Planner sessions: 30 minutes idle, 8 hours in all (configurable), on a clock the test moves
# --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, *, minutes: float = 0, hours: float = 0) -> None:
        self.now += minutes * 60 + hours * 3600


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr("surveyapp.auth._now", moved)
    return moved


def logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": "planner@example.org", "password": PASSWORD, "csrf_token": csrf_token_of(page.text)},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/planner/"
    return client


def test_planner_session_ends_after_30_idle_minutes(https_app: Flask, clock: Clock) -> None:
    https_app.config["SESSION_COOKIE_SECURE"] = False  # plain http here: the cookie must travel
    make_users(https_app)
    client = logged_in(https_app)
    clock.advance(minutes=29)
    assert client.get("/planner/").status_code == 200  # used within 30 minutes: the clock restarts
    clock.advance(minutes=29)
    assert client.get("/planner/").status_code == 200
    clock.advance(minutes=31)
    expired = client.get("/planner/")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")
    login_page = client.get(expired.headers["Location"])
    assert "sessie is verlopen" in login_page.text or "session has expired" in login_page.text
    clock.advance(minutes=1)
    assert client.get("/planner/").status_code == 302  # gone for good, not only this once


def test_planner_session_ends_after_8_hours_however_busy(https_app: Flask, clock: Clock) -> None:
    https_app.config["SESSION_COOKIE_SECURE"] = False
    make_users(https_app)
    client = logged_in(https_app)
    for _step in range(23):  # a request every 20 minutes: 7 h 40 min
        clock.advance(minutes=20)
        assert client.get("/planner/").status_code == 200
    clock.advance(minutes=21)  # 8 h 1 min after the login
    assert client.get("/planner/").status_code == 302
    assert logged_in(https_app).get("/planner/").status_code == 200  # a new login starts over


def test_planner_session_limits_are_configurable(database_url: str, tmp_path: Path, clock: Clock) -> None:
    app = make_app(
        database_url,
        tmp_path,
        WTF_CSRF_ENABLED=True,
        PLANNER_SESSION_IDLE_MINUTES=5,
        PLANNER_SESSION_MAX_HOURS=1,
    )
    make_users(app)
    client = logged_in(app)
    clock.advance(minutes=4)
    assert client.get("/planner/").status_code == 200
    clock.advance(minutes=6)
    assert client.get("/planner/").status_code == 302
    client = logged_in(app)
    for _step in range(14):
        clock.advance(minutes=4)
        assert client.get("/planner/").status_code == 200
    clock.advance(minutes=4.5)  # 60.5 minutes after the login
    assert client.get("/planner/").status_code == 302
    with app.app_context():
        db.engine.dispose()
