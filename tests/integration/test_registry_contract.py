"""One contract over every registered strategy, policy and setting, run through the engine.

Parametrized over the registries themselves (``sim.strategies.STRATEGIES``,
``sim.policies.POLICIES``, ``sim.settings.SETTINGS``), so an entry is checked
the moment it is registered. Each entry builds a small market (a strategy:
three firms running it; a policy: firm A runs it with its defaults; a
setting: the market preset), runs it a few periods through the runner
(``experiments.runner.run_once``, which measures it with ``analysis.metrics``)
and passes the same checks: the model builds, the run yields every table, the
equity ledger's terms are the ledger's discounted sums and add up to customer
equity, counts are whole and non-negative, and the same seed gives the same
run. The registries' own details are tested in tests/sim/.
"""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import EQUITY_TERMS
from experiments.runner import TIMESERIES_COLUMNS, run_once
from sim import CRMModel, default_config
from sim.policies import POLICIES
from sim.settings import SETTINGS
from sim.strategies import STRATEGIES

CUSTOMERS, PERIODS, SEED = 400, 8, 11

ENTRIES = (
    [("strategy", name) for name in STRATEGIES]
    + [("policy", name) for name in POLICIES]
    + [("setting", name) for name in SETTINGS]
)
"""Every registered entry, as (registry, name)."""

COUNT_COLUMNS = (
    "customers",
    "exploration",
    "formation",
    "stability",
    "decline",
    "advocates",
    "customers_start",
    "retained",
    "acquisitions",
    "acquisitions_referral",
    "defections",
    "satisfied_defectors",
    "occasions",
    "defections_rival",
    "defections_market",
    "defections_life",
    "exits_from_decline",
    "defections_exploration",
    "defections_formation",
    "defections_stability",
    "defections_decline",
    "advances",
    "declines",
    "recoveries",
    "trajectory_I",
    "trajectory_II",
    "trajectory_III",
    "trajectory_IV",
    "acquisitions_spend",
    "acquisitions_rival",
    "acquisitions_win_back",
)
"""Columns of the per-period records that count customers or events."""

OUTCOME_COUNTS = (
    "acquisitions",
    "referral_acquisitions",
    "rival_acquisitions",
    "defections",
    "customers_end",
)
"""Outcome columns of ``runs`` that count."""

LEDGER_TERMS = {
    "contribution": "discounted_contribution",
    "referral_value": "discounted_referral_value",
    "acquisition_cost": "discounted_acquisition_cost",
    "policy_cost": "discounted_policy_cost",
}
"""Each discounted term of customer equity and the per-period column it sums."""


def config_for(registry: str, name: str):
    """The small market that exercises one registry entry."""
    simulation = {"customers": CUSTOMERS, "periods": PERIODS}
    if registry == "strategy":
        firms = [{"name": f"{name}-{i}", "strategy": name} for i in range(3)]
        return default_config(firms=firms, simulation=simulation)
    if registry == "policy":
        firms = [
            {"name": "A", "strategy": "clasp", "policies": [{"name": name}]},
            {"name": "B", "strategy": "zipper"},
            {"name": "C", "strategy": "velcro"},
        ]
        return default_config(firms=firms, simulation=simulation)
    return default_config(market={"setting": name}, simulation=simulation)


def close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@pytest.fixture(scope="module", params=ENTRIES, ids=[f"{r}-{n}" for r, n in ENTRIES])
def entry(request):
    """One registry entry, its configuration and its run."""
    registry, name = request.param
    config = config_for(registry, name)
    return registry, name, config, run_once(config, SEED)


def test_the_entry_is_in_the_configuration_and_the_model_builds(entry):
    registry, name, config, _ = entry
    if registry == "strategy":
        assert {firm.strategy for firm in config.firms} == {name}
    elif registry == "policy":
        assert [policy.name for policy in config.firms[0].policies] == [name]
    else:
        assert config.market.setting == name
    model = CRMModel(config, rng=SEED)
    assert [firm.name for firm in model.firms] == [firm.name for firm in config.firms]


def test_the_run_yields_every_table(entry):
    registry, name, config, result = entry
    firms = [firm.name for firm in config.firms]
    assert list(result.firms["firm"]) == firms
    assert len(result.timeseries) == (PERIODS + 1) * len(firms)
    assert set(TIMESERIES_COLUMNS) <= set(result.timeseries.columns)
    assert len(result.customers) == result.timeseries.query("period == @PERIODS")["customers"].sum()
    if registry == "policy":
        assert list(result.policies["policy"]) == [name]
        assert list(result.policies["firm"]) == ["A"]
        assert (result.policies["periods"] == PERIODS).all()
    else:
        assert result.policies.empty


def test_the_equity_ledger_sums_to_customer_equity(entry):
    _, _, _, result = entry
    runs = result.firms.set_index("firm")
    discounted = result.timeseries.groupby("firm", sort=False)[list(LEDGER_TERMS.values())].sum()
    projected = result.customers.groupby("firm", sort=False)["projected_clv"].sum()
    signs = {"acquisition_cost": -1.0, "policy_cost": -1.0}
    for firm, row in runs.iterrows():
        for term, column in LEDGER_TERMS.items():
            assert close(row[term], discounted.loc[firm, column]), (firm, term)
        assert close(row["projected_remainder"], projected.get(firm, 0.0)), firm
        books = math.fsum(signs.get(term, 1.0) * row[term] for term in EQUITY_TERMS)
        assert close(row["customer_equity"], books), firm
        drivers = row["value_equity"] + row["brand_equity"] + row["relationship_equity"]
        if np.isfinite(drivers):
            assert close(drivers, row["customer_equity"]), firm


def test_counts_are_whole_and_non_negative(entry):
    _, _, _, result = entry
    for column in COUNT_COLUMNS:
        values = result.timeseries[column].to_numpy(dtype=float)
        assert (values >= 0).all(), column
        assert (values == np.round(values)).all(), column
    for column in OUTCOME_COUNTS:
        assert (result.firms[column] >= 0).all(), column
    for column in ("eligible", "touched", "recovered", "won_back"):
        assert (result.policies[column] >= 0).all(), column
    assert (result.policies["spend"] >= 0).all()
    assert (result.timeseries["retained"] <= result.timeseries["customers_start"]).all()
    cohorts = result.cohorts["active"]
    assert (cohorts >= 0).all()


def test_the_same_seed_gives_the_same_run(entry):
    _, _, config, result = entry
    again = run_once(config, SEED)
    for table in ("firms", "timeseries", "cohorts", "policies", "customers"):
        pd.testing.assert_frame_equal(
            getattr(result, table), getattr(again, table), check_exact=True, obj=table
        )
