"""Final submissions wait, sealed, and become anonymous responses in shuffled batches.

A submit updates its invitation (``submitted = true``) in a transaction, and everything that
transaction writes carries the same ``xmin``, lands next to the other rows written at that moment
(``ctid``) and happens at the second the access log records. So a submit does not write the
response: it writes a ``PendingSubmission`` with no invitation id, no time, and its answers,
language and questionnaire version sealed with AES-GCM (padded to a fixed size) under a key that
is not in the database (HKDF of ``ANSWER_KEY``, or of ``SECRET_KEY`` when that is unset). A reader
of the database can tell whose sealed row it is, never what it says.

``release`` turns the pending submissions of a wave into responses once at least the wave's
suppression threshold (k) of them wait, and all of them when the wave closes: in one transaction
it decrypts them, gives each a random id, stores them with the day of the batch, rewrites all of
the wave's web responses in the order of their random ids and deletes what it consumed. After
it, every web response of the wave has the batch's ``xmin``, a place in the table that follows
its random id, and the batch's day: nothing that says when it came or who came just before.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import Connection, ScalarSelect, delete, func, insert, select, text

from surveyapp import crypto
from surveyapp.extensions import db
from surveyapp.models import PendingSubmission, Response, Wave, random_response_id, utcnow

log = logging.getLogger(__name__)

# Sealed answers are padded to a multiple of this many bytes, so the ciphertext's length (which a
# reader sees next to the invitation) cannot be matched with the length of a released response.
PAD_TO = 16 * 1024
NONCE_BYTES = 12
KEY_INFO = b"surveyapp pending submissions v1"


class PendingUnreadableError(RuntimeError):
    """Sealed submissions that the configured key cannot open (the key changed): nothing is lost."""


def _key() -> bytes:
    """The sealing key: derived, with its own ``info``, from a secret the database never holds."""
    secret = current_app.config.get("ANSWER_KEY") or current_app.config["SECRET_KEY"]
    return crypto.derive_key(secret, KEY_INFO)


def _context(wave_id: int) -> bytes:
    # Bound into the tag: a sealed row moved to another wave in the database does not open.
    return f"wave {wave_id}".encode()


def seal(wave_id: int, content: dict[str, Any]) -> bytes:
    """Nonce + AES-GCM ciphertext of the content as JSON, padded with spaces to ``PAD_TO``."""
    plain = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    plain += b" " * (-len(plain) % PAD_TO)  # JSON ignores trailing whitespace
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_key()).encrypt(nonce, plain, _context(wave_id))


def unseal(wave_id: int, sealed: bytes) -> dict[str, Any]:
    """The content of a sealed submission (``InvalidTag`` when the key or the wave differ)."""
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    content: dict[str, Any] = json.loads(AESGCM(_key()).decrypt(nonce, ciphertext, _context(wave_id)))
    return content


def queue(*, wave_id: int, version_id: int, language: str, answers: dict[str, Any]) -> None:
    """Stage one final submission in the caller's (the submit's) transaction."""
    sealed = seal(wave_id, {"version": version_id, "language": language, "answers": answers})
    db.session.add(PendingSubmission(wave_id=wave_id, sealed=sealed))


def waiting_query(wave_id: int) -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(PendingSubmission)
        .where(PendingSubmission.wave_id == wave_id)
        .scalar_subquery()
    )


def waiting(wave_id: int) -> int:
    """How many final submissions of the wave wait for their batch."""
    return int(db.session.execute(select(waiting_query(wave_id))).scalar_one())


@dataclass(frozen=True)
class Released:
    """What one release did: responses made from pending submissions, web responses rewritten."""

    released: int
    rewritten: int


_WAVES = Wave.__table__
_RESPONSES = Response.__table__
# PostgreSQL: delete the wave's web responses and insert them again in the order of their random
# ids, in one statement. Every row gets this transaction's xmin and a new place in the heap that
# follows its id (CLUSTER would keep each row's xmin, and with it the batch it came in).
_REWRITE_POSTGRESQL = text(
    "WITH gone AS (DELETE FROM responses WHERE wave_id = :wave_id AND source = 'web' RETURNING *) "
    "INSERT INTO responses SELECT * FROM gone ORDER BY id"
)


def release(wave_id: int, *, minimum: int | None = None, wait: bool = True) -> Released:
    """Turn the wave's pending submissions into anonymous responses, in the caller's transaction.

    ``minimum``: do nothing unless at least this many are pending (None: the wave's suppression
    threshold; 0 or 1: release whatever waits, as the close does). ``wait``: wait for a release
    or close that holds the wave; otherwise leave it to that one and do nothing. The caller
    commits (or rolls back: then everything is still pending).
    """
    lock = select(_WAVES.c.suppression_threshold).where(_WAVES.c.id == wave_id)
    # NO KEY UPDATE: releases exclude each other and a close (FOR UPDATE), not the submits (whose
    # foreign key to the wave takes KEY SHARE).
    lock = lock.with_for_update(key_share=True, skip_locked=not wait)
    threshold = db.session.execute(lock).scalar_one_or_none()
    if threshold is None:  # a release or close holds the wave: it takes these too
        return Released(0, 0)
    needed = threshold if minimum is None else minimum
    count = waiting(wave_id)
    if count == 0 or count < needed:
        return Released(0, 0)
    rows = db.session.execute(
        select(PendingSubmission.id, PendingSubmission.sealed).where(PendingSubmission.wave_id == wave_id)
    ).all()
    contents = []
    for _row_id, sealed in rows:
        try:
            contents.append(unseal(wave_id, bytes(sealed)))
        except (InvalidTag, ValueError) as exc:
            raise PendingUnreadableError(
                f"{len(rows)} submissions of this wave wait sealed under another key: set ANSWER_KEY "
                "(or SECRET_KEY) back to the value they were sealed with, then try again"
            ) from exc
    secrets.SystemRandom().shuffle(contents)  # the order they were sealed in goes
    day = utcnow().date()
    new_rows = [
        {
            "id": random_response_id(),
            "wave_id": wave_id,
            "questionnaire_version_id": content["version"],
            "submitted_on": day,
            "language": content["language"],
            "source": "web",
            "answers": content["answers"],
        }
        for content in contents
    ]
    connection = db.session.connection()
    connection.execute(insert(_RESPONSES), new_rows)
    rewritten = _rewrite_in_id_order(connection, wave_id)
    db.session.execute(
        delete(PendingSubmission).where(PendingSubmission.id.in_([row_id for row_id, _ in rows]))
    )
    return Released(len(new_rows), rewritten)


def _rewrite_in_id_order(connection: Connection, wave_id: int) -> int:
    """Store the wave's web responses again, ordered by id: no trace of when each came.

    Imported responses (``source = 'import'``) are left alone.
    """
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_REWRITE_POSTGRESQL, {"wave_id": wave_id}).rowcount)
    # SQLite: a table without an integer primary key numbers its rows (rowid) in insert order;
    # inserting in id order makes that number follow the random id too.
    web = (_RESPONSES.c.wave_id == wave_id) & (_RESPONSES.c.source == "web")
    kept = [dict(row._mapping) for row in connection.execute(select(_RESPONSES).where(web))]
    connection.execute(delete(_RESPONSES).where(web))
    kept.sort(key=lambda row: row["id"])
    if kept:
        connection.execute(insert(_RESPONSES), kept)
    return len(kept)


def release_when_due(wave_id: int) -> Released:
    """After a submit has committed: release the wave's batch if k are waiting, and commit.

    Most submits only read (fewer than k wait) and take no lock. A failure here loses nothing
    (the submissions stay pending for the next submit or the close); it is logged, and the
    respondent's submit has succeeded already.
    """
    due = select(_WAVES.c.suppression_threshold <= waiting_query(wave_id)).where(_WAVES.c.id == wave_id)
    try:
        if not db.session.execute(due).scalar():
            db.session.rollback()
            return Released(0, 0)
        done = release(wave_id, wait=False)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("releasing the pending submissions of wave %s failed; they stay pending", wave_id)
        return Released(0, 0)
    return done


def release_all(wave: Wave) -> Released:
    """At closing, in the close's transaction: hold the wave against submits, release everything.

    FOR UPDATE waits for submits in flight (their KEY SHARE on the wave) and makes later ones
    wait, then see the wave closed; so nothing is left pending on a closed wave.
    """
    db.session.execute(select(_WAVES.c.id).where(_WAVES.c.id == wave.id).with_for_update())
    return release(wave.id, minimum=0)
