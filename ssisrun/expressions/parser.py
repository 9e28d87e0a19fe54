"""Parse SSIS expression text into :mod:`ssisrun.expressions.nodes`.

The grammar lives in ``grammar.lark`` beside this module. lark is imported only when the
first expression is parsed; the LALR parser is built once per process (and its tables cached
on disk by lark, so later processes start faster). Every syntax problem becomes an
:class:`~ssisrun.errors.ExpressionError` pointing at the offending character.
"""

from __future__ import annotations

import re
import struct
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import ExpressionError
from ssisrun.expressions import nodes as n
from ssisrun.expressions import types as t

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

#: how a grammar terminal is described in "expected ..." messages.
_TERMINAL_WORDS: dict[str, str] = {
    "TYPE_NAME": "a type such as DT_I4",
    "VARIABLE": "a variable",
    "PARAMETER": "a parameter",
    "LINEAGE": "a lineage identifier",
    "BRACKETED": "a [name]",
    "IDENT": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "ASSIGN": "'='",
    "QUESTION": "'?'",
    "COLON": "':'",
    "OROR": "'||'",
    "ANDAND": "'&&'",
    "BAR": "'|'",
    "CARET": "'^'",
    "AMP": "'&'",
    "EQOP": "'==' or '!='",
    "RELOP": "a comparison",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*', '/' or '%'",
    "UNOP": "'!' or '~'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "$END": "the end of the expression",
}
_OPERAND_START = {"STRING", "NUMBER", "VARIABLE", "PARAMETER", "IDENT", "BRACKETED", "LPAR"}

_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "\\": "\\",
}
_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,4}|.)", re.S)
_INT_SUFFIXES: dict[str, t.SsisType] = {
    "": t.I4,
    "u": t.UI4,
    "l": t.I8,
    "ul": t.UI8,
    "lu": t.UI8,
}
#: cast parameters allowed: (type, parameter index) -> (minimum, maximum)
_PARAM_RANGES: dict[tuple[t.DataType, int], tuple[int, int]] = {
    (t.D.DT_STR, 0): (1, 8000),
    (t.D.DT_STR, 1): (1, 65535),
    (t.D.DT_WSTR, 0): (1, 4000),
    (t.D.DT_BYTES, 0): (1, 8000),
    (t.D.DT_DECIMAL, 0): (0, 28),
    (t.D.DT_NUMERIC, 0): (1, 38),
    (t.D.DT_NUMERIC, 1): (0, 38),
    (t.D.DT_TEXT, 0): (1, 65535),
    (t.D.DT_DBTIME2, 0): (0, 7),
    (t.D.DT_DBTIMESTAMP2, 0): (0, 7),
    (t.D.DT_DBTIMESTAMPOFFSET, 0): (0, 7),
}


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The process-wide LALR parser (built on first use)."""
    from lark import Lark

    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": "contextual",
        "start": ["expression", "assignment"],
        "maybe_placeholders": True,
    }
    try:
        return Lark(grammar, cache=True, **options)
    except OSError:  # an unwritable temporary folder: build without the cache
        return Lark(grammar, **options)


def parse(text: str) -> n.Node:
    """Parse an expression (not an assignment)."""
    return _Builder(text).expression(_parse_tree(text, "expression"))


def parse_assignment(text: str) -> n.Assignment:
    """Parse ``@[User::X] = expr`` (also ``:=``)."""
    tree = _parse_tree(text, "assignment")
    builder = _Builder(text)
    target_tok, assign_tok, value = tree.children
    target = builder.variable(_token(target_tok))
    return n.Assignment(_pos(assign_tok), target, builder.expression(value))


def looks_like_assignment(text: str) -> bool:
    """True when ``text`` starts with a variable followed by ``=`` or ``:=`` (not ``==``)."""
    return _ASSIGNMENT_RE.match(text) is not None


_ASSIGNMENT_RE = re.compile(r"\s*(@\[[^\]]*\]|@[^\W\d][\w@$#]*(::[^\W\d][\w@$#]*)?)\s*:?=(?!=)")


def _parse_tree(text: str, start: str) -> Tree[Token]:
    from lark.exceptions import (
        LarkError,
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedToken,
    )

    if not text.strip():
        raise ExpressionError("the expression is empty", expression=text, position=0)
    if "\x00" in text:
        raise ExpressionError(
            "the expression contains a NUL character",
            expression=text,
            position=text.index("\x00"),
        )
    try:
        tree: Tree[Token] = get_parser().parse(text, start=start)
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream if isinstance(exc.pos_in_stream, int) else 0
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            message = "the string starting here is not closed with a double quote"
        elif char == "'":
            message = "string literals use double quotes, not single quotes"
        elif char == "=" and start == "expression":
            message = "'=' is not an operator here: compare with '=='"
        else:
            message = f"unexpected character {char!r}"
            expected = _expected(exc.allowed or set())
            if expected:
                message += f"; expected {expected}"
        raise ExpressionError(message, expression=text, position=pos) from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            pos = len(text.rstrip())
            message = "the expression ends too early"
        else:
            pos = token.start_pos if isinstance(token.start_pos, int) else len(text)
            message = f"unexpected {_describe(token)}"
        expected = _expected(exc.expected)
        if expected:
            message += f"; expected {expected}"
        raise ExpressionError(message, expression=text, position=pos) from None
    except UnexpectedEOF as exc:
        expected = _expected(set(exc.expected))
        message = "the expression ends too early" + (f"; expected {expected}" if expected else "")
        raise ExpressionError(message, expression=text, position=len(text.rstrip())) from None
    except LarkError as exc:  # pragma: no cover - any other parser failure
        raise ExpressionError(f"cannot parse: {exc}", expression=text, position=0) from None
    return tree


def _describe(token: Token) -> str:
    if token.type == "ASSIGN":
        return "'=' (compare with '==')"
    value = str(token)
    if len(value) > 30:
        value = value[:27] + "..."
    return repr(value)


def _expected(names: set[str] | frozenset[str]) -> str:
    if names & _OPERAND_START and len(names & _OPERAND_START) >= 3:
        words = ["an operand"]
        names = set(names) - _OPERAND_START - {"LINEAGE", "UNOP", "ADDOP", "TYPE_NAME"}
    else:
        words = []
    words += sorted({_TERMINAL_WORDS.get(name, name) for name in names})
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class _Builder:
    """Turns lark's tree into nodes, decoding literals and checking type specs."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, expression=self.text, position=pos)

    def expression(self, tree: Tree[Token] | Token) -> n.Node:
        from lark import Token

        if isinstance(tree, Token):  # pragma: no cover - every terminal is wrapped in a rule
            raise self.error(f"unexpected {_describe(tree)}", tree.start_pos or 0)
        method = getattr(self, "build_" + str(tree.data))
        node: n.Node = method(tree.children)
        return node

    # ---- operators ----------------------------------------------------------------------
    def build_conditional(self, c: list[Any]) -> n.Node:
        cond, q, then, _colon, otherwise = c
        return n.Conditional(
            q.start_pos, self.expression(cond), self.expression(then), self.expression(otherwise)
        )

    def build_binary(self, c: list[Any]) -> n.Node:
        left, op, right = c
        return n.Binary(op.start_pos, str(op), self.expression(left), self.expression(right))

    def build_unary(self, c: list[Any]) -> n.Node:
        op, operand = c
        if str(op) == "+":
            raise self.error("unary '+' is not an SSIS operator", op.start_pos)
        return n.Unary(op.start_pos, str(op), self.expression(operand))

    def build_cast(self, c: list[Any]) -> n.Node:
        lpar, spec, _rpar, operand = c
        return n.Cast(lpar.start_pos, self.type_spec(spec), self.expression(operand))

    def build_group(self, c: list[Any]) -> n.Node:
        return self.expression(c[1])

    # ---- operands -----------------------------------------------------------------------
    def build_string(self, c: list[Any]) -> n.Node:
        token = c[0]
        return n.Literal(token.start_pos, t.wstr(0), self.decode_string(token))

    def decode_string(self, token: Token) -> str:
        body = str(token)[1:-1]
        base = (token.start_pos or 0) + 1

        def replace(m: re.Match[str]) -> str:
            code = m.group(1)
            if code[0] == "x" and len(code) > 1:
                return chr(int(code[1:], 16))
            if code in _ESCAPES:
                return _ESCAPES[code]
            raise self.error(
                f"unknown escape sequence '\\{code}' in a string; write '\\\\' for a backslash",
                base + m.start(),
            )

        if "\\" not in body:
            return body
        return _ESCAPE_RE.sub(replace, body)

    def build_number(self, c: list[Any]) -> n.Node:
        token = c[0]
        pos = token.start_pos
        text = str(token)
        lower = text.lower()
        if lower.startswith("0x"):
            digits = lower[2:].rstrip("ul")
            suffix = "".join(sorted(lower[2 + len(digits) :], reverse=True))
            return self.integer(int(digits, 16), suffix, text, pos)
        if "." in lower or "e" in lower:
            suffix = lower[-1] if lower[-1] in "fl" else ""
            body = text[:-1] if suffix else text
            if suffix == "f":
                value = struct.unpack("<f", struct.pack("<f", _float(body)))[0]
                return n.Literal(pos, t.R4, value)
            if suffix == "l" or "e" in lower:
                return n.Literal(pos, t.R8, _float(body))
            whole, _, frac = body.partition(".")
            digits = whole.lstrip("0")
            precision = max(len(digits) + len(frac), len(frac), 1)
            if precision > 38:
                raise self.error("a decimal literal has at most 38 digits", pos)
            return n.Literal(pos, t.numeric(precision, len(frac)), Decimal(body))
        digits = lower.rstrip("ul")
        suffix = lower[len(digits) :]
        return self.integer(int(digits), suffix, text, pos)

    def integer(self, value: int, suffix: str, text: str, pos: int) -> n.Literal:
        type_ = _INT_SUFFIXES.get(suffix)
        if type_ is None:
            raise self.error(f"{text!r} has an invalid integer suffix (use U, L or UL)", pos)
        lo, hi = t.INTEGER_RANGES[type_.dtype]
        if value > hi:
            hint = {"": " (add the suffix L for DT_I8)", "u": " (add UL for DT_UI8)"}
            raise self.error(
                f"the literal {text} does not fit {type_.name}{hint.get(suffix, '')}", pos
            )
        return n.Literal(pos, type_, value)

    def build_variable(self, c: list[Any]) -> n.Node:
        return self.variable(c[0])

    def variable(self, token: Token) -> n.VariableRef:
        text = str(token)
        pos = token.start_pos or 0
        if text.startswith("@["):
            name = text[2:-1].strip()
            if not name:
                raise self.error("empty variable name", pos)
        else:
            name = text[1:]
            if "::" in name:
                raise self.error(
                    f"a namespace-qualified variable must be bracketed: @[{name}]", pos
                )
        return n.VariableRef(pos, _canonical_parameter(name))

    def build_parameter(self, c: list[Any]) -> n.Node:
        token = c[0]
        return n.VariableRef(token.start_pos, _canonical_parameter(str(token)))

    def build_lineage(self, c: list[Any]) -> n.Node:
        token = c[0]
        return n.ColumnRef(token.start_pos, str(token))

    def name(self, tree: Tree[Token]) -> tuple[str, bool, int]:
        token = _token(tree.children[0])
        text = str(token)
        if token.type == "BRACKETED":
            return text[1:-1], True, token.start_pos or 0
        return text, False, token.start_pos or 0

    def build_column(self, c: list[Any]) -> n.Node:
        name, bracketed, pos = self.name(c[0])
        if len(c) == 3:
            column, _, _ = self.name(c[2])
            return n.ColumnRef(pos, f"{name}.{column}")
        if not bracketed and name.upper() in ("TRUE", "FALSE"):
            return n.Literal(pos, t.BOOL, name.upper() == "TRUE")
        if not name:
            raise self.error("empty column name", pos)
        return n.ColumnRef(pos, name)

    def build_call(self, c: list[Any]) -> n.Node:
        name, _, pos = self.name(c[0])
        args_tree = c[2]
        if args_tree is None:
            return n.Call(pos, name.upper(), (), ())
        items = [x for x in args_tree.children if not _is_token(x, "COMMA")]
        args = tuple(self.expression(x) for x in items)
        positions = tuple(_start(x, self.text) for x in items)
        return n.Call(pos, name.upper(), args, positions)

    def build_null_call(self, c: list[Any]) -> n.Node:
        name, _, pos = self.name(c[0])
        spec = self.type_spec(c[2])
        if name.upper() != "NULL":
            raise self.error(
                f"{name}() does not take a type; only NULL(type) and casts do", spec.pos
            )
        return n.NullOf(pos, spec)

    def type_spec(self, tree: Tree[Token]) -> n.TypeSpec:
        name_tok = _token(tree.children[0])
        pos = _pos(name_tok)
        type_name = str(name_tok).upper()
        dtype = t.TYPE_NAMES.get(type_name)
        if dtype is None or dtype in (t.D.DT_EMPTY, t.D.DT_NULL):
            raise self.error(f"unknown data type {str(name_tok)}", pos)
        params: list[int] = []
        for child in tree.children[1:]:
            tok = _token(child)
            if tok.type == "COMMA":
                continue
            text = str(tok)
            if not text.isdigit():
                raise self.error(
                    f"a type parameter must be a whole number, not {text}", _pos(tok)
                )
            params.append(int(text))
        lo, hi = t.TYPE_PARAMETERS.get(dtype, (0, 0))
        if not lo <= len(params) <= hi:
            if hi == 0:
                message = f"{type_name} takes no parameters"
            else:
                message = f"{type_name} needs {t.TYPE_PARAMETER_NAMES[dtype]}"
            raise self.error(message, pos)
        for i, value in enumerate(params):
            low, high = _PARAM_RANGES[(dtype, i)]
            if not low <= value <= high:
                what = t.TYPE_PARAMETER_NAMES[dtype].split(", ")[i]
                raise self.error(
                    f"{type_name} {what} must be between {low} and {high}, not {value}", pos
                )
        if dtype is t.D.DT_NUMERIC and params[1] > params[0]:
            raise self.error("DT_NUMERIC scale cannot exceed its precision", pos)
        return n.TypeSpec(pos, dtype, tuple(params))


def _canonical_parameter(name: str) -> str:
    """``$package::X`` -> ``$Package::X`` (the parameter namespaces are fixed words)."""
    if name.startswith("$"):
        namespace, sep, rest = name.partition("::")
        fixed = {"$package": "$Package", "$project": "$Project", "$serveroption": "$ServerOption"}
        return fixed.get(namespace.lower(), namespace) + sep + rest
    return name


def _float(text: str) -> float:
    return float(text)


def _token(x: Any) -> Token:
    """A tree child that the grammar guarantees is a token."""
    from lark import Token

    if not isinstance(x, Token):  # pragma: no cover - guaranteed by the grammar
        raise TypeError(f"expected a token, got {x!r}")
    return x


def _pos(token: Any) -> int:
    pos = getattr(token, "start_pos", None)
    return pos if isinstance(pos, int) else 0


def _is_token(x: Any, kind: str) -> bool:
    return getattr(x, "type", None) == kind


def _start(x: Any, text: str) -> int:
    """The offset where a subtree starts (its first token)."""
    from lark import Token, Tree

    while isinstance(x, Tree):
        if not x.children:
            return 0
        x = next((c for c in x.children if c is not None), None)
    if isinstance(x, Token) and x.start_pos is not None:
        return x.start_pos
    return 0
