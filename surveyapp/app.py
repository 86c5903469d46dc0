"""The Flask application factory: configuration, extensions, blueprints, commands, headers."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from flask import Flask, abort, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_limiter import Limiter
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup

from surveyapp.config import load_config
from surveyapp.extensions import babel, csrf, db, limiter, migrate
from surveyapp.pool import ping_when_idle


def select_locale() -> Locale | str:
    """Dutch first: an explicit choice in this session wins, otherwise Dutch."""
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # the command line: English messages, Dutch data stay Dutch
        return "en"
    wanted = request.args.get("lang")
    if wanted in languages:
        session["lang"] = wanted
    chosen = session.get("lang")
    return _locale(str(chosen) if chosen in languages else str(current_app.config["BABEL_DEFAULT_LOCALE"]))


@functools.cache
def _locale(code: str) -> Locale:
    """One parsed ``Locale`` per language: Flask-Babel parses the selector's answer on every
    request unless it is a ``Locale`` already, and the few languages here never change."""
    return Locale.parse(code)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signing serializer built once per key.

    Flask builds the serializer anew for every request that reads or writes the cookie, which
    is every respondent page. The keys come from the configuration, so a new one is built when
    ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` change (tests do that).
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if key not in self._serializers:
            if len(self._serializers) > 8:  # keys rotated many times in one process: start over
                self._serializers.clear()
            self._serializers[key] = super().get_signing_serializer(app)
        return self._serializers[key]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: configuration, extensions, blueprints and commands."""
    instance_path = os.environ.get("SURVEYAPP_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_config(Path(app.instance_path)))
    if test_config:
        app.config.from_mapping(test_config)
    app.session_interface = SessionCookies()

    hops = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine, app.config["DB_PING_IDLE_SECONDS"])
    from surveyapp.survey.service import install_autocommit_engine

    install_autocommit_engine(app)
    # Batch mode lets Alembic alter tables on SQLite; compare_type catches column type drift.
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    _install_template_translations(app)
    limiter.init_app(app)
    limit_routes_only(app, limiter)

    from surveyapp import auth, errors, observability, views

    observability.init_app(app)
    from surveyapp.admin import bp as admin_bp
    from surveyapp.planner import bp as planner_bp
    from surveyapp.survey import bp as survey_bp

    app.register_blueprint(views.bp)
    app.register_blueprint(survey_bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(planner_bp)
    app.register_blueprint(admin_bp)
    errors.register(app)

    from surveyapp.cli import register_commands

    register_commands(app)
    _register_template_helpers(app)
    app.before_request(_refuse_nul_bytes)
    app.before_request(check_request_origin)
    app.after_request(_security_headers)
    return app


def _request_translations() -> Any:
    """The catalogue of the current locale, looked up once per request and locale.

    Flask-Babel finds the catalogue again for each string (a locale lookup and a cache key built
    from it); a page translates a dozen strings. ``force_locale`` switches the locale object, so a
    cached catalogue is only used while the locale it was found for is still the current one.
    """
    from flask import g
    from flask_babel import get_locale, get_translations

    locale = get_locale()
    cached = g.get("_surveyapp_translations")
    if cached is None or cached[0] is not locale:
        cached = (locale, get_translations())
        g._surveyapp_translations = cached
    return cached[1]


def _install_template_translations(app: Flask) -> None:
    """Templates' ``_``/``gettext``/``ngettext``, with the catalogue looked up once per request.

    They behave like Jinja's "newstyle" gettext (translated text is safe, ``%(name)s`` variables
    are escaped and filled in, ``num`` is the count of ``ngettext``) but are called directly
    rather than through three nested template calls each: a page has a dozen of them.
    """
    from jinja2 import pass_eval_context
    from jinja2.nodes import EvalContext

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
        text: str = _request_translations().ugettext(string)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our own catalogue, not input  # nosec B704
        return text % variables

    @pass_eval_context
    def ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text: str = _request_translations().ungettext(singular, plural, num)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our own catalogue, not input  # nosec B704
        return text % variables

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _request_translations().ugettext(s),
        ngettext=lambda s, p, n: _request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)


# Flask-Limiter settings for limits on every request; surveyapp sets none of them.
_LIMITS_FOR_EVERY_REQUEST = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def limit_routes_only(app: Flask, extension: Limiter) -> None:
    """Drop Flask-Limiter's check before every request when only routes carry limits.

    Each limit here is a decorator on its route (personal links, opt-out, login), and the
    decorator checks it. The extension's before-request hook exists for default, application and
    meta limits, which surveyapp does not use; for every other page it only found that nothing
    applies, at a cost in the order of a tenth of a respondent page. With any of those limits
    configured, the hook stays. (So limits belong on routes, as ``extensions.py`` says.)
    """
    if any(app.config.get(name) for name in _LIMITS_FOR_EVERY_REQUEST):
        return
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [hook for hook in hooks if hook != extension._check_request_limit]


def _refuse_nul_bytes() -> None:
    """A NUL byte is never meant in a URL or form, and PostgreSQL text cannot hold one: clear 400."""
    found = "\x00" in request.path or (
        bool(request.query_string) and any("\x00" in value for _key, value in request.args.items(multi=True))
    )
    if not found and request.method == "POST" and request.mimetype in _FORM_MIMETYPES:
        found = any("\x00" in value for _key, value in request.form.items(multi=True))
    if found:
        abort(400, _("The request contains a character that is not allowed (a NUL byte)."))


_FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _register_template_helpers(app: Flask) -> None:
    from urllib.parse import urlencode

    from flask_babel import get_locale

    from surveyapp.questionnaire.model import localize

    def current_lang() -> str:
        return str(get_locale() or "nl")

    def lang_url(code: str) -> str:
        args = request.args.to_dict()
        args["lang"] = code
        return f"{request.path}?{urlencode(args)}"

    from surveyapp import formatting, labels

    app.jinja_env.filters.update(
        localize=localize, wave_state=labels.wave_state, audience=labels.audience, role=labels.role
    )
    # Numbers, percentages and dates in the page's language, by the one formatter of every output.
    app.jinja_env.filters.update(
        number=lambda value, decimals=0: formatting.number(value, current_lang(), decimals),
        percent=lambda share, decimals=1: formatting.percent(share, current_lang(), decimals),
        points=lambda difference, decimals=1: formatting.points(difference, current_lang(), decimals),
        date_text=lambda day, style="long": formatting.date_text(day, current_lang(), style),
    )
    from surveyapp.auth import current_user

    def has_endpoint(name: str) -> bool:
        return name in app.view_functions

    app.jinja_env.globals.update(
        current_lang=current_lang,
        lang_url=lang_url,
        current_user=current_user,
        has_endpoint=has_endpoint,
        referrer_policy=referrer_policy,
    )


# No script at all is needed to answer a questionnaire, so the policy forbids every script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


# Each is added unless the view set its own. HSTS only where the request came over TLS.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
# The token of a personal link must never leave in a Referer header: every page sends none,
# except the planner's, whose addresses hold no secret. There "same-origin" lets the browser
# name our own origin (Referer, Origin) on a form POST, for the check below; other sites still
# get nothing.
PLANNER_PATHS = ("/planner", "/admin", "/login", "/logout")


def referrer_policy() -> str:
    """This request's referrer policy: the header, and the ``<meta name="referrer">`` of base.html
    (which would otherwise override the header)."""
    return "same-origin" if request.path.startswith(PLANNER_PATHS) else "no-referrer"


# Pages are personal (a respondent's answers, a planner's data): no cache keeps a copy, not the
# browser's either (a shared computer), nor a proxy. Static files are the same for everyone.
NO_STORE = ("Cache-Control", "no-store")


def _security_headers(response: Any) -> Any:
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}  # one pass, not one per header
    wanted = [*SECURITY_HEADERS, ("Referrer-Policy", referrer_policy())]
    if request.is_secure:
        wanted.append(HSTS)
    if request.endpoint != "static":
        wanted.append(NO_STORE)
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Fetch metadata: what the browser itself says about where a request comes from.
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def check_request_origin() -> None:
    """Refuse a form POST that the browser says came from another site, before any view runs.

    Defence in depth next to the CSRF token (which stays required) and SameSite=Lax cookies; it
    replaces Flask-WTF's HTTPS Referer check, which fails for every browser under
    ``no-referrer``. Each header is checked when the browser sends it: ``Sec-Fetch-Site`` (all
    current browsers, whatever the referrer policy), ``Origin`` (``null`` under no-referrer) and
    ``Referer``. Hosts are compared, not schemes: behind a proxy without ``PROXY_FIX_X_FOR`` the
    app sees http for an https origin, and a same-host page on another scheme is no cross-site
    attacker.
    """
    if request.method not in _UNSAFE_METHODS:
        return
    from flask import current_app
    from flask_wtf.csrf import CSRFError

    config = current_app.config
    if not config.get("WTF_CSRF_ENABLED", True) or not config.get("WTF_CSRF_CHECK_DEFAULT", True):
        return
    headers = request.headers
    if headers.get("Sec-Fetch-Site", "").strip().lower() in _FOREIGN_FETCH_SITES:
        raise CSRFError("The request came from another site (Sec-Fetch-Site).")
    for name in ("Origin", "Referer"):
        value = headers.get(name, "").strip()
        if value and value != "null" and urlsplit(value).netloc.lower() != request.host.lower():
            raise CSRFError(f"The request came from another site ({name}).")
