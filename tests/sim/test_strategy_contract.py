"""One contract over every registered strategy, plus scripted behaviour tables.

The contract is parametrized over ``sim.strategies.STRATEGIES`` itself, so a
fourth strategy is checked the moment it is registered. The behaviour tables
pin what each strategy's ``decide`` does, with the firm parameters set in the
test (not the calibrated defaults). The trait ordering is MODEL.md section 4.
"""

import dataclasses
import itertools
import math
import pickle

import pandas as pd
import pytest

from sim import STRATEGIES, CRMModel, FirmConfig, Strategy, default_config, get_strategy
from sim.strategies import Actions, FirmObservation, Zipper

NAMES = list(STRATEGIES)

OBSERVATIONS = [
    FirmObservation(customers=customers, lost=lost, mean_trust=trust, mean_misfit=misfit)
    for customers, lost, trust, misfit in itertools.product(
        (0, 1, 100, 10_000), (0, 1, 50, 100), (0.0, 0.35, 0.7, 1.0), (0.0, 0.3, 1.0, 5.0)
    )
    if lost <= max(customers, 1)
]
"""A grid of what a firm can observe (misfit can reach personalization_weight, at most 5)."""

EMPTY_FIRM = FirmObservation(customers=0, lost=0, mean_trust=math.nan, mean_misfit=math.nan)
"""What the ledger reports for a firm without customers: means over no one are NaN."""


def firm_params(name, **overrides):
    return FirmConfig(name="F", strategy=name, **overrides)


def extreme_params(name):
    """Valid firm parameters at the edges of their ranges."""
    for acquisition_rate, responsiveness, adaptation in itertools.product(
        (0.0, 0.5, 1.0), (0.0, 10.0, 100.0), (0.0, 1.0)
    ):
        yield firm_params(
            name,
            acquisition_rate=acquisition_rate,
            responsiveness=responsiveness,
            adaptation=adaptation,
        )


def assert_valid_actions(actions):
    assert isinstance(actions, Actions)
    assert 0.0 <= actions.acquisition_rate <= 1.0
    assert actions.relationship_effort >= 0.0
    assert math.isfinite(actions.relationship_effort)
    assert 0.0 <= actions.adaptation <= 1.0


def three_firm_config(name, periods=12, customers=600):
    return default_config(
        firms=[{"name": f"{name}-{i}", "strategy": name} for i in range(3)],
        simulation={"customers": customers, "periods": periods},
    )


@pytest.mark.parametrize("name", NAMES)
class TestStrategyContract:
    def test_registry_entry_constructs_by_name(self, name):
        cls = STRATEGIES[name]
        assert issubclass(cls, Strategy)
        strategy = get_strategy(name)
        assert type(strategy) is cls
        assert strategy.name == name
        assert cls.__doc__ and cls.__doc__.strip()

    def test_has_a_summary_and_traits_that_are_firm_fields(self, name):
        cls = STRATEGIES[name]
        assert isinstance(cls.summary, str)
        assert cls.summary.strip()
        assert cls.traits
        assert set(cls.traits) <= set(FirmConfig.model_fields)
        assert {"name", "strategy"}.isdisjoint(cls.traits)

    def test_traits_fill_every_required_firm_field(self, name):
        required = {
            field
            for field, info in FirmConfig.model_fields.items()
            if info.is_required() and field != "name"
        }
        assert required <= set(STRATEGIES[name].traits)
        firm = FirmConfig(name="F", strategy=name)  # the traits themselves validate
        for trait, value in STRATEGIES[name].traits.items():
            assert getattr(firm, trait) == value

    def test_decide_returns_valid_actions_for_default_params(self, name):
        strategy, params = get_strategy(name), firm_params(name)
        for observation in OBSERVATIONS:
            assert_valid_actions(strategy.decide(params, observation))

    def test_decide_returns_valid_actions_for_extreme_valid_params(self, name):
        strategy = get_strategy(name)
        for params in extreme_params(name):
            for observation in OBSERVATIONS:
                assert_valid_actions(strategy.decide(params, observation))

    def test_decide_handles_a_firm_without_customers(self, name):
        actions = get_strategy(name).decide(firm_params(name), EMPTY_FIRM)
        assert_valid_actions(actions)

    def test_a_firm_without_customers_keeps_its_configured_levers(self, name):
        """No customers, no evidence: the levers stay where the config put them."""
        params = firm_params(name)
        actions = get_strategy(name).decide(params, EMPTY_FIRM)
        assert actions.acquisition_rate == params.acquisition_rate
        assert actions.relationship_effort == 1.0
        assert actions.adaptation == params.adaptation

    def test_decide_is_a_function_of_its_inputs(self, name):
        """No hidden state: repeated calls and fresh instances agree (nothing to reset)."""
        strategy = get_strategy(name)
        params = firm_params(name)
        first = [strategy.decide(params, o) for o in OBSERVATIONS]
        again = [strategy.decide(params, o) for o in reversed(OBSERVATIONS)][::-1]
        fresh = [get_strategy(name).decide(params, o) for o in OBSERVATIONS]
        assert first == again == fresh

    def test_pickles(self, name):
        strategy = get_strategy(name)
        clone = pickle.loads(pickle.dumps(strategy))
        assert type(clone) is type(strategy)
        params = firm_params(name)
        for observation in OBSERVATIONS[::7]:
            assert clone.decide(params, observation) == strategy.decide(params, observation)
        actions = strategy.decide(params, OBSERVATIONS[-1])
        assert pickle.loads(pickle.dumps(actions)) == actions
        assert pickle.loads(pickle.dumps(OBSERVATIONS[-1])) == OBSERVATIONS[-1]

    def test_seeded_run_with_three_firms_is_reproducible(self, name):
        config = three_firm_config(name)
        first = CRMModel(config, rng=7).run()
        frame = first.firm_frame()
        assert len(frame) == (config.simulation.periods + 1) * 3
        assert set(frame.strategy) == {name}
        assert frame.customers.sum() > 0
        assert frame.acquisition_rate.between(0.0, 1.0).all()
        assert (frame.relationship_effort >= 0.0).all()
        assert frame.adaptation.between(0.0, 1.0).all()
        second = CRMModel(config, rng=7).run()
        pd.testing.assert_frame_equal(frame, second.firm_frame(), check_exact=True)
        pd.testing.assert_frame_equal(
            first.customers_frame(), second.customers_frame(), check_exact=True
        )

    def test_model_with_this_strategy_pickles(self, name):
        model = CRMModel(three_firm_config(name, periods=3, customers=200), rng=1).run()
        strategies = [pickle.loads(pickle.dumps(firm.strategy)) for firm in model.firms]
        assert [s.name for s in strategies] == [name] * 3


def test_get_strategy_rejects_unknown_names_listing_the_valid_ones():
    with pytest.raises(ValueError, match="'nope'") as excinfo:
        get_strategy("nope")
    for name in STRATEGIES:
        assert name in str(excinfo.value)


def test_registry_keys_are_the_strategy_names():
    assert all(cls.name == key for key, cls in STRATEGIES.items())
    assert len({cls.name for cls in STRATEGIES.values()}) == len(STRATEGIES)


# ---------------------------------------------------------------------------
# Scripted behaviour tables
# ---------------------------------------------------------------------------

CLASP_TABLE = [
    # customers, lost -> acquisition rate, with acquisition_rate 0.01 and responsiveness 4
    (100, 0, 0.01),
    (0, 0, 0.01),
    (100, 10, 0.014),
    (100, 50, 0.03),
    (200, 50, 0.02),
    (0, 1, 0.05),  # a loss from an emptied firm counts against at least one customer
]


@pytest.mark.parametrize(("customers", "lost", "expected"), CLASP_TABLE)
def test_clasp_buys_back_its_losses(customers, lost, expected):
    params = firm_params("clasp", acquisition_rate=0.01, responsiveness=4.0)
    actions = get_strategy("clasp").decide(
        params, FirmObservation(customers=customers, lost=lost, mean_trust=0.5, mean_misfit=0.3)
    )
    assert actions.acquisition_rate == pytest.approx(expected)
    assert actions.relationship_effort == 1.0
    assert actions.adaptation == params.adaptation


def test_clasp_rate_rises_with_losses():
    params = firm_params("clasp", acquisition_rate=0.01, responsiveness=4.0)
    rates = [
        get_strategy("clasp").decide(params, FirmObservation(100, lost, 0.5, 0.3)).acquisition_rate
        for lost in (0, 1, 5, 20, 80)
    ]
    assert rates == sorted(rates)
    assert rates[0] < rates[-1]


ZIPPER_TARGET = Zipper.trust_target


@pytest.mark.parametrize(
    ("trust", "expected_effort"),
    [
        (0.0, 1.0 + 2.0 * ZIPPER_TARGET),
        (ZIPPER_TARGET - 0.2, 1.4),
        (ZIPPER_TARGET - 0.01, 1.02),
        (ZIPPER_TARGET, 1.0),
        (ZIPPER_TARGET + 0.01, 1.0),
        (1.0, 1.0),
    ],
)
def test_zipper_invests_when_trust_lags_its_target(trust, expected_effort):
    params = firm_params("zipper", responsiveness=2.0)
    actions = get_strategy("zipper").decide(
        params, FirmObservation(customers=100, lost=5, mean_trust=trust, mean_misfit=0.3)
    )
    assert actions.relationship_effort == pytest.approx(expected_effort)
    assert actions.acquisition_rate == params.acquisition_rate
    assert actions.adaptation == params.adaptation


def test_zipper_target_is_the_documented_one():
    assert abs(ZIPPER_TARGET - 0.7) < 1e-12


@pytest.mark.parametrize(
    ("misfit", "expected_adaptation"),
    [
        # adaptation 0.6, responsiveness 0.5: a' = 0.6 + min(1, 0.5 m) * 0.4
        (0.0, 0.6),
        (0.2, 0.64),
        (1.0, 0.8),
        (2.0, 1.0),
        (5.0, 1.0),
    ],
)
def test_velcro_stretches_adaptation_with_misfit(misfit, expected_adaptation):
    params = firm_params("velcro", adaptation=0.6, responsiveness=0.5)
    actions = get_strategy("velcro").decide(
        params, FirmObservation(customers=100, lost=5, mean_trust=0.5, mean_misfit=misfit)
    )
    assert actions.adaptation == pytest.approx(expected_adaptation)
    assert actions.relationship_effort == 1.0
    assert actions.acquisition_rate == params.acquisition_rate


def test_velcro_adaptation_rises_with_misfit():
    params = firm_params("velcro")
    adaptations = [
        get_strategy("velcro").decide(params, FirmObservation(100, 0, 0.5, m)).adaptation
        for m in (0.0, 0.1, 0.3, 0.6, 1.0)
    ]
    assert adaptations == sorted(adaptations)
    assert adaptations[0] == params.adaptation
    assert adaptations[-1] > adaptations[0]


# ---------------------------------------------------------------------------
# Trait ordering (MODEL.md section 4)
# ---------------------------------------------------------------------------


def trait(name, key):
    return STRATEGIES[name].traits[key]


def test_zipper_builds_trust_fastest_and_clasp_slowest():
    assert (
        trait("clasp", "trust_build")
        < trait("velcro", "trust_build")
        < trait("zipper", "trust_build")
    )


def test_zipper_builds_switching_cost_fastest_and_clasp_slowest():
    assert (
        trait("clasp", "switching_cost_build")
        < trait("velcro", "switching_cost_build")
        < trait("zipper", "switching_cost_build")
    )


def test_zipper_costs_most_to_serve_and_clasp_least():
    assert trait("zipper", "serve_cost") > trait("velcro", "serve_cost")
    assert trait("clasp", "serve_cost") < trait("velcro", "serve_cost")


def test_velcro_adapts_most_and_clasp_least():
    assert (
        trait("clasp", "adaptation") < trait("zipper", "adaptation") < trait("velcro", "adaptation")
    )


def test_zipper_has_the_largest_relational_benefit():
    assert trait("zipper", "relational_benefit") > max(
        trait("clasp", "relational_benefit"), trait("velcro", "relational_benefit")
    )


def test_clasp_experience_is_the_least_consistent():
    assert trait("clasp", "experience_noise") > max(
        trait("zipper", "experience_noise"), trait("velcro", "experience_noise")
    )


def test_actions_are_frozen():
    actions = Actions(0.1, 1.0, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        actions.adaptation = 0.9
