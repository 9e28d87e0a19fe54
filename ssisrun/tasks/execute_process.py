"""The Execute Process Task: runs a program with its arguments, input and output.

Its settings are the attributes of ``ExecuteProcessData`` (spec ssis-runtime.md 5.12); a
property expression of the same name replaces an attribute. Defaults are SSIS's (v6/v8
files leave them out): ``RequireFullFileName`` True, ``TimeOut`` 0 (no limit),
``TerminateAfterTimeout`` True, ``SuccessValue`` 0, ``FailTaskIfReturnCodeIsNotSuccessValue``
True.

How a Windows task runs here:

* ``Executable`` and ``WorkingDirectory`` are mapped with ``--path-map`` (``C:\\x\\y`` becomes
  ``/x/y`` without a map). A bare name (``sh``) is looked up on ``PATH``; a relative path is
  taken from the working directory. A program that cannot be found fails the task with the
  path that was tried, whatever ``RequireFullFileName`` says (a program that is not there
  cannot start). ``WindowStyle`` has no meaning here and is ignored.
* ``Arguments`` is split the way Windows' ``CommandLineToArgvW`` splits a command line
  (:func:`split_arguments`); paths inside it are passed as they are.
* The program runs without a shell, in its own session (so its own process group). A
  timeout with ``TerminateAfterTimeout``, or a cancelled run (Ctrl-C), stops the whole group:
  SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds. When the program exits, processes
  it left behind in its group are stopped the same way, with a warning.
* With ``TerminateAfterTimeout`` False the task fails at the timeout, as in SSIS, and the
  program keeps running; ssisrun stops it when ssisrun itself exits.
* ``StandardInputVariable``'s value is written to the program's standard input (UTF-8);
  without it the input is empty. Output goes to ``StandardOutputVariable`` and
  ``StandardErrorVariable`` (decoded as UTF-8, bad bytes replaced) or is discarded; the end
  of the standard error is quoted in the error when the exit code is not the success value.
* The ExecutionValue (``ExecValueVariable``) is the exit code; a program killed by signal N
  exits with 128 + N, as in a shell.
"""

from __future__ import annotations

import atexit
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body

if TYPE_CHECKING:
    from ssisrun.runtime.context import TaskContext

#: seconds between SIGTERM and SIGKILL when a process group is stopped
KILL_GRACE = 2.0
#: seconds between two looks at the cancel event and the timeout while a program runs
POLL_INTERVAL = 0.05
#: how much of the standard error an exit-code error quotes (characters)
STDERR_QUOTE = 500

# SSIS's codes where known (DTS_E_EXECPROCTASK_*), ssisrun's own otherwise
E_SETTINGS = 0xC0029150
E_EXIT_CODE = 0xC0029151
E_NOT_FOUND = 0xC0029154
E_WORKING_DIRECTORY = 0xC0029155
E_TIMEOUT = 0xC0029157
E_VARIABLE = 0xC0029158
W_LEFT_RUNNING = 0x80029160
W_STRAGGLERS = 0x80029161


class ProcessSetupError(SsisrunError):
    """The task's settings cannot start a process (missing program, bad directory...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- arguments


def split_arguments(text: str) -> list[str]:
    """Split a Windows command-line tail into arguments as ``CommandLineToArgvW`` does.

    * Spaces and tabs outside quotes separate arguments; ``"..."`` groups, and may sit
      inside an argument (``a"b c"d`` is ``ab cd``); ``""`` alone is an empty argument.
    * 2n backslashes before a quote give n backslashes and the quote delimits; 2n+1
      backslashes give n backslashes and a literal quote. Backslashes not followed by a
      quote are literal (``C:\\dir\\`` stays as it is).
    * Inside quotes, a doubled quote (``""``) gives a literal quote and ends the quoted
      part; every third quote of a run of quotes is literal.
    """
    args: list[str] = []
    n = len(text)
    i = 0
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return args
    out: list[str] = []
    quotes = 0  # 1 while inside a quoted part
    backslashes = 0
    while i < n:
        ch = text[i]
        if ch in " \t" and quotes == 0:
            args.append("".join(out))
            out = []
            backslashes = 0
            while i < n and text[i] in " \t":
                i += 1
            if i >= n:
                return args
            continue
        if ch == "\\":
            out.append(ch)
            backslashes += 1
            i += 1
            continue
        if ch != '"':
            out.append(ch)
            backslashes = 0
            i += 1
            continue
        # a quote: halve the backslashes before it; an odd one escapes the quote
        del out[len(out) - (backslashes + 1) // 2:]
        if backslashes % 2:
            out.append('"')
        else:
            quotes += 1
        backslashes = 0
        i += 1
        while i < n and text[i] == '"':
            quotes += 1
            if quotes == 3:
                out.append('"')
                quotes = 0
            i += 1
        if quotes == 2:
            quotes = 0
    args.append("".join(out))
    return args


# --------------------------------------------------------------------------- settings


@dataclass(slots=True)
class ProcessSettings:
    executable: str = ""
    arguments: str = ""
    working_directory: str = ""
    require_full_file_name: bool = True
    success_value: int = 0
    fail_task_if_return_code_is_not_success_value: bool = True
    timeout: int = 0
    terminate_after_timeout: bool = True
    standard_input_variable: str = ""
    standard_output_variable: str = ""
    standard_error_variable: str = ""
    window_style: str = "Normal"


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "-1", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise ProcessSetupError(E_SETTINGS, f"{name} must be True or False, not '{value}'")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip() or "0")
    except ValueError:
        raise ProcessSetupError(E_SETTINGS, f"{name} must be a whole number, not '{value}'") \
            from None


def read_settings(ctx: TaskContext, body: Any) -> ProcessSettings:
    """The task's settings: ObjectData attributes, replaced by property expressions."""

    def setting(name: str, default: str) -> Any:
        design = body.get(name) if body is not None else None
        return ctx.property(name, default if design is None else design)

    timeout = _as_int("TimeOut", setting("TimeOut", "0"))
    if timeout < 0:
        raise ProcessSetupError(E_SETTINGS, f"TimeOut must be 0 (no limit) or more seconds, "
                                f"not {timeout}")
    return ProcessSettings(
        executable=str(setting("Executable", "")).strip(),
        arguments=str(setting("Arguments", "")),
        working_directory=str(setting("WorkingDirectory", "")).strip(),
        require_full_file_name=_as_bool("RequireFullFileName",
                                        setting("RequireFullFileName", "True")),
        success_value=_as_int("SuccessValue", setting("SuccessValue", "0")),
        fail_task_if_return_code_is_not_success_value=_as_bool(
            "FailTaskIfReturnCodeIsNotSuccessValue",
            setting("FailTaskIfReturnCodeIsNotSuccessValue", "True")),
        timeout=timeout,
        terminate_after_timeout=_as_bool("TerminateAfterTimeout",
                                         setting("TerminateAfterTimeout", "True")),
        standard_input_variable=str(setting("StandardInputVariable", "")).strip(),
        standard_output_variable=str(setting("StandardOutputVariable", "")).strip(),
        standard_error_variable=str(setting("StandardErrorVariable", "")).strip(),
        window_style=str(setting("WindowStyle", "Normal")),
    )


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def resolve_working_directory(ctx: TaskContext, settings: ProcessSettings) -> str | None:
    if not settings.working_directory:
        return None
    original = _unquote(settings.working_directory)
    mapped = ctx.map_path(original)
    if not os.path.isdir(mapped):
        shown = mapped if mapped == original else f"{mapped} (mapped from {original})"
        raise ProcessSetupError(E_WORKING_DIRECTORY,
                                f"the working directory {shown} does not exist; map Windows "
                                "paths with --path-map")
    return mapped


def resolve_executable(ctx: TaskContext, settings: ProcessSettings, cwd: str | None) -> str:
    """The program's path on this machine, or ProcessSetupError naming what was tried."""
    original = _unquote(settings.executable)
    if not original:
        raise ProcessSetupError(E_SETTINGS, "the Execute Process task has no Executable")
    mapped = ctx.map_path(original)
    shown = mapped if mapped == original else f"{mapped} (mapped from {original})"
    if "/" not in mapped:
        found = shutil.which(mapped)
        if found is None:
            raise ProcessSetupError(E_NOT_FOUND,
                                    f"the executable {shown} was not found on the PATH")
        return found
    path = mapped if os.path.isabs(mapped) else os.path.join(cwd or os.getcwd(), mapped)
    if not os.path.isfile(path):
        raise ProcessSetupError(E_NOT_FOUND, f"the executable {shown} was not found: no file "
                                f"{path}; map Windows paths with --path-map")
    if not os.access(path, os.X_OK):
        raise ProcessSetupError(E_NOT_FOUND, f"the executable {path} cannot be run: it is not "
                                "marked executable")
    return path


def _input_bytes(ctx: TaskContext, name: str) -> bytes | None:
    if not name:
        return None
    try:
        var = ctx.scope.require(name)
        value = ctx.scope.value_of(var)
    except SsisrunError as exc:
        raise ProcessSetupError(E_VARIABLE, f"StandardInputVariable: {exc}") from None
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value).encode("utf-8")


# --------------------------------------------------------------------------- processes


class _ProcessIO:
    """The program's pipes and its exit, watched from the task's own thread: one selector
    over standard input, output and error and, where Linux offers it, a pidfd that becomes
    readable when the program exits (so nothing waits on a timer to see the exit)."""

    def __init__(self, proc: subprocess.Popen[bytes], stdin_data: bytes | None,
                 keep_stderr: bool) -> None:
        self.proc = proc
        self.selector = selectors.DefaultSelector()
        self.output: dict[int, bytearray] = {}
        self.keep_all: dict[int, bool] = {}
        self.stdout_fd = self.stderr_fd = -1
        self._input = memoryview(stdin_data or b"")
        self._input_fd = -1
        self.pidfd: int | None = None
        self._closed = False
        for pipe, keep in ((proc.stdout, True), (proc.stderr, keep_stderr)):
            if pipe is not None:
                fd = pipe.fileno()
                self.output[fd] = bytearray()
                self.keep_all[fd] = keep
                self.selector.register(fd, selectors.EVENT_READ)
        if proc.stdout is not None:
            self.stdout_fd = proc.stdout.fileno()
        if proc.stderr is not None:
            self.stderr_fd = proc.stderr.fileno()
        if proc.stdin is not None:
            self._input_fd = proc.stdin.fileno()
            os.set_blocking(self._input_fd, False)
            if self._input:
                self.selector.register(self._input_fd, selectors.EVENT_WRITE)
            else:
                self._close_input()
        if hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(proc.pid)
                self.selector.register(self.pidfd, selectors.EVENT_READ)
            except OSError:
                self.pidfd = None

    @property
    def pipes_open(self) -> bool:
        return any(key.fd != self.pidfd for key in self.selector.get_map().values())

    def pump(self, timeout: float) -> bool:
        """Move data for at most ``timeout`` seconds; True once the program has exited."""
        if self.pidfd is None and not self.pipes_open:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        for key, _ in self.selector.select(timeout):
            fd = key.fd
            if fd == self.pidfd:
                self.selector.unregister(fd)
            elif fd == self._input_fd:
                self._write()
            else:
                self._read(fd)
        return self.proc.poll() is not None

    def drain(self, limit: float) -> None:
        """Read what is left in the pipes once the program has exited (at most ``limit``
        seconds: a process outside its group may hold a pipe open)."""
        deadline = time.monotonic() + limit
        while self.pipes_open:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in self.selector.select(left):
                if key.fd == self._input_fd:
                    self._close_input()
                elif key.fd != self.pidfd:
                    self._read(key.fd)

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.selector.unregister(fd)
            return
        data = self.output[fd]
        data += chunk
        if not self.keep_all[fd] and len(data) > 4 * STDERR_QUOTE:
            del data[:-4 * STDERR_QUOTE]

    def _write(self) -> None:
        try:
            written = os.write(self._input_fd, self._input[:65536])
        except BlockingIOError:
            return
        except OSError:  # the program closed its input early: that is its choice
            self._close_input()
            return
        self._input = self._input[written:]
        if not self._input:
            self._close_input()

    def _close_input(self) -> None:
        if self._input_fd < 0:
            return
        if not self._closed and self._input_fd in self.selector.get_map():
            self.selector.unregister(self._input_fd)
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def text(self, fd: int) -> str:
        return bytes(self.output.get(fd, b"")).decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._closed:
            return
        self._close_input()
        self._closed = True
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _group_has_members(pgid: int) -> bool:
    """True while a live (not zombie) process belongs to the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process_group(proc: subprocess.Popen[bytes], grace: float | None = None) -> None:
    """SIGTERM the program's whole process group, then SIGKILL what is left after the
    grace period; reaps the program."""
    grace = KILL_GRACE if grace is None else grace
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    while time.monotonic() < deadline and _group_has_members(pgid):
        time.sleep(0.02)
    if proc.poll() is None or _group_has_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
    proc.wait()


_left_running: list[subprocess.Popen[bytes]] = []
_left_lock = threading.Lock()


def _leave_running(proc: subprocess.Popen[bytes]) -> None:
    """A program past its timeout with TerminateAfterTimeout False: it goes on, and is
    stopped when ssisrun exits."""
    with _left_lock:
        if not _left_running:
            atexit.register(_stop_left_running)
        _left_running.append(proc)
    threading.Thread(target=proc.wait, name="ssisrun process reaper", daemon=True).start()


def _stop_left_running() -> None:
    with _left_lock:
        procs = list(_left_running)
        _left_running.clear()
    for proc in procs:
        if proc.poll() is None or _group_has_members(proc.pid):
            stop_process_group(proc, grace=0.5)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


# --------------------------------------------------------------------------- the task


class ExecuteProcessTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        try:
            settings = read_settings(ctx, object_data_body(self.host))
            cwd = resolve_working_directory(ctx, settings)
            program = resolve_executable(ctx, settings, cwd)
            stdin_data = _input_bytes(ctx, settings.standard_input_variable)
            for attr in ("standard_output_variable", "standard_error_variable"):
                name = getattr(settings, attr)
                if name and ctx.scope.find(name) is None:
                    label = "StandardOutputVariable" if "output" in attr else \
                        "StandardErrorVariable"
                    raise ProcessSetupError(E_VARIABLE, f"{label}: the variable {name} does "
                                            f"not exist in the scope of {self.host.path}")
        except ProcessSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        argv = [program, *split_arguments(settings.arguments)]
        return self._run(ctx, settings, argv, cwd, stdin_data)

    def _run(self, ctx: TaskContext, settings: ProcessSettings, argv: list[str],
             cwd: str | None, stdin_data: bytes | None) -> TaskOutcome:
        where = f'In executing "{argv[0]}" "{settings.arguments}" at "{cwd or os.getcwd()}"'
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, start_new_session=True,
                stdin=subprocess.DEVNULL if stdin_data is None else subprocess.PIPE,
                stdout=subprocess.PIPE if settings.standard_output_variable
                else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            ctx.error(E_NOT_FOUND, f"{where}: the process could not start: "
                      f"{exc.strerror or exc}")
            return TaskOutcome(ExecResult.Failure)
        io = _ProcessIO(proc, stdin_data, keep_stderr=bool(settings.standard_error_variable))
        try:
            return self._wait(ctx, settings, argv, where, proc, io)
        finally:
            io.close()

    def _wait(self, ctx: TaskContext, settings: ProcessSettings, argv: list[str], where: str,
              proc: subprocess.Popen[bytes], io: _ProcessIO) -> TaskOutcome:
        deadline = time.monotonic() + settings.timeout if settings.timeout > 0 else None
        while not io.pump(POLL_INTERVAL if deadline is None else
                          max(0.0, min(POLL_INTERVAL, deadline - time.monotonic()))):
            if ctx.cancelled.is_set():
                stop_process_group(proc)
                ctx.information(0, f"the run was cancelled: process {proc.pid} "
                                f"({argv[0]}) was stopped")
                return TaskOutcome(ExecResult.Canceled)
            if deadline is not None and time.monotonic() >= deadline:
                if settings.terminate_after_timeout:
                    stop_process_group(proc)
                    ctx.error(E_TIMEOUT, f"{where}: the process did not finish within "
                              f"{settings.timeout} seconds (TimeOut) and was stopped")
                else:
                    io.close()
                    _leave_running(proc)
                    ctx.error(E_TIMEOUT, f"{where}: the process did not finish within "
                              f"{settings.timeout} seconds (TimeOut); it is left running "
                              f"(process {proc.pid}, TerminateAfterTimeout is False)")
                return TaskOutcome(ExecResult.Failure)
        proc.wait()
        if _group_has_members(proc.pid):
            ctx.warning(W_STRAGGLERS, f"{where}: the process exited but left processes "
                        "running in its process group; they were stopped")
            stop_process_group(proc)
        io.drain(limit=1.0)

        code = _exit_code(proc.returncode)
        result = ExecResult.Success
        for name, fd in ((settings.standard_output_variable, io.stdout_fd),
                         (settings.standard_error_variable, io.stderr_fd)):
            if name:
                try:
                    ctx.scope.set(name, io.text(fd))
                except SsisrunError as exc:
                    ctx.error(E_VARIABLE, str(exc))
                    result = ExecResult.Failure
        if code != settings.success_value:
            how = f" (killed by {_signal_name(proc.returncode)})" if proc.returncode < 0 else ""
            message = (f'{where}: the process exit code was "{code}"{how} while the expected '
                       f'was "{settings.success_value}".')
            tail = io.text(io.stderr_fd).strip()[-STDERR_QUOTE:]
            if tail:
                message += f" Standard error: {tail}"
            if settings.fail_task_if_return_code_is_not_success_value:
                ctx.error(E_EXIT_CODE, message)
                result = ExecResult.Failure
            else:
                ctx.information(0, message)
        return TaskOutcome(result, code)
