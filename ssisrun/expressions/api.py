"""Compile once, evaluate many: the entry points the run time and the validator call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from ssisrun.errors import ExpressionError
from ssisrun.expressions import nodes, parser
from ssisrun.expressions import types as t
from ssisrun.expressions.compiler import Compiler, Fn, Typed
from ssisrun.expressions.scope import ExpressionScope
from ssisrun.expressions.types import D, SsisType

ScopeLike = ExpressionScope | Mapping[str, SsisType] | None
Clock = Callable[[], datetime]
Kind = Literal["expression", "boolean", "assignment"]

_NO_VALUES: Mapping[str, Any] = {}


class CompiledExpression:
    """A parsed, type-checked expression, ready to evaluate any number of times.

    ``result_type`` is its SSIS type; ``variables`` the qualified names of the variables and
    parameters it reads (``User::X``, ``System::StartTime``, ``$Package::P``); ``columns`` the
    data-flow columns it reads; ``is_constant`` whether its value depends on nothing at all.
    """

    __slots__ = (
        "text",
        "result_type",
        "variables",
        "columns",
        "is_constant",
        "executable",
        "property",
        "_fn",
    )

    def __init__(
        self,
        text: str,
        result_type: SsisType,
        fn: Fn,
        *,
        variables: frozenset[str],
        columns: frozenset[str],
        is_constant: bool,
        executable: str | None = None,
        property: str | None = None,
    ) -> None:
        self.text = text
        self.result_type = result_type
        self.variables = variables
        self.columns = columns
        self.is_constant = is_constant
        self.executable = executable
        self.property = property
        self._fn = fn

    def evaluate(self, values: Mapping[str, Any] = _NO_VALUES) -> Any:
        """The expression's value (None for NULL) given the current value of every
        referenced name. Values are the Python forms listed in :mod:`.types`; use
        :func:`~ssisrun.expressions.variables.to_expression_value` to convert a variable's.

        Raises ExpressionError (and nothing else) when the value cannot be computed.
        """
        try:
            return self._fn(values)
        except ExpressionError as exc:
            raise self._located(exc) from None
        except KeyError as exc:
            name = exc.args[0] if exc.args else "?"
            raise self._located(
                ExpressionError(f"no value was given for {name}", expression=self.text)
            ) from None
        except RecursionError:
            raise self._located(
                ExpressionError("the expression is nested too deeply", expression=self.text)
            ) from None
        except Exception as exc:  # a value of the wrong Python type, and the like
            raise self._located(
                ExpressionError(
                    f"cannot evaluate: {type(exc).__name__}: {exc} (is every value of its "
                    "declared type?)",
                    expression=self.text,
                )
            ) from None

    def _located(self, exc: ExpressionError) -> ExpressionError:
        if exc.executable is None:
            exc.executable = self.executable
        if exc.property is None:
            exc.property = self.property
        return exc

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r}, {self.result_type})"


class CompiledAssignment:
    """``@[User::X] = expr``: ``target`` is the qualified variable name, ``target_type`` its
    type; :meth:`evaluate` returns the right-hand side already converted to that type."""

    __slots__ = ("text", "target", "target_type", "expression")

    def __init__(
        self, text: str, target: str, target_type: SsisType, expression: CompiledExpression
    ) -> None:
        self.text = text
        self.target = target
        self.target_type = target_type
        self.expression = expression

    @property
    def variables(self) -> frozenset[str]:
        """The names the right-hand side reads."""
        return self.expression.variables

    def evaluate(self, values: Mapping[str, Any] = _NO_VALUES) -> Any:
        """The value to assign to ``target``."""
        return self.expression.evaluate(values)

    def __repr__(self) -> str:
        return f"CompiledAssignment({self.target!r}, {self.expression.text!r})"


def _located(
    exc: ExpressionError, executable: str | None, property: str | None
) -> ExpressionError:
    if executable and exc.executable is None:
        exc.executable = executable
    if property and exc.property is None:
        exc.property = property
    return exc


def _compile_root(
    compiler: Compiler, node: nodes.Node, *, boolean: bool
) -> Typed:
    try:
        typed = compiler.compile(node)
    except RecursionError:
        raise ExpressionError(
            "the expression is nested too deeply", expression=compiler.text, position=0
        ) from None
    if boolean and typed.type.dtype not in (D.DT_BOOL, D.UNKNOWN):
        err = ExpressionError(
            f"the expression must be Boolean (TRUE or FALSE), but it is {typed.type.name}",
            expression=compiler.text,
            position=0,
        )
        if not compiler.collect:
            raise err
        compiler.errors.append(err)
    return typed


def _parse(text: str) -> nodes.Node:
    try:
        return parser.parse(text)
    except RecursionError:
        raise ExpressionError(
            "the expression is nested too deeply", expression=text, position=0
        ) from None


def compile_expression(
    text: str,
    scope: ScopeLike = None,
    *,
    boolean: bool = False,
    executable: str | None = None,
    property: str | None = None,
    clock: Clock | None = None,
) -> CompiledExpression:
    """Parse and type-check ``text``; raise ExpressionError on the first problem.

    ``scope`` gives every visible name's type (a :class:`ExpressionScope` or a mapping of
    qualified names to types). ``boolean=True`` requires a Boolean result (precedence
    constraints, Conditional Split, For Loop EvalExpression). ``executable`` and ``property``
    are attached to every error, compile-time or run-time. ``clock`` replaces the local
    clock GETDATE() reads (GETUTCDATE() converts it to UTC).
    """
    try:
        node = _parse(text)
        compiler = Compiler(text, ExpressionScope.of(scope), clock=clock)
        typed = _compile_root(compiler, node, boolean=boolean)
    except ExpressionError as exc:
        raise _located(exc, executable, property) from None
    return CompiledExpression(
        text,
        typed.type,
        typed.fn,
        variables=frozenset(compiler.variables),
        columns=frozenset(compiler.columns),
        is_constant=typed.const,
        executable=executable,
        property=property,
    )


#: the system variables an event handler may write (SSIS: Propagate and Cancel)
WRITABLE_SYSTEM_VARIABLES = frozenset({"System::Propagate", "System::Cancel"})


def compile_assignment(
    text: str,
    scope: ScopeLike = None,
    *,
    executable: str | None = None,
    property: str | None = None,
    clock: Clock | None = None,
) -> CompiledAssignment:
    """Compile ``@[User::X] = expr`` (or ``:=``): the right-hand side is cast to the target
    variable's type, so an impossible assignment is a compile-time error."""
    try:
        assignment = parser.parse_assignment(text)
        resolved_scope = ExpressionScope.of(scope)
        compiler = Compiler(text, resolved_scope, clock=clock)
        found = resolved_scope.resolve_variable(assignment.target.name)
        if isinstance(found, str):
            raise ExpressionError(found, expression=text, position=assignment.target.pos)
        if found.name.startswith("System::") and found.name not in WRITABLE_SYSTEM_VARIABLES:
            raise ExpressionError(
                f"system variables are read-only: {found.name} cannot be assigned",
                expression=text,
                position=assignment.target.pos,
            )
        value = _compile_root(compiler, assignment.value, boolean=False)
        target_type = found.type
        if target_type.dtype in t.STRINGS:
            target_type = t.wstr(target_type.length)
        if value.type != target_type:
            value = compiler.finish(compiler.cast_to(value, target_type, assignment.pos))
    except ExpressionError as exc:
        raise _located(exc, executable, property) from None
    compiled = CompiledExpression(
        text,
        value.type,
        value.fn,
        variables=frozenset(compiler.variables),
        columns=frozenset(compiler.columns),
        is_constant=value.const,
        executable=executable,
        property=property,
    )
    return CompiledAssignment(text, found.name, target_type, compiled)


def is_assignment(text: str) -> bool:
    """Whether ``text`` is written as an assignment (``@X = …``, ``@[User::X] := …``)."""
    return parser.looks_like_assignment(text)


def check_expression(
    text: str,
    scope: ScopeLike = None,
    *,
    kind: Kind = "expression",
    executable: str | None = None,
    property: str | None = None,
) -> list[ExpressionError]:
    """Every problem in ``text``, for validation: a syntax error (one, since parsing stops
    there) or all the type errors found; an empty list when it compiles. ``kind`` is
    ``"boolean"`` for precedence constraints and Conditional Split conditions,
    ``"assignment"`` for Expression Task and For Loop Init/Assign expressions."""
    try:
        if kind == "assignment":
            compile_assignment(text, scope, executable=executable, property=property)
            return []
        node = _parse(text)
        compiler = Compiler(text, ExpressionScope.of(scope), collect=True)
        _compile_root(compiler, node, boolean=kind == "boolean")
        errors = compiler.errors
    except ExpressionError as exc:
        errors = [exc]
    return [_located(e, executable, property) for e in errors]
