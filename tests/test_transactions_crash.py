"""Transactions and process death, through real ``ssisrun exec`` processes killed with
SIGKILL: a kill in the middle of a transaction leaves nothing committed (SQLite and
PostgreSQL), and the exactly-once mode survives a kill between the commit and the
checkpoint write (SSISRUN_TEST_KILL_AFTER_COMMIT, a hook that exists only for tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import Exe, package
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from sqltest import sql_task
from test_task_execute_process import sh
from test_transactions import REQUIRED, pg_cm, pg_values, seq, sqlite_cm, sqlite_file, values

from ssisrun.runtime.transactions import MARKER_TABLE, TEST_KILL_AFTER_COMMIT


def write_package(path: Path, executables: list[Exe], connections: list[str],
                  props: dict[str, object] | None = None) -> Path:
    path.write_text(package(8, executables, connections=connections, props=props))
    return path


def start(pkg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "ssisrun", "exec", "--plain", str(pkg), *args]
    return subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=pkg.parent,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_in_the_middle_of_a_transaction_leaves_nothing_committed_sqlite(
        tmp_path: Path) -> None:
    db = sqlite_file(tmp_path / "work.db")
    ready = tmp_path / "ready"
    pkg = write_package(tmp_path / "Kill.dtsx", [seq("Load", [
        sql_task("A", "INSERT INTO t VALUES (1)"), sql_task("B", "INSERT INTO t VALUES (2)"),
        sh(f"touch {ready}; sleep 30", name="Wait")], REQUIRED)], [sqlite_cm("Db", db)])
    proc = start(pkg)
    wait_for(ready.exists)
    kill(proc)
    assert values(db) == []  # the hot journal is rolled back by the next connection


def test_sigkill_in_the_middle_of_a_transaction_leaves_nothing_committed_postgres(
        tmp_path: Path, postgres_server: PostgresServer) -> None:  # noqa: F811
    server = postgres_server
    name = server.fresh_database("tx_kill")
    with server.connect(name) as conn:
        conn.execute("CREATE TABLE t (v int)")
    pkg = write_package(tmp_path / "Kill.dtsx", [seq("Load", [
        sql_task("A", "INSERT INTO t VALUES (1)"),
        sql_task("Wait", "SELECT pg_sleep(30)")], REQUIRED)], [pg_cm(server, "Db", name)])
    proc = start(pkg)

    def sleeping() -> bool:
        with server.connect() as conn:
            return bool(conn.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE "
                                     "'SELECT pg_sleep%'").fetchall())

    wait_for(sleeping)
    kill(proc)
    assert pg_values(server, name) == []
    with server.connect() as conn:  # the orphaned backend would sleep on
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query "
                     "LIKE 'SELECT pg_sleep%'")


@pytest.mark.parametrize("exactly_once", [True, False])
def test_exactly_once_survives_a_sigkill_between_commit_and_checkpoint(
        tmp_path: Path, exactly_once: bool) -> None:
    db = sqlite_file(tmp_path / "work.db")
    pkg = write_package(tmp_path / "Once.dtsx", [
        seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)")],
            {**REQUIRED, "FailPackageOnFailure": True}),
        sql_task("After", "INSERT INTO t VALUES (100)"),
    ], [sqlite_cm("Db", db)], props={"SaveCheckpoints": True})
    ckp = tmp_path / "Once.ckp"
    args = ["--checkpointing", "on", "--checkpoint-file", str(ckp)]
    if exactly_once:
        args.append("--exactly-once")
    proc = start(pkg, *args, env={TEST_KILL_AFTER_COMMIT: "\\Package\\Load"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, out.decode()
    assert 1 in values(db)  # committed; the checkpoint never recorded it
    rerun = start(pkg, *args, "--reporting", "EWI")
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, out.decode()
    conn = sqlite3.connect(db)
    try:
        rows = sorted(v for (v,) in conn.execute("SELECT v FROM t"))
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        markers = (conn.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()
                   if MARKER_TABLE in tables else None)
    finally:
        conn.close()
    if exactly_once:
        assert rows == [1, 100]  # Load counted as completed: its marker was there
        assert "committed before the restart" in out.decode()
        assert markers == (0,)  # cleaned up when the package succeeded
    else:
        assert rows == [1, 1, 100]  # SSIS's window: the committed work runs again
        assert markers is None
    assert not ckp.exists()


def test_exactly_once_across_two_postgres_databases(
        tmp_path: Path, postgres_server: PostgresServer) -> None:  # noqa: F811
    server = postgres_server
    names = [server.fresh_database(n) for n in ("once_one", "once_two")]
    for name in names:
        with server.connect(name) as conn:
            conn.execute("CREATE TABLE t (v int)")
    pkg = write_package(tmp_path / "Once.dtsx", [
        seq("Load", [sql_task("A", "INSERT INTO t VALUES (1)", connection="One"),
                     sql_task("B", "INSERT INTO t VALUES (2)", connection="Two")],
            {**REQUIRED, "FailPackageOnFailure": True}),
    ], [pg_cm(server, "One", names[0]), pg_cm(server, "Two", names[1])],
        props={"SaveCheckpoints": True})
    args = ["--checkpointing", "on", "--exactly-once"]
    proc = start(pkg, *args, env={TEST_KILL_AFTER_COMMIT: "\\Package\\Load"})
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    for name in names:
        with server.connect(name) as conn:
            assert conn.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone() == (1,)
    rerun = start(pkg, *args)
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, out.decode()
    assert (pg_values(server, names[0]), pg_values(server, names[1])) == ([1], [2])
    for name in names:
        with server.connect(name) as conn:
            assert conn.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone() == (0,)
