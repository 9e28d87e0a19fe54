"""OLE DB Source, OLE DB Destination, Lookup and OLE DB Command against a real PostgreSQL
(tests/pg.py), through the OLE DB connection string a package would hold."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from builders import Var
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
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
from test_dataflow_db import db_dest, oledb_connection

from ssisrun.model import ExecResult


def pg_cm(name: str, text: str) -> str:
    return oledb_connection(name, text, "33333333")


@pytest.fixture
def pg(postgres_server: PostgresServer) -> tuple[PostgresServer, str]:  # noqa: F811
    name = postgres_server.fresh_database("dataflow")
    with postgres_server.connect(name) as conn:
        conn.execute("CREATE TABLE people (id int PRIMARY KEY, name varchar(20) NOT NULL, "
                     "amount numeric(10, 2))")
        conn.execute("CREATE TABLE colors (id int PRIMARY KEY, color text)")
        conn.execute("INSERT INTO colors VALUES (1, 'red'), (2, 'green')")
        conn.execute("CREATE TABLE log (id int, note text)")
    return postgres_server, name


def test_postgres_destination_fast_load_then_source_with_a_parameter(
        pg: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, name = pg
    src = people_file(tmp_path / "in.csv", rows=25)
    xml = flow([source("Src", "In", PEOPLE_COLS),
                db_dest("Dst", "[dbo].[people]",
                        ["Src.Output.id", "Src.Output.name", "Src.Output.amount"])],
               [("Src.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            pg_cm("Db", server.connection_string(name))], buffer_rows=10)
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert '"Dst" wrote 25 rows.' in infos(events)
    with server.connect(name) as conn:
        assert conn.execute("SELECT count(*), sum(amount) FROM people").fetchone() == (
            25, Decimal("487.50"))

    out = tmp_path / "out.csv"
    read = C("Read", "Microsoft.OLEDBSource",
             {"AccessMode": "2", "ParameterMapping": '"Parameter0:Input",User::Min;',
              "SqlCommand": "SELECT id, name, amount FROM [dbo].[people] WHERE id > ? "
                            "ORDER BY id"},
             outputs=[Out("Output", [Col("id", "i4", 0), Col("name", "wstr", 20),
                                     Col("amount", "numeric", 0, precision=10, scale=2)])],
             connection="Db")
    dst = C("File", "Microsoft.FlatFileDestination", {},
            inputs=[In("Input", [InCol(f"Read.Output.{c}", external=c)
                                 for c in ("id", "name", "amount")],
                       external=[Col("id"), Col("name"), Col("amount")])], connection="Out")
    xml = flow([read, dst], [("Read.Output", "File.Input")],
               connections=[pg_cm("Db", server.connection_string(name)),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("name"),
                                                      FFCol("amount")], qualifier="",
                                         names_row=False)],
               variables=[Var("Min", 3, "22")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().splitlines() == ["23,Name 23,34.50", "24,Name 24,36.00",
                                            "25,Name 25,37.50"]


def test_postgres_row_by_row_insert_redirects_the_failing_rows(
        pg: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, name = pg
    with server.connect(name) as conn:
        conn.execute("INSERT INTO people VALUES (2, 'old', 0)")
    src = people_file(tmp_path / "in.csv", rows=3)
    bad = tmp_path / "bad.csv"
    dst = db_dest("Dst", "people", ["Src.Output.id", "Src.Output.name"], mode="0",
                  error="RedirectRow")
    err_dst = C("Bad", "Microsoft.FlatFileDestination", {},
                inputs=[In("Input", [InCol("Dst.Error.ErrorCode", external="ErrorCode")],
                           external=[Col("ErrorCode")])], connection="Bad")
    xml = flow([source("Src", "In", PEOPLE_COLS), dst, err_dst],
               [("Src.Output", "Dst.Input"), ("Dst.Error", "Bad.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            pg_cm("Db", server.connection_string(name)),
                            flat_file_cm("Bad", bad, [FFCol("ErrorCode")], names_row=False,
                                         qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with server.connect(name) as conn:
        assert conn.execute("SELECT id, name FROM people ORDER BY id").fetchall() == [
            (1, "Name 1"), (2, "old"), (3, "Name 3")]
    assert bad.read_text().split() == ["-1071607767"]


def test_postgres_lookup_and_ole_db_command(pg: tuple[PostgresServer, str],
                                            tmp_path: Path) -> None:
    server, name = pg
    src = people_file(tmp_path / "in.csv", rows=3)
    out = tmp_path / "out.csv"
    lookup = C("Look", "Microsoft.Lookup",
               {"SqlCommand": "SELECT * FROM [dbo].[colors]", "NoMatchBehavior": "1"},
               inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "id"})])],
               outputs=[Out("Match", [Col("color", props={"CopyFromReferenceColumn": "color"})],
                            sync="In"), Out("No Match", sync="In")], connection="Db")
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
               connections=[flat_file_cm("In", src, PEOPLE),
                            pg_cm("Db", server.connection_string(name)),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("color")],
                                         names_row=False, qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().split() == ["1,red", "2,green"]
    with server.connect(name) as conn:
        assert conn.execute("SELECT * FROM log").fetchall() == [(3, "Name 3")]
