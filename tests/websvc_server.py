"""A real SOAP server for the Web Service task's tests: a small WSGI application served by
``wsgiref`` on 127.0.0.1 in a thread, with the WSDLs it publishes at ``?wsdl``.

It records every request (method, path, headers, body) so tests can assert the exact
envelope the task sent, and it answers like an ASMX service: document/literal SOAP 1.1 and
1.2 (service ``Tests`` and ``WeatherForecast``) and rpc/encoded SOAP 1.1 (service
``Calc``). Its WSDLs name ``example.invalid`` as their address, so a test that passes
proves the task calls the connection manager's server, not the WSDL's.
"""

from __future__ import annotations

import base64
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from xml.sax.saxutils import escape

from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TESTS_NS = "http://tests.ssisrun.example/"
WEATHER_NS = "http://www.webservicex.net"
CALC_NS = "urn:calc"
USER, PASSWORD = "alice", "s3cret!"

# --------------------------------------------------------------------------- WSDLs

_WSDL_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<wsdl:definitions xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
    'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
    'xmlns:http="http://schemas.xmlsoap.org/wsdl/http/" '
    'xmlns:s="http://www.w3.org/2001/XMLSchema" xmlns:tns="{tns}" '
    'targetNamespace="{tns}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">')


def asmx_wsdl(tns: str, service: str, ops: list[tuple[str, str, str]], types: str) -> str:
    """An ASMX-style WSDL: ``ops`` are (name, parameter elements, result element or "")
    and become wrapped document/literal operations on a SOAP 1.1, a SOAP 1.2 and an HTTP
    GET port."""
    elements = "".join(
        f'<s:element name="{name}"><s:complexType><s:sequence>{params}</s:sequence>'
        f'</s:complexType></s:element><s:element name="{name}Response"><s:complexType>'
        f"<s:sequence>{result}</s:sequence></s:complexType></s:element>"
        for name, params, result in ops)
    messages = "".join(
        f'<wsdl:message name="{n}SoapIn"><wsdl:part name="parameters" element="tns:{n}"/>'
        f'</wsdl:message><wsdl:message name="{n}SoapOut"><wsdl:part name="parameters" '
        f'element="tns:{n}Response"/></wsdl:message>' for n, _, _ in ops)
    port_ops = "".join(
        f'<wsdl:operation name="{n}"><wsdl:input message="tns:{n}SoapIn"/>'
        f'<wsdl:output message="tns:{n}SoapOut"/></wsdl:operation>' for n, _, _ in ops)

    def binding(prefix: str, suffix: str) -> str:
        items = "".join(
            f'<wsdl:operation name="{n}"><{prefix}:operation soapAction="{tns}{n}" '
            f'style="document"/><wsdl:input><{prefix}:body use="literal"/></wsdl:input>'
            f'<wsdl:output><{prefix}:body use="literal"/></wsdl:output></wsdl:operation>'
            for n, _, _ in ops)
        return (f'<wsdl:binding name="{service}{suffix}" type="tns:{service}Soap">'
                f'<{prefix}:binding transport="http://schemas.xmlsoap.org/soap/http"/>'
                f"{items}</wsdl:binding>")

    return (_WSDL_HEAD.format(tns=tns)
            + f'<wsdl:types><s:schema elementFormDefault="qualified" targetNamespace="{tns}">'
            + elements + types + "</s:schema></wsdl:types>" + messages
            + f'<wsdl:portType name="{service}Soap">{port_ops}</wsdl:portType>'
            + f'<wsdl:portType name="{service}HttpGet"/>'
            + binding("soap12", "Soap12") + binding("soap", "Soap")
            + f'<wsdl:binding name="{service}HttpGet" type="tns:{service}HttpGet">'
            + '<http:binding verb="GET"/></wsdl:binding>'
            + f'<wsdl:service name="{service}">'
            + f'<wsdl:port name="{service}HttpGet" binding="tns:{service}HttpGet">'
            + f'<http:address location="http://example.invalid/{service}.asmx"/></wsdl:port>'
            + f'<wsdl:port name="{service}Soap12" binding="tns:{service}Soap12">'
            + f'<soap12:address location="http://example.invalid/{service}.asmx"/>'
            + "</wsdl:port>"
            + f'<wsdl:port name="{service}Soap" binding="tns:{service}Soap">'
            + f'<soap:address location="http://example.invalid/{service}.asmx"/></wsdl:port>'
            + "</wsdl:service></wsdl:definitions>\n")


def _el(name: str, type_: str, optional: bool = True) -> str:
    low = "0" if optional else "1"
    return f'<s:element minOccurs="{low}" maxOccurs="1" name="{name}" type="{type_}"/>'


TESTS_TYPES = (
    '<s:simpleType name="Color"><s:restriction base="s:string">'
    '<s:enumeration value="Red"/><s:enumeration value="Green"/><s:enumeration value="Blue"/>'
    "</s:restriction></s:simpleType>"
    '<s:complexType name="ArrayOfInt"><s:sequence><s:element minOccurs="0" '
    'maxOccurs="unbounded" name="int" type="s:int"/></s:sequence></s:complexType>'
    '<s:complexType name="Line"><s:sequence>' + _el("Sku", "s:string")
    + _el("Qty", "s:int", False) + "</s:sequence></s:complexType>"
    '<s:complexType name="ArrayOfLine"><s:sequence><s:element minOccurs="0" '
    'maxOccurs="unbounded" name="Line" nillable="true" type="tns:Line"/></s:sequence>'
    "</s:complexType>"
    '<s:complexType name="Order"><s:sequence>' + _el("Id", "s:int", False)
    + _el("Customer", "s:string") + _el("Lines", "tns:ArrayOfLine")
    + "</s:sequence></s:complexType>")

TESTS_OPS = [
    ("Echo", _el("text", "s:string"), _el("EchoResult", "s:string")),
    ("Add", _el("a", "s:int", False) + _el("b", "s:int", False),
     _el("AddResult", "s:int", False)),
    ("Describe", _el("when", "s:dateTime", False) + _el("price", "s:decimal", False)
     + _el("active", "s:boolean", False) + _el("ratio", "s:double", False)
     + _el("color", "tns:Color", False) + _el("day", "s:date", False),
     _el("DescribeResult", "s:string")),
    ("SumAll", _el("values", "tns:ArrayOfInt"), _el("SumAllResult", "s:long", False)),
    ("PlaceOrder", _el("order", "tns:Order"), _el("PlaceOrderResult", "s:string")),
    ("GetOrder", _el("id", "s:int", False), _el("GetOrderResult", "tns:Order")),
    ("Ratio", "", _el("RatioResult", "s:double", False)),
    ("Nothing", "", ""),
    ("Boom", "", _el("BoomResult", "s:string")),
    ("Slow", "", _el("SlowResult", "s:string")),
    ("Secret", "", _el("SecretResult", "s:string")),
]
TESTS_WSDL = asmx_wsdl(TESTS_NS, "Tests", TESTS_OPS, TESTS_TYPES)

WEATHER_TYPES = (
    '<s:complexType name="WeatherForecasts"><s:sequence>' + _el("Latitude", "s:float", False)
    + _el("Longitude", "s:float", False) + _el("PlaceName", "s:string")
    + _el("Details", "tns:ArrayOfWeatherData") + "</s:sequence></s:complexType>"
    '<s:complexType name="ArrayOfWeatherData"><s:sequence><s:element minOccurs="0" '
    'maxOccurs="unbounded" name="WeatherData" type="tns:WeatherData"/></s:sequence>'
    '</s:complexType><s:complexType name="WeatherData"><s:sequence>'
    + _el("Day", "s:string") + _el("MaxTemperatureF", "s:string")
    + "</s:sequence></s:complexType>")
WEATHER_WSDL = asmx_wsdl(WEATHER_NS, "WeatherForecast",
                         [("GetWeatherByZipCode", _el("ZipCode", "s:string"),
                           _el("GetWeatherByZipCodeResult", "tns:WeatherForecasts", False))],
                         WEATHER_TYPES)

CALC_WSDL = f"""<?xml version="1.0"?>
<definitions name="Calc" targetNamespace="{CALC_NS}" xmlns:tns="{CALC_NS}"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
  xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns="http://schemas.xmlsoap.org/wsdl/">
 <types><xsd:schema targetNamespace="{CALC_NS}">
  <xsd:complexType name="StringArray"><xsd:complexContent>
   <xsd:restriction base="soapenc:Array">
    <xsd:attribute ref="soapenc:arrayType" wsdl:arrayType="xsd:string[]"/>
   </xsd:restriction></xsd:complexContent></xsd:complexType>
 </xsd:schema></types>
 <message name="AddRequest"><part name="a" type="xsd:int"/><part name="b" type="xsd:int"/></message>
 <message name="AddResponse"><part name="return" type="xsd:int"/></message>
 <message name="JoinRequest"><part name="items" type="tns:StringArray"/>
  <part name="separator" type="xsd:string"/></message>
 <message name="JoinResponse"><part name="return" type="xsd:string"/></message>
 <portType name="CalcPort">
  <operation name="Add"><input message="tns:AddRequest"/>
   <output message="tns:AddResponse"/></operation>
  <operation name="Join"><input message="tns:JoinRequest"/>
   <output message="tns:JoinResponse"/></operation>
 </portType>
 <binding name="CalcBinding" type="tns:CalcPort">
  <soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
  <operation name="Add"><soap:operation soapAction="urn:calc#Add"/>
   <input><soap:body use="encoded" namespace="{CALC_NS}"
     encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></input>
   <output><soap:body use="encoded" namespace="{CALC_NS}"
     encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></output></operation>
  <operation name="Join"><soap:operation soapAction="urn:calc#Join"/>
   <input><soap:body use="encoded" namespace="{CALC_NS}"
     encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></input>
   <output><soap:body use="encoded" namespace="{CALC_NS}"
     encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></output></operation>
 </binding>
 <service name="Calc"><port name="CalcPort" binding="tns:CalcBinding">
  <soap:address location="http://example.invalid/calc"/></port></service>
</definitions>
"""

WSDLS = {"/Tests.asmx": TESTS_WSDL, "/WeatherForecast.asmx": WEATHER_WSDL,
         "/calc": CALC_WSDL}


# --------------------------------------------------------------------------- server


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    #: the request line named an absolute URL: the server was used as a proxy
    proxied: bool = False


@dataclass
class Answer:
    status: str
    body: bytes
    content_type: str = "text/xml; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class _Threaded(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def envelope(content: str, ns: str = SOAP11) -> bytes:
    prefix = "soap" if ns == SOAP11 else "soap12"
    return (f'<?xml version="1.0" encoding="utf-8"?><{prefix}:Envelope xmlns:{prefix}='
            f'"{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><{prefix}:Body>{content}'
            f"</{prefix}:Body></{prefix}:Envelope>").encode()


def fault(ns: str, text: str) -> bytes:
    if ns == SOAP11:
        content = (f"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>"
                   f"{escape(text)}</faultstring><detail/></soap:Fault>")
    else:
        content = (f"<soap12:Fault><soap12:Code><soap12:Value>soap12:Receiver</soap12:Value>"
                   f'</soap12:Code><soap12:Reason><soap12:Text xml:lang="en">{escape(text)}'
                   "</soap12:Text></soap12:Reason></soap12:Fault>")
    return envelope(content, ns)


class SoapServer:
    """The server; ``requests`` holds what it received, in order."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.slow_seconds = 3.0
        self._server = make_server("127.0.0.1", 0, self.app, server_class=_Threaded,
                                   handler_class=_Quiet)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_port
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "/Tests.asmx") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def calls(self) -> list[Received]:
        """The SOAP calls (POSTs) received."""
        return [r for r in self.requests if r.method == "POST"]

    # ---- the WSGI application

    def app(self, environ: dict[str, Any],
            start_response: Callable[[str, list[tuple[str, str]]], Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        proxied = path.startswith("http://") or path.startswith("https://")
        if proxied:
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): str(v) for k, v in environ.items()
                   if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        self.requests.append(Received(environ["REQUEST_METHOD"], path,
                                      environ.get("QUERY_STRING", ""), headers, body, proxied))
        answer = self.answer(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""),
                             headers, body)
        start_response(answer.status, [("Content-Type", answer.content_type),
                                       ("Content-Length", str(len(answer.body))),
                                       *answer.headers])
        return [answer.body]

    def answer(self, method: str, path: str, query: str, headers: dict[str, str],
               body: bytes) -> Answer:
        if method == "GET":
            if query.lower() == "wsdl" and path in WSDLS:
                return Answer("200 OK", WSDLS[path].encode())
            return Answer("404 Not Found", b"<html>no such page</html>", "text/html")
        if path == "/broken":
            return Answer("500 Internal Server Error",
                          b"<html><body>Internal error: the database is down</body></html>",
                          "text/html")
        root = etree.fromstring(body)
        ns = etree.QName(root).namespace or SOAP11
        body_el = root.find(f"{{{ns}}}Body")
        assert body_el is not None
        call = body_el[0]
        name = etree.QName(call).localname
        args = {etree.QName(c).localname: c for c in call}
        if path == "/calc":
            return self._calc(name, args)
        handler = getattr(self, f"_op_{name}", None)
        if handler is None:
            return Answer("500 Internal Server Error", fault(ns, f"no method {name}"))
        result = handler(args, headers)
        if isinstance(result, Answer):
            if result.status.startswith("500"):
                result.body = fault(ns, result.body.decode())
            return result
        tns = WEATHER_NS if path == "/WeatherForecast.asmx" else TESTS_NS
        inner = "" if result is None else f"<{name}Result>{result}</{name}Result>"
        content_type = "text/xml; charset=utf-8" if ns == SOAP11 else \
            "application/soap+xml; charset=utf-8"
        return Answer("200 OK", envelope(f'<{name}Response xmlns="{tns}">{inner}'
                                             f"</{name}Response>", ns), content_type)

    # ---- the Tests service

    @staticmethod
    def _text(args: dict[str, Any], name: str) -> str:
        return "" if name not in args else (args[name].text or "")

    def _op_Echo(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        return escape(self._text(args, "text"))

    def _op_Add(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        return str(int(self._text(args, "a")) + int(self._text(args, "b")))

    def _op_Describe(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        return "|".join(self._text(args, k) for k in ("when", "price", "active", "ratio",
                                                      "color", "day"))

    def _op_SumAll(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        values = args.get("values")
        return str(sum(int(c.text) for c in values) if values is not None else 0)

    def _op_PlaceOrder(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        order = args["order"]
        parts = [f"{etree.QName(c).localname}={c.text or ''}" for c in order.iter()
                 if len(c) == 0]
        return escape(";".join(parts))

    def _op_GetOrder(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        return (f"<Id>{self._text(args, 'id')}</Id><Customer>Contoso &amp; Co</Customer>"
                "<Lines><Line><Sku>A-1</Sku><Qty>2</Qty></Line><Line><Sku>B-7</Sku>"
                "<Qty>5</Qty></Line></Lines>")

    def _op_Ratio(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        return "0.7236"

    def _op_Nothing(self, args: dict[str, Any], headers: dict[str, str]) -> None:
        return None

    def _op_Boom(self, args: dict[str, Any], headers: dict[str, str]) -> Answer:
        return Answer("500 Internal Server Error",
                      b"Server was unable to process request. ---> Boom!")

    def _op_Slow(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        time.sleep(self.slow_seconds)
        return "late"

    def _op_Secret(self, args: dict[str, Any], headers: dict[str, str]) -> Answer | str:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if headers.get("Authorization") != f"Basic {token}":
            return Answer("401 Unauthorized", b"<html>401 - Unauthorized</html>",
                          "text/html", [("WWW-Authenticate", 'Basic realm="tests"')])
        return "the secret"

    def _op_GetWeatherByZipCode(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        zip_code = self._text(args, "ZipCode")
        return ("<Latitude>33.7489</Latitude><Longitude>84.3881</Longitude>"
                f"<PlaceName>ATLANTA {escape(zip_code)}</PlaceName><Details><WeatherData>"
                "<Day>Monday</Day><MaxTemperatureF>88</MaxTemperatureF></WeatherData>"
                "</Details>")

    # ---- the Calc service (rpc/encoded)

    def _calc(self, name: str, args: dict[str, Any]) -> Answer:
        if name == "Add":
            value, type_ = str(int(args["a"].text) + int(args["b"].text)), "xsd:int"
        else:
            items = [c.text or "" for c in args["items"]]
            value, type_ = escape((args["separator"].text or "").join(items)), "xsd:string"
        content = (f'<ns1:{name}Response xmlns:ns1="{CALC_NS}" soap:encodingStyle='
                   f'"http://schemas.xmlsoap.org/soap/encoding/"><return xsi:type="{type_}">'
                   f"{value}</return></ns1:{name}Response>")
        return Answer("200 OK", envelope(content))
