"""Batches of rows: what moves along a data-flow path (SSIS's pipeline buffers).

A :class:`Batch` is columnar: one Python list per column, keyed by the column's lineage ID,
all of the same length. Components never change a list they received; a synchronous
component that adds or replaces columns returns a new Batch sharing the untouched lists
(so Multicast can hand one batch to every output without copying).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress
from typing import Any


class Batch:
    __slots__ = ("columns", "length")

    def __init__(self, columns: dict[str, list[Any]], length: int) -> None:
        self.columns = columns
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

    def with_columns(self, extra: dict[str, list[Any]]) -> Batch:
        columns = dict(self.columns)
        columns.update(extra)
        return Batch(columns, self.length)

    def select(self, mask: Sequence[bool]) -> Batch:
        """The rows whose mask is true."""
        columns = {lid: list(compress(col, mask)) for lid, col in self.columns.items()}
        return Batch(columns, sum(1 for m in mask if m))

    def take(self, indexes: Sequence[int]) -> Batch:
        """The rows at these positions, in this order."""
        columns = {lid: [col[i] for i in indexes] for lid, col in self.columns.items()}
        return Batch(columns, len(indexes))

    def slice(self, start: int, stop: int) -> Batch:
        columns = {lid: col[start:stop] for lid, col in self.columns.items()}
        return Batch(columns, max(0, min(stop, self.length) - start))

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
