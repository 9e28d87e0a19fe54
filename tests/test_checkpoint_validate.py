"""``ssisrun validate`` warns about designs that defeat checkpoints, with the executable's
path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import (
    Exe,
    Handler,
    Var,
    connection_manager,
    foreach_enumerator,
    foreach_mappings,
    package,
    sql_task_data,
)
from click.testing import CliRunner

from ssisrun.cli import cli

SAVE = {"SaveCheckpoints": True, "CheckpointUsage": 1}


def task(name: str, restart_point: bool = True, **props: object) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask",
               props={"FailPackageOnFailure": restart_point, **props},
               object_data='<ExpressionTask Expression="1 + 1" />')


def warnings(runner: CliRunner, tmp_path: Path, xml: str) -> list[tuple[str, str]]:
    """(path, message) of each checkpoint warning ``validate --format json`` reports."""
    file = tmp_path / "Pkg.dtsx"
    file.write_text(xml)
    result = runner.invoke(cli, ["validate", "--format", "json", str(file)])
    assert result.exit_code in (0, 1), result.output
    problems = json.loads(result.output)["problems"]
    return [(p["path"], p["message"]) for p in problems
            if p["severity"] == "warning" and "heckpoint" in p["message"]]


# --------------------------------------------------------------------------- restart points


@pytest.mark.parametrize("v", [3, 8])
def test_saving_checkpoints_without_a_restart_point(runner: CliRunner, tmp_path: Path,
                                                   v: int) -> None:
    xml = package(v, [task("A", False), task("B", False)], props=SAVE)
    found = warnings(runner, tmp_path, xml)
    assert len(found) == 1
    path, message = found[0]
    assert path == "\\Package"
    assert "no executable has FailPackageOnFailure=True" in message
    assert "no restart point" in message


def test_one_restart_point_is_enough_and_no_checkpoints_no_warning(
        runner: CliRunner, tmp_path: Path) -> None:
    assert warnings(runner, tmp_path, package(8, [task("A", False), task("B")],
                                              props=SAVE)) == []
    assert warnings(runner, tmp_path, package(8, [task("A", False)])) == []


# --------------------------------------------------------------------------- transactions


@pytest.mark.parametrize("v", [3, 8])
def test_transacted_containers_and_checkpoints(runner: CliRunner, tmp_path: Path,
                                              v: int) -> None:
    inner = Exe("Inner", "seq", props={"TransactionOption": 2}, children=[task("T")])
    load = Exe("Load", "seq", props={"TransactionOption": 2}, children=[inner, task("U")])
    xml = package(v, [load, task("Other")], props=SAVE)
    found = warnings(runner, tmp_path, xml)
    # the inner container joins the outer transaction: only the outer one is named
    assert [path for path, _ in found] == ["\\Package\\Load"]
    message = found[0][1]
    assert "'Load' has TransactionOption=Required" in message
    assert "committed can run again" in message
    # without checkpoints, nothing to say
    assert warnings(runner, tmp_path, package(v, [load])) == []


def test_a_transacted_package_that_saves_checkpoints(runner: CliRunner, tmp_path: Path) -> None:
    xml = package(8, [task("A")], props={**SAVE, "TransactionOption": 2})
    found = warnings(runner, tmp_path, xml)
    assert [path for path, _ in found] == ["\\Package"]
    assert "rolls back" in found[0][1] and "skipped on a restart" in found[0][1]


# --------------------------------------------------------------------------- Object variables


def _ado_loop(name: str, variable: str, children: list[Exe] | None = None) -> Exe:
    enum = foreach_enumerator(8, "Microsoft.ForEachADOEnumerator",
                              f'<FEEADO EnumType="EnumerateRowsInFirstTable" '
                              f'VarName="{variable}"/>')
    return Exe(name, "foreach", props={"FailPackageOnFailure": True},
               extra=enum + foreach_mappings(8, "User::Name"), children=children or [task("W")])


def _sql(name: str, results: tuple[str, ...] = (), params: tuple[str, ...] = ()) -> Exe:
    return Exe(name, "sql", props={"FailPackageOnFailure": True},
               object_data=sql_task_data("Db", "SELECT 1", results=results, params=params))


DB = [connection_manager(8, "Db", "OLEDB", "Data Source=.;")]
VARS = [Var("Rows", 13, ""), Var("Name"), Var("Text")]


def test_an_object_variable_written_before_and_read_after(runner: CliRunner,
                                                           tmp_path: Path) -> None:
    xml = package(8, [_sql("Fetch", results=("User::Rows",)), _ado_loop("Each", "User::Rows"),
                      _sql("Use", params=("User::Rows",))],
                  variables=VARS, connections=DB, props=SAVE)
    found = warnings(runner, tmp_path, xml)
    assert [path for path, _ in found] == ["\\Package\\Each", "\\Package\\Use"]
    assert all("Object variable User::Rows is written by \\Package\\Fetch" in m and
               "not saved in checkpoint files" in m for _, m in found)


def test_object_variables_that_restart_together_or_are_not_objects(
        runner: CliRunner, tmp_path: Path) -> None:
    # writer and reader inside one Foreach loop: the loop restarts as a whole
    outer = _ado_loop("Outer", "User::Other",
                      [_sql("Fetch", results=("User::Rows",)), _ado_loop("Each", "User::Rows")])
    # a String variable is saved in the file: no warning
    xml = package(8, [outer, _sql("Set", results=("User::Text",)),
                      _sql("Get", params=("User::Text",))],
                  variables=[*VARS, Var("Other", 13, "")], connections=DB, props=SAVE)
    assert warnings(runner, tmp_path, xml) == []


# --------------------------------------------------------------------------- event handlers


@pytest.mark.parametrize("v", [3, 8])
def test_event_handlers_on_executables(runner: CliRunner, tmp_path: Path, v: int) -> None:
    handled = task("Load")
    handled.handlers = [Handler("OnError", [task("Notify", False)])]
    seq = Exe("Seq", "seq", children=[handled],
              handlers=[Handler("OnPostExecute", [task("Log", False)])])
    xml = package(v, [seq], props=SAVE,
                  handlers=[Handler("OnError", [task("PackageHandler", False)])])
    found = warnings(runner, tmp_path, xml)
    assert sorted(found) == [
        ("\\Package\\Seq", "'Seq' has event handlers (OnPostExecute) and the package saves "
         "checkpoints: handlers will not run for executables skipped on a restart"),
        ("\\Package\\Seq\\Load", "'Load' has event handlers (OnError) and the package saves "
         "checkpoints: handlers will not run for executables skipped on a restart"),
    ]


# --------------------------------------------------------------------------- Always


@pytest.mark.parametrize("v", [3, 8])
def test_checkpoint_usage_always(runner: CliRunner, tmp_path: Path, v: int) -> None:
    xml = package(v, [task("A")], props={"CheckpointUsage": 2, "SaveCheckpoints": True})
    found = warnings(runner, tmp_path, xml)
    assert found == [("\\Package", "CheckpointUsage is Always: the first run of a job fails "
                      "because there is no checkpoint file yet; use IfExists (ssisrun exec "
                      "--checkpointing on)")]


def test_the_warnings_do_not_stop_a_package_from_running(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    xml = package(8, [task("A", False)], props={"CheckpointUsage": 2, "SaveCheckpoints": True})
    file = tmp_path / "Pkg.dtsx"
    file.write_text(xml)
    result = runner.invoke(cli, ["validate", str(file)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 2 warning(s)" in result.output
    assert "  warning \\Package" in result.output
