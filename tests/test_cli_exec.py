"""``ssisrun exec``'s own options: --validate and --warn-as-error (dtexec's /Validate and
/WarnAsError); --set, --config and the reports are tested in their own modules."""

from __future__ import annotations

from html import escape
from pathlib import Path

from builders import Exe, Var, configuration, package
from click.testing import CliRunner

from ssisrun.cli import cli


def expr_task(name: str, expression: str) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask",
               object_data=f'<ExpressionTask Expression="{escape(expression)}" />')


def write(tmp_path: Path, xml: str) -> Path:
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    return pkg


# a package that runs fine but warns: a SQL Server configuration is not supported yet
WARNS = package(8, [expr_task("Set", "@[User::N] = 1")], variables=[Var("N", 3, "0")],
                props={"EnableConfig": True},
                configurations=[configuration(8, "Sql", 7, '"Cm";"[dbo].[T]";"F";')])


def test_warnings_are_printed_and_do_not_fail_the_run(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    result = runner.invoke(cli, ["exec", str(write(tmp_path, WARNS))])
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output and "End Warning" in result.output
    assert "Code: 0x80012059" in result.output
    assert "DTSER_SUCCESS (0)" in result.output


def test_warn_as_error_fails_the_run(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["exec", str(write(tmp_path, WARNS)), "--warn-as-error"])
    assert result.exit_code == 1
    assert "DTSER_FAILURE (1)" in result.output


def test_validate_only_never_runs(tmp_path: Path, runner: CliRunner) -> None:
    ok = write(tmp_path, package(8, [expr_task("Set", "@[User::N] = 1")],
                                 variables=[Var("N", 3, "0")]))
    result = runner.invoke(cli, ["exec", str(ok), "--validate"])
    assert result.exit_code == 0
    assert "the package could run" in result.output and "DTExec" not in result.output
    broken = write(tmp_path, package(8, [expr_task("Set", "@[User::Missing] = 1")]))
    result = runner.invoke(cli, ["exec", str(broken), "--validate"])
    assert result.exit_code == 1
    assert "cannot run" in result.output and "\\Package\\Set" in result.output


def test_validate_with_warn_as_error(tmp_path: Path, runner: CliRunner) -> None:
    # a variable evaluated as an expression that has none: a validation warning
    pkg = write(tmp_path, package(8, [], variables=[
        Var("E", 8, "", props={"EvaluateAsExpression": True})]))
    plain = runner.invoke(cli, ["exec", str(pkg), "--validate"])
    assert plain.exit_code == 0 and "1 warning(s)" in plain.output
    strict = runner.invoke(cli, ["exec", str(pkg), "--validate", "--warn-as-error"])
    assert strict.exit_code == 1 and "warnings count as errors" in strict.output
