"""Background jobs: a ``Job`` row for progress, the work in a thread, on RQ, or right here.

* embedded default (no ``REDIS_URL``): a background thread with its own app context, so the
  request that started the job returns at once;
* ``REDIS_URL`` set: an RQ queue; ``surveyapp worker`` runs the jobs (see :mod:`surveyapp.worker`);
* CLI commands run jobs synchronously (``mode="sync"``) and show a progress bar.

Progress (total/done/failed/state/message) lives in the ``jobs`` table, so every app server can
show it. A job's handler commits as it goes (per batch); the runner commits the start and end.

Liveness: a running job writes ``updated_at`` at least once per mail. A job counts as alive while
that heartbeat is fresh (``JOB_STALE_SECONDS``) and, when it runs on this host, its process
exists. A job that is not alive but still says "running" was interrupted (killed, crashed).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import Flask, current_app
from sqlalchemy import select, update

from surveyapp.extensions import db
from surveyapp.models import Job, utcnow

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
DEFAULT_STALE_SECONDS = 300
DEFAULT_QUEUE = "surveyapp"
# RQ's default timeout (180 s) is far too short for 45,000 throttled mails.
RQ_JOB_TIMEOUT = 24 * 3600

Mode = Literal["auto", "sync", "thread", "queue"]


class JobError(RuntimeError):
    """A job that cannot be started. (A queue that does not answer is no longer one: such a job
    waits for the queue, see :func:`hand_over_waiting`.)"""


@dataclass
class Progress:
    """A running job's counters; ``save()`` writes them into the caller's transaction."""

    job_id: str
    total: int = 0
    done: int = 0
    failed: int = 0
    message: str | None = None
    callback: Callable[[Progress], None] | None = field(default=None, repr=False)

    def save(self) -> None:
        """Stage the counters (and the heartbeat) in the current transaction; the handler commits."""
        db.session.execute(
            update(Job)
            .where(Job.id == self.job_id)
            .values(
                total=self.total,
                done=self.done,
                failed=self.failed,
                message=self.message,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if self.callback is not None:
            self.callback(self)


@dataclass(frozen=True)
class Outcome:
    """What a handler reports at the end: a human summary and machine-readable counts."""

    message: str
    result: dict[str, Any]
    failed: bool = False


Handler = Callable[[Job, Progress], Outcome]


def handler_for(kind: str) -> Handler:
    if kind.startswith("mail:"):
        from surveyapp.services.invitations import run_mail_job

        return run_mail_job
    if kind.startswith("report:"):
        from surveyapp.planner.reports import run_report_job

        return run_report_job
    if kind.startswith("register:"):
        from surveyapp.services.register_jobs import run_register_job

        return run_register_job
    raise LookupError(f"no handler for job kind {kind!r}")


# --------------------------------------------------------------------------------------------
# Creating and starting
# --------------------------------------------------------------------------------------------


def queue_mode(config: Any) -> bool:
    return bool(config.get("REDIS_URL"))


def enqueue(
    kind: str,
    params: dict[str, Any],
    wave_id: int | None,
    created_by: str | None,
    *,
    mode: Mode = "auto",
    progress: Callable[[Progress], None] | None = None,
) -> Job:
    """Create the job row, COMMIT it (the worker must see it, with whatever the caller staged,
    such as its audit record), then start the work.

    ``auto`` uses RQ when ``REDIS_URL`` is set, otherwise a background thread. ``sync`` runs
    the job here and returns when it is finished. When the queue does not answer, the job
    stays queued, saying it waits for the queue (:data:`WAITING_FOR_QUEUE`).
    """
    handler_for(kind)  # unknown kinds fail before anything is stored
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if mode == "auto":
        mode = "queue" if queue_mode(app.config) else "thread"
    job = Job(kind=kind, params=dict(params), wave_id=wave_id, created_by=created_by, state="queued")
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    if mode == "sync":
        run(job_id, progress=progress)
    elif mode == "thread":
        start_thread(app, job_id)
    else:
        _enqueue_rq(app, job_id, kind)
    found = db.session.get(Job, job_id)
    assert found is not None
    return found


# Said on the job page and by the CLI while the queue does not answer (the job row is kept).
WAITING_FOR_QUEUE = (
    "Waiting for the job queue: Redis does not answer. The job starts as soon as it answers again."
)


def _enqueue_rq(app: Flask, job_id: str, kind: str) -> bool:
    """Hand the job to RQ. When Redis does not answer, the job stays queued and says it waits
    for the queue (``hand_over_waiting`` tries again); returns whether RQ took it."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue

    try:
        connection = Redis.from_url(str(app.config["REDIS_URL"]), socket_connect_timeout=5, socket_timeout=5)
        queue = Queue(queue_name(app.config), connection=connection)
        queue.enqueue(
            "surveyapp.worker.run_job",
            job_id,
            job_id=job_id,
            job_timeout=RQ_JOB_TIMEOUT,
            result_ttl=3600,  # the outcome lives in the Job row; RQ's copy is only for debugging
            failure_ttl=7 * 24 * 3600,
            description=f"surveyapp {kind} {job_id}",
        )
    except (RedisError, OSError) as exc:
        _mark_waiting(job_id, waiting=True)
        log.warning("job %s waits for the job queue: %s", job_id, exc.__class__.__name__)
        return False
    _mark_waiting(job_id, waiting=False)
    return True


def _mark_waiting(job_id: str, *, waiting: bool) -> None:
    """Say in the job row whether it waits for the queue (only while it is still queued); commits."""
    job = db.session.get(Job, job_id)
    if job is None or job.state != "queued" or bool((job.params or {}).get("waiting_for_queue")) == waiting:
        return
    params = {key: value for key, value in (job.params or {}).items() if key != "waiting_for_queue"}
    job.params = {**params, "waiting_for_queue": True} if waiting else params
    job.message = WAITING_FOR_QUEUE if waiting else None
    job.updated_at = utcnow()
    db.session.commit()


def is_waiting_for_queue(job: Job) -> bool:
    """A queued job that could not be handed to the queue yet (Redis did not answer)."""
    return job.state == "queued" and bool((job.params or {}).get("waiting_for_queue"))


def hand_over_waiting(app: Flask | None = None, job_ids: list[str] | None = None) -> int:
    """Hand jobs that wait for the queue to RQ now that it may answer; the number it took.

    Called by the job page (which refreshes itself), the CLI that follows a job and
    ``surveyapp worker`` at start. A job handed over twice runs once (``run`` starts only a
    queued job).
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if not queue_mode(app.config):
        return 0
    query = select(Job).where(Job.state == "queued")
    if job_ids is not None:
        query = query.where(Job.id.in_(job_ids))
    waiting = [job for job in db.session.execute(query).scalars() if is_waiting_for_queue(job)]
    taken = 0
    for job in waiting:
        if not _enqueue_rq(app, job.id, job.kind):
            break  # the queue still does not answer: the others wait too
        taken += 1
    return taken


def queue_name(config: Any) -> str:
    return str(config.get("RQ_QUEUE") or os.environ.get("RQ_QUEUE") or DEFAULT_QUEUE)


_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def start_thread(app: Flask, job_id: str) -> threading.Thread:
    """Run the job in a daemon thread with its own app context (and so its own DB session)."""

    def main() -> None:
        with app.app_context():
            try:
                run(job_id)
            except BaseException:
                log.exception("job %s stopped", job_id)
                raise
            finally:
                db.session.remove()

    thread = threading.Thread(target=main, name=f"surveyapp-job-{job_id}", daemon=True)
    with _threads_lock:
        for finished in [key for key, t in _threads.items() if not t.is_alive()]:
            del _threads[finished]
        _threads[job_id] = thread
    thread.start()
    return thread


def wait(job_id: str, timeout: float = 60.0) -> bool:
    """Wait for a job's thread in this process (tests, CLI); False if it is still running."""
    with _threads_lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def runner_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "thread": threading.get_ident()}


def run(job_id: str, progress: Callable[[Progress], None] | None = None) -> Job | None:
    """Run a queued job to its end in this app context. A job already started elsewhere is left
    alone (an RQ redelivery must not run it twice). An exception ends the job as failed; on
    SystemExit or KeyboardInterrupt the job is marked interrupted (if the database still answers)
    and the exception goes on. A killed process leaves its job "running"; :func:`is_alive` tells."""
    started = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="running", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if started.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        log.warning("job %s is not queued; not running it", job_id)
        return db.session.get(Job, job_id)
    job = db.session.get(Job, job_id)
    assert job is not None
    job.params = {**(job.params or {}), "runner": runner_identity()}
    db.session.commit()
    tracker = Progress(job_id, total=job.total, done=job.done, failed=job.failed, callback=progress)
    try:
        outcome = handler_for(job.kind)(job, tracker)
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        finish(job_id, "failed", f"{exc.__class__.__name__}: {exc}"[:1000])
    except BaseException as exc:  # Ctrl-C, SystemExit: say so if we still can, then go on dying
        try:
            finish(job_id, "failed", f"Interrupted ({exc.__class__.__name__}).")
        except Exception:
            log.exception("could not mark job %s interrupted", job_id)
        raise
    else:
        finish(job_id, "failed" if outcome.failed else "done", outcome.message, outcome.result)
    return db.session.get(Job, job_id)


def finish(job_id: str, state: str, message: str, result: dict[str, Any] | None = None) -> None:
    """Record a job's end state (and result counts, kept in ``params["result"]``); commits."""
    db.session.rollback()
    job = db.session.get(Job, job_id)
    if job is None:
        return
    job.state = state
    job.message = message
    job.updated_at = utcnow()
    if result is not None:
        job.params = {**(job.params or {}), "result": result}
    db.session.commit()


# --------------------------------------------------------------------------------------------
# Liveness
# --------------------------------------------------------------------------------------------


def stale_after(config: Any | None = None) -> timedelta:
    config = config if config is not None else current_app.config
    seconds = config.get("JOB_STALE_SECONDS") or os.environ.get("JOB_STALE_SECONDS") or DEFAULT_STALE_SECONDS
    return timedelta(seconds=float(seconds))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite keeps no time zone
    return moment


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_alive(job: Job, now: datetime | None = None) -> bool:
    """Whether a job may still be working: queued, or running with a fresh heartbeat and (on
    this host) a living process."""
    if job.state == "queued":
        return True
    if job.state != "running":
        return False
    runner = (job.params or {}).get("runner") or {}
    if runner.get("host") == socket.gethostname() and isinstance(runner.get("pid"), int):
        if not _process_exists(int(runner["pid"])):
            return False
        # A job of this very process is alive only while its thread is.
        this_process = runner["pid"] == os.getpid() and isinstance(runner.get("thread"), int)
        if this_process and runner["thread"] not in {t.ident for t in threading.enumerate()}:
            return False
    heartbeat = _aware(job.updated_at) or _aware(job.created_at)
    now = now or datetime.now(UTC)
    return heartbeat is not None and now - heartbeat < stale_after()


# Shown for a queued job that waits for the queue itself (never stored: its row says "queued").
WAITING = "waiting"
# The states shown while a job has yet to end (the page follows it).
UNFINISHED_STATES = (*ACTIVE_STATES, WAITING)


def display_state(job: Job) -> str:
    """The state to show: "interrupted" for a job that says running but is not alive, "waiting"
    for one that waits for the job queue."""
    if job.state == "running" and not is_alive(job):
        return "interrupted"
    if is_waiting_for_queue(job):
        return WAITING
    return job.state


def mark_interrupted(jobs: list[Job]) -> list[str]:
    """Mark running jobs that are not alive as failed (in the caller's transaction)."""
    marked = []
    for job in jobs:
        if job.state == "running" and not is_alive(job):
            job.state = "failed"
            job.message = (job.message + " " if job.message else "") + "Interrupted: the job stopped early."
            marked.append(job.id)
    return marked


def other_jobs(kind: str, wave_id: int | None, exclude: str | None = None) -> list[Job]:
    """Jobs of this kind for this wave that are queued or running (per their row)."""
    query = select(Job).where(Job.kind == kind, Job.state.in_(ACTIVE_STATES))
    query = query.where(Job.wave_id == wave_id) if wave_id is not None else query.where(Job.wave_id.is_(None))
    if exclude is not None:
        query = query.where(Job.id != exclude)
    return list(db.session.execute(query).scalars())


def active_job(kind: str, wave_id: int | None) -> Job | None:
    """A job of this kind for this wave that is still alive, if any (to refuse a double start)."""
    for job in other_jobs(kind, wave_id):
        if is_alive(job):
            return job
    return None


def snapshot(job: Job) -> dict[str, Any]:
    """The JSON view of a job (no personal data)."""
    params = dict(job.params or {})
    result = params.pop("result", None)
    params.pop("runner", None)
    params.pop("waiting_for_queue", None)
    processed = job.done + job.failed
    return {
        "id": job.id,
        "kind": job.kind,
        "wave_id": job.wave_id,
        "state": display_state(job),
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "processed": processed,
        "percent": round(100 * processed / job.total, 1)
        if job.total
        else (100.0 if job.state == "done" else 0.0),
        "message": job.message,
        "params": params,
        "result": result,
        "created_by": job.created_by,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    moment = _aware(moment)
    return moment.isoformat() if moment else None
