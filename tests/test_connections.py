"""Connection strings become database URLs; --conn, --connections and --environment;
missing drivers and Windows authentication give messages that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import connection_manager, package, password
from click.testing import CliRunner
from sqltest import database, sql_task

from ssisrun.cli import cli
from ssisrun.connections import (
    ConnectionRegistry,
    DatabaseConnectionError,
    connection_url,
    database_url,
    parse_connection_string,
    read_connections_file,
)
from ssisrun.dtsx import load_package_bytes
from ssisrun.errors import UsageError
from ssisrun.model import ConnectionManager


def url(text: str, creation: str = "OLEDB") -> str:
    return database_url(text, creation, "Src").render_as_string(hide_password=False)


def test_keywords_are_case_insensitive_and_values_may_be_quoted() -> None:
    assert parse_connection_string(
        "Provider=SQLNCLI11.1; data source = srv ;Password=\"a;b\"\"c\";Driver={x;y}") == {
        "provider": "SQLNCLI11.1", "data source": "srv", "password": 'a;b"c',
        "driver": "{x;y}"}


@pytest.mark.parametrize(("text", "creation", "expected"), [
    ("Data Source=sql01,1500;User ID=etl;Password=p@ss;Initial Catalog=Stage;"
     "Provider=SQLNCLI11.1;Auto Translate=False;", "OLEDB",
     "mssql+pymssql://etl:p%40ss@sql01:1500/Stage"),
    ("Data Source=.\\SQLEXPRESS;Initial Catalog=DW;Provider=MSOLEDBSQL;User ID=u;Password=p",
     "OLEDB", "mssql+pymssql://u:p@localhost\\SQLEXPRESS/DW"),
    ("Data Source=tcp:db.example.com;Initial Catalog=X;User Id=u;Password=p;", "ADO.NET:SQL",
     "mssql+pymssql://u:p@db.example.com/X"),
    ("Driver={ODBC Driver 17 for SQL Server};Server=h;Database=d;UID=u;PWD=p", "ODBC",
     "mssql+pymssql://u:p@h/d"),
    ("Provider=PostgreSQL OLE DB Provider;Data Source=pg;location=sales;User ID=u;"
     "password=p;port=5433;", "OLEDB", "postgresql+psycopg://u:p@pg:5433/sales"),
    ("Server=pg;Port=5432;Database=d;User Id=u;Password=p;", "ADO.NET:Npgsql.NpgsqlConnection",
     "postgresql+psycopg://u:p@pg:5432/d"),
    ("Driver={PostgreSQL Unicode};Server=pg;Database=d;UID=u;PWD=p", "ODBC",
     "postgresql+psycopg://u:p@pg/d"),
    ("Data Source=C:\\data\\stage.db;Version=3;", "ADO.NET:System.Data.SQLite",
     "sqlite:////data/stage.db"),
    ("Data Source=/srv/etl/x.sqlite", "OLEDB", "sqlite:////srv/etl/x.sqlite"),
    ("Provider=OraOLEDB.Oracle;Data Source=dbhost:1521/ORCLPDB;User ID=scott;Password=tiger",
     "OLEDB", "oracle+oracledb://scott:tiger@dbhost:1521?service_name=ORCLPDB"),
    ("Provider=MSDAORA;Data Source=PROD;User ID=scott;Password=tiger", "OLEDB",
     "oracle+oracledb://scott:tiger@PROD"),
    ("postgresql://u@h/db", "OLEDB", "postgresql+psycopg://u@h/db"),
    ("mssql://u:p@h/db", "OLEDB", "mssql+pymssql://u:p@h/db"),
    ("sqlite:///rel.db", "OLEDB", "sqlite:///rel.db"),
])
def test_connection_strings_become_urls(text: str, creation: str, expected: str) -> None:
    mapped = database_url(text, creation, "Src",
                          lambda p: "/" + p[3:].replace("\\", "/") if p[1:2] == ":" else p)
    assert mapped.render_as_string(hide_password=False) == expected


def test_windows_authentication_asks_for_a_user_and_password() -> None:
    with pytest.raises(DatabaseConnectionError, match="Windows authentication.*--conn 'Src="):
        url("Data Source=.;Initial Catalog=DW;Provider=SQLNCLI11;Integrated Security=SSPI;")


def test_unknown_providers_and_excel_are_refused_clearly() -> None:
    with pytest.raises(DatabaseConnectionError, match="cannot tell which database"):
        url("Provider=Foo.1;Data Source=x;Password=secret", "ODBC")
    with pytest.raises(DatabaseConnectionError, match="Excel"):
        url("Provider=Microsoft.ACE.OLEDB.12.0;Data Source=a.xlsx", "EXCEL")
    try:
        url("Provider=Foo.1;Data Source=x;Password=secret", "ODBC")
    except DatabaseConnectionError as exc:
        assert "secret" not in str(exc)


def test_a_missing_driver_names_the_extra_to_install() -> None:
    registry = ConnectionRegistry()
    with pytest.raises(DatabaseConnectionError, match=r"pip install 'ssisrun\[mssql\]'"):
        registry.engine(database_url("mssql://u:p@h/db"))


def test_connections_file_environments_and_env_vars(tmp_path: Path) -> None:
    path = tmp_path / "connections.toml"
    path.write_text("""
Log = "Data Source=/var/log.db;Provider=SQLite"
[dev]
Src = "Data Source=pg;Provider=PostgreSQL;User ID=etl;Password=${PGPASS}"
[prod]
Src = { connection = "postgresql://etl:${PGPASS}@prod/db", sql_dialect = "postgres" }
""", encoding="utf-8")
    dev = read_connections_file(path, "dev", {"PGPASS": "s3"})
    assert dev.connections == {"Log": "Data Source=/var/log.db;Provider=SQLite",
                               "Src": "Data Source=pg;Provider=PostgreSQL;User ID=etl;"
                                      "Password=s3"}
    prod = read_connections_file(path, "prod", {"PGPASS": "s3"})
    assert prod.connections["Src"] == "postgresql://etl:s3@prod/db"
    assert prod.sql_dialects == {"Src": "postgres"}
    with pytest.raises(UsageError, match="choose one with --environment"):
        read_connections_file(path, None, {})
    with pytest.raises(UsageError, match="PGPASS is not set"):
        read_connections_file(path, "dev", {})
    with pytest.raises(UsageError, match="no environment 'test'"):
        read_connections_file(path, "test", {})


def test_exec_takes_connections_from_the_file_and_conn_wins(tmp_path: Path,
                                                            runner: CliRunner) -> None:
    good, other = tmp_path / "good.db", tmp_path / "other.db"
    xml = package(8, [sql_task("Make", "CREATE TABLE made (x INTEGER)")],
                  connections=[database("Db", "Data Source=C:\\nowhere\\x.db;Provider=SQLite")])
    pkg = tmp_path / "p.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[default]\nDb = "Data Source={other};Provider=SQLite"\n',
                    encoding="utf-8")
    result = runner.invoke(cli, ["exec", str(pkg), "--plain", "--connections", str(conf)])
    assert result.exit_code == 0, result.output
    assert other.exists() and not good.exists()
    result = runner.invoke(cli, ["exec", str(pkg), "--plain", "--connections", str(conf),
                                  "--conn", f"Db=sqlite:///{good}"])
    assert result.exit_code == 0, result.output
    assert good.exists()
    result = runner.invoke(cli, ["exec", str(pkg), "--environment", "x"])
    assert result.exit_code == 6
    assert "--environment needs --connections" in result.output


# --------------------------------------------------------------------------- passwords in packages


def read_cm(secret: str = "") -> ConnectionManager:
    text = ("Provider=PostgreSQL OLE DB Provider;Data Source=pg;location=sales;User ID=etl;"
            "Port=5433;")
    xml = package(8, connections=[connection_manager(8, "Src", "OLEDB", text,
                                                     inner_children=secret)])
    [cm] = load_package_bytes(xml.encode(), "t.dtsx").connection_managers
    return cm


def test_a_password_kept_in_clear_completes_the_connection_string() -> None:
    cm = read_cm(password(encrypted=False, value="s3cret"))
    assert cm.password == "s3cret" and cm.encrypted_secrets == [] and cm.has_password
    assert "s3cret" not in repr(cm) and "Password" not in cm.properties
    shown = connection_url(cm, cm.connection_string).render_as_string(hide_password=False)
    assert shown == "postgresql+psycopg://etl:s3cret@pg:5433/sales"
    # a --conn for the same user gets it; for another user, or with its own password, not
    same_user = "Data Source=pg2;User ID=ETL;Provider=PostgreSQL;location=x"
    assert connection_url(cm, same_user).password == "s3cret"
    assert connection_url(cm, "Data Source=pg2;User ID=bob;Provider=PostgreSQL").password \
        is None
    assert connection_url(cm, "Data Source=pg;User ID=etl;Password=mine;Provider=PostgreSQL"
                          ).password == "mine"
    assert connection_url(cm, "postgresql://etl@pg2/x").password == "s3cret"
    assert connection_url(cm, "postgresql://bob@pg2/x").password is None


def test_dont_save_sensitive_leaves_an_empty_password_that_adds_nothing() -> None:
    cm = read_cm(password(encrypted=False, value=""))
    assert cm.password == "" and cm.encrypted_secrets == []
    assert connection_url(cm, cm.connection_string).password is None


@pytest.mark.parametrize("secret", [
    password(),  # Encrypted="1" (EncryptSensitiveWithUserKey)
    # .conmgr files write the Windows DPAPI blob without Encrypted="1"
    password(encrypted=False, value="AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAS6SL2LGYrUqLZRo4hqdk0g"),
])
def test_a_password_encrypted_with_a_user_key_is_not_kept(secret: str) -> None:
    cm = read_cm(secret)
    assert cm.password is None
    assert cm.encrypted_secrets == ["Password"] and cm.secrets_key == "user key"
    assert connection_url(cm, cm.connection_string).password is None


def test_show_and_validate_never_print_a_password_kept_in_clear(tmp_path: Path) -> None:
    text = "Data Source=srv;User ID=etl;Initial Catalog=Stage;Provider=SQLNCLI11.1;"
    xml = package(8, connections=[connection_manager(
        8, "Stage", "OLEDB", text, inner_children=password(encrypted=False,
                                                           value="kept-s3cret"))])
    file = tmp_path / "p.dtsx"
    file.write_text(xml)
    for command in (["show"], ["validate"], ["validate", "--format", "json"]):
        result = CliRunner().invoke(cli, [*command, str(file)])
        assert result.exit_code == 0, result.output
        assert "kept-s3cret" not in result.output
