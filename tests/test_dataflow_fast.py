"""The pyarrow fast paths give exactly what the pure-Python paths give: each pipeline runs
twice, with pyarrow and with ``SSISRUN_NO_ARROW=1``, and the files must be identical."""

from __future__ import annotations

from pathlib import Path

import pytest
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
    source,
)

from ssisrun.model import ExecResult

pytest.importorskip("pyarrow")

COLS = [Col("id", "i4", 0), Col("name", "wstr", 20), Col("amount", "r8", 0),
        Col("big", "i8", 0)]
FF = [FFCol("id"), FFCol("name"), FFCol("amount"), FFCol("big")]

EXPRESSIONS = {
    "e_upper": ('UPPER(name) + "|" + LOWER(name)', "wstr", 60),
    "e_trim": ('"[" + TRIM(name) + "]" + LTRIM(name) + RTRIM(name)', "wstr", 100),
    "e_len": ("LEN(name) * 2 + id", "i4", 0),
    "e_cast": ('(DT_WSTR, 12)(id - 1) + ":" + (DT_WSTR, 25)big', "wstr", 40),
    "e_arith": ("big * 3 - id", "i8", 0),
    "e_real": ("amount + amount", "r8", 0),
    "e_int": ('(DT_I4)"7" + id', "i4", 0),
}


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
          extra_rows: int = 30) -> tuple[str, str]:
    rows = ["id,name,amount,big", '1," Ann ",0.25,9000000000', '2,Émile,1E-05,-3',
            '3,"",0.30000000000000004,0', '4,"a""b",-0.0,12', '5,"x, y",1e20,7',
            "6,ß,100,1"]
    rows += [f"{i},n{i},{i * 0.5},{i * 1000}" for i in range(7, 7 + extra_rows)]
    src = tmp_path / "in.csv"
    src.write_text(text or "\r\n".join(rows) + "\r\n", encoding="utf-8")
    outs = []
    for mode in ("1", "0"):
        monkeypatch.setenv("SSISRUN_NO_ARROW", mode)
        out = tmp_path / f"out{mode}.csv"
        derived = C("Derive", "Microsoft.DerivedColumn", inputs=[In("In", [
            InCol(f"Src.Output.{c.name}") for c in COLS])],
            outputs=[Out("Out", [Col(name, type_, length, props={"FriendlyExpression": e})
                                 for name, (e, type_, length) in EXPRESSIONS.items()],
                         sync="In")])
        names = [c.name for c in COLS] + list(EXPRESSIONS)
        sources = [f"Src.Output.{c.name}" for c in COLS] + [f"Derive.Out.{n}"
                                                            for n in EXPRESSIONS]
        xml = flow([source("Src", "In", COLS), derived, dest("Dst", "Out", sources)],
                   [("Src.Output", "Derive.In"), ("Derive.Out", "Dst.Input")],
                   connections=[flat_file_cm("In", src, FF),
                                flat_file_cm("Out", out, [FFCol(n) for n in names])],
                   buffer_rows=8)
        engine, events = run(xml)
        assert result(engine) == ExecResult.Success, errors(events)
        outs.append(out.read_text(encoding="utf-8"))
    return outs[0], outs[1]


def test_vectorised_derived_column_and_files_match_the_python_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python, fast = _both(tmp_path, monkeypatch, "")
    assert fast == python
    lines = python.splitlines()
    assert lines[1].startswith('"1"," Ann ","0.25","9000000000"," ANN | ann ","[Ann]')
    assert '"1E-05"' in lines[2] and '"ÉMILE|émile"' in lines[2]
    assert '"0.3"' in lines[3] and '"1E+20"' in lines[5] and '"a""b"' not in lines[4]


def test_a_row_pyarrow_cannot_read_goes_on_through_the_csv_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = ["id,name,amount,big"] + [f"{i},n{i},{i},{i}" for i in range(1, 40)]
    rows[30] = "30,short"  # too few fields: SSIS gives NULLs (here: defaults)
    python, fast = _both(tmp_path, monkeypatch, "\r\n".join(rows) + "\r\n")
    assert fast == python
    assert len(python.splitlines()) == 40


def test_integer_overflow_in_a_vectorised_expression_fails_as_row_by_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id\r\n2147483647\r\n", encoding="utf-8")
    derived = C("Derive", "Microsoft.DerivedColumn", inputs=[In("In", [
        InCol("Src.Output.id")])], outputs=[Out("Out", [Col("next", "i4", 0, props={
            "FriendlyExpression": "id + 1"})], sync="In")])
    xml = flow([source("Src", "In", [Col("id", "i4", 0)]), derived,
                dest("Dst", "Out", ["Derive.Out.next"])],
               [("Src.Output", "Derive.In"), ("Derive.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, [FFCol("id")]),
                            flat_file_cm("Out", tmp_path / "o.csv", [FFCol("next")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("next" in e for e in errors(events)), errors(events)
