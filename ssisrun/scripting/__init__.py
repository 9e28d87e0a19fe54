"""C# Script Tasks through Mono.

SSIS's Script Task holds a VSTA project (``ScriptMain.cs`` and friends) in its ``ObjectData``.
ssisrun compiles it with Mono's ``mcs`` against a stand-in for the SSIS script object model
that ships as C# source in this package (``standin/``), caches the assembly in the user's cache
folder, and runs it in one persistent ``mono`` script host per package run, speaking JSON lines:
the task's ReadOnly/ReadWrite variables go in with their SSIS types, ``Main()`` runs, its
events come back as they happen and become ssisrun events, its changed variables and
``Dts.TaskResult`` come back at the end. A Python replacement for the task (``--script`` or the
sidecar folder) always wins over this.

Modules: :mod:`.project` (reading the project from ObjectData), :mod:`.rewrite` (Windows path
literals), :mod:`.compiler` (mcs, the stand-in, the cache), :mod:`.worker` (the script host),
:mod:`.values` (values across the boundary), :mod:`.connections` (``Dts.Connections``),
:mod:`.check` (what validate reports), :mod:`.runner` (one task).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssisrun.scripting.compiler import INSTALL_HINT, mono_available

if TYPE_CHECKING:
    from ssisrun.model import Package, TaskHost
    from ssisrun.runtime.context import TaskContext
    from ssisrun.tasks import TaskOutcome


def run_csharp_script(ctx: TaskContext, host: TaskHost) -> TaskOutcome:
    """Run a C# Script Task through Mono (see :mod:`ssisrun.scripting.runner`)."""
    from ssisrun.scripting.runner import run_csharp_script as run

    return run(ctx, host)


def check_csharp_task(package: Package, host: TaskHost, way_out: str) -> str | None:
    """Why this C# Script Task cannot run here (None when it can), for ``ssisrun validate``."""
    from ssisrun.scripting.check import csharp_task_problem
    from ssisrun.scripting.project import task_project

    return csharp_task_problem(package, host, task_project(host), way_out)


__all__ = ["INSTALL_HINT", "check_csharp_task", "mono_available", "run_csharp_script"]
