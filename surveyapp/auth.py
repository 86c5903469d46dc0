"""Planner authentication: login, logout, roles, throttling and the current user.

Sessions are Flask's signed cookies (stateless app servers). A login clears the session and
stores the account's ``session_nonce``; logout rotates the nonce, so a copied cookie dies too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from surveyapp.extensions import db, limiter
from surveyapp.models import User, random_response_id
from surveyapp.services import audit
from surveyapp.services.users import (
    LoginThrottleError,
    authenticate,
    count_failed_login,
    forget_login_attempts,
    normalise_email,
    reserve_login_attempt,
)

bp = Blueprint("auth", __name__)

# admin ⊇ planner ⊇ viewer
ROLE_RANK = {"viewer": 1, "planner": 2, "admin": 3}

F = TypeVar("F", bound=Callable[..., Any])


def _now() -> float:
    """The clock of session expiry (seconds since the epoch); tests move it."""
    return time.time()


# The idle clock is written back into the cookie at most this often: not a new cookie per page.
SEEN_GRANULARITY_SECONDS = 60


def _session_expired(now: float) -> bool:
    """Whether the planner's session has been idle too long or lasted too long in all."""
    config = current_app.config
    logged_in_at, seen_at = session.get("user_login_at"), session.get("user_seen_at")
    if not isinstance(logged_in_at, int | float) or not isinstance(seen_at, int | float):
        return True  # a session from before expiry was kept: log in again
    idle = float(config["PLANNER_SESSION_IDLE_MINUTES"]) * 60
    lifetime = float(config["PLANNER_SESSION_MAX_HOURS"]) * 3600
    return now - seen_at > idle or now - logged_in_at > lifetime


PLANNER_SESSION_KEYS = ("user_id", "user_nonce", "user_login_at", "user_seen_at")


def _end_planner_session() -> None:
    """Forget the planner in this session; the language and a respondent's link stay."""
    for key in PLANNER_SESSION_KEYS:
        session.pop(key, None)


def current_user() -> User | None:
    """The logged-in planner of this request, checked against the account's session nonce and
    the session's idle and total lifetime (``PLANNER_SESSION_IDLE_MINUTES``, ``…_MAX_HOURS``)."""
    if "user" in g:
        return cast(User | None, g.user)
    user = None
    user_id, nonce = session.get("user_id"), session.get("user_nonce")
    if isinstance(user_id, int) and isinstance(nonce, str):
        now = _now()
        if _session_expired(now):
            _end_planner_session()
            flash(_("Your session has expired. Please log in again."), "info")
        else:
            found = db.session.get(User, user_id)
            if found is not None and found.active and found.session_nonce == nonce:
                user = found
                if now - float(session["user_seen_at"]) >= SEEN_GRANULARITY_SECONDS:
                    session["user_seen_at"] = now
    g.user = user
    return user


def role_required(role: str) -> Callable[[F], F]:
    """Only users of this role or higher; anonymous visitors are sent to the login page."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.method == "GET":
                    return redirect(url_for("auth.login", next=request.full_path))
                abort(401, _("Please log in first."))
            if ROLE_RANK[user.role] < ROLE_RANK[role]:
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by the route-walk test
        return cast(F, wrapped)

    return decorator


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    r"""Only a local path: an open redirect after login would help phishing.

    Browsers drop tabs and newlines and read a backslash as a slash, so "/\t/evil.example"
    is "//evil.example" to them: refuse any control character, space or backslash outright.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("planner.home")


def _login_email_key() -> str:
    """The route limit per account name AND address: a limit per account name alone would let
    anyone block a planner's logins from anywhere."""
    return f"{normalise_email(request.form.get('email', ''))[:254] or '-'}|{get_remote_address()}"


def _refused(form: LoginForm, status: int, message: str) -> tuple[str, int]:
    flash(message, "error")
    return render_template("auth/login.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
@limiter.limit("10 per minute", methods=["POST"], key_func=_login_email_key)
def login() -> Any:
    form = LoginForm()
    if request.method == "POST" and not form.validate():
        return render_template("auth/login.html", form=form), 422
    if form.validate_on_submit():
        email = normalise_email(form.email.data or "")
        address = get_remote_address()
        # Counted before the password is checked, the same for known and unknown names (see
        # surveyapp.services.users): the answer never tells whether an account exists.
        try:
            allowed = reserve_login_attempt(email, address)
        except LoginThrottleError:
            return _refused(form, 503, _("Logging in is not possible right now. Try again in a few minutes."))
        if not allowed:
            audit.record("login_locked", email)
            db.session.commit()
            return _refused(form, 429, _("Too many failed attempts. Try again in a few minutes."))
        user = authenticate(email, form.password.data or "")
        if user is None:
            account_id = db.session.execute(select(User.id).where(User.email == email)).scalar_one_or_none()
            if account_id is not None:
                audit.record("login_failed", email, failures=count_failed_login(account_id))
            else:
                audit.record("login_failed", email)
            db.session.commit()
            return _refused(form, 401, _("The e-mail address or password is not correct."))
        forget_login_attempts(email, address)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = datetime.now(UTC)
        next_url = _safe_next(request.args.get("next"))
        lang = session.get("lang")
        session.clear()  # a fresh session: nothing from before the login carries over
        if lang:
            session["lang"] = lang
        session["user_id"] = user.id
        session["user_nonce"] = user.session_nonce
        session["user_login_at"] = session["user_seen_at"] = _now()
        audit.record("login", user.email)
        db.session.commit()
        return redirect(next_url)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    user = current_user()
    if user is not None:
        user.session_nonce = random_response_id()
        audit.record("logout", user.email)
        db.session.commit()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
