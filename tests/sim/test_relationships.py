"""The relationship log (sim.relationships): complete, consistent with the ledger, and harmless."""

import numpy as np
import pandas as pd
import pytest

from sim import CRMModel, default_config
from sim.relationships import COLUMNS, REASONS

CUSTOMERS, PERIODS = 4000, 48
PLAIN = default_config(simulation={"customers": CUSTOMERS, "periods": PERIODS, "start": "new"})
WIN_BACK = default_config(
    simulation={"customers": CUSTOMERS, "periods": PERIODS, "warm_up": 12},
    firms=[
        {
            "name": "A",
            "strategy": "clasp",
            "policies": [{"name": "win_back", "budget": None, "from_rivals": True}],
        },
        {"name": "B", "strategy": "zipper"},
        {"name": "C", "strategy": "velcro"},
    ],
)


def logged(config, seed=5):
    model = CRMModel(config, rng=seed)
    model.log_relationships()
    return model.run()


@pytest.fixture(scope="module")
def plain():
    return logged(PLAIN)


@pytest.fixture(scope="module")
def win_back():
    return logged(WIN_BACK)


@pytest.mark.parametrize("config", [PLAIN, WIN_BACK], ids=["plain", "win_back_warm_up"])
def test_the_log_changes_no_result(config):
    quiet, logging = CRMModel(config, rng=9).run(), logged(config, seed=9)
    for frame in ("firm_frame", "cohort_frame", "market_frame", "policy_frame"):
        pd.testing.assert_frame_equal(getattr(quiet, frame)(), getattr(logging, frame)())
    for name in ("stage", "firm", "acquired_period", "left_period", "clv", "trust", "identity"):
        np.testing.assert_array_equal(
            getattr(quiet.customers, name), getattr(logging.customers, name)
        )


def test_columns_and_types(plain):
    table = plain.relationships_frame()
    assert list(table.columns) == list(COLUMNS)
    assert list(table["reason"].cat.categories) == list(REASONS)
    assert list(table["trajectory"].cat.categories) == ["I", "II", "III", "IV"]
    assert (table["duration"] == table["end"] - table["start"]).all()
    assert (table["event"].isin([0, 1])).all()
    assert table.loc[table["event"] == 0, "reason"].isna().all()
    assert table.loc[table["event"] == 1, "reason"].notna().all()
    assert (table.loc[table["event"] == 0, "end"] == PERIODS).all()  # censored at the horizon
    assert (table.loc[table["event"] == 1, "duration"] >= 1).all()
    assert (table["entry"] == 0).all()  # no warm-up, no settled start


@pytest.mark.parametrize("fixture", ["plain", "win_back"])
def test_every_end_the_ledger_books_is_a_row(fixture, request):
    model = request.getfixturevalue(fixture)
    table, ledger = model.relationships_frame(), model.firm_frame()
    ended = table[table["event"] == 1]
    measured = ledger[ledger["period"] > 0]
    by_firm = measured.groupby("firm", observed=True)
    counts = ended.groupby("firm", observed=True)
    assert counts.size().to_dict() == by_firm["defections"].sum().astype(int).to_dict()
    for reason, column in (
        ("rival", "defections_rival"),
        ("market", "defections_market"),
        ("life", "defections_life"),
    ):
        mine = ended[ended["reason"] == reason].groupby("firm", observed=True).size()
        assert mine.to_dict() == by_firm[column].sum().astype(int).to_dict(), reason
    decline = ended[ended["from_decline"]].groupby("firm", observed=True).size()
    assert decline.to_dict() == by_firm["exits_from_decline"].sum().astype(int).to_dict()
    for kind in ("I", "II", "III", "IV"):
        mine = ended[ended["trajectory"] == kind].groupby("firm", observed=True).size()
        mine = mine.reindex(by_firm.size().index, fill_value=0)
        assert mine.to_dict() == by_firm[f"trajectory_{kind}"].sum().astype(int).to_dict()
    # the open relationships are the firms' customers at the end
    still = table[table["event"] == 0].groupby("firm", observed=True).size()
    last = ledger[ledger["period"] == ledger["period"].max()].set_index("firm")["customers"]
    assert still.to_dict() == last.astype(int).to_dict()


@pytest.mark.parametrize("fixture", ["plain", "win_back"])
def test_the_table_reproduces_the_cohort_counts(fixture, request):
    """Each cohort's customers at each period are the table's rows of that start still going."""
    model = request.getfixturevalue(fixture)
    table, cohorts = model.relationships_frame(), model.cohort_frame()
    assert model.ledger.cohort_width == 1
    # cohort 0 holds every relationship begun by period 0 (in the warm-up too)
    start = table["start"].clip(lower=0)
    for (firm, cohort), rows in cohorts.groupby(["firm", "cohort"], observed=True):
        mine = table[(table["firm"] == firm) & (start == cohort)]
        period = rows["period"].to_numpy()
        ends = mine["end"].to_numpy()
        censored = mine["event"].to_numpy() == 0
        alive = (ends[None, :] > period[:, None]) | censored[None, :]
        # won back and gone in the same period: never counted in a cohort
        alive &= ~((mine["duration"].to_numpy() == 0) & ~censored)[None, :]
        np.testing.assert_array_equal(alive.sum(axis=1), rows["active"].to_numpy())


def test_a_warm_up_truncates_on_the_left(win_back):
    table = win_back.relationships_frame()
    assert (table["end"] >= 1).all()  # ends in the warm-up lie before the window
    assert (table["start"] < 0).any()
    np.testing.assert_array_equal(table["entry"], np.maximum(0, -table["start"]))
    begun_before = table["start"] < 0
    assert (table.loc[begun_before, "duration"] > table.loc[begun_before, "entry"]).all()
    # a relationship won back in a period may end in that period's defections
    assert (table["duration"] >= 0).all()


def test_keys_within_a_run(win_back):
    table = win_back.relationships_frame()
    # a customer's relationships follow one another: one per customer, firm and start
    assert not table.duplicated(["customer", "firm", "start"]).any()
    open_ = table[table["event"] == 0]
    assert not open_["customer"].duplicated().any()  # one current firm at most


def test_asking_after_the_first_step_is_an_error():
    model = CRMModel(default_config(simulation={"customers": 50, "periods": 2}), rng=1)
    with pytest.raises(RuntimeError, match="log_relationships"):
        model.relationships_frame()
    model.step()
    with pytest.raises(RuntimeError, match="before the first step"):
        model.log_relationships()


@pytest.mark.parametrize("start", ["settled", "new"])
@pytest.mark.parametrize("warm_up", [0, 12])
def test_a_relationships_duration_is_its_whole_tenure(start, warm_up):
    """A settled start's relationships began before the clock: their tenure counts from then.

    The log once started them at period 0 (entry 0), so a Kaplan-Meier curve
    treated years-old relationships as new ones, and its docstring's promise
    (a positive entry after a settled start) was not kept.
    """
    simulation = {"customers": 3000, "periods": 24, "warm_up": warm_up, "start": start}
    model = logged(default_config(simulation=simulation), seed=7)
    table, pop = model.relationships_frame(), model.customers
    open_ = table[table["event"] == 0].set_index("customer")
    have = pop.firm >= 0
    tenure = pd.Series(pop.tenure[have].astype(int), index=pop.identity[have])
    np.testing.assert_array_equal(open_["duration"], tenure.loc[open_.index])
    np.testing.assert_array_equal(table["entry"], np.maximum(0, -table["start"]))
    before = (table["start"] < -warm_up).sum()  # begun before the clock's first period
    assert (before > 500) if start == "settled" else (before == 0)
