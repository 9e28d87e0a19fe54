"""Load every .dtsx package under a folder and report what ssisrun makes of them.

    python bench/corpus_report.py ../shared/corpus/dtsx

Prints the packages loaded and those that failed (with the reason), the format
versions, the executable, data-flow component and connection-manager types,
how long loading takes (all, the slowest package, the largest package; target
under 0.5 s for the largest), the share of packages ssisrun can run (every
executable and component type in ``ssisrun.capabilities``) and how fast
``ssisrun --version`` starts (target under 150 ms). The last line is a one-line
summary.

Exit codes: 0 it ran (even when packages failed to load), 2 DIR is not a folder
with .dtsx files in it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: the environment of the timed subprocesses
CHILD_ENV = dict(os.environ)
try:
    import ssisrun  # noqa: F401
except ImportError:  # run from a checkout without installing it
    sys.path.insert(0, str(REPO))
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])
    )

from ssisrun.capabilities import component_is_runnable, executable_is_runnable  # noqa: E402
from ssisrun.dtsx import load_package  # noqa: E402
from ssisrun.errors import SsisrunError  # noqa: E402
from ssisrun.model import EventHandler, Package, TaskHost  # noqa: E402

LARGEST_TARGET_S = 0.5
STARTUP_TARGET_MS = 150


@dataclass(slots=True)
class Loaded:
    rel: str
    size: int
    seconds: float
    format_version: int
    executable_types: Counter[str] = field(default_factory=Counter)
    component_types: Counter[str] = field(default_factory=Counter)
    connection_manager_types: Counter[str] = field(default_factory=Counter)
    #: the types that stop this package from running here
    not_runnable: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Failed:
    rel: str
    size: int
    seconds: float
    reason: str


def find_packages(folder: Path) -> list[Path]:
    """Every file whose name ends in .dtsx (any case), in a stable order."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            if name.lower().endswith(".dtsx"):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def summarize(package: Package, rel: str, size: int, seconds: float) -> Loaded:
    loaded = Loaded(rel, size, seconds, package.format_version)
    # The root package counts (the run time must be able to run a package); the
    # EventHandler containers do not (they are no executable type of their own),
    # but everything inside them does.
    for exe in package.walk():
        if isinstance(exe, EventHandler):
            continue
        if not isinstance(exe, Package):
            loaded.executable_types[exe.executable_type] += 1
        if not executable_is_runnable(exe.executable_type):
            loaded.not_runnable.add(exe.executable_type)
        if isinstance(exe, TaskHost) and exe.data_flow is not None:
            for component in exe.data_flow.components:
                loaded.component_types[component.component_type] += 1
                if not component_is_runnable(component.component_type):
                    loaded.not_runnable.add(component.component_type)
    for cm in package.connection_managers:
        loaded.connection_manager_types[cm.creation_name.split(",", 1)[0]] += 1
    return loaded


def load_all(folder: Path, files: list[Path]) -> tuple[list[Loaded], list[Failed], float]:
    loaded: list[Loaded] = []
    failed: list[Failed] = []
    start = time.perf_counter()
    for file in files:
        rel = file.relative_to(folder).as_posix()
        size = file.stat().st_size
        began = time.perf_counter()
        try:
            package = load_package(file)
        except SsisrunError as exc:
            failed.append(
                Failed(
                    rel, size, time.perf_counter() - began, f"{type(exc).__name__}: {exc.message}"
                )
            )
            continue
        except Exception as exc:  # a reader bug: report it, go on with the rest
            failed.append(
                Failed(
                    rel,
                    size,
                    time.perf_counter() - began,
                    f"unexpected {type(exc).__name__}: {exc}",
                )
            )
            continue
        seconds = time.perf_counter() - began
        loaded.append(summarize(package, rel, size, seconds))
        del package
    return loaded, failed, time.perf_counter() - start


def median_run_ms(command: list[str], runs: int) -> float | None:
    """The median wall time of ``command`` over ``runs`` runs, after one warm-up;
    None when it fails."""
    times = []
    for i in range(runs + 1):
        began = time.perf_counter()
        result = subprocess.run(command, capture_output=True, timeout=60, env=CHILD_ENV)
        elapsed = (time.perf_counter() - began) * 1000
        if result.returncode != 0:
            return None
        if i:
            times.append(elapsed)
    return statistics.median(times)


def size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} B"


def table(title: str, counts: Counter[str], packages: Counter[str]) -> None:
    print(f"\n{title} ({len(counts)}): count, packages")
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:6d} {packages[name]:5d}  {name}")


def report(folder: Path, startup_runs: int) -> None:
    files = find_packages(folder)
    loaded, failed, total_s = load_all(folder, files)

    print(f"ssisrun corpus report: {folder}")
    print(f"{len(files)} .dtsx files: {len(loaded)} loaded, {len(failed)} failed")
    if failed:
        print("\nFailed:")
        for f in failed:
            print(f"  {f.rel}: {f.reason}")

    versions = Counter(p.format_version for p in loaded)
    print("\nFormat versions:")
    for version, count in sorted(versions.items()):
        print(f"  {version}: {count}")

    for title, attr in (
        ("Executable types", "executable_types"),
        ("Data-flow component types", "component_types"),
        ("Connection manager types", "connection_manager_types"),
    ):
        counts: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        for p in loaded:
            kinds: Counter[str] = getattr(p, attr)
            counts.update(kinds)
            packages.update(kinds.keys())
        table(title, counts, packages)

    runnable = [p for p in loaded if not p.not_runnable]
    share = 100.0 * len(runnable) / len(loaded) if loaded else 0.0
    print(f"\nRunnable by this ssisrun: {len(runnable)} of {len(loaded)} ({share:.1f}%)")
    control_only = [p for p in loaded
                    if not {"Microsoft.Pipeline", "Microsoft.ScriptTask"} & set(p.executable_types)]
    control_ok = [p for p in control_only if not p.not_runnable]
    print(f"  packages without data flows and scripts: {len(control_ok)} of "
          f"{len(control_only)} runnable (every control-flow task supported)")
    blockers = Counter(t for p in loaded for t in p.not_runnable)
    if blockers:
        print("  types that block the most packages:")
        for name, count in blockers.most_common(10):
            print(f"  {count:6d}  {name}")

    print("\nLoad times:")
    print(f"  all {len(files)} files: {total_s:.2f} s")
    everything = [*loaded, *failed]
    largest_text = "none"
    if everything:
        slowest = max(everything, key=lambda p: p.seconds)
        print(f"  slowest: {slowest.rel} ({size_text(slowest.size)}) in {slowest.seconds:.3f} s")
        largest = max(everything, key=lambda p: p.size)
        verdict = "ok" if largest.seconds < LARGEST_TARGET_S else "OVER TARGET"
        print(
            f"  largest: {largest.rel} ({size_text(largest.size)}) in "
            f"{largest.seconds:.3f} s (target < {LARGEST_TARGET_S} s: {verdict})"
        )
        largest_text = f"{size_text(largest.size)} in {largest.seconds:.2f} s"

    version_text = "not measured"
    if startup_runs > 0:
        version_ms = median_run_ms([sys.executable, "-m", "ssisrun", "--version"], startup_runs)
        python_ms = median_run_ms([sys.executable, "-c", "pass"], startup_runs)
        print(f"\nStart-up (median of {startup_runs} runs):")
        if version_ms is None or python_ms is None:
            print("  ssisrun --version failed")
            version_text = "failed"
        else:
            verdict = "ok" if version_ms < STARTUP_TARGET_MS else "OVER TARGET"
            print(
                f"  ssisrun --version: {version_ms:.0f} ms "
                f"(target < {STARTUP_TARGET_MS} ms: {verdict})"
            )
            print(f"  python -c pass:    {python_ms:.0f} ms")
            version_text = f"{version_ms:.0f} ms (python {python_ms:.0f} ms)"

    print(
        f"summary: {len(loaded)} loaded, {len(failed)} failed, runnable {share:.1f}%, "
        f"all in {total_s:.1f} s, largest {largest_text}, --version {version_text}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Load every .dtsx package under DIR and report what ssisrun makes of them."
    )
    parser.add_argument("dir", metavar="DIR", type=Path, help="a folder of .dtsx files")
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=10,
        metavar="N",
        help="how many times to time `ssisrun --version` (0: do not); default 10",
    )
    parser.add_argument(
        "--compile-scripts",
        action="store_true",
        help="also compile every C# Script Task through Mono and count those that compile, "
        "and the packages that become fully runnable through them (bench/scripts.py)",
    )
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    folder: Path = args.dir
    if not folder.is_dir():
        print(f"corpus_report: {folder} is not a folder", file=sys.stderr)
        return 2
    if not find_packages(folder):
        print(f"corpus_report: no .dtsx files under {folder}", file=sys.stderr)
        return 2
    if args.compile_scripts:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from scripts import corpus_rate  # bench/scripts.py

        from ssisrun.scripting import compiler

        print()
        if compiler.mono_available():
            corpus_rate(folder, 0)
        else:
            print(f"C# Script Tasks: not compiled; {compiler.INSTALL_HINT}")
    report(folder, max(0, args.startup_runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
