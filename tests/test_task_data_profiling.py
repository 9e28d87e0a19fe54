"""The Data Profiling task against a real SQLite file and a real PostgreSQL: every profile
type with exact figures read back from the DataProfile XML, output to a file and to a
variable, OverwriteDestination, and the errors a user sees (missing table or column, a
column of the wrong type); the book's Profile_EmployeeData.dtsx run with ``--conn`` and
``--path-map``."""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from builders import Exe, Var, connection_manager, guid, package
from lxml import etree
from pg import PostgresServer, postgres_server  # noqa: F401 - the fixture
from taskrun import PackageRun

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind

NS = "http://schemas.microsoft.com/sqlserver/2008/DataDebugger/"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
N = {"p": NS}
DB_ID = guid("cm", "Db")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
EMPLOYEE_PACKAGE = (CORPUS / "dtsx" / "lucmilot+SSIS_2014_Book" / "850879_c12_download"
                    / "Ch12_ProSSIS" / "Code" / "Profile_EmployeeData.dtsx")

# id, name, zip, state, age, score, born, code, extra
PEOPLE = [
    (1, "Ann", "98052", "WA", 20, 2.0, "1990-01-01", "ab", None),
    (2, "Bob", "98052", "WA", 30, 4.0, "1991-05-06", "ab", None),
    (3, "Cy", "98052", "WA", 30, 4.0, "1985-03-04", " ab", None),
    (4, "Dee", "98052", "OR", 40, 4.0, "2000-12-31", "ab ", None),
    (5, "Eve", "98052-1234", "WA", 40, 5.0, "1999-09-09", "abc", None),
    (6, "Fay", "98052-1234", "WA", 40, 5.0, "1970-02-03", "abc", None),
    (7, "Gus", "10001", "NY", 50, 7.0, "1980-01-01", "a b", None),
    (8, "Hal", "10001", "NY", None, 9.0, None, "ab", None),
    (9, "Ivy", "10001", "NY", None, None, None, None, None),
    (10, None, "1000A", "NY", 60, None, None, None, None),
]
COLUMNS = ("id", "name", "zip", "state", "age", "score", "born", "code", "extra")
SCHEMA = [
    "CREATE TABLE people (id INTEGER NOT NULL, name VARCHAR(20), zip VARCHAR(10), "
    "state CHAR(2), age INTEGER, score DOUBLE PRECISION, born DATE, code VARCHAR(10), "
    "extra VARCHAR(5))",
    "CREATE TABLE states (code CHAR(2), name VARCHAR(20))",
    "CREATE TABLE empty_table (id INTEGER, name VARCHAR(10))",
    "CREATE TABLE addresses (addr VARCHAR(40))",
    "CREATE TABLE tags (Tag VARCHAR(20), Term VARCHAR(20))",
    "CREATE VIEW doubled AS SELECT id * 2 AS twice, UPPER(name) AS shout FROM people",
]
STATES = [("WA", "Washington"), ("NY", "New York"), ("CA", "California")]
ADDRESSES = ["12 East 42nd Street", "7 West 5th Avenue", "100 North 31st Way"]
TAGS = [("Direction", "East"), ("Direction", "West"), ("Direction", "North"),
        ("Street", "Street"), ("Street", "Avenue"), ("Street", "Way")]


def fill(execute: Callable[..., Any], mark: str) -> None:
    for sql in SCHEMA:
        execute(sql)
    for person in PEOPLE:
        execute(f"INSERT INTO people VALUES ({', '.join([mark] * 9)})", person)
    for state in STATES:
        execute(f"INSERT INTO states VALUES ({mark}, {mark})", state)
    for addr in ADDRESSES:
        execute(f"INSERT INTO addresses VALUES ({mark})", (addr,))
    for tag in TAGS:
        execute(f"INSERT INTO tags VALUES ({mark}, {mark})", tag)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "people.db"
    with sqlite3.connect(path) as conn:
        fill(conn.execute, "?")
    conn.close()
    return f"Data Source={path};Version=3;"


@pytest.fixture(scope="module")
def pg_db(postgres_server: PostgresServer) -> str:  # noqa: F811
    name = postgres_server.fresh_database("profiling")
    with postgres_server.connect(name) as conn:
        fill(conn.execute, "%s")
    return postgres_server.url(name)


# --------------------------------------------------------------------------- building


def col(name: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    if not name:
        return f'<Column IsWildCard="true"{extra} />'
    return f'<Column IsWildCard="false" ColumnName="{name}"{extra} />'


def request(kind: str, rid: str, body: str, table: str = "people",
            source: str = DB_ID) -> str:
    return (f'<{kind} ID="{rid}"><DataSourceID>{source}</DataSourceID>'
            f'<Table Schema="dbo" Table="{table}" />{body}</{kind}>')


def profile_input(*requests: str, sources: str = "", timeout: int = 0) -> str:
    return ('<?xml version="1.0" encoding="utf-16"?>\n'
            '<DataProfile xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="{NS}">'
            f"<ProfileVersion>1.0</ProfileVersion><DataSources>{sources}</DataSources>"
            f"<DataProfileInput><ProfileMode>Exact</ProfileMode><Timeout>{timeout}</Timeout>"
            f"<Requests>{''.join(requests)}</Requests></DataProfileInput>"
            "<DataProfileOutput><Profiles /></DataProfileOutput></DataProfile>")


def run(conn: str, *requests: str, out: Path | None = None, overwrite: bool = True,
        sources: str = "", variables: list[Var] | None = None,
        destination_type: str = "", timeout: int = 0) -> PackageRun:
    from xml.sax.saxutils import escape

    cms = [connection_manager(8, "Db", "ADO.NET:System.Data.SqlClient.SqlConnection, "
                              "System.Data, Version=4.0.0.0", conn)]
    attrs = f'OverwriteDestination="{overwrite}"'
    if out is not None:
        cms.append(connection_manager(8, "Out", "FILE", str(out), inner={"FileUsageType": 1}))
        attrs += ' Destination="Out"'
    else:
        attrs += ' Destination="User::Profile"'
        destination_type = destination_type or "Variable"
    if destination_type:
        attrs += f' DestinationType="{destination_type}"'
    data = (f"<DataProfilingTaskData {attrs}><ProfileInput>"
            f"{escape(profile_input(*requests, sources=sources, timeout=timeout))}"
            "</ProfileInput></DataProfilingTaskData>")
    task = Exe("Profile", "Microsoft.DataProfilingTask", object_data=data)
    return PackageRun(package(8, [task], connections=cms,
                              variables=variables if variables is not None else [Var("Profile")]))


def profiles(conn: str, *requests: str) -> list[etree._Element]:
    """The output's profiles (through a String variable)."""
    r = run(conn, *requests)
    assert r.ok, [e.description for e in r.events if e.kind == EventKind.OnError]
    root = etree.fromstring(r.var("User::Profile").encode())
    return list(find(root, "p:DataProfileOutput/p:Profiles"))


def find(node: etree._Element, path: str) -> etree._Element:
    found = node.find(path, N)
    assert found is not None, path
    return found


def text(node: etree._Element, path: str) -> str:
    return find(node, path).text or ""


def attr(node: etree._Element, path: str, name: str) -> str:
    return find(node, path).get(name) or ""


def column_name(node: etree._Element) -> str:
    return attr(node, "p:Column", "Name")


def by_column(nodes: list[etree._Element]) -> dict[str, etree._Element]:
    return {column_name(n): n for n in nodes}


BACKENDS = ["sqlite_db", "pg_db"]


@pytest.fixture(params=BACKENDS)
def conn(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(request.param)
    return value


# --------------------------------------------------------------------------- single columns


def test_null_ratio_of_every_column(conn: str) -> None:
    found = by_column(profiles(conn, request("ColumnNullRatioProfileRequest", "Nulls",
                                             col())))
    assert {k: int(text(v, "p:NullCount")) for k, v in found.items()} == {
        "id": 0, "name": 1, "zip": 0, "state": 0, "age": 2, "score": 2, "born": 3,
        "code": 2, "extra": 10}
    node = found["name"]
    assert node.get("ProfileRequestID") == "Nulls" and node.get("IsExact") == "true"
    assert text(node, "p:DataSourceID") == DB_ID
    table = node.find("p:Table", N)
    assert table is not None
    assert (table.get("Schema"), table.get("Table"), table.get("RowCount")) == \
        ("dbo", "people", "10")
    column = node.find("p:Column", N)
    assert column is not None and column.get("IsNullable") == "true"
    assert column.get("SqlDbType") in ("VarChar", "NVarChar")


def test_statistics_of_numeric_and_date_columns(conn: str) -> None:
    found = by_column(profiles(conn, request("ColumnStatisticsProfileRequest", "Stats",
                                             col())))
    # numeric and date/time columns only; strings are left out of the wildcard
    assert set(found) == {"id", "age", "score", "born"}
    ages = [20, 30, 30, 40, 40, 40, 50, 60]
    age = found["age"]
    assert (text(age, "p:MinValue"), text(age, "p:MaxValue")) == ("20", "60")
    assert attr(age, "p:MinValue", XSI_TYPE) in ("xsd:int", "xsd:long")
    assert float(text(age, "p:Mean")) == 38.75
    assert float(text(age, "p:StdDev")) == pytest.approx(statistics.stdev(ages), rel=1e-12)
    score = found["score"]
    assert float(text(score, "p:MinValue")) == 2.0 and float(text(score, "p:MaxValue")) == 9.0
    assert float(text(score, "p:Mean")) == 5.0
    assert float(text(score, "p:StdDev")) == pytest.approx((32 / 7) ** 0.5, rel=1e-12)
    born = found["born"]
    assert text(born, "p:MinValue") == "1970-02-03T00:00:00"
    assert text(born, "p:MaxValue") == "2000-12-31T00:00:00"
    assert attr(born, "p:MinValue", XSI_TYPE) == "xsd:dateTime"
    assert born.find("p:Mean", N) is None and born.find("p:StdDev", N) is None
    assert float(text(found["id"], "p:Mean")) == 5.5


def _lengths(node: etree._Element) -> dict[int, int]:
    return {int(text(i, "p:Length")): int(text(i, "p:Count"))
            for i in node.findall("p:LengthDistribution/p:LengthDistributionItem", N)}


@pytest.mark.parametrize(("leading", "trailing", "expected"), [
    ("false", "true", {2: 4, 3: 4}),  # SSIS's defaults
    ("false", "false", {2: 3, 3: 5}),
    ("true", "true", {2: 5, 3: 3}),
])
def test_length_distribution_with_leading_and_trailing_spaces(
        conn: str, leading: str, trailing: str, expected: dict[int, int]) -> None:
    body = (col("code") + f"<IgnoreLeadingSpace>{leading}</IgnoreLeadingSpace>"
            f"<IgnoreTrailingSpace>{trailing}</IgnoreTrailingSpace>")
    [node] = profiles(conn, request("ColumnLengthDistributionProfileRequest", "Len", body))
    assert _lengths(node) == expected
    assert (text(node, "p:MinLength"), text(node, "p:MaxLength")) == ("2", "3")
    assert text(node, "p:IgnoreLeadingSpace") == leading
    assert text(node, "p:IgnoreTrailingSpace") == trailing


def test_length_distribution_wildcard_takes_string_columns_that_hold_values(
        conn: str) -> None:
    found = by_column(profiles(conn, request("ColumnLengthDistributionProfileRequest", "L",
                                             col())))
    # extra is all NULL: only the null ratio profile is computed for it
    assert set(found) == {"name", "zip", "state", "code"}
    assert _lengths(found["zip"]) == {5: 8, 10: 2}
    assert _lengths(found["name"]) == {2: 1, 3: 8}


def _values(node: etree._Element) -> list[tuple[str, int]]:
    return [(text(i, "p:Value"), int(text(i, "p:Count")))
            for i in node.findall("p:ValueDistribution/p:ValueDistributionItem", N)]


def test_value_distribution_frequent_and_all_values(conn: str) -> None:
    frequent = request("ColumnValueDistributionProfileRequest", "Freq", col("state") +
                       "<Option>FrequentValues</Option>"
                       "<FrequentValueThreshold>0.2</FrequentValueThreshold>")
    every = request("ColumnValueDistributionProfileRequest", "All", col("age") +
                    "<Option>AllValues</Option>")
    freq_node, all_node = profiles(conn, frequent, every)
    assert _values(freq_node) == [("WA", 5), ("NY", 4)]  # OR is 10%, not over 20%
    assert text(freq_node, "p:NumberOfDistinctValues") == "3"
    assert _values(all_node) == [("40", 3), ("30", 2), ("20", 1), ("50", 1), ("60", 1)]
    assert text(all_node, "p:NumberOfDistinctValues") == "5"
    item = all_node.find("p:ValueDistribution/p:ValueDistributionItem/p:Value", N)
    assert item is not None and item.get(XSI_TYPE) in ("xsd:int", "xsd:long")


def test_value_distribution_ignore_case_merges_values(conn: str) -> None:
    # zip has 1000A; with IgnoreCase the names still differ, the counts stay per value
    node, = profiles(conn, request("ColumnValueDistributionProfileRequest", "V",
                                   col("state", StringCompareOptions="IgnoreCase") +
                                   "<Option>AllValues</Option>"))
    assert _values(node) == [("WA", 5), ("NY", 4), ("OR", 1)]
    assert attr(node, "p:Column", "StringCompareOptions") == "IgnoreCase"


def _patterns(node: etree._Element) -> list[tuple[str, float]]:
    return [(text(i, "p:RegexText"), float(text(i, "p:Frequency")))
            for i in node.findall("p:TopRegexPatterns/p:PatternDistributionItem", N)]


def pattern(column: str, max_patterns: int = 10, coverage: int = 95,
            case: str = "false", tag_table: str = "", table: str = "people") -> str:
    return request("ColumnPatternProfileRequest", f"P{column}{max_patterns}{coverage}{case}",
                   col(column) + f"<MaxNumberOfPatterns>{max_patterns}</MaxNumberOfPatterns>"
                   f"<PercentageDataCoverageDesired>{coverage}</PercentageDataCoverageDesired>"
                   f"<CaseSensitive>{case}</CaseSensitive><Delimiters> \\t\\r\\n</Delimiters>"
                   "<Symbols>,.;:-\"'`~=&amp;/\\\\@!?()&lt;&gt;[]{}|#*^%</Symbols>"
                   f"<TagTableName>{tag_table}</TagTableName>", table=table)


def test_patterns_exact_lengths_coverage_and_generalization(conn: str) -> None:
    zips, zips80, names, names1, cased = profiles(
        conn, pattern("zip"), pattern("zip", coverage=80), pattern("name"),
        pattern("name", max_patterns=1), pattern("name", case="true"))
    assert _patterns(zips) == [("\\d{5}", 0.7), ("\\d{5}-\\d{4}", 0.2), ("\\d{4}\\p{L}", 0.1)]
    assert _patterns(zips80) == [("\\d{5}", 0.7), ("\\d{5}-\\d{4}", 0.2)]
    assert _patterns(names) == [("\\p{L}{3}", 8 / 9), ("\\p{L}{2}", 1 / 9)]
    # one pattern cannot cover 95% with exact lengths: runs of letters merge into \p{L}+
    assert _patterns(names1) == [("\\p{L}+", 1.0)]
    assert _patterns(cased) == [("\\p{Lu}\\p{Ll}{2}", 8 / 9), ("\\p{Lu}\\p{Ll}", 1 / 9)]


def test_patterns_with_a_tag_table(sqlite_db: str) -> None:
    node, = profiles(sqlite_db, pattern("addr", max_patterns=1, tag_table="dbo.tags",
                                        table="addresses"))
    assert _patterns(node) == [
        ("\\d+\\ LookupTag=Direction\\ \\d+\\p{L}{2}\\ LookupTag=Street", 1.0)]


# --------------------------------------------------------------------------- column sets


def _key_columns(node: etree._Element) -> tuple[str, ...]:
    return tuple(c.get("Name") or "" for c in node.findall("p:KeyColumns/p:Column", N))


def _violations(node: etree._Element, path: str) -> list[tuple[tuple[str, ...], int]]:
    return [(tuple(v.text or "" for v in item.findall("p:ColumnValues/p:ColumnValue", N)),
             int(text(item, "p:Count"))) for item in node.findall(path, N)]


def key_request(rid: str, columns: str, setting: str, threshold: str = "0.95",
                violations: int = 100) -> str:
    return request("CandidateKeyProfileRequest", rid,
                   f"<KeyColumns>{columns}</KeyColumns><ThresholdSetting>{setting}"
                   f"</ThresholdSetting><KeyStrengthThreshold>{threshold}"
                   "</KeyStrengthThreshold><VerifyOutputInFastMode>false"
                   "</VerifyOutputInFastMode><MaxNumberOfViolations>"
                   f"{violations}</MaxNumberOfViolations>")


def test_candidate_key_strength_and_violations(conn: str) -> None:
    zip_key, pair, exact = profiles(
        conn, key_request("Zip", col("zip"), "None", violations=2),
        key_request("Pair", col("zip") + col("state"), "None"),
        key_request("Id", col("id"), "Exact"))
    assert _key_columns(zip_key) == ("zip",)
    assert float(text(zip_key, "p:KeyStrength")) == 0.4
    assert text(zip_key, "p:IsExactKey") == "false"
    # the two largest duplicates (MaxNumberOfViolations 2)
    assert _violations(zip_key, "p:KeyViolations/p:KeyViolation") == [
        (("98052",), 4), (("10001",), 3)]
    assert _key_columns(pair) == ("zip", "state")
    assert float(text(pair, "p:KeyStrength")) == 0.5
    assert _violations(pair, "p:KeyViolations/p:KeyViolation") == [
        (("10001", "NY"), 3), (("98052", "WA"), 3), (("98052-1234", "WA"), 2)]
    assert text(exact, "p:IsExactKey") == "true" and text(exact, "p:KeyStrength") == "1"
    assert _violations(exact, "p:KeyViolations/p:KeyViolation") == []


def test_candidate_key_threshold_hides_weak_keys(conn: str) -> None:
    assert profiles(conn, key_request("Zip", col("zip"), "Specified", "0.5")) == []
    assert profiles(conn, key_request("Zip", col("zip"), "Exact")) == []
    assert len(profiles(conn, key_request("Zip", col("zip"), "Specified", "0.3"))) == 1


def test_candidate_key_wildcards_stop_at_keys_found(conn: str) -> None:
    found = [_key_columns(n) for n in
             profiles(conn, key_request("Keys", col() + col(), "Specified", "0.85"))]
    # the same rule over the rows: singles, then pairs whose columns hold no key found
    candidates = ["id", "name", "zip", "state", "age", "born", "code", "extra"]
    index = {c: COLUMNS.index(c) for c in candidates}

    def strength(cols: tuple[str, ...]) -> float:
        return len({tuple(r[index[c]] for c in cols) for r in PEOPLE}) / len(PEOPLE)

    expected: list[tuple[str, ...]] = []
    for size in (1, 2):
        for cols in combinations(candidates, size):
            if any(set(k) <= set(cols) for k in expected):
                continue
            if strength(cols) > 0.85:
                expected.append(cols)
    assert found == expected
    assert ("id",) in found and ("name",) in found
    assert not any(len(k) > 1 and ("id" in k or "name" in k) for k in found)
    assert ("zip", "born") in found  # 9 of 10 rows distinct: 0.9


def fd_request(rid: str, determinants: str, dependent: str, setting: str,
               threshold: str = "0.95") -> str:
    return request("FunctionalDependencyProfileRequest", rid,
                   f"<DeterminantColumns>{determinants}</DeterminantColumns>"
                   f"<DependentColumn {dependent[8:]}<ThresholdSetting>{setting}"
                   f"</ThresholdSetting><FDStrengthThreshold>{threshold}</FDStrengthThreshold>"
                   "<MaxNumberOfViolations>100</MaxNumberOfViolations>")


def test_functional_dependency_strength_and_violations(conn: str) -> None:
    node, = profiles(conn, fd_request("FD", col("zip"), col("state"), "Specified", "0.85"))
    assert [c.get("Name") for c in node.findall("p:DeterminantColumns/p:Column", N)] == ["zip"]
    assert attr(node, "p:DependentColumn", "Name") == "state"
    # 98052 -> WA 3 times, OR once: 9 of the 10 rows support zip -> state
    assert float(text(node, "p:FDStrength")) == 0.9
    [violation] = node.findall("p:FDViolations/p:FDViolation", N)
    assert [v.text for v in violation.findall("p:DeterminantColumnValues/p:ColumnValue",
                                              N)] == ["98052"]
    assert text(violation, "p:DependentColumnValue") == "OR"
    assert (text(violation, "p:SupportCount"), text(violation, "p:ViolationCount")) == \
        ("3", "1")
    assert profiles(conn, fd_request("FD", col("zip"), col("state"), "Specified")) == []
    exact, = profiles(conn, fd_request("FD", col("id"), col("state"), "Exact"))
    assert text(exact, "p:FDStrength") == "1"


def test_functional_dependency_wildcard_dependents(conn: str) -> None:
    nodes = profiles(conn, fd_request("FD", col("zip"), col(), "Exact"))
    # of the other columns, zip exactly determines only extra (NULL in every row)
    dependents = [attr(n, "p:DependentColumn", "Name") for n in nodes]
    assert dependents == ["extra"]  # every row NULL: one value per zip


def inclusion_request(rid: str, subset: str, superset: str, setting: str,
                      threshold: str = "0.95", key_setting: str = "None") -> str:
    return (f'<InclusionProfileRequest ID="{rid}"><DataSourceID>{DB_ID}</DataSourceID>'
            '<SubsetTable Schema="dbo" Table="people" />'
            '<SupersetTable Schema="dbo" Table="states" />'
            f"<SubsetColumns>{subset}</SubsetColumns>"
            f"<SupersetColumns>{superset}</SupersetColumns>"
            f"<InclusionThresholdSetting>{setting}</InclusionThresholdSetting>"
            f"<InclusionStrengthThreshold>{threshold}</InclusionStrengthThreshold>"
            f"<SupersetColumnsKeyThresholdSetting>{key_setting}"
            "</SupersetColumnsKeyThresholdSetting>"
            "<SupersetColumnsKeyThreshold>0.95</SupersetColumnsKeyThreshold>"
            "<MaxNumberOfViolations>100</MaxNumberOfViolations></InclusionProfileRequest>")


def test_value_inclusion_strength_and_violations(conn: str) -> None:
    node, = profiles(conn, inclusion_request("Inc", col("state"), col("code"), "Specified",
                                             "0.8", "Exact"))
    assert float(text(node, "p:InclusionStrength")) == 0.9  # OR is not a state code
    assert text(node, "p:SupersetColumnsKeyStrength") == "1"
    assert _violations(node, "p:InclusionViolations/p:InclusionViolation") == [(("OR",), 1)]
    subset = node.find("p:SubsetTable", N)
    superset = node.find("p:SupersetTable", N)
    assert subset is not None and superset is not None
    assert (subset.get("Table"), subset.get("RowCount")) == ("people", "10")
    assert (superset.get("Table"), superset.get("RowCount")) == ("states", "3")
    assert profiles(conn, inclusion_request("Inc", col("state"), col("code"), "Specified")) \
        == []
    # the request's other spelling
    other = inclusion_request("Inc", col("state"), col("code"), "None").replace(
        "InclusionProfileRequest", "ValueInclusionProfileRequest")
    assert float(text(profiles(conn, other)[0], "p:InclusionStrength")) == 0.9
    # the wildcard compares every string column of people with states.code
    wild = profiles(conn, inclusion_request("Inc", col(), col("code"), "Specified", "0.8"))
    assert [attr(n, "p:SubsetColumns/p:Column", "Name") for n in wild] == ["state"]
    every = profiles(conn, inclusion_request("Inc", col(), col("code"), "None"))
    assert [attr(n, "p:SubsetColumns/p:Column", "Name")
            for n in every] == ["name", "zip", "state", "code"]


# --------------------------------------------------------------------------- the document


def test_output_file_document_and_overwrite(sqlite_db: str, tmp_path: Path) -> None:
    out = tmp_path / "profile.xml"
    req = request("ColumnNullRatioProfileRequest", "Nulls", col("name"))
    sources = (f'<DtsDataSource ID="{{00000000-0000-0000-0000-00000000000A}}" Name="Db">'
               f"<DtsConnectionManagerID>{DB_ID}</DtsConnectionManagerID></DtsDataSource>")
    mapped = req.replace(DB_ID, "{00000000-0000-0000-0000-00000000000A}")
    r = run(sqlite_db, mapped, out=out, overwrite=False, sources=sources)
    assert r.ok, r.error
    data = out.read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = etree.fromstring(data)
    assert root.tag == f"{{{NS}}}DataProfile"
    assert text(root, "p:ProfileVersion") == "1.0"
    source = root.find("p:DataSources/p:DtsDataSource", N)
    assert source is not None and source.get("Name") == "Db"
    assert text(source, "p:DtsConnectionManagerID") == DB_ID
    # the input is echoed
    assert root.find("p:DataProfileInput/p:Requests/p:ColumnNullRatioProfileRequest", N) \
        is not None
    [node] = list(find(root, "p:DataProfileOutput/p:Profiles"))
    assert text(node, "p:NullCount") == "1"
    # the file exists now: OverwriteDestination False fails before computing anything
    out.write_text("keep")
    r = run(sqlite_db, mapped, out=out, overwrite=False, sources=sources)
    assert r.result.result == ExecResult.Failure
    assert "already exists" in r.error and "OverwriteDestination is False" in r.error
    assert out.read_text() == "keep"
    assert run(sqlite_db, mapped, out=out, overwrite=True, sources=sources).ok
    assert b"NullCount" in out.read_bytes()


def test_variable_output_is_replaced_and_must_be_a_string(sqlite_db: str) -> None:
    req = request("ColumnNullRatioProfileRequest", "Nulls", col("age"))
    r = run(sqlite_db, req, overwrite=False, variables=[Var("Profile", value="old")])
    assert r.ok
    value = r.var("User::Profile")
    assert value.startswith(f'<DataProfile xmlns="{NS}"') and "<NullCount>2</NullCount>" in value
    r = run(sqlite_db, req, variables=[Var("Profile", data_type=3, value="0")])
    assert not r.ok and "not a String variable" in r.error
    r = run(sqlite_db, req, variables=[])
    assert not r.ok and 'Variable "User::Profile" does not exist' in r.error


def test_destination_type_as_a_number(sqlite_db: str) -> None:
    r = run(sqlite_db, request("ColumnNullRatioProfileRequest", "N", col("age")),
            destination_type="1")  # DataProfileDestinationType.Variable
    assert r.ok and "<NullCount>2</NullCount>" in r.var("User::Profile")


def test_view_columns_without_declared_types(conn: str) -> None:
    stats = by_column(profiles(conn, request("ColumnStatisticsProfileRequest", "S", col(),
                                             table="doubled")))
    assert set(stats) == {"twice"} and float(text(stats["twice"], "p:Mean")) == 11.0
    values = by_column(profiles(conn, request("ColumnValueDistributionProfileRequest", "V",
                                              col(), table="doubled")))
    assert set(values) == {"twice", "shout"}
    assert text(values["shout"], "p:NumberOfDistinctValues") == "9"


def test_an_empty_table_gives_no_profiles(conn: str) -> None:
    assert profiles(conn, request("ColumnNullRatioProfileRequest", "E", col(),
                                  table="empty_table")) == []


@pytest.mark.parametrize(("req", "message"), [
    (request("ColumnNullRatioProfileRequest", "R1", col(), table="nowhere"),
     "request 'R1' (Column Null Ratio profile): the table or view dbo.nowhere does not exist "
     "in the database of the connection manager 'Db'"),
    (request("ColumnNullRatioProfileRequest", "R2", col("missing")),
     "request 'R2' (Column Null Ratio profile): the column 'missing' does not exist in "
     "dbo.people"),
    (request("ColumnStatisticsProfileRequest", "R3", col("name")),
     "request 'R3' (Column Statistics profile): the column 'name' is of type"),
    (request("ColumnPatternProfileRequest", "R4", col("age")),
     "which this profile does not apply to (it takes string columns)"),
    (request("ColumnNullRatioProfileRequest", "R5", col(), source="{NOT-A-CM}"),
     "the data source {NOT-A-CM} names no connection manager of the package"),
])
def test_clear_errors(conn: str, req: str, message: str) -> None:
    r = run(conn, req)
    assert not r.ok
    assert message in r.error


def test_timeout_stops_the_task(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssisrun.tasks.data_profiling as task_module

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            self.now += 10.0  # every look at the clock: 10 seconds later
            return self.now

    monkeypatch.setattr(task_module, "time", Clock())
    r = run(sqlite_db, request("ColumnNullRatioProfileRequest", "N", col()), timeout=5)
    assert not r.ok
    assert "not computed within the Timeout of 5 seconds" in r.error


def test_validate_names_a_data_source_without_connection(sqlite_db: str,
                                                         tmp_path: Path) -> None:
    from xml.sax.saxutils import escape

    from click.testing import CliRunner

    from ssisrun.cli import cli

    source = "{00000000-0000-0000-0000-0000000000AB}"
    req = request("ColumnNullRatioProfileRequest", "R", col(), source=source)
    data = (f'<DataProfilingTaskData Destination="Out"><ProfileInput>'
            f"{escape(profile_input(req))}</ProfileInput></DataProfilingTaskData>")
    pkg = tmp_path / "p.dtsx"
    pkg.write_text(package(8, [Exe("Profile", "Microsoft.DataProfilingTask", object_data=data)],
                           connections=[connection_manager(8, "Out", "FILE",
                                                           str(tmp_path / "o.xml"))]))
    result = CliRunner().invoke(cli, ["validate", "--no-project", str(pkg)])
    assert result.exit_code != 0
    assert f"the data source {source} names no connection manager" in result.output
    result = CliRunner().invoke(cli, ["validate", "--no-project", "--conn",
                                      f"{source}={sqlite_db}", str(pkg)])
    assert result.exit_code == 0, result.output


def test_missing_table_through_the_cli_exits_1_without_a_traceback(
        sqlite_db: str, tmp_path: Path) -> None:
    from xml.sax.saxutils import escape

    pkg = tmp_path / "p.dtsx"
    req = request("ColumnNullRatioProfileRequest", "R", col(), table="nowhere")
    data = (f'<DataProfilingTaskData Destination="Out" OverwriteDestination="True">'
            f"<ProfileInput>{escape(profile_input(req))}</ProfileInput></DataProfilingTaskData>")
    cms = [connection_manager(8, "Db", "ADO.NET:System.Data.SqlClient.SqlConnection",
                              "Data Source=C:\\nope.db"),
           connection_manager(8, "Out", "FILE", "C:\\out\\p.xml", inner={"FileUsageType": 1})]
    pkg.write_text(package(8, [Exe("Profile", "Microsoft.DataProfilingTask",
                                   object_data=data)], connections=cms))
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project",
         "--conn", f"Db={sqlite_db}", "--path-map", f"C:\\out\\={tmp_path}/", str(pkg)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "dbo.nowhere does not exist" in proc.stdout
    assert not (tmp_path / "p.xml").exists()


# --------------------------------------------------------------------------- the corpus


SALES_PEOPLE = [
    (274, None, "Stephen", "Jiang", "North American Sales Manager", "238-555-0197",
     "stephen0@adventure-works.com", 0, "Redmond", "98052", None, None, 559697.56),
    (275, None, "Michael", "Blythe", "Sales Representative", "257-555-0154",
     "michael9@adventure-works.com", 1, "Detroit", "48226", "Northeast", 300000.0,
     3763178.18),
    (276, None, "Linda", "Mitchell", "Sales Representative", "883-555-0116",
     "linda3@adventure-works.com", 0, "Nevada", "95555", "Southwest", 250000.0, 4251368.55),
    (277, None, "Jillian", "Carson", "Sales Representative", "517-555-0117",
     "jillian0@adventure-works.com", 1, "Kenmore", "98028", "Central", 250000.0,
     3189418.37),
    (278, None, "Garrett", "Vargas", "Sales Representative", "922-555-0165",
     "garrett1@adventure-works.com", 0, "Calgary", "T2P 2G8", "Canada", 250000.0,
     1453719.47),
    (279, None, "Tsvi", "Reiter", "Sales Representative", "664-555-0112",
     "tsvi0@adventure-works.com", 1, "Atlanta", "30308", "Southeast", 300000.0, 2315185.61),
    (280, None, "Pamela", "Ansman-Wolfe", "Sales Representative", "340-555-0193",
     "pamela0@adventure-works.com", 1, "Redmond", "98052", "Northwest", 250000.0,
     1352577.13),
    (281, None, "Shu", "Ito", "Sales Representative", "330-555-0120",
     "shu0@adventure-works.com", 2, "Bellevue", "98004", "Southwest", 250000.0, 2458535.61),
    (282, None, "José", "Saraiva", "Sales Representative", "185-555-0169",
     "josé1@adventure-works.com", 0, "Ottawa", "K4B 1T7", "Canada", 250000.0, 2604540.71),
    (283, None, "David", "Campbell", "Sales Representative", "740-555-0182",
     "david8@adventure-works.com", 0, "Bellevue", "98004", "Northwest", 250000.0,
     1573012.93),
    (284, "Mr.", "Tete", "Mensa-Annan", "Sales Representative", "615-555-0153",
     "tete0@adventure-works.com", 1, "Renton", "98055", "Northwest", 300000.0, 1576562.19),
    (285, None, "Syed", "Abbas", "Pacific Sales Manager", "926-555-0182",
     "syed0@adventure-works.com", 0, "Bothell", "98011", None, None, 172524.45),
]


@pytest.mark.skipif(not EMPLOYEE_PACKAGE.is_file(), reason="../shared/corpus is absent")
def test_the_books_profile_employee_data_package(tmp_path: Path) -> None:
    db = tmp_path / "adventureworks.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE vSalesPerson (BusinessEntityID INTEGER NOT NULL, Title NVARCHAR(8), "
            "FirstName NVARCHAR(50) NOT NULL, LastName NVARCHAR(50) NOT NULL, "
            "JobTitle NVARCHAR(50) NOT NULL, PhoneNumber NVARCHAR(25), "
            "EmailAddress NVARCHAR(50), EmailPromotion INTEGER NOT NULL, "
            "City NVARCHAR(30) NOT NULL, PostalCode NVARCHAR(15) NOT NULL, "
            "TerritoryName NVARCHAR(50), SalesQuota MONEY, SalesYTD MONEY NOT NULL)")
        conn.executemany(f"INSERT INTO vSalesPerson VALUES ({', '.join('?' * 13)})",
                         SALES_PEOPLE)
    conn.close()
    # the package's data source is an ADO.NET connection manager the book's copy lacks:
    # --conn gives it by its DataSourceID
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project",
         "--conn", f"{{41569F84-1862-4B9A-99C8-8C5748D828BD}}=Data Source={db};Version=3;",
         "--path-map", f"C:\\ProSSIS\\Files\\={tmp_path}/", str(EMPLOYEE_PACKAGE)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = etree.parse(str(tmp_path / "Employee_Profile.xml")).getroot()
    found = root.find("p:DataProfileOutput/p:Profiles", N)
    assert found is not None
    kinds: dict[str, list[etree._Element]] = {}
    for node in found:
        kinds.setdefault(etree.QName(node).localname, []).append(node)
    assert sorted(kinds) == ["CandidateKeyProfile", "ColumnLengthDistributionProfile",
                             "ColumnNullRatioProfile", "ColumnPatternProfile",
                             "ColumnStatisticsProfile", "ColumnValueDistributionProfile",
                             "FunctionalDependencyProfile"]
    nulls = by_column(kinds["ColumnNullRatioProfile"])
    assert len(nulls) == 13 and text(nulls["Title"], "p:NullCount") == "11"
    assert text(nulls["SalesQuota"], "p:NullCount") == "2"
    stats = by_column(kinds["ColumnStatisticsProfile"])
    assert set(stats) == {"BusinessEntityID", "EmailPromotion", "SalesQuota", "SalesYTD"}
    assert float(text(stats["SalesQuota"], "p:Mean")) == 265000.0
    keys = [_key_columns(n) for n in kinds["CandidateKeyProfile"]]
    assert ("BusinessEntityID",) in keys and ("PhoneNumber",) in keys
    patterns = by_column(kinds["ColumnPatternProfile"])
    assert _patterns(patterns["PhoneNumber"]) == [("\\d{3}-\\d{3}-\\d{4}", 1.0)]
    fd = kinds["FunctionalDependencyProfile"]
    assert any(attr(n, "p:DependentColumn", "Name") == "City"
               and [c.get("Name") for c in n.findall("p:DeterminantColumns/p:Column", N)]
               == ["PostalCode"] for n in fd)
    assert attr(root, "p:DataSources/p:DtsDataSource", "ID") == \
        "{41569F84-1862-4B9A-99C8-8C5748D828BD}"
