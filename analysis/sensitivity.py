"""Global sensitivity analysis: Morris screening and Sobol indices over declared ranges.

A scenario's ``sensitivity:`` block names model parameters (dotted config
paths, as sweeps use them) with the range each may take, and the methods::

    sensitivity:
      methods: [morris, sobol]
      parameters:
        market.search_probability: [0.05, 0.30]        # absolute bounds [low, high]
        market.switching_cost_scale: {scale: [0.5, 1.5]}  # x the value at each sweep point
      morris: {trajectories: 10, levels: 4}
      sobol: {base_samples: 32, second_order: false}
      seed: 1                                           # the sampling seed
      outputs: [retention_rate, customer_equity]        # columns of runs.parquet

How it runs. SALib draws each method's sample matrix from ``seed`` (Morris
trajectories; Saltelli's scheme for Sobol). Every row becomes a *cell*: the
scenario's sweep point (e.g. ``market.setting``) with the row's parameter
values set, validated like any sweep point. The cells are ordinary sweep
points, so the sweep machinery runs them (workers, Dask, ``--resume``,
parts); ``simulation.replications`` runs each cell that many times. The
sampled parameters are left out of the run seeds: every cell of one sweep
point uses the same seeds (common random numbers), so the differences between
cells are the parameters' effects, not sampling noise.

The indices come from the stored run table: each output is averaged over
replications per cell, then handed to SALib's ``morris.analyze`` (``mu_star``:
mean absolute elementary effect, in output units per a step of
``levels / (2 (levels - 1))`` of the parameter's range; ``sigma``: spread of
the effects, interactions and non-linearity) or ``sobol.analyze`` (``S1``:
share of the output's variance due to the parameter alone; ``ST``: including
all its interactions), per sweep point (setting), output and firm, and for the
market as a whole (firms' outputs summed for money and counts, averaged for
rates: :data:`MARKET_SUMS`). Confidence intervals are SALib's bootstrap
(``resamples``, seeded), at 95%.

This module defines the block's schema (:class:`SensitivityBlock`), expands it
into cells (:func:`expand`, called by :func:`analysis.scenario.load_scenario`),
computes the indices (:func:`indices`) and writes ``sensitivity.csv``,
``sensitivity.parquet``, ``sensitivity.md`` and ``figures/sensitivity_*.png``
(:func:`write_results`).
"""

import copy
import difflib
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.config import Config, StrictModel
from store.files import write_atomic, write_parquet, write_text

from .metrics import OUTCOME_COLUMNS

METHODS = ("morris", "sobol")
"""The methods, in the order their cells and tables come."""

CONFIDENCE = 0.95
"""Level of the bootstrap confidence intervals of the indices."""

MARKET = "(market)"
"""The ``firm`` label of the market-wide rows (all firms together)."""

MARKET_SUMS = frozenset({
    "customer_equity", "revenue", "cost", "profit", "referral_value", "acquisitions",
    "referral_acquisitions", "defections", "customers_end", "value_equity", "brand_equity",
    "relationship_equity",
})
"""Outputs that add up over firms (money, counts); the market value of the others is the
unweighted mean over firms (e.g. ``retention_rate``: the mean firm's retention)."""

NUMERIC_OUTPUTS = tuple(c for c in OUTCOME_COLUMNS)
"""Outputs the block may name: the outcome columns of ``runs.parquet``."""

INDEX_COLUMNS = {
    "morris": ("mu_star", "mu_star_conf", "mu", "sigma"),
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
}
"""The index columns each method fills; ``rank`` orders parameters by the first one."""

MAX_PARAMETERS = 50


class SensitivityError(Exception):
    """The indices cannot be computed from the runs (some runs are missing)."""


# ---------------------------------------------------------------------------
# The block in the scenario file
# ---------------------------------------------------------------------------


class MorrisOptions(StrictModel):
    """Morris screening: ``trajectories`` one-at-a-time paths over a grid of ``levels``.

    Cells per sweep point: ``trajectories x (parameters + 1)``.
    """

    trajectories: Annotated[int, Field(ge=2, le=10_000)] = 10
    levels: Annotated[int, Field(ge=2, le=100)] = 4

    @field_validator("levels")
    @classmethod
    def _even(cls, levels):
        if levels % 2:
            raise ValueError(f"{levels} levels; use an even number (2, 4, 6, ...) so that "
                             "every level is reached by the same step")
        return levels


class SobolOptions(StrictModel):
    """Sobol indices from Saltelli's sample of ``base_samples`` rows (a power of 2).

    Cells per sweep point: ``base_samples x (parameters + 2)``, or
    ``base_samples x (2 parameters + 2)`` with ``second_order``.
    """

    base_samples: Annotated[int, Field(ge=2, le=2 ** 20)] = 64
    second_order: bool = False

    @field_validator("base_samples")
    @classmethod
    def _power_of_two(cls, size):
        if size & (size - 1):
            below = 1 << (size.bit_length() - 1)
            raise ValueError(f"{size} is not a power of 2 (the Sobol sequence needs one); "
                             f"use {below} or {below * 2}")
        return size


class SensitivityBlock(StrictModel):
    """The ``sensitivity:`` section of a scenario file (see the module docstring)."""

    methods: tuple[Literal["morris", "sobol"], ...] = ("morris",)
    parameters: dict[str, Any]
    morris: MorrisOptions = MorrisOptions()
    sobol: SobolOptions = SobolOptions()
    seed: Annotated[int, Field(ge=0)] = 0
    outputs: tuple[str, ...] = ("retention_rate", "customer_equity")
    resamples: Annotated[int, Field(ge=10, le=100_000)] = Field(
        1000, description="bootstrap resamples of the confidence intervals")

    @field_validator("methods", mode="before")
    @classmethod
    def _one_or_more(cls, methods):
        return [methods] if isinstance(methods, str) else methods

    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, methods):
        if not methods:
            raise ValueError(f"give at least one method: {', '.join(METHODS)}")
        if len(set(methods)) != len(methods):
            raise ValueError("a method is given twice; give each once")
        return tuple(m for m in METHODS if m in methods)

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, outputs):
        if not outputs:
            raise ValueError("give at least one output, e.g. retention_rate, customer_equity")
        for name in outputs:
            if name not in NUMERIC_OUTPUTS:
                close = difflib.get_close_matches(name, NUMERIC_OUTPUTS, n=1, cutoff=0.6)
                hint = (f"did you mean {close[0]!r}?" if close
                        else f"valid outputs: {', '.join(NUMERIC_OUTPUTS)}")
                raise ValueError(f"unknown output {name!r}; {hint}")
        if len(set(outputs)) != len(outputs):
            raise ValueError("an output is given twice; give each once")
        return outputs

    @model_validator(mode="after")
    def _some_parameters(self):
        if not self.parameters:
            raise ValueError("parameters: give at least one dotted path with [low, high] bounds")
        if len(self.parameters) > MAX_PARAMETERS:
            raise ValueError(f"parameters: {len(self.parameters)} given; at most "
                             f"{MAX_PARAMETERS}")
        return self


# ---------------------------------------------------------------------------
# The design: sample matrices and the cells they become
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One varied parameter.

    Attributes:
        path: its dotted config path.
        loc: the path as keys and list indices.
        low, high: the sampled range (absolute values, or factors with ``relative``).
        relative: the sampled value multiplies the parameter's value at each sweep point.
    """

    path: str
    loc: tuple[str | int, ...]
    low: float
    high: float
    relative: bool


@dataclass(frozen=True)
class Design:
    """The sensitivity design of a scenario: what was sampled and where each row ran.

    Cells are ordered by sweep point, then method (:data:`METHODS` order), then
    sample row: the cell of ``(base, method, row)`` is scenario point
    :meth:`point_index`.

    Attributes:
        block: the ``sensitivity:`` section.
        parameters: the varied parameters, in file order.
        samples: method -> sample matrix (rows x parameters), in the sampled
            space (absolute values, or factors for relative parameters).
        base: the swept values of each sweep point the design is repeated at.
        replications: runs per cell at each of those sweep points.
    """

    block: SensitivityBlock
    parameters: tuple[Parameter, ...]
    samples: dict[str, np.ndarray]
    base: tuple[dict[str, Any], ...]
    replications: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The varied parameters' dotted paths."""
        return tuple(p.path for p in self.parameters)

    @property
    def problem(self) -> dict:
        """The SALib problem definition."""
        return {"num_vars": len(self.parameters), "names": list(self.names),
                "bounds": [[p.low, p.high] for p in self.parameters]}

    @property
    def cells_per_point(self) -> int:
        """Cells (sample rows of every method) at each sweep point."""
        return sum(len(sample) for sample in self.samples.values())

    def point_index(self, base: int, method: str, row: int) -> int:
        """The scenario point that runs sample ``row`` of ``method`` at sweep point ``base``."""
        offset = 0
        for name, sample in self.samples.items():
            if name == method:
                return base * self.cells_per_point + offset + row
            offset += len(sample)
        raise KeyError(method)


def cell_count(block: SensitivityBlock, parameters: int) -> int:
    """Cells per sweep point: the rows of every method's sample (see the options' docstrings)."""
    count = 0
    if "morris" in block.methods:
        count += block.morris.trajectories * (parameters + 1)
    if "sobol" in block.methods:
        per_row = 2 * parameters + 2 if block.sobol.second_order else parameters + 2
        count += block.sobol.base_samples * per_row
    return count


def sample(block: SensitivityBlock, parameters: tuple[Parameter, ...]) -> dict[str, np.ndarray]:
    """Each method's sample matrix, drawn by SALib from ``block.seed`` (same seed, same rows)."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": len(parameters), "names": [p.path for p in parameters],
               "bounds": [[p.low, p.high] for p in parameters]}
    samples = {}
    if "morris" in block.methods:
        samples["morris"] = morris_sample.sample(
            problem, block.morris.trajectories, num_levels=block.morris.levels,
            seed=block.seed)
    if "sobol" in block.methods:
        samples["sobol"] = sobol_sample.sample(
            problem, block.sobol.base_samples, calc_second_order=block.sobol.second_order,
            seed=block.seed)
    return samples


def _value_at(config: Config, loc) -> Any:
    node = config
    for part in loc:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    return node


def _limits(info) -> list[tuple[str, float]]:
    """The field's constraints as ``(operator, bound)`` pairs, e.g. ``[(">=", 0), ("<=", 1)]``."""
    limits = []
    for constraint in info.metadata if info is not None else ():
        for kind, operator in ((annotated_types.Ge, ">="), (annotated_types.Gt, ">"),
                               (annotated_types.Le, "<="), (annotated_types.Lt, "<")):
            if isinstance(constraint, kind):
                limits.append((operator, float(getattr(constraint, _ATTRIBUTES[operator]))))
    return limits


_ATTRIBUTES = {">=": "ge", ">": "gt", "<=": "le", "<": "lt"}


def _inside(value: float, limits) -> bool:
    """True if ``value`` meets every ``(operator, bound)`` of :func:`_limits`."""
    tests = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}
    return all(tests[operator](float(value), bound) for operator, bound in limits)


def _parse_range(spec: Any) -> tuple[float, float, bool] | str:
    """``[low, high]`` or ``{scale: [low, high]}`` -> ``(low, high, relative)`` or a message."""
    relative = isinstance(spec, dict)
    if relative:
        if set(spec) != {"scale"}:
            return ("expected [low, high] or {scale: [low, high]} (factors of the value at "
                    f"each sweep point), got keys {', '.join(map(str, spec))}")
        spec = spec["scale"]
    if (not isinstance(spec, list) or len(spec) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec)):
        return (f"expected bounds [low, high] (two numbers) or {{scale: [low, high]}}, "
                f"got {spec!r}")
    low, high = float(spec[0]), float(spec[1])
    if not low < high:
        return f"low ({low:g}) must be below high ({high:g})"
    if relative and low < 0:
        return f"scale factors must be 0 or more, got {low:g}"
    return low, high, relative


def expand(block: SensitivityBlock, base_points, raw_config: dict, document, shown: str,
           swept_paths=()):
    """The sensitivity block -> its design and the cells, as scenario points.

    Args:
        block: the validated block.
        base_points: the scenario's sweep points (one point without a sweep).
        raw_config: the file's model sections, before validation.
        document: the parsed file, for line numbers.
        shown: the file name used in messages.
        swept_paths: paths the sweep already varies (a parameter may not be one).

    Returns:
        ``(design, points, problems)``: the design (None if there are
        problems), the cells as :class:`analysis.scenario.Point` (each with the
        varied parameters as ``common`` paths, left out of the run seeds), and
        every problem found.
    """
    # imported here: analysis.scenario imports this module for the block's schema
    from .scenario import (
        MAX_RUNS,
        Point,
        Problem,
        _bounds,
        _node_at,
        _problems_from,
        assign,
        dotted,
        split_path,
    )

    problems = []
    parameters = []
    for path, spec in block.parameters.items():
        where = ("sensitivity", "parameters", path)
        line, shown_path = document.line_of(where), dotted(where)
        loc, message = split_path(path, raw_config)
        if message is None and path in swept_paths:
            message = "also swept under 'sweep'; vary a parameter in one place only"
        if message is None:
            annotation, info = _node_at(loc, Config)
            if annotation is not float:
                kind = getattr(annotation, "__name__", str(annotation))
                message = (f"is not a number field ({kind}); only number fields with a "
                           "continuous range can be varied")
        parsed = _parse_range(spec) if message is None else message
        if isinstance(parsed, str):
            problems.append(Problem(shown, line, shown_path, parsed))
            continue
        low, high, relative = parsed
        limits, allowed = _limits(info), _bounds(info)
        ends = [(low, high)] if not relative else [
            (low * _value_at(p.config, loc), high * _value_at(p.config, loc))
            for p in base_points]
        for point, (lowest, highest) in zip(base_points, ends, strict=False):
            at = f" at sweep point {point.values}" if relative and point.values else ""
            if relative and lowest == highest:
                problems.append(Problem(shown, line, shown_path,
                                        f"the value is 0{at}, so scaling cannot move it; "
                                        "give absolute bounds [low, high]"))
                break
            outside = [v for v in (lowest, highest) if not _inside(v, limits)]
            if outside:
                problems.append(Problem(shown, line, shown_path,
                                        f"bounds reach {outside[0]:g}{at}, outside the field's "
                                        f"allowed range: {allowed}"))
                break
        parameters.append(Parameter(path, loc, low, high, relative))
    if problems:
        return None, [], problems

    parameters = tuple(parameters)
    runs = cell_count(block, len(parameters)) * sum(p.config.simulation.replications
                                                   for p in base_points)
    if runs > MAX_RUNS:
        return None, [], [Problem(shown, document.line_of(("sensitivity",)), "sensitivity",
                                  f"the design expands to {runs} runs; at most {MAX_RUNS}: "
                                  "lower the sample sizes or the replications")]
    samples = sample(block, parameters)
    design = Design(block, parameters, samples, tuple(p.values for p in base_points),
                    tuple(p.config.simulation.replications for p in base_points))
    points, seen = [], set()
    for base in base_points:
        base_raw = copy.deepcopy(raw_config)
        for path, value in base.values.items():
            loc, _ = split_path(path, raw_config)
            assign(base_raw, loc, value)
        for method, matrix in samples.items():
            for row in matrix:
                values = dict(base.values)
                cell_raw = copy.deepcopy(base_raw)
                for parameter, drawn in zip(parameters, row, strict=True):
                    value = float(drawn)
                    if parameter.relative:
                        value *= _value_at(base.config, parameter.loc)
                    values[parameter.path] = value
                    assign(cell_raw, parameter.loc, value)
                try:
                    config = Config.model_validate(cell_raw)
                except ValidationError as error:
                    for problem in _problems_from(error, document, shown):
                        if (problem.path, problem.message) in seen:
                            continue
                        seen.add((problem.path, problem.message))
                        problems.append(Problem(
                            shown, document.line_of(("sensitivity", "parameters")),
                            problem.path, f"{problem.message} (at a {method} sample point: "
                            f"{_short(values, design.names)}); narrow the bounds"))
                    continue
                points.append(Point(len(points), values, config, common=design.names))
    if problems:
        return None, [], problems
    return design, points, []


def _short(values: dict, names) -> str:
    return ", ".join(f"{name}={values[name]:.4g}" for name in names)


# ---------------------------------------------------------------------------
# The indices, from the stored runs
# ---------------------------------------------------------------------------


def cell_means(design: Design, runs: pd.DataFrame) -> pd.DataFrame:
    """Each output averaged over replications, per cell (``point``) and firm.

    The market rows (``firm`` :data:`MARKET`, ``strategy`` ``all``) first
    combine the firms of each run: the sum over firms for :data:`MARKET_SUMS`,
    the mean over firms otherwise.

    Returns:
        Columns ``point``, ``firm``, ``strategy`` and the outputs.
    """
    outputs = list(design.block.outputs)
    firms = runs[["point", "replication", "firm", "strategy", *outputs]]
    grouped = firms.groupby(["point", "replication"], sort=False)[outputs]
    market = pd.concat([grouped.sum()[[o for o in outputs if o in MARKET_SUMS]],
                        grouped.mean()[[o for o in outputs if o not in MARKET_SUMS]]], axis=1)
    market = market[outputs].reset_index()
    market.insert(2, "firm", MARKET)
    market.insert(3, "strategy", "all")
    both = pd.concat([market, firms], ignore_index=True)
    return (both.groupby(["point", "firm", "strategy"], sort=False)[outputs].mean()
            .reset_index())


def _analyze(design: Design, method: str, matrix: np.ndarray, outputs: np.ndarray) -> dict:
    """SALib's indices of one output vector (one value per sample row)."""
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    block = design.block
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "morris":
            return morris_analyze.analyze(design.problem, matrix, outputs,
                                          num_resamples=block.resamples, conf_level=CONFIDENCE,
                                          num_levels=block.morris.levels, seed=block.seed)
        if np.ptp(outputs) == 0:  # the output does not vary: its variance shares are undefined
            k = len(design.parameters)
            return {key: np.full(k, np.nan) for key in INDEX_COLUMNS["sobol"]}
        return sobol_analyze.analyze(design.problem, outputs,
                                     calc_second_order=block.sobol.second_order,
                                     num_resamples=block.resamples, conf_level=CONFIDENCE,
                                     seed=block.seed)


def indices(design: Design, runs: pd.DataFrame, base_paths=()) -> pd.DataFrame:
    """The sensitivity indices of every method, sweep point, output and firm.

    Args:
        design: the scenario's design.
        runs: ``runs.parquet`` (every run of every cell must be there: a cell
            mean over fewer replications would break the common random numbers).
        base_paths: the sweep's own paths (other than the sampled parameters);
            each becomes a column, besides ``setting``.

    Returns:
        One row per method x sweep point x output x firm x parameter, in that
        order (market rows first, parameters by ``rank``): ``method``,
        ``setting``, the other ``base_paths``, ``output``, ``firm``,
        ``strategy``, ``parameter``, ``rank`` (1 = moves the output most, by
        ``mu_star`` or ``ST``), then ``mu_star``, ``mu_star_conf``, ``mu``,
        ``sigma`` (Morris) and ``S1``, ``S1_conf``, ``ST``, ``ST_conf``
        (Sobol; with ``second_order``, extra rows ``a & b`` hold ``S2``,
        ``S2_conf``).

    Raises:
        SensitivityError: some runs are missing.
    """
    cells = design.cells_per_point
    expected = pd.Series([design.replications[p // cells]
                          for p in range(len(design.base) * cells)])
    found = (runs.groupby("point")["run_id"].nunique() if len(runs) else pd.Series())
    short = expected - found.reindex(expected.index, fill_value=0)
    if (short > 0).any():
        first = int(short[short > 0].index[0])
        raise SensitivityError(
            f"{int(short[short > 0].sum())} of {int(expected.sum())} sensitivity runs are "
            f"missing (first: point {first}); finish them with --resume, then the indices "
            "are computed")
    means = cell_means(design, runs).set_index(["firm", "point"])
    firm_order = [MARKET, *dict.fromkeys(runs["firm"])]
    strategy_of = {MARKET: "all", **dict(zip(runs["firm"], runs["strategy"], strict=True))}
    extra = [p for p in base_paths if p != "market.setting"]
    first_rows = runs.drop_duplicates("point").set_index("point")
    rows = []
    for method, matrix in design.samples.items():
        rank_by = INDEX_COLUMNS[method][0] if method == "morris" else "ST"
        for base in range(len(design.base)):
            where = first_rows.loc[base * cells]
            context = {"method": method, "setting": where["setting"],
                       **{path: where[path] for path in extra}}
            points = [design.point_index(base, method, r) for r in range(len(matrix))]
            for output, firm in itertools.product(design.block.outputs, firm_order):
                values = means.loc[firm, output].reindex(points).to_numpy(dtype=float)
                found = (_analyze(design, method, matrix, values) if np.isfinite(values).all()
                         else {key: np.full(len(design.parameters), np.nan)
                               for key in INDEX_COLUMNS[method]})
                block_rows = []
                for i, name in enumerate(design.names):
                    row = {**context, "output": output, "firm": firm,
                           "strategy": strategy_of[firm], "parameter": name}
                    row.update({key: float(found[key][i]) for key in INDEX_COLUMNS[method]})
                    block_rows.append(row)
                ranked = pd.Series([r[rank_by] for r in block_rows]).rank(
                    ascending=False, method="first")
                for row, rank in zip(block_rows, ranked, strict=True):
                    row["rank"] = rank
                rows += sorted(block_rows, key=lambda r: (np.isnan(r["rank"]), r["rank"]))
                if method == "sobol" and design.block.sobol.second_order and "S2" in found:
                    for i, j in itertools.combinations(range(len(design.names)), 2):
                        rows.append({**context, "output": output, "firm": firm,
                                     "strategy": strategy_of[firm],
                                     "parameter": f"{design.names[i]} & {design.names[j]}",
                                     "S2": float(found["S2"][i, j]),
                                     "S2_conf": float(found["S2_conf"][i, j])})
    columns = ["method", "setting", *extra, "output", "firm", "strategy", "parameter", "rank",
               *INDEX_COLUMNS["morris"], *INDEX_COLUMNS["sobol"]]
    table = pd.DataFrame(rows)
    if "S2" in table.columns:
        columns += ["S2", "S2_conf"]
    table = table.reindex(columns=columns)
    table["rank"] = table["rank"].astype("Int64")
    return table


# ---------------------------------------------------------------------------
# Writing: table, markdown, figures
# ---------------------------------------------------------------------------


def _key(method: str) -> str:
    return "mu_star" if method == "morris" else "ST"


def _format(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.3g}"


def ranking_markdown(table: pd.DataFrame, top: int = 3) -> list[str]:
    """Per method and output: the ``top`` parameters of each firm (market first) and setting."""
    lines = []
    group_columns = [c for c in table.columns[:table.columns.get_loc("output")]
                     if c != "method"]
    ranked = table[table["rank"].notna()]
    for method, by_method in ranked.groupby("method", sort=False):
        key = _key(method)
        lines += [f"### {'Morris screening' if method == 'morris' else 'Sobol indices'}", ""]
        for output, by_output in by_method.groupby("output", sort=False):
            header = ["firm (strategy)", *group_columns,
                      *[f"#{i + 1} ({key})" for i in range(top)]]
            lines += [f"**{output}**", "", "| " + " | ".join(header) + " |",
                      "|" + "|".join(["---"] * len(header)) + "|"]
            for (firm, *_), cells in by_output.groupby(["firm", *group_columns], sort=False):
                first = cells.iloc[0]
                named = [f"`{r.parameter}` ({_format(r[key])})"
                         for _, r in cells.head(top).iterrows()]
                named += [""] * (top - len(named))
                label = firm if firm == MARKET else f"{firm} ({first['strategy']})"
                lines.append("| " + " | ".join([label, *[str(first[c]) for c in group_columns],
                                                 *named]) + " |")
            lines.append("")
    return lines


def _describe_range(parameter: Parameter) -> str:
    bounds = f"[{parameter.low:g}, {parameter.high:g}]"
    return f"`{parameter.path}` " + (f"x {bounds} of its value" if parameter.relative else bounds)


def markdown(scenario, table: pd.DataFrame, report, record: dict) -> str:
    """``sensitivity.md``: the design, what the indices mean and the ranking."""
    design: Design = scenario.sensitivity
    sizes = {m: len(s) for m, s in design.samples.items()}
    levels = design.block.morris.levels
    lines = [f"# Sensitivity: {scenario.name}", ""]
    if scenario.description:
        lines += [scenario.description.strip(), ""]
    lines += [
        f"- scenario file: `{scenario.source}`",
        f"- parameters: {', '.join(_describe_range(p) for p in design.parameters)}",
        f"- cells per sweep point: {', '.join(f'{m} {n}' for m, n in sizes.items())}; "
        f"{len(design.base)} sweep point(s); sampling seed {design.block.seed}",
        f"- runs: {report.total} ({report.ok} ok, {len(report.failures)} failed), "
        f"{record['engine']} ({record['workers']} workers), {record['started']} to "
        f"{record['finished']}",
        "",
        "Morris `mu_star`: mean absolute change of the output when one parameter moves by "
        f"{levels / (2 * (levels - 1)):.3g} of its range ({levels} levels), "
        "the others held (output units); `sigma` large next to `mu_star` means the effect "
        "depends on the other parameters (interactions, non-linearity). Sobol `S1`: share "
        "of the output's variance over the ranges due to the parameter alone; `ST`: "
        "including its interactions. `(market)`: the firms summed (money, counts) or "
        "averaged (rates). Each cell's output is the mean over its replications, which "
        "share their seeds across cells (common random numbers).",
        "",
        "## The parameters that move each output most",
        "",
        *ranking_markdown(table),
        "Every index with its 95% bootstrap interval: `sensitivity.csv` / "
        "`sensitivity.parquet`; figures: `figures/sensitivity_<method>.png`.",
        "",
    ]
    return "\n".join(lines)


def figure(table: pd.DataFrame, method: str):
    """Horizontal bars per output (rows) and sweep point (columns) for one method.

    Bars are the market-wide index (Morris ``mu_star`` with its interval;
    Sobol ``ST`` with ``S1`` as the darker inner bar), parameters sorted by
    it; markers show each firm's index.
    """
    from matplotlib.ticker import MaxNLocator

    from .plots import plt

    key = _key(method)
    rows = table[(table["method"] == method) & table["rank"].notna()]
    group_columns = [c for c in rows.columns[:rows.columns.get_loc("output")] if c != "method"]
    groups = list(dict.fromkeys(rows[group_columns].itertuples(index=False, name=None)))
    outputs = list(dict.fromkeys(rows["output"]))
    parameters = rows["parameter"].nunique()
    firms = [f for f in dict.fromkeys(rows["firm"]) if f != MARKET]
    # tab10 from its second colour: its first is the market's bars' blue
    colours = {firm: plt.get_cmap("tab10")((i + 1) % 10) for i, firm in enumerate(firms)}
    figure_, axes = plt.subplots(len(outputs), len(groups), squeeze=False,
                                 figsize=(6.2 * len(groups), (0.34 * parameters + 1.4)
                                          * len(outputs) + 0.6))
    for (r, output), (c, group) in itertools.product(enumerate(outputs), enumerate(groups)):
        axis = axes[r][c]
        panel = rows[(rows["output"] == output)
                     & (rows[group_columns].apply(tuple, axis=1) == group)]
        market = panel[panel["firm"] == MARKET].sort_values(key, ascending=True)
        y = np.arange(len(market))
        position = dict(zip(market["parameter"], y, strict=True))
        conf = market[f"{key}_conf"].to_numpy(dtype=float)
        axis.barh(y, market[key], color="#9ecae1", xerr=np.nan_to_num(conf), capsize=2,
                  label=f"market {key} (95% CI)")
        if method == "sobol":
            axis.barh(y, market["S1"], height=0.4, color="#3182bd", label="market S1")
        for firm in firms:
            own = panel[panel["firm"] == firm]
            axis.plot(own[key], own["parameter"].map(position), "o", ms=5, color=colours[firm],
                      markeredgecolor="white", zorder=3,
                      label=f"{firm} ({own['strategy'].iloc[0]})" if len(own) else firm)
        axis.set_yticks(y, market["parameter"], fontsize=8)
        axis.set_title(f"{output} — {', '.join(map(str, group))}", fontsize=10)
        unit = "output units per step" if method == "morris" else "share of variance"
        axis.set_xlabel(f"{key} ({unit})", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.grid(axis="x", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    figure_.suptitle(f"{'Morris screening' if method == 'morris' else 'Sobol indices'}: "
                     "which parameters move each output", fontsize=12)
    figure_.legend(handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=8,
                   frameon=False)
    figure_.tight_layout(rect=(0, 0.05, 1, 0.96))
    return figure_


def write_results(folder: Path, scenario, runs: pd.DataFrame, report, record: dict, *,
                  figures: bool = True) -> pd.DataFrame:
    """Compute the indices and write ``sensitivity.{csv,parquet,md}`` and the figures.

    Everything is computed before anything is written, and each file is
    written atomically.

    Raises:
        SensitivityError: some runs are missing (nothing is written).
    """
    folder = Path(folder)
    design: Design = scenario.sensitivity
    base_paths = [p for p in scenario.sweep_paths if p not in design.names]
    table = indices(design, runs, base_paths)
    text = markdown(scenario, table, report, record)
    drawn = {}
    if figures:
        from .plots import plt

        for method in design.samples:
            drawn[method] = figure(table, method)
    write_parquet(folder / "sensitivity.parquet", table)
    write_text(folder / "sensitivity.csv", table.to_csv(index=False))
    write_text(folder / "sensitivity.md", text)
    if drawn:
        (folder / "figures").mkdir(exist_ok=True)
        for method, fig in drawn.items():
            write_atomic(folder / "figures" / f"sensitivity_{method}.png",
                         lambda target, fig=fig: fig.savefig(target, dpi=110, format="png"))
            plt.close(fig)
    return table


def summary_lines(table: pd.DataFrame) -> list[str]:
    """For the terminal: per method, output and sweep point, the market's top 3 parameters."""
    lines = []
    market = table[(table["firm"] == MARKET) & table["rank"].notna() & (table["rank"] <= 3)]
    group_columns = [c for c in table.columns[:table.columns.get_loc("output")]
                     if c != "method"]
    for (method, output, *group), rows in market.groupby(
            ["method", "output", *group_columns], sort=False):
        key = _key(method)
        named = ", ".join(f"{r.parameter} ({_format(r[key])})" for _, r in rows.iterrows())
        lines.append(f"{method} {key}, {output}, {' '.join(map(str, group))}: {named}")
    return lines
