"""Database components against a real SQLite file (and PostgreSQL when tests/pg.py finds
one): OLE DB Source and Destination, ADO.NET and ODBC (the same code path), Lookup and
OLE DB Command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from builders import Var, el
from test_dataflow import (
    PEOPLE,
    PEOPLE_COLS,
    C,
    Col,
    FFCol,
    In,
    InCol,
    Out,
    errors,
    flat_file_cm,
    flow,
    infos,
    people_file,
    result,
    run,
    source,
)

from ssisrun.model import ExecResult
from ssisrun.runtime.context import TaskContext

pytestmark = pytest.mark.skipif(not hasattr(TaskContext, "database"),
                                reason="ssisrun.connections is not in this tree")


def oledb_connection(name: str, text: str, guid_prefix: str = "22222222") -> str:
    """An OLEDB connection manager element holding ``text``."""
    data = el(8, "ConnectionManager", {"ConnectionString": text})
    return el(8, "ConnectionManager",
              {"ObjectName": name, "DTSID": f"{{{guid_prefix}-0000-0000-0000-{len(name):012d}}}",
               "CreationName": "OLEDB"}, f"<DTS:ObjectData>{data}</DTS:ObjectData>",
              attrs={"DTS:refId": f"Package.ConnectionManagers[{name}]"})


def oledb_cm(name: str, db: Path) -> str:
    return oledb_connection(name, f"Data Source={db};Provider=SQLite;")


def make_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (id INTEGER, name TEXT, amount REAL)")
        conn.execute("CREATE TABLE colors (id INTEGER PRIMARY KEY, color TEXT)")
        conn.executemany("INSERT INTO colors VALUES (?, ?)", [(1, "red"), (2, "green")])
        conn.execute("CREATE TABLE log (id INTEGER, note TEXT)")
    return path


def db_dest(name: str, table: str, sources: list[str], mode: str = "3",
            error: str = "FailComponent") -> C:
    cols = [InCol(s, external=s.split(".")[-1]) for s in sources]
    return C(name, "Microsoft.OLEDBDestination",
             {"AccessMode": mode, "OpenRowset": table, "FastLoadMaxInsertCommitSize": "2"},
             inputs=[In("Input", cols, error=error,
                        external=[Col(s.split(".")[-1]) for s in sources])],
             outputs=[Out("Error", [Col("ErrorCode", "i4", special=1),
                                    Col("ErrorColumn", "i4", special=2)], error_out=True,
                          sync="Input")],
             connection="Db")


def test_flat_file_to_oledb_destination_then_oledb_source_to_file(tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db")
    src = people_file(tmp_path / "in.csv", rows=5)
    xml = flow([source("Src", "In", PEOPLE_COLS),
                db_dest("Dst", "[dbo].[people]",
                        ["Src.Output.id", "Src.Output.name", "Src.Output.amount"])],
               [("Src.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), sum(amount) FROM people").fetchone() == (5, 22.5)
    assert '"Dst" wrote 5 rows.' in infos(events)

    out = tmp_path / "out.csv"
    mapping = '"Parameter0:Input",{33333333-0000-0000-0000-000000000001};'
    oledb_src = C("Read", "Microsoft.OLEDBSource",
                  {"AccessMode": "2", "SqlCommand": "SELECT id, name FROM people WHERE id > ?",
                   "ParameterMapping": mapping},
                  outputs=[Out("Output", [Col("id", "i4", 0), Col("name")])], connection="Db")
    var = Var("Min", 3, "3", props={"DTSID": "{33333333-0000-0000-0000-000000000001}"})
    dst_cols = [InCol(s, external=s.split(".")[-1]) for s in ("Read.Output.id",
                                                              "Read.Output.name")]
    dst = C("File", "Microsoft.FlatFileDestination", {"Overwrite": "true"},
            inputs=[In("Input", dst_cols, external=[Col("id"), Col("name")])],
            connection="Out")
    xml = flow([oledb_src, dst], [("Read.Output", "File.Input")],
               connections=[oledb_cm("Db", db),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("name")],
                                         names_row=False, qualifier="")],
               variables=[var])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().split("\n")[:2] == ["4,Name 4", "5,Name 5"]


def test_insert_errors_redirected_row_by_row(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.execute("INSERT INTO t VALUES (2, 'old')")
    src = people_file(tmp_path / "in.csv", rows=3)
    bad = tmp_path / "bad.csv"
    dst_cols = [InCol("Dst.Error.ErrorCode", external="ErrorCode")]
    xml = flow([source("Src", "In", PEOPLE_COLS),
                db_dest("Dst", "t", ["Src.Output.id", "Src.Output.name"], mode="0",
                        error="RedirectRow"),
                C("Bad", "Microsoft.FlatFileDestination", {},
                  inputs=[In("Input", dst_cols, external=[Col("ErrorCode")])],
                  connection="Bad")],
               [("Src.Output", "Dst.Input"), ("Dst.Error", "Bad.Input")],
               connections=[flat_file_cm("In", src, PEOPLE), oledb_cm("Db", db),
                            flat_file_cm("Bad", bad, [FFCol("ErrorCode")], names_row=False,
                                         qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [
            (1, "Name 1"), (2, "old"), (3, "Name 3")]
    assert bad.read_text().split() == ["-1071607767"]


def test_lookup_match_no_match_and_ole_db_command(tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db")
    src = people_file(tmp_path / "in.csv", rows=3)
    out = tmp_path / "out.csv"
    lookup = C("Look", "Microsoft.Lookup",
               {"SqlCommand": "SELECT * FROM [dbo].[colors]", "NoMatchBehavior": "1"},
               inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "id"})])],
               outputs=[Out("Match", [Col("color", props={"CopyFromReferenceColumn": "color"})],
                            sync="In"),
                        Out("No Match", sync="In")], connection="Db")
    match_dst = C("Dst", "Microsoft.FlatFileDestination", {},
                  inputs=[In("Input", [InCol("Src.Output.id", external="id"),
                                       InCol("Look.Match.color", external="color")],
                             external=[Col("id"), Col("color")])], connection="Out")
    command = C("Cmd", "Microsoft.OLEDBCommand",
                {"SqlCommand": "INSERT INTO log (id, note) VALUES (?, ?)"},
                inputs=[In("In", [InCol("Src.Output.id", external="Param_0"),
                                  InCol("Src.Output.name", external="Param_1")],
                           external=[Col("Param_0"), Col("Param_1")])],
                outputs=[Out("Out", sync="In")], connection="Db")
    xml = flow([source("Src", "In", PEOPLE_COLS), lookup, match_dst, command],
               [("Src.Output", "Look.In"), ("Look.Match", "Dst.Input"),
                ("Look.No Match", "Cmd.In")],
               connections=[flat_file_cm("In", src, PEOPLE), oledb_cm("Db", db),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("color")],
                                         names_row=False, qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().split() == ["1,red", "2,green"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM log").fetchall() == [(3, "Name 3")]


def test_lookup_without_match_fails_by_default(tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db")
    src = people_file(tmp_path / "in.csv", rows=3)
    lookup = C("Look", "Microsoft.Lookup", {"SqlCommand": "SELECT id, color FROM colors"},
               inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "id"})])],
               outputs=[Out("Match", [Col("color", props={"CopyFromReferenceColumn": "color"})],
                            sync="In")], connection="Db")
    xml = flow([source("Src", "In", PEOPLE_COLS), lookup], [("Src.Output", "Look.In")],
               connections=[flat_file_cm("In", src, PEOPLE), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("no match" in e for e in errors(events)), errors(events)
