"""Merge Join: the streaming merge (number keys) and the in-memory join (string keys) give
SSIS's inner, left outer and full outer joins over sorted inputs, in small batches."""

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
    T,
    errors,
    flat_file_cm,
    flow,
    result,
    run,
    source,
)

from ssisrun.model import ExecResult

LEFT = [("1", "a"), ("2", "b"), ("2", "c"), ("4", "d"), ("5", "e"), ("", "n")]
RIGHT = [("2", "x"), ("3", "y"), ("4", "z"), ("4", "w"), ("", "m")]


def _expected(join_type: int) -> list[tuple[str, str, str]]:
    out = []
    matched = set()
    for lk, lv in LEFT:
        hits = [(rk, rv) for rk, rv in RIGHT if rk == lk]  # NULL = NULL (TreatNullsAsEqual)
        for rk, rv in hits:
            matched.add((rk, rv))
            out.append((lk, lv, rv))
        if not hits and join_type in (0, 1):
            out.append((lk, lv, ""))
    if join_type == 0:
        out += [("", "", rv) for rk, rv in RIGHT if (rk, rv) not in matched]
    return sorted(out)


def _join(tmp_path: Path, join_type: int, key_type: str, left: list[tuple[str, str]] = LEFT
          ) -> tuple[ExecResult, list[str], list[tuple[str, ...]]]:
    files = {}
    for name, rows in (("L", left), ("R", RIGHT)):
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text("k,v\r\n" + "".join(f"{k},{v}\r\n" for k, v in rows))
    cols = [Col("k", key_type, 10, sort_key=1), Col("v")]
    base = f"{T}\\Join"

    def in_col(side: str, name: str) -> str:
        return f"{base}.Inputs[{side}].Columns[{name}]"

    join = C("Join", "Microsoft.MergeJoin",
             {"JoinType": str(join_type), "NumKeyColumns": "1", "TreatNullsAsEqual": "true"},
             inputs=[In("Left", [InCol("L.Output.k"), InCol("L.Output.v")]),
                     In("Right", [InCol("R.Output.k"), InCol("R.Output.v")])],
             outputs=[Out("Out", [Col("k", key_type, 10,
                                      props={"InputColumnID": in_col("Left", "k")}),
                                  Col("lv", props={"InputColumnID": in_col("Left", "v")}),
                                  Col("rv", props={"InputColumnID": in_col("Right", "v")})])])
    out = tmp_path / "out.csv"
    dst = C("Dst", "Microsoft.FlatFileDestination", {},
            inputs=[In("Input", [InCol(f"Join.Out.{c}", external=c) for c in ("k", "lv", "rv")],
                       external=[Col("k"), Col("lv"), Col("rv")])], connection="Out")
    xml = flow([source("L", "L", cols, props={"RetainNulls": "true"}),
                source("R", "R", cols, props={"RetainNulls": "true"}), join, dst],
               [("L.Output", "Join.Left"), ("R.Output", "Join.Right"), ("Join.Out", "Dst.Input")],
               connections=[flat_file_cm("L", files["L"], [FFCol("k"), FFCol("v")]),
                            flat_file_cm("R", files["R"], [FFCol("k"), FFCol("v")]),
                            flat_file_cm("Out", out, [FFCol("k"), FFCol("lv"), FFCol("rv")],
                                         qualifier="", names_row=False)], buffer_rows=2)
    engine, events = run(xml)
    rows = [tuple(line.split(",")) for line in out.read_text().splitlines()] \
        if out.exists() else []
    return result(engine), errors(events), rows


@pytest.mark.parametrize("join_type", [0, 1, 2])
@pytest.mark.parametrize("key_type", ["i4", "wstr"])
def test_merge_join_types(tmp_path: Path, join_type: int, key_type: str) -> None:
    outcome, errs, rows = _join(tmp_path, join_type, key_type)
    assert outcome == ExecResult.Success, errs
    assert sorted(rows) == _expected(join_type)


def test_streaming_merge_join_refuses_an_unsorted_input(tmp_path: Path) -> None:
    outcome, errs, _ = _join(tmp_path, 2, "i4", left=[("2", "b"), ("1", "a")])
    assert outcome == ExecResult.Failure
    assert any("the input Left is not sorted on the join key" in e for e in errs), errs
