"""Task plug-ins: one module per task type, found by its canonical ``ExecutableType``.

Adding a task type is one module with one :class:`Task` subclass and one line in
:data:`REGISTRY`. A task reads its settings from the task host's ``ObjectData``
(and from property expressions, through :meth:`TaskContext.property`), does its
work, reports through the context's events and returns an :class:`ExecResult`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ssisrun.model import ExecResult

if TYPE_CHECKING:
    from ssisrun.model import TaskHost
    from ssisrun.runtime.context import TaskContext

#: canonical executable type -> "module:class"
REGISTRY: dict[str, str] = {
    "Microsoft.Pipeline": "ssisrun.tasks.data_flow:DataFlowTask",
    "Microsoft.ExpressionTask": "ssisrun.tasks.expression:ExpressionTask",
    "Microsoft.ExecuteProcess": "ssisrun.tasks.execute_process:ExecuteProcessTask",
    "Microsoft.ExecuteSQLTask": "ssisrun.tasks.execute_sql:ExecuteSqlTask",
    "Microsoft.BulkInsertTask": "ssisrun.tasks.bulk_insert:BulkInsertTask",
    "Microsoft.ExecutePackageTask": "ssisrun.tasks.execute_package:ExecutePackageTask",
    "Microsoft.ScriptTask": "ssisrun.tasks.script:ScriptTask",
    "Microsoft.FileSystemTask": "ssisrun.tasks.file_system:FileSystemTask",
    "Microsoft.SendMailTask": "ssisrun.tasks.send_mail:SendMailTask",
    "Microsoft.FtpTask": "ssisrun.tasks.ftp:FtpTask",
    "Microsoft.XMLTask": "ssisrun.tasks.xml:XmlTask",
    "Microsoft.ASExecuteDDLTask": "ssisrun.tasks.analysis_services:ExecuteDdlTask",
    "Microsoft.DTSProcessingTask": "ssisrun.tasks.analysis_services:ProcessingTask",
    "Microsoft.DataProfilingTask": "ssisrun.tasks.data_profiling:DataProfilingTask",
    "Microsoft.WebServiceTask": "ssisrun.tasks.web_service:WebServiceTask",
    "CopyToBlobTask": "ssisrun.tasks.azure_blob:CopyToBlobTask",
    "CopyFromBlobTask": "ssisrun.tasks.azure_blob:CopyFromBlobTask",
    "HadoopFileSystemTask": "ssisrun.tasks.hadoop:HadoopFileSystemTask",
    "HadoopHiveTask": "ssisrun.tasks.hadoop:HadoopHiveTask",
    "HadoopPigTask": "ssisrun.tasks.hadoop:HadoopPigTask",
}


class TaskOutcome:
    """What a task returns: its result and, optionally, its ExecutionValue."""

    __slots__ = ("result", "execution_value")

    def __init__(self, result: ExecResult, execution_value: Any = None) -> None:
        self.result = result
        self.execution_value = execution_value


class Task:
    """Base of every task plug-in."""

    def __init__(self, host: TaskHost) -> None:
        self.host = host

    def execute(self, ctx: TaskContext) -> ExecResult | TaskOutcome:  # pragma: no cover
        raise NotImplementedError


def task_class(executable_type: str) -> type[Task] | None:
    target = REGISTRY.get(executable_type)
    if target is None:
        return None
    module_name, attr = target.split(":")
    cls: type[Task] = getattr(importlib.import_module(module_name), attr)
    return cls


def object_data_body(host: TaskHost) -> Any:
    """The task's own element inside ``DTS:ObjectData`` (or None)."""
    data = host.object_data
    if data is None:
        return None
    for child in data:
        if isinstance(child.tag, str):
            return child
    return None
