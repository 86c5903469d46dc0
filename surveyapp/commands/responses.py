"""``surveyapp responses``: import an earlier wave's responses (KoboToolbox/ODK-style CSV)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from surveyapp.commands.population import describe_table, echo_problems, find_wave
from surveyapp.extensions import db
from surveyapp.services import register, response_import


@click.group("responses")
def command() -> None:
    """Responses of a wave: import an earlier wave's answers, list the expected columns."""


@command.command("import")
@click.argument("wave_slug", metavar="WAVE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the responses imported into WAVE before.")
@click.option(
    "--date",
    "default_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The submission day of rows without one (default: the wave's closing day).",
)
@click.option("--dry-run", is_flag=True, help="Check the file and show the counts; store nothing.")
@click.option(
    "--allow-web-responses",
    is_flag=True,
    help="Import even though WAVE has responses from the web (an admin's decision; audit-logged).",
)
@with_appcontext
def import_command(
    wave_slug: str,
    file: Path,
    replace: bool,
    default_date: datetime | None,
    dry_run: bool,
    allow_web_responses: bool,
) -> None:
    """Import the responses in FILE (CSV or XLSX, one row per respondent) into WAVE.

    Columns are question ids; multiple choice as one 0/1 column per code (qid/code), matrix
    rows as qid/item; optional columns submitted_on (YYYY-MM-DD) and language. Every problem is
    printed (line, column, problem) and nothing is imported if there is any.
    """
    wave = find_wave(wave_slug)
    try:
        table = register.read_table(file.read_bytes(), file.name)
    except register.RegisterFileError as exc:
        echo_problems(f"{file.name} cannot be read", exc.problems, len(exc.problems))
        sys.exit(1)
    click.echo(f"{file.name}: {describe_table(table)}")
    if dry_run:
        click.echo("Dry run: the file is only checked; nothing will be stored.")
    day = default_date.date() if default_date is not None else None
    try:
        with click.progressbar(
            length=max(len(table.rows), 1),
            label="Checking (dry run)" if dry_run else "Importing",
            file=sys.stderr,
        ) as bar:
            result = response_import.import_responses(
                wave,
                table,
                actor=None,
                replace=replace,
                dry_run=dry_run,
                default_date=day,
                progress=bar.update,
                via="cli",
                allow_web_responses=allow_web_responses,
            )
    except response_import.WebResponsesError as exc:
        raise click.ClickException(
            f"{exc}. Only an admin may do that, with --allow-web-responses: the imported answers "
            "would be mixed with the web answers in every result."
        ) from exc
    except response_import.ResponseImportError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.ignored_columns and result.ok:
        click.echo(f"Ignored metadata columns: {', '.join(result.ignored_columns)}")
    if result.warning_count:
        echo_problems("Warnings (answers dropped)", result.warnings, result.warning_count, limit=20)
    if not result.ok:
        db.session.rollback()
        echo_problems("Problems", result.problems, result.problem_count)
        click.echo("Nothing was imported: correct the file and try again.", err=True)
        sys.exit(1)
    if dry_run:
        db.session.rollback()
        click.echo(f"Dry run, nothing stored: {result.imported} responses would be imported.")
        return
    db.session.commit()
    replaced = f" (replacing {result.replaced} imported before)" if result.replaced else ""
    click.echo(f"{result.imported} responses imported into {wave.slug}{replaced}.")


@command.command("columns")
@click.argument("wave_slug", metavar="WAVE")
@with_appcontext
def columns_command(wave_slug: str) -> None:
    """Print the header line a responses file for WAVE may have (semicolon-separated)."""
    from surveyapp.survey.service import questionnaire_of

    wave = find_wave(wave_slug)
    click.echo(";".join(response_import.answer_columns(questionnaire_of(wave.questionnaire_version))))
