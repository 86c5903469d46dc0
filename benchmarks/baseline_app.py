"""The bare baseline for benchmarks/load.py: Flask + SQLAlchemy + psycopg doing one INSERT per request.

Served by the same gunicorn with the same ``gunicorn.conf.py`` as the app, it shows what this
stack (gunicorn worker, WSGI, Flask routing, a pooled PostgreSQL connection, one short write
transaction) can do on this machine, so the app's page throughput can be read as a share of it:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/surveyapp_bench \
        gunicorn -c gunicorn.conf.py --pythonpath benchmarks 'baseline_app:create_baseline()'

``/hit`` (GET or POST) inserts one row into ``baseline_hits`` (a table of its own, created by
:func:`create_table`) and answers a small HTML page; ``/readyz`` answers like the app's.
"""

from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import Engine, create_engine, text

from surveyapp.pool import ping_when_idle

TABLE = "baseline_hits"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)"
)


def engine_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_table(url: str) -> None:
    engine = create_engine(engine_url(url))
    with engine.begin() as connection:
        connection.execute(text(CREATE))
    engine.dispose()


def create_baseline(url: str | None = None) -> Flask:
    app = Flask(__name__)
    # The app's engine set-up: a pool per process, connections pinged after an idle second.
    engine: Engine = create_engine(engine_url(url or os.environ["DATABASE_URL"]))
    ping_when_idle(engine, 1.0)
    app.extensions["baseline_engine"] = engine

    @app.route("/hit", methods=["GET", "POST"])
    def hit() -> str:
        note = request.form.get("note", "get") if request.method == "POST" else "get"
        with engine.begin() as connection:
            connection.execute(text(f"INSERT INTO {TABLE} (note) VALUES (:note)"), {"note": note[:50]})
        return "<!doctype html><title>ok</title><p>stored</p>"

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
