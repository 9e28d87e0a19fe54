"""Type-check a syntax tree and turn it into nested Python closures.

Each node becomes a :class:`Typed`: its SSIS type and a function ``fn(values) -> value``.
Constant sub-expressions are evaluated once here (so ``1/0`` is a compile-time error, as in
SSIS's design-time validation). Evaluation never sees lark or the syntax tree again.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ssisrun.errors import ExpressionError
from ssisrun.expressions import nodes as n
from ssisrun.expressions import types as t
from ssisrun.expressions.conversions import (
    Converter,
    EvaluationFault,
    cast_function,
    infer_type,
)
from ssisrun.expressions.operators import (
    Impl1,
    Impl2,
    TypeProblem,
    binary_impl,
    branch_converter,
    conditional_type,
    unary_impl,
)
from ssisrun.expressions.scope import ExpressionScope, Resolution
from ssisrun.expressions.types import D, SsisType

Values = Mapping[str, Any]
Fn = Callable[[Values], Any]
Clock = Callable[[], datetime]

_EMPTY: Values = {}


@dataclass(slots=True)
class Typed:
    """A compiled node: its type, its function, whether it is constant (and then its value)."""

    type: SsisType
    fn: Fn
    const: bool
    pos: int
    value: Any = None


def _const_fn(value: Any) -> Fn:
    return lambda v: value


class Compiler:
    """Compiles one expression text against one scope."""

    def __init__(
        self,
        text: str,
        scope: ExpressionScope,
        *,
        clock: Clock | None = None,
        utc_clock: Clock | None = None,
        collect: bool = False,
    ) -> None:
        self.text = text
        self.scope = scope
        self.clock = clock
        self.utc_clock = utc_clock
        self.collect = collect
        self.errors: list[ExpressionError] = []
        self.variables: set[str] = set()
        self.columns: set[str] = set()

    # ---- errors ----------------------------------------------------------------------------
    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, expression=self.text, position=pos)

    def problem(self, message: str, pos: int) -> Typed:
        """Report a type error: raise it, or record it and carry on with an UNKNOWN node."""
        err = self.error(message, pos)
        if not self.collect:
            raise err
        self.errors.append(err)
        return Typed(t.UNKNOWN, _raise_fn(err), False, pos)

    def guard1(self, fa: Fn, impl: Impl1, pos: int) -> Fn:
        """``impl(a)`` with NULL propagation; faults point at ``pos``."""
        text = self.text

        def run(v: Values) -> Any:
            a = fa(v)
            if a is None:
                return None
            try:
                return impl(a)
            except EvaluationFault as exc:
                raise ExpressionError(str(exc), expression=text, position=pos) from None

        return run

    def guard2(self, fa: Fn, fb: Fn, impl: Impl2, pos: int) -> Fn:
        """``impl(a, b)`` with NULL propagation; faults point at ``pos``."""
        text = self.text

        def run(v: Values) -> Any:
            a = fa(v)
            if a is None:
                return None
            b = fb(v)
            if b is None:
                return None
            try:
                return impl(a, b)
            except EvaluationFault as exc:
                raise ExpressionError(str(exc), expression=text, position=pos) from None

        return run

    def finish(self, node: Typed) -> Typed:
        """Fold a constant node to its value (errors become compile-time errors)."""
        if not node.const:
            return node
        try:
            value = node.fn(_EMPTY)
        except ExpressionError as exc:
            if not self.collect:
                raise
            self.errors.append(exc)
            return Typed(node.type, _raise_fn(exc), False, node.pos)
        node.value = value
        node.fn = _const_fn(value)
        return node

    # ---- dispatch ----------------------------------------------------------------------------
    def compile(self, node: n.Node) -> Typed:
        if isinstance(node, n.Literal):
            return Typed(node.type, _const_fn(node.value), True, node.pos, node.value)
        if isinstance(node, n.VariableRef):
            return self.variable(node)
        if isinstance(node, n.ColumnRef):
            return self.column(node)
        if isinstance(node, n.Binary):
            if node.op in ("&&", "||"):
                return self.finish(self.logical(node))
            return self.finish(self.binary(node))
        if isinstance(node, n.Unary):
            return self.finish(self.unary(node))
        if isinstance(node, n.Conditional):
            return self.finish(self.conditional(node))
        if isinstance(node, n.Cast):
            return self.finish(self.cast(node))
        if isinstance(node, n.NullOf):
            type_ = t.make_type(node.spec.dtype, node.spec.params)
            return Typed(type_, _const_fn(None), True, node.pos, None)
        if isinstance(node, n.Call):
            from ssisrun.expressions.functions import compile_call

            return self.finish(compile_call(self, node))
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    # ---- references --------------------------------------------------------------------------
    def variable(self, node: n.VariableRef) -> Typed:
        found = self.scope.resolve_variable(node.name)
        if isinstance(found, str):
            return self.problem(found, node.pos)
        key, type_ = found.name, found.type
        self.variables.add(key)

        def get(v: Values) -> Any:
            return v[key]

        return Typed(type_, get, False, node.pos)

    def column(self, node: n.ColumnRef) -> Typed:
        found: Resolution | str = self.scope.resolve_column(node.name)
        if isinstance(found, str):
            return self.problem(found, node.pos)
        key, type_ = found.name, found.type
        self.columns.add(key)

        def get(v: Values) -> Any:
            return v[key]

        return Typed(type_, get, False, node.pos)

    # ---- operators ---------------------------------------------------------------------------
    def binary(self, node: n.Binary) -> Typed:
        left = self.compile(node.left)
        right = self.compile(node.right)
        const = left.const and right.const
        if left.type.is_unknown or right.type.is_unknown:
            result = t.BOOL if node.op in ("==", "!=", "<", ">", "<=", ">=") else t.UNKNOWN
            impl = _dynamic_binary(node.op, left.type, right.type)
            return Typed(result, self.guard2(left.fn, right.fn, impl, node.pos), const, node.pos)
        try:
            result, impl = binary_impl(node.op, left.type, right.type)
        except TypeProblem as exc:
            return self.problem(str(exc), node.pos)
        if right.const and right.value is not None and not left.const:
            return Typed(result, self._binary_const_right(left.fn, right.value, impl, node.pos),
                         False, node.pos)
        return Typed(result, self.guard2(left.fn, right.fn, impl, node.pos), const, node.pos)

    def _binary_const_right(self, fa: Fn, b: Any, impl: Impl2, pos: int) -> Fn:
        text = self.text

        def run(v: Values) -> Any:
            a = fa(v)
            if a is None:
                return None
            try:
                return impl(a, b)
            except EvaluationFault as exc:
                raise ExpressionError(str(exc), expression=text, position=pos) from None

        return run

    def logical(self, node: n.Binary) -> Typed:
        left = self.compile(node.left)
        right = self.compile(node.right)
        for side in (left, right):
            if side.type.dtype not in (D.DT_BOOL, D.UNKNOWN):
                return self.problem(
                    f"{node.op} needs Boolean operands, not {side.type.name}", side.pos
                )
        fa, fb = left.fn, right.fn
        if node.op == "&&":

            def run(v: Values) -> Any:
                a = fa(v)
                if a is False:
                    return False
                b = fb(v)
                if b is False:
                    return False
                if a is None or b is None:
                    return None
                return True

        else:

            def run(v: Values) -> Any:
                a = fa(v)
                if a is True:
                    return True
                b = fb(v)
                if b is True:
                    return True
                if a is None or b is None:
                    return None
                return False

        return Typed(t.BOOL, run, left.const and right.const, node.pos)

    def unary(self, node: n.Unary) -> Typed:
        operand = self.compile(node.operand)
        if operand.type.is_unknown:
            impl1 = _dynamic_unary(node.op)
            return Typed(t.UNKNOWN, self.guard1(operand.fn, impl1, node.pos), operand.const,
                         node.pos)
        try:
            result, impl = unary_impl(node.op, operand.type)
        except TypeProblem as exc:
            return self.problem(str(exc), node.pos)
        return Typed(result, self.guard1(operand.fn, impl, node.pos), operand.const, node.pos)

    def conditional(self, node: n.Conditional) -> Typed:
        cond = self.compile(node.cond)
        then = self.compile(node.then)
        otherwise = self.compile(node.otherwise)
        if cond.type.dtype not in (D.DT_BOOL, D.UNKNOWN):
            return self.problem(
                f"the condition before ? must be Boolean, not {cond.type.name}", cond.pos
            )
        if then.type.is_unknown and otherwise.type.is_unknown:
            result = t.UNKNOWN
        elif then.type.is_unknown:
            result = otherwise.type
        elif otherwise.type.is_unknown:
            result = then.type
        else:
            try:
                result = conditional_type(then.type, otherwise.type)
            except TypeProblem as exc:
                return self.problem(str(exc), node.pos)
        ft = self.converted(then, result)
        fe = self.converted(otherwise, result)
        fc = cond.fn
        if cond.const:
            if cond.value is None:
                return Typed(result, _const_fn(None), True, node.pos)
            chosen = then if cond.value else otherwise
            return Typed(result, ft if cond.value else fe, chosen.const, node.pos)

        def run(v: Values) -> Any:
            c = fc(v)
            if c is None:
                return None
            return ft(v) if c else fe(v)

        return Typed(result, run, False, node.pos)

    def converted(self, node: Typed, target: SsisType) -> Fn:
        """``node``'s function with its value converted to ``target`` (for branches)."""
        if node.type.is_unknown and not target.is_unknown:
            return self.guard1(node.fn, dynamic_cast(target), node.pos)
        if node.type.is_unknown or target.is_unknown:
            return node.fn
        conv = branch_converter(node.type, target)
        if conv is None:
            return node.fn
        return self.guard1(node.fn, conv, node.pos)

    def cast(self, node: n.Cast) -> Typed:
        operand = self.compile(node.operand)
        target = t.make_type(node.spec.dtype, node.spec.params)
        return self.cast_to(operand, target, node.pos)

    def cast_to(self, operand: Typed, target: SsisType, pos: int) -> Typed:
        if operand.type.is_unknown:
            conv: Converter | None = dynamic_cast(target)
        else:
            conv = cast_function(operand.type, target)
        if conv is None:
            return self.problem(f"cannot cast {operand.type.name} to {target.name}", pos)
        return Typed(target, self.guard1(operand.fn, conv, pos), operand.const, pos)


def _raise_fn(err: ExpressionError) -> Fn:
    def run(v: Values) -> Any:
        raise err

    return run


def dynamic_cast(target: SsisType) -> Converter:
    """Convert a value whose type is known only at evaluation time to ``target``."""
    cache: dict[SsisType, Converter] = {}

    def convert(value: Any) -> Any:
        src = infer_type(value)
        fn = cache.get(src)
        if fn is None:
            found = cast_function(src, target)
            if found is None:
                raise EvaluationFault(f"cannot convert {src.name} to {target.name}")
            fn = cache[src] = found
        return fn(value)

    return convert


def _dynamic_binary(op: str, left: SsisType, right: SsisType) -> Impl2:
    cache: dict[tuple[SsisType, SsisType], Impl2] = {}

    def run(a: Any, b: Any) -> Any:
        lt = infer_type(a) if left.is_unknown else left
        rt = infer_type(b) if right.is_unknown else right
        impl = cache.get((lt, rt))
        if impl is None:
            try:
                impl = cache[(lt, rt)] = binary_impl(op, lt, rt)[1]
            except TypeProblem as exc:
                raise EvaluationFault(str(exc)) from None
        return impl(a, b)

    return run


def _dynamic_unary(op: str) -> Impl1:
    def run(a: Any) -> Any:
        try:
            return unary_impl(op, infer_type(a))[1](a)
        except TypeProblem as exc:
            raise EvaluationFault(str(exc)) from None

    return run


def suggest(name: str, candidates: list[str]) -> str:
    """``; did you mean X?`` for a close (or case-insensitive) match."""
    lower = {c.lower(): c for c in candidates}
    if name.lower() in lower:
        return f"; names are case-sensitive: did you mean {lower[name.lower()]}?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""
