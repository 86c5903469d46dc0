"""Benchmark of the staff register import and the invitations at production size.

Generates a register CSV as a Dutch Excel export (Windows-1252, semicolons) of 45,000 people
shaped like the real population (30,523 active and 14,459 retired entitled staff, scaled to
--rows), with the group codes of questionnaires/gerechtigden.yaml. Imports it into a fresh
SQLite database (or, with --database-url, a fresh database on that PostgreSQL server, dropped
afterwards), imports it again unchanged (idempotent), again with 10 % of the people changed
and 1 % new (bulk update), opens the wave and creates the invitations; prints each step's time
and rows per second.

Run: .venv/bin/python benchmarks/register.py [--rows 45000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ACTIVE, RETIRED = 30_523, 14_459
QUESTIONNAIRE = REPO / "questionnaires" / "gerechtigden.yaml"
FIRST_NAMES = (
    "Sébastien", "Françoise", "Zoë", "Anaïs", "Noël", "Chloé", "Jan", "Marie", "Lotte", "Pieter", "Hélène",
    "Jef", "Ines", "Mehmet", "Fatima", "Björn", "Renée", "Thijs", "Elif", "Koen", "Žana", "Œdipe",
)  # fmt: skip
LAST_NAMES = (
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
    "De Smet", "Dubois", "Lambrechts", "Müller", "Van den Broeck", "Çelik", "El Amrani", "Vermeersch",
)  # fmt: skip


def generate(path: Path, rows: int, seed: int = 2026) -> tuple[int, int]:
    """A register CSV like an Excel export; returns (active, retired)."""
    from surveyapp.questionnaire import load_questionnaire
    from surveyapp.services.register import group_questions

    questionnaire = load_questionnaire(QUESTIONNAIRE)
    codes = {q.measure.register_column: q.codes for q in group_questions(questionnaire) if q.measure}
    rng = random.Random(seed)
    active = round(rows * ACTIVE / (ACTIVE + RETIRED))
    columns = ["Personeelsnummer", "Naam", "E-mail", "Taal", "Status", "Leeftijd", "Entiteit", "Contract"]
    columns += ["Niveau", "Dienstjaren", "Gezin", "Kinderen", "Beperking", "Herkomst"]
    ages_active = (codes["leeftijd"][:5], (8, 23, 28, 31, 10))
    entity_weights = (7, 8, 10, 13, 20, 12, 7, 6, 5, 4, 8)
    lines = [";".join(columns)]
    for index in range(rows):
        is_active = index < active
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{index}".lower().replace(" ", "")
        email = email.encode("ascii", "ignore").decode() + "@vlaanderen.be"
        if is_active:
            age = rng.choices(*ages_active)[0]
            contract = rng.choices(codes["contract"], (60, 28, 6, 2, 4))[0]
            level = rng.choices(codes["niveau"], (32, 27, 28, 10, 3))[0]
            years = rng.choice(codes["dienstjaren"])
        else:
            age = rng.choices(codes["leeftijd"][4:], (18, 82))[0]
            contract = level = years = ""
        row = [
            str(100_000 + index),
            f"{first} {last}",
            email,
            rng.choices(("nl", "NL", "en", ""), (80, 5, 5, 10))[0],
            "actief" if is_active else "Gepensioneerd",
            age,
            rng.choices(codes["entiteit"], entity_weights)[0].upper(),
            contract,
            level,
            years,
            rng.choice(codes["gezin"]),
            rng.choice(("ja", "nee")),
            rng.choices(codes["beperking"], (6, 90, 4))[0],
            rng.choices(codes["herkomst"], (88, 4, 6, 2))[0],
        ]
        lines.append(";".join(row))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return active, rows - active


def changed_copy(source: Path, target: Path, seed: int = 7) -> tuple[int, int]:
    """The register a month later: 10 % moved to another entity, 1 % new people."""
    rng = random.Random(seed)
    lines = source.read_bytes().decode("cp1252").split("\r\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    changed = 0
    for position in rng.sample(range(len(body)), len(body) // 10):
        cells = body[position].split(";")
        cells[6] = "LV" if cells[6] != "LV" else "KB"
        body[position] = ";".join(cells)
        changed += 1
    added = len(body) // 100
    for index in range(added):
        cells = body[index].split(";")
        cells[0] = str(900_000 + index)
        cells[2] = f"new.{index}@vlaanderen.be"
        body.append(";".join(cells))
    target.write_bytes(("\r\n".join([header, *body]) + "\r\n").encode("cp1252"))
    return changed, added


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@contextmanager
def fresh_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a database of its own on the PostgreSQL server."""
    if server_url is None:
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    name = f"surveyapp_bench_{os.getpid()}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Steps:
    """Wall time and this process's CPU time per step (on a busy machine, CPU time is the
    better estimate of an idle server's wall time; the database server's own work is not in it)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, int | None]] = []

    @contextmanager
    def step(self, name: str, count: int | None = None) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        yield
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        self.rows.append((name, elapsed, used, count))
        rate = f"{count / elapsed:>10,.0f} rows/s" if count else ""
        print(f"  {name:<46} {elapsed:>7.2f} s wall {used:>7.2f} s cpu {rate}", flush=True)


def run(database_url: str, register_file: Path, changed_file: Path, rows: int) -> Steps:
    os.environ.setdefault("SURVEYAPP_INSTANCE_PATH", str(register_file.parent / "instance"))
    from flask_migrate import upgrade

    from surveyapp import create_app
    from surveyapp.extensions import db
    from surveyapp.services import register as reg
    from surveyapp.services.questionnaires import store_file
    from surveyapp.services.waves import create_invitations, create_wave, set_state
    from surveyapp.survey.service import questionnaire_of

    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(database_url), "SECRET_KEY": "benchmark"})
    steps = Steps()
    with app.app_context():
        with steps.step("create the schema (migrations)"):
            logging.disable(logging.INFO)  # Alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
        version, _ = store_file(QUESTIONNAIRE)
        wave = create_wave(version, slug="bench", title="Benchmark")
        db.session.commit()
        questionnaire = questionnaire_of(version)

        def import_once(label: str, path: Path) -> reg.ImportResult:
            done = [0]
            progress: Callable[[int], None] = lambda n: done.__setitem__(0, done[0] + n)  # noqa: E731
            with steps.step(f"{label}: read the file", rows):
                table = reg.read_table(path.read_bytes(), path.name)
            stored = reg.ColumnMapping.from_json(wave.register_mapping)
            mapping = reg.default_mapping(table.headers, questionnaire, stored)
            with steps.step(f"{label}: validate and store (commit)", len(table.rows)):
                result = reg.import_register(
                    wave, table, mapping, questionnaire, actor=None, progress=progress
                )
                db.session.commit()
            assert result.ok, result.problems[:5]
            assert done[0] == len(table.rows)
            print(
                f"      added {result.added:,}, updated {result.updated:,}, unchanged {result.unchanged:,}, "
                f"register {result.total:,}"
            )
            return result

        first = import_once("import", register_file)
        assert first.added == rows
        again = import_once("same file again", register_file)
        assert again.unchanged == rows
        import_once("changed file", changed_file)
        people = reg.register_size(wave)
        with steps.step("margins of all group columns", people):
            reg.margins(wave, questionnaire)
        with steps.step("open the wave and create invitations (commit)", people):
            set_state(wave, "open")
            tokens = create_invitations(wave)
            db.session.commit()
        assert len(tokens) == people
        db.engine.dispose()
    return steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=45_000)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a fresh database is made on it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="surveyapp-bench-") as tmp:
        folder = Path(tmp)
        register_file, changed_file = folder / "register.csv", folder / "register-changed.csv"
        started = time.perf_counter()
        active, retired = generate(register_file, args.rows)
        changed, added = changed_copy(register_file, changed_file)
        size = register_file.stat().st_size
        print(
            f"register: {args.rows:,} rows ({active:,} active, {retired:,} retired), "
            f"{size / 1_048_576:.1f} MB, cp1252, ';' — generated in {time.perf_counter() - started:.2f} s; "
            f"changed copy: {changed:,} changed, {added:,} new"
        )
        with fresh_database(args.database_url, folder) as url:
            backend = "PostgreSQL" if args.database_url else "SQLite"
            print(f"{backend}:")
            steps = run(url, register_file, changed_file, args.rows)
        wall = sum(row[1] for row in steps.rows)
        cpu = sum(row[2] for row in steps.rows)
        print(f"  {'total':<46} {wall:>7.2f} s wall {cpu:>7.2f} s cpu")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average at the end: {load} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
