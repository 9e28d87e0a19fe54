"""C# Script Tasks through Mono: variables of each type in and out, every kind of event,
TaskResult, exceptions, MessageBox, Dts.Connections, the compile cache, 2008-style projects,
what validate says, and the pieces that need no Mono (path rewriting, OLE DB strings)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from builders import Constraint, Exe, Var, connection_manager, package
from taskrun import PackageRun

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest
from ssisrun.runtime.engine import Engine
from ssisrun.scripting import compiler
from ssisrun.scripting.connections import oledb_to_sqlclient
from ssisrun.scripting.rewrite import rewrite_paths
from ssisrun.scripting.values import DataTable
from ssisrun.validate import validate_package

needs_mono = pytest.mark.skipif(
    not compiler.mono_available(),
    reason=f"Mono is not installed (mcs/mono not on PATH): {compiler.INSTALL_HINT}")

HEADER = """using System;
using System.Collections;
using System.Data;
using System.Windows.Forms;
using Microsoft.SqlServer.Dts.Runtime;
"""


def script_2012(body: str, members: str = "") -> str:
    """A ScriptMain.cs as SSIS 2012+ writes it, around ``body`` (Main's statements)."""
    return HEADER + f"""
namespace ST_test
{{
    [Microsoft.SqlServer.Dts.Tasks.ScriptTask.SSISScriptTaskEntryPointAttribute]
    public partial class ScriptMain
        : Microsoft.SqlServer.Dts.Tasks.ScriptTask.VSTARTScriptObjectModelBase
    {{
        {members}
        public void Main()
        {{
            {body}
        }}
        enum ScriptResults
        {{
            Success = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Success,
            Failure = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Failure
        }};
    }}
}}
"""


def csharp(name: str, source: str, *, read_only: str = "", read_write: str = "",
           version: int = 8, extra_items: str = "") -> Exe:
    item = "\\scriptmain.cs" if version == 3 else "ScriptMain.cs"
    vsta = 'VSTAMajorVersion="2" VSTAMinorVersion="1"' if version == 3 else 'VSTAMajorVersion="3"'
    return Exe(name, "script", object_data=(
        f'<ScriptProject Name="ST_test" {vsta} Language="CSharp" EntryPoint="Main" '
        f"ReadOnlyVariables={quoteattr(read_only)} ReadWriteVariables={quoteattr(read_write)}>"
        f'<ProjectItem Name="{item}" Encoding="UTF8"><![CDATA[{source}]]></ProjectItem>'
        f"{extra_items}</ScriptProject>"))


# --------------------------------------------------------------------------- no Mono needed


def test_windows_path_literals_are_rewritten_where_a_value_may_change() -> None:
    source = r'''
class ScriptMain {
    const string Dir = @"C:\data\";
    [Description("C:\\attr")]
    public void Main() {
        const string f = "D:\\in\\a.csv"; // "C:\\comment"
        string s = $"\\\\srv\\share\\{f}";
        switch (s) { case "C:\\label": break; }
        var plain = "not a path"; char q = '"';
    }
    void G(string p = "C:\\default") {}
}'''
    text, count = rewrite_paths(source)
    assert count == 3
    assert ('static readonly string Dir = global::SsisRun.Shim.HostServices.MapPath('
            '@"C:\\data\\");') in text
    assert ' string f = global::SsisRun.Shim.HostServices.MapPath("D:\\\\in\\\\a.csv");' in text
    assert 'MapPath($"\\\\\\\\srv\\\\share\\\\{f}")' in text
    for unchanged in ('"C:\\\\attr"', '// "C:\\\\comment"', 'case "C:\\\\label"',
                      'p = "C:\\\\default"', '"not a path"'):
        assert unchanged in text


def test_an_oledb_string_to_sql_server_becomes_a_sqlclient_string() -> None:
    assert oledb_to_sqlclient(
        "Data Source=db1;User ID=etl;Password='p;w';Initial Catalog=Sales;"
        "Provider=SQLNCLI11.1;Auto Translate=False;Integrated Security=SSPI;"
    ) == ('Data Source=db1;User ID=etl;Password="p;w";Initial Catalog=Sales;'
          "Integrated Security=True;")


def test_validate_without_mono_names_the_task_and_how_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler, "mono_available", lambda: False)
    monkeypatch.setattr("ssisrun.scripting.check.mono_available", lambda: False)
    xml = package(8, [csharp("Fix", script_2012("Dts.TaskResult = 0;"))])
    [problem] = validate_package(load_package_bytes(xml.encode(), "t.dtsx")).errors
    assert problem.path == "\\Package\\Fix"
    assert "Mono, which is not installed" in problem.message
    assert "apt-get install mono-mcs mono-runtime" in problem.message
    assert "--script '\\Package\\Fix=file.py'" in problem.message


def test_validate_reports_office_interop_oledb_and_vb_with_the_way_out() -> None:
    office = script_2012("var app = new Microsoft.Office.Interop.Excel.Application();")
    csproj = ('<ProjectItem Name="st_test.csproj"><![CDATA[<Project><ItemGroup>'
              '<Reference Include="Microsoft.Office.Interop.Excel, Version=12.0.0.0" />'
              "</ItemGroup></Project>]]></ProjectItem>")
    oledb = script_2012("var c = new System.Data.OleDb.OleDbDataAdapter(); Dts.TaskResult = 0;")
    vb = Exe("Old", "script", object_data=(
        '<ScriptProject Name="ST_vb" Language="VisualBasic" EntryPoint="Main">'
        '<ProjectItem Name="ScriptMain.vb"><![CDATA[Public Class ScriptMain\nEnd Class]]>'
        "</ProjectItem></ScriptProject>"))
    xml = package(8, [csharp("Excel", office, extra_items=csproj), csharp("Rs", oledb), vb])
    problems = {p.path: p.message
                for p in validate_package(load_package_bytes(xml.encode(), "t.dtsx")).errors}
    assert "Office COM interop (Microsoft.Office.Interop.Excel)" in problems["\\Package\\Excel"]
    assert "--script '\\Package\\Excel=file.py'" in problems["\\Package\\Excel"]
    assert "OLE DB (OleDbDataAdapter), which Mono does not implement" in problems["\\Package\\Rs"]
    assert "Mono on Linux has no VB compiler" in problems["\\Package\\Old"]
    assert "--script '\\Package\\Old=file.py'" in problems["\\Package\\Old"]


# --------------------------------------------------------------------------- with Mono

VARIABLES = [
    Var("I", 3, "21"), Var("L", 20, "9000000000"), Var("S", 8, "abc"), Var("B", 11, "false"),
    Var("D", 7, "2024-01-31T10:20:30"), Var("F", 5, "1.5"), Var("M", 14, "10.25"),
    Var("Path", 8, "C:\\data\\in.csv"), Var("List", 13, ""), Var("Table", 13, ""),
    Var("Sum", 3, "0"), Var("Names", 8, ""), Var("Echo", 13, ""),
]

TYPES_BODY = """
Variables v = Dts.Variables;
v["I"].Value = (int)v["User::I"].Value * 2;
v["L"].Value = (long)v["L"].Value + 1;
v["S"].Value = ((string)v["S"].Value).ToUpper() + "|" + (string)v["Path"].Value;
v["B"].Value = !(bool)v["B"].Value;
v["D"].Value = ((DateTime)v["D"].Value).AddDays(1);
v["F"].Value = (double)v["F"].Value * 2;
v["M"].Value = (decimal)v["M"].Value + 0.01m;
var list = new ArrayList(); list.Add("a"); list.Add(2);
v["List"].Value = list;
var t = new DataTable("T");
t.Columns.Add("id", typeof(int)); t.Columns.Add("name", typeof(string));
t.Rows.Add(1, "x"); t.Rows.Add(2, null);
v["Table"].Value = t;
Dts.TaskResult = (int)ScriptResults.Success;
"""

READ_BODY = """
var t = (DataTable)Dts.Variables["Table"].Value;
int sum = 0; string names = "";
foreach (DataRow r in t.Rows) {
    sum += (int)r["id"]; names += r["name"] is DBNull ? "-" : (string)r["name"]; }
foreach (object o in (ArrayList)Dts.Variables["List"].Value) names += "," + o;
Dts.Variables["Sum"].Value = sum;
Dts.Variables["Names"].Value = names;
Dts.Variables["Echo"].Value = new System.Text.StringBuilder("kept");
"""


@needs_mono
def test_variables_of_each_type_go_in_and_come_back_typed() -> None:
    xml = package(8, [
        csharp("Types", script_2012(TYPES_BODY), read_only="User::Path",
               read_write="User::I,User::L,User::S,User::B,User::D,User::F,User::M,"
                          "User::List,User::Table"),
        csharp("Read", script_2012(READ_BODY), read_only="User::Table,User::List",
               read_write="User::Sum,User::Names,User::Echo"),
    ], variables=VARIABLES, constraints=[Constraint("Types", "Read")])
    run = PackageRun(xml, RunRequest(path_map=[("C:\\data\\", "/srv/in/")]))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::I") == 42
    assert run.var("User::L") == 9000000001
    assert run.var("User::S") == "ABC|/srv/in/in.csv"
    assert run.var("User::B") is True
    assert run.var("User::D") == datetime(2024, 2, 1, 10, 20, 30)
    assert run.var("User::F") == 3.0
    assert run.var("User::M") == Decimal("10.26")
    assert run.var("User::List") == ["a", 2]
    table = run.var("User::Table")
    assert isinstance(table, DataTable)
    assert (table.columns, table.rows) == (["id", "name"], [(1, "x"), (2, None)])
    assert run.var("User::Sum") == 3
    assert run.var("User::Names") == "x-,a,2"
    assert "StringBuilder" in repr(run.var("User::Echo"))


@needs_mono
def test_every_kind_of_event_arrives_as_it_happens() -> None:
    body = """
bool again = true;
Dts.Events.FireInformation(11, "Sub", "info text", "", 0, ref again);
Dts.Events.FireWarning(12, "", "warning text", "", 0);
Dts.Events.FireProgress("halfway", 50, 0, 0, "", ref again);
Dts.Log("log text", 13, null);
MessageBox.Show("box text", "Caption", MessageBoxButtons.YesNo);
Console.WriteLine("console text");
Dts.Events.FireError(14, "", "error text", "", 0);
Dts.TaskResult = (int)ScriptResults.Success;
"""
    run = PackageRun(package(8, [csharp("Ev", script_2012(body))]))
    kinds = [(e.kind, e.description) for e in run.events if e.kind in (
        EventKind.OnInformation, EventKind.OnWarning, EventKind.OnProgress, EventKind.OnError)]
    assert kinds == [
        (EventKind.OnInformation, "Sub: info text"),
        (EventKind.OnWarning, "warning text"),
        (EventKind.OnProgress, "halfway"),
        (EventKind.OnInformation, "Dts.Log: log text"),
        (EventKind.OnInformation, "MessageBox.Show [Caption]: box text"),
        (EventKind.OnError, "error text"),
        (EventKind.OnInformation, "the script wrote: console text"),
    ]
    codes = {e.description: e.code for e in run.events}
    assert (codes["Sub: info text"], codes["warning text"], codes["error text"]) == (11, 12, 14)
    # FireError counts against MaximumErrorCount even though the script set Success
    assert run.result.result == ExecResult.Failure


@needs_mono
def test_task_result_success_and_failure() -> None:
    xml = package(8, [
        csharp("Ok", script_2012("Dts.TaskResult = (int)ScriptResults.Success;")),
        csharp("Bad", script_2012("Dts.TaskResult = (int)ScriptResults.Failure;")),
    ], constraints=[Constraint("Ok", "Bad")])
    run = PackageRun(xml)
    results = {r.path: r.result for r in run.engine.runs}
    assert results["\\Package\\Ok"] == ExecResult.Success
    assert results["\\Package\\Bad"] == ExecResult.Failure
    assert run.descriptions(EventKind.OnError) == ["the script set Dts.TaskResult to Failure"]


@needs_mono
def test_an_exception_fails_the_task_with_its_message_and_the_run_goes_on() -> None:
    xml = package(8, [
        csharp("Throw", script_2012('throw new InvalidOperationException("boom at row 7");')),
        csharp("ReadOnly", script_2012('Dts.Variables["N"].Value = 5;'), read_only="User::N"),
        csharp("Exit", script_2012("Environment.Exit(3);")),
        csharp("After", script_2012('Dts.Variables["N"].Value = 9;'), read_write="User::N"),
    ], variables=[Var("N", 3, "1")], props={"MaxErrorCount": 10}, constraints=[
        Constraint("Throw", "ReadOnly", "C1", value=2),
        Constraint("ReadOnly", "Exit", "C2", value=2), Constraint("Exit", "After", "C3", value=2)])
    run = PackageRun(xml)
    errors = run.descriptions(EventKind.OnError)
    assert errors[0].startswith("Exception has been thrown by the target of an invocation. "
                                "System.InvalidOperationException: boom at row 7")
    assert "ScriptMain.Main" in errors[0]
    assert "User::N\" is read-only" in errors[1]
    assert errors[2].startswith("the C# script failed: the script host stopped while the "
                                "script ran")
    # a new script host runs the next task
    assert run.var("User::N") == 9
    results = {r.path: r.result for r in run.engine.runs}
    assert results["\\Package\\Throw"] == ExecResult.Failure
    assert results["\\Package\\After"] == ExecResult.Success


@needs_mono
def test_connections_give_strings_paths_and_open_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    body = """
Dts.Variables["A"].Value = Dts.Connections["Src"].ConnectionString;
Dts.Variables["B"].Value = (string)Dts.Connections["In"].AcquireConnection(null);
var conn = (IDbConnection)Dts.Connections["Lite"].AcquireConnection(null);
var cmd = conn.CreateCommand();
cmd.CommandText = "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES ("
    + Dts.Connections.Count + ");";
cmd.ExecuteNonQuery();
Dts.Connections["Lite"].ReleaseConnection(conn);
try { Dts.Connections["Ora"].AcquireConnection(null); }
catch (Exception ex) { Dts.Variables["C"].Value = ex.Message; }
"""
    xml = package(8, [csharp("Conn", script_2012(body), read_write="User::A,User::B,User::C")],
                  variables=[Var("A"), Var("B"), Var("C")], connections=[
        connection_manager(8, "Src", "OLEDB", "Data Source=db1;Initial Catalog=S;"
                                              "Provider=SQLNCLI11.1;Integrated Security=SSPI;"),
        connection_manager(8, "In", "FILE", "C:\\data\\in.csv"),
        connection_manager(8, "Lite", "ADO.NET:System.Data.SQLite.SQLiteConnection, "
                                      "System.Data.SQLite", "Data Source=C:\\db\\t.db"),
        connection_manager(8, "Ora", "OLEDB", "Data Source=x;Provider=OraOLEDB.Oracle.1;"),
    ])
    run = PackageRun(xml, RunRequest(path_map=[("C:\\data\\", "/srv/in/"),
                                               ("C:\\db\\", f"{tmp_path}/")]))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::A").startswith("Data Source=db1;Initial Catalog=S;")
    assert run.var("User::B") == "/srv/in/in.csv"
    assert "OraOLEDB.Oracle.1" in run.var("User::C")
    assert sqlite3.connect(db).execute("SELECT n FROM t").fetchall() == [(4,)]


@needs_mono
def test_second_run_takes_the_script_from_the_cache() -> None:
    xml = package(8, [csharp("Cached", script_2012(
        'Dts.Variables["N"].Value = (int)Dts.Variables["N"].Value + 1; // cache test'),
        read_write="User::N")], variables=[Var("N", 3, "1")])
    first = PackageRun(xml)
    assert first.var("User::N") == 2, first.descriptions(EventKind.OnError)
    before = compiler.compile_count
    second = PackageRun(xml)
    assert second.var("User::N") == 2
    assert compiler.compile_count == before


@needs_mono
def test_a_2008_script_with_system_addin_runs() -> None:
    source = HEADER + r"""
namespace ST_0a1b2c3d4e5f.csproj
{
    [System.AddIn.AddIn("ScriptMain", Version = "1.0", Publisher = "", Description = "")]
    public partial class ScriptMain
        : Microsoft.SqlServer.Dts.Tasks.ScriptTask.VSTARTScriptObjectModelBase
    {
        enum ScriptResults
        {
            Success = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Success,
            Failure = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Failure
        };
        public void Main()
        {
            string file = @"C:\data\" + Dts.Variables["fname"].Value;
            Dts.Variables["fileExist"].Value = System.IO.File.Exists(file) || file == "/srv/x.xls";
            Dts.TaskResult = (int)ScriptResults.Success;
        }
    }
}
"""
    assembly_info = ('<ProjectItem Name="\\properties\\assemblyinfo.cs"><![CDATA['
                     'using System.Reflection;\n[assembly: AssemblyVersion("1.0.*")]\n'
                     "]]></ProjectItem>")
    xml = package(3, [csharp("File Exist", source, version=3, extra_items=assembly_info,
                             read_only="User::fname", read_write="User::fileExist")],
                  variables=[Var("fname", 8, "x.xls"), Var("fileExist", 11, "false")])
    run = PackageRun(xml, RunRequest(path_map=[("C:\\data\\", "/srv/")]))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::fileExist") is True


@needs_mono
def test_a_python_replacement_wins_over_mono(tmp_path: Path) -> None:
    file = tmp_path / "Load.dtsx"
    file.write_text(package(8, [csharp("Fix", script_2012("Dts.TaskResult = 1;"),
                                       read_write="User::Out")], variables=[Var("Out")]))
    (tmp_path / "Load.scripts").mkdir()
    (tmp_path / "Load.scripts" / "Fix.py").write_text(
        "def main(Dts):\n    Dts.Variables['User::Out'].Value = 'python'\n")
    from ssisrun.dtsx import load_package

    engine = Engine(load_package(file))
    assert engine.run().result == ExecResult.Success
    assert engine.scopes[id(engine.package)].get("User::Out") == "python"


@needs_mono
def test_a_script_that_does_not_compile_names_the_item_and_line() -> None:
    run = PackageRun(package(8, [csharp("Broken", script_2012("int x = ;"))]))
    [error] = run.descriptions(EventKind.OnError)
    assert "does not compile with Mono" in error
    assert "ScriptMain.cs:" in error and "--script" in error


@needs_mono
def test_an_event_handler_script_runs_while_the_script_that_raised_the_event_waits() -> None:
    from builders import Handler

    handler = Handler("OnWarning", children=[csharp("Count", script_2012(
        'Dts.Variables["N"].Value = (int)Dts.Variables["N"].Value + 1;'),
        read_write="User::N")])
    raiser = csharp("Warn", script_2012('Dts.Events.FireWarning(1, "", "careful", "", 0);'
                                        'Dts.Events.FireWarning(2, "", "again", "", 0);'))
    raiser.handlers = [handler]
    run = PackageRun(package(8, [raiser], variables=[Var("N", 3, "0")]))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::N") == 2
