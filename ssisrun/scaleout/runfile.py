"""``--run-file FILE``: a TOML file listing the packages of a scale-out run, each with its
parameters, connection overrides, variables, environment, checkpointing, retry count,
logging level and allowed workers (SSMS's *Execute Package In Scale Out* dialog, in a file)::

    workers = 3            # local worker agents (default: the number of cores)
    retry_count = 1        # for every package that does not say otherwise

    [[package]]
    path = "Load.dtsx"     # relative to this file
    retry_count = 2
    workers = ["local-1"]  # only these worker agents may run it (default: any)
    checkpointing = true   # a retry resumes from the checkpoint
    logging_level = "Verbose"
    parameters = { "$Package::Dir" = "/srv/in", "$Project::Env" = "prod" }
    connections = { Src = "Data Source=..." }
    variables = { "User::N" = "5" }
    environment = { TZ = "UTC" }
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssisrun.errors import UsageError

_PACKAGE_KEYS = {"path", "project", "package", "retry_count", "workers", "checkpointing",
                 "checkpoint_file", "logging_level", "parameters", "connections", "variables",
                 "environment", "set"}


@dataclass
class PackageSpec:
    """One package to run in scale-out, and everything the run adds to it."""

    path: str
    parameters: dict[str, str] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    set_values: list[str] = field(default_factory=list)
    checkpointing: bool = False
    checkpoint_file: str | None = None
    retry_count: int | None = None
    #: worker agent ids allowed to run it; empty: any worker
    workers: list[str] = field(default_factory=list)
    logging_level: str | None = None

    def options(self) -> dict[str, Any]:
        """What the catalog keeps with the execution for its workers."""
        return {"connections": self.connections, "variables": self.variables,
                "environment": self.environment, "set": self.set_values,
                "checkpointing": self.checkpointing, "checkpoint_file": self.checkpoint_file}


@dataclass
class RunFile:
    packages: list[PackageSpec]
    workers: int | None = None
    retry_count: int | None = None


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table of NAME = VALUE")
    return {str(k): _scalar(v) for k, v in value.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def load_run_file(path: str | Path) -> RunFile:
    """Read a run file; a mistake is a :class:`UsageError` naming the file and the key."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the run file: {exc.strerror}", path=str(source)) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"not valid TOML: {exc}", path=str(source)) from None
    unknown = set(data) - {"workers", "retry_count", "package"}
    if unknown:
        raise UsageError(f"unknown key(s) {', '.join(sorted(unknown))} (known: workers, "
                         f"retry_count, [[package]])", path=str(source))
    items = data.get("package", [])
    if not isinstance(items, list) or not items:
        raise UsageError("the run file lists no [[package]]", path=str(source))
    specs = []
    for n, item in enumerate(items, 1):
        where = f"[[package]] {n}"
        if not isinstance(item, dict) or "path" not in item:
            raise UsageError(f"{where} needs a path", path=str(source))
        bad = set(item) - _PACKAGE_KEYS
        if bad:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(bad))} (known: "
                             f"{', '.join(sorted(_PACKAGE_KEYS))})", path=str(source))
        package_path = Path(str(item["path"]))
        if not package_path.is_absolute():
            package_path = source.parent / package_path
        checkpoint_file = item.get("checkpoint_file")
        if checkpoint_file is not None and not Path(str(checkpoint_file)).is_absolute():
            checkpoint_file = str(source.parent / str(checkpoint_file))
        workers = item.get("workers", [])
        if isinstance(workers, str):
            workers = [workers]
        retry = item.get("retry_count", data.get("retry_count"))
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise UsageError(f"{where}: retry_count must be a whole number >= 0",
                             path=str(source))
        specs.append(PackageSpec(
            path=str(package_path),
            parameters=_strings(item.get("parameters", {}), f"{where} parameters"),
            connections=_strings(item.get("connections", {}), f"{where} connections"),
            variables=_strings(item.get("variables", {}), f"{where} variables"),
            environment=_strings(item.get("environment", {}), f"{where} environment"),
            set_values=[str(s) for s in item.get("set", [])],
            checkpointing=bool(item.get("checkpointing", False)),
            checkpoint_file=None if checkpoint_file is None else str(checkpoint_file),
            retry_count=retry, workers=[str(w) for w in workers],
            logging_level=None if item.get("logging_level") is None
            else str(item["logging_level"])))
    workers_count = data.get("workers")
    if workers_count is not None and (not isinstance(workers_count, int) or workers_count < 1):
        raise UsageError("workers must be a whole number >= 1", path=str(source))
    return RunFile(specs, workers_count, data.get("retry_count"))
