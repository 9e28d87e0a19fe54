"""Property tests: whatever the text, compiling and evaluating raise ExpressionError and
nothing else (no lark error, no TypeError, no OverflowError, no RecursionError)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssisrun.errors import ExpressionError
from ssisrun.expressions import (
    ExpressionScope,
    check_expression,
    compile_assignment,
    compile_expression,
)
from ssisrun.expressions import types as t
from ssisrun.expressions.functions import DATEPARTS, FUNCTIONS

SCOPE = ExpressionScope(
    {
        "User::I": t.I4,
        "User::L": t.I8,
        "User::U": t.UI8,
        "User::S": t.WSTR,
        "User::R": t.R8,
        "User::N": t.SsisType(t.D.DT_DECIMAL),
        "User::B": t.BOOL,
        "User::D": t.DATE,
        "User::O": t.UNKNOWN,
        "$Package::P": t.WSTR,
    },
    lenient_columns=True,
)
VARIABLES = ["@I", "@[User::L]", "@U", "@S", "@R", "@N", "@B", "@[User::D]", "@O",
             "@[$Package::P]", "$Package::P", "Col", "[Odd col]", "Src.Col"]
TYPES = ["DT_I1", "DT_I2", "DT_I4", "DT_I8", "DT_UI1", "DT_UI2", "DT_UI4", "DT_UI8",
         "DT_R4", "DT_R8", "DT_CY", "DT_BOOL", "DT_DATE", "DT_DBDATE", "DT_DBTIME",
         "DT_DBTIMESTAMP", "DT_FILETIME", "DT_GUID", "DT_NTEXT", "DT_IMAGE",
         "DT_WSTR, 5", "DT_STR, 3, 1252", "DT_NUMERIC, 10, 2", "DT_DECIMAL, 3",
         "DT_DBTIME2, 3", "DT_DBTIMESTAMP2, 7", "DT_DBTIMESTAMPOFFSET, 2", "DT_BYTES, 4",
         "DT_TEXT, 1252", "DT_WSTR", "DT_NUMERIC, 50, 60", "DT_FOO"]
OPERATORS = ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&", "|", "^",
             "&&", "||"]

literals = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(abs(i))),
    st.sampled_from(["0", "1", "7u", "37L", "37ul", "0xFF", "2147483647", "2147483648",
                     "1.5", ".25", "6.", "1E308L", "1e-5f", "3.4E38f", "TRUE", "false",
                     "4294967295u", "18446744073709551615UL"]),
    st.text(alphabet=st.characters(blacklist_characters='"\\\x00'), max_size=8).map(
        lambda s: f'"{s}"'
    ),
    st.sampled_from(['"\\n\\t\\x41"', '"2024-02-29"', '"1/2/2003 4:05 PM"', '"abc"', '""',
                     '"  12 "', '"true"', '"{6F9619FF-8B86-D011-B42D-00C04FC964FF}"',
                     '"99999999999999999999"', '"1999-10-11 20:34:52.123 -3:30"']),
    st.sampled_from(TYPES).map(lambda ty: f"NULL({ty})"),
    st.sampled_from(VARIABLES),
    st.sampled_from(sorted(DATEPARTS)).map(lambda p: f'"{p}"'),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(["-", "!", "~"]), children).map(lambda x: f"{x[0]}{x[1]}"),
        st.tuples(children, st.sampled_from(OPERATORS), children).map(" ".join),
        st.tuples(children, children, children).map(lambda x: f"{x[0]} ? {x[1]} : {x[2]}"),
        st.tuples(st.sampled_from(TYPES), children).map(lambda x: f"({x[0]}){x[1]}"),
        children.map(lambda x: f"({x})"),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), st.lists(children, max_size=3)).map(
            lambda x: f"{x[0]}({', '.join(x[1])})"
        ),
    )


expressions = st.recursive(literals, _extend, max_leaves=12)

values = st.fixed_dictionaries(
    {
        "User::I": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
        "User::L": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "User::U": st.one_of(st.none(), st.integers(0, 2**64 - 1)),
        "User::S": st.one_of(st.none(), st.text(max_size=6), st.just("2024-01-31")),
        "User::R": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        "User::N": st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False,
                                                    places=3, min_value=-(10**20),
                                                    max_value=10**20)),
        "User::B": st.one_of(st.none(), st.booleans()),
        "User::D": st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 2),
                                                     max_value=datetime(9999, 12, 30))),
        "User::O": st.one_of(st.none(), st.integers(), st.text(max_size=4), st.booleans(),
                             st.floats(), st.just(Decimal("1.5")), st.just(object())),
        "$Package::P": st.one_of(st.none(), st.text(max_size=4)),
        "Col": st.one_of(st.none(), st.integers(), st.text(max_size=4), st.floats()),
        "Odd col": st.one_of(st.none(), st.integers(), st.text(max_size=4)),
        "Src.Col": st.one_of(st.none(), st.booleans(), st.datetimes()),
    }
)

FIXED_NOW = datetime(2024, 2, 29, 12, 0, 0)


def _compile_and_run(text: str, values: dict[str, Any]) -> None:
    try:
        compiled = compile_expression(text, SCOPE, clock=lambda: FIXED_NOW)
    except ExpressionError:
        return
    try:
        compiled.evaluate(values)
    except ExpressionError as exc:
        # the catch-all in evaluate() is a safety net, not a code path: values of the
        # declared types never reach it
        assert not exc.message.startswith("cannot evaluate:"), (text, exc.message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, values)
def test_generated_expressions_raise_only_expression_errors(
    text: str, values: dict[str, Any]
) -> None:
    _compile_and_run(text, values)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_random_text_raises_only_expression_errors(text: str) -> None:
    _compile_and_run(text, {})
    assert isinstance(check_expression(text, SCOPE), list)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_raise_only_expression_errors(data: bytes) -> None:
    text = data.decode("latin-1")
    _compile_and_run(text, {})
    try:
        compile_assignment(text, SCOPE)
    except ExpressionError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VARIABLES[:9]), expressions, values)
def test_generated_assignments_raise_only_expression_errors(
    target: str, text: str, values: dict[str, Any]
) -> None:
    try:
        compiled = compile_assignment(f"{target} = {text}", SCOPE, clock=lambda: FIXED_NOW)
    except ExpressionError:
        return
    try:
        compiled.evaluate(values)
    except ExpressionError:
        pass


def test_deep_nesting_is_an_expression_error() -> None:
    for text in ["(" * 5000 + "1" + ")" * 5000, "-" * 5000 + "1", "1" + " + 1" * 5000]:
        try:
            compile_expression(text, SCOPE).evaluate({})
        except ExpressionError:
            pass
