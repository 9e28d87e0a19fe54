"""Pivot: rows that share a set key become one row, with one column per pivot key value.

Each input column's ``PivotUsage`` says what it is: 0 passed through (the value of the
set's first row), 1 part of the set key, 2 the pivot key (its value chooses the output
column), 3 the pivot value (what goes into that column). Each output column names its input
column in ``SourceColumn``; an output column fed by the pivot value column also has a
``PivotKeyValue``, the pivot key value it receives.

As in SSIS the input is expected sorted by the set key: a row whose set key differs from
the previous row's starts a new output row (the component streams, holding one set at a
time). A pivot key value that no output column takes fails the component, unless
``PassThroughUnmatchedPivotKeys`` is true (then the row is left out); a pivot key value seen
twice in one set fails it too (SSIS: duplicate key). Values compare as text, as SSIS
compares them with ``PivotKeyValue``.
"""

from __future__ import annotations

from typing import Any

from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import Component, ComponentError, Emissions
from ssisrun.dataflow.model import Input, as_bool, as_int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Pivot(Component):
    def pre_execute(self) -> None:
        inp = self.input
        usage = {col.lineage_id: as_int(col.properties.get("PivotUsage"), 0)
                 for col in inp.columns}
        self.keys = [lid for lid, u in usage.items() if u == 1]
        pivot_keys = [lid for lid, u in usage.items() if u == 2]
        values = [lid for lid, u in usage.items() if u == 3]
        if len(pivot_keys) != 1 or len(values) != 1:
            raise ComponentError(f"{self.meta.name} needs one pivot key column (PivotUsage 2) "
                                 "and one pivot value column (PivotUsage 3)")
        self.pivot_key, self.value = pivot_keys[0], values[0]
        self.passthrough_unmatched = as_bool(
            self.ctx.property("PassThroughUnmatchedPivotKeys"), False)
        #: output lineage id -> the input lineage id it copies (keys, passed-through)
        self.copies: dict[str, str] = {}
        #: pivot key value (as text) -> output lineage id
        self.pivoted: dict[str, str] = {}
        for col in self.output.columns:
            source = self.ctx.resolve(col.properties.get("SourceColumn", ""))
            if source == self.value:
                self.pivoted[col.properties.get("PivotKeyValue", "") or ""] = col.lineage_id
            elif source in usage:
                self.copies[col.lineage_id] = source
        self.rows: list[dict[str, Any]] = []
        self.current: tuple[Any, ...] | None = None
        self.row: dict[str, Any] | None = None

    def process(self, inp: Input, batch: Batch) -> Emissions:
        cols = batch.columns
        keys = list(batch.rows(self.keys))
        pivot_keys = cols[self.pivot_key]
        values = cols[self.value]
        copies = [(target, cols[source]) for target, source in self.copies.items()]
        for i in range(batch.length):
            if self.row is None or keys[i] != self.current:
                self._close_set()
                self.current = keys[i]
                self.row = {target: column[i] for target, column in copies}
                self.filled: set[str] = set()
            name = _text(pivot_keys[i])
            target = self.pivoted.get(name)
            if target is None:
                if self.passthrough_unmatched:
                    continue
                raise ComponentError(f"{self.meta.name}: the pivot key value {name!r} matches "
                                     "no output column (PivotKeyValue); set "
                                     "PassThroughUnmatchedPivotKeys to leave such rows out")
            if target in self.filled:
                raise ComponentError(f"{self.meta.name}: the pivot key value {name!r} appears "
                                     f"twice for the set key {keys[i]!r}; sort the input by "
                                     "the set key or aggregate it first")
            self.filled.add(target)
            self.row[target] = values[i]
        return self._flush(self.ctx.buffer_rows)

    def _close_set(self) -> None:
        if self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def _flush(self, at_least: int) -> Emissions:
        if len(self.rows) < at_least or not self.rows:
            return []
        rows, self.rows = self.rows, []
        ids = [c.lineage_id for c in self.output.columns]
        columns = {lid: [r.get(lid) for r in rows] for lid in ids}
        return [(self.output, Batch(columns, len(rows)))]

    def finish(self) -> Emissions:
        self._close_set()
        return self._flush(1)
