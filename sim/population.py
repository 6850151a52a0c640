"""Customers as columns of arrays (structure of arrays), not objects.

One :class:`Population` holds every customer's traits (drawn once) and state
(updated each period). Compact dtypes keep a million customers in well under
100 MB: small integers for codes and ages, float32 for the determinants.
"""

from dataclasses import dataclass, fields

import numpy as np

from . import draws, rules
from .rules import MAX_PURCHASE_RATE, initial_trust
from .stages import NO_FIRM, Stage, climbed_stage, is_advocate

NEVER = np.iinfo(np.int16).min
"""``left_period`` of a customer whose relationships have never ended."""

LONGEST_START = 20_000
"""Longest tenure, and time out of the market, of a settled start (:meth:`Population.settle`).

Room in the int16 counters for a run's own periods (at most 11,000, warm-up
included); at the largest mean tenure allowed (600) the chance of a longer
draw is about 1e-15.
"""


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
            trust=np.full(
                n,
                initial_trust(
                    relationship.initial_trust,
                    relationship.satisfaction_at_confirmation,
                    market.reputation_weight,
                ),
                dtype=f32,
            ),
            switching_cost=np.full(n, market.switching_cost_floor, dtype=f32),
            revenue_to_date=np.zeros(n, dtype=f32),
            clv=np.zeros(n, dtype=f32),
        )

    def settle(self, config, key: int, firms) -> None:
        """Give the starting customers the history of a market that has been running.

        ``simulation.start: settled`` (:class:`sim.model.CRMModel` calls it on
        the population :meth:`generate` drew). Without it, every relationship
        would start at period 0 in exploration and every customer without a
        firm would be a prospect: far from where the market settles, which
        took about five years (issue 20). No period is run: each customer's
        history is drawn and its state computed from the rules in closed form.
        ``key`` is the model's key (:mod:`sim.draws`; the draws use the slot
        :data:`sim.draws.START_PERIOD`), ``firms`` the period-0
        :class:`sim.model.FirmVectors`.

        A customer with a firm climbed the ladder over its tenure
        (:meth:`_climb`), is with the firm worth most to it if its relationship
        lasted past exploration (:meth:`_best_firm`), and has the switching
        cost and trust its tenure built (:meth:`_built_up`); satisfaction,
        expectation and acquisition period stay as :meth:`generate` set them.
        A customer without a firm is a prospect or out of the market, as the
        flows balance (:meth:`_settle_without_firm`).
        """
        with_firm = np.flatnonzero(self.firm != NO_FIRM)
        tenure, stage, stage_age, stability_periods = self._climb(config, key, with_firm)
        firm = self._best_firm(config, key, firms, with_firm, tenure, stage)
        switching_cost, trust = self._built_up(config, firms, with_firm, firm + 1, tenure)
        self.firm[with_firm] = firm
        for name in ("stage", "stage_before_decline", "deepest_stage"):
            getattr(self, name)[with_firm] = stage
        self.stage_age[with_firm] = stage_age
        self.tenure[with_firm] = tenure
        self.stability_periods[with_firm] = stability_periods
        self.switching_cost[with_firm] = switching_cost
        self.trust[with_firm] = trust
        self._settle_without_firm(config, key)

    def _climb(self, config, key: int, with_firm):
        """The tenure and the stage the customers ``with_firm`` have reached at the start.

        The tenure is drawn geometric with mean ``simulation.initial_tenure``
        (:func:`sim.rules.waiting_time`). The customer climbed the ladder as
        the transition rule lets a loyal customer: after the minimum stage
        age, each period a chance ``advance_rate`` to move up
        (:func:`sim.stages.climbed_stage`); nobody starts in decline, deepest
        stage = stage. Returns ``(tenure, stage, stage_age, stability_periods)``.
        """
        relationship = config.relationship
        chance = 1.0 / (1.0 + config.simulation.initial_tenure)
        tenure = np.minimum(
            rules.waiting_time(
                _start_uniforms(key, len(self), draws.START_TENURE, with_firm), chance
            ),
            LONGEST_START,
        ).astype(np.int64)
        waits = [
            rules.waiting_time(
                _start_uniforms(key, len(self), stream, with_firm), relationship.advance_rate
            )
            for stream in (draws.START_FORMATION, draws.START_STABILITY)
        ]
        min_age = np.zeros(len(Stage), dtype=np.int64)
        min_age[Stage.EXPLORATION] = relationship.min_age_exploration
        min_age[Stage.FORMATION] = relationship.min_age_formation
        stage, stage_age, stability_periods = climbed_stage(
            tenure,
            min_age,
            np.minimum(waits[0], LONGEST_START).astype(np.int64),
            np.minimum(waits[1], LONGEST_START).astype(np.int64),
        )
        return tenure, stage, stage_age, stability_periods

    def _best_firm(self, config, key: int, firms, with_firm, tenure, stage):
        """The firm of each customer ``with_firm`` at the start, given its ``tenure`` and ``stage``.

        Past exploration, the firm whose offer is worth most to it
        (:func:`sim.rules.perceived_value` with its taste,
        :func:`sim.rules.offer_fit` and an experience shock, as a searcher who
        sees every firm judges them, each with the relational benefits its
        tenure would have grown): relationships that lasted are those that
        fit. In exploration, the firm drawn by :meth:`generate`: a recent
        acquisition, won regardless of fit.
        """
        market = config.market
        value = np.empty((len(config.firms), with_firm.size))
        for j in range(len(config.firms)):
            slot = j + 1
            shock = draws.sample(
                key, draws.START_PERIOD, len(self), draws.RIVAL + 2 * j + 1, normals=True
            )[with_firm]
            taste = rules.taste(draws.taste_uniforms(key, self.identity[with_firm], j))
            value[j] = rules.offer_fit(market.fit_spread, firms.adaptation[slot], taste) + (
                rules.perceived_value(
                    quality=firms.quality[slot],
                    digital_quality=firms.digital_quality[slot],
                    digital_weight=market.digital_weight,
                    need_distance=self.need_distance[with_firm],
                    personalization_need=self.personalization_need[with_firm],
                    personalization_weight=market.personalization_weight,
                    adaptation=firms.adaptation[slot],
                    price=firms.price[slot],
                    price_sensitivity=self.price_sensitivity[with_firm],
                    price_weight=market.price_weight,
                    relational_benefit=firms.relational_benefit[slot],
                    growth=rules.relational_growth(tenure, firms.relational_tau[slot]),
                    involvement=self.involvement[with_firm],
                    shock=firms.experience_noise[slot] * shock,
                )
            )
        return np.where(stage > Stage.EXPLORATION, value.argmax(axis=0), self.firm[with_firm])

    def _built_up(self, config, firms, with_firm, slot, tenure):
        """The switching cost and trust of the customers ``with_firm`` after their ``tenure``.

        The switching cost its firm (``slot``) built up from the floor
        (:func:`sim.rules.switching_cost_after`), and the trust built at
        confirmed satisfaction and the firms' starting reputation
        (:func:`sim.rules.trust_after`). Returns ``(switching_cost, trust)``.
        """
        market, relationship = config.market, config.relationship
        build = rules.switching_cost_build(
            firms.switching_cost_build[slot], self.involvement[with_firm], 0.0
        )
        switching_cost = rules.switching_cost_after(
            tenure, build, market.switching_cost_floor, market.switching_cost_decay
        )
        trust = rules.trust_after(
            tenure,
            self.trust[with_firm],
            relationship.satisfaction_at_confirmation,
            firms.reputation[slot],
            firms.trust_build[slot],
            relationship.trust_break_rate,
            market.reputation_weight,
        )
        return switching_cost, trust

    def _settle_without_firm(self, config, key: int) -> None:
        """Make each customer without a firm a prospect, or out of the market, as the flows balance.

        A prospect with the chance that puts the prospect pool at the balance
        of its flows (:func:`sim.rules.steady_prospect_share`; a prospect's
        chance to be acquired is the firms' acquisition rates plus their
        advocates' referrals, without negative word of mouth); otherwise out
        of the market: it left a firm drawn at random a geometric time before
        the start, with the chance ``e + (1 - e) reentry_rate`` of leaving
        that pool each period (``e = category_exit_rate``). Reads the stages
        of the customers with a firm: call it after theirs are set.
        """
        n = len(self)
        market, relationship = config.market, config.relationship
        n_firms = len(config.firms)
        without = np.flatnonzero(self.firm == NO_FIRM)
        if not without.size:
            return
        advocates = is_advocate(
            self.stage, self.satisfaction, config.simulation.satisfied_threshold
        ).sum()
        acquisition = sum(f.acquisition_rate for f in config.firms) + rules.expected_referrals(
            advocates,
            1.0 / n,
            referral_rate=relationship.referral_rate,
            reach=market.word_of_mouth_reach,
        )
        customer_share = (n - without.size) / n
        prospects = rules.steady_prospect_share(
            customer_share, acquisition, market.reentry_rate, market.category_exit_rate
        )
        out = without[
            _start_uniforms(key, n, draws.START_POOL, without) >= prospects / (1.0 - customer_share)
        ]
        self.stage[out] = Stage.EXITED
        self.last_firm[out] = np.minimum(
            _start_uniforms(key, n, draws.START_LAST_FIRM, out) * n_firms, n_firms - 1
        ).astype(np.int8)
        # out of the market, customers leave the category, or else may re-enter
        leave = market.category_exit_rate + (1.0 - market.category_exit_rate) * market.reentry_rate
        away = rules.waiting_time(_start_uniforms(key, n, draws.START_LEFT, out), leave)
        self.left_period[out] = -np.minimum(away, LONGEST_START).astype(np.int16)

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


def _start_uniforms(key: int, n: int, stream: int, rows) -> np.ndarray:
    """The settled start's uniforms on ``stream`` of the ``rows`` of ``n`` customers.

    Drawn at :data:`sim.draws.START_PERIOD`, a period no run reaches.
    """
    return draws.sample(key, draws.START_PERIOD, n, stream)[rows]


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
    expectation = np.clip(
        config.market.initial_expectation
        + config.customers.expectation_spread * rng.standard_normal(n),
        0.0,
        1.0,
    )
    shape = config.customers.purchase_rate_dispersion
    purchase_rate = np.minimum(
        centre("purchase_rate") * rng.gamma(shape, 1.0 / shape, size=n), MAX_PURCHASE_RATE
    )
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
