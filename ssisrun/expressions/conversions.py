"""Value conversions between SSIS types: explicit casts, implicit promotions, the string
forms of dates and numbers, and typing a bare Python value.

:func:`cast_function` is the single source of truth for what converts to what: it returns a
function for a legal cast and ``None`` for an illegal one, so the compiler can reject the cast
before anything runs. The returned functions take a non-NULL value and raise
:class:`EvaluationFault` (turned into an ExpressionError with a caret by the compiler) when
the value cannot be converted.
"""

from __future__ import annotations

import math
import re
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from ssisrun.expressions import types as t
from ssisrun.expressions.types import D, DataType, SsisType

Converter = Callable[[Any], Any]

#: arithmetic on DT_NUMERIC/DT_DECIMAL/DT_CY: 38 significant digits and then some.
DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


class EvaluationFault(Exception):
    """A value cannot be computed (overflow, bad conversion, divide by zero). Internal: the
    compiler re-raises it as an ExpressionError that points into the expression."""


def _identity(value: Any) -> Any:
    return value


# ---- numbers ---------------------------------------------------------------------------------


def round_half_away(value: float) -> int:
    """Round half away from zero, as SSIS does when a real becomes an integer."""
    if math.isnan(value) or math.isinf(value):
        raise EvaluationFault(f"{value} cannot become an integer")
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def to_single(value: float) -> float:
    """Round a float to single precision (DT_R4), raising on overflow."""
    try:
        result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        raise EvaluationFault(f"{value!r} overflows DT_R4") from None
    return result


def _decimal_from(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(-1 if value else 0)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise EvaluationFault(f"{value} cannot become a decimal")
        return Decimal(repr(value))
    raise EvaluationFault(f"cannot convert {value!r} to a decimal")


def quantize(value: Decimal, scale: int, precision: int, name: str) -> Decimal:
    """Round to ``scale`` places (half away from zero) and check ``precision``."""
    try:
        result = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP,
                                context=DECIMAL_CONTEXT)
    except InvalidOperation:
        raise EvaluationFault(f"{value} does not fit {name}") from None
    if precision and result.adjusted() >= precision - scale:
        raise EvaluationFault(f"{value} does not fit {name}")
    return result


def check_integer(value: int, dtype: DataType) -> int:
    lo, hi = t.INTEGER_RANGES[dtype]
    if value < lo or value > hi:
        raise EvaluationFault(f"{value} overflows {dtype.name}")
    return value


def format_real(value: float, digits: int = 15) -> str:
    """A real as SSIS writes it: up to 15 significant digits (7 for DT_R4), ``1E+16``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = format(value, f".{digits}G")
    if text == "-0":
        text = "0"
    return text


def format_decimal(value: Decimal) -> str:
    return format(value, "f")


# ---- dates -----------------------------------------------------------------------------------

_DATE = (
    r"(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"|(?P<m2>\d{1,2})/(?P<d2>\d{1,2})/(?P<y2>\d{4})"
    r"|(?P<d3>\d{1,2})\.(?P<m3>\d{1,2})\.(?P<y3>\d{4}))"
)
_TIME = (
    r"(?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:[.:](?P<F>\d{1,9}))?)?"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?"
)
_OFFSET = r"(?:\s*(?P<off>Z|[+-]\s*\d{1,2}(?::?\d{2})?))?"
_DATETIME_RE = re.compile(rf"^\s*{_DATE}(?:(?:\s+|T){_TIME})?{_OFFSET}\s*$")
_TIME_RE = re.compile(rf"^\s*{_TIME}\s*$")

UTC = UTC


def _time_fields(m: re.Match[str]) -> tuple[int, int, int, int]:
    if m.group("H") is None:
        return 0, 0, 0, 0
    hour, minute = int(m.group("H")), int(m.group("M"))
    second = int(m.group("S") or 0)
    fraction = (m.group("F") or "")[:6].ljust(6, "0")
    ampm = (m.group("ampm") or "").upper()
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError("hour")
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    return hour, minute, second, int(fraction)


def _offset(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    body = text[1:].strip()
    if ":" in body:
        hours_text, minutes_text = body.split(":")
    elif len(body) > 2:
        hours_text, minutes_text = body[:-2], body[-2:]
    else:
        hours_text, minutes_text = body, "0"
    hours, minutes = int(hours_text), int(minutes_text)
    if hours > 14 or minutes > 59:
        raise ValueError("offset")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_datetime(text: str) -> datetime:
    """Parse ISO ``yyyy-mm-dd[ hh:mm[:ss[.fffffff]]][ ±hh:mm]``, US
    ``M/d/yyyy[ h:mm[:ss] [AM|PM]]`` or day-first ``d.M.yyyy[ h:mm[:ss]]``; an offset gives
    an aware datetime."""
    m = _DATETIME_RE.match(text)
    if m is None:
        raise EvaluationFault(f"{text!r} is not a date; write it as yyyy-mm-dd hh:mm:ss")
    try:
        if m.group("y") is not None:
            year, month, day = int(m.group("y")), int(m.group("m")), int(m.group("d"))
        elif m.group("y2") is not None:
            year, month, day = int(m.group("y2")), int(m.group("m2")), int(m.group("d2"))
        else:  # d.m.yyyy, the day-first form of German, Russian and other locales
            year, month, day = int(m.group("y3")), int(m.group("m3")), int(m.group("d3"))
        hour, minute, second, micro = _time_fields(m)
        tz = _offset(m.group("off"))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        raise EvaluationFault(f"{text!r} is not a valid date") from None


def parse_time(text: str) -> time:
    """Parse ``hh:mm[:ss[.fffffff]]`` (or a full date/time, keeping the time)."""
    m = _TIME_RE.match(text)
    if m is None:
        return parse_datetime(text).time()
    try:
        hour, minute, second, micro = _time_fields(m)
        return time(hour, minute, second, micro)
    except ValueError:
        raise EvaluationFault(f"{text!r} is not a valid time") from None


def _truncate_fraction(micro: int, digits: int) -> int:
    if digits >= 6:
        return micro
    unit = int(10 ** (6 - digits))
    return micro - micro % unit


def _fraction(micro: int, digits: int) -> str:
    if digits <= 0:
        return ""
    return "." + f"{micro:06d}".ljust(digits, "0")[:digits]


def _offset_text(value: datetime) -> str:
    delta = value.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_date_value(value: Any, type_: SsisType) -> str:
    """The string a date/time value becomes when cast to DT_WSTR."""
    d = type_.dtype
    if d is D.DT_DBDATE:
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if d in (D.DT_DBTIME, D.DT_DBTIME2):
        digits = type_.scale if d is D.DT_DBTIME2 else 0
        return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}" + _fraction(
            value.microsecond, digits
        )
    if d is D.DT_DATE:
        text = f"{value.month}/{value.day}/{value.year}"
        if value.hour or value.minute or value.second or value.microsecond:
            hour = value.hour % 12 or 12
            ampm = "PM" if value.hour >= 12 else "AM"
            text += f" {hour}:{value.minute:02d}:{value.second:02d} {ampm}"
        return text
    base = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if d is D.DT_FILETIME:
        return base + f":{value.microsecond // 1000:03d}"
    if d is D.DT_DBTIMESTAMP:
        return base + (_fraction(value.microsecond, 9) if value.microsecond else "")
    if d is D.DT_DBTIMESTAMP2:
        return base + _fraction(value.microsecond, type_.scale)
    if d is D.DT_DBTIMESTAMPOFFSET:
        return base + _fraction(value.microsecond, type_.scale) + " " + _offset_text(value)
    raise EvaluationFault(f"{type_.name} is not a date type")  # pragma: no cover


def _today() -> date:
    return date.today()


def _to_naive(value: Any, digits: int) -> datetime:
    """Any date/time value as a naive datetime (aware: its own wall clock)."""
    if isinstance(value, datetime):
        result = value.replace(tzinfo=None)
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, time):
        result = datetime.combine(_today(), value.replace(tzinfo=None))
    else:  # pragma: no cover - guarded by the type checker
        raise EvaluationFault(f"{value!r} is not a date")
    micro = _truncate_fraction(result.microsecond, digits)
    return result if micro == result.microsecond else result.replace(microsecond=micro)


def _date_converter(src: SsisType, dst: SsisType) -> Converter | None:
    """Conversions into a date/time type from a date/time type or a string."""
    d = dst.dtype
    from_string = src.dtype in t.STRINGS or src.dtype in t.TEXTS
    if src.dtype not in t.DATES and not from_string:
        if d is D.DT_DATE and src.dtype in t.NUMERICS:
            return _ole_date
        return None
    if src.dtype in t.TIMES and d is D.DT_DBDATE:
        return None
    if d is D.DT_DBDATE:
        if from_string:
            return lambda v: parse_datetime(v).date()
        return lambda v: v.date() if isinstance(v, datetime) else v
    if d in (D.DT_DBTIME, D.DT_DBTIME2):
        digits = dst.scale if d is D.DT_DBTIME2 else 0
        if src.dtype is D.DT_DBDATE:
            return lambda v: time(0)

        def to_time(v: Any) -> time:
            value = parse_time(v) if isinstance(v, str) else v
            if isinstance(value, datetime):
                value = value.time()
            value = value.replace(tzinfo=None)
            micro = _truncate_fraction(value.microsecond, digits)
            result: time = value.replace(microsecond=micro)
            return result

        return to_time
    if d is D.DT_DBTIMESTAMPOFFSET:
        digits = dst.scale

        def to_offset(v: Any) -> datetime:
            value = parse_datetime(v) if isinstance(v, str) else v
            if isinstance(value, datetime) and value.tzinfo is not None:
                return value.replace(microsecond=_truncate_fraction(value.microsecond, digits))
            return _to_naive(value, digits).replace(tzinfo=UTC)

        return to_offset
    digits = dst.scale if d is D.DT_DBTIMESTAMP2 else 3

    def to_timestamp(v: Any) -> datetime:
        value = parse_datetime(v) if isinstance(v, str) else v
        return _to_naive(value, digits)

    return to_timestamp


_OLE_EPOCH = datetime(1899, 12, 30)


def _ole_date(value: Any) -> datetime:
    """A number of days since 1899-12-30 (OLE Automation date) as DT_DATE."""
    try:
        return _OLE_EPOCH + timedelta(days=float(value))
    except (OverflowError, ValueError):
        raise EvaluationFault(f"{value} is not a valid DT_DATE") from None


# ---- strings -----------------------------------------------------------------------------------


def to_text(value: Any, src: SsisType) -> str:
    """The string form of a non-NULL value of type ``src`` (what a cast to DT_WSTR gives)."""
    d = src.dtype
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_real(value, 7 if d is D.DT_R4 else 15)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if d in t.DATES:
        return format_date_value(value, src)
    if isinstance(value, (datetime, date, time)):
        return format_date_value(value, infer_type(value))
    if isinstance(value, uuid.UUID):
        return "{" + str(value).upper() + "}"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    raise EvaluationFault(f"cannot convert {value!r} to a string")


def _codepage_filter(codepage: int) -> Callable[[str], str] | None:
    """Replace characters a code page cannot hold with '?', as a DT_STR cast does."""
    if codepage in (0, 65001, 1200):
        return None
    try:
        import codecs

        codec = codecs.lookup(f"cp{codepage}")
    except LookupError:
        return None

    def apply(text: str) -> str:
        if text.isascii():
            return text
        return codec.decode(codec.encode(text, "replace")[0])[0]

    return apply


def _string_converter(src: SsisType, dst: SsisType) -> Converter | None:
    length = dst.length if dst.dtype in t.STRINGS else 0
    codepage = dst.codepage if dst.dtype in (D.DT_STR, D.DT_TEXT) else 0
    if dst.dtype in (D.DT_TEXT, D.DT_NTEXT) and src.dtype not in t.STRINGS | t.TEXTS:
        return None
    if src.dtype is D.DT_IMAGE:
        return None
    filt = _codepage_filter(codepage) if codepage else None
    if src.dtype in t.STRINGS or src.dtype in t.TEXTS:
        base: Converter = _identity
    else:

        def base(v: Any) -> str:
            return to_text(v, src)

    if not length and filt is None:
        return base
    if filt is None:
        if base is _identity:
            return lambda v: v[:length]
        return lambda v: base(v)[:length]

    def convert(v: Any) -> str:
        text = filt(base(v))
        return text[:length] if length else text

    return convert


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word == "true":
        return True
    if word == "false":
        return False
    try:
        return Decimal(word) != 0
    except InvalidOperation:
        raise EvaluationFault(f"{text!r} is not a Boolean; use \"True\" or \"False\"") from None


def _parse_integer(text: str) -> int:
    word = text.strip()
    try:
        return int(word)
    except ValueError:
        pass
    try:
        number = Decimal(word)
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise EvaluationFault(f"{text!r} is not a number") from None
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT))


def _parse_decimal(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise EvaluationFault(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise EvaluationFault(f"{text!r} is not a number")
    return number


def _parse_float(text: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise EvaluationFault(f"{text!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise EvaluationFault(f"{text!r} is not a number")
    return number


def _parse_guid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise EvaluationFault(f"{text!r} is not a GUID") from None


# ---- the cast matrix -------------------------------------------------------------------------


def cast_function(src: SsisType, dst: SsisType) -> Converter | None:
    """How to turn a non-NULL value of type ``src`` into ``dst``; None when SSIS forbids it.

    Rules (see docs/expressions.md): integers are range checked (overflow is an error);
    reals and decimals become integers rounded half away from zero; TRUE is -1 (all bits set
    for an unsigned type); strings are truncated to the target length silently; dates convert
    between each other by dropping or zero-filling parts; strings parse as ISO or US dates.
    """
    s, d = src.dtype, dst.dtype
    if s is D.UNKNOWN or d is D.UNKNOWN:
        return _identity
    if src == dst and d not in t.STRINGS:
        return _identity
    if d in t.INTEGERS:
        return _integer_converter(s, d)
    if d in t.FLOATS:
        single = d is D.DT_R4
        inner: Converter | None
        if s in t.INTEGERS or s in t.FLOATS or s in t.EXACT:
            inner = float
        elif s is D.DT_BOOL:
            inner = _bool_to_minus_one_float
        elif s in t.STRINGS:
            inner = _parse_float
        else:
            inner = None
        if inner is None or not single:
            return inner
        convert = inner
        return lambda v: to_single(convert(v))
    if d in t.EXACT:
        if s in t.INTEGERS | t.FLOATS | t.EXACT or s is D.DT_BOOL:
            parse: Converter = _decimal_from
        elif s in t.STRINGS:
            parse = _parse_decimal
        else:
            return None
        scale, precision = dst.scale, dst.precision
        if not precision:  # a Decimal variable: the value keeps its own scale
            return parse
        return lambda v: quantize(parse(v), scale, precision, str(dst))
    if d in t.STRINGS or d in t.TEXTS:
        return _string_converter(src, dst)
    if d is D.DT_BOOL:
        if s in t.NUMERICS:
            return lambda v: v != 0
        if s in t.STRINGS:
            return _parse_bool
        return None
    if d in t.DATES:
        return _date_converter(src, dst)
    if d is D.DT_GUID:
        if s in t.STRINGS:
            return _parse_guid
        if s is D.DT_BYTES:
            return lambda v: uuid.UUID(bytes_le=bytes(v[:16]).ljust(16, b"\0"))
        return None
    if d in (D.DT_BYTES, D.DT_IMAGE):
        limit = dst.length if d is D.DT_BYTES else 0
        to_bytes: Converter
        if s in (D.DT_BYTES, D.DT_IMAGE):
            to_bytes = bytes
        elif s is D.DT_GUID:
            to_bytes = _guid_bytes
        elif s in t.STRINGS and d is D.DT_BYTES:
            to_bytes = _utf16_bytes
        else:
            return None
        if not limit:
            return to_bytes
        return lambda v: to_bytes(v)[:limit]
    return None


def _guid_bytes(v: Any) -> bytes:
    return bytes(v.bytes_le)


def _utf16_bytes(v: Any) -> bytes:
    return str(v).encode("utf-16-le", "surrogatepass")


def _bool_to_minus_one_float(v: Any) -> float:
    return -1.0 if v else 0.0


def _integer_converter(s: DataType, d: DataType) -> Converter | None:
    lo, hi = t.INTEGER_RANGES[d]
    name = d.name

    def check(value: int) -> int:
        if value < lo or value > hi:
            raise EvaluationFault(f"{value} overflows {name}")
        return value

    if s in t.INTEGERS:
        slo, shi = t.INTEGER_RANGES[s]
        if lo <= slo and shi <= hi:
            return _identity
        return check
    if s is D.DT_BOOL:
        true_value = -1 if lo < 0 else hi
        return lambda v: true_value if v else 0
    if s in t.FLOATS:
        return lambda v: check(round_half_away(v))
    if s in t.EXACT:
        return lambda v: check(
            int(v.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT))
        )
    if s in t.STRINGS:
        return lambda v: check(_parse_integer(v))
    return None


def infer_type(value: Any) -> SsisType:
    """The SSIS type of a bare Python value (for references whose type is UNKNOWN)."""
    if isinstance(value, bool):
        return t.BOOL
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return t.I4
        if -(2**63) <= value < 2**63:
            return t.I8
        return t.UI8
    if isinstance(value, float):
        return t.R8
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return t.numeric(38, scale)
    if isinstance(value, str):
        return t.WSTR
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return SsisType(D.DT_DBTIMESTAMPOFFSET, scale=7)
        return SsisType(D.DT_DBTIMESTAMP2, scale=7)
    if isinstance(value, date):
        return t.DBDATE
    if isinstance(value, time):
        return SsisType(D.DT_DBTIME2, scale=7)
    if isinstance(value, uuid.UUID):
        return t.GUID
    if isinstance(value, (bytes, bytearray)):
        return t.BYTES
    raise EvaluationFault(f"a value of Python type {type(value).__name__} has no SSIS type")


def format_value(value: Any, type_: SsisType) -> str:
    """A value as ``ssisrun eval`` shows it: NULL, numbers plainly, strings as SSIS literals."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
        return f'"{escaped}"'
    if type_.is_unknown:
        type_ = infer_type(value)
    return to_text(value, type_)
