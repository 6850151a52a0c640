"""The rules give the same answers on numpy arrays and compiled for scalars in the kernel.

The engine's kernel (sim.kernel) calls the rule functions of sim.rules and
sim.stages compiled by numba; these properties pin that the compiled scalar
versions compute what the numpy versions compute, so tests of the rules are
tests of the engine.
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import compiled, kernel, rules, stages
from sim.stages import Stage

unit = st.floats(0.0, 1.0)
rate = st.floats(0.0, 1.0)
stage_code = st.sampled_from([int(s) for s in Stage])

ADVANCE_THRESHOLD = np.array([1.0, 0.55, 0.65, 1.0, 1.0, 1.0], dtype=np.float32)
MIN_STAGE_AGE = np.array([0, 2, 4, 0, 0, 0], dtype=np.int16)
TIGHT = dict(rtol=1e-12, atol=1e-12)


def one(x):
    return np.array([x])


@settings(max_examples=200, deadline=None)
@given(unit, unit, unit, rate, rate, st.floats(0.0, 1.0))
def test_trust_expectation_and_switching_cost_agree(
    trust, satisfaction, reputation, build, brk, weight
):
    arrays = rules.update_trust(
        one(trust),
        one(satisfaction),
        reputation,
        build_rate=build,
        break_rate=brk,
        reputation_weight=weight,
    )
    scalar = kernel.update_trust(
        trust, satisfaction, reputation, build_rate=build, break_rate=brk, reputation_weight=weight
    )
    assert np.isclose(arrays[0], scalar, **TIGHT)
    expectation = dict(adapt_up=build, adapt_down=brk, anchor=weight, drift=0.01)
    arrays = rules.update_expectation(one(trust), one(satisfaction), one(reputation), **expectation)
    assert np.isclose(
        arrays[0],
        kernel.update_expectation(trust, satisfaction, reputation, **expectation),
        **TIGHT,
    )
    arrays = rules.update_switching_cost(one(trust), build_rate=build, floor=0.05, decay=brk)
    assert np.isclose(
        arrays[0],
        kernel.update_switching_cost(trust, build_rate=build, floor=0.05, decay=brk),
        **TIGHT,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-2.0, 2.0),
    unit,
    st.floats(0.05, 0.95),
    st.floats(0.0, 30.0),
    unit,
    st.floats(1.0, 3.0),
)
def test_satisfaction_and_loyalty_agree(
    value, expectation, at_confirmation, sensitivity, satisfaction, convexity
):
    # the compiled logistic is 1 / (1 + exp(-x)), numpy's the tanh form: the same function
    arrays = rules.satisfaction_target(
        one(value), one(expectation), at_confirmation=at_confirmation, sensitivity=sensitivity
    )
    scalar = kernel.satisfaction_target(
        value, expectation, at_confirmation=at_confirmation, sensitivity=sensitivity
    )
    assert np.isclose(arrays[0], scalar, **TIGHT)
    utility = kernel.satisfaction_utility(satisfaction, convexity=convexity)
    assert np.isclose(
        rules.satisfaction_utility(one(satisfaction), convexity=convexity)[0], utility, **TIGHT
    )
    weights = np.array([0.3, 0.3, 0.2, 0.2])
    loyalty = kernel.loyalty_drive(value, utility, expectation, satisfaction, weights)
    assert np.isclose(
        rules.loyalty_drive(
            one(value), one(utility), one(expectation), one(satisfaction), weights[None, :]
        )[0],
        loyalty,
        **TIGHT,
    )


@settings(max_examples=200, deadline=None)
@given(st.floats(-1.0, 1.0), unit, unit, st.floats(0.0, 1.0), st.floats(0.01, 1.0))
def test_defection_probability_agrees(gain, cost, trust, hurdle, temperature):
    parameters = dict(
        search_probability=0.7,
        hurdle=hurdle,
        switching_cost_weight=0.5,
        trust_weight=0.3,
        temperature=temperature,
    )
    arrays = rules.defection_probability(one(gain), one(cost), one(trust), **parameters)
    assert np.isclose(
        arrays[0], kernel.defection_probability(gain, cost, trust, **parameters), **TIGHT
    )


@settings(max_examples=200, deadline=None)
@given(unit, unit, unit, st.floats(0.5, 1.5), unit, st.integers(0, 60), st.floats(-0.3, 0.3))
def test_perceived_value_agrees(quality, need, personalization, price, involvement, tenure, shock):
    parameters = dict(
        quality=quality,
        digital_quality=0.6,
        digital_weight=0.3,
        need_distance=need,
        personalization_need=personalization,
        personalization_weight=0.8,
        adaptation=0.4,
        price=price,
        price_sensitivity=0.5,
        price_weight=1.5,
        relational_benefit=0.2,
        growth=float(rules.relational_growth(tenure, 12.0)),
        involvement=involvement,
        shock=shock,
    )
    arrays = rules.perceived_value(**{k: one(v) for k, v in parameters.items()})
    assert np.isclose(arrays[0], kernel.perceived_value(**parameters), **TIGHT)
    assert np.isclose(
        rules.rival_adaptation(one(0.3), one(quality), 0.5)[0],
        kernel.rival_adaptation(0.3, quality, 0.5),
        **TIGHT,
    )


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 50.0), st.floats(0.1, 1.0), st.floats(0.0, 5.0))
def test_the_discount_given_agrees(list_sales, multiplier, allowance):
    given = kernel.discount_given(list_sales, multiplier, allowance)
    assert np.isclose(
        rules.discount_given(one(list_sales), multiplier, allowance)[0], given, **TIGHT
    )
    assert 0.0 <= given <= allowance and given <= (1.0 - multiplier) * list_sales + 1e-12


DRAW = st.floats(0.0, 1.0 - 2.0**-40)
"""A uniform as the engine draws it (sim.draws: in [0, 1)), short of the last 2**-40.

There the Poisson CDF is within rounding of 1, and the compiled exp (1-2 ulp,
sim.compiled) and numpy's can put the sum's last terms on either side of the
uniform: counts may differ for a draw within about 1e-15 of 1 (found by
hypothesis at u = 1.0, rate 1.89: 22 vs 24), a chance of about 1e-15 a draw.
"""


@settings(max_examples=200, deadline=None)
@given(
    DRAW,
    st.floats(0.0, rules.MAX_PURCHASE_RATE),
    unit,
    st.floats(0.0, 5.0),
    st.floats(0.5, 1.5),
    unit,
    unit,
    st.floats(0.0, 1.0),
)
def test_purchases_and_money_agree(
    uniform, rate, depth, spend, price, share, margin_rate, serve_cost
):
    expected = kernel.occasion_rate(rate, depth)
    assert np.isclose(rules.occasion_rate(one(rate), depth)[0], expected, **TIGHT)
    # a count: the compiled and numpy inversions must give the same integer
    count = kernel.occasions(uniform, expected)
    assert rules.occasions(one(uniform), one(expected))[0] == count
    sales = kernel.revenue(count, spend, price, share)
    assert np.isclose(rules.revenue(one(count), one(spend), price, share)[0], sales, **TIGHT)
    assert np.isclose(
        rules.margin(one(sales), margin_rate, serve_cost)[0],
        kernel.margin(sales, margin_rate, serve_cost),
        **TIGHT,
    )


@settings(max_examples=200, deadline=None)
@given(
    unit, unit, unit, st.floats(0.0, 20.0), st.floats(-1.0, 2.0), unit, unit, st.floats(-1.0, 2.0)
)
def test_fit_search_trust_and_destination_agree(
    spread, adaptation, uniform, propensity, best_value, cost, weight, outside
):
    taste = kernel.taste(uniform)
    assert np.isclose(rules.taste(one(uniform))[0], taste, **TIGHT)
    assert np.isclose(
        rules.offer_fit(spread, one(adaptation), one(taste))[0],
        kernel.offer_fit(spread, adaptation, taste),
        **TIGHT,
    )
    assert np.isclose(
        rules.search_chance(weight, one(propensity))[0],
        kernel.search_chance(weight, propensity),
        **TIGHT,
    )
    assert np.isclose(
        rules.switching_cost_build(one(spread), one(cost), weight)[0],
        kernel.switching_cost_build(spread, cost, weight),
        **TIGHT,
    )
    assert np.isclose(
        rules.initial_trust(spread, one(cost), weight)[0],
        kernel.initial_trust(spread, cost, weight),
        **TIGHT,
    )
    assert bool(rules.goes_to_rival(one(best_value), one(cost), weight, outside)[0]) == bool(
        kernel.goes_to_rival(best_value, cost, weight, outside)
    )


@settings(max_examples=300, deadline=None)
@given(stage_code, st.integers(0, 40), unit, unit, st.floats(0.0, 0.999), stage_code)
def test_stage_moves_agree(stage, stage_age, loyalty, switching_cost, uniform, before):
    parameters = dict(
        advance_threshold=ADVANCE_THRESHOLD,
        decline_threshold=0.4,
        recovery_threshold=0.5,
        steepness=12.0,
        advance_rate=0.3,
        decline_rate=0.2,
        recovery_rate=0.3,
        min_stage_age=MIN_STAGE_AGE,
        exit_rate=0.2,
        repair_window=4,
        switching_cost_buffer=0.5,
        overdue_exit_multiplier=2.0,
    )
    arrays = stages.transition_probabilities(
        np.array([stage], dtype=np.int8),
        np.array([stage_age], dtype=np.int16),
        one(loyalty),
        one(switching_cost),
        **parameters,
    )
    scalars = kernel.transition_probabilities(
        np.int8(stage), np.int16(stage_age), loyalty, switching_cost, **parameters
    )
    assert np.allclose([a[0] for a in arrays], scalars, **TIGHT)
    new_arrays = stages.next_stage(
        np.array([stage], dtype=np.int8), np.array([before], dtype=np.int8), one(uniform), *arrays
    )
    assert new_arrays.dtype == np.int8
    assert new_arrays[0] == kernel.next_stage(np.int8(stage), np.int8(before), uniform, *scalars)


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("stability_periods", [0, 23, 24, 60])
def test_trajectory_and_advocacy_agree(stage, stability_periods):
    code = np.int8(stage)
    assert stages.trajectory_type(np.array([code]), np.array([stability_periods]), 24)[0] == (
        kernel.trajectory_type(code, np.int16(stability_periods), 24)
    )
    for satisfaction in (0.5, 0.8, 0.95):
        assert stages.is_advocate(np.array([code]), np.array([satisfaction]), 0.8)[0] == (
            kernel.is_advocate(code, satisfaction, 0.8)
        )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.5, 500.0))
def test_relational_growth_agrees(tenure, tau):
    assert np.isclose(
        rules.relational_growth(float(tenure), tau), kernel.relational_growth(tenure, tau), **TIGHT
    )


@numba.njit
def _exp_and_log(x):
    out = np.empty((2, x.size))
    for i in range(x.size):
        out[0, i], out[1, i] = compiled.exp(x[i]), compiled.log(x[i])
    return out


def _ulps(got, expected):
    return np.abs(got - expected) / np.spacing(np.abs(expected))


def test_compiled_exp_and_log_are_within_units_in_the_last_place():
    # the kernel's own exp and log (sim.compiled) against numpy's, over their whole range
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            rng.uniform(-708.0, 709.0, 200_000),
            rng.uniform(-3.0, 3.0, 200_000),
            rng.uniform(-1e-8, 1e-8, 10_000),
        ]
    )
    assert _ulps(_exp_and_log(x)[0], np.exp(x)).max() <= 1.0
    y = np.concatenate(
        [
            rng.uniform(0.0, 1.0, 200_000),
            np.exp(rng.uniform(-700, 700, 200_000)),
            1.0 + rng.uniform(-1e-6, 1e-6, 10_000),
            [5e-324, 1e-310, 1.0],
        ]
    )
    assert _ulps(_exp_and_log(y)[1], np.log(y)).max() <= 2.0


def test_compiled_exp_and_log_keep_the_limits():
    special = np.array([0.0, -0.0, 710.0, -746.0, np.inf, -np.inf, np.nan, -1.0])
    with np.errstate(all="ignore"):
        expected = np.vstack([np.exp(special), np.log(special)])
    assert np.array_equal(_exp_and_log(special), expected, equal_nan=True)


@numba.njit
def _through_the_stack(table, index):
    copy = compiled.on_stack(table)
    return np.array([copy[k] for k in index])


def test_on_stack_copies_a_table():
    table = np.arange(101, dtype=np.float32) / 7
    index = np.array([0, 5, 100, 37])
    assert np.array_equal(_through_the_stack(table, index), table[index])
    with pytest.raises(ValueError, match="too large"):
        _through_the_stack(np.zeros(compiled.STACK_CAPACITY + 1, dtype=np.float32), index)


@numba.njit
def _looked_up(table, index):
    lookup = compiled.lookup_table(table, 4)
    return np.array([rules.take(lookup, k) for k in index])


def test_lookup_tables_take_the_same_entries_as_arrays():
    index = np.array([0, 3, 1, 2, 2, 0])
    flat = np.array([0.0, 0.3, -1.7, 2.5], dtype=np.float32)
    assert np.array_equal(_looked_up(flat, index), flat[index])  # on the stack
    row = flat.reshape(1, 4)  # a tuple of four: compares and blends
    assert np.array_equal(_looked_up(row, index), flat[index])
    assert _looked_up(row, index).dtype == np.float32
    # a tuple has no entry past its end: its first entry instead (no customer looks there)
    assert np.array_equal(_looked_up(row, np.array([4, -1])), flat[[0, 0]])
    # the same forms from Python
    assert compiled.lookup_table(row, 4) == tuple(flat)
    assert np.array_equal(compiled.lookup_table(flat, 4), flat)


def test_small_markets_pass_firm_tables_as_rows_and_large_ones_as_arrays():
    tables = {
        name: np.arange(1, 7, dtype=np.float32) for name in ("wallet_share", "advance_threshold")
    }
    tables["purchase_depth"] = np.arange(2, 8, dtype=np.float32)
    tables["min_stage_age"] = np.arange(6, dtype=np.int16)
    tables["loyalty_weights"] = np.arange(24, dtype=np.float32).reshape(6, 4)
    for slots in (2, 4, 5):
        firms = {name: np.arange(slots, dtype=np.float32) for name in kernel.SLOT_FIELDS}
        f = kernel.firm_slots(firms, kernel.stage_rows(tables))
        expected = (
            np.array([[0, 1, 0, 0]])
            if slots == 2
            else np.array([[0, 1, 2, 3]])
            if slots == 4
            else np.arange(slots)
        )
        assert np.array_equal(f.quality, expected) and f.quality.dtype == np.float32
        assert f.min_stage_age.shape == (1, 6) and f.min_stage_age.dtype == np.int16
        assert np.array_equal(f.trust_weight[0], tables["loyalty_weights"][:, 2])
        assert np.array_equal(f.purchase_depth[0], tables["purchase_depth"])


@numba.njit
def _growth(tenure, tau):
    return kernel.relational_growth(tenure, tau)


GROWTH_CAPACITY = kernel.GROWTH_CAPACITY  # a global: a constant to the compiler


@numba.njit
def _growth_looked_up(table, tenure, tau, slot):
    return kernel.growth_at(
        (compiled.on_stack(table, GROWTH_CAPACITY), np.uintp(table.shape[1])), tenure, tau, slot
    )


def test_growth_table_holds_the_compiled_rule_to_the_last_bit():
    tau = np.array([1.0, 6.0, 12.0, 24.0], dtype=np.float32)
    for t in (0, 40, 5000):
        table = kernel.growth_table(tau, t)
        assert table.shape[1] == (t + 2 if t < 900 else 917)  # tau 24: exactly 1 from 916 on
        for slot in range(tau.size):
            for tenure in (0, 1, 2, 7, 39, t, t + 1, 2000, 9999):
                expected = _growth(np.int16(tenure), tau[slot])
                if tenure <= t:  # the tenures the period can have: looked up exactly
                    looked_up = _growth_looked_up(table, np.int16(tenure), tau[slot], slot)
                    assert looked_up == expected
                    # from Python: the table's entry, or the numpy rule
                    flat = (table.ravel(), table.shape[1])
                    assert kernel.growth_at(flat, tenure, tau[slot], slot) == expected
                    assert kernel.growth_at(None, tenure, tau[slot], slot) == (
                        rules.relational_growth(tenure, tau[slot])
                    )
    assert (kernel.growth_table(tau, 5000)[:, -1] == 1.0).all()


def test_growth_table_too_large_to_hold_is_left_empty():
    many = np.full(101, 12.0, dtype=np.float32)  # a market of 100 firms
    assert kernel.growth_table(many, 38).shape == (101, 40)
    assert kernel.growth_table(many, 39).shape == (101, 0)  # 4,141 entries: computed instead
