"""Crash test: ``ssisrun exec --checkpointing on`` is killed with SIGKILL at random moments
and restarted until a run succeeds.

Across all kills: the checkpoint file is never torn and always mode 0600, no executable
recorded as completed ever runs again, what is recorded as completed really ran, at the
end every executable ran and every Foreach item was processed, and the checkpoint file
and its temporary files are gone.

The package (20 executables) has a sequential chain, parallel branches
(MaxConcurrentExecutables 4), a Sequence with children and a Foreach Loop over items; every
task is an Execute Process task that appends its token to a log file and sleeps a little.
Issue 5 also asks for a transacted container over SQLite: transactions are not implemented
yet (issue 7), so that part is left out until they are.

The tasks run in their own sessions (the Execute Process task starts them so), so killing
ssisrun's process group does not kill them: after each kill the test waits until every
process of the killed run has exited (they carry a marker in their environment) before it
looks at the log and the checkpoint file. Nothing here asserts on timing.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from pathlib import Path

import pytest
from builders import Constraint, Exe, Var, package

from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult, Executable, normalize_guid
from ssisrun.runtime.checkpoint import read_checkpoint

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find the killed run's processes")

SEEDS = (11, 22, 33, 44, 55)
#: kills per seed; after that the run is left to finish
KILLS_PER_SEED = 8
#: when the kill comes, counted from the start of ssisrun (seconds)
KILL_AFTER = (0.05, 0.6)
ITEMS = ("i1", "i2", "i3", "i4")
SLEEP = "0.05"
#: generous upper bounds, only to turn a hang into a failure (never reached in a good run)
RUN_LIMIT = 60.0
ORPHAN_LIMIT = 10.0
MARKER = "SSISRUN_CRASH_TEST"


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


def crash_package(log: Path) -> str:
    """20 executables::

        S1 -> S2 -> S3 -> S4 -> {A1 -> A2, B1 -> B2, C1 -> C2, D1 -> D2, Seq, Each} -> E1 -> E2
        Seq: Q1 -> Q2, Q3          Each: Work (over i1..i4)

    (18 tasks, the Sequence and the Foreach Loop; Work is the loop's body.)
    """
    seq = Exe("Seq", "seq", props={"FailPackageOnFailure": True},
              children=[task("Q1", log), task("Q2", log), task("Q3", log)],
              constraints=[Constraint("Q1", "Q2", "q12")])
    chain = ["S1", "S2", "S3", "S4"]
    branches = [("A1", "A2"), ("B1", "B2"), ("C1", "C2"), ("D1", "D2")]
    fan_out = [b[0] for b in branches] + ["Seq", "Each"]
    fan_in = [b[-1] for b in branches] + ["Seq", "Each"]
    executables = [task(n, log) for n in chain]
    executables += [task(n, log) for b in branches for n in b]
    executables += [seq, foreach(log), task("E1", log), task("E2", log)]
    constraints = [Constraint(a, b, f"{a}{b}") for a, b in pairwise(chain)]
    constraints += [Constraint("S4", n, f"S4{n}") for n in fan_out]
    constraints += [Constraint(a, b, f"{a}{b}") for a, b in branches]
    constraints += [Constraint(n, "E1", f"{n}e1", logical_and=True) for n in fan_in]
    constraints.append(Constraint("E1", "E2", "e12"))
    return package(8, executables, props={"MaxConcurrentExecutables": 4},
                   variables=[Var("Item")], constraints=constraints)


def tokens_of(exe: Executable) -> set[str]:
    """The tokens that ``exe`` (a task, or a container through its tasks) appends."""
    tokens: set[str] = set()
    for node in exe.walk():
        if node.name == "Work":
            tokens.update(f"F-{item}" for item in ITEMS)
        elif not node.is_container:
            tokens.add(node.name)
    return tokens


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


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def crash_and_restart(tmp: Path, rng: random.Random, budget: int, stats: Stats) -> int:
    """Kill and restart until a run succeeds (after ``budget`` kills, the run is left to
    finish); check the invariants; return the number of kills."""
    log = tmp / "log"
    pkg_file = tmp / "Crash.dtsx"
    pkg_file.write_text(crash_package(log))
    ckp = tmp / "Crash.ckp"
    pkg = load_package(pkg_file)
    by_id = {normalize_guid(e.dtsid): e for e in pkg.walk() if e.dtsid and e is not pkg}
    tasks = [e for e in by_id.values() if not e.is_container]
    assert len(by_id) == 20
    all_tokens = set().union(*(tokens_of(e) for e in tasks))
    seed = tmp.name
    kills: list[Kill] = []
    killed: set[int] = set()
    previous: set[str] = set()
    argv = [sys.executable, "-m", "ssisrun", "exec", "--plain", str(pkg_file),
            "--checkpointing", "on", "--checkpoint-file", str(ckp)]
    started = time.monotonic()
    finished_but_killed = False
    while not finished_but_killed:
        assert time.monotonic() - started < RUN_LIMIT, f"seed {seed}: no run succeeded"
        marker = uuid.uuid4().hex
        kill_at = rng.uniform(*KILL_AFTER) if len(kills) < budget else None
        proc = subprocess.Popen(argv, env={**os.environ, MARKER: marker}, cwd=tmp,
                                start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        stats.runs += 1
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
        if ckp.exists():
            stats.files_seen += 1
            assert stat.S_IMODE(os.stat(ckp).st_mode) == 0o600
            saved = read_checkpoint(ckp)
            completed = {normalize_guid(c) for c in saved.completed}
            assert completed <= set(by_id), "the file names executables the package lacks"
        seen = lines(log)
        for guid in completed:  # what is recorded as completed did run
            missing = tokens_of(by_id[guid]) - set(seen)
            assert not missing, f"{by_id[guid].path} is recorded as completed but never ran"
        if previous and not ckp.exists():
            # Killed after the package succeeded and deleted the file, before ssisrun
            # exited: the work is done (a next run would be a new run).
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
    # A run killed between creating its temporary file and renaming it over the checkpoint
    # leaves that file behind, and no later run removes it: a BUG, pinned by
    # test_a_temporary_file_left_by_a_killed_run_is_removed below. Any other is a failure.
    left = {p.name for p in tmp.iterdir() if p.name.endswith(".tmp")}
    stale = {f".{ckp.name}.{pid}.tmp" for pid in killed}
    assert left <= stale, f"seed {seed}: temporary files of runs that were not killed: {left}"
    stats.stale_tmp += len(left)
    rest = {p.name for p in tmp.iterdir()} - left
    if finished_but_killed:  # the lock file is removed after the checkpoint file
        rest.discard(f"{ckp.name}.lock")
    assert rest == {"Crash.dtsx", "log"}, f"seed {seed}: left beside the checkpoint: {rest}"
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
    assert stats.kills >= 30
    with capsys.disabled():
        print(f"\ncrash test: {len(SEEDS)} seeds, {rounds} rounds, {stats.runs} runs, "
              f"{stats.kills} kills ({stats.killed_after_success} after the package "
              f"succeeded), checkpoint file present after {stats.files_seen} kills, "
              f"{stats.stale_tmp} stale temporary files, executables recorded at the kills: "
              f"{stats.recorded}, {time.monotonic() - started:.1f} s")


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
