"""The distribution functions of analysis/_dist.py equal scipy.stats, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from surveyapp.analysis._dist import beta_ppf, chi2_sf, f_sf, t_ppf, t_sf

probability = st.floats(min_value=1e-6, max_value=1 - 1e-6)
degrees = st.one_of(st.floats(min_value=0.5, max_value=1e6), st.just(np.inf))
statistic = st.floats(min_value=-50, max_value=50)
shape = st.floats(min_value=1e-3, max_value=1e5)


@settings(max_examples=300, deadline=None)
@given(probability, degrees, statistic)
def test_t(q: float, df: float, x: float) -> None:
    assert t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-12, abs=1e-12)
    assert t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-12, abs=1e-300)


@settings(max_examples=300, deadline=None)
@given(probability, shape, shape)
def test_beta(q: float, a: float, b: float) -> None:
    assert beta_ppf(q, a, b) == pytest.approx(stats.beta.ppf(q, a, b), rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(statistic, st.floats(min_value=0.5, max_value=1e4), st.floats(min_value=0.5, max_value=1e5))
def test_f_and_chi2(x: float, dfn: float, dfd: float) -> None:
    assert f_sf(x, dfn, dfd) == pytest.approx(stats.f.sf(x, dfn, dfd), rel=1e-9, abs=1e-300)
    assert chi2_sf(x, dfn) == pytest.approx(stats.chi2.sf(x, dfn), rel=1e-9, abs=1e-300)


def test_outside_the_domain_is_nan_and_arrays_keep_their_shape() -> None:
    assert np.isnan(t_ppf(0.975, 0.0)) and np.isnan(t_sf(1.0, -1.0))
    assert np.isnan(beta_ppf(0.5, 0.0, 2.0)) and np.isnan(f_sf(1.0, 0.0, 3.0)) and np.isnan(chi2_sf(1.0, 0.0))
    assert chi2_sf(-1.0, 2.0) == 1.0 and f_sf(-1.0, 2.0, 3.0) == 1.0
    values = t_ppf(np.array([0.025, 0.975]), np.array([5.0, np.inf]))
    assert values.shape == (2,)
    np.testing.assert_allclose(values, stats.t.ppf([0.025, 0.975], [5.0, np.inf]), rtol=1e-12)
