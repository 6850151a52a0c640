"""Where each strategy wins: the customer-equity winner of every market a sweep ran.

A *market* is one sweep point without the strategy: its setting and the
values of every other swept parameter (``point`` in ``runs.parquet``, the
firms' strategies fixed). In each market, every replication is one run in
which the strategies compete for the same customers, so strategies are
compared run by run (paired): the winner is the strategy with the highest
mean customer equity over replications, and its margin over the runner-up is
the mean of the per-run differences with a 95% Student-t interval. A margin
whose interval excludes 0 is a clear win (issue 20, item 6; MODEL.md
section 4: which strategy pays depends on the market).
"""

import numpy as np
import pandas as pd

from .tables import mean_ci

WINNER_COLUMNS = (
    "point",
    "setting",
    "winner",
    "equity",
    "runner_up",
    "margin",
    "margin_low",
    "margin_high",
    "clear",
    "runs",
)
"""Columns of :func:`winner_map`, after the swept parameters' columns."""


def winner_map(runs: pd.DataFrame, sweep_paths, outcome: str = "customer_equity") -> pd.DataFrame:
    """One row per market: the swept values, the winner and its paired margin over the runner-up.

    Args:
        runs: ``runs.parquet`` (one row per run x firm: ``point``, ``run_id``,
            ``strategy``, ``setting``, the outcome and one column per swept path).
        sweep_paths: the swept dotted paths (columns of ``runs``); those that
            set a firm's strategy are left out of the market's description.
        outcome: the outcome to rank by.

    Returns:
        The swept paths that describe a market, then :data:`WINNER_COLUMNS`;
        ``clear`` is True when the margin's 95% interval lies above 0.
    """
    described = [
        p
        for p in sweep_paths
        if p in runs.columns and not p.endswith(".strategy") and p != "market.setting"
    ]
    # firms of one strategy in one run are averaged: each run counts once per strategy
    per_run = runs.groupby(["point", "setting", "run_id", "strategy"], sort=False)[outcome].mean()
    rows = []
    for (point, setting), frame in per_run.groupby(level=["point", "setting"], sort=False):
        table = frame.unstack("strategy")
        means = table.mean().sort_values(ascending=False)
        row = {path: runs.loc[runs["point"] == point, path].iloc[0] for path in described}
        row.update(
            point=point,
            setting=setting,
            winner=means.index[0],
            equity=means.iloc[0],
            runs=len(table),
        )
        if len(means) > 1:
            runner_up = means.index[1]
            _, margin, low, high = mean_ci(table[means.index[0]] - table[runner_up])
            row.update(
                runner_up=runner_up,
                margin=margin,
                margin_low=low,
                margin_high=high,
                clear=bool(np.isfinite(low) and low > 0),
            )
        else:
            row.update(
                runner_up=None, margin=np.nan, margin_low=np.nan, margin_high=np.nan, clear=False
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=[*described, *WINNER_COLUMNS])


def clear_winners(table: pd.DataFrame) -> set[str]:
    """Strategies that clearly win at least one market of :func:`winner_map`."""
    return set(table.loc[table["clear"], "winner"])
