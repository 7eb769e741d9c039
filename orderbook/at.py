"""The book of a symbol at any moment: the nearest checkpoint, then the events up to that moment.

`book_at(home, "AAPL", "2012-06-21T13:30:05.5Z")`:

1. the stored stream: the `book_files` rows of the symbol (and venue) whose first event is at or
   before the moment; among them the one still running then (last event at or after it), else
   the one that ended last; ties go to the later start, then to the longer stream, then to the
   latest import (`sha256=` chooses one by hand);
2. its checkpoint: the last one at or before the moment (the index in the checkpoint file's
   footer, orderbook/checkpoints.py), read as one row group; none: an empty book;
3. the events between: the checkpoint knows how many events it holds, so they are read from that
   row on, up to the last event at or before the moment: only the row groups of the stream's
   events file that hold them are read (its footer gives each row group's rows and `ts` range,
   as a pyarrow dataset filter would use them, without the scanner's ~2.5 ms a call). A LOBSTER
   stream's stored orderbook rows, aligned row for row, are read the same way and reconcile the
   book as in replay;
4. `Book.from_checkpoint(...).apply(events)`, then `levels(depth)` (the engine's per-event
   rows are not wanted here, so it runs at depth 1: the state is the same).

The book at a moment holds every event whose `ts` is at or before it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archive.errors import BadTime, SalvageError
from archive.home import Home
from archive.timeparse import parse_time
from orderbook.checkpoints import CheckpointFile, Mark
from orderbook.engine import Book
from orderbook.store import book_files, book_rows

NS = 1_000_000_000
REPLAY_COLUMNS = ["ts", "ts_event", "action", "side", "price", "size", "order_id", "flags",
                  "sequence", "line"]
"""The stored columns replay needs (raw_action, channel and instrument_id are not read)."""
_ISO = re.compile(r"^(?P<base>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)"
                  r"(?:\.(?P<frac>\d{1,9}))?(?P<tz>Z|[+-]\d{2}:?\d{2})?$")


class NoBook(SalvageError):
    """No stored events of a symbol at or before the moment asked for."""


def parse_ns(text: str | int | datetime) -> int:
    """A moment as ns since the epoch (UTC): an ISO 8601 time with up to nine decimals
    (`2012-06-21T13:30:05.123456789Z`; no offset means UTC), a date (its midnight, UTC), a 14-digit
    WARC timestamp, a datetime, or an integer of ns (19 digits)."""
    if isinstance(text, datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=UTC)
        return _epoch_ns(moment)
    if isinstance(text, int):
        return text
    raw = text.strip()
    if raw.lstrip("-").isdigit() and len(raw.lstrip("-")) > 14:
        return int(raw)
    m = _ISO.match(raw)
    if m is None:
        return _epoch_ns(parse_time(raw))
    tz = m["tz"] or "+00:00"
    tz = "+00:00" if tz == "Z" else tz
    text = m["base"].replace(" ", "T")
    try:
        base = datetime.fromisoformat((text if "T" in text else text + "T00:00") + tz)
    except ValueError as exc:
        raise BadTime(f"cannot read the time {text!r}: {exc}") from exc
    frac = int((m["frac"] or "").ljust(9, "0"))
    return _epoch_ns(base) + frac


def _epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def iso_ns(ns: int | None) -> str | None:
    """ns since the epoch as ISO 8601 UTC with nine decimals."""
    if ns is None:
        return None
    whole = datetime.fromtimestamp(ns // NS, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns % NS:09d}Z"


@dataclass
class BookAt:
    """The book of `symbol` at `at` (`--json` prints `as_dict()`, described in docs/CATALOG.md)."""

    symbol: str
    venue: str
    date: date
    at: int
    ts: int | None
    """ns of the last event applied (None: no event yet)."""
    events: int
    """Events of the stream applied, from its first."""
    checkpoint_event: int
    """Events the checkpoint started from already held (0: none, an empty book)."""
    replayed: int
    depth: int
    price_scale: int
    sha256: str
    original_name: str
    bids: list[dict] = field(default_factory=list)
    """`{price, size, orders}`, best first (prices in feed units: divide by price_scale)."""
    asks: list[dict] = field(default_factory=list)

    def row(self) -> dict[str, int | None]:
        """The book as replay writes a row: `ts`, then ask_price_1, ask_size_1, bid_price_1,
        bid_size_1, ... to `depth` (None for an empty level)."""
        out: dict[str, int | None] = {"ts": self.ts}
        for j in range(self.depth):
            ask = self.asks[j] if j < len(self.asks) else None
            bid = self.bids[j] if j < len(self.bids) else None
            out[f"ask_price_{j + 1}"] = ask["price"] if ask else None
            out[f"ask_size_{j + 1}"] = ask["size"] if ask else None
            out[f"bid_price_{j + 1}"] = bid["price"] if bid else None
            out[f"bid_size_{j + 1}"] = bid["size"] if bid else None
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "venue": self.venue, "date": self.date.isoformat(),
                "at": iso_ns(self.at), "at_ns": self.at, "ts": iso_ns(self.ts),
                "ts_ns": self.ts, "events": self.events,
                "checkpoint_event": self.checkpoint_event, "replayed": self.replayed,
                "depth": self.depth, "price_scale": self.price_scale, "sha256": self.sha256,
                "original_name": self.original_name, "bids": self.bids, "asks": self.asks}


class Books:
    """The stored books of one home. Keep one for many lookups: the `book_files` rows, the
    checkpoint indexes and the datasets are read once (`refresh()` forgets them)."""

    def __init__(self, home: Home):
        self.home = home
        self._rows: list[dict] | None = None
        self._checkpoints: dict[str, CheckpointFile] = {}
        self._files: dict[str, StoredFile] = {}

    def refresh(self) -> None:
        self._rows = None
        self._checkpoints.clear()
        self._files.clear()

    def streams(self, symbol: str, venue: str | None = None) -> list[dict]:
        if self._rows is None:
            self._rows = book_files(self.home)
        return [r for r in self._rows if r["symbol"] == symbol and r["events"] > 0
                and (venue is None or r["venue"] == venue)]

    def stream_at(self, symbol: str, at: int, venue: str | None = None,
                  sha256: str | None = None) -> dict:
        """The stored stream whose book at `at` is wanted (see the module's docstring)."""
        rows = self.streams(symbol, venue)
        if sha256:
            rows = [r for r in rows if r["sha256"].startswith(sha256.lower())]
        if not rows:
            what = f"{symbol}" + (f" at {venue}" if venue else "") + \
                (f" from a file {sha256}…" if sha256 else "")
            raise NoBook(f"no events of {what} are stored: import its feed with `salvage book "
                         "import FILE --format lobster|mbo` (`salvage query \"SELECT * FROM "
                         "book_files\"` lists what is)")
        started = [r for r in rows if r["first_ts"] <= at]
        if not started:
            first = min(rows, key=lambda r: r["first_ts"])
            raise NoBook(f"no events of {symbol} at or before {iso_ns(at)}: the first stored "
                         f"one is at {iso_ns(first['first_ts'])} ({first['original_name']})")
        return max(started, key=lambda r: (min(r["last_ts"], at), r["first_ts"], r["events"],
                                           r["recorded_at"]))

    def _checkpoint_file(self, row: dict) -> CheckpointFile:
        path = row["checkpoints_path"]
        if path not in self._checkpoints:
            self._checkpoints[path] = CheckpointFile(self.home.root / path)
        return self._checkpoints[path]

    def _stored(self, path: str) -> StoredFile:
        if path not in self._files:
            self._files[path] = StoredFile(self.home.root / path)
        return self._files[path]

    def at(self, symbol: str, at: str | int | datetime, depth: int = 10,
           venue: str | None = None, sha256: str | None = None) -> BookAt:
        """The book of `symbol` at `at` (ns, ISO 8601 text or a datetime), `depth` levels."""
        if depth < 1:
            raise ValueError("depth must be at least 1")
        moment = parse_ns(at)
        row = self.stream_at(symbol, moment, venue, sha256)
        mark = self._checkpoint_file(row).before(moment)
        events, levels = self._between(row, mark, moment)
        if mark is not None:
            book = self._checkpoint_file(row).book(mark, 1)
        else:
            book = Book(1, row["price_scale"] or 1)
        if events.num_rows:
            batch = events.combine_chunks().to_batches()[0]
            rows = book_rows(levels).combine_chunks() if levels is not None else None
            book.apply(batch, book=rows)
        found = book.levels(depth).to_pylist()
        sides = {1: [], -1: []}
        for level in found:
            sides[level["side"]].append({"price": level["price"], "size": level["size"],
                                         "orders": level["orders"]})
        return BookAt(symbol=symbol, venue=row["venue"], date=row["date"], at=moment,
                      ts=book.ts, events=book.events,
                      checkpoint_event=mark.event if mark else 0, replayed=events.num_rows,
                      depth=depth, price_scale=row["price_scale"] or 1, sha256=row["sha256"],
                      original_name=row["original_name"], bids=sides[1], asks=sides[-1])

    def _between(self, row: dict, mark: Mark | None, moment: int
                 ) -> tuple[pa.Table, pa.Table | None]:
        """The stored events (and feed book rows) after the checkpoint, up to `moment`."""
        start = mark.event if mark is not None else 0
        events = self._stored(row["events_path"]).rows(start, moment, REPLAY_COLUMNS)
        levels = None
        if row.get("levels_path"):
            stored = self._stored(row["levels_path"])
            names = [n for n in stored.names if n != "line"]
            levels = stored.rows(start, moment, names)
            if levels.num_rows != events.num_rows or not levels["ts"].equals(events["ts"]):
                raise SalvageError(f"{row['levels_path']} is not aligned with "
                                   f"{row['events_path']}: import the feed again")
        return events, levels


class StoredFile:
    """One stored events (or levels) file, found into by row number and time: its footer says
    where each row group starts and what `ts` range it holds."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        meta = self._file.metadata
        self.names = self._file.schema_arrow.names
        ts = self.names.index("ts")
        self.starts: list[int] = []
        self.lowest: list[int] = []
        at = 0
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            stats = group.column(ts).statistics
            self.starts.append(at)
            self.lowest.append(stats.min if stats is not None and stats.has_min_max else -2**63)
            at += group.num_rows
        self.rows_total = at
        self.sorted = all(a <= b for a, b in zip(self.lowest, self.lowest[1:], strict=False))

    def rows(self, start: int, moment: int, columns: list[str]) -> pa.Table:
        """Rows `start`.. whose `ts` is at or before `moment` (feed order), reading only the row
        groups that can hold them."""
        if start >= self.rows_total:
            return self._file.schema_arrow.empty_table().select(columns)
        first = bisect.bisect_right(self.starts, start) - 1
        last = max(first, bisect.bisect_right(self.lowest, moment) - 1) \
            if self.sorted else len(self.starts) - 1
        table = self._file.read_row_groups(range(first, last + 1), columns=columns,
                                           use_threads=False).slice(start - self.starts[first])
        ts = table["ts"].to_numpy()
        keep = ts <= moment
        n = int(np.argmin(keep)) if not keep.all() else len(keep)
        if n == len(keep) or not keep[n:].any():
            return table.slice(0, n)
        return table.filter(pa.array(keep))  # ts going back in the feed: what a filter keeps


def book_at(home: Home, symbol: str, at: str | int | datetime, depth: int = 10,
            venue: str | None = None, sha256: str | None = None) -> BookAt:
    """The book of `symbol` at `at` (see the module's docstring)."""
    return Books(home).at(symbol, at, depth, venue, sha256)
