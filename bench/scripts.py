"""C# Script Tasks through Mono: how many of the corpus's compile, how many packages become
fully runnable through them, and how fast a package with a script task starts its script on a
first run (empty compile cache) and on a second run (cached).

    python bench/scripts.py [../shared/corpus/dtsx] [--sample N]

Targets (issue 10): at least 85% of the corpus's C# Script Tasks compile; the cached run starts
its script in under 0.5 s. Figures only: speed is never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ssisrun import capabilities
from ssisrun.dtsx import load_package
from ssisrun.errors import SsisrunError
from ssisrun.scripting import compiler
from ssisrun.scripting.project import task_project

HERE = Path(__file__).resolve().parent

ONE_SCRIPT_PACKAGE = """<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package"
  DTS:CreationName="Microsoft.Package" DTS:DTSID="{0B1B2B3B-4B5B-4C6C-8D7D-8E9EAFB0C1D2}"
  DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="Bench">
  <DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:Variables>
    <DTS:Variable DTS:CreationName="" DTS:DTSID="{1B1B2B3B-4B5B-4C6C-8D7D-8E9EAFB0C1D2}"
      DTS:Namespace="User" DTS:ObjectName="N">
      <DTS:VariableValue DTS:DataType="3">1</DTS:VariableValue>
    </DTS:Variable>
  </DTS:Variables>
  <DTS:Executables>
    <DTS:Executable DTS:refId="Package\\Script" DTS:CreationName="Microsoft.ScriptTask"
      DTS:DTSID="{2B1B2B3B-4B5B-4C6C-8D7D-8E9EAFB0C1D2}" DTS:ExecutableType="Microsoft.ScriptTask"
      DTS:ObjectName="Script">
      <DTS:ObjectData>
        <ScriptProject Name="ST_bench" Language="CSharp" EntryPoint="Main"
          ReadOnlyVariables="" ReadWriteVariables="User::N">
          <ProjectItem Name="ScriptMain.cs" Encoding="UTF8"><![CDATA[
using System;
using Microsoft.SqlServer.Dts.Runtime;
namespace ST_bench {
  [Microsoft.SqlServer.Dts.Tasks.ScriptTask.SSISScriptTaskEntryPointAttribute]
  public partial class ScriptMain
      : Microsoft.SqlServer.Dts.Tasks.ScriptTask.VSTARTScriptObjectModelBase {
    public void Main() {
      Dts.Variables["User::N"].Value = (int)Dts.Variables["User::N"].Value + %SALT%;
      Dts.TaskResult = (int)ScriptResults.Success;
    }
    enum ScriptResults { Success = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Success,
                         Failure = Microsoft.SqlServer.Dts.Runtime.DTSExecResult.Failure };
  }
}
]]></ProjectItem>
        </ScriptProject>
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>
"""


def _components(exe: object) -> list[Any]:
    flow = getattr(exe, "data_flow", None)
    return list(flow.components) if flow is not None else []


def corpus_rate(folder: Path, sample: int) -> None:
    tasks: list[tuple[Path, str, object]] = []
    #: package -> (its C# tasks' indexes into tasks, whether everything else is supported)
    packages: dict[Path, tuple[list[int], bool]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() != ".dtsx":
            continue
        try:
            pkg = load_package(path)
        except SsisrunError:
            continue
        scripts = [e for e in pkg.walk() if e.executable_type == "Microsoft.ScriptTask"]
        if not scripts:
            continue
        indexes = []
        all_csharp = True
        for exe in scripts:
            project = task_project(exe)  # type: ignore[arg-type]
            if project.is_csharp and project.sources:
                indexes.append(len(tasks))
                tasks.append((path, exe.path, project))
            else:
                all_csharp = False
        others_ok = all(
            capabilities.executable_is_runnable(e.executable_type)
            or e.executable_type == "EventHandler" for e in pkg.walk())
        components_ok = all(
            capabilities.component_is_runnable(c.component_type)
            for e in pkg.walk()
            for c in _components(e))
        packages[path] = (indexes, all_csharp and others_ok and components_ok)
    chosen = list(range(len(tasks)))
    if 0 < sample < len(tasks):
        chosen = sorted(random.Random(1).sample(chosen, sample))

    def compiles(index: int) -> bool:
        try:
            compiler.compile_project(tasks[index][2])  # type: ignore[arg-type]
        except compiler.CompileError:
            return False
        return True

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        outcome = dict(zip(chosen, pool.map(compiles, chosen), strict=True))
    elapsed = time.perf_counter() - started
    ok = sum(outcome.values())
    print(f"C# Script Tasks with source in the corpus: {len(tasks)}; compiled {ok} of "
          f"{len(chosen)} ({ok / max(1, len(chosen)):.1%}; target >= 85%) in {elapsed:.1f} s")
    if len(chosen) == len(tasks):
        runnable = sum(1 for indexes, rest_ok in packages.values()
                       if rest_ok and all(outcome[i] for i in indexes))
        print(f"packages with Script Tasks: {len(packages)}; fully runnable through Mono (every "
              f"script compiles, every other executable and component is supported): "
              f"{runnable}")


def start_times() -> tuple[float, float]:
    """``ssisrun exec`` of a one-script package, whole process: the first run compiles the
    script (its source is new), then the median of three cached runs."""
    with tempfile.TemporaryDirectory() as tmp:
        salt = str(int(time.time() * 1000) % 100000)
        package = Path(tmp) / "Bench.dtsx"
        package.write_text(ONE_SCRIPT_PACKAGE.replace("%SALT%", salt))
        cmd = [sys.executable, "-m", "ssisrun", "exec", "--plain", str(package)]
        timings = []
        for _ in range(4):
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            timings.append(time.perf_counter() - started)
            if proc.returncode != 0:
                print(proc.stdout + proc.stderr)
                raise SystemExit("the script package failed")
        return timings[0], statistics.median(timings[1:])


def script_start_in_process() -> float:
    from ssisrun.runtime import run_package

    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "Bench.dtsx"
        package.write_text(ONE_SCRIPT_PACKAGE.replace("%SALT%", "7"))
        run_package(load_package(package))  # compile (or find it cached)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            result = run_package(load_package(package))
            timings.append(time.perf_counter() - started)
            if result.exit_code != 0:
                raise SystemExit("the script package failed")
        return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(HERE.parent.parent / "shared" /
                                                             "corpus" / "dtsx"))
    parser.add_argument("--sample", type=int, default=0,
                        help="compile a seeded sample of N tasks (0: all)")
    args = parser.parse_args()
    if not compiler.mono_available():
        print(f"Mono is not installed: {compiler.INSTALL_HINT}")
        return 2
    folder = Path(args.corpus)
    if folder.is_dir():
        corpus_rate(folder, args.sample)
    else:
        print(f"no corpus at {folder}; compile rate not measured")
    first, cached = start_times()
    in_process = script_start_in_process()
    print(f"ssisrun exec of a one-script package (whole process): first run {first:.2f} s "
          f"(compiles), cached run {cached:.2f} s")
    print(f"the script's start on a cached run, in process (load, start the mono host, run "
          f"Main): {in_process:.3f} s (target < 0.5 s)")
    print(f"summary: first run {first:.2f} s, cached run {cached:.2f} s, cached script start "
          f"{in_process:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
