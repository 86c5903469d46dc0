"""The migrations build exactly the models' schema, on SQLite and PostgreSQL, both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from surveyapp.extensions import db


def schema_drift(app: Flask) -> list[object]:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def test_migrations_match_the_models(app: Flask) -> None:
    assert schema_drift(app) == []


def test_downgrade_to_base_and_upgrade_again(app: Flask) -> None:
    with app.app_context():
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert schema_drift(app) == []


def test_each_step_downgrades_cleanly(app: Flask) -> None:
    with app.app_context():
        downgrade(revision="0001")
        assert "access_tokens" not in inspect(db.engine).get_table_names()
        assert "session_nonce" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "plan_action_statuses" not in inspect(db.engine).get_table_names()
        upgrade()
    assert schema_drift(app) == []
