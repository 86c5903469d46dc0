"""The function RQ workers run: ``surveyapp.worker.run_job(job_id)``.

RQ imports this module in the worker and calls :func:`run_job` with the id of a ``Job`` row.
Under ``surveyapp worker`` the app context is already there (the work horse is forked from a
process inside it); anywhere else (``rq worker`` run by hand) the function builds the app itself
from the environment.
"""

from __future__ import annotations

from flask import has_app_context

from surveyapp import jobs


def run_job(job_id: str) -> str | None:
    """Run one job; returns its final state (kept by RQ as the job's result)."""
    if has_app_context():
        return _run(job_id)
    from surveyapp import create_app

    app = create_app()
    with app.app_context():
        return _run(job_id)


def _run(job_id: str) -> str | None:
    from surveyapp.extensions import db

    try:
        job = jobs.run(job_id)
        return job.state if job is not None else None
    finally:
        db.session.remove()
