"""What scenario files and sensitivity designs share: problems, dotted paths, sweep points.

:mod:`experiments.scenario` reads a scenario file and :mod:`experiments.sensitivity`
expands its ``sensitivity`` block into cells; both report located
:class:`Problem` s, resolve dotted parameter paths against the configuration
schema (:func:`split_path`, :func:`node_at`), set values into the raw
scenario (:func:`assign`), turn pydantic errors into problems
(:func:`problems_from`) and produce :class:`Point` s. Those shared pieces live
here, so that neither module imports the other's private names.
"""

import copy
import difflib
import json
import types
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from sim.config import Config

CONFIG_SECTIONS = tuple(Config.model_fields)
"""Top-level sections of the model configuration (the only roots a sweep path may have)."""

MAX_RUNS = 1_000_000
"""Largest number of runs (points x replications) a scenario may expand to."""

MAX_POINTS = 10_000
"""Largest number of sweep points (grid combinations x zip length), counted before they are
built: each point is a whole configuration validated before anything runs."""

Loc = tuple[str | int, ...]


# ---------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, located as precisely as possible.

    Attributes:
        file: the file as the user named it.
        line: 1-based line in the file, when known.
        path: dotted path of the field (``firms.0.strategy``), empty for the whole file.
        message: what is wrong and what is allowed.
    """

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario file cannot be used; ``problems`` says why, one entry per problem."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(loc: Iterable[str | int]) -> str:
    """``('firms', 0, 'strategy')`` -> ``firms.0.strategy``; keys with dots are bracketed."""
    text = ""
    for part in loc:
        if isinstance(part, str) and "." in part:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# ---------------------------------------------------------------------------
# The schema, walked by dotted path
# ---------------------------------------------------------------------------


def unwrap(annotation):
    """Strip ``Annotated`` and ``X | None`` down to the type that holds children."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def is_model(annotation) -> bool:
    """True if ``annotation`` is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def node_at(loc: Loc, root=Config):
    """The annotation and ``FieldInfo`` (or None) at ``loc`` under the model ``root``.

    ``(None, None)`` if ``loc`` is not in the schema. ``root`` is
    :class:`sim.config.Config` or a model that extends it (a scenario file).
    """
    annotation, info = root, None
    for part in loc:
        annotation = unwrap(annotation)
        if is_model(annotation):
            if part not in annotation.model_fields:
                return None, None
            info = annotation.model_fields[part]
            annotation = info.annotation
        elif get_origin(annotation) in (tuple, list) and isinstance(part, int):
            annotation, info = get_args(annotation)[0], None
        elif get_origin(annotation) is dict:
            annotation, info = get_args(annotation)[1], None
        else:
            return None, None
    return unwrap(annotation), info


def field_names(loc: Loc, root=Config) -> list[str]:
    """The fields of the model at ``loc`` (none if it is not a model)."""
    annotation, _ = node_at(loc, root)
    return list(annotation.model_fields) if is_model(annotation) else []


def unknown_field_message(name: Any, allowed: list[str]) -> str:
    """``unknown field`` with the closest allowed name, or the list of them."""
    close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    foreign = sorted({c for c in str(name) if not c.isascii()})
    lookalike = (  # a Cyrillic 'а' in 'simulаtion' looks like the field and is not
        " (it holds non-ASCII characters: "
        + ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in foreign)
        + ")"
        if foreign
        else ""
    )
    if close:
        return f"unknown field{lookalike}; did you mean {close[0]!r}?"
    return f"unknown field{lookalike}; allowed fields: {', '.join(allowed)}"


def _bound(value) -> str:
    """A bound as written: integers in full (a seed's 18446744073709551615), floats short."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def allowed_range(info) -> str | None:
    """``0 <= value <= 120`` from a field's constraints, or None if it has none."""
    if info is None:
        return None
    low = high = ""
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = f"{_bound(constraint.ge)} <= "
        elif isinstance(constraint, annotated_types.Gt):
            low = f"{_bound(constraint.gt)} < "
        elif isinstance(constraint, annotated_types.Le):
            high = f" <= {_bound(constraint.le)}"
        elif isinstance(constraint, annotated_types.Lt):
            high = f" < {_bound(constraint.lt)}"
    return f"{low}value{high}" if low or high else None


_KINDS = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "string": "text",
    "list": "a list",
    "tuple": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def error_message(error: Mapping[str, Any], root=Config) -> str:
    """One readable message for one pydantic error of validating ``root``."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        if loc[:-1] == ("sweep",) and "." in str(loc[-1]):
            return (
                "a dotted path directly under 'sweep'; put it under 'grid' (every "
                "combination) or 'zip' (paired lists)"
            )
        return unknown_field_message(loc[-1], field_names(loc[:-1], root))
    if kind == "missing":
        return "required field is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = allowed_range(node_at(loc, root)[1])
        return f"{value!r} is out of range; allowed: {allowed}" if allowed else error["msg"]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{value!r} is not allowed; valid values: {expected.replace(' or ', ', ')}"
    if kind == "string_pattern_mismatch":
        return (
            f"{value!r} is not allowed; use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )
    if kind in ("value_error", "assertion_error"):
        return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    for prefix, wanted in _KINDS.items():
        if kind.startswith(prefix):
            if kind == "int_from_float":
                wanted = "a whole number"
            shown = "nothing" if value is None else f"{value!r} ({type(value).__name__})"
            message = f"expected {wanted}, got {shown}"
            fields = field_names(loc, root)
            return message + (f"; fields: {', '.join(fields)}" if fields else "")
    return error["msg"]


def problems_from(
    error: ValidationError, document, shown: str, prefix: Loc = (), root=Config
) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems (children before parents).

    Args:
        error: the error of validating the model ``root`` (or a part of it at ``prefix``).
        document: the parsed file (:class:`experiments.scenario.YamlDocument`), for lines.
        shown: the file name used in messages.
        prefix: where in the file the validated part lies.
        root: the model whose schema names the fields in messages.
    """
    errors = error.errors()
    locs = [(*prefix, *e["loc"]) for e in errors]
    problems = []
    for e, loc in zip(errors, locs, strict=True):
        # "too short after validation" only repeats that some items were invalid
        if e["type"] == "too_short" and any(
            other[: len(loc)] == loc and len(other) > len(loc) for other in locs
        ):
            continue
        problems.append(Problem(shown, document.line_of(loc), dotted(loc), error_message(e, root)))
    return problems


# ---------------------------------------------------------------------------
# Sweep paths: check against the schema, assign into the raw scenario
# ---------------------------------------------------------------------------


def default_container(info, annotation):
    """What to put at a missing path element so that a value can be set under it."""
    default = PydanticUndefined if info is None else info.get_default(call_default_factory=True)
    if isinstance(default, tuple | list):
        return [
            item.model_dump(mode="json") if isinstance(item, BaseModel) else copy.deepcopy(item)
            for item in default
        ]
    if isinstance(default, BaseModel):
        try:  # a preset-filled section: give only what changes, the preset fills the rest
            type(default).model_validate({})
        except ValidationError:
            return default.model_dump(mode="json")
        return {}
    return [] if get_origin(annotation) in (tuple, list) else {}


def split_path(path: str, raw: dict) -> tuple[Loc | None, str | None]:
    """Resolve a dotted path against the schema and the raw scenario.

    Returns:
        ``(loc, None)`` with list indices as ints, or ``(None, message)``.
    """
    parts = path.split(".")
    if parts[0] not in CONFIG_SECTIONS:
        close = difflib.get_close_matches(parts[0], CONFIG_SECTIONS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return None, (
            f"no such parameter: {parts[0]!r} is not a model section; {hint}"
            f"paths start with one of: {', '.join(CONFIG_SECTIONS)}"
        )
    loc: list[str | int] = []
    annotation, node = Config, raw
    for part in parts:
        annotation = unwrap(annotation)
        where = ".".join(str(p) for p in loc) or "the scenario"
        if is_model(annotation):
            if part not in annotation.model_fields:
                allowed = list(annotation.model_fields)
                close = difflib.get_close_matches(part, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(allowed)}"
                return None, f"no such parameter: {where} has no field {part!r}; {hint}"
            info = annotation.model_fields[part]
            child = node.get(part) if isinstance(node, dict) else None
            node = child if child is not None else default_container(info, info.annotation)
            annotation = info.annotation
            loc.append(part)
        elif get_origin(annotation) in (tuple, list):
            size = len(node) if isinstance(node, list) else 0
            if not part.isdigit():
                return None, f"no such parameter: {where} is a list; use an index 0..{size - 1}"
            index = int(part)
            if index >= size:
                return None, (
                    f"no such parameter: {where} has {size} entries "
                    f"(indices 0..{size - 1}), not {index + 1}"
                )
            node, annotation = node[index], get_args(annotation)[0]
            loc.append(index)
        else:
            return None, f"no such parameter: {where} is a single value, it has no {part!r}"
    return tuple(loc), None


def assign(raw: dict, loc: Loc, value: Any) -> None:
    """Set ``value`` at ``loc`` in the raw scenario dict, creating what is missing.

    Missing sections and lists are filled from the schema's defaults (a
    preset-filled section starts empty so that its preset fills the rest).
    """
    node, annotation = raw, Config
    for i, part in enumerate(loc):
        annotation = unwrap(annotation)
        if is_model(annotation):
            info = annotation.model_fields[part]
            annotation = info.annotation
        else:
            info, annotation = None, get_args(annotation)[0]
        if i == len(loc) - 1:
            node[part] = copy.deepcopy(value)
            return
        if isinstance(node, dict) and node.get(part) is None:
            node[part] = default_container(info, annotation)
        node = node[part]
        if not isinstance(node, dict | list):
            return  # not a container: validation reports the wrong type


# ---------------------------------------------------------------------------
# Sweep points
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the swept values and the validated configuration.

    Attributes:
        index: position in the expansion (grid in file order, then zip).
        values: dotted path -> value set at this point (empty without a sweep).
        config: the whole validated configuration of this point.
        common: swept paths left out of the run seeds (a sensitivity design's
            parameters): points that differ only in them share their seeds.
    """

    index: int
    values: dict[str, Any]
    config: Config
    common: tuple[str, ...] = ()

    @property
    def seed_values(self) -> dict[str, Any]:
        """The swept values the run seeds derive from: ``values`` without ``common``."""
        return {path: v for path, v in self.values.items() if path not in self.common}

    @property
    def key(self) -> str:
        """The point's identity as canonical JSON of its values (seeds derive from it)."""
        return json.dumps(self.values, sort_keys=True, separators=(",", ":"), default=str)
