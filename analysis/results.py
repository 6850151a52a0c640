"""The results folder: checks before writing, provenance, tables and the summary.

``results/<scenario name>/`` (or ``--out``) holds::

    runs.parquet            one row per run x firm: identity, swept values, outcomes
    timeseries.parquet      one row per run x period x firm
    cohorts.parquet         cohort survival: run x firm x acquisition cohort x tenure
    policies.parquet        policy outcomes: run x firm x policy (if any firm runs policies)
    customers.parquet       end-of-run customers of replication 0 of each sweep point
    report.md, report.html  the report (analysis.report), figures/ its PNGs
    scenario.resolved.yaml  every sweep point's whole configuration (defaults filled in)
    scenario.yaml           a copy of the scenario file as given
    manifest.json           versions, git commit, seeds, times, run counts, failures
    summary.md              the strategy x setting table and the run counts
    parts/                  one file per finished run (what --resume reads)
    transactions/           purchase logs and true CLV, if exported (analysis.export)

docs/analysis.md, section "Results folder", documents every column.
"""

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.settings import SETTINGS
from sim.strategies import STRATEGIES

from .files import write_text
from .parts import EXTRA_PARTS, PartStore
from .scenario import Scenario

TABLE_FILES = ("runs.parquet", "timeseries.parquet", "cohorts.parquet", "policies.parquet",
               "customers.parquet")
"""The combined result tables."""

OUTPUT_FILES = (*TABLE_FILES, "scenario.resolved.yaml", "scenario.yaml", "manifest.json",
                "summary.md", "report.md", "report.html", "sensitivity.csv",
                "sensitivity.parquet", "sensitivity.md")
"""Files the results folder holds besides ``parts/`` (replaced by a fresh run)."""

EXPORT_FOLDER = "transactions"
"""Where ``run.py export --transactions`` writes by default (cleared by a fresh run)."""

EXPORT_FILES = ("transactions.csv", "transactions.parquet", "customers_clv.csv",
                "customers_clv.parquet", "export.json")
"""The files of an export (:mod:`analysis.export`)."""

LIBRARIES = ("mesa", "numpy", "pandas", "pydantic", "pyarrow", "pyyaml", "scipy", "tqdm",
             "dask", "distributed", "SALib")

TABLE_OUTCOMES = (
    ("retention_rate", "monthly retention"), ("annual_retention", "annual retention"),
    ("expected_lifetime", "lifetime (years)"), ("customer_equity", "customer equity"),
)
"""Outcomes of the strategy x setting table: column and label (definitions: analysis.metrics)."""
_DIGITS = {"retention_rate": 4, "annual_retention": 3, "expected_lifetime": 1}
"""Decimals of the table's outcomes (money: none)."""


class OutputError(Exception):
    """The results folder cannot be written (a bad ``--out``, or resuming the wrong scenario)."""


# ---------------------------------------------------------------------------
# Before anything is written
# ---------------------------------------------------------------------------


def check_output(folder: Path) -> None:
    """Raise :class:`OutputError` if ``folder`` cannot be created or written; write nothing."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"results folder {folder}: exists and is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"results folder {folder}: not writable (permission denied)")
        return
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"results folder {folder}: cannot be created, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"results folder {folder}: cannot be created, {ancestor} is not "
                          "writable (permission denied)")


def fingerprint(scenario: Scenario) -> str:
    """A digest of everything that decides the runs' results (not where they execute)."""
    document = {
        "name": scenario.name,
        "points": [{"values": p.values, "config": p.config.model_dump(mode="json")}
                   for p in scenario.points],
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_resume(folder: Path, scenario: Scenario) -> int:
    """For ``--resume``: raise :class:`OutputError` if the parts belong to another scenario.

    Returns:
        How many finished runs the folder holds.
    """
    store = PartStore(Path(folder) / "parts")
    if not store.exists():
        return 0
    found = store.fingerprint()
    if found != fingerprint(scenario):
        raise OutputError(
            f"results folder {folder}: holds runs of a different scenario (or different "
            "parameters); run without --resume to replace them, or choose another --out")
    return len(store.finished())


def prepare(folder: Path, scenario: Scenario, *, resume: bool) -> PartStore:
    """Create the folder and its parts store; without ``resume`` clear earlier results.

    Writes ``scenario.resolved.yaml`` and the copy ``scenario.yaml`` at once, so
    that an interrupted folder says what it holds.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store = PartStore(folder / "parts")
    if not resume:
        store.clear()
        for name in OUTPUT_FILES:
            (folder / name).unlink(missing_ok=True)
        for figure in (folder / "figures").glob("*.png"):
            figure.unlink(missing_ok=True)
        export = folder / EXPORT_FOLDER  # an export of the old runs would be stale
        for name in EXPORT_FILES:
            (export / name).unlink(missing_ok=True)
    store.create(fingerprint(scenario))
    write_text(folder / "scenario.resolved.yaml", resolved_yaml(scenario))
    write_text(folder / "scenario.yaml", scenario.source.read_text(encoding="utf-8"))
    return store


# ---------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------


def resolved_yaml(scenario: Scenario) -> str:
    """Every point's whole configuration (``Config.model_dump()``), as YAML."""
    document = {
        "name": scenario.name,
        "description": scenario.description,
        "source": str(scenario.source),
        "execution": scenario.execution.model_dump(mode="json"),
        "sweep_paths": list(scenario.sweep_paths),
        "points": [{"point": p.index, "values": p.values,
                    "config": p.config.model_dump(mode="json")} for p in scenario.points],
    }
    header = ("# The scenario with every default filled in, written by run.py.\n"
              "# points[i].config is the whole configuration of sweep point i:\n"
              "# sim.config.Config.model_validate(points[i].config) rebuilds it.\n")
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state() -> dict | None:
    """Commit of the code's git checkout and whether tracked files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        def git(*arguments):
            return subprocess.run(["git", "-C", str(here), *arguments], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def manifest(scenario: Scenario, specs, *, report=None, started: str, finished: str | None,
             engine: str, workers: int, command: list[str]) -> dict:
    """The provenance record of a results folder (``manifest.json``)."""
    failures = [] if report is None else report.failures
    runs = {"total": len(specs), "ok": None if report is None else report.ok,
            "failed": len(failures), "resumed": None if report is None else report.resumed}
    status = "running" if report is None else ("failed" if failures else "complete")
    return {
        "scenario": scenario.name,
        "source": str(scenario.source),
        "fingerprint": fingerprint(scenario),
        "status": status,
        "package": {"name": "crm-sim", "version": _version("crm-sim")},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "git": git_state(),
        "command": command,
        "engine": engine,
        "workers": workers,
        "started": started,
        "finished": finished,
        "runs": runs,
        "seeds": {
            "scenario": sorted({p.config.simulation.seed for p in scenario.points}),
            "derivation": "numpy.random.SeedSequence(entropy=simulation.seed, spawn_key=("
                          "first 16 bytes of sha256(point key without swept policies or "
                          "sensitivity parameters) as 4 uint32, "
                          "replication))"
                          ".generate_state(1, uint64) >> 1",
            "runs": {spec.run_id: spec.seed for spec in specs},
        },
        "failures": failures,
    }


def write_manifest(folder: Path, record: dict) -> None:
    """Write ``manifest.json`` atomically."""
    write_text(Path(folder) / "manifest.json", json.dumps(record, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def t_quantile(degrees_of_freedom: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile, e.g. 2.093 for 19 degrees of freedom at 95%."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2.0, degrees_of_freedom))


def mean_ci(values: pd.Series, level: float = 0.95) -> tuple[int, float, float, float]:
    """``(n, mean, low, high)``: the t-interval of the mean over non-missing values."""
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return 0, np.nan, np.nan, np.nan
    mean = float(values.mean())
    if n == 1:
        return 1, mean, np.nan, np.nan
    half = t_quantile(n - 1, level) * float(values.std(ddof=1)) / np.sqrt(n)
    return n, mean, mean - half, mean + half


def grouping_paths(sweep_paths) -> list[str]:
    """Swept paths that split the table further (those that set strategy or setting do not)."""
    return [p for p in sweep_paths
            if p != "market.setting" and not re.fullmatch(r"firms\.\d+\.strategy", p)]


def _registry_order(values: pd.Series, registry) -> pd.Series:
    order = {name: i for i, name in enumerate(registry)}
    return values.map(lambda v: order.get(v, len(order)))


def strategy_setting_table(runs: pd.DataFrame, sweep_paths=()) -> pd.DataFrame:
    """Mean and 95% CI over replications of retention and customer equity.

    Rows are (strategy, setting) and any other swept parameter. Within one run
    the firms that share a strategy are averaged first, so each run counts once.

    Returns:
        Columns ``strategy``, ``setting``, the other swept paths, ``runs``, and
        for each outcome ``<outcome>``, ``<outcome>_low``, ``<outcome>_high``.
    """
    keys = ["strategy", "setting", *grouping_paths(sweep_paths)]
    outcomes = [name for name, _ in TABLE_OUTCOMES if name in runs.columns]
    per_run = runs.groupby([*keys, "run_id"], sort=False, dropna=False)[outcomes].mean()
    rows = []
    for group, frame in per_run.groupby(level=keys, sort=False, dropna=False):
        row = dict(zip(keys, group, strict=True))
        row["runs"] = len(frame)
        for name in outcomes:
            _, row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(frame[name])
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.sort_values(
        ["strategy", "setting"], kind="stable",
        key=lambda c: _registry_order(c, STRATEGIES if c.name == "strategy" else SETTINGS))
    return table.reset_index(drop=True)


def _number(value: float, digits: int) -> str:
    return "n/a" if pd.isna(value) else f"{value:,.{digits}f}"


def _cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    keys = [c for c in table.columns
            if c not in ("runs", *[f"{n}{s}" for n, _ in TABLE_OUTCOMES
                                   for s in ("", "_low", "_high")])]
    header = [*keys, "runs"]
    shown = [(name, label) for name, label in TABLE_OUTCOMES if name in table.columns]
    for _, label in shown:
        header += [label, "95% CI"]
    rows = []
    for _, row in table.iterrows():
        cells = [str(row[k]) for k in keys] + [str(row["runs"])]
        for name, _ in shown:
            digits = _DIGITS.get(name, 0)
            low, high = row[f"{name}_low"], row[f"{name}_high"]
            interval = ("n/a" if pd.isna(low)
                        else f"[{_number(low, digits)}, {_number(high, digits)}]")
            cells += [_number(row[name], digits), interval]
        rows.append(cells)
    return header, rows


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text for the terminal."""
    header, rows = _cells(table)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {i for i, h in enumerate(header) if h not in table.columns or h == "runs"}

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(table: pd.DataFrame) -> str:
    """The table as a Markdown table."""
    header, rows = _cells(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Writing the results
# ---------------------------------------------------------------------------


def summary_markdown(scenario: Scenario, table: pd.DataFrame | None, report, record: dict) -> str:
    """The short ``summary.md``: what ran, the main table, failures."""
    lines = [f"# {scenario.name}", ""]
    if scenario.description:
        lines += [scenario.description.strip(), ""]
    points = len(scenario.points)
    lines += [
        f"- scenario file: `{scenario.source}`",
        f"- sweep: {points} point{'s' if points != 1 else ''}"
        + (f" over {', '.join(f'`{p}`' for p in scenario.sweep_paths)}"
           if scenario.sweep_paths else ""),
        f"- runs: {report.total} ({report.ok} ok, {len(report.failures)} failed)",
        f"- engine: {record['engine']} ({record['workers']} workers), "
        f"{record['started']} to {record['finished']}",
        "",
        "## Retention and customer equity by strategy and setting",
        "",
        "Mean over replications with the 95% confidence interval of the mean (Student t).",
        "Monthly retention: mean period retention over periods 1..T; annual retention: of",
        "a firm's customers at month t, the share still its customers at t + 12 (mean over",
        "t = 13..T-12); lifetime: 1 / (1 - annual retention) years; customer equity: the",
        "sum of discounted contribution + referral value - acquisition and policy cost and",
        "the projected value of the customers at the end over the planning horizon",
        "(see analysis/metrics.py).",
        "",
        markdown_table(table) if table is not None and len(table) else "(no finished runs)",
        "",
    ]
    if report.failures:
        lines += ["## Failed runs", "", "| run | seed | error |", "|---|---|---|"]
        lines += [f"| {f['run_id']} | {f['seed']} | {f['error']} |" for f in report.failures]
        lines += ["", "Tracebacks are in manifest.json.", ""]
    lines += ["Files: runs.parquet, timeseries.parquet, cohorts.parquet, customers.parquet "
              "(replication 0), policies.parquet (if firms run policies), "
              "scenario.resolved.yaml, manifest.json, report.md/report.html "
              "(see docs/analysis.md, sections \"Results folder\" and \"Reading the report\").", ""]
    return "\n".join(lines)


def write_tables(folder: Path, store: PartStore, specs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Combine the finished parts into the result tables (:data:`TABLE_FILES`).

    ``cohorts.parquet``, ``policies.parquet`` and ``customers.parquet`` are
    written when some finished run has such a part (policies only if a firm
    runs policies; customers for replication 0 of each point).

    Returns:
        ``runs`` and ``timeseries`` (the other tables are read by the report).
    """
    folder = Path(folder)
    finished = store.finished()
    run_ids = [spec.run_id for spec in specs if spec.run_id in finished]
    streamed = store.finish_stream(run_ids, folder)  # written while the runs ran, if complete
    for name in ("runs", "timeseries", *EXTRA_PARTS):
        path = folder / f"{name}.parquet"
        if name not in streamed and not store.write_combined(name, run_ids, path):
            path.unlink(missing_ok=True)

    def read(name):
        path = folder / f"{name}.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    return read("runs"), read("timeseries")
