"""The Execute SQL Task against a real SQLite file: statement sources, every result type,
parameters of every kind, GO batches, a retained connection's transaction, the Foreach ADO
loop over a full result set, time-outs and the database's errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from builders import (
    Constraint,
    Exe,
    Var,
    connection_manager,
    foreach_enumerator,
    foreach_mappings,
)
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from sqltest import Run, database, sql_task

from ssisrun.model import ExecResult
from ssisrun.runtime import RunRequest
from ssisrun.tasks.execute_sql import Recordset, mssql_output_batch
from ssisrun.tasks.sql_text import split_batches, tokenize


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "work.db"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, city TEXT,
                                   balance REAL, joined TEXT);
            INSERT INTO customer VALUES (1, 'Ann', 'Oslo', 10.5, '2024-01-02 03:04:05'),
                                        (2, 'Bob', 'Rome', 20.25, '2023-05-06 00:00:00'),
                                        (3, 'Cy', 'Oslo', 0, '2022-12-31 23:59:59');
        """)
    return path


def cm(path: Path, *, retain: bool = False) -> str:
    return database("Db", f"Data Source={path};Provider=SQLite;", retain=retain)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


def test_direct_input_runs_every_statement(db: Path) -> None:
    run = Run([sql_task("Load", "INSERT INTO customer (name) VALUES ('Dee');\n"
                        "UPDATE customer SET city = 'Oslo' WHERE name = 'Dee'")],
              connections=[cm(db)])
    assert run.ok, run.errors
    assert rows(db, "SELECT city FROM customer WHERE name = 'Dee'") == [("Oslo",)]


def test_single_row_binds_by_name_and_ordinal_into_typed_variables(db: Path) -> None:
    run = Run([sql_task("Read", "SELECT COUNT(*) AS n, MAX(balance) AS top, MIN(joined) "
                        "AS first FROM customer", result_type="SingleRow",
                        results=[("N", "User::Count"), ("1", "User::Top"),
                                 ("first", "User::First"), ("0", "User::CountText")])],
              connections=[cm(db)],
              variables=[Var("Count", 3, "0"), Var("Top", 5, "0"), Var("First", 7,
                         "2000-01-01"), Var("CountText", 8, "")])
    assert run.ok, run.errors
    assert run.var("User::Count") == 3
    assert run.var("User::Top") == 20.25
    assert str(run.var("User::First")) == "2022-12-31 23:59:59"
    assert run.var("User::CountText") == "3"


def test_single_row_without_rows_fails(db: Path) -> None:
    run = Run([sql_task("Read", "SELECT name FROM customer WHERE id = 99",
                        result_type="SingleRow", results=[("0", "User::Name")])],
              connections=[cm(db)], variables=[Var("Name")])
    assert run.result.result == ExecResult.Failure
    assert "no rows were returned" in run.errors[0]


def test_rowset_feeds_the_foreach_ado_loop(db: Path, tmp_path: Path) -> None:
    enum = foreach_enumerator(8, "Microsoft.ForEachADOEnumerator",
                              '<FEEADO EnumType="EnumerateRowsInFirstTable" '
                              'VarName="User::Customers" />')
    loop = Exe("Each", "foreach", extra=enum + foreach_mappings(8, "User::Id", "User::Name"),
               children=[sql_task("Log", "INSERT INTO seen VALUES (?, ?)",
                                  params=[("0", "User::Id", "Input"),
                                          ("1", "User::Name", "Input")])])
    run = Run([sql_task("Make", "CREATE TABLE seen (id INTEGER, name TEXT)"),
               sql_task("All", "SELECT id, name FROM customer WHERE city = 'Oslo' ORDER BY id",
                        result_type="Rowset", results=[("0", "User::Customers")]),
               loop],
              connections=[cm(db)],
              constraints=[Constraint("Make", "All"), Constraint("All", "Each", name="C2")],
              variables=[Var("Customers", 13, ""), Var("Id", 3, "0"), Var("Name")])
    assert run.ok, run.errors
    recordset = run.var("User::Customers")
    assert isinstance(recordset, Recordset)
    assert recordset.columns == ["id", "name"]
    assert rows(db, "SELECT * FROM seen") == [(1, "Ann"), (3, "Cy")]


def test_xml_result_is_a_string(db: Path) -> None:
    run = Run([sql_task("Xml", "SELECT id, name FROM customer WHERE id < 3 ORDER BY id",
                        result_type="XML", results=[("0", "User::Xml")]),
               sql_task("One", "SELECT '<a>' || name || '</a>' FROM customer ORDER BY id",
                        result_type="XML", results=[("0", "User::One")])],
              connections=[cm(db)], variables=[Var("Xml"), Var("One")])
    assert run.ok, run.errors
    assert run.var("User::Xml") == '<row id="1" name="Ann"/><row id="2" name="Bob"/>'
    assert run.var("User::One") == "<a>Ann</a><a>Bob</a><a>Cy</a>"


def test_positional_parameters_bind_by_ordinal(db: Path) -> None:
    run = Run([sql_task("Read", "SELECT name FROM customer WHERE city = ? AND balance > ? "
                        "-- a '?' in a comment\n AND name <> '?'",
                        result_type="SingleRow", results=[("0", "User::Name")],
                        params=[("1", "User::Min", "Input"), ("0", "User::City", "Input")])],
              connections=[cm(db)],
              variables=[Var("City", 8, "Oslo"), Var("Min", 5, "5"), Var("Name")])
    assert run.ok, run.errors
    assert run.var("User::Name") == "Ann"


def test_named_parameters_of_ado_net(db: Path) -> None:
    run = Run([sql_task("Read", "SELECT COUNT(*) FROM customer WHERE city = @City OR id = @id",
                        result_type="SingleRow", results=[("0", "User::N")],
                        params=[("@City", "User::City", "Input"), ("@Id", "User::Id",
                                                                   "Input")])],
              connections=[database("Db", f"Data Source={db};Version=3;",
                                    creation="ADO.NET:System.Data.SQLite")],
              variables=[Var("City", 8, "Rome"), Var("Id", 3, "3"), Var("N", 3, "0")])
    assert run.ok, run.errors
    assert run.var("User::N") == 2


def test_output_and_return_value_take_the_returned_row(db: Path) -> None:
    run = Run([sql_task("Calc", "SELECT ? * 2, ? || '!'",
                        params=[("0", "User::Out", "Output"), ("1", "User::Text", "Output")])],
              connections=[cm(db)], variables=[Var("Out", 3, "21"), Var("Text", 8, "hi")])
    assert run.ok, run.errors
    assert run.var("User::Out") == 42
    assert run.var("User::Text") == "hi!"
    failing = Run([sql_task("Calc", "UPDATE customer SET balance = ? WHERE id = 1",
                            params=[("0", "User::Out", "Output")])],
                  connections=[cm(db)], variables=[Var("Out", 3, "1")])
    assert failing.result.result == ExecResult.Failure
    assert "returned no row" in failing.errors[0]


def test_sqlite_has_no_stored_procedures(db: Path) -> None:
    run = Run([sql_task("Call", "EXEC dbo.Load ?", params=[("0", "User::Id", "Input")])],
              connections=[cm(db)], variables=[Var("Id", 3, "1")])
    assert "has no stored procedures" in run.errors[0]


def test_go_batches_and_trigger_bodies(db: Path) -> None:
    sql = ("CREATE TABLE audit (id INTEGER);\ngo\n"
           "CREATE TRIGGER t AFTER INSERT ON customer BEGIN INSERT INTO audit VALUES "
           "(new.id); END;\n  GO  \nINSERT INTO customer (name) VALUES ('X');\nGO 2"
           "\nINSERT INTO customer (name) VALUES ('Y')")
    run = Run([sql_task("Batches", sql)], connections=[cm(db)])
    assert run.ok, run.errors
    assert rows(db, "SELECT id FROM audit ORDER BY id") == [(4,), (5,), (6,)]


def test_retained_connection_keeps_a_transaction_across_tasks(db: Path) -> None:
    def tasks(fail: bool) -> tuple[list[Exe], list[Constraint]]:
        work = "INSERT INTO customer (name) VALUES ('T1'); " + (
            "INSERT INTO nothing VALUES (1)" if fail else "SELECT 1")
        return ([sql_task("Begin", "BEGIN TRANSACTION"), sql_task("Work", work),
                 sql_task("Commit", "COMMIT TRANSACTION"),
                 sql_task("Rollback", "ROLLBACK TRANSACTION")],
                [Constraint("Begin", "Work"), Constraint("Work", "Commit", name="Ok"),
                 Constraint("Work", "Rollback", name="Bad", value=1)])

    executables, constraints = tasks(fail=True)
    run = Run(executables, connections=[cm(db, retain=True)], constraints=constraints,
              props={"MaxErrorCount": 2})  # the Failure path runs
    assert [r.name for r in run.result.runs if r.result == ExecResult.Success] == [
        "Begin", "Rollback", "Pkg"]
    assert rows(db, "SELECT COUNT(*) FROM customer WHERE name = 'T1'") == [(0,)]
    executables, constraints = tasks(fail=False)
    run = Run(executables, connections=[cm(db, retain=True)], constraints=constraints)
    assert run.ok, run.errors
    assert rows(db, "SELECT COUNT(*) FROM customer WHERE name = 'T1'") == [(1,)]


def test_an_open_transaction_is_rolled_back_at_the_end_of_the_run(db: Path) -> None:
    run = Run([sql_task("Begin", "BEGIN; DELETE FROM customer")],
              connections=[cm(db, retain=True)])
    assert run.ok, run.errors
    assert rows(db, "SELECT COUNT(*) FROM customer") == [(3,)]


def test_statement_from_a_variable_a_file_and_a_property_expression(db: Path,
                                                                    tmp_path: Path) -> None:
    script = tmp_path / "update.sql"
    script.write_text("UPDATE customer SET city = 'Paris' WHERE id = 2;\n", encoding="utf-8")
    file_cm = connection_manager(8, "Script", "FILE", str(script))
    run = Run([sql_task("FromVar", "User::Sql", source_type="Variable"),
               sql_task("FromFile", "Script", source_type="FileConnection"),
               sql_task("FromExpr", "SELECT 1", expressions={
                   "SqlStatementSource": '"DELETE FROM customer WHERE id = " + '
                                         '(DT_WSTR, 5) @[User::Id]'})],
              connections=[cm(db), file_cm],
              variables=[Var("Sql", 8, "UPDATE customer SET name = 'Zed' WHERE id = 1"),
                         Var("Id", 3, "3")])
    assert run.ok, run.errors
    assert rows(db, "SELECT id, name, city FROM customer ORDER BY id") == [
        (1, "Zed", "Oslo"), (2, "Bob", "Paris")]


def test_database_errors_fail_with_the_message_and_the_statement(db: Path) -> None:
    run = Run([sql_task("Bad", "SELECT * FROM missing_table")], connections=[cm(db)])
    assert run.result.result == ExecResult.Failure
    assert 'Executing the query "SELECT * FROM missing_table" failed' in run.errors[0]
    assert "no such table: missing_table" in run.errors[0]


def test_timeout_interrupts_the_statement(db: Path) -> None:
    slow = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
            "SELECT COUNT(*) FROM r")
    run = Run([sql_task("Slow", slow, TimeOut="1")], connections=[cm(db)])
    assert run.result.result == ExecResult.Failure
    assert "TimeOut of 1 s" in run.errors[0]


def test_null_into_a_string_variable_fails_clearly(db: Path) -> None:
    run = Run([sql_task("Read", "SELECT NULL", result_type="SingleRow",
                        results=[("0", "User::Name")])],
              connections=[cm(db)], variables=[Var("Name")])
    assert "NULL cannot be assigned to User::Name" in run.errors[0]


def test_translation_from_t_sql(db: Path) -> None:
    run = Run([sql_task("Top", "SELECT TOP 1 name FROM [customer] WHERE ISNULL(city, '') = ? "
                        "ORDER BY id DESC", result_type="SingleRow",
                        results=[("0", "User::Name")], params=[("0", "User::City", "Input")])],
              connections=[cm(db)], variables=[Var("City", 8, "Oslo"), Var("Name")],
              request=RunRequest(sql_dialects={"Db": "sqlite"}))
    assert run.ok, run.errors
    assert run.var("User::Name") == "Cy"


def test_go_lines_and_markers_are_found_outside_strings_and_comments() -> None:
    assert split_batches("a\nGO\nb\n go 2\nc\nGOTO x") == ["a\n", "\nb\n", "\nb\n",
                                                          "\nc\nGOTO x"]
    kinds = [t.kind for t in tokenize("SELECT '?', [a?], \"b?\" /* ? */ FROM t -- ?\n"
                                      "WHERE x = ? AND y = @p", names=True)]
    assert kinds.count("marker") == 1 and kinds.count("name") == 1


def test_sql_server_output_parameters_become_declared_variables() -> None:
    from ssisrun.tasks.execute_sql import ParameterBinding

    tokens = tokenize("EXEC ? = dbo.GetCount ?, ? OUTPUT")
    bindings = [ParameterBinding("0", "User::Ret", "ReturnValue", 3),
                ParameterBinding("1", "User::In", "Input", 130),
                ParameterBinding("2", "User::Out", "Output", 20)]
    sql, values, outputs = mssql_output_batch(tokens, bindings, [None, "x", 5], "pyformat")
    assert sql == ("SET NOCOUNT ON;\nDECLARE @ssisrun_p0 int;\nDECLARE @ssisrun_p1 bigint;\n"
                   "SET @ssisrun_p1 = %s;\nEXEC @ssisrun_p0 = dbo.GetCount %s, @ssisrun_p1 "
                   "OUTPUT\nSELECT @ssisrun_p0 AS [0], @ssisrun_p1 AS [1];")
    assert values == [5, "x"]
    assert [b.variable for b in outputs] == ["User::Ret", "User::Out"]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(postgres_server: PostgresServer) -> tuple[PostgresServer, str]:  # noqa: F811
    name = postgres_server.fresh_database("execsql")
    with postgres_server.connect(name) as conn:
        conn.execute("CREATE TABLE account (id int PRIMARY KEY, name text, pct text)")
        conn.execute("INSERT INTO account VALUES (1, 'Ann', '10%'), (2, 'Bob', '20%')")
        conn.execute("CREATE PROCEDURE bump(a int, INOUT total int) LANGUAGE plpgsql AS "
                     "$$ BEGIN total := a + 100; END; $$")
        conn.execute("CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS "
                     "$$ SELECT x * 2 $$")
    return postgres_server, name


def test_postgres_begin_tran_rollback_on_a_retained_connection(
        pg: tuple[PostgresServer, str]) -> None:
    server, name = pg
    steps = [sql_task("Begin", "BEGIN TRAN"),
             sql_task("Work", "INSERT INTO account VALUES (3, 'Cy', '5%');\n"
                      "INSERT INTO account VALUES (1, 'dup', '0%')"),
             sql_task("Commit", "COMMIT TRAN"), sql_task("Rollback", "ROLLBACK TRAN")]
    constraints = [Constraint("Begin", "Work"), Constraint("Work", "Commit", name="Ok"),
                   Constraint("Work", "Rollback", name="Bad", value=1)]
    run = Run(steps, constraints=constraints,
              connections=[database("Db", server.connection_string(name), retain=True)],
              request=RunRequest(sql_dialects={"*": "postgres"}),
              props={"MaxErrorCount": 2})  # the Failure path runs
    assert "duplicate key value" in run.errors[0]
    assert [r.name for r in run.result.runs if r.result == ExecResult.Success] == [
        "Begin", "Rollback", "Pkg"]
    with server.connect(name) as conn:
        assert conn.execute("SELECT count(*) FROM account").fetchone() == (2,)


def test_postgres_parameters_results_and_procedures(pg: tuple[PostgresServer, str]) -> None:
    server, name = pg
    run = Run([sql_task("Read", "SELECT name, pct FROM account WHERE id = ? AND pct LIKE '%%'",
                        result_type="SingleRow", params=[("0", "User::Id", "Input")],
                        results=[("NAME", "User::Name"), ("pct", "User::Pct")]),
               sql_task("Proc", "EXEC bump ?, ? OUTPUT", params=[
                   ("0", "User::Id", "Input"), ("1", "User::Total", "Output")]),
               sql_task("Func", "EXEC ? = twice ?", params=[
                   ("0", "User::Twice", "ReturnValue"), ("1", "User::Id", "Input")]),
               sql_task("All", "SELECT * FROM account ORDER BY id", result_type="Rowset",
                        results=[("0", "User::Rows")])],
              connections=[database("Db", server.url(name))],
              variables=[Var("Id", 3, "2"), Var("Name"), Var("Pct"), Var("Total", 3, "0"),
                         Var("Twice", 3, "0"), Var("Rows", 13, "")])
    assert run.ok, run.errors
    assert (run.var("User::Name"), run.var("User::Pct")) == ("Bob", "20%")
    assert run.var("User::Total") == 102
    assert run.var("User::Twice") == 4
    assert run.var("User::Rows").rows == [(1, "Ann", "10%"), (2, "Bob", "20%")]


def test_postgres_stored_procedure_by_name(pg: tuple[PostgresServer, str]) -> None:
    server, name = pg
    run = Run([sql_task("Proc", "bump", IsStoredProc="True",
                        params=[("@a", "User::Id", "Input"), ("@total", "User::Total",
                                                              "Output")])],
              connections=[database("Db", server.connection_string(name),
                                    creation="ADO.NET:Npgsql")],
              variables=[Var("Id", 3, "5"), Var("Total", 3, "0")])
    assert run.ok, run.errors
    assert run.var("User::Total") == 105
