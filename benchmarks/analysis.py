"""Benchmark of the whole analysis from the command line, on files, at 100,000 responses.

Generates (once, cached) 100,000 synthetic responses to questionnaires/gerechtigden.yaml
(10 group questions, 16 offerings) from a synthetic register of 250,000 people with
`surveyapp.demo_data`, writes RESPONSES.csv (one row per response, one column per answer) and
REGISTER.csv (one row per person, the register's group columns), then runs

    surveyapp analyze --questionnaire gerechtigden.yaml --responses RESPONSES.csv \\
        --population REGISTER.csv --json OUT.json --csv OUT.csv

end to end (raking + all estimates + Rao-Scott tests + group-versus-rest + reach + adjusted
gaps + JSON/CSV) as a child process, and prints its wall time, CPU time and peak memory
(maximum resident set size of the child). Two ways of starting the same command are timed:

- ``surveyapp analyze``: the installed entry point (it finds `analyze` without building the web app);
- ``python -m surveyapp.commands.analyze``: the same command without the web app.

Run: .venv/bin/python benchmarks/analysis.py [--responses 100000] [--repeat 3] [--validate]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTIONNAIRE = REPO / "questionnaires" / "gerechtigden.yaml"
VENV_BIN = Path(sys.executable).parent


def generate(directory: Path, responses: int, population: int, seed: int) -> tuple[Path, Path]:
    """Write RESPONSES.csv and REGISTER.csv into `directory`."""
    import numpy as np
    import pandas as pd

    from surveyapp import demo_data
    from surveyapp.analysis.tidy import response_frame
    from surveyapp.questionnaire import load_questionnaire

    responses_path, register_path = directory / "responses.csv", directory / "register.csv"
    directory.mkdir(parents=True, exist_ok=True)
    questionnaire = load_questionnaire(QUESTIONNAIRE)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    people = demo_data.generate_population(questionnaire, rng, population)
    chosen = demo_data.choose_respondents(people, rng, responses)
    answers = demo_data.generate_answers(questionnaire, people, chosen, rng)
    frame = response_frame(questionnaire, answers)
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "f":  # multiple choice 0/1 and numbers: no ".0"
            frame[name] = column.map(
                lambda v: "" if np.isnan(v) else str(int(v)) if float(v).is_integer() else str(v)
            )
    frame.to_csv(responses_path, index=False)
    register = pd.DataFrame(people.columns)
    register.insert(0, "person", people.keys)
    register.to_csv(register_path, index=False, sep=";")
    megabytes = (responses_path.stat().st_size / 2**20, register_path.stat().st_size / 2**20)
    print(
        f"generated {len(frame):,} responses ({megabytes[0]:.0f} MB) and a register of {len(register):,} "
        f"({megabytes[1]:.0f} MB) in {time.perf_counter() - start:.0f} s"
    )
    return responses_path, register_path


def _sizes(args: argparse.Namespace) -> list[str]:
    return [
        "--responses",
        str(args.responses),
        "--population",
        str(args.population),
        "--seed",
        str(args.seed),
    ]


def run_once(command: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stderr) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stdout = process.stdout.read() if process.stdout else ""
    stderr = process.stderr.read() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stdout}\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--population", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="where to keep the generated files (default: temp dir)")
    parser.add_argument("--validate", action="store_true", help="validate the JSON against the schema")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory = args.data_dir or Path(tempfile.gettempdir()) / (
        f"surveyapp-bench-analysis-{args.responses}-{args.population}-{args.seed}"
    )
    responses_path, register_path = directory / "responses.csv", directory / "register.csv"
    if args.generate_only:
        generate(directory, args.responses, args.population, args.seed)
        return
    if not (responses_path.exists() and register_path.exists()):
        # In a child process: the generator's memory must not count in the measured runs
        # (a child's peak RSS includes what it shared with this process when forked).
        subprocess.run(
            [sys.executable, __file__, "--generate-only", "--data-dir", str(directory), *_sizes(args)],
            check=True,
        )
    else:
        print(f"reusing {responses_path} and {register_path}")
    out_json, out_csv = directory / "out.json", directory / "out.csv"
    files = [
        "--questionnaire",
        str(QUESTIONNAIRE),
        "--responses",
        str(responses_path),
        "--population",
        str(register_path),
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
    ]
    commands = {
        "surveyapp analyze (entry point)": [
            str(VENV_BIN / "surveyapp"),
            "analyze",
            *files,
        ],
        "python -m surveyapp.commands.analyze (no web app)": [
            sys.executable,
            "-m",
            "surveyapp.commands.analyze",
            *files,
        ],
    }
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.repeat} run(s) each")
    last_stderr = ""
    for label, command in commands.items():
        runs = [run_once(command) for _ in range(args.repeat)]
        walls, cpus, peaks = zip(*[(w, c, m) for w, c, m, _ in runs], strict=True)
        last_stderr = runs[-1][3]
        print(
            f"{label}:\n"
            f"  wall time: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s\n"
            f"  CPU time (user + system): best {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s\n"
            f"  peak memory (max RSS): {max(peaks):.0f} MiB"
        )
    print("(peak memory is the child's maximum resident set size, which includes the few MiB it shared")
    print(" with this small parent process when forked)")
    print("steps of the last run (wall since the command started, CPU of the process):")
    for line in last_stderr.splitlines():
        print(f"  {line}")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    print(
        f"output: {out_json.stat().st_size / 2**20:.1f} MB JSON, {len(data['estimates'])} estimates, "
        f"{len(data['tests'])} tests, {len(data['comparisons'])} comparisons, "
        f"{len(data['reach'])} reach rows, "
        f"{len(data['adjusted_gaps'])} adjusted gaps; weighting {data['weighting']['method']} on "
        f"{', '.join(data['weighting']['variables'])} (Kish deff {data['weighting']['kish_deff']:.2f})"
    )
    if args.validate:
        import jsonschema

        from surveyapp.analysis.result import load_schema

        jsonschema.Draft202012Validator(load_schema()).validate(data)
        print("the JSON is valid against surveyapp/analysis/result.schema.json")


if __name__ == "__main__":
    main()
