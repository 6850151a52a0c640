"""The crm-sim model: customers as arrays, firms as Mesa agents, one schedule."""

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from . import rules
from .config import Config, default_config
from .firm import Firm
from .ledger import FIRM_COLUMNS, Ledger
from .policies import Effects, WinBack, affordable, get_policy
from .population import NO_FIRM, Population
from .stages import (
    STAGE_NAMES,
    Stage,
    Trajectory,
    is_active,
    next_stage,
    trajectory_type,
    transition_probabilities,
)
from .transactions import TransactionLog

F32 = np.float32
_N_STAGES = len(Stage)

BLOCK = 1 << 14
"""Customers per block in the per-customer phases (see :func:`blocks`)."""


def blocks(n: int, size: int = BLOCK):
    """Slices of at most ``size`` customers covering ``range(n)``, in order.

    The per-customer phases apply the rules block by block: their temporaries
    then stay in the processor's cache and take ``size`` customers' worth of
    memory instead of the whole population's. The rules are elementwise and
    the period's random draws are made for everyone before the blocks, so the
    results do not depend on the block size.
    """
    return (slice(start, min(start + size, n)) for start in range(0, n, size))

HISTORY_COLUMNS = (
    "stage", "firm", "stage_age", "tenure", "expectation", "value", "satisfaction", "trust",
    "switching_cost", "revenue_to_date", "clv",
)


@dataclass(frozen=True)
class StageTables:
    """Per-stage lookup tables (indexed by :class:`Stage` code), built from the config.

    Look them up with ``table.take(stage, axis=0)``: indexing with the int8
    stage codes (``table[stage]``) is several times slower in numpy.
    """

    loyalty_weights: np.ndarray  # (stages, 4): value, satisfaction, trust, switching cost
    wallet_share: np.ndarray
    advance_threshold: np.ndarray
    min_stage_age: np.ndarray

    @classmethod
    def from_config(cls, config: Config) -> "StageTables":
        """Spread the per-stage fields of the config into arrays over all stages."""
        weights = np.zeros((_N_STAGES, 4), dtype=F32)
        wallet = np.zeros(_N_STAGES, dtype=F32)
        for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE):
            name = stage.name.lower()
            w = getattr(config.market.stage_weights, name)
            weights[stage] = (w.value, w.satisfaction, w.trust, w.switching_cost)
            wallet[stage] = getattr(config.relationship.wallet_share, name)
        r = config.relationship
        advance = np.ones(_N_STAGES, dtype=F32)
        advance[Stage.EXPLORATION] = r.advance_threshold_exploration
        advance[Stage.FORMATION] = r.advance_threshold_formation
        min_age = np.zeros(_N_STAGES, dtype=np.int16)
        min_age[Stage.EXPLORATION] = r.min_age_exploration
        min_age[Stage.FORMATION] = r.min_age_formation
        return cls(weights, wallet, advance, min_age)


@dataclass(frozen=True)
class PolicyRun:
    """A firm's policy as the model runs it: the policy, its config, target codes."""

    firm: int
    policy: object
    spec: object
    stages: np.ndarray
    segment: int | None


@dataclass(frozen=True)
class FirmVectors:
    """This period's firm parameters as arrays indexed by ``firm + 1`` (slot 0: no firm)."""

    quality: np.ndarray
    digital_quality: np.ndarray
    price: np.ndarray
    adaptation: np.ndarray
    relational_benefit: np.ndarray
    relational_tau: np.ndarray
    experience_noise: np.ndarray
    trust_build: np.ndarray
    switching_cost_build: np.ndarray
    serve_cost: np.ndarray
    margin: np.ndarray
    reputation: np.ndarray
    advocate_value: np.ndarray

    @classmethod
    def from_firms(cls, config: Config, firms) -> "FirmVectors":
        """Slot the firms' parameters and this period's levers (``firm.actions``) into arrays."""
        market, relationship = config.market, config.relationship

        def slots(values):
            return np.array([0.0, *values], dtype=F32)

        params = [f.params for f in firms]
        actions = [f.actions for f in firms]
        stretch = [max(0.0, a.adaptation - p.adaptation) for a, p in zip(actions, params,
                                                                          strict=True)]
        return cls(
            quality=slots(p.quality for p in params),
            digital_quality=slots(p.digital_quality for p in params),
            price=slots(p.price for p in params),
            adaptation=slots(a.adaptation for a in actions),
            relational_benefit=slots(p.relational_benefit for p in params),
            relational_tau=np.array([1.0, *(p.relational_tau for p in params)], dtype=F32),
            experience_noise=slots(p.experience_noise for p in params),
            trust_build=slots(relationship.trust_build_rate * p.trust_build * a.relationship_effort
                              for p, a in zip(params, actions, strict=True)),
            switching_cost_build=slots(
                min(1.0, market.switching_cost_scale * p.switching_cost_build
                    * a.relationship_effort)
                for p, a in zip(params, actions, strict=True)
            ),
            # flexibility and relationship investment cost money (Storbacka)
            serve_cost=slots(p.serve_cost * a.relationship_effort * (1.0 + s)
                             for p, a, s in zip(params, actions, stretch, strict=True)),
            margin=slots(p.margin for p in params),
            reputation=slots(f.reputation for f in firms),
            advocate_value=slots(
                rules.expected_referrals(1.0, referral_rate=relationship.referral_rate,
                                         reach=market.word_of_mouth_reach) * p.referral_value
                for p in params
            ),
        )


class CRMModel(mesa.Model):
    """Customers move through lifecycle stages while firms run relationship strategies.

    Build it from one :class:`sim.config.Config` and a seed:
    ``CRMModel(config, rng=42)``. Randomness comes only from ``model.rng``.

    Schedule of one ``step()`` (one period ``t``):

    1. **Decide.** Every firm's strategy sets its levers (acquisition rate,
       relationship effort, adaptation) from last period's ledger. Its
       retention policies pick whom they touch, within budget, and write their
       effects for this period (win-back restarts the former customers who
       accept). Policy draws use their own random stream.
    2. **Experience.** Every active customer perceives value ``V`` from its firm
       (with an experience shock); satisfaction moves toward
       ``f(V - E)``, expectation adapts, trust moves toward satisfaction and
       reputation, switching cost builds up and decays.
    3. **Money.** Revenue by stage, cost to serve, expected referral value of
       advocates; customers' realized CLV and firms' books are updated (and,
       if :meth:`log_transactions` was called, each active customer's sales
       and CLV increment go to the purchase log, :mod:`sim.transactions`).
    4. **Stages.** The stage-weighted loyalty drive sets the chances to move
       up, slide into decline, recover or exit; one draw per customer decides.
       Stage age and tenure advance.
    5. **Defection.** Customers who search (and declining customers who exit)
       compare the best visible alternative (rivals, with imitation, or the
       outside option) with the value they get now; searchers defect with
       :func:`sim.rules.defection_probability`. A defector to a rival starts an
       exploration-stage relationship there; the others leave the market.
    6. **Acquisition.** Each firm wins prospects through spending (its rate,
       damped by negative word of mouth) and referrals from its advocates.
    7. **Re-entry.** Some customers who left the market become prospects again.
    8. **Reputation and record.** Firms' reputations follow their customers'
       satisfaction; the ledger records one row per firm.

    Attributes:
        config: the validated configuration.
        customers: the :class:`sim.population.Population` (arrays).
        firms: the :class:`sim.firm.Firm` agents, in config order.
        ledger: the :class:`sim.ledger.Ledger` of per-period, per-firm records.
    """

    def __init__(self, config: Config | None = None, *, rng=None):
        super().__init__(rng=rng)
        self.config = config if config is not None else default_config()
        relationship = self.config.relationship
        self.customers = Population.generate(self.config, self.rng)
        self.firms = [
            Firm(self, i, params, reputation=relationship.satisfaction_at_confirmation)
            for i, params in enumerate(self.config.firms)
        ]
        self.ledger = Ledger(
            self.config.simulation.periods,
            [f.name for f in self.firms],
            [f.params.strategy for f in self.firms],
        )
        self.tables = StageTables.from_config(self.config)
        # policies draw from their own stream: with or without a policy, every
        # other draw is the same (common random numbers)
        self.policy_rng = self.rng.spawn(1)[0]
        self.policies = [
            PolicyRun(firm.index, get_policy(spec.name), spec,
                      np.array([STAGE_NAMES.index(name) for name in spec.stages])
                      if spec.stages else np.array(get_policy(spec.name).stages),
                      None if spec.segment is None else
                      [s.name for s in self.config.customers.segments].index(spec.segment))
            for firm in self.firms for spec in firm.params.policies
        ]
        self._policy_rows: list[dict] = []
        self._followed = np.empty(0, dtype=np.intp)
        self._history: list[pd.DataFrame] = []
        self._transactions: TransactionLog | None = None
        self._flows: dict[str, np.ndarray] = {}
        self._refresh_slots()
        self._record(period=0)

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------

    @property
    def period(self) -> int:
        """Periods simulated so far (0 before the first step)."""
        return self.steps

    def step(self) -> None:
        """Advance one period (see the class docstring for the order).

        Raises:
            RuntimeError: past ``config.simulation.periods`` (the ledger's size).
        """
        t = self.steps
        if t > self.config.simulation.periods:
            self.steps -= 1  # Mesa counted a step that does not happen
            raise RuntimeError(f"the model has run its {self.config.simulation.periods} "
                               "periods; raise simulation.periods to simulate longer")
        self.agents.do("decide")
        vectors = self._firm_vectors()
        self._flows = {name: np.zeros(len(self.firms)) for name in FIRM_COLUMNS}
        effects, touched = self._run_policies(t)
        self._refresh_slots()
        active = is_active(self.customers.stage)  # stages stay put until _move_stages
        self._experience(vectors, effects, active)
        self._account(vectors, effects, active, t)
        leaving = self._move_stages(effects, active)
        self._count_policy_recoveries(touched)
        self._defect(vectors, leaving, t)
        self._refresh_slots()
        self._acquire(t)
        self._refresh_slots()
        self._reenter()
        self._update_reputation()
        self._record(t)
        if t >= self.config.simulation.periods:
            self.running = False

    def run(self, periods: int | None = None) -> "CRMModel":
        """Step ``periods`` times (default: up to ``config.simulation.periods``)."""
        remaining = self.config.simulation.periods - self.steps if periods is None else periods
        for _ in range(remaining):
            self.step()
        return self

    def firm_frame(self) -> pd.DataFrame:
        """Tidy per-period, per-firm records (one row per period x firm, period 0 = start)."""
        return self.ledger.frame()

    def cohort_frame(self) -> pd.DataFrame:
        """Cohort survival per firm: customers of each acquisition cohort still there, by period."""
        return self.ledger.cohort_frame()

    def market_frame(self) -> pd.DataFrame:
        """Tidy per-period market records: prospects, out of market, re-entries."""
        return self.ledger.market_frame()

    def policy_frame(self) -> pd.DataFrame:
        """One row per period x firm x policy: eligible, touched, spend, budget ran out, outcomes.

        ``recovered`` counts touched declining customers who recovered that
        period; ``won_back`` the former customers who came back.
        """
        columns = ["period", "firm", "policy", "eligible", "touched", "spend",
                   "budget_exhausted", "recovered", "won_back"]
        return pd.DataFrame(self._policy_rows, columns=columns)

    def customers_frame(self) -> pd.DataFrame:
        """One row per customer: traits, current firm and stage, determinants, money."""
        pop = self.customers
        firm_names = [f.name for f in self.firms]
        names = np.array([*firm_names, None], dtype=object)  # index -1: no firm
        segments = [s.name for s in self.config.customers.segments]
        frame = pd.DataFrame({
            "customer": np.arange(len(pop)),
            "segment": pd.Categorical.from_codes(pop.segment, segments),
            "firm": pd.Categorical(names[pop.firm], categories=firm_names),
            "stage": pd.Categorical.from_codes(pop.stage, STAGE_NAMES),
        })
        for column in (
            "need_distance", "personalization_need", "price_sensitivity", "spend",
            "churn_propensity", "involvement", "stage_age", "tenure", "stability_periods",
            "acquired_period",
            "expectation", "value", "satisfaction", "trust", "switching_cost",
            "revenue_to_date", "clv",
        ):
            frame[column] = getattr(pop, column)
        return frame

    def follow(self, customer_ids) -> None:
        """Record the state of these customers every period from now on (for teaching)."""
        ids = np.asarray(customer_ids, dtype=np.intp)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.customers)):
            raise ValueError(f"customer ids must be in [0, {len(self.customers) - 1}]")
        self._followed = np.unique(np.concatenate([self._followed, ids]))
        self._snapshot_followed()

    def log_transactions(self) -> None:
        """Record every purchase from the next period on (off by default; :mod:`sim.transactions`).

        Each active customer buys every period, so the log holds one row per
        active customer-period: its sales and its CLV increment, exactly as
        the engine books them. Logging changes no result.
        """
        if self._transactions is None:
            self._transactions = TransactionLog()

    def transactions_frame(self) -> pd.DataFrame:
        """One row per purchase since :meth:`log_transactions` was called.

        Columns ``period``, ``customer``, ``firm`` (categorical, firms in
        config order), ``acquired_period`` (when the relationship the purchase
        belongs to began), ``revenue`` and ``clv_increment`` (float32, the
        values added to ``customers.revenue_to_date`` and ``customers.clv``).

        Raises:
            RuntimeError: if :meth:`log_transactions` was not called.
        """
        if self._transactions is None:
            raise RuntimeError("no purchase log: call model.log_transactions() before running")
        return self._transactions.frame([f.name for f in self.firms])

    def history_frame(self) -> pd.DataFrame:
        """One row per followed customer x period since :meth:`follow` was called."""
        if not self._history:
            return pd.DataFrame(columns=["period", "customer", *HISTORY_COLUMNS])
        frame = pd.concat(self._history, ignore_index=True)
        return frame.drop_duplicates(["period", "customer"], keep="last").reset_index(drop=True)

    # ------------------------------------------------------------------
    # the schedule
    # ------------------------------------------------------------------

    def _firm_vectors(self) -> FirmVectors:
        return FirmVectors.from_firms(self.config, self.firms)

    def _value_at(self, vectors: FirmVectors, slot, idx, *, adaptation, tenure, shock):
        """Perceived value of customers ``idx`` at the firms in ``slot``."""
        pop, market = self.customers, self.config.market
        return rules.perceived_value(
            quality=vectors.quality[slot],
            digital_quality=vectors.digital_quality[slot],
            digital_weight=market.digital_weight,
            need_distance=pop.need_distance[idx],
            personalization_need=pop.personalization_need[idx],
            personalization_weight=market.personalization_weight,
            adaptation=adaptation,
            price=vectors.price[slot],
            price_sensitivity=pop.price_sensitivity[idx],
            relational_benefit=vectors.relational_benefit[slot],
            relational_tau=vectors.relational_tau[slot],
            involvement=pop.involvement[idx],
            tenure=tenure,
            shock=shock,
        )

    def _run_policies(self, t: int):
        """Let every firm's policies touch customers within budget; return their effects.

        Returns ``(effects, touched)``: ``effects`` is ``None`` when no customer
        was touched this period (so the rules run exactly as without
        policies), and ``touched`` lists ``(row, customers, stage_before)``
        for the policy ledger.
        """
        pop, effects, touched = self.customers, None, []
        for run in self.policies:
            params = run.spec.params
            mask = run.policy.eligible(pop, run.firm, run.stages, t, params, run.segment)
            idx = np.flatnonzero(mask)
            cost = params["cost_per_contact"]
            cap = affordable(run.spec.budget, cost)
            exhausted = idx.size > cap
            if exhausted:
                k = int(cap)
                if k == 0:
                    idx = idx[:0]
                elif run.policy.ranked:
                    idx = idx[np.argsort(-run.policy.priority(pop, idx), kind="stable")[:k]]
                else:
                    idx = np.sort(self.policy_rng.choice(idx, size=k, replace=False))
            row = {"period": t, "firm": self.firms[run.firm].name, "policy": run.spec.name,
                   "eligible": int(mask.sum()), "touched": idx.size,
                   "spend": idx.size * cost, "budget_exhausted": bool(exhausted),
                   "recovered": 0, "won_back": 0}
            self._policy_rows.append(row)
            self._flows["policy_cost"][run.firm] += idx.size * cost
            if not idx.size:
                continue
            if effects is None:
                effects = Effects.none(len(pop))
            run.policy.apply(effects, idx, pop, params)
            effects.cost[idx] += cost
            touched.append((row, idx, pop.stage[idx].copy()))
            if isinstance(run.policy, WinBack):
                back = run.policy.accepts(self.policy_rng, idx, params)
                self._start_relationships(back, run.firm, t)
                row["won_back"] = back.size
                self._flows["acquisitions_win_back"][run.firm] += back.size
        return effects, touched

    def _count_policy_recoveries(self, touched) -> None:
        stage = self.customers.stage
        for row, idx, before in touched:
            now = stage[idx]
            row["recovered"] = int(np.sum((before == Stage.DECLINE) & (now >= Stage.EXPLORATION)
                                          & (now < Stage.DECLINE)))

    def _experience(self, vectors: FirmVectors, effects: Effects | None, active) -> None:
        pop = self.customers
        # the whole period's draws first (the stream does not depend on the blocks)
        normal = self.rng.standard_normal(len(pop), dtype=F32)
        for block in blocks(len(pop)):
            self._experience_block(vectors, effects, active[block], normal[block], block)

    def _experience_block(self, vectors: FirmVectors, effects: Effects | None, active, normal,
                          block: slice) -> None:
        """:meth:`_experience` for the customers in ``block`` (a slice)."""
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        slot = self._slot[block]
        shock = vectors.experience_noise[slot] * normal
        value = self._value_at(vectors, slot, block, adaptation=vectors.adaptation[slot],
                               tenure=pop.tenure[block], shock=shock)
        build = vectors.switching_cost_build[slot] * pop.involvement[block]
        if effects is not None:
            value = value + effects.value_bonus[block]
            build = build + effects.switching_cost_bonus[block]
        expectation = pop.expectation[block]
        target = rules.satisfaction_target(
            value, expectation,
            at_confirmation=relationship.satisfaction_at_confirmation,
            sensitivity=relationship.satisfaction_sensitivity,
        )
        satisfaction = rules.update_satisfaction(pop.satisfaction[block], target,
                                                 rate=relationship.satisfaction_rate)
        expectation = rules.update_expectation(
            expectation, value, adapt_rate=market.expectation_adapt_rate,
            drift=market.expectation_drift if effects is None
            else market.expectation_drift + effects.expectation_push[block])
        trust = rules.update_trust(
            pop.trust[block], satisfaction, vectors.reputation[slot],
            build_rate=vectors.trust_build[slot],
            break_rate=relationship.trust_break_rate,
            reputation_weight=market.reputation_weight,
        )
        switching_cost = rules.update_switching_cost(
            pop.switching_cost[block], build_rate=np.minimum(build, 1.0),
            floor=market.switching_cost_floor, decay=market.switching_cost_decay,
        )
        for name, new in (("value", value), ("satisfaction", satisfaction),
                          ("expectation", expectation), ("trust", trust),
                          ("switching_cost", switching_cost)):
            current = getattr(pop, name)[block]
            current[...] = rules.select(active, new.astype(current.dtype, copy=False), current)

    def _refresh_slots(self) -> None:
        """Recompute each customer's firm slot (``firm + 1``; 0: no firm) after firms changed.

        Computed once per change of ``customers.firm`` (start of the step, after
        defection, after acquisition) instead of in every per-firm sum.
        """
        self._slot = self.customers.firm.astype(np.intp) + 1

    def _advocates(self) -> np.ndarray:
        """Advocates: stable customers at or above the satisfied threshold (they refer)."""
        pop = self.customers
        return (pop.stage == Stage.STABILITY) & (
            pop.satisfaction >= self.config.simulation.satisfied_threshold)

    def _per_firm(self, weights=None, where=None) -> np.ndarray:
        """Sum ``weights`` (or count) over each firm's customers, optionally masked.

        ``np.bincount`` sums in float64 whatever the weights' dtype, so float32
        weights need no copy.
        """
        slot = self._slot
        if where is not None:
            if weights is None:  # counts: customers outside ``where`` go to slot 0, dropped
                slot = slot * where
            else:
                slot, weights = slot[where], weights[where]
        return np.bincount(slot, weights=weights, minlength=len(self.firms) + 1)[1:]

    def _account(self, vectors: FirmVectors, effects: Effects | None, active, t: int) -> None:
        pop, simulation = self.customers, self.config.simulation
        slot = self._slot
        price, wallet = vectors.price[slot], self.tables.wallet_share.take(pop.stage)
        serve = rules.select(active, vectors.serve_cost[slot], F32(0.0))
        if effects is not None:
            price = price * effects.price_multiplier
            wallet = wallet * effects.wallet_multiplier
        sales = rules.revenue(pop.spend, price, wallet)
        benefit = rules.select(self._advocates(), vectors.advocate_value[slot], F32(0.0))
        profit = vectors.margin[slot] * sales - serve
        discount = (1.0 + simulation.discount_rate) ** -t
        pop.revenue_to_date += sales
        # a customer's CLV bears what the firm's policies spent on it this period
        spent = 0.0 if effects is None else rules.select(active, effects.cost, F32(0.0))
        clv_increment = ((profit - spent + benefit) * discount).astype(F32)
        pop.clv += clv_increment
        if self._transactions is not None:  # the contract of sim.transactions
            buyers = np.flatnonzero(active)
            self._transactions.record(t, buyers, pop.firm[buyers], pop.acquired_period[buyers],
                                      sales[buyers], clv_increment[buyers])
        flows = self._flows
        flows["revenue"] = self._per_firm(sales)
        flows["serve_cost"] = self._per_firm(serve)
        flows["referral_value"] = self._per_firm(benefit)
        # acquisition spend is subtracted in _acquire
        flows["profit"] = self._per_firm(profit) - flows["policy_cost"]

    def _move_stages(self, effects: Effects | None, active) -> np.ndarray:
        pop = self.customers
        stage = pop.stage
        uniform = self.rng.random(len(pop), dtype=F32)
        new = np.empty_like(stage)
        for block in blocks(len(pop)):
            new[block] = self._next_stage_block(effects, uniform[block], block)
        in_decline = stage == Stage.DECLINE
        leaving = active & (new == Stage.EXITED)
        entered_decline = (new == Stage.DECLINE) & ~in_decline
        flows = self._flows
        moved_up = active & (new == stage + 1) & (new <= Stage.STABILITY)
        flows["advances"] = self._per_firm(where=moved_up)
        flows["declines"] = self._per_firm(where=entered_decline)
        flows["recoveries"] = self._per_firm(where=in_decline & active & (new < Stage.DECLINE))

        pop.stage_before_decline[entered_decline] = stage[entered_decline]
        changed = new != stage
        pop.stage_age[...] = rules.select(changed, 0, pop.stage_age + active.astype(np.int16))
        pop.tenure += active.astype(np.int16)
        pop.stability_periods += (active & (new == Stage.STABILITY)).astype(np.int16)
        np.maximum(pop.deepest_stage, rules.select(new <= Stage.STABILITY, new, 0),
                   out=pop.deepest_stage, casting="unsafe")
        # exits are carried out in _defect, which also decides where the customer goes
        pop.stage[...] = rules.select(leaving, pop.stage, new)
        return leaving

    def _next_stage_block(self, effects: Effects | None, uniform, block: slice) -> np.ndarray:
        """The stage each customer in ``block`` (a slice) moves to this period."""
        pop, relationship, market = self.customers, self.config.relationship, self.config.market
        stage, switching_cost = pop.stage[block], pop.switching_cost[block]
        utility = rules.satisfaction_utility(pop.satisfaction[block],
                                             convexity=relationship.satisfaction_convexity)
        loyalty = rules.loyalty_drive(pop.value[block], utility, pop.trust[block], switching_cost,
                                      self.tables.loyalty_weights.take(stage, axis=0))
        probabilities = transition_probabilities(
            stage, pop.stage_age[block], loyalty, switching_cost,
            advance_threshold=self.tables.advance_threshold,
            decline_threshold=relationship.decline_threshold,
            recovery_threshold=relationship.recovery_threshold,
            steepness=relationship.steepness,
            advance_rate=relationship.advance_rate,
            decline_rate=relationship.decline_rate,
            recovery_rate=relationship.recovery_rate if effects is None
            else relationship.recovery_rate + effects.recovery_bonus[block],
            min_stage_age=self.tables.min_stage_age,
            exit_rate=relationship.exit_rate,
            repair_window=market.repair_window,
            switching_cost_buffer=relationship.switching_cost_buffer,
            overdue_exit_multiplier=relationship.overdue_exit_multiplier,
        )
        return next_stage(stage, pop.stage_before_decline[block], uniform, *probabilities)

    def _defect(self, vectors: FirmVectors, leaving: np.ndarray, t: int) -> None:
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        rng = self.rng
        n = len(pop)
        search = np.minimum(market.search_probability * pop.churn_propensity, 1.0)
        searching = is_active(pop.stage) & (rng.random(n, dtype=F32) < search)
        candidates = np.flatnonzero(searching | leaving)
        k = candidates.size
        current = pop.firm[candidates].astype(np.intp)
        current_adaptation = vectors.adaptation[current + 1]

        best_value = np.full(k, market.outside_value, dtype=F32)
        best_firm = np.full(k, NO_FIRM, dtype=np.intp)
        for j in range(len(self.firms)):
            slot = np.full(k, j + 1)
            visible = (rng.random(k, dtype=F32) < market.rival_visibility) & (current != j)
            adaptation = rules.rival_adaptation(vectors.adaptation[j + 1], current_adaptation,
                                                market.imitation)
            shock = vectors.experience_noise[j + 1] * rng.standard_normal(k, dtype=F32)
            value = self._value_at(vectors, slot, candidates, adaptation=adaptation, tenure=0.0,
                                   shock=shock)
            better = visible & (value > best_value)
            best_value = np.where(better, value, best_value)
            best_firm = np.where(better, j, best_firm)

        probability = rules.defection_probability(
            best_value - pop.value[candidates],
            pop.switching_cost[candidates],
            pop.trust[candidates],
            search_probability=1.0,  # these customers did search
            hurdle=relationship.defection_hurdle,
            switching_cost_weight=relationship.defection_switching_cost_weight,
            trust_weight=relationship.defection_trust_weight,
            temperature=relationship.defection_temperature,
        )
        defects = leaving[candidates] | (rng.random(k, dtype=F32) < probability)
        # a declining customer who exits goes to a rival only if the rival beats
        # leaving the market by more than the cost of switching to it
        barrier = relationship.defection_switching_cost_weight * pop.switching_cost[candidates]
        stays_out = leaving[candidates] & (best_value - barrier <= market.outside_value)
        best_firm = np.where(stays_out, NO_FIRM, best_firm)
        leavers, destination = candidates[defects], best_firm[defects]
        self._end_relationships(leavers, destination, leaving[leavers])
        to_rival = destination != NO_FIRM
        self._start_relationships(leavers[to_rival], destination[to_rival], t)
        self._flows["acquisitions_rival"] = np.bincount(destination[to_rival],
                                                        minlength=len(self.firms))
        out = leavers[~to_rival]
        pop.firm[out] = NO_FIRM
        pop.stage[out] = Stage.EXITED

    def _end_relationships(self, leavers, destination, from_decline) -> None:
        """Book the end of these customers' relationships with their current firms."""
        pop, simulation = self.customers, self.config.simulation
        n_firms = len(self.firms)
        old = pop.firm[leavers].astype(np.intp)
        flows = self._flows

        def count(mask=None, weights=None):
            firms = old if mask is None else old[mask]
            w = weights if weights is None or mask is None else weights[mask]
            return np.bincount(firms, weights=w, minlength=n_firms)

        flows["defections"] = count()
        stage = pop.stage[leavers]
        for name in ("exploration", "formation", "stability", "decline"):
            flows[f"defections_{name}"] = count(stage == Stage[name.upper()])
        flows["defections_rival"] = count(destination != NO_FIRM)
        flows["defections_market"] = count(destination == NO_FIRM)
        flows["exits_from_decline"] = count(from_decline)
        flows["satisfied_defectors"] = count(
            pop.satisfaction[leavers] >= simulation.satisfied_threshold)
        flows["ended_clv"] = count(weights=pop.clv[leavers].astype(np.float64))
        types = trajectory_type(pop.deepest_stage[leavers], pop.stability_periods[leavers],
                                simulation.long_stability)
        for trajectory in Trajectory:
            flows[f"trajectory_{trajectory.name}"] = count(types == trajectory)
        pop.last_firm[leavers] = old
        pop.left_period[leavers] = self.steps

    def _start_relationships(self, idx, firm_codes, t: int) -> None:
        """Make customers ``idx`` new exploration-stage customers of ``firm_codes``."""
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        reputation = np.array([f.reputation for f in self.firms], dtype=F32)
        pop.firm[idx] = firm_codes
        pop.stage[idx] = Stage.EXPLORATION
        pop.stage_before_decline[idx] = Stage.EXPLORATION
        pop.deepest_stage[idx] = Stage.EXPLORATION
        pop.stage_age[idx] = 0
        pop.tenure[idx] = 0
        pop.stability_periods[idx] = 0
        pop.acquired_period[idx] = t
        pop.satisfaction[idx] = relationship.satisfaction_at_confirmation
        pop.trust[idx] = ((1.0 - market.reputation_weight) * relationship.initial_trust
                          + market.reputation_weight * reputation[firm_codes])
        pop.switching_cost[idx] = market.switching_cost_floor
        pop.revenue_to_date[idx] = 0.0
        pop.clv[idx] = 0.0

    def _acquire(self, t: int) -> None:
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        rng, flows = self.rng, self._flows
        prospects = np.flatnonzero(pop.stage == Stage.PROSPECT)
        customers_start = self.ledger.get("customers")
        detractors = self._per_firm(where=pop.stage == Stage.DECLINE) + flows["defections"]
        damping = rules.word_of_mouth_factor(detractors, customers_start,
                                             strength=market.negative_word_of_mouth)
        advocates = self._per_firm(where=self._advocates())
        rates = np.array([f.actions.acquisition_rate for f in self.firms])
        expected = np.concatenate([
            rates * prospects.size * damping,
            rules.expected_referrals(advocates, referral_rate=relationship.referral_rate,
                                     reach=market.word_of_mouth_reach) * damping,
        ])
        wanted = rng.poisson(expected)
        if wanted.sum() > prospects.size:  # not enough prospects: share them out fairly
            wanted = rng.multivariate_hypergeometric(wanted, prospects.size)
        chosen = rng.choice(prospects, size=int(wanted.sum()), replace=False)
        n_firms = len(self.firms)
        codes = np.repeat(np.tile(np.arange(n_firms), 2), wanted)
        self._start_relationships(chosen, codes, t)
        by_spend, by_referral = wanted[:n_firms], wanted[n_firms:]
        spend = by_spend * np.array([f.params.acquisition_cost for f in self.firms])
        flows["acquisitions_spend"] = by_spend
        flows["acquisitions_referral"] = by_referral
        flows["acquisitions"] = (by_spend + by_referral + flows["acquisitions_rival"]
                                 + flows["acquisitions_win_back"])
        flows["acquisition_spend"] = spend
        flows["profit"] = flows["profit"] - spend

    def _reenter(self) -> None:
        pop = self.customers
        out = np.flatnonzero(pop.stage == Stage.EXITED)
        back = out[self.rng.random(out.size, dtype=F32) < self.config.market.reentry_rate]
        pop.stage[back] = Stage.PROSPECT
        self._reentries = back.size

    def _update_reputation(self) -> None:
        smoothing = self.config.relationship.reputation_smoothing
        customers = self._per_firm()
        satisfaction = self._per_firm(self.customers.satisfaction)
        for firm, n, total in zip(self.firms, customers, satisfaction, strict=True):
            if n:
                firm.reputation += smoothing * (total / n - firm.reputation)

    # ------------------------------------------------------------------
    # recording
    # ------------------------------------------------------------------

    def _record(self, period: int) -> None:
        pop, market, simulation = self.customers, self.config.market, self.config.simulation
        n_firms = len(self.firms)
        slot = self._slot
        by_stage = np.bincount(slot * _N_STAGES + pop.stage,
                               minlength=(n_firms + 1) * _N_STAGES).reshape(-1, _N_STAGES)[1:]
        customers = by_stage.sum(axis=1)
        flows = self._flows or {name: np.zeros(n_firms) for name in FIRM_COLUMNS}
        customers_start = self.ledger.get("customers") if period > 0 else customers
        retained = customers_start - flows["defections"]
        with np.errstate(invalid="ignore", divide="ignore"):
            retention = np.where(customers_start > 0, retained / customers_start, np.nan)

            def mean(values):
                return self._per_firm(values) / customers

            misfit = market.personalization_weight * pop.need_distance * pop.personalization_need
            means = {
                "mean_value": mean(pop.value),
                "mean_expectation": mean(pop.expectation),
                "mean_satisfaction": mean(pop.satisfaction),
                "mean_trust": mean(pop.trust),
                "mean_switching_cost": mean(pop.switching_cost),
                "mean_misfit": mean(misfit),
            }
        cost = flows["serve_cost"] + flows["acquisition_spend"] + flows["policy_cost"]
        values = {
            **flows,
            **means,
            "customers": customers,
            "exploration": by_stage[:, Stage.EXPLORATION],
            "formation": by_stage[:, Stage.FORMATION],
            "stability": by_stage[:, Stage.STABILITY],
            "decline": by_stage[:, Stage.DECLINE],
            "advocates": self._per_firm(where=self._advocates()),
            "customers_start": customers_start,
            "retained": retained,
            "retention": retention,
            "cost": cost,
            "discounted_profit": flows["profit"] * (1.0 + simulation.discount_rate) ** -period,
            "reputation": [f.reputation for f in self.firms],
            "acquisition_rate": [f.actions.acquisition_rate for f in self.firms],
            "relationship_effort": [f.actions.relationship_effort for f in self.firms],
            "adaptation": [f.actions.adaptation for f in self.firms],
        }
        stage_counts = np.bincount(pop.stage, minlength=_N_STAGES)
        self.ledger.write_cohorts(period, pop.firm, pop.acquired_period)
        self.ledger.write(period, values, {
            "prospects": stage_counts[Stage.PROSPECT],
            "out_of_market": stage_counts[Stage.EXITED],
            "reentries": getattr(self, "_reentries", 0),
        })
        self._snapshot_followed()

    def _snapshot_followed(self) -> None:
        if not self._followed.size:
            return
        pop, ids = self.customers, self._followed
        names = np.array([*(f.name for f in self.firms), None], dtype=object)
        snapshot = {"period": self.steps, "customer": ids}
        for column in HISTORY_COLUMNS:
            snapshot[column] = getattr(pop, column)[ids]
        snapshot["stage"] = np.array(STAGE_NAMES)[snapshot["stage"]]
        snapshot["firm"] = names[snapshot["firm"]]
        self._history.append(pd.DataFrame(snapshot))
