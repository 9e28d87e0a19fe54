"""The control-flow run time: walks the package model the way SSIS does.

Rules (spec ssis-runtime.md 2.1 to 2.13), and the choices made where the spec
leaves room (documented in docs/runtime.md):

* Children of a container start when their precedence constraints allow it: with
  LogicalAnd every incoming constraint must hold, without it one is enough; a
  constraint from a skipped executable never holds; an executable whose
  constraints can no longer hold is skipped (no events, not a failure).
* Independent branches run in parallel, at most MaxConcurrentExecutables tasks at
  once (-1 = cores + 2; ``RunRequest.max_concurrent`` overrides). Containers do not
  take a slot, so nesting cannot deadlock.
* Disabled executables count as Success without running or raising events.
* Each OnError counts against the source and every ancestor; a container whose
  count reaches MaximumErrorCount (0 = no limit) fails, and starts no new children.
  A child with FailParentOnFailure fails its parent; one with FailPackageOnFailure
  fails every container up to the package. Otherwise a container succeeds even if
  a child failed (a Failure constraint handled it).
* ForceExecutionResult replaces the result seen by constraints and the parent.
* Events go to the bus, then to the handlers of the source and of each ancestor,
  nearest first, until one sets System::Propagate to False. A handler's own
  executables do not trigger handlers for the same event again (no recursion).
"""

from __future__ import annotations

import contextvars
import getpass
import os
import platform
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ssisrun.connections import ConnectionRegistry
from ssisrun.errors import ExpressionError, SsisrunError
from ssisrun.model import (
    ConnectionManager,
    Container,
    EventHandler,
    ExecResult,
    Executable,
    ForcedExecResult,
    ForeachLoop,
    ForLoop,
    Package,
    PrecedenceConstraint,
    TaskHost,
)
from ssisrun.runtime.events import Event, EventBus, EventKind
from ssisrun.runtime.request import ExecutableRun, RunRequest, RunResult
from ssisrun.runtime.transactions import TransactionManager
from ssisrun.runtime.variables import RuntimeVariable, Scope, VariableError, VariableStore

if TYPE_CHECKING:
    from ssisrun.expressions import CompiledExpression
    from ssisrun.runtime.restart import CheckpointSession


class RunError(SsisrunError):
    """The run cannot start: a Required parameter without a value, a bad --var ..."""

    exit_code = SsisrunError.exit_code  # failure (1)


#: executable properties the run time itself reads, as property expressions name them
_ENGINE_PROPERTIES = {
    "MaximumErrorCount": "maximum_error_count",
    "MaxErrorCount": "maximum_error_count",
    "FailParentOnFailure": "fail_parent_on_failure",
    "FailPackageOnFailure": "fail_package_on_failure",
    "ForcedExecutionValue": "forced_execution_value",
    "InitExpression": "init_expression",
    "EvalExpression": "eval_expression",
    "AssignExpression": "assign_expression",
}

#: the event handlers running in this chain of cause and effect (threads inherit it)
_RUNNING_HANDLERS: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "ssisrun_running_handlers", default=frozenset())

_DONE = "done"
_SKIPPED = "skipped"
_PENDING = "pending"
_RUNNING = "running"


class Engine:
    def __init__(self, package: Package, request: RunRequest | None = None,
                 bus: EventBus | None = None, *, parent_scope: Scope | None = None,
                 cancel_event: threading.Event | None = None) -> None:
        self.package = package
        self.request = request or RunRequest()
        self.bus = bus or EventBus()
        #: a child run (Execute Package): the parent's cancel event, and the scope of the
        #: Execute Package task, where names the child does not define are looked up
        self.cancel_event = cancel_event or threading.Event()
        self.parent_scope = parent_scope
        #: a child run: called with each event that no handler stopped (System::Propagate),
        #: so the parent relays it to its own handlers (:meth:`relay_event`)
        self.on_propagated: Callable[[Event], None] | None = None
        self.store = VariableStore(on_changed=self._variable_changed)
        self.scopes: dict[int, Scope] = {}
        self.error_counts: dict[int, int] = defaultdict(int)
        self.failed: set[int] = set()
        self.errors = 0
        self.warnings = 0
        self.runs: list[ExecutableRun] = []
        self._lock = threading.RLock()
        self._handler_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
        self._compiled: dict[tuple[int, str], CompiledExpression] = {}
        #: expressions compiled by tasks (TaskContext.compile_*), by task and text
        self.task_compiled: dict[tuple[int, str, bool, str], Any] = {}
        self._errors_of: dict[int, list[str]] = defaultdict(list)
        self.started = datetime.now()
        self._setup_variables()
        # after configurations and --set, which may change MaxConcurrentExecutables
        limit = self.request.max_concurrent or package.max_concurrent_executables
        if limit is None or limit <= 0:
            limit = (os.cpu_count() or 1) + 2
        self.max_concurrent = limit
        self.slots = threading.BoundedSemaphore(limit)
        self.checkpoint = self._checkpoint_session()
        #: the run's database connections (RetainSameConnection), closed when the run ends
        self.connections = ConnectionRegistry(self.request.sql_dialects)
        #: the transactions of Required containers (docs/transactions.md); a child package
        #: run in process joins the transaction of the Execute Package task that runs it
        self.transactions = TransactionManager(
            self.connections, self._transaction_report,
            TransactionManager.current() if parent_scope is not None else None)
        if self.checkpoint is not None:
            self.checkpoint.attach_transactions(self.transactions)

    # ------------------------------------------------------------------ variables

    def _setup_variables(self) -> None:
        from ssisrun.expressions import parse_variable_value, to_expression_value

        pkg = self.package
        overrides = dict(self.request.parameters)
        for param in pkg.all_parameters():
            value = param.value
            for key in (param.qualified_name, param.name, f"{param.scope}::{param.name}"):
                if key in overrides:
                    text = overrides.pop(key)
                    try:
                        value = parse_variable_value(int(param.data_type), text)
                    except (ExpressionError, ValueError) as exc:
                        raise RunError(f"--param {param.qualified_name}: {exc}") from None
                    break
            else:
                if param.required and (param.value is None or param.value == ""):
                    raise RunError(f"parameter {param.qualified_name} is Required and has no "
                                   f"value: give it with --param {param.qualified_name}=VALUE")
            if value is None:
                from ssisrun.expressions import default_value

                value = default_value(int(param.data_type))
            self.store.add_global(RuntimeVariable(
                f"${param.scope}", param.name, int(param.data_type),
                to_expression_value(int(param.data_type), value)[1], read_only=True,
                sensitive=param.sensitive, dtsid=param.dtsid))
        if overrides:
            names = ", ".join(sorted(overrides))
            raise RunError(f"--param names no parameter of the package or project: {names}")
        for name, code, value in self._system_values():
            self.store.add_global(RuntimeVariable("System", name, code, value, read_only=True))
        for exe in pkg.walk():
            parent_scope = (self.scopes.get(id(exe.parent)) if exe.parent is not None
                            else self.parent_scope)
            own: dict[str, RuntimeVariable] = {}
            for var in exe.variables:
                value = var.value
                if value is None or isinstance(value, str) and var.data_type not in (8,):
                    try:
                        value = parse_variable_value(int(var.data_type), var.raw_value)
                    except (ExpressionError, ValueError):
                        value = var.value
                if value is not None:
                    value = to_expression_value(int(var.data_type), value)[1]
                own[var.qualified_name] = RuntimeVariable(
                    var.namespace, var.name, int(var.data_type), value,
                    read_only=var.read_only or var.namespace == "System"
                    and var.name != "Propagate",
                    expression=var.expression if var.evaluate_as_expression else "",
                    raise_changed_event=var.raise_changed_event, scope_path=exe.path,
                    description=var.description, dtsid=var.dtsid)
            for name, code, value in (
                ("ContainerStartTime", 7, self.started),
                ("TaskName", 8, exe.name),
                ("TaskID", 8, exe.dtsid),
                ("CreationName", 8, exe.creation_name),
                ("TaskTransactionOption", 3, int(exe.transaction_option)),
                ("SourceName", 8, ""), ("SourceID", 8, ""), ("SourceDescription", 8, ""),
                ("ErrorCode", 3, 0), ("ErrorDescription", 8, ""), ("Cancel", 11, False),
                ("VariableName", 8, ""), ("VariableID", 8, ""),
                ("VariableDescription", 8, ""), ("PercentComplete", 3, 0),
                ("ProgressDescription", 8, ""),
            ):
                if f"System::{name}" not in own and (
                    name in ("ContainerStartTime", "TaskName", "TaskID", "CreationName",
                             "TaskTransactionOption") or isinstance(exe, EventHandler)
                ):
                    own[f"System::{name}"] = RuntimeVariable("System", name, code, value,
                                                             read_only=True)
            if isinstance(exe, EventHandler) and "System::Propagate" not in own:
                own["System::Propagate"] = RuntimeVariable("System", "Propagate", 11, True)
            self.scopes[id(exe)] = Scope(exe, own, parent_scope, self.store)
        # SSIS's order (spec 1.6): configurations, the command line, configurations again
        from ssisrun.runtime.configurations import apply_configurations
        from ssisrun.runtime.setvalues import apply_set_values

        if pkg.enable_configurations:
            apply_configurations(self)
        apply_set_values(self, self.request.set_values)
        if pkg.enable_configurations:
            apply_configurations(self, again=True)
        for name, text in self.request.variables.items():
            self._apply_variable_override(name, text)

    def _checkpoint_session(self) -> CheckpointSession | None:
        from pathlib import Path

        from ssisrun.model import CheckpointUsage
        from ssisrun.runtime.restart import CheckpointSession, default_checkpoint_file

        pkg, req = self.package, self.request
        save = pkg.save_checkpoints if req.save_checkpoints is None else req.save_checkpoints
        usage = CheckpointUsage(pkg.checkpoint_usage if req.checkpoint_usage is None
                                else req.checkpoint_usage)
        if not save and usage == CheckpointUsage.Never:
            return None
        name = req.checkpoint_file or pkg.checkpoint_file_name
        path = Path(self.map_path(name)) if name else default_checkpoint_file(pkg)
        return CheckpointSession(self, path, save, usage, req.resume_loops)

    def _system_values(self) -> list[tuple[str, int, Any]]:
        pkg = self.package
        return [
            ("PackageName", 8, pkg.name), ("PackageID", 8, pkg.dtsid),
            ("StartTime", 7, self.started),
            ("ExecutionInstanceGUID", 8, "{" + str(uuid.uuid4()).upper() + "}"),
            ("MachineName", 8, platform.node()), ("UserName", 8, _user_name()),
            ("VersionBuild", 3, pkg.version_build), ("VersionMajor", 3, pkg.version_major),
            ("VersionMinor", 3, pkg.version_minor), ("VersionGUID", 8, pkg.version_guid),
            ("VersionComment", 8, pkg.version_comments),
            ("CreatorName", 8, pkg.creator_name),
            ("CreatorComputerName", 8, pkg.creator_computer_name),
            ("LocaleID", 3, pkg.locale_id), ("InteractiveMode", 11, False),
            ("OfflineMode", 11, pkg.offline_mode), ("ServerExecutionID", 20, 0),
            ("CancelEvent", 3, 0), ("FailedConfigurations", 8, ""),
            ("IgnoreConfigurationsOnLoad", 11, False), ("ParentContainerGUID", 8, ""),
        ]

    def _apply_variable_override(self, name: str, text: str) -> None:
        from ssisrun.expressions import parse_variable_value

        qualified = name if "::" in name else f"User::{name}"
        target: RuntimeVariable | None = None
        for exe in self.package.walk():
            var = self.scopes[id(exe)].own.get(qualified)
            if var is not None:
                target = var
                break
        if target is None:
            raise RunError(f"--var {name}: the package has no variable {qualified}")
        try:
            value = parse_variable_value(target.data_type, text)
        except (ExpressionError, ValueError) as exc:
            raise RunError(f"--var {name}: {exc}") from None
        self.store.assign(target, value, self.scopes[id(self.package)], force=True)
        target.expression = ""

    def mask(self, text: str) -> str:
        """``text`` with the values of Sensitive parameters replaced by ********."""
        if not text:
            return text
        for var in self.store.globals.values():
            if var.sensitive:
                secret = str(var.stored_value or "")
                if len(secret) >= 3 and secret in text:
                    text = text.replace(secret, "********")
        return text

    def _variable_changed(self, var: RuntimeVariable, scope: Scope) -> None:
        self.raise_event(scope.exe, EventKind.OnVariableValueChanged, 0,
                         f"the value of {var.qualified_name} changed",
                         {"VariableName": var.qualified_name, "VariableID": var.dtsid,
                          "VariableDescription": var.description})

    # ------------------------------------------------------------------ connections, paths

    def connection(self, ref: str, scope: Scope) -> tuple[ConnectionManager, str]:
        cm = self.package.find_connection_manager(ref)
        if cm is None:
            raise SsisrunError(f"the connection manager '{ref}' does not exist")
        text = cm.connection_string
        expr = cm.property_expressions.get("ConnectionString")
        if expr:
            text = str(self._evaluate(self.package, f"cm:{cm.dtsid}", expr,
                                      self.scopes[id(self.package)]))
        for key in (cm.name, cm.dtsid):
            if key in self.request.connections:
                text = self.request.connections[key]
        return cm, text

    def map_path(self, path: str) -> str:
        for prefix, target in self.request.path_map:
            if path.lower().startswith(prefix.lower()):
                rest = path[len(prefix):].replace("\\", "/")
                return target.rstrip("/") + "/" + rest.lstrip("/") if rest else target
        if len(path) >= 2 and path[1] == ":" and path[0].isalpha():
            return "/" + path[2:].replace("\\", "/").lstrip("/")
        return path.replace("\\", "/") if "\\" in path and not path.startswith("\\\\") else path

    # ------------------------------------------------------------------ events

    def raise_event(self, source: Executable, kind: EventKind, code: int = 0,
                    description: str = "", data: dict[str, Any] | None = None) -> None:
        event = Event(kind, source.path, source.name, source.dtsid, code,
                      self.mask(description), data=dict(data or {}))
        self._count(source, event)
        self.bus.publish(event)
        if self._run_handlers(source, kind, event) and self.on_propagated is not None:
            self.on_propagated(event)

    def relay_event(self, host: Executable, event: Event) -> None:
        """An event of a child package that ``host`` (an Execute Package task) runs: it
        counts against ``host`` and its ancestors and goes to their handlers, as in SSIS.
        The child's own bus has published it already."""
        self._count(host, event)
        if self._run_handlers(host, event.kind, event) and self.on_propagated is not None:
            self.on_propagated(event)

    def _count(self, source: Executable, event: Event) -> None:
        if event.kind == EventKind.OnError:
            with self._lock:
                self.errors += 1
                self._errors_of[id(source)].append(event.description)
                for node in (source, *source.ancestors()):
                    self.error_counts[id(node)] += 1
                    limit = node.maximum_error_count
                    if limit and self.error_counts[id(node)] >= limit:
                        self.failed.add(id(node))
        elif event.kind == EventKind.OnWarning:
            with self._lock:
                self.warnings += 1

    def _run_handlers(self, source: Executable, kind: EventKind, event: Event) -> bool:
        """Run the handlers for ``kind`` from ``source`` up; False when one of them set
        System::Propagate to False."""
        chain = (source, *source.ancestors())
        if any(isinstance(n, EventHandler) and n.event_name == kind.value for n in chain):
            return True  # inside a handler for this very event: no recursion
        for node in chain:
            if isinstance(node, EventHandler) or node.disable_event_handlers:
                continue
            handler = next((h for h in node.event_handlers if h.event_name == kind.value), None)
            if handler is None:
                continue
            if not self._run_handler(handler, event):
                return False
        return True

    def _run_handler(self, handler: EventHandler, event: Event) -> bool:
        running = _RUNNING_HANDLERS.get()
        if id(handler) in running:
            # raised, directly or through other handlers, by this handler's own work: running
            # it again would never end (and would wait for itself)
            return True
        token = _RUNNING_HANDLERS.set(running | {id(handler)})
        try:
            return self._run_handler_now(handler, event)
        finally:
            _RUNNING_HANDLERS.reset(token)

    def _run_handler_now(self, handler: EventHandler, event: Event) -> bool:
        scope = self.scopes[id(handler)]
        with self._handler_locks[id(handler)]:
            code = event.code & 0xFFFFFFFF
            values = {
                "SourceName": event.source_name, "SourceID": event.source_id,
                "SourceDescription": "",
                "ErrorCode": code - 0x100000000 if code >= 0x80000000 else code,
                "ErrorDescription": event.description, "Propagate": True, "Cancel": False,
            }
            for key in ("VariableName", "VariableID", "VariableDescription",
                        "PercentComplete", "ProgressDescription"):
                if key in event.data:
                    values[key] = event.data[key]
            for name, value in values.items():
                var = scope.own.get(f"System::{name}")
                if var is not None:
                    self.store.assign(var, value, scope, force=True)
            if not handler.disabled:
                self._run_container(handler)
            propagate = scope.own["System::Propagate"].stored_value
        return bool(propagate)

    # ------------------------------------------------------------------ running

    def run(self) -> RunResult:
        try:
            return self._run()
        finally:
            self.connections.close()

    def _run(self) -> RunResult:
        from ssisrun.runtime.checkpoint import CheckpointError

        pkg = self.package
        self.bus.publish(Event(EventKind.PackageStarted, pkg.path, pkg.name, pkg.dtsid))
        session = self.checkpoint
        saved = False
        try:
            if session is not None:
                session.start()
                if session.restarted:
                    self.raise_event(pkg, EventKind.OnInformation, 0x40016049,
                                     f"restarting from checkpoint file {session.file.path}: "
                                     f"{len(session.restored)} executable(s) completed before")
        except CheckpointError as exc:
            self.raise_event(pkg, EventKind.OnError, getattr(exc, "code", 0xC001F083), str(exc))
            result = ExecResult.Failure
            session = self.checkpoint = None
        else:
            result = self.execute(pkg)
            if self.cancel_event.is_set():
                result = ExecResult.Canceled
            if session is not None:
                try:
                    saved = session.finish(result)
                except CheckpointError as exc:
                    self.raise_event(pkg, EventKind.OnError, 0xC001F080, str(exc))
                    result = ExecResult.Failure
        finished = datetime.now()
        self.bus.publish(Event(EventKind.PackageFinished, pkg.path, pkg.name, pkg.dtsid,
                               data={"result": result}))
        run = RunResult(result, self.started, finished, self.errors, self.warnings,
                        list(self.runs))
        if session is not None:
            run.checkpoint_file = str(session.file.path)
            run.restarted = session.restarted
            run.checkpoint_saved = saved
        return run

    def execute(self, exe: Executable) -> ExecResult:
        """Run one executable (not disabled) and return the result its constraints see."""
        scope = self.scopes[id(exe)]
        started = datetime.now()
        start_var = scope.own.get("System::ContainerStartTime")
        if start_var is not None:
            self.store.assign(start_var, started, scope, force=True)
        self.raise_event(exe, EventKind.OnPreValidate)
        self.raise_event(exe, EventKind.OnPostValidate)
        self.raise_event(exe, EventKind.OnPreExecute)
        value: Any = None
        try:
            properties = self._property_values(exe, scope)
        except SsisrunError as exc:
            self.raise_event(exe, EventKind.OnError, 0xC0047000, str(exc))
            properties = None
        # TransactionOption: join, start or stay out of a transaction; the one that
        # started it commits (or rolls back) right before the checkpoint records it
        transaction = self.transactions.enter(exe)
        try:
            result, value = self._dispatch(exe, scope, properties)
            if id(exe) in self.failed and result != ExecResult.Canceled:
                result = ExecResult.Failure
            if result == ExecResult.Failure and isinstance(exe, TaskHost):
                self.raise_event(exe, EventKind.OnTaskFailed)
            self.raise_event(exe, EventKind.OnPostExecute)
        except BaseException:
            transaction.abandon()
            raise
        failure = transaction.finish(result in (ExecResult.Success, ExecResult.Completion)
                                     and not self.cancel_event.is_set())
        if failure:
            self.raise_event(exe, EventKind.OnError, 0xC001402C, failure)
            result = ExecResult.Failure
        reported = result
        if exe.force_execution_result != ForcedExecResult.None_:
            reported = ExecResult(int(exe.force_execution_result))
        if exe.force_execution_value:
            value = exe.forced_execution_value
        if isinstance(exe, TaskHost) and exe.exec_value_variable and value is not None:
            try:
                scope.set(exe.exec_value_variable, value)
            except SsisrunError as exc:
                self.raise_event(exe, EventKind.OnWarning, 0x80019001, str(exc))
        if reported == ExecResult.Failure and exe.fail_package_on_failure:
            with self._lock:
                for node in (exe, *exe.ancestors()):
                    self.failed.add(id(node))
        if self.checkpoint is not None and not self.cancel_event.is_set():
            from ssisrun.runtime.checkpoint import CheckpointError

            try:
                self.checkpoint.record(exe, reported)
            except CheckpointError as exc:
                self.raise_event(exe, EventKind.OnError, 0xC001F080, str(exc))
        finished = datetime.now()
        with self._lock:
            self.runs.append(ExecutableRun(exe.path, exe.name, exe.executable_type, reported,
                                           started, finished, list(self._errors_of[id(exe)])))
        self.bus.publish(Event(EventKind.ExecutableFinished, exe.path, exe.name, exe.dtsid,
                               data={"result": reported, "duration":
                                     (finished - started).total_seconds()}))
        return reported

    def _dispatch(self, exe: Executable, scope: Scope,
                  properties: dict[str, Any] | None) -> tuple[ExecResult, Any]:
        if properties is None:
            return ExecResult.Failure, None
        if self.cancel_event.is_set():
            return ExecResult.Canceled, None
        if isinstance(exe, TaskHost):
            return self._run_task(exe, scope, properties)
        if isinstance(exe, ForLoop):
            return self._run_for_loop(exe, scope), None
        if isinstance(exe, ForeachLoop):
            return self._run_foreach(exe, scope, properties), None
        if isinstance(exe, Container):
            return self._run_container(exe), None
        return ExecResult.Success, None  # pragma: no cover - the model has no other kinds

    def _transaction_report(self, exe: Executable, message: str, warning: bool) -> None:
        if warning:
            self.raise_event(exe, EventKind.OnWarning, 0x8001402C, message)
        else:
            self.raise_event(exe, EventKind.OnInformation, 0x4001402C, message)

    def _property_values(self, exe: Executable, scope: Scope) -> dict[str, Any]:
        """Evaluate the executable's property expressions (before it runs). Properties the
        run time reads itself are applied to the executable; the rest go to its task."""
        values: dict[str, Any] = {}
        for prop, text in exe.property_expressions.items():
            value = self._evaluate(exe, f"prop:{prop}", text, scope)
            values[prop] = value
            attr = _ENGINE_PROPERTIES.get(prop)
            if attr is not None:
                current = getattr(exe, attr)
                try:
                    setattr(exe, attr, type(current)(value))
                except (TypeError, ValueError):
                    raise SsisrunError(f"property expression of {prop} gave {value!r}, which "
                                       f"does not fit the property") from None
        return values

    def _evaluate(self, exe: Executable, key: str, text: str, scope: Scope,
                  boolean: bool = False) -> Any:
        from ssisrun.expressions import compile_expression

        cache_key = (id(exe), key)
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            compiled = compile_expression(text, scope.types(), boolean=boolean,
                                          executable=exe.path, property=key.split(":", 1)[-1])
            self._compiled[cache_key] = compiled
        return compiled.evaluate(scope)

    # ---- tasks

    def _run_task(self, host: TaskHost, scope: Scope,
                  properties: dict[str, Any]) -> tuple[ExecResult, Any]:
        from ssisrun.runtime.context import TaskContext
        from ssisrun.tasks import TaskOutcome, task_class

        cls = task_class(host.executable_type)
        if cls is None:
            self.raise_event(host, EventKind.OnError, 0xC0010018,
                             f"task type {host.executable_type} cannot be run by this ssisrun "
                             "yet")
            return ExecResult.Failure, None
        ctx = TaskContext(self, host, scope, properties)
        with self.slots:
            try:
                outcome = cls(host).execute(ctx)
            except SsisrunError as exc:
                self.raise_event(host, EventKind.OnError, 0xC0029151, str(exc))
                return ExecResult.Failure, None
            except Exception as exc:  # a bug in a task must not take the run down
                self.raise_event(host, EventKind.OnError, 0xC0000001,
                                 f"internal error in the {host.executable_type} task: "
                                 f"{type(exc).__name__}: {exc}")
                return ExecResult.Failure, None
        if isinstance(outcome, TaskOutcome):
            return outcome.result, outcome.execution_value
        return outcome, None

    # ---- containers

    def _stop_starting(self, container: Executable) -> bool:
        if self.cancel_event.is_set():
            return True
        for node in (container, *container.ancestors()):
            if id(node) in self.failed:
                return True
            if isinstance(node, EventHandler):
                # a handler runs because its owner raised the event, even when that event
                # (an OnError) has just failed the owner
                return False
        return False

    def _run_container(self, container: Container) -> ExecResult:
        failed = self._run_children(container)
        if failed or id(container) in self.failed:
            return ExecResult.Failure
        if self.cancel_event.is_set():
            return ExecResult.Canceled
        return ExecResult.Success

    def _run_children(self, container: Container) -> bool:
        """Run the children as the constraints allow; True when one whose failure
        fails the parent (FailParentOnFailure) failed."""
        children = container.executables
        if not children:
            return False
        incoming: dict[int, list[PrecedenceConstraint]] = defaultdict(list)
        for pc in container.precedence_constraints:
            incoming[id(pc.to_executable)].append(pc)
        state: dict[int, str] = {id(c): _PENDING for c in children}
        results: dict[int, ExecResult] = {}
        successors: dict[int, list[Executable]] = defaultdict(list)
        for pc in container.precedence_constraints:
            successors[id(pc.from_executable)].append(pc.to_executable)
        cond = threading.Condition()
        fail_parent = False
        scope = self.scopes[id(container)]
        threads: list[threading.Thread] = []
        running = 0
        just_finished: list[Executable] = []

        def finished(child: Executable, result: ExecResult) -> None:
            nonlocal fail_parent, running
            with cond:
                results[id(child)] = result
                state[id(child)] = _DONE
                running -= 1
                just_finished.append(child)
                if result == ExecResult.Failure and child.fail_parent_on_failure:
                    fail_parent = True
                cond.notify_all()

        def work(child: Executable) -> None:
            result = ExecResult.Failure
            try:
                result = self.execute(child)
            except Exception as exc:  # never lose a thread's failure silently
                try:
                    self.raise_event(child, EventKind.OnError, 0xC0000001,
                                     f"internal error: {type(exc).__name__}: {exc}")
                except Exception:  # noqa: BLE001 - the report itself failed; keep going
                    pass
            finally:
                finished(child, result)

        def decide(child: Executable) -> str | None:
            """'run', 'skip' or None (wait) for a pending child."""
            pcs = incoming.get(id(child), [])
            if not pcs:
                return "run"
            outcomes = [self._constraint_outcome(pc, state, results, scope) for pc in pcs]
            logical_and = any(pc.logical_and for pc in pcs)
            if logical_and:
                if any(o is False for o in outcomes):
                    return "skip"
                return "run" if all(o is True for o in outcomes) else None
            if any(o is True for o in outcomes):
                return "run"
            return "skip" if all(o is False for o in outcomes) else None

        # Executables that completed before a restart are done, with their saved results;
        # they do not run again and raise no events.
        restored: list[Executable] = []
        if self.checkpoint is not None:
            for child in children:
                saved = self.checkpoint.completed_result(child)
                if saved is not None:
                    state[id(child)] = _DONE
                    results[id(child)] = saved
                    restored.append(child)
        # Only the children whose sources just changed state are decided again.
        candidates: list[Executable] = [c for c in children if not incoming.get(id(c))]
        for child in restored:
            candidates.extend(successors.get(id(child), ()))
        with cond:
            while True:
                while candidates:
                    child = candidates.pop(0)
                    if state[id(child)] != _PENDING:
                        continue
                    verdict = decide(child)
                    if verdict is None:
                        continue
                    if verdict == "run" and not child.disabled:
                        self._evaluate_disable(child)
                    if verdict == "skip" or self._stop_starting(container):
                        state[id(child)] = _SKIPPED
                        self._skipped(child)
                        candidates.extend(successors.get(id(child), ()))
                    elif child.disabled:
                        state[id(child)] = _DONE
                        results[id(child)] = ExecResult.Success
                        candidates.extend(successors.get(id(child), ()))
                    else:
                        state[id(child)] = _RUNNING
                        running += 1
                        # the thread inherits which handlers are running (see _run_handler)
                        thread = threading.Thread(target=contextvars.copy_context().run,
                                                  args=(work, child),
                                                  name=f"ssisrun {child.path}", daemon=True)
                        threads.append(thread)
                        thread.start()
                if running == 0 and not just_finished:
                    break
                if not just_finished:
                    cond.wait()
                for done in just_finished:
                    candidates.extend(successors.get(id(done), ()))
                just_finished.clear()
        for thread in threads:
            thread.join()
        for child in children:
            if state[id(child)] == _PENDING:
                state[id(child)] = _SKIPPED
                self._skipped(child)
        return fail_parent

    def _evaluate_disable(self, child: Executable) -> None:
        """A property expression on Disable decides, just before the child would start."""
        for prop in ("Disable", "Disabled"):
            text = child.property_expressions.get(prop)
            if text:
                try:
                    child.disabled = bool(self._evaluate(child, f"prop:{prop}", text,
                                                         self.scopes[id(child)]))
                except SsisrunError as exc:
                    self.raise_event(child, EventKind.OnError, 0xC0047000, str(exc))

    def _skipped(self, child: Executable) -> None:
        now = datetime.now()
        with self._lock:
            self.runs.append(ExecutableRun(child.path, child.name, child.executable_type,
                                           ExecResult.Completion, now, now, skipped=True))
        self.bus.publish(Event(EventKind.ExecutableSkipped, child.path, child.name,
                               child.dtsid))

    def _constraint_outcome(self, pc: PrecedenceConstraint, state: dict[int, str],
                            results: dict[int, ExecResult], scope: Scope) -> bool | None:
        source_state = state[id(pc.from_executable)]
        if source_state == _SKIPPED:
            return False
        if source_state != _DONE:
            return None
        result = results[id(pc.from_executable)]
        constraint_ok = (
            result in (ExecResult.Success, ExecResult.Failure)
            if pc.value == ExecResult.Completion else result == pc.value
        )
        if not pc.uses_expression:
            return constraint_ok
        try:
            expr_ok = bool(self._evaluate(pc.from_executable, f"pc:{pc.dtsid or pc.name}",
                                          pc.expression, scope, boolean=True))
        except SsisrunError as exc:
            self.raise_event(pc.to_executable.parent or self.package, EventKind.OnError,
                             0xC0010021, f"precedence constraint '{pc.name}': {exc}")
            return False
        if pc.eval_op.name == "Expression":
            return expr_ok
        if pc.eval_op.name == "ExpressionAndConstraint":
            return expr_ok and constraint_ok
        return expr_ok or constraint_ok

    # ---- loops

    def _run_for_loop(self, loop: ForLoop, scope: Scope) -> ExecResult:
        from ssisrun.expressions import compile_assignment, compile_expression, is_assignment

        def run_step(text: str, what: str) -> None:
            if not text.strip():
                return
            if is_assignment(text):
                step = compile_assignment(text, scope.types(), executable=loop.path,
                                          property=what)
                scope.set(step.target, step.evaluate(scope), step.target_type)
            else:
                compile_expression(text, scope.types(), executable=loop.path,
                                   property=what).evaluate(scope)

        if not loop.eval_expression.strip():
            self.raise_event(loop, EventKind.OnError, 0xC001F009,
                             "the For Loop has no EvalExpression")
            return ExecResult.Failure
        session = self.checkpoint
        done = (session.loop_done_keys(loop)
                if session is not None and session.resume_loops else [])
        try:
            if done:
                # the loop's variables were restored after its last completed iteration
                self.raise_event(loop, EventKind.OnInformation, 0x40016050,
                                 f"resuming the loop after {len(done)} completed iteration(s)")
            else:
                run_step(loop.init_expression, "InitExpression")
            condition = compile_expression(loop.eval_expression, scope.types(), boolean=True,
                                           executable=loop.path, property="EvalExpression")
            iteration = len(done)
            while not self._stop_starting(loop):
                if not condition.evaluate(scope):
                    break
                if self._run_children(loop) or id(loop) in self.failed:
                    return ExecResult.Failure
                run_step(loop.assign_expression, "AssignExpression")
                iteration += 1
                if session is not None and not self.cancel_event.is_set():
                    session.record_iteration(loop, str(iteration))
        except SsisrunError as exc:
            self.raise_event(loop, EventKind.OnError, 0xC001F009, str(exc))
            return ExecResult.Failure
        return ExecResult.Canceled if self.cancel_event.is_set() else ExecResult.Success

    def _run_foreach(self, loop: ForeachLoop, scope: Scope,
                     properties: dict[str, Any]) -> ExecResult:
        from ssisrun.runtime.enumerators import enumerate_items

        try:
            items = enumerate_items(self, loop, scope)
            keys = [repr(item) for item in items]
            start = 0
            session = self.checkpoint
            if session is not None and session.resume_loops:
                done = session.loop_done_keys(loop)
                if done and keys[:len(done)] == done:
                    start = len(done)
                    self.raise_event(loop, EventKind.OnInformation, 0x40016050,
                                     f"resuming the loop at item {start + 1} of {len(items)}; "
                                     f"{start} item(s) completed before the restart")
                elif done:
                    session.reset_loop(loop)
                    self.raise_event(loop, EventKind.OnWarning, 0x80016050,
                                     "the items enumerated now differ from those recorded in "
                                     "the checkpoint file; the loop starts over")
            for index, item in enumerate(items):
                if index < start:
                    continue
                if self._stop_starting(loop):
                    break
                for mapping in loop.variable_mappings:
                    if mapping.value_index >= len(item):
                        raise VariableError(
                            f"the variable mapping of {mapping.variable_name} asks for value "
                            f"index {mapping.value_index}, but the item has {len(item)} "
                            "value(s)")
                    scope.set(mapping.variable_name, item[mapping.value_index])
                if self._run_children(loop) or id(loop) in self.failed:
                    return ExecResult.Failure
                if session is not None and not self.cancel_event.is_set():
                    session.record_iteration(loop, keys[index])
        except SsisrunError as exc:
            self.raise_event(loop, EventKind.OnError, 0xC001F001, str(exc))
            return ExecResult.Failure
        return ExecResult.Canceled if self.cancel_event.is_set() else ExecResult.Success


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def run_package(package: Package, request: RunRequest | None = None,
                bus: EventBus | None = None) -> RunResult:
    """Run a loaded package and return its result."""
    return Engine(package, request, bus).run()
