"""One or two kernel threads, the same run to the last bit.

The kernel splits customers into fixed chunks whatever the number of threads,
adds the chunks' per-firm sums in chunk order and draws every random number
from a counter (sim.draws), so the number of numba threads must not change a
single bit of the results: with or without policies, with the purchase log on.
"""

import hashlib

import numba
import pytest

from sim import CRMModel
from sim.kernel import CHUNK
from tests.sim.policy_scenarios import market

CUSTOMERS = 3 * CHUNK + 123  # several chunks, the last one partial
PERIODS = 12

pytestmark = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads"
)


def fingerprint(model) -> str:
    digest = hashlib.sha256()
    for frame in (
        model.firm_frame(),
        model.customers_frame(),
        model.policy_frame(),
        model.cohort_frame(),
        model.market_frame(),
        model.transactions_frame(),
    ):
        digest.update(frame.to_csv().encode())
    return digest.hexdigest()


def run(config, threads: int) -> str:
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        model = CRMModel(config, rng=7)
        model.log_transactions()
        return fingerprint(model.run())
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize(
    "policies",
    [(), ({"name": "service_recovery"}, {"name": "win_back"})],
    ids=["no policies", "policies"],
)
def test_one_and_two_kernel_threads_give_identical_runs(policies):
    config = market(policies, customers=CUSTOMERS, periods=PERIODS)
    assert run(config, 1) == run(config, 2)
