"""Transaction export for CLV models: ``python run.py export RESULTS_DIR --transactions``.

A results folder keeps every run's configuration and seed, not its purchases.
So the export is an experiment: it re-runs the chosen runs with the engine's
purchase log on
(:mod:`sim.transactions`; same configuration and seed, same run), checks that
each re-run reproduces the run's stored per-period records exactly (else the
folder was written by another version of crm-sim), and writes, atomically,
into ``RESULTS_DIR/transactions/`` (or ``--out``):

The tables are laid out by :mod:`analysis.export`, which only reads.

``transactions.csv``
    one row per purchase occasion (:mod:`sim.transactions`): ``customer_id``,
    ``date`` (the occasion's day, :func:`analysis.export.occasion_dates`), ``monetary_value``
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
:class:`analysis.export.ExportError` and leaves the output folder as it was.
"""

import contextlib
import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.export import (
    DEFAULT_START_DATE,
    FILES,
    FORMATS,
    ExportedRun,
    ExportError,
    check_finished,
    choose_runs,
    customer_table,
    period_dates,
    transaction_table,
)
from analysis.report import ReportError, load_results
from sim.transactions import DAYS_PER_PERIOD
from store.files import TableAppender, atomic_path, claim, remove_owned, write_text
from store.results import EXPORT_FOLDER, OutputError, check_output

from .runner import TIMESERIES_COLUMNS, run_once

# ---------------------------------------------------------------------------
# Checking a re-run against the stored records
# ---------------------------------------------------------------------------


def _same(stored: pd.Series, fresh: pd.Series) -> np.ndarray:
    a, b = stored.to_numpy(dtype=float), fresh.to_numpy(dtype=float)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def check_reproduced(
    run: ExportedRun, stored: pd.DataFrame, fresh: pd.DataFrame, manifest: dict, folder: Path
) -> None:
    """Raise :class:`ExportError` unless the re-run's records equal the stored ones exactly."""
    made_by = (manifest.get("package") or {}).get("version")
    commit = (manifest.get("git") or {}).get("commit")
    by = f"crm-sim {made_by}" + (f", commit {commit[:10]}" if commit else "")
    again = (
        "run the scenario again with this version (python run.py run "
        f"{manifest.get('source', 'SCENARIO.yaml')} --out {folder}), then export"
    )
    columns = [c for c in TIMESERIES_COLUMNS if c in fresh.columns]
    missing = [c for c in columns if c not in stored.columns]
    if len(stored) != len(fresh) or missing:
        raise ExportError(
            f"{folder}: the stored records of run {run.run_id} do not match what "
            f"this version of crm-sim writes (written by {by}); {again}"
        )
    stored = stored.reset_index(drop=True)  # both: by period, firms in config order
    fresh = fresh.reset_index(drop=True)
    if list(stored["firm"].astype(str)) != list(fresh["firm"].astype(str)):
        raise ExportError(
            f"{folder}: the stored firms of run {run.run_id} differ from its "
            f"configuration's (written by {by}); {again}"
        )
    for column in ["period", *columns]:
        same = _same(stored[column], fresh[column])
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            raise ExportError(
                f"{folder}: re-running {run.run_id} (seed {run.seed}) does not reproduce its "
                f"stored results ({column} of firm {fresh.at[row, 'firm']} in period "
                f"{fresh.at[row, 'period']}: stored {stored.at[row, column]!r}, now "
                f"{fresh.at[row, column]!r}); the folder was written by another version "
                f"({by}); {again}"
            )


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def export_transactions(
    folder: Path,
    out: Path | None = None,
    *,
    runs=None,
    every: bool = False,
    start: datetime.date = DEFAULT_START_DATE,
    period_length: str = "month",
    file_format: str = "csv",
    progress=None,
) -> list[Path]:
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
    manifest = check_finished(folder)
    chosen = choose_runs(
        results.runs,
        results.configs,
        results.sweep_paths,
        runs,
        every,
        failures=manifest.get("failures", ()),
    )
    longest = max((run.config.simulation.periods for run in chosen), default=0)
    try:  # every date is checked before a run is repeated or a file opened
        period_dates(longest + 1, start, period_length)
    except (ValueError, OverflowError) as error:  # pandas dates: 1677-09-22 to 2262-04-11
        raise ExportError(
            f"--start-date {start.isoformat()}: the dates of {longest + 1} periods, one "
            f"per {period_length}, fall outside 1677-09-22 to 2262-04-11 ({error}); "
            "give a start date inside that range"
        ) from None
    try:  # an export replaces an earlier export's files, never a user's
        check_output(out, force=True)
        created = not out.exists()
        claim(out)
    except OutputError as error:
        raise ExportError(str(error).replace("results folder", "output folder")) from None
    paths = [out / f"{name}.{file_format}" for name in FILES]
    try:
        with contextlib.ExitStack() as stack:  # the files appear only once every run is done
            writers = [
                TableAppender(stack.enter_context(atomic_path(path)), file_format) for path in paths
            ]
            described = [
                _export_run(
                    run,
                    results.timeseries,
                    manifest,
                    folder,
                    writers,
                    period_dates(run.config.simulation.periods + 1, start, period_length),
                )
                for run in _announced(chosen, progress)
            ]
            for writer in writers:
                writer.close()
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)  # only the temporary files were in it
        raise
    # a file of the other format would be an older export's (if crm-sim wrote it)
    remove_owned(out, keep=frozenset(path.name for path in paths))
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
            progress(
                f"re-running {run.run_id} (seed {run.seed}) with the purchase log "
                f"({number}/{len(chosen)})"
            )
        yield run


def _export_run(
    run: ExportedRun,
    stored_series: pd.DataFrame,
    manifest: dict,
    folder: Path,
    writers: list[TableAppender],
    dates: list[str],
) -> dict:
    """Re-run one run, check it, append its tables; return its entry of ``export.json``."""
    result = run_once(run.config, run.seed, transactions=True, relationships=False)
    stored = stored_series[stored_series["run_id"] == run.run_id]
    check_reproduced(run, stored, result.timeseries, manifest, folder)
    transactions = transaction_table(run, result.transactions, dates)
    customers = customer_table(run, transactions, result.customers)
    for writer, table in zip(writers, (transactions, customers), strict=True):
        writer.append(table)
    return {
        "run_id": run.run_id,
        "point": run.point,
        "replication": run.replication,
        "seed": run.seed,
        "values": run.values,
        "periods": run.config.simulation.periods,
        "discount_rate": run.config.simulation.discount_rate,
        "purchases": len(transactions),
    }
