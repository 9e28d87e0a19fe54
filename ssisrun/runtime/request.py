"""What a run is asked to do, and what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ssisrun.model import ExecResult


@dataclass(slots=True)
class RunRequest:
    """Everything the command line (or the scale-out worker) says about one run."""

    #: ``User::X`` -> value text (``--var``), applied after the design values
    variables: dict[str, str] = field(default_factory=dict)
    #: ``$Package::P`` / ``$Project::P`` / ``P`` -> value text (``--param``)
    parameters: dict[str, str] = field(default_factory=dict)
    #: connection manager name -> connection string (``--conn``)
    connections: dict[str, str] = field(default_factory=dict)
    #: connection manager name or DTSID ("*": every one) -> SQL dialect that T-SQL is
    #: translated to (``--sql-dialect``, ``sql_dialect`` in a ``--connections`` file)
    sql_dialects: dict[str, str] = field(default_factory=dict)
    #: dtexec property paths (``--set``): ``\\Package.Variables[User::X].Properties[Value]``
    set_values: list[tuple[str, str]] = field(default_factory=list)
    #: overrides the package's MaxConcurrentExecutables when > 0
    max_concurrent: int = 0
    #: Windows path prefix -> POSIX prefix (``--path-map``)
    path_map: list[tuple[str, str]] = field(default_factory=list)
    warn_as_error: bool = False
    #: checkpoints: None keeps the package's own SaveCheckpoints / CheckpointUsage
    save_checkpoints: bool | None = None
    checkpoint_usage: int | None = None
    #: overrides the package's CheckpointFileName
    checkpoint_file: str | None = None
    #: record completed loop iterations and resume a restarted loop at the failed item
    resume_loops: bool = False
    #: with checkpoints: transacted containers leave a marker row in their databases, so a
    #: restart after a crash between commit and checkpoint write does not run them again
    exactly_once: bool = False
    #: Script tasks' Python replacements (``--script``): ``[CHILD:]\\Package\\Task`` -> file
    scripts: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ExecutableRun:
    """One executable's run, for reports (JUnit, the console summary)."""

    path: str
    name: str
    executable_type: str
    result: ExecResult
    started: datetime
    finished: datetime
    errors: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def duration(self) -> float:
        return (self.finished - self.started).total_seconds()


@dataclass(slots=True)
class RunResult:
    result: ExecResult
    started: datetime
    finished: datetime
    errors: int = 0
    warnings: int = 0
    runs: list[ExecutableRun] = field(default_factory=list)
    execution_value: Any = None
    #: the checkpoint file used, whether the run restarted from it, and whether it
    #: remains (to restart from) after the run
    checkpoint_file: str = ""
    restarted: bool = False
    checkpoint_saved: bool = False

    @property
    def exit_code(self) -> int:
        return {ExecResult.Success: 0, ExecResult.Completion: 0, ExecResult.Failure: 1,
                ExecResult.Canceled: 3}[self.result]
