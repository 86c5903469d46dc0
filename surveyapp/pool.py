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

import time
from typing import Any

from sqlalchemy import Engine, event, exc

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
