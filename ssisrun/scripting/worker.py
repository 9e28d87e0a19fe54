"""The persistent script host: one ``mono`` process per package run, spoken to in JSON lines.

Scripts never run in ssisrun's own process: Mono can crash natively (a missing assembly), a
script can call ``Environment.Exit`` or loop forever. The host starts at the first C# Script
Task of a run and stays for the rest of it (loaded assemblies and their static fields too, as
in SSIS's one process). A crash or a cancelled run ends it; the next task starts a new one.
The host runs in a scratch folder, so that crash dumps (``mono_crash.*.json``) land there.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ssisrun.errors import SsisrunError
from ssisrun.scripting.compiler import HOST_EXE, build_standin, require_mono


class WorkerError(SsisrunError):
    """The script host died, answered something that is not JSON, or was stopped."""


class ScriptWorker:
    """One ``mono ssisrun-scripthost.exe`` process."""

    def __init__(self) -> None:
        _, mono = require_mono()
        standin = build_standin()
        self.scratch = Path(tempfile.mkdtemp(prefix="ssisrun-scripthost-"))
        self._stderr = open(self.scratch / "stderr.txt", "w+b")  # noqa: SIM115
        env = dict(os.environ)
        env.setdefault("MONO_ENV_OPTIONS", "")
        env["MONO_CRASH_REPORT_FOLDER"] = str(self.scratch)
        self.process = subprocess.Popen(
            [mono, str(standin / HOST_EXE)], cwd=self.scratch, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True,
        )
        self._buffer = b""
        self.lock = threading.Lock()
        #: checked out by a running task
        self.busy = False
        hello = self._read_line(None, timeout=60)
        if hello is None or not json.loads(hello).get("ready"):
            self.close()
            raise WorkerError(f"the script host did not start: {self.stderr_tail()}")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            self._stderr.flush()
            text = (self.scratch / "stderr.txt").read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""
        return text.strip() or f"exit code {self.process.poll()}"

    def _read_line(self, cancelled: threading.Event | None,
                   timeout: float | None = None) -> bytes | None:
        """The next line from the host (None at its end); stops the host when cancelled."""
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        waited = 0.0
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                waited += 0.2
                if cancelled is not None and cancelled.is_set():
                    self.close()
                    raise WorkerError("the run was cancelled: the script was stopped")
                if timeout is not None and waited >= timeout:
                    self.close()
                    raise WorkerError(f"the script host did not answer within {timeout:.0f} s")
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def run(self, request: dict[str, Any], on_event: Callable[[dict[str, Any]], None],
            cancelled: threading.Event | None = None) -> dict[str, Any]:
        """Send one task; ``on_event`` gets each event as it happens; returns the result."""
        with self.lock:
            stdin = self.process.stdin
            assert stdin is not None
            try:
                stdin.write(json.dumps(request).encode("utf-8") + b"\n")
                stdin.flush()
            except (BrokenPipeError, OSError):
                raise WorkerError(f"the script host has stopped: {self.stderr_tail()}") from None
            while True:
                line = self._read_line(cancelled)
                if line is None:
                    self.process.wait()
                    raise WorkerError(f"the script host stopped while the script ran: "
                                      f"{self.stderr_tail()}")
                try:
                    message = json.loads(line)
                except ValueError:
                    self.close()
                    raise WorkerError("the script host answered something that is not JSON: "
                                      f"{line[:200]!r}") from None
                if "event" in message:
                    on_event(message["event"])
                elif "done" in message:
                    done: dict[str, Any] = message["done"]
                    return done

    def close(self) -> None:
        proc = self.process
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, 9)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._stderr.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


_pools: weakref.WeakKeyDictionary[Any, list[ScriptWorker]] = weakref.WeakKeyDictionary()
_all: weakref.WeakSet[ScriptWorker] = weakref.WeakSet()
_registry_lock = threading.Lock()


def _close_pool(pool: list[ScriptWorker]) -> None:
    for worker in pool:
        worker.close()


def checkout(run: Any) -> ScriptWorker:
    """A free script host of one package run (``run``: the Engine), started when none is
    free: usually one per run; more while scripts run in parallel branches, or while an
    event handler's script runs during the script that raised the event."""
    with _registry_lock:
        pool = _pools.get(run)
        if pool is None:
            pool = _pools[run] = []
            weakref.finalize(run, _close_pool, pool)
        pool[:] = [w for w in pool if w.alive]
        for worker in pool:
            if not worker.busy:
                worker.busy = True
                return worker
    worker = ScriptWorker()
    worker.busy = True
    with _registry_lock:
        pool.append(worker)
        _all.add(worker)
    return worker


def checkin(worker: ScriptWorker) -> None:
    """Give a worker back after its task (a crashed or stopped one is closed)."""
    if not worker.alive:
        worker.close()
    worker.busy = False


@atexit.register
def _close_all() -> None:
    for worker in list(_all):
        worker.close()
