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

Uniforms take the top 53 bits (``[0, 1)``). Normals use Marsaglia & Tsang's
ziggurat (2000) over 256 layers, exact by rejection: one hash gives the layer,
the sign and a 53-bit uniform, and 99% of normals need nothing more (no
``log``, ``sqrt`` or ``cos``, which cost Box-Muller about 20 ns). A rejected
candidate takes further hashes from the stream's retry counters
``stream + 256 k`` (:data:`RETRY`), so that no two draws share their bits either.
"""

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _ziggurat_layers(
    layers: int = 256, r: float = 3.6541528853610088, area: float = 0.00492867323399
):
    """Right edges ``x`` and heights ``f(x)`` of the ziggurat under ``exp(-x^2 / 2)``.

    ``x[0] = area / f(r)`` is the base layer's width (the rectangle up to ``r``
    plus the tail beyond, together ``area``), ``x[1] = r``, and each next edge
    makes a layer of the same ``area``; ``x[layers] = 0``. Layer ``i`` spans
    heights ``f(x[i])`` to ``f(x[i + 1])``; every point with ``x < x[i + 1]``
    lies under the curve. ``r`` and ``area`` for 256 layers are Marsaglia &
    Tsang's (the same as numpy's and Rust's).
    """
    edge = np.zeros(layers + 1)
    edge[0], edge[1] = area / math.exp(-0.5 * r * r), r
    for i in range(2, layers):
        last = edge[i - 1]
        edge[i] = math.sqrt(-2.0 * math.log(area / last + math.exp(-0.5 * last * last)))
    return edge, np.exp(-0.5 * edge * edge)


_ZIGGURAT_X, _ZIGGURAT_F = _ziggurat_layers()
_ZIGGURAT_R = float(_ZIGGURAT_X[1])

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
OCCASIONS = 5
"""The uniform whose inversion gives the period's purchase occasions."""
LIFE = 6
"""Whether an active customer leaves the category for life reasons."""
LIFE_OUTSIDE = 7
"""Whether a prospect or a customer out of the market leaves the category for life reasons."""
TASTE_PERIOD = 0xFFFF
"""The period slot of taste draws (:func:`taste_uniform`): beyond any period a run has."""
START_PERIOD = 0xFFFE
"""The period slot of the starting state's draws (:meth:`sim.population.Population.settle`).

Beyond any period a run has, so no draw of the run shares their counters;
there they use the streams below and, for the firms a starting customer
compares, the rival streams (:data:`RIVAL`).
"""
START_TENURE = 0
"""At :data:`START_PERIOD`: how long a starting customer has been with its firm."""
START_FORMATION = 1
"""At :data:`START_PERIOD`: how long the starting relationship waited to move to formation."""
START_STABILITY = 2
"""At :data:`START_PERIOD`: how long it waited to move on to stability."""
START_POOL = 3
"""At :data:`START_PERIOD`: whether a customer without a firm starts as a prospect."""
START_LAST_FIRM = 4
"""At :data:`START_PERIOD`: the firm a customer out of the market at the start left."""
START_LEFT = 5
"""At :data:`START_PERIOD`: how long before the start it left."""
RIVAL = 8
"""Rival ``j`` is seen with stream ``RIVAL + 2 j`` and perceived with shock ``RIVAL + 2 j + 1``."""
RETRY = 256
"""Retry ``k`` of a normal on stream ``s`` draws from stream ``s + RETRY k`` (all ``s < RETRY``)."""

_jit = numba.njit(inline="always", nogil=True)
_U64 = ir.IntType(64)


def _mix_code(builder, x):
    """SplitMix64's output function on the 64-bit ``x``: a bijection that mixes every bit.

    ``x ^= x >> 30; x *= MIX1; x ^= x >> 27; x *= MIX2; x ^= x >> 31``
    (shifts logical, products modulo 2 ** 64).
    """
    x = builder.mul(
        builder.xor(x, builder.lshr(x, ir.Constant(_U64, 30))), ir.Constant(_U64, int(_MIX1))
    )
    x = builder.mul(
        builder.xor(x, builder.lshr(x, ir.Constant(_U64, 27))), ir.Constant(_U64, int(_MIX2))
    )
    return builder.xor(x, builder.lshr(x, ir.Constant(_U64, 31)))


@intrinsic
def bits(typingctx, key, period, customer, stream):
    """64 random bits for one draw: the hash of ``(period, stream, customer)`` under ``key``.

    The counter packs the period in bits 48-63, the stream in bits 32-47 and
    the customer in bits 0-31 (the config allows up to 10^8 customers and
    10^4 periods); the hash is :func:`_mix_code` of ``key + counter * gamma``
    (integers converted as ``np.uint64`` does, arithmetic modulo 2 ** 64).
    Compiled code only: an intrinsic, which numba does not read and type
    again at each of the kernel's draws.
    """
    arguments = (key, period, customer, stream)
    if not all(isinstance(a, types.Integer) for a in arguments):
        return None

    def codegen(context, builder, signature, args):
        key_, period_, customer_, stream_ = (
            context.cast(builder, value, kind, types.uint64)
            for value, kind in zip(args, signature.args, strict=True)
        )
        period_ = builder.shl(period_, ir.Constant(_U64, 48))
        stream_ = builder.shl(stream_, ir.Constant(_U64, 32))
        counter = builder.or_(builder.or_(period_, stream_), customer_)
        return _mix_code(
            builder, builder.add(key_, builder.mul(counter, ir.Constant(_U64, int(_GAMMA))))
        )

    return types.uint64(*arguments), codegen


@_jit
def uniform(key, period, customer, stream):
    """A uniform number in [0, 1) (53 random bits)."""
    return _unit(bits(key, period, customer, stream))


@_jit
def _unit(h):
    """The top 53 bits of ``h`` as a number in [0, 1)."""
    return float(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@_jit
def normal(key, period, customer, stream):
    """A standard normal number (the ziggurat; see the module docstring).

    The first hash picks a layer (bits 0-7), a sign (bit 8) and a point
    across the layer (bits 11-63). A point inside the curve's core is
    returned at once; otherwise the layer's edge is checked with one more
    uniform (the base layer's tail: Marsaglia's exponential sampling beyond
    ``r``), and a rejected point starts over with the next retry's hash.
    """
    attempt = 0
    while True:
        layer, negative, x = _candidate(bits(key, period, customer, stream + RETRY * attempt))
        attempt += 1
        if x < _ZIGGURAT_X[layer + 1]:
            break
        if layer == 0:  # beyond r: the tail, sampled exactly
            while True:
                a = -math.log1p(-uniform(key, period, customer, stream + RETRY * attempt))
                b = -math.log1p(-uniform(key, period, customer, stream + RETRY * attempt + RETRY))
                attempt += 2
                a /= _ZIGGURAT_R
                if 2.0 * b > a * a:
                    break
            x = _ZIGGURAT_R + a
            break
        low, high = _ZIGGURAT_F[layer], _ZIGGURAT_F[layer + 1]
        height = low + (high - low) * uniform(key, period, customer, stream + RETRY * attempt)
        attempt += 1
        if height < math.exp(-0.5 * x * x):
            break
    return -x if negative else x


@_jit
def normal_core(key, period, customer, stream):
    """The first candidate of :func:`normal`, and whether it is accepted (99% of draws).

    Branch-free, so that a loop over customers can run it for several at
    once; :func:`normal` gives the same number, and also the rest.
    """
    layer, negative, x = _candidate(bits(key, period, customer, stream))
    return -x if negative else x, x < _ZIGGURAT_X[layer + 1]


@_jit
def _candidate(h):
    """The ziggurat's candidate from one hash: its layer, its sign and ``|x|``."""
    layer = np.intp(h & np.uint64(0xFF))
    return layer, (h >> np.uint64(8)) & np.uint64(1), _unit(h) * _ZIGGURAT_X[layer]


@numba.njit(nogil=True, cache=True)
def sample(key, period, customers, stream, normals=False):
    """The draws of customers ``0 .. customers - 1`` as an array: uniforms, or normals.

    For tests and analysis; the kernel draws one number at a time.
    """
    out = np.empty(customers)
    for i in range(customers):
        out[i] = normal(key, period, i, stream) if normals else uniform(key, period, i, stream)
    return out


@_jit
def taste_uniform(key, identity, firm):
    """The uniform behind customer ``identity``'s taste for ``firm``'s offer, fixed for life.

    Drawn at :data:`TASTE_PERIOD`, a period no run reaches, on stream ``firm``:
    the same number every period, for every engine. ``identity`` is taken
    modulo 2**32.
    """
    return uniform(key, TASTE_PERIOD, np.uint64(identity) & np.uint64(0xFFFFFFFF), firm)


@numba.njit(nogil=True, cache=True)
def taste_uniforms(key, identities, firm):
    """:func:`taste_uniform` of each of ``identities`` for ``firm``, as an array."""
    out = np.empty(identities.size)
    for i in range(identities.size):
        out[i] = taste_uniform(key, identities[i], firm)
    return out
