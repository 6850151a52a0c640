"""Dotted paths into the configuration: ``relationship.trust_build_rate``, ``firms.0.price``.

A path names one field of :class:`sim.config.Config` by its sections, fields
and list indices. :func:`split_path` checks a path against the schema (with a
message that says what is allowed), :func:`assign` sets a value at it in a
raw, not yet validated configuration (a dict), so that presets fill the rest
when it is validated: ``market.setting`` or ``firms.0.strategy`` set there
refill the market's or the firm's preset, and values set explicitly win.
Scenario files' sweeps (:mod:`experiments.scenario`) and the model's keyword
parameters (:class:`sim.model.CRMModel`) both use them.
"""

import copy
import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from .config import Config

CONFIG_SECTIONS = tuple(Config.model_fields)
"""Top-level sections of the model configuration (the only roots a path may have)."""

Loc = tuple[str | int, ...]
"""A path as a tuple: ``("firms", 0, "price")``."""


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


MODEL_KEYWORDS = ("customers", "periods", "setting", "strategies")
"""The model's own keywords for the most used fields (:func:`config_from_keywords`)."""


def firms_of(strategies) -> list[dict]:
    """Firms from strategy names: ``"clasp,zipper"`` or ``["clasp", "zipper"]``.

    Each firm is named after its strategy; a strategy that appears more than
    once numbers its firms (``clasp_1``, ``clasp_2``).
    """
    names = strategies.split(",") if isinstance(strategies, str) else list(strategies)
    names = [str(name).strip() for name in names]
    seen = {name: 0 for name in names}
    firms = []
    for name in names:
        seen[name] += 1
        label = name if names.count(name) == 1 else f"{name}_{seen[name]}"
        firms.append({"name": label, "strategy": name})
    return firms


def config_from_keywords(
    customers=None, periods=None, setting=None, strategies=None, parameters=None
) -> Config:
    """A configuration from the model's keywords and dotted paths (the rest from defaults).

    Args:
        customers: ``simulation.customers``.
        periods: ``simulation.periods``.
        setting: ``market.setting`` (its preset fills the market).
        strategies: the firms, one per strategy name (:func:`firms_of`).
        parameters: dotted path -> value, for any other field
            (``{"relationship.trust_build_rate": 0.1, "firms.0.price": 1.2}``);
            ``__`` may stand for the dot (``relationship__trust_build_rate``).
            Paths into ``firms`` refer to the firms ``strategies`` made.

    Raises:
        TypeError: a path that names no field, with what is allowed there.
        pydantic.ValidationError: a value out of its range (a ValueError).
    """
    raw: dict = {}
    for path, value in (
        ("simulation.customers", customers),
        ("simulation.periods", periods),
        ("market.setting", setting),
    ):
        if value is not None:
            assign(raw, split_path(path, raw)[0], value)
    if strategies is not None:
        raw["firms"] = firms_of(strategies)
    for name, value in (parameters or {}).items():
        path = name.replace("__", ".")
        loc, message = split_path(path, raw)
        if loc is None:
            raise TypeError(
                f"CRMModel() got an unknown parameter {name!r}: {message}. Keywords: "
                f"{', '.join(MODEL_KEYWORDS)}, seed, rng, collect, sample, or a dotted path "
                f"into the configuration starting with {', '.join(CONFIG_SECTIONS)} "
                "(docs/scenario-reference.md lists them)"
            )
        assign(raw, loc, value)
    return Config.model_validate(raw)
