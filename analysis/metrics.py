"""Named outcomes of one run, per firm, computed from the model's tidy frames.

Every function takes the ledger frame (``CRMModel.firm_frame()``: one row per
period x firm, period 0 = the initial state; columns in
:data:`sim.ledger.FIRM_COLUMNS`) and returns a :class:`pandas.Series` indexed
by firm name, in the model's firm order. :func:`firm_outcomes` assembles them
into one row per firm: the outcome columns of ``runs.parquet``.

Definitions (``T`` = last period after the warm-up, ``d`` = ``simulation.discount_rate``):

* ``retention_rate``: mean over periods ``1..T`` of the ledger's ``retention``
  (customers with the firm at ``t-1`` still with it at ``t``, over customers
  with it at ``t-1``); periods in which the firm had no customers are skipped.
* ``annual_retention``: of a firm's customers at period ``t``, the share
  still its customers (in the same relationship) at ``t + 12``, averaged over
  ``t = 13 .. T - 12`` (``1 .. T - 12`` for runs of under 25 periods; NaN
  under 13), from cohort survival (:func:`annual_retention`).
  ``expected_lifetime`` = ``1 / (1 - annual_retention)`` years.
* ``customer_equity``: the exact sum of its ledger terms (:func:`equity_ledger`),
  all discounted to period 0::

      CE = sum_t contribution_t + sum_t referral_value_t
           - sum_t acquisition_cost_t - sum_t policy_cost_t + projected_remainder

  ``projected_remainder`` is the expected contribution of the customers the
  firm has at ``T`` over the next ``simulation.planning_horizon`` periods,
  each at its own stage's retention (:func:`analysis.money.customer_clv`):
  finite, never a perpetuity.
* ``clv_mean``: mean realized CLV per relationship: (CLV of the relationships
  that ended, ledger ``ended_clv``, plus the CLV to date of the current
  customers) / (customers at period 0 + acquisitions).
* ``satisfied_defector_share``: ``sum satisfied_defectors / sum defections``:
  the share of defectors whose satisfaction was at or above
  ``simulation.satisfied_threshold`` when they left, over defections by choice
  (to a rival or out of the market; life exits are not a choice), NaN without.
* CLV distribution over the firm's customers at the end
  (:func:`analysis.money.customer_clv`): ``projected_clv_mean`` (mean
  expected remaining value), ``top20_profit_share`` (share of the positive
  total CLV, realized plus projected, held by the top 20% of customers; seed
  003's 80/20), ``clv_gini``, ``clv_median`` and ``clv_p90`` of total CLV.
* ``value_equity``, ``brand_equity``, ``relationship_equity``: the customer
  equity split by driver (:func:`analysis.money.equity_drivers`; they sum to
  ``customer_equity``).
* ``satisfaction_mean``, ``satisfaction_sd``: mean and standard deviation of
  satisfaction over the firm's customers at the end.
* ``value_far_from_standard``: mean perceived value of the firm's customers
  at the end whose need misfit (need distance x personalization need) is in
  the market's top quarter: how well the firm serves heterogeneous needs.
* ``loyalty_index``: mean over the firm's customers at the end of
  :func:`analysis.retention.loyalty_index` with its default weights.
* Totals over periods: ``revenue``, ``cost``, ``profit``, ``referral_value``,
  ``acquisitions``, ``referral_acquisitions``, ``defections``; and
  ``customers_end``, the firm's customers after period ``T``.
"""

import numpy as np
import pandas as pd

from sim.config import Config

from . import money, retention

OUTCOME_COLUMNS = (
    "retention_rate",
    "annual_retention",
    "expected_lifetime",
    "customer_equity",
    "clv_mean",
    "revenue",
    "cost",
    "profit",
    "contribution",
    "referral_value",
    "acquisition_cost",
    "policy_cost",
    "projected_remainder",
    "acquisitions",
    "referral_acquisitions",
    "rival_acquisitions",
    "defections",
    "satisfied_defector_share",
    "customers_end",
    "projected_clv_mean",
    "top20_profit_share",
    "clv_gini",
    "clv_median",
    "clv_p90",
    "value_equity",
    "brand_equity",
    "relationship_equity",
    "loyalty_index",
    "satisfaction_mean",
    "satisfaction_sd",
    "value_far_from_standard",
)
"""The outcome columns of ``runs.parquet``, in order."""


def _by_firm(ledger: pd.DataFrame, column: str | pd.Series) -> "pd.core.groupby.SeriesGroupBy":
    values = ledger[column] if isinstance(column, str) else column
    return values.groupby(ledger["firm"], sort=False)


def _at_period(ledger: pd.DataFrame, period, column: str) -> pd.Series:
    """``column`` by firm in ``period``.

    The two columns are taken first: ``set_index`` on the wide ledger deletes
    the firm column from every block of it, some 5 ms a call.
    """
    rows = ledger[ledger["period"] == period]
    return rows[["firm", column]].set_index("firm")[column]


def _last(ledger: pd.DataFrame, column: str) -> pd.Series:
    return _at_period(ledger, ledger["period"].max(), column)


def total(ledger: pd.DataFrame, column: str) -> pd.Series:
    """Sum of a ledger column over all periods."""
    return _by_firm(ledger, column).sum()


def retention_rate(ledger: pd.DataFrame) -> pd.Series:
    """Mean period retention over periods 1..T (periods without customers skipped)."""
    later = ledger[ledger["period"] >= 1]
    return _by_firm(later, "retention").mean().reindex(firm_order(ledger))


EQUITY_TERMS = (
    "contribution",
    "referral_value",
    "acquisition_cost",
    "policy_cost",
    "projected_remainder",
)
"""The terms of :func:`equity_ledger`, in order; customer equity is their signed sum."""
_EQUITY_SIGNS = (1.0, 1.0, -1.0, -1.0, 1.0)


def equity_ledger(ledger: pd.DataFrame, clv: pd.DataFrame) -> pd.DataFrame:
    """Per firm: the discounted terms of customer equity and their exact sum.

    Args:
        ledger: the run's ledger frame.
        clv: :func:`analysis.money.customer_clv` of the run (its
            ``projected_clv``, already discounted to period 0, summed by firm
            is the projected remainder).

    Returns:
        One row per firm (model order): :data:`EQUITY_TERMS` as positive
        amounts, then ``customer_equity`` = contribution + referral value -
        acquisition cost - policy cost + projected remainder.
    """
    order = firm_order(ledger)
    terms = {name: total(ledger, f"discounted_{name}").reindex(order) for name in EQUITY_TERMS[:-1]}
    projected = clv["projected_clv"].groupby(clv["firm"].astype(object)).sum()
    terms["projected_remainder"] = projected.reindex(order, fill_value=0.0).astype(float)
    frame = pd.DataFrame(terms)
    equity = sum(sign * frame[name] for name, sign in zip(EQUITY_TERMS, _EQUITY_SIGNS, strict=True))
    frame["customer_equity"] = equity
    return frame


def customer_equity(ledger: pd.DataFrame, clv: pd.DataFrame) -> pd.Series:
    """Customer equity per firm: the sum of :func:`equity_ledger`'s terms."""
    return equity_ledger(ledger, clv)["customer_equity"]


ANNUAL = 12
"""Periods in a year."""


def annual_retention(cohorts: pd.DataFrame, first: int = 13) -> pd.Series:
    """Share of a firm's customers at ``t`` still its customers at ``t + 12``, averaged over t.

    ``R(t) = sum_{c <= t} n(c, t + 12) / sum_{c <= t} n(c, t)``, with
    ``n(c, t)`` the customers acquired in cohort ``c`` still with the firm at
    ``t`` (a relationship that ended and restarted is in a later cohort, so
    it is not counted as kept). Averaged over ``t = first .. T - 12`` (from 1
    for runs too short for ``first``); NaN for runs of under 13 periods or a
    firm without customers. Cohorts wider than one period (runs over 120
    periods) count the cohort that holds ``t`` whole.

    Args:
        cohorts: the run's cohort frame (``CRMModel.cohort_frame()``).
        first: the first period ``t`` (13: after the first year).
    """
    order = pd.Index(cohorts["firm"].drop_duplicates(), name="firm")
    last = int(cohorts["period"].max()) if len(cohorts) else 0
    start = first if last - ANNUAL >= first else 1
    months = np.arange(start, last - ANNUAL + 1)
    result = {}
    for firm, mine in cohorts.groupby("firm", sort=False):
        # the cohort x period table of active customers, summed over the cohorts up to
        # each row: what a pivot table and a sum per t gave, in one pass (the dashboard
        # recomputes this every month)
        labels, row = np.unique(mine["cohort"].to_numpy(), return_inverse=True)
        periods, column = np.unique(mine["period"].to_numpy(), return_inverse=True)
        active = mine["active"].to_numpy()
        table = np.zeros((len(labels), len(periods)), dtype=active.dtype)
        np.add.at(table, (row, column), active)
        upto = np.cumsum(table, axis=0)
        shares = []
        for t in months:
            kept = np.searchsorted(labels, t, side="right")  # cohorts <= t
            now, later = _columns(periods, t), _columns(periods, t + ANNUAL)
            base = upto[kept - 1, now] if kept else 0
            if base > 0:
                shares.append(upto[kept - 1, later] / base)
        result[firm] = float(np.mean(shares)) if shares else np.nan
    return pd.Series(result, dtype=float).reindex(order)


def _columns(periods: np.ndarray, t: int) -> int:
    """The column of period ``t`` in a table whose columns are ``periods`` (sorted)."""
    index = int(np.searchsorted(periods, t))
    if index == len(periods) or periods[index] != t:
        raise KeyError(t)
    return index


def expected_lifetime(annual: pd.Series) -> pd.Series:
    """Expected customer lifetime in years, ``1 / (1 - annual retention)``."""
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 - annual)


def clv_mean(ledger: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """Mean realized CLV per relationship the firm had (ended and current).

    Args:
        ledger: the run's ledger frame.
        customers: ``CRMModel.customers_frame()`` at the end of the run.
    """
    order = firm_order(ledger)
    current = customers.groupby("firm", observed=False)["clv"].sum().astype(float)
    relationships = _at_period(ledger, 0, "customers") + total(ledger, "acquisitions")
    value = total(ledger, "ended_clv") + current.reindex(order, fill_value=0.0)
    return value / relationships.replace(0, np.nan)


def satisfied_defector_share(ledger: pd.DataFrame) -> pd.Series:
    """Share of defectors by choice who were satisfied when they left (NaN without any)."""
    defections = total(ledger, "defections") - total(ledger, "defections_life")
    return total(ledger, "satisfied_defectors") / defections.replace(0, np.nan)


def firm_order(ledger: pd.DataFrame) -> pd.Index:
    """Firm names in the model's order."""
    return pd.Index(ledger["firm"].drop_duplicates(), name="firm")


def clv_summary(clv: pd.DataFrame, order: pd.Index) -> pd.DataFrame:
    """Per firm: mean projected CLV, top-20% share, Gini, median and 90th percentile of total CLV.

    Args:
        clv: :func:`analysis.money.customer_clv` of the run.
        order: the firms, in model order.
    """
    rows = {}
    for firm in order:
        mine = clv[clv["firm"].astype(object) == firm]
        total_clv = mine["total_clv"].to_numpy(dtype=float)
        empty = total_clv.size == 0
        rows[firm] = {
            "projected_clv_mean": np.nan if empty else float(mine["projected_clv"].mean()),
            "top20_profit_share": money.top_share(total_clv, 0.2),
            "clv_gini": np.nan if empty else money.gini(total_clv),
            "clv_median": np.nan if empty else float(np.median(total_clv)),
            "clv_p90": np.nan if empty else float(np.quantile(total_clv, 0.9)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").reindex(order)


def mean_loyalty_index(customers: pd.DataFrame, config: Config, order: pd.Index) -> pd.Series:
    """Mean loyalty index (default weights) of each firm's customers at the end."""
    current = customers[customers["firm"].notna()]
    index = retention.loyalty_index(current, config)
    return index.groupby(current["firm"].astype(object)).mean().reindex(order)


def satisfaction_spread(customers: pd.DataFrame, order: pd.Index) -> pd.DataFrame:
    """Per firm: mean and standard deviation of its current customers' satisfaction."""
    current = customers[customers["firm"].notna()]
    grouped = current["satisfaction"].astype(float).groupby(current["firm"].astype(object))
    return pd.DataFrame(
        {"satisfaction_mean": grouped.mean(), "satisfaction_sd": grouped.std()}
    ).reindex(order)


def value_far_from_standard(customers: pd.DataFrame, order: pd.Index) -> pd.Series:
    """Mean value the firm's customers in the market's top quarter of need misfit perceive."""
    misfit = customers["need_distance"] * customers["personalization_need"]
    far = customers[(misfit > misfit.quantile(0.75)) & customers["firm"].notna()]
    value = far["value"].astype(float).groupby(far["firm"].astype(object)).mean()
    return value.reindex(order)


def firm_outcomes(
    ledger: pd.DataFrame,
    customers: pd.DataFrame,
    config: Config,
    cohorts: pd.DataFrame,
    clv: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per firm: every column of :data:`OUTCOME_COLUMNS`, firms in model order.

    Args:
        ledger: the run's ledger frame.
        customers: ``CRMModel.customers_frame()`` at the end of the run.
        config: the run's configuration.
        cohorts: the run's cohort frame (``CRMModel.cohort_frame()``).
        clv: :func:`analysis.money.customer_clv` if already computed.
    """
    order = firm_order(ledger)
    if clv is None:
        clv = money.customer_clv(customers, ledger, config)
    books = equity_ledger(ledger, clv)
    equity = books["customer_equity"]
    drivers = money.equity_drivers(clv, equity.reindex(order), config)
    annual = annual_retention(cohorts).reindex(order)
    summary = clv_summary(clv, order)
    outcomes = {
        "retention_rate": retention_rate(ledger),
        "annual_retention": annual,
        "expected_lifetime": expected_lifetime(annual),
        "customer_equity": equity,
        "clv_mean": clv_mean(ledger, customers),
        "revenue": total(ledger, "revenue"),
        "cost": total(ledger, "cost"),
        "profit": total(ledger, "profit"),
        "contribution": books["contribution"],
        "referral_value": books["referral_value"],
        "acquisition_cost": books["acquisition_cost"],
        "policy_cost": books["policy_cost"],
        "projected_remainder": books["projected_remainder"],
        "acquisitions": total(ledger, "acquisitions"),
        "referral_acquisitions": total(ledger, "acquisitions_referral"),
        "rival_acquisitions": total(ledger, "acquisitions_rival"),
        "defections": total(ledger, "defections"),
        "satisfied_defector_share": satisfied_defector_share(ledger),
        "customers_end": _last(ledger, "customers"),
        **{name: summary[name] for name in summary.columns},
        **{name: drivers[name] for name in money.DRIVERS},
        "loyalty_index": mean_loyalty_index(customers, config, order),
        **{name: values for name, values in satisfaction_spread(customers, order).items()},
        "value_far_from_standard": value_far_from_standard(customers, order),
    }
    frame = pd.DataFrame({name: outcomes[name].reindex(order) for name in OUTCOME_COLUMNS})
    for name in (
        "acquisitions",
        "referral_acquisitions",
        "rival_acquisitions",
        "defections",
        "customers_end",
    ):
        frame[name] = frame[name].astype(np.int64)
    return frame.reset_index()
