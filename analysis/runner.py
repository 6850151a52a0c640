"""The one way to run a model: ``run_once(config, seed)``.

The command line, sweeps (local or Dask), tests and reports all call
:func:`run_once`; nothing else steps a model.
"""

from dataclasses import dataclass

import pandas as pd

from sim import CRMModel
from sim.config import Config

from .metrics import firm_outcomes

TIMESERIES_COLUMNS = (
    # stage counts at the end of the period
    "customers", "exploration", "formation", "stability", "decline", "advocates",
    # retention
    "customers_start", "retained", "retention",
    # means of the four determinants (and the expectation satisfaction is measured against)
    "mean_value", "mean_satisfaction", "mean_trust", "mean_switching_cost", "mean_expectation",
    # flows
    "acquisitions", "acquisitions_referral", "defections", "satisfied_defectors",
    # money
    "revenue", "serve_cost", "acquisition_spend", "cost", "profit", "referral_value",
    "discounted_profit",
)
"""Ledger columns kept in ``timeseries.parquet`` (see :data:`sim.ledger.FIRM_COLUMNS`)."""


@dataclass(frozen=True)
class RunResult:
    """What one run yields.

    Attributes:
        firms: one row per firm: ``firm``, ``strategy``, ``setting`` and the
            outcomes of :data:`analysis.metrics.OUTCOME_COLUMNS`.
        timeseries: one row per period x firm: ``period``, ``firm``,
            ``strategy``, ``setting`` and :data:`TIMESERIES_COLUMNS`.
    """

    firms: pd.DataFrame
    timeseries: pd.DataFrame


def run_once(config: Config, seed: int) -> RunResult:
    """Build a model from ``config``, run it for ``config.simulation.periods`` and measure it.

    Args:
        config: the validated configuration.
        seed: the model's random seed (``CRMModel(config, rng=seed)``).

    Returns:
        The per-firm outcomes and the per-period records of the run.
    """
    model = CRMModel(config, rng=seed).run()
    ledger = model.firm_frame()
    setting = config.market.setting
    outcomes = firm_outcomes(ledger, model.customers_frame(), config)
    strategies = [firm.strategy for firm in config.firms]
    outcomes.insert(1, "strategy", strategies)
    outcomes.insert(2, "setting", setting)
    timeseries = ledger[["period", "firm", "strategy", *TIMESERIES_COLUMNS]].copy()
    timeseries.insert(3, "setting", setting)
    return RunResult(firms=outcomes, timeseries=timeseries.reset_index(drop=True))
