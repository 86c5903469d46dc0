"""Friendly error pages: every bad input ends in a clear 4xx page, never a stack trace."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return (
            render_template(
                "message.html",
                title=_("Your page expired"),
                message=_(
                    "For your security this page could not be sent. Your earlier answers are "
                    "kept. Go back, reload the page and try again."
                ),
            ),
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        titles = {
            400: _("Something is wrong with this request"),
            403: _("You do not have access to this page"),
            404: _("Page not found"),
            405: _("This action is not allowed here"),
            413: _("The file or form is too large"),
            422: _("Some answers need attention"),
            429: _("Too many requests"),
        }
        generic = {
            404: _("There is no page at this address. Check the link or go back."),
            405: _("This page cannot be used like this."),
            413: _("Send a smaller file or less text."),
            429: _("Please wait a moment and try again."),
        }
        # Werkzeug's own descriptions are English and technical; ours are translated.
        own_text = error.description and error.description != type(error).description
        if code >= 500:
            message = _("Please try again later.")
        elif own_text:
            message = str(error.description)
        else:
            message = generic.get(code, _("Check what you sent and try again."))
        return (
            render_template(
                "message.html", title=titles.get(code, _("Something went wrong")), message=message
            ),
            code,
        )
