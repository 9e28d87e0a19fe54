"""Read a ``.dtsx`` document of any format version into :mod:`ssisrun.model`.

Two XML shapes exist (spec ssis-runtime.md 5.2):

* v2/v3 ("property-element" XML): every property is a ``<DTS:Property DTS:Name=...>``
  child, defaults included, booleans ``-1``/``0``; no collection wrappers
  (``<DTS:Variable>`` and ``<DTS:Executable>`` are direct children); constraints
  point at executables by ``IDREF`` (a DTSID, often in lower case).
* v6/v8 ("attribute" XML): properties are ``DTS:`` attributes, booleans
  ``True``, defaults left out; collections have wrappers (``DTS:Variables``);
  constraints point at executables by ``refId`` path.

:class:`_Props` hides the difference: it reads both attributes and property
elements, so the rest of the reader is written once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, TypeVar

from lxml import etree

from ssisrun.dtsx import types
from ssisrun.dtsx.safexml import source_line
from ssisrun.errors import EncryptedPackageError, PackageLoadError
from ssisrun.model import (
    CheckpointUsage,
    Component,
    ComponentConnection,
    Configuration,
    ConfigurationType,
    ConnectionManager,
    Container,
    DataFlow,
    DataFlowPath,
    EvalOp,
    EventHandler,
    ExecResult,
    Executable,
    FlatFileColumn,
    FlatFileFormat,
    ForcedExecResult,
    ForeachEnumerator,
    ForeachLoop,
    ForeachVariableMapping,
    ForLoop,
    IsolationLevel,
    LoggingMode,
    LogProvider,
    Package,
    Parameter,
    PrecedenceConstraint,
    Problem,
    ProtectionLevel,
    Sequence,
    TaskHost,
    TransactionOption,
    Variable,
    VarType,
    normalize_guid,
)

E = TypeVar("E", bound=IntEnum)

DTS_NS = "www.microsoft.com/SqlServer/Dts"
XMLENC_NS = "http://www.w3.org/2001/04/xmlenc#"
Q = "{" + DTS_NS + "}"
_QLEN = len(Q)

_PROPERTY = Q + "Property"
_EXECUTABLE = Q + "Executable"
_OBJECT_DATA = Q + "ObjectData"
_PROPERTY_EXPRESSION = Q + "PropertyExpression"
_ENCRYPTED_DATA = "{" + XMLENC_NS + "}EncryptedData"

_TRUE = {"true", "-1", "1", "yes"}
_FALSE = {"false", "0", "", "no"}
_XML_NAME_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_xml_name_escapes(text: str) -> str:
    """``_x002C_`` -> ``,`` and ``_x000D__x000A_`` -> CR LF (flat-file delimiters)."""
    return _XML_NAME_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


class _Props:
    """The properties of one element, whichever way the format writes them."""

    __slots__ = ("values", "elements")

    def __init__(self, el: etree._Element) -> None:
        values: dict[str, str] = {}
        elements: dict[str, etree._Element] = {}
        attrib = [(str(k), str(v)) for k, v in el.attrib.items()]
        for key, value in attrib:
            if key.startswith(Q):
                values[key[_QLEN:]] = value
        for key, value in attrib:
            if not key.startswith("{") and key not in values:
                values[key] = value
        for child in el:
            if child.tag == _PROPERTY:
                name = child.get(Q + "Name")
                if name and name not in elements:
                    elements[name] = child
                    values.setdefault(name, child.text or "")
        self.values = values
        self.elements = elements

    def text(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.values

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return default
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return default

    def number(self, name: str, default: int) -> int:
        raw = self.values.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            return int(raw.strip())
        except ValueError:
            try:
                return int(float(raw.strip()))
            except ValueError:
                return default


def _items(el: etree._Element, wrapper: str, item: str) -> Iterator[etree._Element]:
    """Children ``item`` of ``el``, directly (v2/v3) or inside ``wrapper`` (v6/v8)."""
    item_tag = Q + item
    wrapper_tag = Q + wrapper
    for child in el:
        if child.tag == item_tag:
            yield child
        elif child.tag == wrapper_tag:
            for grandchild in child:
                if grandchild.tag == item_tag:
                    yield grandchild


def _property_expressions(el: etree._Element) -> dict[str, str]:
    result: dict[str, str] = {}
    for child in el:
        if child.tag == _PROPERTY_EXPRESSION:
            name = child.get(Q + "Name") or ""
            result[name] = child.text or ""
    return result


def _plain_attributes(el: etree._Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in el.attrib.items() if not str(k).startswith("{")}


# --------------------------------------------------------------------------- values

_DATETIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)

_INTEGER_TYPES = {
    VarType.Int16,
    VarType.Int32,
    VarType.Int64,
    VarType.SByte,
    VarType.Byte,
    VarType.UInt16,
    VarType.UInt32,
    VarType.UInt64,
}


def parse_datetime(text: str) -> datetime:
    value = text.strip()
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    # .NET writes fractions of up to 7 digits and offsets: try the ISO parser last.
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{text}' is not a date and time SSIS writes") from None


def parse_value(data_type: VarType, text: str | None) -> Any:
    """The Python value of a variable or parameter as the file stores it.

    Raises ValueError with a readable reason when the text does not fit the type."""
    raw = "" if text is None else text
    if data_type == VarType.String:
        return raw
    if data_type in _INTEGER_TYPES:
        if not raw.strip():
            return 0
        return int(raw.strip())
    if data_type == VarType.Boolean:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"'{raw}' is not a Boolean (-1/0 or True/False)")
    if data_type in (VarType.Single, VarType.Double):
        return float(raw.strip()) if raw.strip() else 0.0
    if data_type in (VarType.Decimal, VarType.Currency):
        if not raw.strip():
            return Decimal(0)
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a decimal number") from None
    if data_type == VarType.DateTime:
        if not raw.strip():
            return datetime(1899, 12, 30)
        return parse_datetime(raw)
    if data_type == VarType.Guid:
        return raw.strip()
    if data_type in (VarType.Object, VarType.Dispatch, VarType.Variant):
        return None if not raw.strip() else raw
    if data_type in (VarType.Empty, VarType.DBNull):
        return None
    return raw


#: .NET ``System.TypeCode`` (Project.params, .ispac) -> the variable type codes
TYPECODE_TO_VARTYPE: dict[int, VarType] = {
    1: VarType.Object,
    2: VarType.DBNull,
    3: VarType.Boolean,
    4: VarType.UInt16,
    5: VarType.SByte,
    6: VarType.Byte,
    7: VarType.Int16,
    8: VarType.UInt16,
    9: VarType.Int32,
    10: VarType.UInt32,
    11: VarType.Int64,
    12: VarType.UInt64,
    13: VarType.Single,
    14: VarType.Double,
    15: VarType.Decimal,
    16: VarType.DateTime,
    18: VarType.String,
}


# --------------------------------------------------------------------------- reader


class PackageReader:
    """Reads one package document. Use :func:`read_package`."""

    def __init__(self, root: etree._Element, source: str) -> None:
        self.root = root
        self.source = source
        self.problems: list[Problem] = []
        self.format_version = 8

    # ---- problems

    def problem(
        self, severity: str, message: str, path: str, el: etree._Element | None = None
    ) -> None:
        line = source_line(el)
        self.problems.append(Problem(severity, message, path, line))

    def _enum(
        self,
        cls: type[E],
        code: int,
        default: E,
        what: str,
        path: str,
        el: etree._Element | None,
    ) -> E:
        """``cls(code)``, or ``default`` with a warning naming the property."""
        try:
            return cls(code)
        except ValueError:
            self.problem("warning", f"unknown {what} {code}; read as {default.name}", path, el)
            return default

    def _vartype(self, raw: str, path: str, el: etree._Element | None) -> VarType:
        try:
            return VarType(int(raw.strip()))
        except ValueError:
            self.problem("warning", f"unknown data type code '{raw}'; read as String", path, el)
            return VarType.String

    # ---- package

    def read(self) -> Package:
        root = self.root
        if root.tag == _ENCRYPTED_DATA:
            raise EncryptedPackageError(
                whole_package_encrypted_message(root), path=self.source,
                line=source_line(root))
        if root.tag != _EXECUTABLE:
            tag = etree.QName(root).localname if isinstance(root.tag, str) else "?"
            raise PackageLoadError(
                f"not an SSIS package: the root element is <{tag}>, "
                f"expected <DTS:Executable xmlns:DTS=\"{DTS_NS}\">",
                path=self.source,
                line=source_line(root),
            )
        props = _Props(root)
        raw_type = props.text("ExecutableType") or props.text("CreationName")
        if types.canonical_executable_type(raw_type) != types.PACKAGE:
            raise PackageLoadError(
                f"not an SSIS package: the root executable is of type '{raw_type}'",
                path=self.source,
                line=source_line(root),
            )
        version_text = props.text("PackageFormatVersion")
        try:
            self.format_version = int(version_text) if version_text else 8
        except ValueError:
            raise PackageLoadError(
                f"PackageFormatVersion '{version_text}' is not a number",
                path=self.source,
                line=source_line(root),
            ) from None
        protection = props.number("ProtectionLevel", 1)
        body = root.find(_ENCRYPTED_DATA)
        if body is not None or protection == 4:
            # The body is still encrypted (a decrypted EncryptAllWithPassword package keeps
            # ProtectionLevel 3 but no EncryptedData of its own).
            raise EncryptedPackageError(
                whole_package_encrypted_message(body if body is not None else root),
                path=self.source,
                line=source_line(root),
            )

        package = Package(name=props.text("ObjectName") or "Package", path="\\Package")
        package.source = self.source
        package.format_version = self.format_version
        self._common(package, props, root)
        package.executable_type = types.PACKAGE
        package.version_guid = props.text("VersionGUID")
        package.version_major = props.number("VersionMajor", 1)
        package.version_minor = props.number("VersionMinor", 0)
        package.version_build = props.number("VersionBuild", 0)
        package.version_comments = props.text("VersionComments")
        package.creator_name = props.text("CreatorName")
        package.creator_computer_name = props.text("CreatorComputerName")
        package.creation_date = props.text("CreationDate")
        package.last_modified_product_version = props.text("LastModifiedProductVersion")
        package.package_type = props.number("PackageType", 5)
        package.protection_level = self._enum(
            ProtectionLevel, protection, ProtectionLevel.EncryptSensitiveWithUserKey,
            "ProtectionLevel", "\\Package", root)
        package.max_concurrent_executables = props.number("MaxConcurrentExecutables", -1)
        package.checkpoint_file_name = props.text("CheckpointFileName")
        package.checkpoint_usage = self._enum(
            CheckpointUsage, props.number("CheckpointUsage", 0), CheckpointUsage.Never,
            "CheckpointUsage", "\\Package", root)
        package.save_checkpoints = props.flag("SaveCheckpoints")
        package.enable_configurations = props.flag("EnableConfig")
        package.suppress_configuration_warnings = props.flag("SuppressConfigurationWarnings")
        package.offline_mode = props.flag("OfflineMode")
        if package.locale_id == -1:
            package.locale_id = props.number("LocaleID", 1033)

        package.connection_managers = [
            self._connection_manager(el, "Package")
            for el in _items(root, "ConnectionManagers", "ConnectionManager")
        ]
        package.parameters = [
            self._package_parameter(el) for el in _items(root, "PackageParameters",
                                                         "PackageParameter")
        ]
        package.configurations = [
            self._configuration(el) for el in _items(root, "Configurations", "Configuration")
        ]
        package.log_providers = [
            self._log_provider(el) for el in _items(root, "LogProviders", "LogProvider")
        ]
        self._container_body(package, root)
        package.problems = self.problems
        return package

    # ---- common executable properties

    def _common(self, exe: Executable, props: _Props, el: etree._Element) -> None:
        exe.dtsid = props.text("DTSID")
        exe.description = props.text("Description")
        exe.creation_name = props.text("ExecutableType") or props.text("CreationName")
        exe.executable_type = types.canonical_executable_type(exe.creation_name)
        exe.ref_id = props.text("refId")
        exe.line = source_line(el)
        exe.disabled = props.flag("Disabled")
        exe.delay_validation = props.flag("DelayValidation")
        exe.disable_event_handlers = props.flag("DisableEventHandlers")
        exe.fail_package_on_failure = props.flag("FailPackageOnFailure")
        exe.fail_parent_on_failure = props.flag("FailParentOnFailure")
        exe.maximum_error_count = props.number("MaxErrorCount", 1)
        exe.force_execution_result = self._enum(
            ForcedExecResult, props.number("ForceExecutionResult", -1), ForcedExecResult.None_,
            "ForceExecutionResult", exe.path, el)
        exe.force_execution_value = props.flag("ForceExecValue")
        value_el = props.elements.get("ExecValue")
        type_code = (value_el.get(Q + "DataType") if value_el is not None else None) or props.text(
            "ExecValueType", "3"
        )
        exe.forced_execution_value_type = self._vartype(type_code, exe.path, el)
        if props.has("ExecValue"):
            try:
                exe.forced_execution_value = parse_value(
                    exe.forced_execution_value_type, props.text("ExecValue")
                )
            except ValueError as exc:
                self.problem("warning", f"ForcedExecutionValue: {exc}", exe.path, el)
        exe.transaction_option = self._enum(
            TransactionOption, props.number("TransactionOption", 1), TransactionOption.Supported,
            "TransactionOption", exe.path, el)
        exe.isolation_level = self._enum(
            IsolationLevel, props.number("ISOLevel", props.number("IsolationLevel", 1048576)),
            IsolationLevel.Serializable, "IsolationLevel", exe.path, el)
        exe.locale_id = props.number("LocaleID", -1)
        mode = props.number("LoggingMode", 0)
        if mode in (0, 1, 2):
            exe.logging_mode = LoggingMode(mode)
        exe.property_expressions = _property_expressions(el)
        exe.variables = [self._variable(v, exe.path) for v in _items(el, "Variables", "Variable")]
        exe.event_handlers = [
            self._event_handler(h, exe) for h in _items(el, "EventHandlers", "EventHandler")
        ]

    # ---- executables

    def _executable(self, el: etree._Element, parent: Container) -> Executable:
        props = _Props(el)
        raw_type = props.text("ExecutableType") or props.text("CreationName")
        canonical = types.canonical_executable_type(raw_type)
        name = props.text("ObjectName")
        path = f"{parent.path}\\{name}"
        exe: Executable
        if canonical == types.SEQUENCE:
            exe = Sequence(name=name, path=path)
        elif canonical == types.FOR_LOOP:
            exe = ForLoop(
                name=name,
                path=path,
                init_expression=props.text("InitExpression"),
                eval_expression=props.text("EvalExpression"),
                assign_expression=props.text("AssignExpression"),
                max_concurrent=props.number("MaxConcurrent", 1),
            )
        elif canonical == types.FOREACH_LOOP:
            exe = ForeachLoop(name=name, path=path)
        else:
            exe = TaskHost(name=name, path=path)
        exe.parent = parent
        if not name:
            self.problem("error", "an executable has no ObjectName", path, el)
        if not raw_type:
            self.problem("error", "an executable has no ExecutableType", path, el)
        self._common(exe, props, el)
        if isinstance(exe, ForeachLoop):
            self._foreach(exe, el)
        if isinstance(exe, Container):
            self._container_body(exe, el)
        elif isinstance(exe, TaskHost):
            exe.exec_value_variable = props.text("ExecValueVariable")
            exe.object_data = el.find(_OBJECT_DATA)
            if exe.executable_type == types.PIPELINE:
                exe.data_flow = self._data_flow(exe)
        return exe

    def _container_body(self, container: Container, el: etree._Element) -> None:
        container.executables = [
            self._executable(child, container)
            for child in _items(el, "Executables", "Executable")
        ]
        seen: dict[str, Executable] = {}
        for child in container.executables:
            if child.name in seen:
                self.problem(
                    "warning",
                    f"two executables in one container are named '{child.name}'",
                    child.path,
                    None,
                )
            seen[child.name] = child
        container.precedence_constraints = []
        for pc_el in _items(el, "PrecedenceConstraints", "PrecedenceConstraint"):
            constraint = self._constraint(pc_el, container)
            if constraint is not None:
                container.precedence_constraints.append(constraint)

    def _event_handler(self, el: etree._Element, owner: Executable) -> EventHandler:
        props = _Props(el)
        event_name = props.text("EventName") or props.text("CreationName")
        path = f"{owner.path}.EventHandlers[{event_name}]"
        handler = EventHandler(name=event_name, path=path, event_name=event_name)
        handler.event_id = props.number("EventID", 0)
        handler.parent = owner
        self._common(handler, props, el)
        handler.executable_type = "EventHandler"
        self._container_body(handler, el)
        return handler

    # ---- precedence constraints

    def _constraint(self, el: etree._Element, container: Container) -> PrecedenceConstraint | None:
        props = _Props(el)
        name = props.text("ObjectName") or "Constraint"
        where = f"{container.path}.PrecedenceConstraints[{name}]"
        source: Executable | None = None
        target: Executable | None = None
        if props.has("From") or props.has("To"):
            source = self._by_ref(container, props.text("From"))
            target = self._by_ref(container, props.text("To"))
            from_text, to_text = props.text("From"), props.text("To")
        else:
            from_text = to_text = ""
            for child in el:
                if child.tag != _EXECUTABLE:
                    continue
                idref = child.get("IDREF") or child.get(Q + "IDREF") or ""
                is_from = (child.get(Q + "IsFrom") or "").strip().lower() in _TRUE
                found = self._by_dtsid(container, idref)
                if is_from:
                    source, from_text = found, idref
                else:
                    target, to_text = found, idref
        if source is None or target is None:
            missing = []
            if source is None:
                missing.append(f"From '{from_text}'")
            if target is None:
                missing.append(f"To '{to_text}'")
            self.problem(
                "error",
                f"precedence constraint '{name}' points at no executable of "
                f"{container.path}: {' and '.join(missing)}",
                where,
                el,
            )
            return None
        value_code = props.number("Value", 0)
        eval_code = props.number("EvalOp", 2)
        try:
            value = ExecResult(value_code)
        except ValueError:
            self.problem("error", f"constraint Value {value_code} is not 0, 1 or 2", where, el)
            value = ExecResult.Success
        try:
            eval_op = EvalOp(eval_code)
        except ValueError:
            self.problem("error", f"constraint EvalOp {eval_code} is not 1 to 4", where, el)
            eval_op = EvalOp.Constraint
        return PrecedenceConstraint(
            name=name,
            from_executable=source,
            to_executable=target,
            value=value,
            eval_op=eval_op,
            expression=props.text("Expression"),
            logical_and=props.flag("LogicalAnd", False),
            dtsid=props.text("DTSID"),
            ref_id=props.text("refId"),
            line=source_line(el),
        )

    @staticmethod
    def _by_ref(container: Container, ref: str) -> Executable | None:
        if not ref:
            return None
        for child in container.executables:
            if child.ref_id and child.ref_id == ref:
                return child
        low = ref.lower()
        for child in container.executables:
            if child.ref_id and child.ref_id.lower() == low:
                return child
        # Fall back on the last path segment: the child's name.
        tail = ref.rsplit("\\", 1)[-1]
        for child in container.executables:
            if child.name == tail:
                return child
        guid = normalize_guid(ref)
        if guid:
            return PackageReader._by_dtsid(container, ref)
        return None

    @staticmethod
    def _by_dtsid(container: Container, ref: str) -> Executable | None:
        guid = normalize_guid(ref)
        if not guid:
            return None
        for child in container.executables:
            if normalize_guid(child.dtsid) == guid:
                return child
        return None

    # ---- variables and parameters

    def _variable(self, el: etree._Element, scope: str) -> Variable:
        props = _Props(el)
        namespace = props.text("Namespace", "User") or "User"
        name = props.text("ObjectName")
        value_el = el.find(Q + "VariableValue")
        where = f"{scope}.Variables[{namespace}::{name}]"
        if value_el is not None:
            data_type = self._vartype(value_el.get(Q + "DataType") or "8", where, value_el)
            raw = value_el.text
            if len(value_el):  # a serialized object: keep its XML as the raw value
                raw = "".join(etree.tostring(c, encoding="unicode") for c in value_el)
        else:
            data_type, raw = VarType.String, ""
        variable = Variable(
            namespace=namespace,
            name=name,
            data_type=data_type,
            value=None,
            raw_value=raw,
            dtsid=props.text("DTSID"),
            description=props.text("Description"),
            read_only=props.flag("ReadOnly"),
            evaluate_as_expression=props.flag("EvaluateAsExpression"),
            expression=props.text("Expression"),
            raise_changed_event=props.flag("RaiseChangedEvent"),
            include_in_debug_dump=props.number("IncludeInDebugDump", 0) or None,
            scope=scope,
            line=source_line(el),
        )
        if value_el is not None and (value_el.get("Sensitive") == "1"):
            variable.sensitive = True
        try:
            variable.value = parse_value(data_type, raw)
        except ValueError as exc:
            variable.value = raw
            if not variable.evaluate_as_expression:
                self.problem("warning", f"value of {namespace}::{name}: {exc}", where, value_el)
        if not name:
            self.problem("error", "a variable has no name", where, el)
        return variable

    def _package_parameter(self, el: etree._Element) -> Parameter:
        props = _Props(el)
        name = props.text("ObjectName")
        where = f"\\Package.Parameters[$Package::{name}]"
        data_type = self._vartype(props.text("DataType", "8"), where, el)
        value_el = props.elements.get("ParameterValue")
        sensitive = props.flag("Sensitive")
        raw: str | None = None
        value: Any = None
        encrypted = False
        if value_el is not None:
            encrypted = (value_el.get("Encrypted") == "1") or (
                value_el.find(".//" + _ENCRYPTED_DATA) is not None
            )
            raw = None if encrypted else (value_el.text or "")
        if raw is not None:
            try:
                value = parse_value(data_type, raw)
            except ValueError as exc:
                self.problem("warning", f"value of $Package::{name}: {exc}", where, value_el)
                value = raw
        elif encrypted:
            how = ("with the package password: give it with --decrypt PASSWORD (or "
                   "SSIS_PACKAGE_DECRYPT), or" if value_el is not None
                   and value_el.find(".//" + _ENCRYPTED_DATA) is not None
                   else "with a Windows user key ssisrun cannot have:")
            self.problem(
                "warning",
                f"the value of sensitive parameter $Package::{name} is encrypted {how} "
                "supply the value with --param",
                where,
                value_el,
            )
        return Parameter(
            name=name,
            scope="Package",
            data_type=data_type,
            value=value,
            raw_value=raw,
            dtsid=props.text("DTSID"),
            description=props.text("Description"),
            required=props.flag("Required"),
            sensitive=sensitive,
            include_in_debug_dump=props.number("IncludeInDebugDump", 0) or None,
            line=source_line(el),
        )

    # ---- connection managers

    def _connection_manager(self, el: etree._Element, scope: str) -> ConnectionManager:
        return read_connection_manager(el, scope, self.problems)

    def _configuration(self, el: etree._Element) -> Configuration:
        props = _Props(el)
        code = props.number("ConfigurationType", 1)
        name = props.text("ObjectName")
        try:
            kind = ConfigurationType(code)
        except ValueError:
            self.problem("warning", f"unknown configuration type {code}",
                         f"\\Package.Configurations[{name}]", el)
            kind = ConfigurationType.ConfigFile
        return Configuration(
            name=name,
            configuration_type=kind,
            configuration_string=props.text("ConfigurationString"),
            configuration_variable=props.text("ConfigurationVariable"),
            description=props.text("Description"),
            dtsid=props.text("DTSID"),
            line=source_line(el),
        )

    def _log_provider(self, el: etree._Element) -> LogProvider:
        props = _Props(el)
        return LogProvider(
            name=props.text("ObjectName"),
            creation_name=props.text("CreationName"),
            config_string=props.text("ConfigString"),
            description=props.text("Description"),
            dtsid=props.text("DTSID"),
            delay_validation=props.flag("DelayValidation"),
            line=source_line(el),
        )

    # ---- Foreach Loop

    def _foreach(self, loop: ForeachLoop, el: etree._Element) -> None:
        enum_el = el.find(Q + "ForEachEnumerator")
        if enum_el is None:
            self.problem("error", "the Foreach Loop has no enumerator", loop.path, el)
        else:
            props = _Props(enum_el)
            creation = props.text("CreationName")
            enumerator = ForeachEnumerator(
                creation_name=creation,
                enumerator_type=types.canonical_enumerator_type(creation),
                property_expressions=_property_expressions(enum_el),
                dtsid=props.text("DTSID"),
                object_data=enum_el.find(_OBJECT_DATA),
            )
            self._enumerator_settings(enumerator)
            loop.enumerator = enumerator
        for map_el in _items(el, "ForEachVariableMappings", "ForEachVariableMapping"):
            props = _Props(map_el)
            loop.variable_mappings.append(
                ForeachVariableMapping(
                    variable_name=props.text("VariableName"),
                    value_index=props.number("ValueIndex", 0),
                    dtsid=props.text("DTSID"),
                    line=source_line(map_el),
                )
            )

    @staticmethod
    def _enumerator_settings(enumerator: ForeachEnumerator) -> None:
        data = enumerator.object_data
        if data is None or len(data) == 0:
            return
        body = data[0]
        settings: dict[str, Any] = {}
        kind = enumerator.enumerator_type
        if kind == "File":
            for prop in body.iter("FEFEProperty"):
                settings.update({str(k): str(v) for k, v in prop.attrib.items()})
        elif kind == "Item":
            for item in body.iter("FEIEItem"):
                row = [
                    (int(v.get("Type") or 8), v.get("Value") or "")
                    for v in item.iter("FEIEItemValue")
                ]
                enumerator.items.append(row)
            settings.update(_plain_attributes(body))
        else:
            settings.update(_plain_attributes(body))
            for child in body:
                if isinstance(child.tag, str) and not len(child) and child.text:
                    settings.setdefault(etree.QName(child).localname, child.text)
        enumerator.settings = settings

    # ---- Data Flow

    def _data_flow(self, task: TaskHost) -> DataFlow:
        flow = DataFlow()
        data = task.object_data
        pipeline = None
        if data is not None:
            for child in data:
                if isinstance(child.tag, str) and etree.QName(child).localname == "pipeline":
                    pipeline = child
                    break
        if pipeline is None:
            self.problem("warning", "the Data Flow task has no pipeline", task.path, None)
            return flow
        flow.pipeline = pipeline
        port_owner: dict[str, str] = {}
        components = pipeline.find("components")
        for comp_el in components if components is not None else ():
            if comp_el.tag != "component":
                continue
            properties: dict[str, str] = {}
            props_el = comp_el.find("properties")
            for prop in props_el if props_el is not None else ():
                if prop.tag == "property":
                    properties[prop.get("name") or ""] = prop.text or ""
            class_id = comp_el.get("componentClassID") or ""
            name = comp_el.get("name") or ""
            component = Component(
                name=name,
                id=comp_el.get("refId") or comp_el.get("id") or "",
                class_id=class_id,
                component_type=types.canonical_component_type(
                    class_id, properties.get("UserComponentTypeName")
                ),
                description=comp_el.get("description") or "",
                ref_id=comp_el.get("refId") or "",
                properties=properties,
                line=source_line(comp_el),
            )
            conns = comp_el.find("connections")
            for conn in conns if conns is not None else ():
                if conn.tag == "connection":
                    component.connections.append(
                        ComponentConnection(
                            name=conn.get("name") or "",
                            connection_manager_id=conn.get("connectionManagerID") or "",
                            connection_manager_ref_id=conn.get("connectionManagerRefId") or "",
                        )
                    )
            for group, tag, target in (
                ("inputs", "input", component.inputs),
                ("outputs", "output", component.outputs),
            ):
                group_el = comp_el.find(group)
                for port in group_el if group_el is not None else ():
                    if port.tag != tag:
                        continue
                    target.append(port.get("name") or "")
                    for key in ("refId", "id"):
                        port_id = port.get(key)
                        if port_id:
                            port_owner[port_id] = name
            flow.components.append(component)
        paths = pipeline.find("paths")
        for path_el in paths if paths is not None else ():
            if path_el.tag != "path":
                continue
            start = path_el.get("startId") or ""
            end = path_el.get("endId") or ""
            flow_path = DataFlowPath(
                name=path_el.get("name") or "",
                start_id=start,
                end_id=end,
                start_component=port_owner.get(start, ""),
                end_component=port_owner.get(end, ""),
            )
            if not flow_path.start_component or not flow_path.end_component:
                self.problem(
                    "error",
                    f"data-flow path '{flow_path.name}' joins an output or input that "
                    f"does not exist ({start} -> {end})",
                    task.path,
                    path_el,
                )
            flow.paths.append(flow_path)
        return flow


def read_connection_manager(
    el: etree._Element, scope: str, problems: list[Problem]
) -> ConnectionManager:
    """Read a ``DTS:ConnectionManager`` element: one of a package, or the root of a
    ``.conmgr`` file (``scope`` is ``Package`` or ``Project``)."""
    props = _Props(el)
    name = props.text("ObjectName")
    cm = ConnectionManager(
        name=name,
        dtsid=props.text("DTSID"),
        creation_name=props.text("CreationName"),
        description=props.text("Description"),
        delay_validation=props.flag("DelayValidation"),
        scope=scope,
        ref_id=props.text("refId"),
        property_expressions=_property_expressions(el),
        line=source_line(el),
    )
    where = f"\\{scope}.ConnectionManagers[{name}]"
    data = el.find(_OBJECT_DATA)
    inner = None
    if data is not None:
        for child in data:
            if isinstance(child.tag, str):
                inner = child
                break
    if inner is None:
        return cm
    inner_props = _Props(inner)
    cm.connection_string = inner_props.text("ConnectionString")
    cm.retain = inner_props.flag("Retain")
    skip = {"ConnectionString", "Retain"}
    for child in inner.iter():
        if not isinstance(child.tag, str):
            continue
        sensitive = child.get("Sensitive") == "1" or child.get(Q + "Sensitive") == "1"
        local = etree.QName(child).localname
        if sensitive or local == "Password":
            label = child.get(Q + "Name") or local
            skip.add(label)
            cm.has_password = True
            key = _secret_key(child)
            if key:
                cm.encrypted_secrets.append(label)
                cm.secrets_key = cm.secrets_key or key
            elif (label.lower() in _PASSWORD_NAMES or (cm.kind == "AZURESTORAGE" and
                                                       label.lower() == "accountkey")) \
                    and cm.password is None:
                cm.password = child.text or ""
        elif child.tag == _ENCRYPTED_DATA and "EncryptedData" not in cm.encrypted_secrets:
            cm.has_password = True
            cm.encrypted_secrets.append("EncryptedData")
            cm.secrets_key = cm.secrets_key or "password"
    for key, value in inner_props.values.items():
        if key not in skip:
            cm.properties[key] = value
    # The server settings of FTP, HTTP (and similar) managers sit on an element nested in
    # the inner one: <DTS:FtpConnection DTS:ServerName="..." DTS:ServerUserName="...">.
    for child in inner:
        if isinstance(child.tag, str) and child.tag.startswith(Q) \
                and child.tag.endswith("Connection"):
            for key, value in _Props(child).values.items():
                if key not in skip:
                    cm.properties.setdefault(key, value)
    if cm.kind in ("FLATFILE", "MULTIFLATFILE"):
        cm.flat_file = _flat_file(inner, inner_props)
    if cm.encrypted_secrets:
        problems.append(Problem("warning", encrypted_secrets_message(cm), where, source_line(el)))
    return cm


#: the names a connection manager's own password has (not ProxyPassword, ...); an
#: AzureStorage manager's is its AccountKey
_PASSWORD_NAMES = frozenset({"password", "serverpassword"})
#: base64 of a Windows DPAPI blob's header (version 1, provider df9d8cd0-1501-11d1-...)
DPAPI_PREFIX = "AQAAANCMnd8BFdERjHoAwE/Cl+s"


def _secret_key(el: etree._Element) -> str:
    """How a sensitive value is encrypted: "user key" (a Windows DPAPI blob, written by
    EncryptSensitiveWithUserKey; ``.conmgr`` files write it without ``Encrypted="1"``),
    "password" (XML encryption, EncryptSensitiveWithPassword), or "" (kept in clear)."""
    if el.find(".//" + _ENCRYPTED_DATA) is not None:
        return "password"
    if (el.text or "").lstrip().startswith(DPAPI_PREFIX):
        return "user key"
    if el.get("Encrypted") == "1" or el.get(Q + "Encrypted") == "1":
        return "user key"
    return ""


def whole_package_encrypted_message(el: etree._Element) -> str:
    """Why a package encrypted as a whole cannot be loaded, and what to do."""
    if el.get("Salt") is not None or el.find("{" + XMLENC_NS + "}EncryptionMethod") \
            is not None:
        return ("the whole package is encrypted with a password (EncryptAllWithPassword): "
                "give the password with --decrypt PASSWORD or SSIS_PACKAGE_DECRYPT")
    return ("the whole package is encrypted with a Windows user key (EncryptAllWithUserKey), "
            "which only the user who saved it can decrypt, on the machine where it was saved; "
            "save it with ProtectionLevel EncryptSensitiveWithPassword or DontSaveSensitive "
            "and supply secrets with --decrypt, --conn or --param")


def encrypted_secrets_message(cm: ConnectionManager) -> str:
    """What to do about a connection manager whose secrets ssisrun cannot decrypt."""
    what = ", ".join(cm.encrypted_secrets)
    if cm.secrets_key == "password":
        how = ("with the package password (EncryptSensitiveWithPassword): give the password "
               "with --decrypt PASSWORD (or SSIS_PACKAGE_DECRYPT), or")
    else:
        how = ("with a Windows user key (EncryptSensitiveWithUserKey), which only the user "
               "who saved it can decrypt, on the machine where it was saved:")
    if cm.kind == "HTTP":
        return (f"connection manager '{cm.name}' keeps {what} encrypted {how} give "
                "ServerPassword with a property expression on the connection manager")
    if cm.kind == "FTP":
        example = f"'{cm.name}=ftp://user:password@host:21/'"
    elif cm.kind == "SMTP":
        example = f"'{cm.name}=SmtpServer=host;User=...;Password=...'"
    elif cm.kind == "AZURESTORAGE":
        example = (f"'{cm.name}=DefaultEndpointsProtocol=https;AccountName=...;"
                   "AccountKey=...;EndpointSuffix=core.windows.net'")
    else:
        example = f"'{cm.name}=...;User ID=...;Password=...'"
    return (f"connection manager '{cm.name}' keeps {what} encrypted {how} give its "
            f"connection string, password included, with --conn {example} (or in a "
            "--connections file)")


def _flat_file(inner: etree._Element, props: _Props) -> FlatFileFormat:
    qualifier = props.text("TextQualifier", "")
    fmt = FlatFileFormat(
        format=props.text("Format", "Delimited") or "Delimited",
        code_page=props.number("CodePage", 1252),
        unicode=props.flag("Unicode"),
        header_row_delimiter=decode_xml_name_escapes(props.text("HeaderRowDelimiter", "\r\n")),
        header_rows_to_skip=props.number("HeaderRowsToSkip", 0),
        data_rows_to_skip=props.number("DataRowsToSkip", 0),
        row_delimiter=decode_xml_name_escapes(props.text("RowDelimiter", "")),
        text_qualifier=decode_xml_name_escapes(qualifier) if qualifier and qualifier != "<none>"
        else None,
        column_names_in_first_data_row=props.flag("ColumnNamesInFirstDataRow"),
        locale_id=props.number("LocaleID", 0) or None,
    )
    for col_el in _items(inner, "FlatFileColumns", "FlatFileColumn"):
        cp = _Props(col_el)
        fmt.columns.append(
            FlatFileColumn(
                name=cp.text("ObjectName"),
                column_type=cp.text("ColumnType", "Delimited") or "Delimited",
                column_delimiter=decode_xml_name_escapes(cp.text("ColumnDelimiter")),
                data_type=cp.number("DataType", 129),
                maximum_width=cp.number("MaximumWidth", 0),
                column_width=cp.number("ColumnWidth", 0),
                precision=cp.number("DataPrecision", 0),
                scale=cp.number("DataScale", 0),
                text_qualified=cp.flag("TextQualified"),
                dtsid=cp.text("DTSID"),
            )
        )
    return fmt


def read_package(root: etree._Element, source: str) -> Package:
    """Read a parsed package document (its root element) into the model."""
    return PackageReader(root, source).read()
