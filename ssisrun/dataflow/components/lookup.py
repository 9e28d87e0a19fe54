"""Lookup, with a full cache: the reference rows (``SqlCommand`` on the component's
connection) are read once, before the first row, into a dictionary keyed by the join
columns (input columns with ``JoinToReferenceColumn``). Each input row that matches gets
the reference columns its output columns copy (``CopyFromReferenceColumn``; a read-write
input column with that property is overwritten). Partial and no cache are run as a full
cache (the result is the same; only memory differs). Strings compare exactly, as the
full cache does in SSIS.

With ``ConnectionType`` 1 the reference rows are a Cache connection manager's, filled by a
Cache Transform earlier in the run (:mod:`.cache`).

Rows without a match: with ``NoMatchBehavior`` 1 they go to the no-match output;
otherwise the input's error disposition applies: FailComponent stops the data flow,
IgnoreFailure sends the row on with NULL lookup columns, RedirectRow sends it to the error
output. A reference key seen twice keeps its first row (a warning says so).
"""

from __future__ import annotations

from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.components.database import read_query
from ssisrun.dataflow.engine import E_LOOKUP_NO_MATCH, Component, ComponentError, Emissions
from ssisrun.dataflow.model import FAIL, IGNORE, NOT_USED, REDIRECT, Input, as_int


class Lookup(Component):
    def pre_execute(self) -> None:
        inp = self.input
        self.joins: list[tuple[str, str]] = []  # (input lineage, reference column)
        self.copies: list[tuple[str, str]] = []  # (target lineage, reference column)
        for col in inp.columns:
            ref = col.properties.get("JoinToReferenceColumn", "")
            if ref:
                self.joins.append((col.lineage_id, ref))
            copy = col.properties.get("CopyFromReferenceColumn", "")
            if copy and col.usage_type.lower() == "readwrite":
                self.copies.append((col.lineage_id, copy))
        outputs = self.meta.normal_outputs
        if not outputs:
            raise ComponentError(f"{self.meta.name} has no output")
        self.match_out = next((o for o in outputs if "no match" not in o.name.lower()),
                              outputs[0])
        self.no_match_out = next((o for o in outputs if o is not self.match_out), None)
        for out_col in self.match_out.columns:
            copy = out_col.properties.get("CopyFromReferenceColumn", "")
            if copy:
                self.copies.append((out_col.lineage_id, copy))
        if not self.joins:
            raise ComponentError(f"{self.meta.name} joins on no column")
        self.to_no_match = as_int(self.ctx.property("NoMatchBehavior"), 0) == 1
        self.disposition = inp.error_row_disposition
        if self.disposition == NOT_USED:
            self.disposition = FAIL
        self._load()

    def _load(self) -> None:
        if as_int(self.ctx.property("ConnectionType"), 0) == 1:
            from ssisrun.dataflow.components.cache import cache_of

            data = cache_of(self)
            self._build(data.names, data.rows, "the cache")
            return
        sql = self.ctx.property("SqlCommand")
        if not sql.strip():
            raise ComponentError(f"{self.meta.name} has no reference query (SqlCommand)")
        read_query(self, sql, "the reference query failed",
                   lambda names, chunks: self._build(
                       names, (row for chunk in chunks for row in chunk), "the reference query"))

    def _build(self, names: list[str], rows: Any, where: str) -> None:
        """The full cache from the reference rows (``names``: lower-case column names)."""

        def index(name: str) -> int:
            if name.lower() not in names:
                raise ComponentError(f"{self.meta.name}: {where} has no column {name}")
            return names.index(name.lower())

        key_at = [index(ref) for _, ref in self.joins]
        copy_at = [index(ref) for _, ref in self.copies]
        types = [self.ctx.column_type(c) for c in self.input.columns
                 if c.properties.get("JoinToReferenceColumn")]
        out_types = {c.lineage_id: c.type for c in self.match_out.columns}
        in_types = {c.lineage_id: self.ctx.column_type(c) for c in self.input.columns}
        copy_types = [out_types.get(lid) or in_types.get(lid) for lid, _ in self.copies]
        self.cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        duplicates = 0
        for row in rows:
            key = tuple(dft.coerce(row[i], t) for i, t in zip(key_at, types, strict=True))
            if key in self.cache:
                duplicates += 1
                continue
            self.cache[key] = tuple(
                dft.coerce(row[i], t) if t is not None else row[i]
                for i, t in zip(copy_at, copy_types, strict=True))
        if duplicates:
            self.ctx.warning(f"the reference data has {duplicates} duplicate key(s); "
                             "the first row of each is used")

    def process(self, inp: Input, batch: Batch) -> Emissions:
        keys = list(batch.rows([lid for lid, _ in self.joins]))
        n = batch.length
        found: list[tuple[Any, ...] | None] = [self.cache.get(k) for k in keys]
        width = len(self.copies)
        missing = [i for i in range(n) if found[i] is None]
        new: dict[str, list[Any]] = {}
        blank = (None,) * width
        for k, (lineage, _) in enumerate(self.copies):
            column = [(row if row is not None else blank)[k] for row in found]
            if lineage in batch.columns and any(row is None for row in found):
                old = batch.columns[lineage]
                column = [old[i] if found[i] is None else v for i, v in enumerate(column)]
            new[lineage] = column
        result = batch.with_columns(new)
        if not missing:
            return [(self.match_out, result)]
        if self.to_no_match:
            mask = [row is not None for row in found]
            emissions: Emissions = [(self.match_out, result.select(mask))]
            if self.no_match_out is not None:
                emissions.append((self.no_match_out, batch.select([not m for m in mask])))
            return emissions
        if self.disposition == IGNORE:
            return [(self.match_out, result)]
        for i in missing:
            self.row_error(i, self.disposition if self.disposition != REDIRECT or
                           self.meta.error_output is not None else FAIL,
                           E_LOOKUP_NO_MATCH, inp.id,
                           f"row {i + 1} has no match in the reference data "
                           f"(key {keys[i]!r})")
        return self.split_errors(self.match_out, result, batch)

