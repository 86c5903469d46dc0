"""The reviewer's attacks on PostgreSQL, run as a SELECT-only role: no response names its respondent.

64 respondents submit through the real pages, in register order (so the invitations' ids, places
and transaction ids all follow the submit order: the easiest case for an attacker). The wave's
threshold is k = 10, so six batches are released by submits and the last four by closing.
Connected as ``surveyapp_reader`` (SELECT on every table, nothing else), the attacker joins
responses to invitations on ``xmin``, on physical order (``ctid``), on timestamps and sequences,
also after ``VACUUM FREEZE``, and in a ``pg_dump`` of the tables. Every join finds what chance
finds; the same measures do find the link in deliberately linked control orderings (and the
mutation "release without the rewrite" fails both tests: six transaction ids, dump rho 0.98).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess  # nosec B404 - runs the pg_dump binary with fixed arguments
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from scipy.stats import spearmanr
from sqlalchemy.engine import make_url

from surveyapp.extensions import db
from tests.conftest import make_app, truncate_all
from tests.test_anonymous_submission import answer_and_submit, close, counts, make_wave

READER = "surveyapp_reader"
RESPONDENTS = 64
THRESHOLD = 10
# A random order matches about one pair by chance (Poisson with mean 1): six or more happens
# once in 1,700 runs. A real link matches all of them.
CHANCE_MATCHES = 6
# |Spearman rho| of a random order of 64 exceeds 0.5 once in 14,000 runs; a batch order without
# the rewrite gives about 0.97 (the control below).
RHO_BOUND = 0.5
MARKER = re.compile(r'"suggestie":\s*"r(\d+)"')

# The reviewer's query, verbatim.
REVIEWER_QUERY = (
    "WITH s AS (SELECT xmin::text x, min(id) rid FROM responses GROUP BY 1 HAVING count(*)=1) "
    "SELECT s.rid, i.id, p.email FROM s JOIN invitations i ON i.xmin::text=s.x "
    "JOIN register_people p ON p.id=i.person_id"
)


def _conninfo(url: str, user: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {"host": parsed.host, "port": parsed.port or 5432, "dbname": parsed.database, "user": user}


def _grant_reader(url: str) -> None:
    """The SELECT-only role (cluster-wide, so created once; parallel runs may race to create it)."""
    with psycopg.connect(**_conninfo(url, make_url(url).username or "postgres"), autocommit=True) as admin:
        admin.execute(
            f"DO $$ BEGIN CREATE ROLE {READER} LOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        admin.execute(f'GRANT CONNECT ON DATABASE "{make_url(url).database}" TO {READER}')
        admin.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
        admin.execute(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {READER}")


@pytest.fixture
def survey(postgres_migrated: str, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    truncate_all(postgres_migrated)
    app = make_app(postgres_migrated, tmp_path)
    _grant_reader(postgres_migrated)
    yield app, postgres_migrated
    with app.app_context():
        db.engine.dispose()


def reader(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(**_conninfo(url, READER), autocommit=True)


def chance_matches(first: list[int], second: list[int]) -> int:
    """Pairs that an attacker matching the i-th of one order with the i-th of the other gets right."""
    return sum(1 for a, b in zip(first, second, strict=True) if a == b)


def rho(order: list[int]) -> float:
    """Spearman's rank correlation between a stored order and the submit order (0, 1, 2, ...)."""
    value, _ = spearmanr(range(len(order)), order)
    return float(value)


def attack_rows(url: str) -> dict[str, Any]:
    """Everything the SELECT-only attacker measures, as submit indexes of the people involved."""
    with reader(url) as connection:
        reviewer = connection.execute(REVIEWER_QUERY).fetchall()
        same_xmin = connection.execute(
            "SELECT count(*) FROM responses r JOIN invitations i ON i.xmin::text = r.xmin::text"
        ).fetchone()
        # Responses in physical order, and in transaction order (ties by place), as submit indexes.
        by_ctid = [
            int(MARKER.search(answers).group(1))  # type: ignore[union-attr]
            for (answers,) in connection.execute("SELECT answers::text FROM responses ORDER BY ctid")
        ]
        by_xmin = [
            int(MARKER.search(answers).group(1))  # type: ignore[union-attr]
            for (answers,) in connection.execute(
                "SELECT answers::text FROM responses ORDER BY xmin::text::bigint, ctid"
            )
        ]
        # The attacker's best guess at the submit order: the invitations' own transaction order.
        updated = [
            int(key[1:])
            for (key,) in connection.execute(
                "SELECT p.person_key FROM invitations i JOIN register_people p ON p.id = i.person_id "
                "WHERE i.submitted ORDER BY i.xmin::text::bigint, i.ctid"
            )
        ]
        distinct_xmin = connection.execute("SELECT count(DISTINCT xmin::text) FROM responses").fetchone()
        days = connection.execute("SELECT count(DISTINCT submitted_on) FROM responses").fetchone()
        sequences = connection.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'responses' "
            "AND (column_default LIKE 'nextval%' OR is_identity = 'YES')"
        ).fetchone()
        pending = connection.execute("SELECT count(*) FROM pending_submissions").fetchone()
    assert same_xmin is not None and distinct_xmin is not None and days is not None
    assert sequences is not None and pending is not None
    return {
        "reviewer": reviewer,
        "same_xmin": same_xmin[0],
        "by_ctid": by_ctid,
        "by_xmin": by_xmin,
        "updated": updated,
        "distinct_xmin": distinct_xmin[0],
        "days": days[0],
        "sequences": sequences[0],
        "pending": pending[0],
    }


def assert_unlinkable(found: dict[str, Any], released: int) -> None:
    assert found["reviewer"] == []  # no response has a transaction id of its own
    assert found["same_xmin"] == 0  # no response shares one with any invitation
    assert found["distinct_xmin"] == 1  # all web responses were rewritten by the last release
    assert found["days"] == 1 and found["sequences"] == 0  # no time, no sequence to order them by
    assert sorted(found["by_ctid"]) == list(range(released))
    # The attacker pairs the i-th response (by place, or by transaction) with the i-th submitter.
    submitters = found["updated"][:released]
    assert found["updated"][:released] == list(range(released))  # the attacker has the true order
    assert chance_matches(found["by_ctid"], submitters) <= CHANCE_MATCHES
    assert chance_matches(found["by_xmin"], submitters) <= CHANCE_MATCHES
    assert abs(rho(found["by_ctid"])) < RHO_BOUND
    assert abs(rho(found["by_xmin"])) < RHO_BOUND


def assert_controls_detected(submit_order: list[int]) -> None:
    """Deliberately linked orderings fail the bounds the stored orders must pass."""
    # Responses stored as they came (the design before batches) match every pair.
    as_they_came = list(range(RESPONDENTS))
    assert chance_matches(as_they_came, submit_order) > CHANCE_MATCHES and rho(as_they_came) > RHO_BOUND
    # Batches stored one after the other, shuffled within (a release without the rewrite): the
    # pairs do not match, but the rank correlation (about 0.97) gives the batches away.
    shuffler = random.Random(13)
    batch_order: list[int] = []
    for start in range(0, RESPONDENTS, THRESHOLD):
        batch = list(range(start, min(start + THRESHOLD, RESPONDENTS)))
        shuffler.shuffle(batch)
        batch_order.extend(batch)
    assert rho(batch_order) > 0.9


def vacuum_freeze(url: str) -> None:
    with psycopg.connect(**_conninfo(url, "postgres"), autocommit=True) as admin:
        admin.execute("VACUUM (FREEZE) responses, invitations, pending_submissions, register_people")


def copy_blocks(dump: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The COPY data of a plain pg_dump: per table, its columns and its rows (fields as text)."""
    blocks: dict[str, tuple[list[str], list[list[str]]]] = {}
    lines = iter(dump.splitlines())
    for line in lines:
        match = re.match(r"COPY public\.(\w+) \(([^)]*)\) FROM stdin;", line)
        if not match:
            continue
        rows = []
        for row in lines:
            if row == "\\.":
                break
            rows.append(row.split("\t"))
        blocks[match.group(1)] = ([c.strip().strip('"') for c in match.group(2).split(",")], rows)
    return blocks


def test_no_response_can_be_joined_to_its_invitation(survey: tuple[Flask, str]) -> None:
    app, url = survey
    tokens = make_wave(app, RESPONDENTS, threshold=THRESHOLD)
    with reader(url) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute("DELETE FROM pending_submissions")  # the role really is read-only

    for index, token in enumerate(tokens):
        answer_and_submit(app.test_client(), token, f"r{index}")
    # Six batches of ten released by the submits; four wait.
    assert counts(app) == (60, 4, RESPONDENTS)
    found = attack_rows(url)
    assert found["pending"] == 4
    assert_unlinkable(found, 60)

    close(app)  # the last four, released with all the others rewritten again
    assert counts(app) == (RESPONDENTS, 0, RESPONDENTS)
    found = attack_rows(url)
    assert found["pending"] == 0
    assert_unlinkable(found, RESPONDENTS)

    vacuum_freeze(url)  # frozen rows keep their raw xmin: nothing more to find
    assert_unlinkable(attack_rows(url), RESPONDENTS)

    # The controls: the same measures find a real link. The invitations' own transaction order is
    # the submit order, and linked orderings of the responses are detected.
    assert rho(found["updated"]) > 0.99
    assert_controls_detected(found["updated"])


def test_a_dump_of_the_tables_holds_no_link(survey: tuple[Flask, str]) -> None:
    app, url = survey
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("no pg_dump binary")  # installed with the PostgreSQL client (CI has it)
    tokens = make_wave(app, RESPONDENTS, threshold=THRESHOLD)
    for index, token in enumerate(tokens):
        answer_and_submit(app.test_client(), token, f"r{index}")
    close(app)
    info = _conninfo(url, READER)
    dumped = subprocess.run(
        [
            pg_dump,
            f"--host={info['host']}",
            f"--port={info['port']}",
            f"--username={READER}",
            "--data-only",
            "--table=responses",
            "--table=invitations",
            "--table=register_people",
            "--table=pending_submissions",
            str(info["dbname"]),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    blocks = copy_blocks(dumped)
    assert blocks["pending_submissions"][1] == []
    columns, rows = blocks["responses"]
    answers = columns.index("answers")
    responses = [int(MARKER.search(row[answers]).group(1)) for row in rows]  # type: ignore[union-attr]
    assert sorted(responses) == list(range(RESPONDENTS))
    assert len({row[columns.index("submitted_on")] for row in rows}) == 1

    people_columns, people = blocks["register_people"]
    key_of = {row[people_columns.index("id")]: row[people_columns.index("person_key")] for row in people}
    invitation_columns, invitations = blocks["invitations"]
    person = invitation_columns.index("person_id")
    invitations_in_dump = [int(key_of[row[person]][1:]) for row in invitations]
    assert sorted(invitations_in_dump) == list(range(RESPONDENTS))
    # The responses' dump order says nothing of the submit order, nor of the invitations' order.
    assert abs(rho(responses)) < RHO_BOUND
    assert chance_matches(responses, list(range(RESPONDENTS))) <= CHANCE_MATCHES
    assert chance_matches(responses, invitations_in_dump) <= CHANCE_MATCHES
    assert_controls_detected(list(range(RESPONDENTS)))
