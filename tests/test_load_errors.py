"""Files that are not loadable packages: each is refused with dtexec's exit code and a
one-line message naming the file (and the line), through the library and the CLI,
never with a traceback and never with a file's secrets in the output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import Exe, package
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.dtsx import load_package
from ssisrun.errors import (
    EncryptedPackageError,
    PackageLoadError,
    PackageNotFoundError,
    SsisrunError,
)

HEAD = '<?xml version="1.0"?>\n'
ROOT = '<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" '

BILLION_LAUGHS = (
    HEAD + "<!DOCTYPE lolz [\n<!ENTITY lol0 \"lol\">\n"
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n" + ROOT + 'DTS:ExecutableType="Microsoft.Package">\n'
    '<DTS:Property DTS:Name="ObjectName">&lol9;</DTS:Property></DTS:Executable>\n'
)

#: name -> (file content, exit code, words the message must hold)
BAD_FILES: dict[str, tuple[str, int, list[str]]] = {
    "empty": ("", 5, ["empty"]),
    "plain text": ("this is not XML\nat all\n", 5, ["not XML", ":1:"]),
    "unclosed tag": (HEAD + ROOT + 'DTS:ExecutableType="Microsoft.Package">\n<DTS:Variables>\n'
                     "</DTS:Executable>\n", 5, ["not well-formed", ":4:"]),
    "other root": (HEAD + "<Project>\n  <Name>x</Name>\n</Project>\n", 5,
                   ["not an SSIS package", "<Project>"]),
    "task root": (HEAD + ROOT + 'DTS:ExecutableType="Microsoft.ExecuteSQLTask" '
                  'DTS:ObjectName="T"/>\n', 5, ["not an SSIS package", "Microsoft.ExecuteSQLTask"]),
    "encrypted whole": (HEAD + '<EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element" '
                        'xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData><CipherValue>'
                        "AAAA</CipherValue></CipherData></EncryptedData>\n", 5, ["encrypted"]),
    "EncryptAllWithPassword": (HEAD + '<EncryptedData Type="http://www.w3.org/2001/04/xmlenc#'
                               'Element" Salt="zMemWlieUA==" IV="aVvKveC8CZo=" xmlns="http://'
                               'www.w3.org/2001/04/xmlenc#"><EncryptionMethod Algorithm="http'
                               '://www.w3.org/2001/04/xmlenc#tripledes-cbc"/><CipherData>'
                               "<CipherValue>aVvKveC8CZqp2CDq</CipherValue></CipherData>"
                               "</EncryptedData>\n", 5,
                               ["encrypted", "EncryptAllWithPassword", "--decrypt"]),
    "EncryptAllWithUserKey": (package(3, [Exe("T")], props={"ProtectionLevel": 4}), 5,
                              ["encrypted", "EncryptAllWithUserKey"]),
    "xxe": (HEAD + '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + ROOT
            + 'DTS:ExecutableType="Microsoft.Package">\n'
            '<DTS:Property DTS:Name="ObjectName">&e;</DTS:Property></DTS:Executable>\n', 5,
            ["DTD"]),
    "xxe in attribute": (HEAD + '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
                         + ROOT + 'DTS:ExecutableType="Microsoft.Package" '
                         'DTS:ObjectName="&e;"/>\n', 5, []),
    "billion laughs": (BILLION_LAUGHS, 5, []),
    "external dtd": (HEAD + '<!DOCTYPE DTS:Executable SYSTEM "http://example.invalid/x.dtd">\n'
                     + ROOT + 'DTS:ExecutableType="Microsoft.Package"/>\n', 5, []),
    "undeclared entity": (HEAD + ROOT + 'DTS:ExecutableType="Microsoft.Package">\n'
                          '<DTS:Property DTS:Name="ObjectName">&e;</DTS:Property>'
                          "</DTS:Executable>\n", 5, []),
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    file = tmp_path / (name.replace(" ", "_") + ".dtsx")
    file.write_text(text, encoding="utf-8")
    return file


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --------------------------------------------------------------------------- library


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_library_refuses_bad_file(tmp_path: Path, case: str) -> None:
    text, code, words = BAD_FILES[case]
    file = _write(tmp_path, case, text)
    with pytest.raises(SsisrunError) as info:
        load_package(file)
    assert int(info.value.exit_code) == code
    assert isinstance(info.value, PackageLoadError)
    assert info.value.path == str(file)
    message = str(info.value)
    assert str(file) in message
    for word in words:
        assert word in message
    assert "root:" not in message  # /etc/passwd's first line


def test_library_line_numbers(tmp_path: Path) -> None:
    with pytest.raises(PackageLoadError) as info:
        load_package(_write(tmp_path, "unclosed tag", BAD_FILES["unclosed tag"][0]))
    assert info.value.line == 4
    with pytest.raises(PackageLoadError) as info:
        load_package(_write(tmp_path, "plain", "plain text"))
    assert info.value.line == 1


def test_library_encrypted_errors_are_encrypted_package_errors(tmp_path: Path) -> None:
    for case in ("encrypted whole", "EncryptAllWithPassword", "EncryptAllWithUserKey"):
        with pytest.raises(EncryptedPackageError):
            load_package(_write(tmp_path, case, BAD_FILES[case][0]))


def test_library_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "Missing.dtsx"
    with pytest.raises(PackageNotFoundError) as info:
        load_package(missing)
    assert info.value.exit_code == 4 and str(missing) in str(info.value)
    with pytest.raises(PackageNotFoundError) as info:
        load_package(tmp_path)
    assert info.value.exit_code == 4 and str(tmp_path) in str(info.value)
    assert "--project" in str(info.value)


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("command", ["validate", "show"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_cli_refuses_bad_file(runner: CliRunner, tmp_path: Path, command: str,
                              case: str) -> None:
    text, code, words = BAD_FILES[case]
    file = _write(tmp_path, case, text)
    before = _snapshot(tmp_path)
    result = runner.invoke(cli, [command, str(file)])
    assert result.exit_code == code, result.output
    assert str(file) in result.output
    assert result.output.count("\n") <= 2
    for word in words:
        assert word in result.output
    assert "Traceback" not in result.output
    assert "root:" not in result.output
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["validate", "show"])
def test_cli_missing_file_is_exit_4(runner: CliRunner, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "Missing.dtsx"
    result = runner.invoke(cli, [command, str(missing)])
    assert result.exit_code == 4
    assert str(missing) in result.output
    assert not missing.exists()


@pytest.mark.parametrize("command", ["validate", "show"])
def test_cli_directory_is_exit_4(runner: CliRunner, tmp_path: Path, command: str) -> None:
    result = runner.invoke(cli, [command, str(tmp_path)])
    assert result.exit_code == 4
    assert str(tmp_path) in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--bogus", "x.dtsx"],
        ["frobnicate", "x.dtsx"],
        ["validate", "--package", "Load"],
        ["show", "--package", "Load"],
        ["validate", "--project", "{tmp}"],
        ["validate"],
        ["show"],
        ["validate", "--format", "xml", "x.dtsx"],
    ],
    ids=["unknown option", "unknown command", "package without project",
         "show package without project", "project without package", "no package",
         "show no package", "bad format"],
)
def test_bad_command_line_is_exit_6(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "Load.dtsx").write_text(package(8, [Exe("T")]), encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(cli, args)
    assert result.exit_code == 6, result.output
    assert "Traceback" not in result.output


def test_project_without_package_lists_the_packages(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Load.dtsx").write_text(package(8, [Exe("T")]), encoding="utf-8")
    result = runner.invoke(cli, ["validate", "--project", str(tmp_path)])
    assert result.exit_code == 6
    assert "Load.dtsx" in result.output


def test_validate_and_show_write_no_files(runner: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "Good.dtsx"
    file.write_text(package(8, [Exe("T", "Microsoft.WebServiceTask")]), encoding="utf-8")
    before = _snapshot(tmp_path)
    assert runner.invoke(cli, ["validate", str(file)]).exit_code == 1
    assert runner.invoke(cli, ["validate", "--format", "json", str(file)]).exit_code == 1
    assert runner.invoke(cli, ["show", str(file)]).exit_code == 0
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------- real processes


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ssisrun", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("case", ["plain text", "unclosed tag", "encrypted whole", "xxe",
                                  "billion laughs", "external dtd"])
def test_subprocess_reports_one_line_without_traceback(tmp_path: Path, case: str) -> None:
    text, code, _ = BAD_FILES[case]
    file = _write(tmp_path, case, text)
    proc = _run("validate", file.name, cwd=tmp_path)
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ") and file.name in proc.stderr
    assert proc.stdout == ""
    assert "root:" not in proc.stdout + proc.stderr


def test_subprocess_missing_file_and_bad_command_line(tmp_path: Path) -> None:
    proc = _run("show", "Missing.dtsx", cwd=tmp_path)
    assert proc.returncode == 4
    assert "Missing.dtsx" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run("show", "--nope", cwd=tmp_path)
    assert proc.returncode == 6 and "Traceback" not in proc.stderr


def test_dtd_error_names_the_doctype_line(tmp_path: Path) -> None:
    with pytest.raises(PackageLoadError) as info:
        load_package(_write(tmp_path, "xxe", BAD_FILES["xxe"][0]))
    assert info.value.line == 2  # line 1 is the <?xml ...?> declaration
