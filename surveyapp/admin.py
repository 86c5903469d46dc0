"""Admin pages: planner accounts and the audit log (read-only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, EmailField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.models import ROLES, AuditEvent, User, random_response_id
from surveyapp.services import audit
from surveyapp.services.users import UserError, create_user

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE_SIZE = 100


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(
        _l("Password (at least 12 characters)"), validators=[InputRequired(), Length(min=12, max=200)]
    )
    role = SelectField(_l("Role"), choices=[SelectChoice(r, r) for r in ROLES], validators=[InputRequired()])


class EditUserForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(r, r) for r in ROLES], validators=[InputRequired()])
    active = BooleanField(_l("Active"))


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users() -> Any:
    form = NewUserForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                user = create_user(form.email.data or "", form.password.data or "", form.role.data or "")
            except UserError as exc:
                form.email.errors = [str(exc)]
                status = 422
            else:
                actor = current_user()
                audit.record("user_created", actor.email if actor else None, user.email, role=user.role)
                db.session.commit()
                flash(_("Account created for %(email)s.", email=user.email), "info")
                return redirect(url_for("admin.users"))
        else:
            status = 422
    accounts = db.session.execute(select(User).order_by(User.email)).scalars().all()
    edit_forms = {account.id: EditUserForm(prefix=f"u{account.id}", obj=account) for account in accounts}
    return render_template("admin/users.html", form=form, accounts=accounts, edit_forms=edit_forms), status


@bp.post("/users/<int(max=2147483647):user_id>")
@role_required("admin")
def edit_user(user_id: int) -> Any:
    account = db.session.get(User, user_id)
    if account is None:
        abort(404)
    form = EditUserForm(prefix=f"u{user_id}")
    if not form.validate():
        abort(400, _("Choose a valid role."))
    actor = current_user()
    if actor is not None and actor.id == account.id and (form.role.data != "admin" or not form.active.data):
        abort(400, _("You cannot remove your own admin rights."))
    changed = {"role": form.role.data, "active": bool(form.active.data)}
    account.role = form.role.data or account.role
    if account.active != bool(form.active.data):
        account.active = bool(form.active.data)
        account.session_nonce = random_response_id()  # a deactivated account is logged out
    audit.record("user_changed", actor.email if actor else None, account.email, **changed)
    db.session.commit()
    flash(_("Account %(email)s updated.", email=account.email), "info")
    return redirect(url_for("admin.users"))


@bp.get("/audit")
@role_required("admin")
def audit_log() -> str:
    total = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    events = (
        db.session.execute(
            select(AuditEvent)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(AUDIT_PAGE_SIZE)
            .offset((page - 1) * AUDIT_PAGE_SIZE)
        )
        .scalars()
        .all()
    )
    return render_template("admin/audit.html", events=events, page=page, pages=pages, total=total)
