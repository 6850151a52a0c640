"""What docs/teaching.md tells students to observe, checked over the ten seeds of the page.

Each exercise states its numbers as the mean over seeds 0-9 (what the page's
"Run 10 seeds" shows for that market) and, for each conclusion, on how many of
the ten seeds it holds. These tests rerun the same ten seeds of every market
the guide names, through the dashboard's own functions
(:func:`dashboard.compare.controls_runs`), and check the means (within a
tolerance) and the counts (exactly: the same seed gives the same run). If the
engine's calibration changes so that one fails, the guide needs new
observations, measured the same way.
"""

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from dashboard.compare import SEEDS, controls_runs
from dashboard.controls import initial_state

pytestmark = pytest.mark.slow

TEACHING = Path(__file__).resolve().parents[2] / "scenarios" / "teaching"
LAST = ["customers", "retention", "equity", "satisfied_share"]
AVERAGES = ["mean_satisfaction", "mean_switching_cost", "mean_value"]


@cache
def _runs(scenario: str, changes: tuple) -> pd.DataFrame:
    controls, sections, _ = initial_state(TEACHING / scenario)
    return controls_runs(controls, sections, SEEDS, **dict(changes))


def at_end(scenario: str, **changes) -> dict[str, pd.DataFrame]:
    """Each measure at the last month, seeds x firms (as the page's spread table reads).

    ``retention`` is the average monthly share kept over the run; ``equity`` the
    customer equity so far (discounted profit summed); ``satisfied_share`` of the
    leavers who chose to leave, the share satisfied; and the firm's averages of
    satisfaction, switching cost and value at the last month.
    """
    runs = _runs(scenario, tuple(sorted(changes.items())))
    last = runs[runs["period"] == runs["period"].max()]
    return {
        measure: last.pivot(index="seed", columns="firm", values=measure)
        for measure in LAST + AVERAGES
    }


def seeds_where(condition: pd.Series) -> int:
    """On how many of the ten seeds ``condition`` holds."""
    assert len(condition) == len(SEEDS)
    return int(condition.sum())


EXERCISE_1 = "satisfied_customers_leave.yaml"
EXERCISE_2 = "clasp_vs_zipper_ecommerce.yaml"
EXERCISE_3 = "what_switching_cost_buys.yaml"


def test_exercise_1_most_leavers_were_satisfied_and_switching_cost_not_satisfaction_keeps():
    low = at_end(EXERCISE_1)
    high = at_end(EXERCISE_1, switching_cost_build=3.0)
    # most leavers were satisfied: about 85% of velcro's, three quarters of the others'
    share = low["satisfied_share"]
    assert share.mean().to_dict() == pytest.approx({"A": 0.74, "B": 0.76, "C": 0.85}, abs=0.01)
    assert seeds_where((share > 0.7).all(axis=1)) == 10
    # x0.3 -> x3: every firm keeps more and switching costs climb, on every seed ...
    assert seeds_where((high["retention"] > low["retention"] + 0.01).all(axis=1)) == 10
    assert high["retention"].mean().to_dict() == pytest.approx(
        {"A": 0.989, "B": 0.992, "C": 0.992}, abs=0.001
    )
    assert low["retention"].mean().to_dict() == pytest.approx(
        {"A": 0.975, "B": 0.979, "C": 0.970}, abs=0.001
    )
    climb = high["mean_switching_cost"] - low["mean_switching_cost"]
    assert seeds_where((climb > 0.3).all(axis=1)) == 10
    assert high["mean_switching_cost"].mean().to_dict() == pytest.approx(
        {"A": 0.54, "B": 0.69, "C": 0.64}, abs=0.01
    )
    # ... while satisfaction does not rise: within 0.02 for every firm on every seed,
    # and the zipper's falls a little on 8 of the 10
    change = high["mean_satisfaction"] - low["mean_satisfaction"]
    assert seeds_where((change.abs() < 0.02).all(axis=1)) == 10
    assert seeds_where(change["B"] < 0) == 8
    # fewer leavers, most of them still satisfied: the share falls but stays over half
    assert seeds_where((high["satisfied_share"] < share).all(axis=1)) == 10
    assert seeds_where((high["satisfied_share"] > 0.5).all(axis=1)) == 10
    assert high["satisfied_share"].mean().to_dict() == pytest.approx(
        {"A": 0.59, "B": 0.63, "C": 0.79}, abs=0.01
    )


def test_exercise_1_online_switching_costs_stay_low_and_retention_falls():
    offline = at_end(EXERCISE_1, switching_cost_build=1.0)
    online = at_end(EXERCISE_1, switching_cost_build=1.0, setting="ecommerce")
    assert seeds_where((online["retention"] < offline["retention"] - 0.01).all(axis=1)) == 10
    assert online["retention"].mean().between(0.965, 0.97).all()
    assert online["mean_switching_cost"].mean()["A"] == pytest.approx(0.07, abs=0.005)
    assert offline["mean_switching_cost"].mean()["A"] == pytest.approx(0.29, abs=0.005)


def test_exercise_2_the_zippers_investment_pays_offline_but_the_clasp_wins_online():
    offline = at_end(EXERCISE_2, setting="traditional")["equity"]
    online_all = at_end(EXERCISE_2)
    online = online_all["equity"]
    fewer = at_end(EXERCISE_2, personalization=0.3)["equity"]
    # offline the three end close, and which earns most changes with the seed
    assert offline.idxmax(axis=1).value_counts().to_dict() == {"C": 5, "A": 4, "B": 1}
    assert seeds_where(offline["A"] > offline["B"]) == 8
    assert offline.mean().to_dict() == pytest.approx({"A": 7750, "B": 7130, "C": 7530}, rel=0.02)
    # online the clasp earns most on every seed, about twice the others
    assert seeds_where(online.idxmax(axis=1) == "A") == 10
    assert online.mean().to_dict() == pytest.approx({"A": 7760, "B": 3700, "C": 4190}, rel=0.02)
    assert (online["A"] / online["B"]).mean() == pytest.approx(2.1, abs=0.05)
    assert (online["A"] / online["C"]).mean() == pytest.approx(2.0, abs=0.05)
    assert seeds_where(online["B"] < online["C"]) == 7
    # the zipper's equity online is about half its equity offline
    halved = online["B"] / offline["B"]
    assert halved.mean() == pytest.approx(0.52, abs=0.02)
    assert seeds_where(halved < 0.6) == 9
    assert online_all["mean_switching_cost"]["B"].mean() == pytest.approx(0.11, abs=0.005)
    # little wish for personal offers: every firm earns more on every seed, the zipper
    # proportionally more than the clasp and ahead of velcro; the clasp stays first
    assert seeds_where((fewer > online).all(axis=1)) == 10
    assert seeds_where(fewer["B"] / online["B"] > fewer["A"] / online["A"]) == 10
    assert seeds_where((fewer["A"] > fewer["B"]) & (fewer["B"] > fewer["C"])) == 10
    assert fewer.mean().to_dict() == pytest.approx({"A": 13030, "B": 8310, "C": 6100}, rel=0.02)


def test_exercise_3_switching_cost_lets_the_dearer_firm_keep_its_customers():
    levels = {level: at_end(EXERCISE_3, switching_cost_build=level) for level in (0.0, 1.0, 3.0)}
    gap = {level: ends["retention"]["A"] - ends["retention"]["B"] for level, ends in levels.items()}
    ratio = {level: ends["equity"]["B"] / ends["equity"]["A"] for level, ends in levels.items()}
    # B's dearer offer loses customers faster at every level, less and less so, on every seed
    assert seeds_where((gap[0.0] > gap[1.0]) & (gap[1.0] > gap[3.0]) & (gap[3.0] > 0)) == 10
    assert [gap[level].mean() for level in gap] == pytest.approx([0.017, 0.009, 0.006], abs=0.001)
    # B's share of A's equity: about 0.40, 0.60, 0.71; rising x0 -> x3 on every seed
    assert [ratio[level].mean() for level in ratio] == pytest.approx([0.40, 0.60, 0.71], abs=0.01)
    assert seeds_where(ratio[0.0] > 0.5) == 1
    assert seeds_where(ratio[3.0] > ratio[0.0]) == 10
    assert seeds_where(ratio[3.0] > ratio[1.0]) == 9
    # B still earns less than A: on every seed at x0 and x1, on 9 of 10 at x3; the
    # exception is seed 3, the scenario's own seed
    assert [seeds_where(ratio[level] < 1) for level in ratio] == [10, 10, 9]
    assert ratio[3.0].idxmax() == 3
    controls, _, _ = initial_state(TEACHING / EXERCISE_3)
    assert controls["seed"] == 3
    # who leaves B: a clearly smaller share of its leavers were satisfied; it gives less value
    usual = levels[1.0]
    satisfied = usual["satisfied_share"]
    assert seeds_where(satisfied["B"] < satisfied["A"] - 0.05) == 10
    assert satisfied.mean()[["A", "B"]].to_list() == pytest.approx([0.70, 0.60], abs=0.01)
    assert seeds_where(usual["mean_value"]["B"] < usual["mean_value"]["A"]) == 10
