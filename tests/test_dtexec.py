"""``ssisrun dtexec``: dtexec's own syntax (spec ssis-runtime.md 1.2, 1.3), translated into
the options of ``ssisrun exec`` and run by it."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest
from builders import Exe, Var, connection_manager, package, package_parameter
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.commands.dtexec import find_option, split_value, translate
from ssisrun.commands.exec import ExecOptions
from ssisrun.runtime.setvalues import CONFIG_FILE


def expr_task(name: str, expression: str) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask",
               object_data=f'<ExpressionTask Expression="{escape(expression)}" />')


def options(*args: str) -> ExecOptions:
    result = translate(list(args))
    assert isinstance(result, ExecOptions)
    return result


@pytest.mark.parametrize(("spelled", "full"), [
    ("F", "File"), ("file", "File"), ("Fi", "File"), ("Conf", "ConfigFile"),
    ("CONFIGFILE", "ConfigFile"), ("Conn", "Connection"), ("Par", "Parameter"),
    ("P", "Password"), ("Pack", "Package"), ("Proj", "Project"), ("Rep", "Reporting"),
    ("M", "MaxConcurrent"), ("Va", "Validate"), ("De", "Decrypt"), ("W", "WarnAsError"),
    ("Set", "Set"), ("Cons", "ConsoleLog"), ("D", "Dts"), ("SQ", "SQL"),
])
def test_documented_abbreviations(spelled: str, full: str) -> None:
    option = find_option(spelled)
    assert option is not None and option.full == full


@pytest.mark.parametrize("spelled", ["Con", "V", "Pr", "Fx", "Confx"])
def test_too_short_or_wrong_names_are_unknown(spelled: str) -> None:
    assert find_option(spelled) is None


def test_translation_into_exec_options() -> None:
    opts = options("/F", "pkg.dtsx", "-set", "\\Package.Variables[User::N].Value;5",
                   "/Par", "$Project::Dir(String);/srv", "/Par", "Count(Int32);3",
                   "/Conn", '"Src";"Data Source=x;Initial Catalog=y"', "/CONN", "Dst;A=1;B=2",
                   "/Rep", "E,W", "/M:4", "/ConfigFile", "c.dtsConfig", "/Va", "/W",
                   "/X86", "/Rem", "a comment", "/Sum")
    assert opts.package_file == "pkg.dtsx"
    request = opts.request
    assert request.set_values == [("\\Package.Variables[User::N].Value", "5"),
                                  (CONFIG_FILE, "c.dtsConfig")]
    assert request.parameters == {"$Project::Dir": "/srv", "$Package::Count": "3"}
    assert request.connections == {"Src": "Data Source=x;Initial Catalog=y", "Dst": "A=1;B=2"}
    assert (opts.reporting, request.max_concurrent, opts.validate, request.warn_as_error) == (
        "EW", 4, True, True)


def test_last_duplicate_wins_and_project_package() -> None:
    opts = options("/Proj", "a.ispac", "/Pack", "One.dtsx", "/Pack", "Two.dtsx", "/Rep", "E",
                   "/Rep", "V")
    assert (opts.project_path, opts.package_name, opts.reporting) == ("a.ispac", "Two.dtsx",
                                                                      "V")


def test_quoting_rules() -> None:
    assert split_value('"a;b";"say ""hi"""') == ["a;b", 'say "hi"']
    assert split_value("\\Package.Connections[a;b].Properties[X];v;w", 1) == [
        "\\Package.Connections[a;b].Properties[X]", "v;w"]


def test_command_file_is_read_in_place(tmp_path: Path) -> None:
    cmd = tmp_path / "opts.txt"
    cmd.write_text('/Set "\\Package.Variables[User::S].Value;two words"\n/Rep EW\n')
    opts = options("/F", "p.dtsx", "/Com", str(cmd), "/Rep", "N")
    assert opts.request.set_values == [("\\Package.Variables[User::S].Value", "two words")]
    assert opts.reporting == "N"


@pytest.mark.parametrize(("args", "message"), [
    (["/SQL", "\\pkg"], "not from msdb"),
    (["/DTS", "\\File System\\pkg"], "Package Store"),
    (["/ISServer", "\\SSISDB\\f\\p\\x.dtsx"], "catalog"),
    (["/F", "p.dtsx", "/Server", "db1"], "/Server"),
    (["/F", "p.dtsx", "/User", "sa"], "SQL Server"),
    (["/F", "p.dtsx", "/Bogus"], "unknown dtexec option /Bogus"),
    (["/F", "p.dtsx", "stray"], "not a dtexec option"),
    (["/F"], "needs a value"),
    (["/Rep", "E"], "give the package"),
    (["/F", "a.dtsx", "/Proj", "b.ispac"], "not both"),
    (["/F", "p.dtsx", "/M", "many"], "takes a number"),
    (["/F", "p.dtsx", "/Set", "novalue"], "propertyPath;value"),
    (["/F", "p.dtsx", "/Conn", "onlyname"], "name;connection_string"),
])
def test_refused_and_wrong_options_exit_6(runner: CliRunner, args: list[str],
                                          message: str) -> None:
    result = runner.invoke(cli, ["dtexec", *args])
    assert result.exit_code == 6, result.output
    assert message in result.output


def test_help_lists_the_options(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["dtexec", "/?"])
    assert result.exit_code == 0
    assert "/Conf[igFile]" in result.output and "refused" in result.output


def check_package(tmp_path: Path) -> Path:
    """Succeeds only when N is 42, S is 'two words', the parameter is 'p' and Src's
    connection manager exists (its string checked in-process elsewhere)."""
    check = ('@[User::Out] = (DT_WSTR, 5) (10 / (@[User::N] == 42 && @[User::S] == "two words"'
             ' && @[$Package::P] == "p" ? 1 : 0))')
    xml = package(8, [expr_task("Check", check)],
                  variables=[Var("N", 3, "0"), Var("S"), Var("Out")],
                  parameters=[package_parameter("P", 8, "")],
                  connections=[connection_manager(8, "Src", "OLEDB", "Data Source=a")])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    return pkg


def test_dtexec_runs_like_exec(tmp_path: Path, runner: CliRunner) -> None:
    pkg = check_package(tmp_path)
    args = ["dtexec", "/FILE", str(pkg), "/SET", "\\Package.Variables[User::N].Value;42",
            "-Set", "\\package.variables[S].value;two words", "/Par", "P;p",
            "/Conn", "Src;Data Source=b", "/Rep", "EW", "/M", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "DTExec: The package execution returned DTSER_SUCCESS (0)." in result.output
    wrong = runner.invoke(cli, args[:5] + ["/Par", "P;q"])
    assert wrong.exit_code == 1
    assert "DTSER_FAILURE (1)" in wrong.output


def test_dtexec_validate_and_verify(tmp_path: Path, runner: CliRunner) -> None:
    pkg = check_package(tmp_path)
    result = runner.invoke(cli, ["dtexec", "/F", str(pkg), "/Va"])
    assert result.exit_code == 0 and "the package could run" in result.output
    assert "Started:" not in result.output
    build = runner.invoke(cli, ["dtexec", "/F", str(pkg), "/VerifyBuild", "9"])
    assert build.exit_code == 1 and "/VerifyBuild" in build.output
    bad_path = runner.invoke(cli, ["dtexec", "/F", str(pkg), "/Set",
                                   "\\Package.Variables[User::Zz].Value;1"])
    assert bad_path.exit_code == 6 and "User::Zz" in bad_path.output
