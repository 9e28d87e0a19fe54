"""Transactions: TransactionOption without MSDTC (spec ssis-runtime.md 4.1).

SSIS enlists every connection of a transacted container in one MSDTC transaction. Linux
has no MSDTC, so ssisrun keeps the promise with the databases' own transactions:

* **Inheritance.** A ``Required`` executable starts a transaction unless its parent already
  has one; ``Supported`` ones join their parent's; ``NotSupported`` ones run outside it (and
  their ``Supported`` descendants with them). A ``Required`` executable below a
  ``NotSupported`` one starts a transaction of its own, which is not nested in the outer
  one. An in-process child package (Execute Package task) joins the transaction of the task
  that runs it.
* **One connection per database.** The first time a task inside the transaction uses a
  database (Execute SQL, Bulk Insert, a data-flow source, destination or lookup), the
  transaction opens a connection to it, with the starting container's ``IsolationLevel``,
  and every later use of that database inside the transaction gets the same connection.
  Connection managers naming the same database share it. Tasks take turns on it.
* **Outcome.** The starting container commits when it succeeds and rolls back when it
  fails or is cancelled; a killed process leaves nothing committed because the databases
  roll back a transaction whose connection drops.
* **Several databases**: two-phase commit (SQLAlchemy's ``begin_twophase``; PostgreSQL's
  ``PREPARE TRANSACTION`` needs ``max_prepared_transactions > 0``). Every participant is
  prepared, in the order it enlisted, then each is committed. A database that cannot take
  part in two-phase commit (SQLite, SQL Server through SQLAlchemy) is refused as soon as a
  second database joins, so nothing is ever committed half-way; ``ssisrun validate``
  reports the same design before a run.
* **A failed statement** on PostgreSQL aborts the whole transaction; each task's work runs
  under a savepoint, so a task that fails is undone alone and the transaction can go on
  (a Failure constraint may handle the failure, as on SQL Server).
* **Exactly-once** (``--exactly-once``, with checkpoints): inside the transaction, a marker
  row is written to ``ssisrun_checkpoint_markers`` in every database that took part; on a
  restart, a transacted container whose marker is present counts as completed.

``SSISRUN_TEST_KILL_AFTER_COMMIT=<executable path>`` exists only for ssisrun's own tests:
the process kills itself (SIGKILL) right after that container's transaction commits, before
the checkpoint is written.
"""

from __future__ import annotations

import contextvars
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ssisrun.connections import Database, DatabaseConnectionError, connection_url, show_url
from ssisrun.errors import SsisrunError
from ssisrun.model import IsolationLevel, TransactionOption

if TYPE_CHECKING:
    from sqlalchemy import URL
    from sqlalchemy.engine import Connection, RootTransaction

    from ssisrun.connections import ConnectionRegistry
    from ssisrun.model import ConnectionManager, Executable

#: only for ssisrun's tests: SIGKILL right after the named container's commit
TEST_KILL_AFTER_COMMIT = "SSISRUN_TEST_KILL_AFTER_COMMIT"

MARKER_TABLE = "ssisrun_checkpoint_markers"

#: System.Data.IsolationLevel -> SQLAlchemy's isolation_level, strongest last
ISOLATION_LEVELS: dict[IsolationLevel, str] = {
    IsolationLevel.Chaos: "READ UNCOMMITTED",
    IsolationLevel.ReadUncommitted: "READ UNCOMMITTED",
    IsolationLevel.ReadCommitted: "READ COMMITTED",
    IsolationLevel.RepeatableRead: "REPEATABLE READ",
    # PostgreSQL's REPEATABLE READ is snapshot isolation; SQL Server has SNAPSHOT itself
    IsolationLevel.Snapshot: "SNAPSHOT",
    IsolationLevel.Serializable: "SERIALIZABLE",
    IsolationLevel.Unspecified: "READ COMMITTED",
}
_STRONGER = ["READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"]

#: backends whose SQLAlchemy dialect does two-phase commit (validation knows only names)
TWO_PHASE_BACKENDS = frozenset({"postgresql", "mysql", "mariadb", "oracle"})

#: task types that enlist their database work in a transaction
ENLISTING_TASKS = frozenset({"Microsoft.ExecuteSQLTask", "Microsoft.BulkInsertTask",
                             "Microsoft.Pipeline"})

#: the transaction of the executable running in this context; an in-process child package
#: started from here joins it (threads started by the run time inherit it)
_CURRENT: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "ssisrun_transaction", default=None)


class TransactionError(DatabaseConnectionError):
    """A transaction cannot go on: a database that cannot take part in two-phase commit,
    or a commit that failed (everything was rolled back)."""


def transaction_root(exe: Executable) -> Executable | None:
    """The executable whose transaction ``exe`` runs in, within its package (None: none)."""
    current: Executable | None = None
    for node in reversed((exe, *exe.ancestors())):
        option = node.transaction_option
        if option == TransactionOption.NotSupported:
            current = None
        elif option == TransactionOption.Required and current is None:
            current = node
    return current


def supports_two_phase(dialect: Any) -> bool:
    """Whether SQLAlchemy's dialect implements two-phase commit."""
    from sqlalchemy.engine.interfaces import Dialect

    if dialect.name == "sqlite":
        return False
    return type(dialect).do_prepare_twophase is not Dialect.do_prepare_twophase


# --------------------------------------------------------------------------- participants


@dataclass
class Participant:
    """One database enlisted in a transaction: its connection, shared by every task of
    the transaction that uses the database."""

    key: str
    url: URL
    conn: Connection
    db: Database
    two_phase: bool
    #: SQLAlchemy's transaction, or None for SQLite (BEGIN/COMMIT issued by hand)
    sa_tx: RootTransaction | None
    names: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    prepared: bool = False

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cur = self.db.cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            try:
                return list(cur.fetchall()) if cur.description else []
            except Exception:  # noqa: BLE001 - a statement without rows
                return []
        finally:
            cur.close()

    def aborted(self) -> bool:
        """True when a failed statement aborted the transaction (PostgreSQL)."""
        if self.db.backend != "postgresql":
            return False
        return int(self.db.driver_connection.info.transaction_status) == 3  # INERROR

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - a dead connection is closed anyway
            pass


class Transaction:
    """One transaction, started by a Required container; see the module docstring."""

    def __init__(self, root: Executable, registry: ConnectionRegistry,
                 report: Callable[[str, bool], None] | None = None) -> None:
        self.root = root
        self.registry = registry
        self.isolation = root.isolation_level
        self.id = uuid.uuid4().hex[:16]
        self.participants: dict[str, Participant] = {}
        self.done = False
        #: report(message, warning)
        self.report = report or (lambda message, warning: None)
        self._lock = threading.Lock()

    # ---- enlisting

    @contextmanager
    def open(self, cm: ConnectionManager, text: str,
             map_path: Callable[[str], str] = lambda p: p) -> Iterator[Database]:
        """The transaction's connection to the database ``cm`` names; each outermost use
        runs under a savepoint on PostgreSQL (a failed task is undone alone)."""
        if self.done:
            raise TransactionError(f"the transaction of {self.root.path} has ended")
        url = connection_url(cm, text, map_path)
        part = self._enlist(url, cm)
        with part.lock:
            outer = part.depth == 0
            part.depth += 1
            savepoint = outer and part.db.backend == "postgresql"
            try:
                if savepoint:
                    part.execute("SAVEPOINT ssisrun_task")
                yield part.db
            finally:
                part.depth -= 1
                if savepoint and not self.done:
                    try:
                        if part.aborted():
                            part.execute("ROLLBACK TO SAVEPOINT ssisrun_task")
                        else:
                            part.execute("RELEASE SAVEPOINT ssisrun_task")
                    except Exception:  # noqa: BLE001 - the commit finds the aborted state
                        pass

    def _enlist(self, url: URL, cm: ConnectionManager) -> Participant:
        key = url.render_as_string(hide_password=False)
        with self._lock:
            part = self.participants.get(key)
            if part is not None:
                if cm.name not in part.names:
                    part.names.append(cm.name)
                return part
            engine = self.registry.engine(url)
            two_phase = supports_two_phase(engine.dialect)
            others = list(self.participants.values())
            if others and not (two_phase and all(p.two_phase for p in others)):
                names = [f"'{n}' ({p.db.backend})" for p in others for n in p.names]
                names.append(f"'{cm.name}' ({engine.dialect.name})")
                lacking = sorted({p.db.backend for p in others if not p.two_phase}
                                 | ({engine.dialect.name} if not two_phase else set()))
                raise TransactionError(
                    f"the transaction of {self.root.path} would span several databases "
                    f"(connection managers {', '.join(names)}), which needs two-phase "
                    f"commit, and {', '.join(lacking)} cannot take part in it; put the work "
                    "on one database, or mark the tasks on the other NotSupported")
            part = self._connect(url, cm, engine, two_phase, len(self.participants))
            self.participants[key] = part
            return part

    def _connect(self, url: URL, cm: ConnectionManager, engine: Any, two_phase: bool,
                 index: int) -> Participant:
        try:
            conn = engine.connect()
        except Exception as exc:  # the driver's own error: unreachable, bad login ...
            message = " ".join(str(getattr(exc, "orig", exc)).split())
            raise DatabaseConnectionError(f"cannot connect the connection manager '{cm.name}' "
                                          f"to {show_url(url)}: {message}") from None
        dialect = engine.dialect
        sa_tx: Any = None
        try:
            if dialect.name == "sqlite":
                # pysqlite's own transaction handling does not cover DDL: BEGIN by hand on
                # the autocommit connection
                raw = conn.connection.dbapi_connection
                if self.isolation in (IsolationLevel.ReadUncommitted, IsolationLevel.Chaos):
                    raw.execute("PRAGMA read_uncommitted = 1")
                raw.execute("BEGIN")
            else:
                level = self._isolation_for(conn, cm)
                if level:
                    conn.execution_options(isolation_level=level)
                sa_tx = (conn.begin_twophase(f"ssisrun-{self.id}-{index + 1}") if two_phase
                         else conn.begin())
        except Exception as exc:
            conn.close()
            message = " ".join(str(getattr(exc, "orig", exc)).split())
            raise DatabaseConnectionError(f"cannot begin the transaction of {self.root.path} "
                                          f"on '{cm.name}' ({show_url(url)}): {message}") \
                from None
        dbapi = getattr(dialect, "loaded_dbapi", None) or dialect.dbapi
        db = Database(conn.connection, dialect.name, str(getattr(dbapi, "paramstyle", "qmark")),
                      cm.name, False, self.registry.dialect_for(cm),
                      dialect.identifier_preparer.quote, enlisted=True)
        return Participant(url.render_as_string(hide_password=False), url, conn, db,
                           two_phase, sa_tx, [cm.name])

    def _isolation_for(self, conn: Connection, cm: ConnectionManager) -> str:
        wanted = ISOLATION_LEVELS.get(self.isolation, "SERIALIZABLE")
        try:
            raw = conn.connection.dbapi_connection
            if raw is None:
                return wanted
            known = {str(v).upper() for v in conn.dialect.get_isolation_level_values(raw)}
        except Exception:  # noqa: BLE001 - a dialect that cannot say: ask for it anyway
            return wanted
        if wanted in known:
            return wanted
        if wanted == "SNAPSHOT" and "REPEATABLE READ" in known:
            return "REPEATABLE READ"
        start = _STRONGER.index(wanted) if wanted in _STRONGER else 0
        for level in _STRONGER[start:]:
            if level in known:
                self.report(f"the database of '{cm.name}' has no isolation level {wanted}; "
                            f"the transaction of {self.root.path} uses {level}", False)
                return level
        return ""

    # ---- the end

    def commit(self) -> None:
        """Commit every participant (two-phase when there are several). Raises
        TransactionError after rolling everything back when it cannot."""
        parts = list(self.participants.values())
        try:
            for part in parts:
                if part.aborted():
                    raise TransactionError(
                        f"a failed statement on '{part.names[0]}' aborted the transaction "
                        f"of {self.root.path}")
            if len(parts) == 1:
                self._commit_one(parts[0])
            elif parts:
                for part in parts:
                    assert part.sa_tx is not None
                    part.sa_tx.prepare()  # type: ignore[attr-defined]
                    part.prepared = True
        except Exception as exc:
            self.rollback()
            if isinstance(exc, TransactionError):
                raise
            message = " ".join(str(getattr(exc, "orig", exc)).split())
            raise TransactionError(f"the transaction of {self.root.path} could not be "
                                   f"committed and was rolled back: {message}") from None
        if len(parts) > 1:
            # every participant is prepared: the decision is commit
            failed: list[str] = []
            for part in parts:
                try:
                    assert part.sa_tx is not None
                    part.sa_tx.commit()
                except Exception as exc:  # noqa: BLE001 - the others still commit
                    message = " ".join(str(getattr(exc, "orig", exc)).split())
                    failed.append(f"'{part.names[0]}' (prepared transaction "
                                  f"ssisrun-{self.id}-{parts.index(part) + 1}): {message}")
            self._close()
            if failed:
                raise TransactionError(
                    f"the transaction of {self.root.path} was prepared everywhere but "
                    f"COMMIT PREPARED failed on {'; '.join(failed)}; commit it there "
                    "(COMMIT PREPARED 'gid') to finish")
        else:
            self._close()
        if os.environ.get(TEST_KILL_AFTER_COMMIT) == self.root.path:
            os.kill(os.getpid(), signal.SIGKILL)

    def _commit_one(self, part: Participant) -> None:
        if part.sa_tx is None:
            part.db.driver_connection.execute("COMMIT")
        else:
            part.sa_tx.commit()

    def rollback(self) -> None:
        """Roll every participant back (prepared ones too); never raises."""
        for part in self.participants.values():
            try:
                if part.sa_tx is None:
                    part.db.driver_connection.execute("ROLLBACK")
                elif part.sa_tx.is_active:  # a failed PREPARE has ended it already
                    part.sa_tx.rollback()
            except Exception:  # noqa: BLE001 - closing the connection rolls back anyway
                pass
        self._close()

    def _close(self) -> None:
        self.done = True
        for part in self.participants.values():
            if part.db.backend == "sqlite" and self.isolation in (
                    IsolationLevel.ReadUncommitted, IsolationLevel.Chaos):
                try:
                    part.db.driver_connection.execute("PRAGMA read_uncommitted = 0")
                except Exception:  # noqa: BLE001
                    pass
            part.close()

    # ---- exactly-once markers

    def write_markers(self, marker: Marker) -> list[str]:
        """Insert ``marker`` into every participant (inside the transaction); returns the
        connection manager names that hold it."""
        names: list[str] = []
        for part in self.participants.values():
            with part.lock:
                ensure_marker_table(part.db)
                cur = part.db.cursor()
                try:
                    cur.execute(
                        f"INSERT INTO {MARKER_TABLE} (execution_key, container_id, "
                        "package_id, run_key, container_path, committed_at) VALUES "
                        f"({_marks(part.db, 6)})", marker.values())
                finally:
                    cur.close()
            names.append(part.names[0])
        return names


# --------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class Marker:
    """The row an exactly-once commit leaves behind."""

    package_id: str
    container_id: str
    run_key: str
    container_path: str

    @property
    def execution_key(self) -> str:
        return f"{self.package_id}|{self.container_id}|{self.run_key}"

    def values(self) -> tuple[str, ...]:
        return (self.execution_key, self.container_id, self.package_id, self.run_key,
                self.container_path, datetime.now().isoformat(timespec="seconds"))


def _marks(db: Database, count: int) -> str:
    if db.paramstyle == "qmark":
        return ", ".join(["?"] * count)
    if db.paramstyle in ("numeric", "named"):
        return ", ".join(f":{i + 1}" for i in range(count))
    return ", ".join(["%s"] * count)


def ensure_marker_table(db: Database) -> None:
    columns = ("execution_key VARCHAR(200) NOT NULL PRIMARY KEY, container_id VARCHAR(64) "
               "NOT NULL, package_id VARCHAR(64) NOT NULL, run_key VARCHAR(64) NOT NULL, "
               "container_path VARCHAR(2000), committed_at VARCHAR(40)")
    if db.backend == "mssql":
        sql = (f"IF OBJECT_ID('{MARKER_TABLE}') IS NULL CREATE TABLE {MARKER_TABLE} "
               f"({columns})")
    else:
        sql = f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} ({columns})"
    cur = db.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


def marker_present(db: Database, execution_key: str) -> bool:
    """Whether the database holds the marker (False when it has no marker table)."""
    cur = db.cursor()
    try:
        try:
            cur.execute(f"SELECT 1 FROM {MARKER_TABLE} WHERE execution_key = "
                        f"{_marks(db, 1)}", (execution_key,))
            return bool(cur.fetchall())
        except Exception:  # noqa: BLE001 - no marker table: never marked
            if db.backend == "postgresql":
                db.driver_connection.rollback()
            return False
    finally:
        cur.close()


def delete_markers(db: Database, run_key: str) -> None:
    cur = db.cursor()
    try:
        try:
            cur.execute(f"DELETE FROM {MARKER_TABLE} WHERE run_key = {_marks(db, 1)}",
                        (run_key,))
        except Exception:  # noqa: BLE001 - no marker table: nothing to clean
            if db.backend == "postgresql":
                db.driver_connection.rollback()
    finally:
        cur.close()


# --------------------------------------------------------------------------- the run's side


class TransactionScope:
    """What :meth:`TransactionManager.enter` hands the run time for one executable."""

    def __init__(self, manager: TransactionManager, exe: Executable,
                 transaction: Transaction | None, started: bool,
                 token: contextvars.Token[Transaction | None]) -> None:
        self.manager = manager
        self.exe = exe
        self.transaction = transaction
        self.started = started
        self._token: contextvars.Token[Transaction | None] | None = token

    def _leave(self) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
            self.manager.running.pop(id(self.exe), None)

    def finish(self, succeeded: bool) -> str | None:
        """End the executable's part: the one that started the transaction commits when it
        succeeded and rolls back otherwise. Returns an error message when the commit
        failed (everything is rolled back then)."""
        try:
            tx = self.transaction
            if not self.started or tx is None or tx.done:
                return None
            if not succeeded:
                tx.rollback()
                self.manager.rolled_back(self.exe)
                return None
            try:
                self.manager.before_commit(self.exe, tx)
                tx.commit()
            except SsisrunError as exc:
                tx.rollback()
                self.manager.rolled_back(self.exe)
                return str(exc)
            return None
        finally:
            self._leave()

    def abandon(self) -> None:
        """The executable ended with an exception: roll back what it started."""
        try:
            if self.started and self.transaction is not None and not self.transaction.done:
                self.transaction.rollback()
                self.manager.rolled_back(self.exe)
        finally:
            self._leave()


class TransactionManager:
    """The transactions of one run (one per Engine)."""

    def __init__(self, registry: ConnectionRegistry,
                 report: Callable[[Executable, str, bool], None],
                 inherited: Transaction | None = None) -> None:
        self.registry = registry
        self.report = report
        #: a child package's: the transaction of the Execute Package task that runs it
        self.inherited = inherited
        #: id(executable) -> its transaction, while it runs
        self.running: dict[int, Transaction | None] = {}
        #: called with (container, transaction) just before a commit (exactly-once)
        self.on_before_commit: Callable[[Executable, Transaction], None] | None = None
        self.on_rolled_back: Callable[[Executable], None] | None = None

    @staticmethod
    def current() -> Transaction | None:
        return _CURRENT.get()

    def _inherited_by(self, exe: Executable) -> Transaction | None:
        node = exe.parent
        while node is not None:
            if id(node) in self.running:
                return self.running[id(node)]
            if node.transaction_option == TransactionOption.NotSupported:
                return None  # an event handler (not run through enter) outside it
            node = node.parent
        return self.inherited

    def enter(self, exe: Executable) -> TransactionScope:
        option = exe.transaction_option
        outer = self._inherited_by(exe)
        started = False
        tx: Transaction | None
        if option == TransactionOption.NotSupported:
            tx = None
        elif option == TransactionOption.Required and outer is None:
            tx = Transaction(exe, self.registry,
                             lambda message, warning: self.report(exe, message, warning))
            started = True
        else:
            tx = outer
        self.running[id(exe)] = tx
        token = _CURRENT.set(tx)
        return TransactionScope(self, exe, tx, started, token)

    def of(self, exe: Executable) -> Transaction | None:
        """The transaction a running executable works in."""
        if id(exe) in self.running:
            return self.running[id(exe)]
        return self._inherited_by(exe)

    def before_commit(self, exe: Executable, tx: Transaction) -> None:
        if self.on_before_commit is not None and tx.participants:
            self.on_before_commit(exe, tx)

    def rolled_back(self, exe: Executable) -> None:
        if self.on_rolled_back is not None:
            self.on_rolled_back(exe)
