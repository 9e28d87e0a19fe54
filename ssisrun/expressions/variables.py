"""Variables and parameters as expressions see them.

A variable's ``DTS:DataType`` is a VARTYPE code (3 Int32, 8 String, 11 Boolean, …); a package
parameter's too; a project parameter in ``Project.params`` uses a .NET TypeCode instead
(9 Int32, 18 String, …). These functions map both to expression types, read the serialized
value of a variable, and convert values in both directions:

* :func:`to_expression_value` — a variable's current value -> the value an expression sees;
* :func:`from_expression_value` — an expression's result -> the value to store in a variable
  of a given VARTYPE (the assignment of an Expression Task or a For Loop).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from ssisrun.errors import ExpressionError
from ssisrun.expressions import types as t
from ssisrun.expressions.conversions import (
    EvaluationFault,
    cast_function,
    infer_type,
    parse_datetime,
)
from ssisrun.expressions.types import D, SsisType

#: VARTYPE code -> (SSIS variable type name, expression type).
VARTYPES: dict[int, tuple[str, SsisType]] = {
    0: ("Empty", t.UNKNOWN),
    1: ("DBNull", t.UNKNOWN),
    2: ("Int16", t.I2),
    3: ("Int32", t.I4),
    4: ("Single", t.R4),
    5: ("Double", t.R8),
    6: ("Currency", t.CY),
    7: ("DateTime", t.DATE),
    8: ("String", t.WSTR),
    11: ("Boolean", t.BOOL),
    13: ("Object", t.UNKNOWN),
    14: ("Decimal", SsisType(D.DT_DECIMAL)),
    16: ("SByte", t.I1),
    17: ("Byte", t.UI1),
    18: ("UInt16", t.UI2),
    19: ("UInt32", t.UI4),
    20: ("Int64", t.I8),
    21: ("UInt64", t.UI8),
    72: ("Guid", t.GUID),
}
#: SSIS variable type name (case-insensitive, also "Char") -> VARTYPE code.
VARTYPE_BY_NAME: dict[str, int] = {name.lower(): code for code, (name, _) in VARTYPES.items()}
VARTYPE_BY_NAME["char"] = 18

#: .NET TypeCode (Project.params ``DataType``) -> VARTYPE code.
TYPECODE_TO_VARTYPE: dict[int, int] = {
    1: 13,  # Object
    2: 1,  # DBNull
    3: 11,  # Boolean
    4: 18,  # Char
    5: 16,  # SByte
    6: 17,  # Byte
    7: 2,  # Int16
    8: 18,  # UInt16
    9: 3,  # Int32
    10: 19,  # UInt32
    11: 20,  # Int64
    12: 21,  # UInt64
    13: 4,  # Single
    14: 5,  # Double
    15: 14,  # Decimal
    16: 7,  # DateTime
    18: 8,  # String
}


def type_for_vartype(code: int) -> SsisType:
    """The expression type of a variable (or package parameter) with ``DTS:DataType=code``;
    UNKNOWN for Object, Empty and codes ssisrun does not know."""
    entry = VARTYPES.get(code)
    return entry[1] if entry else t.UNKNOWN


def type_for_typecode(code: int) -> SsisType:
    """The expression type of a project parameter whose Project.params DataType is ``code``."""
    return type_for_vartype(TYPECODE_TO_VARTYPE.get(code, 13))


def vartype_name(code: int) -> str:
    entry = VARTYPES.get(code)
    return entry[0] if entry else f"VARTYPE {code}"


def parse_variable_value(code: int, text: str | None) -> Any:
    """Read a ``DTS:VariableValue`` (or parameter value) as serialized in a .dtsx file.

    Booleans are ``-1``/``0`` (or ``True``/``False``); DateTime is US ``M/d/yyyy h:mm:ss tt``
    (ISO accepted too); an empty numeric value is 0. Raises ExpressionError when the text
    does not fit the type.
    """
    text = "" if text is None else text
    name = vartype_name(code)
    try:
        if code in (2, 3, 16, 17, 18, 19, 20, 21):
            return int(text.strip() or "0")
        if code in (4, 5):
            return float(text.strip() or "0")
        if code in (6, 14):
            return Decimal(text.strip() or "0")
        if code == 11:
            word = text.strip().lower()
            if word in ("-1", "1", "true"):
                return True
            if word in ("0", "", "false"):
                return False
            raise ValueError(text)
        if code == 7:
            if not text.strip():
                return datetime(1899, 12, 30)
            return parse_datetime(text).replace(tzinfo=None)
        if code == 72:
            return uuid.UUID(text.strip()) if text.strip() else uuid.UUID(int=0)
        if code == 8:
            return text
        return text or None
    except (ValueError, InvalidOperation, EvaluationFault):
        raise ExpressionError(f"{text!r} is not a valid {name} value") from None


def default_value(code: int) -> Any:
    """A variable's value when none is stored: False, 0, empty string, …"""
    return parse_variable_value(code, "")


def to_expression_value(code: int, value: Any) -> tuple[SsisType, Any]:
    """A variable's value and the type an expression sees it as. Values of another Python
    type are converted (``"5"`` for an Int32 becomes 5); an Object keeps its value."""
    type_ = type_for_vartype(code)
    if value is None or type_.is_unknown:
        return type_, value
    if _fits(type_, value):
        return type_, value
    try:
        converter = cast_function(infer_type(value), type_)
        if converter is None:
            raise EvaluationFault(f"cannot convert {value!r} to {type_.name}")
        return type_, converter(value)
    except EvaluationFault as exc:
        raise ExpressionError(
            f"a {vartype_name(code)} variable cannot hold {value!r}: {exc}"
        ) from None


def from_expression_value(code: int, value: Any, source: SsisType) -> Any:
    """The value to store in a variable of VARTYPE ``code`` when an expression of type
    ``source`` produced ``value`` (an Expression Task or For Loop assignment).

    A variable cannot be NULL: a NULL result is an error. Objects take the value as it is.
    """
    name = vartype_name(code)
    target = type_for_vartype(code)
    if value is None:
        raise ExpressionError(
            f"the expression's result is NULL, which a {name} variable cannot hold"
        )
    if target.is_unknown:
        return value
    src = infer_type(value) if source.is_unknown else source
    converter = cast_function(src, target)
    if converter is None:
        raise ExpressionError(f"a {src.name} result cannot be assigned to a {name} variable")
    try:
        return converter(value)
    except EvaluationFault as exc:
        raise ExpressionError(f"cannot assign the result to a {name} variable: {exc}") from None


def _fits(type_: SsisType, value: Any) -> bool:
    d = type_.dtype
    if d in t.INTEGERS:
        lo, hi = t.INTEGER_RANGES[d]
        return type(value) is int and lo <= value <= hi
    if d in t.FLOATS:
        return type(value) is float
    if d in t.EXACT:
        return isinstance(value, Decimal)
    if d is D.DT_BOOL:
        return isinstance(value, bool)
    if d in t.STRINGS:
        return isinstance(value, str)
    if d is D.DT_DATE:
        return isinstance(value, datetime) and value.tzinfo is None
    if d is D.DT_GUID:
        return isinstance(value, uuid.UUID)
    return isinstance(value, (date, time))  # pragma: no cover - no other variable types
