"""XML Source (``Microsoft.XmlSourceAdapter``): rows from an XML document, one output per
"table" of the document, streamed with lxml's ``iterparse``.

Where the document comes from (``AccessMode``, property expressions honoured):

* 0 -- ``XMLData`` is the file's path (mapped with ``--path-map``);
* 1 -- the variable named by ``XMLDataVariable`` holds the file's path;
* 2 -- the variable named by ``XMLDataVariable`` holds the XML itself.

The document is parsed safely (no DTD, no entity expansion, no network: the options of
:mod:`ssisrun.dtsx.safexml`); a document with a ``<!DOCTYPE>`` is refused, as SSIS's XML
Source refuses DTDs. It is read as a stream: every element is dropped as soon as it ends,
so memory holds one element per level of nesting plus at most ``DefaultBufferMaxRows`` rows
per output.

The outputs come from the package's metadata, never re-derived from the schema at run
time (without outputs there are no columns to fill). The mapping rule, for each element:

1. An element is a **row** of the output whose ``RowsetID`` (else its name) is the path of
   element names from the document element joined by ``__`` (what SSIS writes when one
   name is used in two places, ``datum__indicators__indicator_type__indicator__values``),
   else the element's own name.
2. A row's **columns** are matched by their external column's name (the name SSIS gave
   them from the schema; the output column may have been renamed): an attribute of the
   row element, or a direct child element that is not itself a row. With the XSD, a name
   the schema declares as an attribute is read only from attributes, one declared as a
   child element only from child elements, and an element with simple content (text plus
   attributes) feeds its text to the column that is neither (``<name>_Text``). Without
   the schema ``<name>_Text``, ``<name>_Column`` and ``text`` take the element's text.
3. ``<X>_Id`` columns are the generated keys: in the output of X it is the row's own
   number, in any other output the number of the nearest enclosing X element (the
   parent). Every output numbers its rows from 1, in document order (an element is
   numbered when it starts, so a parent is numbered before its children); elements that
   no remaining output reads but whose ``_Id`` another output carries (a deleted
   output) are numbered all the same, so ids do not depend on which outputs are kept.
   A real attribute or child element called ``X_Id`` wins over the generated key.
4. Elements that are neither rows nor columns are passed through: their children may be
   rows (the document element, a SOAP envelope). An ``xs:schema`` element (an inline
   schema) is never data; with ``UseInlineSchema`` it is the schema.

Namespaces are matched as the XSD says: with a ``targetNamespace`` an element must be in
it (local elements may be unqualified unless ``elementFormDefault="qualified"``), and
elements of other namespaces are ignored; without a schema only local names count.
Attributes are matched unqualified or in the target namespace. ``xsi:nil="true"`` is
NULL; an element or attribute that is absent is NULL; an empty one is ``""`` for string
columns and NULL for the others.

Values are converted to the output column's type (numbers, dates and Booleans with their
surrounding white space removed). A value that does not convert is a conversion error and
a string longer than its column a truncation, each handled by the column's disposition:
fail the component, ignore (NULL, or the value cut to the column's length), or redirect
the row to the output's own error output (the error output with the same ``RowsetID``,
holding each column's text, ErrorCode and ErrorColumn).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote

from lxml import etree

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import (
    E_CONVERSION,
    E_TRUNCATION,
    Component,
    ComponentError,
    Emission,
    _column_number,
)
from ssisrun.dataflow.model import (
    FAIL,
    IGNORE,
    NOT_USED,
    REDIRECT,
    Output,
    OutputColumn,
    as_bool,
    as_int,
)
from ssisrun.dtsx.safexml import _PARSER_OPTIONS
from ssisrun.expressions.types import DataType, SsisType

D = DataType
XS = "http://www.w3.org/2001/XMLSchema"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_STRINGS = (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT)

#: kinds of output columns
_VALUE, _OWN_ID, _PARENT_ID = 0, 1, 2
#: kinds of elements on the stack
_ROW, _PASS, _COLUMN, _SKIP, _SCHEMA = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------- schema


@dataclass(slots=True)
class Declared:
    """What an XSD declares of one element: its attributes, its child elements, and
    whether its content is simple (text beside attributes)."""

    attributes: set[str] = field(default_factory=set)
    elements: set[str] = field(default_factory=set)
    simple_content: bool = False


@dataclass(slots=True)
class Schema:
    target_namespace: str = ""
    qualified_elements: bool = False
    qualified_attributes: bool = False
    #: element name -> its declaration (the first one of that name)
    elements: dict[str, Declared] = field(default_factory=dict)

    def element_namespace_ok(self, ns: str, root: bool) -> bool:
        if not self.target_namespace:
            return ns == ""
        if ns == self.target_namespace:
            return True
        return ns == "" and not root and not self.qualified_elements

    def attribute_namespace_ok(self, ns: str) -> bool:
        return ns == "" or (ns == self.target_namespace != "")


def _local(name: str | None) -> str:
    return (name or "").rpartition(":")[2]


def read_schema(root: etree._Element) -> Schema:
    """An ``xs:schema`` element -> its namespace rules and what it declares per element."""
    schema = Schema(
        target_namespace=root.get("targetNamespace") or "",
        qualified_elements=(root.get("elementFormDefault") or "") == "qualified",
        qualified_attributes=(root.get("attributeFormDefault") or "") == "qualified")
    types = {ct.get("name"): ct for ct in root.iter(f"{{{XS}}}complexType") if ct.get("name")}

    def collect(ct: etree._Element, into: Declared, seen: set[str]) -> None:
        todo = list(ct)
        while todo:
            node = todo.pop()
            tag = node.tag if isinstance(node.tag, str) else ""
            if tag == f"{{{XS}}}element":
                into.elements.add(node.get("name") or _local(node.get("ref")))
                continue  # its own content belongs to it
            if tag == f"{{{XS}}}attribute":
                into.attributes.add(node.get("name") or _local(node.get("ref")))
                continue
            if tag == f"{{{XS}}}simpleContent":
                into.simple_content = True
            if tag in (f"{{{XS}}}extension", f"{{{XS}}}restriction"):
                base = _local(node.get("base"))
                if base in types and base not in seen:
                    seen.add(base)
                    collect(types[base], into, seen)
            todo.extend(node)

    for el in root.iter(f"{{{XS}}}element"):
        name = el.get("name")
        if not name or name in schema.elements:
            continue
        declared = Declared()
        inline = el.find(f"{{{XS}}}complexType")
        type_name = _local(el.get("type"))
        if inline is not None:
            collect(inline, declared, set())
        elif type_name in types:
            collect(types[type_name], declared, {type_name})
        schema.elements[name] = declared
    return schema


def _safe_tree(data: bytes, what: str) -> etree._Element:
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))  # type: ignore[arg-type]
    except etree.XMLSyntaxError as exc:
        raise ComponentError(f"{what} is not well-formed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise ComponentError(f"{what} declares a DTD (<!DOCTYPE ...>), which the XML Source "
                             "does not support")
    return root


# --------------------------------------------------------------------------- bindings


@dataclass(slots=True, eq=False)
class Binding:
    """One output and how the elements of its rows fill its columns."""

    output: Output
    error_output: Output | None
    rowset: str
    local: str
    kinds: list[int]
    #: (column index, the element name X of an ``X_Id`` column)
    parent_ids: list[tuple[int, str]] = field(default_factory=list)
    own_ids: list[int] = field(default_factory=list)
    attributes: dict[str, list[int]] = field(default_factory=dict)
    elements: dict[str, list[int]] = field(default_factory=dict)
    text: list[int] = field(default_factory=list)
    pending: list[list[Any]] = field(default_factory=list)
    next_id: int = 1


@dataclass(slots=True, eq=False)
class Frame:
    """An element being read (one per level of nesting)."""

    kind: int
    path: str
    binding: Binding | None = None
    #: ids this element was given (by RowsetID and by element name)
    ids: dict[str, int] | None = None
    row: list[Any] | None = None
    local: str = ""
    #: a column element: the indexes of the parent row's columns it fills
    columns: list[int] = field(default_factory=list)
    #: an element no output reads but whose ``_Id`` an output carries
    counted: bool = False


_SKIPPED = Frame(_SKIP, "")


def _external_name(output: Output, col: OutputColumn) -> str:
    for ext in output.external_columns:
        if ext.id == col.external_metadata_column_id and ext.name:
            return ext.name
    return col.name


def _rowset(output: Output) -> str:
    return output.properties.get("RowsetID") or output.name


def _disposition(value: str) -> str:
    return FAIL if value == NOT_USED else value


# --------------------------------------------------------------------------- source


class XmlSource(Component):
    def pre_execute(self) -> None:
        ctx = self.ctx
        self.mode = as_int(ctx.property("AccessMode"), 0)
        self.use_inline = as_bool(ctx.property("UseInlineSchema"), False)
        self.document = self._document()
        self.schema: Schema | None = None
        xsd = ctx.property("XMLSchemaDefinition").strip()
        if xsd and not self.use_inline:
            path = ctx.map_path(xsd)
            if not os.path.isfile(path):
                raise ComponentError(f"{self.meta.name}: the XML schema (XMLSchemaDefinition) "
                                     f"{path} does not exist")
            with open(path, "rb") as handle:
                root = _safe_tree(handle.read(), f"the XML schema {path}")
            if root.tag != f"{{{XS}}}schema":
                raise ComponentError(f"{self.meta.name}: {path} (XMLSchemaDefinition) is not "
                                     "an XML schema (its root is not xs:schema)")
            self.schema = read_schema(root)
        self.bindings = self._bind()
        #: element name -> the next id of elements no output reads but an ``_Id`` names
        self.counters: dict[str, int] = {}
        #: (parent's path, tag) -> what such elements are
        self.paths: dict[tuple[str | None, Any], Frame] = {}

    def _document(self) -> str:
        """The document's path (modes 0 and 1) or its text (mode 2)."""
        ctx = self.ctx
        if self.mode == 0:
            value = ctx.property("XMLData").strip()
            if not value:
                raise ComponentError(f"{self.meta.name}: XMLData names no XML file")
        elif self.mode in (1, 2):
            name = ctx.property("XMLDataVariable").strip()
            if not name:
                raise ComponentError(f"{self.meta.name}: AccessMode {self.mode} needs a "
                                     "variable in XMLDataVariable")
            raw = ctx.get_variable(name)
            value = "" if raw is None else str(raw)
            if not value.strip():
                raise ComponentError(f"{self.meta.name}: the variable {name} "
                                     "(XMLDataVariable) is empty")
        else:
            raise ComponentError(f"{self.meta.name}: AccessMode {self.mode} is not one of 0 "
                                 "(XML file), 1 (file from variable), 2 (XML from variable)")
        if self.mode == 2:
            return value
        if value.lower().startswith(("http://", "https://", "ftp://")):
            raise ComponentError(f"{self.meta.name}: {value} is a URL; the XML Source reads "
                                 "local files only (download it first, e.g. with an HTTP "
                                 "connection manager and a Script or Web Service task)")
        if value.lower().startswith("file://"):
            value = unquote(value[7:])  # file:///C:/in/a.xml, file:///srv/a.xml
            if len(value) > 2 and value[0] == "/" and value[2] == ":":
                value = value[1:]
        path = ctx.map_path(value.strip())
        if not os.path.isfile(path):
            raise ComponentError(f"{self.meta.name}: the XML file {path} does not exist")
        return path

    def _bind(self) -> list[Binding]:
        outputs = self.meta.normal_outputs
        errors = {_rowset(o): o for o in self.meta.outputs if o.is_error_out}
        by_name = {o.name: o for o in self.meta.outputs if o.is_error_out}
        names: set[str] = set()
        for out in outputs:
            rowset = _rowset(out)
            names.update((rowset, rowset.rpartition("__")[2]))
        bindings: list[Binding] = []
        self.referenced: set[str] = set()
        for out in outputs:
            rowset = _rowset(out)
            local = rowset.rpartition("__")[2]
            declared = self.schema.elements.get(local) if self.schema else None
            binding = Binding(out, errors.get(rowset) or by_name.get(f"{out.name} Error Output"),
                              rowset, local, [_VALUE] * len(out.columns))
            for i, col in enumerate(out.columns):
                name = _external_name(out, col)
                x = name[:-3] if name.endswith("_Id") else ""
                is_data = declared is not None and (name in declared.attributes
                                                    or name in declared.elements)
                if x and not is_data and x in (rowset, local):
                    binding.kinds[i] = _OWN_ID
                    binding.own_ids.append(i)
                    continue
                if x and not is_data and (x in names or declared is None
                                          or x in (self.schema.elements if self.schema else {})):
                    binding.kinds[i] = _PARENT_ID
                    binding.parent_ids.append((i, x))
                    self.referenced.add(x)
                    # a real attribute or child element of that name still wins
                    binding.attributes.setdefault(name, []).append(i)
                    binding.elements.setdefault(name, []).append(i)
                    continue
                if declared is not None and name in declared.attributes:
                    binding.attributes.setdefault(name, []).append(i)
                elif declared is not None and name in declared.elements:
                    binding.elements.setdefault(name, []).append(i)
                elif declared is not None and declared.simple_content:
                    binding.text.append(i)
                elif declared is None and name in (f"{local}_Text", f"{local}_Column", "text"):
                    binding.text.append(i)
                else:
                    binding.attributes.setdefault(name, []).append(i)
                    binding.elements.setdefault(name, []).append(i)
            bindings.append(binding)
        self.by_rowset = {b.rowset: b for b in bindings}
        self.path_names = {b.local for b in bindings if "__" in b.rowset}
        return bindings

    # ---- reading

    def _open(self) -> tuple[IO[bytes], str]:
        if self.mode == 2:
            return io.BytesIO(self.document.encode("utf-8")), \
                f"the XML in {self.ctx.property('XMLDataVariable')}"
        return open(self.document, "rb"), self.document  # noqa: SIM115 - closed in produce

    def produce(self) -> Iterator[Emission]:
        handle, label = self._open()
        try:
            yield from self._read(handle, label)
        finally:
            handle.close()
        for binding in self.bindings:
            if binding.pending:
                yield from self._flush(binding)

    def _match(self, path: str, local: str) -> Binding | None:
        if local in self.path_names:
            binding = self.by_rowset.get(path)
            if binding is not None:
                return binding
            for rowset, candidate in self.by_rowset.items():
                if path.endswith("__" + rowset):
                    return candidate
        return self.by_rowset.get(local)

    def _read(self, handle: IO[bytes], label: str) -> Iterator[Emission]:
        # comments and processing instructions would stay behind the elements dropped
        options: dict[str, Any] = dict(_PARSER_OPTIONS, remove_comments=True, remove_pis=True)
        if self.mode == 2:
            options["encoding"] = "utf-8"  # the text was encoded here, whatever it declares
        context = etree.iterparse(handle, events=("start", "end"), **options)
        stack: list[Frame] = []
        size = self.ctx.buffer_rows
        start = self._start
        checked = False
        try:
            for event, elem in context:
                if event == "start":
                    if not checked:
                        self._refuse_dtd(elem, label)
                        checked = True
                    stack.append(start(elem, stack))
                    continue
                frame = stack.pop()
                kind = frame.kind
                if kind == _COLUMN:
                    row = stack[-1].row
                    assert row is not None
                    if elem.get(XSI_NIL) in ("true", "1"):
                        text = None
                    else:
                        text = "".join(elem.itertext()) if len(elem) else (elem.text or "")
                    for i in frame.columns:
                        row[i] = text
                    continue  # dropped with its row
                if kind == _SKIP:
                    continue  # part of a column's or a schema's content: read with it
                if kind == _ROW:
                    binding = frame.binding
                    assert binding is not None and frame.row is not None
                    if binding.text and elem.get(XSI_NIL) not in ("true", "1"):
                        for i in binding.text:
                            if frame.row[i] is None:
                                frame.row[i] = elem.text or ""
                    binding.pending.append(frame.row)
                    if len(binding.pending) >= size:
                        yield from self._flush(binding)
                elif kind == _SCHEMA and self.use_inline and self.schema is None:
                    self.schema = read_schema(elem)
                    self.paths.clear()
                elem.clear(keep_tail=False)
                parent_el = elem.getparent()
                if parent_el is not None:
                    parent_el.remove(elem)
        except etree.XMLSyntaxError as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            raise ComponentError(f"{self.meta.name}: {label} is not well-formed XML: "
                                 f"{exc.msg}{where}") from None
        finally:
            del context

    def _refuse_dtd(self, elem: etree._Element, label: str) -> None:
        docinfo = elem.getroottree().docinfo
        if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
            raise ComponentError(
                f"{self.meta.name}: {label} declares a DTD (<!DOCTYPE ...>); the XML Source "
                "does not support DTDs, and ssisrun refuses them so that no document can "
                "expand entities or reach the network")

    def _start(self, elem: etree._Element, stack: list[Frame]) -> Frame:
        parent = stack[-1] if stack else None
        if parent is not None and parent.kind >= _COLUMN:
            return _SKIPPED
        tag = elem.tag
        key = (parent.path if parent is not None else None, tag)
        place = self.paths.get(key)
        if place is None:
            place = self.paths[key] = self._place(parent, tag)
        if place.kind != _ROW:
            if place.counted:
                return Frame(_PASS, place.path, ids={place.local: self._next_id(place.local)})
            return place
        binding = place.binding
        assert binding is not None
        own = binding.next_id
        binding.next_id += 1
        ids = {binding.rowset: own, binding.local: own}
        row: list[Any] = [None] * (len(binding.kinds) + 1)
        row[-1] = elem.sourceline
        for i in binding.own_ids:
            row[i] = own
        for i, name in binding.parent_ids:
            for frame in reversed(stack):
                if frame.ids is not None and name in frame.ids:
                    row[i] = frame.ids[name]
                    break
        if binding.attributes:
            attributes = binding.attributes
            for key_, value in elem.items():
                name = key_ if type(key_) is str else str(key_)
                if name[0] == "{":
                    ns, _, name = name[1:].partition("}")
                    if self.schema is None or not self.schema.attribute_namespace_ok(ns):
                        continue
                for i in attributes.get(name, ()):
                    row[i] = value
        return Frame(_ROW, place.path, binding, ids, row)

    def _place(self, parent: Frame | None, tag: Any) -> Frame:
        """What elements with this tag under this parent are: a shared, read-only frame
        (rows get their own)."""
        text = tag if isinstance(tag, str) else ""
        ns, _, local = text[1:].partition("}") if text.startswith("{") else ("", "", text)
        if ns == XS and local == "schema":
            return Frame(_SCHEMA, "", local=local)
        path = f"{parent.path}__{local}" if parent is not None else local
        schema = self.schema
        if schema is not None and not schema.element_namespace_ok(ns, parent is None):
            # not in the schema: ignored, its children looked at (a path of its own, so
            # that they are not taken for the children of the schema's element)
            return Frame(_PASS, f"{path}{{{ns}}}", local=local)
        binding = self._match(path, local)
        if binding is not None:
            return Frame(_ROW, path, binding, local=local)
        if parent is not None and parent.kind == _ROW and parent.binding is not None \
                and local in parent.binding.elements:
            return Frame(_COLUMN, path, local=local, columns=parent.binding.elements[local])
        return Frame(_PASS, path, local=local, counted=local in self.referenced)

    def _next_id(self, name: str) -> int:
        value = self.counters.get(name, 1)
        self.counters[name] = value + 1
        return value

    # ---- converting

    def _flush(self, binding: Binding) -> Iterator[Emission]:
        if self.ctx.cancelled:
            raise ComponentError("cancelled")
        rows = binding.pending
        binding.pending = []
        out = binding.output
        redirects: dict[int, tuple[int, int]] = {}
        columns: dict[str, list[Any]] = {}
        for j, col in enumerate(out.columns):
            raw = [r[j] for r in rows]
            if binding.kinds[j] != _VALUE and all(type(v) is int for v in raw):
                columns[col.lineage_id] = [dft.coerce(v, col.type) for v in raw]
                continue
            columns[col.lineage_id] = self._column(binding, col, raw, rows, redirects)
        batch = Batch(columns, len(rows))
        if not redirects:
            yield out, batch
            return
        keep = [i not in redirects for i in range(len(rows))]
        yield out, batch.select(keep)
        assert binding.error_output is not None
        yield binding.error_output, self._error_batch(binding, rows, redirects)

    def _column(self, binding: Binding, col: OutputColumn, raw: list[Any],
                rows: list[list[Any]], redirects: dict[int, tuple[int, int]]) -> list[Any]:
        type_ = col.type
        d = type_.dtype
        if d in _STRINGS:
            values = [v if v is None or type(v) is str else str(v) for v in raw]
            limit = type_.length if d in (D.DT_STR, D.DT_WSTR) else 0
            if limit:
                for i, v in enumerate(values):
                    if v is not None and len(v) > limit:
                        self._error(binding, col, i, rows, redirects, E_TRUNCATION,
                                    col.truncation_row_disposition,
                                    f"the value of {col.name} is {len(v)} characters long, "
                                    f"longer than its {limit}")
                        values[i] = v[:limit]
            return values
        fast = dft.column_parser(type_)
        if fast is not None and None not in raw:
            try:
                return fast(raw)  # int() and float() take surrounding white space
            except Exception:  # noqa: BLE001 - go cell by cell
                pass
        parse = _parser(type_)
        values = []
        for i, v in enumerate(raw):
            if v is None:
                values.append(None)
                continue
            if type(v) is int:  # a generated id in a column of another type
                values.append(dft.coerce(v, type_))
                continue
            text = v.strip()
            if not text:
                values.append(None)
                continue
            try:
                values.append(parse(text))
            except Exception as exc:  # noqa: BLE001 - any conversion failure
                self._error(binding, col, i, rows, redirects, E_CONVERSION,
                            col.error_row_disposition,
                            f"the value {v!r} of {col.name} cannot be converted to "
                            f"{type_}: {exc}")
                values.append(None)
        return values

    def _error(self, binding: Binding, col: OutputColumn, i: int, rows: list[list[Any]],
               redirects: dict[int, tuple[int, int]], code: int, disposition: str,
               message: str) -> None:
        disposition = _disposition(disposition)
        if disposition == IGNORE:
            return
        where = f"output {binding.output.name}, line {rows[i][-1]}"
        if disposition == REDIRECT and binding.error_output is None:
            raise ComponentError(f"{self.meta.name}: {message} ({where}); the column "
                                 "redirects errors but the output has no error output",
                                 code=code & 0xFFFFFFFF)
        if disposition == REDIRECT:
            redirects.setdefault(i, (code, _column_number(col.id)))
            return
        raise ComponentError(f"{self.meta.name}: {message} ({where})", code=code & 0xFFFFFFFF)

    def _error_batch(self, binding: Binding, rows: list[list[Any]],
                     redirects: dict[int, tuple[int, int]]) -> Batch:
        error_out = binding.error_output
        assert error_out is not None
        order = sorted(redirects)
        out = binding.output
        index = {_external_name(out, c): j for j, c in enumerate(out.columns)}
        index.update({c.name: j for j, c in enumerate(out.columns)})
        columns: dict[str, list[Any]] = {}
        for col in error_out.columns:
            if col.special_flags == 1:
                columns[col.lineage_id] = [redirects[r][0] for r in order]
            elif col.special_flags == 2:
                columns[col.lineage_id] = [redirects[r][1] for r in order]
            else:
                j = index.get(_external_name(error_out, col), index.get(col.name, -1))
                raw = [None if j < 0 else rows[r][j] for r in order]
                columns[col.lineage_id] = [_as_error_value(v, col.type) for v in raw]
        return Batch(columns, len(order))


def _parser(type_: SsisType) -> Any:
    d = type_.dtype
    if d in (D.DT_BYTES, D.DT_IMAGE):
        def parse_bytes(text: str) -> bytes:
            try:
                return bytes.fromhex(text)  # xs:hexBinary
            except ValueError:
                return base64.b64decode(text, validate=True)  # xs:base64Binary

        return parse_bytes
    if d is D.DT_BOOL:
        def parse_bool(text: str) -> bool:
            lower = text.lower()
            if lower in ("true", "1"):
                return True
            if lower in ("false", "0"):
                return False
            raise ValueError(f"{text!r} is not an xs:boolean")

        return parse_bool
    parse = dft.text_parser(type_)
    return parse if parse is not None else (lambda text: text)


def _as_error_value(value: Any, type_: SsisType) -> Any:
    if value is None:
        return None
    if type_.dtype in _STRINGS:
        text = str(value)
        limit = type_.length if type_.dtype in (D.DT_STR, D.DT_WSTR) else 0
        return text[:limit] if limit else text
    try:
        return _parser(type_)(str(value).strip())
    except (ValueError, TypeError, ArithmeticError, binascii.Error):
        return None
    except Exception:  # noqa: BLE001 - an error row must not fail on its own text
        return None
