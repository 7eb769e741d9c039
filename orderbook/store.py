"""Order-book feeds in the home: raw files in the WARCs, events in partitioned Parquet, checkpoints.

Layout (described in docs/CATALOG.md):

    books/events/venue=<v>/symbol=<s>/date=<YYYY-MM-DD>/<sha256>.parquet       events, feed order
    books/levels/venue=<v>/symbol=<s>/date=<YYYY-MM-DD>/<sha256>.parquet       LOBSTER's book rows
    books/checkpoints/venue=<v>/symbol=<s>/date=<YYYY-MM-DD>/<sha256>.parquet  full books
    catalog/book_files/                          one row per (feed file, symbol): the commit mark

`<sha256>` is the feed file's. Partition values are URI-encoded (pyarrow's hive default), so a
symbol such as `BRK/B` stays one folder. One call of `import_feeds` takes a batch of files (the
`ingest_feeds` flow calls it once per batch); each step is safe to repeat after a crash:

1. every file is hashed; files whose bytes `book_files` already holds are done (a no-op);
2. the others are archived as WARC `resource` records under `urn:salvage:feed:<sha256>`, with a
   `metadata` record (name, size, mtime, format, venue, companion) concurrent to them; a LOBSTER
   `..._orderbook_N.csv` given beside its `..._message_N.csv` is archived as that file's
   companion. The WARC is closed (fsync'd, indexed, catalogued, audited) before anything else;
   bytes the index already holds under their URN are not written twice;
3. each file is parsed, streaming (`Feed.batches()`): the events of each symbol go through a
   `ParquetWriter` into a temporary file (row groups of `ROW_GROUP_ROWS`, ts statistics) and
   through an `engine.Book` that is checkpointed every `checkpoint_every` events and after the
   last (orderbook/checkpoints.py). A LOBSTER file's orderbook rows seed the book and reconcile
   it, as in replay, and are stored beside the events (`books/levels/`) so that `book at`
   replays the same way. Every file is fsync'd and renamed into place at the end;
4. its `book_files` rows are appended. Readers (`book at`, gap detection) use only files that have
   a row, so a crash between 3 and 4 leaves files that the next import rewrites, identical.

Bad input: rows the parser rejects are counted and listed (line, reason) in `book_files.errors`
and the rest imported; a file that cannot be read at all keeps its WARC record and gets one row
with a null symbol, its error and `error_type` (it is tried again by the next import).

Book repair: `rebuild_stream(home, sha256)` stores a file's streams again from its archived bytes
(step 3 only, over the damaged files; no WARC record written, a `book_files` row only for a
stream that comes out different).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from archive import softerrors
from archive.capture import CaptureSettings
from archive.errors import SalvageError
from archive.home import Home
from archive.lookup import Index
from archive.payload import read_headers
from archive.records import new_record_id, warc_date
from archive.repair import recover
from archive.writer import WarcWriter
from orderbook.checkpoints import CheckpointWriter, TempParquet
from orderbook.engine import Book, Checkpoint
from orderbook.events import EVENTS_VERSION, FeedError, FeedInfo
from orderbook.lobster import BookRows, book_file_for, read_lobster
from orderbook.mbo import read_mbo
from orderbook.replay import seed_checkpoint
from storage.query import Catalog
from storage.tables import append_rows, catalog_lock, read_table

log = logging.getLogger("salvage.books")

URI_PREFIX = "urn:salvage:feed:"
"""Feed files are archived under `urn:salvage:feed:<sha256 hex>`: one URI per distinct content,
so two vendors' `AAPL_2012-06-21_message_10.csv` never share one, and a re-import is recognised."""
CHECKPOINT_EVERY = 25_000
"""Events between two full-book checkpoints of a stream (`--checkpoint-every`). On a 10M-event day
with ~10,000 resting orders: `book at` p50 5 ms (11 ms at 100,000), checkpoints 12% of the events'
bytes (benchmarks/books_at.py; docs/BENCHMARKS.md)."""
ROW_GROUP_ROWS = 16_384
"""Rows per row group of an events file: what a `ts` filter skips or reads at a time."""
EVENTS_DICTIONARY = ("action", "side", "flags", "channel", "raw_action", "instrument_id")
EVENTS_DELTA = ("ts", "ts_event", "price", "order_id", "sequence", "line")
"""Parquet encodings of an events file: dictionaries for the few-valued columns, delta for the
ordered or clustered integers (half the size of plain zstd, and twice as fast to read back)."""
MAX_ERRORS = 1_000
"""Bad rows listed per file in `book_files.errors` (`error_count` counts them all)."""
LEVELS_VERSION = 1
UNKNOWN_VENUE = "unknown"
PARTITIONING = pa.schema([("venue", pa.string()), ("symbol", pa.string()),
                          ("date", pa.date32())])
READ_CHUNK = 1 << 20
_LOBSTER_BOOK = re.compile(r"^(?P<stem>.+)_orderbook_(?P<levels>\d+)\.csv$", re.IGNORECASE)


class BookStoreError(SalvageError):
    """Feed files cannot be imported as given."""


class UnknownFormat(BookStoreError):
    """A feed format Salvage has no reader for."""


class FeedChanged(BookStoreError):
    """A feed file changed while it was imported (still being copied?)."""


class FeedUnreadable(BookStoreError):
    """Nothing in a feed file could be read (its bytes are archived all the same)."""


# -- readers -------------------------------------------------------------------------------------


def _lobster(paths: list[Path], symbol: str | None, day: date | None, venue: str | None) -> Any:
    return read_lobster(paths[0], date=day, symbol=symbol)


def _mbo(paths: list[Path], symbol: str | None, day: date | None, venue: str | None) -> Any:
    return read_mbo(paths[0], symbol=symbol)


def _itch(paths: list[Path], symbol: str | None, day: date | None, venue: str | None) -> Any:
    from orderbook.itch import read_itch

    return read_itch(paths if len(paths) > 1 else paths[0], symbol=symbol, date=day)


def _l2(paths: list[Path], symbol: str | None, day: date | None, venue: str | None) -> Any:
    from orderbook.l2 import read_l2

    if not venue:
        raise FeedError(0, "an L2 feed needs its venue: --venue binance, coinbase or kraken")
    return read_l2(paths, venue, symbol=symbol, date=day)


READERS: dict[str, Callable[[list[Path], str | None, date | None, str | None], Any]] = {
    "lobster": _lobster,
    "mbo": _mbo,
    "itch": _itch,
    "l2": _l2,
}
"""Feed formats by name: a function (paths, symbol, date, venue) -> Feed (`info`, `batches()`,
`errors`, `findings`); more than one path only for redundant captures (A/B lines) of one feed.
A new format is one more entry."""
MIME = {"lobster": "text/csv", "mbo": "text/csv", "itch": "application/octet-stream",
        "l2": "application/x-ndjson"}
MERGEABLE = ("itch", "l2")
"""Formats whose readers merge A/B captures by sequence number (`lines=True`)."""


# -- layout --------------------------------------------------------------------------------------


def books_root(home: Home) -> Path:
    return home.root / "books"


def events_root(home: Home) -> Path:
    return books_root(home) / "events"


def checkpoints_root(home: Home) -> Path:
    return books_root(home) / "checkpoints"


def levels_root(home: Home) -> Path:
    return books_root(home) / "levels"


def feed_uri(sha256: str) -> str:
    return URI_PREFIX + sha256


def partition(venue: str, symbol: str, day: date) -> str:
    """`venue=<v>/symbol=<s>/date=<YYYY-MM-DD>`, values URI-encoded as pyarrow's hive reads them."""
    return (f"venue={quote(venue, safe='')}/symbol={quote(symbol, safe='')}/"
            f"date={day.isoformat()}")


def hive() -> ds.Partitioning:
    return ds.partitioning(PARTITIONING, flavor="hive")


def events_dataset(home: Home, paths: Iterable[Path | str] | None = None) -> ds.Dataset:
    """The stored events as one pyarrow dataset, with `venue`, `symbol` and `date` columns from
    the partition folders; `paths` (e.g. `book_files.events_path`, relative to the home) narrows it
    to those files. Several files of one day may overlap (two vendors' copies of one feed): read
    one file per (symbol, day) — `book_files` says which — rather than the whole partition."""
    root = events_root(home)
    if paths is None:
        root.mkdir(parents=True, exist_ok=True)
        return ds.dataset(root, format="parquet", partitioning=hive())
    files = [str(home.root / p) for p in paths]
    return ds.dataset(files, format="parquet", partitioning=hive(), partition_base_dir=str(root))


@contextlib.contextmanager
def _books_lock(home: Home) -> Iterator[None]:
    """One import at a time per home (a flow run overlapping a hand-run import waits)."""
    books_root(home).mkdir(parents=True, exist_ok=True)
    with open(books_root(home) / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# -- the catalog ---------------------------------------------------------------------------------


def book_files(home: Home, symbol: str | None = None, venue: str | None = None) -> list[dict]:
    """The current `book_files` rows of stored streams (the latest per sha256 and symbol),
    optionally of one symbol and venue; files that could not be read are left out."""
    with catalog_lock(home.catalog):
        table = read_table(home.catalog, "book_files")
    mask = pc.is_valid(table["symbol"])
    if symbol is not None:
        mask = pc.and_(mask, pc.equal(table["symbol"], symbol))
    if venue is not None:
        mask = pc.and_(mask, pc.equal(table["venue"], venue))
    table = table.filter(mask)
    latest: dict[tuple[str, str], dict] = {}
    for row in table.to_pylist():
        key = (row["sha256"], row["symbol"])
        if key not in latest or row["recorded_at"] >= latest[key]["recorded_at"]:
            latest[key] = row
    return sorted(latest.values(), key=lambda r: (r["symbol"], r["date"], r["first_ts"] or 0,
                                                  r["sha256"]))


def filers_for(home: Home, symbol: str, as_of: datetime | None = None) -> list[dict]:
    """The filers (current `issuers` rows: cik, name, tickers, exchanges) whose EDGAR tickers
    name `symbol` (`BRK.B`, `BRK/B` and `BRK-B` alike); the `book_issuers` view joins every
    imported symbol the same way."""
    from storage.query import TICKER_KEY

    sql = (f"SELECT cik, name, tickers, exchanges, category, sic, sic_description FROM issuers "
           f"WHERE list_contains(list_transform(tickers, lambda t: {TICKER_KEY.format('t')}), "
           f"{TICKER_KEY.format('$symbol')}) ORDER BY cik")
    with Catalog(home.catalog, as_of).connect() as con:
        return con.sql(sql, params={"symbol": symbol}).to_arrow_table().to_pylist()


# -- one stream: the events of one symbol of one file ----------------------------------------------


@dataclass
class Stored:
    """What was stored of one symbol of one feed file (the variable part of its `book_files`
    row)."""

    symbol: str
    venue: str
    date: date
    events: int
    first_ts: int | None
    last_ts: int | None
    checkpoints: int
    events_path: str
    checkpoints_path: str
    levels_path: str | None = None
    errors: list[dict] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    """The engine's RejectedEvent errors (well-formed events the book could not apply)."""



def _day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts // 1_000_000_000, UTC).date()


class _Parts(TempParquet):
    """A Parquet file written in row groups of exactly `rows` rows (the last may be shorter) to a
    temporary sibling, made durable and renamed into place by `close`."""

    def __init__(self, path: Path, rows: int, metadata: dict[bytes, bytes],
                 dictionary: tuple[str, ...] = (), delta: tuple[str, ...] = ()):
        super().__init__(path)
        self.rows, self.metadata = rows, metadata
        self.dictionary, self.delta = dictionary, delta
        self._schema: pa.Schema | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._schema = data.schema.with_metadata(self.metadata)
            low = [f.name for f in self._schema if f.name in self.dictionary]
            delta = {f.name: "DELTA_BINARY_PACKED" for f in self._schema
                     if f.name in self.delta and pa.types.is_integer(f.type)}
            self._writer = pq.ParquetWriter(self.tmp, self._schema, compression="zstd",
                                            use_dictionary=low, column_encoding=delta or None,
                                            write_statistics=True)
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        self._pending += batches
        self._pending_rows += data.num_rows
        if self._pending_rows >= self.rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        assert self._writer is not None and self._schema is not None
        table = pa.Table.from_batches(self._pending).cast(self._schema)
        cut = table.num_rows if final else (table.num_rows // self.rows) * self.rows
        if cut:
            self._writer.write_table(table.slice(0, cut), row_group_size=self.rows)
        rest = table.slice(cut)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows

    def close(self) -> Path | None:
        if self._writer is None:
            return None
        self._flush(final=True)
        return self._commit()


class _Stream:
    """One symbol of one file: its events (and the feed's own book rows, when it comes with
    them) in fixed row groups, and its book checkpointed every `every` events; `finish` makes
    every file durable and renames it into place."""

    def __init__(self, home: Home, venue: str, symbol: str, day: date, sha256: str,
                 info: FeedInfo, every: int, row_group: int, with_levels: bool):
        self.home, self.venue, self.symbol, self.day = home, venue, symbol, day
        self.every = every
        where = partition(venue, symbol, day)
        source = {
            b"salvage.source_sha256": sha256.encode(), b"salvage.format": str(info.format)
            .encode(), b"salvage.venue": venue.encode(), b"salvage.symbol": symbol.encode(),
            b"salvage.date": day.isoformat().encode(),
            b"salvage.price_scale": str(info.price_scale).encode(),
        }
        self.events = _Parts(events_root(home) / where / f"{sha256}.parquet", row_group, {
            b"salvage.table": b"book_events",
            b"salvage.schema_version": str(EVENTS_VERSION).encode(), **source},
            dictionary=EVENTS_DICTIONARY, delta=EVENTS_DELTA)
        self.levels = _Parts(levels_root(home) / where / f"{sha256}.parquet", row_group, {
            b"salvage.table": b"book_levels",
            b"salvage.schema_version": str(LEVELS_VERSION).encode(), **source},
            delta=("ts", "line")) if with_levels else None
        self.checkpoints = CheckpointWriter(
            checkpoints_root(home) / where / f"{sha256}.parquet", source)
        self.book = Book(1, info.price_scale)
        self.count = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self._run_start = 0  # index of the first event of the trailing run of equal ts
        self.errors: list[dict] = []

    def seed(self, checkpoint: Checkpoint) -> None:
        """Start from a known book (LOBSTER's first row with its message undone), kept as the
        checkpoint before the first event."""
        self.book = Book.from_checkpoint(checkpoint, 1)
        self.checkpoints.add(checkpoint, 0, checkpoint.ts, 0)

    def add(self, batch: pa.RecordBatch, rows: pa.Table | None = None) -> None:
        """Store events (and the feed's book `rows` after each, aligned) and apply them."""
        if batch.num_rows == 0:
            return
        ts = batch.column("ts").to_numpy(zero_copy_only=False)
        self._check_order(batch, ts)
        self.events.write(batch)
        if self.levels is not None and rows is not None:
            self.levels.write(levels_table(batch, rows))
        pos, n = 0, batch.num_rows
        while pos < n:
            take = min(n - pos, self.every - self.count % self.every)
            self.book.apply(batch.slice(pos, take),
                            book=rows.slice(pos, take) if rows is not None else None)
            self._advance(ts[pos:pos + take])
            pos += take
            if self.count % self.every == 0:
                self._checkpoint()

    def _advance(self, ts: np.ndarray) -> None:
        last = int(ts[-1])
        other = np.flatnonzero(ts != last)
        if len(other):
            self._run_start = self.count + int(other[-1]) + 1
        elif self.last_ts != last:
            self._run_start = self.count
        if self.first_ts is None:
            self.first_ts = int(ts[0])
        self.count += len(ts)
        self.last_ts = last

    def _checkpoint(self) -> None:
        assert self.last_ts is not None
        self.checkpoints.add(self.book.checkpoint(), self.count, self.last_ts,
                             self.count - self._run_start)

    def _check_order(self, batch: pa.RecordBatch, ts: np.ndarray) -> None:
        """Events are stored in feed order; a `ts` going back is recorded (a reader selecting
        by time assumes order), once per place."""
        back = np.flatnonzero(np.diff(ts) < 0) + 1
        if self.last_ts is not None and ts[0] < self.last_ts:
            back = np.concatenate([[0], back])
        if not len(back):
            return
        lines = batch.column("line").to_numpy(zero_copy_only=False)
        for i in back[: max(0, MAX_ERRORS - len(self.errors))]:
            before = int(ts[i - 1]) if i else self.last_ts
            self.errors.append({
                "line": int(lines[i]),
                "reason": f"ts goes back from {before} to {int(ts[i])} ns: stored in feed "
                          "order; `book at` near this time may not see this event in place"})

    def finish(self) -> Stored:
        if self.count % self.every:
            self._checkpoint()  # the book after the last event
        self.events.close()
        levels = self.levels.close() if self.levels is not None else None
        self.checkpoints.close()
        return Stored(self.symbol, self.venue, self.day, self.count, self.first_ts, self.last_ts,
                      len(self.checkpoints.marks), self.home.relative(self.events.path),
                      self.home.relative(self.checkpoints.path),
                      self.home.relative(levels) if levels else None, self.errors,
                      self.book.errors)

    def abandon(self) -> None:
        self.events.abandon()
        if self.levels is not None:
            self.levels.abandon()
        self.checkpoints.abandon()


def levels_table(batch: pa.RecordBatch, rows: pa.Table) -> pa.Table:
    """The feed's book rows as stored beside the events: `ts` and `line` of the event, then
    `present` and the level columns (null: an empty level, or no row for that event)."""
    present = rows["present"] if "present" in rows.column_names else \
        pa.array(np.ones(rows.num_rows, dtype=bool))
    levels = [c for c in rows.column_names if c != "present"]
    return pa.table([batch.column("ts"), batch.column("line"), present,
                     *[rows[c] for c in levels]],
                    names=["ts", "line", "present", *levels])


def book_rows(levels: pa.Table) -> pa.Table:
    """Stored levels rows as `Book.apply(book=...)` takes them."""
    return levels.drop_columns([c for c in ("ts", "line", "venue", "symbol", "date")
                                if c in levels.column_names])


def by_instrument(batch: pa.RecordBatch, attach_unassigned: bool = False
                  ) -> list[tuple[int | None, pa.RecordBatch]]:
    """The batch's rows per `instrument_id`, each group in file order (one stable argsort of
    the ids and one take: linear in the rows however many instruments a batch holds, where a
    filter per instrument would be rows × instruments). Rows without an instrument are the
    group None; with `attach_unassigned` they go with every instrument's rows instead (ITCH
    system events), and a batch of nothing else gives no group."""
    ids = batch.column("instrument_id")
    n = batch.num_rows
    if ids.null_count == n:
        return [] if attach_unassigned else [(None, batch)]
    raw = ids.fill_null(0).to_numpy(zero_copy_only=False)
    small = int(raw.max()) < 0xFFFF  # ITCH locates: a radix sort of 16-bit keys, ~10x faster
    keys = raw.astype(np.uint16 if small else np.int64)
    none = 0xFFFF if small else -1  # rows without an instrument: one group, last or first
    if ids.null_count:
        keys[~ids.is_valid().to_numpy(zero_copy_only=False)] = none
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    cuts = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), n]
    groups = [(int(ordered[s]), order[s:e]) for s, e in zip(cuts, cuts[1:], strict=False)]
    if len(groups) == 1:
        return [(groups[0][0], batch)]
    unassigned = next((rows for key, rows in groups if key == none), None)
    if unassigned is not None and attach_unassigned:
        return [(key, batch.take(pa.array(np.sort(np.concatenate([rows, unassigned])))))
                for key, rows in groups if key != none]
    taken = batch.take(pa.array(order))
    return [(None if key == none else key, taken.slice(s, e - s))
            for (key, _), s, e in zip(groups, cuts, cuts[1:], strict=False)]


def _split(batch: pa.RecordBatch, default: str, names: Mapping[int, str],
           attach_unassigned: bool = False) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The batch's rows by symbol: an MBO, ITCH or L2 file may hold several instruments
    (`instrument_id`, named through `names`, else the number itself); other feeds are one symbol,
    `default`. With `attach_unassigned` (ITCH: system events have no instrument), rows without an
    instrument go with every instrument's rows of the batch, and a batch of nothing else is
    dropped (the raw bytes stay in the WARC)."""
    if "instrument_id" not in batch.schema.names:
        yield default, batch
        return
    for instrument, part in by_instrument(batch, attach_unassigned):
        yield (default if instrument is None else names.get(instrument, str(instrument))), part


def store_events(home: Home, info: FeedInfo, batches: Iterable[pa.RecordBatch], sha256: str, *,
                 venue: str | None = None, symbol: str | None = None, day: date | None = None,
                 names: Mapping[int, str] | None = None, book: BookRows | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY,
                 row_group: int = ROW_GROUP_ROWS) -> list[Stored]:
    """Store a stream of EVENTS batches (one feed file's: `sha256` names the files written) under
    the home, split by symbol, with a checkpoint every `checkpoint_every` events of each symbol.

    `names` maps MBO instrument ids to symbols (a feed of several instruments, read without a
    symbol, is split by instrument_id; an id without a name is stored under its number). `book`
    is the feed's own book after each event (LOBSTER's orderbook file), stored beside the events
    and given to the engine, as replay does.
    Nothing is kept but the current row group of each symbol: memory stays flat however long the
    day. The partition date is `day`, else the feed's date, else the UTC date of each symbol's
    first event. On an exception every temporary file is removed and nothing is renamed.
    """
    if checkpoint_every < 1:
        raise BookStoreError(f"checkpoint_every must be at least 1 (got {checkpoint_every})")
    venue = venue or info.venue or UNKNOWN_VENUE
    default = symbol or info.symbol or "unknown"
    day = day or info.date
    names = {} if names is None else names
    streams: dict[str, _Stream] = {}

    def stream(name: str, part: pa.RecordBatch) -> _Stream:
        if name not in streams:
            first = part.column("ts")[0].as_py()
            streams[name] = _Stream(home, venue, name, day or _day_of(first), sha256, info,
                                    checkpoint_every, row_group, with_levels=book is not None)
        return streams[name]

    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if book is not None:
                lines = batch.column("line").to_numpy(zero_copy_only=False)
                rows = book.rows_for(lines)
                if default not in streams:
                    head = rows.slice(0, 1).to_pylist()[0]
                    if head["present"]:  # the book before the first message, as replay seeds it
                        stream(default, batch).seed(
                            seed_checkpoint(batch, head, book.depth, info.price_scale))
                stream(default, batch).add(batch, rows)
                continue
            if symbol or info.symbol:  # one instrument (an MBO feed read for one symbol)
                stream(default, batch).add(batch)
                continue
            for name, part in _split(batch, default, names, info.format == "itch"):
                stream(name, part).add(part)
        return [streams[name].finish() for name in sorted(streams)]
    except BaseException:
        for s in streams.values():
            s.abandon()
        raise


# -- archiving the raw files ---------------------------------------------------------------------


@dataclass
class _Source:
    """A feed file as hashed before anything else."""

    path: Path
    sha256: str
    size: int
    mtime: datetime
    stamp: tuple[int, int]  # (size, mtime_ns): a file changing under us is refused
    companion: _Source | None = None
    where: tuple[str | None, int | None, str | None] | None = None  # WARC filename, offset, id
    others: list[_Source] = field(default_factory=list)  # the other lines of an A/B capture
    identity: str = ""  # the stream's sha256: the file's, or of the lines' sha256s when merged

    @property
    def lines(self) -> list[_Source]:
        return [self, *self.others] if self.others else []


class _Verified:
    """A file read for a WARC record, refused (OSError: the writer rewinds) if its bytes are not
    the ones hashed."""

    def __init__(self, fh, source: _Source):
        self.fh, self.source, self.left = fh, source, source.size
        self.sha = hashlib.sha256()
        self.prefix = b""

    def read(self, n: int) -> bytes:
        data = self.fh.read(min(n, self.left))
        self.sha.update(data)
        self.left -= len(data)
        if self.left == 0 and self.sha.hexdigest() != self.source.sha256:
            raise OSError(errno.EIO, f"{self.source.path.name} changed while it was archived")
        return data


def _hash(path: Path) -> _Source:
    st = os.stat(path)
    if not os.path.isfile(path):
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while data := fh.read(READ_CHUNK):
            sha.update(data)
            size += len(data)
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns) or size != st.st_size:
        raise FeedChanged(f"{path.name} changed while it was read (still being copied?): "
                          "import it once it is complete")
    return _Source(Path(path), sha.hexdigest(), size,
                   datetime.fromtimestamp(st.st_mtime, UTC), (st.st_size, st.st_mtime_ns))


def _prefix(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(softerrors.PREFIX_BYTES)


def _field(value: Any) -> str:
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return json.dumps(text, ensure_ascii=False)[1:-1] if any(ord(c) < 32 for c in text) else text


class _Archiver:
    """Writes feed files as `resource` records (once per content) with a `metadata` record."""

    def __init__(self, home: Home, writer: WarcWriter, index: Index):
        self.home, self.writer, self.index = home, writer, index

    def where(self, source: _Source) -> tuple[str | None, int | None, str | None] | None:
        uri = feed_uri(source.sha256)
        for line in self.index.captures(uri):
            if line.data.get("digest") == "sha256:" + source.sha256 and not line.is_revisit:
                record_id = read_headers(self.home, line).warc.get("WARC-Record-ID")
                return line.filename, line.offset, record_id
        return None

    def resource(self, source: _Source, mime: str, concurrent_to: str | None = None
                 ) -> tuple[str | None, int | None, str | None]:
        record_id = new_record_id()
        digest = "sha256:" + source.sha256
        fields = [("WARC-Record-ID", record_id), ("WARC-Date", warc_date(datetime.now(UTC))),
                  ("WARC-Target-URI", feed_uri(source.sha256)), ("Content-Type", mime),
                  ("WARC-Payload-Digest", digest), ("WARC-Block-Digest", digest),
                  ("WARC-Source-File-Name", _field(source.path.name)),
                  ("WARC-Source-File-Modified", warc_date(source.mtime))]
        if concurrent_to:
            fields.append(("WARC-Concurrent-To", concurrent_to))
        with open(source.path, "rb") as fh:
            entry = self.writer.write("resource", fields, _Verified(fh, source), source.size,
                                      payload_prefix=_prefix(source.path))
        return (entry.filename if entry else None, entry.offset if entry else None, record_id)

    def take(self, source: _Source, facts: list[tuple[str, Any]], mime: str = "text/csv"
             ) -> None:
        """Archive `source` (its companion, its other lines) unless the index holds the bytes
        already."""
        concurrent: list[str] = []
        source.where = self.where(source)
        if source.where is None:
            source.where = self.resource(source, mime)
            concurrent.append(source.where[2] or "")
        for comp in ([source.companion] if source.companion else []) + source.others:
            comp.where = self.where(comp)
            if comp.where is None:
                comp.where = self.resource(comp, mime,
                                           concurrent_to=concurrent[0] if concurrent else None)
                concurrent.append(comp.where[2] or "")
        if not concurrent:
            return
        block = "".join(f"{k}: {_field(v)}\r\n" for k, v in facts if v is not None)
        data = block.encode("utf-8")
        fields = [("WARC-Record-ID", new_record_id()), ("WARC-Date", warc_date(datetime.now(UTC))),
                  ("WARC-Target-URI", feed_uri(source.sha256)),
                  ("WARC-Refers-To", source.where[2] or "")]
        fields += [("WARC-Concurrent-To", rid) for rid in concurrent]
        fields += [("Content-Type", "application/warc-fields"),
                   ("WARC-Block-Digest", "sha256:" + hashlib.sha256(data).hexdigest())]
        self.writer.write("metadata", fields, data)


# -- import --------------------------------------------------------------------------------------


@dataclass
class FeedImport:
    """What one `import_feeds` call did with one feed file (`--json` prints these)."""

    path: str
    name: str
    format: str
    sha256: str | None = None
    size: int = 0
    uri: str | None = None
    filename: str | None = None
    offset: int | None = None
    record_id: str | None = None
    companion: str | None = None
    lines: list[str] = field(default_factory=list)
    """The files merged as redundant lines of one feed (`lines=True`), the first given first."""
    findings: list[dict] = field(default_factory=list)
    """The reader's integrity findings (FeedFinding.as_dict()): sequence gaps, fills, checksum
    mismatches, unknown-state windows, resyncs."""
    already: bool = False
    """Its bytes were imported before: nothing was done."""
    symbols: list[dict] = field(default_factory=list)
    """`{symbol, venue, date, events, first_ts, last_ts, checkpoints, events_path,
    checkpoints_path}` of each symbol stored (first_ts/last_ts: ns since the epoch, UTC)."""
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)
    """`{line, reason}` of rows the parser rejected (the first `MAX_ERRORS`)."""
    error: str | None = None
    """Why nothing (or not all) could be read; the bytes are archived all the same."""
    error_type: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def events(self) -> int:
        return sum(s["events"] for s in self.symbols)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "events": self.events}


@dataclass
class BookImport:
    """One `import_feeds` call: every file given, and the WARC files written."""

    files: list[FeedImport] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "files": [f.as_dict() for f in self.files],
                "repaired": self.repaired, "seconds": round(self.seconds, 3)}


def _pairs(paths: list[Path], fmt: str) -> list[tuple[Path, Path | None, str | None]]:
    """Each feed file with its companion, or why it is not imported: a LOBSTER
    `X_orderbook_N.csv` (LOBSTER's own book after every message) goes with `X_message_N.csv`,
    given or found beside it as replay finds it, and is never imported alone."""
    if fmt != "lobster":
        return [(p, None, None) for p in paths]
    given = set(paths)
    out: list[tuple[Path, Path | None, str | None]] = []
    for p in paths:
        if _LOBSTER_BOOK.match(p.name):
            message = p.with_name(p.name.replace("_orderbook_", "_message_"))
            if message not in given:
                out.append((p, None, f"{p.name} is a LOBSTER orderbook file: import it with its "
                                     f"message file ({message.name}), which holds the events"))
            continue
        out.append((p, book_file_for(p), None))
    return out


class _Directory(Mapping[int, str]):
    """An ITCH feed's stock directory as it is read (locate -> symbol): the directory messages
    come first in the file, so each stream is named when its first event is met."""

    def __init__(self, feed: Any):
        self.feed = feed

    def __getitem__(self, key: int) -> str:
        return self.feed.directory[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self.feed.directory)

    def __len__(self) -> int:
        return len(self.feed.directory)


def _instrument_names(feed: Any) -> dict[int, str]:
    """instrument_id -> symbol of an MBO file (one pass over two columns): the symbol each id
    has most often; an id with no symbol keeps its number; a symbol that several ids have (one
    file from several venues) becomes `SYMBOL#<instrument_id>` for all but its busiest id."""
    best: dict[int, tuple[int, str]] = {}
    for r in feed.symbols().to_pylist():
        iid = r["instrument_id"]
        if r["symbol"] and iid is not None and (iid not in best or r["events"] > best[iid][0]):
            best[iid] = (r["events"], r["symbol"])
    names: dict[int, str] = {}
    taken: set[str] = set()
    for iid, (_, name) in sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0])):
        names[iid] = name if name not in taken else f"{name}#{iid}"
        taken.add(name)
    return names


def _names_for(feed: Any, fmt: str, symbol: str | None) -> Mapping[int, str] | None:
    """How a feed of several instruments read without a symbol names its streams."""
    if not symbol and fmt in ("mbo", "l2"):
        return _instrument_names(feed)
    if not symbol and fmt == "itch":
        return _Directory(feed)
    return None


def _current(home: Home) -> dict[str, list[dict]]:
    """sha256 -> the current `book_files` rows of files stored (a file that failed is not)."""
    rows: dict[str, list[dict]] = {}
    for row in book_files(home):
        rows.setdefault(row["sha256"], []).append(row)
    return rows


def _error_dict(error: Any) -> dict:
    line = getattr(error, "line", None)
    reason = getattr(error, "reason", None) or str(error)
    return {"line": int(line) if line is not None else None, "reason": str(reason)}


def _symbol_dict(row: dict) -> dict:
    return {"symbol": row["symbol"], "venue": row["venue"], "date": row["date"],
            "events": row["events"], "first_ts": row["first_ts"],
            "last_ts": row["last_ts"], "checkpoints": row["checkpoints"],
            "events_path": row["events_path"], "checkpoints_path": row["checkpoints_path"],
            "levels_path": row["levels_path"]}


def _identity(sources: list[_Source]) -> str:
    """The stream's sha256: of the file, or of the sorted sha256s of the lines merged."""
    if len(sources) == 1:
        return sources[0].sha256
    text = "lines:" + ",".join(sorted(x.sha256 for x in sources))
    return hashlib.sha256(text.encode()).hexdigest()


def import_feeds(home: Home, paths: Iterable[Path | str], fmt: str, *, venue: str | None = None,
                 symbol: str | None = None, day: date | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY, lines: bool = False,
                 settings: CaptureSettings | None = None) -> BookImport:
    """Import a batch of feed files of one format (`lobster`, `mbo`, `itch`, `l2`): archive the
    bytes, store the events and checkpoints, record `book_files` (and the readers'
    `feed_findings`). With `lines`, the files are redundant captures (A/B lines) of ONE feed,
    merged by sequence number into one stream. Re-importing the same bytes is a no-op."""
    if fmt not in READERS:
        raise UnknownFormat(f"no reader for the feed format {fmt!r}: choose from "
                            f"{', '.join(sorted(READERS))}")
    if checkpoint_every < 1:
        raise BookStoreError(f"--checkpoint-every must be at least 1 (got {checkpoint_every})")
    given = [Path(p).absolute() for p in paths]
    if lines and fmt not in MERGEABLE:
        raise BookStoreError(f"--lines merges A/B captures of sequenced feeds "
                             f"({', '.join(MERGEABLE)}), not {fmt}")
    if lines and len(given) < 2:
        raise BookStoreError("--lines needs the captures of at least two lines of one feed")
    started = time.perf_counter()
    settings = settings or CaptureSettings()
    report = BookImport(repaired=recover(home.ensure()))
    with _books_lock(home):
        done = _current(home)
        todo: list[tuple[_Source, FeedImport]] = []
        groups = [(given[0], None, None, given[1:])] if lines else [
            (p, c, r, []) for p, c, r in _pairs(given, fmt)]
        for path, companion, refused, others in groups:
            result = FeedImport(str(path), path.name, fmt,
                                companion=companion.name if companion else None,
                                lines=[path.name, *(o.name for o in others)] if others else [])
            report.files.append(result)
            if refused:
                result.error, result.error_type = refused, BookStoreError.__name__
                continue
            try:
                source = _hash(path)
                source.companion = _hash(companion) if companion else None
                source.others = [_hash(o) for o in others]
            except (OSError, BookStoreError) as exc:
                result.error, result.error_type = str(exc), type(exc).__name__
                continue
            source.identity = _identity(source.lines or [source])
            result.sha256, result.size = source.identity, source.size
            result.uri = feed_uri(source.sha256)
            if source.identity in done:
                rows = done[source.identity]
                result.already = True
                result.filename, result.offset = rows[0]["filename"], rows[0]["offset"]
                result.record_id = rows[0]["record_id"]
                result.symbols = [_symbol_dict(r) for r in rows]
                result.error_count = rows[0]["error_count"]
                continue
            todo.append((source, result))
        _archive(home, todo, fmt, venue, symbol, day, settings, report)
        for source, result in todo:
            if result.error is None:
                _store(home, source, result, fmt, venue, symbol, day, checkpoint_every)
    report.seconds = time.perf_counter() - started
    return report


def _archive(home: Home, todo: list[tuple[_Source, FeedImport]], fmt: str, venue: str | None,
             symbol: str | None, day: date | None, settings: CaptureSettings,
             report: BookImport) -> None:
    """Step 2: every file's bytes into the WARCs; the file is closed (durable) on return."""
    if not todo:
        return
    with Index(home) as index, WarcWriter(home, max_size=settings.max_warc_size) as writer:
        archiver = _Archiver(home, writer, index)
        for source, result in todo:
            comp = source.companion
            facts = [("original-name", source.path.name), ("size", source.size),
                     ("modified", warc_date(source.mtime)), ("sha256", source.sha256),
                     ("format", fmt), ("venue", venue), ("symbol", symbol), ("date", day),
                     ("folder", source.path.parent),
                     ("companion-name", comp.path.name if comp else None),
                     ("companion-sha256", comp.sha256 if comp else None),
                     ("companion-uri", feed_uri(comp.sha256) if comp else None)]
            for k, other in enumerate(source.others, start=2):  # the other lines, B, C, ...
                facts += [(f"line-{k}-name", other.path.name), (f"line-{k}-sha256", other.sha256),
                          (f"line-{k}-uri", feed_uri(other.sha256))]
            if source.others:
                facts.append(("stream-sha256", source.identity))
            try:
                archiver.take(source, facts, MIME.get(fmt, "application/octet-stream"))
            except OSError as exc:
                result.error, result.error_type = f"not archived: {exc}", type(exc).__name__
                continue
            result.filename, result.offset, result.record_id = source.where or (None,) * 3


def _store(home: Home, source: _Source, result: FeedImport, fmt: str, venue: str | None,
           symbol: str | None, day: date | None, checkpoint_every: int) -> None:
    """Steps 3 and 4 for one file: parse and store, then record its `book_files` rows."""
    started = time.perf_counter()
    stored: list[Stored] = []
    info: FeedInfo | None = None
    feed = None
    fatal: Exception | None = None
    rows: BookRows | None = None
    try:
        feed = READERS[fmt]([x.path for x in source.lines or [source]], symbol, day, venue)
        info = feed.info
        if source.companion is not None:
            rows = BookRows(source.companion.path)
        names = _names_for(feed, fmt, symbol)
        stored = store_events(home, info, feed.batches(), source.identity or source.sha256,
                              venue=venue, symbol=symbol, day=day,
                              names=names, book=rows, checkpoint_every=checkpoint_every)
        for x in source.lines or [source]:
            st = os.stat(x.path)
            if (st.st_size, st.st_mtime_ns) != x.stamp:
                stored = []
                raise FeedChanged(f"{x.path.name} changed while it was imported: the archived "
                                  "bytes are the ones hashed first; import it again once "
                                  "complete")
    except (FeedError, FeedChanged) as exc:
        fatal = exc
        result.error, result.error_type = str(exc), type(exc).__name__
    except Exception as exc:  # a reader's failure on bytes it cannot read: archived, recorded
        log.warning("cannot read %s", source.path, exc_info=True)
        fatal = exc
        result.error = f"cannot read {source.path.name} as {fmt}: {type(exc).__name__}: {exc}"
        result.error_type = FeedUnreadable.__name__
    found = [*(feed.errors if feed is not None else []), *(rows.errors if rows else [])]
    for s in stored:
        found += s.rejected
    errors = sorted((_error_dict(e) for e in found), key=lambda e: e["line"] or 0)
    for s in stored:
        errors.extend(s.errors)
    if fatal is not None:
        errors.append({"line": getattr(fatal, "line", None), "reason": result.error})
    result.error_count = len(errors)
    result.errors = errors[:MAX_ERRORS]
    base = {
        "sha256": source.identity or source.sha256, "original_name": source.path.name,
        "size": source.size, "format": fmt,
        "price_scale": int(info.price_scale) if info else None,
        "size_scale": int(info.size_scale) if info else None,
        "lines": [x.path.name for x in source.lines] or None,
        "line_sha256s": [x.sha256 for x in source.lines] or None,
        "checkpoint_every": checkpoint_every, "error_count": result.error_count,
        "errors": result.errors, "error_type": result.error_type, "uri": result.uri,
        "filename": result.filename, "offset": result.offset, "record_id": result.record_id,
        "companion_name": source.companion.path.name if source.companion else None,
        "companion_sha256": source.companion.sha256 if source.companion else None,
    }
    rows = []
    for s in stored:
        rows.append({**base, "venue": s.venue, "symbol": s.symbol, "date": s.date,
                     "events": s.events, "first_ts": s.first_ts, "last_ts": s.last_ts,
                     "checkpoints": s.checkpoints, "events_path": s.events_path,
                     "checkpoints_path": s.checkpoints_path, "levels_path": s.levels_path})
    if not rows:  # nothing stored: the file is recorded with its error, tried again next import
        rows.append({**base, "venue": venue or (info.venue if info else None), "symbol": None,
                     "date": day or (info.date if info else None), "events": 0,
                     "first_ts": None, "last_ts": None, "checkpoints": 0, "events_path": None,
                     "checkpoints_path": None, "levels_path": None})
        if result.error is None:
            result.error = f"{source.path.name} holds no event that could be read"
            result.error_type = FeedUnreadable.__name__
            rows[0]["error_type"] = result.error_type
    findings = list(getattr(feed, "findings", None) or [])
    result.findings = [f.as_dict() for f in findings]
    if findings:  # before the commit mark: a crash here leaves rows the re-import repeats
        append_rows(home.catalog, "feed_findings", _finding_rows(base, rows, findings))
    append_rows(home.catalog, "book_files", rows)
    result.symbols = [_symbol_dict(r) for r in rows if r["symbol"] is not None]
    result.seconds = time.perf_counter() - started


def _finding_rows(base: dict, rows: list[dict], findings: list) -> list[dict]:
    """`feed_findings` rows: a finding about one symbol goes with that symbol's stream (its
    venue and day); one about the whole feed (symbol None) with the feed's only stream, if one."""
    streams = {r["symbol"]: r for r in rows}
    only = rows[0] if len(rows) == 1 else None
    out = []
    for f in findings:
        row = streams.get(f.symbol) or (only if f.symbol is None else None) or rows[0]
        out.append({"sha256": base["sha256"], "original_name": base["original_name"],
                    "format": base["format"], "venue": row["venue"],
                    "symbol": f.symbol if f.symbol is not None else (
                        only["symbol"] if only else None),
                    "date": row["date"], "kind": f.kind, "line": int(f.line),
                    "last_line": f.last_line, "first_seq": f.first_seq, "last_seq": f.last_seq,
                    "from_ts": f.from_ts, "to_ts": f.to_ts, "source": f.source,
                    "detail": f.detail})
    return out


# -- book repair: a stream rebuilt from its archived feed ------------------------------------------


class FeedNotRecoverable(BookStoreError):
    """The archived bytes of a feed file cannot be read back (a missing or damaged WARC record,
    or bytes whose sha256 is not the one in their URN)."""


STREAM_FIELDS = ("venue", "symbol", "date", "events", "first_ts", "last_ts", "checkpoints",
                 "events_path", "checkpoints_path", "levels_path")
"""The part of a `book_files` row that a rebuild can change (the rest is the feed file's)."""


def rebuild_stream(home: Home, sha256: str) -> list[Stored]:
    """Book repair: store the events, book rows and checkpoints of the feed file `sha256` (a
    `book_files` sha256) again from its archived bytes, replacing the derived files in place.

    The raw bytes (the file, its LOBSTER companion, or each line of an A/B capture) are read back
    from their WARC `resource` records and checked against the sha256 in their URN; the import
    arguments (venue, symbol, date) come from the `metadata` record written beside them, else from
    the `book_files` row. They are parsed and stored by the import's own code (`store_events`:
    each file written to a temporary sibling, fsync'd and renamed over the damaged one). No WARC
    record is written. A `book_files` row is appended only for a stream whose stored result
    differs from its current row (`STREAM_FIELDS`), so repairing a damaged store leaves the
    catalog as it was. Holds the import's lock throughout. Raises BookStoreError (nothing stored
    for `sha256`) or FeedNotRecoverable.
    """
    with _books_lock(home):
        return _rebuild(home, sha256)


def _rebuild(home: Home, sha256: str) -> list[Stored]:
    import tempfile

    rows = [r for r in book_files(home) if r["sha256"] == sha256]
    if not rows:
        raise BookStoreError(f"no stored stream of a feed file {sha256}: nothing to rebuild")
    row = rows[0]
    fmt = row["format"]
    if fmt not in READERS:
        raise UnknownFormat(f"no reader for the feed format {fmt!r} of {row['original_name']}")
    facts = _import_facts(home, row)
    venue = facts.get("venue") or row["venue"]
    symbol = facts.get("symbol") or (row["symbol"] if fmt == "lobster" else None)
    day = date.fromisoformat(facts["date"]) if facts.get("date") else (
        row["date"] if fmt == "lobster" else None)
    names = row["lines"] or [row["original_name"]]
    shas = row["line_sha256s"] or [sha256]
    home.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rebuild-", dir=home.tmp) as tmp:
        folder = Path(tmp)
        paths = [restore_feed(home, sha, folder / name, row if k == 0 else None)
                 for k, (name, sha) in enumerate(zip(names, shas, strict=True))]
        companion = restore_feed(home, row["companion_sha256"], folder /
                                  row["companion_name"]) if row["companion_sha256"] else None
        feed = READERS[fmt](paths, symbol, day, venue)
        book = BookRows(companion) if companion is not None else None
        stored = store_events(home, feed.info, feed.batches(), sha256, venue=venue,
                              symbol=symbol, day=day, names=_names_for(feed, fmt, symbol),
                              book=book, checkpoint_every=row["checkpoint_every"] or
                              CHECKPOINT_EVERY)
        found = [*feed.errors, *(book.errors if book else [])]
    for s in stored:
        found += s.rejected
    errors = sorted((_error_dict(e) for e in found), key=lambda e: e["line"] or 0)
    for s in stored:
        errors.extend(s.errors)
    current = {r["symbol"]: r for r in rows}
    changed = []
    for s in stored:
        new = {"venue": s.venue, "symbol": s.symbol, "date": s.date, "events": s.events,
               "first_ts": s.first_ts, "last_ts": s.last_ts, "checkpoints": s.checkpoints,
               "events_path": s.events_path, "checkpoints_path": s.checkpoints_path,
               "levels_path": s.levels_path}
        old = current.get(s.symbol)
        if old is None or any(old[k] != new[k] for k in STREAM_FIELDS):
            base = {k: v for k, v in row.items() if k not in STREAM_FIELDS and k != "recorded_at"}
            changed.append({**base, **new, "error_count": len(errors),
                            "errors": errors[:MAX_ERRORS]})
    if changed:
        log.warning("rebuilt %s: %d stream(s) differ from their book_files rows", sha256,
                    len(changed))
        append_rows(home.catalog, "book_files", changed)
    return stored


def restore_feed(home: Home, sha256: str, dest: Path, row: dict | None = None) -> Path:
    """Write the archived bytes of the feed file `sha256` to `dest`, checked against the sha256
    (FeedNotRecoverable otherwise): from the record `row` names (its `filename` and `offset`),
    else (or when unreadable) from any other record the index holds under its URN."""
    from archive.cdxj import IndexLine
    from archive.payload import stream_payload

    lines: list[IndexLine] = []
    if row is not None and row.get("filename") and row.get("offset") is not None:
        lines.append(IndexLine("", "", {"url": feed_uri(sha256), "filename": row["filename"],
                                        "offset": str(row["offset"]), "length": "0",
                                        "mime": ""}))
    with Index(home) as index:
        lines += [x for x in index.captures(feed_uri(sha256))
                  if x.data.get("digest") == "sha256:" + sha256 and not x.is_revisit
                  and all((x.filename, x.offset) != (y.filename, y.offset) for y in lines)]
    if not lines:
        raise FeedNotRecoverable(f"{dest.name} (sha256 {sha256}) is not archived: no record "
                                 f"under {feed_uri(sha256)}")
    why = ""
    for line in lines:
        digest = hashlib.sha256()
        try:
            with open(dest, "wb") as fh:
                for chunk in stream_payload(home, line):
                    digest.update(chunk)
                    fh.write(chunk)
        except Exception as exc:  # a missing or damaged WARC: the next copy, else the error
            text = str(exc)
            plain = len(text) <= 160 and text.isascii() and text.isprintable()
            why = f"{type(exc).__name__}: " + (text if plain else "the record is damaged")
            continue
        if digest.hexdigest() == sha256:
            return dest
        why = f"its bytes have the sha256 {digest.hexdigest()}"
    raise FeedNotRecoverable(f"the archived copy of {dest.name} ({lines[-1].filename} at "
                             f"{lines[-1].offset}) cannot be read back: {why}")


def _import_facts(home: Home, row: dict) -> dict[str, str]:
    """The facts of the `metadata` record written with a feed file's resource record (the
    import's venue, symbol, date...), found among the few records after it; {} when not there."""
    from warcio.archiveiterator import ArchiveIterator

    if not row.get("filename") or row.get("offset") is None or not row.get("record_id"):
        return {}
    try:
        with open(home.root / row["filename"], "rb") as fh:
            fh.seek(row["offset"])
            for k, record in enumerate(ArchiveIterator(fh)):
                if k > 8:
                    break
                if (record.rec_type == "metadata" and record.rec_headers.get_header(
                        "WARC-Refers-To") == row["record_id"]):
                    text = record.content_stream().read().decode("utf-8", "replace")
                    return dict(line.split(": ", 1) for line in text.split("\r\n")
                                if ": " in line)
    except Exception as exc:  # an unreadable WARC: the row's values stand in
        log.warning("cannot read the metadata record of %s: %s", row["original_name"],
                    type(exc).__name__)
    return {}
