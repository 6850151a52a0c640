"""Retention policies: stage-based tactics with a cost per contact and a budget.

Seed 000 (point 4) says each lifecycle stage needs its own retention tactics;
seeds 000 and 003 add that switching costs can be raised by design, that a
declining relationship needs time and effort to repair, that keeping a
customer is far cheaper than winning one, and that most profit comes from a
few customers. Each policy here is a registry entry (same shape as
:mod:`sim.strategies`): a name, a summary, the stages it targets by default,
parameters with defaults and ranges, and two small methods:

* :meth:`Policy.eligible` -- which customers it may touch this period;
* :meth:`Policy.apply` -- what it does to the customers it touched, written
  into the period's :class:`Effects` (never into the rules).

The model touches at most ``floor(budget / cost_per_contact)`` eligible
customers per period (chosen at random, or by value for value targeting);
when the budget runs out the policy stops for that period and the ledger says
so. Policy draws come from their own random stream, so a scenario with and
without a policy shares the rest of its random numbers (common random numbers)
and a zero budget is exactly the same run as no policy.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import rules
from .registry import check_name
from .stages import EXITED, NO_FIRM, PROSPECT, Stage


@dataclass(frozen=True)
class Parameter:
    """A policy parameter: default, allowed range and meaning.

    A ``switch`` is on (1) or off (0): a scenario writes it ``true``/``false``
    or ``1``/``0``, and nothing in between.
    """

    default: float
    low: float
    high: float
    description: str
    switch: bool = False


def switch(on: bool, description: str) -> Parameter:
    """An on/off policy parameter, on by default if ``on``."""
    return Parameter(float(on), 0.0, 1.0, description, switch=True)


@dataclass
class Effects:
    """Per-customer modifiers that the period's policies write and the rules read.

    Attributes:
        value_bonus: added to perceived value this period.
        switching_cost_bonus: added to the switching-cost build-up rate.
        recovery_bonus: added to the chance of recovering from decline.
        wallet_multiplier: multiplies the share of wallet (cross-/up-selling).
        price_multiplier: multiplies the price paid (promotions).
        expectation_push: added to the expectation after it adapts.
        cost: policy spending on each customer this period.
        allowance: the most discount a promoted customer gets this period
            (:func:`sim.rules.discount_given`); the discount given is spend too.
    """

    value_bonus: np.ndarray
    switching_cost_bonus: np.ndarray
    recovery_bonus: np.ndarray
    wallet_multiplier: np.ndarray
    price_multiplier: np.ndarray
    expectation_push: np.ndarray
    cost: np.ndarray
    allowance: np.ndarray

    @classmethod
    def none(cls, n: int) -> "Effects":
        """Effects that change nothing, for ``n`` customers."""
        zeros = [np.zeros(n, dtype=np.float32) for _ in range(6)]
        ones = [np.ones(n, dtype=np.float32) for _ in range(2)]
        value, switching, recovery, expectation, cost, allowance = zeros
        wallet, price = ones
        return cls(value, switching, recovery, wallet, price, expectation, cost, allowance)


COST_PER_CONTACT = Parameter(0.05, 0.0, 100.0, "cost of touching one customer for one period")


class Policy(ABC):
    """Base class: a named retention tactic with parameters, a target and an effect."""

    name: ClassVar[str]
    summary: ClassVar[str]
    stages: ClassVar[tuple[Stage, ...]]
    parameters: ClassVar[dict[str, Parameter]]
    ranked: ClassVar[bool] = False
    """True when the budget goes to the most valuable eligible customers first."""
    committed: ClassVar[tuple[str, ...]] = ("cost_per_contact",)
    """Parameters whose sum is the most one contact can cost in a period (the budget's unit)."""
    allowance_parameter: ClassVar[str | None] = None
    """The parameter that is each contact's discount allowance, if the policy gives discounts."""

    def eligible(
        self, population, firm: int, stages, period: int, params, segment: int | None = None
    ) -> np.ndarray:
        """Customers of ``firm`` in one of ``stages`` and, if given, in ``segment``."""
        mask = (population.firm == firm) & np.isin(population.stage, stages)
        return mask if segment is None else mask & (population.segment == segment)

    @abstractmethod
    def apply(self, effects: Effects, touched: np.ndarray, population, params) -> None:
        """Write this policy's effect on the ``touched`` customers into ``effects``."""

    @staticmethod
    def priority(population, candidates: np.ndarray) -> np.ndarray:
        """Ranking score for budget allocation when ``ranked`` (higher goes first): spend."""
        return population.spend[candidates]


class Onboarding(Policy):
    """Welcome and guide new customers through exploration (satisfaction matters most there)."""

    name = "onboarding"
    summary = "exploration: guided start raises perceived value and early satisfaction"
    stages = (Stage.EXPLORATION,)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": COST_PER_CONTACT,
        "value_lift": Parameter(0.06, 0.0, 1.0, "added to perceived value while onboarded"),
    }

    def apply(self, effects, touched, population, params):
        """``V += value_lift`` for onboarded customers."""
        effects.value_bonus[touched] += params["value_lift"]


class LoyaltyProgramme(Policy):
    """Membership with points and status: relational benefit and a designed switching cost."""

    name = "loyalty_programme"
    summary = "formation/stability: members build switching cost faster and get a benefit"
    stages = (Stage.FORMATION, Stage.STABILITY)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.04, 0.0, 100.0, "cost per member per period"),
        "switching_cost_lift": Parameter(0.03, 0.0, 1.0, "added to the switching-cost build-up"),
        "value_lift": Parameter(0.02, 0.0, 1.0, "relational benefit of membership"),
    }

    def apply(self, effects, touched, population, params):
        """Members: ``build += switching_cost_lift``, ``V += value_lift``."""
        effects.switching_cost_bonus[touched] += params["switching_cost_lift"]
        effects.value_bonus[touched] += params["value_lift"]


class ServiceRecovery(Policy):
    """Reach out to declining customers and fix what went wrong."""

    name = "service_recovery"
    summary = "decline: contact raises the chance the relationship recovers"
    stages = (Stage.DECLINE,)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.10, 0.0, 100.0, "cost per declining customer contacted"),
        "recovery_boost": Parameter(0.15, 0.0, 1.0, "added to the recovery probability"),
        "value_lift": Parameter(0.03, 0.0, 1.0, "value of the repair itself"),
    }

    def apply(self, effects, touched, population, params):
        """Contacted decliners: ``p_recover += recovery_boost``, ``V += value_lift``."""
        effects.recovery_bonus[touched] += params["recovery_boost"]
        effects.value_bonus[touched] += params["value_lift"]


class CrossSell(Policy):
    """Cross- and up-sell to stable customers; pushed too hard, it annoys them."""

    name = "cross_sell"
    summary = "stability: larger share of wallet, at some cost to perceived value"
    stages = (Stage.STABILITY,)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.03, 0.0, 100.0, "cost per customer approached"),
        "spend_lift": Parameter(0.15, 0.0, 5.0, "relative increase of share of wallet"),
        "pushiness": Parameter(0.02, 0.0, 1.0, "perceived value lost by being sold to"),
    }

    def apply(self, effects, touched, population, params):
        """``wallet *= 1 + spend_lift``; ``V -= pushiness``."""
        effects.wallet_multiplier[touched] *= 1.0 + params["spend_lift"]
        effects.value_bonus[touched] -= params["pushiness"]


class WinBack(Policy):
    """Win back customers who left this firm recently (within ``window`` periods).

    Whom it reaches is data, two switches: ``from_market``, former customers
    with no firm (out of the market; in the stages configured, exited by
    default), and ``from_rivals``, former customers now active at a rival
    (in whatever stage they are there). A contacted customer with no firm
    returns with chance ``win_back_rate``; one at a rival with the smaller
    chance of :func:`sim.rules.win_back_from_rival`, and its relationship
    with the rival ends as a defection to a rival (the model books it).
    """

    name = "win_back"
    summary = "exited (or at a rival): an offer brings some recent former customers back"
    stages = (Stage.EXITED,)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.20, 0.0, 100.0, "cost per former customer contacted"),
        "win_back_rate": Parameter(
            0.10, 0.0, 1.0, "chance a contacted former customer with no firm returns"
        ),
        "window": Parameter(12.0, 1.0, 1000.0, "periods after leaving that a customer is targeted"),
        "from_market": switch(True, "reach former customers who left the market (no firm)"),
        "from_rivals": switch(
            False, "reach former customers now at a rival (sim.rules.win_back_from_rival)"
        ),
    }

    def eligible(self, population, firm, stages, period, params, segment=None):
        """Former customers whose last relationship was with this firm and ended recently.

        With ``from_market``, those with no firm in one of ``stages``; with
        ``from_rivals``, those active at another firm in a relationship begun
        before this period (one another firm won back this period is not
        contested again until the next). Never the firm's own customers.
        """
        stage = population.stage
        recent = period - population.left_period.astype(np.int32) <= params["window"]
        former = (population.last_firm == firm) & recent
        no_firm = (stage == EXITED) | (stage == PROSPECT)  # plain ints
        at_rival = (
            (population.firm != NO_FIRM)
            & (population.firm != firm)
            & (population.acquired_period < period)
        )
        reach = (no_firm & np.isin(stage, stages) & (params["from_market"] > 0.0)) | (
            at_rival & (params["from_rivals"] > 0.0)
        )
        mask = former & reach
        return mask if segment is None else mask & (population.segment == segment)

    def apply(self, effects, touched, population, params):
        """No effect on the rules: the model restarts those who accept (see ``accepts``)."""

    @staticmethod
    def accepts(
        rng: np.random.Generator, touched: np.ndarray, population, params, relationship
    ) -> np.ndarray:
        """Which contacted former customers come back this period (one draw each).

        ``relationship`` holds the market's defection weights and temperature
        (:class:`sim.config.RelationshipConfig`), which
        :func:`sim.rules.win_back_from_rival` reads for those at a rival.
        """
        rate = params["win_back_rate"]
        at_rival = population.firm[touched] != NO_FIRM
        # in double precision: those with no firm are compared with the rate itself
        chance = np.where(
            at_rival,
            rules.win_back_from_rival(
                rate,
                population.switching_cost[touched].astype(np.float64),
                population.trust[touched].astype(np.float64),
                switching_cost_weight=relationship.defection_switching_cost_weight,
                trust_weight=relationship.defection_trust_weight,
                temperature=relationship.defection_temperature,
            ),
            rate,
        )
        return touched[rng.random(touched.size) < chance]


class ValueTargeting(Policy):
    """Spend retention effort on the most valuable customers first (the 80/20 idea)."""

    name = "value_targeting"
    summary = "all active stages: effort for the highest-value customers, budget first to them"
    stages = (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
    ranked = True
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.08, 0.0, 100.0, "cost per customer looked after"),
        "top_share": Parameter(0.2, 0.0, 1.0, "share of the firm's customers targeted, by value"),
        "value_lift": Parameter(0.05, 0.0, 1.0, "added to perceived value"),
        "switching_cost_lift": Parameter(0.01, 0.0, 1.0, "added to switching-cost build-up"),
    }

    def eligible(self, population, firm, stages, period, params, segment=None):
        """The top ``top_share`` by spend of the firm's targeted customers (segment first)."""
        mask = super().eligible(population, firm, stages, period, params, segment)
        idx = np.flatnonzero(mask)
        keep = int(np.floor(params["top_share"] * idx.size))
        if keep < idx.size:
            top = idx[np.argsort(-self.priority(population, idx), kind="stable")[:keep]]
            mask = np.zeros_like(mask)
            mask[top] = True
        return mask

    def apply(self, effects, touched, population, params):
        """``V += value_lift``; ``build += switching_cost_lift``."""
        effects.value_bonus[touched] += params["value_lift"]
        effects.switching_cost_bonus[touched] += params["switching_cost_lift"]


class PricePromotion(Policy):
    """A price cut: value now, a discount given (spend), and expectations trained upward."""

    name = "price_promotion"
    summary = "any active stage: discount raises value now but raises expectations too"
    stages = (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
    parameters: ClassVar[dict[str, Parameter]] = {
        "cost_per_contact": Parameter(0.0, 0.0, 100.0, "running cost per customer"),
        "discount": Parameter(0.10, 0.0, 0.9, "share of the price given away"),
        "voucher": Parameter(
            0.5,
            0.0,
            100.0,
            "most discount one customer gets per period: at 10% off, on up to 5 of spend "
            "(9 in 10 buying customer-periods spend less)",
        ),
        "expectation_push": Parameter(0.01, 0.0, 0.5, "added to expectation per promoted period"),
    }
    committed = ("cost_per_contact", "voucher")
    allowance_parameter = "voucher"

    def apply(self, effects, touched, population, params):
        """``price *= 1 - discount`` (up to ``voucher``); ``V += s * discount``; ``E += push``.

        Revenue is booked at list price; the discount given
        (:func:`sim.rules.discount_given`) is the promotion's spend.
        """
        effects.price_multiplier[touched] *= 1.0 - params["discount"]
        effects.allowance[touched] += params["voucher"]
        effects.value_bonus[touched] += population.price_sensitivity[touched] * params["discount"]
        effects.expectation_push[touched] += params["expectation_push"]


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        Onboarding,
        LoyaltyProgramme,
        ServiceRecovery,
        CrossSell,
        WinBack,
        ValueTargeting,
        PricePromotion,
    )
}
"""Registry of retention policies: name -> class."""


def get_policy(name: str) -> Policy:
    """Instantiate a registered policy by name.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return POLICIES[check_name(POLICIES, name, "policy")]()


def affordable(budget: float | None, cost_per_contact: float) -> float:
    """How many customers a per-period budget pays for (``None``: unlimited).

    A zero budget touches nobody, whatever the cost per contact.
    """
    if budget is None:
        return np.inf
    if cost_per_contact <= 0.0:
        return np.inf if budget > 0.0 else 0.0
    return np.floor(budget / cost_per_contact + 1e-9)
