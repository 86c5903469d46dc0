"""Disclosure control of microdata (surveyapp.analysis.sdc): risk measures, recoding, suppression."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from surveyapp.analysis import sdc

AGE_BANDS = {"lt30": "lt40", "30_39": "lt40", "40_49": "40plus", "50_59": "40plus"}


def test_individual_risk_matches_hand_computed_benedetti_franconi_values() -> None:
    # p = f/F - 0.0001 (as sdcMicro's compute_risk), then by hand:
    # f=1, F=10: p=0.0999; p/(1-p)=0.110988; ln(1/p)=2.303585; r=0.110988·2.303585=0.255670
    # f=2, F=10: p=0.1999; p/(1-p)=0.249875; r=0.249875-0.249875²·ln(1/0.1999)=0.149348
    # f=3, F=10: p=0.2999; r=0.2999/(3-0.7001)=0.130397
    # f=2, F=4:  p=0.4999; r=0.99960-0.99920·0.693347=0.306807
    # f=1, F=1:  p=0.9999; r=9999·ln(1/0.9999)=0.999950 (a population unique: certain)
    risk = sdc.individual_risk(np.array([1, 2, 3, 2, 1]), np.array([10.0, 10.0, 10.0, 4.0, 1.0]))
    assert risk == pytest.approx([0.255670, 0.149348, 0.130397, 0.306807, 0.999950], abs=2e-6)
    # more weight behind the same sample frequency means a lower risk; an all-suppressed key none
    assert sdc.individual_risk(np.array([1]), np.array([100.0]))[0] < risk[0]
    assert sdc.individual_risk(np.array([0]), np.array([5.0]))[0] == 0.0


def test_measure_risk_counts_uniques_and_records_below_k() -> None:
    codes = pd.DataFrame({"a": ["x", "x", "x", "y", "z"], "b": ["1", "1", "1", "1", "2"]})
    risk = sdc.measure_risk(codes, np.array([2.0, 2.0, 2.0, 4.0, 1.0]), k=3)
    assert (risk.records, risk.sample_unique, risk.below_k) == (5, 2, 2)
    # key (x,1): f=3, F=6; (y,1): f=1, F=4; (z,2): f=1, F=1
    expected = sdc.individual_risk(np.array([3, 3, 3, 1, 1]), np.array([6.0, 6.0, 6.0, 4.0, 1.0]))
    assert risk.global_risk == pytest.approx(expected.mean())
    assert risk.expected_reidentifications == pytest.approx(expected.sum())
    assert risk.max_risk == pytest.approx(expected.max()) and risk.share_unique == pytest.approx(0.4)


def test_a_suppressed_value_matches_everything_and_not_asked_only_itself() -> None:
    codes = pd.DataFrame(
        {"a": ["x", "y", None, "x", sdc.NOT_ASKED], "b": ["1", "1", "1", "2", "1"]}, dtype=object
    )
    frequency, weights = sdc.key_frequencies(sdc._matrix(codes), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    # record 2 (*,1) matches (x,1), (y,1), itself and (NOT_ASKED,1); never (x,2)
    assert frequency.tolist() == [2, 2, 4, 1, 2]
    assert weights.tolist() == [4.0, 5.0, 11.0, 4.0, 8.0]


def test_local_suppression_makes_every_record_k_anonymous_with_few_suppressions() -> None:
    rng = np.random.default_rng(3)
    n = 400
    codes = pd.DataFrame(
        {
            "status": rng.choice(["actief", "gepensioneerd"], n, p=[0.7, 0.3]),
            "age": rng.choice(list(AGE_BANDS), n),
            "entity": rng.choice(list("abcdefgh"), n),
            "origin": rng.choice(["be", "eu", "other"], n, p=[0.9, 0.07, 0.03]),
        },
        dtype=object,
    )
    protected, frequencies = sdc.local_suppression(codes, 5)
    again, _weights = sdc.key_frequencies(sdc._matrix(protected))
    assert frequencies.min() >= 5 and again.tolist() == frequencies.tolist()
    suppressed = int(protected.isna().to_numpy().sum())
    unsafe = int((sdc.key_frequencies(sdc._matrix(codes))[0] < 5).sum())
    assert 0 < suppressed <= 2 * unsafe  # at most about one or two values per unsafe record
    # values are kept or suppressed, never changed
    kept = protected.notna()
    assert (protected[kept] == codes[kept]).to_numpy()[kept.to_numpy()].all()
    # the least important variable (the last) goes first on ties: the rare origin goes most
    counts = protected.isna().sum()
    assert counts["origin"] >= counts["status"]


def test_global_recoding_takes_the_step_that_loses_least_per_record_made_safe() -> None:
    # age is the only reason records are unsafe: recoding it (not entity) fixes them
    rows = [(age, entity) for age, entity in itertools.product(AGE_BANDS, ["a", "b"]) for _ in range(3)]
    codes = pd.DataFrame(rows, columns=["age", "entity"], dtype=object)
    variables = [
        sdc.KeyVariable("entity", ({"a": "ab", "b": "ab"},)),
        sdc.KeyVariable("age", (AGE_BANDS,)),
    ]
    recoded, levels = sdc.global_recode(codes, variables, k=6, max_unsafe_share=0.0)
    assert levels in ({"entity": 1, "age": 0}, {"entity": 0, "age": 1})
    assert sdc.measure_risk(recoded, None, 6).below_k == 0
    # entity merges 2 codes (1 bit), age 4 codes into 2 (1 bit): both make all 24 safe; the tie
    # is broken by order. With a finer age (8 codes), merging entity is cheaper:
    rows = [(f"{age}{i}", e) for age in AGE_BANDS for i in (0, 1) for e in ("a", "b") for _ in range(3)]
    fine = pd.DataFrame(rows, columns=["age", "entity"], dtype=object)
    pairs = {f"{age}{i}": age for age in AGE_BANDS for i in (0, 1)}
    variables = [
        sdc.KeyVariable("entity", ({"a": "ab", "b": "ab"},)),
        sdc.KeyVariable("age", (pairs,)),
    ]
    _recoded, levels = sdc.global_recode(fine, variables, k=6, max_unsafe_share=0.0)
    assert levels == {"entity": 1, "age": 0}


def test_protect_reports_risk_before_and_after_and_refuses_too_few_records() -> None:
    rng = np.random.default_rng(5)
    n = 300
    codes = pd.DataFrame(
        {
            "age": rng.choice(list(AGE_BANDS), n),
            "entity": rng.choice(list("abcdefghij"), n),
            "children": sdc.top_code(pd.Series(rng.integers(0, 7, n)), 3).map(lambda x: f"{x:g}"),
        },
        dtype=object,
    )
    assert set(codes["children"]) == {"0", "1", "2", "3"}
    weights = rng.uniform(10, 40, n)
    result = sdc.protect(
        codes, [sdc.KeyVariable("age", (AGE_BANDS,)), sdc.KeyVariable("entity")], 10, weights
    )
    assert result.after.below_k == 0 and result.after.sample_unique == 0
    assert result.before.sample_unique > 0 and result.before.global_risk > result.after.global_risk
    assert result.frequencies.min() >= 10 and result.levels["age"] == 1
    assert sum(result.suppressed.values()) == int(result.codes.isna().to_numpy().sum())
    with pytest.raises(sdc.DisclosureError) as caught:
        sdc.protect(codes.head(4), [sdc.KeyVariable("age")], 5)
    assert caught.value.records == 4 and caught.value.k == 5


def test_top_code_keeps_missing_and_caps_the_rest() -> None:
    coded = sdc.top_code(pd.Series([1, 2, 5, None, 15]), 3)
    assert coded.iloc[:3].tolist() == [1.0, 2.0, 3.0] and np.isnan(coded.iloc[3]) and coded.iloc[4] == 3.0
