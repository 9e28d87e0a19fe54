"""A live view of a run on a terminal: the executables running now, and each one's
result as it finishes. Used by ``ssisrun exec`` when standard output is a terminal;
logs and CI get dtexec's plain output instead."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

_STYLE = {"Success": "green", "Failure": "red", "Completion": "blue", "Canceled": "yellow"}


class LiveView:
    def __init__(self, console: Console | None = None, keep: int = 12) -> None:
        self.console = console or Console()
        self.keep = keep
        self._lock = threading.Lock()
        self._running: dict[str, float] = {}
        self._done: list[tuple[str, str, float]] = []
        self._errors: list[tuple[str, str]] = []
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                          transient=False, get_renderable=self._render)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        kind = event.kind.value
        with self._lock:
            if kind == "OnPreExecute":
                self._running[event.source_path] = time.monotonic()
            elif kind == "ExecutableFinished":
                started = self._running.pop(event.source_path, time.monotonic())
                result = getattr(event.data.get("result"), "name", str(event.data.get("result")))
                self._done.append((event.source_path, result, time.monotonic() - started))
            elif kind == "OnError":
                self._errors.append((event.source_path, event.description))

    def _render(self) -> Group:
        with self._lock:
            running = dict(self._running)
            done = list(self._done[-self.keep:])
            errors = list(self._errors[-5:])
        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("Executable", overflow="fold")
        table.add_column("State")
        table.add_column("Seconds", justify="right")
        now = time.monotonic()
        for path, result, seconds in done:
            table.add_row(path, Text(result, style=_STYLE.get(result, "")), f"{seconds:.2f}")
        for path, started in running.items():
            table.add_row(path, Text("running", style="cyan"), f"{now - started:.2f}")
        parts: list[Any] = [table]
        for path, message in errors:
            parts.append(Text(f"Error in {path}: {message}", style="red"))
        return Group(*parts)
