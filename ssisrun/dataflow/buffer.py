"""Batches of rows: what moves along a data-flow path (SSIS's pipeline buffers).

A :class:`Batch` is columnar: one Python list per column, keyed by the column's lineage ID,
all of the same length. Components never change a list they received; a synchronous
component that adds or replaces columns returns a new Batch sharing the untouched lists
(so Multicast can hand one batch to every output without copying).

A column may also be a ``pyarrow.Array`` (see :mod:`.arrow`): :class:`Columns` hands it out
as a list the first time it is read by name, and keeps the list. Components that know
arrow read the column as it is with :meth:`Columns.raw`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress
from typing import Any

from ssisrun.dataflow import arrow


class Columns(dict[str, list[Any]]):
    """Lineage id -> column; arrow arrays become lists when read by name."""

    __slots__ = ()

    def __getitem__(self, key: str) -> list[Any]:
        value = dict.__getitem__(self, key)
        if type(value) is list:
            return value
        listed = arrow.to_list(value)
        dict.__setitem__(self, key, listed)
        return listed

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def values(self) -> Any:
        return [self[k] for k in self]

    def items(self) -> Any:
        return [(k, self[k]) for k in self]

    def raw(self, key: str) -> Any:
        """The column as it is held: a list or a pyarrow Array."""
        return dict.__getitem__(self, key)


class Batch:
    __slots__ = ("columns", "length")

    def __init__(self, columns: dict[str, Any], length: int) -> None:
        self.columns = columns if isinstance(columns, Columns) else Columns(columns)
        self.length = length

    @classmethod
    def from_rows(cls, lineage_ids: Sequence[str], rows: Sequence[Sequence[Any]]) -> Batch:
        if not rows:
            return cls({lid: [] for lid in lineage_ids}, 0)
        cols = list(zip(*rows, strict=True)) if lineage_ids else []
        return cls({lid: list(col) for lid, col in zip(lineage_ids, cols, strict=True)},
                   len(rows))

    @classmethod
    def empty(cls, lineage_ids: Iterable[str]) -> Batch:
        return cls({lid: [] for lid in lineage_ids}, 0)

    def rows(self, lineage_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows as tuples of the named columns (in that order)."""
        if not lineage_ids:
            return iter([()] * self.length)
        return zip(*(self.columns[lid] for lid in lineage_ids), strict=True)

    def with_columns(self, extra: dict[str, Any]) -> Batch:
        columns = Columns(self.columns)  # a dict copy: arrow columns stay unconverted
        dict.update(columns, extra)
        return Batch(columns, self.length)

    def _raw_items(self) -> Iterator[tuple[str, Any]]:
        raw = self.columns.raw
        return ((lid, raw(lid)) for lid in self.columns)

    def select(self, mask: Sequence[bool]) -> Batch:
        """The rows whose mask is true."""
        columns: dict[str, Any] = {}
        arrow_mask = None
        for lid, col in self._raw_items():
            if type(col) is list:
                columns[lid] = list(compress(col, mask))
            else:
                if arrow_mask is None:
                    arrow_mask = arrow.pa.array(mask, arrow.pa.bool_())
                columns[lid] = col.filter(arrow_mask)
        return Batch(columns, sum(1 for m in mask if m))

    def take(self, indexes: Sequence[int]) -> Batch:
        """The rows at these positions, in this order."""
        columns: dict[str, Any] = {}
        for lid, col in self._raw_items():
            columns[lid] = [col[i] for i in indexes] if type(col) is list \
                else col.take(arrow.pa.array(indexes, arrow.pa.int64()))
        return Batch(columns, len(indexes))

    def slice(self, start: int, stop: int) -> Batch:
        stop = min(stop, self.length)
        columns: dict[str, Any] = {}
        for lid, col in self._raw_items():
            columns[lid] = col[start:stop] if type(col) is list \
                else col.slice(start, max(0, stop - start))
        return Batch(columns, max(0, stop - start))

    @staticmethod
    def concat(batches: Sequence[Batch], lineage_ids: Sequence[str]) -> Batch:
        columns: dict[str, list[Any]] = {lid: [] for lid in lineage_ids}
        total = 0
        for batch in batches:
            total += batch.length
            for lid in lineage_ids:
                columns[lid].extend(batch.columns[lid])
        return Batch(columns, total)


def chunks(lineage_ids: Sequence[str], rows: Iterable[Sequence[Any]],
           size: int) -> Iterator[Batch]:
    """Rows (tuples) grouped into batches of at most ``size`` rows."""
    pending: list[Sequence[Any]] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= size:
            yield Batch.from_rows(lineage_ids, pending)
            pending = []
    if pending:
        yield Batch.from_rows(lineage_ids, pending)
