"""The kernel's counter-based draws (sim.draws): right distributions, reproducible, independent."""

import numpy as np
import pytest
from scipy import stats

from sim import draws

N = 200_000
KEY = 0x1234_5678_9ABC_DEF0


def test_same_counter_same_number_and_keys_differ():
    first = draws.sample(KEY, 3, 1000, draws.STAGE)
    assert np.array_equal(first, draws.sample(KEY, 3, 1000, draws.STAGE))
    assert not np.array_equal(first, draws.sample(KEY + 1, 3, 1000, draws.STAGE))


def test_uniforms_are_uniform_on_the_unit_interval():
    u = draws.sample(KEY, 1, N, draws.SEARCH)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / N)


def test_normals_are_standard_normal():
    z = draws.sample(KEY, 1, N, draws.EXPERIENCE, normals=True)
    assert np.isfinite(z).all()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 4 / np.sqrt(N)
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2 / N)
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24 / N)


@pytest.mark.parametrize("other", [
    (1, draws.DEFECT),            # another stream, same period
    (2, draws.STAGE),             # another period, same stream
    (1, draws.RIVAL + 1),         # a rival's shock
])
def test_streams_and_periods_are_uncorrelated(other):
    base = draws.sample(KEY, 1, N, draws.STAGE)
    shifted = draws.sample(KEY, other[0], N, other[1])
    assert abs(np.corrcoef(base, shifted)[0, 1]) < 4 / np.sqrt(N)
    # neighbouring customers too
    assert abs(np.corrcoef(base[:-1], base[1:])[0, 1]) < 4 / np.sqrt(N)
