"""Money metrics: closed forms, customer equity, CLV distribution, drivers, firm value, ROI."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import metrics, money
from sim import CRMModel, default_config

# ---------------------------------------------------------------------------
# Closed forms (Gupta & Lehmann): CLV = m (1 + d) / (1 + d - r)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("margin", "retention", "discount"),
    [(10.0, 0.8, 0.01), (3.0, 0.95, 0.1), (1.0, 0.0, 0.05), (2.5, 0.5, 0.0)],
)
def test_infinite_horizon_clv_is_the_margin_multiple(margin, retention, discount):
    expected = margin * (1 + discount) / (1 + discount - retention)
    assert money.lifetime_value(margin, retention, discount) == pytest.approx(expected)
    brute = sum(margin * retention**t / (1 + discount) ** t for t in range(5000))
    assert money.lifetime_value(margin, retention, discount) == pytest.approx(brute, rel=1e-9)


@pytest.mark.parametrize("horizon", [1, 2, 7, 60])
def test_finite_horizon_clv_sums_the_first_n_periods(horizon):
    m, r, d = 4.0, 0.9, 0.02
    brute = sum(m * r**t / (1 + d) ** t for t in range(horizon))
    assert money.lifetime_value(m, r, d, horizon=horizon) == pytest.approx(brute)
    assert money.lifetime_value(m, r, d, horizon=1) == pytest.approx(m)


def test_finite_horizon_without_discount_or_churn_is_n_margins():
    assert money.lifetime_value(2.0, 1.0, 0.0, horizon=12) == pytest.approx(24.0)
    assert money.lifetime_value(2.0, 1.0, 0.0) == np.inf


def test_remaining_value_is_the_lifetime_value_after_this_period():
    m, r, d = np.array([1.0, 5.0]), np.array([0.7, 0.97]), 0.01
    np.testing.assert_allclose(money.remaining_value(m, r, d), money.lifetime_value(m, r, d) - m)
    for horizon in (1, 12, 36):
        np.testing.assert_allclose(
            money.remaining_value(m, r, d, horizon),
            money.lifetime_value(m, r, d, horizon=horizon + 1) - m,
        )


@pytest.mark.parametrize(
    ("retention", "discount"), [(0.9, 0.01), (0.97, 0.0), (1.0, 0.0), (1.0, 0.02), (0.0, 0.01)]
)
@pytest.mark.parametrize("horizon", [0, 1, 36])
def test_remaining_value_over_a_planning_horizon_sums_the_next_h_periods(
    retention, discount, horizon
):
    m = 3.0
    brute = sum(m * (retention / (1 + discount)) ** h for h in range(1, horizon + 1))
    got = money.remaining_value(m, retention, discount, horizon)
    assert np.isfinite(got)  # never a perpetuity, even at d = 0 and r = 1
    assert got == pytest.approx(brute, rel=1e-9, abs=1e-12)


def _constant_retention_ledger(n0=1000.0, r=0.9, m=2.0, d=0.01, periods=30):
    """One firm whose N0 customers each contribute m per period and stay with chance r."""
    t = np.arange(periods + 1)
    customers = n0 * r**t
    contribution = m * customers
    discount = (1 + d) ** -t
    zero = np.zeros(periods + 1)
    return pd.DataFrame(
        {
            "period": t,
            "firm": "A",
            "customers": customers,
            "customers_start": np.r_[0.0, customers[:-1]],
            "retained": np.r_[0.0, customers[1:]],
            "retention": np.r_[np.nan, np.full(periods, r)],
            "contribution": contribution,
            "referral_value": zero,
            "acquisition_cost": zero,
            "policy_cost": zero,
            "profit": contribution,
            "discounted_profit": contribution * discount,
            "discounted_contribution": contribution * discount,
            "discounted_referral_value": zero,
            "discounted_acquisition_cost": zero,
            "discounted_policy_cost": zero,
        }
    )


def _projected(firm, values):
    """A :func:`money.customer_clv`-like frame: the projected CLV of each current customer."""
    return pd.DataFrame(
        {
            "firm": pd.Categorical([firm] * len(values)),
            "projected_clv": np.asarray(values, dtype=float),
        }
    )


def test_customer_equity_is_the_sum_of_the_customers_clv():
    """Realized plus projected value of a constant-retention cohort = N0 x the closed form.

    Over ``T + 1`` realized periods and a planning horizon of ``H`` more, a
    cohort of ``N0`` customers is worth ``N0`` times the finite-horizon CLV
    over ``T + 1 + H`` periods.
    """
    n0, r, m, d, periods, horizon = 1000.0, 0.9, 2.0, 0.01, 30, 36
    ledger = _constant_retention_ledger(n0, r, m, d, periods)
    left = n0 * r**periods
    remainder = left * money.remaining_value(m, r, d, horizon) * (1 + d) ** -periods
    clv = _projected("A", np.full(10, remainder / 10))
    equity = metrics.customer_equity(ledger, clv)
    assert equity["A"] == pytest.approx(
        n0 * money.lifetime_value(m, r, d, horizon=periods + 1 + horizon), rel=1e-12
    )


def test_customer_equity_adds_referral_value_and_subtracts_costs():
    ledger = _constant_retention_ledger()
    clv = _projected("A", [5.0, 7.0])
    base = metrics.equity_ledger(ledger, clv).loc["A"]
    assert base["projected_remainder"] == pytest.approx(12.0)
    assert base["customer_equity"] == pytest.approx(ledger["discounted_contribution"].sum() + 12.0)
    referral = ledger.assign(discounted_referral_value=ledger["discounted_contribution"] * 0.5)
    assert metrics.customer_equity(referral, clv)["A"] == pytest.approx(
        base["customer_equity"] + 0.5 * base["contribution"]
    )
    costs = ledger.assign(discounted_acquisition_cost=1.5, discounted_policy_cost=0.25)
    periods = len(ledger)
    assert metrics.customer_equity(costs, clv)["A"] == pytest.approx(
        base["customer_equity"] - 1.75 * periods
    )
    # no current customers (no projected CLV): no remainder
    assert metrics.customer_equity(ledger, _projected("A", []))["A"] == pytest.approx(
        base["customer_equity"] - 12.0
    )


# ---------------------------------------------------------------------------
# Stage retention and per-customer CLV
# ---------------------------------------------------------------------------


def test_stage_retention_is_one_minus_defections_over_exposure():
    ledger = pd.DataFrame(
        {
            "period": [0, 1, 2],
            "firm": "A",
            "exploration": [100, 80, 60],
            "formation": [0, 10, 20],
            "stability": [0, 0, 0],
            "decline": [10, 10, 10],
            "defections_exploration": [0, 10, 5],
            "defections_formation": [0, 0, 1],
            "defections_stability": [0, 0, 0],
            "defections_decline": [0, 4, 6],
            "retained": [0, 95, 90],
            "customers_start": [0, 110, 100],
        }
    )
    table = money.stage_retention(ledger)
    assert table.at["A", "exploration"] == pytest.approx(1 - 15 / 180)
    assert table.at["A", "formation"] == pytest.approx(1 - 1 / 10)
    assert table.at["A", "decline"] == pytest.approx(1 - 10 / 20)
    # no exposure in stability: the firm's overall retention
    assert table.at["A", "stability"] == pytest.approx(185 / 210)


@pytest.fixture(scope="module")
def small_run():
    config = default_config(simulation={"customers": 1500, "periods": 36})
    model = CRMModel(config, rng=11).run()
    ledger, customers = model.firm_frame(), model.customers_frame()
    return config, ledger, customers, money.customer_clv(customers, ledger, config)


def test_customer_clv_covers_the_current_customers(small_run):
    _config, ledger, customers, clv = small_run
    assert len(clv) == customers["firm"].notna().sum()
    last = ledger[ledger["period"] == ledger["period"].max()].set_index("firm")["customers"]
    assert clv.groupby(clv["firm"].astype(str)).size().to_dict() == last[last > 0].to_dict()
    np.testing.assert_allclose(clv["total_clv"], clv["realized_clv"] + clv["projected_clv"])
    np.testing.assert_allclose(clv["realized_clv"], clv["clv"].astype(float))


def test_projected_clv_sums_the_stage_retention_over_the_planning_horizon(small_run):
    config, ledger, _, clv = small_run
    d, end = config.simulation.discount_rate, ledger["period"].max()
    horizon = config.simulation.planning_horizon
    retention = money.stage_retention(ledger)
    for i in (0, len(clv) // 2, len(clv) - 1):
        row = clv.iloc[i]
        r = retention.at[str(row["firm"]), str(row["stage"])]
        assert row["stage_retention"] == pytest.approx(r)
        expected = (
            sum(row["margin"] * (r / (1 + d)) ** h for h in range(1, horizon + 1)) / (1 + d) ** end
        )
        assert row["projected_clv"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("stage", money.ACTIVE_STAGES)
def test_customer_margin_follows_the_engine_accounting(small_run, stage):
    """Expected occasions x spend x price x wallet share, at the margin, less the serve cost."""
    config, _, _, clv = small_run
    relationship = config.relationship
    checked = 0
    for firm in config.firms:
        mine = clv[(clv["firm"].astype(str) == firm.name) & (clv["stage"].astype(str) == stage)]
        occasions = mine["purchase_rate"] * getattr(relationship.purchase_depth, stage)
        expected = (
            firm.margin
            * occasions
            * mine["spend"]
            * firm.price
            * getattr(relationship.wallet_share, stage)
            - firm.serve_cost
        )
        # float32 traits: a margin near 0 (revenue ~ serve cost) is exact to ~1e-8 only
        np.testing.assert_allclose(mine["margin"], expected, rtol=1e-5, atol=1e-6)
        checked += len(mine)
    assert checked > 0


def test_equity_drivers_add_up_to_the_equity(small_run):
    config, ledger, _, clv = small_run
    equity = metrics.customer_equity(ledger, clv)
    drivers = money.equity_drivers(clv, equity, config)
    np.testing.assert_allclose(drivers.sum(axis=1), equity)
    assert list(drivers.columns) == list(money.DRIVERS)


@pytest.fixture(scope="module")
def policy_run():
    """A seeded run with policy spending (loyalty, recovery) and win-back, after a warm-up."""
    config = default_config(
        simulation={"customers": 1500, "periods": 36, "warm_up": 6},
        firms=[
            {
                "name": "A",
                "strategy": "clasp",
                "policies": [{"name": "loyalty_programme"}, {"name": "win_back"}],
            },
            {"name": "B", "strategy": "zipper", "policies": [{"name": "service_recovery"}]},
            {"name": "C", "strategy": "velcro"},
        ],
    )
    model = CRMModel(config, rng=7).run()
    ledger, customers = model.firm_frame(), model.customers_frame()
    return config, ledger, money.customer_clv(customers, ledger, config)


@pytest.mark.parametrize("run", ["small_run", "policy_run"])
def test_customer_equity_is_the_exact_sum_of_the_equity_ledger(run, request):
    """CE = contribution + referral value - acquisition cost - policy cost + projected remainder."""
    config, ledger, clv = (request.getfixturevalue(run)[i] for i in (0, 1, -1))
    books = metrics.equity_ledger(ledger, clv)
    equity = metrics.customer_equity(ledger, clv)
    assert list(books.index) == [firm.name for firm in config.firms]
    for firm in books.index:
        mine = ledger[ledger["firm"] == firm]
        terms = {
            name: mine[f"discounted_{name}"].sum()
            for name in ("contribution", "referral_value", "acquisition_cost", "policy_cost")
        }
        remainder = clv.loc[clv["firm"].astype(str) == firm, "projected_clv"].sum()
        expected = (
            terms["contribution"]
            + terms["referral_value"]
            - terms["acquisition_cost"]
            - terms["policy_cost"]
            + remainder
        )
        assert equity[firm] == pytest.approx(expected, rel=1e-9)
        assert books.at[firm, "projected_remainder"] == pytest.approx(remainder, rel=1e-9)
        for name, value in terms.items():
            assert books.at[firm, name] == pytest.approx(value, rel=1e-9)
    assert np.isfinite(equity).all()


@pytest.mark.parametrize("run", ["small_run", "policy_run"])
def test_ledger_profit_is_contribution_plus_referral_value_less_costs(run, request):
    config, ledger = request.getfixturevalue(run)[:2]
    d = config.simulation.discount_rate
    profit = (
        ledger["contribution"]
        + ledger["referral_value"]
        - ledger["acquisition_cost"]
        - ledger["policy_cost"]
    )
    np.testing.assert_allclose(ledger["profit"], profit, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        ledger["discounted_profit"],
        ledger["profit"] * (1 + d) ** -ledger["period"].astype(float),
        rtol=1e-9,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        ledger["acquisition_spend"],
        ledger["acquisition_cost"] - ledger["referral_value"],
        rtol=1e-9,
        atol=1e-9,
    )


def test_the_policy_run_spends_on_policies_and_wins_customers_back(policy_run):
    """The identities above are tested with every term at work."""
    _, ledger, _ = policy_run
    totals = ledger.groupby("firm")[
        ["policy_cost", "acquisitions_win_back", "acquisitions_referral", "acquisitions_rival"]
    ].sum()
    assert totals.at["A", "policy_cost"] > 0 and totals.at["B", "policy_cost"] > 0
    assert totals.at["C", "policy_cost"] == 0
    assert totals.at["A", "acquisitions_win_back"] > 0
    assert (totals["acquisitions_referral"] > 0).all()
    assert totals["acquisitions_rival"].sum() > 0


@pytest.mark.parametrize("run", ["small_run", "policy_run"])
def test_each_realized_referral_is_valued_once_by_the_firm_that_won_it(run, request):
    """referral_value = referrals x (acquisition_cost - referral_cost), firm by firm, period by
    period; every acquisition but a win-back is charged the full acquisition cost."""
    config, ledger = request.getfixturevalue(run)[:2]
    for firm in config.firms:
        mine = ledger[ledger["firm"] == firm.name]
        saving = firm.acquisition_cost - firm.referral_cost
        assert saving > 0
        np.testing.assert_allclose(
            mine["referral_value"], mine["acquisitions_referral"] * saving, rtol=1e-9, atol=1e-9
        )
        charged = mine["acquisitions"] - mine["acquisitions_win_back"]
        np.testing.assert_allclose(
            mine["acquisition_cost"], charged * firm.acquisition_cost, rtol=1e-9, atol=1e-9
        )
    # credited once: the market's referral value is all the referrals' savings, no more
    savings = {f.name: f.acquisition_cost - f.referral_cost for f in config.firms}
    total = (ledger["acquisitions_referral"] * ledger["firm"].astype(str).map(savings)).sum()
    assert ledger["referral_value"].sum() == pytest.approx(total, rel=1e-9)
    assert ledger["acquisitions_referral"].sum() > 0


def test_driver_contributions_follow_the_stage_weights(small_run):
    config, _, _, clv = small_run
    parts = money.driver_contributions(clv, config)
    row = clv.iloc[3]
    weights = getattr(config.market.stage_weights, str(row["stage"]))
    assert parts.iloc[3]["relationship_equity"] == pytest.approx(
        weights.switching_cost * row["switching_cost"], rel=1e-5
    )
    assert parts.iloc[3]["brand_equity"] == pytest.approx(weights.trust * row["trust"], rel=1e-5)


# ---------------------------------------------------------------------------
# Distribution of value
# ---------------------------------------------------------------------------


def test_top_share_of_equal_values_is_the_share_of_customers():
    assert money.top_share(np.ones(100), 0.2) == pytest.approx(0.2)


def test_top_share_of_a_pareto_hand_built_case():
    values = np.r_[np.full(20, 4.0), np.full(80, 0.25)]  # 20 customers hold 80 of 100
    assert money.top_share(values, 0.2) == pytest.approx(0.8)
    assert money.top_share(np.r_[values, -50.0], 0.2) < 0.81  # losses do not count as value
    assert np.isnan(money.top_share(np.zeros(5)))


def test_gini_and_lorenz():
    assert money.gini(np.ones(50)) == pytest.approx(0.0, abs=1e-12)
    assert money.gini(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)
    customers, value = money.lorenz_curve([3.0, 1.0, 0.0, 4.0])
    np.testing.assert_allclose(customers, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(value, [0, 0, 1 / 8, 4 / 8, 1.0])


# ---------------------------------------------------------------------------
# Firm value under a resource constraint
# ---------------------------------------------------------------------------


def test_firm_value_takes_the_best_value_per_resource_first():
    ltv = [10.0, 6.0, 5.0, -3.0]
    need = [5.0, 2.0, 2.0, 1.0]
    assert money.firm_value(ltv, need, 100.0) == pytest.approx(21.0)  # negatives dropped
    assert money.firm_value(ltv, need, 4.0) == pytest.approx(11.0)  # 6/2 and 5/2 beat 10/5
    assert money.firm_value(ltv, need, 5.0) == pytest.approx(11.0)  # 10 no longer fits
    assert money.firm_value(ltv, need, 0.0) == 0.0
    assert money.firm_value([2.0, 3.0], [0.0, 0.0], 0.0) == pytest.approx(5.0)  # free


def test_firm_value_refuses_bad_input():
    with pytest.raises(ValueError, match="0 or more"):
        money.firm_value([1.0], [-1.0], 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        money.firm_value([1.0, 2.0], [1.0], 1.0)


def _greedy_one_by_one(lifetime_values, resources, total_resources):
    """The greedy knapsack as MODEL.md section 6 states it: one customer after the other."""
    ltv, need = np.asarray(lifetime_values, float), np.asarray(resources, float)
    ltv, need = ltv[ltv > 0], need[ltv > 0]
    with np.errstate(divide="ignore"):
        density = np.where(need > 0, ltv / np.where(need > 0, need, 1.0), np.inf)
    value, left = 0.0, float(total_resources)
    for i in np.argsort(-density, kind="stable"):
        if need[i] <= left + 1e-12:
            value += ltv[i]
            left -= need[i]
    return value


def test_firm_value_is_the_one_by_one_greedy_pass_to_the_last_bit():
    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(0, 50))
        ltv = rng.normal(5, 10, n) * 10.0 ** rng.integers(-3, 4)
        need = [
            np.full(n, rng.random() * 3),  # one serve cost, as firm_value_curve has it
            rng.random(n) * 3,
            rng.integers(0, 3, n).astype(float),  # free customers among them
            np.round(rng.random(n), 1),  # ties in need
        ][trial % 4]
        total = float(rng.random() * need.sum()) if n else 1.0
        assert money.firm_value(ltv, need, total) == _greedy_one_by_one(ltv, need, total)


def test_firm_value_curve_never_rises_as_resources_shrink(small_run):
    config, _, _, clv = small_run
    curve = money.firm_value_curve(clv, config, shares=(1.0, 0.8, 0.5, 0.0))
    for _, rows in curve.groupby("firm"):
        values = rows.sort_values("resource_share", ascending=False)["firm_value"].to_numpy()
        assert (np.diff(values) <= 1e-9).all()
        assert values[-1] == 0.0
        assert values[0] == pytest.approx(rows["unconstrained_value"].iloc[0])


# ---------------------------------------------------------------------------
# CRM ROI
# ---------------------------------------------------------------------------


def _runs(seeds, profit, cost, referral=0.0, setting="traditional"):
    n = len(seeds)
    return pd.DataFrame(
        {
            "seed": seeds,
            "firm": "A",
            "setting": setting,
            "replication": range(n),
            "profit": profit,
            "cost": cost,
            "referral_value": referral,
            "customer_equity": profit,
            "retention_rate": 0.9,
        }
    )


def test_policy_returns_count_spend_once_and_gain_before_spend():
    scenario = _runs([1, 2], profit=[0.0, 0.0], cost=[0.0, 0.0]).assign(
        customer_equity=[130.0, 90.0], policy_cost=[20.0, 0.0]
    )
    baseline = _runs([1, 2], profit=[0.0, 0.0], cost=[0.0, 0.0]).assign(
        customer_equity=[100.0, 100.0], policy_cost=[0.0, 0.0]
    )
    returns = money.policy_returns(money.paired_runs(scenario, baseline))
    # S = 20, D = (130 + 20) - (100 + 0) = 50, D - S = 30 = the change in equity
    first = returns.iloc[0]
    assert (first["spend"], first["gross_gain"], first["incremental_equity"]) == (20, 50, 30)
    assert first["roi"] == pytest.approx((50 - 20) / 20)
    assert np.isnan(returns["roi"].iloc[1])  # nothing spent: no ROI


def test_roi_is_a_ratio_of_sums_with_a_delta_method_interval():
    gain, spend = np.array([3.0, 5.0, 4.0, 8.0]), np.array([2.0, 2.0, 3.0, 5.0])
    estimate = money.roi_estimate(gain, spend)
    roi = gain.sum() / spend.sum()
    assert estimate["roi"] == pytest.approx(roi)
    residual = gain - roi * spend
    half = 3.182446305284263 * residual.std(ddof=1) / (2.0 * spend.mean())  # t(3) 97.5%
    assert (estimate["roi_low"], estimate["roi_high"]) == pytest.approx((roi - half, roi + half))
    assert estimate["p_value"] == pytest.approx(stats.ttest_1samp(gain, 0.0).pvalue)
    assert np.isnan(money.roi_estimate([1.0, 2.0], [0.0, 0.0])["roi"])
    one = money.roi_estimate([1.0], [2.0])
    assert one["roi"] == 0.5 and np.isnan(one["roi_low"]) and np.isnan(one["p_value"])


def test_roi_interval_covers_the_true_roi_about_95_percent_of_the_time():
    """Seeded replications of 20 pairs each: spend and gain noisy around a true ROI of 0.8."""
    rng = np.random.default_rng(20261203)
    covered, trials = 0, 2000
    for _ in range(trials):
        spend = rng.gamma(4.0, 25.0, size=20)
        gain = 0.8 * spend + rng.normal(0.0, 40.0, size=20)
        estimate = money.roi_estimate(gain, spend)
        covered += estimate["roi_low"] <= 0.8 <= estimate["roi_high"]
    # binomial sd at 0.95 over 2,000 trials is 0.005: 4 sd either side
    assert covered / trials == pytest.approx(0.95, abs=0.02)


def test_a_run_without_a_baseline_partner_is_an_error_that_names_it():
    scenario = _runs([1, 2, 3], profit=[1.0] * 3, cost=[1.0] * 3).assign(run_id=[10, 11, 12])
    baseline = _runs([1, 2], profit=[1.0] * 2, cost=[1.0] * 2)
    with pytest.raises(ValueError, match=r"run 12 .*no baseline run"):
        money.paired_runs(scenario, baseline)


def test_unmatched_seeds_pair_by_setting_and_replication():
    pairs = money.paired_runs(
        _runs([7, 8], [1.0, 1.0], [1.0, 1.0]), _runs([1, 2], [1.0, 1.0], [1.0, 1.0])
    )
    assert len(pairs) == 2
    assert not pairs["common_random_numbers"].any()
