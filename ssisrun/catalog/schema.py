"""The catalog's one schema, in SQLAlchemy Core, for SQLite and PostgreSQL.

Tables and columns follow SSISDB's views (spec ssis-expressions-catalog-scaleout.md 2.9):
``executions`` (``catalog.executions``), ``execution_parameter_values``, ``operation_messages``,
``executable_statistics``, ``worker_agents`` and ``execution_workers``
(``internal.job_worker_agents``). ``execution_attempts`` keeps each Scale Out attempt apart
(SSISDB keeps only the latest in ``executed_count``): messages and statistics carry the attempt
that wrote them, and the store ignores a write from an attempt that is no longer current.
"""

from __future__ import annotations

from enum import IntEnum

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)


class Status(IntEnum):
    """``catalog.executions.status`` (spec 2.2)."""

    created = 1
    running = 2
    canceled = 3
    failed = 4
    pending = 5
    ended_unexpectedly = 6
    succeeded = 7
    stopping = 8
    completed = 9

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


#: statuses after which nothing more happens to an execution
FINAL = frozenset({Status.canceled, Status.failed, Status.ended_unexpectedly, Status.succeeded,
                   Status.completed})


class ObjectType(IntEnum):
    """``object_type`` of execution parameter values (spec 2.4)."""

    project = 20
    package = 30
    system = 50


class MessageType(IntEnum):
    """``catalog.operation_messages.message_type`` (spec 2.9)."""

    unknown = -1
    pre_validate = 10
    post_validate = 20
    pre_execute = 30
    post_execute = 40
    status_change = 50
    progress = 60
    information = 70
    variable_value_changed = 80
    diagnostic = 90
    query_cancel = 100
    warning = 110
    error = 120
    task_failed = 130
    diagnostic_ex = 140
    custom = 200
    non_diagnostic = 400


class MessageSourceType(IntEnum):
    """``message_source_type`` (spec 2.9)."""

    entry_api = 10
    external_process = 20
    package = 30
    task = 40
    container = 50
    data_flow = 60


class LoggingLevel(IntEnum):
    """The ``LOGGING_LEVEL`` system parameter (spec 2.4)."""

    none = 0
    basic = 1
    performance = 2
    verbose = 3
    runtime_lineage = 4


metadata = MetaData()

executions = Table(
    "executions", metadata,
    Column("execution_id", Integer, primary_key=True, autoincrement=True),
    Column("folder_name", String(128)),
    Column("project_name", String(128)),
    Column("package_name", String(260), nullable=False),
    #: the package file (or project) the execution runs, as given to create-execution
    Column("package_path", Text, nullable=False),
    Column("project_path", Text),
    Column("status", SmallInteger, nullable=False, default=int(Status.created)),
    Column("use_any_worker", Boolean, nullable=False, default=True),
    Column("retry_count", Integer, nullable=False, default=0),
    #: the current attempt (SSISDB's executed_count); 0 before the first
    Column("executed_count", Integer, nullable=False, default=0),
    Column("worker_agent_id", String(128)),
    Column("machine_name", String(255)),
    Column("process_id", Integer),
    Column("caller_name", String(128)),
    Column("stopped_by_name", String(128)),
    Column("created_time", DateTime(timezone=True), nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    #: when a pending execution became ready to be picked up (FIFO order, as pull_task)
    Column("ready_time", DateTime(timezone=True)),
    #: the worker whose attempt failed last: others take the retry first
    Column("avoid_worker_id", String(128)),
    #: the process that runs the execution's local workers (host + pid), for the sweep
    Column("owner_host", String(255)),
    Column("owner_pid", Integer),
    #: what the command line or run file adds to a run: connections, environment,
    #: checkpointing, variables (JSON)
    Column("options", Text, nullable=False, default="{}"),
)
Index("ix_executions_status", executions.c.status)

execution_parameter_values = Table(
    "execution_parameter_values", metadata,
    Column("execution_parameter_id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", Integer, ForeignKey("executions.execution_id", ondelete="CASCADE"),
           nullable=False),
    Column("object_type", SmallInteger, nullable=False),
    Column("parameter_data_type", String(128), nullable=False, default="String"),
    Column("parameter_name", String(128), nullable=False),
    Column("parameter_value", Text),
    Column("sensitive", Boolean, nullable=False, default=False),
    Column("required", Boolean, nullable=False, default=False),
    Column("value_set", Boolean, nullable=False, default=False),
    Column("runtime_override", Boolean, nullable=False, default=False),
    UniqueConstraint("execution_id", "object_type", "parameter_name"),
)

execution_attempts = Table(
    "execution_attempts", metadata,
    Column("execution_id", Integer, ForeignKey("executions.execution_id", ondelete="CASCADE"),
           primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("worker_agent_id", String(128)),
    Column("machine_name", String(255)),
    Column("process_id", Integer),
    Column("status", SmallInteger, nullable=False, default=int(Status.running)),
    Column("exit_code", Integer),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True)),
)

operation_messages = Table(
    "operation_messages", metadata,
    Column("operation_message_id", Integer, primary_key=True, autoincrement=True),
    Column("operation_id", Integer, ForeignKey("executions.execution_id", ondelete="CASCADE"),
           nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("message_time", DateTime(timezone=True), nullable=False),
    Column("message_type", SmallInteger, nullable=False),
    Column("message_source_type", SmallInteger, nullable=False),
    Column("message", Text, nullable=False, default=""),
    #: event_messages' columns: the event, the executable's name and path, the code
    Column("event_name", String(128)),
    Column("message_source_name", String(260)),
    Column("package_path", Text),
    Column("message_code", Integer),
)
Index("ix_operation_messages_operation", operation_messages.c.operation_id)

executable_statistics = Table(
    "executable_statistics", metadata,
    Column("statistics_id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", Integer, ForeignKey("executions.execution_id", ondelete="CASCADE"),
           nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("executable_name", String(260), nullable=False),
    Column("execution_path", Text, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    #: milliseconds
    Column("execution_duration", Integer, nullable=False),
    #: 0 success, 1 failure, 2 completion, 3 cancelled
    Column("execution_result", SmallInteger, nullable=False),
)
Index("ix_executable_statistics_execution", executable_statistics.c.execution_id)

worker_agents = Table(
    "worker_agents", metadata,
    Column("worker_agent_id", String(128), primary_key=True),
    Column("is_enabled", Boolean, nullable=False, default=True),
    Column("display_name", String(256)),
    Column("description", Text),
    Column("machine_name", String(255)),
    Column("max_task_count", Integer, nullable=False, default=1),
    Column("last_online_time", DateTime(timezone=True)),
)

execution_workers = Table(
    "execution_workers", metadata,
    Column("execution_id", Integer, ForeignKey("executions.execution_id", ondelete="CASCADE"),
           primary_key=True),
    Column("worker_agent_id", String(128), primary_key=True),
)
