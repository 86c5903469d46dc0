"""Opt-out from reminders through the personal link in a reminder: ``/s/<token>/opt-out``.

GET shows a confirmation page, POST (a CSRF-protected form) records the wish. Opting out only
stops reminders; the personal link keeps working. An unknown token gets the same 404 page as a
wrong survey link, so the page reveals nothing about which tokens exist.
"""

from __future__ import annotations

from flask import abort, render_template, session
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from surveyapp.extensions import db, limiter, token_rate_key
from surveyapp.models import Invitation
from surveyapp.survey import bp, service, views


class OptOutForm(FlaskForm):
    """Only the CSRF token: the decision is the button."""


def _invitation(token: str) -> Invitation:
    check = service.check_token(token)
    if check.state == "unknown" or check.invitation is None:
        abort(404, _("This link is not valid. Check that you copied the whole link from the e-mail."))
    if check.state == "withdrawn":
        abort(410, views.withdrawn_text())
    invitation = check.invitation
    # Like the survey link: the person's own language unless they chose one in this browser.
    if "lang" not in session and invitation.language in (invitation.wave.languages or []):
        session["lang"] = invitation.language
    return invitation


# As for the survey link: generous per address (a whole office shares one), tight per token.
@bp.get("/s/<token>/opt-out")
@limiter.limit("300 per minute;5000 per hour")
@limiter.limit("30 per minute", key_func=token_rate_key)
def opt_out(token: str) -> str:
    invitation = _invitation(token)
    if invitation.opted_out:
        return render_template("survey/optout_done.html", already=True)
    return render_template("survey/optout.html", form=OptOutForm(), token=token)


@bp.post("/s/<token>/opt-out")
@limiter.limit("300 per minute;5000 per hour")
@limiter.limit("30 per minute", key_func=token_rate_key)
def opt_out_confirm(token: str) -> tuple[str, int]:
    invitation = _invitation(token)
    form = OptOutForm()
    if not form.validate_on_submit():
        abort(400, _("This form could not be sent. Open the link from the e-mail again."))
    already = invitation.opted_out
    invitation.opted_out = True
    db.session.commit()
    return render_template("survey/optout_done.html", already=already), 200
