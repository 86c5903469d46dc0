"""The audit log: append-only records of planner actions."""

from __future__ import annotations

from typing import Any

from surveyapp.extensions import db
from surveyapp.models import AuditEvent


def record(action: str, user_email: str | None, target: str | None = None, **details: Any) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits with the action it records)."""
    event = AuditEvent(action=action, user_email=user_email, target=target, details=details)
    db.session.add(event)
    return event
