"""Vectorised evaluation of simple SSIS expressions over arrow columns (Derived Column).

An expression made only of column references, string and integer literals, string
concatenation, integer and DT_R8 arithmetic (``+ - *``), UPPER, LOWER, TRIM, LTRIM, RTRIM,
LEN and casts between strings and integers is also compiled into pyarrow compute calls.
The compiled closure (:func:`vectorise`) evaluates a whole batch at once when its columns
are arrow arrays; it raises :class:`Fallback` whenever its answer could differ from the
per-row evaluation (an integer overflow, text that is not an integer, UPPER of non-ASCII
text, a string longer than its cast allows), and the caller then evaluates the batch row by
row with the compiled expression, which raises SSIS's errors. NULL propagates as in SSIS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ssisrun.dataflow import arrow
from ssisrun.expressions import nodes as n
from ssisrun.expressions.types import DataType, SsisType

D = DataType

#: the kind of a vectorised value: "str", or the DT_ type of a number
Kind = str | DataType
Columns = Callable[[str], Any]
VectorFn = Callable[[Columns], Any]

_SIGNED = (D.DT_I1, D.DT_I2, D.DT_I4, D.DT_I8)
_STRINGS = (D.DT_STR, D.DT_WSTR)


class Fallback(Exception):
    """This batch must be evaluated row by row."""


class _Unsupported(Exception):
    pass


def vectorise(text: str, types: Mapping[str, SsisType], lineage: Mapping[str, str],
              result_type: SsisType) -> VectorFn | None:
    """A batch evaluator of ``text`` (already compiled by the expression compiler, whose
    ``result_type`` it must agree with), or None when its shape is not supported."""
    if not arrow.enabled():
        return None
    from ssisrun.expressions.parser import parse

    try:
        fn, kind = _Vectoriser(types, lineage).node(parse(text))
    except (_Unsupported, Exception):  # noqa: BLE001 - any doubt: row by row
        return None
    expected = "str" if result_type.dtype in _STRINGS else result_type.dtype
    return fn if kind == expected else None


class _Vectoriser:
    def __init__(self, types: Mapping[str, SsisType], lineage: Mapping[str, str]) -> None:
        self.types = types
        self.lineage = lineage

    def node(self, node: n.Node) -> tuple[VectorFn, Kind]:
        pa = arrow.pa
        if isinstance(node, n.ColumnRef):
            name = node.name
            if name not in self.types and name.strip("[]") in self.types:
                name = name.strip("[]")
            if name not in self.types:
                raise _Unsupported(name)
            dtype = self.types[name].dtype
            lid = self.lineage[name]
            if dtype in _STRINGS:
                kind: Kind = "str"
            elif dtype in _SIGNED or dtype is D.DT_R8:
                kind = dtype
            else:
                raise _Unsupported(dtype)
            return (lambda cols: cols(lid)), kind
        if isinstance(node, n.Literal):
            value = node.value
            if isinstance(value, str):
                scalar = pa.scalar(value, pa.string())
                return (lambda cols: scalar), "str"
            if isinstance(value, int) and not isinstance(value, bool) \
                    and node.type.dtype in _SIGNED:
                iscalar = pa.scalar(value, arrow.arrow_type(node.type))
                return (lambda cols: iscalar), node.type.dtype
            raise _Unsupported(value)
        if isinstance(node, n.Call):
            return self.call(node)
        if isinstance(node, n.Binary):
            return self.binary(node)
        if isinstance(node, n.Cast):
            return self.cast(node)
        raise _Unsupported(type(node).__name__)

    def call(self, node: n.Call) -> tuple[VectorFn, Kind]:
        pc = arrow.pc
        if len(node.args) != 1:
            raise _Unsupported(node.name)
        arg, kind = self.node(node.args[0])
        if kind != "str":
            raise _Unsupported(node.name)
        if node.name in ("UPPER", "LOWER"):
            impl = pc.ascii_upper if node.name == "UPPER" else pc.ascii_lower

            def case(cols: Columns) -> Any:
                value = arg(cols)
                if not _all_ascii(value):
                    raise Fallback
                return impl(value)

            return case, "str"
        trims = {"TRIM": pc.utf8_trim, "LTRIM": pc.utf8_ltrim, "RTRIM": pc.utf8_rtrim}
        if node.name in trims:
            trim = trims[node.name]
            return (lambda cols: trim(arg(cols), " ")), "str"
        if node.name == "LEN":
            return (lambda cols: arrow.pc.cast(pc.utf8_length(arg(cols)),
                                               arrow.pa.int32())), D.DT_I4
        raise _Unsupported(node.name)

    def binary(self, node: n.Binary) -> tuple[VectorFn, Kind]:
        pc = arrow.pc
        left, lk = self.node(node.left)
        right, rk = self.node(node.right)
        if node.op == "+" and lk == "str" and rk == "str":
            return (lambda cols: _join(left(cols), right(cols))), "str"
        if node.op not in ("+", "-", "*") or lk == "str" or rk == "str":
            raise _Unsupported(node.op)
        if lk is D.DT_R8 and rk is D.DT_R8:
            plain = {"+": pc.add, "-": pc.subtract, "*": pc.multiply}[node.op]
            return (lambda cols: plain(left(cols), right(cols))), D.DT_R8
        if lk not in _SIGNED or rk not in _SIGNED:
            raise _Unsupported(node.op)
        kind = max(lk, rk, key=_SIGNED.index)
        target = arrow.arrow_type(SsisType(kind))
        checked = {"+": pc.add_checked, "-": pc.subtract_checked,
                   "*": pc.multiply_checked}[node.op]

        def arithmetic(cols: Columns) -> Any:
            try:
                return checked(pc.cast(left(cols), target), pc.cast(right(cols), target))
            except arrow.pa.ArrowInvalid:
                raise Fallback from None

        return arithmetic, kind

    def cast(self, node: n.Cast) -> tuple[VectorFn, Kind]:
        pa, pc = arrow.pa, arrow.pc
        operand, kind = self.node(node.operand)
        dtype = node.spec.dtype
        if dtype in _STRINGS and (kind == "str" or kind in _SIGNED):
            length = node.spec.params[0] if node.spec.params else 0

            def to_text(cols: Columns) -> Any:
                value = operand(cols)
                text = value if kind == "str" else pc.cast(value, pa.string())
                if length and isinstance(text, pa.Array) and len(text) \
                        and (pc.max(pc.utf8_length(text)).as_py() or 0) > length:
                    raise Fallback
                return text

            return to_text, "str"
        if dtype in _SIGNED and (kind == "str" or kind in _SIGNED):
            target = arrow.arrow_type(SsisType(dtype))

            def to_int(cols: Columns) -> Any:
                try:
                    return pc.cast(operand(cols), target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise Fallback from None

            return to_int, dtype
        raise _Unsupported(dtype)


def _all_ascii(value: Any) -> bool:
    pc = arrow.pc
    if not isinstance(value, arrow.pa.Array):
        return str(value.as_py() or "").isascii()
    checked = pc.all(pc.string_is_ascii(value)).as_py()
    return checked is None or bool(checked)


def _join(left: Any, right: Any) -> Any:
    return arrow.pc.binary_join_element_wise(left, right, "")
