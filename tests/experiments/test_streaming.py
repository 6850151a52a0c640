"""Results stream to disk run by run and are aggregated out of core (issue 22, point 4).

The main process of a sweep holds a bounded number of runs' tables, each run's
parts are on disk as it ends, the combined tables equal the parts put
together, and the report's pooled reading of ``cohorts.parquet`` gives the
survival curves of the whole table.
"""

import shutil
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import report as report_module
from analysis import retention
from experiments import sweep as sweep_module
from experiments.folders import prepare
from experiments.scenario import load_scenario
from experiments.sweep import execute, plan_runs, run_sweep
from store import parts as parts_module
from store.parts import PartStore
from store.results import write_tables

SCENARIO = """\
name: streaming
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 150, periods: 14, seed: 11, replications: 4}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
    firms.0.policies:
      - []
      - [{name: loyalty_programme, budget: 15}]
"""


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "streaming.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return load_scenario(path)


class Backwards:
    """An executor that finishes the runs last to first (the first run is a straggler).

    Before it hands back the next outcome it checks that the previous run's
    parts are already on disk: each run is written as it ends.
    """

    name, workers = "backwards", 1

    def __init__(self, store: PartStore):
        self.store = store

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, function, specs):
        done = []
        for spec in reversed(list(specs)):
            for run_id in done:  # every run handed back so far is on disk
                assert (self.store.runs / f"{run_id}.parquet").exists()
                assert (self.store.timeseries / f"{run_id}.parquet").exists()
            yield function(spec)
            done.append(spec.run_id)


class Tracked(dict):
    """A run's tables, counted while they are alive."""

    __hash__ = object.__hash__


def _tables(folder):
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def test_a_straggler_leaves_at_most_max_buffered_runs_in_memory(scenario, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "MAX_BUFFERED_RUNS", 2)
    specs = plan_runs(scenario)
    folder = tmp_path / "streamed"
    store = prepare(folder, scenario, resume=False)
    alive, most, read_back = weakref.WeakSet(), [0], []
    write, read_tables = store.write, store.read_tables

    def tracked_write(*args, **kwargs):
        most[0] = max(most[0], len(alive))  # runs held before this one
        tables = Tracked(write(*args, **kwargs))
        alive.add(tables)
        return tables

    def counted_read(run_id):
        read_back.append(run_id)
        return read_tables(run_id)

    monkeypatch.setattr(store, "write", tracked_write)
    monkeypatch.setattr(store, "read_tables", counted_read)
    report = run_sweep(specs, store, Backwards(store), progress=False)
    assert report.ok == len(specs) == 16
    assert most[0] <= 2
    # the first run came last: the runs after the two held ones were read back from their
    # parts; the first and the two held runs (the last two) streamed from memory
    assert read_back == [spec.run_id for spec in specs[1:-2]]
    write_tables(folder, store, [spec.run_id for spec in specs])
    assert not list(store.root.glob(".stream-*"))

    combined = tmp_path / "combined"  # the same parts, by a store that streamed nothing
    combined.mkdir()
    write_tables(combined, PartStore(store.root), [spec.run_id for spec in specs])
    got, expected = _tables(folder), _tables(combined)
    assert set(got) == set(expected) >= {"runs", "timeseries", "cohorts", "policies"}
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True)


def test_every_run_is_on_disk_as_it_ends_and_in_order_in_the_tables(scenario, tmp_path):
    specs = plan_runs(scenario)
    folder = tmp_path / "out"
    store = prepare(folder, scenario, resume=False)
    run_sweep(specs, store, Backwards(store), progress=False)
    runs = write_tables(folder, store, [spec.run_id for spec in specs])
    assert list(dict.fromkeys(runs["run_id"])) == [spec.run_id for spec in specs]
    assert sorted(p.stem for p in store.runs.glob("*.parquet")) == [s.run_id for s in specs]


def test_write_combined_holds_a_bounded_number_of_parts(scenario, tmp_path, monkeypatch):
    """The fallback combine reads each part once and gathers at most a row group's worth."""
    specs = plan_runs(scenario)[:5]
    store = prepare(tmp_path / "out", scenario, resume=False)
    for spec in specs:
        outcome = execute(spec)
        store.write(
            spec.run_id,
            *sweep_module.part_frames(spec, outcome.result),
            extras=sweep_module.extra_frames(spec, outcome.result),
        )
    expected = store.combined_table("cohorts", [s.run_id for s in specs])
    concatenated, concat_tables = [], pa.concat_tables

    def counted(tables, *args, **kwargs):
        concatenated.append(len(tables))
        return concat_tables(tables, *args, **kwargs)

    monkeypatch.setattr(parts_module, "ROW_GROUP_ROWS", 1)  # a row group per part
    monkeypatch.setattr(pa, "concat_tables", counted)
    path = tmp_path / "cohorts.parquet"
    assert store.write_combined("cohorts", [s.run_id for s in specs], path)
    monkeypatch.undo()
    assert concatenated == [1] * len(specs)
    assert pq.ParquetFile(path).metadata.num_row_groups == len(specs)
    pd.testing.assert_frame_equal(pd.read_parquet(path), expected.to_pandas(), check_exact=True)


def test_the_combined_tables_gather_runs_into_row_groups(scenario, tmp_path, monkeypatch):
    """A row group per run would make the writers' metadata grow with the runs."""
    monkeypatch.setattr(parts_module, "ROW_GROUP_ROWS", 100)
    specs = plan_runs(scenario)
    folder = tmp_path / "out"
    store = prepare(folder, scenario, resume=False)
    with sweep_module.SerialExecutor() as executor:
        run_sweep(specs, store, executor, progress=False)
    write_tables(folder, store, [spec.run_id for spec in specs])
    metadata = pq.ParquetFile(folder / "timeseries.parquet").metadata
    assert metadata.num_rows // len(specs) < 100  # runs smaller than a row group
    assert 1 < metadata.num_row_groups < len(specs)
    # and no more than ROW_GROUP_TABLES runs wait, however few rows they have
    monkeypatch.setattr(parts_module, "ROW_GROUP_TABLES", 3)
    write_tables(folder, PartStore(store.root), [spec.run_id for spec in specs])  # from parts
    assert pq.ParquetFile(folder / "runs.parquet").metadata.num_row_groups == -(-len(specs) // 3)


@pytest.fixture
def results_folder(scenario, tmp_path):
    specs = plan_runs(scenario)
    folder = tmp_path / "results"
    store = prepare(folder, scenario, resume=False)
    with sweep_module.SerialExecutor() as executor:
        run_sweep(specs, store, executor, progress=False)
    write_tables(folder, store, [spec.run_id for spec in specs])
    return folder


@pytest.mark.parametrize("pool_rows", [97, 1 << 20])
def test_pooled_cohorts_give_the_survival_curves_of_the_whole_table(
    results_folder, monkeypatch, pool_rows, tmp_path
):
    """A few hundred rows at a time (runs split across batches) or all at once: same curves.

    In a folder without ``relationships.parquet`` (written before it existed): with it,
    the report's survival comes from the relationships and the lean load pools nothing.
    """
    monkeypatch.setattr(report_module, "POOL_ROWS", pool_rows)
    older = tmp_path / "older"
    shutil.copytree(results_folder, older)
    (older / "relationships.parquet").unlink()
    assert report_module.load_results(results_folder, lean=True).cohorts.empty
    whole = report_module.load_results(older)
    lean = report_module.load_results(older, lean=True)
    assert len(lean.cohorts) < len(whole.cohorts) / 4
    for keys in (["label", "setting"], ["firm"], ["strategy", "setting"]):
        pd.testing.assert_frame_equal(
            retention.cohort_survival(lean.cohorts, keys),
            retention.cohort_survival(whole.cohorts, keys),
            check_exact=True,
        )
    # only the report's columns of the timeseries, every row
    assert len(lean.timeseries) == len(whole.timeseries)
    assert set(lean.timeseries.columns) < set(whole.timeseries.columns)


def _churn_by_stage_run_by_run(timeseries, keys):
    """churn_by_stage as it was: a loop over groups and runs (the reference)."""
    rows = []
    for group, frame in timeseries.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        total = sum(frame[f"defections_{s}"].sum() for s in retention.ACTIVE_STAGES)
        for stage in retention.ACTIVE_STAGES:
            lost = frame.loc[frame["period"] >= 1, f"defections_{stage}"].sum()
            exposure = 0
            for _, one in frame.groupby("run_id", sort=False):
                exposure += one.loc[one["period"] < one["period"].max(), stage].sum()
            rows.append(
                {
                    **dict(zip(keys, group, strict=True)),
                    "stage": stage,
                    "defections": int(lost),
                    "share": lost / total if total else np.nan,
                    "exposure": int(exposure),
                    "hazard": lost / exposure if exposure else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_churn_by_stage_equals_the_run_by_run_sums(results_folder):
    timeseries = report_module.load_results(results_folder, lean=True).timeseries
    for keys in (["label", "setting"], ["firm"]):
        pd.testing.assert_frame_equal(
            retention.churn_by_stage(timeseries, keys),
            _churn_by_stage_run_by_run(timeseries, keys),
            check_exact=True,
        )
