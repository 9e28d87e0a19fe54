"""Excel Source and Excel Destination, over an EXCEL connection manager (openpyxl).

The connection string is the ACE/Jet provider's:
``Provider=Microsoft.ACE.OLEDB.12.0;Data Source=C:\\in\\book.xlsx;Extended
Properties="Excel 12.0;HDR=YES"``; the file is mapped with ``--path-map``. Workbooks are
read and written as .xlsx/.xlsm; a .xls (Excel 97-2003) file cannot be, and the error says
how to convert it.

A "table" is a sheet, written as SSIS writes it: ``Sheet1$`` (also quoted, ``'My
Sheet$'``, or in brackets), or a range ``Sheet1$A1:C10``. The source reads
``AccessMode`` 0 (``OpenRowset``), 1 (the sheet's name in ``OpenRowsetVariable``), 2
(``SqlCommand``: ``SELECT * FROM [Sheet1$]`` or ``SELECT a, b FROM [Sheet1$]``) and 3
(the command in ``SqlCommandVariable``). With ``HDR=YES`` (the default) the first row holds
the column names, else the columns are F1, F2 ... Output columns match sheet columns by
their external column's name (any case), else by position. Cell values are converted to the
output column's type: a conversion error or a string longer than its column follows the
column's error or truncation disposition; empty rows at the end are not rows.

The destination appends rows below the last used row of the sheet (``OpenRowset`` /
``OpenRowsetVariable`` / the table of ``SqlCommand``); a missing workbook or sheet is
created, with the external columns' names as its first row when HDR=YES. The workbook is
saved after the last row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import (
    E_CONVERSION,
    E_TRUNCATION,
    Component,
    ComponentError,
    Emission,
)
from ssisrun.dataflow.model import FAIL, NOT_USED, as_int
from ssisrun.expressions.types import DataType

D = DataType

_FROM = re.compile(r"\bfrom\s+(\[[^\]]+\]|'[^']+'|\"[^\"]+\"|`[^`]+`|\S+)", re.IGNORECASE)
_SELECT = re.compile(r"^\s*select\s+(.*?)\s+from\s", re.IGNORECASE | re.DOTALL)


def parse_connection(text: str) -> tuple[str, bool]:
    """An Excel connection string -> (the workbook's path as written, HDR)."""
    parts: dict[str, str] = {}
    for match in re.finditer(r'\s*([^=;]+?)\s*=\s*("[^"]*"|\'[^\']*\'|[^;]*)\s*(;|$)', text):
        parts[match.group(1).lower()] = match.group(2).strip().strip('"').strip("'")
    path = parts.get("data source", "") or (text if "=" not in text else "")
    extended = parts.get("extended properties", "")
    hdr = re.search(r"HDR\s*=\s*(\w+)", extended, re.IGNORECASE)
    return path.strip(), not (hdr and hdr.group(1).lower() in ("no", "false", "0"))


def sheet_of(table: str) -> tuple[str, str]:
    """``[Sheet1$]`` / ``'My Sheet$'`` / ``Sheet1$A1:C9`` -> (sheet, range or "")."""
    name = table.strip()
    if name[:1] in "[`\"" and name[-1:] in "]`\"":
        name = name[1:-1]
    if len(name) > 1 and name[0] == "'" and "'" in name[1:]:
        name = name[1:].replace("'", "", 1)
    sheet, dollar, cells = name.partition("$")
    return (sheet if dollar else name), cells


def _workbook_path(component: Component) -> tuple[str, bool]:
    cm, text = component.ctx.connection()
    path, hdr = parse_connection(text)
    if not path:
        raise ComponentError(f"{component.meta.name}: the connection manager {cm.name} names "
                             "no workbook (Data Source=...)")
    mapped = component.ctx.map_path(path)
    if mapped.lower().endswith(".xls"):
        raise ComponentError(
            f"{component.meta.name}: {mapped} is an Excel 97-2003 workbook (.xls), which "
            "ssisrun cannot read; convert it to .xlsx (for example `libreoffice --headless "
            "--convert-to xlsx FILE.xls`) and point the connection manager at the new file "
            "(--conn or --path-map)")
    return mapped, hdr


def _table(component: Component, default_mode: int) -> str:
    ctx = component.ctx
    mode = as_int(ctx.property("AccessMode"), default_mode)
    if mode == 0:
        table = ctx.property("OpenRowset")
    elif mode == 1:
        table = str(ctx.get_variable(ctx.property("OpenRowsetVariable")))
    else:
        sql = ctx.property("SqlCommand") if mode == 2 else \
            str(ctx.get_variable(ctx.property("SqlCommandVariable")))
        match = _FROM.search(sql)
        if match is None:
            raise ComponentError(f"{component.meta.name}: the SQL command {sql!r} names no "
                                 "sheet (SELECT ... FROM [Sheet1$])")
        if re.search(r"\b(where|join|group|order)\b", sql[match.end():], re.IGNORECASE):
            raise ComponentError(f"{component.meta.name}: only SELECT ... FROM [Sheet$] "
                                 f"commands can be read from a workbook, not {sql!r}")
        table = match.group(1)
    if not table.strip():
        raise ComponentError(f"{component.meta.name} names no sheet")
    return table


def _load(path: str, *, read_only: bool) -> Any:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise ComponentError("Excel workbooks need openpyxl (pip install openpyxl)") from None
    try:
        return openpyxl.load_workbook(path, read_only=read_only, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip/XML errors of a broken workbook
        raise ComponentError(f"the workbook {path} cannot be read: {exc}") from None


def _find_sheet(workbook: Any, sheet: str) -> Any:
    for ws in workbook.worksheets:
        if ws.title == sheet:
            return ws
    for ws in workbook.worksheets:
        if ws.title.lower() == sheet.lower():
            return ws
    return None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


# --------------------------------------------------------------------------- source


class ExcelSource(Component):
    def pre_execute(self) -> None:
        self.path, self.hdr = _workbook_path(self)
        if not os.path.exists(self.path):
            raise ComponentError(f"{self.meta.name}: the workbook {self.path} does not exist")
        self.sheet, self.cells = sheet_of(_table(self, 0))

    def produce(self) -> Iterator[Emission]:
        workbook = _load(self.path, read_only=True)
        try:
            ws = _find_sheet(workbook, self.sheet)
            if ws is None:
                names = ", ".join(f"{w.title}$" for w in workbook.worksheets)
                raise ComponentError(f"{self.meta.name}: the workbook {self.path} has no sheet "
                                     f"{self.sheet}$ (it has {names})")
            rows: Iterator[tuple[Any, ...]] = (
                ws[self.cells] if self.cells and ":" in self.cells else ws.iter_rows())
            rows = (tuple(c.value for c in row) for row in rows)
            yield from self._batches(rows)
        finally:
            workbook.close()

    def _batches(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[Emission]:
        out = self.output
        first = next(rows, None)
        if first is None:
            return
        if self.hdr:
            header = [("" if v is None else _text(v)).strip().lower() for v in first]
        else:
            header = [f"f{i + 1}" for i in range(len(first))]
            rows = _chain(first, rows)
        ext_names = {c.id: c.name for c in out.external_columns}
        plan: list[tuple[Any, int]] = []
        for position, col in enumerate(out.columns):
            name = ext_names.get(col.external_metadata_column_id, col.name).lower()
            index = header.index(name) if name in header else (
                header.index(col.name.lower()) if col.name.lower() in header else position)
            plan.append((col, index))
        size = self.ctx.buffer_rows
        pending: list[tuple[Any, ...]] = []
        blank = 0
        for row in rows:
            if all(v is None or v == "" for v in row):
                blank += 1  # kept only when a filled row follows
                continue
            pending.extend([()] * blank)
            blank = 0
            pending.append(row)
            if len(pending) >= size:
                yield from self._convert(plan, pending[:size])
                pending = pending[size:]
        if pending:
            yield from self._convert(plan, pending)

    def _convert(self, plan: list[tuple[Any, int]], rows: list[tuple[Any, ...]]
                 ) -> Iterator[Emission]:
        columns: dict[str, list[Any]] = {}
        for col, index in plan:
            values: list[Any] = []
            type_ = col.type
            limit = type_.length if type_.dtype in (D.DT_STR, D.DT_WSTR) else 0
            for i, row in enumerate(rows):
                raw = row[index] if index < len(row) else None
                if raw is None or raw == "":
                    values.append(None)
                    continue
                try:
                    value = self._value(raw, type_)
                except Exception as exc:  # noqa: BLE001 - any conversion failure
                    self.row_error(i, _disposition(col.error_row_disposition), E_CONVERSION,
                                   col.lineage_id, f"the value {raw!r} of {col.name} cannot "
                                   f"be converted to {type_}: {exc}")
                    values.append(None)
                    continue
                if limit and isinstance(value, str) and len(value) > limit:
                    self.row_error(i, _disposition(col.truncation_row_disposition),
                                   E_TRUNCATION, col.lineage_id,
                                   f"the value of {col.name} is longer than {limit} characters")
                    value = value[:limit]
                values.append(value)
            columns[col.lineage_id] = values
        yield from self.split_errors(self.output, Batch(columns, len(rows)))

    @staticmethod
    def _value(raw: Any, type_: Any) -> Any:
        d = type_.dtype
        if d in (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT):
            return _text(raw)
        if isinstance(raw, str):
            parse = dft.text_parser(type_)
            return parse(raw.strip()) if parse is not None else raw
        if d in (D.DT_DBDATE,) and isinstance(raw, datetime):
            return raw.date()
        if d in (D.DT_DBTIME, D.DT_DBTIME2) and isinstance(raw, datetime):
            return raw.time()
        return dft.coerce(raw, type_)


def _chain(first: tuple[Any, ...], rest: Iterator[tuple[Any, ...]]
           ) -> Iterator[tuple[Any, ...]]:
    yield first
    yield from rest


def _disposition(value: str) -> str:
    return FAIL if value == NOT_USED else value


# --------------------------------------------------------------------------- destination


class ExcelDestination(Component):
    def pre_execute(self) -> None:
        self.path, self.hdr = _workbook_path(self)
        self.sheet, _ = sheet_of(_table(self, 0))
        self.rows_written = 0
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            raise ComponentError(f"{self.meta.name}: the folder {directory} does not exist")
        import openpyxl

        if os.path.exists(self.path):
            self.workbook = _load(self.path, read_only=False)
        else:
            self.workbook = openpyxl.Workbook()
            self.workbook.remove(self.workbook.active)
        inp = self.input
        external = list(inp.external_columns)
        ext_by_id = {c.id: c for c in external}
        ws = _find_sheet(self.workbook, self.sheet)
        if ws is None:
            ws = self.workbook.create_sheet(self.sheet)
        self.ws = ws
        empty = ws.max_row <= 1 and all(c.value is None for c in ws[1])
        names = [c.name for c in external] or [self.ctx.column_name(c) for c in inp.columns]
        if empty and self.hdr:
            for i, name in enumerate(names):
                ws.cell(row=1, column=i + 1, value=name)
        header = [("" if c.value is None else str(c.value)).lower() for c in ws[1]] \
            if self.hdr else [n.lower() for n in names]
        #: (sheet column index, lineage id) of each mapped input column
        self.plan: list[tuple[int, str]] = []
        for col in inp.columns:
            ext = ext_by_id.get(col.external_metadata_column_id)
            name = (ext.name if ext is not None else self.ctx.column_name(col)).lower()
            if name not in header:
                raise ComponentError(f"{self.meta.name}: the sheet {self.sheet}$ has no column "
                                     f"{name}")
            self.plan.append((header.index(name), col.lineage_id))
        #: the sheet row the next data row goes to (below the last used row)
        self.next_row = 1 if empty and not self.hdr else ws.max_row + 1

    def process(self, inp: Any, batch: Batch) -> list[Emission]:
        columns = [(i + 1, batch.columns[lid]) for i, lid in self.plan]
        cell = self.ws.cell
        for r in range(batch.length):
            for column, values in columns:
                value = values[r]
                if value is not None:
                    cell(row=self.next_row, column=column, value=_cell(value))
            self.next_row += 1
        assert self.rows_written is not None
        self.rows_written += batch.length
        return []

    def post_execute(self) -> None:
        try:
            self.workbook.save(self.path)
        except OSError as exc:
            raise ComponentError(f"{self.meta.name}: the workbook {self.path} cannot be "
                                 f"written: {exc}") from None


def _cell(value: Any) -> Any:
    """A value as openpyxl writes it (no Decimal digits lost, no time zones)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (date, time, str, int, float, bool)) or value is None:
        return value
    return str(value)
