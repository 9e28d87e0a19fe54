"""Pivot, and the Cache Transform feeding a Lookup (through a Cache connection manager) in a
later data flow of the same run."""

from __future__ import annotations

from pathlib import Path

from builders import Exe, el, package
from test_dataflow import (
    C,
    Col,
    FFCol,
    In,
    InCol,
    Out,
    dest,
    errors,
    flat_file_cm,
    flow,
    pipeline_xml,
    result,
    run,
    source,
)

from ssisrun.model import ExecResult

SALES = [FFCol("customer"), FFCol("year"), FFCol("amount")]
SALES_COLS = [Col("customer"), Col("year", "i4", 0), Col("amount", "r8", 0)]


def pivot(unmatched: bool = False) -> C:
    def src(name: str) -> str:
        return f"#{{Package\\DFT\\Src.Outputs[Output].Columns[{name}]}}"

    return C("Pivot", "Microsoft.Pivot",
             {"PassThroughUnmatchedPivotKeys": str(unmatched).lower()},
             inputs=[In("In", [InCol("Src.Output.customer", {"PivotUsage": "1"}),
                               InCol("Src.Output.year", {"PivotUsage": "2"}),
                               InCol("Src.Output.amount", {"PivotUsage": "3"})])],
             outputs=[Out("Out", [
                 Col("customer", props={"SourceColumn": src("customer")}),
                 Col("y2023", "r8", 0, props={"SourceColumn": src("amount"),
                                              "PivotKeyValue": "2023"}),
                 Col("y2024", "r8", 0, props={"SourceColumn": src("amount"),
                                              "PivotKeyValue": "2024"})])])


def _pivot_run(tmp_path: Path, lines: list[str], unmatched: bool = False
               ) -> tuple[ExecResult, list[str], Path]:
    src = tmp_path / "sales.csv"
    src.write_text("customer,year,amount\r\n" + "".join(f"{x}\r\n" for x in lines))
    out = tmp_path / "out.csv"
    xml = flow([source("Src", "In", SALES_COLS), pivot(unmatched),
                dest("Dst", "Out", ["Pivot.Out.customer", "Pivot.Out.y2023",
                                    "Pivot.Out.y2024"])],
               [("Src.Output", "Pivot.In"), ("Pivot.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, SALES),
                            flat_file_cm("Out", out, [FFCol("customer"), FFCol("y2023"),
                                                      FFCol("y2024")], qualifier="",
                                         names_row=False)], buffer_rows=2)
    engine, events = run(xml)
    return result(engine), errors(events), out


def test_pivot_makes_one_row_per_set_key(tmp_path: Path) -> None:
    outcome, errs, out = _pivot_run(tmp_path, [
        "ann,2023,1.5", "ann,2024,2", "bob,2024,7", "cy,2023,3", "cy,2024,4"])
    assert outcome == ExecResult.Success, errs
    assert out.read_text().splitlines() == ["ann,1.5,2", "bob,,7", "cy,3,4"]


def test_pivot_unmatched_and_duplicate_keys(tmp_path: Path) -> None:
    outcome, errs, _ = _pivot_run(tmp_path, ["ann,2023,1", "ann,1999,2"])
    assert outcome == ExecResult.Failure
    assert any("'1999' matches no output column" in e for e in errs), errs
    outcome, errs, out = _pivot_run(tmp_path, ["ann,2023,1", "ann,1999,2"], unmatched=True)
    assert outcome == ExecResult.Success, errs
    assert out.read_text().splitlines() == ["ann,1,"]
    outcome, errs, _ = _pivot_run(tmp_path, ["ann,2023,1", "ann,2023,2"])
    assert any("appears twice" in e for e in errs), errs


def cache_cm(name: str) -> str:
    cols = (el(8, "CacheColumn", {"DataType": 3, "IndexPosition": 1, "ObjectName": "Key"})
            + el(8, "CacheColumn", {"DataType": 130, "Length": 20, "ObjectName": "Color"}))
    data = el(8, "ConnectionManager", {}, f"<DTS:CacheColumns>{cols}</DTS:CacheColumns>")
    return el(8, "ConnectionManager",
              {"ObjectName": name, "DTSID": "{66666666-0000-0000-0000-000000000000}",
               "CreationName": "CACHE"}, f"<DTS:ObjectData>{data}</DTS:ObjectData>",
              attrs={"DTS:refId": f"Package.ConnectionManagers[{name}]"})


def test_cache_transform_fills_a_cache_a_later_lookup_reads(tmp_path: Path) -> None:
    colors = tmp_path / "colors.csv"
    colors.write_text("id,color\r\n1,red\r\n2,blue\r\n")
    people = tmp_path / "people.csv"
    people.write_text("id,name\r\n2,Ann\r\n1,Bob\r\n3,Cy\r\n")
    out = tmp_path / "out.csv"
    fill = pipeline_xml([
        source("Src", "Colors", [Col("id", "i4", 0), Col("color")]),
        C("Cache", "Microsoft.Cache", {}, connection="Colors cache",
          inputs=[In("Cache Input", [InCol("Src.Output.id", {"CacheColumnName": "Key"}),
                                     InCol("Src.Output.color",
                                           {"CacheColumnName": "Color"})])])],
        [("Src.Output", "Cache.Cache Input")])
    look = pipeline_xml([
        source("Src", "People", [Col("id", "i4", 0), Col("name")]),
        C("Look", "Microsoft.Lookup", {"ConnectionType": "1", "NoMatchBehavior": "1"},
          connection="Colors cache",
          inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "Key"}),
                            InCol("Src.Output.name")])],
          outputs=[Out("Match", [Col("color", props={"CopyFromReferenceColumn": "Color"})],
                       sync="In"), Out("No Match", sync="In")]),
        dest("Dst", "Out", ["Src.Output.name", "Look.Match.color"])],
        [("Src.Output", "Look.In"), ("Look.Match", "Dst.Input")])
    look = look.replace("Package\\DFT\\", "Package\\Look\\").replace(
        "Package\\DFT.", "Package\\Look.")
    from builders import Constraint

    xml = package(8, [Exe("DFT", "pipeline", object_data=fill),
                      Exe("Look", "pipeline", object_data=look)],
                  constraints=[Constraint("DFT", "Look")],
                  connections=[flat_file_cm("Colors", colors, [FFCol("id"), FFCol("color")]),
                               flat_file_cm("People", people, [FFCol("id"), FFCol("name")]),
                               flat_file_cm("Out", out, [FFCol("name"), FFCol("color")],
                                            qualifier="", names_row=False),
                               cache_cm("Colors cache")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().splitlines() == ["Ann,blue", "Bob,red"]


def test_lookup_from_an_empty_cache_says_why(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("id,name\r\n1,Bob\r\n")
    xml = flow([source("Src", "People", [Col("id", "i4", 0), Col("name")]),
                C("Look", "Microsoft.Lookup", {"ConnectionType": "1"},
                  connection="Colors cache",
                  inputs=[In("In", [InCol("Src.Output.id", {"JoinToReferenceColumn": "Key"})])],
                  outputs=[Out("Match", sync="In")])],
               [("Src.Output", "Look.In")],
               connections=[flat_file_cm("People", people, [FFCol("id"), FFCol("name")]),
                            cache_cm("Colors cache")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("no Cache Transform filled it" in e for e in errors(events)), errors(events)
