"""Waves in the browser: create, edit, open/close/archive, repeat, and watch responses come in.

Viewers may look at every page; changing anything needs the planner role. Each change is
audit-logged and committed here; the rules live in ``surveyapp.services.waves``.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import DateField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from surveyapp import charts, formatting, labels, mail
from surveyapp.auth import current_user, role_required
from surveyapp.extensions import db
from surveyapp.models import QuestionnaireVersion, Wave
from surveyapp.planner import bp
from surveyapp.questionnaire import Questionnaire
from surveyapp.services import audit, monitoring
from surveyapp.services.waves import (
    EDITABLE_AFTER_OPENING,
    MINIMUM_THRESHOLD,
    TRANSITIONS,
    OpeningError,
    QuestionnaireFile,
    SettingsProblem,
    WaveSettings,
    WaveSettingsError,
    WaveStateError,
    check_settings,
    new_wave,
    open_wave,
    questionnaire_files,
    repeat_wave,
    set_state,
    store_questionnaire_file,
    update_wave,
    wave_by_slug,
    waves_with_progress,
)
from surveyapp.survey import preview
from surveyapp.survey.service import questionnaire_of

STATE_ACTIONS = {"open": "wave_opened", "closed": "wave_closed", "archived": "wave_archived"}
CHART_MAX_AGE = 60  # seconds: the response chart is live, so browsers keep it only briefly
LANGUAGE_CHOICES = [SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")]


state_label = labels.wave_state


def transition_label(current: str, new: str) -> str:
    if new == "open":
        return _("Reopen the wave") if current == "closed" else _("Open the wave")
    if new == "closed":
        return _("Close the wave")
    return _("Archive the wave")


audience_label = labels.audience


def problem_text(problem: SettingsProblem) -> str:
    """A settings problem in the planner's language."""
    p = problem.params
    texts = {
        "slug_format": lambda: _(
            "Use %(min)d to %(max)d lower-case letters, digits and single hyphens, like golf-2026.",
            min=p["min"],
            max=p["max"],
        ),
        "slug_taken": lambda: _("Another wave already uses %(slug)s. Choose another slug.", slug=p["slug"]),
        "title_required": lambda: _("Give the wave a title."),
        "title_long": lambda: _("The title can have at most %(max)d characters.", max=p["max"]),
        "audience_unknown": lambda: _("Choose an audience."),
        "audience_mismatch": lambda: _(
            "The questionnaire is written for %(audience)s.", audience=audience_label(str(p["expected"]))
        ),
        "language_required": lambda: _("Dutch (nl) is required."),
        "language_missing": lambda: _(
            "The questionnaire has no text in: %(languages)s.", languages=p["languages"]
        ),
        "period_order": lambda: _("The closing date cannot be before the opening date."),
        "retention_range": lambda: _(
            "Keep personal data between %(min)d and %(max)d days.", min=p["min"], max=p["max"]
        ),
        "threshold_low": lambda: _(
            "The threshold must be at least %(min)d: smaller groups identify people.", min=p["min"]
        ),
        "threshold_high": lambda: _("The threshold can be at most %(max)d.", max=p["max"]),
        "questionnaire_required": lambda: _("Choose a questionnaire."),
        "questionnaire_unknown": lambda: _(
            "There is no questionnaire %(name)s. Choose one from the list.", name=p["name"]
        ),
        "questionnaire_invalid": lambda: _(
            "%(name)s has problems and cannot be used: %(problems)s", name=p["name"], problems=p["problems"]
        ),
        "questionnaire_other": lambda: _(
            "A repeat uses the same questionnaire (%(key)s): choose a version of that one.", key=p["key"]
        ),
        "questionnaire_frozen": lambda: _(
            "The questionnaire of a %(state)s wave is frozen and cannot change.",
            state=state_label(str(p["state"])),
        ),
        "not_editable": lambda: _(
            "This cannot change any more: the wave is %(state)s.", state=state_label(str(p["state"]))
        ),
    }
    make = texts.get(problem.code)
    return make() if make else str(problem)


# --- forms ------------------------------------------------------------------------------------


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WaveForm(FlaskForm):
    """A wave's settings; the service checks them (``check_settings``), this form only parses."""

    title = StringField(_l("Title"), validators=[Length(max=200)])
    slug = StringField(
        _l("Short name (slug)"),
        description=_l("Used in addresses, e.g. gerechtigden-2026: lower-case letters, digits and hyphens."),
        validators=[Length(max=64)],
    )
    audience = RadioField(
        _l("Audience"),
        choices=[
            SelectChoice("gerechtigden", _l("Entitled staff (gerechtigden): active and retired staff")),
            SelectChoice("contactpersonen", _l("Contact persons (contactpersonen) of the entities")),
        ],
        validate_choice=False,
    )
    questionnaire = SelectField(_l("Questionnaire"), validate_choice=False)
    opens_on = DateField(_l("Opens on"), validators=[Optional()])
    closes_on = DateField(_l("Closes on"), validators=[Optional()])
    languages = CheckboxesField(
        _l("Languages"),
        choices=LANGUAGE_CHOICES,
        validate_choice=False,
        description=_l("Dutch is required; respondents choose among these."),
    )
    anonymity = RadioField(
        _l("Anonymity"),
        choices=[
            SelectChoice("anonymous", _l("Anonymous: answers cannot be traced to a person (the default)")),
            SelectChoice(
                "identified", _l("Not anonymous: usual for contact persons, who answer for their entity")
            ),
        ],
        validate_choice=False,
    )
    retention_days = IntegerField(
        _l("Keep personal data for (days)"),
        validators=[InputRequired(message=_l("Enter a number of days."))],
        description=_l("The register's names and e-mail addresses are deleted this many days after closing."),
    )
    suppression_threshold = IntegerField(
        _l("Suppression threshold"),
        validators=[InputRequired(message=_l("Enter a number of people."))],
        description=_l("Groups with fewer people are never shown (at least 5)."),
    )


class RepeatForm(FlaskForm):
    title = StringField(_l("Title of the new wave"), validators=[Length(max=200)])
    slug = StringField(
        _l("Short name (slug) of the new wave"),
        description=_l("Lower-case letters, digits and hyphens."),
        validators=[Length(max=64)],
    )
    opens_on = DateField(_l("Opens on"), validators=[Optional()])
    closes_on = DateField(_l("Closes on"), validators=[Optional()])
    questionnaire = SelectField(_l("Questionnaire version"), validate_choice=False)


def _short(content_hash: str) -> str:
    return content_hash[:12]


def _version_label(version: QuestionnaireVersion) -> str:
    label = f"{version.questionnaire_key} {version.version_label or ''}".strip()
    frozen = _(", frozen") if version.frozen_at else ""
    return f"{label} ({_short(version.content_hash)}{frozen})"


def _file_label(found: QuestionnaireFile) -> str:
    if not found.valid:
        return _("%(name)s: has problems", name=found.name)
    return _(
        "File %(name)s: %(key)s %(label)s (%(hash)s)",
        name=found.name,
        key=found.key or "",
        label=found.version_label or "",
        hash=_short(found.content_hash or ""),
    )


def _questionnaire_dir() -> str:
    return str(current_app.config["QUESTIONNAIRE_DIR"])


def _questionnaire_choices(files: list[QuestionnaireFile], key: str | None = None) -> list[SelectChoice]:
    """The folder's files (their current content) and the versions already stored."""
    choices = [SelectChoice(f"file:{f.name}", _file_label(f)) for f in files if key is None or f.key == key]
    query = select(QuestionnaireVersion).order_by(
        QuestionnaireVersion.questionnaire_key, QuestionnaireVersion.created_at.desc()
    )
    if key is not None:
        query = query.where(QuestionnaireVersion.questionnaire_key == key)
    for version in db.session.execute(query).scalars():
        choices.append(
            SelectChoice(f"version:{version.id}", _("Stored version %(v)s", v=_version_label(version)))
        )
    return choices


def _resolve_questionnaire(choice: str | None) -> QuestionnaireVersion:
    """The version a questionnaire choice names, storing a file's content if needed."""
    choice = choice or ""
    kind, _sep, value = choice.partition(":")
    if kind == "file" and value:
        return store_questionnaire_file(_questionnaire_dir(), value)
    if kind == "version" and value.isascii() and value.isdigit() and len(value) < 10:
        version = db.session.get(QuestionnaireVersion, int(value))
        if version is not None:
            return version
    if not choice:
        raise WaveSettingsError([SettingsProblem("questionnaire", "questionnaire_required")])
    raise WaveSettingsError(
        [SettingsProblem("questionnaire", "questionnaire_unknown", {"name": value or choice})]
    )


def _attach(form: FlaskForm, problems: tuple[SettingsProblem, ...] | list[SettingsProblem]) -> list[str]:
    """Put each problem next to its field (one message per field); returns those without a field."""
    loose = []
    for problem in problems:
        field = form._fields.get(problem.field)
        if field is None:
            loose.append(problem_text(problem))
        elif not field.errors:
            field.errors = [*field.errors, problem_text(problem)]
    return loose


def _settings_from(form: WaveForm, base: WaveSettings) -> WaveSettings:
    """The settings the form sends, the base settings for fields it does not have or could not parse."""

    def value(name: str, fallback: Any) -> Any:
        field = form._fields.get(name)
        if field is None or field.errors or field.data is None:
            return fallback
        return field.data

    anonymity = form._fields.get("anonymity")
    return WaveSettings(
        title=str(value("title", base.title)),
        audience=str(value("audience", base.audience)),
        languages=tuple(value("languages", base.languages)),
        anonymous=base.anonymous if anonymity is None else anonymity.data != "identified",
        opens_on=value("opens_on", None) if "opens_on" in form._fields else base.opens_on,
        closes_on=value("closes_on", None) if "closes_on" in form._fields else base.closes_on,
        retention_days=int(value("retention_days", base.retention_days)),
        suppression_threshold=int(value("suppression_threshold", base.suppression_threshold)),
    )


def _actor() -> str | None:
    user = current_user()
    return user.email if user else None


def _wave_or_404(slug: str, *, lock: bool = False) -> Wave:
    wave = wave_by_slug(slug)
    if wave is None:
        abort(404, _("There is no wave %(slug)s.", slug=slug))
    if lock:  # one state change at a time (PostgreSQL; SQLite writes one at a time anyway)
        db.session.execute(
            select(Wave).where(Wave.id == wave.id).with_for_update().execution_options(populate_existing=True)
        )
    return wave


def _race_problems(exc: Exception, slug: str) -> tuple[SettingsProblem, ...]:
    db.session.rollback()
    if isinstance(exc, WaveSettingsError):
        return exc.problems
    return (SettingsProblem("slug", "slug_taken", {"slug": slug}),)


def pct(value: float | None) -> str:
    """A proportion as a percentage in the page's language (0.123 → 12,3% / 12.3%); a dash when unknown."""
    return formatting.percent(value, _lang())


def points(value: float | None) -> str:
    """A difference of proportions in percentage points, with its sign (−0.052 → −5,2 / −5.2)."""
    return formatting.points(value, _lang())


def _lang() -> str:
    return str(get_locale() or "nl")


def _render(template: str, **context: Any) -> str:
    """A wave template with its helpers (kept out of the app-wide template globals)."""
    return render_template(
        template,
        pct=pct,
        points=points,
        state_label=state_label,
        audience_label=audience_label,
        lag_points=round(100 * monitoring.LAG_POINTS),
        alpha_pct=round(100 * monitoring.ALPHA),
        **context,
    )


def _refuse(wave: Wave, message: str, status: int = 409) -> tuple[str, int]:
    return _render("planner/wave_message.html", wave=wave, message=message), status


# --- pages ------------------------------------------------------------------------------------


@bp.get("/waves/")
@role_required("viewer")
def waves() -> str:
    """The waves with their response so far, and the way to a new one."""
    rows = [(p.wave, p.invited, p.submitted) for p in waves_with_progress()]
    return _render("planner/waves.html", rows=rows)


def _new_form_defaults() -> dict[str, Any]:
    threshold = max(MINIMUM_THRESHOLD, int(current_app.config.get("SUPPRESSION_THRESHOLD", 10)))
    return {
        "audience": "gerechtigden",
        "languages": ["nl", "en"],
        "anonymity": "anonymous",
        "retention_days": 365,
        "suppression_threshold": threshold,
    }


@bp.route("/waves/new", methods=["GET", "POST"])
@role_required("planner")
def new_wave_page() -> Any:
    form = WaveForm(data=_new_form_defaults())
    files = questionnaire_files(_questionnaire_dir())
    form.questionnaire.choices = [
        SelectChoice("", _("Choose a questionnaire")),
        *_questionnaire_choices(files),
    ]
    loose: list[str] = []
    if request.method == "POST":
        form.validate()
        version = None
        try:
            version = _resolve_questionnaire(form.questionnaire.data)
        except WaveSettingsError as exc:
            loose += _attach(form, exc.problems)
        defaults = _new_form_defaults()
        settings = _settings_from(
            form,
            WaveSettings(
                title="",
                audience=defaults["audience"],
                languages=tuple(defaults["languages"]),
                anonymous=True,
                opens_on=None,
                closes_on=None,
                retention_days=defaults["retention_days"],
                suppression_threshold=defaults["suppression_threshold"],
            ),
        )
        slug = (form.slug.data or "").strip()
        problems = check_settings(
            version=version,
            slug=slug,
            title=settings.title,
            audience=settings.audience,
            languages=settings.languages,
            opens_on=settings.opens_on,
            closes_on=settings.closes_on,
            retention_days=settings.retention_days,
            suppression_threshold=settings.suppression_threshold,
        )
        loose += _attach(form, problems)
        if not form.errors and not loose and version is not None:
            try:
                wave = new_wave(
                    version,
                    slug=slug,
                    title=settings.title,
                    audience=settings.audience,
                    languages=settings.languages,
                    anonymous=settings.anonymous,
                    opens_on=settings.opens_on,
                    closes_on=settings.closes_on,
                    retention_days=settings.retention_days,
                    suppression_threshold=settings.suppression_threshold,
                )
                audit.record(
                    "wave_created",
                    _actor(),
                    wave.slug,
                    title=wave.title,
                    audience=wave.audience,
                    questionnaire=version.questionnaire_key,
                    content_hash=version.content_hash,
                    anonymous=wave.anonymous,
                    suppression_threshold=wave.suppression_threshold,
                )
                db.session.commit()
            except (WaveSettingsError, IntegrityError) as exc:
                # Another planner took the slug between the check and the insert.
                loose += _attach(form, _race_problems(exc, slug))
            else:
                flash(_("Wave %(title)s created as a draft.", title=wave.title), "info")
                return redirect(url_for("planner.wave", slug=wave.slug))
        db.session.rollback()
        return _render("planner/wave_form.html", form=form, wave=None, loose=loose), 422
    return _render("planner/wave_form.html", form=form, wave=None, loose=loose)


def anonymity_claims(questionnaire: Questionnaire) -> list[str]:
    """Where a questionnaire's own texts call the answers anonymous, e.g. "welcome (nl)".

    The app's own words follow the wave's mode; a questionnaire's texts are the planner's, so an
    identified wave using one that says "anonymous" gets a warning on its page instead.
    """
    texts: list[tuple[str, Any]] = [
        ("title", questionnaire.title),
        ("welcome", questionnaire.welcome),
        ("thanks", questionnaire.thanks),
    ]
    for page in questionnaire.pages:
        texts += [(f"page {page.id}", page.title), (f"page {page.id}", page.intro)]
        for question in page.questions:
            texts += [(f"question {question.id}", question.label), (f"question {question.id}", question.help)]
            texts += [(f"question {question.id}", choice.label) for choice in question.choices]
            texts += [(f"question {question.id}", item.label) for item in question.items]
    found: list[str] = []
    # In the questionnaire's language order: a text read back from PostgreSQL (JSONB) has its
    # languages in another order than the file.
    order = {lang: index for index, lang in enumerate(questionnaire.languages)}
    for where, text in texts:
        for lang, value in sorted((text or {}).items(), key=lambda item: (order.get(item[0], 99), item[0])):
            place = f"{where} ({lang})"
            if mail.ANONYMITY_WORDS.search(str(value)) and place not in found:
                found.append(place)
    return found


def _anonymity_claims_of(wave: Wave) -> list[str]:
    """The warning's places, for an identified wave only."""
    return [] if wave.anonymous else anonymity_claims(questionnaire_of(wave.questionnaire_version))


@bp.get("/waves/<slug>")
@role_required("viewer")
def wave(slug: str) -> str:
    found = _wave_or_404(slug)
    return _render(
        "planner/wave.html",
        wave=found,
        anonymity_claims=_anonymity_claims_of(found),
        repeated_from=db.session.get(Wave, found.repeated_from_id) if found.repeated_from_id else None,
        **_monitor_context(found),
        transitions=_transitions(found),
        repeat_form=_repeat_form(found),
    )


@bp.get("/waves/<slug>/monitor")
@role_required("viewer")
def monitor(slug: str) -> str:
    found = _wave_or_404(slug)
    return _render("planner/wave_monitor.html", wave=found, **_monitor_context(found))


def _monitor_context(wave: Wave) -> dict[str, Any]:
    """The monitoring picture with the questionnaire's labels and order of groups."""
    from surveyapp.survey.service import questionnaire_of

    try:
        questionnaire = questionnaire_of(wave.questionnaire_version)
    except Exception:  # a monitor with register names beats no monitor
        questionnaire = None
    labels = monitoring.group_labels(questionnaire, _lang())
    return {"monitor": monitoring.monitor_wave(wave, labels), "group_labels": labels}


def _transitions(wave: Wave) -> list[tuple[str, str]]:
    order = ["open", "closed", "archived"]
    allowed = TRANSITIONS.get(wave.state, set())
    return [(state, transition_label(wave.state, state)) for state in order if state in allowed]


@bp.route("/waves/<slug>/edit", methods=["GET", "POST"])
@role_required("planner")
def edit_wave(slug: str) -> Any:
    found = _wave_or_404(slug)
    if found.state == "archived":
        return _refuse(found, _("An archived wave cannot change."))
    current = WaveSettings.of(found)
    form = WaveForm(
        data={
            "title": current.title,
            "audience": current.audience,
            "languages": list(current.languages),
            "anonymity": "anonymous" if current.anonymous else "identified",
            "opens_on": current.opens_on,
            "closes_on": current.closes_on,
            "retention_days": current.retention_days,
            "suppression_threshold": current.suppression_threshold,
            "questionnaire": f"version:{found.questionnaire_version_id}",
        }
    )
    del form.slug
    if found.state == "draft":
        form.questionnaire.choices = _questionnaire_choices(questionnaire_files(_questionnaire_dir()))
    else:
        # Opened once: the questionnaire is frozen and the invitations promised the rest.
        for name in list(form._fields):
            if name not in EDITABLE_AFTER_OPENING and name != "csrf_token":
                delattr(form, name)
    loose: list[str] = []
    if request.method == "POST":
        form.validate()
        version = None
        if "questionnaire" in form._fields:
            try:
                version = _resolve_questionnaire(form.questionnaire.data)
            except WaveSettingsError as exc:
                loose += _attach(form, exc.problems)
        settings = _settings_from(form, current)
        if not form.errors and not loose:
            try:
                changed = update_wave(found, settings, version)
            except WaveSettingsError as exc:
                loose += _attach(form, exc.problems)
            else:
                if changed:
                    audit.record(
                        "wave_updated",
                        _actor(),
                        found.slug,
                        changes={name: [str(old), str(new)] for name, (old, new) in changed.items()},
                    )
                db.session.commit()
                flash(_("Wave %(title)s saved.", title=found.title), "info")
                return redirect(url_for("planner.wave", slug=found.slug))
        else:
            # Also show the service's findings for the fields that did parse.
            problems = check_settings(
                version=version or found.questionnaire_version,
                title=settings.title,
                audience=settings.audience,
                languages=settings.languages,
                opens_on=settings.opens_on,
                closes_on=settings.closes_on,
                retention_days=settings.retention_days,
                suppression_threshold=settings.suppression_threshold,
                wave_id=found.id,
            )
            loose += _attach(form, [p for p in problems if p.field in form._fields])
        db.session.rollback()
        return _render("planner/wave_form.html", form=form, wave=found, loose=loose), 422
    return _render("planner/wave_form.html", form=form, wave=found, loose=loose)


@bp.post("/waves/<slug>/state")
@role_required("planner")
def change_state(slug: str) -> Any:
    found = _wave_or_404(slug, lock=True)
    wanted = request.form.get("to", "")
    if wanted not in STATE_ACTIONS:
        abort(400, _("Choose a state: open, closed or archived."))
    before = found.state
    invited = 0
    try:
        if wanted == "open":
            invited = open_wave(found)
        else:
            set_state(found, wanted)
    except OpeningError as exc:
        # Nothing changed: back to the wave page, which says why and what to do first.
        db.session.rollback()
        flash(_opening_problem(exc), "error")
        return redirect(url_for("planner.wave", slug=slug), 303)
    except WaveStateError:
        db.session.rollback()
        return _refuse(
            found,
            _(
                "A %(current)s wave cannot become %(wanted)s. Reload the page to see what is possible now.",
                current=state_label(before),
                wanted=state_label(wanted),
            ),
        )
    details: dict[str, Any] = {"from_state": before}
    if wanted == "open":
        details.update(
            content_hash=found.questionnaire_version.content_hash,
            base_population=found.base_population,
            invitations_created=invited,
        )
    audit.record(STATE_ACTIONS[wanted], _actor(), found.slug, **details)
    db.session.commit()
    flash(_("The wave is now %(state)s.", state=state_label(found.state)), "info")
    if wanted == "open":
        flash(
            ngettext(
                "%(num)d invitation was created. Send the invitation mails from the mail page.",
                "%(num)d invitations were created. Send the invitation mails from the mail page.",
                invited,
            ),
            "info",
        )
    return redirect(url_for("planner.wave", slug=found.slug))


def _opening_problem(exc: OpeningError) -> str:
    """Why a wave cannot open yet, in the planner's language."""
    if exc.code == "register_empty":
        return _("The wave cannot open: its register is empty. Import the staff register first.")
    return _("The wave cannot open: it has no closing date. Set one under the wave's settings first.")


@bp.post("/waves/<slug>/preview")
@role_required("planner")
def make_preview(slug: str) -> Any:
    """A test link for a draft wave: its questionnaire as respondents will see it, counting nowhere."""
    found = _wave_or_404(slug)
    try:
        created = preview.create(found, created_by=_actor())
    except preview.PreviewError:
        db.session.rollback()
        return _refuse(
            found,
            _(
                "Only a draft wave has a preview: this one is %(state)s, so respondents answer through "
                "their own links now.",
                state=state_label(found.state),
            ),
        )
    audit.record("wave_preview_created", _actor(), found.slug, expires_at=created.expires_at.isoformat())
    db.session.commit()
    link = created.link(current_app.config["BASE_URL"])
    return _render(
        "planner/wave_preview.html",
        wave=found,
        link=link,
        expires_on=created.expires_at.date(),
        anonymity_claims=_anonymity_claims_of(found),
        days=preview.PREVIEW_DAYS,
        language_links=[(code, name, f"{link}?lang={code}") for code, name in _language_names(found)],
    )


def _language_names(wave: Wave) -> list[tuple[str, str]]:
    names = {choice.value: choice.label for choice in LANGUAGE_CHOICES}
    return [(code, str(names.get(code, code))) for code in (wave.languages or ["nl"])]


def _suggest_slug(slug: str) -> str:
    """gerechtigden-2026 → gerechtigden-2027; anything else gets a -2."""
    match = re.fullmatch(r"(.*?)(\d{4})", slug)
    if match:
        return f"{match.group(1)}{int(match.group(2)) + 1}"
    return f"{slug}-2"


def _repeat_form(wave: Wave) -> RepeatForm:
    form = RepeatForm(data={"title": wave.title, "slug": _suggest_slug(wave.slug)}, formdata=None)
    _repeat_choices(form, wave)
    return form


def _repeat_choices(form: RepeatForm, wave: Wave) -> None:
    key = wave.questionnaire_version.questionnaire_key
    files = questionnaire_files(_questionnaire_dir())
    same = SelectChoice(
        "same", _("The same version as this wave (%(v)s)", v=_version_label(wave.questionnaire_version))
    )
    others = [
        c for c in _questionnaire_choices(files, key) if c.value != f"version:{wave.questionnaire_version_id}"
    ]
    form.questionnaire.choices = [same, *others]
    if form.questionnaire.data is None:
        form.questionnaire.data = "same"


@bp.route("/waves/<slug>/repeat", methods=["GET", "POST"])
@role_required("planner")
def repeat(slug: str) -> Any:
    source = _wave_or_404(slug)
    if request.method == "GET":
        return _render("planner/wave_repeat.html", wave=source, form=_repeat_form(source), loose=[])
    form = RepeatForm()
    _repeat_choices(form, source)
    form.validate()
    loose: list[str] = []
    version = source.questionnaire_version
    if form.questionnaire.data not in (None, "", "same"):
        try:
            version = _resolve_questionnaire(form.questionnaire.data)
        except WaveSettingsError as exc:
            loose += _attach(form, exc.problems)
    if not form.errors and not loose:
        slug = (form.slug.data or "").strip()
        try:
            wave = repeat_wave(
                source,
                slug=slug,
                title=form.title.data or "",
                opens_on=form.opens_on.data,
                closes_on=form.closes_on.data,
                version=version,
            )
            audit.record(
                "wave_repeated",
                _actor(),
                wave.slug,
                repeated_from=source.slug,
                content_hash=wave.questionnaire_version.content_hash,
            )
            db.session.commit()
        except (WaveSettingsError, IntegrityError) as exc:
            loose += _attach(form, _race_problems(exc, slug))
        else:
            flash(
                _("Wave %(title)s created as a repeat of %(source)s.", title=wave.title, source=source.title),
                "info",
            )
            return redirect(url_for("planner.wave", slug=wave.slug))
    db.session.rollback()
    return _render("planner/wave_repeat.html", wave=source, form=form, loose=loose), 422


# --- the daily chart --------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _daily_png(
    fingerprint: str,
    days: tuple[date, ...],
    counts: tuple[int, ...],
    rates: tuple[float | None, ...],
    count_label: str,
    rate_label: str,
    lang: str,
) -> bytes:
    """Rendered once per wave and state of its data (the fingerprint is in the key)."""
    figure = charts.daily_figure(
        days, counts, rates, count_label=count_label, rate_label=rate_label, lang=lang
    )
    return charts.png_bytes(figure)


@bp.get("/waves/<slug>/monitor/daily.png")
@role_required("viewer")
def daily_chart(slug: str) -> Response:
    found = _wave_or_404(slug)
    invited = monitoring.overall_counts(found.id).invited
    daily = monitoring.daily_counts(found, invited)
    locale = str(get_locale() or "nl")
    etag = monitoring.daily_fingerprint(found, daily, str(invited), locale)
    response = Response(mimetype="image/png")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={CHART_MAX_AGE}"
    response.vary.add("Cookie")
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    response.set_data(
        _daily_png(
            etag,
            tuple(d.day for d in daily),
            tuple(d.submitted for d in daily),
            tuple(d.cumulative_rate for d in daily),
            _("Responses per day"),
            _("Response rate (cumulative)"),
            locale,
        )
    )
    return response
