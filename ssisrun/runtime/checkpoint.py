"""Checkpoint files: SSIS's XML format, written durably, locked while a run uses them.

The format is SSIS's (spec ssis-runtime.md 3.6)::

    <DTS:Checkpoint xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:PackageID="{...}">
      <DTS:Variables DTS:ContID="{owner}"> <DTS:Variable ...> ... </DTS:Variables>
      <DTS:Container DTS:ContID="{completed}" DTS:Result="0" DTS:PrecedenceMap=""/>
    </DTS:Checkpoint>

so people who know SSIS can read it, and files SSIS wrote can be read here.
ssisrun's additions (when it was written, the executable's path, exact values of
dates, completed loop iterations) are attributes and elements in its own namespace,
which SSIS ignores.

Writes are durable: a new file is written beside the old one, fsynced, renamed over
it, and the folder is fsynced, so a crash leaves the old file or the new one, never a
torn one. Files are created with mode 0600. A lock file beside the checkpoint keeps
two runs from using it at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from ssisrun.errors import SsisrunError

DTS_NS = "www.microsoft.com/SqlServer/Dts"
RUN_NS = "https://ssisrun.dev/checkpoint/1"
D = "{" + DTS_NS + "}"
R = "{" + RUN_NS + "}"
NSMAP = {"DTS": DTS_NS, "ssisrun": RUN_NS}

#: VARTYPE codes never saved (Object variables, as SSIS documents)
_UNSAVED_TYPES = frozenset({0, 1, 9, 12, 13})


class CheckpointError(SsisrunError):
    """A checkpoint file cannot be used (SSIS's DTS_E_LOADCHECKPOINT family)."""

    code = 0xC001F083


class CheckpointMismatchError(CheckpointError):
    """The file belongs to another package (DTS_E_CHECKPOINTMISMATCH)."""

    code = 0xC0016049


class CheckpointLockedError(CheckpointError):
    """Another run is using the file (DTS_E_CHECKPOINTFILELOCKED)."""

    code = 0xC001604B


@dataclass(slots=True)
class SavedVariable:
    namespace: str
    name: str
    data_type: int
    text: str
    dtsid: str = ""
    #: ssisrun's exact form of the value (ISO dates with microseconds), when written by us
    exact: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}::{self.name}"


@dataclass(slots=True)
class CompletedExecutable:
    cont_id: str
    result: int = 0
    precedence_map: str = ""
    path: str = ""


@dataclass(slots=True)
class LoopProgress:
    """Completed iterations of a loop (ssisrun's --resume-loops)."""

    cont_id: str
    #: one key per completed item (Foreach) or iteration number (For Loop)
    done: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CheckpointData:
    package_id: str
    #: owner container DTSID (upper case, braces) -> its saved variables
    variables: dict[str, list[SavedVariable]] = field(default_factory=dict)
    #: DTSID -> completed executable
    completed: dict[str, CompletedExecutable] = field(default_factory=dict)
    loops: dict[str, LoopProgress] = field(default_factory=dict)
    written: datetime | None = None
    package_path: str = ""
    package_name: str = ""


def _guid(text: str) -> str:
    value = text.strip().upper()
    if value and not value.startswith("{"):
        value = "{" + value + "}"
    return value


# --------------------------------------------------------------------------- values


def value_text(data_type: int, value: Any) -> tuple[str, str | None]:
    """SSIS's text for a variable value, and ssisrun's exact form when they differ."""
    if isinstance(value, bool):
        return ("-1" if value else "0"), None
    if isinstance(value, datetime):
        hour = value.hour % 12 or 12
        text = (f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d}:"
                f"{value.second:02d} {'AM' if value.hour < 12 else 'PM'}")
        return text, value.isoformat()
    if isinstance(value, float):
        return repr(value), None
    if isinstance(value, Decimal):
        return str(value), None
    return ("" if value is None else str(value)), None


# --------------------------------------------------------------------------- reading


def read_checkpoint(path: str | Path) -> CheckpointData:
    """Read a checkpoint file written by ssisrun or by SSIS."""
    from ssisrun.dtsx.safexml import parse_bytes
    from ssisrun.errors import PackageLoadError

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint file: {exc.strerror or exc}",
                              path=str(file)) from None
    try:
        root = parse_bytes(data, str(file), "checkpoint file").getroot()
    except PackageLoadError as exc:
        raise CheckpointError(f"the checkpoint file is not valid XML (DTS_E_CHECKPOINTLOADXML): "
                              f"{exc.message}", path=str(file), line=exc.line) from None
    if root.tag != D + "Checkpoint":
        raise CheckpointError("not a checkpoint file: the root element is not <DTS:Checkpoint>",
                              path=str(file))
    result = CheckpointData(package_id=_guid(root.get(D + "PackageID") or ""))
    written = root.get(R + "Written")
    if written:
        try:
            result.written = datetime.fromisoformat(written)
        except ValueError:
            result.written = None
    result.package_path = root.get(R + "PackagePath") or ""
    result.package_name = root.get(R + "PackageName") or ""
    for el in root:
        if el.tag == D + "Variables":
            owner = _guid(el.get(D + "ContID") or "")
            saved = result.variables.setdefault(owner, [])
            for var in el:
                if var.tag == D + "Variable":
                    saved.append(_read_variable(var))
        elif el.tag == D + "Container":
            cont = _guid(el.get(D + "ContID") or "")
            try:
                code = int(el.get(D + "Result") or "0")
            except ValueError:
                code = 0
            result.completed[cont] = CompletedExecutable(
                cont, code, el.get(D + "PrecedenceMap") or "", el.get(R + "Path") or "")
        elif el.tag == R + "Loop":
            cont = _guid(el.get(R + "ContID") or "")
            result.loops[cont] = LoopProgress(
                cont, [item.get(R + "Key") or "" for item in el if item.tag == R + "Done"])
    return result


def _read_variable(el: etree._Element) -> SavedVariable:
    props: dict[str, str] = {}
    for key, val in el.attrib.items():
        if str(key).startswith(D):
            props[str(key)[len(D):]] = str(val)
    for child in el:
        if child.tag == D + "Property":
            props.setdefault(child.get(D + "Name") or "", child.text or "")
    value_el = el.find(D + "VariableValue")
    code = int(value_el.get(D + "DataType") or "8") if value_el is not None else 8
    return SavedVariable(
        namespace=props.get("Namespace", "User") or "User",
        name=props.get("ObjectName", ""),
        data_type=code,
        text=(value_el.text or "") if value_el is not None else "",
        dtsid=props.get("DTSID", ""),
        exact=value_el.get(R + "Exact") if value_el is not None else None,
    )


# --------------------------------------------------------------------------- writing


def serialize(data: CheckpointData) -> bytes:
    root = etree.Element(D + "Checkpoint", nsmap=NSMAP)
    root.set(D + "PackageID", data.package_id)
    if data.written is not None:
        root.set(R + "Written", data.written.isoformat(timespec="seconds"))
    if data.package_path:
        root.set(R + "PackagePath", data.package_path)
    if data.package_name:
        root.set(R + "PackageName", data.package_name)
    for owner, saved in data.variables.items():
        block = etree.SubElement(root, D + "Variables")
        block.set(D + "ContID", owner)
        for var in saved:
            el = etree.SubElement(block, D + "Variable")
            el.set(D + "Namespace", var.namespace)
            el.set(D + "ObjectName", var.name)
            el.set(D + "DTSID", var.dtsid)
            el.set(D + "CreationName", "")
            value = etree.SubElement(el, D + "VariableValue")
            value.set(D + "DataType", str(var.data_type))
            if var.exact is not None:
                value.set(R + "Exact", var.exact)
            value.text = var.text
    for done in data.completed.values():
        el = etree.SubElement(root, D + "Container")
        el.set(D + "ContID", done.cont_id)
        el.set(D + "Result", str(done.result))
        el.set(D + "PrecedenceMap", done.precedence_map)
        if done.path:
            el.set(R + "Path", done.path)
    for loop in data.loops.values():
        el = etree.SubElement(root, R + "Loop")
        el.set(R + "ContID", loop.cont_id)
        for key in loop.done:
            etree.SubElement(el, R + "Done").set(R + "Key", key)
    return etree.tostring(root, xml_declaration=False, encoding="utf-8")


def saved_variables(values: list[tuple[str, str, str, int, Any]]) -> list[SavedVariable]:
    """(namespace, name, dtsid, data_type, value) -> what a checkpoint keeps (not Objects)."""
    result = []
    for namespace, name, dtsid, code, value in values:
        if code in _UNSAVED_TYPES:
            continue
        text, exact = value_text(code, value)
        result.append(SavedVariable(namespace, name, code, text, dtsid, exact))
    return result


def restore_value(var: SavedVariable) -> Any:
    """The Python value of a saved variable."""
    from ssisrun.dtsx.reader import parse_value
    from ssisrun.model import VarType

    if var.exact is not None:
        try:
            return datetime.fromisoformat(var.exact)
        except ValueError:
            pass
    try:
        kind = VarType(var.data_type)
    except ValueError:
        return var.text
    return parse_value(kind, var.text)


class CheckpointFile:
    """One checkpoint file: its lock, and durable writes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd: int | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def acquire(self) -> None:
        """Take the lock, or raise CheckpointLockedError naming the process that holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CheckpointError(f"cannot create the checkpoint lock file: "
                                  f"{exc.strerror or exc}", path=str(self.lock_path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            try:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            except OSError:
                pass
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise CheckpointLockedError(
                    "another run is using this checkpoint file (DTS_E_CHECKPOINTFILELOCKED)"
                    + (f": {holder}" if holder else ""), path=str(self.path)) from None
            raise CheckpointError(f"cannot lock the checkpoint file: {exc}",
                                  path=str(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None
            try:
                self.lock_path.unlink()
            except OSError:
                pass

    def write(self, data: CheckpointData) -> None:
        payload = serialize(data)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise CheckpointError(
                f"cannot write the checkpoint file (DTS_E_COULDNOTREPLACECHECKPOINTFILE): "
                f"{exc.strerror or exc}", path=str(self.path)) from None

    def delete(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CheckpointError(f"cannot delete the checkpoint file: {exc.strerror or exc}",
                                  path=str(self.path)) from None
