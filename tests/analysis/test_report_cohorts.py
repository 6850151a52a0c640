"""The report's cohort sizes, found by key in numpy, equal the join they replaced."""

import numpy as np
import pyarrow as pa

from analysis.report import cohort_sizes


def joined_sizes(table: pa.Table) -> np.ndarray:
    """The old way: each row joined with the largest ``active`` at tenure 0 of its cohort."""
    identity = ["point", "replication", "firm", "cohort"]
    table = table.append_column("row", pa.array(np.arange(table.num_rows)))
    sizes = (
        table.filter(pa.compute.equal(table.column("tenure"), 0))
        .group_by(identity)
        .aggregate([("active", "max")])
        .rename_columns([*identity, "size"])
    )
    joined = table.join(sizes, keys=identity, join_type="inner")
    out = np.full(table.num_rows, np.nan)
    out[joined.column("row").to_numpy()] = joined.column("size").to_numpy()
    return out


def test_cohort_sizes_equal_the_join_on_shuffled_rows_with_gaps_and_repeats():
    rng = np.random.default_rng(3)
    n = 4000
    table = pa.table(
        {
            "point": rng.integers(0, 3, n),
            "replication": rng.integers(0, 4, n),
            "firm": pa.array(rng.choice(["A", "B", "C"], n)).dictionary_encode(),
            "cohort": rng.integers(0, 12, n),
            "tenure": rng.integers(0, 6, n),  # some cohorts lack tenure 0, some repeat it
            "active": rng.integers(0, 50, n).astype(np.int32),
        }
    )
    expected = joined_sizes(table)
    assert np.isnan(expected).any() and (~np.isnan(expected)).any()
    np.testing.assert_array_equal(cohort_sizes(table), expected)
    plain = table.set_column(2, "firm", table.column("firm").cast(pa.string()))
    np.testing.assert_array_equal(cohort_sizes(plain), expected)


def test_a_chunk_without_a_cohort_start_has_no_sizes():
    table = pa.table(
        {
            "point": [0],
            "replication": [0],
            "firm": pa.array(["A"]).dictionary_encode(),
            "cohort": [3],
            "tenure": [2],
            "active": pa.array([5], pa.int32()),
        }
    )
    assert np.isnan(cohort_sizes(table)).all()
    assert cohort_sizes(table.slice(0, 0)).size == 0
