"""The Analysis Services Execute DDL Task and the Analysis Services Processing Task, over
XMLA on HTTP (docs/tasks/analysis-services.md).

Both tasks send one XMLA ``Execute`` request (SOAP 1.1, ``SOAPAction:
"urn:schemas-microsoft-com:xml-analysis:Execute"``) to Analysis Services' HTTP endpoint,
the ``msmdpump.dll`` ISAPI extension on IIS::

    <Execute xmlns="urn:schemas-microsoft-com:xml-analysis">
      <Command>...the task's command...</Command>
      <Properties><PropertyList><Catalog>Initial Catalog</Catalog></PropertyList></Properties>
    </Execute>

**The connection manager** (``MSOLAP100``, ``MSOLAP90``...; its connection string after
``--conn`` and property expressions, read with :func:`ssisrun.connections.
parse_connection_string`):

* ``Data Source`` must be an ``http://`` or ``https://`` URL (``https://host/olap/
  msmdpump.dll``). A server name (the native TCP protocol, port 2383), ``asazure://``,
  ``powerbi://`` and ``link://`` cannot be reached from here: ``ssisrun validate`` and the
  run say so and show the ``--conn`` to give.
* ``Initial Catalog`` (or ``Catalog``) becomes the ``Catalog`` property of the request
  (left out when empty).
* ``User ID`` and ``Password`` (``UID``/``PWD``) go as HTTP Basic authentication; the
  password the package keeps in clear is used when the string names the same user. With
  no user the request goes without credentials (IIS's anonymous access), except that
  ``Integrated Security=SSPI`` without a user fails: Windows authentication cannot be used
  here, and a silent fallback would reach the server as another login.
* ``Connect Timeout`` (seconds, 60 when left out) limits opening the connection;
  ``Timeout`` (seconds) limits the whole command. Without ``Timeout`` (or with 0) a
  command runs as long as Analysis Services needs, as in SSIS: processing can take hours.
  Cancelling the run (Ctrl+C, a failing sibling with FailPackageOnFailure) aborts the
  request at once.

**Analysis Services Execute DDL Task** (``ASDdlData``): ``ConnectionName``, ``SourceType``
(``DirectInput``: the command is ``Source``; ``FileConnection``: ``Source`` names a FILE
connection manager whose file holds it, mapped with ``--path-map``; ``Variable``:
``Source`` names a variable or parameter holding it). A command that starts with ``<`` is
an XMLA command (``<Create>``, ``<Alter>``, ``<Batch>``, ``<Statement>``...) and goes into
``<Command>`` as it is written (an XML declaration removed), after a check that it is
well-formed; anything else (a TMSL JSON script, an MDX, DMX or DAX statement) goes in a
``<Statement>``, as AMO sends it. Property expressions on ``Source``, ``SourceType`` and
``ConnectionName`` win.

**Analysis Services Processing Task** (``ASProcessingData``): ``ConnectionName`` and
``ProcessingCommands``, the whole XMLA ``Batch`` the designer writes: the processing order
(``<Parallel MaxParallel=...>`` or sequential), the transaction mode (``Transaction``),
``ProcessAffectedObjects``, the dimension key error configuration (``ErrorConfiguration``)
and the ``Process`` commands are all inside it, and nothing else in the task changes them,
so the Batch is sent as it is.

**The answer**: ``Error`` elements (in ``Messages``) fail the task, one OnError event each
with Analysis Services' ``ErrorCode`` and ``Description``; ``Exception`` fails it too;
``Warning`` elements become OnWarning events. A SOAP ``Fault`` fails with its fault code,
fault string and the errors of its ``detail``; an HTTP error fails with its status and the
start of its text. No message names the password.
"""

from __future__ import annotations

import base64
import codecs
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from lxml import etree

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    TaskSetupError,
    file_connection_path,
    setting,
)

if TYPE_CHECKING:
    from ssisrun.model import ConnectionManager
    from ssisrun.runtime.context import TaskContext

XMLA_NS = "urn:schemas-microsoft-com:xml-analysis"
EXCEPTION_NS = "urn:schemas-microsoft-com:xml-analysis:exception"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ACTION_EXECUTE = f'"{XMLA_NS}:Execute"'

#: where the DDL task's command lives (DDLSourceType)
SOURCE_TYPES = ("DirectInput", "FileConnection", "Variable")
DEFAULT_CONNECT_TIMEOUT = 60.0
#: how much of an HTTP error's text a message shows
_ERROR_TEXT = 300

_SERVICE_SCHEMES = ("asazure", "powerbi", "link")


class XmlaError(SsisrunError):
    """The XMLA request failed before Analysis Services could answer it (HTTP, SOAP fault,
    timeout): one message per error, each with its code."""

    def __init__(self, messages: list[XmlaMessage]) -> None:
        super().__init__("; ".join(m.description for m in messages))
        self.messages = messages


class _Cancelled(Exception):
    pass


@dataclass(slots=True)
class XmlaMessage:
    """An ``Error`` or ``Warning`` of an XMLA answer (or one ssisrun makes of an HTTP
    failure): its code as an unsigned 32-bit number, its description and source."""

    code: int
    description: str
    source: str = ""


@dataclass(slots=True)
class XmlaResult:
    """What Analysis Services answered to an Execute request that ran."""

    errors: list[XmlaMessage] = field(default_factory=list)
    warnings: list[XmlaMessage] = field(default_factory=list)
    #: an ``Exception`` element was in the answer
    exception: bool = False


# --------------------------------------------------------------------------- the endpoint


@dataclass(slots=True)
class XmlaEndpoint:
    """An Analysis Services HTTP endpoint, read from an MSOLAP connection manager."""

    name: str
    url: str
    catalog: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: seconds for the whole command; None: no limit
    timeout: float | None = None


def _seconds(cm: ConnectionManager, key: str, value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0 or seconds != seconds:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' has "
                             f"{key}={text}, which is not a number of seconds")
    return seconds


def _conn_hint(cm: ConnectionManager, catalog: str) -> str:
    return (f"give --conn '{cm.name}=Data Source=https://host/olap/msmdpump.dll;"
            f"Initial Catalog={catalog or '...'};User ID=...;Password=...'")


def xmla_endpoint(cm: ConnectionManager, text: str) -> XmlaEndpoint:
    """The HTTP endpoint of the Analysis Services connection manager ``cm`` whose connection
    string (after overrides) is ``text``; raises :class:`TaskSetupError` saying what to give
    when it names no HTTP endpoint."""
    from ssisrun.connections import (
        DatabaseConnectionError,
        kept_password,
        parse_connection_string,
    )

    if not cm.kind.startswith("MSOLAP"):
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' is of "
                             f"type {cm.kind or '?'}, not an Analysis Services connection "
                             "manager (MSOLAP100)")
    try:
        values = parse_connection_string(text)
    except DatabaseConnectionError as exc:
        raise TaskSetupError(E_FOLLOWING_MESSAGE,
                             f"the connection manager '{cm.name}': {exc}") from None

    def first(*keys: str) -> str:
        return next((values[k] for k in keys if values.get(k)), "")

    catalog = first("initial catalog", "catalog", "database")
    source = first("data source", "datasource").strip()
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if not source:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' names "
                             "no Data Source; ssisrun reaches Analysis Services through its "
                             f"HTTP endpoint (msmdpump.dll): {_conn_hint(cm, catalog)}")
    if scheme in _SERVICE_SCHEMES:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' names "
                             f"{source}, which needs Azure AD sign-in that ssisrun does not "
                             "do; ssisrun reaches Analysis Services through its HTTP endpoint "
                             f"(msmdpump.dll): {_conn_hint(cm, catalog)}")
    if scheme not in ("http", "https"):
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' names "
                             f"the server '{source}' (Analysis Services' native TCP protocol, "
                             "which ssisrun does not speak); ssisrun reaches "
                             "Analysis Services through its HTTP endpoint (msmdpump.dll, see "
                             f"docs/tasks/analysis-services.md): {_conn_hint(cm, catalog)}")
    parts = urllib.parse.urlsplit(source)
    if not parts.hostname:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' names "
                             f"'{source}', a URL without a host: {_conn_hint(cm, catalog)}")
    user = first("user id", "uid", "user", "username", "user name")
    password = first("password", "pwd")
    if user and not password:
        password = kept_password(cm, text) or ""
    integrated = first("integrated security", "trusted_connection").lower()
    if integrated in ("sspi", "true", "yes") and not user:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the connection manager '{cm.name}' uses "
                             "Windows authentication (Integrated Security=SSPI), which ssisrun "
                             "cannot use here: give a user and password for Basic "
                             f"authentication, {_conn_hint(cm, catalog)}, or leave "
                             "Integrated Security out to connect anonymously")
    connect = _seconds(cm, "Connect Timeout", first("connect timeout", "connection timeout"))
    timeout = _seconds(cm, "Timeout", values.get("timeout", ""))
    return XmlaEndpoint(
        name=cm.name, url=source, catalog=catalog, user=user, password=password,
        connect_timeout=connect or DEFAULT_CONNECT_TIMEOUT, timeout=timeout or None)


def endpoint_problem(cm: ConnectionManager, text: str) -> str:
    """Why ``cm`` (connection string ``text``) cannot be reached here, found without
    connecting ("" when nothing is known to be wrong), for ``ssisrun validate``."""
    try:
        xmla_endpoint(cm, text)
    except TaskSetupError as exc:
        return exc.message
    return ""


def shown_url(url: str) -> str:
    """A URL for messages: no user or password in it."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


# --------------------------------------------------------------------------- commands


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.DOTALL)
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def decode_command(data: bytes, origin: str) -> str:
    """The text of a command file: a BOM, or else an XML declaration's encoding, says how
    it is encoded; UTF-8 otherwise."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    match = _ENCODING.match(data)
    codec = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(codec)
    except LookupError:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} declares the encoding "
                             f"'{codec}', which is not known") from None
    except UnicodeDecodeError as exc:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} is not {codec} text: {exc}") \
            from None


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=True)


def command_xml(text: str, origin: str, *, xml_only: bool = False) -> str:
    """What goes inside ``<Command>``: an XMLA command as written (its XML declaration
    removed), checked to be one well-formed element without a DTD; any other text (TMSL
    JSON, MDX, DMX, DAX) in a ``<Statement>``. With ``xml_only``, text that is neither XML
    nor TMSL (a JSON object) is refused."""
    body = text.lstrip("\ufeff")
    if not body.strip():
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} is empty: there is no command "
                             "to send")
    if not body.lstrip().startswith("<"):
        if xml_only and not body.lstrip().startswith("{"):
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} is neither an XMLA command "
                                 "(starting with '<') nor a TMSL script (starting with '{')")
        return f"<Statement>{escape(body)}</Statement>"
    body = _DECLARATION.sub("", body, count=1).strip()
    if "<!DOCTYPE" in body:
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} declares a DTD (<!DOCTYPE ...>), "
                             "which XMLA commands never do; ssisrun refuses DTDs and entities")
    try:
        root = etree.fromstring(body.encode("utf-8"), _safe_parser())
    except etree.XMLSyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} is not well-formed XML"
                             f"{where}: {exc.msg or exc}") from None
    for _entity in root.iter(etree.Entity):
        raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{origin} uses an entity that is not "
                             "defined")
    return body


def execute_envelope(command: str, catalog: str = "") -> bytes:
    """The SOAP envelope of an XMLA ``Execute`` request for ``command`` (the XML that goes
    inside ``<Command>``)."""
    props = f"<Catalog>{escape(catalog)}</Catalog>" if catalog else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}">\n'
        "<soap:Body>\n"
        f'<Execute xmlns="{XMLA_NS}">\n'
        f"<Command>{command}</Command>\n"
        f"<Properties><PropertyList>{props}</PropertyList></Properties>\n"
        "</Execute>\n"
        "</soap:Body>\n"
        "</soap:Envelope>\n"
    ).encode()


# --------------------------------------------------------------------------- the exchange


def _code(text: str | None) -> int:
    """An XMLA error code (decimal, possibly negative, or 0x hex) as unsigned 32 bits."""
    value = (text or "").strip()
    try:
        number = int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return E_FOLLOWING_MESSAGE
    return number & 0xFFFFFFFF


def _message(el: etree._Element, code_attr: str) -> XmlaMessage:
    description = el.get("Description")
    if description is None:  # the element form: <Error><ErrorCode/><Description/></Error>
        description = el.findtext("{*}Description") or ""
    code = el.get(code_attr)
    if code is None:
        code = el.findtext("{*}" + code_attr)
    return XmlaMessage(_code(code), description.strip() or "(no description)",
                       (el.get("Source") or "").strip())


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _fault(fault: etree._Element) -> list[XmlaMessage]:
    code_text = (fault.findtext("faultcode") or fault.findtext("{*}faultcode") or "").strip()
    text = (fault.findtext("faultstring") or fault.findtext("{*}faultstring") or "").strip()
    messages = [_message(el, "ErrorCode") for el in fault.iter()
                if _local(el) == "Error" and el is not fault]
    if messages:
        return messages
    hexcode = code_text.rsplit(".", 1)[-1]
    return [XmlaMessage(_code(hexcode) if hexcode.lower().startswith("0x")
                        else E_FOLLOWING_MESSAGE,
                        f"SOAP fault {code_text or '(no fault code)'}: "
                        f"{text or '(no fault string)'}")]


def _fault_in(data: bytes) -> list[XmlaMessage]:
    """The messages of the SOAP fault in an HTTP error's body ([] when there is none)."""
    if not data.lstrip().startswith(b"<"):
        return []
    try:
        root = etree.fromstring(data, _safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        return []
    fault = next((el for el in root.iter() if _local(el) == "Fault"), None)
    return [] if fault is None else _fault(fault)


def parse_execute_response(data: bytes) -> XmlaResult:
    """The errors and warnings of an ``ExecuteResponse`` (raises :class:`XmlaError` for a
    SOAP fault or an answer that is not XMLA)."""
    try:
        root = etree.fromstring(data, _safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XmlaError([XmlaMessage(E_FOLLOWING_MESSAGE, "the answer is not XML: "
                                     f"{exc}; it starts with {_snippet(data)!r}")]) from None
    fault = next((el for el in root.iter() if _local(el) == "Fault"), None)
    if fault is not None:
        raise XmlaError(_fault(fault))
    if not any(_local(el) == "ExecuteResponse" for el in root.iter()):
        raise XmlaError([XmlaMessage(E_FOLLOWING_MESSAGE, "the answer is not an XMLA "
                                     f"ExecuteResponse: it starts with {_snippet(data)!r}")])
    result = XmlaResult()
    for el in root.iter():
        name = _local(el)
        parent = el.getparent()
        in_messages = parent is not None and _local(parent) in ("Messages", "Message")
        namespace = etree.QName(el).namespace if name else None
        if name == "Exception" and namespace in (EXCEPTION_NS, None):
            result.exception = True
        elif name == "Error" and (in_messages or namespace == EXCEPTION_NS):
            result.errors.append(_message(el, "ErrorCode"))
        elif name == "Warning" and (in_messages or namespace == EXCEPTION_NS):
            result.warnings.append(_message(el, "WarningCode"))
    return result


def _snippet(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    text = re.sub(r"<[^>]+>", " ", text) if "<" in text else text
    text = " ".join(text.split())
    return text[:_ERROR_TEXT] + ("..." if len(text) > _ERROR_TEXT else "")


class XmlaClient:
    """Sends Execute requests to one endpoint; a request is aborted when ``cancelled`` is
    set or the endpoint's Timeout passes."""

    def __init__(self, endpoint: XmlaEndpoint, cancelled: threading.Event | None = None,
                 ) -> None:
        self.endpoint = endpoint
        self.cancelled = cancelled

    def execute(self, command: str) -> XmlaResult:
        status, reason, headers, data = self._post(
            execute_envelope(command, self.endpoint.catalog), SOAP_ACTION_EXECUTE)
        if status == 200:
            return parse_execute_response(data)
        if status == 401:
            asks = ", ".join(v.split(" ", 1)[0] for k, v in headers if k.lower() ==
                             "www-authenticate")
            if self.endpoint.user:
                hint = (f"check User ID and Password of '{self.endpoint.name}' (user "
                        f"{self.endpoint.user}); the msmdpump virtual directory must allow "
                        "Basic authentication")
            else:
                hint = (f"give User ID and Password (Basic authentication) with --conn "
                        f"'{self.endpoint.name}=Data Source={shown_url(self.endpoint.url)};"
                        "User ID=...;Password=...'")
            asked = f"; the server asks for {asks}" if asks else ""
            raise XmlaError([XmlaMessage(E_FOLLOWING_MESSAGE, f"{shown_url(self.endpoint.url)} "
                                         f"refused the request: HTTP 401 {reason}{asked}; "
                                         f"{hint}")])
        if 300 <= status < 400:
            target = next((v for k, v in headers if k.lower() == "location"), "")
            raise XmlaError([XmlaMessage(E_FOLLOWING_MESSAGE, f"{shown_url(self.endpoint.url)} "
                                         f"answered HTTP {status} {reason}, a redirect to "
                                         f"{shown_url(target) or '(no Location)'}: give that "
                                         "URL as the Data Source")])
        fault = _fault_in(data)
        head = XmlaMessage(E_FOLLOWING_MESSAGE, f"{shown_url(self.endpoint.url)} answered "
                           f"HTTP {status} {reason}" + ("" if fault else
                                                        f": {_snippet(data) or '(no text)'}"))
        raise XmlaError([head, *fault])

    # ---------------------------------------------------------------- HTTP

    def _headers(self, action: str, length: int) -> dict[str, str]:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action,
                   "Content-Length": str(length), "Accept": "text/xml",
                   "User-Agent": "ssisrun"}
        if self.endpoint.user:
            token = base64.b64encode(
                f"{self.endpoint.user}:{self.endpoint.password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers

    def _post(self, body: bytes, action: str,
              ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        endpoint = self.endpoint
        parts = urllib.parse.urlsplit(endpoint.url)
        host = parts.hostname or ""
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            conn = http.client.HTTPSConnection(host, parts.port, timeout=endpoint.connect_timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=endpoint.connect_timeout)
        box: dict[str, Any] = {}
        connected = threading.Event()

        def work() -> None:
            try:
                conn.connect()
                if conn.sock is not None:
                    conn.sock.settimeout(None)  # the command's limit is watched below
                connected.set()
                conn.request("POST", path, body, self._headers(action, len(body)))
                response = conn.getresponse()
                box["answer"] = (response.status, response.reason, response.getheaders(),
                                 response.read())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=work, name="ssisrun-xmla", daemon=True)
        started = time.monotonic()
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.05)
                if not worker.is_alive():
                    break
                if self.cancelled is not None and self.cancelled.is_set():
                    raise _Cancelled()
                if endpoint.timeout is not None and connected.is_set() and \
                        time.monotonic() - started > endpoint.timeout:
                    raise XmlaError([XmlaMessage(
                        E_FOLLOWING_MESSAGE, f"the command did not complete within "
                        f"Timeout={endpoint.timeout:g} seconds (connection '{endpoint.name}', "
                        f"{shown_url(endpoint.url)}); the request was aborted")])
        except BaseException:
            _abort(conn)
            worker.join(2)
            raise
        conn.close()
        error = box.get("error")
        if error is not None:
            raise XmlaError([XmlaMessage(E_FOLLOWING_MESSAGE, self._network_error(error))])
        answer: tuple[int, str, list[tuple[str, str]], bytes] = box["answer"]
        return answer

    def _network_error(self, exc: BaseException) -> str:
        url = shown_url(self.endpoint.url)
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return (f"cannot connect to {url} within Connect Timeout="
                    f"{self.endpoint.connect_timeout:g} seconds (connection "
                    f"'{self.endpoint.name}')")
        if isinstance(exc, ssl.SSLError):
            return f"the TLS connection to {url} failed: {exc.reason or exc}"
        if isinstance(exc, OSError):
            return f"cannot reach {url}: {exc.strerror or exc}"
        return f"the request to {url} failed: {type(exc).__name__}: {exc}"


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    conn.close()


# --------------------------------------------------------------------------- the tasks


class _AnalysisServicesTask(Task):
    """What both tasks share: the connection, one Execute request, its messages."""

    title = "Analysis Services task"

    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        try:
            ref = str(setting(ctx, body, "ConnectionName", default="")).strip()
            if not ref:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the {self.title} names no "
                                     "Analysis Services connection manager (ConnectionName)")
            try:
                cm, text = ctx.connection(ref)
            except SsisrunError as exc:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{exc}; the task names it as its "
                                     "Analysis Services connection (ConnectionName)") from None
            endpoint = xmla_endpoint(cm, text)
            command = self.command(ctx, body)
            started = time.monotonic()
            result = XmlaClient(endpoint, ctx.cancelled).execute(command)
        except TaskSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        except XmlaError as exc:
            for message in exc.messages:
                ctx.error(message.code, message.description)
            return TaskOutcome(ExecResult.Failure)
        except _Cancelled:
            ctx.information(0, "the run was cancelled: the request to Analysis Services "
                            "was aborted")
            return TaskOutcome(ExecResult.Canceled)
        for warning in result.warnings:
            ctx.warning(warning.code, warning.description)
        for error in result.errors:
            ctx.error(error.code, error.description)
        if result.errors or result.exception:
            if not result.errors:
                ctx.error(E_FOLLOWING_MESSAGE, f"Analysis Services at "
                          f"{shown_url(endpoint.url)} reported an exception without an error "
                          "message")
            return TaskOutcome(ExecResult.Failure)
        catalog = f" (catalog {endpoint.catalog})" if endpoint.catalog else ""
        ctx.information(0, f"Analysis Services at {shown_url(endpoint.url)}{catalog} ran the "
                        f"command in {time.monotonic() - started:.1f} s")
        return TaskOutcome(ExecResult.Success)

    def command(self, ctx: TaskContext, body: etree._Element | None) -> str:
        raise NotImplementedError  # pragma: no cover


class ExecuteDdlTask(_AnalysisServicesTask):
    """The Analysis Services Execute DDL Task (``Microsoft.ASExecuteDDLTask``)."""

    title = "Analysis Services Execute DDL task"

    def command(self, ctx: TaskContext, body: etree._Element | None) -> str:
        kind_text = str(setting(ctx, body, "SourceType", default="DirectInput")).strip()
        kind = next((k for k in SOURCE_TYPES if k.lower() == kind_text.lower()), None)
        if kind is None:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"SourceType '{kind_text}' is not one of "
                                 f"{', '.join(SOURCE_TYPES)}")
        source: Any = setting(ctx, body, "Source", default="")
        ref = "" if source is None else str(source)
        if kind == "DirectInput":
            return command_xml(ref, "the DDL statement (Source)")
        if not ref.strip():
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"Source names no "
                                 f"{'variable' if kind == 'Variable' else 'file connection'} "
                                 f"(SourceType {kind})")
        if kind == "Variable":
            var = ctx.scope.find(ref.strip())
            if var is None:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'Variable "{ref.strip()}" does '
                                     f"not exist in the scope of {ctx.host.path}")
            value = ctx.scope.value_of(var)
            return command_xml("" if value is None else str(value),
                               f"the DDL statement in variable {ref.strip()}")
        path = file_connection_path(ctx, ref, code=E_FOLLOWING_MESSAGE,
                                    not_file=E_FOLLOWING_MESSAGE)
        try:
            with open(path.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot read the DDL file "
                                 f"{path.quoted} (from {path.origin}): "
                                 f"{exc.strerror or exc}; map Windows paths with --path-map") \
                from None
        origin = f"the DDL file {path.quoted}"
        return command_xml(decode_command(data, origin), origin)


class ProcessingTask(_AnalysisServicesTask):
    """The Analysis Services Processing Task (``Microsoft.DTSProcessingTask``)."""

    title = "Analysis Services Processing task"

    def command(self, ctx: TaskContext, body: etree._Element | None) -> str:
        text: Any = setting(ctx, body, "ProcessingCommands", default="")
        return command_xml("" if text is None else str(text),
                           "the processing commands (ProcessingCommands)", xml_only=True)


def check_task(kind: str, body: etree._Element, expressions: dict[str, str],
               cm: ConnectionManager | None, text: str | None) -> list[str]:
    """Static problems of an Analysis Services task of type ``kind`` (its ObjectData element
    ``body`` and property expressions ``expressions``) whose connection manager is ``cm``
    with the connection string ``text`` (None: set by a property expression, unknown
    here). Settings that a property expression sets are not judged."""
    problems = []
    title = "Execute DDL" if kind == "Microsoft.ASExecuteDDLTask" else "Processing"
    if not (body.get("ConnectionName") or "").strip() and "ConnectionName" not in expressions:
        problems.append(f"the Analysis Services {title} task names no Analysis Services "
                        "connection manager (ConnectionName)")
    if kind == "Microsoft.ASExecuteDDLTask":
        source_type = (body.get("SourceType") or "DirectInput").strip()
        if source_type.lower() == "directinput" and not (body.get("Source") or "").strip() \
                and "Source" not in expressions:
            problems.append("the Analysis Services Execute DDL task has no DDL statement "
                            "(Source is empty)")
    elif not (body.get("ProcessingCommands") or "").strip() \
            and "ProcessingCommands" not in expressions:
        problems.append("the Analysis Services Processing task has no processing commands "
                        "(ProcessingCommands is empty)")
    if cm is not None and text is not None:
        problem = endpoint_problem(cm, text)
        if problem:
            problems.append(problem)
    return problems
