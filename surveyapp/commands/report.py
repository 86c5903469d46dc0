"""``surveyapp report WAVE --format FORMAT --lang nl|en --out FILE``: a wave's results as a file.

Formats: xlsx (the workbook), csv (one row per estimate), json (the analysis), sav,
microdata-csv and microdata-xlsx (anonymised, k-anonymous microdata), codebook (HTML), pdf and
docx (the report and the SWO-ART input, from `surveyapp.reports.pdf` and
`surveyapp.reports.swoart`). Open answers only with ``--open-answers --purpose TEXT``, written
to the audit log as the web download does. Bad input gives one clear message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import NoReturn

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

EXIT_BAD_INPUT = 2
FORMATS = ("xlsx", "csv", "json", "sav", "microdata-csv", "microdata-xlsx", "codebook", "pdf", "docx")
MICRODATA_FORMATS = ("sav", "microdata-csv", "microdata-xlsx")
# format → (module, function) of a colleague's renderer: (wave, lang, options) -> bytes
EXTERNAL = {
    "pdf": ("surveyapp.reports.pdf", "render_pdf"),
    "docx": ("surveyapp.reports.swoart", "render_docx"),
}


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command("report")
@click.argument("wave_slug", metavar="WAVE")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="What to write.")
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--open-answers", is_flag=True, help="Microdata: include the free-text answers (identifying!).")
@click.option("--purpose", default="", help="With --open-answers: what you need them for (audit-logged).")
@with_appcontext
def command(wave_slug: str, fmt: str, lang: str, out: Path, open_answers: bool, purpose: str) -> None:
    """Write the results of WAVE in one format to --out."""
    from surveyapp.analysis.errors import AnalysisError
    from surveyapp.analysis.sdc import DisclosureError
    from surveyapp.extensions import db
    from surveyapp.planner.results import open_answers_purpose
    from surveyapp.services import audit
    from surveyapp.services.extract import wave_threshold
    from surveyapp.services.waves import wave_by_slug

    wave = wave_by_slug(wave_slug)
    if wave is None:
        _fail(f"there is no wave {wave_slug!r}.")
    if open_answers and fmt not in MICRODATA_FORMATS:
        _fail(f"--open-answers only applies to the microdata formats ({', '.join(MICRODATA_FORMATS)}).")
    try:
        with force_locale("en"):  # the command speaks English
            stated = open_answers_purpose(open_answers, purpose, permitted=True)  # running it permits
    except ValueError as exc:
        _fail(f"{exc} Give it with --purpose.")
    if out.parent and not out.parent.exists():
        _fail(f"the folder {str(out.parent)!r} does not exist.")
    try:
        body = _render(fmt, wave, lang, open_answers)
    except DisclosureError as exc:
        _fail(f"no microdata of {wave_slug!r} can be anonymous enough: {exc}")
    except AnalysisError as exc:
        _fail(f"the wave {wave_slug!r} cannot be analysed: {exc}")
    except Exception as exc:  # never a traceback: name the problem instead
        _fail(f"could not make the {fmt} file: {type(exc).__name__}: {exc}")
    try:
        out.write_bytes(body)
    except OSError as exc:
        _fail(f"cannot write {str(out)!r}: {exc.strerror or exc}")
    if fmt in MICRODATA_FORMATS:
        details: dict[str, object] = {
            "format": fmt,
            "lang": lang,
            "open_answers": open_answers,
            "k_anonymity": wave_threshold(wave),
            "via": "cli",
        }
        if stated is not None:
            details["purpose"] = stated
        audit.record("download", None, wave.slug, **details)
        db.session.commit()
    click.echo(f"wrote {out} ({len(body):,} bytes, {fmt}, {lang})")


def _render(fmt: str, wave: object, lang: str, open_answers: bool) -> bytes:
    from surveyapp.planner.results import render_download

    if fmt in EXTERNAL:
        module_name, function_name = EXTERNAL[fmt]
        try:
            module = importlib.import_module(module_name)
        except Exception:  # missing, or still being written (a syntax error is not an ImportError)
            module = None
        function = getattr(module, function_name, None) if module is not None else None
        if function is None:
            _fail(f"the {fmt} format is not available yet ({module_name}.{function_name} is missing).")
        result: bytes = function(wave, lang, None)
        return result
    kind = {"sav": "microdata-sav"}.get(fmt, fmt)
    return render_download(kind, wave, lang, open_answers=open_answers)  # type: ignore[arg-type]
