"""Degenerate limits where the answer is known without simulating.

Each limit comes with a control run (the same scenario one step away from the
limit) showing the quantity is not zero or symmetric by construction, so the
limit test can fail.
"""

import numpy as np
import pytest

from sim import STRATEGIES, CRMModel, default_config

CUSTOMERS = 2_000
PERIODS = 40
SETTING_NAMES = ("traditional", "ecommerce")
SEEDS = range(3)



def identical_firms(strategy="clasp", n=3, **params):
    return [{"name": f"F{i}", "strategy": strategy, **params} for i in range(n)]


def totals(config, seed):
    frame = CRMModel(config, rng=seed).run().firm_frame()
    return frame[frame.period > 0].sum(numeric_only=True)


def config_for(setting, *, market=None, relationship=None, firms=None):
    sections = {"market": {"setting": setting, **(market or {})},
                "simulation": {"customers": CUSTOMERS, "periods": PERIODS}}
    if relationship:
        sections["relationship"] = relationship
    if firms:
        sections["firms"] = firms
    return default_config(**sections)


# ---------------------------------------------------------------------------
# Prohibitive switching cost
# ---------------------------------------------------------------------------

PROHIBITIVE = {"defection_switching_cost_weight": 100.0}
FLOOR_AT_ONE = {"switching_cost_floor": 1.0}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_prohibitive_switching_cost_stops_defection_to_identical_rivals(setting, seed):
    # buffer 1: a switching cost of 1 also stops exits from decline (see the xfail below)
    config = config_for(setting, market=FLOOR_AT_ONE,
                        relationship={**PROHIBITIVE, "switching_cost_buffer": 1.0},
                        firms=identical_firms())
    flows = totals(config, seed)
    assert flows.defections_rival == 0
    assert flows.acquisitions_rival == 0
    assert flows.defections == 0


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_control_identical_rivals_do_win_customers_at_ordinary_switching_costs(setting):
    flows = totals(config_for(setting, firms=identical_firms()), seed=0)
    assert flows.defections_rival > 0


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_prohibitive_switching_cost_stops_defection_to_rivals_also_from_decline(setting):
    config = config_for(setting, market=FLOOR_AT_ONE,
                        relationship={**PROHIBITIVE, "switching_cost_buffer": 0.5},
                        firms=identical_firms())
    flows = totals(config, seed=0)
    assert flows.exits_from_decline > 0  # the scenario does exit declining customers
    assert flows.defections_rival == 0


# ---------------------------------------------------------------------------
# Identical firms share the market symmetrically
# ---------------------------------------------------------------------------

SYMMETRY_SEEDS = range(10)
MEAN_SHARE_TOLERANCE = 0.02
"""|mean share over 10 seeds - 1/3|; the per-seed sd of a share is about 0.01-0.018 at
2,000 customers and 40 periods, so the mean's sd is below 0.006 (tolerance > 3 sd)."""
SEED_SHARE_TOLERANCE = 0.08
"""|share - 1/3| in any single seed (about 5 per-seed sd)."""


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_identical_firms_share_the_market_symmetrically(setting, strategy):
    config = config_for(setting, firms=identical_firms(strategy))
    shares, acquired = [], []
    for seed in SYMMETRY_SEEDS:
        frame = CRMModel(config, rng=seed).run().firm_frame()
        last = frame[frame.period == PERIODS].customers.to_numpy()
        shares.append(last / last.sum())
        acquired.append(frame.groupby("firm", sort=False).acquisitions.sum().to_numpy())
    shares = np.array(shares)
    assert np.abs(shares - 1 / 3).max() < SEED_SHARE_TOLERANCE
    np.testing.assert_allclose(shares.mean(axis=0), 1 / 3, atol=MEAN_SHARE_TOLERANCE)
    acquired = np.array(acquired).sum(axis=0)
    np.testing.assert_allclose(acquired / acquired.sum(), 1 / 3, atol=MEAN_SHARE_TOLERANCE)


def test_control_a_better_firm_breaks_the_symmetry():
    """The symmetry test can tell: one firm with better quality takes more than its third."""
    firms = identical_firms("clasp")
    firms[0] = {**firms[0], "quality": 0.9}
    config = config_for("traditional", firms=firms)
    frame = CRMModel(config, rng=0).run().firm_frame()
    last = frame[frame.period == PERIODS].customers.to_numpy()
    assert last[0] / last.sum() > 1 / 3 + MEAN_SHARE_TOLERANCE


# ---------------------------------------------------------------------------
# No search and no exit: no defections at all
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_no_search_and_no_exit_means_no_defections(setting, seed):
    config = config_for(setting, market={"search_probability": 0.0},
                        relationship={"exit_rate": 0.0})
    frame = CRMModel(config, rng=seed).run().firm_frame()
    flows = frame[frame.period > 0]
    assert flows.defections.sum() == 0
    assert flows.acquisitions_rival.sum() == 0
    assert flows.exits_from_decline.sum() == 0
    assert flows.trajectory_I.sum() + flows.trajectory_IV.sum() == 0
    kept = flows[flows.customers_start > 0]
    assert (kept.retention == 1.0).all()
    assert flows.declines.sum() > 0  # relationships still decline; they just never end


@pytest.mark.parametrize("setting", SETTING_NAMES)
@pytest.mark.parametrize("market, relationship", [
    ({"search_probability": 0.0}, {}),
    ({}, {"exit_rate": 0.0}),
])
def test_control_either_channel_alone_still_loses_customers(setting, market, relationship):
    assert totals(config_for(setting, market=market, relationship=relationship),
                  seed=0).defections > 0


# ---------------------------------------------------------------------------
# A single firm has no rivals to lose customers to
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_single_firm_has_no_defections_to_rivals(setting, strategy):
    flows = totals(config_for(setting, firms=identical_firms(strategy, n=1)), seed=1)
    assert flows.defections_rival == 0
    assert flows.acquisitions_rival == 0
    assert flows.defections_market == flows.defections
    assert flows.defections > 0  # it does lose customers, to the outside option


# ---------------------------------------------------------------------------
# No acquisition spending and no referrals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_zero_acquisition_rate_and_no_referrals_acquire_nobody_from_the_pool(setting):
    firms = [{"name": name, "strategy": name, "acquisition_rate": 0.0} for name in STRATEGIES]
    config = config_for(setting, relationship={"referral_rate": 0.0}, firms=firms)
    model = CRMModel(config, rng=2).run()
    frame = model.firm_frame()
    assert (frame.acquisitions_spend == 0).all()
    assert (frame.acquisitions_referral == 0).all()
    assert (frame.acquisition_spend == 0).all()
    assert (frame.acquisition_rate == 0).all()
    np.testing.assert_array_equal(frame.acquisitions, frame.acquisitions_rival)
    market = model.market_frame()
    # the prospect pool only grows (by re-entry)
    np.testing.assert_array_equal(np.diff(market.prospects), market.reentries.iloc[1:])


def test_control_default_rates_do_acquire_from_the_pool():
    flows = totals(config_for("traditional"), seed=2)
    assert flows.acquisitions_spend > 0
    assert flows.acquisitions_referral > 0


def test_no_customers_no_acquisition_means_an_empty_market():
    firms = [{"name": name, "strategy": name, "acquisition_rate": 0.0} for name in STRATEGIES]
    config = default_config(relationship={"referral_rate": 0.0}, firms=firms,
                            simulation={"customers": 500, "periods": 10,
                                        "initial_customer_share": 0.0})
    frame = CRMModel(config, rng=0).run().firm_frame()
    assert (frame.customers == 0).all()
    assert (frame.revenue == 0).all()
    assert (frame.cost == 0).all()


def test_no_reentry_means_the_out_of_market_pool_never_shrinks():
    config = config_for("ecommerce", market={"reentry_rate": 0.0})
    market = CRMModel(config, rng=0).run().market_frame()
    assert (market.reentries == 0).all()
    assert (np.diff(market.out_of_market) >= 0).all()
    assert market.out_of_market.iloc[-1] > 0
