"""Properties of the customer rules (sim/rules.py) and the stage rule (sim/stages.py).

Hypothesis draws the inputs over the ranges the config allows; every property
is a claim the docstrings or MODEL.md make (bounds, monotonicity, "trust builds
slowly and breaks fast", one move per period, the trajectory table) and fails
if the rule's form is changed in a way that breaks it.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import rules
from sim.config import RelationshipConfig
from sim.stages import (
    Stage,
    Trajectory,
    climbed_stage,
    is_active,
    next_stage,
    trajectory_type,
    transition_probabilities,
)

RULE_SETTINGS = settings(max_examples=100, deadline=None)  # no deadline: CI machines are shared


def floats(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


unit = floats(0.0, 1.0)
value_like = floats(-1.0, 2.0)  # perceived value is not clipped (rules.perceived_value)
at_confirmation = floats(0.01, 0.99)


def ordered_pair(elements):
    """Two draws from ``elements``, returned as (low, high)."""
    return st.tuples(elements, elements).map(sorted)


# ---------------------------------------------------------------------------
# Satisfaction, expectation, trust, switching cost: bounds
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(value=value_like, expectation=unit, s0=at_confirmation, k=floats(0.0, 15.0))
def test_satisfaction_target_is_strictly_between_zero_and_one(value, expectation, s0, k):
    target = rules.satisfaction_target(value, expectation, at_confirmation=s0, sensitivity=k)
    assert 0.0 < target < 1.0


@RULE_SETTINGS
@given(expectation=unit, s0=at_confirmation, k=floats(0.0, 15.0))
def test_confirmed_expectation_gives_the_confirmation_level(expectation, s0, k):
    target = rules.satisfaction_target(expectation, expectation, at_confirmation=s0, sensitivity=k)
    assert target == pytest.approx(s0, rel=1e-9)


@RULE_SETTINGS
@given(
    expectation=unit,
    value=value_like,
    reference=unit,
    up=unit,
    down=unit,
    anchor=unit,
    drift=floats(0.0, 0.05),
)
def test_update_expectation_stays_in_unit_interval(
    expectation, value, reference, up, down, anchor, drift
):
    new = rules.update_expectation(
        expectation, value, reference, adapt_up=up, adapt_down=down, anchor=anchor, drift=drift
    )
    assert 0.0 <= new <= 1.0


@RULE_SETTINGS
@given(trust=unit, satisfaction=unit, reputation=unit, build=unit, brk=unit, rho=unit)
def test_update_trust_stays_in_unit_interval(trust, satisfaction, reputation, build, brk, rho):
    new = rules.update_trust(
        trust, satisfaction, reputation, build_rate=build, break_rate=brk, reputation_weight=rho
    )
    assert 0.0 <= new <= 1.0


@RULE_SETTINGS
@given(trust=unit, satisfaction=unit, reputation=unit, build=unit, brk=unit, rho=unit)
def test_update_trust_moves_toward_its_target_without_overshooting(
    trust, satisfaction, reputation, build, brk, rho
):
    target = (1.0 - rho) * satisfaction + rho * reputation
    new = rules.update_trust(
        trust, satisfaction, reputation, build_rate=build, break_rate=brk, reputation_weight=rho
    )
    low, high = sorted((trust, target))
    assert low - 1e-12 <= new <= high + 1e-12


@RULE_SETTINGS
@given(floor=unit, data=st.data(), build=unit, decay=unit)
def test_update_switching_cost_stays_between_floor_and_one(floor, data, build, decay):
    cost = data.draw(floats(floor, 1.0), label="switching_cost")
    new = rules.update_switching_cost(cost, build_rate=build, floor=floor, decay=decay)
    assert floor - 1e-12 <= new <= 1.0 + 1e-12


@RULE_SETTINGS
@given(floor=floats(0.0, 0.9), build=floats(0.001, 1.0))
def test_switching_cost_builds_up_without_decay(floor, build):
    new = rules.update_switching_cost(floor, build_rate=build, floor=floor, decay=0.0)
    assert new > floor


def loyalty_weights():
    """Four non-negative weights summing to at most 1 (a fifth share is left out)."""
    return (
        st.lists(floats(0.0, 1.0), min_size=5, max_size=5)
        .filter(lambda w: sum(w) > 0)
        .map(lambda w: np.array(w[:4]) / sum(w))
    )


@RULE_SETTINGS
@given(weights=loyalty_weights(), value=value_like, utility=unit, trust=unit, cost=unit)
def test_loyalty_drive_in_unit_interval(weights, value, utility, trust, cost):
    loyalty = rules.loyalty_drive(value, utility, trust, cost, weights)
    assert -1e-12 <= loyalty <= 1.0 + 1e-12


@RULE_SETTINGS
@given(satisfaction=unit, convexity=floats(1.0, 10.0))
def test_satisfaction_utility_is_convex_power_in_unit_interval(satisfaction, convexity):
    utility = rules.satisfaction_utility(satisfaction, convexity=convexity)
    assert 0.0 <= utility <= satisfaction + 1e-12


# ---------------------------------------------------------------------------
# Defection
# ---------------------------------------------------------------------------

defection_parameters = st.fixed_dictionaries(
    {
        "search_probability": unit,
        "hurdle": floats(-1.0, 1.0),
        "switching_cost_weight": floats(0.0, 5.0),
        "trust_weight": floats(0.0, 5.0),
        "temperature": floats(0.02, 1.0),  # keeps exp() inside float range (see the xfail below)
    }
)
gain = floats(-2.0, 2.0)


@RULE_SETTINGS
@given(gain=gain, cost=unit, trust=unit, params=defection_parameters)
def test_defection_probability_between_zero_and_search_probability(gain, cost, trust, params):
    p = rules.defection_probability(gain, cost, trust, **params)
    assert 0.0 <= p <= params["search_probability"]


@RULE_SETTINGS
@given(gain=gain, costs=ordered_pair(unit), trust=unit, params=defection_parameters)
def test_more_switching_cost_never_raises_defection(gain, costs, trust, params):
    low, high = costs
    assert rules.defection_probability(gain, high, trust, **params) <= rules.defection_probability(
        gain, low, trust, **params
    )


@RULE_SETTINGS
@given(gain=gain, cost=unit, trusts=ordered_pair(unit), params=defection_parameters)
def test_more_trust_never_raises_defection(gain, cost, trusts, params):
    low, high = trusts
    assert rules.defection_probability(gain, cost, high, **params) <= rules.defection_probability(
        gain, cost, low, **params
    )


@RULE_SETTINGS
@given(gains=ordered_pair(gain), cost=unit, trust=unit, params=defection_parameters)
def test_larger_value_gain_never_lowers_defection(gains, cost, trust, params):
    low, high = gains
    assert rules.defection_probability(high, cost, trust, **params) >= rules.defection_probability(
        low, cost, trust, **params
    )


def test_satisfaction_does_not_enter_defection():
    """Seed 003: satisfied customers defect when a rival is clearly better."""
    p = rules.defection_probability(
        0.5,
        0.1,
        0.9,
        search_probability=1.0,
        hurdle=0.0,
        switching_cost_weight=0.5,
        trust_weight=0.1,
        temperature=0.05,
    )
    assert p > 0.9


def test_defection_probability_is_silent_at_a_prohibitive_barrier():
    # valid config: defection_switching_cost_weight is only bounded below (NonNegative)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = rules.defection_probability(
            np.array([-0.5, 0.0]),
            np.array([1.0, 1.0]),
            0.5,
            search_probability=1.0,
            hurdle=0.02,
            switching_cost_weight=100.0,
            trust_weight=0.1,
            temperature=0.05,
        )
    assert np.all(p == 0.0)


# ---------------------------------------------------------------------------
# Satisfaction: monotone in value
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(
    values=ordered_pair(value_like),
    expectation=unit,
    s0=at_confirmation,
    k=floats(0.0, 15.0),
    satisfaction=unit,
    rate=unit,
)
def test_more_value_never_lowers_satisfaction(values, expectation, s0, k, satisfaction, rate):
    low, high = values
    targets = [
        rules.satisfaction_target(v, expectation, at_confirmation=s0, sensitivity=k)
        for v in (low, high)
    ]
    assert targets[1] >= targets[0]
    updated = [rules.update_satisfaction(satisfaction, t, rate=rate) for t in targets]
    assert updated[1] >= updated[0]


@RULE_SETTINGS
@given(value=value_like, expectations=ordered_pair(unit), s0=at_confirmation, k=floats(0.0, 15.0))
def test_higher_expectation_never_raises_satisfaction(value, expectations, s0, k):
    low, high = expectations
    assert rules.satisfaction_target(
        value, high, at_confirmation=s0, sensitivity=k
    ) <= rules.satisfaction_target(value, low, at_confirmation=s0, sensitivity=k)


@RULE_SETTINGS
@given(satisfaction=unit, target=unit, rate=unit)
def test_update_satisfaction_moves_toward_target(satisfaction, target, rate):
    new = rules.update_satisfaction(satisfaction, target, rate=rate)
    low, high = sorted((satisfaction, target))
    assert low - 1e-12 <= new <= high + 1e-12


# ---------------------------------------------------------------------------
# Trust builds slowly and breaks fast
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(
    trust=floats(0.2, 0.8), gap=floats(0.01, 0.2), build=floats(0.0, 0.9), extra=floats(0.01, 0.1)
)
def test_trust_falls_faster_than_it_rises(trust, gap, build, extra):
    brk = build + extra  # break_rate > build_rate
    kwargs = {"build_rate": build, "break_rate": brk, "reputation_weight": 0.0}
    rise = rules.update_trust(trust, trust + gap, 0.0, **kwargs) - trust
    fall = trust - rules.update_trust(trust, trust - gap, 0.0, **kwargs)
    assert rise >= 0.0
    assert fall > rise
    assert fall - rise == pytest.approx(extra * gap, rel=1e-6)


@RULE_SETTINGS
@given(trust=floats(0.2, 0.8), gap=floats(0.01, 0.2), rate=unit)
def test_trust_moves_symmetrically_when_rates_are_equal(trust, gap, rate):
    kwargs = {"build_rate": rate, "break_rate": rate, "reputation_weight": 0.0}
    rise = rules.update_trust(trust, trust + gap, 0.0, **kwargs) - trust
    fall = trust - rules.update_trust(trust, trust - gap, 0.0, **kwargs)
    assert rise == pytest.approx(fall, abs=1e-12)


# ---------------------------------------------------------------------------
# Perceived value
# ---------------------------------------------------------------------------

value_inputs = st.fixed_dictionaries(
    {
        "quality": unit,
        "digital_quality": unit,
        "digital_weight": unit,
        "need_distance": unit,
        "personalization_need": unit,
        "personalization_weight": floats(0.0, 5.0),
        "adaptation": unit,
        "price": floats(0.1, 10.0),
        "price_sensitivity": floats(0.0, 5.0),
        "price_weight": floats(0.0, 5.0),
        "relational_benefit": unit,
        "growth": unit,
        "involvement": unit,
        "shock": floats(-0.5, 0.5),
    }
)


@pytest.mark.parametrize(
    ("field", "direction"),
    [
        ("adaptation", 1),  # a better fit never lowers value
        ("need_distance", -1),  # needs further from the offer never raise it
        ("growth", 1),  # grown relational benefits never lower it
    ],
)
@RULE_SETTINGS
@given(inputs=value_inputs, pair=ordered_pair(unit))
def test_value_moves_one_way_with(field, direction, inputs, pair):
    low, high = pair
    change = rules.perceived_value(**{**inputs, field: high}) - rules.perceived_value(
        **{**inputs, field: low}
    )
    assert direction * change >= 0.0


@RULE_SETTINGS
@given(inputs=value_inputs)
def test_misfit_only_hurts(inputs):
    fitted = rules.perceived_value(**{**inputs, "need_distance": 0.0})
    assert rules.perceived_value(**inputs) <= fitted
    fitted = rules.perceived_value(**{**inputs, "personalization_need": 0.0})
    assert rules.perceived_value(**inputs) <= fitted


@RULE_SETTINGS
@given(tenures=ordered_pair(st.integers(0, 10_000)), tau=floats(0.1, 1000.0))
def test_relational_growth_starts_at_zero_and_grows_toward_one(tenures, tau):
    low, high = tenures
    assert rules.relational_growth(0, tau) == 0.0
    assert 0.0 <= rules.relational_growth(low, tau) <= rules.relational_growth(high, tau) <= 1.0


@RULE_SETTINGS
@given(inputs=value_inputs, prices=ordered_pair(floats(0.1, 10.0)))
def test_higher_price_never_raises_value(inputs, prices):
    low, high = prices
    assert rules.perceived_value(**{**inputs, "price": high}) <= rules.perceived_value(
        **{**inputs, "price": low}
    )


@RULE_SETTINGS
@given(rival=unit, current=unit, imitation=unit)
def test_rival_adaptation_never_below_its_own_nor_above_the_best(rival, current, imitation):
    effective = rules.rival_adaptation(rival, current, imitation)
    assert rival <= effective <= max(rival, current)


# ---------------------------------------------------------------------------
# Word of mouth
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(
    detractors=ordered_pair(st.integers(0, 10_000)),
    customers=st.integers(0, 10_000),
    strength=floats(0.0, 20.0),
)
def test_negative_word_of_mouth_damps_within_unit_interval(detractors, customers, strength):
    low, high = detractors
    damp_low = rules.word_of_mouth_factor(low, customers, strength=strength)
    damp_high = rules.word_of_mouth_factor(high, customers, strength=strength)
    assert 0.0 <= damp_high <= damp_low <= 1.0


@RULE_SETTINGS
@given(advocates=st.integers(0, 10_000), share=unit, rate=unit, reach=floats(0.0, 20.0))
def test_expected_referrals_scale_with_advocates_and_the_remaining_prospects(
    advocates, share, rate, reach
):
    """Bass's imitation term: A x rate x reach x P/N."""
    referrals = rules.expected_referrals(advocates, share, referral_rate=rate, reach=reach)
    assert referrals == pytest.approx(advocates * rate * reach * share)
    assert rules.expected_referrals(advocates, 0.0, referral_rate=rate, reach=reach) == 0.0
    assert (
        rules.expected_referrals(advocates, share / 2, referral_rate=rate, reach=reach)
        <= referrals + 1e-12
    )


@RULE_SETTINGS
@given(referrals=st.integers(0, 10_000), costs=ordered_pair(floats(0.0, 50.0)))
def test_referral_value_is_the_acquisition_cost_saved(referrals, costs):
    referral_cost, acquisition_cost = costs
    value = rules.referral_value(referrals, acquisition_cost, referral_cost)
    assert value == pytest.approx(referrals * (acquisition_cost - referral_cost))
    assert value >= 0.0  # the config keeps referral_cost <= acquisition_cost
    # nothing saved when a referral costs as much as an acquisition; linear in the referrals
    assert rules.referral_value(referrals, acquisition_cost, acquisition_cost) == 0.0
    assert rules.referral_value(2 * referrals, acquisition_cost, referral_cost) == (
        pytest.approx(2 * value)
    )
    np.testing.assert_allclose(
        rules.referral_value(np.array([0, 1, referrals]), acquisition_cost, referral_cost),
        [0.0, acquisition_cost - referral_cost, value],
    )


# ---------------------------------------------------------------------------
# Expectations: partial, asymmetric adaptation toward an anchored target
# ---------------------------------------------------------------------------


def expectation_target(value, reference, anchor):
    return anchor * value + (1.0 - anchor) * reference


@RULE_SETTINGS
@given(
    expectation=floats(0.2, 0.8),
    gap=floats(0.001, 0.2),
    rates=ordered_pair(unit),
    extra=floats(0.01, 0.5),
    anchor=floats(0.1, 1.0),
    reference=unit,
)
def test_expectations_rise_faster_than_they_fall(expectation, gap, rates, extra, anchor, reference):
    """A target ``gap`` above moves E further than one ``gap`` below when adapt_up > down."""
    up = min(1.0, rates[1] + extra)
    down = min(rates[0], up - extra / 2)  # strictly below up, also where up is capped at 1
    # values whose targets are expectation +- gap
    above = (expectation + gap - (1.0 - anchor) * reference) / anchor
    below = (expectation - gap - (1.0 - anchor) * reference) / anchor
    kwargs = dict(adapt_up=up, adapt_down=down, anchor=anchor, drift=0.0)
    rise = rules.update_expectation(expectation, above, reference, **kwargs) - expectation
    fall = expectation - rules.update_expectation(expectation, below, reference, **kwargs)
    assert rise == pytest.approx(up * gap, rel=1e-6, abs=1e-12)
    assert fall == pytest.approx(down * gap, rel=1e-6, abs=1e-12)
    assert rise > fall


@RULE_SETTINGS
@given(
    expectation=unit,
    value=unit,
    reference=unit,
    up=floats(0.01, 1.0),
    down=floats(0.01, 1.0),
    anchor=unit,
)
def test_expectation_moves_toward_its_target_without_overshooting(
    expectation, value, reference, up, down, anchor
):
    target = expectation_target(value, reference, anchor)
    new = rules.update_expectation(
        expectation, value, reference, adapt_up=up, adapt_down=down, anchor=anchor, drift=0.0
    )
    low, high = sorted((expectation, target))
    assert low - 1e-12 <= new <= high + 1e-12


@RULE_SETTINGS
@given(
    start=unit,
    value=unit,
    reference=unit,
    up=floats(0.05, 1.0),
    down=floats(0.05, 1.0),
    anchor=unit,
)
def test_expectation_converges_to_the_anchored_target(start, value, reference, up, down, anchor):
    """Repeated delivery of V leads E to anchor V + (1 - anchor) E_ref, not to V itself."""
    expectation = start
    for _ in range(600):  # (1 - 0.05)^600 ~ 4e-14
        expectation = rules.update_expectation(
            expectation, value, reference, adapt_up=up, adapt_down=down, anchor=anchor, drift=0.0
        )
    assert expectation == pytest.approx(expectation_target(value, reference, anchor), abs=1e-9)


def test_expectation_anchor_one_follows_delivery_and_zero_ignores_it():
    kwargs = dict(adapt_up=0.5, adapt_down=0.5, drift=0.0)
    assert rules.update_expectation(0.4, 0.8, 0.1, anchor=1.0, **kwargs) == pytest.approx(0.6)
    assert rules.update_expectation(0.4, 0.8, 0.1, anchor=0.0, **kwargs) == pytest.approx(0.25)
    # drift is added on top of the adaptation
    assert rules.update_expectation(
        0.4, 0.8, 0.1, anchor=1.0, adapt_up=0.5, adapt_down=0.5, drift=0.01
    ) == pytest.approx(0.61)


# ---------------------------------------------------------------------------
# Offer fit (idiosyncratic taste)
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(spread=unit, u=unit)
def test_offer_fit_is_zero_for_a_fully_adapting_firm(spread, u):
    assert rules.offer_fit(spread, 1.0, rules.taste(u)) == 0.0


@RULE_SETTINGS
@given(spread=unit, adaptations=ordered_pair(unit), u=unit)
def test_offer_fit_shrinks_with_adaptation(spread, adaptations, u):
    low, high = adaptations
    taste = rules.taste(u)
    assert rules.offer_fit(spread, low, taste) == pytest.approx(spread * (1 - low) * taste)
    assert abs(rules.offer_fit(spread, high, taste)) <= abs(rules.offer_fit(spread, low, taste))
    assert abs(taste) <= np.sqrt(3.0) + 1e-12


def test_taste_has_mean_zero_and_variance_one():
    u = (np.arange(1_000_000) + 0.5) / 1_000_000  # the uniform distribution, evenly
    taste = rules.taste(u)
    assert taste.mean() == pytest.approx(0.0, abs=1e-9)
    assert taste.var() == pytest.approx(1.0, rel=1e-6)


# ---------------------------------------------------------------------------
# Purchase occasions and money per customer
# ---------------------------------------------------------------------------

OCCASION_RATES = (0.1, 0.6, 1.0, 2.5, 5.0, rules.MAX_PURCHASE_RATE)


@pytest.mark.parametrize("rate", OCCASION_RATES)
def test_occasions_are_poisson_in_mean_and_variance(rate):
    n = 400_000
    counts = rules.occasions(np.random.default_rng(2024).random(n), np.full(n, rate))
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    # 5 standard errors: of the mean sqrt(rate / n), of the variance sqrt((rate + 2 rate^2) / n)
    assert counts.mean() == pytest.approx(rate, abs=5 * np.sqrt(rate / n))
    assert counts.var() == pytest.approx(rate, abs=5 * np.sqrt((rate + 2 * rate**2) / n))


@pytest.mark.parametrize("rate", OCCASION_RATES)
def test_occasions_invert_the_poisson_distribution(rate):
    """Evenly spread uniforms give each count its Poisson probability (to 1/n)."""
    n = 200_000
    counts = rules.occasions((np.arange(n) + 0.5) / n, rate).astype(int)
    assert np.all(np.diff(counts) >= 0)  # inversion: a larger uniform, never fewer
    shares = np.bincount(counts, minlength=rules.MAX_OCCASIONS + 1) / n
    k = np.arange(shares.size)
    log_pmf = k * np.log(rate) - rate - np.cumsum(np.r_[0.0, np.log(k[1:])])
    np.testing.assert_allclose(shares, np.exp(log_pmf), atol=2.0 / n)


def test_occasions_at_rate_zero_and_at_the_cap():
    assert rules.occasions(0.999999, 0.0) == 0.0
    assert rules.occasions(0.0, 3.0) == 0.0
    assert rules.occasions(1.0, rules.MAX_PURCHASE_RATE) <= rules.MAX_OCCASIONS


@RULE_SETTINGS
@given(
    rate=floats(0.0, 8.0),
    depth=unit,
    spend=floats(0.0, 10.0),
    price=floats(0.1, 5.0),
    share=unit,
    margin_rate=unit,
    serve=floats(0.0, 2.0),
)
def test_expected_revenue_and_margin(rate, depth, spend, price, share, margin_rate, serve):
    expected = rules.occasion_rate(rate, depth)
    assert expected == pytest.approx(rate * depth)
    sales = rules.revenue(expected, spend, price, share)
    assert sales == pytest.approx(rate * depth * spend * price * share)
    assert rules.revenue(0.0, spend, price, share) == 0.0
    assert rules.margin(sales, margin_rate, serve) == pytest.approx(margin_rate * sales - serve)


# ---------------------------------------------------------------------------
# Search and where a leaving customer goes
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(p=unit, propensities=ordered_pair(floats(0.0, 20.0)))
def test_search_chance_is_a_probability_rising_with_churn_propensity(p, propensities):
    low, high = propensities
    chance_low, chance_high = rules.search_chance(p, low), rules.search_chance(p, high)
    assert 0.0 <= chance_low <= chance_high <= 1.0
    assert chance_low == pytest.approx(min(1.0, p * low))


@RULE_SETTINGS
@given(best=value_like, costs=ordered_pair(unit), weight=unit, outside=value_like)
def test_goes_to_rival_when_the_rival_beats_leaving_by_the_switching_cost(
    best, costs, weight, outside
):
    low, high = costs
    goes = rules.goes_to_rival(best, low, weight, outside)
    assert bool(goes) == (best - weight * low > outside)
    # a higher switching cost never sends more customers to the rival, a better rival never fewer
    assert bool(rules.goes_to_rival(best, high, weight, outside)) <= bool(goes)
    assert bool(rules.goes_to_rival(best + 0.1, low, weight, outside)) >= bool(goes)


def test_goes_to_rival_on_arrays():
    got = rules.goes_to_rival(np.array([0.5, 0.5, 0.9]), np.array([0.0, 1.0, 1.0]), 0.5, 0.3)
    assert got.tolist() == [True, False, True]


# ---------------------------------------------------------------------------
# Stage transitions
# ---------------------------------------------------------------------------

transition_parameters = st.fixed_dictionaries(
    {
        "advance_threshold": st.tuples(unit, unit).map(
            lambda t: np.array([1.0, t[0], t[1], 1.0, 1.0, 1.0])
        ),
        "decline_threshold": unit,
        "recovery_threshold": unit,
        "steepness": floats(0.1, 200.0),
        "advance_rate": unit,
        "decline_rate": floats(0.0, 0.5),
        "recovery_rate": floats(0.0, 0.5),
        "min_stage_age": st.tuples(st.integers(0, 10), st.integers(0, 10)).map(
            lambda t: np.array([0, t[0], t[1], 0, 0, 0])
        ),
        "exit_rate": floats(0.0, 0.5),
        "repair_window": floats(0.0, 120.0),
        "switching_cost_buffer": unit,
        "overdue_exit_multiplier": floats(1.0, 10.0),
    }
)
stages = st.sampled_from(list(Stage))
active_stages = st.sampled_from(
    [Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE]
)
ages = st.integers(0, 200)


def probabilities(stage, age, loyalty, cost, params):
    with np.errstate(over="ignore"):  # steep logistic: exp overflow saturates correctly
        return transition_probabilities(
            np.asarray(stage), np.asarray(age), np.asarray(loyalty), np.asarray(cost), **params
        )


@RULE_SETTINGS
@given(stage=stages, age=ages, loyalty=unit, cost=unit, params=transition_parameters)
def test_transition_probabilities_are_probabilities_and_apply_only_where_they_should(
    stage, age, loyalty, cost, params
):
    p_up, p_down, p_recover, p_exit = probabilities(stage, age, loyalty, cost, params)
    for p in (p_up, p_down, p_recover, p_exit):
        assert 0.0 <= p <= 1.0
    if stage not in (Stage.EXPLORATION, Stage.FORMATION):
        assert p_up == 0.0
    if age < params["min_stage_age"][stage]:
        assert p_up == 0.0
    if stage not in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY):
        assert p_down == 0.0
    if stage != Stage.DECLINE:
        assert p_recover == 0.0
        assert p_exit == 0.0


@RULE_SETTINGS
@given(
    stage=active_stages,
    age=ages,
    loyalties=ordered_pair(unit),
    cost=unit,
    params=transition_parameters,
)
def test_more_loyalty_raises_up_and_recovery_and_lowers_decline(
    stage, age, loyalties, cost, params
):
    low, high = loyalties
    up_low, down_low, recover_low, exit_low = probabilities(stage, age, low, cost, params)
    up_high, down_high, recover_high, exit_high = probabilities(stage, age, high, cost, params)
    assert up_high >= up_low
    assert recover_high >= recover_low
    assert down_high <= down_low
    assert exit_high == exit_low  # loyalty acts on exit only through recovery


@RULE_SETTINGS
@given(age=ages, loyalty=unit, costs=ordered_pair(unit), params=transition_parameters)
def test_more_switching_cost_never_raises_exit_from_decline(age, loyalty, costs, params):
    low, high = costs
    exit_low = probabilities(Stage.DECLINE, age, loyalty, low, params)[3]
    exit_high = probabilities(Stage.DECLINE, age, loyalty, high, params)[3]
    assert exit_high <= exit_low


def transition_parameters_example():
    return {
        "advance_threshold": np.array([1.0, 0.5, 0.6, 1.0, 1.0, 1.0]),
        "decline_threshold": 0.4,
        "recovery_threshold": 0.45,
        "steepness": 10.0,
        "advance_rate": 0.3,
        "decline_rate": 0.1,
        "recovery_rate": 0.25,
        "min_stage_age": np.array([0, 2, 4, 0, 0, 0]),
        "exit_rate": 0.1,
        "repair_window": 6.0,
        "switching_cost_buffer": 0.8,
        "overdue_exit_multiplier": 3.0,
    }


def test_exit_hazard_jumps_once_the_repair_window_is_over():
    params = {
        "exit_rate": 0.1,
        "repair_window": 6.0,
        "switching_cost_buffer": 0.0,
        "overdue_exit_multiplier": 3.0,
    }
    full = {**transition_parameters_example(), **params}
    inside = probabilities(Stage.DECLINE, 5, 0.5, 0.0, full)[3]
    overdue = probabilities(Stage.DECLINE, 6, 0.5, 0.0, full)[3]
    stretched = probabilities(Stage.DECLINE, 6, 0.5, 0.5, full)[3]  # window 6 * 1.5 = 9
    assert inside == pytest.approx(0.1)
    assert overdue == pytest.approx(0.3)
    assert stretched == pytest.approx(0.1)


customer = st.tuples(
    stages,
    st.sampled_from([Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY]),  # before decline
    ages,
    unit,
    unit,
    floats(0.0, 1.0).filter(lambda u: u < 1.0),
)


@RULE_SETTINGS
@given(customers=st.lists(customer, min_size=1, max_size=40), params=transition_parameters)
def test_next_stage_makes_at_most_one_legal_move(customers, params):
    stage, before, age, loyalty, cost, uniform = (np.array(c) for c in zip(*customers, strict=True))
    stage = stage.astype(np.int8)
    before = before.astype(np.int8)
    p = probabilities(stage, age, loyalty, cost, params)
    new = next_stage(stage, before, uniform, *p)
    assert new.shape == stage.shape
    assert new.dtype == stage.dtype
    for s, b, a, n in zip(stage, before, age, new, strict=True):
        if s in (Stage.PROSPECT, Stage.EXITED):
            allowed = {s}  # prospects and exited never move
        elif s == Stage.DECLINE:
            allowed = {Stage.DECLINE, b, Stage.EXITED}  # recovery goes back where it left
        elif s == Stage.STABILITY:
            allowed = {s, Stage.DECLINE}
        else:
            allowed = {s, Stage.DECLINE}
            if a >= params["min_stage_age"][s]:
                allowed.add(s + 1)  # advance by one stage only
        assert n in allowed, (Stage(s), Stage(n))


NEXT_STAGE_TABLE = [
    # stage, before decline, u, p_up, p_down, p_recover, p_exit -> new stage
    (Stage.EXPLORATION, Stage.EXPLORATION, 0.10, 0.2, 0.1, 0.0, 0.0, Stage.FORMATION),
    (Stage.EXPLORATION, Stage.EXPLORATION, 0.50, 0.2, 0.1, 0.0, 0.0, Stage.EXPLORATION),
    (Stage.EXPLORATION, Stage.EXPLORATION, 0.95, 0.2, 0.1, 0.0, 0.0, Stage.DECLINE),
    (Stage.FORMATION, Stage.FORMATION, 0.19, 0.2, 0.1, 0.0, 0.0, Stage.STABILITY),
    (Stage.STABILITY, Stage.STABILITY, 0.10, 0.0, 0.1, 0.0, 0.0, Stage.STABILITY),
    (Stage.STABILITY, Stage.STABILITY, 0.91, 0.0, 0.1, 0.0, 0.0, Stage.DECLINE),
    (Stage.DECLINE, Stage.STABILITY, 0.10, 0.0, 0.0, 0.2, 0.1, Stage.STABILITY),
    (Stage.DECLINE, Stage.FORMATION, 0.10, 0.0, 0.0, 0.2, 0.1, Stage.FORMATION),
    (Stage.DECLINE, Stage.FORMATION, 0.50, 0.0, 0.0, 0.2, 0.1, Stage.DECLINE),
    (Stage.DECLINE, Stage.FORMATION, 0.95, 0.0, 0.0, 0.2, 0.1, Stage.EXITED),
    (Stage.PROSPECT, Stage.PROSPECT, 0.50, 0.0, 0.0, 0.0, 0.0, Stage.PROSPECT),
    (Stage.EXITED, Stage.EXITED, 0.99, 0.0, 0.0, 0.0, 0.0, Stage.EXITED),
]


@pytest.mark.parametrize(
    ("stage", "before", "u", "up", "down", "recover", "exit_", "expected"), NEXT_STAGE_TABLE
)
def test_next_stage_table(stage, before, u, up, down, recover, exit_, expected):
    new = next_stage(
        np.array([stage], dtype=np.int8),
        np.array([before], dtype=np.int8),
        np.array([u]),
        up,
        down,
        recover,
        exit_,
    )
    assert new[0] == expected


@pytest.mark.parametrize(
    ("stage", "p_up", "p_down", "p_recover", "p_exit"),
    [
        (Stage.EXPLORATION, 0.3, 0.1, 0.0, 0.0),
        (Stage.FORMATION, 0.05, 0.4, 0.0, 0.0),
        (Stage.DECLINE, 0.0, 0.0, 0.25, 0.36),
    ],
)
def test_next_stage_realizes_its_probabilities(stage, p_up, p_down, p_recover, p_exit):
    """A uniform grid of draws realizes each probability to within 1/n."""
    n = 10_000
    uniform = (np.arange(n) + 0.5) / n
    stage_codes = np.full(n, stage, dtype=np.int8)
    new = next_stage(
        stage_codes,
        np.full(n, Stage.FORMATION, dtype=np.int8),
        uniform,
        p_up,
        p_down,
        p_recover,
        p_exit,
    )
    if stage == Stage.DECLINE:
        assert np.mean(new == Stage.FORMATION) == pytest.approx(p_recover, abs=1.0 / n)
        assert np.mean(new == Stage.EXITED) == pytest.approx(p_exit, abs=1.0 / n)
    else:
        assert np.mean(new == stage + 1) == pytest.approx(p_up, abs=1.0 / n)
        assert np.mean(new == Stage.DECLINE) == pytest.approx(p_down, abs=1.0 / n)


@pytest.mark.parametrize(
    ("stage", "loyalty", "switching_cost", "age", "overrides"),
    [
        # advance threshold below the decline threshold: both logistic terms near 1
        (
            Stage.EXPLORATION,
            0.4,
            0.0,
            10,
            {
                "advance_rate": 1.0,
                "decline_rate": 0.5,
                "advance_threshold_exploration": 0.2,
                "decline_threshold": 0.6,
                "steepness": 50.0,
            },
        ),
        # overdue declining customer with a high exit rate: recovery can never happen
        (
            Stage.DECLINE,
            0.9,
            0.0,
            50,
            {
                "exit_rate": 0.5,
                "overdue_exit_multiplier": 3.0,
                "recovery_rate": 0.5,
                "recovery_threshold": 0.3,
                "steepness": 50.0,
            },
        ),
    ],
)
def test_valid_configs_realize_the_documented_transition_probabilities(
    stage, loyalty, switching_cost, age, overrides
):
    r = RelationshipConfig(**overrides)  # a valid config
    params = {
        "advance_threshold": np.array(
            [1.0, r.advance_threshold_exploration, r.advance_threshold_formation, 1.0, 1.0, 1.0]
        ),
        "decline_threshold": r.decline_threshold,
        "recovery_threshold": r.recovery_threshold,
        "steepness": r.steepness,
        "advance_rate": r.advance_rate,
        "decline_rate": r.decline_rate,
        "recovery_rate": r.recovery_rate,
        "min_stage_age": np.array([0, r.min_age_exploration, r.min_age_formation, 0, 0, 0]),
        "exit_rate": r.exit_rate,
        "repair_window": 6.0,
        "switching_cost_buffer": r.switching_cost_buffer,
        "overdue_exit_multiplier": r.overdue_exit_multiplier,
    }
    n = 10_000
    p = probabilities(
        np.full(n, stage, dtype=np.int8),
        np.full(n, age),
        np.full(n, loyalty),
        np.full(n, switching_cost),
        params,
    )
    new = next_stage(
        np.full(n, stage, dtype=np.int8),
        np.full(n, Stage.FORMATION, dtype=np.int8),
        (np.arange(n) + 0.5) / n,
        *p,
    )
    if stage == Stage.DECLINE:
        assert np.mean(new == Stage.FORMATION) == pytest.approx(p[2][0], abs=0.01)
    else:
        assert np.mean(new == stage + 1) == pytest.approx(p[0][0], abs=0.01)


# ---------------------------------------------------------------------------
# Trajectory types I-IV
# ---------------------------------------------------------------------------

TRAJECTORY_TABLE = [
    # deepest stage reached, periods in stability, long stability -> type
    (Stage.PROSPECT, 0, 24, Trajectory.I),
    (Stage.EXPLORATION, 0, 24, Trajectory.I),
    (Stage.FORMATION, 0, 24, Trajectory.II),
    (Stage.STABILITY, 1, 24, Trajectory.III),
    (Stage.STABILITY, 23, 24, Trajectory.III),
    (Stage.STABILITY, 24, 24, Trajectory.IV),
    (Stage.STABILITY, 100, 24, Trajectory.IV),
    (Stage.STABILITY, 5, 6, Trajectory.III),
    (Stage.STABILITY, 6, 6, Trajectory.IV),
]


@pytest.mark.parametrize(("deepest", "stability", "long_stability", "expected"), TRAJECTORY_TABLE)
def test_trajectory_type_table(deepest, stability, long_stability, expected):
    assert trajectory_type(deepest, stability, long_stability) == expected


def test_trajectory_type_on_arrays_matches_the_table():
    deepest, stability, long_stability, expected = zip(*TRAJECTORY_TABLE, strict=True)
    # one long_stability per call: group the table by it
    for threshold in set(long_stability):
        rows = [i for i, t in enumerate(long_stability) if t == threshold]
        got = trajectory_type(
            np.array([deepest[i] for i in rows], dtype=np.int8),
            np.array([stability[i] for i in rows], dtype=np.int16),
            threshold,
        )
        assert list(got) == [expected[i] for i in rows]


# ---------------------------------------------------------------------------
# Scalars (a single customer) and arrays give the same answers
# ---------------------------------------------------------------------------


def assert_scalar_matches_array(func, rows, **kwargs):
    """``func`` over arrays built from ``rows`` equals ``func`` called row by row."""
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    vectorized = np.asarray(func(*columns, **kwargs))
    for i, row in enumerate(rows):
        single = np.asarray(func(*row, **kwargs))
        assert single.shape == ()
        np.testing.assert_allclose(single, vectorized[i], rtol=1e-12, atol=1e-15)


@RULE_SETTINGS
@given(
    rows=st.lists(st.tuples(value_like, unit), min_size=1, max_size=20),
    s0=at_confirmation,
    k=floats(0.0, 15.0),
)
def test_satisfaction_rules_on_scalars_and_arrays(rows, s0, k):
    assert_scalar_matches_array(rules.satisfaction_target, rows, at_confirmation=s0, sensitivity=k)
    assert_scalar_matches_array(
        rules.update_expectation,
        [(e, v, 1.0 - e) for v, e in rows],
        adapt_up=0.3,
        adapt_down=0.1,
        anchor=0.6,
        drift=0.001,
    )
    assert_scalar_matches_array(rules.occasions, [(e, 3.0 * e) for _, e in rows])


@RULE_SETTINGS
@given(
    rows=st.lists(st.tuples(unit, unit, unit), min_size=1, max_size=20),
    build=unit,
    brk=unit,
    rho=unit,
)
def test_trust_on_scalars_and_arrays(rows, build, brk, rho):
    assert_scalar_matches_array(
        rules.update_trust, rows, build_rate=build, break_rate=brk, reputation_weight=rho
    )


@RULE_SETTINGS
@given(rows=st.lists(st.tuples(unit), min_size=1, max_size=20), build=unit, decay=unit)
def test_switching_cost_on_scalars_and_arrays(rows, build, decay):
    assert_scalar_matches_array(
        rules.update_switching_cost, rows, build_rate=build, floor=0.1, decay=decay
    )


@RULE_SETTINGS
@given(
    rows=st.lists(st.tuples(gain, unit, unit), min_size=1, max_size=20), params=defection_parameters
)
def test_defection_on_scalars_and_arrays(rows, params):
    assert_scalar_matches_array(rules.defection_probability, rows, **params)


@RULE_SETTINGS
@given(
    rows=st.lists(st.tuples(value_like, unit, unit, unit), min_size=1, max_size=20),
    weights=loyalty_weights(),
)
def test_loyalty_drive_on_scalars_and_arrays(rows, weights):
    def drive(value, utility, trust, cost):
        per_customer = np.broadcast_to(weights, (*np.shape(value), 4))
        return rules.loyalty_drive(value, utility, trust, cost, per_customer)

    assert_scalar_matches_array(drive, rows)


@RULE_SETTINGS
@given(rows=st.lists(value_inputs, min_size=1, max_size=10))
def test_perceived_value_on_scalars_and_arrays(rows):
    keys = list(rows[0])
    columns = {key: np.array([row[key] for row in rows]) for key in keys}
    vectorized = rules.perceived_value(**columns)
    for i, row in enumerate(rows):
        single = rules.perceived_value(**row)
        assert np.shape(single) == ()
        assert single == pytest.approx(vectorized[i], rel=1e-12, abs=1e-15)


@RULE_SETTINGS
@given(customers=st.lists(customer, min_size=1, max_size=20), params=transition_parameters)
def test_stage_rule_on_scalars_and_arrays(customers, params):
    stage, before, age, loyalty, cost, uniform = (np.array(c) for c in zip(*customers, strict=True))
    stage = stage.astype(np.int8)
    before = before.astype(np.int8)
    p_all = probabilities(stage, age, loyalty, cost, params)
    new_all = next_stage(stage, before, uniform, *p_all)
    for i in range(len(stage)):
        p_one = probabilities(stage[i], age[i], loyalty[i], cost[i], params)
        for one, every in zip(p_one, p_all, strict=True):
            assert np.shape(one) == ()
            assert one == pytest.approx(every[i], rel=1e-12, abs=1e-15)
        new_one = next_stage(stage[i], before[i], uniform[i], *p_one)
        assert new_one == new_all[i]
    assert bool(is_active(stage[0])) == (Stage.EXPLORATION <= stage[0] <= Stage.DECLINE)


# ---------------------------------------------------------------------------
# select: np.where (a branch when compiled)
# ---------------------------------------------------------------------------

SELECT_DTYPES = (np.float32, np.float64, np.int8, np.int16, np.int64, np.bool_)


@RULE_SETTINGS
@given(
    st.integers(0, 200),
    st.sampled_from(SELECT_DTYPES),
    st.sampled_from(SELECT_DTYPES),
    st.sampled_from(("array", "array", "python", "numpy")),
    st.integers(0, 2**32 - 1),
)
def test_select_is_np_where_bit_for_bit(n, true_dtype, other_dtype, scalar_kind, seed):
    rng = np.random.default_rng(seed)

    def operand(dtype):
        if dtype is np.bool_:
            return rng.random(n) < 0.5
        if np.issubdtype(dtype, np.floating):  # include -0.0, inf and nan
            values = rng.standard_normal(n).astype(dtype)
            specials = np.array([-0.0, np.inf, -np.inf, np.nan], dtype=dtype)
            values[rng.random(n) < 0.1] = rng.choice(specials)
            return values
        return rng.integers(-100, 100, size=n).astype(dtype)

    condition = rng.random(n) < rng.random()
    if_true, otherwise = operand(true_dtype), operand(other_dtype)
    if scalar_kind == "python":
        otherwise = 0.25 if np.issubdtype(other_dtype, np.floating) else 3
    elif scalar_kind == "numpy":
        if_true = np.dtype(true_dtype).type(1)
    expected = np.where(condition, if_true, otherwise)
    got = rules.select(condition, if_true, otherwise)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_select_on_scalars_and_non_boolean_conditions():
    assert rules.select(True, 1.5, 2.0) == 1.5
    assert rules.select(np.array([2, 0, -1]), 1, 0).tolist() == [1, 0, 1]


# ---------------------------------------------------------------------------
# The settled start: closed forms of the rules (rules.*_after, stages.climbed_stage)
# ---------------------------------------------------------------------------


@RULE_SETTINGS
@given(floor=unit, build=unit, decay=unit, periods=st.integers(0, 300))
def test_switching_cost_after_is_the_update_rule_applied_that_often(floor, build, decay, periods):
    cost = floor
    for _ in range(periods):
        cost = rules.update_switching_cost(cost, build_rate=build, floor=floor, decay=decay)
    after = rules.switching_cost_after(periods, build, floor, decay)
    assert after == pytest.approx(cost, rel=1e-9, abs=1e-12)


@RULE_SETTINGS
@given(
    trust=unit,
    satisfaction=unit,
    reputation=unit,
    build=unit,
    extra=unit,
    rho=unit,
    periods=st.integers(0, 300),
)
def test_trust_after_is_the_update_rule_applied_that_often(
    trust, satisfaction, reputation, build, extra, rho, periods
):
    brk = build + extra * (1.0 - build)  # trust breaks at least as fast as it builds
    expected = trust
    for _ in range(periods):
        expected = rules.update_trust(
            expected,
            satisfaction,
            reputation,
            build_rate=build,
            break_rate=brk,
            reputation_weight=rho,
        )
    after = rules.trust_after(periods, trust, satisfaction, reputation, build, brk, rho)
    assert after == pytest.approx(expected, rel=1e-9, abs=1e-12)


@RULE_SETTINGS
@given(start=floats(-1.0, 1.0), target=floats(-1.0, 1.0), rate=unit, periods=st.integers(0, 50))
def test_approach_is_the_partial_adjustment_applied_that_often(start, target, rate, periods):
    x = start
    for _ in range(periods):
        x = x + rate * (target - x)
    assert rules.approach(start, target, rate, periods) == pytest.approx(x, rel=1e-9, abs=1e-12)


@RULE_SETTINGS
@given(u=floats(0.0, 0.999999), chance=floats(0.001, 0.999))
def test_waiting_time_inverts_the_geometric_distribution(u, chance):
    # k periods pass when (1 - chance) ** (k + 1) < 1 - u <= (1 - chance) ** k
    k = rules.waiting_time(u, chance)
    assert k == int(k) >= 0
    assert (1.0 - chance) ** (k + 1) < (1.0 - u) * (1 + 1e-12)
    assert (1.0 - u) <= (1.0 - chance) ** k * (1 + 1e-12)


def test_waiting_time_has_the_geometric_mean_and_limits():
    u = (np.arange(200_000) + 0.5) / 200_000  # a fine grid of uniforms
    for chance in (0.02, 1 / 61, 0.3, 0.9):
        assert rules.waiting_time(u, chance).mean() == pytest.approx(
            (1 - chance) / chance, rel=1e-3
        )
    assert (rules.waiting_time(u, 1.0) == 0).all()
    assert np.isinf(rules.waiting_time(u, 0.0)).all()


@RULE_SETTINGS
@given(share=unit, acquisition=floats(0.0, 2.0), reentry=unit, exit_rate=floats(0.0, 0.2))
def test_steady_prospect_share_balances_the_flows_of_the_pools(
    share, acquisition, reentry, exit_rate
):
    p = rules.steady_prospect_share(share, acquisition, reentry, exit_rate)
    assert 0.0 <= p <= 1.0 - share + 1e-12
    out = 1.0 - share - p
    if p < 1.0 - share - 1e-9:  # not capped: into the prospect pool = out of it
        assert reentry * out + exit_rate == pytest.approx(
            (acquisition + exit_rate) * p, rel=1e-9, abs=1e-12
        )


def test_steady_prospect_share_without_any_flow_keeps_everyone_a_prospect():
    assert rules.steady_prospect_share(0.75, 0.0, 0.0, 0.0) == 0.25
    # a closed market with re-entry: prospects only while the firms acquire none
    assert rules.steady_prospect_share(0.5, 0.1, 0.0, 0.0) == 0.0


@RULE_SETTINGS
@given(
    min_ages=st.tuples(st.integers(0, 10), st.integers(0, 10)),
    waits=st.tuples(st.integers(0, 20), st.integers(0, 20)),
)
def test_climbed_stage_is_the_transition_rule_climbing_without_decline(min_ages, waits):
    """Walk one relationship through next_stage: counters as the engine keeps them."""
    min_stage_age = np.array([0, min_ages[0], min_ages[1], 0, 0, 0])
    stage, stage_age, stability_periods = Stage.EXPLORATION, 0, 0
    failed = {Stage.EXPLORATION: 0, Stage.FORMATION: 0}
    for tenure in range(80):
        expected = climbed_stage(np.array(tenure), min_stage_age, waits[0], waits[1])
        assert [int(x) for x in expected] == [stage, stage_age, stability_periods]
        # a chance to move up past the minimum age; the draw fails until the wait is over
        p_up = 0.5 if stage in failed and stage_age >= min_stage_age[stage] else 0.0
        u = 0.25 if p_up and failed[stage] >= waits[stage - 1] else 0.75
        if p_up and u > p_up:
            failed[stage] += 1
        new = int(next_stage(np.int8(stage), np.int8(stage), u, p_up, 0.0, 0.0, 0.0))
        stage_age = 0 if new != stage else stage_age + 1
        stability_periods += new == Stage.STABILITY
        stage = new
