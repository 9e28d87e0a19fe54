"""Foreach Loop enumerators (spec ssis-runtime.md 2.8): each yields items, and an
item is a sequence of values that variable mappings pick by ValueIndex.

The collection is built once, before the first iteration, after the enumerator's
property expressions are evaluated; changing a variable inside the loop does not
change it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError

if TYPE_CHECKING:
    from ssisrun.model import ForeachLoop
    from ssisrun.runtime.engine import Engine
    from ssisrun.runtime.variables import Scope


class EnumeratorError(SsisrunError):
    """An enumerator cannot produce its collection."""


#: property-expression names that set an enumerator setting
_FILE_PROPERTIES = {"Directory": "Folder", "Folder": "Folder", "FileSpec": "FileSpec",
                    "Recurse": "Recurse", "FileNameRetrieval": "FileNameRetrievalType"}


def enumerate_items(engine: Engine, loop: ForeachLoop, scope: Scope) -> list[tuple[Any, ...]]:
    enum = loop.enumerator
    if enum is None:
        raise EnumeratorError("the Foreach Loop has no enumerator")
    settings = dict(enum.settings)
    for prop, text in enum.property_expressions.items():
        value = engine._evaluate(loop, f"enum:{prop}", text, scope)
        settings[_FILE_PROPERTIES.get(prop, prop)] = value
    kind = enum.enumerator_type
    if kind == "File":
        return _files(engine, settings)
    if kind == "Item":
        return _items(enum.items)
    if kind == "ADO":
        return _ado(scope, settings)
    if kind == "FromVariable":
        return _from_variable(scope, settings)
    if kind == "NodeList":
        return _nodelist(engine, scope, settings)
    raise EnumeratorError(f"the {kind} enumerator ({enum.creation_name}) cannot be run by "
                          "this ssisrun")


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "-1", "true")


def _files(engine: Engine, settings: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    folder_text = str(settings.get("Folder", "") or "")
    if not folder_text:
        raise EnumeratorError("the File enumerator has no folder")
    folder = Path(engine.map_path(folder_text))
    if not folder.is_dir():
        raise EnumeratorError(f"the File enumerator's folder {folder} does not exist")
    specs = [s.strip() for s in str(settings.get("FileSpec", "*.*") or "*.*").split(";")
             if s.strip()]
    recurse = _truthy(settings.get("Recurse", "0"))
    retrieval = int(str(settings.get("FileNameRetrievalType", "0") or "0"))
    found: list[Path] = []
    walker: Iterable[tuple[str, list[str], list[str]]]
    if recurse:
        walker = os.walk(folder)
    else:
        walker = [(str(folder), [], [e.name for e in folder.iterdir() if e.is_file()])]
    for root, _dirs, files in walker:
        for name in sorted(files):
            if any(_matches(name, spec) for spec in specs):
                found.append(Path(root) / name)
    found.sort()
    items = []
    for path in found:
        if retrieval == 1:
            items.append((path.name,))
        elif retrieval == 2:
            items.append((path.stem,))
        else:
            items.append((str(path),))
    return items


def _matches(name: str, spec: str) -> bool:
    # Windows matching: case-insensitive, and "*.*" matches names without a dot.
    if spec in ("*.*", "*"):
        return True
    return fnmatch.fnmatch(name.lower(), spec.lower())


def _items(rows: list[list[tuple[int, str]]]) -> list[tuple[Any, ...]]:
    from ssisrun.expressions import parse_variable_value

    items = []
    for row in rows:
        values = []
        for code, text in row:
            try:
                values.append(parse_variable_value(code, text))
            except (ValueError, SsisrunError):
                values.append(text)
        items.append(tuple(values))
    return items


def _rows_of(value: Any) -> list[tuple[Any, ...]]:
    """Rows of a recordset-like object: a sequence of rows (sequences or mappings)."""
    rows = []
    for row in value:
        if isinstance(row, Mapping):
            rows.append(tuple(row.values()))
        elif isinstance(row, (list, tuple)):
            rows.append(tuple(row))
        else:
            rows.append((row,))
    return rows


def _ado(scope: Scope, settings: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    name = str(settings.get("VarName", "") or "")
    if not name:
        raise EnumeratorError("the ADO enumerator names no variable")
    value = scope.get(name)
    if value is None:
        return []
    mode = str(settings.get("EnumType", "EnumerateRowsInFirstTable"))
    tables: Sequence[Any]
    if hasattr(value, "tables"):
        tables = list(value.tables)
    elif isinstance(value, Mapping) and "tables" in value:
        tables = list(value["tables"])
    else:
        tables = [value]
    if mode == "EnumerateTables":
        return [(table,) for table in tables]
    if mode == "EnumerateAllRows":
        return [row for table in tables for row in _rows_of(getattr(table, "rows", table))]
    if not tables:
        return []
    first = tables[0]
    return _rows_of(getattr(first, "rows", first))


def _from_variable(scope: Scope, settings: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    name = str(settings.get("VariableName", "") or "")
    value = scope.get(name)
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [(value,)]
    try:
        return [tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in value]
    except TypeError:
        raise EnumeratorError(f"the variable {name} holds a {type(value).__name__}, "
                              "which cannot be enumerated") from None


def _nodelist(engine: Engine, scope: Scope, settings: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    from lxml import etree

    from ssisrun.dtsx.safexml import parse_bytes

    source_type = str(settings.get("SourceDocumentSourceType") or settings.get(
        "SourceType", "DirectInput"))
    source = str(settings.get("SourceDocument") or settings.get("Source", "") or "")
    if source_type == "Variable":
        text = str(scope.get(source) or "")
        data = text.encode("utf-8")
    elif source_type == "FileConnection":
        _cm, path = engine.connection(source, scope)
        try:
            data = Path(engine.map_path(path)).read_bytes()
        except OSError as exc:
            raise EnumeratorError(f"cannot read {path}: {exc}") from None
    else:
        data = source.encode("utf-8")
    root = parse_bytes(data, "the Nodelist enumerator's document", "XML document").getroot()
    outer = str(settings.get("OuterXPathString") or settings.get("OuterXPath", "") or "")
    mode = str(settings.get("EnumerationType", "Navigator"))
    try:
        found: Any = root.xpath(outer) if outer else [root]
    except etree.XPathError as exc:
        raise EnumeratorError(f"bad OuterXPath '{outer}': {exc}") from None
    nodes: list[Any] = found if isinstance(found, list) else [found]
    items: list[tuple[Any, ...]] = []
    for node in nodes:
        if mode == "NodeText":
            items.append((node.text if hasattr(node, "text") else str(node),))
        elif mode == "ElementCollection":
            inner = str(settings.get("InnerXPathString") or settings.get("InnerXPath", ""))
            values = node.xpath(inner) if inner and hasattr(node, "xpath") else []
            items.append(tuple(v.text if hasattr(v, "text") else str(v) for v in values))
        elif hasattr(node, "tag"):
            items.append((etree.tostring(node, encoding="unicode"),))
        else:
            items.append((str(node),))
    return items
