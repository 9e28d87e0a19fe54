"""The Cache Transform and the Cache connection manager's data, for Lookups from a cache.

A Cache Transform writes its input rows into the cache of its CACHE connection manager:
each input column goes to the cache column named by its ``CacheColumnName`` property (else
its own name). The cache lives in memory for the rest of the package's run (SSIS's in-memory
cache), so a Lookup with ``ConnectionType`` 1 in a later data flow of the same run reads it.
SSIS's cache files (``.caw``, ``UseFile``) are in a format of SSIS's own, which ssisrun
neither reads nor writes: a Lookup from a cache that no Cache Transform filled in this run
fails and says so. A Cache Transform run again replaces the cache. A Lookup keeps the first
row of duplicate keys (with a warning).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import Component, ComponentError, Emissions
from ssisrun.dataflow.model import Input


@dataclass
class CacheData:
    """The rows of one Cache connection manager: column names (lower case) and rows."""

    names: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


#: the caches of each run (keyed by the package run's engine, else by the task side)
_CACHES: weakref.WeakKeyDictionary[Any, dict[str, CacheData]] = weakref.WeakKeyDictionary()


def _run_key(component: Component) -> Any:
    task = component.ctx.task
    return getattr(getattr(task, "ctx", None), "engine", None) or task


def _cache_id(component: Component) -> tuple[str, Any]:
    cm, _ = component.ctx.connection()
    return (getattr(cm, "dtsid", "") or cm.name).lower(), cm


def cache_of(component: Component) -> CacheData:
    """The cache the component's Cache connection manager holds in this run."""
    key, cm = _cache_id(component)
    found = _CACHES.get(_run_key(component), {}).get(key)
    if found is None:
        raise ComponentError(
            f"{component.meta.name}: the cache connection manager {cm.name} holds no rows: "
            "no Cache Transform filled it earlier in this run (ssisrun keeps caches in "
            "memory and cannot read SSIS's .caw cache files)")
    return found


class CacheTransform(Component):
    def pre_execute(self) -> None:
        self.key, self.cm = _cache_id(self)
        self.columns: list[tuple[str, str]] = []  # (cache column, lineage id)
        for col in self.input.columns:
            name = col.properties.get("CacheColumnName") or self.ctx.column_name(col)
            self.columns.append((name.lower(), col.lineage_id))
        self.data = CacheData([name for name, _ in self.columns])
        self.rows_written = 0

    def process(self, inp: Input, batch: Batch) -> Emissions:
        self.data.rows.extend(batch.rows([lid for _, lid in self.columns]))
        assert self.rows_written is not None
        self.rows_written += batch.length
        return []

    def post_execute(self) -> None:
        _CACHES.setdefault(_run_key(self), {})[self.key] = self.data
