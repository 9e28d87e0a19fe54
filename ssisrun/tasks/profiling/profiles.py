"""Computing each profile request and writing its profiles as ``DataProfileOutput``
elements (one profile per request per column, or per column set for the Candidate Key,
Functional Dependency and Value Inclusion profiles).

Counts, null counts, minimum, maximum, mean, standard deviation, length and value
distributions are computed by the database (``COUNT``, ``MIN``, ``MAX``, ``AVG``,
``GROUP BY``); patterns, key strength, functional dependency strength and inclusion are
computed in Python over grouped rows streamed in batches, keeping only the current group,
the distinct values a profile needs and the top violations.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ssisrun.tasks.profiling.patterns import PatternFinder
from ssisrun.tasks.profiling.request import NS, ColumnRef, ProfileRequest, TableRef
from ssisrun.tasks.profiling.source import (
    ColumnInfo,
    ProfileError,
    Source,
    TableInfo,
    normalizer,
    number_text,
    xml_value,
)

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

#: which type classes each profile applies to (SSIS's "Valid Data Types")
APPLIES = {
    "ColumnNullRatioProfileRequest": ("integer", "numeric", "char", "datetime", "other"),
    "ColumnStatisticsProfileRequest": ("integer", "numeric", "datetime"),
    "ColumnValueDistributionProfileRequest": ("integer", "char", "datetime"),
    "ColumnLengthDistributionProfileRequest": ("char",),
    "ColumnPatternProfileRequest": ("char",),
    "CandidateKeyProfileRequest": ("integer", "char", "datetime"),
    "FunctionalDependencyProfileRequest": ("integer", "char", "datetime"),
    "InclusionProfileRequest": ("integer", "char", "datetime"),
}
_TAKES = {
    "ColumnStatisticsProfileRequest": "numeric and date/time columns",
    "ColumnValueDistributionProfileRequest": "integer, string and date/time columns",
    "ColumnLengthDistributionProfileRequest": "string columns",
    "ColumnPatternProfileRequest": "string columns",
    "CandidateKeyProfileRequest": "integer, string and date/time columns",
    "FunctionalDependencyProfileRequest": "integer, string and date/time columns",
    "InclusionProfileRequest": "integer, string and date/time columns",
}


def el(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.Element(f"{{{NS}}}{tag}")
    for key, value in attrs.items():
        node.set(key, value)
    if text is not None:
        node.text = text
    return node


def sub(parent: etree._Element, tag: str, text: str | None = None,
        **attrs: str) -> etree._Element:
    node = el(tag, text, **attrs)
    parent.append(node)
    return node


def typed(parent: etree._Element, tag: str, value: Any, kind: str = "") -> etree._Element:
    """An element holding a value of any type, with its ``xsi:type``."""
    xsi_type, text = xml_value(value, kind)
    node = sub(parent, tag, text)
    node.set(f"{{{XSI}}}type", xsi_type)
    return node


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _applicable(kind: str, col: ColumnInfo) -> bool:
    if col.kind not in APPLIES[kind]:
        return False
    if kind == "ColumnStatisticsProfileRequest":
        return col.numeric or col.kind == "datetime"
    return True


@dataclass(slots=True)
class Resolved:
    """A request's column, with the compare options the request gave it."""

    info: ColumnInfo
    compare: int | None = None


class Profiler:
    """Computes the requests of one data source."""

    def __init__(self, source: Source, data_source_id: str) -> None:
        self.source = source
        self.data_source_id = data_source_id
        self._nonnull: dict[str, dict[str, int]] = {}

    # ---------------------------------------------------------------- helpers

    def table(self, ref: TableRef) -> TableInfo:
        return self.source.table(ref.schema, ref.table)

    def q(self, col: ColumnInfo) -> str:
        return self.source.quote(col.name)

    def nonnull(self, table: TableInfo, col: ColumnInfo) -> int:
        """Non-null values of a column (one scan counts every column of the table)."""
        counts = self._nonnull.get(table.qualified)
        if counts is None:
            parts = ", ".join(f"COUNT({self.q(c)})" for c in table.columns)
            row = self.source.scalar_row(f"SELECT {parts} FROM {table.qualified}")
            counts = {c.name: int(v) for c, v in zip(table.columns, row, strict=True)}
            self._nonnull[table.qualified] = counts
        return counts[col.name]

    def header(self, tag: str, req: ProfileRequest) -> etree._Element:
        node = el(tag, ProfileRequestID=req.id, IsExact="true")
        sub(node, "DataSourceID", self.data_source_id)
        return node

    def table_element(self, parent: etree._Element, table: TableInfo,
                      tag: str = "Table") -> None:
        sub(parent, tag, DataSource=self.source.data_source, Database=self.source.database,
            Schema=table.schema, Table=table.name, RowCount=str(self.source.row_count(table)))

    def column_element(self, parent: etree._Element, col: Resolved,
                       tag: str = "Column") -> None:
        info = col.info
        is_char = info.kind == "char"
        options = "None"
        if col.compare:
            names = [n for n, bit in (("IgnoreCase", 1), ("IgnoreNonSpace", 2),
                                      ("IgnoreKanaType", 8), ("IgnoreWidth", 16),
                                      ("BinarySort2", 16384), ("BinarySort", 32768))
                     if col.compare & bit]
            options = ", ".join(names)
        sub(parent, tag, Name=info.name, SqlDbType=info.sql_db_type,
            MaxLength=str(info.max_length if is_char else 0),
            Precision=str(info.precision), Scale=str(info.scale),
            LCID="1033" if is_char else "-1",
            CodePage="0" if info.unicode or not is_char else "1252",
            IsNullable=_bool(info.nullable), StringCompareOptions=options)

    def resolve(self, req: ProfileRequest, table: TableInfo, ref: ColumnRef,
                kind: str | None = None) -> Resolved:
        """A named column of a request, which must exist and be of a type the profile
        applies to."""
        kind = kind or req.kind
        col = table.column(ref.name)
        if col is None:
            raise ProfileError(f"{req.title}: the column '{ref.name}' does not exist in "
                               f"{table.schema + '.' if table.schema else ''}{table.name}")
        if not _applicable(kind, col):
            raise ProfileError(f"{req.title}: the column '{col.name}' is of type "
                               f"{col.type_name}, which this profile does not apply to "
                               f"(it takes {_TAKES[kind]})")
        return Resolved(col, ref.compare)

    def expand(self, req: ProfileRequest, table: TableInfo, ref: ColumnRef) -> list[Resolved]:
        if ref.wildcard:
            return [Resolved(c) for c in table.columns if _applicable(req.kind, c)]
        return [self.resolve(req, table, ref)]

    # ---------------------------------------------------------------- requests

    def profile(self, req: ProfileRequest) -> list[etree._Element]:
        """The profiles of one request; none when its table is empty."""
        table = self.table(req.table)
        if req.superset_table is not None:
            self.table(req.superset_table)
        if self.source.row_count(table) == 0:
            return []
        method: Callable[[ProfileRequest, TableInfo], Iterable[etree._Element]] = {
            "ColumnNullRatioProfileRequest": self.null_ratio,
            "ColumnStatisticsProfileRequest": self.statistics,
            "ColumnLengthDistributionProfileRequest": self.length_distribution,
            "ColumnValueDistributionProfileRequest": self.value_distribution,
            "ColumnPatternProfileRequest": self.pattern,
            "CandidateKeyProfileRequest": self.candidate_key,
            "FunctionalDependencyProfileRequest": self.functional_dependency,
            "InclusionProfileRequest": self.inclusion,
        }[req.kind]
        return list(method(req, table))

    def _single(self, req: ProfileRequest, table: TableInfo) -> Iterator[Resolved]:
        """The columns of a single-column request that hold a value (all-null columns get
        only the Column Null Ratio profile)."""
        for col in self.expand(req, table, req.columns[0]):
            if req.kind == "ColumnNullRatioProfileRequest" or self.nonnull(table, col.info):
                yield col

    def null_ratio(self, req: ProfileRequest, table: TableInfo) -> Iterator[etree._Element]:
        rows = self.source.row_count(table)
        for col in self._single(req, table):
            node = self.header("ColumnNullRatioProfile", req)
            self.table_element(node, table)
            self.column_element(node, col)
            sub(node, "NullCount", str(rows - self.nonnull(table, col.info)))
            yield node

    def statistics(self, req: ProfileRequest, table: TableInfo) -> Iterator[etree._Element]:
        for col in self._single(req, table):
            c = self.q(col.info)
            where = f"FROM {table.qualified} WHERE {c} IS NOT NULL"
            node = self.header("ColumnStatisticsProfile", req)
            self.table_element(node, table)
            self.column_element(node, col)
            if col.info.kind == "datetime":
                low, high = self.source.scalar_row(f"SELECT MIN({c}), MAX({c}) {where}")
                typed(node, "MinValue", low, "datetime")
                typed(node, "MaxValue", high, "datetime")
                yield node
                continue
            f = self.source.as_float(c)
            low, high, mean = self.source.scalar_row(
                f"SELECT MIN({c}), MAX({c}), AVG({f}) {where}")
            mean_value = float(mean)
            n = self.nonnull(table, col.info)
            p = self.source.placeholder()
            squares = self.source.scalar_row(
                f"SELECT SUM(({f} - {p}) * ({f} - {p})) {where}", (mean_value, mean_value))[0]
            # the sample standard deviation, as SQL Server's STDEV
            stddev = (float(squares) / (n - 1)) ** 0.5 if n > 1 and squares is not None else 0.0
            typed(node, "MinValue", low)
            typed(node, "MaxValue", high)
            sub(node, "Mean", number_text(mean_value))
            sub(node, "StdDev", number_text(stddev))
            yield node

    def length_distribution(self, req: ProfileRequest,
                            table: TableInfo) -> Iterator[etree._Element]:
        for col in self._single(req, table):
            expr = self.q(col.info)
            if req.ignore_leading:
                expr = f"LTRIM({expr})"
            if req.ignore_trailing:
                expr = f"RTRIM({expr})"
            length = self.source.length(expr)
            items = [(int(n), int(count)) for n, count in self.source.rows(
                f"SELECT {length}, COUNT(*) FROM {table.qualified} "
                f"WHERE {self.q(col.info)} IS NOT NULL GROUP BY {length} ORDER BY 1")]
            node = self.header("ColumnLengthDistributionProfile", req)
            self.table_element(node, table)
            self.column_element(node, col)
            sub(node, "IgnoreLeadingSpace", _bool(req.ignore_leading))
            sub(node, "IgnoreTrailingSpace", _bool(req.ignore_trailing))
            sub(node, "MinLength", str(items[0][0]))
            sub(node, "MaxLength", str(items[-1][0]))
            dist = sub(node, "LengthDistribution")
            for n, count in items:
                item = sub(dist, "LengthDistributionItem")
                sub(item, "Length", str(n))
                sub(item, "Count", str(count))
            yield node

    def _grouped(self, table: TableInfo, cols: list[Resolved], *, not_null: bool,
                 order: bool = False) -> Iterator[tuple[Any, ...]]:
        """``(values..., count)`` per distinct combination of ``cols``."""
        names = ", ".join(self.q(c.info) for c in cols)
        where = ""
        if not_null:
            where = " WHERE " + " AND ".join(f"{self.q(c.info)} IS NOT NULL" for c in cols)
        sql = (f"SELECT {names}, COUNT(*) FROM {table.qualified}{where} GROUP BY {names}"
               + (f" ORDER BY {names}" if order else ""))
        return self.source.rows(sql)

    def value_distribution(self, req: ProfileRequest,
                           table: TableInfo) -> Iterator[etree._Element]:
        rows = self.source.row_count(table)
        for col in self._single(req, table):
            norm = normalizer(col.compare)
            counts: dict[Any, list[Any]] = {}  # key -> [shown value, count]
            distinct = 0
            for value, count in self._grouped(table, [col], not_null=True):
                if norm is None:
                    distinct += 1
                    if req.option == "AllValues" or count / rows > req.frequent_threshold:
                        counts[value] = [value, int(count)]
                    continue
                key = norm(value)
                entry = counts.setdefault(key, [value, 0])
                entry[1] += int(count)
            if norm is not None:
                distinct = len(counts)
                if req.option != "AllValues":
                    counts = {k: v for k, v in counts.items()
                              if v[1] / rows > req.frequent_threshold}
            node = self.header("ColumnValueDistributionProfile", req)
            self.table_element(node, table)
            self.column_element(node, col)
            sub(node, "NumberOfDistinctValues", str(distinct))
            dist = sub(node, "ValueDistribution")
            for value, count in sorted(counts.values(), key=lambda e: (-e[1], str(e[0]))):
                item = sub(dist, "ValueDistributionItem")
                typed(item, "Value", value, col.info.kind)
                sub(item, "Count", str(count))
            yield node

    def pattern(self, req: ProfileRequest, table: TableInfo) -> Iterator[etree._Element]:
        tags = self._tags(req) if req.tag_table else {}
        for col in self._single(req, table):
            finder = PatternFinder(req.delimiters, req.symbols, req.case_sensitive, tags)
            for value, count in self._grouped(table, [col], not_null=True):
                finder.add(str(value), int(count))
            node = self.header("ColumnPatternProfile", req)
            self.table_element(node, table)
            self.column_element(node, col)
            top = sub(node, "TopRegexPatterns")
            for regex, count in finder.patterns(req.max_patterns, req.coverage):
                item = sub(top, "PatternDistributionItem")
                sub(item, "RegexText", regex)
                sub(item, "Frequency", number_text(count / finder.total))
            yield node

    def _tags(self, req: ProfileRequest) -> dict[str, str]:
        """Term -> Tag from the tag table (its columns Tag and Term)."""
        parts = [p.strip().strip("[]\"") for p in req.tag_table.split(".")]
        schema, name = (parts[-2] if len(parts) > 1 else ""), parts[-1]
        table = self.source.table(schema, name)
        tag_col, term_col = table.column("Tag"), table.column("Term")
        if tag_col is None or term_col is None or tag_col.kind != "char" \
                or term_col.kind != "char":
            raise ProfileError(f"{req.title}: the tag table {req.tag_table} must have the "
                               "string columns Tag and Term")
        tags: dict[str, str] = {}
        for tag, term in self.source.rows(
                f"SELECT {self.q(tag_col)}, {self.q(term_col)} FROM {table.qualified} "
                f"WHERE {self.q(tag_col)} IS NOT NULL AND {self.q(term_col)} IS NOT NULL "
                f"ORDER BY {self.q(tag_col)}"):
            key = str(term) if req.case_sensitive else str(term).lower()
            tags.setdefault(key, str(tag))
        return tags

    # ---------------------------------------------------------------- column sets

    def _column_sets(self, req: ProfileRequest, table: TableInfo, refs: list[ColumnRef],
                     exclude: tuple[str, ...] = ()) -> list[list[Resolved]]:
        """The column sets a KeyColumns/DeterminantColumns list stands for: its named
        columns plus up to one more column per ``(*)``, smallest sets first (SSIS's
        Candidate Key and Functional Dependency request options)."""
        fixed = [self.resolve(req, table, r) for r in refs if not r.wildcard]
        wildcards = sum(1 for r in refs if r.wildcard)
        taken = {c.info.name for c in fixed} | set(exclude)
        others = [Resolved(c) for c in table.columns
                  if _applicable(req.kind, c) and c.name not in taken]
        sets: list[list[Resolved]] = []
        if fixed:
            sets.append(fixed)
        for size in range(1, wildcards + 1):
            for combo in itertools.combinations(others, size):
                sets.append(fixed + list(combo))
        return sets

    def _passes(self, setting: str, threshold: float, strength: float) -> bool:
        if setting == "None":
            return True
        if setting == "Exact":
            return strength >= 1.0
        return strength > threshold

    def candidate_key(self, req: ProfileRequest,
                      table: TableInfo) -> Iterator[etree._Element]:
        rows = self.source.row_count(table)
        keys: list[frozenset[str]] = []
        for cols in self._column_sets(req, table, req.columns):
            names = frozenset(c.info.name for c in cols)
            if any(k <= names for k in keys):
                continue  # a subset is already a key: larger sets are not analyzed
            norms = [normalizer(c.compare) for c in cols]
            distinct = 0
            worst: list[tuple[int, int, tuple[Any, ...]]] = []
            groups: Iterable[tuple[tuple[Any, ...], int]]
            raw = ((tuple(r[:-1]), int(r[-1])) for r in self._grouped(table, cols,
                                                                       not_null=False))
            if any(norms):
                merged: dict[tuple[Any, ...], list[Any]] = {}
                for values, count in raw:
                    key = tuple(n(v) if n else v for n, v in zip(norms, values, strict=True))
                    entry = merged.setdefault(key, [values, 0])
                    entry[1] += count
                groups = ((v, c) for v, c in merged.values())
            else:
                groups = raw
            for serial, (values, count) in enumerate(groups):
                distinct += 1
                if count > 1 and req.max_violations:
                    _keep(worst, req.max_violations, (count, -serial, values))
            strength = distinct / rows
            if not self._passes(req.threshold_setting, req.threshold, strength):
                continue
            keys.append(names)
            node = self.header("CandidateKeyProfile", req)
            self.table_element(node, table)
            key_columns = sub(node, "KeyColumns")
            for c in cols:
                self.column_element(key_columns, c)
            sub(node, "IsExactKey", _bool(distinct == rows))
            sub(node, "KeyStrength", number_text(strength))
            violations = sub(node, "KeyViolations")
            for count, _serial, values in sorted(worst, reverse=True):
                item = sub(violations, "KeyViolation")
                holder = sub(item, "ColumnValues")
                for c, v in zip(cols, values, strict=True):
                    typed(holder, "ColumnValue", v, c.info.kind)
                sub(item, "Count", str(count))
            yield node

    def functional_dependency(self, req: ProfileRequest,
                              table: TableInfo) -> Iterator[etree._Element]:
        rows = self.source.row_count(table)
        assert req.dependent is not None
        if req.dependent.wildcard:
            dependents = [Resolved(c) for c in table.columns if _applicable(req.kind, c)]
        else:
            dependents = [self.resolve(req, table, req.dependent)]
        for dep in dependents:
            found: list[frozenset[str]] = []
            for det in self._column_sets(req, table, req.columns, (dep.info.name,)):
                names = frozenset(c.info.name for c in det)
                if dep.info.name in names or any(k <= names for k in found):
                    continue
                support, worst = self._dependency(req, table, det, dep)
                strength = support / rows
                if not self._passes(req.threshold_setting, req.threshold, strength):
                    continue
                found.append(names)
                node = self.header("FunctionalDependencyProfile", req)
                self.table_element(node, table)
                holder = sub(node, "DeterminantColumns")
                for c in det:
                    self.column_element(holder, c)
                self.column_element(node, dep, "DependentColumn")
                sub(node, "FDStrength", number_text(strength))
                violations = sub(node, "FDViolations")
                for count, _serial, values, value, supported in sorted(
                        worst, key=lambda w: (-w[0], -w[1])):
                    item = sub(violations, "FDViolation")
                    det_values = sub(item, "DeterminantColumnValues")
                    for c, v in zip(det, values, strict=True):
                        typed(det_values, "ColumnValue", v, c.info.kind)
                    typed(item, "DependentColumnValue", value, dep.info.kind)
                    sub(item, "SupportCount", str(supported))
                    sub(item, "ViolationCount", str(count))
                yield node

    def _dependency(self, req: ProfileRequest, table: TableInfo, det: list[Resolved],
                    dep: Resolved) -> tuple[int, list[Any]]:
        """(rows that support the dependency, the top violations). For each determinant
        value the most frequent dependent value is supported; every other dependent value
        is a violation."""
        det_norms = [normalizer(c.compare) for c in det]
        dep_norm = normalizer(dep.compare)
        worst: list[Any] = []
        support = 0
        serial = 0

        def groups() -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, int]]]]:
            raw = self._grouped(table, [*det, dep], not_null=False, order=not any(det_norms))
            if any(det_norms):
                merged: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[tuple[Any, int]]]]
                merged = {}
                for row in raw:
                    values = tuple(row[:-2])
                    key = tuple(n(v) if n else v for n, v in zip(det_norms, values,
                                                                  strict=True))
                    merged.setdefault(key, (values, []))[1].append((row[-2], int(row[-1])))
                yield from merged.values()
                return
            current: tuple[Any, ...] | None = None
            members: list[tuple[Any, int]] = []
            for row in raw:
                values = tuple(row[:-2])
                if values != current:
                    if current is not None:
                        yield current, members
                    current, members = values, []
                members.append((row[-2], int(row[-1])))
            if current is not None:
                yield current, members

        for values, members in groups():
            counts: Counter[Any] = Counter()
            shown: dict[Any, Any] = {}
            for value, count in members:
                key = dep_norm(value) if dep_norm else value
                counts[key] += count
                shown.setdefault(key, value)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
            best = ranked[0][1]
            support += best
            for key, count in ranked[1:]:
                serial += 1
                if req.max_violations:
                    _keep(worst, req.max_violations, (count, -serial, values, shown[key], best))
        return support, worst

    def inclusion(self, req: ProfileRequest, table: TableInfo) -> Iterator[etree._Element]:
        assert req.superset_table is not None
        superset = self.table(req.superset_table)
        if len(req.columns) != len(req.superset_columns):
            raise ProfileError(f"{req.title}: {len(req.columns)} subset columns and "
                               f"{len(req.superset_columns)} superset columns; they must pair")
        per_position = []
        for s_ref, p_ref in zip(req.columns, req.superset_columns, strict=True):
            subs = self.expand(req, table, s_ref)
            sups = self.expand(req, superset, p_ref)
            pairs = [(s, p) for s in subs for p in sups if s.info.kind == p.info.kind]
            if not pairs and not s_ref.wildcard and not p_ref.wildcard:
                raise ProfileError(f"{req.title}: the subset column '{subs[0].info.name}' "
                                   f"({subs[0].info.type_name}) and the superset column "
                                   f"'{sups[0].info.name}' ({sups[0].info.type_name}) are "
                                   "not of comparable types")
            per_position.append(pairs)
        for combo in itertools.product(*per_position):
            sub_cols = [s for s, _p in combo]
            sup_cols = [p for _s, p in combo]
            if len({c.info.name for c in sub_cols}) < len(sub_cols) or \
                    len({c.info.name for c in sup_cols}) < len(sup_cols):
                continue
            if superset is table and [c.info.name for c in sub_cols] == \
                    [c.info.name for c in sup_cols]:
                continue  # a column is trivially included in itself
            node = self._inclusion(req, table, superset, sub_cols, sup_cols)
            if node is not None:
                yield node

    def _inclusion(self, req: ProfileRequest, table: TableInfo, superset: TableInfo,
                   sub_cols: list[Resolved], sup_cols: list[Resolved]) -> etree._Element | None:
        norms = [normalizer(s.compare if s.compare is not None else p.compare)
                 for s, p in zip(sub_cols, sup_cols, strict=True)]

        def key(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(n(v) if n else v for n, v in zip(norms, values, strict=True))

        present: set[tuple[Any, ...]] = set()
        for row in self._grouped(superset, sup_cols, not_null=True):
            present.add(key(tuple(row[:-1])))
        super_rows = self.source.row_count(superset)
        key_strength = len(present) / super_rows if super_rows else 0.0
        total = matched = serial = 0
        worst: list[Any] = []
        for row in self._grouped(table, sub_cols, not_null=True):
            values, count = tuple(row[:-1]), int(row[-1])
            total += count
            if key(values) in present:
                matched += count
            elif req.max_violations:
                serial += 1
                _keep(worst, req.max_violations, (count, -serial, values))
        if not total:
            return None
        strength = matched / total
        if not self._passes(req.threshold_setting, req.threshold, strength) or \
                not self._passes(req.key_threshold_setting, req.key_threshold, key_strength):
            return None
        node = self.header("InclusionProfile", req)
        self.table_element(node, table, "SubsetTable")
        self.table_element(node, superset, "SupersetTable")
        for tag, cols in (("SubsetColumns", sub_cols), ("SupersetColumns", sup_cols)):
            holder = sub(node, tag)
            for c in cols:
                self.column_element(holder, c)
        sub(node, "InclusionStrength", number_text(strength))
        sub(node, "SupersetColumnsKeyStrength", number_text(key_strength))
        violations = sub(node, "InclusionViolations")
        for count, _serial, values in sorted(worst, key=lambda w: (-w[0], -w[1])):
            item = sub(violations, "InclusionViolation")
            holder = sub(item, "ColumnValues")
            for c, v in zip(sub_cols, values, strict=True):
                typed(holder, "ColumnValue", v, c.info.kind)
            sub(item, "Count", str(count))
        return node


def _keep(heap: list[Any], limit: int, item: tuple[Any, ...]) -> None:
    """Keep the ``limit`` largest items (by count, then first seen)."""
    if len(heap) < limit:
        heapq.heappush(heap, item)
    elif item[:2] > heap[0][:2]:
        heapq.heapreplace(heap, item)
