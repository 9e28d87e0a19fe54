"""Crash test: ``ssisrun exec --checkpointing on --exactly-once`` is killed with SIGKILL at
random moments and restarted until a run succeeds.

Across all kills: the checkpoint file is never torn and always mode 0600, no executable
recorded as completed ever runs again, what is recorded as completed really ran, at the
end every executable ran and every Foreach item was processed, and the checkpoint file
and its temporary files are gone.

The package (20 executables) has a sequential chain, parallel branches
(MaxConcurrentExecutables 4), a Sequence with children, a Foreach Loop over items and a
transacted container over SQLite (a Sequence with TransactionOption=Required whose three
Execute SQL tasks each insert one row after a slow query). Every other task is an Execute
Process task that appends its token to a log file and sleeps a little. For the transacted
container, after every kill the SQLite table holds all of its rows or none of them (the
killed run's hot journal is rolled back by the test's own connection), a container recorded
as completed in the checkpoint file has its rows, and at the end every row is there exactly
once: a kill between the commit and the checkpoint write must not make the restart commit
again (``--exactly-once``).

A kill comes at a random moment after ssisrun takes the checkpoint lock (its startup before
that is not worth a kill); while the transacted container has not committed, a third of
the kills come instead at a random moment after its first row is written, so that they
land inside the transaction or just after its commit.

The tasks run in their own sessions (the Execute Process task starts them so), so killing
ssisrun's process group does not kill them: after each kill the test waits until every
process of the killed run has exited (they carry a marker in their environment) before it
looks at the log and the checkpoint file. Nothing here asserts on timing.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from pathlib import Path

import pytest
from builders import Constraint, Exe, Var, package
from sqltest import sql_task
from test_transactions import REQUIRED, sqlite_cm

from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult, Executable, normalize_guid
from ssisrun.runtime.checkpoint import read_checkpoint
from ssisrun.runtime.transactions import MARKER_TABLE

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find the killed run's processes")

SEEDS = (11, 22, 33, 44, 55)
#: kills per seed; after that the run is left to finish
KILLS_PER_SEED = 5
#: when the kill comes, counted from the moment ssisrun holds the checkpoint lock (seconds);
#: its startup before that (imports, reading the package) is not worth a kill
KILL_AFTER = (0.0, 0.5)
#: while the transacted container has not committed, this share of the kills comes instead
#: this long after its first row is written (the SQLite journal appears): inside the
#: transaction, or just after its commit
TX_KILLS = 1 / 3
TX_KILL_AFTER = (0.0, 0.4)
ITEMS = ("i1", "i2", "i3", "i4")
SLEEP = "0.05"
#: generous upper bounds, only to turn a hang into a failure (never reached in a good run)
RUN_LIMIT = 60.0
ORPHAN_LIMIT = 10.0
MARKER = "SSISRUN_CRASH_TEST"
#: the transacted container's tasks, each inserting its own name into TABLE
TX_TASKS = ("T1", "T2", "T3")
TABLE = "tx"
#: rows of the slow query each of them runs before its insert (a few tens of milliseconds)
TX_SPIN = 100_000


# --------------------------------------------------------------------------- the package


def _process(name: str, arguments: str = "", expression: str | None = None) -> Exe:
    data = f'<ExecuteProcessData Executable="/bin/sh" Arguments="{escape(arguments)}" />'
    return Exe(name, "Microsoft.ExecuteProcess", props={"FailPackageOnFailure": True},
               object_data=data,
               expressions={"Arguments": expression} if expression is not None else {})


def task(name: str, log: Path) -> Exe:
    """Appends its own name to ``log``, then sleeps a little."""
    return _process(name, f"-c \"echo {name} >> '{log}'; sleep {SLEEP}\"")


def foreach(log: Path) -> Exe:
    """A Foreach Loop over ITEMS whose body appends ``F-<item>``."""
    items = "".join(f'<FEIEItem><FEIEItemValue Type="8" Value="{v}"/></FEIEItem>'
                    for v in ITEMS)
    enum = ('<DTS:ForEachEnumerator DTS:CreationName="Microsoft.ForEachItemEnumerator" '
            'DTS:DTSID="{77777777-0000-0000-0000-000000000001}" DTS:ObjectName="e">'
            f"<DTS:ObjectData><FEIEItems>{items}</FEIEItems></DTS:ObjectData>"
            "</DTS:ForEachEnumerator><DTS:ForEachVariableMappings>"
            '<DTS:ForEachVariableMapping DTS:CreationName="" '
            'DTS:DTSID="{77777777-0000-0000-0000-000000000002}" DTS:ObjectName="m" '
            'DTS:ValueIndex="0" DTS:VariableName="User::Item"/></DTS:ForEachVariableMappings>')
    body = _process("Work", expression=(
        f'"-c \\"echo F-" + @[User::Item] + " >> \'{log}\'; sleep {SLEEP}\\""'))
    return Exe("Each", "foreach", props={"FailPackageOnFailure": True}, extra=enum,
               children=[body])


def tx_task(name: str) -> Exe:
    """An Execute SQL task that runs a slow query, then inserts its own name (one
    statement, so the transaction is open for a while and holds rows of earlier tasks)."""
    spin = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            f"WHERE x < {TX_SPIN}) SELECT count(*) AS n FROM c")
    return sql_task(name, f"INSERT INTO {TABLE} (v) SELECT '{name}' FROM ({spin}) WHERE n > 0")


def transacted() -> Exe:
    """Tx: T1 -> T2 -> T3, TransactionOption=Required (atomic for checkpoints)."""
    return Exe("Tx", "seq", props={**REQUIRED, "FailPackageOnFailure": True},
               children=[tx_task(n) for n in TX_TASKS],
               constraints=[Constraint(a, b, f"{a}{b}".lower()) for a, b in pairwise(TX_TASKS)])


def crash_package(log: Path, db: Path) -> str:
    """20 executables::

        {S1 -> S2 -> S3 -> S4 -> {A1 -> A2, B1 -> B2, Seq, Each}, Tx} -> E1 -> E2
        Seq: Q1 -> Q2, Q3          Each: Work (over i1..i4)          Tx: T1 -> T2 -> T3

    (15 tasks, the Sequence, the Foreach Loop and the transacted Sequence; Work is the
    loop's body; T1..T3 are Execute SQL tasks on the SQLite file ``db``.) Tx starts with
    the run, beside the chain, so that every restart until it commits runs it from the
    start of the kill window (its first task also imports SQLAlchemy, which takes a while).
    """
    seq = Exe("Seq", "seq", props={"FailPackageOnFailure": True},
              children=[task("Q1", log), task("Q2", log), task("Q3", log)],
              constraints=[Constraint("Q1", "Q2", "q12")])
    chain = ["S1", "S2", "S3", "S4"]
    branches = [("A1", "A2"), ("B1", "B2")]
    fan_out = [b[0] for b in branches] + ["Seq", "Each"]
    fan_in = [b[-1] for b in branches] + ["Seq", "Each", "Tx"]
    executables = [task(n, log) for n in chain]
    executables += [task(n, log) for b in branches for n in b]
    executables += [seq, foreach(log), transacted(), task("E1", log), task("E2", log)]
    constraints = [Constraint(a, b, f"{a}{b}") for a, b in pairwise(chain)]
    constraints += [Constraint("S4", n, f"S4{n}") for n in fan_out]
    constraints += [Constraint(a, b, f"{a}{b}") for a, b in branches]
    constraints += [Constraint(n, "E1", f"{n}e1", logical_and=True) for n in fan_in]
    constraints.append(Constraint("E1", "E2", "e12"))
    return package(8, executables, props={"MaxConcurrentExecutables": 4},
                   variables=[Var("Item")], constraints=constraints,
                   connections=[sqlite_cm("Db", db)])


def tokens_of(exe: Executable) -> set[str]:
    """The tokens that ``exe`` (a task, or a container through its tasks) appends to the
    log (the transacted container's tasks write rows instead)."""
    tokens: set[str] = set()
    for node in exe.walk():
        if node.name == "Work":
            tokens.update(f"F-{item}" for item in ITEMS)
        elif not node.is_container and node.name not in TX_TASKS:
            tokens.add(node.name)
    return tokens


def sqlite_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(f"CREATE TABLE {TABLE} (v TEXT)")
    finally:
        conn.close()
    return path


def rows(db: Path) -> list[str]:
    """The table's rows; opening the file rolls back a killed run's hot journal."""
    conn = sqlite3.connect(db)
    try:
        return sorted(v for (v,) in conn.execute(f"SELECT v FROM {TABLE}"))
    finally:
        conn.close()


def markers(db: Path) -> int | None:
    conn = sqlite3.connect(db)
    try:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        if MARKER_TABLE not in tables:
            return None
        return conn.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()[0]
    finally:
        conn.close()


# --------------------------------------------------------------------------- processes


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != b"Z":
            found.append(int(entry))
    return found


def wait_until_gone(marker: str) -> None:
    """Wait for the killed run's tasks to exit on their own (they sleep 0.05 s)."""
    deadline = time.monotonic() + ORPHAN_LIMIT
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not left, f"processes of a killed run are still running: {left}"


def locked(proc: subprocess.Popen[bytes], lock: Path) -> Callable[[], bool]:
    """Whether ``proc`` holds the checkpoint lock (its lock file names it)."""
    def holds() -> bool:
        try:
            return lock.read_text().startswith(f"process {proc.pid} ")
        except OSError:
            return False
    return holds


def wait_for(proc: subprocess.Popen[bytes], moment: Callable[[], bool]) -> None:
    """Wait until ``moment()`` or until ``proc`` exits."""
    deadline = time.monotonic() + RUN_LIMIT
    while proc.poll() is None and not moment() and time.monotonic() < deadline:
        time.sleep(0.002)


# --------------------------------------------------------------------------- the run


@dataclass
class Kill:
    #: how many tokens the log held once everything of the killed run had exited
    log_length: int
    #: DTSIDs the checkpoint file recorded as completed at that moment
    completed: set[str]


@dataclass
class Stats:
    kills: int = 0
    runs: int = 0
    files_seen: int = 0
    stale_tmp: int = 0
    killed_after_success: int = 0
    recorded: list[int] = field(default_factory=list)
    #: exactly-once markers left in the database after the run succeeded
    markers_left: int = 0
    #: kills aimed at the transaction (TX_KILL_AFTER after its first row)
    tx_aimed: int = 0
    #: kills that left the transaction's rows written but not committed (a hot journal)
    tx_open: int = 0
    #: kills after the marker and the checkpoint write before the commit, before the record
    tx_pending: int = 0
    #: kills after the commit, before the checkpoint recorded the container
    tx_unrecorded: int = 0
    #: kills with the container recorded as completed
    tx_recorded: int = 0


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def crash_and_restart(tmp: Path, rng: random.Random, budget: int, stats: Stats) -> int:
    """Kill and restart until a run succeeds (after ``budget`` kills, the run is left to
    finish); check the invariants; return the number of kills."""
    log = tmp / "log"
    db = sqlite_file(tmp / "work.db")
    journal = tmp / "work.db-journal"
    pkg_file = tmp / "Crash.dtsx"
    pkg_file.write_text(crash_package(log, db))
    ckp = tmp / "Crash.ckp"
    lock = tmp / "Crash.ckp.lock"
    pkg = load_package(pkg_file)
    by_id = {normalize_guid(e.dtsid): e for e in pkg.walk() if e.dtsid and e is not pkg}
    tasks = [e for e in by_id.values() if not e.is_container]
    assert len(by_id) == 20
    tx_id = next(g for g, e in by_id.items() if e.name == "Tx")
    all_rows = sorted(TX_TASKS)
    committed = False
    all_tokens = set().union(*(tokens_of(e) for e in tasks))
    seed = tmp.name
    kills: list[Kill] = []
    killed: set[int] = set()
    previous: set[str] = set()
    argv = [sys.executable, "-m", "ssisrun", "exec", "--plain", str(pkg_file),
            "--checkpointing", "on", "--checkpoint-file", str(ckp), "--exactly-once"]
    started = time.monotonic()
    finished_but_killed = False
    while not finished_but_killed:
        assert time.monotonic() - started < RUN_LIMIT, f"seed {seed}: no run succeeded"
        marker = uuid.uuid4().hex
        kill_at = None
        in_tx = False
        if len(kills) < budget:
            in_tx = not committed and rng.random() < TX_KILLS
            kill_at = rng.uniform(*(TX_KILL_AFTER if in_tx else KILL_AFTER))
        proc = subprocess.Popen(argv, env={**os.environ, MARKER: marker}, cwd=tmp,
                                start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        stats.runs += 1
        if kill_at is not None:
            stats.tx_aimed += in_tx
            wait_for(proc, journal.exists if in_tx else locked(proc, lock))
        try:
            out, _ = proc.communicate(timeout=kill_at if kill_at is not None else RUN_LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        # (d) nothing of the run is left (its tasks, in their own sessions, exit by themselves)
        wait_until_gone(marker)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, (
            f"seed {seed}: run {stats.runs} exited {proc.returncode}:\n{out.decode()}")
        stats.kills += 1
        killed.add(proc.pid)
        # (a) never torn, never readable by others
        completed: set[str] = set()
        pending: set[str] = set()
        if ckp.exists():
            stats.files_seen += 1
            assert stat.S_IMODE(os.stat(ckp).st_mode) == 0o600
            saved = read_checkpoint(ckp)
            completed = {normalize_guid(c) for c in saved.completed}
            pending = {normalize_guid(c) for c in saved.commits}
            assert completed <= set(by_id), "the file names executables the package lacks"
        seen = lines(log)
        for guid in completed:  # what is recorded as completed did run
            missing = tokens_of(by_id[guid]) - set(seen)
            assert not missing, f"{by_id[guid].path} is recorded as completed but never ran"
        # (e) the transaction: all of its rows or none, each once; recorded means committed
        # (the hot journal of a kill inside the transaction is rolled back by rows())
        if journal.exists():
            stats.tx_open += 1
        present = rows(db)
        assert present in ([], all_rows), (
            f"seed {seed}: after kill {len(kills) + 1} the table holds {present}")
        assert present or not committed, f"seed {seed}: committed rows disappeared"
        committed = bool(present)
        if tx_id in completed:
            stats.tx_recorded += 1
            assert present, f"seed {seed}: Tx is recorded as completed, its rows are missing"
        elif present:
            stats.tx_unrecorded += 1
        elif tx_id in pending:
            stats.tx_pending += 1
        this_run = seen[kills[-1].log_length if kills else 0:]
        if not ckp.exists() and (previous or present or "E2" in this_run):
            # Killed after the package succeeded and deleted the file, before ssisrun
            # exited: the work is done (a next run would be a new run). (Once anything is
            # recorded, or Tx committed - its exactly-once write comes first -, or E2 ran,
            # the file exists until the package succeeds.)
            assert all_tokens <= set(seen), f"seed {seed}: the file was deleted too early"
            stats.killed_after_success += 1
            finished_but_killed = True
        else:
            # a completed executable stays recorded until the package succeeds
            assert previous <= completed, (
                f"seed {seed}: forgotten: {[by_id[g].path for g in previous - completed]}")
            previous = completed
        stats.recorded.append(len(completed))
        kills.append(Kill(len(seen), completed))

    final = lines(log)
    # (b) no executable recorded as completed ran again afterwards
    for number, kill in enumerate(kills, 1):
        forbidden = set().union(set(), *(tokens_of(by_id[g]) for g in kill.completed))
        again = sorted(set(final[kill.log_length:]) & forbidden)
        assert not again, (f"seed {seed}: recorded as completed at kill {number}, "
                           f"ran again afterwards: {again}")
    # (c) everything ran; the file and its temporary files are gone
    assert all_tokens <= set(final), f"never ran: {sorted(all_tokens - set(final))}"
    # (f) every row of the transaction once (no second commit after a restart)
    assert rows(db) == all_rows, f"seed {seed}: the table holds {rows(db)}"
    # The run's marker row is gone too, unless the last kill came after the package had
    # succeeded and before its markers were deleted: more than the one marker of this run's
    # one container is a failure.
    left_markers = markers(db)
    assert left_markers in (0, 1), f"seed {seed}: exactly-once markers: {left_markers}"
    stats.markers_left += left_markers or 0
    # A run killed between creating its temporary file and renaming it over the checkpoint
    # leaves that file behind until the next run takes the lock and removes it
    # (test_a_temporary_file_left_by_a_killed_run_is_removed below). Any other is a failure.
    left = {p.name for p in tmp.iterdir() if p.name.endswith(".tmp")}
    stale = {f".{ckp.name}.{pid}.tmp" for pid in killed}
    assert left <= stale, f"seed {seed}: temporary files of runs that were not killed: {left}"
    stats.stale_tmp += len(left)
    rest = {p.name for p in tmp.iterdir()} - left
    if finished_but_killed:  # the lock file is removed after the checkpoint file
        rest.discard(f"{ckp.name}.lock")
    assert rest == {"Crash.dtsx", "log", "work.db"}, (
        f"seed {seed}: left beside the checkpoint: {rest}")
    return len(kills)


def test_sigkill_at_random_moments_never_loses_or_repeats_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = Stats()
    started = time.monotonic()
    rounds = 0
    for seed in SEEDS:
        rng = random.Random(seed)
        kills = 0
        while kills < KILLS_PER_SEED:  # a short restart may succeed before its kill
            rounds += 1
            folder = tmp_path / f"seed{seed}-{rounds}"
            folder.mkdir()
            kills += crash_and_restart(folder, rng, KILLS_PER_SEED - kills, stats)
    assert stats.kills >= len(SEEDS) * KILLS_PER_SEED
    with capsys.disabled():
        print(f"\ncrash test: {len(SEEDS)} seeds, {rounds} rounds, {stats.runs} runs, "
              f"{stats.kills} kills ({stats.killed_after_success} after the package "
              f"succeeded), checkpoint file present after {stats.files_seen} kills, "
              f"{stats.stale_tmp} stale temporary files, executables recorded at the kills: "
              f"{stats.recorded}; transacted container at the kills ({stats.tx_aimed} aimed "
              f"at it): {stats.tx_open} with "
              f"uncommitted rows, {stats.tx_pending} marked but not committed, "
              f"{stats.tx_unrecorded} committed but not recorded, {stats.tx_recorded} "
              f"recorded, {stats.markers_left} markers left at the end; "
              f"{time.monotonic() - started:.1f} s")


# --------------------------------------------------------------------------- found bugs

_KILLED_AT_RENAME = """
import os, signal, sys
from ssisrun.dtsx import load_package
from ssisrun.runtime import RunRequest, run_package

def killed(*args, **kwargs):  # SIGKILL after the temporary file is written, before the rename
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = killed
run_package(load_package(sys.argv[1]), RunRequest(
    save_checkpoints=True, checkpoint_usage=1, checkpoint_file=sys.argv[2]))
"""


def test_a_temporary_file_left_by_a_killed_run_is_removed(tmp_path: Path) -> None:
    log = tmp_path / "log"
    pkg_file = tmp_path / "Two.dtsx"
    pkg_file.write_text(package(8, [task("A", log), task("B", log)],
                                constraints=[Constraint("A", "B", "ab")]))
    ckp = tmp_path / "Two.ckp"
    killed = subprocess.run([sys.executable, "-c", _KILLED_AT_RENAME, str(pkg_file), str(ckp)],
                            capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert lines(log) == ["A"]
    assert [p.name for p in tmp_path.glob(".Two.ckp.*.tmp")], "the kill left no temporary file"
    assert not ckp.exists()

    from ssisrun.runtime import RunRequest, run_package

    request = RunRequest(save_checkpoints=True, checkpoint_usage=1, checkpoint_file=str(ckp))
    assert run_package(load_package(pkg_file), request).result == ExecResult.Success
    assert lines(log) == ["A", "A", "B"]
    assert not ckp.exists()
    assert not list(tmp_path.glob("*.tmp")), "a killed run's temporary file is still there"


def test_the_markers_of_a_restarted_run_are_deleted_when_it_succeeds(tmp_path: Path) -> None:
    from ssisrun.runtime import RunRequest, run_package

    db = sqlite_file(tmp_path / "work.db")
    pkg_file = tmp_path / "Once.dtsx"
    later = sql_task("Later", "INSERT INTO later VALUES (1)")  # no table yet: fails
    later.props["FailPackageOnFailure"] = True
    pkg_file.write_text(package(8, [transacted(), later],
                                constraints=[Constraint("Tx", "Later", "tl")],
                                connections=[sqlite_cm("Db", db)]))
    ckp = tmp_path / "Once.ckp"
    request = RunRequest(save_checkpoints=True, checkpoint_usage=1, checkpoint_file=str(ckp),
                         exactly_once=True)
    assert run_package(load_package(pkg_file), request).result == ExecResult.Failure
    assert rows(db) == sorted(TX_TASKS)
    assert markers(db) == 1
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("CREATE TABLE later (v INTEGER)")
    finally:
        conn.close()
    assert run_package(load_package(pkg_file), request).result == ExecResult.Success
    assert not ckp.exists()
    assert rows(db) == sorted(TX_TASKS)  # Tx did not run again
    assert markers(db) == 0, "the run succeeded and left its exactly-once marker behind"
