"""``ssisrun exec``: run a package, with dtexec's console output and exit codes."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from typing import Any

import click

from ssisrun.commands.options import load_from_options, package_source


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"{option} takes NAME=VALUE, got '{item}'")
        result[name.strip()] = value
    return result


@click.command("exec")
@package_source
@click.option("--var", "variables", multiple=True, metavar="NS::NAME=VALUE",
              help="Set a variable's value before the run (User:: when no namespace). "
              "Repeatable.")
@click.option("--param", "params", multiple=True, metavar="[$Package::|$Project::]NAME=VALUE",
              help="Set a package or project parameter. Repeatable.")
@click.option("--conn", "conns", multiple=True, metavar="NAME=CONNECTION_STRING",
              help="Replace a connection manager's connection string (by name or DTSID). "
              "Repeatable.")
@click.option("--max-concurrent", type=click.IntRange(min=-1), default=0, metavar="N",
              help="At most N tasks at once (-1: cores + 2). Default: the package's "
              "MaxConcurrentExecutables.")
@click.option("--path-map", "path_maps", multiple=True, metavar="'C:\\=/srv/etl/'",
              help="Map a Windows path prefix to a local one. Repeatable. Without a map, "
              "C:\\x\\y becomes /x/y.")
@click.option("--reporting", default="EWP", show_default=True, metavar="EWIP",
              help="Which events to print: E errors, W warnings, I information, P progress, "
              "N none, V all.")
def exec_command(
    package_file: str | None,
    project_path: str | None,
    package_name: str | None,
    no_project: bool,
    variables: tuple[str, ...],
    params: tuple[str, ...],
    conns: tuple[str, ...],
    max_concurrent: int,
    path_maps: tuple[str, ...],
    reporting: str,
) -> int:
    """Run a package, the way dtexec does.

    Prints dtexec's console output (the Error/Warning/Info/Progress blocks chosen
    by --reporting, then `DTExec: The package execution returned DTSER_...`) and
    exits with dtexec's codes: 0 success, 1 failure, 3 cancelled (Ctrl-C or
    SIGTERM), 4 not found, 5 cannot load, 6 bad command line.
    """
    from ssisrun.runtime import EventBus, RunRequest

    level = reporting.upper()
    if not set(level) <= set("NEWIPCDV") or (("N" in level or "V" in level) and len(level) > 1):
        raise click.UsageError("--reporting takes letters of EWIPCD, or N or V alone")
    maps = []
    for item in path_maps:
        prefix, sep, target = item.partition("=")
        if not sep or not prefix:
            raise click.UsageError(f"--path-map takes 'WINDOWS_PREFIX=LOCAL_PREFIX', got "
                                   f"'{item}'")
        maps.append((prefix, target))
    request = RunRequest(
        variables=_pairs(variables, "--var"),
        parameters=_pairs(params, "--param"),
        connections=_pairs(conns, "--conn"),
        max_concurrent=max_concurrent,
        path_map=maps,
    )
    package = load_from_options(package_file, project_path, package_name, no_project)
    bus = EventBus()
    console = DtexecConsole(level)
    bus.subscribe(console.on_event)
    click.echo(f"ssisrun {_version()}: SSIS package runner (dtexec compatible)")
    started = datetime.now()
    click.echo(f"Started:  {_clock(started)}")
    from ssisrun.runtime.engine import Engine

    engine = Engine(package, request, bus)
    _install_cancel(engine.cancel_event)
    result = engine.run()
    finished = datetime.now()
    names = {0: "DTSER_SUCCESS", 1: "DTSER_FAILURE", 2: "DTSER_COMPLETION", 3: "DTSER_CANCELED"}
    click.echo(f"DTExec: The package execution returned {names[int(result.result)]} "
               f"({int(result.result)}).")
    click.echo(f"Started:  {_clock(started)}")
    click.echo(f"Finished: {_clock(finished)}")
    click.echo(f"Elapsed:  {(finished - started).total_seconds():.3f} seconds")
    return result.exit_code


def _version() -> str:
    from ssisrun import __version__

    return __version__


def _clock(moment: datetime) -> str:
    return moment.strftime("%I:%M:%S %p").lstrip("0")


def _install_cancel(event: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass


class DtexecConsole:
    """Prints events as dtexec does (spec ssis-runtime.md 1.10)."""

    _BLOCKS = {"OnError": ("E", "Error"), "OnWarning": ("W", "Warning"),
               "OnInformation": ("I", "Info"), "OnProgress": ("P", "Progress")}

    def __init__(self, level: str) -> None:
        self.level = "EWIPCD" if level == "V" else ("" if level == "N" else level)
        self._lock = threading.Lock()

    def on_event(self, event: Any) -> None:
        block = self._BLOCKS.get(event.kind.value)
        if block is None or block[0] not in self.level:
            return
        label = block[1]
        stamp = event.time.strftime("%Y-%m-%d %H:%M:%S.") + f"{event.time.microsecond // 10000:02d}"
        lines = [f"{label}: {stamp}"]
        if event.kind.value != "OnProgress":
            lines.append(f"   Code: 0x{event.code & 0xFFFFFFFF:08X}")
        lines.append(f"   Source: {event.source_name}")
        lines.append(f"   Description: {event.description}")
        lines.append(f"End {label}")
        with self._lock:
            click.echo("\n".join(lines), file=sys.stdout)
