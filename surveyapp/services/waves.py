"""Waves, their register snapshot and their invitations."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select

from surveyapp.extensions import db
from surveyapp.models import AccessToken, Invitation, QuestionnaireVersion, RegisterPerson, Wave
from surveyapp.services.questionnaires import freeze
from surveyapp.survey.service import hash_token, new_token

# Allowed state changes of a wave; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "draft": {"open"},
    "open": {"closed"},
    "closed": {"open", "archived"},
    "archived": set(),
}


class WaveStateError(ValueError):
    """A wave state change that is not allowed."""


def create_wave(
    version: QuestionnaireVersion,
    *,
    slug: str,
    title: str,
    audience: str = "gerechtigden",
    languages: Iterable[str] = ("nl", "en"),
    anonymous: bool = True,
    opens_on: date | None = None,
    closes_on: date | None = None,
    retention_days: int = 365,
    suppression_threshold: int = 10,
) -> Wave:
    if suppression_threshold < 5:
        raise ValueError("the suppression threshold cannot be below 5")
    wave = Wave(
        slug=slug,
        title=title,
        audience=audience,
        questionnaire_version_id=version.id,
        languages=list(languages),
        anonymous=anonymous,
        opens_on=opens_on,
        closes_on=closes_on,
        retention_days=retention_days,
        suppression_threshold=suppression_threshold,
        state="draft",
    )
    db.session.add(wave)
    db.session.flush()
    return wave


def set_state(wave: Wave, new_state: str) -> None:
    """Move a wave along its life cycle; opening freezes its questionnaire version."""
    if new_state not in TRANSITIONS.get(wave.state, set()):
        raise WaveStateError(f"a {wave.state} wave cannot become {new_state}")
    if new_state == "open":
        freeze(wave.questionnaire_version)
        wave.base_population = count_register(wave.id)
    wave.state = new_state


def count_register(wave_id: int) -> int:
    return int(
        db.session.execute(
            select(func.count()).select_from(RegisterPerson).where(RegisterPerson.wave_id == wave_id)
        ).scalar_one()
    )


@dataclass(frozen=True)
class RegisterRow:
    person_key: str
    email: str | None
    language: str
    groups: Mapping[str, str]
    name: str | None = None


def add_register(wave: Wave, rows: Iterable[RegisterRow], batch_size: int = 5000) -> int:
    """Bulk-insert the wave's register snapshot."""
    count = 0
    batch: list[dict[str, object]] = []
    for row in rows:
        batch.append(
            {
                "wave_id": wave.id,
                "person_key": row.person_key,
                "email": row.email,
                "name": row.name,
                "language": row.language,
                "groups": dict(row.groups),
            }
        )
        if len(batch) >= batch_size:
            db.session.execute(insert(RegisterPerson), batch)
            count += len(batch)
            batch = []
    if batch:
        db.session.execute(insert(RegisterPerson), batch)
        count += len(batch)
    return count


def create_invitations(
    wave: Wave,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """One invitation per register person without one; returns person_key → token.

    The tokens exist only in the returned mapping (for the mails); the database keeps hashes.
    """
    people = db.session.execute(
        select(RegisterPerson.id, RegisterPerson.person_key, RegisterPerson.language)
        .outerjoin(Invitation, Invitation.person_id == RegisterPerson.id)
        .where(RegisterPerson.wave_id == wave.id, Invitation.id.is_(None))
        .order_by(RegisterPerson.id)
    ).all()
    tokens: dict[str, str] = {}
    for start in range(0, len(people), batch_size):
        chunk = people[start : start + batch_size]
        invitation_ids = db.session.scalars(
            insert(Invitation).returning(Invitation.id, sort_by_parameter_order=True),
            [
                {
                    "wave_id": wave.id,
                    "person_id": person_id,
                    "language": language,
                    "reminders_sent": 0,
                    "opted_out": False,
                    "submitted": False,
                }
                for person_id, _, language in chunk
            ],
        ).all()
        token_rows = []
        for (_, person_key, _), invitation_id in zip(chunk, invitation_ids, strict=True):
            token = new_token()
            tokens[person_key] = token
            token_rows.append({"invitation_id": invitation_id, "token_hash": hash_token(token)})
        db.session.execute(insert(AccessToken), token_rows)
        if progress:
            progress(len(chunk))
    return tokens
