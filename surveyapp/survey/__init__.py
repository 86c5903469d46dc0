"""The respondent's blueprint: personal links, page-by-page answering, anonymous submission."""

from flask import Blueprint

bp = Blueprint("survey", __name__)

from surveyapp.survey import optout, views  # noqa: E402,F401  (routes register on import)
