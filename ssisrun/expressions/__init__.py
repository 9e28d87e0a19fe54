"""The SSIS expression language: parse, type-check, compile once, evaluate many times.

Used for variables with EvaluateAsExpression, property expressions, precedence constraints,
For Loop Init/Eval/Assign, Expression Tasks, Derived Column and Conditional Split.

The API the run time and the validator call::

    from ssisrun.expressions import (
        ExpressionScope, compile_expression, compile_assignment, check_expression,
        type_for_vartype, to_expression_value, from_expression_value,
    )

    scope = ExpressionScope({"User::Count": type_for_vartype(3),        # Int32
                             "$Package::Dir": type_for_vartype(8)})     # String
    expr = compile_expression('@[$Package::Dir] + "\\\\" + (DT_WSTR, 10) @Count', scope)
    expr.result_type          # SsisType(DT_WSTR)
    expr.variables            # frozenset({"$Package::Dir", "User::Count"})
    expr.evaluate({"$Package::Dir": "C:\\\\in", "User::Count": 3})   # 'C:\\\\in\\\\3'

    step = compile_assignment("@[User::Count] = @[User::Count] + 1", scope)
    step.target, step.evaluate({"User::Count": 3})   # ('User::Count', 4)

    check_expression("@Count > ", scope, kind="boolean")   # [ExpressionError(...)]

* :func:`compile_expression(text, scope, *, boolean, executable, property, clock)
  <compile_expression>` -> :class:`CompiledExpression` (``result_type``, ``variables``,
  ``columns``, ``is_constant``, ``evaluate(values)``). ``boolean=True`` for precedence
  constraints, Conditional Split and For Loop EvalExpression.
* :func:`compile_assignment` -> :class:`CompiledAssignment` (``target``, ``target_type``,
  ``evaluate(values)`` returning the value already converted to the target's type).
* :func:`check_expression` -> ``list[ExpressionError]`` (empty when valid).
* ``scope``: an :class:`ExpressionScope` or a plain ``Mapping[str, SsisType]`` from qualified
  names; system variables are added automatically. ``values``: a mapping from the same
  qualified names (and column names) to current values; None is NULL.
* :func:`type_for_vartype`, :func:`type_for_typecode`, :func:`parse_variable_value`,
  :func:`to_expression_value`, :func:`from_expression_value`: between variables' VARTYPE
  codes/values and expression types/values.

Every failure, at compile or evaluation time, is an :class:`~ssisrun.errors.ExpressionError`
with the expression, a caret position, and (when given) the executable and property.
Importing this package does not import lark; the parser is built on first use.
"""

from __future__ import annotations

from ssisrun.errors import ExpressionError
from ssisrun.expressions.api import (
    CompiledAssignment,
    CompiledExpression,
    check_expression,
    compile_assignment,
    compile_expression,
    is_assignment,
)
from ssisrun.expressions.conversions import format_value, infer_type
from ssisrun.expressions.scope import SYSTEM_VARIABLES, ExpressionScope
from ssisrun.expressions.types import DataType, SsisType
from ssisrun.expressions.variables import (
    VARTYPE_BY_NAME,
    VARTYPES,
    default_value,
    from_expression_value,
    parse_variable_value,
    to_expression_value,
    type_for_typecode,
    type_for_vartype,
)

__all__ = [
    "SYSTEM_VARIABLES",
    "VARTYPES",
    "VARTYPE_BY_NAME",
    "CompiledAssignment",
    "CompiledExpression",
    "DataType",
    "ExpressionError",
    "ExpressionScope",
    "SsisType",
    "check_expression",
    "compile_assignment",
    "compile_expression",
    "default_value",
    "format_value",
    "from_expression_value",
    "infer_type",
    "is_assignment",
    "parse_variable_value",
    "to_expression_value",
    "type_for_typecode",
    "type_for_vartype",
]
