"""Deciding on a policy budget: marginal ROI, the recommended budget, payback, policy levels.

Synthetic per-replication returns whose answers are known by hand: no
simulation runs here.
"""

import math

import numpy as np
import pandas as pd
import pytest

from analysis import decision

REPLICATIONS = 8
NOISE = np.array([-3.0, 3.0, -2.0, 2.0, -1.0, 1.0, -0.5, 0.5])
"""Zero-mean noise per replication (the same draw at every level: common random numbers)."""


def _returns(levels: dict[float, tuple[float, float]], noise: float = 2.0) -> pd.DataFrame:
    """One row per level and replication: spend S and incremental equity D - S.

    ``levels`` maps a budget to ``(mean spend, mean incremental equity)``;
    the incremental equity gets ``noise x NOISE`` times the level's rank, so
    a step's difference is noisy too.
    """
    rows = []
    for rank, (budget, (spend, gain)) in enumerate(sorted(levels.items()), start=1):
        for replication in range(REPLICATIONS):
            rows.append(
                {
                    "setting": "traditional",
                    "policy": "loyalty_programme",
                    "budget": budget,
                    "replication": replication,
                    "run_id": f"p{rank}-r{replication:03d}",
                    "spend": spend,
                    "incremental_equity": gain + noise * rank * NOISE[replication],
                }
            )
    return pd.DataFrame(rows)


KEYS = ["setting", "policy"]

# spend 10 / 20 / 30; equity gains 30 / 40 / 42: marginal ROI 3, 1, 0.2 step by step
CONCAVE = {5.0: (10.0, 30.0), 10.0: (20.0, 40.0), 20.0: (30.0, 42.0)}


def test_marginal_roi_is_the_extra_gain_over_the_extra_spend():
    table = decision.decision_table(_returns(CONCAVE, noise=0.0), KEYS)
    assert list(table["budget"]) == [5.0, 10.0, 20.0]
    assert table["roi"].tolist() == pytest.approx([3.0, 2.0, 1.4])
    # the step into each level: from no policy (the first level's ROI), then (40-30)/(20-10)...
    assert table["step_roi"].tolist() == pytest.approx([3.0, 1.0, 0.2])
    assert table["next_roi"].tolist()[:2] == pytest.approx([1.0, 0.2])
    assert math.isnan(table["next_roi"].iloc[2])  # the top level has no next step
    assert table["next_extra_spend"].tolist()[:2] == pytest.approx([10.0, 10.0])


def test_the_step_is_paired_replication_by_replication():
    # a common shock of +-30 in each replication, the same at both levels: pairing removes
    # it, so the step's interval is narrow although each level's is wide
    returns = _returns({5.0: (10.0, 30.0), 10.0: (20.0, 40.0)}, noise=0.0)
    shock = np.tile(30.0 * np.sign(NOISE), 2)
    returns["incremental_equity"] += shock
    returns.loc[returns["budget"] == 10.0, "incremental_equity"] += np.tile(NOISE, 1) * 0.1
    table = decision.decision_table(returns, KEYS).set_index("budget")
    assert table.at[10.0, "roi_high"] - table.at[10.0, "roi_low"] > 2.0
    assert table.at[10.0, "step_roi"] == pytest.approx(1.0)
    assert table.at[10.0, "step_roi_high"] - table.at[10.0, "step_roi_low"] < 0.2


def test_the_recommended_budget_is_the_largest_level_a_paying_step_reaches():
    table = decision.decision_table(_returns(CONCAVE), KEYS, hurdle_rate=0.0)
    # steps: 3 and 1 clear 0 with their whole interval; 0.2 with noise does not
    assert table["step_roi_low"].iloc[0] > 0 and table["step_roi_low"].iloc[1] > 0
    assert table["step_roi_low"].iloc[2] < 0
    assert table.loc[table["recommended"], "budget"].tolist() == [10.0]
    assert table["qualifies"].tolist() == [True, True, False]


def test_a_higher_hurdle_recommends_a_smaller_budget():
    returns = _returns(CONCAVE)
    assert decision.decision_table(returns, KEYS, 0.0)["recommended"].tolist() == [
        False,
        True,
        False,
    ]
    # the step 5 -> 10 returns 1 (its interval about [0.65, 1.35]); a hurdle of 1.5 stops at 5
    assert decision.decision_table(returns, KEYS, 1.5)["recommended"].tolist() == [
        True,
        False,
        False,
    ]


def test_no_level_qualifies_when_no_step_clears_the_hurdle():
    losing = {5.0: (10.0, -2.0), 10.0: (20.0, -5.0)}
    table = decision.decision_table(_returns(losing), KEYS)
    assert not table["recommended"].any()
    assert decision.recommended_budget([5.0, 10.0], table["step_roi_low"], 0.0) is None
    # paying, but not enough for a hurdle of 5 (ROI 3, then 1)
    assert not decision.decision_table(_returns(CONCAVE), KEYS, 5.0)["recommended"].any()


def test_recommended_budget_rule():
    assert decision.recommended_budget([1, 2, 4], [0.5, -0.1, 0.3], 0.0) == 4
    assert decision.recommended_budget([1, 2, 4], [0.5, -0.1, 0.3], 0.4) == 1
    assert decision.recommended_budget([1, 2, 4], [0.5, np.nan, np.nan], 0.0) == 1
    assert decision.recommended_budget([1, 2], [0.0, 0.0], 0.0) is None  # must exceed


def test_a_step_that_spends_no_more_has_no_marginal_roi_and_does_not_qualify():
    flat = {5.0: (10.0, 30.0), 10.0: (10.0, 30.0)}  # a budget that does not bind
    table = decision.decision_table(_returns(flat, noise=0.0), KEYS).set_index("budget")
    assert table.at[5.0, "next_extra_spend"] == 0.0
    assert math.isnan(table.at[5.0, "next_roi"])
    assert table["recommended"].tolist() == [True, False]


def test_groups_are_decided_apart_and_zero_budgets_are_the_baseline():
    one = _returns(CONCAVE)
    other = _returns({5.0: (10.0, -2.0)}).assign(policy="price_promotion")
    zero = _returns({0.0: (0.0, 0.0)}, noise=0.0)
    table = decision.decision_table(pd.concat([one, other, zero]), KEYS)
    assert 0.0 not in set(table["budget"])
    chosen = table[table["recommended"]]
    assert chosen[["policy", "budget"]].values.tolist() == [["loyalty_programme", 10.0]]


def test_a_level_without_the_lower_levels_replication_is_an_error_that_names_it():
    returns = _returns(CONCAVE)
    missing = (returns["budget"] == 5.0) & (returns["replication"] == 3)
    with pytest.raises(ValueError, match=r"run p2-r003 .*no baseline run to pair with"):
        decision.decision_table(returns[~missing], KEYS)


def test_payback_period_on_a_synthetic_ledger():
    periods = np.arange(0, 8)
    spend = np.array([0, 10, 10, 10, 0, 0, 0, 0], dtype=float)
    gain = np.array([0, 2, 6, 8, 7, 5, 3, 1], dtype=float)
    # cumulative spend 0 10 20 30 30...; gain 0 2 8 16 23 28 31 32: covered first at period 6
    assert decision.payback_period(periods, gain, spend) == 6
    assert decision.payback_period(periods[:6], gain[:6], spend[:6]) is None  # not within
    assert decision.payback_period(periods, np.zeros(8), np.zeros(8)) is None  # spends nothing
    shuffled = np.array([3, 0, 7, 1, 5, 2, 6, 4])  # order of rows does not matter
    assert decision.payback_period(periods[shuffled], gain[shuffled], spend[shuffled]) == 6


def test_payback_periods_follow_each_groups_mean_path():
    rows = []
    for replication, scale in enumerate((0.5, 1.5)):  # mean path = the path above
        for period, s, g in zip(
            range(8), [0, 10, 10, 10, 0, 0, 0, 0], [0, 2, 6, 8, 7, 5, 3, 1], strict=True
        ):
            rows.append(
                {
                    "policy": "onboarding",
                    "budget": 10.0,
                    "replication": replication,
                    "period": period,
                    "spend": s,
                    "gross_gain": g * scale,
                }
            )
    ledger = pd.DataFrame(rows)
    paybacks = decision.payback_periods(ledger, ["policy", "budget"])
    assert paybacks["payback_period"].tolist() == [6]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('[{"name": "loyalty_programme", "budget": 10}]', ("loyalty_programme", 10.0)),
        ([{"name": "onboarding", "budget": 0}], ("onboarding", 0.0)),
        ([{"name": "win_back"}], ("win_back", math.inf)),
        (
            [{"name": "onboarding", "budget": 2}, {"name": "cross_sell", "budget": 3}],
            ("onboarding + cross_sell", 5.0),
        ),
        (
            [{"name": "loyalty_programme", "budget": 4, "value_lift": 0.1}],
            ("loyalty_programme (value_lift 0.1)", 4.0),
        ),
        ("[]", ("none", 0.0)),
    ],
)
def test_policy_and_budget(value, expected):
    assert decision.policy_and_budget(value) == expected
