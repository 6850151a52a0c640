"""The comparison report: ``python run.py report RESULTS_DIR [--baseline OTHER_DIR]``.

Reads a results folder (never re-runs the model) and writes ``report.md``,
``report.html`` (self-contained: figures embedded as base64 PNG) and the
figures as PNG files under ``figures/``. Sections: which strategy wins where
(the strategy x setting table with 95% CIs), money (customer equity, its
drivers, CLV distribution, firm value under a resource constraint, CRM ROI
against a baseline), retention (stage composition, cohort survival, churn by
stage and reason, trajectory types, satisfied defectors, tenure, loyalty
index), the end distributions of satisfaction, trust and switching cost, and,
when a sweep varies a firm's retention policies, the policy comparison.

Everything is read and computed before anything is written: a bad folder or
baseline raises :class:`ReportError` and leaves the folder as it was.
"""

import base64
import concurrent.futures
import contextlib
import html
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

import i18n
from i18n import N_, _
from sim.config import Config
from sim.policies import POLICIES
from store.files import (
    OutputError,
    claim,
    is_owned,
    not_ours,
    remove_owned,
    write_atomic,
    write_text,
)

from . import decision, money, plots, render, retention, winners
from .tables import grouping_paths, mean_ci

POLICY_PATH = re.compile(r"firms\.(\d+)\.policies")
"""Sweep paths that set a firm's list of retention policies."""

SUMMARY_OUTCOMES = (
    ("retention_rate", N_("monthly retention"), 4),
    ("annual_retention", N_("annual retention"), 3),
    ("expected_lifetime", N_("expected lifetime (years)"), 1),
    ("customer_equity", N_("customer equity"), 0),
    ("clv_mean", N_("mean CLV per relationship"), 2),
    ("top20_profit_share", N_("top-20% share of CLV"), 3),
    ("satisfied_defector_share", N_("satisfied defectors"), 3),
    ("loyalty_index", N_("loyalty index"), 3),
)
"""Outcomes of the report's main table: column, label (English; ``_(label)`` shows it), decimals."""

COLUMN_NAMES = {"label": N_("label"), "setting": N_("setting"), "strategy": N_("strategy")}
"""The report's key columns, named in the report's language (``_(COLUMN_NAMES[key])``)."""


LOYALTY_ITEMS = {
    "share_of_wallet": N_("share of wallet"),
    "repeat_purchase": N_("repeat purchase"),
    "tenure": N_("tenure"),
    "referrals": N_("referrals"),
    "price": N_("price"),
    "quality": N_("quality"),
    "service": N_("service"),
    "index": N_("index"),
}
"""The loyalty table's columns (:mod:`analysis.retention`'s items), as the report names them."""


def _term(value) -> str:
    """A setting, strategy or group label as the report names it: course terms by the glossary.

    A group label that starts with a strategy (``clasp, budget=0.5``) has that
    part named; any other value is shown as it is.
    """
    head, comma, rest = str(value).partition(", ")
    return _(head) + comma + rest


def _columns(keys) -> list[str]:
    """Key columns' names in the language in force (a swept path keeps its own name)."""
    return [_(COLUMN_NAMES[k]) if k in COLUMN_NAMES else k for k in keys]


class ReportError(Exception):
    """The results folder (or the baseline) cannot be reported on; the message says why."""


# ---------------------------------------------------------------------------
# Reading a results folder
# ---------------------------------------------------------------------------


@dataclass
class Results:
    """The tables of one results folder, with a ``cell`` label on every row.

    A cell is one strategy in one setting at one value of every other swept
    parameter; ``label`` names it without the setting (figures put settings in
    panels).
    """

    folder: Path
    name: str
    description: str
    runs: pd.DataFrame
    timeseries: pd.DataFrame
    cohorts: pd.DataFrame
    customers: pd.DataFrame
    policies: pd.DataFrame
    configs: dict[int, Config]
    sweep_paths: list[str]
    keys: list[str] = field(default_factory=list)
    hurdle_rate: float = 0.0
    relationships: pd.DataFrame = field(default_factory=pd.DataFrame)
    lang: str = i18n.DEFAULT


def policy_label(value) -> str:
    """A short name for a swept list of policies: ``none`` or ``name (budget B)+...``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if not value:
        return "none"
    names = []
    for policy in value:
        if isinstance(policy, dict):
            budget = policy.get("budget")
            names.append(
                policy.get("name", "?")
                + (f" (budget {budget:g})" if isinstance(budget, int | float) else "")
            )
        else:
            names.append(str(policy))
    return " + ".join(names)


def policy_labels(values: pd.Series) -> pd.Series:
    """:func:`policy_label` of each value, computed once per distinct value.

    A timeseries table repeats each point's policy list on every period and
    firm row: labelling row by row parsed the same JSON millions of times.
    """
    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
    except TypeError:  # lists, not their JSON text: unhashable, so one by one
        return values.map(policy_label)
    labels = np.array([policy_label(value) for value in distinct], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype=object)


def spends_nothing(value) -> bool:
    """True for a swept list of policies that cannot spend: empty, or every budget 0.

    Such a point is the run without policies (a zero budget touches nobody,
    and policies draw from their own random stream), so it can be the
    baseline of a budget sweep.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return False
    return all(isinstance(p, dict) and p.get("budget") == 0 for p in value or ())


def _label_frame(frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.copy()
    parts = [frame["strategy"].astype(str)]
    for path in extra:
        if path not in frame.columns:
            continue
        values = (
            policy_labels(frame[path]) if POLICY_PATH.fullmatch(path) else frame[path].astype(str)
        )
        short = path.split(".")[-1]
        parts.append(short + "=" + values if not POLICY_PATH.fullmatch(path) else values)
    label = parts[0]
    for part in parts[1:]:
        label = label + ", " + part
    frame["label"] = label
    return frame


def _read_table(
    folder: Path, name: str, required: bool, columns: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """A table of the folder; ``columns``: only those of them it has (all if None)."""
    path = folder / name
    if not path.exists():
        if required:
            raise ReportError(
                _(
                    "{folder}: no {name}; is this a results folder written by "
                    "'run.py run'? (run the scenario first)"
                ).format(folder=folder, name=name)
            )
        return pd.DataFrame()
    try:
        if columns is not None:
            present = set(pq.read_schema(path).names)
            columns = [c for c in dict.fromkeys(columns) if c in present]
        return pd.read_parquet(path, columns=columns)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ReportError(
            _("{path}: cannot be read as Parquet ({error})").format(path=path, error=error)
        ) from None


POOL_ROWS = 1 << 20
"""Rows of ``cohorts.parquet`` pooled at a time (whole runs: a run may overshoot it)."""


def pooled_cohorts(folder: Path, runs: pd.DataFrame, sweep_paths) -> pd.DataFrame:
    """``cohorts.parquet`` pooled over the replications of each point, a few runs at a time.

    The cohort table has a row per run x firm x cohort x tenure (millions in
    a policy sweep) and the report needs only its survival curves. The
    counts of :func:`analysis.retention.cohort_counts` are made for each
    point, firm and tenure, in Arrow, whole runs at a time (the table holds
    each run's rows together), and added up: memory is that of a few runs,
    whatever the number of runs, and
    :func:`analysis.retention.cohort_survival` of the result equals that of
    the whole table (the counts are integers: their sums do not depend on
    the order). Groups keep the order in which they first appear; their
    strategy, setting and swept values are those of ``runs`` (the same
    runs' rows of ``runs.parquet``).

    Returns:
        Columns ``point``, ``firm``, ``strategy``, ``setting``, the swept
        columns, ``tenure``, ``active``, ``size``, ``cohorts``; empty without
        a cohort table.
    """
    path = folder / "cohorts.parquet"
    if not path.exists():
        return pd.DataFrame()
    run = ["point", "replication"]
    try:  # the firm as a dictionary: reading millions of strings is most of the time
        source = pq.ParquetFile(path, read_dictionary=["firm"])
        columns = [*run, "firm", "cohort", "tenure", "active"]
        pooled, pending, offset = None, [], 0
        for batch in source.iter_batches(batch_size=POOL_ROWS, columns=columns):
            pending.append(batch)
            if sum(b.num_rows for b in pending) < POOL_ROWS:
                continue
            chunk = pa.Table.from_batches(pending)
            last = pc.and_(*(pc.equal(chunk.column(c), chunk.column(c)[-1]) for c in run))
            counts, offset = _cohort_counts(chunk.filter(pc.invert(last)), offset)
            pooled = _add_counts(pooled, counts)
            pending = chunk.filter(last).to_batches()  # the last run may go on in the next batch
        if pending:
            counts, offset = _cohort_counts(pa.Table.from_batches(pending), offset)
            pooled = _add_counts(pooled, counts)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ReportError(
            _("{path}: cannot be read as Parquet ({error})").format(path=path, error=error)
        ) from None
    if pooled is None:
        return pd.DataFrame()
    frame = pooled.sort_by("first").drop_columns("first").to_pandas()
    frame["firm"] = frame["firm"].astype(runs["firm"].dtype)
    frame["size"] = frame["size"].astype(float)  # as cohort_counts makes it
    described = [c for c in ("strategy", "setting", *sweep_paths) if c in runs.columns]
    identity = runs[["point", "firm", *dict.fromkeys(described)]].drop_duplicates(["point", "firm"])
    frame = frame.merge(identity, on=["point", "firm"], how="left", validate="many_to_one")
    return frame[["point", "firm", *dict.fromkeys(described), "tenure", *COUNTS]]


COUNTS = retention.POOLED_COHORT_COLUMNS

SURVIVAL_COLUMNS = ("point", "firm", "duration", "event", "entry")
"""Columns of ``relationships.parquet`` the report reads (:func:`labelled_relationships`)."""


def labelled_relationships(
    folder: Path, runs: pd.DataFrame, lean: bool, extra: list[str]
) -> pd.DataFrame:
    """``relationships.parquet`` with each row's ``label`` (and ``strategy``, ``setting``).

    ``lean`` reads only ``duration``, ``event`` and ``entry`` and, by point
    and firm, takes ``label``, ``strategy`` and ``setting`` from ``runs``
    (labelled), as categories: what the Kaplan-Meier curves need, without a
    string per row. Otherwise the whole table, labelled from its own
    columns. Empty without the table (a folder written before it existed).
    """
    if not lean:
        frame = _read_table(folder, "relationships.parquet", False)
        return _label_frame(frame, extra) if len(frame) else frame
    path = folder / "relationships.parquet"
    if not path.exists():
        return pd.DataFrame()
    try:  # the firm as a dictionary: a code per row, not a string
        table = pq.read_table(path, columns=list(SURVIVAL_COLUMNS), read_dictionary=["firm"])
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ReportError(
            _("{path}: cannot be read as Parquet ({error})").format(path=path, error=error)
        ) from None
    firm = table.column("firm").combine_chunks()
    names = firm.dictionary.to_pylist()
    pair = table.column("point").to_numpy() * len(names) + firm.indices.to_numpy()
    pairs = np.flatnonzero(np.bincount(pair))  # the few point x firm pairs present
    place = np.zeros(pairs[-1] + 1 if pairs.size else 1, dtype=np.intp)
    place[pairs] = np.arange(pairs.size)
    row = place[pair]
    groups = runs.drop_duplicates(["point", "firm"]).set_index(["point", "firm"])
    found = groups.reindex(
        pd.MultiIndex.from_arrays([pairs // len(names), [names[i] for i in pairs % len(names)]])
    )
    frame = pd.DataFrame({c: table.column(c).to_numpy() for c in ("duration", "event", "entry")})
    for column in ("label", "strategy", "setting"):  # a category per pair, a code per row
        codes, categories = pd.factorize(found[column].astype(object))
        frame[column] = pd.Categorical.from_codes(codes[row], categories)
    return frame


def _cohort_counts(chunk: pa.Table, offset: int) -> tuple[pa.Table, int]:
    """:func:`analysis.retention.cohort_counts` of whole runs by point, firm and tenure, in Arrow.

    Also ``first``, the row (counted from the table's start, ``offset`` being
    this chunk's) where each group first appears. Returns the counts and the
    next chunk's offset.
    """
    rows = chunk.num_rows
    chunk = chunk.append_column("row", pa.array(np.arange(offset, offset + rows)))
    size = cohort_sizes(chunk)
    kept = size >= 1  # a cohort without a row at tenure 0 has no size (NaN) and is left out
    chunk = chunk.append_column("size", pa.array(np.where(kept, size, 0).astype(np.int64)))
    counts = (
        chunk.filter(pa.array(kept))
        .group_by(["point", "firm", "tenure"])
        .aggregate(
            [
                ("active", "sum"),
                ("size", "sum"),
                ("tenure", "count", pc.CountOptions(mode="all")),
                ("row", "min"),
            ]
        )
    )
    named = _named(counts, "active_sum", "size_sum", "tenure_count", "row_min")
    return named, offset + rows


def cohort_sizes(chunk: pa.Table) -> np.ndarray:
    """Each row's cohort size: ``active`` at tenure 0 of its cohort (NaN if it has no such row).

    A cohort is one firm of one run (``point``, ``replication``, ``firm``,
    ``cohort``); if it has several rows at tenure 0, the largest counts. Found
    in numpy by an integer key per cohort: joining the chunk with its own
    tenure-0 rows (as Arrow does) took most of the time the report spent reading.
    """
    firm = chunk.unify_dictionaries().column("firm")
    if pa.types.is_dictionary(firm.type):
        codes = np.concatenate(
            [np.empty(0, np.int64)]
            + [c.indices.to_numpy(zero_copy_only=False) for c in firm.chunks]
        ).astype(np.int64)
    else:
        codes = pd.factorize(firm.to_numpy(zero_copy_only=False))[0].astype(np.int64)
    key = chunk.column("point").to_numpy().astype(np.int64)
    for name in ("replication", "firm", "cohort"):
        part = codes if name == "firm" else chunk.column(name).to_numpy().astype(np.int64)
        key = key * (int(part.max(initial=0)) + 1) + part
    tenure = chunk.column("tenure").to_numpy()
    active = chunk.column("active").to_numpy().astype(np.int64)
    cohorts, sizes = key[tenure == 0], active[tenure == 0]
    order = np.lexsort((sizes, cohorts))  # by cohort, its largest size last
    cohorts, sizes = cohorts[order], sizes[order]
    last = np.append(cohorts[1:] != cohorts[:-1], True)[: cohorts.size]
    cohorts, sizes = cohorts[last], sizes[last]
    size = np.full(key.size, np.nan)
    if cohorts.size:
        found = np.searchsorted(cohorts, key).clip(max=cohorts.size - 1)
        hit = cohorts[found] == key
        size[hit] = sizes[found[hit]]
    return size


def _named(counts: pa.Table, *aggregates: str) -> pa.Table:
    """Arrow's aggregate columns (``aggregates``, in order) named as the pooled counts."""
    names = dict(zip(aggregates, [*COUNTS, "first"], strict=True))
    counts = counts.rename_columns([names.get(c, c) for c in counts.column_names])
    return counts.select(["point", "firm", "tenure", *COUNTS, "first"])


def _add_counts(pooled: pa.Table | None, counts: pa.Table) -> pa.Table:
    """Two tables of pooled cohort counts added up (by point, firm and tenure)."""
    if pooled is None:
        return counts
    both = pa.concat_tables([pooled, counts.cast(pooled.schema)])
    added = both.group_by(["point", "firm", "tenure"]).aggregate(
        [(c, "sum") for c in COUNTS] + [("first", "min")]
    )
    return _named(added, "active_sum", "size_sum", "cohorts_sum", "first_min")


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: the same document, read 7x faster (a policy
sweep's ``scenario.resolved.yaml`` holds every point's whole configuration)."""

REPORT_TIMESERIES_COLUMNS = (
    "run_id",
    "point",
    "replication",
    "period",
    "firm",
    "strategy",
    "setting",
    *plots.STAGE_COLOURS,
    *(f"defections_{stage}" for stage in money.ACTIVE_STAGES),
    "customers_start",
    "retained",
    "defections",
    *retention.REASONS,
    "exits_from_decline",
    *retention.TRAJECTORIES,
    "satisfied_defectors",
    "discounted_profit",  # the decision table's payback period (LEDGER_MONEY)
    "discounted_policy_cost",
)
"""Columns of ``timeseries.parquet`` the report reads (with the swept columns)."""


def load_results(
    folder: Path, *, lean: bool = False, workers: render.Renderer | None = None
) -> Results:
    """Read a results folder; raise :class:`ReportError` if it is not one.

    Needs ``runs.parquet``, ``timeseries.parquet`` and ``scenario.resolved.yaml``;
    ``cohorts``, ``customers``, ``relationships`` and ``policies.parquet`` are used when
    present.

    ``lean`` (what the report reads): ``timeseries`` holds only
    :data:`REPORT_TIMESERIES_COLUMNS` and the swept columns, and ``cohorts``
    is empty when the folder has ``relationships.parquet`` (the report's
    survival curves come from it), else holds the cohort counts pooled over
    runs (:func:`pooled_cohorts`), not a row per run x firm x cohort x tenure;
    memory then grows with the runs' periods and firms, not with their
    cohorts. Without it every table is read whole (the transaction export
    compares whole timeseries). With ``workers``
    (:class:`analysis.render.Renderer`), the cohort counts are pooled by a
    worker while this process reads the other tables.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ReportError(_("{folder}: no such folder").format(folder=folder))
    if not folder.is_dir():
        raise ReportError(
            _("{folder}: not a folder (give the results folder of a run)").format(folder=folder)
        )
    runs = _read_table(folder, "runs.parquet", True)
    resolved_path = folder / "scenario.resolved.yaml"
    if not resolved_path.exists():
        raise ReportError(
            _(
                "{folder}: no scenario.resolved.yaml; is this a results folder "
                "written by 'run.py run'?"
            ).format(folder=folder)
        )
    try:
        resolved = yaml.load(resolved_path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        configs = {int(p["point"]): Config.model_validate(p["config"]) for p in resolved["points"]}
        sweep_paths = list(resolved.get("sweep_paths") or [])
        hurdle_rate = float((resolved.get("report") or {}).get("hurdle_rate", 0.0))
        lang = i18n.check_language((resolved.get("report") or {}).get("lang", i18n.DEFAULT))
    except Exception as error:
        raise ReportError(
            _("{path}: cannot be read ({error})").format(path=resolved_path, error=error)
        ) from None
    missing = {
        "run_id",
        "point",
        "replication",
        "seed",
        "firm",
        "strategy",
        "setting",
        "retention_rate",
        "customer_equity",
    } - set(runs.columns)
    if missing:
        raise ReportError(
            _(
                "{path}: missing columns {columns}; was it written by an older crm-sim? "
                "run the scenario again"
            ).format(path=folder / "runs.parquet", columns=", ".join(sorted(missing)))
        )
    if runs.empty:
        raise ReportError(_("{path}: holds no runs").format(path=folder / "runs.parquet"))
    pooling = None  # without relationships.parquet, the survival curves come from cohorts
    if lean and not (folder / "relationships.parquet").exists():
        # the largest table, pooled meanwhile (in a worker if there is one)
        identity = dict.fromkeys(("point", "firm", "strategy", "setting", *sweep_paths))
        groups = runs[[c for c in identity if c in runs.columns]].drop_duplicates(["point", "firm"])
        workers = workers if workers is not None else render.Renderer(workers=1)
        pooling = workers.call(pooled_cohorts, folder, groups, sweep_paths)
    columns = (*REPORT_TIMESERIES_COLUMNS, *sweep_paths) if lean else None
    timeseries = _read_table(folder, "timeseries.parquet", True, columns)
    extra = grouping_paths(sweep_paths)
    labelled = _label_frame(runs, extra)
    if not lean:
        cohorts = _read_table(folder, "cohorts.parquet", False)
    else:
        cohorts = pooling.result() if pooling is not None else pd.DataFrame()
    results = Results(
        folder=folder,
        name=str(resolved.get("name") or folder.name),
        description=str(resolved.get("description") or ""),
        runs=labelled,
        timeseries=_label_frame(timeseries, extra),
        cohorts=_label_frame(cohorts, extra),
        customers=_label_frame(_read_table(folder, "customers.parquet", False), extra),
        policies=_label_frame(_read_table(folder, "policies.parquet", False), extra),
        configs=configs,
        sweep_paths=sweep_paths,
        hurdle_rate=hurdle_rate,
        lang=lang,
        relationships=labelled_relationships(folder, labelled, lean, extra),
    )
    results.keys = ["label", "setting"]
    return results


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


def ci_table(runs: pd.DataFrame, keys, outcomes) -> pd.DataFrame:
    """Mean and 95% CI over runs of each outcome per group (firms of a group averaged per run)."""
    keys = list(keys)
    outcomes = [o for o in outcomes if o in runs.columns]
    per_run = runs.groupby([*keys, "run_id"], sort=False)[outcomes].mean()
    rows = []
    for group, frame in per_run.groupby(level=keys, sort=False):
        row = dict(zip(keys, group, strict=True))
        row["runs"] = len(frame)
        for name in outcomes:
            _n, row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(frame[name])
        rows.append(row)
    return pd.DataFrame(rows)


TOO_FEW = N_(
    "*n/a: too few data for this number: no event of its kind in these runs (no "
    "defection, no relationship ending in that stage, no cohort), a single "
    "replication (no interval), or runs shorter than a year (no annual figure).*"
)


def _fmt(value, digits: int) -> str:
    """A number with thousands groups, in the language in force's symbols (CLDR, Babel)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if digits == 0:
        return i18n.localize(f"{value:,.0f}")
    return i18n.localize(f"{value:,.{digits}f}")


def _with_ci(row, name: str, digits: int) -> str:
    mean, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
    if pd.isna(low):
        return _fmt(mean, digits)
    return f"{_fmt(mean, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def verdicts(
    table: pd.DataFrame, outcome: str, label: str, digits: int, higher: str = "highest"
) -> list[str]:
    """One sentence per setting: which cell leads on ``outcome`` and whether clearly.

    Clearly: its 95% CI lies above the runner-up's; otherwise the CIs overlap
    and the lead may be noise. ``label`` is English (translated here); the
    groups' course terms (setting, strategy) are named by the glossary.
    """
    leads = {
        "highest": _("**{setting}**: {leader} has the highest {outcome} ({value})"),
        "lowest": _("**{setting}**: {leader} has the lowest {outcome} ({value})"),
    }[higher]
    ahead = _(", clearly ahead of {second} (the 95% CIs do not overlap)")
    overlap = _(
        "; {second} is close ({value}: the CIs overlap, so the ranking of these two is not certain)"
    )
    full_stop, outcome_name = _("."), _(label)
    sentences = []
    for setting, rows in table.groupby("setting", sort=False):
        rows = rows.dropna(subset=[outcome]).sort_values(outcome, ascending=False)
        if rows.empty:
            continue
        best = rows.iloc[0]
        text = leads.format(
            setting=_term(setting),
            leader=_term(best["label"]),
            outcome=outcome_name,
            value=_with_ci(best, outcome, digits),
        )
        if len(rows) > 1:
            second = rows.iloc[1]
            clear = (
                not pd.isna(best[f"{outcome}_low"])
                and best[f"{outcome}_low"] > second[f"{outcome}_high"]
            )
            close = _with_ci(second, outcome, digits)
            text += (
                ahead.format(second=_term(second["label"]))
                if clear
                else overlap.format(second=_term(second["label"]), value=close)
            )
        sentences.append(text + full_stop)
    return sentences


def stage_series(timeseries: pd.DataFrame, keys) -> pd.DataFrame:
    """Mean customers per stage and period of each group (over runs and firms)."""
    stages = list(plots.STAGE_COLOURS)
    frame = timeseries.groupby([*keys, "period"], sort=False)[stages].mean().reset_index()
    frame["panel"] = frame["label"] + " | " + frame["setting"]
    return frame


def reference_retention(timeseries: pd.DataFrame, keys) -> pd.DataFrame:
    """Pooled period retention of each group (the ``r`` of the geometric reference curve)."""
    counts = timeseries[[*keys, "retained", "customers_start"]]  # not every column's rows
    later = counts[(timeseries["period"] >= 1).to_numpy()]
    sums = later.groupby(list(keys), sort=False)[["retained", "customers_start"]].sum()
    sums["retention"] = sums["retained"] / sums["customers_start"].replace(0, np.nan)
    return sums[["retention"]].reset_index()


def firm_value_table(results: Results) -> pd.DataFrame:
    """Firm value at 100%, 80% and 50% of the resources serving every customer would need.

    From ``customers.parquet`` (replication 0 of each point); mean over the
    firms of each group.
    """
    customers = results.customers
    if customers.empty:
        return pd.DataFrame()
    # groups as row positions, in the order they first appear (a sub-frame per group cost
    # more than the knapsacks); each group's firms in its point's configured order
    code = customers.groupby(["point", "label", "setting"], sort=False).ngroup().to_numpy()
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(code.max(initial=-1) + 2))
    point, label, setting = (customers[c].to_numpy() for c in ("point", "label", "setting"))
    firm = customers["firm"].astype(object).to_numpy()
    clv = customers["total_clv"].to_numpy()
    rows = []
    for start, end in itertools.pairwise(bounds):
        members = order[start:end]
        first = members[0]
        config = results.configs.get(int(point[first]))
        if config is None:
            continue
        frame = pd.DataFrame({"firm": firm[members], "total_clv": clv[members]})
        curve = money.firm_value_curve(frame, config)
        present = curve["firm"].isin(set(firm[members])).to_numpy()
        share = curve["resource_share"].to_numpy()[present]
        values = {c: curve[c].to_numpy()[present] for c in ("firm_value", "unconstrained_value")}
        for level in np.unique(share):  # ascending, as a groupby by share
            here = share == level
            rows.append(
                {
                    "label": label[first],
                    "setting": setting[first],
                    "resource_share": level,
                    **{c: pd.Series(v[here]).mean() for c, v in values.items()},
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# ROI against a baseline folder, and the policy comparison inside one folder
# ---------------------------------------------------------------------------


ROI_DEFINITION = N_(
    "ROI = (D - S) / S as finance defines it: S is the policies' discounted spend, D the "
    "discounted change in gross contribution (customer equity before policy spend), so "
    "D - S is the change in customer equity; over the replications, sum(D - S) / sum(S), "
    "with a 95% interval (delta method) and a paired t-test of D - S (p)."
)
"""How the report defines the ROI of a policy (see :func:`analysis.money.policy_returns`)."""


def _pair_summary(pairs: pd.DataFrame, keys) -> pd.DataFrame:
    """Per group: ROI as finance defines it over paired runs, and the incremental outcomes.

    Each run's firms are summed (a run is one replication); the ROI, its
    interval and the paired test are :func:`analysis.money.roi_estimate`'s
    over the runs, the other columns means with t-intervals.
    """
    returns = money.policy_returns(pairs)
    pairs = pairs.assign(
        spent=returns["spend"],
        incremental_equity=returns["incremental_equity"],
        incremental_retention=money.incremental(pairs, "retention_rate"),
    )
    grouped = pairs.groupby([*keys, "run_id"], sort=False)
    per_run = grouped[["spent", "incremental_equity", "incremental_retention"]].sum()
    per_run["incremental_retention"] /= grouped.size()
    rows = []
    for group, frame in per_run.groupby(level=list(keys), sort=False):
        row = dict(zip(keys, group if isinstance(group, tuple) else (group,), strict=True))
        row.update(money.roi_estimate(frame["incremental_equity"], frame["spent"]))
        for name in ("incremental_equity", "incremental_retention", "spent"):
            _n, row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(frame[name])
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_roi(results: Results, baseline: Results) -> tuple[pd.DataFrame, bool]:
    """CRM ROI of every group of ``results`` against ``baseline``, paired by seed and firm.

    Returns:
        The per-group summary and whether the pairs share seeds (common random numbers).
    """
    columns = [
        "seed",
        "firm",
        "setting",
        "replication",
        "policy_cost",
        "customer_equity",
        "retention_rate",
    ]
    try:
        pairs = money.paired_runs(results.runs, baseline.runs[columns])
    except ValueError as error:
        raise ReportError(f"{results.folder} against {baseline.folder}: {error}") from None
    return _pair_summary(pairs, ["label", "setting"]), bool(pairs["common_random_numbers"].all())


def focus_firms(results: Results) -> set[str]:
    """Names of the firms whose policies are swept (empty if none are)."""
    names = set()
    for path in results.sweep_paths:
        match = POLICY_PATH.fullmatch(path)
        if match:
            index = int(match.group(1))
            names |= {
                cfg.firms[index].name for cfg in results.configs.values() if index < len(cfg.firms)
            }
    return names


def policy_pairs(results: Results) -> pd.DataFrame | None:
    """Each run of a swept policy set paired with the same run without policies.

    The baseline of a point is the point with the same values except that
    the policy path's value is an empty list (``none``) or, in a budget
    sweep without one, policies whose budgets are all 0 (:func:`spends_nothing`:
    the same runs); runs pair by
    replication and firm. Policy paths do not enter the run seeds
    (:func:`experiments.sweep.plan_runs`), so the pairs share their random
    numbers and their difference is the policies' effect. Only the firm whose
    policies are swept is compared.

    Returns:
        One row per paired run x firm: the run's columns, ``policy`` (its
        label) and the baseline's ``run_id``, ``seed``, ``policy_cost``,
        ``customer_equity`` and ``retention_rate`` suffixed ``_baseline``;
        None if no sweep path sets a firm's policies.

    Raises:
        ReportError: no point spends nothing, or a run has no baseline run.
    """
    paths = [p for p in results.sweep_paths if POLICY_PATH.fullmatch(p)]
    if not paths:
        return None
    path = paths[0]
    index = int(POLICY_PATH.fullmatch(path).group(1))
    others = [p for p in results.sweep_paths if p != path]
    runs = results.runs.copy()
    focus = {cfg.firms[index].name for cfg in results.configs.values() if index < len(cfg.firms)}
    runs = runs[runs["firm"].isin(focus)]
    runs["policy"] = policy_labels(runs[path])
    idle = runs[path].map(spends_nothing)
    if not idle.any():
        raise ReportError(
            _(
                "{folder}: {path} is swept but no point has an empty policy list ([]) or "
                "zero budgets, the baseline every policy is compared against"
            ).format(folder=results.folder, path=path)
        )
    labels = list(dict.fromkeys(runs.loc[idle, "policy"]))
    base = runs[runs["policy"] == ("none" if "none" in labels else labels[0])]
    on = [*others, "replication", "firm"]
    treated = runs[~idle]
    pairs = treated.merge(
        base[[*on, "run_id", "policy_cost", "customer_equity", "retention_rate", "seed"]],
        on=on,
        suffixes=("", "_baseline"),
    )
    try:
        money.require_pairs(treated, pairs, on)
    except ValueError as error:
        raise ReportError(f"{results.folder}: {error}") from None
    return pairs


def policy_comparison(results: Results) -> pd.DataFrame | None:
    """Each swept policy set against the same scenario without policies (:func:`policy_pairs`).

    Returns:
        The per-(policy, setting) summary with ``policy`` and ``firm`` columns,
        or None if no sweep path sets a firm's policies.
    """
    pairs = policy_pairs(results)
    if pairs is None or pairs.empty:
        return None
    summary = _pair_summary(pairs, ["policy", "setting", "firm"])
    summary["common_random_numbers"] = bool((pairs["seed"] == pairs["seed_baseline"]).all())
    return summary


def budget_decision(results: Results) -> pd.DataFrame | None:
    """The decision table of a policy sweep (:func:`analysis.decision.decision_table`).

    Each paired run (:func:`policy_pairs`) is split into its policy and
    budget level (:func:`analysis.decision.policy_and_budget`); groups are the
    setting, any other swept path, the firm and the policy; the hurdle is the
    scenario's ``report.hurdle_rate``. Adds ``payback_period`` from the
    per-period ledger when the timeseries has its discounted columns.

    Returns:
        The table, or None if no sweep path sets a firm's policies.
    """
    pairs = policy_pairs(results)
    if pairs is None or pairs.empty:
        return None
    path = next(p for p in results.sweep_paths if POLICY_PATH.fullmatch(p))
    returns = money.policy_returns(pairs)
    levels = pairs[path].map(decision.policy_and_budget)
    pairs = pairs.assign(
        spend=returns["spend"],
        incremental_equity=returns["incremental_equity"],
        policy=levels.str[0],
        budget=levels.str[1],
    )
    others = [p for p in results.sweep_paths if p not in (path, "market.setting")]
    keys = ["setting", *others, "firm", "policy"]
    table = decision.decision_table(pairs, keys, results.hurdle_rate)
    ledger = _paired_ledger(results.timeseries, pairs, [*keys, "budget"])
    if ledger is None:
        return table.assign(payback_period=None)
    return table.merge(decision.payback_periods(ledger, [*keys, "budget"]), how="left")


LEDGER_MONEY = ("discounted_profit", "discounted_policy_cost")
"""The per-period ledger columns the payback period needs."""


def _paired_ledger(timeseries: pd.DataFrame, pairs: pd.DataFrame, keys) -> pd.DataFrame | None:
    """Per paired run and period: incremental gross contribution and spend (discounted).

    Gross contribution is the ledger's discounted profit before policy
    spend; None for a folder whose timeseries lacks the columns.
    """
    if not set(LEDGER_MONEY) <= set(timeseries.columns):
        return None
    columns = ["run_id", "firm", "period", *LEDGER_MONEY]
    ledger = timeseries.loc[timeseries["firm"].isin(pairs["firm"].unique()), columns]
    ledger = ledger.assign(gross=ledger["discounted_profit"] + ledger["discounted_policy_cost"])
    ledger = ledger[["run_id", "firm", "period", "gross", "discounted_policy_cost"]]
    runs = pairs[list(dict.fromkeys([*keys, "firm", "run_id", "run_id_baseline"]))]
    paired = runs.merge(ledger, on=["run_id", "firm"]).merge(
        ledger.rename(columns={"run_id": "run_id_baseline"}),
        on=["run_id_baseline", "firm", "period"],
        suffixes=("", "_baseline"),
    )
    return paired.assign(
        gross_gain=paired["gross"] - paired["gross_baseline"],
        spend=paired["discounted_policy_cost"] - paired["discounted_policy_cost_baseline"],
    )


def policy_activity(results: Results) -> pd.DataFrame:
    """Per policy, mean per run: spend, touched, recoveries, win-backs, budget-out share."""
    policies = results.policies
    if policies.empty:
        return pd.DataFrame()
    paths = [p for p in results.sweep_paths if POLICY_PATH.fullmatch(p)]
    frame = policies.copy()
    frame["policy set"] = policy_labels(frame[paths[0]]) if paths else frame["label"]
    grouped = frame.groupby(["policy set", "setting", "firm", "policy"], sort=False)
    return grouped.agg(
        runs=("run_id", "nunique"),
        spend=("spend", "mean"),
        touched=("touched", "mean"),
        recovered=("recovered", "mean"),
        won_back=("won_back", "mean"),
        budget_exhausted_share=("budget_exhausted_share", "mean"),
    ).reset_index()


# ---------------------------------------------------------------------------
# The document: blocks rendered to Markdown and HTML
# ---------------------------------------------------------------------------


@dataclass
class Figure:
    """A figure of the report: file name, title, one-line caption, and its drawing.

    ``png`` waits for the drawing (:class:`analysis.render.Renderer`) and returns
    the PNG bytes; if a worker process died, the figure is drawn here.
    """

    name: str
    title: str
    caption: str
    plot: render.Plot = field(repr=False)
    drawing: concurrent.futures.Future = field(repr=False)

    @property
    def png(self) -> bytes:
        """The PNG bytes (drawn here if the worker drawing them died)."""
        try:
            return self.drawing.result()
        except concurrent.futures.process.BrokenProcessPool:
            self.drawing = concurrent.futures.Future()
            self.drawing.set_result(render.png(self.plot))
            return self.drawing.result()


class TermCells:
    """``cell in TermCells()``: whether a cell is a course term or a label starting with one."""

    def __init__(self):
        glossary = i18n.glossary().values()
        self.forms = {form for e in glossary for form in (e["en"], e.get("data", e["en"]))}

    def __contains__(self, cell: str) -> bool:
        return cell.partition(", ")[0] in self.forms


class Document:
    """A list of blocks (headings, paragraphs, tables, figures) with two renderers."""

    def __init__(self, renderer: render.Renderer | None = None, lang: str | None = None):
        self.lang = i18n.check_language(lang or i18n.current())
        # the data's course terms, and group labels that start with one, are named per language
        self.terms = TermCells()
        self.blocks: list[tuple] = []
        self.figures: list[Figure] = []
        self.renderer = renderer if renderer is not None else render.Renderer(workers=1)
        self.started: dict[str, tuple[render.Plot, concurrent.futures.Future]] = {}

    def heading(self, text: str, level: int = 2) -> None:
        """A heading (level 1 is the title)."""
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        """A paragraph (``**bold**``, ``*italic*`` and backquoted code are kept in HTML)."""
        self.blocks.append(("paragraph", text))

    def bullets(self, items) -> None:
        """A bulleted list (nothing if empty)."""
        items = list(items)
        if items:
            self.blocks.append(("bullets", items))

    def table(self, header: list[str], rows: list[list[str]], note: str | None = TOO_FEW) -> None:
        """A table of already formatted cells.

        A cell that reads ``n/a`` has no number; ``note`` (by default :data:`TOO_FEW`)
        follows the table and says why, so that no section shows a bare gap.
        """
        if self.lang != i18n.DEFAULT:  # the course's terms (settings, strategies) in the cells
            rows = [[_term(cell) if cell in self.terms else cell for cell in row] for row in rows]
        self.blocks.append(("table", header, rows))
        if note and any(cell.startswith("n/a") for row in rows for cell in row):
            self.paragraph(_(note))

    def start(self, name: str, plot: render.Plot) -> None:
        """Start drawing figure ``name`` now; :meth:`figure` places it later.

        For the figures that take longest to draw: started before the tables
        are computed, they keep the workers busy from the start and do not
        finish last.
        """
        self.started[name] = (plot, self.renderer.submit(plot, self.lang))

    def figure(self, name: str, plot: render.Plot | None, title: str, caption: str) -> None:
        """A figure with its file name and caption; ``plot`` draws it (see :mod:`analysis.render`).

        ``plot`` is a function without arguments that returns a matplotlib
        figure, e.g. ``partial(plots.lorenz, customers, panel="setting", ...)``;
        the document's renderer starts drawing it at once, here or in a worker.
        None for a figure :meth:`start` began.
        """
        if plot is None:
            plot, drawing = self.started.pop(name)
        else:
            drawing = self.renderer.submit(plot, self.lang)
        figure = Figure(name, title, caption, plot, drawing)
        self.figures.append(figure)
        self.blocks.append(("figure", figure))

    def markdown(self) -> str:
        """The document as Markdown; figures link to ``figures/<name>``."""
        lines = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                lines += ["#" * block[1] + " " + block[2], ""]
            elif kind == "paragraph":
                lines += [block[1], ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                header, rows = block[1], block[2]
                lines.append("| " + " | ".join(header) + " |")
                lines.append("|" + "|".join("---" for _ in header) + "|")
                lines += ["| " + " | ".join(row) + " |" for row in rows]
                lines.append("")
            elif kind == "figure":
                fig = block[1]
                lines += [f"![{fig.title}](figures/{fig.name})", "", f"*{fig.caption}*", ""]
        return "\n".join(lines)

    def html(self, title: str) -> str:
        """The document as one self-contained HTML page (figures embedded as base64 PNG)."""

        def inline(text: str) -> str:
            text = html.escape(text)
            text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
            text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
            return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)

        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                body.append(f"<h{block[1]}>{inline(block[2])}</h{block[1]}>")
            elif kind == "paragraph":
                body.append(f"<p>{inline(block[1])}</p>")
            elif kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{inline(h)}</th>" for h in block[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>"
                    for row in block[2]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "figure":
                fig = block[1]
                data = base64.b64encode(fig.png).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(fig.title)}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{inline(fig.caption)}</figcaption></figure>"
                )
        fonts = (  # Chinese: the usual CJK fonts of Windows, macOS and Linux before the fallback
            "system-ui,sans-serif"
            if self.lang == i18n.DEFAULT
            else 'system-ui,"PingFang SC","Microsoft YaHei","Noto Sans SC","Noto Sans CJK SC",'
            "sans-serif"
        )
        style = (
            f"body{{font-family:{fonts};max-width:1150px;margin:2em auto;"
            "padding:0 1em;color:#222;line-height:1.45}"
            "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
            "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:right}"
            "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
            "img{max-width:100%}figure{margin:1.5em 0}"
            "figcaption{font-style:italic;color:#444}code{background:#f3f3f3}"
        )
        if self.lang != i18n.DEFAULT:  # a group's short CJK name would wrap a character a line
            style += "td:nth-child(-n+2),th:nth-child(-n+2){white-space:nowrap}"
        return (
            f'<!DOCTYPE html>\n<html lang="{self.lang}"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{style}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


# ---------------------------------------------------------------------------
# Building the report
# ---------------------------------------------------------------------------


def _ci_rows(table: pd.DataFrame, outcomes, keys=("label", "setting")) -> tuple[list, list]:
    header = [
        *_columns(keys),
        _("runs"),
        *[_("{outcome} (95% CI)").format(outcome=_(label)) for _o, label, _d in outcomes],
    ]
    rows = []
    for _i, row in table.iterrows():
        rows.append(
            [str(row[k]) for k in keys]
            + [str(row["runs"])]
            + [_with_ci(row, name, digits) for name, _label, digits in outcomes]
        )
    return header, rows


def _share(value) -> str:
    return "n/a" if pd.isna(value) else i18n.localize(f"{value:.1%}")


def _budget(value) -> str:
    return _("unlimited") if not np.isfinite(value) else f"{value:g}"


def _payback(value) -> str:
    if value is None or pd.isna(value):
        return _("not within the run")
    return _("period {period}").format(period=int(value))


def _next_step(row) -> str:
    """The marginal ROI of a row's next budget step, or why there is none."""
    if pd.isna(row["next_extra_spend"]):
        return _("top level")
    if row["next_extra_spend"] <= 0:
        return _("n/a (spends no more)")
    return _with_ci(row, "next_roi", 2)


def _headline(table: pd.DataFrame, strategies: dict, hurdle: float) -> list[str]:
    """One sentence per setting: the firm, the policy and budget to choose, and what it returns.

    Of the recommended levels, the one that adds the most customer equity
    (ROI ranks returns per unit spent, not size).
    """
    sentences = []
    for setting, rows in table.groupby("setting", sort=False):
        firms = ", ".join(
            f"{f} ({_term(strategies.get(f, '?'))})" for f in dict.fromkeys(rows["firm"])
        )
        chosen = rows[rows["recommended"]]
        if chosen.empty:
            sentences.append(
                _(
                    "**{setting}**: no policy and budget of firm {firms} has a marginal ROI "
                    "whose lower 95% bound exceeds the hurdle rate of {hurdle}: keep the "
                    "policy budget at 0."
                ).format(setting=_term(setting), firms=firms, hurdle=f"{hurdle:g}")
            )
            continue
        best = chosen.loc[chosen["incremental_equity"].idxmax()]
        among = (
            _(" (of the {n} recommended, the one that adds the most equity)").format(n=len(chosen))
            if len(chosen) > 1
            else ""
        )
        sentences.append(
            _(
                "**{setting}**: firm {firm} ({strategy}) should run {policy} at a budget of "
                "{budget} per period{among}: it adds {equity} of customer equity for {spend} "
                "of discounted spend, ROI {roi}, "
            ).format(
                setting=_term(setting),
                firm=best["firm"],
                strategy=_term(strategies.get(best["firm"], "?")),
                policy=best["policy"],
                budget=_budget(best["budget"]),
                among=among,
                equity=_with_ci(best, "incremental_equity", 0),
                spend=_fmt(best["spend"], 0),
                roi=_with_ci(best, "roi", 2),
            )
            + (
                _("and pays back in period {period}.").format(period=int(best["payback_period"]))
                if pd.notna(best["payback_period"])
                else _(
                    "but does not pay back within the run (the ROI counts the customers' "
                    "value after it)."
                )
            )
        )
    return sentences


def decision_section(doc: Document, results: Results, table: pd.DataFrame) -> None:
    """The report's opening for a policy sweep: headline, decision table, response curves."""
    hurdle = results.hurdle_rate
    strategies = dict(zip(results.runs["firm"], results.runs["strategy"], strict=True))
    yes = _("**yes**")
    doc.heading(_("Decision: which policy, at what budget"))
    for sentence in _headline(table, strategies, hurdle):
        doc.paragraph(sentence)
    doc.table(
        [
            _("setting"),
            _("firm"),
            _("policy"),
            _("budget"),
            _("pairs"),
            _("incremental equity D - S (95% CI)"),
            _("spend S (95% CI)"),
            _("ROI (95% CI)"),
            _("marginal ROI of the next step (95% CI)"),
            _("payback"),
            _("recommended"),
        ],
        [
            [
                str(r["setting"]),
                str(r["firm"]),
                str(r["policy"]),
                _budget(r["budget"]),
                str(r["pairs"]),
                _with_ci(r, "incremental_equity", 0),
                _with_ci(r, "spend", 0),
                _with_ci(r, "roi", 2),
                _next_step(r),
                _payback(r["payback_period"]),
                yes if r["recommended"] else "",
            ]
            for _i, r in table.iterrows()
        ],
    )
    without = [
        f"{_term(setting)}, {policy}"
        for (setting, policy), rows in table.groupby(["setting", "policy"], sort=False)
        if not rows["recommended"].any()
    ]
    if without:
        doc.paragraph(
            _("No level qualifies (keep the budget at 0) for: {rows}.").format(
                rows="; ".join(without)
            )
        )
    doc.paragraph(
        _(
            "How to read the table: per policy and budget level (per period), against the same "
            "replications without "
            "the policy: the incremental customer equity D - S and the discounted spend S "
            "(means with 95% intervals), the ROI (D - S) / S, the **marginal ROI of the next "
            "budget step** (the extra D - S of the next level over its extra spend, paired "
            "replication by replication) and the **payback period** (the first period at "
            "which the cumulative discounted incremental gross contribution of the ledger "
            "covers the cumulative discounted spend; the ROI also counts the customers' "
            "projected value after the run). A level is worth buying when the step into it "
            "pays: from no policy, that step's marginal ROI is the level's ROI; from the level "
            "below, it is that row's next step. The **recommended budget** is the largest "
            "level reached by a step whose marginal ROI has its lower 95% bound above the "
            "hurdle rate, {hurdle} (`report.hurdle_rate`, a ratio over the run like the ROI: "
            "the discounting already charges the cost of capital)."
        ).format(hurdle=f"{hurdle:g}")
    )
    doc.figure(
        "response_curves.png",
        partial(
            plots.response_curves,
            table,
            panel="setting",
            line="policy",
            title=_("Response curves: incremental equity against the budget"),
        ),
        _("Response curves"),
        _(
            "Each curve is one policy, from budget 0 (no policy); the band is the 95% interval "
            "of the mean over paired replications. Where a curve flattens, the next budget "
            "step buys little; the ringed point is the recommended budget."
        ),
    )


def survival_figure(doc: Document, results: Results, pick, order, only: str) -> None:
    """The survival curves: Kaplan-Meier from ``relationships.parquet``, with a 95% band.

    A folder written before the relationship table existed gets the older
    pooled cohort survival from ``cohorts.parquet`` instead (said so).
    """
    keys = results.keys
    longest = None
    if not results.relationships.empty:
        curves = retention.kaplan_meier(pick(results.relationships), keys=keys)
        curves = curves[(curves["at_risk"] > 0) | (curves["tenure"] == 0)]  # from S(0) = 1
        # beyond the run's clock the curve rests on a settled start's drawn tenures alone
        longest = max(
            (c.simulation.warm_up + c.simulation.periods for c in results.configs.values()),
            default=None,
        )
        title = _("Kaplan-Meier survival of relationships (95% band)") + only
        caption = _(
            "Share of relationships still going, by tenure (Kaplan-Meier over every "
            "relationship of replication 0 of each point, relationships.parquet; censored "
            "at the horizon, left-truncated after a warm-up or a settled start), up to "
            "tenure {longest}, the run's whole clock (warm-up and horizon). Higher curves "
            "keep their customers longer; where a solid curve flattens above its dashed "
            "constant-hazard curve, customers who stay become more loyal with tenure."
        ).format(longest=longest)
    else:
        curves = (
            retention.cohort_survival(pick(results.cohorts), keys=keys)
            if not results.cohorts.empty
            else pd.DataFrame()
        )
        title = _("Cohort survival: share of newly acquired customers still there") + only
        caption = _(
            "Pooled cohort survival (this folder has no relationships.parquet: run the "
            "scenario again for Kaplan-Meier curves). Higher curves keep their new customers "
            "longer; where a solid curve flattens above its dashed constant-hazard curve, "
            "customers who stay become more loyal with tenure."
        )
    if curves.empty:
        doc.paragraph(
            _(
                "**Survival**: too few data: no relationship to follow in these runs; "
                "more customers or periods give some."
            )
        )
        return
    doc.figure(
        "cohort_survival.png",
        partial(
            plots.survival_curves,
            curves,
            panel="setting",
            line="label",
            order=order,
            reference=reference_retention(results.timeseries, keys),
            title=title,
            max_tenure=longest,
        ),
        _("Survival"),
        caption,
    )


END_DETERMINANTS = ("satisfaction", "trust", "switching_cost")
"""The columns of ``customers.parquet`` the end-distribution figure draws."""


def start_slow_figures(doc: Document, results: Results, pick, order, only: str) -> None:
    """Start drawing the slowest figures, from the tables as read (:meth:`Document.start`).

    The stage composition (sixteen panels in a policy sweep), the end
    distributions and the CLV Lorenz curves: about half of the drawing time.
    Each is handed only the columns it draws (the customer table has 27).
    """
    keys = results.keys
    stages = results.timeseries[[*keys, "period", *plots.STAGE_COLOURS]]
    doc.start(
        "stages.png",
        partial(
            plots.stage_composition,
            stage_series(pick(stages), keys),
            panel="panel",
            title=_("Customers by lifecycle stage over time (per firm)") + only,
        ),
    )
    if results.customers.empty:
        return
    customers = results.customers
    doc.start(
        "end_distributions.png",
        partial(
            plots.end_distributions,
            pick(customers[["setting", "label", *END_DETERMINANTS]]),
            panel="setting",
            line="label",
            order=order,
            title=_(
                "Satisfaction, trust and switching cost of the customers at the end (replication 0)"
            ),
        ),
    )
    doc.start(
        "clv_lorenz.png",
        partial(
            plots.lorenz,
            pick(customers[["setting", "label", "total_clv"]]),
            panel="setting",
            line="label",
            order=order,
            title=_(
                "How concentrated is customer value? (total CLV of the customers at the "
                "end, replication 0)"
            ),
        ),
    )


def build(
    results: Results, baseline: Results | None = None, renderer: render.Renderer | None = None
) -> Document:
    """The whole report as a :class:`Document` (figures drawn by ``renderer``, nothing written).

    Without a renderer, figures are drawn here, one after the other.
    """
    doc = Document(renderer, i18n.current())
    keys = results.keys
    runs = results.runs
    outcomes = [o for o in SUMMARY_OUTCOMES if o[0] in runs.columns]
    table = ci_table(runs, keys, [o[0] for o in outcomes])
    n_runs = runs["run_id"].nunique()
    order = list(dict.fromkeys(runs["label"]))  # every figure lists and colours groups alike
    groups = list(dict.fromkeys(zip(runs["label"], runs["setting"], strict=True)))

    # when a firm's policies are swept, the figures show that firm only (its rivals are in
    # the tables); otherwise every group
    focus = focus_firms(results)
    shown = set(runs.loc[runs["firm"].isin(focus), "label"]) if focus else set(order)
    only = (
        _(" (firm {firms} only; its rivals are in the tables)").format(
            firms=", ".join(sorted(focus))
        )
        if focus
        else ""
    )

    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["label"].isin(shown)] if len(frame) else frame

    def ordered(index) -> list:  # a table's (label, setting) rows in the main table's order
        present = set(index)
        return [g for g in groups if g in present]

    start_slow_figures(doc, results, pick, order, only)

    replications = runs.groupby("point")["run_id"].nunique()

    doc.heading(_("Report: {name}").format(name=results.name), 1)
    if results.description:
        doc.paragraph(results.description.strip())
    decision_table = budget_decision(results)
    if decision_table is not None and not decision_table.empty:
        decision_section(doc, results, decision_table)
    each = (
        f"{replications.min()}"
        if replications.min() == replications.max()
        else f"{replications.min()}-{replications.max()}"
    )
    doc.paragraph(
        _(
            "{runs} runs ({points} sweep points, {each} replications each). A **group** "
            "is one strategy in one setting (and at one value of any other swept "
            "parameter); firms of a group in the same run are averaged, so each run counts "
            "once. Intervals are 95% confidence intervals of the mean over replications "
            "(Student t). Money is in the model's money units, discounted to period 0; "
            "one period is one month."
        ).format(runs=n_runs, points=len(replications), each=each)
    )
    periods = min((c.simulation.periods for c in results.configs.values()), default=0)
    if periods < 12:  # annual retention and lifetime need a year of each run
        doc.paragraph(
            i18n.ngettext(
                "**Too few data for annual figures**: the runs measure {periods} period, "
                "less than a year, so annual retention and expected lifetime are n/a; run 12 "
                "periods or more to measure them.",
                "**Too few data for annual figures**: the runs measure {periods} periods, "
                "less than a year, so annual retention and expected lifetime are n/a; run 12 "
                "periods or more to measure them.",
                periods,
            ).format(periods=periods)
        )

    doc.heading(_("Which strategy wins where"))
    # in a policy sweep a rival's rows carry the focus firm's policies in their label: the
    # sentences compare the focus firm's groups only, or they would name a rival
    leaders = pick(table)
    if focus:
        doc.paragraph(
            _(
                "Firm {firms}'s policy sets compared (its policies are swept; a rival's rows "
                "in the table are labelled with the policies of the point they ran in, not "
                "their own):"
            ).format(firms=", ".join(sorted(focus)))
        )
    doc.bullets(verdicts(leaders, "customer_equity", "customer equity", 0))
    if "annual_retention" in table.columns:
        doc.bullets(verdicts(leaders, "annual_retention", "annual retention", 3))
    else:  # a folder written before annual retention was measured
        doc.bullets(verdicts(leaders, "retention_rate", "monthly retention", 4))
    header, rows = _ci_rows(table, outcomes)
    doc.table(header, rows)
    doc.paragraph(
        _(
            "How to read it: compare groups within a setting; where two intervals do not "
            "overlap the difference is unlikely to be noise. Definitions are in "
            'docs/analysis.md, section "Reading the report".'
        )
    )
    markets = winners.winner_map(runs, results.sweep_paths)
    if len(markets) > 2:  # a map of markets, not just the two settings
        doc.heading(_("Where each strategy wins"), 3)
        described = [c for c in markets.columns if c not in winners.WINNER_COLUMNS]
        yes_no = {True: _("yes"), False: _("no")}
        doc.table(
            [
                *described,
                _("setting"),
                _("winner"),
                _("customer equity"),
                _("runner-up"),
                _("margin over runner-up [95% CI]"),
                _("clear"),
            ],
            [
                [
                    *(str(r[c]) for c in described),
                    r["setting"],
                    r["winner"],
                    _fmt(r["equity"], 0),
                    r["runner_up"] or "",
                    f"{_fmt(r['margin'], 0)} [{_fmt(r['margin_low'], 0)}, "
                    f"{_fmt(r['margin_high'], 0)}]",
                    yes_no[bool(r["clear"])],
                ]
                for _i, r in markets.iterrows()
            ],
        )
        doc.paragraph(
            _(
                "Each row is one market (a sweep point). Strategies compete in the same "
                "runs, so the margin is the mean of the per-run differences between the "
                'winner and the runner-up; "clear" means its 95% interval lies above 0. '
                "Strategies that win at least one market clearly: {strategies}."
            ).format(
                strategies=", ".join(_term(w) for w in sorted(winners.clear_winners(markets)))
                or _("none")
            )
        )
    doc.figure(
        "equity.png",
        partial(
            plots.bars_with_ci,
            pick(table),
            "customer_equity",
            panels="setting",
            bars="label",
            order=order,
            title=_("Customer equity by strategy and setting") + only,
            ylabel=_("customer equity per firm\n({money})").format(money=_(plots.MONEY)),
        ),
        _("Customer equity"),
        _(
            "The tallest bar in each panel is the strategy whose customers are "
            "worth most in that setting; error bars that do not overlap mark a clear difference."
        ),
    )
    churn = pick(table).assign(  # retention is near 1 everywhere: its complement shows the gaps
        churn=lambda t: 100 * (1 - t["retention_rate"]),
        churn_low=lambda t: 100 * (1 - t["retention_rate_high"]),
        churn_high=lambda t: 100 * (1 - t["retention_rate_low"]),
    )
    doc.figure(
        "churn.png",
        partial(
            plots.bars_with_ci,
            churn,
            "churn",
            panels="setting",
            bars="label",
            order=order,
            title=_("Monthly churn (100% - mean period retention) by strategy and setting") + only,
            ylabel=_("customers lost per period\n(% of last period's customers)"),
        ),
        _("Churn"),
        _(
            "Lower bars keep more of their customers each month (retention = 100% minus "
            "the bar); compare the two panels to see how much e-commerce costs each strategy."
        ),
    )

    # ---- money
    doc.heading(_("Money: CLV, equity drivers, firm value"))
    drivers = [d for d in money.DRIVERS if d in runs.columns]
    if drivers:
        driver_table = (
            runs.groupby([*keys, "run_id"], sort=False)[drivers]
            .mean()
            .groupby(level=keys, sort=False)
            .mean()
            .reset_index()
        )
        doc.figure(
            "equity_drivers.png",
            partial(
                plots.equity_drivers,
                pick(driver_table),
                panel="setting",
                bar="label",
                title=_("What holds the equity: value, brand and relationship equity") + only,
            ),
            _("Equity drivers"),
            _(
                "Each bar is a group's customer equity split by the share of its "
                "customers' loyalty drive that value, trust and switching cost supply; a large "
                "red part means customers stay because leaving is costly."
            ),
        )
        header = [*_columns(["label", "setting"]), *[_(plots.DRIVER_LABELS[d]) for d in drivers]]
        totals = driver_table[drivers].sum(axis=1).replace(0, np.nan)
        doc.table(
            header,
            [
                [str(r["label"]), str(r["setting"])] + [_share(r[d] / totals[i]) for d in drivers]
                for i, r in driver_table.iterrows()
            ],
        )
    if not results.customers.empty:
        doc.figure(
            "clv_lorenz.png",
            None,  # started by start_slow_figures
            _("CLV concentration"),
            _(
                "Read each curve at 20% of customers: the share of total CLV "
                "they hold (seed 003: about 80%); the further above the dotted line, the more "
                "the value sits with a few customers."
            ),
        )
        values = firm_value_table(results)
        if not values.empty:
            wide = values.pivot_table(
                index=["label", "setting"],
                columns="resource_share",
                values="firm_value",
                sort=False,
            )
            full = values.groupby(["label", "setting"], sort=False)["unconstrained_value"].first()
            doc.paragraph(
                _(
                    "**Firm value under a resource constraint** (replication 0 of each "
                    "point): the sum of current customers' total CLV a firm can serve "
                    "when its resources cover a share of what serving all of them needs "
                    "(greedy by CLV per unit of serve cost, customers with negative CLV "
                    "dropped)."
                )
            )
            shares = [s for s in sorted(wide.columns, reverse=True) if s < 1]
            doc.table(
                [
                    *_columns(["label", "setting"]),
                    _("all positive-CLV customers (no constraint)"),
                    *[
                        _("with {share} of the resources").format(share=i18n.percent(s, 0))
                        for s in shares
                    ],
                ],
                [
                    [str(i[0]), str(i[1]), _fmt(full[i], 0)]
                    + [_fmt(wide.loc[i, s], 0) for s in shares]
                    for i in ordered(wide.index)
                ],
            )

    if baseline is not None:
        summary, common = baseline_roi(results, baseline)
        doc.heading(_("CRM ROI against the baseline {name}").format(name=baseline.name))
        doc.paragraph(
            _(ROI_DEFINITION)
            + _(" Scenario minus baseline, replication by replication ")
            + (
                _("(pairs share seeds: common random numbers). ")
                if common
                else _("(**seeds differ: pairs are independent draws**, intervals are wider). ")
            )
            + _("n/a: the scenario spends no more on policies than the baseline.")
        )
        doc.table(
            [
                *_columns(["label", "setting"]),
                _("pairs"),
                _("ROI (95% CI)"),
                _("p (paired t)"),
                _("incremental equity (95% CI)"),
                _("policy spend (95% CI)"),
                _("incremental retention (95% CI)"),
            ],
            [
                [
                    str(r["label"]),
                    str(r["setting"]),
                    str(r["pairs"]),
                    _with_ci(r, "roi", 2),
                    _fmt(r["p_value"], 3),
                    _with_ci(r, "incremental_equity", 0),
                    _with_ci(r, "spent", 0),
                    _with_ci(r, "incremental_retention", 4),
                ]
                for _i, r in summary.iterrows()
            ],
        )
        if summary["roi"].notna().any():
            doc.figure(
                "roi.png",
                partial(
                    plots.bars_with_ci,
                    summary,
                    "roi",
                    panels="setting",
                    bars="label",
                    order=order,
                    reference=0.0,
                    title=_("CRM ROI against {name}").format(name=baseline.name),
                    ylabel=_("ROI (equity gained per unit of policy spend)"),
                ),
                _("CRM ROI"),
                _(
                    "Bars above 0 earn back more than the policies spend; an error bar that "
                    "crosses 0 means the return is not distinguishable from breaking even."
                ),
            )

    # ---- retention
    doc.heading(_("Retention: who stays, who leaves, from where and why"))
    doc.figure(
        "stages.png",
        None,  # started by start_slow_figures
        _("Stage composition"),
        _(
            "A strategy that keeps customers grows the dark blue stability "
            "band; orange is the declining customers it risks losing."
        ),
    )
    survival_figure(doc, results, pick, order, only)
    churn = retention.churn_by_stage(results.timeseries, keys)
    if not churn.empty:
        stages = list(money.ACTIVE_STAGES)
        wide = churn.pivot_table(
            index=keys, columns="stage", values=["share", "hazard"], sort=False
        ).reindex(columns=pd.MultiIndex.from_product([["share", "hazard"], stages]))
        doc.paragraph(
            _(
                "**Churn by stage**: share of the relationships that ended in each stage, "
                "and the stage's hazard (ended per customer-period in the stage)."
            )
        )
        doc.table(
            [
                *_columns(keys),
                *[_("{stage} share").format(stage=_(s)) for s in stages],
                *[_("{stage} hazard").format(stage=_(s)) for s in stages],
            ],
            [
                [str(i[0]), str(i[1])]
                + [_share(wide.loc[i, ("share", s)]) for s in stages]
                + [_fmt(wide.loc[i, ("hazard", s)], 4) for s in stages]
                for i in ordered(wide.index)
            ],
        )
    reasons = retention.churn_by_reason(results.timeseries, keys)
    trajectories = retention.trajectory_shares(results.timeseries, keys)
    satisfied = retention.satisfied_defector_share(results.timeseries, keys)
    merged = (
        reasons.merge(trajectories, on=keys).merge(satisfied, on=keys).set_index(keys, drop=False)
    )
    merged = merged.loc[ordered(merged.index)]
    doc.paragraph(
        _(
            "**Churn by reason, trajectory types and satisfied defectors** (pooled over "
            "runs): I ended in exploration, II in formation, III reached stability but "
            "left early, IV had a long stability (seed 002); seed 003 says 65-85% of "
            "defectors call themselves satisfied."
        )
    )
    doc.table(
        [
            *_columns(keys),
            _("defections"),
            _("to a rival"),
            _("out of market"),
            _("left the category"),
            _("from decline"),
            "I",
            "II",
            "III",
            "IV",
            _("satisfied defectors"),
        ],
        [
            [str(r[k]) for k in keys]
            + [
                i18n.localize(f"{r['defections']:,}"),
                _share(r["to_rival"]),
                _share(r["out_of_market"]),
                _share(r["life"]),
                _share(r["from_decline"]),
            ]
            + [_share(r[t]) for t in ("I", "II", "III", "IV")]
            + [_share(r["satisfied_defector_share"])]
            for _i, r in merged.iterrows()
        ],
    )
    if not results.customers.empty:
        tenure = retention.tenure_distribution(results.customers, keys=keys)
        wide = tenure.pivot_table(
            index=keys, columns="tenure_band", values="share", observed=False, sort=False
        )
        doc.paragraph(
            _("**Tenure of the customers at the end** (replication 0; periods with the firm).")
        )
        doc.table(
            [*_columns(keys), *[str(c) for c in wide.columns]],
            [
                [str(i[0]), str(i[1])] + [_share(wide.loc[i, c]) for c in wide.columns]
                for i in ordered(wide.index)
            ],
        )
        config = next(iter(results.configs.values()))
        items = retention.loyalty_items(results.customers, config)
        items[keys] = results.customers.loc[items.index, keys]
        means = items.groupby(keys, sort=False).mean()
        means["index"] = (
            retention.loyalty_index(results.customers, config)
            .groupby([results.customers.loc[items.index, k] for k in keys], sort=False)
            .mean()
        )
        doc.paragraph(
            _(
                "**Loyalty index** (seed 001): half objective (share of wallet, repeat "
                "purchase, tenure / horizon, advocacy), half subjective (price evaluation "
                "~ perceived value, quality ~ satisfaction, service ~ trust), equal item "
                "weights (`analysis.retention.LoyaltyWeights`). Means over the customers "
                "at the end (replication 0)."
            )
        )
        columns = [*retention.OBJECTIVE_ITEMS, *retention.SUBJECTIVE_ITEMS, "index"]
        doc.table(
            [*_columns(keys), *[_(LOYALTY_ITEMS[c]) for c in columns]],
            [
                [str(i[0]), str(i[1])] + [_fmt(means.loc[i, c], 3) for c in columns]
                for i in ordered(means.index)
            ],
        )
        doc.figure(
            "end_distributions.png",
            None,  # started by start_slow_figures
            _("End distributions"),
            _(
                "Curves further right mean more satisfied, more trusting or "
                "more locked-in customers; switching cost shows which strategy builds lock-in."
            ),
        )

    # ---- policies
    comparison = policy_comparison(results)
    activity = policy_activity(results)
    if comparison is not None or not activity.empty:
        doc.heading(_("Retention policies: which pays, where, and why"))
    if comparison is not None and not comparison.empty:
        firm = ", ".join(sorted(comparison["firm"].unique()))
        crn = bool(comparison["common_random_numbers"].all())
        doc.paragraph(
            _(
                "Each policy set of firm {firm} against the same scenario without "
                "policies (`none`), paired by replication"
            ).format(firm=firm)
            + (
                _(
                    " with the same seeds (common random numbers: the difference is the "
                    "policy's effect, not noise). "
                )
                if crn
                else _(". ")
            )
            + _(ROI_DEFINITION)
            + _(
                " Incremental equity and retention are scenario minus baseline. "
                "Ranked by ROI within each setting."
            )
        )
        settings = {v: i for i, v in enumerate(dict.fromkeys(runs["setting"]))}
        ranked = comparison.assign(setting_order=comparison["setting"].map(settings)).sort_values(
            ["setting_order", "roi"], ascending=[True, False], na_position="last"
        )
        doc.table(
            [
                _("setting"),
                _("policy"),
                _("pairs"),
                _("ROI (95% CI)"),
                _("p (paired t)"),
                _("incremental equity (95% CI)"),
                _("incremental retention (95% CI)"),
                _("policy spend (95% CI)"),
            ],
            [
                [
                    str(r["setting"]),
                    str(r["policy"]),
                    str(r["pairs"]),
                    _with_ci(r, "roi", 2),
                    _fmt(r["p_value"], 3),
                    _with_ci(r, "incremental_equity", 0),
                    _with_ci(r, "incremental_retention", 4),
                    _with_ci(r, "spent", 0),
                ]
                for _i, r in ranked.iterrows()
            ],
        )
        sentences = []
        verdict = {
            "pays": _("pays"),
            "on average": _("returns more than it costs on average, but its CI includes 0"),
            "not": _("does not pay"),
        }
        for setting, rows in ranked.groupby("setting", sort=False):
            rows = rows.dropna(subset=["roi"])
            if rows.empty:
                continue
            best = rows.iloc[0]
            names = [n for n in POLICIES if n in str(best["policy"])]
            why = "; ".join(f"{n}: {POLICIES[n].summary}" for n in names)
            pays = verdict[
                "pays" if best["roi_low"] > 0 else ("on average" if best["roi"] > 0 else "not")
            ]
            effect = _(
                ": it adds {equity} of customer equity and {points} points of monthly "
                "retention for {spend} of policy spend (discounted)"
            ).format(
                equity=_fmt(best["incremental_equity"], 0),
                points=_fmt(100 * best["incremental_retention"], 2),
                spend=_fmt(best["spent"], 0),
            )
            most = rows.loc[rows["incremental_equity"].idxmax()]
            bigger = (
                ""
                if most["policy"] == best["policy"]
                else _(
                    " The largest equity gain, though, comes from {policy} ({equity}, ROI "
                    "{roi}): ROI ranks returns per unit spent, not size."
                ).format(
                    policy=most["policy"],
                    equity=_with_ci(most, "incremental_equity", 0),
                    roi=_with_ci(most, "roi", 2),
                )
            )
            sentences.append(
                _("**{setting}**: {policy} ranks first (ROI {roi}) and {pays}{effect}").format(
                    setting=_term(setting),
                    policy=best["policy"],
                    roi=_with_ci(best, "roi", 2),
                    pays=pays,
                    effect=effect,
                )
                + (_("; how it works: {why}").format(why=why) if why else "")
                + _(".")
                + bigger
            )
        doc.bullets(sentences)
        if ranked["roi"].notna().any():
            plotted = ranked.rename(columns={"policy": "policy set"})
            doc.figure(
                "policy_roi.png",
                partial(
                    plots.bars_with_ci,
                    plotted,
                    "roi",
                    panels="setting",
                    bars="policy set",
                    reference=0.0,
                    title=_("ROI of firm {firm}'s retention policies against no policy").format(
                        firm=firm
                    ),
                    ylabel=_("ROI (equity gained per unit of policy spend)"),
                ),
                _("Policy ROI"),
                _(
                    "Bars above 0 with error bars clear of 0 are policies that pay "
                    "in that setting; compare the panels to see where each one works."
                ),
            )
    if not activity.empty and (activity["spend"] == 0).any():
        free = sorted(activity.loc[activity["spend"] == 0, "policy set"].unique())
        doc.paragraph(
            _(
                "Note: {sets} spent nothing (a zero budget, no eligible customer, or too "
                "small a budget for one contact): no ROI (n/a). A policy set with zero "
                "budgets is the run without policies, and serves as the baseline of a "
                "budget sweep that has no empty policy list."
            ).format(sets=", ".join(free))
        )
    if not activity.empty:
        doc.paragraph(
            _(
                "**What the policies did** (mean per run): spend, customer-periods "
                "touched, recoveries from decline, win-backs, and the share of periods in "
                "which the budget ran out."
            )
        )
        doc.table(
            [
                _("policy set"),
                _("setting"),
                _("firm"),
                _("policy"),
                _("runs"),
                _("spend"),
                _("touched"),
                _("recovered"),
                _("won back"),
                _("budget ran out"),
            ],
            [
                [
                    str(r["policy set"]),
                    str(r["setting"]),
                    str(r["firm"]),
                    str(r["policy"]),
                    str(r["runs"]),
                    _fmt(r["spend"], 1),
                    _fmt(r["touched"], 0),
                    _fmt(r["recovered"], 1),
                    _fmt(r["won_back"], 1),
                    _share(r["budget_exhausted_share"]),
                ]
                for _i, r in activity.iterrows()
            ],
        )
    return doc


def facts_section(doc: Document, folder: Path) -> None:
    """A "Stylized facts" section from the folder's ``facts.csv`` (``run.py facts``), if any.

    A ``facts.csv`` older than ``runs.parquet`` describes earlier runs and is left out.
    """
    from . import facts

    path, runs = folder / "facts.csv", folder / "runs.parquet"
    if not path.exists() or path.stat().st_mtime < runs.stat().st_mtime:
        return
    table = facts.read_table(path)
    doc.heading(_("Stylized facts"))
    doc.paragraph(
        _(
            "The facts of MODEL.md section 9 (definitions in analysis/facts.py), from "
            "`python run.py facts`: this scenario and its counterfactual variants "
            "(folders next to this one). Value and 95% confidence interval over "
            "replications, the band it must meet, and the result."
        )
    )
    line, result = (
        _("fact {fact} ({name}): {result} ({passed}/{rows} rows)"),
        {
            True: _("PASS"),
            False: _("FAIL"),
        },
    )
    doc.bullets(
        line.format(
            fact=r["fact"],
            name=r["name"],
            result=result[bool(r["passed"])],
            passed=r["passed_rows"],
            rows=r["rows"],
        )
        for _i, r in facts.verdicts(table).iterrows()
    )
    doc.table(*facts.table_cells(table))


@contextlib.contextmanager
def system_allocator():
    """Arrow allocates from the C library's ``malloc`` meanwhile, not its default pool.

    With pyarrow's default pool (mimalloc), reading the columns of
    ``timeseries.parquet`` the report uses (the shipped policy comparison's)
    took 0.9 s of system time, memory handed back to the kernel and taken
    again, against 0.04 s with ``malloc``; the data read are the same.
    Buffers keep the pool they came from, so the previous default is put
    back afterwards.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def write_report(folder: Path, baseline: Path | None = None, lang: str | None = None) -> list[Path]:
    """Build the report of a results folder and write it; return the files written.

    ``lang`` (``en``, ``zh``) is the report's language; without it, the
    scenario's ``report.lang``, else English.

    Raises:
        ReportError: the folder or the baseline cannot be used (nothing is written).
    """
    folder = Path(folder)
    with system_allocator(), render.Renderer() as renderer:  # forks its workers before reading
        results = load_results(folder, lean=True, workers=renderer)
        if not is_owned(folder):  # crm-sim writes only into folders it made
            raise ReportError(not_ours(folder))
        base = (
            load_results(Path(baseline), lean=True, workers=renderer)
            if baseline is not None
            else None
        )
        lang = i18n.check_language(lang or results.lang)
        with i18n.language(lang):
            doc = build(results, base, renderer)
            facts_section(doc, folder)
            markdown, page = (
                doc.markdown(),
                doc.html(_("crm-sim report: {name}").format(name=results.name)),
            )
    try:
        figures = claim(folder / "figures")
    except OutputError as error:
        raise ReportError(str(error)) from None
    written = []
    # figures an earlier report wrote and this one does not have; a user's files stay
    remove_owned(figures, keep=frozenset(f.name for f in doc.figures))
    for fig in doc.figures:
        path = figures / fig.name
        write_atomic(path, lambda target, data=fig.png: target.write_bytes(data))
        written.append(path)
    write_text(folder / "report.md", markdown)
    write_text(folder / "report.html", page)
    return [folder / "report.md", folder / "report.html", *written]
