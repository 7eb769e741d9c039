"""Databento MBO (market by order) CSV files.

Columns (a header row names them): `ts_recv, ts_event, rtype, publisher_id, instrument_id,
action, side, price, size, channel_id, order_id, flags, ts_in_delta, sequence, symbol` (`symbol`
only when Databento mapped symbols). Databento writes times as integer nanoseconds since the epoch
or as ISO 8601 (`pretty_ts`), and prices as integers in units of 1e-9 or as decimal strings
(`pretty_px`); both styles are read, row by row, and give the same events. An ISO time without a
zone is UTC, as Databento's are. An empty price, or 2^63-1 (Databento's UNDEF_PRICE), is null.

Actions: A add, C cancel `size` from the order (a full cancel when it is the remaining size),
M modify to the new price and size, R clear the instrument's book, T trade and F fill (neither
changes the book: Databento follows a fill with the cancel or modify that does), N none.
Sides: B bid, A ask, N none. `ts` is ts_recv (when Databento received the record, monotonic per
file), `ts_event` the venue's time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orderbook.csvblocks import INT, UINT, Column, CsvBlocks, is_match, mark
from orderbook.events import (
    ADD,
    ASK,
    BID,
    CLEAR,
    EVENTS,
    MODIFY,
    NO_SIDE,
    NONE,
    REDUCE,
    TRADE,
    Feed,
    FeedInfo,
)

PRICE_SCALE = 1_000_000_000
UNDEF_PRICE = 2**63 - 1
RTYPE_MBO = 160
ROW_BYTES = 120

COLUMNS = [
    Column("ts_recv", pa.string()),
    Column("ts_event", pa.string()),
    Column("rtype", pa.uint8(), UINT),
    Column("publisher_id", pa.uint16(), UINT, required=False),
    Column("instrument_id", pa.uint32(), UINT),
    Column("action", pa.string()),
    Column("side", pa.string()),
    Column("price", pa.string(), required=False),
    Column("size", pa.uint32(), UINT),
    Column("channel_id", pa.uint8(), UINT, required=False),
    Column("order_id", pa.uint64(), UINT),
    Column("flags", pa.uint8(), UINT),
    Column("ts_in_delta", pa.int32(), INT, required=False),
    Column("sequence", pa.uint32(), UINT, required=False),
    Column("symbol", pa.string(), required=False),
]
ACTIONS = {"A": ADD, "C": REDUCE, "M": MODIFY, "R": CLEAR, "T": TRADE, "F": TRADE, "N": NONE}
SIDES = {"B": BID, "A": ASK, "N": NO_SIDE}

NANOS = r"^[0-9]{1,19}$"
ISO = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
       r"(Z|[+-][0-9]{2}:?[0-9]{2})?$")
ZONED = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
PRICE_INT = r"^-?[0-9]{1,19}$"
PRICE_DEC = r"^-?[0-9]{1,18}\.[0-9]{1,9}$"


def _each(values: list, convert) -> tuple[np.ndarray, np.ndarray]:
    """The slow path for a handful of values pyarrow refused as a group: (results, ok)."""
    out = np.zeros(len(values), dtype=np.int64)
    ok = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out[i] = convert(pa.array([v]))[0]
            ok[i] = True
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            pass
    return out, ok


def _group(col: pa.Array, where: np.ndarray, convert) -> tuple[np.ndarray, np.ndarray]:
    sub = col.filter(pa.array(where))
    try:
        return convert(sub), np.ones(len(sub), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        return _each(sub.to_pylist(), convert)


def _nanos(values: pa.Array) -> np.ndarray:
    return values.cast(pa.int64()).to_numpy()


def _iso_zoned(values: pa.Array) -> np.ndarray:
    return values.cast(pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()


def _iso_naive(values: pa.Array) -> np.ndarray:
    return values.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy()


def _decimal_units(values: pa.Array) -> np.ndarray:
    dec = values.cast(pa.decimal128(27, 9))
    return pc.multiply(dec, pa.scalar(10**9, pa.decimal128(10, 0))).cast(pa.int64()).to_numpy()


def to_nanos(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer nanoseconds or ISO 8601 text -> (int64 ns since the epoch UTC, ok)."""
    n = len(col)
    result = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    ints = is_match(col, NANOS)
    iso = is_match(col, ISO) & ~ints
    zoned = iso & is_match(col, ZONED)
    naive = iso & ~zoned
    for where, convert in ((ints, _nanos), (zoned, _iso_zoned), (naive, _iso_naive)):
        if where.any():
            values, good = _group(col, where, convert)
            idx = np.flatnonzero(where)
            result[idx] = values
            ok[idx] = good
    return result, ok


def to_price_units(col: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer 1e-9 units or a decimal string -> (int64 units, is_null, ok)."""
    n = len(col)
    result = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    null = np.asarray(col.is_null(), dtype=bool)
    ints = is_match(col, PRICE_INT)
    dec = is_match(col, PRICE_DEC)
    for where, convert in ((ints, _nanos), (dec, _decimal_units)):
        if where.any():
            values, good = _group(col, where, convert)
            idx = np.flatnonzero(where)
            result[idx] = values
            ok[idx] = good
    undefined = ints & ok & (result == UNDEF_PRICE)
    null |= undefined
    ok |= null
    result[null] = 0
    return result, null, ok


def _codes(col: pa.Array, table: dict[str, int], dtype) -> tuple[np.ndarray, np.ndarray]:
    """One-letter codes -> (numeric codes, ok), through the column's dictionary."""
    encoded = pc.dictionary_encode(col)
    words = encoded.dictionary.to_pylist()
    lut = np.array([table.get(w, 0) for w in words] + [0], dtype=dtype)
    known = np.array([w in table for w in words] + [False], dtype=bool)
    idx = encoded.indices.fill_null(len(words)).to_numpy()
    return lut[idx], known[idx]


class MboFeed(Feed):
    """A Databento MBO CSV file as a stream of EVENTS batches (one instrument when `symbol`)."""

    def __init__(self, path: Path, info: FeedInfo, batch_rows: int,
                 symbol: str | None = None) -> None:
        super().__init__(info)
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.symbol = symbol
        self.seen_instruments: set[int] = set()
        self.seen_symbols: set[str] = set()

    def for_symbol(self, symbol: str) -> MboFeed:
        return read_mbo(self.path, symbol=symbol, batch_rows=self.batch_rows)

    def _blocks(self, columns: list[Column], errors: list) -> CsvBlocks:
        return CsvBlocks(self.path, columns, header=True,
                         block_size=self.batch_rows * ROW_BYTES, errors=errors)

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.errors = []
        self.seen_instruments, self.seen_symbols = set(), set()
        blocks = self._blocks(COLUMNS, self.errors)
        for batch, lines in blocks:
            if self.symbol is not None:
                batch, lines = self._only(batch, lines)
            events = self._events(batch, lines) if len(lines) else None
            self.blank_lines = blocks.blank_lines
            if events is not None and events.num_rows:
                yield events
        self.blank_lines = blocks.blank_lines

    def _only(self, batch: pa.RecordBatch, lines: np.ndarray):
        keep = np.zeros(len(lines), dtype=bool)
        if "symbol" in batch.schema.names:
            keep |= np.asarray(pc.fill_null(pc.equal(batch.column("symbol"), self.symbol),
                                            False), dtype=bool)
        if self.symbol.isdigit():
            keep |= np.asarray(pc.fill_null(pc.equal(batch.column("instrument_id"),
                                                     int(self.symbol)), False), dtype=bool)
        return batch.filter(pa.array(keep)), lines[keep]

    def _events(self, batch: pa.RecordBatch, lines: np.ndarray) -> pa.RecordBatch:
        n = len(lines)
        bad = np.zeros(n, dtype=bool)

        def check(hit: np.ndarray, reason: str, values=None) -> None:
            nonlocal bad
            hit = hit & ~bad
            if hit.any():
                mark(self.errors, self.path, lines, hit, reason, values)
                bad |= hit

        ts_recv, ok = to_nanos(batch.column("ts_recv"))
        check(~ok, "ts_recv is neither integer nanoseconds nor ISO 8601",
              batch.column("ts_recv").to_pylist() if not ok.all() else None)
        ts_event, ok = to_nanos(batch.column("ts_event"))
        check(~ok, "ts_event is neither integer nanoseconds nor ISO 8601",
              batch.column("ts_event").to_pylist() if not ok.all() else None)
        rtype = batch.column("rtype").to_numpy(zero_copy_only=False)
        check(rtype != RTYPE_MBO, f"rtype is not MBO ({RTYPE_MBO})", list(rtype))
        action, ok = _codes(batch.column("action"), ACTIONS, np.uint8)
        check(~ok, "action is not one of A, C, M, R, T, F, N",
              batch.column("action").to_pylist() if not ok.all() else None)
        side, ok = _codes(batch.column("side"), SIDES, np.int8)
        check(~ok, "side is not B, A or N",
              batch.column("side").to_pylist() if not ok.all() else None)
        if "price" in batch.schema.names:
            price, price_null, ok = to_price_units(batch.column("price"))
            check(~ok, "price is neither integer 1e-9 units nor a decimal",
                  batch.column("price").to_pylist() if not ok.all() else None)
        else:
            price, price_null = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
        check(price_null & ((action == ADD) | (action == MODIFY)), "an add or modify needs a price")
        if bad.any():
            keep = ~bad
            batch, lines = batch.filter(pa.array(keep)), lines[keep]
            ts_recv, ts_event = ts_recv[keep], ts_event[keep]
            action, side = action[keep], side[keep]
            price, price_null = price[keep], price_null[keep]
            n = len(lines)
        instruments = batch.column("instrument_id")
        self.seen_instruments.update(pc.unique(instruments).to_pylist())
        if "symbol" in batch.schema.names:
            self.seen_symbols.update(s for s in pc.unique(batch.column("symbol")).to_pylist() if s)
        names = batch.schema.names

        def optional(name: str, type_: pa.DataType) -> pa.Array:
            return batch.column(name).cast(type_) if name in names else pa.nulls(n, type_)

        arrays = [
            pa.array(ts_recv), pa.array(ts_event), pa.array(action), pa.array(side),
            pa.array(price, mask=price_null), batch.column("size").cast(pa.int64()),
            batch.column("order_id"), batch.column("flags"), optional("sequence", pa.int64()),
            optional("channel_id", pa.int32()), pa.array(lines),
            batch.column("action").cast(pa.string()), instruments,
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=EVENTS)

    def symbols(self) -> pa.Table:
        """The instruments in the file: instrument_id, symbol (null when the file has no
        symbol column), events — one pass, two columns read."""
        errors: list = []
        wanted = [c for c in COLUMNS if c.name in ("instrument_id", "symbol")]
        parts = []
        for batch, _lines in self._blocks(wanted, errors):
            t = pa.Table.from_batches([batch])
            if "symbol" not in t.column_names:
                t = t.append_column("symbol", pa.nulls(t.num_rows, pa.string()))
            parts.append(t.group_by(["instrument_id", "symbol"], use_threads=False)
                         .aggregate([("instrument_id", "count")]))
        if not parts:
            return pa.table({"instrument_id": pa.array([], pa.uint32()),
                             "symbol": pa.array([], pa.string()),
                             "events": pa.array([], pa.int64())})
        total = (pa.concat_tables(parts).group_by(["instrument_id", "symbol"], use_threads=False)
                 .aggregate([("instrument_id_count", "sum")]))
        return pa.table({"instrument_id": total["instrument_id"], "symbol": total["symbol"],
                         "events": total["instrument_id_count_sum"]}).sort_by(
                             [("instrument_id", "ascending")])


def read_mbo(path: Path | str, *, symbol: str | None = None,
             batch_rows: int = 1_000_000) -> MboFeed:
    """A Databento MBO CSV file; `symbol` keeps one instrument (by the symbol column or, when all
    digits, by instrument_id)."""
    info = FeedInfo("mbo", PRICE_SCALE, symbol, None, None)
    return MboFeed(Path(path), info, batch_rows, symbol)
