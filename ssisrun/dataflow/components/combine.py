"""Components that start a new buffer: Union All, Merge, Merge Join, Sort, Aggregate and
Unpivot.

* Union All passes each batch through at once, its columns renamed to the output's
  (``OutputColumnLineageID`` of each input column); output columns an input lacks are NULL.
* Merge interleaves two sorted inputs by the output's sort keys, emitting as soon as both
  inputs have rows; it declares an input full when it holds several batches of it and
  none of the other (back-pressure).
* Merge Join (inner, left outer, full outer on the first NumKeyColumns sort keys) keeps the
  right input in memory grouped by key and joins the left rows as they come when both
  inputs are sorted by the same key; unmatched right rows are emitted at the end for a full
  join. TreatNullsAsEqual decides whether NULL keys match.
* Sort and Aggregate keep every row until their input ends (they block, as in SSIS).
  NULL sorts before every value; comparison flag 1 ignores case. EliminateDuplicates keeps
  the first row of each set of rows with equal sort keys.
"""

from __future__ import annotations

import functools
from collections import defaultdict, deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import Component, ComponentContext, ComponentError, Emissions
from ssisrun.dataflow.model import Input, PipelineComponent, as_bool, as_int
from ssisrun.expressions import types as _t
from ssisrun.expressions.types import DataType as _D

#: key types whose order is the same everywhere (Merge Join merges them as they stream)
_ORDERED_TYPES = _t.NUMERICS | frozenset({
    _D.DT_BOOL, _D.DT_DATE, _D.DT_DBDATE, _D.DT_DBTIME, _D.DT_DBTIME2, _D.DT_DBTIMESTAMP,
    _D.DT_DBTIMESTAMP2, _D.DT_FILETIME})


def _chunked(batch: Batch, size: int) -> list[Batch]:
    if batch.length <= size:
        return [batch]
    return [batch.slice(i, i + size) for i in range(0, batch.length, size)]


def _null_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


class _Key:
    """A sort key over some columns: ascending or descending, case-insensitive or not;
    NULL first."""

    def __init__(self, positions: list[tuple[int, bool, bool]]) -> None:
        #: (index in the row, descending, ignore case)
        self.positions = positions

    def compare(self, a: Sequence[Any], b: Sequence[Any]) -> int:
        for index, descending, fold in self.positions:
            x, y = a[index], b[index]
            if fold:
                x = x.lower() if isinstance(x, str) else x
                y = y.lower() if isinstance(y, str) else y
            if x == y:
                continue
            if x is None:
                result = -1
            elif y is None:
                result = 1
            else:
                result = -1 if x < y else 1
            return -result if descending else result
        return 0

    def key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        parts = []
        for index, _, fold in self.positions:
            value = row[index]
            if fold and isinstance(value, str):
                value = value.lower()
            parts.append(value)
        return tuple(parts)


# --------------------------------------------------------------------------- Union All


class UnionAll(Component):
    def pre_execute(self) -> None:
        self.out_ids = [c.lineage_id for c in self.output.columns]
        self.maps: dict[str, list[tuple[str, str]]] = {}
        for inp in self.meta.inputs:
            pairs = []
            for col in inp.columns:
                target = col.properties.get("OutputColumnLineageID", "")
                if target:
                    pairs.append((col.lineage_id, _resolve_output(target)))
            self.maps[inp.id] = pairs

    def process(self, inp: Input, batch: Batch) -> Emissions:
        columns: dict[str, list[Any]] = {}
        for source, target in self.maps.get(inp.id, []):
            columns[target] = batch.columns[source]
        for lid in self.out_ids:
            if lid not in columns:
                columns[lid] = [None] * batch.length
        return [(self.output, Batch(columns, batch.length))]


def _resolve_output(text: str) -> str:
    from ssisrun.dataflow.model import column_reference

    return column_reference(text)


def _sort_positions(ctx: ComponentContext, lineage: list[str],
                    limit: int | None = None) -> list[tuple[int, bool, bool]]:
    keyed = []
    for index, lid in enumerate(lineage):
        col = ctx.run.pipeline.lineage.get(lid)
        if col is not None and col.sort_key_position:
            keyed.append((abs(col.sort_key_position), index, col.sort_key_position < 0))
    keyed.sort()
    if limit is not None:
        keyed = keyed[:limit]
    return [(index, descending, False) for _, index, descending in keyed]


# --------------------------------------------------------------------------- Merge


class Merge(Component):
    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        super().__init__(meta, ctx)
        self.pending: dict[str, list[tuple[Any, ...]]] = {}
        self.done: set[str] = set()

    def pre_execute(self) -> None:
        self.out_ids = [c.lineage_id for c in self.output.columns]
        self.sources: dict[str, list[str | None]] = {}
        for inp in self.meta.inputs:
            mapping = {_resolve_output(c.properties.get("OutputColumnLineageID", "")):
                       c.lineage_id for c in inp.columns}
            self.sources[inp.id] = [mapping.get(lid) for lid in self.out_ids]
            self.pending[inp.id] = []
        positions = _sort_positions(self.ctx, self.out_ids)
        if not positions and self.meta.inputs:
            first = self.meta.inputs[0]
            upstream = [c.lineage_id for c in first.columns]
            for index, descending, fold in _sort_positions(self.ctx, upstream):
                target = self._target(first, upstream[index])
                if target in self.out_ids:
                    positions.append((self.out_ids.index(target), descending, fold))
        self.key = _Key(positions)

    def _target(self, inp: Input | None, lineage: str) -> str:
        if inp is None:
            return ""
        for col in inp.columns:
            if col.lineage_id == lineage:
                return _resolve_output(col.properties.get("OutputColumnLineageID", ""))
        return ""

    def process(self, inp: Input, batch: Batch) -> Emissions:
        cols = [batch.columns[s] if s else [None] * batch.length for s in self.sources[inp.id]]
        self.pending[inp.id].extend(zip(*cols, strict=True) if cols else [])
        return self._drain(final=False)

    def input_done(self, inp: Input) -> Emissions:
        self.done.add(inp.id)
        return self._drain(final=False)

    def finish(self) -> Emissions:
        return self._drain(final=True)

    def input_full(self, inp: Input) -> bool:
        limit = 4 * self.ctx.buffer_rows
        mine = self.pending.get(inp.id, [])
        others = [k for k in self.pending if k != inp.id]
        return len(mine) > limit and any(not self.pending[k] and k not in self.done
                                         for k in others)

    def _drain(self, final: bool) -> Emissions:
        a_id, b_id = (list(self.pending) + ["", ""])[:2]
        a = self.pending.get(a_id, [])
        b = self.pending.get(b_id, [])
        out: list[tuple[Any, ...]] = []
        i = j = 0
        compare = self.key.compare
        while i < len(a) and j < len(b):
            if compare(a[i], b[j]) <= 0:
                out.append(a[i])
                i += 1
            else:
                out.append(b[j])
                j += 1
        a_rest, b_rest = a[i:], b[j:]
        if final or (b_id in self.done and not b_rest) or not b_id:
            out.extend(a_rest)
            a_rest = []
        if final or (a_id in self.done and not a_rest):
            out.extend(b_rest)
            b_rest = []
        if a_id:
            self.pending[a_id] = a_rest
        if b_id:
            self.pending[b_id] = b_rest
        if not out:
            return []
        return [(self.output, b) for b in _chunked(Batch.from_rows(self.out_ids, out),
                                                    self.ctx.buffer_rows)]


# --------------------------------------------------------------------------- Merge Join


class MergeJoin(Component):
    """JoinType 0 full outer, 1 left outer, 2 inner.

    When every join key is a number, date, time or Boolean (whose order is the same in every
    database and in SSIS's Sort), the sorted inputs are merged as they stream: only the rows
    of the current key (and what one input has read ahead of the other) are held, and an
    input that is not sorted as its SortKeyPosition says fails the component. Rows with a
    NULL key wait aside until the end (matched to each other when TreatNullsAsEqual). With
    a string key (ordered by each database's collation, which ssisrun cannot know) the right
    input is held in memory and the left joined to it.
    """

    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        super().__init__(meta, ctx)
        self.left_rows: list[tuple[Any, ...]] = []
        self.right: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
        self.right_null: list[tuple[Any, ...]] = []
        self.matched: set[tuple[Any, ...]] = set()
        self.right_done = False

    def pre_execute(self) -> None:
        if len(self.meta.inputs) != 2:
            raise ComponentError(f"{self.meta.name} needs two inputs")
        self.join_type = as_int(self.ctx.property("JoinType"), 2)
        keys = as_int(self.ctx.property("NumKeyColumns"), 1)
        self.nulls_equal = as_bool(self.ctx.property("TreatNullsAsEqual"), True)
        self.left_in, self.right_in = self.meta.inputs
        self.left_ids = [c.lineage_id for c in self.left_in.columns]
        self.right_ids = [c.lineage_id for c in self.right_in.columns]
        self.left_key = [i for i, _, _ in _sort_positions(self.ctx, self.left_ids, keys)]
        self.right_key = [i for i, _, _ in _sort_positions(self.ctx, self.right_ids, keys)]
        if not self.left_key or len(self.left_key) != len(self.right_key):
            raise ComponentError(f"{self.meta.name}: both inputs must be sorted on the "
                                 f"{keys} join key column(s)")
        ids = {c.id: ("L", i) for i, c in enumerate(self.left_in.columns)}
        ids.update({c.id: ("R", i) for i, c in enumerate(self.right_in.columns)})
        ids.update({c.lineage_id: ("L", i) for i, c in enumerate(self.left_in.columns)
                    if c.lineage_id not in ids})
        ids.update({c.lineage_id: ("R", i) for i, c in enumerate(self.right_in.columns)
                    if c.lineage_id not in ids})
        self.out_ids = [c.lineage_id for c in self.output.columns]
        self.picks: list[tuple[str, int]] = []
        for col in self.output.columns:
            ref = _resolve_output(col.properties.get("InputColumnID", ""))
            if ref not in ids:
                raise ComponentError(f"{self.meta.name}: the output column {col.name} reads "
                                     "no input column")
            self.picks.append(ids[ref])
        positions = _sort_positions(self.ctx, self.left_ids, keys)
        self.descending = [d for _, d, _ in positions]
        key_types = [self.ctx.column_type(self.left_in.columns[i]).dtype
                     for i in self.left_key] + \
            [self.ctx.column_type(self.right_in.columns[i]).dtype for i in self.right_key]
        self.streaming = all(d in _ORDERED_TYPES for d in key_types)
        self.queues: dict[str, deque[tuple[Any, ...]]] = {
            self.left_in.id: deque(), self.right_in.id: deque()}
        self.last: dict[str, tuple[Any, ...] | None] = {self.left_in.id: None,
                                                        self.right_in.id: None}
        self.ended: set[str] = set()
        self.left_null: list[tuple[Any, ...]] = []

    def _key(self, row: Sequence[Any], positions: list[int]) -> tuple[Any, ...] | None:
        key = tuple(row[i] for i in positions)
        if not self.nulls_equal and any(v is None for v in key):
            return None
        return key

    def _join(self, left: tuple[Any, ...] | None, right: tuple[Any, ...] | None
              ) -> tuple[Any, ...]:
        return tuple((left[i] if left is not None else None) if side == "L"
                     else (right[i] if right is not None else None)
                     for side, i in self.picks)

    # ---- streaming merge (ordered key types)

    def _compare(self, a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        for x, y, descending in zip(a, b, self.descending, strict=True):
            if x == y:
                continue
            result = -1 if x < y else 1
            return -result if descending else result
        return 0

    def _stream_in(self, inp: Input, batch: Batch) -> Emissions:
        left = inp is self.left_in
        ids, positions = (self.left_ids, self.left_key) if left else \
            (self.right_ids, self.right_key)
        queue = self.queues[inp.id]
        last = self.last[inp.id]
        out: list[tuple[Any, ...]] = []
        for row in batch.rows(ids):
            key = tuple(row[i] for i in positions)
            if None in key:
                if left and not self.nulls_equal:
                    if self.join_type in (0, 1):
                        out.append(self._join(row, None))
                elif left:
                    self.left_null.append(row)
                else:
                    self.right_null.append(row)
                continue
            if last is not None and self._compare(last, key) > 0:
                raise ComponentError(
                    f"{self.meta.name}: the input {inp.name} is not sorted on the join key "
                    f"as its SortKeyPosition says ({last!r} came before {key!r}); sort it "
                    "(Sort transform or ORDER BY) before the Merge Join")
            last = key
            queue.append(row)
        self.last[inp.id] = last
        out.extend(self._merge())
        return self._emit(out)

    def _group(self, inp_id: str, positions: list[int]) -> int | None:
        """How many rows at the head of the queue share its key; None when more may come."""
        queue = self.queues[inp_id]
        first = tuple(queue[0][i] for i in positions)
        count = 0
        for row in queue:
            if tuple(row[i] for i in positions) != first:
                return count
            count += 1
        return count if inp_id in self.ended else None

    def _merge(self) -> list[tuple[Any, ...]]:
        left_q, right_q = self.queues[self.left_in.id], self.queues[self.right_in.id]
        out: list[tuple[Any, ...]] = []
        while True:
            if not left_q or not right_q:
                if not left_q and self.left_in.id in self.ended:
                    while right_q:
                        row = right_q.popleft()
                        if self.join_type == 0:
                            out.append(self._join(None, row))
                if not right_q and self.right_in.id in self.ended:
                    while left_q:
                        row = left_q.popleft()
                        if self.join_type in (0, 1):
                            out.append(self._join(row, None))
                return out
            lk = tuple(left_q[0][i] for i in self.left_key)
            rk = tuple(right_q[0][i] for i in self.right_key)
            order = self._compare(lk, rk)
            if order < 0:
                row = left_q.popleft()
                if self.join_type in (0, 1):
                    out.append(self._join(row, None))
            elif order > 0:
                row = right_q.popleft()
                if self.join_type == 0:
                    out.append(self._join(None, row))
            else:
                n_left = self._group(self.left_in.id, self.left_key)
                n_right = self._group(self.right_in.id, self.right_key)
                if n_left is None or n_right is None:
                    return out  # the key's rows may go on in the next batch
                lefts = [left_q.popleft() for _ in range(n_left)]
                rights = [right_q.popleft() for _ in range(n_right)]
                out.extend(self._join(a, b) for a in lefts for b in rights)

    def _stream_finish(self) -> Emissions:
        self.ended.update(self.queues)
        out = self._merge()
        right_by_key: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.right_null:
            right_by_key[tuple(row[i] for i in self.right_key)].append(row)
        matched: set[tuple[Any, ...]] = set()
        for row in self.left_null:
            key = tuple(row[i] for i in self.left_key)
            matches = right_by_key.get(key)
            if matches:
                matched.add(key)
                out.extend(self._join(row, m) for m in matches)
            elif self.join_type in (0, 1):
                out.append(self._join(row, None))
        if self.join_type == 0:
            for key, rows in right_by_key.items():
                if key not in matched:
                    out.extend(self._join(None, m) for m in rows)
        return self._emit(out)

    # ---- hash join (string keys)

    def process(self, inp: Input, batch: Batch) -> Emissions:
        if self.streaming:
            return self._stream_in(inp, batch)
        if inp is self.right_in:
            for row in batch.rows(self.right_ids):
                key = self._key(row, self.right_key)
                if key is None:
                    self.right_null.append(row)
                else:
                    self.right[key].append(row)
            return []
        rows = list(batch.rows(self.left_ids))
        if not self.right_done:
            self.left_rows.extend(rows)
            return []
        return self._emit(self._join_left(rows))

    def input_full(self, inp: Input) -> bool:
        if self.streaming:
            return len(self.queues[inp.id]) > 2 * self.ctx.buffer_rows
        return inp is self.left_in and not self.right_done and \
            len(self.left_rows) > 4 * self.ctx.buffer_rows

    def input_done(self, inp: Input) -> Emissions:
        if self.streaming:
            self.ended.add(inp.id)
            return self._emit(self._merge())
        if inp is self.right_in:
            self.right_done = True
            rows, self.left_rows = self.left_rows, []
            return self._emit(self._join_left(rows))
        return []

    def _join_left(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for row in rows:
            key = self._key(row, self.left_key)
            matches = self.right.get(key) if key is not None else None
            if matches:
                self.matched.add(key)  # type: ignore[arg-type]
                out.extend(self._join(row, m) for m in matches)
            elif self.join_type in (0, 1):
                out.append(self._join(row, None))
        return out

    def finish(self) -> Emissions:
        if self.streaming:
            return self._stream_finish()
        rows: list[tuple[Any, ...]] = []
        if self.left_rows:
            rows, self.left_rows = self._join_left(self.left_rows), []
        if self.join_type == 0:
            for key, matches in self.right.items():
                if key not in self.matched:
                    rows.extend(self._join(None, m) for m in matches)
            rows.extend(self._join(None, m) for m in self.right_null)
        return self._emit(rows)

    def _emit(self, rows: list[tuple[Any, ...]]) -> Emissions:
        if not rows:
            return []
        return [(self.output, b) for b in _chunked(Batch.from_rows(self.out_ids, rows),
                                                    self.ctx.buffer_rows)]


# --------------------------------------------------------------------------- Sort


class Sort(Component):
    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        super().__init__(meta, ctx)
        self.batches: list[Batch] = []

    def pre_execute(self) -> None:
        inp = self.input
        self.in_ids = [c.lineage_id for c in inp.columns]
        keys = []
        for index, col in enumerate(inp.columns):
            position = as_int(col.properties.get("NewSortKeyPosition"), 0)
            if position:
                fold = bool(as_int(col.properties.get("NewComparisonFlags"), 0) & 1)
                keys.append((abs(position), index, position < 0, fold))
        keys.sort()
        self.key = _Key([(i, d, f) for _, i, d, f in keys])
        self.unique = as_bool(self.ctx.property("EliminateDuplicates"), False)
        index_of = {lid: i for i, lid in enumerate(self.in_ids)}
        by_id = {c.id: c.lineage_id for c in inp.columns}
        self.picks: list[tuple[str, int]] = []
        for out_col in self.output.columns:
            ref = _resolve_output(out_col.properties.get("SortColumnId", ""))
            lineage = by_id.get(ref, ref)
            if lineage not in index_of:
                raise ComponentError(f"{self.meta.name}: the output column {out_col.name} "
                                     "reads no input column")
            self.picks.append((out_col.lineage_id, index_of[lineage]))

    def process(self, inp: Input, batch: Batch) -> Emissions:
        self.batches.append(batch)
        return []

    def finish(self) -> Emissions:
        rows: list[tuple[Any, ...]] = []
        for batch in self.batches:
            rows.extend(batch.rows(self.in_ids))
        self.batches = []
        rows = sort_rows(rows, self.key)
        if self.unique:
            unique: list[tuple[Any, ...]] = []
            for row in rows:
                if not unique or self.key.compare(unique[-1], row) != 0:
                    unique.append(row)
            rows = unique
        out_ids = [lid for lid, _ in self.picks]
        picked = [tuple(row[i] for _, i in self.picks) for row in rows]
        return [(self.output, b) for b in _chunked(Batch.from_rows(out_ids, picked),
                                                    self.ctx.buffer_rows)]


def sort_rows(rows: list[tuple[Any, ...]], key: _Key) -> list[tuple[Any, ...]]:
    """Stable sort, NULL first, each key ascending or descending."""
    for index, descending, fold in reversed(key.positions):
        def part(row: tuple[Any, ...], index: int = index, fold: bool = fold
                 ) -> tuple[bool, Any]:
            value = row[index]
            if fold and isinstance(value, str):
                value = value.lower()
            return _null_first(value)

        try:
            rows.sort(key=part, reverse=descending)
        except TypeError:
            rows.sort(key=functools.cmp_to_key(_Key([(index, descending, fold)]).compare))
    return rows


# --------------------------------------------------------------------------- Aggregate

GROUP_BY, COUNT, COUNT_ALL, COUNT_DISTINCT, SUM, AVG, MIN, MAX = range(8)


class Aggregate(Component):
    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        super().__init__(meta, ctx)
        self.groups: dict[tuple[Any, ...], list[Any]] = {}

    def pre_execute(self) -> None:
        inp = self.input
        self.plan: list[tuple[int, str | None, Any]] = []
        for col in self.output.columns:
            kind = as_int(col.properties.get("AggregationType"), GROUP_BY)
            ref = col.properties.get("AggregationColumnId", "")
            source = self.ctx.resolve(ref) if ref and kind != COUNT_ALL else None
            if source is not None:
                by_id = {c.id: c.lineage_id for c in inp.columns}
                source = by_id.get(source, source)
            self.plan.append((kind, source, col.type))
        self.out_ids = [c.lineage_id for c in self.output.columns]
        self.group_sources = [s for k, s, _ in self.plan if k == GROUP_BY and s]

    def process(self, inp: Input, batch: Batch) -> Emissions:
        key_cols = [batch.columns[s] for s in self.group_sources]
        agg_cols = [batch.columns[s] if s else None for _, s, _ in self.plan]
        for i in range(batch.length):
            key = tuple(c[i] for c in key_cols)
            state = self.groups.get(key)
            if state is None:
                state = [_initial(kind) for kind, _, _ in self.plan]
                self.groups[key] = state
            for k, (kind, _, _) in enumerate(self.plan):
                column = agg_cols[k]
                value = column[i] if column is not None else None
                state[k] = _step(kind, state[k], value)
        return []

    def finish(self) -> Emissions:
        if not self.groups and not self.group_sources:
            self.groups[()] = [_initial(kind) for kind, _, _ in self.plan]
        rows = []
        for key, state in self.groups.items():
            row = []
            key_iter = iter(key)
            for (kind, _, type_), value in zip(self.plan, state, strict=True):
                if kind == GROUP_BY:
                    row.append(next(key_iter, None))
                else:
                    row.append(dft.coerce(_final(kind, value), type_))
            rows.append(tuple(row))
        self.groups = {}
        return [(self.output, b) for b in _chunked(Batch.from_rows(self.out_ids, rows),
                                                    self.ctx.buffer_rows)]


def _initial(kind: int) -> Any:
    if kind in (COUNT, COUNT_ALL):
        return 0
    if kind == COUNT_DISTINCT:
        return set()
    if kind == AVG:
        return [None, 0]
    return None


def _step(kind: int, state: Any, value: Any) -> Any:
    if kind == COUNT_ALL:
        return state + 1
    if value is None:
        return state
    if kind == COUNT:
        return state + 1
    if kind == COUNT_DISTINCT:
        state.add(value)
        return state
    if kind == SUM:
        return value if state is None else state + value
    if kind == AVG:
        state[0] = value if state[0] is None else state[0] + value
        state[1] += 1
        return state
    if kind == MIN:
        return value if state is None or value < state else state
    if kind == MAX:
        return value if state is None or value > state else state
    return state


def _final(kind: int, state: Any) -> Any:
    if kind == COUNT_DISTINCT:
        return len(state)
    if kind == AVG:
        total, count = state
        if not count:
            return None
        if isinstance(total, Decimal):
            return total / count
        return total / count
    return state


# --------------------------------------------------------------------------- Unpivot


class Unpivot(Component):
    """Input columns with a DestinationColumn become rows: the value goes to the destination
    column, the PivotKeyValue to the output column marked PivotKey; other input columns
    pass through. NULL values produce no row."""

    def pre_execute(self) -> None:
        inp = self.input
        outputs_by_id = {c.id: c for c in self.output.columns}
        outputs_by_lineage = {c.lineage_id: c for c in self.output.columns}
        key_col = next((c for c in self.output.columns
                        if as_bool(c.properties.get("PivotKey"))), None)
        self.key_id = key_col.lineage_id if key_col else None
        self.pivots: list[tuple[str, str, str]] = []  # (input lineage, output lineage, key)
        passthrough_names: dict[str, str] = {}
        for col in inp.columns:
            dest = col.properties.get("DestinationColumn", "")
            if dest and dest not in ("-1", "0"):
                ref = _resolve_output(dest)
                target = outputs_by_id.get(ref) or outputs_by_lineage.get(ref)
                if target is None:
                    raise ComponentError(f"{self.meta.name}: DestinationColumn {dest} is not "
                                         "an output column")
                self.pivots.append((col.lineage_id, target.lineage_id,
                                    col.properties.get("PivotKeyValue", "")))
            else:
                passthrough_names[self.ctx.column_name(col).lower()] = col.lineage_id
        targets = {t for _, t, _ in self.pivots}
        self.passthrough = [(passthrough_names[c.name.lower()], c.lineage_id)
                            for c in self.output.columns
                            if c.lineage_id not in targets and c.lineage_id != self.key_id
                            and c.name.lower() in passthrough_names]
        self.out_ids = [c.lineage_id for c in self.output.columns]

    def process(self, inp: Input, batch: Batch) -> Emissions:
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for source, target, key in self.pivots:
            groups[key].append((source, target))
        rows: list[dict[str, Any]] = []
        for i in range(batch.length):
            base = {target: batch.columns[source][i] for source, target in self.passthrough}
            for key, pairs in groups.items():
                values = {target: batch.columns[source][i] for source, target in pairs}
                if all(v is None for v in values.values()):
                    continue
                row = dict(base)
                row.update(values)
                if self.key_id:
                    row[self.key_id] = key
                rows.append(row)
        columns = {lid: [r.get(lid) for r in rows] for lid in self.out_ids}
        return [(self.output, Batch(columns, len(rows)))]

