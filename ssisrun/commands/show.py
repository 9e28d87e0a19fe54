"""``ssisrun show``: a readable picture of a package."""

from __future__ import annotations

import os

import click

from ssisrun.commands.options import load_from_options, package_source


@click.command()
@package_source
@click.option("--no-tables", is_flag=True,
              help="Print the control flow only, without the variable, parameter and "
              "connection tables.")
def show(
    package_file: str | None,
    project_path: str | None,
    package_name: str | None,
    no_project: bool,
    no_tables: bool,
) -> int:
    """Print a package's control flow as a tree, then its variables, parameters
    and connection managers as tables.

    The tree shows containers, loops (For Loop expressions, Foreach enumerators),
    precedence constraints (Success/Failure/Completion, expressions, AND/OR),
    event handlers and disabled executables. Passwords and Sensitive values are
    never printed.
    """
    from rich.console import Console

    from ssisrun.commands.render import render_package

    package = load_from_options(package_file, project_path, package_name, no_project)
    width: int | None = None
    if not os.isatty(1):
        width = int(os.environ.get("COLUMNS", "120") or 120)
    console = Console(width=width, highlight=False, soft_wrap=False)
    for renderable in render_package(package, tables=not no_tables):
        console.print(renderable)
    return 0
