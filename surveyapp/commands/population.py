"""``surveyapp population``: a wave's staff register (import, show, purge of personal data)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Wave
from surveyapp.questionnaire.model import Questionnaire
from surveyapp.services import register
from surveyapp.services.register import BIRTH_YEAR, ColumnMapping, GroupColumn, Margin, Problem, Table


def find_wave(slug: str) -> Wave:
    wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()
    if wave is None:
        raise click.ClickException(f"there is no wave {slug!r}")
    return wave


def echo_problems(title: str, problems: Sequence[Problem], count: int, *, limit: int = 200) -> None:
    """A validation report on stderr: one 'line N, column C: problem' per line."""
    click.echo(f"{title}: {count}", err=True)
    for problem in problems[:limit]:
        click.echo(f"  {problem}", err=True)
    shown = min(limit, len(problems))
    if count > shown:
        click.echo(f"  ... and {count - shown} more", err=True)


def describe_table(table: Table) -> str:
    parts = [table.kind.upper()]
    if table.encoding:
        parts.append(register.ENCODING_NAMES.get(table.encoding, table.encoding))
    if table.delimiter:
        parts.append(f"{register.DELIMITER_NAMES.get(table.delimiter, table.delimiter)}-separated")
    parts.append(f"{len(table.headers)} columns")
    parts.append(f"{len(table.rows) + len(table.problems)} rows")
    return ", ".join(parts)


@click.group("population")
def command() -> None:
    """A wave's staff register (its population): import a file, show it, purge personal data."""


def _optional(value: str) -> str | None:
    """'-' (or nothing) on the command line means: no such column."""
    return None if value.strip() in {"-", ""} else value


def apply_options(
    mapping: ColumnMapping,
    questionnaire: Questionnaire,
    *,
    id_column: str | None = None,
    email_column: str | None = None,
    language_column: str | None = None,
    name_column: str | None = None,
    groups: Sequence[str] = (),
    birth_year_column: str | None = None,
) -> ColumnMapping:
    """The mapping with the command line's choices in place of the defaults."""
    group_columns = list(mapping.groups)
    if groups:
        group_columns = []
        for spec in groups:
            column, _, key = spec.partition("=")
            column = column.strip()
            group_columns.append(
                GroupColumn(column, key.strip() or register.matching_group_key(column, questionnaire))
            )
    if birth_year_column:
        age = next(
            (q for q in register.group_questions(questionnaire) if register.age_bands(q) is not None), None
        )
        if age is None or age.measure is None or not age.measure.register_column:
            raise click.ClickException(
                "the questionnaire has no age-band group question for --birth-year-column"
            )
        key = age.measure.register_column
        group_columns = [g for g in group_columns if g.key != key]
        group_columns.append(GroupColumn(birth_year_column, key, BIRTH_YEAR))
    return ColumnMapping(
        email_column=mapping.email_column if email_column is None else _optional(email_column),
        id_column=mapping.id_column if id_column is None else _optional(id_column),
        language_column=mapping.language_column if language_column is None else _optional(language_column),
        name_column=mapping.name_column if name_column is None else _optional(name_column),
        groups=tuple(group_columns),
    )


def echo_mapping(mapping: ColumnMapping) -> None:
    click.echo(f"  person id:  {mapping.id_column or '(the e-mail address)'}")
    click.echo(f"  e-mail:     {mapping.email_column or '(none)'}")
    click.echo(f"  language:   {mapping.language_column or '(none: the default language)'}")
    click.echo(f"  name:       {mapping.name_column or '(none)'}")
    for group in mapping.groups:
        conversion = " (birth year → age band)" if group.convert == BIRTH_YEAR else ""
        click.echo(f"  group:      {group.column} → {group.key}{conversion}")


def echo_margins(margins: Sequence[Margin]) -> None:
    for margin in margins:
        click.echo(f"{margin.key}:")
        for row in margin.rows:
            click.echo(f"  {row.code:<30} {row.count:>7}")
        if margin.missing:
            click.echo(f"  {'(no value)':<30} {margin.missing:>7}")


@command.command("import")
@click.argument("wave_slug", metavar="WAVE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id-column", help="The person id column ('-': none, the e-mail address is the id).")
@click.option("--email-column", help="The e-mail address column.")
@click.option("--language-column", help="The preferred language column ('-': none, everyone Dutch).")
@click.option("--name-column", help="The name column ('-': none).")
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="COLUMN[=KEY]",
    help="A group column (repeat for each); KEY is the register_column it stands for (by default the "
    "matching group question's). Without --group: the columns of the questionnaire's group questions.",
)
@click.option(
    "--birth-year-column",
    help="A column of birth years (or dates of birth) to turn into the age bands of the age question.",
)
@click.option("--remove-missing", is_flag=True, help="Remove people of the wave who are not in the file.")
@click.option(
    "--delta",
    is_flag=True,
    help="For an OPEN wave: FILE is the whole current register. New people are added and invited "
    "(their mail goes with the next `invitations send`); people no longer in it are withdrawn "
    "(no more mail, their link stops working).",
)
@click.option("--dry-run", is_flag=True, help="Check the file and show the counts; store nothing.")
@with_appcontext
def import_command(
    wave_slug: str,
    file: Path,
    id_column: str | None,
    email_column: str | None,
    language_column: str | None,
    name_column: str | None,
    groups: tuple[str, ...],
    birth_year_column: str | None,
    remove_missing: bool,
    delta: bool,
    dry_run: bool,
) -> None:
    """Import the staff register FILE (CSV or XLSX) into the draft WAVE, or with --delta
    bring an open WAVE's register up to date.

    The whole file is checked first: every problem is printed (line, column, problem) and
    nothing is imported if there is any. Importing again updates people by their id and adds
    new ones. The column choices are kept on the wave for the next import. Contact persons
    (columns entity, name, email) use the same import: --group entity=entiteit.
    """
    from surveyapp.survey.service import questionnaire_of

    wave = find_wave(wave_slug)
    try:
        register.check_import_state(wave, delta=delta)
    except register.RegisterStateError as exc:
        raise click.ClickException(str(exc)) from exc
    if delta and remove_missing:
        raise click.UsageError("--delta already withdraws the people who are not in the file")
    questionnaire = questionnaire_of(wave.questionnaire_version)
    try:
        table = register.read_table(file.read_bytes(), file.name)
    except register.RegisterFileError as exc:
        echo_problems(f"{file.name} cannot be read", exc.problems, len(exc.problems))
        sys.exit(1)
    mapping = register.default_mapping(
        table.headers, questionnaire, ColumnMapping.from_json(wave.register_mapping)
    )
    mapping = apply_options(
        mapping,
        questionnaire,
        id_column=id_column,
        email_column=email_column,
        language_column=language_column,
        name_column=name_column,
        groups=groups,
        birth_year_column=birth_year_column,
    )
    click.echo(f"{file.name}: {describe_table(table)}")
    echo_mapping(mapping)
    if dry_run:
        click.echo("Dry run: the file is only checked; nothing will be stored.")
    with click.progressbar(
        length=max(len(table.rows), 1),
        label="Checking (dry run)" if dry_run else "Importing",
        file=sys.stderr,
    ) as bar:
        result = register.import_register(
            wave,
            table,
            mapping,
            questionnaire,
            actor=None,
            dry_run=dry_run,
            remove_missing=remove_missing,
            progress=bar.update,
            via="cli",
            lang="en",
            delta=delta,
        )
    if result.warning_count:
        echo_problems("Warnings", result.warnings, result.warning_count, limit=20)
    if not result.ok:
        db.session.rollback()
        echo_problems("Problems", result.problems, result.problem_count)
        click.echo("Nothing was imported: correct the file (or the column choices) and try again.", err=True)
        sys.exit(1)
    if delta:
        _echo_delta(wave, result)
        return
    if dry_run:
        db.session.rollback()
        click.echo(
            f"Dry run, nothing stored: {result.added} people would be added, {result.updated} updated, "
            f"{result.unchanged} unchanged"
            + (f", {result.removed} removed" if remove_missing else "")
            + f"; the register would have {result.total} people."
        )
        return
    db.session.commit()
    click.echo(
        f"{result.added} people added, {result.updated} updated, {result.unchanged} unchanged"
        + (f", {result.removed} removed" if remove_missing else "")
        + f"; the register of {wave.slug} has {result.total} people."
    )
    echo_margins(result.margins)


def _echo_delta(wave: Wave, result: register.ImportResult) -> None:
    """Commit (unless a dry run) and say what the delta import did or would do."""
    counts = (
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.withdrawn} withdrawn, {result.reinstated} back after a withdrawal"
    )
    kept = (
        f"; {result.kept_submitted} not in the file but kept: they already answered"
        if result.kept_submitted
        else ""
    )
    if result.dry_run:
        db.session.rollback()
        click.echo(f"Dry run, nothing stored: {counts}{kept}; the register would have {result.total} people.")
        return
    db.session.commit()
    click.echo(f"{counts}{kept}; the register of {wave.slug} has {result.total} people.")
    click.echo(
        f"{result.invited} new invitation(s): `surveyapp invitations send {wave.slug}` mails them; "
        "withdrawn people get no more mail and their link no longer works."
    )


@command.command("show")
@click.argument("wave_slug", metavar="WAVE")
@with_appcontext
def show_command(wave_slug: str) -> None:
    """Show the size of WAVE's register, its column mapping and its group margins."""
    from surveyapp.survey.service import questionnaire_of

    wave = find_wave(wave_slug)
    click.echo(f"{wave.slug} ({wave.state}): {register.register_size(wave)} people")
    if wave.personal_data_purged_at:
        click.echo(f"personal data purged at {wave.personal_data_purged_at:%Y-%m-%d %H:%M}")
    stored = ColumnMapping.from_json(wave.register_mapping)
    if stored is not None:
        echo_mapping(stored)
    echo_margins(register.margins(wave, questionnaire_of(wave.questionnaire_version), lang="en"))


@command.command("purge")
@click.option("--wave", "wave_slug", metavar="WAVE", help="Only this wave (default: every wave that is due).")
@click.option("--force", is_flag=True, help="Purge WAVE now, before its retention period is over.")
@with_appcontext
def purge_command(wave_slug: str | None, force: bool) -> None:
    """Blank the e-mail addresses and names of registers whose retention period is over.

    A wave's personal data goes once its closing day plus its retention days have passed;
    the groups stay for the margins. Run it daily (e.g. from cron).
    """
    if force and not wave_slug:
        raise click.UsageError("--force needs --wave: forcing every wave at once is not allowed")
    now = datetime.now(UTC)
    if wave_slug:
        waves = [find_wave(wave_slug)]
    else:
        waves = list(
            db.session.execute(
                select(Wave).where(Wave.personal_data_purged_at.is_(None)).order_by(Wave.id)
            ).scalars()
        )
    purged = 0
    for wave in waves:
        result = register.purge_personal_data(wave, now, force=force, actor=None, via="cli")
        if result.purged:
            purged += 1
            click.echo(
                f"{wave.slug}: e-mail addresses and names of {result.people} people purged ({result.reason})"
            )
        elif wave_slug:
            click.echo(f"{wave.slug}: nothing purged ({result.reason})")
    db.session.commit()
    if not wave_slug:
        click.echo(f"{purged} wave(s) purged")
