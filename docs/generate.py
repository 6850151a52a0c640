"""Write the generated parts of the docs: ``python docs/generate.py`` (``--check`` to compare).

* ``docs/scenario-reference.md``: every key a scenario file may have, from the
  pydantic schema (:class:`experiments.scenario.ScenarioFile`, which extends
  :class:`sim.config.Config`; the ``sensitivity`` block's models are in
  :mod:`experiments.sensitivity`), with its type, allowed range, default (per
  setting or strategy where a preset fills it), description and the section
  of ``docs/model.md`` that explains it.
* ``docs/glossary.md``: the course's terms in English and Chinese, from
  ``i18n/glossary.yaml`` (the one glossary the message catalogs use too).
* ``docs/testing.md``, between ``<!-- generated:NAME -->`` and
  ``<!-- end:NAME -->``: the test inventory (each test module's docstring) and
  the shell blocks of the README and the docs that the docs test does not run,
  with the reason each gives.

Shell blocks (fenced ``sh``, ``bash`` or ``shell``) carry a marker on the line
before them: ``<!-- run -->``, ``<!-- run: slow -->`` or ``<!-- skip: REASON -->``.
A ``python`` block marked ``<!-- run -->`` is run too. ``tests/docs/`` runs the
marked blocks and fails when a generated part is out of date.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import types
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
REFERENCE = DOCS / "scenario-reference.md"
TESTING = DOCS / "testing.md"
GLOSSARY = DOCS / "glossary.md"

if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

# ---------------------------------------------------------------------------
# Shell blocks of the README and the docs
# ---------------------------------------------------------------------------

SHELL_LANGUAGES = ("sh", "bash", "shell")
"""Fenced blocks of these languages must carry a run or skip marker."""

MARKER = re.compile(r"^\s*<!--\s*(run|skip)\s*(?::\s*(.*?))?\s*-->\s*$", re.S)
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page.

    Attributes:
        page: the page, relative to the repository (``docs/model.md``).
        line: 1-based line of the opening fence.
        language: the fence's language (``bash``, ``python``, ...).
        code: the block's text, dedented to its fence.
        action: ``run``, ``slow`` (run, takes minutes), ``skip``, or ``None``
            (no marker).
        reason: why a block is skipped.
        heading: the heading of the section the block is in.
    """

    page: str
    line: int
    language: str
    code: str
    action: str | None
    reason: str = ""
    heading: str = ""

    @property
    def shell(self) -> bool:
        """True for a shell block (which must have a marker)."""
        return self.language in SHELL_LANGUAGES

    @property
    def runs(self) -> bool:
        """True if the docs test runs this block."""
        return self.action in ("run", "slow") and (self.shell or self.language == "python")

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """The README and every page of the docs, in a fixed order."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def blocks(path: Path, root: Path = REPO) -> list[Block]:
    """The fenced code blocks of a page, each with the marker on the line before it.

    Pages are named relative to ``root``.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i, heading = [], 0, ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        if not match:
            i += 1
            continue
        indent, language, start = match.group(1), match.group(2), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        first = previous  # a marker may span lines: back to its "<!--"
        while first > 0 and lines[previous].rstrip().endswith("-->") and "<!--" not in lines[first]:
            first -= 1
        marker = MARKER.match(" ".join(lines[first : previous + 1])) if previous >= 0 else None
        action, reason = None, ""
        if marker:
            action, detail = marker.group(1), (marker.group(2) or "").strip()
            if action == "run" and detail == "slow":
                action = "slow"
            elif action == "skip":
                reason = " ".join(detail.split())
        if not language:  # an unlabelled fence: text, nothing to run
            continue
        found.append(
            Block(
                str(path.relative_to(root)),
                start + 1,
                language,
                "\n".join(body) + "\n",
                action,
                reason,
                heading,
            )
        )
    return found


def all_blocks() -> list[Block]:
    """Every fenced block of the README and the docs."""
    return [block for page in pages() for block in blocks(page)]


def skipped_blocks_markdown() -> str:
    """The table of shell blocks the docs test does not run, and why."""
    rows = [
        f"| {_section(b)} | `{_first_line(b.code)}` | {b.reason} |"
        for b in all_blocks()
        if b.shell and b.action == "skip"
    ]
    return "\n".join(["| where | command | why it is not run |", "| --- | --- | --- |", *rows])


def _section(block: Block) -> str:
    """The block's page and section, linked for a page of the docs."""
    if not block.page.startswith("docs/"):
        return f"{block.page}: {block.heading}"
    page = block.page.removeprefix("docs/")
    return f"[{page}: {block.heading}]({page}#{_slug(block.heading)})"


def _first_line(code: str) -> str:
    line = next((x for x in code.splitlines() if x.strip() and not x.startswith("#")), "")
    line = re.sub(r"\s+#.*$", "", line).strip().replace("|", "\\|").replace("`", "'")
    return line if len(line) <= 60 else line[:57] + "..."


# ---------------------------------------------------------------------------
# The test inventory
# ---------------------------------------------------------------------------


def test_inventory_markdown() -> str:
    """One row per test module: its folder, file, tests, slow marks and docstring."""
    rows = ["| module | tests | what it checks |", "| --- | --- | --- |"]
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = " ".join((ast.get_docstring(tree) or "").split("\n\n")[0].split())
        tests = sum(
            1
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
        )
        slow = "slow" in {
            _decorator_name(d)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            for d in node.decorator_list
        }
        slow = (
            slow
            or re.search(r"pytest\.mark\.slow|pytestmark.*slow", path.read_text(encoding="utf-8"))
            is not None
        )
        count = f"{tests}{' (some slow)' if slow else ''}"
        rows.append(f"| `{path.relative_to(REPO)}` | {count} | {doc.replace('|', '\\|')} |")
    return "\n".join(rows)


def _decorator_name(node) -> str:
    while isinstance(node, ast.Call):
        node = node.func
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


# ---------------------------------------------------------------------------
# The scenario reference
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One key of the reference: path, type, allowed values, default, meaning, where explained."""

    path: str
    kind: str
    allowed: str
    default: str
    description: str


def _unwrap(annotation):
    """``Annotated[X, ...]`` and ``X | None`` -> X, with the constraints met on the way."""
    constraints: list = []
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *metadata = get_args(annotation)
            for item in metadata:
                constraints.extend(getattr(item, "metadata", None) or [item])
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(members) < len(get_args(annotation))
            if len(members) != 1:
                return annotation, constraints, optional
            annotation = members[0]
        else:
            return annotation, constraints, optional


def _is_model(annotation) -> bool:
    from pydantic import BaseModel

    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (tuple, list):
        inner, *_ = _unwrap(get_args(annotation)[0])
        return f"list of {_type_name(inner)}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"mapping {_type_name(key)} -> {_type_name(_unwrap(value)[0])}"
    if annotation is Any:
        return "any"
    if _is_model(annotation):
        return "mapping"
    return {float: "number", int: "integer", str: "text", bool: "true/false"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _allowed(constraints, info, text: bool = False) -> str:
    bounds = {}
    for item in [*constraints, *(info.metadata if info is not None else [])]:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                bounds[name] = value
    low = (
        f"[{_number(bounds['ge'])}"
        if "ge" in bounds
        else f"({_number(bounds['gt'])}"
        if "gt" in bounds
        else None
    )
    high = (
        f"{_number(bounds['le'])}]"
        if "le" in bounds
        else f"{_number(bounds['lt'])})"
        if "lt" in bounds
        else None
    )
    parts = []
    if low and high:
        parts.append(f"{low}, {high}")
    elif low:
        parts.append(f"{'>=' if 'ge' in bounds else '>'} {low[1:]}")
    elif high:
        parts.append(f"{'<=' if 'le' in bounds else '<'} {high[:-1]}")
    unit = "characters" if text else "items"
    if "min_length" in bounds and "max_length" in bounds:
        parts.append(f"{bounds['min_length']}-{bounds['max_length']} {unit}")
    elif "max_length" in bounds:
        parts.append(f"at most {bounds['max_length']} {unit}")
    elif "min_length" in bounds:
        parts.append(f"at least {bounds['min_length']} {unit[:-1]}")
    if "pattern" in bounds:
        parts.append(f"letters, digits, `_.-` (`{bounds['pattern']}`)")
    return "; ".join(parts)


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value)


def _value(value) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, float):
        return _number(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


NOTES = {
    "market": "the commerce setting: see [market](#market)",
    "customers": "who is in the market: see [customers](#customers)",
    "relationship": "how relationships move: see [relationship](#relationship)",
    "firms": "the firms and their strategies: see [firms](#firms)",
    "simulation": "size, horizon, seed, measurement: see [simulation](#simulation)",
    "name": "results go to `results/<name>/`; default: the file's name without `.yaml`",
    "description": "free text, shown in the report",
    "sweep": "runs every combination of values: see [sweep](#sweep)",
    "sensitivity": "Morris and Sobol indices: see [sensitivity](#sensitivity)",
    "execution": "where runs execute: see [execution](#execution)",
    "calibrate": "what `run.py calibrate` fits: see [calibrate](#calibrate)",
    "report": "how the report decides on a policy budget: see [report](#report)",
    "simulation.customers": "customers in the market (a constant population)",
    "simulation.periods": "periods measured after the warm-up; a period is a month",
    "simulation.seed": "the seed every run's seed derives from",
    "simulation.replications": "runs of each sweep point, each with its own seed",
    "firms.*.name": "unique name, used in every table",
    "firms.*.strategy": "clasp, zipper or velcro: fills the traits below",
    "customers.segments": "the segments, see below",
    "customers.segments.*.name": "unique name (a policy's `segment` names it)",
    "customers.segments.*.share": "share of customers in the segment",
    "customers.segments.*.price_sensitivity": "weight of price above 1 in perceived value",
    "firms.*.policies.*.name": "which policy (table below)",
    "sweep.grid": "dotted path -> values; every combination of the grid's values is run",
    "sweep.zip": "dotted path -> values; lists of equal length, taken in step, "
    "combined with the grid",
    "execution.engine": "`local` process pool, existing `dask` cluster, or `dask-local` cluster",
    "execution.workers": "worker processes (default: one per core)",
    "sensitivity.methods": "which indices",
    "sensitivity.parameters": "dotted path -> `[low, high]` or `{scale: [a, b]}`",
    "sensitivity.seed": "the sampling seed: same seed, same cells",
    "sensitivity.outputs": "outcome columns of `runs.parquet` to analyse",
    "sensitivity.morris.trajectories": "one-at-a-time paths; cells: trajectories x "
    "(parameters + 1)",
    "sensitivity.morris.levels": "grid levels of each range (even)",
    "sensitivity.sobol.base_samples": "Saltelli base sample (a power of 2); cells: "
    "base_samples x (parameters + 2)",
    "sensitivity.sobol.second_order": "also second-order indices (doubles the cells)",
}
"""Meanings of top-level keys whose schema field has no description."""


def _rows(
    model, prefix: str, presets: dict[str, dict] | None = None, required: str = "required"
) -> list[Row]:
    """The keys of ``model`` under ``prefix``; defaults from ``presets`` where it has none."""
    from pydantic_core import PydanticUndefined

    rows: list[Row] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation, constraints, optional = _unwrap(info.annotation)
        kind = _type_name(annotation) + (" or null" if optional else "")
        element = (
            _unwrap(get_args(annotation)[0])[0]
            if get_origin(annotation) in (tuple, list)
            else annotation
        )
        if _is_model(element):
            default = "see below"
        elif info.default is not PydanticUndefined:
            default = _value(info.default)
        elif info.default_factory is not None:
            default = _value(info.default_factory())
        elif presets and any(name in values for values in presets.values()):
            default = " / ".join(_value(values[name]) for values in presets.values())
        else:
            default = required
        description = info.description or NOTES.get(path, "") or _attribute(model, name)
        rows.append(
            Row(
                path,
                kind,
                _allowed(constraints, info, annotation is str),
                _escape(default),
                description.replace("|", "\\|"),
            )
        )
    return rows


def _attribute(model, name: str) -> str:
    """The meaning of ``name`` in the ``Attributes:`` section of the model's docstring."""
    doc = model.__doc__ or ""
    match = (
        re.search(rf"^\s+{name}: (.*?)(?=^\s+\w+: |\Z)", doc.split("Attributes:")[-1], re.S | re.M)
        if "Attributes:" in doc
        else None
    )
    return " ".join(match.group(1).split()).rstrip(".") if match else ""


def _escape(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`{text}`" if text.startswith(("{", "[")) else text


PATH = re.compile(r"[a-z_]+(?:\.(?:\*|<stage>|[a-z_]+|\{[^}]*\}))+")
NOT_EXPLAINING = ("Deviations from MODEL.md", "Renamed and removed keys")
"""Sections of docs/model.md that name keys without explaining them."""


def _model_sections() -> dict[str, str]:
    """``dotted.path`` -> the ``docs/model.md`` section that explains it.

    That is the first section whose parameter table has a row for it, else the
    first that names it in backticks. ``a.{b, c}`` names ``a.b`` and ``a.c``;
    ```a.b_x` / `_y``` names ``a.b_y`` too.
    """
    text = (DOCS / "model.md").read_text(encoding="utf-8")
    heading, found, rows = "", {}, {}
    for line in text.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            heading = line.lstrip("#").strip()
            continue
        if not heading or heading in NOT_EXPLAINING:
            continue
        for span in re.finditer(r"`([^`]+)`", line):
            for match in PATH.finditer(span.group(1)):
                path = match.group(0)
                names = [path]
                braces = re.search(r"\{([^}]*)\}$", path)
                if braces:
                    names = [
                        path[: braces.start()] + part.strip() for part in braces.group(1).split(",")
                    ]
                suffix = re.match(r"\s*/\s*`(_[a-z_]+)`", line[span.end() :])
                if suffix and "_" in path:
                    names.append(path.rsplit("_", 1)[0] + suffix.group(1))
                for name in names:
                    found.setdefault(name, heading)
                    if line.startswith("| `") and span.start() == 2:
                        rows.setdefault(name, heading)
    return {**found, **rows}


def _slug(heading: str) -> str:
    """The anchor MkDocs (and GitHub) give a heading of plain words.

    MkDocs keeps ASCII only (Python-Markdown's slugify): a Chinese heading
    such as ``启动 (Starting it)`` is ``starting-it``.
    """
    heading = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^\w\s-]", "", heading.lower()).strip()
    return re.sub(r"[-\s]+", "-", slug)


def _where(path: str, sections: dict[str, str]) -> str:
    parts = path.split(".")
    heading = next(
        (
            sections[".".join(parts[:n])]
            for n in range(len(parts), 1, -1)
            if ".".join(parts[:n]) in sections and parts[n - 1] != "*"
        ),
        "",
    )
    return f"[{heading}](model.md#{_slug(heading)})" if heading else ""


def _policy_value(parameter) -> str:
    """A policy parameter's default as a scenario writes it (a switch: true or false)."""
    if parameter.switch:
        return "true" if parameter.default else "false"
    return _number(parameter.default)


def _policy_range(parameter) -> str:
    """A policy parameter's allowed values."""
    if parameter.switch:
        return "true or false"
    return f"[{_number(parameter.low)}, {_number(parameter.high)}]"


def _table(rows: list[Row], sections: dict[str, str], explained: bool = True) -> list[str]:
    header = "| key | type | allowed | default | meaning |"
    rule = "| --- | --- | --- | --- | --- |"
    if explained:
        header, rule = header + " explained in |", rule + " --- |"
    lines = [header, rule]
    for row in rows:
        cells = [f"`{row.path}`", row.kind, row.allowed, row.default, row.description]
        if explained:
            cells.append(_where(row.path, sections))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def reference_markdown() -> str:
    """The whole of ``docs/scenario-reference.md``."""
    from experiments.scenario import (
        Calibration,
        Execution,
        Range,
        ReportSettings,
        ScenarioFile,
        Sweep,
    )
    from experiments.sensitivity import MorrisOptions, SensitivityBlock, SobolOptions
    from sim.config import (
        DEFAULT_SEGMENTS,
        CustomersConfig,
        FirmConfig,
        MarketConfig,
        PerStage,
        PolicyConfig,
        RelationshipConfig,
        Segment,
        SimulationConfig,
        Weights,
    )
    from sim.policies import POLICIES
    from sim.settings import SETTINGS
    from sim.strategies import STRATEGIES

    sections = _model_sections()
    per_stage = {
        name: RelationshipConfig.model_fields[name].default
        for name in ("wallet_share", "purchase_depth")
    }
    settings = {name: values for name, values in SETTINGS.items()}
    traits = {name: dict(cls.traits) for name, cls in STRATEGIES.items()}
    out = [
        "# Scenario file reference",
        "",
        "<!-- Generated by docs/generate.py from the pydantic schema in sim/config.py,",
        "     experiments/scenario.py and experiments/sensitivity.py; do not edit by hand:",
        "     run python docs/generate.py. -->",
        "",
        "Every key a scenario file may have, generated from the schema the command line",
        "validates against (`experiments.scenario.ScenarioFile`, which extends",
        "`sim.config.Config`). A key left out takes its default. How a scenario is written",
        "and run is in [Scenarios and the command line](scenarios.md); what each model",
        "parameter does, its equation and the source of its default, in",
        "[the model reference](model.md) (the last column links the section).",
        "",
        "- *allowed*: `[a, b]` includes both ends, `(a, b)` excludes them.",
        f"- *default* `a / b`: per setting ({' / '.join(settings)}), filled from the preset",
        "  `market.setting` names; `a / b / c`: per strategy "
        f"({' / '.join(traits)}), filled from the firm's",
        "  `strategy`. A value written in the file wins over the preset.",
        "- Lists are indexed from 0 in dotted paths: `firms.0.strategy` is the first firm's",
        "  strategy (sweeps, sensitivity and calibration name keys this way).",
        "",
        "## The file",
        "",
        "The top-level keys: the five sections of the model configuration, then what a",
        "scenario adds.",
        "",
        *_table(_rows(ScenarioFile, ""), sections, explained=False),
        "",
        "## market",
        "",
        "The commerce setting (`sim/settings.py`): `setting` picks the preset that fills",
        "every other key.",
        "",
        *_table(_rows(MarketConfig, "market.", settings), sections),
        "",
        "`market.stage_weights.<stage>` for each stage (exploration, formation, stability,",
        "decline): the loyalty-drive weights of the four determinants, which must sum to at",
        "most 1. Defaults per setting:",
        "",
        *_table(
            _rows(Weights, "market.stage_weights.<stage>.", required="per setting, below"), sections
        ),
        "",
        "| stage | setting | " + " | ".join(Weights.model_fields) + " |",
        "| --- | --- |" + " --- |" * len(Weights.model_fields),
        *(
            f"| {stage} | {setting} | "
            + " | ".join(_value(values["stage_weights"][stage][k]) for k in Weights.model_fields)
            + " |"
            for stage in SETTINGS["traditional"]["stage_weights"]
            for setting, values in settings.items()
        ),
        "",
        "## customers",
        "",
        *_table(_rows(CustomersConfig, "customers."), sections),
        "",
        "`customers.segments.N`: one segment. Segment shares must sum to 1 and names be",
        "unique.",
        "",
        *_table(_rows(Segment, "customers.segments.*."), sections),
        "",
        "The default segments:",
        "",
        "| " + " | ".join(Segment.model_fields) + " |",
        "| --- |" + " --- |" * (len(Segment.model_fields) - 1),
        *(
            "| "
            + " | ".join(
                _value(Segment.model_validate(s).model_dump()[k]) for k in Segment.model_fields
            )
            + " |"
            for s in DEFAULT_SEGMENTS
        ),
        "",
        "## relationship",
        "",
        "How relationships move; the same in every setting. `trust_break_rate` must be at",
        "least `trust_build_rate`.",
        "",
        *_table(_rows(RelationshipConfig, "relationship."), sections),
        "",
        "`relationship.wallet_share` and `relationship.purchase_depth` take one number per",
        "active stage (`exploration`, `formation`, `stability`, `decline`); defaults:",
        "",
        "| stage | " + " | ".join(per_stage) + " |",
        "| --- |" + " --- |" * len(per_stage),
        *(
            f"| {stage} | "
            + " | ".join(_value(getattr(values, stage)) for values in per_stage.values())
            + " |"
            for stage in PerStage.model_fields
        ),
        "",
        "## firms",
        "",
        "A list of firms (at least one, at most 100, unique names). The default market has",
        "three: " + ", ".join(f"{f['name']} ({f['strategy']})" for f in _default_firms()) + ".",
        "`referral_cost` must be at most `acquisition_cost`.",
        "",
        *_table(_rows(FirmConfig, "firms.*.", traits), sections),
        "",
        "### firms.N.policies",
        "",
        "Each firm may run retention policies (`sim/policies.py`). An item names the",
        "policy and may set its budget, targets and parameters:",
        "",
        *_table(_rows(PolicyConfig, "firms.*.policies.*."), sections, explained=False),
        "",
        "Each policy's own parameters (keys next to `name`), with default and allowed range:",
        "",
        "| policy | default stages | parameter | default | allowed | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| `{name}` | {', '.join(s.name.lower() for s in cls.stages) or 'none'} | "
            f"`{key}` | {_policy_value(p)} | {_policy_range(p)} | {p.description} |"
            for name, cls in POLICIES.items()
            for key, p in cls.parameters.items()
        ),
        "",
        "## simulation",
        "",
        *_table(_rows(SimulationConfig, "simulation."), sections),
        "",
        "## sweep",
        "",
        "Dotted paths and their values ([Sweeps](experiments.md#sweeps)). Each value is a",
        "list, or a range:",
        "",
        *_table(_rows(Sweep, "sweep."), sections, explained=False),
        *_table(_rows(Range, "sweep.<group>.<path>."), sections, explained=False)[2:],
        "",
        "## execution",
        "",
        "Where the runs execute ([Where runs execute](experiments.md#where-runs-execute)); the",
        "command line's `--workers` and `--dask` override it.",
        "",
        *_table(_rows(Execution, "execution."), sections, explained=False),
        "",
        "## sensitivity",
        "",
        "Morris and Sobol indices over declared ranges",
        "([Sensitivity analysis](experiments.md#sensitivity-analysis)). Each entry of",
        "`parameters` is a dotted path with `[low, high]` (absolute bounds) or",
        "`{scale: [a, b]}` (factors of the value at each sweep point).",
        "",
        *_table(_rows(SensitivityBlock, "sensitivity."), sections, explained=False),
        *_table(_rows(MorrisOptions, "sensitivity.morris."), sections, explained=False)[2:],
        *_table(_rows(SobolOptions, "sensitivity.sobol."), sections, explained=False)[2:],
        "",
        "## calibrate",
        "",
        "What `run.py calibrate` fits and how ([Calibration](experiments.md#calibration)).",
        "",
        *_table(_rows(Calibration, "calibrate."), sections, explained=False),
        "",
        "## report",
        "",
        "How `run.py report` decides on a policy's budget ([Retention",
        "policies](experiments.md#retention-policies-which-pays-where-and-why)): the",
        "recommended budget is the largest swept level reached by a step whose marginal ROI",
        "has the lower bound of its 95% interval above `hurdle_rate`.",
        "",
        *_table(_rows(ReportSettings, "report."), sections, explained=False),
        "",
    ]
    return "\n".join(out)


def _default_firms() -> tuple:
    from sim.config import DEFAULT_FIRMS

    return DEFAULT_FIRMS


# ---------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------


def glossary_markdown() -> str:
    """``docs/glossary.md``: every term of ``i18n/glossary.yaml``, grouped, with its source."""
    import i18n

    groups = {
        "stage": "Lifecycle stages (客户生命周期)",
        "strategy": "Relationship strategies (Storbacka)",
        "determinant": "Determinants of loyalty",
        "setting": "Settings",
        "outcome": "Outcomes",
    }
    lines = [
        "# Glossary: the course's terms in English and Chinese",
        "",
        "<!-- generated by docs/generate.py from i18n/glossary.yaml: edit that file -->",
        "",
        "crm-sim names the course's concepts alike everywhere: the report, its figures, the "
        "command line's tables and the exercises ([Teaching](teaching.md), "
        "[中文版](teaching.zh.md)). The Chinese terms are those of the course texts "
        "(shared/MODEL.md and the seed texts); `i18n/glossary.yaml` holds them once, "
        "the message catalogs take them from there (`python -m i18n extract`), and "
        "`tests/i18n` checks that every translation naming a term uses these words.",
        "",
    ]
    terms = i18n.glossary()
    for group, title in groups.items():
        lines += [f"## {title}", "", "| key | English | 中文 | source |", "|---|---|---|---|"]
        lines += [
            f"| `{key}` | {t['en']} | {t['zh']} | {t['source']} |"
            for key, t in terms.items()
            if t["group"] == group
        ]
        lines.append("")
    return "\n".join(lines)


def _replace_section(text: str, name: str, content: str) -> str:
    start, end = f"<!-- generated:{name} -->", f"<!-- end:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"docs/testing.md has no {start} ... {end} section")
    return pattern.sub(lambda _: f"{start}\n\n{content}\n\n{end}", text)


def generated() -> dict[Path, str]:
    """Every generated file and the text it should have."""
    testing = TESTING.read_text(encoding="utf-8")
    testing = _replace_section(testing, "test-inventory", test_inventory_markdown())
    testing = _replace_section(testing, "skipped-blocks", skipped_blocks_markdown())
    return {REFERENCE: reference_markdown(), TESTING: testing, GLOSSARY: glossary_markdown()}


def stale() -> list[Path]:
    """The generated files whose text differs from what :func:`generated` makes."""
    return [
        path
        for path, text in generated().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with ``--check`` list the stale ones (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{path.relative_to(REPO)} is out of date: run python docs/generate.py")
        return 1 if old else 0
    for path, text in generated().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
