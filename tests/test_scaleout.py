"""Local Scale Out: many packages on several worker agents, retries on another worker,
pinned executions, killed package and scheduler processes, and 500 executions accounted
for in the catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from scaleout_util import expr_package, sh_package, write

from ssisrun.catalog import Catalog, Status
from ssisrun.scaleout import InProcessRunner, LocalScaleOut, PackageSpec, submit
from ssisrun.scaleout.runner import die_with_parent


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield cat
    cat.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_twenty_packages_on_three_workers(catalog: Catalog, tmp_path: Path) -> None:
    ids = [submit(catalog, PackageSpec(str(write(tmp_path, f"P{n}", expr_package(f"P{n}")))))
           for n in range(20)]
    finished = LocalScaleOut(catalog, workers=3).run(ids)
    assert [e.status for e in finished] == [Status.succeeded] * 20
    assert {e.worker_agent_id for e in finished} == {"local-1", "local-2", "local-3"}
    assert all(e.executed_count == 1 and len(catalog.statistics(e.execution_id)) == 2
               for e in finished)


def test_a_failing_package_is_retried_on_another_worker_until_it_succeeds(
        catalog: Catalog, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = (f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
              f"test $n -ge 3")
    pkg = write(tmp_path, "Flaky", sh_package(script, "Flaky"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=2))
    [execution] = LocalScaleOut(catalog, workers=3).run([execution_id])
    assert execution.status == Status.succeeded and execution.executed_count == 3
    attempts = catalog.attempts(execution_id)
    assert [a.status for a in attempts] == [Status.failed, Status.failed, Status.succeeded]
    workers = [a.worker_agent_id for a in attempts]
    assert workers[0] != workers[1] and workers[1] != workers[2]
    assert {s.attempt for s in catalog.statistics(execution_id)} == {1, 2, 3}
    assert counter.read_text().strip() == "3"


def test_retries_run_out(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "Bad", sh_package("exit 1", "Bad"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=1))
    [execution] = LocalScaleOut(catalog, workers=2).run([execution_id])
    assert execution.status == Status.failed and execution.executed_count == 2


def test_pinned_executions_run_only_on_their_worker(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    scale = LocalScaleOut(catalog, workers=3, runner=InProcessRunner())
    scale.register()
    pinned = [submit(catalog, PackageSpec(str(pkg), workers=["local-2"])) for _ in range(6)]
    free = [submit(catalog, PackageSpec(str(pkg))) for _ in range(6)]
    finished = scale.run(pinned + free)
    assert all(e.status == Status.succeeded for e in finished)
    assert {e.worker_agent_id for e in finished[:6]} == {"local-2"}


def test_an_execution_no_running_worker_may_take_fails_at_once(catalog: Catalog,
                                                              tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    catalog.register_worker("elsewhere")
    execution_id = submit(catalog, PackageSpec(str(pkg), workers=["elsewhere"]))
    [execution] = LocalScaleOut(catalog, workers=2).run([execution_id])
    assert execution.status == Status.failed
    assert "No allowed worker agent" in catalog.messages(execution_id)[-1].message


def test_a_killed_package_process_is_retried_and_never_runs_twice_at_once(
        catalog: Catalog, tmp_path: Path) -> None:
    log = tmp_path / "log"
    script = (f"echo start $$ $(date +%s.%N) >> {log}; sleep 1.5; "
              f"echo end $$ $(date +%s.%N) >> {log}")
    pkg = write(tmp_path, "Slow", sh_package(script, "Slow"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=1))
    killed: list[int] = []

    def killer() -> None:
        wait_until(lambda: log.exists() and catalog.execution(execution_id).process_id)
        pid = catalog.execution(execution_id).process_id
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer)
    thread.start()
    [execution] = LocalScaleOut(catalog, workers=2).run([execution_id])
    thread.join()
    time.sleep(1.8)  # long enough for a surviving first attempt to write its end line
    assert execution.status == Status.succeeded and execution.executed_count == 2
    attempts = catalog.attempts(execution_id)
    assert [a.status for a in attempts] == [Status.ended_unexpectedly, Status.succeeded]
    assert attempts[0].process_id == killed[0]
    lines = [line.split() for line in log.read_text().splitlines()]
    first, second = lines[0][1], lines[1][1]
    assert [(kind, pid) for kind, pid, _ in lines] == [("start", first), ("start", second),
                                                       ("end", second)]
    assert any("killed by signal SIGKILL" in m.message for m in catalog.messages(execution_id))


def test_package_processes_die_with_their_scheduler(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    marker = tmp_path / "started"
    pkg = write(tmp_path, "Slow", sh_package(f"echo $$ > {marker}; exec sleep 30", "Slow"))
    catalog = Catalog(f"sqlite:///{db}")
    execution_id = submit(catalog, PackageSpec(str(pkg)), start=False)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "ssisrun", "catalog", "--catalog", f"sqlite:///{db}", "start",
         str(execution_id), "--workers", "1", "--plain"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: marker.exists() and marker.read_text().strip(), 20)
        package_pid = catalog.execution(execution_id).process_id
        assert package_pid is not None and alive(package_pid)
        scheduler.kill()
        scheduler.wait()
        wait_until(lambda: not alive(package_pid), 5)
        assert catalog.sweep() == [execution_id]
        assert catalog.execution(execution_id).status == Status.ended_unexpectedly
    finally:
        scheduler.kill()
        scheduler.wait()
        if marker.exists() and marker.read_text().strip():
            sleeper = int(marker.read_text())
            if alive(sleeper):  # the Execute Process Task's program, in its own session
                os.kill(sleeper, signal.SIGKILL)
        catalog.close()


def test_die_with_parent_works_from_a_thread(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG set in a preexec_fn of a child started from a worker thread: the
    child dies when that thread ends."""
    pids: list[int] = []

    def worker() -> None:
        proc = subprocess.Popen(["sleep", "30"], preexec_fn=die_with_parent(os.getpid()),
                                start_new_session=True)
        pids.append(proc.pid)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    try:
        wait_until(lambda: not alive(pids[0]), 5)
    finally:
        if alive(pids[0]):
            os.kill(pids[0], signal.SIGKILL)
    try:
        os.waitpid(pids[0], 0)
    except ChildProcessError:
        pass


def test_five_hundred_executions_are_all_accounted_for(catalog: Catalog,
                                                      tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    ids = [submit(catalog, PackageSpec(str(pkg))) for _ in range(500)]
    finished = LocalScaleOut(catalog, workers=3, runner=InProcessRunner()).run(ids)
    assert sorted(e.execution_id for e in finished) == sorted(ids)
    assert all(e.status == Status.succeeded and e.executed_count == 1 for e in finished)
    assert sum(len(catalog.attempts(i)) for i in ids) == 500
    assert {len(catalog.statistics(i)) for i in ids} == {2}
