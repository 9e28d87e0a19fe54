"""How a worker agent runs one attempt of an execution.

:class:`SubprocessRunner` (the default) runs ``ssisrun exec --plain --log-json FILE`` as its
own process, in its own process group (``start_new_session``), made to die with the worker
thread that started it (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child, before ``exec``;
Linux sends it when the *thread* that forked the child ends, and worker threads live as long
as their worker). When the package process is killed, whatever it started (Execute Process
Task programs run in their own groups) is found by the marker in its environment and killed
too, so a retry never runs beside the remains of the attempt before it.

:class:`InProcessRunner` runs the package in the worker's own thread; it exists for many
trivial packages (tests, benchmarks), where starting a Python process per package costs
more than the package.

Both turn the run's log entries (SSIS's log columns) into catalog messages and executable
statistics: :func:`ingest`.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ssisrun.catalog import Claim, MessageSourceType, MessageType, NewMessage, NewStatistic

#: SSIS log entry name -> catalog message type (spec 2.9); others are Custom (200)
EVENT_TYPES: dict[str, MessageType] = {
    "OnError": MessageType.error, "OnWarning": MessageType.warning,
    "OnInformation": MessageType.information, "OnPreValidate": MessageType.pre_validate,
    "OnPostValidate": MessageType.post_validate, "OnPreExecute": MessageType.pre_execute,
    "OnPostExecute": MessageType.post_execute, "OnProgress": MessageType.progress,
    "OnVariableValueChanged": MessageType.variable_value_changed,
    "Diagnostic": MessageType.diagnostic, "DiagnosticEx": MessageType.diagnostic_ex,
    "OnQueryCancel": MessageType.query_cancel, "OnTaskFailed": MessageType.task_failed,
    "OnExecStatusChanged": MessageType.status_change,
}

#: the environment variable that marks every process of one attempt
MARKER = "SSISRUN_SCALEOUT_ATTEMPT"


@dataclass(slots=True)
class LogEntry:
    """One log entry of a run (the columns of ``--log-json`` that the catalog keeps)."""

    event: str
    source: str
    path: str
    time: datetime
    datacode: int
    message: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogEntry:
        return cls(str(data.get("event", "")), str(data.get("source", "")),
                   str(data.get("sourcepath", "")), _utc(str(data.get("starttime", ""))),
                   int(data.get("datacode") or 0), str(data.get("message", "")))


def _utc(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return moment.astimezone(UTC)  # naive stamps are the machine's local time


@dataclass
class AttemptResult:
    """How one attempt's process ended."""

    #: the process's exit code (negative: killed by that signal), None if it never ran
    returncode: int | None
    entries: list[LogEntry] = field(default_factory=list)
    output: str = ""
    pid: int | None = None
    stopped: bool = False


class Runner(Protocol):
    def run(self, claim: Claim, stop: threading.Event,
            on_start: Callable[[int], object]) -> AttemptResult: ...


def ingest(entries: Iterable[LogEntry]) -> tuple[list[NewMessage], list[NewStatistic], int | None]:
    """Messages, executable statistics (from each OnPreExecute to its ExecutableFinished) and
    the package's result (PackageEnd's data code) of a run's log entries."""
    messages: list[NewMessage] = []
    stats: list[NewStatistic] = []
    started: dict[str, list[datetime]] = defaultdict(list)
    result = None
    for e in entries:
        kind = EVENT_TYPES.get(e.event, MessageType.custom)
        source = MessageSourceType.package if e.path in ("\\Package", "") \
            else MessageSourceType.task
        messages.append(NewMessage(e.message, kind, source, e.time, e.event, e.source, e.path,
                                   e.datacode or None))
        if e.event == "OnPreExecute":
            started[e.path].append(e.time)
        elif e.event == "ExecutableFinished":
            begin = started[e.path].pop() if started[e.path] else e.time
            stats.append(NewStatistic(e.source, e.path, begin, e.time, e.datacode))
        elif e.event == "PackageEnd":
            result = e.datacode
    return messages, stats, result


def checkpoint_path(execution_id: int) -> str:
    """Where an execution's checkpoint file goes when its run file does not name one."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base) / "ssisrun" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(folder / f"execution-{execution_id}.checkpoint.xml")


def exec_arguments(claim: Claim) -> list[str]:
    """The ``ssisrun exec`` options that give the package this execution's values."""
    args: list[str] = []
    prefix = {20: "$Project::", 30: "$Package::"}
    for kind, name, value in claim.parameters:
        args += ["--param", f"{prefix.get(kind, '')}{name}={value}"]
    options = claim.options
    for key, value in (options.get("parameters") or {}).items():
        args += ["--param", f"{key}={value}"]
    for key, value in (options.get("connections") or {}).items():
        args += ["--conn", f"{key}={value}"]
    for key, value in (options.get("variables") or {}).items():
        args += ["--var", f"{key}={value}"]
    for item in options.get("set") or []:
        args += ["--set", str(item)]
    if options.get("checkpointing"):
        args += ["--checkpointing", "on", "--checkpoint-file",
                 options.get("checkpoint_file") or checkpoint_path(claim.execution_id)]
    return args


# ----------------------------------------------------------------- process handling

_PR_SET_PDEATHSIG = 1
_prctl: Any = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _prctl = _libc.prctl
        _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
        _prctl.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        _prctl = None


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread that started it
    ends (Linux), and exit at once if its parent is already gone. Everything it calls is
    resolved beforehand, so the child only makes two system calls between fork and exec."""
    if _prctl is None:
        return None
    prctl, getppid, exit_ = _prctl, os.getppid, os._exit
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if getppid() != parent_pid:
            exit_(137)

    return preexec


def kill_marked(marker: str) -> list[int]:
    """Kill (SIGKILL) every process whose environment carries ``MARKER=marker``: what an
    attempt's package process left behind. Returns their pids."""
    needle = f"{MARKER}={marker}".encode()
    killed: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return killed
    me = os.getpid()
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            try:
                os.kill(int(name), signal.SIGKILL)
                killed.append(int(name))
            except OSError:
                pass
    return killed


class SubprocessRunner:
    """Runs each attempt as ``ssisrun exec`` in its own process group."""

    def __init__(self, workdir: str | Path, *, python: str = sys.executable,
                 stop_timeout: float = 5.0, poll: float = 0.05) -> None:
        self.workdir = Path(workdir)
        self.python = python
        self.stop_timeout = stop_timeout
        self.poll = poll

    def command(self, claim: Claim, log: Path) -> list[str]:
        cmd = [self.python, "-m", "ssisrun", "exec", "--plain", "--reporting", "E",
               "--log-json", str(log)]
        if claim.project_path:
            cmd += ["--project", claim.project_path, "--package", claim.package_path]
        else:
            cmd.append(claim.package_path)
        return cmd + exec_arguments(claim)

    def run(self, claim: Claim, stop: threading.Event,
            on_start: Callable[[int], object]) -> AttemptResult:
        stem = f"e{claim.execution_id}-a{claim.attempt}"
        log = self.workdir / f"{stem}.jsonl"
        out_path = self.workdir / f"{stem}.out"
        marker = f"{os.getpid()}.{claim.execution_id}.{claim.attempt}"
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in
                    (claim.options.get("environment") or {}).items()})
        env[MARKER] = marker
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(out_path, "wb") as out:
            try:
                proc = subprocess.Popen(
                    self.command(claim, log), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                    preexec_fn=die_with_parent(os.getpid()), close_fds=True)
            except OSError as exc:
                return AttemptResult(None, output=f"cannot start ssisrun exec: {exc}")
            on_start(proc.pid)
            stopped = False
            deadline = None
            exited = _ExitWaiter(proc, self.poll)
            while True:
                if exited():
                    code = proc.wait()
                    exited.close()
                    break
                if stop.is_set() and not stopped:
                    stopped = True
                    deadline = time.monotonic() + self.stop_timeout
                    _signal_group(proc.pid, signal.SIGTERM)
                elif deadline is not None and time.monotonic() > deadline:
                    _signal_group(proc.pid, signal.SIGKILL)
                    deadline = None
        if code < 0 or stopped:
            _signal_group(proc.pid, signal.SIGKILL)
            kill_marked(marker)
        return AttemptResult(code, _read_log(log), _tail(out_path), proc.pid, stopped)


class _ExitWaiter:
    """Waits up to ``poll`` seconds for a process to exit and tells whether it has. On
    Linux it waits on a pidfd, so it returns the moment the process exits
    (``Popen.wait(timeout)`` sleeps in steps of up to 50 ms, which a package of half a
    second feels); elsewhere it falls back to ``Popen.wait(timeout)``."""

    def __init__(self, proc: subprocess.Popen[bytes], poll: float) -> None:
        import select

        self.proc = proc
        self.poll = poll
        self.fd: int | None = None
        self.poller: Any = None
        try:
            self.fd = os.pidfd_open(proc.pid)
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)
        except (AttributeError, OSError):
            self.fd = None

    def __call__(self) -> bool:
        if self.fd is not None:
            return bool(self.poller.poll(self.poll * 1000))
        try:
            self.proc.wait(timeout=self.poll)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def _read_log(path: Path) -> list[LogEntry]:
    """The complete lines of a ``--log-json`` file (a killed run may leave half a line)."""
    entries: list[LogEntry] = []
    try:
        data = path.read_bytes()
    except OSError:
        return entries
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entries.append(LogEntry.from_json(json.loads(line)))
        except (ValueError, TypeError):
            continue
    return entries


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class InProcessRunner:
    """Runs each attempt in the worker's own thread (for many trivial packages)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, claim: Claim, stop: threading.Event,
            on_start: Callable[[int], object]) -> AttemptResult:
        from ssisrun.dtsx import load_package
        from ssisrun.errors import SsisrunError
        from ssisrun.model import ExecResult
        from ssisrun.runtime import EventBus, RunRequest
        from ssisrun.runtime.engine import Engine

        entries: list[LogEntry] = []

        def collect(event: Any) -> None:
            name = {"PackageStarted": "PackageStart", "PackageFinished": "PackageEnd"}.get(
                event.kind.value, event.kind.value)
            code = event.code or int(event.data.get("result", 0) or 0)
            entries.append(LogEntry(name, event.source_name, event.source_path,
                                    event.time.astimezone(UTC), code, event.description))

        options = claim.options
        request = RunRequest(
            parameters={f"{ {20: '$Project::', 30: '$Package::'}.get(k, '')}{n}": v
                        for k, n, v in claim.parameters} | dict(options.get("parameters") or {}),
            connections=dict(options.get("connections") or {}),
            variables=dict(options.get("variables") or {}))
        if options.get("checkpointing"):
            request.save_checkpoints, request.checkpoint_usage = True, 1
            request.checkpoint_file = options.get("checkpoint_file") or checkpoint_path(
                claim.execution_id)
        on_start(os.getpid())
        try:
            package = load_package(claim.package_path)
            bus = EventBus()
            bus.subscribe(collect)
            engine = Engine(package, request, bus)
            if stop.is_set():
                engine.cancel_event.set()
            result = engine.run()
        except SsisrunError as exc:
            return AttemptResult(int(exc.exit_code), entries, str(exc), os.getpid())
        code = {ExecResult.Success: 0, ExecResult.Completion: 0, ExecResult.Failure: 1,
                ExecResult.Canceled: 3}[result.result]
        return AttemptResult(code, entries, "", os.getpid(), stop.is_set())
