"""The model as a function from parameters to outcomes, for Python tools (EMA Workbench, SALib).

:func:`outcomes` runs a scenario file, a :class:`~experiments.scenario.Scenario`,
a :class:`sim.config.Config` or just a dict of parameters (dotted paths into
the configuration, as a scenario's sweep names them) and returns one tidy
table: a row per run and firm, the columns of ``runs.parquet``. The runs are
the ones ``run.py run`` makes of the same scenario (the same seeds, the same
:func:`experiments.runner.run_once`, the same measures of
:mod:`analysis.metrics`), run one after another in this process, and nothing
is written to disk. docs/api.md shows it under EMA Workbench and SALib.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.config import Config
from sim.paths import assign, split_path

from .runner import run_once
from .scenario import Execution, Scenario, load_scenario
from .schema import Point
from .sweep import part_frames, plan_runs


def outcomes(
    scenario: str | os.PathLike | Scenario | Config | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    replications: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Run a scenario (or the defaults) with some parameters set; one row per run and firm.

    Args:
        scenario: a scenario file's path, a loaded scenario, a configuration,
            or None for :func:`sim.config.default_config`'s.
        parameters: dotted path -> value (``{"market.setting": "ecommerce",
            "relationship.referral_rate": 0.05, "firms.0.price": 1.1}``), set
            before validation as a scenario's sweep sets them, so that a
            setting or a strategy refills its preset. On a :class:`Config`
            they are set on its values as they are (no preset is refilled).
        replications: runs per sweep point (``simulation.replications``).
        seed: the scenario seed (``simulation.seed``) the run seeds derive from.

    Returns:
        The rows ``run.py run`` writes to ``runs.parquet`` for the same
        scenario: ``run_id``, ``point``, ``replication``, ``seed``, ``firm``,
        ``strategy``, ``setting``, the swept values, then the outcomes of
        :data:`analysis.metrics.OUTCOME_COLUMNS` (``retention_rate``,
        ``annual_retention``, ``customer_equity``, ``clv_mean``, ...).

    Raises:
        experiments.schema.ScenarioError: a scenario file, or parameters, that
            cannot be used (every problem, one line each).
        TypeError: a parameter path that names no field, or a scenario of
            another type.
        pydantic.ValidationError: a parameter value out of range (on a
            configuration or the defaults).
    """
    settings = dict(parameters or {})
    if replications is not None:
        settings["simulation.replications"] = replications
    if seed is not None:
        settings["simulation.seed"] = seed
    if isinstance(scenario, Scenario):
        scenario = scenario if not settings else load_scenario(scenario.source, settings)
    elif isinstance(scenario, str | os.PathLike):
        scenario = load_scenario(scenario, settings)
    elif scenario is None or isinstance(scenario, Config):
        scenario = _one_point(scenario, settings)
    else:
        raise TypeError(
            "outcomes() takes a scenario file's path, a Scenario, a sim.config.Config "
            f"or None, not a {type(scenario).__name__}"
        )
    frames = [
        part_frames(spec, run_once(spec.config, spec.seed))[0] for spec in plan_runs(scenario)
    ]
    return pd.concat(frames, ignore_index=True)


def _one_point(config: Config | None, settings: Mapping[str, Any]) -> Scenario:
    """A scenario without a sweep: ``config`` (or the defaults) with ``settings`` set."""
    raw = {} if config is None else config.model_dump()
    for path, value in settings.items():
        loc, message = split_path(path, raw)
        if loc is None:
            raise TypeError(f"outcomes(): parameter {path!r}: {message}")
        assign(raw, loc, value)
    point = Point(0, {}, Config.model_validate(raw))
    return Scenario(
        name="outcomes",
        description="",
        source=Path("."),
        points=(point,),
        sweep_paths=(),
        execution=Execution(),
    )
