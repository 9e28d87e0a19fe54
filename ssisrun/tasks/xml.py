"""The XML Task: validates, transforms, queries and merges XML documents.

Its settings are the attributes of ``XMLTaskData``; a property expression replaces one
under the same name (``OperationType``, ``Source``, ``SecondOperand``, ``Destination``,
``XPathStringSource``, ...).

* ``SourceType``, ``SecondOperandType``, ``XPathStringSourceType`` and ``DestinationType``
  say where a value lives: ``DirectInput`` (the attribute holds the XML or text itself),
  ``FileConnection`` (a FILE connection manager's path, mapped with ``--path-map``) or
  ``Variable`` (a variable or parameter holding the XML or text).
* Every document is parsed safely: no DTD, no entity and no network access; a document
  that declares a DTD is refused.
* **Validate** checks the source against the XSD schema in the second operand (a schema
  that includes or imports other files is refused). The result, ``true`` or ``false``, is
  saved to the destination; when the document is not valid the task fails if
  ``FailOnValidationFail`` (``FailOpOnValidationFail`` in the package) is True, else it
  warns. DTD validation is refused: ssisrun never loads DTDs.
* **XSLT** applies the stylesheet in the second operand; the stylesheet may not read or
  write files or reach the network (``document()``, ``xsl:include``, ``exsl:document``).
* **XPATH** runs the XPath expression in the second operand. ``XPathOperation``
  ``Evaluation`` gives the value of an XPath function (a string, a number, ``true`` or
  ``false``), ``NodeList`` the selected nodes serialized, ``Values`` the text values of
  the selected nodes, concatenated. ``PutResultInOneNode`` wraps the result in ``<root>``.
* **Merge** inserts the root element of the second document into the first, under the
  node the XPath query in ``XPathStringSource`` selects (the root element when empty).
* **Diff** and **Patch** are not supported yet: the task fails and says so.
* With ``SaveOperationResult`` True the result goes to the destination; an existing file
  (or a variable that already holds a value) is replaced only when
  ``OverwriteDestination`` is True.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from lxml import etree

from ssisrun.dtsx.safexml import parse_bytes
from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    TaskSetupError,
    as_bool,
    as_choice,
    file_connection_path,
    report_failure,
    setting,
)

if TYPE_CHECKING:
    from ssisrun.runtime.context import TaskContext

XSD_NS = "http://www.w3.org/2001/XMLSchema"

#: the names of each setting's values, in the order of SSIS's enumerations
OPERATIONS = ("Validate", "XSLT", "XPATH", "Merge", "Diff", "Patch")
SOURCE_TYPES = ("FileConnection", "Variable", "DirectInput")
DESTINATION_TYPES = ("FileConnection", "Variable")
XPATH_OPERATIONS = ("Evaluation", "NodeList", "Values")
VALIDATION_TYPES = ("DTD", "XSD")


class XmlTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)

        def get(attr: str, default: str = "", *props: str) -> Any:
            return setting(ctx, body, attr, *props, default=default)

        try:
            operation = as_choice("OperationType", get("OperationType", "Validate"), OPERATIONS)
            if operation in ("Diff", "Patch"):
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XML task operation "
                                     f"{operation} is not supported yet by ssisrun; "
                                     "Validate, XSLT, XPATH and Merge are")
            source = self._document(ctx, "Source", get("SourceType", "FileConnection"),
                                    get("Source"))
            second_type = get("SecondOperandType", "FileConnection")
            second = get("SecondOperand")
            outcome = TaskOutcome(ExecResult.Success)
            result: str | bytes
            if operation == "Validate":
                valid = self._validate(ctx, source, get, second_type, second)
                result = "true" if valid else "false"
                outcome.execution_value = valid
                if not valid:
                    if _fail_on_invalid(get):
                        outcome.result = ExecResult.Failure
            elif operation == "XSLT":
                result = self._xslt(ctx, source, second_type, second)
            elif operation == "XPATH":
                result = self._xpath(ctx, source, get, second_type, second)
            else:
                result = self._merge(ctx, source, get, second_type, second)
            if as_bool("SaveOperationResult", get("SaveOperationResult", "False"),
                       E_FOLLOWING_MESSAGE):
                self._save(ctx, result, get)
        except (SsisrunError, OSError) as exc:
            return report_failure(ctx, exc)
        return outcome

    # ---------------------------------------------------------------- inputs

    def _text(self, ctx: TaskContext, role: str, kind: Any, value: Any) -> tuple[bytes, str]:
        """The bytes an operand holds and where they came from (for messages)."""
        kind = as_choice(f"{role}Type", kind, SOURCE_TYPES)
        ref = "" if value is None else str(value)
        if kind == "DirectInput":
            if not ref.strip():
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{role} is empty (DirectInput)")
            return ref.encode("utf-8"), f"the {role} property"
        if not ref.strip():
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"{role} names no "
                                 f"{'variable' if kind == 'Variable' else 'connection'}")
        if kind == "Variable":
            var = ctx.scope.find(ref)
            if var is None:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'Variable "{ref}" does not exist '
                                     f"in the scope of {ctx.host.path}")
            content = ctx.scope.value_of(var)
            text = "" if content is None else str(content)
            if not text.strip():
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'Variable "{ref}" ({role}) is '
                                     "empty")
            return text.encode("utf-8"), f"variable {ref}"
        path = file_connection_path(ctx, ref, code=E_FOLLOWING_MESSAGE,
                                    not_file=E_FOLLOWING_MESSAGE)
        if not os.path.isfile(path.path):
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"File {path.quoted} does not exist "
                                 f"(from {path.origin}, the {role}); map Windows paths "
                                 "with --path-map")
        with open(path.path, "rb") as handle:
            return handle.read(), path.path

    def _document(self, ctx: TaskContext, role: str, kind: Any,
                  value: Any) -> etree._ElementTree:
        data, origin = self._text(ctx, role, kind, value)
        try:
            return parse_bytes(data, origin, "XML document")
        except SsisrunError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the {role} is not usable XML: "
                                 f"{exc}") from None

    # ---------------------------------------------------------------- operations

    def _validate(self, ctx: TaskContext, source: etree._ElementTree, get: Any,
                  second_type: Any, second: Any) -> bool:
        validation = as_choice("ValidationType", get("ValidationType", "XSD"),
                             VALIDATION_TYPES)
        if validation == "DTD":
            raise TaskSetupError(E_FOLLOWING_MESSAGE, "DTD validation is not supported: "
                                 "ssisrun never loads DTDs or entities; validate against an "
                                 "XSD schema (ValidationType XSD)")
        schema_doc = self._document(ctx, "SecondOperand", second_type, second)
        for node in schema_doc.getroot().iter(f"{{{XSD_NS}}}include", f"{{{XSD_NS}}}import",
                                              f"{{{XSD_NS}}}redefine"):
            if node.get("schemaLocation"):
                raise TaskSetupError(E_FOLLOWING_MESSAGE, "the XSD schema includes or "
                                     f"imports '{node.get('schemaLocation')}'; ssisrun "
                                     "does not load other files for a schema")
        try:
            schema = etree.XMLSchema(schema_doc)
        except etree.XMLSchemaParseError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XSD schema is not valid: "
                                 f"{exc}") from None
        if schema.validate(source):
            ctx.information(0, "the XML document is valid")
            return True
        log: Any = schema.error_log  # the stubs do not type it as iterable
        errors = "; ".join(f"line {e.line}: {e.message}" for e in log)
        message = f"the XML document is not valid against the XSD schema: {errors}"
        if _fail_on_invalid(get):
            ctx.error(E_FOLLOWING_MESSAGE, message)
        else:
            ctx.warning(0, message)
        return False

    def _xslt(self, ctx: TaskContext, source: etree._ElementTree, second_type: Any,
              second: Any) -> str:
        style = self._document(ctx, "SecondOperand", second_type, second)
        try:
            deny_all = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]
            transform = etree.XSLT(style, access_control=deny_all)
        except etree.XSLTParseError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XSLT stylesheet cannot be used: "
                                 f"{exc} (ssisrun lets no stylesheet read other files)") \
                from None
        try:
            result = transform(source)
        except etree.XSLTApplyError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XSLT transformation failed: "
                                 f"{exc} (stylesheets may not read or write files or reach "
                                 "the network)") from None
        return str(result)

    def _xpath(self, ctx: TaskContext, source: etree._ElementTree, get: Any,
               second_type: Any, second: Any) -> str:
        mode = as_choice("XPathOperation", get("XPathOperation", "Evaluation"),
                       XPATH_OPERATIONS)
        query = self._query(ctx, second_type, second, "SecondOperand")
        value = self._evaluate(source, query)
        if mode == "Evaluation":
            text = _scalar(value)
        elif mode == "NodeList":
            items = value if isinstance(value, list) else [value]
            text = "".join(_serialize(item) for item in items)
        else:
            items = value if isinstance(value, list) else [value]
            text = "".join(_string_value(item) for item in items)
        if as_bool("PutResultInOneNode", get("PutResultInOneNode", "False"),
                   E_FOLLOWING_MESSAGE):
            text = f"<root>{text}</root>"
        return text

    def _merge(self, ctx: TaskContext, source: etree._ElementTree, get: Any,
               second_type: Any, second: Any) -> str:
        other = self._document(ctx, "SecondOperand", second_type, second)
        target = source.getroot()
        query = str(get("XPathStringSource") or "").strip()
        if query:
            query = self._query(ctx, get("XPathStringSourceType", "DirectInput"), query,
                                "XPathStringSource")
            found = self._evaluate(source, query)
            nodes = [n for n in found if isinstance(n, etree._Element)] \
                if isinstance(found, list) else []
            if not nodes:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XPath query '{query}' "
                                     "(XPathStringSource) selects no element of the first "
                                     "document")
            target = nodes[0]
        target.append(other.getroot())
        return etree.tostring(source.getroot(), encoding="unicode")

    def _query(self, ctx: TaskContext, kind: Any, value: Any, role: str) -> str:
        data, _origin = self._text(ctx, role, kind, value)
        return data.decode("utf-8").strip()

    @staticmethod
    def _evaluate(source: etree._ElementTree, query: str) -> Any:
        namespaces = {k: v for k, v in (source.getroot().nsmap or {}).items() if k}
        try:
            return source.xpath(query, namespaces=namespaces)
        except etree.XPathError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the XPath query '{query}' cannot be "
                                 f"evaluated: {exc}") from None

    # ---------------------------------------------------------------- result

    def _save(self, ctx: TaskContext, result: str | bytes, get: Any) -> None:
        kind = as_choice("DestinationType", get("DestinationType", "FileConnection"),
                       DESTINATION_TYPES)
        ref = str(get("Destination") or "").strip()
        overwrite = as_bool("OverwriteDestination", get("OverwriteDestination", "False"),
                            E_FOLLOWING_MESSAGE)
        text = result.decode("utf-8") if isinstance(result, bytes) else result
        if not ref:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, "SaveOperationResult is True but no "
                                 "Destination is set")
        if kind == "Variable":
            var = ctx.scope.find(ref)
            if var is None:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'Variable "{ref}" does not exist '
                                     f"in the scope of {ctx.host.path}")
            current = ctx.scope.value_of(var)
            if not overwrite and current not in (None, ""):
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'the destination variable "{ref}" '
                                     "already holds a value and OverwriteDestination is False")
            ctx.scope.set(ref, text)
            return
        path = file_connection_path(ctx, ref, code=E_FOLLOWING_MESSAGE,
                                    not_file=E_FOLLOWING_MESSAGE)
        if os.path.exists(path.path) and not overwrite:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, "An error occurred with the following "
                                 f"error message: \"The file '{path.path}' already exists.\" "
                                 "(OverwriteDestination is False)")
        folder = os.path.dirname(os.path.abspath(path.path))
        if not os.path.isdir(folder):
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f'the destination folder "{folder}" does '
                                 f"not exist (destination {path}, from {path.origin})")
        with open(path.path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _fail_on_invalid(get: Any) -> bool:
    """``FailOnValidationFail``: the package keeps it as ``FailOpOnValidationFail``."""
    value = get("FailOpOnValidationFail", "", "FailOnValidationFail", "FailOnValidationFaile")
    if value == "":
        value = get("FailOnValidationFail", "False")
    return as_bool("FailOnValidationFail", value, E_FOLLOWING_MESSAGE)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return _string_value(value[0]) if value else ""
    return str(value)


def _string_value(item: Any) -> str:
    if isinstance(item, etree._Element):
        return "".join(str(text) for text in item.itertext())
    if isinstance(item, (bool, float)):
        return _scalar(item)
    return str(item)


def _serialize(item: Any) -> str:
    if isinstance(item, etree._Element):
        return etree.tostring(item, encoding="unicode", with_tail=False)
    return _string_value(item)
