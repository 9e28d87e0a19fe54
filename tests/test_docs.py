"""Docs that cannot drift: the CLI reference is the program's own --help."""

from __future__ import annotations

from pathlib import Path

import click

from ssisrun.cli import COMMANDS, SHORT_HELP, cli
from ssisrun.commands.reference import render_reference

REPO = Path(__file__).resolve().parents[1]


def test_cli_reference_matches_help() -> None:
    on_disk = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert on_disk == render_reference(), (
        "docs/cli.md is stale: run python -m ssisrun.commands.reference > docs/cli.md"
    )


def test_every_command_is_documented_and_has_help() -> None:
    ctx = click.Context(cli, info_name="ssisrun")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, f"command {name} does not load"
        assert (command.help or "").strip(), f"command {name} has no help text"
        assert SHORT_HELP.get(name), f"command {name} has no short help in cli.py"
        assert f"ssisrun {name}" in readme, f"the README does not mention ssisrun {name}"
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{name} {param.opts} has no help"
