"""Pooled connections are pinged only after they sat idle, and a dead one is replaced (PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, exc, text

from surveyapp.pool import ping_when_idle
from tests.conftest import sqlalchemy_url


@pytest.fixture
def engine(postgres_migrated: str) -> Iterator[Engine]:
    created = create_engine(sqlalchemy_url(postgres_migrated), pool_size=1, max_overflow=0)
    yield created
    created.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(engine: Engine, pid: int) -> None:
    """What a database restart does to a pooled connection, from a connection of its own."""
    observer = create_engine(engine.url)
    with observer.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    observer.dispose()
    time.sleep(0.1)


def count_pings(engine: Engine) -> list[int]:
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection):  # type: ignore[no-untyped-def]
        pings.append(1)
        return original(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_a_connection_in_use_is_not_pinged_but_an_idle_one_is(engine: Engine) -> None:
    ping_when_idle(engine, 0.3)
    pings = count_pings(engine)
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same pooled connection, reused at once
    assert pings == []
    time.sleep(0.4)
    assert backend_pid(engine) == first
    assert pings == [1]


def test_an_idle_connection_that_died_is_replaced_before_use(engine: Engine) -> None:
    ping_when_idle(engine, 0.2)
    first = backend_pid(engine)
    terminate(engine, first)
    time.sleep(0.3)
    assert backend_pid(engine) != first  # no error: the ping found it dead and the pool reconnected


def test_a_busy_connection_that_died_fails_once_then_the_pool_recovers(engine: Engine) -> None:
    ping_when_idle(engine, 60)
    invalidated: list[int] = []
    event.listen(engine, "invalidate", lambda *args: invalidated.append(1))
    first = backend_pid(engine)
    terminate(engine, first)
    with pytest.raises(exc.OperationalError) as raised:
        backend_pid(engine)
    assert raised.value.connection_invalidated
    assert backend_pid(engine) != first  # the next use reconnects by itself
    assert invalidated
