"""The report's figures: one function per figure, each returning a matplotlib Figure.

Every figure has a title, labelled axes with units and a legend; the report
(:mod:`analysis.report`) adds a one-line caption saying what to read from it.
Labels are in the language in force (:func:`i18n.language`; titles come
translated from the report, axes and legends are translated here, once per
figure, and the course's terms in the data, such as settings, strategies and
stages, through the glossary), drawn in a font that has their glyphs
(:func:`analysis.render.png`).
Inputs are tidy frames already summarized by :mod:`analysis.report`; nothing
here reads files or computes metrics. Matplotlib runs on the Agg backend (no
display needed).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from i18n import N_, _

from . import money

STAGE_COLOURS = {
    "exploration": "#9ecae1",
    "formation": "#4292c6",
    "stability": "#08519c",
    "decline": "#fd8d3c",
}
DRIVER_COLOURS = {
    "value_equity": "#41ab5d",
    "brand_equity": "#807dba",
    "relationship_equity": "#ef6548",
}
DRIVER_LABELS = {
    "value_equity": N_("value equity (quality, price, fit)"),
    "brand_equity": N_("brand equity (reputation, trust)"),
    "relationship_equity": N_("relationship equity (switching cost)"),
}
MONEY = N_("money units, discounted to period 0")


def _name(value) -> str:
    """A value of the data (setting, strategy, stage, group label) as the figure shows it.

    A course term is named as the glossary names it in the language in force,
    also as the strategy that opens a group label (``clasp, budget=0.5``) or
    either side of a panel's ``label | setting``; any other value as it is.
    """
    parts = []
    for part in str(value).split(" | "):
        head, comma, rest = part.partition(", ")
        parts.append(_(head) + comma + rest)
    return " | ".join(parts)


def _names(values) -> list[str]:
    """:func:`_name` of each value (once per figure, not per data point)."""
    return [_name(v) for v in values]


def _panel_title(panel: str, value) -> str:
    """``setting: traditional``, in the language in force."""
    return _("{column}: {value}").format(column=_(panel), value=_name(value))


def _ordered(values, order) -> list:
    """Distinct ``values`` in ``order`` (then any not in it), so every figure lists alike."""
    present = list(dict.fromkeys(values))
    order = list(order or [])
    return [v for v in order if v in present] + [v for v in present if v not in order]


def _colours(labels, order=None) -> dict[str, str]:
    """One colour per label, fixed by its place in ``order`` so figures agree."""
    palette = plt.get_cmap("tab10")
    order = _ordered(labels, order)
    return {label: palette(i % 10) for i, label in enumerate(order)}


def _grid(
    count: int, columns: int = 3, width: float = 4.2, height: float = 3.2, sharey: bool = True
):
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows + 0.8), sharey=sharey, squeeze=False
    )
    for extra in axes.flat[count:]:
        extra.set_visible(False)
    return figure, list(axes.flat[:count])


INCHES = {"left": 0.85, "right": 0.25, "top": 0.9, "bottom": 0.6, "across": 0.85, "down": 0.85}
"""A grid's margins and gaps in inches (tick labels and axis label at 10 pt, a panel title
on top): :func:`_finish`'s fixed layout, for figures whose every label is known to fit."""


def _finish(figure, title: str, handles, names, *, fixed: bool = False) -> None:
    """Title, a legend below the panels in as many columns as fit, then the layout.

    The figure grows at the bottom by the legend's height, so long group names
    never run over the axes. The layout is matplotlib's tight layout, or with
    ``fixed`` the margins of :data:`INCHES`: the tight layout measures every
    label first, which costs as much as drawing a many-panel figure once.
    """
    width, height = figure.get_size_inches()
    longest = max((len(str(n)) for n in names), default=1)
    columns = max(1, min(len(names), int(width * 11) // (longest + 6)))
    rows = -(-len(names) // columns) if names else 0
    legend_height = 0.28 * rows + 0.25 if names else 0.0
    figure.set_size_inches(width, height + legend_height)
    if names:
        figure.legend(handles, names, loc="lower center", ncol=columns, frameon=False)
    figure.suptitle(title)
    total = height + legend_height
    if not fixed:
        figure.tight_layout(rect=(0, legend_height / total, 1, 1 - 0.25 / total))
        return
    rows, columns = figure.axes[0].get_subplotspec().get_gridspec().get_geometry()
    bottom = legend_height + INCHES["bottom"]
    panel_width = (
        width - INCHES["left"] - INCHES["right"] - INCHES["across"] * (columns - 1)
    ) / columns
    panel_height = (total - bottom - INCHES["top"] - INCHES["down"] * (rows - 1)) / rows
    figure.subplots_adjust(
        left=INCHES["left"] / width,
        right=1 - INCHES["right"] / width,
        bottom=bottom / total,
        top=1 - INCHES["top"] / total,
        wspace=INCHES["across"] / panel_width,
        hspace=INCHES["down"] / panel_height,
    )


def bars_with_ci(
    table: pd.DataFrame,
    value: str,
    *,
    panels: str,
    bars: str,
    title: str,
    ylabel: str,
    reference: float | None = None,
    order=None,
) -> Figure:
    """Bars of ``value`` with 95% CI error bars: a panel per ``panels`` value, a bar per ``bars``.

    ``table`` has ``value``, ``<value>_low`` and ``<value>_high`` columns;
    ``order`` fixes the order and colours of the bars. Up to four bars per
    panel stand upright, panels side by side; more lie horizontally, one
    panel under the other, so that long names stay readable.
    """
    panel_values = list(dict.fromkeys(table[panels]))
    labels = _ordered(table[bars], order) if order is not None else list(dict.fromkeys(table[bars]))
    colours = _colours(labels, order)
    upright = max(table.groupby(panels)[bars].nunique()) <= 4
    if upright:
        figure, axes = _grid(len(panel_values), columns=2, width=max(4.5, 1.2 * len(labels) + 2))
    else:
        figure, axes = _grid(
            len(panel_values), columns=1, width=10, height=0.45 * len(labels) + 1.2, sharey=False
        )
    for axis, panel in zip(axes, panel_values, strict=True):
        rows = table[table[panels] == panel]
        if order is not None:
            rows = (
                rows.set_index(bars).loc[[b for b in labels if b in set(rows[bars])]].reset_index()
            )
        position = np.arange(len(rows))
        mean = rows[value].to_numpy(dtype=float)
        error = np.nan_to_num(
            np.vstack(
                [
                    mean - rows[f"{value}_low"].to_numpy(dtype=float),
                    rows[f"{value}_high"].to_numpy(dtype=float) - mean,
                ]
            )
        )
        colour = [colours[b] for b in rows[bars]]
        if upright:
            axis.bar(position, mean, color=colour, yerr=error, capsize=5)
            axis.set_xticks(position, _names(rows[bars]))
            axis.set_ylabel(ylabel)
            if reference is not None:
                axis.axhline(reference, color="black", linewidth=0.8)
            axis.grid(axis="y", alpha=0.3)
        else:
            axis.barh(position, mean, color=colour, xerr=error, capsize=4)
            axis.set_yticks(position, _names(rows[bars]))
            axis.invert_yaxis()  # the first (e.g. best-ranked) on top
            axis.set_xlabel(ylabel.replace("\n", " "))
            if reference is not None:
                axis.axvline(reference, color="black", linewidth=0.8)
            axis.grid(axis="x", alpha=0.3)
        axis.set_title(_panel_title(panels, panel))
    error_handle = plt.Line2D(
        [], [], color="black", marker="|" if upright else "_", markersize=12, linestyle="none"
    )
    if upright:
        handles = [plt.Rectangle((0, 0), 1, 1, color=colours[b]) for b in labels]
        names = [*_names(labels), _("95% CI over replications")]
        _finish(figure, title, [*handles, error_handle], names)
    else:  # the bars are named on the axis: the legend only explains the error bars
        _finish(figure, title, [error_handle], [_("95% CI over replications")])
    return figure


def stage_composition(series: pd.DataFrame, *, panel: str, title: str) -> Figure:
    """Stacked areas of mean customers per stage over time, a panel per ``panel`` value.

    ``series`` has ``panel``, ``period`` and one column per active stage.
    """
    panel_values = list(dict.fromkeys(series[panel]))
    xlabel, ylabel = _("period (month)"), _("customers (mean over runs)")
    figure, axes = _grid(len(panel_values), columns=3)
    for axis in axes:  # limits once at the end, not after each band across 16 shared axes
        axis.set_autoscale_on(False)
    for axis, value in zip(axes, panel_values, strict=True):
        rows = series[series[panel] == value].sort_values("period")
        axis.stackplot(
            rows["period"],
            *[rows[s] for s in STAGE_COLOURS],
            colors=list(STAGE_COLOURS.values()),
            labels=_names(STAGE_COLOURS),
        )
        axis.set_title(_name(value), fontsize=10)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
    for axis in axes:
        axis.autoscale()
    handles, labels = axes[0].get_legend_handles_labels()
    _finish(figure, title, handles, labels, fixed=True)  # sixteen panels: tight layout is slow
    return figure


def survival_curves(
    curves: pd.DataFrame,
    *,
    panel: str,
    line: str,
    title: str,
    reference: pd.DataFrame | None = None,
    max_tenure: int | None = None,
    order=None,
) -> Figure:
    """Survival by tenure: a panel per ``panel``, a line per ``line``.

    ``curves`` has ``panel``, ``line``, ``tenure``, ``survival``, and
    optionally ``lower`` and ``upper`` (a confidence band, shaded). ``reference``
    (same keys, ``retention``) adds the dashed geometric curve ``r^k`` a
    constant-hazard cohort would follow.
    """
    panel_values = list(dict.fromkeys(curves[panel]))
    labels = _ordered(curves[line], order)
    colours = _colours(labels, order)
    figure, axes = _grid(len(panel_values), columns=2, width=5.5, height=3.8)
    for axis, value in zip(axes, panel_values, strict=True):
        rows = curves[curves[panel] == value]
        for label in labels:
            one = rows[rows[line] == label].sort_values("tenure")
            if max_tenure is not None:
                one = one[one["tenure"] <= max_tenure]
            if one.empty:
                continue
            axis.plot(one["tenure"], one["survival"], color=colours[label])
            if "lower" in one.columns:
                axis.fill_between(
                    one["tenure"],
                    one["lower"],
                    one["upper"],
                    color=colours[label],
                    alpha=0.18,
                    linewidth=0,
                )
            if reference is not None and len(labels) <= 4:  # more dashes would hide the data
                r = reference[(reference[panel] == value) & (reference[line] == label)]
                if len(r):
                    k = one["tenure"].to_numpy()
                    axis.plot(
                        k,
                        r["retention"].iloc[0] ** k,
                        color=colours[label],
                        linestyle="--",
                        linewidth=0.9,
                    )
        axis.set_title(_panel_title(panel, value))
        axis.set_xlabel(_("tenure (periods since acquisition)"))
        axis.set_ylabel(_("share still a customer"))
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[label]) for label in labels]
    names = _names(labels)
    if reference is not None and len(labels) <= 4:
        handles.append(plt.Line2D([], [], color="grey", linestyle="--"))
        names.append(_("constant hazard at the mean period retention (r^k)"))
    _finish(figure, title, handles, names)
    return figure


def end_distributions(
    customers: pd.DataFrame, *, panel: str, line: str, title: str, order=None
) -> Figure:
    """Histograms (as lines) of satisfaction, trust and switching cost at the end.

    A row of three panels per ``panel`` value, a line per ``line`` value.
    """
    determinants = (
        ("satisfaction", _("satisfaction"), _("satisfaction (0-1)")),
        ("trust", _("trust"), _("trust (0-1)")),
        ("switching_cost", _("switching cost"), _("switching cost (0-1)")),
    )
    share = _("share of customers")
    panel_values = list(dict.fromkeys(customers[panel]))
    labels = _ordered(customers[line], order)
    colours = _colours(labels, order)
    figure, axes = plt.subplots(
        len(panel_values), 3, figsize=(13, 3.2 * len(panel_values) + 0.8), squeeze=False
    )
    bins = np.linspace(0, 1, 26)
    centres = (bins[:-1] + bins[1:]) / 2
    for row, value in zip(axes, panel_values, strict=True):
        rows = customers[customers[panel] == value]
        for axis, (column, name_of, label) in zip(row, determinants, strict=True):
            for name in labels:
                data = rows.loc[rows[line] == name, column].clip(0, 1)
                if data.empty:
                    continue
                counts, _edges = np.histogram(data, bins=bins)
                axis.plot(centres, counts / counts.sum(), color=colours[name])
            axis.set_title(
                _("{determinant}, {column} {value}").format(
                    determinant=name_of, column=_(panel), value=_name(value)
                ),
                fontsize=10,
            )
            axis.set_xlabel(label)
            axis.set_ylabel(share)
            axis.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[name]) for name in labels]
    _finish(figure, title, handles, _names(labels), fixed=True)  # labels 0-1, shares: they fit
    return figure


def lorenz(customers: pd.DataFrame, *, panel: str, line: str, title: str, order=None) -> Figure:
    """CLV Lorenz curves (customers from most to least valuable), a panel per ``panel``.

    Drawn as the share of value held by the top x% of customers, so the
    80/20 point reads directly at x = 20%.
    """
    panel_values = list(dict.fromkeys(customers[panel]))
    labels = _ordered(customers[line], order)
    colours = _colours(labels, order)
    figure, axes = _grid(len(panel_values), columns=2, width=5.5, height=4.2)
    for axis, value in zip(axes, panel_values, strict=True):
        rows = customers[customers[panel] == value]
        for name in labels:
            values = rows.loc[rows[line] == name, "total_clv"].to_numpy(dtype=float)
            if values.size == 0:
                continue
            customer_share, value_share = money.lorenz_curve(values)
            top_customers = 1.0 - customer_share[::-1]
            top_value = 1.0 - value_share[::-1]
            share = money.top_share(values, 0.2)
            axis.plot(
                top_customers * 100,
                top_value * 100,
                color=colours[name],
                label=_("{name}: top 20% hold {share}").format(
                    name=_name(name), share=f"{share:.0%}"
                ),
            )
        axis.plot([0, 100], [0, 100], color="grey", linestyle=":", label=_("equal value"))
        axis.axvline(20, color="black", linewidth=0.6)
        axis.set_title(_panel_title(panel, value))
        axis.set_xlabel(_("most valuable customers (% of customers)"))
        axis.set_ylabel(_("share of total CLV (%)"))
        axis.set_xlim(0, 100)
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    _finish(figure, title, [], [])
    return figure


def equity_drivers(table: pd.DataFrame, *, panel: str, bar: str, title: str) -> Figure:
    """Stacked bars: customer equity split into value, brand and relationship equity."""
    panel_values = list(dict.fromkeys(table[panel]))
    figure, axes = _grid(
        len(panel_values), columns=2, width=max(4.5, 1.1 * table[bar].nunique() + 2)
    )
    for axis, value in zip(axes, panel_values, strict=True):
        rows = table[table[panel] == value]
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for driver, colour in DRIVER_COLOURS.items():
            heights = rows[driver].to_numpy(dtype=float)
            axis.bar(x, heights, bottom=bottom, color=colour, label=_(DRIVER_LABELS[driver]))
            bottom += np.nan_to_num(heights)
        axis.set_xticks(
            x,
            _names(rows[bar]),
            rotation=20 if len(rows) > 3 else 0,
            ha="right" if len(rows) > 3 else "center",
        )
        axis.set_title(_panel_title(panel, value))
        axis.set_ylabel(_("customer equity per firm\n({money})").format(money=_(MONEY)))
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    _finish(figure, title, handles, labels)
    return figure


def response_curves(table: pd.DataFrame, *, panel: str, line: str, title: str) -> Figure:
    """Incremental equity against the budget level, a line with a 95% band per ``line`` value.

    ``table`` has ``budget``, ``incremental_equity`` with ``_low`` and
    ``_high``, and a boolean ``recommended``; each curve starts at budget 0,
    where a policy that spends nothing adds nothing. The recommended level
    is ringed. An unlimited budget (``inf``) is left out: it has no place on
    the axis.
    """
    table = table[np.isfinite(table["budget"].astype(float))]
    panel_values = list(dict.fromkeys(table[panel]))
    labels = list(dict.fromkeys(table[line]))
    colours = _colours(labels)
    figure, axes = _grid(len(panel_values), columns=2, width=6.5, height=4.0, sharey=False)
    for axis, value in zip(axes, panel_values, strict=True):
        rows = table[table[panel] == value]
        for label in labels:
            one = rows[rows[line] == label].sort_values("budget")
            if one.empty:
                continue
            budget = np.concatenate([[0.0], one["budget"].to_numpy(dtype=float)])
            mean, low, high = (
                np.concatenate([[0.0], one[column].to_numpy(dtype=float)])
                for column in (
                    "incremental_equity",
                    "incremental_equity_low",
                    "incremental_equity_high",
                )
            )
            colour = colours[label]
            axis.plot(budget, mean, color=colour, marker="o", markersize=3.5)
            axis.fill_between(budget, low, high, color=colour, alpha=0.2, linewidth=0)
            chosen = one[one["recommended"]]
            axis.plot(
                chosen["budget"],
                chosen["incremental_equity"],
                linestyle="none",
                marker="o",
                markersize=11,
                markerfacecolor="none",
                markeredgecolor=colour,
                markeredgewidth=1.8,
            )
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_title(_panel_title(panel, value))
        axis.set_xlabel(_("budget per period (money units)"))
        axis.set_ylabel(_("incremental customer equity\n({money})").format(money=_(MONEY)))
        axis.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[label], marker="o") for label in labels]
    handles.append(
        plt.Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=11,
            markerfacecolor="none",
            markeredgecolor="black",
        )
    )
    _finish(figure, title, handles, [*_names(labels), _("recommended budget")])
    return figure


def calibration_fit(table: pd.DataFrame, *, title: str) -> Figure:
    """Observed against simulated survival, one colour per curve, the holdout shaded.

    ``table`` has ``curve`` (a label), ``cohort``, ``period``, ``observed``,
    ``simulated``, ``uncalibrated`` and ``sample`` (``in_sample`` or
    ``holdout``), as :func:`experiments.calibrate.calibrate` returns it. The x
    axis is the calendar period (cohort + period), so held-out points are the
    last ones whichever cohort they belong to.
    """
    curves = list(dict.fromkeys(table["curve"]))
    colours = _colours(curves)
    figure, axis = plt.subplots(figsize=(7.5, 4.6))
    calendar = table["cohort"] + table["period"]
    held = calendar[table["sample"] == "holdout"]
    if len(held):
        axis.axvspan(held.min() - 0.5, calendar.max() + 0.5, color="grey", alpha=0.15)
    for curve in curves:
        rows = table[table["curve"] == curve].sort_values("period")
        x = rows["cohort"] + rows["period"]
        axis.plot(x, rows["observed"], "o", color=colours[curve], markersize=4)
        axis.plot(x, rows["simulated"], "-", color=colours[curve])
        axis.plot(x, rows["uncalibrated"], ":", color=colours[curve], linewidth=1)
    axis.set_xlabel(_("period (acquisition period + tenure)"))
    axis.set_ylabel(_("share of cohort still a customer"))
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    handles = [
        plt.Line2D([], [], color="black", marker="o", linestyle="", markersize=4),
        plt.Line2D([], [], color="black"),
        plt.Line2D([], [], color="black", linestyle=":", linewidth=1),
    ]
    names = [
        _("observed (target)"),
        _("simulated, calibrated"),
        _("simulated, scenario as written"),
    ]
    if len(held):
        handles.append(plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.15))
        names.append(_("held out of the fit"))
    if len(curves) > 1:
        handles += [plt.Line2D([], [], color=colours[c]) for c in curves]
        names += curves
    _finish(figure, title, handles, names)
    return figure
