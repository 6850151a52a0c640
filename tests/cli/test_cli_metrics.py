"""Outcome definitions on a hand-made ledger, and their agreement with a real run."""

import numpy as np
import pandas as pd
import pytest

from analysis import metrics
from analysis.runner import run_once
from sim import CRMModel, default_config


def ledger():
    """Two firms over periods 0..2; firm B never has customers."""
    rows = []
    a = {"customers": [10, 11, 11], "retention": [1.0, 0.8, 0.9], "profit": [0.0, 10.0, 20.0],
         "referral_value": [0.0, 1.0, 2.0], "defections": [0, 2, 1],
         "satisfied_defectors": [0, 1, 1], "acquisitions": [0, 3, 1], "ended_clv": [0, 4.0, 2.0],
         "acquisitions_referral": [0, 1, 0], "revenue": [0, 30.0, 55.0], "cost": [0, 2.0, 2.0]}
    for period in range(3):
        row = {name: values[period] for name, values in a.items()}
        rows.append({"period": period, "firm": "A", **row,
                     "discounted_profit": row["profit"] / 1.1 ** period})
        rows.append({"period": period, "firm": "B", "customers": 0, "retention": np.nan,
                     "profit": 0.0, "referral_value": 0.0, "defections": 0,
                     "satisfied_defectors": 0, "acquisitions": 0, "ended_clv": 0.0,
                     "acquisitions_referral": 0, "revenue": 0.0, "cost": 0.0,
                     "discounted_profit": 0.0})
    return pd.DataFrame(rows)


def test_retention_rate_is_the_mean_over_periods_one_to_t():
    rates = metrics.retention_rate(ledger())
    assert list(rates.index) == ["A", "B"]
    assert rates["A"] == pytest.approx(0.85)  # period 0 (retention 1) is not counted
    assert np.isnan(rates["B"])


def test_customer_equity_by_hand():
    equity = metrics.customer_equity(ledger(), discount_rate=0.1)
    realized = 10 / 1.1 + 20 / 1.21 + 1 / 1.1 + 2 / 1.21
    projected = (20 + 2) * 0.85 / (1.1 - 0.85) / 1.21
    assert realized + projected == pytest.approx(90.0)
    assert equity["A"] == pytest.approx(90.0)
    assert equity["B"] == 0.0
    # only the last `periods` periods set the projection's retention
    assert metrics.customer_equity(ledger(), 0.1, periods=1)["A"] == pytest.approx(
        realized + 22 * 0.9 / 0.2 / 1.21)


def test_clv_mean_and_satisfied_defector_share_by_hand():
    customers = pd.DataFrame({"firm": pd.Categorical(["A", "A", None, "A"], categories=["A", "B"]),
                              "clv": [10.0, 8.0, 99.0, 6.0]})
    clv = metrics.clv_mean(ledger(), customers)
    assert clv["A"] == pytest.approx((4 + 2 + 10 + 8 + 6) / (10 + 4))
    assert np.isnan(clv["B"])
    share = metrics.satisfied_defector_share(ledger())
    assert share["A"] == pytest.approx(2 / 3)
    assert np.isnan(share["B"])


def test_outcomes_of_a_real_run_follow_the_ledger():
    config = default_config(simulation={"customers": 800, "periods": 24, "seed": 1})
    model = CRMModel(config, rng=42).run()
    frame = model.firm_frame()
    outcomes = run_once(config, 42).firms.set_index("firm")
    later = frame[frame["period"] >= 1]
    for firm, rows in later.groupby("firm"):
        kept = rows["retained"] / rows["customers_start"]
        assert outcomes.loc[firm, "retention_rate"] == pytest.approx(kept.mean())
        assert outcomes.loc[firm, "satisfied_defector_share"] == pytest.approx(
            rows["satisfied_defectors"].sum() / rows["defections"].sum())
        assert outcomes.loc[firm, "referral_acquisitions"] == rows["acquisitions_referral"].sum()
        assert outcomes.loc[firm, "customers_end"] == rows["customers"].iloc[-1]
    assert list(outcomes.columns) == ["strategy", "setting", *metrics.OUTCOME_COLUMNS]
    assert np.isfinite(outcomes["customer_equity"]).all()
    # the same seed gives the same outcomes; another seed other ones
    pd.testing.assert_frame_equal(run_once(config, 42).firms, outcomes.reset_index(),
                                  check_exact=True)
    assert not run_once(config, 43).firms["customer_equity"].equals(
        outcomes["customer_equity"].reset_index(drop=True))
