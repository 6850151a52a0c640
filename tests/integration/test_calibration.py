"""Calibration end to end: it recovers known parameters, and it fits a textbook curve.

Recovery: a target curve is simulated at known values of
``market.search_probability`` and ``relationship.exit_rate`` on seeds the
calibration never uses (8 replications, as if observed), then calibrated
within wide bounds by a scenario that holds the defaults (0.10 and 0.18). Each
recovered value must lie within :data:`TOLERANCE` of the truth, for each of
three targets. docs/experiments.md states the same tolerance and the errors measured.
The market opens at period 0 (``simulation.start: new``), everyone with a
firm: one cohort, acquired together, as a target curve follows one.

Textbook curves: the observed yearly survival of the 'high end' and 'regular'
cohorts of Fader & Hardie (2007), whose shifted-beta-geometric (sBG) model
they project, shipped in scenarios/targets/. The monthly model of
scenarios/calibrate_example.yaml (``periods_per_target: 12``) fits years 1-7
of each and must project years 8-12 within 0.03 RMSE with every fitted value
inside its plausible range (issue 20).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import calibrate as cal
from experiments.bounds import plausible
from experiments.runner import run_cohorts
from experiments.scenario import load_scenario

TRUTH = {"market.search_probability": 0.30, "relationship.exit_rate": 0.20}
TOLERANCE = {"market.search_probability": 0.10, "relationship.exit_rate": 0.10}
"""Largest accepted distance of a recovered value from the truth (bounds are 0.05-0.8, 0-0.5).

Search and exit from decline trade off along a ridge of the loss. Since the
open market of issue 20 (life exits, purchase occasions, partial expectation
adaptation) a searching customer defects less often, so a change of the
search probability moves the survival curve less and search is identified
less tightly than before (0.05): measured errors were -0.046, +0.051 and
-0.081 (search) and -0.019, -0.018 and +0.059 (exit) over the three targets; since the
settled-start recalibration (zipper, the rival, changed) -0.053, +0.051 and -0.076
(search) and -0.019, -0.017 and +0.055 (exit).
"""

RECOVERY = """\
name: recovery
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 1000, periods: 24, seed: 1, initial_customer_share: 1.0, start: new}
calibrate:
  parameters:
    market.search_probability: [0.05, 0.8]
    relationship.exit_rate: [0.0, 0.5]
  firm: A
  replications: 4
  holdout: 4
  method: nelder_mead
  max_evaluations: 60
  seed: SEED
"""


def observed_curve(config, seed: int, replications: int = 8) -> pd.DataFrame:
    """The survival curve of firm A's customers at ``config``, as a target file holds it."""
    seeds = cal.replication_seeds(seed, replications)
    selection = cal.Selection(group=None, firms=("A",), initial_only=False, by_cohort=False)
    curve = cal.survival_table((run_cohorts(config, s) for s in seeds), selection)
    return curve[["period", "survival"]]


@pytest.mark.slow
@pytest.mark.parametrize("replicate", [0, 1, 2])
def test_calibration_recovers_known_parameters(tmp_path, replicate):
    path = tmp_path / "recovery.yaml"
    path.write_text(RECOVERY.replace("SEED", str(100 + replicate)), encoding="utf-8")
    scenario = load_scenario(path)
    raw = {
        "firms": [{"name": "A", "strategy": "clasp"}, {"name": "B", "strategy": "zipper"}],
        "simulation": {
            "customers": 1000,
            "periods": 24,
            "initial_customer_share": 1.0,
            "start": "new",
        },
    }
    truth = cal.candidate_config(
        raw, [("market", "search_probability"), ("relationship", "exit_rate")], list(TRUTH.values())
    )
    observed_curve(truth, 900 + replicate).to_csv(tmp_path / "target.csv", index=False)
    fit = cal.calibrate(scenario, cal.read_target(tmp_path / "target.csv", scenario))
    for path, value in fit.parameters.items():
        assert abs(value - TRUTH[path]) <= TOLERANCE[path], (path, value, fit.parameters)
    assert fit.rmse("in_sample") < 0.02
    assert np.isfinite(fit.rmse("holdout")) and fit.rmse("holdout") < 0.03


EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "calibrate_example.yaml"
TARGETS = EXAMPLE.parent / "targets"
SBG_COHORTS = ("sbg_high_end.csv", "sbg_regular.csv")
"""Fader & Hardie's (2007) yearly cohorts, shipped in scenarios/targets/."""

SBG_BUDGET = {"replications": 3, "max_evaluations": 50}
"""The example's block, with the least budget differential evolution takes for its five
parameters (two populations of 25) so that both cohorts fit in about a minute and a half on
two workers; the shipped example spends 250 evaluations (docs/experiments.md, section
Calibration)."""

SBG_HOLDOUT_RMSE = 0.03
"""Issue 20: years 8-12, held out, projected within this RMSE of survival."""


@pytest.mark.slow
@pytest.mark.parametrize("cohort", SBG_COHORTS)
def test_example_fits_each_yearly_sbg_cohort(tmp_path, cohort):
    """Years 1-7 of each shipped cohort fitted by the monthly model, years 8-12 projected.

    The example keeps the model's month (``periods_per_target: 12``, 144
    months): target year ``k`` is the survival at tenure ``12 k`` months. The
    held-out RMSE must be within :data:`SBG_HOLDOUT_RMSE`, every fitted value
    inside its plausible range and off its plausible and search bounds
    (:func:`experiments.bounds.judge` flags nothing), and the fit must beat the
    scenario as written in sample.
    """
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    block = document["calibrate"]
    assert block["periods_per_target"] == 12 and document["simulation"]["periods"] == 144
    assert block["holdout"] == 5
    block.update(SBG_BUDGET)
    path = tmp_path / "calibrate_example.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    scenario = load_scenario(path)
    assert not cal.search_notes(scenario.calibration)  # search bounds inside plausible ranges
    fit = cal.calibrate(scenario, cal.read_target(TARGETS / cohort, scenario), workers=2)
    held = fit.table[fit.table["sample"] == "holdout"]
    assert list(held["period"]) == [8, 9, 10, 11, 12]
    assert fit.rmse("holdout") <= SBG_HOLDOUT_RMSE, (cohort, fit.rmse("holdout"), fit.parameters)
    assert fit.rmse("in_sample") < fit.rmse("in_sample", "uncalibrated"), cohort
    assert fit.warnings() == [], (cohort, fit.warnings())
    for path_, value in fit.parameters.items():
        entry = plausible(path_)
        assert entry is not None and entry.low < value < entry.high, (path_, value)
