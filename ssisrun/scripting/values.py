"""SSIS values across the boundary to the script host, as JSON.

Typed variables travel as JSON scalars with their SSIS type's name (``Int32``, ``DateTime``
as ISO 8601 text, ``Decimal`` as text so no digit is lost). Object variables carry tagged
values: ``{"$list": [...]}`` (an ``ArrayList`` in C#), ``{"$table": {"columns": [...], "rows":
[...]}}`` (a ``DataTable``: Execute SQL full result sets and Recordset destinations become one),
``{"$datetime": ...}``, ``{"$decimal": ...}``, and ``{"$handle": n}`` for any other .NET object,
which stays in the script host for the rest of the run and is handed back when a later script
reads the variable.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

#: VARTYPE code -> the .NET TypeCode name the script sees
TYPE_NAMES: dict[int, str] = {
    0: "Empty", 1: "DBNull", 2: "Int16", 3: "Int32", 4: "Single", 5: "Double", 6: "Decimal",
    7: "DateTime", 8: "String", 9: "Object", 11: "Boolean", 12: "Object", 13: "Object",
    14: "Decimal", 16: "SByte", 17: "Byte", 18: "UInt16", 19: "UInt32", 20: "Int64",
    21: "UInt64", 72: "String",
}


class DataTable:
    """A .NET ``DataTable`` that a script stored in an Object variable: rows of one table, as
    the Foreach ADO enumerator reads them (``tables``; each row a tuple in column order)."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]], name: str = "",
                 types: list[str] | None = None) -> None:
        self.columns = columns
        self.rows = rows
        self.name = name
        self.types = types or ["Object"] * len(columns)

    @property
    def tables(self) -> list[DataTable]:
        return [self]

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"DataTable({len(self.rows)} rows: {', '.join(self.columns)})"


class ScriptObject:
    """A .NET object that stays in the script host (a handle to it)."""

    def __init__(self, handle: int, type_name: str) -> None:
        self.handle = handle
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<.NET {self.type_name}>"


def _iso(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return datetime.combine(value, time()).isoformat()


def _parse_iso(text: str) -> datetime:
    head, dot, frac = text.partition(".")
    if dot:
        digits = "".join(ch for ch in frac if ch.isdigit())
        text = f"{head}.{digits[:6]}"
    return datetime.fromisoformat(text.rstrip("Z"))


def _column_type(values: list[Any]) -> str:
    sample = [v for v in values if v is not None]
    if not sample:
        return "String"
    if all(isinstance(v, bool) for v in sample):
        return "Boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sample):
        return "Int32" if all(-2**31 <= v < 2**31 for v in sample) else "Int64"
    if all(isinstance(v, float) for v in sample):
        return "Double"
    if all(isinstance(v, (Decimal, int)) and not isinstance(v, bool) for v in sample):
        return "Decimal"
    if all(isinstance(v, (datetime, date)) for v in sample):
        return "DateTime"
    if all(isinstance(v, str) for v in sample):
        return "String"
    return "Object"


def _cell(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name == "DateTime":
        return _iso(value)
    if type_name == "Decimal":
        return str(value)
    if type_name == "Object":
        return encode_object(value)
    return value


def encode_object(value: Any) -> Any:
    """An Object variable's value as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (datetime, date)):
        return {"$datetime": _iso(value)}
    if isinstance(value, ScriptObject):
        return {"$handle": value.handle}
    columns = getattr(value, "columns", None)
    rows = getattr(value, "rows", None)
    if isinstance(columns, list) and rows is not None:
        row_list = [tuple(r) for r in rows]
        names = [str(c) for c in columns]
        types = [_column_type([r[i] for r in row_list if i < len(r)]) for i in range(len(names))]
        return {"$table": {"name": getattr(value, "name", "") or "Table",
                           "columns": [{"name": n, "type": t} for n, t in zip(names, types,
                                                                              strict=True)],
                           "rows": [[_cell(v, t) for v, t in zip(r, types, strict=False)]
                                    for r in row_list]}}
    if isinstance(value, (list, tuple)):
        return {"$list": [encode_object(v) for v in value]}
    return None


def encode_value(data_type: int, value: Any) -> Any:
    """A typed variable's value as JSON."""
    name = TYPE_NAMES.get(data_type, "Object")
    if name in ("Object", "Empty"):
        return encode_object(value)
    if value is None:
        return None
    if name == "DateTime":
        return _iso(value) if isinstance(value, (datetime, date)) else str(value)
    if name == "Decimal":
        return str(value)
    if name == "String":
        return str(value)
    return value


def decode_object(value: Any) -> Any:
    """A value from the script host (an Object variable's, or an ExecutionValue)."""
    if isinstance(value, dict):
        if "$list" in value:
            return [decode_object(v) for v in value["$list"]]
        if "$table" in value:
            table = value["$table"]
            columns = [str(c["name"]) for c in table["columns"]]
            types = [str(c.get("type", "Object")) for c in table["columns"]]
            rows = [tuple(_decode_cell(v, t) for v, t in zip(row, types, strict=False))
                    for row in table["rows"]]
            return DataTable(columns, rows, str(table.get("name", "")), types)
        if "$datetime" in value:
            return _parse_iso(str(value["$datetime"]))
        if "$decimal" in value:
            return Decimal(str(value["$decimal"]))
        if "$handle" in value:
            return ScriptObject(int(value["$handle"]), str(value.get("type", "object")))
        return None
    if isinstance(value, list):
        return [decode_object(v) for v in value]
    return value


def _decode_cell(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name == "DateTime" and isinstance(value, str):
        return _parse_iso(value)
    if type_name == "Decimal" and isinstance(value, str):
        return Decimal(value)
    return decode_object(value)


def decode_value(data_type: int, value: Any) -> Any:
    """A typed variable's new value from the script host, in ssisrun's form."""
    name = TYPE_NAMES.get(data_type, "Object")
    if name in ("Object", "Empty"):
        return decode_object(value)
    if value is None:
        return None
    if name == "DateTime":
        return _parse_iso(str(value))
    if name == "Decimal":
        return Decimal(str(value))
    return value
