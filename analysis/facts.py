"""The stylized facts of MODEL.md section 9 as a table, read from results folders.

``python run.py facts [SCENARIO]`` (:mod:`cli.main`) runs a scenario and
the counterfactual variants the facts need, each into its own results folder
under one output folder::

    OUT/base                 the scenario as given
    OUT/switching_low        market.switching_cost_scale x 0.5   (fact 3)
    OUT/switching_high       market.switching_cost_scale x 2     (fact 3)
    OUT/retention_lever_<F>  one per firm F: only F's churn_factor set to the
                             k aimed by pilots at each sweep point,
                             rivals unchanged                    (fact 7)
    OUT/pilots/              the pilot runs that aim each k (fact 7), and
                             aims.csv, one row per pilot; not read here

The command runs ``base`` first, then the pilots (fact 7), then the variants.
This module only READS those folders (pandas) and computes the table
(:func:`compute_facts`); it never runs a model. Every variant multiplies the
value each sweep point of the scenario has (the settings' presets differ), and
keeps the run seeds: runs of the same sweep point and replication in two
folders share their seed, so variants are compared pair by pair (common random
numbers, paired on the ``seed`` column of ``runs.parquet``).

A **cell** is one strategy in one setting; firms of one strategy in the same run
are pooled first (means of per-firm outcomes, sums of counts), so each run
counts once. Intervals are 95% intervals over replications (Student t, as in
:func:`analysis.tables.mean_ci`); a pooled ratio ``sum a / sum b`` gets the
interval of the ratio estimator (linearized over runs); a difference between
settings (independent runs) gets Welch's interval. A band is checked on the
estimate; the facts about a difference (3, 4) also need its interval to exclude 0.

The facts (rows of the table; ``fact`` column):

1. satisfaction trap: ``satisfied_defector_share`` per cell in [0.50, 0.90];
   pooled over strategies (satisfied defectors / defections by choice, per
   run) in traditional commerce in [0.65, 0.85].
2. cohort retention rises with tenure: from ``cohorts.parquet``, cohorts >= 1
   (cohort 0 holds the customers of unknown tenure a firm starts with), pooled
   over cohorts and replications, the annual survival by tenure year
   ``R_y = active at tenure 12(y+1) / active at tenure 12y`` (the same cohorts,
   those observed at ``12(y+1)``), ``y = 1, 2, ...`` while at least
   :data:`MIN_COHORT_MONTHS` months of cohorts are observed that long and
   :data:`MIN_AT_RISK` customers are at risk at ``12y``. The
   value is the largest year-on-year fall ``min_y (R_{y+1} - R_y)``; passes if
   >= -0.02.
3. higher switching cost, fewer declining customers exit: exit share from
   decline = exits_from_decline / (exits_from_decline + recoveries) per run
   (timeseries totals); value = mean paired difference high - low; passes if
   < 0 with its interval below 0.
4. e-commerce vs traditional, per strategy (online - traditional): annual
   retention lower; referrals per advocate (referral acquisitions /
   advocate-periods) higher; referral share of all acquisitions higher; each
   with the interval of the difference excluding 0.
5. strategy profiles per setting: zipper has the highest mean trust and
   switching cost at period 24 and the highest serve cost per customer-period,
   clasp the lowest serve cost; Velcro the highest ``value_far_from_standard``;
   the customer-equity winner differs between the settings.
6. Pareto-like CLV: ``top20_profit_share`` >= 0.60 per cell.
7. retention lever: each firm's own annual churn halved by its
   ``churn_factor`` ``k`` (a multiplier on its customers' chance to search and
   exit rate from decline; rivals unchanged), in its folder
   ``retention_lever_<firm>``. Churn is not proportional to ``k`` (declining
   customers recover instead of leaving), so the command AIMS ``k`` per firm
   and sweep point by pilot runs before the lever folders run: annual churn
   ``c = 1 - annual_retention`` rises with ``k`` from about the life churn
   ``c_life`` at ``k = 0`` to ``c`` at ``k = 1``; the first pilot runs the
   formula's ``k = (c / 2 - c_life) / c_choice`` (:func:`churn_factors`: the
   line through those two ends), each next one the ``k`` of
   :func:`next_churn_factor` (regula falsi with the bracket kept), for at
   most :data:`PILOT_ITERATIONS` pilots of :data:`PILOT_REPLICATIONS`
   replications (paired with base's first ones), stopping when the achieved
   ratio of annual churn, pilot over base, is within
   :data:`CHURN_TOLERANCE` of :data:`CHURN_TARGET` (else the pilot closest
   to it is kept: :func:`closest_churn_factor`). When life exits alone exceed
   half the churn, halving is impossible: ``k = 0`` without pilots, and the
   note says so. Pilots go to ``OUT/pilots/`` (never read by the table). Value
   per cell: customer equity gain ``CE(lever) / CE(base) - 1`` of the lever
   firms against themselves in ``base``, the ratio of the paired (seed) sums,
   >= 0.25 (seed 003: 0.25-0.85); the note gives the ``k`` the lever folder
   ran (its ``scenario.resolved.yaml``) and the achieved ratio of annual
   churn, lever over base, over all the lever folder's runs.

Level checks (``fact`` = ``level``): annual retention 0.45-0.90 in traditional
commerce and 0.25-0.80 online; expected lifetime <= 15 years; satisfaction
standard deviation >= 0.10.
"""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from i18n import _
from sim.settings import SETTINGS
from sim.strategies import STRATEGIES

from .tables import mean_ci, t_quantile

BASE = "base"
"""The folder of the scenario as given."""

VARIANTS: dict[str, dict[str, float]] = {
    "switching_low": {"market.switching_cost_scale": 0.5},
    "switching_high": {"market.switching_cost_scale": 2.0},
}
"""Counterfactual folders: dotted config path -> factor on each sweep point's value."""

FOLDERS = (BASE, *VARIANTS)
"""The folders every scenario has; fact 7 adds one per firm (:func:`lever_folder`)."""

LEVER = "retention_lever"
"""Fact 7: prefix of the per-firm folders (:func:`lever_folder`)."""
CHURN_TARGET = 0.5
"""Fact 7: the lever aims at this share of each firm's annual churn in ``base``."""
CHURN_TOLERANCE = 0.05
"""Fact 7: a pilot hits when its annual churn over base's is within CHURN_TARGET +- this."""
PILOT_REPLICATIONS = 5
"""Fact 7: replications of a pilot run (fewer if the scenario has fewer)."""
PILOT_ITERATIONS = 4
"""Fact 7: pilots per firm and sweep point at most."""
PILOTS = "pilots"
"""Fact 7: the folder of the pilot runs under the output folder (the table never reads it)."""

TRAP_CELL = (0.50, 0.90)
TRAP_POOLED = (0.65, 0.85)
TENURE_FALL = -0.02
"""Fact 2: the largest allowed fall of annual survival from one tenure year to the next."""
MIN_COHORT_MONTHS = 12
"""Fact 2: months of acquisition cohorts that must be observed at tenure ``12(y+1)``."""
MIN_AT_RISK = 500
"""Fact 2: customers (pooled over the cell's runs) a tenure year needs at its start to count;
fewer make ``R_y`` too noisy (sd above 0.015) to compare against the 0.02 tolerance."""
PARETO_TOP20 = 0.60
EQUITY_GAIN = 0.25
ANNUAL_RETENTION = {"traditional": (0.45, 0.90), "ecommerce": (0.25, 0.80)}
MAX_LIFETIME = 15.0
MIN_SATISFACTION_SD = 0.10
PROFILE_PERIOD = 24
"""Fact 5: the period at which trust and switching cost are compared."""

YEAR = 12

FACT_NAMES = {
    "1": "satisfaction trap",
    "2": "cohort retention rises with tenure",
    "3": "higher switching cost: fewer declining customers exit",
    "4": "e-commerce: lower retention, more referrals",
    "5": "strategy profiles; equity winner depends on setting",
    "6": "Pareto-like CLV",
    "7": "halving churn raises equity by >= 25%",
    "level": "plausible levels",
}

COLUMNS = (
    "fact",
    "measure",
    "strategy",
    "setting",
    "runs",
    "value",
    "low",
    "high",
    "band",
    "passed",
    "note",
)
"""Columns of the facts table (``facts.csv``)."""


class FactsError(Exception):
    """The folder cannot be read as the output of ``run.py facts``; the message says why."""


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.exists():
        raise FactsError(f"{folder}: no {name}; run 'python run.py facts' to write it")
    return pd.read_parquet(path)


def lever_folder(firm: str) -> str:
    """The folder of the fact 7 variant in which only ``firm`` pulls the retention lever."""
    return f"{LEVER}_{re.sub(r'[^A-Za-z0-9_-]', '_', str(firm))}"


def read_folder(folder: Path) -> dict[str, pd.DataFrame] | None:
    """``runs``, ``timeseries`` and ``cohorts`` of one results folder (None if it is absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return {name: _read(folder, f"{name}.parquet") for name in ("runs", "timeseries", "cohorts")}


CHURN_COLUMNS = (
    "point",
    "firm",
    "strategy",
    "setting",
    "runs",
    "churn",
    "life_churn",
    "choice_churn",
    "k",
    "clipped",
)


def churn_factors(base: Path, replications: int | None = None) -> pd.DataFrame:
    """Fact 7: per sweep point and firm, the formula's ``churn_factor`` that halves its churn.

    From the results folder ``base`` (the scenario as given): the firm's annual
    churn ``c = 1 - annual_retention`` (mean over the point's replications) is
    split into life exits ``c_life = c * L / D`` and choice exits
    ``c_choice = c - c_life``, with ``D`` the firm's defections over periods
    >= 1 and ``L`` those for life reasons (``defections_life``), summed over
    the point's runs. If the lever multiplied only choice exits in proportion,
    ``k = (CHURN_TARGET * c - c_life) / c_choice`` would halve the churn; it
    does not (declining customers recover instead), so this ``k`` is only the
    pilots' start (:func:`next_churn_factor` of the two ends ``(0, c_life)``
    and ``(1, c)``). Clipped to [0, 1]; ``clipped`` is True when the clip
    binds (life exits alone are more than half the churn: halving is
    impossible, the lever runs with ``k = 0``). A firm without a measured
    churn gets ``k = 1`` (no lever) and NaN churn.

    Args:
        base: the results folder.
        replications: only the first this many replications of each point
            (those a pilot of that many replications pairs with); all if None.

    Columns :data:`CHURN_COLUMNS`, one row per point x firm (``point`` as in
    ``runs.parquet``).

    Raises:
        FactsError: ``base`` is not a results folder.
    """
    base = Path(base)
    runs = _read(base, "runs.parquet")
    series = _read(base, "timeseries.parquet")
    if replications is not None:
        runs = runs[runs["replication"] < replications]
        series = series[series["run_id"].isin(set(runs["run_id"]))]
    keys = ["point", "firm"]
    flows = (
        series[series["period"] >= 1]
        .groupby(keys, sort=False)[["defections", "defections_life"]]
        .sum()
    )
    grouped = runs.groupby(keys, sort=False)
    frame = grouped[["strategy", "setting"]].first()
    frame["runs"] = grouped["annual_retention"].count()
    frame["churn"] = 1 - grouped["annual_retention"].mean()
    frame = frame.join(flows)
    life_share = _ratio(frame["defections_life"], frame["defections"]).fillna(0.0)
    frame["life_churn"] = frame["churn"] * life_share
    frame["choice_churn"] = frame["churn"] - frame["life_churn"]
    raw = _ratio(CHURN_TARGET * frame["churn"] - frame["life_churn"], frame["choice_churn"])
    frame["k"] = raw.clip(0.0, 1.0).fillna(1.0)
    frame["clipped"] = raw.notna() & ((raw < 0) | (raw > 1))
    return frame.reset_index()[list(CHURN_COLUMNS)]


def next_churn_factor(points, target: float) -> float:
    """Fact 7: the next ``churn_factor`` to try, from the ``(k, churn)`` points known so far.

    Regula falsi with the bracket kept, Illinois variant: annual churn rises
    with ``k``, so the bracket is the largest ``k`` whose churn is below
    ``target`` and the smallest larger ``k`` whose churn is above it; the
    next ``k`` is where the line through the two ends meets ``target``. When
    the last ``m >= 2`` points (in the order given) fell on the same side of
    ``target``, the other end's distance from ``target`` is halved ``m - 1``
    times, so that a curved churn does not leave that end stuck (plain
    regula falsi creeps towards the target from one side only).

    Args:
        points: ``(k, churn)`` pairs in the order they became known; the
            command starts with the ends ``(0, c_life)`` and ``(1, c)``
            (:func:`churn_factors`), whose line gives the formula's ``k``,
            then adds each pilot's measurement.
        target: the churn aimed at (``CHURN_TARGET * c``).

    Returns:
        ``k`` in [0, 1]: the ``k`` of a point exactly on ``target``; without a
        point below ``target``, half the smallest ``k``; without a point above
        it (right of the bracket's low end), halfway from the low end to 1.
    """
    points = [(float(k), float(churn)) for k, churn in points]
    for k, churn in points:
        if churn == target:
            return min(max(k, 0.0), 1.0)
    below = [(k, churn) for k, churn in points if churn < target]
    if not below:
        return 0.5 * min(max(k, 0.0) for k, _ in points) if points else 0.5
    low = max(below)
    above = [(k, churn) for k, churn in points if churn > target and k > low[0]]
    if not above:
        return 0.5 * (low[0] + 1.0)
    high = min(above)
    side = [churn > target for _, churn in points]
    same = 1
    while same < len(side) and side[-same - 1] == side[-1]:
        same += 1
    low_gap, high_gap = target - low[1], high[1] - target
    if same >= 2:  # Illinois: the end on the other side has been kept too often
        if side[-1]:
            low_gap *= 0.5 ** (same - 1)
        else:
            high_gap *= 0.5 ** (same - 1)
    k = low[0] + (high[0] - low[0]) * low_gap / (low_gap + high_gap)
    return min(max(k, 0.0), 1.0)


def closest_churn_factor(points, target: float) -> tuple[float, float]:
    """Fact 7: the ``(k, churn)`` of ``points`` whose churn is closest to ``target``.

    Ties go to the earlier point. Raises ValueError on no points.
    """
    points = [(float(k), float(churn)) for k, churn in points]
    if not points:
        raise ValueError("no points")
    return min(points, key=lambda point: abs(point[1] - target))


def lever_churn(base: Path, lever: Path, firm: str) -> pd.DataFrame:
    """Fact 7: per sweep point, ``firm``'s annual churn in ``lever`` and in ``base``, paired.

    ``churn`` is ``1 - annual_retention`` of ``firm`` averaged over the runs of
    the point in the results folder ``lever``; ``base_churn`` the same over
    the runs of ``base`` with the same seeds; ``ratio`` their quotient.
    Columns ``point``, ``runs``, ``churn``, ``base_churn``, ``ratio``.

    Raises:
        FactsError: a folder is not a results folder.
    """

    def churn_of(folder):
        runs = _read(Path(folder), "runs.parquet")
        return runs[runs["firm"] == firm].set_index(["point", "seed"])["annual_retention"]

    both = pd.concat(
        [churn_of(lever).rename("lever"), churn_of(base).rename("base")], axis=1, join="inner"
    )
    grouped = both.groupby(level="point")
    frame = pd.DataFrame(
        {
            "runs": grouped["lever"].count(),
            "churn": 1 - grouped["lever"].mean(),
            "base_churn": 1 - grouped["base"].mean(),
        }
    )
    frame["ratio"] = _ratio(frame["churn"], frame["base_churn"])
    return frame.reset_index()


def lever_factors(folder: Path, firm: str) -> dict[int, float]:
    """Fact 7: point -> the ``churn_factor`` of ``firm`` that the results folder ran.

    Read from its ``scenario.resolved.yaml``; empty if that file is missing.
    """
    import yaml

    path = Path(folder) / "scenario.resolved.yaml"
    if not path.exists():
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    used = {}
    for point in document.get("points", []):
        for each in point["config"].get("firms", []):
            if str(each.get("name")) == str(firm):
                used[int(point["point"])] = float(each.get("churn_factor", 1.0))
    return used


# ---------------------------------------------------------------------------
# Per-run figures of each cell
# ---------------------------------------------------------------------------

CELL = ["strategy", "setting"]
RUN = ["run_id", "seed", *CELL]

RUN_MEANS = (
    "satisfied_defector_share",
    "annual_retention",
    "expected_lifetime",
    "satisfaction_sd",
    "value_far_from_standard",
    "top20_profit_share",
    "customer_equity",
)
RUN_SUMS = ("referral_acquisitions", "acquisitions")
FLOW_SUMS = (
    "satisfied_defectors",
    "defections",
    "defections_life",
    "exits_from_decline",
    "recoveries",
    "acquisitions_referral",
    "advocates",
    "serve_cost",
    "customers",
)


def per_run(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run x cell: outcomes (firm means), totals (firm sums) and derived ratios."""
    runs, series = tables["runs"], tables["timeseries"]
    grouped = runs.groupby(RUN, sort=False)
    frame = grouped[list(RUN_MEANS)].mean().join(grouped[list(RUN_SUMS)].sum())
    seeds = runs.drop_duplicates("run_id").set_index("run_id")["seed"]
    flows = series[series["period"] >= 1]
    totals = flows.groupby(["run_id", *CELL], sort=False)[list(FLOW_SUMS)].sum()
    last = int(series["period"].max()) if len(series) else 0
    at = series[series["period"] == min(PROFILE_PERIOD, last)]
    profile = at.groupby(["run_id", *CELL], sort=False)[
        ["mean_trust", "mean_switching_cost"]
    ].mean()
    totals = totals.join(profile)
    totals = totals.reset_index()
    totals.insert(1, "seed", totals["run_id"].map(seeds))
    frame = frame.join(totals.set_index(RUN), how="outer").reset_index()
    frame["choice_defections"] = frame["defections"] - frame["defections_life"]
    frame["exit_share"] = _ratio(
        frame["exits_from_decline"], frame["exits_from_decline"] + frame["recoveries"]
    )
    frame["referrals_per_advocate"] = _ratio(frame["acquisitions_referral"], frame["advocates"])
    frame["referral_share"] = _ratio(frame["referral_acquisitions"], frame["acquisitions"])
    frame["serve_cost_per_customer"] = _ratio(frame["serve_cost"], frame["customers"])
    return frame


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator != 0)


# ---------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------


def ratio_ci(numerator, denominator, level: float = 0.95) -> tuple[int, float, float, float]:
    """``(n, R, low, high)`` for the pooled ratio ``R = sum num / sum den`` over units.

    The interval is the ratio estimator's: ``R +- t * sd(e) / sqrt(n)`` with
    the linearized residuals ``e = (num - R den) / mean(den)``.
    """
    num, den = np.asarray(numerator, float), np.asarray(denominator, float)
    keep = ~(np.isnan(num) | np.isnan(den))
    num, den = num[keep], den[keep]
    n = len(num)
    if n == 0 or den.sum() == 0:
        return n, math.nan, math.nan, math.nan
    ratio = num.sum() / den.sum()
    if n == 1:
        return 1, ratio, math.nan, math.nan
    residual = (num - ratio * den) / den.mean()
    half = t_quantile(n - 1, level) * residual.std(ddof=1) / math.sqrt(n)
    return n, ratio, ratio - half, ratio + half


def welch_ci(a, b, level: float = 0.95) -> tuple[int, float, float, float]:
    """``(n_a + n_b, mean a - mean b, low, high)``: Welch's interval of independent samples."""
    a = pd.Series(a, dtype=float).dropna()
    b = pd.Series(b, dtype=float).dropna()
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        return n_a + n_b, math.nan, math.nan, math.nan
    difference = float(a.mean() - b.mean())
    if n_a < 2 or n_b < 2:
        return n_a + n_b, difference, math.nan, math.nan
    va, vb = a.var(ddof=1) / n_a, b.var(ddof=1) / n_b
    se = math.sqrt(va + vb)
    if se == 0:
        return n_a + n_b, difference, difference, difference
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    half = t_quantile(df, level) * se
    return n_a + n_b, difference, difference - half, difference + half


def paired(
    left: pd.DataFrame, right: pd.DataFrame, column: str, right_column: str | None = None
) -> pd.DataFrame:
    """``left`` and ``right`` runs of each cell matched on their seed: columns ``a``, ``b``."""
    a = left.set_index(["seed", *CELL])[column].rename("a")
    b = right.set_index(["seed", *CELL])[right_column or column].rename("b")
    return pd.concat([a, b], axis=1, join="inner").dropna().reset_index()


# ---------------------------------------------------------------------------
# The facts
# ---------------------------------------------------------------------------


def _row(fact, measure, strategy, setting, stats, band, passed, note="") -> dict:
    n, value, low, high = stats
    return {
        "fact": fact,
        "measure": measure,
        "strategy": strategy,
        "setting": setting,
        "runs": int(n),
        "value": value,
        "low": low,
        "high": high,
        "band": band,
        "passed": bool(passed) if not pd.isna(value) else False,
        "note": note,
    }


def _within(value, band) -> bool:
    low, high = band
    return not pd.isna(value) and low <= value <= high


def _band(band) -> str:
    return f"{band[0]:.2f}-{band[1]:.2f}"


def _cells(frame: pd.DataFrame) -> list[tuple[str, str]]:
    cells = frame[CELL].drop_duplicates()
    strategy = cells["strategy"].map({n: i for i, n in enumerate(STRATEGIES)}).fillna(99)
    setting = cells["setting"].map({n: i for i, n in enumerate(SETTINGS)}).fillna(99)
    cells = cells.assign(_s=strategy, _t=setting).sort_values(["_t", "_s"], kind="stable")
    return list(cells[CELL].itertuples(index=False, name=None))


def _of(frame: pd.DataFrame, strategy: str, setting: str) -> pd.DataFrame:
    return frame[(frame["strategy"] == strategy) & (frame["setting"] == setting)]


def fact_1(base: pd.DataFrame, cells) -> list[dict]:
    """Fact 1 rows: satisfied defector share per cell, and pooled in traditional commerce."""
    rows = []
    for strategy, setting in cells:
        stats = mean_ci(_of(base, strategy, setting)["satisfied_defector_share"])
        rows.append(
            _row(
                "1",
                "satisfied defector share",
                strategy,
                setting,
                stats,
                _band(TRAP_CELL),
                _within(stats[1], TRAP_CELL),
            )
        )
    traditional = base[base["setting"] == "traditional"]
    if len(traditional):
        pooled = traditional.groupby("run_id")[["satisfied_defectors", "choice_defections"]].sum()
        stats = mean_ci(_ratio(pooled["satisfied_defectors"], pooled["choice_defections"]))
        rows.append(
            _row(
                "1",
                "satisfied defector share, pooled",
                "all",
                "traditional",
                stats,
                _band(TRAP_POOLED),
                _within(stats[1], TRAP_POOLED),
            )
        )
    return rows


def tenure_survival(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Per run x cell x tenure year ``y``: ``kept`` (active at 12(y+1)) and ``base`` (at 12y).

    Cohorts >= 1 only, each year over the cohorts observed at tenure
    ``12(y+1)``; years for which fewer than :data:`MIN_COHORT_MONTHS` months of
    cohorts are observed that long are left out.
    """
    later = cohorts[cohorts["cohort"] >= 1]
    if later.empty:
        return pd.DataFrame(columns=["run_id", *CELL, "year", "kept", "base"])
    last = (cohorts["cohort"] + cohorts["tenure"]).groupby(cohorts["run_id"]).max()
    horizon = later["run_id"].map(last)
    frames = []
    year = 1
    while int(last.min()) - YEAR * (year + 1) >= MIN_COHORT_MONTHS:
        seen = later["cohort"] + YEAR * (year + 1) <= horizon
        start = later[seen & (later["tenure"] == YEAR * year)]
        end = later[seen & (later["tenure"] == YEAR * (year + 1))]
        keys = ["run_id", *CELL]
        both = (
            pd.concat(
                [
                    end.groupby(keys)["active"].sum().rename("kept"),
                    start.groupby(keys)["active"].sum().rename("base"),
                ],
                axis=1,
            )
            .fillna(0)
            .reset_index()
        )
        both["year"] = year
        frames.append(both)
        year += 1
    if not frames:
        return pd.DataFrame(columns=["run_id", *CELL, "year", "kept", "base"])
    return pd.concat(frames, ignore_index=True)


def fact_2(cohorts: pd.DataFrame, cells) -> list[dict]:
    """Fact 2 rows: the largest fall of annual survival from one tenure year to the next."""
    survival = tenure_survival(cohorts)
    rows = []
    for strategy, setting in cells:
        mine = _of(survival, strategy, setting)
        at_risk = mine.groupby("year")["base"].sum()
        years = [int(y) for y in at_risk.index[at_risk >= MIN_AT_RISK]]
        years = [y for i, y in enumerate(years) if y == i + 1]  # consecutive from year 1
        curve = {y: ratio_ci(*_year(mine, y)) for y in years}
        runs = mine["run_id"].nunique()
        if len(years) < 2:
            rows.append(
                _row(
                    "2",
                    "largest fall of annual survival by tenure",
                    strategy,
                    setting,
                    (runs, math.nan, math.nan, math.nan),
                    f">= {TENURE_FALL:.2f}",
                    False,
                    f"too little data: needs tenure years 1 to 3 observed, "
                    f"{MIN_AT_RISK} customers at the start of each",
                )
            )
            continue
        worst = None
        for y in years[:-1]:
            stats = _difference_of_ratios(mine, y + 1, y)
            if worst is None or stats[1] < worst[1]:
                worst = stats
        note = "R_y: " + " ".join(f"{curve[y][1]:.3f}" for y in years)
        rows.append(
            _row(
                "2",
                "largest fall of annual survival by tenure",
                strategy,
                setting,
                worst,
                f">= {TENURE_FALL:.2f}",
                worst[1] >= TENURE_FALL,
                note,
            )
        )
    return rows


def _year(survival: pd.DataFrame, year: int) -> tuple[pd.Series, pd.Series]:
    mine = survival[survival["year"] == year]
    return mine["kept"], mine["base"]


def _difference_of_ratios(survival: pd.DataFrame, later: int, earlier: int):
    """``R_later - R_earlier`` pooled over runs, with the linearized interval over runs."""
    one = survival[survival["year"] == later].set_index("run_id")[["kept", "base"]]
    two = survival[survival["year"] == earlier].set_index("run_id")[["kept", "base"]]
    both = one.add_suffix("_1").join(two.add_suffix("_0"), how="inner").astype(float)
    n = len(both)
    if n == 0 or both["base_1"].sum() == 0 or both["base_0"].sum() == 0:
        return n, math.nan, math.nan, math.nan
    r1 = both["kept_1"].sum() / both["base_1"].sum()
    r0 = both["kept_0"].sum() / both["base_0"].sum()
    value = r1 - r0
    if n == 1:
        return 1, value, math.nan, math.nan
    residual = (both["kept_1"] - r1 * both["base_1"]) / both["base_1"].mean() - (
        both["kept_0"] - r0 * both["base_0"]
    ) / both["base_0"].mean()
    half = t_quantile(n - 1) * float(residual.std(ddof=1)) / math.sqrt(n)
    return n, value, value - half, value + half


def fact_3(low: pd.DataFrame | None, high: pd.DataFrame | None, cells) -> list[dict]:
    """Fact 3 rows: paired change of the exit share from decline, switching cost x2 - x0.5."""
    rows = []
    for strategy, setting in cells:
        measure = "exit share from decline, switching cost x2 - x0.5"
        if low is None or high is None:
            rows.append(
                _row(
                    "3",
                    measure,
                    strategy,
                    setting,
                    (0, math.nan, math.nan, math.nan),
                    "< 0, CI excludes 0",
                    False,
                    "missing folder switching_low or switching_high",
                )
            )
            continue
        pairs = paired(_of(high, strategy, setting), _of(low, strategy, setting), "exit_share")
        stats = mean_ci(pairs["a"] - pairs["b"])
        note = f"x0.5: {pairs['b'].mean():.3f}, x2: {pairs['a'].mean():.3f}"
        rows.append(
            _row(
                "3",
                measure,
                strategy,
                setting,
                stats,
                "< 0, CI excludes 0",
                stats[1] < 0 and stats[3] < 0,
                note,
            )
        )
    return rows


FACT_4 = (
    ("annual_retention", "annual retention", -1),
    ("referrals_per_advocate", "referrals per advocate-period", 1),
    ("referral_share", "referral share of all acquisitions", 1),
)


def fact_4(base: pd.DataFrame, cells) -> list[dict]:
    """Fact 4 rows: online minus traditional, per strategy (Welch intervals)."""
    rows = []
    strategies = list(dict.fromkeys(strategy for strategy, _ in cells))
    for strategy in strategies:
        online = _of(base, strategy, "ecommerce")
        offline = _of(base, strategy, "traditional")
        for column, label, sign in FACT_4:
            values_on, values_off = online[column], offline[column]
            stats = welch_ci(values_on, values_off)
            band = "< 0, CI excludes 0" if sign < 0 else "> 0, CI excludes 0"
            passed = (
                (stats[1] < 0 and stats[3] < 0) if sign < 0 else (stats[1] > 0 and stats[2] > 0)
            )
            note = (
                f"traditional {values_off.mean():.4g}, ecommerce {values_on.mean():.4g}"
                if len(online) and len(offline)
                else "needs both settings"
            )
            rows.append(
                _row(
                    "4",
                    f"{label}, online - traditional",
                    strategy,
                    "ecommerce-traditional",
                    stats,
                    band,
                    passed,
                    note,
                )
            )
    return rows


FACT_5 = (
    ("mean_trust", f"mean trust at period {PROFILE_PERIOD}", "zipper", None),
    ("mean_switching_cost", f"mean switching cost at period {PROFILE_PERIOD}", "zipper", None),
    ("serve_cost_per_customer", "serve cost per customer-period", "zipper", "clasp"),
    ("value_far_from_standard", "value far from the standard offer", "velcro", None),
)


def fact_5(base: pd.DataFrame, cells) -> list[dict]:
    """Fact 5 rows: each cell's level of the profile measures and customer equity."""
    rows = []
    settings = list(dict.fromkeys(setting for _, setting in cells))
    for column, label, top, bottom in FACT_5:
        for setting in settings:
            mine = [(s, t) for s, t in cells if t == setting]
            stats = {s: mean_ci(_of(base, s, setting)[column]) for s, _ in mine}
            means = pd.Series({s: v[1] for s, v in stats.items()}, dtype=float)
            best = means.idxmax() if means.notna().any() else None
            worst = means.idxmin() if means.notna().any() else None
            for strategy, _group in mine:
                if strategy == top:
                    band, passed = "highest", best == top
                elif strategy == bottom:
                    band, passed = "lowest", worst == bottom
                elif bottom is not None:
                    band = f"below {top}, above {bottom}"
                    passed = best == top and worst == bottom
                else:
                    band, passed = f"below {top}", best == top
                rows.append(_row("5", label, strategy, setting, stats[strategy], band, passed))
    winners = {}
    for setting in settings:
        means = pd.Series(
            {
                s: mean_ci(_of(base, s, setting)["customer_equity"])[1]
                for s, t in cells
                if t == setting
            },
            dtype=float,
        )
        winners[setting] = means.idxmax() if means.notna().any() else None
    differ = len(settings) >= 2 and len(set(winners.values())) > 1
    for strategy, setting in cells:
        stats = mean_ci(_of(base, strategy, setting)["customer_equity"])
        note = "winner" if winners.get(setting) == strategy else ""
        rows.append(
            _row(
                "5",
                "customer equity (winner differs by setting)",
                strategy,
                setting,
                stats,
                "winners: " + ", ".join(f"{t} {w}" for t, w in winners.items()),
                differ,
                note,
            )
        )
    return rows


def fact_6(base: pd.DataFrame, cells) -> list[dict]:
    """Fact 6 rows: top-20% share of CLV per cell."""
    rows = []
    for strategy, setting in cells:
        stats = mean_ci(_of(base, strategy, setting)["top20_profit_share"])
        rows.append(
            _row(
                "6",
                "top-20% share of CLV",
                strategy,
                setting,
                stats,
                f">= {PARETO_TOP20:.2f}",
                stats[1] >= PARETO_TOP20,
            )
        )
    return rows


def fact_7(
    base: pd.DataFrame, levers: dict[str, pd.DataFrame | None], factors: pd.DataFrame, cells
) -> list[dict]:
    """Fact 7 rows: customer equity gain of each firm's own retention lever, paired by seed.

    Args:
        base: ``runs.parquet`` of ``base`` (one row per run x firm).
        levers: firm -> ``runs.parquet`` of its folder :func:`lever_folder`
            (None if the folder is missing).
        factors: :func:`churn_factors` of ``base``, its ``k`` replaced by the
            ``k`` each lever folder ran (:func:`lever_factors`; NaN if unknown).
        cells: the (strategy, setting) cells.
    """
    rows = []
    measure = "customer equity gain, own annual churn halved (churn_factor k)"
    band = f">= {EQUITY_GAIN:.2f} (seed 003: 0.25-0.85)"
    for strategy, setting in cells:
        mine = _of(base, strategy, setting)
        firms = list(dict.fromkeys(mine["firm"]))
        missing = [lever_folder(f) for f in firms if levers.get(f) is None]
        if missing:
            rows.append(
                _row(
                    "7",
                    measure,
                    strategy,
                    setting,
                    (0, math.nan, math.nan, math.nan),
                    band,
                    False,
                    "missing folder " + ", ".join(missing),
                )
            )
            continue
        pairs = []
        for firm in firms:
            theirs = _of(levers[firm], strategy, setting)
            a = theirs[theirs["firm"] == firm].set_index("seed")
            b = mine[mine["firm"] == firm].set_index("seed")
            both = pd.concat(
                [
                    a["customer_equity"].rename("equity_lever"),
                    b["customer_equity"].rename("equity_base"),
                    (1 - a["annual_retention"]).rename("churn_lever"),
                    (1 - b["annual_retention"]).rename("churn_base"),
                ],
                axis=1,
                join="inner",
            )
            pairs.append(both.reset_index())
        pairs = pd.concat(pairs, ignore_index=True)
        equity = (
            pairs.dropna(subset=["equity_lever", "equity_base"])
            .groupby("seed")[["equity_lever", "equity_base"]]
            .sum()
        )
        n, ratio, low, high = ratio_ci(equity["equity_lever"], equity["equity_base"])
        achieved = _ratio(
            pd.Series([pairs["churn_lever"].mean()]), pd.Series([pairs["churn_base"].mean()])
        )[0]
        rows.append(
            _row(
                "7",
                measure,
                strategy,
                setting,
                (n, ratio - 1, low - 1, high - 1),
                band,
                ratio - 1 >= EQUITY_GAIN,
                _lever_note(factors, firms, setting, achieved),
            )
        )
    return rows


def _lever_note(factors: pd.DataFrame, firms: list[str], setting: str, achieved) -> str:
    """Fact 7 note: the factors ``k`` used, clipping, and the achieved churn ratio."""
    mine = factors[factors["firm"].isin(firms) & (factors["setting"] == setting)]
    ks = " ".join(dict.fromkeys("n/a" if pd.isna(k) else f"{k:.2f}" for k in mine["k"]))
    note = f"k {ks or 'n/a'}; annual churn ratio lever/base {achieved:.2f}"
    clipped = mine[mine["clipped"]]
    if len(clipped):
        worst = clipped.iloc[0]
        note += (
            f"; k clipped: life exits {worst['life_churn']:.3f} exceed half the churn "
            f"{CHURN_TARGET * worst['churn']:.3f}, halving impossible"
        )
    return note


def levels(base: pd.DataFrame, cells) -> list[dict]:
    """Level rows: annual retention, expected lifetime and satisfaction sd per cell."""
    rows = []
    for strategy, setting in cells:
        mine = _of(base, strategy, setting)
        stats = mean_ci(mine["annual_retention"])
        band = ANNUAL_RETENTION.get(setting)
        rows.append(
            _row(
                "level",
                "annual retention",
                strategy,
                setting,
                stats,
                _band(band) if band else "none for this setting",
                _within(stats[1], band) if band else False,
            )
        )
        stats = mean_ci(mine["expected_lifetime"])
        rows.append(
            _row(
                "level",
                "expected lifetime (years)",
                strategy,
                setting,
                stats,
                f"<= {MAX_LIFETIME:g}",
                stats[1] <= MAX_LIFETIME,
            )
        )
        stats = mean_ci(mine["satisfaction_sd"])
        rows.append(
            _row(
                "level",
                "satisfaction sd",
                strategy,
                setting,
                stats,
                f">= {MIN_SATISFACTION_SD:.2f}",
                stats[1] >= MIN_SATISFACTION_SD,
            )
        )
    return rows


def compute_facts(folder: Path) -> pd.DataFrame:
    """The facts table of an output folder of ``run.py facts`` (columns :data:`COLUMNS`).

    Raises:
        FactsError: ``folder/base`` is missing or not a results folder. A
            missing variant folder leaves its fact's rows without a value
            (failed, with a note).
    """
    folder = Path(folder)
    tables = {name: read_folder(folder / name) for name in FOLDERS}
    if tables[BASE] is None:
        raise FactsError(f"{folder}: no {BASE}/ results folder; run 'python run.py facts' first")
    frames = {name: None if t is None else per_run(t) for name, t in tables.items()}
    base = frames[BASE]
    if base.empty:
        raise FactsError(f"{folder / BASE}: holds no runs")
    cells = _cells(base)
    firms = list(dict.fromkeys(tables[BASE]["runs"]["firm"]))
    levers = {}
    factors = churn_factors(folder / BASE)
    for firm in firms:
        path = folder / lever_folder(firm)
        levers[firm] = _read(path, "runs.parquet") if path.is_dir() else None
        used = lever_factors(path, firm)  # the k its folder ran, not the formula's
        mine = factors["firm"] == firm
        factors.loc[mine, "k"] = factors.loc[mine, "point"].map(used).astype(float)
    rows = [
        *fact_1(base, cells),
        *fact_2(tables[BASE]["cohorts"], cells),
        *fact_3(frames["switching_low"], frames["switching_high"], cells),
        *fact_4(base, cells),
        *fact_5(base, cells),
        *fact_6(base, cells),
        *fact_7(tables[BASE]["runs"], levers, factors, cells),
        *levels(base, cells),
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per fact: rows, rows passed, and whether every row passed."""
    grouped = table.groupby("fact", sort=False)["passed"]
    frame = pd.DataFrame({"rows": grouped.size(), "passed_rows": grouped.sum()})
    frame["passed"] = frame["rows"] == frame["passed_rows"]
    frame["name"] = [FACT_NAMES.get(str(f), "") for f in frame.index]
    return frame.reset_index()


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def _number(value) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def table_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows (value, 95% CI, band, PASS/FAIL) of the facts table.

    The header and the result are in the language in force (:mod:`i18n`).
    """
    header = [
        _("fact"),
        _("measure"),
        _("strategy"),
        _("setting"),
        _("runs"),
        _("value"),
        _("95% CI"),
        _("band"),
        _("result"),
        _("note"),
    ]
    result = {True: _("PASS"), False: _("FAIL")}
    rows = []
    for _i, row in table.iterrows():
        interval = (
            "n/a" if pd.isna(row["low"]) else f"[{_number(row['low'])}, {_number(row['high'])}]"
        )
        rows.append(
            [
                str(row["fact"]),
                str(row["measure"]),
                str(row["strategy"]),
                str(row["setting"]),
                str(row["runs"]),
                _number(row["value"]),
                interval,
                str(row["band"]),
                result[bool(row["passed"])],
                "" if pd.isna(row["note"]) else str(row["note"]),
            ]
        )
    return header, rows


def format_text(table: pd.DataFrame) -> str:
    """The table as aligned text for the terminal, then one verdict line per fact."""
    header, rows = table_cells(table)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(header), line(["-" * w for w in widths]), *map(line, rows), ""]
    for _i, fact in verdicts(table).iterrows():
        lines.append(
            f"fact {fact['fact']} ({fact['name']}): "
            f"{'PASS' if fact['passed'] else 'FAIL'} "
            f"({fact['passed_rows']}/{fact['rows']} rows)"
        )
    return "\n".join(lines)


def format_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown."""
    header, rows = table_cells(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def read_table(path: Path) -> pd.DataFrame:
    """A ``facts.csv`` written by :func:`write_table`."""
    table = pd.read_csv(path, dtype={"fact": str}, keep_default_na=True)
    table["passed"] = table["passed"].astype(bool)
    table["note"] = table["note"].fillna("")
    return table


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write the table as CSV."""
    from store.files import write_text

    write_text(Path(path), table.to_csv(index=False))
