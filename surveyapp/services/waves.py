"""Waves, their register snapshot and their invitations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from dataclasses import field as dc_field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from surveyapp.extensions import db
from surveyapp.models import (
    AUDIENCES,
    AccessToken,
    DraftAnswers,
    Invitation,
    QuestionnaireVersion,
    RegisterPerson,
    Wave,
)
from surveyapp.questionnaire import QuestionnaireError, load_questionnaire
from surveyapp.services.questionnaires import freeze, store_file
from surveyapp.survey import pending
from surveyapp.survey.service import hash_token, new_token

# Allowed state changes of a wave; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "draft": {"open"},
    "open": {"closed"},
    "closed": {"open", "archived"},
    "archived": set(),
}


class WaveStateError(ValueError):
    """A wave state change that is not allowed."""


class OpeningError(ValueError):
    """A wave that cannot open yet; ``code`` names the reason (the web pages translate by it)."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def create_wave(
    version: QuestionnaireVersion,
    *,
    slug: str,
    title: str,
    audience: str = "gerechtigden",
    languages: Iterable[str] = ("nl", "en"),
    anonymous: bool = True,
    opens_on: date | None = None,
    closes_on: date | None = None,
    retention_days: int = 365,
    suppression_threshold: int = 10,
) -> Wave:
    if suppression_threshold < 5:
        raise ValueError("the suppression threshold cannot be below 5")
    wave = Wave(
        slug=slug,
        title=title,
        audience=audience,
        questionnaire_version_id=version.id,
        languages=list(languages),
        anonymous=anonymous,
        opens_on=opens_on,
        closes_on=closes_on,
        retention_days=retention_days,
        suppression_threshold=suppression_threshold,
        state="draft",
    )
    db.session.add(wave)
    db.session.flush()
    return wave


def set_state(wave: Wave, new_state: str) -> None:
    """Move a wave along its life cycle.

    Opening freezes its questionnaire version and gives every person of the register an
    invitation (idempotent). Planners open waves through :func:`open_wave`, which checks first.
    """
    if new_state not in TRANSITIONS.get(wave.state, set()):
        if new_state == wave.state:
            raise WaveStateError(f"wave {wave.slug} is already {new_state}")
        raise WaveStateError(f"a {wave.state} wave cannot become {new_state}")
    if new_state == "open":
        freeze(wave.questionnaire_version)
        invite_register(wave)
        wave.base_population = count_register(wave.id)
    if new_state == "closed":
        # Whatever waits for its anonymous batch is released now, however few (the close's
        # transaction; submits in flight finish first, later ones find the wave closed).
        try:
            pending.release_all(wave)
        except pending.PendingUnreadableError as exc:
            raise WaveStateError(f"the wave stays open: {exc}") from exc
        # Drafts of people who did not submit go with the close (they are nobody's answers).
        delete_unsubmitted_drafts(wave.id)
    wave.state = new_state


def open_wave(wave: Wave) -> int:
    """Open (or reopen) a wave for its register: the planner's step, from the CLI and the web.

    Refused, with the reason, when the wave is not a draft or closed, has nobody in its
    register, or has no closing date (the invitation mail names the deadline).
    The wave's row is locked first, so of two simultaneous openings one opens and the other
    is told the wave is open already; the invitations' unique person makes a repeat add none.
    Returns the number of invitations created. Does not commit.
    """
    # The row is read (not only locked): the state another opener just committed counts.
    db.session.execute(
        select(Wave).where(Wave.id == wave.id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    if "open" not in TRANSITIONS.get(wave.state, set()):
        raise WaveStateError(
            f"wave {wave.slug} is already open"
            if wave.state == "open"
            else f"a {wave.state} wave cannot open again"
        )
    if count_register(wave.id) == 0:
        raise OpeningError(
            "register_empty",
            f"the register of wave {wave.slug} is empty: import the staff register first "
            f"(surveyapp population import {wave.slug} FILE)",
        )
    if wave.closes_on is None:
        raise OpeningError(
            "no_closing_date",
            f"wave {wave.slug} has no closing date: the invitation mail names it "
            f"(give one with: surveyapp wave open {wave.slug} --closes YYYY-MM-DD)",
        )
    before = count_invitations(wave.id)
    set_state(wave, "open")
    return count_invitations(wave.id) - before


def delete_unsubmitted_drafts(wave_id: int) -> int:
    """Drop the drafts of everyone who did not submit: nobody can finish them any more, and kept
    answers, sealed or not, are answers a backup or a leaked key could still give away.

    A wave that is opened again starts those people on an empty questionnaire.
    """
    of_wave = select(Invitation.id).where(Invitation.wave_id == wave_id)
    deleted = db.session.execute(
        delete(DraftAnswers)
        .where(DraftAnswers.invitation_id.in_(of_wave))
        .execution_options(synchronize_session=False)
    )
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def count_register(wave_id: int) -> int:
    """The wave's population: its register people, without those withdrawn since it opened."""
    withdrawn = (
        select(Invitation.id)
        .where(Invitation.person_id == RegisterPerson.id, Invitation.withdrawn_at.is_not(None))
        .exists()
    )
    return int(
        db.session.execute(
            select(func.count())
            .select_from(RegisterPerson)
            .where(RegisterPerson.wave_id == wave_id, ~withdrawn)
        ).scalar_one()
    )


def count_invitations(wave_id: int) -> int:
    """The wave's invitations that still stand (not withdrawn)."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.wave_id == wave_id, Invitation.withdrawn_at.is_(None))
        ).scalar_one()
    )


def invite_register(wave: Wave) -> int:
    """One invitation for every register person of the wave without one; returns how many.

    One INSERT … SELECT: the unique person of an invitation (ON CONFLICT DO NOTHING) makes it
    safe to repeat and to run twice at once. No token is made: each mail issues its own, so
    the database only ever holds hashes of tokens that were mailed.
    """
    people = (
        select(
            RegisterPerson.wave_id,
            RegisterPerson.id,
            RegisterPerson.language,
            literal(0),
            literal(False),
            literal(False),
        )
        .where(
            RegisterPerson.wave_id == wave.id,
            ~select(Invitation.id).where(Invitation.person_id == RegisterPerson.id).exists(),
        )
        .order_by(RegisterPerson.id)
    )
    columns = ["wave_id", "person_id", "language", "reminders_sent", "opted_out", "submitted"]
    dialect = db.session.get_bind().dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(Invitation).from_select(columns, people)
        statement = statement.on_conflict_do_nothing(index_elements=["person_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(Invitation).from_select(columns, people)
        statement = statement.on_conflict_do_nothing(index_elements=["person_id"])
    else:
        statement = insert(Invitation).from_select(columns, people)
    result = db.session.execute(statement)
    return max(0, int(result.rowcount or 0))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RegisterRow:
    person_key: str
    email: str | None
    language: str
    groups: Mapping[str, str]
    name: str | None = None


def add_register(wave: Wave, rows: Iterable[RegisterRow], batch_size: int = 5000) -> int:
    """Bulk-insert the wave's register snapshot."""
    count = 0
    batch: list[dict[str, object]] = []
    for row in rows:
        batch.append(
            {
                "wave_id": wave.id,
                "person_key": row.person_key,
                "email": row.email,
                "name": row.name,
                "language": row.language,
                "groups": dict(row.groups),
            }
        )
        if len(batch) >= batch_size:
            db.session.execute(insert(RegisterPerson), batch)
            count += len(batch)
            batch = []
    if batch:
        db.session.execute(insert(RegisterPerson), batch)
        count += len(batch)
    return count


def create_invitations(
    wave: Wave,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """For the demo and tests, which answer without mail: invitations for the register (as
    opening makes them) and a token for each invitation that has none; person_key → token.

    The tokens exist only in the returned mapping; the database keeps hashes.
    """
    invite_register(wave)
    people = db.session.execute(
        select(Invitation.id, RegisterPerson.person_key)
        .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
        .where(
            Invitation.wave_id == wave.id,
            ~select(AccessToken.id).where(AccessToken.invitation_id == Invitation.id).exists(),
        )
        .order_by(Invitation.id)
    ).all()
    tokens: dict[str, str] = {}
    for start in range(0, len(people), batch_size):
        chunk = people[start : start + batch_size]
        token_rows = []
        for invitation_id, person_key in chunk:
            token = new_token()
            tokens[person_key] = token
            token_rows.append({"invitation_id": invitation_id, "token_hash": hash_token(token)})
        db.session.execute(insert(AccessToken), token_rows)
        if progress:
            progress(len(chunk))
    return tokens


# --- Wave settings: lookup, validation, editing, repeating -------------------------------------

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_LENGTH = (3, 64)
TITLE_MAX = 200
RETENTION_RANGE = (1, 3650)
MINIMUM_THRESHOLD = 5
MAXIMUM_THRESHOLD = 1000
REQUIRED_LANGUAGE = "nl"
QUESTIONNAIRE_SUFFIXES = (".yaml", ".yml")
# Parts of Wave.register_mapping that describe an earlier import, not the column mapping.
NOT_REPEATED_MAPPING = frozenset({"file", "imported_at"})
# Settings that may still change once a wave has opened (invitations promise the rest).
EDITABLE_AFTER_OPENING = frozenset({"title", "opens_on", "closes_on", "retention_days"})

# English texts of the problems, for the command line; the web pages translate by code.
PROBLEM_TEXTS = {
    "slug_format": "use {min} to {max} lower-case letters, digits and single hyphens (like golf-2026)",
    "slug_taken": "another wave already uses the slug {slug}",
    "title_required": "give the wave a title",
    "title_long": "the title can have at most {max} characters",
    "audience_unknown": "choose one of: {choices}",
    "audience_mismatch": "the questionnaire is written for the audience {expected}",
    "language_required": "Dutch (nl) is required",
    "language_missing": "the questionnaire has no text in: {languages}",
    "period_order": "the closing date cannot be before the opening date",
    "retention_range": "keep personal data between {min} and {max} days",
    "threshold_low": "the threshold must be at least {min} (smaller groups identify people)",
    "threshold_high": "the threshold can be at most {max}",
    "questionnaire_required": "choose a questionnaire",
    "questionnaire_unknown": "there is no questionnaire {name}",
    "questionnaire_invalid": "{name} has problems: {problems}",
    "questionnaire_other": "a repeat uses the same questionnaire ({key})",
    "questionnaire_frozen": "the questionnaire of a {state} wave cannot change",
    "not_editable": "this cannot change once the wave is {state}",
}


@dataclass(frozen=True)
class SettingsProblem:
    """One thing wrong with a wave's settings: which field, a code, and the code's values."""

    field: str
    code: str
    params: Mapping[str, object] = dc_field(default_factory=dict)

    def __str__(self) -> str:
        return PROBLEM_TEXTS[self.code].format(**self.params)


class WaveSettingsError(ValueError):
    """Wave settings that cannot be saved; ``problems`` lists every one."""

    def __init__(self, problems: Iterable[SettingsProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p}" for p in self.problems))


def wave_by_slug(slug: str) -> Wave | None:
    if not slug or len(slug) > SLUG_LENGTH[1]:
        return None
    return db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()


@dataclass(frozen=True)
class QuestionnaireFile:
    """A questionnaire file in the questionnaire folder, read and validated (or its problems)."""

    name: str
    path: Path
    key: str | None = None
    version_label: str | None = None
    content_hash: str | None = None
    audience: str | None = None
    languages: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


def questionnaire_files(directory: str | Path) -> list[QuestionnaireFile]:
    """The questionnaire files of a folder (not its subfolders), each checked, sorted by name."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in QUESTIONNAIRE_SUFFIXES)
    files = []
    for path in paths:
        stat = path.stat()
        files.append(_read_questionnaire_file(path, stat.st_mtime_ns, stat.st_size))
    return files


@lru_cache(maxsize=64)
def _read_questionnaire_file(path: Path, mtime_ns: int, size: int) -> QuestionnaireFile:
    """Read and checked once per version of the file on disk (its time and size are in the key)."""
    try:
        questionnaire = load_questionnaire(path)
    except QuestionnaireError as exc:
        return QuestionnaireFile(path.name, path, problems=tuple(str(p) for p in exc.problems))
    return QuestionnaireFile(
        name=path.name,
        path=path,
        key=questionnaire.id,
        version_label=questionnaire.version_label,
        content_hash=questionnaire.content_hash,
        audience=questionnaire.audience,
        languages=tuple(questionnaire.languages),
    )


def questionnaire_file(directory: str | Path, name: str) -> QuestionnaireFile | None:
    """A file of the questionnaire folder by its bare name, with or without its suffix
    (``gerechtigden`` or ``gerechtigden.yaml``; never a path elsewhere)."""
    candidates = questionnaire_files(directory)
    for candidate in candidates:
        if candidate.name == name:
            return candidate
    for candidate in candidates:
        if candidate.path.stem == name:
            return candidate
    return None


def store_questionnaire_file(directory: str | Path, name: str) -> QuestionnaireVersion:
    """Store a file of the questionnaire folder as a version (idempotent by content hash)."""
    found = questionnaire_file(directory, name)
    if found is None:
        raise WaveSettingsError([SettingsProblem("questionnaire", "questionnaire_unknown", {"name": name})])
    try:
        version, _ = store_file(found.path)
    except (QuestionnaireError, OSError, UnicodeDecodeError) as exc:
        problems = "; ".join(str(p) for p in getattr(exc, "problems", [exc]))
        raise WaveSettingsError(
            [SettingsProblem("questionnaire", "questionnaire_invalid", {"name": name, "problems": problems})]
        ) from exc
    return version


def check_settings(
    *,
    version: QuestionnaireVersion | None,
    slug: str | None = None,
    title: str,
    audience: str,
    languages: Iterable[str],
    opens_on: date | None,
    closes_on: date | None,
    retention_days: int,
    suppression_threshold: int,
    wave_id: int | None = None,
) -> list[SettingsProblem]:
    """Every problem with a wave's settings (slug None: the slug is not being set)."""
    problems: list[SettingsProblem] = []
    if slug is not None:
        low, high = SLUG_LENGTH
        if not (low <= len(slug) <= high and SLUG_PATTERN.match(slug)):
            problems.append(SettingsProblem("slug", "slug_format", {"min": low, "max": high}))
        else:
            taken = db.session.execute(select(Wave.id).where(Wave.slug == slug)).scalar_one_or_none()
            if taken is not None and taken != wave_id:
                problems.append(SettingsProblem("slug", "slug_taken", {"slug": slug}))
    if not title.strip():
        problems.append(SettingsProblem("title", "title_required"))
    elif len(title) > TITLE_MAX:
        problems.append(SettingsProblem("title", "title_long", {"max": TITLE_MAX}))
    content = version.content if version is not None else {}
    expected_audience = str(content.get("audience") or "gerechtigden")
    if audience not in AUDIENCES:
        problems.append(SettingsProblem("audience", "audience_unknown", {"choices": ", ".join(AUDIENCES)}))
    elif version is not None and audience != expected_audience:
        problems.append(SettingsProblem("audience", "audience_mismatch", {"expected": expected_audience}))
    wanted = list(languages)
    if REQUIRED_LANGUAGE not in wanted:
        problems.append(SettingsProblem("languages", "language_required"))
    if version is not None:
        offered = set(content.get("languages") or [REQUIRED_LANGUAGE])
        missing = [code for code in wanted if code not in offered]
        if missing:
            problems.append(
                SettingsProblem("languages", "language_missing", {"languages": ", ".join(missing)})
            )
    if opens_on is not None and closes_on is not None and closes_on < opens_on:
        problems.append(SettingsProblem("closes_on", "period_order"))
    low, high = RETENTION_RANGE
    if not low <= retention_days <= high:
        problems.append(SettingsProblem("retention_days", "retention_range", {"min": low, "max": high}))
    if suppression_threshold < MINIMUM_THRESHOLD:
        problems.append(SettingsProblem("suppression_threshold", "threshold_low", {"min": MINIMUM_THRESHOLD}))
    elif suppression_threshold > MAXIMUM_THRESHOLD:
        problems.append(
            SettingsProblem("suppression_threshold", "threshold_high", {"max": MAXIMUM_THRESHOLD})
        )
    return problems


def new_wave(
    version: QuestionnaireVersion,
    *,
    slug: str,
    title: str,
    audience: str = "gerechtigden",
    languages: Iterable[str] = ("nl", "en"),
    anonymous: bool = True,
    opens_on: date | None = None,
    closes_on: date | None = None,
    retention_days: int = 365,
    suppression_threshold: int = 10,
) -> Wave:
    """``create_wave`` after checking every setting (raises ``WaveSettingsError``)."""
    languages = list(languages)
    problems = check_settings(
        version=version,
        slug=slug,
        title=title,
        audience=audience,
        languages=languages,
        opens_on=opens_on,
        closes_on=closes_on,
        retention_days=retention_days,
        suppression_threshold=suppression_threshold,
    )
    if problems:
        raise WaveSettingsError(problems)
    return create_wave(
        version,
        slug=slug,
        title=title.strip(),
        audience=audience,
        languages=languages,
        anonymous=anonymous,
        opens_on=opens_on,
        closes_on=closes_on,
        retention_days=retention_days,
        suppression_threshold=suppression_threshold,
    )


@dataclass(frozen=True)
class WaveSettings:
    """The settings of a wave that a planner edits (not its slug, state or questionnaire)."""

    title: str
    audience: str
    languages: tuple[str, ...]
    anonymous: bool
    opens_on: date | None
    closes_on: date | None
    retention_days: int
    suppression_threshold: int

    @classmethod
    def of(cls, wave: Wave) -> WaveSettings:
        return cls(
            title=wave.title,
            audience=wave.audience,
            languages=tuple(wave.languages or ()),
            anonymous=wave.anonymous,
            opens_on=wave.opens_on,
            closes_on=wave.closes_on,
            retention_days=wave.retention_days,
            suppression_threshold=wave.suppression_threshold,
        )


def update_wave(
    wave: Wave, settings: WaveSettings, version: QuestionnaireVersion | None = None
) -> dict[str, tuple[object, object]]:
    """Change a wave's settings; returns what changed as {field: (old, new)}.

    A draft wave may change everything but its slug (``version``: another questionnaire
    version). Once opened, only the title, the period and the retention may change: the
    questionnaire is frozen and the invitations promised the rest. Archived waves never change.
    """
    settings = replace(settings, title=settings.title.strip(), languages=tuple(settings.languages))
    before = WaveSettings.of(wave)
    changed = {
        f.name: (getattr(before, f.name), getattr(settings, f.name))
        for f in fields(WaveSettings)
        if getattr(before, f.name) != getattr(settings, f.name)
    }
    new_version = version if version is not None and version.id != wave.questionnaire_version_id else None
    problems: list[SettingsProblem] = []
    if wave.state != "draft":
        if new_version is not None:
            problems.append(SettingsProblem("questionnaire", "questionnaire_frozen", {"state": wave.state}))
        for name in changed:
            if wave.state == "archived" or name not in EDITABLE_AFTER_OPENING:
                problems.append(SettingsProblem(name, "not_editable", {"state": wave.state}))
    if problems:
        raise WaveSettingsError(problems)
    problems = check_settings(
        version=new_version or wave.questionnaire_version,
        title=settings.title,
        audience=settings.audience,
        languages=settings.languages,
        opens_on=settings.opens_on,
        closes_on=settings.closes_on,
        retention_days=settings.retention_days,
        suppression_threshold=settings.suppression_threshold,
        wave_id=wave.id,
    )
    if wave.state != "draft":
        # Only what changes is checked: the frozen questionnaire and settings stay as opened.
        problems = [
            p for p in problems if p.field in changed or (p.field == "closes_on" and "opens_on" in changed)
        ]
    if problems:
        raise WaveSettingsError(problems)
    for name, (_, value) in changed.items():
        setattr(wave, name, list(value) if isinstance(value, tuple) else value)
    result: dict[str, tuple[object, object]] = dict(changed)
    if new_version is not None:
        result["questionnaire"] = (wave.questionnaire_version.content_hash, new_version.content_hash)
        wave.questionnaire_version = new_version
    return result


def repeat_wave(
    source: Wave,
    *,
    slug: str,
    title: str,
    opens_on: date | None = None,
    closes_on: date | None = None,
    version: QuestionnaireVersion | None = None,
) -> Wave:
    """A new draft wave with the settings of ``source`` and ``repeated_from_id`` set.

    ``version`` may be a newer version of the same questionnaire; the register is not copied
    (each wave imports a fresh snapshot), its column mapping and mail texts are.
    """
    version = version or source.questionnaire_version
    if version.questionnaire_key != source.questionnaire_version.questionnaire_key:
        raise WaveSettingsError(
            [
                SettingsProblem(
                    "questionnaire",
                    "questionnaire_other",
                    {"key": source.questionnaire_version.questionnaire_key},
                )
            ]
        )
    wave = new_wave(
        version,
        slug=slug,
        title=title,
        audience=source.audience,
        languages=list(source.languages or [REQUIRED_LANGUAGE]),
        anonymous=source.anonymous,
        opens_on=opens_on,
        closes_on=closes_on,
        retention_days=source.retention_days,
        suppression_threshold=source.suppression_threshold,
    )
    wave.repeated_from_id = source.id
    # The column mapping carries over; what the earlier import read (file, time) does not.
    mapping = {k: v for k, v in (source.register_mapping or {}).items() if k not in NOT_REPEATED_MAPPING}
    wave.register_mapping = mapping or None
    wave.mail_templates = dict(source.mail_templates) if source.mail_templates else None
    db.session.flush()
    return wave


@dataclass(frozen=True)
class WaveProgress:
    wave: Wave
    invited: int
    submitted: int


def waves_with_progress() -> list[WaveProgress]:
    """Every wave, newest first, with how many were invited and how many submitted."""
    counts = (
        select(
            Invitation.wave_id,
            func.count().label("invited"),
            func.sum(case((Invitation.submitted.is_(True), 1), else_=0)).label("submitted"),
        )
        .where(Invitation.withdrawn_at.is_(None))
        .group_by(Invitation.wave_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Wave, counts.c.invited, counts.c.submitted)
        .outerjoin(counts, counts.c.wave_id == Wave.id)
        .order_by(Wave.created_at.desc(), Wave.id.desc())
    ).all()
    return [WaveProgress(wave, int(invited or 0), int(submitted or 0)) for wave, invited, submitted in rows]
