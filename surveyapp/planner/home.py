"""The planner's start page: the waves and where each stands."""

from __future__ import annotations

from flask import render_template

from surveyapp.auth import role_required
from surveyapp.planner import bp
from surveyapp.services.waves import waves_with_progress


@bp.get("/")
@role_required("viewer")
def home() -> str:
    rows = [(p.wave, p.invited, p.submitted) for p in waves_with_progress()]
    return render_template("planner/home.html", rows=rows)
