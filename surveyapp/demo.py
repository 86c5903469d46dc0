"""Placeholder replaced by the demo data generator."""

import click


@click.command("demo")
def demo_command() -> None:
    """Create a demo database and serve it."""
    raise click.ClickException("not yet available")
