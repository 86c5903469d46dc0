"""Public pages that belong to no other blueprint: the home page and health checks."""

from __future__ import annotations

import socket
from typing import Any

from flask import Blueprint, current_app, render_template, request
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from surveyapp.extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
def ready() -> tuple[dict[str, Any], int]:
    """Readiness: each dependency's state by name ("ok", "down"), 503 when one is down.

    The database always; the job queue's Redis, the rate-limit storage and the mail server when
    configured. Only the database is needed to answer questionnaires (rate limits fall back to
    memory, jobs wait, mails are retried), so ``?need=database`` answers 503 only for the
    dependencies named there: for a load balancer that must not drop every server while Redis
    or the mail server is away.
    """
    config = current_app.config
    checks: dict[str, str] = {"database": _database_state()}
    if config.get("REDIS_URL"):
        checks["queue"] = _redis_state(str(config["REDIS_URL"]))
    if str(config.get("RATELIMIT_STORAGE_URI") or "").startswith(("redis://", "rediss://")):
        checks["rate_limits"] = "ok" if _rate_limit_storage_answers() else "down"
    if config.get("MAIL_SERVER"):
        checks["mail"] = _tcp_state(str(config["MAIL_SERVER"]), int(config.get("MAIL_PORT") or 25))
    needed = [name for name in request.args.get("need", "").split(",") if name in checks] or list(checks)
    down = [name for name, state in checks.items() if state != "ok"]
    healthy = not any(name in down for name in needed)
    body: dict[str, Any] = {"status": "ok" if not down else ("degraded" if healthy else "unavailable")}
    body.update(checks)
    body["down"] = down
    return body, 200 if healthy else 503


def _database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means not ready
        db.session.rollback()
        return "down"
    return "ok"


def _redis_state(url: str) -> str:
    try:
        Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (RedisError, OSError):
        return "down"
    return "ok"


def _rate_limit_storage_answers() -> bool:
    from surveyapp.extensions import limiter

    try:
        return bool(limiter.storage.check())
    except Exception:  # a storage that cannot even be asked is down
        return False


def _tcp_state(host: str, port: int) -> str:
    """Whether the mail server accepts a connection (no SMTP conversation: nothing is sent)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return "ok"
    except OSError:
        return "down"
