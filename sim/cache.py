"""The engine's compiled kernels: whether numba's cache holds them, and compiling them first.

Its own module, importing only :mod:`sim.kernel` (numba, numpy), so that a
command can ask before it imports the model (Mesa, pandas): ``run.py app``
asks before it starts the dashboard's server. :func:`warm_up` loads the
kernels, or on an empty cache compiles them in two processes at once.
"""

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numba

from . import kernel

COMPILE_SECONDS = 15
"""About how long :func:`warm_up` compiles on a 2-core machine, rounded up (docs/performance.md)."""


def engine_ready() -> bool:
    """Whether numba's cache holds the engine's main kernels for this version of the code.

    False after installing, after editing ``sim/kernel.py`` or moving the
    checkout, or with an empty cache: :func:`warm_up` then compiles for
    about :data:`COMPILE_SECONDS` (``run.py run``, ``prepare`` and ``app``
    call it; a model built first compiles alone, about 24 s), which a
    command can announce. It reads
    the cache's index files only (no compiling, a few milliseconds). The
    index is numba's own, read through numba's cache object; if that ever
    changes shape the answer is False, which costs only the announcement.
    Not seen: a rule edited since (the kernels' fingerprint, checked when
    loading) and the variant of markets of more than three firms, compiled
    at their first run.
    """
    try:
        return all(
            bool(function._cache._cache_file._load_index())
            for function in (kernel.live_chunk, kernel.live_period_driver, kernel.settle_period)
        )
    except Exception:  # numba's private cache API moved: at worst, an announcement too many
        return False


def warm_up() -> float:
    """Load the engine's compiled kernels now; return the seconds it took.

    A 100-customer model runs one period. numba loads the kernels' machine
    code from its cache (well under a second) or, the first time after
    installing or editing a rule, compiles them: then in two processes at
    once, about :data:`COMPILE_SECONDS` on two cores. A helper process
    compiles :func:`sim.kernel.live_chunk`, the largest kernel (about 11 s),
    into numba's cache, while this one compiles the live driver, which needs
    only the types of its arguments (:func:`sim.model.live_kernel_arguments`),
    and builds the model (the settle kernels); the model's first step, once
    the helper is done, loads the chunk and compiles the few kernels left.
    The helper is started first, before this process imports the model, and
    receives the chunk's argument types on its standard input; if it fails,
    the first step compiles the chunk here. Call it before timing, or before
    a page that should answer at once.
    """
    start = time.perf_counter()
    helper = None if engine_ready() else _chunk_helper()
    from .model import WARM_UP_MARKET, CRMModel, default_config, live_kernel_arguments

    try:
        if helper is not None:
            arguments = live_kernel_arguments()
            _send(helper, kernel.chunk_types(arguments[: kernel.LIVE_ARGUMENTS]))
            kernel.live_period_driver.compile(
                (numba.int64, numba.int64, *map(numba.typeof, arguments))  # address, digest
            )
        model = CRMModel(default_config(simulation=WARM_UP_MARKET), rng=0, collect=False)
        if helper is not None:
            model._compile_step_kernels()
    finally:
        if helper is not None:
            _send(helper, None)  # if not sent: the helper never waits for more
            helper.wait()  # the chunk in the cache: the first step loads it
    model.run()
    return time.perf_counter() - start


def _chunk_helper() -> subprocess.Popen:
    """A process that compiles :func:`sim.kernel.live_chunk` for the types it reads on stdin.

    It imports the same ``sim`` (its folder first on the path) and uses the
    same cache (``NUMBA_CACHE_DIR``, inherited).
    """
    root = str(Path(__file__).resolve().parent.parent)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, [environment.get("PYTHONPATH")])]
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from sim.cache import compile_live_chunk; compile_live_chunk()"],
        cwd=root,
        env=environment,
        stdin=subprocess.PIPE,
    )


def _send(helper: subprocess.Popen, chunk_types) -> None:
    """Send ``helper`` the chunk's types (None: nothing) and close its input, once.

    A helper that has already ended (it failed) is left to end: the first
    step compiles the chunk itself.
    """
    if helper.stdin.closed:
        return
    try:
        with helper.stdin:
            if chunk_types is not None:
                helper.stdin.write(pickle.dumps(chunk_types))
    except BrokenPipeError:
        pass


def compile_live_chunk() -> None:
    """Compile :func:`sim.kernel.live_chunk` for the types pickled on stdin (:func:`warm_up`).

    Nothing on stdin (the caller failed before sending them): nothing to do.
    """
    sent = sys.stdin.buffer.read()
    if sent:
        kernel.live_chunk.compile(pickle.loads(sent))
