"""Plausibility bounds of every calibratable parameter, and the checks that use them.

A calibration searches the bounds its scenario's ``calibrate`` block gives;
those are the user's. The table here says, separately, which values make
sense for the thing a parameter stands for, with a one-line reason or
source. ``run.py calibrate`` says in one line when a block's search bounds
reach beyond them, and reports a fitted value that ends on a plausible bound
(within :data:`EDGE` of the plausible range) or outside it, in the printed
table, ``calibration.md`` and the comments of ``calibrated.yaml``: a fit
that needs an implausible value is a finding, never a silent result.

Units. The model's period is a month (its defaults, presets and
:mod:`sim.strategies` are per month), so every per-period chance, rate or
duration below is per month. A scenario that lets one model period stand
for a year is judged by these monthly ranges too, which its yearly rates
may exceed; ``calibrate.periods_per_target: 12`` keeps the model in months
(``scenarios/calibrate_example.yaml`` does, for the yearly sBG cohorts).

Paths are the calibrate block's dotted paths; ``*`` in a pattern stands for
one path element (a firm's or segment's index, a stage's name). Every
continuous number of the model (what a calibrate block may fit) has an entry;
``tests/experiments/test_calibrate.py`` checks that, and that each shipped
default lies within its range.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Plausible:
    """The plausible range of one parameter and why."""

    low: float
    high: float
    reason: str

    def text(self) -> str:
        """``[low, high]`` as the tables print it."""
        return f"[{self.low:g}, {self.high:g}]"


_WEIGHT = Plausible(
    0.0,
    0.6,
    "one determinant's weight in a stage's loyalty drive; the four "
    "sum to at most 1 and none decides alone (presets 0.05-0.50, seed 000)",
)
_MARK = "a loyalty-drive mark on the 0-1 scale; near either end every or no relationship moves"

PLAUSIBLE: dict[str, Plausible] = {
    # market: the commerce setting (presets in sim/settings.py)
    "market.initial_expectation": Plausible(
        0.3, 0.8, "a new customer's expected value on the 0-1 scale (presets 0.50 / 0.52)"
    ),
    "market.expectation_adapt_rate": Plausible(
        0.01, 0.3, "expectations adapt over months, not at once (presets 0.05 / 0.10; Oliver 1980)"
    ),
    "market.expectation_adapt_down_rate": Plausible(
        0.0, 0.3, "expectations fall more slowly than they rise (presets 0.02 / 0.04)"
    ),
    "market.expectation_anchor": Plausible(
        0.2, 0.9, "expectations follow the firm's own delivery part of the way (presets 0.5 / 0.5)"
    ),
    "market.expectation_drift": Plausible(
        0.0,
        0.01,
        "expectations rise at most about a tenth of the scale a decade (presets 0 / 0.001)",
    ),
    "market.digital_weight": Plausible(
        0.0, 0.6, "digital quality's share of value: none offline, about 0.3 online (seed 000)"
    ),
    "market.personalization_weight": Plausible(
        0.5, 3.0, "multiplier on personalization need (presets 1 / 1.5)"
    ),
    "market.imitation": Plausible(
        0.0,
        0.9,
        "rivals copy part of a firm's personalization, never all of it (presets 0.2 / 0.4)",
    ),
    "market.price_weight": Plausible(
        0.5,
        3.0,
        "multiplier on price sensitivity: prices are compared more online (presets 1 / 1.3)",
    ),
    "market.fit_spread": Plausible(
        0.02, 0.4, "spread of idiosyncratic taste on the 0-1 value scale (preset 0.20)"
    ),
    "market.reputation_weight": Plausible(
        0.0, 0.6, "reputation's share of the trust target (presets 0.15 / 0.35)"
    ),
    "market.switching_cost_floor": Plausible(
        0.0, 0.3, "switching cost of a fresh relationship (presets 0.10 / 0.03)"
    ),
    "market.switching_cost_scale": Plausible(
        0.1, 2.0, "multiplier on switching-cost build-up (presets 1.0 / 0.3)"
    ),
    "market.switching_cost_decay": Plausible(
        0.0, 0.2, "monthly decay of switching cost toward the floor (presets 0.02 / 0.04)"
    ),
    "market.repair_window": Plausible(
        1.0, 24.0, "months to repair a declining relationship (presets 6 / 3)"
    ),
    "market.search_probability": Plausible(
        0.02,
        0.4,
        "monthly chance of comparing offers (presets 0.10 / 0.11); above 0.4 "
        "nearly everyone shops around every quarter",
    ),
    "market.rival_visibility": Plausible(
        0.2,
        1.0,
        "chance a searching customer sees a given rival; below 0.2 a search "
        "finds almost nothing (presets 0.5 / 0.5)",
    ),
    "market.outside_value": Plausible(
        0.0,
        0.6,
        "value of leaving the category on the offer's scale (preset 0.30); at the "
        "offers' own value (about 0.6) nobody would stay",
    ),
    "market.word_of_mouth_reach": Plausible(
        0.2,
        15.0,
        "multiplier on the people each advocate reaches: reviews and social media "
        "carry a recommendation to many more online (presets 1 / 10; seed 000)",
    ),
    "market.negative_word_of_mouth": Plausible(
        0.2, 5.0, "strength of detractors' damping of acquisition (presets 1 / 2)"
    ),
    "market.reentry_rate": Plausible(
        0.0, 0.1, "monthly return of out-of-market customers (presets 0.02 / 0.06)"
    ),
    "market.category_exit_rate": Plausible(
        0.0005,
        0.02,
        "monthly exits from the category for life reasons: about 0.6% to 20% "
        "a year (preset 0.003, about 3.5% a year: moves and life changes that end "
        "the need for the category)",
    ),
    "market.stage_weights.*.*": _WEIGHT,
    # customers: segments and the spread of traits
    "customers.segments.*.share": Plausible(
        0.02,
        0.9,
        "a segment worth modelling holds at least 2% of the market and leaves room for another",
    ),
    "customers.segments.*.need_distance": Plausible(
        0.0, 0.8, "distance of needs from the standard offer (defaults 0.2-0.6)"
    ),
    "customers.segments.*.personalization_need": Plausible(
        0.0, 1.0, "how much misfit hurts: the whole 0-1 scale (defaults 0.2-0.8)"
    ),
    "customers.segments.*.price_sensitivity": Plausible(
        0.1, 2.5, "response to price (defaults 0.3-1.2); nobody ignores price entirely"
    ),
    "customers.segments.*.spend": Plausible(
        0.1,
        10.0,
        "spend per purchase occasion relative to the market's typical customer, 1 "
        "(defaults 0.7-1.4)",
    ),
    "customers.expectation_spread": Plausible(
        0.0, 0.3, "spread of customers' expectation norms on the 0-1 value scale (default 0.17)"
    ),
    "customers.segments.*.churn_propensity": Plausible(
        0.2, 3.0, "multiplier on the search probability (defaults 0.8-1.8)"
    ),
    "customers.segments.*.involvement": Plausible(
        0.1, 1.0, "how much relational benefits count (defaults 0.5-1)"
    ),
    "customers.segments.*.purchase_rate": Plausible(
        0.08, 4.0, "purchase occasions a month: from about once a year to weekly"
    ),
    "customers.trait_spread": Plausible(
        0.02, 0.4, "spread of need distance and personalization need (default 0.15)"
    ),
    "customers.spend_dispersion": Plausible(
        0.3,
        1.5,
        "lognormal sigma of spend: skewed customer value, the top fifth "
        "spending half or more (default 0.9)",
    ),
    "customers.churn_dispersion": Plausible(
        0.3,
        20.0,
        "gamma shape of churn propensity; sBG fits give beta shapes of about "
        "0.5-5 (Fader & Hardie 2007); above 20 customers are alike (default 3)",
    ),
    "customers.purchase_rate_dispersion": Plausible(
        0.2,
        20.0,
        "gamma shape of purchase rates; NBD fits give about 0.2-5 (Ehrenberg "
        "1988); above 20 customers are alike (default 2)",
    ),
    # relationship dynamics
    "relationship.satisfaction_at_confirmation": Plausible(
        0.5,
        0.85,
        "satisfaction when expectations are just met: above the middle, below "
        "delight (default 0.72)",
    ),
    "relationship.satisfaction_sensitivity": Plausible(
        1.0, 20.0, "response of satisfaction to disconfirmation (default 6)"
    ),
    "relationship.satisfaction_rate": Plausible(
        0.05,
        0.8,
        "monthly update of cumulative satisfaction (default 0.35; Anderson, "
        "Fornell & Lehmann 1994)",
    ),
    "relationship.satisfaction_convexity": Plausible(
        1.0,
        5.0,
        "losses weigh more than gains, about 2-2.5x (default 2.5; Anderson & Sullivan 1993)",
    ),
    "relationship.initial_trust": Plausible(
        0.1, 0.6, "trust at the start: some, well short of full (default 0.3)"
    ),
    "relationship.trust_build_rate": Plausible(
        0.005, 0.2, "monthly trust build-up: trust takes months to years (default 0.04)"
    ),
    "relationship.reputation_smoothing": Plausible(
        0.02, 0.6, "monthly update of reputation (default 0.2)"
    ),
    "relationship.trust_break_rate": Plausible(
        0.02, 0.6, "monthly loss of trust on a bad experience: faster than it builds (default 0.15)"
    ),
    "relationship.advance_threshold_exploration": Plausible(0.3, 0.8, f"{_MARK} (default 0.50)"),
    "relationship.advance_threshold_formation": Plausible(0.3, 0.85, f"{_MARK} (default 0.58)"),
    "relationship.decline_threshold": Plausible(0.2, 0.6, f"{_MARK} (default 0.40)"),
    "relationship.recovery_threshold": Plausible(0.2, 0.7, f"{_MARK} (default 0.45)"),
    "relationship.steepness": Plausible(
        2.0, 50.0, "steepness of the stage-transition curves (default 14); beyond 50 they are steps"
    ),
    "relationship.advance_rate": Plausible(
        0.05, 0.8, "monthly chance to advance a stage once ready (default 0.30)"
    ),
    "relationship.decline_rate": Plausible(
        0.01, 0.4, "monthly chance to start declining once below the mark (default 0.13)"
    ),
    "relationship.recovery_rate": Plausible(
        0.02, 0.5, "monthly chance to recover from decline (default 0.25)"
    ),
    "relationship.exit_rate": Plausible(
        0.01,
        0.4,
        "monthly exit from decline: a declining relationship ends within months, "
        "not at once (default 0.18)",
    ),
    "relationship.switching_cost_buffer": Plausible(
        0.2, 1.0, "how much switching cost shields a declining relationship (default 0.8)"
    ),
    "relationship.overdue_exit_multiplier": Plausible(
        1.0, 6.0, "exits speed up after the repair window (default 3)"
    ),
    "relationship.defection_hurdle": Plausible(
        0.0,
        0.2,
        "a hurdle is a cost of switching (time, effort, risk): >= 0; above 0.2 "
        "of the value scale hardly anyone switches to a better offer (default 0.02)",
    ),
    "relationship.defection_switching_cost_weight": Plausible(
        0.1, 2.0, "weight of switching cost in the defection test (default 0.5)"
    ),
    "relationship.defection_trust_weight": Plausible(
        0.0, 1.0, "weight of trust in the defection test (default 0.1)"
    ),
    "relationship.defection_temperature": Plausible(
        0.01, 0.3, "noise of the defection choice on the value scale (default 0.05)"
    ),
    "relationship.wallet_share.*": Plausible(
        0.1, 1.0, "share of category spend given to the firm, by stage (defaults 0.35-0.90)"
    ),
    "relationship.purchase_depth.*": Plausible(
        0.2, 2.0, "multiplier on the purchase rate by stage (defaults 0.6-1.0)"
    ),
    "relationship.referral_rate": Plausible(
        0.0,
        0.5,
        "people an advocate recommends the firm to a month, of whom only prospects "
        "can be won (default 0.08: with a prospect share near 0.15, about one "
        "referral per advocate every seven years offline; Kumar, Petersen & Leone 2007)",
    ),
    # firms: strategy traits (sim/strategies.py) and firm parameters
    "firms.*.adaptation": Plausible(
        0.0,
        1.0,
        "share of a customer's misfit the firm adapts away: the whole scale (traits 0.1-0.7)",
    ),
    "firms.*.relational_benefit": Plausible(
        0.0, 0.3, "value added by the relationship (traits 0.02-0.14)"
    ),
    "firms.*.trust_build": Plausible(0.2, 3.0, "multiplier on trust build-up (traits 0.6-1.6)"),
    "firms.*.switching_cost_build": Plausible(
        0.0, 0.15, "monthly switching-cost build-up (traits 0.010-0.018)"
    ),
    "firms.*.serve_cost": Plausible(
        0.01, 0.5, "monthly cost to serve a customer, relative to spend 1 (traits 0.03-0.09)"
    ),
    "firms.*.experience_noise": Plausible(
        0.01, 0.3, "spread of experience across contact points (traits 0.04-0.10)"
    ),
    "firms.*.responsiveness": Plausible(
        0.1, 10.0, "speed of the firm's response to complaints (traits 0.5-4)"
    ),
    "firms.*.relational_tau": Plausible(
        3.0, 60.0, "months for relational benefits to build: a quarter to five years (default 12)"
    ),
    "firms.*.quality": Plausible(
        0.3,
        0.9,
        "delivered quality on the 0-1 scale: a firm still in the market is at "
        "least middling and none is perfect (default 0.6)",
    ),
    "firms.*.digital_quality": Plausible(
        0.3, 0.9, "digital quality on the 0-1 scale, as quality (default 0.6)"
    ),
    "firms.*.price": Plausible(0.5, 2.0, "price relative to the market's reference price 1"),
    "firms.*.margin": Plausible(
        0.1, 0.8, "gross margin on revenue, grocery retail to software (default 0.4)"
    ),
    "firms.*.acquisition_rate": Plausible(
        0.001, 0.1, "monthly share of prospects a firm's marketing reaches (default 0.01)"
    ),
    "firms.*.acquisition_cost": Plausible(
        0.0,
        20.0,
        "cost of a new customer, up to about 20 months of a typical spend "
        "(seed 003: about 5x a year's cost of keeping one)",
    ),
    "firms.*.referral_cost": Plausible(
        0.0,
        10.0,
        "reward per referred customer, a fraction of acquisition cost (Schmitt, "
        "Skiera & Van den Bulte 2011)",
    ),
    "firms.*.churn_factor": Plausible(
        0.1, 2.0, "retention lever on search and exit from decline (default 1: none)"
    ),
    "firms.*.policies.*.budget": Plausible(
        0.0, math.inf, "a spend cap per period: any amount, its scale follows the market's size"
    ),
}
"""Parameter path pattern -> its plausible range (per month) and the reason."""

EDGE = 0.01
"""A value within this share of the range from a bound counts as on the bound."""


def _matches(pattern: str, path: str) -> bool:
    wanted, parts = pattern.split("."), path.split(".")
    return len(wanted) == len(parts) and all(
        w in ("*", p) for w, p in zip(wanted, parts, strict=True)
    )


def plausible(path: str) -> Plausible | None:
    """The plausible range of a dotted path (exact entries before patterns), or None."""
    if path in PLAUSIBLE:
        return PLAUSIBLE[path]
    return next((entry for pattern, entry in PLAUSIBLE.items() if _matches(pattern, path)), None)


def _edge(low: float, high: float) -> float:
    width = high - low
    return EDGE * width if math.isfinite(width) else 0.0


def judge(path: str, value: float, search: tuple[float, float]) -> list[str]:
    """What is wrong with a fitted value: outside or on its plausible range, on a search bound.

    Returns:
        Short phrases (empty if nothing): ``"outside plausible [0, 0.2]"``,
        ``"on plausible bound 0"``, ``"on search bound 1"`` (the best fit may
        lie beyond it), ``"no plausible range documented"``.
    """
    flags = []
    entry = plausible(path)
    if entry is None:
        flags.append("no plausible range documented")
    elif value < entry.low or value > entry.high:
        flags.append(f"outside plausible {entry.text()}")
    else:
        margin = _edge(entry.low, entry.high)
        for bound in (entry.low, entry.high):
            if abs(value - bound) <= margin:
                flags.append(f"on plausible bound {bound:g}")
                break
    low, high = search
    margin = _edge(low, high)
    for bound in (low, high):
        if abs(value - bound) <= margin:
            flags.append(f"on search bound {bound:g}")
            break
    return flags


def search_note(path: str, search: tuple[float, float]) -> str | None:
    """One line when a block's search bounds reach beyond the plausible range, else None."""
    entry = plausible(path)
    low, high = search
    if entry is None:
        return (
            f"{path}: no plausible range is documented (experiments/bounds.py); the fit is "
            f"judged by the search bounds only"
        )
    if low >= entry.low and high <= entry.high:
        return None
    return (
        f"{path}: search bounds [{low:g}, {high:g}] reach beyond the plausible "
        f"{entry.text()} ({entry.reason})"
    )
