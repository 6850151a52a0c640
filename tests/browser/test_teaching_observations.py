"""The directions docs/teaching.md tells students to observe, checked on the engine.

Each exercise's main claim, on the average of seeds 0-2 over the full horizon,
through the same model the dashboard builds. If the engine's calibration
changes so that one fails, the guide needs new observations.
"""

from pathlib import Path

import pandas as pd
import pytest

from dashboard.controls import ClassroomModel, initial_state

pytestmark = pytest.mark.slow

TEACHING = Path(__file__).resolve().parents[2] / "scenarios" / "teaching"
SEEDS = (0, 1, 2)


def outcomes(scenario: str, **changes) -> pd.DataFrame:
    """Per firm, averaged over seeds: equity, mean retention, satisfied share of leavers."""
    controls, sections, _ = initial_state(TEACHING / scenario)
    runs = []
    for seed in SEEDS:
        model = ClassroomModel(**{**controls, **changes, "seed": seed}, base=sections).run()
        frame = model.firm_frame()
        per_firm = frame.groupby("firm").agg(
            equity=("discounted_profit", "sum"), retention=("retention", "mean"),
            satisfied=("satisfied_defectors", "sum"), defections=("defections", "sum"),
            satisfaction=("mean_satisfaction", "last"))
        per_firm["satisfied_share"] = per_firm["satisfied"] / per_firm["defections"]
        runs.append(per_firm)
    return pd.concat(runs).groupby(level=0).mean()


def test_exercise_1_most_leavers_were_satisfied_and_switching_cost_not_satisfaction_keeps():
    low = outcomes("satisfied_customers_leave.yaml")
    high = outcomes("satisfied_customers_leave.yaml", switching_cost_build=3.0)
    assert low.loc["C", "satisfied_share"] > 0.9
    assert low.loc["B", "satisfied_share"] > 0.7
    assert (high["retention"] > low["retention"]).all()
    for firm in ("B", "C"):  # the guide: "hardly moves for the zipper and velcro"
        assert abs(high.loc[firm, "satisfaction"] - low.loc[firm, "satisfaction"]) < 0.02


def test_exercise_2_velcro_overtakes_the_zipper_online_but_not_offline():
    online = outcomes("clasp_vs_zipper_ecommerce.yaml")
    offline = outcomes("clasp_vs_zipper_ecommerce.yaml", setting="traditional")
    assert offline.loc["B", "equity"] > offline.loc["C", "equity"] > offline.loc["A", "equity"]
    assert online.loc["C", "equity"] > online.loc["B", "equity"] > online.loc["A", "equity"]
    assert online.loc["B", "equity"] < offline.loc["B", "equity"]
    assert online.loc["A", "retention"] < offline.loc["A", "retention"]


def test_exercise_3_switching_cost_lets_the_dearer_firm_keep_its_customers():
    none = outcomes("what_switching_cost_buys.yaml")
    high = outcomes("what_switching_cost_buys.yaml", switching_cost_build=3.0)
    assert none.loc["B", "retention"] < none.loc["A", "retention"]
    ratio_none = none.loc["B", "equity"] / none.loc["A", "equity"]
    ratio_high = high.loc["B", "equity"] / high.loc["A", "equity"]
    assert ratio_none < 0.5 < ratio_high
    # B's customers leave over its price more than A's do over dissatisfaction
    assert high.loc["B", "satisfied_share"] < high.loc["A", "satisfied_share"] - 0.15
