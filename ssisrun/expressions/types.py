"""SSIS expression data types: the ``DT_`` codes and a typed description of each value.

Every value an expression produces has an :class:`SsisType`: a :class:`DataType` code plus
the parameters some types carry (a string's length and code page, a decimal's precision and
scale, a time's fractional digits). Values are plain Python objects:

=================================================  ===========================================
SSIS type                                          Python value
=================================================  ===========================================
DT_I1 … DT_I8, DT_UI1 … DT_UI8                      ``int`` (range checked)
DT_R4, DT_R8                                       ``float`` (DT_R4 rounded to single precision)
DT_NUMERIC, DT_DECIMAL, DT_CY                      ``decimal.Decimal``
DT_WSTR, DT_STR, DT_NTEXT, DT_TEXT                 ``str``
DT_BOOL                                            ``bool``
DT_DATE, DT_DBTIMESTAMP, DT_DBTIMESTAMP2,          naive ``datetime.datetime``
DT_FILETIME
DT_DBTIMESTAMPOFFSET                               aware ``datetime.datetime``
DT_DBDATE                                          ``datetime.date``
DT_DBTIME, DT_DBTIME2                              ``datetime.time``
DT_GUID                                            ``uuid.UUID``
DT_BYTES, DT_IMAGE                                 ``bytes``
NULL of any type                                   ``None``
=================================================  ===========================================

``UNKNOWN`` is not an SSIS type: it is how a lenient scope types a reference whose type
nobody knows (a data-flow column without metadata, an Object variable, an unknown project
parameter). Expressions over it type-check permissively and are typed from the value at
evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class DataType(IntEnum):
    """The ``Microsoft.SqlServer.Dts.Runtime.Wrapper.DataType`` codes used by expressions."""

    UNKNOWN = -1
    DT_EMPTY = 0
    DT_NULL = 1
    DT_I2 = 2
    DT_I4 = 3
    DT_R4 = 4
    DT_R8 = 5
    DT_CY = 6
    DT_DATE = 7
    DT_BOOL = 11
    DT_DECIMAL = 14
    DT_I1 = 16
    DT_UI1 = 17
    DT_UI2 = 18
    DT_UI4 = 19
    DT_I8 = 20
    DT_UI8 = 21
    DT_FILETIME = 64
    DT_GUID = 72
    DT_BYTES = 128
    DT_STR = 129
    DT_WSTR = 130
    DT_NUMERIC = 131
    DT_DBDATE = 133
    DT_DBTIME = 134
    DT_DBTIMESTAMP = 135
    DT_DBTIME2 = 145
    DT_DBTIMESTAMPOFFSET = 146
    DT_IMAGE = 301
    DT_TEXT = 302
    DT_NTEXT = 303
    DT_DBTIMESTAMP2 = 304


D = DataType

#: (minimum, maximum) of each integer type.
INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    D.DT_I1: (-(2**7), 2**7 - 1),
    D.DT_I2: (-(2**15), 2**15 - 1),
    D.DT_I4: (-(2**31), 2**31 - 1),
    D.DT_I8: (-(2**63), 2**63 - 1),
    D.DT_UI1: (0, 2**8 - 1),
    D.DT_UI2: (0, 2**16 - 1),
    D.DT_UI4: (0, 2**32 - 1),
    D.DT_UI8: (0, 2**64 - 1),
}
#: byte width of each integer type.
INTEGER_WIDTHS: dict[DataType, int] = {
    D.DT_I1: 1,
    D.DT_I2: 2,
    D.DT_I4: 4,
    D.DT_I8: 8,
    D.DT_UI1: 1,
    D.DT_UI2: 2,
    D.DT_UI4: 4,
    D.DT_UI8: 8,
}
SIGNED_INTEGERS = frozenset({D.DT_I1, D.DT_I2, D.DT_I4, D.DT_I8})
UNSIGNED_INTEGERS = frozenset({D.DT_UI1, D.DT_UI2, D.DT_UI4, D.DT_UI8})
INTEGERS = SIGNED_INTEGERS | UNSIGNED_INTEGERS
FLOATS = frozenset({D.DT_R4, D.DT_R8})
EXACT = frozenset({D.DT_NUMERIC, D.DT_DECIMAL, D.DT_CY})
NUMERICS = INTEGERS | FLOATS | EXACT
STRINGS = frozenset({D.DT_WSTR, D.DT_STR})
TEXTS = frozenset({D.DT_TEXT, D.DT_NTEXT})
DATETIMES = frozenset(
    {
        D.DT_DATE,
        D.DT_DBTIMESTAMP,
        D.DT_DBTIMESTAMP2,
        D.DT_DBTIMESTAMPOFFSET,
        D.DT_FILETIME,
    }
)
TIMES = frozenset({D.DT_DBTIME, D.DT_DBTIME2})
DATES = DATETIMES | TIMES | {D.DT_DBDATE}
BLOBS = frozenset({D.DT_TEXT, D.DT_NTEXT, D.DT_IMAGE})

#: type names as written in a cast, ``NULL()`` or a data-flow column's metadata.
TYPE_NAMES: dict[str, DataType] = {t.name: t for t in DataType if t.name.startswith("DT_")}

#: how many parameters each type takes in a cast: (minimum, maximum).
TYPE_PARAMETERS: dict[DataType, tuple[int, int]] = {
    D.DT_STR: (2, 2),
    D.DT_WSTR: (1, 1),
    D.DT_BYTES: (1, 1),
    D.DT_DECIMAL: (1, 1),
    D.DT_NUMERIC: (2, 2),
    D.DT_TEXT: (1, 1),
    D.DT_DBTIME2: (1, 1),
    D.DT_DBTIMESTAMP2: (1, 1),
    D.DT_DBTIMESTAMPOFFSET: (1, 1),
}
#: the parameter names, for messages.
TYPE_PARAMETER_NAMES: dict[DataType, str] = {
    D.DT_STR: "length, code page",
    D.DT_WSTR: "length",
    D.DT_BYTES: "length",
    D.DT_DECIMAL: "scale",
    D.DT_NUMERIC: "precision, scale",
    D.DT_TEXT: "code page",
    D.DT_DBTIME2: "fractional-second digits",
    D.DT_DBTIMESTAMP2: "fractional-second digits",
    D.DT_DBTIMESTAMPOFFSET: "fractional-second digits",
}


@dataclass(frozen=True, slots=True)
class SsisType:
    """An expression's data type with its parameters.

    ``length`` is in characters for strings and bytes for DT_BYTES; 0 means "not bounded"
    (a String variable). ``precision``/``scale`` describe DT_NUMERIC, DT_DECIMAL and DT_CY;
    ``scale`` is also the fractional-second digits of DT_DBTIME2, DT_DBTIMESTAMP2 and
    DT_DBTIMESTAMPOFFSET. ``codepage`` belongs to DT_STR and DT_TEXT.
    """

    dtype: DataType
    length: int = 0
    precision: int = 0
    scale: int = 0
    codepage: int = 0

    @property
    def name(self) -> str:
        """The SSIS name, e.g. ``DT_WSTR``."""
        return self.dtype.name

    @property
    def parameters(self) -> tuple[int, ...]:
        """The parameters as written in a cast: ``(DT_STR, 10, 1252)`` -> ``(10, 1252)``."""
        d = self.dtype
        if d is D.DT_STR:
            return (self.length, self.codepage)
        if d in (D.DT_WSTR, D.DT_BYTES):
            return (self.length,)
        if d is D.DT_NUMERIC:
            return (self.precision, self.scale)
        if d in (D.DT_DECIMAL, D.DT_DBTIME2, D.DT_DBTIMESTAMP2, D.DT_DBTIMESTAMPOFFSET):
            return (self.scale,)
        if d is D.DT_TEXT:
            return (self.codepage,)
        return ()

    def __str__(self) -> str:
        params = self.parameters
        if (
            not params
            or (self.dtype in (D.DT_WSTR, D.DT_BYTES) and not self.length)
            or (self.dtype is D.DT_DECIMAL and not self.precision)
        ):
            return self.name
        return f"{self.name}({','.join(str(p) for p in params)})"

    @property
    def is_integer(self) -> bool:
        return self.dtype in INTEGERS

    @property
    def is_numeric(self) -> bool:
        return self.dtype in NUMERICS

    @property
    def is_string(self) -> bool:
        return self.dtype in STRINGS

    @property
    def is_unknown(self) -> bool:
        return self.dtype is D.UNKNOWN


def make_type(dtype: DataType, params: tuple[int, ...] = ()) -> SsisType:
    """Build the type a cast such as ``(DT_NUMERIC, 10, 2)`` names; parameters are checked
    by the caller against :data:`TYPE_PARAMETERS`."""
    p = list(params)
    if dtype is D.DT_STR:
        return SsisType(dtype, length=p[0], codepage=p[1])
    if dtype in (D.DT_WSTR, D.DT_BYTES):
        return SsisType(dtype, length=p[0])
    if dtype is D.DT_NUMERIC:
        return SsisType(dtype, precision=p[0], scale=p[1])
    if dtype is D.DT_DECIMAL:
        return SsisType(dtype, precision=29, scale=p[0])
    if dtype is D.DT_TEXT:
        return SsisType(dtype, codepage=p[0])
    if dtype in (D.DT_DBTIME2, D.DT_DBTIMESTAMP2, D.DT_DBTIMESTAMPOFFSET):
        return SsisType(dtype, scale=p[0])
    if dtype is D.DT_CY:
        return CY
    return SsisType(dtype)


I1 = SsisType(D.DT_I1)
I2 = SsisType(D.DT_I2)
I4 = SsisType(D.DT_I4)
I8 = SsisType(D.DT_I8)
UI1 = SsisType(D.DT_UI1)
UI2 = SsisType(D.DT_UI2)
UI4 = SsisType(D.DT_UI4)
UI8 = SsisType(D.DT_UI8)
R4 = SsisType(D.DT_R4)
R8 = SsisType(D.DT_R8)
CY = SsisType(D.DT_CY, precision=19, scale=4)
BOOL = SsisType(D.DT_BOOL)
WSTR = SsisType(D.DT_WSTR)
DATE = SsisType(D.DT_DATE)
DBDATE = SsisType(D.DT_DBDATE)
DBTIME = SsisType(D.DT_DBTIME)
DBTIMESTAMP = SsisType(D.DT_DBTIMESTAMP)
FILETIME = SsisType(D.DT_FILETIME)
GUID = SsisType(D.DT_GUID)
BYTES = SsisType(D.DT_BYTES)
NTEXT = SsisType(D.DT_NTEXT)
IMAGE = SsisType(D.DT_IMAGE)
UNKNOWN = SsisType(D.UNKNOWN)


def wstr(length: int = 0) -> SsisType:
    """DT_WSTR of ``length`` characters (0: not bounded)."""
    return SsisType(D.DT_WSTR, length=length)


def numeric(precision: int, scale: int) -> SsisType:
    """DT_NUMERIC(precision, scale), precision capped at 38."""
    precision = max(1, min(38, precision))
    return SsisType(D.DT_NUMERIC, precision=precision, scale=min(scale, precision))
