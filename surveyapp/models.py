"""Database models (SQLAlchemy 2.0 typed style). Schema changes go through Alembic migrations.

The anonymity model shapes these tables: an ``Invitation`` knows who was asked and whether they
finished; a ``Response`` knows what was answered but not by whom. There is no foreign key, no
shared id and no shared timestamp between the two: only the response carries a day, its batch's.
A submission waits sealed in ``PendingSubmission`` until it is released in a shuffled batch
(``surveyapp.survey.pending``), so no transaction id or place in a table links the two either.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.extensions import db

# JSONB on PostgreSQL makes answers queryable (and indexable) per question; JSON elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

WAVE_STATES = ("draft", "open", "closed", "archived")
AUDIENCES = ("gerechtigden", "contactpersonen")
ROLES = ("admin", "planner", "viewer")


def utcnow() -> datetime:
    return datetime.now(UTC)


def random_response_id() -> str:
    """Random, so a response's id says nothing about when or by whom it was submitted."""
    return secrets.token_hex(16)


class QuestionnaireVersion(db.Model):  # type: ignore[name-defined]
    """One exact version of a questionnaire file, frozen by its content hash."""

    __tablename__ = "questionnaire_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_key: Mapped[str] = mapped_column(String(64), index=True)
    version_label: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Deferred: large, and only read when a version is parsed (then cached by hash).
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, deferred=True)
    source_text: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Wave(db.Model):  # type: ignore[name-defined]
    """One questionnaire version sent to one audience during one period."""

    __tablename__ = "waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str] = mapped_column(String(32), default="gerechtigden")
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    opens_on: Mapped[date | None] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    languages: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["nl", "en"])
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    suppression_threshold: Mapped[int] = mapped_column(Integer, default=10)
    base_population: Mapped[int | None] = mapped_column(Integer)
    repeated_from_id: Mapped[int | None] = mapped_column(ForeignKey("waves.id"))
    # Which register file column is which (person id, e-mail, language, group columns).
    register_mapping: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Per-wave mail texts (subject/text/html per kind and language); None = the defaults.
    mail_templates: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    questionnaire_version: Mapped[QuestionnaireVersion] = relationship()


class RegisterPerson(db.Model):  # type: ignore[name-defined]
    """A person in a wave's snapshot of the staff register (personal data purged after retention)."""

    __tablename__ = "register_people"
    __table_args__ = (UniqueConstraint("wave_id", "person_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    person_key: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="nl")
    groups: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)


class Invitation(db.Model):  # type: ignore[name-defined]
    """Who was asked and whether they finished; never what they answered."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("register_people.id", ondelete="CASCADE"), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="nl")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    started_on: Mapped[date | None] = mapped_column(Date)
    # Whether, never when: a submission date here could be matched to Response.submitted_on
    # (on a day with one submission, that would name the respondent).
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when a register update of an open wave no longer lists the person (they left): no
    # more mails, and the personal link shows that it no longer works. Cleared when they return.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    person: Mapped[RegisterPerson] = relationship()
    wave: Mapped[Wave] = relationship()


class AccessToken(db.Model):  # type: ignore[name-defined]
    """A personal link's token, stored only as its SHA-256.

    Each mail (invitation, reminder) carries a fresh token, because the sender never knows an
    earlier one; all of an invitation's tokens open the same questionnaire until it is submitted.
    """

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    invitation: Mapped[Invitation] = relationship()


class MailDelivery(db.Model):  # type: ignore[name-defined]
    """One mail of one kind to one invitation: the unique key makes a second one impossible.

    A sender claims the row (commit) before talking to SMTP and marks it sent after, so a crash
    in between leaves a claimed row that a resumed job does not send again (at most once).
    """

    __tablename__ = "mail_deliveries"
    __table_args__ = (UniqueConstraint("invitation_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # invitation | reminder-1 | reminder-2 ...
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))


class Job(db.Model):  # type: ignore[name-defined]
    """A background job's progress, in the database so any app server can show it."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_response_id)
    kind: Mapped[str] = mapped_column(String(32))
    wave_id: Mapped[int | None] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """Who did what, when: written by planner actions, readable by admins, never edited."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class DraftAnswers(db.Model):  # type: ignore[name-defined]
    """In-progress answers kept under the invitation until submission, then moved and deleted.

    Sealed (``surveyapp.crypto``): the answers, the pages done and the current page are one
    padded AES-GCM ciphertext under a key derived from a secret outside the database, so a
    database reader or a backup cannot match a draft to the response it becomes. No time of the
    last save either: like ``Invitation.submitted``, it could be matched to a response's day.
    """

    __tablename__ = "draft_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), unique=True)
    sealed: Mapped[str] = mapped_column(Text)
    # Optimistic concurrency: a page save writes only if the draft is still the revision it read,
    # so two browsers on one link never overwrite each other's page (the loser reads and retries).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WavePreview(db.Model):  # type: ignore[name-defined]
    """A planner's test run of a draft wave: its link (hash only) and its test answers.

    A table of its own, not an invitation: monitoring, the analysis and the exports read
    invitations and responses, so test answers can reach none of them. A preview works only
    while its wave is a draft and until it expires.
    """

    __tablename__ = "wave_previews"

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The test answers, kept like a draft (same shape, same optimistic revision).
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    current_page: Mapped[str | None] = mapped_column(String(64))
    pages_done: Mapped[list[str]] = mapped_column(JSONType, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Response(db.Model):  # type: ignore[name-defined]
    """A submitted, anonymous response: random id, no link to any invitation, day-level date."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_response_id)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    submitted_on: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(8), default="nl")
    source: Mapped[str] = mapped_column(String(16), default="web")  # web | import
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PendingSubmission(db.Model):  # type: ignore[name-defined]
    """A final submission waiting, sealed, for its anonymous batch (see ``surveyapp.survey.pending``).

    It is written in the submit's transaction, so a reader can tell whose it is (same ``xmin`` as
    the invitation's update): hence no invitation id, no time, and answers, language and version
    only as AES-GCM ciphertext padded to a fixed size, under a key that is not in the database.
    """

    __tablename__ = "pending_submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_response_id)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class User(db.Model):  # type: ignore[name-defined]
    """A planner account (admin, planner or viewer)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Cookie sessions live in the browser; rotating this nonce on logout or password change
    # makes every earlier session cookie of the account worthless.
    session_nonce: Mapped[str] = mapped_column(String(32), default=random_response_id)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ActionStatus(db.Model):  # type: ignore[name-defined]
    """The six-monthly status of one action of the strategic plan, as recorded by a planner."""

    __tablename__ = "plan_action_statuses"
    __table_args__ = (UniqueConstraint("plan_key", "action_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_key: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))  # e.g. 2026-H1
    status: Mapped[str] = mapped_column(String(16))  # not_started | under_way | done | dropped
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class IndicatorValue(db.Model):  # type: ignore[name-defined]
    """A value of a manual indicator (not measured by a survey) for one six-month period."""

    __tablename__ = "plan_indicator_values"
    __table_args__ = (UniqueConstraint("plan_key", "indicator_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_key: Mapped[str] = mapped_column(String(64))
    indicator_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
