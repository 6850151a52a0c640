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
  for a table passed as a tuple a chain of compares and selects
  (:func:`_select_entry`; an array look-up for several customers at once is
  a gather);
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

``exp``, ``log``, the tuple look-up and a table's first row as a tuple are
intrinsics: numba types each call once and writes its instructions in
place. Written as Python functions inlined at numba's level, their bodies
were read, typed and lowered again at every one of the kernel's calls, a
quarter of the first run's compile (docs/performance.md, "Start-up");
LLVM gets the same instructions either way.

:func:`lookup_table` hands the kernel a small table (a firm's parameters by
slot, a parameter by stage) in a form it can look up for several customers at
once: a tuple, looked up with one compare and blend per entry, or a copy in
the kernel's own stack frame (:func:`on_stack`), looked up with a gather. Either
way the compiler knows that the kernel's stores into customer arrays cannot
change the table, which it must know to vectorize the look-ups.

Importing this module registers the overloads; :mod:`sim.kernel` does.
"""

import math
import zlib
from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable
from numba.np.arrayobj import load_item, make_array

from . import rules, stages


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


_F64, _I64 = ir.DoubleType(), ir.IntType(64)


def _float(value: float) -> ir.Constant:
    return ir.Constant(_F64, value)


def _int(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


def _entry(builder, name: str, table: np.ndarray, index):
    """``table[index]``, ``table`` a constant of the module named ``name`` (made at first use)."""
    data = builder.module.globals.get(name)
    if data is None:
        kind = _I64 if table.dtype.kind == "i" else _F64
        values = ir.Constant(
            ir.ArrayType(kind, table.size), [ir.Constant(kind, v) for v in table.tolist()]
        )
        data = cgutils.global_constant(builder.module, name, values)
    return builder.load(builder.gep(data, [_int(0), index], inbounds=True))


def _exp_code(b, x):
    """The instructions of :func:`exp` for the double ``x``, emitted at ``b``'s position."""
    y = b.select(b.fcmp_ordered(">", _float(-746.0), x), _float(-746.0), x)  # max(x, -746.0)
    y = b.select(b.fcmp_ordered("<", _float(710.0), y), _float(710.0), y)  # min(y, 710.0)
    t = b.fadd(b.fmul(y, _float(_INV_STEP)), _float(_ROUND))
    n = b.fsub(t, _float(_ROUND))
    r = b.fsub(b.fsub(y, b.fmul(n, _float(_STEP_HI))), b.fmul(n, _float(_STEP_LO)))
    bits = b.sub(b.bitcast(t, _I64), _int(_ROUND_BITS))  # n as an integer
    j = b.and_(bits, _int(_EXP_SPLIT - 1))
    e = b.ashr(bits, _int(7))
    half = b.ashr(e, _int(1))
    r2 = b.fmul(r, r)
    # q = r + r2 ((1/2 + r / 6) + r2 (1/24 + r / 120))
    low = b.fadd(_float(0.5), b.fmul(r, _float(1.0 / 6.0)))
    high = b.fadd(_float(1.0 / 24.0), b.fmul(r, _float(1.0 / 120.0)))
    q = b.fadd(r, b.fmul(r2, b.fadd(low, b.fmul(r2, high))))
    s = b.bitcast(b.add(_entry(b, "exp.bits", _EXP_BITS, j), b.shl(half, _int(52))), _F64)
    scale = b.bitcast(b.shl(b.add(b.sub(e, half), _int(1023)), _int(52)), _F64)
    tail = _entry(b, "exp.tail", _EXP_TAIL, j)
    out = b.fmul(b.fadd(s, b.fmul(s, b.fadd(q, tail))), scale)
    out = b.select(b.fcmp_ordered("<", x, _float(_EXP_MIN)), _float(0.0), out)
    out = b.select(b.fcmp_ordered(">", x, _float(_EXP_MAX)), _float(math.inf), out)
    return b.select(b.fcmp_ordered("==", x, x), out, x)  # nan stays nan


def _log_code(b, x):
    """The instructions of :func:`log` for the double ``x``, emitted at ``b``'s position."""
    tiny = b.fcmp_ordered("<", x, _float(_SMALLEST_NORMAL))
    bits = b.bitcast(b.select(tiny, b.fmul(x, _float(18014398509481984.0)), x), _I64)  # 2 ** 54
    k = b.sub(b.sub(b.ashr(bits, _int(52)), _int(1023)), b.mul(_int(54), b.zext(tiny, _I64)))
    mantissa = b.or_(b.and_(bits, _int(0x000FFFFFFFFFFFFF)), _int(0x3FF0000000000000))
    m = b.bitcast(mantissa, _F64)  # [1, 2)
    upper = b.fcmp_ordered(">=", m, _float(1.5))
    m = b.select(upper, b.fmul(_float(0.5), m), m)
    k = b.add(k, b.zext(upper, _I64))
    j = b.fptosi(b.fadd(b.fmul(b.fsub(m, _float(0.75)), _float(256.0)), _float(0.5)), _I64)
    c = b.fadd(_float(0.75), b.fmul(b.sitofp(j, _F64), _float(1.0 / 256.0)))
    r = b.fmul(b.fsub(m, c), _entry(b, "log.inverse", _LOG_INVERSE, j))
    r2 = b.fmul(r, r)
    # p = r2 ((-1/2 + r / 3) + r2 ((-1/4 + r / 5) + r2 (-1/6 + r / 7)))
    second = b.fadd(_float(-0.5), b.fmul(r, _float(1.0 / 3.0)))
    fourth = b.fadd(_float(-0.25), b.fmul(r, _float(0.2)))
    sixth = b.fadd(_float(-1.0 / 6.0), b.fdiv(r, _float(7.0)))
    p = b.fmul(r2, b.fadd(second, b.fmul(r2, b.fadd(fourth, b.fmul(r2, sixth)))))
    n = b.sitofp(k, _F64)
    rest = b.fadd(b.fmul(n, _float(_LN2_LO)), b.fadd(r, p))
    out = b.fadd(b.fmul(n, _float(_LN2_HI)), b.fadd(_entry(b, "log.of", _LOG_OF, j), rest))
    # 0, inf, negative numbers and nan
    special = b.select(b.fcmp_ordered("<", x, _float(0.0)), _float(math.nan), x)
    special = b.select(b.fcmp_ordered("==", x, _float(0.0)), _float(-math.inf), special)
    finite = b.and_(b.fcmp_ordered(">", x, _float(0.0)), b.fcmp_ordered("<", x, _float(math.inf)))
    return b.select(finite, out, special)


def _of_one_double(x, code):
    """The typing and code of an intrinsic of one number whose instructions ``code`` emits.

    The argument, a float or an integer, is converted to a double first. An
    intrinsic: numba neither reads nor types a body at each call (as it does
    for an inlined function), and LLVM gets the straight-line code in place,
    for its vector loops.
    """
    if not isinstance(x, (types.Float, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return code(builder, context.cast(builder, args[0], signature.args[0], types.float64))

    return types.float64(x), codegen


@intrinsic
def exp(typingctx, x):
    """``e ** x``, within 1 unit in the last place, straight-line code (compiled code only).

    Tang's method (1989): ``x = n ln 2 / 128 + r`` with ``|r| <= ln 2 / 256``
    (``ln 2 / 128`` in two parts, so that ``x - n ln 2 / 128`` is exact),
    ``2 ** (j / 128)`` from a table with its rounding error, ``e ** r - 1`` by
    its Taylor series to degree 5 (the remainder is below 1e-18), and ``2 **
    (n // 128)`` applied in two halves so that subnormal results are right.
    """
    return _of_one_double(x, _exp_code)


@intrinsic
def log(typingctx, x):
    """Natural logarithm, within 2 units in the last place, straight-line code (compiled code only).

    ``x = 2 ** k m`` with ``m`` in [0.75, 1.5) (subnormals scaled up first),
    ``c`` the nearest multiple of 1/256 to ``m`` and ``r = (m - c) / c``
    (``m - c`` is exact, ``|r| <= 1/384``): ``ln x = k ln 2 + ln c + ln(1 + r)``
    with ``ln c`` from a table and ``ln(1 + r)`` by its series to ``r ** 7``.
    Near 1, ``c = 1`` and the result keeps its relative accuracy.
    """
    return _of_one_double(x, _log_code)


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
        return lambda table, index: _select_entry(table, index)

    def take(table, index):
        return table[index]

    return take


@intrinsic
def _select_entry(typingctx, table, index):
    """``take`` for a tuple: its first entry, then one compare and select per further entry.

    Indices outside the tuple give its first entry. Several customers' look-ups
    then run at once as vector compares and blends, where an array look-up
    is a gather: about half the time for a tuple of four. An intrinsic, so
    that numba writes the selects directly rather than reading and typing a
    chain of calls at every look-up.
    """
    if not (isinstance(table, types.UniTuple) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        values, at = args
        at = context.cast(builder, at, signature.args[1], types.int64)
        out = builder.extract_value(values, 0)
        for k in range(1, table.count):
            found = builder.icmp_signed("==", at, _int(k))
            out = builder.select(found, builder.extract_value(values, k), out)
        return out

    return table.dtype(table, index), codegen


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
        return lambda table, entries: _first_row(table, entries)
    return None


@intrinsic(prefer_literal=True)
def _first_row(typingctx, table, entries):
    """``(table[0, 0], ..., table[0, entries - 1])`` of a 2-D array, ``entries`` a constant."""
    if not (isinstance(table, types.Array) and table.ndim == 2):
        return None
    if not isinstance(entries, types.IntegerLiteral):
        return None
    row = types.UniTuple(table.dtype, entries.literal_value)

    def codegen(context, builder, signature, args):
        array = make_array(table)(context, builder, args[0])
        shape, strides = (
            cgutils.unpack_tuple(builder, array.shape),
            cgutils.unpack_tuple(builder, array.strides),
        )
        values = []
        for k in range(row.count):
            index = [context.get_constant(types.intp, 0), context.get_constant(types.intp, k)]
            pointer = cgutils.get_item_pointer2(
                context, builder, array.data, shape, strides, table.layout, index
            )
            values.append(load_item(context, builder, table, pointer))
        return context.make_tuple(builder, row, values)

    return row(table, entries), codegen


@overload(rules.column, inline="always")
def _column(weights, k):
    def column(weights, k):
        return weights[k]

    return column


def signature_digest(argument_types) -> int:
    """A number naming the numba types of a call's arguments (see :func:`call_address`)."""
    return zlib.crc32("|".join(map(str, argument_types)).encode())


@intrinsic
def call_address(typingctx, address, digest, arguments):
    """Call the numba-compiled function at ``address`` on the tuple ``arguments``; its intp result.

    The function is one compiled for exactly the types of ``arguments``, and
    returns an integer of the machine's size. ``digest`` is the
    :func:`signature_digest` of the types it was compiled for: when it is
    not that of the types here, nothing is called and the result is -1.
    The call goes through the address, not numba's linking: the caller's
    machine code does not contain the callee's, so LLVM does not optimize
    the callee again in every caller, and the two compile apart.
    """
    if not isinstance(address, types.Integer) or not isinstance(arguments, types.BaseTuple):
        return None
    argument_types = tuple(arguments.types)
    expected = signature_digest(argument_types)

    def codegen(context, builder, signature, args):
        function_type = context.call_conv.get_function_type(types.intp, argument_types)
        result = cgutils.alloca_once_value(builder, context.get_constant(types.intp, -1))
        same = builder.icmp_unsigned("==", args[1], context.get_constant(types.int64, expected))
        with builder.if_then(same, likely=True):
            callee = builder.inttoptr(args[0], function_type.as_pointer())
            values = cgutils.unpack_tuple(builder, args[2], len(argument_types))
            status, value = context.call_conv.call_function(
                builder, callee, types.intp, argument_types, values
            )
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            builder.store(value, result)
        return builder.load(result)

    return types.intp(address, digest, arguments), codegen
