"""`surveyapp check`: say which settings are missing or unsafe for production, exit non-zero if any."""

from __future__ import annotations

import math
import sys
import zlib
from collections import Counter
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from surveyapp.config import DEFAULT_SECRET_KEY

MIN_SECRET_LENGTH = 32
# secrets.token_hex(32) estimates at about 240 bits, token_hex(16) at about 115: 96 lets a
# random 32-character key pass and stops repeated or word-like keys.
MIN_SECRET_BITS = 96


def estimated_entropy_bits(secret: str) -> float:
    """A rough upper bound of a key's randomness, the smaller of two estimates.

    Shannon entropy of its characters times its length catches a small alphabet ("aaaa…",
    "0101…"); what zlib still needs to store it catches repeats ("password" four times). Neither
    knows dictionaries: this stops careless keys, it proves nothing about good ones.
    """
    if not secret:
        return 0.0
    data = secret.encode()
    counts = Counter(data)
    shannon = -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values()) * len(data)
    # An incompressible string still costs zlib a few bytes of framing: an empty one is 8 bytes.
    compressed = 8 * max(0, len(zlib.compress(data, 9)) - len(zlib.compress(b"", 9)))
    return max(0.0, min(shannon, float(compressed)))


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
    elif len(secret) < MIN_SECRET_LENGTH:
        findings.append(Finding("SECRET_KEY", f"is shorter than {MIN_SECRET_LENGTH} characters"))
    elif estimated_entropy_bits(secret) < MIN_SECRET_BITS:
        findings.append(
            Finding(
                "SECRET_KEY",
                f"looks guessable (about {estimated_entropy_bits(secret):.0f} bits, want "
                f"{MIN_SECRET_BITS}): use e.g. python -c 'import secrets; print(secrets.token_hex(32))'",
            )
        )
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
    if not config.get("RATELIMIT_ENABLED", True):
        findings.append(
            Finding("RATELIMIT_ENABLED", "rate limits are off: personal links and the login could be guessed")
        )
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if config.get("REDIS_URL") and storage.startswith("memory://"):
        findings.append(
            Finding(
                "RATELIMIT_STORAGE_URI",
                "is memory while REDIS_URL is set: each server counts alone, so limits multiply "
                "by the number of servers (leave it unset to use REDIS_URL)",
            )
        )
    if (config.get("MAIL_USERNAME") or config.get("MAIL_PASSWORD")) and not config.get("MAIL_USE_TLS"):
        findings.append(
            Finding("MAIL_USE_TLS", "off while SMTP credentials are set: the password would travel in clear")
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
