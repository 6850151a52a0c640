"""Global sensitivity analysis: Morris screening and Sobol indices from the stored runs.

A scenario's ``sensitivity:`` block (:mod:`experiments.sensitivity`: the
block, the sample and the cells that run it) names model parameters with the
range each may take, and the methods.

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

This module computes the indices (:func:`indices`) from the runs and the
design and writes ``sensitivity.csv``, ``sensitivity.parquet``,
``sensitivity.md`` and ``figures/sensitivity_*.png`` (:func:`write_results`).
It reads the design (:class:`experiments.sensitivity.Design`) as handed to
it, and runs no model.
"""

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from store.files import claim, write_atomic, write_parquet, write_text

CONFIDENCE = 0.95
"""Level of the bootstrap confidence intervals of the indices."""

MARKET = "(market)"
"""The ``firm`` label of the market-wide rows (all firms together)."""

MARKET_SUMS = frozenset(
    {
        "customer_equity",
        "revenue",
        "cost",
        "profit",
        "referral_value",
        "acquisitions",
        "referral_acquisitions",
        "defections",
        "customers_end",
        "value_equity",
        "brand_equity",
        "relationship_equity",
    }
)
"""Outputs that add up over firms (money, counts); the market value of the others is the
unweighted mean over firms (e.g. ``retention_rate``: the mean firm's retention)."""

INDEX_COLUMNS = {
    "morris": ("mu_star", "mu_star_conf", "mu", "sigma"),
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
}
"""The index columns each method fills; ``rank`` orders parameters by the first one."""


class SensitivityError(Exception):
    """The indices cannot be computed from the runs (some runs are missing)."""


# ---------------------------------------------------------------------------
# The indices, from the stored runs
# ---------------------------------------------------------------------------


def cell_means(design, runs: pd.DataFrame) -> pd.DataFrame:
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
    market = pd.concat(
        [
            grouped.sum()[[o for o in outputs if o in MARKET_SUMS]],
            grouped.mean()[[o for o in outputs if o not in MARKET_SUMS]],
        ],
        axis=1,
    )
    market = market[outputs].reset_index()
    market.insert(2, "firm", MARKET)
    market.insert(3, "strategy", "all")
    both = pd.concat([market, firms], ignore_index=True)
    return both.groupby(["point", "firm", "strategy"], sort=False)[outputs].mean().reset_index()


def _analyze(design, method: str, matrix: np.ndarray, outputs: np.ndarray) -> dict:
    """SALib's indices of one output vector (one value per sample row)."""
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    block = design.block
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "morris":
            return morris_analyze.analyze(
                design.problem,
                matrix,
                outputs,
                num_resamples=block.resamples,
                conf_level=CONFIDENCE,
                num_levels=block.morris.levels,
                seed=block.seed,
            )
        if np.ptp(outputs) == 0:  # the output does not vary: its variance shares are undefined
            k = len(design.parameters)
            return {key: np.full(k, np.nan) for key in INDEX_COLUMNS["sobol"]}
        return sobol_analyze.analyze(
            design.problem,
            outputs,
            calc_second_order=block.sobol.second_order,
            num_resamples=block.resamples,
            conf_level=CONFIDENCE,
            seed=block.seed,
        )


def indices(design, runs: pd.DataFrame, base_paths=()) -> pd.DataFrame:
    """The sensitivity indices of every method, sweep point, output and firm.

    Args:
        design: the scenario's design (an :class:`experiments.sensitivity.Design`:
            its samples, parameters and which scenario point ran each sample row).
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
    expected = pd.Series([design.replications[p // cells] for p in range(len(design.base) * cells)])
    found = runs.groupby("point")["run_id"].nunique() if len(runs) else pd.Series()
    short = expected - found.reindex(expected.index, fill_value=0)
    if (short > 0).any():
        first = int(short[short > 0].index[0])
        raise SensitivityError(
            f"{int(short[short > 0].sum())} of {int(expected.sum())} sensitivity runs are "
            f"missing (first: point {first}); finish them with --resume, then the indices "
            "are computed"
        )
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
            context = {
                "method": method,
                "setting": where["setting"],
                **{path: where[path] for path in extra},
            }
            points = [design.point_index(base, method, r) for r in range(len(matrix))]
            for output, firm in itertools.product(design.block.outputs, firm_order):
                values = means.loc[firm, output].reindex(points).to_numpy(dtype=float)
                found = (
                    _analyze(design, method, matrix, values)
                    if np.isfinite(values).all()
                    else {
                        key: np.full(len(design.parameters), np.nan)
                        for key in INDEX_COLUMNS[method]
                    }
                )
                block_rows = []
                for i, name in enumerate(design.names):
                    row = {
                        **context,
                        "output": output,
                        "firm": firm,
                        "strategy": strategy_of[firm],
                        "parameter": name,
                    }
                    row.update({key: float(found[key][i]) for key in INDEX_COLUMNS[method]})
                    block_rows.append(row)
                ranked = pd.Series([r[rank_by] for r in block_rows]).rank(
                    ascending=False, method="first"
                )
                for row, rank in zip(block_rows, ranked, strict=True):
                    row["rank"] = rank
                rows += sorted(block_rows, key=lambda r: (np.isnan(r["rank"]), r["rank"]))
                if method == "sobol" and design.block.sobol.second_order and "S2" in found:
                    for i, j in itertools.combinations(range(len(design.names)), 2):
                        rows.append(
                            {
                                **context,
                                "output": output,
                                "firm": firm,
                                "strategy": strategy_of[firm],
                                "parameter": f"{design.names[i]} & {design.names[j]}",
                                "S2": float(found["S2"][i, j]),
                                "S2_conf": float(found["S2_conf"][i, j]),
                            }
                        )
    columns = [
        "method",
        "setting",
        *extra,
        "output",
        "firm",
        "strategy",
        "parameter",
        "rank",
        *INDEX_COLUMNS["morris"],
        *INDEX_COLUMNS["sobol"],
    ]
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
    group_columns = [c for c in table.columns[: table.columns.get_loc("output")] if c != "method"]
    ranked = table[table["rank"].notna()]
    for method, by_method in ranked.groupby("method", sort=False):
        key = _key(method)
        lines += [f"### {'Morris screening' if method == 'morris' else 'Sobol indices'}", ""]
        for output, by_output in by_method.groupby("output", sort=False):
            header = ["firm (strategy)", *group_columns, *[f"#{i + 1} ({key})" for i in range(top)]]
            lines += [
                f"**{output}**",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "|".join(["---"] * len(header)) + "|",
            ]
            for (firm, *_), cells in by_output.groupby(["firm", *group_columns], sort=False):
                first = cells.iloc[0]
                named = [
                    f"`{r.parameter}` ({_format(r[key])})" for _, r in cells.head(top).iterrows()
                ]
                named += [""] * (top - len(named))
                label = firm if firm == MARKET else f"{firm} ({first['strategy']})"
                lines.append(
                    "| "
                    + " | ".join([label, *[str(first[c]) for c in group_columns], *named])
                    + " |"
                )
            lines.append("")
    return lines


def _describe_range(parameter) -> str:
    bounds = f"[{parameter.low:g}, {parameter.high:g}]"
    return f"`{parameter.path}` " + (f"x {bounds} of its value" if parameter.relative else bounds)


def markdown(scenario, table: pd.DataFrame, report, record: dict) -> str:
    """``sensitivity.md``: the design, what the indices mean and the ranking.

    ``scenario`` is the loaded scenario (its ``name``, ``description``,
    ``source`` and ``sensitivity`` design); ``report`` the sweep's counts
    (``total``, ``ok``, ``failures``); ``record`` its manifest.
    """
    design = scenario.sensitivity
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
    group_columns = [c for c in rows.columns[: rows.columns.get_loc("output")] if c != "method"]
    groups = list(dict.fromkeys(rows[group_columns].itertuples(index=False, name=None)))
    outputs = list(dict.fromkeys(rows["output"]))
    parameters = rows["parameter"].nunique()
    firms = [f for f in dict.fromkeys(rows["firm"]) if f != MARKET]
    # tab10 from its second colour: its first is the market's bars' blue
    colours = {firm: plt.get_cmap("tab10")((i + 1) % 10) for i, firm in enumerate(firms)}
    figure_, axes = plt.subplots(
        len(outputs),
        len(groups),
        squeeze=False,
        figsize=(6.2 * len(groups), (0.34 * parameters + 1.4) * len(outputs) + 0.6),
    )
    for (r, output), (c, group) in itertools.product(enumerate(outputs), enumerate(groups)):
        axis = axes[r][c]
        panel = rows[
            (rows["output"] == output) & (rows[group_columns].apply(tuple, axis=1) == group)
        ]
        market = panel[panel["firm"] == MARKET].sort_values(key, ascending=True)
        y = np.arange(len(market))
        position = dict(zip(market["parameter"], y, strict=True))
        conf = market[f"{key}_conf"].to_numpy(dtype=float)
        axis.barh(
            y,
            market[key],
            color="#9ecae1",
            xerr=np.nan_to_num(conf),
            capsize=2,
            label=f"market {key} (95% CI)",
        )
        if method == "sobol":
            axis.barh(y, market["S1"], height=0.4, color="#3182bd", label="market S1")
        for firm in firms:
            own = panel[panel["firm"] == firm]
            axis.plot(
                own[key],
                own["parameter"].map(position),
                "o",
                ms=5,
                color=colours[firm],
                markeredgecolor="white",
                zorder=3,
                label=f"{firm} ({own['strategy'].iloc[0]})" if len(own) else firm,
            )
        axis.set_yticks(y, market["parameter"], fontsize=8)
        axis.set_title(f"{output} — {', '.join(map(str, group))}", fontsize=10)
        unit = "output units per step" if method == "morris" else "share of variance"
        axis.set_xlabel(f"{key} ({unit})", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.grid(axis="x", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    figure_.suptitle(
        f"{'Morris screening' if method == 'morris' else 'Sobol indices'}: "
        "which parameters move each output",
        fontsize=12,
    )
    figure_.legend(
        handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=8, frameon=False
    )
    figure_.tight_layout(rect=(0, 0.05, 1, 0.96))
    return figure_


def write_results(
    folder: Path, scenario, runs: pd.DataFrame, report, record: dict, *, figures: bool = True
) -> pd.DataFrame:
    """Compute the indices and write ``sensitivity.{csv,parquet,md}`` and the figures.

    Everything is computed before anything is written, and each file is
    written atomically.

    Raises:
        SensitivityError: some runs are missing (nothing is written).
    """
    folder = Path(folder)
    design = scenario.sensitivity
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
        claim(folder / "figures")  # refuses a figures/ folder of the user's
        for method, fig in drawn.items():
            write_atomic(
                folder / "figures" / f"sensitivity_{method}.png",
                lambda target, fig=fig: fig.savefig(target, dpi=110, format="png"),
            )
            plt.close(fig)
    return table


def summary_lines(table: pd.DataFrame) -> list[str]:
    """For the terminal: per method, output and sweep point, the market's top 3 parameters."""
    lines = []
    market = table[(table["firm"] == MARKET) & table["rank"].notna() & (table["rank"] <= 3)]
    group_columns = [c for c in table.columns[: table.columns.get_loc("output")] if c != "method"]
    for (method, output, *group), rows in market.groupby(
        ["method", "output", *group_columns], sort=False
    ):
        key = _key(method)
        named = ", ".join(f"{r.parameter} ({_format(r[key])})" for _, r in rows.iterrows())
        lines.append(f"{method} {key}, {output}, {' '.join(map(str, group))}: {named}")
    return lines
