"""``ssisrun validate``: dtexec's /Validate."""

from __future__ import annotations

import json

import click

from ssisrun.commands.options import load_from_options, package_source


@click.command()
@package_source
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)
@click.option("--no-warnings", is_flag=True, help="Report errors only.")
@click.option("--conn", "conns", multiple=True, metavar="NAME=CONNECTION_STRING",
              help="Check with this connection string for a connection manager (by name or "
              "DTSID), as exec --conn gives it: which database a transaction uses. "
              "Repeatable.")
@click.option("--exactly-once", is_flag=True,
              help="Check as for exec --exactly-once (no warning about transacted containers "
              "and checkpoints).")
def validate(
    package_file: str | None,
    project_path: str | None,
    package_name: str | None,
    no_project: bool,
    output_format: str,
    no_warnings: bool,
    conns: tuple[str, ...] = (),
    exactly_once: bool = False,
) -> int:
    """Load a package and resolve every reference without running it.

    Reports every problem with the executable's path (\\Package\\Load\\Insert rows)
    and the line in the file: constraints that point nowhere, connection managers
    and variables that do not exist, and each task or data-flow component type this
    ssisrun cannot run yet.

    \b
    Exit codes: 0 the package could run, 1 it could not,
    4 file not found, 5 the file cannot be loaded, 6 bad command line.
    """
    from ssisrun.validate import validate_package

    package = load_from_options(package_file, project_path, package_name, no_project)
    connections: dict[str, str] = {}
    for item in conns:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--conn takes 'NAME=CONNECTION_STRING', got '{item}'")
        connections[name.strip()] = text
    result = validate_package(package, connections=connections, exactly_once=exactly_once)
    problems = result.errors if no_warnings else result.problems
    if output_format == "json":
        data = result.to_dict()
        data["problems"] = [p.to_dict() for p in problems]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(
            f"Validating package {package.name} ({package.source}, format version "
            f"{package.format_version})"
        )
        for problem in problems:
            where = problem.path
            if problem.line:
                where += f" (line {problem.line})"
            click.echo(f"  {problem.severity:<7} {where}: {problem.message}")
        verdict = "could run" if result.can_run else "cannot run"
        click.echo(
            f"Result: the package {verdict}: {len(result.errors)} error(s), "
            f"{len(result.warnings)} warning(s)."
        )
    return 0 if result.can_run else 1
