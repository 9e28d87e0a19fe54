"""The Script Task in Python: the Dts object, ReadOnly/ReadWrite lists, events, results,
connections, and Python replacements for C# and VB tasks (--script, sidecar folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from builders import Constraint, Exe, Var, connection_manager, package
from taskrun import PackageRun

from ssisrun.cli import cli
from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest
from ssisrun.scripting import mono_available
from ssisrun.validate import validate_package

REPO = Path(__file__).resolve().parents[1]


def python_task(name: str, code: str, *, read_only: str = "", read_write: str = "",
                props: dict[str, Any] | None = None) -> Exe:
    """An ssisrun Python Script Task (ScriptProject Language="Python")."""
    return Exe(name, "script", props=dict(props or {}), object_data=(
        f'<ScriptProject Name="ST_py" Language="Python" ReadOnlyVariables={quoteattr(read_only)}'
        f" ReadWriteVariables={quoteattr(read_write)}><ProjectItem Name=\"ScriptMain.py\" "
        f'Encoding="UTF8"><![CDATA[{code}]]></ProjectItem></ScriptProject>'))


def csharp_task(name: str, *, language: str = "CSharp", read_only: str = "",
                read_write: str = "", entry: str = "Main") -> Exe:
    return Exe(name, "script", object_data=(
        f'<ScriptProject Name="ST_cs" VSTAMajorVersion="2" Language="{language}" '
        f'EntryPoint="{entry}" ReadOnlyVariables="{read_only}" ReadWriteVariables='
        f'"{read_write}"><ProjectItem Name="\\scriptmain.cs" Encoding="UTF8"><![CDATA['
        "public void Main() { Dts.TaskResult = (int)ScriptResults.Success; }]]>"
        "</ProjectItem></ScriptProject>"))


def test_python_script_reads_and_writes_listed_variables() -> None:
    code = ("def main(Dts):\n"
            "    n = Dts.Variables['User::N'].Value\n"
            "    Dts.Variables['Out'].Value = f\"{Dts.Variables['System::PackageName'].Value}:"
            "{n * 2}\"\n"
            "    Dts.Variables['User::Count'].Value = n + 1\n")
    xml = package(8, [python_task("Script", code, read_only="User::N,System::PackageName",
                                  read_write="User::Out,User::Count")],
                  variables=[Var("N", 3, "21"), Var("Out"), Var("Count", 3, "0")])
    run = PackageRun(xml)
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::Out") == "Pkg:42"
    assert run.var("User::Count") == 22


def test_read_only_and_unlisted_variables_fail_the_task_with_the_scripts_line() -> None:
    writes_read_only = "def main(Dts):\n    Dts.Variables['User::N'].Value = 5\n"
    reads_unlisted = "def main(Dts):\n    x = 1\n    return Dts.Variables['User::Secret'].Value\n"
    xml = package(8, [python_task("RO", writes_read_only, read_only="User::N"),
                      python_task("Unlisted", reads_unlisted, read_only="User::N")],
                  variables=[Var("N", 3, "1"), Var("Secret")],
                  constraints=[Constraint("RO", "Unlisted", value=2)],
                  props={"MaxErrorCount": 0})
    run = PackageRun(xml)
    errors = run.descriptions(EventKind.OnError)
    assert [r.result for r in run.result.runs if r.name != "Pkg"] == [ExecResult.Failure] * 2
    assert run.var("User::N") == 1
    assert "ReadOnlyVariables" in errors[0] and "ScriptMain.py:2" in errors[0]
    assert "User::Secret is not in the Script task's ReadOnlyVariables or " \
        "ReadWriteVariables" in errors[1]
    assert "ScriptMain.py:3" in errors[1]


def test_events_task_result_and_execution_value() -> None:
    code = ("def main(Dts):\n"
            "    Dts.Events.FireInformation(1, '', 'hello', '', 0, True)\n"
            "    Dts.Events.FireWarning(2, 'Sub', 'careful', '', 0)\n"
            "    Dts.Events.FireProgress('half', 50, 0, 0, '', True)\n"
            "    Dts.ExecutionValue = 7\n")
    fails = "def main(Dts):\n    Dts.TaskResult = Dts.Results.Failure\n"
    fires = "def main(Dts):\n    Dts.Events.FireError(42, 'Check', 'bad row', '', 0)\n"
    xml = package(8, [python_task("Talk", code, props={"ExecValueVariable": "User::EV"}),
                      python_task("Fail", fails), python_task("FireError", fires)],
                  variables=[Var("EV", 3, "0")],
                  constraints=[Constraint("Talk", "Fail", "C1"),
                               Constraint("Fail", "FireError", "C2", value=1)],
                  props={"MaxErrorCount": 0})
    run = PackageRun(xml)
    assert "hello" in run.descriptions(EventKind.OnInformation)
    assert run.descriptions(EventKind.OnWarning) == ["Sub: careful"]
    assert run.var("User::EV") == 7
    results = {r.name: r.result for r in run.result.runs}
    assert results["Talk"] == ExecResult.Success
    assert results["Fail"] == ExecResult.Failure
    assert results["FireError"] == ExecResult.Failure
    errors = [(e.source_name, e.code, e.description) for e in run.events
              if e.kind == EventKind.OnError]
    assert errors == [("Fail", 0xC0029201, "the script set Dts.TaskResult to Failure"),
                      ("FireError", 42, "Check: bad row")]


def test_script_exceptions_fail_the_task_but_not_the_run() -> None:
    code = "def main(Dts):\n    raise ValueError('no such customer')\n"
    xml = package(8, [python_task("Boom", code), python_task("After", "def main(Dts): pass")],
                  constraints=[Constraint("Boom", "After", value=1)],
                  props={"MaxErrorCount": 0})
    run = PackageRun(xml)
    [error] = run.descriptions(EventKind.OnError)
    assert "ScriptMain.py:2: ValueError: no such customer" in error
    assert {r.name: r.result for r in run.result.runs}["After"] == ExecResult.Success


def test_connections_give_connection_strings_and_mapped_files() -> None:
    code = ("def main(Dts):\n"
            "    Dts.Variables['User::A'].Value = Dts.Connections['Db'].ConnectionString\n"
            "    Dts.Variables['User::B'].Value = Dts.Connections['In'].AcquireConnection(None)\n"
            "    assert 'Db' in Dts.Connections and 'Nope' not in Dts.Connections\n")
    xml = package(8, [python_task("Conn", code, read_write="User::A,User::B")],
                  variables=[Var("A"), Var("B")],
                  connections=[connection_manager(8, "Db", "OLEDB", "Data Source=x;"),
                               connection_manager(8, "In", "FILE", "C:\\data\\in.csv")])
    run = PackageRun(xml, RunRequest(connections={"Db": "sqlite:///t.db"},
                                     path_map=[("C:\\data\\", "/srv/in/")]))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::A") == "sqlite:///t.db"
    assert run.var("User::B") == "/srv/in/in.csv"


def test_csharp_task_without_replacement_fails_and_validate_lists_it(tmp_path: Path) -> None:
    xml = package(8, [Exe("Load", "seq", children=[csharp_task("Fix names")]),
                      csharp_task("Old", language="Microsoft Visual Basic .NET",
                                  entry="ScriptMain")])
    file = tmp_path / "Load.dtsx"
    file.write_text(xml)
    run = PackageRun(xml, source=str(file))
    [error] = [d for d in run.descriptions(EventKind.OnError) if "Old" in d]
    assert error.startswith("no Python replacement for the VB Script Task \\Package\\Old "
                            "(entry point ScriptMain.Main) (Visual Basic scripts are not "
                            "compiled: Mono on Linux has no VB compiler); give --script "
                            "'\\Package\\Old=file.py' or put file.py in the "
                            "sidecar folder as ")
    assert error.endswith(str(tmp_path / "Load.scripts" / "Old.py"))
    # a C# task without a replacement runs through Mono (tests/test_csharp_scripts.py); this
    # one's source is no C# compilation unit, so it fails with the way out
    [cs_error] = [d for d in run.descriptions(EventKind.OnError) if "Fix names" in d]
    assert "--script" in cs_error
    problems = {p.path: p.message for p in validate_package(load_package(file)).errors}
    assert "VB" in problems["\\Package\\Old"]
    assert "entry point ScriptMain.Main" in problems["\\Package\\Old"]
    # without Mono, validate says the C# task needs it; with Mono, it can run
    assert ("Mono" in problems["\\Package\\Load\\Fix names"]
            if "\\Package\\Load\\Fix names" in problems else mono_available())


def test_sidecar_replacement_runs_a_csharp_task(tmp_path: Path) -> None:
    xml = package(8, [Exe("Load", "seq", children=[
        csharp_task("Fix names", read_only="User::N", read_write="User::Out")])],
        variables=[Var("N", 3, "4"), Var("Out")])
    file = tmp_path / "Load.dtsx"
    file.write_text(xml)
    (tmp_path / "Load.scripts").mkdir()
    (tmp_path / "Load.scripts" / "Load_Fix names.py").write_text(
        "def main(Dts):\n    Dts.Variables['User::Out'].Value = 'n=' + "
        "str(Dts.Variables['User::N'].Value)\n")
    run = PackageRun(xml, source=str(file))
    assert run.result.result == ExecResult.Success, run.descriptions(EventKind.OnError)
    assert run.var("User::Out") == "n=4"
    assert validate_package(load_package(file)).can_run


def test_script_override_through_ssisrun_exec(tmp_path: Path) -> None:
    xml = package(8, [csharp_task("Script Task", read_write="User::Out")],
                  variables=[Var("Out")])
    file = tmp_path / "Pkg.dtsx"
    file.write_text(xml)
    script = tmp_path / "port.py"
    script.write_text("def main(Dts):\n"
                      "    Dts.Events.FireInformation(0, '', 'ported', '', 0, True)\n"
                      "    Dts.Variables['User::Out'].Value = 'x'\n"
                      "    Dts.TaskResult = Dts.Results.Failure\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--reporting", "EI", str(file),
         "--script", f"\\Package\\Script Task={script}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Description: ported" in proc.stdout
    assert "Description: the script set Dts.TaskResult to Failure" in proc.stdout
    assert "DTSER_FAILURE" in proc.stdout


def test_script_option_naming_no_script_task_is_a_usage_error(runner: Any,
                                                              tmp_path: Path) -> None:
    file = tmp_path / "Pkg.dtsx"
    file.write_text(package(8, [csharp_task("Script Task")]))
    result = runner.invoke(cli, ["exec", "--plain", str(file), "--script",
                                 "\\Package\\Nope=x.py"])
    assert result.exit_code == 6
    assert "\\Package\\Nope" in result.output and "\\Package\\Script Task" in result.output


def test_validate_reports_syntax_errors_and_missing_override_files(runner: Any,
                                                                   tmp_path: Path) -> None:
    file = tmp_path / "Pkg.dtsx"
    file.write_text(package(8, [python_task("Bad", "def main(Dts)\n    pass\n")]))
    result = runner.invoke(cli, ["validate", "--format", "json", str(file)])
    assert result.exit_code == 1
    [problem] = json.loads(result.output)["problems"]
    assert "ScriptMain.py:1: the script does not compile" in problem["message"]
