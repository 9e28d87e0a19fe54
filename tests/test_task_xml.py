"""The XML Task: Validate (XSD), XSLT, XPATH and Merge on direct input, variables and real
files, the result saved to files and variables, and the errors a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from builders import Exe, Var, connection_manager, package
from taskrun import PackageRun

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind

XSD = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
       '<xs:element name="order"><xs:complexType><xs:sequence>'
       '<xs:element name="qty" type="xs:int"/></xs:sequence></xs:complexType></xs:element>'
       "</xs:schema>")
ORDERS = "<orders><order id='1'><qty>2</qty></order><order id='2'><qty>5</qty></order></orders>"
XSL = ('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
       '<xsl:output method="text"/><xsl:template match="/">'
       '<xsl:for-each select="//order"><xsl:value-of select="@id"/>;</xsl:for-each>'
       "</xsl:template></xsl:stylesheet>")


def run(*, files: dict[str, Path] | None = None, variables: list[Var] | None = None,
        **attrs: Any) -> PackageRun:
    """One XML task (operands default to DirectInput); ``files`` become FILE connection
    managers named by their keys."""
    attrs.setdefault("SourceType", "DirectInput")
    attrs.setdefault("SecondOperandType", "DirectInput")
    body = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items())
    cms = [connection_manager(8, name, "FILE", str(path), inner={"FileUsageType": 1})
           for name, path in (files or {}).items()]
    task = Exe("XML", "Microsoft.XMLTask", object_data=f"<XMLTaskData {body} />")
    return PackageRun(package(8, [task], variables=list(variables or []), connections=cms))


def to_var(**attrs: Any) -> tuple[PackageRun, Any]:
    """Run with the result saved to the variable User::Out; the run and Out's value."""
    variables = attrs.pop("variables", [])
    r = run(variables=[Var("Out"), *variables], SaveOperationResult=True,
            DestinationType="Variable", Destination="User::Out", OverwriteDestination=True,
            **attrs)
    return r, r.var("User::Out")


# --------------------------------------------------------------------------- Validate


def test_validate_against_an_xsd_sets_true_or_false() -> None:
    r, out = to_var(OperationType="Validate", ValidationType="XSD",
                    Source="<order><qty>3</qty></order>", SecondOperand=XSD)
    assert r.ok and out == "true"
    r, out = to_var(OperationType="Validate", ValidationType="XSD",
                    Source="<order><qty>many</qty></order>", SecondOperand=XSD)
    assert r.ok and out == "false"
    assert "not valid" in r.descriptions(EventKind.OnWarning)[0]


def test_an_invalid_document_fails_the_task_when_fail_on_validation_fail(
        tmp_path: Path) -> None:
    doc, schema = tmp_path / "o.xml", tmp_path / "o.xsd"
    doc.write_text("<order><price>1</price></order>")
    schema.write_text(XSD)
    r, out = to_var(OperationType="Validate", SourceType="FileConnection", Source="Doc",
                    SecondOperandType="FileConnection", SecondOperand="Xsd",
                    FailOpOnValidationFail=True, files={"Doc": doc, "Xsd": schema})
    assert r.result.result == ExecResult.Failure and out == "false"
    assert "not valid against the XSD schema" in r.error and "price" in r.error


def test_dtd_validation_and_documents_with_a_dtd_are_refused(tmp_path: Path) -> None:
    r = run(OperationType="Validate", ValidationType="DTD", Source="<a/>",
            SecondOperand="<!ELEMENT a EMPTY>")
    assert not r.ok and "DTD validation is not supported" in r.error
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>')
    r, out = to_var(OperationType="XPATH", XPathOperation="Values", Source=xxe,
                    SecondOperand="/a")
    assert not r.ok and "DTD" in r.error and out == ""
    assert "TOP SECRET" not in " ".join(r.descriptions(EventKind.OnError))


def test_a_schema_that_imports_other_files_is_refused() -> None:
    schema = XSD.replace("<xs:element name=\"order\">",
                         '<xs:include schemaLocation="/etc/other.xsd"/><xs:element name="order">')
    r = run(OperationType="Validate", Source="<order><qty>1</qty></order>",
            SecondOperand=schema)
    assert not r.ok and "/etc/other.xsd" in r.error


# --------------------------------------------------------------------------- XSLT


def test_xslt_from_files_to_a_file_and_overwrite(tmp_path: Path) -> None:
    src, xsl, out = tmp_path / "in.xml", tmp_path / "t.xsl", tmp_path / "out.txt"
    src.write_text(ORDERS)
    xsl.write_text(XSL)
    files = {"In": src, "Xsl": xsl, "Out": out}
    common: dict[str, Any] = dict(
        OperationType="XSLT", SourceType="FileConnection", Source="In",
        SecondOperandType="FileConnection", SecondOperand="Xsl", SaveOperationResult=True,
        DestinationType="FileConnection", Destination="Out", files=files)
    r = run(OverwriteDestination=False, **common)
    assert r.ok, r.descriptions(EventKind.OnError)
    assert out.read_text() == "1;2;"
    r = run(OverwriteDestination=False, **common)
    assert not r.ok and "already exists" in r.error
    out.write_text("old")
    assert run(OverwriteDestination=True, **common).ok and out.read_text() == "1;2;"


def test_a_stylesheet_may_not_read_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text("<s>TOP SECRET</s>")
    xsl = XSL.replace('<xsl:for-each select="//order"><xsl:value-of select="@id"/>;'
                      "</xsl:for-each>",
                      f"<xsl:value-of select=\"document('{secret}')\"/>")
    r, out = to_var(OperationType="XSLT", Source=ORDERS, SecondOperand=xsl)
    assert not r.ok and "XSLT" in r.error
    assert "TOP SECRET" not in str(out)


# --------------------------------------------------------------------------- XPATH


def test_xpath_evaluation_gives_a_number_or_a_string() -> None:
    assert to_var(OperationType="XPATH", XPathOperation="Evaluation", Source=ORDERS,
                  SecondOperand="sum(//qty)")[1] == "7"
    assert to_var(OperationType="XPATH", XPathOperation="Evaluation", Source=ORDERS,
                  SecondOperand="count(//order) > 1")[1] == "true"
    assert to_var(OperationType="XPATH", XPathOperation="Evaluation", Source=ORDERS,
                  SecondOperand="string(//order[2]/@id)")[1] == "2"


def test_xpath_node_list_and_values_from_a_variable() -> None:
    doc = [Var("Doc", value=ORDERS)]
    r, out = to_var(OperationType="XPATH", XPathOperation="NodeList", SourceType="Variable",
                    Source="User::Doc", SecondOperand="//qty", variables=doc)
    assert r.ok and out == "<qty>2</qty><qty>5</qty>"
    r, out = to_var(OperationType="XPATH", XPathOperation="NodeList", SourceType="Variable",
                    Source="User::Doc", SecondOperand="//qty", PutResultInOneNode=True,
                    variables=doc)
    assert out == "<root><qty>2</qty><qty>5</qty></root>"
    r, out = to_var(OperationType="XPATH", XPathOperation="Values", SourceType="Variable",
                    Source="User::Doc", SecondOperand="//qty", variables=doc)
    assert r.ok and out == "25"


def test_a_bad_xpath_and_a_missing_variable_fail_with_a_message() -> None:
    r = run(OperationType="XPATH", Source=ORDERS, SecondOperand="//[")
    assert not r.ok and "//[" in r.error
    r = run(OperationType="XPATH", SourceType="Variable", Source="User::Nope",
            SecondOperand="/")
    assert not r.ok and "User::Nope" in r.error and "does not exist" in r.error


def test_a_document_that_is_not_xml_names_the_problem(tmp_path: Path) -> None:
    r = run(OperationType="XPATH", Source="<a><b></a>", SecondOperand="/")
    assert not r.ok and "not well-formed" in r.error
    r = run(OperationType="XPATH", SourceType="FileConnection", Source="In",
            SecondOperand="/", files={"In": tmp_path / "missing.xml"})
    assert not r.ok and "missing.xml" in r.error and "does not exist" in r.error


# --------------------------------------------------------------------------- Merge


def test_merge_appends_the_second_root_under_the_root_or_an_xpath_node() -> None:
    r, out = to_var(OperationType="Merge", Source="<a><b/></a>", SecondOperand="<c>1</c>")
    assert r.ok and out == "<a><b/><c>1</c></a>"
    r, out = to_var(OperationType="Merge", Source="<a><b/></a>", SecondOperand="<c>1</c>",
                    XPathStringSourceType="DirectInput", XPathStringSource="/a/b")
    assert r.ok and out == "<a><b><c>1</c></b></a>"
    r = run(OperationType="Merge", Source="<a/>", SecondOperand="<c/>",
            XPathStringSource="/nothing")
    assert not r.ok and "/nothing" in r.error


# --------------------------------------------------------------------------- errors


def test_diff_and_patch_are_not_supported_yet() -> None:
    for operation in ("Diff", "Patch"):
        r = run(OperationType=operation, Source="<a/>", SecondOperand="<a/>")
        assert not r.ok and "not supported yet" in r.error
        assert "Traceback" not in r.error


def test_a_variable_destination_that_holds_a_value_needs_overwrite() -> None:
    r = run(OperationType="XPATH", Source=ORDERS, SecondOperand="count(//order)",
            XPathOperation="Evaluation", variables=[Var("Out", value="keep")],
            SaveOperationResult=True, DestinationType="Variable", Destination="User::Out",
            OverwriteDestination=False)
    assert not r.ok and "OverwriteDestination" in r.error and r.var("User::Out") == "keep"


def test_an_unknown_operation_is_named() -> None:
    r = run(OperationType="Sing", Source="<a/>", SecondOperand="<a/>")
    assert not r.ok and "Sing" in r.error
