"""Keep and compare: a run's curves pinned under the next one, and the spread over ten seeds.

A single run is one draw of a random market. Before students draw a conclusion
from it they should see how much the same market moves from seed to seed:
"Keep this run" pins the curves of the run on screen so that the next run
(after a Reset with another lever, say) is drawn over them; "Run 10 seeds"
runs the market on screen again on seeds 0 to 9 and shows, per firm and
month, the mean and the band from the lowest to the highest seed, and at the
last month how often each firm came first.

The functions (:func:`curves`, :func:`run_seeds`, :func:`spread`,
:func:`ending`) need no browser; :func:`compare_figure` draws them;
:class:`KeepAndCompare` is the page's card. The seeds run in a thread of
their own (one at a time per browser session), so the page keeps answering.
"""

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

import i18n
from i18n import N_
from sim.config import Config
from sim.model import CRMModel

from .controls import LEVERS, check_control, classroom_config
from .language import figure_fonts, language
from .views import DPI, FIGSIZE, FIRM_COLOURS, firm_rows

SEEDS = tuple(range(10))
"""The seeds "Run 10 seeds" runs: the same ten for every student and for docs/teaching.md."""

MEASURES = {
    "customers": N_("Customers"),
    "retention": N_("Retention (average a month)"),
    "equity": N_("Customer equity so far"),
    "satisfied_share": N_("Leavers who were satisfied"),
}
"""The compared curves (columns of :func:`curves`) and their titles, as in the outcomes panel
(translate with ``_``)."""

DETERMINANTS = ("mean_value", "mean_satisfaction", "mean_switching_cost")
"""Averages of the firm's customers that :func:`curves` also carries (the exercises quote them)."""


def curves(model: CRMModel) -> pd.DataFrame:
    """A run's outcome curves so far: one row per month and firm.

    The measures of the outcomes panel, from the model's firm frame:
    ``customers`` now; ``retention``, the share of a month's customers still
    there at its end, averaged over the months so far (NaN at month 0: the
    average the exercises quote, steadier than one month's share); ``equity``,
    discounted profit summed from month 0; ``satisfied_share``, of the
    customers who chose to leave so far (to a rival or out of the market, not
    for life reasons), the share who were satisfied when they left (NaN before
    the first).

    It also carries :data:`DETERMINANTS` as the firm frame has them.

    Returns:
        Columns ``period``, ``firm``, :data:`MEASURES` and :data:`DETERMINANTS`,
        firms in model order.
    """
    frame = model.firm_frame()  # period by period, the firms in model order
    by_firm = frame.groupby("firm", sort=False)
    chose = (frame["defections"] - frame["defections_life"]).groupby(frame["firm"], sort=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        satisfied = by_firm["satisfied_defectors"].cumsum() / chose.cumsum()
    return pd.DataFrame(
        {
            "period": frame["period"],
            "firm": frame["firm"].astype(str),
            "customers": frame["customers"].astype(float),
            "retention": by_firm["retention"].transform(_mean_after_start),
            "equity": by_firm["discounted_profit"].cumsum(),
            "satisfied_share": satisfied,
            **{column: frame[column] for column in DETERMINANTS},
        }
    ).reset_index(drop=True)


def _mean_after_start(retention: pd.Series) -> pd.Series:
    """Mean monthly retention from month 1 to each month (NaN at month 0)."""
    after = retention.copy()
    after.iloc[0] = np.nan
    return after.expanding().mean()


def with_seed(config: Config, seed: int) -> Config:
    """``config`` with another seed: the same market, another draw."""
    return config.model_copy(
        update={"simulation": config.simulation.model_copy(update={"seed": int(seed)})}
    )


def run_seeds(
    config: Config,
    seeds: Iterable[int] = SEEDS,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> pd.DataFrame | None:
    """Run ``config`` to its horizon once per seed; the curves of every run.

    Each run is the model the page builds for that seed (``CRMModel(config,
    rng=seed)`` with the seed in the config, as :class:`ClassroomModel` does):
    seed 3 here is seed 3 on the page, month for month.

    Args:
        config: the market (its own seed is replaced by each of ``seeds``).
        seeds: the seeds to run.
        progress: called with (runs done, runs in all) after each run.
        cancelled: asked before each run; if it says yes, stop and return None.

    Returns:
        :func:`curves` of every run with a ``seed`` column, or None if cancelled.
    """
    seeds = [int(seed) for seed in seeds]
    runs = []
    for done, seed in enumerate(seeds):
        if cancelled is not None and cancelled():
            return None
        model = CRMModel(with_seed(config, seed), rng=seed).run()
        runs.append(curves(model).assign(seed=seed))
        del model  # one model at a time in memory
        if progress is not None:
            progress(done + 1, len(seeds))
    return pd.concat(runs, ignore_index=True)


def spread(runs: pd.DataFrame) -> pd.DataFrame:
    """Per month and firm, each measure's mean, lowest and highest over the seeds.

    Returns:
        Index ``(period, firm)``; columns ``(measure, statistic)`` with statistics
        ``mean``, ``low`` and ``high`` (NaN runs, e.g. no leaver yet, are left out).
    """
    grouped = runs.groupby(["period", "firm"], sort=False)[list(MEASURES)]
    table = grouped.agg(["mean", "min", "max"])
    return table.rename(columns={"min": "low", "max": "high"}, level=1)


def ending(runs: pd.DataFrame) -> pd.DataFrame:
    """The last month over the seeds: per firm, each measure's mean, low and high, and wins.

    Returns:
        One row per firm (model order): columns ``(measure, mean|low|high)`` as in
        :func:`spread`, and ``("equity", "first")``, the number of seeds on which
        the firm ended with the highest customer equity (a tie counts for each),
        and ``("equity", "seeds")``, how many seeds were run.
    """
    last = runs[runs["period"] == runs["period"].max()]
    table = spread(last).droplevel("period")
    best = last.groupby("seed")["equity"].transform("max")
    wins = last.assign(first=last["equity"] >= best).groupby("firm", sort=False)["first"].sum()
    table[("equity", "first")] = wins.reindex(table.index).astype(int)
    table[("equity", "seeds")] = last["seed"].nunique()
    return table


def share_of_seeds(per_seed: pd.Series) -> str:
    """``"8 of 10 seeds"``: how many of a boolean per-seed series are true."""
    return f"{int(per_seed.sum())} of {len(per_seed)} seeds"


def describe(model: CRMModel, lang: str = i18n.DEFAULT) -> str:
    """A run in one line: setting, firms, levers, customers and seed."""
    _ = i18n.translator(lang)
    config = model.config
    firms = _(", ").join(
        _("{name} {strategy} at {price}").format(
            name=f.name, strategy=_(f.strategy), price=i18n.number(f.price, 2, lang)
        )
        for f in config.firms
    )
    controls = getattr(model, "controls", None) or {}
    comma = _(", ")
    levers = "".join(
        f"{comma}{_(label).split(' (')[0].lower()} x{i18n.localize(f'{controls[name]:g}', lang)}"
        for name, (_field, label) in LEVERS.items()
        if name in controls
    )
    return _("{setting}: {firms}{levers}; {customers} customers, seed {seed}").format(
        setting=_(config.market.setting),
        firms=firms,
        levers=levers,
        customers=i18n.number(config.simulation.customers, 0, lang),
        seed=config.simulation.seed,
    )


def same_market(first: Config, second: Config) -> bool:
    """Whether two configs differ at most in their seed."""
    return with_seed(first, 0) == with_seed(second, 0)


def compare_figure(
    current: pd.DataFrame | None,
    kept: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
    *,
    months: int | None = None,
    lang: str = i18n.DEFAULT,
) -> Figure:
    """The outcomes of the run on screen (solid), a kept run (dashed) and the seed spread.

    Args:
        current: :func:`curves` of the run on screen, or None.
        kept: :func:`curves` of a kept run, drawn dashed under the current one.
        runs: :func:`run_seeds` output: its mean dotted, lowest to highest shaded.
        months: right end of the time axes (default: the longest curve's).
        lang: the language of its titles and labels.

    Returns:
        A figure of 2 x 2 panels, one per :data:`MEASURES`, one colour per firm.
    """
    _ = i18n.translator(lang)
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    axes = figure.subplots(2, 2, sharex=True).ravel()
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.11, top=0.93, wspace=0.35, hspace=0.35)
    shown = [frame for frame in (current, kept, runs) if frame is not None]
    names = list(dict.fromkeys(name for frame in shown for name in frame["firm"]))
    end = months or max((int(frame["period"].max()) for frame in shown), default=12)
    table = spread(runs) if runs is not None else None
    for ax, (measure, title) in zip(axes, MEASURES.items(), strict=True):
        for i, name in enumerate(names):
            colour = FIRM_COLOURS[i % len(FIRM_COLOURS)]
            if table is not None:
                rows = table.xs(name, level="firm")[measure]
                ax.fill_between(rows.index, rows["low"], rows["high"], color=colour, alpha=0.2)
                ax.plot(rows.index, rows["mean"], color=colour, linestyle=":", linewidth=1.2)
            if kept is not None:
                rows = kept[kept["firm"] == name]
                ax.plot(rows["period"], rows[measure], color=colour, linestyle="--", linewidth=1)
            if current is not None:
                rows = current[current["firm"] == name]
                firm = _("Firm {name}").format(name=name)
                ax.plot(rows["period"], rows[measure], color=colour, label=firm)
        ax.set_title(_(title), fontsize="medium")
        ax.set_xlim(0, max(end, 1))
    axes[1].set_ylim(min(0.8, axes[1].get_ylim()[0]), 1.0)
    axes[3].set_ylim(0.0, 1.0)
    for ax in axes[2:]:
        ax.set_xlabel(_("period (month)"))
    if current is not None:
        axes[2].legend(loc="upper left", fontsize="small")
    return figure_fonts(figure, lang)


def ending_rows(table: pd.DataFrame, lang: str = i18n.DEFAULT) -> list[tuple[str, list[str]]]:
    """The spread table as text: per firm, each measure's mean and range at the last month."""
    _ = i18n.translator(lang)
    rows = []
    for firm in table.index:
        cells = []
        for measure in MEASURES:
            mean, low, high = (table.at[firm, (measure, stat)] for stat in ("mean", "low", "high"))
            cells.append(
                i18n.localize(
                    f"{_number(measure, mean)} ({_number(measure, low)}–{_number(measure, high)})",
                    lang,
                )
            )
        first, seeds = table.at[firm, ("equity", "first")], table.at[firm, ("equity", "seeds")]
        cells.append(_("{first} of {seeds}").format(first=first, seeds=seeds))
        rows.append((str(firm), cells))
    return rows


def _number(measure: str, value: float) -> str:
    if not np.isfinite(value):
        return "–"
    if measure == "retention":
        return f"{value:.3f}"
    if measure == "satisfied_share":
        return f"{value:.0%}"
    return f"{value:,.0f}"


ENDING_HEADERS = [
    N_("customers"),
    N_("retention (average a month)"),
    N_("customer equity so far"),
    N_("leavers who were satisfied"),
    N_("first in equity"),
]
"""Column captions of the spread table (:func:`ending_rows`; translate with ``_``)."""


@solara.component
def KeepAndCompare(model: CRMModel):
    """The page's card: Keep this run, Run 10 seeds, and the figure and table they make.

    Kept curves and seed runs belong to this browser session and survive a
    Reset; a kept run or a spread of another market than the one on screen
    says so. The ten seeds run in a thread (:func:`solara.lab.use_task`); a
    new click cancels a run in progress.
    """
    # not re-rendered after every step: nothing here shows the month (_Compared and
    # FollowedView do, and follow the steps themselves); the buttons read the model when clicked
    kept = solara.use_reactive(None)  # (label, curves)
    seeded = solara.use_reactive(None)  # (config, label, runs)
    note = solara.use_reactive("")
    lang = language()
    _ = i18n.translator(lang)

    def ten_seeds(config: Config, label: str):
        def progress(done: int, total: int) -> None:
            note.set(
                _("Ran {done} of {total} seeds ({customers} customers).").format(
                    done=done,
                    total=total,
                    customers=i18n.number(config.simulation.customers, 0, lang),
                )
            )

        note.set(_("Running seeds 0 to {last}…").format(last=len(SEEDS) - 1))
        runs = run_seeds(config, progress=progress, cancelled=lambda: not task.is_current())
        if runs is not None:
            note.set("")
            seeded.set((config, label, runs))

    task = solara.lab.use_task(ten_seeds, dependencies=None)

    def keep() -> None:
        kept.set(
            (
                _("{run}, to month {month}").format(run=describe(model, lang), month=model.period),
                curves(model),
            )
        )

    def run_ten() -> None:
        seed = _(", seed {seed}").format(seed=model.config.simulation.seed)
        task(model.config, describe(model, lang).rsplit(seed, 1)[0])

    with solara.Card(_("Keep and compare"), style={"overflow-x": "auto"}):
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "center"}):
            solara.Button(_("Keep this run"), on_click=keep, outlined=True)
            solara.Button(_("Run 10 seeds"), on_click=run_ten, outlined=True, disabled=task.pending)
            if kept.value is not None or seeded.value is not None:

                def forget() -> None:
                    kept.set(None)
                    seeded.set(None)

                solara.Button(_("Clear"), on_click=forget, text=True)
        if task.pending:
            solara.ProgressLinear(True)
        if note.value:
            solara.Text(note.value, classes=["seed-progress"])
        if kept.value is None and seeded.value is None:
            solara.Text(
                _(
                    "Keep this run pins its curves (dashed) under the next run. Run 10 seeds "
                    "runs this market on seeds 0 to 9: the band is lowest to highest, the dotted "
                    "line the mean. One run is one draw: look at the band before drawing a "
                    "conclusion."
                )
            )
            return
        _Compared(model, kept.value, seeded.value)


def redraw_month(month: int, horizon: int) -> int:
    """The month the compare figure is drawn at: each of the first year, then every sixth.

    Drawing it takes about half a second on a busy two-core machine; every month
    of a 120-month Play would double Play's time. The last month is always drawn.
    """
    if month <= 12 or month >= horizon:
        return month
    return month - month % 6


@solara.component
def _Compared(model: CRMModel, kept, seeded):
    """The figure, what it shows, and the spread table at the last month."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    runs = seeded[2] if seeded is not None else None
    months = model.config.simulation.periods
    lang = language()
    _ = i18n.translator(lang)
    # redrawn with a new kept run or spread, as the run on screen goes on, in another language
    shown = [model, redraw_month(model.period, months), id(kept), id(seeded), lang]
    figure = solara.use_memo(
        lambda: compare_figure(
            curves(model), kept[1] if kept else None, runs, months=months, lang=lang
        ),
        shown,
    )
    lines = [_("Solid: this run (seed {seed}).").format(seed=model.config.simulation.seed)]
    if kept is not None:
        lines.append(_("Dashed: the kept run ({run}).").format(run=kept[0]))
    if seeded is not None:
        market = (
            _("this market")
            if same_market(seeded[0], model.config)
            else _("another market than this one ({run})").format(run=seeded[1])
        )
        lines.append(_("Band and dotted mean: seeds 0 to 9 of {market}.").format(market=market))
    with solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}):
        solara.FigureMatplotlib(figure, dependencies=shown, format="png")
        with solara.Column(style={"max-width": "40em", "flex": "1 1 24em"}):
            for line in lines:
                solara.v.Html(tag="p", class_="compare-note", children=[line])
            if runs is not None:
                _EndingTable(ending(runs), int(runs["period"].max()), lang)


@solara.component
def _EndingTable(table: pd.DataFrame, month: int, lang: str = i18n.DEFAULT):
    """Per firm at the last month: mean (lowest–highest) over the seeds, and wins."""
    _ = i18n.translator(lang)
    cell = "padding: 1px 6px; text-align: right; white-space: nowrap"
    caption = solara.v.Html(
        tag="caption",
        children=[_("Month {month}, seeds 0 to 9: mean (lowest–highest)").format(month=month)],
        style_="caption-side: top; text-align: left; font-weight: bold",
    )
    header = solara.v.Html(
        tag="tr",
        children=[
            solara.v.Html(tag="th", children=[_("firm")], style_="text-align: left"),
            *(
                solara.v.Html(tag="th", children=[_(caption)], style_="padding: 1px 6px")
                for caption in ENDING_HEADERS
            ),
        ],
    )
    rows = firm_rows(
        (
            (firm, list(zip([*MEASURES, "first"], cells, strict=True)))
            for firm, cells in ending_rows(table, lang)
        ),
        "spread-value",
        cell,
        lang,
    )
    solara.v.Html(
        tag="table",
        style_="border-collapse: collapse; font-size: 0.9em",
        children=[caption, header, *rows],
    )
    solara.v.Html(
        tag="p",
        children=[
            _(
                "Retention: the average share kept a month over the run. First in equity: on "
                "how many of the ten seeds the firm ended with the most customer equity so far."
            )
        ],
    )


def seed_table(runs: pd.DataFrame, measure: str, month: int | None = None) -> pd.DataFrame:
    """One measure at one month (default: the last), seeds x firms: for per-seed claims."""
    month = int(runs["period"].max()) if month is None else month
    rows = runs[runs["period"] == month]
    return rows.pivot(index="seed", columns="firm", values=measure)


def controls_runs(
    controls: Mapping, base: Mapping, seeds: Iterable[int] = SEEDS, **changes
) -> pd.DataFrame:
    """:func:`run_seeds` of the market the page builds from ``controls`` (and ``changes``)."""
    sent = {**controls, **changes}
    config = classroom_config(base, **{name: check_control(name, sent[name]) for name in sent})
    return run_seeds(config, seeds)


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.compare [SCENARIO] [--set NAME=VALUE ...]``: the spread table.

    Runs the market the page would build from the scenario's controls (changed
    by ``--set``, as the sliders would) on seeds 0 to 9 and prints what "Run 10
    seeds" shows at the last month, and how long the ten runs took. Bad input
    is one line naming the file or control and what is allowed, exit 2.
    """
    import argparse
    import sys
    import time

    import yaml

    from .controls import initial_state

    parser = argparse.ArgumentParser(
        prog="python -m dashboard.compare", description=main.__doc__.splitlines()[0]
    )
    parser.add_argument("scenario", nargs="?", help="a scenario YAML file (default: the page's)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a control's value"
    )
    args = parser.parse_args(argv)
    try:
        controls, sections, _ = initial_state(args.scenario)
        changes = {}
        for item in args.set:
            name, equals, value = item.partition("=")
            if not equals:
                raise ValueError(f"--set {item!r}: write NAME=VALUE, e.g. customers=10000")
            changes[name.strip()] = value.strip()
        started = time.perf_counter()
        runs = controls_runs(controls, sections, **changes)
    except (OSError, ValueError, yaml.YAMLError) as error:
        where = f"{args.scenario}: " if args.scenario and args.scenario not in str(error) else ""
        print(f"error: {where}{' '.join(str(error).split())}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    table = ending(runs)
    month = int(runs["period"].max())
    print(f"Month {month}, seeds 0 to 9: mean (lowest-highest)")
    print("\t".join(["firm", *ENDING_HEADERS]))
    for firm, cells in ending_rows(table):
        print("\t".join([f"Firm {firm}", *cells]).replace("–", "-"))
    print(f"{len(SEEDS)} runs in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
