"""The one way to run a model: ``run_once(config, seed)``.

Sweeps (local or Dask), the transaction export and tests call
:func:`run_once` (calibration its lean twin :func:`run_cohorts`); analysis
never runs a model (only the dashboard and the benchmarks step a
``CRMModel`` themselves). Each run is measured with
:func:`analysis.metrics.firm_outcomes`: experiments import analysis, never
the other way round.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import money
from analysis.metrics import firm_outcomes
from sim import CRMModel, relationships
from sim.config import Config
from sim.ledger import FIRM_COLUMNS

COHORT_COLUMNS = ("firm", "strategy", "setting", "cohort", "tenure", "active")
"""Columns of a run's cohort survival (``cohorts.parquet`` adds the run's identity)."""

CUSTOMER_COLUMNS = (
    "customer",
    "firm",
    "strategy",
    "setting",
    "segment",
    "stage",
    "tenure",
    "acquired_period",
    "spend",
    "purchase_rate",
    "need_distance",
    "expectation",
    "value",
    "satisfaction",
    "trust",
    "switching_cost",
    "revenue_to_date",
    "margin",
    "stage_retention",
    "realized_clv",
    "projected_clv",
    "total_clv",
)
"""Columns of the end-of-run customer table (``customers.parquet``): current customers only."""

RELATIONSHIP_COLUMNS = (
    *relationships.COLUMNS[:2],  # customer, firm
    "strategy",
    "setting",
    *relationships.COLUMNS[2:],
)
"""Columns of a run's relationship table (``relationships.parquet`` adds the run's identity
and ``customer_key``): one row per relationship ever, :mod:`sim.relationships`."""

POLICY_COLUMNS = (
    "firm",
    "policy",
    "periods",
    "eligible",
    "touched",
    "spend",
    "budget_exhausted_share",
    "recovered",
    "won_back",
    "won_back_rival",
)
"""Columns of a run's policy outcomes (``policies.parquet`` adds the run's identity)."""

TIMESERIES_COLUMNS = FIRM_COLUMNS
"""Ledger columns kept in ``timeseries.parquet``: every firm column of the ledger, in its order."""


@dataclass(frozen=True)
class RunResult:
    """What one run yields.

    Attributes:
        firms: one row per firm: ``firm``, ``strategy``, ``setting`` and the
            outcomes of :data:`analysis.metrics.OUTCOME_COLUMNS`.
        timeseries: one row per period x firm: ``period``, ``firm``,
            ``strategy``, ``setting`` and :data:`TIMESERIES_COLUMNS`.
        cohorts: cohort survival, :data:`COHORT_COLUMNS`: customers of each
            acquisition cohort still with the firm, by tenure.
        policies: one row per firm x policy it runs, :data:`POLICY_COLUMNS`
            (empty if no firm runs a policy).
        customers: the firms' customers at the end, :data:`CUSTOMER_COLUMNS`;
            None when not kept (the sweep keeps it for replication 0 only).
        transactions: the purchase log (``CRMModel.transactions_frame()``),
            only when asked for (``run_once(..., transactions=True)``).
        relationships: one row per relationship ever, :data:`RELATIONSHIP_COLUMNS`
            (``CRMModel.relationships_frame()``); None when not kept.
    """

    firms: pd.DataFrame
    timeseries: pd.DataFrame
    cohorts: pd.DataFrame
    policies: pd.DataFrame
    customers: pd.DataFrame | None = None
    transactions: pd.DataFrame | None = None
    relationships: pd.DataFrame | None = None


def policy_outcomes(policy_frame: pd.DataFrame) -> pd.DataFrame:
    """Totals over the run of each firm's policies (from ``CRMModel.policy_frame()``).

    ``periods`` counts the periods the policy ran, ``budget_exhausted_share``
    is the share of them in which its budget ran out.
    """
    if policy_frame.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=float if c in ("spend", "budget_exhausted_share") else object)
                for c in POLICY_COLUMNS
            }
        )
    grouped = policy_frame.groupby(["firm", "policy"], sort=False)
    frame = grouped.agg(
        periods=("period", "size"),
        eligible=("eligible", "sum"),
        touched=("touched", "sum"),
        spend=("spend", "sum"),
        budget_exhausted_share=("budget_exhausted", "mean"),
        recovered=("recovered", "sum"),
        won_back=("won_back", "sum"),
        won_back_rival=("won_back_rival", "sum"),
    )
    frame["budget_exhausted_share"] = frame["budget_exhausted_share"].astype(float)
    return frame.reset_index()[list(POLICY_COLUMNS)]


def run_once(
    config: Config, seed: int, *, transactions: bool = False, relationships: bool = True
) -> RunResult:
    """Build a model from ``config``, run it for ``config.simulation.periods`` and measure it.

    Args:
        config: the validated configuration.
        seed: the model's random seed (``CRMModel(config, rng=seed)``).
        transactions: also keep the purchase log (``model.log_transactions()``);
            it changes no other result.
        relationships: keep the relationship table (``model.log_relationships()``);
            it changes no other result.

    Returns:
        The per-firm outcomes, the per-period records, cohort survival, policy
        outcomes, the end-of-run customer table of the run and, if asked
        for, its relationship table and its purchase log.
    """
    model = CRMModel(config, rng=seed, collect=False)  # the ledger is the record: no DataCollector
    if transactions:
        model.log_transactions()
    if relationships:
        model.log_relationships()
    model.run()
    ledger = model.firm_frame()
    setting = config.market.setting
    customers = model.customers_frame()
    clv = money.customer_clv(customers, ledger, config)
    cohorts = model.cohort_frame()
    outcomes = firm_outcomes(ledger, customers, config, cohorts, clv=clv)
    strategies = [firm.strategy for firm in config.firms]
    strategy_of = {firm.name: firm.strategy for firm in config.firms}
    outcomes.insert(1, "strategy", strategies)
    outcomes.insert(2, "setting", setting)
    timeseries = ledger[["period", "firm", "strategy", *TIMESERIES_COLUMNS]].copy()
    timeseries.insert(3, "setting", setting)
    cohorts["setting"] = setting
    clv["firm"] = clv["firm"].astype(str)
    clv["strategy"] = clv["firm"].map(strategy_of)
    clv["setting"] = setting
    clv["segment"] = clv["segment"].astype(str)
    clv["stage"] = clv["stage"].astype(str)
    return RunResult(
        firms=outcomes,
        timeseries=timeseries.reset_index(drop=True),
        cohorts=cohorts[list(COHORT_COLUMNS)].reset_index(drop=True),
        policies=policy_outcomes(model.policy_frame()),
        customers=clv[list(CUSTOMER_COLUMNS)],
        transactions=model.transactions_frame() if transactions else None,
        relationships=relationship_table(model, strategy_of, setting) if relationships else None,
    )


def relationship_table(model: CRMModel, strategy_of: dict, setting: str) -> pd.DataFrame:
    """The model's relationship table with each firm's strategy and the setting (as categories)."""
    frame = model.relationships_frame()
    firms = list(frame["firm"].cat.categories)
    strategies = list(dict.fromkeys(strategy_of[f] for f in firms))
    codes = frame["firm"].cat.codes.to_numpy()
    strategy_codes = [strategies.index(strategy_of[f]) for f in firms]
    frame["strategy"] = pd.Categorical.from_codes(np.array(strategy_codes)[codes], strategies)
    frame["setting"] = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), [setting])
    return frame[list(RELATIONSHIP_COLUMNS)]


def run_cohorts(config: Config, seed: int) -> pd.DataFrame:
    """Run a model like :func:`run_once` and return only its cohort survival.

    Calibration evaluates hundreds of candidates and reads nothing else; the
    CLV and customer tables :func:`run_once` also builds would triple the time
    of a small run. Same model, same seed: the same ``cohorts`` table as
    ``run_once(config, seed).cohorts``.

    Returns:
        Columns :data:`COHORT_COLUMNS`.
    """
    cohorts = CRMModel(config, rng=seed, collect=False).run().cohort_frame()
    cohorts["setting"] = config.market.setting
    return cohorts[list(COHORT_COLUMNS)].reset_index(drop=True)
