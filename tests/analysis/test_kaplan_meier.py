"""Kaplan-Meier from the relationship table: lifelines agrees, and so do the ledger's cohorts."""

import numpy as np
import pandas as pd
import pytest
from lifelines_env import kaplan_meier_fits, lifelines_python

from analysis.retention import kaplan_meier
from sim import CRMModel, default_config


@pytest.fixture(scope="module")
def lifelines():
    """A Python with lifelines in it (lifelines_env: ours, or one built as a user would)."""
    return lifelines_python()


EXACT = 1e-12
"""Tolerance: both sides are ratios of the same whole counts; only rounding differs."""


def logged(config, seed):
    model = CRMModel(config, rng=seed)
    model.log_relationships()
    return model.run()


@pytest.fixture(scope="module")
def long_run():
    """A long horizon: 3,000 customers over 120 periods, no warm-up, no settled start.

    The ledger's cohort 0 counts the relationships open at period 0 from tenure
    0; after a settled start they are older (the relationship table knows by
    how much), so the two agree only when every relationship begins in the run.
    """
    simulation = {"customers": 3000, "periods": 120, "start": "new"}
    return logged(default_config(simulation=simulation), 11)


@pytest.fixture(scope="module")
def warm_run():
    config = default_config(simulation={"customers": 3000, "periods": 60, "warm_up": 24})
    return logged(config, 12)


def cohort_kaplan_meier(cohorts: pd.DataFrame) -> pd.Series:
    """Survival by tenure from the ledger's cohort counts (per-period records), all firms pooled.

    Cohort ``a`` (width 1) ends ``active(a, k-1) - active(a, k)`` relationships
    at tenure ``k`` out of ``active(a, k-1)`` at risk; cohorts not yet
    observed at tenure ``k`` are censored.
    """
    wide = cohorts.pivot_table(
        index=["firm", "cohort"], columns="tenure", values="active", observed=True
    )
    values = wide.to_numpy(dtype=float)
    before, after = values[:, :-1], values[:, 1:]
    seen = ~np.isnan(after)
    ended = np.where(seen, before - after, 0.0).sum(axis=0)
    at_risk = np.where(seen, before, 0.0).sum(axis=0)
    hazard = np.divide(ended, at_risk, out=np.zeros_like(ended), where=at_risk > 0)
    return pd.Series(np.cumprod(1.0 - hazard), index=np.arange(1, values.shape[1]))


def test_uncensored_cohorts_match_lifelines(long_run, lifelines, tmp_path):
    """Cohorts 0-10 to tenure 110: nothing censored, so a lifelines fit is the ledger's ratio.

    The run ends at period 120: no relationship begun in periods 0-10 is
    censored before tenure 110, so there the Kaplan-Meier estimate is the plain
    share of those relationships still going, which the ledger's cohorts count.
    """
    table, cohorts = long_run.relationships_frame(), long_run.cohort_frame()
    tenures = np.arange(0, 111)
    early = table[table["start"] <= 10]
    fits = kaplan_meier_fits(
        lifelines,
        pd.DataFrame(
            {
                "group": early["firm"].astype(str),
                "duration": early["duration"],
                "event": early["event"],
            }
        ),
        {firm: tenures for firm in table["firm"].cat.categories},
        tmp_path,
    )
    for firm in table["firm"].cat.categories:
        mine = early[early["firm"] == firm]
        assert mine["event"].mean() > 0.3 and len(mine) > 300  # many have ended
        counts = cohorts[(cohorts["firm"] == firm) & (cohorts["cohort"] <= 10)]
        active = counts.pivot_table(index="tenure", columns="cohort", values="active")
        ratio = active.loc[tenures].sum(axis=1).to_numpy() / active.loc[0].sum()
        np.testing.assert_allclose(fits[str(firm)]["survival"], ratio, rtol=0, atol=EXACT)


def test_ours_is_the_product_limit_of_the_cohorts(long_run):
    """Every relationship, censored at the horizon: ours = the cohorts' product-limit."""
    table = long_run.relationships_frame()
    expected = cohort_kaplan_meier(long_run.cohort_frame())
    ours = kaplan_meier(table, keys=[]).set_index("tenure")["survival"]
    np.testing.assert_allclose(ours.loc[expected.index], expected, rtol=0, atol=EXACT)


def test_censored_run_lifelines_matches_the_cohort_survival(long_run, lifelines, tmp_path):
    """Every relationship, censored at the horizon: lifelines = the cohorts' product-limit."""
    table = long_run.relationships_frame()
    expected = cohort_kaplan_meier(long_run.cohort_frame())
    pooled = pd.DataFrame({"group": "all", "duration": table["duration"], "event": table["event"]})
    fits = kaplan_meier_fits(lifelines, pooled, {"all": expected.index}, tmp_path)
    np.testing.assert_allclose(fits["all"]["survival"], expected.to_numpy(), rtol=0, atol=EXACT)


@pytest.mark.parametrize("fixture", ["long_run", "warm_run"])
def test_ours_is_lifelines_band_included(fixture, request, lifelines, tmp_path):
    """analysis.retention.kaplan_meier = lifelines, curve and 95% band, per firm.

    lifelines counts a relationship at risk at its entry time; one first seen at
    tenure e had already survived e, so it gets entry e + 0.5 (docs/analysis.md).
    Relationships of length 0 (begun in the last period) carry nothing.
    """
    table = request.getfixturevalue(fixture).relationships_frame()
    table = table[table["duration"] > 0]
    ours = kaplan_meier(table, keys=["firm"])
    tenures = {}
    for firm in table["firm"].cat.categories:
        mine = ours[ours["firm"] == firm].set_index("tenure")
        tenures[str(firm)] = mine[(mine.index >= 1) & (mine["at_risk"] > 0)].index
    columns = {"duration": table["duration"], "event": table["event"], "entry": table["entry"]}
    fits = kaplan_meier_fits(
        lifelines, pd.DataFrame({"group": table["firm"].astype(str), **columns}), tenures, tmp_path
    )
    for firm, at in tenures.items():
        mine = ours[ours["firm"] == firm].set_index("tenure").loc[at]
        fitted = fits[firm]
        np.testing.assert_allclose(mine["survival"], fitted["survival"], rtol=0, atol=EXACT)
        ended = mine["survival"].to_numpy() < 1.0
        low, high = np.array(fitted["lower"]), np.array(fitted["upper"])
        np.testing.assert_allclose(mine["lower"][ended], low[ended], rtol=0, atol=1e-9)
        np.testing.assert_allclose(mine["upper"][ended], high[ended], rtol=0, atol=1e-9)


def test_left_truncation_matters_and_is_handled(warm_run):
    """After a warm-up, relationships begun in it enter late: ignoring entry overstates survival.

    Those open at period 0 have survived their first ``entry`` periods by
    selection; counted from tenure 0 they look immortal there. With entry,
    the estimate at short tenures agrees with the relationships begun in the
    window alone (which need no truncation), within their 95% band.
    """
    table = warm_run.relationships_frame()
    assert (table["entry"] > 0).sum() > 500
    truncated = kaplan_meier(table, keys=[]).set_index("tenure")
    naive = kaplan_meier(table.assign(entry=0), keys=[]).set_index("tenure")
    fresh = kaplan_meier(table[table["start"] >= 1], keys=[]).set_index("tenure")
    for k in (3, 6, 12):
        assert fresh.loc[k, "lower"] <= truncated.loc[k, "survival"] <= fresh.loc[k, "upper"]
        assert naive.loc[k, "survival"] > fresh.loc[k, "upper"]


RECIPE_SCENARIO = """\
name: compare_strategies
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
  - {name: C, strategy: velcro}
simulation: {customers: 1500, periods: 36, warm_up: 12, replications: 1}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""


def test_the_docs_recipe_runs_as_printed(tmp_path, lifelines):
    """docs/analysis.md's Kaplan-Meier and Cox recipe, on a small compare_strategies-like folder."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "docs"))
    try:
        import generate
    finally:
        sys.path.remove(str(repo / "docs"))
    (recipe,) = [
        b
        for b in generate.blocks(repo / "docs" / "analysis.md")
        if b.language == "python" and "CoxPHFitter" in b.code
    ]
    scenario = tmp_path / "compare_strategies.yaml"
    scenario.write_text(RECIPE_SCENARIO)
    out = tmp_path / "results" / "compare_strategies"
    command = [sys.executable, str(repo / "run.py"), "run", str(scenario), "--out", str(out)]
    subprocess.run([*command, "-q", "--no-report", "--workers", "1"], check=True, cwd=repo)
    done = subprocess.run(  # in the user's own Python with lifelines, not crm-sim's
        [lifelines, "-c", recipe.code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "B (zipper), traditional: median" in done.stdout
    assert "strategy_zipper" in done.stdout and "setting_ecommerce" in done.stdout
