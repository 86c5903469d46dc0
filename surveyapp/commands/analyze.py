"""``surveyapp analyze``: the full analysis of a wave, from the database or from files, to JSON.

Two modes:

- ``surveyapp analyze --wave WAVE --json OUT.json`` analyses a wave in the database (through
  `surveyapp.services.extract.analyze_wave`, the web app's own entry point);
- ``surveyapp analyze --questionnaire FILE.yaml --responses RESPONSES.csv --population
  REGISTER.csv --json OUT.json`` analyses files: RESPONSES.csv has one row per response and
  one column per answer (``qid``, ``qid/item`` for matrix rows, ``qid/code`` 0/1 for multiple
  choice), REGISTER.csv one row per person with the register's group columns.

Progress and timings go to stderr. Bad input (unreadable or invalid files, unknown codes,
impossible raking, a minimum cell below 5) gives one clear message and exit code 2, never a
traceback. Running the module (``python -m surveyapp.commands.analyze``) gives the same command
without building the web app first, which saves its start-up time in file mode.
"""

from __future__ import annotations

import csv
import ctypes
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from surveyapp.analysis.result import ESTIMATE_CSV_FIELDS, AnalysisOptions, AnalysisResult

EXIT_BAD_INPUT = 2


class _Clock:
    """Elapsed-time lines on stderr: ``[  1.23 s] what happened``."""

    def __init__(self, quiet: bool) -> None:
        self.start = time.perf_counter()
        self.cpu = time.process_time()
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            wall = time.perf_counter() - self.start
            cpu = time.process_time() - self.cpu
            click.echo(f"[{wall:6.2f} s, cpu {cpu:5.2f} s] {message}", err=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _names(value: str | None) -> tuple[str, ...] | None:
    """'a,b' → ('a', 'b'); 'none' or '' → () (no variables); None → None (the default)."""
    if value is None:
        return None
    if value.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def limit_blas_threads(threads: int = 1) -> None:
    """Run OpenBLAS single-threaded: the analysis' matrices are small, and on a busy 2-core
    machine BLAS threads spin against each other (an SVD of 100,000 × 20 took 5× the CPU).

    Uses the `*_set_num_threads` entry points of every OpenBLAS already loaded (numpy's and
    scipy's bundled copies); does nothing where none is found (other BLAS, other systems).
    """
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return
    libraries = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line}
    for path in libraries:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            function = getattr(library, symbol, None)
            if function is not None:
                function(ctypes.c_int(threads))
                break


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of returning it to the system at once.

    The analysis allocates and frees many temporary arrays of tens of megabytes; by default
    each is a fresh mmap, so every one costs page faults (a second of system time per run at
    100,000 responses). Raising the mmap and trim thresholds reuses the heap instead. Peak
    memory is unchanged; no effect outside glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(ctypes.c_int(m_mmap_threshold), ctypes.c_int(1 << 30))
    mallopt(ctypes.c_int(m_trim_threshold), ctypes.c_int(1 << 30))


@click.command("analyze")
@click.option("--wave", "wave_slug", metavar="WAVE", help="Analyse this wave from the database.")
@click.option(
    "--questionnaire",
    "questionnaire_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File mode: the questionnaire YAML the responses answer.",
)
@click.option(
    "--responses",
    "responses_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File mode: responses CSV, one row per response, one column per answer.",
)
@click.option(
    "--population",
    "population_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File mode: the register CSV, one row per person with its group columns.",
)
@click.option(
    "--invitations",
    "invitations_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File mode, optional: invitation ledger CSV (group columns and 'submitted') for response rates.",
)
@click.option(
    "--previous",
    "previous_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An earlier wave's analysis JSON: adds the change between the waves.",
)
@click.option("--previous-wave", metavar="WAVE", help="Wave mode: compare with this earlier wave.")
@click.option(
    "--rake", "rake_vars", metavar="VAR,VAR", help="Raking variables (group questions); 'none' for none."
)
@click.option("--ci", "ci_method", type=click.Choice(["logit", "beta"]), default="logit", show_default=True)
@click.option(
    "--min-cell",
    type=int,
    help="Disclosure threshold, respondents per cell (at least 5; default 10, or the wave's).",
)
@click.option(
    "--adjust",
    type=click.Choice(["holm", "fdr_bh", "none"]),
    default="holm",
    show_default=True,
    help="Multiplicity correction across the report: holm (confirmatory), fdr_bh (screening).",
)
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option(
    "--threshold", type=float, default=0.8, show_default=True, help="Headline satisfaction threshold."
)
@click.option("--fpc", is_flag=True, help="Finite population correction (register size as N).")
@click.option("--gap", "gap_vars", metavar="VAR,VAR", help="Group variables whose gaps are modelled.")
@click.option("--adjust-for", "adjust_for", metavar="VAR,VAR", help="Variables the gap models adjust for.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Write the result here (schema: surveyapp/analysis/result.schema.json).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the estimates as a table, one row per estimate.",
)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def command(
    wave_slug: str | None,
    questionnaire_path: Path | None,
    responses_path: Path | None,
    population_path: Path | None,
    invitations_path: Path | None,
    previous_path: Path | None,
    previous_wave: str | None,
    rake_vars: str | None,
    ci_method: str,
    min_cell: int | None,
    adjust: str,
    level: float,
    threshold: float,
    fpc: bool,
    gap_vars: str | None,
    adjust_for: str | None,
    json_path: Path,
    csv_path: Path | None,
    quiet: bool,
) -> None:
    """Analyse a wave (--wave) or files (--questionnaire, --responses, --population) to JSON."""
    clock = _Clock(quiet)
    limit_blas_threads(1)
    keep_freed_memory()
    file_mode = any(p is not None for p in (questionnaire_path, responses_path, population_path))
    if wave_slug and file_mode:
        _fail("give either --wave or the files (--questionnaire, --responses, --population), not both.")
    if not wave_slug and not file_mode:
        _fail("give --wave WAVE, or --questionnaire FILE.yaml --responses FILE.csv --population FILE.csv.")
    if file_mode and (questionnaire_path is None or responses_path is None or population_path is None):
        _fail("file mode needs --questionnaire, --responses and --population.")
    if previous_wave and not wave_slug:
        _fail("--previous-wave works with --wave; for files give --previous EARLIER.json.")
    settings: dict[str, Any] = {
        "rake_vars": _names(rake_vars),
        "ci_method": ci_method,
        "adjust": adjust,
        "level": level,
        "threshold": threshold,
        "fpc": fpc,
        "gap_vars": _names(gap_vars),
        "adjust_for": _names(adjust_for),
    }
    if min_cell is not None:
        settings["min_cell"] = min_cell
    from surveyapp.analysis.errors import AnalysisError
    from surveyapp.analysis.tidy import ResponsesFileError
    from surveyapp.questionnaire import QuestionnaireError

    try:
        options = AnalysisOptions(**settings)
        previous = _read_previous(previous_path) if previous_path is not None else None
        if wave_slug:
            result = _wave_mode(wave_slug, previous_wave, options, min_cell is not None, previous, clock)
        else:
            assert questionnaire_path and responses_path and population_path
            result = _file_mode(
                questionnaire_path,
                responses_path,
                population_path,
                invitations_path,
                options,
                previous,
                clock,
            )
        _write(result, json_path, csv_path, clock)
    except (AnalysisError, ResponsesFileError, QuestionnaireError) as exc:
        _fail(str(exc))
    except FileNotFoundError as exc:
        _fail(f"file not found: {exc.filename}")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read or write a file: {exc}")
    summary = result.headline.text if result.headline.n_offerings else ""
    clock.say(f"done: {result.n_respondents} responses, {len(result.estimates)} estimates. {summary}".strip())


def _read_previous(path: Path) -> dict[str, Any]:
    from surveyapp.analysis.errors import InvalidInputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not an analysis JSON file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("estimates"), list):
        raise InvalidInputError(f"{path} is not an analysis JSON file (no estimates list).")
    return data


def _file_mode(
    questionnaire_path: Path,
    responses_path: Path,
    population_path: Path,
    invitations_path: Path | None,
    options: AnalysisOptions,
    previous: dict[str, Any] | None,
    clock: _Clock,
) -> AnalysisResult:
    from surveyapp.analysis.measures import analyze
    from surveyapp.analysis.tidy import read_responses_csv
    from surveyapp.questionnaire import load_questionnaire

    for path in (questionnaire_path, responses_path, population_path, invitations_path):
        if path is not None and not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
    questionnaire = load_questionnaire(questionnaire_path)
    clock.say(
        f"questionnaire {questionnaire.id} ({questionnaire.version_label or questionnaire.content_hash[:12]})"
    )
    responses = read_responses_csv(questionnaire, responses_path)
    clock.say(f"{len(responses)} responses read from {responses_path.name}")
    columns = [
        q.measure.register_column
        for q in questionnaire.questions
        if q.measure is not None and q.measure.type == "group" and q.measure.register_column
    ]
    register = _read_table(population_path, "register", columns)
    clock.say(f"{len(register)} register rows read from {population_path.name}")
    invitations = (
        _read_table(invitations_path, "invitation ledger", [*columns, "submitted"])
        if invitations_path
        else None
    )
    if invitations is not None:
        clock.say(
            f"{len(invitations)} invitations read from {invitations_path.name if invitations_path else ''}"
        )
    result = analyze(
        questionnaire,
        responses,
        register,
        options=options,
        invitations=invitations,
        previous=previous,
        progress=clock.say,
    )
    clock.say(_describe(result))
    return result


def _read_table(path: Path, what: str, columns: list[str]) -> Any:
    """A register or ledger file: only the columns the analysis uses (group columns)."""
    import pandas as pd

    from surveyapp.analysis.errors import InvalidInputError
    from surveyapp.analysis.tidy import read_csv_text

    try:
        frame, header = read_csv_text(path, columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise InvalidInputError(f"the {what} file {path} cannot be read as CSV: {exc}") from exc
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    if not set(columns) & set(header):
        raise InvalidInputError(
            f"the {what} file {path} has none of the questionnaire's register columns "
            f"({', '.join(columns)}); its columns are: {', '.join(header[:20])}."
        )
    if len(frame) == 0:
        raise InvalidInputError(f"the {what} file {path} has no rows.")
    return frame


def _wave_mode(
    slug: str,
    previous_slug: str | None,
    options: AnalysisOptions,
    explicit_min_cell: bool,
    previous: dict[str, Any] | None,
    clock: _Clock,
) -> AnalysisResult:
    from flask.cli import ScriptInfo
    from sqlalchemy import select

    info = click.get_current_context().find_object(ScriptInfo)
    if info is not None and info.create_app is not None:
        app = info.load_app()
    else:
        from surveyapp import create_app

        app = create_app()
    from surveyapp.analysis.measures import analyze
    from surveyapp.extensions import db
    from surveyapp.models import Wave
    from surveyapp.services import extract

    with app.app_context():
        clock.say("app ready")
        wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one_or_none()
        if wave is None:
            _fail(f"there is no wave {slug!r}.")
        earlier = None
        if previous_slug:
            earlier = db.session.execute(select(Wave).where(Wave.slug == previous_slug)).scalar_one_or_none()
            if earlier is None:
                _fail(f"there is no wave {previous_slug!r}.")
        threshold = extract.wave_threshold(wave)
        if not explicit_min_cell:
            options = dataclasses.replace(options, min_cell=threshold)
        elif options.min_cell < threshold:
            click.echo(
                f"Note: wave {slug} has suppression threshold {threshold}; "
                f"using it instead of --min-cell {options.min_cell}.",
                err=True,
            )
        if previous is None:
            result = extract.analyze_wave(wave, options, earlier, progress=clock.say)
        else:
            options = extract.wave_options(wave, options)
            questionnaire, responses, register, invitations = extract.wave_frames(wave)
            clock.say(f"{len(responses)} responses, {len(register)} register rows read")
            result = analyze(
                questionnaire,
                responses,
                register if len(register) else None,
                options=options,
                invitations=invitations if len(invitations) else None,
                previous=previous,
                wave=extract.wave_info(wave),
                progress=clock.say,
            )
        clock.say(_describe(result))
        return result


def _describe(result: AnalysisResult) -> str:
    weighting = result.weighting
    how = (
        f"raked on {', '.join(weighting.variables)} in {weighting.iterations} sweeps, "
        f"Kish deff {weighting.kish_deff:.2f}"
        if weighting.method == "raking"
        else "not raked"
    )
    return (
        f"analysed: {how}; {len(result.estimates)} estimates, {len(result.tests)} tests, "
        f"{len(result.comparisons)} comparisons, {len(result.reach)} reach rows"
    )


def _write(result: AnalysisResult, json_path: Path, csv_path: Path | None, clock: _Clock) -> None:
    text = json.dumps(result.to_json_dict(), ensure_ascii=False)  # the C encoder; json.dump is slower
    json_path.write_text(text + "\n", encoding="utf-8")
    clock.say(f"wrote {json_path}")
    if csv_path is not None:
        write_estimates_csv(result, csv_path)
        clock.say(f"wrote {csv_path}")


def write_estimates_csv(result: AnalysisResult, path: Path) -> None:
    """The estimates as a tidy table: one row per estimate, the JSON fields as columns."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ESTIMATE_CSV_FIELDS)
        for row in result.estimates:
            writer.writerow(
                ["" if (value := getattr(row, name)) is None else value for name in ESTIMATE_CSV_FIELDS]
            )


if __name__ == "__main__":  # pragma: no cover - `python -m surveyapp.commands.analyze`
    command()
