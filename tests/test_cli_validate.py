"""``ssisrun validate``: dtexec's /Validate, in text and JSON, with dtexec's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import VERSIONS, Exe, Var, file_enumerator, package, sql_task_data
from click.testing import CliRunner

from ssisrun import capabilities
from ssisrun.cli import cli


def write(tmp_path: Path, xml: str, name: str = "Pkg.dtsx") -> Path:
    file = tmp_path / name
    file.write_text(xml, encoding="utf-8")
    return file


def validate_json(runner: CliRunner, file: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(cli, ["validate", "--format", "json", *extra, str(file)])
    return result.exit_code, json.loads(result.output)


def line_of(xml: str, needle: str) -> int:
    for number, text in enumerate(xml.splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in the XML")


CONTAINERS_ONLY = [
    Exe("Seq", "seq", children=[Exe("Inner", "seq")]),
    Exe("Loop", "forloop", props={"InitExpression": "", "EvalExpression": "false",
                                  "AssignExpression": ""}),
]


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize("v", VERSIONS)
def test_containers_only_can_run(runner: CliRunner, tmp_path: Path, v: int) -> None:
    file = write(tmp_path, package(v, CONTAINERS_ONLY, name="Empty"))
    result = runner.invoke(cli, ["validate", str(file)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Validating package Empty ({file}, format version {v})",
        "Result: the package could run: 0 error(s), 0 warning(s).",
    ]


def test_runnable_types_are_the_containers_and_the_registered_tasks() -> None:
    from ssisrun.tasks import REGISTRY

    assert not capabilities.executable_is_runnable(UNSUPPORTED)
    assert capabilities.executable_is_runnable("STOCK:FORLOOP")
    assert capabilities.executable_is_runnable("Microsoft.ExpressionTask")
    assert capabilities.RUNNABLE_EXECUTABLES == capabilities.CONTAINERS | frozenset(REGISTRY)


#: a task type this ssisrun cannot run (SSIS 2012 removed it)
UNSUPPORTED = "Microsoft.ActiveXScriptTask"


@pytest.mark.parametrize("v", VERSIONS)
def test_a_task_cannot_run_yet(runner: CliRunner, tmp_path: Path, v: int) -> None:
    xml = package(v, [Exe("Seq", "seq", children=[Exe("Insert rows", UNSUPPORTED)])],
                  name="Load")
    file = write(tmp_path, xml)
    code, data = validate_json(runner, file)
    assert code == 1
    assert data["valid"] is False
    [problem] = data["problems"]
    assert problem["severity"] == "error"
    assert problem["path"] == "\\Package\\Seq\\Insert rows"
    assert UNSUPPORTED in problem["message"]
    assert "cannot be run" in problem["message"]
    needle = ('DTS:refId="Package\\Seq\\Insert rows"' if v >= 6
              else f'<DTS:Executable DTS:ExecutableType="{UNSUPPORTED}')
    assert problem["line"] == line_of(xml, needle)


def test_disabled_task_is_not_reported(runner: CliRunner, tmp_path: Path) -> None:
    file = write(tmp_path, package(8, [Exe("Off", "sql", props={"Disabled": True})]))
    code, data = validate_json(runner, file)
    assert code == 0 and data["problems"] == []


# --------------------------------------------------------------------------- output


def test_json_output_shape(runner: CliRunner, tmp_path: Path) -> None:
    file = write(tmp_path, package(3, [Exe("T", UNSUPPORTED)], name="Load"))
    code, data = validate_json(runner, file)
    assert code == 1
    assert set(data) == {"package", "name", "format_version", "valid", "errors", "warnings",
                         "problems"}
    assert (data["package"], data["name"], data["format_version"]) == (str(file), "Load", 3)
    assert (data["valid"], data["errors"], data["warnings"]) == (False, 1, 0)
    assert set(data["problems"][0]) == {"severity", "path", "line", "message"}
    assert isinstance(data["problems"][0]["line"], int)


def test_text_output(runner: CliRunner, tmp_path: Path) -> None:
    xml = package(8, [Exe("Insert rows", UNSUPPORTED)], name="Load")
    file = write(tmp_path, xml)
    result = runner.invoke(cli, ["validate", str(file)])
    assert result.exit_code == 1
    line = line_of(xml, 'DTS:refId="Package\\Insert rows"')
    assert result.output.splitlines() == [
        f"Validating package Load ({file}, format version 8)",
        f"  error   \\Package\\Insert rows (line {line}): task type {UNSUPPORTED} "
        "cannot be run by this ssisrun yet",
        "Result: the package cannot run: 1 error(s), 0 warning(s).",
    ]


def test_no_warnings(runner: CliRunner, tmp_path: Path) -> None:
    xml = package(8, CONTAINERS_ONLY, variables=[
        Var("E", 8, "", props={"EvaluateAsExpression": True, "Expression": ""})])
    file = write(tmp_path, xml)
    code, data = validate_json(runner, file)
    assert code == 0
    assert [(p["severity"], p["path"]) for p in data["problems"]] == [("warning", "\\Package")]
    assert "User::E" in data["problems"][0]["message"]
    code, data = validate_json(runner, file, "--no-warnings")
    assert code == 0 and data["problems"] == [] and data["warnings"] == 1
    result = runner.invoke(cli, ["validate", "--no-warnings", str(file)])
    assert "User::E" not in result.output
    assert "0 error(s), 1 warning(s)" in result.output


# --------------------------------------------------------------------------- variables


def variable_errors(data: dict) -> list[tuple[str, str]]:
    return [(p["path"], p["message"]) for p in data["problems"]
            if p["severity"] == "error" and "variable" in p["message"]
            and "cannot be run" not in p["message"]]


@pytest.mark.parametrize("v", VERSIONS)
def test_unknown_variable_in_foreach_mapping(runner: CliRunner, tmp_path: Path, v: int) -> None:
    loop = Exe("Files", "foreach", extra=file_enumerator(v, "C:\\in", "*.csv", "User::Nope"))
    xml = package(v, [loop], variables=[Var("Dir", 8, "C:\\in")])
    code, data = validate_json(runner, write(tmp_path, xml))
    assert code == 1
    [(path, message)] = variable_errors(data)
    assert path == "\\Package\\Files"
    assert "User::Nope" in message


@pytest.mark.parametrize("v", VERSIONS)
def test_unknown_variable_in_sql_result_binding(runner: CliRunner, tmp_path: Path,
                                                v: int) -> None:
    task = Exe("Count", "sql", object_data=sql_task_data("Db", results=("User::Missing",),
                                                          params=("User::N",)))
    xml = package(v, [task], variables=[Var("N", 3, "1")])
    code, data = validate_json(runner, write(tmp_path, xml))
    assert code == 1
    [(path, message)] = variable_errors(data)
    assert path == "\\Package\\Count"
    assert "User::Missing" in message and "result binding" in message


@pytest.mark.parametrize("v", VERSIONS)
def test_unknown_exec_value_variable(runner: CliRunner, tmp_path: Path, v: int) -> None:
    xml = package(v, [Exe("T", "sql", props={"ExecValueVariable": "User::Gone"})])
    code, data = validate_json(runner, write(tmp_path, xml))
    [(path, message)] = variable_errors(data)
    assert path == "\\Package\\T"
    assert "User::Gone" in message and "ExecValueVariable" in message


def scoped_package(v: int, name: str) -> str:
    """A task in Seq A binds ``name``; Seq A defines InA, the package Top, Seq B InB."""
    task = Exe("Task", "sql", object_data=sql_task_data("Db", results=(name,)))
    return package(v, [
        Exe("A", "seq", variables=[Var("InA", 8, "a")], children=[
            Exe("Inner", "seq", children=[task])]),
        Exe("B", "seq", variables=[Var("InB", 8, "b")]),
    ], variables=[Var("Top", 8, "t")])


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize("name", ["User::Top", "User::InA", "Top", "System::PackageName",
                                  "System::StartTime"])
def test_variables_in_scope_are_known(runner: CliRunner, tmp_path: Path, v: int,
                                      name: str) -> None:
    code, data = validate_json(runner, write(tmp_path, scoped_package(v, name)))
    assert variable_errors(data) == []


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize("name", ["User::InB", "System::NoSuchThing", "Other::Top"])
def test_variables_out_of_scope_are_errors(runner: CliRunner, tmp_path: Path, v: int,
                                           name: str) -> None:
    code, data = validate_json(runner, write(tmp_path, scoped_package(v, name)))
    assert code == 1
    [(path, message)] = variable_errors(data)
    assert path == "\\Package\\A\\Inner\\Task"
    assert name in message


def test_event_handler_system_variables_are_known(runner: CliRunner, tmp_path: Path) -> None:
    from builders import Handler

    task = Exe("Log", "sql", object_data=sql_task_data(
        "Db", params=("System::ErrorDescription", "System::SourceName", "System::Propagate")))
    file = write(tmp_path, package(8, handlers=[Handler("OnError", [task])]))
    code, data = validate_json(runner, file)
    assert variable_errors(data) == []


def test_unknown_connection_manager_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    task = Exe("Run", "sql", object_data=sql_task_data("{11111111-2222-3333-4444-555555555555}"))
    code, data = validate_json(runner, write(tmp_path, package(8, [task])))
    messages = [p["message"] for p in data["problems"] if "connection manager" in p["message"]]
    assert len(messages) == 1
    assert "{11111111-2222-3333-4444-555555555555}" in messages[0]
