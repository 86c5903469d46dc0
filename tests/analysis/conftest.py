"""Shared fixtures: the R reference data (California API schools) and the designs R used."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from surveyapp.analysis import RakingResult, SurveyDesign, rake

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


@pytest.fixture(scope="session")
def api() -> pd.DataFrame:
    """R's apistrat sample with the derived variables of make_extra_reference.R."""
    return pd.read_csv(REFERENCE / "apistrat_extra.csv", dtype={"cds": str})


@pytest.fixture(scope="session")
def raked2(api: pd.DataFrame) -> RakingResult:
    """Raked as R: rake(des, list(~stype, ~sch.wide), ...)."""
    return rake(api, api["pw"], margins("stype", "sch.wide"), epsilon=1e-12, max_sweeps=2000)


@pytest.fixture(scope="session")
def raked3(api: pd.DataFrame) -> RakingResult:
    """Raked as R: rake(des, list(~stype, ~sch.wide, ~comp.imp), ...)."""
    return rake(api, api["pw"], margins("stype", "sch.wide", "comp.imp"), epsilon=1e-12, max_sweeps=2000)


@pytest.fixture(scope="session")
def designs(api: pd.DataFrame, raked2: RakingResult, raked3: RakingResult) -> dict[str, SurveyDesign]:
    """The designs of the reference scripts by name."""
    return {
        "plain": SurveyDesign.from_weights(api["pw"]),
        "raked2": SurveyDesign.from_raking(raked2),
        "raked3": SurveyDesign.from_raking(raked3),
        "fpc": SurveyDesign.from_weights(api["pw"], population_size=POPULATION_SIZE),
        "fpc_raked2": SurveyDesign.from_raking(raked2, population_size=POPULATION_SIZE),
    }
