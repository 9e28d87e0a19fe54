"""The syntax tree of an SSIS expression: small immutable nodes, each with the 0-based
offset in the expression text where an error about it should point (``pos``).

The parser builds these from lark's parse tree; the compiler type-checks them and turns them
into closures. Nothing here knows about lark.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssisrun.expressions.types import DataType, SsisType


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, numeric or Boolean literal, already typed."""

    pos: int
    type: SsisType
    value: object


@dataclass(frozen=True, slots=True)
class VariableRef:
    """``@Name``, ``@[Namespace::Name]``, ``@[$Package::P]`` or ``$Project::P``; ``name`` is
    what was written between the brackets (qualified or not)."""

    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """A data-flow input column: ``Name``, ``[Odd Name]``, ``Source.Column`` or a lineage
    identifier ``#123``."""

    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    pos: int
    op: str  # "-", "!", "~"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """``pos`` is the operator's offset."""

    pos: int
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Conditional:
    """``cond ? then : otherwise``; ``pos`` is the ``?``."""

    pos: int
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """``DT_NUMERIC, 10, 2`` as written in a cast or ``NULL()``."""

    pos: int
    dtype: DataType
    params: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Cast:
    pos: int
    spec: TypeSpec
    operand: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``name`` is upper-cased (function names are case-insensitive)."""

    pos: int
    name: str
    args: tuple[Node, ...]
    arg_positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NullOf:
    """``NULL(DT_…)``: a typed NULL."""

    pos: int
    spec: TypeSpec


@dataclass(frozen=True, slots=True)
class Assignment:
    """``@[User::X] = expr`` (Expression Task, For Loop Init/Assign)."""

    pos: int
    target: VariableRef
    value: Node


Node = Literal | VariableRef | ColumnRef | Unary | Binary | Conditional | Cast | Call | NullOf
