"""The ``sensitivity:`` block: validation, the sample -> cells mapping, the indices, the command.

Designs here are tiny (three parameters, 200 customers, 12 periods); the
tests that share the run of the two-method design (144 runs) are marked
slow. The shipped design is checked by the shipped-scenarios test.
"""

import shutil

import pandas as pd
import pytest

from analysis.sensitivity import MARKET, SensitivityError, indices
from cli.main import main
from experiments.scenario import ScenarioError, load_scenario
from experiments.sensitivity import cell_count
from experiments.sweep import plan_runs
from sim.settings import SETTINGS

HEAD = """\
name: sens
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 200, periods: 12, seed: 3, replications: 2}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""

DESIGN = (
    HEAD
    + """\
sensitivity:
  methods: [morris, sobol]
  parameters:
    market.search_probability: [0.02, 0.4]
    simulation.discount_rate: [0.005, 0.03]
    market.switching_cost_scale: {scale: [0.5, 1.5]}
  morris: {trajectories: 4, levels: 4}
  sobol: {base_samples: 4}
  seed: 11
  outputs: [retention_rate, customer_equity]
"""
)
"""2 settings x (Morris 4 x 4 + Sobol 4 x 5) cells = 72 points, 144 runs."""


def problems_of(path):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


def block(parameters: str, extra: str = "") -> str:
    return HEAD + "sensitivity:\n  parameters:\n" + parameters + extra


BAD = {
    # case: (scenario text, the line and message expected)
    "unknown path": (
        block("    market.search_probabilty: [0.05, 0.3]\n"),
        ":11: sensitivity.parameters['market.search_probabilty']: no such parameter: market "
        "has no field 'search_probabilty'; did you mean 'search_probability'?",
    ),
    "low not below high": (
        block("    market.search_probability: [0.3, 0.1]\n"),
        ":11: sensitivity.parameters['market.search_probability']: low (0.3) must be below "
        "high (0.1)",
    ),
    "outside the field's range": (
        block("    market.search_probability: [0.1, 1.5]\n"),
        ":11: sensitivity.parameters['market.search_probability']: bounds reach 1.5, outside "
        "the field's allowed range: 0 <= value <= 1",
    ),
    "a scale that leaves the range in one setting": (
        # 0.02 x 20 = 0.4 in traditional commerce, 0.06 x 20 = 1.2 online
        block("    market.reentry_rate: {scale: [0.5, 20]}\n"),
        "outside the field's allowed range: 0 <= value <= 1",
    ),
    "a scale of a zero value": (
        block("    market.expectation_drift: {scale: [0.5, 1.5]}\n"),
        "the value is 0 at sweep point {'market.setting': 'traditional'}, so scaling cannot "
        "move it; give absolute bounds [low, high]",
    ),
    "not a number field": (
        block("    relationship.min_age_formation: [1, 6]\n"),
        "is not a number field (int); only number fields with a continuous range",
    ),
    "not bounds": (
        block("    market.search_probability: 0.2\n"),
        "expected bounds [low, high] (two numbers) or {scale: [low, high]}, got 0.2",
    ),
    "also swept": (
        block("    market.setting: [0, 1]\n"),
        "also swept under 'sweep'; vary a parameter in one place only",
    ),
    "unknown method": (
        block("    market.search_probability: [0.05, 0.3]\n", "  methods: [morris, sobl]\n"),
        ":12: sensitivity.methods.1: 'sobl' is not allowed; valid values: 'morris', 'sobol'",
    ),
    "odd levels": (
        block(
            "    market.search_probability: [0.05, 0.3]\n",
            "  morris: {trajectories: 4, levels: 3}\n",
        ),
        ":12: sensitivity.morris.levels: 3 levels; use an even number",
    ),
    "too few trajectories": (
        block("    market.search_probability: [0.05, 0.3]\n", "  morris: {trajectories: 1}\n"),
        ":12: sensitivity.morris.trajectories: 1 is out of range; allowed: 2 <= value",
    ),
    "sobol size not a power of 2": (
        block("    market.search_probability: [0.05, 0.3]\n", "  sobol: {base_samples: 48}\n"),
        ":12: sensitivity.sobol.base_samples: 48 is not a power of 2 (the Sobol sequence "
        "needs one); use 32 or 64",
    ),
    "unknown output": (
        block(
            "    market.search_probability: [0.05, 0.3]\n",
            "  outputs: [retention, customer_equity]\n",
        ),
        ":12: sensitivity.outputs: unknown output 'retention'; did you mean 'retention_rate'?",
    ),
    "misspelt key": (
        block("    market.search_probability: [0.05, 0.3]\n", "  seeed: 3\n"),
        ":12: sensitivity.seeed: unknown field; did you mean 'seed'?",
    ),
    "empty block": (
        HEAD + "sensitivity:\n",
        ":9: sensitivity: empty: give 'parameters' with [low, high] bounds",
    ),
    "too many runs": (
        block(
            "    market.search_probability: [0.05, 0.3]\n",
            "  methods: sobol\n  sobol: {base_samples: 1048576}\n",
        ),
        ":9: sensitivity: the design expands to 12582912 runs; at most 1000000",
    ),
    "a sample point the model refuses": (
        block("    relationship.trust_break_rate: [0.01, 0.3]\n"),
        "trust_break_rate must be at least trust_build_rate",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_block_is_named_with_file_line_field_and_what_is_allowed(case, write_scenario):
    text, expected = BAD[case]
    path = write_scenario(text)
    found = problems_of(path)
    assert any(str(path) in p and expected in p for p in found), found


def test_the_command_refuses_a_bad_block_without_a_traceback_or_a_folder(
    write_scenario, tmp_path, capsys
):
    path = write_scenario(BAD["unknown path"][0])
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "did you mean 'search_probability'?" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()


def test_the_sample_becomes_cells_at_every_sweep_point_on_common_seeds(write_scenario):
    scenario = load_scenario(write_scenario(DESIGN))
    design = scenario.sensitivity
    assert scenario.sweep_paths == ("market.setting", *design.names)
    assert design.cells_per_point == 4 * 4 + 4 * 5 == cell_count(design.block, 3)
    assert len(scenario.points) == 2 * design.cells_per_point
    row = design.samples["sobol"][7]
    for base, setting in enumerate(("traditional", "ecommerce")):
        point = scenario.points[design.point_index(base, "sobol", 7)]
        assert point.values["market.setting"] == setting
        assert point.config.market.search_probability == row[0]
        assert point.config.simulation.discount_rate == row[1]
        # a relative parameter scales the setting's own value
        preset = SETTINGS[setting]["switching_cost_scale"]
        assert point.config.market.switching_cost_scale == pytest.approx(row[2] * preset)
    # every cell of a setting runs on the same seeds (common random numbers)
    seeds = pd.DataFrame(
        [(s.point // design.cells_per_point, s.replication, s.seed) for s in plan_runs(scenario)],
        columns=["base", "rep", "seed"],
    )
    assert (seeds.groupby(["base", "rep"])["seed"].nunique() == 1).all()
    assert seeds.groupby("base")["seed"].unique().map(tuple).nunique() == 2


def test_the_same_sampling_seed_gives_the_same_cells_and_another_seed_others(write_scenario):
    first = load_scenario(write_scenario(DESIGN, name="a.yaml"))
    again = load_scenario(write_scenario(DESIGN, name="b.yaml"))
    other = load_scenario(write_scenario(DESIGN.replace("seed: 11", "seed: 12"), name="c.yaml"))
    assert [p.values for p in first.points] == [p.values for p in again.points]
    assert [p.values for p in first.points] != [p.values for p in other.points]
    assert [s.seed for s in plan_runs(first)] == [s.seed for s in plan_runs(other)]


@pytest.fixture(scope="module")
def design_run(tmp_path_factory):
    """The tiny design run once on one worker: its folder and its indices."""
    folder = tmp_path_factory.mktemp("sensitivity")
    path = folder / "sens.yaml"
    path.write_text(DESIGN, encoding="utf-8")
    assert main(["run", str(path), "--out", str(folder / "one"), "--workers", "1", "--quiet"]) == 0
    return path, folder / "one", pd.read_csv(folder / "one" / "sensitivity.csv")


def test_a_design_keeps_no_customer_tables(design_run, write_scenario):
    """Hundreds of cells are read through their outcomes; their customer tables are not kept."""
    _, folder, _ = design_run
    assert not (folder / "customers.parquet").exists()
    assert not list((folder / "parts").glob("customers*/*"))
    assert pd.read_parquet(folder / "runs.parquet")["run_id"].nunique() == 144
    # an ordinary sweep still keeps replication 0 of each point
    plain = load_scenario(write_scenario(HEAD, name="plain.yaml"))
    assert [s.keep_customers for s in plan_runs(plain)] == [True, False, True, False]


@pytest.mark.slow
def test_an_inert_parameter_gets_no_index_and_search_probability_a_large_one(design_run):
    """The discount rate only discounts money: it cannot move retention; search moves it."""
    _, folder, table = design_run
    retention = table[table["output"] == "retention_rate"].set_index(
        ["method", "setting", "firm", "parameter"]
    )
    for method, key in (("morris", "mu_star"), ("sobol", "ST")):
        for setting in ("traditional", "ecommerce"):
            for firm in (MARKET, "A", "B"):
                inert = retention.loc[(method, setting, firm, "simulation.discount_rate"), key]
                strong = retention.loc[(method, setting, firm, "market.search_probability"), key]
                assert abs(inert) <= 0.01 * strong, (method, setting, firm, inert, strong)
            market = retention.loc[(method, setting, MARKET, "market.search_probability"), key]
            # Morris: search over [0.02, 0.4] moves the market's monthly retention by about
            # 0.009 offline (settled start: most customers are stable and locked in)
            assert market > (0.005 if method == "morris" else 0.3), (method, setting, market)
    # the discount rate does move customer equity
    equity = table[
        (table["output"] == "customer_equity")
        & (table["method"] == "morris")
        & (table["parameter"] == "simulation.discount_rate")
    ]
    assert (equity["mu_star"] > 0).all()
    assert (folder / "sensitivity.md").read_text().count("simulation.discount_rate") > 0
    assert {"sensitivity_morris.png", "sensitivity_sobol.png"} <= {
        p.name for p in (folder / "figures").iterdir()
    }


@pytest.mark.slow
def test_the_table_has_one_row_per_method_setting_output_firm_and_parameter(design_run):
    _, _, table = design_run
    assert list(table.columns) == [
        "method",
        "setting",
        "output",
        "firm",
        "strategy",
        "parameter",
        "rank",
        "mu_star",
        "mu_star_conf",
        "mu",
        "sigma",
        "S1",
        "S1_conf",
        "ST",
        "ST_conf",
    ]
    assert len(table) == 2 * 2 * 2 * 3 * 3
    assert not table.duplicated(["method", "setting", "output", "firm", "parameter"]).any()
    ranks = table.groupby(["method", "setting", "output", "firm"])["rank"].apply(sorted)
    assert all(r == [1, 2, 3] for r in ranks)


@pytest.mark.slow
def test_one_and_two_workers_give_the_same_indices(write_scenario, tmp_path):
    """A Morris-only design at one sweep point (24 runs), run on 1 and on 2 workers."""
    path = write_scenario(
        DESIGN.replace("methods: [morris, sobol]", "methods: morris").replace(
            "market.setting: [traditional, ecommerce]", "market.setting: [ecommerce]"
        )
    )
    tables = []
    for workers in ("1", "2"):
        folder = tmp_path / f"workers{workers}"
        assert (
            main(
                [
                    "run",
                    str(path),
                    "--out",
                    str(folder),
                    "--workers",
                    workers,
                    "--quiet",
                    "--no-report",
                ]
            )
            == 0
        )
        tables.append(pd.read_csv(folder / "sensitivity.csv"))
    assert len(tables[0]) == 2 * 3 * 3
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


@pytest.mark.slow
def test_resume_after_an_interruption_gives_the_same_table(design_run, tmp_path, capsys):
    path, one, table = design_run
    folder = tmp_path / "resumed"
    parts = folder / "parts"
    # an interrupted run: the finished parts of the uninterrupted one, minus some runs, in
    # a folder crm-sim made (its marker, as a run writes it when it starts)
    shutil.copytree(one / "parts", parts)
    shutil.copy(one / ".crm-sim", folder / ".crm-sim")
    lost = sorted((parts / "runs").glob("*.parquet"))[::7]
    for run in lost:
        run.unlink()
    runs = pd.read_parquet(one / "runs.parquet")
    with pytest.raises(SensitivityError, match=f"{len(lost)} of 144 sensitivity runs are missing"):
        indices(load_scenario(path).sensitivity, runs[~runs["run_id"].isin([p.stem for p in lost])])
    assert (
        main(
            [
                "run",
                str(path),
                "--out",
                str(folder),
                "--workers",
                "1",
                "--resume",
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    assert (
        f'"resumed": {len(runs["run_id"].unique()) - len(lost)}'
        in (folder / "manifest.json").read_text()
    )
    pd.testing.assert_frame_equal(pd.read_csv(folder / "sensitivity.csv"), table, check_exact=True)


@pytest.mark.slow
def test_failed_runs_leave_no_indices_and_resume_computes_them(
    write_scenario, tmp_path, monkeypatch, capsys
):
    from experiments import runner

    class BrokenWhenSearchIsHigh(runner.CRMModel):
        def run(self, periods=None):
            if self.config.market.search_probability > 0.3:
                raise RuntimeError("boom")
            return super().run(periods)

    path = write_scenario(
        DESIGN.replace("methods: [morris, sobol]", "methods: morris").replace(
            "market.setting: [traditional, ecommerce]", "market.setting: [ecommerce]"
        )
    )
    out = tmp_path / "out"
    monkeypatch.setattr(runner, "CRMModel", BrokenWhenSearchIsHigh)
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "sensitivity runs are missing" in error and "--resume" in error
    assert "RuntimeError: boom" in error and "Traceback" not in error
    assert not list(out.glob("sensitivity.*"))

    monkeypatch.setattr(runner, "CRMModel", BrokenWhenSearchIsHigh.__mro__[1])
    assert (
        main(
            [
                "run",
                str(path),
                "--out",
                str(out),
                "--workers",
                "1",
                "--resume",
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(out / "sensitivity.csv")) == 2 * 3 * 3
