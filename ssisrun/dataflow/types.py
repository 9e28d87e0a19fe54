"""SSIS data-flow column types (``DT_*``): their names in pipeline XML, and how values of
each type are read from text, written as text and converted to other types.

Pipeline XML writes a column's type as a short name (``i4``, ``wstr``, ``dbTimeStamp``);
flat-file connection managers write the numeric code (``129`` for DT_STR). Both become an
:class:`~ssisrun.expressions.types.SsisType` (the expression language's type, so Derived
Column and Conditional Split see columns with exactly their data-flow types). Values are the
Python forms the expression language uses (``int``, ``str``, ``Decimal``, ``datetime`` ...).

Conversions reuse the expression language's cast matrix, so a Data Conversion, a Flat File
Source parsing ``"42"`` into a DT_I4 and ``(DT_I4)"42"`` in a Derived Column agree.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from itertools import repeat
from typing import Any

from ssisrun.expressions import types as t
from ssisrun.expressions.conversions import cast_function, to_text
from ssisrun.expressions.types import DataType, SsisType

D = DataType
Converter = Callable[[Any], Any]

#: the short type names of pipeline XML -> DT_ code
SHORT_NAMES: dict[str, DataType] = {
    "empty": D.DT_EMPTY,
    "null": D.DT_NULL,
    "i1": D.DT_I1,
    "i2": D.DT_I2,
    "i4": D.DT_I4,
    "i8": D.DT_I8,
    "ui1": D.DT_UI1,
    "ui2": D.DT_UI2,
    "ui4": D.DT_UI4,
    "ui8": D.DT_UI8,
    "r4": D.DT_R4,
    "r8": D.DT_R8,
    "cy": D.DT_CY,
    "date": D.DT_DATE,
    "bool": D.DT_BOOL,
    "decimal": D.DT_DECIMAL,
    "numeric": D.DT_NUMERIC,
    "guid": D.DT_GUID,
    "bytes": D.DT_BYTES,
    "str": D.DT_STR,
    "wstr": D.DT_WSTR,
    "text": D.DT_TEXT,
    "ntext": D.DT_NTEXT,
    "image": D.DT_IMAGE,
    "dbdate": D.DT_DBDATE,
    "dbtime": D.DT_DBTIME,
    "dbtime2": D.DT_DBTIME2,
    "dbtimestamp": D.DT_DBTIMESTAMP,
    "dbtimestamp2": D.DT_DBTIMESTAMP2,
    "dbtimestampoffset": D.DT_DBTIMESTAMPOFFSET,
    "filetime": D.DT_FILETIME,
}

_BY_CODE = {int(d): d for d in DataType}


def data_type(name_or_code: str | int) -> DataType:
    """``"i4"`` / ``"DT_I4"`` / ``3`` / ``"3"`` -> DT_I4 (unknown names: DT_WSTR)."""
    if isinstance(name_or_code, int):
        return _BY_CODE.get(name_or_code, D.DT_WSTR)
    text = name_or_code.strip()
    if text.lstrip("-").isdigit():
        return _BY_CODE.get(int(text), D.DT_WSTR)
    key = text.lower()
    if key.startswith("dt_"):
        key = key[3:].replace("_", "")
    return SHORT_NAMES.get(key, D.DT_WSTR)


def column_type(dtype: DataType, length: int = 0, precision: int = 0, scale: int = 0,
                code_page: int = 0) -> SsisType:
    """The SsisType of a column with these metadata attributes."""
    if dtype in (D.DT_STR, D.DT_TEXT):
        return SsisType(dtype, length=length if dtype is D.DT_STR else 0,
                        codepage=code_page or 1252)
    if dtype in (D.DT_WSTR, D.DT_BYTES):
        return SsisType(dtype, length=length)
    if dtype is D.DT_NUMERIC:
        return SsisType(dtype, precision=precision or 18, scale=scale)
    if dtype is D.DT_DECIMAL:
        return SsisType(dtype, precision=29, scale=scale)
    if dtype is D.DT_CY:
        return t.CY
    if dtype in (D.DT_DBTIME2, D.DT_DBTIMESTAMP2, D.DT_DBTIMESTAMPOFFSET):
        return SsisType(dtype, scale=scale)
    return SsisType(dtype)


def type_name(type_: SsisType) -> str:
    return str(type_)


# --------------------------------------------------------------------------- text


def text_parser(type_: SsisType) -> Converter | None:
    """How a flat file's text becomes a value of ``type_``; None: the text is the value
    (strings). The converter raises on text that is not a value of the type."""
    d = type_.dtype
    if d in (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT):
        return None
    if d in t.INTEGERS:
        lo, hi = t.INTEGER_RANGES[d]
        slow = cast_function(t.WSTR, type_)
        assert slow is not None

        def parse_int(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                return int(slow(text))
            if value < lo or value > hi:
                raise ValueError(f"{value} overflows {d.name}")
            return value

        return parse_int
    if d is D.DT_R8:
        return _parse_r8
    if d is D.DT_BYTES or d is D.DT_IMAGE:
        return bytes.fromhex
    convert = cast_function(t.WSTR, type_)
    if convert is None:
        return lambda text: text
    return convert


def _parse_r8(text: str) -> float:
    return float(text)


def text_formatter(type_: SsisType) -> Callable[[Any], str]:
    """How a value of ``type_`` is written to a flat file (NULL is written empty)."""
    d = type_.dtype
    if d in (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT):
        return _format_string
    if d in t.INTEGERS:
        return _format_int

    def fmt(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return to_text(value, type_)

    return fmt


def column_formatter(type_: SsisType) -> Callable[[list[Any]], list[str]]:
    """:func:`text_formatter` for a whole column at once (faster for common types)."""
    d = type_.dtype
    one = text_formatter(type_)
    if d in (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT):

        def strings(values: list[Any]) -> list[str]:
            if None not in values:
                return values
            return [v if v is not None else "" for v in values]

        return strings
    if d in t.INTEGERS:

        def integers(values: list[Any]) -> list[str]:
            if None not in values:
                return list(map(str, values))
            return ["" if v is None else str(v) for v in values]

        return integers
    if d in t.FLOATS:
        spec = ".7G" if d is D.DT_R4 else ".15G"

        def reals(values: list[Any]) -> list[str]:
            if None in values:
                return list(map(one, values))
            out = list(map(format, values, repeat(spec)))
            if "-0" in out or "NAN" in out or "INF" in out or "-INF" in out:
                return list(map(one, values))
            return out

        return reals
    return lambda values: list(map(one, values))


def column_parser(type_: SsisType) -> Callable[[Sequence[Any]], list[Any]] | None:
    """A fast whole-column parse for int and real columns whose every field is filled;
    raises when any field is not a clean value (the caller then goes cell by cell)."""
    d = type_.dtype
    if d in t.INTEGERS:
        lo, hi = t.INTEGER_RANGES[d]

        def integers(raw: Sequence[Any]) -> list[Any]:
            values = list(map(int, raw))
            if values and (min(values) < lo or max(values) > hi):
                raise ValueError("out of range")
            return values

        return integers
    if d is D.DT_R8:
        return lambda raw: list(map(float, raw))
    return None


def _format_string(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _format_int(value: Any) -> str:
    return "" if value is None else str(value)


def default_value(type_: SsisType) -> Any:
    """What an empty flat-file field becomes when RetainNulls is False: 0 for numbers,
    FALSE for DT_BOOL, "" for strings; NULL for the other types (dates, GUIDs, bytes)."""
    d = type_.dtype
    if d in t.INTEGERS:
        return 0
    if d in t.FLOATS:
        return 0.0
    if d in t.EXACT:
        return Decimal(0)
    if d is D.DT_BOOL:
        return False
    if d in (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT):
        return ""
    return None


# --------------------------------------------------------------------------- conversions


class Truncation(Exception):
    """A value does not fit its column's length (a truncation, not a conversion error)."""


def converter(src: SsisType, dst: SsisType) -> Converter:
    """Data Conversion: a non-NULL value of ``src`` as ``dst``. Raises Truncation when a
    string or byte value is longer than ``dst`` allows, and any other exception when the
    value cannot be converted."""
    cast = cast_function(_as_expression_type(src), _unbounded(dst))
    if cast is None:
        raise ValueError(f"cannot convert {src} to {dst}")
    limit = dst.length if dst.dtype in (D.DT_STR, D.DT_WSTR, D.DT_BYTES) else 0
    codec = _str_codec(dst)
    if not limit and codec is None:
        return cast
    base = cast

    def convert(value: Any) -> Any:
        result = base(value)
        if limit and len(result) > limit:
            raise Truncation(f"{len(result)} characters do not fit {dst}")
        if codec is not None and not result.isascii():
            result = codec.decode(codec.encode(result, "replace")[0])[0]
        return result

    return convert


def _as_expression_type(type_: SsisType) -> SsisType:
    if type_.dtype in (D.DT_TEXT, D.DT_NTEXT):
        return t.wstr()
    return type_


def _unbounded(type_: SsisType) -> SsisType:
    """The type without its length (truncation is detected, not done silently)."""
    if type_.dtype is D.DT_STR:
        return SsisType(D.DT_WSTR)
    if type_.dtype in (D.DT_WSTR, D.DT_BYTES):
        return SsisType(type_.dtype)
    if type_.dtype in (D.DT_TEXT, D.DT_NTEXT):
        return t.wstr()
    return type_


def _str_codec(type_: SsisType) -> codecs.CodecInfo | None:
    if type_.dtype not in (D.DT_STR, D.DT_TEXT) or type_.codepage in (0, 65001, 1200):
        return None
    try:
        return codecs.lookup(f"cp{type_.codepage}")
    except LookupError:
        return None


def python_encoding(code_page: int, unicode: bool = False) -> str:
    """The Python codec of a Windows code page (1252 -> cp1252, 65001 -> utf-8)."""
    if unicode or code_page == 1200:
        return "utf-16-le"
    if code_page == 1201:
        return "utf-16-be"
    if code_page == 65001:
        return "utf-8"
    if code_page == 20127:
        return "ascii"
    if code_page == 28591:
        return "latin-1"
    try:
        return codecs.lookup(f"cp{code_page}").name
    except LookupError:
        return "utf-8"


def coerce(value: Any, type_: SsisType) -> Any:
    """A value read from a database (or a variable) in the Python form of ``type_``."""
    if value is None:
        return None
    d = type_.dtype
    if d in t.STRINGS or d in t.TEXTS:
        return value if isinstance(value, str) else str(value)
    if d in t.INTEGERS:
        return int(value) if not isinstance(value, int) or isinstance(value, bool) else value
    if d in t.FLOATS:
        return float(value)
    if d in t.EXACT:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if d is D.DT_BOOL:
        return bool(value)
    if d in (D.DT_DBTIMESTAMP, D.DT_DATE, D.DT_DBTIMESTAMP2, D.DT_FILETIME):
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            convert = cast_function(t.WSTR, type_)
            return convert(value) if convert else value
    if d is D.DT_DBDATE and isinstance(value, datetime):
        return value.date()
    if d in t.TIMES and isinstance(value, datetime):
        return value.time()
    if d in t.TIMES and isinstance(value, str):
        return time.fromisoformat(value)
    return value
