"""Outcome definitions on a hand-made ledger, and their agreement with a real run."""

import numpy as np
import pandas as pd
import pytest

from analysis import metrics
from experiments.runner import run_once
from sim import CRMModel, default_config

MONEY = ("contribution", "referral_value", "acquisition_cost", "policy_cost")


def ledger():
    """Two firms over periods 0..2; firm B never has customers."""
    rows = []
    a = {
        "customers": [10, 11, 11],
        "retention": [1.0, 0.8, 0.9],
        "contribution": [0.0, 12.0, 25.0],
        "referral_value": [0.0, 1.0, 2.0],
        "acquisition_cost": [0.0, 3.0, 4.0],
        "policy_cost": [0.0, 0.5, 0.5],
        "defections": [0, 2, 2],
        "defections_life": [0, 1, 0],
        "satisfied_defectors": [0, 1, 1],
        "acquisitions": [0, 3, 1],
        "ended_clv": [0, 4.0, 2.0],
        "acquisitions_referral": [0, 1, 0],
        "acquisitions_rival": [0, 1, 0],
        "revenue": [0, 30.0, 55.0],
        "cost": [0, 2.0, 2.0],
    }
    for period in range(3):
        row = {name: values[period] for name, values in a.items()}
        row["profit"] = (
            row["contribution"]
            + row["referral_value"]
            - row["acquisition_cost"]
            - row["policy_cost"]
        )
        discounted = {f"discounted_{name}": row[name] / 1.1**period for name in ("profit", *MONEY)}
        rows.append({"period": period, "firm": "A", **row, **discounted})
        rows.append(
            {
                "period": period,
                "firm": "B",
                "customers": 0,
                "retention": np.nan,
                "profit": 0.0,
                "defections": 0,
                "defections_life": 0,
                "satisfied_defectors": 0,
                "acquisitions": 0,
                "ended_clv": 0.0,
                "acquisitions_referral": 0,
                "acquisitions_rival": 0,
                "revenue": 0.0,
                "cost": 0.0,
                "discounted_profit": 0.0,
                **{name: 0.0 for name in MONEY},
                **{f"discounted_{name}": 0.0 for name in MONEY},
            }
        )
    return pd.DataFrame(rows)


def test_retention_rate_is_the_mean_over_periods_one_to_t():
    rates = metrics.retention_rate(ledger())
    assert list(rates.index) == ["A", "B"]
    assert rates["A"] == pytest.approx(0.85)  # period 0 (retention 1) is not counted
    assert np.isnan(rates["B"])


def test_customer_equity_by_hand():
    clv = pd.DataFrame(
        {"firm": pd.Categorical(["A", "A"], categories=["A", "B"]), "projected_clv": [3.0, 4.0]}
    )
    books = metrics.equity_ledger(ledger(), clv)
    assert list(books.index) == ["A", "B"]
    assert list(books.columns) == [*metrics.EQUITY_TERMS, "customer_equity"]
    contribution = 12 / 1.1 + 25 / 1.21
    referral = 1 / 1.1 + 2 / 1.21
    acquisition = 3 / 1.1 + 4 / 1.21
    policy = 0.5 / 1.1 + 0.5 / 1.21
    assert books.loc["A", list(metrics.EQUITY_TERMS)].tolist() == pytest.approx(
        [contribution, referral, acquisition, policy, 7.0]
    )
    equity = metrics.customer_equity(ledger(), clv)
    assert equity["A"] == pytest.approx(contribution + referral - acquisition - policy + 7.0)
    # realized part = the discounted profit: the terms are the profit's, split out
    assert equity["A"] - 7.0 == pytest.approx(
        ledger().query("firm == 'A'")["discounted_profit"].sum()
    )
    assert equity["B"] == 0.0  # no money, no customers left to project


def cohort_rows(firm, cohort, counts, first_period):
    return [
        {"period": first_period + k, "firm": firm, "cohort": cohort, "tenure": k, "active": n}
        for k, n in enumerate(counts)
    ]


def test_annual_retention_and_expected_lifetime_by_hand():
    """Of the customers at t, the share still with the firm at t + 12 (periods 0..14)."""
    rows = (
        cohort_rows("A", 0, [10] * 6 + [6] * 9, 0)  # periods 0..14
        + cohort_rows("A", 2, [4] * 12 + [2], 2)  # acquired in period 2
        + cohort_rows("B", 0, [0] * 15, 0)
    )
    cohorts = pd.DataFrame(rows)
    annual = metrics.annual_retention(cohorts)
    assert list(annual.index) == ["A", "B"]
    # under 25 periods: t = 1 .. T - 12 = 1, 2
    at_1 = 6 / 10  # only cohort 0 is there at t = 1
    at_2 = (6 + 2) / (10 + 4)
    assert annual["A"] == pytest.approx((at_1 + at_2) / 2)
    assert np.isnan(annual["B"])
    lifetime = metrics.expected_lifetime(annual)
    assert lifetime["A"] == pytest.approx(1 / (1 - annual["A"]))
    assert metrics.expected_lifetime(pd.Series([1.0]))[0] == np.inf
    # a run shorter than a year and a period: no annual retention
    short = cohorts[cohorts["period"] <= 12]
    assert metrics.annual_retention(short).isna().all()


def test_clv_mean_and_satisfied_defector_share_by_hand():
    customers = pd.DataFrame(
        {
            "firm": pd.Categorical(["A", "A", None, "A"], categories=["A", "B"]),
            "clv": [10.0, 8.0, 99.0, 6.0],
        }
    )
    clv = metrics.clv_mean(ledger(), customers)
    assert clv["A"] == pytest.approx((4 + 2 + 10 + 8 + 6) / (10 + 4))
    assert np.isnan(clv["B"])
    share = metrics.satisfied_defector_share(ledger())
    assert share["A"] == pytest.approx(2 / 3)  # of 4 defections, 1 was a life exit: not a choice
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
            rows["satisfied_defectors"].sum()
            / (rows["defections"].sum() - rows["defections_life"].sum())
        )
        assert outcomes.loc[firm, "referral_acquisitions"] == rows["acquisitions_referral"].sum()
        assert outcomes.loc[firm, "rival_acquisitions"] == rows["acquisitions_rival"].sum()
        assert outcomes.loc[firm, "customers_end"] == rows["customers"].iloc[-1]
        for name in MONEY:
            assert outcomes.loc[firm, name] == pytest.approx(
                frame.loc[frame["firm"] == firm, f"discounted_{name}"].sum()
            )
        assert outcomes.loc[firm, "customer_equity"] == pytest.approx(
            outcomes.loc[firm, "contribution"]
            + outcomes.loc[firm, "referral_value"]
            - outcomes.loc[firm, "acquisition_cost"]
            - outcomes.loc[firm, "policy_cost"]
            + outcomes.loc[firm, "projected_remainder"]
        )
    assert list(outcomes.columns) == ["strategy", "setting", *metrics.OUTCOME_COLUMNS]
    assert np.isfinite(outcomes["customer_equity"]).all()
    pd.testing.assert_series_equal(
        outcomes["annual_retention"],
        metrics.annual_retention(model.cohort_frame()),
        check_names=False,
    )
    assert outcomes["annual_retention"].between(0, 1).all()
    np.testing.assert_allclose(
        outcomes["expected_lifetime"], 1 / (1 - outcomes["annual_retention"])
    )
    # the same seed gives the same outcomes; another seed other ones
    pd.testing.assert_frame_equal(
        run_once(config, 42).firms, outcomes.reset_index(), check_exact=True
    )
    assert (
        not run_once(config, 43)
        .firms["customer_equity"]
        .equals(outcomes["customer_equity"].reset_index(drop=True))
    )
