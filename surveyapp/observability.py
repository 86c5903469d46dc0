"""Structured request logs with request ids, and never a token, answer or e-mail in them."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import sys
import time
import traceback
from typing import Any

import psycopg
from flask import Flask, g, request
from sqlalchemy.exc import DBAPIError
from werkzeug.wrappers import Response

logger = logging.getLogger("surveyapp.requests")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Personal-link tokens live in these paths; logs show the shape of the path, not the token.
TOKEN_PATH = re.compile(r"^/s/[^/]+")


def redact_path(path: str) -> str:
    return TOKEN_PATH.sub("/s/[token]", path)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship to any log store."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # set by RedactDatabaseErrors
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class RedactTokens(logging.Filter):
    """Flask logs 'Exception on /s/<token> [GET]': keep personal-link tokens out of every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/s/" in message:
            record.msg = re.sub(r"/s/[^/\s\]]+", "/s/[token]", message)
            record.args = None
        return True


_DATABASE_ERRORS = (DBAPIError, psycopg.Error, sqlite3.Error)


def _chain(error: BaseException) -> list[BaseException]:
    """An exception and those it came from (``__cause__``/``__context__``)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def database_error_summary(error: BaseException) -> str:
    """A database error's kind without its text: the text can hold the values of the failing row
    (PostgreSQL's "Failing row contains (…)", a statement's parameters), and those are answers."""
    chain = _chain(error)
    kinds = [f"{type(e).__module__}.{type(e).__qualname__}" for e in chain]
    sqlstate = next((e.sqlstate for e in chain if isinstance(e, psycopg.Error) and e.sqlstate), None)
    state = f", SQLSTATE {sqlstate}" if sqlstate else ""
    return f"{' <- '.join(kinds)}{state} (its message is not logged: it can hold the row's values)"


class RedactDatabaseErrors(logging.Filter):
    """Log a database error's traceback and kind, never its message (see ``database_error_summary``).

    Engines have ``hide_parameters`` on, but a constraint's error detail still quotes the row.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if any(isinstance(e, _DATABASE_ERRORS) for e in _chain(error)):
                frames = "".join(traceback.format_tb(error.__traceback__))
                summary = database_error_summary(error)
                record.exc_text = f"Traceback (most recent call last):\n{frames}{summary}"
                record.exc_info = None
        if isinstance(record.args, tuple) and any(isinstance(a, _DATABASE_ERRORS) for a in record.args):
            record.args = tuple(
                database_error_summary(a) if isinstance(a, _DATABASE_ERRORS) else a for a in record.args
            )
        return True


# Loggers whose records may carry a database error (Flask's "Exception on …", background jobs).
REDACTED_LOGGERS = ("surveyapp.jobs", "surveyapp.requests")


def init_app(app: Flask) -> None:
    app.logger.addFilter(RedactTokens())
    app.logger.addFilter(RedactDatabaseErrors())
    for name in REDACTED_LOGGERS:
        named = logging.getLogger(name)
        if not any(isinstance(f, RedactDatabaseErrors) for f in named.filters):
            named.addFilter(RedactDatabaseErrors())
    if not app.testing and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    log_requests = app.config.get("LOG_REQUESTS", True)

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if not log_requests:
            return response  # gunicorn's access log already has this line (with the request id)
        started = g.get("request_started")
        fields = {
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": redact_path(request.path),  # no query string: it may carry anything
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        }
        logger.info("request", extra={"fields": fields})
        return response
