"""The ``ssisrun`` command line: a Click group whose commands load lazily.

Only this module and ``ssisrun.commands`` import Click. Each command lives in its
own module under ``ssisrun/commands/`` and is imported only when it is called, so
``ssisrun --version`` starts without lxml, rich or lark.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ssisrun import __version__

#: command name -> "module:attribute"; adding a command is one line here.
COMMANDS: dict[str, str] = {
    "validate": "ssisrun.commands.validate:validate",
    "show": "ssisrun.commands.show:show",
    "eval": "ssisrun.commands.eval:eval_command",
    "exec": "ssisrun.commands.exec:exec_command",
    "dtexec": "ssisrun.commands.dtexec:dtexec_command",
    "checkpoint": "ssisrun.commands.checkpoint:checkpoint_group",
    "catalog": "ssisrun.commands.catalog:catalog_group",
    "worker": "ssisrun.commands.worker:worker_command",
}

#: one-line help shown by ``ssisrun --help`` without importing the command modules.
SHORT_HELP: dict[str, str] = {
    "validate": "Load a package, resolve every reference and report each problem.",
    "show": "Print a package's control flow, variables, parameters and connections.",
    "eval": "Evaluate an SSIS expression and print its value and SSIS type.",
    "exec": "Run a package, with dtexec's console output and exit codes.",
    "dtexec": "Run a package with dtexec's own options (/F, /Set, /Par, /Conn, /Rep ...).",
    "checkpoint": "Inspect a checkpoint file, make executables run again, or delete it.",
    "catalog": "The execution catalog: create, start and stop executions; reports; workers.",
    "worker": "Run a Scale Out worker agent on a PostgreSQL catalog (any machine).",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command and turn every outcome into dtexec's exit codes: Click's
        usage errors become 6 (not Click's 2), ssisrun's errors print one clear
        message (never a traceback) and exit with their own code."""
        from ssisrun.errors import SsisrunError

        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(3)
        except click.UsageError as exc:
            exc.show()
            sys.exit(6)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except SsisrunError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("Cancelled.", err=True)
            sys.exit(3)
        sys.exit(rv if isinstance(rv, int) else 0)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="ssisrun")
def cli() -> None:
    """Run SSIS packages (.dtsx) natively, in the style of dtexec.

    \b
    Exit codes (dtexec's):
      0  success            1  the package failed     3  cancelled
      4  package not found  5  package cannot load    6  bad command line
    """


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="ssisrun")
