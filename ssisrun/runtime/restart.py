"""Checkpoints during a run: restore at the start, record as executables complete,
delete on success (spec ssis-runtime.md 3.2, 3.7).

What is recorded: every executable that completes (Success or Completion) and is
not inside a loop, a transacted container or an event handler. A Foreach Loop, a
For Loop and a transacted container are recorded only as a whole. Unlike SSIS,
every completed executable on every parallel branch is recorded, so a restart runs
exactly those that did not complete. With ``resume_loops`` the completed iterations
of loops are recorded too, and a restarted loop resumes at the failed item.

Exactly-once mode (``RunRequest.exactly_once``, docs/transactions.md): before a transacted
container commits, the file gets the run's key and the connection managers whose databases
receive a marker row inside the transaction; on a restart, such a container whose marker is
present counts as completed. The markers are deleted when the package succeeds.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import (
    CheckpointUsage,
    EventHandler,
    ExecResult,
    Executable,
    ForeachLoop,
    ForLoop,
    Package,
    TransactionOption,
    normalize_guid,
)
from ssisrun.runtime.checkpoint import (
    UNSAVED_TYPES,
    CheckpointData,
    CheckpointError,
    CheckpointFile,
    CheckpointMismatchError,
    CompletedExecutable,
    LoopProgress,
    restore_value,
    saved_variables,
)
from ssisrun.runtime.events import EventKind

if TYPE_CHECKING:
    from ssisrun.runtime.engine import Engine
    from ssisrun.runtime.transactions import Marker, Transaction, TransactionManager
    from ssisrun.runtime.variables import RuntimeVariable


def default_checkpoint_file(package: Package) -> Path:
    """``Load.dtsx`` -> ``Load.checkpoint.xml`` beside it."""
    source = package.source.split("!/", 1)[0]
    base = Path(source)
    name = package.name or base.stem
    return base.with_name(f"{name}.checkpoint.xml")


def is_atomic(exe: Executable) -> bool:
    """Loops and transacted containers restart as a whole."""
    return isinstance(exe, (ForLoop, ForeachLoop)) or (
        exe.is_container and exe.transaction_option == TransactionOption.Required
        and not isinstance(exe, Package)
    )


def is_recordable(exe: Executable) -> bool:
    if isinstance(exe, (Package, EventHandler)):
        return False
    return not any(isinstance(a, EventHandler) or is_atomic(a) for a in exe.ancestors())


class CheckpointSession:
    def __init__(self, engine: Engine, path: Path, save: bool, usage: CheckpointUsage,
                 resume_loops: bool = False) -> None:
        self.engine = engine
        self.file = CheckpointFile(path)
        self.save = save
        self.usage = usage
        self.resume_loops = resume_loops
        self.data = CheckpointData(package_id=normalize_guid(engine.package.dtsid) or
                                   engine.package.dtsid)
        self.data.package_path = engine.package.source
        self.data.package_name = engine.package.name
        #: DTSID -> result, restored from the file
        self.restored: dict[str, ExecResult] = {}
        self.restored_loops: dict[str, list[str]] = {}
        self.restarted = False
        self.written = False
        self._lock = threading.Lock()
        self._owners: list[tuple[str, list[RuntimeVariable]]] | None = None
        #: exactly-once mode: markers of committed transactions in their databases
        self.exactly_once = bool(getattr(engine.request, "exactly_once", False)) and save
        self.data.run_key = uuid.uuid4().hex
        #: DTSID -> connection managers whose databases may hold its marker (restored)
        self.restored_commits: dict[str, list[str]] = {}
        #: connection managers holding markers of this run (deleted on success)
        self.marked: set[str] = set()

    # ---- start

    def start(self) -> None:
        """Lock the file and restore from it as CheckpointUsage says. Raises
        CheckpointError when the run must not start."""
        pkg = self.engine.package
        self.file.acquire()
        try:
            exists = self.file.exists()
            if self.usage == CheckpointUsage.Never:
                if exists and self.save:
                    self._check_owner(refuse_code="DTS_E_CHECKPOINTFILEALREADYEXISTS")
                return
            if not exists:
                if self.usage == CheckpointUsage.Always:
                    raise CheckpointError(
                        "CheckpointUsage is Always but there is no checkpoint file to restart "
                        "from (DTS_E_LOADCHECKPOINT); use --restart ifpossible (dtexec: "
                        "/Restart ifPossible) to run from the start when there is none",
                        path=str(self.file.path))
                return
            from ssisrun.runtime.checkpoint import read_checkpoint

            saved = read_checkpoint(self.file.path)
            if normalize_guid(saved.package_id) != normalize_guid(pkg.dtsid):
                raise CheckpointMismatchError(
                    f"the checkpoint file belongs to another package ({saved.package_id}"
                    f"{', ' + saved.package_name if saved.package_name else ''}), not to "
                    f"{pkg.name} ({pkg.dtsid}) (DTS_E_CHECKPOINTMISMATCH); delete it or name "
                    "another file with --checkpoint-file", path=str(self.file.path))
            self._restore(saved)
        except BaseException:
            self.file.release()
            raise

    def _check_owner(self, refuse_code: str) -> None:
        from ssisrun.runtime.checkpoint import read_checkpoint

        try:
            saved = read_checkpoint(self.file.path)
        except CheckpointError:
            raise CheckpointError(
                f"a file that is not a checkpoint of this package is in the way ({refuse_code})",
                path=str(self.file.path)) from None
        if normalize_guid(saved.package_id) != normalize_guid(self.engine.package.dtsid):
            raise CheckpointMismatchError(
                f"the checkpoint file belongs to another package ({saved.package_id}) and "
                f"ssisrun will not overwrite it ({refuse_code})", path=str(self.file.path))

    def _restore(self, saved: CheckpointData) -> None:
        engine = self.engine
        if saved.run_key:
            self.data.run_key = saved.run_key
        self.restored_commits = dict(saved.commits)
        self.data.commits = dict(saved.commits)
        for names in saved.commits.values():
            self.marked.update(names)
        self.marked.update(n for n in saved.marked if n)
        by_id = {normalize_guid(e.dtsid): e for e in engine.package.walk() if e.dtsid}
        for owner, variables in saved.variables.items():
            exe = by_id.get(normalize_guid(owner))
            if exe is None:
                continue
            scope = engine.scopes[id(exe)]
            for var in variables:
                runtime = scope.own.get(var.qualified_name)
                if runtime is None or runtime.expression or var.namespace == "System":
                    continue
                try:
                    value = restore_value(var)
                    engine.store.assign(runtime, value, scope, force=True)
                except Exception:  # noqa: BLE001 - a value that no longer fits: keep the design one
                    continue
        for cont_id, done in saved.completed.items():
            guid = normalize_guid(cont_id)
            if guid in by_id:
                try:
                    self.restored[guid] = ExecResult(done.result)
                except ValueError:
                    self.restored[guid] = ExecResult.Success
                self.data.completed[guid] = CompletedExecutable(
                    guid, done.result, done.precedence_map, by_id[guid].path)
        if self.resume_loops:
            for cont_id, loop in saved.loops.items():
                self.restored_loops[normalize_guid(cont_id)] = list(loop.done)
                self.data.loops[normalize_guid(cont_id)] = LoopProgress(
                    normalize_guid(cont_id), list(loop.done))
        # values given on this command line (--var) win over the saved ones
        for name, text in engine.request.variables.items():
            engine._apply_variable_override(name, text)
        self.restarted = True

    # ---- during the run

    def completed_result(self, exe: Executable) -> ExecResult | None:
        """The saved result of an executable that completed before the restart."""
        if not exe.dtsid or not (self.restored or self.restored_commits):
            return None
        guid = normalize_guid(exe.dtsid)
        saved = self.restored.get(guid)
        if saved is not None or not self.exactly_once:
            return saved
        names = self.restored_commits.pop(guid, None)
        if not names or not self._marker_found(exe, names):
            return None
        with self._lock:
            self.restored[guid] = ExecResult.Success
            self.data.completed[guid] = CompletedExecutable(guid, int(ExecResult.Success), "",
                                                            exe.path)
            self.data.commits.pop(guid, None)
            self._write()
        self.engine.raise_event(exe, EventKind.OnInformation, 0x4001402D,
                                "its transaction committed before the restart (its marker is "
                                f"in the database of '{names[0]}'): it counts as completed")
        return ExecResult.Success

    # ---- exactly-once

    def _marker(self, exe: Executable) -> Marker:
        from ssisrun.runtime.transactions import Marker

        return Marker(self.data.package_id, normalize_guid(exe.dtsid), self.data.run_key,
                      exe.path)

    def attach_transactions(self, manager: TransactionManager) -> None:
        if self.exactly_once:
            manager.on_before_commit = self._before_commit
            manager.on_rolled_back = self._rolled_back

    def _before_commit(self, exe: Executable, tx: Transaction) -> None:
        """Inside the transaction: a marker row in every database, and the file (with the
        run key) written durably, before the commit."""
        if not exe.dtsid or not is_recordable(exe):
            return
        names = tx.write_markers(self._marker(exe))
        with self._lock:
            self.data.commits[normalize_guid(exe.dtsid)] = names
            self.marked.update(names)
            self._write()

    def _rolled_back(self, exe: Executable) -> None:
        with self._lock:
            self.data.commits.pop(normalize_guid(exe.dtsid), None)

    def _marker_found(self, exe: Executable, names: list[str]) -> bool:
        from ssisrun.runtime.transactions import marker_present

        engine = self.engine
        key = self._marker(exe).execution_key
        for name in names:
            try:
                cm, text = engine.connection(name, engine.scopes[id(engine.package)])
                with engine.connections.open(cm, text, engine.map_path) as db:
                    if marker_present(db, key):
                        return True
            except SsisrunError as exc:
                engine.raise_event(exe, EventKind.OnWarning, 0x8001402D,
                                   f"cannot look for the exactly-once marker in the database "
                                   f"of '{name}' ({exc}); the container runs again")
        return False

    def _delete_markers(self) -> None:
        from ssisrun.runtime.transactions import delete_markers

        engine = self.engine
        for name in sorted(self.marked):
            try:
                cm, text = engine.connection(name, engine.scopes[id(engine.package)])
                with engine.connections.open(cm, text, engine.map_path) as db:
                    delete_markers(db, self.data.run_key)
            except SsisrunError as exc:
                engine.raise_event(engine.package, EventKind.OnWarning, 0x8001402D,
                                   f"cannot delete the exactly-once markers of this run from "
                                   f"the database of '{name}': {exc}")

    def record(self, exe: Executable, result: ExecResult) -> None:
        if not self.save or result == ExecResult.Failure or not is_recordable(exe):
            return
        guid = normalize_guid(exe.dtsid)
        if not guid:
            return
        with self._lock:
            self.data.completed[guid] = CompletedExecutable(guid, int(result), "", exe.path)
            self.data.loops.pop(guid, None)  # a loop recorded whole needs no progress
            self.data.commits.pop(guid, None)  # committed and recorded: no marker needed
            self._write()

    def loop_done_keys(self, loop: Executable) -> list[str]:
        return list(self.restored_loops.get(normalize_guid(loop.dtsid), []))

    def record_iteration(self, loop: Executable, key: str) -> None:
        if not self.save or not self.resume_loops or not is_recordable(loop):
            return
        guid = normalize_guid(loop.dtsid)
        with self._lock:
            progress = self.data.loops.setdefault(guid, LoopProgress(guid))
            progress.done.append(key)
            self._write()

    def reset_loop(self, loop: Executable) -> None:
        guid = normalize_guid(loop.dtsid)
        with self._lock:
            self.data.loops.pop(guid, None)
            self.restored_loops.pop(guid, None)

    def _saved_owners(self) -> list[tuple[str, list[RuntimeVariable]]]:
        """The variables a checkpoint keeps, by owner; found once per run."""
        if self._owners is None:
            engine = self.engine
            owners = []
            for exe in engine.package.walk():
                if not exe.dtsid or isinstance(exe, EventHandler):
                    continue
                kept = [var for var in engine.scopes[id(exe)].own.values()
                        if var.namespace != "System" and not var.expression
                        and var.data_type not in UNSAVED_TYPES]
                if kept:
                    owners.append((normalize_guid(exe.dtsid), kept))
            self._owners = owners
        return self._owners

    def _write(self) -> None:
        self.data.marked = sorted(self.marked)
        variables: dict[str, Any] = {}
        for owner, kept in self._saved_owners():
            variables[owner] = saved_variables(
                [(v.namespace, v.name, v.dtsid, v.data_type, v.stored_value) for v in kept])
        self.data.variables = variables
        self.data.written = datetime.now()
        self.file.write(self.data)
        self.written = True

    # ---- end

    def finish(self, result: ExecResult) -> bool:
        """Delete the file on success, keep (and complete) it otherwise. Returns whether a
        checkpoint file remains to restart from."""
        try:
            if result in (ExecResult.Success, ExecResult.Completion):
                if self.exactly_once and self.marked:
                    self._delete_markers()
                if self.save or self.restarted:
                    self.file.delete()
                return False
            if self.save:
                with self._lock:
                    self._write()
                return True
            return self.file.exists()
        finally:
            self.file.release()
