"""The tables of a transaction export, built from a run's purchase log (no model is run here).

``python run.py export RESULTS_DIR --transactions`` (:mod:`experiments.export`)
re-runs the chosen runs with the purchase log on and hands each run's log and
end-of-run customers to this module, which lays them out for CLV models:
:func:`transaction_table` (``transactions.csv``: ``customer_id``, ``date``,
``monetary_value``, the run's identity, ``period``, ``acquired_period``,
``clv_increment``) and :func:`customer_table` (``customers_clv.csv``: per
customer x firm x run, purchases, revenue, realized and projected CLV). It
also chooses the runs of a results folder (:func:`choose_runs`), checks that
the folder is finished (:func:`check_finished`) and maps periods and the
log's days to calendar dates (:func:`period_dates`, :func:`occasion_dates`).
The files, their columns and amounts are described in
:mod:`experiments.export`.
"""

import datetime
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.transactions import DAYS_PER_PERIOD
from store.results import read_manifest

PERIOD_LENGTHS = ("month", "week", "day")
"""What one period stands for in the exported dates (the model's period is a month)."""

FORMATS = ("csv", "parquet")

DEFAULT_START_DATE = datetime.date(2020, 1, 1)
"""The date of period 1 unless ``--start-date`` says otherwise."""

TRANSACTION_FILE_COLUMNS = (
    "customer_id",
    "date",
    "monetary_value",
    "firm",
    "strategy",
    "setting",
    "run_id",
    "point",
    "replication",
    "period",
    "acquired_period",
    "clv_increment",
)
"""Columns of ``transactions.csv`` (the swept columns come right before ``period``)."""

CUSTOMER_CLV_COLUMNS = (
    "customer_id",
    "firm",
    "strategy",
    "setting",
    "run_id",
    "point",
    "replication",
    "relationships",
    "purchases",
    "first_purchase_period",
    "last_purchase_period",
    "total_revenue",
    "realized_clv",
    "active_at_end",
    "projected_clv",
    "total_clv",
)
"""Columns of ``customers_clv.csv`` (the swept columns come right before ``relationships``)."""

FILES = ("transactions", "customers_clv")
"""The exported tables: ``<name>.csv`` or ``<name>.parquet``."""


class ExportError(Exception):
    """The export cannot be made (bad folder, run, date or output); the message says why."""


@dataclass(frozen=True)
class ExportedRun:
    """One run of the results folder to export: its identity, swept values and configuration."""

    run_id: str
    point: int
    replication: int
    seed: int
    values: dict
    config: object


def parse_date(text: str) -> datetime.date:
    """A ``YYYY-MM-DD`` date; :class:`ValueError` naming what is allowed otherwise."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; give YYYY-MM-DD, e.g. 2020-01-01") from None


def period_dates(periods: int, start: datetime.date, length: str = "month") -> list[str]:
    """ISO dates of periods 0..``periods``: period 1 falls on ``start``, then one per ``length``.

    Monthly dates keep ``start``'s day of the month where the month has it,
    else its last day (31 January, 29 February, 31 March, ...).
    """
    if length not in PERIOD_LENGTHS:
        raise ValueError(f"unknown period length {length!r}; valid: {', '.join(PERIOD_LENGTHS)}")
    base = pd.Timestamp(start)
    if length == "month":
        dates = [base + pd.DateOffset(months=p - 1) for p in range(periods + 1)]
    else:
        step = 7 if length == "week" else 1
        dates = [base + pd.Timedelta(days=step * (p - 1)) for p in range(periods + 1)]
    return [d.strftime("%Y-%m-%d") for d in dates]


def occasion_dates(period, day, dates: list[str]) -> pd.api.extensions.ExtensionArray:
    """ISO dates of purchase occasions, at day resolution, within their period's dates.

    The log dates an occasion of period ``p`` to ``day`` = ``30 (p - 1)`` +
    0..29 (:data:`sim.transactions.DAYS_PER_PERIOD`). The export maps that
    day within the period onto the period's calendar span, from its date to
    the next period's (``dates``, of :func:`period_dates`): offset ``k`` of
    30 falls ``floor(k x span / 30)`` days after the period's date. So a
    monthly occasion keeps its place in the month and never spills into the
    next one, a weekly one falls on one of the week's 7 days, and with
    ``--period-length day`` every occasion of a period falls on its date.

    Args:
        period: each occasion's period (1..T), an integer array.
        day: each occasion's ``day`` column of the log.
        dates: :func:`period_dates` for periods 0..T + 1 (the last one ends the
            span of period T).

    Returns:
        The dates, typed (Arrow ``date32``: a date column in Parquet, ISO
        ``YYYY-MM-DD`` text in CSV).
    """
    period = np.asarray(period, dtype=np.int64)
    offset = np.asarray(day, dtype=np.int64) - DAYS_PER_PERIOD * (period - 1)
    if offset.size and (offset.min() < 0 or offset.max() >= DAYS_PER_PERIOD):
        raise ValueError(f"a purchase day lies outside its period ({DAYS_PER_PERIOD}-day periods)")
    calendar = np.array(dates, dtype="datetime64[D]").astype(np.int64)
    if period.size and period.max() + 1 >= calendar.size:
        raise ValueError("occasion_dates needs the date after the last period's")
    begin = calendar[period]
    span = calendar[period + 1] - begin
    ordinal = begin + offset * span // DAYS_PER_PERIOD
    days = pa.array(ordinal.astype(np.int32), type=pa.int32()).cast(pa.date32())
    return pd.array(days, dtype=pd.ArrowDtype(pa.date32()))


# ---------------------------------------------------------------------------
# Choosing the runs
# ---------------------------------------------------------------------------


def check_finished(folder: Path) -> dict:
    """The manifest of a finished results folder; :class:`ExportError` if it is not one."""
    path = folder / "manifest.json"
    try:
        manifest = read_manifest(folder)
    except FileNotFoundError:
        raise ExportError(
            f"{folder}: no manifest.json; is this a results folder written by 'run.py run'?"
        ) from None
    except (OSError, ValueError) as error:
        raise ExportError(f"{path}: cannot be read ({error})") from None
    if manifest.get("status") == "running":
        raise ExportError(
            f"{folder}: incomplete (the run was interrupted or is still going); "
            f"finish it first with: python run.py run {manifest.get('source', '')}"
            f" --out {folder} --resume"
        )
    return manifest


def choose_runs(
    runs: pd.DataFrame, configs: dict, sweep_paths, wanted=None, every: bool = False, failures=()
) -> list[ExportedRun]:
    """The runs to export: ``wanted`` run ids, every run, or replication 0 of every point.

    Args:
        runs: ``runs.parquet`` (one row per run x firm).
        configs: each point's configuration, by point index.
        sweep_paths: the swept dotted paths (columns of ``runs``).
        wanted: run ids asked for (``--run``), or None.
        every: export every run (``--all``).
        failures: the manifest's failure records (``run_id``, ``error``), so
            that asking for a failed run says so.

    Raises:
        ExportError: a run that failed, or an unknown run id (the message
            lists the valid ones).
    """
    first = runs.drop_duplicates("run_id").set_index("run_id")
    if wanted:
        failed = {record["run_id"]: record.get("error", "") for record in failures}
        for run_id in wanted:
            if run_id in failed and run_id not in first.index:
                raise ExportError(
                    f"run {run_id!r} failed ({failed[run_id]}), so it has no "
                    "results to export; fix the cause and finish the folder "
                    "with 'run.py run ... --resume'"
                )
        unknown = [run_id for run_id in wanted if run_id not in first.index]
        if unknown:
            ids = list(first.index)
            valid = (
                ", ".join(ids)
                if len(ids) <= 12
                else f"{', '.join(ids[:5])}, ..., {', '.join(ids[-3:])} ({len(ids)} runs)"
            )
            raise ExportError(
                f"unknown run {', '.join(map(repr, unknown))}; valid run ids "
                f"(runs.parquet, run_id): {valid}"
            )
        chosen = list(dict.fromkeys(wanted))
    elif every:
        chosen = list(first.index)
    else:
        chosen = list(first.index[first["replication"] == 0])
    paths = [p for p in sweep_paths if p in first.columns]
    return [
        ExportedRun(
            run_id,
            int(row["point"]),
            int(row["replication"]),
            int(row["seed"]),
            {p: row[p] for p in paths},
            configs[int(row["point"])],
        )
        for run_id, row in first.loc[chosen].iterrows()
    ]


# ---------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------


def transaction_table(run: ExportedRun, log: pd.DataFrame, dates: list[str]) -> pd.DataFrame:
    """The run's purchase log in the export layout (:data:`TRANSACTION_FILE_COLUMNS`)."""
    firms = run.config.firms
    codes = log["firm"].cat.codes.to_numpy()
    n = len(log)

    def repeated(value):  # one value for every row, stored once
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [value])

    frame = pd.DataFrame(
        {
            "customer_id": log["customer"].to_numpy(dtype=np.int64),
            "date": occasion_dates(log["period"].to_numpy(), log["day"].to_numpy(), dates),
            "monetary_value": log["revenue"].to_numpy(dtype=np.float64),  # exact widening
            "firm": pd.Categorical.from_codes(codes, [firm.name for firm in firms]),
            "strategy": pd.Categorical(
                np.array([firm.strategy for firm in firms], dtype=object)[codes]
            ),
            "setting": repeated(run.config.market.setting),
            "run_id": repeated(run.run_id),
            "point": run.point,
            "replication": run.replication,
        }
    )
    for path, value in run.values.items():
        frame[path] = value
    frame["period"] = log["period"].to_numpy(dtype=np.int64)
    frame["acquired_period"] = log["acquired_period"].to_numpy(dtype=np.int64)
    frame["clv_increment"] = log["clv_increment"].to_numpy(dtype=np.float64)
    return frame


def customer_table(
    run: ExportedRun, transactions: pd.DataFrame, current: pd.DataFrame
) -> pd.DataFrame:
    """Per customer x firm of the run: purchases, revenue, true CLV, state at the end.

    Args:
        run: the run.
        transactions: its rows of :func:`transaction_table`.
        current: its customers at the end (``RunResult.customers``: ``customer``,
            ``firm``, ``acquired_period``, ``projected_clv``).

    Returns:
        :data:`CUSTOMER_CLV_COLUMNS` (swept columns before ``relationships``),
        sorted by firm (config order) and customer. ``total_revenue`` and
        ``realized_clv`` are the exactly rounded sums (``math.fsum``) of the
        customer's ``monetary_value`` and ``clv_increment`` at the firm over
        the run, all its relationships with the firm included.
        ``projected_clv`` is 0 for customers no longer with the firm.
    """
    keys = ["firm", "customer_id"]
    transactions = transactions[
        ["customer_id", "period", "acquired_period", "monetary_value", "clv_increment"]
    ].assign(firm=transactions["firm"].astype(str))
    grouped = transactions.groupby(keys, sort=False)
    table = pd.DataFrame(
        {
            "purchases": grouped.size(),
            "first_purchase_period": grouped["period"].min(),
            "last_purchase_period": grouped["period"].max(),
            "total_revenue": grouped["monetary_value"].agg(math.fsum),
            "realized_clv": grouped["clv_increment"].agg(math.fsum),
        }
    )
    starts = transactions[[*keys, "acquired_period"]]
    now = pd.DataFrame(
        {
            "firm": current["firm"].astype(str).to_numpy(),
            "customer_id": current["customer"].to_numpy(dtype=np.int64),
            "acquired_period": current["acquired_period"].to_numpy(dtype=np.int64),
            "projected_clv": current["projected_clv"].to_numpy(dtype=np.float64),
        }
    )
    relationships = (
        pd.concat([starts, now[starts.columns]])
        .drop_duplicates()
        .groupby(keys, sort=False)
        .size()
        .rename("relationships")
    )
    table = table.join(relationships, how="outer").join(
        now.set_index(keys)["projected_clv"], how="outer"
    )
    table["active_at_end"] = table["projected_clv"].notna()
    table["projected_clv"] = table["projected_clv"].fillna(0.0)
    table["purchases"] = table["purchases"].fillna(0).astype(np.int64)
    for column in ("total_revenue", "realized_clv"):  # customers acquired in the last period
        table[column] = table[column].fillna(0.0)
    for column in ("first_purchase_period", "last_purchase_period"):
        table[column] = table[column].astype("Int64")
    table["total_clv"] = table["realized_clv"] + table["projected_clv"]
    table = table.reset_index()
    firms = [firm.name for firm in run.config.firms]
    table["firm"] = pd.Categorical(table["firm"], categories=firms)
    table = table.sort_values(["firm", "customer_id"]).reset_index(drop=True)
    table["firm"] = table["firm"].astype(str)
    strategy_of = {firm.name: firm.strategy for firm in run.config.firms}
    identity = {
        "strategy": table["firm"].map(strategy_of),
        "setting": run.config.market.setting,
        "run_id": run.run_id,
        "point": run.point,
        "replication": run.replication,
        **run.values,
    }
    for position, (name, value) in enumerate(identity.items(), start=2):
        table.insert(position, name, value)
    swept = list(run.values)
    order = [*CUSTOMER_CLV_COLUMNS[:7], *swept, *CUSTOMER_CLV_COLUMNS[7:]]
    return table[order]
