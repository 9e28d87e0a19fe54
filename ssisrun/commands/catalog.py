"""``ssisrun catalog``: SSISDB's execution catalog and its stored-procedure flow as
commands (create-execution, set-parameter, add-worker, start, stop), its reports (All
Executions, Overview as text, JSON or an HTML page) and its worker agents."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ssisrun.catalog import Catalog, Execution

CATALOG_HELP = ("The catalog: an SQLAlchemy URL (sqlite:///FILE or postgresql://...). "
                "Default: $XDG_DATA_HOME/ssisrun/catalog.db (~/.local/share).")


def catalog_option(func: Any) -> Any:
    return click.option("--catalog", "catalog_url", metavar="URL", envvar="SSISRUN_CATALOG",
                        help=CATALOG_HELP)(func)


def open_catalog(url: str | None, role: str = "ssis_cluster_executor") -> Catalog:
    """Open (creating) the catalog, and sweep executions whose local process is gone;
    ``role`` is the SSISDB role the command needs on a PostgreSQL catalog."""
    from ssisrun.catalog import Catalog, CatalogError

    try:
        catalog = Catalog(url, role=role)
    except CatalogError:
        raise
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a missing driver, no server
        raise CatalogError(f"cannot open the catalog {url}: {exc}") from None
    catalog.sweep()
    return catalog


def load_cluster() -> Any:
    """:mod:`ssisrun.scaleout.cluster`, or a clear error when procrastinate is missing."""
    try:
        from ssisrun.scaleout import cluster
    except ImportError as exc:
        from ssisrun.catalog import CatalogError

        raise CatalogError(f"Scale Out on a PostgreSQL catalog needs procrastinate "
                           f"({exc.name} is missing): pip install 'ssisrun[scaleout]'") from None
    return cluster


def _obj(ctx: click.Context) -> Catalog:
    catalog: Catalog | None = ctx.obj.get("catalog") if ctx.obj else None
    if catalog is None:
        catalog = open_catalog(ctx.obj.get("url") if ctx.obj else None)
        ctx.obj["catalog"] = catalog
        ctx.call_on_close(catalog.close)
    return catalog


@click.group("catalog")
@catalog_option
@click.pass_context
def catalog_group(ctx: click.Context, catalog_url: str | None) -> None:
    """SSISDB's execution catalog: create, parameterize and start executions on local
    worker agents (or, with a PostgreSQL catalog, on 'ssisrun worker' agents anywhere),
    stop them, and read the reports.

    \b
    The stored-procedure flow of SSIS Scale Out:
      ssisrun catalog create-execution Load.dtsx --no-use-any-worker   # prints the ID
      ssisrun catalog set-parameter 1 --object-type 30 Dir /srv/in
      ssisrun catalog set-parameter 1 --object-type 50 LOGGING_LEVEL Verbose
      ssisrun catalog add-worker 1 local-2
      ssisrun catalog start 1 --retry-count 2
    """
    ctx.ensure_object(dict)
    ctx.obj["url"] = catalog_url


@catalog_group.command("create-execution")
@click.argument("package_file", metavar="PACKAGE", type=click.Path())
@click.option("--use-any-worker/--no-use-any-worker", default=True, show_default=True,
              help="Any enabled worker agent may run it; otherwise only those added with "
              "add-worker.")
@click.pass_context
def create_execution(ctx: click.Context, package_file: str, use_any_worker: bool) -> None:
    """catalog.create_execution: a new execution of PACKAGE (status created); prints its ID.

    The package is loaded (with the project found beside it) to copy its parameters in."""
    from ssisrun.scaleout import PackageSpec
    from ssisrun.scaleout.submit import submit

    catalog = _obj(ctx)
    spec = PackageSpec(package_file)
    execution_id = submit(catalog, spec, start=False, use_any_worker=use_any_worker)
    click.echo(str(execution_id))


@catalog_group.command("set-parameter")
@click.argument("execution_id", metavar="ID", type=int)
@click.option("--object-type", type=click.Choice(["20", "30", "50"]), default="30",
              show_default=True,
              help="20 project parameter, 30 package parameter, 50 system parameter "
              "(LOGGING_LEVEL: None, Basic, Performance, Verbose; CALLER_INFO, ...).")
@click.argument("name")
@click.argument("value")
@click.pass_context
def set_parameter(ctx: click.Context, execution_id: int, object_type: str, name: str,
                  value: str) -> None:
    """catalog.set_execution_parameter_value: give a parameter of a created execution a
    value (names are case-sensitive)."""
    _obj(ctx).set_parameter(execution_id, int(object_type), name, value)


@catalog_group.command("add-worker")
@click.argument("execution_id", metavar="ID", type=int)
@click.argument("agent_id", metavar="AGENT_ID")
@click.pass_context
def add_worker(ctx: click.Context, execution_id: int, agent_id: str) -> None:
    """catalog.add_execution_worker: allow worker agent AGENT_ID to run the execution
    (one created with --no-use-any-worker)."""
    _obj(ctx).add_worker(execution_id, agent_id)


def workers_option(func: Any) -> Any:
    return click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Local worker agents local-1 ... local-N. Default: the number "
                        "of cores.")(func)


@catalog_group.command("start")
@click.argument("execution_id", metavar="ID", type=int)
@click.option("--retry-count", type=click.IntRange(min=0), default=0, show_default=True,
              help="Retries after a failed attempt (attempts = retry count + 1).")
@workers_option
@click.option("--in-process", is_flag=True,
              help="Run packages inside the workers instead of one ssisrun exec process "
              "each (for many trivial packages; a crash is not isolated).")
@click.option("--plain", is_flag=True, help="One line per state change even on a terminal.")
@click.pass_context
def start(ctx: click.Context, execution_id: int, retry_count: int, workers: int | None,
          in_process: bool, plain: bool) -> int:
    """catalog.start_execution: run the execution on local worker agents (on a PostgreSQL
    catalog: send it to the 'ssisrun worker' agents) and wait for it, printing its
    progress. Exit 0 when it succeeded, else 1."""
    catalog = _obj(ctx)
    catalog.start(execution_id, retry_count)
    return run_scale_out(catalog, [execution_id], workers=workers, in_process=in_process,
                         live=not plain and _is_terminal())


@catalog_group.command("init")
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the catalog: its tables and, on PostgreSQL, procrastinate's queue tables and
    SSISDB's roles ssis_admin, ssis_cluster_executor (may create and start executions)
    and ssis_cluster_worker (worker agents), with their GRANTs. Run it as an admin (a
    superuser, or a user who may create roles); then grant the roles to users:
    GRANT ssis_cluster_executor TO etl; GRANT ssis_cluster_worker TO worker."""
    catalog = _obj(ctx)
    if catalog.is_postgres:
        from ssisrun.catalog.roles import ROLES, ensure_schema

        acting, catalog.role = catalog.role, "ssis_admin"
        with catalog._refused():
            ensure_schema(catalog, force=True)
        catalog.role = acting
        click.echo(f"Catalog {catalog.display_url}: tables, queues and roles "
                   f"{', '.join(ROLES)} ready.")
    else:
        click.echo(f"Catalog {catalog.display_url}: ready (SQLite, readable by its owner "
                   f"only; roles exist only on PostgreSQL).")


@catalog_group.command("stop")
@click.argument("execution_id", metavar="ID", type=int)
@click.pass_context
def stop(ctx: click.Context, execution_id: int) -> None:
    """catalog.stop_operation: cancel a pending execution, or ask the worker running it to
    stop it (status stopping, then canceled)."""
    status = _obj(ctx).stop(execution_id)
    click.echo(f"Execution {execution_id}: {status.label}")


def format_option(func: Any) -> Any:
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                        default="text", show_default=True, help="Output format.")(func)


@catalog_group.command("executions")
@format_option
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the N newest.")
@click.option("--status", type=click.IntRange(1, 9), default=None,
              help="Only executions with this status code (1 created ... 9 completed).")
@click.pass_context
def executions_command(ctx: click.Context, fmt: str, limit: int | None,
                       status: int | None) -> None:
    """All Executions: ID, package, status, start, duration, worker and attempts."""
    from ssisrun.catalog.reports import all_executions

    rows = all_executions(_obj(ctx), limit=limit, status=status)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = [(str(r["execution_id"]), r["package_name"], r["status_name"],
              _short(r["start_time"]), _seconds(r["duration"]), r["worker_agent_id"] or "",
              str(r["attempts"])) for r in rows]
    _print_table(("ID", "Package", "Status", "Start", "Duration", "Worker", "Attempts"),
                 table)


@catalog_group.command("report")
@click.argument("execution_id", metavar="ID", type=int)
@format_option
@click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML page with a timeline of the executables.")
@click.pass_context
def report(ctx: click.Context, execution_id: int, fmt: str, html_file: str | None) -> None:
    """Overview of one execution: its information, parameters, attempts, each executable's
    duration and result, and its messages."""
    from ssisrun.catalog.reports import html_page, overview

    data = overview(_obj(ctx), execution_id)
    if html_file:
        from pathlib import Path

        try:
            Path(html_file).write_text(html_page(data), encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot write {html_file}: {exc.strerror}") from None
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    info = data["execution"]
    click.echo(f"Execution {info['execution_id']}: {info['package_name']} "
               f"({info['package_path']})")
    click.echo(f"  Status:    {info['status_name']} ({info['status']})")
    click.echo(f"  Start:     {_short(info['start_time'])}   End: {_short(info['end_time'])}"
               f"   Duration: {_seconds(info['duration'])}")
    click.echo(f"  Attempts:  {info['attempts']} (retry count {info['retry_count']}); "
               f"worker {info['worker_agent_id'] or '-'}; logging level "
               f"{info['logging_level']}")
    workers = ", ".join(info["allowed_workers"]) if not info["use_any_worker"] else "any"
    click.echo(f"  Workers:   {workers}")
    click.echo("\nParameters")
    _print_table(("Type", "Name", "Value"), [
        (str(p["object_type"]), p["parameter_name"],
         "********" if p["sensitive"] else ("" if p["parameter_value"] is None
                                            else str(p["parameter_value"])))
        for p in data["parameters"]])
    click.echo("\nAttempts")
    _print_table(("Attempt", "Worker", "PID", "Status", "Exit", "Start"), [
        (str(a["attempt"]), a["worker_agent_id"] or "", str(a["process_id"] or ""),
         a["status_name"], "" if a["exit_code"] is None else str(a["exit_code"]),
         _short(a["start_time"])) for a in data["attempts"]])
    click.echo("\nExecutables")
    _print_table(("Attempt", "Path", "Duration", "Result"), [
        (str(s["attempt"]), s["execution_path"], f"{s['execution_duration']} ms",
         s["result_name"]) for s in data["executables"]])
    click.echo("\nMessages")
    _print_table(("Attempt", "Time", "Type", "Source", "Message"), [
        (str(m["attempt"]), _short(m["message_time"]), m["message_type_name"],
         m["message_source_name"] or "", m["message"].replace("\n", " ")[:200])
        for m in data["messages"] if m["message"]])
    if html_file:
        click.echo(f"\nHTML report: {html_file}")


@catalog_group.group("workers", invoke_without_command=True)
@format_option
@click.pass_context
def workers_group(ctx: click.Context, fmt: str) -> None:
    """List the worker agents (ID, host, enabled, last heartbeat); enable, disable or add
    one."""
    if ctx.invoked_subcommand is not None:
        return
    rows: list[dict[str, Any]] = [
        {"worker_agent_id": w.worker_agent_id, "machine_name": w.machine_name,
             "is_enabled": w.is_enabled, "max_task_count": w.max_task_count,
             "last_online_time": None if w.last_online_time is None
             else w.last_online_time.astimezone().isoformat(timespec="seconds")}
            for w in _obj(ctx).workers()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table(("Agent", "Host", "Enabled", "Last heartbeat"), [
        (r["worker_agent_id"], r["machine_name"] or "", "yes" if r["is_enabled"] else "no",
         _short(r["last_online_time"])) for r in rows])


@workers_group.command("enable")
@click.argument("agent_id", metavar="AGENT_ID")
@click.pass_context
def enable(ctx: click.Context, agent_id: str) -> None:
    """Let worker agent AGENT_ID take executions again."""
    catalog = _obj(ctx)
    catalog.role = "ssis_admin"  # SSISDB: enable/disable_worker_agent
    catalog.set_worker_enabled(agent_id, True)
    click.echo(f"Worker agent {agent_id}: enabled")


@workers_group.command("disable")
@click.argument("agent_id", metavar="AGENT_ID")
@click.pass_context
def disable(ctx: click.Context, agent_id: str) -> None:
    """Keep worker agent AGENT_ID from taking executions (running ones finish)."""
    catalog = _obj(ctx)
    catalog.role = "ssis_admin"  # SSISDB: enable/disable_worker_agent
    catalog.set_worker_enabled(agent_id, False)
    click.echo(f"Worker agent {agent_id}: disabled")


@workers_group.command("add")
@click.argument("agent_id", metavar="AGENT_ID")
@click.pass_context
def add(ctx: click.Context, agent_id: str) -> None:
    """Record worker agent AGENT_ID (e.g. local-2) so executions can be pinned to it before
    it has ever run."""
    catalog = _obj(ctx)
    catalog.role = "ssis_admin"  # SSISDB: enable/disable_worker_agent
    catalog.register_worker(agent_id)
    click.echo(f"Worker agent {agent_id}: recorded")


# ------------------------------------------------------------------ running and output


def run_scale_out(catalog: Catalog, ids: Sequence[int], *, workers: int | None,
                  in_process: bool = False, live: bool = False) -> int:
    """Run started executions on local worker agents with progress, print a summary and
    return the exit code: 0 when every one succeeded (or completed), else 1."""
    from ssisrun.catalog import Status
    from ssisrun.scaleout import InProcessRunner, LocalScaleOut
    from ssisrun.scaleout.progress import LiveProgress, PlainProgress

    if catalog.is_postgres:
        if workers is not None or in_process:
            raise click.UsageError("--workers and --in-process are for local worker agents; "
                                   "a PostgreSQL catalog's executions run on 'ssisrun "
                                   "worker' agents")
        cluster = load_cluster()
        if live:
            view = LiveProgress()
            with view:
                finished = cluster.ClusterScaleOut(catalog, on_change=view.on_change).run(ids)
        else:
            plain = PlainProgress(lambda line: click.echo(line))
            finished = cluster.ClusterScaleOut(catalog, on_change=plain.on_change).run(ids)
        return summarize(finished, Status)
    runner = InProcessRunner() if in_process else None
    if live:
        view = LiveProgress()
        scale = LocalScaleOut(catalog, workers=workers, runner=runner, on_change=view.on_change)
        with view:
            finished = scale.run(ids)
    else:
        plain = PlainProgress(lambda line: click.echo(line))
        scale = LocalScaleOut(catalog, workers=workers, runner=runner,
                              on_change=plain.on_change)
        finished = scale.run(ids)
    return summarize(finished, Status)


def summarize(finished: Sequence[Execution], status_type: Any) -> int:
    counts: dict[str, int] = {}
    for execution in finished:
        counts[execution.status_name] = counts.get(execution.status_name, 0) + 1
    ok = {int(status_type.succeeded), int(status_type.completed)}
    parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    click.echo(f"Scale Out: {len(finished)} execution(s): {parts}.")
    bad = [e for e in finished if e.status not in ok]
    for execution in bad:
        click.echo(f"  #{execution.execution_id} {execution.package_name}: "
                   f"{execution.status_name} after {execution.executed_count} attempt(s) "
                   f"(ssisrun catalog report {execution.execution_id})")
    return 0 if not bad else 1


def _is_terminal() -> bool:
    import os

    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


def _short(stamp: str | None) -> str:
    if not stamp:
        return ""
    return stamp.replace("T", " ")[:19]


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f} s"


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# ------------------------------------------------------------------ ssisrun exec --scale-out


def scale_out_options(func: Any) -> Any:
    """``ssisrun exec``'s scale-out options; the extra PACKAGE arguments go with them."""
    for decorator in reversed([
        click.option("--scale-out", is_flag=True,
                     help="Run every PACKAGE (and every package of --run-file) as its own "
                     "execution on local worker agents (with a PostgreSQL --catalog: on "
                     "'ssisrun worker' agents), recorded in the catalog; exit 0 when all "
                     "succeeded, else 1."),
        click.option("--workers", "scale_out_workers", type=click.IntRange(min=1),
                     default=None, metavar="N",
                     help="With --scale-out: local worker agents local-1 ... local-N "
                     "(default: the number of cores)."),
        click.option("--retry-count", type=click.IntRange(min=0), default=None, metavar="N",
                     help="With --scale-out: retries of a failed execution, preferably on "
                     "another worker (default 0)."),
        click.option("--run-file", metavar="FILE", type=click.Path(dir_okay=False),
                     help="With --scale-out: a TOML file listing packages with their "
                     "parameters, connections, environment, checkpointing, retry count "
                     "and allowed workers."),
        click.option("--catalog", "catalog_url", metavar="URL", envvar="SSISRUN_CATALOG",
                     help="With --scale-out: " + CATALOG_HELP),
    ]):
        func = decorator(func)
    return click.argument("more_packages", metavar="[PACKAGE]...", nargs=-1,
                          type=click.Path())(func)


def exec_scale_out(package_file: str | None, *, params: Sequence[str],
                   conns: Sequence[str], variables: Sequence[str], checkpointing: str | None,
                   plain: bool, options: dict[str, Any]) -> int | None:
    """``ssisrun exec A B C --scale-out``: None when the command line does not ask for
    scale-out (exec runs the one package itself)."""
    more = list(options.get("more_packages") or ())
    wanted = bool(options.get("scale_out"))
    if not wanted:
        used = [name for name, key in (("--workers", "scale_out_workers"),
                                       ("--retry-count", "retry_count"),
                                       ("--run-file", "run_file"))
                if options.get(key) is not None]
        if more or used:
            what = "more than one PACKAGE" if more else ", ".join(used)
            raise click.UsageError(f"{what} needs --scale-out")
        return None
    from ssisrun.scaleout import PackageSpec, load_run_file
    from ssisrun.scaleout.submit import submit

    def pairs(values: Sequence[str], option: str) -> dict[str, str]:
        result = {}
        for item in values:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise click.UsageError(f"{option} takes NAME=VALUE, got '{item}'")
            result[name.strip()] = value
        return result

    paths = ([package_file] if package_file else []) + more
    specs = [PackageSpec(path, parameters=pairs(params, "--param"),
                         connections=pairs(conns, "--conn"),
                         variables=pairs(variables, "--var"),
                         checkpointing=checkpointing == "on") for path in paths]
    workers = options.get("scale_out_workers")
    retry = options.get("retry_count")
    if options.get("run_file"):
        run_file = load_run_file(options["run_file"])
        specs += run_file.packages
        workers = workers or run_file.workers
        if retry is None:
            retry = run_file.retry_count
    if not specs:
        raise click.UsageError("--scale-out needs PACKAGE files or --run-file")
    catalog = open_catalog(options.get("catalog_url"))
    try:
        from ssisrun.scaleout.scheduler import LocalScaleOut, default_workers

        if not catalog.is_postgres:
            LocalScaleOut(catalog, workers=workers or default_workers()).register()
        ids = [submit(catalog, spec, retry_count=retry or 0) for spec in specs]
        return run_scale_out(catalog, ids, workers=options.get("scale_out_workers")
                             if catalog.is_postgres else workers,
                             live=not plain and _is_terminal())
    finally:
        catalog.close()
