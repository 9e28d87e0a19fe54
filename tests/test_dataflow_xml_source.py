"""XML Source: orders and their lines from one namespaced document into two flat files
(generated ``_Id`` keys, attributes and elements, a renamed column), the variable access
modes, conversion and truncation errors (redirected, ignored, failing), DTDs refused, a
200k-element document read with bounded memory, and the corpus package "XML Source.dtsx"
run end to end against SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from builders import Var
from corpus_util import CORPUS_DIR
from test_dataflow import (
    C,
    Col,
    FFCol,
    In,
    Out,
    dest,
    errors,
    flat_file_cm,
    flow,
    infos,
    result,
    run,
    variable,
)

from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import Event, EventBus, RunRequest
from ssisrun.runtime.engine import Engine

XML_SOURCE = "Microsoft.XmlSourceAdapter"

ORDERS_XML = """<?xml version="1.0" encoding="utf-8"?>
<!-- orders of the day -->
<shop xmlns="urn:shop" xmlns:x="urn:other" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <order number="A-1" date="2024-01-05T10:30:00">
    <customer>Ann</customer>
    <total> 12.50 </total>
    <x:line sku="XX"><qty>99</qty></x:line>
    <line sku="P1"><qty>2</qty><price>3.25</price></line>
    <line sku="P2"><qty>1</qty><price>6</price></line>
  </order>
  <order number="A-2" date="2024-01-06T00:00:00">
    <customer xsi:nil="true"/>
    <total>7</total>
    <line sku="P3"><qty>7</qty><price>1.00</price><note>fragile</note></line>
  </order>
  <order number="A-3">
    <customer></customer>
  </order>
</shop>
"""

ORDERS_XSD = """<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:shop"
           xmlns="urn:shop" elementFormDefault="qualified">
  <xs:element name="shop">
    <xs:complexType><xs:sequence>
      <xs:element name="order" type="OrderType" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:complexType name="OrderType">
    <xs:sequence>
      <xs:element name="customer" type="xs:string" minOccurs="0" nillable="true"/>
      <xs:element name="total" type="xs:decimal" minOccurs="0"/>
      <xs:element name="line" minOccurs="0" maxOccurs="unbounded">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="qty" type="xs:int"/>
            <xs:element name="price" type="xs:decimal"/>
            <xs:element name="note" type="xs:string" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="sku" type="xs:string"/>
        </xs:complexType>
      </xs:element>
    </xs:sequence>
    <xs:attribute name="number" type="xs:string"/>
    <xs:attribute name="date" type="xs:dateTime"/>
  </xs:complexType>
</xs:schema>
"""


def _error_out(name: str, columns: list[str]) -> Out:
    return Out(f"{name} Error Output",
               [Col(c, "ntext", 0) for c in columns]
               + [Col("ErrorCode", "i4", 0, special=1), Col("ErrorColumn", "i4", 0, special=2)],
               error_out=True, props={"RowsetID": name})


def order_cols(error: str = "FailComponent") -> list[Col]:
    return [Col("order_Id", "ui8", 0), Col("number", "wstr", 10, error=error),
            Col("date", "dbTimeStamp", 0, error=error),
            Col("CustomerName", "wstr", 20, error=error),
            Col("total", "decimal", 0, scale=2, error=error)]


def line_cols(error: str = "FailComponent", truncation: str = "FailComponent") -> list[Col]:
    return [Col("sku", "wstr", 2, error=error, truncation=truncation),
            Col("qty", "i4", 0, error=error), Col("price", "decimal", 0, scale=2, error=error),
            Col("note", "wstr", 20, error=error), Col("order_Id", "ui8", 0)]


def xml_source(props: dict[str, str], *, error: str = "FailComponent",
               truncation: str = "FailComponent") -> C:
    orders, lines = order_cols(error), line_cols(error, truncation)
    order_ext = [Col(c.name if c.name != "CustomerName" else "customer", c.type, c.length)
                 for c in orders]
    return C("Xml", XML_SOURCE, {"AccessMode": "0", "UseInlineSchema": "false", **props},
             outputs=[Out("order", orders, props={"RowsetID": "order"}, external=order_ext),
                      _error_out("order", [c.name for c in orders]),
                      Out("line", lines, props={"RowsetID": "line"}, external=lines),
                      _error_out("line", [c.name for c in lines])])


def renamed(xml: str) -> str:
    """The output column CustomerName reads the external column ``customer``."""
    return xml.replace("Outputs[order].ExternalColumns[CustomerName]",
                       "Outputs[order].ExternalColumns[customer]")


def write_inputs(tmp_path: Path, document: str = ORDERS_XML) -> tuple[Path, Path]:
    xml, xsd = tmp_path / "orders.xml", tmp_path / "orders.xsd"
    xml.write_text(document, encoding="utf-8")
    xsd.write_text(ORDERS_XSD, encoding="utf-8")
    return xml, xsd


ORDER_FILE = ["order_Id", "number", "date", "CustomerName", "total"]
LINE_FILE = ["order_Id", "sku", "qty", "price", "note"]


def two_files(tmp_path: Path, source: C, *, lines_errors: bool = False,
              variables: Sequence[Var] = (), expressions: dict[str, str] | None = None
              ) -> tuple[str, Path, Path, Path]:
    orders_out, lines_out, errors_out = (tmp_path / "orders.csv", tmp_path / "lines.csv",
                                         tmp_path / "errors.csv")
    comps = [source,
             dest("Orders", "OrdersCM", [f"Xml.order.{c}" for c in ORDER_FILE]),
             dest("Lines", "LinesCM", [f"Xml.line.{c}" for c in LINE_FILE])]
    paths = [("Xml.order", "Orders.Input"), ("Xml.line", "Lines.Input")]
    cms = [flat_file_cm("OrdersCM", orders_out, [FFCol(c) for c in ORDER_FILE], qualifier=""),
           flat_file_cm("LinesCM", lines_out, [FFCol(c) for c in LINE_FILE], qualifier="")]
    if lines_errors:
        err_cols = ["sku", "qty", "ErrorCode"]
        comps.append(dest("LineErrors", "ErrorsCM",
                          [f"Xml.line Error Output.{c}" for c in err_cols]))
        paths.append(("Xml.line Error Output", "LineErrors.Input"))
        cms.append(flat_file_cm("ErrorsCM", errors_out, [FFCol(c) for c in err_cols],
                                qualifier=""))
    xml = renamed(flow(comps, paths, connections=cms, variables=list(variables),
                       expressions=expressions))
    return xml, orders_out, lines_out, errors_out


EXPECTED_ORDERS = ("order_Id,number,date,CustomerName,total\r\n"
                   "1,A-1,2024-01-05 10:30:00,Ann,12.50\r\n"
                   "2,A-2,2024-01-06 00:00:00,,7.00\r\n"
                   "3,A-3,,,\r\n")
EXPECTED_LINES = ("order_Id,sku,qty,price,note\r\n"
                  "1,P1,2,3.25,\r\n"
                  "1,P2,1,6.00,\r\n"
                  "2,P3,7,1.00,fragile\r\n")


def test_orders_and_lines_with_parent_ids_into_two_flat_files(tmp_path: Path) -> None:
    xml_file, xsd = write_inputs(tmp_path)
    package, orders, lines, _ = two_files(tmp_path, xml_source(
        {"XMLData": "C:\\feeds\\orders.xml", "XMLSchemaDefinition": "C:\\feeds\\orders.xsd"}))
    engine, events = run(package, RunRequest(path_map=[("C:\\feeds", str(tmp_path))]))
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == EXPECTED_ORDERS
    assert lines.read_bytes().decode() == EXPECTED_LINES
    assert '"Xml.order": 3 rows' in infos(events)
    assert '"Xml.line": 3 rows' in infos(events)


def test_document_in_another_namespace_than_the_schema_gives_no_rows(tmp_path: Path) -> None:
    write_inputs(tmp_path, ORDERS_XML.replace('xmlns="urn:shop"', 'xmlns="urn:elsewhere"'))
    package, orders, lines, _ = two_files(tmp_path, xml_source(
        {"XMLData": str(tmp_path / "orders.xml"),
         "XMLSchemaDefinition": str(tmp_path / "orders.xsd")}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == "order_Id,number,date,CustomerName,total\r\n"
    assert lines.read_bytes().decode() == "order_Id,sku,qty,price,note\r\n"


def test_without_a_schema_local_names_match_in_any_namespace(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    package, orders, lines, _ = two_files(tmp_path, xml_source(
        {"XMLData": str(tmp_path / "orders.xml"), "XMLSchemaDefinition": ""}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == EXPECTED_ORDERS
    # the x:line in urn:other is a line too when no schema says which namespace counts
    assert lines.read_bytes().decode() == ("order_Id,sku,qty,price,note\r\n1,XX,99,,\r\n"
                                 + EXPECTED_LINES.split("\r\n", 1)[1])


@pytest.mark.parametrize("mode", ["1", "2"])
def test_variable_access_modes(tmp_path: Path, mode: str) -> None:
    xml_file, xsd = write_inputs(tmp_path)
    value = str(xml_file) if mode == "1" else \
        ORDERS_XML.replace('encoding="utf-8"', 'encoding="utf-16"')
    package, orders, lines, _ = two_files(
        tmp_path, xml_source({"AccessMode": mode, "XMLData": "",
                              "XMLDataVariable": "User::Doc",
                              "XMLSchemaDefinition": str(xsd)}),
        variables=[Var("Doc", 8, value)])
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == EXPECTED_ORDERS
    assert lines.read_bytes().decode() == EXPECTED_LINES


def test_xml_data_from_a_property_expression(tmp_path: Path) -> None:
    xml_file, xsd = write_inputs(tmp_path)
    package, orders, _, _ = two_files(
        tmp_path, xml_source({"XMLData": "C:\\nowhere.xml", "XMLSchemaDefinition": str(xsd)}),
        variables=[Var("Folder", 8, str(tmp_path))],
        expressions={"[Xml].[XMLData]": '@[User::Folder] + "/orders.xml"'})
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == EXPECTED_ORDERS


def test_xml_data_as_a_file_uri(tmp_path: Path) -> None:
    xml_file, xsd = write_inputs(tmp_path)
    package, orders, _, _ = two_files(tmp_path, xml_source(
        {"XMLData": xml_file.as_uri(), "XMLSchemaDefinition": str(xsd)}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert orders.read_bytes().decode() == EXPECTED_ORDERS


BAD_LINE = ORDERS_XML.replace("<qty>1</qty>", "<qty>one</qty>")


def test_conversion_error_redirected_and_truncation_ignored(tmp_path: Path) -> None:
    write_inputs(tmp_path, BAD_LINE)
    package, orders, lines, errs = two_files(
        tmp_path, xml_source({"XMLData": str(tmp_path / "orders.xml"),
                              "XMLSchemaDefinition": str(tmp_path / "orders.xsd")},
                             error="RedirectRow", truncation="IgnoreFailure"),
        lines_errors=True)
    # sku is 2 characters long: "P1" fits; the truncation is ignored for longer ones
    package = package.replace(
        "Outputs[line].Columns[sku]\" name=\"sku\" dataType=\"wstr\" length=\"2\"",
        "Outputs[line].Columns[sku]\" name=\"sku\" dataType=\"wstr\" length=\"1\"")
    engine, events = run(package)
    assert result(engine) == ExecResult.Success, errors(events)
    assert lines.read_bytes().decode() == ("order_Id,sku,qty,price,note\r\n"
                                 "1,P,2,3.25,\r\n2,P,7,1.00,fragile\r\n")
    assert errs.read_bytes().decode() == "sku,qty,ErrorCode\r\nP2,one,-1071607694\r\n"
    assert orders.read_bytes().decode() == EXPECTED_ORDERS


def test_conversion_error_fails_the_component(tmp_path: Path) -> None:
    write_inputs(tmp_path, BAD_LINE)
    package, _, lines, _ = two_files(tmp_path, xml_source(
        {"XMLData": str(tmp_path / "orders.xml"),
         "XMLSchemaDefinition": str(tmp_path / "orders.xsd")}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Failure
    message = " ".join(errors(events))
    assert "Xml: the value 'one' of qty cannot be converted to DT_I4" in message
    assert "output line, line 9" in message


def test_truncation_fails_by_default(tmp_path: Path) -> None:
    write_inputs(tmp_path, ORDERS_XML.replace('sku="P3"', 'sku="P33"'))
    package, _, _, _ = two_files(tmp_path, xml_source(
        {"XMLData": str(tmp_path / "orders.xml"),
         "XMLSchemaDefinition": str(tmp_path / "orders.xsd")}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Failure
    assert "the value of sku is 3 characters long, longer than its 2" in " ".join(
        errors(events))


def test_dtd_bearing_document_refused(tmp_path: Path) -> None:
    evil = ORDERS_XML.replace(
        "<!-- orders of the day -->",
        '<!DOCTYPE shop [<!ENTITY who SYSTEM "file:///etc/passwd">]>').replace(
        "<customer>Ann</customer>", "<customer>&who;</customer>")
    write_inputs(tmp_path, evil)
    package, orders, _, _ = two_files(tmp_path, xml_source(
        {"XMLData": str(tmp_path / "orders.xml"),
         "XMLSchemaDefinition": str(tmp_path / "orders.xsd")}))
    engine, events = run(package)
    assert result(engine) == ExecResult.Failure
    assert "declares a DTD" in " ".join(errors(events))
    assert "root:" not in orders.read_bytes().decode()


def test_missing_files_and_bad_settings_are_named(tmp_path: Path) -> None:
    xml_file, xsd = write_inputs(tmp_path)
    cases = [({"XMLData": str(tmp_path / "none.xml"), "XMLSchemaDefinition": str(xsd)},
              "the XML file " + str(tmp_path / "none.xml") + " does not exist"),
             ({"XMLData": str(xml_file), "XMLSchemaDefinition": str(tmp_path / "no.xsd")},
              "XMLSchemaDefinition"),
             ({"XMLData": "https://example.com/feed.xml"}, "reads local files only"),
             ({"AccessMode": "2", "XMLDataVariable": ""}, "needs a variable in XMLDataVariable"),
             ({"AccessMode": "2", "XMLDataVariable": "User::Doc"}, "is not well-formed XML")]
    for props, expected in cases:
        package, _, _, _ = two_files(tmp_path, xml_source(props),
                                     variables=[Var("Doc", 8, "<shop><order>")])
        engine, events = run(package)
        assert result(engine) == ExecResult.Failure, props
        assert expected in " ".join(errors(events)), (props, errors(events))


INDICATORS_XML = """<datum>
  <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
    <xs:element name="price">
      <xs:complexType><xs:simpleContent><xs:extension base="xs:decimal">
        <xs:attribute name="currency" type="xs:string"/>
      </xs:extension></xs:simpleContent></xs:complexType>
    </xs:element>
  </xs:schema>
  <indicators>
    <indicator_type id="T1">
      <indicator id="I1">
        <values><date>2012-01-01</date><value>1.5</value></values>
        <values><date>2012-01-02</date><value>1.75</value></values>
      </indicator>
      <indicator id="I2"><values><date>2012-01-03</date><value>2</value></values></indicator>
    </indicator_type>
    <indicator_type id="T2">
      <quotes>
        <bank id="B1"><name>First</name><price currency="EUR">12.5</price>
          <values><date>2012-02-01</date></values></bank>
        <bank id="B2"><name>Second</name><price currency="USD"/></bank>
      </quotes>
    </indicator_type>
  </indicators>
</datum>"""

IND_VALUES = "datum__indicators__indicator_type__indicator__values"
BANK_VALUES = "datum__indicators__indicator_type__quotes__bank__values"
INDICATOR_OUTPUTS = {
    IND_VALUES: [Col("date", "wstr", 10), Col("value", "decimal", 0, scale=2),
                 Col("indicator_Id", "ui8", 0)],
    "indicator": [Col("indicator_Id", "ui8", 0), Col("id", "wstr", 5),
                  Col("indicator_type_Id", "ui8", 0)],
    BANK_VALUES: [Col("date", "wstr", 10), Col("bank_Id", "ui8", 0)],
    "bank": [Col("bank_Id", "ui8", 0), Col("id", "wstr", 5), Col("name", "wstr", 10),
             Col("quotes_Id", "ui8", 0)],
    "price": [Col("currency", "wstr", 3), Col("price_Text", "decimal", 0, scale=2),
              Col("bank_Id", "ui8", 0)],
}


def test_inline_schema_path_named_outputs_simple_content_and_deleted_parents(
        tmp_path: Path) -> None:
    """Outputs as SSIS generates them for a name used in two places (RowsetID = the path
    joined by ``__``); ``quotes`` and ``indicator_type`` have no output (deleted) but the
    ``_Id`` columns naming them still number them; ``price`` has simple content, its text
    is ``price_Text`` (the inline schema says so)."""
    doc = tmp_path / "ind.xml"
    doc.write_text(INDICATORS_XML, encoding="utf-8")
    outputs = []
    comps = []
    paths = []
    cms = []
    for n, (name, cols) in enumerate(INDICATOR_OUTPUTS.items()):
        outputs.append(Out(name, cols, props={"RowsetID": name}, external=cols))
        comps.append(dest(f"D{n}", f"CM{n}", [f"Xml.{name}.{c.name}" for c in cols]))
        paths.append((f"Xml.{name}", f"D{n}.Input"))
        cms.append(flat_file_cm(f"CM{n}", tmp_path / f"{n}.csv",
                                [FFCol(c.name) for c in cols], qualifier="",
                                names_row=False))
    source = C("Xml", XML_SOURCE, {"AccessMode": "0", "XMLData": str(doc),
                                   "UseInlineSchema": "true", "XMLSchemaDefinition": ""},
               outputs=outputs)
    engine, events = run(flow([source, *comps], paths, connections=cms))
    assert result(engine) == ExecResult.Success, errors(events)
    files = [(tmp_path / f"{n}.csv").read_bytes().decode().splitlines()
             for n in range(len(INDICATOR_OUTPUTS))]
    assert files == [
        ["2012-01-01,1.50,1", "2012-01-02,1.75,1", "2012-01-03,2.00,2"],
        ["1,I1,1", "2,I2,1"],
        ["2012-02-01,1"],
        ["1,B1,First,1", "2,B2,Second,1"],
        ["EUR,12.50,1", "USD,,2"],
    ]


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise LookupError(key)


def _reset_peak_rss() -> bool:
    """Reset the process's peak resident size (Linux); False where that cannot be done."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        _status("VmHWM:")
    except OSError:
        return False
    return True


def test_big_document_streams_with_bounded_memory(tmp_path: Path) -> None:
    """50,000 orders of 3 elements and 50,000 lines (200,000 elements, 7 MB): elements are
    dropped as they end and the rows held are one buffer per output, so the process's
    peak resident size grows by a few MB (it grows by about 90 MB when the parsed
    elements are kept). Measured with the kernel's peak RSS, as libxml2's memory is not
    Python's (tracemalloc would not see it, and would make the run ten times slower)."""
    path = tmp_path / "big.xml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('<shop xmlns="urn:shop">')
        for i in range(50_000):
            handle.write(f'<order number="N{i}"><customer>Customer number {i}</customer>'
                         f'<total>{i}.25</total><line sku="S"><qty>{i % 7}</qty>'
                         "<price>1.5</price></line></order>")
        handle.write("</shop>")
    small = tmp_path / "small.xml"
    small.write_text('<shop xmlns="urn:shop"><order number="1"/></shop>', encoding="utf-8")
    xsd = tmp_path / "orders.xsd"
    xsd.write_text(ORDERS_XSD, encoding="utf-8")
    count = [C(f"Count{n}", "Microsoft.RowCount", {"VariableName": f"User::{n}"},
               inputs=[In("In")], outputs=[Out("Out", sync="In")]) for n in ("O", "L")]
    source = xml_source({"XMLData": str(path), "XMLSchemaDefinition": str(xsd)})
    for out in source.outputs:
        for col in out.columns:
            if col.type == "wstr":
                col.length = 40
    package = flow([source, *count], [("Xml.order", "CountO.In"), ("Xml.line", "CountL.In")],
                   variables=[Var("O", 3, "0"), Var("L", 3, "0")], buffer_rows=1000)
    run(package.replace(str(path), str(small)))  # every module imported before measuring
    measured = _reset_peak_rss()
    before = _status("VmRSS:") if measured else 0
    engine, events = run(package)
    growth = _status("VmHWM:") - before if measured else 0
    assert result(engine) == ExecResult.Success, errors(events)
    assert variable(engine, "User::O") == 50_000 and variable(engine, "User::L") == 50_000
    assert path.stat().st_size > 7_000_000
    if not measured:
        pytest.skip("the peak resident size cannot be reset here (/proc/self/clear_refs)")
    assert growth < 30_000_000, f"peak RSS grew by {growth:,} bytes"


# --------------------------------------------------------------------------- corpus

CORPUS_PACKAGE = (CORPUS_DIR / "dtsx" / "lucmilot+SSIS_2014_Book" / "850879_c14_download"
                  / "CH14_code" / "CH14_Project" / "XML Source.dtsx")

CD_XSD = """<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:element name="CATALOG">
    <xs:complexType><xs:sequence>
      <xs:element maxOccurs="unbounded" name="CD">
        <xs:complexType><xs:sequence>
          <xs:element name="TITLE" type="xs:string"/>
          <xs:element name="ARTIST" type="xs:string"/>
          <xs:element name="COUNTRY" type="xs:string"/>
          <xs:element name="COMPANY" type="xs:string"/>
          <xs:element name="PRICE" type="xs:decimal"/>
          <xs:element name="YEAR" type="xs:unsignedShort"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
"""


def _cd(title: str, artist: str, price: str, year: str) -> str:
    return (f"<CD><TITLE>{title}</TITLE><ARTIST>{artist}</ARTIST><COUNTRY>USA</COUNTRY>"
            f"<COMPANY>Columbia</COMPANY><PRICE>{price}</PRICE><YEAR>{year}</YEAR></CD>")


@pytest.mark.skipif(not CORPUS_PACKAGE.is_file(), reason="the shared corpus is not here")
def test_corpus_xml_source_package_end_to_end(tmp_path: Path) -> None:
    """The book's package: CD rows into [CDCollection], a title longer than 255 characters
    (TruncationRowDisposition RedirectRow) into [Errors], over SQLite."""
    long_title = "T" * 300
    (tmp_path / "cd_catalog.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<CATALOG>"
        + _cd("Empire Burlesque", "Bob Dylan", "10.90", "1985")
        + _cd(long_title, "Nobody", "1.00", "2000")
        + _cd("Hide your heart", "Bonnie Tyler", "9.90", "1988") + "</CATALOG>",
        encoding="utf-8")
    (tmp_path / "cd_catalog.xsd").write_text(CD_XSD, encoding="utf-8")
    db = tmp_path / "aw.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE CDCollection (TITLE TEXT, ARTIST TEXT, COUNTRY TEXT, "
                      "COMPANY TEXT, PRICE NUMERIC, YEAR INTEGER)")
        conn.execute("CREATE TABLE Errors (TITLE TEXT, ARTIST TEXT, COUNTRY TEXT, "
                      "COMPANY TEXT, PRICE TEXT, YEAR TEXT, ErrorCode INTEGER, "
                      "ErrorColumn INTEGER)")
    request = RunRequest(path_map=[("C:\\ProSSIS\\Data", str(tmp_path))],
                         connections={"localhost.AdventureWorks":
                                      f"Data Source={db};Provider=SQLite;"})
    # SQLite lets one writer in at a time and the package's fast load into [CDCollection]
    # commits once at the end, so [Errors] would wait for it: a copy commits every row
    data = CORPUS_PACKAGE.read_bytes()
    assert data.count(b'name="FastLoadMaxInsertCommitSize">2147483647<') == 2
    copy = tmp_path / "XML Source.dtsx"
    copy.write_bytes(data.replace(b'name="FastLoadMaxInsertCommitSize">2147483647<',
                                  b'name="FastLoadMaxInsertCommitSize">1<'))
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    outcome = Engine(load_package(copy), request, bus).run()
    assert outcome.result == ExecResult.Success, errors(events)
    assert '"CD Collection Table" wrote 2 rows.' in infos(events)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT TITLE, ARTIST, PRICE, YEAR FROM CDCollection").fetchall()
        failed = conn.execute("SELECT TITLE, ARTIST, PRICE, YEAR, ErrorCode FROM Errors"
                              ).fetchall()
    assert rows == [("Empire Burlesque", "Bob Dylan", 10.9, 1985),
                    ("Hide your heart", "Bonnie Tyler", 9.9, 1988)]
    assert failed == [(long_title, "Nobody", "1.00", "2000", -1071607689)]
