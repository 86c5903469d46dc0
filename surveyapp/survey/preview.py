"""Wave previews: a planner walks a draft wave's questionnaire exactly as respondents will.

A preview link (``/preview/<token>``) opens the respondent's own pages, with the same templates,
conditions and language switch as a personal link. Its answers live in ``wave_previews`` only,
never in invitations, drafts or responses, so the monitoring, the analysis and the exports (which
read those) cannot count them. Its submit checks the answers like a real one, then clears them:
nothing is stored.

A preview works while its wave is a draft and for ``PREVIEW_DAYS`` after it was made: opening
the wave ends it (from then on respondents answer through their own links), and so does time.
Like a personal link, only the token's SHA-256 is kept, so only whoever was given the link can
use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update

from surveyapp.extensions import db
from surveyapp.models import QuestionnaireVersion, Wave, WavePreview, utcnow
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import Page
from surveyapp.survey import service

PREVIEW_DAYS = 7  # long enough to test over a few days; a new link is one click or command away

PreviewState = Literal["ok", "unknown", "ended"]


class PreviewError(ValueError):
    """A preview that cannot be made (the wave is no longer a draft)."""


@dataclass(frozen=True)
class CreatedPreview:
    """A new preview: its token (given once, never stored) and when it stops working."""

    token: str
    expires_at: datetime

    def link(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/preview/{self.token}"


def create(wave: Wave, *, created_by: str | None, now: datetime | None = None) -> CreatedPreview:
    """A preview link for a draft wave, in the caller's transaction.

    The wave's expired previews (and their test answers) are deleted on the way.
    """
    if wave.state != "draft":
        raise PreviewError(
            f"the wave {wave.slug} is {wave.state}: a preview is only for a draft wave, before it opens"
        )
    now = now or utcnow()
    db.session.execute(
        delete(WavePreview)
        .where(WavePreview.wave_id == wave.id, WavePreview.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    token = service.new_token()
    expires_at = now + timedelta(days=PREVIEW_DAYS)
    db.session.add(
        WavePreview(
            wave_id=wave.id,
            token_hash=service.hash_token(token),
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
            answers={},
            pages_done=[],
        )
    )
    db.session.flush()
    return CreatedPreview(token, expires_at)


def state_of(*, wave_state: str, expires_at: datetime, now: datetime | None = None) -> PreviewState:
    """Whether a preview still works: only for a draft wave, and until it expires."""
    if expires_at.tzinfo is None:  # SQLite gives the stored UTC time back without its zone
        expires_at = expires_at.replace(tzinfo=UTC)
    if wave_state != "draft" or expires_at <= (now or utcnow()):
        return "ended"
    return "ok"


@dataclass(frozen=True)
class OpenedPreview:
    state: PreviewState
    preview_id: int | None = None


def open_link(token: str) -> OpenedPreview:
    """Look a preview link up by its token's hash."""
    if not token or len(token) > 128:
        return OpenedPreview("unknown")
    row = db.session.execute(
        select(WavePreview.id, Wave.state, WavePreview.expires_at)
        .join(Wave, Wave.id == WavePreview.wave_id)
        .where(WavePreview.token_hash == service.hash_token(token))
    ).one_or_none()
    if row is None:
        return OpenedPreview("unknown")
    preview_id, wave_state, expires_at = row
    return OpenedPreview(state_of(wave_state=wave_state, expires_at=expires_at), preview_id)


_PREVIEWS, _WAVES, _VERSIONS = WavePreview.__table__, Wave.__table__, QuestionnaireVersion.__table__
# What a preview page needs, like the respondent's visit: the wave, its version and the answers.
VISIT = (
    select(
        _WAVES.c.id,
        _WAVES.c.state,
        _WAVES.c.languages,
        _WAVES.c.questionnaire_version_id,
        _VERSIONS.c.content_hash,
        _WAVES.c.anonymous,
        _WAVES.c.suppression_threshold,
        _PREVIEWS.c.expires_at,
        _PREVIEWS.c.answers,
        _PREVIEWS.c.pages_done,
        _PREVIEWS.c.current_page,
        _PREVIEWS.c.revision,
    )
    .select_from(_PREVIEWS)
    .join(_WAVES, _WAVES.c.id == _PREVIEWS.c.wave_id)
    .join(_VERSIONS, _VERSIONS.c.id == _WAVES.c.questionnaire_version_id)
    .where(_PREVIEWS.c.id == bindparam("preview_id"))
)
# A page save, guarded by the revision it read exactly as a respondent's draft is.
_STORE = (
    update(_PREVIEWS)
    .where(_PREVIEWS.c.id == bindparam("of_preview"))
    .where(_PREVIEWS.c.revision == bindparam("read_revision"))
    .values(
        answers=bindparam("new_answers", type_=_PREVIEWS.c.answers.type),
        pages_done=bindparam("new_pages_done", type_=_PREVIEWS.c.pages_done.type),
        current_page=bindparam("new_current_page"),
        revision=_PREVIEWS.c.revision + 1,
    )
)


def save_page(
    questionnaire: Questionnaire,
    preview_id: int,
    draft: service.DraftState,
    page: Page,
    page_answers: dict[str, Any],
    *,
    completed: bool,
) -> dict[str, Any] | None:
    """``service.save_page`` for a preview: the same merge, stored in the preview's row."""
    answers, done, current_page = service.merged_page(
        questionnaire, draft, page, page_answers, completed=completed
    )
    stored = service.execute_outside_transaction(
        _STORE,
        {
            "of_preview": preview_id,
            "read_revision": draft.revision,
            "new_answers": answers,
            "new_pages_done": done,
            "new_current_page": current_page,
        },
    )
    return answers if stored.rowcount == 1 else None


def clear_answers(preview_id: int) -> None:
    """The preview's submit: its test answers go, nothing is stored (caller's transaction)."""
    db.session.execute(
        update(WavePreview)
        .where(WavePreview.id == preview_id)
        .values(answers={}, pages_done=[], current_page=None, revision=WavePreview.revision + 1)
        .execution_options(synchronize_session=False)
    )
