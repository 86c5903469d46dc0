"""``surveyapp plan``: check plan files and print a plan's six-monthly follow-up."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from surveyapp.plan import (
    Plan,
    PlanError,
    Problem,
    ambitions_and_results,
    check_bindings,
    load_plan,
    overview_text,
    parse_period,
)


def _questionnaire_dir(option: str | None) -> Path | None:
    if option:
        return Path(option)
    try:
        return Path(current_app.config["QUESTIONNAIRE_DIR"])
    except (RuntimeError, KeyError):
        return None


def _binding_problems(plan: Plan, folder: Path | None) -> tuple[list[Problem], int]:
    """Bindings checked against the questionnaire files of a folder (and how many were read)."""
    if folder is None or not folder.is_dir():
        return [], 0
    from surveyapp.questionnaire import QuestionnaireError, load_questionnaire

    questionnaires = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            questionnaires.append(load_questionnaire(path))
        except QuestionnaireError:
            continue  # `surveyapp questionnaire check` reports those
    if not questionnaires:
        return [], 0
    return check_bindings(plan, questionnaires), len(questionnaires)


@click.group("plan")
def command() -> None:
    """Strategic plans: check plan files, show the six-monthly follow-up."""


@command.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--questionnaires",
    "questionnaire_dir",
    type=click.Path(file_okay=False),
    help="Check the survey bindings against the questionnaire files of this folder "
    "(default: the app's questionnaire folder).",
)
@with_appcontext
def check(files: tuple[str, ...], questionnaire_dir: str | None) -> None:
    """Validate plan FILES; print every problem and exit 1 if there are any."""
    failed = False
    for name in files:
        try:
            plan = load_plan(name)
        except PlanError as exc:
            failed = True
            click.echo(f"{name}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                click.echo(f"  - {problem}")
            continue
        problems, read = _binding_problems(plan, _questionnaire_dir(questionnaire_dir))
        if problems:
            failed = True
            click.echo(f"{name}: {len(problems)} problem(s)")
            for problem in problems:
                click.echo(f"  - {problem}")
            continue
        checked = f"; survey bindings checked against {read} questionnaire(s)" if read else ""
        click.echo(
            f"{name}: OK ({plan.id}: {len(plan.goals)} goals, "
            f"{len(plan.operational_goals)} operational goals, {len(plan.actions)} actions, "
            f"{len(plan.indicators)} indicators{checked})"
        )
    if failed:
        sys.exit(1)


def _plan_from(argument: str) -> Plan:
    from surveyapp.services import followup

    path = Path(argument)
    if path.is_file():
        try:
            return load_plan(path)
        except PlanError as exc:
            raise click.ClickException(str(exc)) from exc
    plan = followup.find_plan(argument)
    if plan is None:
        known = ", ".join(f.plan.id for f in followup.plan_files() if f.plan) or "none"
        raise click.ClickException(f"no plan {argument!r} in {followup.plan_dir()} (plans there: {known})")
    return plan


@command.command("status")
@click.argument("plan_name", metavar="PLAN")
@click.option("--period", help="The half-year to show the status as of, like 2026-H1 (default: now).")
@click.option("--lang", type=click.Choice(["en", "nl"]), default="en", show_default=True)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the Ambitions and Results with their evidence (the SWO-ART input).",
)
@with_appcontext
def status(plan_name: str, period: str | None, lang: str, output: str) -> None:
    """Print the follow-up of PLAN (a plan id from the plan folder, or a plan file)."""
    from surveyapp.services import followup

    plan = _plan_from(plan_name)
    as_of = None
    if period is not None:
        as_of = parse_period(period)
        if as_of is None:
            raise click.BadParameter(f"{period!r} is not a half-year like 2026-H1", param_hint="--period")
    overview = followup.followup_overview(plan, as_of)
    if output == "json":
        data = {
            "plan": plan.id,
            "as_of": str(overview.as_of),
            "analysis": overview.analysis,
            "statements": [s.to_dict() for s in ambitions_and_results(plan, overview)],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(overview_text(overview, lang), nl=False)
