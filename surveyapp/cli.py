"""The ``surveyapp`` command line: one Flask CLI group bound to ``create_app``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from surveyapp.questionnaire import QuestionnaireError, check_file


def _create_app() -> Flask:
    from surveyapp import create_app

    return create_app()


class SurveyappGroup(FlaskGroup):
    """FlaskGroup that finds ``analyze`` without building the app (its file mode needs none)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "analyze":
            from surveyapp.commands.analyze import command

            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=SurveyappGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """surveyapp: recurring stakeholder surveys (questionnaires, waves, analysis, reports)."""


@click.group("questionnaire")
def questionnaire_group() -> None:
    """Check, import and store questionnaire files."""


@questionnaire_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def questionnaire_check(files: tuple[str, ...]) -> None:
    """Validate questionnaire FILES; print every problem and exit non-zero if there are any."""
    failed = False
    for name in files:
        problems = check_file(name)
        if problems:
            failed = True
            click.echo(f"{name}: {len(problems)} problem(s)")
            for problem in problems:
                click.echo(f"  - {problem}")
        else:
            click.echo(f"{name}: OK")
    if failed:
        sys.exit(1)


@questionnaire_group.command("import-xlsform")
@click.argument("xlsx", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def questionnaire_import_xlsform(xlsx: str, out: str) -> None:
    """Convert an XLSForm workbook (KoboToolbox/ODK) into a questionnaire YAML file."""
    from surveyapp.questionnaire import build_questionnaire
    from surveyapp.questionnaire.xlsform import XLSFormError, convert_xlsform, write_yaml

    try:
        data, problems = convert_xlsform(xlsx)
    except XLSFormError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in problems:
        click.echo(f"  - not converted: {problem}", err=True)
    try:
        build_questionnaire(data, source=xlsx)
    except QuestionnaireError as exc:
        raise click.ClickException(f"the converted questionnaire is not valid:\n{exc}") from exc
    write_yaml(data, out)
    click.echo(f"wrote {out}" + (f" ({len(problems)} item(s) not converted)" if problems else ""))
    if problems:
        sys.exit(1)


@questionnaire_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def questionnaire_load(files: tuple[str, ...]) -> None:
    """Store questionnaire FILES as versions in the database (idempotent by content hash)."""
    from surveyapp.extensions import db
    from surveyapp.services.questionnaires import store_file

    for name in files:
        try:
            version, questionnaire = store_file(Path(name))
        except QuestionnaireError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{name}: {questionnaire.id} version {version.content_hash[:12]} (id {version.id})")
    db.session.commit()


@click.group("user")
def user_group() -> None:
    """Planner accounts."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "planner", "viewer"]), required=True)
@click.password_option(help="At least 12 characters; asked for when not given.")
@with_appcontext
def user_create(email: str, role: str, password: str) -> None:
    """Create a planner account with a role (admin, planner or viewer)."""
    from surveyapp.extensions import db
    from surveyapp.services import audit
    from surveyapp.services.users import UserError, create_user

    try:
        user = create_user(email, password, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record("user_created", None, user.email, role=role, via="cli")
    db.session.commit()
    click.echo(f"created {role} account {user.email}")


def register_commands(app: Flask) -> None:
    """Attach the command groups to the app (so ``flask --app surveyapp`` has them too)."""
    app.cli.add_command(questionnaire_group)
    app.cli.add_command(user_group)
    # Each module of surveyapp.commands exposes ``command`` (a click command or group).
    import importlib
    import pkgutil

    import surveyapp.commands

    for module_info in sorted(pkgutil.iter_modules(surveyapp.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"surveyapp.commands.{module_info.name}")
        app.cli.add_command(module.command)
    from surveyapp.demo import demo_command

    app.cli.add_command(demo_command)
