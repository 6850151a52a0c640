"""The kernels compile once: a later process loads every one of them from numba's cache.

A fresh process runs a small model into an empty cache (a temporary
``NUMBA_CACHE_DIR``, so the test neither uses nor fills the checkout's
``sim/__pycache__``): it compiles the kernels and saves them. A second fresh
process runs a small model again and reports each numba dispatcher's
``stats`` (``cache_hits``, ``cache_misses``, counted per signature by
``numba.core.dispatcher.Dispatcher.compile``): every kernel it calls must be
loaded from the cache, and nothing may be compiled.

What it catches: a kernel that numba cannot find again, so every process
compiles it anew and the cache grows by one entry per process. A kernel that
calls another through a closure cell is one (numba hashes closure cells into
the cache key, and a dispatcher hashes differently in each process; see the
comment above ``sim.kernel._live_period``): ``start_relationships`` was, until
it called ``start_relationship`` as a module global.

``live_chunk`` is cached on its own (the live driver calls it at its address,
``sim.kernel.chunk_entry``). ``settle_chunk`` is not: the warm run compiles it
into the settle driver, whose cached machine code holds it, and a later
process that loads the driver compiles it not at all. A nested kernel that a
later process did compile would show as a miss.

The first compile takes a minute or two; this is a test of what is compiled,
not a timing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from numba.core.dispatcher import Dispatcher
from sim import CRMModel, default_config
from sim import compiled, draws, kernel

config = default_config(simulation={"customers": 300, "periods": 4})
CRMModel(config, rng=int(sys.argv[1])).run()
stats = {}
for module in (kernel, draws, compiled):
    for name, value in vars(module).items():
        if isinstance(value, Dispatcher):
            stats[f"{module.__name__}.{name}"] = {
                "cached": value.stats.cache_path is not None,  # None: no cache=True
                "overloads": len(value.overloads),
                "hits": sum(value.stats.cache_hits.values()),
                "misses": sum(value.stats.cache_misses.values()),
            }
print(json.dumps(stats))
"""
"""Runs a small default market (three firms, settled start) and prints every dispatcher's stats."""

NESTED = {
    "sim.kernel.settle_chunk",
    "sim.kernel.all_occasions",
    "sim.kernel.retried_normal",
}
"""Kernels only other kernels call, without a cache of their own: their machine code is linked
into the callers' cached code, so a process that loads the callers neither loads nor compiles
them."""

DRIVERS = {"sim.kernel.live_period_driver", "sim.kernel.live_chunk", "sim.kernel.settle_period"}
"""The kernels every period calls: the second run must have loaded them (not vacuous)."""


def probe(cache: Path, seed: int, script: str = PROBE) -> dict:
    """What ``script`` prints last (JSON), run in a fresh process on the numba cache ``cache``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run(
        [sys.executable, "-c", script, str(seed)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The warm run's stats and the second run's, sharing one empty cache."""
    cache = tmp_path_factory.mktemp("numba-cache")
    return probe(cache, seed=1), probe(cache, seed=2)


def test_the_warm_run_compiles_into_the_empty_cache(runs):
    warm, _ = runs
    assert set(warm) >= DRIVERS | NESTED
    compiled = {name for name, s in warm.items() if s["misses"]}
    assert compiled >= DRIVERS | NESTED, "the cache was not empty: the test proves nothing"
    uncached = sorted(name for name in compiled - NESTED if not warm[name]["cached"])
    assert not uncached, f"compiled without cache=True, so in every process: {uncached}"


def test_a_later_process_loads_every_kernel_from_the_cache(runs):
    warm, later = runs
    recompiled = {name: s["misses"] for name, s in later.items() if s["misses"]}
    assert not recompiled, f"compiled again in a process after the warm run: {recompiled}"
    for name in sorted(name for name, s in warm.items() if s["misses"]):
        stats = later[name]
        if name in NESTED:
            assert stats["overloads"] == 0, name
        else:
            assert stats["hits"] >= 1, f"{name}: not loaded from the cache ({stats})"
            assert stats["hits"] == stats["overloads"], f"{name}: {stats}"
    assert all(later[name]["hits"] for name in DRIVERS)


WARM_UP_PROBE = """
import json
from sim import cache, kernel

cache.warm_up()
print(json.dumps({
    "chunk_hits": sum(kernel.live_chunk.stats.cache_hits.values()),
    "chunk_misses": sum(kernel.live_chunk.stats.cache_misses.values()),
    "driver_overloads": len(kernel.live_period_driver.overloads),
    "driver_misses": sum(kernel.live_period_driver.stats.cache_misses.values()),
}))
"""
"""``sim.warm_up`` on the cache it is given, and what this process compiled and loaded."""


def test_a_first_warm_up_compiles_the_chunk_in_its_helper_and_the_driver_once(tmp_path):
    """On an empty cache the helper compiles ``live_chunk`` while this process compiles the rest.

    This process must then load the chunk (a hit, no miss: the types the
    helper compiled for are the first step's), and compile the live driver
    once, ahead of the first step, for the very types that step calls it
    with (one version, one miss). Otherwise the split would not split.
    """
    stats = probe(tmp_path, seed=0, script=WARM_UP_PROBE)
    assert stats == {"chunk_hits": 1, "chunk_misses": 0, "driver_overloads": 1, "driver_misses": 1}


FAILING_HELPER_PROBE = """
import json, subprocess, sys
from sim import cache, kernel

def failing_helper():  # ends at once, reading nothing
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdin=subprocess.PIPE)

cache._chunk_helper = failing_helper
cache.warm_up()
print(json.dumps({"chunk_misses": sum(kernel.live_chunk.stats.cache_misses.values())}))
"""
"""``sim.warm_up`` on an empty cache with a helper that fails at once."""


def test_a_first_warm_up_whose_helper_fails_compiles_the_chunk_itself(tmp_path):
    """The first step compiles the chunk here (one miss), and the warm-up ends without an error."""
    assert probe(tmp_path, seed=0, script=FAILING_HELPER_PROBE) == {"chunk_misses": 1}
