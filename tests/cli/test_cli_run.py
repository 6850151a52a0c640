"""``run.py run``: the results folder, the printed table, --quiet, --help, validate."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.metrics import OUTCOME_COLUMNS
from analysis.tables import format_table, mean_ci, strategy_setting_table, t_quantile
from cli.main import main
from experiments.runner import TIMESERIES_COLUMNS
from experiments.scenario import load_scenario
from experiments.sweep import plan_runs
from sim.config import Config, FirmConfig

IDENTITY = ["run_id", "point", "replication", "seed", "firm", "strategy", "setting"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_text, run_py):
    """The tiny scenario run once by the real command (a subprocess) into the default folder."""
    here = tmp_path_factory.mktemp("run")
    path = here / "tiny.yaml"
    path.write_text(tiny_text)
    result = subprocess.run(
        [sys.executable, str(run_py), "run", "tiny.yaml", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=here,
    )
    return result, here / "results" / "tiny", path


def test_the_command_succeeds_and_writes_every_file(finished):
    result, folder, _ = finished
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == [
        ".crm-sim",  # the marker: the files crm-sim wrote here
        "cohorts.parquet",
        "customers.parquet",
        "figures",
        "manifest.json",
        "parts",
        "relationships.parquet",
        "report.html",
        "report.md",
        "runs.parquet",
        "scenario.resolved.yaml",
        "scenario.yaml",
        "summary.md",
        "timeseries.parquet",
    ]  # no policies.parquet: no firm runs a policy
    assert "6/6" in result.stderr  # the progress bar: runs done / total
    assert "Traceback" not in result.stderr


def test_runs_parquet_is_one_row_per_run_and_firm(finished):
    _, folder, path = finished
    runs = pd.read_parquet(folder / "runs.parquet")
    assert list(runs.columns) == [*IDENTITY, "market.setting", *OUTCOME_COLUMNS]
    assert len(runs) == 6 * 3
    assert not runs.duplicated(["run_id", "firm"]).any()
    specs = plan_runs(load_scenario(path))
    assert list(runs["run_id"].unique()) == [s.run_id for s in specs]
    assert dict(zip(runs["run_id"], runs["seed"], strict=True)) == {s.run_id: s.seed for s in specs}
    assert (runs["setting"] == runs["market.setting"]).all()
    assert set(runs["strategy"]) == {"clasp", "zipper", "velcro"}
    assert runs["retention_rate"].between(0, 1).all()
    assert runs["satisfied_defector_share"].dropna().between(0, 1).all()
    margin = FirmConfig.model_fields["margin"].default  # the tiny firms keep the default
    # contribution is summed customer by customer on float32 sales: equal to the revenue's
    # margin up to rounding on the scale of the revenue (profit itself may be near 0)
    assert np.allclose(
        runs["profit"],
        runs["revenue"] * margin - runs["cost"],
        rtol=0,
        atol=1e-5 * runs["revenue"].abs().max(),
    )


def test_timeseries_parquet_is_one_row_per_run_period_and_firm(finished):
    _, folder, _ = finished
    timeseries = pd.read_parquet(folder / "timeseries.parquet")
    assert list(timeseries.columns) == [
        "run_id",
        "point",
        "replication",
        "period",
        "firm",
        "strategy",
        "setting",
        "market.setting",
        *TIMESERIES_COLUMNS,
    ]
    assert len(timeseries) == 6 * 13 * 3
    assert not timeseries.duplicated(["run_id", "period", "firm"]).any()
    runs = pd.read_parquet(folder / "runs.parquet")
    later = timeseries[timeseries["period"] >= 1]
    retention = later.groupby(["run_id", "firm"], sort=False)["retention"].mean()
    np.testing.assert_allclose(retention.to_numpy(), runs["retention_rate"].to_numpy())


def test_the_resolved_scenario_rebuilds_every_points_configuration(finished):
    _, folder, path = finished
    resolved = yaml.safe_load((folder / "scenario.resolved.yaml").read_text())
    scenario = load_scenario(path)
    assert resolved["name"] == "tiny"
    assert [p["values"] for p in resolved["points"]] == [p.values for p in scenario.points]
    for written, point in zip(resolved["points"], scenario.points, strict=True):
        assert Config.model_validate(written["config"]) == point.config
        assert written["config"]["market"]["imitation"] is not None  # defaults filled in
    assert (folder / "scenario.yaml").read_text() == path.read_text()


def test_the_manifest_records_provenance(finished):
    _, folder, path = finished
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["runs"] == {"total": 6, "ok": 6, "failed": 0, "resumed": 0}
    assert manifest["package"] == {"name": "crm-sim", "version": "0.1.0"}
    assert manifest["libraries"]["numpy"] == np.__version__
    assert manifest["libraries"]["pandas"] == pd.__version__
    assert manifest["git"] is None or len(manifest["git"]["commit"]) == 40
    assert manifest["seeds"]["scenario"] == [5]
    assert manifest["seeds"]["runs"] == {s.run_id: s.seed for s in plan_runs(load_scenario(path))}
    assert manifest["started"] <= manifest["finished"]
    assert manifest["engine"] == "local" and manifest["workers"] == 2
    assert manifest["failures"] == []


def test_the_table_is_printed_and_in_the_summary(finished):
    result, folder, _ = finished
    runs = pd.read_parquet(folder / "runs.parquet")
    table = strategy_setting_table(runs, ["market.setting"])
    assert result.stdout.strip() == format_table(table)
    header = result.stdout.splitlines()[0].split()
    assert header[:3] == ["strategy", "setting", "runs"]
    rows = [line.split()[:3] for line in result.stdout.splitlines()[2:]]
    assert rows == [
        [s, t, "3"] for s in ("clasp", "zipper", "velcro") for t in ("traditional", "ecommerce")
    ]
    clasp = runs[(runs["strategy"] == "clasp") & (runs["setting"] == "ecommerce")]
    assert f"{clasp['retention_rate'].mean():.4f}" in result.stdout.splitlines()[3]
    summary = (folder / "summary.md").read_text()
    assert "| clasp | ecommerce | 3 |" in summary
    assert "6 ok, 0 failed" in summary


def test_quiet_prints_nothing(write_scenario, tmp_path, capsys):
    assert (
        main(
            [
                "run",
                str(write_scenario()),
                "--out",
                str(tmp_path / "o"),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "o" / "runs.parquet").exists()


@pytest.mark.parametrize("command", [[], ["run"], ["validate"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: run.py")
    for word in {
        "": ["run", "validate"],
        "run": ["--out", "--seed", "--workers", "--dask", "--resume", "--quiet"],
        "validate": ["FILE"],
    }["".join(command)]:
        assert word in text


def test_validate_accepts_good_files(write_scenario, capsys):
    paths = [write_scenario(name="a.yaml"), write_scenario(name="b.yaml")]
    assert main(["validate", *map(str, paths)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{p}: ok (tiny: 2 points x 3 replications = 6 runs)" for p in paths]


def test_the_ci_is_a_t_interval():
    assert t_quantile(19) == pytest.approx(2.0930, abs=1e-4)
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4)
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    n, mean, low, high = mean_ci(values)
    half = 2.7764451 * np.sqrt(2.5) / np.sqrt(5)
    assert (n, mean) == (5, 3.0)
    assert (low, high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert mean_ci(pd.Series([2.0]))[1:3] == (2.0, pytest.approx(np.nan, nan_ok=True))


def test_the_table_averages_firms_of_one_strategy_within_a_run_first():
    runs = pd.DataFrame(
        {
            "run_id": ["r0", "r0", "r1", "r1"],
            "strategy": ["clasp", "clasp", "clasp", "clasp"],
            "setting": "traditional",
            "retention_rate": [0.5, 0.7, 0.8, 0.8],
            "customer_equity": [10.0, 30.0, 40.0, 40.0],
        }
    )
    (row,) = strategy_setting_table(runs).to_dict("records")
    assert row["runs"] == 2
    assert row["retention_rate"] == pytest.approx(0.7)
    assert row["customer_equity"] == pytest.approx(30.0)
    half = 12.7062047 * np.std([20.0, 40.0], ddof=1) / np.sqrt(2)
    assert row["customer_equity_low"] == pytest.approx(30.0 - half)
