"""What scenario files and sensitivity designs share: problems, dotted paths, sweep points.

:mod:`experiments.scenario` reads a scenario file and :mod:`experiments.sensitivity`
expands its ``sensitivity`` block into cells; both report located
:class:`Problem` s, resolve dotted parameter paths against the configuration
schema (:func:`sim.paths.split_path`, :func:`node_at`), set values into the raw
scenario (:func:`sim.paths.assign`), turn pydantic errors into problems
(:func:`problems_from`) and produce :class:`Point` s. Those shared pieces live
here, so that neither module imports the other's private names.
"""

import difflib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from i18n import N_, _
from sim.config import Config, Refusal, allowed_range
from sim.paths import Loc, is_model, unwrap

MAX_RUNS = 1_000_000
"""Largest number of runs (points x replications) a scenario may expand to."""

MAX_POINTS = 10_000
"""Largest number of sweep points (grid combinations x zip length), counted before they are
built: each point is a whole configuration validated before anything runs."""


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
        path = shorten(self.path)
        return f"{where}: {path}: {self.message}" if path else f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario file cannot be used; ``problems`` says why, one entry per problem."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to about ``limit`` characters: a 300,000-character value is no message."""
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


def shown(value: Any) -> str:
    """``repr(value)`` for a message, shortened (:func:`shorten`)."""
    return shorten(repr(value))


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
    annotation, _info = node_at(loc, root)
    return list(annotation.model_fields) if is_model(annotation) else []


def unknown_field_message(name: Any, allowed: list[str]) -> str:
    """``unknown field`` with the closest allowed name, or the list of them."""
    close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    foreign = sorted({c for c in str(name) if not c.isascii()})
    lookalike = (  # a Cyrillic 'а' in 'simulаtion' looks like the field and is not
        _(" (it holds non-ASCII characters: {characters})").format(
            characters=", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in foreign)
        )
        if foreign
        else ""
    )
    if close:
        return _("unknown field{lookalike}; did you mean {name}?").format(
            lookalike=lookalike, name=repr(close[0])
        )
    return _("unknown field{lookalike}; allowed fields: {allowed}").format(
        lookalike=lookalike, allowed=", ".join(allowed)
    )


_KINDS = {
    "float": N_("a number"),
    "int": N_("an integer"),
    "bool": N_("true or false"),
    "string": N_("text"),
    "list": N_("a list"),
    "tuple": N_("a list"),
    "dict": N_("a mapping"),
    "model": N_("a mapping"),
}


def error_message(error: Mapping[str, Any], root=Config) -> str:
    """One readable message for one pydantic error of validating ``root``.

    In the language in force (:func:`i18n.language`); field names, values and
    allowed values stay as the file and the schema write them.
    """
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        if loc[:-1] == ("sweep",) and "." in str(loc[-1]):
            return _(
                "a dotted path directly under 'sweep'; put it under 'grid' (every "
                "combination) or 'zip' (paired lists)"
            )
        return unknown_field_message(loc[-1], field_names(loc[:-1], root))
    if kind == "string_too_long":
        most = error.get("ctx", {}).get("max_length")
        return _("{length} characters long; at most {most} are allowed").format(
            length=len(value), most=most
        )
    if kind == "missing":
        return _("required field is missing")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = allowed_range(node_at(loc, root)[1])
        return (
            _("{value} is out of range; allowed: {allowed}").format(
                value=shown(value), allowed=allowed
            )
            if allowed
            else error["msg"]
        )
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return _("{value} is not allowed; valid values: {allowed}").format(
            value=shown(value), allowed=expected.replace(" or ", ", ")
        )
    if kind == "string_pattern_mismatch":
        return _(
            "{value} is not allowed; use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        ).format(value=shown(value))
    refusal = error.get("ctx", {}).get("error")
    if isinstance(refusal, Refusal):  # the model's own check, in the user's language
        return _(refusal.template).format(**refusal.values)
    if kind in ("value_error", "assertion_error"):
        return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    for prefix, wanted in _KINDS.items():
        if kind.startswith(prefix):
            if kind == "int_from_float":
                wanted = N_("a whole number")
            got = _("nothing") if value is None else f"{shown(value)} ({type(value).__name__})"
            message = _("expected {wanted}, got {shown}").format(wanted=_(wanted), shown=got)
            fields = field_names(loc, root)
            return message + (
                _("; fields: {fields}").format(fields=", ".join(fields)) if fields else ""
            )
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
    # a LocatedError (sim.config) says where below its validator's location the problem is
    locs = [
        (*prefix, *e["loc"], *getattr(e.get("ctx", {}).get("error"), "loc", ())) for e in errors
    ]
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
