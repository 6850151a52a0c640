"""Each policy's intended direct effect, in isolation, plus scripted behaviour tables.

Effects are measured on paired runs: the same seed with and without the policy
on firm A (clasp, against zipper B and velcro C; 3,000 customers, 48 periods,
10 seeds). Policies draw from their own spawned stream, so both runs share
every other random number and the difference is the policy's doing. Each
effect is checked on the mean over seeds against a stated tolerance and in
every single seed (or, where noted, most), so one lucky seed cannot carry it.
Measured sizes (compiled engine with counter-based draws, ziggurat normals, a1e45fd)
are quoted next to each tolerance.

The scripted tables pin whom win-back and value targeting may touch, on
hand-made populations and on small instrumented runs.
"""

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from sim import CRMModel
from sim.config import PolicyConfig
from sim.policies import POLICIES, get_policy
from sim.population import NEVER, NO_FIRM, Population
from sim.stages import STAGE_NAMES, Stage
from tests.sim.policy_scenarios import firm_rows, market, record_contacts

SEEDS = range(10)
CUSTOMERS = 3000
PERIODS = 48
SHORT_RUN = 6
"""Periods that count as the short run for price promotion."""

MEMBER_STAGES = (Stage.FORMATION, Stage.STABILITY)


# ---------------------------------------------------------------------------
# Paired runs
# ---------------------------------------------------------------------------


@dataclass
class Trace:
    """What one run of the effect market records, per period and at its last step.

    Per-period arrays count firm A's customers: ``exploring`` (in exploration at
    the start of the period) and ``advanced`` (of those, in formation at A after
    it); ``explorer_satisfaction``/``explorers`` (A's exploration customers after
    the period); ``stable``, ``stable_revenue``, ``stable_value``,
    ``stable_satisfaction`` (customers stable at A at the start who are still
    in that relationship after it: their sales this period and state after);
    ``members``/``member_switching_cost`` (A's formation and stability
    customers after the period). ``last_revenue`` is every customer's sales in
    the last period and ``last_stable`` marks the ``stable`` customers of that
    period; ``member_at_end`` and ``switching_cost_at_end`` the state at the end;
    ``first_customers`` marks the rows still held by a customer of the starting
    population (new arrivals draw their traits in arrival order, which differs
    between runs: only the starting customers are common to two runs).
    """

    firms: object
    policies: object
    exploring: np.ndarray
    advanced: np.ndarray
    explorers: np.ndarray
    explorer_satisfaction: np.ndarray
    stable: np.ndarray
    stable_revenue: np.ndarray
    stable_value: np.ndarray
    stable_satisfaction: np.ndarray
    members: np.ndarray
    member_switching_cost: np.ndarray
    last_revenue: np.ndarray
    last_stable: np.ndarray
    member_at_end: np.ndarray
    switching_cost_at_end: np.ndarray
    first_customers: np.ndarray


@functools.cache
def trace(name, seed):
    """Run the effect market with policy ``name`` (defaults, no budget) on A, or none."""
    policies = [] if name is None else [{"name": name}]
    model = CRMModel(market(policies, customers=CUSTOMERS, periods=PERIODS), rng=seed)
    pop = model.customers
    sums = {
        key: np.zeros(PERIODS)
        for key in (
            "exploring",
            "advanced",
            "explorers",
            "explorer_satisfaction",
            "stable",
            "stable_revenue",
            "stable_value",
            "stable_satisfaction",
            "members",
            "member_switching_cost",
        )
    }
    for t in range(PERIODS):
        at_a = pop.firm == 0
        exploring = at_a & (pop.stage == Stage.EXPLORATION)
        stable = at_a & (pop.stage == Stage.STABILITY)
        revenue_before = pop.revenue_to_date.astype(np.float64)
        acquired_before = pop.acquired_period.copy()
        model.step()
        at_a = pop.firm == 0
        same_relationship = at_a & (pop.acquired_period == acquired_before)
        stable &= same_relationship
        sales = pop.revenue_to_date - revenue_before
        explorers = at_a & (pop.stage == Stage.EXPLORATION)
        members = at_a & np.isin(pop.stage, MEMBER_STAGES)
        for key, value in (
            ("exploring", exploring.sum()),
            ("advanced", (exploring & same_relationship & (pop.stage == Stage.FORMATION)).sum()),
            ("explorers", explorers.sum()),
            ("explorer_satisfaction", pop.satisfaction[explorers].sum(dtype=np.float64)),
            ("stable", stable.sum()),
            ("stable_revenue", sales[stable].sum()),
            ("stable_value", pop.value[stable].sum(dtype=np.float64)),
            ("stable_satisfaction", pop.satisfaction[stable].sum(dtype=np.float64)),
            ("members", members.sum()),
            ("member_switching_cost", pop.switching_cost[members].sum(dtype=np.float64)),
        ):
            sums[key][t] = value
    return Trace(
        firms=model.firm_frame(),
        policies=model.policy_frame(),
        **sums,
        last_revenue=sales,
        last_stable=stable,
        member_at_end=members,
        switching_cost_at_end=pop.switching_cost.copy(),
        first_customers=pop.identity < len(pop),
    )


def paired(name, measure):
    """``measure(trace)`` with and without policy ``name``, one value per seed."""
    with_policy = np.array([measure(trace(name, seed)) for seed in SEEDS], dtype=float)
    without = np.array([measure(trace(None, seed)) for seed in SEEDS], dtype=float)
    return with_policy, without


def ratio(numerator, denominator):
    return lambda tr: getattr(tr, numerator).sum() / getattr(tr, denominator).sum()


def recovery_rate(tr):
    """Share of A's declining customers' exits from decline that were recoveries."""
    rows = firm_rows(tr.firms)
    return rows.recoveries.sum() / (rows.recoveries.sum() + rows.exits_from_decline.sum())


def firm_mean(column, last=PERIODS):
    def measure(tr):
        rows = firm_rows(tr.firms)
        return rows[rows.period <= last][column].mean()

    return measure


def revenue_per_customer(last):
    def measure(tr):
        rows = firm_rows(tr.firms)
        rows = rows[rows.period <= last]
        return (rows.revenue / rows.customers).mean()

    return measure


# ---------------------------------------------------------------------------
# service_recovery
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_service_recovery_raises_the_decline_to_recovery_rate():
    """Recoveries / (recoveries + exits from decline): +0.05 or more (measured 0.28 -> 0.41)."""
    with_policy, without = paired("service_recovery", recovery_rate)
    assert (with_policy - without).mean() >= 0.05
    assert (with_policy > without).all()


@pytest.mark.slow
def test_service_recovery_counts_the_recoveries_of_the_customers_it_contacted():
    """Without a budget it contacts every declining customer of A, so the policy's
    ``recovered`` is exactly A's ``recoveries`` in every period."""
    for seed in SEEDS:
        tr = trace("service_recovery", seed)
        rows = firm_rows(tr.firms)
        assert tr.policies.recovered.sum() > 0
        np.testing.assert_array_equal(tr.policies.recovered.to_numpy(), rows.recoveries.to_numpy())
        np.testing.assert_array_equal(
            tr.policies.touched.to_numpy()[1:], rows.decline.to_numpy()[:-1]
        )


# ---------------------------------------------------------------------------
# loyalty_programme
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_loyalty_programme_raises_the_switching_cost_of_members():
    """Mean switching cost of A's formation/stability customers: +0.10 or more
    (measured 0.23 -> 0.44)."""
    with_policy, without = paired("loyalty_programme", ratio("member_switching_cost", "members"))
    assert (with_policy - without).mean() >= 0.10
    assert (with_policy > without).all()


@pytest.mark.slow
def test_loyalty_programme_raises_the_switching_cost_of_the_same_customers():
    """Customers who are A's members at the end of both runs: +0.10 or more
    (measured 0.29 -> 0.57, 105-142 such customers per seed)."""
    differences = []
    for seed in SEEDS:
        with_policy, without = trace("loyalty_programme", seed), trace(None, seed)
        both = with_policy.member_at_end & without.member_at_end
        assert both.sum() >= 20
        differences.append(
            with_policy.switching_cost_at_end[both].mean()
            - without.switching_cost_at_end[both].mean()
        )
    assert np.mean(differences) >= 0.10
    assert (np.array(differences) > 0).all()


# ---------------------------------------------------------------------------
# onboarding
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_onboarding_speeds_exploration_to_formation():
    """Per-period chance an exploring customer of A moves to formation: +10% or more
    relative (measured 0.075 -> 0.087, x1.16; every seed x1.13 or more).

    Smaller than before issue 20 (0.051 -> 0.069, x1.35, checked at x1.20): with each
    customer's own taste for each firm (``market.fit_spread``) explorers are spread
    further from the advancement threshold and more of them advance without help, so
    the same value lift moves a smaller share (x1.27 with ``fit_spread`` 0)."""
    with_policy, without = paired("onboarding", ratio("advanced", "exploring"))
    assert (with_policy / without).mean() >= 1.10
    assert (with_policy > without).all()


@pytest.mark.slow
def test_onboarding_raises_the_satisfaction_of_exploring_customers():
    """Mean satisfaction of A's exploration customers: +0.01 or more (measured 0.656 -> 0.682)."""
    with_policy, without = paired("onboarding", ratio("explorer_satisfaction", "explorers"))
    assert (with_policy - without).mean() >= 0.01
    assert (with_policy > without).all()


# ---------------------------------------------------------------------------
# cross_sell
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_cross_sell_multiplies_the_revenue_of_the_same_stable_customers():
    """A customer stable at A in both runs has the same purchase occasions in both (common
    random numbers: the lift raises the spend per occasion, not how often it buys), so one
    with no occasion in the period pays nothing in either run, and one with occasions pays
    exactly (1 + spend_lift) times as much. Only customers of the starting population are
    the same customer in both runs (an arrival's traits depend on the arrivals before it)."""
    lift = POLICIES["cross_sell"].parameters["spend_lift"].default
    for seed in SEEDS:
        with_policy, without = trace("cross_sell", seed), trace(None, seed)
        both = (
            with_policy.last_stable
            & without.last_stable
            & with_policy.first_customers
            & without.first_customers
        )
        bought = without.last_revenue[both] > 0
        np.testing.assert_array_equal(with_policy.last_revenue[both] > 0, bought)
        assert bought.sum() >= 20
        np.testing.assert_allclose(
            with_policy.last_revenue[both][bought] / without.last_revenue[both][bought],
            1.0 + lift,
            rtol=1e-4,
        )


@pytest.mark.slow
def test_cross_sell_raises_revenue_per_stable_customer():
    """Sales per stable customer-period of A: +5% or more on average (measured +15%),
    higher in at least 8 of 10 seeds (who is stable differs between runs)."""
    with_policy, without = paired("cross_sell", ratio("stable_revenue", "stable"))
    assert (with_policy / without).mean() >= 1.05
    assert (with_policy > without).sum() >= 8


@pytest.mark.slow
def test_cross_sell_pushiness_costs_a_little_value_and_satisfaction():
    """Stable customers of A: value down by about ``pushiness`` (0.02; measured -0.020),
    satisfaction down a little (measured -0.013), neither by more than 0.05."""
    pushiness = POLICIES["cross_sell"].parameters["pushiness"].default
    value_with, value_without = paired("cross_sell", ratio("stable_value", "stable"))
    value_change = value_with - value_without
    assert -1.5 * pushiness <= value_change.mean() <= -0.5 * pushiness
    assert (value_change < 0).all()
    satisfaction_with, satisfaction_without = paired(
        "cross_sell", ratio("stable_satisfaction", "stable")
    )
    satisfaction_change = satisfaction_with - satisfaction_without
    assert -0.05 <= satisfaction_change.mean() < 0.0
    assert (satisfaction_change < 0).all()


# ---------------------------------------------------------------------------
# price_promotion
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_price_promotion_trains_expectations_upward():
    """Mean expectation of A's customers: +0.05 or more (measured 0.51 -> 0.64)."""
    with_policy, without = paired("price_promotion", firm_mean("mean_expectation"))
    assert (with_policy - without).mean() >= 0.05
    assert (with_policy > without).all()


@pytest.mark.slow
def test_price_promotion_lowers_contribution_net_of_its_discounts_in_the_short_run():
    """Periods 1-6, per customer of A: revenue (at list price) minus the discounts given
    falls by 5% or more (the discount is 10%; measured about -9%)."""

    def net_revenue(tr):
        rows = firm_rows(tr.firms)
        rows = rows[rows.period <= SHORT_RUN]
        return ((rows.revenue - rows.policy_cost) / rows.customers).mean()

    with_policy, without = paired("price_promotion", net_revenue)
    assert (with_policy / without).mean() <= 0.95
    assert (with_policy < without).all()


@pytest.mark.slow
def test_price_promotion_books_list_revenue_and_its_discount_as_spend():
    """Period 1 starts from the same customers in both runs: the same revenue, at list
    price; the promotion spends the discount on it, never more, less only where a
    customer's voucher runs out."""
    discount = POLICIES["price_promotion"].parameters["discount"].default
    for seed in SEEDS:
        promoted, plain = (
            firm_rows(trace(name, seed).firms).iloc[0] for name in ("price_promotion", None)
        )
        assert promoted.revenue == pytest.approx(plain.revenue, rel=1e-5)
        assert 0.5 * discount * promoted.revenue < promoted.policy_cost
        assert promoted.policy_cost <= discount * promoted.revenue * (1 + 1e-6)
        spend = trace("price_promotion", seed).policies
        assert spend[spend.period == 1].spend.sum() == pytest.approx(promoted.policy_cost)


def test_price_promotion_spends_each_customers_discount_up_to_its_voucher():
    """By hand, from the purchase log: each period's spend is the sum over A's customers
    of min(discount x their sales at list price, voucher)."""
    params = POLICIES["price_promotion"].parameters
    discount, voucher = params["discount"].default, params["voucher"].default
    model = CRMModel(market([{"name": "price_promotion"}], periods=6), rng=3)
    model.log_transactions()
    model.run()
    log = model.transactions_frame()
    sales = log[log.firm == "A"].groupby(["period", "customer"]).revenue.sum()
    by_hand = np.minimum(discount * sales.astype(np.float64), voucher).groupby("period").sum()
    spend = model.policy_frame().set_index("period").spend
    np.testing.assert_allclose(spend.loc[by_hand.index], by_hand, rtol=1e-5)
    assert (sales * discount > voucher).any()  # some vouchers run out: the cap is exercised


@pytest.mark.parametrize("budget", [2.0, 10.0, 200.0])
def test_a_price_promotion_never_spends_more_than_its_budget(budget):
    """Every period, every seed: the discounts given (and contact costs) within the budget;
    the tighter budgets bind, so the test reaches the cap."""
    spec = {"name": "price_promotion", "budget": budget, "cost_per_contact": 0.01}
    bound = []
    for seed in range(4):
        model = CRMModel(market([spec], customers=1500, periods=24), rng=seed)
        model.run()
        frame = model.policy_frame()
        assert (frame.spend <= budget + 1e-9).all(), frame.spend.max()
        assert (frame.spend > 0).all()
        bound.append(frame.budget_exhausted.mean())
    if budget < 200.0:
        assert np.mean(bound) > 0.5


# ---------------------------------------------------------------------------
# win_back
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_win_back_brings_former_customers_back():
    """Every seed wins some back; the ledger and the policy frame agree; about
    ``win_back_rate`` of those contacted come back (pooled, within 0.02)."""
    rate = POLICIES["win_back"].parameters["win_back_rate"].default
    contacted = won = 0
    for seed in SEEDS:
        tr = trace("win_back", seed)
        frame = tr.firms[tr.firms.period > 0]
        wins = frame.pivot(index="period", columns="firm", values="acquisitions_win_back")
        assert wins.A.sum() > 0
        assert (wins.B == 0).all()
        assert (wins.C == 0).all()
        np.testing.assert_array_equal(tr.policies.won_back.to_numpy(), wins.A.to_numpy())
        assert (firm_rows(tr.firms).acquisitions >= wins.A.to_numpy()).all()
        contacted += tr.policies.touched.sum()
        won += tr.policies.won_back.sum()
    assert won / contacted == pytest.approx(rate, abs=0.02)
    assert all(
        firm_rows(trace(None, seed).firms).acquisitions_win_back.sum() == 0 for seed in SEEDS
    )


def population(rows):
    """A hand-made population, one customer per row of (stage, firm, last_firm, left_period)."""
    n = len(rows)
    stage, firm, last_firm, left_period = (np.array(column) for column in zip(*rows, strict=True))
    zeros, ones = np.zeros(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    return Population(
        segment=np.zeros(n, dtype=np.int8),
        need_distance=zeros.copy(),
        personalization_need=zeros.copy(),
        price_sensitivity=ones.copy(),
        spend=np.linspace(2.0, 0.5, n, dtype=np.float32),
        churn_propensity=ones.copy(),
        involvement=ones.copy(),
        firm=firm.astype(np.int8),
        last_firm=last_firm.astype(np.int8),
        stage=stage.astype(np.int8),
        stage_before_decline=stage.astype(np.int8),
        deepest_stage=stage.astype(np.int8),
        stage_age=np.zeros(n, dtype=np.int16),
        tenure=np.zeros(n, dtype=np.int16),
        stability_periods=np.zeros(n, dtype=np.int16),
        acquired_period=np.zeros(n, dtype=np.int16),
        left_period=left_period.astype(np.int16),
        expectation=zeros.copy(),
        value=zeros.copy(),
        satisfaction=zeros.copy(),
        trust=zeros.copy(),
        switching_cost=zeros.copy(),
        revenue_to_date=zeros.copy(),
        clv=zeros.copy(),
        purchase_rate=ones.copy(),
        expectation_norm=zeros.copy(),
        identity=np.arange(n, dtype=np.int64),
    )


X, P = Stage.EXITED, Stage.PROSPECT
WIN_BACK_TABLE = [
    # stage, firm, last_firm, left_period -> eligible for firm 0 at period 40, window 12
    ((X, NO_FIRM, 0, 39), True),  # left A last period, out of the market
    ((X, NO_FIRM, 0, 28), True),  # left exactly `window` periods ago
    ((X, NO_FIRM, 0, 27), False),  # left longer ago than the window
    ((X, NO_FIRM, 1, 39), False),  # left another firm
    ((X, NO_FIRM, NO_FIRM, NEVER), False),  # never had a relationship end
    ((P, NO_FIRM, 0, 39), False),  # came back to the market as a prospect: not targeted
    ((Stage.EXPLORATION, 0, 0, 39), False),  # already back with A
    ((Stage.EXPLORATION, 1, 0, 39), False),  # now a customer of a rival
    ((Stage.DECLINE, 2, 0, 35), False),
]


def test_win_back_targets_only_recent_former_customers_out_of_the_market():
    rows = [row for row, _ in WIN_BACK_TABLE]
    expected = np.array([eligible for _, eligible in WIN_BACK_TABLE])
    params = PolicyConfig(name="win_back", window=12).params
    mask = get_policy("win_back").eligible(
        population(rows), 0, np.array(POLICIES["win_back"].stages), 40, params
    )
    np.testing.assert_array_equal(mask, expected)


def test_win_back_with_prospects_configured_targets_recent_former_customers_back_in_market():
    rows = [row for row, _ in WIN_BACK_TABLE]
    params = PolicyConfig(name="win_back", window=12).params
    mask = get_policy("win_back").eligible(
        population(rows), 0, np.array([Stage.PROSPECT]), 40, params
    )
    np.testing.assert_array_equal(mask, [row == (P, NO_FIRM, 0, 39) for row in rows])


def test_win_back_never_targets_customers_who_have_a_firm_whatever_the_stages():
    """d93da3e made a former customer now active at a rival eligible when an active stage
    was configured (fixed in 375709b)."""
    rows = [row for row, _ in WIN_BACK_TABLE]
    every_stage = np.array(list(Stage))
    params = PolicyConfig(name="win_back", window=12).params
    mask = get_policy("win_back").eligible(population(rows), 0, every_stage, 40, params)
    firm = np.array([row[1] for row in rows])
    assert mask.any()
    assert not mask[firm != NO_FIRM].any()


def test_win_back_configured_for_active_stages_takes_no_customer_from_a_rival():
    """With every stage configured, each firm's stock still follows its flows."""
    config = market([{"name": "win_back", "stages": list(STAGE_NAMES)}])
    model = CRMModel(config, rng=8).run()
    assert model.policy_frame().won_back.sum() > 0
    frame = model.firm_frame()
    for firm in ("A", "B", "C"):
        rows = frame[frame.firm == firm].sort_values("period")
        np.testing.assert_array_equal(
            np.diff(rows.customers.to_numpy()),
            (rows.acquisitions - rows.defections).to_numpy()[1:],
            err_msg=firm,
        )


def test_win_back_in_a_run_contacts_exactly_the_recent_former_customers():
    """Instrumented run: each period the contacted are all customers out of the market
    whose relationship with A ended within the window, and nobody else."""
    window = 6
    model = CRMModel(market([{"name": "win_back", "window": window}], periods=36), rng=21)
    contacts = record_contacts(model)
    model.run()
    assert len(contacts) >= 10
    for contact in contacts:
        expected = np.flatnonzero(
            (contact.stage == Stage.EXITED)
            & (contact.last_firm == 0)
            & (contact.period - contact.left_period.astype(int) <= window)
        )
        np.testing.assert_array_equal(np.sort(contact.touched), expected)
    frame = model.policy_frame()
    assert frame.won_back.sum() > 0
    assert (frame.won_back <= frame.touched).all()


# ---------------------------------------------------------------------------
# value_targeting
# ---------------------------------------------------------------------------


@functools.cache
def mixed_population():
    """A 3,000-customer population after 18 periods: every active stage at every firm."""
    return CRMModel(market(customers=3000, periods=18), rng=17).run().customers


@pytest.mark.parametrize("top_share", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_value_targeting_picks_the_top_spenders_of_the_firm(top_share):
    pop = mixed_population()
    stages = np.array(POLICIES["value_targeting"].stages)
    params = PolicyConfig(name="value_targeting", top_share=top_share).params
    mask = get_policy("value_targeting").eligible(pop, 1, stages, 18, params)
    in_stage = (pop.firm == 1) & np.isin(pop.stage, stages)
    assert in_stage.sum() >= 100
    assert not mask[~in_stage].any()
    assert mask.sum() == int(np.floor(top_share * in_stage.sum()))
    if 0 < mask.sum() < in_stage.sum():
        assert pop.spend[mask].min() >= pop.spend[in_stage & ~mask].max()


def test_value_targeting_with_a_budget_spends_it_on_the_highest_spenders():
    """Instrumented run, budget for 5 contacts: each period the touched are the 5 highest
    spenders of A's customers in its stages, and none of the others spends more."""
    cost = POLICIES["value_targeting"].parameters["cost_per_contact"].default
    model = CRMModel(
        market([{"name": "value_targeting", "budget": 5 * cost, "top_share": 1.0}]), rng=22
    )
    contacts = record_contacts(model)
    model.run()
    frame = model.policy_frame()
    assert frame.budget_exhausted.all()
    assert len(contacts) == model.config.simulation.periods
    stages = POLICIES["value_targeting"].stages
    for contact in contacts:
        in_stage = (contact.firm_of == 0) & np.isin(contact.stage, stages)
        touched = np.zeros_like(in_stage)
        touched[contact.touched] = True
        assert contact.touched.size == 5
        assert in_stage[touched].all()
        assert contact.spend[touched].min() >= contact.spend[in_stage & ~touched].max()


def test_value_targeting_with_a_budget_picks_from_its_top_share_only():
    """top_share 0.2 and a budget for 3: the 3 touched are the top 3 of A's whole base."""
    cost = POLICIES["value_targeting"].parameters["cost_per_contact"].default
    model = CRMModel(market([{"name": "value_targeting", "budget": 3 * cost}]), rng=23)
    contacts = record_contacts(model)
    model.run()
    stages = POLICIES["value_targeting"].stages
    for contact in contacts:
        in_stage = np.flatnonzero((contact.firm_of == 0) & np.isin(contact.stage, stages))
        top = in_stage[np.argsort(-contact.spend[in_stage], kind="stable")[:3]]
        np.testing.assert_array_equal(np.sort(contact.touched), np.sort(top))
