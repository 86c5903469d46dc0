"""``surveyapp demo``: a full, realistic demo database on a laptop, then the app serving it.

The data come from :mod:`surveyapp.demo_data` (pure numpy); this module puts them in the database
through the same services the app uses (questionnaire versions, waves, register, invitations,
planner accounts) and bulk-inserts what a real wave would have collected by now.

A demo database is recognised by its ``.invalid`` e-mail addresses: every register person and
every account of a demo database ends in ``@demo.invalid`` (a reserved top-level domain no real
address can have). The command rebuilds such a database, and refuses to touch one with other data.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Literal

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import JSON, MetaData, func, insert, select, update
from sqlalchemy.engine import make_url

from surveyapp import demo_data
from surveyapp.extensions import db
from surveyapp.forms.registry import field_name
from surveyapp.models import (
    DraftAnswers,
    Invitation,
    MailDelivery,
    RegisterPerson,
    Response,
    User,
    Wave,
    random_response_id,
)
from surveyapp.questionnaire import Page, Questionnaire
from surveyapp.services.questionnaires import store_file
from surveyapp.services.users import create_user
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from surveyapp.survey.service import issue_token, seal_draft

DEMO_DOMAIN = "demo.invalid"
WAVE_SLUG = "gerechtigden-2026"
WAVE_TITLE = "Belanghebbendenbevraging 2026"
CONTACT_SLUG = "contactpersonen-2026"
CONTACT_TITLE = "Bevraging contactpersonen welzijn 2026"
DEMO_SLUGS = (WAVE_SLUG, CONTACT_SLUG)
PLANNER_EMAIL = f"planner@{DEMO_DOMAIN}"
GERECHTIGDEN_FILE = "gerechtigden.yaml"
CONTACT_FILE = "contactpersonen-welzijn.yaml"
DEFAULT_SEED = 2026
DAYS_OPEN = 20  # the wave opened this many days ago; responses came in since
REMINDER_DAYS = (7, 14)
BATCH = 5000


class DemoError(click.ClickException):
    """The demo cannot be built here (a database with other data, a missing questionnaire)."""


# --- progress ----------------------------------------------------------------------------------------


class Steps:
    """Numbered step lines with counts and seconds (silent without an echo function)."""

    def __init__(self, total: int, echo: Callable[[str, bool], None] | None = None) -> None:
        self.total = total
        self.number = 0
        self.echo = echo

    @contextmanager
    def step(self, title: str, *, announce: bool = True) -> Iterator[list[str]]:
        """Print the step's title, run it, then its details and seconds on the same line.

        ``announce=False`` prints the whole line at the end (for steps that log, like migrations).
        """
        self.number += 1
        head = f"[{self.number}/{self.total}] {title} ..."
        if self.echo and announce:
            self.echo(head, False)
        details: list[str] = []
        started = time.perf_counter()
        yield details
        if self.echo:
            detail = f" {'; '.join(details)}" if details else " done"
            self.echo(f"{'' if announce else head}{detail} ({time.perf_counter() - started:.1f} s)", True)


def _click_echo(text: str, newline: bool) -> None:
    click.echo(text, nl=newline)


# --- the database -------------------------------------------------------------------------------------

DatabaseState = Literal["empty", "demo", "other"]


def _count(query: Any) -> int:
    return int(db.session.execute(query).scalar_one())


def database_state() -> DatabaseState:
    """``empty`` (no waves, no accounts), ``demo`` (only demo waves, people and accounts) or ``other``."""
    waves = _count(select(func.count()).select_from(Wave))
    users = _count(select(func.count()).select_from(User))
    if waves == 0 and users == 0:
        return "empty"
    pattern = f"%@{DEMO_DOMAIN}"
    other_waves = _count(select(func.count()).select_from(Wave).where(Wave.slug.not_in(DEMO_SLUGS)))
    other_users = _count(select(func.count()).select_from(User).where(User.email.not_like(pattern)))
    other_people = _count(
        select(func.count())
        .select_from(RegisterPerson)
        .where((RegisterPerson.email.is_(None)) | RegisterPerson.email.not_like(pattern))
    )
    if other_waves or other_users or other_people:
        return "other"
    return "demo"


def rebuild_after_failed_upgrade(error: Exception, *, keep: bool) -> None:
    """A database the migrations cannot upgrade is rebuilt only when it is a demo (or empty) one."""
    db.session.rollback()
    try:
        state = database_state()
    except Exception:
        state = "other"
    if state == "other" or (keep and state == "demo"):
        raise DemoError(f"the migrations cannot upgrade this database: {error}") from error
    drop_everything()
    upgrade_schema()


def describe_database() -> str:
    """The database URL without its password."""
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)


def _sqlite_file() -> Path | None:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def drop_everything() -> None:
    """Remove every table (SQLite: the file) so the migrations build the schema anew."""
    db.session.remove()
    db.engine.dispose()
    path = _sqlite_file()
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    metadata.drop_all(bind=db.engine)
    db.engine.dispose()


def upgrade_schema() -> None:
    """``flask_migrate.upgrade()``, but raising on failure (Flask-Migrate's own exits the process)."""
    from alembic import command

    path = _sqlite_file()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(current_app.extensions["migrate"].migrate.get_config(), "head")


# --- seeding ------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What the demo made, with the only copies of a few personal links and the planner's password."""

    people: int
    responses: int
    drafts: int
    contact_people: int
    contact_responses: int
    respondent_tokens: list[str] = field(default_factory=list)  # not started
    draft_tokens: list[str] = field(default_factory=list)  # started, answers saved, not submitted
    contact_tokens: list[str] = field(default_factory=list)  # a contact person who has not answered
    planner_email: str = PLANNER_EMAIL
    planner_password: str | None = None
    seconds: float = 0.0


def _questionnaire_path(name: str) -> Path:
    path = Path(current_app.config["QUESTIONNAIRE_DIR"]) / name
    if not path.is_file():
        raise DemoError(f"the demo needs the questionnaire {path}")
    return path


def _reminders_before(day: date, opens_on: date) -> tuple[int, datetime | None]:
    """How many weekly reminders went out before ``day``, and when the last one went."""
    sent = [opens_on + timedelta(days=d) for d in REMINDER_DAYS if opens_on + timedelta(days=d) < day]
    last = datetime.combine(sent[-1], dt_time(8, 0), tzinfo=UTC) if sent else None
    return len(sent), last


def _deliveries(invitation_id: int, opens_on: date, reminders: int) -> list[dict[str, Any]]:
    """The mails an invitation got: the invitation and its reminders (kinds as the mail jobs write them)."""
    rows = []
    for number, day in enumerate([0, *REMINDER_DAYS[:reminders]]):
        at = datetime.combine(opens_on + timedelta(days=day), dt_time(8, 0), tzinfo=UTC)
        kind = "invitation" if number == 0 else f"reminder-{number}"
        rows.append(
            {"invitation_id": invitation_id, "kind": kind, "claimed_at": at, "sent_at": at, "attempts": 1}
        )
    return rows


def _invitation_ids(wave: Wave) -> dict[str, int]:
    rows = db.session.execute(
        select(RegisterPerson.person_key, Invitation.id)
        .join(Invitation, Invitation.person_id == RegisterPerson.id)
        .where(RegisterPerson.wave_id == wave.id)
    ).all()
    return {str(key): int(invitation_id) for key, invitation_id in rows}


def _bulk_insert(model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL (several times faster), batched INSERTs elsewhere."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), BATCH):
            db.session.execute(insert(model), list(rows[start : start + BATCH]))
        return
    from psycopg.types.json import Jsonb

    table = model.__table__
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])


def seed_demo(
    *,
    people: int = demo_data.POPULATION,
    responses: int = demo_data.RESPONSES,
    drafts: int | None = None,
    contact_people: int = 60,
    contact_responses: int = 25,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    steps: Steps | None = None,
) -> DemoResult:
    """Fill an empty, migrated database with the demo (in the current app context) and commit.

    ``people`` entitled persons (30,523 active and 14,459 retired at the real 44,982), ``responses``
    submitted responses and ``drafts`` started questionnaires (default: 200 at full size).
    """
    started = time.perf_counter()
    steps = steps or Steps(8)
    rng = np.random.default_rng(seed)
    today = today or datetime.now(UTC).date()
    opens_on = today - timedelta(days=DAYS_OPEN)
    closes_on = opens_on + timedelta(days=42)
    sent_at = datetime.combine(opens_on, dt_time(8, 0), tzinfo=UTC)
    if drafts is None:
        drafts = min(200, max(5, people // 200))
    responses = min(responses, people)
    drafts = min(drafts, people - responses)

    with steps.step("questionnaires") as info:
        version, questionnaire = store_file(_questionnaire_path(GERECHTIGDEN_FILE))
        contact_version, contact_questionnaire = store_file(_questionnaire_path(CONTACT_FILE))
        info.append(f"{questionnaire.id} {version.content_hash[:8]}")
        info.append(f"{contact_questionnaire.id} {contact_version.content_hash[:8]}")

    with steps.step("register of entitled staff") as info:
        population = demo_data.generate_population(questionnaire, rng, people)
        wave = create_wave(
            version,
            slug=WAVE_SLUG,
            title=WAVE_TITLE,
            audience=questionnaire.audience,
            languages=questionnaire.languages,
            anonymous=True,
            opens_on=opens_on,
            closes_on=closes_on,
        )
        rows = (
            RegisterRow(
                person_key=population.keys[i],
                email=population.emails[i],
                language=str(population.languages[i]),
                groups=population.groups(i),
            )
            for i in range(len(population))
        )
        add_register(wave, rows)
        active = int(population.active.sum())
        info.append(f"{len(population):,} people ({active:,} active, {len(population) - active:,} retired)")

    with steps.step(f"open wave {WAVE_SLUG!r} and invite everyone") as info:
        set_state(wave, "open")
        tokens = create_invitations(wave)
        info.append(f"{len(tokens):,} invitations")

    with steps.step("answers") as info:
        respondents = demo_data.choose_respondents(population, rng, responses)
        answers = demo_data.generate_answers(questionnaire, population, respondents, rng)
        info.append(f"{len(answers):,} questionnaires generated and checked")

    with steps.step("responses and invitations") as info:
        days = demo_data.submission_dates(rng, len(answers), opens_on, today)
        order = rng.permutation(len(answers))  # who submitted on which day
        submitted_day = {int(respondents[j]): days[k] for k, j in enumerate(order)}
        response_rows = [
            {
                "id": random_response_id(),
                "wave_id": wave.id,
                "questionnaire_version_id": version.id,
                "submitted_on": days[k],
                "language": str(population.languages[respondents[j]]),
                "source": "web",
                "answers": answers[j],
            }
            for k, j in enumerate(order)
        ]
        _bulk_insert(Response, response_rows)

        not_submitted = np.setdiff1d(np.arange(len(population)), respondents)
        draft_people: list[int] = sorted(rng.choice(not_submitted, size=drafts, replace=False).tolist())
        draft_started = {i: today - timedelta(days=int(rng.integers(0, DAYS_OPEN))) for i in draft_people}
        ids = _invitation_ids(wave)
        reminders_now = _reminders_before(today + timedelta(days=1), opens_on)
        # Invitation state in a few set-based UPDATEs (one per combination of values), not one per row.
        states: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        deliveries: list[dict[str, Any]] = []
        for i, key in enumerate(population.keys):
            day = submitted_day.get(i)
            if day is not None:
                first_visit = max(opens_on, day - timedelta(days=int(rng.random() < 0.25)))
                reminders, last = _reminders_before(first_visit, opens_on)
                started_on: date | None = first_visit
            else:
                reminders, last = reminders_now
                started_on = draft_started.get(i)
            deliveries += _deliveries(ids[key], opens_on, reminders)
            states[(reminders, last, started_on, day is not None)].append(ids[key])
        for (reminders, last, started_on, submitted), invitation_ids in states.items():
            for start in range(0, len(invitation_ids), BATCH):
                db.session.execute(
                    update(Invitation)
                    .where(Invitation.id.in_(invitation_ids[start : start + BATCH]))
                    .values(
                        sent_at=sent_at,
                        reminders_sent=reminders,
                        last_reminded_at=last,
                        started_on=started_on,
                        submitted=submitted,
                    )
                    .execution_options(synchronize_session=False)
                )
        _bulk_insert(MailDelivery, deliveries)
        info.append(
            f"{len(response_rows):,} submitted responses from {days[0]} to {days[-1]}" if days else "none"
        )

    with steps.step("questionnaires in progress") as info:
        draft_list = demo_data.generate_drafts(
            questionnaire, population, np.asarray(draft_people, dtype=np.int64), rng
        )
        draft_rows = [
            {
                "invitation_id": ids[population.keys[d.person]],
                "sealed": seal_draft(ids[population.keys[d.person]], d.answers, d.pages_done, d.current_page),
            }
            for d in draft_list
        ]
        if draft_rows:
            db.session.execute(insert(DraftAnswers), draft_rows)
        info.append(f"{len(draft_rows):,} drafts")

    with steps.step(f"wave {CONTACT_SLUG!r} for welfare contact persons") as info:
        contact_tokens = _seed_contact_wave(
            contact_version, contact_questionnaire, rng, contact_people, contact_responses, opens_on, today
        )
        info.append(f"{contact_people} contact persons, {min(contact_responses, contact_people)} responses")

    with steps.step("planner account") as info:
        password = secrets.token_urlsafe(12)
        create_user(PLANNER_EMAIL, password, "admin")
        info.append(PLANNER_EMAIL)

    db.session.commit()

    draft_keys = [population.keys[i] for i in draft_people]
    untouched = np.setdiff1d(not_submitted, np.asarray(draft_people, dtype=np.int64))
    fresh = [population.keys[int(i)] for i in untouched[:3]]
    return DemoResult(
        people=len(population),
        responses=len(response_rows),
        drafts=len(draft_rows),
        contact_people=contact_people,
        contact_responses=min(contact_responses, contact_people),
        respondent_tokens=[tokens[key] for key in fresh],
        draft_tokens=[tokens[key] for key in draft_keys[:3]],
        contact_tokens=contact_tokens[:1],
        planner_password=password,
        seconds=time.perf_counter() - started,
    )


def _seed_contact_wave(
    version: Any,
    questionnaire: Questionnaire,
    rng: np.random.Generator,
    count: int,
    responses: int,
    opens_on: date,
    today: date,
) -> list[str]:
    """The contact-person wave (not anonymous): register, invitations and a few responses.

    Returns tokens of contact persons who have not answered yet.
    """
    people = demo_data.generate_contact_people(questionnaire, rng, count)
    wave = create_wave(
        version,
        slug=CONTACT_SLUG,
        title=CONTACT_TITLE,
        audience=questionnaire.audience,
        languages=questionnaire.languages,
        anonymous=False,
        opens_on=opens_on,
        closes_on=opens_on + timedelta(days=42),
    )
    add_register(
        wave,
        (RegisterRow(person_key=p.key, email=p.email, language=p.language, groups=p.groups) for p in people),
    )
    set_state(wave, "open")
    tokens = create_invitations(wave)
    chosen = np.sort(rng.choice(len(people), size=min(responses, len(people)), replace=False))
    answers = demo_data.generate_contact_answers(questionnaire, [people[i] for i in chosen], rng)
    days = demo_data.submission_dates(rng, len(chosen), opens_on, today)
    db.session.execute(
        insert(Response),
        [
            {
                "id": random_response_id(),
                "wave_id": wave.id,
                "questionnaire_version_id": version.id,
                "submitted_on": day,
                "language": people[i].language,
                "source": "web",
                "answers": a,
            }
            for i, a, day in zip(chosen, answers, rng.permutation(np.asarray(days, dtype=object)))
        ],
    )
    ids = _invitation_ids(wave)
    sent_at = datetime.combine(opens_on, dt_time(8, 0), tzinfo=UTC)
    answered = {people[i].key for i in chosen}
    db.session.execute(
        update(Invitation),
        [
            {"id": ids[p.key], "sent_at": sent_at, "submitted": p.key in answered, "started_on": None}
            for p in people
        ],
    )
    db.session.execute(
        insert(MailDelivery), [row for p in people for row in _deliveries(ids[p.key], opens_on, 0)]
    )
    return [tokens[p.key] for p in people if p.key not in answered]


def refresh_links() -> DemoResult:
    """Reuse an existing demo: new links for a few unanswered invitations and a new planner password.

    Tokens are never stored, so showing a link means issuing a new token (as a reminder mail does).
    """
    from argon2 import PasswordHasher

    started = time.perf_counter()
    wave = db.session.execute(select(Wave).where(Wave.slug == WAVE_SLUG)).scalar_one()
    has_draft = select(DraftAnswers.invitation_id)
    base = select(Invitation).where(Invitation.wave_id == wave.id, Invitation.submitted.is_(False))
    fresh = db.session.execute(base.where(Invitation.id.not_in(has_draft)).limit(3)).scalars().all()
    drafted = db.session.execute(base.where(Invitation.id.in_(has_draft)).limit(3)).scalars().all()
    contact = (
        db.session.execute(
            select(Invitation)
            .join(Wave, Invitation.wave_id == Wave.id)
            .where(Wave.slug == CONTACT_SLUG, Invitation.submitted.is_(False))
            .limit(1)
        )
        .scalars()
        .all()
    )

    def rekey(invitations: Sequence[Invitation]) -> list[str]:
        return [issue_token(invitation.id) for invitation in invitations]

    result = DemoResult(
        people=_count(
            select(func.count()).select_from(RegisterPerson).where(RegisterPerson.wave_id == wave.id)
        ),
        responses=_count(select(func.count()).select_from(Response).where(Response.wave_id == wave.id)),
        drafts=_count(select(func.count()).select_from(DraftAnswers)),
        contact_people=0,
        contact_responses=0,
        respondent_tokens=rekey(fresh),
        draft_tokens=rekey(drafted),
        contact_tokens=rekey(contact),
    )
    planner = db.session.execute(select(User).where(User.email == PLANNER_EMAIL)).scalar_one_or_none()
    if planner is not None:
        password = secrets.token_urlsafe(12)
        planner.password_hash = PasswordHasher().hash(password)
        planner.session_nonce = random_response_id()  # earlier sessions end
        result.planner_password = password
    db.session.commit()
    result.seconds = time.perf_counter() - started
    return result


def web_form_data(page: Page, answers: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """The form fields a respondent posts for one page to give these answers (benchmarks, tests)."""
    data: dict[str, str | list[str]] = {}
    for question in page.questions:
        for key in question.variable_names():
            value = answers.get(key)
            if value is None:
                continue
            data[field_name(key)] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


# --- the command ------------------------------------------------------------------------------------------


def _base_url(host: str, port: int) -> str:
    if os.environ.get("BASE_URL"):
        return str(current_app.config["BASE_URL"]).rstrip("/")
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - only for display  # nosec B104
    return f"http://{shown}:{port}"


def print_summary(result: DemoResult, base_url: str) -> None:
    echo = click.echo
    echo("")
    echo(f"Demo ready ({result.seconds:.1f} s).")
    echo(f"  Database:        {describe_database()}")
    echo(
        f"  Wave {WAVE_SLUG}: {result.people:,} invited, {result.responses:,} submitted, "
        f"{result.drafts:,} in progress"
    )
    if result.respondent_tokens:
        echo(f"  Respondent link: {base_url}/s/{result.respondent_tokens[0]}")
        echo("                   (someone who has not started yet)")
    if result.draft_tokens:
        echo(f"  Half-way link:   {base_url}/s/{result.draft_tokens[0]}")
        echo("                   (someone who saved some pages and will resume)")
    if result.contact_tokens:
        echo(f"  Contact person:  {base_url}/s/{result.contact_tokens[0]}")
    echo(f"  Planner login:   {base_url}/login")
    echo(f"    e-mail:        {result.planner_email}")
    if result.planner_password:
        echo(f"    password:      {result.planner_password}")
    else:
        echo("    password:      (no demo planner account in this database)")


@click.command("demo")
@click.option(
    "--reset/--keep",
    default=True,
    show_default=True,
    help="Rebuild an existing demo database from scratch (--reset) or reuse it and print new links (--keep).",
)
@click.option(
    "--people",
    type=click.IntRange(100),
    default=demo_data.POPULATION,
    show_default=True,
    help="Entitled persons in the register (the real 30,523 active + 14,459 retired at 44,982).",
)
@click.option(
    "--responses",
    type=click.IntRange(0),
    default=demo_data.RESPONSES,
    show_default=True,
    help="Submitted responses to generate.",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Random seed: the same seed gives the same data.",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Serve the app after seeding (--no-serve: seed only, for tests and CI).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="Port to serve on."
)
@with_appcontext
def demo_command(
    reset: bool, people: int, responses: int, seed: int, serve: bool, host: str, port: int
) -> None:
    """Build a realistic demo database and serve the app on it.

    \b
    1. creates the schema with the migrations;
    2. loads gerechtigden.yaml and contactpersonen-welzijn.yaml from QUESTIONNAIRE_DIR;
    3. makes a synthetic register of entitled staff shaped like the real one (44,982 people),
       an open wave 'Belanghebbendenbevraging 2026' with an invitation for everyone, about 18,000
       submitted responses and 200 started questionnaires, and a small wave for welfare contact persons;
    4. creates the admin account planner@demo.invalid with a random password;
    5. prints a respondent link and the planner login, and serves on --host/--port.

    The database is the app's own (DATABASE_URL, or the SQLite file in the instance folder). An
    existing demo database is rebuilt from scratch by default (SQLite: the file is deleted; other
    databases: every table is dropped) or reused with --keep. A database that holds anything but
    demo data (waves, register people or accounts that are not the demo's @demo.invalid ones) is
    never touched: the command stops with an error. It asks no questions, so it runs in CI.
    """
    started = time.perf_counter()
    click.echo(f"surveyapp demo: database {describe_database()}")
    steps = Steps(9, _click_echo)
    with steps.step("schema (migrations)", announce=False) as info:
        rebuilt = False
        try:
            upgrade_schema()
        except Exception as exc:  # e.g. a demo database made under migrations that changed since
            rebuild_after_failed_upgrade(exc, keep=not reset)
            rebuilt = True
            info.append("database the migrations could not upgrade dropped and rebuilt")
        state = database_state()
        if state == "other":
            raise DemoError(
                "this database holds data that is not demo data; the demo never overwrites it.\n"
                "Point SURVEYAPP_INSTANCE_PATH (SQLite) or DATABASE_URL at another database."
            )
        if state == "demo" and reset:
            drop_everything()
            upgrade_schema()
            info.append("existing demo database dropped and rebuilt")
        elif not rebuilt:
            info.append({"empty": "empty database ready", "demo": "existing demo database kept"}[state])

    if state == "demo" and not reset:
        result = refresh_links()
    else:
        result = seed_demo(people=people, responses=responses, seed=seed, steps=steps)
    result.seconds = time.perf_counter() - started
    base_url = _base_url(host, port)
    print_summary(result, base_url)
    if not serve:
        return

    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.remove()
    click.echo(f"\nServing on http://{host}:{port} (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
