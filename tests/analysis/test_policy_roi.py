"""Policy ROI as finance defines it, end to end: a policy whose return is known by hand.

A loyalty programme with both of its effects set to 0 changes nothing but
what the firm spends: the gross gain ``D`` is 0 in every replication (the
policy draws from its own random stream, so the runs are otherwise the
same), and ``ROI = (D - S) / S`` is exactly -1, whatever the spend.
"""

import textwrap

import numpy as np
import pytest

from analysis import report as report_module
from analysis.report import ReportError
from cli.main import main

SCENARIO = """\
name: roi_by_hand
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 400, periods: 24, seed: 11, replications: 4}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
    firms.0.policies:
      - []
      - [{name: loyalty_programme, switching_cost_lift: 0, value_lift: 0}]
      - [{name: loyalty_programme, switching_cost_lift: 0, value_lift: 0, budget: 1.5}]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roi")
    path = folder / "roi_by_hand.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return report_module.load_results(out)


def test_a_policy_without_effect_returns_minus_its_spend(results):
    comparison = report_module.policy_comparison(results)
    assert len(comparison) == 4  # two policy sets x two settings
    for _, row in comparison.iterrows():
        assert row["spent"] > 0
        # hand-computed: D = 0, so ROI = -S / S = -1; the CI half-width within 10% of it
        assert row["roi"] == pytest.approx(-1.0, abs=1e-9)
        half = (row["roi_high"] - row["roi_low"]) / 2
        assert half <= 0.1
        assert row["incremental_equity"] == pytest.approx(-row["spent"], rel=1e-9)
    capped = comparison[comparison["policy"].str.contains("budget 1.5")]
    periods = results.configs[0].simulation.periods
    assert (capped["spent"] <= 1.5 * periods + 1e-9).all()  # discounted spend under the caps


def test_a_policy_run_without_its_baseline_is_an_error_that_names_it(results):
    runs = results.runs
    none = runs["firms.0.policies"].map(report_module.policy_label) == "none"
    dropped = none & (runs["replication"] == 2) & (runs["setting"] == "ecommerce")
    results.runs = runs[~dropped]
    try:
        with pytest.raises(
            ReportError,
            match=r"run p\d+-r002 \(market.setting ecommerce.*no baseline run to pair with",
        ):
            report_module.policy_comparison(results)
    finally:
        results.runs = runs
    assert np.isfinite(report_module.policy_comparison(results)["roi"]).all()


BUDGET_SWEEP = """\
name: budget_sweep
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 400, periods: 24, seed: 12, replications: 3}
sweep:
  grid:
    firms.0.policies:
      - [{name: onboarding, budget: 0}]
      - [{name: onboarding, budget: 1}]
      - [{name: onboarding, budget: 3}]
"""


def test_a_budget_sweep_compares_each_level_with_its_zero_budget(tmp_path):
    path = tmp_path / "budget_sweep.yaml"
    path.write_text(BUDGET_SWEEP)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    comparison = report_module.policy_comparison(report_module.load_results(out))
    assert sorted(comparison["policy"]) == ["onboarding (budget 1)", "onboarding (budget 3)"]
    assert comparison["roi"].notna().all() and (comparison["spent"] > 0).all()
    assert comparison["common_random_numbers"].all()
    text = (out / "report.md").read_text()
    assert "onboarding (budget 0) spent nothing" in text
