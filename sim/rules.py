"""The customer rules: one plain, vectorized function per mechanism.

Every function here takes customer state as numpy arrays (or scalars, for a
single customer) plus named parameters, and returns new values. None of them
draws random numbers: the model passes in the draws, so the rules are pure and
can be tested by properties. The model (:mod:`sim.model`) decides the order.

The engine runs these very functions compiled by numba, on one customer's
scalars, inside its per-period kernel (:mod:`sim.kernel`). So keep their
bodies to arithmetic, ``np`` ufuncs and the helpers :func:`select`,
:func:`clip`, :func:`take`, :func:`column`, :func:`exp`, :func:`logistic` and
:func:`power`, which :mod:`sim.compiled` replaces by code the kernel can run
for several customers at once (use :func:`exp` and :func:`power` rather than
``np.exp`` and ``np.power``: those call libm, which stops that), and give
them no keyword-only parameters (numba cannot bind those); callers still pass
parameters by keyword.

Symbols: V perceived value, E value expectation, S satisfaction, T trust,
C switching cost, L loyalty drive. E, S, T and C live in [0, 1]; V is a value
on the same scale but unbounded (a bad offer can be worth less than nothing).
Source: seed 000 point 7 (the four determinants and their stage weights),
seed 003 (satisfaction is not loyalty), MODEL.md sections 2-3 and 6-7.
"""

import numpy as np


def select(condition, if_true, otherwise):
    """``np.where(condition, if_true, otherwise)``; a plain branch when compiled.

    The rules choose between two values with this instead of ``np.where`` so
    that the same body compiles to scalar code for the engine's kernel
    (:mod:`sim.compiled`).
    """
    return np.where(condition, if_true, otherwise)


def clip(x, low, high):
    """``np.clip(x, low, high)``; ``min``/``max`` when compiled (:mod:`sim.compiled`)."""
    return np.clip(x, low, high)


def take(table, index):
    """``np.take(table, index)``: per-stage tables looked up by stage code.

    ``take`` is fast with int8 codes under numpy; compiled (:mod:`sim.compiled`)
    it is plain indexing.
    """
    return np.take(table, index)


def column(weights, k):
    """Column ``k`` of a table of weights (last axis): ``np.asarray(weights)[..., k]``.

    Compiled (:mod:`sim.compiled`), ``weights[k]`` of one customer's row.
    """
    return np.asarray(weights)[..., k]


def logistic(x):
    """The logistic ``1 / (1 + exp(-x))``, computed with tanh so it never overflows."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def exp(x):
    """``np.exp(x)``; compiled (:mod:`sim.compiled`), an exp the compiler can vectorize."""
    return np.exp(x)


def power(x, a):
    """``x ** a`` (``np.power``); ``exp(a log x)`` when compiled (:mod:`sim.compiled`)."""
    return np.power(x, a)


def gated_logistic(condition, scale, x):
    """``scale * logistic(x)`` where ``condition`` holds, else 0.

    A chance that applies to some customers only.
    """
    return select(condition, scale * logistic(x), 0.0)


# ---------------------------------------------------------------------------
# Perceived value (客户认知价值)
# ---------------------------------------------------------------------------


def perceived_value(
    quality,
    digital_quality,
    digital_weight,
    need_distance,
    personalization_need,
    personalization_weight,
    adaptation,
    price,
    price_sensitivity,
    relational_benefit,
    growth,
    involvement,
    shock,
):
    """Value a customer perceives from one firm's offer in one period.

    ``V = (1 - w_d) q + w_d q_d - w_p p d (1 - a) - s (price - 1) + i b g + shock``

    * ``q`` core quality (product, delivery, service) and ``q_d`` digital quality
      (system performance, reliability, security, payment risk), mixed by the
      setting's ``digital_weight`` ``w_d`` (zero in traditional commerce);
    * a standard offer loses value for customers whose needs lie far from it:
      need distance ``d`` times personalization need ``p`` (scaled by the
      setting's ``personalization_weight`` ``w_p``), reduced by the firm's
      ``adaptation`` ``a`` (clasp low, zipper medium, Velcro high; Storbacka);
    * price above the reference price 1 costs value in proportion to price
      sensitivity ``s``;
    * relational benefits ``b`` (highest for zipper: both parties invest in
      the relationship) have grown to a share ``g`` (``growth``, see
      :func:`relational_growth`) and are worth as much as the customer's
      ``involvement`` ``i`` in [0, 1] (low for low-involvement, rarely bought
      goods);
    * ``shock``: this period's experience noise (strategy-dependent spread:
      dispersed contact points make the experience less consistent).

    Returns:
        Perceived value ``V`` (not clipped; about [0, 1] for sensible inputs).
    """
    core = (1.0 - digital_weight) * quality + digital_weight * digital_quality
    misfit = personalization_weight * personalization_need * need_distance * (1.0 - adaptation)
    relational = involvement * relational_benefit * growth
    return core - misfit - price_sensitivity * (price - 1.0) + relational + shock


def relational_growth(tenure, relational_tau):
    """Share of its relational benefits a relationship delivers after ``tenure`` periods.

    ``g = 1 - exp(-tenure / tau)``: nothing in the first period (and from a
    rival, where the customer has no history), growing with time scale
    ``tau`` toward the full benefit (seed 001: relational benefits come with
    tenure, MODEL.md section 4).
    """
    return 1.0 - exp(-tenure / relational_tau)


def rival_adaptation(rival_adaptation, current_adaptation, imitation):
    """Personalization fit a rival offers once it imitates the current firm.

    ``a_rival_eff = max(a_rival, imitation * a_current)``: competitors copy a
    share ``imitation`` of the current firm's personalization (seed 000: online,
    rivals imitate personalization faster, so the advantage decays faster).
    """
    return np.maximum(rival_adaptation, imitation * current_adaptation)


# ---------------------------------------------------------------------------
# Expectation and satisfaction (客户满意)
# ---------------------------------------------------------------------------


def update_expectation(expectation, value, adapt_rate, drift):
    """Expectations adapt toward delivered value and drift upward.

    ``E' = E + adapt_rate (V - E) + drift``, clipped to [0, 1]. In e-commerce
    information is cheap: expectations start higher, adapt faster and drift up
    (seed 000).
    """
    return clip(expectation + adapt_rate * (value - expectation) + drift, 0.0, 1.0)


def satisfaction_target(value, expectation, at_confirmation, sensitivity):
    """Satisfaction implied by expectation-disconfirmation.

    ``f(V - E) = sigma(logit(s0) + k (V - E))``: a customer whose expectation is
    just confirmed is "satisfied" at level ``s0 = at_confirmation``; positive
    disconfirmation makes them very satisfied, negative dissatisfied; ``k`` is
    the ``sensitivity``. Monotone increasing in value. The convexity MODEL.md
    asks for ("totally satisfied is worth far more than merely satisfied") sits
    where satisfaction acts, in :func:`satisfaction_utility`.
    """
    logit = np.log(at_confirmation / (1.0 - at_confirmation))
    return logistic(logit + sensitivity * (value - expectation))


def update_satisfaction(satisfaction, target, rate):
    """Satisfaction moves a share ``rate`` of the way toward its target each period."""
    return satisfaction + rate * (target - satisfaction)


def satisfaction_utility(satisfaction, convexity):
    """Convex weight of satisfaction in loyalty: ``u(S) = S ** convexity``.

    With ``convexity`` > 1, moving from "satisfied" (0.7) to "totally
    satisfied" (0.95) more than doubles satisfaction's pull toward loyalty
    (Jones & Sasser 1995; seed 003: satisfaction is not yet loyalty).
    """
    return power(satisfaction, convexity)


# ---------------------------------------------------------------------------
# Trust (客户信任)
# ---------------------------------------------------------------------------


def update_trust(trust, satisfaction, reputation, build_rate, break_rate, reputation_weight):
    """Trust follows a series of satisfactions: slow up, fast down.

    Target ``T* = (1 - rho) S + rho R`` mixes the customer's own satisfaction
    with the firm's reputation ``R`` (weight ``rho = reputation_weight``, larger
    online where brand and reputation weigh more). Trust moves toward the target
    at ``build_rate`` when rising and ``break_rate`` when falling; the defaults
    keep ``break_rate > build_rate`` (trust builds slowly and breaks fast).

    Returns:
        New trust in [0, 1].
    """
    target = (1.0 - reputation_weight) * satisfaction + reputation_weight * reputation
    gap = target - trust
    rate = select(gap > 0.0, build_rate, break_rate)
    return clip(trust + rate * gap, 0.0, 1.0)


# ---------------------------------------------------------------------------
# Switching cost (转移成本)
# ---------------------------------------------------------------------------


def update_switching_cost(switching_cost, build_rate, floor, decay):
    """Switching cost accumulates with the relationship and decays toward a floor.

    ``C' = C + build (1 - C) - decay (C - floor)``: sunk relationship-specific
    investments, contracts, learning and personal ties build up at the firm's
    (strategy-driven, setting-scaled) ``build_rate``; without upkeep they fade
    toward the market's ``floor`` (search and set-up costs that every switch
    carries). Stays in [floor, 1] for rates in [0, 1].
    """
    return switching_cost + build_rate * (1.0 - switching_cost) - decay * (switching_cost - floor)


# ---------------------------------------------------------------------------
# Loyalty drive and defection
# ---------------------------------------------------------------------------


def loyalty_drive(value, satisfaction_util, trust, switching_cost, weights):
    """Stage-weighted loyalty drive ``L = w_V V + w_S u(S) + w_T T + w_C C``.

    ``weights`` has one row per customer (already looked up by stage) and the
    columns value, satisfaction, trust, switching cost. Seed 000: satisfaction
    weighs most in exploration, trust in formation, switching cost in
    stability and decline; value throughout. ``V`` is clipped to [0, 1].

    Returns:
        ``L``; in [0, 1] when each row of weights sums to at most 1.
    """
    return (
        column(weights, 0) * clip(value, 0.0, 1.0)
        + column(weights, 1) * satisfaction_util
        + column(weights, 2) * trust
        + column(weights, 3) * switching_cost
    )


def defection_probability(
    value_gain, switching_cost, trust, search_probability, hurdle, switching_cost_weight,
    trust_weight, temperature,
):
    """Chance that a customer leaves its firm for the best alternative it saw.

    ``p = search * sigma((gain - w_C C - w_T T - hurdle) / temperature)``, with
    ``gain = V_alt - V``, the value of the best visible alternative (a rival or
    leaving the market) minus the value delivered now. Switching cost and trust
    damp it; satisfaction does not appear: satisfied customers still defect
    when a rival is clearly better and switching is cheap (seed 003: 65-85% of
    defectors were satisfied). ``search`` is the chance the customer looked at
    alternatives at all this period (setting- and customer-specific).

    Returns:
        Defection probability in [0, search_probability]; never increases with
        switching cost or trust.
    """
    barrier = switching_cost_weight * switching_cost + trust_weight * trust + hurdle
    return search_probability * logistic((value_gain - barrier) / temperature)


# ---------------------------------------------------------------------------
# Money and word of mouth
# ---------------------------------------------------------------------------


def revenue(spend, price, wallet_share):
    """Revenue in one period: ``spend * price * wallet_share[stage]``.

    Deeper relationships buy a larger share of the customer's wallet (cross-
    and up-selling, seed 001). ``wallet_share`` is already looked up by stage.
    """
    return spend * price * wallet_share


def expected_referrals(advocates, referral_rate, reach):
    """Expected referred prospects from ``advocates`` satisfied, stable customers.

    ``referral_rate`` is per advocate per period at ``reach`` 1; seed 003's
    "100 satisfied customers bring 25 new ones" fixes its order of magnitude.
    ``reach`` is the setting's word-of-mouth amplification (wider online).
    """
    return advocates * referral_rate * reach


def word_of_mouth_factor(detractors, customers, strength):
    """Damping of a firm's acquisition by negative word of mouth.

    ``exp(-strength * detractors / max(customers, 1))`` where detractors are the
    firm's declining customers plus those who left it this period.
    """
    return np.exp(-strength * detractors / np.maximum(customers, 1))
