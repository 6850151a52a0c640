"""Purchase occasions carry what buy-till-you-die models read (issue 20, item 2).

On a market whose purchase rate does not depend on the relationship's stage
(``relationship.purchase_depth`` 1 in every stage), a BG/NBD model (Fader,
Hardie & Lee 2005, fitted with the ``lifetimes`` package as its users fit it)
on 36 months of the transactions of the customers each firm has at month 0
must recover the cohort's true mean purchase rate within 20 % and its share
still alive at month 36 within 0.10. Over seeded replications.
"""

import numpy as np
import pytest

pytest.importorskip("lifetimes")
from lifetimes import BetaGeoFitter

from sim import CRMModel, default_config
from sim.transactions import DAYS_PER_PERIOD

pytestmark = pytest.mark.slow

MONTHS = 36
SEEDS = (1, 2, 3)
FLAT = {"exploration": 1.0, "formation": 1.0, "stability": 1.0, "decline": 1.0}


def cohort_fit(seed: int, firm: str = "A") -> tuple[float, float, float, float]:
    """(true mean rate, fitted mean rate, true share alive, predicted share alive) at month 36."""
    config = default_config(
        relationship={"purchase_depth": FLAT}, simulation={"customers": 6000, "periods": MONTHS}
    )
    model = CRMModel(config, rng=seed)
    code = [f.name for f in model.firms].index(firm)
    start = model.customers
    members = start.identity[start.firm == code].copy()
    rates = dict(
        zip(
            start.identity[start.firm == code], start.purchase_rate[start.firm == code], strict=True
        )
    )
    model.log_transactions()
    model.run()
    log = model.transactions_frame()
    mine = log[
        (log["firm"] == firm) & (log["acquired_period"] == 0) & log["customer"].isin(members)
    ]
    times = mine.assign(t=(mine["day"] + 0.5) / DAYS_PER_PERIOD).groupby("customer")["t"]
    first, last, count = times.min(), times.max(), times.size()
    frequency, recency, age = count - 1, last - first, MONTHS - first
    fitter = BetaGeoFitter(penalizer_coef=0.0)
    fitter.fit(frequency.to_numpy(), recency.to_numpy(), age.to_numpy())
    r, alpha = fitter.params_["r"], fitter.params_["alpha"]
    true_rate = float(np.mean([rates[c] for c in frequency.index]))
    end = model.customers
    still = set(end.identity[(end.firm == code) & (end.acquired_period == 0)])
    true_alive = float(np.mean([c in still for c in frequency.index]))
    predicted_alive = float(
        np.mean(
            fitter.conditional_probability_alive(
                frequency.to_numpy(), recency.to_numpy(), age.to_numpy()
            )
        )
    )
    return true_rate, r / alpha, true_alive, predicted_alive


@pytest.mark.parametrize("seed", SEEDS)
def test_bg_nbd_recovers_the_purchase_rate_and_the_share_alive(seed):
    true_rate, fitted_rate, true_alive, predicted_alive = cohort_fit(seed)
    assert fitted_rate == pytest.approx(true_rate, rel=0.20), (true_rate, fitted_rate)
    assert abs(predicted_alive - true_alive) <= 0.10, (true_alive, predicted_alive)
