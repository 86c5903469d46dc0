"""Store questionnaire files as frozen, content-addressed versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import QuestionnaireVersion
from surveyapp.questionnaire import Questionnaire, parse_questionnaire


def store_version(text: str, source: str = "<questionnaire>") -> tuple[QuestionnaireVersion, Questionnaire]:
    """Validate questionnaire text and store it once per content hash (idempotent)."""
    questionnaire = parse_questionnaire(text, source=source)
    existing = db.session.execute(
        select(QuestionnaireVersion).where(QuestionnaireVersion.content_hash == questionnaire.content_hash)
    ).scalar_one_or_none()
    if existing is not None:
        return existing, questionnaire
    version = QuestionnaireVersion(
        questionnaire_key=questionnaire.id,
        version_label=questionnaire.version_label,
        content_hash=questionnaire.content_hash,
        content=dict(questionnaire.source),
        source_text=text,
    )
    db.session.add(version)
    db.session.flush()
    return version, questionnaire


def store_file(path: str | Path) -> tuple[QuestionnaireVersion, Questionnaire]:
    path = Path(path)
    return store_version(path.read_text(encoding="utf-8"), source=str(path))


def freeze(version: QuestionnaireVersion) -> None:
    """A version used by an open wave never changes: editing the file makes a new version."""
    if version.frozen_at is None:
        version.frozen_at = datetime.now(UTC)
