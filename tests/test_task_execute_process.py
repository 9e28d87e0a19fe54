"""The Execute Process Task: program, arguments, input and output variables, exit codes,
timeouts, cancellation, and no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import Exe, Var, package
from taskrun import PackageRun

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest
from ssisrun.runtime.engine import Engine
from ssisrun.tasks import execute_process
from ssisrun.tasks.execute_process import split_arguments

EP = "Microsoft.ExecuteProcess"
REPO = Path(__file__).resolve().parents[1]


def process_task(name: str = "Run", *, props: dict[str, Any] | None = None,
                 expressions: dict[str, str] | None = None, **attrs: Any) -> Exe:
    """An Execute Process task; ``attrs`` are ExecuteProcessData attributes."""
    body = " ".join(f"{key}={quoteattr(str(value))}" for key, value in attrs.items())
    return Exe(name, EP, props=dict(props or {}), expressions=dict(expressions or {}),
               object_data=f"<ExecuteProcessData {body} />")


def sh(script: str, name: str = "Run", **attrs: Any) -> Exe:
    """A task running ``sh -c script`` (the script quoted for CommandLineToArgvW)."""
    assert '"' not in script
    return process_task(name, Executable="sh", Arguments=f'-c "{script}"', **attrs)


OUTPUT_VARS = [Var("Out"), Var("Err"), Var("Code", 3, "-1")]
CAPTURE: dict[str, Any] = {"StandardOutputVariable": "User::Out",
                              "StandardErrorVariable": "User::Err"}
EXEC_VALUE: dict[str, Any] = {"ExecValueVariable": "User::Code"}


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] != b"Z"


def wait_for_pid(pidfile: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"{pidfile} was not written")


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 2.0
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"process {pid} was left running")


# --------------------------------------------------------------------------- output, exit


def test_stdout_stderr_and_exit_code_go_to_variables() -> None:
    task = sh("echo hi; echo err >&2; exit 3", props=EXEC_VALUE,
              FailTaskIfReturnCodeIsNotSuccessValue="False", **CAPTURE)
    run = PackageRun(package(8, [task], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == "hi\n"
    assert run.var("User::Err") == "err\n"
    assert run.var("User::Code") == 3
    assert run.descriptions(EventKind.OnError) == []


def test_a_non_success_exit_code_fails_the_task_naming_code_and_program() -> None:
    run = PackageRun(package(8, [sh("echo broken input >&2; exit 2", props=EXEC_VALUE)],
                             variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Failure
    assert run.result.exit_code == 1
    assert run.var("User::Code") == 2  # the ExecutionValue is set on failure too
    [error] = run.descriptions(EventKind.OnError)
    assert 'exit code was "2" while the expected was "0"' in error
    assert "/sh" in error and "broken input" in error


def test_success_value_is_the_exit_code_that_counts_as_success() -> None:
    run = PackageRun(package(8, [sh("exit 3", SuccessValue=3, props=EXEC_VALUE)],
                             variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Code") == 3
    run = PackageRun(package(8, [sh("exit 0", SuccessValue=3)]))
    assert run.result.result == ExecResult.Failure


def test_a_program_killed_by_a_signal_exits_with_128_plus_the_signal() -> None:
    run = PackageRun(package(8, [sh("kill -9 $$", props=EXEC_VALUE)], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Failure
    assert run.var("User::Code") == 137
    assert "killed by SIGKILL" in run.descriptions(EventKind.OnError)[0]


def test_stdin_comes_from_a_variable_and_output_is_utf8() -> None:
    text = "line 1\nünïcödé ✓\n"
    task = process_task(Executable="cat", StandardInputVariable="User::In", **CAPTURE)
    run = PackageRun(package(8, [task], variables=[Var("In", value=text), *OUTPUT_VARS]))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == text


def test_large_input_and_output_do_not_deadlock() -> None:
    text = "0123456789abcdef" * 40_000 + "\n"  # 640 kB, many times a pipe's buffer
    task = process_task(Executable="cat", StandardInputVariable="User::In", **CAPTURE)
    run = PackageRun(package(8, [task], variables=[Var("In", value=text), *OUTPUT_VARS]))
    assert run.var("User::Out") == text


def test_without_an_input_variable_stdin_is_empty() -> None:
    run = PackageRun(package(8, [process_task(Executable="cat", **CAPTURE)], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == ""


def test_bad_utf8_output_is_replaced_not_fatal() -> None:
    run = PackageRun(package(8, [sh("printf 'a\\377b'", **CAPTURE)], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == "a\ufffdb"


def test_writing_output_to_a_missing_or_read_only_variable_fails_before_or_after() -> None:
    run = PackageRun(package(8, [sh("echo x", StandardOutputVariable="User::Nope")]))
    assert run.result.result == ExecResult.Failure
    assert "StandardOutputVariable: the variable User::Nope does not exist" in \
        run.descriptions(EventKind.OnError)[0]
    ro = Var("RO", props={"ReadOnly": True})
    run = PackageRun(package(8, [sh("echo x", StandardOutputVariable="User::RO")], variables=[ro]))
    assert run.result.result == ExecResult.Failure
    assert "read-only" in run.descriptions(EventKind.OnError)[0]


# --------------------------------------------------------------------------- settings


def test_working_directory_is_mapped_from_windows(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    task = process_task(Executable="pwd", WorkingDirectory="C:\\etl\\in", **CAPTURE)
    request = RunRequest(path_map=[("C:\\etl\\", str(tmp_path) + "/")])
    run = PackageRun(package(8, [task], variables=OUTPUT_VARS), request)
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out").strip() == str(tmp_path / "in")


def test_a_missing_working_directory_is_an_error_naming_it() -> None:
    task = process_task(Executable="pwd", WorkingDirectory="D:\\no\\such\\dir")
    run = PackageRun(package(8, [task]))
    assert run.result.result == ExecResult.Failure
    [error] = run.descriptions(EventKind.OnError)
    assert "the working directory /no/such/dir (mapped from D:\\no\\such\\dir) does not " \
        "exist" in error


def test_a_relative_executable_is_found_in_the_working_directory(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho tool \"$@\"\n")
    script.chmod(0o755)
    task = process_task(Executable="./tool.sh", Arguments="a b", WorkingDirectory=tmp_path,
                        **CAPTURE)
    run = PackageRun(package(8, [task], variables=OUTPUT_VARS))
    assert run.var("User::Out") == "tool a b\n"


def test_property_expressions_replace_the_attributes(tmp_path: Path) -> None:
    task = process_task(Executable="false", Arguments="ignored", **CAPTURE,
                        expressions={"Executable": '"echo"',
                                     "Arguments": '"n=" + (DT_WSTR, 10) @[User::N]',
                                     "SuccessValue": "0"})
    run = PackageRun(package(8, [task], variables=[Var("N", 3, "42"), *OUTPUT_VARS]))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == "n=42\n"


def test_arguments_reach_the_program_split_as_windows_does() -> None:
    task = process_task(Executable="printf", Arguments='"[%s]" "a b" c\\"d "" e\\\\f',
                        **CAPTURE)
    run = PackageRun(package(8, [task], variables=OUTPUT_VARS))
    assert run.var("User::Out") == '[a b][c"d][][e\\\\f]'


def test_window_style_is_ignored_and_version_2_packages_run() -> None:
    v2_type = ("Microsoft.SqlServer.Dts.Tasks.ExecuteProcess.ExecuteProcess, "
               "Microsoft.SqlServer.ExecProcTask, Version=9.0.242.0, Culture=neutral, "
               "PublicKeyToken=89845dcd8080cc91")
    task = process_task(Executable="echo", Arguments="old", WindowStyle="Maximized",
                        RequireFullFileName="True", TimeOut="0", **CAPTURE)
    task.kind = v2_type
    run = PackageRun(package(2, [task], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Success
    assert run.var("User::Out") == "old\n"


@pytest.mark.parametrize(("executable", "expected"), [
    ("C:\\Windows\\System32\\cmd.exe",
     "the executable /Windows/System32/cmd.exe (mapped from C:\\Windows\\System32\\cmd.exe) "
     "was not found: no file /Windows/System32/cmd.exe"),
    ("notepad.exe", "the executable notepad.exe was not found on the PATH"),
    ("", "the Execute Process task has no Executable"),
])
def test_a_missing_executable_is_an_error_naming_the_file(executable: str,
                                                          expected: str) -> None:
    run = PackageRun(package(8, [process_task(Executable=executable)]))
    assert run.result.result == ExecResult.Failure
    [error] = run.descriptions(EventKind.OnError)
    assert expected in error
    assert "internal error" not in error and "Traceback" not in error


def test_a_file_that_is_not_executable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("x")
    run = PackageRun(package(8, [process_task(Executable=tmp_path / "data.txt")]))
    assert "is not marked executable" in run.descriptions(EventKind.OnError)[0]


@pytest.mark.parametrize("attrs", [{"TimeOut": "soon"}, {"TimeOut": "-1"},
                                   {"FailTaskIfReturnCodeIsNotSuccessValue": "maybe"}])
def test_bad_settings_are_errors(attrs: dict[str, Any]) -> None:
    run = PackageRun(package(8, [process_task(Executable="true", **attrs)]))
    assert run.result.result == ExecResult.Failure
    assert list(attrs)[0] in run.descriptions(EventKind.OnError)[0]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(("text", "argv"), [
    ("", []),
    ("   \t ", []),
    ("a b  c", ["a", "b", "c"]),
    ("  lead trail  ", ["lead", "trail"]),
    ('"a b" c', ["a b", "c"]),
    ('"abc" d e', ["abc", "d", "e"]),
    ('a"b c"d', ["ab cd"]),
    ('a "" b', ["a", "", "b"]),
    ('""', [""]),
    ('a\\\\b d"e f"g h', ["a\\\\b", "de fg", "h"]),       # backslashes alone are literal
    ('a\\\\\\"b c d', ['a\\"b', "c", "d"]),                # 2n+1 before a quote: literal "
    ('a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]),        # 2n before a quote: delimiter
    ('\\"quoted\\"', ['"quoted"']),
    ('C:\\dir\\ "C:\\Program Files\\"', ["C:\\dir\\", 'C:\\Program Files"']),
    ('"C:\\Program Files\\\\" next', ["C:\\Program Files\\", "next"]),
    ('a"b"" c d', ['ab"', "c", "d"]),                      # "" in quotes: literal, ends quote
    ('"""a b"""', ['"a', 'b"']),                           # every third quote is literal
    ('""""', ['"']),
    ('"a\tb"\tc', ["a\tb", "c"]),
    ('"unterminated arg', ["unterminated arg"]),
    ("-extr=all -overwrite c:\\tmp\\cbonds.zip c:\\tmp\\",
     ["-extr=all", "-overwrite", "c:\\tmp\\cbonds.zip", "c:\\tmp\\"]),
])
def test_split_arguments_follows_commandlinetoargvw(text: str, argv: list[str]) -> None:
    assert split_arguments(text) == argv


# --------------------------------------------------------------------------- stopping


def test_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    pidfile, childfile = tmp_path / "pid", tmp_path / "child"
    script = f"sleep 30 & echo $! > {childfile}; echo $$ > {pidfile}; wait"
    run = PackageRun(package(8, [sh(script, TimeOut=1, props=EXEC_VALUE)], variables=OUTPUT_VARS))
    assert run.result.result == ExecResult.Failure
    assert run.elapsed < 5
    [error] = run.descriptions(EventKind.OnError)
    assert "did not finish within 1 seconds (TimeOut) and was stopped" in error
    assert run.var("User::Code") == -1  # no exit code: the ExecutionValue is not set
    assert_gone(wait_for_pid(pidfile))
    assert_gone(wait_for_pid(childfile))


def test_without_terminate_after_timeout_the_task_fails_and_the_program_goes_on(
        tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = sh(f"echo $$ > {pidfile}; exec sleep 30", TimeOut=1, TerminateAfterTimeout="False")
    run = PackageRun(package(8, [task]))
    assert run.result.result == ExecResult.Failure
    assert "it is left running" in run.descriptions(EventKind.OnError)[0]
    pid = wait_for_pid(pidfile)
    assert alive(pid)
    execute_process._stop_left_running()  # what ssisrun does when it exits
    assert_gone(pid)


def test_processes_left_in_the_group_after_exit_are_stopped(tmp_path: Path) -> None:
    childfile = tmp_path / "child"
    run = PackageRun(package(8, [sh(f"sleep 30 & echo $! > {childfile}")]))
    assert run.result.result == ExecResult.Success
    assert run.elapsed < 5
    assert "left processes running in its process group; they were stopped" in \
        run.descriptions(EventKind.OnWarning)[0]
    assert_gone(wait_for_pid(childfile))


def test_cancelling_the_run_stops_the_program(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def cancel_when_started(engine: Engine) -> None:
        def watch() -> None:
            wait_for_pid(pidfile)
            engine.cancel_event.set()
        threading.Thread(target=watch, daemon=True).start()

    task = sh(f"echo $$ > {pidfile}; exec sleep 30")
    run = PackageRun(package(8, [task]), before=cancel_when_started)
    assert run.result.result == ExecResult.Canceled
    assert run.result.exit_code == 3
    assert run.elapsed < 5
    assert run.descriptions(EventKind.OnError) == []
    assert_gone(wait_for_pid(pidfile))


# --------------------------------------------------------------------------- ssisrun exec


def _ssisrun(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ssisrun", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_ssisrun_exec_reports_the_exit_code_error(tmp_path: Path) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(package(8, [sh("echo oops >&2; exit 4", "Unzip")]))
    proc = _ssisrun("exec", str(file))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert "Source: Unzip" in out
    assert 'exit code was "4" while the expected was "0". Standard error: oops' in out
    assert "Traceback" not in out


def test_ctrl_c_cancels_ssisrun_exec_and_stops_the_program(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    file = tmp_path / "p.dtsx"
    file.write_text(package(8, [sh(f"echo $$ > {pidfile}; exec sleep 30")]))
    proc = _ssisrun("exec", str(file))
    try:
        pid = wait_for_pid(pidfile)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "DTSER_CANCELED" in out
    assert_gone(pid)
