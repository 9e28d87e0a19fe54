"""``ssisrun checkpoint show|forget|clear``: inspect and steer a checkpoint file; side effects
in files show what a restart runs again."""

from __future__ import annotations

import json
import os
import stat
from html import escape
from pathlib import Path

import pytest
from builders import Constraint, Exe, Var, guid, package, package_parameter
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import RunRequest, run_package
from ssisrun.runtime.checkpoint import CheckpointFile, CheckpointLockedError, read_checkpoint

SECRET = "s3cr3t-value"


def step(name: str, log: Path, flag: Path | None = None) -> Exe:
    """A task that appends its name to ``log``; it fails while ``flag`` exists."""
    script = f"echo {name} >> '{log}'"
    if flag is not None:
        script = f"test ! -e '{flag}' && {script}"
    data = (f'<ExecuteProcessData Executable="/bin/sh" '
            f'Arguments="{escape("-c " + chr(34) + script + chr(34))}" />')
    return Exe(name, "Microsoft.ExecuteProcess", props={"FailPackageOnFailure": True},
               object_data=data)


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def expression(name: str, text: str) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask", props={"FailPackageOnFailure": True},
               object_data=f"<ExpressionTask Expression={json.dumps(text)} />")


def build(tmp: Path) -> tuple[Path, Path, Path]:
    """A -> Seq{S1 -> S2} -> F (fails while the flag exists); Copy puts a Sensitive
    parameter's value in a variable. Returns (package, checkpoint file, flag)."""
    log, flag = tmp / "log", tmp / "fail"
    seq = Exe("Seq", "seq", props={"FailPackageOnFailure": True},
              children=[step("S1", log), step("S2", log)],
              constraints=[Constraint("S1", "S2", "s")])
    xml = package(8, [expression("Copy", "@[User::Conn] = @[$Package::ApiKey]"), step("A", log),
                      seq, step("F", log, flag)],
                  variables=[Var("N", 3, "41"), Var("DbPassword", 8, "hunter2"),
                             Var("Conn", 8, ""), Var("ApiKey", 8, "named-like-the-param"),
                             Var("MyToken", 8, "tok-123"), Var("Plain", 8, "hello")],
                  parameters=[package_parameter("ApiKey", 8, SECRET, Sensitive=True)],
                  constraints=[Constraint("Copy", "A", "c"), Constraint("A", "Seq", "a"),
                               Constraint("Seq", "F", "f")])
    file = tmp / "Pkg.dtsx"
    file.write_text(xml)
    return file, tmp / "Pkg.ckp", flag


def request(ckp: Path) -> RunRequest:
    return RunRequest(save_checkpoints=True, checkpoint_usage=1, checkpoint_file=str(ckp))


@pytest.fixture
def failed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The package after a run that failed at F: a checkpoint file is left."""
    file, ckp, flag = build(tmp_path)
    flag.touch()
    assert run_package(load_package(file), request(ckp)).result == ExecResult.Failure
    assert lines(tmp_path / "log") == ["A", "S1", "S2"]
    return file, ckp, flag


def shown(out: str) -> dict[str, str]:
    """The Variables section of ``show``'s text: name -> "Type = value"."""
    section = out.split("Variables (", 1)[1].split("\n", 1)[1]
    result = {}
    for line in section.splitlines():
        if not line.startswith("  "):
            break
        _scope, name, rest = line.split(None, 2)
        result[name] = rest
    return result


def invoke(runner: CliRunner, *args: object) -> tuple[int, str]:
    result = runner.invoke(cli, ["checkpoint", *map(str, args)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


# --------------------------------------------------------------------------- show


def test_show_without_the_package(runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    code, out = invoke(runner, "show", ckp)
    assert code == 0, out
    assert f"Checkpoint file: {ckp}\n" in out
    assert f"Package:  Pkg {guid('pkg', 'Pkg')}\n          {file}\n" in out
    assert "Written:  " in out and "Written:  unknown" not in out
    completed = out.split("Completed (5):\n", 1)[1].split("Variables", 1)[0].split()
    assert completed[::2] == ["\\Package\\Copy", "\\Package\\A", "\\Package\\Seq\\S1",
                              "\\Package\\Seq\\S2", "\\Package\\Seq"]
    assert set(completed[1::2]) == {"Success"}
    values = shown(out)
    assert values["User::N"] == "Int32 = 41" and values["User::Plain"] == "String = hello"
    # without the package, names alone are masked
    assert "hunter2" not in out and "tok-123" not in out
    assert values["User::DbPassword"] == values["User::MyToken"] == "String = ********"
    assert values["User::Conn"] == f"String = {SECRET}"
    assert "Runs first on a restart: give --package PKG to work it out" in out


def test_show_with_the_package_masks_secrets_and_says_what_runs_first(
        runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    assert SECRET in ckp.read_text()  # the file has it; show must not print it
    code, out = invoke(runner, "show", ckp, "--package", file)
    assert code == 0, out
    for secret in (SECRET, "hunter2", "tok-123", "named-like-the-param"):
        assert secret not in out
    masked = [name for name, text in shown(out).items() if text.endswith("= ********")]
    assert sorted(masked) == ["User::ApiKey", "User::Conn", "User::DbPassword", "User::MyToken"]
    assert out.rstrip().endswith("Runs first on a restart:\n  \\Package\\F")


def test_show_json(runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    code, out = invoke(runner, "show", ckp, "--package", file, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["package_id"] == guid("pkg", "Pkg") and data["package_name"] == "Pkg"
    assert data["encrypted"] is False and data["written"]
    assert {c["path"] for c in data["completed"]} == {
        "\\Package\\Copy", "\\Package\\A", "\\Package\\Seq\\S1", "\\Package\\Seq\\S2",
        "\\Package\\Seq"}
    values = {v["name"]: (v["value"], v["masked"], v["scope"]) for v in data["variables"]}
    assert values["User::N"] == ("41", False, "\\Package")
    assert values["User::Conn"] == ("********", True, "\\Package")
    assert data["runs_first"] == [{"path": "\\Package\\F", "whole": False}]
    assert SECRET not in out


def test_show_says_what_runs_first_inside_containers_and_loops(
        runner: CliRunner, tmp_path: Path) -> None:
    log = tmp_path / "log"
    loop = Exe("Loop", "forloop", props={"InitExpression": "", "EvalExpression": "false",
                                         "AssignExpression": ""}, children=[step("L", log)])
    seq = Exe("Seq", "seq", children=[step("S1", log), step("S2", log), loop, step("Off", log)],
              constraints=[Constraint("S1", "S2", "s")])
    seq.children[3].props["Disabled"] = True
    xml = package(8, [step("A", log), seq, step("B", log)],
                  constraints=[Constraint("A", "Seq", "a"), Constraint("A", "B", "b")])
    (tmp_path / "Pkg.dtsx").write_text(xml)
    pkg = load_package(tmp_path / "Pkg.dtsx")
    a = pkg.child("A")
    assert a is not None
    ckp = tmp_path / "Pkg.ckp"
    CheckpointFile(ckp).write(_data(pkg.dtsid, [a.dtsid]))
    code, out = invoke(runner, "show", ckp, "--package", tmp_path / "Pkg.dtsx",
                       "--format", "json")
    assert code == 0, out
    assert json.loads(out)["runs_first"] == [
        {"path": "\\Package\\Seq", "whole": False},
        {"path": "\\Package\\Seq\\S1", "whole": False},
        {"path": "\\Package\\Seq\\Loop", "whole": True},
        {"path": "\\Package\\B", "whole": False},
    ]


def _data(package_id: str, completed: list[str]) -> object:
    from ssisrun.runtime.checkpoint import CheckpointData, CompletedExecutable

    data = CheckpointData(package_id=package_id)
    for cont in completed:
        data.completed[cont] = CompletedExecutable(cont)
    return data


SSIS_FILE = """<DTS:Checkpoint xmlns:DTS="www.microsoft.com/SqlServer/Dts" \
DTS:PackageID="{16EDDCF1-5141-44B6-8997-0A42EB82A767}"><DTS:Variables \
DTS:ContID="{16EDDCF1-5141-44B6-8997-0A42EB82A767}"><DTS:Variable DTS:Namespace="User" \
DTS:IncludeInDebugDump="6789" DTS:ObjectName="intVar" \
DTS:DTSID="{4DA0C488-4CCA-4F33-B2FE-DAE1219A5A77}" DTS:CreationName=""><DTS:VariableValue \
DTS:DataType="3">2</DTS:VariableValue></DTS:Variable></DTS:Variables><DTS:Container \
DTS:ContID="{D0B7A051-AAD4-44C5-A9CB-1854DB7E2FC7}" DTS:Result="0" DTS:PrecedenceMap=""/>\
<DTS:Container DTS:ContID="{A55EB798-6144-4DC2-820B-571DAE6ED606}" DTS:Result="0" \
DTS:PrecedenceMap="Y"/></DTS:Checkpoint>"""


def test_show_a_file_ssis_wrote(runner: CliRunner, tmp_path: Path) -> None:
    ckp = tmp_path / "ScriptCheckpoint.xml"
    ckp.write_text(SSIS_FILE)
    code, out = invoke(runner, "show", ckp)
    assert code == 0, out
    assert "Package:  {16EDDCF1-5141-44B6-8997-0A42EB82A767}\n" in out
    assert "Written:  unknown" in out
    assert "  {D0B7A051-AAD4-44C5-A9CB-1854DB7E2FC7}  Success" in out
    assert shown(out) == {"User::intVar": "Int32 = 2"}
    assert "  \\Package  User::intVar" in out


# --------------------------------------------------------------------------- errors


def test_show_errors_have_exit_codes_and_name_the_file(runner: CliRunner,
                                                        tmp_path: Path) -> None:
    code, out = invoke(runner, "show", tmp_path / "none.ckp")
    assert code == 4 and f"{tmp_path / 'none.ckp'}: the checkpoint file does not exist" in out
    bad = tmp_path / "bad.ckp"
    bad.write_text("<DTS:Checkpoint xmlns:DTS='x'>\n<broken>\n</DTS:Checkpoint>\n")
    code, out = invoke(runner, "show", bad)
    assert code == 5 and f"{bad}:3: the checkpoint file is not valid XML" in out
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(package(8, []))
    code, out = invoke(runner, "show", pkg)
    assert code == 5 and f"{pkg}:2: not a checkpoint file: the root element is <Executable>" \
        in out
    code, out = invoke(runner, "show", tmp_path)
    assert code == 6
    code, out = invoke(runner, "show", bad, "--format", "yaml")
    assert code == 6


def test_a_package_that_did_not_write_the_file_is_a_bad_argument(
        runner: CliRunner, failed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, ckp, _ = failed
    other = tmp_path / "Other.dtsx"
    other.write_text(package(8, [], name="Other"))
    for args in (("show", ckp), ("forget", ckp, "\\Package\\A")):
        code, out = invoke(runner, *args, "--package", other)
        assert code == 6 and "DTS_E_CHECKPOINTMISMATCH" in out and str(ckp) in out
    code, out = invoke(runner, "show", ckp, "--package", tmp_path / "missing.dtsx")
    assert code == 4


# --------------------------------------------------------------------------- forget


def test_forget_by_path_makes_it_run_again(runner: CliRunner,
                                          failed: tuple[Path, Path, Path]) -> None:
    file, ckp, flag = failed
    log = file.parent / "log"
    code, out = invoke(runner, "forget", ckp, "\\Package\\A", "--package", file)
    assert code == 0, out
    assert "Forgot in" in out and "  \\Package\\A\n" in out
    assert stat.S_IMODE(os.stat(ckp).st_mode) == 0o600
    assert not ckp.with_name("Pkg.ckp.lock").exists()  # the lock was released
    # F waits only for the Sequence, which stays completed: A and F both start first
    code, out = invoke(runner, "show", ckp, "--package", file)
    assert out.rstrip().endswith("Runs first on a restart:\n  \\Package\\A\n  \\Package\\F")
    flag.unlink()
    assert run_package(load_package(file), request(ckp)).result == ExecResult.Success
    assert lines(log)[:3] == ["A", "S1", "S2"]
    assert sorted(lines(log)[3:]) == ["A", "F"]  # A again, the Sequence not


def test_forget_a_container_forgets_what_is_below_it(runner: CliRunner,
                                                     failed: tuple[Path, Path, Path]) -> None:
    file, ckp, flag = failed
    code, out = invoke(runner, "forget", ckp, "Package/Seq", "--package", file)
    assert code == 0, out
    assert sorted(out.split("Forgot in", 1)[1].split()[1:4]) == [
        "\\Package\\Seq", "\\Package\\Seq\\S1", "\\Package\\Seq\\S2"]
    flag.unlink()
    assert run_package(load_package(file), request(ckp)).result == ExecResult.Success
    assert lines(file.parent / "log") == ["A", "S1", "S2", "S1", "S2", "F"]


def test_forget_a_child_forgets_its_container_but_not_its_siblings(
        runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, flag = failed
    code, out = invoke(runner, "forget", ckp, "\\Package\\Seq\\S2", "--package", file)
    assert code == 0, out
    code, out = invoke(runner, "show", ckp, "--package", file)
    assert out.rstrip().endswith("Runs first on a restart:\n  \\Package\\Seq\n"
                                 "  \\Package\\Seq\\S2")
    flag.unlink()
    assert run_package(load_package(file), request(ckp)).result == ExecResult.Success
    assert lines(file.parent / "log") == ["A", "S1", "S2", "S2", "F"]


def test_forget_without_the_package_by_dtsid_or_recorded_path(
        runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    a_id = guid("Package\\A")
    code, out = invoke(runner, "forget", ckp, a_id.lower())
    assert code == 0, out
    assert a_id not in read_checkpoint(ckp).completed
    code, out = invoke(runner, "forget", ckp, "\\Package\\Seq")
    assert code == 0, out
    left = {c.path for c in read_checkpoint(ckp).completed.values()}
    assert left == {"\\Package\\Copy"}


def test_forget_what_is_not_recorded_or_does_not_exist(
        runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    before = ckp.read_bytes()
    code, out = invoke(runner, "forget", ckp, "\\Package\\F", "--package", file)
    assert code == 0 and "Nothing to forget: \\Package\\F is not recorded" in out
    code, out = invoke(runner, "forget", ckp, "\\Package\\Nope", "--package", file)
    assert code == 6 and "has no executable \\Package\\Nope" in out
    code, out = invoke(runner, "forget", ckp, "{00000000-0000-0000-0000-000000000000}")
    assert code == 6 and "no completed executable" in out
    code, out = invoke(runner, "forget", ckp, "\\Package\\F")
    assert code == 6 and "--package" in out
    assert ckp.read_bytes() == before


def test_forget_and_clear_refuse_a_locked_file(runner: CliRunner,
                                               failed: tuple[Path, Path, Path]) -> None:
    file, ckp, _ = failed
    lock = CheckpointFile(ckp)
    lock.acquire()
    try:
        before = ckp.read_bytes()
        code, out = invoke(runner, "forget", ckp, "\\Package\\A", "--package", file)
        assert code == 1 and "DTS_E_CHECKPOINTFILELOCKED" in out
        assert f"process {os.getpid()}" in out
        code, out = invoke(runner, "clear", ckp)
        assert code == 1 and f"process {os.getpid()}" in out
        assert ckp.read_bytes() == before
    finally:
        lock.release()


# --------------------------------------------------------------------------- clear


def test_clear_deletes_the_file_and_the_next_run_starts_over(
        runner: CliRunner, failed: tuple[Path, Path, Path]) -> None:
    file, ckp, flag = failed
    code, out = invoke(runner, "clear", ckp)
    assert code == 0 and f"Deleted {ckp}" in out
    assert not ckp.exists() and not ckp.with_name("Pkg.ckp.lock").exists()
    flag.unlink()
    run_package(load_package(file), request(ckp))
    assert lines(file.parent / "log") == ["A", "S1", "S2", "A", "S1", "S2", "F"]
    code, out = invoke(runner, "clear", ckp)
    assert code == 4


def test_clear_never_deletes_a_file_that_is_not_a_checkpoint(runner: CliRunner,
                                                             tmp_path: Path) -> None:
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(package(8, []))
    code, out = invoke(runner, "clear", pkg)
    assert code == 5 and "not a checkpoint file" in out
    assert pkg.exists()


# --------------------------------------------------------------------------- the lock


def test_a_lock_taken_on_a_removed_lock_file_is_taken_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B opens the lock file, run A releases it (removing the file), run C creates
    and locks a new one; B's lock on the removed file must not count."""
    import fcntl

    ckp = tmp_path / "Pkg.ckp"
    lock_path = ckp.with_name("Pkg.ckp.lock")
    real_flock = fcntl.flock
    others: list[int] = []

    def racing_flock(fd: int, operation: int) -> None:
        if operation & fcntl.LOCK_EX and not others:
            lock_path.unlink()  # A released
            other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # C locks a new file
            os.write(other, b"process C\n")
            real_flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            others.append(other)
        real_flock(fd, operation)

    lock_path.touch()
    monkeypatch.setattr(fcntl, "flock", racing_flock)
    try:
        with pytest.raises(CheckpointLockedError) as info:
            CheckpointFile(ckp).acquire()
        assert "(DTS_E_CHECKPOINTFILELOCKED): process C" in str(info.value)
    finally:
        for fd in others:
            os.close(fd)
    monkeypatch.undo()
    held = CheckpointFile(ckp)
    held.acquire()
    held.release()
    assert not lock_path.exists()


# --------------------------------------------------------------------------- documented choices
# docs/checkpoints.md lists these choices, made where SSIS's documentation is silent.


def test_precedence_map_is_written_empty_and_system_variables_are_not_saved(
        failed: tuple[Path, Path, Path]) -> None:
    _, ckp, _ = failed
    saved = read_checkpoint(ckp)
    assert {c.precedence_map for c in saved.completed.values()} == {""}
    assert not [v for vs in saved.variables.values() for v in vs if v.namespace == "System"]


def test_a_failed_task_handled_by_a_failure_constraint_is_not_recorded(tmp_path: Path) -> None:
    log, flag = tmp_path / "log", tmp_path / "fail"
    broken = step("Broken", log, tmp_path)  # the folder exists: it always fails
    broken.props["FailPackageOnFailure"] = False
    xml = package(8, [broken, step("Handle", log), step("G", log, flag)],
                  constraints=[Constraint("Broken", "Handle", "h", value=1),
                               Constraint("Handle", "G", "g")],
                  props={"MaxErrorCount": 0})
    (tmp_path / "Pkg.dtsx").write_text(xml)
    flag.touch()
    run_package(load_package(tmp_path / "Pkg.dtsx"), request(tmp_path / "Pkg.ckp"))
    paths = {c.path for c in read_checkpoint(tmp_path / "Pkg.ckp").completed.values()}
    assert paths == {"\\Package\\Handle"}


def test_restored_executables_raise_no_events(failed: tuple[Path, Path, Path]) -> None:
    from ssisrun.runtime import Engine, EventBus

    file, ckp, flag = failed
    flag.unlink()
    events: list[object] = []
    bus = EventBus()
    bus.subscribe(events.append)
    assert Engine(load_package(file), request(ckp), bus).run().result == ExecResult.Success
    sources = {getattr(e, "source_path", "") for e in events}
    assert "\\Package\\F" in sources
    assert not sources & {"\\Package\\A", "\\Package\\Seq", "\\Package\\Seq\\S1"}


def test_the_file_is_deleted_on_success_even_when_the_run_only_restarted_from_it(
        failed: tuple[Path, Path, Path]) -> None:
    file, ckp, flag = failed
    flag.unlink()
    restart_only = RunRequest(save_checkpoints=False, checkpoint_usage=1,
                              checkpoint_file=str(ckp))
    result = run_package(load_package(file), restart_only)
    assert result.result == ExecResult.Success and result.restarted
    assert not ckp.exists()
