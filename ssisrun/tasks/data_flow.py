"""The Data Flow task (``Microsoft.Pipeline``): reads its ``<pipeline>`` and runs it with
the pipeline engine (:mod:`ssisrun.dataflow`).

Component properties with property expressions on the task (``[Component].[Property]``)
take their expression's value. The task fails when a component fails (the error names the
component); row counts per path and per destination are information events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ssisrun.dataflow import ComponentError, PipelineRun, read_pipeline
from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult, normalize_guid
from ssisrun.tasks import Task

if TYPE_CHECKING:
    from ssisrun.expressions import SsisType
    from ssisrun.runtime.context import TaskContext


class _TaskSide:
    """What the pipeline engine needs from the task's context."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.properties: dict[str, Any] = ctx.properties
        self.cancelled: threading.Event = ctx.cancelled

    def connection(self, ref: str) -> tuple[Any, str]:
        return self.ctx.connection(ref)

    def database(self, ref: str) -> AbstractContextManager[Any]:
        opener = getattr(self.ctx, "database", None)
        if opener is None:
            raise SsisrunError("database connections are not available in this ssisrun")
        result: AbstractContextManager[Any] = opener(ref)
        return result

    def map_path(self, path: str) -> str:
        return self.ctx.map_path(path)

    def error(self, code: int, description: str) -> None:
        self.ctx.error(code, description)

    def warning(self, code: int, description: str) -> None:
        self.ctx.warning(code, description)

    def information(self, code: int, description: str) -> None:
        self.ctx.information(code, description)

    def get_variable(self, name: str) -> Any:
        return self.ctx.scope.require(name) and self.ctx.scope.get(name)

    def set_variable(self, name: str, value: Any) -> None:
        self.ctx.scope.set(name, value)

    def variable_types(self) -> dict[str, SsisType]:
        return self.ctx.scope.types()

    def variable_values(self) -> Mapping[str, Any]:
        return self.ctx.scope

    def variable_by_id(self, ref: str) -> Any:
        """A variable named by its DTSID (as ParameterMapping writes it) or its name."""
        guid = normalize_guid(ref)
        if guid:
            host = self.ctx.host
            for exe in (host, *host.ancestors()):
                for var in exe.variables:
                    if normalize_guid(var.dtsid) == guid:
                        return self.ctx.scope.get(var.qualified_name)
        return self.get_variable(ref)


class DataFlowTask(Task):
    def execute(self, ctx: TaskContext) -> ExecResult:
        flow = self.host.data_flow
        if flow is None or flow.pipeline is None:
            return ExecResult.Success
        pipeline = read_pipeline(flow.pipeline)
        run = PipelineRun(pipeline, _TaskSide(ctx), self.host.path)
        try:
            run.execute()
        except ComponentError as exc:
            ctx.error(exc.code, str(exc))
            return ExecResult.Failure
        return ExecResult.Success
