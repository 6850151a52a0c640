"""The t quantile and the t-test of analysis.tables agree with scipy.stats, which they avoid."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.tables import t_quantile, t_test_p_value


@pytest.mark.parametrize("df", [1, 2, 4, 19, 29, 99, 1000])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_quantile_is_scipys(df, level):
    assert t_quantile(df, level) == pytest.approx(stats.t.ppf(0.5 + level / 2, df), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=40
    ).filter(lambda v: np.std(v) > 1e-3 * (1 + np.abs(v).max()))
)
def test_t_test_p_value_is_scipys(values):
    expected = stats.ttest_1samp(values, 0.0).pvalue
    assert t_test_p_value(values) == pytest.approx(expected, rel=1e-9, abs=1e-300)
