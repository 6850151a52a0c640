"""A scenario's results folder: what running it writes besides the runs' parts.

Starting a folder (:func:`start_folder`): the checks that need the scenario
(:func:`check_resume`), clearing and preparing it (:func:`prepare`, with the
scenario's :func:`fingerprint`, ``scenario.resolved.yaml`` and a copy of the
file) and a manifest marked running. Finishing it (:func:`finish_folder`):
the combined tables and the final manifest; ``summary.md``
(:func:`summary_markdown`) follows. The folder itself, its files and tables
are :mod:`store.results`; this module turns a
:class:`experiments.scenario.Scenario` into what the store needs.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from analysis.tables import markdown_table
from store import results as folder_store
from store.parts import PartStore

from .scenario import Scenario


def fingerprint(scenario: Scenario) -> str:
    """A digest of everything that decides the runs' results (not where they execute)."""
    document = {
        "name": scenario.name,
        "points": [
            {"values": p.values, "config": p.config.model_dump(mode="json")}
            for p in scenario.points
        ],
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_resume(folder: Path, scenario: Scenario) -> int:
    """For ``--resume``: raise :class:`store.results.OutputError` if the parts are another's.

    Returns:
        How many finished runs the folder holds.
    """
    return folder_store.check_resume(folder, fingerprint(scenario))


def prepare(folder: Path, scenario: Scenario, *, resume: bool) -> PartStore:
    """Create the folder and its parts store; without ``resume`` clear earlier results.

    Writes ``scenario.resolved.yaml`` and the copy ``scenario.yaml`` at once, so
    that an interrupted folder says what it holds.
    """
    return folder_store.prepare(
        folder,
        fingerprint(scenario),
        resume=resume,
        files={
            "scenario.resolved.yaml": resolved_yaml(scenario),
            "scenario.yaml": scenario.source.read_text(encoding="utf-8"),
        },
    )


def resolved_yaml(scenario: Scenario) -> str:
    """Every point's whole configuration (``Config.model_dump()``), as YAML."""
    document = {
        "name": scenario.name,
        "description": scenario.description,
        "source": str(scenario.source),
        "execution": scenario.execution.model_dump(mode="json"),
        "sweep_paths": list(scenario.sweep_paths),
        "report": scenario.report.model_dump(mode="json"),
        "points": [
            {"point": p.index, "values": p.values, "config": p.config.model_dump(mode="json")}
            for p in scenario.points
        ],
    }
    header = (
        "# The scenario with every default filled in, written by run.py.\n"
        "# points[i].config is the whole configuration of sweep point i:\n"
        "# sim.config.Config.model_validate(points[i].config) rebuilds it.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def manifest(
    scenario: Scenario,
    specs,
    *,
    report=None,
    started: str,
    finished: str | None,
    engine: str,
    workers: int,
    command: list[str],
) -> dict:
    """The provenance record of a results folder (``manifest.json``)."""
    failures = [] if report is None else report.failures
    runs = {
        "total": len(specs),
        "ok": None if report is None else report.ok,
        "failed": len(failures),
        "resumed": None if report is None else report.resumed,
    }
    status = "running" if report is None else ("failed" if failures else "complete")
    return {
        "scenario": scenario.name,
        "source": str(scenario.source),
        "fingerprint": fingerprint(scenario),
        "status": status,
        **folder_store.environment(),
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


def now() -> str:
    """The current UTC time as the manifest records it (ISO 8601, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def start_folder(
    folder: Path, scenario: Scenario, specs, executor, argv, started: str, *, resume: bool = False
):
    """Prepare the results ``folder`` for ``specs`` and mark it running in its manifest.

    The first half of running a scenario into a folder, for ``run`` and for
    each folder of ``facts``. Returns ``(store, record)``, what
    :func:`finish_folder` needs; raises ``OSError`` if the folder cannot be
    written.
    """
    store = prepare(folder, scenario, resume=resume)
    record = dict(
        scenario=scenario,
        specs=specs,
        started=started,
        engine=executor.name,
        workers=executor.workers,
        command=["run.py", *argv],
    )
    folder_store.write_manifest(folder, manifest(finished=None, **record))
    return store, record


def finish_folder(folder: Path, store: PartStore, record: dict, report):
    """Write the tables of a finished sweep and its final manifest; return ``(runs, manifest)``."""
    runs = folder_store.write_tables(folder, store, [spec.run_id for spec in record["specs"]])
    final = manifest(report=report, finished=now(), **record)
    folder_store.write_manifest(folder, final)
    return runs, final


def summary_markdown(scenario: Scenario, table: pd.DataFrame | None, report, record: dict) -> str:
    """The short ``summary.md``: what ran, the main table, failures."""
    lines = [f"# {scenario.name}", ""]
    if scenario.description:
        lines += [scenario.description.strip(), ""]
    points = len(scenario.points)
    lines += [
        f"- scenario file: `{scenario.source}`",
        f"- sweep: {points} point{'s' if points != 1 else ''}"
        + (
            f" over {', '.join(f'`{p}`' for p in scenario.sweep_paths)}"
            if scenario.sweep_paths
            else ""
        ),
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
    lines += [
        "Files: runs.parquet, timeseries.parquet, cohorts.parquet, customers.parquet "
        "(replication 0), policies.parquet (if firms run policies), "
        "scenario.resolved.yaml, manifest.json, report.md/report.html "
        '(see docs/analysis.md, sections "Results folder" and "Reading the report").',
        "",
    ]
    return "\n".join(lines)
