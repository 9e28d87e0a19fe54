"""Database sources, destinations and the OLE DB Command: OLE DB, ADO.NET and ODBC take
the same code path, through ``ssisrun.connections`` (a connection manager's string becomes
a SQLAlchemy engine; the component gets one DB-API connection).

Source (``AccessMode``): OLE DB 0 table or view (``OpenRowset``), 1 table name from a
variable (``OpenRowsetVariable``), 2 SQL command (``SqlCommand``), 3 SQL command from a
variable (``SqlCommandVariable``); ADO.NET 0 table (``TableOrViewName``), 2 SQL command;
ODBC 0 table (``TableName``), 1 SQL command. ``?`` parameters of an OLE DB SQL command are
bound to the variables of ``ParameterMapping`` in order. Rows are fetched
``DefaultBufferMaxRows`` at a time; result columns match output columns by name (any case),
else by position.

Destination: OLE DB 0/1 table (row by row), 3/4 fast load (``FastLoadMaxInsertCommitSize``
rows per commit, 0 = one commit), 2 SQL command (its table); ADO.NET ``TableOrViewName``;
ODBC ``TableName``. Input columns are written to the external columns they are mapped to.
Without fast load a batch that fails is retried row by row and each failing row follows
the input's error disposition (redirected with ErrorCode and ErrorColumn, ignored, or the
component fails); with fast load the whole batch does. ``[dbo].[T]`` names are quoted for
the target database (a SQLite file has no ``dbo`` schema).

OLE DB Command runs ``SqlCommand`` once per row, its ``?`` markers bound to the input
columns mapped to the external columns ``Param_0``, ``Param_1`` ...
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import (
    E_INSERT,
    Component,
    ComponentError,
    Emission,
    Emissions,
)
from ssisrun.dataflow.model import FAIL, NOT_USED, Input, as_int
from ssisrun.expressions.types import DataType

_BRACKETED = re.compile(r"\[([^\]]*)\]")
_DBO = re.compile(r"(?<![\w\]\"])(?:\[dbo\]|\"dbo\"|dbo)\s*\.\s*(?=[\[\"\w])", re.IGNORECASE)


T = TypeVar("T")


def _open(component: Component) -> Any:
    conn = component.meta.connection()
    if conn is None or not conn.ref:
        raise ComponentError(f"{component.meta.name} has no connection manager")
    opener = getattr(component.ctx.task, "database", None)
    if opener is None:
        raise ComponentError(f"{component.meta.name}: database connections are not available")
    stack = ExitStack()
    context: AbstractContextManager[Any] = opener(conn.ref)
    db = stack.enter_context(context)
    component._stack = stack  # type: ignore[attr-defined]
    return db


def _close(component: Component) -> None:
    stack = getattr(component, "_stack", None)
    if stack is not None:
        stack.close()


def read_query(component: Component, sql: str | Callable[[Any], str], failure: str,
               consume: Callable[[list[str], Iterator[Sequence[Any]]], T], *,
               detail: str = "") -> T:
    """Run ``sql`` (T-SQL, adapted to the database; or a function of the open database
    giving its own SQL) on the component's connection and give ``consume`` the result's column
    names (lower case) and its rows in chunks of ``DefaultBufferMaxRows`` (each a sequence of
    rows, fetched as it is needed, so memory stays bounded); the
    connection is closed afterwards. A database error becomes the component's error:
    ``"<component>: <failure>: <the driver's message><detail>"``."""
    db = _open(component)
    try:
        cursor = db.cursor()
        try:
            cursor.execute(sql(db) if callable(sql) else adapt_sql(db, sql))
        except Exception as exc:  # the driver's error
            raise ComponentError(f"{component.meta.name}: {failure}: {exc}{detail}") from None
        names = [str(d[0]).lower() for d in cursor.description or ()]
        size = component.ctx.buffer_rows
        return consume(names, iter(lambda: cursor.fetchmany(size), []))
    finally:
        _close(component)


def name_parts(name: str) -> list[str]:
    """``[dbo].[My Table]`` / ``dbo.T`` / ``"s"."t"`` -> ``["dbo", "My Table"]``."""
    text = name.strip()
    parts = _BRACKETED.findall(text)
    if parts and "".join(f"[{p}]" for p in parts).replace(".", "") == text.replace(".", ""):
        return parts
    return [p.strip().strip('"').strip("`") for p in text.split(".")]


def quote_table(db: Any, name: str) -> str:
    parts = name_parts(name)
    backend = getattr(db, "backend", "")
    if backend != "mssql" and len(parts) > 1 and parts[-2].lower() == "dbo":
        parts = parts[-1:]
    if backend == "sqlite":
        parts = parts[-1:]
    quote = getattr(db, "quote", None) or (lambda s: '"' + s.replace('"', '""') + '"')
    return ".".join(quote(p) for p in parts)


def adapt_sql(db: Any, sql: str) -> str:
    """T-SQL text for another database: ``[names]`` quoted the ANSI way, ``?`` markers in
    the driver's parameter style."""
    backend = getattr(db, "backend", "")
    style = getattr(db, "paramstyle", "qmark")
    if backend == "mssql" and style == "qmark":
        return sql
    if backend != "mssql":
        sql = _DBO.sub("", sql)
    if backend == "sqlite" and style == "qmark":
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            j = i + 1
            while j < n and not (sql[j] == "'" and (j + 1 >= n or sql[j + 1] != "'")):
                j += 2 if sql[j] == "'" else 1
            out.append(sql[i:j + 1])
            i = j + 1
            continue
        if ch == "[" and backend not in ("mssql", "sqlite"):
            j = sql.find("]", i)
            if j > 0:
                out.append('"' + sql[i + 1:j] + '"')
                i = j + 1
                continue
        if ch == "?" and style in ("format", "pyformat"):
            out.append("%s")
        elif ch == "%" and style in ("format", "pyformat"):
            out.append("%%")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def db_value(db: Any, value: Any) -> Any:
    """A value as the driver takes it (SQLite has no Decimal, UUID or time)."""
    if value is None or getattr(db, "backend", "") != "sqlite":
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value).upper()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value


#: types whose Python values every driver takes as they are
_PLAIN_TYPES = frozenset({DataType.DT_I1, DataType.DT_I2, DataType.DT_I4, DataType.DT_I8,
                          DataType.DT_UI1, DataType.DT_UI2, DataType.DT_UI4, DataType.DT_UI8,
                          DataType.DT_R4, DataType.DT_R8, DataType.DT_STR, DataType.DT_WSTR,
                          DataType.DT_TEXT, DataType.DT_NTEXT, DataType.DT_BYTES,
                          DataType.DT_IMAGE})


# --------------------------------------------------------------------------- source


class DatabaseSource(Component):
    def pre_execute(self) -> None:
        self.db = _open(self)
        self.sql, self.params = self._command()

    def _command(self) -> tuple[str, list[Any]]:
        kind = self.meta.component_type
        mode = as_int(self.ctx.property("AccessMode"), 0)
        table = ""
        sql = ""
        if kind == "Microsoft.OLEDBSource":
            if mode == 0:
                table = self.ctx.property("OpenRowset")
            elif mode == 1:
                table = str(self.ctx.get_variable(self.ctx.property("OpenRowsetVariable")))
            elif mode == 2:
                sql = self.ctx.property("SqlCommand")
            else:
                sql = str(self.ctx.get_variable(self.ctx.property("SqlCommandVariable")))
        elif kind == "Microsoft.SSISODBCSrc":
            if mode == 0:
                table = self.ctx.property("TableName")
            else:
                sql = self.ctx.property("SqlCommand")
        elif mode == 0:
            table = self.ctx.property("TableOrViewName")
        else:
            sql = self.ctx.property("SqlCommand")
        if table:
            return f"SELECT * FROM {quote_table(self.db, table)}", []
        if not sql.strip():
            raise ComponentError(f"{self.meta.name} has no SQL command")
        return adapt_sql(self.db, sql), self._parameters()

    def _parameters(self) -> list[Any]:
        mapping = self.ctx.property("ParameterMapping")
        values = []
        for entry in filter(None, (e.strip() for e in mapping.split(";"))):
            _, _, variable = entry.rpartition(",")
            values.append(db_value(self.db, self.ctx.task.variable_by_id(variable.strip())))
        return values

    def produce(self) -> Iterator[Emission]:
        cursor = self.db.cursor()
        try:
            cursor.execute(self.sql, self.params) if self.params else cursor.execute(self.sql)
        except Exception as exc:  # the driver's error
            raise ComponentError(f"{self.meta.name}: the query failed: {exc}") from None
        names = [d[0].lower() for d in cursor.description or ()]
        out = self.output
        plan = []
        for position, col in enumerate(out.columns):
            ext = next((e.name for e in out.external_columns
                        if e.id == col.external_metadata_column_id), col.name)
            index = names.index(ext.lower()) if ext.lower() in names else (
                names.index(col.name.lower()) if col.name.lower() in names else position)
            if index >= len(names):
                raise ComponentError(f"{self.meta.name}: the query returns no column for "
                                     f"{col.name}")
            plan.append((col.lineage_id, index, col.type))
        size = self.ctx.buffer_rows
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                break
            fields = list(zip(*rows, strict=True))
            columns = {lid: [dft.coerce(v, type_) for v in fields[index]]
                       for lid, index, type_ in plan}
            yield out, Batch(columns, len(rows))

    def close(self) -> None:
        _close(self)


# --------------------------------------------------------------------------- destination


class DatabaseDestination(Component):
    def pre_execute(self) -> None:
        self.db = _open(self)
        self.rows_written = 0
        kind = self.meta.component_type
        mode = as_int(self.ctx.property("AccessMode"), 3)
        if kind == "Microsoft.ADONETDestination":
            table = self.ctx.property("TableOrViewName")
            self.fast, self.commit_size = True, as_int(self.ctx.property("BatchSize"), 0)
        elif kind == "Microsoft.SSISODBCDst":
            table = self.ctx.property("TableName")
            self.fast, self.commit_size = True, 0
        elif kind == "Microsoft.SQLServerDestination":
            table = self.ctx.property("BulkInsertTableName")
            self.fast, self.commit_size = True, 0
        else:
            if mode in (1, 4):
                table = str(self.ctx.get_variable(self.ctx.property("OpenRowsetVariable")))
            elif mode == 2:
                match = re.search(r"\bfrom\s+([\[\]\w.\"]+)", self.ctx.property("SqlCommand"),
                                  re.IGNORECASE)
                table = match.group(1) if match else ""
            else:
                table = self.ctx.property("OpenRowset")
            self.fast = mode in (3, 4)
            self.commit_size = as_int(self.ctx.property("FastLoadMaxInsertCommitSize"), 0)
        if not table:
            raise ComponentError(f"{self.meta.name} names no table")
        inp = self.input
        ext_names = {c.id: c.name for c in inp.external_columns}
        self.targets: list[tuple[str, str]] = []
        #: columns the driver takes as they are (no Decimal, date or GUID for SQLite)
        self.plain: list[bool] = []
        sqlite = getattr(self.db, "backend", "") == "sqlite"
        for col in inp.columns:
            name = ext_names.get(col.external_metadata_column_id) or self.ctx.column_name(col)
            self.targets.append((col.lineage_id, name))
            dtype = self.ctx.column_type(col).dtype
            self.plain.append(not sqlite or dtype in _PLAIN_TYPES)
        if not self.targets:
            raise ComponentError(f"{self.meta.name} maps no input column to the table")
        quote = getattr(self.db, "quote", None) or (lambda s: '"' + s + '"')
        cols = ", ".join(quote(name) for _, name in self.targets)
        marks = ", ".join(["?"] * len(self.targets))
        self.sql = adapt_sql(self.db, f"INSERT INTO {quote_table(self.db, table)} ({cols}) "
                                      f"VALUES ({marks})")
        self.pending = 0
        self.cursor = self.db.cursor()
        self.in_tx = False

    def _begin(self) -> None:
        if not self.in_tx and not self.db.in_transaction():
            self.cursor.execute("BEGIN TRANSACTION" if self.db.backend == "mssql" else "BEGIN")
            self.in_tx = True

    def _commit(self) -> None:
        if self.in_tx:
            self.cursor.execute("COMMIT TRANSACTION" if self.db.backend == "mssql" else "COMMIT")
            self.in_tx = False

    def process(self, inp: Input, batch: Batch) -> Emissions:
        db = self.db
        columns = [batch.columns[lid] if plain else [db_value(db, v) for v in batch.columns[lid]]
                   for (lid, _), plain in zip(self.targets, self.plain, strict=True)]
        self._begin()
        try:  # the rows go to the driver as they are zipped: no list of tuples
            self.cursor.executemany(self.sql, zip(*columns, strict=True))
        except Exception as exc:  # the driver's error: find the failing rows
            if self.in_tx:
                self.cursor.execute("ROLLBACK")
                self.in_tx = False
            return self._row_by_row(batch, list(zip(*columns, strict=True)), exc)
        assert self.rows_written is not None
        self.rows_written += batch.length
        self.pending += batch.length
        if not self.fast or (self.commit_size and self.pending >= self.commit_size):
            self._commit()
            self.pending = 0
        return []

    def _row_by_row(self, batch: Batch, rows: list[tuple[Any, ...]],
                    first: Exception) -> Emissions:
        disposition = self.input.error_row_disposition
        if disposition == NOT_USED:
            disposition = FAIL
        if self.fast and disposition == FAIL:
            raise ComponentError(f"{self.meta.name}: inserting a batch failed: {first}",
                                 code=E_INSERT & 0xFFFFFFFF)
        ok = 0
        for i, row in enumerate(rows):
            try:
                self.cursor.execute(self.sql, row)
                ok += 1
            except Exception as exc:  # noqa: BLE001
                self.row_error(i, disposition, E_INSERT, self.input.id,
                               f"inserting row {i + 1} failed: {exc}")
        assert self.rows_written is not None
        self.rows_written += ok
        redirects, self._redirects = self._redirects, {}
        error_out = self.meta.error_output
        if error_out is None or not redirects:
            return []
        return [(error_out, self.error_batch(error_out, batch, redirects))]

    def post_execute(self) -> None:
        self._commit()

    def close(self) -> None:
        try:
            if getattr(self, "in_tx", False):
                self.cursor.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection may be gone
            pass
        _close(self)


class OleDbCommand(Component):
    def pre_execute(self) -> None:
        self.db = _open(self)
        sql = self.ctx.property("SqlCommand")
        if not sql.strip():
            raise ComponentError(f"{self.meta.name} has no SQL command")
        self.sql = adapt_sql(self.db, sql)
        inp = self.input
        order = {c.id: i for i, c in enumerate(inp.external_columns)}
        mapped = sorted((order.get(c.external_metadata_column_id, i), c.lineage_id)
                        for i, c in enumerate(inp.columns))
        self.params = [lid for _, lid in mapped]
        self.cursor = self.db.cursor()

    def process(self, inp: Input, batch: Batch) -> Emissions:
        disposition = inp.error_row_disposition
        for i, row in enumerate(batch.rows(self.params)):
            try:
                self.cursor.execute(self.sql, tuple(db_value(self.db, v) for v in row))
            except Exception as exc:  # noqa: BLE001 - the driver's error
                self.row_error(i, FAIL if disposition == NOT_USED else disposition, E_INSERT,
                               inp.id, f"the command failed on row {i + 1}: {exc}")
        outputs = self.meta.normal_outputs
        if outputs:
            return self.split_errors(outputs[0], batch)
        return []

    def close(self) -> None:
        _close(self)
