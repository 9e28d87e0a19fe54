"""Row-by-row (synchronous) transforms and in-memory destinations: Derived Column, Data
Conversion, Conditional Split, Row Count, Multicast, Copy Column, Character Map, Audit and
Recordset Destination.

Derived Column and Conditional Split compile each SSIS expression once (before the first
row), with the input's columns typed by their DT_ types (``FriendlyExpression``, which
names columns; else ``Expression``, which names them by lineage id), and evaluate it for
every row of each batch. Variables are read once, when the data flow starts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from ssisrun.dataflow import arrow
from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import (
    E_COMPUTATION,
    E_CONVERSION,
    E_TRUNCATION,
    Component,
    ComponentContext,
    ComponentError,
    Emissions,
)
from ssisrun.dataflow.model import FAIL, NOT_USED, Input, Output, PipelineComponent, as_int
from ssisrun.dataflow.vectorised import Fallback, vectorise
from ssisrun.errors import ExpressionError
from ssisrun.expressions import CompiledExpression, ExpressionScope, compile_expression
from ssisrun.expressions.types import DataType, SsisType

D = DataType

_LINEAGE_REF = re.compile(r"#\{([^}]*)\}")
_BRACKETED_FUNCTION = re.compile(r"\[([A-Za-z]+)\]\s*\(")


def _disposition(value: str) -> str:
    return FAIL if value == NOT_USED else value


class _Expression:
    """One compiled expression over an input's columns, evaluated for a whole batch."""

    def __init__(self, ctx: ComponentContext, inp: Input, props: Mapping[str, str],
                 where: str, *, boolean: bool = False) -> None:
        types, self.lineage = ctx.input_scope(inp)
        scope = ExpressionScope(variables=ctx.task.variable_types(), columns=types)
        friendly = props.get("FriendlyExpression", "")
        raw = props.get("Expression", "")
        candidates = [text for text in (friendly, self._readable(ctx, raw)) if text]
        if not candidates:
            raise ComponentError(f"{where} has no expression")
        error: ExpressionError | None = None
        compiled: CompiledExpression | None = None
        for text in candidates:
            try:
                compiled = compile_expression(text, scope, boolean=boolean,
                                              executable=ctx.run.path, property=where)
                break
            except ExpressionError as exc:
                error = error or exc
        if compiled is None:
            assert error is not None
            raise ComponentError(f"{where}: {error}")
        self.compiled = compiled
        values = ctx.task.variable_values()
        self.variables = {name: values[name] for name in compiled.variables}
        self.refs = [(name, self.lineage[name]) for name in sorted(compiled.columns)]
        self.vector = vectorise(compiled.text, types, self.lineage, compiled.result_type) \
            if compiled.columns and not compiled.variables else None

    def evaluate_arrow(self, batch: Batch) -> Any:
        """The whole batch at once (an arrow array), or None: evaluate row by row."""
        if self.vector is None:
            return None
        raw = batch.columns.raw
        if not all(arrow.is_array(raw(lid)) for _, lid in self.refs):
            return None
        try:
            result = self.vector(raw)
        except Fallback:
            return None
        return result if arrow.is_array(result) and len(result) == batch.length else None

    @staticmethod
    def _readable(ctx: ComponentContext, text: str) -> str:
        """``Expression`` as written by v6/v8 (``#{lineage}``, ``[UPPER](``) made
        compilable: lineage references become the columns' names."""
        if not text:
            return ""

        def name(match: re.Match[str]) -> str:
            col = ctx.run.pipeline.lineage.get(match.group(1))
            return f"[{col.name}]" if col is not None else match.group(0)

        return _BRACKETED_FUNCTION.sub(r"\1(", _LINEAGE_REF.sub(name, text))

    @property
    def result_type(self) -> SsisType:
        return self.compiled.result_type

    def evaluate(self, batch: Batch, on_error: Callable[[int, ExpressionError], Any]
                 ) -> list[Any]:
        n = batch.length
        fn = self.compiled.evaluate
        values: dict[str, Any] = dict(self.variables)
        refs = [(name, batch.columns[lid]) for name, lid in self.refs]
        out: list[Any] = [None] * n
        if not refs:
            for i in range(n):
                try:
                    out[i] = fn(values)
                except ExpressionError as exc:
                    out[i] = on_error(i, exc)
            return out
        if len(refs) == 1:
            name, column = refs[0]
            for i, value in enumerate(column):
                values[name] = value
                try:
                    out[i] = fn(values)
                except ExpressionError as exc:
                    out[i] = on_error(i, exc)
            return out
        for i in range(n):
            for name, column in refs:
                values[name] = column[i]
            try:
                out[i] = fn(values)
            except ExpressionError as exc:
                out[i] = on_error(i, exc)
        return out


# --------------------------------------------------------------------------- Derived Column


class DerivedColumn(Component):
    """New columns (output columns with an Expression) and replaced ones (read-write input
    columns with an Expression), all computed from the row as it came in."""

    def pre_execute(self) -> None:
        inp = self.input
        self.targets: list[tuple[str, str, SsisType, _Expression, Any, str, str]] = []
        #: the length checks of string targets (the vectorised path checks them itself)
        self._checks: dict[str, Any] = {}
        where = f"[{self.meta.name}]"
        for col in self.output.columns:
            if "Expression" in col.properties or "FriendlyExpression" in col.properties:
                expr = _Expression(self.ctx, inp, col.properties, f"{where}.[{col.name}]")
                self.targets.append(self._target(col.lineage_id, col.name, col.type, expr,
                                                 col.error_row_disposition,
                                                 col.truncation_row_disposition))
        for in_col in inp.columns:
            if in_col.usage_type.lower() == "readwrite" and (
                    "Expression" in in_col.properties
                    or "FriendlyExpression" in in_col.properties):
                name = self.ctx.column_name(in_col)
                expr = _Expression(self.ctx, inp, in_col.properties, f"{where}.[{name}]")
                self.targets.append(self._target(in_col.lineage_id, name,
                                                 self.ctx.column_type(in_col), expr,
                                                 in_col.error_row_disposition,
                                                 in_col.truncation_row_disposition))

    def _target(self, lineage: str, name: str, type_: SsisType, expr: _Expression,
                error: str, truncation: str) -> tuple[str, str, SsisType, _Expression, Any,
                                                      str, str]:
        convert = None
        if expr.result_type != type_ and not expr.result_type.is_unknown:
            try:
                convert = dft.converter(expr.result_type, type_)
            except ValueError as exc:
                raise ComponentError(f"[{self.meta.name}].[{name}]: the expression gives "
                                     f"{expr.result_type}: {exc}") from None
        elif type_.dtype in (D.DT_STR, D.DT_WSTR) and type_.length:
            limit = type_.length

            def check(value: Any) -> Any:
                if len(value) > limit:
                    raise dft.Truncation(f"{len(value)} characters do not fit {type_}")
                return value

            convert = check
            self._checks[lineage] = check
        return (lineage, name, type_, expr, convert, _disposition(error),
                _disposition(truncation))

    def process(self, inp: Input, batch: Batch) -> Emissions:
        new: dict[str, Any] = {}
        for lineage, name, _type, expr, convert, error, truncation in self.targets:
            if convert is None or convert is self._checks.get(lineage):
                vector = expr.evaluate_arrow(batch)
                if vector is not None and _fits(vector, _type):
                    new[lineage] = vector
                    continue

            def failed(i: int, exc: ExpressionError, name: str = name,
                       error: str = error, lineage: str = lineage) -> Any:
                self.row_error(i, error, E_COMPUTATION, lineage,
                               f"the expression for {name} failed: {exc.message}")
                return None

            values = expr.evaluate(batch, failed)
            if convert is not None:
                for i, value in enumerate(values):
                    if value is None:
                        continue
                    try:
                        values[i] = convert(value)
                    except dft.Truncation as exc:
                        self.row_error(i, truncation, E_TRUNCATION, lineage,
                                       f"the value of {name} was truncated: {exc}")
                        values[i] = value[: _type.length] if isinstance(value, str) else None
                    except Exception as exc:  # noqa: BLE001 - any conversion failure
                        self.row_error(i, error, E_CONVERSION, lineage,
                                       f"the value of {name} cannot be converted: {exc}")
                        values[i] = None
            new[lineage] = values
        return self.split_errors(self.output, batch.with_columns(new), batch)


def _fits(vector: Any, type_: SsisType) -> bool:
    """Whether a vectorised result needs no truncation check beyond what it has."""
    if type_.dtype in (D.DT_STR, D.DT_WSTR) and type_.length and len(vector):
        longest = arrow.pc.max(arrow.pc.utf8_length(vector)).as_py()
        return longest is None or longest <= type_.length
    return True


# --------------------------------------------------------------------------- Data Conversion


class DataConversion(Component):
    def pre_execute(self) -> None:
        inp = self.input
        by_lineage = {c.lineage_id: c for c in inp.columns}
        self.plan: list[tuple[str, str, str, Any, str, str]] = []
        for col in self.output.columns:
            source = col.properties.get("SourceInputColumnLineageID", "")
            if not source:
                continue
            lineage = self.ctx.resolve(source)
            in_col = by_lineage.get(lineage)
            src_type = (self.ctx.column_type(in_col) if in_col is not None
                        else self.ctx.column(lineage).type)
            try:
                convert = dft.converter(src_type, col.type)
            except ValueError as exc:
                raise ComponentError(f"[{self.meta.name}].[{col.name}]: {exc}") from None
            self.plan.append((lineage, col.lineage_id, col.name, convert,
                              _disposition(col.error_row_disposition),
                              _disposition(col.truncation_row_disposition)))

    def process(self, inp: Input, batch: Batch) -> Emissions:
        new: dict[str, list[Any]] = {}
        for source, target, name, convert, error, truncation in self.plan:
            column = batch.columns[source]
            try:
                new[target] = [None if v is None else convert(v) for v in column]
                continue
            except Exception:  # noqa: BLE001 - find the failing rows one by one
                pass
            values: list[Any] = []
            for i, value in enumerate(column):
                if value is None:
                    values.append(None)
                    continue
                try:
                    values.append(convert(value))
                except dft.Truncation as exc:
                    self.row_error(i, truncation, E_TRUNCATION, target,
                                   f"converting {name}: {exc}")
                    values.append(None)
                except Exception as exc:  # noqa: BLE001
                    self.row_error(i, error, E_CONVERSION, target,
                                   f"the value {value!r} cannot be converted to {name}: {exc}")
                    values.append(None)
            new[target] = values
        return self.split_errors(self.output, batch.with_columns(new), batch)


# --------------------------------------------------------------------------- Conditional Split


class ConditionalSplit(Component):
    """Each row goes to the first output (in EvaluationOrder) whose condition is TRUE, else
    to the default output. A NULL condition counts as FALSE."""

    def pre_execute(self) -> None:
        inp = self.input
        cases = [o for o in self.meta.normal_outputs
                 if not _is_true(o.properties.get("IsDefaultOut"))
                 and (o.properties.get("Expression") or o.properties.get("FriendlyExpression"))]
        cases.sort(key=lambda o: as_int(o.properties.get("EvaluationOrder"), 0))
        self.cases = [(o, _Expression(self.ctx, inp, o.properties,
                                      f"[{self.meta.name}].[{o.name}]", boolean=True))
                      for o in cases]
        defaults = [o for o in self.meta.normal_outputs if o not in cases]
        self.default = defaults[0] if defaults else None

    def process(self, inp: Input, batch: Batch) -> Emissions:
        n = batch.length
        target: list[int] = [-1] * n
        undecided = list(range(n))
        for k, (output, expr) in enumerate(self.cases):
            if not undecided:
                break

            def failed(i: int, exc: ExpressionError, output: Output = output) -> Any:
                self.row_error(i, _disposition(output.error_row_disposition), E_COMPUTATION,
                               output.id, f"the condition of {output.name} failed: "
                                          f"{exc.message}")
                return None

            results = expr.evaluate(batch, failed)
            remaining = []
            for i in undecided:
                if results[i] is True and i not in self._redirects:
                    target[i] = k
                else:
                    remaining.append(i)
            undecided = remaining
        emissions: Emissions = []
        redirected = set(self._redirects)
        for k, (output, _) in enumerate(self.cases):
            mask = [t == k for t in target]
            emissions.append((output, batch.select(mask)))
        if self.default is not None:
            mask = [t == -1 and i not in redirected for i, t in enumerate(target)]
            emissions.append((self.default, batch.select(mask)))
        if redirected:
            redirects = self._redirects
            self._redirects = {}
            error_out = self.meta.error_output
            if error_out is not None:
                emissions.append((error_out, self.error_batch(error_out, batch, redirects)))
        return emissions


def _is_true(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "-1", "1")


# --------------------------------------------------------------------------- simple ones


class RowCount(Component):
    """Counts the rows and stores the count in VariableName when the data flow ends."""

    def pre_execute(self) -> None:
        self.count = 0
        self.variable = self.ctx.property("VariableName")

    def process(self, inp: Input, batch: Batch) -> Emissions:
        self.count += batch.length
        outputs = self.meta.normal_outputs
        return [(outputs[0], batch)] if outputs else []

    def post_execute(self) -> None:
        if self.variable:
            self.ctx.set_variable(self.variable, self.count)


class Multicast(Component):
    def process(self, inp: Input, batch: Batch) -> Emissions:
        return [(output, batch) for output in self.meta.normal_outputs]


class CopyColumn(Component):
    def pre_execute(self) -> None:
        self.copies = [(self.ctx.resolve(c.properties.get("copyColumnId", "")), c.lineage_id)
                       for c in self.output.columns if c.properties.get("copyColumnId")]

    def process(self, inp: Input, batch: Batch) -> Emissions:
        return [(self.output, batch.with_columns(
            {target: batch.columns[source] for source, target in self.copies}))]


#: LCMapString flags the Character Map uses
_LOWER, _UPPER, _BYTE_REVERSE = 0x100, 0x200, 0x800
_HALF_WIDTH, _FULL_WIDTH = 0x400000, 0x800000


def _character_map(flags: int) -> Callable[[str], str]:
    steps: list[Callable[[str], str]] = []
    if flags & _LOWER:
        steps.append(str.lower)
    if flags & _UPPER:
        steps.append(str.upper)
    if flags & _HALF_WIDTH:
        steps.append(lambda s: "".join(unicodedata.normalize("NFKC", c)
                                       if unicodedata.east_asian_width(c) == "F" else c
                                       for c in s))
    if flags & _FULL_WIDTH:
        steps.append(lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~"
                                       else ("\u3000" if c == " " else c) for c in s))
    if flags & _BYTE_REVERSE:
        steps.append(lambda s: "".join(chr(((ord(c) & 0xFF) << 8) | (ord(c) >> 8))
                                       if ord(c) <= 0xFFFF else c for c in s))

    def apply(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return apply


class CharacterMap(Component):
    """Lowercase, uppercase, byte reversal, half and full width; in place (read-write
    input columns) or into new output columns."""

    def pre_execute(self) -> None:
        self.plan: list[tuple[str, str, Callable[[str], str]]] = []
        for col in self.input.columns:
            if col.usage_type.lower() == "readwrite" and col.properties.get("MapFlags"):
                self.plan.append((col.lineage_id, col.lineage_id,
                                  _character_map(as_int(col.properties["MapFlags"]))))
        for out in self.output.columns:
            source = out.properties.get("InputColumnLineageID") or out.properties.get(
                "InputColumnLineageId")
            if source:
                self.plan.append((self.ctx.resolve(source), out.lineage_id,
                                  _character_map(as_int(out.properties.get("MapFlags")))))

    def process(self, inp: Input, batch: Batch) -> Emissions:
        new = {target: [None if v is None else fn(v) for v in batch.columns[source]]
               for source, target, fn in self.plan}
        return [(self.output, batch.with_columns(new))]


#: LineageItemSelected -> the system variable an Audit column carries
_AUDIT_ITEMS = {0: "System::ExecutionInstanceGUID", 1: "System::PackageID",
                2: "System::PackageName", 3: "System::VersionGUID", 4: "System::StartTime",
                5: "System::MachineName", 6: "System::UserName", 7: "System::TaskName",
                8: "System::TaskID"}


class Audit(Component):
    def pre_execute(self) -> None:
        self.values: dict[str, Any] = {}
        for col in self.output.columns:
            item = as_int(col.properties.get("LineageItemSelected"), -1)
            name = _AUDIT_ITEMS.get(item)
            value = self.ctx.get_variable(name) if name else None
            self.values[col.lineage_id] = dft.coerce(value, col.type) if value is not None \
                else None

    def process(self, inp: Input, batch: Batch) -> Emissions:
        n = batch.length
        return [(self.output, batch.with_columns(
            {lid: [value] * n for lid, value in self.values.items()}))]


class Recordset:
    """What a Recordset Destination stores in its Object variable: the rows of one table,
    iterable by the Foreach ADO enumerator (``tables``; each row a tuple in column order)."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.rows = rows

    @property
    def tables(self) -> list[list[tuple[Any, ...]]]:
        return [self.rows]

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Recordset({len(self.rows)} rows: {', '.join(self.columns)})"


class RecordsetDestination(Component):
    def __init__(self, meta: PipelineComponent, ctx: ComponentContext) -> None:
        super().__init__(meta, ctx)
        self.rows: list[tuple[Any, ...]] = []

    def pre_execute(self) -> None:
        self.variable = self.ctx.property("VariableName")
        if not self.variable:
            raise ComponentError(f"{self.meta.name} names no variable")
        self.lineage = [c.lineage_id for c in self.input.columns]
        self.names = [self.ctx.column_name(c) for c in self.input.columns]
        self.rows_written = 0

    def process(self, inp: Input, batch: Batch) -> Emissions:
        self.rows.extend(batch.rows(self.lineage))
        self.rows_written = len(self.rows)
        return []

    def post_execute(self) -> None:
        self.ctx.set_variable(self.variable, Recordset(self.names, self.rows))
