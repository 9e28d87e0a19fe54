"""Scale Out beyond one machine: worker agents on any machine, through procrastinate on a
PostgreSQL catalog (spec scale-out-engine.md, "Mapping").

* An execution is a catalog row plus one procrastinate job of the task
  ``ssisrun.run_execution`` in the queue ``any`` (use any worker) or ``agent.ID`` (one of
  its allowed workers): :func:`defer`.
* ``ssisrun worker --agent-id ID`` (:func:`run_worker`) listens on ``agent.ID`` and ``any``,
  records itself in the catalog's worker agents and heartbeats there; each job takes its
  execution in the catalog (SSISDB's pull_task) and runs one attempt as ``ssisrun exec``
  in its own process group that dies with the worker, as local workers do.
* Retries: the catalog decides from the execution's own retry count (the execution goes
  back to pending); :class:`ExecutionRetry`, procrastinate's retry strategy, reads that and
  sends the job to the queue of another online worker that may run it.
* Workers that went silent: :func:`sweep` (run by ssisrun itself: by every worker, by the
  submitting command while it waits, and by catalog commands) takes procrastinate's
  stalled jobs (``get_stalled_jobs``), ends their attempt "ended unexpectedly" in the
  catalog, and retries them (``retry_job``) while attempts remain; otherwise the execution
  stays ended unexpectedly (6) and the job fails. Jobs waiting in the queue of a silent
  agent move to another one.
* Progress: the catalog's rows and messages, announced with ``pg_notify`` on the channel
  ``ssisrun_catalog``; the waiting command also polls (:class:`ClusterScaleOut`).
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, BaseRetryStrategy, PsycopgConnector, RetryDecision
from procrastinate import jobs as pjobs
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ssisrun.catalog import Catalog, Execution, Status
from ssisrun.catalog.schema import FINAL
from ssisrun.catalog.store import NOTIFY_CHANNEL
from ssisrun.scaleout.runner import AttemptResult, Runner, SubprocessRunner
from ssisrun.scaleout.scheduler import ExecutionState, report_attempt, watch_stop

TASK_NAME = "ssisrun.run_execution"
ANY_QUEUE = "any"
#: seconds without a procrastinate heartbeat after which a worker's jobs are stalled
SILENT_AFTER = 15.0
_SWEEP_LOCK = 7243002


def agent_queue(agent_id: str) -> str:
    return f"agent.{agent_id}"


def conninfo(catalog: Catalog) -> str:
    """The catalog's URL as libpq takes it (without SQLAlchemy's driver name)."""
    return make_url(catalog.url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def _execution_of(job: pjobs.Job) -> int:
    value = job.task_kwargs["execution_id"]
    assert isinstance(value, int | str)
    return int(value)


class RetryExecution(Exception):  # noqa: N818 - procrastinate's vocabulary
    """An attempt ended and the catalog put the execution back to pending (or this worker
    may not take it): procrastinate retries the job, preferably on another worker."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"retry, not on {agent_id}")
        self.agent_id = agent_id


def online_workers(catalog: Catalog, within: float = SILENT_AFTER) -> list[str]:
    """Enabled worker agents heard of in the last ``within`` seconds."""
    limit = datetime.now(UTC) - timedelta(seconds=within)
    return [w.worker_agent_id for w in catalog.workers()
            if w.is_enabled and w.last_online_time is not None and w.last_online_time >= limit]


def choose_queue(catalog: Catalog, execution: Execution, avoid: str | None = None) -> str:
    """Where an execution's job goes: ``any`` for a first attempt that may use any worker;
    otherwise the queue of an online allowed worker other than ``avoid`` (SSIS prefers no
    worker; ssisrun prefers another one for a retry)."""
    online = online_workers(catalog)
    if execution.use_any_worker:
        if avoid is None:
            return ANY_QUEUE
        others = sorted(set(online) - {avoid})
        return agent_queue(others[execution.execution_id % len(others)]) if others \
            else ANY_QUEUE
    allowed = catalog.allowed_workers(execution.execution_id)
    candidates = ([a for a in allowed if a in online and a != avoid]
                  or [a for a in allowed if a in online] or allowed)
    return agent_queue(candidates[execution.execution_id % len(candidates)])


class ExecutionRetry(BaseRetryStrategy):
    """Retry a job while its execution's own retry count allows (the catalog has put it
    back to pending), after ``delay`` seconds, in the queue of another worker."""

    def __init__(self, catalog: Catalog, delay: float = 0.2) -> None:
        self.catalog = catalog
        self.delay = delay

    def get_retry_decision(self, *, exception: BaseException,
                           job: pjobs.Job) -> RetryDecision | None:
        if not isinstance(exception, RetryExecution):
            return None
        execution = self.catalog.execution(_execution_of(job))
        if execution.status != Status.pending or \
                execution.executed_count > execution.retry_count:
            return None
        return RetryDecision(
            retry_at=datetime.now(UTC) + timedelta(seconds=self.delay),
            queue=choose_queue(self.catalog, execution, avoid=exception.agent_id))


@dataclass
class WorkerAgent:
    """What a worker process's jobs need: its catalog, its agent id and its runner."""

    catalog: Catalog
    agent_id: str
    runner: Runner
    stop_poll: float = 0.5


def make_app(catalog: Catalog, agent: WorkerAgent | None = None) -> App:
    """procrastinate's app on the catalog's database, with the ``ssisrun.run_execution``
    task (run by ``agent`` in a worker; a submitter only defers it by name)."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(catalog),
                                         kwargs={"application_name": "ssisrun"}))

    @app.task(name=TASK_NAME, retry=ExecutionRetry(catalog))
    def run_execution(execution_id: int) -> None:
        if agent is None:
            raise RuntimeError("ssisrun.run_execution runs only in 'ssisrun worker'")
        run_job(agent, execution_id)

    return app


def run_job(agent: WorkerAgent, execution_id: int) -> None:
    """One job: take the execution (the next attempt) and run it; raise
    :class:`RetryExecution` when the catalog wants another attempt."""
    catalog = agent.catalog
    claim = catalog.claim(agent.agent_id, only=[execution_id], grace=0)
    if claim is None:
        if catalog.execution(execution_id).status == Status.pending:
            raise RetryExecution(agent.agent_id)  # disabled here, or not allowed here
        return  # canceled meanwhile, or already taken
    stop, finished = threading.Event(), threading.Event()
    watcher = threading.Thread(target=watch_stop, daemon=True,
                               args=(catalog, claim, stop, finished, agent.stop_poll))
    watcher.start()
    try:
        result = agent.runner.run(claim, stop, lambda pid: catalog.set_process(
            claim.execution_id, claim.attempt, pid))
    except Exception as exc:  # noqa: BLE001 - a runner bug must not lose the execution
        result = AttemptResult(None, output=f"the worker could not run it: {exc!r}")
    finally:
        finished.set()
        watcher.join()
    if report_attempt(catalog, claim, result, stop.is_set()) is Status.pending:
        raise RetryExecution(agent.agent_id)


async def defer(app: App, catalog: Catalog, execution_ids: Sequence[int]) -> None:
    """A job for each started (pending) execution, in its queue."""
    for execution in catalog.executions(list(execution_ids)):
        if execution.status != Status.pending:
            continue
        task = app.configure_task(name=TASK_NAME, queue=choose_queue(catalog, execution))
        await task.defer_async(execution_id=execution.execution_id)


# ------------------------------------------------------------------ the sweep


async def sweep(app: App, catalog: Catalog, silent_after: float = SILENT_AFTER) -> list[int]:
    """Retry or fail the executions of workers that went silent; move waiting jobs out of
    silent agents' queues. One sweeper at a time (an advisory lock); returns the ids of
    the executions whose attempt it ended."""
    ended: list[int] = []
    with catalog.engine.connect() as lock:
        if not lock.execute(text(f"SELECT pg_try_advisory_lock({_SWEEP_LOCK})")).scalar():
            return ended
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                task_name=TASK_NAME, seconds_since_heartbeat=silent_after)
            for job in stalled:
                execution_id = _execution_of(job)
                if await _sweep_job(app, catalog, job, execution_id):
                    ended.append(execution_id)
            await _reroute(catalog, silent_after)
        finally:
            lock.execute(text(f"SELECT pg_advisory_unlock({_SWEEP_LOCK})"))
            lock.commit()
    return ended


async def _sweep_job(app: App, catalog: Catalog, job: pjobs.Job, execution_id: int) -> bool:
    execution = await asyncio.to_thread(catalog.execution, execution_id)
    worker = execution.worker_agent_id
    new: Status | None = Status(execution.status)
    ended = False
    if execution.status in (Status.running, Status.stopping):
        new = await asyncio.to_thread(
            catalog.finish_attempt, execution_id, execution.executed_count,
            Status.ended_unexpectedly,
            message=f"Worker agent {worker} went silent (no heartbeat for "
                    f"{SILENT_AFTER:.0f} s or more) while it ran attempt "
                    f"{execution.executed_count}: the attempt ended unexpectedly.")
        ended = True
    try:
        if new is Status.pending:
            execution = await asyncio.to_thread(catalog.execution, execution_id)
            queue = await asyncio.to_thread(choose_queue, catalog, execution, worker)
            await app.job_manager.retry_job(job, queue=queue)
        else:
            await app.job_manager.finish_job(job, status=pjobs.Status.FAILED, delete_job=False)
    except Exception:  # noqa: BLE001 - another sweeper or the worker moved it meanwhile
        pass
    return ended


async def _reroute(catalog: Catalog, silent_after: float) -> None:
    """Jobs waiting in the queue of an agent that went silent go to another queue."""
    online = set(await asyncio.to_thread(online_workers, catalog, silent_after))
    with catalog.engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT id, queue_name, (args->>'execution_id')::int FROM procrastinate_jobs "
            "WHERE status = 'todo' AND task_name = :task AND queue_name LIKE 'agent.%'"),
            {"task": TASK_NAME}).all()
    for job_id, queue, execution_id in rows:
        agent = str(queue)[len("agent."):]
        if agent in online:
            continue
        execution = await asyncio.to_thread(catalog.execution, int(execution_id))
        target = await asyncio.to_thread(choose_queue, catalog, execution, agent)
        if target != queue:
            with catalog.engine.begin() as conn:
                conn.execute(text("UPDATE procrastinate_jobs SET queue_name = :q "
                                  "WHERE id = :id AND status = 'todo'"),
                             {"q": target, "id": job_id})


# ------------------------------------------------------------------ the worker


@dataclass
class WorkerOptions:
    agent_id: str
    concurrency: int = 1
    heartbeat: float = 5.0
    silent_after: float = SILENT_AFTER
    poll: float = 1.0
    on_line: Callable[[str], None] | None = None
    workdir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_worker(catalog: Catalog, options: WorkerOptions) -> None:
    """``ssisrun worker``: run this worker agent until SIGINT or SIGTERM."""
    catalog.role = "ssis_cluster_worker"
    catalog.register_worker(options.agent_id, platform.node(),
                            max_task_count=options.concurrency)
    with tempfile.TemporaryDirectory(prefix="ssisrun-worker-") as workdir:
        agent = WorkerAgent(catalog, options.agent_id,
                            SubprocessRunner(options.workdir or workdir))
        asyncio.run(_worker_main(catalog, agent, options))


async def _worker_main(catalog: Catalog, agent: WorkerAgent, options: WorkerOptions) -> None:
    app = make_app(catalog, agent)
    say = options.on_line or (lambda line: None)
    async with app.open_async():
        beat = asyncio.create_task(_heartbeat(app, catalog, options))
        say(f"Worker agent {options.agent_id} on {platform.node()}: queues "
            f"{agent_queue(options.agent_id)}, {ANY_QUEUE}; catalog {catalog.display_url}")
        try:
            await app.run_worker_async(
                queues=[agent_queue(options.agent_id), ANY_QUEUE], name=options.agent_id,
                concurrency=options.concurrency, wait=True, listen_notify=True,
                fetch_job_polling_interval=options.poll,
                update_heartbeat_interval=options.heartbeat,
                stalled_worker_timeout=options.silent_after, install_signal_handlers=True)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        say(f"Worker agent {options.agent_id} stopped.")


async def _heartbeat(app: App, catalog: Catalog, options: WorkerOptions) -> None:
    """The catalog's heartbeat (``worker_agents.last_online_time``) and the sweep."""
    while True:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(catalog.heartbeat, options.agent_id)
        with contextlib.suppress(Exception):
            await sweep(app, catalog, options.silent_after)
        await asyncio.sleep(options.heartbeat)


# ------------------------------------------------------------------ the submitting side


class ClusterScaleOut:
    """Sends started executions to the worker agents' queues and waits for them, showing
    their progress; sweeps silent workers meanwhile."""

    def __init__(self, catalog: Catalog, *,
                 on_change: Callable[[ExecutionState], None] | None = None,
                 poll: float = 1.0, sweep_interval: float = 2.0,
                 silent_after: float = SILENT_AFTER) -> None:
        self.catalog = catalog
        self.on_change = on_change
        self.poll = poll
        self.sweep_interval = sweep_interval
        self.silent_after = silent_after
        self.states: dict[int, ExecutionState] = {}

    def run(self, execution_ids: Sequence[int]) -> list[Execution]:
        ids = list(execution_ids)
        try:
            asyncio.run(self._run(ids))
        except KeyboardInterrupt:
            for execution in self.catalog.executions(ids):
                if execution.status in (Status.pending, Status.running):
                    with contextlib.suppress(Exception):
                        self.catalog.stop(execution.execution_id)
            raise
        return self.catalog.executions(ids)

    async def _run(self, ids: list[int]) -> None:
        import psycopg

        app = make_app(self.catalog)
        async with app.open_async():
            await defer(app, self.catalog, ids)
            listen = await psycopg.AsyncConnection.connect(conninfo(self.catalog),
                                                          autocommit=True)
            try:
                await listen.execute(f"LISTEN {NOTIFY_CHANNEL}")
                last_sweep = 0.0
                while True:
                    executions = await asyncio.to_thread(self.catalog.executions, ids)
                    self._observe(executions)
                    if all(e.status in FINAL for e in executions):
                        return
                    if time.monotonic() - last_sweep >= self.sweep_interval:
                        await sweep(app, self.catalog, self.silent_after)
                        last_sweep = time.monotonic()
                    async for _ in listen.notifies(timeout=self.poll):
                        break  # something changed; polling covers a lost notification
            finally:
                await listen.close()

    def _observe(self, executions: Sequence[Execution]) -> None:
        for e in executions:
            state = self.states.get(e.execution_id)
            status = Status(e.status)
            if state is None:
                state = ExecutionState(e.execution_id, e.package_name, status,
                                       max_attempts=e.retry_count + 1)
                self.states[e.execution_id] = state
            elif (state.status, state.attempt, state.worker) == (
                    status, e.executed_count, e.worker_agent_id):
                continue
            state.status, state.attempt, state.worker = status, e.executed_count, \
                e.worker_agent_id
            if status is Status.running and state.started is None:
                state.started = time.monotonic()
            if status in FINAL and state.finished is None:
                state.finished = time.monotonic()
            state.changed = datetime.now()
            if self.on_change is not None:
                self.on_change(state)


__all__ = ["ANY_QUEUE", "TASK_NAME", "ClusterScaleOut", "ExecutionRetry", "WorkerOptions",
           "agent_queue", "choose_queue", "make_app", "run_worker", "sweep"]
