"""Planner pages: a wave's staff register (upload, column mapping, validation report, import)
and the import of an earlier wave's responses.

No upload is kept between requests (nothing on local disk another app server would need):
the mapping form carries the file input itself. The first post checks the file's shape and
shows its first rows and the mapping, pre-filled; the planner chooses the file again and checks
or imports it. That post checks the shape again (a hostile file is refused at once) and hands
the file to a background job (:mod:`surveyapp.services.register_jobs`), whose page shows the
progress and then the report; a web worker never reads a whole register file.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict

from surveyapp import jobs
from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.models import Job, Response, Wave
from surveyapp.planner import bp
from surveyapp.questionnaire.model import Questionnaire
from surveyapp.services import register as reg
from surveyapp.services import register_jobs, response_import
from surveyapp.services.register import BIRTH_YEAR, ColumnMapping, GroupColumn, RegisterFileError, Table
from surveyapp.survey.service import questionnaire_of

ACTIONS = ("analyse", "check", "import")
BIRTH_YEAR_PREFIX = "birth_year:"
SAMPLE_ROWS = 3
SLUG_MAX = 64  # the length of Wave.slug
JOB_REFRESH_SECONDS = 2


def _wave(slug: str) -> Wave:
    # A NUL byte cannot even be sent to PostgreSQL: such a slug names no wave (404, not 500).
    if not slug or len(slug) > SLUG_MAX or any(ord(char) < 32 for char in slug):
        abort(404)
    wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()
    if wave is None:
        abort(404)
    return wave


def _actor() -> str | None:
    user = current_user()
    return user.email if user else None


def _lang() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "nl")


def _read_upload(upload: FileStorage | None) -> tuple[bytes | None, str | None]:
    """The uploaded bytes, or an error message for the file field."""
    if upload is None or not upload.filename:
        return None, _("Choose a file (CSV or Excel .xlsx).")
    data = upload.stream.read(reg.MAX_BYTES + 1)
    if len(data) > reg.MAX_BYTES:
        return None, _("The file is larger than %(limit)d MB.", limit=reg.MAX_BYTES // 1_048_576)
    return data, None


# --- the register ------------------------------------------------------------------------------


def _group_fields(questionnaire: Questionnaire) -> list[dict[str, Any]]:
    """One mapping field per group question with a register column."""
    fields = []
    for question in reg.group_questions(questionnaire):
        assert question.measure is not None and question.measure.register_column
        key = question.measure.register_column
        fields.append(
            {
                "name": f"group__{key}",
                "key": key,
                "question": question,
                "age_bands": reg.age_bands(question) is not None,
            }
        )
    return fields


def _selected_from_mapping(mapping: ColumnMapping, questionnaire: Questionnaire) -> dict[str, Any]:
    selected: dict[str, Any] = {
        "id_column": mapping.id_column or "",
        "email_column": mapping.email_column or "",
        "language_column": mapping.language_column or "",
        "name_column": mapping.name_column or "",
        "extra_group": [],
    }
    question_keys = {field["key"] for field in _group_fields(questionnaire)}
    for group in mapping.groups:
        if group.key in question_keys:
            prefix = BIRTH_YEAR_PREFIX if group.convert == BIRTH_YEAR else ""
            selected[f"group__{group.key}"] = prefix + group.column
        else:
            selected["extra_group"].append(group.column)
    return selected


def _mapping_from_form(
    form: MultiDict[str, str], table: Table, questionnaire: Questionnaire
) -> tuple[ColumnMapping, dict[str, Any], dict[str, str]]:
    """The mapping the planner chose, what to show as selected, and errors per field."""
    errors: dict[str, str] = {}
    selected: dict[str, Any] = {"extra_group": []}
    used: dict[str, str] = {}

    def pick(name: str, value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        header = table.header(value)
        if header is None:
            errors[name] = _("There is no column %(column)s in this file.", column=repr(value))
            return None
        key = header.lower()
        if key in used and not (name == "id_column" and used[key] == "email_column"):
            errors[name] = _("The column %(column)s is already chosen above.", column=repr(header))
            return None
        used[key] = name
        return header

    values = {
        name: form.get(name, "") for name in ("email_column", "id_column", "language_column", "name_column")
    }
    selected.update(values)
    email = pick("email_column", values["email_column"])
    if not values["email_column"].strip():
        errors["email_column"] = _("Choose the column with the e-mail addresses.")
    person_id = pick("id_column", values["id_column"])
    language = pick("language_column", values["language_column"])
    name = pick("name_column", values["name_column"])
    groups: list[GroupColumn] = []
    for field in _group_fields(questionnaire):
        value = form.get(field["name"], "")
        selected[field["name"]] = value
        convert = None
        if value.startswith(BIRTH_YEAR_PREFIX) and field["age_bands"]:
            value, convert = value.removeprefix(BIRTH_YEAR_PREFIX), BIRTH_YEAR
        header = pick(field["name"], value)
        if header is not None:
            groups.append(GroupColumn(header, field["key"], convert))
    for value in form.getlist("extra_group"):
        selected["extra_group"].append(value)
        header = pick("extra_group", value)
        if header is not None:
            groups.append(GroupColumn(header, reg.group_key_for(header)))
    mapping = ColumnMapping(
        email_column=email,
        id_column=person_id,
        language_column=language,
        name_column=name,
        groups=tuple(groups),
    )
    return mapping, selected, errors


def _register_context(wave: Wave, questionnaire: Questionnaire) -> dict[str, Any]:
    return {
        "wave": wave,
        "questionnaire": questionnaire,
        "register_size": reg.register_size(wave),
        "stored_mapping": ColumnMapping.from_json(wave.register_mapping),
        "group_fields": _group_fields(questionnaire),
        "lang": _lang(),
        "max_mb": reg.MAX_BYTES // 1_048_576,
    }


@bp.route("/waves/<slug>/register", methods=["GET", "POST"])
@role_required("planner")
def register_upload(slug: str) -> Any:
    """Upload a register file, choose what its columns are, check it and import it."""
    wave = _wave(slug)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    context = _register_context(wave, questionnaire)
    # An open wave's register changes only by a delta import of the whole current register.
    delta = wave.state == "open"
    context["delta"] = delta
    if wave.state not in ("draft", "open"):
        status = 409 if request.method == "POST" else 200
        return render_template("planner/register_upload.html", frozen=True, **context), status
    if request.method == "GET":
        return render_template("planner/register_upload.html", **context)

    action = request.form.get("action", "analyse")
    if action not in ACTIONS:
        action = "analyse"
    data, file_error = _read_upload(request.files.get("file"))
    if data is None:
        status = 413 if request.files.get("file") and request.files["file"].filename else 400
        template = "planner/register_upload.html"
        return render_template(template, file_error=file_error, **context), status
    upload = request.files["file"]
    filename = upload.filename or ""
    try:
        # The shape checks and the first rows only: enough to choose the columns, answered at
        # once however large or hostile the file; the whole file is read by the job.
        table = reg.read_table(data, filename, preview_rows=SAMPLE_ROWS)
    except RegisterFileError as exc:
        return render_template("planner/register_upload.html", file_problems=exc.problems, **context), 422
    fingerprint = hashlib.sha256(data).hexdigest()
    page = {
        "table": table,
        "sample": table.rows[:SAMPLE_ROWS],
        "fingerprint": fingerprint,
        "filename": filename,
        "encoding_name": reg.ENCODING_NAMES.get(table.encoding or "", table.encoding),
        "delimiter_name": reg.DELIMITER_NAMES.get(table.delimiter or "", table.delimiter),
    }
    if action == "analyse":
        mapping = reg.default_mapping(table.headers, questionnaire, context["stored_mapping"])
        selected = _selected_from_mapping(mapping, questionnaire)
        return render_template(
            "planner/register_mapping.html", selected=selected, errors={}, **page, **context
        )

    mapping, selected, errors = _mapping_from_form(request.form, table, questionnaire)
    remove_missing = request.form.get("remove_missing") == "1" and not delta
    selected["remove_missing"] = remove_missing
    if request.form.get("analysed") not in (None, "", fingerprint):
        # Another file than the one analysed: show its columns before anything is stored.
        return (
            render_template(
                "planner/register_mapping.html",
                selected=selected,
                errors=errors,
                other_file=True,
                **page,
                **context,
            ),
            409,
        )
    if errors:
        return (
            render_template(
                "planner/register_mapping.html", selected=selected, errors=errors, **page, **context
            ),
            422,
        )
    try:
        job = register_jobs.start(
            wave,
            data,
            filename=filename,
            mapping=mapping,
            selected=selected,
            remove_missing=remove_missing,
            dry_run=action == "check",
            actor=_actor(),
            lang=_lang(),
            delta=delta,
            fingerprint=fingerprint,
        )
    except register_jobs.RegisterJobBusyError as exc:
        if exc.reason == "wave" and exc.job is not None:
            message = _(
                "A register file of this wave is being checked or imported already: wait for it to finish."
            )
            return render_template(
                "planner/register_upload.html", busy_job=exc.job, file_error=message, **context
            ), 409
        message = _("Too many register files are being checked at the moment. Try again in a minute.")
        return render_template("planner/register_upload.html", file_error=message, **context), 503
    except jobs.JobError:
        abort(503, _("The job queue is not available. Try again later or ask the administrator."))
    return redirect(url_for("planner.register_job", slug=wave.slug, job_id=job.id), 303)


@bp.get("/waves/<slug>/register/jobs/<job_id>")
@role_required("planner")
def register_job(slug: str, job_id: str) -> Any:
    """A register check or import running in the background: its progress, then its report."""
    wave = _wave(slug)
    job = db.session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None or job.wave_id != wave.id or job.kind not in register_jobs.KINDS:
        abort(404)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    details = jobs.snapshot(job)
    active = details["state"] in jobs.ACTIVE_STATES
    html = render_template(
        "planner/register_job.html",
        job=job,
        details=details,
        active=active,
        refresh=JOB_REFRESH_SECONDS,
        result=details["result"] or {},
        params=details["params"],
        **_register_context(wave, questionnaire),
    )
    headers = {"Refresh": str(JOB_REFRESH_SECONDS), "Cache-Control": "no-store"} if active else {}
    return html, 200, headers


# --- earlier responses -----------------------------------------------------------------------------


def _response_counts(wave: Wave) -> dict[str, int]:
    rows = db.session.execute(
        select(Response.source, func.count()).where(Response.wave_id == wave.id).group_by(Response.source)
    ).all()
    counts = {str(source): int(count) for source, count in rows}
    counts["web"] = response_import.web_response_count(wave)  # with those awaiting their batch
    return counts


@bp.route("/waves/<slug>/responses/import", methods=["GET", "POST"])
@role_required("planner")
def responses_import(slug: str) -> Any:
    """Import an earlier wave's responses (a KoboToolbox/ODK-style CSV export) into a wave."""
    wave = _wave(slug)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    context: dict[str, Any] = {
        "wave": wave,
        "questionnaire": questionnaire,
        "counts": _response_counts(wave),
        "columns": response_import.answer_columns(questionnaire),
        "max_mb": reg.MAX_BYTES // 1_048_576,
        "errors": {},
        "values": {
            "replace": request.form.get("replace") == "1",
            "default_date": request.form.get("default_date", ""),
        },
    }
    template = "planner/responses_import.html"
    if wave.state == "archived":
        context["archived"] = True
        return render_template(template, **context), (409 if request.method == "POST" else 200)
    # Answers from outside mixed in with a live survey's change its results: only an admin may.
    user = current_user()
    is_admin = user is not None and user.role == "admin"
    if response_import.web_response_count(wave) and not is_admin:
        context["admins_only"] = True
        return render_template(template, **context), (403 if request.method == "POST" else 200)
    if request.method == "GET":
        return render_template(template, **context)
    action = request.form.get("action", "check")
    data, file_error = _read_upload(request.files.get("file"))
    default_date: date | None = None
    raw_date = context["values"]["default_date"].strip()
    if raw_date:
        try:
            default_date = date.fromisoformat(raw_date)
        except ValueError:
            context["errors"]["default_date"] = _("Enter a date as YYYY-MM-DD.")
    if data is None:
        context["errors"]["file"] = file_error
        upload = request.files.get("file")
        return render_template(template, **context), (413 if upload and upload.filename else 400)
    if context["errors"]:
        return render_template(template, **context), 422
    filename = request.files["file"].filename or ""
    try:
        table = reg.read_table(data, filename)
    except RegisterFileError as exc:
        return render_template(template, file_problems=exc.problems, **context), 422
    try:
        result = response_import.import_responses(
            wave,
            table,
            actor=_actor(),
            replace=context["values"]["replace"],
            dry_run=action != "import",
            default_date=default_date,
            allow_web_responses=is_admin,
        )
    except response_import.WebResponsesError as exc:  # web responses came in meanwhile
        db.session.rollback()
        abort(403, str(exc))
    except response_import.ResponseImportError as exc:
        db.session.rollback()
        abort(409, str(exc))
    if not result.ok or action != "import":
        db.session.rollback()
        return render_template(template, result=result, filename=filename, **context), (
            200 if result.ok else 422
        )
    db.session.commit()
    context["counts"] = _response_counts(wave)
    return render_template("planner/responses_import_done.html", result=result, filename=filename, **context)
