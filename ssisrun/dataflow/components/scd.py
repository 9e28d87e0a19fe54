"""Slowly Changing Dimension: routes each incoming row to the outputs the SCD Wizard wires
to updates and inserts of a dimension table (docs/dataflow-scd.md has every rule).

The current dimension rows are read once, before the first row: ``SqlCommand`` (the
wizard's ``SELECT`` of the business keys and attributes) wrapped as a derived table and
filtered by ``CurrentRowWhere``, on the component's connection. They are kept by business
key (a cache by design, like the Lookup's full cache). Each input column's ``ColumnType``
says what it is: 1 business key, 2 changing attribute (type 1), 3 historical attribute
(type 2), 4 fixed attribute, 0 other (not compared); it is compared with the dimension
column its external metadata column names (else the column of its own name).

Routing of one row, in this order:

1. no current row with its business key (a NULL key never matches): New Output, or the
   component fails when ``FailOnLookupFailure``;
2. the current row is an inferred member (``EnableInferredMember``; the
   ``InferredMemberIndicator`` column is true, or, without one, every attribute column of
   the dimension row is NULL): Inferred Member Updates Output;
3. a fixed attribute differs: Fixed Attribute Output, or the component fails when
   ``FailOnFixedAttributeChange``;
4. a historical attribute differs: Historical Attribute Inserts Output, and also Changing
   Attribute Updates Output when a changing attribute differs too and
   ``UpdateChangingAttributeHistory`` (the only row that reaches two outputs: Historical is
   the component's exclusion group 2);
5. a changing attribute differs: Changing Attribute Updates Output;
6. else Unchanged Output.

``IncomingRowChangeType`` 0 sends every row to New Output without reading the dimension.
Values compare as SSIS compares buffer values: both sides converted to the input column's
DT_ type, strings exactly (case and trailing spaces count), NULL equal only to NULL. The
outputs are synchronous: they carry every column of the input rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.components.database import read_query
from ssisrun.dataflow.engine import Component, ComponentError, Emissions
from ssisrun.dataflow.model import Input, InputColumn, Output, as_bool, as_int
from ssisrun.expressions import types as t
from ssisrun.expressions.conversions import cast_function
from ssisrun.expressions.types import DataType, SsisType

#: ColumnType of an input column
OTHER, KEY, CHANGING, HISTORICAL, FIXED = 0, 1, 2, 3, 4
_ATTRIBUTES = (CHANGING, HISTORICAL, FIXED)

#: the six outputs, by the word their names carry (checked in this order)
UNCHANGED, NEW, FIXED_OUT, CHANGING_OUT, HISTORICAL_OUT, INFERRED_OUT = (
    "unchanged", "new", "fixed", "changing", "historical", "inferred")
_OUTPUT_WORDS = (INFERRED_OUT, HISTORICAL_OUT, FIXED_OUT, UNCHANGED, CHANGING_OUT, NEW)

_TRUE_TEXT = frozenset({"1", "-1", "true", "t", "y", "yes"})


def _normalize(value: Any, type_: SsisType) -> Any:
    """A value (from the buffer or the dimension table) in the Python form of ``type_``,
    so the two sides compare as two buffer values of that type."""
    if value is None:
        return None
    d = type_.dtype
    if d is DataType.DT_BOOL:
        if isinstance(value, str):
            return value.strip().lower() in _TRUE_TEXT
        return bool(value)
    if isinstance(value, memoryview):
        value = bytes(value)
    result = dft.coerce(value, type_)
    if isinstance(result, str) and d not in t.STRINGS and d not in t.TEXTS:
        convert = cast_function(t.WSTR, type_)
        if convert is not None:
            try:
                result = convert(result)
            except Exception:  # noqa: BLE001 - left as text: it then differs, as it should
                pass
    if d is DataType.DT_DBDATE and isinstance(result, datetime):
        result = result.date()
    elif d in (DataType.DT_DBTIMESTAMP, DataType.DT_DATE, DataType.DT_DBTIMESTAMP2) \
            and isinstance(result, date) and not isinstance(result, datetime):
        result = datetime(result.year, result.month, result.day)
    return result


#: the Python class a column of each type holds once normalized (the fast path)
_NATIVE: dict[DataType, type] = {
    **{d: int for d in t.INTEGERS}, **{d: str for d in t.STRINGS | t.TEXTS},
    **{d: Decimal for d in t.EXACT}, DataType.DT_R4: float, DataType.DT_R8: float,
    DataType.DT_BOOL: bool, DataType.DT_DBDATE: date, DataType.DT_DBTIMESTAMP: datetime,
    DataType.DT_DBTIMESTAMP2: datetime, DataType.DT_DATE: datetime}


def normalizer(type_: SsisType) -> Callable[[Any], Any]:
    """:func:`_normalize` for one column: values already in their Python form pass at
    once; text (dates a database keeps as text) is converted once per distinct value."""
    native = _NATIVE.get(type_.dtype)

    @functools.lru_cache(maxsize=4096)
    def from_text(value: str) -> Any:
        return _normalize(value, type_)

    def normalize(value: Any) -> Any:
        if value is None or type(value) is native:
            return value
        if type(value) is str:
            return from_text(value)
        return _normalize(value, type_)
    return normalize


def _is_true(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return bool(value)


class SlowlyChangingDimension(Component):
    def pre_execute(self) -> None:
        name = self.meta.name
        self.keys: list[tuple[str, str, SsisType]] = []  # (lineage, dimension column, type)
        self.attributes: list[tuple[str, str, SsisType, int]] = []
        for col in self.input.columns:
            kind = self._column_type(col)
            if kind == OTHER:
                continue
            entry = (col.lineage_id, self._dimension_column(col), self.ctx.column_type(col))
            if kind == KEY:
                self.keys.append(entry)
            else:
                self.attributes.append((*entry, kind))
        if not self.keys:
            raise ComponentError(f"{name}: no input column is a business key (ColumnType 1); "
                                 "the Slowly Changing Dimension needs at least one")
        self.key_norms = [normalizer(type_) for _, _, type_ in self.keys]
        self.attr_norms = [normalizer(type_) for _, _, type_, _ in self.attributes]
        self.outputs = self._outputs()
        change_type = self._int_setting("IncomingRowChangeType", 1)
        if change_type not in (0, 1):
            raise ComponentError(f"{name}: IncomingRowChangeType is {change_type}; it must be "
                                 "0 (all rows are new) or 1 (detect the change type)")
        self.all_new = change_type == 0
        self.fail_on_fixed = as_bool(self.ctx.property("FailOnFixedAttributeChange"))
        self.fail_on_lookup = as_bool(self.ctx.property("FailOnLookupFailure"))
        self.changing_history = as_bool(self.ctx.property("UpdateChangingAttributeHistory"))
        self.inferred_enabled = as_bool(self.ctx.property("EnableInferredMember"), True)
        self.indicator = self.ctx.property("InferredMemberIndicator").strip()
        if self.indicator.startswith("[") and self.indicator.endswith("]"):
            self.indicator = self.indicator[1:-1]
        #: business key -> (attribute values in self.attributes' order, inferred member?)
        self.cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], bool]] = {}
        if not self.all_new:
            self._load()

    # ---- settings

    def _column_type(self, col: InputColumn) -> int:
        text = col.properties.get("ColumnType", "").strip()
        if not text:
            return OTHER
        kind = as_int(text, -1)
        if kind not in (OTHER, KEY, *_ATTRIBUTES):
            raise ComponentError(
                f"{self.meta.name}: the input column {self.ctx.column_name(col)} has "
                f"ColumnType {text!r}; it must be 0 (other), 1 (business key), 2 (changing "
                "attribute), 3 (historical attribute) or 4 (fixed attribute)")
        return kind

    def _dimension_column(self, col: InputColumn) -> str:
        """The dimension table's column an input column is compared with: the external
        metadata column it is mapped to, else its own name."""
        if col.external_metadata_column_id:
            for ext in self.input.external_columns:
                if col.external_metadata_column_id in (ext.id, ext.lineage_id):
                    return ext.name
        return col.name or self.ctx.column_name(col)

    def _int_setting(self, setting: str, default: int) -> int:
        text = self.ctx.property(setting).strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise ComponentError(f"{self.meta.name}: {setting} is {text!r}, not a number"
                                 ) from None

    def _outputs(self) -> dict[str, Output]:
        found: dict[str, Output] = {}
        for output in self.meta.normal_outputs:
            lowered = output.name.lower()
            for word in _OUTPUT_WORDS:
                if word in lowered:
                    found.setdefault(word, output)
                    break
        return found

    # ---- the dimension's current rows

    def query(self) -> str:
        """The dimension query: SqlCommand, filtered by CurrentRowWhere."""
        sql = self.ctx.property("SqlCommand").strip().rstrip(";").strip()
        if not sql:
            raise ComponentError(f"{self.meta.name} has no dimension query (SqlCommand)")
        where = self.ctx.property("CurrentRowWhere").strip()
        if where:
            sql = f"SELECT * FROM ({sql}) scd_dimension WHERE {where}"
        return sql

    def _load(self) -> None:
        sql = self.query()
        read_query(self, sql, "the dimension query failed", self._build,
                   detail=f" (SqlCommand and CurrentRowWhere: {sql})")

    def _build(self, names: list[str], chunks: Iterator[Sequence[Any]]) -> None:
        """The cache from the dimension rows (``names``: lower-case column names), read a
        chunk at a time."""
        def index(column: str, setting: str) -> int:
            if column.lower() not in names:
                raise ComponentError(
                    f"{self.meta.name}: the dimension query (SqlCommand) has no column "
                    f"{column}, which {setting} names; its columns are {', '.join(names)}")
            return names.index(column.lower())

        key_at = [(index(col, "a business key input column"), normalizer(type_))
                  for _, col, type_ in self.keys]
        attr_at = [(index(col, "an attribute input column"), normalizer(type_))
                   for _, col, type_, _ in self.attributes]
        flag_at = None
        if self.inferred_enabled and self.indicator:
            flag_at = index(self.indicator, "InferredMemberIndicator")
        duplicates = 0
        cache = self.cache
        for rows in chunks:
            columns = list(zip(*rows, strict=True))
            # a column at a time: each value in its input column's Python form
            keys = zip(*(list(map(norm, columns[i])) for i, norm in key_at), strict=True)
            attributes = zip(*(list(map(norm, columns[i])) for i, norm in attr_at),
                             strict=True) if attr_at else iter([()] * len(rows))
            flags = columns[flag_at] if flag_at is not None else None
            for row, (key, values) in enumerate(zip(keys, attributes, strict=True)):
                if None in key:
                    continue  # a NULL business key matches no incoming row
                if key in cache:
                    duplicates += 1
                    continue
                if not self.inferred_enabled:
                    inferred = False
                elif flags is not None:
                    inferred = _is_true(flags[row])
                else:
                    inferred = bool(values) and all(v is None for v in values)
                cache[key] = (values, inferred)
        if duplicates:
            self.ctx.warning(f"the dimension query returned more than one current row for "
                             f"{duplicates} business key(s); the first row of each is used "
                             "(check CurrentRowWhere)")

    # ---- rows

    def process(self, inp: Input, batch: Batch) -> Emissions:
        n = batch.length
        routes: dict[str, list[bool]] = {}

        def send(word: str, row: int) -> None:
            mask = routes.get(word)
            if mask is None:
                mask = routes[word] = [False] * n
            mask[row] = True

        if self.all_new:
            return self._emit(batch, {NEW: [True] * n})
        # both sides in the columns' Python forms, a column at a time
        keys = zip(*(list(map(norm, batch.columns[lid]))
                     for (lid, _, _), norm in zip(self.keys, self.key_norms, strict=True)),
                   strict=True)
        values = zip(*(list(map(norm, batch.columns[lid]))
                       for (lid, _, _, _), norm in zip(self.attributes, self.attr_norms,
                                                       strict=True)),
                     strict=True) if self.attributes else iter([()] * n)
        kinds = [kind for _, _, _, kind in self.attributes]
        cache = self.cache
        for i, (key, new_values) in enumerate(zip(keys, values, strict=True)):
            found = None if None in key else cache.get(key)
            if found is None:
                if self.fail_on_lookup:
                    raise ComponentError(
                        f"{self.meta.name}: row {i + 1} of the batch has no current row in "
                        f"the dimension table (business key {self._describe(key)}) and "
                        "FailOnLookupFailure is true")
                send(NEW, i)
                continue
            current, inferred = found
            if inferred:
                send(INFERRED_OUT, i)
                continue
            fixed = changing = historical = False
            for kind, new, old in zip(kinds, new_values, current, strict=True):
                if new == old:  # None == None: NULL equals NULL only
                    continue
                if kind == FIXED:
                    fixed = True
                elif kind == HISTORICAL:
                    historical = True
                else:
                    changing = True
            if fixed:
                if self.fail_on_fixed:
                    raise ComponentError(
                        f"{self.meta.name}: a fixed attribute changed for business key "
                        f"{self._describe(key)} (row {i + 1} of the batch) and "
                        "FailOnFixedAttributeChange is true")
                send(FIXED_OUT, i)
            elif historical:
                send(HISTORICAL_OUT, i)
                if changing and self.changing_history:
                    send(CHANGING_OUT, i)
            elif changing:
                send(CHANGING_OUT, i)
            else:
                send(UNCHANGED, i)
        return self._emit(batch, routes)

    def _emit(self, batch: Batch, routes: dict[str, list[bool]]) -> Emissions:
        emissions: Emissions = []
        for word, mask in routes.items():
            output = self.outputs.get(word)
            if output is None:
                continue  # SSIS drops rows of an output the package does not have
            emissions.append((output, batch if all(mask) else batch.select(mask)))
        order = {id(o): k for k, o in enumerate(self.meta.outputs)}
        emissions.sort(key=lambda e: order.get(id(e[0]), 0))
        return emissions

    def _describe(self, key: tuple[Any, ...]) -> str:
        return ", ".join(f"{col}={value!r}"
                         for (_, col, _), value in zip(self.keys, key, strict=True))
