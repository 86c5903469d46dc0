"""Shared fixtures: the R reference data (California API schools) and the designs R used."""

from __future__ import annotations

import pandas as pd
import pytest

from surveyapp.analysis import RakingResult, SurveyDesign, rake
from tests.analysis.r_reference_data import POPULATION_SIZE, REFERENCE, margins


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
