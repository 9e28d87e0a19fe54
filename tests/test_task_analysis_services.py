"""The Analysis Services Execute DDL and Processing tasks against a loopback XMLA endpoint
(tests/xmla_server.py, as msmdpump.dll presents Analysis Services over HTTP): the command
each task sends (TMSL, XMLA, the processing Batch) and its Catalog, DDL from direct input,
a file or a variable, property expressions, Basic authentication, the errors, warnings,
SOAP faults and HTTP failures Analysis Services reports, timeouts, cancellation, and the
connection strings ssisrun cannot use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import VERSIONS, Exe, Var, connection_manager, package
from lxml import etree
from taskrun import PackageRun
from xmla_server import XmlaServer

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "dtsx"
USER, PASSWORD = "CORP\\etl", "olap-S3cret!"
ENGINE_NS = "http://schemas.microsoft.com/analysisservices/2003/engine"

_TOKEN = "PublicKeyToken=89845dcd8080cc91"
_DOTNET = {2: "9.0.242.0", 3: "10.0.0.0", 6: "11.0.0.0"}


def task_type(version: int, kind: str) -> str:
    """How each format version spells the two task types."""
    if version == 8:
        return {"ddl": "Microsoft.ASExecuteDDLTask", "process": "Microsoft.DTSProcessingTask"}[
            kind]
    name = {"ddl": "ASExecuteDDLTask", "process": "DTSProcessingTask"}[kind]
    return (f"Microsoft.DataTransformationServices.Tasks.DTSProcessingTask.{name}, "
            f"Microsoft.SqlServer.ASTasks, Version={_DOTNET[version]}, Culture=neutral, "
            f"{_TOKEN}")


@pytest.fixture
def xmla() -> Iterator[XmlaServer]:
    server = XmlaServer({USER: PASSWORD})
    yield server
    server.stop()


def ok(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Success, r.descriptions(EventKind.OnError)


def failed(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Failure


def as_cm(version: int = 8, connection_string: str = "Data Source=olapsrv;Initial Catalog="
          "Sales;Provider=MSOLAP.8;Integrated Security=SSPI;Impersonation Level=Impersonate;",
          name: str = "SSAS") -> str:
    return connection_manager(version, name, "MSOLAP100", connection_string)


def conn(server: XmlaServer, catalog: str = "Sales", *, user: str = USER,
         password: str = PASSWORD, extra: str = "", name: str = "SSAS") -> RunRequest:
    text = (f"Data Source={server.url};Initial Catalog={catalog};Provider=MSOLAP.8;"
            f"User ID={user};Password={password};{extra}")
    return RunRequest(connections={name: text})


def ddl_task(source: str = "", name: str = "DDL", version: int = 8, *,
             source_type: str = "DirectInput", connection: str = "SSAS",
             expressions: dict[str, str] | None = None) -> Exe:
    attrs = (f"ConnectionName={quoteattr(connection)} SourceType={quoteattr(source_type)} "
             f"Source={quoteattr(source)}")
    return Exe(name, task_type(version, "ddl"), object_data=f"<ASDdlData {attrs} />",
               expressions=dict(expressions or {}))


def processing_task(commands: str, name: str = "Process", version: int = 8, *,
                    connection: str = "SSAS") -> Exe:
    attrs = f"ConnectionName={quoteattr(connection)} ProcessingCommands={quoteattr(commands)}"
    return Exe(name, task_type(version, "process"), object_data=f"<ASProcessingData {attrs} />")


def run(server: XmlaServer, *tasks: Exe, version: int = 8, variables: Sequence[Var] = (),
        connections: Sequence[str] = (), request: RunRequest | None = None,
        **kw: Any) -> PackageRun:
    return PackageRun(package(version, list(tasks), connections=[as_cm(version), *connections],
                              variables=list(variables)), request or conn(server), **kw)


TMSL = {"refresh": {"type": "full", "objects": [{"database": "CorpDwTab"}]}}
STATEMENT_TMSL = (f'<Statement xmlns="urn:schemas-microsoft-com:xml-analysis">\n'
                  f"{json.dumps(TMSL, indent=2)}\n</Statement>")

BATCH = f"""<Batch xmlns="{ENGINE_NS}" Transaction="false" ProcessAffectedObjects="true">
  <ErrorConfiguration>
    <KeyErrorLimit>-1</KeyErrorLimit>
    <KeyNotFound>IgnoreError</KeyNotFound>
    <NullKeyNotAllowed>IgnoreError</NullKeyNotAllowed>
  </ErrorConfiguration>
  <Parallel MaxParallel="2">
    <Process>
      <Object><DatabaseID>Sales</DatabaseID><DimensionID>Dim Customer</DimensionID></Object>
      <Type>ProcessUpdate</Type>
      <WriteBackTableCreation>UseExisting</WriteBackTableCreation>
    </Process>
    <Process>
      <Object><DatabaseID>Sales</DatabaseID><CubeID>Sales</CubeID></Object>
      <Type>ProcessFull</Type>
      <WriteBackTableCreation>UseExisting</WriteBackTableCreation>
    </Process>
  </Parallel>
</Batch>"""


def processed(command: etree._Element | None) -> list[tuple[str, str]]:
    """(object id, process type) of each Process element of a Batch."""
    assert command is not None
    found = []
    for process in command.iter(f"{{{ENGINE_NS}}}Process"):
        obj = process.find(f"{{{ENGINE_NS}}}Object")
        assert obj is not None
        last = [c for c in obj if isinstance(c.tag, str)][-1]
        found.append((last.text or "", process.findtext(f"{{{ENGINE_NS}}}Type") or ""))
    return found


# --------------------------------------------------------------------------- Execute DDL


@pytest.mark.parametrize("version", VERSIONS)
def test_ddl_sends_a_tmsl_statement_with_the_catalog(xmla: XmlaServer, version: int) -> None:
    r = run(xmla, ddl_task(STATEMENT_TMSL, version=version), version=version,
            request=conn(xmla, "CorpDwTab"))
    ok(r)
    [got] = xmla.requests
    assert got.path == "/olap/msmdpump.dll"
    assert got.soap_action == '"urn:schemas-microsoft-com:xml-analysis:Execute"'
    assert got.user == USER
    assert got.raw_command == STATEMENT_TMSL
    assert json.loads(got.statement or "") == TMSL
    assert got.catalog == "CorpDwTab"
    info = r.descriptions(EventKind.OnInformation)
    assert any(f"Analysis Services at {xmla.url} (catalog CorpDwTab) ran the command" in m
               for m in info), info


def test_ddl_wraps_bare_tmsl_json_and_mdx_in_a_statement(xmla: XmlaServer) -> None:
    script = json.dumps({"sequence": {"operations": [
        {"refresh": {"type": "calculate", "objects": [{"database": "Sales"}]}},
        {"refresh": {"type": "dataOnly", "objects": [{"database": "Sales", "table": "A&B <x>"}]}},
    ]}}, indent=2)
    mdx = "DROP MINING MODEL [Targeted Mailing]"
    ok(run(xmla, ddl_task(script, "Json"), ddl_task(mdx, "Mdx")))
    assert sorted(r.statement or "" for r in xmla.requests) == sorted([script, mdx])
    json_request = next(r for r in xmla.requests if "sequence" in r.raw_command)
    assert "A&amp;B &lt;x&gt;" in json_request.raw_command
    assert json.loads(json_request.statement or "") == json.loads(script)


def test_ddl_sends_an_xmla_command_as_written(xmla: XmlaServer) -> None:
    alter = (f'<Alter ObjectExpansion="ObjectProperties" xmlns="{ENGINE_NS}">'
             "<Object><DatabaseID>Sales</DatabaseID></Object>"
             "<ObjectDefinition><Database><ID>Sales</ID><Name>Sales</Name>"
             "<Description>rebuilt by ssisrun</Description></Database></ObjectDefinition>"
             "</Alter>")
    ok(run(xmla, ddl_task('<?xml version="1.0" encoding="utf-8"?>\n' + alter)))
    [got] = xmla.requests
    assert got.raw_command == alter  # the XML declaration removed, nothing else changed
    assert got.command is not None and got.command.tag == f"{{{ENGINE_NS}}}Alter"


def test_ddl_from_a_variable_and_a_property_expression_on_source(xmla: XmlaServer) -> None:
    """As the SSIS book's SSAS_SalesTargets package builds a partition's Process command
    from a variable; and SourceType Variable reads the command from a variable."""
    expr = ('"<Batch xmlns=\\"' + ENGINE_NS + '\\"><Process><Object><DatabaseID>Sales'
            '</DatabaseID><CubeID>Sales</CubeID><MeasureGroupID>Fact Sales Quota'
            '</MeasureGroupID><PartitionID>" + @[User::Partition] + "</PartitionID></Object>'
            '<Type>ProcessFull</Type></Process></Batch>"')
    by_expression = ddl_task("<Batch/>", "By expression", expressions={"Source": expr})
    by_variable = ddl_task("User::Command", "By variable", source_type="Variable")
    r = run(xmla, by_expression, by_variable,
            variables=[Var("Partition", value="Quota 2024"),
                       Var("Command", value=STATEMENT_TMSL)])
    ok(r)
    commands = {r.raw_command for r in xmla.requests}
    assert STATEMENT_TMSL in commands
    batch = next(r for r in xmla.requests if "Batch" in r.raw_command)
    assert batch.command is not None
    assert processed(batch.command) == [("Quota 2024", "ProcessFull")]


def test_ddl_from_a_file_connection_with_a_mapped_path(xmla: XmlaServer, tmp_path: Path) -> None:
    folder = tmp_path / "scripts"
    folder.mkdir()
    create = (f'<Create xmlns="{ENGINE_NS}"><ObjectDefinition><Database><ID>Ünïcode</ID>'
              "<Name>Ünïcode</Name></Database></ObjectDefinition></Create>")
    (folder / "create.xmla").write_bytes(
        b"\xef\xbb\xbf" + f'<?xml version="1.0" encoding="utf-8"?>\r\n{create}\r\n'.encode())
    (folder / "utf16.xmla").write_bytes(("\ufeff" + STATEMENT_TMSL).encode("utf-16-le"))
    files = [connection_manager(8, name, "FILE", f"C:\\Cubes\\{file}")
             for name, file in (("Create script", "create.xmla"), ("Tmsl", "utf16.xmla"))]
    request = conn(xmla)
    request.path_map = [("C:\\Cubes\\", f"{folder}/")]
    r = run(xmla, ddl_task("Create script", "Create", source_type="FileConnection"),
            ddl_task("Tmsl", "Tmsl", source_type="FileConnection"),
            connections=files, request=request)
    ok(r)
    assert sorted(r.raw_command for r in xmla.requests) == sorted([create, STATEMENT_TMSL])


def test_ddl_sends_no_catalog_property_when_the_connection_names_none(xmla: XmlaServer) -> None:
    ok(run(xmla, ddl_task(STATEMENT_TMSL), request=conn(xmla, "")))
    [got] = xmla.requests
    assert got.properties == {}


# --------------------------------------------------------------------------- Processing


@pytest.mark.parametrize("version", VERSIONS)
def test_processing_sends_the_designers_batch(xmla: XmlaServer, version: int) -> None:
    ok(run(xmla, processing_task(BATCH, version=version), version=version))
    [got] = xmla.requests
    assert got.raw_command == BATCH
    assert got.catalog == "Sales"
    command = got.command
    assert command is not None and command.tag == f"{{{ENGINE_NS}}}Batch"
    # the batch settings travel inside the Batch: nothing outside it changes them
    assert command.get("Transaction") == "false"
    assert command.get("ProcessAffectedObjects") == "true"
    parallel = command.find(f"{{{ENGINE_NS}}}Parallel")
    assert parallel is not None and parallel.get("MaxParallel") == "2"
    assert command.findtext(f"{{{ENGINE_NS}}}ErrorConfiguration/{{{ENGINE_NS}}}KeyNotFound") \
        == "IgnoreError"
    assert processed(command) == [("Dim Customer", "ProcessUpdate"), ("Sales", "ProcessFull")]


def test_processing_commands_must_be_xmla_or_tmsl(xmla: XmlaServer) -> None:
    r = run(xmla, processing_task(""))
    failed(r)
    assert "the processing commands (ProcessingCommands) is empty" in r.error
    r = run(xmla, processing_task("refresh everything"))
    failed(r)
    assert "is neither an XMLA command (starting with '<') nor a TMSL script" in r.error
    assert xmla.requests == []
    # a TMSL refresh goes in a Statement
    ok(run(xmla, processing_task(json.dumps(TMSL))))
    assert [json.loads(r.statement or "") for r in xmla.requests] == [TMSL]


def test_a_redirect_names_the_url_to_give(xmla: XmlaServer) -> None:
    xmla.rule("refresh", status=301, headers={"Location": "https://olap.corp/olap/msmdpump.dll"})
    r = run(xmla, ddl_task(STATEMENT_TMSL))
    failed(r)
    assert r.error == (f"{xmla.url} answered HTTP 301 Moved Permanently, a redirect to "
                       "https://olap.corp/olap/msmdpump.dll: give that URL as the Data Source")


# --------------------------------------------------------------------------- answers


def test_xmla_errors_fail_the_task_with_each_code_and_description(xmla: XmlaServer) -> None:
    xmla.rule("Dim Customer", errors=[
        (3238002695, "Errors in the OLAP storage engine: The attribute key cannot be found."),
        (3240034316, "Errors in the OLAP storage engine: An error occurred while processing "
                     "the 'Dim Customer' dimension."),
    ], warnings=[(1092354050, "Server: Operation completed with 3 problems logged.")])
    r = run(xmla, processing_task(BATCH))
    failed(r)
    errors = r.events_of(EventKind.OnError)
    assert [(e.code, e.description) for e in errors[:2]] == [
        (0xC1000007, "Errors in the OLAP storage engine: The attribute key cannot be found."),
        (0xC11F000C, "Errors in the OLAP storage engine: An error occurred while processing "
                     "the 'Dim Customer' dimension."),
    ]
    assert r.descriptions(EventKind.OnWarning) == [
        "Server: Operation completed with 3 problems logged."]


def test_warnings_alone_leave_the_task_successful(xmla: XmlaServer) -> None:
    xmla.rule("refresh", warnings=[(1092354050, "The column 'X' has no data.")])
    r = run(xmla, ddl_task(STATEMENT_TMSL))
    ok(r)
    [warning] = r.events_of(EventKind.OnWarning)
    assert (warning.code, warning.description) == (1092354050, "The column 'X' has no data.")


def test_an_exception_without_messages_fails(xmla: XmlaServer) -> None:
    xmla.rule("refresh", exception=True)
    r = run(xmla, ddl_task(STATEMENT_TMSL))
    failed(r)
    assert "reported an exception without an error message" in r.error


def test_a_soap_fault_fails_with_its_detail(xmla: XmlaServer) -> None:
    xmla.rule("refresh", fault=(0xC1000000, "The 'Database' with 'ID' = 'CorpDwTab' "
                                            "doesn't exist in the collection."))
    r = run(xmla, ddl_task(STATEMENT_TMSL))
    failed(r)
    errors = r.events_of(EventKind.OnError)
    assert errors[0].description == f"{xmla.url} answered HTTP 500 Internal Server Error"
    assert (errors[1].code, errors[1].description) == (
        0xC1000000, "The 'Database' with 'ID' = 'CorpDwTab' doesn't exist in the collection.")


def test_two_commands_in_one_source_are_refused_before_sending(xmla: XmlaServer) -> None:
    r = run(xmla, ddl_task("<Alter/><Alter/>"))
    failed(r)
    assert "the DDL statement (Source) is not well-formed XML (line 1)" in r.error
    assert xmla.requests == []


def test_http_errors_fail_with_status_and_text(xmla: XmlaServer) -> None:
    xmla.rule("refresh", status=503, text="<html><body><h1>Service Unavailable</h1>"
                                          "<p>The OLAP application pool is stopped.</p>")
    r = run(xmla, ddl_task(STATEMENT_TMSL))
    failed(r)
    assert r.error == (f"{xmla.url} answered HTTP 503 Service Unavailable: Service "
                       "Unavailable The OLAP application pool is stopped.")


def test_wrong_credentials_are_refused_and_never_shown(xmla: XmlaServer) -> None:
    r = run(xmla, ddl_task(STATEMENT_TMSL), request=conn(xmla, password="not-the-password"))
    failed(r)
    assert "refused the request: HTTP 401 Unauthorized; the server asks for Basic" in r.error
    assert f"check User ID and Password of 'SSAS' (user {USER})" in r.error
    assert "not-the-password" not in r.text()
    # without a user, the message says how to give one
    r = run(xmla, ddl_task(STATEMENT_TMSL), request=RunRequest(connections={
        "SSAS": f"Data Source={xmla.url};Initial Catalog=Sales"}))
    failed(r)
    assert "give User ID and Password (Basic authentication) with --conn" in r.error
    assert xmla.requests == []


def test_the_password_the_package_keeps_in_clear_is_used(xmla: XmlaServer) -> None:
    cm = connection_manager(
        8, "SSAS", "MSOLAP100", f"Data Source={xmla.url};Initial Catalog=Sales;"
        f"User ID={USER};", inner_children=f'<DTS:Password DTS:Name="Password" '
        f'Sensitive="1">{PASSWORD}</DTS:Password>')
    ok(PackageRun(package(8, [ddl_task(STATEMENT_TMSL)], connections=[cm])))
    assert [r.user for r in xmla.requests] == [USER]


# --------------------------------------------------------------------------- time


def test_the_connections_timeout_aborts_a_slow_command(xmla: XmlaServer) -> None:
    xmla.rule("refresh", delay=10)
    r = run(xmla, ddl_task(STATEMENT_TMSL), request=conn(xmla, extra="Timeout=1"))
    failed(r)
    assert r.elapsed < 5
    assert r.error == (f"the command did not complete within Timeout=1 seconds (connection "
                       f"'SSAS', {xmla.url}); the request was aborted")


def test_cancelling_the_run_aborts_the_request(xmla: XmlaServer) -> None:
    xmla.rule("Dim Customer", delay=10)
    r = run(xmla, processing_task(BATCH), cancel_when=xmla.arrived)
    assert r.result.result == ExecResult.Canceled
    assert r.elapsed < 5
    assert any("the request to Analysis Services was aborted" in m
               for m in r.descriptions(EventKind.OnInformation))


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "olap.pem", tmp_path / "olap.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_https_checks_the_servers_certificate(certificate: tuple[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = XmlaServer({USER: PASSWORD}, tls=certificate)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        r = run(server, ddl_task(STATEMENT_TMSL))
        failed(r)
        assert r.error.startswith(f"the TLS connection to {server.url} failed: "
                                  "CERTIFICATE_VERIFY_FAILED")
        assert server.requests == []
        # trusted through the standard SSL_CERT_FILE variable, the same request goes through
        monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
        ok(run(server, ddl_task(STATEMENT_TMSL)))
        assert [r.user for r in server.requests] == [USER]
    finally:
        server.stop()


def test_an_endpoint_that_is_not_there(tmp_path: Path) -> None:
    server = XmlaServer()
    url = server.url
    server.stop()
    r = PackageRun(package(8, [ddl_task(STATEMENT_TMSL)], connections=[as_cm()]),
                   RunRequest(connections={"SSAS": f"Data Source={url};Connect Timeout=2"}))
    failed(r)
    assert r.error.startswith(f"cannot reach {url}: ")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("source", "message"), [
    ("Data Source=olapsrv;Initial Catalog=Sales;Provider=MSOLAP.8;Integrated Security=SSPI;",
     "the connection manager 'SSAS' names the server 'olapsrv' (Analysis Services' native TCP "
     "protocol, which ssisrun does not speak); ssisrun reaches Analysis Services through its "
     "HTTP endpoint (msmdpump.dll, see docs/tasks/analysis-services.md): give --conn 'SSAS="
     "Data Source=https://host/olap/msmdpump.dll;Initial Catalog=Sales;User ID=...;"
     "Password=...'"),
    ("Data Source=asazure://westus.asazure.windows.net/srv;Initial Catalog=Sales;",
     "names asazure://westus.asazure.windows.net/srv, which needs Azure AD sign-in"),
    ("Initial Catalog=Sales;", "names no Data Source"),
    ("Data Source=https://olap.corp/olap/msmdpump.dll;Integrated Security=SSPI;",
     "uses Windows authentication (Integrated Security=SSPI), which ssisrun cannot use here"),
    ("Data Source=https://olap.corp/olap/msmdpump.dll;Timeout=soon;",
     "has Timeout=soon, which is not a number of seconds"),
])
def test_connection_strings_that_cannot_be_used(source: str, message: str) -> None:
    r = PackageRun(package(8, [ddl_task(STATEMENT_TMSL)], connections=[as_cm(8, source)]))
    failed(r)
    assert message in r.error


def test_task_settings_that_cannot_be_used(xmla: XmlaServer) -> None:
    cases = [
        (ddl_task(STATEMENT_TMSL, "No connection", connection=""),
         "the Analysis Services Execute DDL task names no Analysis Services connection manager"
         " (ConnectionName)"),
        (ddl_task(STATEMENT_TMSL, "Missing", connection="Gone"),
         "the connection manager 'Gone' does not exist"),
        (ddl_task(STATEMENT_TMSL, "Not OLAP", connection="Flat"),
         "the connection manager 'Flat' is of type FILE, not an Analysis Services connection "
         "manager"),
        (ddl_task("x", "Bad type", source_type="Clipboard"),
         "SourceType 'Clipboard' is not one of DirectInput, FileConnection, Variable"),
        (ddl_task("", "Empty"), "the DDL statement (Source) is empty"),
        (ddl_task("User::Nope", "No variable", source_type="Variable"),
         'Variable "User::Nope" does not exist in the scope of \\Package\\No variable'),
        (ddl_task("Flat", "No file", source_type="FileConnection"),
         "cannot read the DDL file"),
        (ddl_task("<Create><Unclosed></Create>", "Bad XML"),
         "the DDL statement (Source) is not well-formed XML (line 1)"),
    ]
    flat = connection_manager(8, "Flat", "FILE", "C:\\nowhere\\none.xmla")
    for task, message in cases:
        r = run(xmla, task, connections=[flat])
        failed(r)
        assert message in r.error, (task.name, r.error)
    assert xmla.requests == []


# --------------------------------------------------------------------------- the CLI


def test_validate_names_each_unusable_setting(tmp_path: Path) -> None:
    pkg = write(tmp_path, package(8, [
        ddl_task("", "No source"),
        ddl_task(STATEMENT_TMSL, "No connection", connection=""),
        ddl_task("User::Missing", "By variable", source_type="Variable"),
        ddl_task("", "By expression", expressions={"Source": '"<Batch/>"'}),
        processing_task("", "Nothing to process"),
    ], connections=[as_cm(8, "Data Source=https://olap.corp/olap/msmdpump.dll;"
                             "Initial Catalog=Sales")]))
    proc = ssisrun("validate", "--no-project", str(pkg))
    assert proc.returncode == 1
    errors = sorted(line.split(": ", 1)[1] for line in proc.stdout.splitlines()
                    if line.lstrip().startswith("error"))
    assert errors == sorted([
        "the Analysis Services Execute DDL task has no DDL statement (Source is empty)",
        "the Analysis Services Execute DDL task names no Analysis Services connection manager "
        "(ConnectionName)",
        "the DDL statement names variable User::Missing, which is not defined in this scope "
        "or above it",
        "the Analysis Services Processing task has no processing commands "
        "(ProcessingCommands is empty)",
    ]), proc.stdout


def write(tmp_path: Path, xml: str, name: str = "as.dtsx") -> Path:
    path = tmp_path / name
    path.write_text(xml, encoding="utf-8")
    return path


def ssisrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ssisrun", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO)


def test_cli_exec_and_validate(xmla: XmlaServer, tmp_path: Path) -> None:
    pkg = write(tmp_path, package(8, [processing_task(BATCH)], connections=[as_cm()]))
    good = (f"SSAS=Data Source={xmla.url};Initial Catalog=Sales;User ID={USER};"
            f"Password={PASSWORD}")
    proc = ssisrun("validate", "--no-project", str(pkg))
    assert proc.returncode == 1
    assert "names the server 'olapsrv'" in proc.stdout
    proc = ssisrun("validate", "--no-project", "--conn", good, str(pkg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = ssisrun("exec", "--no-project", "--conn", good, str(pkg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert processed(xmla.requests[0].command) == [("Dim Customer", "ProcessUpdate"),
                                                   ("Sales", "ProcessFull")]
    # a processing error: exit code 1, the description in the output, no password
    xmla.rule("Dim Customer", errors=[(3238002695, "The attribute key cannot be found.")])
    proc = ssisrun("exec", "--no-project", "--conn", good, str(pkg))
    assert proc.returncode == 1
    assert "The attribute key cannot be found." in proc.stdout
    assert PASSWORD not in proc.stdout + proc.stderr
    # the native protocol fails at run time too, with the --conn to give
    proc = ssisrun("exec", "--no-project", str(pkg))
    assert proc.returncode == 1
    assert "give --conn 'SSAS=Data Source=https://host/olap/msmdpump.dll" in proc.stdout


# --------------------------------------------------------------------------- corpus


RUNNABLE_CORPUS = {
    "BettcherIndustries+CorporateDwSsis/CorpDwSsisProcess.dtsx": "localhost.CorpDwTab",
    "lucmilot+SSIS_2014_Book/850879_c12_download/Ch12_ProSSIS/Code/SSAS_SalesTargets.dtsx":
        "AdventureWorksAS",
}
#: packages that are not run here, their MSOLAP connection manager, and what validate says
#: about their Analysis Services tasks with --conn
OTHER_CORPUS = {
    "MortConstruction+OTL-Packages/Integration Services Project1/3. OTL_HoursGather_V2.dtsx":
        ("P04.TeamMemberHierarchy", []),
    "AmirHeydari66+ssis_interview/Package.dtsx": ("localhost", []),
    # the book's Execute DDL task was dropped on the surface and never configured
    "lucmilot+SSIS_2014_Book/850879_c03_download/Chapter3/Package.dtsx": ("localhost", [
        "the Analysis Services Execute DDL task names no Analysis Services connection manager "
        "(ConnectionName)",
        "the Analysis Services Execute DDL task has no DDL statement (Source is empty)"]),
}
corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


def _corpus_conn(server: XmlaServer, name: str, catalog: str = "") -> str:
    return (f"{name}=Data Source={server.url};Initial Catalog={catalog};User ID={USER};"
            f"Password={PASSWORD}")


@corpus
@pytest.mark.parametrize("relative", sorted(RUNNABLE_CORPUS))
def test_corpus_package_runs_against_the_loopback_endpoint(xmla: XmlaServer,
                                                           relative: str) -> None:
    path = CORPUS / relative
    name = RUNNABLE_CORPUS[relative]
    catalog = "CorpDwTab" if "Bettcher" in relative else "AdventureWorksDWMultidimensional"
    given = _corpus_conn(xmla, name, catalog)
    proc = ssisrun("validate", "--no-project", "--conn", given, str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = ssisrun("exec", "--no-project", "--conn", given, str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert all(r.catalog == catalog and r.user == USER for r in xmla.requests)
    if "Bettcher" in relative:
        [got] = xmla.requests
        assert json.loads(got.statement or "") == TMSL
    else:
        dims, partition = xmla.requests  # a precedence constraint orders them
        assert processed(dims.command) == [("Dim Sales Territory", "ProcessFull"),
                                           ("Dim Employee", "ProcessFull"),
                                           ("Dim Time", "ProcessFull")]
        assert dims.command is not None
        assert dims.command.find(f"{{{ENGINE_NS}}}Parallel") is not None
        # the property expression on Source puts User::Sales_Quota_Partition in the command
        assert processed(partition.command) == [("Fact Sales Quota", "ProcessFull")]


@corpus
@pytest.mark.parametrize("relative", sorted(OTHER_CORPUS))
def test_corpus_packages_with_other_unsupported_tasks_validate_their_as_tasks(
        xmla: XmlaServer, relative: str) -> None:
    """These packages hold tasks ssisrun cannot run (CDC, maintenance plans, data mining
    queries) or reach their authors' database servers, so they are not run; with --conn
    their Analysis Services tasks raise no problem in validate."""
    path = CORPUS / relative
    name, expected = OTHER_CORPUS[relative]
    proc = ssisrun("validate", "--no-project", "--conn", _corpus_conn(xmla, name), str(path))
    assert "Traceback" not in proc.stdout + proc.stderr
    found = [line.split(": ", 1)[1] for line in proc.stdout.splitlines()
             if "msmdpump" in line or "Analysis Services" in line]
    assert found == expected


# --------------------------------------------------------------------------- answers, unit


def _answer(inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"{inner}</soap:Body></soap:Envelope>").encode()


def test_a_non_transactional_batch_answers_one_root_per_command() -> None:
    from ssisrun.tasks.analysis_services import parse_execute_response

    exc = "urn:schemas-microsoft-com:xml-analysis:exception"
    result = parse_execute_response(_answer(
        '<ExecuteResponse xmlns="urn:schemas-microsoft-com:xml-analysis"><return>'
        '<results xmlns="http://schemas.microsoft.com/analysisservices/2003/xmla-multipleresults">'
        '<root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"/>'
        '<root xmlns="urn:schemas-microsoft-com:xml-analysis:empty">'
        f'<Exception xmlns="{exc}"/><Messages xmlns="{exc}">'
        '<Error ErrorCode="-1056964601" Description="The second command failed."/>'
        "</Messages></root></results></return></ExecuteResponse>"))
    assert result.exception
    assert [(e.code, e.description) for e in result.errors] == [
        (0xC1000007, "The second command failed.")]


def test_a_soap_fault_without_detail_and_answers_that_are_not_xmla() -> None:
    from ssisrun.tasks.analysis_services import XmlaError, parse_execute_response

    with pytest.raises(XmlaError) as caught:
        parse_execute_response(_answer(
            "<soap:Fault><faultcode>XMLAnalysisError.0x80000005</faultcode>"
            "<faultstring>The XML for Analysis provider encountered an error.</faultstring>"
            "</soap:Fault>"))
    [message] = caught.value.messages
    assert (message.code, message.description) == (
        0x80000005, "SOAP fault XMLAnalysisError.0x80000005: The XML for Analysis provider "
                    "encountered an error.")
    with pytest.raises(XmlaError, match="the answer is not XML"):
        parse_execute_response(b"Service Unavailable")
    with pytest.raises(XmlaError, match="the answer is not an XMLA ExecuteResponse"):
        parse_execute_response(_answer("<DiscoverResponse/>"))
