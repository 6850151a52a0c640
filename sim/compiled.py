"""Let one rule body run under numpy on arrays and under numba on one customer's scalars.

The rules of :mod:`sim.rules` and :mod:`sim.stages` are written once, as numpy
code. The engine's kernel (:mod:`sim.kernel`) compiles the very same functions
with ``numba.njit`` and calls them on scalars. A few helpers the rules use are
array plumbing that has no meaning for a scalar, or is slow as scalar code;
the overloads below replace them inside compiled code only:

* :func:`sim.rules.select` (a bit-blend over arrays) becomes a branch;
* :func:`sim.rules.clip` becomes ``min``/``max``;
* :func:`sim.rules.take` becomes plain indexing (numba's ``np.take`` flattens
  its table on every call: that alone cost a fifth of the kernel's time);
* :func:`sim.rules.logistic` becomes ``1 / (1 + exp(-x))``: the same function
  (numpy uses the tanh form only so that whole arrays never overflow with a
  warning; for a scalar ``exp`` overflowing to infinity gives the right limit
  0, and libm's ``exp`` is several times faster than its ``tanh``);
* :func:`sim.rules.gated_logistic` becomes a branch, so that ``exp`` runs only
  where the chance applies;
* :func:`sim.stages.codes` and :func:`sim.stages.code_like` become the scalar
  itself and a cast;
* :func:`sim.stages.is_active`, which other rules call, compiles as it is.

Importing this module registers the overloads; :mod:`sim.kernel` does.
"""

import math

from numba import types
from numba.extending import overload, register_jitable

from . import rules, stages


@overload(rules.select, inline="always")
def _select(condition, if_true, otherwise):
    def branch(condition, if_true, otherwise):
        return if_true if condition else otherwise

    return branch


@overload(rules.clip, inline="always")
def _clip(x, low, high):
    def clip(x, low, high):
        return min(max(x, low), high)

    return clip


@overload(rules.take, inline="always")
def _take(table, index):
    def take(table, index):
        return table[index]

    return take


@overload(rules.logistic, inline="always")
def _logistic(x):
    def logistic(x):
        return 1.0 / (1.0 + math.exp(-x))

    return logistic


@overload(rules.gated_logistic, inline="always")
def _gated_logistic(condition, scale, x):
    def gated(condition, scale, x):
        return scale * rules.logistic(x) if condition else 0.0

    return gated


@overload(stages.codes, inline="always")
def _codes(stage):
    def identity(stage):
        return stage

    return identity


@overload(stages.code_like, inline="always")
def _code_like(stage, code):
    if not isinstance(stage, types.Integer):
        return None
    cast = stage

    def like(stage, code):
        return cast(code)

    return like


register_jitable(stages.is_active)
