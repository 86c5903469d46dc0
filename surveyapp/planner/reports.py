"""Report downloads of a wave: the PDF report and the SWO-ART input (DOCX, HTML, PDF).

Planner role; every download is audit-logged. With ``REDIS_URL`` set (several app servers, RQ
workers) the rendering runs as a background job: the job page shows progress, the rendered bytes
are kept in Redis for an hour under the job id, and `report_download` serves them from any app
server. Without Redis the document is rendered in this request.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _

from surveyapp import jobs
from surveyapp.analysis.errors import AnalysisError
from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.models import Job, Wave
from surveyapp.planner import bp
from surveyapp.services import audit
from surveyapp.services.waves import wave_by_slug

JOB_PREFIX = "report:"
RESULT_TTL = 3600  # seconds the rendered bytes stay in Redis
FORMATS: dict[str, tuple[str, str]] = {
    "report_pdf": ("application/pdf", "pdf"),
    "swoart_docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "swoart_pdf": ("application/pdf", "pdf"),
    "swoart_html": ("text/html; charset=utf-8", "html"),
}


def _wave(slug: str) -> Wave:
    wave = wave_by_slug(slug)
    if wave is None:
        abort(404, _("There is no such wave."))
    return wave


def _lang() -> str:
    lang = request.args.get("lang", "nl")
    return lang if lang in ("nl", "en") else "nl"


def _actor() -> str | None:
    user = current_user()
    return user.email if user is not None else None


def render_document(kind: str, wave: Wave, lang: str) -> bytes:
    """The bytes of one document kind of a wave."""
    if kind == "report_pdf":
        from surveyapp.reports.pdf import render_pdf

        return render_pdf(wave, lang)
    from surveyapp.reports import swoart

    if kind == "swoart_docx":
        return swoart.render_docx(wave, lang)
    if kind == "swoart_pdf":
        return swoart.render_pdf(wave, lang)
    if kind == "swoart_html":
        return swoart.render_html(wave, lang).encode("utf-8")
    raise LookupError(kind)


def _filename(kind: str, wave: Wave, lang: str) -> str:
    stem = "rapport" if kind == "report_pdf" else "swo-art"
    return f"{stem}-{wave.slug}-{lang}.{FORMATS[kind][1]}"


def _send(kind: str, wave: Wave, lang: str, data: bytes) -> Response:
    mimetype, _extension = FORMATS[kind]
    response = Response(data, mimetype=mimetype.split(";")[0])
    if mimetype.startswith("text/html"):
        response.headers["Content-Type"] = mimetype
    else:
        response.headers["Content-Disposition"] = f'attachment; filename="{_filename(kind, wave, lang)}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _queued() -> bool:
    """Background rendering: only with a queue and a worker that knows report jobs."""
    if not jobs.queue_mode(current_app.config):
        return False
    try:
        jobs.handler_for(JOB_PREFIX + "report_pdf")
    except LookupError:
        return False
    return True


def _download(kind: str, slug: str) -> Any:
    wave = _wave(slug)
    lang = _lang()
    audit.record("download", _actor(), wave.slug, format=FORMATS[kind][1], document=kind, lang=lang)
    if _queued():
        try:
            job = jobs.enqueue(JOB_PREFIX + kind, {"lang": lang, "slug": wave.slug}, wave.id, _actor())
        except jobs.JobError:
            abort(503, _("The job queue is not available. Try again later."))
        return redirect(url_for("planner.job_page", job_id=job.id))
    try:
        data = render_document(kind, wave, lang)
    except AnalysisError as exc:  # too few responses, no usable groups...: say so, not a 500
        db.session.rollback()
        abort(409, _("This wave cannot be analysed yet: %(reason)s", reason=str(exc)))
    db.session.commit()  # the audit record
    return _send(kind, wave, lang, data)


@bp.get("/waves/<slug>/report.pdf")
@role_required("planner")
def report_pdf(slug: str) -> Any:
    return _download("report_pdf", slug)


@bp.get("/waves/<slug>/swoart.docx")
@role_required("planner")
def swoart_docx(slug: str) -> Any:
    return _download("swoart_docx", slug)


@bp.get("/waves/<slug>/swoart.pdf")
@role_required("planner")
def swoart_pdf(slug: str) -> Any:
    return _download("swoart_pdf", slug)


@bp.get("/waves/<slug>/swoart.html")
@role_required("planner")
def swoart_html(slug: str) -> Any:
    return _download("swoart_html", slug)


# --------------------------------------------------------------------------------------------
# The job path (REDIS_URL): render in the worker, keep the bytes in Redis, download anywhere
# --------------------------------------------------------------------------------------------


def _redis() -> Any:
    from redis import Redis

    return Redis.from_url(str(current_app.config["REDIS_URL"]), socket_connect_timeout=5)


def result_key(job_id: str) -> str:
    return f"surveyapp:report:{job_id}"


def run_report_job(job: Job, progress: jobs.Progress) -> jobs.Outcome:
    """The handler of ``report:*`` jobs (to be registered in `surveyapp.jobs.handler_for`)."""
    kind = job.kind.removeprefix(JOB_PREFIX)
    params = job.params or {}
    wave = db.session.get(Wave, job.wave_id) if job.wave_id is not None else None
    if wave is None or kind not in FORMATS:
        return jobs.Outcome("The wave or the document kind is unknown.", {}, failed=True)
    progress.total = 2
    progress.message = "rendering"
    progress.save()
    db.session.commit()
    lang = str(params.get("lang", "nl"))
    data = render_document(kind, wave, lang)
    _redis().set(result_key(job.id), data, ex=RESULT_TTL)
    progress.done = 2
    progress.message = "done"
    progress.save()
    db.session.commit()
    return jobs.Outcome(
        "The document is ready.",
        {"download": f"/planner/reports/{job.id}/download", "bytes": len(data), "kind": kind, "lang": lang},
    )


@bp.get("/reports/<job_id>/download")
@role_required("planner")
def report_download(job_id: str) -> Any:
    job = db.session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None or not job.kind.startswith(JOB_PREFIX) or job.wave_id is None:
        abort(404)
    kind = job.kind.removeprefix(JOB_PREFIX)
    wave = db.session.get(Wave, job.wave_id)
    if wave is None or kind not in FORMATS or not current_app.config.get("REDIS_URL"):
        abort(404)
    data = _redis().get(result_key(job.id))
    if data is None:
        abort(404, _("The document is no longer available. Download it again."))
    lang = str((job.params or {}).get("lang", "nl"))
    audit.record(
        "download", _actor(), wave.slug, format=FORMATS[kind][1], document=kind, lang=lang, job=job.id
    )
    db.session.commit()
    return _send(kind, wave, lang, bytes(data))
