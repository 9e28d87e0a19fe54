"""The CLI reference (docs/cli.md), generated from ``--help`` so it cannot drift.

Regenerate with ``python -m ssisrun.commands.reference > docs/cli.md``; a test fails
when the file and the program disagree, or a command has no help text.
"""

from __future__ import annotations

import click

from ssisrun.cli import cli


def render_reference() -> str:
    settings = dict(cli.context_settings)
    settings.update(max_content_width=100, terminal_width=100)
    ctx = click.Context(cli, info_name="ssisrun", **settings)
    parts = [
        "# ssisrun command reference",
        "",
        "Generated from `--help` by `python -m ssisrun.commands.reference`; do not edit.",
        "",
        "```text",
        cli.get_help(ctx),
        "```",
    ]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if command is None:
            continue
        sub = click.Context(command, info_name=f"ssisrun {name}", **settings)
        parts += ["", f"## ssisrun {name}", "", "```text", command.get_help(sub), "```"]
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(sub):
                child = command.get_command(sub, sub_name)
                if child is None:
                    continue
                leaf = click.Context(child, info_name=f"ssisrun {name} {sub_name}", **settings)
                parts += ["", f"### ssisrun {name} {sub_name}", "", "```text",
                          child.get_help(leaf), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    click.echo(render_reference(), nl=False)
