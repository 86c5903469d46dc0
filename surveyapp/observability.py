"""Structured request logs with request ids, and never a token, answer or e-mail in them."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, g, request
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
        return json.dumps(entry, ensure_ascii=False)


class RedactTokens(logging.Filter):
    """Flask logs 'Exception on /s/<token> [GET]': keep personal-link tokens out of every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/s/" in message:
            record.msg = re.sub(r"/s/[^/\s\]]+", "/s/[token]", message)
            record.args = None
        return True


def init_app(app: Flask) -> None:
    app.logger.addFilter(RedactTokens())
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
