"""Transaction containers without MSDTC (docs/transactions.md), against a real SQLite file
and a real PostgreSQL (two databases for two-phase commit): commit when every child
succeeds, rollback of every child's work when a later child fails, NotSupported work kept,
nested Required containers joining the outer transaction, isolation levels, and several
databases in one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from builders import Constraint, Exe
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from sqltest import Run, database, sql_task

from ssisrun.model import ExecResult
from ssisrun.runtime.transactions import transaction_root

REQUIRED = {"TransactionOption": 2}
NOT_SUPPORTED = {"TransactionOption": 0}


def seq(name: str, children: list[Exe], props: dict[str, object] | None = None,
        chain: bool = True) -> Exe:
    """A Sequence whose children run one after the other (when ``chain``)."""
    constraints = ([Constraint(a.name, b.name, name=f"{a.name}>{b.name}")
                    for a, b in zip(children, children[1:], strict=False)] if chain else [])
    return Exe(name, "seq", props=dict(props or {}), children=children,
               constraints=constraints)


def sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (v INTEGER)")
    conn.close()
    return path


def sqlite_cm(name: str, path: Path) -> str:
    return database(name, f"Data Source={path};Provider=SQLite;")


def values(path: Path, table: str = "t") -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return sorted(v for (v,) in conn.execute(f"SELECT v FROM {table}"))
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return sqlite_file(tmp_path / "work.db")


# --------------------------------------------------------------------------- SQLite


def test_commit_when_every_child_succeeds(db: Path) -> None:
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"),
                            sql_task("B", "INSERT INTO t VALUES (2)")], REQUIRED)],
              connections=[sqlite_cm("Db", db)])
    assert run.ok, run.errors
    assert values(db) == [1, 2]


def test_rollback_of_every_childs_work_when_a_later_child_fails(db: Path) -> None:
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"),
                            sql_task("B", "CREATE TABLE u (x INTEGER); INSERT INTO t VALUES (2)"),
                            sql_task("Boom", "INSERT INTO missing VALUES (3)")], REQUIRED)],
              connections=[sqlite_cm("Db", db)])
    assert run.result.result == ExecResult.Failure
    assert any("missing" in e for e in run.errors)
    assert values(db) == []
    with sqlite3.connect(db) as conn:  # the DDL was undone too
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'u'").fetchall() == []
    conn.close()


def test_without_a_transaction_each_task_commits_on_its_own(db: Path) -> None:
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"),
                            sql_task("Boom", "INSERT INTO missing VALUES (3)")])],
              connections=[sqlite_cm("Db", db)])
    assert run.result.result == ExecResult.Failure
    assert values(db) == [1]


def test_a_required_task_is_its_own_transaction(db: Path) -> None:
    run = Run([Exe("A", "sql", props=REQUIRED, object_data=sql_task(
        "A", "INSERT INTO t VALUES (1); INSERT INTO missing VALUES (2)").object_data)],
              connections=[sqlite_cm("Db", db)])
    assert run.result.result == ExecResult.Failure
    assert values(db) == []


def test_not_supported_work_is_kept_after_a_rollback(tmp_path: Path, db: Path) -> None:
    log = sqlite_file(tmp_path / "log.db")
    outside = Exe("Log", "sql", props=NOT_SUPPORTED, object_data=sql_task(
        "Log", "INSERT INTO t VALUES (9)", connection="Log").object_data)
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"), outside,
                            sql_task("Boom", "INSERT INTO missing VALUES (3)")], REQUIRED)],
              connections=[sqlite_cm("Db", db), sqlite_cm("Log", log)])
    assert run.result.result == ExecResult.Failure
    assert values(db) == []
    assert values(log) == [9]


def test_nested_required_containers_join_the_outer_transaction(db: Path) -> None:
    inner = seq("Inner", [sql_task("A", "INSERT INTO t VALUES (1)")], REQUIRED)
    run = Run([seq("Outer", [inner, sql_task("Boom", "INSERT INTO missing VALUES (3)")],
                   REQUIRED)],
              connections=[sqlite_cm("Db", db)])
    assert run.result.result == ExecResult.Failure
    assert values(db) == []  # Inner succeeded but committed nothing of its own


def test_two_connection_managers_on_one_file_share_the_transaction(db: Path) -> None:
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"),
                            sql_task("B", "INSERT INTO t VALUES (2)", connection="Db2")],
                   REQUIRED)],
              connections=[sqlite_cm("Db", db), sqlite_cm("Db2", db)])
    assert run.ok, run.errors
    assert values(db) == [1, 2]


def test_parallel_branches_take_turns_on_the_transaction(db: Path) -> None:
    tasks = [sql_task(f"T{i}", f"INSERT INTO t VALUES ({i})") for i in range(6)]
    run = Run([seq("Load", tasks, REQUIRED, chain=False)], connections=[sqlite_cm("Db", db)])
    assert run.ok, run.errors
    assert values(db) == list(range(6))


def test_the_inherited_transaction_follows_ssis_rules() -> None:
    from builders import package

    from ssisrun.dtsx import load_package_bytes

    xml = package(8, [seq("R", [seq("S", [sql_task("A", "x")]),
                                seq("N", [sql_task("B", "x"),
                                          seq("R2", [sql_task("C", "x")], REQUIRED)],
                                    NOT_SUPPORTED)], REQUIRED)])
    pkg = load_package_bytes(xml.encode(), "t.dtsx")
    by_name = {e.name: e for e in pkg.walk()}
    assert transaction_root(by_name["A"]) is by_name["R"]
    assert transaction_root(by_name["B"]) is None
    assert transaction_root(by_name["C"]) is by_name["R2"]
    assert transaction_root(by_name["Pkg"]) is None


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(postgres_server: PostgresServer) -> tuple[PostgresServer, str, str]:  # noqa: F811
    names = []
    for name in ("tx_one", "tx_two"):
        postgres_server.fresh_database(name)
        with postgres_server.connect(name) as conn:
            conn.execute("CREATE TABLE t (v int PRIMARY KEY)")
            conn.execute("CREATE TABLE log (v int)")
        names.append(name)
    return postgres_server, names[0], names[1]


def pg_values(server: PostgresServer, name: str, table: str = "t") -> list[int]:
    with server.connect(name) as conn:
        return sorted(v for (v,) in conn.execute(f"SELECT v FROM {table}"))


def pg_cm(server: PostgresServer, name: str, database_name: str) -> str:
    return database(name, server.connection_string(database_name))


def test_postgres_commit_and_rollback(pg: tuple[PostgresServer, str, str]) -> None:
    server, one, _ = pg
    ok = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"),
                          sql_task("B", "INSERT INTO t VALUES (2)")], REQUIRED)],
             connections=[pg_cm(server, "Db", one)])
    assert ok.ok, ok.errors
    bad = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (3)"),
                           sql_task("Dup", "INSERT INTO t VALUES (1)")], REQUIRED)],
              connections=[pg_cm(server, "Db", one)])
    assert bad.result.result == ExecResult.Failure
    assert any("duplicate key" in e for e in bad.errors)
    assert pg_values(server, one) == [1, 2]


def test_postgres_not_supported_work_on_the_same_database_is_kept(
        pg: tuple[PostgresServer, str, str]) -> None:
    server, one, _ = pg
    outside = Exe("Log", "sql", props=NOT_SUPPORTED, object_data=sql_task(
        "Log", "INSERT INTO log VALUES (7)").object_data)
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)"), outside,
                            sql_task("Boom", "SELECT 1/0")], REQUIRED)],
              connections=[pg_cm(server, "Db", one)])
    assert run.result.result == ExecResult.Failure
    assert pg_values(server, one) == []
    assert pg_values(server, one, "log") == [7]


def test_postgres_a_separate_inner_transaction_stays_committed(
        pg: tuple[PostgresServer, str, str]) -> None:
    server, one, _ = pg
    separate = seq("Apart", [seq("Inner", [sql_task("A", "INSERT INTO log VALUES (1)")],
                                 REQUIRED)], NOT_SUPPORTED)
    joined = seq("Joined", [sql_task("B", "INSERT INTO t VALUES (2)")], REQUIRED)
    run = Run([seq("Outer", [separate, joined, sql_task("Boom", "SELECT 1/0")], REQUIRED)],
              connections=[pg_cm(server, "Db", one)])
    assert run.result.result == ExecResult.Failure
    assert pg_values(server, one, "log") == [1]
    assert pg_values(server, one) == []


def test_postgres_a_failed_task_handled_by_a_failure_constraint_keeps_the_transaction(
        pg: tuple[PostgresServer, str, str]) -> None:
    server, one, _ = pg
    children = [sql_task("A", "INSERT INTO t VALUES (1)"),
                sql_task("Dup", "INSERT INTO t VALUES (2); INSERT INTO t VALUES (1)"),
                sql_task("Handle", "INSERT INTO log VALUES (1)")]
    load = Exe("Load", "seq", props={**REQUIRED, "MaxErrorCount": 5}, children=children,
               constraints=[Constraint("A", "Dup"), Constraint("Dup", "Handle", name="F",
                                                                value=1)])
    run = Run([load], connections=[pg_cm(server, "Db", one)], props={"MaxErrorCount": 5})
    assert run.result.result == ExecResult.Success, run.errors
    # the failed task's own work (row 2) is undone alone; the rest commits
    assert pg_values(server, one) == [1]
    assert pg_values(server, one, "log") == [1]


@pytest.mark.parametrize(("level", "expected"), [(4096, "read committed"),
                                                  (65536, "repeatable read"),
                                                  (None, "serializable")])
def test_postgres_isolation_level_of_the_starting_container(
        pg: tuple[PostgresServer, str, str], level: int | None, expected: str) -> None:
    from builders import Var

    server, one, _ = pg
    props: dict[str, object] = dict(REQUIRED)
    if level is not None:
        props["ISOLevel"] = level
    read = sql_task("Read", "SELECT current_setting('transaction_isolation') AS l",
                    result_type="SingleRow", results=[("l", "User::Level")])
    run = Run([seq("Load", [read], props)], connections=[pg_cm(server, "Db", one)],
              variables=[Var("Level", 8, "")])
    assert run.ok, run.errors
    assert run.var("User::Level") == expected


def test_postgres_two_databases_commit_with_two_phase_commit(
        pg: tuple[PostgresServer, str, str]) -> None:
    server, one, two = pg
    cms = [pg_cm(server, "One", one), pg_cm(server, "Two", two)]
    ok = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)", connection="One"),
                           sql_task("B", "INSERT INTO t VALUES (2)", connection="Two")],
                  REQUIRED)], connections=cms)
    assert ok.ok, ok.errors
    assert (pg_values(server, one), pg_values(server, two)) == ([1], [2])
    bad = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (3)", connection="One"),
                            sql_task("B", "INSERT INTO t VALUES (4)", connection="Two"),
                            sql_task("Boom", "SELECT 1/0", connection="One")], REQUIRED)],
              connections=cms)
    assert bad.result.result == ExecResult.Failure
    assert (pg_values(server, one), pg_values(server, two)) == ([1], [2])
    with server.connect() as conn:
        assert conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall() == []


def test_postgres_a_failed_prepare_rolls_every_database_back(
        pg: tuple[PostgresServer, str, str]) -> None:
    server, one, two = pg
    # a deferred constraint fails at PREPARE time on the second database
    with server.connect(two) as conn:
        conn.execute("CREATE TABLE parent (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE child (p int REFERENCES parent DEFERRABLE INITIALLY "
                     "DEFERRED)")
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)", connection="One"),
                            sql_task("B", "INSERT INTO child VALUES (42)", connection="Two")],
                   REQUIRED)],
              connections=[pg_cm(server, "One", one), pg_cm(server, "Two", two)])
    assert run.result.result == ExecResult.Failure
    assert any("could not be committed" in e for e in run.errors), run.errors
    assert pg_values(server, one) == []
    with server.connect() as conn:
        assert conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall() == []


def test_sqlite_and_postgres_in_one_transaction_are_refused(
        pg: tuple[PostgresServer, str, str], db: Path) -> None:
    server, one, _ = pg
    run = Run([seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)", connection="Pg"),
                            sql_task("B", "INSERT INTO t VALUES (2)", connection="Lite")],
                   REQUIRED)],
              connections=[pg_cm(server, "Pg", one), sqlite_cm("Lite", db)])
    assert run.result.result == ExecResult.Failure
    message = next(e for e in run.errors if "two-phase" in e)
    assert "'Pg' (postgresql)" in message and "'Lite' (sqlite)" in message
    assert pg_values(server, one) == []
    assert values(db) == []


# --------------------------------------------------------------------------- child packages


@pytest.mark.parametrize(("child_option", "kept"), [(1, []), (0, [1])])
def test_an_in_process_child_package_joins_the_transaction_of_its_task(
        tmp_path: Path, db: Path, child_option: int, kept: list[int]) -> None:
    from builders import package
    from test_task_execute_package import Run as PackageRun
    from test_task_execute_package import execute_package, file_cm

    child = tmp_path / "Child.dtsx"
    child.write_text(package(8, [sql_task("Insert", "INSERT INTO t VALUES (1)")],
                             name="Child", connections=[sqlite_cm("Db", db)],
                             props={"TransactionOption": child_option}))
    parent = tmp_path / "Parent.dtsx"
    parent.write_text(package(8, [seq("Load", [
        execute_package(connection="Child"),
        sql_task("Boom", "INSERT INTO missing VALUES (2)")], REQUIRED)],
        name="Parent", connections=[file_cm("Child", str(child)), sqlite_cm("Db", db)]))
    run = PackageRun(parent)
    assert run.result.result == ExecResult.Failure
    assert values(db) == kept  # Supported: rolled back with the parent; NotSupported: kept
