"""Sweeps researchers can trust: seeds from identity, the same results on any engine,
failures isolated, resume after an interruption (even kill -9) without duplicates.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from experiments import runner
from experiments.folders import prepare
from experiments.runner import run_once
from experiments.scenario import load_scenario
from experiments.sweep import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    plan_runs,
    run_seed,
    run_sweep,
)
from store.results import write_tables

RUN_PY = Path(__file__).resolve().parents[2] / "run.py"


def fail_in_ecommerce(config, seed):
    """A run function that raises for every e-commerce run (module level: picklable)."""
    if config.market.setting == "ecommerce":
        raise RuntimeError(f"deliberate failure for seed {seed}")
    return run_once(config, seed)


def die_in_ecommerce(config, seed):
    """A run function whose worker process dies in every e-commerce run."""
    if config.market.setting == "ecommerce":
        os._exit(3)
    return run_once(config, seed)


def sweep(folder, scenario, executor, run=run_once):
    """Run the whole scenario into ``folder``; return the report and runs.parquet."""
    store = prepare(folder, scenario, resume=False)
    specs = plan_runs(scenario)
    with executor:
        report = run_sweep(specs, store, executor, run=run, progress=False)
    write_tables(folder, store, [spec.run_id for spec in specs])
    return report, pd.read_parquet(folder / "runs.parquet")


# ---------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------


def reversed_tiny(write_scenario) -> Path:
    """The tiny scenario with its settings listed the other way round."""
    text = write_scenario().read_text()
    assert "[traditional, ecommerce]" in text
    return write_scenario(
        text.replace("[traditional, ecommerce]", "[ecommerce, traditional]"), name="reversed.yaml"
    )


def test_seeds_come_from_identity_not_from_position(write_scenario):
    forward = load_scenario(write_scenario())
    backward = load_scenario(reversed_tiny(write_scenario))
    seeds_forward = {
        (s.values["market.setting"], s.replication): s.seed for s in plan_runs(forward)
    }
    seeds_backward = {
        (s.values["market.setting"], s.replication): s.seed for s in plan_runs(backward)
    }
    # the same run sits at another queue position, and keeps its seed
    assert plan_runs(forward)[0].values != plan_runs(backward)[0].values
    assert seeds_forward == seeds_backward
    assert len(set(seeds_forward.values())) == len(seeds_forward)
    spec = plan_runs(forward)[4]
    point = forward.points[spec.point]
    assert spec.seed == run_seed(5, point.key, spec.replication)
    # a different scenario seed changes every run's seed
    reseeded = load_scenario(write_scenario(), {"simulation.seed": 6})
    assert not {s.seed for s in plan_runs(reseeded)} & set(seeds_forward.values())


# ---------------------------------------------------------------------------
# the same results on 1 worker, 2 workers and Dask
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster


def test_results_do_not_depend_on_worker_count_or_engine(
    write_scenario, tmp_path, dask_cluster, capsys
):
    path = write_scenario()
    frames = {}
    on_cluster = write_scenario(  # the same scenario, sent to the cluster by its YAML
        path.read_text() + f"execution: {{engine: dask, address: "
        f"'{dask_cluster.scheduler_address}'}}\n",
        name="on_cluster.yaml",
    )
    for label, scenario, extra in (
        ("one", path, ["--workers", "1"]),
        ("two", path, ["--workers", "2"]),
        ("dask", path, ["--dask", dask_cluster.scheduler_address]),
        ("yaml", on_cluster, []),
    ):
        out = tmp_path / label
        assert main(["run", str(scenario), "--out", str(out), "--quiet", *extra]) == 0
        frames[label] = (
            pd.read_parquet(out / "runs.parquet"),
            pd.read_parquet(out / "timeseries.parquet"),
            (out / "runs.parquet").read_bytes(),
        )
        assert (
            json.loads((out / "manifest.json").read_text())["engine"]
            == ({"one": "serial", "two": "local", "dask": "dask", "yaml": "dask"}[label])
        )
    runs, timeseries, raw = frames["one"]
    assert len(runs) == 6 * 3
    assert list(runs["run_id"]) == sorted(runs["run_id"])
    for label in ("two", "dask", "yaml"):
        pd.testing.assert_frame_equal(frames[label][0], runs, check_exact=True)
        pd.testing.assert_frame_equal(frames[label][1], timeseries, check_exact=True)
        assert frames[label][2] == raw  # byte-identical files
    # and the results are not a constant: the settings and replications differ
    assert runs.groupby("setting")["retention_rate"].mean().nunique() == 2
    assert runs["customer_equity"].nunique() == len(runs)


def test_a_dask_client_and_the_dask_local_engine_agree_with_the_serial_run(
    write_scenario, tmp_path, dask_cluster
):
    scenario = load_scenario(write_scenario())
    _, serial = sweep(tmp_path / "serial", scenario, SerialExecutor())
    from distributed import Client

    with Client(dask_cluster) as client:
        _, on_dask = sweep(tmp_path / "client", scenario, DaskExecutor(client=client))
    pd.testing.assert_frame_equal(on_dask, serial, check_exact=True)
    local = load_scenario(
        write_scenario(
            write_scenario().read_text() + "execution: {engine: dask-local, workers: 1}\n",
            name="dask_local.yaml",
        )
    )
    assert local.execution.engine == "dask-local"
    _, on_local_cluster = sweep(tmp_path / "local", local, DaskExecutor(workers=1, processes=False))
    pd.testing.assert_frame_equal(on_local_cluster, serial, check_exact=True)


# ---------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "executor", [SerialExecutor, lambda: ProcessExecutor(2)], ids=["serial", "process pool"]
)
def test_a_failing_run_is_recorded_and_the_others_go_on(executor, write_scenario, tmp_path):
    scenario = load_scenario(write_scenario())
    report, runs = sweep(tmp_path / "out", scenario, executor(), run=fail_in_ecommerce)
    specs = {s.run_id: s for s in plan_runs(scenario)}
    failed = [f["run_id"] for f in report.failures]
    assert failed == ["p001-r000", "p001-r001", "p001-r002"]
    assert report.ok == 3
    assert sorted(runs["run_id"].unique()) == ["p000-r000", "p000-r001", "p000-r002"]
    for record in report.failures:
        assert record["seed"] == specs[record["run_id"]].seed
        assert record["error"] == f"RuntimeError: deliberate failure for seed {record['seed']}"
        assert "fail_in_ecommerce" in record["traceback"]
        stored = json.loads(
            (tmp_path / "out" / "parts" / "failed" / f"{record['run_id']}.json").read_text()
        )
        assert stored["seed"] == record["seed"]


def test_a_dying_worker_fails_its_runs_and_resume_finishes_them(write_scenario, tmp_path):
    scenario = load_scenario(write_scenario())
    specs = plan_runs(scenario)
    report, _ = sweep(tmp_path / "out", scenario, ProcessExecutor(2), run=die_in_ecommerce)
    failed = {f["run_id"] for f in report.failures}
    assert {s.run_id for s in specs if s.point == 1} <= failed
    assert report.ok + len(failed) == len(specs)
    assert all("BrokenProcessPool" in f["error"] for f in report.failures)

    store = prepare(tmp_path / "out", scenario, resume=True)
    with SerialExecutor() as executor:
        resumed = run_sweep(specs, store, executor, progress=False)
    assert (resumed.resumed, resumed.ok, resumed.failures) == (report.ok, len(specs), [])


def test_the_command_names_the_failures_and_exits_1(write_scenario, tmp_path, monkeypatch, capsys):
    class BrokenInEcommerce(runner.CRMModel):
        def run(self, periods=None):
            if self.config.market.setting == "ecommerce":
                raise RuntimeError("boom")
            return super().run(periods)

    monkeypatch.setattr(runner, "CRMModel", BrokenInEcommerce)
    out = tmp_path / "out"
    code = main(["run", str(write_scenario()), "--out", str(out), "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "3 of 6 runs failed" in captured.err
    seeds = {s.run_id: s.seed for s in plan_runs(load_scenario(write_scenario()))}
    for run_id in ("p001-r000", "p001-r001", "p001-r002"):
        assert f"{run_id} (seed {seeds[run_id]}): RuntimeError: boom" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["runs"] == {"total": 6, "ok": 3, "failed": 3, "resumed": 0}
    assert [f["run_id"] for f in manifest["failures"]] == ["p001-r000", "p001-r001", "p001-r002"]
    assert len(pd.read_parquet(out / "runs.parquet")) == 3 * 3
    assert "p001-r001" in (out / "summary.md").read_text()
    # the table of the runs that finished is still printed
    assert "traditional" in captured.out and "ecommerce" not in captured.out

    # fixed: --resume runs only the failed ones, and the folder is complete
    monkeypatch.setattr(runner, "CRMModel", BrokenInEcommerce.__mro__[1])
    assert (
        main(
            [
                "run",
                str(write_scenario()),
                "--out",
                str(out),
                "--workers",
                "1",
                "--resume",
                "--quiet",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == {"total": 6, "ok": 6, "failed": 0, "resumed": 3}
    assert manifest["failures"] == []
    assert not list((out / "parts" / "failed").iterdir())


# ---------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------


def test_resume_completes_an_interrupted_sweep_exactly(write_scenario, tmp_path):
    scenario = load_scenario(write_scenario())
    specs = plan_runs(scenario)
    _, reference = sweep(tmp_path / "reference", scenario, SerialExecutor())

    folder = tmp_path / "interrupted"
    store = prepare(folder, scenario, resume=False)
    with SerialExecutor() as executor:
        run_sweep(specs[:2], store, executor, progress=False)
    # what a kill leaves: a half-written temporary file, and a run killed between its
    # timeseries part and its runs part
    (store.runs / ".p000-r002.parquet.999.tmp").write_bytes(b"PAR1 half")
    result = run_once(specs[3].config, specs[3].seed)
    from experiments.sweep import part_frames

    _, timeseries = part_frames(specs[3], result)
    timeseries.to_parquet(store.timeseries / f"{specs[3].run_id}.parquet")
    assert store.finished() == {specs[0].run_id, specs[1].run_id}

    store = prepare(folder, scenario, resume=True)
    assert not list(store.runs.glob(".*.tmp"))
    with SerialExecutor() as executor:
        report = run_sweep(specs, store, executor, progress=False)
    assert (report.resumed, report.ok, report.failures) == (2, 6, [])
    write_tables(folder, store, [spec.run_id for spec in specs])
    resumed = pd.read_parquet(folder / "runs.parquet")
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)
    assert not resumed.duplicated(["run_id", "firm"]).any()


def test_a_fresh_run_replaces_earlier_results(write_scenario, tmp_path, capsys):
    path, out = write_scenario(), str(tmp_path / "out")
    assert main(["run", str(path), "--out", out, "--workers", "1", "--quiet"]) == 0
    again = ["run", str(path), "--out", out, "--workers", "1", "-q", "--replications", "1"]
    assert main([*again, "--force"]) == 0
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert sorted(runs["run_id"].unique()) == ["p000-r000", "p001-r000"]
    assert len(list((tmp_path / "out" / "parts" / "runs").glob("*.parquet"))) == 2


KILLABLE = """\
name: killable
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 1500, periods: 24, seed: 17, replications: 12}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""


def test_resume_after_kill_9_gives_the_uninterrupted_results(write_scenario, tmp_path):
    path = write_scenario(KILLABLE, name="killable.yaml")
    total = 2 * 12
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            str(RUN_PY),
            "run",
            str(path),
            "--out",
            str(killed),
            "--workers",
            "2",
            "--quiet",
        ],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parts = killed / "parts" / "runs"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if parts.exists() and len(list(parts.glob("*.parquet"))) >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, mid-sweep
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    finished = len(list(parts.glob("*.parquet")))
    assert 3 <= finished < total, "the sweep was not interrupted mid-way"
    assert not (killed / "runs.parquet").exists()

    # results do not depend on the worker count (tested above): finish on one, in-process
    assert (
        main(["run", str(path), "--out", str(killed), "--workers", "1", "--resume", "--quiet"]) == 0
    )
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["runs"]["resumed"] >= finished
    assert manifest["runs"]["ok"] == total

    reference = tmp_path / "reference"
    assert main(["run", str(path), "--out", str(reference), "--workers", "1", "--quiet"]) == 0
    resumed = pd.read_parquet(killed / "runs.parquet")
    pd.testing.assert_frame_equal(
        resumed, pd.read_parquet(reference / "runs.parquet"), check_exact=True
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "timeseries.parquet"),
        pd.read_parquet(reference / "timeseries.parquet"),
        check_exact=True,
    )
    assert not resumed.duplicated(["run_id", "firm"]).any()
    assert resumed["run_id"].nunique() == total
    assert np.array_equal(resumed["run_id"].unique(), sorted(resumed["run_id"].unique()))


# ---------------------------------------------------------------------------
# combined tables written while the sweep runs
# ---------------------------------------------------------------------------

TABLES = ("runs", "timeseries", "cohorts", "customers", "policies")


def _tables(folder):
    return {
        name: pd.read_parquet(folder / f"{name}.parquet")
        for name in TABLES
        if (folder / f"{name}.parquet").exists()
    }


STREAMED_SCENARIOS = {
    # repair_window is an integer in one point and a float in the other: the
    # tables whose column changes type are combined from the parts instead
    "types_change": """\
name: streamed
firms: [{name: A}, {name: B}]
simulation: {customers: 200, periods: 6, seed: 5, replications: 2}
sweep:
  grid:
    market.repair_window: [1, 1.5]
    market.setting: [traditional, ecommerce]
""",
    "policies": """\
name: streamed
firms: [{name: A, policies: [{name: onboarding}]}, {name: B}]
simulation: {customers: 200, periods: 6, seed: 5, replications: 3}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
""",
}


@pytest.mark.parametrize("case", sorted(STREAMED_SCENARIOS))
def test_tables_streamed_during_the_sweep_equal_the_tables_combined_from_parts(
    write_scenario, tmp_path, case
):
    """Streaming the combined tables in run order while the runs finish (some
    failing) gives the same tables as combining the parts afterwards."""
    scenario = load_scenario(write_scenario(STREAMED_SCENARIOS[case]))
    specs = plan_runs(scenario)
    streamed = tmp_path / "streamed"
    store = prepare(streamed, scenario, resume=False)
    with ProcessExecutor(2) as executor:
        report = run_sweep(specs, store, executor, run=fail_in_ecommerce, progress=False)
    assert report.failures and report.ok
    write_tables(streamed, store, [spec.run_id for spec in specs])
    assert not list(store.root.glob(".stream-*"))
    combined = tmp_path / "combined"  # the same parts, by a store that streamed nothing
    combined.mkdir()
    write_tables(combined, type(store)(store.root), [spec.run_id for spec in specs])
    got, expected = _tables(streamed), _tables(combined)
    assert set(got) == set(expected) and {"runs", "timeseries", "cohorts"} <= set(got)
    assert ("policies" in got) == (case == "policies")
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True)


def test_a_partial_sweep_does_not_leave_a_stream_for_write_tables(write_scenario, tmp_path):
    scenario = load_scenario(write_scenario())
    specs = plan_runs(scenario)
    store = prepare(tmp_path / "out", scenario, resume=False)
    with SerialExecutor() as executor:
        run_sweep(specs[:2], store, executor, progress=False)
    # runs 0 and 1 only: the stream matches
    write_tables(tmp_path / "out", store, [spec.run_id for spec in specs])
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert sorted(runs["run_id"].unique()) == [specs[0].run_id, specs[1].run_id]
    assert not list(store.root.glob(".stream-*"))


def test_the_dask_local_cluster_listens_on_this_computer_only():
    """The scheduler, the workers and the dashboard of ``dask-local`` bind 127.0.0.1."""
    import psutil

    from experiments.sweep import DaskExecutor

    def listening():  # the sockets this process and its children listen on
        tree = [psutil.Process(), *psutil.Process().children(recursive=True)]
        return {c.laddr for p in tree for c in p.net_connections("tcp") if c.status == "LISTEN"}

    before = listening()  # e.g. another test's cluster in this process
    with DaskExecutor(workers=1) as executor:
        assert executor.address.startswith("tcp://127.0.0.1:")
        assert "127.0.0.1" in executor._client.dashboard_link
        opened = listening() - before
    assert opened and {address.ip for address in opened} == {"127.0.0.1"}, opened


@pytest.mark.slow  # starts a scheduler and two worker processes, which load the kernels
def test_a_sweep_sent_by_address_to_a_cluster_of_worker_processes_matches_a_local_run(
    write_scenario, tmp_path
):
    """``--dask tcp://...`` on a cluster whose workers are processes of their own, as on
    a real cluster (docs/experiments.md): the same tables, to the byte, as one local worker."""
    distributed = pytest.importorskip("distributed")
    import logging

    path = write_scenario()
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        with distributed.Client(address) as client:  # the workers are other processes
            assert os.getpid() not in set(client.run(os.getpid).values())
        dask_run = ["--out", str(tmp_path / "dask"), "--quiet", "--dask", address, "--no-report"]
        assert main(["run", str(path), *dask_run]) == 0
    local_run = ["--out", str(tmp_path / "one"), "--quiet", "--workers", "1", "--no-report"]
    assert main(["run", str(path), *local_run]) == 0
    for table in ("runs.parquet", "timeseries.parquet", "cohorts.parquet"):
        local = (tmp_path / "one" / table).read_bytes()
        assert (tmp_path / "dask" / table).read_bytes() == local, table
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["engine"] == "dask"
    runs = pd.read_parquet(tmp_path / "one" / "runs.parquet")
    assert runs["customer_equity"].nunique() == len(runs)  # not a constant
