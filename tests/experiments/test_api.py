"""experiments.api.outcomes: parameters in, runs.parquet's rows out, without files."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydantic
import pytest

from analysis.metrics import OUTCOME_COLUMNS
from experiments.api import outcomes
from experiments.scenario import load_scenario
from experiments.schema import ScenarioError
from sim import default_config

REPO = Path(__file__).resolve().parents[2]
QUIET = ("--quiet", "--no-report", "--workers", "1")

TINY = """\
name: tiny_api
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 12, seed: 5, replications: 2}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""


def test_a_scenario_gives_the_rows_run_py_writes_to_runs_parquet(tmp_path):
    scenario = tmp_path / "tiny_api.yaml"
    scenario.write_text(TINY)
    out = tmp_path / "results"
    subprocess.run(
        [sys.executable, str(REPO / "run.py"), "run", str(scenario), "--out", str(out), *QUIET],
        check=True,
        cwd=REPO,
    )
    written = pd.read_parquet(out / "runs.parquet")
    table = outcomes(scenario)
    assert len(table) == 2 * 2 * 2  # points x replications x firms
    assert list(table.columns) == list(written.columns)
    pd.testing.assert_frame_equal(table, written, check_dtype=False, check_categorical=False)
    assert set(OUTCOME_COLUMNS) <= set(table.columns)


def test_parameters_and_replications_apply_to_a_file_and_to_a_loaded_scenario(tmp_path):
    scenario = tmp_path / "tiny_api.yaml"
    scenario.write_text(TINY)
    changed = {"relationship.referral_rate": 0.02, "simulation.periods": 6}
    from_file = outcomes(scenario, changed, replications=1)
    from_loaded = outcomes(load_scenario(scenario), changed, replications=1)
    pd.testing.assert_frame_equal(from_file, from_loaded)
    assert len(from_file) == 2 * 1 * 2
    assert not from_file["customer_equity"].equals(
        outcomes(scenario, replications=1)["customer_equity"]
    )


def test_a_dict_of_parameters_runs_the_defaults_with_them_set():
    parameters = {
        "simulation.customers": 300,
        "simulation.periods": 12,
        "market.setting": "ecommerce",
        "firms.0.price": 1.1,
    }
    table = outcomes(parameters=parameters, replications=2, seed=3)
    assert len(table) == 2 * 3  # replications x the default three firms
    assert set(table["setting"]) == {"ecommerce"}
    assert table["replication"].tolist() == [0, 0, 0, 1, 1, 1]
    config = default_config(
        market={"setting": "ecommerce"},
        simulation={"customers": 300, "periods": 12, "seed": 3, "replications": 2},
    )
    config = config.model_copy(
        update={"firms": (config.firms[0].model_copy(update={"price": 1.1}), *config.firms[1:])}
    )
    pd.testing.assert_frame_equal(table, outcomes(config))
    again = outcomes(parameters=parameters, replications=2, seed=3)
    pd.testing.assert_frame_equal(table, again)  # same seed, same rows


def test_bad_parameters_say_what_is_wrong():
    with pytest.raises(TypeError, match="relationship has no field 'referal_rate'"):
        outcomes(parameters={"relationship.referal_rate": 0.1})
    with pytest.raises(pydantic.ValidationError, match="customers"):
        outcomes(parameters={"simulation.customers": 0})
    with pytest.raises(TypeError, match="not a dict"):
        outcomes({"simulation.customers": 100})


def test_a_bad_scenario_file_is_a_scenario_error(tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("simulation: {customers: -1}\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:1: simulation\.customers"):
        outcomes(scenario)
