"""The expression engine: API, name resolution, types, operators, functions, and every
behaviour docs/expressions.md says ssisrun chose."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ssisrun.errors import ExpressionError
from ssisrun.expressions import (
    ExpressionScope,
    check_expression,
    compile_assignment,
    compile_expression,
    from_expression_value,
    is_assignment,
    parse_variable_value,
    to_expression_value,
    type_for_typecode,
    type_for_vartype,
)
from ssisrun.expressions import parser as expression_parser
from ssisrun.expressions import types as t

SCOPE = ExpressionScope(
    {
        "User::I": t.I4,
        "User::Count": t.I4,
        "User::S": t.WSTR,
        "User::R": t.R8,
        "User::B": t.BOOL,
        "User::D": t.DATE,
        "User::O": t.UNKNOWN,
        "User::Z": t.I4,
        "$Package::Dir": t.WSTR,
        "$Project::Env": t.WSTR,
    }
)
VALUES: dict[str, Any] = {
    "User::I": 7,
    "User::Count": 3,
    "User::S": "abc",
    "User::R": 2.5,
    "User::B": True,
    "User::D": datetime(2024, 1, 31, 8, 30),
    "User::O": 5,
    "User::Z": 0,
    "$Package::Dir": "C:\\in",
    "$Project::Env": "dev",
    "System::PackageName": "Load",
}


def ev(text: str, values: dict[str, Any] | None = None, scope: Any = SCOPE) -> Any:
    return compile_expression(text, scope).evaluate(VALUES if values is None else values)


def typ(text: str, scope: Any = SCOPE) -> str:
    return str(compile_expression(text, scope).result_type)


def fails(text: str, match: str, scope: Any = SCOPE) -> ExpressionError:
    with pytest.raises(ExpressionError, match=match) as info:
        compile_expression(text, scope).evaluate(VALUES)
    return info.value


# ---- API -------------------------------------------------------------------------------------


def test_compiled_expression_reports_type_names_and_constness() -> None:
    expr = compile_expression('@[$Package::Dir] + "\\\\" + (DT_WSTR, 10) @Count', SCOPE)
    assert str(expr.result_type) == "DT_WSTR"
    assert expr.variables == frozenset({"$Package::Dir", "User::Count"})
    assert expr.columns == frozenset()
    assert not expr.is_constant
    assert expr.evaluate(VALUES) == "C:\\in\\3"
    assert compile_expression("1 + 2 * 3").is_constant


def test_evaluate_many_times_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    expr = compile_expression("@Count * 2 + LEN(@S)", SCOPE)

    def no_parse(*args: Any) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(expression_parser, "get_parser", no_parse)
    assert [expr.evaluate({"User::Count": n, "User::S": "ab"}) for n in range(3)] == [2, 4, 6]


def test_the_parser_is_built_once() -> None:
    assert expression_parser.get_parser() is expression_parser.get_parser()


def test_import_and_version_do_not_import_lark() -> None:
    code = (
        "import sys, ssisrun, ssisrun.expressions, ssisrun.cli; "
        "assert 'lark' not in sys.modules, 'lark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ssisrun", "--version"],
        capture_output=True, text=True, check=True,
    )
    assert "lark" not in out.stderr


def test_parameters_in_every_spelling() -> None:
    assert ev("@[$Package::Dir]") == "C:\\in"
    assert ev("$Package::Dir") == "C:\\in"
    assert ev("@[$project::Env]") == "dev"


def test_unqualified_names_resolve_in_any_namespace() -> None:
    scope = ExpressionScope({"Custom::Rate": t.R8})
    expr = compile_expression("@Rate * 2", scope)
    assert expr.variables == frozenset({"Custom::Rate"})
    assert expr.evaluate({"Custom::Rate": 1.5}) == 3.0
    assert ev("@PackageName") == "Load"  # System::


def test_variable_names_are_case_sensitive() -> None:
    fails("@count + 1", "case-sensitive: did you mean Count")
    fails("@[User::count]", "did you mean User::Count")


def test_function_type_and_boolean_names_are_case_insensitive() -> None:
    assert ev('len("abc") + Len("a")') == 4
    assert ev("(dt_i2)true") == -1
    assert ev('DatePart("MONTH", @D)') == 1


def test_ambiguous_name_is_an_error_unless_asked_to_pick() -> None:
    types = {"User::N": t.I4, "Other::N": t.I4}
    fails("@N", "ambiguous", ExpressionScope(types))
    scope = ExpressionScope(types, ambiguous="first")
    assert compile_expression("@N", scope).variables == frozenset({"User::N"})


def test_columns_need_a_data_flow() -> None:
    fails("Count + 1", "column reference.*@\\[User::Count\\]")
    scope = ExpressionScope({}, columns={"Price": t.numeric(10, 2), "Src.Qty": t.I4})
    expr = compile_expression("Price * [Src].Qty + #12", ExpressionScope(
        {}, columns={"Price": t.numeric(10, 2), "Src.Qty": t.I4, "#12": t.I4}))
    assert expr.columns == frozenset({"Price", "Src.Qty", "#12"})
    assert expr.evaluate({"Price": Decimal("1.50"), "Src.Qty": 2, "#12": 1}) == Decimal("4.00")
    fails("Prise", "not an input column; did you mean Price", scope)


def test_errors_carry_executable_and_property() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("@[User::Nope]", SCOPE, executable="\\Package\\Load",
                           property="SqlStatementSource")
    assert str(info.value).startswith("\\Package\\Load property SqlStatementSource: ")
    expr = compile_expression("10 / @Z", SCOPE, executable="\\Package\\Loop",
                              property="EvalExpression")
    with pytest.raises(ExpressionError) as info:
        expr.evaluate(VALUES)
    assert info.value.executable == "\\Package\\Loop"
    assert info.value.property == "EvalExpression"
    assert info.value.position == 3
    assert str(info.value).endswith("  10 / @Z\n     ^")


def test_a_missing_value_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="no value was given for User::Count"):
        compile_expression("@Count", SCOPE).evaluate({})


def test_boolean_expressions_must_be_boolean() -> None:
    assert compile_expression("@Count > 1", SCOPE, boolean=True).evaluate(VALUES) is True
    with pytest.raises(ExpressionError, match="must be Boolean.*DT_I4"):
        compile_expression("@Count + 1", SCOPE, boolean=True)


def test_check_expression_lists_every_type_error() -> None:
    assert check_expression("@Count > 1", SCOPE, kind="boolean") == []
    errors = check_expression('@Nope + 1 == "a" + 2', SCOPE)
    assert [e.position for e in errors] == [0, 17]
    assert "Nope is not defined" in errors[0].message
    assert "cannot add DT_WSTR and DT_I4" in errors[1].message
    syntax = check_expression("1 +", SCOPE, executable="\\Package")
    assert len(syntax) == 1 and syntax[0].executable == "\\Package"
    assert check_expression("@[User::S] = 1", SCOPE, kind="assignment") == []
    assert check_expression("@Count", SCOPE, kind="boolean")[0].message.startswith(
        "the expression must be Boolean"
    )


def test_assignment_casts_to_the_target_type() -> None:
    step = compile_assignment("@[User::S] = @Count * 2", SCOPE)
    assert (step.target, str(step.target_type)) == ("User::S", "DT_WSTR")
    assert step.evaluate(VALUES) == "6"
    assert step.variables == frozenset({"User::Count"})
    loop = compile_assignment("@Count := @Count + 1", SCOPE)
    assert loop.target == "User::Count" and loop.evaluate(VALUES) == 4
    assert compile_assignment("@[User::I] = 2.6", SCOPE).evaluate({}) == 3
    with pytest.raises(ExpressionError, match="cannot cast DT_DBTIMESTAMP to DT_I4"):
        compile_assignment("@[User::I] = GETDATE()", SCOPE)
    with pytest.raises(ExpressionError, match="read-only"):
        compile_assignment("@[System::PackageName] = \"x\"", SCOPE)
    # an event handler may stop an error from propagating
    assert compile_assignment("@[System::Propagate] = FALSE", SCOPE).evaluate({}) is False
    with pytest.raises(ExpressionError, match="expected '='"):
        compile_assignment("@Count", SCOPE)


def test_is_assignment() -> None:
    assert is_assignment("@[User::X] = 1")
    assert is_assignment(" @i:=@i+1")
    assert not is_assignment("@[$Project::Run] == True")
    assert not is_assignment("1 = 1")


def test_getdate_reads_the_given_clock() -> None:
    now = datetime(2024, 2, 29, 13, 14, 15, 123456)
    expr = compile_expression("GETDATE()", clock=lambda: now)
    assert expr.evaluate() == datetime(2024, 2, 29, 13, 14, 15, 123000)
    assert not expr.is_constant
    utc = compile_expression(
        "GETUTCDATE()", clock=lambda: datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    )
    assert utc.evaluate() == datetime(2024, 1, 1, 10)


# ---- syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\a\\b\\f\\n\\r\\t\\v\\"\\\\"', "\a\b\f\n\r\t\v\"\\"),
        ('"\\x41\\x0042"', "AB"),
        ('"tab\\there"', "tab\there"),
        ('"é"', "é"),
    ],
)
def test_string_escapes(text: str, expected: str) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "type_name", "value"),
    [
        ("37", "DT_I4", 37),
        ("37u", "DT_UI4", 37),
        ("37L", "DT_I8", 37),
        ("37UL", "DT_UI8", 37),
        ("37lu", "DT_UI8", 37),
        ("0xFF", "DT_I4", 255),
        ("0X10U", "DT_UI4", 16),
        ("1E5", "DT_R8", 100000.0),
        ("13e-2f", "DT_R4", 0.12999999523162842),
        ("1.E-4f", "DT_R4", 9.999999747378752e-05),
        (".89E-2l", "DT_R8", 0.0089),
        ("6.", "DT_NUMERIC(1,0)", Decimal("6")),
        ("0.346", "DT_NUMERIC(3,3)", Decimal("0.346")),
        ("TRUE", "DT_BOOL", True),
        ("False", "DT_BOOL", False),
        ("NULL(DT_NUMERIC, 10, 3)", "DT_NUMERIC(10,3)", None),
        ("NULL(DT_STR, 10, 1252)", "DT_STR(10,1252)", None),
    ],
)
def test_literals(text: str, type_name: str, value: Any) -> None:
    expr = compile_expression(text)
    assert str(expr.result_type) == type_name
    assert expr.evaluate() == value


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("2147483648", "does not fit DT_I4 \\(add the suffix L", 0),
        ("4294967296u", "does not fit DT_UI4", 0),
        ("37lul", "invalid integer suffix", 0),
        ('"a\\qb"', "unknown escape sequence '\\\\q'", 2),
        ('"abc', "not closed with a double quote", 0),
        ("'abc'", "double quotes, not single quotes", 0),
        ("@a = 1", "compare with '=='", 3),
        ("1 !> 2", "unexpected", 2),
        ("(DT_WSTR)@S", "DT_WSTR needs length", 1),
        ("(DT_I4, 4)1", "DT_I4 takes no parameters", 1),
        ("(DT_NUMERIC, 3, 5)1", "scale cannot exceed its precision", 1),
        ("(DT_WSTR, 0)1", "between 1 and 4000", 1),
        ("(DT_NOPE)1", "unknown data type DT_NOPE", 1),
        ("LEN(DT_I4)", "LEN\\(\\) does not take a type", 4),
        ("@User::S", "must be bracketed: @\\[User::S\\]", 0),
        ("", "empty", 0),
        ("+5", "unary '\\+' is not an SSIS operator", 0),
        ("(DT_X + 1)", "unexpected '\\+'; expected '\\)' or ','", 6),
        ("1 + ", "ends too early", 3),
    ],
)
def test_syntax_errors_point_at_the_problem(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        compile_expression(text, SCOPE)
    assert info.value.position == position


def test_a_column_named_like_a_type_is_bracketed() -> None:
    scope = ExpressionScope({}, columns={"DT_X": t.I4})
    assert compile_expression("([DT_X] + 1)", scope).evaluate({"DT_X": 1}) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("100 / 10 / 5", 2),
        ("1 | 2 ^ 3 & 6", 1 | (2 ^ (3 & 6))),
        ("1 < 2 == 2 > 1", True),
        ("TRUE || FALSE && FALSE", True),
        ("FALSE ? 1 : TRUE ? 2 : 3", 2),
        ("-(DT_I4)2.6", -3),
        ("(DT_I4)-2.5", -3),
        ("!TRUE == FALSE", True),
        ("~0 & 7", 7),
        ("(DT_WSTR, 1)1 + (DT_WSTR, 1)2", "12"),
    ],
)
def test_precedence_and_associativity(text: str, expected: Any) -> None:
    assert ev(text) == expected


# ---- types, promotion, casts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "type_name"),
    [
        ("(DT_I2)1 + (DT_I4)1", "DT_I4"),
        ("(DT_UI1)1 + (DT_I1)1", "DT_I2"),
        ("(DT_UI2)1 + (DT_I2)1", "DT_I4"),
        ("(DT_UI4)1 + 1", "DT_I8"),
        ("(DT_UI4)1 + (DT_UI2)1", "DT_UI4"),
        ("1 + 1.5f", "DT_R8"),
        ("(DT_I2)1 + 1.5f", "DT_R4"),
        ("1 + 1.5L", "DT_R8"),
        ("(DT_CY)1 + 1", "DT_CY"),
        ("1 + 1.25", "DT_NUMERIC(13,2)"),
        ("1.5 * 2.25", "DT_NUMERIC(6,3)"),
        ("(DT_DECIMAL, 2)1 + (DT_DECIMAL, 2)1", "DT_NUMERIC(30,2)"),
        ('"ab" + "cde"', "DT_WSTR"),
        ('(DT_WSTR, 2)"ab" + (DT_WSTR, 3)"cde"', "DT_WSTR(5)"),
        ('(DT_STR, 2, 1252)"ab"', "DT_STR(2,1252)"),
        ('TRUE ? (DT_WSTR, 2)"ab" : (DT_STR, 5, 1252)"cde"', "DT_WSTR(5)"),
        ("TRUE ? 1 : 2.5", "DT_NUMERIC(11,1)"),
        ("@D > (DT_DBDATE)\"2024-01-01\"", "DT_BOOL"),
        ("ISNULL(@S)", "DT_BOOL"),
        ("SQUARE((DT_I2)3)", "DT_R8"),
    ],
)
def test_result_types(text: str, type_name: str) -> None:
    assert typ(text) == type_name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(DT_UI8)1 + 1", "DT_UI8 with a signed integer; cast one side"),
        ('"a" + 1', "cannot add DT_WSTR and DT_I4: cast the DT_I4"),
        ('"a" + GETDATE()', "cannot add DT_WSTR and DT_DBTIMESTAMP"),
        ("TRUE + 1", "needs numbers, not DT_BOOL and DT_I4"),
        ("1 && TRUE", "&& needs Boolean operands, not DT_I4"),
        ("!1", "! needs a Boolean"),
        ("~1.5", "~ needs an integer"),
        ("-(DT_UI4)1", "cannot negate an unsigned DT_UI4"),
        ("1.5 % 2", "% needs integers"),
        ("1.5 & 2", "bitwise operator & needs integers"),
        ('1 == "1"', "cannot compare DT_I4 with DT_WSTR"),
        ("TRUE < FALSE", "cannot order DT_BOOL"),
        ('(DT_DBTIME)"10:00:00" < GETDATE()', "cannot mix a time"),
        ('TRUE ? 1 : "a"', "incompatible types DT_I4 and DT_WSTR"),
        ("1 ? 2 : 3", "condition before \\? must be Boolean"),
        ("(DT_I4)GETDATE()", "cannot cast DT_DBTIMESTAMP to DT_I4"),
        ("(DT_BOOL)GETDATE()", "cannot cast DT_DBTIMESTAMP to DT_BOOL"),
    ],
)
def test_type_errors(text: str, message: str) -> None:
    fails(text, message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(DT_I4)3.57", 4),
        ("(DT_I4)3.5L", 4),
        ("(DT_I4)-3.5L", -4),
        ("(DT_I4)TRUE", -1),
        ("(DT_I4)FALSE", 0),
        ("(DT_UI1)TRUE", 255),
        ("(DT_UI4)TRUE", 4294967295),
        ("(DT_I8)\" 42 \"", 42),
        ("(DT_I4)\"4.5\"", 5),
        ("(DT_BOOL)5", True),
        ("(DT_BOOL)0.0", False),
        ('(DT_BOOL)"TRUE"', True),
        ('(DT_BOOL)"false"', False),
        ('(DT_BOOL)"0"', False),
        ('(DT_WSTR, 3)"abcdef"', "abc"),
        ('(DT_STR, 5, 1252)"aą"', "a?"),
        ("(DT_WSTR, 5)TRUE", "True"),
        ("(DT_WSTR, 20)1E16L", "1E+16"),
        ("(DT_WSTR, 20)0.1L", "0.1"),
        ("(DT_WSTR, 20)(0.1L + 0.2L)", "0.3"),
        ("(DT_WSTR, 20)1.5f", "1.5"),
        ("(DT_WSTR, 20)(DT_NUMERIC, 10, 3)1.5", "1.500"),
        ("(DT_NUMERIC, 5, 2)1.005", Decimal("1.01")),
        ("(DT_DECIMAL, 1)2.25", Decimal("2.3")),
        ("(DT_CY)1.23456", Decimal("1.2346")),
        ("(DT_R4)0.1", 0.10000000149011612),
        ("(DT_R8)\"2.5\"", 2.5),
        ('(DT_WSTR, 30)(DT_DBTIMESTAMP)"2005-03-04 11:06:18.123"', "2005-03-04 11:06:18.123000000"),
        ('(DT_WSTR, 30)(DT_DBTIMESTAMP)"2005-03-04 11:06:18"', "2005-03-04 11:06:18"),
        ('(DT_WSTR, 30)(DT_DATE)"2005-03-04 23:06:18"', "3/4/2005 11:06:18 PM"),
        ('(DT_WSTR, 30)(DT_DATE)"2005-03-04"', "3/4/2005"),
        ('(DT_WSTR, 10)(DT_DBDATE)"3/4/2005 10:00"', "2005-03-04"),
        ('(DT_WSTR, 10)(DT_DBTIME)"10:11:12.5"', "10:11:12"),
        ('(DT_WSTR, 20)(DT_DBTIME2, 3)"10:11:12.5"', "10:11:12.500"),
        ('(DT_WSTR, 40)(DT_DBTIMESTAMP2, 2)"2024-01-02 03:04:05.678"', "2024-01-02 03:04:05.67"),
        ('(DT_WSTR, 40)(DT_DBTIMESTAMPOFFSET, 1)"2024-01-02 03:04:05.6 + 5:30"',
         "2024-01-02 03:04:05.6 +05:30"),
        ('(DT_WSTR, 40)(DT_FILETIME)"2024-01-02 03:04:05.678"', "2024-01-02 03:04:05:678"),
        ('(DT_WSTR, 40)(DT_GUID)"6f9619ff-8b86-d011-b42d-00c04fc964ff"',
         "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"),
        ('(DT_DBDATE)"30.12.1899 0:00:00"', date(1899, 12, 30)),
        ('(DT_DBTIMESTAMP)"1/2/2003 4:05 PM"', datetime(2003, 1, 2, 16, 5)),
        ('(DT_DBTIMESTAMP)"2003-01-02T04:05:06"', datetime(2003, 1, 2, 4, 5, 6)),
        ('(DT_DBTIME)(DT_DBTIMESTAMP)"2003-01-02 04:05:06"', time(4, 5, 6)),
        ('(DT_DBTIMESTAMP)(DT_DBDATE)"2003-01-02"', datetime(2003, 1, 2)),
        ('(DT_DBTIMESTAMPOFFSET, 0)(DT_DBDATE)"2003-01-02"',
         datetime(2003, 1, 2, tzinfo=UTC)),
        ("(DT_DATE)2.5", datetime(1900, 1, 1, 12)),
        ('(DT_BYTES, 4)"AB"', b"A\x00B\x00"),
    ],
)
def test_casts(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(DT_I1)200", "200 overflows DT_I1"),
        ("(DT_UI4)-1", "-1 overflows DT_UI4"),
        ('(DT_I4)"abc"', "'abc' is not a number"),
        ('(DT_BOOL)"yes"', "is not a Boolean"),
        ("(DT_NUMERIC, 3, 1)123.4", "does not fit DT_NUMERIC\\(3,1\\)"),
        ('(DT_DBDATE)"2024-02-30"', "is not a valid date"),
        ('(DT_DBDATE)"tomorrow"', "is not a date"),
        ('(DT_GUID)"x"', "is not a GUID"),
        ("(DT_R4)1E300L", "overflows DT_R4"),
        ("(DT_I4)@R * 1000000000", "overflows DT_I4"),
    ],
)
def test_cast_errors(text: str, message: str) -> None:
    fails(text, message)


# ---- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-7 / 2", -3),
        ("-7 % 2", -1),
        ("7 % -2", 1),
        ("7 / 2", 3),
        ("7.0 / 2", Decimal("3.500000000000")),  # scale max(6, s1 + p2 + 1) = 12
        ("7 / 2.0L", 3.5),
        ("~(DT_UI1)1", 254),
        ("~ 170", -171),
        ("-NULL(DT_I4)", None),
        ("NULL(DT_I4) + 1", None),
        ('"a" + NULL(DT_WSTR, 1)', None),
        ("NULL(DT_I4) < 1", None),
        ('"abc" < "abd"', True),
        ('"B" < "a"', True),
        ('@D == "1/31/2024 8:30 AM"', True),
        ('@D > (DT_DBDATE)"2024-01-31"', True),
        ('(DT_DBTIMESTAMPOFFSET, 0)"2024-01-01 10:00 +02:00" == '
         '(DT_DBTIMESTAMP)"2024-01-01 08:00"', True),
        ("(DT_GUID)\"6f9619ff-8b86-d011-b42d-00c04fc964ff\" == "
         "(DT_GUID)\"{6F9619FF-8B86-D011-B42D-00C04FC964FF}\"", True),
        ("@O + 1", 6),
    ],
)
def test_operators(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


@pytest.mark.parametrize(
    ("a", "b", "and_", "or_"),
    [
        ("TRUE", "TRUE", True, True),
        ("TRUE", "FALSE", False, True),
        ("FALSE", "TRUE", False, True),
        ("FALSE", "FALSE", False, False),
        ("NULL(DT_BOOL)", "NULL(DT_BOOL)", None, None),
        ("NULL(DT_BOOL)", "TRUE", None, True),
        ("TRUE", "NULL(DT_BOOL)", None, True),
        ("NULL(DT_BOOL)", "FALSE", False, None),
        ("FALSE", "NULL(DT_BOOL)", False, None),
    ],
)
def test_three_valued_logic(a: str, b: str, and_: bool | None, or_: bool | None) -> None:
    assert ev(f"{a} && {b}") is and_
    assert ev(f"{a} || {b}") is or_
    assert ev(f"@B && {b}", {"User::B": ev(a)}) is and_  # the same, not constant-folded


def test_logical_operators_short_circuit_and_the_conditional_evaluates_one_branch() -> None:
    assert ev("FALSE && 1 / @Z == 1") is False
    assert ev("TRUE || 1 / @Z == 1") is True
    assert ev("@Z == 0 ? 0 : 10 / @Z") == 0
    fails("TRUE && 1 / @Z == 1", "division by zero")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2147483647 + @Count", "overflows DT_I4"),
        ("-(-2147483647 - 1 + @Z)", "overflows DT_I4"),
        ("10 / @Z", "division by zero"),
        ("10 % @Z", "modulo by zero"),
        ("1.5 / (@Z + 0.0)", "division by zero"),
        ("1E308L * 10 * (DT_R8)@Count", "overflows DT_R8"),
    ],
)
def test_arithmetic_errors(text: str, message: str) -> None:
    fails(text, message)


def test_constant_errors_are_compile_time_errors() -> None:
    with pytest.raises(ExpressionError, match="division by zero") as info:
        compile_expression("@Count + 1 / 0", SCOPE)
    assert info.value.position == 11  # the /


# ---- functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABS((DT_I2)-5)", 5),
        ("ABS(-2.5L)", 2.5),
        ("CEILING(5)", 5),
        ("FLOOR(-2.5L)", -3.0),
        ("ROUND(2.5, 0)", Decimal("3.0")),
        ("ROUND(-2.5, 0)", Decimal("-3.0")),
        ("ROUND(2.345L, 2)", 2.35),
        ("ROUND(12, 1)", 12),
        ("SIGN(5u)", 1),
        ("SIGN(0)", 0),
        ("POWER(-8, 0.5)", None),
        ("POWER(2, -1)", 0.5),
        ("POWER(9, 0.5)", 3.0),
        ("LN(NULL(DT_R8))", None),
        ("HEX((DT_I2)-1)", "FFFF"),
        ("HEX((DT_UI1)255)", "FF"),
        ("HEX(-1L)", "FFFFFFFFFFFFFFFF"),
        ('CODEPOINT("😀")', 0xD83D),
        ('LEN("😀a")', 2),
        ('SUBSTRING("abc", 5, 2)', ""),
        ('SUBSTRING("abc", 3, 0)', ""),
        ('FINDSTRING("aaa", "aa", 2)', 2),
        ('FINDSTRING("abc", "", 1)', 0),
        ('TOKEN("a,,b", ",", 2)', "b"),
        ('TOKENCOUNT("a,,b,", ",")', 2),
        ('TOKENCOUNT("abc", "")', 1),
        ('TOKENCOUNT("abc", NULL(DT_WSTR, 1))', 0),
        ('TOKEN("abc", ",", 2)', ""),
        ('LTRIM(" \\t a ")', "\t a "),
        ('TRIM("  a b  ")', "a b"),
        ('UPPER("straße")', "STRASSE"),
        ('REPLACE("aaa", "a", "")', ""),
        ('RIGHT("abc", 0)', ""),
        ('RIGHT("abc", 5)', "abc"),
        ("LEN(REPLICATE(\"x\", 5000))", 5000),
        ('REPLACENULL(NULL(DT_I4), "5")', 5),
        ('REPLACENULL(@S, "x")', "abc"),
        ('ISNULL(NULL(DT_STR, 4, 1252)) ? "y" : (DT_STR, 4, 1252)"n"', "y"),
        ('TRUE ? (DT_STR,9,1252)NULL(DT_STR,9,1252) : "x"', None),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('SUBSTRING("abc", 0, 1)', "start position greater than 0, not 0"),
        ('SUBSTRING("abc", 1, -1)', "length of 0 or more"),
        ('FINDSTRING("abc", "a", 0)', "occurrence greater than 0"),
        ('TOKEN("abc", ",", 0)', "occurrence greater than 0"),
        ('RIGHT("abc", -1)', "length of 0 or more"),
        ('REPLICATE("x", -1)', "count of 0 or more"),
        ("ROUND(1.5, -1)", "length of 0 or more"),
        ("POWER(0, -1)", "zero to a negative power"),
        ("SQRT(-4)", "SQRT of a negative number"),
        ("EXP(1000)", "overflows DT_R8"),
        ("ABS((DT_I1)-128)", "128 overflows DT_I1"),
        ("LEN(5)", "LEN needs a string as argument 1, not DT_I4; cast it"),
        ('LEFT("a", 1.5)', "LEFT needs an integer as argument 2, not DT_NUMERIC"),
        ('ABS("a")', "ABS needs a number"),
        ("HEX(1.5)", "HEX needs an integer"),
        ("SUBSTRING(\"a\", 1)", "SUBSTRING takes three arguments .*not 2"),
        ("FOO(1)", "unknown function FOO"),
        ("LENN(\"a\")", "unknown function LENN; did you mean LEN"),
        ("NULL(1)", "NULL needs a data type"),
        ("REPLACENULL(1, GETDATE())", "cannot convert DT_DBTIMESTAMP to DT_I4"),
    ],
)
def test_function_errors(text: str, message: str) -> None:
    fails(text, message)


@pytest.mark.parametrize(
    "part",
    ["year", "yy", "yyyy", "quarter", "qq", "q", "month", "mm", "m", "dayofyear", "dy", "y",
     "day", "dd", "d", "week", "wk", "ww", "weekday", "dw", "w", "hour", "hh", "minute", "mi",
     "n", "second", "ss", "s", "millisecond", "ms", "Month", "MM", "Hh", "Ms"],
)
def test_every_datepart_name_and_abbreviation(part: str) -> None:
    value = datetime(2024, 3, 17, 13, 14, 15, 678000)  # a Sunday, day 77, week 12
    expected = {
        "year": 2024, "quarter": 1, "month": 3, "dayofyear": 77, "day": 17, "week": 12,
        "weekday": 1, "hour": 13, "minute": 14, "second": 15, "millisecond": 678,
    }
    canonical = {
        "yy": "year", "yyyy": "year", "qq": "quarter", "q": "quarter", "mm": "month",
        "m": "month", "dy": "dayofyear", "y": "dayofyear", "dd": "day", "d": "day",
        "wk": "week", "ww": "week", "dw": "weekday", "w": "weekday", "hh": "hour",
        "mi": "minute", "n": "minute", "ss": "second", "s": "second", "ms": "millisecond",
    }.get(part.lower(), part.lower())
    scope = ExpressionScope({"User::T": t.SsisType(t.D.DT_DBTIMESTAMP2, scale=3)})
    assert ev(f'DATEPART("{part}", @T)', {"User::T": value}, scope) == expected[canonical]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('DATEADD("mm", 1, (DT_DBTIMESTAMP)"2024-01-31")', datetime(2024, 2, 29)),
        ('DATEADD("yy", 1, (DT_DBTIMESTAMP)"2024-02-29")', datetime(2025, 2, 28)),
        ('DATEADD("q", -1, (DT_DBTIMESTAMP)"2024-05-31")', datetime(2024, 2, 29)),
        ('DATEADD("wk", 2, (DT_DBDATE)"2024-01-01")', datetime(2024, 1, 15)),
        ('DATEADD("dw", 1, (DT_DBTIMESTAMP)"2024-12-31")', datetime(2025, 1, 1)),
        ('DATEADD("hh", -1, (DT_DBTIMESTAMP)"2024-01-01")', datetime(2023, 12, 31, 23)),
        ('DATEADD("ms", 1500, (DT_DBTIMESTAMP)"2024-01-01")',
         datetime(2024, 1, 1, 0, 0, 1, 500000)),
        ('DATEADD("d", 1, (DT_DBTIMESTAMPOFFSET, 0)"2024-01-01 10:00 +05:00")',
         datetime(2024, 1, 2, 10)),
        ('DATEDIFF("yy", (DT_DBTIMESTAMP)"2023-12-31", (DT_DBTIMESTAMP)"2024-01-01")', 1),
        ('DATEDIFF("q", (DT_DBTIMESTAMP)"2024-03-31", (DT_DBTIMESTAMP)"2024-04-01")', 1),
        ('DATEDIFF("mm", (DT_DBTIMESTAMP)"2024-01-31", (DT_DBTIMESTAMP)"2024-02-01")', 1),
        ('DATEDIFF("wk", (DT_DBTIMESTAMP)"2024-03-16", (DT_DBTIMESTAMP)"2024-03-17")', 1),
        ('DATEDIFF("wk", (DT_DBTIMESTAMP)"2024-03-17", (DT_DBTIMESTAMP)"2024-03-23")', 0),
        ('DATEDIFF("hh", (DT_DBTIMESTAMP)"2024-01-01 10:59", '
         '(DT_DBTIMESTAMP)"2024-01-01 11:00")', 1),
        ('DATEDIFF("mi", (DT_DBTIMESTAMP)"2024-01-01 11:00", (DT_DBTIMESTAMP)"2024-01-01 10:00")',
         -60),
        ('DATEDIFF("ss", (DT_DBDATE)"2024-01-01", (DT_DBTIMESTAMP)"2024-01-01 00:01")', 60),
        ('DATEDIFF("ms", (DT_DBTIMESTAMP)"2024-01-01", (DT_DBTIMESTAMP)"2024-01-01 00:00:01.5")',
         1500),
        ('DATEDIFF("hh", (DT_DBTIMESTAMPOFFSET,0)"2024-01-01 10:00 +02:00", '
         '(DT_DBTIMESTAMP)"2024-01-01 10:00")', 2),
        ('DATEPART("dw", (DT_DBDATE)"2024-03-18")', 2),
        ('DATEPART("wk", (DT_DBDATE)"2024-01-06")', 1),
        ('DATEPART("wk", (DT_DBDATE)"2024-01-07")', 2),
        ('DAY((DT_DBDATE)"2024-03-18")', 18),
        ("YEAR(@D)", 2024),
        ('DATEPART("hh", (DT_DBTIME)"13:00:00")', 13),
    ],
)
def test_date_functions(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('DATEPART("fortnight", @D)', "'fortnight' is not a datepart"),
        ("DATEPART(@S, @D)", "datepart as a literal string"),
        ("DATEPART(1, @D)", "datepart string"),
        ('DATEADD("d", 1, "2024-01-01")', "needs a date as argument 3, not DT_WSTR; cast it"),
        ('DATEADD("yy", 9000, @D)', "beyond the year 9999"),
        ('DATEDIFF("ms", (DT_DBDATE)"1900-01-01", (DT_DBDATE)"2000-01-01")', "overflows DT_I4"),
        ('YEAR((DT_DBTIMESTAMPOFFSET, 3)"2024-01-01")', "does not accept DT_DBTIMESTAMPOFFSET"),
        ('MONTH((DT_DBTIME)"10:00:00")', "needs a date, not the time type DT_DBTIME"),
        ('DATEDIFF("d", (DT_DBTIME)"10:00", GETDATE())', "cannot mix a time"),
    ],
)
def test_date_function_errors(text: str, message: str) -> None:
    fails(text, message)


# ---- variables and parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [(2, "DT_I2"), (3, "DT_I4"), (4, "DT_R4"), (5, "DT_R8"), (6, "DT_CY"), (7, "DT_DATE"),
     (8, "DT_WSTR"), (11, "DT_BOOL"), (13, "UNKNOWN"), (14, "DT_DECIMAL"), (16, "DT_I1"),
     (17, "DT_UI1"), (18, "DT_UI2"), (19, "DT_UI4"), (20, "DT_I8"), (21, "DT_UI8"),
     (72, "DT_GUID"), (99, "UNKNOWN")],
)
def test_vartype_codes(code: int, name: str) -> None:
    assert type_for_vartype(code).name == name


def test_typecodes_of_project_parameters() -> None:
    assert [type_for_typecode(c).name for c in (3, 9, 11, 14, 15, 16, 18, 1)] == [
        "DT_BOOL", "DT_I4", "DT_I8", "DT_R8", "DT_DECIMAL", "DT_DATE", "DT_WSTR", "UNKNOWN"
    ]


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (11, "-1", True),
        (11, "0", False),
        (11, "True", True),
        (3, "42", 42),
        (3, "", 0),
        (5, "2.5", 2.5),
        (14, "1.50", Decimal("1.50")),
        (7, "1/19/2018 10:12:41 AM", datetime(2018, 1, 19, 10, 12, 41)),
        (7, "9/9/2011", datetime(2011, 9, 9)),
        (8, "", ""),
        (72, "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
         uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
    ],
)
def test_parse_variable_value(code: int, text: str, expected: Any) -> None:
    assert parse_variable_value(code, text) == expected


def test_parse_variable_value_rejects_a_bad_value() -> None:
    with pytest.raises(ExpressionError, match="not a valid Int32 value"):
        parse_variable_value(3, "abc")


def test_values_to_and_from_variables() -> None:
    assert to_expression_value(3, "5") == (t.I4, 5)
    assert to_expression_value(5, 2) == (t.R8, 2.0)
    assert to_expression_value(13, [1]) == (t.UNKNOWN, [1])
    with pytest.raises(ExpressionError, match="Int16 variable cannot hold 70000"):
        to_expression_value(2, 70000)
    assert from_expression_value(3, 2.6, t.R8) == 3
    assert from_expression_value(8, 42, t.I4) == "42"
    assert from_expression_value(11, "true", t.WSTR) is True
    assert from_expression_value(7, datetime(2024, 1, 2, 3, 4, 5, 678901), t.DBTIMESTAMP) == (
        datetime(2024, 1, 2, 3, 4, 5, 678000)
    )
    assert from_expression_value(14, Decimal("1.23456"), t.numeric(6, 5)) == Decimal("1.23456")
    assert from_expression_value(13, "anything", t.WSTR) == "anything"
    with pytest.raises(ExpressionError, match="NULL, which a Int32 variable cannot hold"):
        from_expression_value(3, None, t.I4)
    with pytest.raises(ExpressionError, match="DT_DBTIMESTAMP result cannot be assigned"):
        from_expression_value(3, datetime(2024, 1, 1), t.DBTIMESTAMP)
    with pytest.raises(ExpressionError, match="overflows DT_I2"):
        from_expression_value(2, 70000, t.I4)
