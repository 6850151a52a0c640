"""The opt-in purchase log (``model.log_transactions()``) against the engine's books.

The log holds one row per purchase occasion (:mod:`sim.transactions`): a
customer-period with ``n >= 1`` occasions has ``n`` rows, each with an equal
float32 share of the period's sales and CLV increment and a day within the
period; a customer-period without an occasion has none. So the log adds up to
the ledger to float32 rounding (not bit for bit), and what the engine handed
the log (recorded here by a spy on :meth:`TransactionLog.record`) says which
customer-periods must appear.
"""

import numpy as np
import pandas as pd
import pytest

from sim import CRMModel, default_config
from sim.stages import is_active
from sim.transactions import DAYS_PER_PERIOD, TRANSACTION_COLUMNS, TransactionLog

PERIODS = 30

FLOAT32 = {"rtol": 1e-6}
"""Tolerance of sums of float32 shares against the engine's float32 numbers."""

FIRMS = [
    {
        "name": "A",
        "strategy": "clasp",
        "policies": [
            {"name": "win_back"},
            {"name": "cross_sell"},
            {"name": "price_promotion", "budget": 20},
        ],
    },
    {"name": "B", "strategy": "zipper", "policies": [{"name": "service_recovery"}]},
    {"name": "C", "strategy": "velcro"},
]


def config(setting="ecommerce", customers=1_500, periods=PERIODS, **simulation):
    """Three firms, policies that change prices, wallet shares, spending and win customers back."""
    return default_config(
        market={"setting": setting},
        firms=FIRMS,
        simulation={"customers": customers, "periods": periods, **simulation},
    )


def spied_run(model: CRMModel, periods=None) -> pd.DataFrame:
    """Run ``model`` (log on) and return what the engine handed the log, one row per active
    customer-period: period, customer, firm code, acquired_period, sales, increment, occasions.
    """
    handed = []
    record = TransactionLog.record

    def spy(self, period, customers, firm, acquired_period, revenue, clv_increment, occasions, rng):
        handed.append(
            pd.DataFrame(
                {
                    "period": period,
                    "customer": np.array(customers, dtype=np.int64),
                    "firm": np.array(firm, dtype=np.int64),
                    "acquired_period": np.array(acquired_period, dtype=np.int64),
                    "sales": np.array(revenue, dtype=np.float64),
                    "increment": np.array(clv_increment, dtype=np.float64),
                    "occasions": np.array(occasions, dtype=np.int64),
                }
            )
        )
        return record(
            self, period, customers, firm, acquired_period, revenue, clv_increment, occasions, rng
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionLog, "record", spy)
        model.log_transactions()
        model.run(periods)
    return pd.concat(handed, ignore_index=True)


@pytest.fixture(scope="module", params=["traditional", "ecommerce"])
def logged(request):
    """A run with the log on from the start, what the engine handed its log, the same run
    without the log."""
    with_log = CRMModel(config(request.param), rng=8)
    handed = spied_run(with_log)
    return with_log, handed, CRMModel(config(request.param), rng=8).run()


def test_logging_changes_no_result(logged):
    with_log, _, without = logged
    for name in ("firm_frame", "market_frame", "customers_frame", "cohort_frame", "policy_frame"):
        pd.testing.assert_frame_equal(
            getattr(with_log, name)(), getattr(without, name)(), check_exact=True
        )


def test_logging_after_a_warm_up_changes_no_result():
    with_log = CRMModel(config(customers=600, periods=10, warm_up=4), rng=5)
    with_log.log_transactions()
    with_log.run()
    without = CRMModel(config(customers=600, periods=10, warm_up=4), rng=5).run()
    pd.testing.assert_frame_equal(with_log.firm_frame(), without.firm_frame(), check_exact=True)
    pd.testing.assert_frame_equal(
        with_log.customers_frame(), without.customers_frame(), check_exact=True
    )
    log = with_log.transactions_frame()  # periods and days count from the end of the warm-up
    assert sorted(log["period"].unique()) == list(range(1, 11))
    assert log["day"].min() >= 0 and log["day"].max() < 10 * DAYS_PER_PERIOD
    ledger = with_log.firm_frame().set_index(["period", "firm"])
    rows = log.groupby(["period", "firm"], observed=True).size()
    assert (rows == ledger.loc[rows.index, "occasions"]).all()


def test_a_customer_period_has_one_row_per_occasion(logged):
    model, handed, _ = logged
    log = model.transactions_frame()
    assert list(log.columns) == list(TRANSACTION_COLUMNS)
    assert [
        str(log[c].dtype)
        for c in ("period", "day", "customer", "acquired_period", "revenue", "clv_increment")
    ] == ["int16", "int32", "int64", "int32", "float32", "float32"]
    assert sorted(log["period"].unique()) == list(range(1, PERIODS + 1))
    # what the engine handed: every active customer, in row order, the ledger's occasions
    ledger = model.firm_frame().set_index(["period", "firm"])
    names = np.array([firm.name for firm in model.firms])
    handed_by_firm = handed.groupby(["period", names[handed["firm"]]])
    active = handed_by_firm.size()
    assert (
        active == (ledger["customers_start"] + ledger["acquisitions_win_back"]).loc[active.index]
    ).all()
    assert (handed_by_firm["occasions"].sum() == ledger["occasions"].loc[active.index]).all()
    assert not handed.duplicated(["period", "customer"]).any()
    # a customer-period is in the log iff it had an occasion, with as many rows as occasions
    bought = handed[handed["occasions"] > 0].set_index(["period", "customer"])
    rows = log.groupby(["period", "customer"]).size()
    assert 0 < len(bought) < len(handed)
    assert rows.sort_index().equals(bought["occasions"].sort_index().rename(None))
    # ... each row of it the customer's firm and relationship, and an equal share of its sales
    first = log.groupby(["period", "customer"]).first().loc[bought.index]
    assert (first["firm"].cat.codes.to_numpy() == bought["firm"].to_numpy()).all()
    assert (first["acquired_period"].to_numpy() == bought["acquired_period"].to_numpy()).all()
    shares = log.groupby(["period", "customer"])["revenue"]
    assert (shares.min() == shares.max()).all()
    assert (log["revenue"] > 0).all()
    np.testing.assert_allclose(shares.sum().loc[bought.index], bought["sales"], **FLOAT32)
    increments = log.groupby(["period", "customer"])["clv_increment"].sum()
    np.testing.assert_allclose(
        increments.loc[bought.index], bought["increment"], rtol=1e-6, atol=1e-7
    )
    # rows and ledger agree without the spy too
    per_firm = log.groupby(["period", "firm"], observed=True).size()
    assert (per_firm == ledger.loc[per_firm.index, "occasions"]).all()
    assert ledger.loc[ledger.index.get_level_values("period") >= 1, "occasions"].sum() == len(log)


def test_revenue_adds_up_to_the_ledger_for_every_firm_and_period(logged):
    model, _, _ = logged
    log = model.transactions_frame()
    ledger = model.firm_frame()
    n_firms = len(model.firms)
    for period in range(1, PERIODS + 1):
        rows = log[log["period"] == period]
        revenue = np.bincount(
            rows["firm"].cat.codes, weights=rows["revenue"].astype(float), minlength=n_firms
        )
        books = ledger.loc[ledger["period"] == period, "revenue"].to_numpy()
        assert (books > 0).all()
        np.testing.assert_allclose(revenue, books, **FLOAT32, err_msg=f"period {period}")


def test_days_lie_within_their_period_spread_over_it(logged):
    model, _, _ = logged
    log = model.transactions_frame()
    offset = log["day"].to_numpy() - DAYS_PER_PERIOD * (log["period"].to_numpy() - 1)
    assert offset.min() >= 0 and offset.max() < DAYS_PER_PERIOD
    # uniform over the period: every day about equally often (about 600 occasions a day)
    counts = np.bincount(offset, minlength=DAYS_PER_PERIOD)
    assert np.abs(counts / counts.mean() - 1).max() < 0.25, counts
    # the occasions of one customer-period fall on days drawn one by one
    several = log.groupby(["period", "customer"])["day"].agg(["size", "nunique"])
    several = several[several["size"] == 2]
    assert len(several) > 500
    assert (several["nunique"] == 2).mean() > 0.9  # same day: 1 chance in 30


def test_the_log_names_customers_by_identity_and_adds_up_to_their_accumulators(logged):
    model, handed, _ = logged
    log = model.transactions_frame()
    pop = model.customers
    keys = ["customer", "firm", "acquired_period"]
    log = log.assign(
        firm=log["firm"].cat.codes.astype(np.int64),
        acquired_period=log["acquired_period"].astype(np.int64),
    )
    revenue = log.groupby(keys)["revenue"].sum()
    clv = log.groupby(keys)["clv_increment"].sum()
    # the periods without an occasion have no row: their increment (serve cost) is the rest
    unlogged = handed[handed["occasions"] == 0].groupby(keys)["increment"].sum()
    current = np.flatnonzero(pop.firm >= 0)
    assert current.size > 500
    assert (np.sort(pop.identity) == np.unique(pop.identity)).all()  # one place each
    assert pop.identity.max() >= len(pop)  # arrivals took leavers' places, with new identities
    index = pd.MultiIndex.from_arrays(
        [
            pop.identity[current].astype(np.int64),
            pop.firm[current].astype(np.int64),
            pop.acquired_period[current].astype(np.int64),
        ],
        names=keys,
    )
    assert index.isin(revenue.index).mean() > 0.7  # most current customers bought at least once
    np.testing.assert_allclose(
        revenue.reindex(index, fill_value=0.0), pop.revenue_to_date[current], **FLOAT32
    )
    rebuilt = clv.reindex(index, fill_value=0.0) + unlogged.reindex(index, fill_value=0.0)
    np.testing.assert_allclose(rebuilt, pop.clv[current], rtol=1e-5, atol=1e-5)
    frame = model.customers_frame()
    assert (frame["customer"].to_numpy() == pop.identity).all()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_recency_and_frequency_vary_across_customers(seed):
    """Not every customer buys every period: BG/NBD's recency and frequency carry information."""
    periods = 24
    model = CRMModel(config(customers=1_000, periods=periods), rng=seed)
    model.log_transactions()
    model.run()
    log = model.transactions_frame()
    ledger = model.firm_frame().set_index(["period", "firm"])
    buyers = log.groupby(["period", "firm"], observed=True)["customer"].nunique()
    active = (ledger["customers_start"] + ledger["acquisitions_win_back"]).loc[buyers.index]
    share = buyers / active
    assert (share < 0.9).all() and (share > 0.1).all()  # some buy, some do not, every period
    # the customers a firm started with and kept throughout
    pop = model.customers
    kept = pop.identity[is_active(pop.stage) & (pop.acquired_period == 0)]
    assert kept.size > 30
    theirs = log[log["customer"].isin(kept) & (log["acquired_period"] == 0)]
    summary = theirs.groupby("customer").agg(
        frequency=("period", "nunique"), last=("period", "max"), occasions=("day", "size")
    )
    summary = summary.reindex(kept, fill_value=0)
    assert summary["frequency"].nunique() > 5
    assert (summary["frequency"] == periods).mean() < 0.5
    recency = periods - summary["last"]
    assert (recency > 0).mean() > 0.05 and recency.nunique() > 2
    # gamma-distributed purchase rates: occasions are overdispersed across customers (NBD)
    assert summary["occasions"].var() > 1.5 * summary["occasions"].mean()


def test_the_log_starts_when_asked_and_is_required_for_the_frame():
    model = CRMModel(config(), rng=2)
    with pytest.raises(RuntimeError, match="log_transactions"):
        model.transactions_frame()
    model.run(5)
    model.log_transactions()
    model.log_transactions()  # twice is once
    model.run(3)
    log = model.transactions_frame()
    assert sorted(log["period"].unique()) == [6, 7, 8]
    assert log["day"].min() >= 5 * DAYS_PER_PERIOD and log["day"].max() < 8 * DAYS_PER_PERIOD
    fresh = CRMModel(config(), rng=2)
    fresh.log_transactions()
    assert fresh.transactions_frame().empty
    assert list(fresh.transactions_frame().columns) == list(TRANSACTION_COLUMNS)
