"""The crm-sim model: customers as arrays, firms as Mesa agents, one schedule."""

from dataclasses import dataclass, fields
from functools import partial

import mesa
import numpy as np
import pandas as pd

from . import kernel, rules
from .config import Config, default_config
from .firm import Firm
from .followed import HISTORY_COLUMNS, MARKETING, REFERRAL, WIN_BACK, FollowedHistory
from .ledger import FIRM_COLUMNS, Ledger
from .paths import config_from_keywords
from .policies import Effects, WinBack, affordable, get_policy
from .population import NO_FIRM, Population
from .relationships import RelationshipLog
from .stages import STAGE_NAMES, Stage, Trajectory, is_active
from .transactions import TransactionLog

F32 = np.float32
_N_STAGES = len(Stage)

_LIVE_FLOWS = {
    "revenue": kernel.REVENUE,
    "serve_cost": kernel.SERVE_COST,
    "contribution": kernel.PROFIT,
    "occasions": kernel.OCCASIONS,
    "advances": kernel.ADVANCES,
    "declines": kernel.DECLINES,
    "recoveries": kernel.RECOVERIES,
    "defections": kernel.DEFECTIONS,
    **{
        f"defections_{stage.name.lower()}": kernel.DEFECTIONS_BY_STAGE + stage - 1
        for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
    },
    "defections_rival": kernel.DEFECTIONS_RIVAL,
    "defections_market": kernel.DEFECTIONS_MARKET,
    "defections_life": kernel.DEFECTIONS_LIFE,
    "exits_from_decline": kernel.EXITS_FROM_DECLINE,
    "satisfied_defectors": kernel.SATISFIED_DEFECTORS,
    "ended_clv": kernel.ENDED_CLV,
    **{f"trajectory_{kind.name}": kernel.TRAJECTORY + kind - 1 for kind in Trajectory},
    "acquisitions_rival": kernel.ACQUISITIONS_RIVAL,
}
"""Ledger flows read straight off :func:`sim.kernel.live_period`'s per-firm sums."""

_MEANS = {
    "value": kernel.SUM_VALUE,
    "expectation": kernel.SUM_EXPECTATION,
    "satisfaction": kernel.SUM_SATISFACTION,
    "trust": kernel.SUM_TRUST,
    "switching_cost": kernel.SUM_SWITCHING_COST,
    "misfit": kernel.SUM_MISFIT,
}
"""Per-firm means in the record, from :func:`sim.kernel.settle_period`'s sums."""


@dataclass(frozen=True)
class StageTables:
    """Per-stage lookup tables (indexed by :class:`Stage` code), built from the config.

    The kernel reads them per customer (``table[stage]``); from numpy, look
    them up with ``table.take(stage, axis=0)``: fancy indexing with the int8
    stage codes is several times slower.
    """

    loyalty_weights: np.ndarray  # (stages, 4): value, satisfaction, trust, switching cost
    wallet_share: np.ndarray
    purchase_depth: np.ndarray
    advance_threshold: np.ndarray
    min_stage_age: np.ndarray

    @classmethod
    def from_config(cls, config: Config) -> "StageTables":
        """Spread the per-stage fields of the config into arrays over all stages."""
        weights = np.zeros((_N_STAGES, 4), dtype=F32)
        wallet = np.zeros(_N_STAGES, dtype=F32)
        depth = np.zeros(_N_STAGES, dtype=F32)
        for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE):
            name = stage.name.lower()
            w = getattr(config.market.stage_weights, name)
            weights[stage] = (w.value, w.satisfaction, w.trust, w.switching_cost)
            wallet[stage] = getattr(config.relationship.wallet_share, name)
            depth[stage] = getattr(config.relationship.purchase_depth, name)
        r = config.relationship
        advance = np.ones(_N_STAGES, dtype=F32)
        advance[Stage.EXPLORATION] = r.advance_threshold_exploration
        advance[Stage.FORMATION] = r.advance_threshold_formation
        min_age = np.zeros(_N_STAGES, dtype=np.int16)
        min_age[Stage.EXPLORATION] = r.min_age_exploration
        min_age[Stage.FORMATION] = r.min_age_formation
        return cls(weights, wallet, depth, advance, min_age)


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
    churn_factor: np.ndarray

    @classmethod
    def from_firms(cls, config: Config, firms) -> "FirmVectors":
        """Slot the firms' parameters and this period's levers (``firm.actions``) into arrays."""
        market, relationship = config.market, config.relationship

        def slots(values):
            return np.array([0.0, *values], dtype=F32)

        params = [f.params for f in firms]
        actions = [f.actions for f in firms]
        stretch = [
            max(0.0, a.adaptation - p.adaptation) for a, p in zip(actions, params, strict=True)
        ]
        return cls(
            quality=slots(p.quality for p in params),
            digital_quality=slots(p.digital_quality for p in params),
            price=slots(p.price for p in params),
            adaptation=slots(a.adaptation for a in actions),
            relational_benefit=slots(p.relational_benefit for p in params),
            relational_tau=np.array([1.0, *(p.relational_tau for p in params)], dtype=F32),
            experience_noise=slots(p.experience_noise for p in params),
            trust_build=slots(
                relationship.trust_build_rate * p.trust_build * a.relationship_effort
                for p, a in zip(params, actions, strict=True)
            ),
            switching_cost_build=slots(
                min(
                    1.0,
                    market.switching_cost_scale * p.switching_cost_build * a.relationship_effort,
                )
                for p, a in zip(params, actions, strict=True)
            ),
            # flexibility and relationship investment cost money (Storbacka)
            serve_cost=slots(
                p.serve_cost * a.relationship_effort * (1.0 + s)
                for p, a, s in zip(params, actions, stretch, strict=True)
            ),
            margin=slots(p.margin for p in params),
            reputation=slots(f.reputation for f in firms),
            churn_factor=slots(p.churn_factor for p in params),
        )


def model_config(
    config: Config | None, customers, periods, setting, strategies, parameters: dict
) -> Config:
    """The configuration :class:`CRMModel` runs: ``config``, or one built from its keywords.

    Raises:
        TypeError: ``config`` is not a :class:`sim.config.Config` (a dict says what
            to pass instead), both a config and keywords are given, or a keyword
            names no field (:func:`sim.paths.config_from_keywords`).
    """
    keywords = (customers, periods, setting, strategies)
    if config is None:
        if all(k is None for k in keywords) and not parameters:
            return default_config()
        return config_from_keywords(customers, periods, setting, strategies, parameters)
    if isinstance(config, dict):
        raise TypeError(
            "CRMModel() takes a sim.config.Config, not a dict: pass "
            "default_config(**sections), e.g. CRMModel(default_config(simulation="
            '{"customers": 1000}), rng=1), or keywords, e.g. CRMModel(customers=1000, '
            'seed=1, **{"relationship.trust_build_rate": 0.1})'
        )
    if not isinstance(config, Config):
        raise TypeError(f"CRMModel() takes a sim.config.Config, not a {type(config).__name__}")
    if any(k is not None for k in keywords) or parameters:
        raise TypeError(
            "CRMModel() takes a Config or keyword parameters, not both: change the "
            "config with sim.config.replace(config, section={...}) instead"
        )
    return config


REPORTED = (
    "customers",
    "exploration",
    "formation",
    "stability",
    "decline",
    "retention",
    "acquisitions",
    "defections",
    "profit",
)
"""Ledger columns the DataCollector reports per firm each step (:data:`sim.ledger.FIRM_COLUMNS`)."""


def firm_measure(model: "CRMModel", firm: int, column: str) -> float:
    """A model reporter: the ledger's ``column`` for firm number ``firm`` at the current period."""
    return float(model.ledger.get(column)[firm])


def equity_to_date(model: "CRMModel", firm: int) -> float:
    """A model reporter: firm ``firm``'s customer equity realized so far, discounted to period 0.

    The sum of the ledger's ``discounted_profit`` (contribution plus referral
    value less acquisition and policy cost) over the periods run: the equity
    ledger of :func:`analysis.metrics.equity_ledger` without its projected
    remainder, which ``runs.parquet``'s ``customer_equity`` adds at the end.
    """
    ledger = model.ledger
    column = ledger.column["discounted_profit"]
    return float(ledger.firm[: ledger.last_period + 1, firm, column].sum())


def model_reporters(firm_names) -> dict:
    """The DataCollector's model reporters: ``<firm>_<measure>`` for each firm and measure.

    Measures: :data:`REPORTED` and ``equity`` (:func:`equity_to_date`).
    Named, picklable functions (partials), no lambdas.
    """
    reporters = {}
    for index, name in enumerate(firm_names):
        for column in REPORTED:
            reporters[f"{name}_{column}"] = partial(firm_measure, firm=index, column=column)
        reporters[f"{name}_equity"] = partial(equity_to_date, firm=index)
    return reporters


SAMPLE_COLUMNS = tuple(c for c in HISTORY_COLUMNS if c != "identity")
"""Columns of :meth:`CRMModel.customer_records` (besides its index, Step and AgentID)."""


class CRMModel(mesa.Model):
    """Customers move through lifecycle stages while firms run relationship strategies.

    Build it from one :class:`sim.config.Config` and a seed,
    ``CRMModel(config, rng=42)``, or, as Mesa models are built, from keyword
    parameters: ``CRMModel(customers=5000, periods=60, setting="ecommerce",
    strategies=["clasp", "zipper"], seed=42)``, any other field of the
    configuration by its dotted path (``**{"relationship.trust_build_rate":
    0.1}``, or ``relationship__trust_build_rate=0.1``), the rest from
    :func:`sim.config.default_config` (:func:`model_config`). ``seed`` is
    Mesa's other name for ``rng`` (``mesa.batch_run`` passes it): the same
    integer gives the same run. A ``DataCollector`` (``model.datacollector``)
    records per-firm model reporters every step (:func:`model_reporters`),
    and :meth:`customer_records` a sample of ``sample`` customers, when
    ``collect`` is true: by default when the model is built from keywords
    (Mesa's way), not when it is given a Config (the engine's callers, which
    read the ledger; ``collect=True`` turns it on).

    Randomness comes only from ``model.rng``:
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
       accept; one won from a rival ends that relationship first, booked as
       the rival's defection to a rival). Policy draws use their own random
       stream.
    2. **Experience.** Every active customer perceives value ``V`` from its firm
       (with an experience shock); satisfaction moves toward
       ``f(V - E)``, expectation adapts, trust moves toward satisfaction and
       reputation, switching cost builds up and decays.
    3. **Money.** Purchase occasions (a Poisson number at the customer's own
       rate, deeper relationships buy more often), revenue, contribution
       (margin less cost to serve); customers' realized CLV and firms' books
       are updated (and,
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
    7. **Life exits, arrivals and re-entry.** Customers leave the category
       for life reasons (active ones in step 5, the others here, one chance a
       period); each is replaced by a new prospect with fresh traits and
       identity. Some customers who left the market become prospects again.
    8. **Reputation and record.** Firms' reputations follow their customers'
       satisfaction; the ledger records one row per firm.

    Attributes:
        config: the validated configuration.
        datacollector: the ``mesa.DataCollector`` of the model reporters.
        collecting: whether it collects (the ``collect`` keyword).
        customers: the :class:`sim.population.Population` (arrays).
        firms: the :class:`sim.firm.Firm` agents, in config order.
        ledger: the :class:`sim.ledger.Ledger` of per-period, per-firm records.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        customers: int | None = None,
        periods: int | None = None,
        setting: str | None = None,
        strategies=None,
        seed=None,
        rng=None,
        collect: bool | None = None,
        sample: int = 10,
        **parameters,
    ):
        kernel.check_fork_safety()
        if seed is not None and rng is not None:
            raise ValueError("CRMModel() takes seed or rng, not both (seed is rng's other name)")
        super().__init__(rng=seed if seed is not None else rng)
        self.config = model_config(config, customers, periods, setting, strategies, parameters)
        self._build()
        self._record(0, *self._settle(0, reentry_rate=0.0, category_exit_rate=0.0))
        for t in range(1, self.warm_up + 1):  # the market's history before period 0
            self._advance(t)
        if self.warm_up:  # money and CLV count from period 0
            self.customers.clv[:] = 0.0
            self.customers.revenue_to_date[:] = 0.0
        self._start_collecting(config is None if collect is None else collect, sample)

    def _build(self) -> None:
        """The market of ``self.config`` before its first record: customers, firms, work space.

        No kernel runs here unless the market starts settled
        (:meth:`sim.population.Population.settle`).
        """
        relationship = self.config.relationship
        self.customers = Population.generate(self.config, self.rng)
        self.firms = [
            Firm(self, i, params, reputation=relationship.satisfaction_at_confirmation)
            for i, params in enumerate(self.config.firms)
        ]
        simulation = self.config.simulation
        self.warm_up = simulation.warm_up
        self.ledger = Ledger(
            simulation.periods,
            [f.name for f in self.firms],
            [f.params.strategy for f in self.firms],
            warm_up=self.warm_up,
        )
        self.tables = StageTables.from_config(self.config)
        self._stage_rows = kernel.stage_rows(
            {f.name: getattr(self.tables, f.name) for f in fields(self.tables)}
        )
        # policies draw from their own stream: with or without a policy, every
        # other draw is the same (common random numbers)
        self.policy_rng = self.rng.spawn(1)[0]
        # new arrivals' traits, and the purchase log's days, from streams of their own
        self.arrival_rng, self.log_rng = self.rng.spawn(2)
        self._next_identity = len(self.customers)
        self.policies = self._policy_runs()
        self._policy_rows: list[dict] = []
        self._followed = FollowedHistory()
        self._transactions: TransactionLog | None = None
        self._flows: dict[str, np.ndarray] = {}
        # the kernels' inputs and work space, allocated once
        self._key = int(self.rng.integers(2**63))  # names every draw of the kernels (sim.draws)
        pop = self.customers
        if simulation.start == "settled":  # a market that has been running (sim.population)
            pop.settle(self.config, self._key, self._firm_vectors())
        # the longest tenure at the start: the relational growth table reaches past it
        self._longest_start = int(pop.tenure.max(initial=0))
        self._parameters = self._parameters_of(self.config)
        self._relationships = RelationshipLog.off(pop.acquired_period.dtype)
        self._columns = self._kernel_columns()
        self._allocate_scratch()

    def _policy_runs(self) -> list[PolicyRun]:
        """Every firm's configured policies, with their stages and segment as codes."""
        segments = [s.name for s in self.config.customers.segments]
        return [
            PolicyRun(
                firm.index,
                get_policy(spec.name),
                spec,
                np.array([STAGE_NAMES.index(name) for name in spec.stages])
                if spec.stages
                else np.array(get_policy(spec.name).stages),
                None if spec.segment is None else segments.index(spec.segment),
            )
            for firm in self.firms
            for spec in firm.params.policies
        ]

    def _allocate_scratch(self) -> None:
        """The kernel's work space, made once: no policy effects, sums, lists of rows."""
        pop = self.customers
        empty = np.empty(0, dtype=F32)
        # no policy this period: no effect arrays (the kernel reads none, kernel.effect)
        self._no_modifiers = kernel.Modifiers(False, *(None for _ in kernel.Modifiers._fields[1:]))
        self._empty_codes = np.empty(0, dtype=pop.stage.dtype)
        self._empty_money = empty
        chunks, slots = kernel.chunks(len(pop)), len(self.firms) + 1
        self._live_sums = np.zeros((chunks, slots, kernel.LIVE_FIELDS))
        self._policy_ends = np.zeros((slots, kernel.LIVE_FIELDS))  # win-backs from rivals
        self._settle_sums = np.zeros((chunks, slots, kernel.SETTLE_FIELDS))
        # customers by firm slot and acquisition cohort: counted once here, then kept up
        # to date by the kernels at every relationship's start and end
        n_cohorts = self.ledger.cohorts.shape[2]
        served = pop.firm != NO_FIRM
        cell = (pop.firm[served].astype(np.intp) + 1) * n_cohorts + self.ledger.cohort_of[
            pop.acquired_period[served]
        ]
        self._by_cohort = np.bincount(cell, minlength=slots * n_cohorts).reshape(slots, n_cohorts)
        self._cohort_moves = np.zeros((chunks, slots, n_cohorts), dtype=np.int64)
        self._arrived = np.zeros(len(pop), dtype=np.bool_)
        # the kernel's lists of rows (prospects, arrivals): chunk by chunk, see listed_rows
        self._listed = {
            name: (np.empty(len(pop), dtype=np.intp), np.zeros(chunks, dtype=np.intp))
            for name in ("prospects", "arrivals")
        }
        self._empty_occasions = np.empty(0, dtype=np.float64)
        self._after_defection = np.zeros((len(self.firms), 2))

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------

    @property
    def period(self) -> int:
        """Periods simulated so far (0 before the first step; warm-up periods not counted)."""
        return self.steps

    def step(self) -> None:
        """Advance one period (see the class docstring for the order).

        Raises:
            RuntimeError: past ``config.simulation.periods`` (the ledger's size).
        """
        if self.steps > self.config.simulation.periods:
            self.steps -= 1  # Mesa counted a step that does not happen
            raise RuntimeError(
                f"the model has run its {self.config.simulation.periods} "
                "periods; raise simulation.periods to simulate longer"
            )
        self._advance(self.steps + self.warm_up)
        if self.collecting:
            self._collect()
        if self.steps >= self.config.simulation.periods:
            self.running = False

    def _advance(self, t: int) -> None:
        """One period of the schedule at the model's own clock ``t`` (warm-up included).

        Periods ``1..warm_up`` are the warm-up: no policy runs, and the ledger
        keeps only the last of them, as period 0 (without its flows).
        """
        self._followed.new_period()
        self.agents.do("decide")
        vectors = self._firm_vectors()
        self._flows = {name: np.zeros(len(self.firms)) for name in FIRM_COLUMNS}
        effects, touched = self._run_policies(t) if t > self.warm_up else (None, [])
        self._live(vectors, effects, touched, t)
        self._relationships.collect(self.customers, t, self.warm_up)
        self._book_policy_ends()
        self._acquire(t)
        market = self.config.market
        sums, cohorts = self._settle(t, market.reentry_rate, market.category_exit_rate)
        self._arrive()
        self._update_reputation(sums)
        if t == self.warm_up:  # period 0 is a state, not a period of flows
            self._flows = {}
        self._record(max(0, t - self.warm_up), sums, cohorts)

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
        period; ``won_back`` the former customers who came back, of whom
        ``won_back_rival`` left a rival to do so (win-back ``from_rivals``).
        """
        columns = [
            "period",
            "firm",
            "policy",
            "eligible",
            "touched",
            "spend",
            "budget_exhausted",
            "recovered",
            "won_back",
            "won_back_rival",
        ]
        return pd.DataFrame(self._policy_rows, columns=columns)

    def customers_frame(self) -> pd.DataFrame:
        """One row per customer: traits, current firm and stage, determinants, money."""
        pop = self.customers
        firm_names = [f.name for f in self.firms]
        names = np.array([*firm_names, None], dtype=object)  # index -1: no firm
        segments = [s.name for s in self.config.customers.segments]
        frame = pd.DataFrame(
            {
                "customer": pop.identity,
                "segment": pd.Categorical.from_codes(pop.segment, segments),
                "firm": pd.Categorical(names[pop.firm], categories=firm_names),
                "stage": pd.Categorical.from_codes(pop.stage, STAGE_NAMES),
            }
        )
        for column in (
            "need_distance",
            "personalization_need",
            "price_sensitivity",
            "spend",
            "churn_propensity",
            "involvement",
            "purchase_rate",
            "stage_age",
            "tenure",
            "stability_periods",
            "expectation",
            "value",
            "satisfaction",
            "trust",
            "switching_cost",
            "revenue_to_date",
            "clv",
        ):
            frame[column] = getattr(pop, column)
        # relationships begun in the warm-up have a negative start
        frame.insert(
            frame.columns.get_loc("stability_periods") + 1,
            "acquired_period",
            pop.acquired_period.astype(np.int32) - self.warm_up,
        )
        return frame

    def follow(self, customer_ids) -> None:
        """Record the state of the customers in these rows every period from now on (for teaching).

        ``customer_ids`` are row numbers (places in the market). When a
        customer leaves the category, a new arrival takes its row: the
        history's ``identity`` column shows who is in the row. Following
        changes no result (:mod:`sim.followed`).
        """
        ids = np.asarray(customer_ids, dtype=np.intp)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.customers)):
            raise ValueError(f"customer ids must be in [0, {len(self.customers) - 1}]")
        self._followed.add(ids, self.customers.firm)
        self._snapshot_followed()

    def log_transactions(self) -> None:
        """Record every purchase from the next period on (off by default; :mod:`sim.transactions`).

        Customers buy on purchase occasions: the log holds one row per
        occasion, dated to the day, with its share of the period's sales and
        CLV increment as the engine books them. Logging changes no result.
        """
        if self._transactions is None:
            self._transactions = TransactionLog()

    def log_relationships(self) -> None:
        """Record every relationship of the run (off by default; :mod:`sim.relationships`).

        Call it before the first step: the table then holds every relationship
        that ended in the run and every one open at its end. Logging changes
        no result.

        Raises:
            RuntimeError: after the first step (ends already missed).
        """
        if self._relationships.on:
            return
        if self.steps:
            raise RuntimeError("call model.log_relationships() before the first step")
        pop = self.customers
        self._relationships = RelationshipLog(len(pop), pop.acquired_period.dtype)
        self._relationships.begin(pop, self.warm_up)  # the warm-up ran in the constructor
        self._columns = self._kernel_columns()

    def relationships_frame(self) -> pd.DataFrame:
        """One row per relationship: those that ended, and those open now (censored here).

        Columns :data:`sim.relationships.COLUMNS`: ``customer`` (the
        identity), ``firm``, ``start``, ``end``, ``duration``, ``event``,
        ``entry``, ``reason``, ``from_decline``, ``stage_reached``,
        ``trajectory``; see :meth:`sim.relationships.RelationshipLog.frame`.

        Raises:
            RuntimeError: if :meth:`log_relationships` was not called.
        """
        if not self._relationships.on:
            raise RuntimeError("no relationship log: call model.log_relationships() before running")
        return self._relationships.frame(
            self.customers,
            [f.name for f in self.firms],
            self.steps,
            self.warm_up,
            self.config.simulation.long_stability,
        )

    def transactions_frame(self) -> pd.DataFrame:
        """One row per purchase since :meth:`log_transactions` was called.

        Columns ``period``, ``day`` (from the start of period 1),
        ``customer`` (the identity), ``firm`` (categorical, firms in config
        order), ``acquired_period`` (when the relationship the purchase
        belongs to began), ``revenue`` and ``clv_increment`` (float32, the
        occasion's share of the values added to ``customers.revenue_to_date``
        and ``customers.clv``); see :mod:`sim.transactions`.

        Raises:
            RuntimeError: if :meth:`log_transactions` was not called.
        """
        if self._transactions is None:
            raise RuntimeError("no purchase log: call model.log_transactions() before running")
        return self._transactions.frame([f.name for f in self.firms])

    def history_frame(self, customer_ids=None) -> pd.DataFrame:
        """One row per followed customer x period since :meth:`follow` was called.

        Columns ``period``, ``customer`` (the row) and
        :data:`sim.followed.FOLLOW_COLUMNS`: the state, when the current
        relationship began and how, and the last one's end
        (:meth:`sim.followed.FollowedHistory.frame`). ``customer_ids``: only
        these rows (default: every followed one).
        """
        return self._followed.frame([f.name for f in self.firms], self.warm_up, customer_ids)

    def customer_records(self) -> pd.DataFrame:
        """The sampled customers' state at every collected step, as Mesa's agent records.

        Shaped like ``datacollector.get_agent_vars_dataframe()``: indexed by
        ``Step`` (the period) and ``AgentID`` (the customer's identity), one
        column per variable (:data:`SAMPLE_COLUMNS`: ``row``, the customer's
        place in the market, then stage, firm, ages, determinants and money).
        Customers are arrays, not Mesa agents: the model follows ``sample``
        rows (a keyword of the model, drawn from a generator of its own seeded
        by the model's key, so sampling changes no result). When a customer
        leaves the category a new arrival takes its row, with a new
        ``AgentID``, as a Mesa agent removed and another added.
        """
        columns = ["Step", "AgentID", "row", *SAMPLE_COLUMNS]
        if not self._samples:
            return pd.DataFrame(columns=columns).set_index(["Step", "AgentID"])
        frame = pd.DataFrame(
            {name: np.concatenate([record[name] for record in self._samples]) for name in columns}
        )
        names = np.array([*(f.name for f in self.firms), None], dtype=object)
        frame["stage"] = np.array(STAGE_NAMES)[frame["stage"]]
        frame["firm"] = names[frame["firm"]]
        return frame.set_index(["Step", "AgentID"])

    def _start_collecting(self, collect: bool, sample: int) -> None:
        """Set up the DataCollector and the customer sample; collect period 0."""
        self.collecting = bool(collect)
        self.datacollector = mesa.DataCollector(
            model_reporters=model_reporters([f.name for f in self.firms]) if collect else {}
        )
        self._samples: list[dict[str, np.ndarray]] = []
        if not collect:
            self._sampled = np.empty(0, dtype=np.intp)
            return
        size = min(max(0, int(sample)), len(self.customers))
        chooser = np.random.default_rng((self._key, 0x5A4D))  # not model.rng: no draw changes
        self._sampled = np.sort(chooser.choice(len(self.customers), size=size, replace=False))
        self._collect()

    def _collect(self) -> None:
        """Collect the model reporters and the sampled customers' records of this step."""
        self.datacollector.collect(self)
        if not self._sampled.size:
            return
        pop, rows = self.customers, self._sampled  # names and frames are made when asked for
        record = {
            "Step": np.full(rows.size, self.steps),
            "AgentID": pop.identity[rows],
            "row": rows,
        }
        for column in SAMPLE_COLUMNS:
            record[column] = getattr(pop, column)[rows]
        self._samples.append(record)

    # ------------------------------------------------------------------
    # the schedule
    # ------------------------------------------------------------------

    def _kernel_columns(self) -> kernel.Customers:
        """The customers' arrays the kernels take, the relationship log's included."""
        pop, log = self.customers, self._relationships
        return kernel.Customers(
            *(
                getattr(pop, name) if hasattr(pop, name) else getattr(log, name)
                for name in kernel.Customers._fields
            )
        )

    def _firm_vectors(self) -> FirmVectors:
        return FirmVectors.from_firms(self.config, self.firms)

    def _kernel_firms(self, vectors: FirmVectors) -> kernel.FirmSlots:
        """This period's firm vectors and the stage tables, as the kernel takes them."""
        return kernel.firm_slots(
            {f.name: getattr(vectors, f.name) for f in fields(vectors)}, self._stage_rows
        )

    def _kernel_parameters(self, t: int) -> kernel.Parameters:
        """The scalar parameters of period ``t``, as the kernel takes them."""
        return self._parameters._replace(
            discount=(1.0 + self.config.simulation.discount_rate) ** -max(0, t - self.warm_up)
        )

    @staticmethod
    def _parameters_of(config: Config) -> kernel.Parameters:
        """:class:`sim.kernel.Parameters` from the config's sections (``discount`` of period 0)."""
        sections = (config.market, config.relationship, config.simulation)  # market first
        values = {}
        for name in kernel.Parameters._fields:
            if name != "discount":
                values[name] = float(getattr(next(s for s in sections if hasattr(s, name)), name))
        return kernel.Parameters(**values, discount=1.0)

    def _run_policies(self, t: int):
        """Let every firm's policies touch customers within budget; return their effects.

        Returns ``(effects, touched)``: ``effects`` is ``None`` when no customer
        was touched this period (so the rules run exactly as without
        policies), and ``touched`` lists ``(row, customers, stage_before, run)``
        for the policy ledger.
        """
        pop, effects, touched = self.customers, None, []
        for run in self.policies:
            if not run.spec.runs_in(t - self.warm_up):  # a campaign, outside its dates
                continue
            params = run.spec.params
            mask = run.policy.eligible(pop, run.firm, run.stages, t, params, run.segment)
            idx = np.flatnonzero(mask)
            cost = params["cost_per_contact"]
            # the most one contact can cost this period: the budget's unit (a promotion's
            # voucher too, so that the discounts it gives stay within its budget)
            cap = affordable(run.spec.budget, sum(params[name] for name in run.policy.committed))
            exhausted = idx.size > cap
            if exhausted:
                k = int(cap)
                if k == 0:
                    idx = idx[:0]
                elif run.policy.ranked:
                    idx = idx[np.argsort(-run.policy.priority(pop, idx), kind="stable")[:k]]
                else:
                    idx = np.sort(self.policy_rng.choice(idx, size=k, replace=False))
            row = {
                "period": t - self.warm_up,
                "firm": self.firms[run.firm].name,
                "policy": run.spec.name,
                "eligible": int(mask.sum()),
                "touched": idx.size,
                "spend": idx.size * cost,
                "budget_exhausted": bool(exhausted),
                "recovered": 0,
                "won_back": 0,
                "won_back_rival": 0,
            }
            self._policy_rows.append(row)
            self._flows["policy_cost"][run.firm] += idx.size * cost
            if not idx.size:
                continue
            if effects is None:
                effects = Effects.none(len(pop))
            run.policy.apply(effects, idx, pop, params)
            effects.cost[idx] += cost
            touched.append((row, idx, pop.stage[idx].copy(), run))
            if isinstance(run.policy, WinBack):
                back = run.policy.accepts(
                    self.policy_rng, idx, pop, params, self.config.relationship
                )
                self._win_back(back, run, row, effects, touched, t)
        return effects, touched

    def _win_back(self, back, run: PolicyRun, row: dict, effects: Effects, touched, t: int) -> None:
        """Restart the former customers ``back`` with ``run``'s firm (booked as win-backs).

        Those at a rival leave it first: the rival books a defection to a rival
        (:func:`sim.kernel.end_relationships`, added to the period's flows by
        :meth:`_book_policy_ends`). The rival's policies may have touched them
        this period: it paid for that, but their new relationship starts
        without the rival's effects, charged only this contact's cost, and the
        rival's policy outcomes no longer count them.
        """
        pop = self.customers
        rivals = back[pop.firm[back] != NO_FIRM]
        if rivals.size:
            kernel.end_relationships(
                self._columns,
                self._kernel_parameters(t),
                rivals,
                np.full(rivals.size, run.firm, dtype=np.intp),
                self._policy_ends,
                t,
                self._by_cohort,
                self.ledger.cohort_of,
            )
            self._relationships.collect(pop, t, self.warm_up, rivals)
            neutral = Effects.none(rivals.size)
            for field in fields(Effects):
                getattr(effects, field.name)[rivals] = getattr(neutral, field.name)
            effects.cost[rivals] = run.spec.params["cost_per_contact"]
            for k, (other_row, idx, before, other) in enumerate(touched):
                keep = ~np.isin(idx, rivals)
                touched[k] = (other_row, idx[keep], before[keep], other)
        self._start_relationships(back, np.full(back.size, run.firm), t)
        self._followed.note(back, np.full(back.size, run.firm), np.full(back.size, WIN_BACK))
        row["won_back"] = back.size
        row["won_back_rival"] = rivals.size
        self._flows["acquisitions_win_back"][run.firm] += back.size

    def _book_policy_ends(self) -> None:
        """Add the rival relationships win-back ended (:meth:`_win_back`) to the flows."""
        ends = self._policy_ends[1:]
        if not ends.any():
            return
        for name, column in _LIVE_FLOWS.items():
            self._flows[name] = self._flows[name] + ends[:, column]
        ends[:] = 0.0

    def _live(self, vectors: FirmVectors, effects: Effects | None, touched, t: int) -> None:
        """Steps 2-5 for every active customer, in the compiled kernel; book the flows."""
        pop, n = self.customers, len(self.customers)
        if effects is None:
            modifiers, moved, given = self._no_modifiers, self._empty_codes, self._empty_money
        else:
            modifiers = kernel.Modifiers(
                True, *(getattr(effects, name) for name in kernel.Modifiers._fields[1:])
            )
            moved, given = pop.stage.copy(), np.zeros(n, dtype=F32)
        logging = self._transactions is not None and t > self.warm_up
        if logging:  # the contract of sim.transactions: who bought, from whom, at what
            buyers = np.flatnonzero(is_active(pop.stage))
            firm, acquired = pop.firm[buyers], pop.acquired_period[buyers]
            identity = pop.identity[buyers]
            sales, increment = np.zeros(n, dtype=F32), np.zeros(n, dtype=F32)
            bought = np.zeros(n)
        else:
            sales = increment = self._empty_money
            bought = self._empty_occasions
        growth = kernel.growth_table(vectors.relational_tau, t + self._longest_start)
        outputs = (moved, given, sales, increment, bought)
        kernel.live_period(*self._live_arguments(vectors, modifiers, growth, outputs, t))
        if logging:
            self._transactions.record(
                t - self.warm_up,
                identity,
                firm,
                acquired.astype(np.int32) - self.warm_up,
                sales[buyers],
                increment[buyers],
                bought[buyers],
                self.log_rng,
            )
        self._by_cohort += self._cohort_moves.sum(axis=0)
        sums = self._live_sums.sum(axis=0)[1:]  # per firm, chunks added in order
        flows = self._flows
        for name, column in _LIVE_FLOWS.items():
            flows[name] = sums[:, column]
        self._after_defection = sums[:, [kernel.DECLINING, kernel.ADVOCATES_AFTER]]
        self._book_discounts(effects, touched, given)
        for row, idx, before, _ in touched:  # touched declining customers who recovered
            now = moved[idx]
            row["recovered"] = int(
                np.sum(
                    (before == Stage.DECLINE) & (now >= Stage.EXPLORATION) & (now < Stage.DECLINE)
                )
            )

    def _live_arguments(self, vectors: FirmVectors, modifiers, growth, outputs, t: int) -> tuple:
        """The arguments of :func:`sim.kernel.live_period` for period ``t``.

        ``growth`` is the period's :func:`sim.kernel.growth_table`; ``outputs``
        the arrays it writes each customer's stage after the move, discount,
        sales, CLV increment and purchase occasions into (empty when not
        wanted).
        """
        return (
            self._key,
            t,
            self._columns,
            self._kernel_firms(vectors),
            self._kernel_parameters(t),
            modifiers,
            growth,
            self._live_sums,
            self._cohort_moves,
            self.ledger.cohort_of,
            *outputs,
            self._arrived,
            *self._listed["prospects"],
        )

    def _compile_step_kernels(self) -> None:
        """Compile (or load) the kernels of a step other than the live and settle ones, on nothing.

        The growth table, the list of prospects and the start of no
        relationship: for :func:`sim.cache.warm_up`, whose process compiles
        them while its helper compiles the live chunk. Changes nothing.
        """
        kernel.growth_table(self._firm_vectors().relational_tau, 1 + self._longest_start)
        kernel.listed_rows(*self._listed["prospects"])  # nothing found yet: no row
        self._start_relationships(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), 1)

    def _book_discounts(self, effects: Effects | None, touched, given: np.ndarray) -> None:
        """Book the discounts the kernel gave (``given``, by customer) as their policies' spend.

        A customer two promotions touched got one discount, up to the sum of
        their vouchers; each promotion is charged its voucher's share of it.
        """
        for row, idx, _, run in touched:
            name = run.policy.allowance_parameter
            if name is None or not idx.size:
                continue
            allowance = effects.allowance[idx].astype(np.float64)
            share = np.divide(
                run.spec.params[name], allowance, out=np.zeros_like(allowance), where=allowance > 0
            )
            amount = float(np.sum(given[idx] * share))
            row["spend"] += amount
            self._flows["policy_cost"][run.firm] += amount

    def _start_relationships(self, idx, firm_codes, t: int) -> None:
        """Make customers ``idx`` new exploration-stage customers of ``firm_codes``."""
        reputation = np.array([0.0, *(f.reputation for f in self.firms)], dtype=F32)
        kernel.start_relationships(
            self._columns,
            self._kernel_parameters(t),
            np.asarray(idx, dtype=np.intp),
            np.asarray(firm_codes, dtype=np.intp),
            reputation,
            t,
            self._by_cohort,
            self.ledger.cohort_of,
        )

    def _acquire(self, t: int) -> None:
        """Step 6: marketing and referrals win prospects; every channel's cost is booked.

        Each firm reaches a share of the prospects (its acquisition rate) and
        its advocates bring referrals, both damped by negative word of mouth.
        Every acquisition costs the firm's ``acquisition_cost`` (marketing, and
        a rival's defector won in step 5) or its ``referral_cost`` (a referral).
        The ledger charges referrals at the full acquisition cost and credits
        the saving as referral value (:func:`sim.rules.referral_value`), so that
        each realized referral is valued once, by the firm that won it.
        """
        pop, market, relationship = self.customers, self.config.market, self.config.relationship
        rng, flows = self.rng, self._flows
        prospects = kernel.listed_rows(*self._listed["prospects"])  # listed by _live
        customers_start = self.ledger.get("customers")
        declining, advocates = self._after_defection.T
        # detractors: declining customers and those who left by choice (not for life reasons)
        detractors = declining + flows["defections"] - flows["defections_life"]
        damping = rules.word_of_mouth_factor(
            detractors, customers_start, strength=market.negative_word_of_mouth
        )
        rates = np.array([f.actions.acquisition_rate for f in self.firms])
        expected = np.concatenate(
            [
                rates * prospects.size * damping,
                rules.expected_referrals(
                    advocates,
                    prospects.size / len(pop),
                    referral_rate=relationship.referral_rate,
                    reach=market.word_of_mouth_reach,
                )
                * damping,
            ]
        )
        wanted = rng.poisson(expected)
        if wanted.sum() > prospects.size:  # not enough prospects: share them out fairly
            wanted = rng.multivariate_hypergeometric(wanted, prospects.size)
        chosen = rng.choice(prospects, size=int(wanted.sum()), replace=False)
        n_firms = len(self.firms)
        codes = np.repeat(np.tile(np.arange(n_firms), 2), wanted)
        self._start_relationships(chosen, codes, t)
        if self._followed.rows.size:  # chosen: by marketing first, then by referral
            spent = int(wanted[:n_firms].sum())
            channels = np.repeat([MARKETING, REFERRAL], [spent, chosen.size - spent])
            self._followed.note(chosen, codes, channels)
        by_spend, by_referral = wanted[:n_firms], wanted[n_firms:]
        unit_cost = np.array([f.params.acquisition_cost for f in self.firms])
        referral_cost = np.array([f.params.referral_cost for f in self.firms])
        flows["acquisitions_spend"] = by_spend
        flows["acquisitions_referral"] = by_referral
        flows["acquisitions"] = (
            by_spend + by_referral + flows["acquisitions_rival"] + flows["acquisitions_win_back"]
        )
        paid = by_spend + by_referral + flows["acquisitions_rival"]  # win-back: its policy's cost
        flows["acquisition_cost"] = paid * unit_cost
        flows["referral_value"] = rules.referral_value(by_referral, unit_cost, referral_cost)
        flows["acquisition_spend"] = flows["acquisition_cost"] - flows["referral_value"]
        flows["profit"] = (
            flows["contribution"]
            + flows["referral_value"]
            - flows["acquisition_cost"]
            - flows["policy_cost"]
        )

    def _arrive(self) -> None:
        """New prospects take the places of the customers who left the category.

        They get fresh identities and traits (:meth:`sim.population.Population.renew`).
        """
        rows = kernel.listed_rows(*self._listed["arrivals"])  # listed by _settle
        if not rows.size:
            return
        self.customers.renew(rows, self.config, self.arrival_rng, self._next_identity)
        self._next_identity += rows.size

    def _settle(
        self, t: int, reentry_rate: float, category_exit_rate: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 7 (life exits, re-entry), then the record's per-firm sums and cohort counts."""
        market, simulation = self.config.market, self.config.simulation
        kernel.settle_period(
            self._key,
            t,
            self._columns,
            float(reentry_rate),
            float(category_exit_rate),
            float(market.personalization_weight),
            float(simulation.satisfied_threshold),
            self._arrived,
            self._settle_sums,
            *self._listed["arrivals"],
        )
        return self._settle_sums.sum(axis=0), self._by_cohort[1:]

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
            means = {
                f"mean_{name}": sums[1:, column] / customers for name, column in _MEANS.items()
            }
        cost = flows["serve_cost"] + flows["acquisition_spend"] + flows["policy_cost"]
        discount = (1.0 + simulation.discount_rate) ** -period
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
            "discounted_profit": flows["profit"] * discount,
            "discounted_contribution": flows["contribution"] * discount,
            "discounted_referral_value": flows["referral_value"] * discount,
            "discounted_acquisition_cost": flows["acquisition_cost"] * discount,
            "discounted_policy_cost": flows["policy_cost"] * discount,
            "reputation": [f.reputation for f in self.firms],
            "acquisition_rate": [f.actions.acquisition_rate for f in self.firms],
            "relationship_effort": [f.actions.relationship_effort for f in self.firms],
            "adaptation": [f.actions.adaptation for f in self.firms],
        }
        stage_counts = sums[:, :_N_STAGES].sum(axis=0)
        self.ledger.write_cohort_counts(period, cohorts)
        self.ledger.write(
            period,
            values,
            {
                "prospects": stage_counts[Stage.PROSPECT],
                "out_of_market": stage_counts[Stage.EXITED],
                "reentries": sums[0, kernel.REENTRIES],
                "arrivals": sums[0, kernel.ARRIVALS],
            },
        )
        self._snapshot_followed()

    def _snapshot_followed(self) -> None:
        self._followed.snapshot(self.customers, self.steps, self.steps + self.warm_up)


WARM_UP_MARKET = {"customers": 100, "periods": 1}
"""The simulation settings of :func:`sim.cache.warm_up`'s market (the default market otherwise)."""


def live_kernel_arguments() -> tuple:
    """:func:`sim.kernel.live_period`'s arguments in period 1 of the warm-up's market.

    Built without running a kernel (the market starts new and is not
    recorded: its first record is the settle kernel's work), so that their
    types are known before any kernel is compiled (:func:`sim.cache.warm_up`).
    The market is :func:`sim.cache.warm_up`'s but for its start, which
    changes no argument's type.
    """
    model = CRMModel.__new__(CRMModel)
    mesa.Model.__init__(model, rng=0)
    model.config = default_config(simulation={**WARM_UP_MARKET, "start": "new"})
    model._build()
    outputs = (
        model._empty_codes,
        model._empty_money,
        model._empty_money,
        model._empty_money,
        model._empty_occasions,
    )
    growth = np.empty((len(model.firms) + 1, 0))  # the type of any growth table
    return model._live_arguments(model._firm_vectors(), model._no_modifiers, growth, outputs, 1)
