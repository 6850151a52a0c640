"""The relationship strategies (Storbacka; seed 001): clasp, zipper, Velcro.

A strategy is data plus a little behaviour: a dict of ``traits`` (defaults for
the firm parameters that MODEL.md section 4 distinguishes) and one ``decide``
method that sets the firm's levers for the coming period from what it saw in
the last one. The customer rules never ask which strategy a firm runs; they
read the traits. Adding a fourth strategy means adding one class to
:data:`STRATEGIES`.

| trait | meaning | clasp | zipper | Velcro |
| --- | --- | --- | --- | --- |
| ``adaptation`` | share of a customer's need misfit removed | low | medium (both adapt) | high |
| ``relational_benefit`` | value of the relationship itself once mature | low | high | medium |
| ``trust_build`` | multiplier on the market's trust build rate | slow | fast | medium |
| ``switching_cost_build`` | per-period build-up of switching cost | low | high | medium |
| ``serve_cost`` | cost to serve a customer per period | low | high | medium-high |
| ``experience_noise`` | spread of the experience across contact points | high | low | low |
| ``price`` | price relative to the reference price 1 | 0.95 | 1.10 | 1.05 |
| ``acquisition_cost`` | cost of a customer won by marketing or from a rival | 1.8 | 5.4 | 4.8 |
| ``referral_cost`` | referral reward per referred customer | 0.54 | 1.62 | 1.44 |

Prices: a standard process is cheap and priced low; relationship investment
and flexibility are priced in (Storbacka, seed 001: zipper and Velcro cost
more to run). Acquisition costs five times a year of keeping a customer
(seed 003: "winning a new customer costs 5x keeping one"; here keeping = the
cost to serve, 12 periods of ``serve_cost``); a referral costs the reward
only, 30% of that (referral programmes pay a fraction of the acquisition cost:
Schmitt, Skiera & Van den Bulte 2011).
"""

from dataclasses import dataclass
from typing import ClassVar

from .registry import check_name


@dataclass(frozen=True)
class Actions:
    """The levers a firm sets for one period.

    Attributes:
        acquisition_rate: share of the prospect pool its marketing reaches.
        relationship_effort: multiplier on trust and switching-cost build-up;
            the relationship part of the serve cost scales with it.
        adaptation: personalization fit offered this period, in [0, 1].
    """

    acquisition_rate: float
    relationship_effort: float
    adaptation: float


@dataclass(frozen=True)
class FirmObservation:
    """What a firm knows about itself at the start of a period (last period's ledger).

    Attributes:
        customers: customers at the end of the last period.
        lost: customers it lost in the last period (to rivals, out of the market or
            out of the category).
        mean_trust: mean trust of its customers (NaN without customers).
        mean_misfit: mean personalization misfit ``d * p`` of its customers (NaN
            without customers).
    """

    customers: int
    lost: int
    mean_trust: float
    mean_misfit: float


class Strategy:
    """Base class: a named set of trait defaults and a ``decide`` rule.

    Subclasses set ``name``, ``summary`` and ``traits`` and may override
    :meth:`decide`. The firm's configured parameters (the strategy's traits
    with the scenario's overrides) are passed to ``decide``.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    traits: ClassVar[dict[str, float]]

    def decide(self, params, observation: FirmObservation) -> Actions:
        """Baseline levers: the configured acquisition rate and adaptation, effort 1."""
        return Actions(params.acquisition_rate, 1.0, params.adaptation)


class Clasp(Strategy):
    """Clasp (扣钩): standard process, the customer adapts; cheap to serve.

    Contact points are few and not fully in step, so experiences vary. The
    relationship is mainly behavioural: the firm replaces lost customers by
    buying new ones, raising its acquisition rate in proportion to last
    period's loss rate (times ``responsiveness``).
    """

    name = "clasp"
    summary = "standard offer, customer adapts; low cost, slow trust, low switching cost"
    traits: ClassVar[dict[str, float]] = {
        "adaptation": 0.10,
        "relational_benefit": 0.02,
        "trust_build": 0.6,
        "switching_cost_build": 0.010,
        "serve_cost": 0.03,
        "price": 0.95,
        "acquisition_cost": 1.8,  # 5 x 12 x serve_cost
        "referral_cost": 0.54,  # 30% of acquisition_cost
        "experience_noise": 0.10,
        "responsiveness": 4.0,
    }

    def decide(self, params, observation):
        """Buy back churn: ``rate = min(1, base * (1 + responsiveness * lost / customers))``."""
        loss_rate = observation.lost / max(observation.customers, 1)
        rate = params.acquisition_rate * (1.0 + params.responsiveness * loss_rate)
        return Actions(min(rate, 1.0), 1.0, params.adaptation)


class Zipper(Strategy):
    """Zipper (拉链): frequent, in-step contacts; both parties adapt and invest.

    Builds trust and switching cost fastest and costs most. When its customers'
    mean trust falls short of a target, it invests more in the relationship:
    ``effort = 1 + responsiveness * max(0, 0.7 - mean_trust)``.
    """

    name = "zipper"
    summary = "mutual adaptation and investment; fast trust, high switching cost, high cost"
    traits: ClassVar[dict[str, float]] = {
        "adaptation": 0.40,
        "relational_benefit": 0.14,
        "trust_build": 1.6,
        "switching_cost_build": 0.018,
        "serve_cost": 0.09,
        "price": 1.1,
        "acquisition_cost": 5.4,  # 5 x 12 x serve_cost
        "referral_cost": 1.62,  # 30% of acquisition_cost
        "experience_noise": 0.04,
        "responsiveness": 1.0,
    }
    trust_target: ClassVar[float] = 0.7

    def decide(self, params, observation):
        """Invest in the relationship when trust lags the target."""
        if not observation.customers:  # no customers, no evidence: keep the configured levers
            return super().decide(params, observation)
        gap = max(0.0, self.trust_target - observation.mean_trust)
        effort = 1.0 + params.responsiveness * gap
        return Actions(params.acquisition_rate, effort, params.adaptation)


class Velcro(Strategy):
    """Velcro (维可牢): the firm adapts to each customer's own contact process.

    High personalization fit across segments, medium trust and switching cost,
    easy to attach and detach. The more its customers' needs differ from the
    standard offer, the further it stretches its adaptation:
    ``adaptation' = adaptation + responsiveness * mean_misfit * (1 - adaptation)``.
    """

    name = "velcro"
    summary = "firm adapts to each customer; high fit, medium trust and switching cost"
    traits: ClassVar[dict[str, float]] = {
        "adaptation": 0.70,
        "relational_benefit": 0.05,
        "trust_build": 1.0,
        "switching_cost_build": 0.015,
        "serve_cost": 0.08,
        "price": 1.05,
        "acquisition_cost": 4.8,  # 5 x 12 x serve_cost
        "referral_cost": 1.44,  # 30% of acquisition_cost
        "experience_noise": 0.05,
        "responsiveness": 0.5,
    }

    def decide(self, params, observation):
        """Stretch adaptation toward customers whose needs differ most."""
        if not observation.customers:  # no customers, no evidence: keep the configured levers
            return super().decide(params, observation)
        stretch = min(1.0, params.responsiveness * observation.mean_misfit)
        adaptation = params.adaptation + stretch * (1.0 - params.adaptation)
        return Actions(params.acquisition_rate, 1.0, adaptation)


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (Clasp, Zipper, Velcro)}
"""Registry of relationship strategies: name -> class."""


def get_strategy(name: str) -> Strategy:
    """Instantiate a registered strategy by name.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return STRATEGIES[check_name(STRATEGIES, name, "strategy")]()
