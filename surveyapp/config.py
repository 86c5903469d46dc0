"""Configuration from environment variables, with zero-configuration embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - flagged by `surveyapp check`  # nosec B105


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance_path / 'surveyapp.sqlite3'}"
    # Heroku-style URLs name the dialect "postgres"; SQLAlchemy wants psycopg 3 explicitly.
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def load_config(instance_path: Path) -> dict[str, Any]:
    """Read every setting from the environment; the defaults give the embedded SQLite set-up."""
    env = os.environ
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or DEFAULT_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        # A failed statement's error (and any log of it) must not carry its parameters: they are
        # answers, e-mail addresses, token hashes.
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
        # Seals drafts in progress (surveyapp.crypto); without it a key derived from SECRET_KEY
        # does. Set it to rotate SECRET_KEY freely; old values in DRAFT_KEY_FALLBACKS (commas).
        "DRAFT_KEY": env.get("DRAFT_KEY") or None,
        "DRAFT_KEY_FALLBACKS": [key for key in env.get("DRAFT_KEY_FALLBACKS", "").split(",") if key],
        # Pooled connections are pinged before use only after this many idle seconds
        # (surveyapp.pool): a dead connection is caught, and a busy server pays no ping.
        "DB_PING_IDLE_SECONDS": float(env.get("DB_PING_IDLE_SECONDS", "1")),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "QUESTIONNAIRE_DIR": env.get(
            "QUESTIONNAIRE_DIR", str(Path(__file__).resolve().parent.parent / "questionnaires")
        ),
        "OUTBOX_DIR": env.get("OUTBOX_DIR", str(instance_path / "outbox")),
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(env.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS")),
        "MAIL_SENDER": env.get("MAIL_SENDER", "Sociale Dienst <enquete@example.org>"),
        "MAIL_ORGANISATION": env.get("MAIL_ORGANISATION", "Sociale Dienst"),
        # Whom respondents can ask about the survey (the thank-you page); a detail left unset is
        # not shown, and without any the page shows no contact section.
        "SERVICE_NAME": env.get("SERVICE_NAME") or env.get("MAIL_ORGANISATION") or "Sociale Dienst",
        "SERVICE_CONTACT_EMAIL": env.get("SERVICE_CONTACT_EMAIL") or None,
        "SERVICE_CONTACT_PHONE": env.get("SERVICE_CONTACT_PHONE") or None,
        "SERVICE_CONTACT_URL": env.get("SERVICE_CONTACT_URL") or None,
        # Sending: 20 mails a second sends 45,000 invitations in under 40 minutes without
        # tripping a mail relay's limits; batches are claimed 200 at a time (at most once).
        "MAIL_RATE_PER_SECOND": float(env.get("MAIL_RATE_PER_SECOND", "20")),
        "MAIL_BATCH_SIZE": int(env.get("MAIL_BATCH_SIZE", "200")),
        "MAIL_COMMIT_EVERY": int(env.get("MAIL_COMMIT_EVERY", "1")),
        "MAIL_RETRIES": int(env.get("MAIL_RETRIES", "3")),
        "MAIL_RETRY_BACKOFF": float(env.get("MAIL_RETRY_BACKOFF", "1")),
        "MAIL_TIMEOUT": float(env.get("MAIL_TIMEOUT", "30")),
        "JOB_STALE_SECONDS": int(env.get("JOB_STALE_SECONDS", "300")),
        "RQ_QUEUE": env.get("RQ_QUEUE", "surveyapp"),
        "BABEL_DEFAULT_LOCALE": "nl",
        "LANGUAGES": ("nl", "en"),
        "WTF_CSRF_TIME_LIMIT": None,  # a respondent may take a long break on one page
        # Flask-WTF's HTTPS check wants a same-origin Referer, which no browser sends under our
        # Referrer-Policy on personal links (no-referrer keeps the token in the URL to us). The
        # token stays required; app.check_request_origin refuses cross-site POSTs by their
        # Origin, Sec-Fetch-Site and (when sent) Referer instead. See README, "Security".
        "WTF_CSRF_SSL_STRICT": False,
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(20 * 1024 * 1024))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE")),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or env.get("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), default=True),
        # Password checks per (account name, client address) and per address: see services/users.py.
        "LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS": env.get(
            "LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS", "5 per 15 minutes"
        ),
        "LOGIN_ATTEMPTS_PER_ADDRESS": env.get("LOGIN_ATTEMPTS_PER_ADDRESS", "30 per hour"),
        "REGISTER_JOBS_AT_ONCE": int(env.get("REGISTER_JOBS_AT_ONCE", "2")),
        # Redis down: Flask-Limiter logs one warning and counts the same route limits in this
        # process's memory until Redis answers again, so respondents and planners keep working.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": _bool(
            env.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"), default=True
        ),
        # A Redis that does not answer costs a request at most these seconds, not a hang.
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2}
        if (env.get("RATELIMIT_STORAGE_URI") or env.get("REDIS_URL") or "").startswith(("redis", "rediss"))
        else {},
        # Planner sessions end after this long without a request, and this long after the login.
        "PLANNER_SESSION_IDLE_MINUTES": float(env.get("PLANNER_SESSION_IDLE_MINUTES", "30")),
        "PLANNER_SESSION_MAX_HOURS": float(env.get("PLANNER_SESSION_MAX_HOURS", "8")),
        # Behind N reverse proxies, trust N X-Forwarded-For/-Proto hops (0 = not behind a proxy).
        # Without it every respondent would share the proxy's address and its rate limit.
        # One JSON line per request from the app; gunicorn.conf.py turns it off when gunicorn's
        # access log (which carries the same request id) is on, so a request is logged once.
        "LOG_REQUESTS": _bool(env.get("LOG_REQUESTS"), default=True),
        "PROXY_FIX_X_FOR": int(env.get("PROXY_FIX_X_FOR", "0")),
        "SUPPRESSION_THRESHOLD": int(env.get("SUPPRESSION_THRESHOLD", "10")),
        # Seals submissions waiting for their anonymous batch (surveyapp.survey.pending); unset:
        # derived from SECRET_KEY. Never stored in the database.
        "ANSWER_KEY": env.get("ANSWER_KEY") or None,
    }
