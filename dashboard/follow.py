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

import i18n
from i18n import N_
from sim.model import CRMModel

from .language import figure_fonts, language, reusable
from .views import DPI, STAGE_COLOURS

PICKED_LIMIT = 20
"""Customers a session may follow by id on top of the tracked ones (keeps the history bounded)."""

DETERMINANTS = (
    ("satisfaction", N_("satisfaction"), "#31a354"),
    ("trust", N_("trust"), "#3182bd"),
    ("switching_cost", N_("switching cost"), "#756bb1"),
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

EVENT_NAMES = {
    "referral": N_("referral"),
    "joined": N_("joined"),
    "defection": N_("defection"),
    "win-back": N_("win-back"),
    "life": N_("life"),
}
"""Each kind of event as the page names it (translate with ``_``)."""

TELLING_LABELS = (
    N_("Longest relationship"),
    N_("Left while satisfied"),
    N_("Won back"),
    N_("Came back"),
)
"""The labels of :func:`telling` (its data, in English; the page shows them translated)."""

OUT_OF_FIRM_COLOURS = {"prospect": "#e0e0e0", "exited": "#9e9e9e"}
"""Band colours of the months without a firm: a prospect, out of the market."""

EXITED = N_("exited")
"""The one stage the glossary has no term for (out of the market): translated with ``_``."""


def stage_name(stage: str, lang: str = i18n.DEFAULT) -> str:
    """A stage as the history writes it (``"stability"``), named in ``lang`` (the glossary's)."""
    if stage in i18n.glossary():
        return i18n.term(stage, lang)
    return i18n.translator(lang)(stage)


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


def events(
    history: pd.DataFrame, identity: int, threshold: float, lang: str = i18n.DEFAULT
) -> list[Event]:
    """What happened to customer ``identity`` month by month, from the followed history.

    Args:
        history: :meth:`sim.model.CRMModel.history_frame`, at least the
            customer's row (place in the market).
        identity: the customer.
        threshold: the satisfied mark (``simulation.satisfied_threshold``).
        lang: the language of the events' text.

    Returns:
        The events in month order (see :class:`Event`). A relationship
        under way in the customer's first month followed is an event of that month.
    """
    _ = i18n.translator(lang)
    months = customer_history(history, identity)
    if months.empty:
        return []
    found: list[Event] = []
    months_seen = list(months.itertuples())
    first = months_seen[0]
    if pd.notna(first.firm) and first.joined in ("", "unknown"):
        since = int(first.period) - int(first.tenure)
        when = _("month {month}").format(month=since) if since >= 0 else _("before month 0")
        text = _("customer of Firm {firm} since {when}").format(firm=first.firm, when=when)
        found.append(Event(int(first.period), "joined", text))
    else:
        found.extend(_month_events(None, first, threshold, lang))
    for previous, month in pairwise(months_seen):
        found.extend(_month_events(previous, month, threshold, lang))
    # the row goes on with a new arrival: this customer left the category
    last = int(months["period"].iloc[-1])
    same_row = history[(history["customer"] == first.customer) & (history["period"] > last)]
    if (same_row["identity"] != identity).any():
        text = _("left the category (life reasons): gone for good")
        found.append(Event(last + 1, "life", text))
    return found


def _month_events(previous, month, threshold: float, lang: str = i18n.DEFAULT) -> list[Event]:
    """The events of ``month`` (a row of the history), given the month before (or None)."""
    _ = i18n.translator(lang)
    period, joined = int(month.period), month.joined
    ended = pd.notna(month.left_period) and int(month.left_period) == period
    if ended and previous is not None and pd.notna(month.last_firm):
        to_market = month.firm is None or pd.isna(month.firm)
        satisfaction = float(month.satisfaction if to_market else previous.satisfaction)
        mood = _("satisfied") if satisfaction >= threshold else _("not satisfied")
        seen = _("that month") if to_market else _("the month before")
        said = _("satisfaction {value} ({seen}): {mood}").format(
            value=i18n.number(satisfaction, 2, lang), seen=seen, mood=mood
        )
        if joined == "win-back":
            text = _("won back by Firm {firm}, leaving Firm {left}; {said}").format(
                firm=month.firm, left=month.last_firm, said=said
            )
            return [Event(period, "win-back", text, satisfaction)]
        text = (
            _("left Firm {left} and the market; {said}")
            if to_market
            else _("left Firm {left} for Firm {firm}; {said}")
        ).format(left=month.last_firm, firm=month.firm, said=said)
        return [Event(period, "defection", text, satisfaction)]
    if joined == "referral":
        text = _("joined Firm {firm} through a referral").format(firm=month.firm)
        return [Event(period, "referral", text)]
    if joined == "marketing":
        return [
            Event(period, "joined", _("won by Firm {firm}'s marketing").format(firm=month.firm))
        ]
    if joined == "win-back":
        return [Event(period, "win-back", _("won back by Firm {firm}").format(firm=month.firm))]
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


def telling(
    history: pd.DataFrame, threshold: float, win_back_policy: bool, lang: str = i18n.DEFAULT
) -> list[Telling]:
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
        lang: the language of the sentences (the labels stay as :data:`TELLING_LABELS`).
    """
    _ = i18n.translator(lang)
    if history.empty:
        return [Telling("Longest relationship", None, None, _("nobody is followed"))]
    table = relationships(history)
    if table.empty:
        return [Telling("Longest relationship", None, None, _("nobody has a firm yet"))]
    longest = table.sort_values(["tenure", "identity"], ascending=[False, True]).iloc[0]
    since = int(longest["since"])
    when = _("since month {month}").format(month=since) if since >= 0 else _("begun before month 0")
    found = [
        _told(
            "Longest relationship",
            longest,
            _("{months} months with Firm {firm} ({when})").format(
                months=int(longest["tenure"]), firm=longest["firm"], when=when
            ),
        )
    ]
    left = leavings(history)
    satisfied = left[left["satisfaction"] >= threshold]
    if satisfied.empty:
        found.append(Telling("Left while satisfied", None, None, _("nobody yet")))
    else:
        best = satisfied.sort_values(["satisfaction", "period"], ascending=[False, True]).iloc[0]
        text = _("left Firm {firm} in month {month} at satisfaction {value}").format(
            firm=best["left"],
            month=int(best["period"]),
            value=i18n.number(best["satisfaction"], 2, lang),
        )
        found.append(_told("Left while satisfied", best, text))
    won = table[table["joined"] == "win-back"]
    if won.empty:
        why = _("nobody yet") if win_back_policy else _("nobody: no firm runs a win-back policy")
        found.append(Telling("Won back", None, None, why))
    else:
        latest = won.sort_values("first").iloc[-1]
        text = _("won back by Firm {firm} in month {month}").format(
            firm=latest["firm"], month=int(latest["first"])
        )
        found.append(_told("Won back", latest, text))
    back = table[table["returned"]]
    if back.empty:
        found.append(Telling("Came back", None, None, _("nobody yet")))
    else:
        latest = back.sort_values("first").iloc[-1]
        joined = latest["joined"]
        how = f" ({_(JOINED.get(joined, joined))})" if joined not in ("", "unknown") else ""
        text = _("back with Firm {firm} in month {month}{how}").format(
            firm=latest["firm"], month=int(latest["first"]), how=how
        )
        found.append(_told("Came back", latest, text))
    return found


JOINED = {
    "marketing": N_("marketing"),
    "referral": N_("referral"),
    "win-back": N_("win-back"),
    "rival": N_("rival"),
}
"""How a relationship began, as the history writes it, and as the page names it."""


def _told(label: str, row: pd.Series, text: str) -> Telling:
    return Telling(label, int(row["identity"]), int(row["customer"]), text)


def runs_win_back(model: CRMModel) -> bool:
    """Whether any firm of the model runs a win-back policy."""
    return any(policy.name == "win_back" for firm in model.config.firms for policy in firm.policies)


def pick(model: CRMModel, text: str, lang: str = i18n.DEFAULT) -> tuple[int, int, str]:
    """Follow the customer whose id is ``text``: ``(identity, row, what was done)``.

    A customer followed already is shown from their first month followed;
    another one now in the market is followed from now on.

    Raises:
        ValueError: one line saying why not (not an id, no such customer in
            the market, or :data:`PICKED_LIMIT` reached), in ``lang``.
    """
    _ = i18n.translator(lang)
    try:
        identity = int(str(text).strip())
    except ValueError:
        raise ValueError(
            _("{text} is not a customer id (a whole number)").format(text=repr(text))
        ) from None
    rows = np.flatnonzero(model.customers.identity == identity)
    followed = model.history_frame()
    seen = followed.loc[followed["identity"] == identity, "customer"]
    if not seen.empty:
        return identity, int(seen.iloc[0]), _("Customer {id} is followed.").format(id=identity)
    if not rows.size:
        raise ValueError(
            _(
                "no customer {id} in the market now (ids 0 to {last}; one who left the "
                "category can be followed only if they were followed before)"
            ).format(id=identity, last=int(model.customers.identity.max()))
        )
    picked = getattr(model, "picked", 0)
    if picked >= PICKED_LIMIT:
        raise ValueError(
            _("at most {limit} customers can be picked by id; press RESET").format(
                limit=PICKED_LIMIT
            )
        )
    model.follow(rows[:1])
    model.picked = picked + 1
    said = _("Customer {id} is followed from month {month}.")
    return identity, int(rows[0]), said.format(id=identity, month=model.period)


def follow_figure(
    months: pd.DataFrame,
    found: Sequence[Event],
    threshold: float,
    horizon: int,
    reuse: Figure | None = None,
    lang: str = i18n.DEFAULT,
) -> Figure:
    """Stage band, determinants on 0-1, and value, by month, with the events as vertical marks."""
    _ = i18n.translator(lang)
    figure = _new_figure(threshold, lang) if reuse is None else _cleared(reuse)
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
        shares.plot(periods, months[column], color=colour, label=_(label))
    value.plot(periods, months["value"], color=VALUE_COLOUR)
    value.relim()
    value.autoscale_view()
    for event in found:
        for ax in (band, shares, value):
            ax.axvline(event.period, color=EVENT_COLOURS[event.kind], linewidth=1.5, alpha=0.8)
    value.set_xlim(-0.5, max(horizon, int(periods.max(initial=0)) + 1) + 0.5)
    return figure_fonts(figure, lang)


def _new_figure(threshold: float, lang: str = i18n.DEFAULT) -> Figure:
    """The follow figure's axes, titles, scales and legend: drawn once, kept between months."""
    figure = Figure(figsize=(8.4, 3.4), dpi=DPI)
    band, shares, value = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [0.5, 2, 1.1]}
    )
    figure.subplots_adjust(left=0.08, right=0.78, bottom=0.13, top=0.93, hspace=0.15)
    band.set_yticks([])
    band.set_ylim(0, 1)
    _ = i18n.translator(lang)
    band.set_title(_("stage (colour) and firm"), fontsize="small", loc="left")
    shares.axhline(threshold, color="grey", linestyle=":", linewidth=1, gid=KEPT)
    shares.set_ylim(0, 1)
    value.set_ylabel(_("value"), fontsize="small")
    value.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    value.set_xlabel(_("month"))
    _legend(figure, lang)
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


def _legend(figure: Figure, lang: str = i18n.DEFAULT) -> None:
    _ = i18n.translator(lang)
    handles = [
        *(Line2D([], [], color=colour, label=_(label)) for _c, label, colour in DETERMINANTS),
        Line2D([], [], color="grey", linestyle=":", label=_("satisfied mark")),
        Line2D([], [], color=VALUE_COLOUR, label=_("value")),
        *(
            Line2D([], [], color=c, linewidth=3, label=_(EVENT_NAMES[kind]))
            for kind, c in EVENT_COLOURS.items()
        ),
        *(
            Line2D([], [], color=c, linewidth=6, label=stage_name(stage.name.lower(), lang))
            for stage, c in STAGE_COLOURS.items()
        ),
        *(
            Line2D(
                [],
                [],
                color=c,
                linewidth=6,
                label=i18n.term(name, lang) if name in i18n.glossary() else _(name),
            )
            for name, c in OUT_OF_FIRM_COLOURS.items()
        ),
    ]
    figure.legend(handles=handles, loc="center right", fontsize="x-small", frameon=False)


def now_text(month: Any, lang: str = i18n.DEFAULT) -> str:
    """One month of a followed customer in words (the page's line above the figure)."""
    _ = i18n.translator(lang)
    firm = _("no firm") if pd.isna(month["firm"]) else _("Firm {name}").format(name=month["firm"])
    return _(
        "month {month}: {firm}, {stage}; value {value}, satisfaction {satisfaction}, "
        "trust {trust}, switching cost {switching_cost}"
    ).format(
        month=int(month["period"]),
        firm=firm,
        stage=stage_name(month["stage"], lang),
        **{
            key: i18n.number(month[key], 2, lang)
            for key in ("value", "satisfaction", "trust", "switching_cost")
        },
    )


@solara.component
def FollowCustomer(model: CRMModel):
    """Panel: pick a customer (by id or from :func:`telling`) and follow them month by month."""
    # not re-rendered after every step: nothing here shows the month (_Compared and
    # FollowedView do, and follow the steps themselves); the buttons read the model when clicked
    chosen = solara.use_reactive(None)  # (identity, row)
    stories = solara.use_reactive(None)  # (month, list of Telling), found on request
    typed = solara.use_reactive("")
    said = solara.use_reactive(("", False))  # (what to say, whether it is a refusal)
    threshold = model.config.simulation.satisfied_threshold
    lang = language()
    _ = i18n.translator(lang)

    def forget():  # a new model (Reset): its own customers
        chosen.set(None)
        stories.set(None)
        said.set(("", False))

    solara.use_effect(forget, [model])

    def find():
        found = telling(model.history_frame(), threshold, runs_win_back(model), lang)
        stories.set((model.period, found))

    def follow_typed(*_args):
        try:
            identity, row, text = pick(model, typed.value, lang)
        except ValueError as error:
            said.set((_("Refused: {error}.").format(error=error), True))
            return
        said.set((text, False))
        chosen.set((identity, row))

    with solara.Card(_("Follow a customer"), style={"overflow-x": "auto"}):
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "center"}):
            solara.Button(_("Find customers worth following"), on_click=find, small=True)
            solara.InputText(
                _("customer id"), value=typed, continuous_update=False, style={"max-width": "8em"}
            )
            solara.Button(_("Follow"), on_click=follow_typed, small=True)
        text, refused = said.value
        if text:
            (solara.Error if refused else solara.Info)(text)
        if stories.value is not None:
            month, found = stories.value
            solara.Text(_("Among the customers followed, up to month {month}:").format(month=month))
            for story in found:
                label = _(story.label)
                with solara.Row(style={"align-items": "center", "margin": "2px 0"}):
                    if story.identity is None:
                        solara.Text(_("{label}: {text}.").format(label=label, text=story.text))
                        continue
                    solara.Button(
                        _("{label}: customer {id}").format(label=label, id=story.identity),
                        on_click=lambda s=story: chosen.set((s.identity, s.row)),
                        outlined=True,
                        small=True,
                    )
                    solara.Text(story.text)
        if chosen.value is None:
            solara.Text(
                _(
                    "The model follows a fixed sample of customers from month 0: find the telling "
                    "ones, or type the id of any customer in the market to follow them from now "
                    "on."
                )
            )
        else:
            FollowedView(model, *chosen.value, threshold)


@solara.component
def FollowedView(model: CRMModel, identity: int, row: int, threshold: float):
    """The chosen customer: this month in words, the figure and the events."""
    update_counter.get()  # re-render after every step (the model object stays the same)
    figure = solara.use_ref(None)
    lang = language()
    _ = i18n.translator(lang)
    shown = [model, model.period, identity, row, lang]
    place = solara.use_memo(lambda: model.history_frame(customer_ids=[row]), shown[:4])
    months = customer_history(place, identity)
    found = events(place, identity, threshold, lang)
    horizon = model.config.simulation.periods

    def redraw():
        if months.empty:
            return None
        figure.current = follow_figure(
            months, found, threshold, horizon, reuse=reusable(figure.current, lang), lang=lang
        )
        return figure.current

    drawn = solara.use_memo(redraw, shown)
    if months.empty:
        solara.Error(
            _("Customer {id} is not followed in this run: pick another.").format(id=identity)
        )
        return
    solara.v.Html(
        tag="p",
        class_="follow-now",
        attributes={"data-customer": str(identity), "data-period": str(months["period"].iloc[-1])},
        children=[
            _("Customer {id}, {now}").format(id=identity, now=now_text(months.iloc[-1], lang))
        ],
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
                children=[
                    _("month {month}: {kind}: {text}").format(
                        month=e.period, kind=_(EVENT_NAMES[e.kind]), text=e.text
                    )
                ],
            )
            for e in found
        ]
        or [solara.v.Html(tag="li", children=[_("no events yet")])],
    )
    solara.Text(
        _(
            "Satisfaction at leaving: for a move to a rival, the month before's (the new firm "
            "starts the customer afresh that month); the satisfied mark is the dotted line. "
            "Which advocate brought a referral is not recorded: the model draws referrals per "
            "firm."
        )
    )
