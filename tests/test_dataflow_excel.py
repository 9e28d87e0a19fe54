"""Excel Source and Excel Destination: workbooks made with openpyxl in the test, read and
written through an EXCEL connection manager as SSIS writes it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from builders import Var, el
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
    result,
    run,
)

from ssisrun.model import ExecResult
from ssisrun.runtime import RunRequest

openpyxl = pytest.importorskip("openpyxl")


def excel_cm(name: str, path: Path | str, hdr: bool = True) -> str:
    text = (f"Provider=Microsoft.ACE.OLEDB.12.0;Data Source={path};"
            f'Extended Properties="Excel 12.0;HDR={"YES" if hdr else "NO"}";')
    data = el(8, "ConnectionManager", {"ConnectionString": text})
    return el(8, "ConnectionManager",
              {"ObjectName": name, "DTSID": "{55555555-0000-0000-0000-000000000000}",
               "CreationName": "EXCEL"}, f"<DTS:ObjectData>{data}</DTS:ObjectData>",
              attrs={"DTS:refId": f"Package.ConnectionManagers[{name}]"})


def workbook(path: Path, sheet: str, rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


COLS = [Col("Id", "r8", 0), Col("Name", "wstr", 10, truncation="IgnoreFailure"),
        Col("Born", "date", 0)]


def excel_source(props: dict[str, str], cols: list[Col] = COLS) -> C:
    return C("Xl", "Microsoft.ExcelSource", props,
             outputs=[Out("Output", cols, external=[Col(c.name) for c in cols])],
             connection="Book")


def test_excel_source_reads_a_sheet_into_a_flat_file(tmp_path: Path) -> None:
    book = workbook(tmp_path / "in.xlsx", "People", [
        ["Id", "Name", "Born"], [1, "Ann", datetime(1990, 5, 1)],
        [2.5, "Bartholomew the Great", None], [None, None, None], [3, "Cy", "2001-02-03"]])
    out = tmp_path / "out.csv"
    xml = flow([excel_source({"AccessMode": "0", "OpenRowset": "People$"}),
                dest("Dst", "Out", ["Xl.Output.Id", "Xl.Output.Name", "Xl.Output.Born"])],
               [("Xl.Output", "Dst.Input")],
               connections=[excel_cm("Book", book),
                            flat_file_cm("Out", out, [FFCol("Id"), FFCol("Name"),
                                                      FFCol("Born")], qualifier="")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().splitlines() == [
        "Id,Name,Born", "1,Ann,5/1/1990", "2.5,Bartholome,", ",,",
        "3,Cy,2/3/2001"]


def test_excel_source_sql_command_windows_path_and_no_header(tmp_path: Path) -> None:
    workbook(tmp_path / "in.xlsx", "Sheet1", [[10, "x"], [20, "y"]])
    out = tmp_path / "out.csv"
    cols = [Col("F1", "i4", 0), Col("F2", "wstr", 5)]
    xml = flow([excel_source({"AccessMode": "2", "SqlCommand": "SELECT * FROM [Sheet1$]"},
                             cols),
                dest("Dst", "Out", ["Xl.Output.F1", "Xl.Output.F2"])],
               [("Xl.Output", "Dst.Input")],
               connections=[excel_cm("Book", "C:\\data\\in.xlsx", hdr=False),
                            flat_file_cm("Out", out, [FFCol("F1"), FFCol("F2")],
                                         qualifier="", names_row=False)])
    engine, events = run(xml, RunRequest(path_map=[("C:\\data\\", f"{tmp_path}/")]))
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().splitlines() == ["10,x", "20,y"]


def test_excel_destination_creates_then_appends(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\r\n1,Ann\r\n2,Bob\r\n")
    book = tmp_path / "out.xlsx"
    dst = C("XlDst", "Microsoft.ExcelDestination",
            {"AccessMode": "1", "OpenRowsetVariable": "User::Sheet"},
            inputs=[In("Input", [InCol("Src.Output.id", external="Number"),
                                 InCol("Src.Output.name", external="Who")],
                       external=[Col("Number", "r8", 0), Col("Who")])],
            connection="Book")
    from test_dataflow import source

    xml = flow([source("Src", "In", [Col("id", "i4", 0), Col("name")]), dst],
               [("Src.Output", "XlDst.Input")],
               connections=[flat_file_cm("In", src, [FFCol("id"), FFCol("name")]),
                            excel_cm("Book", book)],
               variables=[Var("Sheet", 8, "Totals$")])
    for _ in range(2):
        engine, events = run(xml)
        assert result(engine) == ExecResult.Success, errors(events)
    ws = openpyxl.load_workbook(book)["Totals"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [
        ["Number", "Who"], [1, "Ann"], [2, "Bob"], [1, "Ann"], [2, "Bob"]]


def test_xls_workbook_fails_with_a_conversion_hint(tmp_path: Path) -> None:
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    xml = flow([excel_source({"OpenRowset": "Sheet1$"}),
                dest("Dst", "Out", ["Xl.Output.Id"])], [("Xl.Output", "Dst.Input")],
               connections=[excel_cm("Book", tmp_path / "old.xls"),
                            flat_file_cm("Out", tmp_path / "o.csv", [FFCol("Id")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any(".xls" in e and "convert it to .xlsx" in e for e in errors(events)), \
        errors(events)


def test_missing_sheet_names_the_sheets_there_are(tmp_path: Path) -> None:
    book = workbook(tmp_path / "in.xlsx", "Data", [["Id"], [1]])
    xml = flow([excel_source({"OpenRowset": "'Other Sheet$'"}),
                dest("Dst", "Out", ["Xl.Output.Id"])], [("Xl.Output", "Dst.Input")],
               connections=[excel_cm("Book", book),
                            flat_file_cm("Out", tmp_path / "o.csv", [FFCol("Id")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("no sheet Other Sheet$ (it has Data$)" in e for e in errors(events)), \
        errors(events)
