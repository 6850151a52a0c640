"""The opt-in purchase log (``model.log_transactions()``) reproduces the engine's books exactly.

Every check is an equality: the log holds the very float32 values the engine
adds to its accumulators, so adding them up in the engine's order gives the
engine's numbers bit for bit.
"""

import numpy as np
import pandas as pd
import pytest

from sim import CRMModel, default_config
from sim.stages import is_active
from sim.transactions import TRANSACTION_COLUMNS

PERIODS = 30

FIRMS = [
    {"name": "A", "strategy": "clasp",
     "policies": [{"name": "win_back"}, {"name": "cross_sell"},
                  {"name": "price_promotion", "budget": 20}]},
    {"name": "B", "strategy": "zipper", "policies": [{"name": "service_recovery"}]},
    {"name": "C", "strategy": "velcro"},
]


def config(setting="ecommerce"):
    """Three firms, policies that change prices, wallet shares, spending and win customers back."""
    return default_config(market={"setting": setting}, firms=FIRMS,
                          simulation={"customers": 1_500, "periods": PERIODS})


@pytest.fixture(scope="module", params=["traditional", "ecommerce"])
def logged(request):
    """A run with the log on from the start, and the same run without it."""
    with_log = CRMModel(config(request.param), rng=8)
    with_log.log_transactions()
    with_log.run()
    return with_log, CRMModel(config(request.param), rng=8).run()


def relationship_totals(log: pd.DataFrame, column: str, size: int):
    """Add ``column`` up per relationship in float32, period by period, as the engine does.

    Returns:
        ``{(customer, firm code, acquired_period): float32 total}``.
    """
    totals: dict[tuple[int, int, int], np.float32] = {}
    keys = zip(log["customer"], log["firm"].cat.codes, log["acquired_period"], strict=True)
    for key, value in zip(keys, log[column].to_numpy(), strict=True):  # log: period order
        totals[key] = np.float32(totals.get(key, np.float32(0.0)) + value)
    return totals


def test_logging_changes_no_result(logged):
    with_log, without = logged
    for name in ("firm_frame", "market_frame", "customers_frame", "cohort_frame",
                 "policy_frame"):
        pd.testing.assert_frame_equal(getattr(with_log, name)(), getattr(without, name)(),
                                      check_exact=True)


def test_the_log_has_one_row_per_active_customer_period(logged):
    model, _ = logged
    log = model.transactions_frame()
    assert list(log.columns) == list(TRANSACTION_COLUMNS)
    assert log["revenue"].dtype == np.float32 and log["clv_increment"].dtype == np.float32
    assert not log.duplicated(["period", "customer"]).any()
    assert (log["revenue"] > 0).all()  # everyone active buys: spend x price x wallet share
    assert sorted(log["period"].unique()) == list(range(1, PERIODS + 1))
    # the ledger's customers at the start of a period are the buyers of that period, minus
    # the customers won back that period (they restart before the money phase)
    ledger = model.firm_frame().set_index(["period", "firm"])
    buyers = log.groupby(["period", "firm"], observed=True).size()
    expected = (ledger["customers_start"] + ledger["acquisitions_win_back"]).loc[buyers.index]
    assert (buyers == expected).all()
    # the customers active at the end bought in the last period, unless acquired in it
    pop = model.customers
    last = set(log.loc[log["period"] == PERIODS, "customer"])
    current = np.flatnonzero(is_active(pop.stage) & (pop.acquired_period < PERIODS))
    assert set(current) <= last


def test_revenue_adds_up_to_the_ledger_for_every_firm_and_period(logged):
    model, _ = logged
    log = model.transactions_frame()
    ledger = model.firm_frame()
    n_firms = len(model.firms)
    for period, rows in log.groupby("period"):
        rows = rows.sort_values("customer")  # the engine sums in customer order
        revenue = np.bincount(rows["firm"].cat.codes, weights=rows["revenue"],
                              minlength=n_firms)
        assert (revenue == ledger.loc[ledger["period"] == period, "revenue"].to_numpy()).all()


def test_current_relationships_add_up_to_the_engine_accumulators(logged):
    model, _ = logged
    log = model.transactions_frame()
    pop = model.customers
    revenue = relationship_totals(log, "revenue", len(pop))
    clv = relationship_totals(log, "clv_increment", len(pop))
    current = np.flatnonzero(pop.firm >= 0)
    assert current.size > 500
    zero = np.float32(0.0)  # customers acquired in the last period have bought nothing yet
    keys = [(i, pop.firm[i], pop.acquired_period[i]) for i in current]
    assert [revenue.get(k, zero) for k in keys] == list(pop.revenue_to_date[current])
    assert [clv.get(k, zero) for k in keys] == list(pop.clv[current])


def test_ended_relationships_add_up_to_the_ledger_ended_clv(logged):
    model, _ = logged
    log = model.transactions_frame()
    pop = model.customers
    clv = relationship_totals(log, "clv_increment", len(pop))
    last_purchase = log.groupby(["customer", log["firm"].cat.codes, "acquired_period"])[
        "period"].max()
    current = {(i, pop.firm[i], pop.acquired_period[i]) for i in np.flatnonzero(pop.firm >= 0)}
    ended = [(key, period) for key, period in last_purchase.items() if key not in current]
    n_firms = len(model.firms)
    ledger = model.firm_frame()
    for period in range(1, PERIODS + 1):  # a relationship ends after its last purchase
        keys = sorted(key for key, last in ended if last == period)
        firms = np.array([firm for _, firm, _ in keys], dtype=np.intp)
        weights = np.array([clv[key] for key in keys], dtype=np.float32).astype(np.float64)
        ended_clv = np.bincount(firms, weights=weights, minlength=n_firms)
        assert (ended_clv == ledger.loc[ledger["period"] == period, "ended_clv"]).all()


def test_the_log_starts_when_asked_and_is_required_for_the_frame():
    model = CRMModel(config(), rng=2)
    with pytest.raises(RuntimeError, match="log_transactions"):
        model.transactions_frame()
    model.run(5)
    model.log_transactions()
    model.log_transactions()  # twice is once
    model.run(3)
    assert sorted(model.transactions_frame()["period"].unique()) == [6, 7, 8]
    fresh = CRMModel(config(), rng=2)
    fresh.log_transactions()
    assert fresh.transactions_frame().empty
    assert list(fresh.transactions_frame().columns) == list(TRANSACTION_COLUMNS)
