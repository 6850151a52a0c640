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


@pytest.mark.parametrize(
    "other",
    [
        (1, draws.DEFECT),  # another stream, same period
        (2, draws.STAGE),  # another period, same stream
        (1, draws.RIVAL + 1),  # a rival's shock
    ],
)
def test_streams_and_periods_are_uncorrelated(other):
    base = draws.sample(KEY, 1, N, draws.STAGE)
    shifted = draws.sample(KEY, other[0], N, other[1])
    assert abs(np.corrcoef(base, shifted)[0, 1]) < 4 / np.sqrt(N)
    # neighbouring customers too
    assert abs(np.corrcoef(base[:-1], base[1:])[0, 1]) < 4 / np.sqrt(N)


def test_normals_are_right_in_the_ziggurat_edges_and_the_tail():
    # 2 * 10^6 normals: fine equiprobable bins catch a wrong layer edge (the
    # ~1% of draws that take the rejection path), the tail beyond r the base
    # layer's exponential sampling
    n = 2_000_000
    z = draws.sample(KEY, 5, n, draws.RIVAL + 3, normals=True)
    edges = stats.norm.ppf(np.linspace(0.0, 1.0, 501))
    counts, _ = np.histogram(z, edges)
    assert stats.chisquare(counts).pvalue > 1e-3
    r = draws._ZIGGURAT_R
    tail = np.abs(z[np.abs(z) > r])
    expected = 2 * stats.norm.sf(r) * n
    assert abs(tail.size - expected) < 4 * np.sqrt(expected)
    assert stats.kstest(tail, lambda x: 1.0 - stats.norm.sf(x) / stats.norm.sf(r)).pvalue > 1e-3
    assert (z[np.abs(z) > r] > 0).mean() == pytest.approx(0.5, abs=4 * 0.5 / np.sqrt(tail.size))


def test_ziggurat_layers_have_equal_areas():
    x, f = draws._ZIGGURAT_X, draws._ZIGGURAT_F
    areas = x[1:-1] * (f[2:] - f[1:-1])  # layers 1-255
    base = x[1] * f[1] + np.sqrt(np.pi / 2) * 2 * stats.norm.sf(x[1])  # rectangle + tail
    assert np.allclose(areas, base, rtol=1e-8)
    assert x[0] * f[1] == pytest.approx(base, rel=1e-8)


def test_every_stream_a_model_can_use_is_below_the_retry_offset():
    from sim.config import Config

    most_firms = next(
        m.max_length for m in Config.model_fields["firms"].metadata if hasattr(m, "max_length")
    )
    assert draws.RIVAL + 2 * (most_firms - 1) + 1 < draws.RETRY
    assert (
        max(draws.EXPERIENCE, draws.STAGE, draws.SEARCH, draws.DEFECT, draws.REENTRY) < draws.RIVAL
    )
