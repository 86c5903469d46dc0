"""Login throttling: attempts are counted atomically per (account name, address) and per address,
so simultaneous guesses check at most the limit of passwords, nobody can lock a planner out from
another address, and unknown and known account names get the same answer.

The concurrent tests run the app in a real threaded HTTP server (werkzeug) behind ``ProxyFix``,
so each thread can come from its own client address (``X-Forwarded-For``), on SQLite and
PostgreSQL, with the limiter's store in memory and in Redis (``TEST_REDIS_URL``).
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, User
from surveyapp.services import users
from surveyapp.services.users import create_user
from tests.conftest import REQUIRE_SERVICES, make_app

PASSWORD = "correct horse battery"
WRONG = "wrong password!!"


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    message = "no Redis server: set TEST_REDIS_URL to run these tests"
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else redis_url()


@pytest.fixture
def throttled_app(database_url: str, storage_uri: str, tmp_path: Path) -> Iterator[Flask]:
    """The app behind one proxy hop, with its own key prefix in the (possibly shared) store."""
    application = make_app(
        database_url,
        tmp_path,
        PROXY_FIX_X_FOR=1,
        RATELIMIT_STORAGE_URI=storage_uri,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    with application.app_context():
        create_user("planner@example.org", PASSWORD, "planner")
        db.session.commit()
    yield application
    with application.app_context():
        db.engine.dispose()


class CountingHasher:
    """The real password hasher, counting the password checks (from any thread)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.checks = 0
        self.lock = threading.Lock()

    def verify(self, hashed: str, password: str) -> bool:
        with self.lock:
            self.checks += 1
        return bool(self.real.verify(hashed, password))

    def hash(self, password: str) -> str:
        return str(self.real.hash(password))

    def check_needs_rehash(self, hashed: str) -> bool:
        return bool(self.real.check_needs_rehash(hashed))


@pytest.fixture
def net() -> str:
    """Client addresses of this test's own: the Redis store may be shared with other tests and runs."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}"


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(users._hasher)
    monkeypatch.setattr(users, "_hasher", counting)
    return counting


@pytest.fixture
def server(throttled_app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, throttled_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="login-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


def post_login(base: str, email: str, password: str, address: str) -> requests.Response:
    return requests.post(
        f"{base}/login",
        data={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
        timeout=60,
    )


def all_at_once(count: int, attempt: Any) -> list[int]:
    """Run ``attempt(i)`` in ``count`` threads released together; their status codes."""
    barrier = threading.Barrier(count)
    statuses: list[int] = [0] * count

    def run(index: int) -> None:
        barrier.wait()
        statuses[index] = attempt(index).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def failed_logins(app: Flask) -> int:
    with app.app_context():
        return int(
            db.session.execute(
                select(User.failed_logins).where(User.email == "planner@example.org")
            ).scalar_one()
        )


def test_simultaneous_guesses_check_at_most_the_limit_and_lock_only_that_address(
    throttled_app: Flask, server: str, hasher: CountingHasher, net: str
) -> None:
    attacker = f"{net}.7"
    statuses = all_at_once(40, lambda _i: post_login(server, "planner@example.org", WRONG, attacker))
    assert hasher.checks == 5, statuses  # not 40: each attempt is counted before its check
    assert sorted(statuses) == [401] * 5 + [429] * 35
    assert failed_logins(throttled_app) == 5  # every failure counted, none lost to a race

    # The attacker's address stays locked for this account, even with the right password...
    assert post_login(server, "planner@example.org", PASSWORD, attacker).status_code == 429
    assert hasher.checks == 5
    # ...but the planner, at the office, logs in: no global lockout to abuse.
    office = post_login(server, "planner@example.org", PASSWORD, f"{net}.200")
    assert office.status_code == 302 and office.headers["Location"].endswith("/planner/")
    assert failed_logins(throttled_app) == 0


def test_guesses_from_many_addresses_are_all_counted_and_lock_nobody_out(
    throttled_app: Flask, server: str, hasher: CountingHasher, net: str
) -> None:
    statuses = all_at_once(20, lambda i: post_login(server, "planner@example.org", WRONG, f"{net}.{10 + i}"))
    assert statuses == [401] * 20 and hasher.checks == 20
    assert failed_logins(throttled_app) == 20  # UPDATE ... RETURNING: no lost increments
    with throttled_app.app_context():
        details = db.session.execute(
            select(AuditEvent.details).where(AuditEvent.action == "login_failed")
        ).scalars()
        assert sorted(d["failures"] for d in details) == list(range(1, 21))
    assert post_login(server, "planner@example.org", PASSWORD, f"{net}.200").status_code == 302


def test_one_address_is_throttled_over_all_account_names(
    database_url: str, tmp_path: Path, hasher: CountingHasher, net: str
) -> None:
    app = make_app(database_url, tmp_path, PROXY_FIX_X_FOR=1, LOGIN_ATTEMPTS_PER_ADDRESS="8 per hour")
    with app.app_context():
        create_user("planner@example.org", PASSWORD, "planner")
        db.session.commit()
    client = app.test_client()

    def attempt(email: str, password: str, address: str) -> int:
        response = client.post(
            "/login", data={"email": email, "password": password}, headers={"X-Forwarded-For": address}
        )
        return response.status_code

    sprayed = [attempt(f"user{i}@example.org", WRONG, f"{net}.9") for i in range(10)]
    assert sprayed == [401] * 8 + [429] * 2 and hasher.checks == 8
    # The sprayer's address is throttled for every account, the planner elsewhere is not.
    assert attempt("planner@example.org", PASSWORD, f"{net}.9") == 429
    assert attempt("planner@example.org", PASSWORD, f"{net}.200") == 302
    with app.app_context():
        db.engine.dispose()


def _answer(client: Any, email: str, password: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    response = client.post("/login", data={"email": email, "password": password})
    elapsed = time.perf_counter() - started
    # The form shows back the address typed: take it out, the rest must be identical.
    return response.status_code, response.get_data(as_text=True).replace(email, "EMAIL"), elapsed


def test_unknown_and_known_accounts_get_the_same_answer_in_the_same_time(
    database_url: str, tmp_path: Path, hasher: CountingHasher
) -> None:
    app = make_app(database_url, tmp_path, LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS="7 per hour")
    with app.app_context():
        create_user("planner@example.org", PASSWORD, "planner")
        db.session.commit()
    client = app.test_client()
    _answer(client, "warm-up@example.org", WRONG)  # first-request costs out of the measurement
    known = [_answer(client, "planner@example.org", WRONG) for _ in range(7)]
    unknown = [_answer(client, "nobody@example.org", WRONG) for _ in range(7)]
    assert hasher.checks == 15  # unknown names are checked against a dummy hash too
    assert {(status, body) for status, body, _ in known} == {(status, body) for status, body, _ in unknown}
    assert known[0][0] == 401 and "niet juist" in known[0][1]
    known_time = statistics.median(t for _, _, t in known)
    unknown_time = statistics.median(t for _, _, t in unknown)
    assert 0.6 < known_time / unknown_time < 1.6, (known_time, unknown_time)
    # Over the limit, both are refused alike, without a password check.
    known_locked = _answer(client, "planner@example.org", WRONG)
    unknown_locked = _answer(client, "nobody@example.org", WRONG)
    assert known_locked[:2] == unknown_locked[:2] and known_locked[0] == 429
    assert "Te veel mislukte pogingen" in known_locked[1]
    assert hasher.checks == 15
    with app.app_context():
        db.engine.dispose()


def test_a_store_that_does_not_answer_refuses_logins_clearly(
    database_url: str, tmp_path: Path, hasher: CountingHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limits.strategies import FixedWindowRateLimiter
    from redis.exceptions import ConnectionError as RedisConnectionError

    real_hit = FixedWindowRateLimiter.hit

    def hit(self: FixedWindowRateLimiter, item: Any, *identifiers: str, cost: int = 1) -> bool:
        if "login-account-address" in identifiers:  # the attempt count's store is down (Redis restarting)
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return bool(real_hit(self, item, *identifiers, cost=cost))

    monkeypatch.setattr(FixedWindowRateLimiter, "hit", hit)
    app = make_app(database_url, tmp_path)
    with app.app_context():
        create_user("planner@example.org", PASSWORD, "planner")
        db.session.commit()
    response = app.test_client().post("/login", data={"email": "planner@example.org", "password": PASSWORD})
    # Fail closed: without counting, no password is checked (and nobody is logged in).
    assert response.status_code == 503 and "Probeer het over enkele minuten opnieuw" in response.text
    assert "Aanmelden lukt op dit moment niet" in response.text
    assert hasher.checks == 0
    with app.app_context():
        db.engine.dispose()
