"""The planner's start page: the waves and where each stands."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import case, func, select

from surveyapp.auth import role_required
from surveyapp.extensions import db
from surveyapp.models import Invitation, Wave
from surveyapp.planner import bp


@bp.get("/")
@role_required("viewer")
def home() -> str:
    counts = (
        select(
            Invitation.wave_id,
            func.count().label("invited"),
            func.sum(case((Invitation.submitted.is_(True), 1), else_=0)).label("submitted"),
        )
        .group_by(Invitation.wave_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Wave, counts.c.invited, counts.c.submitted)
        .outerjoin(counts, counts.c.wave_id == Wave.id)
        .order_by(Wave.created_at.desc(), Wave.id.desc())
    ).all()
    return render_template("planner/home.html", rows=rows)
