"""Shared fixtures: an app on SQLite and on PostgreSQL, built by the real migrations.

Database tests use the ``app`` fixture, parametrised over both backends. PostgreSQL tests run
against ``TEST_DATABASE_URL`` and skip when no server answers, unless
``SURVEYAPP_REQUIRE_SERVICES=1`` (CI) makes a missing server an error.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from surveyapp import create_app
from surveyapp.extensions import db

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent
REQUIRE_SERVICES = os.environ.get("SURVEYAPP_REQUIRE_SERVICES") == "1"


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def postgres_url() -> str | None:
    """The test PostgreSQL URL when a server answers there, else None."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    engine = create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return None
    finally:
        engine.dispose()
    return url


def need_postgres() -> str:
    url = postgres_url()
    if url is None:
        message = "no PostgreSQL server: set TEST_DATABASE_URL to run these tests"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return url


def migrate_to_head(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url), "TESTING": True, "SECRET_KEY": "t"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def reset_postgres(url: str) -> None:
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database built once by the migrations; each test gets a copy."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def postgres_migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this test run's own on the test server, so parallel runs never collide.

    Falls back to the named database itself where the account may not create databases.
    """
    server_url = need_postgres()
    own_name = f"surveyapp_test_{os.getpid()}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{own_name}"'))
            connection.execute(text(f'CREATE DATABASE "{own_name}"'))
        url = server_url.rsplit("/", 1)[0] + "/" + own_name
        created = True
    except Exception:
        url, created = server_url, False
    reset_postgres(url)
    migrate_to_head(url, tmp_path_factory.mktemp("pg"))
    yield url
    if created:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{own_name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(url: str) -> None:
    engine = create_engine(sqlalchemy_url(url))
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def make_app(url: str, tmp_path: Path, **overrides: object) -> Flask:
    config: dict[str, object] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url),
        "WTF_CSRF_ENABLED": False,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_migrated")
        truncate_all(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "test.sqlite3"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on one backend. Like flaskr, no context is held open between requests:
    tests open ``app.app_context()`` themselves to look in the database."""
    application = make_app(database_url, tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def close_open_waves(app: Flask) -> None:
    """Close every open wave with the planner's CLI, which turns pending submissions into responses.

    Submissions become anonymous responses in batches of k, or all at once when the wave closes;
    tests that look at stored responses after a few submissions close the wave first.
    """
    from sqlalchemy import select

    from surveyapp.models import Wave

    with app.app_context():
        slugs = db.session.execute(select(Wave.slug).where(Wave.state == "open")).scalars().all()
    runner = app.test_cli_runner()
    for slug in slugs:
        result = runner.invoke(args=["wave", "close", slug])
        assert result.exit_code == 0, result.output
