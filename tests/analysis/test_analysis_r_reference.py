"""Every number of the R `survey` reference files, reproduced without R.

Tolerances (relative): point estimates 1e-6, SEs / CI bounds / test statistics' p-values and
degrees of freedom 1e-4, raked weights 1e-6. Rows are parametrised straight from the CSVs,
so a new reference row without a matching computation fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from surveyapp.analysis import (
    RakingResult,
    SurveyDesign,
    domain_difference,
    estimate_table,
    group_vs_rest,
    rao_scott_categorical,
    reach_indices,
    survey_logistic,
    tabulate,
)
from tests.analysis.r_reference_data import REFERENCE, read_reference

BASE_ROWS = read_reference("r_survey_reference.csv")
EXTRA_ROWS = read_reference("r_survey_extra.csv")
Results = dict[tuple[str, str], dict[str, Any]]


def _close(ours: float | None, theirs: float, rel: float) -> bool:
    if ours is None:
        return False
    if abs(theirs) < 1e-9:  # R's boundary values (e.g. 5.8e-11 for an all-zero domain)
        return abs(ours - theirs) < 1e-9
    return abs(ours - theirs) <= rel * abs(theirs)


def _estimates(
    design: SurveyDesign,
    frame: pd.DataFrame,
    item: str,
    *,
    by: str | None = None,
    kind: str = "proportion",
    ci_method: str = "logit",
) -> dict[str, dict[str, Any]]:
    """Our estimates of one item keyed by group label ('all' overall)."""
    groups = frame[[by]] if by else None
    rows = estimate_table(
        design,
        frame[[item]],
        groups,
        kinds={item: kind},
        ci_method=ci_method,  # type: ignore[dict-item, arg-type]
    )
    wanted = [r for r in rows if (r.group_var == by)]
    return {("all" if r.group is None else str(r.group)): r.__dict__ for r in wanted}


def _add(results: Results, case: str, values: dict[str, dict[str, Any]]) -> None:
    for group, row in values.items():
        results[(case, group)] = row


@pytest.fixture(scope="module")
def base_results(api: pd.DataFrame, designs: dict[str, SurveyDesign], raked2: RakingResult) -> Results:
    """Our numbers for r_survey_reference.csv (make_reference.R)."""
    plain, raked = designs["plain"], designs["raked2"]
    results: Results = {}
    for method in ("logit", "beta", "asin", "likelihood", "mean"):
        _add(results, f"prop_weighted_ci_{method}", _estimates(plain, api, "awards_yes", ci_method=method))
    _add(results, "prop_weighted_by_stype", _estimates(plain, api, "awards_yes", by="stype"))
    for method in ("logit", "beta"):
        _add(
            results,
            f"prop_weighted_ci_{method}_by_stype",
            _estimates(plain, api, "awards_yes", by="stype", ci_method=method),
        )
    _add(results, "mean_weighted_by_stype", _estimates(plain, api, "api00", by="stype", kind="mean"))
    _add(results, "prop_raked", _estimates(raked, api, "awards_yes"))
    _add(results, "mean_raked", _estimates(raked, api, "api00", kind="mean"))
    _add(results, "prop_raked_by_stype", _estimates(raked, api, "awards_yes", by="stype"))
    _add(results, "prop_raked_ci_logit_by_stype", _estimates(raked, api, "awards_yes", by="stype"))
    results[("kish_deff_raked", "all")] = {"estimate": raked2.diagnostics.kish_deff}
    test = rao_scott_categorical(plain, api[["awards"]], api[["stype"]], adjust="none")[0]
    results[("raoscott_F_awards_stype", "all")] = {
        "estimate": test.f,
        "ndf": test.ndf,
        "ddf": test.ddf,
        "p": test.p_value,
    }
    results[("raoscott_chisq_awards_stype", "all")] = {
        "estimate": test.pearson,
        "df": test.chisq_df,
        "p": test.chisq_p_value,
    }
    fit = survey_logistic(plain, api["awards_yes"], api[["stype", "meals"]])
    for c in fit.coefficients:
        results[("logit_awards_stype_meals", c.term)] = {
            "estimate": c.estimate,
            "se": c.se,
            "p": c.p_value,
        }
    return results


def _rao_scott(
    results: Results, name: str, design: SurveyDesign, frame: pd.DataFrame, a: str, b: str
) -> None:
    test = rao_scott_categorical(design, frame[[a]], frame[[b]], adjust="none")[0]
    results[(f"raoscott_F_{name}", "all")] = {
        "estimate": test.f,
        "ndf": test.ndf,
        "ddf": test.ddf,
        "p": test.p_value,
    }
    results[(f"raoscott_chisq_{name}", "all")] = {
        "estimate": test.pearson,
        "df": test.chisq_df,
        "p": test.chisq_p_value,
    }


def _logit(results: Results, case: str, fit: Any) -> None:
    for c in fit.coefficients:
        results[(case, c.term)] = {
            "estimate": c.estimate,
            "se": c.se,
            "p": c.p_value,
            "df": fit.df_residual,
        }


@pytest.fixture(scope="module")
def extra_results(api: pd.DataFrame, designs: dict[str, SurveyDesign], raked3: RakingResult) -> Results:
    """Our numbers for r_survey_extra.csv (make_extra_reference.R)."""
    plain, r3 = designs["plain"], designs["raked3"]
    results: Results = {}
    results[("kish_deff_raked3", "all")] = {"estimate": raked3.diagnostics.kish_deff}
    _add(results, "mean_raked3", _estimates(r3, api, "api00", kind="mean"))
    _add(results, "prop_raked3", _estimates(r3, api, "awards_yes"))
    _add(results, "mean_raked3_by_meals", _estimates(r3, api, "api00", by="meals_cat", kind="mean"))
    _add(results, "prop_raked3_by_meals", _estimates(r3, api, "awards_yes", by="meals_cat"))
    _add(results, "prop_raked3_by_stype", _estimates(r3, api, "awards_yes", by="stype"))
    for method in ("logit", "beta"):
        _add(
            results,
            f"prop_raked3_ci_{method}_by_meals",
            _estimates(r3, api, "awards_yes", by="meals_cat", ci_method=method),
        )
    _add(results, "prop_raked3_ci_beta", _estimates(r3, api, "awards_yes", ci_method="beta"))
    for name in ("plain", "raked3"):
        _rao_scott(results, f"meals_stype_{name}", designs[name], api, "meals_cat", "stype")
    _rao_scott(results, "awardsna_meals_plain", plain, api, "awards_cat_na", "meals_cat")
    _add(results, "mean_fpc", _estimates(designs["fpc"], api, "api00", kind="mean"))
    _add(results, "prop_fpc_by_stype", _estimates(designs["fpc"], api, "awards_yes", by="stype"))
    _add(results, "prop_fpc_ci_logit", _estimates(designs["fpc"], api, "awards_yes"))
    _add(
        results,
        "prop_fpc_raked_by_meals",
        _estimates(designs["fpc_raked2"], api, "awards_yes", by="meals_cat"),
    )
    for method in ("logit", "beta"):
        by_size = _estimates(plain, api, "awards_yes", by="size_cat", ci_method=method)
        _add(results, f"prop_ci_{method}_by_size", by_size)
        for name in ("plain", "raked3"):
            _add(
                results,
                f"prop_ci_{method}_by_tiny_{name}",
                _estimates(designs[name], api, "awards_yes", by="tiny_cat", ci_method=method),
            )
    results[("n_size_cat_huge", "huge")] = {"estimate": by_size["huge"]["n"]}
    for name in ("plain", "raked3"):
        predictors = api[["stype", "meals_cat", "ell", "enroll"]]
        _logit(results, f"logit_multi_{name}", survey_logistic(designs[name], api["awards_yes"], predictors))
    _logit(results, "logit_na_plain", survey_logistic(plain, api["awards_na"], api[["stype", "meals"]]))
    for name in ("plain", "raked2", "raked3"):
        table = tabulate(designs[name], api[["awards_yes", "api00"]], api[["stype"]], kinds={"api00": "mean"})
        for c in group_vs_rest(table, adjust="none"):
            row = {"estimate": c.difference, "se": c.se}
            results[(f"diff_rest_{c.item}_{name}", str(c.group))] = row
            results[(f"diff_rest_svyby_{c.item}_{name}", str(c.group))] = row
        pair = domain_difference(table, item="awards_yes", group_var="stype", group="H", versus="E")
        results[(f"diff_H_E_awards_{name}", "H-E")] = {"estimate": pair.difference, "se": pair.se}
    _add(results, "mean_na", _estimates(plain, api, "api00_na", kind="mean"))
    _add(results, "mean_na_by_stype", _estimates(plain, api, "api00_na", by="stype", kind="mean"))
    _add(results, "prop_na_raked3_by_stype", _estimates(r3, api, "awards_na", by="stype"))
    _add(results, "prop_na_ci_logit_by_stype", _estimates(plain, api, "awards_na", by="stype"))
    register = {"stype": {k: v / 6194 for k, v in {"E": 4421, "H": 755, "M": 1018}.items()}}
    for name in ("plain", "raked2"):
        for r in reach_indices(designs[name], api["user"], api[["stype"]], register):
            results[(f"reach_share_{name}", str(r.group))] = {
                "estimate": r.user_share,
                "se": r.se,
                "df": r.df,
            }
    return results


def _check_row(row: dict[str, Any], ours: dict[str, Any]) -> None:
    assert _close(ours.get("estimate"), row["estimate"], 1e-6), (ours.get("estimate"), row)
    for key in ("se", "ci_low", "ci_high"):
        if not math.isnan(row[key]):
            assert _close(ours.get(key), row[key], 1e-4), (key, ours.get(key), row)
    note = row["note"]
    for key, ours_key in (("ndf", "ndf"), ("ddf", "ddf"), ("p", "p"), ("df", "df")):
        if key in note:
            assert _close(ours.get(ours_key), float(note[key]), 1e-4), (key, ours.get(ours_key), row)


def _row_id(row: dict[str, Any]) -> str:
    return f"{row['case']}[{row['group']}]"


@pytest.mark.parametrize("row", BASE_ROWS, ids=_row_id)
def test_make_reference_row(row: dict[str, Any], base_results: Results) -> None:
    """Each row of r_survey_reference.csv (make_reference.R)."""
    _check_row(row, base_results[(row["case"], row["group"])])


@pytest.mark.parametrize("row", EXTRA_ROWS, ids=_row_id)
def test_extra_reference_row(row: dict[str, Any], extra_results: Results) -> None:
    """Each row of r_survey_extra.csv (make_extra_reference.R)."""
    _check_row(row, extra_results[(row["case"], row["group"])])


@pytest.mark.parametrize(
    ("fixture", "file"), [("raked2", "raked_weights.csv"), ("raked3", "raked3_weights.csv")]
)
def test_raked_weights_match_r(
    fixture: str, file: str, request: pytest.FixtureRequest, api: pd.DataFrame
) -> None:
    """Every raked weight equals R's rake() to 1e-6 relative, in the same row order."""
    result: RakingResult = request.getfixturevalue(fixture)
    reference = pd.read_csv(REFERENCE / file, dtype={"cds": str})
    assert list(reference["cds"]) == list(api["cds"])
    np.testing.assert_allclose(result.weights, reference["raked_weight"], rtol=1e-6)


def test_reference_samples_agree(api: pd.DataFrame) -> None:
    """Both reference scripts used the same apistrat rows, so one data frame serves both."""
    base = pd.read_csv(REFERENCE / "apistrat.csv", dtype={"cds": str})
    for column in ("cds", "stype", "awards", "api00", "meals", "pw"):
        assert list(base[column]) == list(api[column])


def test_boundary_domain_gets_clopper_pearson_interval(
    api: pd.DataFrame, designs: dict[str, SurveyDesign]
) -> None:
    """R gives no usable CI for the 2-school domain with no awards; we give the exact bound."""
    for method in ("logit", "beta"):
        huge = _estimates(designs["plain"], api, "awards_yes", by="size_cat", ci_method=method)["huge"]
        assert huge["n"] == 2 and huge["estimate"] == 0
        assert huge["ci_low"] == 0
        assert huge["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 2))
