"""Planner pages for mailing: send invitations and reminders, retry failures, edit the mail
texts of a wave, and follow background jobs."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers.response import Response as WerkzeugResponse

from surveyapp import jobs, mail
from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.models import Job, Wave
from surveyapp.planner import bp
from surveyapp.services import audit
from surveyapp.services import invitations as service

JOB_LIST_SIZE = 20
REFRESH_SECONDS = 3
TEMPLATE_EDIT_STATES = ("draft", "open")


class ActionForm(FlaskForm):
    """No fields: only the CSRF token (the action's values are read from the form itself)."""


def _wave(slug: str) -> Wave:
    wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()
    if wave is None:
        abort(404, _("There is no wave with this name."))
    return wave


def _actor() -> str | None:
    user = current_user()
    return user.email if user else None


def _state_labels() -> dict[str, str]:
    return {
        "queued": _("Waiting to start"),
        jobs.WAITING: _("Waiting for the job queue"),
        "running": _("Running"),
        "done": _("Finished"),
        "failed": _("Stopped with an error"),
        "interrupted": _("Interrupted"),
    }


def _kind_label(kind: str) -> str:
    number = mail.reminder_number(kind)
    if number is not None:
        return _("Reminder %(number)d", number=number)
    return _("Invitation")


def _reason_label(reason: str) -> str:
    """A failure reason of the sender (its error's text up to the colon), said for a planner."""
    labels = {
        "cannot connect to the mail server": _("the mail server is unreachable"),
        "connection to the mail server lost": _("the connection to the mail server was lost"),
        "mail server busy": _("the mail server asked to try again later"),
        "mail server says try later": _("the mail server asked to try again later"),
        "mail server refused": _("the mail server refused the mails"),
        "mail server refused the mail": _("the mail server refused the mails"),
        "the mail server refused the login": _(
            "the mail server refused the login (MAIL_USERNAME, MAIL_PASSWORD)"
        ),
        "not a valid e-mail address": _("not a valid e-mail address"),
        "cannot write to the outbox": _("the outbox folder cannot be written"),
    }
    return labels.get(reason, reason)


def _last_failures(recent: list[Job]) -> tuple[Job, list[tuple[str, int]]] | None:
    """The newest finished sending job that could not send some mails, with why (most first)."""
    for job in recent:
        errors = ((job.params or {}).get("result") or {}).get("errors") or {}
        if job.state in jobs.ACTIVE_STATES:
            continue
        if job.failed and errors:
            reasons: dict[str, int] = {}
            for reason, count in errors.items():
                label = _reason_label(str(reason))
                reasons[label] = reasons.get(label, 0) + int(count)
            return job, sorted(reasons.items(), key=lambda item: -item[1])
        return None  # the newest finished job sent everything it tried
    return None


def _check_form() -> None:
    if not ActionForm().validate_on_submit():
        abort(400, _("This form could not be sent. Reload the page and try again."))


# --------------------------------------------------------------------------------------------
# Overview and actions
# --------------------------------------------------------------------------------------------


@bp.get("/waves/<slug>/mail")
@role_required("planner")
def mailing(slug: str) -> str:
    wave = _wave(slug)
    summary = service.pending_summary(wave)
    counts = summary["counts"]
    recent = (
        db.session.execute(
            select(Job)
            .where(Job.wave_id == wave.id, Job.kind.like(f"{service.JOB_PREFIX}%"))
            .order_by(Job.created_at.desc())
            .limit(JOB_LIST_SIZE)
        )
        .scalars()
        .all()
    )
    return render_template(
        "planner/mail_overview.html",
        wave=wave,
        summary=summary,
        retryable=[kind for kind in summary["kinds"] if kind in counts and counts[kind].failed],
        recent=recent,
        last_failures=_last_failures(list(recent)),
        form=ActionForm(),
        kind_label=_kind_label,
        display_state=jobs.display_state,
        state_labels=_state_labels(),
        max_reminder=service.MAX_REMINDERS,
    )


def _start(wave: Wave, kind: str, *, retry_failed: bool) -> WerkzeugResponse:
    try:
        service.check_kind(kind)
        service.check_open(wave)
    except service.InvitationError as exc:
        abort(exc.status, _kind_error(exc))
    running = jobs.active_job(service.job_kind(kind), wave.id)
    if running is not None:
        abort(409, _("These mails are being sent already. Follow the job on its page."))
    to_send = service.count_candidates(wave.id, kind)
    counts = service.delivery_counts(wave.id, kind).get(kind, service.DeliveryCounts())
    if retry_failed:
        audit.record(
            "mail_retry_failed", _actor(), wave.slug, kind=kind, failed=counts.failed, to_send=to_send
        )
    else:
        action = "invitations_sent" if kind == "invitation" else "reminders_sent"
        audit.record(action, _actor(), wave.slug, kind=kind, to_send=to_send, already=counts.sent)
    job = service.start_mail_job(wave, kind, _actor(), retry_failed=retry_failed)
    if jobs.is_waiting_for_queue(job):
        flash(
            _("The job queue does not answer: sending starts as soon as it does. This page shows when."),
            "error",
        )
    else:
        flash(_("Sending has started. This page shows its progress."), "info")
    return redirect(url_for("planner.job_page", job_id=job.id), 303)


def _kind_error(exc: service.InvitationError) -> str:
    if exc.status == 409:
        return _("Mails can only be sent while the wave is open.")
    return _("Choose the invitation or a reminder number between 1 and %(max)d.", max=service.MAX_REMINDERS)


def _posted_kind() -> str:
    kind = request.form.get("kind", "").strip()
    number = request.form.get("number", "").strip()
    if kind == "reminder" and number.isascii() and number.isdigit() and len(number) < 4:
        kind = f"reminder-{int(number)}"
    return kind


@bp.post("/waves/<slug>/mail/send")
@role_required("planner")
def mail_send(slug: str) -> WerkzeugResponse:
    wave = _wave(slug)
    _check_form()
    return _start(wave, _posted_kind(), retry_failed=False)


@bp.post("/waves/<slug>/mail/retry")
@role_required("planner")
def mail_retry(slug: str) -> WerkzeugResponse:
    wave = _wave(slug)
    _check_form()
    return _start(wave, _posted_kind(), retry_failed=True)


# --------------------------------------------------------------------------------------------
# Mail texts
# --------------------------------------------------------------------------------------------


def _example_kind(kind: str) -> str:
    return "reminder-1" if kind == "reminder" else kind


def _current_sources(wave: Wave) -> dict[str, dict[str, dict[str, str]]]:
    return {
        kind: {
            lang: mail.templates_for(_example_kind(kind), lang, wave.mail_templates)
            for lang in service.wave_languages(wave)
        }
        for kind in mail.TEMPLATE_KINDS
    }


def _submitted_sources(wave: Wave) -> dict[str, dict[str, dict[str, str]]]:
    """The posted texts; a field left out keeps the current text, an emptied one the default."""
    sources = _current_sources(wave)
    for kind, by_lang in sources.items():
        for lang, parts in by_lang.items():
            for part in mail.TEMPLATE_PARTS:
                name = f"{kind}-{lang}-{part}"
                if name in request.form:
                    value = request.form[name].replace("\r\n", "\n")
                    parts[part] = value if value.strip() else mail.default_templates(kind, lang)[part]
    return sources


def _previews(
    wave: Wave, sources: dict[str, dict[str, dict[str, str]]]
) -> tuple[dict[str, service.Preview], dict[str, str]]:
    from flask import current_app

    previews: dict[str, service.Preview] = {}
    errors: dict[str, str] = {}
    for kind, by_lang in sources.items():
        for lang, parts in by_lang.items():
            try:
                previews[f"{kind}-{lang}"] = service.render_preview(
                    wave, _example_kind(kind), lang, parts, current_app.config
                )
            except mail.MailTemplateError as exc:
                errors[f"{kind}-{lang}"] = str(exc)
    return previews, errors


@bp.route("/waves/<slug>/mail/templates", methods=["GET", "POST"])
@role_required("planner")
def mail_templates(slug: str) -> Any:
    wave = _wave(slug)
    editable = wave.state in TEMPLATE_EDIT_STATES
    status = 200
    previews: dict[str, service.Preview] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        _check_form()
        if not editable:
            abort(409, _("The mail texts of a closed wave cannot change any more."))
        action = request.form.get("action", "preview")
        if action not in {"preview", "save", "reset"}:
            abort(400, _("Unknown action."))
        if action == "reset":
            wave.mail_templates = None
            audit.record("mail_templates_reset", _actor(), wave.slug)
            db.session.commit()
            flash(_("The mail texts are back to the standard texts."), "info")
            return redirect(url_for("planner.mail_templates", slug=wave.slug), 303)
        sources = _submitted_sources(wave)
        previews, errors = _previews(wave, sources)
        if errors:
            status = 422
        elif action == "save":
            overrides = service.clean_overrides(sources)
            changed = sorted(
                f"{kind}/{lang}/{part}"
                for kind, by_lang in (overrides or {}).items()
                for lang, parts in by_lang.items()
                for part in parts
            )
            wave.mail_templates = overrides
            audit.record("mail_templates_changed", _actor(), wave.slug, customised=changed)
            db.session.commit()
            flash(_("The mail texts are saved."), "info")
            return redirect(url_for("planner.mail_templates", slug=wave.slug), 303)
    else:
        sources = _current_sources(wave)
    return (
        render_template(
            "planner/mail_templates.html",
            wave=wave,
            sources=sources,
            previews=previews,
            errors=errors,
            editable=editable,
            form=ActionForm(),
            variables=mail.TEMPLATE_VARIABLES,
            customised=wave.mail_templates or {},
        ),
        status,
    )


@bp.get("/waves/<slug>/mail/preview")
@role_required("planner")
def mail_preview(slug: str) -> Any:
    """The saved texts of one kind and language, filled in for an example person."""
    from flask import current_app

    wave = _wave(slug)
    kind = request.args.get("kind", "invitation")
    lang = request.args.get("lang") or service.wave_languages(wave)[0]
    if kind not in mail.TEMPLATE_KINDS or lang not in service.wave_languages(wave):
        abort(400, _("Choose a mail (invitation or reminder) and one of the wave's languages."))
    example = _example_kind(kind)
    try:
        preview = service.render_preview(
            wave, example, lang, mail.templates_for(example, lang, wave.mail_templates), current_app.config
        )
    except mail.MailTemplateError as exc:
        return render_template(
            "planner/mail_preview.html", wave=wave, kind=kind, lang=lang, preview=None, error=str(exc)
        ), 422
    return render_template(
        "planner/mail_preview.html", wave=wave, kind=kind, lang=lang, preview=preview, error=None
    )


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


def _job(job_id: str) -> Job:
    job = db.session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None:
        abort(404, _("There is no such job."))
    return job


def _job_details(job: Job) -> dict[str, Any]:
    data = jobs.snapshot(job)
    if job.kind.startswith(service.JOB_PREFIX) and job.wave_id is not None:
        kind = job.kind.removeprefix(service.JOB_PREFIX)
        counts = service.delivery_counts(job.wave_id, kind, job_id=job.id).get(kind, service.DeliveryCounts())
        data["deliveries"] = counts.as_dict()
        data["uncertain"] = counts.uncertain
        data["mail_kind"] = kind
    return data


def _job_handed_over(job: Job) -> Job:
    """A job waiting for the queue is handed to it again on every look (the page refreshes)."""
    if jobs.is_waiting_for_queue(job) and jobs.hand_over_waiting(job_ids=[job.id]):
        db.session.refresh(job)
    return job


@bp.get("/jobs/<job_id>")
@role_required("planner")
def job_page(job_id: str) -> Any:
    job = _job_handed_over(_job(job_id))
    details = _job_details(job)
    wave = db.session.get(Wave, job.wave_id) if job.wave_id is not None else None
    active = details["state"] in jobs.UNFINISHED_STATES
    response = render_template(
        "planner/job.html",
        job=job,
        details=details,
        wave=wave,
        active=active,
        refresh=REFRESH_SECONDS,
        kind_label=_kind_label,
        states=_state_labels(),
        reason_label=_reason_label,
        waiting=jobs.WAITING,
    )
    headers = {"Refresh": str(REFRESH_SECONDS), "Cache-Control": "no-store"} if active else {}
    return response, 200, headers


@bp.get("/jobs/<job_id>.json")
@role_required("planner")
def job_json(job_id: str) -> Any:
    job = _job_handed_over(_job(job_id))
    response = jsonify(_job_details(job))
    response.headers["Cache-Control"] = "no-store"
    return response
