"""Options shared by commands, each a reusable decorator, and the one way a
command turns them into a loaded package."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ssisrun.model import Package

F = TypeVar("F", bound=Callable[..., Any])


def use_package_password(password: str | None) -> None:
    """Make ``password`` the package password of this command (``--decrypt``, dtexec's
    ``/De``): it goes into ``SSIS_PACKAGE_DECRYPT`` for as long as the command runs, so the
    package, its project, its child packages and the processes the run starts (out-of-process
    children, local scale-out workers) all decrypt with it, and it never appears on another
    process's command line."""
    from ssisrun.dtsx.protection import PASSWORD_ENV

    if password is None:
        return
    previous = os.environ.get(PASSWORD_ENV)
    os.environ[PASSWORD_ENV] = password

    def restore() -> None:
        if previous is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = previous

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(restore)


def _decrypt_option(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    use_package_password(value)


def package_source(func: F) -> F:
    """``PACKAGE`` or ``--project PATH --package NAME``, and the package password."""
    func = click.option(
        "--decrypt",
        metavar="PASSWORD",
        expose_value=False,
        callback=_decrypt_option,
        help="The password of a package saved with EncryptSensitiveWithPassword or "
        "EncryptAllWithPassword (dtexec's /De). SSIS_PACKAGE_DECRYPT gives it without "
        "showing it to other users in the process list.",
    )(func)
    func = click.option(
        "--package",
        "package_name",
        metavar="NAME",
        help="The package to use from --project (Load or Load.dtsx).",
    )(func)
    func = click.option(
        "--project",
        "project_path",
        metavar="PATH",
        type=click.Path(),
        help="A project: a folder with a .dtproj, a .dtproj file or an .ispac. "
        "Its parameters and connection managers are loaded with the package.",
    )(func)
    func = click.option(
        "--no-project",
        is_flag=True,
        help="Do not load the project (.dtproj, Project.params, .conmgr) found beside "
        "a PACKAGE file.",
    )(func)
    func = click.argument("package_file", metavar="PACKAGE", required=False,
                          type=click.Path())(func)
    return func


def load_from_options(
    package_file: str | None,
    project_path: str | None,
    package_name: str | None,
    no_project: bool = False,
) -> Package:
    """Load the package the options name; raise click.UsageError (exit 6) when they
    do not name exactly one package."""
    from ssisrun.dtsx import load_package
    from ssisrun.project import load_project, load_project_package

    if project_path:
        if package_file and package_name:
            raise click.UsageError("give PACKAGE or --package with --project, not both")
        name = package_name or package_file
        project = load_project(project_path)
        if not name:
            names = ", ".join(project.package_names) or "none"
            raise click.UsageError(f"--project needs --package NAME (its packages: {names})")
        return load_project_package(project, name)
    if package_name:
        raise click.UsageError("--package names a package of a project: give --project too")
    if not package_file:
        raise click.UsageError("give a PACKAGE file, or --project PATH --package NAME")
    package = load_package(package_file)
    if not no_project:
        # A package file inside a project folder is loaded with its project, as the
        # designer does, so $Project:: parameters and project connections resolve.
        from ssisrun.project import find_project_for

        found = find_project_for(package_file)
        if found is not None:
            package.project = load_project(found)
    return package
