"""``ssisrun eval``: evaluate one SSIS expression and print its value and SSIS type."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

_BINDING = re.compile(r"^(?P<name>.+?)(?<!:):(?P<type>[A-Za-z][A-Za-z0-9_]*)$")


def _split_binding(option: str, text: str) -> tuple[str, str | None, str]:
    """``NAME[:TYPE]=VALUE`` -> (name, type or None, value)."""
    head, sep, value = text.partition("=")
    head = head.strip()
    if not sep or not head:
        raise click.UsageError(
            f"{option} {text!r}: write NAME=VALUE or NAME:TYPE=VALUE, e.g. User::Count:Int32=5"
        )
    m = _BINDING.match(head)
    if m and not m.group("name").endswith(":"):
        return m.group("name"), m.group("type"), value
    return head, None, value


def _infer_vartype(value: str) -> int:
    """The variable type a bare --var value is given: Boolean, Int32/Int64, Double,
    DateTime or String."""
    word = value.strip()
    if word.lower() in ("true", "false"):
        return 11
    if re.fullmatch(r"[+-]?\d+", word):
        return 3 if -(2**31) <= int(word) < 2**31 else 20
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", word):
        return 5
    iso = r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
    us = r"\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?( ?[AaPp][Mm])?)?"
    if re.fullmatch(iso, word) or re.fullmatch(us, word):
        return 7
    return 8


def _binding(option: str, text: str, default_namespace: str) -> tuple[str, Any, Any]:
    """Parse one --var/--param/--column into (qualified name, SsisType, value)."""
    from ssisrun.errors import ExpressionError
    from ssisrun.expressions import (
        VARTYPE_BY_NAME,
        parse_variable_value,
        type_for_vartype,
    )
    from ssisrun.expressions.types import TYPE_NAMES

    name, type_name, value = _split_binding(option, text)
    if default_namespace and "::" not in name:
        name = f"{default_namespace}::{name}"
    if option == "--param" and not name.startswith("$"):
        raise click.UsageError(f"--param {text!r}: a parameter is $Package::Name or $Project::Name")
    if type_name is None:
        code = _infer_vartype(value)
    elif type_name.lower() in VARTYPE_BY_NAME:
        code = VARTYPE_BY_NAME[type_name.lower()]
    elif type_name.upper() in TYPE_NAMES:
        return name, *_typed_by_dt(option, text, type_name.upper(), value)
    else:
        known = ", ".join(sorted({n for n, _ in _vartype_names()}))
        raise click.UsageError(f"{option} {text!r}: unknown type {type_name!r}; use one of {known}")
    if code == 13:
        raise click.UsageError(f"{option} {text!r}: an Object cannot be given on the command line")
    try:
        parsed = parse_variable_value(code, value)
    except ExpressionError as exc:
        raise click.UsageError(f"{option} {text!r}: {exc.message}") from None
    return name, type_for_vartype(code), parsed


def _vartype_names() -> list[tuple[str, int]]:
    from ssisrun.expressions import VARTYPES

    return [(n, code) for code, (n, _) in VARTYPES.items() if code not in (0, 1, 13)]


def _typed_by_dt(option: str, text: str, type_name: str, value: str) -> tuple[Any, Any]:
    """A --column given with a DT_ type: the text is cast from DT_WSTR, as a Data Conversion
    would."""
    from ssisrun.expressions import types as t
    from ssisrun.expressions.conversions import EvaluationFault, cast_function

    dtype = t.TYPE_NAMES[type_name]
    if dtype in (t.D.DT_NUMERIC, t.D.DT_DECIMAL):
        _, _, fraction = value.strip().partition(".")
        target = t.numeric(38, len(fraction))
        if dtype is t.D.DT_DECIMAL:
            target = t.SsisType(dtype, precision=29, scale=min(28, len(fraction)))
    elif dtype in (t.D.DT_DBTIME2, t.D.DT_DBTIMESTAMP2, t.D.DT_DBTIMESTAMPOFFSET):
        target = t.SsisType(dtype, scale=7)
    else:
        target = t.make_type(dtype, (4000,) if dtype in (t.D.DT_WSTR, t.D.DT_BYTES) else
                             (4000, 1252) if dtype is t.D.DT_STR else
                             (1252,) if dtype is t.D.DT_TEXT else ())
    converter = cast_function(t.WSTR, target)
    if converter is None:
        raise click.UsageError(f"{option} {text!r}: a {type_name} cannot be given as text")
    try:
        return target, converter(value)
    except EvaluationFault as exc:
        raise click.UsageError(f"{option} {text!r}: {exc}") from None


@click.command("eval")
@click.argument("expression")
@click.option("--var", "variables", multiple=True, metavar="NAME[:TYPE]=VALUE",
              help="A variable the expression reads, e.g. User::Count=5 or "
              "User::Count:Int32=5 (a bare name means User::). Repeatable.")
@click.option("--param", "parameters", multiple=True, metavar="$Package::NAME[:TYPE]=VALUE",
              help="A package or project parameter, e.g. '$Package::Dir=C:\\in' or "
              "'$Project::Retries:Int32=3' (a bare name means $Package::). Repeatable.")
@click.option("--column", "columns", multiple=True, metavar="NAME[:TYPE]=VALUE",
              help="A data-flow column, to try a Derived Column or Conditional Split "
              "expression; TYPE may also be a DT_ type, e.g. Price:DT_NUMERIC=9.99.")
@click.option("--now", metavar="DATETIME",
              help="The time GETDATE() returns, e.g. '2024-01-31 23:59:00' (default: now).")
@click.option("--raw", is_flag=True, help="Print only the value, strings without quotes.")
def eval_command(
    expression: str,
    variables: tuple[str, ...],
    parameters: tuple[str, ...],
    columns: tuple[str, ...],
    now: str | None,
    raw: bool,
) -> int:
    """Evaluate an SSIS EXPRESSION and print its value and SSIS type.

    \b
      ssisrun eval '(DT_WSTR, 10) (@[User::X] * 2)' --var User::X=21
      "42"  DT_WSTR(10)
      ssisrun eval 'DATEADD("mm", 1, (DT_DBTIMESTAMP)"2024-01-31")'
      2024-02-29 00:00:00  DT_DBTIMESTAMP
      ssisrun eval '@[User::N] = @N + 1' --var N=1
      User::N = 2  DT_I4

    A value's type is inferred when none is given: true/false is Boolean, a whole
    number Int32 (Int64 when larger), a decimal number Double, yyyy-mm-dd or
    M/d/yyyy [h:mm:ss] a DateTime, anything else a String. Give the type to be
    sure: Int16, Int32, Int64, Byte, SByte, UInt16, UInt32, UInt64, Single, Double,
    Decimal, Currency, Boolean, DateTime, String, Guid. Strings print as SSIS
    literals ("a\\tb"), NULL as NULL. An expression that does not parse, does not
    type-check or fails to evaluate exits 1 with a caret under the place; a bad
    --var exits 6.
    """
    from ssisrun.expressions import (
        ExpressionScope,
        compile_assignment,
        compile_expression,
        format_value,
        is_assignment,
    )
    from ssisrun.expressions.conversions import EvaluationFault, parse_datetime

    types: dict[str, Any] = {}
    values: dict[str, Any] = {}
    column_types: dict[str, Any] = {}
    for option, items, namespace in (("--var", variables, "User"),
                                     ("--param", parameters, "$Package")):
        for item in items:
            name, type_, value = _binding(option, item, namespace)
            types[name], values[name] = type_, value
    for item in columns:
        name, type_, value = _binding("--column", item, "")
        column_types[name], values[name] = type_, value
    clock = None
    if now is not None:
        try:
            fixed = parse_datetime(now).replace(tzinfo=None)
        except EvaluationFault as exc:
            raise click.UsageError(f"--now {now!r}: {exc}") from None

        def clock() -> datetime:
            return fixed

    scope = ExpressionScope(types, columns=column_types or None)
    if is_assignment(expression):
        assignment = compile_assignment(expression, scope, clock=clock)
        value = assignment.evaluate(values)
        type_ = assignment.target_type
        prefix = f"{assignment.target} = "
    else:
        compiled = compile_expression(expression, scope, clock=clock)
        value = compiled.evaluate(values)
        type_ = compiled.result_type
        prefix = ""
    if raw:
        click.echo("" if value is None else (value if isinstance(value, str)
                                            else format_value(value, type_)))
    else:
        click.echo(f"{prefix}{format_value(value, type_)}  {type_}")
    return 0
