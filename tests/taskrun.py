"""One engine run of a test package, kept for the test to read: its events, its result, its
variables afterwards and how long it took. The task tests build a package's XML with
:mod:`builders` and hand it to :class:`PackageRun`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult, Package
from ssisrun.runtime import Event, EventBus, EventKind, RunRequest, RunResult
from ssisrun.runtime.engine import Engine


class PackageRun:
    """Load ``package`` (XML text, or a package already loaded), run it as ``run_package``
    does and keep the engine, the result and every event.

    ``source`` names the package in messages. ``before(engine)`` is called once the engine
    is built and before it runs. ``cancel`` becomes the engine's cancel event (the test sets
    it); with ``cancel_when`` the run is cancelled 0.2 s after that event is set (waiting
    for it at most 10 s), from another thread."""

    def __init__(self, package: str | Package, request: RunRequest | None = None, *,
                 source: str = "test.dtsx", before: Callable[[Engine], object] | None = None,
                 cancel: threading.Event | None = None,
                 cancel_when: threading.Event | None = None) -> None:
        if isinstance(package, str):
            package = load_package_bytes(package.encode(), source)
        self.events: list[Event] = []
        bus = EventBus()
        bus.subscribe(self.events.append)
        self.engine = Engine(package, request, bus, cancel_event=cancel)
        if before is not None:
            before(self.engine)
        if cancel_when is not None:
            threading.Thread(target=self._cancel_after, args=(cancel_when,), daemon=True).start()
        started = time.monotonic()
        self.result: RunResult = self.engine.run()
        self.elapsed = time.monotonic() - started

    def _cancel_after(self, event: threading.Event) -> None:
        if event.wait(10):
            time.sleep(0.2)
            self.engine.cancel_event.set()

    def var(self, name: str) -> Any:
        """A package-scope variable's value after the run (``User::Out``, ``Out``)."""
        return self.engine.scopes[id(self.engine.package)].get(name)

    def events_of(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def descriptions(self, kind: EventKind) -> list[str]:
        return [e.description for e in self.events_of(kind)]

    def text(self, kind: EventKind | None = None) -> str:
        """The descriptions of every event, or of every event of ``kind``, a line each."""
        return "\n".join(e.description for e in self.events if kind in (None, e.kind))

    @property
    def errors(self) -> list[str]:
        return self.descriptions(EventKind.OnError)

    @property
    def warnings(self) -> list[str]:
        return self.descriptions(EventKind.OnWarning)

    @property
    def infos(self) -> list[str]:
        return self.descriptions(EventKind.OnInformation)

    @property
    def error(self) -> str:
        """The first error; the test fails when the run raised none."""
        errors = self.errors
        assert errors, "the run raised no error"
        return errors[0]

    @property
    def ok(self) -> bool:
        return self.result.result == ExecResult.Success
