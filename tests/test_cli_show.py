"""``ssisrun show``: the control flow as a tree, then variables, parameters and connection
managers as tables; never a password or a Sensitive value."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import (
    VERSIONS,
    Constraint,
    Exe,
    Handler,
    Var,
    connection_manager,
    file_enumerator,
    package,
    package_parameter,
)
from click.testing import CliRunner

from ssisrun.cli import cli

REPO = Path(__file__).resolve().parents[1]
SECRET_CONN = "Data Source=db;User ID=etl;Password=hunter2;"


def shown_package(v: int) -> str:
    params = [package_parameter("ApiKey", 8, "topsecret-value", Sensitive=True),
              package_parameter("Region", 8, "EU", Required=True)] if v >= 6 else []
    return package(
        v,
        [
            Exe("Prepare", "seq", children=[Exe("Make folder", "filesystem"),
                                            Exe("Clean up", "sql")],
                constraints=[Constraint("Make folder", "Clean up", value=1)]),
            Exe("Count", "forloop", props={"InitExpression": "@[User::N] = 0",
                                           "EvalExpression": "@[User::N] < 3",
                                           "AssignExpression": "@[User::N] = @[User::N] + 1"}),
            Exe("Each file", "foreach", extra=file_enumerator(v, "C:\\in", "*.csv", "User::S")),
            Exe("Old step", "sql", props={"Disabled": True}),
            Exe("Notify", "sql", handlers=[Handler("OnTaskFailed", [Exe("Page ops", "sql")])]),
        ],
        name="Shown",
        variables=[Var("N", 3, "0", props={"ReadOnly": True}), Var("S", 8, "abc"),
                   Var("Dir", 8, "C:\\in")],
        constraints=[
            Constraint("Prepare", "Count", logical_and=True),
            Constraint("Count", "Each file", name="C2", value=2),
            Constraint("Each file", "Notify", name="C3", eval_op=3,
                       expression="@[User::N] > 1"),
            Constraint("Notify", "Old step", name="C4", eval_op=1,
                       expression='@[User::S] == "x"'),
        ],
        handlers=[Handler("OnError", [Exe("Log error", "sql")])],
        connections=[connection_manager(v, "Db", "OLEDB", SECRET_CONN)],
        parameters=params,
    )


@pytest.fixture(params=VERSIONS, ids=[f"v{v}" for v in VERSIONS])
def shown(request: pytest.FixtureRequest, runner: CliRunner, tmp_path: Path) -> str:
    file = tmp_path / "Shown.dtsx"
    file.write_text(shown_package(request.param), encoding="utf-8")
    result = runner.invoke(cli, ["show", str(file)])
    assert result.exit_code == 0, result.output
    return result.output


def test_header(shown: str) -> None:
    assert shown.startswith("Package Shown  (")
    assert "format version" in shown
    assert "MaxConcurrentExecutables -1" in shown


def test_tree_names_and_kinds(shown: str) -> None:
    assert "Prepare  [Sequence]" in shown
    assert "Make folder  [FileSystemTask]" in shown
    assert "Clean up  [ExecuteSQLTask]" in shown
    assert "Count  [For Loop]" in shown
    assert ("Init: @[User::N] = 0   Eval: @[User::N] < 3   Assign: @[User::N] = @[User::N] + 1"
            in shown)
    assert "Each file  [Foreach Loop]" in shown
    assert "File enumerator: Folder=C:\\in, FileSpec=*.csv" in shown
    assert "[0] -> User::S" in shown


def test_tree_order(shown: str) -> None:
    order = ["Prepare", "Make folder", "Clean up", "Count", "Each file", "Old step", "Notify",
             "Page ops", "Log error"]
    positions = [shown.index(f"{name}  [") for name in order]
    assert positions == sorted(positions)


def test_constraints(shown: str) -> None:
    assert "Make folder -> Clean up  on Failure  (OR)" in shown
    assert "Prepare -> Count  on Success  (AND)" in shown
    assert "Count -> Each file  on Completion  (OR)" in shown
    assert "Each file -> Notify  on Success and when @[User::N] > 1  (OR)" in shown
    assert 'Notify -> Old step  when @[User::S] == "x"  (OR)' in shown


def test_event_handlers_and_disabled(shown: str) -> None:
    assert "OnError  [event handler]" in shown
    assert "OnTaskFailed  [event handler]" in shown
    assert "Log error  [ExecuteSQLTask]" in shown
    assert "Old step  [ExecuteSQLTask]  disabled" in shown
    assert "Notify  [ExecuteSQLTask]  disabled" not in shown


def test_tables(shown: str) -> None:
    assert "Variables" in shown and "Connection managers" in shown
    for text in ("User::N", "User::S", "Int32", "ReadOnly", "abc", "Db", "OLEDB"):
        assert text in shown
    assert "System::Propagate" not in shown


def test_password_is_masked(shown: str) -> None:
    assert "hunter2" not in shown
    assert "Password=********;" in shown
    assert "Data Source=db;User ID=etl;" in shown


@pytest.mark.parametrize("v", [6, 8])
def test_sensitive_parameter_is_masked(runner: CliRunner, tmp_path: Path, v: int) -> None:
    file = tmp_path / "Shown.dtsx"
    file.write_text(shown_package(v), encoding="utf-8")
    result = runner.invoke(cli, ["show", str(file)])
    assert result.exit_code == 0
    assert "Parameters" in result.output
    assert "$Package::ApiKey" in result.output and "$Package::Region" in result.output
    assert "topsecret-value" not in result.output
    assert "********" in result.output
    assert "Sensitive" in result.output and "Required" in result.output
    assert "EU" in result.output


def test_no_tables(runner: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "Shown.dtsx"
    file.write_text(shown_package(8), encoding="utf-8")
    result = runner.invoke(cli, ["show", "--no-tables", str(file)])
    assert result.exit_code == 0
    assert "Prepare  [Sequence]" in result.output
    for title in ("Variables", "Parameters", "Connection managers", "ReadOnly", "abc"):
        assert title not in result.output
    assert "hunter2" not in result.output


def test_example_hello_shows(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["show", str(REPO / "examples" / "hello.dtsx")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Package Hello")
    assert "Prepare  [Sequence]" in out
    assert "Make greeting  [ExpressionTask]  FailPackageOnFailure" in out
    assert "Count to Repeat  [For Loop]" in out
    assert "Say goodbye  [ExpressionTask]  disabled" in out
    assert "Count to Repeat -> Divide by zero  on Completion and when" in out
    assert "Divide by zero -> Recover  on Failure" in out
    assert "OnError  [event handler]" in out
    assert "$Package::Repeat" in out


def test_example_hello_validates(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(REPO / "examples" / "hello.dtsx")])
    assert result.exit_code == 0, result.output
    assert "could run: 0 error(s), 0 warning(s)" in result.output
