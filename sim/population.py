"""Customers as columns of arrays (structure of arrays), not objects.

One :class:`Population` holds every customer's traits (drawn once) and state
(updated each period). Compact dtypes keep a million customers in well under
100 MB: small integers for codes and ages, float32 for the determinants.
"""

from dataclasses import dataclass, fields

import numpy as np

from .rules import MAX_PURCHASE_RATE, initial_trust
from .stages import Stage

NO_FIRM = -1
"""Firm code of a customer with no current firm (prospect or exited)."""

NEVER = np.iinfo(np.int16).min
"""``left_period`` of a customer whose relationships have never ended."""


@dataclass
class Population:
    """Every customer's traits and state, one array per attribute.

    Traits (fixed while the customer is in the market): ``segment``,
    ``need_distance``, ``personalization_need``, ``price_sensitivity``,
    ``spend`` (per purchase occasion), ``churn_propensity``, ``involvement``,
    ``purchase_rate`` (occasions per period in the category),
    ``expectation_norm`` (what the customer expects of a supplier before any
    experience: the level its expectations keep returning to).

    Identity: ``identity`` names the customer. The market is open: a customer
    who leaves the category for life reasons is replaced, in the same row, by
    a new arrival with fresh traits and a fresh identity (:meth:`renew`), so
    a row is a place in the market, and ``identity`` the customer in it.

    State: ``firm`` (index into the model's firms, ``NO_FIRM`` for none),
    ``last_firm`` (the firm of the last relationship that ended), ``stage``,
    ``stage_before_decline``, ``deepest_stage``, ``stage_age``, ``tenure``,
    ``stability_periods``, ``acquired_period``, ``left_period`` (when the last
    relationship ended; :data:`NEVER` if none), the determinants
    ``expectation``, ``value``, ``satisfaction``, ``trust``, ``switching_cost``,
    and money: ``revenue_to_date`` (current relationship) and ``clv`` (realized
    customer lifetime value of the current relationship: contribution less the
    policy spending on the customer, discounted to period 0; referral value is
    booked at the firm).
    """

    segment: np.ndarray
    need_distance: np.ndarray
    personalization_need: np.ndarray
    price_sensitivity: np.ndarray
    spend: np.ndarray
    churn_propensity: np.ndarray
    involvement: np.ndarray
    purchase_rate: np.ndarray
    expectation_norm: np.ndarray
    identity: np.ndarray
    firm: np.ndarray
    last_firm: np.ndarray
    stage: np.ndarray
    stage_before_decline: np.ndarray
    deepest_stage: np.ndarray
    stage_age: np.ndarray
    tenure: np.ndarray
    stability_periods: np.ndarray
    acquired_period: np.ndarray
    left_period: np.ndarray
    expectation: np.ndarray
    value: np.ndarray
    satisfaction: np.ndarray
    trust: np.ndarray
    switching_cost: np.ndarray
    revenue_to_date: np.ndarray
    clv: np.ndarray

    def __len__(self) -> int:
        return len(self.stage)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    @classmethod
    def generate(cls, config, rng: np.random.Generator) -> "Population":
        """Draw a population of ``config.simulation.customers`` customers.

        Traits are drawn by :func:`draw_traits`. A share
        ``initial_customer_share`` starts with a uniformly chosen firm in
        exploration; the rest are prospects. Identities are ``0..n-1``.
        """
        n = config.simulation.customers
        traits = draw_traits(config, rng, n)
        n_firms = len(config.firms)
        starts_with_firm = rng.random(n) < config.simulation.initial_customer_share
        firm = np.where(starts_with_firm, rng.integers(0, n_firms, size=n), NO_FIRM)

        f32 = np.float32
        stage = np.where(starts_with_firm, Stage.EXPLORATION, Stage.PROSPECT).astype(np.int8)
        relationship, market = config.relationship, config.market
        return cls(
            **traits,
            identity=np.arange(n, dtype=np.int64),
            firm=firm.astype(np.int8),
            last_firm=np.full(n, NO_FIRM, dtype=np.int8),
            stage=stage,
            stage_before_decline=stage.copy(),
            deepest_stage=stage.copy(),
            stage_age=np.zeros(n, dtype=np.int16),
            tenure=np.zeros(n, dtype=np.int16),
            stability_periods=np.zeros(n, dtype=np.int16),
            acquired_period=np.zeros(n, dtype=np.int16),
            left_period=np.full(n, NEVER, dtype=np.int16),
            value=traits["expectation"].copy(),
            satisfaction=np.full(n, relationship.satisfaction_at_confirmation, dtype=f32),
            # as any new relationship: firms start with reputation at satisfaction's confirmation
            trust=np.full(n, initial_trust(relationship.initial_trust,
                                           relationship.satisfaction_at_confirmation,
                                           market.reputation_weight), dtype=f32),
            switching_cost=np.full(n, market.switching_cost_floor, dtype=f32),
            revenue_to_date=np.zeros(n, dtype=f32),
            clv=np.zeros(n, dtype=f32),
        )

    def renew(self, rows, config, rng: np.random.Generator, first_identity: int) -> None:
        """Replace the customers in ``rows`` by new arrivals: prospects with fresh traits.

        They get identities ``first_identity, first_identity + 1, ...`` in row
        order, traits from :func:`draw_traits`, and the state of a prospect
        who never had a firm.
        """
        rows = np.asarray(rows, dtype=np.intp)
        if not rows.size:
            return
        for name, values in draw_traits(config, rng, rows.size).items():
            getattr(self, name)[rows] = values
        self.identity[rows] = np.arange(first_identity, first_identity + rows.size)
        self.value[rows] = self.expectation[rows]
        self.firm[rows] = NO_FIRM
        self.last_firm[rows] = NO_FIRM
        for name in ("stage", "stage_before_decline", "deepest_stage"):
            getattr(self, name)[rows] = Stage.PROSPECT
        for name in ("stage_age", "tenure", "stability_periods", "acquired_period"):
            getattr(self, name)[rows] = 0
        self.left_period[rows] = NEVER
        self.satisfaction[rows] = config.relationship.satisfaction_at_confirmation
        self.trust[rows] = config.relationship.initial_trust
        self.switching_cost[rows] = config.market.switching_cost_floor
        self.revenue_to_date[rows] = 0.0
        self.clv[rows] = 0.0


def draw_traits(config, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw the traits (and first expectation) of ``n`` customers.

    Segments are drawn by share; within a segment, need distance and
    personalization need are normal around the segment's centre (sd
    ``trait_spread``, clipped to [0, 1]), spend per occasion is lognormal
    around the segment median (sigma ``spend_dispersion``: a few big spenders,
    the 80/20 of seed 003), churn propensity is gamma with the segment mean and
    shape ``churn_dispersion``, the purchase rate gamma with the segment mean
    and shape ``purchase_rate_dispersion`` (the NBD model's gamma mixing of
    Poisson rates, Ehrenberg 1959), capped at
    :data:`sim.rules.MAX_PURCHASE_RATE`. The expectation norm (and first
    expectation) is normal around ``market.initial_expectation`` (sd
    ``customers.expectation_spread``, clipped to [0, 1]): customers differ in
    how demanding they are.
    """
    segments = config.customers.segments
    spread = config.customers.trait_spread
    shares = np.array([s.share for s in segments])
    segment = rng.choice(len(segments), size=n, p=shares / shares.sum()).astype(np.int8)

    def centre(attribute):
        return np.array([getattr(s, attribute) for s in segments], dtype=np.float64)[segment]

    def around(attribute):
        return np.clip(centre(attribute) + spread * rng.standard_normal(n), 0.0, 1.0)

    need_distance = around("need_distance")
    personalization_need = around("personalization_need")
    sigma = config.customers.spend_dispersion
    # lognormal with the segment median: exp(mu) = median
    spend = centre("spend") * np.exp(sigma * rng.standard_normal(n))
    shape = config.customers.churn_dispersion
    churn_propensity = centre("churn_propensity") * rng.gamma(shape, 1.0 / shape, size=n)
    expectation = np.clip(config.market.initial_expectation
                          + config.customers.expectation_spread * rng.standard_normal(n), 0.0, 1.0)
    shape = config.customers.purchase_rate_dispersion
    purchase_rate = np.minimum(centre("purchase_rate") * rng.gamma(shape, 1.0 / shape, size=n),
                               MAX_PURCHASE_RATE)
    f32 = np.float32
    return {
        "segment": segment,
        "need_distance": need_distance.astype(f32),
        "personalization_need": personalization_need.astype(f32),
        "price_sensitivity": centre("price_sensitivity").astype(f32),
        "spend": spend.astype(f32),
        "churn_propensity": churn_propensity.astype(f32),
        "involvement": centre("involvement").astype(f32),
        "purchase_rate": purchase_rate.astype(f32),
        "expectation": expectation.astype(f32),
        "expectation_norm": expectation.astype(f32),
    }
