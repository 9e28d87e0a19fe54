"""The pipeline engine: runs the components of one data flow, moving batches along paths.

How rows move (one thread, bounded memory):

* Every source is a generator of batches of at most ``DefaultBufferMaxRows`` rows. The
  engine pulls one batch at a time from each source in turn (round robin) and pushes it
  depth first through the components downstream before pulling the next, so at most a few
  batches per path are alive at once.
* A component returns what it emits for each batch it receives: synchronous transforms
  (Derived Column, Conditional Split, Multicast ...) return their batches at once; blocking
  ones (Sort, Aggregate) keep rows until every input has ended; Merge and Merge Join emit as
  soon as both sorted inputs allow. A component may say one of its inputs is full
  (:meth:`Component.input_full`): the engine then stops pulling from the sources that feed
  that input until it drains (back-pressure), unless no other source can move.
* When a source is exhausted its outputs end; an input's end reaches its component
  (:meth:`Component.input_done`), and when all of a component's inputs have ended it
  finishes (:meth:`Component.finish`) and its own outputs end.
* Row counts are kept per path and reported at the end as information events, one per
  path (``"Path name": 1000 rows``, like dtexec's ``/Sum``), and one per destination
  (``"Flat File Destination" wrote 1000 rows.``).

A component that fails (an error row with FailComponent, a file that cannot be read, a
database error) stops the whole data flow: the engine reports the error with the
component's name and the task fails, as in SSIS.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.model import (
    FAIL,
    IGNORE,
    NOT_USED,
    REDIRECT,
    Input,
    InputColumn,
    Output,
    OutputColumn,
    Pipeline,
    PipelineComponent,
    column_reference,
)
from ssisrun.errors import SsisrunError
from ssisrun.expressions.types import SsisType

Emission = tuple[Output, Batch]
Emissions = list[Emission]

#: SSIS's error codes written into ErrorCode, and used in events
E_CONVERSION = -1071607694  # DTS_E_COMMANDSTATUSCODE: conversion failed (0xC0209072)
E_TRUNCATION = -1071607689  # 0xC0209077 data truncated
E_COMPUTATION = -1071607691  # 0xC0209075 expression evaluation failed
E_LOOKUP_NO_MATCH = -1071607778  # 0xC020901E row had no match in the lookup table
E_INSERT = -1071607767  # 0xC0209029 the component failed on a row
E_COMPONENT = 0xC0047062
I_ROWS_WRITTEN = 0x4004300B
I_PATH_ROWS = 0x4004300C


class ComponentError(SsisrunError):
    """A component cannot go on: the data flow stops and the task fails."""

    def __init__(self, message: str, code: int = E_COMPONENT) -> None:
        super().__init__(message)
        self.code = code


class TaskSide(Protocol):
    """What the engine needs from the task that runs it (a TaskContext in a package run)."""

    properties: dict[str, Any]
    cancelled: threading.Event

    def connection(self, ref: str) -> tuple[Any, str]: ...

    def map_path(self, path: str) -> str: ...

    def database(self, ref: str) -> Any: ...

    def variable_by_id(self, ref: str) -> Any: ...

    def error(self, code: int, description: str) -> None: ...

    def warning(self, code: int, description: str) -> None: ...

    def information(self, code: int, description: str) -> None: ...

    def get_variable(self, name: str) -> Any: ...

    def set_variable(self, name: str, value: Any) -> None: ...

    def variable_types(self) -> dict[str, SsisType]: ...

    def variable_values(self) -> Mapping[str, Any]: ...


class ComponentContext:
    """What one component sees: its settings after property expressions, its connections,
    variables and events (prefixed with the component's name)."""

    def __init__(self, run: PipelineRun, meta: PipelineComponent) -> None:
        self.run = run
        self.meta = meta
        self.task = run.task
        self.buffer_rows = run.pipeline.default_buffer_max_rows

    @property
    def cancelled(self) -> bool:
        return self.task.cancelled.is_set()

    def property(self, name: str, default: str = "") -> str:
        """A component property: its property expression's value
        (``[Component].[Property]`` on the Data Flow task) if it has one."""
        key = f"[{self.meta.name}].[{name}]"
        if key in self.task.properties:
            value = self.task.properties[key]
            return "" if value is None else str(value)
        return self.meta.get_property(name, default)

    def connection(self, name: str | None = None) -> tuple[Any, str]:
        conn = self.meta.connection(name)
        if conn is None or not conn.ref:
            raise ComponentError(f"{self.meta.name} has no connection manager")
        return self.task.connection(conn.ref)

    def map_path(self, path: str) -> str:
        return self.task.map_path(path)

    def get_variable(self, name: str) -> Any:
        return self.task.get_variable(name)

    def set_variable(self, name: str, value: Any) -> None:
        self.task.set_variable(name, value)

    def information(self, message: str, code: int = 0) -> None:
        self.task.information(code, f"{self.meta.name}: {message}")

    def warning(self, message: str, code: int = 0) -> None:
        self.task.warning(code, f"{self.meta.name}: {message}")

    # ---- columns

    def column(self, lineage_id: str) -> OutputColumn:
        col = self.run.pipeline.lineage.get(lineage_id)
        if col is None:
            raise ComponentError(f"{self.meta.name} reads the column {lineage_id}, which no "
                                 "output of this data flow has")
        return col

    def column_type(self, col: InputColumn) -> SsisType:
        upstream = self.run.pipeline.lineage.get(col.lineage_id)
        if upstream is not None:
            return upstream.type
        if col.cached_type is not None:
            return col.cached_type
        raise ComponentError(f"{self.meta.name}: the input column {col.name or col.id} reads "
                             f"a column ({col.lineage_id}) that no output has")

    def column_name(self, col: InputColumn) -> str:
        upstream = self.run.pipeline.lineage.get(col.lineage_id)
        return upstream.name if upstream is not None else col.name

    def resolve(self, reference: str) -> str:
        """A column reference in a property (``#{...}``, ``#12``, an input column's id or
        refId, a lineage id) -> the lineage id of the data it names."""
        ref = column_reference(reference)
        for inp in self.meta.inputs:
            for col in inp.columns:
                if ref in (col.id, col.lineage_id):
                    return col.lineage_id
        return ref

    def input_scope(self, inp: Input) -> tuple[dict[str, SsisType], dict[str, str]]:
        """The columns an expression over ``inp`` may name -> types, and -> lineage ids.
        Names are the upstream columns' names; ``#<lineage id>`` works too."""
        types: dict[str, SsisType] = {}
        lineage: dict[str, str] = {}
        for col in inp.columns:
            name = self.column_name(col)
            type_ = self.column_type(col)
            for key in (name, f"#{col.lineage_id}"):
                if key and key not in types:
                    types[key] = type_
                    lineage[key] = col.lineage_id
        return types, lineage


class Component:
    """Base of every component implementation (one class per component type).

    ``meta`` is the component's pipeline metadata, ``ctx`` its context. Sources implement
    :meth:`produce`; transforms and destinations :meth:`process` (and :meth:`finish` when
    they keep rows). Every method returns the batches to emit, as ``(output, batch)``."""

    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        self.meta = meta
        self.ctx = ctx
        #: rows a destination wrote (reported as "wrote N rows")
        self.rows_written: int | None = None
        self._redirects: dict[int, tuple[int, int]] = {}

    # ---- life cycle

    def pre_execute(self) -> None:
        """Open files and connections, compile expressions: before any row moves."""

    def produce(self) -> Iterator[Emission]:
        """A source's batches."""
        return iter(())

    def process(self, inp: Input, batch: Batch) -> Emissions:
        return []

    def input_done(self, inp: Input) -> Emissions:
        return []

    def finish(self) -> Emissions:
        return []

    def post_execute(self) -> None:
        """After the last row: write variables, commit."""

    def close(self) -> None:
        """Always called at the end, after success or failure: release resources."""

    def input_full(self, inp: Input) -> bool:
        return False

    # ---- helpers

    @property
    def output(self) -> Output:
        """The first non-error output."""
        outputs = self.meta.normal_outputs
        if not outputs:
            raise ComponentError(f"{self.meta.name} has no output")
        return outputs[0]

    @property
    def input(self) -> Input:
        if not self.meta.inputs:
            raise ComponentError(f"{self.meta.name} has no input")
        return self.meta.inputs[0]

    def row_error(self, row: int, disposition: str, code: int, column: str,
                  message: str) -> bool:
        """Handle an error on one cell: FailComponent raises, RedirectRow marks the row
        for the error output, IgnoreFailure does nothing. Returns True when the row is
        redirected."""
        if disposition in (FAIL, NOT_USED) or (disposition == REDIRECT
                                               and self.meta.error_output is None):
            raise ComponentError(f"{message} (column {column}, row {row + 1} of the batch)",
                                 code=code & 0xFFFFFFFF)
        if disposition == REDIRECT:
            if row not in self._redirects:
                self._redirects[row] = (code, _column_number(column))
            return True
        return False

    def split_errors(self, out: Output, batch: Batch, source: Batch | None = None
                     ) -> Emissions:
        """Emit ``batch`` on ``out``, less the redirected rows, which go (taken from
        ``source``, the batch as it came in, when given) to the error output with
        ErrorCode and ErrorColumn."""
        if not self._redirects:
            return [(out, batch)]
        redirects = self._redirects
        self._redirects = {}
        keep = [i not in redirects for i in range(batch.length)]
        emissions: Emissions = [(out, batch.select(keep))]
        error_out = self.meta.error_output
        if error_out is not None:
            emissions.append((error_out, self.error_batch(error_out, source or batch,
                                                          redirects)))
        return emissions

    def error_batch(self, error_out: Output, batch: Batch,
                    redirects: Mapping[int, tuple[int, int]]) -> Batch:
        rows = sorted(redirects)
        errors = batch.take(rows)
        extra: dict[str, list[Any]] = {}
        for col in error_out.columns:
            if col.special_flags == 1:
                extra[col.lineage_id] = [redirects[r][0] for r in rows]
            elif col.special_flags == 2:
                extra[col.lineage_id] = [redirects[r][1] for r in rows]
            elif col.lineage_id not in errors.columns:
                extra[col.lineage_id] = [None] * len(rows)
        return errors.with_columns(extra)


def _column_number(column: str) -> int:
    """ErrorColumn: the column's numeric id (v2/v3), else a stable number from its refId."""
    if column.isdigit():
        return int(column)
    import zlib

    return zlib.crc32(column.encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- the run


class PipelineRun:
    """One execution of a pipeline."""

    def __init__(self, pipeline: Pipeline, task: TaskSide, path: str = "") -> None:
        self.pipeline = pipeline
        self.task = task
        self.path = path
        self.instances: dict[str, Component] = {}
        self.owner_of_input: dict[str, tuple[Component, Input]] = {}
        self.path_of_output: dict[str, tuple[str, str]] = {}  # output id -> (path name, input)
        self.rows_on_path: dict[str, int] = {}
        self.remaining_inputs: dict[str, int] = {}

    def build(self) -> None:
        from ssisrun.dataflow.components import component_class

        inputs: dict[str, Input] = {}
        for meta in self.pipeline.components:
            cls = component_class(meta.component_type)
            if cls is None:
                raise ComponentError(f"the component {meta.name} ({meta.component_type}) "
                                     "cannot be run by this ssisrun yet")
            instance = cls(meta, ComponentContext(self, meta))
            self.instances[meta.id] = instance
            for inp in meta.inputs:
                inputs[inp.id] = inp
                self.owner_of_input[inp.id] = (instance, inp)
        outputs = {o.id for meta in self.pipeline.components for o in meta.outputs}
        attached: dict[str, int] = {}
        for path in self.pipeline.paths:
            if path.start_id not in outputs or path.end_id not in inputs:
                raise ComponentError(f"the path {path.name} joins an output or input that "
                                     f"does not exist ({path.start_id} -> {path.end_id})")
            self.path_of_output[path.start_id] = (path.name, path.end_id)
            self.rows_on_path[path.name] = 0
            owner, _ = self.owner_of_input[path.end_id]
            attached[owner.meta.id] = attached.get(owner.meta.id, 0) + 1
        for meta in self.pipeline.components:
            self.remaining_inputs[meta.id] = attached.get(meta.id, 0)

    # ---- moving rows

    def emit(self, emissions: Iterable[Emission]) -> None:
        for output, batch in emissions:
            if batch.length == 0:
                continue
            target = self.path_of_output.get(output.id)
            if target is None:
                continue
            name, input_id = target
            self.rows_on_path[name] += batch.length
            component, inp = self.owner_of_input[input_id]
            self.emit(self._guard(component, lambda c=component, i=inp, b=batch:
                                  c.process(i, b)))

    def end_outputs(self, component: Component) -> None:
        for output in component.meta.outputs:
            target = self.path_of_output.get(output.id)
            if target is None:
                continue
            downstream, inp = self.owner_of_input[target[1]]
            self.emit(self._guard(downstream, lambda d=downstream, i=inp: d.input_done(i)))
            self.remaining_inputs[downstream.meta.id] -= 1
            if self.remaining_inputs[downstream.meta.id] == 0:
                self.emit(self._guard(downstream, downstream.finish))
                self.end_outputs(downstream)

    def _reachable_inputs(self, start: Component) -> list[tuple[Component, Input]]:
        found: list[tuple[Component, Input]] = []
        seen: set[str] = set()
        todo = [start]
        while todo:
            comp = todo.pop()
            for output in comp.meta.outputs:
                target = self.path_of_output.get(output.id)
                if target is None or target[1] in seen:
                    continue
                seen.add(target[1])
                downstream, inp = self.owner_of_input[target[1]]
                found.append((downstream, inp))
                todo.append(downstream)
        return found

    def execute(self) -> None:
        """Run every component to the end; raise ComponentError when one fails."""
        self.build()
        instances = list(self.instances.values())
        try:
            for component in instances:
                self._guard(component, component.pre_execute)
            sources = [c for c in instances if not c.meta.inputs]
            idle = [c for c in instances
                    if c.meta.inputs and self.remaining_inputs[c.meta.id] == 0]
            for component in idle:  # transforms no path feeds: nothing will arrive
                self.emit(self._guard(component, component.finish))
                self.end_outputs(component)
            feeds = {id(s): self._reachable_inputs(s) for s in sources}
            running: list[tuple[Component, Iterator[Emission]]] = [
                (s, s.produce()) for s in sources]
            while running:
                if self.task.cancelled.is_set():
                    raise ComponentError("the data flow was cancelled")
                movable = [r for r in running
                           if not any(c.input_full(i) for c, i in feeds[id(r[0])])]
                for source, produced in movable or running[:1]:
                    try:
                        emission = self._guard(source, lambda p=produced: next(p))
                    except StopIteration:
                        running.remove((source, produced))
                        self.emit(self._guard(source, source.finish))
                        self.end_outputs(source)
                        continue
                    self.emit([emission])
            for component in instances:
                self._guard(component, component.post_execute)
        finally:
            for component in instances:
                try:
                    component.close()
                except Exception:  # noqa: BLE001 - closing must not hide the real error
                    pass
        self.report()

    def _guard(self, component: Component, action: Any) -> Any:
        try:
            return action()
        except (ComponentError, StopIteration):
            raise
        except SsisrunError as exc:
            raise ComponentError(f"{component.meta.name}: {exc}") from exc
        except OSError as exc:
            raise ComponentError(f"{component.meta.name}: {exc}") from exc
        except Exception as exc:  # a bug or an unexpected value: name the component
            raise ComponentError(f"{component.meta.name}: {type(exc).__name__}: {exc}"
                                 ) from exc

    def report(self) -> None:
        for name, count in self.rows_on_path.items():
            self.task.information(I_PATH_ROWS, f'"{name}": {count} rows')
        for component in self.instances.values():
            if component.rows_written is not None:
                self.task.information(I_ROWS_WRITTEN,
                                      f'"{component.meta.name}" wrote '
                                      f"{component.rows_written} rows.")


def lineage_ids(columns: Sequence[OutputColumn]) -> list[str]:
    return [c.lineage_id for c in columns]


__all__ = [
    "FAIL",
    "IGNORE",
    "NOT_USED",
    "REDIRECT",
    "Component",
    "ComponentContext",
    "ComponentError",
    "Emission",
    "Emissions",
    "PipelineRun",
    "TaskSide",
]
