"""Customers by firm and acquisition cohort: kept by the kernels, equal to a recount.

The kernels count each firm's customers by cohort at every relationship's
start and end (``sim.kernel.start_relationship``, ``end_relationship``)
instead of counting every customer each period; after every period the
ledger's counts must be those of a recount of the customers' firms and
acquisition periods, whatever moved them: acquisitions, defections to a
rival, exits, life exits, win-backs from a rival, the warm-up.
"""

import numpy as np
import pytest

from sim import CRMModel, default_config
from sim.population import NO_FIRM

WIN_BACK_FROM_RIVALS = [
    {
        "name": "A",
        "strategy": "clasp",
        "policies": [{"name": "win_back", "budget": None, "from_rivals": True}],
    },
    {"name": "B", "strategy": "zipper"},
    {"name": "C", "strategy": "velcro"},
]
CONFIGS = {
    "new_market": default_config(simulation={"customers": 3000, "periods": 40, "start": "new"}),
    "settled_warm_up": default_config(simulation={"customers": 3000, "periods": 40, "warm_up": 15}),
    "win_back_from_rivals": default_config(
        simulation={"customers": 3000, "periods": 40, "warm_up": 6}, firms=WIN_BACK_FROM_RIVALS
    ),
    "two_periods_a_cohort": default_config(simulation={"customers": 1500, "periods": 250}),
}


def recount(model: CRMModel) -> np.ndarray:
    """Each firm's customers by cohort, counted from the customers themselves."""
    pop, ledger = model.customers, model.ledger
    counts = np.zeros(ledger.cohorts.shape[1:], dtype=np.int64)
    served = pop.firm != NO_FIRM
    np.add.at(counts, (pop.firm[served], ledger.cohort_of[pop.acquired_period[served]]), 1)
    return counts


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_counts_kept_are_a_recount_after_every_period(name, seed):
    model = CRMModel(CONFIGS[name], rng=seed)
    np.testing.assert_array_equal(model.ledger.cohorts[0], recount(model))
    moved = 0
    for period in range(1, model.config.simulation.periods + 1):
        model.step()
        np.testing.assert_array_equal(model.ledger.cohorts[period], recount(model))
        moved += model.ledger.cohorts[period].sum() != model.ledger.cohorts[period - 1].sum()
    assert moved > 0  # the counts did change: the check saw starts and ends


def test_a_win_back_from_a_rival_moves_the_customer_between_firms():
    model = CRMModel(CONFIGS["win_back_from_rivals"], rng=4).run()
    assert model.policy_frame()["won_back_rival"].sum() > 0
    np.testing.assert_array_equal(model.ledger.cohorts[model.period], recount(model))
