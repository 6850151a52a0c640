"""Retention metrics on hand-built frames and on model output."""

import numpy as np
import pandas as pd
import pytest

from analysis import retention
from sim import CRMModel, default_config


def _geometric_cohorts(r=0.85, sizes=(1000, 400, 250), periods=20):
    """Cohorts acquired in periods 0, 1, 2 that lose a share 1 - r every period (exactly)."""
    rows = []
    for cohort, size in enumerate(sizes):
        for period in range(cohort, periods + 1):
            tenure = period - cohort
            rows.append(
                {"firm": "A", "cohort": cohort, "tenure": tenure, "active": size * r**tenure}
            )
    return pd.DataFrame(rows)


def test_constant_hazard_cohort_survival_is_geometric():
    r = 0.85
    curve = retention.cohort_survival(_geometric_cohorts(r))
    np.testing.assert_allclose(curve["survival"], retention.geometric_survival(r, curve["tenure"]))
    assert curve["tenure"].tolist() == list(range(21))
    # every cohort is observed at short tenures, only the first at the longest
    assert curve.loc[curve["tenure"] == 0, "cohorts"].item() == 3
    assert curve.loc[curve["tenure"] == 20, "cohorts"].item() == 1


def test_survival_pools_cohorts_weighted_by_size():
    frame = pd.DataFrame(
        {"firm": "A", "cohort": [0, 0, 1, 1], "tenure": [0, 1, 0, 1], "active": [100, 50, 300, 300]}
    )
    curve = retention.cohort_survival(frame)
    assert curve.loc[curve["tenure"] == 1, "survival"].item() == pytest.approx(350 / 400)
    small = retention.cohort_survival(frame, min_size=200)
    assert small.loc[small["tenure"] == 1, "survival"].item() == pytest.approx(1.0)


def test_firms_sharing_a_strategy_pool_their_own_cohorts():
    # two firms run the same strategy: each cohort is sized by its own firm's
    # tenure-0 count, not joined against the other firm's cohort of that period
    frame = pd.DataFrame(
        {
            "firm": ["A", "A", "B", "B"],
            "strategy": "clasp",
            "cohort": 0,
            "tenure": [0, 1, 0, 1],
            "active": [100, 80, 300, 150],
        }
    )
    curve = retention.cohort_survival(frame, keys=("strategy",))
    assert curve["survival"].tolist() == pytest.approx([1.0, 230 / 400])
    assert curve["cohorts"].tolist() == [2, 2]


def test_binomial_constant_hazard_cohort_is_close_to_geometric():
    rng = np.random.default_rng(3)
    r, size = 0.9, 200_000
    active, rows = size, []
    for tenure in range(15):
        rows.append({"firm": "A", "cohort": 0, "tenure": tenure, "active": active})
        active = rng.binomial(active, r)
    curve = retention.cohort_survival(pd.DataFrame(rows))
    np.testing.assert_allclose(curve["survival"], r ** curve["tenure"], rtol=0.01)


def _timeseries():
    return pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3,
            "firm": "A",
            "period": [0, 1, 2] * 2,
            "exploration": [10, 8, 6, 20, 10, 10],
            "formation": [0, 2, 2, 0, 5, 5],
            "stability": 0,
            "decline": [0, 0, 2, 0, 4, 0],
            "defections_exploration": [0, 2, 1, 0, 5, 0],
            "defections_formation": [0, 0, 1, 0, 0, 0],
            "defections_stability": 0,
            "defections_decline": [0, 0, 0, 0, 0, 2],
            "defections": [0, 2, 2, 0, 5, 2],
            "defections_rival": [0, 1, 2, 0, 5, 0],
            "defections_market": [0, 1, 0, 0, 0, 2],
            "exits_from_decline": [0, 0, 0, 0, 0, 2],
            "satisfied_defectors": [0, 1, 1, 0, 4, 0],
            "trajectory_I": [0, 2, 1, 0, 5, 0],
            "trajectory_II": [0, 0, 1, 0, 0, 2],
            "trajectory_III": 0,
            "trajectory_IV": 0,
            "retained": [0, 8, 8, 0, 15, 13],
            "customers_start": [0, 10, 10, 0, 20, 15],
        }
    )


def test_churn_by_stage_shares_and_hazards():
    table = retention.churn_by_stage(_timeseries()).set_index("stage")
    assert table.loc["exploration", "defections"] == 8
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc["exploration", "share"] == pytest.approx(8 / 11)
    # exposure: periods before each run's last: 10 + 8 in run a, 20 + 10 in run b
    assert table.loc["exploration", "exposure"] == 48
    assert table.loc["exploration", "hazard"] == pytest.approx(8 / 48)
    assert table.loc["decline", "hazard"] == pytest.approx(2 / 4)  # run a's last period: no
    assert np.isnan(table.loc["stability", "hazard"])


def test_churn_by_reason_trajectories_and_satisfied_defectors():
    frame = _timeseries()
    reasons = retention.churn_by_reason(frame).iloc[0]
    assert reasons["defections"] == 11
    assert reasons["to_rival"] + reasons["out_of_market"] == pytest.approx(1.0)
    assert reasons["from_decline"] == pytest.approx(2 / 11)
    shares = retention.trajectory_shares(frame).iloc[0]
    assert shares[["I", "II", "III", "IV"]].sum() == pytest.approx(1.0)
    assert shares["I"] == pytest.approx(8 / 11)
    satisfied = retention.satisfied_defector_share(frame).iloc[0]
    assert satisfied["satisfied_defector_share"] == pytest.approx(6 / 11)


def test_period_retention_pools_runs():
    table = retention.period_retention(_timeseries())
    assert table["period"].tolist() == [1, 2]
    assert table["retention"].tolist() == pytest.approx([23 / 30, 21 / 25])


# ---------------------------------------------------------------------------
# Loyalty index and tenure, on model output
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run():
    config = default_config(simulation={"customers": 1200, "periods": 30})
    return config, CRMModel(config, rng=4).run()


def test_loyalty_index_is_in_unit_interval_and_weighted_as_documented(run):
    config, model = run
    customers = model.customers_frame()
    index = retention.loyalty_index(customers, config)
    assert len(index) == customers["firm"].notna().sum()
    assert index.between(0, 1).all()
    items = retention.loyalty_items(customers, config)
    objective_only = retention.loyalty_index(
        customers, config, retention.LoyaltyWeights(objective=1.0)
    )
    np.testing.assert_allclose(objective_only, items[list(retention.OBJECTIVE_ITEMS)].mean(axis=1))
    trust_only = retention.LoyaltyWeights(objective=0.0, price=0.0, quality=0.0, service=2.0)
    np.testing.assert_allclose(
        retention.loyalty_index(customers, config, trust_only),
        customers.loc[items.index, "trust"].clip(0, 1),
    )


def test_loyal_customers_score_higher(run):
    config, model = run
    customers = model.customers_frame()
    index = retention.loyalty_index(customers, config)
    stage = customers.loc[index.index, "stage"].astype(str)
    assert index[stage == "stability"].mean() > index[stage == "exploration"].mean()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"tenure": -1.0}, "0 or more: tenure"),
        ({"objective": 1.5}, "objective must be in"),
        ({"share_of_wallet": 0, "repeat_purchase": 0, "tenure": 0, "referrals": 0}, "objective"),
    ],
)
def test_bad_loyalty_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        retention.LoyaltyWeights(**weights)


def test_tenure_distribution_shares_sum_to_one(run):
    _config, model = run
    customers = model.customers_frame()
    table = retention.tenure_distribution(customers)
    for _, rows in table.groupby("firm", observed=True):
        assert rows["share"].sum() == pytest.approx(1.0)
    assert table["customers"].sum() == customers["firm"].notna().sum()


def test_cohort_survival_on_model_output_starts_at_one_and_stays_a_share(run):
    _, model = run
    curve = retention.cohort_survival(model.cohort_frame())
    for _, rows in curve.groupby("firm"):
        rows = rows.sort_values("tenure")
        assert rows["survival"].iloc[0] == pytest.approx(1.0)
        assert rows["survival"].between(0, 1).all()
