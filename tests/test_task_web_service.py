"""The Web Service Task against a real SOAP server on loopback (tests/websvc_server.py):
the exact envelopes it sends (parameters typed and in the WSDL's order, SOAP 1.1 and 1.2,
document/literal and rpc/encoded), what it keeps (files and variables), the WSDL download,
credentials, proxy, HTTPS with a client certificate, time-outs, faults, and the errors a
user sees."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from builders import VERSIONS, Exe, Var, connection_manager, el, package
from click.testing import CliRunner
from taskrun import PackageRun
from websvc_server import (
    CALC_NS,
    CALC_WSDL,
    PASSWORD,
    TESTS_NS,
    TESTS_WSDL,
    USER,
    WEATHER_WSDL,
    SoapServer,
)

from ssisrun.cli import cli
from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import RunRequest
from ssisrun.tasks import object_data_body
from ssisrun.tasks.web_service import read_method

NS = "www.microsoft.com/sqlserver/dts/tasks/webservicetask"
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "dtsx"
HEAD = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
        '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi='
        '"http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd='
        '"http://www.w3.org/2001/XMLSchema"><soap:Body>')
TAIL = "</soap:Body></soap:Envelope>"
DECL = '<?xml version="1.0" encoding="utf-8"?>\n'


@pytest.fixture
def server() -> Iterator[SoapServer]:
    srv = SoapServer()
    yield srv
    srv.stop()


# --------------------------------------------------------------------------- builders


def value_xml(value: Any) -> str:
    """A parameter value as the package keeps it: text -> PrimitiveValue, ("var", name)
    -> VariableValue, ("enum", text) -> EnumValue, list -> ArrayValue, dict ->
    ComplexValue."""
    if isinstance(value, tuple) and value[0] == "var":
        return f"<WSTask:VariableValue>{escape(value[1])}</WSTask:VariableValue>"
    if isinstance(value, tuple) and value[0] == "enum":
        return (f'<WSTask:EnumValue WSTask:PossibleValues="Red;Green;Blue">{escape(value[1])}'
                "</WSTask:EnumValue>")
    if isinstance(value, list):
        return f"<WSTask:ArrayValue>{''.join(value_xml(v) for v in value)}</WSTask:ArrayValue>"
    if isinstance(value, dict):
        props = "".join(f"<WSTask:ComplexProperty WSTask:Name={quoteattr(k)}>{value_xml(v)}"
                        "</WSTask:ComplexProperty>" for k, v in value.items())
        return f"<WSTask:ComplexValue>{props}</WSTask:ComplexValue>"
    return f"<WSTask:PrimitiveValue>{escape(str(value))}</WSTask:PrimitiveValue>"


def ws_task(method: str | None, params: dict[str, Any] | None = None, *, name: str = "WS",
            expressions: dict[str, str] | None = None, **attrs: Any) -> Exe:
    values = {"ConnectionName": "HTTP", "Service": "Tests", "WSDLFile": "C:\\WS\\tests.wsdl",
              "OverwriteWSDLFile": "True", "OutputType": "Variable",
              "OutputLocation": "User::Out", **attrs}
    head = " ".join(f"WSTask:{k}={quoteattr(str(v))}" for k, v in values.items())
    info = ""
    if method is not None:
        items = "".join(
            f'<WSTask:ParamInfo WSTask:Name={quoteattr(k)} WSTask:Datatype="string" '
            f'WSTask:ParamType="Primitive" WSTask:SeqNumber="{i}">{value_xml(v)}'
            "</WSTask:ParamInfo>" for i, (k, v) in enumerate((params or {}).items()))
        info = (f'<WSTask:MethodInfo WSTask:MethodName="{method}" WSTask:MessageName="">'
                f"<WSTask:Documentation>test</WSTask:Documentation>{items}"
                "</WSTask:MethodInfo>")
    return Exe(name, "Microsoft.WebServiceTask", expressions=dict(expressions or {}),
               object_data=f'<WSTask:WebServiceTaskData xmlns:WSTask="{NS}" {head}>{info}'
                           "</WSTask:WebServiceTaskData>")


def http_cm(url: str, version: int = 8, **inner: Any) -> str:
    """An HTTP connection manager as the designer writes it: the settings on the nested
    ``DTS:HttpConnection`` element."""
    return connection_manager(version, "HTTP", "HTTP", url,
                              inner_children=el(version, "HttpConnection",
                                                {"ServerURL": url, **inner}))


def file_cm(name: str, path: Path | str, version: int = 8) -> str:
    return connection_manager(version, name, "FILE", str(path), inner={"FileUsageType": 1})


def paths(tmp: Path) -> RunRequest:
    (tmp / "WS").mkdir(exist_ok=True)
    return RunRequest(path_map=[("C:\\WS\\", f"{tmp}/WS/")])


def run(server: SoapServer, tmp: Path, method: str | None, params: dict[str, Any] | None = None, *,
        version: int = 8, variables: tuple[Var, ...] = (),
        connections: tuple[str, ...] = (),
        url: str | None = None, request: RunRequest | None = None, **attrs: Any) -> PackageRun:
    req = request or paths(tmp)
    if request is not None:
        req.path_map.append(("C:\\WS\\", f"{tmp}/WS/"))
        (tmp / "WS").mkdir(exist_ok=True)
    xml = package(version, [ws_task(method, params, **attrs)],
                  variables=[Var("Out"), *variables],
                  connections=[http_cm(url or server.url() + "?wsdl", version), *connections])
    return PackageRun(xml, req)


def call_body(inner: str) -> str:
    return HEAD + inner + TAIL


# --------------------------------------------------------------------------- calls


@pytest.mark.parametrize("version", VERSIONS)
def test_add_sends_typed_parameters_and_keeps_the_result(server: SoapServer, tmp_path: Path,
                                                         version: int) -> None:
    r = run(server, tmp_path, "Add", {"b": "40", "a": " 2"}, version=version)
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<int>42</int>"
    [wsdl_get, call] = server.requests
    # the WSDL is downloaded from ServerURL (OverwriteWSDLFile) into the mapped WSDLFile
    assert (wsdl_get.method, wsdl_get.path, wsdl_get.query) == ("GET", "/Tests.asmx", "wsdl")
    assert (tmp_path / "WS" / "tests.wsdl").read_text() == TESTS_WSDL
    # the call goes to ServerURL without ?wsdl, the parameters in the WSDL's order
    assert (call.path, call.query) == ("/Tests.asmx", "")
    assert call.body.decode() == call_body(
        f'<Add xmlns="{TESTS_NS}"><a>2</a><b>40</b></Add>')
    assert call.headers["Soapaction"] == f'"{TESTS_NS}Add"'
    assert call.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert "Authorization" not in call.headers


def test_a_variable_parameter_and_the_result_in_a_file(server: SoapServer,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    out.write_text("old content that is replaced")
    r = run(server, tmp_path, "Echo", {"text": ("var", "User::Greeting")},
            variables=(Var("Greeting", value="Grüße <&> \"quoted\""),),
            connections=(file_cm("Result", out),), OutputType="File", OutputLocation="Result")
    assert r.ok, r.errors
    assert server.calls[0].body.decode() == call_body(
        f'<Echo xmlns="{TESTS_NS}"><text>Grüße &lt;&amp;&gt; "quoted"</text></Echo>')
    assert out.read_text(encoding="utf-8") == (
        DECL + "<string>Grüße &lt;&amp;&gt; \"quoted\"</string>")
    assert r.var("User::Out") == ""  # OutputType File: the variable is left alone


def test_output_type_left_out_means_a_file_and_numbers_are_read_too(server: SoapServer,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "ratio.xml"
    task = ws_task("Ratio", OutputType="File", OutputLocation="Result")
    task.object_data = task.object_data.replace('WSTask:OutputType="File" ', "")
    xml = package(8, [task], connections=[http_cm(server.url()), file_cm("Result", out)])
    r = PackageRun(xml, paths(tmp_path))
    assert r.ok, r.errors
    assert out.read_text() == DECL + "<double>0.7236</double>"
    # a ServerURL without ?wsdl gets it for the download
    assert (server.requests[0].path, server.requests[0].query) == ("/Tests.asmx", "wsdl")


def test_values_are_written_as_their_xsd_types_in_the_wsdl_order(server: SoapServer,
                                                                 tmp_path: Path) -> None:
    variables = [Var("When", 7, "1/31/2024 1:45:00 PM"), Var("Price", 14, "12.50"),
                 Var("Active", 11, "-1")]
    r = run(server, tmp_path, "Describe",
            {"day": "2024-02-29T08:00:00", "color": ("enum", "Green"), "ratio": "1.50",
             "active": ("var", "User::Active"), "price": ("var", "User::Price"),
             "when": ("var", "User::When")}, variables=tuple(variables))
    assert r.ok, r.errors
    assert server.calls[0].body.decode() == call_body(
        f'<Describe xmlns="{TESTS_NS}"><when>2024-01-31T13:45:00</when><price>12.50</price>'
        "<active>true</active><ratio>1.5</ratio><color>Green</color><day>2024-02-29</day>"
        "</Describe>")
    assert r.var("User::Out") == DECL + (
        "<string>2024-01-31T13:45:00|12.50|true|1.5|Green|2024-02-29</string>")


def test_values_that_do_not_fit_their_type_fail_before_any_call(server: SoapServer,
                                                                tmp_path: Path) -> None:
    good = {"when": "2024-01-31T00:00:00", "price": "1", "active": "False", "ratio": "2",
            "color": ("enum", "Red"), "day": "2024-01-01"}
    for key, bad, expected in [("price", "12,5x", "'price' must be a decimal number"),
                               ("color", ("enum", "Purple"), "not one of the values of "
                                                             "Color: Red, Green, Blue"),
                               ("active", "maybe", "'active' must be true or false"),
                               ("when", "yesterday", "'when' must be a date and time")]:
        r = run(server, tmp_path, "Describe", {**good, key: bad})
        assert not r.ok and expected in r.error, r.errors
    r = run(server, tmp_path, "Add", {"a": "1", "b": "3000000000"})
    assert "'b' is 3000000000, outside the range of int" in r.error
    r = run(server, tmp_path, "Add", {"a": "1"})
    assert "takes the parameter 'b' and the task gives it no value" in r.error
    assert server.calls == []


def test_an_array_parameter_and_a_complex_parameter(server: SoapServer,
                                                    tmp_path: Path) -> None:
    r = run(server, tmp_path, "SumAll", {"values": ["1", ("var", "User::N"), "39"]},
            variables=(Var("N", 3, "2"),))
    assert r.ok, r.errors
    assert server.calls[0].body.decode() == call_body(
        f'<SumAll xmlns="{TESTS_NS}"><values><int>1</int><int>2</int><int>39</int></values>'
        "</SumAll>")
    assert r.var("User::Out") == DECL + "<long>42</long>"
    order = {"Id": "7", "Customer": "Fabrikam",
             "Lines": [{"Sku": "A-1", "Qty": "2"}, {"Qty": ("var", "User::N")}]}
    r = run(server, tmp_path, "PlaceOrder", {"order": order}, variables=(Var("N", 3, "5"),))
    assert r.ok, r.errors
    assert server.calls[1].body.decode() == call_body(
        f'<PlaceOrder xmlns="{TESTS_NS}"><order><Id>7</Id><Customer>Fabrikam</Customer>'
        "<Lines><Line><Sku>A-1</Sku><Qty>2</Qty></Line><Line><Qty>5</Qty></Line></Lines>"
        "</order></PlaceOrder>")


def test_a_complex_result_is_kept_as_its_type_document(server: SoapServer,
                                                       tmp_path: Path) -> None:
    r = run(server, tmp_path, "GetOrder", {"id": "7"})
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + (
        '<Order xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="{TESTS_NS}">\n'
        "  <Id>7</Id>\n  <Customer>Contoso &amp; Co</Customer>\n  <Lines>\n    <Line>\n"
        "      <Sku>A-1</Sku>\n      <Qty>2</Qty>\n    </Line>\n    <Line>\n"
        "      <Sku>B-7</Sku>\n      <Qty>5</Qty>\n    </Line>\n  </Lines>\n</Order>")


def test_a_method_that_returns_nothing_keeps_an_empty_text(server: SoapServer,
                                                           tmp_path: Path) -> None:
    r = run(server, tmp_path, "Nothing", {})
    assert r.ok, r.errors
    assert r.var("User::Out") == ""
    assert server.calls[0].body.decode() == call_body(f'<Nothing xmlns="{TESTS_NS}"/>')


def test_soap_12_when_the_wsdl_has_no_soap_11_port(server: SoapServer, tmp_path: Path) -> None:
    (tmp_path / "WS").mkdir()
    only12 = TESTS_WSDL.replace('<wsdl:port name="TestsSoap" binding="tns:TestsSoap">'
                                '<soap:address location="http://example.invalid/Tests.asmx"/>'
                                "</wsdl:port>", "")
    assert only12 != TESTS_WSDL
    (tmp_path / "WS" / "tests.wsdl").write_text(only12)
    # a trailing space in WSDLFile, as in a corpus package, is dropped
    r = run(server, tmp_path, "Add", {"a": "20", "b": "22"}, OverwriteWSDLFile="False",
            WSDLFile="C:\\WS\\tests.wsdl ", request=RunRequest())
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<int>42</int>"
    [call] = server.requests  # no download: OverwriteWSDLFile is False
    assert call.headers["Content-Type"] == (
        f'application/soap+xml; charset=utf-8; action="{TESTS_NS}Add"')
    assert call.body.decode() == (
        '<?xml version="1.0" encoding="utf-8"?><soap12:Envelope xmlns:soap12='
        '"http://www.w3.org/2003/05/soap-envelope" xmlns:xsi="http://www.w3.org/2001/'
        'XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap12:Body>'
        f'<Add xmlns="{TESTS_NS}"><a>20</a><b>22</b></Add></soap12:Body></soap12:Envelope>')


def test_rpc_encoded_calls_with_a_soap_array(server: SoapServer, tmp_path: Path) -> None:
    r = run(server, tmp_path, "Add", {"a": "2", "b": "3"}, Service="Calc",
            url=server.url("/calc"))
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<int>5</int>"
    assert (tmp_path / "WS" / "tests.wsdl").read_text() == CALC_WSDL
    enc = "http://schemas.xmlsoap.org/soap/encoding/"
    head = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/'
            'XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:soapenc="{enc}"><soap:Body>')
    assert server.calls[0].body.decode() == head + (
        f'<tns:Add xmlns:tns="{CALC_NS}" soap:encodingStyle="{enc}"><a xsi:type="xsd:int">2'
        '</a><b xsi:type="xsd:int">3</b></tns:Add>') + TAIL
    assert server.calls[0].headers["Soapaction"] == '"urn:calc#Add"'
    r = run(server, tmp_path, "Join", {"separator": "+", "items": ["x", "y & z"]},
            Service="Calc", url=server.url("/calc"))
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<string>x+y &amp; z</string>"
    assert server.calls[1].body.decode() == head + (
        f'<tns:Join xmlns:tns="{CALC_NS}" soap:encodingStyle="{enc}"><items '
        'xsi:type="soapenc:Array" soapenc:arrayType="xsd:string[2]"><item '
        'xsi:type="xsd:string">x</item><item xsi:type="xsd:string">y &amp; z</item></items>'
        '<separator xsi:type="xsd:string">+</separator></tns:Join>') + TAIL


def test_property_expressions_replace_the_settings(server: SoapServer, tmp_path: Path) -> None:
    xml = package(8, [ws_task("Ratio", Service="Nope", OutputLocation="User::Nope",
                              expressions={"ServiceName": '"Tests"',
                                           "OutputLocation": '"User::Out"'})],
                  variables=[Var("Out")], connections=[http_cm(server.url())])
    r = PackageRun(xml, paths(tmp_path))
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<double>0.7236</double>"


# --------------------------------------------------------------------------- credentials


def test_basic_authentication_from_conn_and_never_shown(server: SoapServer,
                                                        tmp_path: Path) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/Tests.asmx?wsdl"
    r = run(server, tmp_path, "Secret", {}, request=RunRequest(connections={"HTTP": url}))
    assert r.ok, r.errors
    assert r.var("User::Out") == DECL + "<string>the secret</string>"
    assert all(c.headers["Authorization"].startswith("Basic ") for c in server.requests)
    # a domain is sent as DOMAIN\\user, which this server does not know
    domain = f"ServerURL={url};ServerDomain=CORP"
    r = run(server, tmp_path, "Secret", {}, request=RunRequest(connections={"HTTP": domain}))
    sent = base64.b64decode(server.requests[-1].headers["Authorization"][6:]).decode()
    assert sent == f"CORP\\{USER}:{PASSWORD}" and "HTTP 401" in r.error
    keywords = (f"ServerURL={server.url()};ServerUserName={USER};ServerPassword=wrong-pw;"
                "TimeOut=5")
    r = run(server, tmp_path, "Secret", {}, request=RunRequest(connections={"HTTP": keywords}))
    assert not r.ok
    assert "HTTP 401 Unauthorized" in r.error and "user name and password" in r.error
    assert "wrong-pw" not in " ".join(r.errors)


def test_the_password_from_a_property_expression(server: SoapServer, tmp_path: Path) -> None:
    cm = connection_manager(8, "HTTP", "HTTP", server.url(),
                            expressions={"ServerPassword": "@[User::Pw]"},
                            inner_children=el(8, "HttpConnection",
                                              {"ServerURL": server.url(),
                                               "UseServerCredentials": True,
                                               "ServerUserName": USER}))
    xml = package(8, [ws_task("Secret")], variables=[Var("Out"), Var("Pw", value=PASSWORD)],
                  connections=[cm])
    r = PackageRun(xml, paths(tmp_path))
    assert r.ok, r.errors
    # UseServerCredentials left out (False): the package's user name is not sent
    cm_off = cm.replace('DTS:UseServerCredentials="True" ', "")
    assert cm_off != cm
    r = PackageRun(package(8, [ws_task("Secret")],
                           variables=[Var("Out"), Var("Pw", value=PASSWORD)],
                           connections=[cm_off]), paths(tmp_path))
    assert not r.ok and "HTTP 401" in r.error


def test_a_proxy_with_credentials_and_the_bypass_for_local_addresses(
        server: SoapServer, tmp_path: Path) -> None:
    conn = ("ServerURL=http://service.example.invalid/Tests.asmx?wsdl;UseProxy=True;"
            f"ProxyURL=127.0.0.1:{server.port};ProxyUserName=bob;ProxyPassword=pr0xy")
    r = run(server, tmp_path, "Ratio", {}, request=RunRequest(connections={"HTTP": conn}))
    assert r.ok, r.errors
    assert [req.proxied for req in server.requests] == [True, True]
    assert server.requests[1].path == "/Tests.asmx"
    assert server.requests[1].headers["Proxy-Authorization"].startswith("Basic ")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    conn = (f"ServerURL={server.url()};UseProxy=True;ProxyURL=http://127.0.0.1:{closed};"
            "BypassProxyOnLocal=True")
    r = run(server, tmp_path, "Ratio", {}, request=RunRequest(connections={"HTTP": conn}))
    assert r.ok, r.errors
    assert not server.requests[-1].proxied
    conn = (f"ServerURL={server.url()};UseProxy=True;ProxyURL=http://127.0.0.1:{closed};"
            "BypassList=\"*.example.com;127.0.0.*\"")
    r = run(server, tmp_path, "Ratio", {}, request=RunRequest(connections={"HTTP": conn}))
    assert r.ok, r.errors
    # without the bypass the closed proxy port is used, and the error names the URL
    r = run(server, tmp_path, "Ratio", {}, request=RunRequest(
        connections={"HTTP": conn.replace("127.0.0.*", "10.*")}))
    assert "cannot reach" in r.error and "Connection refused" in r.error


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)

    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_with_a_client_certificate(tmp_path: Path) -> None:
    server_cert, server_key = _certificate(tmp_path, "server")
    client_cert, client_key = _certificate(tmp_path, "client")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(client_cert)
    srv = SoapServer(tls)
    try:
        base = f"ServerURL={srv.url()}?wsdl;CAFile={server_cert}"
        r = run(srv, tmp_path, "Add", {"a": "1", "b": "1"}, request=RunRequest(
            connections={"HTTP": f"{base};ClientCertificate={client_cert};"
                                 f"ClientKey={client_key}"}))
        assert r.ok, r.errors
        assert r.var("User::Out") == DECL + "<int>2</int>"
        # the package asks for a certificate from the Windows store: say what to do
        xml = package(8, [ws_task("Add", {"a": "1", "b": "1"})], variables=[Var("Out")],
                      connections=[http_cm(srv.url(), UseSecureConnection=True,
                                           CertificateIdentifier="CN=etl")])
        r = PackageRun(xml, paths(tmp_path))
        assert "Windows certificate store (CN=etl)" in r.error and "ClientCertificate" in r.error
        # a server whose certificate is not trusted is refused
        r = run(srv, tmp_path, "Add", {"a": "1", "b": "1"},
                request=RunRequest(connections={"HTTP": srv.url()}))
        assert "CERTIFICATE_VERIFY_FAILED" in r.error
    finally:
        srv.stop()


# --------------------------------------------------------------------------- failures


def test_a_soap_fault_fails_with_its_text_and_the_http_status(server: SoapServer,
                                                              tmp_path: Path) -> None:
    r = run(server, tmp_path, "Boom", {})
    assert r.result.result == ExecResult.Failure
    assert "answered Boom with a SOAP fault (HTTP 500 Internal Server Error): Server was " \
           "unable to process request. ---> Boom! (fault code soap:Server)" in r.error
    assert r.var("User::Out") == ""


def test_the_time_out_of_the_connection_manager(server: SoapServer, tmp_path: Path) -> None:
    server.slow_seconds = 2.5
    xml = package(8, [ws_task("Slow")], variables=[Var("Out")],
                  connections=[http_cm(server.url(), TimeOut=1)])
    r = PackageRun(xml, paths(tmp_path))
    assert "did not answer within 1 seconds (TimeOut of connection manager 'HTTP')" in r.error


def test_errors_name_what_is_there(server: SoapServer, tmp_path: Path) -> None:
    r = run(server, tmp_path, "Multiply", {})
    assert "the service 'Tests' has no method 'Multiply' (MethodName); its methods are: " \
           "Echo, Add, Describe, SumAll, PlaceOrder, GetOrder, Ratio, Nothing" in r.error
    r = run(server, tmp_path, "Add", {}, Service="Maths")
    assert "has no service 'Maths' (Service); its services are: Tests" in r.error
    r = run(server, tmp_path, "Add", {"a": "1", "c": "2"})
    assert "has no parameter 'c' (ParamInfo); its parameters are: a, b" in r.error
    r = run(server, tmp_path, None)
    assert "names no method (MethodInfo/MethodName); the methods of 'Tests' are: Echo" \
           in r.error
    r = run(server, tmp_path, "Ratio", OutputLocation="User::Missing")
    assert 'Variable "User::Missing" (OutputLocation) does not exist' in r.error
    r = run(server, tmp_path, "Echo", {"text": ("var", "User::Nope")})
    assert 'Variable "User::Nope" (parameter \'text\') does not exist' in r.error
    assert server.calls == []


def test_a_wsdl_that_is_not_a_wsdl_or_imports_its_schema(server: SoapServer,
                                                        tmp_path: Path) -> None:
    (tmp_path / "WS").mkdir()
    wsdl = tmp_path / "WS" / "tests.wsdl"
    wsdl.write_text("<html><body>Service unavailable</body></html>")
    r = run(server, tmp_path, "Add", {}, OverwriteWSDLFile="False", request=RunRequest())
    assert "is not a WSDL 1.1 document (it is <html>)" in r.error
    wsdl.write_text(TESTS_WSDL.replace(
        "<wsdl:types>", '<wsdl:types><s:schema><s:import namespace="urn:x" '
                        'schemaLocation="http://example.invalid/x.xsd"/></s:schema>'))
    r = run(server, tmp_path, "Add", {}, OverwriteWSDLFile="False", request=RunRequest())
    assert "'http://example.invalid/x.xsd', which ssisrun does not load" in r.error


def _exec(tmp_path: Path, xml: str, *args: str) -> tuple[int, str]:
    """``ssisrun exec`` on the package (through Click, in this process): exit code, output."""
    file = tmp_path / "ws.dtsx"
    file.write_text(xml, encoding="utf-8")
    result = CliRunner().invoke(cli, ["exec", "--plain", "--no-project", str(file),
                                      "--path-map", f"C:\\WS\\={tmp_path}/WS/", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("case", ["missing WSDL file", "unknown method", "unreachable server",
                                  "HTTP 500", "HTTP 404 for the WSDL"])
def test_bad_input_fails_with_exit_1_and_a_clear_message(server: SoapServer, tmp_path: Path,
                                                         case: str) -> None:
    (tmp_path / "WS").mkdir()
    attrs: dict[str, Any] = {}
    url = server.url() + "?wsdl"
    method = "Add"
    if case == "missing WSDL file":
        attrs["OverwriteWSDLFile"] = "False"
        expected = (f"the WSDL file {tmp_path}/WS/tests.wsdl (mapped from C:\\WS\\tests.wsdl) "
                    "does not exist (WSDLFile)")
    elif case == "unknown method":
        method, expected = "Divide", "the service 'Tests' has no method 'Divide'"
    elif case == "unreachable server":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        url = f"http://127.0.0.1:{closed}/Tests.asmx?wsdl"
        expected = f"cannot reach http://127.0.0.1:{closed}/Tests.asmx?wsdl " \
                   "(connection manager 'HTTP'): Connection refused"
    elif case == "HTTP 500":
        (tmp_path / "WS" / "tests.wsdl").write_text(TESTS_WSDL)
        attrs["OverwriteWSDLFile"] = "False"
        url = server.url("/broken")
        expected = "answered Add with HTTP 500 Internal Server Error: <html><body>Internal " \
                   "error: the database is down</body></html>"
    else:
        url = server.url("/nothing-here")
        expected = "downloading the WSDL from " + server.url("/nothing-here") + "?wsdl failed: " \
                   "HTTP 404 Not Found (OverwriteWSDLFile is True)"
    xml = package(8, [ws_task(method, {"a": "1", "b": "2"}, **attrs)], variables=[Var("Out")],
                  connections=[http_cm(url)])
    code, output = _exec(tmp_path, xml)
    assert code == 1, output
    assert "Traceback" not in output
    assert expected in " ".join(output.split()), output


def test_ssisrun_exec_with_conn_keeps_the_result_in_a_file(server: SoapServer,
                                                           tmp_path: Path) -> None:
    (tmp_path / "WS").mkdir()
    xml = package(3, [ws_task("Add", {"a": "19", "b": "23"}, OutputType="File",
                              OutputLocation="Result")],
                  connections=[http_cm("http://www.example.invalid/Tests.asmx?wsdl", 3),
                               file_cm("Result", "C:\\WS\\sum.xml", 3)])
    code, output = _exec(tmp_path, xml, "--conn", f"HTTP={server.url()}?WSDL")
    assert code == 0, output
    assert (tmp_path / "WS" / "sum.xml").read_text() == DECL + "<int>42</int>"
    assert server.requests[0].query == "WSDL"


# --------------------------------------------------------------------------- validate


def test_validate_reports_an_unconfigured_task_and_missing_references(tmp_path: Path) -> None:
    empty = Exe("WS", "Microsoft.WebServiceTask",
                object_data=f'<WSTask:WebServiceTaskData xmlns:WSTask="{NS}" '
                            'WSTask:ConnectionName="" WSTask:OutputType="File"/>')
    file = tmp_path / "v.dtsx"
    file.write_text(package(3, [empty]))
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(file)])
    data = json.loads(result.output)
    assert result.exit_code == 1
    [problem] = data["problems"]
    assert "names no HTTP connection manager (ConnectionName)" in problem["message"]
    file.write_text(package(8, [ws_task("Echo", {"text": ("var", "User::Gone")},
                                        OutputLocation="User::Nowhere")],
                            connections=[http_cm("http://x.invalid/s.asmx")]))
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(file)])
    messages = " ".join(p["message"] for p in json.loads(result.output)["problems"])
    assert "User::Gone" in messages and "User::Nowhere" in messages


# --------------------------------------------------------------------------- corpus

CH14 = CORPUS / "lucmilot+SSIS_2014_Book" / "850879_c14_download" / "CH14_code" / "CH14_Project"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_the_corpus_web_service_task_package_runs_against_loopback(server: SoapServer,
                                                                   tmp_path: Path) -> None:
    package_file = CH14 / "Web Service Task.dtsx"
    for folder in ("Data", "data"):
        (tmp_path / "ProSSIS" / folder).mkdir(parents=True)
    (tmp_path / "ProSSIS" / "Data" / "weather.wsdl").write_text("stale copy")
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project", str(package_file),
         "--path-map", f"C:\\ProSSIS\\={tmp_path}/ProSSIS/", "--conn",
         f"HTTP Connection Manager={server.url('/WeatherForecast.asmx')}?wsdl"],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "ProSSIS" / "Data" / "weather.wsdl").read_text() == WEATHER_WSDL
    assert server.calls[0].body.decode() == call_body(
        '<GetWeatherByZipCode xmlns="http://www.webservicex.net"><ZipCode>30303</ZipCode>'
        "</GetWeatherByZipCode>")
    assert (tmp_path / "ProSSIS" / "data" / "weatheroutput.xml").read_text() == DECL + (
        '<WeatherForecasts xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="http://www.webservicex.net">\n'
        "  <Latitude>33.7489</Latitude>\n  <Longitude>84.3881</Longitude>\n"
        "  <PlaceName>ATLANTA 30303</PlaceName>\n  <Details>\n    <WeatherData>\n"
        "      <Day>Monday</Day>\n      <MaxTemperatureF>88</MaxTemperatureF>\n"
        "    </WeatherData>\n  </Details>\n</WeatherForecasts>")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_the_corpus_method_settings_are_read(tmp_path: Path) -> None:
    """Enum parameters (v2 and v6 packages), a variable output and a WSDL path with a
    trailing space, as the book's packages write them."""
    for name in ("Web Service Conversion.dtsx", "Package.dtsx"):
        pkg = load_package(CH14 / name)
        [task] = [e for e in pkg.walk() if e.executable_type == "Microsoft.WebServiceTask"]
        method, message, params = read_method(object_data_body(task))  # type: ignore[arg-type]
        assert (method, message) == ("ConversionRate", "")
        assert [(p.name, p.param_type, p.value.kind, p.value.text) for p in params] == [
            ("FromCurrency", "Enum", "text", "USD"), ("ToCurrency", "Enum", "text", "EUR")]
    chapter3 = CORPUS / "lucmilot+SSIS_2014_Book" / "850879_c03_download" / "Chapter3"
    shutil.copy(chapter3 / "WebServiceTask.dtsx", tmp_path / "c3.dtsx")
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(tmp_path / "c3.dtsx")])
    messages = [p["message"] for p in json.loads(result.output)["problems"]]
    assert not any("Web Service" in m or "WebService" in m for m in messages), messages
