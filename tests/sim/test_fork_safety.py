"""A process forked after its parent ran the engine's threads runs the engine too.

numba's GNU OpenMP layer kills such a child at its first parallel call (and
a pool then waits for it forever); sim.kernel chooses TBB, which is safe
under fork. The child must finish well within the timeout, with the same
numbers as the parent gets for the same run.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 120
"""Seconds the forked run may take: it takes well under one once the kernels are loaded."""

SCRIPT = f"""
import json, multiprocessing, sys, time
import numba
from sim import CRMModel, default_config

def profit(seed):
    model = CRMModel(default_config(simulation={{"customers": 3000, "periods": 5}}), rng=seed)
    return float(model.run().firm_frame()["profit"].sum())

if __name__ == "__main__":
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    parent = CRMModel(default_config(simulation={{"customers": 40000, "periods": 2}}), rng=1)
    parent.run()  # the parallel kernels ran: the threading layer's threads exist
    expected = profit(7)
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with context.Pool(1) as pool:
        error = None
        try:
            got = pool.apply_async(profit, (7,)).get(timeout={TIMEOUT})
            timed_out = False
        except multiprocessing.TimeoutError:
            got, timed_out = None, True
        except RuntimeError as raised:
            got, timed_out, error = None, False, str(raised)
        pool.terminate()
    print(json.dumps({{
        "layer": numba.threading_layer(),
        "threads": numba.config.NUMBA_NUM_THREADS,
        "timed_out": timed_out,
        "seconds": time.perf_counter() - start,
        "expected": expected,
        "got": got,
        "error": error,
    }}))
"""


def tbb_installed() -> bool:
    try:
        importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
@pytest.mark.skipif(
    not tbb_installed(), reason="tbb is not installed (no wheel for this machine): see sim.kernel"
)
def test_a_forked_child_runs_the_engine_after_the_parent_did():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 180,
        cwd=Path(__file__).parents[2],
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layer"] == "tbb"
    assert not result["timed_out"], done.stderr
    assert result["seconds"] < TIMEOUT
    assert result["got"] == result["expected"]  # bit-identical in the child


def gnu_openmp() -> bool:
    try:
        from numba.np.ufunc import omppool
    except ImportError:
        return False
    return omppool.openmp_vendor == "GNU"


@pytest.mark.skipif(sys.platform != "linux", reason="GNU OpenMP's fork guard is Linux's")
@pytest.mark.skipif(not gnu_openmp(), reason="numba has no GNU OpenMP layer here")
def test_on_gnu_openmp_a_forked_child_raises_instead_of_dying():
    env = {**os.environ, "NUMBA_THREADING_LAYER": "omp"}  # as without TBB
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 180,
        cwd=Path(__file__).parents[2],
        env=env,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layer"] == "omp"
    assert not result["timed_out"]  # the pool got an answer: the error
    assert "start workers with spawn or forkserver" in result["error"]


def test_the_threading_layer_is_tbb_when_installed_and_the_users_choice_wins():
    script = "from sim import kernel; print(kernel.THREADING_LAYER)"
    cwd = Path(__file__).parents[2]
    chosen = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=cwd
    )
    assert chosen.stdout.strip() == ("tbb" if tbb_installed() else "default")
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    users = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    assert users.stdout.strip() == "workqueue"
