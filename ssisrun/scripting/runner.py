"""Running one C# Script Task: compile (or take from the cache), send it to the run's
script host with its variables and connections, turn what comes back into ssisrun events,
variable values and the task's result."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.scripting.check import blockers
from ssisrun.scripting.compiler import (
    CompiledScript,
    CompileError,
    MonoMissingError,
    binary_assembly,
    compile_project,
)
from ssisrun.scripting.connections import acquire_for
from ssisrun.scripting.project import CSharpProject, task_project
from ssisrun.scripting.values import TYPE_NAMES, decode_object, decode_value, encode_value
from ssisrun.scripting.worker import WorkerError, checkin, checkout
from ssisrun.tasks import TaskOutcome

if TYPE_CHECKING:
    from ssisrun.model import TaskHost
    from ssisrun.runtime.context import TaskContext
    from ssisrun.runtime.variables import RuntimeVariable

E_SCRIPT = 0xC0029201
E_LOAD = 0xC0029202
E_COMPILE = 0xC0029203

#: SSIS's text for an exception that a script's entry point throws
INVOCATION = "Exception has been thrown by the target of an invocation."

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[^\\])")


def _variable_entry(ctx: TaskContext, var: RuntimeVariable, access: str) -> dict[str, Any]:
    value = ctx.scope.value_of(var)
    if isinstance(value, str) and _WINDOWS_PATH.match(value):
        value = ctx.map_path(value)
    return {"ns": var.namespace, "name": var.name,
            "type": TYPE_NAMES.get(var.data_type, "Object"),
            "value": encode_value(var.data_type, value), "access": access}


def _visible(ctx: TaskContext) -> list[RuntimeVariable]:
    """Every variable and parameter the task can see, nearest scope first."""
    seen: dict[str, RuntimeVariable] = {}
    node = ctx.scope
    while node is not None:
        for var in node.own.values():
            seen.setdefault(var.qualified_name, var)
        node = node.parent  # type: ignore[assignment]
    for var in ctx.scope.store.globals.values():
        seen.setdefault(var.qualified_name, var)
    return list(seen.values())


def build_request(ctx: TaskContext, project: CSharpProject,
                  script: CompiledScript) -> dict[str, Any]:
    """The JSON request for the script host. Raises SsisrunError for a listed variable that
    does not exist."""
    variables: list[dict[str, Any]] = []
    listed: set[str] = set()
    for names, access in ((project.read_write, "write"), (project.read_only, "read")):
        for name in names:
            var = ctx.scope.find(name)
            if var is None:
                raise SsisrunError(f"the variable {name} in the script's "
                                   f"{'ReadWrite' if access == 'write' else 'ReadOnly'}"
                                   f"Variables does not exist in the scope of {ctx.host.path}")
            if var.qualified_name in listed:
                continue
            listed.add(var.qualified_name)
            writable = access == "write" and not var.read_only and not var.expression \
                and not var.namespace.startswith("$")
            variables.append(_variable_entry(ctx, var, "write" if writable else "read"))
    for var in _visible(ctx):
        if var.qualified_name in listed:
            continue
        try:
            variables.append(_variable_entry(ctx, var, "dispenser"))
        except SsisrunError:
            continue
    connections = []
    package = ctx.engine.package
    for cm in package.all_connection_managers():
        try:
            _, text = ctx.connection(cm.dtsid or cm.name)
        except SsisrunError:
            text = cm.connection_string
        acquire = acquire_for(cm, text, ctx.map_path)
        connections.append({"name": cm.name, "creationName": cm.creation_name,
                            "id": cm.dtsid, "connectionString": text,
                            "description": cm.description, "acquire": acquire.kind,
                            "acquireValue": acquire.value})
    return {
        "assembly": str(script.assembly), "binary": script.binary,
        "entryPoint": project.entry, "taskName": ctx.host.name,
        "variables": variables, "connections": connections,
        "pathMap": [[prefix, target] for prefix, target in ctx.engine.request.path_map],
    }


def _text(ctx: TaskContext, sub: str, description: str) -> str:
    if sub and sub != ctx.host.name:
        return f"{sub}: {description}"
    return description


class _Events:
    """Turns the script host's events into the task's events, as they happen."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.errors = 0

    def __call__(self, event: dict[str, Any]) -> None:
        ctx = self.ctx
        kind = str(event.get("kind", ""))
        code = int(event.get("code") or 0)
        text = _text(ctx, str(event.get("subComponent") or ""),
                     str(event.get("description") or ""))
        if kind == "Error":
            self.errors += 1
            ctx.error(code, text)
        elif kind == "Warning":
            ctx.warning(code, text)
        elif kind == "Progress":
            ctx.progress(text, int(event.get("percent") or 0))
        elif kind == "MessageBox":
            caption = str(event.get("subComponent") or "")
            shown = str(event.get("description") or "")
            ctx.information(0, f"MessageBox.Show{f' [{caption}]' if caption else ''}: {shown}")
        elif kind == "Log":
            ctx.information(code, f"Dts.Log: {text}")
        else:  # Information, Custom:<name>
            prefix = kind[len("Custom:"):] + ": " if kind.startswith("Custom:") else ""
            ctx.information(code, prefix + text)


def _where(trace: str) -> str:
    for line in trace.splitlines():
        line = line.strip()
        if line.startswith("at ") and "ScriptMain" in line:
            return f" ({line})"
    return ""


def prepare(ctx: TaskContext, project: CSharpProject) -> CompiledScript | None:
    """The assembly to run: compiled source (cached), else the package's BinaryItem. Reports
    why there is none as the task's error."""
    found = blockers(project, ctx.engine.package, check_mono=False)
    try:
        script = compile_project(project)
    except MonoMissingError as exc:
        ctx.error(E_LOAD, f"{exc}; or give the task a Python replacement (--script)")
        return None
    except CompileError as exc:
        fallback = binary_assembly(project) if not found else None
        details = "; ".join(exc.diagnostics[:5])
        if fallback is not None:
            ctx.warning(E_COMPILE, f"the script does not compile with Mono ({details}); "
                        "running the assembly SSIS compiled, stored in the package")
            return fallback
        reason = "; ".join(b.reason for b in found)
        ctx.error(E_COMPILE, f"the C# script of {ctx.host.path} does not compile with Mono: "
                  f"{details}" + (f" ({reason})" if reason else "")
                  + "; give the task a Python replacement (--script)")
        return None
    if script.compiled_now and script.rewritten:
        ctx.information(0, f"{script.rewritten} Windows path literal(s) in the script go "
                        "through the path map")
    return script


def run_csharp_script(ctx: TaskContext, host: TaskHost) -> TaskOutcome:
    """Run a C# Script Task through Mono (its Python replacement, if any, wins before this)."""
    project = task_project(host)
    if project.is_empty:
        ctx.error(E_LOAD, "The binary code for the script is not found: the Script task has no "
                  "code (it was never edited)")
        return TaskOutcome(ExecResult.Failure)
    script = prepare(ctx, project)
    if script is None:
        return TaskOutcome(ExecResult.Failure)
    try:
        request = build_request(ctx, project, script)
    except SsisrunError as exc:
        ctx.error(E_LOAD, str(exc))
        return TaskOutcome(ExecResult.Failure)
    events = _Events(ctx)
    try:
        worker = checkout(ctx.engine)
    except (SsisrunError, OSError) as exc:
        ctx.error(E_LOAD, f"cannot start the C# script host: {exc}")
        return TaskOutcome(ExecResult.Failure)
    try:
        done = worker.run(request, events, ctx.cancelled)
    except WorkerError as exc:
        worker.close()
        if ctx.cancelled.is_set():
            return TaskOutcome(ExecResult.Canceled)
        ctx.error(E_SCRIPT, f"the C# script failed: {exc}")
        return TaskOutcome(ExecResult.Failure)
    finally:
        checkin(worker)
    return _finish(ctx, done, events)


def _finish(ctx: TaskContext, done: dict[str, Any], events: _Events) -> TaskOutcome:
    for key in ("hostError", "loadError"):
        if done.get(key):
            ctx.error(E_LOAD, f"the C# script cannot be run: {done[key]}")
            return TaskOutcome(ExecResult.Failure)
    console = str(done.get("console") or "").strip()
    if console:
        ctx.information(0, f"the script wrote: {console}")
    failed = False
    for item in done.get("variables") or []:
        name = f"{item['ns']}::{item['name']}"
        var = ctx.scope.find(name)
        if var is None:
            continue
        try:
            ctx.scope.store.assign(var, decode_value(var.data_type, item.get("value")), ctx.scope)
        except SsisrunError as exc:
            ctx.error(E_SCRIPT, f"the script's value for {name} cannot be stored: {exc}")
            failed = True
    exception = done.get("exception")
    if exception:
        ctx.error(E_SCRIPT, f"{INVOCATION} {exception.get('type')}: {exception.get('message')}"
                  f"{_where(str(exception.get('text') or ''))}")
        return TaskOutcome(ExecResult.Failure)
    code = int(done.get("taskResult") or 0)
    result = ExecResult(code) if code in (0, 1, 2, 3) else ExecResult.Failure
    if result == ExecResult.Failure and not events.errors:
        ctx.error(E_SCRIPT, "the script set Dts.TaskResult to Failure")
    if failed:
        result = ExecResult.Failure
    return TaskOutcome(result, decode_object(done.get("executionValue")))
