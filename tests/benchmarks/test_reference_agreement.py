"""The engine and the per-agent Mesa reference agree statistically.

Both implement the rules of ``sim.rules`` / ``sim.stages`` on the same
population distribution with different random streams, so they agree in
distribution, not draw for draw. Over SEEDS replications each, the mean of
every outcome must agree within 4 combined standard errors plus a small
absolute slack. A reference with one rule parameter changed must be told apart
by the same comparison, so the check has power.

The comparison runs a new market (``simulation.start: new``): every
relationship starts in exploration and climbs within the 30 periods, which
gives the comparison its power (from a settled start, where most customers
are in stability from the outset, a slower advance or decline is not told
apart at this size). A settled start, where both implementations take the
starting history from :meth:`sim.population.Population.settle`, is compared
too.
"""

import numpy as np
import pytest

from benchmarks.mesa_reference import ReferenceModel
from sim import CRMModel, Stage, default_config, replace

pytestmark = pytest.mark.slow

SEEDS = range(20)
CUSTOMERS = 400
PERIODS = 30
Z = 4.0
SLACK = 0.005  # absolute, on shares and rates that live in [0, 1]

CONFIG = default_config(simulation={"customers": CUSTOMERS, "periods": PERIODS, "start": "new"})
SETTLED = replace(CONFIG, simulation={"start": "settled"})


def outcomes(model) -> dict[str, float]:
    """End-of-run stage shares, customer shares per firm, retention and defection rate."""
    firms, market = model.firm_frame(), model.market_frame()
    end = firms[firms.period == PERIODS]
    n = CUSTOMERS
    result = {
        name.name.lower(): end[name.name.lower()].sum() / n
        for name in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
    }
    result["prospect"] = market.prospects.iloc[-1] / n
    result["exited"] = market.out_of_market.iloc[-1] / n
    for firm, customers in zip(end.firm, end.customers, strict=True):
        result[f"customers_{firm}"] = customers / n
    periods = firms[firms.period > 0]
    exposure = periods.customers_start.sum()
    result["retention"] = periods.retained.sum() / exposure
    result["defections_per_customer_period"] = periods.defections.sum() / exposure
    return result


def replicate(cls, config) -> dict[str, np.ndarray]:
    runs = [outcomes(cls(config, rng=seed).run()) for seed in SEEDS]
    return {name: np.array([run[name] for run in runs]) for name in runs[0]}


def disagreements(a: dict, b: dict) -> dict[str, tuple[float, float, float]]:
    """Outcomes whose means differ by more than Z combined standard errors plus SLACK."""
    found = {}
    for name in a:
        x, y = a[name], b[name]
        se = np.hypot(x.std(ddof=1) / np.sqrt(x.size), y.std(ddof=1) / np.sqrt(y.size))
        if abs(x.mean() - y.mean()) > Z * se + SLACK:
            found[name] = (x.mean(), y.mean(), se)
    return found


@pytest.fixture(scope="module")
def engine_runs():
    return replicate(CRMModel, CONFIG)


def test_engine_and_reference_agree(engine_runs):
    reference = replicate(ReferenceModel, CONFIG)
    assert set(reference) == set(engine_runs)
    assert disagreements(engine_runs, reference) == {}


def test_engine_and_reference_agree_from_a_settled_start():
    engine, reference = (replicate(cls, SETTLED) for cls in (CRMModel, ReferenceModel))
    assert disagreements(engine, reference) == {}
    # the start is settled: most customers begin in stability, some out of the market
    assert engine["stability"].mean() > 0.5
    assert engine["exited"].mean() > 0.05


def test_engine_and_reference_are_not_trivial(engine_runs):
    # every stage is populated and customers do defect, so agreement means something
    for name in ("exploration", "formation", "stability", "decline", "exited"):
        assert engine_runs[name].mean() > 0.01, name
    assert engine_runs["defections_per_customer_period"].mean() > 0.002
    assert 0.9 < engine_runs["retention"].mean() < 1.0


def test_comparison_detects_a_changed_rule(engine_runs):
    slower_advance = replace(CONFIG, relationship={"advance_rate": 0.2})
    changed = replicate(ReferenceModel, slower_advance)
    assert {"formation", "stability"} & set(disagreements(engine_runs, changed))
