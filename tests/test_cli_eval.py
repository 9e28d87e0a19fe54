"""``ssisrun eval``: value and SSIS type on stdout, caret errors on stderr, dtexec exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ssisrun.cli import cli


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["6 * 7"], "42  DT_I4\n"),
        (["(DT_WSTR, 10) (@[User::X] * 2)", "--var", "User::X=21"], '"42"  DT_WSTR(10)\n'),
        (["@X + 1", "--var", "X:Int64=1"], "2  DT_I8\n"),
        (['@[User::Name] + "!"', "--var", "User::Name:String=42"], '"42!"  DT_WSTR\n'),
        (["@Flag ? 1 : 2", "--var", "Flag=false"], "2  DT_I4\n"),
        (["@R * 2", "--var", "R=1.25"], "2.5  DT_R8\n"),
        (["MONTH(@D)", "--var", "D=2024-02-29"], "2  DT_I4\n"),
        (["(DT_WSTR, 30) @D", "--var", "D=2024-02-29 13:05:00"],
         '"2/29/2024 1:05:00 PM"  DT_WSTR(30)\n'),
        (["@[$Package::Dir] + \"\\\\in\"", "--param", "Dir=C:"], '"C:\\\\in"  DT_WSTR\n'),
        (["@[$Project::N] * 2", "--param", "$Project::N:Int16=4"], "8  DT_I4\n"),
        (['DATEADD("mm", 1, (DT_DBTIMESTAMP)"2024-01-31")'],
         "2024-02-29 00:00:00  DT_DBTIMESTAMP\n"),
        (["GETDATE()", "--now", "2024-01-02 03:04:05"], "2024-01-02 03:04:05  DT_DBTIMESTAMP\n"),
        (["NULL(DT_WSTR, 5)"], "NULL  DT_WSTR(5)\n"),
        (["1.5 * 2"], "3.0  DT_NUMERIC(13,1)\n"),
        (["Price * 2", "--column", "Price:DT_NUMERIC=9.99"], "19.98  DT_NUMERIC(38,2)\n"),
        (["@[User::N] = @N + 1", "--var", "N=1"], "User::N = 2  DT_I4\n"),
        (["@[User::S] := 5", "--var", "S:String=x"], 'User::S = "5"  DT_WSTR\n'),
        (["--raw", '"a" + "\\t" + "b"'], "a\tb\n"),
    ],
)
def test_prints_value_and_type(runner: CliRunner, args: list[str], expected: str) -> None:
    code, out, err = run(runner, *args)
    assert (code, out, err) == (0, expected, "")


def test_a_syntax_error_exits_1_with_a_caret(runner: CliRunner) -> None:
    code, out, err = run(runner, "1 + * 2")
    assert code == 1
    assert out == ""
    assert err == (
        "Error: unexpected '*'; expected an operand\n"
        "  1 + * 2\n"
        "      ^\n"
    )
    assert "Traceback" not in err


def test_a_type_error_names_the_types(runner: CliRunner) -> None:
    code, _, err = run(runner, '"Count: " + @N', "--var", "N=3")
    assert code == 1
    assert "cannot add DT_WSTR and DT_I4" in err
    assert err.splitlines()[-1] == "            ^"  # under the +


def test_an_evaluation_error_exits_1(runner: CliRunner) -> None:
    code, _, err = run(runner, "10 / @N", "--var", "N=0")
    assert code == 1
    assert "division by zero" in err


def test_an_unknown_variable_is_reported(runner: CliRunner) -> None:
    code, _, err = run(runner, "@[User::Cuont] + 1", "--var", "Count=1")
    assert code == 1
    assert "User::Cuont is not defined; did you mean User::Count?" in err


@pytest.mark.parametrize(
    "bad",
    [["--var", "X"], ["--var", "=5"], ["--var", "X:Nope=1"], ["--var", "X:Int32=abc"],
     ["--param", "User::X=1"], ["--now", "yesterday"], ["--var", "X:Object=1"]],
)
def test_a_bad_option_exits_6(runner: CliRunner, bad: list[str]) -> None:
    code, out, err = run(runner, "1", *bad)
    assert code == 6
    assert out == ""
    assert "Traceback" not in err


def test_help_documents_type_inference(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    assert "whole" in result.stdout and "Int32" in result.stdout
    assert "--var NAME[:TYPE]=VALUE" in result.stdout


def test_real_process_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "eval", "LEN(@S) +", "--var", "S=abc"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.rstrip().endswith("^")
