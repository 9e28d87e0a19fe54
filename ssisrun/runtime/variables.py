"""Variables and parameters at run time (spec ssis-runtime.md 2.11, 2.12, 2.14).

Each executable has a scope holding its own variables; a name resolves in the
nearest scope first, up to the package, then in the parameters. Values are kept in
the form expressions use (``str``, ``int``, ``Decimal``, ``datetime`` ...). A variable's
type is fixed: assigning a value of another type converts it or fails, as SSIS does
(``DTS_E_RUNTIMEVARIABLETYPECHANGE``); Object variables take anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ssisrun.errors import ExpressionError, SsisrunError

if TYPE_CHECKING:
    from ssisrun.expressions import CompiledExpression, SsisType
    from ssisrun.model import Executable


#: VARTYPE codes of Object variables (and the codes that behave like them)
OBJECT_TYPES = frozenset({0, 9, 12, 13})


class VariableError(SsisrunError):
    """A variable cannot be read or written as asked (read-only, wrong type, unknown)."""


class RuntimeVariable:
    """One variable (or parameter) during a run."""

    __slots__ = (
        "namespace", "name", "data_type", "_value", "read_only", "expression",
        "raise_changed_event", "scope_path", "description", "dtsid", "sensitive",
        "_compiled", "_evaluating", "owner",
    )

    def __init__(
        self,
        namespace: str,
        name: str,
        data_type: int,
        value: Any,
        *,
        read_only: bool = False,
        expression: str = "",
        raise_changed_event: bool = False,
        scope_path: str = "",
        description: str = "",
        dtsid: str = "",
        sensitive: bool = False,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.data_type = data_type
        self._value = value
        self.read_only = read_only
        #: non-empty when the variable is EvaluateAsExpression
        self.expression = expression
        self.raise_changed_event = raise_changed_event
        self.scope_path = scope_path
        self.description = description
        self.dtsid = dtsid
        self.sensitive = sensitive
        self._compiled: CompiledExpression | None = None
        self._evaluating = False
        #: the scope of the container that owns the variable (None for globals)
        self.owner: Scope | None = None

    @property
    def qualified_name(self) -> str:
        if self.namespace.startswith("$"):
            return f"{self.namespace}::{self.name}"
        return f"{self.namespace}::{self.name}"

    @property
    def stored_value(self) -> Any:
        return self._value


class Scope(Mapping[str, Any]):
    """What one executable sees: a mapping from qualified names to current values,
    nearest scope first. Expressions evaluate against it; tasks read and write
    through it."""

    def __init__(
        self,
        exe: Executable,
        own: dict[str, RuntimeVariable],
        parent: Scope | None,
        store: VariableStore,
    ) -> None:
        self.exe = exe
        self.own = own
        self.parent = parent
        self.store = store
        for var in own.values():
            var.owner = self

    # ---- resolution

    def find(self, name: str) -> RuntimeVariable | None:
        """A qualified (``User::X``, ``$Package::P``) or unqualified (``X``) name."""
        ref = name.strip()
        if ref.startswith("@[") and ref.endswith("]"):
            ref = ref[2:-1]
        elif ref.startswith("[") and ref.endswith("]"):
            ref = ref[1:-1]
        elif ref.startswith("@"):
            ref = ref[1:]
        if "::" in ref:
            node: Scope | None = self
            while node is not None:
                var = node.own.get(ref)
                if var is not None:
                    return var
                node = node.parent
            return self.store.globals.get(ref)
        node = self
        while node is not None:
            for var in node.own.values():
                if var.name == ref and not var.namespace.startswith("$"):
                    return var
            node = node.parent
        for var in self.store.globals.values():
            if var.name == ref and not var.namespace.startswith("$"):
                return var
        return None

    def require(self, name: str) -> RuntimeVariable:
        var = self.find(name)
        if var is None:
            raise VariableError(f"the variable {name} does not exist in the scope of "
                                f"{self.exe.path}")
        return var

    # ---- values

    def get(self, name: str, default: Any = None) -> Any:
        var = self.find(name)
        if var is None:
            return default
        return self.value_of(var)

    def value_of(self, var: RuntimeVariable) -> Any:
        if not var.expression:
            return var.stored_value
        # an expression sees what its own container sees, whoever reads the variable
        return self.store.evaluate_variable(var, var.owner or self)

    def set(self, name: str, value: Any, source_type: SsisType | None = None) -> None:
        """Assign, converting to the variable's fixed type."""
        var = self.require(name)
        self.store.assign(var, value, self, source_type)

    def types(self) -> dict[str, SsisType]:
        """The expression types of everything visible (for compiling expressions)."""
        from ssisrun.expressions import type_for_vartype

        result: dict[str, SsisType] = {}
        for var in self.store.globals.values():
            result[var.qualified_name] = type_for_vartype(var.data_type)
        chain: list[Scope] = []
        node: Scope | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        for scope in reversed(chain):
            for var in scope.own.values():
                result[var.qualified_name] = type_for_vartype(var.data_type)
        return result

    # ---- Mapping protocol, for expressions

    def __getitem__(self, name: str) -> Any:
        var = self.find(name)
        if var is None:
            raise KeyError(name)
        return self.value_of(var)

    def __iter__(self) -> Iterator[str]:
        return iter(self.types())

    def __len__(self) -> int:
        return len(self.types())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None


class VariableStore:
    """All variables of one run, and the rules for reading and writing them."""

    def __init__(self, on_changed: Callable[[RuntimeVariable, Scope], None] | None = None) -> None:
        #: parameters and package-wide System variables
        self.globals: dict[str, RuntimeVariable] = {}
        self._lock = threading.RLock()
        self._on_changed = on_changed

    def add_global(self, var: RuntimeVariable) -> None:
        self.globals[var.qualified_name] = var

    def evaluate_variable(self, var: RuntimeVariable, scope: Scope) -> Any:
        from ssisrun.expressions import compile_expression, from_expression_value

        with self._lock:
            if var._evaluating:
                raise VariableError(
                    f"the expression of {var.qualified_name} refers to itself "
                    f"(directly or through other variables): {var.expression}"
                )
            var._evaluating = True
            try:
                if var._compiled is None:
                    var._compiled = compile_expression(
                        var.expression, scope.types(), executable=var.scope_path,
                        property=f"{var.qualified_name}.Expression",
                    )
                compiled = var._compiled
                value = compiled.evaluate(scope)
                return from_expression_value(var.data_type, value, compiled.result_type)
            except ExpressionError:
                raise
            finally:
                var._evaluating = False

    def assign(
        self,
        var: RuntimeVariable,
        value: Any,
        scope: Scope,
        source_type: SsisType | None = None,
        *,
        force: bool = False,
    ) -> None:
        from ssisrun.expressions import from_expression_value, infer_type
        from ssisrun.expressions.conversions import EvaluationFault

        if var.read_only and not force:
            raise VariableError(f"the variable {var.qualified_name} is read-only")
        if var.namespace.startswith("$") and not force:
            raise VariableError(f"the parameter {var.qualified_name} cannot be written at run "
                                "time")
        if var.expression and not force:
            raise VariableError(f"the variable {var.qualified_name} is evaluated as an "
                                "expression and cannot be assigned")
        try:
            if var.data_type in OBJECT_TYPES:
                converted = value  # Object variables take any value, as they are
            else:
                converted = from_expression_value(
                    var.data_type, value, source_type if source_type is not None
                    else infer_type(value)
                )
        except (ExpressionError, ValueError, EvaluationFault) as exc:
            reason = exc.message if isinstance(exc, ExpressionError) else str(exc)
            raise VariableError(
                f"cannot assign {value!r} to {var.qualified_name}: {reason}"
            ) from None
        with self._lock:
            changed = var._value != converted
            var._value = converted
        if changed and var.raise_changed_event and self._on_changed is not None:
            self._on_changed(var, scope)
