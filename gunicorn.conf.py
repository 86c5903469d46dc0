"""Production settings for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every setting comes from the environment, with defaults measured on this app (see the "Load"
section of benchmarks/README.md for the figures behind them):

    variable                        default                                 gunicorn setting
    BIND                            0.0.0.0:$PORT, else 127.0.0.1:8000      bind (comma-separated list)
    PORT                            (unset)                                 the port of the default bind
    WEB_CONCURRENCY                 2 × usable cores + 1                    workers
    GUNICORN_WORKER_CLASS           sync                                    worker_class (sync | gthread)
    GUNICORN_THREADS                4                                       threads (gthread only)
    GUNICORN_TIMEOUT                60                                      timeout (seconds)
    GUNICORN_GRACEFUL_TIMEOUT       30                                      graceful_timeout (seconds)
    GUNICORN_KEEPALIVE              5                                       keepalive (gthread only)
    GUNICORN_MAX_REQUESTS           5000 (0: no recycling)                  max_requests
    GUNICORN_MAX_REQUESTS_JITTER    10 % of max_requests                    max_requests_jitter
    GUNICORN_PRELOAD                on                                      preload_app
    FORWARDED_ALLOW_IPS             127.0.0.1,::1                           forwarded_allow_ips
    ACCESS_LOG                      - (stdout); off disables it             accesslog
    ERROR_LOG                       - (stderr)                              errorlog
    LOG_LEVEL                       info                                    loglevel
    GUNICORN_CONTROL_SOCKET         (unset: no control socket)              control_socket

Why these values:

* **sync, 2 × cores + 1 workers.** The app is CPU-bound (about 2 ms of CPU per respondent
  request in gunicorn, 0.3 ms in PostgreSQL, short database waits). Measured with
  ``benchmarks/load.py`` on 2 cores (when a request still took 12 ms), ``sync`` and ``gthread``
  (2 or 4 threads) used the same CPU per request and gave the same throughput, but ``sync`` had
  the lower tail latency (p95/p99 0.7/0.8 s against 0.9-1.3/1.2-1.7 s at saturation): threads
  of one process only take turns on the GIL, stretching every request in the process. The extra
  worker per core covers the database waits. ``sync`` needs a buffering proxy in front (nginx,
  an ingress, the platform router), which TLS needs anyway; where slow clients reach gunicorn
  directly, set ``GUNICORN_WORKER_CLASS=gthread`` (4 threads, keep-alive 5 s). Every worker
  holds a SQLAlchemy pool (5 + 10 overflow; each thread keeps one of them for the respondents'
  single statements, and may use a second for a transaction), so workers × 15 at most must stay
  below PostgreSQL's ``max_connections`` minus what the RQ workers and the release command use
  (with sync workers: 2 per worker in practice).
* **timeout 60 s.** With ``sync`` it is a per-request limit, so it stays above the slowest
  planner page (analysis); respondent requests take milliseconds. (With gthread it is the
  worker's heartbeat instead.)
* **graceful_timeout 30 s.** On a deploy or ``max_requests`` recycle, requests in flight (a
  submit: one short transaction) finish; 30 s is far more than any respondent request needs.
* **max_requests 5000 ± 10 %.** Recycles a worker after ~230 questionnaires (22 requests
  each), bounding slow memory growth (``benchmarks/soak.py`` measures it); the jitter keeps
  workers from recycling at the same moment. With ``preload_app`` a recycle is a fork, not a 5-10 s re-import.
* **preload_app on.** The app imports pandas, SciPy, statsmodels and matplotlib (the analysis):
  about 220 MB and 3 CPU-seconds per process. Preloaded, the workers share those pages
  copy-on-write and a recycled worker starts in milliseconds instead of competing for the CPU
  with the requests. Measured with 5 workers: 226 MB PSS in all instead of 847 MB, and 3 s
  of CPU to start instead of 15 s. The cost: code changes need a restart of the whole server (``kill -HUP``
  reloads configuration but not preloaded code), which is what a release does anyway. Nothing
  in ``create_app`` opens a connection, and ``post_fork`` below throws away any pooled database
  connection a worker could inherit, so no socket is ever shared between processes.
* **forwarded_allow_ips.** Only the proxies listed here may tell gunicorn that the original
  request was HTTPS (``X-Forwarded-Proto``), which Flask needs for secure cookies and HSTS. Set
  it to the address(es) of the TLS-terminating proxy or load balancer (``*`` only when nothing
  but the proxy can reach gunicorn). Note: gunicorn does NOT rewrite ``REMOTE_ADDR`` from
  ``X-Forwarded-For``; behind a proxy every request comes from the proxy's address, so the app's
  per-address rate limits need werkzeug's ``ProxyFix`` (an app setting, not a gunicorn one).
* **Access log.** One JSON object per line, without the query string, with personal-link tokens
  replaced by ``[token]`` and without the client address (the app keeps no IP next to a survey
  step either), with the app's request id. While it is on, the app's own per-request line
  (``surveyapp.requests``) is turned off (``LOG_REQUESTS=0`` unless set), so each request is
  logged once; with ``ACCESS_LOG=off`` the app's line takes its place.
  A submit's line dates it to the second, which joins to no response: the response is made
  later, in a shuffled batch of at least k, and keeps only its batch's day and transaction
  (``surveyapp/survey/pending.py``, README "Anonymity").
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
from typing import Any

from gunicorn.glogging import Logger


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _bind() -> list[str]:
    if os.environ.get("BIND"):
        return [part.strip() for part in os.environ["BIND"].split(",") if part.strip()]
    if os.environ.get("PORT"):
        return [f"0.0.0.0:{int(os.environ['PORT'])}"]  # PaaS style: the platform routes to $PORT
    return ["127.0.0.1:8000"]


# --- server socket and workers ------------------------------------------------------------------

bind = _bind()
workers = _env_int("WEB_CONCURRENCY", 2 * _cores() + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _env_int("GUNICORN_THREADS", 4) if worker_class == "gthread" else 1
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
timeout = _env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
preload_app = _env_bool("GUNICORN_PRELOAD", True)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Heartbeat files in memory, not on a possibly slow or read-only disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs, not a temp file
proc_name = "surveyapp"
# gunicorn's control socket (``gunicornc``) defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl):
# two servers of one user on a host would take it from each other, and a PaaS home may be
# read-only. Off unless a path is given.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control:
    control_socket = _control
else:
    control_socket_disable = True

# Requests are small (a page of answers); the limits below are gunicorn's defaults, kept explicit.
limit_request_line = 4094
limit_request_fields = 100


# --- logging ------------------------------------------------------------------------------------

_access = os.environ.get("ACCESS_LOG", "-").strip()
accesslog = None if _access.lower() in {"", "off", "none", "0", "false"} else _access
# The access log has method, path, status, duration and the app's request id: the app's own
# per-request line would say it all again (and cost a log line per request). gunicorn sets
# raw_env in the master before it loads the app.
raw_env = ["LOG_REQUESTS=0"] if accesslog and "LOG_REQUESTS" not in os.environ else []
errorlog = os.environ.get("ERROR_LOG", "-")
loglevel = os.environ.get("LOG_LEVEL", "info")

# A personal-link token anywhere in a path (``/s/<token>``, ``/s/<token>/opt-out``).
TOKEN_IN_PATH = re.compile(r"/s/[^/?#\s\"]+")
QUERY = re.compile(r"\?[^\s\"]*")


def scrub(text: str) -> str:
    """A path or log message without personal-link tokens and without query strings."""
    return TOKEN_IN_PATH.sub("/s/[token]", QUERY.sub("", text))


# JSON values are filled into this template by gunicorn's %-formatting; RedactingLogger escapes
# them first, so every line is one valid JSON object.
access_log_format = (
    '{"time": "%(t)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(b)s", '
    '"duration_ms": %(M)s, "request_id": "%({x-request-id}o)s", "pid": %(p)s, "user_agent": "%(a)s"}'
)


FORMAT_KEY = re.compile(r"%\(([^)]+)\)s")


def _json_text(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False)[1:-1] if isinstance(value, str) else value


class RedactingLogger(Logger):
    """gunicorn's logger with tokens and query strings taken out of access and error lines."""

    def now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S%z")  # the app's JSON log uses the same format

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = scrub(str(atoms.get("U") or "-"))
        atoms["q"] = "-"
        atoms["p"] = os.getpid()  # a number, not gunicorn's "<pid>"
        method, protocol = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms["r"] = f"{method} {atoms['U']} {protocol}"
        # A Referer may hold a personal link (the app sends no-referrer, mail clients may not).
        atoms["f"] = "-"
        for key in ("{raw_uri}e", "{query_string}e", "{path_info}e", "{request_uri}e", "{http_referer}e"):
            atoms.pop(key, None)
        atoms["{referer}i"] = "-"
        used = set(FORMAT_KEY.findall(self.cfg.access_log_format))  # escape only what is printed
        return {key: _json_text(value) if key in used else value for key, value in atoms.items()}

    def _scrubbed(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(scrub(a) if isinstance(a, str) else a for a in args)

    # "Error handling request GET /s/<token>?…" and friends: the same redaction as the access log.
    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().error(scrub(msg), *self._scrubbed(args), **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().warning(scrub(msg), *self._scrubbed(args), **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().exception(scrub(msg), *self._scrubbed(args), **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().debug(scrub(msg), *self._scrubbed(args), **kwargs)


logger_class = RedactingLogger


class _ScrubRecords:
    """A logging filter for the app's logger: Flask logs "Exception on /s/<token> [GET]"."""

    def filter(self, record: Any) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        return True


# --- server hooks -------------------------------------------------------------------------------


def on_starting(server: Any) -> None:
    """Refuse to serve with the development secret key (anyone could forge a respondent's
    session) or in debug mode (Flask reads ``FLASK_DEBUG`` whatever server runs the app, and
    debug mode shows tracebacks with the code and the configuration to anyone)."""
    from flask.helpers import get_debug_flag

    from surveyapp.config import DEFAULT_SECRET_KEY

    if get_debug_flag():  # Flask's own reading of FLASK_DEBUG, so every value it takes is refused
        raise SystemExit(
            "FLASK_DEBUG is on: gunicorn serves surveyapp in production, where debug mode would show "
            "tracebacks with code and settings to anyone. Unset FLASK_DEBUG (see `surveyapp check`)."
        )

    if (os.environ.get("SECRET_KEY") or DEFAULT_SECRET_KEY) == DEFAULT_SECRET_KEY:
        raise SystemExit(
            "SECRET_KEY is not set: gunicorn serves surveyapp in production, where the development "
            "key would let anyone forge session cookies. Set SECRET_KEY (see `surveyapp check`)."
        )


def when_ready(server: Any) -> None:
    # Objects imported by the preloaded app are never collected: freezing them keeps the garbage
    # collector from writing to (and so un-sharing) their copy-on-write pages in every worker.
    if server.cfg.preload_app:
        gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """A worker starts with no database connection of its parent's (preload_app)."""
    if not server.cfg.preload_app:
        return
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy.engine import Engine

    app = server.app.wsgi()  # the preloaded app: already loaded in the master, so no import here
    engines: list[Engine] = []
    for extension in getattr(app, "extensions", {}).values():
        if isinstance(extension, SQLAlchemy):
            with app.app_context():
                engines.extend(extension.engines.values())
        elif isinstance(extension, Engine):  # a plain engine (benchmarks/baseline_app.py)
            engines.append(extension)
    for engine in engines:
        engine.dispose(close=False)  # forget the parent's pooled connections, do not close them


def post_worker_init(worker: Any) -> None:
    import logging

    # Flask's own exception log line names the request path, which may be a personal link.
    logging.getLogger("surveyapp").addFilter(_ScrubRecords())
