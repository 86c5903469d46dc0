"""The respondent's way through a survey: open a link, save pages, submit anonymously.

Service functions take explicit arguments and leave committing to the caller (the view), so
the same steps serve the web flow, imports, the demo and the tests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

import psycopg
from flask import Flask, current_app
from psycopg.types.json import Jsonb
from sqlalchemy import ClauseElement, Connection, Engine, Executable, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

from surveyapp import crypto
from surveyapp.extensions import db
from surveyapp.models import AccessToken, DraftAnswers, Invitation, QuestionnaireVersion, Wave
from surveyapp.pool import HeldConnections
from surveyapp.questionnaire import Questionnaire, build_questionnaire
from surveyapp.questionnaire.model import Page
from surveyapp.survey import pending

TOKEN_BYTES = 32  # 256 bits: far beyond guessing, and only its hash is stored


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def issue_token(invitation_id: int) -> str:
    """A fresh personal-link token for an invitation; only its hash is stored."""
    token = new_token()
    db.session.add(AccessToken(invitation_id=invitation_id, token_hash=hash_token(token)))
    return token


def hash_token(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is a safe one-way lookup key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def today() -> date:
    return datetime.now(UTC).date()


# Versions are content-addressed and never change, so a parsed questionnaire can be kept for the
# life of the process under its hash (safe across databases, unlike a row id).
_QUESTIONNAIRES: dict[str, Questionnaire] = {}


def questionnaire_by_hash(content_hash: str, version_id: int) -> Questionnaire:
    """The parsed questionnaire of a stored version; its JSON is read only on the first use."""
    cached = _QUESTIONNAIRES.get(content_hash)
    if cached is None:
        content = db.session.execute(
            select(QuestionnaireVersion.content).where(QuestionnaireVersion.id == version_id)
        ).scalar_one()
        cached = build_questionnaire(content, source=f"version {content_hash[:12]}")
        if len(_QUESTIONNAIRES) > 64:
            _QUESTIONNAIRES.clear()
        _QUESTIONNAIRES[content_hash] = cached
    return cached


def questionnaire_of(version: QuestionnaireVersion) -> Questionnaire:
    """The validated model of a stored, frozen questionnaire version (cached by hash)."""
    return questionnaire_by_hash(version.content_hash, version.id)


LinkState = Literal["ok", "unknown", "submitted", "closed", "withdrawn"]


@dataclass(frozen=True)
class LinkCheck:
    state: LinkState
    invitation: Invitation | None = None


def check_token(token: str) -> LinkCheck:
    """Look an invitation up by the hash of its token and say whether it can be answered."""
    if not token or len(token) > 128:
        return LinkCheck("unknown")
    invitation = db.session.execute(
        select(Invitation)
        .join(AccessToken, AccessToken.invitation_id == Invitation.id)
        .where(AccessToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if invitation is None:
        return LinkCheck("unknown")
    return check_invitation(invitation)


def link_state(*, submitted: bool, wave_state: str, withdrawn: bool = False) -> LinkState:
    """Whether an invitation can still be answered (not once withdrawn from the register)."""
    if submitted:
        return "submitted"
    if withdrawn:
        return "withdrawn"
    if wave_state != "open":
        return "closed"
    return "ok"


def check_invitation(invitation: Invitation) -> LinkCheck:
    state = link_state(
        submitted=invitation.submitted,
        wave_state=invitation.wave.state,
        withdrawn=invitation.withdrawn_at is not None,
    )
    return LinkCheck(state, invitation)


def start(invitation: Invitation) -> DraftAnswers:
    """Mark the invitation started and return its draft (created on first visit)."""
    if invitation.started_on is None:
        invitation.started_on = today()
    draft = draft_of(invitation.id)
    if draft is None:
        draft = DraftAnswers(invitation_id=invitation.id, sealed=seal_empty_draft(invitation.id))
        db.session.add(draft)
        db.session.flush()
    return draft


@dataclass(frozen=True)
class OpenedLink:
    """A personal link opened by a respondent: whose invitation, in which languages."""

    state: LinkState
    invitation_id: int | None = None
    language: str | None = None  # the person's own language
    languages: tuple[str, ...] = ()  # the wave's


_TOKENS, _INVITATIONS, _WAVES = AccessToken.__table__, Invitation.__table__, Wave.__table__
_DRAFT_ROWS = DraftAnswers.__table__
# Built once: every respondent opens a link at least once, so this is one statement of columns.
_OPEN_LINK = (
    select(
        _INVITATIONS.c.id,
        _INVITATIONS.c.submitted,
        _INVITATIONS.c.started_on,
        _INVITATIONS.c.language,
        _WAVES.c.state,
        _WAVES.c.languages,
        _DRAFT_ROWS.c.id,
        _INVITATIONS.c.withdrawn_at,
    )
    .select_from(_TOKENS)
    .join(_INVITATIONS, _INVITATIONS.c.id == _TOKENS.c.invitation_id)
    .join(_WAVES, _WAVES.c.id == _INVITATIONS.c.wave_id)
    .outerjoin(_DRAFT_ROWS, _DRAFT_ROWS.c.invitation_id == _INVITATIONS.c.id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)
# A draft is created once; two browsers opening the link at the same moment create one.
_CREATE_DRAFT = {
    "postgresql": postgresql_insert(_DRAFT_ROWS).on_conflict_do_nothing(index_elements=["invitation_id"]),
    "sqlite": sqlite_insert(_DRAFT_ROWS).on_conflict_do_nothing(index_elements=["invitation_id"]),
}
_MARK_STARTED = (
    update(_INVITATIONS)
    .where(_INVITATIONS.c.id == bindparam("invitation_id"), _INVITATIONS.c.started_on.is_(None))
    .values(started_on=bindparam("today"))
)


def open_link(token: str) -> OpenedLink:
    """Look a personal link up and, when it can be answered, make sure its draft exists.

    On the first visit the draft is created and the invitation marked started: two statements,
    each safe on its own and when repeated (a later visit finds both done and writes nothing).
    """
    if not token or len(token) > 128:
        return OpenedLink("unknown")
    with connection_outside_transaction() as connection:
        row = connection.execute(_OPEN_LINK, {"token_hash": hash_token(token)}).one_or_none()
        if row is None:
            return OpenedLink("unknown")
        invitation_id, submitted, started_on, language, wave_state, languages, draft_id, withdrawn_at = row
        state = link_state(submitted=submitted, wave_state=wave_state, withdrawn=withdrawn_at is not None)
        if state == "ok":
            if draft_id is None:
                create = _CREATE_DRAFT[connection.dialect.name]
                connection.execute(
                    create, {"invitation_id": invitation_id, "sealed": seal_empty_draft(invitation_id)}
                )
            if started_on is None:
                connection.execute(_MARK_STARTED, {"invitation_id": invitation_id, "today": today()})
    return OpenedLink(state, invitation_id, language, tuple(languages or ()))


def draft_of(invitation_id: int, *, for_update: bool = False) -> DraftAnswers | None:
    query = select(DraftAnswers).where(DraftAnswers.invitation_id == invitation_id)
    if for_update:
        # Two browsers on the same link: serialise page saves so no page is lost.
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


@dataclass(frozen=True)
class Navigation:
    """Where a respondent is: the visible pages given their answers so far."""

    pages: list[Page]

    def index(self, page_id: str) -> int | None:
        return next((i for i, page in enumerate(self.pages) if page.id == page_id), None)

    def after(self, page_id: str) -> Page | None:
        index = self.index(page_id)
        if index is None or index + 1 >= len(self.pages):
            return None
        return self.pages[index + 1]

    def before(self, page_id: str) -> Page | None:
        index = self.index(page_id)
        if index is None or index == 0:
            return None
        return self.pages[index - 1]


def navigation(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> Navigation:
    return Navigation(questionnaire.visible_pages(answers))


@dataclass(frozen=True)
class DraftState:
    """A draft's contents as plain values: what the page views read and write."""

    answers: dict[str, Any]
    pages_done: list[str]
    current_page: str | None
    revision: int = 0

    @classmethod
    def of(
        cls, answers: Any, pages_done: Any, current_page: str | None, revision: int | None = 0
    ) -> DraftState:
        """From plain stored values (a preview's JSON columns may be NULL), as fresh containers."""
        return cls(dict(answers or {}), list(pages_done or []), current_page, revision or 0)


def seal_draft(
    invitation_id: int, answers: dict[str, Any], pages_done: list[str], current_page: str | None
) -> str:
    """A draft's contents as stored in ``draft_answers.sealed`` (see ``surveyapp.crypto``)."""
    return crypto.keys().seal_draft(invitation_id, crypto.DraftContents(answers, pages_done, current_page))


def seal_empty_draft(invitation_id: int) -> str:
    return crypto.keys().seal_draft(invitation_id, crypto.EMPTY_DRAFT)


def decrypt_draft(invitation_id: int, sealed: str, revision: int | None = 0) -> DraftState:
    """A stored draft's contents (raises ``crypto.SealError`` when no configured key opens it)."""
    contents = crypto.keys().open_draft(invitation_id, sealed)
    return DraftState(contents.answers, contents.pages_done, contents.current_page, revision or 0)


def draft_answers_of(invitation_id: int) -> dict[str, Any] | None:
    """The answers of an invitation's draft (None without a draft), read in the caller's session."""
    row = db.session.execute(
        select(DraftAnswers.sealed).where(DraftAnswers.invitation_id == invitation_id)
    ).one_or_none()
    return None if row is None else decrypt_draft(invitation_id, row.sealed).answers


AUTOCOMMIT_ENGINE = "surveyapp.autocommit_engine"
HELD_CONNECTIONS = "surveyapp.held_connections"


def install_autocommit_engine(app: Flask) -> None:
    """Give the app ``db.engine`` without transactions (same pool), for ``connection_outside_transaction``,
    and the per-thread connections that ``execute_outside_transaction`` keeps on PostgreSQL."""
    with app.app_context():
        app.extensions[AUTOCOMMIT_ENGINE] = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        if _psycopg(db.engine):
            app.extensions[HELD_CONNECTIONS] = HeldConnections(db.engine, app.config["DB_PING_IDLE_SECONDS"])


def _psycopg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


@contextmanager
def connection_outside_transaction() -> Iterator[Connection]:
    """A pooled connection for statements that need no transaction around them.

    Respondent pages run on every request of every respondent: each reads with one statement
    and a page save writes with one more (guarded by the draft's revision), and a single
    statement is atomic on its own. So they skip BEGIN/COMMIT round trips and the ORM session.
    """
    engine: Engine = current_app.extensions[AUTOCOMMIT_ENGINE]
    with engine.connect() as connection:
        yield connection


@dataclass(frozen=True)
class Outcome:
    """What one statement gave: its first row (for a SELECT) and the rows it touched."""

    row: Any
    rowcount: int


def execute_outside_transaction(statement: Executable, params: dict[str, Any]) -> Outcome:
    """Run one of the hot statements outside a transaction (see ``connection_outside_transaction``).

    On PostgreSQL with psycopg the statement, compiled once, goes to the driver directly on the
    connection this thread keeps (``pool.HeldConnections``): SQLAlchemy's execution machinery
    costs more than psycopg itself for these small statements (about 50 µs a statement against
    40), a pool checkout and checkin as much again, and every request of every respondent runs
    one or two of them. Elsewhere (SQLite) SQLAlchemy runs it.
    """
    engine: Engine = current_app.extensions[AUTOCOMMIT_ENGINE]
    if not _psycopg(engine):
        with engine.connect() as connection:
            result = connection.execute(statement, params)
            return Outcome(result.first() if result.returns_rows else None, result.rowcount)
    sql, defaults, json_params = _compiled_for_psycopg(statement, engine)
    values = {**defaults, **params}
    for name in json_params:
        values[name] = Jsonb(values[name])
    connections: HeldConnections = current_app.extensions[HELD_CONNECTIONS]
    held = connections.connection()
    try:
        with held.driver.cursor() as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone() if cursor.description is not None else None
            outcome = Outcome(row, cursor.rowcount)
    except psycopg.Error as error:
        connections.failed(held, error)
        raise
    connections.done(held)
    return outcome


_PSYCOPG_STATEMENTS: dict[int, tuple[str, dict[str, Any], tuple[str, ...]]] = {}


def _compiled_for_psycopg(
    statement: Executable, engine: Engine
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The statement's SQL for psycopg, its fixed parameters, and which parameters are JSON."""
    found = _PSYCOPG_STATEMENTS.get(id(statement))
    if found is None:
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=engine.dialect))
        json_params = tuple(
            name for name, bind in compiled.binds.items() if isinstance(bind.type, sqltypes.JSON)
        )
        defaults = {name: value for name, value in compiled.params.items() if value is not None}
        found = (compiled.string, defaults, json_params)
        _PSYCOPG_STATEMENTS[id(statement)] = found
    return found


_DRAFTS = DraftAnswers.__table__
_LOCK_DRAFT = (
    select(_DRAFTS.c.sealed, _DRAFTS.c.revision)
    .where(_DRAFTS.c.invitation_id == bindparam("invitation_id"))
    .with_for_update()
)
# The write of every page save, built once (with bound parameters) rather than per request. It
# matches only the revision the page read: a save from another browser in between makes it match
# nothing, and the page is merged again into the newer draft (nothing is overwritten).
_STORE_DRAFT = (
    update(_DRAFTS)
    .where(_DRAFTS.c.invitation_id == bindparam("of_invitation"))
    .where(_DRAFTS.c.revision == bindparam("read_revision"))
    .values(sealed=bindparam("new_sealed"), revision=_DRAFTS.c.revision + 1)
)


def lock_draft(invitation_id: int) -> DraftState | None:
    """The draft under a row lock (submit): a page save in between waits, then finds it gone."""
    row = db.session.execute(_LOCK_DRAFT, {"invitation_id": invitation_id}).one_or_none()
    if row is None:
        return None
    return decrypt_draft(invitation_id, *row)


def save_page(
    questionnaire: Questionnaire,
    invitation_id: int,
    draft: DraftState,
    page: Page,
    page_answers: Mapping[str, Any],
    *,
    completed: bool,
) -> dict[str, Any] | None:
    """Merge one page's answers into the draft; answers made irrelevant by a change are dropped.

    Returns the stored answers, or None when the draft is no longer the revision that was read
    (another browser saved or submitted in between): the caller reads it again and retries.
    """
    answers, done, current_page = merged_page(questionnaire, draft, page, page_answers, completed=completed)
    stored = execute_outside_transaction(
        _STORE_DRAFT,
        {
            "of_invitation": invitation_id,
            "read_revision": draft.revision,
            "new_sealed": seal_draft(invitation_id, answers, done, current_page),
        },
    )
    return answers if stored.rowcount == 1 else None


def merged_page(
    questionnaire: Questionnaire,
    draft: DraftState,
    page: Page,
    page_answers: Mapping[str, Any],
    *,
    completed: bool,
) -> tuple[dict[str, Any], list[str], str]:
    """A draft with one page's answers merged in: its answers, pages done and current page.

    Shared by respondents' drafts and planners' previews (``surveyapp.survey.preview``).
    """
    answers = dict(draft.answers)
    for key, value in page_answers.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    # The page's own keys that are no longer shown (a matrix row hidden by now) go too.
    answers = questionnaire.clean_answers(answers)
    done = [p for p in draft.pages_done if p != page.id]
    if completed:
        done.append(page.id)
    following = navigation(questionnaire, answers).after(page.id)
    return answers, done, following.id if (completed and following) else page.id


def missing_required(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> Page | None:
    """The first visible page with a required question left unanswered (None if complete)."""
    for page in questionnaire.visible_pages(answers):
        for question in page.questions:
            if not question.required or not questionnaire.question_visible(question, answers):
                continue
            keys = questionnaire.shown_answer_keys(question, answers)
            if any(answers.get(key) in (None, "", []) for key in keys):
                return page
    return None


SubmitOutcome = Literal["submitted", "already_submitted", "incomplete", "closed"]


@dataclass(frozen=True)
class SubmitResult:
    outcome: SubmitOutcome
    page: Page | None = None  # where to go for an incomplete questionnaire


_WAVE_STATE_HELD = (
    select(_WAVES.c.state)
    .where(_WAVES.c.id == bindparam("wave_id"))
    # KEY SHARE (what the pending row's foreign key takes anyway): a close (FOR UPDATE) waits
    # for this submit, or this submit waits for the close and then reads "closed".
    .with_for_update(read=True, key_share=True)
)


def submit(
    questionnaire: Questionnaire, *, wave_id: int, version_id: int, invitation_id: int, language: str
) -> SubmitResult:
    """Make the submission final, exactly once, in the caller's transaction.

    The invitation is marked submitted and the draft deleted; the answers go, sealed and without
    the invitation, to the pending store, from which ``pending.release`` makes anonymous responses
    in shuffled batches (nothing this transaction writes can be joined to a response).
    The conditional UPDATE is the guard against double submits: under concurrent submits on
    PostgreSQL the second UPDATE waits for the first to commit, then matches no row.
    """
    # The wave first, then the draft: the order in which a close locks them too (the close deletes
    # the drafts of those who did not submit), so a submit and a close never wait on each other
    # in a cycle. A submit that meets a closed wave says so, whatever became of its draft.
    if db.session.execute(_WAVE_STATE_HELD, {"wave_id": wave_id}).scalar_one() != "open":
        return SubmitResult("closed")
    draft = lock_draft(invitation_id)
    # Read the flag fresh (not from the identity map): a simultaneous submit that held the draft's
    # lock has committed by now, and then this one must say "already answered", not "incomplete".
    already = db.session.execute(
        select(Invitation.submitted).where(Invitation.id == invitation_id)
    ).scalar_one()
    if already:
        return SubmitResult("already_submitted")
    answers = questionnaire.clean_answers(draft.answers if draft else {})
    incomplete = missing_required(questionnaire, answers)
    if incomplete is not None:
        return SubmitResult("incomplete", incomplete)
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.submitted.is_(False))
        .values(submitted=True)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return SubmitResult("already_submitted")
    store_submission(wave_id=wave_id, version_id=version_id, language=language, answers=answers)
    db.session.execute(delete(DraftAnswers).where(DraftAnswers.invitation_id == invitation_id))
    return SubmitResult("submitted")


def store_submission(*, wave_id: int, version_id: int, language: str, answers: dict[str, Any]) -> None:
    """Keep a final submission's answers until its anonymous batch (see ``surveyapp.survey.pending``)."""
    pending.queue(wave_id=wave_id, version_id=version_id, language=language, answers=answers)
