"""Local Scale Out: N worker agents (``local-1`` ... ``local-N``, recorded in the catalog)
that pull pending executions from the catalog, run each attempt through a
:class:`~ssisrun.scaleout.runner.Runner`, report it, and retry a failed execution up to
its retry count, preferably on another worker.

Each worker agent is a thread of this process that lives as long as the run, so the
package processes it starts die with it (``PR_SET_PDEATHSIG``). If this whole process is
killed, the catalog's sweep (:meth:`~ssisrun.catalog.Catalog.sweep`, run by every catalog
command) marks its executions "ended unexpectedly".
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ssisrun.catalog import Catalog, Claim, Execution, NewMessage, Status
from ssisrun.catalog.schema import FINAL
from ssisrun.scaleout.runner import AttemptResult, InProcessRunner, Runner, SubprocessRunner, ingest


@dataclass(slots=True)
class ExecutionState:
    """What the progress display shows of one execution."""

    execution_id: int
    package_name: str
    status: Status
    attempt: int = 0
    max_attempts: int = 1
    worker: str | None = None
    started: float | None = None
    finished: float | None = None
    changed: datetime | None = None

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started


def local_agent_ids(count: int) -> list[str]:
    return [f"local-{n}" for n in range(1, count + 1)]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class LocalScaleOut:
    """Runs executions of the catalog on local worker agents until each has ended."""

    def __init__(self, catalog: Catalog, *, workers: int | None = None,
                 runner: Runner | None = None,
                 on_change: Callable[[ExecutionState], None] | None = None,
                 poll: float = 0.05, grace: float = 0.5, stop_poll: float = 0.25) -> None:
        self.catalog = catalog
        self.agent_ids = local_agent_ids(workers or default_workers())
        self._workdir: str | None = None
        self.runner = runner
        self.on_change = on_change
        self.poll = poll
        self.grace = grace
        self.stop_poll = stop_poll
        self.states: dict[int, ExecutionState] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._done = threading.Event()
        self._stops: dict[int, threading.Event] = {}

    def register(self) -> None:
        """Record the local worker agents in the catalog (enabled unless disabled there)."""
        for agent in self.agent_ids:
            self.catalog.register_worker(agent, platform.node(),
                                         display_name=f"local worker {agent[6:]}")

    def run(self, execution_ids: Sequence[int]) -> list[Execution]:
        """Run these (started, pending) executions; return them once all have ended."""
        ids = list(execution_ids)
        self.register()
        self.catalog.take_ownership(ids)
        if self.runner is None:
            self._workdir = tempfile.mkdtemp(prefix="ssisrun-scaleout-")
            self.runner = SubprocessRunner(self._workdir)
        for execution in self.catalog.executions(ids):
            state = ExecutionState(execution.execution_id, execution.package_name,
                                   Status(execution.status),
                                   max_attempts=execution.retry_count + 1)
            self.states[execution.execution_id] = state
            self._check_runnable(execution)
        for state in self.states.values():
            self._emit(state)
        threads = [threading.Thread(target=self._worker, args=(agent, ids),
                                    name=f"ssisrun-{agent}", daemon=True)
                   for agent in self.agent_ids]
        try:
            for thread in threads:
                thread.start()
            while not self._all_final(ids):
                with self._wake:
                    self._wake.wait(0.2)
        except KeyboardInterrupt:
            self.stop_all(ids)
            while not self._all_final(ids):
                time.sleep(0.05)
            raise
        finally:
            self._done.set()
            with self._wake:
                self._wake.notify_all()
            for thread in threads:
                thread.join()
            if self._workdir:
                shutil.rmtree(self._workdir, ignore_errors=True)
        return self.catalog.executions(ids)

    def stop_all(self, ids: Sequence[int]) -> None:
        for execution in self.catalog.executions(ids):
            if execution.status in (Status.pending, Status.running):
                try:
                    self.catalog.stop(execution.execution_id)
                except Exception:  # noqa: BLE001 - it ended meanwhile
                    pass
        for event in list(self._stops.values()):
            event.set()

    # ------------------------------------------------------------ internals

    def _check_runnable(self, execution: Execution) -> None:
        """A pending execution that none of these workers may run fails at once (SSIS
        would leave it pending until an allowed worker comes online)."""
        if execution.status != Status.pending:
            return
        enabled = {w.worker_agent_id for w in self.catalog.workers() if w.is_enabled}
        mine = enabled & set(self.agent_ids)
        allowed = set(self.catalog.allowed_workers(execution.execution_id)) \
            if not execution.use_any_worker else mine
        if not allowed & mine:
            wanted = ", ".join(sorted(allowed)) or "any"
            self.catalog.fail_unstarted(
                execution.execution_id,
                f"No allowed worker agent is running and enabled (allowed: {wanted}; "
                f"running here: {', '.join(self.agent_ids)}).")
            self._update(execution.execution_id, status=Status.failed)

    def _all_final(self, ids: Sequence[int]) -> bool:
        executions = self.catalog.executions(ids)
        for execution in executions:
            state = self.states.get(execution.execution_id)
            if state is not None and state.status != execution.status and \
                    execution.status in FINAL:
                self._update(execution.execution_id, status=Status(execution.status))
        return all(e.status in FINAL for e in executions)

    def _update(self, execution_id: int, **values: object) -> None:
        with self._lock:
            state = self.states[execution_id]
            for key, value in values.items():
                setattr(state, key, value)
            if state.status in FINAL and state.finished is None:
                state.finished = time.monotonic()
        self._emit(state)

    def _emit(self, state: ExecutionState) -> None:
        state.changed = datetime.now()
        if self.on_change is not None:
            self.on_change(state)

    def _worker(self, agent: str, ids: list[int]) -> None:
        last_beat = time.monotonic()
        while not self._done.is_set():
            if time.monotonic() - last_beat > 2.0:
                self.catalog.heartbeat(agent)
                last_beat = time.monotonic()
            claim = self.catalog.claim(agent, only=ids, grace=self.grace)
            if claim is None:
                with self._wake:
                    self._wake.wait(self.poll)
                continue
            self._attempt(claim)
            with self._wake:
                self._wake.notify_all()

    def _attempt(self, claim: Claim) -> None:
        assert self.runner is not None
        stop = threading.Event()
        self._stops[claim.execution_id] = stop
        state = self.states[claim.execution_id]
        self._update(claim.execution_id, status=Status.running, attempt=claim.attempt,
                     worker=claim.worker_agent_id,
                     started=state.started or time.monotonic())
        finished = threading.Event()
        watcher = threading.Thread(target=self._watch_stop, args=(claim, stop, finished),
                                   daemon=True)
        watcher.start()
        try:
            result = self.runner.run(claim, stop, lambda pid: self.catalog.set_process(
                claim.execution_id, claim.attempt, pid))
        except Exception as exc:  # noqa: BLE001 - a runner bug must not lose the execution
            result = AttemptResult(None, output=f"the worker could not run it: {exc!r}")
        finally:
            finished.set()
            watcher.join()
            self._stops.pop(claim.execution_id, None)
        new = self._report(claim, result, stop.is_set())
        if new is not None:
            self._update(claim.execution_id, status=new)

    def _watch_stop(self, claim: Claim, stop: threading.Event,
                    finished: threading.Event) -> None:
        watch_stop(self.catalog, claim, stop, finished, self.stop_poll, self._done)

    def _report(self, claim: Claim, result: AttemptResult, stopped: bool) -> Status | None:
        return report_attempt(self.catalog, claim, result, stopped)

def watch_stop(catalog: Catalog, claim: Claim, stop: threading.Event,
               finished: threading.Event, poll: float,
               done: threading.Event | None = None) -> None:
    """Turn a stop requested in the catalog (status stopping) into stopping the run."""
    while not finished.wait(poll):
        if done is not None and done.is_set():
            return
        try:
            status = catalog.execution(claim.execution_id).status
        except Exception:  # noqa: BLE001 - the catalog is busy; look again
            continue
        if status == Status.stopping:
            stop.set()
            return


def report_attempt(catalog: Catalog, claim: Claim, result: AttemptResult,
                   stopped: bool) -> Status | None:
    """Write an attempt's messages, statistics and outcome into the catalog; returns the
    execution's new status (pending when it will be retried), None for a late report."""
    messages, stats, package_result = ingest(result.entries)
    code = result.returncode
    retryable = True
    note = None
    if stopped:
        outcome = Status.canceled
    elif code == 0:
        outcome = Status.completed if package_result == 2 else Status.succeeded
    elif code == 1:
        outcome = Status.failed
        note = f"Attempt {claim.attempt} failed on {claim.worker_agent_id}."
    elif code in (4, 5, 6):
        outcome, retryable = Status.failed, False
        note = f"ssisrun exec could not run the package (exit code {code}): " \
               f"{_last_line(result.output)}"
    elif code is not None and code < 0:
        outcome = Status.ended_unexpectedly
        note = f"The package process (pid {result.pid}) was killed by signal " \
               f"{_signal_name(-code)}."
    else:
        outcome = Status.ended_unexpectedly
        note = f"The package process ended unexpectedly (exit code {code}). " \
               f"{_last_line(result.output)}".strip()
    if code not in (0, 1) and result.output and outcome is not Status.canceled:
        messages.append(NewMessage(result.output[-4000:], message_source_type=20))
    return catalog.finish_attempt(claim.execution_id, claim.attempt, outcome,
                                  exit_code=code, message=note, retryable=retryable,
                                  messages=messages, statistics=stats)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


__all__ = ["ExecutionState", "InProcessRunner", "LocalScaleOut", "SubprocessRunner",
           "default_workers", "local_agent_ids", "report_attempt", "watch_stop"]
