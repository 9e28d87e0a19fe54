"""The Execute SQL Task: runs SQL on a connection manager's database and binds its
parameters and results to variables.

Its settings are the ``SQLTask:`` attributes of ``SqlTaskData`` (spec ssis-runtime.md 5.12);
a property expression of the same name (``SqlStatementSource``, ``TimeOut`` ...) replaces
one. How it behaves here:

* The statement comes from ``SqlStatementSource`` (``DirectInput``), from the file of a FILE
  connection manager (``FileConnection``, the path mapped like every Windows path) or from a
  variable (``Variable``). It is split into batches on ``GO`` lines; on SQLite, PostgreSQL and
  Oracle a batch is further split into statements on ``;`` (SQL Server takes a batch whole).
* Parameters: ``?`` markers (OLE DB, ODBC, and any connection whose bindings are ordinals)
  take the bindings in the order of their ``ParameterName`` ordinals (0- or 1-based);
  ``@name`` (ADO.NET) takes the binding of that name. Markers are rewritten to the driver's
  style (``%s``, ``:1`` ...). ``Output`` and ``ReturnValue`` parameters: on SQL Server the
  batch declares a T-SQL variable for each and selects them at its end; elsewhere they take,
  in binding order, the columns of the last row the statement returned (a PostgreSQL
  procedure's INOUT parameters, a function's result); the task fails when there is none.
* ``IsQueryStoredProc`` (ADO.NET), and ``EXEC name ?, ?`` or ``{call name(?)}`` on a
  database other than SQL Server, call the procedure the database's way: ``EXEC`` on SQL
  Server, ``CALL`` (procedures) or ``SELECT * FROM`` (functions) on PostgreSQL.
* ``ResultType``: ``ResultSetType_SingleRow`` binds the first row of the first result set by
  column name (any case) or ordinal, converted to each variable's type (no row fails the
  task, a NULL into a non-Object variable too); ``ResultSetType_Rowset`` puts a
  :class:`Recordset` into the Object variable bound to ``0``, which the Foreach ADO
  enumerator iterates; ``ResultSetType_XML`` puts the text of the first column of every row
  together (SQL Server's ``FOR XML``), or the rows as ``<row col="..."/>`` elements when
  there are several columns.
* ``TimeOut`` (seconds, 0 = none) and a cancelled run interrupt the running statement.
* T-SQL translation (opt-in: ``--sql-dialect`` or ``sql_dialect`` in a ``--connections``
  file) rewrites each batch with sqlglot before it runs.
* A database error fails the task with the database's message and the statement (its first
  200 characters), as SSIS's "Executing the query ... failed" does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks.sql_text import Token, split_batches, statements, text_of, tokenize

if TYPE_CHECKING:
    from ssisrun.connections import Database
    from ssisrun.runtime.context import TaskContext

NS = "{www.microsoft.com/sqlserver/dts/tasks/sqltask}"

# SSIS's codes (DTS_E_SQLTASK_*) where known
E_SETTINGS = 0xC002F30E
E_EXECUTE = 0xC002F210
E_NO_ROWS = 0xC002F309
E_RESULT = 0xC002F304
E_CONNECTION = 0xC002F30C
STATEMENT_QUOTE = 200

#: OLE DB parameter type codes -> T-SQL types (Output/ReturnValue variables on SQL Server)
_TSQL_TYPES = {2: "smallint", 3: "int", 4: "real", 5: "float", 6: "money", 7: "datetime",
               11: "bit", 14: "decimal(38, 10)", 16: "tinyint", 17: "tinyint", 18: "smallint",
               19: "int", 20: "bigint", 21: "bigint", 72: "uniqueidentifier",
               129: "varchar(max)", 130: "nvarchar(max)", 131: "decimal(38, 10)",
               133: "date", 134: "time", 135: "datetime2"}


class SqlTaskError(SsisrunError):
    """The task's settings, bindings or results are wrong (not a database error)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class DatabaseError(SsisrunError):
    """The database refused a statement."""


@dataclass
class Recordset:
    """A full result set (``ResultSetType_Rowset``), as an Object variable holds it: the
    Foreach ADO enumerator iterates :attr:`rows`."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    @property
    def tables(self) -> list[Recordset]:
        return [self]

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class ParameterBinding:
    name: str
    variable: str
    direction: str = "Input"
    data_type: int = 130
    size: int = -1


@dataclass
class SqlSettings:
    connection: str = ""
    source_type: str = "DirectInput"
    source: str = ""
    result_type: str = "ResultSetType_None"
    timeout: int = 0
    is_stored_procedure: bool = False
    parameters: list[ParameterBinding] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ResultSet:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "-1")


def read_settings(ctx: TaskContext, body: Any) -> SqlSettings:
    def attr(name: str, default: str) -> Any:
        design = body.get(NS + name) if body is not None else None
        return ctx.property(name, default if design is None else design)

    settings = SqlSettings(
        connection=str(attr("Connection", "")),
        source_type=str(attr("SqlStmtSourceType", "DirectInput")) or "DirectInput",
        source=str(attr("SqlStatementSource", "")),
        result_type=str(attr("ResultType", "ResultSetType_None")) or "ResultSetType_None",
        is_stored_procedure=_truthy(attr("IsStoredProc", "False")),
    )
    timeout = str(attr("TimeOut", "0")).strip() or "0"
    try:
        settings.timeout = int(timeout)
    except ValueError:
        raise SqlTaskError(E_SETTINGS, f"TimeOut must be a whole number of seconds, not "
                           f"'{timeout}'") from None
    if body is not None:
        for child in body:
            if not isinstance(child.tag, str):
                continue
            local = child.tag.rsplit("}", 1)[-1]
            if local == "ParameterBinding":
                size = child.get(NS + "ParameterSize") or "-1"
                settings.parameters.append(ParameterBinding(
                    child.get(NS + "ParameterName") or "",
                    child.get(NS + "DtsVariableName") or "",
                    child.get(NS + "ParameterDirection") or "Input",
                    int(child.get(NS + "DataType") or "130"),
                    int(size) if size.lstrip("-").isdigit() else -1))
            elif local == "ResultBinding":
                settings.results.append((child.get(NS + "ResultName") or "",
                                         child.get(NS + "DtsVariableName") or ""))
    return settings


class ExecuteSqlTask(Task):
    def execute(self, ctx: TaskContext) -> ExecResult | TaskOutcome:
        from ssisrun.connections import DatabaseConnectionError

        try:
            settings = read_settings(ctx, object_data_body(self.host))
            sql = self._statement(ctx, settings)
            if not sql.strip():
                raise SqlTaskError(E_SETTINGS, "the task has no SQL statement")
            if not settings.connection:
                raise SqlTaskError(E_CONNECTION, "the task names no connection manager")
            with ctx.database(settings.connection) as db:
                results = self._run(ctx, db, settings, sql)
                _bind_result_set(ctx, settings, results)
        except DatabaseConnectionError as exc:
            ctx.error(E_CONNECTION, str(exc))
            return ExecResult.Failure
        except SqlTaskError as exc:
            ctx.error(exc.code, str(exc))
            return ExecResult.Failure
        except DatabaseError as exc:
            ctx.error(E_EXECUTE, str(exc))
            return ExecResult.Failure
        if ctx.cancelled.is_set():
            return ExecResult.Canceled
        return ExecResult.Success

    # ---- the statement

    def _statement(self, ctx: TaskContext, settings: SqlSettings) -> str:
        kind, source = settings.source_type, settings.source
        if kind == "Variable":
            value = ctx.scope.get(source)
            if value is None and ctx.scope.find(source) is None:
                raise SqlTaskError(E_SETTINGS, f"the SQL statement variable {source} does "
                                   "not exist")
            return "" if value is None else str(value)
        if kind == "FileConnection":
            _cm, path_text = ctx.connection(source)
            path = Path(ctx.map_path(path_text))
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SqlTaskError(E_SETTINGS, f"cannot read the SQL file {path} (connection "
                                   f"manager '{source}', {path_text}): {exc.strerror}") \
                    from None
            for encoding in ("utf-8-sig", "utf-16") if not data.startswith(
                    (b"\xff\xfe", b"\xfe\xff")) else ("utf-16",):
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    continue
            return data.decode("cp1252", errors="replace")
        return source

    # ---- running

    def _run(self, ctx: TaskContext, db: Database, settings: SqlSettings,
             sql: str) -> list[ResultSet]:
        procedure: list[Token] | None = None
        if settings.is_stored_procedure:
            procedure = _procedure_call(db, sql.strip(), settings)
        named = any(not p.name.strip().lstrip("-").isdigit() for p in settings.parameters)
        ordered = _ordered_bindings(settings.parameters)
        results: list[ResultSet] = []
        outputs_done = False
        marker_index = 0
        for batch in [""] if procedure is not None else split_batches(sql):
            translated = False
            if db.sql_dialect and procedure is None:
                batch = _translate(batch, db.sql_dialect)
                translated = True
            tokens = tokenize(batch, names=named, translated=translated)
            if procedure is not None:
                tokens = procedure
            elif db.backend != "mssql":
                tokens = _call_syntax(db, tokens)
            elif any(t.kind == "code" and "{" in t.text for t in tokens):
                tokens = _odbc_call_to_exec(tokens)
            groups = [tokens] if db.backend == "mssql" else statements(tokens)
            if db.backend == "sqlite":
                groups = _sqlite_statements(groups)
            for group in groups:
                bindings: list[ParameterBinding] = []
                consumed: list[ParameterBinding] = []
                for token in group:
                    if token.kind in ("marker", "slot"):
                        if marker_index >= len(ordered):
                            raise SqlTaskError(E_SETTINGS, f"the statement has more '?' "
                                               f"markers than the {len(ordered)} parameter "
                                               "binding(s)")
                        binding = ordered[marker_index]
                        marker_index += 1
                    elif token.kind == "name":
                        binding = _named_binding(settings.parameters, token.text)
                    else:
                        continue
                    consumed.append(binding)
                    if token.kind != "slot":
                        bindings.append(binding)
                outs = [b for b in consumed if b.direction != "Input"]
                group_results = self._execute(ctx, db, settings, group, bindings)
                results.extend(group_results)
                if outs:
                    outputs_done = True
                    if db.backend != "mssql":
                        self._assign_outputs(ctx, outs, group_results, text_of(group))
        if not outputs_done:
            pending = [p for p in settings.parameters if p.direction != "Input"]
            if pending and not settings.is_stored_procedure:
                names = ", ".join(p.variable for p in pending)
                raise SqlTaskError(E_SETTINGS, f"the Output/ReturnValue parameter(s) {names} "
                                   "have no marker in the statement")
        return results

    def _execute(self, ctx: TaskContext, db: Database, settings: SqlSettings,
                 tokens: list[Token], bindings: list[ParameterBinding]) -> list[ResultSet]:
        values = [_parameter_value(db, ctx.scope.get(b.variable)) for b in bindings]
        outputs: list[ParameterBinding] = []
        if db.backend == "mssql" and any(b.direction != "Input" for b in bindings):
            sql, values, outputs = mssql_output_batch(tokens, bindings, values, db.paramstyle)
        else:
            sql = render(tokens, db.paramstyle, bool(values))
        text = text_of(tokens).strip()
        if not sql.strip():
            return []
        done = threading.Event()
        timed_out = threading.Event()

        def watch() -> None:
            waited = 0.0
            while not done.wait(0.05):
                waited += 0.05
                if ctx.cancelled.is_set() or (settings.timeout and waited >= settings.timeout):
                    if not ctx.cancelled.is_set():
                        timed_out.set()
                    db.interrupt()
                    return

        watcher = threading.Thread(target=watch, daemon=True, name="ssisrun sql timeout")
        watcher.start()
        try:
            cur = db.cursor()
            try:
                if values:
                    cur.execute(sql, values)
                else:
                    cur.execute(sql)
                sets = _fetch_all(cur)
            finally:
                try:
                    cur.close()
                except Exception:  # noqa: BLE001 - a cursor of a broken connection
                    pass
        except Exception as exc:
            if isinstance(exc, SsisrunError):
                raise
            if timed_out.is_set():
                raise DatabaseError(f'Executing the query "{_quote(text)}" failed: the '
                                    f"TimeOut of {settings.timeout} s passed") from None
            message = " ".join(str(exc).split())
            raise DatabaseError(f'Executing the query "{_quote(text)}" failed with the '
                                f'following error: "{message}".') from None
        finally:
            done.set()
            watcher.join()
        if outputs:
            if not sets or not sets[-1].rows:
                raise SqlTaskError(E_RESULT, "the Output parameters could not be read")
            last = sets.pop()
            for binding, value in zip(outputs, last.rows[0], strict=False):
                _assign(ctx, binding.variable, value)
        return sets

    def _assign_outputs(self, ctx: TaskContext, outs: list[ParameterBinding],
                        results: list[ResultSet], text: str) -> None:
        ordered = sorted(outs, key=lambda b: b.direction != "ReturnValue")
        rows = [r for r in results if r.rows]
        if not rows:
            raise SqlTaskError(E_RESULT, f"the statement \"{_quote(text)}\" returned no row to "
                               f"read the Output/ReturnValue parameters "
                               f"{', '.join(b.variable for b in ordered)} from; on this "
                               "database they take the columns of the row the statement "
                               "returns")
        row = rows[-1].rows[0]
        for binding, value in zip(ordered, row, strict=False):
            _assign(ctx, binding.variable, value)


def _procedure_call(db: Database, name: str, settings: SqlSettings) -> list[Token]:
    """``IsQueryStoredProc``: the statement is the procedure's name; the bindings become
    ordinals in call order (ReturnValue first)."""
    returns = [p for p in settings.parameters if p.direction == "ReturnValue"]
    params = [p for p in settings.parameters if p.direction != "ReturnValue"]
    labels = [p.name if p.name.startswith("@") else "" for p in params]
    settings.parameters = returns[:1] + params
    for i, p in enumerate(settings.parameters):
        p.name = str(i)
    if db.backend == "mssql":
        tokens = [Token("code", "EXEC ")]
        if returns:
            tokens += [Token("marker", "?"), Token("code", " = ")]
        tokens.append(Token("code", name + " "))
        for i, (p, label) in enumerate(zip(params, labels, strict=True)):
            if label:
                tokens.append(Token("code", f"{label} = "))
            tokens.append(Token("marker", "?"))
            if p.direction == "Output":
                tokens.append(Token("code", " OUTPUT"))
            if i < len(params) - 1:
                tokens.append(Token("code", ", "))
        return tokens
    args: list[Token] = []
    for i in range(len(params)):
        args.append(Token("marker", "?"))
        if i < len(params) - 1:
            args.append(Token("code", ", "))
    call = _call_tokens(db, name, args)
    return [Token("slot", ""), *call] if returns else call


def _ordered_bindings(bindings: list[ParameterBinding]) -> list[ParameterBinding]:
    """Bindings for ``?`` markers: in the order of their ordinals, else as listed."""
    if all(b.name.strip().lstrip("-").isdigit() for b in bindings):
        return sorted(bindings, key=lambda b: int(b.name))
    return list(bindings)


def _named_binding(bindings: list[ParameterBinding], name: str) -> ParameterBinding:
    wanted = name.lstrip("@").lower()
    for b in bindings:
        if b.name.lstrip("@").lower() == wanted:
            return b
    raise SqlTaskError(E_SETTINGS, f"the statement uses the parameter {name}, which has no "
                       "parameter binding")


def _parameter_value(db: Database, value: Any) -> Any:
    if db.backend == "sqlite":
        if isinstance(value, Decimal):
            return float(value)
        if hasattr(value, "isoformat"):
            return value.isoformat(sep=" ") if hasattr(value, "hour") and hasattr(
                value, "date") else value.isoformat()
    return value


def render(tokens: list[Token], paramstyle: str, with_parameters: bool) -> str:
    """SQL text with markers in the driver's style (``%`` doubled for format styles)."""
    out: list[str] = []
    number = 0
    percent = with_parameters and paramstyle in ("format", "pyformat")
    for token in tokens:
        if token.kind == "slot":
            continue
        if token.kind in ("marker", "name"):
            number += 1
            if paramstyle == "qmark":
                out.append("?")
            elif paramstyle in ("numeric", "named"):
                out.append(f":{number}")
            else:
                out.append("%s")
        elif token.kind == "end":
            out.append(";")
        else:
            out.append(token.text.replace("%", "%%") if percent else token.text)
    return "".join(out)


def mssql_output_batch(tokens: list[Token], bindings: list[ParameterBinding],
                       values: list[Any], paramstyle: str) -> tuple[str, list[Any],
                                                                    list[ParameterBinding]]:
    """A T-SQL batch for Output/ReturnValue parameters: each becomes a declared variable,
    set to the variable's value (Output) first and selected at the end."""
    declare: list[str] = []
    body: list[Token] = []
    outputs: list[ParameterBinding] = []
    inputs: list[Any] = []
    seen: dict[int, str] = {}
    marker = 0
    for token in tokens:
        if token.kind in ("marker", "name"):
            binding, value = bindings[marker], values[marker]
            marker += 1
            if binding.direction == "Input":
                body.append(Token("marker", "?"))
                inputs.append(value)
                continue
            var = seen.get(id(binding))
            if var is None:
                var = f"@ssisrun_p{len(outputs)}"
                seen[id(binding)] = var
                outputs.append(binding)
                sql_type = _TSQL_TYPES.get(binding.data_type, "sql_variant")
                declare.append(f"DECLARE {var} {sql_type};")
                if binding.direction == "Output" and value is not None:
                    declare.append(f"SET {var} = ?;")
                    inputs.insert(len([d for d in declare if d.startswith("SET")]) - 1, value)
            body.append(Token("code", var))
        else:
            body.append(token)
    head = [Token("code", "SET NOCOUNT ON;\n")]
    for line in declare:
        if "?" in line:
            before, _, after = line.partition("?")
            head += [Token("code", before), Token("marker", "?"), Token("code", after + "\n")]
        else:
            head.append(Token("code", line + "\n"))
    tail = [Token("code", "\nSELECT " + ", ".join(f"{seen[id(b)]} AS [{i}]"
                                                for i, b in enumerate(outputs)) + ";")]
    return render(head + body + tail, paramstyle, bool(inputs)), inputs, outputs


_EXEC = re.compile(r"^\s*EXEC(?:UTE)?\s+(?:(\x00)\s*=\s*)?([^\s(;]+)\s*(.*?)\s*$",
                   re.IGNORECASE | re.DOTALL)
_ODBC_CALL = re.compile(r"^\s*\{\s*(?:(\x00)\s*=\s*)?call\s+([^\s(]+)\s*(?:\((.*)\))?\s*\}\s*$",
                        re.IGNORECASE | re.DOTALL)


def _call_syntax(db: Database, tokens: list[Token]) -> list[Token]:
    """``EXEC [? =] name ?, ?`` and ``{[? =] call name(?, ?)}`` -> the database's call."""
    text = "".join("\x00" if t.kind == "marker" else t.text for t in tokens)
    match = _EXEC.match(text) or _ODBC_CALL.match(text)
    if match is None:
        return tokens
    if any(t.kind == "end" for t in tokens) or any(t.kind == "name" for t in tokens):
        return tokens
    args_text = match.group(3) or ""
    args = [a.strip() for a in args_text.split(",") if a.strip()]
    if any(a.rstrip().upper().endswith("OUTPUT") or a.rstrip().upper().endswith(" OUT")
           for a in args):
        args = [re.sub(r"\s+OUT(PUT)?$", "", a, flags=re.IGNORECASE) for a in args]
    arg_tokens: list[Token] = []
    for i, arg in enumerate(args):
        if arg == "\x00":
            arg_tokens.append(Token("marker", "?"))
        else:
            arg_tokens.append(Token("code", arg.replace("\x00", "?")))
        if i < len(args) - 1:
            arg_tokens.append(Token("code", ", "))
    call = _call_tokens(db, match.group(2), arg_tokens)
    # the ReturnValue marker is gone from the call, but its binding keeps its place
    return [Token("slot", ""), *call] if match.group(1) else call


def _call_tokens(db: Database, name: str, args: list[Token]) -> list[Token]:
    if db.backend == "postgresql":
        kind = _pg_prokind(db, name)
        head = "CALL " if kind == "p" else "SELECT * FROM "
        return [Token("code", f"{head}{name}("), *args, Token("code", ")")]
    if db.backend == "oracle":
        return [Token("code", f"BEGIN {name}("), *args, Token("code", "); END;")]
    if db.backend == "mssql":
        return [Token("code", f"EXEC {name} "), *args]
    raise SqlTaskError(E_SETTINGS, f"{db.backend} has no stored procedures: the statement "
                       f"calls {name}")


def _odbc_call_to_exec(tokens: list[Token]) -> list[Token]:
    text = "".join("\x00" if t.kind == "marker" else t.text for t in tokens)
    match = _ODBC_CALL.match(text)
    if match is None:
        return tokens
    out: list[Token] = [Token("code", "EXEC ")]
    if match.group(1):
        out += [Token("marker", "?"), Token("code", " = ")]
    out.append(Token("code", match.group(2) + " "))
    for part in re.split(r"(\x00)", match.group(3) or ""):
        out.append(Token("marker", "?") if part == "\x00" else Token("code", part))
    return out


def _pg_prokind(db: Database, name: str) -> str:
    parts = [p.strip('"') for p in name.split(".")]
    cur = db.cursor()
    try:
        if len(parts) > 1:
            cur.execute("SELECT p.prokind FROM pg_proc p JOIN pg_namespace n ON "
                        "n.oid = p.pronamespace WHERE p.proname = %s AND n.nspname = %s",
                        (parts[-1].lower(), parts[-2].lower()))
        else:
            cur.execute("SELECT prokind FROM pg_proc WHERE proname = %s", (parts[-1].lower(),))
        row = cur.fetchone()
    except Exception as exc:
        raise DatabaseError(f"cannot look up the procedure {name}: "
                            f"{' '.join(str(exc).split())}") from None
    finally:
        cur.close()
    return str(row[0]) if row else "f"


def _sqlite_statements(groups: list[list[Token]]) -> list[list[Token]]:
    """Join pieces that sqlite3 does not see as complete statements (a trigger's body)."""
    import sqlite3

    merged: list[list[Token]] = []
    pending: list[Token] = []
    for group in groups:
        pending = [*pending, Token("end", ";"), *group] if pending else list(group)
        if sqlite3.complete_statement(text_of(pending) + ";"):
            merged.append(pending)
            pending = []
    if pending:
        merged.append(pending)
    return merged


def _translate(batch: str, dialect: str) -> str:
    try:
        import sqlglot
        from sqlglot.errors import SqlglotError
    except ImportError:
        raise SqlTaskError(E_SETTINGS, "T-SQL translation needs sqlglot: pip install "
                           "'ssisrun[translate]'") from None
    try:
        return ";\n".join(sqlglot.transpile(batch, read="tsql", write=dialect))
    except (SqlglotError, ValueError) as exc:
        raise SqlTaskError(E_SETTINGS, f"cannot translate the T-SQL \"{_quote(batch)}\" to "
                           f"{dialect}: {' '.join(str(exc).split())}") from None


def _fetch_all(cur: Any) -> list[ResultSet]:
    sets: list[ResultSet] = []
    while True:
        if cur.description:
            columns = [str(d[0]) for d in cur.description]
            sets.append(ResultSet(columns, [tuple(r) for r in cur.fetchall()]))
        nextset = getattr(cur, "nextset", None)
        if nextset is None:
            break
        try:
            more = nextset()
        except Exception:  # noqa: BLE001 - drivers without multiple result sets raise
            break
        if not more:
            break
    return sets


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= STATEMENT_QUOTE else flat[:STATEMENT_QUOTE] + "..."


def _assign(ctx: TaskContext, name: str, value: Any) -> None:
    var = ctx.scope.find(name)
    if var is None:
        raise SqlTaskError(E_RESULT, f"the variable {name} does not exist")
    if value is None and var.data_type not in (13, 0):
        raise SqlTaskError(E_RESULT, f"the value NULL cannot be assigned to {name} (a "
                           "variable of a type other than Object); use ISNULL/COALESCE in "
                           "the query")
    if isinstance(value, memoryview):
        value = bytes(value)
    try:
        ctx.scope.set(name, value)
    except SsisrunError as exc:
        raise SqlTaskError(E_RESULT, str(exc)) from None


# ---- results


def _bind_result_set(ctx: TaskContext, settings: SqlSettings,
                     results: Sequence[ResultSet]) -> None:
    kind = settings.result_type
    if kind in ("ResultSetType_None", "", "None"):
        return
    first = results[0] if results else None
    if kind in ("ResultSetType_SingleRow", "SingleRow"):
        if first is None or not first.rows:
            raise SqlTaskError(E_NO_ROWS, 'Single Row result set is specified, but no rows '
                               'were returned.')
        row = first.rows[0]
        lowered = [c.lower() for c in first.columns]
        for name, variable in settings.results:
            if name.strip().isdigit():
                index = int(name)
            elif name.lower() in lowered:
                index = lowered.index(name.lower())
            else:
                raise SqlTaskError(E_RESULT, f"the result binding '{name}' names no column of "
                                   f"the result ({', '.join(first.columns)})")
            if index >= len(row):
                raise SqlTaskError(E_RESULT, f"the result binding {index} asks for column "
                                   f"{index}, but the result has {len(row)} column(s)")
            _assign(ctx, variable, row[index])
        return
    if kind in ("ResultSetType_Rowset", "Rowset"):
        recordset = Recordset(list(first.columns), list(first.rows)) if first else \
            Recordset([], [])
        for _name, variable in settings.results:
            _assign(ctx, variable, recordset)
        return
    if kind in ("ResultSetType_XML", "XML"):
        text = _xml_text(first)
        for _name, variable in settings.results:
            _assign(ctx, variable, text)
        return
    raise SqlTaskError(E_SETTINGS, f"ResultType '{kind}' is not one of ResultSetType_None, "
                       "ResultSetType_SingleRow, ResultSetType_Rowset, ResultSetType_XML")


def _xml_text(result: ResultSet | None) -> str:
    if result is None:
        return ""
    if len(result.columns) == 1:
        return "".join("" if r[0] is None else str(r[0]) for r in result.rows)
    rows = []
    for row in result.rows:
        attrs = "".join(f" {_xml_name(c)}={quoteattr(str(v))}"
                        for c, v in zip(result.columns, row, strict=False) if v is not None)
        rows.append(f"<row{attrs}/>")
    return "".join(rows)


def _xml_name(column: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", column) or "_"
    return escape(name if not name[0].isdigit() else "_" + name)

