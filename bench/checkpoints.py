"""Benchmark checkpoints: what saving them costs per completed executable, beside the floor.

    python bench/checkpoints.py [--n 200] [--repeats 5] [--dir FOLDER]

Runs, in process, a package of N Expression Tasks in a Success chain
(``@[User::N] = @[User::N] + 1``) with checkpoints off and with checkpoints on
(SaveCheckpoints, IfExists, a checkpoint file in FOLDER), in turns, REPEATS times each,
and takes the median of each side (the ratio is also given per round). Every completed
task is one durable write of the checkpoint file, so

    overhead per executable = (time on - time off) / N

is set beside the floor measured in the same run and the same folder: the same N
durable writes without ssisrun (write a new file, fsync it, rename it over the old one,
fsync the folder), each of the size ssisrun's own write had at that step (the file grows
by one ``DTS:Container`` per task). Target: overhead at most 1.5 times the floor.

Each round also runs with checkpoints on and ``os.fsync`` made a no-op: that overhead is
the work ssisrun adds on top of the disk, free of the disk's noise. Then an instrumented
run shows where a checkpoint's time goes: collecting the variables, building the XML, and
the write itself (open, write, fsync, rename, fsync of the folder).

``SSISRUN_CHECKPOINT_KEY`` is removed from the environment: this measures plain files.
The last line is a one-line summary. Nothing here is asserted; tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssisrun.dtsx import load_package_bytes  # noqa: E402
from ssisrun.model import ExecResult  # noqa: E402
from ssisrun.runtime import RunRequest, run_package  # noqa: E402
from ssisrun.runtime import checkpoint as checkpoint_module  # noqa: E402
from ssisrun.runtime import restart as restart_module  # noqa: E402

TARGET = 1.5

# --------------------------------------------------------------------------- the package


def _guid(*parts: object) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper() + "}"


def chain_package(n: int) -> bytes:
    tasks = "".join(
        f'<DTS:Executable DTS:refId="Package\\T{i}" DTS:ExecutableType="Microsoft.ExpressionTask"'
        f' DTS:CreationName="Microsoft.ExpressionTask" DTS:ObjectName="T{i}" '
        f'DTS:DTSID="{_guid("T", i)}"><DTS:Variables/><DTS:ObjectData>'
        '<ExpressionTask Expression="@[User::N] = @[User::N] + 1"/></DTS:ObjectData>'
        "</DTS:Executable>" for i in range(n))
    constraints = "".join(
        f'<DTS:PrecedenceConstraint DTS:refId="Package.PrecedenceConstraints[C{i}]" '
        f'DTS:From="Package\\T{i - 1}" DTS:To="Package\\T{i}" DTS:ObjectName="C{i}" '
        f'DTS:DTSID="{_guid("pc", i)}"/>' for i in range(1, n))
    return (
        '<?xml version="1.0"?>\n<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" '
        'DTS:refId="Package" DTS:ExecutableType="Microsoft.Package" '
        'DTS:CreationName="Microsoft.Package" DTS:ObjectName="Bench" '
        f'DTS:DTSID="{_guid("pkg")}">'
        '<DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>'
        '<DTS:Variables><DTS:Variable DTS:Namespace="User" DTS:ObjectName="N" '
        f'DTS:DTSID="{_guid("var", "N")}"><DTS:VariableValue DTS:DataType="3">0'
        "</DTS:VariableValue></DTS:Variable></DTS:Variables>"
        f"<DTS:Executables>{tasks}</DTS:Executables>"
        f"<DTS:PrecedenceConstraints>{constraints}</DTS:PrecedenceConstraints>"
        "</DTS:Executable>\n").encode()


# --------------------------------------------------------------------------- measures


def run_once(xml: bytes, request: RunRequest | None) -> float:
    """Wall time of one run (the package is loaded before the clock starts)."""
    pkg = load_package_bytes(xml, "bench.dtsx")
    started = time.perf_counter()
    result = run_package(pkg, request)
    elapsed = time.perf_counter() - started
    if result.result != ExecResult.Success:
        raise SystemExit(f"the benchmark package did not succeed: {result.result!r}")
    return elapsed


def durable_write(path: Path, payload: bytes) -> None:
    """The floor: what any crash-safe replace of a file must do."""
    tmp = path.with_name(f".{path.name}.floor.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def floor_once(folder: Path, sizes: list[int]) -> float:
    path = folder / "floor.xml"
    payloads = [b"x" * size for size in sizes]
    started = time.perf_counter()
    for payload in payloads:
        durable_write(path, payload)
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


@contextmanager
def patched(owner: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]
            ) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, wrapper(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def write_sizes(xml: bytes, request: RunRequest) -> list[int]:
    """The size of each checkpoint write in a run (an untimed run)."""
    sizes: list[int] = []

    def wrap(original: Callable[..., bytes]) -> Callable[..., bytes]:
        def serialize(data: Any) -> bytes:
            payload = original(data)
            sizes.append(len(payload))
            return payload
        return serialize

    with patched(checkpoint_module, "serialize", wrap):
        run_once(xml, request)
    return sizes


def breakdown(xml: bytes, request: RunRequest) -> list[tuple[str, float]]:
    """Seconds spent, over one run, in each part of the checkpoint writes."""
    spent: dict[str, float] = {}

    def timed(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - started
            return call
        return wrap

    parts = [
        (restart_module.CheckpointSession, "record", "record"),
        (restart_module.CheckpointSession, "_write", "_write"),
        (checkpoint_module.CheckpointFile, "write", "file"),
        (checkpoint_module, "serialize", "serialize"),
        (os, "fsync", "fsync"),
        (os, "replace", "rename"),
    ]
    with _all_patched([(owner, name, timed(label)) for owner, name, label in parts]):
        total = run_once(xml, request)
    get = spent.get
    return [
        ("collect the variables of every scope", get("_write", 0) - get("file", 0)),
        ("serialize the whole XML", get("serialize", 0)),
        ("open + write + close the new file",
         get("file", 0) - get("serialize", 0) - get("fsync", 0) - get("rename", 0)),
        ("fsync (the file and the folder)", get("fsync", 0)),
        ("rename over the old file", get("rename", 0)),
        ("record(), all of it", get("record", 0)),
        ("the whole run", total),
    ]


@contextmanager
def _all_patched(patches: list[tuple[Any, str, Callable[[Callable[..., Any]],
                                                        Callable[..., Any]]]]
                 ) -> Iterator[None]:
    if not patches:
        yield
        return
    owner, name, wrapper = patches[0]
    with patched(owner, name, wrapper), _all_patched(patches[1:]):
        yield


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="tasks in the chain")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each side")
    parser.add_argument("--dir", help="folder for the checkpoint file (default: a temporary "
                        "folder)")
    args = parser.parse_args()
    os.environ.pop(checkpoint_module.__dict__.get("KEY_ENV", "SSISRUN_CHECKPOINT_KEY"), None)
    n = args.n
    xml = chain_package(n)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        ckp = folder / "bench.checkpoint.xml"
        on = RunRequest(save_checkpoints=True, checkpoint_usage=1, checkpoint_file=str(ckp))
        print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPU(s); {n} Expression "
              f"Tasks in a chain; checkpoint file in {folder}")
        sizes = write_sizes(xml, on)
        run_once(xml, None)  # warm up both sides
        run_once(xml, on)
        offs, ons, floors, ratios, cpus = [], [], [], [], []
        for _ in range(args.repeats):  # in turns, so a busy disk hurts every side alike
            offs.append(run_once(xml, None))
            ons.append(run_once(xml, on))
            floors.append(floor_once(folder, sizes))
            with patched(os, "fsync", lambda _original: lambda _fd: None):
                cpus.append(run_once(xml, on) - offs[-1])
            ratios.append((ons[-1] - offs[-1]) / n / (floors[-1] / len(sizes)))
        parts = breakdown(xml, on)

    off, with_ckp, floor = (statistics.median(x) for x in (offs, ons, floors))
    per_off, per_on = off / n, with_ckp / n
    overhead = (with_ckp - off) / n
    per_floor = floor / len(sizes)
    ratio = overhead / per_floor
    us = 1e6
    print(f"checkpoint writes: {len(sizes)}, {sizes[0]} to {sizes[-1]} bytes "
          f"(mean {statistics.mean(sizes):.0f})")
    print(f"checkpoints off: {per_off * us:8.1f} us per executable "
          f"(median of {args.repeats} runs: {off:.3f} s)")
    print(f"checkpoints on:  {per_on * us:8.1f} us per executable "
          f"(median of {args.repeats} runs: {with_ckp:.3f} s)")
    print(f"overhead (on - off): {overhead * us:8.1f} us per executable")
    print(f"floor (write + fsync + rename + fsync folder, same sizes, same folder): "
          f"{per_floor * us:8.1f} us per write (median of {args.repeats}: {floor:.3f} s "
          f"for {len(sizes)} writes; from {min(floors) / len(sizes) * us:.0f} to "
          f"{max(floors) / len(sizes) * us:.0f} us)")
    print(f"ratio overhead / floor: {ratio:.2f} of the medians; per round "
          f"{', '.join(f'{r:.2f}' for r in ratios)} (target <= {TARGET})")
    print("where a checkpoint's time goes (one instrumented run, per executable):")
    for label, seconds in parts:
        print(f"  {label:<40} {seconds / n * us:8.1f} us")
    cpu = statistics.median(cpus) / n
    print(f"overhead without the fsyncs (on with fsync a no-op - off; the disk's noise left "
          f"out): {cpu * us:.0f} us per executable (median of {args.repeats}) = "
          f"{cpu / per_floor:.2f} x the median floor, {cpu / (min(floors) / len(sizes)):.2f} x "
          "the quietest floor")
    met = "met" if ratio <= TARGET else "missed"
    print(f"summary: {n} tasks, off {per_off * us:.0f} us, on {per_on * us:.0f} us, overhead "
          f"{overhead * us:.0f} us per executable, floor {per_floor * us:.0f} us per write, "
          f"ratio {ratio:.2f} (target <= {TARGET}: {met})")

if __name__ == "__main__":
    main()
