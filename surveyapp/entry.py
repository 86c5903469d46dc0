"""The ``surveyapp`` console script: ``analyze`` at once, every other command through the Flask CLI."""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``surveyapp analyze`` without importing Flask; hand everything else to the CLI group.

    The analysis of a file export needs neither Flask nor the app, and their import is a tenth of
    its time budget (``benchmarks/analysis.py``); ``analyze --wave`` builds the app itself.
    """
    if len(sys.argv) > 1 and sys.argv[1] == "analyze":
        from surveyapp.commands.analyze import command

        command.main(args=sys.argv[2:], prog_name="surveyapp analyze")
        return
    from surveyapp.cli import main as cli_main

    cli_main()
