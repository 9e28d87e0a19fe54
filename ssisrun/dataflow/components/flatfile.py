"""Flat File Source and Flat File Destination, over a FLATFILE connection manager.

The connection manager gives the file (its connection string, mapped with ``--path-map``)
and the format (:class:`~ssisrun.model.FlatFileFormat`): Delimited, FixedWidth, RaggedRight
or Mixed columns, each with its own delimiter or width; the last column's delimiter ends
the row. HeaderRowsToSkip rows (ended by HeaderRowDelimiter) are skipped, then the column
names row when ColumnNamesInFirstDataRow, then DataRowsToSkip rows. A text qualifier
applies to columns marked TextQualified; a doubled qualifier inside is one qualifier.

Text is decoded with the connection manager's code page (Unicode: UTF-16 LE; a byte order
mark is skipped). Reading uses the csv module when every delimiter is one character and
rows end with a line break; otherwise a column-by-column parser that honours every
delimiter and width, and ends a row early at the row delimiter (SSIS's
AlwaysCheckForRowDelimiters).

Source values: an empty field is NULL with RetainNulls, else the type's default (0, "",
FALSE; NULL for dates). Text that is not a value of the column's type is a conversion
error, text longer than a string column a truncation: each handled by the output column's
error or truncation disposition (fail, ignore -> NULL, redirect to the error output with
the raw row in its ``Flat File Source Error Output Column``).

The destination writes the input columns mapped to the file's columns (by external
metadata, else by name; unmapped file columns are written empty), NULL as an empty field,
qualified columns between qualifiers (doubled inside when EscapeQualifier), fixed-width
columns padded or cut to their width. Overwrite (default true) replaces the file, else rows
are appended; Header is written first, then the column names when ColumnNamesInFirstDataRow
(both only when the file is new or overwritten).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any, cast

from ssisrun.dataflow import arrow
from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import (
    E_CONVERSION,
    E_TRUNCATION,
    Component,
    ComponentError,
    Emission,
    Emissions,
)
from ssisrun.dataflow.model import (
    FAIL,
    NOT_USED,
    Input,
    OutputColumn,
    as_bool,
)
from ssisrun.expressions.types import DataType
from ssisrun.model import FlatFileColumn, FlatFileFormat

D = DataType
_STRINGS = (D.DT_STR, D.DT_WSTR, D.DT_TEXT, D.DT_NTEXT)
_LINE_BREAKS = ("\r\n", "\n", "\r")


def _file_format(component: Component) -> tuple[FlatFileFormat, str]:
    cm, text = component.ctx.connection()
    fmt = getattr(cm, "flat_file", None)
    if fmt is None:
        raise ComponentError(f"{component.meta.name}: the connection manager {cm.name} is not "
                             "a flat file connection manager")
    if not text:
        raise ComponentError(f"{component.meta.name}: the connection manager {cm.name} names "
                             "no file")
    return fmt, component.ctx.map_path(text.split("|")[0])


def _row_delimiter(fmt: FlatFileFormat) -> str:
    if fmt.columns:
        last = fmt.columns[-1]
        if last.column_type != "FixedWidth" and last.column_delimiter:
            return last.column_delimiter
    return fmt.row_delimiter or ("" if fmt.format == "FixedWidth" else "\r\n")


def _encoding(fmt: FlatFileFormat) -> str:
    return dft.python_encoding(fmt.code_page, fmt.unicode)


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Column-by-column parsing of any flat-file format (the general path)."""

    def __init__(self, fmt: FlatFileFormat) -> None:
        self.columns = fmt.columns
        self.qualifier = fmt.text_qualifier or ""
        self.row_delimiter = _row_delimiter(fmt)

    def rows(self, text: str, pos: int) -> Iterator[list[str | None]]:
        n = len(text)
        while pos < n:
            row, pos = self.parse_row(text, pos)
            yield row

    def parse_row(self, text: str, pos: int) -> tuple[list[str | None], int]:
        row: list[str | None] = []
        rd = self.row_delimiter
        q = self.qualifier
        last = len(self.columns) - 1
        n = len(text)
        for i, col in enumerate(self.columns):
            if col.column_type == "FixedWidth":
                width = col.column_width or col.maximum_width
                row.append(text[pos:pos + width])
                pos += width
                continue
            delim = col.column_delimiter or (rd if i == last else ",")
            if q and col.text_qualified and text.startswith(q, pos):
                start = pos + len(q)
                parts = []
                while True:
                    end = text.find(q, start)
                    if end < 0:
                        parts.append(text[start:])
                        pos = n
                        break
                    parts.append(text[start:end])
                    if text.startswith(q, end + len(q)):
                        parts.append(q)
                        start = end + 2 * len(q)
                        continue
                    pos = end + len(q)
                    break
                value = "".join(parts)
                stop = text.find(delim, pos) if delim else n
                if stop < 0:
                    stop = n
                if i < last and rd:
                    row_end = text.find(rd, pos)
                    if 0 <= row_end < stop:
                        row.append(value)
                        row.extend([None] * (last - i))
                        return row, row_end + len(rd)
                row.append(value + text[pos:stop])
                pos = stop + len(delim)
                continue
            stop = text.find(delim, pos) if delim else n
            if stop < 0:
                stop = n
            if i < last and rd and delim != rd:
                row_end = text.find(rd, pos, stop if stop >= 0 else n)
                if row_end >= 0:
                    row.append(text[pos:row_end])
                    row.extend([None] * (last - i))
                    return row, row_end + len(rd)
            row.append(text[pos:stop])
            pos = stop + len(delim)
        if self.columns and self.columns[-1].column_type == "FixedWidth" and rd:
            if text.startswith(rd, pos):
                pos += len(rd)
        return row, pos


def _simple_delimiter(fmt: FlatFileFormat) -> str | None:
    """The one-character column delimiter when the csv module can read the file."""
    cols = fmt.columns
    if not cols or any(c.column_type != "Delimited" for c in cols):
        return None
    delims = {c.column_delimiter for c in cols[:-1]}
    if len(delims) > 1 or _row_delimiter(fmt) not in _LINE_BREAKS:
        return None
    delim = delims.pop() if delims else ","
    if len(delim) != 1 or delim in "\r\n":
        return None
    q = fmt.text_qualifier or ""
    if len(q) > 1:
        return None
    return delim


def _skip_lines(handle: io.TextIOBase, count: int, delimiter: str) -> None:
    if count <= 0:
        return
    if delimiter in _LINE_BREAKS:
        for _ in range(count):
            handle.readline()
        return
    buffer = ""
    while count > 0:
        chunk = handle.read(1)
        if not chunk:
            return
        buffer += chunk
        if buffer.endswith(delimiter):
            count -= 1
            buffer = ""


# --------------------------------------------------------------------------- source


class FlatFileSource(Component):
    def pre_execute(self) -> None:
        self.fmt, self.path = _file_format(self)
        self.retain_nulls = as_bool(self.ctx.property("RetainNulls"), False)
        self.file_name_column = self.ctx.property("FileNameColumnName")
        out = self.output
        ext_names = {c.id: c.name for c in out.external_columns}
        by_name = {c.name: i for i, c in enumerate(self.fmt.columns)}
        by_lower = {c.name.lower(): i for i, c in enumerate(self.fmt.columns)}
        #: (output column, index in the file's columns or -1 for the file name column)
        self.plan: list[tuple[OutputColumn, int]] = []
        for position, col in enumerate(out.columns):
            if self.file_name_column and col.name == self.file_name_column:
                self.plan.append((col, -1))
                continue
            name = ext_names.get(col.external_metadata_column_id, col.name)
            index = by_name.get(name, by_lower.get(name.lower(), -2))
            if index == -2:
                index = position if position < len(self.fmt.columns) else -2
            if index == -2:
                raise ComponentError(f"{self.meta.name}: the output column {col.name} matches "
                                     "no column of the flat file connection manager")
            self.plan.append((col, index))
        if not os.path.exists(self.path):
            raise ComponentError(f"{self.meta.name}: the file {self.path} does not exist")

    def produce(self) -> Iterator[Emission]:
        fmt = self.fmt
        self._raw_source: Any = None
        done = 0
        if arrow.enabled() and _simple_delimiter(fmt) is not None \
                and fmt.header_row_delimiter in ("", *_LINE_BREAKS) \
                and not _encoding(fmt).startswith("utf-16"):
            try:
                for n, emissions in self._arrow_batches():
                    done += n
                    yield from emissions
                return
            except arrow.pa.ArrowInvalid:
                # a row pyarrow will not read (too few or too many fields, a stray
                # qualifier): the rest of the file goes through the csv module
                pass
        yield from self._python_batches(done)

    def _arrow_batches(self) -> Iterator[tuple[int, Emissions]]:
        """Read with pyarrow's CSV reader: each column as text, then converted column by
        column (vectorised for strings, integers and DT_R8; else the Python path)."""
        import pyarrow.csv as pcsv

        fmt = self.fmt
        delim = _simple_delimiter(fmt)
        assert delim is not None
        q = fmt.text_qualifier or ""
        names = [f"f{i}" for i in range(len(fmt.columns))]
        skip = fmt.data_rows_to_skip + (1 if fmt.column_names_in_first_data_row else 0)
        encoding = _encoding(fmt)
        reader = pcsv.open_csv(
            self.path,
            read_options=pcsv.ReadOptions(
                use_threads=False, block_size=1 << 22, column_names=names,
                skip_rows=fmt.header_rows_to_skip, skip_rows_after_names=skip,
                encoding="utf8" if encoding in ("utf-8", "ascii") else encoding),
            parse_options=pcsv.ParseOptions(delimiter=delim, quote_char=q or False,
                                            double_quote=True, newlines_in_values=bool(q)),
            convert_options=pcsv.ConvertOptions(
                column_types={n: arrow.pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
        size = self.ctx.buffer_rows
        out = self.output
        self._delim = delim
        for block in reader:
            for start in range(0, block.num_rows, size):
                if self.ctx.cancelled:
                    raise ComponentError("cancelled")
                part = block.slice(start, size)
                fields = [part.column(i) for i in range(len(names))]
                yield part.num_rows, self._convert_arrow(out, fields, part.num_rows)

    def _convert_arrow(self, out: Any, fields: list[Any], n: int) -> Emissions:
        columns: dict[str, Any] = {}
        for col, index in self.plan:
            if index == -1:
                columns[col.lineage_id] = [self.path] * n
                continue
            columns[col.lineage_id] = self._arrow_column(col, fields[index], index)
        batch = Batch(columns, n)
        if not self._redirects:
            return [(out, batch)]
        self._raw = [list(row) for row in zip(*(f.to_pylist() for f in fields),
                                               strict=True)]
        return self.split_errors(out, batch)

    def _arrow_column(self, col: OutputColumn, raw: Any, index: int) -> Any:
        pa, pc = arrow.pa, arrow.pc
        type_ = col.type
        d = type_.dtype
        try:
            if d in _STRINGS:
                limit = type_.length if d in (D.DT_STR, D.DT_WSTR) else 0
                if limit and len(raw) and pc.max(pc.utf8_length(raw)).as_py() > limit:
                    raise _PythonPath
                if self.retain_nulls:
                    empty = pc.equal(raw, "")
                    if pc.any(empty).as_py():
                        return pc.if_else(empty, pa.scalar(None, pa.string()), raw)
                return raw
            target = arrow.arrow_type(type_)
            if target is None or pc.any(pc.equal(raw, "")).as_py():
                raise _PythonPath
            return pc.cast(raw, target)
        except (_PythonPath, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return self._column(col, tuple(raw.to_pylist()), index)

    def _python_batches(self, done: int) -> Iterator[Emission]:
        """Read with the csv module (one-character delimiters, line-break rows) or the
        general parser; ``done`` data rows were already read."""
        fmt = self.fmt
        out = self.output
        size = self.ctx.buffer_rows
        width = len(fmt.columns)
        with open(self.path, encoding=_encoding(fmt), newline="", errors="replace") as handle:
            first = handle.read(1)
            if first and first != "\ufeff":
                handle.seek(0)
            _skip_lines(handle, fmt.header_rows_to_skip, fmt.header_row_delimiter)
            delim = _simple_delimiter(fmt)
            rows: Iterator[list[str | None]]
            if delim is not None:
                q = fmt.text_qualifier
                reader = csv.reader(handle, delimiter=delim, quotechar=q or None,
                                    quoting=csv.QUOTE_MINIMAL if q else csv.QUOTE_NONE,
                                    doublequote=True, strict=False)
                rows = cast(Iterator[list[str | None]], filter(None, reader))
            else:
                rows = _Parser(fmt).rows(handle.read(), 0)
            skip = fmt.data_rows_to_skip + (1 if fmt.column_names_in_first_data_row else 0)
            for _ in islice(rows, skip + done):
                pass
            while True:
                chunk = list(islice(rows, size))
                if not chunk:
                    break
                if self.ctx.cancelled:
                    raise ComponentError("cancelled")
                lengths = set(map(len, chunk))
                if lengths != {width}:
                    chunk = [_fit(r, width, delim) for r in chunk]
                yield from self._convert(out, chunk, delim)

    def _convert(self, out: Any, chunk: list[list[str | None]],
                 delim: str | None) -> Emissions:
        fields = list(zip(*chunk, strict=True)) if chunk and chunk[0] else []
        n = len(chunk)
        columns: dict[str, list[Any]] = {}
        for col, index in self.plan:
            if index == -1:
                columns[col.lineage_id] = [self.path] * n
                continue
            raw = fields[index]
            columns[col.lineage_id] = self._column(col, raw, index)
        batch = Batch(columns, n)
        if not self._redirects:
            return [(out, batch)]
        self._raw = chunk
        self._delim = delim or ","
        return self.split_errors(out, batch)

    def error_batch(self, error_out: Any, batch: Batch,
                    redirects: Mapping[int, tuple[int, int]]) -> Batch:
        errors = super().error_batch(error_out, batch, redirects)
        text = [self._delim.join(v or "" for v in self._raw[i]) for i in sorted(redirects)]
        extra = {c.lineage_id: text for c in error_out.columns if c.special_flags == 0}
        return errors.with_columns(extra)

    def _column(self, col: OutputColumn, raw: tuple[Any, ...], index: int) -> list[Any]:
        type_ = col.type
        d = type_.dtype
        if d in _STRINGS:
            clean = None not in raw
            if self.retain_nulls:
                values = [v if v else None for v in raw] if (not clean or "" in raw) \
                    else list(raw)
            else:
                values = list(raw) if clean else [v if v is not None else "" for v in raw]
            limit = type_.length if d in (D.DT_STR, D.DT_WSTR) else 0
            longest = (max(map(len, cast(list[str], values))) if values else 0) \
                if None not in values else \
                max((len(v) for v in values if v is not None), default=0)
            if limit and longest > limit:
                disposition = col.truncation_row_disposition
                if disposition == NOT_USED:
                    disposition = FAIL
                for i, v in enumerate(values):
                    if v is not None and len(v) > limit:
                        self.row_error(i, disposition, E_TRUNCATION, col.lineage_id,
                                       f"the value of {col.name} is longer than {limit} "
                                       "characters")
                        values[i] = v[:limit]
            return values
        fast = dft.column_parser(type_)
        if fast is not None and None not in raw and "" not in raw:
            try:
                return fast(raw)
            except Exception:  # noqa: BLE001 - go cell by cell
                pass
        parse = dft.text_parser(type_)
        default = None if self.retain_nulls else dft.default_value(type_)
        if parse is None:
            return [v if v else default for v in raw]
        try:
            return [parse(v) if v else default for v in raw]
        except Exception:  # noqa: BLE001 - find the bad cells one by one
            pass
        values = []
        for i, v in enumerate(raw):
            if not v:
                values.append(default)
                continue
            try:
                values.append(parse(v))
            except Exception:  # noqa: BLE001
                disposition = col.error_row_disposition
                self.row_error(i, FAIL if disposition == NOT_USED else disposition,
                               E_CONVERSION, col.lineage_id,
                               f"the value {v!r} of {col.name} cannot be converted to {type_}")
                values.append(None)
        return values


def _reals_as_text(values: Any) -> Any:
    """DT_R8 values as SSIS writes them (``format(v, ".15G")``) when arrow's shortest
    text is the same: at most 15 characters, no exponent, not below 1E-4, not NaN or
    infinite, not -0. None when any value is not like that (then Python formats them)."""
    pc = arrow.pc
    text = pc.cast(values, arrow.pa.string())
    if len(text) and ((pc.max(pc.utf8_length(text)).as_py() or 0) > 15
                      or pc.any(pc.match_substring_regex(
                          text, r"[eEnN]|^-?0\.0000|^-0$")).as_py()):
        return None
    return text.fill_null("") if text.null_count else text


class _PythonPath(Exception):
    """This column goes through the Python path."""


def _fit(row: list[str | None], width: int, delim: str | None) -> list[str | None]:
    if len(row) == width:
        return row
    if len(row) < width:
        return row + [None] * (width - len(row))
    head = row[: width - 1]
    head.append((delim or ",").join(v or "" for v in row[width - 1:]))
    return head


# --------------------------------------------------------------------------- destination


class FlatFileDestination(Component):
    def pre_execute(self) -> None:
        self.fmt, self.path = _file_format(self)
        self.rows_written = 0
        inp = self.input
        ext_names = {c.id: c.name for c in inp.external_columns}
        by_name = {c.name.lower(): c for c in inp.columns}
        by_ext = {ext_names.get(c.external_metadata_column_id, "").lower(): c
                  for c in inp.columns if c.external_metadata_column_id}
        self.plan: list[tuple[FlatFileColumn, str | None,
                              Callable[[list[Any]], list[str]]]] = []
        for ff_col in self.fmt.columns:
            key = ff_col.name.lower()
            in_col = by_ext.get(key) or by_name.get(key)
            if in_col is None:
                self.plan.append((ff_col, None,
                                  dft.column_formatter(dft.column_type(D.DT_WSTR))))
                continue
            self.plan.append((ff_col, in_col.lineage_id,
                              dft.column_formatter(self.ctx.column_type(in_col))))
        #: row delimiter when every column is delimited by one same delimiter (fast path)
        self.uniform: str | None = None
        self.uniform_delimiter = ","
        cols = self.fmt.columns
        if cols and all(c.column_type == "Delimited" for c in cols):
            delims = {c.column_delimiter for c in cols[:-1]}
            last = cols[-1].column_delimiter or _row_delimiter(self.fmt)
            if len(delims) <= 1 and last:
                self.uniform = last
                self.uniform_delimiter = delims.pop() if delims else ","
        overwrite = as_bool(self.ctx.property("Overwrite"), True)
        self.escape = as_bool(self.ctx.property("EscapeQualifier"), False)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            raise ComponentError(f"{self.meta.name}: the folder {directory} does not exist")
        encoding = _encoding(self.fmt)
        self.handle = open(self.path, "w" if overwrite else "a", encoding=encoding,  # noqa: SIM115
                           newline="", errors="replace")
        fresh = overwrite or not exists
        #: the file is UTF-8 (or ASCII): arrow's text is written as bytes, unchanged
        self.binary_utf8 = encoding == "utf-8" and hasattr(self.handle, "buffer")
        if fresh and self.fmt.unicode:
            self.handle.write("\ufeff")
        header = self.ctx.property("Header")
        if fresh and header:
            self.handle.write(header)
            if not header.endswith(("\n", "\r")):
                self.handle.write(self.fmt.header_row_delimiter or "\r\n")
        if fresh and self.fmt.column_names_in_first_data_row:
            names = [[c.name] for c, _, _ in self.plan]
            self.handle.write(self._lines([self._cells(i, c, names[i])
                                           for i, (c, _, _) in enumerate(self.plan)], 1))

    def _cells(self, index: int, ff_col: FlatFileColumn, values: list[str]) -> list[str]:
        q = self.fmt.text_qualifier
        if ff_col.column_type == "FixedWidth":
            width = ff_col.column_width or ff_col.maximum_width
            return [v[:width].ljust(width) for v in values]
        if q and ff_col.text_qualified:
            if self.escape:
                doubled = q + q
                return [q + v.replace(q, doubled) + q for v in values]
            return [q + v + q for v in values]
        return values

    def _lines(self, cells: list[list[str]], n: int) -> str:
        last = len(self.plan) - 1
        pieces: list[list[str]] = []
        row_delimiter = _row_delimiter(self.fmt)
        if self.uniform is not None and cells:
            if not n:
                return ""
            rows = map(self.uniform_delimiter.join, zip(*cells, strict=True))
            return self.uniform.join(rows) + self.uniform
        for i, (ff_col, _, _) in enumerate(self.plan):
            column = cells[i]
            if ff_col.column_type == "FixedWidth":
                delim = row_delimiter if (i == last and self.fmt.format != "FixedWidth"
                                          and self.fmt.row_delimiter) else ""
            else:
                delim = ff_col.column_delimiter or (row_delimiter if i == last else ",")
            pieces.append([v + delim for v in column] if delim else column)
        if not pieces:
            return ""
        return "".join(map("".join, zip(*pieces, strict=True)))

    def process(self, inp: Input, batch: Batch) -> Emissions:
        n = batch.length
        if self.uniform is not None and n and arrow.enabled() and self.plan:
            self._write_arrow(batch)
            assert self.rows_written is not None
            self.rows_written += n
            return []
        cells: list[list[str]] = []
        for i, (ff_col, lineage, fmt) in enumerate(self.plan):
            if lineage is None:
                values = [""] * n
            else:
                values = fmt(batch.columns[lineage])
            cells.append(self._cells(i, ff_col, values))
        self.handle.write(self._lines(cells, n))
        assert self.rows_written is not None
        self.rows_written += n
        return []

    def _write_arrow(self, batch: Batch) -> None:
        """Build the batch's text column by column with pyarrow: arrow columns of strings
        and integers as they are, any other column through its Python formatter."""
        pa, pc = arrow.pa, arrow.pc
        q = self.fmt.text_qualifier
        n = batch.length
        cells: list[Any] = []
        for ff_col, lineage, fmt in self.plan:
            raw = batch.columns.raw(lineage) if lineage is not None else None
            if raw is None:
                column = pa.array([""] * n, pa.string())
            elif arrow.is_array(raw) and (pa.types.is_string(raw.type)
                                          or pa.types.is_integer(raw.type)):
                column = raw if pa.types.is_string(raw.type) else pc.cast(raw, pa.string())
                if column.null_count:
                    column = column.fill_null("")
            elif arrow.is_array(raw) and pa.types.is_float64(raw.type) \
                    and (column := _reals_as_text(raw)) is not None:
                pass
            else:
                assert lineage is not None
                column = pa.array(fmt(batch.columns[lineage]), pa.string())
            if q and ff_col.text_qualified:
                if self.escape:
                    column = pc.replace_substring(column, q, q + q)
                column = pc.binary_join_element_wise(q, column, q, "")
            cells.append(column)
        lines = pc.binary_join_element_wise(*cells, self.uniform_delimiter)
        lines = pc.binary_join_element_wise(lines, self.uniform, "")
        offsets, data = lines.buffers()[1:3]
        ends = memoryview(offsets).cast("i")
        first, last = ends[lines.offset], ends[lines.offset + len(lines)]
        chunk = bytes(memoryview(data)[first:last]) if data is not None else b""
        if self.binary_utf8:
            self.handle.flush()
            self.handle.buffer.write(chunk)
        else:
            self.handle.write(chunk.decode("utf-8"))

    def post_execute(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()
