"""What a task sees while it runs: its variables, its connections, its events."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ssisrun.runtime.events import EventKind

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ssisrun.connections import Database
    from ssisrun.expressions import CompiledAssignment, CompiledExpression
    from ssisrun.model import ConnectionManager, TaskHost
    from ssisrun.runtime.engine import Engine
    from ssisrun.runtime.variables import Scope


class TaskContext:
    def __init__(self, engine: Engine, host: TaskHost, scope: Scope,
                 properties: dict[str, Any]) -> None:
        self._engine = engine
        self.host = host
        self.scope = scope
        #: values of the task's property expressions, evaluated before it runs
        self.properties = properties
        self.cancelled: threading.Event = engine.cancel_event

    @property
    def engine(self) -> Engine:
        """The run this task belongs to (the Execute Package task starts a child run from
        it; the Script task reads ``--script`` from its request)."""
        return self._engine

    # ---- settings

    def property(self, name: str, default: Any) -> Any:
        """A task property: its property expression's value if it has one, else ``default``
        (the value in ObjectData)."""
        return self.properties.get(name, default)

    def connection(self, ref: str) -> tuple[ConnectionManager, str]:
        """The connection manager a task names (DTSID, refId or name) and its connection
        string after ``--conn`` and property expressions."""
        return self._engine.connection(ref, self.scope)

    def database(self, ref: str) -> AbstractContextManager[Database]:
        """An open connection to the database of the connection manager ``ref``: inside a
        transaction (TransactionOption), the transaction's connection to that database;
        else the run's retained connection when it has RetainSameConnection, or a new one."""
        cm, text = self.connection(ref)
        transaction = self._engine.transactions.of(self.host)
        if transaction is not None:
            return transaction.open(cm, text, self.map_path)
        return self._engine.connections.open(cm, text, self.map_path)

    def map_path(self, path: str) -> str:
        """A Windows path (``C:\\data\\in.csv``) as a path on this machine."""
        return self._engine.map_path(path)

    # ---- expressions, compiled once per task and text

    def compile_expression(self, text: str, *, boolean: bool = False,
                           property: str | None = None) -> CompiledExpression:
        from ssisrun.expressions import compile_expression

        key = (id(self.host), "expr", boolean, text)
        cached = self._engine.task_compiled.get(key)
        if cached is None:
            cached = compile_expression(text, self.scope.types(), boolean=boolean,
                                        executable=self.host.path, property=property)
            self._engine.task_compiled[key] = cached
        return cached

    def compile_assignment(self, text: str, *,
                           property: str | None = None) -> CompiledAssignment:
        from ssisrun.expressions import compile_assignment

        key = (id(self.host), "assign", False, text)
        cached = self._engine.task_compiled.get(key)
        if cached is None:
            cached = compile_assignment(text, self.scope.types(), executable=self.host.path,
                                        property=property)
            self._engine.task_compiled[key] = cached
        return cached

    # ---- events

    def error(self, code: int, description: str) -> None:
        self._engine.raise_event(self.host, EventKind.OnError, code, description)

    def warning(self, code: int, description: str) -> None:
        self._engine.raise_event(self.host, EventKind.OnWarning, code, description)

    def information(self, code: int, description: str) -> None:
        self._engine.raise_event(self.host, EventKind.OnInformation, code, description)

    def progress(self, description: str, percent: int) -> None:
        self._engine.raise_event(self.host, EventKind.OnProgress, 0, description,
                                 {"PercentComplete": percent})
