"""Checkpoints during a run: restore at the start, record as executables complete,
delete on success (spec ssis-runtime.md 3.2, 3.7).

What is recorded: every executable that completes (Success or Completion) and is
not inside a loop, a transacted container or an event handler. A Foreach Loop, a
For Loop and a transacted container are recorded only as a whole. Unlike SSIS,
every completed executable on every parallel branch is recorded, so a restart runs
exactly those that did not complete. With ``resume_loops`` the completed iterations
of loops are recorded too, and a restarted loop resumes at the failed item.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from ssisrun.runtime.engine import Engine
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
        if not self.restored or not exe.dtsid:
            return None
        return self.restored.get(normalize_guid(exe.dtsid))

    def record(self, exe: Executable, result: ExecResult) -> None:
        if not self.save or result == ExecResult.Failure or not is_recordable(exe):
            return
        guid = normalize_guid(exe.dtsid)
        if not guid:
            return
        with self._lock:
            self.data.completed[guid] = CompletedExecutable(guid, int(result), "", exe.path)
            self.data.loops.pop(guid, None)  # a loop recorded whole needs no progress
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
