"""The Script Task, in Python.

SSIS's Script Task holds C# or Visual Basic (``ScriptProject``, spec ssis-runtime.md 5.12),
which needs .NET and SSIS's ``Dts`` object model. ssisrun runs Python instead, with a
``Dts`` object shaped like SSIS's, from one of these places (the first found wins):

1. ``--script '\\Package\\Load\\Fix names=fix_names.py'`` on the command line (repeatable;
   ``Child:\\Package\\Task=file.py`` targets a task of the child package ``Child`` that an
   Execute Package task runs);
2. the sidecar folder beside the package: ``<package stem>.scripts/<task path>.py``, where
   the task path is the path below ``\\Package`` with each ``\\`` replaced by ``_``
   (``Load.dtsx`` and ``\\Package\\Load\\Fix names`` give ``Load.scripts/Load_Fix names.py``;
   a task directly in the package is ``Load.scripts/<task name>.py``);
3. the task itself, when it is an ssisrun Python script task: a ``ScriptProject`` with
   ``Language="Python"`` whose ``ProjectItem Name="ScriptMain.py"`` holds the code.

A C# task without a Python replacement is compiled and run through Mono
(:mod:`ssisrun.scripting`); a Visual Basic one needs a replacement.

The Python defines ``main(Dts)``. ``Dts`` offers ``Dts.Variables["User::X"].Value`` (only the
variables the task lists in ReadOnlyVariables / ReadWriteVariables, as in SSIS; writing a
read-only one fails), ``Dts.TaskResult = Dts.Results.Success`` / ``Failure`` (Success when
the script does not set it), ``Dts.Events.FireInformation/FireWarning/FireError/FireProgress``,
``Dts.Connections["Name"].ConnectionString`` and ``.AcquireConnection()`` and
``Dts.ExecutionValue``. An exception in the script fails the task with its message and the
script's line; it never stops the run.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.scripting.project import entry_method, language_name
from ssisrun.tasks import Task, TaskOutcome, object_data_body

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.model import ConnectionManager, Package, TaskHost
    from ssisrun.runtime.context import TaskContext
    from ssisrun.runtime.variables import RuntimeVariable

E_NO_REPLACEMENT = 0xC0029200
E_SCRIPT = 0xC0029201
E_LOAD = 0xC0029202

#: the file name of an ssisrun Python script task's code
PYTHON_ITEM = "ScriptMain.py"


class ScriptSetupError(SsisrunError):
    """The script cannot be found or loaded (no replacement, a missing file, bad syntax)."""


# --------------------------------------------------------------------------- settings


@dataclass(slots=True)
class ScriptProject:
    """What a Script task's ``ScriptProject`` says."""

    language: str = ""
    entry_point: str = ""
    read_only: list[str] = field(default_factory=list)
    read_write: list[str] = field(default_factory=list)
    #: ProjectItem name -> text
    items: dict[str, str] = field(default_factory=dict)

    @property
    def language_name(self) -> str:
        """``C#``, ``VB``, ``Python`` or the language as written."""
        return language_name(self.language)

    @property
    def is_python(self) -> bool:
        return self.language_name == "Python"

    @property
    def entry(self) -> str:
        """The .NET entry point: ``ScriptMain.Main`` (v3+ write the method, v2 the class)."""
        return entry_method(self.entry_point)

    def python_source(self) -> str | None:
        for name, text in self.items.items():
            if name.replace("\\", "/").rsplit("/", 1)[-1].lower() == PYTHON_ITEM.lower():
                return text
        return None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def read_script_project(body: etree._Element | None) -> ScriptProject:
    if body is None:
        return ScriptProject()
    project = ScriptProject(
        language=body.get("Language") or "",
        entry_point=body.get("EntryPoint") or "",
        read_only=_names(body.get("ReadOnlyVariables") or ""),
        read_write=_names(body.get("ReadWriteVariables") or ""),
    )
    for item in body:
        if isinstance(item.tag, str) and item.tag.rsplit("}", 1)[-1] == "ProjectItem":
            project.items[item.get("Name") or ""] = item.text or ""
    return project


# --------------------------------------------------------------------------- finding the code


def sidecar_name(task_path: str) -> str:
    """``\\Package\\Load\\Fix names`` -> ``Load_Fix names.py``."""
    rest = task_path[len("\\Package\\"):] if task_path.startswith("\\Package\\") else task_path
    return rest.replace("\\", "_").replace("/", "_").replace("\0", "_") + ".py"


def sidecar_folder(package: Package) -> Path | None:
    """``<folder>/<package stem>.scripts`` beside the package file (or the .ispac)."""
    source = package.source
    if not source:
        return None
    container, sep, member = source.partition("!/")
    stem = Path(member if sep else container).stem
    return Path(container).parent / f"{stem}.scripts"


def override_key(package: Package, task_path: str, scripts: Mapping[str, str],
                 top: bool) -> str | None:
    """The ``--script`` key that names this task: ``\\Package\\Task`` for the package the
    run started with, ``Name:\\Package\\Task`` for any package called ``Name``."""
    names = {package.name.lower()}
    if package.source:
        names.add(Path(package.source.partition("!/")[2] or package.source).stem.lower())
    for key in scripts:
        prefix, sep, path = key.rpartition(":\\")
        if sep:
            path = "\\" + path
            if prefix.lower() not in names and not (prefix.lower().endswith(".dtsx")
                                                    and prefix[:-5].lower() in names):
                continue
        elif not top:
            continue
        else:
            path = key
        if path.lower() == task_path.lower():
            return key
    return None


@dataclass(slots=True)
class ScriptSource:
    """Where a task's Python comes from."""

    text: str
    filename: str
    #: "--script", "sidecar" or "embedded"
    origin: str


def find_script(package: Package, host: TaskHost, project: ScriptProject,
                scripts: Mapping[str, str], top: bool = True) -> ScriptSource | None:
    """The Python to run for a Script task, or None when there is none."""
    key = override_key(package, host.path, scripts, top)
    if key is not None:
        file = Path(os.path.expanduser(scripts[key]))
        try:
            return ScriptSource(file.read_text(encoding="utf-8-sig"), str(file), "--script")
        except OSError as exc:
            raise ScriptSetupError(f"--script {key}: cannot read {file}: "
                                   f"{exc.strerror or exc}") from None
    folder = sidecar_folder(package)
    if folder is not None:
        file = folder / sidecar_name(host.path)
        if file.is_file():
            try:
                return ScriptSource(file.read_text(encoding="utf-8-sig"), str(file), "sidecar")
            except OSError as exc:
                raise ScriptSetupError(f"cannot read {file}: {exc.strerror or exc}") from None
    if project.is_python:
        text = project.python_source()
        if text is not None:
            return ScriptSource(text, f"{package.source or 'package'}[{host.path}]/{PYTHON_ITEM}",
                                "embedded")
    return None


def missing_message(package: Package, host: TaskHost, project: ScriptProject) -> str:
    """Why a Script task cannot run, and the two ways to give it Python."""
    folder = sidecar_folder(package)
    where = str(folder / sidecar_name(host.path)) if folder else sidecar_name(host.path)
    if project.is_python:
        return (f"the Python Script Task {host.path} has no {PYTHON_ITEM} item; give "
                f"--script '{host.path}=file.py' or put the file at {where}")
    why = (" (Visual Basic scripts are not compiled: Mono on Linux has no VB compiler)"
           if project.language_name == "VB" else "")
    return (f"no Python replacement for the {project.language_name} Script Task {host.path} "
            f"(entry point {project.entry}){why}; give --script '{host.path}=file.py' or put "
            f"file.py in the sidecar folder as {where}")


def _way_out(package: Package, host: TaskHost) -> str:
    folder = sidecar_folder(package)
    where = str(folder / sidecar_name(host.path)) if folder else sidecar_name(host.path)
    return (f"Give it a Python replacement: --script '{host.path}=file.py' or the file "
            f"{where}")


def check_script_task(package: Package, host: TaskHost,
                      scripts: Mapping[str, str]) -> str | None:
    """A message when the Script task cannot run (for ``ssisrun validate``), else None."""
    project = read_script_project(object_data_body(host))
    try:
        source = find_script(package, host, project, scripts)
    except ScriptSetupError as exc:
        return str(exc)
    if source is None:
        if project.language_name == "C#":
            from ssisrun.scripting import check_csharp_task

            return check_csharp_task(package, host, _way_out(package, host))
        return missing_message(package, host, project)
    try:
        compile(source.text, source.filename, "exec")
    except SyntaxError as exc:
        return f"{source.filename}:{exc.lineno}: the script does not compile: {exc.msg}"
    return None


def unknown_overrides(package: Package, scripts: Mapping[str, str]) -> list[str]:
    """``--script`` keys for the package itself (no ``Child:`` prefix) that name no Script
    task of it."""
    paths = {exe.path.lower() for exe in package.walk()
             if exe.executable_type == "Microsoft.ScriptTask"}
    return [key for key in scripts
            if not key.rpartition(":\\")[1] and key.lower() not in paths]


# --------------------------------------------------------------------------- Dts


class ScriptResults(IntEnum):
    """``Dts.Results``: what a script sets ``Dts.TaskResult`` to."""

    Success = 0
    Failure = 1


class DtsError(Exception):
    """What the ``Dts`` object raises when a script uses it wrongly (SSIS raises a
    ``DtsRuntimeException`` there)."""


class DtsVariable:
    """``Dts.Variables["User::X"]``."""

    def __init__(self, ctx: TaskContext, var: RuntimeVariable, writable: bool) -> None:
        self._ctx = ctx
        self._var = var
        self._writable = writable

    @property
    def Name(self) -> str:
        return self._var.name

    @property
    def Namespace(self) -> str:
        return self._var.namespace

    @property
    def QualifiedName(self) -> str:
        return self._var.qualified_name

    @property
    def ReadOnly(self) -> bool:
        return not self._writable or self._var.read_only

    @property
    def Value(self) -> Any:
        return self._ctx.scope.value_of(self._var)

    @Value.setter
    def Value(self, value: Any) -> None:
        if not self._writable:
            raise DtsError(f"the variable {self._var.qualified_name} is in the task's "
                           "ReadOnlyVariables; list it in ReadWriteVariables to change it")
        try:
            self._ctx.scope.store.assign(self._var, value, self._ctx.scope)
        except SsisrunError as exc:
            raise DtsError(str(exc)) from None

    def __repr__(self) -> str:
        return f"<Variable {self._var.qualified_name}={self.Value!r}>"


class DtsVariables:
    """``Dts.Variables``: the variables the task lists, by qualified or plain name."""

    def __init__(self, ctx: TaskContext, project: ScriptProject) -> None:
        self._ctx = ctx
        self._listed: list[tuple[str, bool]] = (
            [(n, False) for n in project.read_only] + [(n, True) for n in project.read_write])

    def _match(self, name: str) -> tuple[str, bool] | None:
        key = name.strip()
        if key.startswith("@[") and key.endswith("]"):
            key = key[2:-1]
        ns, sep, plain = key.rpartition("::")
        found: tuple[str, bool] | None = None
        for listed, writable in self._listed:
            lns, lsep, lplain = listed.rpartition("::")
            same = listed == key if sep and lsep else lplain == plain
            if same and (found is None or writable):
                found = (listed, writable)
        return found

    def __getitem__(self, name: str) -> DtsVariable:
        match = self._match(name)
        if match is None:
            raise DtsError(f"the variable {name} is not in the Script task's ReadOnlyVariables "
                           "or ReadWriteVariables (SSIS: the element cannot be found in a "
                           "collection)")
        var = self._ctx.scope.find(match[0])
        if var is None:
            raise DtsError(f"the variable {match[0]} does not exist in the scope of "
                           f"{self._ctx.host.path}")
        return DtsVariable(self._ctx, var, match[1])

    def Contains(self, name: str) -> bool:
        match = self._match(name)
        return match is not None and self._ctx.scope.find(match[0]) is not None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.Contains(name)

    def __iter__(self) -> Iterator[DtsVariable]:
        for listed, _ in self._listed:
            if self._ctx.scope.find(listed) is not None:
                yield self[listed]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def Count(self) -> int:
        return len(self)


class DtsConnection:
    """``Dts.Connections["Name"]``."""

    def __init__(self, ctx: TaskContext, cm: ConnectionManager, text: str) -> None:
        self._ctx = ctx
        self._cm = cm
        self.ConnectionString = text
        self.Name = cm.name
        self.CreationName = cm.creation_name

    def AcquireConnection(self, transaction: Any = None) -> Any:
        """For file connection managers, the file's path on this machine; for others, the
        connection string (open it with the driver of your choice)."""
        if self._cm.kind in ("FILE", "FLATFILE", "MULTIFILE", "MULTIFLATFILE"):
            return self._ctx.map_path(self.ConnectionString)
        return self.ConnectionString

    def ReleaseConnection(self, connection: Any) -> None:
        return None

    def __repr__(self) -> str:
        return f"<Connection {self.Name}>"


class DtsConnections:
    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx

    def __getitem__(self, name: str) -> DtsConnection:
        try:
            cm, text = self._ctx.connection(name)
        except SsisrunError as exc:
            raise DtsError(str(exc)) from None
        return DtsConnection(self._ctx, cm, text)

    def Contains(self, name: str) -> bool:
        return self._ctx.engine.package.find_connection_manager(name) is not None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.Contains(name)


class DtsEvents:
    """``Dts.Events``: SSIS's ``IDTSComponentEvents``."""

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx
        #: how many errors the script raised
        self.errors = 0

    def _text(self, sub_component: str, description: str) -> str:
        sub = str(sub_component or "")
        if sub and sub != self._ctx.host.name:
            return f"{sub}: {description}"
        return str(description)

    def FireInformation(self, informationCode: int, subComponent: str,
                        description: str, helpFile: str = "", helpContext: int = 0,
                        fireAgain: bool = True) -> bool:
        self._ctx.information(int(informationCode), self._text(subComponent, description))
        return True

    def FireWarning(self, warningCode: int, subComponent: str,
                    description: str, helpFile: str = "", helpContext: int = 0) -> None:
        self._ctx.warning(int(warningCode), self._text(subComponent, description))

    def FireError(self, errorCode: int, subComponent: str,
                  description: str, helpFile: str = "", helpContext: int = 0) -> None:
        self.errors += 1
        self._ctx.error(int(errorCode), self._text(subComponent, description))

    def FireProgress(self, progressDescription: str, percentComplete: int,
                     progressCountLow: int = 0, progressCountHigh: int = 0,
                     subComponent: str = "", fireAgain: bool = True) -> bool:
        self._ctx.progress(self._text(subComponent, progressDescription), int(percentComplete))
        return True

    def FireQueryCancel(self) -> bool:
        """True when the run is being cancelled (Ctrl-C): the script should stop."""
        return self._ctx.cancelled.is_set()


class Dts:
    """The object a script's ``main(Dts)`` receives."""

    Results = ScriptResults

    def __init__(self, ctx: TaskContext, project: ScriptProject) -> None:
        self.Variables = DtsVariables(ctx, project)
        self.Connections = DtsConnections(ctx)
        self.Events = DtsEvents(ctx)
        self.TaskResult: Any = ScriptResults.Success
        self.ExecutionValue: Any = None
        self._ctx = ctx

    def Log(self, messageText: str, dataCode: int = 0,
            dataBytes: bytes = b"") -> None:
        self._ctx.information(int(dataCode), str(messageText))


# --------------------------------------------------------------------------- the task


def _task_result(value: Any) -> ExecResult:
    if isinstance(value, ScriptResults):
        return ExecResult.Success if value == ScriptResults.Success else ExecResult.Failure
    if isinstance(value, ExecResult):
        return value
    if isinstance(value, bool):
        return ExecResult.Success if value else ExecResult.Failure
    if isinstance(value, int) and value in (0, 1, 2, 3):
        return ExecResult(value)
    raise DtsError(f"Dts.TaskResult must be Dts.Results.Success or Dts.Results.Failure, "
                   f"not {value!r}")


def _where(exc: BaseException, filename: str) -> str:
    """``file:line`` of the deepest frame of the script itself (else the deepest frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename == filename]
    frame = mine[-1] if mine else (frames[-1] if frames else None)
    if frame is None:
        return filename
    return f"{frame.filename}:{frame.lineno}"


class ScriptTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        engine = ctx.engine
        package = engine.package
        project = read_script_project(object_data_body(self.host))
        top = engine.parent_scope is None
        try:
            source = find_script(package, self.host, project, engine.request.scripts, top)
        except ScriptSetupError as exc:
            ctx.error(E_LOAD, str(exc))
            return TaskOutcome(ExecResult.Failure)
        if source is None:
            if project.language_name == "C#":
                from ssisrun.scripting import run_csharp_script

                return run_csharp_script(ctx, self.host)
            ctx.error(E_NO_REPLACEMENT, missing_message(package, self.host, project))
            return TaskOutcome(ExecResult.Failure)
        dts = Dts(ctx, project)
        namespace: dict[str, Any] = {"__name__": "ssisrun_script", "__file__": source.filename}
        try:
            code = compile(source.text, source.filename, "exec")
        except SyntaxError as exc:
            ctx.error(E_LOAD, f"{source.filename}:{exc.lineno}: the script does not compile: "
                      f"{exc.msg}")
            return TaskOutcome(ExecResult.Failure)
        try:
            exec(code, namespace)  # running the user's script is the point
            main = namespace.get("main")
            if not callable(main):
                ctx.error(E_LOAD, f"{source.filename} defines no main(Dts) function")
                return TaskOutcome(ExecResult.Failure)
            main(dts)
            result = _task_result(dts.TaskResult)
        except (Exception, SystemExit) as exc:
            message = str(exc) or type(exc).__name__
            if not isinstance(exc, DtsError):
                message = f"{type(exc).__name__}: {message}"
            ctx.error(E_SCRIPT, f"the script failed at {_where(exc, source.filename)}: "
                      f"{message}")
            return TaskOutcome(ExecResult.Failure)
        if result == ExecResult.Failure and not dts.Events.errors:
            # say why the task failed (and count it, as SSIS's error count would)
            ctx.error(E_SCRIPT, "the script set Dts.TaskResult to Failure")
        return TaskOutcome(result, dts.ExecutionValue)
