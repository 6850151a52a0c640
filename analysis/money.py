"""Money metrics: customer lifetime value, customer equity and its drivers, firm value, ROI.

Every function is a named, module-level function over arrays or the tidy
frames a run yields (the ledger ``CRMModel.firm_frame()``, the end-of-run
``CRMModel.customers_frame()``) or over ``runs.parquet``. Sources: MODEL.md
section 6 (seed 001: CLV, customer equity, firm value under a resource
constraint, CRM ROI; seed 003: the 80/20 figure), Gupta & Lehmann (2003) for
the retention-based closed forms, Rust, Zeithaml & Lemon (2000, 2004) for the
value / brand / relationship equity drivers.

Conventions: ``m`` is a margin per period, ``r`` the per-period retention
(chance that a customer of this period is still a customer next period),
``d`` the discount rate per period. A customer's margin of period ``t``
counts ``(1 + d)^-t``, as in the engine (``sim.model``: money is discounted
to period 0).
"""

import numpy as np
import pandas as pd

from sim import rules
from sim.config import Config

from .tables import t_quantile, t_test_p_value

ACTIVE_STAGES = ("exploration", "formation", "stability", "decline")
"""The stages in which a customer has a firm (and a retention rate of its own)."""


# ---------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------


def lifetime_value(margin, retention, discount_rate, horizon: int | None = None):
    """Expected lifetime value of a customer who pays ``m`` now and each period it stays.

    With survival ``r^t`` to period ``t`` and discounting ``(1 + d)^-t``::

        CLV = sum_{t=0}^{N-1} m (r / (1 + d))^t
            = m (1 - q^N) / (1 - q),   q = r / (1 + d)      (finite horizon N)
            = m (1 + d) / (1 + d - r)                        (N -> infinity)

    (Gupta & Lehmann 2003; the "margin multiple" ``(1 + d) / (1 + d - r)``.)

    Args:
        margin: ``m``, margin per period.
        retention: ``r`` in [0, 1].
        discount_rate: ``d`` >= 0 per period; with ``d = 0`` and ``r = 1`` the
            infinite sum diverges (``inf``).
        horizon: ``N`` periods, or None for the infinite horizon.
    """
    margin, retention = np.asarray(margin, dtype=float), np.asarray(retention, dtype=float)
    growth = 1.0 + discount_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        if horizon is None:
            return margin * growth / (growth - retention)
        ratio = retention / growth
        return np.where(
            np.isclose(ratio, 1.0),
            margin * horizon,
            margin * (1.0 - ratio**horizon) / (1.0 - ratio),
        )


def remaining_value(margin, retention, discount_rate, horizon: int | None = None):
    """Expected value of the next ``H`` periods of a customer here now.

    ``sum_{h=1..H} m q^h = m q (1 - q^H) / (1 - q)``, ``q = r / (1 + d)``;
    with ``horizon`` None, the infinite sum ``m r / (1 + d - r)``. It is
    :func:`lifetime_value` minus the margin of the current period: what a
    customer who is here now is still worth, seen from now.
    """
    margin, retention = np.asarray(margin, dtype=float), np.asarray(retention, dtype=float)
    q = retention / (1.0 + discount_rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        if horizon is None:
            return margin * retention / (1.0 + discount_rate - retention)
        return np.where(
            np.isclose(q, 1.0), margin * horizon, margin * q * (1.0 - q**horizon) / (1.0 - q)
        )


# ---------------------------------------------------------------------------
# Per-customer CLV from one run
# ---------------------------------------------------------------------------


def stage_retention(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per-period retention of each firm's customers by the stage they are in.

    ``r_s = 1 - D_s / N_s``: ``D_s`` the relationships that ended while in
    stage ``s`` (ledger ``defections_<stage>``, periods 1..T) and ``N_s`` the
    customer-periods at risk (the firm's stage-``s`` count at the end of
    periods 0..T-1, i.e. at the start of each period). A stage without
    exposure takes the firm's overall retention (``sum retained / sum
    customers_start``). Moving between stages is not a loss, so this is the
    constant-hazard retention of a customer who stays in its stage.

    Returns:
        One row per firm (model order), one column per active stage.
    """
    last = ledger["period"].max()
    start = ledger[ledger["period"] < last]
    later = ledger[ledger["period"] >= 1]
    order = pd.Index(ledger["firm"].drop_duplicates(), name="firm")
    stages = list(ACTIVE_STAGES)
    lost_columns = [f"defections_{stage}" for stage in stages]
    # two groupbys and array arithmetic, not two groupbys per stage: the dashboard
    # recomputes this every month
    exposure = start.groupby("firm", sort=False)[stages].sum().reindex(order).to_numpy(float)
    sums = later.groupby("firm", sort=False)[[*lost_columns, "retained", "customers_start"]].sum()
    sums = sums.reindex(order)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = sums["retained"].to_numpy(float) / sums["customers_start"].to_numpy(float)
        rate = 1.0 - sums[lost_columns].to_numpy(float) / exposure
    rate[exposure == 0] = np.nan
    overall = np.broadcast_to(overall[:, None], rate.shape)
    rate = np.clip(np.where(np.isnan(rate), overall, rate), 0.0, 1.0)
    return pd.DataFrame(np.nan_to_num(rate, nan=0.0), index=order, columns=stages)


def customer_margin(customers: pd.DataFrame, config: Config) -> np.ndarray:
    """Each current customer's expected contribution per period at its stage (0 without a firm).

    ``m_i = margin_f * E[revenue_i] - serve_cost_f`` with the expected revenue
    :func:`sim.rules.revenue` of :func:`sim.rules.occasion_rate` occasions
    (the customer's purchase rate x the stage's purchase depth), its spend,
    the firm's configured price and the stage's wallet share, and
    :func:`sim.rules.margin`: the engine's accounting (``sim.model``) before
    strategy levers and policies. Referral value is not in it: it is booked
    at the firm, for realized referrals only (:func:`sim.rules.referral_value`).
    """
    stage = customers["stage"].astype(str).to_numpy()
    firm = customers["firm"].astype(object).to_numpy()
    return stage_margin(
        firm,
        stage,
        customers["spend"].to_numpy(dtype=float),
        customers["purchase_rate"].to_numpy(dtype=float),
        config,
        firm_keys=[firm_config.name for firm_config in config.firms],
        stage_keys=ACTIVE_STAGES,
    )


def stage_margin(firm, stage, spend, rate, config: Config, firm_keys, stage_keys) -> np.ndarray:
    """:func:`customer_margin` on arrays: the same arithmetic, whatever labels the arrays use.

    Args:
        firm: each customer's firm, as a label.
        stage: each customer's stage, as a label.
        spend: each customer's spend (floats).
        rate: each customer's purchase rate (floats).
        config: the run's config.
        firm_keys: the label of each of ``config.firms``, in order (names, or codes).
        stage_keys: the label of each of :data:`ACTIVE_STAGES`, in order.
    """
    relationship = config.relationship
    margin = np.zeros(len(firm))
    for key, firm_config in zip(firm_keys, config.firms, strict=True):
        mine = firm == key
        for stage_key, stage_name in zip(stage_keys, ACTIVE_STAGES, strict=True):
            where = mine & (stage == stage_key)
            if not where.any():
                continue
            expected = rules.occasion_rate(
                rate[where], getattr(relationship.purchase_depth, stage_name)
            )
            sales = rules.revenue(
                expected,
                spend[where],
                firm_config.price,
                getattr(relationship.wallet_share, stage_name),
            )
            margin[where] = rules.margin(sales, firm_config.margin, firm_config.serve_cost)
    return margin


def customer_clv(customers: pd.DataFrame, ledger: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Realized and projected CLV of every customer with a firm at the end of the run.

    * ``realized_clv``: the engine's ``clv``: discounted contribution (net of
      the policy spending on the customer) of the current relationship, to
      period ``T``, discounted to period 0.
    * ``projected_clv``: expected remaining value over the planning horizon
      ``H`` (``simulation.planning_horizon``), ``sum_{h=1..H} m_i (r_s /
      (1 + d))^h`` (:func:`remaining_value`) with ``m_i`` from
      :func:`customer_margin` and ``r_s`` the firm's retention in the
      customer's stage (:func:`stage_retention`), discounted to period 0 by
      ``(1 + d)^-T``. Finite: never a perpetuity.
    * ``total_clv`` = realized + projected.

    Returns:
        The current customers' rows of ``customers`` (firm not missing) with
        ``margin``, ``stage_retention``, ``realized_clv``, ``projected_clv``
        and ``total_clv`` added.
    """
    d = config.simulation.discount_rate
    horizon = float(ledger["period"].max())
    current = customers[customers["firm"].notna()].copy()
    retention = stage_retention(ledger)
    margin = customer_margin(current, config)
    stage = current["stage"].astype(str).to_numpy()
    firm = current["firm"].astype(object).to_numpy()
    r = np.zeros(len(current))
    for name in retention.index:
        for stage_name in ACTIVE_STAGES:
            r[(firm == name) & (stage == stage_name)] = retention.at[name, stage_name]
    current["margin"] = margin
    current["stage_retention"] = r
    current["realized_clv"] = current["clv"].astype(float)
    current["projected_clv"] = (
        remaining_value(margin, r, d, config.simulation.planning_horizon) * (1.0 + d) ** -horizon
    )
    current["total_clv"] = current["realized_clv"] + current["projected_clv"]
    return current.reset_index(drop=True)


# ---------------------------------------------------------------------------
# Distribution of value
# ---------------------------------------------------------------------------


def top_share(values, share: float = 0.2) -> float:
    """Share of the positive value held by the top ``share`` of customers (the 80/20 figure).

    The ``ceil(share * n)`` largest values summed (negatives count as 0), over
    the sum of the positive values; NaN if no value is positive. Seed 003:
    about 80% of profit comes from 20% of customers.
    """
    values = np.clip(np.asarray(values, dtype=float), 0.0, None)
    positive = values.sum()
    if values.size == 0 or positive <= 0:
        return float("nan")
    count = int(np.ceil(share * values.size - 1e-9))
    return float(np.sort(values)[::-1][:count].sum() / positive)


def lorenz_curve(values) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of value: share of customers (poorest first) vs share of positive value.

    Returns:
        ``(customer_share, value_share)``, both starting at 0 and ending at 1.
    """
    values = np.sort(np.clip(np.asarray(values, dtype=float), 0.0, None))
    n = values.size
    customer_share = np.linspace(0.0, 1.0, n + 1)
    total = values.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    value_share = cumulative / total if total > 0 else customer_share
    return customer_share, value_share


def gini(values) -> float:
    """Gini coefficient of the positive part of value (0: equal, toward 1: concentrated)."""
    customer_share, value_share = lorenz_curve(values)
    if len(customer_share) < 2:
        return float("nan")
    area = float(np.sum(np.diff(customer_share) * (value_share[1:] + value_share[:-1]) / 2.0))
    return float(1.0 - 2.0 * area)


# ---------------------------------------------------------------------------
# Equity drivers
# ---------------------------------------------------------------------------

DRIVERS = {
    "value_equity": ("value", "satisfaction"),
    "brand_equity": ("trust",),
    "relationship_equity": ("switching_cost",),
}
"""Rust, Zeithaml & Lemon's three equity drivers and the determinants whose levers they are.

Value equity: quality, price and fit (the firm's quality, price and adaptation
set perceived value; satisfaction is value against expectation). Brand
equity: reputation and trust (trust moves toward satisfaction and the firm's
reputation). Relationship equity: switching cost and relational benefits
(loyalty programmes, specific investments).
"""


def driver_contributions(customers: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Each customer's loyalty drive split into the three drivers.

    ``L = w_V V + w_S S^gamma + w_T T + w_C C`` with the stage weights of the
    market (``market.stage_weights``) and ``gamma`` =
    ``relationship.satisfaction_convexity`` (the engine's loyalty drive,
    ``sim.rules.loyalty_drive``; V clipped to [0, 1]). Columns: the drivers of
    :data:`DRIVERS`, each the sum of its determinants' terms.
    """
    weights = config.market.stage_weights
    stage = customers["stage"].astype(str).to_numpy()
    terms = {
        "value": np.clip(customers["value"].to_numpy(dtype=float), 0.0, 1.0),
        "satisfaction": np.clip(customers["satisfaction"].to_numpy(dtype=float), 0.0, 1.0)
        ** config.relationship.satisfaction_convexity,
        "trust": customers["trust"].to_numpy(dtype=float),
        "switching_cost": customers["switching_cost"].to_numpy(dtype=float),
    }
    weighted = {name: np.zeros(len(customers)) for name in terms}
    for stage_name in ACTIVE_STAGES:
        where = stage == stage_name
        stage_weights = getattr(weights, stage_name)
        for name, term in terms.items():
            weighted[name][where] = getattr(stage_weights, name) * term[where]
    return pd.DataFrame(
        {
            driver: sum(weighted[d] for d in determinants)
            for driver, determinants in DRIVERS.items()
        },
        index=customers.index,
    )


def equity_drivers(clv: pd.DataFrame, equity: pd.Series, config: Config) -> pd.DataFrame:
    """Split each firm's customer equity into value, brand and relationship equity.

    Attribution: each current customer's total CLV is split in proportion to
    the three drivers' terms in its loyalty drive (:func:`driver_contributions`:
    the drive that keeps it from declining and exiting); a firm's shares are
    the CLV-weighted means over its customers (weights ``max(total_clv, 0)``,
    equal weights if no customer has positive value), and its equity is split
    by those shares, so the three columns sum to ``customer_equity``. It says
    which determinants hold the value the firm keeps, not a counterfactual
    effect of changing a lever.

    Args:
        clv: :func:`customer_clv` of the run.
        equity: customer equity per firm (:func:`analysis.metrics.customer_equity`).
        config: the run's configuration.

    Returns:
        One row per firm of ``equity``'s index, one column per driver (NaN for a
        firm without customers at the end).
    """
    parts = driver_contributions(clv, config)
    drive = parts.sum(axis=1).replace(0.0, np.nan)
    shares = parts.div(drive, axis=0).fillna(1.0 / len(DRIVERS))
    weight = clv["total_clv"].clip(lower=0.0)
    rows = {}
    for firm in equity.index:
        mine = (clv["firm"].astype(object) == firm).to_numpy()
        if not mine.any():
            rows[firm] = {driver: np.nan for driver in DRIVERS}
            continue
        w = weight[mine].to_numpy()
        w = w if w.sum() > 0 else np.ones_like(w)
        firm_shares = (shares[mine].to_numpy() * w[:, None]).sum(axis=0) / w.sum()
        rows[firm] = dict(zip(DRIVERS, firm_shares * equity[firm], strict=True))
    return pd.DataFrame.from_dict(rows, orient="index").reindex(equity.index)


# ---------------------------------------------------------------------------
# Firm value under a resource constraint
# ---------------------------------------------------------------------------


def firm_value(lifetime_values, resources, total_resources: float) -> float:
    """Firm value ``P = sum LTV_i`` over the customers a firm can afford to serve.

    MODEL.md section 6 (seed 001): customer ``i`` needs resources ``CR_i``; the
    firm has ``TR``. The firm serves the customers with positive LTV in
    decreasing order of LTV per unit of resource (the greedy solution of the
    knapsack problem ``max sum LTV_i x_i`` s.t. ``sum CR_i x_i <= TR``),
    skipping any that no longer fit; customers needing no resources are free.

    Args:
        lifetime_values: ``LTV_i`` per customer.
        resources: ``CR_i`` >= 0 per customer (e.g. its cost to serve per period).
        total_resources: ``TR`` >= 0.

    Raises:
        ValueError: on negative resources or mismatched lengths.
    """
    ltv = np.asarray(lifetime_values, dtype=float)
    need = np.asarray(resources, dtype=float)
    if ltv.shape != need.shape:
        raise ValueError(
            f"lifetime_values and resources differ in length ({ltv.size} vs {need.size})"
        )
    if (need < 0).any() or total_resources < 0:
        raise ValueError("resources must be 0 or more")
    worth = ltv > 0
    ltv, need = ltv[worth], need[worth]
    with np.errstate(divide="ignore"):
        density = np.where(need > 0, ltv / np.where(need > 0, need, 1.0), np.inf)
    order = np.argsort(-density, kind="stable")
    ltv, need = ltv[order], need[order]
    # The greedy pass, a run of customers at a time: while every next customer fits, the
    # running sums are numpy's accumulations, which add one term after the other as a
    # loop over the customers would (the same floats); at the first that does not fit,
    # those that cannot fit any more (the resources left only shrink) are dropped.
    value, left = 0.0, float(total_resources)
    while ltv.size:
        lefts = np.subtract.accumulate(np.concatenate(([left], need)))
        fits = need <= lefts[:-1] + 1e-12
        taken = int(np.argmin(fits)) if not fits.all() else fits.size
        if taken:
            value = float(np.add.accumulate(np.concatenate(([value], ltv[:taken])))[-1])
            left = float(lefts[taken])
        rest = slice(taken + 1, None)
        can_fit = need[rest] <= left + 1e-12
        ltv, need = ltv[rest][can_fit], need[rest][can_fit]
    return value


def firm_value_curve(clv: pd.DataFrame, config: Config, shares=(1.0, 0.8, 0.5)) -> pd.DataFrame:
    """Firm value of each firm when its resources cover a share of what serving all needs.

    ``LTV_i`` = ``total_clv`` (:func:`customer_clv`); ``CR_i`` = the firm's
    configured cost to serve per customer and period (``firms.*.serve_cost``),
    so ``TR = share * serve_cost * customers``.

    Returns:
        Columns ``firm``, ``resource_share``, ``firm_value``, ``customers_served_value``
        (the value at share 1, for reference).
    """
    rows = []
    names = clv["firm"].astype(object).to_numpy()  # once: the report calls this per group
    values = clv["total_clv"].to_numpy(dtype=float)
    for firm in config.firms:
        ltv = values[names == firm.name]
        need = np.full(ltv.size, firm.serve_cost)
        full = float(ltv[ltv > 0].sum())
        for share in shares:
            rows.append(
                {
                    "firm": firm.name,
                    "resource_share": share,
                    "firm_value": firm_value(ltv, need, share * need.sum()),
                    "unconstrained_value": full,
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# CRM ROI against a baseline
# ---------------------------------------------------------------------------


def paired_runs(runs: pd.DataFrame, baseline: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Pair each run x firm of ``runs`` with the baseline's run x firm of the same seed.

    Seeds derive from the scenario seed, the swept values and the replication
    (``experiments.sweep.run_seed``), so equal seeds mean common random numbers.
    If no seed matches, rows are paired by setting and replication instead
    (``common_random_numbers`` is then False: the pairs are independent draws).

    Returns:
        One row per pair: the scenario's columns and the baseline's, the
        latter suffixed ``_baseline``, plus ``common_random_numbers``.

    Raises:
        ValueError: a run x firm of ``runs`` has no partner in ``baseline``
            (named by its ``run_id``, or seed, and firm): a ROI over the
            pairs that happen to match would be a different experiment's.
    """
    keys = list(keys)
    on = ["seed", *keys]
    merged = runs.merge(baseline, on=on, suffixes=("", "_baseline"))
    merged["common_random_numbers"] = True
    if merged.empty:
        on = ["setting", "replication", *keys]
        merged = runs.merge(baseline, on=on, suffixes=("", "_baseline"))
        merged["common_random_numbers"] = False
    require_pairs(runs, merged, on)
    return merged


def require_pairs(runs: pd.DataFrame, pairs: pd.DataFrame, on) -> None:
    """Raise ``ValueError`` naming the first row of ``runs`` that no row of ``pairs`` holds.

    ``on`` are the columns the pairs were matched on.
    """
    on = list(on)
    found = runs[on].merge(pairs[on].drop_duplicates(), on=on, how="left", indicator=True)
    missing = runs.loc[(found["_merge"] == "left_only").to_numpy()]
    if missing.empty:
        return
    first = missing.iloc[0]
    name = (
        f"run {first['run_id']}"
        if "run_id" in missing.columns
        else f"the run of seed {first['seed']}"
    )
    where = ", ".join(f"{c} {first[c]}" for c in on if c not in ("seed", "run_id"))
    raise ValueError(
        f"{name} ({where}) has no baseline run to pair with ({len(missing)} unpaired "
        f"of {len(runs)}); pairs are matched on {', '.join(on)}"
    )


def policy_returns(pairs: pd.DataFrame) -> pd.DataFrame:
    """What a policy spent and returned in each pair of runs, as finance counts it.

    With ``d`` scenario minus baseline of the same replication (common
    random numbers):

    * spend ``S = d(policy_cost)``: the policies' discounted spend (the
      ledger's ``discounted_policy_cost``, summed over the run);
    * gross gain ``D = d(customer_equity + policy_cost)``: the change in
      customer equity before policy spend (discounted contribution, referral
      value, acquisition cost and the projected remainder);
    * incremental equity ``D - S = d(customer_equity)``;
    * ``roi = (D - S) / S``, NaN where ``S <= 0`` (an ROI needs an outlay).

    Returns:
        One row per pair (``pairs``' index): ``spend``, ``gross_gain``,
        ``incremental_equity``, ``roi``.
    """
    spend = incremental(pairs, "policy_cost")
    equity = incremental(pairs, "customer_equity")
    return pd.DataFrame(
        {
            "spend": spend,
            "gross_gain": equity + spend,
            "incremental_equity": equity,
            "roi": equity / spend.where(spend > 0),
        },
        index=pairs.index,
    )


def roi_estimate(incremental_equity, spend, level: float = 0.95) -> dict:
    """ROI over paired replications, with its confidence interval and a paired test.

    ``ROI = sum(D_k - S_k) / sum(S_k)`` over the pairs ``k`` (a ratio of
    means: stable where some pairs spend little). Its interval is the delta
    method's: with residuals ``e_k = (D_k - S_k) - ROI S_k``, the standard
    error is ``sd(e) / (sqrt(n) mean(S))``, and the interval uses Student's
    t with ``n - 1`` degrees of freedom. ``p_value`` is the paired t-test
    that the mean incremental equity ``D - S`` is 0 (equivalently, that the
    ROI is 0).

    Args:
        incremental_equity: ``D - S`` of each pair.
        spend: ``S`` of each pair.
        level: the confidence level.

    Returns:
        ``{"pairs", "roi", "roi_low", "roi_high", "p_value"}``; NaN for the
        ROI where the pairs spent nothing in total, NaN for the interval and
        the test with fewer than two pairs.
    """
    gain = np.asarray(incremental_equity, dtype=float)
    spend = np.asarray(spend, dtype=float)
    n = gain.size
    out = {"pairs": n, "roi": np.nan, "roi_low": np.nan, "roi_high": np.nan, "p_value": np.nan}
    if n >= 2:
        spread = gain.std(ddof=1)
        out["p_value"] = t_test_p_value(gain) if spread > 0 else float(gain.mean() == 0.0)
    if n == 0 or spend.sum() <= 0:
        return out
    roi = gain.sum() / spend.sum()
    out["roi"] = float(roi)
    if n >= 2:
        residual = gain - roi * spend
        half = t_quantile(n - 1, level) * residual.std(ddof=1) / (np.sqrt(n) * spend.mean())
        out["roi_low"], out["roi_high"] = float(roi - half), float(roi + half)
    return out


def incremental(pairs: pd.DataFrame, column: str) -> pd.Series:
    """Scenario minus baseline of ``column`` in each pair."""
    return pairs[column] - pairs[f"{column}_baseline"]
