"""A feed's CSV file read block by block by pyarrow, never a row as a Python object.

Columns are read with explicit types. A row with the wrong number of fields is skipped through
pyarrow's invalid-row handler (which knows its line); a value pyarrow cannot convert fails the
whole block, so the file is then read again from where it stopped in the careful mode: every
column as text, checked against a pattern, bad rows skipped one by one with their line and
reason, the rest converted. Line numbers are physical (1-based; the header is line 1): blank
lines are kept as rows by the parser so the count never drifts, then dropped without an error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from orderbook.events import FeedError, MalformedRow, UnreadableFeed

INT = r"^[+-]?[0-9]+$"
UINT = r"^\+?[0-9]+$"
FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
BLOCK_BYTES = 1 << 20  # pyarrow's own default: small enough to overlap parsing and replay
_END = object()


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType            # what pyarrow converts the text to (pa.string(): left as text)
    pattern: str | None = None   # what a valid value looks like, checked in the careful mode
    required: bool = True        # an empty value is a malformed row

    @property
    def kind(self) -> str:
        if pa.types.is_floating(self.type):
            return "a number"
        if pa.types.is_unsigned_integer(self.type):
            return "a whole number >= 0"
        if pa.types.is_integer(self.type):
            return "a whole number"
        return "text"


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class CsvBlocks:
    """Iterate `(batch, lines)`: a record batch of the columns (typed), and the physical line of
    each of its rows (int64 numpy array). Malformed rows are appended to `errors`."""

    def __init__(self, path: Path, columns: list[Column], *, header: bool, block_size: int,
                 errors: list[FeedError]) -> None:
        self.path = Path(path)
        self.columns = columns
        self.header = header
        self.block_size = min(max(int(block_size), 4096), BLOCK_BYTES)
        self.errors = errors
        self._blank: set[int] = set()
        self._reported: set[int] = set()
        self._names: list[str] | None = None

    @property
    def blank_lines(self) -> int:
        return len(self._blank)

    # -- the file's columns ------------------------------------------------------------------

    def _file_names(self) -> list[str]:
        """The header's names (header=True) or the declared columns' names."""
        if self._names is not None:
            return self._names
        if not self.header:
            self._names = [c.name for c in self.columns]
            return self._names
        try:
            with open(self.path, "rb") as fh:
                first = fh.readline(1 << 16).decode("utf-8", "replace").strip().lstrip("\ufeff")
        except OSError as e:
            raise UnreadableFeed(0, f"cannot read the file: {e.strerror or e}",
                                 str(self.path)) from e
        names = [n.strip().strip('"') for n in first.split(",")] if first else []
        missing = [c.name for c in self.columns if c.required and c.name not in names]
        if missing:
            raise UnreadableFeed(1, f"the header lacks {', '.join(missing)} (found "
                                    f"{_shown(first)}): is this the right --format?",
                                 str(self.path))
        self._names = names
        return names

    def present(self) -> list[Column]:
        names = self._file_names()
        return [c for c in self.columns if c.name in names]

    # -- reading -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        """The blocks, parsed one ahead on a thread of their own: pyarrow releases the GIL while
        it parses, so the next block is read while the caller works on this one."""
        if not self.path.is_file():
            raise UnreadableFeed(0, "no such file", str(self.path))
        ready: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def hand(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for item in self._blocks():
                    if not hand(item):
                        return
                hand(_END)
            except BaseException as e:  # handed to the caller's thread, raised there
                hand(e)

        worker = threading.Thread(target=produce, name=f"csv-blocks {self.path.name}",
                                  daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()

    def _blocks(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        self._reported = set()
        self._blank = set()
        done = 0  # the last line already handed out
        try:
            for batch, lines in self._read(careful=False):
                if len(lines):
                    done = int(lines[-1])
                yield batch, lines
            return
        except pa.ArrowInvalid as e:
            if "conversion error" not in str(e):
                raise UnreadableFeed(0, f"not a readable CSV file: {e}", str(self.path)) from e
        for batch, lines in self._read(careful=True):
            keep = lines > done
            if not keep.all():
                batch, lines = batch.filter(pa.array(keep)), lines[keep]
            if len(lines):
                yield batch, lines

    def _error(self, line: int, reason: str) -> None:
        if line not in self._reported:
            self._reported.add(line)
            self.errors.append(MalformedRow(line, reason, str(self.path)))

    def _read(self, careful: bool) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        present = self.present()
        invalid: list[int] = []
        expected = len(self._file_names())

        def on_invalid(row) -> str:
            number = row.number
            if number is None:  # pyarrow could not tell: should not happen with one thread
                raise UnreadableFeed(0, "a row with the wrong number of fields at an unknown line",
                                     str(self.path))
            invalid.append(number)
            if row.text.strip():
                self._error(number, f"{row.actual_columns} fields, expected {expected}: "
                                    f"{_shown(row.text)}")
            else:
                self._blank.add(number)
            return "skip"

        if careful:
            types = {c.name: pa.string() for c in present}
        else:
            types = {c.name: c.type for c in present}
        read = pcsv.ReadOptions(
            use_threads=False, block_size=self.block_size,
            column_names=None if self.header else self._file_names(),
            autogenerate_column_names=False)
        parse = pcsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False)
        convert = pcsv.ConvertOptions(column_types=types, include_columns=[c.name for c in present],
                                      strings_can_be_null=True, quoted_strings_can_be_null=True)
        try:
            reader = pcsv.open_csv(self.path, read_options=read, parse_options=parse,
                                   convert_options=convert)
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                return
            raise
        next_line = 2 if self.header else 1
        pending: list[int] = []  # invalid lines not yet placed
        for batch in reader:
            pending.extend(invalid)
            invalid.clear()
            pending.sort()
            n = batch.num_rows
            end = next_line + n
            skipped: list[int] = []
            while pending and pending[0] < end:
                v = pending.pop(0)
                if v >= next_line:
                    skipped.append(v)
                    end += 1
            lines = np.arange(next_line, end, dtype=np.int64)
            if skipped:
                lines = np.setdiff1d(lines, np.array(skipped, dtype=np.int64), assume_unique=True)
            next_line = end
            if n == 0:
                continue
            batch, lines = self._drop_blank_and_empty(batch, lines, present, careful)
            if careful and len(lines):
                batch, lines = self._convert(batch, lines, present)
            if len(lines):
                yield batch, lines

    def _drop_blank_and_empty(self, batch: pa.RecordBatch, lines: np.ndarray,
                              present: list[Column], careful: bool):
        if not any(batch.column(c.name).null_count for c in present):
            return batch, lines
        nulls = [np.asarray(batch.column(c.name).is_null(), dtype=bool) for c in present]
        blank = np.logical_and.reduce(nulls)
        self._blank.update(int(v) for v in lines[blank])
        bad = np.zeros(len(lines), dtype=bool)
        for c, m in zip(present, nulls, strict=True):
            if not c.required:
                continue
            hit = m & ~blank & ~bad
            for i in np.flatnonzero(hit):
                self._error(int(lines[i]), f"empty {c.name}")
            bad |= hit
        keep = ~(blank | bad)
        return batch.filter(pa.array(keep)), lines[keep]

    def _convert(self, batch: pa.RecordBatch, lines: np.ndarray, present: list[Column]):
        """The careful mode: check each text column against its pattern, skip bad rows with a
        reason, convert the rest."""
        bad = np.zeros(len(lines), dtype=bool)
        for c in present:
            if c.pattern is None or pa.types.is_string(c.type):
                continue
            col = batch.column(c.name)
            ok = pc.fill_null(pc.match_substring_regex(col, c.pattern), True)
            hit = ~np.asarray(ok, dtype=bool) & ~bad
            for i in np.flatnonzero(hit):
                self._error(int(lines[i]), f"{c.name} is not {c.kind}: {_shown(col[i].as_py())}")
            bad |= hit
        if bad.any():
            keep = pa.array(~bad)
            batch, lines = batch.filter(keep), lines[~bad]
        arrays = []
        for c in present:
            col = batch.column(c.name)
            if pa.types.is_string(c.type):
                arrays.append(col)
                continue
            try:
                arrays.append(col.cast(c.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                arrays.append(None)  # out of range somewhere: find the rows one by one
        if any(a is None for a in arrays):
            bad = np.zeros(len(lines), dtype=bool)
            for c, a in zip(present, arrays, strict=True):
                if a is not None:
                    continue
                col = batch.column(c.name)
                for i, v in enumerate(col.to_pylist()):
                    try:
                        pa.scalar(v).cast(c.type)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        if not bad[i]:
                            self._error(int(lines[i]), f"{c.name} is out of range for "
                                                       f"{c.type}: {_shown(str(v))}")
                        bad[i] = True
            keep = ~bad
            batch, lines = batch.filter(pa.array(keep)), lines[keep]
            return self._convert(batch, lines, present)
        return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in present]), lines


def mark(errors: list[FeedError], path: Path, lines: np.ndarray, bad: np.ndarray,
         reasons: list[str] | str, values: list | None = None) -> None:
    """Record a MalformedRow for every row where `bad` holds (a semantic check of a parser)."""
    for k, i in enumerate(np.flatnonzero(bad)):
        reason = reasons if isinstance(reasons, str) else reasons[k]
        if values is not None:
            reason = f"{reason}: {_shown(str(values[i]))}"
        errors.append(MalformedRow(int(lines[i]), reason, str(path)))


def is_match(col: pa.Array, pattern: str) -> np.ndarray:
    """`pattern` matches (nulls: False) as a numpy bool array."""
    return np.asarray(pc.fill_null(pc.match_substring_regex(col, pattern), False), dtype=bool)

