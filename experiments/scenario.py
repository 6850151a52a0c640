"""Scenario files: YAML with line numbers, typed validation, sweep expansion.

A scenario file mirrors :class:`sim.config.Config` (sections ``market``,
``customers``, ``relationship``, ``firms``, ``simulation``) and adds ``name``,
``description``, an optional ``sweep`` and an optional ``execution``::

    name: small_market
    market: {setting: ecommerce, repair_window: 4}
    firms:
      - {name: A, strategy: clasp}
      - {name: B, strategy: zipper}
    simulation: {customers: 2000, periods: 60, seed: 7, replications: 10}
    sweep:
      grid:                       # every combination
        market.setting: [traditional, ecommerce]
        firms.0.strategy: [clasp, velcro]
      zip:                        # paired lists (same length), combined with the grid
        market.repair_window: {start: 2, stop: 6, step: 2}   # 2, 4, 6 (stop included)
        market.search_probability: [0.10, 0.15, 0.20]

A sweep value is set at its dotted path in the *raw* scenario before
validation, so ``firms.0.strategy: zipper`` refills that firm's traits from
the zipper preset and ``market.setting`` refills the market preset (values the
file sets explicitly still win). Every expanded point is validated as a whole
configuration before anything runs.

Every problem found is reported at once, one line each, as
``FILE:LINE: dotted.path: what is wrong; what is allowed`` (see
:class:`Problem`); :func:`load_scenario` raises :class:`ScenarioError` with
the list.
"""

import collections
import copy
import itertools
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from i18n import _
from sim.config import MAX_SEED, Config, StrictModel
from sim.paths import CONFIG_SECTIONS, Loc, assign, split_path

from .schema import (
    MAX_POINTS,
    MAX_RUNS,
    Point,
    Problem,
    ScenarioError,
    dotted,
    node_at,
    problems_from,
)
from .sensitivity import SensitivityBlock, expand

_EMPTY_SWEEP = (
    "empty sweep: give dotted paths with their values under 'grid' and/or 'zip', or remove 'sweep'"
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# ---------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------


@dataclass
class YamlDocument:
    """A parsed YAML file and the line of every key and list item.

    Attributes:
        data: the Python value (dicts, lists, scalars).
        lines: ``loc -> line`` for every mapping key and sequence item (1-based).
        problems: duplicate keys and refused YAML types found while reading.
        refused: where the values of a refused YAML type (``!!set``, ...) are: their
            problem is said once, not again as a wrong type.
    """

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    refused: list[Loc] = field(default_factory=list)

    def within_refused(self, path: str) -> bool:
        """Whether the dotted ``path`` is, or lies under, a value of a refused YAML type."""
        return any(
            path == (at := dotted(loc)) or path.startswith((f"{at}.", f"{at}["))
            for loc in self.refused
        )

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        """The line of ``loc``, or of its nearest ancestor that is in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


def read_yaml(path: Path, shown: str) -> YamlDocument:
    """Parse a YAML file, keeping the line of every key.

    Args:
        path: the file.
        shown: the name to use in messages (as the user typed it).

    Raises:
        ScenarioError: the file is missing, unreadable or not valid YAML.
    """
    if not path.exists():
        raise ScenarioError([Problem(shown, None, "", _("no such file"))])
    if path.is_dir():
        raise ScenarioError([Problem(shown, None, "", _("is a directory, not a scenario file"))])
    if not path.is_file():  # /dev/zero, a pipe, a socket: it could be read forever
        message = _("not a regular file (a device, pipe or socket); give a scenario file")
        raise ScenarioError([Problem(shown, None, "", message)])
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            message = _("larger than {size} bytes; a scenario file is at most that").format(
                size=f"{MAX_YAML_BYTES:,}"
            )
            raise ScenarioError([Problem(shown, None, "", message)])
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = _("not UTF-8 text ({reason})").format(reason=error.reason)
        raise ScenarioError([Problem(shown, None, "", message)]) from None
    except OSError as error:
        message = _("cannot read: {reason}").format(reason=error.strerror)
        raise ScenarioError([Problem(shown, None, "", message)]) from None
    try:
        loader = yaml.SafeLoader(text)  # refuses unprintable characters (a NUL) at once
    except yaml.YAMLError as error:
        message = _("YAML syntax error: {error}").format(error=" ".join(str(error).split()))
        raise ScenarioError([Problem(shown, None, "", message)]) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            message = f"nested too deeply; a scenario nests at most {MAX_YAML_DEPTH} levels"
            raise ScenarioError([Problem(shown, None, "", message)]) from None
        if node is not None:
            _check_size(node, shown)
        try:
            data = None if node is None else loader.construct_document(node)
        except ValueError as error:  # an integer of more than 4300 digits, for one
            line = _value_error_line(loader, node)
            message = (
                f"a number of more than {sys.get_int_max_str_digits():,} digits; give a shorter one"
                if "digits" in str(error)
                else f"cannot read a value: {error}"
            )
            raise ScenarioError([Problem(shown, line, "", message)]) from None
        document = YamlDocument(data)
        if node is not None:
            _collect_lines(loader, node, (), document, shown)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        what = error.problem or error.context or "invalid YAML"
        context = ""
        if error.context and error.problem:
            started = error.context_mark
            at = f" at line {started.line + 1}" if started and started.line != mark.line else ""
            context = f" ({error.context}{at})"
        message = _("YAML syntax error: {error}").format(error=f"{what}{context}")
        raise ScenarioError([Problem(shown, line, "", message)]) from None
    except yaml.YAMLError as error:
        message = _("YAML syntax error: {error}").format(error=error)
        raise ScenarioError([Problem(shown, None, "", message)]) from None
    finally:
        loader.dispose()
    return document


MAX_YAML_BYTES = 1_000_000
"""Largest scenario file read, in bytes (checked before parsing)."""

MAX_YAML_NODES = 200_000
"""Most values (keys, items, scalars) a scenario may hold once its aliases are expanded."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists a scenario may have."""

REFUSED_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("binary", "set", "omap", "pairs"))
"""YAML types a safe loader builds that no scenario field means (bytes would pass as text)."""


def _kind_of(value: Any) -> str:
    """What ``value`` is, in a YAML writer's words (for a file that is not a mapping)."""
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a text ({value[:40]!r})"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _check_size(root, shown: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_YAML_NODES` or nest too deep.

    Counts the expanded tree on the composed nodes, each shared node once
    (memoised), so a billion-laughs file is refused in time and memory linear
    in its text, before any Python value is built.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_YAML_NODES:
                raise ScenarioError(
                    [
                        Problem(
                            shown,
                            node.start_mark.line + 1,
                            "",
                            f"expands to more than {MAX_YAML_NODES:,} values (aliases "
                            "included); a scenario holds at most that",
                        )
                    ]
                )
            if depth[key] > MAX_YAML_DEPTH:
                message = f"nested too deeply; a scenario nests at most {MAX_YAML_DEPTH} levels"
                raise ScenarioError([Problem(shown, node.start_mark.line + 1, "", message)])
            continue
        if key in size:
            continue
        if key in open_nodes:
            message = "an alias refers to a value that contains it; give the value itself"
            raise ScenarioError([Problem(shown, node.start_mark.line + 1, "", message)])
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _value_error_line(loader, node) -> int | None:
    """The line of the first scalar the loader cannot construct (None if not found)."""
    loader.constructed_objects, loader.recursive_objects = {}, {}  # left by the failed pass
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current)
            except ValueError:
                return current.start_mark.line + 1
        else:
            stack.extend(_children(current))
    return None


def _collect_lines(loader, node, loc: Loc, document: YamlDocument, shown: str) -> None:
    if node.tag in REFUSED_TAGS:  # bytes, sets, pairs: a name must not be raw bytes
        kind = node.tag.rsplit(":", 1)[-1]
        document.refused.append(loc)
        document.problems.append(
            Problem(
                shown,
                node.start_mark.line + 1,
                dotted(loc),
                f"a !!{kind} value; a scenario holds text, numbers, true/false, lists and mappings",
            )
        )
        return
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key_node.tag in REFUSED_TAGS:
                _collect_lines(loader, key_node, (*loc, "<key>"), document, shown)
                continue
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: construct_document already refused it
                continue
            if first is not None and key != "<<":
                document.problems.append(
                    Problem(
                        shown,
                        line,
                        dotted((*loc, key)),
                        _("duplicate key (also at line {line}); give each key once").format(
                            line=first
                        ),
                    )
                )
            seen[key] = line
            document.lines[(*loc, key)] = line
            _collect_lines(loader, value_node, (*loc, key), document, shown)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            document.lines[(*loc, i)] = item.start_mark.line + 1
            _collect_lines(loader, item, (*loc, i), document, shown)


# ---------------------------------------------------------------------------
# The typed scenario file
# ---------------------------------------------------------------------------


class Execution(StrictModel):
    """Where the runs execute.

    ``local`` (default): a process pool on this machine, one worker per core
    unless ``workers`` says otherwise. ``dask``: an existing Dask distributed
    cluster at ``address`` (its workers must have crm-sim installed).
    ``dask-local``: a Dask ``LocalCluster`` started for this command.
    """

    engine: Literal["local", "dask", "dask-local"] = "local"
    address: str | None = Field(None, description="scheduler address, e.g. tcp://10.0.0.5:8786")
    workers: Annotated[int, Field(ge=1, le=4096)] | None = None

    @model_validator(mode="after")
    def _address_goes_with_dask(self):
        if self.engine == "dask" and not self.address:
            raise ValueError(
                "engine 'dask' needs an address (e.g. tcp://scheduler:8786); "
                "use engine 'dask-local' to start a cluster on this machine"
            )
        if self.engine != "dask" and self.address:
            raise ValueError(f"address is only used with engine 'dask' (engine is {self.engine!r})")
        return self


class Range(StrictModel):
    """Evenly spaced sweep values ``start, start + step, ...`` up to ``stop`` (included)."""

    start: Annotated[float, Field(allow_inf_nan=False)]
    stop: Annotated[float, Field(allow_inf_nan=False)]
    step: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _stop_after_start(self):
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop:g}) must be at least start ({self.start:g})")
        if (self.stop - self.start) / self.step >= MAX_POINTS:
            raise ValueError(f"the range has more than {MAX_POINTS:,} values")
        return self

    def values(self, integers: bool) -> list[float] | list[int]:
        """The values; ``integers`` when start, stop and step were all written as integers."""
        count = math.floor((self.stop - self.start) / self.step + 1e-9) + 1
        values = [round(self.start + i * self.step, 12) for i in range(count)]
        return [int(v) for v in values] if integers else values


class Sweep(StrictModel):
    """Dotted paths and their values: ``grid`` (every combination) and ``zip`` (paired)."""

    grid: dict[str, Any] = Field(default_factory=dict)
    zip: dict[str, Any] = Field(default_factory=dict)


CALIBRATION_POPULATION = 5
"""Candidates per fitted parameter in a population of differential evolution (and the
least budget: two populations; Nelder-Mead samples a fifth of the budget first)."""


class Calibration(StrictModel):
    """The ``calibrate`` block: what ``run.py calibrate`` fits, how (:mod:`experiments.calibrate`).

    Attributes:
        parameters: dotted config path -> ``[low, high]`` bounds of a number to fit.
        replications: runs per candidate, all candidates on the same seeds.
        seed: where those seeds derive from (default: ``simulation.seed``).
        holdout: the last periods of the target kept out of the fit.
        method: ``differential_evolution`` or ``nelder_mead``.
        max_evaluations: most candidates evaluated.
        firm: whose customers the curve follows (default: every firm's, pooled).
        strategy: or the firms of this strategy, pooled.
        cohorts: ``all`` acquisition cohorts pooled, or the ``initial`` one only.
        weights: ``equal`` (every target row alike) or ``cohort_size`` (rows
            weighted by the size of their cohort, the target's ``customers``).
        periods_per_target: model periods per target period. 1 (default): one
            model period per target period. 12: the model runs in months and
            a yearly target (``scenarios/targets/``) is compared at tenures of
            whole years, the months' acquisition cohorts pooled into years.
    """

    parameters: dict[str, tuple[float, float]] = Field(min_length=1, max_length=20)
    replications: Annotated[int, Field(ge=1, le=10_000)] = 4
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    holdout: Annotated[int, Field(ge=0, le=10_000)] = 0
    method: Literal["differential_evolution", "nelder_mead"] = "differential_evolution"
    max_evaluations: Annotated[int, Field(ge=2, le=1_000_000)] = 200
    firm: str | None = None
    strategy: str | None = None
    cohorts: Literal["all", "initial"] = "all"
    weights: Literal["equal", "cohort_size"] = "equal"
    periods_per_target: Annotated[int, Field(ge=1, le=120)] = 1

    @model_validator(mode="after")
    def _budget_for_two_populations(self):
        least = 2 * CALIBRATION_POPULATION * len(self.parameters)
        if self.max_evaluations < least:
            raise ValueError(
                f"max_evaluations {self.max_evaluations} is too few for "
                f"{len(self.parameters)} parameters; give at least {least} (two "
                f"populations of {CALIBRATION_POPULATION} candidates per parameter)"
            )
        return self


class ReportSettings(StrictModel):
    """The ``report`` block: how ``run.py report`` turns a policy budget sweep into a decision.

    Attributes:
        hurdle_rate: the least marginal ROI a budget step must earn, with the
            lower bound of its 95% interval, for the report to recommend it.
            Per run, not annual: the ROI is a ratio of money discounted to
            period 0 at ``simulation.discount_rate`` over the whole run, so
            the discounting already charges the cost of capital and 0 means
            "earns back more than it spends"; 0.2 asks every extra unit of
            spend to bring 1.2 units of gross contribution.
        lang: the language of the report and of the table ``run`` prints,
            ``en`` (the default) or ``zh`` (:data:`i18n.LANGUAGES`).
    """

    hurdle_rate: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0,
        description="least marginal ROI (lower 95% bound) a budget step must earn; per "
        "run, not annual: money is already discounted at simulation.discount_rate",
    )
    lang: Literal["en", "zh"] = Field(
        "en",
        description="language of the report and of the table the run prints: en (English) "
        "or zh (中文); run.py report --lang overrides it",
    )


class ScenarioFile(Config):
    """The whole file: a :class:`sim.config.Config` plus name, description, sweep, execution.

    ``sensitivity`` (optional) repeats a sample of parameter values at every
    sweep point (:mod:`experiments.sensitivity`); ``report`` sets how the
    report decides (:class:`ReportSettings`).
    """

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=120)] | None = None
    description: str = ""
    sweep: Sweep | None = None
    sensitivity: SensitivityBlock | None = None
    execution: Execution = Execution()
    calibrate: Calibration | None = None
    report: ReportSettings = ReportSettings()


FILE_KEYS = tuple(ScenarioFile.model_fields)


# ---------------------------------------------------------------------------
# The loaded scenario
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: its name, the execution settings and every sweep point.

    Attributes:
        name: used for the default results folder ``results/<name>/``.
        description: free text from the file.
        source: the file it was read from.
        points: every sweep point (one point, with no values, without a sweep).
        sweep_paths: the swept dotted paths, grid paths first (then the
            sensitivity parameters).
        execution: the ``execution`` section (the command line may override it).
        sensitivity: the :class:`experiments.sensitivity.Design` when the file has
            a ``sensitivity`` block (then ``points`` are its cells), else None.
        calibration: the ``calibrate`` block, each parameter path checked.
        report: the ``report`` block (:class:`ReportSettings`); it does not
            change the runs, so it is not part of the scenario's fingerprint.
    """

    name: str
    description: str
    source: Path
    points: tuple[Point, ...]
    sweep_paths: tuple[str, ...]
    execution: Execution
    sensitivity: Any = None
    calibration: Calibration | None = None
    report: ReportSettings = field(default_factory=ReportSettings)

    @property
    def runs(self) -> int:
        """Total number of runs: the sum over points of their replications."""
        return sum(p.config.simulation.replications for p in self.points)


def _sweep_values(
    value: Any, loc: Loc, document: YamlDocument, shown: str
) -> tuple[list, list[Problem]]:
    line = document.line_of(loc)
    path = dotted(loc)
    if isinstance(value, list):
        if not value:
            return [], [Problem(shown, line, path, "empty sweep: give at least one value")]
        return value, []
    if isinstance(value, dict):
        try:
            spec = Range.model_validate(value)
        except ValidationError as error:
            return [], problems_from(error, document, shown, loc, root=ScenarioFile)
        integers = all(
            isinstance(value[k], int) and not isinstance(value[k], bool)
            for k in ("start", "stop", "step")
        )
        return spec.values(integers), []
    return [], [
        Problem(
            shown,
            line,
            path,
            f"expected a list of values or a range {{start, stop, step}}, got {value!r}",
        )
    ]


def _expand(
    sweep: Sweep, raw_config: dict, document: YamlDocument, shown: str
) -> tuple[list[dict[str, Any]], dict[str, Loc], list[Problem]]:
    """Sweep -> list of ``{path: value}`` points, each good path's loc, and problems.

    Paths with problems are left out of the points, so that the points can
    still be validated and every problem reported in one go.
    """
    problems: list[Problem] = []
    values: dict[str, dict[str, list]] = {"grid": {}, "zip": {}}
    locs: dict[str, Loc] = {}
    if not sweep.grid and not sweep.zip:
        return [], locs, [Problem(shown, document.line_of(("sweep",)), "sweep", _EMPTY_SWEEP)]
    for group in ("grid", "zip"):
        for path, spec in getattr(sweep, group).items():
            where = ("sweep", group, path)
            line = document.line_of(where)
            if path in locs:
                problems.append(
                    Problem(shown, line, dotted(where), "swept twice; give each path once")
                )
                continue
            loc, message = split_path(path, raw_config)
            if message:
                problems.append(Problem(shown, line, dotted(where), message))
            listed, found = _sweep_values(spec, where, document, shown)
            problems.extend(found)
            if loc is not None and listed:
                values[group][path] = listed
                locs[path] = loc
    lengths = {path: len(v) for path, v in values["zip"].items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{path} has {n}" for path, n in lengths.items())
        problems.append(
            Problem(
                shown,
                document.line_of(("sweep", "zip")),
                "sweep.zip",
                f"zip lists must have the same length ({described})",
            )
        )
        for path in lengths:
            del locs[path]
        values["zip"] = {}
    grid_paths, zip_paths = list(values["grid"]), list(values["zip"])
    if len(grid_paths) + len(zip_paths) == 0:
        return [], locs, problems
    zip_length = len(next(iter(values["zip"].values()), [None]))
    count = math.prod(len(v) for v in values["grid"].values()) * zip_length
    if count > MAX_POINTS:  # counted before any point is built or validated
        problems.append(
            Problem(
                shown,
                document.line_of(("sweep",)),
                "sweep",
                f"{count:,} points; at most {MAX_POINTS:,} are allowed",
            )
        )
        return [], locs, problems
    grid = itertools.product(*values["grid"].values())
    zipped = list(zip(*values["zip"].values(), strict=True)) if zip_paths else [()]
    points = [
        dict(zip(grid_paths + zip_paths, g + z, strict=True))
        for g, z in itertools.product(grid, zipped)
    ]
    keys = [json.dumps(p, sort_keys=True, default=str) for p in points]
    repeated = sorted(key for key, count in collections.Counter(keys).items() if count > 1)
    if repeated:  # two identical points would be the same runs with the same seeds
        problems.append(
            Problem(
                shown,
                document.line_of(("sweep",)),
                "sweep",
                f"points repeated: {'; '.join(repeated)}; give each value once "
                "(replications repeat runs)",
            )
        )
        return [], locs, problems
    return points, locs, problems


def _related(path: str, other: str) -> bool:
    """True if one dotted path is the other or lies inside it."""
    return path == other or path.startswith(other + ".") or other.startswith(path + ".")


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{path}={value!r}" for path, value in values.items())


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, validate and expand a scenario file.

    Args:
        path: the YAML file.
        overrides: dotted path -> value applied to the raw scenario before
            validation (used by the command line, e.g. ``{"simulation.seed": 3}``).

    Returns:
        The :class:`Scenario`, every sweep point validated.

    Raises:
        ScenarioError: listing every problem found.
    """
    shown = str(path)
    path = Path(path)
    document = read_yaml(path, shown)
    data = document.data
    if data is None:
        raise ScenarioError(
            [
                Problem(
                    shown,
                    None,
                    "",
                    _("the file is empty; a scenario is a mapping with keys such as {keys}").format(
                        keys=", ".join(FILE_KEYS)
                    ),
                )
            ]
        )
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                Problem(
                    shown,
                    1,
                    "",
                    _("a scenario must be a mapping of keys ({keys}), not {kind}").format(
                        keys=", ".join(FILE_KEYS), kind=_kind_of(data)
                    ),
                )
            ]
        )
    problems = list(document.problems)
    data = copy.deepcopy(data)
    for dotted_path, value in (overrides or {}).items():
        assign(data, tuple(int(p) if p.isdigit() else p for p in dotted_path.split(".")), value)
    if "sweep" in data and not data["sweep"]:
        problems.append(Problem(shown, document.line_of(("sweep",)), "sweep", _EMPTY_SWEEP))
        data["sweep"] = None
    if "sensitivity" in data and not data["sensitivity"]:
        problems.append(
            Problem(
                shown,
                document.line_of(("sensitivity",)),
                "sensitivity",
                "empty: give 'parameters' with [low, high] bounds, or remove 'sensitivity'",
            )
        )
    base_messages: set[tuple[str, str]] = set()
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as error:
        found = problems_from(error, document, shown, root=ScenarioFile)
        found = [p for p in found if not document.within_refused(p.path)]
        problems.extend(found)
        base_messages = {(p.path, p.message) for p in found}
        parsed = None
    raw_config = {k: v for k, v in data.items() if k in CONFIG_SECTIONS}

    sweep = None
    if isinstance(data.get("sweep"), dict):
        try:
            sweep = Sweep.model_validate(data["sweep"])
        except ValidationError:
            sweep = None  # already reported by the whole-file validation
    point_values, swept_locs, found = (
        ([{}], {}, []) if sweep is None else _expand(sweep, raw_config, document, shown)
    )
    problems.extend(found)
    lines = {
        path: document.line_of(("sweep", group, path))
        for group in ("grid", "zip")
        for path in getattr(sweep, group, {})
        if path in swept_locs
    }

    points = []
    for index, values in enumerate(point_values):
        point_raw = copy.deepcopy(raw_config)
        for swept, value in values.items():
            assign(point_raw, swept_locs[swept], value)
        try:
            config = Config.model_validate(point_raw)
        except ValidationError as error:
            for problem in problems_from(error, document, shown, root=ScenarioFile):
                if (problem.path, problem.message) in base_messages or document.within_refused(
                    problem.path
                ):
                    continue  # the same problem without the sweep: reported once already
                related = [p for p in values if _related(problem.path, dotted(swept_locs[p]))]
                if related:  # caused by these swept values: say which, once per value
                    line = lines[related[0]]
                    where = f"sweep value {_describe({p: values[p] for p in related})}"
                else:
                    line, where = problem.line, f"sweep point {_describe(values)}"
                problems.append(
                    Problem(shown, line, problem.path, f"{problem.message} (at {where})")
                )
            continue
        points.append(Point(index, values, config))

    design = None
    if parsed is not None and parsed.sensitivity is not None and not problems:
        design, points, found = expand(
            parsed.sensitivity, points, raw_config, document, shown, swept_paths=tuple(lines)
        )
        problems.extend(found)
    if parsed is not None and parsed.calibrate is not None:
        problems.extend(calibration_problems(parsed, raw_config, document, shown))

    if parsed is not None and not problems:
        total = sum(p.config.simulation.replications for p in points)
        if total > MAX_RUNS:
            problems.append(
                Problem(
                    shown,
                    document.line_of(("simulation", "replications")),
                    "simulation.replications",
                    f"the scenario expands to {total} runs; at most {MAX_RUNS}",
                )
            )
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ScenarioError(sorted(unique, key=lambda p: p.line or 0))
    name = parsed.name or re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("_.-") or "scenario"
    return Scenario(
        name=name,
        description=parsed.description,
        source=path,
        points=tuple(points),
        sweep_paths=tuple(lines) + (design.names if design else ()),
        execution=parsed.execution,
        sensitivity=design,
        calibration=parsed.calibrate,
        report=parsed.report,
    )


# ---------------------------------------------------------------------------
# The calibrate block: parameter paths and bounds
# ---------------------------------------------------------------------------


def calibration_problems(
    parsed: ScenarioFile, raw_config: dict, document: YamlDocument, shown: str
) -> list[Problem]:
    """Check the ``calibrate`` block against the scenario.

    Each parameter path must name a number of the model configuration (not a
    ``simulation`` field), ``low < high``, and the scenario must be valid
    with the parameter at either bound; ``firm`` and ``strategy`` must name
    the scenario's firms; ``cohorts: initial`` needs a new market
    (``simulation.start: new``); a calibrated scenario has no sweep and no
    sensitivity block.
    """
    block, problems = parsed.calibrate, []

    def problem(loc: Loc, message: str) -> None:
        problems.append(
            Problem(
                shown, document.line_of(("calibrate", *loc)), dotted(("calibrate", *loc)), message
            )
        )

    if parsed.sweep is not None:
        problem((), "a scenario to calibrate has no sweep; remove 'sweep' or 'calibrate'")
    if parsed.sensitivity is not None:
        problem(
            (),
            "a scenario to calibrate has no sensitivity block; remove 'sensitivity' or 'calibrate'",
        )
    names = [firm.name for firm in parsed.firms]
    strategies = list(dict.fromkeys(firm.strategy for firm in parsed.firms))
    if block.firm is not None and block.strategy is not None:
        problem(("strategy",), "give firm or strategy, not both")
    if block.firm is not None and block.firm not in names:
        problem(("firm",), f"no firm {block.firm!r}; firms: {', '.join(names)}")
    if block.strategy is not None and block.strategy not in strategies:
        problem(
            ("strategy",), f"no firm runs {block.strategy!r}; strategies: {', '.join(strategies)}"
        )
    if block.cohorts == "initial" and parsed.simulation.start == "settled":
        problem(
            ("cohorts",),
            "initial: the customers the firms start with, as one cohort "
            "acquired at period 0; a settled start (simulation.start, the "
            "default) gives them a history: set simulation.start: new",
        )
    for path, (low, high) in block.parameters.items():
        loc, message = split_path(path, raw_config)
        if message is None and loc[0] == "simulation":
            message = "simulation fields set the run, not the model; calibrate model parameters"
        elif message is None and node_at(loc, Config)[0] is not float:
            message = "not a continuous number; calibrate fits fields that take any number"
        if message is None and not low < high:
            message = f"bounds [{low:g}, {high:g}]: low must be below high"
        for bound in () if message else (low, high):
            raw = copy.deepcopy(raw_config)
            assign(raw, loc, bound)
            try:
                Config.model_validate(raw)
            except ValidationError as error:
                found = problems_from(error, document, shown, root=ScenarioFile)
                message = f"bound {bound:g}: {found[0].message}" if found else str(error)
                break
        if message:
            problem(("parameters", path), message)
    periods = parsed.simulation.periods
    if block.periods_per_target > periods:
        problem(
            ("periods_per_target",),
            f"{block.periods_per_target} model periods per target "
            f"period need simulation.periods >= "
            f"{block.periods_per_target} (it is {periods})",
        )
    return problems
