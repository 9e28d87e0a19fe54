"""The catalog's store: SSISDB's stored-procedure flow (create_execution,
set_execution_parameter_value, add_execution_worker, start_execution, stop_operation) and
what Scale Out workers do with it (pull a task, report an attempt, heartbeat), over one
SQLAlchemy engine: SQLite by default, PostgreSQL when shared.

Every write of a worker names the attempt it belongs to; a write from an attempt that is no
longer the execution's current one (a late write from a worker that was given up on) is
ignored, so attempts never mix.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ssisrun.catalog.schema import (
    FINAL,
    LoggingLevel,
    MessageSourceType,
    MessageType,
    ObjectType,
    Status,
    executable_statistics,
    execution_attempts,
    execution_parameter_values,
    execution_workers,
    executions,
    metadata,
    operation_messages,
    worker_agents,
)
from ssisrun.errors import ExitCode, SsisrunError


class CatalogError(SsisrunError):
    """A catalog operation that SSISDB would refuse: a state that does not allow it, a name
    that does not exist, a value that does not fit (exit code 1)."""


class ExecutionNotFoundError(CatalogError):
    """No execution has this id (exit code 4)."""

    exit_code = ExitCode.NOT_FOUND


class CatalogPermissionError(CatalogError):
    """PostgreSQL refused the catalog's user: it lacks an SSISDB role (ssis_admin,
    ssis_cluster_executor or ssis_cluster_worker). Exit code 1."""


class CatalogValueError(CatalogError):
    """A value the catalog cannot take: an unknown object type or logging level (exit 6)."""

    exit_code = ExitCode.BAD_COMMAND_LINE


#: system parameters (object type 50) inserted by create_execution, with their defaults
SYSTEM_PARAMETERS: dict[str, tuple[str, str | None]] = {
    "DUMP_ON_ERROR": ("Boolean", "0"),
    "DUMP_ON_EVENT": ("Boolean", "0"),
    "DUMP_EVENT_CODE": ("String", "0"),
    "LOGGING_LEVEL": ("Int32", str(int(LoggingLevel.basic))),
    "CALLER_INFO": ("String", None),
    "SYNCHRONIZED": ("Boolean", "0"),
}

#: which message types each logging level stores (spec 2.4); statistics are stored at
#: every level but None
_DIAGNOSTIC = {MessageType.custom, MessageType.diagnostic, MessageType.diagnostic_ex}
_PERFORMANCE = {MessageType.error, MessageType.warning}

#: the channel of ``pg_notify`` on which a PostgreSQL catalog announces changed executions
NOTIFY_CHANNEL = "ssisrun_catalog"

#: a worker that has not been heard of for this long is not counted as online
ONLINE_WINDOW = timedelta(seconds=15)


def default_url() -> str:
    """``sqlite:///$XDG_DATA_HOME/ssisrun/catalog.db`` (``~/.local/share`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'ssisrun' / 'catalog.db'}"


def now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """Datetimes read back from SQLite lose their offset; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def parse_logging_level(value: str) -> LoggingLevel:
    """``LOGGING_LEVEL``'s value: a number 0-4 or a name (None, Basic, Performance, Verbose,
    RuntimeLineage), in any case."""
    text = value.strip()
    names = {level.name.replace("_", ""): level for level in LoggingLevel}
    if text.lower().replace("_", "") in names:
        return names[text.lower().replace("_", "")]
    try:
        return LoggingLevel(int(text))
    except ValueError:
        pass
    if text == "100":
        raise CatalogValueError("LOGGING_LEVEL 100 (Customized) needs a customized logging "
                                "level, which ssisrun does not have: use None, Basic, "
                                "Performance or Verbose")
    raise CatalogValueError(f"LOGGING_LEVEL takes None, Basic, Performance, Verbose or "
                            f"RuntimeLineage (0-4), got '{value}'")


def stores_message(level: int, message_type: int) -> bool:
    """Whether an execution at logging ``level`` keeps a message of ``message_type``."""
    if level == LoggingLevel.none:
        return False
    if level == LoggingLevel.performance:
        return message_type in _PERFORMANCE
    if level == LoggingLevel.verbose:
        return True
    return message_type not in _DIAGNOSTIC


def _from_row(cls: Any, row: Any) -> Any:
    mapping = row._mapping
    values = {}
    for f in fields(cls):
        value = mapping[f.name]
        values[f.name] = _utc(value) if isinstance(value, datetime) else value
    return cls(**values)


@dataclass(slots=True)
class Execution:
    """A row of ``catalog.executions``."""

    execution_id: int
    folder_name: str | None
    project_name: str | None
    package_name: str
    package_path: str
    project_path: str | None
    status: int
    use_any_worker: bool
    retry_count: int
    executed_count: int
    worker_agent_id: str | None
    machine_name: str | None
    process_id: int | None
    caller_name: str | None
    stopped_by_name: str | None
    created_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    ready_time: datetime | None
    avoid_worker_id: str | None
    owner_host: str | None
    owner_pid: int | None
    options: str

    @property
    def status_name(self) -> str:
        return Status(self.status).label

    @property
    def run_options(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.options or "{}")
        return value

    def duration(self, at: datetime | None = None) -> float | None:
        """Seconds from start to end (to ``at``, or now, while it runs), as SSIS's reports."""
        if self.start_time is None:
            return None
        end = self.end_time or at or now()
        return max(0.0, (end - self.start_time).total_seconds())


@dataclass(slots=True)
class ParameterValue:
    """A row of ``catalog.execution_parameter_values``."""

    execution_parameter_id: int
    execution_id: int
    object_type: int
    parameter_data_type: str
    parameter_name: str
    parameter_value: str | None
    sensitive: bool
    required: bool
    value_set: bool
    runtime_override: bool


@dataclass(slots=True)
class Attempt:
    """One Scale Out attempt of an execution."""

    execution_id: int
    attempt: int
    worker_agent_id: str | None
    machine_name: str | None
    process_id: int | None
    status: int
    exit_code: int | None
    start_time: datetime
    end_time: datetime | None


@dataclass(slots=True)
class Message:
    """A row of ``catalog.operation_messages`` (with event_messages' columns)."""

    operation_message_id: int
    operation_id: int
    attempt: int
    message_time: datetime
    message_type: int
    message_source_type: int
    message: str
    event_name: str | None
    message_source_name: str | None
    package_path: str | None
    message_code: int | None


@dataclass(slots=True)
class Statistic:
    """A row of ``catalog.executable_statistics``: one run of one executable."""

    statistics_id: int
    execution_id: int
    attempt: int
    executable_name: str
    execution_path: str
    start_time: datetime
    end_time: datetime
    execution_duration: int
    execution_result: int


@dataclass(slots=True)
class WorkerAgent:
    """A row of ``catalog.worker_agents``."""

    worker_agent_id: str
    is_enabled: bool
    display_name: str | None
    description: str | None
    machine_name: str | None
    max_task_count: int
    last_online_time: datetime | None


@dataclass(slots=True)
class NewMessage:
    """A message a worker reports for the attempt it runs."""

    message: str
    message_type: int = MessageType.information
    message_source_type: int = MessageSourceType.entry_api
    message_time: datetime = field(default_factory=now)
    event_name: str | None = None
    message_source_name: str | None = None
    package_path: str | None = None
    message_code: int | None = None


@dataclass(slots=True)
class NewStatistic:
    """One executable run a worker reports for the attempt it runs."""

    executable_name: str
    execution_path: str
    start_time: datetime
    end_time: datetime
    execution_result: int


@dataclass(slots=True)
class PackageParameter:
    """A project (20) or package (30) parameter copied into a new execution."""

    object_type: int
    name: str
    data_type: str
    value: str | None
    sensitive: bool = False
    required: bool = False


@dataclass(slots=True)
class Claim:
    """An execution a worker took (SSISDB's pull_task): what it needs to run one attempt."""

    execution_id: int
    attempt: int
    worker_agent_id: str
    package_path: str
    project_path: str | None
    package_name: str
    retry_count: int
    logging_level: int
    #: (object_type, name, value) of every parameter given a value for this execution
    parameters: list[tuple[int, str, str]]
    options: dict[str, Any]


class Catalog:
    """The execution catalog at ``url`` (default: :func:`default_url`), created on first
    use; a SQLite file is created readable by its owner only."""

    def __init__(self, url: str | None = None, *, role: str = "ssis_cluster_executor") -> None:
        self.url = url or default_url()
        parsed = make_url(self.url)
        if parsed.drivername in ("postgresql", "postgres"):
            # psycopg (3) is the driver ssisrun installs; SQLAlchemy's default is psycopg2
            parsed = parsed.set(drivername="postgresql+psycopg")
            self.url = parsed.render_as_string(hide_password=False)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        #: the SSISDB role this catalog's user acts in (named when PostgreSQL refuses)
        self.role = role
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            _create_private_file(Path(parsed.database))
        self.engine: Engine = create_engine(self.url, future=True)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        with self._refused():
            if self.is_postgres:
                from ssisrun.catalog.roles import ensure_schema

                ensure_schema(self)
            else:
                metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _refused(self) -> Iterator[None]:
        """Turn PostgreSQL's "permission denied" into a :class:`CatalogPermissionError`
        that names the SSISDB role the user lacks."""
        try:
            yield
        except DBAPIError as exc:
            if self.is_postgres and getattr(exc.orig, "sqlstate", None) == "42501":
                from ssisrun.catalog.roles import permission_error

                raise permission_error(self, exc) from None
            raise

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._refused(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._refused(), self.engine.connect() as conn:
            yield conn

    def _notify(self, conn: Connection, execution_id: int) -> None:
        """Tell listeners (``LISTEN ssisrun_catalog``) that an execution changed; sent on
        PostgreSQL when the transaction commits. Listeners poll too, so SQLite needs none."""
        if self.is_postgres:
            conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, str(execution_id))))

    # ------------------------------------------------------------ stored procedures

    def create_execution(self, package_path: str, package_name: str, *,
                         project_path: str | None = None, project_name: str | None = None,
                         parameters: Iterable[PackageParameter] = (),
                         use_any_worker: bool = True, options: dict[str, Any] | None = None,
                         caller: str | None = None) -> int:
        """``catalog.create_execution``: a new execution in state created (1), with the
        system parameters and the package's own parameters at their design values."""
        with self._tx() as conn:
            result = conn.execute(insert(executions).values(
                package_name=package_name, package_path=package_path,
                project_path=project_path, project_name=project_name,
                status=int(Status.created), use_any_worker=use_any_worker, retry_count=0,
                executed_count=0, created_time=now(), caller_name=caller or _user(),
                options=json.dumps(options or {}, sort_keys=True)))
            key = result.inserted_primary_key
            assert key is not None
            execution_id = int(key[0])
            rows = [dict(execution_id=execution_id, object_type=int(ObjectType.system),
                         parameter_data_type=kind, parameter_name=name, parameter_value=value,
                         sensitive=False, required=False, value_set=value is not None,
                         runtime_override=False)
                    for name, (kind, value) in SYSTEM_PARAMETERS.items()]
            rows += [dict(execution_id=execution_id, object_type=p.object_type,
                          parameter_data_type=p.data_type, parameter_name=p.name,
                          parameter_value=None if p.sensitive else p.value,
                          sensitive=p.sensitive, required=p.required,
                          value_set=p.value not in (None, ""), runtime_override=False)
                     for p in parameters]
            conn.execute(insert(execution_parameter_values), rows)
        return execution_id

    def set_parameter(self, execution_id: int, object_type: int, name: str,
                      value: str) -> None:
        """``catalog.set_execution_parameter_value``: only while the execution is created;
        the parameter must exist for that object type (names are case-sensitive)."""
        try:
            kind = ObjectType(object_type)
        except ValueError:
            raise CatalogValueError(f"object type {object_type} is not 20 (project), 30 "
                                    f"(package) or 50 (system)") from None
        if kind is ObjectType.system and name == "LOGGING_LEVEL":
            value = str(int(parse_logging_level(value)))
        with self._tx() as conn:
            row = self._execution_row(conn, execution_id, lock=True)
            if row.status != Status.created:
                raise CatalogError(f"execution {execution_id} is {Status(row.status).label}: "
                                   f"parameters can be set only before it starts")
            t = execution_parameter_values
            found = conn.execute(select(t.c.execution_parameter_id, t.c.sensitive).where(
                t.c.execution_id == execution_id, t.c.object_type == int(kind),
                t.c.parameter_name == name)).first()
            if found is None and kind is not ObjectType.system:
                # a parameter the package does not declare is still passed on (a package
                # loaded with a different project may have it); SSISDB would refuse it
                names = conn.execute(select(t.c.parameter_name).where(
                    t.c.execution_id == execution_id, t.c.object_type == int(kind))).scalars()
                known = ", ".join(names) or "none"
                raise CatalogError(f"execution {execution_id} has no {kind.name} parameter "
                                   f"'{name}' (names are case-sensitive; its {kind.name} "
                                   f"parameters: {known})")
            if found is None:
                raise CatalogError(f"'{name}' is not a system parameter: use one of "
                                   f"{', '.join(SYSTEM_PARAMETERS)}")
            conn.execute(update(t).where(t.c.execution_parameter_id == found[0]).values(
                parameter_value=value, value_set=True, runtime_override=True))

    def add_worker(self, execution_id: int, agent_id: str) -> None:
        """``catalog.add_execution_worker``: allow one worker agent to run the execution;
        refused when the execution may use any worker or is no longer created."""
        with self._tx() as conn:
            row = self._execution_row(conn, execution_id, lock=True)
            if row.use_any_worker:
                raise CatalogError(f"execution {execution_id} may run on any worker: create "
                                   f"it with --no-use-any-worker to choose its workers")
            if row.status != Status.created:
                raise CatalogError(f"execution {execution_id} is {Status(row.status).label}: "
                                   f"workers can be added only before it starts")
            if conn.execute(select(worker_agents.c.worker_agent_id).where(
                    worker_agents.c.worker_agent_id == agent_id)).first() is None:
                known = ", ".join(conn.execute(
                    select(worker_agents.c.worker_agent_id)).scalars()) or "none yet"
                raise CatalogError(f"no worker agent '{agent_id}' (known: {known}; local "
                                   f"workers are registered with 'ssisrun catalog workers "
                                   f"add ID' or by the first scale-out run)")
            exists = conn.execute(select(execution_workers.c.execution_id).where(
                execution_workers.c.execution_id == execution_id,
                execution_workers.c.worker_agent_id == agent_id)).first()
            if exists is None:
                conn.execute(insert(execution_workers).values(execution_id=execution_id,
                                                              worker_agent_id=agent_id))

    def start(self, execution_id: int, retry_count: int = 0) -> None:
        """``catalog.start_execution``: created (1) -> pending (5), with its retry count;
        an execution starts only once, and required parameters must have values."""
        if retry_count < 0:
            raise CatalogValueError(f"the retry count cannot be negative ({retry_count})")
        with self._tx() as conn:
            row = self._execution_row(conn, execution_id, lock=True)
            if row.status != Status.created:
                raise CatalogError(f"execution {execution_id} is {Status(row.status).label}: "
                                   f"an execution can be started only once")
            t = execution_parameter_values
            missing = list(conn.execute(select(t.c.parameter_name).where(
                t.c.execution_id == execution_id, t.c.required.is_(True),
                t.c.value_set.is_(False))).scalars())
            if missing:
                raise CatalogError(f"execution {execution_id} needs values for its required "
                                   f"parameters: {', '.join(missing)} (set-parameter)")
            if not row.use_any_worker and conn.execute(select(func.count()).where(
                    execution_workers.c.execution_id == execution_id)).scalar_one() == 0:
                raise CatalogError(f"execution {execution_id} may not use any worker and "
                                   f"has none: add one with add-worker")
            stamp = now()
            conn.execute(update(executions).where(
                executions.c.execution_id == execution_id).values(
                status=int(Status.pending), retry_count=retry_count, start_time=stamp,
                ready_time=stamp))
            self._notify(conn, execution_id)

    def stop(self, execution_id: int, by: str | None = None) -> Status:
        """``catalog.stop_operation``: a pending execution is canceled (3) at once, a running
        one becomes stopping (8) until its worker has stopped the package."""
        with self._tx() as conn:
            row = self._execution_row(conn, execution_id, lock=True)
            status = Status(row.status)
            if status in FINAL:
                raise CatalogError(f"execution {execution_id} has already ended "
                                   f"({status.label})")
            if status is Status.stopping:
                raise CatalogError(f"execution {execution_id} is already being stopped")
            if status is Status.created:
                raise CatalogError(f"execution {execution_id} has not been started")
            new = Status.canceled if status is Status.pending else Status.stopping
            values: dict[str, Any] = {"status": int(new), "stopped_by_name": by or _user()}
            if new is Status.canceled:
                values["end_time"] = now()
            conn.execute(update(executions).where(
                executions.c.execution_id == execution_id).values(**values))
            self._message(conn, execution_id, row.executed_count, NewMessage(
                f"Stop requested by {values['stopped_by_name']}."))
            self._notify(conn, execution_id)
        return new

    # ------------------------------------------------------------ reading

    def execution(self, execution_id: int) -> Execution:
        with self._read() as conn:
            row = conn.execute(select(executions).where(
                executions.c.execution_id == execution_id)).first()
        if row is None:
            raise ExecutionNotFoundError(f"no execution {execution_id} in the catalog "
                                         f"{self.display_url}")
        result: Execution = _from_row(Execution, row)
        return result

    def executions(self, ids: Sequence[int] | None = None, *, limit: int | None = None,
                   status: int | None = None) -> list[Execution]:
        """Executions, newest first (or those of ``ids``, in that order)."""
        query = select(executions)
        if ids is not None:
            query = query.where(executions.c.execution_id.in_(list(ids)))
        if status is not None:
            query = query.where(executions.c.status == status)
        query = query.order_by(executions.c.execution_id.desc())
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            rows = [_from_row(Execution, r) for r in conn.execute(query)]
        if ids is not None:
            order = {i: n for n, i in enumerate(ids)}
            rows.sort(key=lambda e: order.get(e.execution_id, 0))
        return rows

    def parameters(self, execution_id: int) -> list[ParameterValue]:
        t = execution_parameter_values
        with self._read() as conn:
            return [_from_row(ParameterValue, r) for r in conn.execute(
                select(t).where(t.c.execution_id == execution_id).order_by(
                    t.c.object_type, t.c.parameter_name))]

    def attempts(self, execution_id: int) -> list[Attempt]:
        t = execution_attempts
        with self._read() as conn:
            return [_from_row(Attempt, r) for r in conn.execute(
                select(t).where(t.c.execution_id == execution_id).order_by(t.c.attempt))]

    def messages(self, execution_id: int) -> list[Message]:
        t = operation_messages
        with self._read() as conn:
            return [_from_row(Message, r) for r in conn.execute(
                select(t).where(t.c.operation_id == execution_id).order_by(
                    t.c.operation_message_id))]

    def statistics(self, execution_id: int) -> list[Statistic]:
        t = executable_statistics
        with self._read() as conn:
            return [_from_row(Statistic, r) for r in conn.execute(
                select(t).where(t.c.execution_id == execution_id).order_by(
                    t.c.attempt, t.c.start_time, t.c.statistics_id))]

    def allowed_workers(self, execution_id: int) -> list[str]:
        t = execution_workers
        with self._read() as conn:
            return list(conn.execute(select(t.c.worker_agent_id).where(
                t.c.execution_id == execution_id).order_by(t.c.worker_agent_id)).scalars())

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return make_url(self.url).render_as_string(hide_password=True)

    # ------------------------------------------------------------ worker agents

    def register_worker(self, agent_id: str, machine_name: str | None = None, *,
                        max_task_count: int = 1, display_name: str | None = None) -> None:
        """Record a worker agent (kept enabled or disabled as it was) and its heartbeat."""
        with self._tx() as conn:
            exists = conn.execute(select(worker_agents.c.worker_agent_id).where(
                worker_agents.c.worker_agent_id == agent_id)).first()
            values: dict[str, Any] = dict(machine_name=machine_name or platform.node(),
                                          max_task_count=max_task_count,
                                          last_online_time=now())
            if display_name is not None:
                values["display_name"] = display_name
            if exists is None:
                conn.execute(insert(worker_agents).values(worker_agent_id=agent_id,
                                                          is_enabled=True, **values))
            else:
                conn.execute(update(worker_agents).where(
                    worker_agents.c.worker_agent_id == agent_id).values(**values))

    def heartbeat(self, agent_id: str) -> None:
        with self._tx() as conn:
            conn.execute(update(worker_agents).where(
                worker_agents.c.worker_agent_id == agent_id).values(last_online_time=now()))

    def set_worker_enabled(self, agent_id: str, enabled: bool) -> None:
        with self._tx() as conn:
            done = conn.execute(update(worker_agents).where(
                worker_agents.c.worker_agent_id == agent_id).values(is_enabled=enabled))
            if done.rowcount == 0:
                raise CatalogError(f"no worker agent '{agent_id}' in the catalog "
                                   f"{self.display_url}")

    def workers(self) -> list[WorkerAgent]:
        with self._read() as conn:
            return [_from_row(WorkerAgent, r) for r in conn.execute(
                select(worker_agents).order_by(worker_agents.c.worker_agent_id))]

    def worker(self, agent_id: str) -> WorkerAgent | None:
        with self._read() as conn:
            row = conn.execute(select(worker_agents).where(
                worker_agents.c.worker_agent_id == agent_id)).first()
        return None if row is None else _from_row(WorkerAgent, row)

    # ------------------------------------------------------------ Scale Out side

    def take_ownership(self, execution_ids: Iterable[int], pid: int | None = None,
                       host: str | None = None) -> None:
        """Record the process that runs these executions' workers, for :meth:`sweep`."""
        ids = list(execution_ids)
        with self._tx() as conn:
            conn.execute(update(executions).where(executions.c.execution_id.in_(ids)).values(
                owner_pid=pid or os.getpid(), owner_host=host or platform.node()))

    def claim(self, agent_id: str, *, only: Iterable[int] | None = None,
              grace: float = 0.5) -> Claim | None:
        """SSISDB's pull_task for worker ``agent_id``: the oldest pending execution it may
        run becomes running with the next attempt number. A retry waits ``grace`` seconds
        for another worker before the worker that failed it takes it again."""
        wanted = set(only) if only is not None else None
        with self._tx() as conn:
            me = conn.execute(select(worker_agents.c.is_enabled).where(
                worker_agents.c.worker_agent_id == agent_id)).first()
            if me is None or not me[0]:
                return None
            query = (select(executions).where(executions.c.status == int(Status.pending))
                     .order_by(executions.c.ready_time, executions.c.execution_id))
            params: dict[str, Any] = {}
            if wanted is not None:  # one cached statement whatever the number of ids
                query = query.where(executions.c.execution_id.in_(
                    bindparam("only_ids", expanding=True)))
                params["only_ids"] = sorted(wanted)
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            stamp = now()
            for row in _pages(conn, query, params):
                if wanted is not None and row.execution_id not in wanted:
                    continue
                allowed: list[str] = []
                if not row.use_any_worker:
                    allowed = list(conn.execute(select(execution_workers.c.worker_agent_id)
                                                .where(execution_workers.c.execution_id ==
                                                       row.execution_id)).scalars())
                    if agent_id not in allowed:
                        continue
                ready = _utc(row.ready_time) or stamp
                if (row.avoid_worker_id == agent_id and stamp - ready < timedelta(
                        seconds=grace) and self._others_online(conn, agent_id, allowed,
                                                               row.use_any_worker)):
                    continue
                return self._take(conn, row, agent_id, stamp)
        return None

    def _others_online(self, conn: Connection, agent_id: str, allowed: list[str],
                       any_worker: bool) -> bool:
        w = worker_agents
        query = select(func.count()).where(
            w.c.worker_agent_id != agent_id, w.c.is_enabled.is_(True),
            w.c.last_online_time >= now() - ONLINE_WINDOW)
        if not any_worker:
            query = query.where(w.c.worker_agent_id.in_(allowed))
        return int(conn.execute(query).scalar_one()) > 0

    def _take(self, conn: Connection, row: Any, agent_id: str, stamp: datetime) -> Claim:
        attempt = int(row.executed_count) + 1
        machine = platform.node()
        conn.execute(update(executions).where(
            executions.c.execution_id == row.execution_id).values(
            status=int(Status.running), executed_count=attempt, worker_agent_id=agent_id,
            machine_name=machine, process_id=None, ready_time=None))
        conn.execute(insert(execution_attempts).values(
            execution_id=row.execution_id, attempt=attempt, worker_agent_id=agent_id,
            machine_name=machine, status=int(Status.running), start_time=stamp))
        t = execution_parameter_values
        params = conn.execute(select(t.c.object_type, t.c.parameter_name,
                                     t.c.parameter_value, t.c.runtime_override).where(
            t.c.execution_id == row.execution_id)).all()
        level = LoggingLevel.basic
        given: list[tuple[int, str, str]] = []
        for kind, name, value, override in params:
            if kind == ObjectType.system:
                if name == "LOGGING_LEVEL" and value is not None:
                    level = LoggingLevel(int(value))
            elif override and value is not None:
                given.append((int(kind), name, value))
        self._message(conn, row.execution_id, attempt, NewMessage(
            f"Attempt {attempt} of {int(row.retry_count) + 1} started on worker agent "
            f"{agent_id} ({machine})."), level=level)
        self._notify(conn, row.execution_id)
        return Claim(row.execution_id, attempt, agent_id, row.package_path, row.project_path,
                     row.package_name, int(row.retry_count), int(level), given,
                     json.loads(row.options or "{}"))

    def _current(self, conn: Connection, execution_id: int, attempt: int) -> Any | None:
        """The execution's row, locked, when ``attempt`` is its current, unfinished one."""
        row = self._execution_row(conn, execution_id, lock=True)
        if row.executed_count != attempt or row.status not in (Status.running,
                                                               Status.stopping):
            return None
        return row

    def set_process(self, execution_id: int, attempt: int, pid: int) -> bool:
        """The package process of the current attempt; False for a late write."""
        with self._tx() as conn:
            if self._current(conn, execution_id, attempt) is None:
                return False
            conn.execute(update(executions).where(
                executions.c.execution_id == execution_id).values(process_id=pid))
            conn.execute(update(execution_attempts).where(
                execution_attempts.c.execution_id == execution_id,
                execution_attempts.c.attempt == attempt).values(process_id=pid))
        return True

    def add_messages(self, execution_id: int, attempt: int,
                     messages: Iterable[NewMessage]) -> bool:
        """Store the messages the execution's logging level keeps; False (nothing stored)
        when ``attempt`` is not the current one."""
        with self._tx() as conn:
            if self._current(conn, execution_id, attempt) is None:
                return False
            self._add_messages(conn, execution_id, attempt, messages)
        return True

    def add_statistics(self, execution_id: int, attempt: int,
                       statistics: Iterable[NewStatistic]) -> bool:
        """Store executable statistics (not at logging level None); False when late."""
        with self._tx() as conn:
            if self._current(conn, execution_id, attempt) is None:
                return False
            self._add_statistics(conn, execution_id, attempt, statistics)
        return True

    def _add_messages(self, conn: Connection, execution_id: int, attempt: int,
                      messages: Iterable[NewMessage], level: int | None = None) -> None:
        if level is None:
            level = self._logging_level(conn, execution_id)
        rows = [_message_row(execution_id, attempt, m) for m in messages
                if stores_message(level, m.message_type)]
        if rows:
            conn.execute(insert(operation_messages), rows)

    def _add_statistics(self, conn: Connection, execution_id: int, attempt: int,
                        statistics: Iterable[NewStatistic], level: int | None = None) -> None:
        if level is None:
            level = self._logging_level(conn, execution_id)
        if level == LoggingLevel.none:
            return
        rows = [dict(execution_id=execution_id, attempt=attempt,
                     executable_name=s.executable_name, execution_path=s.execution_path,
                     start_time=s.start_time, end_time=s.end_time,
                     execution_duration=max(0, round(
                         (s.end_time - s.start_time).total_seconds() * 1000)),
                     execution_result=s.execution_result) for s in statistics]
        if rows:
            conn.execute(insert(executable_statistics), rows)

    def finish_attempt(self, execution_id: int, attempt: int, outcome: Status, *,
                       exit_code: int | None = None, message: str | None = None,
                       retryable: bool = True, messages: Sequence[NewMessage] = (),
                       statistics: Sequence[NewStatistic] = ()) -> Status | None:
        """Record how an attempt ended (succeeded, completed, failed, ended unexpectedly or
        canceled) and move the execution on: to its final status, or back to pending
        (5) while attempts remain (SSIS's MaxExecutedCount = retry count + 1); the
        attempt's ``messages`` and ``statistics`` are stored in the same transaction.
        Returns the execution's new status, or None for a late report of an older
        attempt."""
        stamp = now()
        with self._tx() as conn:
            row = self._current(conn, execution_id, attempt)
            conn.execute(update(execution_attempts).where(
                execution_attempts.c.execution_id == execution_id,
                execution_attempts.c.attempt == attempt,
                execution_attempts.c.end_time.is_(None)).values(
                status=int(outcome), exit_code=exit_code, end_time=stamp))
            if row is None:
                return None
            if messages or statistics:  # the attempt's log, in the same transaction
                level = self._logging_level(conn, execution_id)
                self._add_messages(conn, execution_id, attempt, messages, level)
                self._add_statistics(conn, execution_id, attempt, statistics, level)
            if message:
                self._message(conn, execution_id, attempt, NewMessage(
                    message, MessageType.error if outcome in (
                        Status.failed, Status.ended_unexpectedly) else MessageType.information,
                    MessageSourceType.external_process))
            values: dict[str, Any] = {"process_id": None}
            if row.status == Status.stopping or outcome is Status.canceled:
                new = Status.canceled
            elif outcome in (Status.succeeded, Status.completed):
                new = outcome
            elif retryable and attempt <= int(row.retry_count):
                new = Status.pending
                values.update(ready_time=stamp, avoid_worker_id=row.worker_agent_id)
            else:
                new = outcome if outcome in (Status.failed, Status.ended_unexpectedly) \
                    else Status.failed
            values["status"] = int(new)
            if new in FINAL:
                values["end_time"] = stamp
            conn.execute(update(executions).where(
                executions.c.execution_id == execution_id).values(**values))
            if new is Status.pending:
                self._message(conn, execution_id, attempt, NewMessage(
                    f"Attempt {attempt} {outcome.label}; retrying "
                    f"({int(row.retry_count) + 1 - attempt} attempt(s) left)."))
            self._notify(conn, execution_id)
        return new

    def fail_unstarted(self, execution_id: int, message: str) -> bool:
        """A pending execution that no worker may ever run fails with ``message``."""
        with self._tx() as conn:
            done = conn.execute(update(executions).where(
                executions.c.execution_id == execution_id,
                executions.c.status == int(Status.pending)).values(
                status=int(Status.failed), end_time=now()))
            if done.rowcount:
                self._message(conn, execution_id, 0, NewMessage(message, MessageType.error))
                self._notify(conn, execution_id)
            return bool(done.rowcount)

    def sweep(self) -> list[int]:
        """SSISDB's sync_operation_status: executions pending, running or stopping whose
        owning process on this machine is gone end unexpectedly (6). Returns their ids."""
        host = platform.node()
        ended: list[int] = []
        with self._tx() as conn:
            rows = conn.execute(select(executions.c.execution_id, executions.c.owner_pid,
                                       executions.c.executed_count).where(
                executions.c.status.in_([int(Status.pending), int(Status.running),
                                         int(Status.stopping)]),
                executions.c.owner_host == host, executions.c.owner_pid.is_not(None))).all()
            stamp = now()
            for execution_id, pid, attempt in rows:
                if _alive(int(pid)):
                    continue
                conn.execute(update(executions).where(
                    executions.c.execution_id == execution_id).values(
                    status=int(Status.ended_unexpectedly), end_time=stamp, process_id=None))
                conn.execute(update(execution_attempts).where(
                    execution_attempts.c.execution_id == execution_id,
                    execution_attempts.c.end_time.is_(None)).values(
                    status=int(Status.ended_unexpectedly), end_time=stamp))
                self._message(conn, execution_id, attempt, NewMessage(
                    f"The process that ran this execution's workers (pid {pid}) is gone: "
                    f"the execution ended unexpectedly.", MessageType.error))
                ended.append(int(execution_id))
        return ended

    # ------------------------------------------------------------ helpers

    def _execution_row(self, conn: Connection, execution_id: int, *, lock: bool = False) -> Any:
        query = select(executions).where(executions.c.execution_id == execution_id)
        if lock and not self.is_sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise ExecutionNotFoundError(f"no execution {execution_id} in the catalog "
                                         f"{self.display_url}")
        return row

    def _logging_level(self, conn: Connection, execution_id: int) -> int:
        t = execution_parameter_values
        value = conn.execute(select(t.c.parameter_value).where(
            t.c.execution_id == execution_id, t.c.object_type == int(ObjectType.system),
            t.c.parameter_name == "LOGGING_LEVEL")).scalar()
        return int(value) if value is not None else int(LoggingLevel.basic)

    def _message(self, conn: Connection, execution_id: int, attempt: int,
                 message: NewMessage, *, level: int | None = None) -> None:
        if level is None:
            level = self._logging_level(conn, execution_id)
        if stores_message(level, message.message_type):
            conn.execute(insert(operation_messages).values(
                **_message_row(execution_id, attempt, message)))


def _pages(conn: Connection, query: Any, params: dict[str, Any], size: int = 16,
           limit: int = 512) -> Iterator[Any]:
    """The rows of ``query`` a few at a time (the first pending execution usually fits
    the first page), up to ``limit``."""
    for offset in range(0, limit, size):
        rows = conn.execute(query.limit(size).offset(offset), params).all()
        yield from rows
        if len(rows) < size:
            return


def _message_row(execution_id: int, attempt: int, m: NewMessage) -> dict[str, Any]:
    return dict(operation_id=execution_id, attempt=attempt, message_time=m.message_time,
                message_type=int(m.message_type),
                message_source_type=int(m.message_source_type), message=m.message,
                event_name=m.event_name, message_source_name=m.message_source_name,
                package_path=m.package_path, message_code=m.message_code)


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_private_file(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by its owner only."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a generous busy timeout, foreign keys, and transactions that take the write
    lock when they begin (so a read-then-write never deadlocks between workers)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

