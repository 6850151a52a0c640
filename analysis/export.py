"""Transaction export for CLV models: ``python run.py export RESULTS_DIR --transactions``.

A results folder keeps every run's configuration and seed, not its purchases.
The export re-runs the chosen runs with the engine's purchase log on
(:mod:`sim.transactions`; same configuration and seed, same run), checks that
each re-run reproduces the run's stored per-period records exactly (else the
folder was written by another version of crm-sim), and writes, atomically,
into ``RESULTS_DIR/transactions/`` (or ``--out``):

``transactions.csv``
    one row per purchase occasion (:mod:`sim.transactions`): ``customer_id``,
    ``date`` (the occasion's day, :func:`occasion_dates`), ``monetary_value``
    (the layout CLV libraries read), then ``firm``, ``strategy``, ``setting``,
    ``run_id``, ``point``, ``replication``, the swept columns, ``period``,
    ``acquired_period`` (when the relationship began: its contract) and
    ``clv_increment`` (the occasion's share of the period's contribution to
    the customer's CLV).
``customers_clv.csv``
    one row per customer x firm x run: purchases (occasions), first and last
    purchase period, total revenue, the CLV realized over the horizon in the
    periods it bought (the log has no row, so no increment, for a period
    without a purchase), whether still a customer at the end and the
    projected CLV of those who are.
``export.json``
    what was exported: source folder, runs and seeds, date mapping, versions.

``--format parquet`` writes ``.parquet`` files instead of ``.csv``. Amounts
are the log's float32 values widened to float64, written with the shortest
text that reads back to the same float64; an occasion's amount is an equal
share of the customer's sales in the period, so the amounts add up to the
ledger's revenue to float32 rounding. A customer id is the engine's customer
identity (a new arrival who takes a leaver's place gets a new one): one
customer of one firm in one run is ``(run_id, firm, customer_id)``.

Everything is computed before anything is written; bad input raises
:class:`ExportError` and leaves the output folder as it was.
"""

import contextlib
import datetime
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.transactions import DAYS_PER_PERIOD
from store.files import atomic_path, write_text
from store.results import EXPORT_FOLDER, OutputError, check_output

from .report import ReportError, load_results
from .runner import TIMESERIES_COLUMNS, run_once

PERIOD_LENGTHS = ("month", "week", "day")
"""What one period stands for in the exported dates (the model's period is a month)."""

FORMATS = ("csv", "parquet")

DEFAULT_START_DATE = datetime.date(2020, 1, 1)
"""The date of period 1 unless ``--start-date`` says otherwise."""

TRANSACTION_FILE_COLUMNS = (
    "customer_id", "date", "monetary_value", "firm", "strategy", "setting", "run_id", "point",
    "replication", "period", "acquired_period", "clv_increment",
)
"""Columns of ``transactions.csv`` (the swept columns come right before ``period``)."""

CUSTOMER_CLV_COLUMNS = (
    "customer_id", "firm", "strategy", "setting", "run_id", "point", "replication",
    "relationships", "purchases", "first_purchase_period", "last_purchase_period",
    "total_revenue", "realized_clv", "active_at_end", "projected_clv", "total_clv",
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


def occasion_dates(period, day, dates: list[str]) -> pd.Categorical:
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
        The dates as a categorical of ``YYYY-MM-DD`` strings, categories in
        calendar order.
    """
    period = np.asarray(period, dtype=np.int64)
    offset = np.asarray(day, dtype=np.int64) - DAYS_PER_PERIOD * (period - 1)
    if offset.size and (offset.min() < 0 or offset.max() >= DAYS_PER_PERIOD):
        raise ValueError(f"a purchase day lies outside its period ({DAYS_PER_PERIOD}-day "
                         "periods)")
    calendar = np.array(dates, dtype="datetime64[D]").astype(np.int64)
    if period.size and period.max() + 1 >= calendar.size:
        raise ValueError("occasion_dates needs the date after the last period's")
    begin = calendar[period]
    span = calendar[period + 1] - begin
    ordinal = begin + offset * span // DAYS_PER_PERIOD
    days, codes = np.unique(ordinal, return_inverse=True)
    return pd.Categorical.from_codes(codes.reshape(-1),
                                     days.astype("datetime64[D]").astype(str).tolist())


# ---------------------------------------------------------------------------
# Choosing and re-running the runs
# ---------------------------------------------------------------------------


def _check_finished(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder}: no manifest.json; is this a results folder written by "
                          "'run.py run'?") from None
    except (OSError, ValueError) as error:
        raise ExportError(f"{path}: cannot be read ({error})") from None
    if manifest.get("status") == "running":
        raise ExportError(f"{folder}: incomplete (the run was interrupted or is still going); "
                          f"finish it first with: python run.py run {manifest.get('source', '')}"
                          f" --out {folder} --resume")
    return manifest


def choose_runs(runs: pd.DataFrame, configs: dict, sweep_paths, wanted=None,
                every: bool = False, failures=()) -> list[ExportedRun]:
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
                raise ExportError(f"run {run_id!r} failed ({failed[run_id]}), so it has no "
                                  "results to export; fix the cause and finish the folder "
                                  "with 'run.py run ... --resume'")
        unknown = [run_id for run_id in wanted if run_id not in first.index]
        if unknown:
            ids = list(first.index)
            valid = ", ".join(ids) if len(ids) <= 12 else \
                f"{', '.join(ids[:5])}, ..., {', '.join(ids[-3:])} ({len(ids)} runs)"
            raise ExportError(f"unknown run {', '.join(map(repr, unknown))}; valid run ids "
                              f"(runs.parquet, run_id): {valid}")
        chosen = list(dict.fromkeys(wanted))
    elif every:
        chosen = list(first.index)
    else:
        chosen = list(first.index[first["replication"] == 0])
    paths = [p for p in sweep_paths if p in first.columns]
    return [ExportedRun(run_id, int(row["point"]), int(row["replication"]), int(row["seed"]),
                        {p: row[p] for p in paths}, configs[int(row["point"])])
            for run_id, row in first.loc[chosen].iterrows()]


def _same(stored: pd.Series, fresh: pd.Series) -> np.ndarray:
    a, b = stored.to_numpy(dtype=float), fresh.to_numpy(dtype=float)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def check_reproduced(run: ExportedRun, stored: pd.DataFrame, fresh: pd.DataFrame,
                     manifest: dict, folder: Path) -> None:
    """Raise :class:`ExportError` unless the re-run's records equal the stored ones exactly."""
    made_by = (manifest.get("package") or {}).get("version")
    commit = (manifest.get("git") or {}).get("commit")
    by = f"crm-sim {made_by}" + (f", commit {commit[:10]}" if commit else "")
    again = ("run the scenario again with this version (python run.py run "
             f"{manifest.get('source', 'SCENARIO.yaml')} --out {folder}), then export")
    columns = [c for c in TIMESERIES_COLUMNS if c in fresh.columns]
    missing = [c for c in columns if c not in stored.columns]
    if len(stored) != len(fresh) or missing:
        raise ExportError(f"{folder}: the stored records of run {run.run_id} do not match what "
                          f"this version of crm-sim writes (written by {by}); {again}")
    stored = stored.reset_index(drop=True)  # both: by period, firms in config order
    fresh = fresh.reset_index(drop=True)
    if list(stored["firm"].astype(str)) != list(fresh["firm"].astype(str)):
        raise ExportError(f"{folder}: the stored firms of run {run.run_id} differ from its "
                          f"configuration's (written by {by}); {again}")
    for column in ["period", *columns]:
        same = _same(stored[column], fresh[column])
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            raise ExportError(
                f"{folder}: re-running {run.run_id} (seed {run.seed}) does not reproduce its "
                f"stored results ({column} of firm {fresh.at[row, 'firm']} in period "
                f"{fresh.at[row, 'period']}: stored {stored.at[row, column]!r}, now "
                f"{fresh.at[row, column]!r}); the folder was written by another version "
                f"({by}); {again}")


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

    frame = pd.DataFrame({
        "customer_id": log["customer"].to_numpy(dtype=np.int64),
        "date": occasion_dates(log["period"].to_numpy(), log["day"].to_numpy(), dates),
        "monetary_value": log["revenue"].to_numpy(dtype=np.float64),  # exact widening
        "firm": pd.Categorical.from_codes(codes, [firm.name for firm in firms]),
        "strategy": pd.Categorical(np.array([firm.strategy for firm in firms],
                                            dtype=object)[codes]),
        "setting": repeated(run.config.market.setting),
        "run_id": repeated(run.run_id),
        "point": run.point,
        "replication": run.replication,
    })
    for path, value in run.values.items():
        frame[path] = value
    frame["period"] = log["period"].to_numpy(dtype=np.int64)
    frame["acquired_period"] = log["acquired_period"].to_numpy(dtype=np.int64)
    frame["clv_increment"] = log["clv_increment"].to_numpy(dtype=np.float64)
    return frame


def customer_table(run: ExportedRun, transactions: pd.DataFrame,
                   current: pd.DataFrame) -> pd.DataFrame:
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
    transactions = transactions[["customer_id", "period", "acquired_period", "monetary_value",
                                 "clv_increment"]].assign(firm=transactions["firm"].astype(str))
    grouped = transactions.groupby(keys, sort=False)
    table = pd.DataFrame({
        "purchases": grouped.size(),
        "first_purchase_period": grouped["period"].min(),
        "last_purchase_period": grouped["period"].max(),
        "total_revenue": grouped["monetary_value"].agg(math.fsum),
        "realized_clv": grouped["clv_increment"].agg(math.fsum),
    })
    starts = transactions[[*keys, "acquired_period"]]
    now = pd.DataFrame({"firm": current["firm"].astype(str).to_numpy(),
                        "customer_id": current["customer"].to_numpy(dtype=np.int64),
                        "acquired_period": current["acquired_period"].to_numpy(dtype=np.int64),
                        "projected_clv": current["projected_clv"].to_numpy(dtype=np.float64)})
    relationships = (pd.concat([starts, now[starts.columns]]).drop_duplicates()
                     .groupby(keys, sort=False).size().rename("relationships"))
    table = table.join(relationships, how="outer").join(
        now.set_index(keys)["projected_clv"], how="outer")
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
    identity = {"strategy": table["firm"].map(strategy_of),
                "setting": run.config.market.setting, "run_id": run.run_id,
                "point": run.point, "replication": run.replication, **run.values}
    for position, (name, value) in enumerate(identity.items(), start=2):
        table.insert(position, name, value)
    swept = list(run.values)
    order = [*CUSTOMER_CLV_COLUMNS[:7], *swept, *CUSTOMER_CLV_COLUMNS[7:]]
    return table[order]


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def export_transactions(folder: Path, out: Path | None = None, *, runs=None,
                        every: bool = False, start: datetime.date = DEFAULT_START_DATE,
                        period_length: str = "month", file_format: str = "csv",
                        progress=None) -> list[Path]:
    """Re-run the chosen runs of a results folder with the purchase log on and write the export.

    Args:
        folder: the results folder (written by ``run.py run``).
        out: the output folder (default ``folder/transactions``).
        runs: run ids to export (default: replication 0 of every point).
        every: export every run of the folder.
        start: the date of period 1.
        period_length: what one period stands for (:data:`PERIOD_LENGTHS`).
        file_format: ``csv`` or ``parquet``.
        progress: called with a line of text before each run, if given.

    Returns:
        The files written.

    Raises:
        ExportError: not a (finished) results folder, an unknown run, a run
            that the current code does not reproduce, an output folder that
            cannot be written. Nothing is written then.
    """
    folder = Path(folder)
    out = folder / EXPORT_FOLDER if out is None else Path(out)
    if file_format not in FORMATS:
        raise ExportError(f"unknown format {file_format!r}; valid: {', '.join(FORMATS)}")
    try:
        results = load_results(folder)
    except ReportError as error:
        raise ExportError(str(error)) from None
    manifest = _check_finished(folder)
    chosen = choose_runs(results.runs, results.configs, results.sweep_paths, runs, every,
                         failures=manifest.get("failures", ()))
    try:
        check_output(out)
    except OutputError as error:
        raise ExportError(str(error).replace("results folder", "output folder")) from None

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{file_format}" for name in FILES]
    try:
        with contextlib.ExitStack() as stack:  # the files appear only once every run is done
            writers = [TableAppender(stack.enter_context(atomic_path(path)), file_format)
                       for path in paths]
            described = [_export_run(run, results.timeseries, manifest, folder, writers,
                                     period_dates(run.config.simulation.periods + 1,
                                                  start, period_length))
                         for run in _announced(chosen, progress)]
            for writer in writers:
                writer.close()
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)  # only the temporary files were in it
        raise
    for name in FILES:  # a file of the other format would be an older export
        for other in FORMATS:
            if other != file_format:
                (out / f"{name}.{other}").unlink(missing_ok=True)
    record = {
        "source": str(folder),
        "scenario": results.name,
        "made_by": manifest.get("package"),
        "start_date": start.isoformat(),
        "period_length": period_length,
        "date_of_period": f"period 1 is {start.isoformat()}, then one date per {period_length}",
        "date_of_purchase": f"day d of the log ({DAYS_PER_PERIOD}-day periods) falls "
                            f"floor(k x span / {DAYS_PER_PERIOD}) days after its period's "
                            f"date, k = d - {DAYS_PER_PERIOD} (period - 1), span = days "
                            "to the next period's date",
        "money": "monetary_value: an equal share of the customer's sales in the period, one "
                 "per purchase occasion; clv_increment: the same share of the period's "
                 "contribution net of policy spending, discounted to period 0 at "
                 "discount_rate; realized_clv: their sum (periods without a purchase have "
                 "no row, so their cost is not in it)",
        "files": [path.name for path in paths],
        "runs": described,
    }
    write_text(out / "export.json", json.dumps(record, indent=2, default=str) + "\n")
    return [*paths, out / "export.json"]


def _announced(chosen: list[ExportedRun], progress):
    for number, run in enumerate(chosen, start=1):
        if progress is not None:
            progress(f"re-running {run.run_id} (seed {run.seed}) with the purchase log "
                     f"({number}/{len(chosen)})")
        yield run


def _export_run(run: ExportedRun, stored_series: pd.DataFrame, manifest: dict, folder: Path,
                writers: list["TableAppender"], dates: list[str]) -> dict:
    """Re-run one run, check it, append its tables; return its entry of ``export.json``."""
    result = run_once(run.config, run.seed, transactions=True)
    stored = stored_series[stored_series["run_id"] == run.run_id]
    check_reproduced(run, stored, result.timeseries, manifest, folder)
    transactions = transaction_table(run, result.transactions, dates)
    customers = customer_table(run, transactions, result.customers)
    for writer, table in zip(writers, (transactions, customers), strict=True):
        writer.append(table)
    return {"run_id": run.run_id, "point": run.point, "replication": run.replication,
            "seed": run.seed, "values": run.values, "periods": run.config.simulation.periods,
            "discount_rate": run.config.simulation.discount_rate,
            "purchases": len(transactions)}


class TableAppender:
    """Writes a table run by run into one CSV or Parquet file (one run in memory at a time).

    CSV: pandas writes a float64 as the shortest text that reads back to the
    same float64. Parquet: one row group per run, categorical columns as text.
    """

    def __init__(self, path: Path, file_format: str):
        self.path = Path(path)
        self.file_format = file_format
        self._parquet = None
        self._started = False

    def append(self, frame: pd.DataFrame) -> None:
        """Add ``frame``'s rows (the first call also writes the header or schema)."""
        if self.file_format == "csv":
            frame.to_csv(self.path, mode="a" if self._started else "w",
                         header=not self._started, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            plain = frame.astype({c: str for c in frame.columns
                                  if isinstance(frame[c].dtype, pd.CategoricalDtype)})
            table = pa.Table.from_pandas(plain, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._started = True

    def close(self) -> None:
        """Finish the file."""
        if self._parquet is not None:
            self._parquet.close()
