"""A loopback XMLA endpoint, as msmdpump.dll on IIS presents Analysis Services over HTTP,
for the Analysis Services task tests.

It answers ``POST`` on one path with SOAP 1.1, as Microsoft documents the XMLA ``Execute``
method: it checks the ``SOAPAction`` header (``"urn:schemas-microsoft-com:xml-analysis:
Execute"``), the content type, the envelope (``soap:Envelope/soap:Body/Execute`` in
``urn:schemas-microsoft-com:xml-analysis`` with one ``Command`` holding one command and
``Properties/PropertyList``) and Basic authentication, records every request, and answers
a command that ran with an empty result::

    <ExecuteResponse xmlns="urn:schemas-microsoft-com:xml-analysis"><return>
      <root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"/></return></ExecuteResponse>

A malformed request gets a SOAP fault (HTTP 500), as Analysis Services answers one. A test
makes a command fail by registering a :class:`Rule` for a word the command contains: XMLA
``Messages`` with ``Error`` or ``Warning`` elements, an ``Exception``, a SOAP fault, an
HTTP status, or a slow answer (for timeouts and cancellation).
"""

from __future__ import annotations

import base64
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import quoteattr

from lxml import etree

XMLA_NS = "urn:schemas-microsoft-com:xml-analysis"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EMPTY_NS = "urn:schemas-microsoft-com:xml-analysis:empty"
EXCEPTION_NS = "urn:schemas-microsoft-com:xml-analysis:exception"
EXECUTE_ACTION = f'"{XMLA_NS}:Execute"'
PATH = "/olap/msmdpump.dll"


@dataclass
class Rule:
    """How to answer a command that contains ``word``.

    ``errors``/``warnings``: (code, description) pairs in ``Messages``; ``exception``: an
    ``Exception`` element; ``fault``: a SOAP fault (code, description) with HTTP 500;
    ``status``: an HTTP error with ``text`` as its body and ``headers``; ``delay``: seconds before
    answering."""

    word: str
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    exception: bool = False
    fault: tuple[int, str] | None = None
    status: int = 0
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    soap_action: str
    content_type: str
    user: str | None
    body: str
    #: the text between <Command> and </Command>, exactly as sent
    raw_command: str = ""
    #: the command element
    command: etree._Element | None = None
    catalog: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def statement(self) -> str | None:
        """The text of a ``Statement`` command (None for other commands)."""
        if self.command is None or etree.QName(self.command).localname != "Statement":
            return None
        return self.command.text or ""


def _envelope(inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_NS}">'
            f"<soap:Body>{inner}</soap:Body></soap:Envelope>").encode()


def fault_body(code: int, description: str) -> bytes:
    return _envelope(
        f"<soap:Fault><faultcode>XMLAnalysisError.0x{code:08x}</faultcode>"
        "<faultstring>The XML for Analysis provider encountered an error.</faultstring>"
        "<faultactor>XML for Analysis Provider</faultactor><detail>"
        f"<Error ErrorCode=\"{code}\" Description={quoteattr(description)} "
        'Source="Microsoft SQL Server Analysis Services" HelpFile=""/>'
        "</detail></soap:Fault>")


def response_body(rule: Rule | None) -> bytes:
    inner = ""
    if rule is not None and rule.exception:
        inner += f'<Exception xmlns="{EXCEPTION_NS}"/>'
    if rule is not None and (rule.errors or rule.warnings):
        items = "".join(
            f"<Error ErrorCode=\"{code}\" Description={quoteattr(text)} "
            'Source="Microsoft SQL Server Analysis Services" HelpFile=""/>'
            for code, text in rule.errors)
        items += "".join(
            f"<Warning WarningCode=\"{code}\" Description={quoteattr(text)} "
            'Source="Microsoft SQL Server Analysis Services" HelpFile=""/>'
            for code, text in rule.warnings)
        inner += f'<Messages xmlns="{EXCEPTION_NS}">{items}</Messages>'
    return _envelope(f'<ExecuteResponse xmlns="{XMLA_NS}"><return>'
                     f'<root xmlns="{EMPTY_NS}">{inner}</root></return></ExecuteResponse>')


class XmlaServer:
    """The endpoint on 127.0.0.1 (a free port). ``users`` maps user to password; when
    empty, requests need no credentials. With ``tls`` (a certificate file and its key file)
    it speaks HTTPS. Stop it with :meth:`stop`."""

    def __init__(self, users: dict[str, str] | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.rules: list[Rule] = []
        self.requests: list[Received] = []
        #: set when a request has arrived (tests wait on it before cancelling a run)
        self.arrived = threading.Event()
        #: set by stop(): slow answers end at once
        self.released = threading.Event()
        #: requests whose client went away before the answer was written
        self.abandoned = 0
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"xmla": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}{PATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def rule(self, word: str, **kwargs: object) -> Rule:
        rule = Rule(word, **kwargs)  # type: ignore[arg-type]
        self.rules.append(rule)
        return rule

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)
        self.arrived.set()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    xmla: XmlaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/xml",
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.xmla.abandoned += 1

    def do_GET(self) -> None:  # noqa: N802
        self._send(405, b"XMLA takes POST", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        if self.path.split("?")[0].lower() != PATH:
            self._send(404, b"Not Found", "text/plain")
            return
        user = self._user()
        if self.xmla.users and (user is None or user[0] not in self.xmla.users
                                or self.xmla.users[user[0]] != user[1]):
            self._send(401, b"401 - Unauthorized: Access is denied due to invalid "
                       b"credentials.", "text/html",
                       {"WWW-Authenticate": 'Basic realm="olap"'})
            return
        received = Received(self.path, self.headers.get("SOAPAction") or "",
                            self.headers.get("Content-Type") or "",
                            user[0] if user else None, body)
        problem = self._check(received)
        self.xmla.record(received)
        if problem:
            self._send(500, fault_body(0xC1060000, problem))
            return
        rule = next((r for r in self.xmla.rules if r.word in received.raw_command), None)
        if rule is not None and rule.delay:
            self.xmla.released.wait(rule.delay)
        if rule is not None and rule.fault is not None:
            self._send(500, fault_body(*rule.fault))
        elif rule is not None and rule.status:
            self._send(rule.status, rule.text.encode(), "text/html", rule.headers)
        else:
            self._send(200, response_body(rule))

    def _user(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _check(self, received: Received) -> str:
        """What is wrong with the request as XMLA ("" when nothing)."""
        if received.soap_action != EXECUTE_ACTION:
            return f"the SOAPAction header is {received.soap_action!r}, not {EXECUTE_ACTION}"
        if not received.content_type.startswith("text/xml"):
            return f"the content type is {received.content_type!r}, not text/xml"
        body = received.body
        if "<Command>" in body and "</Command>" in body:
            received.raw_command = body[body.index("<Command>") + 9:body.rindex("</Command>")]
        try:
            root = etree.fromstring(body.encode(), etree.XMLParser(resolve_entities=False,
                                                                   no_network=True))
        except etree.XMLSyntaxError as exc:
            return f"the request is not well-formed XML: {exc}"
        if root.tag != f"{{{SOAP_NS}}}Envelope":
            return f"the root element is {root.tag}, not soap:Envelope"
        execute = root.find(f"{{{SOAP_NS}}}Body/{{{XMLA_NS}}}Execute")
        if execute is None:
            return "no soap:Body/Execute element in the XMLA namespace"
        command = execute.find(f"{{{XMLA_NS}}}Command")
        if command is None:
            return "the Execute element has no Command"
        children = [c for c in command if isinstance(c.tag, str)]
        if len(children) != 1:
            return f"the Command holds {len(children)} commands, not one"
        received.command = children[0]
        plist = execute.find(f"{{{XMLA_NS}}}Properties/{{{XMLA_NS}}}PropertyList")
        if plist is None:
            return "the Execute element has no Properties/PropertyList"
        received.properties = {etree.QName(p).localname: p.text or "" for p in plist
                               if isinstance(p.tag, str)}
        received.catalog = received.properties.get("Catalog")
        return ""
