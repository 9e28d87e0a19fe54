"""The Script Component, in Python (source, transformation or destination).

SSIS's Script Component holds C# or Visual Basic. ssisrun runs a Python replacement per
component, found like a Script Task's (:mod:`ssisrun.tasks.script`, whose resolution it
reuses): ``--script '\\Package\\Load rows\\Fix names=fix_names.py'`` (the component's path is
its Data Flow task's path, then its name), else the sidecar file
``<package stem>.scripts/Load rows_Fix names.py`` beside the package. Without one the
component fails, and ``ssisrun validate`` lists it, with both ways to give one.

The file defines a class (``ScriptMain``, or the first class with any of the methods below)
shaped like the code SSIS generates, in Python::

    class ScriptMain:
        def PreExecute(self):                 # before the first row
            self.seen = 0

        def Input0_ProcessInputRow(self, Row):  # or ProcessInputRow(self, Row)
            Row.Name = Row.Name.strip()        # ReadWrite input columns are writable
            Row.Length = len(Row.Name)         # so are the columns of synchronous outputs
            if Row.Amount_IsNull:
                Row.DirectRowToRejected()      # outputs with an exclusion group
            else:
                Row.DirectRowToGood()
            self.Output1Buffer.AddRow()        # an asynchronous output ("Output 1")
            self.Output1Buffer.Name = Row.Name

        def CreateNewOutputRows(self):         # a source: add rows to its outputs
            self.Output0Buffer.AddRow()
            self.Output0Buffer.Id = 1

        def PostExecute(self):                 # after the last row
            self.Variables.RowTotal = self.seen   # ReadWriteVariables only

Column and output names are SSIS's: spaces and other characters that cannot be in an
identifier are left out (``Customer Name`` -> ``Row.CustomerName``, output ``Output 1``
-> ``self.Output1Buffer``); ``Row["Customer Name"]`` works too. A NULL is ``None``;
``Row.X_IsNull`` says whether X is NULL and ``Row.X_IsNull = True`` sets it to NULL.
``self.Variables.Name`` (or ``self.Variables["User::Name"]``) reads the variables the
component lists in ReadOnlyVariables / ReadWriteVariables, and only those; writing a
read-only one fails. ``self.ComponentMetaData.FireInformation(0, "sub", "text", "", 0,
False)`` (also FireWarning, FireError) reports events. Without an exclusion group every
row goes to every synchronous output; with one, only where ``DirectRowTo<Output>()`` sends
it. An exception in the script fails the component with the script's line.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import Component, ComponentError, Emission, Emissions
from ssisrun.dataflow.model import Input, Output, OutputColumn

_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")
_METHODS = ("ProcessInputRow", "CreateNewOutputRows", "PreExecute", "PostExecute")


def identifier(name: str) -> str:
    """SSIS's generated name for a column or output: ``Output 1`` -> ``Output1``."""
    return _NOT_IDENTIFIER.sub("", name)


# --------------------------------------------------------------------------- finding the code


def component_path(task_path: str, name: str) -> str:
    return f"{task_path}\\{name}"


def find_component_script(package: Any, path: str, scripts: Mapping[str, str],
                          top: bool = True) -> tuple[str, str] | None:
    """The Python replacement of the component at ``path`` as (text, file name), from
    ``--script`` or the sidecar folder; None when there is none."""
    from ssisrun.tasks.script import override_key, sidecar_folder, sidecar_name

    key = override_key(package, path, scripts, top)
    if key is not None:
        file = Path(scripts[key]).expanduser()
        try:
            return file.read_text(encoding="utf-8-sig"), str(file)
        except OSError as exc:
            raise ComponentError(f"--script {key}: cannot read {file}: "
                                 f"{exc.strerror or exc}") from None
    folder = sidecar_folder(package)
    if folder is not None:
        file = folder / sidecar_name(path)
        if file.is_file():
            return file.read_text(encoding="utf-8-sig"), str(file)
    return None


def missing_message(package: Any, path: str, language: str = "") -> str:
    from ssisrun.tasks.script import sidecar_folder, sidecar_name

    folder = sidecar_folder(package)
    where = str(folder / sidecar_name(path)) if folder else sidecar_name(path)
    lang = {"CSharp": "C#", "microsoft csharp": "C#", "VisualBasic": "Visual Basic",
            "microsoft visualbasic": "Visual Basic"}.get(language, language or "C#")
    return (f"no Python replacement for the {lang} Script Component {path}; give --script "
            f"'{path}=file.py' or put file.py in the sidecar folder as {where}")


def check_script_component(package: Any, path: str, scripts: Mapping[str, str]
                           ) -> str | None:
    """A message when the Script Component cannot run (for ``ssisrun validate``)."""
    try:
        found = find_component_script(package, path, scripts)
    except ComponentError as exc:
        return str(exc)
    if found is None:
        return missing_message(package, path)
    try:
        compile(found[0], found[1], "exec")
    except SyntaxError as exc:
        return f"{found[1]}:{exc.lineno}: the script does not compile: {exc.msg}"
    return None


# --------------------------------------------------------------------------- the objects


class ScriptVariables:
    """``self.Variables``: the listed variables by name (``.Name`` or ``["User::Name"]``)."""

    def __init__(self, component: Component, read_only: list[str],
                 read_write: list[str]) -> None:
        object.__setattr__(self, "_component", component)
        names: dict[str, tuple[str, bool]] = {}
        for listed, writable in ((read_only, False), (read_write, True)):
            for name in listed:
                short = name.rpartition("::")[2]
                for key in (name, short, name.lower(), short.lower()):
                    names.setdefault(key, (name if "::" in name else f"User::{name}",
                                           writable))
        object.__setattr__(self, "_names", names)

    def _find(self, name: str) -> tuple[str, bool]:
        names: dict[str, tuple[str, bool]] = object.__getattribute__(self, "_names")
        found = names.get(name) or names.get(name.lower())
        if found is None:
            raise ComponentError(f"the script reads the variable {name}, which the component "
                                 "does not list in ReadOnlyVariables or ReadWriteVariables")
        return found

    def __getattr__(self, name: str) -> Any:
        qualified, _ = self._find(name)
        component: Component = object.__getattribute__(self, "_component")
        return component.ctx.get_variable(qualified)

    def __setattr__(self, name: str, value: Any) -> None:
        qualified, writable = self._find(name)
        if not writable:
            raise ComponentError(f"the variable {qualified} is read-only for the script "
                                 "(list it in ReadWriteVariables)")
        component: Component = object.__getattribute__(self, "_component")
        component.ctx.set_variable(qualified, value)

    __getitem__ = __getattr__
    __setitem__ = __setattr__


class ComponentMetaData:
    """``self.ComponentMetaData``: events, named after the component."""

    def __init__(self, component: ScriptComponent) -> None:
        self._component = component

    def FireInformation(self, code: int, sub: str, text: str, *_: Any) -> None:
        self._component.ctx.information(text, code)

    def FireWarning(self, code: int, sub: str, text: str, *_: Any) -> None:
        self._component.ctx.warning(text, code)

    def FireError(self, code: int, sub: str, text: str, *_: Any) -> None:
        self._component.ctx.task.error(code, f"{self._component.meta.name}: {text}")
        self._component.script_errors += 1


class _Columns:
    """Column names as the script writes them -> (lineage id, column, writable)."""

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[str, Any, bool]] = {}

    def add(self, name: str, lineage: str, column: Any, writable: bool) -> None:
        for key in (name, identifier(name), name.lower(), identifier(name).lower()):
            self.by_name.setdefault(key, (lineage, column, writable))

    def find(self, name: str) -> tuple[str, Any, bool]:
        found = self.by_name.get(name) or self.by_name.get(name.lower())
        if found is None:
            raise AttributeError(f"no column {name}")
        return found


class OutputBuffer:
    """``self.<Output>Buffer`` of an asynchronous output: ``AddRow()``, then the new row's
    columns by name."""

    def __init__(self, output: Output) -> None:
        cols = _Columns()
        for col in output.columns:
            cols.add(col.name, col.lineage_id, col, True)
        object.__setattr__(self, "_cols", cols)
        object.__setattr__(self, "_output", output)
        object.__setattr__(self, "_rows", [])

    def AddRow(self) -> None:
        rows: list[dict[str, Any]] = object.__getattribute__(self, "_rows")
        rows.append({})

    def SetEndOfRowset(self) -> None:
        """Nothing to do: the output ends when the component finishes."""

    def _current(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = object.__getattribute__(self, "_rows")
        if not rows:
            raise ComponentError("the script sets a column of an output buffer before "
                                 "calling AddRow()")
        return rows[-1]

    def __getattr__(self, name: str) -> Any:
        cols: _Columns = object.__getattribute__(self, "_cols")
        if name.endswith("_IsNull"):
            lineage, _, _ = cols.find(name[:-7])
            return self._current().get(lineage) is None
        lineage, _, _ = cols.find(name)
        return self._current().get(lineage)

    def __setattr__(self, name: str, value: Any) -> None:
        cols: _Columns = object.__getattribute__(self, "_cols")
        if name.endswith("_IsNull"):
            lineage, _, _ = cols.find(name[:-7])
            if value:
                self._current()[lineage] = None
            return
        lineage, col, _ = cols.find(name)
        self._current()[lineage] = _coerce(value, col)

    __getitem__ = __getattr__
    __setitem__ = __setattr__

    def take(self) -> Batch | None:
        rows: list[dict[str, Any]] = object.__getattribute__(self, "_rows")
        if not rows:
            return None
        output: Output = object.__getattribute__(self, "_output")
        object.__setattr__(self, "_rows", [])
        columns = {c.lineage_id: [r.get(c.lineage_id) for r in rows] for c in output.columns}
        return Batch(columns, len(rows))


class ScriptRow:
    """``Row`` in ProcessInputRow: the current row's columns by name."""

    def __init__(self, cols: _Columns, values: dict[str, list[Any]],
                 directs: dict[str, int]) -> None:
        object.__setattr__(self, "_cols", cols)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_directs", directs)
        object.__setattr__(self, "_i", 0)
        object.__setattr__(self, "directed", set())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("DirectRowTo"):
            directs: dict[str, int] = object.__getattribute__(self, "_directs")
            target = name[len("DirectRowTo"):]
            index = directs.get(target, directs.get(target.lower()))
            if index is None:
                raise AttributeError(f"no output {target} to direct rows to")
            directed: set[int] = object.__getattribute__(self, "directed")
            return lambda: directed.add(index)
        cols: _Columns = object.__getattribute__(self, "_cols")
        values: dict[str, list[Any]] = object.__getattribute__(self, "_values")
        i: int = object.__getattribute__(self, "_i")
        if name.endswith("_IsNull"):
            lineage, _, _ = cols.find(name[:-7])
            return values[lineage][i] is None
        lineage, _, _ = cols.find(name)
        return values[lineage][i]

    def __setattr__(self, name: str, value: Any) -> None:
        cols: _Columns = object.__getattribute__(self, "_cols")
        values: dict[str, list[Any]] = object.__getattribute__(self, "_values")
        i: int = object.__getattribute__(self, "_i")
        null = name.endswith("_IsNull")
        lineage, col, writable = cols.find(name[:-7] if null else name)
        if not writable:
            raise ComponentError(f"the column {name} is read-only for the script (make it "
                                 "ReadWrite)")
        if null:
            if value:
                values[lineage][i] = None
            return
        values[lineage][i] = _coerce(value, col)

    __getitem__ = __getattr__
    __setitem__ = __setattr__


def _coerce(value: Any, col: Any) -> Any:
    type_ = col.type if isinstance(col, OutputColumn) else col
    return dft.coerce(value, type_) if value is not None and type_ is not None else value


# --------------------------------------------------------------------------- the component


class ScriptComponent(Component):
    def pre_execute(self) -> None:
        task = self.ctx.task
        task_ctx = getattr(task, "ctx", None)
        engine = getattr(task_ctx, "engine", None)
        package = getattr(engine, "package", None)
        request = getattr(engine, "request", None)
        scripts: Mapping[str, str] = getattr(request, "scripts", None) or {}
        top = getattr(engine, "parent_scope", None) is None
        self.path = component_path(self.ctx.run.path or "\\Package", self.meta.name)
        self.script_errors = 0
        found = find_component_script(package, self.path, scripts, top) \
            if package is not None else None
        if found is None:
            raise ComponentError(missing_message(package, self.path,
                                                 self.ctx.property("ScriptLanguage")))
        text, self.filename = found
        namespace: dict[str, Any] = {"__name__": "ssisrun_script_component",
                                     "__file__": self.filename}
        try:
            exec(compile(text, self.filename, "exec"), namespace)  # the user's script
        except SyntaxError as exc:
            raise ComponentError(f"{self.filename}:{exc.lineno}: the script does not "
                                 f"compile: {exc.msg}") from None
        except Exception as exc:  # noqa: BLE001
            raise self._failed(exc) from None
        cls = namespace.get("ScriptMain")
        if not isinstance(cls, type):
            cls = next((v for v in namespace.values() if isinstance(v, type)
                        and v.__module__ == "ssisrun_script_component"
                        and any(m in dir(v) or any(a.endswith(m) for a in dir(v))
                                for m in _METHODS)), None)
        if cls is None:
            raise ComponentError(f"{self.filename} defines no class ScriptMain (with "
                                 "PreExecute, ProcessInputRow, CreateNewOutputRows ...)")
        self.script = self._call(cls)
        self.script.Variables = ScriptVariables(
            self, _names(self.ctx.property("ReadOnlyVariables")),
            _names(self.ctx.property("ReadWriteVariables")))
        self.script.ComponentMetaData = ComponentMetaData(self)
        self.async_buffers: list[tuple[Output, OutputBuffer]] = []
        for out in self.meta.normal_outputs:
            if not out.synchronous_input_id:
                buffer = OutputBuffer(out)
                self.async_buffers.append((out, buffer))
                setattr(self.script, f"{identifier(out.name)}Buffer", buffer)
        self._rows_by_input: dict[str, tuple[_Columns, list[Output], dict[str, int]]] = {}
        for inp in self.meta.inputs:
            self._rows_by_input[inp.id] = self._plan(inp)
        self._hook("PreExecute")

    def _plan(self, inp: Input) -> tuple[_Columns, list[Output], dict[str, int]]:
        cols = _Columns()
        for col in inp.columns:
            cols.add(self.ctx.column_name(col), col.lineage_id, self.ctx.column_type(col),
                     col.usage_type.lower() == "readwrite")
        sync = [o for o in self.meta.normal_outputs if o.synchronous_input_id == inp.id]
        for out in sync:
            for out_col in out.columns:
                cols.add(out_col.name, out_col.lineage_id, out_col, True)
        directs = {}
        for i, out in enumerate(sync):
            directs[identifier(out.name)] = i
            directs[identifier(out.name).lower()] = i
        return cols, sync, directs

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ComponentError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code
            raise self._failed(exc) from None

    def _failed(self, exc: BaseException) -> ComponentError:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename == self.filename]
        where = f"{self.filename}:{frames[-1].lineno}" if frames else self.filename
        return ComponentError(f"the script failed at {where}: {type(exc).__name__}: {exc}")

    def _hook(self, name: str) -> None:
        method = getattr(self.script, name, None)
        if callable(method):
            self._call(method)

    def _async(self) -> Emissions:
        emissions: Emissions = []
        for out, buffer in self.async_buffers:
            batch = buffer.take()
            if batch is not None:
                emissions.append((out, batch))
        return emissions

    def produce(self) -> Iterator[Emission]:
        self._hook("CreateNewOutputRows")
        for out, batch in self._async():
            size = self.ctx.buffer_rows
            for start in range(0, batch.length, size):
                yield out, batch.slice(start, start + size)

    def process(self, inp: Input, batch: Batch) -> Emissions:
        cols, sync, directs = self._rows_by_input[inp.id]
        method = getattr(self.script, f"{identifier(inp.name)}_ProcessInputRow", None) \
            or getattr(self.script, "ProcessInputRow", None)
        values: dict[str, list[Any]] = {}
        for lineage, _, writable in cols.by_name.values():
            if lineage not in values:
                values[lineage] = list(batch.columns[lineage]) if writable and \
                    lineage in batch.columns else (batch.columns[lineage]
                                                   if lineage in batch.columns
                                                   else [None] * batch.length)
        grouped = any(o.exclusion_group for o in sync)
        row = ScriptRow(cols, values, directs)
        targets: list[list[int]] = [[] for _ in sync]
        for i in range(batch.length):
            object.__setattr__(row, "_i", i)
            row.directed.clear()
            if method is not None:
                self._call(method, row)
            if grouped:
                for index in row.directed:
                    targets[index].append(i)
        emissions: Emissions = []
        if sync:
            new = batch.with_columns(values)
            for index, out in enumerate(sync):
                emissions.append((out, new.take(targets[index]) if grouped else new))
        emissions.extend(self._async())
        return emissions

    def finish(self) -> Emissions:
        if self.meta.inputs:
            method = getattr(self.script, "FinishOutputs", None)
            if callable(method):
                self._call(method)
        self._hook("PostExecute")
        if self.script_errors:
            raise ComponentError(f"the script reported {self.script_errors} error(s)")
        return self._async()


def _names(text: str) -> list[str]:
    return [n.strip() for n in re.split(r"[,;]", text or "") if n.strip()]
