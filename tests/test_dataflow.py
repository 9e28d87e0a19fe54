"""The Data Flow task: the pipeline engine and the file-based and in-memory components,
run in real packages against real files in tmp_path.

Pipelines are built with the small builder below (v8 XML: refId paths as ids and lineage
ids); ``flow(...)`` returns the package, ``run(...)`` runs it and returns the engine and
its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from builders import Exe, Var, el, package

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult
from ssisrun.runtime import Event, EventBus, EventKind, RunRequest
from ssisrun.runtime.engine import Engine

T = "Package\\DFT"

# --------------------------------------------------------------------------- builder


@dataclass
class Col:
    """An output column: ``type`` is a pipeline short name (``i4``, ``wstr``, ``str``)."""

    name: str
    type: str = "wstr"
    length: int = 50
    precision: int = 0
    scale: int = 0
    code_page: int = 0
    props: dict[str, str] = field(default_factory=dict)
    error: str = "FailComponent"
    truncation: str = "FailComponent"
    sort_key: int = 0
    special: int = 0


@dataclass
class InCol:
    """An input column reading ``source`` (``"Comp.Output.Column"``)."""

    source: str
    props: dict[str, str] = field(default_factory=dict)
    usage: str = "readOnly"
    external: str = ""
    error: str = "NotUsed"
    truncation: str = "NotUsed"


@dataclass
class Out:
    name: str
    columns: list[Col] = field(default_factory=list)
    error_out: bool = False
    sync: str = ""  # the input name a synchronous output passes rows from
    props: dict[str, str] = field(default_factory=dict)
    external: list[Col] = field(default_factory=list)
    exclusion_group: int = 0


@dataclass
class In:
    name: str
    columns: list[InCol] = field(default_factory=list)
    error: str = "FailComponent"
    external: list[Col] = field(default_factory=list)


@dataclass
class C:
    name: str
    class_id: str
    props: dict[str, str] = field(default_factory=dict)
    inputs: list[In] = field(default_factory=list)
    outputs: list[Out] = field(default_factory=list)
    connection: str = ""


def lineage(source: str) -> str:
    comp, output, column = source.split(".")
    return f"{T}\\{comp}.Outputs[{output}].Columns[{column}]"


def _props(props: dict[str, str]) -> str:
    if not props:
        return ""
    inner = "".join(f'<property name={quoteattr(k)}>{escape(v)}</property>'
                    for k, v in props.items())
    return f"<properties>{inner}</properties>"


def _col(tag: str, owner: str, col: Col, ext: str = "") -> str:
    ref = f"{owner}.Columns[{col.name}]" if tag == "outputColumn" else \
        f"{owner}.ExternalColumns[{col.name}]"
    attrs = {"refId": ref, "name": col.name, "dataType": col.type, "length": str(col.length),
             "precision": str(col.precision), "scale": str(col.scale),
             "codePage": str(col.code_page), "errorRowDisposition": col.error,
             "truncationRowDisposition": col.truncation,
             "sortKeyPosition": str(col.sort_key), "specialFlags": str(col.special)}
    if tag == "outputColumn":
        attrs["lineageId"] = ref
    if ext:
        attrs["externalMetadataColumnId"] = ext
    head = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f"<{tag}{head}>{_props(col.props)}</{tag}>"


def component_xml(c: C) -> str:
    base = f"{T}\\{c.name}"
    conns = ""
    if c.connection:
        conns = (f'<connections><connection refId="{base}.Connections[Conn]" name="Conn" '
                 f'connectionManagerID="Package.ConnectionManagers[{c.connection}]" '
                 f'connectionManagerRefId="Package.ConnectionManagers[{c.connection}]"/>'
                 "</connections>")
    ins = []
    for inp in c.inputs:
        iref = f"{base}.Inputs[{inp.name}]"
        cols = []
        for ic in inp.columns:
            name = ic.source.split(".")[-1]
            ext = f' externalMetadataColumnId="{iref}.ExternalColumns[{ic.external}]"' \
                if ic.external else ""
            cols.append(f'<inputColumn refId="{iref}.Columns[{name}]" cachedName='
                        f'{quoteattr(name)} lineageId={quoteattr(lineage(ic.source))} '
                        f'usageType="{ic.usage}" errorRowDisposition="{ic.error}" '
                        f'truncationRowDisposition="{ic.truncation}"{ext}>'
                        f"{_props(ic.props)}</inputColumn>")
        ext_cols = "".join(_col("externalMetadataColumn", iref, x) for x in inp.external)
        ins.append(f'<input refId="{iref}" name="{inp.name}" errorRowDisposition='
                   f'"{inp.error}"><inputColumns>{"".join(cols)}</inputColumns>'
                   f"<externalMetadataColumns>{ext_cols}</externalMetadataColumns></input>")
    outs = []
    for out in c.outputs:
        oref = f"{base}.Outputs[{out.name}]"
        ext_cols = "".join(_col("externalMetadataColumn", oref, x) for x in out.external)
        cols = "".join(_col("outputColumn", oref, col,
                            f"{oref}.ExternalColumns[{col.name}]" if out.external else "")
                       for col in out.columns)
        sync = f' synchronousInputId="{base}.Inputs[{out.sync}]"' if out.sync else ""
        err = ' isErrorOut="true"' if out.error_out else ""
        if out.exclusion_group:
            err += f' exclusionGroup="{out.exclusion_group}"'
        outs.append(f'<output refId="{oref}" name="{out.name}"{sync}{err}>'
                    f"{_props(out.props)}<outputColumns>{cols}</outputColumns>"
                    f"<externalMetadataColumns>{ext_cols}</externalMetadataColumns></output>")
    return (f'<component refId="{base}" name="{c.name}" componentClassID="{c.class_id}">'
            f'{_props(c.props)}{conns}<inputs>{"".join(ins)}</inputs>'
            f'<outputs>{"".join(outs)}</outputs></component>')


def pipeline_xml(components: list[C], paths: list[tuple[str, str]],
                 buffer_rows: int = 10_000) -> str:
    """``paths``: ``("Comp.Output", "Comp.Input")``."""
    path_xml = "".join(
        f'<path refId="{T}.Paths[{a}]" name="{a}" startId="{T}\\{a.split(".")[0]}.Outputs['
        f'{a.split(".")[1]}]" endId="{T}\\{b.split(".")[0]}.Inputs[{b.split(".")[1]}]"/>'
        for a, b in paths)
    return (f'<pipeline version="1" defaultBufferMaxRows="{buffer_rows}"><components>'
            f'{"".join(component_xml(c) for c in components)}</components>'
            f"<paths>{path_xml}</paths></pipeline>")


@dataclass
class FFCol:
    name: str
    data_type: int = 129
    width: int = 50
    delimiter: str = "_x002C_"
    column_type: str = "Delimited"
    qualified: bool = True


def flat_file_cm(name: str, path: Path | str, columns: list[FFCol], *,
                 fmt: str = "Delimited", names_row: bool = True, qualifier: str = "_x0022_",
                 code_page: int = 65001, unicode: bool = False, header_skip: int = 0,
                 row_delimiter: str = "") -> str:
    cols = []
    for i, col in enumerate(columns):
        delim = col.delimiter
        if i == len(columns) - 1 and col.delimiter == "_x002C_":
            delim = "_x000D__x000A_"
        props = {"ColumnType": col.column_type, "ColumnDelimiter": delim,
                 "DataType": col.data_type, "MaximumWidth": col.width,
                 "ColumnWidth": col.width if col.column_type == "FixedWidth" else 0,
                 "TextQualified": col.qualified, "ObjectName": col.name,
                 "DTSID": f"{{00000000-0000-0000-0000-{i:012d}}}"}
        cols.append(el(8, "FlatFileColumn", props))
    inner: dict[str, Any] = {"Format": fmt, "CodePage": code_page, "Unicode": unicode,
                             "ColumnNamesInFirstDataRow": names_row,
                             "TextQualifier": qualifier, "HeaderRowsToSkip": header_skip,
                             "HeaderRowDelimiter": "_x000D__x000A_",
                             "RowDelimiter": row_delimiter,
                             "ConnectionString": str(path)}
    data = el(8, "ConnectionManager", inner,
              "<DTS:FlatFileColumns>" + "".join(cols) + "</DTS:FlatFileColumns>")
    return el(8, "ConnectionManager",
              {"ObjectName": name, "DTSID": f"{{11111111-0000-0000-0000-{len(name):012d}}}",
               "CreationName": "FLATFILE"},
              f"<DTS:ObjectData>{data}</DTS:ObjectData>",
              attrs={"DTS:refId": f"Package.ConnectionManagers[{name}]"})


def flow(components: list[C], paths: list[tuple[str, str]], *,
         connections: list[str] = (), variables: list[Var] = (),
         buffer_rows: int = 10_000, expressions: dict[str, str] | None = None) -> str:
    return package(8, [Exe("DFT", "pipeline", expressions=dict(expressions or {}),
                           object_data=pipeline_xml(components, paths, buffer_rows))],
                   connections=list(connections), variables=list(variables))


def run(xml: str, request: RunRequest | None = None) -> tuple[Engine, list[Event]]:
    pkg = load_package_bytes(xml.encode(), "test.dtsx")
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    engine = Engine(pkg, request, bus)
    engine.result = engine.run()  # type: ignore[attr-defined]
    return engine, events


def result(engine: Engine) -> ExecResult:
    return engine.result.result  # type: ignore[attr-defined,no-any-return]


def errors(events: list[Event]) -> list[str]:
    return [e.description for e in events if e.kind == EventKind.OnError]


def infos(events: list[Event]) -> list[str]:
    return [e.description for e in events if e.kind == EventKind.OnInformation]


def variable(engine: Engine, name: str) -> Any:
    return engine.scopes[id(engine.package)].get(name)


# ---- common components

FF_SOURCE = "Microsoft.FlatFileSource"
FF_DEST = "Microsoft.FlatFileDestination"


def source(name: str, cm: str, cols: list[Col], *, error_out: bool = False,
           props: dict[str, str] | None = None) -> C:
    outputs = [Out("Output", cols)]
    if error_out:
        outputs.append(Out("Error", [Col("ErrorCode", "i4", special=1),
                                     Col("ErrorColumn", "i4", special=2),
                                     Col("Raw", "text", 0)], error_out=True))
    return C(name, FF_SOURCE, {"RetainNulls": "false", **(props or {})}, outputs=outputs,
             connection=cm)


def dest(name: str, cm: str, sources: list[str], props: dict[str, str] | None = None) -> C:
    cols = [InCol(s, external=s.split(".")[-1]) for s in sources]
    external = [Col(s.split(".")[-1]) for s in sources]
    return C(name, FF_DEST, {"Overwrite": "true", **(props or {})},
             inputs=[In("Input", cols, external=external)], connection=cm)


def people_file(path: Path, rows: int = 3) -> Path:
    lines = ["id,name,amount"] + [f'{i},"Name {i}",{i * 1.5}' for i in range(1, rows + 1)]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


PEOPLE = [FFCol("id"), FFCol("name"), FFCol("amount")]
PEOPLE_COLS = [Col("id", "i4", 0), Col("name", "wstr", 50), Col("amount", "r8", 0)]


# --------------------------------------------------------------------------- tests


def test_flat_file_to_flat_file_with_derived_column(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    derived = C("Derive", "Microsoft.DerivedColumn", inputs=[In("In", [
        InCol("Src.Output.id"), InCol("Src.Output.name")])],
        outputs=[Out("Out", [Col("label", "wstr", 60, props={
            "FriendlyExpression": 'UPPER(name) + "-" + (DT_WSTR, 10)(id * 2)'})], sync="In")])
    xml = flow([source("Src", "In", PEOPLE_COLS), derived,
                dest("Dst", "Out", ["Src.Output.id", "Derive.Out.label"])],
               [("Src.Output", "Derive.In"), ("Derive.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("label")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_bytes().decode("utf-8") == (
        '"id","label"\r\n"1","NAME 1-2"\r\n"2","NAME 2-4"\r\n"3","NAME 3-6"\r\n')
    assert '"Src.Output": 3 rows' in infos(events)
    assert '"Dst" wrote 3 rows.' in infos(events)


def test_batches_are_bounded_and_counts_add_up(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv", rows=2500)
    out = tmp_path / "out.csv"
    xml = flow([source("Src", "In", PEOPLE_COLS),
                C("Count", "Microsoft.RowCount", {"VariableName": "User::N"},
                  inputs=[In("In")], outputs=[Out("Out", sync="In")]),
                dest("Dst", "Out", ["Src.Output.id", "Src.Output.name", "Src.Output.amount"])],
               [("Src.Output", "Count.In"), ("Count.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            flat_file_cm("Out", out, PEOPLE, names_row=False, qualifier="")],
               variables=[Var("N", 3, "0")], buffer_rows=1000)
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert variable(engine, "User::N") == 2500
    lines = out.read_text().splitlines()
    assert len(lines) == 2500 and lines[0] == "1,Name 1,1.5"


def test_conditional_split_multicast_and_union_all(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv", rows=6)
    out = tmp_path / "out.csv"
    split = C("Split", "Microsoft.ConditionalSplit", inputs=[In("In", [InCol("Src.Output.id")])],
              outputs=[Out("Even", sync="In", props={"FriendlyExpression": "id % 2 == 0",
                                                     "EvaluationOrder": "0"}),
                       Out("Big", sync="In", props={"Expression": "#{" + lineage(
                           "Src.Output.id") + "} > 4", "EvaluationOrder": "1"}),
                       Out("Rest", sync="In", props={"IsDefaultOut": "true"})])
    union = C("Union", "Microsoft.UnionAll",
              inputs=[In(f"U{k}", [InCol(f"{o}.id", {"OutputColumnLineageID":
                                                     "#{" + lineage("Union.Out.uid") + "}"})])
                      for k, o in enumerate(["Split.Even", "Multi.A", "Multi.B"])],
              outputs=[Out("Out", [Col("uid", "i4", 0)])])
    for k, o in enumerate(["Split.Even", "Multi.A", "Multi.B"]):
        union.inputs[k].columns[0].source = "Src.Output.id"
        del o
    multi = C("Multi", "Microsoft.Multicast", inputs=[In("In")],
              outputs=[Out("A", sync="In"), Out("B", sync="In")])
    sort = C("Sort", "Microsoft.Sort", {"EliminateDuplicates": "false"},
             inputs=[In("In", [InCol("Union.Out.uid", {"NewSortKeyPosition": "1"})])],
             outputs=[Out("Out", [Col("id", "i4", 0, props={
                 "SortColumnId": "#{" + lineage("Union.Out.uid") + "}"}, sort_key=1)])])
    xml = flow([source("Src", "In", PEOPLE_COLS), split, multi, union, sort,
                dest("Dst", "Out", ["Sort.Out.id"])],
               [("Src.Output", "Split.In"), ("Split.Even", "Union.U0"),
                ("Split.Rest", "Multi.In"), ("Multi.A", "Union.U1"), ("Multi.B", "Union.U2"),
                ("Union.Out", "Sort.In"), ("Sort.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            flat_file_cm("Out", out, [FFCol("id")], names_row=False,
                                         qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    # even: 2 4 6; big (odd > 4): 5 goes nowhere; rest: 1 3 twice
    assert out.read_text().split() == ["1", "1", "2", "3", "3", "4", "6"]
    assert '"Split.Big"' not in " ".join(infos(events))
    assert '"Split.Rest": 2 rows' in infos(events)


def test_conversion_error_redirected_with_error_code_and_column(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name,amount\r\n1,a,1\r\nx,b,2\r\n3,c,3\r\n")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    cols = [Col("id", "i4", 0, error="RedirectRow"), Col("name"), Col("amount", "r8", 0)]
    xml = flow([source("Src", "In", cols, error_out=True),
                dest("Good", "Good", ["Src.Output.id"]),
                dest("Bad", "Bad", ["Src.Error.ErrorCode", "Src.Error.Raw"])],
               [("Src.Output", "Good.Input"), ("Src.Error", "Bad.Input")],
               connections=[flat_file_cm("In", src, PEOPLE, qualifier=""),
                            flat_file_cm("Good", good, [FFCol("id")], names_row=False),
                            flat_file_cm("Bad", bad, [FFCol("ErrorCode"), FFCol("Raw")],
                                         names_row=False, qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert good.read_text().split() == ['"1"', '"3"']
    assert bad.read_text().strip() == "-1071607694,x,b,2"


def test_conversion_error_fails_the_component_by_default(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name,amount\r\n1,a,1\r\nx,b,2\r\n")
    out = tmp_path / "out.csv"
    xml = flow([source("Src", "In", PEOPLE_COLS), dest("Dst", "Out", ["Src.Output.id"])],
               [("Src.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            flat_file_cm("Out", out, [FFCol("id")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("Src" in e and "'x'" in e for e in errors(events)), errors(events)


def test_truncation_ignored_and_derived_failure_redirected(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name,amount\r\n1,abcdef,0\r\n2,xy,2\r\n")
    out, bad = tmp_path / "out.csv", tmp_path / "bad.csv"
    cols = [Col("id", "i4", 0), Col("name", "str", 3, code_page=1252,
                                    truncation="IgnoreFailure"), Col("amount", "i4", 0)]
    derived = C("Div", "Microsoft.DerivedColumn",
                inputs=[In("In", [InCol("Src.Output.id"), InCol("Src.Output.amount")])],
                outputs=[Out("Out", [Col("q", "i4", 0, error="RedirectRow",
                                         props={"FriendlyExpression": "id / amount"})],
                             sync="In"),
                         Out("Err", [Col("ErrorCode", "i4", special=1),
                                     Col("ErrorColumn", "i4", special=2)],
                             sync="In", error_out=True)])
    xml = flow([source("Src", "In", cols), derived,
                dest("Dst", "Out", ["Src.Output.name", "Div.Out.q"]),
                dest("Bad", "Bad", ["Src.Output.id", "Div.Err.ErrorCode"])],
               [("Src.Output", "Div.In"), ("Div.Out", "Dst.Input"), ("Div.Err", "Bad.Input")],
               connections=[flat_file_cm("In", src, PEOPLE, qualifier=""),
                            flat_file_cm("Out", out, [FFCol("name"), FFCol("q")],
                                         names_row=False, qualifier=""),
                            flat_file_cm("Bad", bad, [FFCol("id"), FFCol("ErrorCode")],
                                         names_row=False, qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().split() == ["xy,1"]
    assert bad.read_text().split() == ["1,-1071607691"]


def test_data_conversion_aggregate_and_recordset(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("k,v\r\na,1\r\nb,2\r\na,3\r\n")
    conv = C("Conv", "Microsoft.DataConvert", inputs=[In("In", [InCol("Src.Output.v")])],
             outputs=[Out("Out", [Col("n", "i8", 0, props={
                 "SourceInputColumnLineageID": "#{" + lineage("Src.Output.v") + "}"})],
                 sync="In")])
    agg = C("Agg", "Microsoft.Aggregate",
            inputs=[In("In", [InCol("Src.Output.k"), InCol("Conv.Out.n")])],
            outputs=[Out("Out", [
                Col("k", props={"AggregationType": "0",
                                "AggregationColumnId": "#{" + lineage("Src.Output.k") + "}"}),
                Col("total", "i8", 0, props={"AggregationType": "4", "AggregationColumnId":
                                             "#{" + lineage("Conv.Out.n") + "}"}),
                Col("rows", "ui8", 0, props={"AggregationType": "2"})])])
    rs = C("Rs", "Microsoft.RecordsetDestination", {"VariableName": "User::Rows"},
           inputs=[In("In", [InCol("Agg.Out.k"), InCol("Agg.Out.total"),
                             InCol("Agg.Out.rows")])])
    xml = flow([source("Src", "In", [Col("k"), Col("v")]), conv, agg, rs],
               [("Src.Output", "Conv.In"), ("Conv.Out", "Agg.In"), ("Agg.Out", "Rs.In")],
               connections=[flat_file_cm("In", src, [FFCol("k"), FFCol("v")], qualifier="")],
               variables=[Var("Rows", 13, "")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    rows = variable(engine, "User::Rows")
    assert sorted(rows) == [("a", 4, 2), ("b", 2, 1)]
    assert rows.tables == [list(rows)]


def test_fixed_width_and_ragged_right_source(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("HEADER\r\n001Ann  x\r\n002Bob  yz\r\n", encoding="cp1252")
    out = tmp_path / "out.csv"
    ff = [FFCol("id", width=3, column_type="FixedWidth"),
          FFCol("name", width=5, column_type="FixedWidth"),
          FFCol("rest", delimiter="_x000D__x000A_")]
    cols = [Col("id", "i4", 0), Col("name", "str", 5, code_page=1252), Col("rest")]
    derived = C("Trim", "Microsoft.DerivedColumn", inputs=[In("In", [
        InCol("Src.Output.name", {"FriendlyExpression": "TRIM(name)"}, usage="readWrite")])],
        outputs=[Out("Out", sync="In")])
    xml = flow([source("Src", "In", cols), derived,
                dest("Dst", "Out", ["Src.Output.id", "Src.Output.name", "Src.Output.rest"])],
               [("Src.Output", "Trim.In"), ("Trim.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, ff, fmt="RaggedRight", names_row=False,
                                         code_page=1252, header_skip=1, qualifier=""),
                            flat_file_cm("Out", out, [FFCol("id"), FFCol("name"),
                                                      FFCol("rest")], names_row=False,
                                         qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().split() == ["1,Ann,x", "2,Bob,yz"]


def test_unicode_destination_append_and_header(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv", rows=1)
    out = tmp_path / "out.txt"
    xml = flow([source("Src", "In", PEOPLE_COLS),
                dest("Dst", "Out", ["Src.Output.name"], {"Overwrite": "false",
                                                         "Header": "# names"})],
               [("Src.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, PEOPLE),
                            flat_file_cm("Out", out, [FFCol("name")], unicode=True,
                                         names_row=False, qualifier="")])
    for _ in range(2):
        engine, events = run(xml)
        assert result(engine) == ExecResult.Success, errors(events)
    text = out.read_bytes().decode("utf-16-le")
    assert text == "\ufeff# names\r\nName 1\r\nName 1\r\n"


def test_lookup_against_a_cache_of_a_flat_file_is_refused_without_sql(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv", rows=1)
    lookup = C("Look", "Microsoft.Lookup", {"SqlCommand": ""},
               inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "id"})])],
               outputs=[Out("Match", sync="In"), Out("No Match", sync="In")])
    xml = flow([source("Src", "In", PEOPLE_COLS), lookup], [("Src.Output", "Look.In")],
               connections=[flat_file_cm("In", src, PEOPLE)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("Look has no reference query" in e for e in errors(events)), errors(events)


def test_unknown_component_fails_with_its_name(tmp_path: Path) -> None:
    xml = flow([C("Magic", "Vendor.Magic", outputs=[Out("Out")])], [])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("Magic (Vendor.Magic) cannot be run" in e for e in errors(events))


def test_missing_input_file_fails(tmp_path: Path) -> None:
    xml = flow([source("Src", "In", PEOPLE_COLS)], [],
               connections=[flat_file_cm("In", tmp_path / "nope.csv", PEOPLE)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("does not exist" in e for e in errors(events))


def test_property_expression_sets_a_component_property(tmp_path: Path) -> None:
    src = people_file(tmp_path / "in.csv", rows=2)
    xml = flow([source("Src", "In", PEOPLE_COLS),
                C("Count", "Microsoft.RowCount", {"VariableName": "User::Wrong"},
                  inputs=[In("In")], outputs=[Out("Out", sync="In")])],
               [("Src.Output", "Count.In")],
               connections=[flat_file_cm("In", src, PEOPLE)],
               variables=[Var("N", 3, "0"), Var("Wrong", 3, "0")],
               expressions={"[Count].[VariableName]": '"User::N"'})
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert variable(engine, "User::N") == 2
    assert variable(engine, "User::Wrong") == 0


def test_corpus_data_flows_with_supported_components_load_and_build(corpus: Path) -> None:
    """Every real data flow whose components are all supported reads into the pipeline
    model and wires up (components, paths, lineage) without an error."""
    from ssisrun.capabilities import component_is_runnable
    from ssisrun.dataflow import PipelineRun, read_pipeline
    from ssisrun.dtsx import load_package
    from ssisrun.model import TaskHost

    built = 0
    candidates = []
    for line in (corpus / "package_features.tsv").read_text().splitlines()[1:]:
        fields = line.split("\t")
        types = [t for t in fields[17].split(",") if t]
        if types and all(component_is_runnable(t) for t in types):
            candidates.append(corpus / "dtsx" / fields[0].replace("/", "+") / fields[1])
    for path in candidates:
        try:
            pkg = load_package(path)
        except Exception:  # noqa: BLE001 - load errors are test_corpus's business
            continue
        for exe in pkg.walk():
            flow_ = exe.data_flow if isinstance(exe, TaskHost) else None
            if flow_ is None or flow_.pipeline is None or not flow_.components:
                continue
            if not all(component_is_runnable(c.component_type) for c in flow_.components):
                continue
            pipeline = read_pipeline(flow_.pipeline)
            run_ = PipelineRun(pipeline, None, exe.path)  # type: ignore[arg-type]
            run_.build()
            for comp in pipeline.components:
                for inp in comp.inputs:
                    for col in inp.columns:
                        assert col.lineage_id in pipeline.lineage or col.cached_type, (
                            path, comp.name, col.name)
            built += 1
    assert built >= 50
