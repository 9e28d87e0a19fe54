"""The Bulk Insert Task: loads a delimited text file into a table.

Settings are the ``BulkInsertTask:`` attributes of ``BulkInsertTaskData`` (namespace
``www.microsoft.com/sqlserver/dts/tasks/bulkinserttask``), replaced by property expressions
of the same name: ``SourceConnectionName`` (a FILE or FLATFILE connection manager),
``DestinationConnectionName`` and ``DestinationTableName``, ``FieldTerminator`` (default
``Tab``) and ``RowTerminator`` (default ``{CR}{LF}``) in SSIS's spellings (``Comma {,}``,
``Semicolon {;}``, ``Vertical Bar {|}``, ``{CR}``, ``{LF}``, ``Tab``) or literally,
``FirstRow`` (1-based), ``LastRow`` (0 = to the end), ``BatchSize`` (0 = one batch),
``CodePage`` (``RAW`` and ``ACP`` read UTF-8 here, ``OEM`` code page 437, or a number),
``DataFileType`` (``Char`` or ``WideChar``; the native formats cannot be read here),
``CheckConstraints`` and ``KeepNulls``.

How it loads:

* The fields of each row go to the table's columns in order; a row with another number of
  fields fails the task, naming the row.
* PostgreSQL: ``COPY ... FROM STDIN`` per batch. Elsewhere: batched ``executemany``
  inserts. Each batch is its own transaction (as BATCHSIZE does), or runs inside the
  transaction a retained connection already has open.
* An empty field is NULL with ``KeepNulls``; without it the column's default applies
  (PostgreSQL 16+ and every other database; NULL on older PostgreSQL).
* ``CheckConstraints`` False (SSIS's default) switches CHECK constraints off on SQLite for the
  load; PostgreSQL always checks them. Triggers fire as the database fires them.
* On databases other than SQL Server, a ``dbo`` schema in the table name is dropped (the
  default schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks.sql_text import split_name

if TYPE_CHECKING:
    from ssisrun.connections import Database
    from ssisrun.runtime.context import TaskContext

NS = "{www.microsoft.com/sqlserver/dts/tasks/bulkinserttask}"
E_SETTINGS = 0xC002F400
E_LOAD = 0xC002F401

#: SSIS's names for terminators (the designer writes these)
_TERMINATORS = {"tab": "\t", "comma": ",", "semicolon": ";", "vertical bar": "|",
                "{cr}{lf}": "\r\n", "{cr}": "\r", "{lf}": "\n", "none": ""}


class BulkInsertError(SsisrunError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def terminator(text: str) -> str:
    """``Comma {,}`` -> ``,``; ``{CR}{LF}`` -> CR LF; ``Tab`` -> TAB; ``\\t``, ``\\n``
    escapes; anything else literally."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in _TERMINATORS:
        return _TERMINATORS[lowered]
    if lowered.endswith("}") and "{" in lowered:
        name, _, inner = stripped.partition("{")
        if name.strip().lower() in _TERMINATORS:
            return _TERMINATORS[name.strip().lower()]
        inner = inner[:-1]
        if inner.upper().replace("{", "").replace("}", "") in ("CR", "LF", "CRLF"):
            return inner.upper().replace("{", "").replace("}", "").replace(
                "CR", "\r").replace("LF", "\n")
        return inner
    out = stripped.replace("{CR}", "\r").replace("{LF}", "\n").replace("{cr}", "\r").replace(
        "{lf}", "\n")
    return out.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r") or text


@dataclass
class BulkSettings:
    source: str = ""
    destination: str = ""
    table: str = ""
    field_terminator: str = "\t"
    row_terminator: str = "\r\n"
    first_row: int = 1
    last_row: int = 0
    batch_size: int = 0
    code_page: str = "RAW"
    data_file_type: str = "DTSBulkInsert_DataFileType_Char"
    check_constraints: bool = False
    keep_nulls: bool = False


def _number(name: str, value: Any) -> int:
    try:
        return int(str(value).strip() or "0")
    except ValueError:
        raise BulkInsertError(E_SETTINGS, f"{name} must be a whole number, not '{value}'") \
            from None


def read_settings(ctx: TaskContext, body: Any) -> BulkSettings:
    def attr(name: str, default: str) -> Any:
        design = body.get(NS + name) if body is not None else None
        return ctx.property(name, default if design is None else design)

    def flag(name: str) -> bool:
        return str(attr(name, "False")).strip().lower() in ("true", "1", "-1")

    return BulkSettings(
        source=str(attr("SourceConnectionName", "")),
        destination=str(attr("DestinationConnectionName", "")),
        table=str(attr("DestinationTableName", "")),
        field_terminator=terminator(str(attr("FieldTerminator", "Tab"))),
        row_terminator=terminator(str(attr("RowTerminator", "{CR}{LF}"))),
        first_row=_number("FirstRow", attr("FirstRow", "1")),
        last_row=_number("LastRow", attr("LastRow", "0")),
        batch_size=_number("BatchSize", attr("BatchSize", "0")),
        code_page=str(attr("CodePage", "RAW")),
        data_file_type=str(attr("DataFileType", "DTSBulkInsert_DataFileType_Char")),
        check_constraints=flag("CheckConstraints"),
        keep_nulls=flag("KeepNulls"),
    )


def _encoding(settings: BulkSettings) -> str:
    kind = settings.data_file_type.rsplit("_", 1)[-1].lower()
    if kind in ("native", "widenative"):
        raise BulkInsertError(E_SETTINGS, f"DataFileType {settings.data_file_type} (SQL "
                              "Server's native format) cannot be read here; export the file "
                              "as text (Char or WideChar)")
    if kind == "widechar":
        return "utf-16"
    page = settings.code_page.strip().upper()
    if page in ("RAW", "ACP", ""):
        return "utf-8-sig"
    if page == "OEM":
        return "cp437"
    if page.isdigit():
        return {"65001": "utf-8-sig", "1200": "utf-16-le", "1201": "utf-16-be",
                "20127": "ascii", "28591": "latin-1"}.get(page, f"cp{page}")
    raise BulkInsertError(E_SETTINGS, f"CodePage '{settings.code_page}' is not RAW, ACP, OEM "
                          "or a code page number")


def read_rows(path: Path, settings: BulkSettings) -> list[list[str]]:
    try:
        text = path.read_bytes().decode(_encoding(settings))
    except OSError as exc:
        raise BulkInsertError(E_LOAD, f"cannot read the data file {path}: {exc.strerror}") \
            from None
    except (UnicodeDecodeError, LookupError) as exc:
        raise BulkInsertError(E_LOAD, f"the data file {path} is not in code page "
                              f"{settings.code_page}: {exc}") from None
    row_end = settings.row_terminator or "\n"
    if row_end in ("\r\n", "\n"):
        lines = text.replace("\r\n", "\n").split("\n")  # SQL Server takes either here
    else:
        lines = text.split(row_end)
    if lines and lines[-1] == "":
        lines.pop()
    first = max(settings.first_row, 1) - 1
    last = settings.last_row if settings.last_row > 0 else len(lines)
    selected = lines[first:last]
    sep = settings.field_terminator
    return [line.split(sep) if sep else [line] for line in selected]


class BulkInsertTask(Task):
    def execute(self, ctx: TaskContext) -> ExecResult | TaskOutcome:
        from ssisrun.connections import DatabaseConnectionError

        try:
            settings = read_settings(ctx, object_data_body(self.host))
            for what, value in (("SourceConnectionName", settings.source),
                                ("DestinationConnectionName", settings.destination),
                                ("DestinationTableName", settings.table)):
                if not value.strip():
                    raise BulkInsertError(E_SETTINGS, f"the task has no {what}")
            _cm, path_text = ctx.connection(settings.source)
            path = Path(ctx.map_path(path_text))
            rows = read_rows(path, settings)
            with ctx.database(settings.destination) as db:
                count = load(db, settings, rows)
        except DatabaseConnectionError as exc:
            ctx.error(E_SETTINGS, str(exc))
            return ExecResult.Failure
        except BulkInsertError as exc:
            ctx.error(exc.code, str(exc))
            return ExecResult.Failure
        ctx.information(0x4002F400, f"{count} row(s) loaded from {path} into {settings.table}")
        return ExecResult.Success


def _table(db: Database, name: str) -> str:
    parts = split_name(name)
    if db.backend != "mssql" and len(parts) > 1 and parts[-2].lower() == "dbo":
        parts = parts[-1:]
    return ".".join(db.quote(p) for p in parts if p)


def load(db: Database, settings: BulkSettings, rows: list[list[str]]) -> int:
    table = _table(db, settings.table)
    cur = db.cursor()
    try:
        try:
            cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            columns = [str(d[0]) for d in cur.description]
            cur.fetchall()
        except Exception as exc:
            raise BulkInsertError(E_LOAD, f"cannot read the table {settings.table}: "
                                  f"{' '.join(str(exc).split())}") from None
        for number, row in enumerate(rows, start=max(settings.first_row, 1)):
            if len(row) != len(columns):
                raise BulkInsertError(E_LOAD, f"row {number} of the data file has {len(row)} "
                                      f"field(s); the table {settings.table} has "
                                      f"{len(columns)} column(s)")
        size = settings.batch_size if settings.batch_size > 0 else max(len(rows), 1)
        sqlite_checks = db.backend == "sqlite" and not settings.check_constraints
        if sqlite_checks:
            cur.execute("PRAGMA ignore_check_constraints = ON")
        try:
            for start in range(0, len(rows), size):
                batch = rows[start:start + size]
                try:
                    with db.transaction():
                        if db.backend == "postgresql":
                            _copy(db, cur, table, columns, batch, settings.keep_nulls)
                        else:
                            _insert(db, cur, table, columns, batch, settings.keep_nulls)
                except BulkInsertError:
                    raise
                except Exception as exc:
                    raise BulkInsertError(E_LOAD, f"the batch starting at row "
                                          f"{start + max(settings.first_row, 1)} could not be "
                                          f"loaded into {settings.table}: "
                                          f"{' '.join(str(exc).split())}") from None
        finally:
            if sqlite_checks:
                cur.execute("PRAGMA ignore_check_constraints = OFF")
    finally:
        cur.close()
    return len(rows)


def _placeholder(db: Database, index: int) -> str:
    if db.paramstyle == "qmark":
        return "?"
    if db.paramstyle in ("numeric", "named"):
        return f":{index + 1}"
    return "%s"


def _insert(db: Database, cur: Any, table: str, columns: list[str], rows: list[list[str]],
            keep_nulls: bool) -> None:
    groups: dict[tuple[int, ...], list[list[str]]] = {}
    for row in rows:
        keep = tuple(i for i, v in enumerate(row) if keep_nulls or v != "")
        groups.setdefault(keep, []).append(row)
    for keep, members in groups.items():
        if not keep:
            sql = f"INSERT INTO {table} DEFAULT VALUES"
            for _ in members:
                cur.execute(sql)
            continue
        names = ", ".join(db.quote(columns[i]) for i in keep)
        marks = ", ".join(_placeholder(db, n) for n in range(len(keep)))
        values = [[None if r[i] == "" else r[i] for i in keep] for r in members]
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def _copy(db: Database, cur: Any, table: str, columns: list[str], rows: list[list[str]],
          keep_nulls: bool) -> None:
    names = ", ".join(db.quote(c) for c in columns)
    default = ""
    if not keep_nulls and int(db.driver_connection.info.server_version) >= 160000:
        default = "\x01ssisrun-default\x01"
    options = f" (DEFAULT '{default}')" if default else ""
    with cur.copy(f"COPY {table} ({names}) FROM STDIN{options}") as copy:
        for row in rows:
            copy.write_row([(default or None) if v == "" else v for v in row])
