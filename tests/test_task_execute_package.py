"""The Execute Package Task: a child by file or by project reference, parameter bindings,
the parent's variables seen by the child, in and out of process, the child's result and
errors in the parent, and the recursion guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from builders import (
    Constraint,
    Exe,
    Handler,
    Var,
    connection_manager,
    dtproj,
    package,
    package_parameter,
    project_params,
)
from taskrun import PackageRun

from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.project import load_project, load_project_package
from ssisrun.runtime import EventKind, RunRequest

EP = "Microsoft.ExecutePackageTask"
REPO = Path(__file__).resolve().parents[1]


def execute_package(name: str = "Run child", *, connection: str = "", package_name: str = "",
                    project_reference: bool = False, out_of_process: bool = False,
                    bindings: tuple[tuple[str, str], ...] = (),
                    props: dict[str, Any] | None = None) -> Exe:
    parts = []
    if project_reference:
        parts.append("<UseProjectReference>True</UseProjectReference>")
    if out_of_process:
        parts.append("<ExecuteOutOfProcess>True</ExecuteOutOfProcess>")
    if package_name:
        parts.append(f"<PackageName>{escape(package_name)}</PackageName>")
    if connection:
        parts.append(f"<Connection>{escape(connection)}</Connection>")
    for param, bound in bindings:
        parts.append(f"<ParameterAssignment><ParameterName>{param}</ParameterName>"
                     f"<BindedVariableOrParameterName>{bound}</BindedVariableOrParameterName>"
                     "</ParameterAssignment>")
    return Exe(name, EP, props=dict(props or {}),
               object_data=f"<ExecutePackageTask>{''.join(parts)}</ExecutePackageTask>")


def expression(name: str, text: str) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask",
               object_data=f'<ExpressionTask Expression="{escape(text, {chr(34): "&quot;"})}"/>')


def python(name: str, code: str, read_only: str = "", read_write: str = "") -> Exe:
    return Exe(name, "script", object_data=(
        f'<ScriptProject Language="Python" ReadOnlyVariables="{read_only}" '
        f'ReadWriteVariables="{read_write}"><ProjectItem Name="ScriptMain.py"><![CDATA['
        f"{code}]]></ProjectItem></ScriptProject>"))


def file_cm(name: str, path: str) -> str:
    return connection_manager(8, name, "FILE", path)


class Run(PackageRun):
    """A package run from its file, or from the project ``project`` (a .dtproj)."""

    def __init__(self, file: Path, request: RunRequest | None = None, *,
                 project: Path | None = None) -> None:
        if project is not None:
            super().__init__(load_project_package(load_project(project), file.name), request)
        else:
            super().__init__(load_package(file), request)

    def errors_with_paths(self) -> list[tuple[str, str]]:
        return [(e.source_path, e.description) for e in self.events_of(EventKind.OnError)]

    def results(self) -> dict[str, ExecResult]:
        """Every executable's result by path, the child's below the task that ran it."""
        return {e.source_path: e.data["result"]
                for e in self.events_of(EventKind.ExecutableFinished)}


CHILD_PARAMS = [package_parameter("Greeting", 8, "design"), package_parameter("N", 3, "0")]


def write_child(folder: Path, executables: list[Exe], name: str = "Child", **kw: Any) -> Path:
    file = folder / f"{name}.dtsx"
    kw.setdefault("parameters", CHILD_PARAMS)
    file.write_text(package(8, executables, name=name, **kw))
    return file


def test_child_by_file_gets_bindings_and_sees_the_parents_variables(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_child(tmp_path / "sub", [
        expression("Greet", '@[User::Result] = @[$Package::Greeting] + " " + '
                   '(DT_WSTR, 10) (@[$Package::N] * 2) + " " + @[User::ParentOnly]'),
        expression("Shadow", "@[User::Seen] = @[User::Shadow]"),
        expression("Own", '@[User::ChildOnly] = "set"'),
    ], variables=[Var("Shadow", value="child"), Var("ChildOnly")])
    parent = tmp_path / "Parent.dtsx"
    parent.write_text(package(8, [execute_package(
        connection="Child", bindings=(("Greeting", "User::Hello"), ("N", "$Package::Count")))],
        name="Parent", connections=[file_cm("Child", "sub\\Child.dtsx")],
        parameters=[package_parameter("Count", 3, "21")],
        variables=[Var("Hello", value="hi"), Var("ParentOnly", value="from parent"),
                   Var("Shadow", value="parent"), Var("Result"), Var("Seen")]))
    run = Run(parent)
    assert run.result.result == ExecResult.Success, run.errors_with_paths()
    assert run.var("User::Result") == "hi 42 from parent"
    assert run.var("User::Seen") == "child"  # the child's own variable wins
    assert run.var("User::Shadow") == "parent"
    assert run.var("User::ChildOnly") is None  # the parent never sees the child's
    # the child's executables appear below the task in reports
    assert run.results()["\\Package\\Run child\\Child\\Greet"] == ExecResult.Success


def test_child_by_project_reference(tmp_path: Path) -> None:
    (tmp_path / "Proj.dtproj").write_text(dtproj("Proj", ["Parent.dtsx", "Child.dtsx"]))
    (tmp_path / "Project.params").write_text(project_params(("Env", 18, "test", False, False)))
    write_child(tmp_path, [expression(
        "Greet", '@[User::Result] = @[$Package::Greeting] + "@" + @[$Project::Env]')])
    (tmp_path / "Parent.dtsx").write_text(package(8, [execute_package(
        package_name="Child.dtsx", project_reference=True,
        bindings=(("Greeting", "System::PackageName"),))], name="Parent",
        variables=[Var("Result")]))
    run = Run(tmp_path / "Parent.dtsx", project=tmp_path)
    assert run.result.result == ExecResult.Success, run.errors_with_paths()
    assert run.var("User::Result") == "Parent@test"


def test_child_failure_fails_the_task_and_reaches_the_parents_handlers(tmp_path: Path) -> None:
    write_child(tmp_path, [python("Boom", "def main(Dts):\n    raise RuntimeError('bad')\n")])
    handler = Handler("OnError", [expression("Log", "@[User::Source] = @[System::SourceName]")])
    (tmp_path / "Parent.dtsx").write_text(package(
        8, [execute_package(connection="Child")], name="Parent",
        connections=[file_cm("Child", str(tmp_path / "Child.dtsx"))],
        variables=[Var("Source")], handlers=[handler]))
    run = Run(tmp_path / "Parent.dtsx")
    assert run.result.result == ExecResult.Failure
    assert run.results()["\\Package\\Run child"] == ExecResult.Failure
    [(path, message)] = run.errors_with_paths()
    assert path == "\\Package\\Run child\\Child\\Boom"
    assert "RuntimeError: bad" in message
    assert run.var("User::Source") == "Boom"  # SSIS: the child's event, by its source
    assert run.engine.error_counts[id(run.engine.package)] == 1


def test_propagate_false_in_the_child_keeps_its_errors_from_the_parent(tmp_path: Path) -> None:
    stop = Handler("OnError", [expression("Stop", "@[System::Propagate] = False")])
    write_child(tmp_path, [python("Boom", "def main(Dts):\n    raise RuntimeError('bad')\n")],
                handlers=[stop])
    handler = Handler("OnError", [expression("Log", '@[User::Handled] = "yes"')])
    (tmp_path / "Parent.dtsx").write_text(package(
        8, [execute_package(connection="Child")], name="Parent",
        connections=[file_cm("Child", str(tmp_path / "Child.dtsx"))],
        variables=[Var("Handled")], handlers=[handler]))
    run = Run(tmp_path / "Parent.dtsx")
    assert run.result.result == ExecResult.Failure
    messages = [m for _, m in run.errors_with_paths()]
    assert messages[-1] == "the child package Child failed (1 error(s))"
    # the parent's handler saw only the task's own error, not the child's
    assert run.var("User::Handled") == "yes"
    assert run.engine.error_counts[id(run.engine.package)] == 1


def test_missing_child_and_recursion_fail_with_clear_errors(tmp_path: Path) -> None:
    parent = tmp_path / "Parent.dtsx"
    parent.write_text(package(8, [
        execute_package("Missing", connection="Missing"),
        execute_package("Itself", connection="Self"),
        execute_package("Sql", connection="Db", package_name="\\Load\\Child"),
    ], name="Parent", props={"MaxErrorCount": 0},
        connections=[file_cm("Missing", "C:\\etl\\Nope.dtsx"),
                     file_cm("Self", "Parent.dtsx"),
                     connection_manager(8, "Db", "OLEDB", "Data Source=.;")]))
    run = Run(parent)
    errors = dict(run.errors_with_paths())
    assert errors["\\Package\\Missing"] == (
        "the child package /etl/Nope.dtsx (mapped from C:\\etl\\Nope.dtsx) does not exist "
        "(connection manager 'Missing'); map Windows paths with --path-map")
    assert errors["\\Package\\Itself"] == (
        "the package Parent would run itself (Parent.dtsx -> Parent.dtsx); SSIS would never "
        "finish")
    assert "stored in SQL Server" in errors["\\Package\\Sql"]


def test_recursion_through_a_child_is_caught(tmp_path: Path) -> None:
    for name, other in (("A", "B"), ("B", "A")):
        (tmp_path / f"{name}.dtsx").write_text(package(
            8, [execute_package(f"Run {other}", connection=other)], name=name,
            connections=[file_cm(other, f"{other}.dtsx")]))
    run = Run(tmp_path / "A.dtsx")
    assert run.result.result == ExecResult.Failure
    [(path, message)] = run.errors_with_paths()
    assert path == "\\Package\\Run B\\B\\Run A"
    assert message.startswith("the package A would run itself (A.dtsx -> B.dtsx -> A.dtsx)")
    assert run.results()["\\Package\\Run B"] == ExecResult.Failure


def test_out_of_process_child_gets_bindings_and_its_exit_code_decides(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    write_child(tmp_path, [python(
        "Write", "def main(Dts):\n    open(Dts.Variables['$Package::Greeting'].Value, 'w')"
        ".write(str(Dts.Variables['$Package::N'].Value))\n", read_only="$Package::Greeting,"
        "$Package::N")])
    write_child(tmp_path, [python("Boom", "def main(Dts):\n    raise RuntimeError('far')\n")],
                name="Bad")
    (tmp_path / "Parent.dtsx").write_text(package(8, [
        execute_package(connection="Child", out_of_process=True,
                        bindings=(("Greeting", "User::Out"), ("N", "User::N"))),
        execute_package("Run bad", connection="Bad", out_of_process=True),
    ], name="Parent", props={"MaxErrorCount": 0},
        connections=[file_cm("Child", "Child.dtsx"), file_cm("Bad", "Bad.dtsx")],
        variables=[Var("Out", value=str(out)), Var("N", 3, "7")],
        constraints=[Constraint("Run child", "Run bad")]))
    run = Run(tmp_path / "Parent.dtsx")
    assert out.read_text() == "7"
    results = run.results()
    assert results["\\Package\\Run child"] == ExecResult.Success
    assert results["\\Package\\Run bad"] == ExecResult.Failure
    [(path, message)] = run.errors_with_paths()
    assert path == "\\Package\\Run bad"
    assert message.startswith("Bad\\Boom: the script failed at ")
    assert message.endswith("RuntimeError: far")


def test_parent_child_example_runs(tmp_path: Path) -> None:
    example = REPO / "examples" / "parent_child"
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--reporting", "EI",
         str(example / "Parent.dtsx")], capture_output=True, text=True, timeout=60,
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Description: Hello from Parent: 3 files to load" in proc.stdout
