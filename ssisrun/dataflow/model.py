"""The typed model of one pipeline (a Data Flow task's ``<pipeline>``), read from its XML.

Every format version is read into the same classes: v2/v3 identify components, inputs,
outputs and columns by numeric ``id`` and ``lineageId``; v6/v8 by ``refId`` paths
(``Package\\Load\\Source.Outputs[Output].Columns[Name]``). Both become strings, so a
lineage ID is a plain ``str`` key wherever it is used.

Names follow the pipeline XML and Microsoft's object model: :class:`PipelineComponent`
(``IDTSComponentMetaData100``) with its properties, connections, :class:`Input` and
:class:`Output` collections; :class:`InputColumn` points at the :class:`OutputColumn` it
reads by ``lineage_id``; :class:`Path` joins an output to an input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ssisrun.dataflow import types as dft
from ssisrun.dtsx.types import canonical_component_type
from ssisrun.expressions.types import SsisType

if TYPE_CHECKING:
    from lxml import etree

#: error and truncation dispositions (``DTSRowDisposition``)
FAIL = "FailComponent"
IGNORE = "IgnoreFailure"
REDIRECT = "RedirectRow"
NOT_USED = "NotUsed"

_DISPOSITIONS = {"failcomponent": FAIL, "ignorefailure": IGNORE, "redirectrow": REDIRECT,
                 "notused": NOT_USED, "0": NOT_USED, "1": IGNORE, "2": REDIRECT, "3": FAIL}


def disposition(text: str | None, default: str = NOT_USED) -> str:
    if not text:
        return default
    return _DISPOSITIONS.get(text.strip().lower(), default)


@dataclass(slots=True, eq=False)
class OutputColumn:
    """A column an output adds to the data flow (``outputColumn``) or an external
    metadata column (what a source or destination sees of its table or file)."""

    id: str
    name: str
    lineage_id: str
    type: SsisType
    properties: dict[str, str] = field(default_factory=dict)
    error_row_disposition: str = NOT_USED
    truncation_row_disposition: str = NOT_USED
    external_metadata_column_id: str = ""
    sort_key_position: int = 0
    #: 1 ErrorCode, 2 ErrorColumn (on error outputs)
    special_flags: int = 0


@dataclass(slots=True, eq=False)
class InputColumn:
    """A column an input reads: ``lineage_id`` names the upstream output column."""

    id: str
    lineage_id: str
    name: str = ""
    usage_type: str = "readOnly"
    properties: dict[str, str] = field(default_factory=dict)
    error_row_disposition: str = NOT_USED
    truncation_row_disposition: str = NOT_USED
    external_metadata_column_id: str = ""
    #: the type written in the input column's cache (v6/v8 ``cachedDataType``), if any
    cached_type: SsisType | None = None


@dataclass(slots=True, eq=False)
class Input:
    id: str
    name: str
    columns: list[InputColumn] = field(default_factory=list)
    external_columns: list[OutputColumn] = field(default_factory=list)
    error_row_disposition: str = NOT_USED
    truncation_row_disposition: str = NOT_USED
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Output:
    id: str
    name: str
    columns: list[OutputColumn] = field(default_factory=list)
    external_columns: list[OutputColumn] = field(default_factory=list)
    is_error_out: bool = False
    #: the id of the input a synchronous output passes rows from ("" when asynchronous)
    synchronous_input_id: str = ""
    exclusion_group: int = 0
    is_sorted: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    error_row_disposition: str = NOT_USED
    truncation_row_disposition: str = NOT_USED

    def column_by_flag(self, flag: int) -> OutputColumn | None:
        for col in self.columns:
            if col.special_flags == flag:
                return col
        return None


@dataclass(slots=True, eq=False)
class ComponentConnection:
    name: str
    connection_manager_id: str = ""
    connection_manager_ref_id: str = ""

    @property
    def ref(self) -> str:
        return self.connection_manager_id or self.connection_manager_ref_id


@dataclass(slots=True, eq=False)
class PipelineComponent:
    id: str
    name: str
    class_id: str
    component_type: str
    description: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    connections: list[ComponentConnection] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    line: int | None = None

    def get_property(self, name: str, default: str = "") -> str:
        value = self.properties.get(name)
        return default if value is None else value

    def connection(self, name: str | None = None) -> ComponentConnection | None:
        for conn in self.connections:
            if name is None or conn.name == name:
                return conn
        return self.connections[0] if self.connections and name is None else None

    @property
    def normal_outputs(self) -> list[Output]:
        return [o for o in self.outputs if not o.is_error_out]

    @property
    def error_output(self) -> Output | None:
        for output in self.outputs:
            if output.is_error_out:
                return output
        return None


@dataclass(slots=True, eq=False)
class Path:
    id: str
    name: str
    start_id: str
    end_id: str


@dataclass(slots=True, eq=False)
class Pipeline:
    components: list[PipelineComponent] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    default_buffer_max_rows: int = 10_000
    default_buffer_size: int = 10_485_760
    engine_threads: int = 10
    #: every output column by lineage id (the columns rows can carry)
    lineage: dict[str, OutputColumn] = field(default_factory=dict)
    #: which component owns each output column (by lineage id)
    lineage_owner: dict[str, PipelineComponent] = field(default_factory=dict)

    def component(self, name: str) -> PipelineComponent | None:
        for comp in self.components:
            if comp.name == name:
                return comp
        return None


# --------------------------------------------------------------------------- reader


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text) if text not in (None, "") else default
    except ValueError:
        return default


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "-1", "1")


def _ident(el: etree._Element) -> str:
    return el.get("refId") or el.get("id") or ""


def _properties(el: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    wrapper = el.find("properties")
    for prop in wrapper if wrapper is not None else ():
        if prop.tag == "property":
            props[prop.get("name") or ""] = prop.text or ""
    return props


def _type_of(el: etree._Element) -> SsisType:
    return dft.column_type(dft.data_type(el.get("dataType") or "wstr"),
                           _int(el.get("length")), _int(el.get("precision")),
                           _int(el.get("scale")), _int(el.get("codePage")))


def _output_column(el: etree._Element) -> OutputColumn:
    ident = _ident(el)
    return OutputColumn(
        id=ident,
        name=el.get("name") or "",
        lineage_id=el.get("lineageId") or ident,
        type=_type_of(el),
        properties=_properties(el),
        error_row_disposition=disposition(el.get("errorRowDisposition")),
        truncation_row_disposition=disposition(el.get("truncationRowDisposition")),
        external_metadata_column_id=el.get("externalMetadataColumnId") or "",
        sort_key_position=_int(el.get("sortKeyPosition")),
        special_flags=_int(el.get("specialFlags")),
    )


def _external_columns(el: etree._Element) -> list[OutputColumn]:
    wrapper = el.find("externalMetadataColumns")
    return [_output_column(c) for c in (wrapper if wrapper is not None else ())
            if c.tag == "externalMetadataColumn"]


def _input_column(el: etree._Element) -> InputColumn:
    cached = el.get("cachedDataType")
    cached_type = None
    if cached:
        cached_type = dft.column_type(dft.data_type(cached), _int(el.get("cachedLength")),
                                      _int(el.get("cachedPrecision")),
                                      _int(el.get("cachedScale")),
                                      _int(el.get("cachedCodepage")))
    return InputColumn(
        id=_ident(el),
        lineage_id=el.get("lineageId") or "",
        name=el.get("cachedName") or el.get("name") or "",
        usage_type=el.get("usageType") or "readOnly",
        properties=_properties(el),
        error_row_disposition=disposition(el.get("errorRowDisposition")),
        truncation_row_disposition=disposition(el.get("truncationRowDisposition")),
        external_metadata_column_id=el.get("externalMetadataColumnId") or "",
        cached_type=cached_type,
    )


def read_pipeline(pipeline: etree._Element) -> Pipeline:
    """Read a ``<pipeline>`` element (any format version) into a :class:`Pipeline`."""
    result = Pipeline(
        default_buffer_max_rows=_int(pipeline.get("defaultBufferMaxRows"), 10_000) or 10_000,
        default_buffer_size=_int(pipeline.get("defaultBufferSize"), 10_485_760),
        engine_threads=_int(pipeline.get("engineThreads"), 10),
    )
    components = pipeline.find("components")
    for comp_el in components if components is not None else ():
        if comp_el.tag != "component":
            continue
        props = _properties(comp_el)
        class_id = comp_el.get("componentClassID") or ""
        comp = PipelineComponent(
            id=_ident(comp_el),
            name=comp_el.get("name") or "",
            class_id=class_id,
            component_type=canonical_component_type(class_id, props.get("UserComponentTypeName")),
            description=comp_el.get("description") or "",
            properties=props,
            line=getattr(comp_el, "sourceline", None),
        )
        conns = comp_el.find("connections")
        for conn in conns if conns is not None else ():
            if conn.tag == "connection":
                comp.connections.append(ComponentConnection(
                    name=conn.get("name") or "",
                    connection_manager_id=conn.get("connectionManagerID") or "",
                    connection_manager_ref_id=conn.get("connectionManagerRefId") or ""))
        inputs = comp_el.find("inputs")
        for in_el in inputs if inputs is not None else ():
            if in_el.tag != "input":
                continue
            cols = in_el.find("inputColumns")
            comp.inputs.append(Input(
                id=_ident(in_el),
                name=in_el.get("name") or "",
                columns=[_input_column(c) for c in (cols if cols is not None else ())
                         if c.tag == "inputColumn"],
                external_columns=_external_columns(in_el),
                error_row_disposition=disposition(in_el.get("errorRowDisposition")),
                truncation_row_disposition=disposition(in_el.get("truncationRowDisposition")),
                properties=_properties(in_el),
            ))
        outputs = comp_el.find("outputs")
        for out_el in outputs if outputs is not None else ():
            if out_el.tag != "output":
                continue
            cols = out_el.find("outputColumns")
            sync = out_el.get("synchronousInputId") or ""
            output = Output(
                id=_ident(out_el),
                name=out_el.get("name") or "",
                columns=[_output_column(c) for c in (cols if cols is not None else ())
                         if c.tag == "outputColumn"],
                external_columns=_external_columns(out_el),
                is_error_out=_flag(out_el.get("isErrorOut")),
                synchronous_input_id="" if sync in ("", "0") else sync,
                exclusion_group=_int(out_el.get("exclusionGroup")),
                is_sorted=_flag(out_el.get("isSorted")),
                properties=_properties(out_el),
                error_row_disposition=disposition(out_el.get("errorRowDisposition")),
                truncation_row_disposition=disposition(out_el.get("truncationRowDisposition")),
            )
            comp.outputs.append(output)
            for col in output.columns:
                result.lineage[col.lineage_id] = col
                result.lineage_owner[col.lineage_id] = comp
        result.components.append(comp)
    paths = pipeline.find("paths")
    for path_el in paths if paths is not None else ():
        if path_el.tag == "path":
            result.paths.append(Path(id=_ident(path_el), name=path_el.get("name") or "",
                                     start_id=path_el.get("startId") or "",
                                     end_id=path_el.get("endId") or ""))
    return result


def column_reference(text: str) -> str:
    """A column reference as properties write it (``#{Package\\...Columns[X]}``, ``#12``,
    ``12``) -> the id or lineage id it names."""
    ref = text.strip()
    if ref.startswith("#"):
        ref = ref[1:]
    if ref.startswith("{") and ref.endswith("}"):
        ref = ref[1:-1]
    return ref


def as_bool(text: str | None, default: bool = False) -> bool:
    if text is None or text.strip() == "":
        return default
    return _flag(text)


def as_int(text: str | None, default: int = 0) -> int:
    return _int(text, default)


def any_value(value: Any) -> str:
    return "" if value is None else str(value)
