"""The Web Service Task: calls one method of a SOAP web service and keeps what it returns in
a file or a variable.

Its settings are the attributes of ``WSTask:WebServiceTaskData`` (namespace
``www.microsoft.com/sqlserver/dts/tasks/webservicetask``); a property expression replaces
one under SSIS's property name (in brackets) or the attribute's own:

* ``ConnectionName`` (``Connection``): the HTTP connection manager. Its ``ServerURL`` is
  where the SOAP request goes, without a ``?wsdl`` query (the WSDL's own
  ``soap:address`` names the server the WSDL was made on, so ``--conn`` alone decides
  where a run goes). Its settings are read as :func:`server_settings` says.
* ``WSDLFile`` (``WsdlFile``): the local WSDL file, mapped with ``--path-map``.
  ``OverwriteWSDLFile`` (``OverwriteWsdlFile``) True: the task downloads the WSDL from
  ``ServerURL`` (with ``?wsdl`` added when the URL has no such query) and replaces the
  file before it reads it; False: the file must exist. Only single-file WSDL 1.1 is read
  (safely: no DTD, no entities, no network); a schema it imports from another location
  is refused with a message saying so.
* ``Service`` (``ServiceName``) and ``MethodInfo/@MethodName`` (``@MessageName`` picks
  one of overloaded methods): the ``wsdl:service`` and the operation of its SOAP 1.1
  port (its SOAP 1.2 port when it has no SOAP 1.1 one). Document/literal (wrapped or
  bare) and rpc/literal or rpc/encoded bindings are supported.
* ``MethodInfo/ParamInfo`` (``Name``, ``Datatype``, ``ParamType``, ``SeqNumber``): one
  per parameter, holding ``PrimitiveValue``, ``EnumValue``, ``VariableValue`` (the name
  of the variable that gives the value), ``ArrayValue`` (one value element per item) or
  ``ComplexValue`` (``ComplexProperty`` elements, each named, each holding a value).
  Parameters are sent in the WSDL's order, typed per its XSD: a value that does not fit
  its type (``abc`` for an ``int``, a value outside an enumeration) fails the task naming
  the parameter.
* ``OutputType`` (``File`` when left out, or ``Variable``) and ``OutputLocation``: the
  FILE connection manager (replaced whole) or the variable that receives the result.
  The result is the method's return value as an XML document, as SSIS writes it: the
  value in an element named after its XSD type (``<double>1.5</double>``,
  ``<WeatherForecasts>...</WeatherForecasts>``), after an
  ``<?xml version="1.0" encoding="utf-8"?>`` declaration. A method that returns nothing
  writes an empty text.

A SOAP fault or an HTTP error fails the task with the fault's text and the HTTP status; a
server that cannot be reached or does not answer within ``TimeOut`` seconds fails it
naming the URL. No message names a password.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import decimal
import fnmatch
import http.client
import ipaddress
import math
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

import ssisrun
from ssisrun.dtsx.safexml import parse_bytes
from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    TaskSetupError,
    as_bool,
    as_choice,
    as_int,
    attribute,
    cm_property,
    connection,
    connection_keywords,
    file_connection_path,
    local_path,
    report_failure,
    setting,
    shown,
)

if TYPE_CHECKING:
    from ssisrun.model import ConnectionManager
    from ssisrun.runtime.context import TaskContext

NS = "www.microsoft.com/sqlserver/dts/tasks/webservicetask"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP11_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
#: .NET's extra simple types (guid, char)
MS_TYPES_NS = "http://microsoft.com/wsdl/types/"

CODE = E_FOLLOWING_MESSAGE
OUTPUT_TYPES = ("File", "Variable")  # DTSOutputType's order
VALUE_TAGS = frozenset({"PrimitiveValue", "EnumValue", "VariableValue", "ArrayValue",
                        "ComplexValue"})
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

_INTEGER_RANGES: dict[str, tuple[int | None, int | None]] = {
    "byte": (-128, 127), "short": (-32768, 32767), "int": (-2**31, 2**31 - 1),
    "long": (-2**63, 2**63 - 1), "unsignedByte": (0, 255), "unsignedShort": (0, 65535),
    "unsignedInt": (0, 2**32 - 1), "unsignedLong": (0, 2**64 - 1), "integer": (None, None),
    "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
}


def _fail(message: str) -> TaskSetupError:
    return TaskSetupError(CODE, message)


# =========================================================================== HTTP


@dataclass(slots=True)
class ServerSettings:
    """What the HTTP connection manager says about the server."""

    name: str
    url: str
    user: str = ""
    password: str = field(default="", repr=False)
    domain: str = ""
    use_credentials: bool = False
    timeout: float = 30.0
    use_proxy: bool = False
    proxy_url: str = ""
    proxy_user: str = ""
    proxy_password: str = field(default="", repr=False)
    proxy_domain: str = ""
    use_proxy_credentials: bool = False
    bypass_on_local: bool = False
    bypass_list: list[str] = field(default_factory=list)
    use_certificate: bool = False
    certificate_id: str = ""
    client_certificate: str = ""
    client_key: str = ""
    ca_file: str = ""

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.proxy_password) if s]


#: --conn keywords and their property names
_KEYWORDS = {
    "url": "serverurl", "server": "serverurl", "user": "serverusername",
    "username": "serverusername", "user id": "serverusername", "password": "serverpassword",
    "pwd": "serverpassword", "domain": "serverdomain", "bypassproxylist": "bypasslist",
    "proxybypasslist": "bypasslist", "certificate": "clientcertificate",
}
_PROPERTIES = ("ServerURL", "UseServerCredentials", "ServerUserName", "ServerPassword",
               "ServerDomain", "UseSecureConnection", "CertificateIdentifier", "TimeOut",
               "UseProxy", "ProxyURL", "BypassProxyOnLocal", "BypassList", "ProxyBypassList",
               "UseProxyCredentials", "ProxyUserName", "ProxyPassword", "ProxyDomain")


def server_settings(ctx: TaskContext, cm: ConnectionManager, text: str) -> ServerSettings:
    """The HTTP connection manager's settings: its properties (``DTS:HttpConnection``'s
    attributes, their property expressions, a ``ServerPassword`` kept in clear), then what
    ``--conn`` (or a ConnectionString expression) gives: a URL, whose
    ``user:password@`` become the credentials, or keywords ``ServerURL=...;
    ServerUserName=...;ServerPassword=...;TimeOut=...;UseProxy=...;ProxyURL=...;
    ProxyUserName=...;ProxyPassword=...;BypassProxyOnLocal=...;BypassList="a;b"``, plus
    ssisrun's ``ClientCertificate=cert.pem;ClientKey=key.pem;CAFile=ca.pem``."""
    values: dict[str, str] = {}
    if cm.password:
        values["serverpassword"] = cm.password
    for name in _PROPERTIES:
        value = cm_property(ctx, cm, name)
        if value is not None and value != "":
            values[name.lower()] = value
    text = text.strip()
    overridden = text != cm.connection_string.strip() or not values.get("serverurl")
    given_user = False
    if overridden and text:
        if "=" in text.split("?", 1)[0] and "://" not in text.split("=", 1)[0]:
            given = {_KEYWORDS.get(k, k): v for k, v in connection_keywords(text).items()}
            values.update(given)
            given_user = bool(given.get("serverusername"))
        else:
            values["serverurl"] = text
    url = values.get("serverurl", "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        values["serverusername"] = urllib.parse.unquote(parts.username)
        values["serverpassword"] = urllib.parse.unquote(parts.password or "")
        given_user = True
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if not url:
        raise _fail(f"the HTTP connection manager '{cm.name}' has no ServerURL; give one "
                    f"with --conn '{cm.name}=https://server/service.asmx?wsdl'")
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise _fail(f"the ServerURL of connection manager '{cm.name}' is not an http:// or "
                    f"https:// URL: {url}")
    user = values.get("serverusername", "")
    credentials = values.get("useservercredentials", "")
    use_credentials = bool(user) and (given_user or
                                      as_bool("UseServerCredentials", credentials, CODE))
    timeout = as_int("TimeOut", values.get("timeout", ""), CODE, 30)
    bypass = values.get("bypasslist", values.get("proxybypasslist", ""))
    return ServerSettings(
        name=cm.name, url=url, user=user, password=values.get("serverpassword", ""),
        domain=values.get("serverdomain", ""), use_credentials=use_credentials,
        timeout=float(timeout if timeout > 0 else 30),
        use_proxy=as_bool("UseProxy", values.get("useproxy", "False"), CODE),
        proxy_url=values.get("proxyurl", "").strip(),
        proxy_user=values.get("proxyusername", ""),
        proxy_password=values.get("proxypassword", ""),
        proxy_domain=values.get("proxydomain", ""),
        use_proxy_credentials=as_bool("UseProxyCredentials",
                                      values.get("useproxycredentials",
                                                 "True" if values.get("proxyusername")
                                                 else "False"), CODE),
        bypass_on_local=as_bool("BypassProxyOnLocal", values.get("bypassproxyonlocal",
                                                                 "False"), CODE),
        bypass_list=[b.strip() for b in bypass.replace(",", ";").split(";") if b.strip()],
        use_certificate=as_bool("UseSecureConnection",
                                values.get("usesecureconnection", "False"), CODE),
        certificate_id=values.get("certificateidentifier", ""),
        client_certificate=values.get("clientcertificate", ""),
        client_key=values.get("clientkey", ""),
        ca_file=values.get("cafile", ""),
    )


def service_url(url: str) -> str:
    """``ServerURL`` without its ``wsdl`` query: where the SOAP requests go."""
    parts = urllib.parse.urlsplit(url)
    query = "&".join(q for q in parts.query.split("&")
                     if q and q.split("=", 1)[0].lower() not in ("wsdl", "singlewsdl"))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def wsdl_url(url: str) -> str:
    """``ServerURL`` as the URL of its WSDL (``?wsdl`` added when the URL lacks it)."""
    parts = urllib.parse.urlsplit(url)
    names = [q.split("=", 1)[0].lower() for q in parts.query.split("&") if q]
    if "wsdl" in names or "singlewsdl" in names:
        return urllib.parse.urlunsplit(parts._replace(fragment=""))
    query = f"{parts.query}&wsdl" if parts.query else "wsdl"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _is_local(host: str) -> bool:
    if "." not in host or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class HttpAnswer:
    status: int
    reason: str
    body: bytes
    content_type: str


class HttpClient:
    """Sends requests the way the HTTP connection manager says (credentials, proxy,
    client certificate, time-out)."""

    def __init__(self, settings: ServerSettings, map_path: Any) -> None:
        self.settings = settings
        self._map_path = map_path
        self._context: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is not None:
            return self._context
        s = self.settings
        ca = self._file(s.ca_file, "CAFile") if s.ca_file else None
        try:
            context = ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise _fail(f"the CA file {ca} of connection manager '{s.name}' cannot be "
                        f"used: {exc}") from None
        if s.use_certificate or s.client_certificate:
            if not s.client_certificate:
                what = f" ({s.certificate_id})" if s.certificate_id else ""
                raise _fail(f"connection manager '{s.name}' uses a client certificate from "
                            f"the Windows certificate store{what}, which does not exist here; "
                            f"give it as a PEM file with --conn '{s.name}=ServerURL=...;"
                            "ClientCertificate=/path/cert.pem;ClientKey=/path/key.pem'")
            cert = self._file(s.client_certificate, "ClientCertificate")
            key = self._file(s.client_key, "ClientKey") if s.client_key else None
            try:
                context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise _fail(f"the client certificate {cert} of connection manager "
                            f"'{s.name}' cannot be used: {exc}") from None
        self._context = context
        return context

    def _file(self, text: str, what: str) -> str:
        path = str(self._map_path(text.strip()))
        if not os.path.isfile(path):
            raise _fail(f"the {what} file {shown(path, text.strip())} of connection manager "
                        f"'{self.settings.name}' does not exist")
        return path

    def _proxies(self, url: str) -> dict[str, str]:
        s = self.settings
        if not s.use_proxy or not s.proxy_url:
            return {}
        host = urllib.parse.urlsplit(url).hostname or ""
        if s.bypass_on_local and _is_local(host):
            return {}
        if any(fnmatch.fnmatch(host.lower(), pattern.lower()) for pattern in s.bypass_list):
            return {}
        proxy = s.proxy_url if "://" in s.proxy_url else f"http://{s.proxy_url}"
        if s.use_proxy_credentials and s.proxy_user:
            user = f"{s.proxy_domain}\\{s.proxy_user}" if s.proxy_domain else s.proxy_user
            parts = urllib.parse.urlsplit(proxy)
            auth = (urllib.parse.quote(user, safe="") + ":" +
                    urllib.parse.quote(s.proxy_password, safe=""))
            proxy = urllib.parse.urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))
        return {"http": proxy, "https": proxy}

    def clean(self, text: str) -> str:
        for secret in self.settings.secrets():
            text = text.replace(secret, "********")
        return text

    def send(self, url: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> HttpAnswer:
        s = self.settings
        request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
        request.add_header("User-Agent", f"ssisrun/{ssisrun.__version__} (Web Service task)")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if s.use_credentials and s.user:
            user = f"{s.domain}\\{s.user}" if s.domain else s.user
            token = base64.b64encode(f"{user}:{s.password}".encode()).decode("ascii")
            request.add_header("Authorization", f"Basic {token}")
        handlers: list[Any] = [urllib.request.ProxyHandler(self._proxies(url))]
        if urllib.parse.urlsplit(url).scheme.lower() == "https" or \
                s.client_certificate or s.ca_file:
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl_context()))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=s.timeout) as response:
                return HttpAnswer(response.status, str(response.reason), response.read(),
                                  response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as exc:
            try:
                data = exc.read()
            except (OSError, http.client.HTTPException):
                data = b""
            return HttpAnswer(exc.code, str(exc.reason), data,
                              exc.headers.get("Content-Type", "") if exc.headers else "")
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise self._timeout(url) from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise _fail(self.clean(f"cannot reach {url} (connection manager '{s.name}'): "
                                   f"{text}")) from None
        except TimeoutError:
            raise self._timeout(url) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _fail(self.clean(f"the request to {url} (connection manager '{s.name}') "
                                   f"failed: {exc or type(exc).__name__}")) from None

    def _timeout(self, url: str) -> TaskSetupError:
        seconds = f"{self.settings.timeout:g}"
        return _fail(f"the web service at {url} did not answer within {seconds} seconds "
                     f"(TimeOut of connection manager '{self.settings.name}')")


# =========================================================================== XSD


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _qname(context: etree._Element, text: str | None) -> tuple[str, str] | None:
    """A ``prefix:name`` attribute value as (namespace, name), by ``context``'s prefixes."""
    if not text:
        return None
    text = text.strip()
    prefix, sep, name = text.rpartition(":")
    if not sep:
        return context.nsmap.get(None, "") or "", text
    ns = context.nsmap.get(prefix)
    if ns is None:
        raise _fail(f"the WSDL uses the prefix '{prefix}' in '{text}' without declaring it")
    return ns, name


def _x(tag: str) -> str:
    return f"{{{XSD_NS}}}{tag}"


@dataclass(slots=True)
class XElement:
    """An element the request or the response holds."""

    name: str
    #: the namespace of the element's name ("" when unqualified)
    ns: str
    type: tuple[str, str] | None = None
    inline: etree._Element | None = None
    min_occurs: int = 1
    max_occurs: int | None = 1  # None: unbounded
    nillable: bool = False

    @property
    def repeated(self) -> bool:
        return self.max_occurs is None or self.max_occurs > 1


@dataclass(slots=True)
class XType:
    """What a value must look like: a simple type (a built-in XSD type, maybe restricted
    to an enumeration), a sequence of elements, or a SOAP-encoded array."""

    kind: str  # "simple", "complex", "soaparray"
    name: tuple[str, str] | None = None
    base: str = "string"
    enumeration: list[str] = field(default_factory=list)
    children: list[XElement] = field(default_factory=list)
    item_type: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        return self.name[1] if self.name else self.kind

    @property
    def array_item(self) -> XElement | None:
        """The repeated element of an ``ArrayOfX`` type (a sequence of one repeated
        element)."""
        if self.kind == "complex" and len(self.children) == 1 and self.children[0].repeated:
            return self.children[0]
        return None


class Schemas:
    """The XSD schemas of a WSDL's ``types``, indexed by (namespace, name)."""

    def __init__(self, schemas: list[etree._Element], origin: str) -> None:
        self.elements: dict[tuple[str, str], etree._Element] = {}
        self.types: dict[tuple[str, str], etree._Element] = {}
        self._cache: dict[tuple[str, str], XType] = {}
        for schema in schemas:
            tns = schema.get("targetNamespace", "")
            for node in schema:
                if not isinstance(node.tag, str):
                    continue
                local = _local(node) if node.tag.startswith(f"{{{XSD_NS}}}") else ""
                if local in ("import", "include", "redefine") and node.get("schemaLocation"):
                    raise _fail(f"the WSDL {origin} takes part of its schema from "
                                f"'{node.get('schemaLocation')}', which ssisrun does not "
                                "load; save a single-file WSDL (for WCF services, "
                                "'?singleWsdl')")
                if local == "element" and node.get("name"):
                    self.elements[(tns, node.get("name", ""))] = node
                elif local in ("complexType", "simpleType") and node.get("name"):
                    self.types[(tns, node.get("name", ""))] = node

    @staticmethod
    def _schema_of(node: etree._Element) -> etree._Element:
        parent = node
        while parent is not None and parent.tag != _x("schema"):
            parent = parent.getparent()  # type: ignore[assignment]
        return parent if parent is not None else node

    def top_element(self, qname: tuple[str, str]) -> XElement:
        node = self.elements.get(qname)
        if node is None:
            raise _fail(f"the WSDL's schema has no element {{{qname[0]}}}{qname[1]}")
        return self._declaration(node, top=True)

    def _declaration(self, node: etree._Element, top: bool = False) -> XElement:
        ref = node.get("ref")
        if ref:
            qname = _qname(node, ref)
            assert qname is not None
            target = self.top_element(qname)
            target.min_occurs, target.max_occurs = _occurs(node)
            return target
        schema = self._schema_of(node)
        tns = schema.get("targetNamespace", "")
        form = node.get("form") or ("qualified" if top else
                                    schema.get("elementFormDefault", "unqualified"))
        inline = next((c for c in node if c.tag in (_x("complexType"), _x("simpleType"))),
                      None)
        low, high = _occurs(node)
        return XElement(name=node.get("name", ""), ns=tns if form == "qualified" else "",
                        type=_qname(node, node.get("type")), inline=inline, min_occurs=low,
                        max_occurs=high,
                        nillable=(node.get("nillable", "false").lower() == "true"))

    def type_of(self, decl: XElement) -> XType:
        if decl.inline is not None:
            return self._parse(decl.inline, None)
        if decl.type is None:
            return XType("simple", None, "anyType")
        return self.named(decl.type)

    def named(self, qname: tuple[str, str]) -> XType:
        ns, name = qname
        if ns in (XSD_NS, SOAP_ENC) and qname not in self.types:
            if ns == SOAP_ENC and name == "Array":
                return XType("soaparray", qname, item_type=(XSD_NS, "anyType"))
            return XType("simple", (XSD_NS, name), name)
        if ns == MS_TYPES_NS:
            return XType("simple", qname, "unsignedShort" if name == "char" else "string")
        cached = self._cache.get(qname)
        if cached is not None:
            return cached
        node = self.types.get(qname)
        if node is None:
            raise _fail(f"the WSDL's schema has no type {{{ns}}}{name}")
        self._cache[qname] = XType("complex", qname)  # stops a recursive type
        result = self._parse(node, qname)
        self._cache[qname] = result
        return result

    def _parse(self, node: etree._Element, name: tuple[str, str] | None) -> XType:
        if node.tag == _x("simpleType"):
            restriction = node.find(_x("restriction"))
            if restriction is None:
                return XType("simple", name, "string")  # list or union: sent as text
            base_name = _qname(restriction, restriction.get("base"))
            base = self.named(base_name).base if base_name else "string"
            values = [e.get("value", "") for e in restriction.findall(_x("enumeration"))]
            return XType("simple", name, base, values)
        content = node.find(_x("complexContent"))
        if content is not None:
            derivation = next((c for c in content if isinstance(c.tag, str)), None)
            if derivation is None:
                return XType("complex", name)
            base_name = _qname(derivation, derivation.get("base"))
            if base_name == (SOAP_ENC, "Array"):
                return XType("soaparray", name, item_type=self._array_item(derivation))
            children = []
            if _local(derivation) == "extension" and base_name is not None:
                children = list(self.named(base_name).children)
            return XType("complex", name, children=children + self._particles(derivation))
        simple = node.find(_x("simpleContent"))
        if simple is not None:
            derivation = next((c for c in simple if isinstance(c.tag, str)), None)
            base_name = _qname(derivation, derivation.get("base")) \
                if derivation is not None else None
            return XType("simple", name, self.named(base_name).base if base_name else "string")
        return XType("complex", name, children=self._particles(node))

    def _particles(self, node: etree._Element) -> list[XElement]:
        found: list[XElement] = []
        for child in node:
            if child.tag == _x("element"):
                found.append(self._declaration(child))
            elif child.tag in (_x("sequence"), _x("all"), _x("choice")):
                found.extend(self._particles(child))
        return found

    def _array_item(self, derivation: etree._Element) -> tuple[str, str]:
        for attr in derivation.iter(_x("attribute")):
            text = attr.get(f"{{{WSDL_NS}}}arrayType")
            if text:
                qname = _qname(attr, text.split("[", 1)[0])
                if qname is not None:
                    return qname
        for element in derivation.iter(_x("element")):
            qname = _qname(element, element.get("type"))
            if qname is not None:
                return qname
        return XSD_NS, "anyType"


def _occurs(node: etree._Element) -> tuple[int, int | None]:
    low_text = node.get("minOccurs", "1")
    high_text = node.get("maxOccurs", "1")
    low = int(low_text) if low_text.isdigit() else 1
    high = None if high_text == "unbounded" else (int(high_text) if high_text.isdigit() else 1)
    return low, high


# =========================================================================== WSDL


@dataclass(slots=True)
class Part:
    name: str
    element: tuple[str, str] | None = None
    type: tuple[str, str] | None = None


@dataclass(slots=True)
class Operation:
    """One method of a service, as its SOAP binding says to call it."""

    name: str
    soap: str  # "1.1" or "1.2"
    action: str
    style: str  # "document" or "rpc"
    use: str  # "literal" or "encoded"
    namespace: str  # rpc: the namespace of the wrapper element
    inputs: list[Part]
    outputs: list[Part]
    input_name: str = ""


class Wsdl:
    """A WSDL 1.1 document: its services, their SOAP operations, and its schemas."""

    def __init__(self, data: bytes, origin: str) -> None:
        self.origin = origin
        try:
            root = parse_bytes(data, origin, "WSDL file").getroot()
        except SsisrunError as exc:
            raise _fail(f"the WSDL file is not usable XML: {exc}") from None
        if root.tag != f"{{{WSDL_NS}}}definitions":
            what = "WSDL 2.0" if _local(root) == "description" else f"<{_local(root)}>"
            raise _fail(f"{origin} is not a WSDL 1.1 document (it is {what}); ssisrun reads "
                        "WSDL 1.1 with SOAP 1.1 or 1.2 bindings")
        self.root = root
        self.tns = root.get("targetNamespace", "")
        types = root.find(f"{{{WSDL_NS}}}types")
        schemas = [] if types is None else types.findall(_x("schema"))
        for imported in root.findall(f"{{{WSDL_NS}}}import"):
            raise _fail(f"the WSDL {origin} imports '{imported.get('location')}', which "
                        "ssisrun does not load; save a single-file WSDL")
        self.schemas = Schemas(schemas, origin)

    def _find(self, kind: str, qname: tuple[str, str] | None) -> etree._Element:
        if qname is not None:
            for node in self.root.findall(f"{{{WSDL_NS}}}{kind}"):
                if node.get("name") == qname[1]:
                    return node
        raise _fail(f"the WSDL {self.origin} has no {kind} "
                    f"'{qname[1] if qname else '?'}'")

    def services(self) -> list[str]:
        return [s.get("name", "") for s in self.root.findall(f"{{{WSDL_NS}}}service")]

    def _soap_ports(self, service: str) -> list[tuple[str, etree._Element]]:
        node = next((s for s in self.root.findall(f"{{{WSDL_NS}}}service")
                     if s.get("name") == service), None)
        if node is None:
            names = ", ".join(self.services()) or "none"
            raise _fail(f"the WSDL {self.origin} has no service '{service}' (Service); its "
                        f"services are: {names}")
        ports: list[tuple[str, etree._Element]] = []
        for port in node.findall(f"{{{WSDL_NS}}}port"):
            binding = self._find("binding", _qname(port, port.get("binding")))
            if binding.find(f"{{{SOAP11_BINDING}}}binding") is not None:
                ports.append(("1.1", binding))
            elif binding.find(f"{{{SOAP12_BINDING}}}binding") is not None:
                ports.append(("1.2", binding))
        if not ports:
            raise _fail(f"the service '{service}' of the WSDL {self.origin} has no SOAP port "
                        "(only HTTP GET/POST ports, which the Web Service task does not use)")
        ports.sort(key=lambda item: item[0])  # SOAP 1.1 first, as .NET's proxies
        return ports

    def methods(self, service: str) -> list[str]:
        soap, binding = self._soap_ports(service)[0]
        return [op.get("name", "") for op in binding.findall(f"{{{WSDL_NS}}}operation")]

    def operation(self, service: str, method: str, message: str = "") -> Operation:
        soap, binding = self._soap_ports(service)[0]
        bns = SOAP11_BINDING if soap == "1.1" else SOAP12_BINDING
        candidates = [op for op in binding.findall(f"{{{WSDL_NS}}}operation")
                      if op.get("name") == method]
        if message and len(candidates) > 1:
            candidates = [op for op in candidates
                          if (op.find(f"{{{WSDL_NS}}}input") is not None and
                              op.find(f"{{{WSDL_NS}}}input").get("name") == message)]  # type: ignore[union-attr]
        if not candidates:
            names = ", ".join(dict.fromkeys(self.methods(service))) or "none"
            raise _fail(f"the service '{service}' has no method '{method}' (MethodName); its "
                        f"methods are: {names}")
        bop = candidates[0]
        soap_binding = binding.find(f"{{{bns}}}binding")
        assert soap_binding is not None
        soap_op = bop.find(f"{{{bns}}}operation")
        style = (soap_op.get("style") if soap_op is not None else None) or \
            soap_binding.get("style") or "document"
        action = (soap_op.get("soapAction") if soap_op is not None else None) or ""
        body_in = bop.find(f"{{{WSDL_NS}}}input/{{{bns}}}body")
        use = body_in.get("use", "literal") if body_in is not None else "literal"
        namespace = body_in.get("namespace", "") if body_in is not None else ""
        port_type = self._find("portType", _qname(binding, binding.get("type")))
        input_name = ""
        bin_el = bop.find(f"{{{WSDL_NS}}}input")
        if bin_el is not None:
            input_name = bin_el.get("name", "")
        pop = next((op for op in port_type.findall(f"{{{WSDL_NS}}}operation")
                    if op.get("name") == method and
                    (not input_name or op.find(f"{{{WSDL_NS}}}input") is None or
                     op.find(f"{{{WSDL_NS}}}input").get("name", input_name) == input_name)),  # type: ignore[union-attr]
                   None)
        if pop is None:
            raise _fail(f"the WSDL's portType has no operation '{method}'")
        return Operation(name=method, soap=soap, action=action, style=style.lower(),
                         use=use.lower(), namespace=namespace or self.tns,
                         inputs=self._parts(pop, "input"), outputs=self._parts(pop, "output"),
                         input_name=input_name)

    def _parts(self, op: etree._Element, which: str) -> list[Part]:
        node = op.find(f"{{{WSDL_NS}}}{which}")
        if node is None:
            return []
        message = self._find("message", _qname(node, node.get("message")))
        return [Part(p.get("name", ""), _qname(p, p.get("element")), _qname(p, p.get("type")))
                for p in message.findall(f"{{{WSDL_NS}}}part")]


# =========================================================================== parameters


@dataclass(slots=True)
class ParamNode:
    """A value as the package stores it."""

    kind: str  # "text", "variable", "array", "complex", "none"
    text: str = ""
    items: list[ParamNode] = field(default_factory=list)
    properties: dict[str, ParamNode] = field(default_factory=dict)


@dataclass(slots=True)
class Param:
    name: str
    datatype: str
    param_type: str
    seq: int
    value: ParamNode


def _ns_attr(el: etree._Element, name: str) -> str:
    return attribute(el, name, NS) or ""


def _value_node(el: etree._Element) -> ParamNode:
    local = _local(el)
    if local == "VariableValue":
        name = (el.text or "").strip() or _ns_attr(el, "VariableName") or _ns_attr(el, "Name")
        return ParamNode("variable", name)
    if local == "ArrayValue":
        return ParamNode("array", items=[_value_node(c) for c in el
                                         if isinstance(c.tag, str) and _local(c) in VALUE_TAGS])
    if local == "ComplexValue":
        props: dict[str, ParamNode] = {}
        for prop in el:
            if isinstance(prop.tag, str) and _local(prop) == "ComplexProperty":
                props[_ns_attr(prop, "Name")] = _param_value(prop)
        return ParamNode("complex", properties=props)
    return ParamNode("text", el.text or "")


def _param_value(el: etree._Element) -> ParamNode:
    child = next((c for c in el if isinstance(c.tag, str) and _local(c) in VALUE_TAGS), None)
    if child is None:
        return ParamNode("none")
    node = _value_node(child)
    is_var = _ns_attr(el, "ParamType").lower() == "variable" or \
        _ns_attr(el, "IsVariable").lower() in ("true", "1", "-1")
    if is_var and node.kind == "text":
        node = ParamNode("variable", node.text.strip())
    return node


def read_method(body: etree._Element | None) -> tuple[str, str, list[Param]]:
    """``MethodInfo``: the method name, its message name and its parameters."""
    info = None if body is None else next(
        (c for c in body if isinstance(c.tag, str) and _local(c) == "MethodInfo"), None)
    if info is None:
        return "", "", []
    params = []
    for index, el in enumerate(c for c in info if isinstance(c.tag, str) and
                               _local(c) == "ParamInfo"):
        seq = _ns_attr(el, "SeqNumber")
        params.append(Param(_ns_attr(el, "Name"), _ns_attr(el, "Datatype"),
                            _ns_attr(el, "ParamType") or "Primitive",
                            int(seq) if seq.lstrip("-").isdigit() else index,
                            _param_value(el)))
    params.sort(key=lambda p: p.seq)
    return _ns_attr(info, "MethodName").strip(), _ns_attr(info, "MessageName").strip(), params


def static_references(body: etree._Element | None) -> dict[str, Any]:
    """What ``ssisrun validate`` checks without running: the HTTP connection, the output
    connection or variable, and the variables that parameters read."""
    variables: list[str] = []

    def walk(node: ParamNode) -> None:
        if node.kind == "variable" and node.text:
            variables.append(node.text)
        for item in node.items:
            walk(item)
        for prop in node.properties.values():
            walk(prop)

    for param in read_method(body)[2]:
        walk(param.value)
    output_type = (attribute(body, "OutputType", NS) or "File").strip()
    output = (attribute(body, "OutputLocation", NS) or "").strip()
    is_var = output_type.lower() == "variable" or output_type == "1"
    return {"connection": (attribute(body, "ConnectionName", NS) or "").strip(),
            "output_variable": output if is_var else "",
            "output_connection": "" if is_var else output,
            "variables": variables}


# =========================================================================== values


def _lexical(xtype: XType, value: Any, where: str) -> str:
    """``value`` (the text the package holds, or a variable's value) written as the XSD
    type ``xtype`` wants it."""
    base = xtype.base
    if isinstance(value, (list, tuple, dict)):
        raise _fail(f"{where} is of type {xtype.label}, a single value, not a list")
    if base == "boolean":
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            lowered = str(value).strip().lower()
            if lowered in ("true", "1", "-1", "yes"):
                text = "true"
            elif lowered in ("false", "0", "no"):
                text = "false"
            else:
                raise _fail(f"{where} must be true or false (boolean), not '{value}'")
    elif base in _INTEGER_RANGES:
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) \
                else int(str(value).strip())
        except ValueError:
            raise _fail(f"{where} must be a whole number ({base}), not '{value}'") from None
        low, high = _INTEGER_RANGES[base]
        if (low is not None and number < low) or (high is not None and number > high):
            raise _fail(f"{where} is {number}, outside the range of {base}")
        text = str(number)
    elif base == "decimal":
        try:
            number_d = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise _fail(f"{where} must be a decimal number, not '{value}'") from None
        if not number_d.is_finite():
            raise _fail(f"{where} must be a finite decimal number, not '{value}'")
        text = format(number_d, "f")
    elif base in ("double", "float"):
        try:
            number_f = float(str(value).strip())
        except ValueError:
            raise _fail(f"{where} must be a number ({base}), not '{value}'") from None
        if math.isnan(number_f):
            text = "NaN"
        elif math.isinf(number_f):
            text = "INF" if number_f > 0 else "-INF"
        elif number_f.is_integer() and abs(number_f) < 1e15:
            text = str(int(number_f))
        else:
            text = repr(number_f)
    elif base in ("dateTime", "date", "time"):
        text = _datetime_text(base, value, where)
    elif base == "base64Binary":
        if isinstance(value, (bytes, bytearray)):
            text = base64.b64encode(bytes(value)).decode("ascii")
        else:
            text = "".join(str(value).split())
            try:
                base64.b64decode(text, validate=True)
            except ValueError:
                raise _fail(f"{where} must be base64 text (base64Binary)") from None
    else:
        text = "" if value is None else (value.isoformat() if isinstance(value, dt.datetime)
                                         else str(value))
    if xtype.enumeration and text not in xtype.enumeration:
        shown_values = ", ".join(xtype.enumeration[:12])
        more = ", ..." if len(xtype.enumeration) > 12 else ""
        raise _fail(f"{where} is '{text}', not one of the values of {xtype.label}: "
                    f"{shown_values}{more}")
    return text


_DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
                 "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


def _datetime_text(base: str, value: Any, where: str) -> str:
    moment: dt.datetime | dt.date | dt.time
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        moment = value
    else:
        text = str(value).strip()
        parsed: dt.datetime | dt.time | None = None
        try:
            parsed = dt.time.fromisoformat(text) if base == "time" and "T" not in text \
                and "-" not in text else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    parsed = dt.datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise _fail(f"{where} must be a date and time ({base}, e.g. "
                        f"2024-01-31T13:45:00), not '{value}'")
        moment = parsed
    if base == "date":
        day = moment.date() if isinstance(moment, dt.datetime) else moment
        if isinstance(day, dt.time):
            raise _fail(f"{where} must be a date, not a time of day")
        return day.isoformat()
    if base == "time":
        clock = moment.timetz() if isinstance(moment, dt.datetime) else moment
        if not isinstance(clock, dt.time):
            raise _fail(f"{where} must be a time of day, not a date")
        return clock.isoformat()
    if isinstance(moment, dt.time):
        raise _fail(f"{where} must be a date and time, not a time of day")
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time())
    return moment.isoformat()


class Envelope:
    """Builds the SOAP request for one operation."""

    def __init__(self, wsdl: Wsdl, op: Operation) -> None:
        self.wsdl = wsdl
        self.op = op
        self.encoded = op.use == "encoded"
        self.env_ns = SOAP11_ENV if op.soap == "1.1" else SOAP12_ENV

    # ---- the parameters the method takes

    def parameters(self) -> tuple[XElement | None, list[XElement]]:
        """The wrapper element (None for bare document parts) and the parameters."""
        op, schemas = self.op, self.wsdl.schemas
        if op.style == "rpc":
            wrapper = XElement(op.name, op.namespace)
            params = [schemas.top_element(p.element) if p.element else
                      XElement(p.name, "", type=p.type or (XSD_NS, "anyType"))
                      for p in op.inputs]
            return wrapper, params
        if len(op.inputs) == 1 and op.inputs[0].element:
            decl = schemas.top_element(op.inputs[0].element)
            xtype = schemas.type_of(decl)
            if xtype.kind == "complex" and xtype.array_item is None:
                return decl, xtype.children
        return None, [schemas.top_element(p.element) if p.element else
                      XElement(p.name, "", type=p.type or (XSD_NS, "anyType"))
                      for p in op.inputs]

    def build(self, values: dict[str, Any]) -> bytes:
        """The envelope, with ``values`` (parameter name -> value; absent: not given)."""
        wrapper, params = self.parameters()
        nsmap = {"soap" if self.op.soap == "1.1" else "soap12": self.env_ns,
                 "xsi": XSI_NS, "xsd": XSD_NS}
        if self.encoded:
            nsmap["soapenc"] = SOAP_ENC
        envelope = etree.Element(f"{{{self.env_ns}}}Envelope", nsmap=nsmap)
        body = etree.SubElement(envelope, f"{{{self.env_ns}}}Body")
        parent = body
        if wrapper is not None:
            all_qualified = self.op.style != "rpc" and all(p.ns == wrapper.ns for p in params)
            wrap_map = {None: wrapper.ns} if all_qualified else {"tns": wrapper.ns}
            parent = etree.SubElement(body, self._tag(wrapper), nsmap=wrap_map)  # type: ignore[arg-type]
            if self.encoded:
                parent.set(f"{{{self.env_ns}}}encodingStyle", SOAP_ENC)
        for decl in params:
            if decl.name in values:
                self._render(parent, decl, values[decl.name], f"parameter '{decl.name}'")
            elif decl.min_occurs > 0:
                raise _fail(f"the method '{self.op.name}' takes the parameter '{decl.name}' "
                            "and the task gives it no value (ParamInfo)")
        return (XML_DECLARATION.encode() +
                etree.tostring(envelope, encoding="utf-8", xml_declaration=False))

    @staticmethod
    def _tag(decl: XElement) -> str:
        return f"{{{decl.ns}}}{decl.name}" if decl.ns else decl.name

    def _type_attr(self, el: etree._Element, qname: tuple[str, str]) -> None:
        ns, name = qname
        if ns == XSD_NS:
            el.set(f"{{{XSI_NS}}}type", f"xsd:{name}")
            return
        prefix = next((p for p, u in (el.nsmap or {}).items() if u == ns and p), None)
        if prefix is None:
            raise _fail(f"the namespace {ns} has no prefix in the request")
        el.set(f"{{{XSI_NS}}}type", f"{prefix}:{name}")

    def _new(self, parent: etree._Element, decl: XElement,
             xtype: XType) -> etree._Element:
        nsmap = None
        if self.encoded and xtype.name and xtype.name[0] not in (XSD_NS, SOAP_ENC) and \
                xtype.name[0] not in (parent.nsmap or {}).values():
            nsmap = {"types": xtype.name[0]}
        el = etree.SubElement(parent, self._tag(decl), nsmap=nsmap)
        if self.encoded and xtype.name and xtype.kind != "soaparray":
            self._type_attr(el, xtype.name)
        return el

    def _render(self, parent: etree._Element, decl: XElement, value: Any, where: str) -> None:
        xtype = self.wsdl.schemas.type_of(decl)
        if value is None:
            if decl.nillable:
                etree.SubElement(parent, self._tag(decl)).set(f"{{{XSI_NS}}}nil", "true")
            elif decl.min_occurs > 0:
                raise _fail(f"{where} has no value")
            return
        if decl.repeated and isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self._render_one(parent, decl, xtype, item, f"{where} item {index + 1}")
            return
        self._render_one(parent, decl, xtype, value, where)

    def _render_one(self, parent: etree._Element, decl: XElement, xtype: XType, value: Any,
                    where: str) -> None:
        if xtype.kind == "simple":
            el = self._new(parent, decl, xtype)
            el.text = _lexical(xtype, value, where)
            return
        if xtype.kind == "soaparray":
            items = value if isinstance(value, (list, tuple)) else None
            if items is None:
                raise _fail(f"{where} is an array: give an ArrayValue or a variable holding "
                            "a list")
            item_type = xtype.item_type or (XSD_NS, "anyType")
            el = self._new(parent, decl, xtype)
            el.set(f"{{{XSI_NS}}}type", "soapenc:Array")
            item_x = self.wsdl.schemas.named(item_type)
            prefix = "xsd" if item_type[0] == XSD_NS else self._prefix_for(el, item_type[0])
            el.set(f"{{{SOAP_ENC}}}arrayType", f"{prefix}:{item_type[1]}[{len(items)}]")
            for index, item in enumerate(items):
                self._render_one(el, XElement("item", "", type=item_type), item_x, item,
                                 f"{where} item {index + 1}")
            return
        el = self._new(parent, decl, xtype)
        item_decl = xtype.array_item
        if item_decl is not None and isinstance(value, (list, tuple)):
            self._render(el, item_decl, list(value), where)
            return
        if not isinstance(value, dict):
            names = ", ".join(c.name for c in xtype.children)
            raise _fail(f"{where} is of the complex type {xtype.label} ({names}): give a "
                        "ComplexValue" + (" or an ArrayValue" if item_decl else ""))
        known = {c.name for c in xtype.children}
        unknown = [k for k in value if k not in known]
        if unknown:
            raise _fail(f"{where}: the type {xtype.label} has no member "
                        f"{', '.join(unknown)}; its members are: {', '.join(known)}")
        for child in xtype.children:
            if child.name in value:
                self._render(el, child, value[child.name], f"{where}.{child.name}")
            elif child.min_occurs > 0:
                raise _fail(f"{where}.{child.name} has no value")

    @staticmethod
    def _prefix_for(el: etree._Element, ns: str) -> str:
        prefix = next((p for p, u in (el.nsmap or {}).items() if u == ns and p), None)
        if prefix is None:
            raise _fail(f"the namespace {ns} has no prefix in the request")
        return prefix


# =========================================================================== the response


def _fault_text(fault: etree._Element) -> str:
    if fault.tag == f"{{{SOAP11_ENV}}}Fault":
        code = (fault.findtext("faultcode") or "").strip()
        text = (fault.findtext("faultstring") or "").strip()
    else:
        code = (fault.findtext(f"{{{SOAP12_ENV}}}Code/{{{SOAP12_ENV}}}Value") or "").strip()
        text = (fault.findtext(f"{{{SOAP12_ENV}}}Reason/{{{SOAP12_ENV}}}Text") or "").strip()
    return f"{text} (fault code {code})" if code else text


def result_document(wsdl: Wsdl, op: Operation, envelope: etree._Element) -> str:
    """The method's return value as SSIS keeps it: an XML document whose root is named
    after the value's XSD type; "" when the method returns nothing."""
    body = next((c for c in envelope if isinstance(c.tag, str) and _local(c) == "Body"), None)
    if body is None:
        raise _fail("the web service answered with a SOAP envelope that has no Body")
    first = next((c for c in body if isinstance(c.tag, str)), None)
    if first is None or not op.outputs:
        return ""
    schemas = wsdl.schemas
    result: etree._Element | None
    if op.style == "rpc":
        result = next((c for c in first if isinstance(c.tag, str)), None)
        part = op.outputs[0]
        decl = schemas.top_element(part.element) if part.element else \
            XElement(part.name, "", type=part.type or (XSD_NS, "anyType"))
    else:
        decl = schemas.top_element(op.outputs[0].element) if op.outputs[0].element else \
            XElement(op.outputs[0].name, "", type=op.outputs[0].type)
        xtype = schemas.type_of(decl)
        if len(op.outputs) == 1 and xtype.kind == "complex" and xtype.array_item is None:
            if not xtype.children:
                return ""
            decl = xtype.children[0]
            result = next((c for c in first if isinstance(c.tag, str)), None)
        else:
            result = first
    if result is None or result.get(f"{{{XSI_NS}}}nil", "").lower() == "true":
        return ""
    xtype = schemas.type_of(decl)
    if xtype.kind == "simple":
        name = xtype.name[1] if xtype.name else decl.name
        if xtype.name and xtype.name[0] not in (XSD_NS, MS_TYPES_NS):
            root = etree.Element(f"{{{xtype.name[0]}}}{name}", nsmap={None: xtype.name[0]})  # type: ignore[dict-item]
        else:
            root = etree.Element(name)
        root.text = result.text or ""
    else:
        name = xtype.name[1] if xtype.name and xtype.name[0] != SOAP_ENC else decl.name
        ns = xtype.name[0] if xtype.name and xtype.name[0] != SOAP_ENC else ""
        children = [copy.deepcopy(c) for c in result if isinstance(c.tag, str)]
        qualified = bool(ns) and all(etree.QName(d).namespace == ns
                                     for c in children for d in c.iter()
                                     if isinstance(d.tag, str))
        nsmap: dict[str | None, str] = {"xsi": XSI_NS, "xsd": XSD_NS}
        if qualified:
            nsmap[None] = ns
            root = etree.Element(f"{{{ns}}}{name}", nsmap=nsmap)  # type: ignore[arg-type]
        else:
            root = etree.Element(name, nsmap=nsmap)  # type: ignore[arg-type]
        for child in children:
            child.tail = None
            root.append(child)
        etree.cleanup_namespaces(root, keep_ns_prefixes=["xsi", "xsd"])
        etree.indent(root, space="  ")
    return XML_DECLARATION + "\n" + etree.tostring(root, encoding="unicode")


# =========================================================================== the task


class WebServiceTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        try:
            return self._execute(ctx, body)
        except (SsisrunError, OSError) as exc:
            return report_failure(ctx, exc)

    def _execute(self, ctx: TaskContext, body: etree._Element | None) -> TaskOutcome:
        def get(attr: str, *props: str, default: str = "") -> Any:
            return setting(ctx, body, attr, *props, default=default, namespace=NS)

        ref = str(get("ConnectionName", "Connection")).strip()
        if not ref:
            raise _fail("the Web Service task names no HTTP connection manager "
                        "(ConnectionName); choose one in the task")
        cm, text = connection(ctx, ref, CODE, ("HTTP",), "HTTP")
        settings = server_settings(ctx, cm, text)
        client = HttpClient(settings, ctx.map_path)

        wsdl_text = str(get("WSDLFile", "WsdlFile")).strip()
        if len(wsdl_text) >= 2 and wsdl_text[0] == wsdl_text[-1] == '"':
            wsdl_text = wsdl_text[1:-1].strip()
        if not wsdl_text:
            raise _fail("the Web Service task names no WSDL file (WSDLFile)")
        wsdl_path = local_path(ctx, wsdl_text, CODE)
        overwrite = as_bool("OverwriteWSDLFile", get("OverwriteWSDLFile", "OverwriteWsdlFile",
                                                     default="False"), CODE)
        if overwrite:
            self._download_wsdl(ctx, client, wsdl_path, wsdl_text)
        elif not os.path.isfile(wsdl_path):
            raise _fail(f"the WSDL file {shown(wsdl_path, wsdl_text)} does not exist "
                        "(WSDLFile); map Windows paths with --path-map, or set "
                        "OverwriteWSDLFile to True to download it from "
                        f"{wsdl_url(settings.url)}")
        with open(wsdl_path, "rb") as handle:
            wsdl = Wsdl(handle.read(), wsdl_path)

        service = str(get("Service", "ServiceName")).strip()
        if not service:
            names = ", ".join(wsdl.services()) or "none"
            raise _fail(f"the Web Service task names no service (Service); the WSDL's "
                        f"services are: {names}")
        method, message, params = read_method(body)
        if not method:
            names = ", ".join(dict.fromkeys(wsdl.methods(service))) or "none"
            raise _fail(f"the Web Service task names no method (MethodInfo/MethodName); "
                        f"the methods of '{service}' are: {names}")
        op = wsdl.operation(service, method, message)
        envelope = Envelope(wsdl, op)
        request = envelope.build(self._values(ctx, envelope, params))

        # where to keep the result is checked before the call, so a wrong setting does not
        # cost a call to the service
        output_type = as_choice("OutputType", get("OutputType", default="File") or "File",
                              OUTPUT_TYPES)
        output = str(get("OutputLocation")).strip()
        if not output:
            raise _fail(f"the Web Service task names no {output_type.lower()} to keep the "
                        "result in (OutputLocation)")
        if output_type == "Variable" and ctx.scope.find(output) is None:
            raise _fail(f'Variable "{output}" (OutputLocation) does not exist in the scope '
                        f"of {ctx.host.path}")

        url = service_url(settings.url)
        headers = {"Content-Type": "text/xml; charset=utf-8",
                   "SOAPAction": f'"{op.action}"'}
        if op.soap == "1.2":
            headers = {"Content-Type": "application/soap+xml; charset=utf-8"
                                       + (f'; action="{op.action}"' if op.action else "")}
        ctx.information(0, f"calling {service}.{method} at {url} (SOAP {op.soap}, "
                        f"{op.style}/{op.use})")
        answer = client.send(url, request, headers)
        result = self._result(wsdl, op, answer, url, client)
        self._save(ctx, output_type, output, result)
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- steps

    def _download_wsdl(self, ctx: TaskContext, client: HttpClient, path: str,
                       original: str) -> None:
        url = wsdl_url(client.settings.url)
        answer = client.send(url)
        if answer.status != 200:
            raise _fail(f"downloading the WSDL from {url} failed: HTTP {answer.status} "
                        f"{answer.reason} (OverwriteWSDLFile is True)")
        Wsdl(answer.body, url)  # refuse what is not a usable WSDL before replacing the file
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise _fail(f"the folder of the WSDL file {shown(path, original)} does not exist "
                        "(WSDLFile); map Windows paths with --path-map")
        fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(answer.body)
            os.replace(temp, path)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        ctx.information(0, f"downloaded the WSDL from {url} into {path}")

    def _values(self, ctx: TaskContext, envelope: Envelope,
                params: list[Param]) -> dict[str, Any]:
        wrapper, decls = envelope.parameters()
        names = [d.name for d in decls]
        values: dict[str, Any] = {}
        for param in params:
            name = param.name
            if name not in names:
                match = next((n for n in names if n.lower() == name.lower()), None)
                if match is None:
                    raise _fail(f"the method '{envelope.op.name}' has no parameter '{name}' "
                                f"(ParamInfo); its parameters are: {', '.join(names) or 'none'}")
                name = match
            if param.value.kind == "none":
                continue
            values[name] = self._resolve(ctx, param.value, f"parameter '{name}'")
        return values

    def _resolve(self, ctx: TaskContext, node: ParamNode, where: str) -> Any:
        if node.kind == "text":
            return node.text
        if node.kind == "variable":
            if not node.text:
                raise _fail(f"{where} is bound to a variable but names none (VariableValue)")
            var = ctx.scope.find(node.text)
            if var is None:
                raise _fail(f'Variable "{node.text}" ({where}) does not exist in the scope '
                            f"of {ctx.host.path}")
            return ctx.scope.value_of(var)
        if node.kind == "array":
            return [self._resolve(ctx, item, f"{where} item {i + 1}")
                    for i, item in enumerate(node.items)]
        return {key: self._resolve(ctx, value, f"{where}.{key}")
                for key, value in node.properties.items() if value.kind != "none"}

    def _result(self, wsdl: Wsdl, op: Operation, answer: HttpAnswer, url: str,
                client: HttpClient) -> str:
        status = f"HTTP {answer.status} {answer.reason}".strip()
        envelope: etree._Element | None = None
        try:
            envelope = parse_bytes(answer.body, url, "SOAP response").getroot()
        except SsisrunError:
            envelope = None
        if envelope is not None and _local(envelope) == "Envelope":
            fault = next((f for f in envelope.iter(f"{{{SOAP11_ENV}}}Fault",
                                                   f"{{{SOAP12_ENV}}}Fault")), None)
            if fault is not None:
                raise _fail(client.clean(f"the web service {url} answered {op.name} with a "
                                         f"SOAP fault ({status}): {_fault_text(fault)}"))
            if 200 <= answer.status < 300:
                return result_document(wsdl, op, envelope)
        if 200 <= answer.status < 300:
            raise _fail(f"the web service {url} answered {op.name} ({status}) with no SOAP "
                        f"envelope: {_snippet(answer.body)}")
        hint = ""
        if answer.status in (401, 403):
            hint = (" (check the user name and password of connection manager "
                    f"'{client.settings.name}'; give them with --conn)")
        raise _fail(client.clean(f"the web service {url} answered {op.name} with {status}"
                                 f"{hint}: {_snippet(answer.body)}"))

    def _save(self, ctx: TaskContext, output_type: str, output: str, result: str) -> None:
        if output_type == "Variable":
            try:
                ctx.scope.set(output, result)
            except SsisrunError as exc:
                raise _fail(f'the result cannot be kept in variable "{output}" '
                            f"(OutputLocation): {exc}") from None
            return
        path = file_connection_path(ctx, output, code=CODE, not_file=CODE)
        folder = os.path.dirname(os.path.abspath(path.path))
        if not os.path.isdir(folder):
            raise _fail(f'the folder "{folder}" of the output file {path} does not exist '
                        f"(OutputLocation, from {path.origin})")
        fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(result)
            os.replace(temp, path.path)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        ctx.information(0, f"wrote the result to {path.path}")


def _snippet(data: bytes) -> str:
    text = " ".join(data.decode("utf-8", "replace").split())
    if not text:
        return "(an empty answer)"
    return text[:300] + ("..." if len(text) > 300 else "")
