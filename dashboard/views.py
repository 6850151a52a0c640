"""What the page shows: figures drawn from a model, and the explanation text.

Each ``*_figure`` function takes a :class:`sim.model.CRMModel` and returns a
matplotlib :class:`~matplotlib.figure.Figure` (no pyplot: the server draws in
threads). :func:`explanation` returns Markdown. The Solara components at the
bottom wrap them for ``SolaraViz(components=...)``; Mesa re-renders them after
every step.
"""

import weakref
from collections.abc import Iterable

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from mesa.visualization.utils import update_counter

import i18n
from analysis import metrics, money
from i18n import N_
from sim import STRATEGIES, Stage
from sim.ledger import INTEGER_COLUMNS
from sim.model import CRMModel

from .controls import LEVERS
from .language import figure_fonts, language, page_gettext, reusable

STAGE_LABELS = {
    Stage.EXPLORATION: N_("exploration: trying the firm out"),
    Stage.FORMATION: N_("formation: getting attached"),
    Stage.STABILITY: N_("stability: loyal"),
    Stage.DECLINE: N_("decline: drifting away"),
}
"""The four stages in which a customer has a firm, in words a student reads (translate with
``_``; the stage's own name is the glossary's, :func:`_short_stage_labels`)."""

STAGE_COLOURS = {
    Stage.EXPLORATION: "#9ecae1",
    Stage.FORMATION: "#3182bd",
    Stage.STABILITY: "#31a354",
    Stage.DECLINE: "#e6550d",
}
FIRM_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")

SETTING_NOTES = {
    "traditional": N_(
        "Shops, branches and sales people. Customers rarely look around and see few "
        "rivals, expectations rise slowly, switching costs build up over the years, "
        "and a firm has months to win back a customer who is drifting away."
    ),
    "ecommerce": N_(
        "Online shops. Customers look around more often and see more rivals, expect "
        "more and more personal service, trust and reputation matter most, switching "
        "is cheap, word of mouth travels fast (good and bad), and there is little time "
        "to win back a customer who is drifting away."
    ),
}
"""A short text per setting of :data:`sim.settings.SETTINGS` (see its module docstring)."""

STRATEGY_SUMMARIES = (
    N_("standard offer, customer adapts; low cost, slow trust, low switching cost"),
    N_("mutual adaptation and investment; fast trust, high switching cost, high cost"),
    N_("firm adapts to each customer; high fit, medium trust and switching cost"),
)
"""The strategies' summaries (:data:`sim.STRATEGIES`, ``summary``), marked here for the
catalogs: ``sim`` speaks to no user (tests/i18n checks that each one has its Chinese)."""

POPULATION_BINS = 20
"""The population view counts every customer in a grid of this many x this many squares."""

DPI = 80
FIGSIZE = (6.4, 4.4)
"""Inches at :data:`DPI`: one panel of the page (half its width)."""


_FRAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _frame(model: CRMModel, kind: str) -> pd.DataFrame:
    """``model.<kind>_frame()`` now, built once per month and model.

    The monitors and the panels read the same frames after every step;
    building them is a large part of the page's cost per month, so they are
    kept until the model moves on (or is dropped with its session). Read-only.
    """
    period, cached = _FRAMES.get(model, (None, {}))
    if period != model.period:
        cached = {}
        _FRAMES[model] = (model.period, cached)
    if kind not in cached:
        frame = getattr(model, f"{kind}_frame")()
        if kind == "firm":
            # a few hundred rows, grouped by firm many times a month: plain strings
            # group in half the time of Arrow-backed ones (same names, same sums)
            frame = frame.assign(firm=frame["firm"].astype(object))
        cached[kind] = frame
    return cached[kind]


def firm_frame(model: CRMModel) -> pd.DataFrame:
    """:meth:`CRMModel.firm_frame`, built once per month (:func:`_frame`)."""
    return _frame(model, "firm")


def customers_frame(model: CRMModel) -> pd.DataFrame:
    """:meth:`CRMModel.customers_frame`, built once per month (:func:`_frame`)."""
    return _frame(model, "customers")


def cohort_frame(model: CRMModel) -> pd.DataFrame:
    """:meth:`CRMModel.cohort_frame`, built once per month (:func:`_frame`)."""
    return _frame(model, "cohort")


def _short_stage_labels(lang: str = i18n.DEFAULT) -> list[str]:
    """The stages' names in ``lang``: the glossary's terms (in English, as the data has them)."""
    return [i18n.term(stage.name.lower(), lang) for stage in STAGE_LABELS]


def _firm_names(model: CRMModel) -> list[str]:
    return [firm.name for firm in model.firms]


def _per_firm(frame: pd.DataFrame, column: str, names: list[str]) -> pd.DataFrame:
    """One column of the firm frame as periods x firms (every firm, even with no rows)."""
    return frame.pivot(index="period", columns="firm", values=column).reindex(columns=names)


def _time_axis_end(model: CRMModel) -> int:
    """Right end of the time axes: the current year's end (the axes grow a year at a time)."""
    year = 12
    return year * max(1, -(-model.period // year))


def _time_axis(ax, model: CRMModel) -> None:
    """Months from 0 to the end of the current year, in whole months."""
    ax.set_xlim(0, _time_axis_end(model))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def _figure(
    rows: int, columns: int, hspace: float = 0.6, *, reuse: Figure | None = None, **subplots
) -> tuple[Figure, np.ndarray]:
    """A figure sized for one dashboard panel, with fixed margins; or ``reuse`` cleared.

    Fixed margins instead of a layout engine, and the same figure redrawn after
    every step instead of a new one: building axes and laying them out is most
    of the drawing time.
    """
    if reuse is not None:
        axes = np.array(reuse.axes)
        for ax in axes:
            _clear(ax)
        return reuse, axes
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    axes = figure.subplots(rows, columns, squeeze=False, **subplots).ravel()
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.11, top=0.93, wspace=0.35, hspace=hspace)
    return figure, axes


def _clear(ax) -> None:
    """Remove what the last drawing put on ``ax``, keeping the axes themselves."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.relim()  # forget the old data's limits
    ax.set_autoscale_on(True)


def _stage_legend(ax, handles, note: str = "", lang: str = i18n.DEFAULT) -> None:
    """Use a spare axis for the stage legend (and a note below it)."""
    _ = i18n.translator(lang)
    ax.set_axis_off()
    ax.legend(
        handles=handles,
        labels=_short_stage_labels(lang),
        loc="lower left",
        title=_("stage"),
        ncols=2,
        frameon=False,
        fontsize="small",
        columnspacing=0.8,
        handletextpad=0.3,
    )
    if note:
        ax.text(0.0, 1.0, note, transform=ax.transAxes, verticalalignment="top")


def stage_figure(model: CRMModel, reuse: Figure | None = None, lang: str = i18n.DEFAULT) -> Figure:
    """Stacked areas: how many customers each firm has in each stage, over time.

    Every figure function draws into a new figure, or into ``reuse``: a figure
    the same function made before (in the same language, ``lang``).
    """
    _ = i18n.translator(lang)
    frame = firm_frame(model)
    names = _firm_names(model)
    figure, axes = _figure(2, 2, reuse=reuse)
    for ax, name in zip(axes, names, strict=False):
        rows = frame[frame["firm"] == name]
        areas = ax.stackplot(
            rows["period"],
            *(rows[stage.name.lower()] for stage in STAGE_LABELS),
            colors=list(STAGE_COLOURS.values()),
        )
        strategy = _(rows["strategy"].iloc[0])
        ax.set_title(_("Firm {name} ({strategy}): customers").format(name=name, strategy=strategy))
        _time_axis(ax, model)
        ax.set_xlabel(_("period (month)"))
    _stage_legend(
        axes[len(names)], areas, _("Customers of each firm by\nstage of the relationship"), lang
    )
    return figure_fonts(figure, lang)


def outcomes_figure(
    model: CRMModel, reuse: Figure | None = None, lang: str = i18n.DEFAULT
) -> Figure:
    """Retention, satisfied leavers, customer equity and customers, per firm over time.

    * retention: share of the customers at the start of a month still there at its end;
      the legend gives each firm's annual retention so far (of its customers at month
      t, the share still its customers at t + 12) and the expected lifetime it implies,
      ``1 / (1 - annual retention)`` years (:func:`analysis.metrics.annual_retention`);
    * satisfied leavers: of the customers who chose to leave the firm so far, the share
      who were satisfied when they left (``satisfied_defectors / (defections -
      defections_life)``, cumulative: leaving the category for life reasons is no choice);
    * customer equity: discounted profit summed from period 0 (the firm's books);
    * customers: how many customers the firm has.
    """
    _ = i18n.translator(lang)
    frame, names = firm_frame(model), _firm_names(model)
    figure, axes = _figure(2, 2, hspace=0.35, reuse=reuse, sharex=True)
    retention_ax, satisfied_ax, equity_ax, customers_ax = axes
    after_start = frame[frame["period"] > 0]
    retention = _per_firm(after_start, "retention", names)
    with np.errstate(invalid="ignore", divide="ignore"):
        chose = _per_firm(after_start, "defections", names) - _per_firm(
            after_start, "defections_life", names
        )
        satisfied_share = (
            _per_firm(after_start, "satisfied_defectors", names).cumsum() / chose.cumsum()
        )
    equity = _per_firm(frame, "discounted_profit", names).cumsum()
    customers = _per_firm(frame, "customers", names)
    annual = (
        metrics.annual_retention(cohort_frame(model))
        if model.period > 12
        else pd.Series(np.nan, index=names)
    )
    for i, name in enumerate(names):
        firm = _("Firm {name}").format(name=name)
        style = {"color": FIRM_COLOURS[i % len(FIRM_COLOURS)], "label": firm}
        kept = annual.get(name, np.nan)
        yearly = (
            _("Firm {name}: {kept} kept a year, lifetime {years} years").format(
                name=name,
                kept=i18n.percent(kept, 0, lang),
                years=i18n.number(1 / (1 - kept), 1, lang),
            )
            if np.isfinite(kept) and kept < 1
            else firm
        )
        retention_ax.plot(retention.index, retention[name], **{**style, "label": yearly})
        satisfied_ax.plot(satisfied_share.index, satisfied_share[name], **style)
        equity_ax.plot(equity.index, equity[name], **style)
        customers_ax.plot(customers.index, customers[name], **style)
    retention_ax.set_title(_("Retention: share kept each month"))
    if model.period > 12:
        retention_ax.legend(loc="lower left", fontsize="x-small")
    # monthly retention is close to 1: zoom in, but never hide a drop
    lowest = retention.min().min()
    lowest = lowest if np.isfinite(lowest) else 1.0
    retention_ax.set_ylim(min(0.8, np.floor(lowest * 10) / 10), 1.0)
    satisfied_ax.set_title(_("Leavers who were satisfied"))
    satisfied_ax.set_ylim(0.0, 1.0)
    equity_ax.set_title(_("Customer equity so far"))
    equity_ax.axhline(0.0, color="grey", linewidth=0.8)
    customers_ax.set_title(_("Customers"))
    customers_ax.set_ylim(bottom=0)
    for ax in axes:
        _time_axis(ax, model)
    for ax in (equity_ax, customers_ax):
        ax.set_xlabel(_("period (month)"))
    equity_ax.legend(loc="upper left", fontsize="small")
    return figure_fonts(figure, lang)


DETERMINANTS = (
    ("mean_value", N_("Value customers get")),
    ("mean_satisfaction", N_("Satisfaction")),
    ("mean_trust", N_("Trust")),
    ("mean_switching_cost", N_("Switching cost")),
)
"""Firm-frame columns of the four determinants of loyalty, with their titles."""


def determinants_figure(
    model: CRMModel, reuse: Figure | None = None, lang: str = i18n.DEFAULT
) -> Figure:
    """Mean value, satisfaction, trust and switching cost of each firm's customers."""
    _ = i18n.translator(lang)
    frame, names = firm_frame(model), _firm_names(model)
    figure, axes = _figure(2, 2, hspace=0.3, reuse=reuse, sharex=True)
    for ax, (column, title) in zip(axes, DETERMINANTS, strict=True):
        table = _per_firm(frame, column, names)
        for i, name in enumerate(names):
            ax.plot(
                table.index,
                table[name],
                color=FIRM_COLOURS[i % len(FIRM_COLOURS)],
                label=_("Firm {name}").format(name=name),
            )
        ax.set_title(_("{title} (average)").format(title=_(title)))
        _time_axis(ax, model)
        if column != "mean_value":
            ax.set_ylim(0.0, 1.0)
    for ax in axes[2:]:
        ax.set_xlabel(_("period (month)"))
    axes[0].legend(loc="lower right", fontsize="small")
    return figure_fonts(figure, lang)


def population_grid(satisfaction, switching_cost, stage_codes) -> np.ndarray:
    """Every customer counted in a grid: stage x switching-cost row x satisfaction column.

    Args:
        satisfaction: one value in [0, 1] per customer.
        switching_cost: one value in [0, 1] per customer.
        stage_codes: each customer's :class:`sim.Stage` code.

    Returns:
        Counts of shape ``(len(Stage), POPULATION_BINS, POPULATION_BINS)``; row 0
        is the lowest switching cost. They sum to the number of customers.
    """
    bins = POPULATION_BINS
    column = np.clip((np.asarray(satisfaction) * bins).astype(np.intp), 0, bins - 1)
    row = np.clip((np.asarray(switching_cost) * bins).astype(np.intp), 0, bins - 1)
    cell = (np.asarray(stage_codes, dtype=np.intp) * bins + row) * bins + column
    return np.bincount(cell, minlength=len(Stage) * bins * bins).reshape(len(Stage), bins, bins)


def population_image(counts: np.ndarray, most: int) -> np.ndarray:
    """RGB picture of :func:`population_grid`: the stages' colours mixed, darker where more.

    A square's colour is its customers' stage colours mixed in proportion to
    their numbers; its strength grows with the square-root of the count (a
    square with ``most`` customers in full colour, an empty one white).
    """
    colours = np.ones((len(Stage), 3))
    for stage, colour in STAGE_COLOURS.items():
        colours[stage] = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mixed = np.einsum("sij,sc->ijc", counts, colours) / total[..., None]
    strength = np.sqrt(total / max(most, 1))[..., None]
    return np.where(total[..., None] > 0, 1.0 - strength * (1.0 - mixed), 1.0)


def population_figure(
    model: CRMModel, reuse: Figure | None = None, lang: str = i18n.DEFAULT
) -> Figure:
    """Every customer, counted: satisfaction vs switching cost by firm, coloured by stage.

    One square per range of satisfaction (across) and switching cost (up),
    :data:`POPULATION_BINS` of each: its colour mixes the stages of the firm's
    customers in it, and the more customers, the stronger (:func:`population_image`).
    An aggregate of all customers, not a sample: the same picture whatever
    the market's size, and as quick to draw.
    """
    _ = i18n.translator(lang)
    customers = customers_frame(model)
    names = _firm_names(model)
    figure, axes = _figure(2, 2, reuse=reuse)
    firm = customers["firm"].astype(object).to_numpy()
    stage_codes = customers["stage"].cat.codes.to_numpy()
    satisfaction = customers["satisfaction"].to_numpy()
    switching_cost = customers["switching_cost"].to_numpy()
    grids = {}
    for name in names:
        own = firm == name
        grids[name] = population_grid(satisfaction[own], switching_cost[own], stage_codes[own])
    most = max((int(grid.sum(axis=0).max()) for grid in grids.values()), default=1)
    for ax, name in zip(axes, names, strict=False):
        ax.imshow(
            population_image(grids[name], most),
            origin="lower",
            extent=(0.0, 1.0, 0.0, 1.0),
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_title(
            _("Firm {name}: {customers} customers").format(
                name=name, customers=int(grids[name].sum())
            )
        )
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel(_("switching cost"))
        ax.set_xlabel(_("satisfaction"))
    without = int(customers["firm"].isna().sum())
    handles = [Patch(color=colour) for colour in STAGE_COLOURS.values()]
    _stage_legend(
        axes[len(names)],
        handles,
        _(
            "All {customers} customers counted\n(darker: more of them);\n"
            "{without} of them have no firm now"
        ).format(customers=len(model.customers), without=without),
        lang,
    )
    return figure_fonts(figure, lang)


SCREEN_CSS = """
.crm-monitors { font-size: 1.5em; border-collapse: collapse; }
.crm-monitors th, .crm-monitors td { padding: 2px 10px; }
@media (max-width: 1279px) {
  /* a class's 1024 x 768 and 1280 x 800 screens: the panels one under the other, each
     as wide as the page (Mesa's grid would halve them), the monitors' table narrower */
  .vue-grid-layout { height: auto !important; }
  .vue-grid-item {
    position: relative !important; transform: none !important;
    width: calc(100% - 20px) !important; height: auto !important; margin: 10px;
  }
  .vue-grid-item .v-card { max-height: 420px; }
  .vue-grid-item img { width: 100%; height: auto; }
  .crm-monitors { font-size: 1.05em; }
  .crm-monitors th { font-size: 0.75em; }
  .crm-monitors th, .crm-monitors td { padding: 2px 3px; }
}
"""
"""The page's layout on smaller screens (classroom laptops, projectors at 1024 x 768)."""

MONITORS = {
    "customers": N_("customers"),
    **{stage.name.lower(): stage.name.lower() for stage in STAGE_LABELS},
    "annual_retention": N_("kept a year"),
    "customer_equity": N_("customer equity"),
    "satisfied_defector_share": N_("leavers who were satisfied"),
}
"""The monitors' columns (:func:`monitors`) and their captions on the page (translate with
``_``: the stages' are the glossary's terms)."""


def monitors(model: CRMModel) -> pd.DataFrame:
    """The numbers shown big above the plots: one row per firm, now.

    Each measure is the report's own (:mod:`analysis.metrics`), computed the
    same way, but from the model's arrays rather than its frames: building
    the ledger, cohort and customer frames every month cost far more than the
    model's month itself. Customers by stage from the ledger's last period;
    annual retention (:func:`analysis.metrics.annual_retention`, NaN before
    month 13); customer equity, discounted profit so far plus the current
    customers' projected remainder (:func:`analysis.metrics.customer_equity`,
    with :func:`analysis.money.stage_margin`); the share of defectors by choice
    who left satisfied (:func:`analysis.metrics.satisfied_defector_share`, NaN
    before the first). tests/dashboard/test_dashboard_views.py checks them
    against the report's functions on the frames.

    Returns:
        Columns :data:`MONITORS`, index the firm names in model order.
    """
    ledger = model.ledger
    names = pd.Index(_firm_names(model), name="firm")
    last = ledger.last_period
    rows = ledger.firm[: last + 1]  # periods x firms x columns

    def column(name: str) -> np.ndarray:
        values = rows[:, :, ledger.column[name]]
        return values.round() if name in INTEGER_COLUMNS else values

    table = pd.DataFrame(
        {name: column(name)[last] for name in MONITORS if name in ledger.column}, index=names
    ).astype(float)
    table["annual_retention"] = _annual_retention(ledger)
    table["customer_equity"] = _customer_equity(model, column)
    with np.errstate(invalid="ignore", divide="ignore"):
        chose = column("defections").sum(axis=0) - column("defections_life").sum(axis=0)
        table["satisfied_defector_share"] = np.where(
            chose == 0, np.nan, column("satisfied_defectors").sum(axis=0) / chose
        )
    return table[list(MONITORS)]


def _annual_retention(ledger) -> np.ndarray:
    """:func:`analysis.metrics.annual_retention` of each firm, from the ledger's cohort counts."""
    last = ledger.last_period
    first = 13  # analysis.metrics.annual_retention's default
    start = first if last - metrics.ANNUAL >= first else 1
    months = np.arange(start, last - metrics.ANNUAL + 1)
    labels = np.arange(ledger.cohorts.shape[2]) * ledger.cohort_width
    labels = labels[labels <= last]  # the cohorts acquired by now
    counts = ledger.cohorts[: last + 1, :, : len(labels)]  # period x firm x cohort
    counts = np.where(labels[None, None, :] <= np.arange(last + 1)[:, None, None], counts, 0)
    upto = np.cumsum(counts, axis=2)  # customers of the cohorts up to each one
    kept = np.searchsorted(labels, months, side="right") - 1  # the last cohort <= t
    result = np.full(len(ledger.firm_names), np.nan)
    for firm in range(len(result)):
        base = upto[months, firm, kept]
        later = upto[months + metrics.ANNUAL, firm, kept]
        shares = later[base > 0] / base[base > 0]
        if shares.size:
            result[firm] = float(np.mean(shares))
    return result


def _customer_equity(model: CRMModel, column) -> np.ndarray:
    """:func:`analysis.metrics.customer_equity` of each firm, from the model's arrays.

    The discounted terms summed over the periods so far, plus the current
    customers' projected remainder as :func:`analysis.money.customer_clv`
    computes it (their margin, their firm's retention in their stage).
    """
    config, pop = model.config, model.customers
    last = model.ledger.last_period
    d = config.simulation.discount_rate
    # the firms' retention by stage (analysis.money.stage_retention)
    stages = list(money.ACTIVE_STAGES)
    exposure = np.stack([column(stage)[:last].sum(axis=0) for stage in stages], axis=1)
    lost = np.stack([column(f"defections_{s}")[1:].sum(axis=0) for s in stages], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = column("retained")[1:].sum(axis=0) / column("customers_start")[1:].sum(axis=0)
        rate = 1.0 - lost / exposure
    rate[exposure == 0] = np.nan
    overall = np.broadcast_to(overall[:, None], rate.shape)
    rate = np.nan_to_num(np.clip(np.where(np.isnan(rate), overall, rate), 0.0, 1.0), nan=0.0)
    # the current customers' projected remainder (analysis.money.customer_clv)
    current = pop.firm >= 0
    firm, stage = pop.firm[current].astype(np.intp), pop.stage[current].astype(np.intp)
    codes = [int(stage) for stage in STAGE_LABELS]  # the active stages, in money's order
    margin = money.stage_margin(
        firm,
        stage,
        pop.spend[current].astype(float),
        pop.purchase_rate[current].astype(float),
        config,
        firm_keys=range(len(config.firms)),
        stage_keys=codes,
    )
    r = np.zeros(len(firm))
    for i in range(len(config.firms)):
        for j, code in enumerate(codes):
            r[(firm == i) & (stage == code)] = rate[i, j]
    projected = money.remaining_value(margin, r, d, config.simulation.planning_horizon) * (
        1.0 + d
    ) ** -float(last)
    remainder = np.bincount(firm, weights=projected, minlength=len(config.firms))
    terms = [column(f"discounted_{name}").sum(axis=0) for name in metrics.EQUITY_TERMS[:-1]]
    signs = metrics._EQUITY_SIGNS
    return sum(sign * term for sign, term in zip(signs, [*terms, remainder], strict=True))


def monitor_text(column: str, value: float, lang: str = i18n.DEFAULT) -> str:
    """One monitor's number as shown: counts whole, shares in percent, money rounded."""
    if not np.isfinite(value):
        return "–"
    if column in ("annual_retention", "satisfied_defector_share"):
        return i18n.localize(f"{value:.0%}", lang)
    if column == "customer_equity":
        return i18n.localize(f"{value:,.0f}", lang)
    return i18n.localize(f"{value:,.0f}", lang)


def explanation(model: CRMModel, lang: str = i18n.DEFAULT) -> list[tuple[str, str]]:
    """What the current setting, strategies and levers change, as (heading, text) pairs."""
    _ = i18n.translator(lang)
    config = model.config
    setting = config.market.setting
    paragraphs = [
        (
            _("Month {month} of {months}.").format(
                month=model.period, months=config.simulation.periods
            ),
            _("{customers} customers, seed {seed}.").format(
                customers=config.simulation.customers, seed=config.simulation.seed
            )
            + " "
            + _("Changed a control? Press RESET to start again with it."),
        ),
        (
            _("Setting: {setting}.").format(setting=_(setting)),
            _(SETTING_NOTES.get(setting, N_("A preset of market numbers (see sim/settings.py)."))),
        ),
    ]
    for firm in config.firms:
        strategy = STRATEGIES[firm.strategy]
        paragraphs.append(
            (
                _("Firm {name} runs {strategy}:").format(name=firm.name, strategy=_(strategy.name)),
                _("{summary}; price {price}.").format(
                    summary=_(strategy.summary), price=i18n.number(firm.price, 2, lang)
                ),
            )
        )
    controls = getattr(model, "controls", None)
    if controls:
        levers = _(", ").join(
            f"{_(label).split(' (')[0].lower()} x{i18n.number(controls[name], 1, lang)}"
            for name, (_field, label) in LEVERS.items()
        )
        stop = _(".")
        paragraphs.append((_("Levers (1 = usual for the setting):"), levers + stop))
    paragraphs += [
        (
            _("Stages (colours in the plots):"),
            _("; ").join(_(label) for label in STAGE_LABELS.values())
            + _(
                ". A customer who leaves goes to a rival "
                "(starting again in exploration) or out of the market."
            ),
        ),
        (
            _("Customer equity:"),
            _(
                "all profit a firm has made from its customers so far, in today's money "
                "(later profit counts a little less)."
            ),
        ),
    ]
    return paragraphs


def explanation_panel(title: str, description: str):
    """The explanation panel: the scenario's description, then :func:`explanation`.

    Plain HTML elements, not ``solara.Markdown``: that one fetches a maths
    renderer from the internet, and the page must work offline.
    """

    @solara.component
    def Explanation(model: CRMModel):
        _ = page_gettext()
        # only the first paragraph (the month) changes with a step: it alone re-renders then
        # (_Now); the rest follows a new model (Reset) or another language
        with solara.Card(_(title), style={"height": "100%", "overflow-y": "auto"}):
            if description:
                solara.v.Html(tag="p", children=[_(description)])
            _Now(model)
            for heading, text in explanation(model, language())[1:]:
                _paragraph(heading, text)

    return Explanation


def _paragraph(heading: str, text: str):
    return solara.v.Html(tag="p", children=[solara.v.Html(tag="b", children=[heading]), f" {text}"])


@solara.component
def _Now(model: CRMModel):
    """The explanation's first paragraph (:func:`explanation`): the month, after every step."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    _paragraph(*explanation(model, language())[0])


figures_month = solara.reactive(None)
"""The month the panels show while Play runs, or ``None``: the model's month.

Drawing the four panels takes far longer than a month of the model, so the
play loop (:mod:`dashboard.play`) moves this on only every so often and sets
it back to ``None`` when it stops; the monitors follow every month. Like
Mesa's ``update_counter``, one value per browser session.
"""


def _show_figure(draw, model: CRMModel) -> None:
    """Show ``draw(model)`` on the page, redrawn into the same figure when the month shown moves."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    figure = solara.use_ref(None)
    held = figures_month.value
    lang = language()
    # the picture changes with a step (unless Play holds it), a new model (Reset) or language
    shown = [model, model.period if held is None else held, lang]

    def redraw():
        figure.current = draw(model, reuse=reusable(figure.current, lang), lang=lang)
        return figure.current

    solara.FigureMatplotlib(solara.use_memo(redraw, shown), dependencies=shown, format="png")


@solara.component
def StageComposition(model: CRMModel):
    """Panel: :func:`stage_figure`."""
    _show_figure(stage_figure, model)


@solara.component
def Outcomes(model: CRMModel):
    """Panel: :func:`outcomes_figure`."""
    _show_figure(outcomes_figure, model)


@solara.component
def Determinants(model: CRMModel):
    """Panel: :func:`determinants_figure`."""
    _show_figure(determinants_figure, model)


@solara.component
def PopulationView(model: CRMModel):
    """Panel: :func:`population_figure`."""
    _show_figure(population_figure, model)


def firm_rows(
    rows: Iterable,
    value_class: str,
    cell_style: str,
    lang: str = i18n.DEFAULT,
    period: int | None = None,
) -> list:
    """Table rows of a firm-by-measure table: ``rows`` yields ``(firm, [(measure, text)])``.

    Each value cell carries ``value_class`` and ``data-firm``/``data-measure``
    attributes, which the browser tests read, and ``data-period`` when
    ``period`` is given: cells reach the browser one by one, so a test can tell
    a cell of this month from one of the month before.
    """
    _ = i18n.translator(lang)
    when = {} if period is None else {"data-period": str(period)}
    return [
        solara.v.Html(
            tag="tr",
            children=[
                solara.v.Html(
                    tag="th",
                    children=[_("Firm {name}").format(name=firm)],
                    style_="text-align: left; white-space: nowrap",
                ),
                *(
                    solara.v.Html(
                        tag="td",
                        class_=value_class,
                        attributes={"data-firm": str(firm), "data-measure": measure, **when},
                        children=[text],
                        style_=cell_style,
                    )
                    for measure, text in cells
                ),
            ],
        )
        for firm, cells in rows
    ]


@solara.component
def Monitors(model: CRMModel):
    """Big numbers per firm (:func:`monitors`), redrawn after every step."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    lang = language()
    _ = i18n.translator(lang)
    table = solara.use_memo(lambda: monitors(model), [model, model.period])
    header = solara.v.Html(
        tag="tr",
        children=[
            solara.v.Html(tag="th", children=[_("firm")], style_="text-align: left"),
            *(solara.v.Html(tag="th", children=[_(caption)]) for caption in MONITORS.values()),
        ],
    )
    rows = firm_rows(
        (
            (firm, [(c, monitor_text(c, table.at[firm, c], lang)) for c in MONITORS])
            for firm in table.index
        ),
        "monitor-value",
        "text-align: right",
        lang,
        period=model.period,
    )
    solara.Style(SCREEN_CSS)
    with solara.Card(
        _("Monitors: month {month}").format(month=model.period), style={"overflow-x": "auto"}
    ):
        solara.v.Html(tag="table", class_="crm-monitors", children=[header, *rows])
        solara.v.Html(
            tag="p",
            children=[
                _(
                    "Kept a year: of the customers a firm had a year ago, the share still with "
                    "it (from month 13). Customer equity: profit so far plus what today's "
                    "customers are expected to bring, in today's money. Leavers who were "
                    "satisfied: of those who chose to leave, the share who were satisfied when "
                    "they left."
                )
            ],
        )


def components(title: str = N_("What is going on"), description: str = "") -> list:
    """The page's panels, in order, for ``SolaraViz(components=...)``.

    ``title`` and ``description`` are shown translated if the catalogs have them
    (the page's own; a scenario file's text stays as written).
    """
    return [
        explanation_panel(title, description),
        StageComposition,
        Outcomes,
        Determinants,
        PopulationView,
    ]
