"""Respondent pages: personal link, welcome, one page per section, review, submit, thanks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import bindparam, select
from werkzeug.wrappers.response import Response as WerkzeugResponse

from surveyapp import crypto
from surveyapp.extensions import db, limiter, token_rate_key
from surveyapp.forms import PageForm, build_page_form, page_answers, page_form_class
from surveyapp.lru import LRU
from surveyapp.models import DraftAnswers, Invitation, QuestionnaireVersion, Wave
from surveyapp.questionnaire.model import Page, Questionnaire, localize
from surveyapp.survey import bp, pending, preview, service

# The session cookie is signed, not encrypted: anyone holding it can read it. It carries a sealed
# handle (surveyapp.crypto), new at every link opening, rather than the invitation's row id, which
# a database reader could look up.
SESSION_KEY = "respondent"
# A planner's preview of a draft wave (surveyapp.survey.preview) instead of an invitation.
PREVIEW_KEY = "preview_id"
# Set at submit, when the invitation leaves the session: the browser's back button and a
# bookmarked page then show "already answered" instead of "open your personal link".
SUBMITTED_KEY = "submitted"


def session_handle(invitation_id: int) -> str:
    """What the session cookie holds for a respondent: meaningless without the server's key."""
    return crypto.keys().seal_handle(invitation_id)


@dataclass(frozen=True)
class Visit:
    """What every respondent page needs, read in one statement of plain columns.

    Pages run this on every request of every respondent, so it reads columns rather than ORM
    entities; the few paths that write load the rows they change.
    """

    invitation_id: int  # 0 in a preview, which has no invitation
    wave_id: int
    languages: list[str]
    version_id: int
    questionnaire: Questionnaire
    draft: service.DraftState | None
    anonymous: bool = True
    threshold: int = 10
    preview_id: int | None = None

    @property
    def mode(self) -> dict[str, Any]:
        """What the pages say about the wave around the questions: its anonymity (the words
        "anonymous" only for an anonymous wave), its reporting threshold, and whether this is a
        planner's preview."""
        return {
            "anonymous": self.anonymous,
            "threshold": self.threshold,
            "wave_preview": self.preview_id is not None,
        }


def _language(visit: Visit) -> str:
    wanted = str(get_locale() or "nl")
    languages = visit.languages or ["nl"]
    return wanted if wanted in languages else languages[0]


# Built once from the tables (plain Core, no ORM entity): this runs on every request of every
# respondent (the compiled SQL is cached by SQLAlchemy anyway; this also saves building it).
_INVITATIONS, _WAVES, _VERSIONS = Invitation.__table__, Wave.__table__, QuestionnaireVersion.__table__
_DRAFTS = DraftAnswers.__table__
_VISIT = (
    select(
        _INVITATIONS.c.submitted,
        _WAVES.c.id,
        _WAVES.c.state,
        _WAVES.c.languages,
        _WAVES.c.questionnaire_version_id,
        _VERSIONS.c.content_hash,
        _WAVES.c.anonymous,
        _WAVES.c.suppression_threshold,
        _INVITATIONS.c.withdrawn_at,
    )
    .select_from(_INVITATIONS)
    .join(_WAVES, _WAVES.c.id == _INVITATIONS.c.wave_id)
    .join(_VERSIONS, _VERSIONS.c.id == _WAVES.c.questionnaire_version_id)
    .where(_INVITATIONS.c.id == bindparam("invitation_id"))
)
_VISIT_WITH_DRAFT = _VISIT.add_columns(_DRAFTS.c.id, _DRAFTS.c.sealed, _DRAFTS.c.revision).outerjoin(
    _DRAFTS, _DRAFTS.c.invitation_id == _INVITATIONS.c.id
)


def withdrawn_text() -> str:
    """What a withdrawn person sees on their personal link (translated per request)."""
    return _(
        "This personal link no longer works: you are no longer among the people asked for this "
        "survey (for example because you left the organisation). If you think this is a mistake, "
        "contact the organiser of the survey."
    )


def _current(*, with_draft: bool = False, transaction: bool = False) -> Visit:
    """The invitation this browser opened, or a clear 4xx when there is none or it is done.

    Without ``transaction`` the statement runs outside a transaction (one round trip, see
    ``service.execute_outside_transaction``); submit reads in the transaction it writes in.
    """
    preview_id = session.get(PREVIEW_KEY)
    if isinstance(preview_id, int):
        return _current_preview(preview_id, transaction=transaction)
    invitation_id = crypto.keys().open_handle(session.get(SESSION_KEY))
    row: Any = None  # a Row of nine columns, three more with the draft
    if isinstance(invitation_id, int):
        query = _VISIT_WITH_DRAFT if with_draft else _VISIT
        params = {"invitation_id": invitation_id}
        if transaction:
            row = db.session.connection().execute(query, params).one_or_none()
        else:
            row = service.execute_outside_transaction(query, params).row
    if row is None or not isinstance(invitation_id, int):
        if invitation_id is None and session.get(SUBMITTED_KEY):
            abort(_already_submitted())
        abort(403, _("Open the survey with the personal link from your invitation e-mail."))
    submitted, wave_id, wave_state, languages, version_id, content_hash, anonymous, threshold = row[:8]
    withdrawn_at = row[8]
    state = service.link_state(submitted=submitted, wave_state=wave_state, withdrawn=withdrawn_at is not None)
    if state == "withdrawn":
        abort(410, withdrawn_text())
    if state == "submitted":
        abort(409, _("This questionnaire has already been submitted. Thank you!"))
    if state == "closed":
        abort(410, _("This survey is closed. Thank you for your interest."))
    draft = None
    if with_draft and row[9] is not None:
        try:
            draft = service.decrypt_draft(invitation_id, row[10], row[11])
        except crypto.SealError:
            # Only when the keys changed without the old one among the fallbacks: say so
            # rather than overwrite the saved answers with an empty draft.
            current_app.logger.error("a draft could not be opened: is DRAFT_KEY or SECRET_KEY changed?")
            abort(503)  # "please try again later": nothing saved is touched
    return Visit(
        invitation_id=invitation_id,
        wave_id=wave_id,
        languages=languages or [],
        version_id=version_id,
        questionnaire=service.questionnaire_by_hash(content_hash, version_id),
        draft=draft,
        anonymous=bool(anonymous),
        threshold=int(threshold),
    )


def _preview_ended() -> str:
    return _(
        "This preview link no longer works: a preview ends when its wave opens, or %(days)d days "
        "after it was made. Make a new one on the wave's page.",
        days=preview.PREVIEW_DAYS,
    )


def _current_preview(preview_id: int, *, transaction: bool) -> Visit:
    """A planner's preview: the respondent's pages, with the answers in the preview's own row."""
    params = {"preview_id": preview_id}
    if transaction:
        row = db.session.connection().execute(preview.VISIT, params).one_or_none()
    else:
        row = service.execute_outside_transaction(preview.VISIT, params).row
    if row is None:
        abort(403, _("Open the preview with the link from the wave's page."))
    wave_id, wave_state, languages, version_id, content_hash, anonymous, threshold, expires_at = row[:8]
    if preview.state_of(wave_state=wave_state, expires_at=expires_at) != "ok":
        abort(410, _preview_ended())
    return Visit(
        invitation_id=0,
        wave_id=wave_id,
        languages=languages or [],
        version_id=version_id,
        questionnaire=service.questionnaire_by_hash(content_hash, version_id),
        draft=service.DraftState.of(*row[8:12]),
        anonymous=bool(anonymous),
        threshold=int(threshold),
        preview_id=preview_id,
    )


def _already_submitted() -> WerkzeugResponse:
    """The "already answered" page, for a browser whose questionnaire was submitted."""
    return make_response(render_template("survey/already.html"), 200)


def _started_draft(visit: Visit) -> service.DraftState:
    """The draft of a visit whose draft row is missing (a planner reset it): create it now.

    It is created in a transaction of its own, committed before the page goes on.
    """
    invitation = db.session.get(Invitation, visit.invitation_id)
    assert invitation is not None  # _current just read it
    draft = service.start(invitation)
    state = service.decrypt_draft(invitation.id, draft.sealed, draft.revision)
    db.session.commit()
    return state


# Generous per address, because a whole office answers from behind one NAT (500 respondents an
# hour opening their link a few times each); tight per token. Guessing a 256-bit token is hopeless
# anyway: these limits keep a flood from hurting everyone else.
@bp.get("/s/<token>")
@limiter.limit("300 per minute;5000 per hour")
@limiter.limit("30 per minute", key_func=token_rate_key)
def open_link(token: str) -> Any:
    """A personal link: remember the invitation in the session and move the token out of the URL."""
    opened = service.open_link(token)
    if opened.state == "unknown" or opened.invitation_id is None:
        abort(404, _("This link is not valid. Check that you copied the whole link from the e-mail."))
    if opened.state == "submitted":
        return render_template("survey/already.html"), 200
    if opened.state == "closed":
        abort(410, _("This survey is closed. Thank you for your interest."))
    if opened.state == "withdrawn":
        abort(410, withdrawn_text())
    session.pop(PREVIEW_KEY, None)
    session[SESSION_KEY] = session_handle(opened.invitation_id)
    if "lang" not in session and opened.language in opened.languages:
        session["lang"] = opened.language
    return redirect(url_for("survey.welcome"))


@bp.get("/preview/<token>")
@limiter.limit("300 per minute;5000 per hour")
@limiter.limit("30 per minute", key_func=token_rate_key)
def open_preview(token: str) -> Any:
    """A planner's preview link: like a personal link, but the answers count nowhere."""
    opened = preview.open_link(token)
    if opened.state == "unknown" or opened.preview_id is None:
        abort(404, _("This link is not valid. Check that you copied the whole link."))
    if opened.state == "ended":
        abort(410, _preview_ended())
    session.pop(SESSION_KEY, None)
    session[PREVIEW_KEY] = opened.preview_id
    get_locale()  # a ?lang= on the link chooses the language (the locale selector keeps it)
    return redirect(url_for("survey.welcome"))


@bp.get("/survey/")
def welcome() -> str:
    visit = _current(with_draft=True)
    questionnaire, draft = visit.questionnaire, visit.draft
    answers = draft.answers if draft else {}
    nav = service.navigation(questionnaire, answers)
    resume_page = draft.current_page if draft and draft.pages_done else None
    if resume_page is not None and nav.index(resume_page) is None:
        resume_page = nav.pages[0].id
    return render_template(
        "survey/welcome.html",
        questionnaire=questionnaire,
        lang=_language(visit),
        first_page=nav.pages[0].id,
        resume_page=resume_page,
        **visit.mode,
    )


def _questions_html(form: Any, lang: str) -> Markup:
    """The page's questions and their fields, as HTML (the ``questions`` macro, called directly)."""
    groups = [
        (question, [form[name] for name, q in form.field_questions.items() if q.id == question.id])
        for question in form.visible_questions
    ]
    macros = current_app.jinja_env.get_template("survey/_questions.html").module
    html: Markup = macros.questions(groups, lang)  # type: ignore[attr-defined]
    return html


def _render_page(
    questionnaire: Questionnaire,
    page: Page,
    answers: dict[str, Any],
    lang: str,
    *,
    form: Any = None,
    questions_html: Markup | None = None,
    csrf_value: str | None = None,
    nav: service.Navigation | None = None,
    mode: dict[str, Any],
) -> str:
    """A questionnaire page: the questions of ``form`` (with its errors), or HTML rendered earlier."""
    nav = nav or service.navigation(questionnaire, answers)
    index = nav.index(page.id) or 0
    return render_template(
        "survey/page.html",
        questionnaire=questionnaire,
        page=page,
        errors=form.errors if form is not None else {},
        form=form,
        questions_html=questions_html if questions_html is not None else _questions_html(form, lang),
        csrf_value=csrf_value,
        lang=lang,
        number=index + 1,
        total=len(nav.pages),
        has_previous=index > 0,
        **mode,
    )


# Stand for the CSRF token and the questions in a page kept for reuse: random, so no
# questionnaire text contains them.
_CSRF_SLOT = secrets.token_hex(16)
_QUESTIONS_SLOT = secrets.token_hex(16)
# The page around the questions, per questionnaire version, page, language, interface language,
# place in the navigation and the wave's mode (what its footer says, and whether a preview):
# a few hundred at most for the shipped questionnaires.
_PAGE_FRAMES: LRU[tuple[str, str, str, str, int, int, bool, int, bool], str] = LRU(512)


def _blank_page(
    questionnaire: Questionnaire,
    page: Page,
    answers: dict[str, Any],
    lang: str,
    form_class: type[PageForm],
    nav: service.Navigation,
    mode: dict[str, Any],
) -> str:
    """A page none of whose questions is answered yet: the same for everyone but the CSRF token.

    Its questions are fixed by the form class (questionnaire version, page, language, visible
    rows) and the interface language; they are rendered once and kept on the form class from
    its second use. The page around them is fixed by the questionnaire version,
    page, languages and place in the navigation, whatever the rows: it is rendered once with
    stand-ins for the questions and the token, and served with this browser's token. A request
    with a query string or a flashed message is rendered in full (from the kept questions).
    """
    locale = str(get_locale())  # the interface language (of the fixed texts around the questions)
    questions = form_class.blank_html.get(locale)
    if questions is None:
        questions = _questions_html(build_page_form(questionnaire, page, lang, answers), lang)
        # Kept from the second use only: a form class seen once is common (which rows a matrix
        # shows depends on earlier answers, and most respondents get a combination of their
        # own), and keeping those questions (tens of kB) would only fill memory.
        form_class.blank_html[locale] = questions if locale in form_class.blank_html else None
    if request.query_string or session.get("_flashes"):
        return _render_page(questionnaire, page, answers, lang, questions_html=questions, nav=nav, mode=mode)
    key = (
        questionnaire.content_hash,
        page.id,
        lang,
        locale,
        nav.index(page.id) or 0,
        len(nav.pages),
        mode["anonymous"],
        mode["threshold"],
        mode["wave_preview"],
    )
    frame = _PAGE_FRAMES.recent(key)
    if frame is None:
        frame = _render_page(
            questionnaire,
            page,
            answers,
            lang,
            questions_html=Markup(_QUESTIONS_SLOT),  # noqa: S704 - random hex  # nosec B704
            csrf_value=_CSRF_SLOT,
            nav=nav,
            mode=mode,
        )
        _PAGE_FRAMES.put(key, frame)
    # The questions first: they cannot contain the token's stand-in, nor any browser's token.
    return frame.replace(_QUESTIONS_SLOT, questions, 1).replace(_CSRF_SLOT, generate_csrf(), 1)


@bp.get("/survey/p/<page_id>")
def page(page_id: str) -> str:
    visit = _current(with_draft=True)
    questionnaire = visit.questionnaire
    answers = visit.draft.answers if visit.draft else {}
    nav = service.navigation(questionnaire, answers)
    if nav.index(page_id) is None:
        abort(404, _("This page is not part of your questionnaire."))
    if visit.draft is None:
        _started_draft(visit)  # a request that fails changes nothing, so only now
    current = questionnaire.pages[questionnaire.page_index(page_id)]
    lang = _language(visit)
    form_class = page_form_class(questionnaire, current, lang, answers)
    if not any(key in answers for key in form_class.field_answer_keys.values()):
        return _blank_page(questionnaire, current, answers, lang, form_class, nav, visit.mode)
    form = build_page_form(questionnaire, current, lang, answers)  # filled in with saved answers
    return _render_page(questionnaire, current, answers, lang, form=form, nav=nav, mode=visit.mode)


def _partial_answers(form: Any) -> dict[str, Any]:
    """On 'back' and 'save for later', keep each answer that is valid on its own."""
    form.validate()
    kept = page_answers(form)
    for name in form.errors:
        if name in form.field_answer_keys and form[name].raw_data:
            kept.pop(form.field_answer_keys[name], None)  # invalid data is not saved
    return kept


# A page save that finds its draft changed in between (another browser on the same link) reads
# the draft again and merges the page into it; this many tries before asking to send it again.
SAVE_ATTEMPTS = 5


@bp.post("/survey/p/<page_id>")
def save(page_id: str) -> Any:
    action = request.form.get("action", "next")
    for _attempt in range(SAVE_ATTEMPTS):
        visit = _current(with_draft=True)
        questionnaire = visit.questionnaire
        answers_read = visit.draft.answers if visit.draft else {}
        if service.navigation(questionnaire, answers_read).index(page_id) is None:
            abort(404, _("This page is not part of your questionnaire."))
        if action not in {"next", "back", "save"}:
            abort(400, _("Unknown action."))
        current = questionnaire.pages[questionnaire.page_index(page_id)]
        lang = _language(visit)
        form = build_page_form(questionnaire, current, lang, answers_read, formdata=request.form)
        if action == "next" and not form.validate():
            return _render_page(questionnaire, current, answers_read, lang, form=form, mode=visit.mode), 422
        given = page_answers(form) if action == "next" else _partial_answers(form)
        draft = visit.draft or _started_draft(visit)  # a request that fails changes nothing, so only now
        if visit.preview_id is not None:  # a planner's preview: its own row, never a draft
            answers = preview.save_page(
                questionnaire, visit.preview_id, draft, current, given, completed=action == "next"
            )
        else:
            answers = service.save_page(
                questionnaire, visit.invitation_id, draft, current, given, completed=action == "next"
            )
        if answers is not None:
            break
    else:
        abort(409, _("This page was saved from another window at the same moment. Please send it again."))
    # Nothing to commit: the page was stored by one statement outside a transaction.
    nav = service.navigation(questionnaire, answers)
    if action == "next":
        following = nav.after(page_id)
        return redirect(
            url_for("survey.review") if following is None else url_for("survey.page", page_id=following.id)
        )
    if action == "save":
        return redirect(url_for("survey.saved"))
    previous = nav.before(page_id)
    if previous is None:
        return redirect(url_for("survey.welcome"))
    return redirect(url_for("survey.page", page_id=previous.id))


@bp.get("/survey/saved")
def saved() -> str:
    visit = _current()
    return render_template("survey/saved.html", **visit.mode)


def _answer_text(questionnaire: Questionnaire, key: str, value: Any, lang: str) -> str:
    question = questionnaire.question(key.split("/", 1)[0])
    if isinstance(value, list):
        return "; ".join(localize(c.label, lang) for c in question.choices if c.code in value)
    choice = question.choice(str(value)) if question.choices else None
    return localize(choice.label, lang) if choice else str(value)


@bp.get("/survey/review")
def review() -> str:
    visit = _current(with_draft=True)
    questionnaire = visit.questionnaire
    answers = questionnaire.clean_answers(visit.draft.answers if visit.draft else {})
    lang = _language(visit)
    sections = []
    for page_ in questionnaire.visible_pages(answers):
        rows = []
        for question in page_.questions:
            if not question.answerable or not questionnaire.question_visible(question, answers):
                continue
            if question.type == "matrix":
                for item in questionnaire.visible_items(question, answers):
                    key = f"{question.id}/{item.id}"
                    label = f"{localize(question.label, lang)} — {localize(item.label, lang)}"
                    value = answers.get(key)
                    rows.append((label, _answer_text(questionnaire, key, value, lang) if value else None))
            else:
                value = answers.get(question.id)
                shown = (
                    _answer_text(questionnaire, question.id, value, lang) if value not in (None, []) else None
                )
                rows.append((localize(question.label, lang), shown))
        sections.append((page_, rows))
    incomplete = service.missing_required(questionnaire, answers)
    return render_template(
        "survey/review.html",
        questionnaire=questionnaire,
        sections=sections,
        lang=lang,
        incomplete=incomplete,
        **visit.mode,
    )


@bp.post("/survey/submit")
def submit() -> WerkzeugResponse | tuple[str, int]:
    visit = _current(transaction=True)
    if visit.preview_id is not None:
        return _submit_preview(visit, visit.preview_id)
    questionnaire = visit.questionnaire
    result = service.submit(
        questionnaire,
        wave_id=visit.wave_id,
        version_id=visit.version_id,
        invitation_id=visit.invitation_id,
        language=_language(visit),
    )
    if result.outcome == "incomplete" and result.page is not None:
        db.session.rollback()
        return redirect(url_for("survey.page", page_id=result.page.id, incomplete=1))
    if result.outcome == "already_submitted":
        db.session.rollback()
        return render_template("survey/already.html"), 409
    if result.outcome == "closed":
        db.session.rollback()
        abort(410, _("This survey is closed. Thank you for your interest."))
    thanks = localize(questionnaire.thanks, _language(visit))
    db.session.commit()
    session.pop(SESSION_KEY, None)
    session[SUBMITTED_KEY] = True
    session["thanks"] = thanks
    session[THANKS_MODE_KEY] = visit.mode
    # When this submit makes k wait, they become anonymous responses now (own transaction).
    pending.release_when_due(visit.wave_id)
    return redirect(url_for("survey.thanks"))


# What the thank-you page says about the wave it thanks for (the session has no visit by then).
THANKS_MODE_KEY = "thanks_mode"


def _submit_preview(visit: Visit, preview_id: int) -> WerkzeugResponse:
    """A preview's submit: checked as a respondent's is, then its answers go; nothing is stored."""
    questionnaire = visit.questionnaire
    answers = questionnaire.clean_answers(visit.draft.answers if visit.draft else {})
    incomplete = service.missing_required(questionnaire, answers)
    if incomplete is not None:
        db.session.rollback()
        return redirect(url_for("survey.page", page_id=incomplete.id, incomplete=1))
    preview.clear_answers(preview_id)
    db.session.commit()
    session.pop(PREVIEW_KEY, None)
    session["thanks"] = localize(questionnaire.thanks, _language(visit))
    session[THANKS_MODE_KEY] = visit.mode
    return redirect(url_for("survey.thanks"))


def _thanks_mode() -> dict[str, Any]:
    """The mode the last submit left in the session, or none (then the page claims nothing)."""
    mode = session.get(THANKS_MODE_KEY)
    if not isinstance(mode, dict) or not isinstance(mode.get("anonymous"), bool):
        return {}
    return {
        "anonymous": mode["anonymous"],
        "threshold": int(mode.get("threshold") or 10),
        "wave_preview": mode.get("wave_preview") is True,
    }


def service_contact(config: Any) -> dict[str, str] | None:
    """The service's contact details from the configuration; None when none is set."""
    details = {
        "email": str(config.get("SERVICE_CONTACT_EMAIL") or "").strip(),
        "phone": str(config.get("SERVICE_CONTACT_PHONE") or "").strip(),
        "url": str(config.get("SERVICE_CONTACT_URL") or "").strip(),
    }
    if not details["url"].startswith(("https://", "http://")):
        details["url"] = ""  # only a web address becomes a link
    if not any(details.values()):
        return None
    details["name"] = str(config.get("SERVICE_NAME") or "").strip()
    details["tel"] = "".join(c for c in details["phone"] if c.isdigit() or c == "+")
    return details


@bp.get("/survey/thanks")
def thanks() -> str:
    return render_template(
        "survey/thanks.html",
        thanks=session.get("thanks"),
        contact=service_contact(current_app.config),
        **_thanks_mode(),
    )
