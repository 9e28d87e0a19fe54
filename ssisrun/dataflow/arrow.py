"""Columnar fast paths over pyarrow, when it is installed (``pip install 'ssisrun[fast]'``).

pyarrow is optional: every component works on plain Python lists, and a few use pyarrow
where it pays (reading and writing delimited flat files, Derived Column expressions of
simple shapes). A batch column may then be a ``pyarrow.Array``; :class:`~.buffer.Batch`
turns it into a list the first time a component that wants lists reads it, so components
that know nothing of pyarrow keep working unchanged.

Only columns whose Python values are ``int``, ``float`` and ``str`` are ever held as arrow
arrays, so a converted list is exactly what the pure-Python path would have built.
``SSISRUN_NO_ARROW=1`` turns the fast paths off (the tests run both ways).
"""

from __future__ import annotations

import os
from typing import Any

from ssisrun.expressions import types as t
from ssisrun.expressions.types import DataType, SsisType

pa: Any = None
pc: Any = None
try:  # pragma: no cover - depends on the installation
    import pyarrow
    import pyarrow.compute

    pa, pc = pyarrow, pyarrow.compute
except ImportError:  # pragma: no cover
    pass

__all__ = ["STRINGS", "arrow_type", "enabled", "is_array", "is_integer", "pa", "pc",
           "to_list"]

D = DataType

_INT_TYPES: dict[DataType, str] = {
    D.DT_I1: "int8", D.DT_I2: "int16", D.DT_I4: "int32", D.DT_I8: "int64",
    D.DT_UI1: "uint8", D.DT_UI2: "uint16", D.DT_UI4: "uint32", D.DT_UI8: "uint64",
}
STRINGS = (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT)


def enabled() -> bool:
    """Whether the pyarrow fast paths are on (installed, and not turned off)."""
    return pa is not None and os.environ.get("SSISRUN_NO_ARROW", "") in ("", "0")


def is_array(value: Any) -> bool:
    return pa is not None and isinstance(value, pa.Array)


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    result: list[Any] = value.to_pylist()
    return result


def arrow_type(type_: SsisType) -> Any:
    """The arrow type that holds values of ``type_`` exactly, or None (then Python lists)."""
    d = type_.dtype
    if d in STRINGS:
        return pa.string()
    name = _INT_TYPES.get(d)
    if name is not None:
        return getattr(pa, name)()
    if d is D.DT_R8:
        return pa.float64()
    return None


def is_integer(type_: SsisType) -> bool:
    return type_.dtype in t.INTEGERS
