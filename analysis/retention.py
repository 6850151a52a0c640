"""Retention metrics: who stays, for how long, who leaves from which stage and why.

Named, module-level functions over the stored result tables
(``timeseries.parquet``, ``cohorts.parquet``, ``customers.parquet``) or the
frames of one model (``firm_frame()``, ``cohort_frame()``,
``customers_frame()``), which have the same columns. Sources: MODEL.md
sections 2, 6 and 8 (seed 000 lifecycle stages, seed 002 trajectory types
I-IV, seed 003 satisfied defectors and the 80/20 figure, seed 001 loyalty
measurement).
"""

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sim.config import Config

from .money import ACTIVE_STAGES

REASONS = {
    "defections_rival": "to a rival",
    "defections_market": "out of the market",
    "defections_life": "left the category",
}
"""Ledger columns of defections by reason, and their labels (they add up to ``defections``;
life: the customer left the category for reasons of its own, not by choice of supplier)."""

TRAJECTORIES = ("trajectory_I", "trajectory_II", "trajectory_III", "trajectory_IV")


def period_retention(timeseries: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Pooled period retention by period: ``sum retained / sum customers_start`` over runs.

    Returns:
        Columns ``keys``, ``period`` (1..T) and ``retention``.
    """
    later = timeseries[timeseries["period"] >= 1]
    grouped = later.groupby([*keys, "period"], sort=False)[["retained", "customers_start"]].sum()
    grouped["retention"] = grouped["retained"] / grouped["customers_start"].replace(0, np.nan)
    return grouped[["retention"]].reset_index()


POOLED_COHORT_COLUMNS = ("active", "size", "cohorts")
"""Columns of pooled cohort counts (:func:`cohort_counts`), besides the groups and ``tenure``."""


def cohort_counts(cohorts: pd.DataFrame, keys=("firm",), min_size: int = 1) -> pd.DataFrame:
    """Cohort survival's counts, before the ratio: what :func:`cohort_survival` pools.

    For each group and tenure: ``active`` (customers of the cohorts observed
    at that tenure still with the firm), ``size`` (those cohorts' sizes at
    tenure 0) and ``cohorts`` (how many cohorts). Counts of different runs add
    up, so a long table can be pooled piece by piece (whole runs at a time)
    and the pieces added (``groupby(...).sum()``): the report pools
    ``cohorts.parquet`` that way, without holding it in memory.

    Args:
        cohorts: rows with ``keys``, ``cohort``, ``tenure``, ``active`` (and
            ``run_id`` if several runs are pooled).
        keys: grouping columns.
        min_size: smallest cohort size counted.

    Returns:
        Columns ``keys``, ``tenure``, :data:`POOLED_COHORT_COLUMNS`, groups in
        the order they first appear.
    """
    keys = list(keys)
    # a cohort belongs to one firm of one run, whatever the grouping keys
    identity = [c for c in ("run_id", "firm", *keys, "cohort") if c in cohorts.columns]
    identity = list(dict.fromkeys(identity))
    at_acquisition = cohorts["active"].where(cohorts["tenure"] == 0)
    size = at_acquisition.groupby([cohorts[c] for c in identity], sort=False).transform("max")
    frame = cohorts.assign(size=size)
    frame = frame[frame["size"] >= max(min_size, 1)]
    pooled = frame.groupby([*keys, "tenure"], sort=False).agg(
        active=("active", "sum"), size=("size", "sum"), cohorts=("active", "size")
    )
    return pooled.reset_index()


def cohort_survival(cohorts: pd.DataFrame, keys=("firm",), min_size: int = 1) -> pd.DataFrame:
    """Survival curves: share of a cohort still with the firm, by tenure.

    A cohort is the customers a firm acquired in one period (``cohort``; 0
    holds those it started with). ``survival(k)`` pools the cohorts (and runs)
    in each group that are observed at tenure ``k``: their customers still
    active at tenure ``k`` over their size at tenure 0. Cohorts smaller than
    ``min_size`` are left out.

    Args:
        cohorts: rows with ``keys``, ``cohort``, ``tenure``, ``active`` (and
            ``run_id`` if several runs are pooled); or counts already pooled
            by :func:`cohort_counts` (with ``min_size`` 1) over finer groups,
            which are added up.
        keys: grouping columns (e.g. ``("strategy", "setting")``).
        min_size: smallest cohort size counted.

    Returns:
        Columns ``keys``, ``tenure``, ``survival``, ``cohorts`` (how many cohorts
        are observed at that tenure).
    """
    keys = list(keys)
    if set(POOLED_COHORT_COLUMNS) <= set(cohorts.columns):
        if min_size > 1:
            raise ValueError("cohort counts already pooled count every cohort (min_size 1)")
        pooled = cohorts.groupby([*keys, "tenure"], sort=False)[list(POOLED_COHORT_COLUMNS)].sum()
    else:
        pooled = cohort_counts(cohorts, keys, min_size).set_index([*keys, "tenure"])
    pooled["survival"] = pooled["active"] / pooled["size"]
    return (
        pooled[["survival", "cohorts"]]
        .reset_index()
        .sort_values(
            [*keys, "tenure"],
            key=lambda c: (
                c if c.name == "tenure" else c.map({v: i for i, v in enumerate(dict.fromkeys(c))})
            ),
            kind="stable",
            ignore_index=True,
        )
    )


KAPLAN_MEIER_COLUMNS = ("tenure", "survival", "lower", "upper", "at_risk", "ended")
"""Columns of :func:`kaplan_meier`, besides the groups."""

NORMAL_975 = 1.959963984540054
"""The standard normal's 97.5% quantile (a 95% interval)."""


def kaplan_meier(relationships: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Kaplan-Meier survival of relationships by tenure, with a 95% band, per group.

    From the relationship table (``relationships.parquet``,
    ``CRMModel.relationships_frame()``): ``duration``, ``event`` (1 ended,
    0 censored) and ``entry`` (left truncation: the tenure at which a
    relationship begun before the measured window came under observation).
    Tenure is whole periods: a relationship is at risk of ending at tenure
    ``k`` if ``entry < k <= duration`` (it had survived its entry tenure
    when it was first seen), and

        S(k) = prod over j = 1..k of (1 - d_j / n_j),

    ``d_j`` the relationships that ended at tenure ``j`` and ``n_j`` those at
    risk. The band is Greenwood's variance on the log(-log S) scale (what
    lifelines' ``KaplanMeierFitter`` reports): ``exp(-exp(log(-log S) +- z
    sqrt(V) / log S))``, ``V = sum d_j / (n_j (n_j - d_j))``; it is 1 before
    the first end. A relationship of length 0 (won back at the start of a
    period and gone in its defections) is never at risk at a whole tenure
    and so not counted, as the ledger's cohorts do not count it.

    Args:
        relationships: rows with ``keys``, ``duration``, ``event``, ``entry``.
        keys: grouping columns.

    Returns:
        Columns ``keys`` and :data:`KAPLAN_MEIER_COLUMNS`, tenure 0 .. the
        longest duration of the group, groups in the order they first appear.
    """
    keys = list(keys)
    if not len(relationships):
        return pd.DataFrame(columns=[*keys, *KAPLAN_MEIER_COLUMNS])
    if keys:
        grouped = relationships.groupby(keys, sort=False, observed=True)
        code = grouped.ngroup().to_numpy(np.int64)
        groups = grouped.size().index  # in the order of ngroup (first appearance)
    else:
        code = np.zeros(len(relationships), dtype=np.int64)
        groups = [()]
    duration = relationships["duration"].to_numpy(np.int64)
    event = relationships["event"].to_numpy(np.int64) == 1
    entry = relationships["entry"].to_numpy(np.int64)
    n_groups, length = len(groups), int(duration.max()) + 2

    def by_tenure(values, weights=None):  # counts by group (rows) and tenure (columns)
        counts = np.bincount(code * length + values, weights, minlength=n_groups * length)
        return counts.reshape(n_groups, length)

    def from_here(counts):  # how many at this tenure or later
        return np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]

    ended, lasting = by_tenure(duration, event.astype(np.float64)), by_tenure(duration)
    # at risk at k: lasting to k at least, less those that entered at k or later
    at_risk = from_here(lasting) - from_here(by_tenure(entry))
    ended[:, 0], at_risk[:, 0] = 0.0, np.maximum(at_risk[:, 0], 0)
    curves = _product_limit(ended, at_risk)
    longest = length - 1 - np.argmax(lasting[:, ::-1] > 0, axis=1)  # each group's longest
    kept = np.arange(length)[None, :] <= longest[:, None]
    rows, tenures = np.nonzero(kept)
    frame = pd.DataFrame({"tenure": tenures})
    for name, values in curves.items():
        frame[name] = values[kept]
    for position, key in enumerate(keys):
        values = groups.get_level_values(key) if len(keys) > 1 else groups
        frame.insert(position, key, np.asarray(values, dtype=object)[rows])
    return frame[[*keys, *KAPLAN_MEIER_COLUMNS]]


def _product_limit(ended: np.ndarray, at_risk: np.ndarray) -> dict[str, np.ndarray]:
    """Kaplan-Meier survival and its 95% band from counts by group (rows) and tenure."""
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(at_risk > 0, 1.0 - ended / at_risk, 1.0)
        greenwood = np.where(
            (at_risk > ended) & (ended > 0), ended / (at_risk * (at_risk - ended)), 0.0
        )
        survival = np.cumprod(step, axis=1)
        log_s = np.log(survival)
        spread = NORMAL_975 * np.sqrt(np.cumsum(greenwood, axis=1)) / log_s
        centre = np.log(-log_s)
        lower = np.exp(-np.exp(centre - spread))
        upper = np.exp(-np.exp(centre + spread))
    first, gone = survival >= 1.0, survival <= 0.0
    lower = np.where(first, 1.0, np.where(gone, 0.0, lower))
    upper = np.where(first, 1.0, np.where(gone, 0.0, upper))
    return {
        "survival": survival,
        "lower": np.minimum(lower, upper),
        "upper": np.maximum(lower, upper),
        "at_risk": at_risk,
        "ended": ended.astype(np.int64),
    }


def geometric_survival(retention: float, tenures) -> np.ndarray:
    """Survival of a constant-hazard cohort: ``r^k`` at tenure ``k``."""
    return retention ** np.asarray(tenures, dtype=float)


def churn_by_stage(timeseries: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Where relationships end: defections by the stage they were in, and each stage's hazard.

    Returns:
        One row per group and active stage: ``defections``, ``share`` (of the
        group's defections), ``exposure`` (customer-periods in the stage at the
        start of a period) and ``hazard`` (defections / exposure per period).
    """
    keys = list(keys)
    rows = []
    run = ["run_id"] if "run_id" in timeseries.columns else []
    # the last period of each run (of each group, if runs are not told apart) ends no exposure
    period = timeseries["period"]
    last = period.groupby([timeseries[c] for c in (*run, *keys)], sort=False).transform("max")
    sums = (
        timeseries[[*keys, *(f"defections_{s}" for s in ACTIVE_STAGES)]]
        .assign(
            **{
                f"lost_{s}": timeseries[f"defections_{s}"].where(period >= 1, 0)
                for s in ACTIVE_STAGES
            },
            **{f"exposure_{s}": timeseries[s].where(period < last, 0) for s in ACTIVE_STAGES},
        )
        .groupby(keys, sort=False)
        .sum()
    )
    for group, frame in sums.iterrows():
        group = group if isinstance(group, tuple) else (group,)
        total = sum(frame[f"defections_{s}"] for s in ACTIVE_STAGES)
        for stage in ACTIVE_STAGES:
            lost, exposure = frame[f"lost_{stage}"], frame[f"exposure_{stage}"]
            rows.append(
                {
                    **dict(zip(keys, group, strict=True)),
                    "stage": stage,
                    "defections": int(lost),
                    "share": lost / total if total else np.nan,
                    "exposure": int(exposure),
                    "hazard": lost / exposure if exposure else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _with_life(timeseries: pd.DataFrame) -> pd.DataFrame:
    """``timeseries`` with a ``defections_life`` column.

    Ledgers written before the market was open have none: nobody left the category then.
    """
    if "defections_life" in timeseries:
        return timeseries
    return timeseries.assign(defections_life=0)


def churn_by_reason(timeseries: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Defections to a rival, out of the market and out of the category, and exits from decline.

    Returns:
        Columns ``keys``, ``defections``, ``to_rival``, ``out_of_market``,
        ``life`` (shares of defections: they add up to 1) and ``from_decline``
        (share that ended in decline rather than by switching from an active
        stage; life exits are never counted there).
    """
    sums = (
        _with_life(timeseries)
        .groupby(list(keys), sort=False)[["defections", *REASONS, "exits_from_decline"]]
        .sum()
    )
    total = sums["defections"].replace(0, np.nan)
    return pd.DataFrame(
        {
            "defections": sums["defections"],
            "to_rival": sums["defections_rival"] / total,
            "out_of_market": sums["defections_market"] / total,
            "life": sums["defections_life"] / total,
            "from_decline": sums["exits_from_decline"] / total,
        }
    ).reset_index()


def trajectory_shares(timeseries: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Shares of finished relationships by trajectory type I-IV (seed 002).

    I ended in exploration, II in formation, III reached stability but left
    early, IV had a long stability (``simulation.long_stability``).
    """
    sums = timeseries.groupby(list(keys), sort=False)[list(TRAJECTORIES)].sum()
    total = sums.sum(axis=1).replace(0, np.nan)
    shares = sums.div(total, axis=0)
    shares.columns = [c.removeprefix("trajectory_") for c in shares.columns]
    return shares.reset_index()


def satisfied_defector_share(timeseries: pd.DataFrame, keys=("firm",)) -> pd.DataFrame:
    """Share of defectors who were satisfied when they left (seed 003: 65-85%).

    Defectors are those who left by choice (to a rival or out of the market):
    ``satisfied_defectors`` does not count customers who left the category for
    life reasons, so neither does the denominator.
    """
    sums = (
        _with_life(timeseries)
        .groupby(list(keys), sort=False)[["satisfied_defectors", "defections", "defections_life"]]
        .sum()
    )
    chose = sums["defections"] - sums["defections_life"]
    share = sums["satisfied_defectors"] / chose.replace(0, np.nan)
    return share.rename("satisfied_defector_share").reset_index()


def tenure_distribution(
    customers: pd.DataFrame, bins=(0, 6, 12, 24, 48, 96, np.inf), keys=("firm",)
) -> pd.DataFrame:
    """Current customers by tenure band (periods with the firm), as shares per group."""
    current = customers[customers["firm"].notna()]
    labels = [
        f"{int(a)}-{int(b) - 1}" if np.isfinite(b) else f"{int(a)}+"
        for a, b in itertools.pairwise(bins)
    ]
    band = pd.cut(current["tenure"], bins=list(bins), right=False, labels=labels)
    counts = current.groupby([*keys, band], observed=False).size().rename("customers")
    frame = counts.reset_index().rename(columns={"tenure": "tenure_band"})
    total = frame.groupby(list(keys), observed=False)["customers"].transform("sum")
    frame["share"] = frame["customers"] / total.replace(0, np.nan)
    return frame


# ---------------------------------------------------------------------------
# Loyalty index
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoyaltyWeights:
    """Weights of the loyalty index (seed 001: objective and subjective loyalty).

    ``objective`` weighs the behavioural part against the attitudinal one
    (``1 - objective``); inside each part the item weights are normalized to
    sum to 1. Seed 001 derives the subjective weights by AHP from a survey;
    without one the defaults weigh the items equally.

    Attributes:
        objective: weight of the objective (behavioural) part, in [0, 1].
        share_of_wallet: the customer's share of wallet at its stage
            (``relationship.wallet_share``).
        repeat_purchase: 1 once the customer has bought in a second period
            (tenure >= 1), else 0.
        tenure: tenure over the run's horizon, capped at 1.
        referrals: 1 if the customer is an advocate (stable and satisfied:
            the customers who bring referrals), else 0.
        price: the price evaluation, proxied by perceived value (it nets the
            price against what is delivered), clipped to [0, 1].
        quality: the quality evaluation, proxied by satisfaction (value
            against expectation).
        service: the service evaluation, proxied by trust (built by a series
            of satisfying contacts).
    """

    objective: float = 0.5
    share_of_wallet: float = 1.0
    repeat_purchase: float = 1.0
    tenure: float = 1.0
    referrals: float = 1.0
    price: float = 1.0
    quality: float = 1.0
    service: float = 1.0

    def __post_init__(self):
        values = asdict(self)
        negative = [name for name, value in values.items() if value < 0]
        if negative:
            raise ValueError(f"loyalty weights must be 0 or more: {', '.join(negative)}")
        if self.objective > 1:
            raise ValueError(f"objective must be in [0, 1], got {self.objective}")
        if sum(values[n] for n in OBJECTIVE_ITEMS) == 0 and self.objective > 0:
            raise ValueError("the objective items' weights are all 0 but objective > 0")
        if sum(values[n] for n in SUBJECTIVE_ITEMS) == 0 and self.objective < 1:
            raise ValueError("the subjective items' weights are all 0 but objective < 1")


OBJECTIVE_ITEMS = ("share_of_wallet", "repeat_purchase", "tenure", "referrals")
SUBJECTIVE_ITEMS = ("price", "quality", "service")


def loyalty_items(customers: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The seven items of the loyalty index for each current customer, each in [0, 1]."""
    current = customers[customers["firm"].notna()]
    stage = current["stage"].astype(str)
    wallet = config.relationship.wallet_share
    share = stage.map({s: getattr(wallet, s) for s in ACTIVE_STAGES}).astype(float).fillna(0.0)
    horizon = max(config.simulation.periods, 1)
    advocate = (stage == "stability") & (
        current["satisfaction"] >= config.simulation.satisfied_threshold
    )
    return pd.DataFrame(
        {
            "share_of_wallet": share,
            "repeat_purchase": (current["tenure"] >= 1).astype(float),
            "tenure": (current["tenure"] / horizon).clip(0.0, 1.0),
            "referrals": advocate.astype(float),
            "price": current["value"].astype(float).clip(0.0, 1.0),
            "quality": current["satisfaction"].astype(float).clip(0.0, 1.0),
            "service": current["trust"].astype(float).clip(0.0, 1.0),
        },
        index=current.index,
    )


def loyalty_index(
    customers: pd.DataFrame, config: Config, weights: LoyaltyWeights = LoyaltyWeights()
) -> pd.Series:
    """Loyalty index in [0, 1] of each current customer.

    ``index = a * sum_j w_j o_j / sum_j w_j + (1 - a) * sum_k v_k s_k / sum_k v_k``
    with ``a`` = ``weights.objective``, objective items ``o`` and subjective
    items ``s`` from :func:`loyalty_items`.
    """
    items = loyalty_items(customers, config)
    w = asdict(weights)

    def part(names):
        total = sum(w[n] for n in names)
        if total == 0:
            return pd.Series(0.0, index=items.index)
        return sum(w[n] * items[n] for n in names) / total

    a = weights.objective
    return (a * part(OBJECTIVE_ITEMS) + (1 - a) * part(SUBJECTIVE_ITEMS)).rename("loyalty_index")
