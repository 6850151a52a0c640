"""analysis.tables: t quantile and t-test as scipy.stats has them; intervals of awkward values."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.tables import format_table, mean_ci, t_quantile, t_test_p_value


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


def test_an_infinite_value_gives_an_infinite_mean_and_no_interval_without_a_warning():
    """An expected lifetime of 1 / (1 - 1): a run that lost no customer in a year."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered" would raise
        n, mean, low, high = mean_ci([4.0, np.inf, np.nan, 6.0])
    assert (n, mean) == (3, np.inf)
    assert np.isnan(low) and np.isnan(high)
    assert mean_ci([4.0, 6.0])[1:] == pytest.approx(
        (5.0, 5.0 - 12.706 * 1.0, 5.0 + 12.706), abs=2e-3
    )


def test_the_terminal_table_shows_an_infinite_lifetime_as_n_a():
    table = pd.DataFrame(
        {
            "strategy": ["zipper"],
            "runs": [2],
            "expected_lifetime": [np.inf],
            "expected_lifetime_low": [np.nan],
            "expected_lifetime_high": [np.nan],
        }
    )
    text = format_table(table)
    assert "inf" not in text.lower()
    assert text.splitlines()[-1].split()[-2:] == ["n/a", "n/a"]
