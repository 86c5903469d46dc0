"""Public pages that belong to no other blueprint: the home page and health checks."""

from __future__ import annotations

from flask import Blueprint, render_template
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
    """Readiness: the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means not ready; the message stays in the logs
        db.session.rollback()
        return {"status": "unavailable", "database": "down"}, 503
    return {"status": "ok", "database": "ok"}, 200
