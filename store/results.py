"""The results folder as storage: its files, checks before writing, provenance, tables.

``results/<scenario name>/`` (or ``--out``) holds::

    runs.parquet            one row per run x firm: identity, swept values, outcomes
    timeseries.parquet      one row per run x period x firm
    cohorts.parquet         cohort survival: run x firm x acquisition cohort x tenure
    policies.parquet        policy outcomes: run x firm x policy (if any firm runs policies)
    customers.parquet       end-of-run customers of replication 0 of each sweep point
    relationships.parquet   every relationship of replication 0 of each sweep point
    report.md, report.html  the report (analysis.report), figures/ its PNGs
    scenario.resolved.yaml  every sweep point's whole configuration (defaults filled in)
    scenario.yaml           a copy of the scenario file as given
    manifest.json           versions, git commit, seeds, times, run counts, failures
    summary.md              the strategy x setting table and the run counts
    parts/                  one file per finished run (what --resume reads)
    transactions/           purchase logs and true CLV, if exported (experiments.export)

This module knows the folder, not the scenario: what the files are called,
whether the folder can be written, clearing and preparing it for a scenario
given its fingerprint (a string), the environment a manifest records
(:func:`environment`), and combining the finished runs' parts into the
tables. What a scenario writes into it is :mod:`experiments.folders`.

docs/analysis.md, section "Results folder", documents every column.
"""

import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from . import lock
from .files import (
    OutputError,
    claim,
    foreign_entries,
    is_owned,
    not_ours,
    owned_files,
    remove_owned,
    write_text,
)
from .parts import EXTRA_PARTS, PartStore

TABLE_FILES = (
    "runs.parquet",
    "timeseries.parquet",
    "cohorts.parquet",
    "policies.parquet",
    "customers.parquet",
    "relationships.parquet",
)
"""The combined result tables."""

OUTPUT_FILES = (
    *TABLE_FILES,
    "scenario.resolved.yaml",
    "scenario.yaml",
    "manifest.json",
    "summary.md",
    "report.md",
    "report.html",
    "sensitivity.csv",
    "sensitivity.parquet",
    "sensitivity.md",
)
"""Files the results folder holds besides ``parts/`` (replaced by a fresh run)."""

EXPORT_FOLDER = "transactions"
"""Where ``run.py export --transactions`` writes by default (cleared by a fresh run)."""

EXPORT_FILES = (
    "transactions.csv",
    "transactions.parquet",
    "customers_clv.csv",
    "customers_clv.parquet",
    "export.json",
)
"""The files of an export (:mod:`experiments.export`)."""

LIBRARIES = (
    "mesa",
    "numpy",
    "pandas",
    "pydantic",
    "pyarrow",
    "pyyaml",
    "scipy",
    "tqdm",
    "dask",
    "distributed",
    "SALib",
)


# ---------------------------------------------------------------------------
# Before anything is written
# ---------------------------------------------------------------------------


def check_output(
    folder: Path, *, inputs: Iterable[Path] = (), force: bool = False, resume: bool = False
) -> None:
    """Raise :class:`OutputError` if crm-sim may not write into ``folder``; write nothing.

    Args:
        folder: the output folder.
        inputs: files the command reads (the scenario, a target): the folder
            may not hold them, nor lie above them.
        force: the earlier results crm-sim wrote there may be replaced.
        resume: the command continues the results already there.

    Refused: a file; a folder that cannot be created or written; one that
    holds an input; one another crm-sim process is writing (its lock); a
    non-empty folder without crm-sim's marker (a user's folder); and one
    holding an earlier run's results, unless ``resume`` or ``force``.
    """
    folder = Path(folder)
    for source in inputs:
        if Path(source).resolve().is_relative_to(folder.resolve()):
            raise OutputError(
                f"results folder {folder}: holds the input file {source}; crm-sim would "
                "write over what it reads: give an --out outside it"
            )
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"results folder {folder}: exists and is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"results folder {folder}: not writable (permission denied)")
        lock.check_free(folder)
        if not is_owned(folder):
            if foreign_entries(folder):
                raise OutputError(not_ours(folder))
        elif not (resume or force) and holds_results(folder):
            raise OutputError(
                f"results folder {folder}: holds the results of an earlier run; add --resume "
                "to finish them, or --force to replace them (only the files crm-sim wrote "
                "there are deleted), or give another --out"
            )
        return
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"results folder {folder}: cannot be created, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(
            f"results folder {folder}: cannot be created, {ancestor} is not "
            "writable (permission denied)"
        )


def holds_results(folder: Path) -> bool:
    """True if an owned ``folder`` holds files crm-sim wrote, or runs' parts."""
    folder = Path(folder)
    return (
        any((folder / name).is_file() for name in owned_files(folder))
        or PartStore(folder / "parts").exists()
    )


def check_resume(folder: Path, fingerprint: str) -> int:
    """For ``--resume``: raise :class:`OutputError` if the parts belong to another scenario.

    Args:
        folder: the results folder.
        fingerprint: the digest of the scenario to resume
            (:func:`experiments.folders.fingerprint`).

    Returns:
        How many finished runs the folder holds.
    """
    store = PartStore(Path(folder) / "parts")
    if not store.exists():
        return 0
    if store.fingerprint() != fingerprint:
        raise OutputError(
            f"results folder {folder}: holds runs of a different scenario (or different "
            "parameters); run without --resume to replace them, or choose another --out"
        )
    return len(store.finished())


def prepare(
    folder: Path, fingerprint: str, *, resume: bool, files: Mapping[str, str] = ()
) -> PartStore:
    """Create the folder and its parts store; without ``resume`` clear earlier results.

    Args:
        folder: the results folder.
        fingerprint: the digest of the scenario whose runs the parts will hold.
        resume: keep the parts (finished runs) already there.
        files: file name -> text written at once (e.g. the resolved scenario),
            so that an interrupted folder says what it holds.
    """
    folder = claim(Path(folder))  # refuses a non-empty folder crm-sim did not make
    store = PartStore(folder / "parts")
    if not resume:  # only files crm-sim listed as its own go; a user's files stay
        store.clear()
        remove_owned(folder)
        remove_owned(folder / "figures")  # the old report's figures
        remove_owned(folder / EXPORT_FOLDER)  # an export of the old runs would be stale
    store.create(fingerprint)
    for name, text in dict(files).items():
        write_text(folder / name, text)
    return store


# ---------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None if it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state() -> dict | None:
    """Commit of the code's git checkout and whether tracked files differ from it."""
    here = Path(__file__).resolve().parent
    try:

        def git(*arguments):
            return subprocess.run(
                ["git", "-C", str(here), *arguments],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def environment() -> dict:
    """What the code ran on, for ``manifest.json``: package, Python, platform, libraries, git."""
    return {
        "package": {"name": "crm-sim", "version": version("crm-sim")},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: version(name) for name in LIBRARIES},
        "git": git_state(),
    }


def write_manifest(folder: Path, record: dict) -> None:
    """Write ``manifest.json`` atomically."""
    write_text(Path(folder) / "manifest.json", json.dumps(record, indent=2, default=str) + "\n")


def read_manifest(folder: Path) -> dict:
    """``manifest.json`` of a results folder.

    Raises:
        FileNotFoundError: the folder has none.
        OSError, ValueError: it cannot be read or is not JSON.
    """
    return json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------


def write_tables(folder: Path, store: PartStore, run_ids: Iterable[str]) -> pd.DataFrame:
    """Combine the finished parts into the result tables (:data:`TABLE_FILES`).

    Args:
        folder: the results folder.
        store: its parts.
        run_ids: the scenario's runs in plan order; those finished are combined.

    ``cohorts.parquet``, ``policies.parquet`` and ``customers.parquet`` are
    written when some finished run has such a part (policies only if a firm
    runs policies; customers for replication 0 of each point). The tables
    streamed while the runs ran are moved into place; the others are written
    part by part (:meth:`store.parts.PartStore.write_combined`): no table is
    held in memory whole.

    Returns:
        ``runs`` (one row per run and firm); the other tables, which grow with
        periods and cohorts, are left on disk for the report to read.
    """
    folder = Path(folder)
    finished = store.finished()
    run_ids = [run_id for run_id in run_ids if run_id in finished]
    streamed = store.finish_stream(run_ids, folder)  # written while the runs ran, if complete
    for name in ("runs", "timeseries", *EXTRA_PARTS):
        path = folder / f"{name}.parquet"
        if name not in streamed and not store.write_combined(name, run_ids, path):
            path.unlink(missing_ok=True)
    path = folder / "runs.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()
