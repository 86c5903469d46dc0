"""Production readiness: `surveyapp check`, health and readiness, logs, headers, rate limits."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from surveyapp.commands.check import command as check_command
from surveyapp.commands.check import production_findings
from surveyapp.observability import JsonFormatter, redact_path
from tests.conftest import make_app
from tests.test_survey_flow import make_wave


def test_check_lists_unsafe_defaults_and_exits_non_zero(app: Flask) -> None:
    with app.app_context():
        result = CliRunner().invoke(check_command, [])
    assert result.exit_code == 1
    for setting in ("DATABASE_URL", "MAIL_SERVER", "REDIS_URL", "SESSION_COOKIE_SECURE", "BASE_URL"):
        if setting != "DATABASE_URL" or "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
            assert setting in result.output


RANDOM_SECRET = "4f9c2e7a1b8d3f6e0a5c9b2d7e1f4a8c3b6d9e2f5a8c1b4d7e0f3a6c9b2e5d8f"


def test_check_passes_a_production_configuration(tmp_path: Path) -> None:
    app = make_app(
        "postgresql://db.internal/surveyapp",
        tmp_path,
        SECRET_KEY=RANDOM_SECRET,
        MAIL_SERVER="smtp.internal",
        REDIS_URL="redis://queue.internal:6379/0",
        RATELIMIT_STORAGE_URI="redis://queue.internal:6379/0",
        SESSION_COOKIE_SECURE=True,
        BASE_URL="https://enquete.example.org",
    )
    assert production_findings(app) == []
    app.config["SECRET_KEY"] = "short"
    app.debug = True
    assert {f.setting for f in production_findings(app)} == {"SECRET_KEY", "FLASK_DEBUG"}


def test_health_and_readiness(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ok", "database": "ok", "down": []}
    broken = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, REDIS_URL="redis://127.0.0.1:1/0"
    ).test_client()
    response = broken.get("/readyz")
    assert response.status_code == 503 and response.json["queue"] == "down"


def test_security_headers_on_every_page(app: Flask) -> None:
    response = app.test_client().get("/")
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # only behind TLS
    secure = app.test_client().get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_request_log_has_request_id_and_no_token(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    tokens = make_wave(app)
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="surveyapp.requests"):
        response = client.get(f"/s/{tokens['p0']}", headers={"X-Request-ID": "abc12345-test"})
    assert response.headers["X-Request-ID"] == "abc12345-test"
    records = [r for r in caplog.records if r.name == "surveyapp.requests"]
    line = JsonFormatter().format(records[-1])
    entry = json.loads(line)
    assert entry["request_id"] == "abc12345-test" and entry["path"] == "/s/[token]"
    assert tokens["p0"] not in line
    assert redact_path("/s/abc/opt-out") == "/s/[token]/opt-out"


def test_request_line_can_be_left_to_the_access_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Under gunicorn (LOG_REQUESTS=0) the access log has the line; the request id is still returned."""
    app = make_app(f"sqlite:///{tmp_path / 'quiet.db'}", tmp_path, LOG_REQUESTS=False)
    with caplog.at_level(logging.INFO, logger="surveyapp.requests"):
        response = app.test_client().get("/healthz", headers={"X-Request-ID": "quiet-1234"})
    assert response.headers["X-Request-ID"] == "quiet-1234"
    assert not [r for r in caplog.records if r.name == "surveyapp.requests"]


def test_personal_link_is_rate_limited_per_token(app: Flask) -> None:
    tokens = make_wave(app)
    client = app.test_client()
    statuses = [client.get(f"/s/{tokens['p1']}").status_code for _ in range(31)]
    assert statuses[:30] == [302] * 30 and statuses[30] == 429
    # Another person behind the same address is not affected.
    assert client.get(f"/s/{tokens['p2']}").status_code == 302


def test_the_check_before_every_request_goes_only_without_limits_for_every_request(tmp_path: Path) -> None:
    # Only routes carry limits, so the extension's check before every request is dropped; with a
    # default limit configured it stays and applies. (A Limiter of its own: the app's extension
    # object keeps a default limit once it has seen one.)
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from surveyapp.app import limit_routes_only
    from surveyapp.extensions import limiter as app_limiter

    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path)
    assert app_limiter._check_request_limit not in app.before_request_funcs[None]
    assert [app.test_client().get("/healthz").status_code for _ in range(5)] == [200] * 5

    for default, kept in ((None, False), ("3 per minute", True)):
        bare = Flask(__name__)
        bare.config.update(RATELIMIT_DEFAULT=default, RATELIMIT_STORAGE_URI="memory://")
        own = Limiter(key_func=get_remote_address, app=bare)
        bare.add_url_rule("/x", "x", lambda: "ok")
        limit_routes_only(bare, own)
        assert (own._check_request_limit in bare.before_request_funcs[None]) is kept
        statuses = [bare.test_client().get("/x").status_code for _ in range(4)]
        assert statuses == ([200, 200, 200, 429] if kept else [200] * 4)


def test_flask_exception_log_has_no_token() -> None:
    import logging as std_logging

    from surveyapp.observability import RedactTokens

    record = std_logging.LogRecord(
        "x",
        std_logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        ("/s/SECRETTOKEN123/opt-out", "GET"),
        None,
    )
    RedactTokens().filter(record)
    assert record.getMessage() == "Exception on /s/[token]/opt-out [GET]"


def test_proxy_fix_trusts_the_configured_hops(app: Flask, tmp_path: Path) -> None:
    behind = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, PROXY_FIX_X_FOR=1)

    @behind.get("/whoami-test")
    def whoami() -> str:
        from flask import request

        return str(request.remote_addr)

    seen = behind.test_client().get("/whoami-test", headers={"X-Forwarded-For": "203.0.113.7"}).text
    assert seen == "203.0.113.7"
    assert app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200


def test_gunicorn_refuses_the_development_secret_key(tmp_path: Path) -> None:
    """gunicorn is the production server: without SECRET_KEY it stops before serving anything."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env["SURVEYAPP_INSTANCE_PATH"] = str(tmp_path)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "-c", str(repo / "gunicorn.conf.py"), "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Booting worker" not in result.stderr


def _production_app(tmp_path: Path, **overrides: object) -> Flask:
    settings: dict[str, object] = {
        "SECRET_KEY": RANDOM_SECRET,
        "MAIL_SERVER": "smtp.internal",
        "REDIS_URL": "redis://queue.internal:6379/0",
        "RATELIMIT_STORAGE_URI": "redis://queue.internal:6379/0",
        "SESSION_COOKIE_SECURE": True,
        "BASE_URL": "https://enquete.example.org",
    }
    settings.update(overrides)
    return make_app("postgresql://db.internal/surveyapp", tmp_path, **settings)


@pytest.mark.parametrize(
    ("overrides", "setting", "words"),
    [
        ({"RATELIMIT_ENABLED": False}, "RATELIMIT_ENABLED", "rate limits are off"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI", "is memory while REDIS_URL is set"),
        (
            {"MAIL_USERNAME": "mailer", "MAIL_PASSWORD": "pw"},
            "MAIL_USE_TLS",
            "password would travel in clear",
        ),
        ({"MAIL_PASSWORD": "pw"}, "MAIL_USE_TLS", "password would travel in clear"),
        ({"SECRET_KEY": "x" * 48}, "SECRET_KEY", "looks guessable"),
        ({"SECRET_KEY": "ab" * 24}, "SECRET_KEY", "looks guessable"),
        ({"SECRET_KEY": "password" * 5}, "SECRET_KEY", "looks guessable"),
        ({"SECRET_KEY": "0123456789abcdef0123456789"}, "SECRET_KEY", "shorter than 32"),
    ],
)
def test_check_refuses_each_unsafe_setting(
    tmp_path: Path, overrides: dict[str, object], setting: str, words: str
) -> None:
    """`surveyapp check` names the one unsafe setting, says why, and exits non-zero."""
    app = _production_app(tmp_path, **overrides)
    with app.app_context():
        result = CliRunner().invoke(check_command, [])
    assert result.exit_code == 1, result.output
    assert f"{setting}: " in result.output and words in result.output, result.output
    assert result.output.strip().endswith("1 problem(s)"), result.output


def test_check_accepts_smtp_credentials_over_tls_and_random_keys(tmp_path: Path) -> None:
    import secrets

    for key in (secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_hex(16)):
        app = _production_app(
            tmp_path, SECRET_KEY=key, MAIL_USERNAME="mailer", MAIL_PASSWORD="pw", MAIL_USE_TLS=True
        )
        assert production_findings(app) == [], key


def _gunicorn(tmp_path: Path, **env_overrides: str) -> Any:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "FLASK_DEBUG"}}
    env["SURVEYAPP_INSTANCE_PATH"] = str(tmp_path)
    env.update(env_overrides)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.run(
        [str(gunicorn), "-c", str(repo / "gunicorn.conf.py"), "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_gunicorn_refuses_debug_mode(tmp_path: Path, value: str) -> None:
    """FLASK_DEBUG would turn Flask's debug mode on under any server: gunicorn will not start."""
    result = _gunicorn(tmp_path, SECRET_KEY=RANDOM_SECRET, FLASK_DEBUG=value)
    assert result.returncode != 0
    assert "FLASK_DEBUG is on" in result.stderr
    assert "Booting worker" not in result.stderr
