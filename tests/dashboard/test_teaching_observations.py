"""The directions docs/teaching.md tells students to observe, checked on the engine.

Each exercise's main claim, on the average of seeds 0-2 over the full horizon,
through the same model the dashboard builds. If the engine's calibration
changes so that one fails, the guide needs new observations. (The guide's
directions were also checked on each of seeds 0-9; where one does not hold on
every seed, the guide says so.)
"""

from pathlib import Path

import pandas as pd
import pytest

from dashboard.controls import ClassroomModel, initial_state

pytestmark = pytest.mark.slow

TEACHING = Path(__file__).resolve().parents[2] / "scenarios" / "teaching"
SEEDS = (0, 1, 2)


def outcomes(scenario: str, **changes) -> pd.DataFrame:
    """Per firm, averaged over seeds: equity, mean retention, satisfied share of leavers.

    The satisfied share divides by the leavers who chose to leave (to a rival or out
    of the market): customers who left the category for life reasons
    (``defections_life``) made no choice and are not counted, as in the product.
    """
    controls, sections, _ = initial_state(TEACHING / scenario)
    runs = []
    for seed in SEEDS:
        model = ClassroomModel(**{**controls, **changes, "seed": seed}, base=sections).run()
        frame = model.firm_frame()
        per_firm = frame.groupby("firm").agg(
            equity=("discounted_profit", "sum"),
            retention=("retention", "mean"),
            satisfied=("satisfied_defectors", "sum"),
            defections=("defections", "sum"),
            life_exits=("defections_life", "sum"),
            satisfaction=("mean_satisfaction", "last"),
            switching_cost=("mean_switching_cost", "last"),
            value=("mean_value", "last"),
        )
        per_firm["satisfied_share"] = per_firm["satisfied"] / (
            per_firm["defections"] - per_firm["life_exits"]
        )
        runs.append(per_firm)
    return pd.concat(runs).groupby(level=0).mean()


def test_exercise_1_most_leavers_were_satisfied_and_switching_cost_not_satisfaction_keeps():
    low = outcomes("satisfied_customers_leave.yaml")
    high = outcomes("satisfied_customers_leave.yaml", switching_cost_build=3.0)
    # most leavers were satisfied: about 85% of velcro's, three quarters of the zipper's and clasp's
    assert low.loc["C", "satisfied_share"] > 0.8
    assert (low["satisfied_share"] > 0.6).all()
    # x0.3 -> x3: every firm keeps more, and the dots climb the switching-cost axis ...
    assert (high["retention"] > low["retention"] + 0.01).all()
    assert (high["switching_cost"] > low["switching_cost"] + 0.3).all()
    # ... while satisfaction does not rise: the clasp's and velcro's hardly move,
    # the zipper's even falls a little (0.785 -> 0.780 on seeds 0-2, falling on 8 of
    # seeds 0-9, measured after the settled-start recalibration; it fell by about 0.03
    # before it, when the exercise also started from a new market)
    for firm in ("A", "C"):
        assert abs(high.loc[firm, "satisfaction"] - low.loc[firm, "satisfaction"]) < 0.02
    assert high.loc["B", "satisfaction"] < low.loc["B", "satisfaction"]
    # fewer leavers, but still most of them satisfied
    assert (high["satisfied_share"] < low["satisfied_share"]).all()
    assert (high["satisfied_share"] > 0.5).all()


def test_exercise_1_online_switching_costs_stay_low_and_retention_falls():
    offline = outcomes("satisfied_customers_leave.yaml", switching_cost_build=1.0)
    online = outcomes(
        "satisfied_customers_leave.yaml", switching_cost_build=1.0, setting="ecommerce"
    )
    assert (online["retention"] < offline["retention"] - 0.01).all()
    assert (online["switching_cost"] < offline["switching_cost"] / 2).all()
    assert online.loc["A", "switching_cost"] < 0.1


def test_exercise_2_the_zippers_investment_pays_offline_but_the_clasp_wins_online():
    online = outcomes("clasp_vs_zipper_ecommerce.yaml")
    offline = outcomes("clasp_vs_zipper_ecommerce.yaml", setting="traditional")
    fewer_personal = outcomes("clasp_vs_zipper_ecommerce.yaml", personalization=0.3)
    # offline the zipper earns a little more than the clasp (on seeds 0-2; on 2 of seeds
    # 0-9 since the settled-start recalibration, as docs/teaching.md says); online the
    # clasp earns most, about 1.9 times the zipper's equity
    assert offline.loc["B", "equity"] > offline.loc["A", "equity"]
    assert online.loc["A", "equity"] > 1.5 * max(
        online.loc["B", "equity"], online.loc["C", "equity"]
    )
    zipper_to_clasp = {
        name: frame.loc["B", "equity"] / frame.loc["A", "equity"]
        for name, frame in (("offline", offline), ("online", online))
    }
    assert zipper_to_clasp["offline"] > zipper_to_clasp["online"] + 0.4
    # online the zipper's switching costs stay low and its equity falls
    assert online.loc["B", "switching_cost"] < offline.loc["B", "switching_cost"] / 2
    assert online.loc["B", "equity"] < 0.6 * offline.loc["B", "equity"]
    assert online.loc["A", "retention"] < offline.loc["A", "retention"]
    # little wish for personal offers: every firm earns more, the zipper moves ahead of
    # velcro (whose fit is worth less), the clasp stays first
    assert (fewer_personal["equity"] > online["equity"]).all()
    assert (
        fewer_personal.loc["A", "equity"]
        > fewer_personal.loc["B", "equity"]
        > fewer_personal.loc["C", "equity"]
    )
    assert (
        fewer_personal.loc["B", "equity"] / fewer_personal.loc["A", "equity"]
        > zipper_to_clasp["online"]
    )


def test_exercise_3_switching_cost_lets_the_dearer_firm_keep_its_customers():
    none = outcomes("what_switching_cost_buys.yaml")
    usual = outcomes("what_switching_cost_buys.yaml", switching_cost_build=1.0)
    high = outcomes("what_switching_cost_buys.yaml", switching_cost_build=3.0)
    # B's dearer offer always loses customers faster than A's, but less and less so
    gaps = [
        frame.loc["A", "retention"] - frame.loc["B", "retention"] for frame in (none, usual, high)
    ]
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < gaps[0] / 2
    ratio_none = none.loc["B", "equity"] / none.loc["A", "equity"]
    ratio_high = high.loc["B", "equity"] / high.loc["A", "equity"]
    assert ratio_none < 0.5 < ratio_high
    assert ratio_high > ratio_none + 0.2
    # who leaves B: fewer of its leavers were satisfied than of A's; its customers get less
    assert usual.loc["B", "satisfied_share"] < usual.loc["A", "satisfied_share"] - 0.05
    assert usual.loc["B", "value"] < usual.loc["A", "value"]
