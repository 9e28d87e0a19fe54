"""The control-flow run time: run a loaded package (see :mod:`ssisrun.runtime.engine`)."""

from __future__ import annotations

from ssisrun.runtime.engine import Engine, RunError, run_package
from ssisrun.runtime.events import Event, EventBus, EventKind
from ssisrun.runtime.request import ExecutableRun, RunRequest, RunResult

__all__ = ["Engine", "Event", "EventBus", "EventKind", "ExecutableRun", "RunError",
           "RunRequest", "RunResult", "run_package"]
