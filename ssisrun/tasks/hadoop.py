"""The Hadoop tasks of SSIS 2016 and later: the Hadoop File System Task copies files and
folders to, from and within HDFS over WebHDFS; the Hadoop Hive Task and the Hadoop Pig Task
run a script as a WebHCat (Templeton) job and wait for it.

**The Hadoop connection manager** (``CreationName="Hadoop"``) keeps everything in its
connection string (after ``--conn`` and property expressions)::

    WebHdfsHost=h;WebHdfsPort=50070;WebHdfsUserName=u;WebHdfsAuthType=Basic;
    WebHdfsIsHttps=False;EnableWebHdfs=True;WebHCatHost=h;WebHCatPort=50111;
    WebHCatUser=u;WebHCatAuthType=Basic;WebHCatIsHttps=False;EnableWebHCat=True

Property expressions on the manager's properties (``WebHdfsHostName``, ``HdfsPort``,
``HdfsUserName``, ``WebHdfsAuthType``, ``EnableWebHdfs``, ``WebHCatHostName``,
``WebHCatPort``, ``WebHCatUserName``, ``WebHCatAuthType``, ``EnableWebHCat``, ...) win over
the string. ``Basic`` authentication is Hadoop's simple authentication: the user goes as
``user.name=`` on every request, no password. ``Kerberos`` (SPNEGO) is not supported yet:
``ssisrun validate`` and the run say so. ssisrun also reads ``Timeout=`` (seconds for one
HTTP exchange, 60 when left out).

**Hadoop File System Task** (``HadoopFileSystemTask`` element): ``HadoopConnectionId``,
``Operation`` (``CopyToHDFS``, ``CopyFromHDFS``, ``CopyWithinHDFS``), ``LocalFilePathId``
(a FILE connection manager, mapped with ``--path-map``), ``HadoopFilePath``,
``HadoopFileType`` (``File`` when left out, or ``Directory``), ``OverwriteDestination`` and
``IsRecursive`` (False when left out). CopyWithinHDFS copies ``HadoopSourceFilePath`` (or
``HadoopFilePath``) to ``HadoopDestinationFilePath``, optionally through
``HadoopDestinationConnectionId``. A property expression replaces a setting under the same
name.

* A file goes to the path named; when that path is an existing folder, into it under its
  own name. A folder's files go into the destination folder (created when missing);
  its subfolders too when ``IsRecursive``.
* Every destination is checked before anything is copied: when one exists and
  ``OverwriteDestination`` is False the task fails naming it, and nothing is copied.
* Files are streamed in 64 KB blocks (never whole in memory). Files received are written
  whole or not at all (a temporary file renamed at the end); a file sent that fails half
  way is deleted from HDFS.

**Hadoop Hive Task / Hadoop Pig Task**: ``HadoopConnectionId``, ``SourceType``
(``DirectInput``: the script is ``InlineScript``; ``ScriptFile``: the script is the HDFS
file ``ScriptFilePath``, also read as ``HadoopScriptFilePath``) and ``TimeoutInMinutes``
(0: submit the job and succeed at once, as SSIS's asynchronous mode; a decimal number is
accepted). The job is submitted to ``/templeton/v1/hive`` or ``/templeton/v1/pig`` with a
status folder ``/tmp/ssisrun/<id>`` on HDFS, polled, and its stdout (as Information
events) and stderr and exit code read back through WebHDFS. A job that fails, is killed, or
exits non-zero fails the task with the end of its stderr. When the timeout passes or the
run is cancelled, the job is killed (``DELETE /templeton/v1/jobs/<id>``).
"""

from __future__ import annotations

import http.client
import json
import os
import posixpath
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    LocalPath,
    TaskSetupError,
    as_bool,
    cm_property,
    connection,
    connection_keywords,
    file_connection_path,
    setting,
)

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.model import ConnectionManager
    from ssisrun.runtime.context import TaskContext

E_HADOOP = E_FOLLOWING_MESSAGE
BLOCK = 64 * 1024
#: the end of a failed job's stderr that goes into the error message
STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 4000
#: stdout of a job goes out in Information events of at most this many characters
EVENT_CHARS = 32 * 1024

OPERATIONS = ("CopyToHDFS", "CopyFromHDFS", "CopyWithinHDFS")
SOURCE_TYPES = ("DirectInput", "ScriptFile")

#: the connection string keyword and the property names of each setting
_KEYS: dict[str, tuple[str, ...]] = {
    "webhdfshost": ("WebHdfsHost", "WebHdfsHostName"),
    "webhdfsport": ("WebHdfsPort", "HdfsPort"),
    "webhdfsusername": ("WebHdfsUserName", "HdfsUserName", "WebHdfsUser"),
    "webhdfsauthtype": ("WebHdfsAuthType",),
    "webhdfsishttps": ("WebHdfsIsHttps",),
    "enablewebhdfs": ("EnableWebHdfs",),
    "webhcathost": ("WebHCatHost", "WebHCatHostName"),
    "webhcatport": ("WebHCatPort",),
    "webhcatuser": ("WebHCatUser", "WebHCatUserName"),
    "webhcatauthtype": ("WebHCatAuthType",),
    "webhcatishttps": ("WebHCatIsHttps",),
    "enablewebhcat": ("EnableWebHCat",),
    "timeout": ("Timeout",),
}


class _Cancelled(Exception):
    pass


class HadoopError(Exception):
    """A WebHDFS or WebHCat request failed: the HTTP status and Hadoop's exception name
    (``FileNotFoundException``, ``AccessControlException``, ...) when it sent one."""

    def __init__(self, message: str, status: int = 0, exception: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.exception = exception


# --------------------------------------------------------------------------- settings


@dataclass(slots=True)
class Endpoint:
    """One service of a Hadoop connection manager: WebHDFS or WebHCat."""

    service: str
    host: str
    port: int
    user: str
    auth: str = "Basic"
    https: bool = False
    enabled: bool = True

    @property
    def address(self) -> str:
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.port}"


@dataclass(slots=True)
class HadoopSettings:
    name: str
    webhdfs: Endpoint
    webhcat: Endpoint
    timeout: float = 60.0


def hadoop_settings(cm: ConnectionManager, text: str,
                    properties: Mapping[str, str] | None = None) -> HadoopSettings:
    """The settings of the Hadoop connection manager ``cm`` from its connection string
    ``text``; ``properties`` (property name -> value of its expression) win."""
    values = connection_keywords(text)
    by_name = {name.lower(): key for key, names in _KEYS.items() for name in names}
    for name, value in (properties or {}).items():
        key = by_name.get(name.lower())
        if key is not None:
            values[key] = value

    def flag(key: str, default: bool) -> bool:
        return as_bool(_KEYS[key][0], values.get(key, "") or str(default), E_HADOOP)

    def port(key: str, default: int) -> int:
        raw = values.get(key, "").strip()
        if not raw:
            return default
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise TaskSetupError(E_HADOOP, f"{_KEYS[key][0]} of the Hadoop connection "
                                 f"manager '{cm.name}' must be a port number, not '{raw}'")
        return int(raw)

    timeout_text = values.get("timeout", "").strip()
    try:
        timeout = float(timeout_text) if timeout_text else 60.0
    except ValueError:
        raise TaskSetupError(E_HADOOP, f"Timeout of the Hadoop connection manager "
                             f"'{cm.name}' must be a number of seconds, not "
                             f"'{timeout_text}'") from None
    return HadoopSettings(
        name=cm.name,
        webhdfs=Endpoint("WebHDFS", values.get("webhdfshost", "").strip(),
                         port("webhdfsport", 50070),
                         values.get("webhdfsusername", "").strip(),
                         values.get("webhdfsauthtype", "").strip() or "Basic",
                         flag("webhdfsishttps", False), flag("enablewebhdfs", True)),
        webhcat=Endpoint("WebHCat", values.get("webhcathost", "").strip(),
                         port("webhcatport", 50111),
                         values.get("webhcatuser", "").strip(),
                         values.get("webhcatauthtype", "").strip() or "Basic",
                         flag("webhcatishttps", False), flag("enablewebhcat", False)),
        timeout=timeout if timeout > 0 else 60.0,
    )


def endpoint_problem(settings: HadoopSettings, endpoint: Endpoint) -> str | None:
    """Why ``endpoint`` cannot be used (not enabled, no host, Kerberos), or None."""
    name, service = settings.name, endpoint.service
    key = "WebHdfs" if service == "WebHDFS" else "WebHCat"
    if not endpoint.enabled:
        return (f"the Hadoop connection manager '{name}' does not enable {service} "
                f"(Enable{key}=False)")
    if not endpoint.host:
        return (f"the Hadoop connection manager '{name}' names no {service} host; give one "
                f"with --conn '{name}={key}Host=host;{key}Port={endpoint.port};...'")
    auth = endpoint.auth.lower()
    if auth == "kerberos":
        return (f"the Hadoop connection manager '{name}' uses Kerberos authentication for "
                f"{service} ({key}AuthType=Kerberos), which ssisrun does not support yet "
                f"(SPNEGO); use Basic authentication (simple user.name) with --conn "
                f"'{name}=...;{key}AuthType=Basic'")
    if auth != "basic":
        return (f"{key}AuthType of the Hadoop connection manager '{name}' must be Basic or "
                f"Kerberos, not '{endpoint.auth}'")
    return None


#: the WebHDFS service each task needs first
_SERVICE = {"HadoopFileSystemTask": "WebHDFS", "HadoopHiveTask": "WebHCat",
            "HadoopPigTask": "WebHCat"}


def check_hadoop_connection(kind: str, cm: ConnectionManager, text: str) -> str | None:
    """What ``ssisrun validate`` says about a Hadoop task's connection manager, or None."""
    if cm.kind != "HADOOP":
        return f"the connection manager '{cm.name}' is of type {cm.kind or '?'}, not Hadoop"
    if cm.property_expressions:
        return None  # their values are known only at run time
    try:
        settings = hadoop_settings(cm, text)
    except TaskSetupError as exc:
        return exc.message
    endpoint = settings.webhdfs if _SERVICE.get(kind) == "WebHDFS" else settings.webhcat
    return endpoint_problem(settings, endpoint)


# --------------------------------------------------------------------------- HTTP


def _connect(address: str, timeout: float) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(address)
    host, port = parts.hostname or "", parts.port
    if parts.scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=ssl.create_default_context(),
                                           blocksize=BLOCK)
    return http.client.HTTPConnection(host, port, timeout=timeout, blocksize=BLOCK)


def _error(response: http.client.HTTPResponse, what: str) -> HadoopError:
    """A Hadoop error from a response: the RemoteException WebHDFS sends, or WebHCat's
    ``{"error": ...}``, or the status line."""
    body = response.read(BLOCK)
    status = response.status
    try:
        data = json.loads(body.decode("utf-8", "replace")) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("RemoteException"), dict):
        remote = data["RemoteException"]
        exception = str(remote.get("exception", ""))
        message = str(remote.get("message", "")).strip() or response.reason
        return HadoopError(f"{what}: {exception}: {message} (HTTP {status})", status,
                           exception)
    if isinstance(data, dict) and data.get("error"):
        return HadoopError(f"{what}: {data['error']} (HTTP {status})", status)
    text = body.decode("utf-8", "replace").strip().splitlines()
    detail = f": {text[0][:300]}" if text else ""
    return HadoopError(f"{what}: HTTP {status} {response.reason}{detail}", status)


class _Reader:
    """A file-like source for a request body that checks for cancellation and counts."""

    def __init__(self, source: IO[bytes] | http.client.HTTPResponse,
                 cancelled: threading.Event | None) -> None:
        self.source = source
        self.cancelled = cancelled
        self.count = 0

    def read(self, size: int = BLOCK) -> bytes:
        if self.cancelled is not None and self.cancelled.is_set():
            raise _Cancelled()
        chunk = self.source.read(size if size and size > 0 else BLOCK)
        self.count += len(chunk)
        return chunk


class WebHdfs:
    """A WebHDFS client (``/webhdfs/v1/<path>?op=...&user.name=...``) on http.client: the
    two-step CREATE and OPEN through the datanode the namenode redirects to (307)."""

    def __init__(self, endpoint: Endpoint, timeout: float,
                 cancelled: threading.Event | None = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.cancelled = cancelled

    def url(self, path: str, op: str, **params: str) -> str:
        query = {"op": op, **params}
        if self.endpoint.user:
            query["user.name"] = self.endpoint.user
        return (f"{self.endpoint.address}/webhdfs/v1{urllib.parse.quote(path, safe='/')}"
                f"?{urllib.parse.urlencode(query)}")

    def _send(self, method: str, url: str, body: Any = None,
              headers: Mapping[str, str] | None = None
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urllib.parse.urlsplit(url)
        conn = _connect(f"{parts.scheme}://{parts.netloc}", self.timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers=dict(headers or {}))
            return conn, conn.getresponse()
        except _Cancelled:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise HadoopError(f"{method} {parts.scheme}://{parts.netloc} failed: "
                              f"{_why(exc)}") from None

    def _json(self, method: str, path: str, op: str, what: str,
              **params: str) -> Any:
        conn, response = self._send(method, self.url(path, op, **params))
        try:
            if response.status >= 300:
                raise _error(response, what)
            body = response.read()
        finally:
            conn.close()
        try:
            return json.loads(body.decode("utf-8")) if body else {}
        except ValueError:
            raise HadoopError(f"{what}: the answer is not JSON") from None

    def status(self, path: str) -> dict[str, Any] | None:
        """GETFILESTATUS: the FileStatus of ``path``, or None when it does not exist."""
        try:
            data = self._json("GET", path, "GETFILESTATUS", f"reading the status of {path}")
        except HadoopError as exc:
            if exc.status == 404 or exc.exception == "FileNotFoundException":
                return None
            raise
        status = data.get("FileStatus") if isinstance(data, dict) else None
        if not isinstance(status, dict):
            raise HadoopError(f"reading the status of {path}: no FileStatus in the answer")
        return status

    def list(self, path: str) -> list[dict[str, Any]]:
        """LISTSTATUS: the entries of the folder ``path`` (name in ``pathSuffix``)."""
        data = self._json("GET", path, "LISTSTATUS", f"listing {path}")
        try:
            entries = data["FileStatuses"]["FileStatus"]
        except (KeyError, TypeError):
            raise HadoopError(f"listing {path}: no FileStatuses in the answer") from None
        return [e for e in entries if isinstance(e, dict)]

    def mkdirs(self, path: str) -> None:
        data = self._json("PUT", path, "MKDIRS", f"creating the folder {path}")
        if isinstance(data, dict) and data.get("boolean") is False:
            raise HadoopError(f"creating the folder {path}: the namenode refused")

    def delete(self, path: str, recursive: bool = False) -> bool:
        data = self._json("DELETE", path, "DELETE", f"deleting {path}",
                          recursive=str(recursive).lower())
        return bool(isinstance(data, dict) and data.get("boolean"))

    def _redirect(self, method: str, url: str, what: str
                  ) -> str | tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Step one of CREATE/OPEN: the datanode URL of the 307 answer."""
        headers = {"Content-Length": "0"} if method == "PUT" else {}
        conn, response = self._send(method, url, headers=headers)
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location") or ""
            response.read()
            conn.close()
            if not location:
                raise HadoopError(f"{what}: the namenode redirected without a Location")
            return urllib.parse.urljoin(url, location)
        if response.status >= 300:
            try:
                raise _error(response, what)
            finally:
                conn.close()
        if method == "GET":
            return conn, response  # a gateway (HttpFS, Knox) that answers itself
        response.read()
        conn.close()
        raise HadoopError(f"{what}: the namenode did not redirect to a datanode "
                          f"(HTTP {response.status})")

    def create(self, path: str, source: IO[bytes] | http.client.HTTPResponse, length: int,
               overwrite: bool) -> int:
        """CREATE ``path`` from ``source`` (``length`` bytes, streamed); the bytes sent."""
        what = f"writing {path}"
        step = self._redirect("PUT", self.url(path, "CREATE", overwrite=str(overwrite).lower()),
                              what)
        assert isinstance(step, str)
        reader = _Reader(source, self.cancelled)
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Length": str(length)}
        try:
            conn, response = self._send("PUT", step, body=reader, headers=headers)
        except HadoopError as exc:
            raise HadoopError(f"{what}: the datanode {_netloc(step)} the namenode "
                              f"redirected to: {exc.message}") from None
        try:
            if response.status >= 300:
                raise _error(response, what)
            response.read()
        finally:
            conn.close()
        if reader.count != length:
            raise HadoopError(f"{what}: sent {reader.count} bytes of {length}")
        return reader.count

    @contextmanager
    def open(self, path: str) -> Iterator[http.client.HTTPResponse]:
        """OPEN ``path``: the datanode's response, to read from."""
        what = f"reading {path}"
        step = self._redirect("GET", self.url(path, "OPEN"), what)
        if isinstance(step, str):
            try:
                conn, response = self._send("GET", step)
            except HadoopError as exc:
                raise HadoopError(f"{what}: the datanode {_netloc(step)} the namenode "
                                  f"redirected to: {exc.message}") from None
        else:
            conn, response = step
        try:
            if response.status >= 300:
                raise _error(response, what)
            yield response
        finally:
            response.close()
            conn.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _netloc(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


class WebHCat:
    """A WebHCat (Templeton) client: submit Hive and Pig jobs, poll them, kill them."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _call(self, method: str, resource: str, what: str,
              form: Mapping[str, str] | None = None) -> Any:
        query = ""
        body: bytes | None = None
        headers: dict[str, str] = {}
        if form is not None:
            fields = dict(form)
            if self.endpoint.user:
                fields["user.name"] = self.endpoint.user
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif self.endpoint.user:
            query = "?" + urllib.parse.urlencode({"user.name": self.endpoint.user})
        conn = _connect(self.endpoint.address, self.timeout)
        try:
            conn.request(method, f"/templeton/v1/{resource}{query}", body=body,
                         headers=headers)
            response = conn.getresponse()
            if response.status >= 300:
                raise _error(response, what)
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise HadoopError(f"{what}: {self.endpoint.address} cannot be reached: "
                              f"{_why(exc)}") from None
        finally:
            conn.close()
        try:
            return json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            raise HadoopError(f"{what}: the answer is not JSON") from None

    def submit(self, language: str, form: Mapping[str, str]) -> str:
        data = self._call("POST", language, f"submitting the {language.capitalize()} job",
                          form)
        job = data.get("id") if isinstance(data, dict) else None
        if not job:
            raise HadoopError(f"submitting the {language.capitalize()} job: WebHCat "
                              "answered no job id")
        return str(job)

    def job(self, job: str) -> dict[str, Any]:
        data = self._call("GET", f"jobs/{urllib.parse.quote(job)}", f"polling job {job}")
        return data if isinstance(data, dict) else {}

    def kill(self, job: str) -> None:
        self._call("DELETE", f"jobs/{urllib.parse.quote(job)}", f"killing job {job}")


# --------------------------------------------------------------------------- the tasks


class _HadoopTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        self.ctx = ctx
        try:
            return self._execute(ctx, body)
        except TaskSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        except HadoopError as exc:
            ctx.error(E_HADOOP, exc.message)
            return TaskOutcome(ExecResult.Failure)
        except _Cancelled:
            ctx.information(0, "the run was cancelled: the Hadoop task stopped")
            return TaskOutcome(ExecResult.Canceled)

    def _execute(self, ctx: TaskContext,
                 body: etree._Element | None) -> TaskOutcome:  # pragma: no cover
        raise NotImplementedError

    def _check_cancel(self) -> None:
        if self.ctx.cancelled.is_set():
            raise _Cancelled()

    def _settings(self, ctx: TaskContext, body: etree._Element | None, attr: str,
                  *props: str, service: str) -> tuple[HadoopSettings, Endpoint]:
        ref = str(setting(ctx, body, attr, *props, default="")).strip()
        if not ref:
            raise TaskSetupError(E_HADOOP, f"no Hadoop connection manager is set ({attr})")
        cm, text = connection(ctx, ref, E_HADOOP, ("HADOOP",), "Hadoop")
        properties: dict[str, str] = {}
        for name in cm.property_expressions:
            if name.lower() != "connectionstring":
                value = cm_property(ctx, cm, name)
                if value is not None:
                    properties[name] = value
        settings = hadoop_settings(cm, text, properties)
        endpoint = settings.webhdfs if service == "WebHDFS" else settings.webhcat
        problem = endpoint_problem(settings, endpoint)
        if problem:
            raise TaskSetupError(E_HADOOP, problem)
        return settings, endpoint


def _hdfs_path(text: str, user: str, what: str) -> str:
    """An HDFS path: absolute, or relative to ``/user/<user>``; ``hdfs://host/p`` and
    ``webhdfs://host/p`` give ``/p``."""
    text = text.strip()
    if "://" in text:
        text = urllib.parse.urlsplit(text).path or "/"
    if not text:
        raise TaskSetupError(E_HADOOP, f"{what} is empty")
    if not text.startswith("/"):
        if not user:
            raise TaskSetupError(E_HADOOP, f"{what} '{text}' is relative and the connection "
                                 "names no user whose home folder it would be in")
        text = f"/user/{user}/{text}"
    normal = posixpath.normpath(text)
    return "/" + normal.lstrip("/")


class HadoopFileSystemTask(_HadoopTask):
    """Copies files and folders to, from and within HDFS over WebHDFS."""

    def _execute(self, ctx: TaskContext, body: etree._Element | None) -> TaskOutcome:
        op_text = str(setting(ctx, body, "Operation", default="CopyToHDFS")).strip()
        operation = next((o for o in OPERATIONS if o.lower() == op_text.lower()), None)
        if operation is None:
            raise TaskSetupError(E_HADOOP, f"Operation '{op_text}' is not one of "
                                 f"{', '.join(OPERATIONS)}")
        type_text = str(setting(ctx, body, "HadoopFileType", default="File")).strip() or "File"
        if type_text.lower() not in ("file", "directory", "folder"):
            raise TaskSetupError(E_HADOOP, f"HadoopFileType '{type_text}' is not File or "
                                 "Directory")
        self.folder = type_text.lower() != "file"
        self.overwrite = as_bool("OverwriteDestination", setting(
            ctx, body, "OverwriteDestination", default="False"), E_HADOOP)
        self.recursive = as_bool("IsRecursive", setting(ctx, body, "IsRecursive",
                                                        default="False"), E_HADOOP)
        settings, endpoint = self._settings(ctx, body, "HadoopConnectionId",
                                            "HadoopConnection", "HadoopSourceConnectionId",
                                            service="WebHDFS")
        self.hdfs = WebHdfs(endpoint, settings.timeout, ctx.cancelled)
        self.copied = 0
        self.bytes = 0
        started = time.monotonic()
        if operation == "CopyWithinHDFS":
            target_ref = str(setting(ctx, body, "HadoopDestinationConnectionId",
                                     "HadoopDestinationConnection", default="")).strip()
            target_hdfs = self.hdfs
            if target_ref:
                dest_settings, dest_endpoint = self._settings(
                    ctx, body, "HadoopDestinationConnectionId", "HadoopDestinationConnection",
                    service="WebHDFS")
                target_hdfs = WebHdfs(dest_endpoint, dest_settings.timeout, ctx.cancelled)
            source_text = str(setting(ctx, body, "HadoopSourceFilePath",
                                      default="")).strip() or \
                str(setting(ctx, body, "HadoopFilePath", default=""))
            source = _hdfs_path(source_text, endpoint.user, "HadoopSourceFilePath")
            dest = _hdfs_path(str(setting(ctx, body, "HadoopDestinationFilePath",
                                          default="")), target_hdfs.endpoint.user,
                              "HadoopDestinationFilePath")
            self._within(source, target_hdfs, dest)
        else:
            ref = str(setting(ctx, body, "LocalFilePathId", "LocalFileConnection",
                              "LocalFilePath", default="")).strip()
            if not ref:
                raise TaskSetupError(E_HADOOP, "no local file connection manager is set "
                                     "(LocalFilePathId)")
            local = file_connection_path(ctx, ref, code=E_HADOOP, not_file=E_HADOOP)
            hdfs_path = _hdfs_path(str(setting(ctx, body, "HadoopFilePath", default="")),
                                   endpoint.user, "HadoopFilePath")
            if operation == "CopyToHDFS":
                self._to_hdfs(local, hdfs_path)
            else:
                self._from_hdfs(hdfs_path, local)
        seconds = time.monotonic() - started
        ctx.information(0, f"{operation}: {self.copied} file(s), {self.bytes} bytes in "
                        f"{seconds:.2f} s ({endpoint.address}, user "
                        f"{endpoint.user or '(none)'})")
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- plans

    def _refuse_existing(self, existing: list[str], where: str) -> None:
        if existing and not self.overwrite:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise TaskSetupError(E_HADOOP, f"the destination {existing[0]} already exists "
                                 f"{where}{more} and OverwriteDestination is False; nothing "
                                 "was copied")

    def _local_tree(self, root: str) -> Iterator[tuple[str, str]]:
        """(relative folder, file name) of the files under ``root`` (sorted)."""
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(folder, root)
            rel = "" if rel == "." else rel.replace(os.sep, "/")
            for name in sorted(files):
                yield rel, name
            if not self.recursive:
                dirs[:] = []

    def _hdfs_tree(self, hdfs: WebHdfs, root: str) -> Iterator[tuple[str, str, int]]:
        """(relative folder, file name, length) of the files under the HDFS folder."""
        pending = [""]
        while pending:
            rel = pending.pop(0)
            self._check_cancel()
            entries = sorted(hdfs.list(posixpath.join(root, rel) if rel else root),
                             key=lambda e: str(e.get("pathSuffix", "")))
            for entry in entries:
                name = str(entry.get("pathSuffix", ""))
                if entry.get("type") == "DIRECTORY":
                    if self.recursive:
                        pending.append(posixpath.join(rel, name) if rel else name)
                elif name:
                    yield rel, name, int(entry.get("length", 0))

    def _hdfs_existing(self, hdfs: WebHdfs, targets: list[str]) -> list[str]:
        """Which of the HDFS paths ``targets`` exist (one LISTSTATUS per folder)."""
        listed: dict[str, set[str] | None] = {}
        found = []
        for target in targets:
            folder, name = posixpath.split(target)
            if folder not in listed:
                status = hdfs.status(folder)
                if status is None:
                    listed[folder] = None
                elif status.get("type") != "DIRECTORY":
                    raise TaskSetupError(E_HADOOP, f"the HDFS path {folder} is a file, not "
                                         "a folder")
                else:
                    listed[folder] = {str(e.get("pathSuffix", "")) for e in hdfs.list(folder)}
            names = listed[folder]
            if names is not None and name in names:
                found.append(target)
        return found

    def _hdfs_target_file(self, hdfs: WebHdfs, path: str, name: str) -> str:
        """A file's destination on HDFS: ``path``, or ``path/name`` when ``path`` is an
        existing folder."""
        status = hdfs.status(path)
        if status is not None and status.get("type") == "DIRECTORY":
            return posixpath.join(path, name)
        return path

    # ---------------------------------------------------------------- CopyToHDFS

    def _to_hdfs(self, local: LocalPath, hdfs_path: str) -> None:
        if self.folder:
            if not os.path.isdir(local.path):
                raise TaskSetupError(E_HADOOP, f"the local folder {local.quoted} does not "
                                     f"exist (from {local.origin}; HadoopFileType is "
                                     "Directory)")
            plan = [(os.path.join(local.path, *rel.split("/"), name) if rel
                     else os.path.join(local.path, name),
                     posixpath.join(hdfs_path, rel, name) if rel
                     else posixpath.join(hdfs_path, name))
                    for rel, name in self._local_tree(local.path)]
            status = self.hdfs.status(hdfs_path)
            if status is not None and status.get("type") != "DIRECTORY":
                raise TaskSetupError(E_HADOOP, f"the HDFS path {hdfs_path} is a file; "
                                     "HadoopFileType Directory copies into a folder")
            self._refuse_existing(self._hdfs_existing(self.hdfs, [t for _, t in plan]),
                                  "on HDFS")
            self.hdfs.mkdirs(hdfs_path)
        else:
            if os.path.isdir(local.path):
                raise TaskSetupError(E_HADOOP, f"{local.quoted} is a folder (from "
                                     f"{local.origin}); set HadoopFileType to Directory to "
                                     "copy a folder")
            if not os.path.isfile(local.path):
                raise TaskSetupError(E_HADOOP, f"the local file {local.quoted} does not "
                                     f"exist (from {local.origin})")
            target = self._hdfs_target_file(self.hdfs, hdfs_path,
                                            os.path.basename(local.path))
            plan = [(local.path, target)]
            self._refuse_existing(self._hdfs_existing(self.hdfs, [target]), "on HDFS")
        made: set[str] = set()
        for source, target in plan:
            self._check_cancel()
            folder = posixpath.dirname(target)
            if folder not in made:
                self.hdfs.mkdirs(folder)
                made.add(folder)
            self._send_file(source, target)

    def _send_file(self, source: str, target: str) -> None:
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise TaskSetupError(E_HADOOP, f"cannot read {source}: {exc.strerror or exc}") \
                from None
        with handle:
            length = os.fstat(handle.fileno()).st_size
            try:
                sent = self.hdfs.create(target, handle, length, self.overwrite)
            except (HadoopError, _Cancelled) as exc:
                self._remove_partial(self.hdfs, target, exc)
                raise
        self.copied += 1
        self.bytes += sent
        self.ctx.information(0, f"copied {source} to HDFS {target} ({sent} bytes)")

    def _remove_partial(self, hdfs: WebHdfs, target: str, exc: BaseException) -> None:
        """Delete what a failed CREATE may have left (not when it refused because the
        file exists)."""
        if isinstance(exc, HadoopError) and exc.status in (0, 403, 404) and \
                exc.exception in ("FileAlreadyExistsException", "AccessControlException"):
            return
        try:
            hdfs.delete(target)
        except HadoopError:
            pass

    # ---------------------------------------------------------------- CopyFromHDFS

    def _from_hdfs(self, hdfs_path: str, local: LocalPath) -> None:
        status = self.hdfs.status(hdfs_path)
        if status is None:
            raise TaskSetupError(E_HADOOP, f"the HDFS path {hdfs_path} does not exist")
        is_dir = status.get("type") == "DIRECTORY"
        if self.folder:
            if not is_dir:
                raise TaskSetupError(E_HADOOP, f"the HDFS path {hdfs_path} is a file; set "
                                     "HadoopFileType to File to copy a file")
            if os.path.isfile(local.path):
                raise TaskSetupError(E_HADOOP, f"the local destination {local.quoted} is a "
                                     "file; HadoopFileType Directory copies into a folder")
            plan = [(posixpath.join(hdfs_path, rel, name) if rel
                     else posixpath.join(hdfs_path, name),
                     os.path.join(local.path, *rel.split("/"), name) if rel
                     else os.path.join(local.path, name), length)
                    for rel, name, length in self._hdfs_tree(self.hdfs, hdfs_path)]
        else:
            if is_dir:
                raise TaskSetupError(E_HADOOP, f"the HDFS path {hdfs_path} is a folder; set "
                                     "HadoopFileType to Directory to copy a folder")
            target = local.path
            if os.path.isdir(target):
                target = os.path.join(target, posixpath.basename(hdfs_path))
            plan = [(hdfs_path, target, int(status.get("length", 0)))]
        self._refuse_existing([t for _, t, _ in plan if os.path.exists(t)], "here")
        if self.folder:
            os.makedirs(local.path, exist_ok=True)
        for source, target, _length in plan:
            self._check_cancel()
            self._receive_file(source, target)

    def _receive_file(self, source: str, target: str) -> None:
        folder = os.path.dirname(os.path.abspath(target))
        try:
            os.makedirs(folder, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=folder)
        except OSError as exc:
            raise TaskSetupError(E_HADOOP, f"cannot write into {folder}: "
                                 f"{exc.strerror or exc}") from None
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, self.hdfs.open(source) as response:
                while True:
                    self._check_cancel()
                    chunk = response.read(BLOCK)
                    if not chunk:
                        break
                    out.write(chunk)
                    size += len(chunk)
            if not self.overwrite and os.path.exists(target):
                raise TaskSetupError(E_HADOOP, f"the destination {target} appeared during "
                                     "the copy and OverwriteDestination is False")
            os.replace(temp, target)
        except (OSError, http.client.HTTPException) as exc:
            raise TaskSetupError(E_HADOOP, f"copying HDFS {source} to {target} failed: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        self.copied += 1
        self.bytes += size
        self.ctx.information(0, f"copied HDFS {source} to {target} ({size} bytes)")

    # ---------------------------------------------------------------- CopyWithinHDFS

    def _within(self, source: str, target_hdfs: WebHdfs, dest: str) -> None:
        status = self.hdfs.status(source)
        if status is None:
            raise TaskSetupError(E_HADOOP, f"the HDFS path {source} does not exist")
        is_dir = status.get("type") == "DIRECTORY"
        if self.folder != is_dir:
            kind = "folder" if is_dir else "file"
            raise TaskSetupError(E_HADOOP, f"the HDFS path {source} is a {kind} and "
                                 f"HadoopFileType is {'Directory' if self.folder else 'File'}")
        if is_dir:
            plan = [(posixpath.join(source, rel, name) if rel else posixpath.join(source, name),
                     posixpath.join(dest, rel, name) if rel else posixpath.join(dest, name),
                     length) for rel, name, length in self._hdfs_tree(self.hdfs, source)]
        else:
            plan = [(source, self._hdfs_target_file(target_hdfs, dest,
                                                    posixpath.basename(source)),
                     int(status.get("length", 0)))]
        for src, dst, _ in plan:
            if src == dst and target_hdfs is self.hdfs:
                raise TaskSetupError(E_HADOOP, f"the source and the destination are both "
                                     f"{src}")
        self._refuse_existing(self._hdfs_existing(target_hdfs, [d for _, d, _ in plan]),
                              "on HDFS")
        if is_dir:
            target_hdfs.mkdirs(dest)
        made: set[str] = set()
        for src, dst, length in plan:
            self._check_cancel()
            folder = posixpath.dirname(dst)
            if folder not in made:
                target_hdfs.mkdirs(folder)
                made.add(folder)
            try:
                with self.hdfs.open(src) as response:
                    sent = target_hdfs.create(dst, response, length, self.overwrite)
            except (HadoopError, _Cancelled) as exc:
                self._remove_partial(target_hdfs, dst, exc)
                raise
            self.copied += 1
            self.bytes += sent
            self.ctx.information(0, f"copied HDFS {src} to {dst} ({sent} bytes)")


class _WebHCatTask(_HadoopTask):
    """What the Hive and Pig tasks share: submit, poll, read the status folder."""

    language = ""
    #: the first and the longest wait between two polls (seconds)
    poll_first = 0.05
    poll_max = 2.0

    def _execute(self, ctx: TaskContext, body: etree._Element | None) -> TaskOutcome:
        title = self.language.capitalize()
        source_text = str(setting(ctx, body, "SourceType", default="DirectInput")).strip()
        source_type = next((s for s in SOURCE_TYPES if s.lower() == source_text.lower()),
                           None)
        if source_type is None:
            raise TaskSetupError(E_HADOOP, f"SourceType '{source_text}' is not DirectInput "
                                 "or ScriptFile")
        timeout_text = str(setting(ctx, body, "TimeoutInMinutes", default="0")).strip()
        try:
            minutes = float(timeout_text or "0")
        except ValueError:
            minutes = -1.0
        if minutes < 0 or minutes != minutes:
            raise TaskSetupError(E_HADOOP, f"TimeoutInMinutes must be a number of minutes "
                                 f"(0: do not wait), not '{timeout_text}'")
        settings, endpoint = self._settings(ctx, body, "HadoopConnectionId",
                                            "HadoopConnection", service="WebHCat")
        form: dict[str, str] = {}
        if source_type == "DirectInput":
            script = str(setting(ctx, body, "InlineScript", default=""))
            if not script.strip():
                raise TaskSetupError(E_HADOOP, f"InlineScript is empty (SourceType is "
                                     f"DirectInput): there is no {title} script to run")
            form["execute"] = script
        else:
            path = str(setting(ctx, body, "ScriptFilePath", "HadoopScriptFilePath",
                               default="")).strip() or \
                str(setting(ctx, body, "HadoopScriptFilePath", default="")).strip()
            form["file"] = _hdfs_path(path, endpoint.user, "ScriptFilePath")
        hdfs: WebHdfs | None = None
        hdfs_problem = endpoint_problem(settings, settings.webhdfs)
        if hdfs_problem is None:
            hdfs = WebHdfs(settings.webhdfs, settings.timeout, None)
        statusdir = f"/tmp/ssisrun/{uuid.uuid4().hex}"
        form["statusdir"] = statusdir
        webhcat = WebHCat(endpoint, settings.timeout)
        self._check_cancel()
        job = webhcat.submit(self.language, form)
        ctx.information(0, f"submitted {title} job {job} to {endpoint.address} as "
                        f"{endpoint.user or '(no user)'} (status folder {statusdir})")
        if minutes == 0:
            ctx.information(0, f"TimeoutInMinutes is 0: {title} job {job} runs on without "
                            "waiting for it")
            return TaskOutcome(ExecResult.Success)
        status = self._wait(webhcat, job, minutes)
        state = str((status.get("status") or {}).get("state") or "")
        exit_value = status.get("exitValue")
        stdout_seen = False
        stderr_tail = ""
        if hdfs is not None:
            stdout_seen = self._fire_stdout(hdfs, statusdir, title, job)
            stderr_tail = self._read_tail(hdfs, f"{statusdir}/stderr")
            if exit_value is None:
                exit_text = self._read_tail(hdfs, f"{statusdir}/exit").strip()
                exit_value = int(exit_text) if exit_text.lstrip("-").isdigit() else None
        else:
            ctx.warning(0, f"the {title} job's stdout and stderr stay in {statusdir} on HDFS: "
                        f"{hdfs_problem}")
        failed = state in ("FAILED", "KILLED") or (exit_value not in (None, 0))
        if failed:
            detail = f"state {state or '?'}, exit code {exit_value}"
            tail = f"; the end of its stderr:\n{stderr_tail}" if stderr_tail.strip() else ""
            raise TaskSetupError(E_HADOOP, f"the {title} job {job} failed ({detail}); its "
                                 f"output stays in {statusdir} on HDFS{tail}")
        if stderr_tail.strip():
            ctx.information(0, f"{title} job {job} stderr (end):\n{stderr_tail}")
        if not stdout_seen:
            ctx.information(0, f"{title} job {job} wrote nothing to stdout")
        ctx.information(0, f"{title} job {job} succeeded (exit code "
                        f"{0 if exit_value is None else exit_value})")
        if hdfs is not None:
            try:
                hdfs.delete(statusdir, recursive=True)
            except HadoopError:
                pass
        return TaskOutcome(ExecResult.Success)

    def _wait(self, webhcat: WebHCat, job: str, minutes: float) -> dict[str, Any]:
        """Poll ``job`` until it ends; kill it when the timeout passes or the run is
        cancelled."""
        title = self.language.capitalize()
        deadline = time.monotonic() + minutes * 60
        delay = self.poll_first
        while True:
            status = webhcat.job(job)
            state = str((status.get("status") or {}).get("state") or "")
            if status.get("completed") == "done" or state in ("FAILED", "KILLED") or (
                    state == "SUCCEEDED" and status.get("exitValue") is not None):
                return status
            percent = str(status.get("percentComplete") or "")
            if percent:
                self.ctx.progress(f"{title} job {job}: {percent}", 0)
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(webhcat, job)
                raise TaskSetupError(E_HADOOP, f"the {title} job {job} did not finish within "
                                     f"TimeoutInMinutes ({minutes:g}); it was killed")
            if self.ctx.cancelled.wait(min(delay, left)):
                self._kill(webhcat, job)
                raise _Cancelled()
            delay = min(delay * 2, self.poll_max)

    def _kill(self, webhcat: WebHCat, job: str) -> None:
        try:
            webhcat.kill(job)
            self.ctx.information(0, f"killed {self.language.capitalize()} job {job}")
        except HadoopError as exc:
            self.ctx.warning(0, f"killing job {job} failed: {exc.message}")

    def _fire_stdout(self, hdfs: WebHdfs, statusdir: str, title: str, job: str) -> bool:
        """The job's stdout as Information events (in pieces); whether it had any."""
        path = f"{statusdir}/stdout"
        if hdfs.status(path) is None:
            return False
        seen = False
        pending = ""
        with hdfs.open(path) as response:
            while True:
                chunk = response.read(BLOCK)
                if not chunk:
                    break
                pending += chunk.decode("utf-8", "replace")
                while len(pending) >= EVENT_CHARS:
                    cut = pending.rfind("\n", 0, EVENT_CHARS) + 1 or EVENT_CHARS
                    self.ctx.information(0, f"{title} job {job} stdout:\n"
                                         f"{pending[:cut].rstrip()}")
                    seen = True
                    pending = pending[cut:]
        if pending.strip():
            self.ctx.information(0, f"{title} job {job} stdout:\n{pending.rstrip()}")
            seen = True
        return seen

    @staticmethod
    def _read_tail(hdfs: WebHdfs, path: str) -> str:
        """The last lines of an HDFS file ("" when it does not exist), streamed."""
        status = hdfs.status(path)
        if status is None:
            return ""
        keep = b""
        with hdfs.open(path) as response:
            while True:
                chunk = response.read(BLOCK)
                if not chunk:
                    break
                keep = (keep + chunk)[-STDERR_TAIL_CHARS * 4:]
        lines = keep.decode("utf-8", "replace").rstrip().splitlines()
        return "\n".join(lines[-STDERR_TAIL_LINES:])[-STDERR_TAIL_CHARS:]


class HadoopHiveTask(_WebHCatTask):
    """Runs a Hive script as a WebHCat job."""

    language = "hive"


class HadoopPigTask(_WebHCatTask):
    """Runs a Pig script as a WebHCat job."""

    language = "pig"


__all__ = ["HadoopFileSystemTask", "HadoopHiveTask", "HadoopPigTask", "WebHdfs", "WebHCat",
           "HadoopError", "hadoop_settings", "check_hadoop_connection"]
