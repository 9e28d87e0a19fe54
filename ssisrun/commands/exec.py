"""``ssisrun exec``: run a package, with dtexec's console output and exit codes."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ssisrun.commands.catalog import exec_scale_out, scale_out_options
from ssisrun.commands.options import load_from_options, package_source
from ssisrun.runtime.request import RunRequest

if TYPE_CHECKING:
    from ssisrun.model import Package


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"{option} takes NAME=VALUE, got '{item}'")
        result[name.strip()] = value
    return result


def _connections(path: str | None, environment: str | None, conns: tuple[str, ...],
                 sql_dialect: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Connection strings and T-SQL dialects from --connections, --conn and
    --sql-dialect (the command line wins)."""
    from ssisrun.connections import read_connections_file
    from ssisrun.errors import UsageError

    connections: dict[str, str] = {}
    dialects: dict[str, str] = {}
    if path is not None:
        try:
            found = read_connections_file(path, environment)
        except UsageError as exc:
            raise click.UsageError(exc.message) from None
        connections.update(found.connections)
        dialects.update(found.sql_dialects)
    elif environment is not None:
        raise click.UsageError("--environment needs --connections FILE")
    connections.update(_pairs(conns, "--conn"))
    if sql_dialect:
        dialects["*"] = sql_dialect
    return connections, dialects


@dataclass
class ExecOptions:
    """Everything ``ssisrun exec`` (and ``ssisrun dtexec``, which translates dtexec's
    options into these) asks of one run."""

    package_file: str | None = None
    project_path: str | None = None
    package_name: str | None = None
    no_project: bool = False
    request: RunRequest = field(default_factory=RunRequest)
    reporting: str = "EWP"
    validate: bool = False
    log_json: str | None = None
    junit: str | None = None
    #: checks of the loaded package before it runs (dtexec's /VerifyBuild ...): each
    #: returns a message when the package must not run
    checks: list[Callable[[Package], str | None]] = field(default_factory=list)
    #: show the live view when standard output is a terminal (``ssisrun exec``'s default)
    live: bool = False
    #: what to add to the command line to restart from a checkpoint
    resume_args: list[str] = field(default_factory=lambda: ["--restart", "ifpossible"])


@click.command("exec")
@package_source
@scale_out_options
@click.option("--var", "variables", multiple=True, metavar="NS::NAME=VALUE",
              help="Set a variable's value before the run (User:: when no namespace). "
              "Repeatable.")
@click.option("--param", "params", multiple=True, metavar="[$Package::|$Project::]NAME=VALUE",
              help="Set a package or project parameter. Repeatable.")
@click.option("--conn", "conns", multiple=True, metavar="NAME=CONNECTION_STRING",
              help="Replace a connection manager's connection string (by name or DTSID): "
              "a connection string, or a SQLAlchemy URL (postgresql://user@host/db). "
              "Repeatable; wins over --connections.")
@click.option("--connections", "connections_file", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="A TOML file of connection strings by connection manager name, one table "
              "per environment ([dev], [prod]); values may use ${ENV_VAR}, and an entry may "
              "be a table {connection = '...', sql_dialect = 'postgres'}.")
@click.option("--environment", metavar="NAME",
              help="The table of the --connections file to use (default: [default], or the "
              "only table).")
@click.option("--sql-dialect", metavar="DIALECT",
              help="Translate the T-SQL of Execute SQL tasks to this dialect (postgres, "
              "sqlite, oracle, mysql ...) with sqlglot (pip install 'ssisrun[translate]').")
@click.option("--set", "set_values", multiple=True, metavar="'PATH;VALUE'",
              help="dtexec's /Set: give a property path a value, e.g. "
              "'\\Package.Variables[User::N].Properties[Value];5', "
              "'\\Package.Connections[Src].Properties[ConnectionString];...', "
              "'\\Package.Properties[MaxConcurrentExecutables];4'. Repeatable; applied in "
              "order, after --config.")
@click.option("--config", "config_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False),
              help="dtexec's /ConfigFile: apply an XML configuration file (.dtsConfig). "
              "Repeatable. The package's own configurations still win (applied again "
              "after the command line, as SSIS does).")
@click.option("--max-concurrent", type=click.IntRange(min=-1), default=0, metavar="N",
              help="At most N tasks at once (-1: cores + 2). Default: the package's "
              "MaxConcurrentExecutables.")
@click.option("--path-map", "path_maps", multiple=True, metavar="'C:\\=/srv/etl/'",
              help="Map a Windows path prefix to a local one. Repeatable. Without a map, "
              "C:\\x\\y becomes /x/y.")
@click.option("--reporting", default="EWP", show_default=True, metavar="EWIP",
              help="Which events to print: E errors, W warnings, I information, P progress, "
              "N none, V all.")
@click.option("--checkpointing", type=click.Choice(["on", "off"]), default=None,
              help="on: save checkpoints and restart from the checkpoint file when it exists "
              "(SaveCheckpoints=True, CheckpointUsage=IfExists). Unlike dtexec's /CheckPointing "
              "on (Always), the first run of a job does not fail for lack of a file. "
              "off: neither save nor restart. Default: the package's own settings.")
@click.option("--checkpoint-file", metavar="PATH", type=click.Path(dir_okay=False),
              help="The checkpoint file. Default: the package's CheckpointFileName, else "
              "NAME.checkpoint.xml beside the package.")
@click.option("--restart", type=click.Choice(["deny", "force", "ifpossible"],
                                             case_sensitive=False), default=None,
              help="CheckpointUsage: deny = Never, force = Always (fail without a file), "
              "ifpossible = IfExists.")
@click.option("--resume-loops", is_flag=True,
              help="Record completed loop iterations; a restarted Foreach or For Loop resumes "
              "at the item that failed (and starts over, with a warning, when the items "
              "differ).")
@click.option("--exactly-once", is_flag=True,
              help="With checkpoints: a transacted container (TransactionOption=Required) "
              "writes a marker row in its databases inside its transaction, so a restart "
              "after a crash between the commit and the checkpoint write does not run it "
              "again (docs/transactions.md).")
@click.option("--plain", is_flag=True,
              help="Print dtexec's plain output even on a terminal (by default a terminal "
              "gets a live view of the running executables, then the error blocks).")
@click.option("--validate", "validate_only", is_flag=True,
              help="dtexec's /Validate: validate the package (after --set and --config "
              "are checked), print its problems and stop: exit 0 if it could run, else 1.")
@click.option("--warn-as-error", is_flag=True,
              help="dtexec's /WarnAsError: a warning fails the run (or the validation).")
@click.option("--log-json", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write every event as one JSON line with SSIS's log columns (event, "
              "computer, operator, source, sourceid, executionid, starttime, endtime, "
              "datacode, databytes, message).")
@click.option("--junit", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a JUnit XML report at the end: one testcase per executable run, "
              "with its errors, or skipped.")
@click.option("--script", "scripts", multiple=True, metavar="'\\Package\\TASK=FILE.py'",
              help="Run FILE.py (which defines main(Dts)) for the Script task at that path, "
              "instead of its C# or VB code. Repeatable. 'CHILD:\\Package\\TASK=FILE.py' "
              "targets a task of the child package CHILD. Without it, "
              "PKG.scripts/TASK_PATH.py beside the package is used (see docs/runtime.md).")
def exec_command(
    package_file: str | None,
    project_path: str | None,
    package_name: str | None,
    no_project: bool,
    variables: tuple[str, ...],
    params: tuple[str, ...],
    conns: tuple[str, ...],
    connections_file: str | None,
    environment: str | None,
    sql_dialect: str | None,
    set_values: tuple[str, ...],
    config_files: tuple[str, ...],
    max_concurrent: int,
    path_maps: tuple[str, ...],
    reporting: str,
    checkpointing: str | None,
    checkpoint_file: str | None,
    restart: str | None,
    resume_loops: bool,
    exactly_once: bool,
    plain: bool,
    validate_only: bool,
    warn_as_error: bool,
    log_json: str | None,
    junit: str | None,
    scripts: tuple[str, ...] = (),
    **scale_out: Any,
) -> int:
    """Run a package, the way dtexec does.

    Prints dtexec's console output (the Error/Warning/Info/Progress blocks chosen
    by --reporting, then `DTExec: The package execution returned DTSER_...`) and
    exits with dtexec's codes: 0 success, 1 failure, 3 cancelled (Ctrl-C or
    SIGTERM), 4 not found, 5 cannot load, 6 bad command line (also a --set path
    that names nothing, or a value that does not fit its target).

    Values are applied in SSIS's order: the package's configurations, then the
    command line (--config, --set, --conn, --param, --var), then the package's
    configurations again.
    """
    from ssisrun.runtime.setvalues import CONFIG_FILE

    rc = exec_scale_out(package_file, params=params, conns=conns, variables=variables,
                        checkpointing=checkpointing, plain=plain, options=scale_out)
    if rc is not None:
        return rc
    maps = []
    for item in path_maps:
        prefix, sep, target = item.partition("=")
        if not sep or not prefix:
            raise click.UsageError(f"--path-map takes 'WINDOWS_PREFIX=LOCAL_PREFIX', got "
                                   f"'{item}'")
        maps.append((prefix, target))
    entries = [(CONFIG_FILE, name) for name in config_files]
    for item in set_values:
        path, sep, value = item.partition(";")
        if not sep or not path.strip():
            raise click.UsageError(f"--set takes 'PROPERTY_PATH;VALUE', got '{item}'")
        entries.append((path.strip(), value))
    connections, dialects = _connections(connections_file, environment, conns, sql_dialect)
    request = RunRequest(
        variables=_pairs(variables, "--var"),
        parameters=_pairs(params, "--param"),
        connections=connections,
        sql_dialects=dialects,
        set_values=entries,
        max_concurrent=max_concurrent,
        path_map=maps,
        warn_as_error=warn_as_error,
        checkpoint_file=checkpoint_file,
        resume_loops=resume_loops,
        exactly_once=exactly_once,
        scripts=_pairs(scripts, "--script"),
    )
    if checkpointing == "on":
        request.save_checkpoints, request.checkpoint_usage = True, 1  # IfExists
    elif checkpointing == "off":
        request.save_checkpoints, request.checkpoint_usage = False, 0
    if restart is not None:
        request.checkpoint_usage = {"deny": 0, "ifpossible": 1, "force": 2}[restart.lower()]
    return run_exec(ExecOptions(package_file, project_path, package_name, no_project,
                                request, reporting, validate_only, log_json, junit,
                                live=not plain and _is_terminal()))


def run_exec(options: ExecOptions) -> int:
    """The one way a command runs (or validates) a package: load it, check the command
    line against it, run it with the console and the reports subscribed, and return
    dtexec's exit code."""
    from ssisrun.runtime import EventBus

    level = options.reporting.upper()
    if not set(level) <= set("NEWIPCDV") or (("N" in level or "V" in level) and len(level) > 1):
        raise click.UsageError("--reporting takes letters of EWIPCD, or N or V alone")
    request = options.request
    package = load_from_options(options.package_file, options.project_path,
                                options.package_name, options.no_project)
    secrets = _prepare(package, request)
    if request.scripts:
        from ssisrun.tasks.script import unknown_overrides

        unknown = unknown_overrides(package, request.scripts)
        if unknown:
            tasks = [e.path for e in package.walk() if e.executable_type == "Microsoft.ScriptTask"]
            raise click.UsageError(f"--script names {', '.join(unknown)}, which is not a Script "
                                   f"task of the package (its Script tasks: "
                                   f"{', '.join(tasks) or 'none'})")
    for check in options.checks:
        message = check(package)
        if message:
            click.echo(f"Error: {message}", err=True)
            return 1
    if options.validate:
        return _validate(package, request.warn_as_error, request.scripts, request)
    bus = EventBus()
    console = DtexecConsole(level, secrets)
    replay: list[Any] = []
    if options.live:
        bus.subscribe(replay.append)  # printed after the live view closes
    else:
        bus.subscribe(console.on_event)
    log = junit = None
    try:
        if options.log_json:
            from ssisrun.reports import JsonLinesLog

            log = JsonLinesLog(options.log_json, secrets=secrets)
            bus.subscribe(log.on_event)
        if options.junit:
            from ssisrun.reports import JUnitReport

            junit = JUnitReport(options.junit, package.name, secrets=secrets)
            bus.subscribe(junit.on_event)
    except OSError as exc:
        raise click.UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
    click.echo(f"ssisrun {_version()}: SSIS package runner (dtexec compatible)")
    started = datetime.now()
    click.echo(f"Started:  {_clock(started)}")
    from ssisrun.model import ExecResult
    from ssisrun.runtime.engine import Engine

    try:
        engine = Engine(package, request, bus)
        run_secrets = [v.stored_value for v in engine.store.globals.values() if v.sensitive]
        guid = engine.store.globals.get("System::ExecutionInstanceGUID")
        for report in (log, junit, console):
            if report is not None:
                report.add_secrets(run_secrets)
        if log is not None:
            log.set_execution_id(str(guid.stored_value) if guid is not None else "")
        _install_cancel(engine.cancel_event)
        if options.live:
            from ssisrun.commands.live import LiveView

            with LiveView() as view:
                bus.subscribe(view.on_event)
                result = engine.run()
            for event in replay:
                console.on_event(event)
        else:
            result = engine.run()
    finally:
        if log is not None:
            log.close()
    outcome = result.result
    if request.warn_as_error and result.warnings and outcome in (ExecResult.Success,
                                                                 ExecResult.Completion):
        click.echo(f"DTExec: {result.warnings} warning(s) count as errors (--warn-as-error).")
        outcome = ExecResult.Failure
    finished = datetime.now()
    names = {0: "DTSER_SUCCESS", 1: "DTSER_FAILURE", 2: "DTSER_COMPLETION", 3: "DTSER_CANCELED"}
    click.echo(f"DTExec: The package execution returned {names[int(outcome)]} "
               f"({int(outcome)}).")
    click.echo(f"Started:  {_clock(started)}")
    click.echo(f"Finished: {_clock(finished)}")
    click.echo(f"Elapsed:  {(finished - started).total_seconds():.3f} seconds")
    if result.checkpoint_saved:
        click.echo(f"Checkpoint saved: {result.checkpoint_file}")
        click.echo(f"To resume where it failed, run: {_resume_command(options, package)}")
    return {ExecResult.Success: 0, ExecResult.Completion: 0, ExecResult.Failure: 1,
            ExecResult.Canceled: 3}[outcome]


def _prepare(package: Package, request: RunRequest) -> list[str]:
    """Check --set and --config against the loaded package before anything runs (exit 6
    for a path that names nothing or a value that does not fit), pass parameter values
    set by path on as parameters (so Required parameters get them), and return the
    values reports must never show."""
    from pathlib import Path

    from ssisrun.runtime.configurations import ConfigurationError, read_config_file
    from ssisrun.runtime.setvalues import (
        CONFIG_FILE,
        check_set_values,
        resolve,
        sensitive_set_values,
    )

    for path, value in request.set_values:
        if path != CONFIG_FILE:
            continue
        windows = "\\" in value or (len(value) > 1 and value[1] == ":")
        if not windows or Path(value).is_file():
            try:
                read_config_file(value)
            except ConfigurationError as exc:
                raise click.UsageError(f"--config {value}: {exc.message}") from None
    check_set_values(package, request.set_values)
    for path, value in request.set_values:
        if path != CONFIG_FILE:
            target = resolve(package, path, value)
            if target.parameter is not None:
                request.parameters[target.parameter.qualified_name] = value
    secrets = sensitive_set_values(package, request.set_values)
    by_name = {p.qualified_name: p for p in package.all_parameters()}
    for key, value in request.parameters.items():
        param = by_name.get(key) or by_name.get(f"$Package::{key}")
        if param is not None and param.sensitive:
            secrets.append(value)
    secrets.extend(str(p.value) for p in package.all_parameters()
                   if p.sensitive and p.value not in (None, ""))
    return secrets


def _validate(package: Package, warn_as_error: bool,
              scripts: dict[str, str] | None = None, request: RunRequest | None = None) -> int:
    from ssisrun.validate import validate_package

    result = validate_package(package, scripts,
                              connections=request.connections if request else None,
                              exactly_once=request.exactly_once if request else False)
    click.echo(f"Validating package {package.name} ({package.source}, format version "
               f"{package.format_version})")
    for problem in result.problems:
        where = problem.path + (f" (line {problem.line})" if problem.line else "")
        click.echo(f"  {problem.severity:<7} {where}: {problem.message}")
    ok = result.can_run and not (warn_as_error and result.warnings)
    verdict = "could run" if ok else "cannot run"
    extra = " (warnings count as errors)" if warn_as_error and result.warnings else ""
    click.echo(f"Result: the package {verdict}: {len(result.errors)} error(s), "
               f"{len(result.warnings)} warning(s){extra}.")
    return 0 if ok else 1


def _resume_command(options: ExecOptions, package: Package) -> str:
    """The command that restarts this run from its checkpoint: the same command line,
    with restarting switched on when the package alone would not restart."""
    import shlex

    args = ["ssisrun", *sys.argv[1:]]
    usage = options.request.checkpoint_usage
    if usage is None:
        usage = int(package.checkpoint_usage)
    if usage == 0:
        args += options.resume_args
    return shlex.join(args)


def _is_terminal() -> bool:
    import os

    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


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

    def __init__(self, level: str, secrets: Iterable[str] = ()) -> None:
        self.level = "EWIPCD" if level == "V" else ("" if level == "N" else level)
        self._lock = threading.Lock()
        #: Sensitive values never printed
        self.secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[Any]) -> None:
        self.secrets.update(str(s) for s in secrets if s not in (None, ""))

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
        description = event.description
        if self.secrets:
            from ssisrun.reports import redact

            description = redact(description, self.secrets)
        lines.append(f"   Description: {description}")
        lines.append(f"End {label}")
        with self._lock:
            click.echo("\n".join(lines), file=sys.stdout)
