"""Planner accounts: login, lockout, session revocation, roles on every route, the audit log."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, User
from surveyapp.services.users import create_user

PASSWORD = "correct horse battery"
# Endpoints anyone may reach: respondents, health checks, the login page itself.
PUBLIC_PREFIXES = ("survey.", "main.", "auth.", "static")


def make_users(app: Flask) -> None:
    with app.app_context():
        for role in ("admin", "planner", "viewer"):
            create_user(f"{role}@example.org", PASSWORD, role)
        db.session.commit()


def login(client: FlaskClient, role: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": f"{role}@example.org", "password": password})


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_cli_creates_user_with_hashed_password(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from surveyapp.cli import user_create

    runner = CliRunner()
    with app.app_context():
        result = runner.invoke(
            user_create, ["new@example.org", "--role", "planner", "--password", PASSWORD], obj=None
        )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "new@example.org")).scalar_one()
        assert user.role == "planner"
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash
    with app.app_context():
        short = runner.invoke(user_create, ["x@example.org", "--role", "viewer", "--password", "short"])
    assert short.exit_code != 0 and "12 characters" in short.output


def test_login_logout_and_session_revocation(app: Flask, client: FlaskClient) -> None:
    make_users(app)
    assert client.get("/planner/").status_code == 302
    with client.session_transaction() as session:
        session["stale"] = "from before login"
    response = login(client, "planner")
    assert response.status_code == 302 and response.headers["Location"].endswith("/planner/")
    with client.session_transaction() as session:
        assert "stale" not in session  # a fresh session after login (no fixation)
        copied = dict(session)
    assert client.get("/planner/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/planner/").status_code == 302
    # A copy of the old session cookie is worthless after logout: the nonce rotated.
    thief = app.test_client()
    with thief.session_transaction() as session:
        session.update(copied)
    assert thief.get("/planner/").status_code == 302
    assert audit_actions(app)[-2:] == ["login", "logout"]


def test_wrong_password_and_lockout(app: Flask, client: FlaskClient) -> None:
    make_users(app)
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": "whatever-long"})
    wrong = login(client, "viewer", "wrong password!!")
    assert unknown.status_code == wrong.status_code == 401
    message = "niet juist"  # the same message for an unknown account and a wrong password (Dutch default)
    assert unknown.text.count(message) == wrong.text.count(message) == 1
    for _ in range(4):
        login(client, "viewer", "wrong password!!")
    locked = login(client, "viewer")  # even the right password waits out the lockout
    assert locked.status_code == 429
    assert "login_failed" in audit_actions(app) and "login_locked" in audit_actions(app)


def test_open_redirect_after_login_is_refused(app: Flask, client: FlaskClient) -> None:
    make_users(app)
    response = client.post(
        "/login?next=//evil.example/x", data={"email": "viewer@example.org", "password": PASSWORD}
    )
    assert response.headers["Location"].endswith("/planner/")


def _url_for_rule(rule) -> str:  # type: ignore[no-untyped-def]
    url = rule.rule
    for argument in rule.arguments:
        converter = rule._converters[argument].__class__.__name__
        value = "1" if "Integer" in converter else "x"
        url = re.sub(rf"<(?:[^:<>]+:)?{argument}>", value, url)
    return url


def test_every_planner_route_requires_login_and_role(app: Flask) -> None:
    make_users(app)
    rules = [r for r in app.url_map.iter_rules() if not r.endpoint.startswith(PUBLIC_PREFIXES)]
    assert rules, "no planner routes registered"
    clients = {"anonymous": app.test_client()}
    for role in ("viewer", "planner", "admin"):
        clients[role] = app.test_client()
        login(clients[role], role)
    rank = {"viewer": 1, "planner": 2, "admin": 3}
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        required = getattr(view, "required_role", None)
        assert required in rank, f"{rule.endpoint} has no role check"
        url = _url_for_rule(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            anonymous = clients["anonymous"].open(url, method=method)
            if method == "GET":
                assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], (
                    url,
                    method,
                )
            else:
                assert anonymous.status_code in {400, 401}, (url, method, anonymous.status_code)
            for role in ("viewer", "planner", "admin"):
                response = clients[role].open(url, method=method)
                if rank[role] < rank[required]:
                    assert response.status_code == 403, (url, method, role, response.status_code)
                else:
                    assert response.status_code != 403 and response.status_code < 500, (url, method, role)


def test_admin_pages_manage_accounts_and_show_the_audit_log(app: Flask, client: FlaskClient) -> None:
    make_users(app)
    login(client, "admin")
    created = client.post(
        "/admin/users", data={"email": "Anna@Example.org", "password": PASSWORD, "role": "viewer"}
    )
    assert created.status_code == 302
    duplicate = client.post(
        "/admin/users", data={"email": "anna@example.org", "password": PASSWORD, "role": "viewer"}
    )
    assert duplicate.status_code == 422 and "already exists" in duplicate.text
    with app.app_context():
        anna = db.session.execute(select(User).where(User.email == "anna@example.org")).scalar_one()
        admin_id = db.session.execute(select(User.id).where(User.email == "admin@example.org")).scalar_one()
    changed = client.post(f"/admin/users/{anna.id}", data={f"u{anna.id}-role": "planner"})
    assert changed.status_code == 302
    with app.app_context():
        anna = db.session.get(User, anna.id)
        assert anna is not None and anna.role == "planner" and not anna.active
    refused = client.post(
        f"/admin/users/{admin_id}", data={f"u{admin_id}-role": "viewer", f"u{admin_id}-active": "y"}
    )
    assert refused.status_code == 400
    page = client.get("/admin/audit").text
    assert "user_created" in page and "user_changed" in page and "anna@example.org" in page
