"""The crm-sim model: customers as arrays, firms as Mesa agents, one schedule."""

from dataclasses import dataclass, fields

import mesa
import numpy as np
import pandas as pd

from . import kernel, rules
from .config import Config, default_config
from .firm import Firm
from .ledger import FIRM_COLUMNS, Ledger
from .policies import Effects, WinBack, affordable, get_policy
from .population import Population
from .stages import PROSPECT, STAGE_NAMES, Stage, Trajectory, is_active
from .transactions import TransactionLog

F32 = np.float32
_N_STAGES = len(Stage)

_LIVE_FLOWS = {
    "revenue": kernel.REVENUE, "serve_cost": kernel.SERVE_COST,
    "referral_value": kernel.REFERRAL_VALUE, "advances": kernel.ADVANCES,
    "declines": kernel.DECLINES, "recoveries": kernel.RECOVERIES,
    "defections": kernel.DEFECTIONS,
    **{f"defections_{stage.name.lower()}": kernel.DEFECTIONS_BY_STAGE + stage - 1
       for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)},
    "defections_rival": kernel.DEFECTIONS_RIVAL, "defections_market": kernel.DEFECTIONS_MARKET,
    "exits_from_decline": kernel.EXITS_FROM_DECLINE,
    "satisfied_defectors": kernel.SATISFIED_DEFECTORS, "ended_clv": kernel.ENDED_CLV,
    **{f"trajectory_{kind.name}": kernel.TRAJECTORY + kind - 1 for kind in Trajectory},
    "acquisitions_rival": kernel.ACQUISITIONS_RIVAL,
}
"""Ledger flows read straight off :func:`sim.kernel.live_period`'s per-firm sums."""

_MEANS = {
    "value": kernel.SUM_VALUE, "expectation": kernel.SUM_EXPECTATION,
    "satisfaction": kernel.SUM_SATISFACTION, "trust": kernel.SUM_TRUST,
    "switching_cost": kernel.SUM_SWITCHING_COST, "misfit": kernel.SUM_MISFIT,
}
"""Per-firm means in the record, from :func:`sim.kernel.settle_period`'s sums."""

HISTORY_COLUMNS = (
    "stage", "firm", "stage_age", "tenure", "expectation", "value", "satisfaction", "trust",
    "switching_cost", "revenue_to_date", "clv",
)


@dataclass(frozen=True)
class StageTables:
    """Per-stage lookup tables (indexed by :class:`Stage` code), built from the config.

    The kernel reads them per customer (``table[stage]``); from numpy, look
    them up with ``table.take(stage, axis=0)``: fancy indexing with the int8
    stage codes is several times slower.
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
    ``CRMModel(config, rng=42)``. Randomness comes only from ``model.rng``:
    it draws the population, the acquisitions and the kernel's key, from
    which every per-customer draw of steps 2-5 and 7 is a counter-based hash
    (:mod:`sim.draws`), the same whatever the number of threads.

    Steps 2-5 run for all customers in one compiled pass
    (:func:`sim.kernel.live_period`), customer by customer, calling the rule
    functions of :mod:`sim.rules` and :mod:`sim.stages`; step 7 and the
    per-firm sums of step 8 in a second (:func:`sim.kernel.settle_period`).

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
        self._stage_rows = kernel.stage_rows({f.name: getattr(self.tables, f.name)
                                              for f in fields(self.tables)})
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
        # the kernels' inputs and work space, allocated once
        self._key = int(self.rng.integers(2**63))  # names every draw of the kernels (sim.draws)
        self._parameters = self._parameters_of(self.config)
        pop = self.customers
        self._columns = kernel.Customers(*(getattr(pop, name) for name in kernel.Customers._fields))
        empty = np.empty(0, dtype=F32)
        # no policy this period: each block of customers reads the same neutral effects
        self._no_modifiers = kernel.Modifiers(False, *(getattr(Effects.none(kernel.BLOCK), name)
                                                       for name in kernel.Modifiers._fields[1:]))
        self._empty_codes = np.empty(0, dtype=pop.stage.dtype)
        self._empty_money = empty
        chunks, slots = kernel.chunks(len(pop)), len(self.firms) + 1
        self._live_sums = np.zeros((chunks, slots, kernel.LIVE_FIELDS))
        self._settle_sums = np.zeros((chunks, slots, kernel.SETTLE_FIELDS))
        self._cohort_counts = np.zeros((chunks, *self.ledger.cohorts.shape[1:]), dtype=np.int64)
        self._after_defection = np.zeros((len(self.firms), 2))
        self._record(0, *self._settle(0, reentry_rate=0.0))

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
        self._live(vectors, effects, touched, t)
        self._acquire(t)
        sums, cohorts = self._settle(t, self.config.market.reentry_rate)
        self._update_reputation(sums)
        self._record(t, sums, cohorts)
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

    def _kernel_firms(self, vectors: FirmVectors) -> kernel.FirmSlots:
        """This period's firm vectors and the stage tables, as the kernel takes them."""
        return kernel.firm_slots({f.name: getattr(vectors, f.name) for f in fields(vectors)},
                                 self._stage_rows)

    def _kernel_parameters(self, t: int) -> kernel.Parameters:
        """The scalar parameters of period ``t``, as the kernel takes them."""
        return self._parameters._replace(
            discount=(1.0 + self.config.simulation.discount_rate) ** -t)

    @staticmethod
    def _parameters_of(config: Config) -> kernel.Parameters:
        """:class:`sim.kernel.Parameters` from the config's sections (``discount`` of period 0)."""
        sections = (config.market, config.relationship, config.simulation)
        values = {}
        for name in kernel.Parameters._fields:
            if name != "discount":
                values[name] = float(getattr(next(s for s in sections if hasattr(s, name)), name))
        return kernel.Parameters(**values, discount=1.0)

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
                self._start_relationships(back, np.full(back.size, run.firm), t)
                row["won_back"] = back.size
                self._flows["acquisitions_win_back"][run.firm] += back.size
        return effects, touched

    def _live(self, vectors: FirmVectors, effects: Effects | None, touched, t: int) -> None:
        """Steps 2-5 for every active customer, in the compiled kernel; book the flows."""
        pop, n = self.customers, len(self.customers)
        if effects is None:
            modifiers, moved = self._no_modifiers, self._empty_codes
        else:
            modifiers = kernel.Modifiers(True, *(getattr(effects, name)
                                                 for name in kernel.Modifiers._fields[1:]))
            moved = pop.stage.copy()
        logging = self._transactions is not None
        if logging:  # the contract of sim.transactions: who bought, from whom, at what
            buyers = np.flatnonzero(is_active(pop.stage))
            firm, acquired = pop.firm[buyers], pop.acquired_period[buyers]
            sales, increment = np.zeros(n, dtype=F32), np.zeros(n, dtype=F32)
        else:
            sales = increment = self._empty_money
        kernel.live_period(self._key, t, self._columns, self._kernel_firms(vectors),
                           self._kernel_parameters(t), modifiers,
                           kernel.growth_table(vectors.relational_tau, t), self._live_sums,
                           moved, sales, increment)
        if logging:
            self._transactions.record(t, buyers, firm, acquired, sales[buyers], increment[buyers])
        sums = self._live_sums.sum(axis=0)[1:]  # per firm, chunks added in order
        flows = self._flows
        for name, column in _LIVE_FLOWS.items():
            flows[name] = sums[:, column]
        flows["profit"] = sums[:, kernel.PROFIT] - flows["policy_cost"]
        self._after_defection = sums[:, [kernel.DECLINING, kernel.ADVOCATES_AFTER]]
        for row, idx, before in touched:  # touched declining customers who recovered
            now = moved[idx]
            row["recovered"] = int(np.sum((before == Stage.DECLINE) & (now >= Stage.EXPLORATION)
                                          & (now < Stage.DECLINE)))

    def _start_relationships(self, idx, firm_codes, t: int) -> None:
        """Make customers ``idx`` new exploration-stage customers of ``firm_codes``."""
        reputation = np.array([0.0, *(f.reputation for f in self.firms)], dtype=F32)
        kernel.start_relationships(self._columns, self._kernel_parameters(t),
                                   np.asarray(idx, dtype=np.intp),
                                   np.asarray(firm_codes, dtype=np.intp), reputation, t)

    def _acquire(self, t: int) -> None:
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        rng, flows = self.rng, self._flows
        prospects = np.flatnonzero(pop.stage == PROSPECT)  # a plain int (see stages)
        customers_start = self.ledger.get("customers")
        declining, advocates = self._after_defection.T
        damping = rules.word_of_mouth_factor(declining + flows["defections"], customers_start,
                                             strength=market.negative_word_of_mouth)
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

    def _settle(self, t: int, reentry_rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Step 7 (re-entry), then the record's per-firm sums (by slot) and cohort counts."""
        market, simulation = self.config.market, self.config.simulation
        kernel.settle_period(self._key, t, self._columns, float(reentry_rate),
                             float(market.personalization_weight),
                             float(simulation.satisfied_threshold), self.ledger.cohort_of,
                             self._settle_sums, self._cohort_counts)
        return self._settle_sums.sum(axis=0), self._cohort_counts.sum(axis=0)

    def _update_reputation(self, sums: np.ndarray) -> None:
        smoothing = self.config.relationship.reputation_smoothing
        customers = sums[1:, :_N_STAGES].sum(axis=1)
        satisfaction = sums[1:, kernel.SUM_SATISFACTION]
        for firm, n, total in zip(self.firms, customers, satisfaction, strict=True):
            if n:
                firm.reputation += smoothing * (total / n - firm.reputation)

    # ------------------------------------------------------------------
    # recording
    # ------------------------------------------------------------------

    def _record(self, period: int, sums: np.ndarray, cohorts: np.ndarray) -> None:
        """Write the period's ledger rows from the flows and :meth:`_settle`'s sums and cohorts."""
        simulation = self.config.simulation
        n_firms = len(self.firms)
        by_stage = sums[1:, :_N_STAGES]
        customers = by_stage.sum(axis=1)
        flows = self._flows or {name: np.zeros(n_firms) for name in FIRM_COLUMNS}
        customers_start = self.ledger.get("customers") if period > 0 else customers
        retained = customers_start - flows["defections"]
        with np.errstate(invalid="ignore", divide="ignore"):
            retention = np.where(customers_start > 0, retained / customers_start, np.nan)
            means = {f"mean_{name}": sums[1:, column] / customers
                     for name, column in _MEANS.items()}
        cost = flows["serve_cost"] + flows["acquisition_spend"] + flows["policy_cost"]
        values = {
            **flows,
            **means,
            "customers": customers,
            "exploration": by_stage[:, Stage.EXPLORATION],
            "formation": by_stage[:, Stage.FORMATION],
            "stability": by_stage[:, Stage.STABILITY],
            "decline": by_stage[:, Stage.DECLINE],
            "advocates": sums[1:, kernel.ADVOCATES],
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
        stage_counts = sums[:, :_N_STAGES].sum(axis=0)
        self.ledger.write_cohort_counts(period, cohorts)
        self.ledger.write(period, values, {
            "prospects": stage_counts[Stage.PROSPECT],
            "out_of_market": stage_counts[Stage.EXITED],
            "reentries": sums[0, kernel.REENTRIES],
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


def warm_up() -> float:
    """Load the engine's compiled kernels now; return the seconds it took.

    A 100-customer model runs one period. numba loads the kernels' machine
    code from its cache (well under a second) or, the first time after
    installing or editing a rule, compiles them (about 10 s). Call it before
    timing, or before a page that should answer at once.
    """
    import time

    start = time.perf_counter()
    CRMModel(default_config(simulation={"customers": 100, "periods": 1}), rng=0).run()
    return time.perf_counter() - start

