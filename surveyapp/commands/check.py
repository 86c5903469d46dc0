"""`surveyapp check`: say which settings are missing or unsafe for production, exit non-zero if any."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from surveyapp.config import DEFAULT_SECRET_KEY


@dataclass(frozen=True)
class Finding:
    setting: str
    problem: str


def production_findings(app: Flask) -> list[Finding]:
    """Every setting that is missing or unsafe for a production deployment."""
    config = app.config
    findings = []
    secret = str(config.get("SECRET_KEY") or "")
    if not secret or secret == DEFAULT_SECRET_KEY:
        findings.append(Finding("SECRET_KEY", "is the development default: set a long random value"))
    elif len(secret) < 32:
        findings.append(Finding("SECRET_KEY", "is shorter than 32 characters"))
    if app.debug:
        findings.append(Finding("FLASK_DEBUG", "debug mode is on: never in production"))
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        findings.append(
            Finding("DATABASE_URL", "SQLite is the embedded default: use PostgreSQL in production")
        )
    if not config.get("MAIL_SERVER"):
        findings.append(Finding("MAIL_SERVER", "not set: mails only go to the outbox folder"))
    if not config.get("REDIS_URL"):
        findings.append(
            Finding("REDIS_URL", "not set: jobs run in-process and rate limits are per server (not shared)")
        )
    if not config.get("SESSION_COOKIE_SECURE"):
        findings.append(
            Finding("SESSION_COOKIE_SECURE", "off: session cookies would also travel without TLS")
        )
    if str(config.get("BASE_URL", "")).startswith("http://"):
        findings.append(Finding("BASE_URL", "is not https: personal links in mails must use TLS"))
    return findings


@click.command("check")
@with_appcontext
def command() -> None:
    """Report missing or unsafe production settings; exit 1 when there are any."""
    findings = production_findings(current_app)
    if not findings:
        click.echo("OK: no missing or unsafe settings found")
        return
    for finding in findings:
        click.echo(f"{finding.setting}: {finding.problem}")
    click.echo(f"{len(findings)} problem(s)")
    sys.exit(1)
