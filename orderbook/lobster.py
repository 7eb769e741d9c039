"""LOBSTER message and orderbook files (lobster.wiwi.hu-berlin.de; the format is described in
tests/fixtures/orderbook/LOBSTER_SampleFiles_ReadMe.txt).

Message rows are `time, type, order_id, size, price, direction`, no header: time in seconds after
midnight (New York time for NASDAQ, up to nanosecond decimals), prices in dollars × 10,000,
direction 1 buy / -1 sell. Orderbook rows are `ask_price_1, ask_size_1, bid_price_1, bid_size_1,
...`, one after each message, empty levels padded with ±9999999999 and size 0.

Times: `ts` = local midnight of the file's date in America/New_York (zoneinfo, so EDT or EST as
that day had it) in UTC nanoseconds, plus the seconds after midnight. The seconds are read as a
float64, exact to the nanosecond below 86,400 s with at most nine decimals (53 bits carry 15.9
significant digits; 86,400.123456789 has 14), then rounded to whole nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time
from datetime import date as Date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orderbook.csvblocks import FLOAT, INT, UINT, Column, CsvBlocks, mark
from orderbook.events import (
    ADD,
    DELETE,
    EVENTS,
    HALT,
    NO_SIDE,
    NONE,
    REDUCE,
    TRADE,
    Feed,
    FeedInfo,
    UnreadableFeed,
    level_columns,
)

PRICE_SCALE = 10_000
PAD = 9_999_999_999
NEW_YORK = ZoneInfo("America/New_York")
VENUE = "XNAS"
NAME = re.compile(r"^(?P<symbol>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                  r"(?P<kind>message|orderbook)_(?P<level>\d+)\.csv$")

MESSAGE_COLUMNS = [
    Column("time", pa.float64(), FLOAT),
    Column("type", pa.int8(), INT),
    Column("order_id", pa.uint64(), UINT),
    Column("size", pa.int64(), INT),
    Column("price", pa.int64(), INT),
    Column("direction", pa.int8(), INT),
]
ROW_BYTES = 40  # a message row is about this long: batch_rows -> pyarrow's block size

# LOBSTER type -> action code; 0 and 8+ are not LOBSTER types (rejected before the lookup).
ACTIONS = np.array([NONE, ADD, REDUCE, DELETE, REDUCE, TRADE, TRADE, HALT], dtype=np.uint8)


def parse_lobster_name(path: Path | str) -> tuple[str, Date, int] | None:
    """(symbol, date, level) from `SYMBOL_YYYY-MM-DD_start_end_message_N.csv`, else None."""
    m = NAME.match(Path(path).name)
    if not m:
        return None
    try:
        day = Date.fromisoformat(m["date"])
    except ValueError:
        return None
    return m["symbol"], day, int(m["level"])


def book_file_for(message_path: Path | str) -> Path | None:
    """The orderbook file beside a message file (`..._message_N.csv` -> `..._orderbook_N.csv`)."""
    path = Path(message_path)
    if "_message_" not in path.name:
        return None
    candidate = path.with_name(path.name.replace("_message_", "_orderbook_"))
    return candidate if candidate.is_file() else None


def midnight_ns(day: Date) -> int:
    """Local midnight of `day` in New York, as UTC nanoseconds since the epoch."""
    local = datetime.combine(day, time(0), tzinfo=NEW_YORK)
    delta = local.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class LobsterFeed(Feed):
    """A LOBSTER message file as a stream of EVENTS batches."""

    def __init__(self, path: Path, info: FeedInfo, batch_rows: int) -> None:
        super().__init__(info)
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.level = (parse_lobster_name(path) or (None, None, None))[2]
        self._midnight = midnight_ns(info.date) if info.date else 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.errors = []
        plain = self._plain()
        if plain is not None:  # a clean file, read by the compiled loop
            self.blank_lines = 0
            ts, kind, oid, size, price, direction, lines = plain
            for at in range(0, len(lines), self.batch_rows):
                part = slice(at, at + self.batch_rows)
                events = self._from_arrays(ts[part], kind[part], oid[part], size[part],
                                           price[part], direction[part], lines[part])
                if events.num_rows:
                    yield events
            return
        blocks = CsvBlocks(self.path, MESSAGE_COLUMNS, header=False,
                           block_size=self.batch_rows * ROW_BYTES, errors=self.errors)
        for batch, lines in blocks:
            events = self._events(batch, lines)
            self.blank_lines = blocks.blank_lines
            if events.num_rows:
                yield events
        self.blank_lines = blocks.blank_lines

    def _plain(self) -> tuple[np.ndarray, ...] | None:
        """The whole file through the compiled reader, or None when it has anything to report
        (or is too large to hold as arrays): then the careful reader runs."""
        from orderbook.lobsterfast import FAST_LIMIT, NotPlain, plain_rows

        try:
            if self.path.stat().st_size > FAST_LIMIT:
                return None
            parts = list(plain_rows(self.path))
        except (NotPlain, OSError):  # the careful reader reports what is wrong
            return None
        if not parts:
            return None
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _from_arrays(self, after_midnight: np.ndarray, kind: np.ndarray, oid: np.ndarray,
                     size: np.ndarray, price: np.ndarray, direction: np.ndarray,
                     lines: np.ndarray) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_arrays(
            [pa.array(after_midnight / 1e9), pa.array(kind), pa.array(oid.astype(np.uint64)),
             pa.array(size), pa.array(price), pa.array(direction)],
            names=["time", "type", "order_id", "size", "price", "direction"])
        return self._events(batch, lines, after_midnight)

    def _events(self, batch: pa.RecordBatch, lines: np.ndarray,
                after_midnight: np.ndarray | None = None) -> pa.RecordBatch:
        seconds = batch.column("time").to_numpy()
        kind = batch.column("type").to_numpy()
        price = batch.column("price").to_numpy()
        direction = batch.column("direction").to_numpy()
        size = batch.column("size").to_numpy()
        checks = [
            ((kind < 1) | (kind > 7), "unknown event type (LOBSTER has 1-7)", kind),
            (~np.isfinite(seconds) | (seconds < 0) | (seconds >= 172_800),
             "time is not seconds after midnight", seconds),
            ((direction != 1) & (direction != -1), "direction is not 1 or -1", direction),
            (size < 0, "negative size", size),
            ((kind == 7) & (price != -1) & (price != 0) & (price != 1),
             "a halt (type 7) has price -1, 0 or 1", price),
        ]
        bad = np.zeros(len(lines), dtype=bool)
        for hit, reason, values in checks:
            hit = hit & ~bad
            if hit.any():
                mark(self.errors, self.path, lines, hit, reason, list(values))
                bad |= hit
        if bad.any():
            keep = ~bad
            batch, lines = batch.filter(pa.array(keep)), lines[keep]
            seconds, kind, price = seconds[keep], kind[keep], price[keep]
            direction, size = direction[keep], size[keep]
            if after_midnight is not None:
                after_midnight = after_midnight[keep]
        n = len(lines)
        if after_midnight is None:
            after_midnight = np.rint(seconds * 1e9).astype(np.int64)
        ts = self._midnight + after_midnight
        side = np.where(kind == 7, NO_SIDE, direction).astype(np.int8)
        # raw_action: one character each, built straight from buffers
        raw = pa.Array.from_buffers(pa.string(), n, [
            None, pa.py_buffer(np.arange(n + 1, dtype=np.int32)),
            pa.py_buffer((kind + ord("0")).astype(np.uint8))])
        arrays = [
            pa.array(ts), pa.array(ts), pa.array(ACTIONS[kind]), pa.array(side),
            pa.array(price), pa.array(size), batch.column("order_id"),
            pa.array(np.zeros(n, dtype=np.uint8)), pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.int32()), pa.array(lines), raw,
            pa.nulls(n, pa.uint32()),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=EVENTS)


def read_lobster(path: Path | str, *, date: Date | None = None, symbol: str | None = None,
                 batch_rows: int = 1_000_000) -> LobsterFeed:
    """A LOBSTER message file. `date` and `symbol` come from the file name when not given."""
    path = Path(path)
    named = parse_lobster_name(path)
    if date is None and named:
        date = named[1]
    if symbol is None and named:
        symbol = named[0]
    if date is None:
        raise UnreadableFeed(0, "cannot tell the trading day from the file name (LOBSTER names "
                                "files SYMBOL_YYYY-MM-DD_start_end_message_N.csv): give the date "
                                "(--date YYYY-MM-DD)", str(path))
    info = FeedInfo("lobster", PRICE_SCALE, symbol, VENUE, date)
    return LobsterFeed(path, info, batch_rows)


def _book_columns(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20).decode("ascii", "replace").strip()
    except OSError as e:
        raise UnreadableFeed(0, f"cannot read the orderbook file: {e.strerror or e}",
                             str(path)) from e
    fields = len(first.split(",")) if first else 0
    if fields == 0 or fields % 4:
        raise UnreadableFeed(1, f"an orderbook row has 4 fields per level, this one {fields}",
                             str(path))
    return fields


class BookRows:
    """A LOBSTER orderbook file streamed block by block, its rows fetched by line number (the
    row on line L is the book after the message on line L)."""

    def __init__(self, path: Path | str, depth: int | None = None,
                 batch_rows: int = 1_000_000) -> None:
        self.path = Path(path)
        available = _book_columns(self.path) // 4
        self.depth = available if depth is None else depth
        if self.depth > available:
            raise UnreadableFeed(0, f"the orderbook file has {available} levels, not "
                                    f"{self.depth}", str(self.path))
        self.errors: list = []
        names = level_columns(available)
        self._columns = [Column(n, pa.int64(), INT) for n in names]
        self._keep = level_columns(self.depth)
        self._blocks = iter(CsvBlocks(self.path, self._columns, header=False,
                                      block_size=batch_rows * 8 * len(names),
                                      errors=self.errors))
        self._buffer: pa.Table | None = None
        self._lines = np.zeros(0, dtype=np.int64)
        self._done = False

    def _pull(self) -> bool:
        try:
            batch, lines = next(self._blocks)
        except StopIteration:
            self._done = True
            return False
        table = pa.Table.from_batches([batch.select(self._keep)])
        table = _unpad(table)
        if self._buffer is None or self._buffer.num_rows == 0:
            self._buffer, self._lines = table, lines
        else:
            self._buffer = pa.concat_tables([self._buffer, table])
            self._lines = np.concatenate([self._lines, lines])
        return True

    def rows_for(self, lines: np.ndarray) -> pa.Table:
        """The rows on `lines` (ascending), with a `present` column (False: the file has no such
        row); rows before the first of `lines` are forgotten."""
        last = int(lines[-1]) if len(lines) else 0
        while not self._done and (len(self._lines) == 0 or self._lines[-1] < last):
            self._pull()
        if self._buffer is None or len(self._lines) == 0:
            present = np.zeros(len(lines), dtype=bool)
            empty = {n: pa.nulls(len(lines), pa.int64()) for n in self._keep}
            return pa.table({**empty, "present": present})
        pos = np.searchsorted(self._lines, lines)
        pos_clipped = np.minimum(pos, len(self._lines) - 1)
        present = self._lines[pos_clipped] == lines
        taken = self._buffer.take(pa.array(pos_clipped))
        if not present.all():
            missing = pa.array(~present)
            nothing = pa.scalar(None, pa.int64())
            taken = pa.table({n: pc.if_else(missing, nothing, taken[n]) for n in self._keep})
        result = taken.append_column("present", pa.array(present))
        done = int(np.searchsorted(self._lines, last, side="right"))
        self._buffer = self._buffer.slice(done)
        self._lines = self._lines[done:]
        return result


def _unpad(table: pa.Table) -> pa.Table:
    """Padded levels (price ±9999999999, size 0) -> null price and size."""
    columns = {}
    depth = table.num_columns // 4
    for j in range(1, depth + 1):
        for side in ("ask", "bid"):
            price = table[f"{side}_price_{j}"].to_numpy()
            size = table[f"{side}_size_{j}"].to_numpy()
            empty = (np.abs(price) == PAD) | (size == 0)
            columns[f"{side}_price_{j}"] = pa.array(price, mask=empty)
            columns[f"{side}_size_{j}"] = pa.array(size, mask=empty)
    return pa.table({n: columns[n] for n in table.column_names})


def read_lobster_book(path: Path | str, depth: int | None = None) -> pa.Table:
    """The whole orderbook file: ask_price_1, ask_size_1, bid_price_1, bid_size_1, ... (int64;
    padded levels are null), `depth` levels (all the file has when None)."""
    rows = BookRows(path, depth)
    batches = []
    while rows._pull():
        pass
    if rows.errors:
        raise rows.errors[0]
    if rows._buffer is not None:
        batches = rows._buffer.to_batches()
    schema = pa.schema([pa.field(n, pa.int64()) for n in level_columns(rows.depth)])
    return pa.Table.from_batches(batches, schema=schema)
