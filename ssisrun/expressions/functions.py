"""Every SSIS expression function: its argument rules, result type and semantics.

Each entry of :data:`FUNCTIONS` compiles a call: it checks the argument types (a type error is
a compile-time error, as in SSIS validation), picks the result type and returns a closure.
Function names are case-insensitive; the parser upper-cases them. Choices the documentation
leaves open are listed in docs/expressions.md ("Behaviour ssisrun chose").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from ssisrun.errors import ExpressionError
from ssisrun.expressions import nodes as n
from ssisrun.expressions import types as t
from ssisrun.expressions.compiler import (
    Compiler,
    Fn,
    Typed,
    Values,
    dynamic_cast,
    suggest,
)
from ssisrun.expressions.conversions import (
    DECIMAL_CONTEXT,
    EvaluationFault,
    _to_naive,
    cast_function,
    infer_type,
)
from ssisrun.expressions.operators import TypeProblem, conditional_type
from ssisrun.expressions.types import D, SsisType

Builder = Callable[[Compiler, n.Call, list[Typed]], Typed]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    min_args: int
    max_args: int
    build: Builder
    signature: str


FUNCTIONS: dict[str, Function] = {}


Arity = int | tuple[int, int]


def _register(name: str, arity: Arity, signature: str) -> Callable[[Builder], Builder]:
    lo, hi = (arity, arity) if isinstance(arity, int) else arity

    def deco(fn: Builder) -> Builder:
        FUNCTIONS[name] = Function(name, lo, hi, fn, signature)
        return fn

    return deco


def compile_call(c: Compiler, node: n.Call) -> Typed:
    """Compile ``NAME(args)``."""
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        return c.problem(
            f"unknown function {node.name}" + suggest(node.name, list(FUNCTIONS)), node.pos
        )
    count = len(node.args)
    if not spec.min_args <= count <= spec.max_args:
        return c.problem(
            f"{spec.name} takes {_count(spec.min_args)} argument"
            f"{'s' if spec.max_args != 1 else ''} ({spec.signature}), not {count}",
            node.pos,
        )
    args = [c.compile(a) for a in node.args]
    return spec.build(c, node, args)


def _count(k: int) -> str:
    return {0: "no", 1: "one", 2: "two", 3: "three"}.get(k, str(k))


# ---- argument helpers -------------------------------------------------------------------------


class _ArgError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _arg_pos(node: n.Call, i: int) -> int:
    return node.arg_positions[i] if i < len(node.arg_positions) else node.pos


def _string(c: Compiler, node: n.Call, args: list[Typed], i: int) -> Fn:
    arg = args[i]
    d = arg.type.dtype
    if d in t.STRINGS or d in t.TEXTS:
        return arg.fn
    if d is D.UNKNOWN:
        return c.guard1(arg.fn, dynamic_cast(t.WSTR), arg.pos)
    raise _ArgError(
        f"{node.name} needs a string as argument {i + 1}, not {arg.type.name}; "
        "cast it with (DT_WSTR, length)",
        _arg_pos(node, i),
    )


def _integer(c: Compiler, node: n.Call, args: list[Typed], i: int) -> Fn:
    arg = args[i]
    d = arg.type.dtype
    if d in t.INTEGERS:
        return arg.fn
    if d is D.UNKNOWN:
        return c.guard1(arg.fn, dynamic_cast(t.I8), arg.pos)
    raise _ArgError(
        f"{node.name} needs an integer as argument {i + 1}, not {arg.type.name}; "
        "cast it with (DT_I4)",
        _arg_pos(node, i),
    )


def _real(c: Compiler, node: n.Call, args: list[Typed], i: int) -> Fn:
    arg = args[i]
    d = arg.type.dtype
    if d in t.NUMERICS:
        fa = arg.fn

        def as_float(v: Values) -> Any:
            x = fa(v)
            return None if x is None else float(x)

        return as_float
    if d is D.UNKNOWN:
        return c.guard1(arg.fn, dynamic_cast(t.R8), arg.pos)
    raise _ArgError(
        f"{node.name} needs a number as argument {i + 1}, not {arg.type.name}",
        _arg_pos(node, i),
    )


def _numeric(c: Compiler, node: n.Call, args: list[Typed], i: int) -> tuple[SsisType, Fn]:
    """A numeric argument kept in its own type (ABS, ROUND …): its type and function."""
    arg = args[i]
    if arg.type.dtype in t.NUMERICS:
        return arg.type, arg.fn
    if arg.type.is_unknown:
        return arg.type, c.guard1(arg.fn, _dynamic_number, arg.pos)
    raise _ArgError(
        f"{node.name} needs a number as argument {i + 1}, not {arg.type.name}",
        _arg_pos(node, i),
    )


def _dynamic_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise EvaluationFault(f"{value!r} is not a number")
    return value


def _date(c: Compiler, node: n.Call, args: list[Typed], i: int, *, allow_time: bool = True) -> Fn:
    """A date argument as a naive or aware datetime (dates at midnight)."""
    arg = args[i]
    d = arg.type.dtype
    if d in t.DATES:
        if not allow_time and d in t.TIMES:
            raise _ArgError(
                f"{node.name} needs a date, not the time type {arg.type.name}", _arg_pos(node, i)
            )
        fa = arg.fn
        if d in t.DATETIMES:
            return fa
        return c.guard1(fa, _as_datetime, arg.pos)
    if d is D.UNKNOWN:
        return c.guard1(arg.fn, _dynamic_datetime, arg.pos)
    hint = ""
    if d in t.STRINGS:
        hint = '; cast it first, e.g. (DT_DBTIMESTAMP)"2024-01-31"'
    raise _ArgError(
        f"{node.name} needs a date as argument {i + 1}, not {arg.type.name}{hint}",
        _arg_pos(node, i),
    )


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return _to_naive(value, 6)


def _dynamic_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        converter = cast_function(t.WSTR, SsisType(D.DT_DBTIMESTAMP2, scale=7))
        assert converter is not None
        result: datetime = converter(value)
        return result
    if infer_type(value).dtype not in t.DATES:
        raise EvaluationFault(f"{value!r} is not a date")
    return _as_datetime(value)


def _const(args: list[Typed], *indexes: int) -> bool:
    return all(args[i].const for i in (indexes or range(len(args))))


def _apply(c: Compiler, node: n.Call, fns: list[Fn], impl: Callable[..., Any],
           result: SsisType, args: list[Typed]) -> Typed:
    """``impl(*values)`` with NULL propagation (any NULL argument gives NULL)."""
    pos = node.pos
    const = _const(args)
    if len(fns) == 1:
        return Typed(result, c.guard1(fns[0], impl, pos), const, pos)
    if len(fns) == 2:
        return Typed(result, c.guard2(fns[0], fns[1], impl, pos), const, pos)
    text = c.text
    f0, f1, f2 = fns

    def run(v: Values) -> Any:
        a = f0(v)
        if a is None:
            return None
        b = f1(v)
        if b is None:
            return None
        x = f2(v)
        if x is None:
            return None
        try:
            return impl(a, b, x)
        except EvaluationFault as exc:
            raise ExpressionError(str(exc), expression=text, position=pos) from None

    return Typed(result, run, const, pos)


def _builder(build: Builder) -> Builder:
    """Turn argument errors into compile errors at the argument."""

    def run(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
        try:
            return build(c, node, args)
        except _ArgError as exc:
            return c.problem(str(exc), exc.pos)
        except TypeProblem as exc:
            return c.problem(str(exc), node.pos)

    return run


def function(name: str, arity: Arity, signature: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        _register(name, arity, signature)(_builder(fn))
        return fn

    return deco


# ---- mathematical ----------------------------------------------------------------------------


def _checked(result: SsisType, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if result.dtype not in t.INTEGERS:
        return fn
    lo, hi = t.INTEGER_RANGES[result.dtype]

    def run(x: Any) -> Any:
        r = fn(x)
        if r < lo or r > hi:
            raise EvaluationFault(f"the result {r} overflows {result.name}")
        return r

    return run


@function("ABS", 1, "numeric")
def _abs(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    result, fa = _numeric(c, node, args, 0)
    return _apply(c, node, [fa], _checked(result, abs), result, args)


def _keep_scale(value: Decimal, rounded: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < 0:
        return rounded.quantize(Decimal(1).scaleb(exponent), context=DECIMAL_CONTEXT)
    return rounded


def _ceiling(x: Any) -> Any:
    if isinstance(x, Decimal):
        return _keep_scale(x, x.to_integral_value(ROUND_CEILING))
    if isinstance(x, float):
        return float(math.ceil(x)) if math.isfinite(x) else x
    return x


def _floor(x: Any) -> Any:
    if isinstance(x, Decimal):
        return _keep_scale(x, x.to_integral_value(ROUND_FLOOR))
    if isinstance(x, float):
        return float(math.floor(x)) if math.isfinite(x) else x
    return x


@function("CEILING", 1, "numeric")
def _ceiling_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    result, fa = _numeric(c, node, args, 0)
    return _apply(c, node, [fa], _ceiling, result, args)


@function("FLOOR", 1, "numeric")
def _floor_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    result, fa = _numeric(c, node, args, 0)
    return _apply(c, node, [fa], _floor, result, args)


def _finite(name: str, fn: Callable[[float], float]) -> Callable[[float], float]:
    def run(x: float) -> float:
        try:
            r = fn(x)
        except OverflowError:
            raise EvaluationFault(f"{name}({x!r}) overflows DT_R8") from None
        if math.isinf(r):
            raise EvaluationFault(f"{name}({x!r}) overflows DT_R8")
        return r

    return run


def _ln(x: float) -> float | None:
    return math.log(x) if x > 0 else None


def _log10(x: float) -> float | None:
    return math.log10(x) if x > 0 else None


def _sqrt(x: float) -> float:
    if x < 0:
        raise EvaluationFault(f"SQRT of a negative number ({x!r})")
    return math.sqrt(x)


def _square(x: float) -> float:
    return x * x


def _power(x: float, p: float) -> float | None:
    if x == 0 and p < 0:
        raise EvaluationFault("POWER of zero to a negative power")
    try:
        r = math.pow(x, p)
    except ValueError:  # a negative number to a fractional power: indeterminate
        return None
    except OverflowError:
        raise EvaluationFault(f"POWER({x!r}, {p!r}) overflows DT_R8") from None
    if math.isinf(r):
        raise EvaluationFault(f"POWER({x!r}, {p!r}) overflows DT_R8")
    return r


def _real_function(name: str, impl: Callable[[float], Any]) -> None:
    def build(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
        return _apply(c, node, [_real(c, node, args, 0)], impl, t.R8, args)

    _register(name, 1, "numeric")(_builder(build))


_real_function("EXP", _finite("EXP", math.exp))
_real_function("LN", _ln)
_real_function("LOG", _log10)
_real_function("SQRT", _sqrt)
_real_function("SQUARE", _finite("SQUARE", _square))


@function("POWER", 2, "numeric, power")
def _power_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_real(c, node, args, 0), _real(c, node, args, 1)]
    return _apply(c, node, fns, _power, t.R8, args)


def _round(x: Any, places: int) -> Any:
    if places < 0:
        raise EvaluationFault(f"ROUND needs a length of 0 or more, not {places}")
    if isinstance(x, bool) or isinstance(x, int):
        return x
    quantum = Decimal(1).scaleb(-places)
    if isinstance(x, Decimal):
        return _keep_scale(x, x.quantize(quantum, ROUND_HALF_UP, context=DECIMAL_CONTEXT))
    if not math.isfinite(x):
        return x
    return float(Decimal(repr(x)).quantize(quantum, ROUND_HALF_UP, context=DECIMAL_CONTEXT))


@function("ROUND", 2, "numeric, length")
def _round_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    result, fa = _numeric(c, node, args, 0)
    fns = [fa, _integer(c, node, args, 1)]
    return _apply(c, node, fns, _round, result, args)


def _sign(x: Any) -> int:
    return int(x > 0) - int(x < 0)


@function("SIGN", 1, "numeric")
def _sign_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    _, fa = _numeric(c, node, args, 0)
    return _apply(c, node, [fa], _sign, t.I4, args)


# ---- string ---------------------------------------------------------------------------------


def _codepoint(s: str) -> int | None:
    if not s:
        return None
    code = ord(s[0])
    if code > 0xFFFF:  # the first UTF-16 code unit (a high surrogate)
        code = 0xD800 + ((code - 0x10000) >> 10)
    return code


@function("CODEPOINT", 1, "character_expression")
def _codepoint_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    return _apply(c, node, [_string(c, node, args, 0)], _codepoint, t.UI2, args)


def _positive(name: str, what: str, value: int) -> None:
    if value <= 0:
        raise EvaluationFault(f"{name} needs a {what} greater than 0, not {value}")


def _findstring(s: str, find: str, occurrence: int) -> int:
    _positive("FINDSTRING", "occurrence", occurrence)
    if not find:
        return 0
    start = -1
    for _ in range(occurrence):
        start = s.find(find, start + 1)
        if start < 0:
            return 0
    return start + 1


@function("FINDSTRING", 3, "character_expression, searchstring, occurrence")
def _findstring_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _string(c, node, args, 1), _integer(c, node, args, 2)]
    return _apply(c, node, fns, _findstring, t.I4, args)


@function("HEX", 1, "integer_expression")
def _hex_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    arg_type = args[0].type
    fa = _integer(c, node, args, 0)
    width = t.INTEGER_WIDTHS.get(arg_type.dtype, 8)

    def hexadecimal(x: int) -> str:
        if x < 0:
            x += 1 << (8 * width)
        return format(x, "X")

    return _apply(c, node, [fa], hexadecimal, t.wstr(2 * width), args)


def _nonnegative(name: str, value: int) -> None:
    if value < 0:
        raise EvaluationFault(f"{name} needs a length of 0 or more, not {value}")


def _left(s: str, count: int) -> str:
    _nonnegative("LEFT", count)
    return s[:count]


def _right(s: str, count: int) -> str:
    _nonnegative("RIGHT", count)
    return s[max(0, len(s) - count) :] if count else ""


@function("LEFT", 2, "character_expression, number")
def _left_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _integer(c, node, args, 1)]
    return _apply(c, node, fns, _left, t.wstr(args[0].type.length), args)


@function("RIGHT", 2, "character_expression, integer_expression")
def _right_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _integer(c, node, args, 1)]
    return _apply(c, node, fns, _right, t.wstr(args[0].type.length), args)


@function("LEN", 1, "expression")
def _len_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    if args[0].type.dtype is D.DT_IMAGE:
        return _apply(c, node, [args[0].fn], len, t.I4, args)
    return _apply(c, node, [_string(c, node, args, 0)], len, t.I4, args)


def _string_function(name: str, impl: Callable[[str], str]) -> None:
    def build(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
        result = t.wstr(args[0].type.length) if args[0].type.dtype in t.STRINGS else t.WSTR
        return _apply(c, node, [_string(c, node, args, 0)], impl, result, args)

    _register(name, 1, "character_expression")(_builder(build))


def _reverse(s: str) -> str:
    return s[::-1]


_string_function("LOWER", str.lower)
_string_function("UPPER", str.upper)
_string_function("LTRIM", lambda s: s.lstrip(" "))
_string_function("RTRIM", lambda s: s.rstrip(" "))
_string_function("TRIM", lambda s: s.strip(" "))
_string_function("REVERSE", _reverse)


def _replace(s: str, find: str, replacement: str) -> str:
    if not find:
        raise EvaluationFault("REPLACE needs a search string of at least one character")
    return s.replace(find, replacement)


@function("REPLACE", 3, "character_expression, searchstring, replacementstring")
def _replace_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, i) for i in range(3)]
    return _apply(c, node, fns, _replace, t.WSTR, args)


def _replicate(s: str, times: int) -> str:
    if times < 0:
        raise EvaluationFault(f"REPLICATE needs a count of 0 or more, not {times}")
    if len(s) * times > 2**31 - 1:
        raise EvaluationFault("REPLICATE would build a string longer than 2^31 - 1 characters")
    return s * times


@function("REPLICATE", 2, "character_expression, times")
def _replicate_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _integer(c, node, args, 1)]
    return _apply(c, node, fns, _replicate, t.WSTR, args)


def _substring(s: str, position: int, length: int) -> str:
    _positive("SUBSTRING", "start position", position)
    if length < 0:
        raise EvaluationFault(f"SUBSTRING needs a length of 0 or more, not {length}")
    return s[position - 1 : position - 1 + length]


@function("SUBSTRING", 3, "character_expression, position, length")
def _substring_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _integer(c, node, args, 1), _integer(c, node, args, 2)]
    return _apply(c, node, fns, _substring, t.wstr(args[0].type.length), args)


def _tokens(s: str, delimiters: str) -> list[str]:
    if not delimiters:
        return [s] if s else []
    if len(delimiters) == 1:
        return [part for part in s.split(delimiters) if part]
    table = {ord(ch): delimiters[0] for ch in delimiters}
    return [part for part in s.translate(table).split(delimiters[0]) if part]


def _token(s: str, delimiters: str, occurrence: int) -> str:
    _positive("TOKEN", "occurrence", occurrence)
    parts = _tokens(s, delimiters)
    return parts[occurrence - 1] if occurrence <= len(parts) else ""


@function("TOKEN", 3, "character_expression, delimiter_string, occurrence")
def _token_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fns = [_string(c, node, args, 0), _string(c, node, args, 1), _integer(c, node, args, 2)]
    return _apply(c, node, fns, _token, t.wstr(args[0].type.length), args)


@function("TOKENCOUNT", 2, "character_expression, delimiter_string")
def _tokencount_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fs, fd = _string(c, node, args, 0), _string(c, node, args, 1)

    def run(v: Values) -> int:
        s = fs(v)
        if s is None:
            return 0
        d = fd(v)
        if d is None:
            return 0
        return len(_tokens(s, d))

    return Typed(t.I4, run, _const(args), node.pos)


# ---- date and time -----------------------------------------------------------------------

DATEPARTS: dict[str, str] = {}
for _canonical, _names in {
    "year": ("year", "yy", "yyyy"),
    "quarter": ("quarter", "qq", "q"),
    "month": ("month", "mm", "m"),
    "dayofyear": ("dayofyear", "dy", "y"),
    "day": ("day", "dd", "d"),
    "week": ("week", "wk", "ww"),
    "weekday": ("weekday", "dw", "w"),
    "hour": ("hour", "hh"),
    "minute": ("minute", "mi", "n"),
    "second": ("second", "ss", "s"),
    "millisecond": ("millisecond", "ms"),
}.items():
    for _name in _names:
        DATEPARTS[_name] = _canonical


def _datepart_name(node: n.Call, args: list[Typed]) -> str:
    arg = args[0]
    if arg.type.dtype not in t.STRINGS:
        raise _ArgError(
            f"{node.name} needs a datepart string such as \"day\" as argument 1, "
            f"not {arg.type.name}",
            _arg_pos(node, 0),
        )
    if not arg.const:
        raise _ArgError(
            f"{node.name} needs the datepart as a literal string such as \"day\"",
            _arg_pos(node, 0),
        )
    if arg.value is None:
        raise _ArgError(f"{node.name}: the datepart cannot be NULL", _arg_pos(node, 0))
    name = DATEPARTS.get(str(arg.value).strip().lower())
    if name is None:
        raise _ArgError(
            f"{arg.value!r} is not a datepart; use one of year, quarter, month, dayofyear, "
            "day, week, weekday, hour, minute, second, millisecond (or yy, qq, mm, dy, dd, "
            "wk, dw, hh, mi, ss, ms)",
            _arg_pos(node, 0),
        )
    return name


def _week_index(d: datetime) -> int:
    """Weeks counted from 0001-01-07, each starting on a Sunday."""
    return d.toordinal() // 7


def datepart(part: str, d: datetime) -> int:
    if part == "year":
        return d.year
    if part == "quarter":
        return (d.month - 1) // 3 + 1
    if part == "month":
        return d.month
    if part == "dayofyear":
        return d.timetuple().tm_yday
    if part == "day":
        return d.day
    if part == "week":
        return _week_index(d) - _week_index(d.replace(month=1, day=1)) + 1
    if part == "weekday":
        return d.isoweekday() % 7 + 1
    if part == "hour":
        return d.hour
    if part == "minute":
        return d.minute
    if part == "second":
        return d.second
    return d.microsecond // 1000


def _add_months(d: datetime, months: int) -> datetime:
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise EvaluationFault("DATEADD goes beyond the year 9999 (or before the year 1)")
    month += 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return d.replace(year=year, month=month, day=min(d.day, days))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_DELTAS = {
    "day": timedelta(days=1),
    "dayofyear": timedelta(days=1),
    "weekday": timedelta(days=1),
    "week": timedelta(days=7),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
    "millisecond": timedelta(milliseconds=1),
}


def dateadd(part: str, number: int, d: datetime) -> datetime:
    base = d.replace(tzinfo=None)
    try:
        if part == "year":
            result = _add_months(base, 12 * number)
        elif part == "quarter":
            result = _add_months(base, 3 * number)
        elif part == "month":
            result = _add_months(base, number)
        else:
            result = base + _DELTAS[part] * number
    except OverflowError:
        raise EvaluationFault("DATEADD goes beyond the year 9999 (or before the year 1)") from None
    micro = result.microsecond - result.microsecond % 1000
    return result.replace(microsecond=micro)


def _utc_naive(d: datetime) -> datetime:
    if d.tzinfo is None:
        return d
    return d.astimezone(UTC).replace(tzinfo=None)


def datediff(part: str, start: datetime, end: datetime) -> int:
    if start.tzinfo is not None or end.tzinfo is not None:
        start, end = _utc_naive(start), _utc_naive(end)
    if part == "year":
        result = end.year - start.year
    elif part == "quarter":
        result = (end.year * 4 + (end.month - 1) // 3) - (start.year * 4 + (start.month - 1) // 3)
    elif part == "month":
        result = (end.year * 12 + end.month) - (start.year * 12 + start.month)
    elif part in ("day", "dayofyear", "weekday"):
        result = end.toordinal() - start.toordinal()
    elif part == "week":
        result = _week_index(end) - _week_index(start)
    else:
        hours = (end.toordinal() - start.toordinal()) * 24 + end.hour - start.hour
        if part == "hour":
            result = hours
        else:
            minutes = hours * 60 + end.minute - start.minute
            if part == "minute":
                result = minutes
            else:
                seconds = minutes * 60 + end.second - start.second
                if part == "second":
                    result = seconds
                else:
                    result = seconds * 1000 + end.microsecond // 1000 - start.microsecond // 1000
    if not -(2**31) <= result < 2**31:
        raise EvaluationFault(f"DATEDIFF result {result} overflows DT_I4")
    return result


@function("DATEADD", 3, "datepart, number, date")
def _dateadd_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    part = _datepart_name(node, args)
    fns = [args[0].fn, _integer(c, node, args, 1), _date(c, node, args, 2)]
    return _apply(c, node, fns, lambda _p, k, d: dateadd(part, k, d), t.DBTIMESTAMP, args)


@function("DATEDIFF", 3, "datepart, startdate, enddate")
def _datediff_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    part = _datepart_name(node, args)
    if args[1].type.dtype in t.DATES and args[2].type.dtype in t.DATES:
        from ssisrun.expressions.operators import date_common_type

        date_common_type(args[1].type, args[2].type, "DATEDIFF")
    fns = [args[0].fn, _date(c, node, args, 1), _date(c, node, args, 2)]
    return _apply(c, node, fns, lambda _p, s, e: datediff(part, s, e), t.I4, args)


@function("DATEPART", 2, "datepart, date")
def _datepart_fn(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    part = _datepart_name(node, args)
    fns = [args[0].fn, _date(c, node, args, 1)]
    return _apply(c, node, fns, lambda _p, d: datepart(part, d), t.I4, args)


def _date_component(name: str, part: str) -> None:
    def build(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
        d = args[0].type.dtype
        if d in (D.DT_DBTIMESTAMP2, D.DT_DBTIMESTAMPOFFSET):
            raise _ArgError(
                f"{name} does not accept {args[0].type.name}; cast it to DT_DBTIMESTAMP first",
                _arg_pos(node, 0),
            )
        fa = _date(c, node, args, 0, allow_time=False)
        return _apply(c, node, [fa], lambda x: datepart(part, x), t.I4, args)

    _register(name, 1, "date")(_builder(build))


_date_component("YEAR", "year")
_date_component("MONTH", "month")
_date_component("DAY", "day")


def _now_ms(clock: Callable[[], datetime]) -> Callable[[Values], datetime]:
    def run(v: Values) -> datetime:
        now = clock()
        return now.replace(microsecond=now.microsecond - now.microsecond % 1000)

    return run


def _local_now() -> datetime:
    return datetime.now()


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@function("GETDATE", 0, "")
def _getdate(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    return Typed(t.DBTIMESTAMP, _now_ms(c.clock or _local_now), False, node.pos)


@function("GETUTCDATE", 0, "")
def _getutcdate(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    if c.utc_clock is not None:
        clock = c.utc_clock
    elif c.clock is not None:
        local = c.clock

        def clock() -> datetime:
            now = local()
            if now.tzinfo is None:
                now = now.astimezone()
            return now.astimezone(UTC).replace(tzinfo=None)

    else:
        clock = _utc_now
    return Typed(t.DBTIMESTAMP, _now_ms(clock), False, node.pos)


# ---- NULL functions -------------------------------------------------------------------------


@function("ISNULL", 1, "expression")
def _isnull(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    fa = args[0].fn

    def run(v: Values) -> bool:
        return fa(v) is None

    return Typed(t.BOOL, run, args[0].const, node.pos)


@function("REPLACENULL", 2, "expression, expression")
def _replacenull(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    first, second = args
    for i, arg in enumerate(args):
        if arg.type.dtype in t.BLOBS:
            raise _ArgError(f"REPLACENULL does not accept {arg.type.name}", _arg_pos(node, i))
    if first.type.is_unknown:
        result = second.type
    elif second.type.is_unknown:
        result = first.type
    elif first.type.dtype in t.STRINGS and second.type.dtype in t.STRINGS:
        result = conditional_type(first.type, second.type)
    else:
        result = first.type
    fa = c.converted(first, result)
    if second.type.is_unknown or result.is_unknown:
        fb = c.converted(second, result)
    elif second.type.dtype in t.STRINGS and result.dtype in t.STRINGS:
        fb = second.fn
    else:
        conv = cast_function(second.type, result)
        if conv is None:
            raise _ArgError(
                f"REPLACENULL cannot convert {second.type.name} to {result.name}, the type of "
                "its first argument",
                _arg_pos(node, 1),
            )
        fb = c.guard1(second.fn, conv, _arg_pos(node, 1)) if conv is not None else second.fn

    def run(v: Values) -> Any:
        a = fa(v)
        return fb(v) if a is None else a

    return Typed(result, run, _const(args), node.pos)


@function("NULL", 1, "type")
def _null_without_type(c: Compiler, node: n.Call, args: list[Typed]) -> Typed:
    raise _ArgError("NULL needs a data type, e.g. NULL(DT_WSTR, 10)", _arg_pos(node, 0))
