"""What each run stores for the report: cohorts, churn columns, customers, policies, summaries."""

import numpy as np
import pandas as pd
import pytest

from analysis import money
from analysis.metrics import OUTCOME_COLUMNS
from experiments.runner import COHORT_COLUMNS, CUSTOMER_COLUMNS, POLICY_COLUMNS, run_once
from experiments.sweep import extra_frames, keeps_customers, plan_runs, run_seed, seed_key
from sim import default_config

CONFIG = default_config(simulation={"customers": 600, "periods": 24})
POLICY_CONFIG = default_config(
    simulation={"customers": 600, "periods": 24},
    firms=[
        {
            "name": "A",
            "strategy": "clasp",
            "policies": [{"name": "service_recovery", "budget": 0.5}, {"name": "win_back"}],
        },
        {"name": "B", "strategy": "zipper"},
    ],
)


@pytest.fixture(scope="module")
def result():
    return run_once(CONFIG, 21)


@pytest.fixture(scope="module")
def policy_result():
    return run_once(POLICY_CONFIG, 21)


def test_a_run_yields_every_table(result):
    assert list(result.firms.columns) == ["firm", "strategy", "setting", *OUTCOME_COLUMNS]
    assert list(result.cohorts.columns) == list(COHORT_COLUMNS)
    assert list(result.customers.columns) == list(CUSTOMER_COLUMNS)
    assert list(result.policies.columns) == list(POLICY_COLUMNS)
    assert result.policies.empty  # the default firms run no policies


def test_cohorts_add_up_to_the_customers(result):
    cohorts, ledger = result.cohorts, result.timeseries
    cohorts = cohorts.assign(period=cohorts["cohort"] + cohorts["tenure"])
    total = cohorts.groupby(["period", "firm"])["active"].sum()
    customers = ledger.set_index(["period", "firm"])["customers"]
    pd.testing.assert_series_equal(
        total.sort_index(), customers.sort_index(), check_names=False, check_dtype=False
    )
    starting = cohorts[(cohorts["cohort"] == 0) & (cohorts["tenure"] == 0)]
    assert (
        starting.set_index("firm")["active"].to_dict()
        == ledger[ledger["period"] == 0].set_index("firm")["customers"].to_dict()
    )


def test_churn_by_stage_columns_add_up_to_the_defections(result):
    series = result.timeseries
    by_stage = series[[f"defections_{s}" for s in money.ACTIVE_STAGES]].sum(axis=1)
    np.testing.assert_array_equal(by_stage, series["defections"])
    # every ended relationship has one reason: to a rival, out of the market, or out of the
    # category for life reasons (the open market); only the first two are by choice
    np.testing.assert_array_equal(
        series["defections_rival"] + series["defections_market"] + series["defections_life"],
        series["defections"],
    )
    assert series["defections_life"].sum() > 0  # the default category exit rate is above 0
    by_choice = series["defections"] - series["defections_life"]
    assert (series["satisfied_defectors"] <= by_choice).all()
    assert (series["exits_from_decline"] <= by_choice).all()
    trajectories = series[["trajectory_I", "trajectory_II", "trajectory_III", "trajectory_IV"]].sum(
        axis=1
    )
    np.testing.assert_array_equal(trajectories, series["defections"])


def test_clv_summaries_in_runs(result):
    firms = result.firms.set_index("firm")
    customers = result.customers
    for firm, row in firms.iterrows():
        mine = customers[customers["firm"] == firm]["total_clv"].to_numpy()
        assert row["top20_profit_share"] == pytest.approx(money.top_share(mine, 0.2))
        assert row["clv_median"] == pytest.approx(np.median(mine))
        assert 0 <= row["clv_gini"] <= 1
        assert row["projected_clv_mean"] == pytest.approx(
            customers[customers["firm"] == firm]["projected_clv"].mean()
        )
    drivers = firms[["value_equity", "brand_equity", "relationship_equity"]].sum(axis=1)
    np.testing.assert_allclose(drivers, firms["customer_equity"])
    assert firms["loyalty_index"].between(0, 1).all()


def test_policy_outcomes_total_the_policy_frame(policy_result):
    policies = policy_result.policies
    assert list(policies["policy"]) == ["service_recovery", "win_back"]
    assert (policies["firm"] == "A").all()
    assert (policies["periods"] == 24).all()
    recovery = policies.set_index("policy").loc["service_recovery"]
    assert recovery["budget_exhausted_share"] > 0  # a budget of 0.5 runs out
    assert recovery["spend"] <= 0.5 * 24 + 1e-9
    ledger_cost = policy_result.timeseries.groupby("firm")["policy_cost"].sum()
    assert policies["spend"].sum() == pytest.approx(ledger_cost["A"])
    assert (
        policy_result.timeseries["acquisitions_win_back"].sum()
        == policies.set_index("policy").loc["win_back", "won_back"]
    )


def test_only_replication_zero_keeps_its_customers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsimulation: {customers: 100, periods: 3, replications: 2}\n")
    from experiments.scenario import load_scenario
    from experiments.sweep import execute

    specs = plan_runs(load_scenario(path))
    kept = [execute(spec).result.customers is not None for spec in specs]
    assert kept == [True, False] == [keeps_customers(spec) for spec in specs]
    frames = extra_frames(specs[0], execute(specs[0]).result)
    assert list(frames["customers"].columns[:3]) == ["run_id", "point", "replication"]
    assert frames["policies"] is not None and frames["policies"].empty


def test_swept_policies_do_not_change_the_seeds(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nsimulation: {customers: 100, periods: 3, replications: 2}\n"
        "sweep:\n  grid:\n    market.setting: [traditional, ecommerce]\n"
        "    firms.0.policies: [[], [{name: onboarding, budget: 5}]]\n"
    )
    from experiments.scenario import load_scenario

    scenario = load_scenario(path)
    assert [p.config.firms[0].policies for p in scenario.points][:2] == [
        (),
        (scenario.points[1].config.firms[0].policies[0],),
    ]
    specs = plan_runs(scenario)
    by_point = {}
    for spec in specs:
        by_point.setdefault(spec.values["market.setting"], set()).add((spec.replication, spec.seed))
    # two policy sets per setting share seeds replication by replication
    assert all(len(pairs) == 2 for pairs in by_point.values())
    assert by_point["traditional"] != by_point["ecommerce"]
    assert seed_key({"market.setting": "x", "firms.0.policies": []}) == seed_key(
        {"market.setting": "x"}
    )
    assert run_seed(1, seed_key({"a": 1}), 0) != run_seed(1, seed_key({"a": 2}), 0)


def test_a_zero_budget_policy_is_the_same_run_as_none():
    zero = default_config(
        simulation={"customers": 400, "periods": 12},
        firms=[{"name": "A", "policies": [{"name": "loyalty_programme", "budget": 0}]}],
    )
    none = default_config(simulation={"customers": 400, "periods": 12}, firms=[{"name": "A"}])
    a, b = run_once(zero, 5), run_once(none, 5)
    pd.testing.assert_frame_equal(a.firms, b.firms)
    assert a.policies["touched"].sum() == 0


def test_resume_rebuilds_the_same_cohort_customer_and_policy_tables(tmp_path):
    from experiments.folders import prepare
    from experiments.scenario import load_scenario
    from experiments.sweep import SerialExecutor, run_sweep
    from store.results import write_tables

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nfirms: [{name: A, policies: [{name: onboarding, budget: 1}]}, {name: B}]\n"
        "simulation: {customers: 150, periods: 4, replications: 2}\n"
        "sweep:\n  grid:\n    market.setting: [traditional, ecommerce]\n"
    )
    scenario = load_scenario(path)
    specs = plan_runs(scenario)

    def tables(folder, batches):
        for i, batch in enumerate(batches):
            store = prepare(folder, scenario, resume=i > 0)
            with SerialExecutor() as executor:
                run_sweep(batch, store, executor, progress=False)
        write_tables(folder, store, [spec.run_id for spec in specs])
        return {
            name: pd.read_parquet(folder / f"{name}.parquet")
            for name in ("cohorts", "customers", "policies")
        }

    whole = tables(tmp_path / "whole", [specs])
    resumed = tables(tmp_path / "resumed", [specs[:1], specs])
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(resumed[name], frame)
    assert set(whole["customers"]["replication"]) == {0}
    assert set(whole["customers"]["market.setting"]) == {"traditional", "ecommerce"}
    assert set(whole["policies"]["run_id"]) == {s.run_id for s in specs}
