"""Benchmark local Scale Out: packages per second on local worker agents, beside the floor.

    python bench/scaleout.py [--n 200] [--workers 2] [--sleep-n 8] [--sleep 1.0] [--profile]

1. Throughput. N one-task packages (an Expression Task each) become N catalog executions
   (a fresh SQLite catalog in a temporary folder; submitting is timed apart) and run on
   WORKERS local worker agents, each attempt as its own ``ssisrun exec --plain --log-json``
   process, exactly as ``ssisrun exec --scale-out`` runs them. The floor is measured in the
   same run: the same N ``ssisrun exec`` commands (the same arguments, the same log file),
   WORKERS at a time, by a plain loop of threads without a catalog. Target: scale-out at
   least 0.9 of the floor's packages per second. The two sides run in turns (floor then
   scale-out, then scale-out then floor, ...) and each side's best round counts. When
   PYTHONDONTWRITEBYTECODE is set, both sides get a bytecode cache in the temporary folder
   (otherwise every ``ssisrun exec`` compiles every module again).

2. Speedup. SLEEP_N packages whose one Execute Process Task runs ``sleep SLEEP`` run on 1
   and then on 2 worker agents. Target: 2 workers at least 1.9 times as fast as 1.

``--profile`` runs the scale-out side of (1) once more under cProfile (the scheduler's
threads; the package processes are apart) and prints the top 25 functions by cumulative
time. The last line is a one-line summary. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssisrun.catalog import Catalog, Claim, Status  # noqa: E402
from ssisrun.scaleout import LocalScaleOut, PackageSpec, SubprocessRunner, submit  # noqa: E402

THROUGHPUT_TARGET = 0.9
SPEEDUP_TARGET = 1.9


def _guid(*parts: object) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper() + "}"


def package_xml(name: str, kind: str, data: str) -> str:
    """A format 8 package with one task."""
    return ('<?xml version="1.0"?>\n<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"'
            ' DTS:refId="Package" DTS:ExecutableType="Microsoft.Package" '
            f'DTS:CreationName="Microsoft.Package" DTS:ObjectName="{name}" '
            f'DTS:DTSID="{_guid("pkg", name)}">'
            '<DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>'
            "<DTS:Executables>"
            f'<DTS:Executable DTS:refId="Package\\Task" DTS:ExecutableType="{kind}" '
            f'DTS:CreationName="{kind}" DTS:ObjectName="Task" DTS:DTSID="{_guid(name, "t")}">'
            f"<DTS:ObjectData>{data}</DTS:ObjectData></DTS:Executable>"
            "</DTS:Executables></DTS:Executable>\n")


def write_packages(folder: Path, n: int, sleep: float | None = None) -> list[Path]:
    paths = []
    for i in range(n):
        if sleep is None:
            xml = package_xml(f"P{i}", "Microsoft.ExpressionTask",
                              '<ExpressionTask Expression="1 + 1"/>')
        else:
            xml = package_xml(f"S{i}", "Microsoft.ExecuteProcess",
                              f"<ExecuteProcessData Executable={quoteattr('sleep')} "
                              f"Arguments={quoteattr(str(sleep))}/>")
        path = folder / f"{'P' if sleep is None else 'S'}{i}.dtsx"
        path.write_text(xml, encoding="utf-8")
        paths.append(path)
    return paths


def floor(paths: list[Path], workers: int, folder: Path) -> float:
    """Seconds for the same ``ssisrun exec`` commands as the workers run, ``workers`` at a
    time, by a plain loop of threads."""
    runner = SubprocessRunner(folder)
    todo: queue.Queue[tuple[int, Path]] = queue.Queue()
    for n, path in enumerate(paths):
        todo.put((n, path))
    failures: list[int] = []

    def loop() -> None:
        while True:
            try:
                n, path = todo.get_nowait()
            except queue.Empty:
                return
            claim = Claim(n, 1, "floor", str(path), None, path.stem, 0, 1, [], {})
            cmd = runner.command(claim, folder / f"floor-{n}.jsonl")
            code = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT, check=False).returncode
            if code != 0:
                failures.append(n)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the floor's ssisrun exec failed for {len(failures)} package(s)")
    return elapsed


def scale_out(paths: list[Path], workers: int, folder: Path,
              profile: cProfile.Profile | None = None) -> tuple[float, float]:
    """(seconds to submit, seconds to run) the packages as executions on local workers."""
    db = folder / f"catalog-{uuid.uuid4().hex}.db"
    catalog = Catalog(f"sqlite:///{db}")
    try:
        started = time.perf_counter()
        ids = [submit(catalog, PackageSpec(str(p))) for p in paths]
        submitted = time.perf_counter() - started
        scheduler = LocalScaleOut(catalog, workers=workers)
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        finished = scheduler.run(ids)
        if profile is not None:
            profile.disable()
        elapsed = time.perf_counter() - started
        bad = [e for e in finished if e.status != Status.succeeded]
        if bad:
            why = " | ".join(m.message for m in catalog.messages(bad[0].execution_id)
                             if m.message_type in (110, 120))
            raise SystemExit(f"{len(bad)} execution(s) did not succeed, e.g. "
                             f"#{bad[0].execution_id}: {bad[0].status_name}: {why}")
        return submitted, elapsed
    finally:
        catalog.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sleep-n", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ssisrun-bench-scaleout-"))
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        # every ssisrun exec would compile every module again: both sides get a cache
        os.environ["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    try:
        paths = write_packages(folder, args.n)
        floor(paths[:4], args.workers, folder)  # warm up (and fill the bytecode cache)
        floors, outs, submits = [], [], []
        for n in range(args.rounds):
            # the sides take turns going first, so neither always meets a busier machine
            for side in ("floor", "scale") if n % 2 == 0 else ("scale", "floor"):
                if side == "floor":
                    floors.append(floor(paths, args.workers, folder))
                else:
                    submitted, elapsed = scale_out(paths, args.workers, folder)
                    outs.append(elapsed)
                    submits.append(submitted)
        floor_rate, out_rate = args.n / min(floors), args.n / min(outs)
        ratio = out_rate / floor_rate
        print(f"throughput: {args.n} one-task packages on {args.workers} local workers")
        print(f"  floor (plain loop of ssisrun exec, {args.workers} at a time): "
              f"{floor_rate:7.1f} packages/s  rounds: "
              + ", ".join(f"{t:.2f} s" for t in floors))
        print(f"  scale-out (catalog, worker agents):        {out_rate:7.1f} packages/s  "
              f"rounds: " + ", ".join(f"{t:.2f} s" for t in outs)
              + f"  (submitting: {min(submits):.2f} s apart)")
        print(f"  ratio: {ratio:.3f} (target >= {THROUGHPUT_TARGET})")
        if args.profile:
            profiler = cProfile.Profile()
            scale_out(paths, args.workers, folder, profiler)
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
            print(text.getvalue())

        sleepers = write_packages(folder, args.sleep_n, sleep=args.sleep)
        one = scale_out(sleepers, 1, folder)[1]
        two = scale_out(sleepers, 2, folder)[1]
        speedup = one / two
        print(f"speedup: {args.sleep_n} packages of 'sleep {args.sleep}': 1 worker "
              f"{one:.2f} s, 2 workers {two:.2f} s: {speedup:.2f}x "
              f"(target >= {SPEEDUP_TARGET})")
        verdict = "ok" if ratio >= THROUGHPUT_TARGET and speedup >= SPEEDUP_TARGET else "MISS"
        print(f"summary: scale-out {out_rate:.1f}/s vs floor {floor_rate:.1f}/s = {ratio:.3f}"
              f" (>= {THROUGHPUT_TARGET}); speedup 1->2 workers {speedup:.2f} "
              f"(>= {SPEEDUP_TARGET}): {verdict}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
