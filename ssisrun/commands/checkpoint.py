"""``ssisrun checkpoint``: inspect and steer a checkpoint file (show, forget, clear).

The work is done by :mod:`ssisrun.runtime.checkpoint` (:func:`describe`, :func:`forget`,
:class:`CheckpointFile`); this module only parses arguments and prints. Exit codes: 0
done, 1 the file is locked by a running process, 4 the file (or the package) does not
exist, 5 it is not a checkpoint file (or cannot be decrypted), 6 bad arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ssisrun.model import Package
    from ssisrun.runtime.checkpoint import CheckpointReport

F = TypeVar("F", bound=Callable[..., Any])


def _file_argument(func: F) -> F:
    return click.argument("file", metavar="FILE", type=click.Path())(func)


def _package_option(func: F) -> F:
    return click.option(
        "--package", "package_file", metavar="PKG", type=click.Path(),
        help="The package (.dtsx) that wrote the file: executables are named by their "
        "paths, Sensitive parameters are masked, and what runs first is worked out.",
    )(func)


@click.group("checkpoint")
def checkpoint_group() -> None:
    """Inspect and steer a checkpoint file without running the package.

    \b
    ssisrun checkpoint show FILE [--package PKG] [--format text|json]
        The package's ID, name and file, when the checkpoint was written, the
        executables that completed, the saved variable values (secrets masked),
        loop progress and, with --package, what runs first on a restart.
    ssisrun checkpoint forget FILE EXECUTABLE_PATH [--package PKG]
        Make an executable (and everything below it) run again on the restart.
        With --package it is named by its path (\\Package\\Load\\Insert rows);
        without, by its DTSID or the path ssisrun recorded in the file.
    ssisrun checkpoint clear FILE
        Delete the file, so the next run starts from the beginning.

    Masked values: variables whose names contain password, pwd, secret or token
    (any case); with --package also variables named like a Sensitive parameter,
    and values equal to a Sensitive parameter's value.

    An encrypted file is read with the key in SSISRUN_CHECKPOINT_KEY.

    \b
    Exit codes: 0 done, 1 the file is locked by a running process,
    4 the file does not exist, 5 it is not a checkpoint file (or cannot be
    decrypted), 6 bad arguments (also a --package that did not write the file).
    """


def _existing(file: str) -> Path:
    from ssisrun.errors import UsageError
    from ssisrun.runtime.checkpoint import CheckpointNotFoundError

    path = Path(file)
    if path.is_dir():
        raise UsageError("is a folder; give the checkpoint file", path=file)
    if not path.exists():
        raise CheckpointNotFoundError("the checkpoint file does not exist", path=file)
    return path


def _load(package_file: str | None) -> Package | None:
    if not package_file:
        return None
    from ssisrun.commands.options import load_from_options

    return load_from_options(package_file, None, None)


def _mismatch_is_usage(func: Callable[[], Any]) -> Any:
    """A --package that did not write the file is a wrong command line (exit 6)."""
    from ssisrun.errors import UsageError
    from ssisrun.runtime.checkpoint import CheckpointMismatchError

    try:
        return func()
    except CheckpointMismatchError as exc:
        raise UsageError(exc.message + "; give the package that wrote it",
                         path=exc.path) from None


@checkpoint_group.command("show")
@_file_argument
@_package_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="text for people, json for machines.")
def show_command(file: str, package_file: str | None, output_format: str) -> int:
    """Show what a checkpoint file holds and what a restart would run first."""
    from ssisrun.runtime.checkpoint import describe

    path = _existing(file)
    package = _load(package_file)
    report: CheckpointReport = _mismatch_is_usage(lambda: describe(path, package))
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0
    for line in _text(report):
        click.echo(line)
    return 0


def _text(report: CheckpointReport) -> list[str]:
    out = [f"Checkpoint file: {report.file}" + (" (encrypted)" if report.encrypted else "")]
    name = f"{report.package_name} " if report.package_name else ""
    out.append(f"Package:  {name}{report.package_id}")
    if report.package_path:
        out.append(f"          {report.package_path}")
    written = report.written.isoformat(sep=" ") if report.written else "unknown"
    out.append(f"Written:  {written}")
    out.append(f"Completed ({len(report.completed)}):")
    width = max((len(c.path) for c in report.completed), default=0)
    for done in report.completed:
        out.append(f"  {done.path:<{width}}  {done.result}")
    if not report.completed:
        out.append("  nothing")
    out.append(f"Variables ({len(report.variables)}):")
    scope_w = max((len(v.scope) for v in report.variables), default=0)
    name_w = max((len(v.name) for v in report.variables), default=0)
    for var in report.variables:
        out.append(f"  {var.scope:<{scope_w}}  {var.name:<{name_w}}  {var.data_type} = "
                   f"{var.value}")
    if report.loops:
        out.append("Loop progress (--resume-loops):")
        for loop in report.loops:
            items = ", ".join(loop.done)
            out.append(f"  {loop.path}: {len(loop.done)} iteration(s) completed: {items}")
    if report.runs_first is None:
        out.append("Runs first on a restart: give --package PKG to work it out")
    else:
        out.append("Runs first on a restart:")
        for first in report.runs_first:
            out.append(f"  {first.path}" + ("  (runs again as a whole)" if first.whole else ""))
        if not report.runs_first:
            out.append("  nothing: every executable completed")
    return out


@checkpoint_group.command("forget")
@_file_argument
@click.argument("executable_path", metavar="EXECUTABLE_PATH")
@_package_option
def forget_command(file: str, executable_path: str, package_file: str | None) -> int:
    """Make an executable run again on the restart: remove it, everything below it and
    the containers above it from the checkpoint file (their other completed children
    stay recorded). Written durably, under the file's lock."""
    from ssisrun.runtime.checkpoint import CheckpointFile, check_package, forget, read_checkpoint

    path = _existing(file)
    package = _load(package_file)
    checkpoint = CheckpointFile(path)
    checkpoint.acquire()
    try:
        data = read_checkpoint(path)
        if package is not None:
            _mismatch_is_usage(lambda: check_package(data, package, str(path)))
        removed = forget(data, executable_path, package)
        if removed:
            checkpoint.write(data)
    finally:
        checkpoint.release()
    if not removed:
        click.echo(f"Nothing to forget: {executable_path} is not recorded as completed in "
                   f"{path}; it runs on a restart.")
        return 0
    click.echo(f"Forgot in {path}:")
    for label in removed:
        click.echo(f"  {label}")
    click.echo("They run again on the restart.")
    return 0


@checkpoint_group.command("clear")
@_file_argument
def clear_command(file: str) -> int:
    """Delete a checkpoint file, so the next run starts from the beginning. Refused while
    a run holds its lock, and for a file that is not a checkpoint file."""
    from ssisrun.runtime.checkpoint import (
        ENCRYPTED_MAGIC,
        CheckpointFile,
        is_encrypted,
        read_checkpoint,
    )

    path = _existing(file)
    with open(path, "rb") as handle:
        head = handle.read(len(ENCRYPTED_MAGIC))
    if not is_encrypted(head):
        read_checkpoint(path)  # never delete a file that is not a checkpoint file
    checkpoint = CheckpointFile(path)
    checkpoint.acquire()
    try:
        checkpoint.delete()
    finally:
        checkpoint.release()
    click.echo(f"Deleted {path}; the next run starts from the beginning.")
    return 0
