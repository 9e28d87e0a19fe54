"""What the File System, Send Mail and FTP tasks share: reading settings, local paths from
FILE connection managers or variables, and the SMTP, FTP and HTTP connection managers.

Connection managers (spec ssis-runtime.md 2.15, 5.8):

* **FILE** (and FLATFILE): the connection string, after ``--conn`` and property
  expressions, is the path; ``FileUsageType`` 0 existing file, 1 create file, 2 existing
  folder, 3 create folder. Windows paths are mapped with ``--path-map`` like every path.
* **SMTP**: ``SmtpServer=host;UseWindowsAuthentication=False;EnableSsl=False;``. SSIS has no
  port keyword (port 25); ssisrun also reads ``SmtpServer=host:port``, ``Port=``, ``User=``
  (or ``UserName=``), ``Password=`` and ``Timeout=`` (seconds), so credentials can come
  with ``--conn`` and never sit in the package.
* **FTP**: the connection string is ``host:port``; the server settings are the attributes
  ``ServerName``, ``ServerPort``, ``ServerUserName``, ``UsePassiveMode``, ``TimeOut``,
  ``Retries``, ``ChunkSize`` of the ``DTS:FtpConnection`` element (their property
  expressions win). ``ServerPassword`` is used when the package keeps it in clear; it is
  encrypted in most real packages, so it comes from ``--conn``, as ``host:port``, as keywords
  (``ServerName=...;ServerPort=...;ServerUserName=...;ServerPassword=...;UsePassiveMode=``)
  or as a URL ``ftp://user:password@host:port``; or from a property expression.
* **HTTP**: ``ServerURL`` (the connection string), ``ServerUserName``, ``ServerPassword``
  (a property expression, or the value the package keeps in clear),
  ``TimeOut`` and ``ChunkSize``, read the same way; :func:`http_download` fetches a URL to
  a file (for tasks and scripts that download through an HTTP connection manager).

No message names a password.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.model import ConnectionManager
    from ssisrun.runtime.context import TaskContext
    from ssisrun.tasks import TaskOutcome

# SSIS's generic "An error occurred with the following error message" code
E_FOLLOWING_MESSAGE = 0xC002F304


class TaskSetupError(SsisrunError):
    """A task's settings or its connections cannot be used: an SSIS error code and a
    message naming what to fix."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- settings


def report_failure(ctx: TaskContext, exc: SsisrunError | OSError) -> TaskOutcome:
    """The one way a task reports what stopped it, as an error event, and fails: a setting
    (its own code), another ssisrun error, or the operating system's (with the file)."""
    from ssisrun.model import ExecResult
    from ssisrun.tasks import TaskOutcome

    if isinstance(exc, TaskSetupError):
        ctx.error(exc.code, exc.message)
    elif isinstance(exc, SsisrunError):
        ctx.error(E_FOLLOWING_MESSAGE, str(exc))
    else:
        where = f" ({exc.filename})" if exc.filename else ""
        ctx.error(E_FOLLOWING_MESSAGE, "An error occurred with the following error "
                  f'message: "{exc.strerror or exc}"{where}')
    return TaskOutcome(ExecResult.Failure)


def attribute(body: etree._Element | None, name: str, namespace: str = "") -> str | None:
    """An ObjectData attribute, with or without the task's namespace."""
    if body is None:
        return None
    value = body.get(f"{{{namespace}}}{name}") if namespace else None
    if value is None:
        value = body.get(name)
    return value


def setting(ctx: TaskContext, body: etree._Element | None, attr: str, *props: str,
            default: str = "", namespace: str = "") -> Any:
    """The ObjectData attribute ``attr``, replaced by a property expression on any of the
    names ``props`` (SSIS's property names) or on ``attr`` itself."""
    value: Any = attribute(body, attr, namespace)
    if value is None:
        value = default
    for name in (*props, attr):
        if name in ctx.properties:
            return ctx.properties[name]
    return value


def as_bool(name: str, value: Any, code: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "-1", "1", "yes"):
        return True
    if text in ("false", "0", "", "no"):
        return False
    raise TaskSetupError(code, f"{name} must be True or False, not '{value}'")


def as_choice(name: str, value: Any, choices: tuple[str, ...],
              code: int = E_FOLLOWING_MESSAGE) -> str:
    """A setting holding one of SSIS's enumeration values, by name (any case) or by its
    number in the enumeration, as the designer writes either."""
    text = str(value).strip()
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    if text.isdigit() and int(text) < len(choices):
        return choices[int(text)]
    raise TaskSetupError(code, f"{name} '{text}' is not one of {', '.join(choices)}")


def as_int(name: str, value: Any, code: int, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise TaskSetupError(code, f"{name} must be a whole number, not '{value}'") from None


def connection_keywords(text: str) -> dict[str, str]:
    """``Key=Value;Key2="a;b";Key3={x}`` as a dict with lower-case keys."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in "; \t\r\n":
            i += 1
        eq = text.find("=", i)
        if i >= n or eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in "\"'{":
            close = "}" if text[i] == "{" else text[i]
            end = text.find(close, i + 1)
            end = n if end < 0 else end
            value = text[i + 1:end]
            i = end + 1
            semi = text.find(";", i)
            i = n if semi < 0 else semi + 1
        else:
            semi = text.find(";", i)
            end = n if semi < 0 else semi
            value = text[i:end].strip()
            i = end + 1
        if key:
            result[key] = value
    return result


def split_host_port(text: str, default_port: int) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port``; the port is None when not given."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else text[1:]
        rest = text[end + 1:] if end > 0 else ""
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return host, None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.strip().isdigit():
            return host.strip(), int(port)
    return text, None


def cm_property(ctx: TaskContext, cm: ConnectionManager, name: str) -> str | None:
    """A connection manager property (ServerName, ServerUserName, ...): its property
    expression's value if it has one, else the value in the package (or None)."""
    expr = next((text for key, text in cm.property_expressions.items()
                 if key.lower() == name.lower()), None)
    if expr:
        from ssisrun.errors import ExpressionError

        try:
            value = ctx.compile_expression(expr, property=name).evaluate(ctx.scope)
        except ExpressionError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the property expression on {name} "
                                 f"of connection manager '{cm.name}' failed: {exc}") from None
        return "" if value is None else str(value)
    for key, value in cm.properties.items():
        if key.lower() == name.lower():
            return value
    return None


def connection(ctx: TaskContext, ref: str, code: int, kinds: tuple[str, ...],
               what: str, wrong_kind: int | None = None) -> tuple[ConnectionManager, str]:
    """The connection manager ``ref`` (DTSID or name) and its connection string; it must
    be of one of ``kinds`` (else error ``wrong_kind``)."""
    if not ref.strip():
        raise TaskSetupError(code, f"no {what} connection manager is set")
    try:
        cm, text = ctx.connection(ref.strip())
    except SsisrunError as exc:
        raise TaskSetupError(code, f"{exc}; the task names it as its {what} connection") \
            from None
    if cm.kind not in kinds:
        raise TaskSetupError(wrong_kind or code, f"the connection manager '{cm.name}' is of type "
                             f"{cm.kind or '?'}, not {' or '.join(kinds)}")
    return cm, text


# --------------------------------------------------------------------------- local paths


def shown(path: str, original: str) -> str:
    """A path for a message: the mapped path, and the Windows path it came from."""
    return path if path == original else f"{path} (mapped from {original})"


def local_path(ctx: TaskContext, text: str, code: int) -> str:
    """A path of the package as a path on this machine (``--path-map``). UNC paths
    (``\\\\server\\share``) cannot be reached without a map and are refused."""
    original = text.strip()
    if len(original) >= 2 and original[0] == original[-1] == '"':
        original = original[1:-1]
    mapped = ctx.map_path(original)
    if mapped.startswith("\\\\") or mapped.startswith("//"):
        raise TaskSetupError(code, f"the network path {original} cannot be reached from "
                             "here; map it with --path-map '\\\\server\\share\\=/mnt/share/'")
    return mapped


def variable_text(ctx: TaskContext, name: str, *, missing: int, not_string: int,
                  empty: int) -> str:
    """The string value of the variable (or parameter) ``name``."""
    var = ctx.scope.find(name)
    if var is None:
        raise TaskSetupError(missing, f'Variable "{name}" does not exist in the scope of '
                             f"{ctx.host.path}")
    value = ctx.scope.value_of(var)
    if value is not None and not isinstance(value, str):
        raise TaskSetupError(not_string, f'Variable "{name}" is not a string (its value is '
                             f"{value!r})")
    if not value or not value.strip():
        raise TaskSetupError(empty, f'Variable "{name}" is used as a path and is empty')
    return value


@dataclass(slots=True)
class LocalPath:
    """A path the task works on: where it is here, what the package said, where it came
    from (``connection 'X'`` or ``variable User::X``)."""

    path: str
    original: str
    origin: str
    #: FileUsageType of a FILE connection manager (None for variables)
    usage: int | None = None

    def __str__(self) -> str:
        return shown(self.path, self.original)

    @property
    def quoted(self) -> str:
        """``"/data/in.csv" (mapped from C:\\data\\in.csv)`` for messages."""
        return f'"{self.path}"' + ("" if self.path == self.original
                                   else f" (mapped from {self.original})")

    @property
    def is_folder_usage(self) -> bool:
        return self.usage in (2, 3)


def file_connection_path(ctx: TaskContext, ref: str, *, code: int,
                         not_file: int) -> LocalPath:
    """The path a FILE (or FLATFILE) connection manager points to."""
    cm, text = connection(ctx, ref, code, ("FILE", "FLATFILE"), "file", not_file)
    if not text.strip():
        raise TaskSetupError(code, f"the file connection manager '{cm.name}' has no path "
                             "(an empty connection string)")
    return LocalPath(local_path(ctx, text, code), text.strip(), f"connection '{cm.name}'",
                     cm.file_usage_type)


# --------------------------------------------------------------------------- SMTP


@dataclass(slots=True)
class SmtpSettings:
    server: str
    port: int = 25
    enable_ssl: bool = False
    use_windows_authentication: bool = False
    user: str = ""
    password: str = ""
    timeout: float = 100.0

    @property
    def address(self) -> str:
        return f"[{self.server}]:{self.port}" if ":" in self.server else \
            f"{self.server}:{self.port}"


def smtp_settings(cm: ConnectionManager, text: str, code: int) -> SmtpSettings:
    keys = connection_keywords(text)
    server_text = keys.get("smtpserver", "").strip()
    if not server_text:
        raise TaskSetupError(code, f"the SMTP connection manager '{cm.name}' names no server "
                             "(SmtpServer=); give one with --conn "
                             f"'{cm.name}=SmtpServer=host;Port=25'")
    host, port = split_host_port(server_text, 25)
    if keys.get("port", "").strip():
        port = as_int("Port", keys["port"], code)
    timeout = keys.get("timeout", "").strip()
    return SmtpSettings(
        server=host, port=port or 25,
        enable_ssl=as_bool("EnableSsl", keys.get("enablessl", "False"), code),
        use_windows_authentication=as_bool("UseWindowsAuthentication",
                                           keys.get("usewindowsauthentication", "False"), code),
        user=keys.get("user", keys.get("username", keys.get("user id", ""))),
        password=keys.get("password", keys.get("pwd", "")),
        timeout=float(as_int("Timeout", timeout, code)) if timeout else 100.0,
    )


# --------------------------------------------------------------------------- FTP


@dataclass(slots=True)
class FtpSettings:
    server: str
    port: int = 21
    user: str = "anonymous"
    password: str = ""
    passive: bool = False
    timeout: float = 60.0
    retries: int = 5
    chunk_size: int = 1  # KB

    @property
    def address(self) -> str:
        return f"{self.server}:{self.port}"


def ftp_settings(ctx: TaskContext, cm: ConnectionManager, text: str, code: int) -> FtpSettings:
    """The FTP connection manager's settings: its properties (and their expressions), then
    what its connection string (after ``--conn``) says."""
    values: dict[str, str] = {}
    if cm.password:  # kept in clear in the package (not encrypted)
        values["serverpassword"] = cm.password
    for name in ("ServerName", "ServerPort", "ServerUserName", "ServerPassword",
                 "UsePassiveMode", "TimeOut", "Retries", "ChunkSize"):
        value = cm_property(ctx, cm, name)
        if value is not None and value != "":
            values[name.lower()] = value
    text = text.strip()
    if text.lower().startswith("ftp://"):
        url = urllib.parse.urlsplit(text)
        if url.hostname:
            values["servername"] = url.hostname
        if url.port:
            values["serverport"] = str(url.port)
        if url.username is not None:
            values["serverusername"] = urllib.parse.unquote(url.username)
        if url.password is not None:
            values["serverpassword"] = urllib.parse.unquote(url.password)
        query = urllib.parse.parse_qs(url.query)
        for key, items in query.items():
            values[key.lower()] = items[-1]
    elif "=" in text:
        for key, value in connection_keywords(text).items():
            values[{"timeout": "timeout", "user": "serverusername",
                    "password": "serverpassword", "server": "servername",
                    "port": "serverport"}.get(key, key)] = value
    elif text:
        host, port = split_host_port(text, 21)
        values["servername"] = host
        if port is not None:
            values["serverport"] = str(port)
    server = values.get("servername", "").strip()
    if not server:
        raise TaskSetupError(code, f"the FTP connection manager '{cm.name}' names no server; "
                             f"give one with --conn '{cm.name}=ftp://user:password@host:21'")
    return FtpSettings(
        server=server,
        port=as_int("ServerPort", values.get("serverport", ""), code, 21),
        user=values.get("serverusername", "") or "anonymous",
        password=values.get("serverpassword", ""),
        passive=as_bool("UsePassiveMode", values.get("usepassivemode", "False"), code),
        timeout=float(as_int("TimeOut", values.get("timeout", ""), code, 60) or 60),
        retries=max(0, as_int("Retries", values.get("retries", ""), code, 5)),
        chunk_size=max(1, as_int("ChunkSize", values.get("chunksize", ""), code, 1)),
    )


# --------------------------------------------------------------------------- HTTP


@dataclass(slots=True)
class HttpSettings:
    url: str
    user: str = ""
    password: str = ""
    timeout: float = 30.0
    chunk_size: int = 1  # KB


def http_settings(ctx: TaskContext, ref: str, code: int = E_FOLLOWING_MESSAGE) -> HttpSettings:
    """The HTTP connection manager ``ref``: ``ServerURL`` is its connection string."""
    cm, text = connection(ctx, ref, code, ("HTTP",), "HTTP")
    url = text.strip() or (cm_property(ctx, cm, "ServerURL") or "").strip()
    if not url:
        raise TaskSetupError(code, f"the HTTP connection manager '{cm.name}' has no "
                             "ServerURL; give one with --conn")
    return HttpSettings(
        url=url,
        user=cm_property(ctx, cm, "ServerUserName") or "",
        password=cm_property(ctx, cm, "ServerPassword") or cm.password or "",
        timeout=float(as_int("TimeOut", cm_property(ctx, cm, "TimeOut") or "", code, 30)
                      or 30),
        chunk_size=max(1, as_int("ChunkSize", cm_property(ctx, cm, "ChunkSize") or "",
                                 code, 1)),
    )


def http_download(settings: HttpSettings, path: str, *, overwrite: bool = True,
                  cancelled: threading.Event | None = None) -> int:
    """Fetch ``settings.url`` into ``path`` (written whole or not at all); the number of
    bytes. Basic authentication when a user is set."""
    if not overwrite and os.path.exists(path):
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the file {path} already exists")
    request = urllib.request.Request(settings.url)
    if settings.user:
        import base64

        token = base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=folder)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(request, timeout=settings.timeout) as response:
            while True:
                if cancelled is not None and cancelled.is_set():
                    raise TaskSetupError(E_FOLLOWING_MESSAGE, "the run was cancelled")
                chunk = response.read(settings.chunk_size * 1024)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
        os.replace(temp, path)
    except OSError as exc:
        raise TaskSetupError(E_FOLLOWING_MESSAGE,
                             f"downloading {_safe_url(settings.url)} failed: {exc}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return size


def _safe_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def remove_tree(path: str) -> None:
    """Delete a folder and everything in it (read-only entries included)."""

    def retry(func: Any, target: str, _exc: Any) -> None:
        os.chmod(target, 0o700)
        func(target)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:  # pragma: no cover
        shutil.rmtree(path, onerror=retry)
