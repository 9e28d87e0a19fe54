"""One typed model of an SSIS package, in SSIS's own vocabulary.

Every ``.dtsx`` format version (2, 3, 6 and 8) is read into these classes by
:mod:`ssisrun.dtsx`; the run time, the validator and ``ssisrun show`` only ever
see this model. Names follow the ``.dtsx`` file and Microsoft's documentation:
a user who knows SSIS finds ``Package``, ``Sequence``, ``ForLoop``,
``ForeachLoop``, ``TaskHost``, ``PrecedenceConstraint``, ``Variable``,
``ConnectionManager`` and ``EventHandler`` here.

Defaults are SSIS's (spec ssis-runtime.md 2.4), filled in by the reader because
v6/v8 files leave them out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml import etree


# --------------------------------------------------------------------------- enums


class ExecResult(IntEnum):
    """``DTSExecResult``: the result of an executable and a constraint's ``Value``."""

    Success = 0
    Failure = 1
    Completion = 2
    Canceled = 3


class EvalOp(IntEnum):
    """``DTSPrecedenceEvalOp``: how a precedence constraint is evaluated."""

    Expression = 1
    Constraint = 2
    ExpressionAndConstraint = 3
    ExpressionOrConstraint = 4


class ForcedExecResult(IntEnum):
    """``DTSForcedExecResult``: the result an executable reports whatever happened."""

    None_ = -1
    Success = 0
    Failure = 1
    Completion = 2


class TransactionOption(IntEnum):
    NotSupported = 0
    Supported = 1
    Required = 2


class IsolationLevel(IntEnum):
    """``System.Data.IsolationLevel``."""

    Unspecified = -1
    Chaos = 16
    ReadUncommitted = 256
    ReadCommitted = 4096
    RepeatableRead = 65536
    Serializable = 1048576
    Snapshot = 16777216


class CheckpointUsage(IntEnum):
    """``DTSCheckpointUsage`` (DTSCU_NEVER 0, DTSCU_IFEXISTS 1, DTSCU_ALWAYS 2)."""

    Never = 0
    IfExists = 1
    Always = 2


class ProtectionLevel(IntEnum):
    """``DTSProtectionLevel`` (spec 5.15)."""

    DontSaveSensitive = 0
    EncryptSensitiveWithUserKey = 1
    EncryptSensitiveWithPassword = 2
    EncryptAllWithPassword = 3
    EncryptAllWithUserKey = 4
    ServerStorage = 5


class LoggingMode(IntEnum):
    UseParentSetting = 0
    Enabled = 1
    Disabled = 2


class VarType(IntEnum):
    """The ``DTS:DataType`` codes of variables and parameters (VARTYPE based, spec 2.11)."""

    Empty = 0
    DBNull = 1
    Int16 = 2
    Int32 = 3
    Single = 4
    Double = 5
    Currency = 6
    DateTime = 7
    String = 8
    Dispatch = 9  # VT_DISPATCH; not seen in files
    Boolean = 11
    Variant = 12
    Object = 13  # DTS:DataSubType="ManagedSerializable"
    Decimal = 14
    SByte = 16
    Byte = 17
    UInt16 = 18
    UInt32 = 19
    Int64 = 20
    UInt64 = 21
    Guid = 72

    @property
    def display(self) -> str:
        return "Object" if self in (VarType.Object, VarType.Dispatch) else self.name


class ConfigurationType(IntEnum):
    """``DTSConfigurationType`` (spec 2.16)."""

    ParentVariable = 0
    ConfigFile = 1
    EnvVariable = 2
    RegEntry = 3
    IParentVariable = 4
    IConfigFile = 5
    IRegEntry = 6
    SqlServer = 7
    IniFile = 8
    ISqlServer = 9
    IIniFile = 10


# --------------------------------------------------------------------------- values


@dataclass(slots=True, frozen=True)
class Problem:
    """Something wrong with a package, found while loading or validating it.

    ``severity`` is ``error`` (the package cannot run as it is) or ``warning``
    (it can run, but something will not work as its author meant)."""

    severity: str
    message: str
    #: the executable's path (``\\Package\\Load\\Insert rows``) or the object's place
    path: str = "\\Package"
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "path": self.path, "line": self.line,
                "message": self.message}


@dataclass(slots=True)
class Variable:
    """A variable, owned by the container whose ``Variables`` hold it (``scope``)."""

    namespace: str
    name: str
    data_type: VarType
    value: Any
    raw_value: str | None = None
    dtsid: str = ""
    description: str = ""
    read_only: bool = False
    evaluate_as_expression: bool = False
    expression: str = ""
    raise_changed_event: bool = False
    include_in_debug_dump: int | None = None
    #: the path of the owning container (``\\Package\\Load``)
    scope: str = ""
    #: True when the stored value was encrypted/blanked and is unusable here
    sensitive: bool = False
    line: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}::{self.name}"


@dataclass(slots=True)
class Parameter:
    """A package parameter (``$Package::``) or project parameter (``$Project::``)."""

    name: str
    scope: str  # "Package" or "Project"
    data_type: VarType
    value: Any
    raw_value: str | None = None
    dtsid: str = ""
    description: str = ""
    required: bool = False
    sensitive: bool = False
    include_in_debug_dump: int | None = None
    line: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"${self.scope}::{self.name}"


@dataclass(slots=True)
class FlatFileColumn:
    name: str
    column_type: str = "Delimited"  # Delimited, FixedWidth, Ragged
    column_delimiter: str = ""
    data_type: int = 129  # DT_STR
    maximum_width: int = 0
    column_width: int = 0
    precision: int = 0
    scale: int = 0
    text_qualified: bool = False
    dtsid: str = ""


@dataclass(slots=True)
class FlatFileFormat:
    """The format of a FLATFILE / MULTIFLATFILE connection manager."""

    format: str = "Delimited"  # Delimited, FixedWidth, RaggedRight, Mixed
    code_page: int = 1252
    unicode: bool = False
    header_row_delimiter: str = "\r\n"
    header_rows_to_skip: int = 0
    data_rows_to_skip: int = 0
    row_delimiter: str = ""
    text_qualifier: str | None = None
    column_names_in_first_data_row: bool = False
    locale_id: int | None = None
    columns: list[FlatFileColumn] = field(default_factory=list)


@dataclass(slots=True)
class ConnectionManager:
    """A connection manager of a package, or of a project (a ``.conmgr`` file)."""

    name: str
    dtsid: str
    creation_name: str
    connection_string: str = ""
    description: str = ""
    retain: bool = False
    delay_validation: bool = False
    #: "Package" or "Project"
    scope: str = "Package"
    ref_id: str = ""
    property_expressions: dict[str, str] = field(default_factory=dict)
    #: other attributes/properties of the inner element and of the server-settings element
    #: nested in it (``DTS:FtpConnection``, ``DTS:HttpConnection``): ServerName,
    #: FileUsageType, ...; sensitive values are never here
    properties: dict[str, str] = field(default_factory=dict)
    flat_file: FlatFileFormat | None = None
    #: names of sensitive values present but unusable here (encrypted with a key we lack)
    encrypted_secrets: list[str] = field(default_factory=list)
    #: how they are encrypted: "user key" (Windows DPAPI: EncryptSensitiveWithUserKey) or
    #: "password" (EncryptSensitiveWithPassword); "" when nothing is encrypted
    secrets_key: str = ""
    has_password: bool = False
    #: the password the package keeps in clear (a ``DTS:Password`` or ``ServerPassword``
    #: that is not encrypted; "" when saved empty, as DontSaveSensitive does); None when
    #: there is none or it is encrypted. Never printed.
    password: str | None = field(default=None, repr=False)
    line: int | None = None

    @property
    def kind(self) -> str:
        """The connection type without provider detail: ``OLEDB``, ``ADO.NET``, ``FLATFILE``."""
        return self.creation_name.split(":", 1)[0].upper() if self.creation_name else ""

    @property
    def file_usage_type(self) -> int | None:
        value = self.properties.get("FileUsageType")
        return int(value) if value not in (None, "") else None


@dataclass(slots=True)
class Configuration:
    """A package configuration (package deployment model, spec 2.16)."""

    name: str
    configuration_type: ConfigurationType
    configuration_string: str = ""
    configuration_variable: str = ""
    description: str = ""
    dtsid: str = ""
    line: int | None = None


@dataclass(slots=True)
class LogProvider:
    name: str
    creation_name: str
    config_string: str = ""
    description: str = ""
    dtsid: str = ""
    delay_validation: bool = False
    line: int | None = None


# --------------------------------------------------------------------------- executables


@dataclass(slots=True, eq=False)
class Executable:
    """What every executable has: identity, common properties (spec 2.4), property
    expressions, its own variables and its own event handlers."""

    name: str
    dtsid: str = ""
    description: str = ""
    #: the type as written in the file (``Microsoft.SqlServer.Dts...``, ``SSIS.Pipeline.2``)
    creation_name: str = ""
    #: the canonical type: ``Microsoft.ExecuteSQLTask``, ``STOCK:SEQUENCE`` ...
    executable_type: str = ""
    #: ``\\Package\\Load\\Insert rows``
    path: str = ""
    ref_id: str = ""
    disabled: bool = False
    delay_validation: bool = False
    disable_event_handlers: bool = False
    fail_package_on_failure: bool = False
    fail_parent_on_failure: bool = False
    maximum_error_count: int = 1
    force_execution_result: ForcedExecResult = ForcedExecResult.None_
    force_execution_value: bool = False
    forced_execution_value: Any = 0
    forced_execution_value_type: VarType = VarType.Int32
    transaction_option: TransactionOption = TransactionOption.Supported
    isolation_level: IsolationLevel = IsolationLevel.Serializable
    locale_id: int = -1
    logging_mode: LoggingMode = LoggingMode.UseParentSetting
    property_expressions: dict[str, str] = field(default_factory=dict)
    variables: list[Variable] = field(default_factory=list)
    event_handlers: list[EventHandler] = field(default_factory=list)
    line: int | None = None
    #: the executable that holds this one: its container, or for an event handler the
    #: executable that owns it (None for the package)
    parent: Executable | None = field(default=None, repr=False)

    @property
    def is_container(self) -> bool:
        return False

    def ancestors(self) -> Iterator[Executable]:
        """The executables above this one, nearest first, up to the package."""
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[Executable]:
        """This executable, then every executable below it (event handlers included)."""
        yield self
        for handler in self.event_handlers:
            yield from handler.walk()


@dataclass(slots=True, eq=False)
class PrecedenceConstraint:
    """A constraint between two direct children of one container (spec 2.2)."""

    name: str
    from_executable: Executable
    to_executable: Executable
    value: ExecResult = ExecResult.Success
    eval_op: EvalOp = EvalOp.Constraint
    expression: str = ""
    logical_and: bool = False
    dtsid: str = ""
    ref_id: str = ""
    line: int | None = None

    @property
    def uses_expression(self) -> bool:
        return self.eval_op != EvalOp.Constraint

    @property
    def uses_constraint(self) -> bool:
        return self.eval_op != EvalOp.Expression


@dataclass(slots=True, eq=False)
class Container(Executable):
    """An executable that holds other executables and the constraints between them."""

    executables: list[Executable] = field(default_factory=list)
    precedence_constraints: list[PrecedenceConstraint] = field(default_factory=list)

    @property
    def is_container(self) -> bool:
        return True

    def walk(self) -> Iterator[Executable]:
        yield self
        for child in self.executables:
            yield from child.walk()
        for handler in self.event_handlers:
            yield from handler.walk()

    def child(self, name: str) -> Executable | None:
        for exe in self.executables:
            if exe.name == name:
                return exe
        return None


@dataclass(slots=True, eq=False)
class Sequence(Container):
    pass


@dataclass(slots=True, eq=False)
class ForLoop(Container):
    init_expression: str = ""
    eval_expression: str = ""
    assign_expression: str = ""
    max_concurrent: int = 1


@dataclass(slots=True)
class ForeachVariableMapping:
    variable_name: str
    value_index: int = 0
    dtsid: str = ""
    line: int | None = None


@dataclass(slots=True, eq=False)
class ForeachEnumerator:
    """The enumerator of a Foreach Loop (spec 2.8, 5.11)."""

    creation_name: str
    #: canonical kind: File, Item, ADO, FromVariable, NodeList, SMO, SchemaRowset,
    #: AzureBlob, AdlsFile, HdfsFile, or the creation name when unknown
    enumerator_type: str
    #: decoded settings: File -> Folder, FileSpec, FileNameRetrievalType, Recurse;
    #: ADO -> EnumType, VarName; FromVariable -> VariableName; NodeList -> its fields ...
    settings: dict[str, Any] = field(default_factory=dict)
    #: Item enumerator: rows of (DataType, value) cells
    items: list[list[tuple[int, str]]] = field(default_factory=list)
    property_expressions: dict[str, str] = field(default_factory=dict)
    dtsid: str = ""
    object_data: etree._Element | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class ForeachLoop(Container):
    enumerator: ForeachEnumerator | None = None
    variable_mappings: list[ForeachVariableMapping] = field(default_factory=list)


@dataclass(slots=True)
class ComponentConnection:
    name: str
    connection_manager_id: str = ""
    connection_manager_ref_id: str = ""


@dataclass(slots=True, eq=False)
class Component:
    """A data-flow component, kept as a summary; the data-flow engine reads the
    pipeline XML itself."""

    name: str
    id: str
    class_id: str
    #: canonical: ``Microsoft.OLEDBSource``, ``Microsoft.ScriptComponent`` ...
    component_type: str
    description: str = ""
    ref_id: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    connections: list[ComponentConnection] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass(slots=True)
class DataFlowPath:
    name: str
    start_id: str
    end_id: str
    #: the components the path joins, by component name, once resolved
    start_component: str = ""
    end_component: str = ""


@dataclass(slots=True, eq=False)
class DataFlow:
    components: list[Component] = field(default_factory=list)
    paths: list[DataFlowPath] = field(default_factory=list)
    pipeline: etree._Element | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class TaskHost(Executable):
    """Wraps one task. ``object_data`` is the task's own XML, kept for the task plug-in."""

    object_data: etree._Element | None = field(default=None, repr=False)
    exec_value_variable: str = ""
    #: for Data Flow tasks, the components and paths of the pipeline
    data_flow: DataFlow | None = None


@dataclass(slots=True, eq=False)
class EventHandler(Container):
    """An event handler's control flow (``OnError``, ``OnPreExecute`` ...)."""

    event_name: str = ""
    event_id: int = 0


@dataclass(slots=True, eq=False)
class Package(Container):
    """The top container, with the package-only properties."""

    format_version: int = 8
    version_guid: str = ""
    version_major: int = 1
    version_minor: int = 0
    version_build: int = 0
    version_comments: str = ""
    creator_name: str = ""
    creator_computer_name: str = ""
    creation_date: str = ""
    last_modified_product_version: str = ""
    package_type: int = 5
    protection_level: ProtectionLevel = ProtectionLevel.EncryptSensitiveWithUserKey
    max_concurrent_executables: int = -1
    checkpoint_file_name: str = ""
    checkpoint_usage: CheckpointUsage = CheckpointUsage.Never
    save_checkpoints: bool = False
    enable_configurations: bool = False
    suppress_configuration_warnings: bool = False
    offline_mode: bool = False
    connection_managers: list[ConnectionManager] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    configurations: list[Configuration] = field(default_factory=list)
    log_providers: list[LogProvider] = field(default_factory=list)
    #: the file the package was read from (inside an .ispac: ``x.ispac!/Pkg.dtsx``)
    source: str = ""
    #: the project the package was loaded with, if any
    project: Project | None = field(default=None, repr=False)
    #: problems found while reading that do not stop the package from loading
    problems: list[Problem] = field(default_factory=list)

    # ---- lookups

    def all_connection_managers(self) -> list[ConnectionManager]:
        """The package's connection managers, then the project's."""
        managers = list(self.connection_managers)
        if self.project is not None:
            managers.extend(self.project.connection_managers)
        return managers

    def find_connection_manager(self, ref: str) -> ConnectionManager | None:
        """Resolve a reference as tasks and components write it: a DTSID (any case,
        with or without braces, maybe with ``:external``), a refId
        (``Package.ConnectionManagers[Name]``, ``Project.ConnectionManagers[Name]``)
        or a plain name."""
        key = ref.strip()
        if not key:
            return None
        if key.endswith(":external"):
            key = key[: -len(":external")]
        managers = self.all_connection_managers()
        guid = normalize_guid(key)
        if guid:
            for cm in managers:
                if cm.dtsid and normalize_guid(cm.dtsid) == guid:
                    return cm
        for prefix in ("Package.ConnectionManagers[", "Project.ConnectionManagers["):
            if key.startswith(prefix) and key.endswith("]"):
                key = key[len(prefix) : -1]
                break
        for cm in managers:
            if cm.name == key:
                return cm
        for cm in managers:
            if cm.name.lower() == key.lower():
                return cm
        return None

    def all_parameters(self) -> list[Parameter]:
        params = list(self.parameters)
        if self.project is not None:
            params.extend(self.project.parameters)
        return params

    def all_variables(self) -> list[Variable]:
        """Every variable of every scope, event handlers included."""
        return [var for exe in self.walk() for var in exe.variables]

    def find_executable(self, path: str) -> Executable | None:
        for exe in self.walk():
            if exe.path == path:
                return exe
        return None


@dataclass(slots=True, eq=False)
class Project:
    """A project deployment model project: a folder with a ``.dtproj`` or an ``.ispac``."""

    name: str
    source: str
    parameters: list[Parameter] = field(default_factory=list)
    connection_managers: list[ConnectionManager] = field(default_factory=list)
    #: package names (``Load.dtsx``) in the project, in project order
    package_names: list[str] = field(default_factory=list)
    protection_level: str = ""
    #: for a folder, the directory; for an .ispac, None (packages are read from the zip)
    directory: Path | None = None
    #: problems found while reading the project's files
    problems: list[Problem] = field(default_factory=list)


def normalize_guid(text: str) -> str:
    """``{a1b2...}`` / ``A1B2...`` -> ``{A1B2...}``; anything that is not a GUID -> ``""``.

    GUIDs compare case-insensitively (v3 IDREFs are lower case for upper-case DTSIDs)."""
    value = text.strip()
    if value.startswith("{") and value.endswith("}"):
        value = value[1:-1]
    if len(value) != 36 or value.count("-") != 4:
        return ""
    if not all(c in "0123456789abcdefABCDEF-" for c in value):
        return ""
    return "{" + value.upper() + "}"
