"""The rules' scalar path: math on Python numbers, the same values as numpy on arrays.

The helpers of sim/rules.py take a plain-Python path (``math``, conditional
expressions) on Python numbers and numpy's on arrays. These properties pin
that the two give the same values (bit for bit where no transcendental
function is involved; to rounding where ``math`` and numpy may round one
differently), that a call on Python floats returns Python numbers, so a
per-agent model never holds numpy values, and that no numpy function runs on
that path.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import rules, stages
from sim.stages import Stage

SETTINGS = settings(max_examples=200, deadline=None)

any_float = st.floats(width=64)  # nan, infinities and signed zeros included
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
unit = st.floats(0.0, 1.0)
value_like = st.floats(-1.0, 2.0)
positive = st.floats(0.01, 1.0)
ROUNDING = dict(rel=1e-13, abs=1e-15)  # math and numpy may round transcendentals differently


def one(x):
    return np.array([x])


def bits(x) -> bytes:
    return np.float64(x).tobytes()


def identical(scalar, array) -> bool:
    """Same float64, bit for bit (any nan is the same nan)."""
    a = array[0]
    return bits(scalar) == bits(a) or (math.isnan(scalar) and math.isnan(a))


def close(scalar, array) -> bool:
    a = float(array[0])
    if math.isnan(scalar) or math.isnan(a):
        return math.isnan(scalar) and math.isnan(a)
    return scalar == pytest.approx(a, **ROUNDING)


# ---------------------------------------------------------------------------
# Helpers: same values on a Python float and a one-element array
# ---------------------------------------------------------------------------


@SETTINGS
@given(st.booleans(), any_float, any_float)
def test_select(condition, if_true, otherwise):
    scalar = rules.select(condition, if_true, otherwise)
    assert type(scalar) is float
    assert identical(scalar, rules.select(one(condition), one(if_true), one(otherwise)))


@SETTINGS
@given(any_float, any_float, any_float)
def test_clip(x, low, high):
    scalar = rules.clip(x, low, high)
    assert type(scalar) is float
    assert identical(scalar, rules.clip(one(x), low, high))


@SETTINGS
@given(any_float, any_float)
def test_minimum_and_maximum(a, b):
    for helper in (rules.minimum, rules.maximum):
        scalar = helper(a, b)
        assert type(scalar) is float
        assert identical(scalar, helper(one(a), one(b)))


@SETTINGS
@given(st.lists(finite, min_size=1, max_size=8), st.data())
def test_take_and_column(table, data):
    index = data.draw(st.integers(0, len(table) - 1))
    scalar = rules.take(table, index)
    assert type(scalar) is float
    assert identical(scalar, rules.take(np.array(table), one(index)))
    scalar = rules.column(table, index)  # one customer's row
    assert type(scalar) is float
    assert identical(scalar, rules.column(np.array([table]), index))
    assert identical(rules.column(tuple(table), index), rules.column(np.array([table]), index))


@SETTINGS
@given(any_float)
def test_logistic(x):
    scalar = rules.logistic(x)
    assert type(scalar) is float
    assert close(scalar, rules.logistic(one(x)))
    assert math.isnan(x) or 0.0 <= scalar <= 1.0


@SETTINGS
@given(any_float)
def test_exp_and_log(x):
    with np.errstate(all="ignore"):  # overflow, log of zero or of a negative number
        for helper in (rules.exp, rules.log):
            scalar = helper(x)
            assert type(scalar) is float
            assert close(scalar, helper(one(x)))


@SETTINGS
@given(st.floats(-10.0, 10.0), st.floats(-400.0, 400.0) | st.integers(-3, 3).map(float))
def test_power(x, a):
    with np.errstate(all="ignore"):  # a negative base to a fractional power, 0 ** -a, overflow
        scalar = rules.power(x, a)
        assert type(scalar) is float
        assert close(scalar, rules.power(one(x), a))


@SETTINGS
@given(st.booleans(), unit, finite)
def test_gated_logistic(condition, scale, x):
    scalar = rules.gated_logistic(condition, scale, x)
    assert type(scalar) is float
    assert close(scalar, rules.gated_logistic(one(condition), scale, one(x)))


def test_helpers_keep_array_semantics():
    # arrays, lists of customers and float32 go to numpy, whole arrays at once
    assert rules.select(np.array([True, False]), 1.0, 2.0).tolist() == [1.0, 2.0]
    assert rules.clip([-1.0, 0.5, 2.0], 0.0, 1.0).tolist() == [0.0, 0.5, 1.0]
    assert rules.take(np.array([0.1, 0.2, 0.3]), np.array([2, 0], dtype=np.int8)).tolist() == [
        0.3,
        0.1,
    ]
    assert rules.column([[1.0, 2.0], [3.0, 4.0]], 1).tolist() == [2.0, 4.0]
    assert rules.exp(np.float32(1.0)).dtype == np.float32
    assert rules.maximum(np.array([1, 5]), 3).tolist() == [3, 5]


# ---------------------------------------------------------------------------
# Rules: a sample, on one customer's Python floats and as one-element arrays
# ---------------------------------------------------------------------------


@SETTINGS
@given(
    unit,
    unit,
    unit,
    unit,
    unit,
    unit,
    value_like,
    unit,
    unit,
    unit,
    st.floats(0.0, 60.0),
    st.floats(1.0, 24.0),
    st.floats(-0.5, 0.5),
)
def test_value_and_experience_rules(
    quality,
    digital,
    need,
    personalization,
    adaptation,
    sensitivity,
    expectation,
    trust,
    cost,
    reputation,
    tenure,
    tau,
    shock,
):
    growth = rules.relational_growth(tenure, tau)
    value_kwargs = dict(
        quality=quality,
        digital_quality=digital,
        digital_weight=0.3,
        need_distance=need,
        personalization_need=personalization,
        personalization_weight=0.4,
        adaptation=rules.rival_adaptation(adaptation, 0.6, 0.5),
        price=1.1,
        price_sensitivity=sensitivity,
        price_weight=0.5,
        relational_benefit=0.2,
        growth=growth,
        involvement=0.7,
        shock=shock,
    )
    value = rules.perceived_value(**value_kwargs)
    target = rules.satisfaction_target(value, expectation, at_confirmation=0.6, sensitivity=8.0)
    scalars = {
        "growth": growth,
        "value": value,
        "target": target,
        "expectation": rules.update_expectation(expectation, value, 0.5, 0.3, 0.1, 0.6, 0.002),
        "trust": rules.update_trust(trust, target, reputation, 0.1, 0.3, 0.2),
        "cost": rules.update_switching_cost(
            cost, rules.switching_cost_build(0.2, 0.7, 0.0), 0.05, 0.02
        ),
        "utility": rules.satisfaction_utility(target, 2.0),
    }
    arrays = {
        "growth": rules.relational_growth(one(tenure), tau),
        "value": rules.perceived_value(**{k: one(v) for k, v in value_kwargs.items()}),
        "target": rules.satisfaction_target(one(value), one(expectation), 0.6, 8.0),
        "expectation": rules.update_expectation(
            one(expectation), one(value), one(0.5), 0.3, 0.1, 0.6, 0.002
        ),
        "trust": rules.update_trust(one(trust), one(target), reputation, 0.1, 0.3, 0.2),
        "cost": rules.update_switching_cost(
            one(cost), rules.switching_cost_build(0.2, one(0.7), 0.0), 0.05, 0.02
        ),
        "utility": rules.satisfaction_utility(one(target), 2.0),
    }
    for name, scalar in scalars.items():
        assert type(scalar) is float, name
        assert close(scalar, arrays[name]), name


@SETTINGS
@given(
    value_like,
    st.floats(-1.0, 1.0),
    unit,
    unit,
    unit,
    st.sampled_from(
        [int(s) for s in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)]
    ),
)
def test_loyalty_and_defection_rules(value, gain, utility, trust, cost, stage):
    weights = [[0.4, 0.3, 0.2, 0.1]] * len(Stage)
    loyalty = rules.loyalty_drive(value, utility, trust, cost, weights[stage])
    assert type(loyalty) is float
    assert close(
        loyalty,
        rules.loyalty_drive(
            one(value), one(utility), one(trust), one(cost), np.array(weights)[[stage]]
        ),
    )
    p = rules.defection_probability(gain, cost, trust, 0.7, 0.05, 0.5, 0.3, 0.1)
    assert type(p) is float
    assert close(
        p, rules.defection_probability(one(gain), one(cost), one(trust), 0.7, 0.05, 0.5, 0.3, 0.1)
    )
    chance = rules.search_chance(0.3, 1.0 + cost)
    assert type(chance) is float and close(chance, rules.search_chance(0.3, one(1.0 + cost)))
    rival = rules.goes_to_rival(value, cost, 0.5, 0.1)
    assert type(rival) is bool and rival == rules.goes_to_rival(one(value), cost, 0.5, 0.1)[0]


@SETTINGS
@given(unit, st.floats(0.0, rules.MAX_PURCHASE_RATE), st.integers(0, 50), st.integers(0, 500))
def test_money_and_word_of_mouth_rules(uniform, rate, detractors, customers):
    bought = rules.occasions(uniform, rate)
    assert type(bought) is float and bought == rules.occasions(one(uniform), one(rate))[0]
    factor = rules.word_of_mouth_factor(detractors, customers, 2.0)
    assert type(factor) is float
    assert close(factor, rules.word_of_mouth_factor(one(detractors), one(customers), 2.0))


ADVANCE_THRESHOLD = [1.0, 0.55, 0.65, 1.0, 1.0, 1.0]
MIN_STAGE_AGE = [0, 2, 4, 0, 0, 0]


@SETTINGS
@given(
    st.sampled_from([int(s) for s in Stage]),
    st.integers(0, 20),
    unit,
    unit,
    unit,
    st.sampled_from([int(s) for s in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY)]),
)
def test_stage_rules(stage, age, loyalty, cost, uniform, before):
    parameters = dict(
        decline_threshold=0.35,
        recovery_threshold=0.5,
        steepness=12.0,
        advance_rate=0.4,
        decline_rate=0.3,
        recovery_rate=0.3,
        exit_rate=0.25,
        repair_window=3.0,
        switching_cost_buffer=0.5,
        overdue_exit_multiplier=2.0,
    )
    scalar = stages.transition_probabilities(
        stage,
        age,
        loyalty,
        cost,
        advance_threshold=ADVANCE_THRESHOLD,
        min_stage_age=MIN_STAGE_AGE,
        **parameters,
    )
    arrays = stages.transition_probabilities(
        np.array([stage], dtype=np.int8),
        one(age),
        one(loyalty),
        one(cost),
        advance_threshold=np.array(ADVANCE_THRESHOLD),
        min_stage_age=np.array(MIN_STAGE_AGE),
        **parameters,
    )
    for p, p_array in zip(scalar, arrays, strict=True):
        assert type(p) is float
        assert close(p, p_array)
    new = stages.next_stage(stage, before, uniform, *scalar)
    assert type(new) is int
    assert (
        new
        == stages.next_stage(
            np.array([stage], dtype=np.int8),
            np.array([before], dtype=np.int8),
            one(uniform),
            *arrays,
        )[0]
    )
    assert type(stages.is_active(stage)) is bool


class NoNumpy:
    """Stands in for the ``np`` of sim.rules and sim.stages: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"np.{name} used on the scalar path")


def test_scalar_path_calls_no_numpy_function(monkeypatch):
    monkeypatch.setattr(rules, "np", NoNumpy())
    monkeypatch.setattr(stages, "np", NoNumpy())
    value = rules.perceived_value(
        0.7,
        0.6,
        0.3,
        0.4,
        0.5,
        0.4,
        rules.rival_adaptation(0.2, 0.6, 0.5),
        1.1,
        0.5,
        0.5,
        0.2,
        rules.relational_growth(3, 12.0),
        0.7,
        0.01,
    )
    value += rules.offer_fit(0.2, 0.5, rules.taste(0.3))
    target = rules.satisfaction_target(value, 0.5, 0.6, 8.0)
    trust = rules.update_trust(0.5, target, 0.6, 0.1, 0.3, 0.2)
    cost = rules.update_switching_cost(0.2, rules.switching_cost_build(0.2, 0.7, 0.0), 0.05, 0.02)
    rules.update_expectation(0.5, value, 0.5, 0.3, 0.1, 0.6, 0.002)
    loyalty = rules.loyalty_drive(
        value, rules.satisfaction_utility(target, 2.0), trust, cost, [0.4, 0.3, 0.2, 0.1]
    )
    rules.revenue(rules.occasions(0.4, rules.occasion_rate(2.5, 0.8)), 10.0, 1.1, 0.7)
    rules.defection_probability(
        0.1, cost, trust, rules.search_chance(0.3, 1.2), 0.05, 0.5, 0.3, 0.1
    )
    rules.goes_to_rival(0.6, cost, 0.5, 0.1)
    rules.word_of_mouth_factor(3, 120, 2.0)
    for stage in (int(s) for s in Stage):
        probabilities = stages.transition_probabilities(
            stage,
            5,
            loyalty,
            cost,
            ADVANCE_THRESHOLD,
            0.35,
            0.5,
            12.0,
            0.4,
            0.3,
            0.3,
            MIN_STAGE_AGE,
            0.25,
            3.0,
            0.5,
            2.0,
        )
        stages.next_stage(stage, int(Stage.FORMATION), 0.5, *probabilities)
