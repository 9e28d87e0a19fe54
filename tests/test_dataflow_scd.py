"""The Slowly Changing Dimension transformation, in a data flow built as the SCD Wizard
builds it, against a real SQLite file and a real PostgreSQL (tests/pg.py); and the corpus
packages that use it (skipped when ../shared/corpus is absent).

The wizard's flow: a source feeds the SCD; Changing Attribute Updates go to an OLE DB
Command that updates the dimension in place; Historical Attribute Inserts go through a
Derived Column (the end date) and an OLE DB Command that expires the current row, then
join the New Output in a Union All, get their start date in a Derived Column and are
inserted by an OLE DB Destination; Inferred Member Updates go to an OLE DB Command. Each
test runs the package, changes the source table, runs it again and reads the dimension.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import Var, conmgr, dtproj
from click.testing import CliRunner
from corpus_util import CORPUS_DIR, corpus_available
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from test_dataflow import C, Col, In, InCol, Out, errors, flow, lineage, result, run, variable
from test_dataflow_db import db_dest, oledb_connection

from ssisrun.cli import cli
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind

SCD_CLASS = "{25BBB0C5-369B-4303-B3DF-D0DC741DEE58}"
SCD_QUERY = ("SELECT [birth_date], [city], [customer_id], [name], [is_inferred], "
             "[start_date], [end_date] FROM [dbo].[dim_customer]")
#: the SCD's input columns: (name, ColumnType, pipeline type)
SCD_COLUMNS = [("customer_id", "1", "i4"), ("name", "2", "wstr"), ("city", "3", "wstr"),
               ("birth_date", "4", "dbDate")]
OUTPUTS = ["Unchanged Output", "New Output", "Fixed Attribute Output",
           "Changing Attribute Updates Output", "Historical Attribute Inserts Output",
           "Inferred Member Updates Output"]
DIMENSION = ("SELECT customer_id, name, city, birth_date, is_inferred, start_date, end_date "
             "FROM dim_customer ORDER BY customer_id, start_date")


# --------------------------------------------------------------------------- databases


@dataclass
class Db:
    """One dimension database: its connection manager and a way to run SQL on it."""

    kind: str
    connection_string: str
    execute: Callable[[str, list[tuple[Any, ...]] | None], list[tuple[Any, ...]]]

    def cm(self, name: str = "Db") -> str:
        return oledb_connection(name, self.connection_string, "44444444")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows with dates and timestamps as text, as SQLite keeps them."""
        def text(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.isoformat(sep=" ")
            return v.isoformat() if isinstance(v, date) else v
        return [tuple(text(v) for v in row) for row in self.execute(sql, None)]

    def run(self, sql: str, params: list[tuple[Any, ...]] | None = None) -> None:
        """One statement, or one per row of ``params``."""
        self.execute(sql, params)


def _sqlite(path: Path) -> Db:
    def execute(sql: str, params: list[tuple[Any, ...]] | None) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path)
        try:
            with conn:  # commits
                if params is not None:
                    conn.executemany(sql, params)
                    return []
                return conn.execute(sql).fetchall()
        finally:
            conn.close()
    return Db("sqlite", f"Data Source={path};Provider=SQLite;", execute)


def _postgres(server: PostgresServer, name: str) -> Db:
    def execute(sql: str, params: list[tuple[Any, ...]] | None) -> list[tuple[Any, ...]]:
        with server.connect(name) as conn:
            if params is not None:
                with conn.cursor() as cur:
                    cur.executemany(sql.replace("?", "%s"), params)
                return []
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []
    return Db("postgres", server.connection_string(name), execute)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        found = _sqlite(tmp_path / "dw.db")
        key = "sk INTEGER PRIMARY KEY"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        found = _postgres(server, server.fresh_database("scd"))
        key = "sk serial PRIMARY KEY"
    found.run("CREATE TABLE src_customer (customer_id int, name varchar(50), "
              "city varchar(50), birth_date date)")
    found.run(f"CREATE TABLE dim_customer ({key}, customer_id int, name varchar(50), "
              "city varchar(50), birth_date date, is_inferred int NOT NULL DEFAULT 0, "
              "start_date timestamp, end_date timestamp)")
    found.run("CREATE TABLE fixed_changes (customer_id int, birth_date date)")
    yield found


def load_source(db: Db, rows: list[tuple[Any, ...]]) -> None:
    db.run("DELETE FROM src_customer")
    db.run("INSERT INTO src_customer VALUES (?, ?, ?, ?)", rows)


# --------------------------------------------------------------------------- the package


def scd_component(props: dict[str, str], columns: list[tuple[str, str, str]] = SCD_COLUMNS
                  ) -> C:
    settings = {"SqlCommand": SCD_QUERY, "CurrentRowWhere": "[end_date] IS NULL",
                "UpdateChangingAttributeHistory": "true", "FailOnFixedAttributeChange": "false",
                "InferredMemberIndicator": "[is_inferred]", "EnableInferredMember": "true",
                "FailOnLookupFailure": "false", "IncomingRowChangeType": "1", **props}
    inputs = [InCol(f"Src.Output.{name}", {"ColumnType": kind}, external=name)
              for name, kind, _ in columns]
    external = [Col(name, type_, 50 if type_ == "wstr" else 0) for name, _, type_ in columns]
    return C("SCD", SCD_CLASS, settings,
             inputs=[In("Input", inputs, external=external)],
             outputs=[Out(name, sync="Input", exclusion_group=2 if "Historical" in name else 1)
                      for name in OUTPUTS], connection="Db")


def command(name: str, sql: str, sources: list[str]) -> C:
    """An OLE DB Command whose ``?`` markers take ``sources`` in order."""
    return C(name, "Microsoft.OLEDBCommand", {"SqlCommand": sql},
             inputs=[In("In", [InCol(s, external=f"Param_{i}") for i, s in enumerate(sources)],
                        external=[Col(f"Param_{i}") for i in range(len(sources))])],
             outputs=[Out("Out", sync="In")], connection="Db")


def load_date(name: str, column: str) -> C:
    return C(name, "Microsoft.DerivedColumn", inputs=[In("In")],
             outputs=[Out("Out", [Col(column, "dbTimeStamp", 0, props={
                 "FriendlyExpression": "(DT_DBTIMESTAMP)@[User::LoadDate]"})], sync="In")])


def wizard_flow(db: Db, when: str, props: dict[str, str] | None = None) -> str:
    """The data flow the SCD Wizard generates, loading ``dim_customer`` from
    ``src_customer``; ``when`` is the load date (the new rows' start date and the expired
    rows' end date)."""
    props = props or {}
    names = [name for name, _, _ in SCD_COLUMNS]
    source = C("Src", "Microsoft.OLEDBSource",
               {"AccessMode": "2", "SqlCommand": "SELECT customer_id, name, city, birth_date "
                                                 "FROM src_customer ORDER BY customer_id"},
               outputs=[Out("Output", [Col(name, type_, 50 if type_ == "wstr" else 0)
                                       for name, _, type_ in SCD_COLUMNS])], connection="Db")
    current = "" if props.get("UpdateChangingAttributeHistory", "true") == "true" \
        else " AND [end_date] IS NULL"
    changing = command("Changing Attribute Updates",
                       f"UPDATE [dbo].[dim_customer] SET [name] = ? WHERE [customer_id] = ?"
                       f"{current}", ["Src.Output.name", "Src.Output.customer_id"])
    expire = command("Expire", "UPDATE [dbo].[dim_customer] SET [end_date] = ? "
                     "WHERE [customer_id] = ? AND [end_date] IS NULL",
                     ["Expiry.Out.end_date", "Src.Output.customer_id"])
    inferred = command("Inferred Member Updates",
                       "UPDATE [dbo].[dim_customer] SET [name] = ?, [city] = ?, "
                       "[birth_date] = ?, [is_inferred] = 0 WHERE [customer_id] = ? "
                       "AND [end_date] IS NULL",
                       ["Src.Output.name", "Src.Output.city", "Src.Output.birth_date",
                        "Src.Output.customer_id"])
    union = C("Union", "Microsoft.UnionAll",
              inputs=[In(port, [InCol(f"Src.Output.{n}", {
                  "OutputColumnLineageID": "#{" + lineage(f"Union.Out.{n}") + "}"})
                  for n in names]) for port in ("New", "Hist")],
              outputs=[Out("Out", [Col(n, t, 50 if t == "wstr" else 0)
                                   for n, _, t in SCD_COLUMNS])])
    insert = db_dest("Insert Destination", "[dbo].[dim_customer]",
                     [f"Union.Out.{n}" for n in names] + ["Start.Out.start_date"],
                     mode="0")  # row by row, as the wizard generates it
    fixed = db_dest("Fixed Changes", "fixed_changes",
                    ["Src.Output.customer_id", "Src.Output.birth_date"], mode="0")
    count = C("Count Unchanged", "Microsoft.RowCount", {"VariableName": "User::Unchanged"},
              inputs=[In("In")], outputs=[Out("Out", sync="In")])
    components = [source, scd_component(props), changing, load_date("Expiry", "end_date"),
                  expire, union, load_date("Start", "start_date"), insert, fixed, inferred,
                  count]
    paths = [("Src.Output", "SCD.Input"),
             ("SCD.Changing Attribute Updates Output", "Changing Attribute Updates.In"),
             ("SCD.Historical Attribute Inserts Output", "Expiry.In"),
             ("Expiry.Out", "Expire.In"), ("Expire.Out", "Union.Hist"),
             ("SCD.New Output", "Union.New"), ("Union.Out", "Start.In"),
             ("Start.Out", "Insert Destination.Input"),
             ("SCD.Fixed Attribute Output", "Fixed Changes.Input"),
             ("SCD.Inferred Member Updates Output", "Inferred Member Updates.In"),
             ("SCD.Unchanged Output", "Count Unchanged.In")]
    return flow(components, paths, connections=[db.cm()],
                variables=[Var("LoadDate", 8, when), Var("Unchanged", 3, "0")])


def load(db: Db, when: str, props: dict[str, str] | None = None
         ) -> tuple[ExecResult, list[str], Any]:
    engine, events = run(wizard_flow(db, when, props))
    return result(engine), errors(events), variable(engine, "User::Unchanged")


JAN, FEB, DEC = "2024-01-01 00:00:00", "2024-02-01 00:00:00", "2023-12-01 00:00:00"

#: the first load: five new customers; customer 4 is an inferred member (a fact row
#: arrived before its dimension data), 8 has no city
FIRST = [(1, "Ann", "Oslo", "1980-01-01"), (2, "Bob", "Rome", "1975-05-05"),
         (3, "Cy", "Paris", "1990-09-09"), (4, "Dee", "Lima", "1985-03-03"),
         (6, "Fay", "Kyiv", "1970-07-07"), (7, "Gus", "Oslo", "1960-06-06"),
         (8, "Hal", None, "1965-01-01"), (9, "Ida", None, "1999-09-09")]
AFTER_FIRST = [
    (1, "Ann", "Oslo", "1980-01-01", 0, JAN, None),
    (2, "Bob", "Rome", "1975-05-05", 0, JAN, None),
    (3, "Cy", "Paris", "1990-09-09", 0, JAN, None),
    (4, "Dee", "Lima", "1985-03-03", 0, DEC, None),  # the inferred member, completed
    (6, "Fay", "Kyiv", "1970-07-07", 0, JAN, None),
    (7, "Gus", "Oslo", "1960-06-06", 0, JAN, None),
    (8, "Hal", None, "1965-01-01", 0, JAN, None),
    (9, "Ida", None, "1999-09-09", 0, JAN, None)]
#: the second load: 1 changes a changing attribute (type 1), 2 a historical one (type 2),
#: 3 both (its name only in case), 4 a fixed one, 5 is new, 6 and 8 (NULL city) are
#: unchanged, 7's name gains a trailing space, 9's city goes from NULL to a value
SECOND = [(1, "Anne", "Oslo", "1980-01-01"), (2, "Bob", "Milan", "1975-05-05"),
          (3, "CY", "Berlin", "1990-09-09"), (4, "Dee", "Lima", "1985-03-04"),
          (5, "Eve", "Rome", "2000-02-02"), (6, "Fay", "Kyiv", "1970-07-07"),
          (7, "Gus ", "Oslo", "1960-06-06"), (8, "Hal", None, "1965-01-01"),
          (9, "Ida", "Bergen", "1999-09-09")]


def seed_inferred_member(db: Db, indicator: int = 1) -> None:
    db.run("INSERT INTO dim_customer (customer_id, is_inferred, start_date) VALUES (?, ?, ?)",
           [(4, indicator, DEC)])


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("changing_history", [True, False],
                         ids=["UpdateChangingAttributeHistory", "current-row-only"])
def test_wizard_flow_loads_a_dimension_twice(db: Db, changing_history: bool) -> None:
    seed_inferred_member(db)
    load_source(db, FIRST)
    props = {"UpdateChangingAttributeHistory": str(changing_history).lower()}
    outcome, errs, unchanged = load(db, "2024-01-01", props)
    assert outcome == ExecResult.Success, errs
    assert db.rows(DIMENSION) == AFTER_FIRST
    assert unchanged == 0

    load_source(db, SECOND)
    outcome, errs, unchanged = load(db, "2024-02-01", props)
    assert outcome == ExecResult.Success, errs
    # with UpdateChangingAttributeHistory, 3's changing attribute reaches its expired row
    # too (the row went to both outputs); without, only the new current row has it
    expired_name = "CY" if changing_history else "Cy"
    assert db.rows(DIMENSION) == [
        (1, "Anne", "Oslo", "1980-01-01", 0, JAN, None),
        (2, "Bob", "Rome", "1975-05-05", 0, JAN, FEB),
        (2, "Bob", "Milan", "1975-05-05", 0, FEB, None),
        (3, expired_name, "Paris", "1990-09-09", 0, JAN, FEB),
        (3, "CY", "Berlin", "1990-09-09", 0, FEB, None),
        (4, "Dee", "Lima", "1985-03-03", 0, DEC, None),
        (5, "Eve", "Rome", "2000-02-02", 0, FEB, None),
        (6, "Fay", "Kyiv", "1970-07-07", 0, JAN, None),
        (7, "Gus ", "Oslo", "1960-06-06", 0, JAN, None),
        (8, "Hal", None, "1965-01-01", 0, JAN, None),
        (9, "Ida", None, "1999-09-09", 0, JAN, FEB),
        (9, "Ida", "Bergen", "1999-09-09", 0, FEB, None)]
    assert db.rows("SELECT * FROM fixed_changes") == [(4, "1985-03-04")]
    assert unchanged == 2


def test_fixed_attribute_change_fails_the_component(db: Db) -> None:
    load_source(db, FIRST)
    assert load(db, "2024-01-01", {"FailOnFixedAttributeChange": "true"})[0] == \
        ExecResult.Success
    before = db.rows(DIMENSION)
    load_source(db, SECOND)
    outcome, errs, _ = load(db, "2024-02-01", {"FailOnFixedAttributeChange": "true"})
    assert outcome == ExecResult.Failure
    assert any("fixed attribute changed for business key customer_id=4" in e
               and "FailOnFixedAttributeChange" in e for e in errs), errs
    # the failing batch reached no output: nothing was updated, expired or inserted
    assert db.rows(DIMENSION) == before
    assert db.rows("SELECT * FROM fixed_changes") == []


@pytest.mark.parametrize("enabled", [True, False], ids=["inferred", "not-inferred"])
def test_inferred_member_without_an_indicator_is_a_row_of_nulls(db: Db, enabled: bool
                                                                ) -> None:
    seed_inferred_member(db, indicator=0)
    load_source(db, [(4, "Dee", "Lima", "1985-03-03")])
    outcome, errs, _ = load(db, "2024-01-01", {"InferredMemberIndicator": "",
                                               "EnableInferredMember": str(enabled).lower()})
    assert outcome == ExecResult.Success, errs
    if enabled:  # every attribute NULL: an inferred member, completed in place
        assert db.rows(DIMENSION) == [(4, "Dee", "Lima", "1985-03-03", 0, DEC, None)]
        assert db.rows("SELECT * FROM fixed_changes") == []
    else:  # an ordinary row whose fixed attribute changed from NULL
        assert db.rows(DIMENSION) == [(4, None, None, None, 0, DEC, None)]
        assert db.rows("SELECT * FROM fixed_changes") == [(4, "1985-03-03")]


def test_lookup_failure_fails_when_asked(db: Db) -> None:
    load_source(db, FIRST[:2])
    outcome, errs, _ = load(db, "2024-01-01", {"FailOnLookupFailure": "true"})
    assert outcome == ExecResult.Failure
    assert any("no current row in the dimension table (business key customer_id=1)" in e
               and "FailOnLookupFailure" in e for e in errs), errs
    assert db.rows(DIMENSION) == []


def test_all_rows_new_when_the_change_type_is_not_detected(db: Db) -> None:
    load_source(db, FIRST[:2])
    assert load(db, "2024-01-01")[0] == ExecResult.Success
    outcome, errs, _ = load(db, "2024-02-01", {"IncomingRowChangeType": "0"})
    assert outcome == ExecResult.Success, errs
    assert [row[0] for row in db.rows(DIMENSION)] == [1, 1, 2, 2]


def test_two_current_rows_warn_and_a_null_key_is_new(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "dw.db")
    db.run("CREATE TABLE src_customer (customer_id int, name text, city text, birth_date "
           "date)")
    db.run("CREATE TABLE dim_customer (sk INTEGER PRIMARY KEY, customer_id int, name text, "
           "city text, birth_date date, is_inferred int DEFAULT 0, start_date text, "
           "end_date text)")
    db.run("CREATE TABLE fixed_changes (customer_id int, birth_date date)")
    db.run("INSERT INTO dim_customer (customer_id, name, city, birth_date, start_date) "
           "VALUES (?, ?, ?, ?, ?)", [(1, "Ann", "Oslo", "1980-01-01", JAN),
                                      (1, "Anne", "Oslo", "1980-01-01", JAN)])
    load_source(db, [(1, "Ann", "Oslo", "1980-01-01"), (None, "Nobody", "Oslo", None)])
    engine, events = run(wizard_flow(db, "2024-02-01"))
    assert result(engine) == ExecResult.Success, errors(events)
    warnings = [e.description for e in events if e.kind == EventKind.OnWarning]
    assert any("more than one current row for 1 business key(s); the first row" in w
               for w in warnings), warnings
    assert variable(engine, "User::Unchanged") == 1  # compared with the first row: Ann
    assert db.rows("SELECT customer_id, name, start_date FROM dim_customer ORDER BY sk") == [
        (1, "Ann", JAN), (1, "Anne", JAN), (None, "Nobody", FEB)]


@pytest.mark.parametrize(("props", "message"), [
    ({"SqlCommand": "SELECT [customer_id], [name] FROM [dbo].[dim_customer]",
      "CurrentRowWhere": ""},
     "the dimension query (SqlCommand) has no column city"),
    ({"CurrentRowWhere": "[no_such_column] IS NULL"}, "the dimension query failed"),
    ({"IncomingRowChangeType": "7"}, "IncomingRowChangeType is 7"),
    ({"InferredMemberIndicator": "[flag]"}, "no column flag, which InferredMemberIndicator"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, props: dict[str, str],
                                       message: str) -> None:
    db = _sqlite(tmp_path / "dw.db")
    db.run("CREATE TABLE src_customer (customer_id int, name text, city text, birth_date "
           "date)")
    db.run("CREATE TABLE dim_customer (customer_id int, name text, city text, birth_date "
           "date, is_inferred int, start_date text, end_date text)")
    db.run("CREATE TABLE fixed_changes (customer_id int, birth_date date)")
    outcome, errs, _ = load(db, "2024-01-01", props)
    assert outcome == ExecResult.Failure
    assert any(e.startswith("SCD: ") and message in e for e in errs), errs


# --------------------------------------------------------------------------- corpus

CH12 = "lucmilot+SSIS_2014_Book/850879_c12_download/Ch12_ProSSIS/Code"
CH16 = "lucmilot+SSIS_2014_Book/850879_c16_download/Ch16_ProSSIS/Code/ProSSIS_Ch16"
#: every corpus package with a Slowly Changing Dimension -> the errors validate still
#: reports for reasons that are not the SCD (the package's own defects or other types)
SCD_PACKAGES = {
    f"{CH12}/ETL_DimSalesTerritory.dtsx": [],
    f"{CH12}/ETL_DimEmployee.dtsx": ["{41569F84-1862-4B9A-99C8-8C5748D828BD}"],
    f"{CH16}/09_DimSalesTerritory.dtsx": ["does not exist in the package"] * 4,
    "MortConstruction+OTL-Packages/Integration Services Project1/GL_Transactions_Ash.dtsx":
        ["VB Script Task"] * 2,
    "AmirHeydari66+ssis_interview/Package.dtsx":
        ["Attunity.CdcControlTask", "Attunity.CdcControlTask", "Microsoft.Extractor"],
}
needs_corpus = pytest.mark.skipif(not corpus_available(), reason="../shared/corpus is absent")


@dataclass
class Ran:
    returncode: int
    stdout: str


def ssisrun(*args: str) -> Ran:
    """The command line, in this process (as the user types it, without the start-up)."""
    got = CliRunner().invoke(cli, list(args))
    if got.exception is not None and not isinstance(got.exception, SystemExit):
        raise got.exception
    return Ran(got.exit_code, got.output)


@needs_corpus
@pytest.mark.parametrize("rel", sorted(SCD_PACKAGES), ids=lambda r: r.rsplit("/", 1)[-1])
def test_corpus_scd_packages_validate(rel: str) -> None:
    proc = ssisrun("validate", "--no-warnings", str(CORPUS_DIR / "dtsx" / rel))
    found = [line for line in proc.stdout.splitlines() if line.lstrip().startswith("error")]
    assert "Microsoft.SCD" not in proc.stdout, proc.stdout
    expected = SCD_PACKAGES[rel]
    assert len(found) == len(expected), proc.stdout
    for line, text in zip(found, expected, strict=True):
        assert text in line, proc.stdout
    assert proc.returncode == (0 if not expected else 1), proc.stdout


def _territory_tables(run_sql: Callable[[str], None], schemas: bool) -> None:
    sales = '"Sales".' if schemas else ""
    if schemas:
        run_sql('CREATE SCHEMA "Sales"')
        run_sql('CREATE SCHEMA "Person"')
        run_sql('CREATE TABLE "Person"."CountryRegion" ("CountryRegionCode" varchar(3), '
                '"Name" varchar(50), "ModifiedDate" timestamp)')
    run_sql(f'CREATE TABLE {sales}"SalesTerritory" ("TerritoryID" int, "Name" varchar(50), '
            '"CountryRegionCode" varchar(3), "Group" varchar(50), "SalesYTD" numeric, '
            '"SalesLastYear" numeric, "CostYTD" numeric, "CostLastYear" numeric, '
            '"rowguid" varchar(40), "ModifiedDate" timestamp)')
    key = '"SalesTerritoryKey" serial' if schemas else '"SalesTerritoryKey" INTEGER'
    run_sql(f'CREATE TABLE "DimSalesTerritory" ({key} PRIMARY KEY, '
            '"SalesTerritoryAlternateKey" int, "SalesTerritoryRegion" varchar(50), '
            '"SalesTerritoryCountry" varchar(50), "SalesTerritoryGroup" varchar(50), '
            '"SalesTerritoryImage" bytea)'.replace("bytea", "bytea" if schemas else "blob"))


TERRITORIES = [(1, "Northwest", "US", "North America"), (6, "Canada", "CA", "North America"),
               (7, "France", "FR", "Europe")]


@needs_corpus
def test_corpus_09_dim_sales_territory_runs_in_a_project_on_sqlite(tmp_path: Path) -> None:
    """09_DimSalesTerritory uses project connection managers: it runs from a project
    folder whose .conmgr files point at one SQLite file."""
    src = CORPUS_DIR / "dtsx" / CH16 / "09_DimSalesTerritory.dtsx"
    project = tmp_path / "ProSSIS_Ch16"
    project.mkdir()
    shutil.copy(src, project / src.name)
    dw = tmp_path / "aw.db"
    text = f"Data Source={dw};Provider=SQLite;"
    (project / "ProSSIS_Ch16.dtproj").write_text(dtproj(
        "ProSSIS_Ch16", [src.name], ["AdventureWorksDW.conmgr", "AdventureWorks.conmgr"]))
    (project / "AdventureWorksDW.conmgr").write_text(conmgr(
        "AdventureWorksDW", "OLEDB", text, "{72DFC3BB-E328-4962-AAE3-7830B210C334}"))
    (project / "AdventureWorks.conmgr").write_text(conmgr(
        "AdventureWorks", "OLEDB", text, "{347E02A0-3B28-4FE8-8D02-98F3FCBF8786}"))
    with sqlite3.connect(dw) as conn:
        _territory_tables(lambda sql: None if conn.execute(sql) else None, schemas=False)
        conn.executemany('INSERT INTO "SalesTerritory" ("TerritoryID", "Name", '
                         '"CountryRegionCode", "Group") VALUES (?, ?, ?, ?)', TERRITORIES)
    args = ["--project", str(project), "--package", "09_DimSalesTerritory"]
    proc = ssisrun("validate", *args)
    assert proc.returncode == 0, proc.stdout
    dim = ('SELECT "SalesTerritoryAlternateKey", "SalesTerritoryRegion", '
           '"SalesTerritoryCountry", "SalesTerritoryGroup" FROM "DimSalesTerritory" '
           'ORDER BY "SalesTerritoryKey"')
    proc = ssisrun("exec", *args)
    assert proc.returncode == 0, proc.stdout
    with sqlite3.connect(dw) as conn:
        assert conn.execute(dim).fetchall() == [
            (1, "Northwest", "US", "North America"), (6, "Canada", "CA", "North America"),
            (7, "France", "FR", "Europe")]
        conn.execute('UPDATE "SalesTerritory" SET "Name" = \'Northwest US\' '
                     'WHERE "TerritoryID" = 1')
        conn.execute('INSERT INTO "SalesTerritory" ("TerritoryID", "Name", '
                     '"CountryRegionCode", "Group") VALUES (8, \'Germany\', \'DE\', '
                     '\'Europe\')')
    proc = ssisrun("exec", *args)
    assert proc.returncode == 0, proc.stdout
    with sqlite3.connect(dw) as conn:  # all changing attributes: updated in place
        assert conn.execute(dim).fetchall() == [
            (1, "Northwest US", "US", "North America"),
            (6, "Canada", "CA", "North America"), (7, "France", "FR", "Europe"),
            (8, "Germany", "DE", "Europe")]


@needs_corpus
def test_corpus_etl_dim_sales_territory_runs_on_postgres(
        postgres_server: PostgresServer, tmp_path: Path) -> None:  # noqa: F811
    """ETL_DimSalesTerritory as the book ships it: AdventureWorks and AdventureWorksDW
    given with --conn, both on one PostgreSQL database with the Sales and Person schemas."""
    name = postgres_server.fresh_database("scd_corpus")
    with postgres_server.connect(name) as conn:
        _territory_tables(lambda sql: None if conn.execute(sql) else None, schemas=True)
        with conn.cursor() as cur:
            cur.executemany('INSERT INTO "Person"."CountryRegion" VALUES (%s, %s, now())',
                            [("US", "United States"), ("CA", "Canada"), ("FR", "France")])
            cur.executemany('INSERT INTO "Sales"."SalesTerritory" ("TerritoryID", "Name", '
                            '"CountryRegionCode", "Group") VALUES (%s, %s, %s, %s)',
                            TERRITORIES)
    text = postgres_server.connection_string(name)
    package = CORPUS_DIR / "dtsx" / CH12 / "ETL_DimSalesTerritory.dtsx"
    args = [str(package), "--conn", f"AdventureWorks={text}",
            "--conn", f"AdventureWorksDW={text}"]
    assert ssisrun("validate", *args).returncode == 0
    dim = ('SELECT "SalesTerritoryAlternateKey", "SalesTerritoryRegion", '
           '"SalesTerritoryCountry", "SalesTerritoryGroup" FROM "DimSalesTerritory" '
           'ORDER BY "SalesTerritoryAlternateKey"')
    proc = ssisrun("exec", *args)
    assert proc.returncode == 0, proc.stdout
    with postgres_server.connect(name) as conn:
        assert conn.execute(dim).fetchall() == [
            (1, "Northwest", "United States", "North America"),
            (6, "Canada", "Canada", "North America"), (7, "France", "France", "Europe")]
        conn.execute('UPDATE "Person"."CountryRegion" SET "Name" = \'USA\' '
                     'WHERE "CountryRegionCode" = \'US\'')
    proc = ssisrun("exec", *args)
    assert proc.returncode == 0, proc.stdout
    with postgres_server.connect(name) as conn:
        assert conn.execute(dim).fetchall() == [
            (1, "Northwest", "USA", "North America"),
            (6, "Canada", "Canada", "North America"), (7, "France", "France", "Europe")]
        assert conn.execute('SELECT count(*) FROM "DimSalesTerritory"').fetchone() == (3,)
