"""``ssisrun validate`` names the connections that will not open at run time, without
connecting: passwords encrypted with a key ssisrun cannot have (and the --conn that fixes
it), Windows authentication, and database drivers that are not installed (the pip extra)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import connection_manager, package, password
from click.testing import CliRunner

from ssisrun import connections
from ssisrun.cli import cli

SQL_SERVER = "Data Source=sql01;Initial Catalog=Stage;Provider=SQLNCLI11.1;"
#: a Windows DPAPI blob, as .conmgr files write it: without Encrypted="1"
DPAPI = "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAS6SL2LGYrUqLZRo4hqdk0gAAAAACAAAAAAAQZg"


def validate(tmp_path: Path, *cms: str, args: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """Exit code and the problem lines of ``ssisrun validate`` on a package with ``cms``
    (without their line numbers)."""
    file = tmp_path / "Load.dtsx"
    file.write_text(package(8, connections=list(cms)))
    result = CliRunner().invoke(cli, ["validate", str(file), *args])
    lines = [re.sub(r" \(line \d+\)", "", line.strip())
             for line in result.output.splitlines() if line.startswith("  ")]
    return result.exit_code, lines


@pytest.fixture(autouse=True)
def drivers_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every driver counts as installed unless a test says otherwise."""
    monkeypatch.setattr(connections, "_installed", lambda module: True)


@pytest.mark.parametrize("secret", [password(), password(encrypted=False, value=DPAPI)])
def test_a_password_encrypted_with_a_user_key_names_the_conn_that_replaces_it(
        tmp_path: Path, secret: str) -> None:
    cm = connection_manager(8, "Stage", "OLEDB", SQL_SERVER + "User ID=etl;",
                            inner_children=secret)
    code, lines = validate(tmp_path, cm)
    assert code == 0
    assert lines == [
        "warning \\Package.ConnectionManagers[Stage]: connection manager 'Stage' "
        "keeps Password encrypted with a Windows user key (EncryptSensitiveWithUserKey), "
        "which only the user who saved it can decrypt, on the machine where it was saved: "
        "give its connection string, password included, with --conn "
        "'Stage=...;User ID=...;Password=...' (or in a --connections file)"]
    # given that way, nothing is left to say
    code, lines = validate(tmp_path, cm, args=(
        "--conn", f"Stage={SQL_SERVER}User ID=etl;Password=p"))
    assert (code, lines) == (0, [])


def test_an_ftp_password_names_an_ftp_url(tmp_path: Path) -> None:
    inner = ('<DTS:FtpConnection DTS:ServerName="ftp.corp.local"><DTS:Property '
             'DTS:Name="ServerPassword" Sensitive="1" Encrypted="1">AQAAANCMnd8BFdERjHoAwE'
             "</DTS:Property></DTS:FtpConnection>")
    _, lines = validate(tmp_path, connection_manager(8, "FTP", "FTP", "ftp.corp.local:21",
                                                     inner_children=inner))
    [line] = lines
    assert "keeps ServerPassword encrypted with a Windows user key" in line
    assert line.endswith("--conn 'FTP=ftp://user:password@host:21/' (or in a --connections "
                         "file)")


@pytest.mark.parametrize(("creation", "text"), [
    ("OLEDB", SQL_SERVER + "Integrated Security=SSPI;"),
    ("ODBC", "Driver={ODBC Driver 17 for SQL Server};Server=sql01;Trusted_Connection=yes;"),
])
def test_windows_authentication_is_named_with_the_conn_to_give(
        tmp_path: Path, creation: str, text: str) -> None:
    code, lines = validate(tmp_path, connection_manager(8, "DW", creation, text))
    assert code == 0
    assert lines == [
        "warning \\Package.ConnectionManagers[DW]: the connection manager 'DW' uses "
        "Windows authentication (Integrated Security), which ssisrun cannot use here: give a "
        "user and password with --conn 'DW=...;User ID=...;Password=...' (or a SQLAlchemy "
        "URL) or in a --connections file"]
    code, lines = validate(tmp_path, connection_manager(8, "DW", creation, text),
                           args=("--conn", "DW=postgresql://etl:pw@db/dw"))
    assert (code, lines) == (0, [])


def test_a_missing_driver_names_the_pip_extra(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "_installed", lambda module: module != "oracledb")
    oracle = connection_manager(8, "Ora", "OLEDB", "Provider=OraOLEDB.Oracle;Data Source="
                                "db:1521/ORCL;User ID=scott;Password=tiger")
    sqlite = connection_manager(8, "Lite", "OLEDB", "Data Source=/srv/x.db;Provider=SQLite")
    code, lines = validate(tmp_path, oracle, sqlite)
    assert code == 0
    assert lines == [
        "warning \\Package.ConnectionManagers[Ora]: the connection manager 'Ora' "
        "needs the oracle driver (oracledb), which is not installed: pip install "
        "'ssisrun[oracle]'"]
    assert "tiger" not in "".join(lines)


def test_strings_known_only_at_run_time_and_other_managers_are_left_alone(
        tmp_path: Path) -> None:
    by_expression = connection_manager(
        8, "Dyn", "OLEDB", SQL_SERVER + "Integrated Security=SSPI;",
        expressions={"ConnectionString": '"Data Source=" + "x.db"'})
    files = connection_manager(8, "In", "FILE", "C:\\in\\a.csv")
    excel = connection_manager(8, "Book", "OLEDB", "Provider=Microsoft.ACE.OLEDB.12.0;Data "
                               "Source=C:\\in\\b.xlsx;Extended Properties=\"Excel 12.0\"")
    assert validate(tmp_path, by_expression, files, excel) == (0, [])


def test_a_database_ssisrun_cannot_tell_is_named(tmp_path: Path) -> None:
    _, lines = validate(tmp_path, connection_manager(8, "Sage", "ODBC", "Dsn=SAGE;uid=u;"))
    [line] = lines
    assert "ssisrun cannot tell which database" in line and "--conn 'Sage=" in line
