"""Counter-based random draws: each number is a pure function of where it is used.

The engine's kernel (:mod:`sim.kernel`) runs customers in parallel chunks. If
the customers drew from one sequential generator, who draws what would depend
on how the work is split between threads. Here every draw is instead a hash of
a counter that names it:

    ``draw(key, period, customer, stream)``

``key`` is a 64-bit number the model takes once from its seeded generator,
``stream`` names the purpose (:data:`EXPERIENCE`, :data:`STAGE`, ...). The
same seed therefore gives the same numbers whatever the number of threads,
the chunk size, or which customers happen to be skipped.

The hash is SplitMix64 (Steele, Lea & Flood 2014; the seeding generator of
``java.util.SplittableRandom``) evaluated at state ``key + counter * gamma``:
the sequence SplitMix64 itself walks through, which passes BigCrush, indexed
directly. Distinct counters give distinct states (``gamma`` is odd) and the
output mix is a bijection, so no two draws of a run share their bits.

Uniforms take the top 53 bits (``[0, 1)``); normals use Box-Muller on the two
32-bit halves of one hash.
"""

import math

import numba
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 2.0 * math.pi

# streams: what each draw of a customer-period is for
EXPERIENCE = 0
"""The experience shock (normal)."""
STAGE = 1
"""The uniform that decides the stage move."""
SEARCH = 2
"""Whether the customer searches for alternatives."""
DEFECT = 3
"""Whether a searching customer defects."""
REENTRY = 4
"""Whether a customer out of the market becomes a prospect again."""
RIVAL = 8
"""Rival ``j`` is seen with stream ``RIVAL + 2 j`` and perceived with shock ``RIVAL + 2 j + 1``."""

_jit = numba.njit(inline="always", nogil=True)


@_jit
def mix(x):
    """SplitMix64's output function: a bijection of 64-bit integers that mixes every bit."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@_jit
def bits(key, period, customer, stream):
    """64 random bits for one draw: the hash of ``(period, stream, customer)`` under ``key``.

    The counter packs the period in bits 48-63, the stream in bits 32-47 and
    the customer in bits 0-31 (the config allows up to 10^8 customers and
    10^4 periods).
    """
    counter = ((np.uint64(period) << np.uint64(48)) | (np.uint64(stream) << np.uint64(32))
               | np.uint64(customer))
    return mix(np.uint64(key) + counter * _GAMMA)


@_jit
def uniform(key, period, customer, stream):
    """A uniform number in [0, 1) (53 random bits)."""
    return float(bits(key, period, customer, stream) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@_jit
def normal(key, period, customer, stream):
    """A standard normal number (Box-Muller on the two halves of one hash)."""
    h = bits(key, period, customer, stream)
    u1 = (float(h >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)  # in (0, 1): log is finite
    u2 = float(h & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@numba.njit(nogil=True, cache=True)
def sample(key, period, customers, stream, normals=False):
    """The draws of customers ``0 .. customers - 1`` as an array: uniforms, or normals.

    For tests and analysis; the kernel draws one number at a time.
    """
    out = np.empty(customers)
    for i in range(customers):
        out[i] = normal(key, period, i, stream) if normals else uniform(key, period, i, stream)
    return out
