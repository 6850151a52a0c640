"""The market is open and reaches a steady state (issue 20, item 1; MODEL.md 7a).

Customers leave the category for life reasons and new prospects arrive, so
the prospect pool never runs dry and acquisitions do not fall off: each
firm's mean acquisitions per period in months 61-120 are within 15 % of those
in months 13-60, with and without a warm-up, over seeded replications.

Without a warm-up this rests on the settled start (``simulation.start``, the
default; ``test_settled_start.py``): customers begin with the history of a
market that has been running. From a new market (``start: new``, every
relationship in exploration at period 0) the later acquisitions were 0.74-0.86
of the earlier ones while the market took about five years to settle.
"""

import numpy as np
import pytest

from sim import CRMModel, default_config

pytestmark = pytest.mark.slow

SEEDS = range(4)
BAND = 0.15


def acquisition_ratios(setting: str, warm_up: int) -> tuple[dict, int]:
    """Per firm, later over earlier mean acquisitions (pooled over seeds); the smallest pool."""
    config = default_config(
        market={"setting": setting},
        simulation={"customers": 5000, "periods": 120, "warm_up": warm_up},
    )
    early, late, smallest = {}, {}, np.inf
    for seed in SEEDS:
        model = CRMModel(config, rng=seed).run()
        frame = model.firm_frame()
        for firm, rows in frame.groupby("firm"):
            early[firm] = early.get(firm, 0) + rows.acquisitions[rows.period.between(13, 60)].mean()
            late[firm] = late.get(firm, 0) + rows.acquisitions[rows.period.between(61, 120)].mean()
        smallest = min(smallest, model.market_frame().prospects.min())
    return {firm: late[firm] / early[firm] for firm in early}, smallest


@pytest.mark.parametrize("warm_up", [0, 60])
@pytest.mark.parametrize("setting", ["traditional", "ecommerce"])
def test_no_kink_and_the_pool_never_runs_dry(setting, warm_up):
    ratios, smallest = acquisition_ratios(setting, warm_up)
    assert all(abs(r - 1) <= BAND for r in ratios.values()), ratios
    assert smallest > 0


def test_arrivals_replace_the_customers_who_leave_the_category():
    config = default_config(simulation={"customers": 5000, "periods": 60})
    model = CRMModel(config, rng=1).run()
    market, firms = model.market_frame(), model.firm_frame()
    rate = config.market.category_exit_rate
    arrivals = market.arrivals.iloc[1:].sum()
    expected = rate * config.simulation.customers * 60
    assert arrivals == pytest.approx(expected, rel=0.15)
    assert firms.defections_life.sum() > 0
    # the population keeps its size: every leaver's place is taken
    assert (
        firms.groupby("period").customers.sum()
        + market.set_index("period").prospects
        + market.set_index("period").out_of_market
        == config.simulation.customers
    ).all()
