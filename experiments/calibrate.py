"""Calibration: fit model parameters to an observed cohort survival curve.

``python run.py calibrate SCENARIO.yaml --target FILE.csv`` reads the
scenario's ``calibrate`` block (:class:`experiments.scenario.Calibration`) and a
target curve (:func:`read_target`), then searches the parameters' bounds for
the values whose simulated survival curve is closest to the target.

The statistic. For every target row (period ``k``, optionally cohort and
firm or strategy), the simulated value is the share of a cohort still with
the firm ``k`` periods after acquisition, pooled over the chosen firms'
acquisition cohorts (``calibrate.cohorts: all``, or only the customers each
firm starts with, ``initial``) and over the replications, exactly as
:func:`analysis.retention.cohort_survival` computes it for the report.

The loss is the sum of squared errors of survival over the fitted rows (the
target minus its last ``holdout`` periods), each weighted by its cohort's
size (relative to the mean) with ``calibrate.weights: cohort_size``; the
reported RMSEs are unweighted. A row the model cannot compute
(a cohort it never acquired) counts as the largest possible error, 1.

Coping with simulation noise.

- Common random numbers: every candidate runs the same ``replications``
  seeds (drawn by ``SeedSequence`` from ``calibrate.seed``, like a sweep's),
  so the difference between two candidates' losses is the parameters'
  effect, not a different draw of customers. The loss becomes a
  deterministic, if slightly jagged, function of the parameters.
- Replications average the curve, which smooths that jaggedness.
- The default optimizer, SciPy's ``differential_evolution``, uses no
  gradients and compares candidates by rank within a population, so small
  steps in the loss do not trap it the way they trap gradient or
  trust-region methods. It starts from a Latin hypercube over the bounds, is
  seeded, evaluates each generation as a batch (``updating="deferred"``,
  which lets the batch run in parallel and makes the result independent of
  the number of workers), and skips the gradient-based polish at the end
  (``polish=False``), which noise would mislead. ``nelder_mead`` is the
  cheaper alternative for two or three parameters: a Latin-hypercube sample
  (a fifth of the budget) picks the start of a bounded Nelder-Mead simplex
  a tenth of the bounds wide, wide enough not to stall on the loss's small
  steps.

Periods. A target's period is whatever its source measured: the sBG
cohorts shipped in ``scenarios/targets/`` (Fader & Hardie 2007) are
*yearly*, the share of a cohort still customers after each of 12 years.
The default is one model period per target period (``calibrate.periods_per_target:
1``). With ``periods_per_target: 12`` (``scenarios/calibrate_example.yaml``,
for the yearly sBG cohorts) the model keeps
its month-long period and months are aggregated to years: target period
``k`` is compared with tenure ``12 k`` months, a target cohort ``c`` pools
the customers acquired in months ``12 c`` to ``12 c + 11``, and the horizon
is ``simulation.periods // 12`` target periods (a target row beyond it is
refused, naming the file, line and column). Nothing in a target file says
how long its period is, so a yearly target fitted one model period per
year to a scenario meant in months is not detected: say which in the block.

Plausibility (:mod:`experiments.bounds`). Every calibratable parameter has a
plausible range (per month, the model's period) with its reason. A block's
search bounds are its own; where they reach beyond the plausible range the
command says so in one line, and a fitted value that ends on a plausible
bound (within 1% of the range), outside the range, or on a search bound is
flagged in the printed table, ``calibration.md`` and ``calibrated.yaml``.

Outputs (:func:`write_outputs`, each file written atomically):
``calibration.csv``, ``calibration.png``, ``calibration.md``,
``evaluations.csv`` and ``calibrated.yaml``.
"""

import concurrent.futures
import copy
import csv
import difflib
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError
from scipy import optimize
from scipy.stats import qmc
from tqdm import tqdm

from analysis.retention import cohort_survival
from sim.config import Config
from store.files import claim, write_atomic, write_text

from . import bounds as plausibility
from .runner import run_cohorts
from .scenario import (
    CALIBRATION_POPULATION,
    CONFIG_SECTIONS,
    Calibration,
    Problem,
    Scenario,
    ScenarioError,
    assign,
    read_yaml,
    split_path,
)
from .sweep import process_pool, run_seed

TARGET_COLUMNS = ("period", "survival")
"""Columns every target file has."""

OPTIONAL_COLUMNS = ("cohort", "firm", "strategy", "customers")
"""Columns a target file may add: the acquisition period, whose customers, the cohort's size."""

MISSING_ERROR = 1.0
"""Squared error counted for a target row the simulation cannot compute."""

SIGNIFICANT_DIGITS = 6
"""Fitted values are rounded to this many significant digits before they are reported."""


# ---------------------------------------------------------------------------
# The target curve
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """An observed survival curve, checked against the scenario.

    Attributes:
        frame: one row per target point: ``group`` (firm or strategy name, or
            ``"all"``), ``cohort`` (0 without a cohort column), ``period``,
            ``survival``, ``line`` (its line in the file), ``in_sample`` and
            ``weight`` (1, or the curve's size over the mean size of the
            fitted rows with ``calibrate.weights: cohort_size``).
        source: the file as the user named it.
        group: ``"firm"``, ``"strategy"`` or None: which column says whose customers.
        by_cohort: True if the file gives curves per acquisition cohort.
    """

    frame: pd.DataFrame
    source: str
    group: str | None
    by_cohort: bool


def _integer(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


MAX_TARGET_BYTES = 10_000_000
"""Largest target curve read, in bytes (checked before reading)."""


def read_target(path: str | Path, scenario: Scenario) -> Target:
    """Read and check a target survival curve (CSV).

    Columns: ``period`` (tenure in periods, 0 = acquisition), ``survival``
    (share of the cohort still active, in [0, 1], 1 at period 0), optionally
    ``cohort`` (the acquisition period) and ``firm`` or ``strategy`` (whose
    customers) and ``customers`` (the cohort's size at period 0, the same on
    every row of a curve; needed by ``calibrate.weights: cohort_size``).
    Each curve (cohort x firm or strategy) must not rise with
    the period; a period appears once per curve; ``cohort + period`` lies
    within the scenario's horizon (``simulation.periods``, in target periods:
    divided by ``calibrate.periods_per_target``). The last
    ``calibrate.holdout`` periods (by calendar period, ``cohort + period``)
    are marked out of sample.

    Raises:
        ScenarioError: every problem found, as ``FILE:LINE: column: message``.
    """
    shown = str(path)
    path = Path(path)
    if not path.exists():
        raise ScenarioError([Problem(shown, None, "", "no such file (the target curve, CSV)")])
    if path.is_dir():
        raise ScenarioError([Problem(shown, None, "", "is a directory, not a CSV file")])
    if not path.is_file():  # /dev/zero, a pipe: it could be read forever
        message = "not a regular file (a device, pipe or socket); give the target curve, CSV"
        raise ScenarioError([Problem(shown, None, "", message)])
    if path.stat().st_size > MAX_TARGET_BYTES:
        message = f"larger than {MAX_TARGET_BYTES:,} bytes; a target curve is at most that"
        raise ScenarioError([Problem(shown, None, "", message)])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise ScenarioError([Problem(shown, None, "", f"cannot read: {reason}")]) from None
    reader = csv.reader(text.splitlines())
    header = [column.strip() for column in next(reader, [])]
    allowed = [*TARGET_COLUMNS, *OPTIONAL_COLUMNS]
    problems = []
    for column in header:
        if column not in allowed:
            close = difflib.get_close_matches(column, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(allowed)}"
            problems.append(Problem(shown, 1, column or "(empty)", f"unknown column; {hint}"))
    for column in TARGET_COLUMNS:
        if column not in header:
            problems.append(
                Problem(
                    shown,
                    1,
                    column,
                    "required column is missing (the header "
                    "needs period and survival; optional: cohort, firm or "
                    "strategy)",
                )
            )
    if len(set(header)) != len(header):
        problems.append(Problem(shown, 1, "", "a column is named twice"))
    if "firm" in header and "strategy" in header:
        problems.append(Problem(shown, 1, "strategy", "give firm or strategy, not both"))
    if problems:
        raise ScenarioError(problems)

    config = scenario.points[0].config
    group = next((c for c in ("firm", "strategy") if c in header), None)
    block = scenario.calibration
    per_target = block.periods_per_target if block is not None else 1
    periods = config.simulation.periods
    horizon = periods // per_target
    limit = (
        f"(simulation.periods: {periods})"
        if per_target == 1
        else f"of {horizon} target periods (simulation.periods {periods} // "
        f"calibrate.periods_per_target {per_target})"
    )
    firms = [
        f
        for f in config.firms
        if block is None or (block.firm in (None, f.name) and block.strategy in (None, f.strategy))
    ]
    known = (
        [f.name for f in firms]
        if group == "firm"
        else list(dict.fromkeys(f.strategy for f in firms))
    )
    initial_only = block is not None and block.cohorts == "initial"
    rows = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                Problem(
                    shown, line, "", f"{len(cells)} values; the header has {len(header)} columns"
                )
            )
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        period = _integer(row["period"])
        if period is None or period < 0:
            problems.append(
                Problem(
                    shown,
                    line,
                    "period",
                    f"{row['period']!r} is not a whole number of periods >= 0",
                )
            )
        cohort = 0
        if "cohort" in row:
            cohort = _integer(row["cohort"])
            if cohort is None or not 0 <= cohort <= horizon:
                problems.append(
                    Problem(
                        shown,
                        line,
                        "cohort",
                        f"{row['cohort']!r} is not an acquisition period in 0..{horizon}",
                    )
                )
            elif initial_only and cohort != 0:
                problems.append(
                    Problem(
                        shown,
                        line,
                        "cohort",
                        f"{cohort}: the calibrate block "
                        "follows the initial customers only (cohorts: "
                        "initial), cohort 0; use cohorts: all",
                    )
                )
        if (
            period is not None
            and cohort is not None
            and 0 <= cohort <= horizon
            and cohort + period > horizon >= period
        ):
            problems.append(
                Problem(
                    shown,
                    line,
                    "period",
                    f"cohort + period = {cohort + period} is beyond the scenario's horizon {limit}",
                )
            )
        elif period is not None and period > horizon:
            problems.append(
                Problem(shown, line, "period", f"{period} is beyond the scenario's horizon {limit}")
            )
        try:
            survival = float(row["survival"])
        except ValueError:
            survival = math.nan
        if not 0.0 <= survival <= 1.0:
            problems.append(
                Problem(shown, line, "survival", f"{row['survival']!r} is not a share in [0, 1]")
            )
        who = row.get(group, "all") if group else "all"
        if group and who not in known:
            whose = (
                "the calibrate block follows"
                if len(firms) < len(config.firms)
                else "of the scenario"
            )
            problems.append(
                Problem(
                    shown,
                    line,
                    group,
                    f"{who!r} is not a {group} {whose}; {group}s: {', '.join(known)}",
                )
            )
        size = 1
        if "customers" in row:
            size = _integer(row["customers"])
            if size is None or size < 1:
                problems.append(
                    Problem(
                        shown,
                        line,
                        "customers",
                        f"{row['customers']!r} is not a number of customers (a whole number >= 1)",
                    )
                )
        rows.append(
            {
                "group": who,
                "cohort": cohort,
                "period": period,
                "survival": survival,
                "line": line,
                "size": size,
            }
        )
    if problems:
        raise ScenarioError(problems)
    if not rows:
        raise ScenarioError([Problem(shown, None, "", "no rows: give period,survival rows")])
    frame = pd.DataFrame(rows)
    problems += _curve_problems(frame, shown)
    by_size = block is not None and block.weights == "cohort_size"
    if by_size and "customers" not in header:
        problems.append(
            Problem(
                shown,
                1,
                "customers",
                "calibrate.weights is cohort_size: give each cohort's size in a customers column",
            )
        )
    holdout = scenario.calibration.holdout if scenario.calibration else 0
    calendar = frame["cohort"] + frame["period"]
    last_periods = sorted(calendar.unique())[-holdout:] if holdout else []
    frame["in_sample"] = ~calendar.isin(last_periods)
    fitted = frame[frame["in_sample"] & (frame["period"] > 0)]
    if not problems and fitted.empty:
        problems.append(
            Problem(
                shown,
                None,
                "period",
                f"holdout {holdout} leaves no period "
                "after 0 to fit; lower calibrate.holdout or give more periods",
            )
        )
    if problems:
        raise ScenarioError(problems)
    fitted_size = frame.loc[frame["in_sample"] & (frame["period"] > 0), "size"].mean()
    frame["weight"] = frame.pop("size") / fitted_size if by_size else 1.0
    frame = frame.sort_values(["group", "cohort", "period"], kind="stable", ignore_index=True)
    return Target(frame=frame, source=shown, group=group, by_cohort="cohort" in header)


def _curve_problems(frame: pd.DataFrame, shown: str) -> list[Problem]:
    """Duplicated periods, survival other than 1 at period 0, survival that rises."""
    problems = []
    for (_, _), curve in frame.groupby(["group", "cohort"], sort=False):
        first_line = {}
        for row in curve.itertuples():
            if row.period in first_line:
                problems.append(
                    Problem(
                        shown,
                        row.line,
                        "period",
                        f"period {row.period} "
                        f"given twice for this curve (also at line "
                        f"{first_line[row.period]})",
                    )
                )
            first_line.setdefault(row.period, row.line)
            if row.size != curve["size"].iloc[0]:
                problems.append(
                    Problem(
                        shown,
                        row.line,
                        "customers",
                        f"{row.size} differs "
                        f"from {curve['size'].iloc[0]} at line "
                        f"{curve['line'].iloc[0]}: a cohort has one size",
                    )
                )
            if row.period == 0 and abs(row.survival - 1.0) > 1e-9:
                problems.append(
                    Problem(
                        shown,
                        row.line,
                        "survival",
                        "must be 1 at period 0 (the whole cohort is there when acquired)",
                    )
                )
        ordered = curve.drop_duplicates("period").sort_values("period")
        previous = None
        for row in ordered.itertuples():
            if previous is not None and row.survival > previous.survival + 1e-12:
                problems.append(
                    Problem(
                        shown,
                        row.line,
                        "survival",
                        f"{row.survival:g} at "
                        f"period {row.period} is above {previous.survival:g} at "
                        f"period {previous.period} (line {previous.line}); "
                        "survival cannot rise",
                    )
                )
            previous = row
    return problems


# ---------------------------------------------------------------------------
# The simulated curve and the loss
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Whose customers the simulated curve follows and how it is grouped.

    Attributes:
        group: ``"firm"``, ``"strategy"`` or None (every selected firm pooled).
        firms: names of the firms whose customers count.
        initial_only: only the customers each firm starts with (cohort 0).
        by_cohort: a curve per acquisition cohort rather than pooled cohorts.
        periods_per_target: model periods per target period (tenure ``k``
            target periods is ``k * periods_per_target`` model periods; a
            target cohort pools that many model cohorts).
    """

    group: str | None
    firms: tuple[str, ...]
    initial_only: bool
    by_cohort: bool
    periods_per_target: int = 1


def selection_for(scenario: Scenario, target: Target) -> Selection:
    """The :class:`Selection` the calibrate block and the target's columns ask for."""
    block = scenario.calibration
    firms = scenario.points[0].config.firms
    chosen = tuple(
        f.name
        for f in firms
        if (block.firm is None or f.name == block.firm)
        and (block.strategy is None or f.strategy == block.strategy)
    )
    return Selection(
        group=target.group,
        firms=chosen,
        initial_only=block.cohorts == "initial",
        by_cohort=target.by_cohort,
        periods_per_target=block.periods_per_target,
    )


def survival_table(cohorts: Iterable[pd.DataFrame], selection: Selection) -> pd.DataFrame:
    """Pooled survival of the selected customers over runs, per group, cohort and period.

    The report's survival curves (:func:`analysis.retention.cohort_survival`)
    over the selected firms' cohorts: at tenure ``k``, the customers still
    active of every cohort observed at ``k`` (in every run and selected firm
    of a group) over those cohorts' sizes at tenure 0.

    Args:
        cohorts: each run's cohort table (:data:`experiments.runner.COHORT_COLUMNS`).
        selection: whose customers and how to group them.

    With ``selection.periods_per_target`` = ``m`` above 1, ``period`` and
    ``cohort`` are in target periods: the survival at tenure ``m k`` model
    periods of the model cohorts ``m c .. m c + m - 1`` pooled (each one
    observed at that tenure counts, as above).

    Returns:
        Columns ``group``, ``cohort`` (0 when pooled), ``period``, ``survival``
        (no row where no cohort had customers).
    """
    frame = pd.concat([run.assign(run_id=i) for i, run in enumerate(cohorts)], ignore_index=True)
    frame = frame[frame["firm"].isin(selection.firms)]
    if selection.initial_only:
        frame = frame[frame["cohort"] == 0]
    per_target = selection.periods_per_target
    frame = frame.assign(
        group=frame[selection.group] if selection.group else "all",
        target_cohort=frame["cohort"] // per_target,
    )
    keys = ["group", "target_cohort"] if selection.by_cohort else ["group"]
    pooled = cohort_survival(frame, keys=keys)
    pooled = pooled[pooled["tenure"] % per_target == 0]
    pooled = pooled.assign(
        period=pooled["tenure"] // per_target,
        cohort=pooled["target_cohort"] if selection.by_cohort else 0,
    )
    return pooled.sort_values(["group", "cohort", "period"], ignore_index=True)[
        ["group", "cohort", "period", "survival"]
    ]


def simulate(
    config: Config, seeds: Sequence[int], selection: Selection, target: pd.DataFrame
) -> np.ndarray:
    """The simulated survival at every row of ``target`` (NaN where it cannot be computed).

    Args:
        config: the candidate's configuration.
        seeds: one model seed per replication (the same for every candidate).
        selection: whose customers.
        target: rows with ``group``, ``cohort``, ``period``.
    """
    curves = survival_table((run_cohorts(config, seed) for seed in seeds), selection)
    merged = target[["group", "cohort", "period"]].merge(
        curves, on=["group", "cohort", "period"], how="left", sort=False
    )
    return merged["survival"].to_numpy(dtype=float)


def loss(simulated: np.ndarray, observed: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Sum of squared errors, each times its weight (default 1).

    A row the model cannot compute counts :data:`MISSING_ERROR`.
    """
    squared = (np.asarray(simulated) - np.asarray(observed)) ** 2
    squared = np.where(np.isnan(squared), MISSING_ERROR, squared)
    return float((squared if weights is None else squared * weights).sum())


def rmse(simulated: np.ndarray, observed: np.ndarray) -> float:
    """Root mean squared error over the rows (NaN if there are none)."""
    if len(observed) == 0:
        return math.nan
    return math.sqrt(loss(simulated, observed) / len(observed))


@dataclass(frozen=True)
class Objective:
    """The loss of one candidate: picklable, so worker processes can evaluate it.

    Attributes:
        raw_config: the scenario's model sections as written (before presets).
        locs: where each fitted parameter goes in ``raw_config``.
        seeds: the replications' seeds (common random numbers).
        selection: whose customers.
        target: the fitted rows (``group``, ``cohort``, ``period``, ``survival``,
            ``weight``).
    """

    raw_config: dict
    locs: tuple[tuple, ...]
    seeds: tuple[int, ...]
    selection: Selection
    target: pd.DataFrame

    def config(self, values: Sequence[float]) -> Config:
        """The configuration with the parameters at ``values``."""
        return candidate_config(self.raw_config, self.locs, values)

    def __call__(self, values: Sequence[float]) -> float:
        """Run the replications at ``values`` and return the loss over the target's rows.

        Values that are each within their bounds can still break a rule that
        ties fields together (``trust_break_rate >= trust_build_rate``): such
        a candidate is not run and gets the worst loss, every row missing.
        """
        try:
            config = self.config(values)
        except ValidationError:
            return MISSING_ERROR * float(self.target["weight"].sum())
        simulated = simulate(config, self.seeds, self.selection, self.target)
        return loss(simulated, self.target["survival"].to_numpy(), self.target["weight"].to_numpy())


def candidate_config(raw_config: dict, locs: Sequence[tuple], values: Sequence[float]) -> Config:
    """The scenario's configuration with each parameter set, presets refilled, validated."""
    raw = copy.deepcopy(raw_config)
    for loc, value in zip(locs, values, strict=True):
        assign(raw, loc, float(value))
    return Config.model_validate(raw)


def replication_seeds(seed: int, replications: int) -> tuple[int, ...]:
    """The seeds every candidate runs: ``SeedSequence`` from ``seed``, one per replication."""
    return tuple(run_seed(seed, "calibrate", r) for r in range(replications))


# ---------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """The result of a calibration.

    Attributes:
        parameters: dotted path -> fitted value (rounded to
            :data:`SIGNIFICANT_DIGITS`; the curve below is simulated at these).
        bounds: dotted path -> (low, high).
        table: one row per target row: ``group``, ``cohort``, ``period``,
            ``observed``, ``simulated``, ``error`` (simulated - observed),
            ``uncalibrated`` (the scenario as written, same seeds) and
            ``sample`` (``in_sample`` or ``holdout``).
        evaluations: every candidate in the order evaluated: one column per
            parameter and ``loss``.
        method: the optimizer.
        seeds: the replications' seeds.
        seconds: wall time of the search.
        message: the optimizer's stopping message.
        flags: dotted path -> what is wrong with its fitted value
            (:func:`experiments.bounds.judge`: outside or on its plausible range,
            on a search bound); empty lists for values that are fine.
        notes: one line per parameter whose search bounds reach beyond its
            plausible range (:func:`experiments.bounds.search_note`).
    """

    parameters: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    table: pd.DataFrame
    evaluations: pd.DataFrame
    method: str
    seeds: tuple[int, ...]
    seconds: float
    message: str
    flags: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per flagged fitted value (empty if every value is plausible)."""
        lines = []
        for path, flags in self.flags.items():
            if flags:
                entry = plausibility.plausible(path)
                why = f". Plausible {entry.text()}: {entry.reason}" if entry else ""
                lines.append(f"{path} = {self.parameters[path]:g}: {'; '.join(flags)}{why}")
        return lines

    def rmse(self, sample: str, column: str = "simulated") -> float:
        """RMSE of ``column`` against the target over ``in_sample`` or ``holdout`` rows."""
        rows = self.table[(self.table["sample"] == sample) & (self.table["period"] > 0)]
        return rmse(rows[column].to_numpy(), rows["observed"].to_numpy())


class Evaluator:
    """Evaluates batches of candidates (in worker processes if asked) and records them.

    The record keeps the order in which candidates were given, whatever order
    workers finish in, so the history and the fit do not depend on workers.
    """

    def __init__(self, objective: Objective, workers: int = 1, bar: tqdm | None = None):
        self.objective = objective
        self.workers = workers
        self.history: list[tuple[tuple[float, ...], float]] = []
        self.bar = bar
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self):
        if self.workers > 1:
            self._pool = process_pool(self.workers, "experiments.calibrate")
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)
        return False

    def map(self, function: Callable, candidates: Iterable) -> list[float]:
        """Losses of ``candidates`` (``function`` is the objective; SciPy passes it)."""
        candidates = [tuple(float(v) for v in c) for c in candidates]
        if self._pool is None:
            losses = [function(c) for c in candidates]
        else:
            losses = list(self._pool.map(function, candidates))
        self.history.extend(zip(candidates, losses, strict=True))
        if self.bar is not None:
            self.bar.update(len(candidates))
            self.bar.set_postfix(best=f"{min(loss for _, loss in self.history):.4g}")
        return losses

    def one(self, candidate) -> float:
        """The loss of one candidate (for optimizers that ask one at a time)."""
        return self.map(self.objective, [candidate])[0]


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _search(
    block: Calibration, evaluator: Evaluator, bounds: list[tuple[float, float]], seed: int
) -> tuple[np.ndarray, str]:
    """Run the optimizer within ``max_evaluations``; return the best point and why it stopped."""
    dimensions = len(bounds)
    budget = block.max_evaluations
    if block.method == "differential_evolution":
        population = CALIBRATION_POPULATION * dimensions
        generations = max(budget // population - 1, 0)
        result = optimize.differential_evolution(
            evaluator.objective,
            bounds,
            popsize=CALIBRATION_POPULATION,
            maxiter=generations,
            init="latinhypercube",
            polish=False,
            seed=seed,
            updating="deferred",
            workers=evaluator.map,
            tol=1e-3,
        )
        return result.x, str(result.message)
    # nelder_mead: the best of a Latin hypercube sample starts a bounded simplex
    sample_size = max(2 * dimensions, budget // 5)
    low, high = np.array(bounds).T
    unit = qmc.LatinHypercube(d=dimensions, seed=seed).random(sample_size)
    starts = qmc.scale(unit, low, high)
    losses = evaluator.map(evaluator.objective, starts)
    start = starts[int(np.argmin(losses))]
    # a simplex a tenth of the box wide: SciPy's default (5% of the start's values) is
    # small enough for the steps of a simulated loss to stall it at once
    step = 0.1 * (high - low)
    simplex = [start] + [
        start
        + np.where(np.arange(dimensions) == i, np.where(start + step <= high, step, -step), 0.0)
        for i in range(dimensions)
    ]
    remaining = max(budget - sample_size, 1)
    result = optimize.minimize(
        evaluator.one,
        start,
        method="Nelder-Mead",
        bounds=bounds,
        options={
            "maxfev": remaining,
            "xatol": 1e-4,
            "fatol": 1e-9,
            "initial_simplex": np.array(simplex),
        },
    )
    best = min(evaluator.history, key=lambda item: item[1])[0]
    return np.array(best), str(result.message)


def calibrate(
    scenario: Scenario, target: Target, *, workers: int = 1, progress: bool = False
) -> Fit:
    """Fit the ``calibrate`` block's parameters to ``target``.

    Args:
        scenario: a scenario with a ``calibrate`` block (no sweep).
        target: the observed curve (:func:`read_target`).
        workers: processes evaluating candidates in parallel; the fit is the
            same for any number.
        progress: show a progress bar of the evaluations (and the best loss) on stderr.

    Returns:
        The :class:`Fit`.
    """
    block = scenario.calibration
    document = read_yaml(scenario.source, str(scenario.source))
    raw_config = {k: v for k, v in document.data.items() if k in CONFIG_SECTIONS}
    paths = list(block.parameters)
    locs = tuple(split_path(path, raw_config)[0] for path in paths)
    seed = block.seed if block.seed is not None else scenario.points[0].config.simulation.seed
    seeds = replication_seeds(seed, block.replications)
    selection = selection_for(scenario, target)
    rows = target.frame
    fitted = rows[rows["in_sample"] & (rows["period"] > 0)].reset_index(drop=True)
    objective = Objective(raw_config, locs, seeds, selection, fitted)
    bounds = [tuple(block.parameters[path]) for path in paths]
    clock = time.perf_counter()
    bar = tqdm(
        total=block.max_evaluations,
        unit="candidate",
        desc=scenario.name,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with bar, Evaluator(objective, workers, bar) as evaluator:
        best, message = _search(block, evaluator, bounds, seed)
    seconds = time.perf_counter() - clock
    values = [_round(v) for v in best]
    simulated = simulate(candidate_config(raw_config, locs, values), seeds, selection, rows)
    original = simulate(scenario.points[0].config, seeds, selection, rows)
    table = pd.DataFrame(
        {
            "group": rows["group"],
            "cohort": rows["cohort"],
            "period": rows["period"],
            "observed": rows["survival"],
            "simulated": simulated,
            "error": simulated - rows["survival"].to_numpy(),
            "uncalibrated": original,
            "sample": np.where(rows["in_sample"], "in_sample", "holdout"),
        }
    )
    history = pd.DataFrame(
        [[*c, value] for c, value in evaluator.history], columns=[*paths, "loss"]
    )
    return Fit(
        parameters=dict(zip(paths, values, strict=True)),
        bounds=dict(zip(paths, bounds, strict=True)),
        table=table,
        evaluations=history,
        method=block.method,
        seeds=seeds,
        seconds=seconds,
        message=message,
        flags={
            path: plausibility.judge(path, value, tuple(bound))
            for path, value, bound in zip(paths, values, bounds, strict=True)
        },
        notes=search_notes(block),
    )


def search_notes(block: Calibration) -> list[str]:
    """One line per parameter whose search bounds reach beyond its plausible range."""
    notes = (
        plausibility.search_note(path, tuple(bound)) for path, bound in block.parameters.items()
    )
    return [note for note in notes if note is not None]


def value_at(config: Config, path: str) -> float:
    """The value at a dotted path (``firms.0.quality``: list elements by index) in a config."""
    node = config
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, tuple | list) else getattr(node, part)
    return node


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


def calibrated_yaml(scenario: Scenario, fit: Fit, target: Target) -> str:
    """The scenario file with the fitted values written in and the calibrate block removed."""
    document = read_yaml(scenario.source, str(scenario.source))
    data = copy.deepcopy(document.data)
    data.pop("calibrate", None)
    data["name"] = f"{scenario.name}_calibrated"
    for path, value in fit.parameters.items():
        assign(data, split_path(path, data)[0], value)
    fitted = "".join(f"#   {path}: {value:g}\n" for path, value in fit.parameters.items())
    header = (
        f"# Calibrated from {scenario.source} against {target.source}\n"
        f"# ({fit.method}, {len(fit.evaluations)} evaluations of "
        f"{len(fit.seeds)} replications each); fitted values:\n{fitted}"
        f"# in-sample RMSE {fit.rmse('in_sample'):.4f}, out-of-sample RMSE "
        f"{_figure(fit.rmse('holdout'))}\n"
    )
    header += "".join(f"# WARNING: {line}\n" for line in fit.warnings())
    header += "".join(f"# note: {line}\n" for line in fit.notes)
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _figure(value: float) -> str:
    return "n/a (no holdout)" if math.isnan(value) else f"{value:.4f}"


def summary_markdown(scenario: Scenario, fit: Fit, target: Target) -> str:
    """The fit in Markdown: fitted values, errors in and out of sample, the search."""
    block = scenario.calibration
    lines = [
        f"# Calibration of {scenario.name}",
        "",
        f"Target `{target.source}` ({len(fit.table)} points, last {block.holdout} "
        f"periods held out); scenario `{scenario.source}`.",
        "",
        "| parameter | fitted | low | high | plausible | check | uncalibrated |",
        "|---|---|---|---|---|---|---|",
    ]
    config = scenario.points[0].config
    for path, value in fit.parameters.items():
        low, high = fit.bounds[path]
        original = value_at(config, path)
        entry = plausibility.plausible(path)
        shown = entry.text() if entry is not None else "none documented"
        check = "; ".join(fit.flags.get(path, [])) or "ok"
        lines.append(
            f"| `{path}` | {value:g} | {low:g} | {high:g} | {shown} | {check} | {original:g} |"
        )
    lines += [
        "",
        f"Plausible: the range experiments/bounds.py documents for each parameter (per "
        f"month, the model's period); a fitted value on it (within "
        f"{plausibility.EDGE:.0%} of the range), outside it or on a search bound is "
        f"flagged.",
    ]
    flagged = [f"- **Warning**: {line}" for line in fit.warnings()] + [
        f"- Note: {line}" for line in fit.notes
    ]
    lines += ["", *flagged] if flagged else []
    lines += [
        "",
        "| RMSE of survival | in sample | out of sample (holdout) |",
        "|---|---|---|",
        f"| calibrated | {fit.rmse('in_sample'):.4f} | {_figure(fit.rmse('holdout'))} |",
        f"| uncalibrated scenario | {fit.rmse('in_sample', 'uncalibrated'):.4f} | "
        f"{_figure(fit.rmse('holdout', 'uncalibrated'))} |",
        "",
        f"Method `{fit.method}`, {len(fit.evaluations)} evaluations of "
        f"{len(fit.seeds)} replications each (the same seeds for every candidate: "
        f"{', '.join(str(s) for s in fit.seeds)}), {fit.seconds:.1f} s; "
        f"{fit.message.rstrip('.')}.",
        "",
        "## Error per period",
        "",
        "| curve | period | observed | simulated | error | sample |",
        "|---|---|---|---|---|---|",
    ]
    for row in fit.table.itertuples():
        curve = _curve_label(row.group, row.cohort, target)
        lines.append(
            f"| {curve} | {row.period} | {row.observed:.4f} | {row.simulated:.4f} | "
            f"{row.error:+.4f} | {row.sample} |"
        )
    return "\n".join(lines) + "\n"


def _curve_label(group: str, cohort: int, target: Target) -> str:
    parts = [f"{target.group} {group}"] if target.group else []
    if target.by_cohort:
        parts.append(f"cohort {cohort}")
    return ", ".join(parts) or "all"


def write_outputs(folder: Path, scenario: Scenario, fit: Fit, target: Target) -> list[Path]:
    """Write the fit into ``folder`` (each file atomically); return the files written."""
    import matplotlib.pyplot as plt

    from analysis.plots import calibration_fit

    folder = claim(Path(folder))  # refuses a folder crm-sim did not make (OutputError)
    table = fit.table.copy()
    if target.group is None:
        table = table.drop(columns="group")
    else:
        table = table.rename(columns={"group": target.group})
    if not target.by_cohort:
        table = table.drop(columns="cohort")
    written = {
        name: folder / name
        for name in (
            "calibration.csv",
            "evaluations.csv",
            "calibration.md",
            "calibrated.yaml",
            "calibration.png",
        )
    }
    write_atomic(written["calibration.csv"], lambda p: table.to_csv(p, index=False))
    write_atomic(written["evaluations.csv"], lambda p: fit.evaluations.to_csv(p, index=False))
    write_text(written["calibration.md"], summary_markdown(scenario, fit, target))
    write_text(written["calibrated.yaml"], calibrated_yaml(scenario, fit, target))
    curves = fit.table.assign(
        curve=[
            _curve_label(g, c, target)
            for g, c in zip(fit.table["group"], fit.table["cohort"], strict=True)
        ]
    )
    figure = calibration_fit(
        curves, title=f"Calibration of {scenario.name}: observed vs simulated survival"
    )
    try:
        write_atomic(written["calibration.png"], lambda p: figure.savefig(p, format="png", dpi=110))
    finally:
        plt.close(figure)
    return list(written.values())
