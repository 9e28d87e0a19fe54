"""Fuzzy Lookup and Fuzzy Grouping in real pipelines: a flat file of dirty rows, a SQLite
reference table, the results written to SQLite by an OLE DB Destination and read back.
The scores are ssisrun's own (docs/dataflow-fuzzy.md), so tests assert the matches, the
groups and the order of scores, and exact scores only where the algorithm makes them
plain (1.0 for equal token sets)."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from test_dataflow import (
    C,
    Col,
    FFCol,
    In,
    InCol,
    Out,
    errors,
    flat_file_cm,
    flow,
    infos,
    lineage,
    result,
    run,
    source,
)
from test_dataflow_db import db_dest, oledb_cm, oledb_connection

from ssisrun.dataflow.components.fuzzy import (
    DEFAULT_DELIMITERS,
    MatchColumn,
    Matcher,
    fold,
    group_rows,
)
from ssisrun.model import ExecResult

FUZZY_LOOKUP = "{E4A5F949-EC93-45AB-8B36-B52936257EC2}"
FUZZY_GROUPING = "{836E0D0B-0358-45B4-B888-4ADCE9356D4E}"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CHAPTER4 = CORPUS / "dtsx" / "lucmilot+SSIS_2014_Book" / "850879_c04_download" / "Chapter4"

REFERENCE = [
    (1, "John Smith", "Seattle", "WA"),
    (2, "Jane Smith", "Seattle", "WA"),
    (3, "Zoë Müller", "Zürich", "ZH"),
    (4, "Acme Widgets Incorporated", "Boston", "MA"),
    (5, "Robert Brown", "Portland", "OR"),
    (6, "John Smith", "Portland", "OR"),
]


def sub(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def reference_db(path: Path, rows: list[tuple[Any, ...]] = REFERENCE) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (CustomerID INTEGER, FullName TEXT, Town TEXT, "
                     "State TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows)
        conn.execute("CREATE TABLE results (id INTEGER, name TEXT, CustomerID INTEGER, "
                     "FullName TEXT, _Similarity REAL, _Confidence REAL, "
                     "_Similarity_name REAL)")
    return path


def input_file(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    lines = ["id,name,city,state"] + [",".join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


INPUT_FF = [FFCol("id"), FFCol("name"), FFCol("city"), FFCol("state")]
INPUT_COLS = [Col("id", "i4", 0), Col("name", "wstr", 50), Col("city", "wstr", 50),
              Col("state", "wstr", 10)]


def ref(column: str) -> str:
    return "#{" + lineage(f"Src.Output.{column}") + "}"


def fuzzy_lookup(props: dict[str, str] | None = None, *, flags: int = 1,
                 state: str = "") -> C:
    """A Fuzzy Lookup joining name -> FullName and city -> Town (fuzzy), and, with
    ``state`` "1" or "2", state -> State (exact or fuzzy)."""
    def join(target: str, join_type: str = "2", min_sim: str = "0") -> dict[str, str]:
        return {"JoinToReferenceColumn": target, "JoinType": join_type,
                "MinSimilarity": min_sim, "FuzzyComparisonFlags": str(flags),
                "FuzzyComparisonFlagsEx": "0"}

    columns = [InCol("Src.Output.id", {"JoinToReferenceColumn": "", "JoinType": "2"}),
               InCol("Src.Output.name", join("FullName")),
               InCol("Src.Output.city", join("Town"))]
    if state:
        columns.append(InCol("Src.Output.state", join("State", state)))
    outputs = [Col("id", "i4", 0, props={"SourceInputColumnLineageID": ref("id"),
                                         "ColumnType": "0"}),
               Col("name", "wstr", 50, props={"SourceInputColumnLineageID": ref("name"),
                                              "CopyFromReferenceColumn": "",
                                              "ColumnType": "0"}),
               Col("CustomerID", "i4", 0, props={"CopyFromReferenceColumn": "CustomerID",
                                                 "SourceInputColumnLineageID": "",
                                                 "ColumnType": "0"}),
               Col("FullName", "wstr", 50, props={"CopyFromReferenceColumn": "FullName",
                                                  "ColumnType": "0"}),
               Col("_Similarity", "r4", 0, props={"ColumnType": "1"}),
               Col("_Confidence", "r4", 0, props={"ColumnType": "2"}),
               Col("_Similarity_name", "r4", 0, props={"SourceInputColumnLineageID":
                                                       ref("name"), "ColumnType": "3"})]
    settings = {"MatchIndexOptions": "1", "ReferenceTableName": "[dbo].[customers]",
                "MatchIndexName": "", "DropExistingMatchIndex": "1",
                "CopyReferenceTable": "1", "MaxOutputMatchesPerInput": "1",
                "MinSimilarity": "0.5", "Delimiters": DEFAULT_DELIMITERS,
                "Exhaustive": "false", "WarmCaches": "true", **(props or {})}
    return C("Fuzzy", FUZZY_LOOKUP, settings, inputs=[In("In", columns)],
             outputs=[Out("Output", outputs)], connection="Db")


RESULT_COLUMNS = ["id", "name", "CustomerID", "FullName", "_Similarity", "_Confidence",
                  "_Similarity_name"]


def run_lookup(tmp_path: Path, rows: list[tuple[Any, ...]], lookup: C,
               reference: list[tuple[Any, ...]] = REFERENCE) -> list[tuple[Any, ...]]:
    db = reference_db(tmp_path / "ref.db", reference)
    src = input_file(tmp_path / "in.csv", rows)
    xml = flow([source("Src", "In", INPUT_COLS), lookup,
                db_dest("Dst", "results", [f"Fuzzy.Output.{c}" for c in RESULT_COLUMNS])],
               [("Src.Output", "Fuzzy.In"), ("Fuzzy.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM results ORDER BY rowid").fetchall()


# --------------------------------------------------------------------------- Fuzzy Lookup


def test_misspelled_reordered_accented_and_differently_cased_rows_find_their_match(
        tmp_path: Path) -> None:
    rows = [(1, "jon smith", "seattle", "WA"),          # misspelled, lower case
            (2, "SMITH, JOHN", "SEATTLE", "WA"),         # reordered, upper case
            (3, "Zoe Muller", "Zurich", "ZH"),           # without accents
            (4, "Acme Widgets Incorporated", "Boston", "MA"),
            (5, "Robret Brwon", "Portland", "OR"),       # two typos
            (6, "Completely Different", "Nowhere", "XX")]
    got = run_lookup(tmp_path, rows, fuzzy_lookup(flags=1 | 2))
    by_id = {r[0]: r for r in got}
    assert len(got) == 6
    assert [by_id[i][2] for i in range(1, 6)] == [1, 1, 3, 4, 5]
    # equal token sets score 1: word order and case do not matter, nor accents here
    assert by_id[2][4] == 1.0 and by_id[2][6] == 1.0
    assert by_id[3][4] == 1.0
    assert by_id[4][4] == 1.0 and by_id[4][3] == "Acme Widgets Incorporated"
    # a misspelling scores below 1 and the input column passes through as it came
    assert 0.5 <= by_id[1][4] < 1.0 and by_id[1][1] == "jon smith"
    assert 0.5 <= by_id[5][4] < by_id[1][4]
    # confidence: positive, at most the similarity
    assert all(0 < by_id[i][5] <= by_id[i][4] for i in range(1, 6))
    # no row at or above MinSimilarity: NULL reference columns, similarity 0
    assert by_id[6][2:] == (None, None, 0.0, 0.0, 0.0)


def test_min_similarity_leaves_the_reference_columns_null(tmp_path: Path) -> None:
    rows = [(1, "John Smith", "Seattle", "WA"), (2, "jon smith", "seattle", "WA"),
            (3, "Robret Brwon", "Portland", "OR")]
    got = run_lookup(tmp_path, rows, fuzzy_lookup({"MinSimilarity": "0.95"}))
    assert [(r[0], r[2], r[3]) for r in got] == [(1, 1, "John Smith"), (2, None, None),
                                                 (3, None, None)]


def test_column_min_similarity_rejects_a_match(tmp_path: Path) -> None:
    lookup = fuzzy_lookup({"MinSimilarity": "0"})
    name_col = lookup.inputs[0].columns[1]
    name_col.props["MinSimilarity"] = "0.99"
    got = run_lookup(tmp_path, [(1, "john smith", "Seatle", "WA"),
                                (2, "jon smith", "Seattle", "WA")], lookup)
    assert [(r[0], r[2]) for r in got] == [(1, 1), (2, None)]


def test_max_output_matches_gives_several_rows_best_first(tmp_path: Path) -> None:
    rows = [(1, "Jon Smith", "Seattle", "WA"), (2, "Nobody Here", "Atlantis", "XX")]
    got = run_lookup(tmp_path, rows, fuzzy_lookup({"MaxOutputMatchesPerInput": "3",
                                                   "MinSimilarity": "0.3"}))
    first = [r for r in got if r[0] == 1]
    assert [r[2] for r in first] == [1, 2, 6]
    sims = [r[4] for r in first]
    assert sims == sorted(sims, reverse=True) and sims[0] > sims[1]
    confidences = [r[5] for r in first]
    assert confidences == sorted(confidences, reverse=True)
    assert [r[2:] for r in got if r[0] == 2] == [(None, None, 0.0, 0.0, 0.0)]


def test_max_output_matches_zero_produces_no_rows(tmp_path: Path) -> None:
    got = run_lookup(tmp_path, [(1, "John Smith", "Seattle", "WA")],
                     fuzzy_lookup({"MaxOutputMatchesPerInput": "0"}))
    assert got == []


def test_exact_join_column_must_be_equal(tmp_path: Path) -> None:
    rows = [(1, "Jon Smith", "Portland", "OR"), (2, "Jon Smith", "Seattle", "or"),
            (3, "John Smith", "Seattle", "CA")]
    got = run_lookup(tmp_path, rows, fuzzy_lookup({"MinSimilarity": "0.3"}, state="1"))
    # 2: the exact column compares with the column's flags (IgnoreCase): OR = or, and
    # only John Smith of Portland is in OR although the city says Seattle
    assert [(r[0], r[2]) for r in got] == [(1, 6), (2, 6), (3, None)]


def test_comparison_flags_case_and_accents(tmp_path: Path) -> None:
    rows = [(1, "JOHN SMITH", "SEATTLE", "WA"), (2, "Zoe Muller", "Zurich", "ZH")]
    strict = run_lookup(sub(tmp_path, "a"),
                        rows, fuzzy_lookup({"MinSimilarity": "0.9"}, flags=0))
    assert [(r[0], r[2]) for r in strict] == [(1, None), (2, None)]
    folded = run_lookup(sub(tmp_path, "b"),
                        rows, fuzzy_lookup({"MinSimilarity": "0.9"}, flags=1 | 2))
    assert [(r[0], r[2], r[4]) for r in folded] == [(1, 1, 1.0), (2, 3, 1.0)]


def test_folding_flags() -> None:
    assert fold("Ｓｍｉｔｈ　Ｊｏｈｎ", 0x20000) == "Smith John"          # IgnoreWidth
    assert fold("ひらがな", 0x10000) == "ヒラガナ"                          # IgnoreKanaType
    assert fold("ｶﾞｷﾞ", 0x20000) == "ガギ"                                 # half-width kana
    assert fold("Crème Brûlée", 2) == "Creme Brulee"                       # IgnoreNonSpace
    assert fold("Crème", 1) == "crème"                                      # IgnoreCase only
    columns = [MatchColumn("name", exact=False, flags=1 | 4)]               # IgnoreSymbols
    matcher = Matcher(columns, " ", [("O'Brien & Sons",), ("Obrian Sons",)])
    best = matcher.matches(("OBrien Sons",))[0]
    assert best.row == 0 and best.similarity == 1.0
    plain = Matcher([MatchColumn("name", exact=False, flags=1)], " ",
                    [("O'Brien & Sons",), ("Obrian Sons",)])
    assert plain.matches(("OBrien Sons",))[0].similarity < 1.0


def test_delimiters_decide_the_tokens(tmp_path: Path) -> None:
    rows = [(1, "Smith_John", "Seattle", "WA")]
    plain = run_lookup(sub(tmp_path, "a"),
                       rows, fuzzy_lookup({"MinSimilarity": "0"}))
    with_underscore = run_lookup(
        sub(tmp_path, "b"), rows,
        fuzzy_lookup({"MinSimilarity": "0", "Delimiters": DEFAULT_DELIMITERS + "_"}))
    assert plain[0][4] < 1.0
    assert (with_underscore[0][2], with_underscore[0][4]) == (1, 1.0)


def test_exhaustive_finds_the_same_best_matches(tmp_path: Path) -> None:
    rows = [(1, "jon smith", "seattle", "WA"), (2, "Robret Brwon", "Portland", "OR")]
    indexed = run_lookup(sub(tmp_path, "a"),
                         rows, fuzzy_lookup())
    exhaustive = run_lookup(sub(tmp_path, "b"),
                            rows, fuzzy_lookup({"Exhaustive": "true"}))
    assert [r[:5] for r in indexed] == [r[:5] for r in exhaustive]


@pytest.mark.parametrize("option", ["0", "2", "3"])
def test_persisted_index_options_rebuild_the_index_and_write_no_table(
        tmp_path: Path, option: str) -> None:
    db = reference_db(tmp_path / "ref.db")
    src = input_file(tmp_path / "in.csv", [(1, "jon smith", "seattle", "WA")])
    lookup = fuzzy_lookup({"MatchIndexOptions": option, "MatchIndexName": "CustomersIdx"})
    xml = flow([source("Src", "In", INPUT_COLS), lookup,
                db_dest("Dst", "results", [f"Fuzzy.Output.{c}" for c in RESULT_COLUMNS])],
               [("Src.Output", "Fuzzy.In"), ("Fuzzy.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    assert any("rebuilds the match index in memory" in i for i in infos(events)), infos(events)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT CustomerID FROM results").fetchall() == [(1,)]
    assert tables == {"customers", "results"}


def test_missing_reference_table_fails_with_the_setting(tmp_path: Path) -> None:
    db = reference_db(tmp_path / "ref.db")
    src = input_file(tmp_path / "in.csv", [(1, "jon smith", "seattle", "WA")])
    xml = flow([source("Src", "In", INPUT_COLS),
                fuzzy_lookup({"ReferenceTableName": "[dbo].[nope]"})],
               [("Src.Output", "Fuzzy.In")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("Fuzzy" in e and "ReferenceTableName" in e and "nope" in e
               for e in errors(events)), errors(events)


def test_bad_min_similarity_fails_clearly(tmp_path: Path) -> None:
    db = reference_db(tmp_path / "ref.db")
    src = input_file(tmp_path / "in.csv", [(1, "jon smith", "seattle", "WA")])
    xml = flow([source("Src", "In", INPUT_COLS), fuzzy_lookup({"MinSimilarity": "1.5"})],
               [("Src.Output", "Fuzzy.In")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("MinSimilarity is 1.5" in e for e in errors(events)), errors(events)


# --------------------------------------------------------------------------- scale


def synthetic(seed: int, reference_rows: int, probes: int
              ) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]:
    """A reference table of distinct people and misspelled probes of some of them
    (``(expected id, name, city)``)."""
    rng = random.Random(seed)
    syllables = ["an", "ber", "cor", "da", "el", "fin", "gar", "hol", "is", "jo", "kel",
                 "lin", "mar", "nor", "ol", "per", "quin", "ros", "sta", "tor", "ul",
                 "ver", "wil", "xan", "yor", "zel"]

    def word(parts: int) -> str:
        return "".join(rng.choice(syllables) for _ in range(parts)).capitalize()

    cities = [word(3) for _ in range(200)]
    seen: set[tuple[str, str]] = set()
    reference: list[tuple[Any, ...]] = []
    while len(reference) < reference_rows:
        name = f"{word(2)} {word(3)}"
        city = rng.choice(cities)
        if (name, city) in seen:
            continue
        seen.add((name, city))
        reference.append((len(reference) + 1, name, city, "XX"))
    found = []
    for _ in range(probes):
        row = rng.choice(reference)
        letters = list(row[1])
        k = rng.randrange(1, len(letters) - 1)
        letters[k], letters[k + 1] = letters[k + 1], letters[k]  # one transposition
        found.append((row[0], "".join(letters).lower(), row[2]))
    return reference, found


def test_twenty_thousand_reference_rows_five_thousand_probes(tmp_path: Path) -> None:
    reference, probes = synthetic(7, 20_000, 5_000)
    rows = [(i, name, city, "XX") for i, (_, name, city) in enumerate(probes)]
    started = time.perf_counter()
    got = run_lookup(tmp_path, rows, fuzzy_lookup({"MinSimilarity": "0.5"}), reference)
    elapsed = time.perf_counter() - started
    assert len(got) == 5_000
    hits = sum(1 for r in got if r[2] == probes[r[0]][0])
    assert hits >= 4_750, (hits, elapsed)


# --------------------------------------------------------------------------- Fuzzy Grouping


def fuzzy_grouping(min_similarity: str = "0.6", city_exact: bool = True,
                   numerals: str = "0") -> C:
    def spec(clean: bool, exact: bool) -> dict[str, str]:
        return {"ToBeCleaned": "true" if clean else "false", "ExactFuzzy": "1" if exact
                else "2", "LeadingTrailingNumeralsSignificant": numerals,
                "MinSimilarity": "0", "FuzzyComparisonFlags": "196611"}

    inputs = [In("In", [InCol("Src.Output.id", spec(False, False)),
                        InCol("Src.Output.name", spec(True, False)),
                        InCol("Src.Output.city", spec(True, city_exact))])]
    invalid = "#{Package\\DFT\\-1:invalid}"
    outputs = [Col("_key_in", "i4", 0, props={"ColumnType": "1", "InputId": invalid}),
               Col("_key_out", "i4", 0, props={"ColumnType": "2", "InputId": invalid}),
               Col("_score", "r4", 0, props={"ColumnType": "3", "InputId": invalid}),
               Col("id", "i4", 0, props={"ColumnType": "5", "InputId": ref("id")}),
               Col("name", "wstr", 50, props={"ColumnType": "5", "InputId": ref("name")}),
               Col("name_clean", "wstr", 50, props={"ColumnType": "6",
                                                    "InputId": ref("name")}),
               Col("_Similarity_name", "r4", 0, props={"ColumnType": "4",
                                                       "InputId": ref("name")})]
    props = {"MinSimilarity": min_similarity, "Delimiters": DEFAULT_DELIMITERS,
             "MaxMemoryUsage": "0", "Exhaustive": "false"}
    return C("Group", FUZZY_GROUPING, props, inputs=inputs, outputs=[Out("Output", outputs)],
             connection="Db")


GROUP_COLUMNS = ["_key_in", "_key_out", "_score", "id", "name", "name_clean",
                 "_Similarity_name"]


def run_grouping(tmp_path: Path, rows: list[tuple[Any, ...]], grouping: C,
                 buffer_rows: int = 10_000) -> list[tuple[Any, ...]]:
    db = tmp_path / "groups.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE groups (_key_in INTEGER, _key_out INTEGER, _score REAL, "
                     "id INTEGER, name TEXT, name_clean TEXT, _Similarity_name REAL)")
    src = input_file(tmp_path / "in.csv", rows)
    xml = flow([source("Src", "In", INPUT_COLS), grouping,
                db_dest("Dst", "groups", [f"Group.Output.{c}" for c in GROUP_COLUMNS])],
               [("Src.Output", "Group.In"), ("Group.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db)],
               buffer_rows=buffer_rows)
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM groups ORDER BY _key_in").fetchall()


PEOPLE = [(10, "Jon Smith", "Seattle", ""),
          (11, "John Smith", "Seattle", ""),
          (12, "Acme Corp", "Boston", ""),
          (13, "john smith", "seattle", ""),
          (14, "ACME Corp.", "Boston", ""),
          (15, "Jane Doe", "Portland", ""),
          (16, "John Smith", "Boston", ""),
          (17, "JOHN  SMITH", "Seattle", "")]


def test_fuzzy_grouping_groups_and_canonical_rows(tmp_path: Path) -> None:
    got = run_grouping(tmp_path, PEOPLE, fuzzy_grouping(), buffer_rows=3)
    assert [r[0] for r in got] == list(range(1, 9))
    assert [r[3] for r in got] == [10, 11, 12, 13, 14, 15, 16, 17]
    key_out = {r[3]: r[1] for r in got}
    # "John Smith" of Seattle is written three times (case aside): it is the canonical
    # row (the first of them, _key_in 2); the misspelling joins its group
    assert key_out[10] == key_out[11] == key_out[13] == key_out[17] == 2
    assert key_out[12] == key_out[14] == 3           # Acme Corp = ACME Corp.
    assert key_out[15] == 6
    assert key_out[16] == 7                          # exact city differs: its own group
    rows = {r[3]: r for r in got}
    assert [rows[i][2] for i in (11, 13, 17)] == [1.0, 1.0, 1.0]
    assert 0.6 <= rows[10][2] < 1.0 and rows[10][6] == rows[10][2]
    assert rows[10][5] == "John Smith" and rows[10][4] == "Jon Smith"
    assert rows[14][5] == "Acme Corp"


def test_fuzzy_grouping_threshold_splits_groups(tmp_path: Path) -> None:
    got = run_grouping(tmp_path, PEOPLE, fuzzy_grouping("0.95"))
    key_out = {r[3]: r[1] for r in got}
    assert key_out[10] == 1 and key_out[11] == 2      # the misspelling stands alone now
    assert key_out[13] == key_out[17] == 2


def test_fuzzy_grouping_numerals_options() -> None:
    rows = [("12 Main Street",), ("14 Main Street",), ("12 Main St",), ("Suite 5 Oak",),
            ("Suite 7 Oak",)]
    spec = MatchColumn("address", exact=False, flags=1)
    plain = group_rows(rows, [spec], DEFAULT_DELIMITERS, 0.5)
    assert plain[0].key_out == plain[1].key_out
    leading = group_rows(rows, [MatchColumn("address", False, 1, numerals=1)],
                         DEFAULT_DELIMITERS, 0.5)
    assert leading[0].key_out != leading[1].key_out
    assert leading[0].key_out == leading[2].key_out
    assert leading[3].key_out == leading[4].key_out   # not leading numbers
    trailing = group_rows([("Main Street Suite 5",), ("Main Street Suite 7",),
                           ("5 Main Street Suite",), ("7 Main Street Suite",)],
                          [MatchColumn("address", False, 1, numerals=2)],
                          DEFAULT_DELIMITERS, 0.5)
    assert trailing[0].key_out != trailing[1].key_out
    assert trailing[2].key_out == trailing[3].key_out


# --------------------------------------------------------------------------- PostgreSQL


def test_postgres_reference_table(postgres_server: PostgresServer,  # noqa: F811
                                  tmp_path: Path) -> None:
    name = postgres_server.fresh_database("fuzzy")
    with postgres_server.connect(name) as conn:
        conn.execute('CREATE TABLE customers ("CustomerID" int, "FullName" text, '
                     '"Town" text, "State" text)')
        for row in REFERENCE:
            conn.execute("INSERT INTO customers VALUES (%s, %s, %s, %s)", row)
    db = tmp_path / "out.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE results (id INTEGER, name TEXT, CustomerID INTEGER, "
                     "FullName TEXT, _Similarity REAL, _Confidence REAL, "
                     "_Similarity_name REAL)")
    src = input_file(tmp_path / "in.csv", [(1, "jon smith", "seattle", "WA"),
                                           (2, "Zoe Muller", "Zurich", "ZH")])
    lookup = fuzzy_lookup(flags=3)
    lookup.connection = "Pg"
    dst = db_dest("Dst", "results", [f"Fuzzy.Output.{c}" for c in RESULT_COLUMNS])
    xml = flow([source("Src", "In", INPUT_COLS), lookup, dst],
               [("Src.Output", "Fuzzy.In"), ("Fuzzy.Output", "Dst.Input")],
               connections=[flat_file_cm("In", src, INPUT_FF), oledb_cm("Db", db),
                            oledb_connection("Pg", postgres_server.connection_string(name),
                                             "33333333")])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Success, errors(events)
    with sqlite3.connect(db) as conn:
        got = conn.execute("SELECT id, CustomerID, FullName FROM results").fetchall()
    assert got == [(1, 1, "John Smith"), (2, 3, "Zoë Müller")]


# --------------------------------------------------------------------------- corpus


def _corpus_files(tmp_path: Path) -> tuple[Path, list[str]]:
    folder = tmp_path / "C" / "SSISPro" / "Chapter4"
    folder.mkdir(parents=True)
    lines = ["EMPID,TITLE,LNAME", "1,Sales Representitive,Smith", "2,sales manager,Jones",
             "3,Acountant,Brown", "4,Chief Executive Oficer,White", "5,Janitor,Black"]
    (folder / "FuzzyExample.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return folder, ["--path-map", f"C:\\={tmp_path}/C/"]


@pytest.mark.skipif(not CHAPTER4.is_dir(), reason="../shared/corpus is absent")
def test_corpus_fuzzy_lookup_example_runs_against_sqlite(tmp_path: Path) -> None:
    _, maps = _corpus_files(tmp_path)
    db = tmp_path / "adw.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE Occupation (OccupationID INTEGER, OccupationLabel TEXT)")
        conn.executemany("INSERT INTO Occupation VALUES (?, ?)", [
            (1, "Sales Representative"), (2, "Sales Manager"), (3, "Accountant"),
            (4, "Chief Executive Officer"), (5, "Engineer")])
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project", *maps,
         "--conn", f"ADW=Data Source={db};Provider=SQLite;", "--reporting", "EWI",
         str(CHAPTER4 / "Fuzzy Lookup Example.dtsx")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"Fuzzy Lookup Output": 5 rows' in proc.stdout, proc.stdout
    assert "the match index holds 5 reference rows" in proc.stdout, proc.stdout


@pytest.mark.skipif(not CHAPTER4.is_dir(), reason="../shared/corpus is absent")
def test_corpus_fuzzy_grouping_example_writes_its_groups(tmp_path: Path) -> None:
    folder, maps = _corpus_files(tmp_path)
    lines = ["EMPID,TITLE,LNAME", "1,Sales Representative,Smith",
             "2,Sales Representitive,Jones", "3,sales representative,Brown",
             "4,Accountant,White", "5,Acountant,Black", "6,Janitor,Green"]
    (folder / "FuzzyExample.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    db = tmp_path / "adwdw.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE FuzzyGroupResults (_key_in INTEGER, _key_out INTEGER, "
                     "_score REAL, EMPID TEXT, TITLE TEXT, LNAME TEXT, TITLE_clean TEXT, "
                     "_Similarity_TITLE REAL)")
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project", *maps,
         "--conn", f"ADW=Data Source={db};Provider=SQLite;",
         str(CHAPTER4 / "Fuzzy Grouping  Example.dtsx")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with sqlite3.connect(db) as conn:
        got = conn.execute("SELECT EMPID, _key_out, TITLE_clean FROM FuzzyGroupResults "
                           "ORDER BY _key_in").fetchall()
    assert got == [("1", 1, "Sales Representative"), ("2", 1, "Sales Representative"),
                   ("3", 1, "Sales Representative"), ("4", 4, "Accountant"),
                   ("5", 4, "Accountant"), ("6", 6, "Janitor")]


FUZZY_PACKAGES = sorted(
    p for p in (CORPUS / "dtsx").rglob("*") if p.suffix.lower() == ".dtsx"
    and b"fuzzy" in p.read_bytes().lower()) if CORPUS.is_dir() else []


#: packages that only Fuzzy Lookup / Fuzzy Grouping kept from running
ONLY_FUZZY = {"Fuzzy Grouping  Example.dtsx", "Fuzzy Lookup Example.dtsx",
              "Fuzzy Lookup Complete.dtsx", "PES_BUILD_COMPANY_FUZZY_INDEX.DTSX"}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_corpus_fuzzy_components_validate_as_runnable() -> None:
    from ssisrun.capabilities import component_is_runnable
    from ssisrun.dtsx import load_package
    from ssisrun.validate import validate_package

    seen = 0
    for path in FUZZY_PACKAGES:
        package = load_package(path)
        for exe in package.walk():
            for component in getattr(getattr(exe, "data_flow", None), "components", ()):
                if "Fuzzy" in component.component_type:
                    seen += 1
                    assert component_is_runnable(component.component_type)
        report = validate_package(package)
        assert not [e for e in report.errors if "Microsoft.Fuzzy" in e.message], report.errors
        if path.name in ONLY_FUZZY:
            assert report.can_run, (path.name, report.errors)
    assert seen >= 30
