"""The customer rules: one documented scalar function per mechanism.

Every rule takes one customer's state (or whole arrays of customers) plus
named parameters and returns new values. None of them draws random numbers:
the model passes in the draws, so the rules are pure and can be tested by
properties. The model (:mod:`sim.model`) decides the order.

Each rule body is arithmetic plus the helpers defined first in this module
(:func:`select`, :func:`clip`, :func:`minimum`, :func:`maximum`, :func:`take`,
:func:`column`, :func:`exp`, :func:`log`, :func:`logistic`, :func:`power`,
:func:`gated_logistic`). The helpers give the same body three ways to run:

* **scalars, plain Python**: on Python numbers (``float``, ``int``, ``bool``;
  numpy's ``float64``, ``bool_`` and integer scalars count too) each helper is
  a ``math`` function or a conditional expression, so a per-agent model (a
  Mesa agent calling the rules with its own floats, as
  ``benchmarks/mesa_reference.py`` does) pays a Python call, not a numpy
  call, per helper, and gets Python numbers back;
* **arrays, numpy**: anything else (arrays, lists of customers, ``float32``
  scalars) goes to the numpy function the helper names (``np.where``,
  ``np.clip``, ``np.exp``...), whole arrays at once;
* **compiled, numba**: the engine's per-period kernel (:mod:`sim.kernel`)
  compiles the very rule functions with numba for one customer's scalars;
  there :mod:`sim.compiled` replaces the helpers by overloads (branch-free
  selects, ``min``/``max``, its own straight-line ``exp``), so the kernel
  never sees the Python bodies below.

The three agree to floating-point rounding (the scalar and numpy paths call
the same formulas; tests/unit/test_rules.py and test_compiled_rules.py check
it), not bit for bit: ``math`` and numpy may round a transcendental function
differently in the last place, and the compiled ``exp`` and ``logistic`` are
written differently again.

So keep rule bodies to arithmetic and these helpers: no direct ``np`` calls
(they are slow on scalars, and ``np.exp``/``np.power`` call libm in compiled
code, which stops the kernel's vector loops), no ``math`` calls (numba would
compile them, but arrays would fail), and no keyword-only parameters (numba
cannot bind those); callers still pass parameters by keyword.

Symbols: V perceived value, E value expectation, S satisfaction, T trust,
C switching cost, L loyalty drive. E, S, T and C live in [0, 1]; V is a value
on the same scale but unbounded (a bad offer can be worth less than nothing).
Source: seed 000 point 7 (the four determinants and their stage weights),
seed 003 (satisfaction is not loyalty), MODEL.md sections 2-3 and 6-7.
"""

import math

import numpy as np

_INTEGERS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
_SCALAR = frozenset((bool, int, float, np.bool_, np.float64, *_INTEGERS))
"""Exact types the helpers treat as one number (``type(x) in _SCALAR``: a set look-up).

Not ``float32``: ``math`` would return it as a double, where numpy keeps single
precision. Subclasses (``IntEnum`` members) take the numpy path: still correct.
"""
_INDEX = frozenset((int, *_INTEGERS))
"""Exact types :func:`take` looks up by plain indexing."""


def select(condition, if_true, otherwise):
    """``if_true if condition else otherwise``, elementwise.

    Scalars: the conditional expression (the chosen value itself); arrays:
    ``np.where``; compiled (:mod:`sim.compiled`): one branch-free ``select``
    instruction. The rules choose between two values with this instead of
    ``np.where`` so that the same body runs on all three paths.
    """
    if type(condition) in _SCALAR and type(if_true) in _SCALAR and type(otherwise) in _SCALAR:
        return if_true if condition else otherwise
    return np.where(condition, if_true, otherwise)


def clip(x, low, high):
    """``min(max(x, low), high)``: ``np.clip`` on arrays, ``min``/``max`` when compiled.

    On scalars, numpy's comparisons: a nan (``x`` or a bound) comes out as nan.
    """
    if type(x) in _SCALAR and type(low) in _SCALAR and type(high) in _SCALAR:
        x = x if x >= low or x != x else low
        return x if x <= high or x != x else high
    return np.clip(x, low, high)


def minimum(a, b):
    """The smaller of ``a`` and ``b``, nan if either is (``np.minimum``; also when compiled)."""
    if type(a) in _SCALAR and type(b) in _SCALAR:
        return a if a < b or a != a else b
    return np.minimum(a, b)


def maximum(a, b):
    """The larger of ``a`` and ``b``, nan if either is (``np.maximum``; also when compiled)."""
    if type(a) in _SCALAR and type(b) in _SCALAR:
        return a if a > b or a != a else b
    return np.maximum(a, b)


def take(table, index):
    """``table[index]``: per-stage tables looked up by stage code (``np.take`` on arrays).

    An integer ``index`` into a flat table of numbers (a list, a tuple, a
    float64 or integer array) is plain indexing; anything else is
    ``np.take``, which is fast with int8 codes. Compiled (:mod:`sim.compiled`)
    it is plain indexing, or a chain of selects for a table passed as a tuple.
    """
    if type(index) in _INDEX:
        item = table[index]
        if type(item) in _SCALAR:
            return item
    return np.take(table, index)


def column(weights, k):
    """Column ``k`` of a table of weights (last axis): ``np.asarray(weights)[..., k]``.

    One customer's row as a list or tuple of numbers: ``weights[k]``; so too
    compiled (:mod:`sim.compiled`), where the kernel passes a row as a tuple.
    """
    flat = (type(weights) is tuple or type(weights) is list) and weights
    if flat and type(weights[0]) in _SCALAR:
        return weights[k]
    return np.asarray(weights)[..., k]


def logistic(x):
    """The logistic ``1 / (1 + exp(-x))``, computed with tanh so it never overflows.

    Scalars: ``math.tanh``; arrays: ``np.tanh``; compiled (:mod:`sim.compiled`):
    ``1 / (1 + exp(-x))``, the same function.
    """
    if type(x) in _SCALAR:
        return 0.5 + 0.5 * math.tanh(0.5 * x)
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def exp(x):
    """``e ** x``: ``math.exp`` (inf past overflow, as numpy) or ``np.exp``.

    Compiled (:mod:`sim.compiled`), an exp the compiler can vectorize.
    """
    if type(x) in _SCALAR:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf
    return np.exp(x)


def log(x):
    """Natural logarithm: ``math.log``, or ``np.log`` (also when compiled).

    At 0 and below, scalars get numpy's answers (``-inf``, nan) and warnings.
    The rules take it of parameters only, outside the kernel's vector loops.
    """
    if type(x) in _SCALAR:
        try:
            return math.log(x)
        except ValueError:
            return float(np.log(float(x)))
    return np.log(x)


def power(x, a):
    """``x ** a``: ``math.pow`` or ``np.power``; compiled (:mod:`sim.compiled`), ``exp(a log x)``.

    Where ``math.pow`` raises (a negative base to a fractional power, zero to
    a negative one, overflow), scalars get numpy's answer (nan, inf) and warning.
    """
    if type(x) in _SCALAR and type(a) in _SCALAR:
        try:
            return math.pow(x, a)
        except (ValueError, OverflowError):
            return float(np.power(float(x), float(a)))
    return np.power(x, a)


def gated_logistic(condition, scale, x):
    """``scale * logistic(x)`` where ``condition`` holds, else 0.

    A chance that applies to some customers only. Compiled as it is.
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
    price_weight,
    relational_benefit,
    growth,
    involvement,
    shock,
):
    """Value a customer perceives from one firm's offer in one period.

    ``V = (1 - w_d) q + w_d q_d - w_p p d (1 - a) - w_s s (price - 1) + i b g + shock``

    * ``q`` core quality (product, delivery, service) and ``q_d`` digital quality
      (system performance, reliability, security, payment risk), mixed by the
      setting's ``digital_weight`` ``w_d`` (zero in traditional commerce);
    * a standard offer loses value for customers whose needs lie far from it:
      need distance ``d`` times personalization need ``p`` (scaled by the
      setting's ``personalization_weight`` ``w_p``), reduced by the firm's
      ``adaptation`` ``a`` (clasp low, zipper medium, Velcro high; Storbacka);
    * price above the reference price 1 costs value in proportion to price
      sensitivity ``s``, scaled by the setting's ``price_weight`` ``w_s``
      (online, prices are compared at a click: seed 000's cheaper, faster
      information; Brynjolfsson & Smith 2000);
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
    return core - misfit - price_weight * price_sensitivity * (price - 1.0) + relational + shock


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
    return maximum(rival_adaptation, imitation * current_adaptation)


def offer_fit(fit_spread, adaptation, taste):
    """This customer's idiosyncratic fit to one firm's offer: ``f = sigma_f (1 - a) z``.

    Beyond the distance of its needs from the standard offer, each customer
    likes each firm's offer more or less (taste ``z``, fixed for the pair,
    mean 0 and variance 1: ``z = sqrt(3) (2 u - 1)`` from one uniform ``u``).
    A firm that adapts to each customer (``adaptation`` ``a`` near 1: Velcro)
    removes most of that lottery; a standard offer (clasp) fits some customers
    very well and others poorly (MODEL.md 7a; Storbacka, seed 001).
    ``fit_spread`` ``sigma_f`` is the market's spread of tastes.
    """
    return fit_spread * (1.0 - adaptation) * taste


def taste(uniform):
    """A unit-variance, zero-mean taste from a uniform draw: ``sqrt(3) (2 u - 1)``."""
    return 1.7320508075688772 * (2.0 * uniform - 1.0)


# ---------------------------------------------------------------------------
# Expectation and satisfaction (客户满意)
# ---------------------------------------------------------------------------


def update_expectation(expectation, value, reference, adapt_up, adapt_down, anchor, drift):
    """Expectations adapt partly, and faster up than down, toward delivered value.

    ``E* = anchor V + (1 - anchor) E_ref``;
    ``E' = E + rate (E* - E) + drift``, ``rate = adapt_up`` when ``E* > E``,
    else ``adapt_down``; clipped to [0, 1].

    * ``anchor`` in [0, 1] is how far expectations follow a firm's own delivery;
      the rest stays with ``reference`` ``E_ref``, the customer's own
      expectation norm (what it expects of any supplier: customers differ in
      how demanding they are). With ``anchor`` 1
      expectations end up equal to delivered value and every customer ends up
      exactly "confirmed" (satisfaction then carries no information); below 1 a
      customer who gets more than the market norm stays pleased and one who gets
      less stays disappointed (Oliver 1980; Anderson 1973's assimilation-contrast).
    * ``adapt_up > adapt_down``: good experiences raise expectations quickly,
      disappointments lower them slowly (MODEL.md 7a; Kahneman & Tversky's loss
      aversion read as expectation stickiness).
    * ``drift``: upward creep per period (seed 000: online, information is cheap
      and expectations keep rising).
    """
    target = anchor * value + (1.0 - anchor) * reference
    gap = target - expectation
    rate = select(gap > 0.0, adapt_up, adapt_down)
    return clip(expectation + rate * gap + drift, 0.0, 1.0)


def satisfaction_target(value, expectation, at_confirmation, sensitivity):
    """Satisfaction implied by expectation-disconfirmation.

    ``f(V - E) = sigma(logit(s0) + k (V - E))``: a customer whose expectation is
    just confirmed is "satisfied" at level ``s0 = at_confirmation``; positive
    disconfirmation makes them very satisfied, negative dissatisfied; ``k`` is
    the ``sensitivity``. Monotone increasing in value. The convexity MODEL.md
    asks for ("totally satisfied is worth far more than merely satisfied") sits
    where satisfaction acts, in :func:`satisfaction_utility`.
    """
    logit = log(at_confirmation / (1.0 - at_confirmation))
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
    target = trust_target(satisfaction, reputation, reputation_weight)
    gap = target - trust
    rate = select(gap > 0.0, build_rate, break_rate)
    return clip(trust + rate * gap, 0.0, 1.0)


def trust_target(satisfaction, reputation, reputation_weight):
    """What trust moves toward (:func:`update_trust`): ``T* = (1 - rho) S + rho R``."""
    return (1.0 - reputation_weight) * satisfaction + reputation_weight * reputation


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
    value_gain,
    switching_cost,
    trust,
    search_probability,
    hurdle,
    switching_cost_weight,
    trust_weight,
    temperature,
):
    """Chance that a customer leaves its firm for the best alternative it saw.

    ``p = search * sigma((gain - w_C C - w_T T - hurdle) / temperature)``, with
    ``gain = V_alt - V``, the value of the best visible alternative (a rival or
    leaving the market) minus the value delivered now. Switching cost and trust
    damp it; satisfaction does not appear: satisfied customers still defect
    when a rival is clearly better and switching is cheap (seed 000 point 7: 65-85% of
    defectors were satisfied). ``search`` is the chance the customer looked at
    alternatives at all this period (setting- and customer-specific).

    Returns:
        Defection probability in [0, search_probability]; never increases with
        switching cost or trust.
    """
    barrier = switching_cost_weight * switching_cost + trust_weight * trust + hurdle
    return search_probability * logistic((value_gain - barrier) / temperature)


def win_back_from_rival(
    win_back_rate, switching_cost, trust, switching_cost_weight, trust_weight, temperature
):
    """Chance that a former customer now at a rival accepts a win-back offer and returns.

    ``p = r * 2 sigma(-(w_C C + w_T T) / tau)``, with ``C`` and ``T`` the
    switching cost and trust of its relationship with the rival. ``r`` is the
    policy's ``win_back_rate``, the chance that a contacted former customer
    with no firm returns: a customer at a rival must also leave that
    relationship, and the offer has to overcome what holds it there. The
    factor ``2 sigma(-b / tau)`` is how much :func:`defection_probability`
    lowers the chance of leaving a firm when the barrier ``b = w_C C + w_T T``
    stands in the way, relative to no barrier (1 at ``b = 0``, falling toward
    0 as ``b`` grows), with the market's defection weights and temperature:
    a former customer is as hard to win back from a rival as any customer is
    to lure away. The defection hurdle is left out: the value the offer must
    beat is already in ``r``. Source: MODEL.md 3 (defection is damped by C
    and T), seed 000 point 7 (switching cost is a buffer that keeps a
    relationship from sliding; online, where it is low, customers are won
    over more easily).

    Returns:
        Acceptance probability in [0, win_back_rate]; never increases with
        switching cost or trust.
    """
    barrier = switching_cost_weight * switching_cost + trust_weight * trust
    return win_back_rate * 2.0 * logistic(-barrier / temperature)


# ---------------------------------------------------------------------------
# Money and word of mouth
# ---------------------------------------------------------------------------


MAX_OCCASIONS = 24
"""Most purchase occasions one customer can have in one period (see :func:`occasions`)."""
MAX_PURCHASE_RATE = 8.0
"""Cap on a customer's purchase occasions per period (:class:`sim.population.Population`)."""


def occasion_rate(purchase_rate, depth):
    """Expected purchase occasions with the firm this period: ``lambda_i * depth[stage]``.

    ``purchase_rate`` ``lambda_i`` is the customer's own rate of buying in the
    category (gamma-distributed across customers, as in the NBD model of
    Ehrenberg 1959); ``depth`` (already looked up by stage) is the share of
    those occasions the firm gets, rising with the relationship's depth
    (cross- and up-selling, seed 001; MODEL.md 7a).
    """
    return purchase_rate * depth


OCCASIONS_HEAD = 8
"""Terms of :func:`occasions` the compiled kernel sums for every customer at once.

Enough for almost every customer-period (at the mean purchase rate more
occasions are rare); the kernel sums the rest (:func:`more_occasions`) only
for the few customers whose uniform lies beyond them.
"""


def occasions(uniform, rate):
    """Poisson number of purchase occasions with mean ``rate``, by inversion of one uniform.

    ``N = #{k >= 1 : u >= P(N <= k - 1)}``, over a fixed number of terms
    (:data:`MAX_OCCASIONS`; customers' rates are capped at
    :data:`MAX_PURCHASE_RATE`, where the chance of more is about 1e-6), so
    that the compiled kernel can compute it for several customers at once:
    the first :data:`OCCASIONS_HEAD` terms (:func:`first_occasions`) for every
    customer, the rest (:func:`more_occasions`) where ``u`` lies beyond them.
    Summed in one order, so both ways give the same number.
    """
    count, term, cdf = first_occasions(uniform, rate)
    return more_occasions(uniform, rate, count, term, cdf)


def first_occasions(uniform, rate):
    """:func:`occasions` over its first :data:`OCCASIONS_HEAD` terms: ``(count, term, cdf)``.

    ``count`` is the number of occasions if ``uniform < cdf``; otherwise
    :func:`more_occasions` goes on from ``term`` and ``cdf``.
    """
    term = exp(-rate)
    cdf = term
    count = 0.0 * rate
    for k in range(1, OCCASIONS_HEAD + 1):
        count = count + select(uniform >= cdf, 1.0, 0.0)
        term = term * rate * (1.0 / k)
        cdf = cdf + term
    return count, term, cdf


def more_occasions(uniform, rate, count, term, cdf):
    """:func:`occasions` from where :func:`first_occasions` stopped, up to :data:`MAX_OCCASIONS`."""
    for k in range(OCCASIONS_HEAD + 1, MAX_OCCASIONS + 1):
        count = count + select(uniform >= cdf, 1.0, 0.0)
        term = term * rate * (1.0 / k)
        cdf = cdf + term
    return count


def revenue(occasions, spend, price, wallet_share):
    """Revenue in one period: ``occasions * spend * price * wallet_share[stage]``.

    ``spend`` is the customer's spend per occasion at full share of wallet;
    deeper relationships get a larger share of each basket (``wallet_share``,
    already looked up by stage: cross- and up-selling, seed 001). With the
    expected number of occasions (:func:`occasion_rate`) it is the expected
    revenue.
    """
    return occasions * spend * price * wallet_share


def discount_given(list_sales, price_multiplier, allowance):
    """The discount a promoted customer gets this period: ``min((1 - m) R, A)``.

    ``R`` is its sales at list price, ``m`` the price multiplier of its
    promotions (``1 - discount``), ``A`` its allowance (the promotions'
    vouchers: the most discount one customer gets in a period, so that a
    promotion's spend stays within its budget). Revenue is booked at list
    price and the discount as the promotion's spend: counted once, as money
    the firm gives away (issue 22).
    """
    return minimum((1.0 - price_multiplier) * list_sales, allowance)


def margin(sales, margin_rate, serve_cost):
    """Contribution of one customer in one period: ``margin * sales - serve_cost``.

    Gross margin on sales less the firm's cost to serve the relationship
    (Storbacka: clasp low, zipper high, seed 001).
    """
    return margin_rate * sales - serve_cost


def expected_referrals(advocates, prospect_share, referral_rate, reach):
    """Expected referred prospects won by ``advocates`` satisfied, stable customers.

    ``R = A * referral_rate * reach * P / N``: each advocate recommends the
    firm to ``referral_rate * reach`` people a period, of whom the share
    ``prospect_share`` ``P / N`` are still in the market for a supplier (Bass
    1969's imitation term: word of mouth converts only the remaining
    potential, so referrals cannot drain an empty pool). ``reach`` is the
    setting's word-of-mouth amplification (wider online). Seed 003's "100
    satisfied customers bring 25 new ones" fixes the order of magnitude of
    ``referral_rate`` (see docs/model.md).
    """
    return advocates * referral_rate * reach * prospect_share


def referral_value(referrals, acquisition_cost, referral_cost):
    """Value of realized referrals to the firm that won them: the acquisition cost saved.

    ``b = n_ref (c_acq - c_ref)``: each referred customer would otherwise have
    cost the full ``acquisition_cost``; the firm paid only the referral reward
    ``referral_cost``. Credited once, to the referred customer's new firm (the
    advocates' firm), in the period of the referral (MODEL.md 6: non-sales
    benefit b of CLV; Kumar, Petersen & Leone 2007 value referrals the same way).
    In the ledger, referred customers are charged at the full acquisition cost,
    so that margin + referral value - acquisition cost is the cash the firm made.
    """
    return referrals * (acquisition_cost - referral_cost)


def search_chance(search_probability, churn_propensity):
    """Chance that a customer looks at alternatives this period: ``min(1, p_search * c_i)``."""
    return clip(search_probability * churn_propensity, 0.0, 1.0)


def switching_cost_build(firm_build, involvement, bonus):
    """Per-period switching-cost build-up of one relationship, at most 1.

    ``b = min(1, b_firm * i + bonus)``: the firm's (strategy-driven,
    setting-scaled) build-up counts as much as the customer's involvement
    ``i`` (asset specificity matters for goods one cares about), plus what a
    loyalty programme adds (``bonus``).
    """
    return clip(firm_build * involvement + bonus, 0.0, 1.0)


def initial_trust(initial_trust, reputation, reputation_weight):
    """Trust at the start of a relationship: ``(1 - rho) T_0 + rho R`` (reputation ``R``)."""
    return (1.0 - reputation_weight) * initial_trust + reputation_weight * reputation


def goes_to_rival(best_value, switching_cost, switching_cost_weight, outside_value):
    """Whether a customer leaving a declining relationship goes to the rival it saw.

    It does when the rival's value beats leaving the market (``outside_value``)
    by more than the cost of switching to it, ``w_C C``; else it leaves the
    market.
    """
    return best_value - switching_cost_weight * switching_cost > outside_value


def word_of_mouth_factor(detractors, customers, strength):
    """Damping of a firm's acquisition by negative word of mouth.

    ``exp(-strength * detractors / max(customers, 1))`` where detractors are the
    firm's declining customers plus those who left it by choice this period
    (a customer who leaves the category for life reasons says nothing of the firm).
    """
    return exp(-strength * detractors / maximum(customers, 1))


# ---------------------------------------------------------------------------
# The starting state: a market that has been running (simulation.start "settled")
# ---------------------------------------------------------------------------
# Used once, on whole arrays, by sim.population.Population.settle; the kernel
# does not compile them.


def waiting_time(uniform, chance):
    """Periods that pass before an event of per-period ``chance`` happens, from one uniform.

    ``k = floor(log(1 - u) / log(1 - chance))`` (inversion): geometric on
    0, 1, 2, ..., ``P(k) = chance (1 - chance) ** k``, mean
    ``(1 - chance) / chance``. At ``chance`` 1 it is 0; at 0 the event never
    happens (infinity).
    """
    chance = np.asarray(chance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        periods = np.floor(np.log1p(-np.asarray(uniform)) / np.log1p(-chance))
    return select(chance > 0.0, np.maximum(periods, 0.0), np.inf)


def approach(start, target, rate, periods):
    """Where ``x' = x + rate (target - x)`` stands after ``periods`` steps from ``start``.

    ``x_t = target + (start - target) (1 - rate) ** t``: the closed form of a
    partial adjustment toward a fixed target (``periods`` whole numbers).
    """
    return target + (start - target) * np.power(1.0 - rate, periods)


def switching_cost_after(periods, build_rate, floor, decay):
    """Switching cost of a relationship ``periods`` periods old, built up from the floor.

    :func:`update_switching_cost` applied ``periods`` times from ``C = floor``.
    ``C' = C + b (1 - C) - decay (C - floor)`` is a partial adjustment at rate
    ``b + decay`` toward ``C* = (b + decay floor) / (b + decay)``, so
    ``C_t = approach(floor, C*, b + decay, t)`` (:func:`approach`). Without
    build-up and decay it stays at the floor.
    """
    rate = build_rate + decay
    settled = (build_rate + decay * floor) / select(rate > 0.0, rate, 1.0)
    return select(rate > 0.0, approach(floor, settled, rate, periods), floor)


def trust_after(
    periods, trust, satisfaction, reputation, build_rate, break_rate, reputation_weight
):
    """Trust after ``periods`` periods of :func:`update_trust` at constant satisfaction, reputation.

    Trust moves toward ``T* =`` :func:`trust_target` at ``build_rate`` when
    below it and ``break_rate`` when above, never past it: after ``t``
    periods it is ``approach(trust, T*, rate, t)`` (:func:`approach`).
    """
    target = trust_target(satisfaction, reputation, reputation_weight)
    rate = select(target > trust, build_rate, break_rate)
    return approach(trust, target, rate, periods)


def steady_prospect_share(customer_share, acquisition_chance, reentry_rate, category_exit_rate):
    """Share of the population who are prospects when the flows through the pools balance.

    With a share ``s`` of the population in a relationship, ``a`` the chance a
    prospect is acquired in a period, ``r`` the re-entry rate of customers out
    of the market and ``e`` the category exit rate (every row leaves at ``e``
    and is replaced by a new prospect), the prospect pool ``p`` is in balance
    when what enters it, re-entries ``r o`` of the out-of-market share
    ``o = 1 - s - p`` plus arrivals ``e``, equals what leaves it,
    ``(a + e) p``:

    ``p = (r (1 - s) + e) / (r + e + a)``, at most ``1 - s``.

    The out-of-market share ``o`` is then balanced too: the relationships that
    end outside the category's life exits, ``a p - e s``, make up for its
    re-entries and life exits, ``(r + e) o``. Where nothing flows at all
    (``r + e + a = 0``) every split is in balance; all are prospects.
    """
    flows = reentry_rate + category_exit_rate + acquisition_chance
    balanced = (reentry_rate * (1.0 - customer_share) + category_exit_rate) / select(
        flows > 0.0, flows, 1.0
    )
    return select(flows > 0.0, np.minimum(balanced, 1.0 - customer_share), 1.0 - customer_share)
