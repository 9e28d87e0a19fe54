"""Data-flow throughput: rows per second through ssisrun's pipeline engine, each beside a
baseline doing the same work directly in Python, in the same run.

1. flat file -> Derived Column -> flat file (10 columns: int, string, int, real, six
   strings; the Derived Column adds ``UPPER(c1)``), against the csv module doing the same
   (parse the int and real columns, upper-case c1, write every column and the new one).
2. flat file -> Derived Column -> SQLite (OLE DB Destination, fast load), against csv +
   sqlite3's executemany in batches of 10,000 rows, one transaction.

Targets (issue 9): at least the baseline's speed, and at least 300,000 rows per second file
to file. With pyarrow installed (``ssisrun[fast]``) the engine reads and writes delimited
files columnar and evaluates simple Derived Column expressions vectorised;
``SSISRUN_NO_ARROW=1`` measures the pure-Python path. Figures are printed, never asserted.
``--rows N`` changes the row count, ``--profile`` prints where the engine's time goes.

    python bench/dataflow.py [--rows 1000000] [--profile]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_dataflow import (  # noqa: E402
    C,
    Col,
    FFCol,
    In,
    InCol,
    Out,
    flat_file_cm,
    flow,
    run,
    source,
)

from ssisrun.model import ExecResult  # noqa: E402

NAMES = [f"c{i}" for i in range(10)]
TYPES = ["i4", "wstr", "i4", "r8"] + ["wstr"] * 6
FF_TYPES = {"i4": 3, "r8": 5, "wstr": 129}


def make_input(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(NAMES)
        for i in range(rows):
            writer.writerow([i, f"name{i % 1000}", i % 97, i * 0.25, "alpha", "beta",
                             f"g{i % 13}", "delta", "epsilon", f"z{i % 7}"])


def _columns() -> list[Col]:
    return [Col(n, t, 50 if t == "wstr" else 0) for n, t in zip(NAMES, TYPES, strict=True)]


def _ff(names: list[str]) -> list[FFCol]:
    return [FFCol(n, FF_TYPES.get(TYPES[NAMES.index(n)], 129) if n in NAMES else 129,
                  qualified=False) for n in names]


def _derived() -> C:
    return C("Derive", "Microsoft.DerivedColumn",
             inputs=[In("In", [InCol("Src.Output.c1")])],
             outputs=[Out("Out", [Col("upper", "wstr", 50,
                                      props={"FriendlyExpression": "UPPER(c1)"})],
                          sync="In")])


def engine_file_to_file(src: Path, out: Path) -> None:
    sources = [f"Src.Output.{n}" for n in NAMES] + ["Derive.Out.upper"]
    dest = C("Dst", "Microsoft.FlatFileDestination", {"Overwrite": "true"},
             inputs=[In("Input", [InCol(s, external=s.split(".")[-1]) for s in sources],
                        external=[Col(s.split(".")[-1]) for s in sources])],
             connection="Out")
    xml = flow([source("Src", "In", _columns()), _derived(), dest],
               [("Src.Output", "Derive.In"), ("Derive.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, _ff(NAMES), qualifier=""),
                            flat_file_cm("Out", out, _ff([*NAMES, "upper"]), qualifier="")])
    engine, events = run(xml)
    if engine.result.result != ExecResult.Success:  # type: ignore[attr-defined]
        raise SystemExit([e.description for e in events if e.kind == "OnError"])


def baseline_file_to_file(src: Path, out: Path) -> None:
    with open(src, newline="", encoding="utf-8") as fin, \
            open(out, "w", newline="", encoding="utf-8") as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\r\n")
        writer.writerow([*next(reader), "upper"])
        for row in reader:
            c0, c2, c3 = int(row[0]), int(row[2]), float(row[3])
            writer.writerow([c0, row[1], c2, c3, *row[4:], row[1].upper()])


def _oledb_cm(db: Path) -> str:
    from builders import el

    data = el(8, "ConnectionManager", {"ConnectionString": f"Data Source={db};Provider=SQLite;"})
    return el(8, "ConnectionManager",
              {"ObjectName": "Db", "DTSID": "{44444444-0000-0000-0000-000000000000}",
               "CreationName": "OLEDB"}, f"<DTS:ObjectData>{data}</DTS:ObjectData>",
              attrs={"DTS:refId": "Package.ConnectionManagers[Db]"})


def _create_table(db: Path) -> None:
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (c0 INTEGER, c1 TEXT, c2 INTEGER, c3 REAL, c4 TEXT, "
                     "c5 TEXT, c6 TEXT, c7 TEXT, c8 TEXT, c9 TEXT, upper TEXT)")


def engine_file_to_sqlite(src: Path, db: Path) -> None:
    _create_table(db)
    sources = [f"Src.Output.{n}" for n in NAMES] + ["Derive.Out.upper"]
    dest = C("Dst", "Microsoft.OLEDBDestination", {"AccessMode": "3", "OpenRowset": "t"},
             inputs=[In("Input", [InCol(s, external=s.split(".")[-1]) for s in sources],
                        external=[Col(s.split(".")[-1]) for s in sources])],
             connection="Db")
    xml = flow([source("Src", "In", _columns()), _derived(), dest],
               [("Src.Output", "Derive.In"), ("Derive.Out", "Dst.Input")],
               connections=[flat_file_cm("In", src, _ff(NAMES), qualifier=""), _oledb_cm(db)])
    engine, events = run(xml)
    if engine.result.result != ExecResult.Success:  # type: ignore[attr-defined]
        raise SystemExit([e.description for e in events if e.kind == "OnError"])


def baseline_file_to_sqlite(src: Path, db: Path) -> None:
    _create_table(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    sql = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    with open(src, newline="", encoding="utf-8") as fin:
        reader = csv.reader(fin)
        next(reader)
        batch = []
        for row in reader:
            batch.append((int(row[0]), row[1], int(row[2]), float(row[3]), *row[4:],
                          row[1].upper()))
            if len(batch) >= 10_000:
                conn.executemany(sql, batch)
                batch = []
        if batch:
            conn.executemany(sql, batch)
    conn.execute("COMMIT")
    conn.close()


def timed(label: str, rows: int, action: object, *args: Path) -> float:
    start = time.perf_counter()
    action(*args)  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    print(f"  {label:<34} {elapsed:7.2f} s  {rows / elapsed:>10,.0f} rows/s")
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / "in.csv"
        make_input(src, args.rows)
        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("engine_file_to_file(src, folder / 'p.csv')", globals(),
                            {"src": src, "folder": folder}, str(folder / "prof"))
            pstats.Stats(str(folder / "prof")).sort_stats("tottime").print_stats(15)
            return
        print(f"{args.rows:,} rows of 10 columns")
        print("flat file -> Derived Column -> flat file")
        engine = timed("ssisrun data flow", args.rows, engine_file_to_file, src,
                       folder / "e.csv")
        base = timed("baseline (csv module)", args.rows, baseline_file_to_file, src,
                     folder / "b.csv")
        print(f"  ratio {engine / base:.2f}x the baseline; target 300,000 rows/s: "
              f"{'met' if engine >= 300_000 else 'missed'}")
        print("flat file -> Derived Column -> SQLite")
        engine_db = timed("ssisrun data flow", args.rows, engine_file_to_sqlite, src,
                          folder / "e.db")
        base_db = timed("baseline (csv + executemany)", args.rows, baseline_file_to_sqlite,
                        src, folder / "b.db")
        print(f"  ratio {engine_db / base_db:.2f}x the baseline")


if __name__ == "__main__":
    main()
