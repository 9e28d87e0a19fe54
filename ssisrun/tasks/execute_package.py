"""The Execute Package Task: runs another package, the child, and takes on its result.

Its settings are the child elements of ``ExecutePackageTask`` (spec ssis-runtime.md 5.12);
a property expression of the same name replaces one.

* **Which child.** ``UseProjectReference=True``: ``PackageName`` is a package of the parent's
  project (loaded with it). Otherwise ``Connection`` names a File connection manager whose
  connection string is the child's path, mapped like every Windows path (``--path-map``); a
  relative path is taken from the parent package's folder. A child in a project folder is
  loaded with its project. Packages stored in SQL Server (an OLE DB connection with
  ``PackageName``) cannot be run: the task fails and says so.
* **Parameters.** Each ``ParameterAssignment`` gives the child's package parameter
  ``ParameterName`` the value of the parent's variable or parameter
  ``BindedVariableOrParameterName``.
* **In process** (the default): the child runs in this process and sees the parent's
  variables, through the scope of the Execute Package task (the child's own variables of
  the same name win; the parent never sees the child's). It shares the run's cancellation,
  ``--conn``, ``--path-map`` and ``--max-concurrent``. Its events go to the parent's
  console and logs with the executable paths below the task (``\\Package\\Run child\\Child\\
  Load``), and, as in SSIS, each event no child handler stopped (``System::Propagate``)
  reaches the parent's handlers from the task up, and its errors count against the task.
* **Out of process** (``ExecuteOutOfProcess=True``): ``python -m ssisrun exec --plain`` runs
  the child with ``--param`` for the bindings (parent variables are not visible there); its
  errors and warnings are raised on the task and its exit code decides the result.
* **Result.** The child's Failure fails the task, Canceled cancels it. A package that runs
  itself, directly or through others, fails the task before it starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.dtsx.protection import PASSWORD_ENV
from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult, Package
from ssisrun.runtime.events import HANDLED_EVENTS, Event, EventBus, EventKind
from ssisrun.tasks import Task, TaskOutcome, object_data_body

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.runtime.context import TaskContext
    from ssisrun.runtime.request import RunRequest
    from ssisrun.runtime.variables import Scope

E_SETTINGS = 0xC0029300
E_NOT_FOUND = 0xC0029301
E_RECURSION = 0xC0029302
E_BINDING = 0xC0029303
E_CHILD_FAILED = 0xC0029304
E_OUT_OF_PROCESS = 0xC0029305

#: the package files running this process's top package (set for out-of-process children)
CALLERS_ENV = "SSISRUN_CALLING_PACKAGES"
#: seconds between two looks at the cancel event while an out-of-process child runs
POLL_INTERVAL = 0.05


class ChildPackageError(SsisrunError):
    """The child package cannot be found, loaded or given its parameters."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class ExecutePackageSettings:
    use_project_reference: bool = False
    package_name: str = ""
    connection: str = ""
    execute_out_of_process: bool = False
    #: the child's own package password (PackagePassword); else the run's (--decrypt)
    package_password: str = ""
    #: (child parameter, parent variable or parameter)
    assignments: list[tuple[str, str]] = field(default_factory=list)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "-1", "1")


def read_settings(ctx: TaskContext, body: etree._Element | None) -> ExecutePackageSettings:
    fields: dict[str, str] = {}
    assignments: list[tuple[str, str]] = []
    for child in body if body is not None else ():
        if not isinstance(child.tag, str):
            continue
        name = child.tag.rsplit("}", 1)[-1]
        if name == "ParameterAssignment":
            param = (child.findtext("ParameterName") or "").strip()
            bound = (child.findtext("BindedVariableOrParameterName") or "").strip()
            if param:
                assignments.append((param, bound))
        else:
            fields[name] = (child.text or "").strip()
    return ExecutePackageSettings(
        use_project_reference=_truthy(ctx.property("UseProjectReference",
                                                   fields.get("UseProjectReference", ""))),
        package_name=str(ctx.property("PackageName", fields.get("PackageName", ""))).strip(),
        connection=str(ctx.property("Connection", fields.get("Connection", ""))).strip(),
        execute_out_of_process=_truthy(ctx.property("ExecuteOutOfProcess",
                                                    fields.get("ExecuteOutOfProcess", ""))),
        package_password=str(ctx.property("PackagePassword",
                                          fields.get("PackagePassword", ""))),
        assignments=assignments,
    )


# --------------------------------------------------------------------------- the child


@dataclass(slots=True)
class ChildRef:
    """The child package, loaded, and how a separate process would name it."""

    package: Package
    #: what the recursion guard compares: the resolved file (or ``x.ispac!/P.dtsx``)
    key: str
    #: ``exec`` arguments naming the child
    args: list[str]
    #: the password the child was decrypted with, when it has its own
    password: str | None = None


def package_key(package: Package) -> str:
    container, sep, member = package.source.partition("!/")
    try:
        resolved = str(Path(container).resolve())
    except OSError:
        resolved = container
    return f"{resolved}!/{member.lower()}" if sep else resolved


def parent_folder(package: Package) -> Path:
    container = package.source.partition("!/")[0]
    return Path(container).resolve().parent if container else Path.cwd()


def load_child(ctx: TaskContext, settings: ExecutePackageSettings) -> ChildRef:
    from ssisrun.dtsx import load_package
    from ssisrun.project import find_project_for, load_project, load_project_package

    parent = ctx.engine.package
    if settings.use_project_reference:
        if not settings.package_name:
            raise ChildPackageError(E_SETTINGS, "the Execute Package task uses a project "
                                    "reference but names no package (PackageName)")
        project = parent.project
        if project is None:
            raise ChildPackageError(
                E_SETTINGS, f"runs project package '{settings.package_name}', but the package "
                "was loaded without its project: give --project PATH --package NAME, or keep "
                "the .dtproj beside the package")
        try:
            child = load_project_package(project, settings.package_name)
        except SsisrunError as exc:
            raise ChildPackageError(E_NOT_FOUND, f"cannot load the child package: {exc}") \
                from None
        return ChildRef(child, package_key(child),
                        ["--project", project.source, "--package", settings.package_name])
    if not settings.connection:
        raise ChildPackageError(E_SETTINGS, "the Execute Package task names no child package "
                                "(neither a project reference nor a Connection)")
    try:
        cm, text = ctx.connection(settings.connection)
    except SsisrunError as exc:
        raise ChildPackageError(E_SETTINGS, str(exc)) from None
    if cm.kind != "FILE":
        name = f" '{settings.package_name}'" if settings.package_name else ""
        raise ChildPackageError(
            E_SETTINGS, f"runs package{name} stored in SQL Server through connection manager "
            f"'{cm.name}' ({cm.kind}); ssisrun runs packages from files: point a File "
            "connection manager at the .dtsx (--conn or --set)")
    original = text.strip().strip('"')
    if not original:
        raise ChildPackageError(E_SETTINGS, f"the File connection manager '{cm.name}' has no "
                                "path")
    mapped = ctx.map_path(original)
    path = Path(mapped)
    if not path.is_absolute():
        path = parent_folder(parent) / path
    if not path.is_file():
        shown = str(path) if mapped == original else f"{path} (mapped from {original})"
        raise ChildPackageError(E_NOT_FOUND, f"the child package {shown} does not exist "
                                f"(connection manager '{cm.name}'); map Windows paths with "
                                "--path-map")
    try:
        child = load_package(path, password=settings.package_password or None)
        found = find_project_for(path)
        if found is not None:
            child.project = load_project(found)
    except SsisrunError as exc:
        raise ChildPackageError(E_NOT_FOUND, f"cannot load the child package: {exc}") from None
    return ChildRef(child, package_key(child), [str(path)],
                    settings.package_password or None)


def callers(ctx: TaskContext) -> list[str]:
    """The packages running this task, outermost first (keys as :func:`package_key`): a
    child's package scope continues into its parent's scopes, so the scope chain passes
    through every package of the run; an out-of-process child inherits the rest."""
    chain: list[str] = []
    node: Scope | None = ctx.scope
    while node is not None:
        if isinstance(node.exe, Package):
            chain.append(package_key(node.exe))
        node = node.parent
    inherited = [p for p in os.environ.get(CALLERS_ENV, "").split(os.pathsep) if p]
    return inherited + list(reversed(chain))


def bind_parameters(ctx: TaskContext, settings: ExecutePackageSettings,
                    child: Package) -> dict[str, Any]:
    """``$Package::Name`` -> value for each ParameterAssignment."""
    values: dict[str, Any] = {}
    params = {p.name: p for p in child.parameters}
    for name, bound in settings.assignments:
        plain = name.split("::", 1)[1] if name.startswith("$Package::") else name
        param = params.get(plain)
        if param is None:
            listing = ", ".join(sorted(params)) or "none"
            raise ChildPackageError(E_BINDING, f"the child package {child.name} has no "
                                    f"parameter '{plain}' (its parameters: {listing})")
        var = ctx.scope.find(bound) if bound else None
        if var is None:
            raise ChildPackageError(E_BINDING, f"parameter '{plain}' of {child.name} is bound "
                                    f"to '{bound}', which does not exist in the scope of "
                                    f"{ctx.host.path}")
        values[param.qualified_name] = ctx.scope.value_of(var)
    return values


def child_request(ctx: TaskContext, child: ChildRef) -> RunRequest:
    from ssisrun.runtime.request import RunRequest

    parent = ctx.engine.request
    request = RunRequest(connections=dict(parent.connections), path_map=list(parent.path_map),
                         max_concurrent=parent.max_concurrent,
                         scripts={k: v for k, v in parent.scripts.items()
                                  if k.rpartition(":\\")[1]})
    if parent.save_checkpoints is False:
        request.save_checkpoints = False
    if parent.checkpoint_usage == 0:
        request.checkpoint_usage = 0
    return request


# --------------------------------------------------------------------------- the task


class ExecutePackageTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        try:
            settings = read_settings(ctx, object_data_body(self.host))
            child = load_child(ctx, settings)
            chain = callers(ctx)
            if child.key in chain:
                names = " -> ".join(Path(k.partition("!/")[2] or k).name
                                    for k in [*chain[chain.index(child.key):], child.key])
                raise ChildPackageError(E_RECURSION, f"the package {child.package.name} would "
                                        f"run itself ({names}); SSIS would never finish")
            values = bind_parameters(ctx, settings, child.package)
        except ChildPackageError as exc:
            ctx.error(exc.code, str(exc))
            return TaskOutcome(ExecResult.Failure)
        if settings.execute_out_of_process:
            return self._out_of_process(ctx, child, values, chain)
        return self._in_process(ctx, child, values)

    # ---- in process

    def _in_process(self, ctx: TaskContext, child: ChildRef,
                    values: dict[str, Any]) -> TaskOutcome:
        from ssisrun.runtime.engine import Engine

        parent = ctx.engine
        host = self.host
        for param in child.package.parameters:
            if param.qualified_name in values:
                param.value = values[param.qualified_name]
        prefix = f"{host.path}\\{child.package.name}"

        def forward(event: Event) -> None:
            if event.kind in (EventKind.PackageStarted, EventKind.PackageFinished):
                return
            path = event.source_path
            path = prefix + path[len("\\Package"):] if path.startswith("\\Package") else path
            parent.bus.publish(replace(event, source_path=path))

        def relay(event: Event) -> None:
            if event.kind.value in HANDLED_EVENTS:
                parent.relay_event(host, event)

        bus = EventBus()
        bus.subscribe(forward)
        errors_before = parent.error_counts.get(id(host), 0)
        try:
            engine = Engine(child.package, child_request(ctx, child), bus,
                            parent_scope=ctx.scope, cancel_event=ctx.cancelled)
        except SsisrunError as exc:
            ctx.error(E_CHILD_FAILED, f"the child package {child.package.name} cannot start: "
                      f"{exc}")
            return TaskOutcome(ExecResult.Failure)
        engine.on_propagated = relay
        result = engine.run()
        if result.result == ExecResult.Canceled:
            return TaskOutcome(ExecResult.Canceled)
        if result.result == ExecResult.Failure:
            if parent.error_counts.get(id(host), 0) == errors_before:
                ctx.error(E_CHILD_FAILED, f"the child package {child.package.name} failed "
                          f"({result.errors} error(s))")
            return TaskOutcome(ExecResult.Failure)
        return TaskOutcome(ExecResult.Success)

    # ---- out of process

    def _out_of_process(self, ctx: TaskContext, child: ChildRef, values: dict[str, Any],
                        chain: list[str]) -> TaskOutcome:
        request = child_request(ctx, child)
        argv = [sys.executable, "-m", "ssisrun", "exec", "--plain", "--reporting", "EW",
                *child.args]
        for name, value in values.items():
            argv += ["--param", f"{name}={_as_text(value)}"]
        for name, text in request.connections.items():
            argv += ["--conn", f"{name}={text}"]
        for prefix, target in request.path_map:
            argv += ["--path-map", f"{prefix}={target}"]
        for key, file in ctx.engine.request.scripts.items():
            owner, sep, path = key.rpartition(":\\")
            if sep and _names_package(owner, child.package):
                argv += ["--script", f"\\{path}={os.path.abspath(file)}"]
            elif sep:
                argv += ["--script", f"{key}={os.path.abspath(file)}"]
        if request.max_concurrent:
            argv += ["--max-concurrent", str(request.max_concurrent)]
        if request.checkpoint_usage == 0:
            argv += ["--checkpointing", "off"]
        env = dict(os.environ)
        env[CALLERS_ENV] = os.pathsep.join([*chain, child.key])
        if child.password is not None:
            env[PASSWORD_ENV] = child.password
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError as exc:
            ctx.error(E_OUT_OF_PROCESS, f"cannot start {argv[0]}: {exc}")
            return TaskOutcome(ExecResult.Failure)
        output: list[bytes] = []

        def read() -> None:
            if proc.stdout is not None:
                output.append(proc.stdout.read())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        cancelled = False
        while proc.poll() is None:
            if ctx.cancelled.is_set() and not cancelled:
                from ssisrun.tasks.execute_process import stop_process_group

                cancelled = True
                stop_process_group(proc)
            time.sleep(POLL_INTERVAL)
        reader.join(5)
        text = b"".join(output).decode("utf-8", "replace")
        blocks = parse_dtexec_blocks(text)
        for kind, code, source, description in blocks:
            message = f"{child.package.name}\\{source}: {description}"
            if kind == "Error":
                ctx.error(code, message)
            else:
                ctx.warning(code, message)
        code = proc.returncode
        if cancelled or code == 3:
            return TaskOutcome(ExecResult.Canceled)
        if code != 0:
            if not any(b[0] == "Error" for b in blocks):
                tail = " ".join(text.strip().splitlines()[-3:])
                ctx.error(E_OUT_OF_PROCESS, f"the child package {child.package.name} ran out "
                          f"of process and exited with code {code}: {tail}")
            return TaskOutcome(ExecResult.Failure, code)
        return TaskOutcome(ExecResult.Success, code)


def _names_package(name: str, package: Package) -> bool:
    low = name.lower().removesuffix(".dtsx")
    stem = Path(package.source.partition("!/")[2] or package.source).stem.lower()
    return low in (package.name.lower(), stem)


def _as_text(value: Any) -> str:
    """A value as ``--param`` reads it back."""
    from datetime import datetime

    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def parse_dtexec_blocks(text: str) -> list[tuple[str, int, str, str]]:
    """The Error and Warning blocks of dtexec's console output:
    ``(kind, code, source, description)``."""
    blocks: list[tuple[str, int, str, str]] = []
    kind = ""
    code = 0
    source = ""
    description: list[str] = []
    for line in text.splitlines():
        head = line.split(":", 1)[0]
        if not kind and head in ("Error", "Warning") and line[len(head):].startswith(": "):
            kind, code, source, description = head, 0, "", []
        elif kind and line.strip() == f"End {kind}":
            blocks.append((kind, code, source, "\n".join(description).strip()))
            kind = ""
        elif kind and line.startswith("   Code: 0x"):
            try:
                code = int(line.split("0x", 1)[1].strip(), 16)
            except ValueError:
                code = 0
        elif kind and line.startswith("   Source: "):
            source = line[len("   Source: "):].strip()
        elif kind and line.startswith("   Description: "):
            description = [line[len("   Description: "):]]
        elif kind and description:
            description.append(line)
    return blocks
