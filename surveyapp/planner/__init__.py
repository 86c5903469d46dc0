"""The planners' blueprint: waves, register, invitations, monitoring, reports.

Each concern lives in its own module; importing them registers their routes here.
"""

from flask import Blueprint

bp = Blueprint("planner", __name__, url_prefix="/planner")

from surveyapp.planner import followup, home, mailing, register, reports, results, waves  # noqa: E402,F401  (routes register on import)
