"""Fuzzy Lookup throughput: a reference table of distinct people (name, city) in SQLite,
matched by misspelled probes (one pair of letters swapped, lower-cased), through a real
pipeline: flat file -> Fuzzy Lookup -> OLE DB Destination (SQLite).

Prints the time to build the match index (the pipeline's run less the matching, measured
apart on the same rows), the probes matched per second end to end, and the share of
probes whose best match is the row they were made from. Figures are printed, never
asserted; ``--profile`` prints where the matching time goes.

    python bench/fuzzy.py [--reference 20000] [--probes 5000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_dataflow import errors, flat_file_cm, flow, result, run, source  # noqa: E402
from test_dataflow_db import db_dest, oledb_cm  # noqa: E402
from test_dataflow_fuzzy import (  # noqa: E402
    INPUT_COLS,
    INPUT_FF,
    RESULT_COLUMNS,
    fuzzy_lookup,
    input_file,
    reference_db,
    synthetic,
)

from ssisrun.dataflow.components.fuzzy import (  # noqa: E402
    DEFAULT_DELIMITERS,
    MatchColumn,
    Matcher,
)
from ssisrun.model import ExecResult  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=5_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    reference, probes = synthetic(7, args.reference, args.probes)

    started = time.perf_counter()
    columns = [MatchColumn("name", False, 1), MatchColumn("city", False, 1)]
    matcher = Matcher(columns, DEFAULT_DELIMITERS, [(r[1], r[2]) for r in reference])
    index_s = time.perf_counter() - started
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    started = time.perf_counter()
    for _, name, city in probes:
        matcher.matches((name, city))
    match_s = time.perf_counter() - started
    if profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = reference_db(folder / "ref.db", reference)
        rows = [(i, name, city, "XX") for i, (_, name, city) in enumerate(probes)]
        src = input_file(folder / "in.csv", rows)
        xml = flow([source("Src", "In", INPUT_COLS), fuzzy_lookup({"MinSimilarity": "0.5"}),
                    db_dest("Dst", "results",
                            [f"Fuzzy.Output.{c}" for c in RESULT_COLUMNS])],
                   [("Src.Output", "Fuzzy.In"), ("Fuzzy.Output", "Dst.Input")],
                   connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)])
        started = time.perf_counter()
        engine, events = run(xml)
        total_s = time.perf_counter() - started
        if result(engine) != ExecResult.Success:
            print("the package failed:", *errors(events), sep="\n  ")
            return 1
        with sqlite3.connect(db) as conn:
            got = conn.execute("SELECT id, CustomerID FROM results").fetchall()
    hits = sum(1 for i, found in got if found == probes[i][0])
    print(f"reference rows {len(reference)}, probes {len(probes)}")
    print(f"  match index built in {index_s:.2f} s")
    print(f"  matching alone: {len(probes) / match_s:,.0f} rows/s ({match_s:.2f} s)")
    print(f"  pipeline end to end: {len(probes) / total_s:,.0f} rows/s ({total_s:.2f} s, "
          "reading the reference table and building the index included)")
    print(f"  best match is the source row: {hits / len(probes):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
