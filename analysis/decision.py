"""Deciding on a retention policy's budget: response curve, marginal ROI, payback, recommendation.

The inputs are paired replications, as :func:`analysis.money.policy_returns`
counts them: for each run of a policy at a budget level, its spend ``S``
and incremental equity ``D - S`` against the same replication without the
policy (common random numbers). A budget sweep gives several levels of one
policy; this module turns them into what a marketer decides on:

* the **response curve**: incremental equity against the budget level, with
  95% intervals, and each level's ROI (:func:`analysis.money.roi_estimate`);
* the **marginal ROI** of a budget step from level ``k`` to ``k + 1``:
  ``sum(dG) / sum(dS)`` over replications with ``dG`` the difference of the
  two levels' incremental equity and ``dS`` of their spend in the same
  replication: the ROI estimate of the step, paired, with its interval
  (the same :func:`analysis.money.roi_estimate`, not a second ROI). The step
  from no policy to the first level is that level's ROI;
* the **recommended budget**: the largest level reached by a step whose
  marginal ROI has the lower bound of its 95% interval above the hurdle rate
  (scenario ``report.hurdle_rate``, a ratio over the run, like the ROI); none
  when no step qualifies (keep the budget at 0);
* the **payback period** (:func:`payback_period`): the first period at which
  the cumulative discounted incremental gross contribution covers the
  cumulative discounted spend, from the per-period ledger.
"""

import json
import math

import numpy as np
import pandas as pd

from . import money
from .tables import mean_ci

LEVEL = 0.95
"""Confidence level of every interval here."""


# ---------------------------------------------------------------------------
# A swept policy list: which policy, at what budget
# ---------------------------------------------------------------------------


def policy_and_budget(value) -> tuple[str, float]:
    """A swept list of policies as ``(policy, budget level)``.

    The policy is the list without its budgets (names, and any other
    parameter as ``key value``, joined by " + "); the budget level is the sum
    of the policies' budgets per period (``inf`` when one has none: no cap).
    So ``[{name: loyalty_programme, budget: 10}]`` and ``[{name:
    loyalty_programme, budget: 20}]`` are two levels of one policy.
    """
    if isinstance(value, str):
        value = json.loads(value)
    names, budget = [], 0.0
    for policy in value or ():
        policy = policy if isinstance(policy, dict) else {"name": str(policy)}
        extra = [f"{k} {v}" for k, v in policy.items() if k not in ("name", "budget")]
        names.append(policy.get("name", "?") + (f" ({', '.join(extra)})" if extra else ""))
        cap = policy.get("budget")
        budget += math.inf if cap is None else float(cap)
    return " + ".join(names) or "none", budget


# ---------------------------------------------------------------------------
# The decision table
# ---------------------------------------------------------------------------


def step_returns(lower: pd.DataFrame, upper: pd.DataFrame) -> dict:
    """Marginal ROI of the step from one budget level to the next, paired by replication.

    Args:
        lower: one row per replication of the lower level, with
            ``replication``, ``spend`` and ``incremental_equity``.
        upper: the same of the higher level (and optionally ``run_id``,
            which a missing pair's error names).

    Returns:
        ``{"roi", "roi_low", "roi_high"}`` of :func:`analysis.money.roi_estimate`
        over the replications' differences (NaN where the step spends no
        more), and ``extra_spend``, the step's mean extra spend.

    Raises:
        ValueError: a replication of ``upper`` has no partner in ``lower``.
    """
    on = ["replication"]
    pairs = upper.merge(lower[[*on, "spend", "incremental_equity"]], on=on, suffixes=("", "_lower"))
    money.require_pairs(upper, pairs, on)
    gain = pairs["incremental_equity"] - pairs["incremental_equity_lower"]
    spend = pairs["spend"] - pairs["spend_lower"]
    estimate = money.roi_estimate(gain, spend, LEVEL)
    return {
        **{k: estimate[k] for k in ("roi", "roi_low", "roi_high")},
        "extra_spend": float(spend.mean()),
    }


def decision_table(returns: pd.DataFrame, keys, hurdle_rate: float = 0.0) -> pd.DataFrame:
    """Per group and budget level: the response, ROI, marginal ROI and the recommendation.

    Args:
        returns: one row per paired run: the ``keys`` columns (e.g. setting,
            firm, policy), ``budget``, ``replication``, ``spend`` and
            ``incremental_equity`` (``D - S``), and optionally ``run_id``.
            Levels whose budget is 0 are the baseline and are left out.
        keys: the columns that make a group (one response curve each).
        hurdle_rate: the least marginal ROI (its lower 95% bound) a step must
            earn.

    Returns:
        One row per group and positive level, levels ascending:
        ``pairs``; ``incremental_equity`` and ``spend`` with ``_low`` and
        ``_high`` (means, t-intervals); ``roi``, ``roi_low``, ``roi_high``,
        ``p_value``; ``step_roi*``, the marginal ROI of the step into this
        level (from the level below, or from no policy), and
        ``step_extra_spend``, its mean extra spend; ``next_roi*`` and
        ``next_extra_spend``, of the step to the next level (NaN at the
        top); ``qualifies`` (the step
        into this level clears the hurdle) and ``recommended`` (this is the
        group's recommended level).
    """
    keys = list(keys)
    returns = returns[returns["budget"] > 0]
    rows = []
    for group, frame in returns.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        levels = sorted(frame["budget"].unique())
        zero = frame.loc[frame["budget"] == levels[0], ["replication"]].assign(
            spend=0.0, incremental_equity=0.0
        )
        below = zero
        group_rows = []
        for level in levels:
            here = frame[frame["budget"] == level]
            row = dict(zip(keys, group, strict=True))
            row["budget"] = level
            row.update(money.roi_estimate(here["incremental_equity"], here["spend"], LEVEL))
            for name in ("incremental_equity", "spend"):
                _, row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(here[name], LEVEL)
            step = step_returns(below, here)
            row.update({f"step_{k}": v for k, v in step.items()})
            group_rows.append(row)
            below = here
        for row, upper in zip(group_rows, [*group_rows[1:], None], strict=True):
            for k in ("roi", "roi_low", "roi_high", "extra_spend"):
                row[f"next_{k}"] = np.nan if upper is None else upper[f"step_{k}"]
        recommended = recommended_budget(
            [r["budget"] for r in group_rows], [r["step_roi_low"] for r in group_rows], hurdle_rate
        )
        for row in group_rows:
            row["qualifies"] = bool(row["step_roi_low"] > hurdle_rate)
            row["recommended"] = row["budget"] == recommended
        rows += group_rows
    return pd.DataFrame(rows)


def recommended_budget(levels, step_lows, hurdle_rate: float) -> float | None:
    """The largest level reached by a step whose marginal ROI's lower 95% bound beats the hurdle.

    Args:
        levels: the budget levels, ascending.
        step_lows: for each level, the lower bound of the marginal ROI of the
            step into it (from the level below; the first from no policy).
        hurdle_rate: the least return a step must earn.

    Returns:
        That level, or None when no step qualifies (keep the budget at 0).
    """
    qualifying = [
        level
        for level, low in zip(levels, step_lows, strict=True)
        if np.isfinite(low) and low > hurdle_rate
    ]
    return max(qualifying) if qualifying else None


# ---------------------------------------------------------------------------
# Payback from the per-period ledger
# ---------------------------------------------------------------------------


def payback_period(periods, gross_gain, spend) -> int | None:
    """The first period at which cumulative incremental gross contribution covers cumulative spend.

    Both are discounted to period 0 and incremental (policy run minus its
    baseline, here averaged over paired replications): ``gross_gain`` is the
    change in ``discounted_contribution + discounted_referral_value -
    discounted_acquisition_cost`` (the ledger's ``discounted_profit`` before
    policy spend), ``spend`` the change in ``discounted_policy_cost``. The
    payback period is the first period ``t`` with some spend so far and
    ``sum_{s <= t} gross_gain_s >= sum_{s <= t} spend_s``. The projected
    value of the customers at the end is not in it (the ROI counts it), so
    a policy can pay back after the run and still have a positive ROI.

    Returns:
        The period, or None if the gain has not covered the spend by the end
        of the run.
    """
    order = np.argsort(np.asarray(periods))
    periods = np.asarray(periods)[order]
    gain = np.cumsum(np.asarray(gross_gain, dtype=float)[order])
    cost = np.cumsum(np.asarray(spend, dtype=float)[order])
    covered = (cost > 0) & (gain >= cost)
    return int(periods[np.argmax(covered)]) if covered.any() else None


def payback_periods(ledger: pd.DataFrame, keys) -> pd.DataFrame:
    """:func:`payback_period` of each group's mean incremental path.

    Args:
        ledger: one row per paired run and period: ``keys``, ``period``,
            ``gross_gain`` and ``spend`` (incremental, discounted).
        keys: the columns of a group (e.g. setting, firm, policy, budget).

    Returns:
        ``keys`` and ``payback_period`` (None: not within the run).
    """
    keys = list(keys)
    mean = ledger.groupby([*keys, "period"], sort=False)[["gross_gain", "spend"]].mean()
    rows = []
    for group, path in mean.groupby(level=keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        row = dict(zip(keys, group, strict=True))
        row["payback_period"] = payback_period(
            path.index.get_level_values("period"), path["gross_gain"], path["spend"]
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, "payback_period"])
