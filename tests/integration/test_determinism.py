"""Seeded runs are exactly reproducible; different seeds differ; following customers
records their history without changing the run.
"""

import numpy as np
import pandas as pd
import pytest

from sim import CRMModel, default_config, kernel
from sim.followed import FOLLOW_COLUMNS
from sim.stages import STAGE_NAMES

CUSTOMERS = 1_000
PERIODS = 20
SETTING_NAMES = ("traditional", "ecommerce")


def small_config(setting="traditional", **simulation):
    return default_config(
        market={"setting": setting},
        simulation={"customers": CUSTOMERS, "periods": PERIODS, **simulation},
    )


def frames(model):
    return model.firm_frame(), model.market_frame(), model.customers_frame()


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_same_seed_gives_identical_frames(setting):
    config = small_config(setting)
    first = frames(CRMModel(config, rng=11).run())
    second = frames(CRMModel(config, rng=11).run())
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_seed_sequence_and_an_int_seed_are_both_reproducible():
    config = small_config()
    a = CRMModel(config, rng=np.random.default_rng(3)).run().firm_frame()
    b = CRMModel(config, rng=np.random.default_rng(3)).run().firm_frame()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_stepping_and_running_give_the_same_result():
    config = small_config()
    stepped = CRMModel(config, rng=5)
    for _ in range(PERIODS):
        stepped.step()
    ran = CRMModel(config, rng=5).run()
    for a, b in zip(frames(stepped), frames(ran), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    split = CRMModel(config, rng=5).run(7).run()
    pd.testing.assert_frame_equal(split.firm_frame(), ran.firm_frame(), check_exact=True)


def test_firm_tables_looked_up_in_arrays_give_the_same_run(monkeypatch):
    """Markets of more firms look their tables up in arrays, small ones in tuples: same numbers."""
    config = small_config("ecommerce")
    tuples = frames(CRMModel(config, rng=4).run())
    monkeypatch.setattr(kernel, "TUPLE_SLOTS", 0)  # every market a large one
    model = CRMModel(config, rng=4)
    assert model._kernel_firms(model._firm_vectors()).price.ndim == 1
    arrays = frames(model.run())
    for a, b in zip(tuples, arrays, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_relational_growth_looked_up_or_computed_gives_the_same_run(monkeypatch):
    """The kernel looks the growth up in a table by slot and tenure; without one it computes it."""
    config = small_config("traditional")
    looked_up = frames(CRMModel(config, rng=6).run())
    tables = []

    def no_table(relational_tau, t):  # as for a table too large to build
        tables.append(t)
        return np.empty((relational_tau.size, 0))

    monkeypatch.setattr(kernel, "growth_table", no_table)
    computed = frames(CRMModel(config, rng=6).run())
    assert len(tables) == config.simulation.periods
    for a, b in zip(looked_up, computed, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_different_seeds_give_different_runs(setting):
    config = small_config(setting)
    a = frames(CRMModel(config, rng=1).run())
    b = frames(CRMModel(config, rng=2).run())
    for x, y in zip(a, b, strict=True):
        assert not x.equals(y)


def test_runs_do_not_touch_the_global_random_state():
    # the legacy global generator is exactly what must stay untouched
    np.random.seed(0)  # noqa: NPY002
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    CRMModel(small_config(), rng=1).run()
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_frames_have_the_documented_shape():
    config = small_config()
    model = CRMModel(config, rng=1).run()
    firm, market, customers = frames(model)
    n_firms = len(config.firms)
    assert len(firm) == (PERIODS + 1) * n_firms
    assert list(firm.columns[:3]) == ["period", "firm", "strategy"]
    assert list(market.period) == list(range(PERIODS + 1))
    assert len(customers) == CUSTOMERS
    # one row per place in the market; "customer" is the identity of the customer in it:
    # the row number until the row's first customer leaves the category, then the
    # identities issued to the arrivals, in order and never reused
    ids = customers.customer.to_numpy()
    assert ids.dtype == np.int64
    assert len(np.unique(ids)) == CUSTOMERS
    original = ids < CUSTOMERS
    np.testing.assert_array_equal(ids[original], np.flatnonzero(original))
    issued = int(market.arrivals.sum())
    assert issued > 0  # the run did renew rows (default category exit rate)
    assert (ids[~original] < CUSTOMERS + issued).all()
    assert ids.max() == CUSTOMERS + issued - 1
    assert set(market.columns) >= {"prospects", "out_of_market", "reentries", "arrivals"}


FOLLOWED = [0, 17, 256, CUSTOMERS - 1]


@pytest.mark.parametrize("setting", SETTING_NAMES)
def test_follow_records_each_followed_customer_every_period(setting):
    config = small_config(setting)
    model = CRMModel(config, rng=4)
    model.follow(FOLLOWED)
    pop = model.customers
    for _ in range(PERIODS):
        model.step()
        history = model.history_frame()
        latest = history[history.period == model.period].set_index("customer")
        assert list(latest.index) == FOLLOWED
        # the newest rows are the customers' current state
        assert list(latest.stage) == [STAGE_NAMES[s] for s in pop.stage[FOLLOWED]]
        for column in (
            "stage_age",
            "tenure",
            "satisfaction",
            "trust",
            "switching_cost",
            "expectation",
            "value",
            "clv",
        ):
            np.testing.assert_array_equal(
                latest[column].to_numpy(), getattr(pop, column)[FOLLOWED], err_msg=column
            )
        names = [None if f < 0 else model.firms[f].name for f in pop.firm[FOLLOWED]]
        assert [None if pd.isna(f) else f for f in latest.firm] == names  # missing: no firm

    history = model.history_frame()
    assert list(history.columns) == ["period", "customer", *FOLLOW_COLUMNS]
    assert len(history) == (PERIODS + 1) * len(FOLLOWED)
    assert not history.duplicated(["period", "customer"]).any()
    for _, rows in history.groupby("customer"):
        assert list(rows.period) == list(range(PERIODS + 1))
    assert set(history.stage) <= set(STAGE_NAMES)


def test_following_from_mid_run_starts_at_that_period():
    model = CRMModel(small_config(), rng=4)
    model.run(5)
    model.follow([3, 9])
    model.run()
    history = model.history_frame()
    assert sorted(history.period.unique()) == list(range(5, PERIODS + 1))
    assert len(history) == (PERIODS - 5 + 1) * 2


def test_following_does_not_change_the_run():
    config = small_config("ecommerce")
    plain = CRMModel(config, rng=8).run()
    followed = CRMModel(config, rng=8)
    followed.follow(FOLLOWED)
    followed.run()
    for a, b in zip(frames(plain), frames(followed), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_follow_is_reproducible_and_empty_before_following():
    config = small_config()
    model = CRMModel(config, rng=2)
    empty = model.history_frame()
    assert empty.empty
    assert list(empty.columns) == ["period", "customer", *FOLLOW_COLUMNS]
    histories = []
    for _ in range(2):
        model = CRMModel(config, rng=2)
        model.follow(FOLLOWED)
        histories.append(model.run().history_frame())
    pd.testing.assert_frame_equal(*histories, check_exact=True)


@pytest.mark.parametrize("ids", [[-1], [CUSTOMERS], [0, CUSTOMERS + 5]])
def test_follow_rejects_ids_outside_the_population(ids):
    model = CRMModel(small_config(), rng=1)
    with pytest.raises(ValueError, match="customer ids"):
        model.follow(ids)


def test_stepping_past_the_configured_periods_is_a_clear_error():
    model = CRMModel(default_config(simulation={"customers": 200, "periods": 3}), rng=0).run()
    frame = model.firm_frame()
    with pytest.raises(RuntimeError, match="run its 3 periods"):
        model.step()
    assert model.steps == 3
    pd.testing.assert_frame_equal(model.firm_frame(), frame)
