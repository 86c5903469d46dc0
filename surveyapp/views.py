"""Public pages that belong to no other blueprint: the home page and health checks."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
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
def ready() -> tuple[dict[str, str], int]:
    """Readiness: the database answers, and the job queue's Redis when one is configured."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any database failure means not ready
        db.session.rollback()
        checks["database"] = "down"
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        try:
            Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
            checks["queue"] = "ok"
        except RedisError:
            checks["queue"] = "down"
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "unavailable", **checks}, 200 if healthy else 503
