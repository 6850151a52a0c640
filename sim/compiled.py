"""Let one rule body run under numpy on arrays and under numba on one customer's scalars.

The rules of :mod:`sim.rules` and :mod:`sim.stages` are written once, with the
helpers of :mod:`sim.rules` (which run ``math`` on Python numbers and numpy on
arrays). The engine's kernel (:mod:`sim.kernel`) compiles the very same
functions with ``numba.njit`` and calls them on scalars. The helpers' Python
bodies (type tests, ``math``, numpy) are no use to numba; the overloads below
replace them inside compiled code only:

* :func:`sim.rules.select` becomes :func:`choose`, one ``select`` instruction;
* :func:`sim.rules.clip` becomes ``min``/``max``;
* :func:`sim.rules.minimum`, :func:`sim.rules.maximum` and :func:`sim.rules.log`
  become numba's ``np.minimum``, ``np.maximum`` and ``np.log`` (what the rules
  called before they had these helpers: the kernel's results did not change);
* :func:`sim.rules.column` becomes ``weights[k]`` (the kernel passes a row
  of weights as a tuple);
* :func:`sim.rules.take` becomes plain indexing (numba's ``np.take`` flattens
  its table on every call: that alone cost a fifth of the kernel's time), and
  for a table passed as a tuple a chain of :func:`choose` (compares and
  blends, where an array look-up for several customers at once is a gather);
* :func:`sim.rules.logistic` becomes ``1 / (1 + exp(-x))``: the same function
  (numpy uses the tanh form only so that whole arrays never overflow with a
  warning; for a scalar ``exp`` overflowing to infinity gives the right limit
  0), with the :func:`exp` below;
* :func:`sim.rules.exp` becomes the :func:`exp` below, and
  :func:`sim.rules.power` ``exp(a log x)`` with the :func:`exp` and
  :func:`log` below;
* :func:`sim.stages.codes` and :func:`sim.stages.code_like` become the scalar
  itself and a cast;
* :func:`sim.stages.is_active`, :func:`sim.rules.gated_logistic`,
  :func:`sim.rules.trust_target`, :func:`sim.rules.first_occasions` and
  :func:`sim.rules.more_occasions`, which other rules call, compile as they are.

``exp`` and ``log`` are written out here rather than taken from libm: the
kernel runs its rules over blocks of customers in loops that the compiler
turns into vector code, several customers at once, and a call into libm in a
loop prevents that. Written out they are straight-line table lookups,
multiplications and adds, accurate to 1 and 2 units in the last place, and
plain IEEE arithmetic: the same numbers on every machine.

:func:`lookup_table` hands the kernel a small table (a firm's parameters by
slot, a parameter by stage) in a form it can look up for several customers at
once: a tuple, looked up with one compare and blend per entry, or a copy in
the kernel's own stack frame (:func:`on_stack`), looked up with a gather. Either
way the compiler knows that the kernel's stores into customer arrays cannot
change the table, which it must know to vectorize the look-ups.

Importing this module registers the overloads; :mod:`sim.kernel` does.
"""

import functools
import math
from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable
from numba.np.arrayobj import make_array

from . import rules, stages


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_float(typingctx, x):
    """The IEEE bits of the float64 ``x`` as an int64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def choose(typingctx, condition, if_true, otherwise):
    """``if_true if condition else otherwise`` as one ``select`` instruction: no branch.

    Both values are computed anyway, and the compiler keeps it that way,
    where a conditional expression lets it move work into a branch.
    """
    kind = typingctx.unify_types(if_true, otherwise)
    if kind is None or not isinstance(kind, (types.Number, types.Boolean, types.IntEnumMember)):
        return None

    def codegen(context, builder, signature, args):
        condition_ = context.cast(builder, args[0], signature.args[0], types.boolean)
        a = context.cast(builder, args[1], signature.args[1], kind)
        b = context.cast(builder, args[2], signature.args[2], kind)
        return builder.select(condition_, a, b)

    return kind(condition, if_true, otherwise), codegen


with localcontext() as _context:  # the tables, from 40-digit arithmetic
    _context.prec = 40
    _LN2 = Decimal(2).ln()
    # exp: e ** x = 2 ** (n / 128) e ** r, with n = round(128 x / ln 2) and |r| <= ln 2 / 256
    _EXP_SPLIT = 128
    _EXP_TABLE = [Decimal(2) ** (Decimal(j) / _EXP_SPLIT) for j in range(_EXP_SPLIT)]
    # 2 ** (j / 128) rounded (as bits), and the relative error of the rounding
    _EXP_BITS = np.array([float(v) for v in _EXP_TABLE]).view(np.int64)
    _EXP_TAIL = np.array([float(v / Decimal(float(v)) - 1) for v in _EXP_TABLE])
    _LN2_STEP = _LN2 / _EXP_SPLIT
    # 33 significant bits: n * _STEP_HI is exact for every n that occurs
    _STEP_HI = math.ldexp(math.floor(math.ldexp(float(_LN2_STEP), 40)), -40)
    _STEP_LO = float(_LN2_STEP - Decimal(_STEP_HI))
    _INV_STEP = float(1 / _LN2_STEP)
    _ROUND = 6755399441055744.0  # 1.5 * 2 ** 52: x + _ROUND - _ROUND rounds x to an integer
    _ROUND_BITS = 0x4338000000000000  # the bits of _ROUND: the bits of x + _ROUND are these + x
    _EXP_MAX, _EXP_MIN = 709.782712893384, -745.1332191019412  # beyond: inf, 0

    # log: ln x = k ln 2 + ln c + ln(1 + r), with c on a grid of 1/256 nearest to m = x / 2 ** k
    _LOG_GRID = [Decimal(3) / 4 + Decimal(j) / 256 for j in range(193)]  # m in [0.75, 1.5)
    _LOG_INVERSE = np.array([float(1 / c) for c in _LOG_GRID])
    _LOG_OF = np.array([float(c.ln()) for c in _LOG_GRID])
    _LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm's): k * _LN2_HI is exact
    _LN2_LO = float(_LN2 - Decimal(_LN2_HI))
_SMALLEST_NORMAL = 2.2250738585072014e-308


@register_jitable(inline="always")
def exp(x):
    """``e ** x``, within 1 unit in the last place, straight-line code.

    Tang's method (1989): ``x = n ln 2 / 128 + r`` with ``|r| <= ln 2 / 256``
    (``ln 2 / 128`` in two parts, so that ``x - n ln 2 / 128`` is exact),
    ``2 ** (j / 128)`` from a table with its rounding error, ``e ** r - 1`` by
    its Taylor series to degree 5 (the remainder is below 1e-18), and ``2 **
    (n // 128)`` applied in two halves so that subnormal results are right.
    """
    y = min(max(x, -746.0), 710.0)
    t = y * _INV_STEP + _ROUND
    n = t - _ROUND
    r = (y - n * _STEP_HI) - n * _STEP_LO
    bits = _bits_of_float(t) - _ROUND_BITS  # n as an integer
    j = bits & (_EXP_SPLIT - 1)
    e = bits >> 7
    half = e >> 1
    r2 = r * r
    q = r + r2 * ((0.5 + r * (1.0 / 6.0)) + r2 * (1.0 / 24.0 + r * (1.0 / 120.0)))
    s = _float_from_bits(_EXP_BITS[j] + (half << 52))  # 2 ** (j / 128 + half)
    out = (s + s * (q + _EXP_TAIL[j])) * _float_from_bits((e - half + 1023) << 52)
    out = choose(x > _EXP_MAX, math.inf, choose(x < _EXP_MIN, 0.0, out))
    return choose(x == x, out, x)  # nan stays nan


@register_jitable(inline="always")
def log(x):
    """Natural logarithm, within 2 units in the last place, straight-line code.

    ``x = 2 ** k m`` with ``m`` in [0.75, 1.5) (subnormals scaled up first),
    ``c`` the nearest multiple of 1/256 to ``m`` and ``r = (m - c) / c``
    (``m - c`` is exact, ``|r| <= 1/384``): ``ln x = k ln 2 + ln c + ln(1 + r)``
    with ``ln c`` from a table and ``ln(1 + r)`` by its series to ``r ** 7``.
    Near 1, ``c = 1`` and the result keeps its relative accuracy.
    """
    tiny = x < _SMALLEST_NORMAL
    bits = _bits_of_float(choose(tiny, x * 18014398509481984.0, x))  # 2 ** 54
    k = (bits >> 52) - 1023 - 54 * np.int64(tiny)
    m = _float_from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # [1, 2)
    upper = m >= 1.5
    m = choose(upper, 0.5 * m, m)
    k = k + np.int64(upper)
    j = np.int64((m - 0.75) * 256.0 + 0.5)
    r = (m - (0.75 + float(j) * (1.0 / 256.0))) * _LOG_INVERSE[j]
    r2 = r * r
    p = r2 * ((-0.5 + r * (1.0 / 3.0)) + r2 * ((-0.25 + r * 0.2) + r2 * (-1.0 / 6.0 + r / 7.0)))
    n = float(k)
    out = n * _LN2_HI + (_LOG_OF[j] + (n * _LN2_LO + (r + p)))
    # 0, inf, negative numbers and nan
    special = choose(x == 0.0, -math.inf, choose(x < 0.0, math.nan, x))
    return choose((x > 0.0) & (x < math.inf), out, special)


@overload(rules.select, inline="always")
def _select(condition, if_true, otherwise):
    def select(condition, if_true, otherwise):
        return choose(condition, if_true, otherwise)

    return select


@overload(rules.clip, inline="always")
def _clip(x, low, high):
    def clip(x, low, high):
        return min(max(x, low), high)

    return clip


@overload(rules.take, inline="always")
def _take(table, index):
    if isinstance(table, types.UniTuple):
        return _select_chain(table.count)

    def take(table, index):
        return table[index]

    return take


@functools.cache
def _select_chain(entries: int):
    """``take`` for a tuple of ``entries`` values: one :func:`choose` per entry after the first.

    Indices outside the tuple give its first entry. Several customers' look-ups
    then run at once as vector compares and blends, where an array look-up
    is a gather: about half the time for a tuple of four.
    """
    steps = [f"out = choose(index == {k}, table[{k}], out)" for k in range(1, entries)]
    return _straight_line("table, index", ["out = table[0]", *steps], "out")


def _straight_line(arguments: str, statements, result: str):
    """A function of ``arguments`` that runs ``statements`` and returns ``result``.

    For code unrolled over a count known when compiling: straight-line code is
    what the vectorizer wants, and a loop in an inlined overload trips
    numba's checks of its own IR.
    """
    body = "".join(f"    {statement}\n" for statement in statements)
    namespace = {"choose": choose}
    exec(f"def straight_line({arguments}):\n{body}    return {result}\n", namespace)
    return namespace["straight_line"]


@overload(rules.minimum, inline="always")
def _minimum(a, b):
    def minimum(a, b):
        return np.minimum(a, b)

    return minimum


@overload(rules.maximum, inline="always")
def _maximum(a, b):
    def maximum(a, b):
        return np.maximum(a, b)

    return maximum


@overload(rules.log, inline="always")
def _log(x):
    def log_(x):
        return np.log(x)

    return log_


@overload(rules.logistic, inline="always")
def _logistic(x):
    def logistic(x):
        return 1.0 / (1.0 + exp(-x))

    return logistic


@overload(rules.exp, inline="always")
def _exp(x):
    def exp_(x):
        return exp(x)

    return exp_


@overload(rules.power, inline="always")
def _power(x, a):
    def power(x, a):
        return exp(a * log(x))

    return power


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


register_jitable(inline="always")(stages.is_active)
register_jitable(inline="always")(rules.gated_logistic)
register_jitable(inline="always")(rules.trust_target)
register_jitable(inline="always")(rules.first_occasions)
register_jitable(inline="always")(rules.more_occasions)

STACK_CAPACITY = 128
"""Entries :func:`on_stack` can hold (the config allows 100 firms: 101 slots)."""


@intrinsic
def _stack_copy(typingctx, table, capacity):
    if not (
        isinstance(table, types.Array)
        and table.layout == "C"
        and isinstance(capacity, types.IntegerLiteral)
    ):
        return None  # the copy walks the entries in memory order, into a buffer of fixed size

    def codegen(context, builder, signature, args):
        source = make_array(table)(context, builder, args[0])
        item = context.get_data_type(table.dtype)
        # in the entry block
        buffer = cgutils.alloca_once(builder, item, size=capacity.literal_value)
        with cgutils.for_range(builder, source.nitems) as loop:
            value = builder.load(builder.gep(source.data, [loop.index]))
            builder.store(value, builder.gep(buffer, [loop.index]))
        return buffer

    return types.CPointer(table.dtype)(table, capacity), codegen


def on_stack(table, capacity=STACK_CAPACITY):
    """A copy of the C-contiguous ``table`` in the calling compiled function's stack frame.

    Returns a pointer to the copy's first entry, indexed like a flat array
    (``pointer[k]``), valid until the function returns. At most ``capacity``
    entries (a constant: the stack space taken). Called from Python, a flat
    copy.
    """
    if np.size(table) > capacity:
        raise ValueError("table too large for on_stack")
    return np.array(table).ravel()


@overload(on_stack, inline="always", prefer_literal=True)
def _on_stack(table, capacity=STACK_CAPACITY):
    if isinstance(capacity, types.IntegerLiteral):
        limit = capacity.literal_value
    elif isinstance(capacity, types.Omitted | int):  # the default
        limit = getattr(capacity, "value", capacity)
    else:
        return None

    def copy(table, capacity=STACK_CAPACITY):
        if table.size > limit:
            raise ValueError("table too large for on_stack")
        return _stack_copy(table, limit)

    return copy


def lookup_table(table, entries):
    """``table`` in the form the kernel's vector loops look it up fastest.

    A 1-D array goes :func:`on_stack`. A 2-D array of one row becomes a tuple
    of its first ``entries`` values (a constant), which :func:`sim.rules.take`
    looks up with compares and blends. The same from Python.
    """
    if np.ndim(table) == 2:
        return tuple(table[0, :entries])
    return on_stack(table)


@overload(lookup_table, inline="always", prefer_literal=True)
def _lookup_table(table, entries):
    if not isinstance(table, types.Array):
        return None
    if table.ndim == 1:
        return lambda table, entries: on_stack(table)
    if table.ndim == 2 and isinstance(entries, types.IntegerLiteral):
        values = "".join(f"table[0, {k}], " for k in range(entries.literal_value))
        return _straight_line("table, entries", [], f"({values})")
    return None


@overload(rules.column, inline="always")
def _column(weights, k):
    def column(weights, k):
        return weights[k]

    return column
