"""Pooled connections are pinged only after they sat idle, and a dead one is replaced (PostgreSQL).

The same for the connections each thread holds for the respondents' single statements.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, exc, text

from surveyapp.pool import HeldConnections, ping_when_idle
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


def held_pid(connections: HeldConnections) -> int:
    """``pg_backend_pid()`` on this thread's held connection, used like the app uses it."""
    held = connections.connection()
    try:
        with held.driver.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            row = cursor.fetchone()
    except Exception as error:
        connections.failed(held, error)
        raise
    connections.done(held)
    assert held.driver.autocommit  # single statements, no transaction left open
    return int(row[0])


class OtherThread:
    """A second thread that uses its held connection now and once more when told to."""

    def __init__(self, connections: HeldConnections) -> None:
        self.pids: list[int | str] = []  # backend pids, or what the statement failed with
        self._go_on = threading.Event()
        first_done = threading.Event()

        def run() -> None:
            self.pids.append(held_pid(connections))
            first_done.set()
            self._go_on.wait(10)
            try:
                self.pids.append(held_pid(connections))
            except psycopg.Error as error:
                self.pids.append(f"failed: {error}")

        self._thread = threading.Thread(target=run)
        self._thread.start()
        first_done.wait(10)

    def use_again(self) -> None:
        self._go_on.set()
        self._thread.join()


def test_a_thread_keeps_its_connection_and_threads_do_not_share_one(postgres_migrated: str) -> None:
    engine = create_engine(sqlalchemy_url(postgres_migrated), pool_size=2, max_overflow=0)
    connections = HeldConnections(engine, 60)
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(1))
    first = held_pid(connections)
    assert [held_pid(connections) for _ in range(5)] == [first] * 5
    assert checkouts == [1]  # checked out of the pool once, then kept

    other: list[int] = []
    thread = threading.Thread(target=lambda: other.extend([held_pid(connections), held_pid(connections)]))
    thread.start()
    thread.join()
    assert other[0] == other[1] != first
    assert held_pid(connections) == first
    engine.dispose()


def test_a_held_connection_idle_too_long_is_pinged_and_replaced_when_dead(engine: Engine) -> None:
    connections = HeldConnections(engine, 0.2)
    pings = count_pings(engine)
    first = held_pid(connections)
    assert held_pid(connections) == first
    assert pings == []  # in use a moment ago: no ping
    time.sleep(0.3)
    assert held_pid(connections) == first
    assert pings == [1]  # idle: pinged, alive, kept
    terminate(engine, first)
    time.sleep(0.3)
    assert held_pid(connections) != first  # no error: the ping found it dead


def test_a_busy_held_connection_that_died_fails_once_then_recovers(engine: Engine) -> None:
    connections = HeldConnections(engine, 60)
    first = held_pid(connections)
    terminate(engine, first)
    with pytest.raises(psycopg.OperationalError):
        held_pid(connections)
    assert held_pid(connections) != first  # the next statement reconnects by itself


def test_after_a_disconnect_every_thread_reconnects_without_failing_again(postgres_migrated: str) -> None:
    """A database restart costs a process one failed statement, not one per thread."""
    engine = create_engine(sqlalchemy_url(postgres_migrated), pool_size=3, max_overflow=0)
    connections = HeldConnections(engine, 60)
    mine = held_pid(connections)
    other = OtherThread(connections)
    terminate(engine, mine)
    terminate(engine, int(other.pids[0]))
    with pytest.raises(psycopg.OperationalError):
        held_pid(connections)  # this thread meets the restart first
    other.use_again()
    assert isinstance(other.pids[1], int) and other.pids[1] != other.pids[0]  # reconnected, no second failure

    # A disconnect that SQLAlchemy itself meets (the ORM's connections) retires held ones too.
    held = held_pid(connections)
    terminate(engine, held)
    with engine.connect() as connection:
        terminate(engine, int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one()))
        with pytest.raises(exc.OperationalError):
            connection.execute(text("SELECT 1"))
    assert held_pid(connections) != held
    engine.dispose()


def test_threads_that_end_give_their_connections_back(postgres_migrated: str) -> None:
    """A server with a thread per request (werkzeug) must not run the pool dry: with a pool of
    two and no overflow, the third short-lived thread would otherwise wait forever."""
    engine = create_engine(sqlalchemy_url(postgres_migrated), pool_size=2, max_overflow=0, pool_timeout=5)
    connections = HeldConnections(engine, 60)
    pids: list[int | str] = []

    def one_request() -> None:
        try:
            pids.append(held_pid(connections))
        except exc.TimeoutError as error:
            pids.append(f"pool empty: {error}")

    for _ in range(6):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join(15)
    assert all(isinstance(pid, int) for pid in pids) and len(pids) == 6, pids
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    engine.dispose()


def test_dispose_closes_the_held_connections_of_every_thread(postgres_migrated: str) -> None:
    engine = create_engine(sqlalchemy_url(postgres_migrated), pool_size=2, max_overflow=0)
    connections = HeldConnections(engine, 60)
    first = held_pid(connections)
    other = OtherThread(connections)
    engine.dispose()
    observer = create_engine(engine.url)
    with observer.connect() as connection:
        still = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid IN (:one, :two)"),
            {"one": first, "two": other.pids[0]},
        ).scalar_one()
    observer.dispose()
    assert still == 0  # closed on the server, not left behind checked out of the old pool
    other.use_again()  # its connection was closed by this thread's dispose
    assert isinstance(other.pids[1], int)  # no failure (and no SQLAlchemy warning: they are errors here)
    assert other.pids[1] != other.pids[0]  # reconnected
    assert held_pid(connections) != first
    engine.dispose()


def test_a_forked_child_never_uses_its_parents_connection(engine: Engine) -> None:
    connections = HeldConnections(engine, 60)
    parent = held_pid(connections)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child process
        try:
            engine.dispose(close=False)  # what gunicorn's post_fork does
            os.write(write, str(held_pid(connections)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = int(os.read(read, 32) or 0)
    os.close(read)
    assert in_child not in (0, parent)
    assert held_pid(connections) == parent  # the parent's connection is still whole
