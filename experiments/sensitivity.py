"""The sensitivity design: the ``sensitivity:`` block, its samples and the cells they become.

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

The indices of the runs are :mod:`analysis.sensitivity`'s (it reads
``runs.parquet``; the design, :class:`Design`, tells it which rows ran which
sample).

This module defines the block's schema (:class:`SensitivityBlock`), draws
the samples (:func:`sample`) and expands them into cells (:func:`expand`,
called by :func:`experiments.scenario.load_scenario`).
"""

import copy
import difflib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import annotated_types
import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from analysis.metrics import OUTCOME_COLUMNS
from sim.config import MAX_SEED, Config, StrictModel
from sim.paths import assign, split_path

from .schema import (
    MAX_RUNS,
    Point,
    Problem,
    allowed_range,
    dotted,
    node_at,
    problems_from,
)

METHODS = ("morris", "sobol")
"""The methods, in the order their cells and tables come."""

NUMERIC_OUTPUTS = tuple(c for c in OUTCOME_COLUMNS)
"""Outputs the block may name: the outcome columns of ``runs.parquet``."""

MAX_PARAMETERS = 50


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
            raise ValueError(
                f"{levels} levels; use an even number (2, 4, 6, ...) so that "
                "every level is reached by the same step"
            )
        return levels


class SobolOptions(StrictModel):
    """Sobol indices from Saltelli's sample of ``base_samples`` rows (a power of 2).

    Cells per sweep point: ``base_samples x (parameters + 2)``, or
    ``base_samples x (2 parameters + 2)`` with ``second_order``.
    """

    base_samples: Annotated[int, Field(ge=2, le=2**20)] = 64
    second_order: bool = False

    @field_validator("base_samples")
    @classmethod
    def _power_of_two(cls, size):
        if size & (size - 1):
            below = 1 << (size.bit_length() - 1)
            raise ValueError(
                f"{size} is not a power of 2 (the Sobol sequence needs one); "
                f"use {below} or {below * 2}"
            )
        return size


class SensitivityBlock(StrictModel):
    """The ``sensitivity:`` section of a scenario file (see the module docstring)."""

    methods: tuple[Literal["morris", "sobol"], ...] = ("morris",)
    parameters: dict[str, Any]
    morris: MorrisOptions = MorrisOptions()
    sobol: SobolOptions = SobolOptions()
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    outputs: tuple[str, ...] = ("retention_rate", "customer_equity")
    resamples: Annotated[int, Field(ge=10, le=100_000)] = Field(
        1000, description="bootstrap resamples of the confidence intervals"
    )

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
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"valid outputs: {', '.join(NUMERIC_OUTPUTS)}"
                )
                raise ValueError(f"unknown output {name!r}; {hint}")
        if len(set(outputs)) != len(outputs):
            raise ValueError("an output is given twice; give each once")
        return outputs

    @model_validator(mode="after")
    def _some_parameters(self):
        if not self.parameters:
            raise ValueError("parameters: give at least one dotted path with [low, high] bounds")
        if len(self.parameters) > MAX_PARAMETERS:
            raise ValueError(f"parameters: {len(self.parameters)} given; at most {MAX_PARAMETERS}")
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
        return {
            "num_vars": len(self.parameters),
            "names": list(self.names),
            "bounds": [[p.low, p.high] for p in self.parameters],
        }

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

    problem = {
        "num_vars": len(parameters),
        "names": [p.path for p in parameters],
        "bounds": [[p.low, p.high] for p in parameters],
    }
    samples = {}
    if "morris" in block.methods:
        samples["morris"] = morris_sample.sample(
            problem, block.morris.trajectories, num_levels=block.morris.levels, seed=block.seed
        )
    if "sobol" in block.methods:
        samples["sobol"] = sobol_sample.sample(
            problem,
            block.sobol.base_samples,
            calc_second_order=block.sobol.second_order,
            seed=block.seed,
        )
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
        for kind, operator in (
            (annotated_types.Ge, ">="),
            (annotated_types.Gt, ">"),
            (annotated_types.Le, "<="),
            (annotated_types.Lt, "<"),
        ):
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
            return (
                "expected [low, high] or {scale: [low, high]} (factors of the value at "
                f"each sweep point), got keys {', '.join(map(str, spec))}"
            )
        spec = spec["scale"]
    if (
        not isinstance(spec, list)
        or len(spec) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec)
    ):
        return f"expected bounds [low, high] (two numbers) or {{scale: [low, high]}}, got {spec!r}"
    low, high = float(spec[0]), float(spec[1])
    if not low < high:
        return f"low ({low:g}) must be below high ({high:g})"
    if relative and low < 0:
        return f"scale factors must be 0 or more, got {low:g}"
    return low, high, relative


def expand(
    block: SensitivityBlock, base_points, raw_config: dict, document, shown: str, swept_paths=()
):
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
        problems), the cells as :class:`experiments.schema.Point` (each with the
        varied parameters as ``common`` paths, left out of the run seeds), and
        every problem found.
    """
    problems = []
    parameters = []
    for path, spec in block.parameters.items():
        where = ("sensitivity", "parameters", path)
        line, shown_path = document.line_of(where), dotted(where)
        loc, message = split_path(path, raw_config)
        if message is None and path in swept_paths:
            message = "also swept under 'sweep'; vary a parameter in one place only"
        if message is None:
            annotation, info = node_at(loc, Config)
            if annotation is not float:
                kind = getattr(annotation, "__name__", str(annotation))
                message = (
                    f"is not a number field ({kind}); only number fields with a "
                    "continuous range can be varied"
                )
        parsed = _parse_range(spec) if message is None else message
        if isinstance(parsed, str):
            problems.append(Problem(shown, line, shown_path, parsed))
            continue
        low, high, relative = parsed
        limits, allowed = _limits(info), allowed_range(info)
        ends = (
            [(low, high)]
            if not relative
            else [
                (low * _value_at(p.config, loc), high * _value_at(p.config, loc))
                for p in base_points
            ]
        )
        for point, (lowest, highest) in zip(base_points, ends, strict=False):
            at = f" at sweep point {point.values}" if relative and point.values else ""
            if relative and lowest == highest:
                problems.append(
                    Problem(
                        shown,
                        line,
                        shown_path,
                        f"the value is 0{at}, so scaling cannot move it; "
                        "give absolute bounds [low, high]",
                    )
                )
                break
            outside = [v for v in (lowest, highest) if not _inside(v, limits)]
            if outside:
                problems.append(
                    Problem(
                        shown,
                        line,
                        shown_path,
                        f"bounds reach {outside[0]:g}{at}, outside the field's "
                        f"allowed range: {allowed}",
                    )
                )
                break
        parameters.append(Parameter(path, loc, low, high, relative))
    if problems:
        return None, [], problems

    parameters = tuple(parameters)
    runs = cell_count(block, len(parameters)) * sum(
        p.config.simulation.replications for p in base_points
    )
    if runs > MAX_RUNS:
        return (
            None,
            [],
            [
                Problem(
                    shown,
                    document.line_of(("sensitivity",)),
                    "sensitivity",
                    f"the design expands to {runs} runs; at most {MAX_RUNS}: "
                    "lower the sample sizes or the replications",
                )
            ],
        )
    samples = sample(block, parameters)
    design = Design(
        block,
        parameters,
        samples,
        tuple(p.values for p in base_points),
        tuple(p.config.simulation.replications for p in base_points),
    )
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
                    for problem in problems_from(error, document, shown):
                        if (problem.path, problem.message) in seen:
                            continue
                        seen.add((problem.path, problem.message))
                        problems.append(
                            Problem(
                                shown,
                                document.line_of(("sensitivity", "parameters")),
                                problem.path,
                                f"{problem.message} (at a {method} sample point: "
                                f"{_short(values, design.names)}); narrow the bounds",
                            )
                        )
                    continue
                points.append(Point(len(points), values, config, common=design.names))
    if problems:
        return None, [], problems
    return design, points, []


def _short(values: dict, names) -> str:
    return ", ".join(f"{name}={values[name]:.4g}" for name in names)
