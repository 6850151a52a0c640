"""Whether the engine's compiled kernels are in numba's cache (a check that compiles nothing).

Its own module, importing only :mod:`sim.kernel` (numba, numpy), so that a
command can ask before it imports the model (Mesa, pandas): ``run.py app``
asks before it starts the dashboard's server.
"""

from . import kernel

COMPILE_SECONDS = 25
"""About how long compiling the kernels takes on a 2-core machine (docs/performance.md)."""


def engine_ready() -> bool:
    """Whether numba's cache holds the engine's main kernels for this version of the code.

    False after installing, after editing ``sim/kernel.py`` or moving the
    checkout, or with an empty cache: the first model then compiles for
    about :data:`COMPILE_SECONDS`, which a command can announce. It reads
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
