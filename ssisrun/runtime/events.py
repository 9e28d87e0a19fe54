"""Events of a run: what executables raise, what handlers, the console, log files
and reports subscribe to. Nothing in the run time prints; it raises events.

The kinds are SSIS's own (spec ssis-runtime.md 2.10).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    OnPreValidate = "OnPreValidate"
    OnPostValidate = "OnPostValidate"
    OnPreExecute = "OnPreExecute"
    OnPostExecute = "OnPostExecute"
    OnError = "OnError"
    OnWarning = "OnWarning"
    OnInformation = "OnInformation"
    OnProgress = "OnProgress"
    OnTaskFailed = "OnTaskFailed"
    OnVariableValueChanged = "OnVariableValueChanged"
    OnQueryCancel = "OnQueryCancel"
    OnExecStatusChanged = "OnExecStatusChanged"
    # ssisrun's own, for reports: an executable finished (with its result and duration)
    # or was skipped because its constraints were never met.
    ExecutableFinished = "ExecutableFinished"
    ExecutableSkipped = "ExecutableSkipped"
    PackageStarted = "PackageStarted"
    PackageFinished = "PackageFinished"


#: the SSIS events event handlers can be written for
HANDLED_EVENTS = frozenset(
    k.value for k in EventKind
    if k.value.startswith("On")
)


@dataclass(slots=True)
class Event:
    kind: EventKind
    #: the path of the executable that raised it (``\\Package\\Load``)
    source_path: str
    source_name: str
    source_id: str = ""
    code: int = 0
    description: str = ""
    time: datetime = field(default_factory=datetime.now)
    #: extra data: result, duration, progress figures, variable name ...
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers events to subscribers, one event at a time (thread-safe)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        with self._lock:
            for subscriber in list(self._subscribers):
                subscriber(event)
