"""Scale Out on one machine: local worker agents that run catalog executions as
``ssisrun exec`` processes, with retries, worker selection and live progress.

* :mod:`ssisrun.scaleout.runfile`: ``--run-file`` (TOML), one :class:`PackageSpec` a package.
* :mod:`ssisrun.scaleout.submit`: packages -> catalog executions (SSISDB's procedure flow).
* :mod:`ssisrun.scaleout.scheduler`: :class:`LocalScaleOut`, the worker agents.
* :mod:`ssisrun.scaleout.runner`: how one attempt runs (a process group that dies with its
  worker, or in-process) and how its log becomes catalog messages and statistics.
* :mod:`ssisrun.scaleout.progress`: the live table and the plain lines.
"""

from ssisrun.scaleout.runfile import PackageSpec, RunFile, load_run_file
from ssisrun.scaleout.runner import InProcessRunner, SubprocessRunner
from ssisrun.scaleout.scheduler import ExecutionState, LocalScaleOut, default_workers
from ssisrun.scaleout.submit import submit

__all__ = ["ExecutionState", "InProcessRunner", "LocalScaleOut", "PackageSpec", "RunFile",
           "SubprocessRunner", "default_workers", "load_run_file", "submit"]
