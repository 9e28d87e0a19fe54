"""Reports of a run, written by subscribers of the run's :class:`~ssisrun.runtime.EventBus`.

* :class:`JsonLinesLog` (``--log-json FILE``): one JSON object per event and line, with
  SSIS's log columns (``event, computer, operator, source, sourceid, executionid,
  starttime, endtime, datacode, databytes, message``; spec
  ssis-expressions-catalog-scaleout.md 4.2) and ``sourcepath``, the executable's path.
  Each line is written with one ``write`` to a file opened for appending, so a crash
  leaves only complete lines. The package's start and end are SSIS's ``PackageStart``
  and ``PackageEnd`` entries.
* :class:`JUnitReport` (``--junit FILE``): one ``<testcase>`` per executable run
  (classname = the package's name, name = the executable's path, time = its duration),
  with a ``<failure>`` holding its errors when it failed and ``<skipped>`` when its
  precedence constraints never allowed it to run. Written when the package finishes,
  to a temporary file moved into place.

Neither ever writes a Sensitive parameter's value or a password: messages go through
:func:`redact`.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ssisrun.runtime.events import Event, EventKind
from ssisrun.secrets import MASK, mask_connection_string

#: ssisrun's event names -> SSIS log entry names
_LOG_NAMES = {EventKind.PackageStarted: "PackageStart", EventKind.PackageFinished: "PackageEnd"}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``********`` and passwords of connection
    strings masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_connection_string(text)


def _signed(code: int) -> int:
    code &= 0xFFFFFFFF
    return code - 0x100000000 if code >= 0x80000000 else code


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return ""


class _Secrets:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = {str(s) for s in secrets if s not in (None, "")}

    def add_secrets(self, secrets: Iterable[Any]) -> None:
        """More values never to write (known once the run's parameters are set up)."""
        self.secrets.update(str(s) for s in secrets if s not in (None, ""))


class JsonLinesLog(_Secrets):
    """Writes every event as one line of JSON with SSIS's log columns."""

    def __init__(self, path: str | Path, *, execution_id: str = "",
                 secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets)
        self.path = Path(path)
        self.execution_id = execution_id
        self.computer = platform.node()
        self.operator = _user()
        self._lock = threading.Lock()
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        #: events seen before the execution's id is known (while the run is set up)
        self._held: list[Event] | None = None if execution_id else []

    def set_execution_id(self, execution_id: str) -> None:
        """The run's ExecutionInstanceGUID, known once the engine exists; events held
        until then are written with it."""
        self.execution_id = execution_id
        held, self._held = self._held or [], None
        for event in held:
            self.on_event(event)

    def entry(self, event: Event) -> dict[str, Any]:
        """The log entry of an event (the columns of SSIS's ``sysssislog``)."""
        data = event.data
        if event.code:
            datacode = _signed(event.code)
        elif "result" in data:
            datacode = int(data["result"])
        else:
            datacode = 0
        stamp = event.time.isoformat(timespec="milliseconds")
        return {
            "event": _LOG_NAMES.get(event.kind, event.kind.value),
            "computer": self.computer,
            "operator": self.operator,
            "source": event.source_name,
            "sourceid": event.source_id,
            "sourcepath": event.source_path,
            "executionid": self.execution_id,
            "starttime": stamp,
            "endtime": stamp,
            "datacode": datacode,
            "databytes": "",
            "message": redact(event.description, self.secrets),
        }

    def on_event(self, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        line = json.dumps(self.entry(event), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        if self._held is not None:
            self.set_execution_id(self.execution_id)
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@dataclass(slots=True)
class _Case:
    name: str
    time: float
    result: int
    skipped: bool = False
    errors: list[str] = field(default_factory=list)


class JUnitReport(_Secrets):
    """Collects executables' results and writes a JUnit XML file when the package ends."""

    def __init__(self, path: str | Path, package_name: str, *,
                 secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets)
        self.path = Path(path)
        self.package_name = package_name
        self.cases: list[_Case] = []
        self.started = datetime.now()
        self._errors: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self.written = False

    def on_event(self, event: Event) -> None:
        with self._lock:
            if event.kind == EventKind.PackageStarted:
                self.started = event.time
            elif event.kind == EventKind.OnError:
                self._errors[event.source_path].append(event.description)
            elif event.kind == EventKind.ExecutableFinished:
                result = int(event.data.get("result", 0))
                self.cases.append(_Case(event.source_path, float(event.data.get(
                    "duration", 0.0)), result, errors=self._errors.pop(event.source_path, [])))
            elif event.kind == EventKind.ExecutableSkipped:
                self.cases.append(_Case(event.source_path, 0.0, 2, skipped=True))
        if event.kind == EventKind.PackageFinished:
            self.write(event.time)

    def xml(self, finished: datetime | None = None) -> bytes:
        """The report as JUnit XML."""
        finished = finished or datetime.now()
        failures = sum(1 for c in self.cases if c.result == 1 and not c.skipped)
        skipped = sum(1 for c in self.cases if c.skipped)
        suite = ET.Element("testsuite", {
            "name": self.package_name, "tests": str(len(self.cases)),
            "failures": str(failures), "errors": "0", "skipped": str(skipped),
            "time": f"{(finished - self.started).total_seconds():.3f}",
            "timestamp": self.started.isoformat(timespec="seconds"),
            "hostname": platform.node()})
        for case in self.cases:
            node = ET.SubElement(suite, "testcase", {
                "classname": self.package_name, "name": case.name,
                "time": f"{case.time:.3f}"})
            if case.skipped:
                ET.SubElement(node, "skipped", {
                    "message": "skipped: its precedence constraints were not met"})
            elif case.result == 1:
                errors = [redact(e, self.secrets) for e in case.errors]
                failure = ET.SubElement(node, "failure", {
                    "message": errors[0] if errors else "the executable failed",
                    "type": "DTSER_FAILURE"})
                failure.text = "\n".join(errors) if errors else "the executable failed"
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))

    def write(self, finished: datetime | None = None) -> None:
        """Write the file atomically: a temporary file beside it, then ``os.replace``."""
        with self._lock:
            data = self.xml(finished)
            directory = self.path.parent if str(self.path.parent) else Path(".")
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            self.written = True
