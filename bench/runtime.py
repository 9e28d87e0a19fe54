"""Benchmark the control-flow run time and the Execute Process task.

    python bench/runtime.py [--profile]

Prints:

1. the wall time of one package of 1,000 Expression Tasks in a chain of Success
   constraints (target: under 1 s to run);
2. the wall time of 200 independent Execute Process tasks running ``true`` with
   MaxConcurrentExecutables 8, beside 200 ``true`` processes started back to back with
   plain ``subprocess.run`` in the same run, and their ratio (target: at most 1.3); each
   side is the best of 3, taken in turns;
3. the end-to-end time of ``python -m ssisrun exec`` on a one-task package as a
   subprocess (median of 5; target: under 300 ms), beside ``python -c pass``.

The packages are generated in a temporary folder. The last line is a one-line summary.
Nothing here is asserted; tests never time anything. ``--profile`` prints the top of a
cProfile of the two in-process runs.
"""

from __future__ import annotations

import cProfile
import functools
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssisrun.dtsx import load_package_bytes  # noqa: E402
from ssisrun.runtime import RunRequest, RunResult, run_package  # noqa: E402

CHAIN = 1_000
PROCESSES = 200
CONCURRENCY = 8
REPEATS = 5

# --------------------------------------------------------------------------- generator


def _guid(*parts: object) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper() + "}"


def _task(name: str, kind: str, data: str) -> str:
    return (f'<DTS:Executable DTS:refId="Package\\{name}" DTS:ExecutableType="{kind}" '
            f'DTS:CreationName="{kind}" DTS:ObjectName="{name}" DTS:DTSID="{_guid(name)}">'
            f"<DTS:Variables/><DTS:ObjectData>{data}</DTS:ObjectData></DTS:Executable>")


def _constraint(i: int, frm: str, to: str) -> str:
    return (f'<DTS:PrecedenceConstraint DTS:refId="Package.PrecedenceConstraints[C{i}]" '
            f'DTS:From="Package\\{frm}" DTS:To="Package\\{to}" DTS:ObjectName="C{i}" '
            f'DTS:DTSID="{_guid("pc", i)}"/>')


def package_xml(tasks: list[str], constraints: Sequence[str] = (), variables: str = "",
                max_concurrent: int = -1) -> str:
    """A format 8 package with these executables, constraints and variables."""
    return ('<?xml version="1.0"?>\n<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"'
            ' DTS:refId="Package" DTS:ExecutableType="Microsoft.Package" '
            'DTS:CreationName="Microsoft.Package" DTS:ObjectName="Bench" '
            f'DTS:DTSID="{_guid("pkg")}" DTS:MaxConcurrentExecutables="{max_concurrent}">'
            '<DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>'
            f"<DTS:Variables>{variables}</DTS:Variables>"
            f"<DTS:Executables>{''.join(tasks)}</DTS:Executables>"
            f"<DTS:PrecedenceConstraints>{''.join(constraints)}</DTS:PrecedenceConstraints>"
            "</DTS:Executable>\n")


def chain_package(n: int) -> str:
    tasks = [_task(f"T{i}", "Microsoft.ExpressionTask",
                   '<ExpressionTask Expression="@[User::N] = @[User::N] + 1"/>')
             for i in range(n)]
    constraints = [_constraint(i, f"T{i - 1}", f"T{i}") for i in range(1, n)]
    variable = (f'<DTS:Variable DTS:Namespace="User" DTS:ObjectName="N" '
                f'DTS:DTSID="{_guid("var", "N")}"><DTS:VariableValue DTS:DataType="3">0'
                "</DTS:VariableValue></DTS:Variable>")
    return package_xml(tasks, constraints, variable)


def process_data(executable: str, arguments: str = "") -> str:
    return (f"<ExecuteProcessData Executable={quoteattr(executable)} "
            f"Arguments={quoteattr(arguments)}/>")


def process_package(n: int, executable: str, max_concurrent: int) -> str:
    tasks = [_task(f"P{i}", "Microsoft.ExecuteProcess", process_data(executable))
             for i in range(n)]
    return package_xml(tasks, max_concurrent=max_concurrent)


# --------------------------------------------------------------------------- measures


def _profiled(profile: bool, func: Callable[[], RunResult]) -> tuple[float, RunResult]:
    """Wall time and result of ``func()``; with ``profile``, also print its cProfile top 15
    (the main thread only: tasks run in worker threads)."""
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = func()
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    if result.exit_code != 0:
        raise SystemExit(f"the benchmark package did not succeed: {result.result!r}")
    return elapsed, result


def bench_chain(profile: bool) -> tuple[float, float]:
    xml = chain_package(CHAIN).encode()
    started = time.perf_counter()
    pkg = load_package_bytes(xml, "chain.dtsx")
    load = time.perf_counter() - started
    run, _ = _profiled(profile, lambda: run_package(pkg))
    return load, run


def bench_processes(profile: bool) -> tuple[float, float]:
    """Best of 3 for each side, taken in turns, so a busy machine hurts both alike."""
    true = shutil.which("true") or "/bin/true"
    xml = process_package(PROCESSES, true, CONCURRENCY).encode()
    request = RunRequest(max_concurrent=CONCURRENCY)
    run_package(load_package_bytes(process_package(4, true, CONCURRENCY).encode(), "w.dtsx"))
    engine_times, plain_times = [], []
    for attempt in range(3):
        pkg = load_package_bytes(xml, "p.dtsx")
        elapsed, _ = _profiled(profile and attempt == 0,
                               functools.partial(run_package, pkg, request))
        engine_times.append(elapsed)
        started = time.perf_counter()
        for _ in range(PROCESSES):
            subprocess.run([true], check=True)
        plain_times.append(time.perf_counter() - started)
    return min(engine_times), min(plain_times)


def _median_run(argv: list[str], env: dict[str, str] | None = None) -> float:
    subprocess.run(argv, check=False, capture_output=True, cwd=ROOT, env=env)  # warm up
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=ROOT, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_cli(folder: Path) -> tuple[float, float, int, float | None]:
    """As the environment is; and, when PYTHONDONTWRITEBYTECODE is set (every start then
    compiles every module again), also with a bytecode cache in the temporary folder."""
    file = folder / "one.dtsx"
    file.write_text(package_xml([_task("Hello", "Microsoft.ExpressionTask",
                                       '<ExpressionTask Expression="1 + 1"/>')]))
    argv = [sys.executable, "-m", "ssisrun", "exec", str(file)]
    code = subprocess.run(argv, check=False, capture_output=True, cwd=ROOT).returncode
    cached = None
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        cached = _median_run(argv, env)
    return _median_run(argv), _median_run([sys.executable, "-c", "pass"]), code, cached


def main() -> None:
    profile = "--profile" in sys.argv[1:]
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPU(s)")

    load, chain = bench_chain(profile)
    print(f"1. {CHAIN} Expression Tasks in a Success chain: run {chain:.3f} s "
          f"(target < 1 s); load {load:.3f} s")

    engine, plain = bench_processes(profile)
    ratio = engine / plain
    print(f"2. {PROCESSES} Execute Process tasks running true, {CONCURRENCY} at once: "
          f"{engine:.3f} s; {PROCESSES} plain subprocess.run back to back: {plain:.3f} s; "
          f"ratio {ratio:.2f} (target <= 1.3)")

    with tempfile.TemporaryDirectory() as tmp:
        cli, bare, code, cached = bench_cli(Path(tmp))
    with_cache = "" if cached is None else (
        f"; with a bytecode cache (PYTHONDONTWRITEBYTECODE is set here): {cached * 1000:.0f} ms")
    print(f"3. ssisrun exec on a one-task package: median {cli * 1000:.0f} ms of {REPEATS} "
          f"(target < 300 ms; exit code {code}); python -c pass: {bare * 1000:.0f} ms"
          f"{with_cache}")

    met = [chain < 1.0, ratio <= 1.3, cli < 0.3]
    cache_note = "" if cached is None else f", {cached * 1000:.0f} ms with .pyc"
    print(f"summary: chain {chain:.2f} s, processes {ratio:.2f}x plain, exec "
          f"{cli * 1000:.0f} ms{cache_note} (python {bare * 1000:.0f} ms): {sum(met)} of 3 "
          "targets met")


if __name__ == "__main__":
    main()
