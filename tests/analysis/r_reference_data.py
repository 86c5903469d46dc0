"""The R reference files of tests/data/r_reference and how to read them (no R needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "r_reference"
POPULATION_SIZE = 6194  # schools in R's apipop; the fpc of the extra cases


def read_reference(name: str) -> list[dict[str, Any]]:
    """Rows of an R reference CSV, NA as NaN and the note's key=value pairs parsed."""
    rows = []
    with (REFERENCE / name).open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {"case": raw["case"], "group": raw["group"]}
            for key in ("estimate", "se", "ci_low", "ci_high"):
                row[key] = math.nan if raw[key] in ("NA", "") else float(raw[key])
            row["note"] = dict(part.split("=", 1) for part in raw["note"].split(";") if "=" in part)
            rows.append(row)
    return rows


def margins(*names: str) -> dict[str, dict[str, float]]:
    """Population margins from apipop for the named raking variables."""
    files = {"stype": "pop_stype.csv", "sch.wide": "pop_schwide.csv", "comp.imp": "pop_compimp.csv"}
    result = {}
    for name in names:
        table = pd.read_csv(REFERENCE / files[name])
        result[name] = dict(zip(table[name], table["count"].astype(float), strict=True))
    return result
