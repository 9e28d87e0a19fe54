"""The Bulk Insert Task: a flat file into SQLite (batched inserts) and into PostgreSQL
(COPY), with terminators, FirstRow/LastRow, BatchSize, KeepNulls and CheckConstraints."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import Exe, connection_manager
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from sqltest import Run, database

from ssisrun.model import ExecResult
from ssisrun.tasks.bulk_insert import terminator

NS = "www.microsoft.com/sqlserver/dts/tasks/bulkinserttask"


def bulk_task(name: str = "Load", **attrs: Any) -> Exe:
    settings = {"SourceConnectionName": "File", "DestinationConnectionName": "Db", **attrs}
    body = " ".join(f"BulkInsertTask:{k}={quoteattr(str(v))}" for k, v in settings.items())
    return Exe(name, "Microsoft.BulkInsertTask",
               object_data=f'<BulkInsertTask:BulkInsertTaskData {body} '
                           f'xmlns:BulkInsertTask="{NS}" />')


def test_ssis_terminator_spellings() -> None:
    assert terminator("Comma {,}") == ","
    assert terminator("Tab") == "\t"
    assert terminator("{CR}{LF}") == "\r\n"
    assert terminator("Vertical Bar {|}") == "|"
    assert terminator("Semicolon {;}") == ";"
    assert terminator("{LF}") == "\n"
    assert terminator("~") == "~"


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "zips.csv"
    path.write_bytes(b"zip,city,pop\r\n01001,Agawam,16769\r\n01002,,29049\r\n"
                     b"01003,Amherst,-5\r\n01005,Barre,4546\r\n")
    return path


def test_sqlite_load_with_first_row_batches_defaults_and_unchecked_constraints(
        tmp_path: Path, csv: Path) -> None:
    db = tmp_path / "zip.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE zipcode (zip TEXT, city TEXT DEFAULT 'unknown', "
                     "pop INTEGER CHECK (pop >= 0))")
    run = Run([bulk_task(DestinationTableName="[dbo].[zipcode]", FieldTerminator="Comma {,}",
                         RowTerminator="{CR}{LF}", FirstRow="2", BatchSize="2")],
              connections=[database("Db", f"Data Source={db};Provider=SQLite"),
                           connection_manager(8, "File", "FILE", str(csv))])
    assert run.ok, run.errors
    with sqlite3.connect(db) as conn:
        assert list(conn.execute("SELECT * FROM zipcode ORDER BY zip")) == [
            ("01001", "Agawam", 16769), ("01002", "unknown", 29049), ("01003", "Amherst", -5),
            ("01005", "Barre", 4546)]


def test_sqlite_keep_nulls_last_row_and_checked_constraints(tmp_path: Path,
                                                            csv: Path) -> None:
    db = tmp_path / "zip.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE zipcode (zip TEXT, city TEXT DEFAULT 'unknown', "
                     "pop INTEGER CHECK (pop >= 0))")
    conns = [database("Db", f"Data Source={db};Provider=SQLite"),
             connection_manager(8, "File", "FILE", str(csv))]
    run = Run([bulk_task(DestinationTableName="zipcode", FieldTerminator="Comma {,}",
                         FirstRow="2", LastRow="3", KeepNulls="True")], connections=conns)
    assert run.ok, run.errors
    with sqlite3.connect(db) as conn:
        assert list(conn.execute("SELECT * FROM zipcode ORDER BY zip")) == [
            ("01001", "Agawam", 16769), ("01002", None, 29049)]
    checked = Run([bulk_task(DestinationTableName="zipcode", FieldTerminator="Comma {,}",
                             FirstRow="4", CheckConstraints="True")], connections=conns)
    assert checked.result.result == ExecResult.Failure
    assert "CHECK constraint failed" in checked.errors[0]


def test_a_row_with_the_wrong_number_of_fields_fails(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a TEXT, b TEXT)")
    data = tmp_path / "t.txt"
    data.write_text("a\tb\nc\n", encoding="utf-8")
    run = Run([bulk_task(DestinationTableName="t")],
              connections=[database("Db", f"Data Source={db};Provider=SQLite"),
                           connection_manager(8, "File", "FILE", str(data))])
    assert "row 2 of the data file has 1 field(s)" in run.errors[0]


def test_postgres_copy(postgres_server: PostgresServer, csv: Path) -> None:  # noqa: F811
    name = postgres_server.fresh_database("bulk")
    with postgres_server.connect(name) as conn:
        conn.execute("CREATE TABLE zipcode (zip text, city text DEFAULT 'unknown', pop int)")
    run = Run([bulk_task(DestinationTableName="[dbo].[zipcode]", FieldTerminator="Comma {,}",
                         FirstRow="2", BatchSize="3")],
              connections=[database("Db", postgres_server.connection_string(name)),
                           connection_manager(8, "File", "FILE", str(csv))])
    assert run.ok, run.errors
    with postgres_server.connect(name) as conn:
        assert conn.execute("SELECT * FROM zipcode ORDER BY zip").fetchall() == [
            ("01001", "Agawam", 16769), ("01002", "unknown", 29049), ("01003", "Amherst", -5),
            ("01005", "Barre", 4546)]
