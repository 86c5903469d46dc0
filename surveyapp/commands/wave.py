"""``surveyapp wave``: create, open, close, archive, repeat and list waves, and watch responses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from surveyapp.models import AUDIENCES, QuestionnaireVersion, Wave
from surveyapp.services import audit, monitoring
from surveyapp.services.waves import (
    REQUIRED_LANGUAGE,
    OpeningError,
    WaveSettings,
    WaveSettingsError,
    WaveStateError,
    new_wave,
    questionnaire_files,
    repeat_wave,
    set_state,
    store_questionnaire_file,
    update_wave,
    wave_by_slug,
)
from surveyapp.services.waves import open_wave as open_wave_service

STATE_ACTIONS = {"open": "wave_opened", "closed": "wave_closed", "archived": "wave_archived"}


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-01") from exc


def _settings_error(exc: WaveSettingsError) -> click.ClickException:
    return click.ClickException("\n".join(f"{p.field}: {p}" for p in exc.problems))


def _version_from(path_text: str) -> QuestionnaireVersion:
    """A questionnaire file by path, or by name in the questionnaire folder; stored if new."""
    from surveyapp.questionnaire import QuestionnaireError
    from surveyapp.services.questionnaires import store_file

    path = Path(path_text)
    if path.is_file():
        try:
            version, _ = store_file(path)
        except (QuestionnaireError, OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(str(exc)) from exc
        return version
    folder = current_app.config["QUESTIONNAIRE_DIR"]
    try:
        return store_questionnaire_file(folder, path_text)
    except WaveSettingsError as exc:
        if any(p.code == "questionnaire_unknown" for p in exc.problems):
            names = ", ".join(f.path.stem for f in questionnaire_files(folder)) or "(none)"
            raise click.ClickException(
                f"there is no questionnaire {path_text!r}: give a file path or one of the "
                f"questionnaires in {folder}: {names}"
            ) from exc
        raise _settings_error(exc) from exc


def _wave(slug: str) -> Wave:
    found = wave_by_slug(slug)
    if found is None:
        raise click.ClickException(f"there is no wave {slug}")
    return found


@click.group("wave")
def command() -> None:
    """Survey waves: create, open, close, archive, repeat, list and follow the response."""


@command.command("create")
@click.option(
    "--questionnaire",
    "questionnaire",
    required=True,
    help="A YAML file: a path, or a name in QUESTIONNAIRE_DIR (e.g. gerechtigden).",
)
@click.option("--slug", required=True, help="Short name in addresses, e.g. gerechtigden-2026.")
@click.option("--title", required=True)
@click.option(
    "--audience", type=click.Choice(AUDIENCES), default=None, help="Default: the questionnaire's audience."
)
@click.option("--opens", "opens", default=None, help="Opening date, YYYY-MM-DD.")
@click.option("--closes", "closes", default=None, help="Closing date, YYYY-MM-DD.")
@click.option("--language", "languages", multiple=True, help="Repeat for each language (default: nl and en).")
@click.option(
    "--anonymous/--identified", default=None, help="Default: anonymous, identified for contact persons."
)
@click.option("--retention-days", type=int, default=365, show_default=True)
@click.option(
    "--threshold", type=int, default=10, show_default=True, help="Suppression threshold (at least 5)."
)
@with_appcontext
def create(
    questionnaire: str,
    slug: str,
    title: str,
    audience: str | None,
    opens: str | None,
    closes: str | None,
    languages: tuple[str, ...],
    anonymous: bool | None,
    retention_days: int,
    threshold: int,
) -> None:
    """Create a draft wave from a questionnaire file."""
    from surveyapp.extensions import db

    version = _version_from(questionnaire)
    audience = audience or str(version.content.get("audience") or "gerechtigden")
    if anonymous is None:
        anonymous = audience != "contactpersonen"
    if not languages:
        offered = version.content.get("languages") or [REQUIRED_LANGUAGE]
        languages = tuple(code for code in ("nl", "en") if code in offered)
    try:
        wave = new_wave(
            version,
            slug=slug,
            title=title,
            audience=audience,
            languages=languages,
            anonymous=anonymous,
            opens_on=_date(opens),
            closes_on=_date(closes),
            retention_days=retention_days,
            suppression_threshold=threshold,
        )
    except WaveSettingsError as exc:
        raise _settings_error(exc) from exc
    audit.record(
        "wave_created",
        None,
        wave.slug,
        via="cli",
        title=wave.title,
        audience=wave.audience,
        questionnaire=version.questionnaire_key,
        content_hash=version.content_hash,
        anonymous=wave.anonymous,
        suppression_threshold=wave.suppression_threshold,
    )
    db.session.commit()
    click.echo(
        f"created draft wave {wave.slug}: {version.questionnaire_key} {version.version_label or ''} "
        f"({version.content_hash[:12]}), {wave.audience}, "
        f"{'anonymous' if wave.anonymous else 'identified'}, threshold {wave.suppression_threshold}"
    )


def _change_state(slug: str, new_state: str) -> None:
    from surveyapp.extensions import db

    wave = _wave(slug)
    before = wave.state
    try:
        set_state(wave, new_state)
    except WaveStateError as exc:
        raise click.ClickException(str(exc)) from exc
    details: dict[str, object] = {"via": "cli", "from_state": before}
    if new_state == "open":
        details.update(
            content_hash=wave.questionnaire_version.content_hash, base_population=wave.base_population
        )
    audit.record(STATE_ACTIONS[new_state], None, wave.slug, **details)
    db.session.commit()
    extra = f" (register: {wave.base_population} people)" if new_state == "open" else ""
    click.echo(f"{wave.slug}: {before} -> {wave.state}{extra}")


@command.command("open")
@click.argument("slug")
@click.option("--closes", default=None, help="Set the closing date first, YYYY-MM-DD.")
@with_appcontext
def open_wave(slug: str, closes: str | None) -> None:
    """Open a draft (or closed) wave: freeze its questionnaire and invite its register.

    Every person in the register gets an invitation (mailed by `invitations send`). Refused
    when the register is empty or the wave has no closing date (give one with --closes).
    """
    from surveyapp.extensions import db

    wave = _wave(slug)
    before = wave.state
    if closes is not None:
        try:
            changed = update_wave(wave, replace(WaveSettings.of(wave), closes_on=_date(closes)))
        except WaveSettingsError as exc:
            raise _settings_error(exc) from exc
        if changed:
            audit.record(
                "wave_updated",
                None,
                wave.slug,
                via="cli",
                changes={name: [str(old), str(new)] for name, (old, new) in changed.items()},
            )
    try:
        invited = open_wave_service(wave)
    except (WaveStateError, OpeningError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record(
        STATE_ACTIONS["open"],
        None,
        wave.slug,
        via="cli",
        from_state=before,
        content_hash=wave.questionnaire_version.content_hash,
        base_population=wave.base_population,
        invitations_created=invited,
    )
    db.session.commit()
    click.echo(
        f"{wave.slug}: {before} -> {wave.state} (register: {wave.base_population} people, "
        f"{invited} invitation(s) created; closes {wave.closes_on})"
    )
    click.echo(f"Next: surveyapp invitations send {wave.slug}")


@command.command("close")
@click.argument("slug")
@with_appcontext
def close_wave(slug: str) -> None:
    """Close an open wave."""
    _change_state(slug, "closed")


@command.command("archive")
@click.argument("slug")
@with_appcontext
def archive_wave(slug: str) -> None:
    """Archive a closed wave."""
    _change_state(slug, "archived")


@command.command("repeat")
@click.argument("source")
@click.option("--slug", required=True, help="Slug of the new wave.")
@click.option("--title", required=True, help="Title of the new wave.")
@click.option("--opens", default=None, help="Opening date, YYYY-MM-DD.")
@click.option("--closes", default=None, help="Closing date, YYYY-MM-DD.")
@click.option("--questionnaire", default=None, help="A newer version of the same questionnaire (file).")
@with_appcontext
def repeat(
    source: str, slug: str, title: str, opens: str | None, closes: str | None, questionnaire: str | None
) -> None:
    """A new draft wave with the settings of SOURCE (the register is imported fresh)."""
    from surveyapp.extensions import db

    original = _wave(source)
    version = _version_from(questionnaire) if questionnaire else None
    try:
        wave = repeat_wave(
            original, slug=slug, title=title, opens_on=_date(opens), closes_on=_date(closes), version=version
        )
    except WaveSettingsError as exc:
        raise _settings_error(exc) from exc
    audit.record(
        "wave_repeated",
        None,
        wave.slug,
        via="cli",
        repeated_from=original.slug,
        content_hash=wave.questionnaire_version.content_hash,
    )
    db.session.commit()
    click.echo(
        f"created draft wave {wave.slug} as a repeat of {original.slug} "
        f"({wave.questionnaire_version.content_hash[:12]})"
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> list[str]:
    """Aligned plain-text table lines: numbers right-aligned, text left-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths).rstrip(), *(line(row) for row in rows)]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    if value is None:
        return "-"
    rounded = round(100 * value, 1)
    return f"{rounded:+.1f}" if rounded else "0.0"


@command.command("list")
@with_appcontext
def list_waves() -> None:
    """Every wave with its state and response so far."""
    from surveyapp.services.waves import waves_with_progress

    rows = [(p.wave, p.invited, p.submitted) for p in waves_with_progress()]
    if not rows:
        click.echo("no waves yet")
        return
    table = []
    for wave, invited, submitted in rows:
        invited, submitted = int(invited or 0), int(submitted or 0)
        period = f"{wave.opens_on or '...'} - {wave.closes_on or '...'}"
        table.append(
            [
                wave.slug,
                wave.state,
                wave.audience,
                period,
                str(invited),
                str(submitted),
                _pct(submitted / invited if invited else None),
                wave.title,
            ]
        )
    headers = ["slug", "state", "audience", "period", "invited", "submitted", "rate", "title"]
    for text in format_table(headers, table, [False, False, False, False, True, True, True, False]):
        click.echo(text)


def status_lines(
    wave: Wave, monitor: monitoring.WaveMonitor, labels: monitoring.GroupLabels | None = None
) -> list[str]:
    """The monitoring tables of the wave page as aligned plain text, with the questionnaire's labels."""
    labels = labels or monitoring.GroupLabels({}, {})
    overall = monitor.overall
    lines = [
        f"{wave.title} ({wave.slug}) - {wave.state}",
        "",
        *format_table(
            ["invited", "started", "submitted", "rate", "opted out"],
            [
                [
                    str(overall.invited),
                    str(overall.started),
                    str(overall.submitted),
                    _pct(overall.rate),
                    str(overall.opted_out),
                ]
            ],
            [True] * 5,
        ),
    ]
    for table in monitor.groups:
        rows = [
            [
                "(no value)" if row.value is None else str(labels.value(table.column, row.value)),
                str(row.invited),
                str(row.submitted),
                _pct(row.rate),
                _points(row.difference),
                "<< lagging" if row.lagging else "",
            ]
            for row in table.shown
        ]
        lines += ["", f"{labels.column(table.column)}:"]
        lines += format_table(
            ["group", "invited", "submitted", "rate", "diff (points)", "note"],
            rows,
            [False, True, True, True, True, False],
        )
        if not table.shown:
            lines.append("(no group of this column can be shown)")
        if table.small_count:
            lines.append(
                f"* not shown: {table.small_count} group(s) with fewer than {monitor.threshold} invited"
            )
        if table.protecting_count:
            lines.append(
                f"* not shown either: {table.protecting_count} larger group(s), "
                "so that the small ones cannot be worked out from the total"
            )
    if any(table.lagging for table in monitor.groups):
        lines += [
            "",
            f"<< lagging: more than {round(100 * monitoring.LAG_POINTS)} points below the overall rate and "
            f"significantly so (two-proportion z-test, {round(100 * monitoring.ALPHA)}%)",
        ]
    if monitor.daily:
        lines += ["", "responses per day:"]
        lines += format_table(
            ["day", "responses", "cumulative", "cumulative rate"],
            [
                [d.day.isoformat(), str(d.submitted), str(d.cumulative), _pct(d.cumulative_rate)]
                for d in monitor.daily
            ],
            [False, True, True, True],
        )
    return lines


@command.command("status")
@click.argument("slug")
@click.option(
    "--lang",
    type=click.Choice(["nl", "en"]),
    default="en",
    show_default=True,
    help="Language of the group labels (from the questionnaire).",
)
@with_appcontext
def status(slug: str, lang: str) -> None:
    """The response of a wave: overall, per register group (small groups hidden) and per day."""
    from surveyapp.survey.service import questionnaire_of

    wave = _wave(slug)
    started = time.perf_counter()
    labels = monitoring.group_labels(questionnaire_of(wave.questionnaire_version), lang)
    monitor = monitoring.monitor_wave(wave, labels)
    elapsed = time.perf_counter() - started
    for text in status_lines(wave, monitor, labels):
        click.echo(text)
    click.echo(f"\n(counted in {elapsed:.2f} s)", err=True)


@command.command("preview")
@click.argument("slug")
@with_appcontext
def preview_wave(slug: str) -> None:
    """Print a preview link of a draft wave: its questionnaire as respondents will see it.

    Answers given through it are never stored as a response. The link stops when the wave
    opens, or after a few days.
    """
    from surveyapp.extensions import db
    from surveyapp.survey import preview

    wave = _wave(slug)
    try:
        created = preview.create(wave, created_by=None)
    except preview.PreviewError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record(
        "wave_preview_created", None, wave.slug, via="cli", expires_at=created.expires_at.isoformat()
    )
    db.session.commit()
    link = created.link(current_app.config["BASE_URL"])
    click.echo(link)
    for code in wave.languages or ["nl"]:
        click.echo(f"  {code}: {link}?lang={code}")
    click.echo(
        f"works until {created.expires_at:%Y-%m-%d %H:%M} UTC or until the wave opens; "
        "answers given through it count nowhere",
        err=True,
    )
