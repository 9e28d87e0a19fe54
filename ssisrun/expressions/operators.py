"""The operators' type rules and value semantics, independent of closures.

:func:`binary_impl` and :func:`unary_impl` take operand *types* and return the result type and
a function over non-NULL *values*; they raise :class:`TypeProblem` when SSIS would reject the
combination. The compiler calls them once per operator at compile time; for operands whose
type is UNKNOWN it calls them at evaluation time with the values' own types.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from typing import Any

from ssisrun.expressions import types as t
from ssisrun.expressions.conversions import (
    DECIMAL_CONTEXT,
    Converter,
    EvaluationFault,
    cast_function,
    to_single,
)
from ssisrun.expressions.types import D, DataType, SsisType

Impl2 = Callable[[Any, Any], Any]
Impl1 = Callable[[Any], Any]


class TypeProblem(Exception):
    """Two types do not fit an operator or function (a compile-time error)."""


_INT_PRECISION = {
    D.DT_I1: 3,
    D.DT_UI1: 3,
    D.DT_I2: 5,
    D.DT_UI2: 5,
    D.DT_I4: 10,
    D.DT_UI4: 10,
    D.DT_I8: 19,
    D.DT_UI8: 20,
}
_SIGNED_BY_WIDTH = {1: D.DT_I1, 2: D.DT_I2, 4: D.DT_I4, 8: D.DT_I8}
_UNSIGNED_BY_WIDTH = {1: D.DT_UI1, 2: D.DT_UI2, 4: D.DT_UI4, 8: D.DT_UI8}


def _exact_shape(type_: SsisType) -> tuple[int, int]:
    """(precision, scale) of an integer or exact type."""
    if type_.dtype in t.INTEGERS:
        return _INT_PRECISION[type_.dtype], 0
    if type_.dtype is D.DT_CY:
        return 19, 4
    return (type_.precision or 38), type_.scale


def _fit(precision: int, scale: int) -> SsisType:
    if precision > 38:
        scale = max(scale - (precision - 38), min(scale, 6))
        precision = 38
    return t.numeric(precision, scale)


def promote(left: SsisType, right: SsisType, what: str) -> SsisType:
    """The common numeric type of two numeric operands (see docs/expressions.md)."""
    a, b = left.dtype, right.dtype
    if a not in t.NUMERICS or b not in t.NUMERICS:
        raise TypeProblem(f"{what} needs numbers, not {left.name} and {right.name}")
    if a == b and a not in t.EXACT:
        return left
    if a in t.INTEGERS and b in t.INTEGERS:
        wa, wb = t.INTEGER_WIDTHS[a], t.INTEGER_WIDTHS[b]
        signed_a, signed_b = a in t.SIGNED_INTEGERS, b in t.SIGNED_INTEGERS
        if signed_a == signed_b:
            return left if wa >= wb else right
        unsigned, signed = (a, b) if signed_b else (b, a)
        if unsigned is D.DT_UI8:
            raise TypeProblem(
                f"{what} cannot mix DT_UI8 with a signed integer; cast one side explicitly"
            )
        width = max(t.INTEGER_WIDTHS[signed], 2 * t.INTEGER_WIDTHS[unsigned])
        return SsisType(_SIGNED_BY_WIDTH[width])
    if D.DT_R8 in (a, b):
        return t.R8
    if D.DT_R4 in (a, b):
        other = b if a is D.DT_R4 else a
        if other is D.DT_R4 or (other in t.INTEGERS and t.INTEGER_WIDTHS[other] <= 2):
            return t.R4
        return t.R8
    if a is D.DT_CY and b is D.DT_CY:
        return t.CY
    if D.DT_CY in (a, b):
        other = b if a is D.DT_CY else a
        if other in t.INTEGERS:
            return t.CY
    pa, sa = _exact_shape(left)
    pb, sb = _exact_shape(right)
    scale = max(sa, sb)
    return _fit(max(pa - sa, pb - sb) + scale, scale)


def _arith_exact_type(op: str, left: SsisType, right: SsisType) -> SsisType:
    if left.dtype is D.DT_CY and right.dtype in (t.INTEGERS | {D.DT_CY}):
        return t.CY
    if right.dtype is D.DT_CY and left.dtype in t.INTEGERS:
        return t.CY
    p1, s1 = _exact_shape(left)
    p2, s2 = _exact_shape(right)
    if op in "+-":
        scale = max(s1, s2)
        return _fit(max(p1 - s1, p2 - s2) + scale + 1, scale)
    if op == "*":
        return _fit(p1 + p2 + 1, s1 + s2)
    if op == "/":
        scale = max(6, s1 + p2 + 1)
        return _fit(p1 - s1 + s2 + scale, scale)
    scale = max(s1, s2)
    return _fit(min(p1 - s1, p2 - s2) + scale, scale)


# ---- arithmetic ------------------------------------------------------------------------------


def _int_div(a: int, b: int) -> int:
    if b == 0:
        raise EvaluationFault("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_mod(a: int, b: int) -> int:
    if b == 0:
        raise EvaluationFault("modulo by zero")
    return a - b * _int_div(a, b)


def _checked_int(op: Impl2, dtype: DataType) -> Impl2:
    lo, hi = t.INTEGER_RANGES[dtype]
    name = dtype.name

    def run(a: Any, b: Any) -> Any:
        r = op(a, b)
        if r < lo or r > hi:
            raise EvaluationFault(f"the result {r} overflows {name}")
        return r

    return run


def _float_div(a: float, b: float) -> float:
    if b == 0:
        raise EvaluationFault("division by zero")
    return a / b


def _checked_float(op: Impl2, single: bool) -> Impl2:
    def run(a: Any, b: Any) -> Any:
        r = op(float(a), float(b))
        if math.isinf(r) or math.isnan(r):
            raise EvaluationFault("the result overflows DT_R8")
        return to_single(r) if single else r

    return run


def _decimal_op(op: str, result: SsisType) -> Impl2:
    ctx = DECIMAL_CONTEXT
    quantum = Decimal(1).scaleb(-result.scale)
    limit = result.precision - result.scale if result.dtype is D.DT_NUMERIC else 15
    name = result.name

    def check(r: Decimal) -> Decimal:
        if r and r.adjusted() >= limit:
            raise EvaluationFault(f"the result {r} overflows {name}")
        return r

    def as_decimal(x: Any) -> Decimal:
        return x if isinstance(x, Decimal) else Decimal(x)

    if op == "+":
        return lambda a, b: check(ctx.add(as_decimal(a), as_decimal(b)))
    if op == "-":
        return lambda a, b: check(ctx.subtract(as_decimal(a), as_decimal(b)))
    if op == "*":
        if result.dtype is D.DT_CY:
            return lambda a, b: check(
                ctx.multiply(as_decimal(a), as_decimal(b)).quantize(quantum, ROUND_HALF_UP)
            )
        return lambda a, b: check(ctx.multiply(as_decimal(a), as_decimal(b)))
    if op == "/":

        def divide(a: Any, b: Any) -> Decimal:
            if b == 0:
                raise EvaluationFault("division by zero")
            try:
                q = ctx.divide(as_decimal(a), as_decimal(b))
                return check(q.quantize(quantum, ROUND_HALF_UP, context=ctx))
            except (InvalidOperation, DivisionByZero):
                raise EvaluationFault("the division overflows") from None

        return divide

    def modulo(a: Any, b: Any) -> Decimal:
        if b == 0:
            raise EvaluationFault("modulo by zero")
        return ctx.remainder(as_decimal(a), as_decimal(b))

    return modulo


_INT_OPS: dict[str, Impl2] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _int_div,
    "%": _int_mod,
}
_FLOAT_OPS: dict[str, Impl2] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _float_div,
}
_COMPARE: dict[str, Impl2] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_BITWISE: dict[str, Impl2] = {"&": operator.and_, "|": operator.or_, "^": operator.xor}

_STRINGISH = t.STRINGS | t.TEXTS


def _convert(src: SsisType, dst: SsisType) -> Converter | None:
    """A converter, or None when no conversion is needed."""
    if src == dst or src.dtype == dst.dtype and dst.dtype in t.INTEGERS | t.FLOATS:
        return None
    fn = cast_function(src, dst)
    if fn is None:  # pragma: no cover - promote() only yields reachable types
        raise TypeProblem(f"cannot convert {src.name} to {dst.name}")
    return fn


def _with_conversions(impl: Impl2, cl: Converter | None, cr: Converter | None) -> Impl2:
    if cl is None and cr is None:
        return impl
    if cr is None:
        assert cl is not None
        left = cl
        return lambda a, b: impl(left(a), b)
    if cl is None:
        right = cr
        return lambda a, b: impl(a, right(b))
    left2, right2 = cl, cr
    return lambda a, b: impl(left2(a), right2(b))


def date_common_type(left: SsisType, right: SsisType, what: str) -> SsisType:
    """The type two date/time operands are compared (or merged) in."""
    a, b = left.dtype, right.dtype
    if (a in t.TIMES) != (b in t.TIMES):
        raise TypeProblem(f"{what} cannot mix a time ({left.name}) with a date ({right.name})"
                          if a in t.TIMES else
                          f"{what} cannot mix a date ({left.name}) with a time ({right.name})")
    if left == right:
        return left
    if D.DT_DBTIMESTAMPOFFSET in (a, b):
        return SsisType(D.DT_DBTIMESTAMPOFFSET, scale=7)
    if a in t.TIMES:
        return SsisType(D.DT_DBTIME2, scale=7)
    if a is D.DT_DBDATE and b is D.DT_DBDATE:  # pragma: no cover - equal types handled above
        return left
    return SsisType(D.DT_DBTIMESTAMP2, scale=7)


def binary_impl(op: str, left: SsisType, right: SsisType) -> tuple[SsisType, Impl2]:
    """Result type and value function of ``left op right`` (not ``&&``/``||``)."""
    a, b = left.dtype, right.dtype
    if op in _COMPARE:
        return t.BOOL, _comparison(op, left, right)
    if op in _BITWISE:
        if a not in t.INTEGERS or b not in t.INTEGERS:
            raise TypeProblem(
                f"the bitwise operator {op} needs integers, not {left.name} and {right.name}"
            )
        result = promote(left, right, f"the operator {op}")
        return result, _BITWISE[op]
    # arithmetic and concatenation
    if op == "+" and (a in _STRINGISH or b in _STRINGISH):
        if a not in _STRINGISH or b not in _STRINGISH:
            other = right if a in _STRINGISH else left
            raise TypeProblem(
                f"cannot add {left.name} and {right.name}: cast the "
                f"{other.name} to a string first, e.g. (DT_WSTR, 30)"
            )
        if a in t.TEXTS or b in t.TEXTS:
            return t.NTEXT, operator.add
        length = left.length + right.length if left.length and right.length else 0
        return t.wstr(length), operator.add
    if a not in t.NUMERICS or b not in t.NUMERICS:
        raise TypeProblem(
            f"the operator {op} needs numbers, not {left.name} and {right.name}"
        )
    common = promote(left, right, f"the operator {op}")
    if op == "%" and (a not in t.INTEGERS or b not in t.INTEGERS):
        raise TypeProblem(f"the operator % needs integers, not {left.name} and {right.name}")
    c = common.dtype
    if c in t.INTEGERS:
        impl = _checked_int(_INT_OPS[op], c)
        return common, impl
    if c in t.FLOATS:
        return common, _checked_float(_FLOAT_OPS[op], c is D.DT_R4)
    result = _arith_exact_type(op, left, right)
    return result, _decimal_op(op, result)


def _comparison(op: str, left: SsisType, right: SsisType) -> Impl2:
    a, b = left.dtype, right.dtype
    cmp = _COMPARE[op]
    ordering = op not in ("==", "!=")
    if a in t.NUMERICS and b in t.NUMERICS:
        promote(left, right, f"the comparison {op}")  # rejects DT_UI8 with signed
        return cmp  # Python compares int, float and Decimal exactly
    if a in _STRINGISH and b in _STRINGISH:
        if ordering and (a in t.TEXTS or b in t.TEXTS):
            raise TypeProblem(f"{op} cannot order {left.name} values")
        return cmp
    if a in t.DATES or b in t.DATES:
        if a in t.STRINGS:
            return _with_conversions(cmp, cast_function(left, right), None)
        if b in t.STRINGS:
            return _with_conversions(cmp, None, cast_function(right, left))
        if a in t.DATES and b in t.DATES:
            common = date_common_type(left, right, f"the comparison {op}")
            return _with_conversions(cmp, _convert(left, common), _convert(right, common))
    if a == b and a in (D.DT_BOOL, D.DT_GUID, D.DT_BYTES, D.DT_IMAGE):
        if ordering:
            raise TypeProblem(f"{op} cannot order {left.name} values; use == or !=")
        return cmp
    raise TypeProblem(f"cannot compare {left.name} with {right.name}")


def unary_impl(op: str, operand: SsisType) -> tuple[SsisType, Impl1]:
    d = operand.dtype
    if op == "!":
        if d is not D.DT_BOOL:
            raise TypeProblem(f"! needs a Boolean, not {operand.name}")
        return t.BOOL, operator.not_
    if op == "~":
        if d not in t.INTEGERS:
            raise TypeProblem(f"~ needs an integer, not {operand.name}")
        if d in t.UNSIGNED_INTEGERS:
            mask = t.INTEGER_RANGES[d][1]
            return operand, lambda v: ~v & mask
        return operand, operator.invert
    # negation
    if d in t.UNSIGNED_INTEGERS:
        raise TypeProblem(f"cannot negate an unsigned {operand.name}; cast it to a signed type")
    if d in t.INTEGERS:
        hi = t.INTEGER_RANGES[d][1]
        name = d.name

        def negate(v: int) -> int:
            if -v > hi:
                raise EvaluationFault(f"the result {-v} overflows {name}")
            return -v

        return operand, negate
    if d in t.FLOATS or d in t.EXACT:
        return operand, operator.neg
    raise TypeProblem(f"- needs a number, not {operand.name}")


def conditional_type(then: SsisType, otherwise: SsisType) -> SsisType:
    """The type of ``c ? then : otherwise``."""
    a, b = then.dtype, otherwise.dtype
    if then == otherwise:
        return then
    if a in t.NUMERICS and b in t.NUMERICS:
        return promote(then, otherwise, "the branches of ? :")
    if a in t.STRINGS and b in t.STRINGS:
        length = max(then.length, otherwise.length) if then.length and otherwise.length else 0
        if a is D.DT_STR and b is D.DT_STR and then.codepage == otherwise.codepage:
            return SsisType(D.DT_STR, length=length, codepage=then.codepage)
        return t.wstr(length)
    if a in _STRINGISH and b in _STRINGISH:
        return t.NTEXT
    if a in t.DATES and b in t.DATES:
        return date_common_type(then, otherwise, "the branches of ? :")
    if a == b and a is D.DT_BYTES:
        return SsisType(D.DT_BYTES, length=max(then.length, otherwise.length))
    raise TypeProblem(
        f"the branches of ? : have incompatible types {then.name} and {otherwise.name}; "
        "cast one of them"
    )


def branch_converter(src: SsisType, dst: SsisType) -> Converter | None:
    """How a branch value becomes the conditional's type (None: unchanged)."""
    if src.dtype in _STRINGISH and dst.dtype in _STRINGISH:
        return None
    return _convert(src, dst)
