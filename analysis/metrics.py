"""Named outcomes of one run, per firm, computed from the model's tidy frames.

Every function takes the ledger frame (``CRMModel.firm_frame()``: one row per
period x firm, period 0 = the initial state; columns in
:data:`sim.ledger.FIRM_COLUMNS`) and returns a :class:`pandas.Series` indexed
by firm name, in the model's firm order. :func:`firm_outcomes` assembles them
into one row per firm: the outcome columns of ``runs.parquet``.

Definitions (``T`` = last period, ``d`` = ``simulation.discount_rate``):

* ``retention_rate``: mean over periods ``1..T`` of the ledger's ``retention``
  (customers with the firm at ``t-1`` still with it at ``t``, over customers
  with it at ``t-1``); periods in which the firm had no customers are skipped.
* ``customer_equity``: realized, discounted value plus the projected value of
  the customers the firm has at the end::

      CE = sum_t discounted_profit_t + sum_t referral_value_t (1+d)^-t
           + (profit_T + referral_value_T) * r / (1 + d - r) * (1+d)^-T

  ``discounted_profit`` is already net of acquisition spend and discounted to
  period 0; ``r`` is the firm's mean retention over the last 12 periods (0 if
  it had no customers then). The last term is the retention-based perpetuity
  of the last period's margin (Gupta & Lehmann); with ``d = 0`` and ``r = 1``
  it diverges and the equity is ``inf``.
* ``clv_mean``: mean realized CLV per relationship: (CLV of the relationships
  that ended, ledger ``ended_clv``, plus the CLV to date of the current
  customers) / (customers at period 0 + acquisitions).
* ``satisfied_defector_share``: ``sum satisfied_defectors / sum defections``:
  the share of defectors whose satisfaction was at or above
  ``simulation.satisfied_threshold`` when they left (NaN without defections).
* CLV distribution over the firm's customers at the end
  (:func:`analysis.money.customer_clv`): ``projected_clv_mean`` (mean
  expected remaining value), ``top20_profit_share`` (share of the positive
  total CLV, realized plus projected, held by the top 20% of customers; seed
  003's 80/20), ``clv_gini``, ``clv_median`` and ``clv_p90`` of total CLV.
* ``value_equity``, ``brand_equity``, ``relationship_equity``: the customer
  equity split by driver (:func:`analysis.money.equity_drivers`; they sum to
  ``customer_equity``).
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

PROJECTION_PERIODS = 12
"""Periods at the end of a run whose mean retention projects the current customers' value."""

OUTCOME_COLUMNS = (
    "retention_rate", "customer_equity", "clv_mean", "revenue", "cost", "profit",
    "referral_value", "acquisitions", "referral_acquisitions", "defections",
    "satisfied_defector_share", "customers_end",
    "projected_clv_mean", "top20_profit_share", "clv_gini", "clv_median", "clv_p90",
    "value_equity", "brand_equity", "relationship_equity", "loyalty_index",
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


def recent_retention(ledger: pd.DataFrame, periods: int = PROJECTION_PERIODS) -> pd.Series:
    """Mean period retention over the last ``periods`` periods (0 where undefined)."""
    last = ledger["period"].max()
    recent = ledger[(ledger["period"] >= 1) & (ledger["period"] > last - periods)]
    return _by_firm(recent, "retention").mean().reindex(firm_order(ledger)).fillna(0.0)


def customer_equity(ledger: pd.DataFrame, discount_rate: float,
                    periods: int = PROJECTION_PERIODS) -> pd.Series:
    """Realized discounted profit and referral value plus the projected value of current customers.

    Args:
        ledger: the run's ledger frame.
        discount_rate: ``d``, per period.
        periods: how many final periods' retention ``r`` projects the future.
    """
    growth = 1.0 + discount_rate
    discount = growth ** -ledger["period"].astype(float)
    realized = (total(ledger, "discounted_profit")
                + _by_firm(ledger, ledger["referral_value"] * discount).sum())
    horizon = float(ledger["period"].max())
    margin = _last(ledger, "profit") + _last(ledger, "referral_value")
    r = recent_retention(ledger, periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        multiple = r / (growth - r)
    projected = margin * multiple * growth ** -horizon
    return realized + projected


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
    """Share of defectors who were satisfied when they left (NaN without defections)."""
    defections = total(ledger, "defections")
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


def firm_outcomes(ledger: pd.DataFrame, customers: pd.DataFrame, config: Config,
                  clv: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per firm: every column of :data:`OUTCOME_COLUMNS`, firms in model order.

    Args:
        ledger: the run's ledger frame.
        customers: ``CRMModel.customers_frame()`` at the end of the run.
        config: the run's configuration.
        clv: :func:`analysis.money.customer_clv` if already computed.
    """
    order = firm_order(ledger)
    if clv is None:
        clv = money.customer_clv(customers, ledger, config)
    equity = customer_equity(ledger, config.simulation.discount_rate)
    drivers = money.equity_drivers(clv, equity.reindex(order), config)
    summary = clv_summary(clv, order)
    outcomes = {
        "retention_rate": retention_rate(ledger),
        "customer_equity": equity,
        "clv_mean": clv_mean(ledger, customers),
        "revenue": total(ledger, "revenue"),
        "cost": total(ledger, "cost"),
        "profit": total(ledger, "profit"),
        "referral_value": total(ledger, "referral_value"),
        "acquisitions": total(ledger, "acquisitions"),
        "referral_acquisitions": total(ledger, "acquisitions_referral"),
        "defections": total(ledger, "defections"),
        "satisfied_defector_share": satisfied_defector_share(ledger),
        "customers_end": _last(ledger, "customers"),
        **{name: summary[name] for name in summary.columns},
        **{name: drivers[name] for name in money.DRIVERS},
        "loyalty_index": mean_loyalty_index(customers, config, order),
    }
    frame = pd.DataFrame({name: outcomes[name].reindex(order) for name in OUTCOME_COLUMNS})
    for name in ("acquisitions", "referral_acquisitions", "defections", "customers_end"):
        frame[name] = frame[name].astype(np.int64)
    return frame.reset_index()
