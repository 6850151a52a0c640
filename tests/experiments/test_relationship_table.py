"""relationships.parquet: written by a sweep, keys unique across runs and firms, survival-ready."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments.runner import RELATIONSHIP_COLUMNS, run_once
from experiments.sweep import customer_keys
from sim import default_config

SCENARIO = """\
name: keys
firms:
  - {name: A, strategy: clasp, policies: [{name: win_back, from_rivals: true}]}
  - {name: B, strategy: zipper}
simulation: {customers: 400, periods: 30, replications: 2, warm_up: 6}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    path = root / "keys.yaml"
    path.write_text(SCENARIO)
    out = root / "results"
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, str(repo / "run.py"), "run", str(path), "--out", str(out)]
    subprocess.run([*command, "--workers", "1", "-q", "--no-report"], check=True, cwd=repo)
    return out


def test_run_once_yields_the_table():
    config = default_config(simulation={"customers": 300, "periods": 12})
    table = run_once(config, 3).relationships
    assert list(table.columns) == list(RELATIONSHIP_COLUMNS)
    assert set(table["strategy"].astype(str)) <= {"clasp", "zipper", "velcro"}
    assert (table["setting"] == "traditional").all()
    assert run_once(config, 3, relationships=False).relationships is None


def test_the_folder_holds_replication_zero_of_each_point(folder):
    table = pd.read_parquet(folder / "relationships.parquet")
    assert list(table.columns[:4]) == ["run_id", "point", "replication", "customer_key"]
    assert set(table["replication"]) == {0}
    assert set(table["point"]) == {0, 1}
    assert not (folder / "parts" / "relationships").exists() or all(
        name.stem.endswith("-r000") or name.stem.endswith("-r0")
        for name in (folder / "parts" / "relationships").glob("*.parquet")
    )


def test_keys_are_unique_across_runs_and_firms(folder):
    table = pd.read_parquet(folder / "relationships.parquet")
    # every run numbers its customers from 0: the bare identities collide between runs
    by_run = table.groupby("run_id")["customer"].apply(set)
    assert by_run.iloc[0] & by_run.iloc[1]
    # the key names one customer of one run, whatever the firm
    runs_per_key = table.groupby("customer_key")["run_id"].nunique()
    assert (runs_per_key == 1).all()
    assert (table.groupby("customer_key")["customer"].nunique() == 1).all()
    assert table.groupby("customer_key")["firm"].nunique().max() == 2  # switchers keep theirs
    # and a relationship is one row: key, firm and start
    assert not table.duplicated(["customer_key", "firm", "start"]).any()
    expected = table["run_id"].astype(str) + "/" + table["customer"].astype(str)
    assert (table["customer_key"] == expected).all()
    assert customer_keys("p001-r000", [7, 12]).tolist() == ["p001-r000/7", "p001-r000/12"]


def test_column_types_in_parquet(folder):
    schema = pq.read_schema(folder / "relationships.parquet")
    types = {name: str(schema.field(name).type) for name in schema.names}
    assert types["customer_key"] == "string"
    assert types["customer"] == "int64"
    assert types["duration"] == "int32" and types["entry"] == "int32"
    assert types["event"] == "int8" and types["from_decline"] == "bool"
    for name in ("firm", "reason", "stage_reached", "trajectory"):
        assert types[name].startswith("dictionary"), name


def test_warm_up_entries_in_the_folder(folder):
    table = pd.read_parquet(folder / "relationships.parquet")
    assert (table["end"] >= 1).all()
    np.testing.assert_array_equal(table["entry"], np.maximum(0, -table["start"]))
    assert (table["entry"] > 0).any()
