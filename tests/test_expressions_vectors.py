"""The 133 test vectors of the expression spec (ssis-expressions-catalog-scaleout.md, 1.11),
copied here as data: expression, bindings, expected value and SSIS type.

Bindings: ``@Name`` variables are ``User::Name``; bare names are data-flow columns. A binding
is ``name: (type, value)``. ``ERROR`` means the expression must be rejected (at compile time
or evaluation); where the spec leaves a choice the vector uses ssisrun's documented choice
(docs/expressions.md).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from ssisrun.errors import ExpressionError
from ssisrun.expressions import ExpressionScope, SsisType, compile_expression
from ssisrun.expressions import types as t

ERROR = object()
I2, I4, R8, WSTR = t.I2, t.I4, t.R8, t.WSTR
NUM = t.numeric(10, 2)

Binding = dict[str, tuple[SsisType, Any]]
#: (number, expression, variables, columns, expected, type name)
VECTORS: list[tuple[int, str, Binding, Binding, Any, str | None]] = [
    (1, "(5 + 5) * (4 + 6)", {}, {}, 100, "DT_I4"),
    (2, "5 + 5 * 4 + 6", {}, {}, 31, "DT_I4"),
    (3, "42 % 13", {}, {}, 3, "DT_I4"),
    (4, '@Value % 2 == 0? "even":"odd"', {"Value": (I4, 7)}, {}, "odd", "DT_WSTR"),
    (5, "3 & 5", {}, {}, 1, "DT_I4"),
    (6, "NumberA & NumberB", {}, {"NumberA": (I4, 3), "NumberB": (I4, 7)}, 3, "DT_I4"),
    (7, "ReorderPoint & SafetyStockLevel", {},
     {"ReorderPoint": (I2, 10), "SafetyStockLevel": (I2, 8)}, 8, "DT_I2"),
    (8, "3 | 5", {}, {}, 7, "DT_I4"),
    (9, "@NumberA | @NumberB", {"NumberA": (I4, 3), "NumberB": (I4, 9)}, {}, 11, "DT_I4"),
    (10, "ReorderPoint | SafetyStockLevel", {},
     {"ReorderPoint": (I2, 10), "SafetyStockLevel": (I2, 8)}, 10, "DT_I2"),
    (11, "3 ^ 5", {}, {}, 6, "DT_I4"),
    (12, "@NumberA ^ @NumberB", {"NumberA": (I4, 3), "NumberB": (I4, 7)}, {}, 4, "DT_I4"),
    (13, "ReorderPoint ^ SafetyStockLevel", {},
     {"ReorderPoint": (I2, 10), "SafetyStockLevel": (I2, 8)}, 2, "DT_I2"),
    (14, "~ 170", {}, {}, -171, "DT_I4"),
    (15, "-@Counter + 50", {"Counter": (I4, 8)}, {}, 42, "DT_I4"),
    (16, "ABS(-1.23)", {}, {}, Decimal("1.23"), "DT_NUMERIC"),
    (17, "ABS(1.23)", {}, {}, Decimal("1.23"), "DT_NUMERIC"),
    (18, "CEILING(123.74)", {}, {}, Decimal("124.00"), "DT_NUMERIC"),
    (19, "CEILING(-124.27)", {}, {}, Decimal("-124.00"), "DT_NUMERIC"),
    (20, "CEILING(0.00)", {}, {}, Decimal("0.00"), "DT_NUMERIC"),
    (21, "FLOOR(123.45)", {}, {}, Decimal("123.00"), "DT_NUMERIC"),
    (22, "FLOOR(-123.45)", {}, {}, Decimal("-124.00"), "DT_NUMERIC"),
    (23, "FLOOR(0.00)", {}, {}, Decimal("0.00"), "DT_NUMERIC"),
    (24, "EXP(74)", {}, {}, 1.373382979540176e32, "DT_R8"),
    (25, "EXP(-27)", {}, {}, 1.879528816539083e-12, "DT_R8"),
    (26, "EXP(0)", {}, {}, 1.0, "DT_R8"),
    # the spec prints 3.737766961828337 (one 7 too many); ln(42) = 3.7376696182833684
    (27, "LN(42)", {}, {}, 3.7376696182833684, "DT_R8"),
    (28, "LN(Length)", {}, {"Length": (NUM, Decimal("53.99"))}, 3.9887988442301956, "DT_R8"),
    (29, "LN(@Length)", {"Length": (R8, 234.567)}, {}, 5.457741261363495, "DT_R8"),
    (30, "LN(0)", {}, {}, None, "DT_R8"),
    (31, "LOG(97.34)", {}, {}, 1.988291341907488, "DT_R8"),
    (32, "LOG(Length)", {}, {"Length": (NUM, Decimal("101.24"))}, 2.005352136486217, "DT_R8"),
    (33, "LOG(@Length)", {"Length": (R8, 234.567)}, {}, 2.370266913465859, "DT_R8"),
    (34, "LOG(-5)", {}, {}, None, "DT_R8"),
    (35, "POWER(4,3)", {}, {}, 64.0, "DT_R8"),
    (36, "POWER(Length, @DimensionCount)", {"DimensionCount": (I4, 2)},
     {"Length": (I4, 8)}, 64.0, "DT_R8"),
    (37, "ROUND(137.1574,3)", {}, {}, Decimal("137.1570"), "DT_NUMERIC"),
    (38, "ROUND(137.1575,3)", {}, {}, Decimal("137.1580"), "DT_NUMERIC"),
    (39, "SIGN(-123.45)", {}, {}, -1, "DT_I4"),
    (40, "SQRT(144)", {}, {}, 12.0, "DT_R8"),
    (41, "SQRT(SQUARE(@Side1) + SQUARE(@Side2))", {"Side1": (I4, 3), "Side2": (I4, 4)}, {},
     5.0, "DT_R8"),
    (42, "SQUARE(12)", {}, {}, 144.0, "DT_R8"),
    (43, "SQUARE(Value1 - Value2)", {}, {"Value1": (I4, 12), "Value2": (I4, 4)}, 64.0, "DT_R8"),
    (44, 'CODEPOINT("Mountain Bike")', {}, {}, 77, "DT_UI2"),
    (45, "CODEPOINT(@Name)", {"Name": (WSTR, "Touring Front Wheel")}, {}, 84, "DT_UI2"),
    (46, 'CODEPOINT("")', {}, {}, None, "DT_UI2"),
    (47, 'FINDSTRING("New York, NY, NY", "NY", 1)', {}, {}, 11, "DT_I4"),
    (48, 'FINDSTRING("New York, NY, NY", "NY", 3)', {}, {}, 0, "DT_I4"),
    (49, 'FINDSTRING(Name, "n", 2)', {}, {"Name": (WSTR, "Anderson")}, 8, "DT_I4"),
    (50, "FINDSTRING(Name,Size,1)", {},
     {"Name": (WSTR, "Mountain,500Red,42"), "Size": (WSTR, "42")}, 17, "DT_I4"),
    (51, "HEX(400)", {}, {}, "190", "DT_WSTR"),
    (52, "HEX(ReorderPoint)", {}, {"ReorderPoint": (I2, 750)}, "2EE", "DT_WSTR"),
    (53, "HEX(@LocaleID)", {}, {}, "409", "DT_WSTR"),  # System::LocaleID
    (54, 'LEFT("Mountain Bike", 8)', {}, {}, "Mountain", "DT_WSTR"),
    (55, 'LEFT("Bike", 10)', {}, {}, "Bike", "DT_WSTR"),
    (56, 'LEFT("Bike", 0)', {}, {}, "", "DT_WSTR"),
    (57, 'LEN("Ball Bearing")', {}, {}, 12, "DT_I4"),
    (58, 'LEN("  ab  ")', {}, {}, 6, "DT_I4"),
    (59, 'LOWER("New York")', {}, {}, "new york", "DT_WSTR"),
    (60, "LOWER(SUBSTRING(Color, 2, 15))", {}, {"Color": (WSTR, "YELLOW")}, "ellow", "DT_WSTR"),
    (61, 'LTRIM("    Hello")', {}, {}, "Hello", "DT_WSTR"),
    (62, 'LTRIM("\\tHello")', {}, {}, "\tHello", "DT_WSTR"),
    (63, 'REPLACE("Mountain Bike", "Mountain","All Terrain")', {}, {}, "All Terrain Bike",
     "DT_WSTR"),
    (64, 'REPLACE((DT_WSTR,8)DaysToManufacture,"6","5")', {},
     {"DaysToManufacture": (I4, 16)}, "15", "DT_WSTR"),
    (65, 'REPLICATE("Mountain Bike", 3)', {}, {},
     "Mountain BikeMountain BikeMountain Bike", "DT_WSTR"),
    (66, "REPLICATE(@Name, (DT_I4)Times)", {"Name": (WSTR, "Helmet")}, {"Times": (I4, 2)},
     "HelmetHelmet", "DT_WSTR"),
    (67, 'REPLICATE("x", 0)', {}, {}, "", "DT_WSTR"),
    (68, 'REVERSE("Mountain Bike")', {}, {}, "ekiB niatnuoM", "DT_WSTR"),
    (69, "REVERSE(@Name)", {"Name": (WSTR, "Touring Bike")}, {}, "ekiB gniruoT", "DT_WSTR"),
    (70, 'RIGHT("Mountain Bike", 4)', {}, {}, "Bike", "DT_WSTR"),
    (71, "RIGHT(Name, @Times)", {"Times": (I4, 5)}, {"Name": (WSTR, "Touring Front Wheel")},
     "Wheel", "DT_WSTR"),
    (72, "RIGHT(Name, (DT_I2)@Times)", {"Times": (R8, 4.32)},
     {"Name": (WSTR, "Touring Front Wheel")}, "heel", "DT_WSTR"),
    (73, 'RTRIM("Hello   ")', {}, {}, "Hello", "DT_WSTR"),
    (74, 'SUBSTRING("elephant",4,2)', {}, {}, "ph", "DT_WSTR"),
    (75, 'SUBSTRING("elephant",4,50)', {}, {}, "phant", "DT_WSTR"),
    (76, 'SUBSTRING("Redmond",4,0)', {}, {}, "", "DT_WSTR"),
    (77, 'TOKEN("a little white dog"," ",1)', {}, {}, "a", "DT_WSTR"),
    (78, 'TOKEN("a:little|white dog","| ,.:",4)', {}, {}, "dog", "DT_WSTR"),
    (79, 'TOKEN("a little white dog","|",1)', {}, {}, "a little white dog", "DT_WSTR"),
    (80, 'TOKEN("        a little white dog", " ", 1)', {}, {}, "a", "DT_WSTR"),
    (81, 'TOKEN("a little white dog"," ",99)', {}, {}, "", "DT_WSTR"),
    (82, 'TOKEN("2009/01/01","/",1)', {}, {}, "2009", "DT_WSTR"),
    (83, 'TOKEN(@[User::Path], "\\\\", TOKENCOUNT(@[User::Path], "\\\\"))',
     {"Path": (WSTR, "c:\\program files\\data\\myfile.txt")}, {}, "myfile.txt", "DT_WSTR"),
    (84, 'TOKENCOUNT("01/12/2011", "/")', {}, {}, 3, "DT_I4"),
    (85, 'TOKENCOUNT("a little white dog"," ")', {}, {}, 4, "DT_I4"),
    (86, 'TOKENCOUNT("a little white dog","|")', {}, {}, 1, "DT_I4"),
    (87, 'TOKENCOUNT("a:little|white dog","| ,.:")', {}, {}, 4, "DT_I4"),
    (88, 'TOKENCOUNT("        a little white dog", " ")', {}, {}, 4, "DT_I4"),
    (89, 'TOKENCOUNT(NULL(DT_WSTR,10), ",")', {}, {}, 0, "DT_I4"),
    (90, 'TRIM("   New York   ")', {}, {}, "New York", "DT_WSTR"),
    (91, 'UPPER("hello")', {}, {}, "HELLO", "DT_WSTR"),
    (92, "UPPER(SUBSTRING(FirstName, 1, 1))", {}, {"FirstName": (WSTR, "anna")}, "A", "DT_WSTR"),
    (93, "UPPER(@PostalCode)", {"PostalCode": (WSTR, "k4b1s2")}, {}, "K4B1S2", "DT_WSTR"),
    (94, "UPPER(SUBSTRING(Color,1,1)) + LOWER(SUBSTRING(Color,2,15))", {},
     {"Color": (WSTR, "YELLOW")}, "Yellow", "DT_WSTR"),
    (95, 'DATEDIFF("dd", (DT_DBTIMESTAMP)"8/1/2003", (DT_DBTIMESTAMP)"8/8/2003")', {}, {}, 7,
     "DT_I4"),
    (96, 'DATEPART("month", (DT_DBTIMESTAMP)"11/04/2002")', {}, {}, 11, "DT_I4"),
    (97, 'DAY((DT_DBTIMESTAMP)"11/23/2002")', {}, {}, 23, "DT_I4"),
    (98, 'MONTH((DT_DBTIMESTAMP)"11/23/2002")', {}, {}, 11, "DT_I4"),
    (99, 'YEAR((DT_DBTIMESTAMP)"11/23/2002")', {}, {}, 2002, "DT_I4"),
    (100, 'DATEADD("yyyy", 2, (DT_DBTIMESTAMP)"8/6/2003")', {}, {}, datetime(2005, 8, 6),
     "DT_DBTIMESTAMP"),
    (101, 'DATEDIFF("dd", (DT_DBTIMESTAMP)"2003-08-08", (DT_DBTIMESTAMP)"2003-08-01")', {}, {},
     -7, "DT_I4"),
    (102, 'YEAR((DT_DBTIMESTAMP2,4)"1999-10-11 16:34:52.1234")', {}, {}, ERROR, None),
    (103, '(DT_DBTIMESTAMPOFFSET,3) "1999-10-11 20:34:52.123 -3:30" != '
     '(DT_DBDATE)"1999-10-12"', {}, {}, True, "DT_BOOL"),
    (104, "@[User::Count] > @[MyNamespace::Count]", {}, {}, True, "DT_BOOL"),
    (105, "@Count > @Count", {}, {}, False, "DT_BOOL"),
    (106, "TRUE && NULL(DT_BOOL)", {}, {}, None, "DT_BOOL"),
    (107, "FALSE && NULL(DT_BOOL)", {}, {}, False, "DT_BOOL"),
    (108, "TRUE || NULL(DT_BOOL)", {}, {}, True, "DT_BOOL"),
    (109, "FALSE || NULL(DT_BOOL)", {}, {}, None, "DT_BOOL"),
    (110, "!NULL(DT_BOOL)", {}, {}, None, "DT_BOOL"),
    (111, '!(Color == "red")', {}, {"Color": (WSTR, "red")}, False, "DT_BOOL"),
    (112, '"red" == "RED"', {}, {}, False, "DT_BOOL"),
    (113, "NULL(DT_I4) == NULL(DT_I4)", {}, {}, None, "DT_BOOL"),
    (114, "ISNULL(NULL(DT_I4) + 1)", {}, {}, True, "DT_BOOL"),
    (115, 'ISNULL(LastName)? "Unknown last name":LastName', {}, {"LastName": (WSTR, None)},
     "Unknown last name", "DT_WSTR"),
    (116, "NULL(DT_BOOL) ? 1 : 2", {}, {}, None, "DT_I4"),
    (117, "TRUE ? 1 : NULL(DT_I4)", {}, {}, 1, "DT_I4"),
    (118, '@AnimalName == "Elephant"? "savannah": "unknown"',
     {"AnimalName": (WSTR, "Elephant")}, {}, "savannah", "DT_WSTR"),
    (119, "(DT_I4)TRUE", {}, {}, -1, "DT_I4"),
    (120, '"a" + NULL(DT_WSTR,5)', {}, {}, None, "DT_WSTR"),
    (121, '"Rows Processed: " + "\\n" + "   NASDAQ: " + (dt_wstr,9)@[nasdaqrawrows]',
     {"nasdaqrawrows": (I4, 7058)}, {}, "Rows Processed: \n   NASDAQ: 7058", "DT_WSTR"),
    (122, "DAY((DT_DBTIMESTAMP)GETDATE())==1||DAY((DT_DBTIMESTAMP)GETDATE())==15?1:2", {}, {},
     1, "DT_I4"),
    (123, 'TRIM(FirstName) + " " + (!ISNULL(MiddleName) ? SUBSTRING(MiddleName,1,1) + " " : "")'
     " + TRIM(LastName)", {},
     {"FirstName": (WSTR, " Ann "), "MiddleName": (WSTR, None), "LastName": (WSTR, " Lee ")},
     "Ann Lee", "DT_WSTR"),
    (124, '(Salutation == "Sr." || Salutation == "Ms." || Salutation == "Sra." || '
     'Salutation == "Mr.") ? Salutation : ""', {}, {"Salutation": (WSTR, "Dr.")}, "",
     "DT_WSTR"),
    (125, '!(ISNULL(SellStartDate)) && !(ISNULL(SellEndDate)) ? '
     '(DT_WSTR,2)DATEDIFF("mm",SellStartDate,SellEndDate) : "Unknown"', {},
     {"SellStartDate": (t.DBTIMESTAMP, None),
      "SellEndDate": (t.DBTIMESTAMP, datetime(2004, 6, 30))}, "Unknown", "DT_WSTR"),
    (126, "37L", {}, {}, 37, "DT_I8"),
    (126, "37u", {}, {}, 37, "DT_UI4"),
    (126, "37ul", {}, {}, 37, "DT_UI8"),
    (126, "37", {}, {}, 37, "DT_I4"),
    (127, "6.45E3f", {}, {}, 6450.0, "DT_R4"),
    (127, "4.6E6L", {}, {}, 4.6e6, "DT_R8"),
    (127, "5.8", {}, {}, Decimal("5.8"), "DT_NUMERIC"),
    (128, 'LEFT("abc", -1)', {}, {}, ERROR, None),
    (129, 'REPLACE("abc", "", "x")', {}, {}, ERROR, None),
    (130, "SQRT(-1)", {}, {}, ERROR, None),
    (131, "25 / 5", {}, {}, 5, "DT_I4"),
    (132, "1 / 0", {}, {}, ERROR, None),
    (133, '"PExpression-->Package: (" + @[System::PackageName] + ") Started:" + '
     '(DT_WSTR, 30) @[System::StartTime] + " Duration:" + (DT_WSTR,10) '
     '(DATEDIFF("ss", @[System::StartTime], GETDATE())) + " seconds"', {}, {},
     "PExpression-->Package: (EmailRowCountPP) Started:3/4/2005 11:06:18 AM Duration:9 seconds",
     "DT_WSTR"),
]

#: the clock GETDATE() reads in the vectors (vector 122: the 15th; vector 133: 9 s after start)
NOW = datetime(2005, 3, 15, 11, 6, 27)
SPECIAL_SCOPES: dict[int, tuple[dict[str, SsisType], dict[str, Any], datetime]] = {
    53: ({}, {"System::LocaleID": 1033}, NOW),
    104: ({"User::Count": I4, "MyNamespace::Count": I4},
          {"User::Count": 10, "MyNamespace::Count": 2}, NOW),
    105: ({"User::Count": I4, "MyNamespace::Count": I4},
          {"User::Count": 10, "MyNamespace::Count": 2}, NOW),
    133: ({}, {"System::PackageName": "EmailRowCountPP",
               "System::StartTime": datetime(2005, 3, 4, 11, 6, 18)},
          datetime(2005, 3, 4, 11, 6, 27)),
}


def _ids() -> list[str]:
    seen: dict[int, int] = {}
    ids = []
    for number, *_ in VECTORS:
        seen[number] = seen.get(number, 0) + 1
        ids.append(f"v{number}" if seen[number] == 1 else f"v{number}.{seen[number]}")
    return ids


def test_every_vector_is_here() -> None:
    assert {v[0] for v in VECTORS} == set(range(1, 134))


@pytest.mark.parametrize(
    ("number", "expression", "variables", "columns", "expected", "type_name"),
    VECTORS,
    ids=_ids(),
)
def test_vector(
    number: int,
    expression: str,
    variables: Binding,
    columns: Binding,
    expected: Any,
    type_name: str | None,
) -> None:
    types = {f"User::{k}": v[0] for k, v in variables.items()}
    values: dict[str, Any] = {f"User::{k}": v[1] for k, v in variables.items()}
    values.update({k: v[1] for k, v in columns.items()})
    now = NOW
    if number in SPECIAL_SCOPES:
        extra_types, extra_values, now = SPECIAL_SCOPES[number]
        types.update(extra_types)
        values.update(extra_values)
    scope = ExpressionScope(
        types,
        columns={k: v[0] for k, v in columns.items()},
        ambiguous="first" if number == 105 else "error",
    )
    if expected is ERROR:
        with pytest.raises(ExpressionError):
            compile_expression(expression, scope, clock=lambda: now).evaluate(values)
        return
    compiled = compile_expression(expression, scope, clock=lambda: now)
    result = compiled.evaluate(values)
    assert compiled.result_type.name == type_name
    if isinstance(expected, float):
        assert isinstance(result, float)
        assert math.isclose(result, expected, rel_tol=1e-13), result
    elif isinstance(expected, Decimal):
        assert isinstance(result, Decimal)
        assert str(result) == str(expected)  # the scale matters: 124.00, not 124
    else:
        assert result == expected
        assert type(result) is type(expected)


def test_vector_105_is_an_error_by_default() -> None:
    """The spec's vector 105 silently picks one of two same-named variables; ssisrun (like
    DTS_E_AMBIGUOUSVARIABLENAME) rejects the ambiguity unless ambiguous="first"."""
    scope = ExpressionScope({"User::Count": I4, "MyNamespace::Count": I4})
    with pytest.raises(ExpressionError, match="ambiguous"):
        compile_expression("@Count > @Count", scope)


@pytest.mark.parametrize(
    ("expression", "at_compile_time"),
    [
        ('YEAR((DT_DBTIMESTAMP2,4)"1999-10-11 16:34:52.1234")', True),
        ('LEFT("abc", -1)', True),
        ('REPLACE("abc", "", "x")', True),
        ("SQRT(-1)", True),
        ("1 / 0", True),
        ("@[User::X] / 0", False),
        ("LEFT(@[User::S], -1)", False),
    ],
)
def test_errors_surface_at_validation_when_constant(expression: str, at_compile_time: bool) -> None:
    scope = {"User::X": I4, "User::S": WSTR}
    if at_compile_time:
        with pytest.raises(ExpressionError):
            compile_expression(expression, scope)
    else:
        compiled = compile_expression(expression, scope)
        with pytest.raises(ExpressionError):
            compiled.evaluate({"User::X": 1, "User::S": "abc"})


