"""One contract over every registered retention policy.

Parametrized over ``sim.policies.POLICIES`` itself, so a new policy is checked
the moment it is registered: its registry entry (name, summary, stages,
parameters with defaults in range), its configuration (defaults filled in,
bad input rejected with the valid choices), and how the engine runs it (a zero
budget is the run without it, an unlimited budget touches every eligible
customer, a budget of k contacts touches at most k, spend adds up in the
ledger, seeded runs repeat, the policy pickles).

Runs are a 1,500-customer, 24-period market in which firm A runs the policy.
"""

import functools
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sim import CRMModel
from sim.config import PolicyConfig
from sim.policies import POLICIES, Effects, Parameter, Policy, affordable, get_policy
from sim.population import NO_FIRM
from sim.stages import STAGE_NAMES, Stage
from tests.sim.policy_scenarios import (
    NAMES,
    commitment,
    gives_discounts,
    market,
    other_stages,
    paid_cost,
    record_contacts,
    targets_former_customers,
)

POLICY_COLUMNS = ("policy_cost", "acquisitions_win_back")
MONEY_COLUMNS = (
    "policy_cost",
    "cost",
    "profit",
    "discounted_profit",
    "discounted_policy_cost",
    "ended_clv",
)
"""The ledger columns a policy's spend moves: its cost, the profit it comes out of, and their
discounted terms in the equity ledger (customer clv is compared separately)."""
SEEDS = (0, 1, 2)


@functools.cache
def baseline(seed):
    """Frames of the test market without any policy (shared by the zero-budget tests)."""
    model = CRMModel(market(), rng=seed).run()
    return model.firm_frame(), model.customers_frame(), model.market_frame()


def run(policies, seed=0, **market_options):
    return CRMModel(market(policies, **market_options), rng=seed).run()


@functools.cache
def sample_population():
    """A population after 12 periods: every stage is present, some customers have left."""
    model = CRMModel(market(periods=12), rng=3).run()
    return model.customers


def check_within_budget(frame, k):
    """Each period the policy touches min(eligible, k) and reports exhaustion iff eligible > k."""
    assert (frame.touched <= k).all()
    assert (frame.touched == np.minimum(frame.eligible, k)).all()
    assert (frame.budget_exhausted == (frame.eligible > k)).all()


# ---------------------------------------------------------------------------
# The registry entry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
class TestRegistryEntry:
    def test_constructs_by_name(self, name):
        cls = POLICIES[name]
        assert issubclass(cls, Policy)
        policy = get_policy(name)
        assert type(policy) is cls
        assert cls.name == name
        assert cls.__doc__ and cls.__doc__.strip()

    def test_has_a_summary_and_target_stages(self, name):
        cls = POLICIES[name]
        assert isinstance(cls.summary, str)
        assert cls.summary.strip()
        assert isinstance(cls.stages, tuple)
        assert cls.stages
        assert all(isinstance(stage, Stage) for stage in cls.stages)
        assert len(set(cls.stages)) == len(cls.stages)

    def test_parameters_have_defaults_inside_their_ranges(self, name):
        parameters = POLICIES[name].parameters
        assert "cost_per_contact" in parameters  # the engine reads it for every policy
        for key, spec in parameters.items():
            assert isinstance(spec, Parameter), key
            assert spec.low <= spec.default <= spec.high, key
            assert spec.low < spec.high, key
            assert spec.description.strip(), key
            assert all(math.isfinite(v) for v in (spec.low, spec.default, spec.high)), key
        assert parameters["cost_per_contact"].low >= 0.0

    def test_apply_writes_only_to_the_touched_customers(self, name):
        population = sample_population()
        policy, params = get_policy(name), PolicyConfig(name=name).params
        n = len(population)
        touched = np.arange(0, n, 7)
        effects, neutral = Effects.none(n), Effects.none(n)
        policy.apply(effects, touched, population, params)
        untouched = np.setdiff1d(np.arange(n), touched)
        for field in (
            "value_bonus",
            "switching_cost_bonus",
            "recovery_bonus",
            "wallet_multiplier",
            "price_multiplier",
            "expectation_push",
            "cost",
            "allowance",
        ):
            np.testing.assert_array_equal(
                getattr(effects, field)[untouched],
                getattr(neutral, field)[untouched],
                err_msg=field,
            )
        assert not effects.cost.any()  # the engine books the cost, not the policy

    def test_apply_to_nobody_changes_nothing(self, name):
        population = sample_population()
        n = len(population)
        effects = Effects.none(n)
        get_policy(name).apply(
            effects, np.empty(0, dtype=np.intp), population, PolicyConfig(name=name).params
        )
        neutral = Effects.none(n)
        for field in vars(neutral):
            np.testing.assert_array_equal(getattr(effects, field), getattr(neutral, field))

    def test_eligible_customers_are_the_firms_in_the_target_stages(self, name):
        population = sample_population()
        cls = POLICIES[name]
        params = PolicyConfig(name=name).params
        mask = get_policy(name).eligible(population, 0, np.array(cls.stages), 13, params)
        assert mask.dtype == bool
        assert mask.shape == (len(population),)
        assert mask.any()
        assert np.isin(population.stage[mask], cls.stages).all()
        owner = population.last_firm if targets_former_customers(name) else population.firm
        assert (owner[mask] == 0).all()

    def test_pickles(self, name):
        policy = get_policy(name)
        clone = pickle.loads(pickle.dumps(policy))
        assert type(clone) is type(policy)
        population = sample_population()
        spec = PolicyConfig(name=name)
        stages = np.array(POLICIES[name].stages)
        original = policy.eligible(population, 0, stages, 13, spec.params)
        np.testing.assert_array_equal(
            clone.eligible(population, 0, stages, 13, spec.params), original
        )
        touched = np.flatnonzero(original)
        first, second = Effects.none(len(population)), Effects.none(len(population))
        policy.apply(first, touched, population, spec.params)
        clone.apply(second, touched, population, spec.params)
        for field in vars(first):
            np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
        assert pickle.loads(pickle.dumps(spec)) == spec


def test_registry_keys_are_the_policy_names():
    assert NAMES
    assert all(cls.name == key for key, cls in POLICIES.items())


def test_get_policy_rejects_unknown_names_listing_the_valid_ones():
    with pytest.raises(ValueError, match="'nope'") as excinfo:
        get_policy("nope")
    for name in POLICIES:
        assert name in str(excinfo.value)


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


def error_text(excinfo):
    return str(excinfo.value)


@pytest.mark.parametrize("name", NAMES)
class TestPolicyConfig:
    def test_just_the_name_validates_and_fills_every_parameter(self, name):
        spec = PolicyConfig(name=name)
        defaults = {key: p.default for key, p in POLICIES[name].parameters.items()}
        assert spec.params == defaults
        assert spec.budget is None
        assert spec.stages is None
        assert spec.segment is None

    def test_a_firm_config_fills_them_too_and_round_trips(self, name):
        config = market([{"name": name}])
        (spec,) = config.firms[0].policies
        assert spec.params == PolicyConfig(name=name).params
        assert type(config).model_validate(config.model_dump()) == config

    def test_parameters_at_their_bounds_are_accepted(self, name):
        for key, parameter in POLICIES[name].parameters.items():
            for value in (parameter.low, parameter.high):
                assert PolicyConfig(name=name, **{key: value}).params[key] == value

    def test_rejects_an_unknown_parameter_listing_the_valid_ones(self, name):
        with pytest.raises(ValidationError) as excinfo:
            PolicyConfig(name=name, bogus_lever=0.5)
        text = error_text(excinfo)
        assert "bogus_lever" in text
        assert name in text
        for key in POLICIES[name].parameters:
            assert key in text

    def test_rejects_out_of_range_parameters_naming_them_and_the_range(self, name):
        for key, parameter in POLICIES[name].parameters.items():
            span = parameter.high - parameter.low
            for value in (parameter.low - 0.5 * span - 1.0, parameter.high + 0.5 * span + 1.0):
                with pytest.raises(ValidationError) as excinfo:
                    PolicyConfig(name=name, **{key: value})
                text = error_text(excinfo)
                assert key in text
                assert f"[{parameter.low:g}, {parameter.high:g}]" in text

    def test_rejects_a_non_number_parameter(self, name):
        with pytest.raises(ValidationError, match="cost_per_contact"):
            PolicyConfig(name=name, cost_per_contact="cheap")

    def test_rejects_a_negative_budget(self, name):
        with pytest.raises(ValidationError, match="budget"):
            PolicyConfig(name=name, budget=-1.0)

    def test_rejects_an_unknown_stage_listing_the_valid_ones(self, name):
        with pytest.raises(ValidationError) as excinfo:
            market([{"name": name, "stages": ["exploration", "honeymoon"]}])
        text = error_text(excinfo)
        assert "'honeymoon'" in text
        assert "firms.0.policies.0.stages" in text
        for stage in STAGE_NAMES:
            assert stage in text

    def test_rejects_an_unknown_segment_listing_the_valid_ones(self, name):
        with pytest.raises(ValidationError) as excinfo:
            market([{"name": name, "segment": "whales"}])
        text = error_text(excinfo)
        assert "'whales'" in text
        assert "firms.0.policies.0.segment" in text
        for segment in ("mainstream", "individualists", "bargain_hunters"):
            assert segment in text


def test_an_unknown_policy_name_is_rejected_listing_the_valid_ones():
    with pytest.raises(ValidationError) as excinfo:
        market([{"name": "loyalty_programme"}, {"name": "free_lunch", "budget": 1.0}])
    text = error_text(excinfo)
    assert "'free_lunch'" in text
    assert "firms.0.policies.1" in text
    for name in POLICIES:
        assert name in text


@pytest.mark.parametrize(
    ("budget", "cost", "expected"),
    [
        (None, 0.1, math.inf),
        (None, 0.0, math.inf),
        (0.0, 0.1, 0.0),
        (0.0, 0.0, 0.0),  # a zero budget touches nobody, even at no cost
        (1.0, 0.0, math.inf),
        (0.3, 0.1, 3.0),  # 0.3 / 0.1 is 2.9999999999999996 in floating point
        (0.7, 0.1, 7.0),
        (0.29, 0.1, 2.0),
        (1.0, 0.3, 3.0),
        (0.05, 0.2, 0.0),
    ],
)
def test_affordable_contacts(budget, cost, expected):
    assert affordable(budget, cost) == expected


# ---------------------------------------------------------------------------
# How the engine runs a policy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", SEEDS)
def test_zero_budget_is_the_run_without_the_policy(name, seed):
    model = run([{"name": name, "budget": 0.0}], seed)
    firms, customers, markets = baseline(seed)
    pd.testing.assert_frame_equal(model.firm_frame(), firms, check_exact=True)
    pd.testing.assert_frame_equal(model.customers_frame(), customers, check_exact=True)
    pd.testing.assert_frame_equal(model.market_frame(), markets, check_exact=True)
    for column in POLICY_COLUMNS:
        assert (model.firm_frame()[column] == 0).all(), column
    policy = model.policy_frame()
    assert len(policy) == model.config.simulation.periods
    assert (policy.touched == 0).all()
    assert (policy.spend == 0).all()
    assert (policy.won_back == 0).all()
    assert (policy.budget_exhausted == (policy.eligible > 0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_zero_budget_at_zero_cost_is_the_run_without_the_policy(name):
    model = run([{"name": name, "budget": 0.0, "cost_per_contact": 0.0}], 1)
    firms, customers, _ = baseline(1)
    pd.testing.assert_frame_equal(model.firm_frame(), firms, check_exact=True)
    pd.testing.assert_frame_equal(model.customers_frame(), customers, check_exact=True)
    assert model.policy_frame().eligible.sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_unlimited_budget_touches_every_eligible_customer(name):
    model = CRMModel(market([{"name": name}]), rng=4)
    contacts = record_contacts(model)
    model.run()
    frame = model.policy_frame()
    assert frame.eligible.sum() > 0
    assert (frame.touched == frame.eligible).all()
    assert not frame.budget_exhausted.any()
    cost = PolicyConfig(name=name).params["cost_per_contact"]
    if gives_discounts(name):  # the contacts, and the discounts given on top
        assert (frame.spend > frame.touched * cost).all()
    else:
        np.testing.assert_allclose(frame.spend, frame.touched * cost)
    # whom it touched: customers (or, for win-back, former customers) of A in its stages
    owner = "last_firm" if targets_former_customers(name) else "firm_of"
    assert sum(c.touched.size for c in contacts) == frame.touched.sum()
    for contact in contacts:
        assert np.isin(contact.stage[contact.touched], POLICIES[name].stages).all()
        assert (getattr(contact, owner)[contact.touched] == 0).all()
        assert np.unique(contact.touched).size == contact.touched.size


@pytest.mark.parametrize("k", [1, 6])
@pytest.mark.parametrize("name", NAMES)
def test_a_budget_of_k_contacts_touches_at_most_k_per_period(name, k):
    cost = paid_cost(name)
    budget = k * commitment(name, cost)
    model = run([{"name": name, "cost_per_contact": cost, "budget": budget}], 5)
    frame = model.policy_frame()
    assert (frame.eligible > k).any()  # the budget does bind somewhere
    check_within_budget(frame, k)
    if not gives_discounts(name):
        np.testing.assert_allclose(frame.spend, frame.touched * cost)
    assert (frame.spend <= budget + 1e-9).all()


@pytest.mark.parametrize("name", NAMES)
def test_policy_spend_adds_up_in_the_firms_books(name):
    """A runs it on a budget, B without one; C runs nothing."""
    cost, k = paid_cost(name), 4
    model = run(
        [{"name": name, "cost_per_contact": cost, "budget": k * commitment(name, cost)}],
        6,
        policies_b=[{"name": name, "cost_per_contact": cost}],
    )
    policy, firms = model.policy_frame(), model.firm_frame()
    check_within_budget(policy[policy.firm == "A"], k)
    spent = policy.groupby(["period", "firm"]).spend.sum()
    booked = firms[firms.period > 0].set_index(["period", "firm"]).policy_cost
    np.testing.assert_allclose(
        spent.reindex(booked.index, fill_value=0.0), booked, rtol=1e-12, atol=1e-12
    )
    assert booked.xs("A", level="firm").sum() > 0
    assert booked.xs("B", level="firm").sum() > 0
    assert (booked.xs("C", level="firm") == 0).all()
    np.testing.assert_allclose(
        firms.cost,
        firms.serve_cost + firms.acquisition_spend + firms.policy_cost,
        rtol=1e-9,
        atol=1e-9,
    )
    margin = firms.firm.map({f.name: f.margin for f in model.config.firms})
    np.testing.assert_allclose(
        firms.profit, margin * firms.revenue - firms.cost, rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(
        firms.profit,
        firms.contribution + firms.referral_value - firms.acquisition_cost - firms.policy_cost,
        rtol=1e-9,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_cost_per_contact_only_moves_money(name):
    """With an unlimited budget the cost does not change whom a policy touches, so a paid
    and a free run differ only in money: the firm's profit by exactly its policy spend.

    Also what caught d93da3e booking win-back contacts who stayed away to no firm
    (their cost left profit and was subtracted from serve_cost); fixed in 375709b.
    """
    cost = paid_cost(name)
    paid = run([{"name": name, "cost_per_contact": cost}], 7)
    free = run([{"name": name, "cost_per_contact": 0.0}], 7)
    paid_firms, free_firms = paid.firm_frame(), free.firm_frame()
    same = [c for c in paid_firms.columns if c not in (*MONEY_COLUMNS, "serve_cost")]
    pd.testing.assert_frame_equal(paid_firms[same], free_firms[same], check_exact=True)
    paid_customers, free_customers = paid.customers_frame(), free.customers_frame()
    pd.testing.assert_frame_equal(
        paid_customers.drop(columns="clv"), free_customers.drop(columns="clv"), check_exact=True
    )
    # what the contacts cost (a promotion's discounts are the same in both runs)
    contacts = paid_firms.policy_cost - free_firms.policy_cost
    assert contacts.sum() > 0
    if not gives_discounts(name):
        assert (free_firms.policy_cost == 0).all()
    np.testing.assert_allclose(paid_firms.serve_cost, free_firms.serve_cost, atol=1e-3)
    np.testing.assert_allclose(free_firms.profit - paid_firms.profit, contacts, atol=1e-3)
    np.testing.assert_allclose(
        free_firms.discounted_profit - paid_firms.discounted_profit,
        paid_firms.discounted_policy_cost - free_firms.discounted_policy_cost,
        atol=1e-3,
    )


TARGETING = frozenset(("cost_per_contact", "window", "top_share", "from_market", "from_rivals"))
"""Parameters that say whom a policy reaches and at what cost, not how strongly it acts."""


@pytest.mark.parametrize("name", NAMES)
def test_a_policy_without_effect_leaves_the_market_as_it_was(name):
    """Every effect parameter at its lower bound and a budget that binds: the policy still
    chooses whom to touch (at random, from its own stream), pays for it and writes
    neutral effects, and the market is the one without the policy except for the money.
    Common random numbers: the policy's draws do not shift anybody else's."""
    cost = paid_cost(name)
    weakest = {
        key: spec.low for key, spec in POLICIES[name].parameters.items() if key not in TARGETING
    }
    seed = 2
    model = run([{"name": name, "cost_per_contact": cost, "budget": 3 * cost, **weakest}], seed)
    policy = model.policy_frame()
    assert policy.touched.sum() > 0
    assert policy.budget_exhausted.any()
    assert (policy.won_back == 0).all()
    firms, customers, _ = baseline(seed)
    same = [c for c in firms.columns if c not in MONEY_COLUMNS]
    pd.testing.assert_frame_equal(model.firm_frame()[same], firms[same], check_exact=True)
    pd.testing.assert_frame_equal(
        model.customers_frame().drop(columns="clv"), customers.drop(columns="clv"), check_exact=True
    )
    np.testing.assert_allclose(
        firms.profit - model.firm_frame().profit, model.firm_frame().policy_cost, atol=1e-3
    )
    np.testing.assert_allclose(
        firms.discounted_profit - model.firm_frame().discounted_profit,
        model.firm_frame().discounted_policy_cost,
        atol=1e-3,
    )


@pytest.mark.parametrize("override", ["default", "other"])
@pytest.mark.parametrize("name", NAMES)
def test_every_firm_keeps_its_customer_stock_and_flows_consistent(name, override):
    """customers[t] = customers[t-1] + acquisitions[t] - defections[t] for every firm."""
    spec = {"name": name}
    if override == "other":
        spec["stages"] = [STAGE_NAMES[stage] for stage in other_stages(name)]
    model = run([spec], 8)
    assert model.policy_frame().touched.sum() > 0
    for firm in ("A", "B", "C"):
        frame = model.firm_frame()
        rows = frame[frame.firm == firm].sort_values("period")
        change = np.diff(rows.customers.to_numpy())
        flows = (rows.acquisitions - rows.defections).to_numpy()[1:]
        np.testing.assert_array_equal(change, flows, err_msg=firm)


@pytest.mark.parametrize("name", NAMES)
def test_a_stage_override_narrows_whom_it_touches(name):
    stages = other_stages(name)
    model = CRMModel(market([{"name": name, "stages": [STAGE_NAMES[s] for s in stages]}]), rng=9)
    contacts = record_contacts(model)
    model.run()
    assert model.policy_frame().touched.sum() > 0
    assert contacts
    owner = "last_firm" if targets_former_customers(name) else "firm_of"
    for contact in contacts:
        assert np.isin(contact.stage[contact.touched], stages).all()
        assert (getattr(contact, owner)[contact.touched] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_segment_target_touches_only_that_segment(name):
    segment = 0  # mainstream: the largest segment, so every policy finds some
    everyone = run([{"name": name}], 10).policy_frame()
    model = CRMModel(market([{"name": name, "segment": "mainstream"}]), rng=10)
    contacts = record_contacts(model)
    model.run()
    frame = model.policy_frame()
    assert frame.touched.sum() > 0
    assert frame.eligible.sum() < everyone.eligible.sum()
    for contact in contacts:
        assert (contact.segment[contact.touched] == segment).all()


@pytest.mark.parametrize("name", NAMES)
def test_policy_frame_has_one_row_per_period_and_policy(name):
    model = run([{"name": name}, {"name": name, "budget": 0.0}], 11, policies_b=[{"name": name}])
    frame = model.policy_frame()
    periods = model.config.simulation.periods
    assert list(frame.columns) == [
        "period",
        "firm",
        "policy",
        "eligible",
        "touched",
        "spend",
        "budget_exhausted",
        "recovered",
        "won_back",
        "won_back_rival",
    ]
    assert len(frame) == 3 * periods
    assert frame.groupby("period").size().eq(3).all()
    assert sorted(frame.period.unique()) == list(range(1, periods + 1))
    assert set(frame.policy) == {name}
    assert (frame.firm.value_counts() == pd.Series({"A": 2 * periods, "B": periods})).all()
    assert (frame.touched <= frame.eligible).all()
    assert (frame.recovered <= frame.touched).all()
    assert (frame.won_back <= frame.touched).all()
    assert (frame.won_back_rival == 0).all()  # win-back reaches rivals' customers only if told
    if not targets_former_customers(name):
        assert (frame.won_back == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_seeded_runs_repeat_exactly(name):
    specs = [{"name": name, "budget": 3 * paid_cost(name), "cost_per_contact": paid_cost(name)}]
    first, second = run(specs, 12), run(specs, 12)
    pd.testing.assert_frame_equal(first.firm_frame(), second.firm_frame(), check_exact=True)
    pd.testing.assert_frame_equal(
        first.customers_frame(), second.customers_frame(), check_exact=True
    )
    pd.testing.assert_frame_equal(first.policy_frame(), second.policy_frame(), check_exact=True)
    other = run(specs, 13)
    assert not first.firm_frame().equals(other.firm_frame())


def test_customers_without_a_firm_have_no_firm_code():
    """The owner check above relies on exited customers having no current firm."""
    population = sample_population()
    exited = population.stage == Stage.EXITED
    assert exited.any()
    assert (population.firm[exited] == NO_FIRM).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_campaign_runs_in_its_periods_only(name):
    """``start``/``end``: the policy runs in periods 5-9 only; before them the market is
    the one without the policy, to the bit (the policy's own random stream)."""
    campaign = run([{"name": name, "start": 5, "end": 9}], 8)
    plain = run([], 8)
    frame = campaign.policy_frame()
    assert sorted(frame.period.unique()) == [5, 6, 7, 8, 9]
    before = campaign.firm_frame().period < 5
    pd.testing.assert_frame_equal(
        campaign.firm_frame()[before], plain.firm_frame()[before], check_exact=True
    )
    after = campaign.firm_frame()
    assert (after[after.period > 9].policy_cost == 0).all()


def test_a_campaign_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="end: must be >= start"):
        PolicyConfig(name="onboarding", start=6, end=5)
