"""Database connections: every connection manager that reaches a database goes through here.

A connection manager's connection string (OLE DB, ADO.NET or ODBC, after ``--conn``,
``--connections`` and property expressions) becomes a SQLAlchemy URL, then an engine, cached
for the run. Tasks get a :class:`Database`: one DB-API connection in autocommit mode, so each
statement commits on its own unless the SQL opens a transaction itself (``BEGIN TRAN``), as
with SQL Server.

Which database a string names (:func:`database_url`):

* ``Provider=SQLNCLI*``/``MSOLEDBSQL*``/``SQLOLEDB*``, ``ADO.NET:SQL``/``SqlClient``, an ODBC
  ``Driver={...SQL Server...}``, or an OLE DB/ADO.NET string without a provider: SQL Server,
  ``mssql+pymssql://`` (``mssql+pyodbc`` when only pyodbc is installed).
* ``Provider=PostgreSQL...``/``PGNP``/``Npgsql``, ``Driver={PostgreSQL...}``:
  ``postgresql+psycopg://``.
* A provider or driver naming SQLite, or ``Data Source=x.db`` (``.db``, ``.sqlite``,
  ``.sqlite3``, ``.db3``) or ``Version=3``: ``sqlite:///path`` (the path mapped like every
  Windows path).
* ``OraOLEDB.Oracle``/``MSDAORA``/``Oracle.*`` providers, ``ORACLE`` managers:
  ``oracle+oracledb://``.
* A value containing ``://`` is a SQLAlchemy URL and is used as it is (``postgresql://``,
  ``mssql://`` and ``oracle://`` get ssisrun's drivers).

A connection string that names a user and no password gets the password the package keeps
in clear (a ``DTS:Password`` that is not encrypted: :func:`kept_password`), unless a
``--conn`` names another user. Encrypted passwords cannot be used: ``ssisrun validate``
names each such connection manager.

Windows authentication (``Integrated Security=SSPI``, ``Trusted_Connection=yes``) cannot be
used here: opening such a connection fails with a message that says how to give a user and
password (``--conn``, ``--connections``). ssisrun does not try to connect without
credentials, because a silent fallback would reach the server as another login.

``RetainSameConnection`` keeps one DB-API connection per connection manager for the whole run
(so ``BEGIN TRAN`` in one Execute SQL task and ``COMMIT`` in another work); it is closed at
the end of the run, which rolls back a transaction left open. Tasks using the same retained
connection take turns.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError, UsageError
from ssisrun.secrets import mask_connection_string

if TYPE_CHECKING:
    from sqlalchemy import URL
    from sqlalchemy.engine import Engine as SaEngine

    from ssisrun.model import ConnectionManager


class DatabaseConnectionError(SsisrunError):
    """A connection manager cannot become a database connection."""


#: SQLAlchemy dialect+driver -> (module to import, pip extra)
DRIVERS = {
    "postgresql+psycopg": ("psycopg", "postgres"),
    "mssql+pymssql": ("pymssql", "mssql"),
    "mssql+pyodbc": ("pyodbc", "odbc"),
    "oracle+oracledb": ("oracledb", "oracle"),
}
#: a URL without a driver gets ssisrun's
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                    "mssql": "mssql+pymssql", "oracle": "oracle+oracledb"}
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


# --------------------------------------------------------------------------- parsing


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;`` pairs of an OLE DB, ADO.NET or ODBC connection string, keys in lower
    case. Values may be quoted (``"..."``, ``'...'``, doubled quotes inside) or braced
    (``{...}``, ODBC)."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n;":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise DatabaseConnectionError(f"the connection string has '{text[i:].strip()}' without "
                                   "'=': expected Key=Value pairs separated by ';'")
        key = " ".join(text[i:eq].split()).lower()
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in "\"'{":
            close = "}" if text[i] == "{" else text[i]
            j = i + 1
            out = []
            while j < n:
                if text[j] == close:
                    if j + 1 < n and text[j + 1] == close:
                        out.append(close)
                        j += 2
                        continue
                    break
                out.append(text[j])
                j += 1
            value = "".join(out)
            if close == "}":
                value = "{" + value + "}"
            i = j + 1
            while i < n and text[i] != ";":
                i += 1
        else:
            j = text.find(";", i)
            j = n if j < 0 else j
            value = text[i:j].strip()
            i = j
        result[key] = value
    return result


def _first(values: dict[str, str], *keys: str) -> str:
    for key in keys:
        if values.get(key):
            return values[key]
    return ""


def _backend_of(values: dict[str, str], creation_name: str) -> str:
    provider = values.get("provider", "").lower()
    driver = values.get("driver", "").lower()
    creation = creation_name.lower()
    words = f"{provider} {driver} {creation}"
    if "sqlite" in words:
        return "sqlite"
    if any(w in words for w in ("postgres", "pgnp", "npgsql")):
        return "postgresql"
    if any(w in words for w in ("oraoledb", "msdaora", "oracle")):
        return "oracle"
    if "mysql" in words or "mariadb" in words:
        return "mysql"
    if any(w in provider for w in ("microsoft.jet", "microsoft.ace")) or creation == "excel":
        return "excel"
    source = _first(values, "data source", "datasource", "database")
    if source.lower().endswith(_SQLITE_SUFFIXES) or values.get("version") == "3":
        return "sqlite"
    if (any(w in words for w in ("sqlncli", "msoledbsql", "sqloledb", "sql server",
                                 "sqlclient", "ado.net:sql"))
            or creation.split(":")[0] in ("oledb", "ado.net", "ado") and not provider):
        return "mssql"
    return ""


def _credentials(values: dict[str, str], name: str,
                 kept: str | None = None) -> tuple[str | None, str | None]:
    integrated = _first(values, "integrated security", "trusted_connection").lower()
    user = _first(values, "user id", "uid", "user", "username", "user name") or None
    password = _first(values, "password", "pwd") or (kept if user else None) or None
    if integrated in ("sspi", "true", "yes") and not user:
        raise DatabaseConnectionError(
            f"the connection manager '{name}' uses Windows authentication (Integrated "
            "Security), which ssisrun cannot use here: give a user and password with --conn "
            f"'{name}=...;User ID=...;Password=...' (or a SQLAlchemy URL) or in a "
            "--connections file")
    return user, password


def database_url(text: str, creation_name: str = "", name: str = "",
                 map_path: Callable[[str], str] = lambda p: p,
                 password: str | None = None) -> URL:
    """The SQLAlchemy URL of a connection string (or of a SQLAlchemy URL). ``password``
    (the one the package keeps in clear, :func:`kept_password`) is used when the string
    names a user and no password."""
    from sqlalchemy import URL, make_url
    from sqlalchemy.exc import ArgumentError

    label = name or "the connection"
    if "://" in text and "=" not in text.split("://", 1)[0]:
        try:
            url = make_url(text.strip())
        except ArgumentError as exc:
            raise DatabaseConnectionError(f"{label}: '{mask_connection_string(text)}' is not a "
                                   f"SQLAlchemy URL: {exc}") from None
        driver = _DEFAULT_DRIVERS.get(url.drivername)
        if password and url.username and url.password is None:
            url = url.set(password=password)
        return url.set(drivername=driver) if driver else url
    values = parse_connection_string(text)
    backend = _backend_of(values, creation_name)
    if backend == "sqlite":
        path = _first(values, "data source", "datasource", "database")
        if not path or path == ":memory:":
            return URL.create("sqlite")
        return URL.create("sqlite", database=map_path(path))
    if backend == "mssql":
        user, password = _credentials(values, label, password)
        server = _first(values, "data source", "server", "address", "addr",
                        "network address") or "localhost"
        if server.lower().startswith(("tcp:", "np:", "lpc:")):
            server = server.split(":", 1)[1]
        port: int | None = None
        if "," in server:
            server, _, port_text = server.partition(",")
            port = int(port_text.strip()) if port_text.strip().isdigit() else None
        host, _, instance = server.strip().partition("\\")
        if host in (".", "(local)", "(localdb)", ""):
            host = "localhost"
        host = f"{host}\\{instance}" if instance else host
        database = _first(values, "initial catalog", "database") or None
        driver = "mssql+pymssql"
        if not _installed("pymssql") and _installed("pyodbc"):
            driver = "mssql+pyodbc"
            return URL.create(driver, user, password, host, port, database,
                              query={"driver": "ODBC Driver 18 for SQL Server",
                                     "TrustServerCertificate": "yes"})
        return URL.create(driver, user, password, host, port, database)
    if backend == "postgresql":
        user, password = _credentials(values, label, password)
        server = _first(values, "host", "server", "data source", "servername") or "localhost"
        port_text = _first(values, "port")
        if ":" in server and not port_text:
            server, _, port_text = server.partition(":")
        database = _first(values, "database", "initial catalog", "location") or None
        return URL.create("postgresql+psycopg", user, password, server,
                          int(port_text) if port_text.isdigit() else None, database)
    if backend == "oracle":
        user, password = _credentials(values, label, password)
        source = _first(values, "data source", "dbq", "server")
        if source.lstrip().startswith("("):
            return URL.create("oracle+oracledb", user, password, query={"dsn": source})
        match = re.fullmatch(r"/*([^:/]+)(?::(\d+))?/(.+)", source.strip())
        if match:
            return URL.create("oracle+oracledb", user, password, match.group(1),
                              int(match.group(2)) if match.group(2) else None,
                              query={"service_name": match.group(3)})
        return URL.create("oracle+oracledb", user, password, source or None)
    if backend == "excel":
        raise DatabaseConnectionError(f"{label} is an Excel/Access (Jet/ACE) connection, which "
                               "ssisrun cannot open")
    provider = values.get("provider") or values.get("driver") or creation_name
    raise DatabaseConnectionError(
        f"{label}: ssisrun cannot tell which database '{mask_connection_string(text)}' "
        f"names (provider '{provider}'); give a SQLAlchemy URL with --conn "
        f"'{name or 'NAME'}=postgresql://user@host/db'")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: connection manager types that name a database (``CreationName`` before the ``:``)
DATABASE_KINDS = frozenset({"OLEDB", "ADO.NET", "ADO", "ODBC", "ORACLE", "MSORA"})


def connection_problem(cm: ConnectionManager, text: str) -> str:
    """Why the database connection manager ``cm`` will not open here, with its connection
    string ``text`` (after overrides), found without connecting: Windows authentication, a
    database ssisrun cannot tell or open, a driver that is not installed (naming the pip
    extra). "" when nothing is known to be wrong, or ``cm`` is not a database."""
    if cm.kind not in DATABASE_KINDS or not text.strip():
        return ""
    try:
        if "://" not in text and _backend_of(parse_connection_string(text),
                                             cm.creation_name) == "excel":
            return ""  # Excel/Access files are the data flow's Excel components' business
    except DatabaseConnectionError as exc:
        return f"the connection manager '{cm.name}': {exc}"
    try:
        url = connection_url(cm, text)
    except DatabaseConnectionError as exc:
        return str(exc)
    module, extra = DRIVERS.get(url.drivername, ("", ""))
    if module and not _installed(module):
        return (f"the connection manager '{cm.name}' needs the {url.get_backend_name()} "
                f"driver ({module}), which is not installed: pip install 'ssisrun[{extra}]'")
    return ""


def _user_of(text: str) -> str:
    try:
        if "://" in text and "=" not in text.split("://", 1)[0]:
            from sqlalchemy import make_url

            return make_url(text.strip()).username or ""
        values = parse_connection_string(text)
    except Exception:  # noqa: BLE001 - not parseable: no user to compare
        return ""
    return _first(values, "user id", "uid", "user", "username", "user name")


def kept_password(cm: ConnectionManager, text: str) -> str | None:
    """The password ``cm`` keeps in clear in the package (a ``DTS:Password`` that is not
    encrypted), for its connection string ``text`` after overrides: given when ``text`` is
    the package's own string or names the same user, so a ``--conn`` for another login
    never gets it."""
    if not cm.password:
        return None
    if text == cm.connection_string:
        return cm.password
    user = _user_of(text)
    return cm.password if user and user.lower() == _user_of(cm.connection_string).lower() \
        else None


def connection_url(cm: ConnectionManager, text: str,
                   map_path: Callable[[str], str] = lambda p: p) -> URL:
    """The SQLAlchemy URL of the database connection manager ``cm`` whose connection string
    after overrides is ``text``, with the password the package keeps in clear."""
    return database_url(text, cm.creation_name, cm.name, map_path, kept_password(cm, text))


def show_url(url: URL) -> str:
    """A URL for messages: the password hidden."""
    return url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------- connections


@dataclass
class Database:
    """One open DB-API connection in autocommit mode, with what a task needs to know
    about its database."""

    raw: Any
    backend: str  # "sqlite", "postgresql", "mssql", "oracle", ...
    paramstyle: str
    name: str
    retained: bool = False
    #: a target dialect for T-SQL translation (sqlglot), or ""
    sql_dialect: str = ""
    quote: Callable[[str], str] = field(default=lambda s: s)
    #: the connection of a transaction (TransactionOption=Required): the transaction
    #: commits or rolls back, never the task (ssisrun.runtime.transactions)
    enlisted: bool = False

    @property
    def driver_connection(self) -> Any:
        return getattr(self.raw, "driver_connection", self.raw)

    def cursor(self) -> Any:
        return self.raw.cursor()

    def in_transaction(self) -> bool:
        """True while the SQL run on this connection left a transaction open, and always
        for a transaction's connection."""
        if self.enlisted:
            return True
        conn = self.driver_connection
        if self.backend == "sqlite":
            return bool(conn.in_transaction)
        if self.backend == "postgresql":
            return int(conn.info.transaction_status) != 0  # 0 = IDLE
        return False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block in one transaction: its own, or the one already open (a BEGIN TRAN
        of an earlier task), which is then left open."""
        if self.in_transaction():
            yield
            return
        begin = {"mssql": "BEGIN TRANSACTION", "oracle": ""}.get(self.backend, "BEGIN")
        cur = self.cursor()
        conn = self.driver_connection
        if begin:
            cur.execute(begin)
        else:
            conn.autocommit = False
        try:
            yield
        except BaseException:
            if begin:
                cur.execute("ROLLBACK TRANSACTION" if self.backend == "mssql" else "ROLLBACK")
            else:
                conn.rollback()
                conn.autocommit = True
            raise
        if begin:
            cur.execute("COMMIT TRANSACTION" if self.backend == "mssql" else "COMMIT")
        else:
            conn.commit()
            conn.autocommit = True

    def interrupt(self) -> None:
        """Stop the statement running on this connection (from another thread)."""
        conn = self.driver_connection
        for attr in ("interrupt", "cancel"):
            method = getattr(conn, attr, None)
            if method is not None:
                try:
                    method()
                except Exception:  # noqa: BLE001 - best effort: the statement may have ended
                    pass
                return


class ConnectionRegistry:
    """The database connections of one run: engines cached by URL, and the connection of
    each connection manager with RetainSameConnection, kept until :meth:`close`."""

    def __init__(self, sql_dialects: dict[str, str] | None = None) -> None:
        self._engines: dict[str, SaEngine] = {}
        self._retained: dict[str, tuple[Database, threading.Lock]] = {}
        self._lock = threading.Lock()
        #: connection manager name or DTSID ("*" = every one) -> sqlglot dialect
        self.sql_dialects = dict(sql_dialects or {})

    def engine(self, url: URL) -> SaEngine:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        key = url.render_as_string(hide_password=False)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                return engine
            module, extra = DRIVERS.get(url.drivername, ("", ""))
            if module and not _installed(module):
                raise DatabaseConnectionError(
                    f"the {url.get_backend_name()} driver ({module}) is not installed: "
                    f"pip install 'ssisrun[{extra}]'")
            kwargs: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
            if url.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"check_same_thread": False}
            elif url.drivername == "oracle+oracledb" and url.query.get("dsn"):
                kwargs["connect_args"] = {"dsn": url.query["dsn"]}
                url = url.difference_update_query(["dsn"])
            try:
                engine = create_engine(url, **kwargs)
            except (ArgumentError, NoSuchModuleError) as exc:
                raise DatabaseConnectionError(f"cannot use {show_url(url)}: {exc}") from None
            except ImportError as exc:
                raise DatabaseConnectionError(f"the driver of {show_url(url)} is not installed "
                                       f"({exc.name})") from None
            self._engines[key] = engine
            return engine

    def dialect_for(self, cm: ConnectionManager) -> str:
        for key in (cm.name, cm.dtsid, "*"):
            if self.sql_dialects.get(key):
                return self.sql_dialects[key]
        return ""

    @contextmanager
    def open(self, cm: ConnectionManager, text: str,
             map_path: Callable[[str], str] = lambda p: p) -> Iterator[Database]:
        """A connection to the database ``cm`` names (``text`` its connection string after
        overrides). A retained connection is opened once and shared; others are opened for
        the block and closed after it (rolling back what the SQL left open)."""
        url = connection_url(cm, text, map_path)
        if cm.retain:
            key = cm.dtsid or cm.name
            with self._lock:
                held = self._retained.get(key)
            if held is None:
                db = self._connect(url, cm, retained=True)
                with self._lock:
                    held = self._retained.setdefault(key, (db, threading.Lock()))
                if held[0] is not db:
                    db.raw.close()
            with held[1]:
                yield held[0]
            return
        db = self._connect(url, cm)
        try:
            yield db
        finally:
            try:
                db.raw.close()
            except Exception:  # noqa: BLE001 - a broken connection is closed anyway
                pass

    def _connect(self, url: URL, cm: ConnectionManager, retained: bool = False) -> Database:
        engine = self.engine(url)
        try:
            raw = engine.raw_connection()
        except Exception as exc:  # the driver's own error: unreachable, bad login ...
            message = " ".join(str(getattr(exc, "orig", exc)).split())
            raise DatabaseConnectionError(f"cannot connect the connection manager '{cm.name}' to "
                                   f"{show_url(url)}: {message}") from None
        dialect = engine.dialect
        dbapi = getattr(dialect, "loaded_dbapi", None) or dialect.dbapi
        return Database(raw, dialect.name, str(getattr(dbapi, "paramstyle", "qmark")),
                        cm.name, retained, self.dialect_for(cm),
                        dialect.identifier_preparer.quote)

    def close(self) -> None:
        """Close every retained connection (rolling back what is left open) and every
        engine; called at the end of the run."""
        with self._lock:
            retained = list(self._retained.values())
            self._retained.clear()
            engines = list(self._engines.values())
            self._engines.clear()
        for db, _lock in retained:
            try:
                db.raw.close()
            except Exception:  # noqa: BLE001 - closing at the end must not fail the run
                pass
        for engine in engines:
            engine.dispose()


# --------------------------------------------------------------------------- connections file


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class ConnectionsFile:
    """What a ``--connections`` file gives one environment: connection strings by connection
    manager name, and T-SQL translation dialects by name."""

    connections: dict[str, str] = field(default_factory=dict)
    sql_dialects: dict[str, str] = field(default_factory=dict)


def read_connections_file(path: str | Path, environment: str | None = None,
                          env: dict[str, str] | None = None) -> ConnectionsFile:
    """Read a TOML connections file.

    Top-level ``NAME = "..."`` entries apply to every environment; each table is one
    environment (``[dev]``, ``[prod]``) whose entries add to or replace them. An entry is a
    connection string or SQLAlchemy URL, or a table ``{connection = "...", sql_dialect =
    "postgres"}``. ``${VAR}`` is replaced by the environment variable VAR. Without
    ``environment``, the table ``default`` is used if there is one, else the only table."""
    env = dict(os.environ) if env is None else env
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--connections {file}: cannot read it: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--connections {file}: not a TOML file: {exc}") from None
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and not _is_entry(v)}
    common = {k: v for k, v in data.items() if k not in tables}
    if environment is None:
        if "default" in tables:
            environment = "default"
        elif len(tables) == 1:
            environment = next(iter(tables))
        elif tables:
            raise UsageError(f"--connections {file} has the environments "
                             f"{', '.join(sorted(tables))}: choose one with --environment")
    if environment is not None and environment not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise UsageError(f"--connections {file} has no environment '{environment}' "
                         f"(it has: {known})")
    entries = {**common, **(tables[environment] if environment is not None else {})}
    result = ConnectionsFile()
    where = f"{file}" + (f" [{environment}]" if environment else "")
    for name, entry in entries.items():
        if isinstance(entry, dict):
            text = entry.get("connection", entry.get("url", ""))
            dialect = entry.get("sql_dialect", "")
            if not isinstance(dialect, str):
                raise UsageError(f"--connections {where} {name}: sql_dialect must be a string")
            if dialect:
                result.sql_dialects[name] = dialect
        else:
            text = entry
        if not isinstance(text, str):
            raise UsageError(f"--connections {where} {name}: expected a connection string")
        if text:
            result.connections[name] = _expand(text, env, f"--connections {where} {name}")
    return result


def _is_entry(table: dict[str, Any]) -> bool:
    return any(k in table for k in ("connection", "url", "sql_dialect"))


def _expand(text: str, env: dict[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise UsageError(f"{where}: the environment variable {name} is not set")
        return env[name]

    return _ENV_REFERENCE.sub(replace, text)
