"""An idiomatic per-agent Mesa version of the crm-sim rules, as a yardstick.

One Mesa :class:`Customer` agent per customer, activated with ``shuffle_do``;
its verbs call the very rule functions of :mod:`sim.rules` and
:mod:`sim.stages` on plain Python floats and ints (the rules' scalar path:
``math`` and conditional expressions, no numpy per customer), so there is no
second copy of the equations. Firms are the engine's own
:class:`sim.firm.Firm` agents, deciding from a :class:`sim.ledger.Ledger`;
traits come from :meth:`sim.population.Population.generate`, so both
implementations start from the same population distribution, and a settled
start (:meth:`sim.population.Population.settle`) gives the starting customers
the same history. Scalar draws come from ``model.random`` (Python's
generator, as Mesa models usually do), so results agree with
:class:`sim.model.CRMModel` statistically, not draw for draw; only the
starting customers' tastes come from :func:`sim.draws.taste_uniform`, the
draws the settled start chose their firms by. Numpy stays out of the
customers' step: it serves the firms' decisions, the acquisition draws and
the record once a period, and draws a new arrival's traits
(:func:`sim.population.draw_traits`).

It exists to measure what the array engine buys (``benchmarks/bench.py``) and
to check that the engine applies the rules as documented
(``tests/benchmarks/test_reference_agreement.py``). It records only what that
comparison needs: customers and stage counts per firm, retention, defections.

Its step mirrors the order documented in :class:`sim.model.CRMModel`:
decide, then per customer experience, money, stage and defection, then
acquisition, re-entry, reputation and record.
"""

from dataclasses import fields

import mesa
import numpy as np

from sim import draws, rules
from sim.config import Config, default_config
from sim.firm import Firm
from sim.ledger import Ledger
from sim.model import FirmVectors, StageTables
from sim.population import NO_FIRM, Population, draw_traits
from sim.stages import (
    DECLINE,
    EXITED,
    EXPLORATION,
    PROSPECT,
    STABILITY,
    Stage,
    next_stage,
    transition_probabilities,
)

# stage codes as plain ints: the rules' scalar path takes Python numbers (an IntEnum member is
# an int subclass, which they hand to numpy)
ACTIVE = frozenset(
    int(stage) for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
)

TRAITS = (
    "segment",
    "need_distance",
    "personalization_need",
    "price_sensitivity",
    "spend",
    "churn_propensity",
    "involvement",
    "purchase_rate",
    "expectation_norm",
)
STATE = (
    "firm",
    "last_firm",
    "stage",
    "stage_before_decline",
    "deepest_stage",
    "stage_age",
    "tenure",
    "stability_periods",
    "expectation",
    "value",
    "satisfaction",
    "trust",
    "switching_cost",
)


class Customer(mesa.Agent):
    """One customer: traits and relationship state as plain attributes (Python numbers)."""

    def __init__(self, model, taste=None, **attributes):
        super().__init__(model)
        self.last_firm = NO_FIRM
        self.stage_age = self.tenure = self.stability_periods = self.acquired_period = 0
        self.__dict__.update(attributes)
        self.revenue_to_date = self.clv = 0.0
        self.leaving = self.gone = False
        # this customer's taste for each firm's offer, fixed while it is in the market
        self.taste = taste or [rules.taste(model.random.random()) for _ in model.config.firms]

    @property
    def active(self) -> bool:
        """True while the customer has a current firm."""
        return self.stage in ACTIVE

    def step(self) -> None:
        """One period of this customer's relationship (steps 2-5 of the schedule)."""
        if self.stage not in ACTIVE:
            return
        self.experience()
        self.account()
        self.move_stage()
        self.consider_defecting()

    def offer_value(self, slot, *, adaptation, tenure, shock):
        """Value this customer perceives from the firm in ``slot`` (its own fit included)."""
        vectors, market = self.model.vectors, self.model.config.market
        fit = rules.offer_fit(market.fit_spread, adaptation, self.taste[slot - 1])
        return fit + rules.perceived_value(
            quality=vectors.quality[slot],
            digital_quality=vectors.digital_quality[slot],
            digital_weight=market.digital_weight,
            need_distance=self.need_distance,
            personalization_need=self.personalization_need,
            personalization_weight=market.personalization_weight,
            adaptation=adaptation,
            price=vectors.price[slot],
            price_sensitivity=self.price_sensitivity,
            price_weight=market.price_weight,
            relational_benefit=vectors.relational_benefit[slot],
            growth=rules.relational_growth(tenure, vectors.relational_tau[slot]),
            involvement=self.involvement,
            shock=shock,
        )

    def experience(self) -> None:
        """Perceive value; update satisfaction, expectation, trust and switching cost."""
        model = self.model
        vectors, market, relationship = model.vectors, model.config.market, model.relationship
        slot = self.firm + 1
        shock = vectors.experience_noise[slot] * model.random.gauss(0.0, 1.0)
        value = self.offer_value(
            slot, adaptation=vectors.adaptation[slot], tenure=self.tenure, shock=shock
        )
        target = rules.satisfaction_target(
            value,
            self.expectation,
            at_confirmation=relationship.satisfaction_at_confirmation,
            sensitivity=relationship.satisfaction_sensitivity,
        )
        satisfaction = rules.update_satisfaction(
            self.satisfaction, target, rate=relationship.satisfaction_rate
        )
        self.expectation = rules.update_expectation(
            self.expectation,
            value,
            self.expectation_norm,
            adapt_up=market.expectation_adapt_rate,
            adapt_down=market.expectation_adapt_down_rate,
            anchor=market.expectation_anchor,
            drift=market.expectation_drift,
        )
        self.trust = rules.update_trust(
            self.trust,
            satisfaction,
            vectors.reputation[slot],
            build_rate=vectors.trust_build[slot],
            break_rate=relationship.trust_break_rate,
            reputation_weight=market.reputation_weight,
        )
        self.switching_cost = rules.update_switching_cost(
            self.switching_cost,
            build_rate=rules.switching_cost_build(
                vectors.switching_cost_build[slot], self.involvement, 0.0
            ),
            floor=market.switching_cost_floor,
            decay=market.switching_cost_decay,
        )
        self.value, self.satisfaction = value, satisfaction

    def account(self) -> None:
        """Book this period's revenue and realized customer lifetime value."""
        model = self.model
        vectors, slot = model.vectors, self.firm + 1
        rate = rules.occasion_rate(self.purchase_rate, model.purchase_depth[self.stage])
        bought = rules.occasions(model.random.random(), rate)
        sales = rules.revenue(
            bought, self.spend, vectors.price[slot], model.wallet_share[self.stage]
        )
        profit = rules.margin(sales, vectors.margin[slot], vectors.serve_cost[slot])
        self.revenue_to_date += sales
        self.clv += profit * model.discount

    def move_stage(self) -> None:
        """Draw this period's stage move from the loyalty drive."""
        model = self.model
        relationship, tables, stage = model.relationship, model.tables, self.stage
        utility = rules.satisfaction_utility(
            self.satisfaction, convexity=relationship.satisfaction_convexity
        )
        loyalty = rules.loyalty_drive(
            self.value, utility, self.trust, self.switching_cost, tables.loyalty_weights[stage]
        )
        probabilities = transition_probabilities(
            stage,
            self.stage_age,
            loyalty,
            self.switching_cost,
            advance_threshold=tables.advance_threshold,
            decline_threshold=relationship.decline_threshold,
            recovery_threshold=relationship.recovery_threshold,
            steepness=relationship.steepness,
            advance_rate=relationship.advance_rate,
            decline_rate=relationship.decline_rate,
            recovery_rate=relationship.recovery_rate,
            min_stage_age=tables.min_stage_age,
            exit_rate=relationship.exit_rate * model.vectors.churn_factor[self.firm + 1],
            repair_window=model.config.market.repair_window,
            switching_cost_buffer=relationship.switching_cost_buffer,
            overdue_exit_multiplier=relationship.overdue_exit_multiplier,
        )
        new = next_stage(stage, self.stage_before_decline, model.random.random(), *probabilities)
        if new == DECLINE and stage != DECLINE:
            self.stage_before_decline = stage
        self.stage_age = 0 if new != stage else self.stage_age + 1
        self.tenure += 1
        self.stability_periods += new == STABILITY
        if new <= STABILITY:
            self.deepest_stage = max(self.deepest_stage, new)
        self.leaving = new == EXITED
        if not self.leaving:  # the exit itself happens in consider_defecting
            self.stage = new

    def consider_defecting(self) -> None:
        """Search the market; leave for the best visible alternative, or leave it."""
        model = self.model
        market, vectors, random = model.config.market, model.vectors, model.random
        self.gone = random.random() < market.category_exit_rate  # life reasons, not a choice
        if self.gone:
            model.defections[self.firm] += 1
            self.last_firm, self.firm, self.stage = self.firm, NO_FIRM, EXITED
            self.leaving = False
            return
        chance = rules.search_chance(
            market.search_probability * vectors.churn_factor[self.firm + 1], self.churn_propensity
        )
        if not (random.random() < chance or self.leaving):
            return
        current_adaptation = vectors.adaptation[self.firm + 1]
        best_value, best_firm = market.outside_value, NO_FIRM
        for j in range(len(model.firms)):
            visible = random.random() < market.rival_visibility and j != self.firm
            adaptation = rules.rival_adaptation(
                vectors.adaptation[j + 1], current_adaptation, market.imitation
            )
            shock = vectors.experience_noise[j + 1] * random.gauss(0.0, 1.0)
            value = self.offer_value(j + 1, adaptation=adaptation, tenure=0.0, shock=shock)
            if visible and value > best_value:
                best_value, best_firm = value, j
        relationship = model.relationship
        probability = rules.defection_probability(
            best_value - self.value,
            self.switching_cost,
            self.trust,
            search_probability=1.0,
            hurdle=relationship.defection_hurdle,
            switching_cost_weight=relationship.defection_switching_cost_weight,
            trust_weight=relationship.defection_trust_weight,
            temperature=relationship.defection_temperature,
        )
        if self.leaving and not rules.goes_to_rival(
            best_value,
            self.switching_cost,
            relationship.defection_switching_cost_weight,
            market.outside_value,
        ):
            best_firm = NO_FIRM  # exiting from decline: a rival must be worth the switch
        if self.leaving or random.random() < probability:
            model.defections[self.firm] += 1
            self.last_firm = self.firm
            if best_firm == NO_FIRM:
                self.firm, self.stage = NO_FIRM, EXITED
            else:
                self.start_relationship(best_firm)
        self.leaving = False

    def start_relationship(self, firm: int) -> None:
        """Become a new exploration-stage customer of ``firm``."""
        model = self.model
        market, relationship = model.config.market, model.relationship
        self.firm, self.acquired_period = firm, model.steps
        self.stage = self.stage_before_decline = self.deepest_stage = EXPLORATION
        self.stage_age = self.tenure = self.stability_periods = 0
        self.satisfaction = relationship.satisfaction_at_confirmation
        self.trust = rules.initial_trust(
            relationship.initial_trust, model.firms[firm].reputation, market.reputation_weight
        )
        self.switching_cost = market.switching_cost_floor
        self.revenue_to_date = self.clv = 0.0

    def settle(self) -> None:
        """Out of a relationship: leave the category (life reasons), or re-enter the market.

        A customer who left the category this period or now is replaced by a
        new arrival (a prospect with fresh traits).
        """
        model = self.model
        market = model.config.market
        if self.stage in ACTIVE:
            return
        if not self.gone and model.random.random() < market.category_exit_rate:
            self.gone = True
        if self.gone:
            model.arrivals += 1
            self.remove()
            traits = draw_traits(model.config, model.rng, 1)
            Customer(
                model,
                **{name: traits[name][0].item() for name in TRAITS},
                firm=NO_FIRM,
                stage=PROSPECT,
                stage_before_decline=PROSPECT,
                deepest_stage=PROSPECT,
                expectation=traits["expectation"][0].item(),
                value=traits["expectation"][0].item(),
                satisfaction=model.relationship.satisfaction_at_confirmation,
                trust=model.relationship.initial_trust,
                switching_cost=market.switching_cost_floor,
            )
        elif self.stage == EXITED and model.random.random() < market.reentry_rate:
            self.stage = PROSPECT
            model.reentries += 1


class ReferenceModel(mesa.Model):
    """Per-agent Mesa model of the crm-sim rules (see the module docstring).

    Attributes:
        firms: the :class:`sim.firm.Firm` agents, in config order.
        customers: the :class:`Customer` agents.
        ledger: the comparison record (customers and stage counts per firm,
            retention, defections, mean trust and misfit for the strategies).
    """

    def __init__(self, config: Config | None = None, *, rng=None):
        super().__init__(rng=rng)
        self.config = config if config is not None else default_config()
        self.relationship = self.config.relationship
        # per-stage tables as Python lists: scalar indexing of numpy arrays gives numpy scalars
        tables = StageTables.from_config(self.config)
        self.tables = StageTables(*(getattr(tables, f.name).tolist() for f in fields(tables)))
        self.wallet_share = self.tables.wallet_share
        self.purchase_depth = self.tables.purchase_depth
        population = Population.generate(self.config, self.rng)
        self.firms = [
            Firm(self, i, params, reputation=self.relationship.satisfaction_at_confirmation)
            for i, params in enumerate(self.config.firms)
        ]
        key = int(self.rng.integers(2**63))
        if self.config.simulation.start == "settled":
            population.settle(self.config, key, FirmVectors.from_firms(self.config, self.firms))
        columns = {name: getattr(population, name).tolist() for name in TRAITS + STATE}
        tastes = np.array(
            [draws.taste_uniforms(key, population.identity, j) for j in range(len(self.firms))]
        ).T.tolist()
        for values, taste in zip(zip(*columns.values(), strict=True), tastes, strict=True):
            Customer(
                self,
                taste=[rules.taste(u) for u in taste],
                **dict(zip(columns, values, strict=True)),
            )
        self.customers = self.agents_by_type[Customer]
        self.ledger = Ledger(
            self.config.simulation.periods,
            [f.name for f in self.firms],
            [f.params.strategy for f in self.firms],
        )
        self.reentries = self.arrivals = 0
        self.defections = [0] * len(self.firms)
        self._record(0)

    def step(self) -> None:
        """Advance one period in the order of :class:`sim.model.CRMModel`."""
        t = self.steps
        for firm in self.firms:
            firm.decide()
        vectors = FirmVectors.from_firms(self.config, self.firms)
        # Python lists: scalar indexing of numpy arrays would slow every customer down
        self.vectors = FirmVectors(*(getattr(vectors, f.name).tolist() for f in fields(vectors)))
        self.discount = (1.0 + self.config.simulation.discount_rate) ** -t
        self.defections = [0] * len(self.firms)
        self.customers.shuffle_do("step")
        self._acquire()
        self.reentries = self.arrivals = 0
        self.customers.select(lambda c: c.stage not in ACTIVE).shuffle_do("settle")
        self.customers = self.agents_by_type[Customer]
        self._update_reputation()
        self._record(t)

    def run(self, periods: int | None = None) -> "ReferenceModel":
        """Step ``periods`` times (default: the configured number of periods)."""
        for _ in range(self.config.simulation.periods if periods is None else periods):
            self.step()
        return self

    def _acquire(self) -> None:
        """Firms win prospects by spending and by their advocates' referrals."""
        market, n_firms = self.config.market, len(self.firms)
        prospects = [c for c in self.customers if c.stage == PROSPECT]
        decline, advocates = [0] * n_firms, [0] * n_firms
        threshold = self.config.simulation.satisfied_threshold
        for c in self.customers:
            if c.stage == DECLINE:
                decline[c.firm] += 1
            elif c.stage == STABILITY and c.satisfaction >= threshold:
                advocates[c.firm] += 1
        damping = rules.word_of_mouth_factor(
            np.add(decline, self.defections),
            self.ledger.get("customers"),
            strength=market.negative_word_of_mouth,
        )
        rates = np.array([f.actions.acquisition_rate for f in self.firms])
        referrals = rules.expected_referrals(
            np.array(advocates),
            len(prospects) / len(self.customers),
            referral_rate=self.relationship.referral_rate,
            reach=market.word_of_mouth_reach,
        )
        wanted = self.rng.poisson(
            np.concatenate([rates * len(prospects), referrals]) * np.tile(damping, 2)
        )
        if wanted.sum() > len(prospects):
            wanted = self.rng.multivariate_hypergeometric(wanted, len(prospects))
        chosen = self.random.sample(prospects, int(wanted.sum()))
        firms = np.repeat(np.tile(np.arange(n_firms), 2), wanted).tolist()
        for customer, firm in zip(chosen, firms, strict=True):
            customer.start_relationship(firm)

    def _update_reputation(self) -> None:
        smoothing, n_firms = self.relationship.reputation_smoothing, len(self.firms)
        count, total = [0] * n_firms, [0.0] * n_firms
        for c in self.customers:
            if c.firm != NO_FIRM:
                count[c.firm] += 1
                total[c.firm] += c.satisfaction
        for firm, n, satisfaction in zip(self.firms, count, total, strict=True):
            if n:
                firm.reputation += smoothing * (satisfaction / n - firm.reputation)

    def _record(self, period: int) -> None:
        n_firms, weight = len(self.firms), self.config.market.personalization_weight
        # tallied in Python lists, turned into arrays once per period
        counts = [[0] * len(Stage) for _ in range(n_firms)]
        trust, misfit, stage_counts = [0.0] * n_firms, [0.0] * n_firms, [0] * len(Stage)
        for c in self.customers:
            stage_counts[c.stage] += 1
            if c.firm != NO_FIRM:
                counts[c.firm][c.stage] += 1
                trust[c.firm] += c.trust
                misfit[c.firm] += weight * c.need_distance * c.personalization_need
        by_stage, trust, misfit = np.array(counts, dtype=float), np.array(trust), np.array(misfit)
        customers = by_stage.sum(axis=1)
        customers_start = self.ledger.get("customers") if period > 0 else customers
        retained = customers_start - self.defections
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "customers": customers,
                **{
                    stage.name.lower(): by_stage[:, stage]
                    for stage in (
                        Stage.EXPLORATION,
                        Stage.FORMATION,
                        Stage.STABILITY,
                        Stage.DECLINE,
                    )
                },
                "customers_start": customers_start,
                "retained": retained,
                "retention": np.where(customers_start > 0, retained / customers_start, np.nan),
                "defections": self.defections,
                "mean_trust": trust / customers,
                "mean_misfit": misfit / customers,
                "reputation": [f.reputation for f in self.firms],
            }
        self.ledger.write(
            period,
            values,
            {
                "prospects": stage_counts[Stage.PROSPECT],
                "out_of_market": stage_counts[Stage.EXITED],
                "reentries": self.reentries,
                "arrivals": self.arrivals,
            },
        )

    def firm_frame(self):
        """The comparison record, one row per period x firm (other columns stay zero)."""
        return self.ledger.frame()

    def market_frame(self):
        """Prospects, customers out of the market and re-entries per period."""
        return self.ledger.market_frame()
