"""Follow a customer: one customer's stage, value, satisfaction, trust and switching cost by month.

Every classroom model follows a fixed set of customers from month 0
(:data:`dashboard.controls.TRACKED` rows, :meth:`sim.model.CRMModel.follow`):
the model copies their state after each month, in Python, after the kernels,
so the other customers cost nothing more. From that history this module
finds the customers worth a look (:func:`telling`), one customer's months
(:func:`customer_history`) and what happened to them (:func:`events`).
A student may also follow any customer now in the market by id: their
history starts in the month they were picked.

What the history can and cannot tell:

* how a relationship began (marketing, a referral, a win-back policy, a move
  from a rival) is noted by the model for the followed customers;
* which advocate's recommendation brought a referral is not: the model draws
  referrals per firm, from its number of advocates;
* the model counts a leaver as satisfied from their satisfaction in the month
  they leave. Leaving for the market keeps that satisfaction in the month's
  state; leaving for a rival starts the new relationship afresh in the same
  month, so the state kept is the month before's (:func:`events` says which).
"""

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from mesa.visualization.utils import update_counter

from sim.model import CRMModel

from .views import DPI, STAGE_COLOURS

PICKED_LIMIT = 20
"""Customers a session may follow by id on top of the tracked ones (keeps the history bounded)."""

DETERMINANTS = (
    ("satisfaction", "satisfaction", "#31a354"),
    ("trust", "trust", "#3182bd"),
    ("switching_cost", "switching cost", "#756bb1"),
)
"""Determinants drawn on a 0-1 scale: column, label, colour (value has its own axis)."""

EVENT_COLOURS = {
    "referral": "#1b9e77",
    "joined": "#7f7f7f",
    "defection": "#d62728",
    "win-back": "#ff7f0e",
    "life": "#000000",
}
"""Colour of each kind of event's mark on the figure and in the list."""

OUT_OF_FIRM_COLOURS = {"prospect": "#e0e0e0", "exited": "#9e9e9e"}
"""Band colours of the months without a firm: a prospect, out of the market."""


class Event(NamedTuple):
    """Something that happened to a followed customer in a month.

    ``kind``: ``"referral"`` (joined through a referral), ``"joined"`` (won
    by marketing, or a relationship under way when first followed),
    ``"defection"`` (left a firm by choice, for a rival or the market),
    ``"win-back"`` (won back by a win-back policy), ``"life"`` (left the
    category for life reasons). ``left_satisfaction``: for a defection or a
    win-back from a rival, the satisfaction with the firm left (see
    ``text`` for which month's); NaN otherwise.
    """

    period: int
    kind: str
    text: str
    left_satisfaction: float = float("nan")


class Telling(NamedTuple):
    """A customer worth following: why, who (identity and row in the market), in a sentence."""

    label: str
    identity: int | None
    row: int | None
    text: str


def customer_history(history: pd.DataFrame, identity: int) -> pd.DataFrame:
    """The months of one customer (an identity), in order, from :meth:`CRMModel.history_frame`."""
    return history[history["identity"] == identity].sort_values("period").reset_index(drop=True)


def events(history: pd.DataFrame, identity: int, threshold: float) -> list[Event]:
    """What happened to customer ``identity`` month by month, from the followed history.

    Args:
        history: :meth:`sim.model.CRMModel.history_frame`, at least the
            customer's row (place in the market).
        identity: the customer.
        threshold: the satisfied mark (``simulation.satisfied_threshold``).

    Returns:
        The events in month order (see :class:`Event`). A relationship
        under way in the customer's first month followed is an event of that month.
    """
    months = customer_history(history, identity)
    if months.empty:
        return []
    found: list[Event] = []
    months_seen = list(months.itertuples())
    first = months_seen[0]
    if pd.notna(first.firm) and first.joined in ("", "unknown"):
        since = int(first.period) - int(first.tenure)
        when = f"month {since}" if since >= 0 else "before month 0"
        found.append(
            Event(int(first.period), "joined", f"customer of Firm {first.firm} since {when}")
        )
    else:
        found.extend(_month_events(None, first, threshold))
    for previous, month in pairwise(months_seen):
        found.extend(_month_events(previous, month, threshold))
    # the row goes on with a new arrival: this customer left the category
    last = int(months["period"].iloc[-1])
    same_row = history[(history["customer"] == first.customer) & (history["period"] > last)]
    if (same_row["identity"] != identity).any():
        text = "left the category (life reasons): gone for good"
        found.append(Event(last + 1, "life", text))
    return found


def _month_events(previous, month, threshold: float) -> list[Event]:
    """The events of ``month`` (a row of the history), given the month before (or None)."""
    period, joined = int(month.period), month.joined
    ended = pd.notna(month.left_period) and int(month.left_period) == period
    if ended and previous is not None and pd.notna(month.last_firm):
        to_market = month.firm is None or pd.isna(month.firm)
        satisfaction = float(month.satisfaction if to_market else previous.satisfaction)
        mood = "satisfied" if satisfaction >= threshold else "not satisfied"
        seen = "that month" if to_market else "the month before"
        said = f"satisfaction {satisfaction:.2f} ({seen}): {mood}"
        if joined == "win-back":
            text = f"won back by Firm {month.firm}, leaving Firm {month.last_firm}; {said}"
            return [Event(period, "win-back", text, satisfaction)]
        where = "and the market" if to_market else f"for Firm {month.firm}"
        return [
            Event(period, "defection", f"left Firm {month.last_firm} {where}; {said}", satisfaction)
        ]
    if joined == "referral":
        return [Event(period, "referral", f"joined Firm {month.firm} through a referral")]
    if joined == "marketing":
        return [Event(period, "joined", f"won by Firm {month.firm}'s marketing")]
    if joined == "win-back":
        return [Event(period, "win-back", f"won back by Firm {month.firm}")]
    return []


def relationships(history: pd.DataFrame) -> pd.DataFrame:
    """The followed customers' relationships seen in the history, one row each.

    Columns ``identity``, ``customer`` (the row), ``firm``, ``first`` and
    ``last`` (months seen), ``since`` (the month it began: the first month
    seen less the tenure then; negative before month 0), ``tenure`` (the
    longest seen, months), ``joined`` (how it began, if seen) and
    ``returned`` (the customer had been a customer of this firm in an
    earlier relationship seen).
    """
    with_firm = history[history["firm"].notna()].sort_values(["customer", "period"])
    with_firm = with_firm.assign(since=with_firm["period"] - with_firm["tenure"].astype(int))
    keys = ["identity", "customer", "firm", "acquired_period"]
    table = (
        with_firm.groupby(keys, sort=False)
        .agg(
            first=("period", "min"),
            last=("period", "max"),
            since=("since", "first"),
            tenure=("tenure", "max"),
            joined=("joined", "first"),
        )
        .reset_index()
        .sort_values(["identity", "first"])
    )
    table["returned"] = table.groupby(["identity", "firm"]).cumcount() > 0
    return table.drop(columns="acquired_period").reset_index(drop=True)


def leavings(history: pd.DataFrame) -> pd.DataFrame:
    """Every end of a relationship by choice seen in the history, with the satisfaction at leaving.

    Columns ``identity``, ``customer`` (the row), ``period``, ``left`` (the
    firm left), ``firm`` (the new one, missing for the market), ``joined``
    and ``satisfaction``: the month's for a customer who left for the
    market, the month before's for one who moved to a rival (:func:`events`).
    """
    ordered = history.sort_values(["customer", "period"])
    before = ordered.groupby("customer")[["identity", "satisfaction", "period"]].shift(1)
    ended = (
        ordered["left_period"].eq(ordered["period"]).fillna(False).to_numpy(bool)
        & ordered["last_firm"].notna().to_numpy()
        & (before["identity"] == ordered["identity"]).to_numpy()
        & (before["period"] == ordered["period"] - 1).to_numpy()
    )
    rows, prior = ordered[ended], before[ended]
    to_market = rows["firm"].isna().to_numpy()
    return pd.DataFrame(
        {
            "identity": rows["identity"].to_numpy(),
            "customer": rows["customer"].to_numpy(),
            "period": rows["period"].to_numpy(),
            "left": rows["last_firm"].to_numpy(),
            "firm": rows["firm"].to_numpy(),
            "joined": rows["joined"].to_numpy(),
            "satisfaction": np.where(
                to_market, rows["satisfaction"].to_numpy(), prior["satisfaction"].to_numpy()
            ),
        }
    )


def telling(history: pd.DataFrame, threshold: float, win_back_policy: bool) -> list[Telling]:
    """The customers worth following, among the followed ones.

    * longest relationship: the longest tenure seen;
    * left while satisfied: of those who left a firm by choice at or above the
      satisfied mark (:func:`leavings`), the most satisfied;
    * won back: the latest customer won back by a win-back policy;
    * came back: the latest customer who began a relationship again with a
      firm they had left (any way: marketing, a referral, a move, a win-back).

    Args:
        history: :meth:`sim.model.CRMModel.history_frame`.
        threshold: the satisfied mark.
        win_back_policy: whether a firm runs a win-back policy (to say why none was won back).
    """
    if history.empty:
        return [Telling("Longest relationship", None, None, "nobody is followed")]
    table = relationships(history)
    if table.empty:
        return [Telling("Longest relationship", None, None, "nobody has a firm yet")]
    longest = table.sort_values(["tenure", "identity"], ascending=[False, True]).iloc[0]
    since = int(longest["since"])
    when = f"since month {since}" if since >= 0 else "begun before month 0"
    found = [
        _told(
            "Longest relationship",
            longest,
            f"{int(longest['tenure'])} months with Firm {longest['firm']} ({when})",
        )
    ]
    left = leavings(history)
    satisfied = left[left["satisfaction"] >= threshold]
    if satisfied.empty:
        found.append(Telling("Left while satisfied", None, None, "nobody yet"))
    else:
        best = satisfied.sort_values(["satisfaction", "period"], ascending=[False, True]).iloc[0]
        text = (
            f"left Firm {best['left']} in month {int(best['period'])} "
            f"at satisfaction {best['satisfaction']:.2f}"
        )
        found.append(_told("Left while satisfied", best, text))
    won = table[table["joined"] == "win-back"]
    if won.empty:
        why = "nobody yet" if win_back_policy else "nobody: no firm runs a win-back policy"
        found.append(Telling("Won back", None, None, why))
    else:
        latest = won.sort_values("first").iloc[-1]
        text = f"won back by Firm {latest['firm']} in month {int(latest['first'])}"
        found.append(_told("Won back", latest, text))
    back = table[table["returned"]]
    if back.empty:
        found.append(Telling("Came back", None, None, "nobody yet"))
    else:
        latest = back.sort_values("first").iloc[-1]
        how = f" ({latest['joined']})" if latest["joined"] not in ("", "unknown") else ""
        text = f"back with Firm {latest['firm']} in month {int(latest['first'])}{how}"
        found.append(_told("Came back", latest, text))
    return found


def _told(label: str, row: pd.Series, text: str) -> Telling:
    return Telling(label, int(row["identity"]), int(row["customer"]), text)


def runs_win_back(model: CRMModel) -> bool:
    """Whether any firm of the model runs a win-back policy."""
    return any(policy.name == "win_back" for firm in model.config.firms for policy in firm.policies)


def pick(model: CRMModel, text: str) -> tuple[int, int, str]:
    """Follow the customer whose id is ``text``: ``(identity, row, what was done)``.

    A customer followed already is shown from their first month followed;
    another one now in the market is followed from now on.

    Raises:
        ValueError: one line saying why not (not an id, no such customer in
            the market, or :data:`PICKED_LIMIT` reached).
    """
    try:
        identity = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a customer id (a whole number)") from None
    rows = np.flatnonzero(model.customers.identity == identity)
    followed = model.history_frame()
    seen = followed.loc[followed["identity"] == identity, "customer"]
    if not seen.empty:
        return identity, int(seen.iloc[0]), f"Customer {identity} is followed."
    if not rows.size:
        raise ValueError(
            f"no customer {identity} in the market now (ids 0 to "
            f"{int(model.customers.identity.max())}; one who left the category can be "
            "followed only if they were followed before)"
        )
    picked = getattr(model, "picked", 0)
    if picked >= PICKED_LIMIT:
        raise ValueError(f"at most {PICKED_LIMIT} customers can be picked by id; press RESET")
    model.follow(rows[:1])
    model.picked = picked + 1
    return identity, int(rows[0]), f"Customer {identity} is followed from month {model.period}."


def follow_figure(
    months: pd.DataFrame,
    found: Sequence[Event],
    threshold: float,
    horizon: int,
    reuse: Figure | None = None,
) -> Figure:
    """Stage band, determinants on 0-1, and value, by month, with the events as vertical marks."""
    figure = _new_figure(threshold) if reuse is None else _cleared(reuse)
    band, shares, value = figure.axes
    periods = months["period"].to_numpy()
    colours = {stage.name.lower(): colour for stage, colour in STAGE_COLOURS.items()}
    colours.update(OUT_OF_FIRM_COLOURS)
    stages, firms = months["stage"].to_numpy(), months["firm"].to_numpy()
    runs = np.flatnonzero(np.r_[True, stages[1:] != stages[:-1]])
    for start, stop in zip(runs, [*runs[1:], len(stages)], strict=True):
        spans = [(periods[start] - 0.5, periods[stop - 1] - periods[start] + 1)]
        band.broken_barh(spans, (0, 1), color=colours.get(stages[start], "#ffffff"))
    firm_runs = np.flatnonzero(np.r_[True, firms[1:] != firms[:-1]])
    for start in firm_runs:
        if firms[start] is not None and pd.notna(firms[start]):
            band.text(periods[start], 0.5, str(firms[start]), va="center", fontweight="bold")
    for column, label, colour in DETERMINANTS:
        shares.plot(periods, months[column], color=colour, label=label)
    value.plot(periods, months["value"], color=VALUE_COLOUR)
    value.relim()
    value.autoscale_view()
    for event in found:
        for ax in (band, shares, value):
            ax.axvline(event.period, color=EVENT_COLOURS[event.kind], linewidth=1.5, alpha=0.8)
    value.set_xlim(-0.5, max(horizon, int(periods.max(initial=0)) + 1) + 0.5)
    return figure


def _new_figure(threshold: float) -> Figure:
    """The follow figure's axes, titles, scales and legend: drawn once, kept between months."""
    figure = Figure(figsize=(8.4, 3.4), dpi=DPI)
    band, shares, value = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [0.5, 2, 1.1]}
    )
    figure.subplots_adjust(left=0.08, right=0.78, bottom=0.13, top=0.93, hspace=0.15)
    band.set_yticks([])
    band.set_ylim(0, 1)
    band.set_title("stage (colour) and firm", fontsize="small", loc="left")
    shares.axhline(threshold, color="grey", linestyle=":", linewidth=1, gid=KEPT)
    shares.set_ylim(0, 1)
    value.set_ylabel("value", fontsize="small")
    value.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    value.set_xlabel("month")
    _legend(figure)
    return figure


def _cleared(figure: Figure) -> Figure:
    """``figure`` without last month's curves, bands, marks and labels (its axes kept)."""
    for ax in figure.axes:
        for artist in [*ax.lines, *ax.collections, *ax.texts]:
            if artist.get_gid() != KEPT:
                artist.remove()
    return figure


VALUE_COLOUR = "#e6550d"
KEPT = "kept"
"""``gid`` of what the follow figure keeps from month to month (the satisfied mark)."""


def _legend(figure: Figure) -> None:
    handles = [
        *(Line2D([], [], color=colour, label=label) for _, label, colour in DETERMINANTS),
        Line2D([], [], color="grey", linestyle=":", label="satisfied mark"),
        Line2D([], [], color=VALUE_COLOUR, label="value"),
        *(Line2D([], [], color=c, linewidth=3, label=kind) for kind, c in EVENT_COLOURS.items()),
        *(
            Line2D([], [], color=c, linewidth=6, label=stage.name.lower())
            for stage, c in STAGE_COLOURS.items()
        ),
        *(
            Line2D([], [], color=c, linewidth=6, label=name)
            for name, c in OUT_OF_FIRM_COLOURS.items()
        ),
    ]
    figure.legend(handles=handles, loc="center right", fontsize="x-small", frameon=False)


def now_text(month: Any) -> str:
    """One month of a followed customer in words (the page's line above the figure)."""
    firm = "no firm" if pd.isna(month["firm"]) else f"Firm {month['firm']}"
    return (
        f"month {int(month['period'])}: {firm}, {month['stage']}; value {month['value']:.2f}, "
        f"satisfaction {month['satisfaction']:.2f}, trust {month['trust']:.2f}, "
        f"switching cost {month['switching_cost']:.2f}"
    )


@solara.component
def FollowCustomer(model: CRMModel):
    """Panel: pick a customer (by id or from :func:`telling`) and follow them month by month."""
    # not re-rendered after every step: nothing here shows the month (_Compared and
    # FollowedView do, and follow the steps themselves); the buttons read the model when clicked
    chosen = solara.use_reactive(None)  # (identity, row)
    stories = solara.use_reactive(None)  # (month, list of Telling), found on request
    typed = solara.use_reactive("")
    said = solara.use_reactive("")
    threshold = model.config.simulation.satisfied_threshold

    def forget():  # a new model (Reset): its own customers
        chosen.set(None)
        stories.set(None)
        said.set("")

    solara.use_effect(forget, [model])

    def find():
        found = telling(model.history_frame(), threshold, runs_win_back(model))
        stories.set((model.period, found))

    def follow_typed(*_):
        try:
            identity, row, text = pick(model, typed.value)
        except ValueError as error:
            said.set(f"Refused: {error}.")
            return
        said.set(text)
        chosen.set((identity, row))

    with solara.Card("Follow a customer", style={"overflow-x": "auto"}):
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "center"}):
            solara.Button("Find customers worth following", on_click=find, small=True)
            solara.InputText(
                "customer id", value=typed, continuous_update=False, style={"max-width": "8em"}
            )
            solara.Button("Follow", on_click=follow_typed, small=True)
        if said.value:
            (solara.Error if said.value.startswith("Refused") else solara.Info)(said.value)
        if stories.value is not None:
            month, found = stories.value
            solara.Text(f"Among the customers followed, up to month {month}:")
            for story in found:
                with solara.Row(style={"align-items": "center", "margin": "2px 0"}):
                    if story.identity is None:
                        solara.Text(f"{story.label}: {story.text}.")
                        continue
                    solara.Button(
                        f"{story.label}: customer {story.identity}",
                        on_click=lambda s=story: chosen.set((s.identity, s.row)),
                        outlined=True,
                        small=True,
                    )
                    solara.Text(story.text)
        if chosen.value is None:
            solara.Text(
                "The model follows a fixed sample of customers from month 0: find the telling "
                "ones, or type the id of any customer in the market to follow them from now on."
            )
        else:
            FollowedView(model, *chosen.value, threshold)


@solara.component
def FollowedView(model: CRMModel, identity: int, row: int, threshold: float):
    """The chosen customer: this month in words, the figure and the events."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    figure = solara.use_ref(None)
    shown = [model, model.period, identity, row]
    place = solara.use_memo(lambda: model.history_frame(customer_ids=[row]), shown)
    months = customer_history(place, identity)
    found = events(place, identity, threshold)
    horizon = model.config.simulation.periods

    def redraw():
        if months.empty:
            return None
        figure.current = follow_figure(months, found, threshold, horizon, reuse=figure.current)
        return figure.current

    drawn = solara.use_memo(redraw, shown)
    if months.empty:
        solara.Error(f"Customer {identity} is not followed in this run: pick another.")
        return
    solara.v.Html(
        tag="p",
        class_="follow-now",
        attributes={"data-customer": str(identity), "data-period": str(months["period"].iloc[-1])},
        children=[f"Customer {identity}, {now_text(months.iloc[-1])}"],
    )
    solara.FigureMatplotlib(drawn, dependencies=shown, format="png")
    solara.v.Html(
        tag="ul",
        style_="margin: 0; font-size: 0.9em",
        children=[
            solara.v.Html(
                tag="li",
                class_="follow-event",
                attributes={"data-period": str(e.period), "data-kind": e.kind},
                style_=f"color: {EVENT_COLOURS[e.kind]}",
                children=[f"month {e.period}: {e.kind}: {e.text}"],
            )
            for e in found
        ]
        or [solara.v.Html(tag="li", children=["no events yet"])],
    )
    solara.Text(
        "Satisfaction at leaving: for a move to a rival, the month before's (the new firm "
        "starts the customer afresh that month); the satisfied mark is the dotted line. Which "
        "advocate brought a referral is not recorded: the model draws referrals per firm."
    )
