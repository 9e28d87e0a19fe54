"""What ``Dts.Connections[...]`` gives a C# script, and what ``AcquireConnection`` opens.

Mono has no OLE DB, so an OLE DB connection string to SQL Server (providers ``SQLNCLI*``,
``SQLOLEDB``, ``MSOLEDBSQL*``) is turned into a SqlClient one, which Mono's managed TDS client
opens. ADO.NET SqlClient connections open as they are; ADO.NET SQLite ones open with Mono's
``Mono.Data.Sqlite``. File connections give their path through the run's path map. Other
connection types give their connection string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ssisrun.model import ConnectionManager

SQL_SERVER_OLEDB = ("sqlncli", "sqloledb", "msoledbsql")

#: OLE DB keyword (lower case) -> SqlClient keyword; others are dropped
_SQLCLIENT_KEYS = {
    "data source": "Data Source", "server": "Data Source", "address": "Data Source",
    "initial catalog": "Initial Catalog", "database": "Initial Catalog",
    "user id": "User ID", "uid": "User ID", "password": "Password", "pwd": "Password",
    "integrated security": "Integrated Security", "trusted_connection": "Integrated Security",
    "persist security info": "Persist Security Info", "application name": "Application Name",
    "workstation id": "Workstation ID", "connect timeout": "Connect Timeout",
    "connection timeout": "Connect Timeout", "packet size": "Packet Size",
    "use encryption for data": "Encrypt", "encrypt": "Encrypt",
    "trustservercertificate": "TrustServerCertificate",
    "trust server certificate": "TrustServerCertificate",
    "multisubnetfailover": "MultiSubnetFailover", "failover partner": "Failover Partner",
    "initial file name": "AttachDBFilename", "mars connection": "MultipleActiveResultSets",
}


def split_connection_string(text: str) -> list[tuple[str, str]]:
    """``key=value;`` pairs (values may be quoted with ``"`` or ``'``)."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().strip(";").strip()
        j = eq + 1
        while j < n and text[j] == " ":
            j += 1
        if j < n and text[j] in "\"'":
            quote = text[j]
            end = text.find(quote, j + 1)
            end = n if end < 0 else end
            value = text[j + 1:end]
            semi = text.find(";", end)
            i = n if semi < 0 else semi + 1
        else:
            semi = text.find(";", j)
            end = n if semi < 0 else semi
            value = text[j:end].strip()
            i = end + 1
        if key:
            pairs.append((key, value))
    return pairs


def oledb_provider(text: str) -> str:
    for key, value in split_connection_string(text):
        if key.lower() == "provider":
            return value
    return ""


def is_sql_server_oledb(text: str) -> bool:
    return oledb_provider(text).lower().startswith(SQL_SERVER_OLEDB)


def oledb_to_sqlclient(text: str) -> str:
    """An OLE DB connection string to SQL Server as a SqlClient connection string."""
    parts = []
    for key, value in split_connection_string(text):
        target = _SQLCLIENT_KEYS.get(key.lower())
        if target is None:
            continue
        if target == "Integrated Security" and value.upper() in ("SSPI", "YES"):
            value = "True"
        if target == "Encrypt" and value.lower() in ("yes", "no"):
            value = "True" if value.lower() == "yes" else "False"
        if any(ch in value for ch in ";=\"'") or value != value.strip():
            value = '"' + value.replace('"', '""') + '"'
        parts.append(f"{target}={value}")
    return ";".join(parts) + (";" if parts else "")


@dataclass(frozen=True, slots=True)
class Acquire:
    """What AcquireConnection does for one connection manager: ``kind`` is ``path``,
    ``sqlclient``, ``sqlite``, ``string`` or ``error`` (``value`` is then the reason)."""

    kind: str
    value: str


def acquire_for(cm: ConnectionManager, text: str, map_path: Callable[[str], str]) -> Acquire:
    kind = cm.kind
    creation = cm.creation_name.lower()
    if kind in ("FILE", "FLATFILE", "MULTIFILE", "MULTIFLATFILE"):
        return Acquire("path", map_path(text))
    if kind == "ADO.NET":
        if "sqlclient" in creation:
            return Acquire("sqlclient", text)
        if "sqlite" in creation:
            pairs = []
            for key, value in split_connection_string(text):
                if key.lower() in ("data source", "datasource"):
                    value = map_path(value)
                pairs.append(f"{key}={value}")
            return Acquire("sqlite", ";".join(pairs))
        return Acquire("error", f"AcquireConnection: Mono has no ADO.NET provider for the "
                       f"connection manager '{cm.name}' ({cm.creation_name}) here")
    if kind == "OLEDB":
        if is_sql_server_oledb(text):
            return Acquire("sqlclient", oledb_to_sqlclient(text))
        provider = oledb_provider(text) or "no provider"
        return Acquire("error", f"AcquireConnection: the OLE DB connection manager '{cm.name}' "
                       f"uses {provider}; Mono has no OLE DB, and only SQL Server connections "
                       "are turned into SqlClient ones")
    return Acquire("string", text)
