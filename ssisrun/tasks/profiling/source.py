"""The database side of the Data Profiling task: tables and columns as the catalog
describes them, each column's type class (which decides which profiles apply), generic SQL
that SQLite, PostgreSQL and SQL Server all run, and rows streamed in batches.

Type classes (SSIS's "Valid Data Types" table, extended to the other databases):

* ``integer``: bit, tinyint, smallint, int, bigint (PostgreSQL smallint/integer/bigint and
  boolean, SQLite INTEGER affinity and BOOLEAN); bit/boolean is ``integer`` but not numeric.
* ``numeric``: decimal, numeric, money, smallmoney, float, real (and double precision,
  SQLite REAL and NUMERIC/DECIMAL affinity).
* ``char``: char, nchar, varchar, nvarchar, but not varchar(max)/nvarchar(max)/text/ntext on
  SQL Server; PostgreSQL ``text`` and SQLite TEXT-affinity columns, those databases' own
  string types, count as ``char``.
* ``datetime``: datetime, smalldatetime, datetime2, datetimeoffset, date (PostgreSQL date
  and timestamp, SQLite columns declared DATE, DATETIME or TIMESTAMP).
* ``other``: everything else (binary, image, text, xml, uniqueidentifier, rowversion, ...):
  only the Column Null Ratio profile applies.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ssisrun.errors import SsisrunError

BATCH = 5000
#: a query parameter's mark in the SQL built here (never part of a name or a value)
_PARAM = "\x01"
SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mssql")


class ProfileError(SsisrunError):
    """A profile request cannot be computed: a missing table or column, a column of a type
    the profile does not apply to, a timeout."""


@dataclass(slots=True)
class ColumnInfo:
    name: str
    type_name: str  # as the catalog says
    kind: str  # integer, numeric, char, datetime, other
    sql_db_type: str  # SqlDbType name for the output
    max_length: int = 0
    precision: int = 255
    scale: int = 255
    nullable: bool = True
    is_bit: bool = False
    unicode: bool = True

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric" or (self.kind == "integer" and not self.is_bit)


@dataclass(slots=True)
class TableInfo:
    schema: str  # as the request names it
    name: str  # as the request names it
    qualified: str  # quoted for SQL
    columns: list[ColumnInfo]
    row_count: int = -1

    def column(self, name: str) -> ColumnInfo | None:
        for col in self.columns:
            if col.name == name:
                return col
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


# --------------------------------------------------------------------------- types

_SQL_DB_TYPES = {
    "bigint": ("integer", "BigInt"), "int8": ("integer", "BigInt"),
    "bigserial": ("integer", "BigInt"), "int": ("integer", "Int"),
    "integer": ("integer", "Int"), "int4": ("integer", "Int"), "serial": ("integer", "Int"),
    "smallint": ("integer", "SmallInt"), "int2": ("integer", "SmallInt"),
    "tinyint": ("integer", "TinyInt"), "bit": ("integer", "Bit"),
    "boolean": ("integer", "Bit"), "bool": ("integer", "Bit"),
    "decimal": ("numeric", "Decimal"), "numeric": ("numeric", "Decimal"),
    "money": ("numeric", "Money"), "smallmoney": ("numeric", "SmallMoney"),
    "float": ("numeric", "Float"), "double precision": ("numeric", "Float"),
    "float8": ("numeric", "Float"), "double": ("numeric", "Float"),
    "real": ("numeric", "Real"), "float4": ("numeric", "Real"),
    "char": ("char", "Char"), "character": ("char", "Char"), "bpchar": ("char", "Char"),
    "nchar": ("char", "NChar"), "varchar": ("char", "VarChar"),
    "character varying": ("char", "VarChar"), "nvarchar": ("char", "NVarChar"),
    "text": ("char", "NVarChar"), "citext": ("char", "NVarChar"),
    "datetime": ("datetime", "DateTime"), "smalldatetime": ("datetime", "SmallDateTime"),
    "datetime2": ("datetime", "DateTime2"), "datetimeoffset": ("datetime", "DateTimeOffset"),
    "date": ("datetime", "Date"),
    "timestamp": ("datetime", "DateTime"),
    "timestamp without time zone": ("datetime", "DateTime"),
    "timestamp with time zone": ("datetime", "DateTimeOffset"),
    "timestamptz": ("datetime", "DateTimeOffset"),
    "time": ("other", "Time"), "time without time zone": ("other", "Time"),
    "ntext": ("other", "NText"), "image": ("other", "Image"), "xml": ("other", "Xml"),
    "binary": ("other", "Binary"), "varbinary": ("other", "VarBinary"),
    "bytea": ("other", "VarBinary"), "uniqueidentifier": ("other", "UniqueIdentifier"),
    "uuid": ("other", "UniqueIdentifier"), "sql_variant": ("other", "Variant"),
    "rowversion": ("other", "Timestamp"),
}


def classify(backend: str, type_name: str, max_length: int | None) -> tuple[str, str]:
    """(type class, SqlDbType name) of a column type as the catalog names it."""
    name = " ".join(type_name.lower().split())
    base = name.split("(")[0].strip()
    if backend == "mssql":
        if base == "timestamp":  # SQL Server's timestamp is rowversion, a binary value
            return "other", "Timestamp"
        if base == "text":
            return "other", "Text"
        if base in ("varchar", "nvarchar") and max_length == -1:
            return "other", "VarChar" if base == "varchar" else "NVarChar"
    if backend == "sqlite":
        return _sqlite_affinity(base)
    return _SQL_DB_TYPES.get(base, ("other", "Variant"))


def _sqlite_affinity(declared: str) -> tuple[str, str]:
    """SQLite's type affinity rules, with the declared names SSIS users write."""
    if declared in _SQL_DB_TYPES and declared not in ("time",):
        kind, db_type = _SQL_DB_TYPES[declared]
        if declared == "text":
            return "char", "NVarChar"
        return kind, db_type
    if "int" in declared:
        return "integer", "BigInt"
    if any(w in declared for w in ("char", "clob", "text")):
        return "char", "NVarChar"
    if not declared or "blob" in declared:
        return "other", "VarBinary" if declared else "Variant"
    if any(w in declared for w in ("real", "floa", "doub")):
        return "numeric", "Float"
    if any(w in declared for w in ("date", "time")):
        return "datetime", "DateTime"
    return "numeric", "Decimal"


def kind_of_value(value: Any) -> tuple[str, str]:
    """The type class of a value, for SQLite columns that declare no type (view columns
    computed from expressions)."""
    if isinstance(value, bool):
        return "integer", "Bit"
    if isinstance(value, int):
        return "integer", "BigInt"
    if isinstance(value, (float, decimal.Decimal)):
        return "numeric", "Float"
    if isinstance(value, (dt.date, dt.datetime)):
        return "datetime", "DateTime"
    if isinstance(value, str):
        return ("datetime", "DateTime") if parse_datetime(value) else ("char", "NVarChar")
    return "other", "VarBinary"


def parse_datetime(text: str) -> dt.datetime | None:
    """An ISO date or date-time in a string (SQLite keeps dates as text)."""
    value = text.strip()
    if len(value) < 10 or value[4:5] != "-" or value[7:8] != "-":
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- values


def xml_value(value: Any, kind: str = "") -> tuple[str, str]:
    """(xsi:type, text) of a value as .NET's XmlSerializer writes an ``object``."""
    if isinstance(value, bool):
        return "xsd:boolean", "true" if value else "false"
    if isinstance(value, int):
        return ("xsd:int" if -2**31 <= value < 2**31 else "xsd:long"), str(value)
    if isinstance(value, float):
        return "xsd:double", number_text(value)
    if isinstance(value, decimal.Decimal):
        return "xsd:decimal", format(value, "f")
    if isinstance(value, dt.datetime):
        return "xsd:dateTime", value.isoformat()
    if isinstance(value, dt.date):
        return "xsd:dateTime", f"{value.isoformat()}T00:00:00"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "xsd:base64Binary", base64.b64encode(bytes(value)).decode("ascii")
    text = str(value)
    if kind == "datetime":
        parsed = parse_datetime(text)
        if parsed is not None:
            return "xsd:dateTime", parsed.isoformat()
    return "xsd:string", text


def number_text(value: float) -> str:
    """A double as XmlConvert writes it: ``3``, ``2.5``, ``1E+20``, ``INF``, ``NaN``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value).replace("e", "E")


def normalizer(flags: int | None) -> Callable[[Any], Any] | None:
    """A function that makes equal the strings SqlCompareOptions ``flags`` compare equal
    (IgnoreCase, IgnoreNonSpace, IgnoreKanaType, IgnoreWidth); None when values compare
    as they are (Default: the database's own comparison; BinarySort)."""
    if not flags or flags & (16384 | 32768):
        return None
    steps: list[Callable[[str], str]] = []
    if flags & 16:  # IgnoreWidth: full-width forms as their ASCII twins
        steps.append(lambda s: "".join(
            chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else
            (" " if c == "\u3000" else c) for c in s))
    if flags & 8:  # IgnoreKanaType: katakana as hiragana
        steps.append(lambda s: "".join(
            chr(ord(c) - 0x60) if 0x30A1 <= ord(c) <= 0x30F6 else c for c in s))
    if flags & 2:  # IgnoreNonSpace: without diacritics
        steps.append(lambda s: "".join(
            c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn"))
    if flags & 1:
        steps.append(str.casefold)

    def normalize(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for step in steps:
            value = step(value)
        return value

    return normalize


# --------------------------------------------------------------------------- database


class Source:
    """One open database connection (an ssisrun :class:`~ssisrun.connections.Database`)
    and the tables of it the requests name."""

    def __init__(self, db: Any, label: str, data_source: str, database: str,
                 check: Callable[[], None]) -> None:
        self.db = db
        self.backend: str = db.backend
        self.label = label  # "connection manager 'X'" for messages
        self.data_source = data_source
        self.database = database
        self.check = check
        self._tables: dict[tuple[str, str], TableInfo] = {}
        if self.backend not in SUPPORTED_BACKENDS:
            raise ProfileError(f"the {label} reaches a {self.backend} database; the Data "
                               "Profiling task profiles SQL Server, PostgreSQL and SQLite "
                               "databases")

    # ---- SQL

    def quote(self, name: str) -> str:
        if self.backend == "mssql":
            return "[" + name.replace("]", "]]") + "]"
        return '"' + name.replace('"', '""') + '"'

    def placeholder(self) -> str:
        """The mark of a query parameter, made the driver's own by :meth:`_sql`."""
        return _PARAM

    def length(self, expr: str) -> str:
        if self.backend == "mssql":  # LEN ignores trailing spaces
            return f"(LEN(CAST({expr} AS NVARCHAR(MAX)) + N'x') - 1)"
        return f"LENGTH({expr})"

    def as_float(self, expr: str) -> str:
        target = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"}.get(self.backend,
                                                                          "FLOAT")
        return f"CAST({expr} AS {target})"

    def _sql(self, sql: str, params: Sequence[Any]) -> str:
        if not params:
            return sql
        if self.db.paramstyle in ("format", "pyformat"):
            return sql.replace("%", "%%").replace(_PARAM, "%s")
        if self.db.paramstyle == "qmark":
            return sql.replace(_PARAM, "?")
        raise ProfileError(f"the database driver's parameter style {self.db.paramstyle} "
                           "is not supported")

    def _failed(self, exc: Exception, sql: str) -> ProfileError:
        message = " ".join(str(getattr(exc, "orig", exc)).split())
        shown = sql.replace(_PARAM, "?")
        return ProfileError(f"a query on the {self.label} failed: {message} (the query: "
                            f"{shown[:300]})")

    def scalar_row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        cur = self.db.cursor()
        try:
            cur.execute(self._sql(sql, params), tuple(params))
            row = cur.fetchone()
        except ProfileError:
            raise
        except Exception as exc:  # the driver's own error: a bad column type, a lost link
            raise self._failed(exc, sql) from None
        finally:
            cur.close()
        self.check()
        return tuple(row) if row is not None else ()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, fetched ``BATCH`` at a time (a server-side cursor on
        PostgreSQL), checking for cancellation and the timeout between batches."""
        text = self._sql(sql, params)
        started = False
        if self.backend == "postgresql":
            conn = self.db.driver_connection
            cur = conn.cursor(name=f"ssisrun_profile_{id(text) & 0xFFFFFF:x}_{time.time_ns()}",
                              withhold=True)
        else:
            cur = self.db.cursor()
        try:
            while True:
                try:
                    if not started:
                        cur.execute(text, tuple(params))
                        started = True
                    batch = cur.fetchmany(BATCH)
                except Exception as exc:  # the driver's own error
                    raise self._failed(exc, sql) from None
                if not batch:
                    break
                for row in batch:
                    yield tuple(row)
                self.check()
        finally:
            cur.close()

    # ---- catalog

    def table(self, schema: str, name: str) -> TableInfo:
        key = (schema.lower(), name.lower())
        found = self._tables.get(key)
        if found is None:
            found = self._load_table(schema, name)
            self._tables[key] = found
        return found

    def row_count(self, table: TableInfo) -> int:
        if table.row_count < 0:
            table.row_count = int(self.scalar_row(f"SELECT COUNT(*) FROM {table.qualified}")[0])
        return table.row_count

    def _missing(self, schema: str, name: str) -> ProfileError:
        shown = f"{schema}.{name}" if schema else name
        return ProfileError(f"the table or view {shown} does not exist in the database of "
                            f"the {self.label}")

    def _load_table(self, schema: str, name: str) -> TableInfo:
        if self.backend == "sqlite":
            return self._sqlite_table(schema, name)
        p = self.placeholder()
        default = "dbo" if self.backend == "mssql" else None
        wanted = schema or default
        candidates = list(self.rows(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE LOWER(table_name) = LOWER({p})", (name,)))
        match = _best(candidates, wanted, name)
        if match is None and self.backend == "postgresql" and (not schema or
                                                               schema.lower() == "dbo"):
            current = str(self.scalar_row("SELECT current_schema()")[0])
            match = _best(candidates, current, name)
        if match is None:
            raise self._missing(schema, name)
        real_schema, real_name = match
        columns: list[ColumnInfo] = []
        for col, type_name, max_len, precision, scale, nullable in self.rows(
                "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
                "numeric_scale, is_nullable FROM information_schema.columns "
                f"WHERE table_schema = {p} AND table_name = {p} ORDER BY ordinal_position",
                (real_schema, real_name)):
            kind, db_type = classify(self.backend, str(type_name),
                                     int(max_len) if max_len is not None else None)
            base = str(type_name).lower()
            numeric = kind in ("integer", "numeric")
            columns.append(ColumnInfo(
                str(col), str(type_name), kind, db_type,
                max_length=int(max_len) if max_len is not None else 0,
                precision=int(precision) if numeric and precision is not None else 255,
                scale=int(scale) if numeric and scale is not None else 255,
                nullable=str(nullable).upper() == "YES",
                is_bit=db_type == "Bit",
                unicode=not (self.backend == "mssql" and base in ("char", "varchar", "text"))))
        qualified = f"{self.quote(real_schema)}.{self.quote(real_name)}"
        return TableInfo(schema, name, qualified, columns)

    def _sqlite_table(self, schema: str, name: str) -> TableInfo:
        databases = [str(row[1]) for row in self.rows("PRAGMA database_list")]
        db_name = next((d for d in databases if schema and d.lower() == schema.lower()),
                       "main")
        found = [(str(n), str(t)) for n, t in self.rows(
            f"SELECT name, type FROM {self.quote(db_name)}.sqlite_master "
            "WHERE type IN ('table', 'view')")]
        real = next((n for n, _t in found if n == name), None) or \
            next((n for n, _t in found if n.lower() == name.lower()), None)
        if real is None:
            raise self._missing(schema, name)
        qualified = (self.quote(real) if db_name == "main"
                     else f"{self.quote(db_name)}.{self.quote(real)}")
        columns: list[ColumnInfo] = []
        for _cid, col, declared, notnull, _default, _pk in self.rows(
                f"PRAGMA {self.quote(db_name)}.table_info({self.quote(real)})"):
            declared_text = str(declared or "")
            kind, db_type = classify("sqlite", declared_text, None)
            if not declared_text.strip():
                sample = self.scalar_row(f"SELECT {self.quote(str(col))} FROM {qualified} "
                                         f"WHERE {self.quote(str(col))} IS NOT NULL LIMIT 1")
                if sample:
                    kind, db_type = kind_of_value(sample[0])
            length = 0
            if "(" in declared_text and kind == "char":
                inside = declared_text.split("(", 1)[1].split(")", 1)[0].split(",")[0]
                length = int(inside) if inside.strip().isdigit() else 0
            columns.append(ColumnInfo(str(col), declared_text or "(none)", kind, db_type,
                                      max_length=length, nullable=not notnull,
                                      is_bit=db_type == "Bit"))
        return TableInfo(schema, name, qualified, columns)


def _best(candidates: list[tuple[Any, ...]], schema: str | None,
          name: str) -> tuple[str, str] | None:
    """The catalog's (schema, table) for a requested name: exact spelling first, then any
    case."""
    rows = [(str(s), str(t)) for s, t in candidates]
    if schema is not None:
        rows = [(s, t) for s, t in rows if s.lower() == schema.lower()]
    for s, t in rows:
        if t == name and (schema is None or s == schema):
            return s, t
    return rows[0] if len(rows) == 1 or (rows and schema is not None) else None
