"""Answers → the tidy frame: columns, types, conditions, implied values, file problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from surveyapp.analysis.tidy import ResponsesFileError, column_names, read_responses_csv, response_frame
from surveyapp.questionnaire import load_questionnaire

MINI = load_questionnaire(Path(__file__).parent.parent / "data" / "questionnaires" / "mini.yaml")

ACTIVE = {
    "status": "actief",
    "kinderen": 2,
    "contract": "statutair",
    "ken_dienst": "yes",
    "ken_aanbod/pluspas": "ja",
    "ken_aanbod/sintgeschenk": "nee",
    "gebruik_aanbod/pluspas": "ja",
    "hulp": ["financieel"],
    "tevreden_pluspas": "5",
    "financieel_detail": "huur",
}
RETIRED = {
    "status": "gepensioneerd",
    "contract": "statutair",  # hidden for retirees: must be dropped
    "ken_dienst": "no",
    "ken_aanbod/pluspas": "nee",
    "ken_aanbod/sintgeschenk": "nee",
    "gebruik_aanbod/pluspas": "ja",  # hidden (does not know it): implied "nee" wins
}


def test_columns_follow_the_questionnaire() -> None:
    names = column_names(MINI)
    assert names[:3] == ["status", "kinderen", "contract"]
    assert "hulp/financieel" in names and "hulp" not in names
    assert "ken_aanbod/pluspas" in names and "intro_info" not in names


def test_frame_types_conditions_and_implied_values() -> None:
    frame = response_frame(MINI, [ACTIVE, RETIRED, {}])
    assert frame.loc[0, "kinderen"] == 2.0 and np.isnan(frame.loc[1, "kinderen"])
    assert frame.loc[0, "contract"] == "statutair"
    assert pd.isna(frame.loc[1, "contract"])  # hidden question: answer dropped
    assert frame.loc[1, "gebruik_aanbod/pluspas"] == "nee"  # hidden row: implied value
    assert frame.loc[1, "gebruik_aanbod/sintgeschenk"] == "nee"
    assert frame.loc[0, "gebruik_aanbod/sintgeschenk"] == "nee"  # did not know it: implied
    assert frame.loc[0, "hulp/financieel"] == 1.0 and frame.loc[0, "hulp/psychosociaal"] == 0.0
    assert np.isnan(frame.loc[1, "hulp/financieel"])  # not answered: missing, not "no"
    assert frame.loc[0, "tevreden_pluspas"] == "5" and pd.isna(frame.loc[1, "tevreden_pluspas"])
    assert frame.loc[0, "financieel_detail"] == "huur"


def test_csv_round_trip_and_problems(tmp_path: Path) -> None:
    good = tmp_path / "responses.csv"
    good.write_text(
        "status,kinderen,ken_dienst,ken_aanbod/pluspas,gebruik_aanbod/pluspas,hulp/financieel,hulp/administratief\n"
        "actief,1,yes,ja,ja,1,0\n"
        "gepensioneerd,,no,nee,ja,,\n"
    )
    frame = read_responses_csv(MINI, good)
    assert list(frame["status"]) == ["actief", "gepensioneerd"]
    assert frame.loc[1, "gebruik_aanbod/pluspas"] == "nee"
    assert frame.loc[0, "hulp/financieel"] == 1.0
    bad = tmp_path / "bad.csv"
    bad.write_text("status,kinderen,onbekend,hulp/financieel\nceo,twee,x,2\n")
    with pytest.raises(ResponsesFileError) as caught:
        read_responses_csv(MINI, bad)
    messages = [str(p) for p in caught.value.problems]
    assert "onbekend: is not an answer of this questionnaire" in messages
    assert any(m.startswith("line 2, status: 'ceo' is not a code") for m in messages)
    assert "line 2, kinderen: is not a number" in messages
    assert "line 2, hulp/financieel: must be 0 or 1" in messages
