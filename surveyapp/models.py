"""Database models (SQLAlchemy 2.0 typed style). Schema changes go through Alembic migrations.

The anonymity model shapes these tables: an ``Invitation`` knows who was asked and whether they
finished; a ``Response`` knows what was answered but not by whom. There is no foreign key, no
shared id and no shared timestamp between the two: only the response carries the day it came.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
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
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source_text: Mapped[str] = mapped_column(Text)
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
    # SHA-256 of a 256-bit random token: the token itself is only in the person's mail.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="nl")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    started_on: Mapped[date | None] = mapped_column(Date)
    # Whether, never when: a submission date here could be matched to Response.submitted_on
    # (on a day with one submission, that would name the respondent).
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)

    person: Mapped[RegisterPerson] = relationship()
    wave: Mapped[Wave] = relationship()


class DraftAnswers(db.Model):  # type: ignore[name-defined]
    """In-progress answers kept under the invitation until submission, then moved and deleted."""

    __tablename__ = "draft_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), unique=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    current_page: Mapped[str | None] = mapped_column(String(64))
    pages_done: Mapped[list[str]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


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
