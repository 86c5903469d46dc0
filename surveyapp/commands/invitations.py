"""``surveyapp invitations send|remind WAVE``: send a wave's invitation or reminder mails.

Runs the mail job right here with a progress bar, or with ``--queue`` puts it on the RQ queue
(``REDIS_URL``) and follows its progress. Either way the job is recorded in the database and
the same at-most-once protocol applies: running the command again sends only what is left.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from surveyapp import jobs
from surveyapp.extensions import db
from surveyapp.models import Job, Wave
from surveyapp.services import audit
from surveyapp.services.invitations import InvitationError, reminder_kind, start_mail_job


@click.group("invitations")
def command() -> None:
    """Send invitation and reminder mails for a wave."""


@command.command("send")
@click.argument("wave")
@click.option(
    "--retry-failed", is_flag=True, help="First delete failed (not uncertain) deliveries, then resend."
)
@click.option("--queue", "use_queue", is_flag=True, help="Run on the RQ queue (REDIS_URL) and follow it.")
@with_appcontext
def send(wave: str, retry_failed: bool, use_queue: bool) -> None:
    """Send the invitation mail to everyone in WAVE (a slug) who did not get it yet."""
    _send(wave, "invitation", retry_failed=retry_failed, use_queue=use_queue)


@command.command("remind")
@click.argument("wave")
@click.option(
    "--number", "-n", type=click.IntRange(1, 20), default=1, show_default=True, help="Which reminder."
)
@click.option(
    "--retry-failed", is_flag=True, help="First delete failed (not uncertain) deliveries, then resend."
)
@click.option("--queue", "use_queue", is_flag=True, help="Run on the RQ queue (REDIS_URL) and follow it.")
@with_appcontext
def remind(wave: str, number: int, retry_failed: bool, use_queue: bool) -> None:
    """Send reminder NUMBER to everyone in WAVE who got the invitation, has not submitted and
    did not opt out."""
    _send(wave, reminder_kind(number), retry_failed=retry_failed, use_queue=use_queue)


class _Bar:
    """A click progress bar opened once the job knows its total."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, progress: jobs.Progress) -> None:
        self.show(progress.total, progress.done + progress.failed)

    def show(self, total: int, processed: int) -> None:
        if self.bar is None:
            if not total:
                return
            self.bar = click.progressbar(length=total, label=self.label, show_pos=True)
            self.bar.__enter__()
        if total > self.bar.length:
            self.bar.length = total
        if processed > self.shown:
            self.bar.update(processed - self.shown)
            self.shown = processed

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _send(slug: str, kind: str, *, retry_failed: bool, use_queue: bool) -> None:
    wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()
    if wave is None:
        raise click.ClickException(f"no wave {slug!r}")
    if use_queue and not jobs.queue_mode(current_app.config):
        raise click.ClickException("--queue needs REDIS_URL")
    action = "invitations_sent" if kind == "invitation" else "reminders_sent"
    audit.record(action, None, wave.slug, kind=kind, retry_failed=retry_failed, via="cli")
    bar = _Bar(f"{wave.slug} {kind}")
    try:
        job = start_mail_job(
            wave,
            kind,
            None,
            retry_failed=retry_failed,
            mode="queue" if use_queue else "sync",
            progress=None if use_queue else bar,
        )
        if use_queue:
            click.echo(f"job {job.id} queued; following its progress (Ctrl-C stops following, not the job)")
            job = _follow(job.id, bar)
    except InvitationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    except jobs.JobError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    result = (job.params or {}).get("result") or {}
    counts = ", ".join(f"{name} {result.get(name, 0)}" for name in ("sent", "skipped", "failed", "uncertain"))
    click.echo(f"job {job.id}: {jobs.display_state(job)}; {counts}")
    if job.message:
        click.echo(job.message)
    if job.state != "done":
        sys.exit(1)


def _follow(job_id: str, bar: _Bar, interval: float = 0.5) -> Job:
    waited = ""  # what the job was last said to wait for
    while True:
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        if job is None:
            raise click.ClickException(f"job {job_id} disappeared")
        if jobs.is_waiting_for_queue(job) and jobs.hand_over_waiting(job_ids=[job.id]):
            continue  # handed over now: look again
        if jobs.is_waiting_for_queue(job) and waited != "queue":
            click.echo(jobs.WAITING_FOR_QUEUE + " (Ctrl-C stops following, not the job)")
            waited = "queue"
        elif job.state == "queued" and not jobs.is_waiting_for_queue(job) and waited != "worker":
            click.echo("waiting for a worker (`surveyapp worker`) …")
            waited = "worker"
        bar.show(job.total, job.done + job.failed)
        if job.state not in jobs.ACTIVE_STATES or not jobs.is_alive(job):
            return job
        db.session.rollback()  # end the read transaction so the next look sees new commits
        time.sleep(interval)
