"""Connection pool checks: ping a pooled database connection only when it has been idle.

SQLAlchemy's ``pool_pre_ping`` sends a round trip before every checkout, which on the
respondent pages is a quarter of the database work. A connection that was in use a moment ago
is almost surely alive; one that sat idle (overnight, or across a database restart in a quiet
hour) is the one worth checking. Under load no request pays for a ping; when the database
restarts under load, the request that meets a dead connection fails cleanly, SQLAlchemy marks
every older connection of the pool invalid, and the next requests reconnect by themselves.
This is the "pessimistic, custom" disconnect handling of SQLAlchemy's pooling documentation.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import PoolProxiedConnection

IDLE_SINCE = "surveyapp_idle_since"


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a connection at checkout when it has been idle for ``idle_seconds`` or longer."""

    @event.listens_for(engine, "checkin")
    def remember_checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(IDLE_SINCE)  # cleared when the record reconnects
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and retries the checkout with a fresh one.
            raise exc.DisconnectionError("idle connection is gone") from error
        if alive is False:
            raise exc.DisconnectionError("idle connection is gone")


class HeldConnections:
    """One driver connection per thread in autocommit mode, kept checked out between statements.

    The respondent pages run one or two single statements per request outside any transaction
    (``survey.service.execute_outside_transaction``). Checking a connection out of SQLAlchemy's
    pool and back in, and switching it to autocommit and back, cost about as much CPU as
    psycopg's own work for such a statement, so each thread (a sync worker has one) keeps its
    connection for the next request. It follows the pool's rules otherwise:

    * a connection idle for ``idle_seconds`` is pinged before use and replaced when dead, like
      ``ping_when_idle``; one that fails in use is invalidated and the next statement reconnects;
    * a disconnect met by any connection of the engine in this process (held or pooled) retires
      every connection held before it, as SQLAlchemy's pool does: after a database restart each
      process fails one request, not one per thread;
    * ``engine.dispose()`` closes every held connection of the engine (tests, ``post_fork``);
    * a forked child never uses or closes its parent's connection (it takes its own).

    A held connection stays checked out of the pool: each thread holds one all the time, and
    takes a second only for a transaction (submit, planner pages), well inside the pool's size.
    A thread that ends closes its held connection, so a thread per request does not empty the pool.
    """

    def __init__(self, engine: Engine, idle_seconds: float) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: set[_Held] = set()
        self._pid = os.getpid()
        self._disconnected_at = 0.0  # the last disconnect seen in this process (monotonic)
        event.listen(engine, "engine_disposed", self._disposed)
        event.listen(engine, "handle_error", self._error_elsewhere)

    def connection(self) -> _Held:
        """This thread's connection, checked and ready; ``done`` or ``failed`` after use."""
        held: _Held | None = getattr(self._local, "held", None)
        if self._pid != os.getpid():
            self._forked()
            held = None
        if held is not None and (
            held.driver.closed or held.driver.broken or held.since < self._disconnected_at
        ):
            self._drop(held)
            held = None
        if held is not None and time.monotonic() - held.last_used >= self.idle_seconds:
            try:
                alive = self.engine.dialect.do_ping(held.driver)
            except self.engine.dialect.loaded_dbapi.Error:
                alive = False
            if alive is False:
                self._drop(held)
                held = None
        if held is None:
            pooled = self.engine.raw_connection()  # the pool's checkout, idle ping included
            driver = pooled.driver_connection
            assert driver is not None
            driver.autocommit = True
            now = time.monotonic()
            held = _Held(pooled, driver, now, now)
            self._local.held = held
            # A thread that ends gives its connection back: a server with a thread per request
            # (werkzeug's, behind `flask run` and the live test servers) would otherwise keep
            # every finished thread's connection checked out until the pool is empty and every
            # request waits. The thread's locals are cleared when it ends; the finalizer runs then.
            self._local.token = token = _ThreadToken()
            weakref.finalize(token, self._thread_ended, held, os.getpid())
            with self._lock:
                self._held.add(held)
        return held

    def _thread_ended(self, held: _Held, pid: int) -> None:
        if pid != os.getpid():  # the parent's locals dropped in a forked child: not ours to close
            return
        with self._lock:
            self._held.discard(held)
        if held.pooled.is_valid:  # not dropped already (replaced, disposed)
            held.pooled.invalidate()  # autocommit on: closed rather than handed to the pool

    @staticmethod
    def done(held: _Held) -> None:
        """A statement ran: the connection was in use just now (no ping before the next one)."""
        held.last_used = time.monotonic()

    def failed(self, held: _Held, error: BaseException) -> None:
        """A statement failed: a broken connection is thrown away, a working one kept."""
        if held.driver.closed or held.driver.broken:
            self._disconnected_at = time.monotonic()
            self._drop(held, error)  # as SQLAlchemy does on a disconnect: reconnect on next use
        else:
            held.last_used = time.monotonic()

    def release_all(self) -> None:
        """Close every held connection of this process (all threads)."""
        with self._lock:
            held = list(self._held)
        for one in held:
            self._drop(one)

    def _drop(self, held: _Held, error: BaseException | None = None) -> None:
        with self._lock:
            self._held.discard(held)
        if getattr(self._local, "held", None) is held:
            self._local.held = None
        if held.pooled.is_valid:  # not yet dropped (by a dispose in another thread, say)
            held.pooled.invalidate(error)  # closes the driver connection; the pool forgets it

    def _error_elsewhere(self, context: ExceptionContext) -> None:
        if context.is_disconnect:
            self._disconnected_at = time.monotonic()

    def _disposed(self, engine: Engine) -> None:
        if self._pid != os.getpid():  # post_fork's dispose(close=False): not ours to close
            self._forked()
        else:
            self.release_all()

    def _forked(self) -> None:
        # The parent's connections share their sockets with the parent: keep them referenced (so
        # no finalizer ever touches them here) and start afresh.
        _INHERITED.extend(self._held)
        self._held = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pid = os.getpid()


class _ThreadToken:
    """Lives exactly as long as its thread's locals: its collection means the thread ended."""


@dataclass(eq=False)
class _Held:
    pooled: PoolProxiedConnection
    driver: Any
    since: float  # when it was checked out
    last_used: float


_INHERITED: list[_Held] = []
