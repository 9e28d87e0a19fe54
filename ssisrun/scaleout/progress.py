"""Live progress of a scale-out run: a rich table of every execution on a terminal
(:class:`LiveProgress`), otherwise one plain line per state change (:class:`PlainProgress`).
Both write only to what the command gives them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ssisrun.catalog import Status
from ssisrun.scaleout.scheduler import ExecutionState


def describe(state: ExecutionState) -> str:
    """``#3 Load: running, attempt 1/3 on local-2, 1.2 s``."""
    text = f"#{state.execution_id} {state.package_name}: {state.status.label}"
    if state.attempt:
        text += f", attempt {state.attempt}/{state.max_attempts}"
    if state.worker and state.status in (Status.running, Status.stopping):
        text += f" on {state.worker}"
    if state.started is not None:
        text += f", {state.elapsed:.1f} s"
    return text


class PlainProgress:
    """One line per state change, for logs and pipes."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._lock = threading.Lock()

    def on_change(self, state: ExecutionState) -> None:
        stamp = state.changed.strftime("%H:%M:%S") if state.changed else ""
        with self._lock:
            self.write(f"{stamp} {describe(state)}")


_STYLES = {Status.succeeded: "green", Status.completed: "green", Status.failed: "red",
           Status.ended_unexpectedly: "red", Status.canceled: "yellow",
           Status.running: "cyan", Status.stopping: "yellow"}


class LiveProgress:
    """A table of every execution (status, attempt, worker, elapsed), redrawn in place."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self.states: dict[int, ExecutionState] = {}
        self._live: Any = None

    def on_change(self, state: ExecutionState) -> None:
        self.states[state.execution_id] = state

    def table(self) -> Any:
        from rich.table import Table

        done = sum(1 for s in self.states.values() if s.status in (
            Status.succeeded, Status.completed, Status.failed, Status.canceled,
            Status.ended_unexpectedly))
        table = Table(title=f"Scale Out: {done}/{len(self.states)} ended", expand=False)
        for column in ("ID", "Package", "Status", "Attempt", "Worker", "Elapsed"):
            table.add_column(column, justify="right" if column in ("ID", "Elapsed") else "left")
        for state in sorted(self.states.values(), key=lambda s: s.execution_id):
            style = _STYLES.get(state.status, "")
            table.add_row(str(state.execution_id), state.package_name,
                          f"[{style}]{state.status.label}[/]" if style else state.status.label,
                          f"{state.attempt}/{state.max_attempts}" if state.attempt else "",
                          state.worker or "", f"{state.elapsed:.1f} s")
        return table

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(get_renderable=self.table, console=self.console,
                          refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
