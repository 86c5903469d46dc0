"""Register imports from the planner pages, run as background jobs (``register:check`` and
``register:import``), so reading and checking a large or hostile file never holds a web worker.

The page checks the upload's shape first (:func:`surveyapp.services.register.read_table` with a
preview: limits on columns, lines, rows and a workbook's zip directory), so a hostile file gets
its 4xx answer at once; only a file that passes is handed to a job. The bytes wait for the job
in Redis (with ``REDIS_URL``, where an RQ worker on another machine runs it) or in this
process's memory (the embedded default: a thread of this process runs it), for at most
``UPLOAD_TTL_SECONDS``; the job takes them out. Jobs are limited: one per wave at a time,
``REGISTER_JOBS_AT_ONCE`` in the whole app, one at a time per process, and a thread of a web
process runs at a lower CPU priority than the requests.

The outcome (counts, margins, the problem report in the planner's language) is kept in the
job's ``params["result"]`` for the job page; the purge of a wave's personal data clears it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from surveyapp import jobs
from surveyapp.extensions import db
from surveyapp.models import Job, Wave, utcnow
from surveyapp.questionnaire.model import localize
from surveyapp.services import register as reg

log = logging.getLogger(__name__)

JOB_PREFIX = "register:"
CHECK, IMPORT = JOB_PREFIX + "check", JOB_PREFIX + "import"
KINDS = (CHECK, IMPORT)
UPLOAD_TTL_SECONDS = 3600
DEFAULT_JOBS_AT_ONCE = 2
LOWER_PRIORITY = 10  # nice increment of a job thread inside a web process

_uploads: dict[str, tuple[float, bytes]] = {}
_uploads_lock = threading.Lock()
# One register job at a time per process: a second one waits for the first to finish.
_one_at_a_time = threading.Lock()


class RegisterJobBusyError(RuntimeError):
    """A register job cannot start now: one runs for this wave, or too many run at all."""

    def __init__(self, reason: str, job: Job | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # "wave" | "app"
        self.job = job


# --- the uploaded bytes, waiting for their job ------------------------------------------------------


def _redis() -> Any:
    from redis import Redis

    return Redis.from_url(str(current_app.config["REDIS_URL"]), socket_connect_timeout=5)


def _redis_key(token: str) -> str:
    return f"surveyapp:register-upload:{token}"


def keep_upload(data: bytes) -> str:
    """Keep uploaded bytes for a job; the token that finds them (once)."""
    token = secrets.token_hex(16)
    if jobs.queue_mode(current_app.config):
        from redis.exceptions import RedisError

        try:
            _redis().set(_redis_key(token), data, ex=UPLOAD_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            raise jobs.JobError("the job queue (Redis) is not available") from exc
        return token
    now = time.monotonic()
    with _uploads_lock:
        for old in [key for key, (kept, _) in _uploads.items() if now - kept > UPLOAD_TTL_SECONDS]:
            del _uploads[old]
        _uploads[token] = (now, data)
    return token


def take_upload(token: str) -> bytes | None:
    """The bytes kept under ``token``, removed from the store; None when gone (expired, lost)."""
    if jobs.queue_mode(current_app.config):
        found = _redis().getdel(_redis_key(token))
        return bytes(found) if found is not None else None
    with _uploads_lock:
        kept = _uploads.pop(token, None)
    return kept[1] if kept is not None else None


# --- starting -----------------------------------------------------------------------------------------


def jobs_at_once() -> int:
    return int(current_app.config.get("REGISTER_JOBS_AT_ONCE") or DEFAULT_JOBS_AT_ONCE)


def start(
    wave: Wave,
    data: bytes,
    *,
    filename: str,
    mapping: reg.ColumnMapping,
    selected: dict[str, Any],
    remove_missing: bool,
    dry_run: bool,
    actor: str | None,
    lang: str,
    fingerprint: str,
    delta: bool = False,
) -> Job:
    """Hand a register file that passed the shape checks to a background job (commits).

    Raises :class:`RegisterJobBusyError` when this wave has a register job alive or the app
    runs ``REGISTER_JOBS_AT_ONCE`` of them, and :class:`surveyapp.jobs.JobError` when the
    queue does not answer.
    """
    for kind in KINDS:
        running = jobs.active_job(kind, wave.id)
        if running is not None:
            raise RegisterJobBusyError("wave", running)
    alive = db.session.execute(select(Job).where(Job.kind.in_(KINDS), Job.state.in_(jobs.ACTIVE_STATES)))
    if sum(1 for job in alive.scalars() if jobs.is_alive(job)) >= jobs_at_once():
        raise RegisterJobBusyError("app")
    token = keep_upload(data)
    params = {
        "slug": wave.slug,
        "upload": token,
        "filename": filename,
        "fingerprint": fingerprint,
        "mapping": mapping.to_json(),
        "selected": selected,
        "remove_missing": remove_missing,
        "delta": delta,  # an open wave: the whole current register (withdraws and invites)
        "lang": lang,
        "size": len(data),
    }
    return jobs.enqueue(CHECK if dry_run else IMPORT, params, wave.id, actor)


# --- running ------------------------------------------------------------------------------------------


def _lower_priority() -> None:
    """A job thread of a web process yields the CPU to the requests (Linux: nice per thread)."""
    if threading.current_thread() is threading.main_thread():
        return  # an RQ work horse or the command line: a process of its own
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWER_PRIORITY)


def run_register_job(job: Job, progress: jobs.Progress) -> jobs.Outcome:
    """The job handler: read the whole file, validate it, store it unless it is a check."""
    _lower_priority()
    params = dict(job.params or {})
    lang = str(params.get("lang") or "nl")
    # The problem report is read in the planner's language: messages are translated in a request.
    with current_app.test_request_context("/", query_string={"lang": lang}), _one_at_a_time:
        return _run(job, params, progress, lang)


def _run(job: Job, params: dict[str, Any], progress: jobs.Progress, lang: str) -> jobs.Outcome:
    from flask_babel import gettext as _

    from surveyapp.survey.service import questionnaire_of

    data = take_upload(str(params.get("upload") or ""))
    if data is None:
        message = _("The uploaded file is no longer available (the job waited too long). Upload it again.")
        return jobs.Outcome(message, {"ok": False, "lost": True}, failed=True)
    wave = db.session.get(Wave, job.wave_id) if job.wave_id is not None else None
    if wave is None:
        return jobs.Outcome(_("The wave no longer exists."), {"ok": False}, failed=True)
    filename = str(params.get("filename") or "")
    progress.message = _("Reading %(file)s.", file=filename)
    progress.save()
    db.session.commit()
    try:
        table = reg.read_table(data, filename)
    except reg.RegisterFileError as exc:
        unreadable = {"ok": False, "problem_count": len(exc.problems), "problems": _problems(exc.problems)}
        return jobs.Outcome(_("The file cannot be used."), unreadable, failed=True)
    mapping = reg.ColumnMapping.from_json(params.get("mapping")) or reg.ColumnMapping(email_column=None)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    progress.total = len(table.rows) + len(table.problems)
    progress.message = _("Checking %(rows)d rows.", rows=progress.total)
    progress.save()
    db.session.commit()
    reporter = _ProgressReporter(progress)
    try:
        result = reg.import_register(
            wave,
            table,
            mapping,
            questionnaire,
            actor=job.created_by,
            dry_run=job.kind == CHECK,
            remove_missing=bool(params.get("remove_missing")),
            progress=reporter,
            lang=lang,
            delta=bool(params.get("delta")),
        )
    except reg.RegisterStateError as exc:
        db.session.rollback()
        return jobs.Outcome(str(exc), {"ok": False, "frozen": True}, failed=True)
    summary = _result(result, table)
    if not result.ok:
        db.session.rollback()
        return jobs.Outcome(_("The file has problems: nothing was imported."), summary, failed=True)
    if job.kind == CHECK:
        db.session.rollback()
        return jobs.Outcome(_("No problems found; nothing was stored."), summary)
    db.session.commit()
    return jobs.Outcome(_("The register was imported."), summary)


class _ProgressReporter:
    """Rows stored so far, written on a connection of its own: the import's transaction stays
    open until its end (all or nothing). SQLite would lock on a second writer; there the count
    is only written at the end."""

    def __init__(self, progress: jobs.Progress) -> None:
        self.progress = progress
        self.separate = db.engine.dialect.name != "sqlite"

    def __call__(self, rows: int) -> None:
        self.progress.done += rows
        if not self.separate:
            return
        with db.engine.begin() as connection:
            connection.execute(
                update(Job)
                .where(Job.id == self.progress.job_id)
                .values(done=self.progress.done, total=self.progress.total, updated_at=utcnow())
            )


def _problems(problems: list[reg.Problem]) -> list[dict[str, Any]]:
    return [asdict(problem) for problem in problems]


def _result(result: reg.ImportResult, table: reg.Table) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "dry_run": result.dry_run,
        "file": table.describe(),
        "rows": result.rows,
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "total": result.total,
        "delta": result.delta,
        "withdrawn": result.withdrawn,
        "reinstated": result.reinstated,
        "kept_submitted": result.kept_submitted,
        "invited": result.invited,
        "problem_count": result.problem_count,
        "problems": _problems(result.problems),
        "warning_count": result.warning_count,
        "warnings": _problems(result.warnings),
        "margins": [
            {
                "key": margin.key,
                "question": None,
                "title": (
                    f"{localize(margin.question.label, result_lang())} ({margin.key})"
                    if margin.question is not None
                    else margin.key
                ),
                "rows": [asdict(row) for row in margin.rows],
                "missing": margin.missing,
            }
            for margin in result.margins
        ],
    }


def result_lang() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "nl")


def forget_results(wave: Wave) -> int:
    """Drop the reports of a wave's register jobs (they quote the file's values); no commit."""
    found = db.session.execute(select(Job).where(Job.wave_id == wave.id, Job.kind.in_(KINDS))).scalars()
    cleared = 0
    for job in found:
        if job.params and "result" in job.params:
            job.params = {key: value for key, value in job.params.items() if key != "result"}
            cleared += 1
    return cleared
